/*
 * legacy kit: port I/O, as an x86 kernel's <asm/io.h>.
 *
 * What: inb/inw/inl, outb/outw/outl, the string forms insw/outsw/insl/outsl, and hlt. Each is one
 * `hw` trap (an exit), the port I/O instructions of the legacy PC (spec/abi.json `hw`).
 *
 * Why abi.h: it declares the `hw` imports (pv_in8 ... pv_halt) and the boot_info record with the
 * layout the spec fixes; nothing else from the paravirtual interface is used by this kit, and the
 * images it builds import nothing from module `pv`.
 */
#ifndef LEGACY_IO_H
#define LEGACY_IO_H

#include <stddef.h>
#include <stdint.h>
#include <pvisor/abi.h>

static inline uint8_t inb(uint16_t port) { return (uint8_t)pv_in8(port); }
static inline uint16_t inw(uint16_t port) { return (uint16_t)pv_in16(port); }
static inline uint32_t inl(uint16_t port) { return pv_in32(port); }
static inline void outb(uint16_t port, uint8_t v) { pv_out8(port, v); }
static inline void outw(uint16_t port, uint16_t v) { pv_out16(port, v); }
static inline void outl(uint16_t port, uint32_t v) { pv_out32(port, v); }

/** `rep insw`: `count` 16-bit reads of `port` into `buf`. @return items transferred. */
static inline uint32_t insw(uint16_t port, void *buf, uint32_t count)
{
    return pv_ins16(port, (uint32_t)(uintptr_t)buf, count);
}
/** `rep outsw`: `count` 16-bit writes of `buf` to `port`. @return items transferred. */
static inline uint32_t outsw(uint16_t port, const void *buf, uint32_t count)
{
    return pv_outs16(port, (uint32_t)(uintptr_t)buf, count);
}
/** `rep insl`. */
static inline uint32_t insl(uint16_t port, void *buf, uint32_t count)
{
    return pv_ins32(port, (uint32_t)(uintptr_t)buf, count);
}
/** `rep outsl`. */
static inline uint32_t outsl(uint16_t port, const void *buf, uint32_t count)
{
    return pv_outs32(port, (uint32_t)(uintptr_t)buf, count);
}
/** `hlt`: sleeps until an interrupt is pending (see cpu.h for the sti; hlt idiom). */
static inline void hlt(void) { pv_halt(); }

#endif /* LEGACY_IO_H */
