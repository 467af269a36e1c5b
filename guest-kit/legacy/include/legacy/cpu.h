/*
 * legacy kit: the CPU side of the kernel — boot entry, interrupt flag, interrupt dispatch.
 *
 * What: the crt (crt.c) exports `_start(boot_info *)`, which checks the boot record, sets up the
 * PIC and the console UART with interrupts off, then calls the kernel's kmain(cmdline) with
 * interrupts on (sti) and powers off with its result;
 * `hw_interrupt(vector)`, which dispatches PIC vectors 0x20-0x2F to handlers registered with
 * irq_register() and sends the EOI; and `hw_if`, the interrupt flag (exported by address with
 * --export=hw_if).
 *
 * Why plain stores: the spec's interrupt flag lives in guest memory, so cli()/sti() are stores
 * that cost no exit (as with VT-x). The host injects only at VM entry, that is at the end of a
 * trap, and clears the flag while hw_interrupt runs (restoring it after, as iret does).
 *
 * Invariants:
 * - wait_for_interrupt() is `sti; hlt`: no trap separates the store from the halt, so an
 *   interrupt cannot slip in between (the effect of sti's one-instruction shadow). The idiom is
 *   `cli(); while (!cond) { wait_for_interrupt(); cli(); } sti();`.
 * - Handlers run with interrupts off and must not wait.
 * - Exit codes: returning 0 from kmain powers off with code 0 (spec: returning from _start); a
 *   non-zero code is written to the debug-exit port DEBUG_EXIT_PORT (0xF4), whose write powers
 *   the machine off with that code (low 8 bits), as QEMU's isa-debug-exit is used.
 */
#ifndef LEGACY_CPU_H
#define LEGACY_CPU_H

#include <stdint.h>

/** Debug-exit port: writing a byte powers off with that exit code. */
#define DEBUG_EXIT_PORT 0xF4u

/** First vector of the master PIC after remapping (IRQ n -> vector IRQ_VECTOR_BASE + n). */
#define IRQ_VECTOR_BASE 0x20u

/** The interrupt flag (nonzero: interrupts enabled). Exported by address as `hw_if`. */
extern volatile uint32_t hw_if;

static inline void cli(void) { hw_if = 0; }
static inline void sti(void) { hw_if = 1; }
/** Disables interrupts; returns the previous flag for irq_restore. */
static inline uint32_t irq_save(void)
{
    uint32_t f = hw_if;
    hw_if = 0;
    return f;
}
static inline void irq_restore(uint32_t f) { hw_if = f; }

/** `sti; hlt`: enables interrupts and sleeps until one has been taken (see the idiom above). */
void wait_for_interrupt(void);

/** An IRQ handler: runs with interrupts off, before the EOI. */
typedef void (*irq_handler_t)(uint32_t irq, void *ctx);
/** Registers `fn` for IRQ `irq` (0..15) and unmasks it at the PIC. */
void irq_register(uint32_t irq, irq_handler_t fn, void *ctx);
/** Masks IRQ `irq` at the PIC and forgets its handler. */
void irq_unregister(uint32_t irq);
/** Interrupts taken per IRQ line, and spurious ones (index 16). */
extern volatile uint32_t irq_count[17];

/** The kernel's entry point: the boot command line; the result is the exit code. */
int kmain(const char *cmdline);

/** Boot record flags (BOOT_INFO_F_*) and memory size, valid once kmain runs. */
uint32_t boot_flags(void);
uint32_t boot_mem_size(void);
/** First byte above the kernel image (bss end): where kalloc starts. */
uintptr_t heap_start(void);
/** First byte the host reserved: kalloc stays below it. */
uintptr_t heap_end(void);
/** Bump allocator (never frees). NULL when the heap is exhausted. align: a power of two. */
void *kalloc(uint32_t size, uint32_t align);

/** Powers off now with `code` (debug-exit port; never returns). */
__attribute__((noreturn)) void poweroff(uint32_t code);

#endif /* LEGACY_CPU_H */
