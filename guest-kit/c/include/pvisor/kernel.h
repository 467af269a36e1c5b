/*
 * pvisor guest kit: the kernel entry contract, boot information, the heap and shutdown.
 *
 * What: a guest kernel written against the kit defines one function,
 *
 *     int kmain(const pv_start_info_t *si);
 *
 * and links with libpvisor.a. libpvisor's exported `_start(si)` (the entry the host calls on
 * vCPU 0) checks and stores `si`, masks upcalls, finds shared_info, sets up the heap, binds
 * VIRQ_TIMER for vCPU 0 (see time.h), re-enables upcalls and calls `kmain(si)`. When kmain
 * returns `ret`, the console is flushed and the domain is stopped with
 * `sched_shutdown(PV_SHUTDOWN_POWEROFF, ret)`: the exit code of `pvisor run` is kmain's result.
 *
 * Why: one fixed entry contract (like XTF's test_main or Solo5's solo5_app_main) keeps examples
 * and tests to their point, and puts the ABI checks (magic, ABI major/minor) in one place.
 *
 * Invariants:
 * - `_start` refuses a start_info whose magic is not PV_START_INFO_MAGIC or whose ABI major differs
 *   from the one this kit was built for (or whose minor is older): it prints why and crashes the
 *   domain (PV_SHUTDOWN_CRASH).
 * - Memory map (wasm-ld --stack-first): [0, 64 KiB) is vCPU 0's stack (an overflow runs below
 *   address 0 and traps), then .data/.bss, then the heap from `__heap_base` up to
 *   `start_info.reserved_base`. Everything from reserved_base to mem_size belongs to the host
 *   (start_info, command line, shared_info, host scratch): the heap never reaches it.
 * - Wasm globals are per vCPU (each vCPU is its own instance); C globals live in the one shared
 *   memory and are seen by every vCPU. Per-vCPU kit state is kept in arrays indexed by
 *   pv_this_vcpu().
 * - Do not use _Thread_local: wasm-ld points `__tls_base` at the TLS block only in the instance
 *   that initialises memory (vCPU 0); in every other vCPU instance it stays 0, so their
 *   thread-locals would all alias address 0.
 * - `_start` panics ("memory too small") if the image's data reaches start_info.reserved_base.
 */
#ifndef PVISOR_KERNEL_H
#define PVISOR_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include <pvisor/abi.h>

/** Defined by the guest: the kernel's main function, run on vCPU 0. Its result is the exit code. */
int kmain(const pv_start_info_t *si);

/** The start_info the host handed to `_start` (NULL before `_start` ran). */
const pv_start_info_t *pv_start_info(void);

/** The domain's shared_info page (NULL before `_start` ran). */
pv_shared_info_t *pv_shared_info(void);

/** The vcpu_info slot of vCPU `vcpu` inside shared_info. */
pv_vcpu_info_t *pv_vcpu_info(uint32_t vcpu);

/**
 * Index of the vCPU running the caller (0 .. nr_vcpus-1).
 *
 * Kept in a Wasm global private to each vCPU instance (not in memory, which all vCPUs share):
 * it is 0 in every fresh instance, which is right for vCPU 0, and pv_vcpu_start()'s boot path
 * sets it on a secondary vCPU before anything else runs there. A vCPU brought up with the raw
 * `pv_vcpu_up()` instead of pv_vcpu_start() cannot learn its index and reads PV_VCPU_UNKNOWN:
 * the kit then leaves shared state alone on it (its upcalls handle nothing, upcall masking does
 * nothing, pv_time_ns() reads 0, its console output goes to a spare buffer) rather than pose as
 * vCPU 0.
 */
uint32_t pv_this_vcpu(void);

/** pv_this_vcpu() on a secondary vCPU that was not started with pv_vcpu_start(). */
#define PV_VCPU_UNKNOWN 0xffffffffu

/** Number of vCPUs this domain may use (start_info.nr_vcpus). */
uint32_t pv_nr_vcpus(void);

/** This domain's id (start_info.domid). */
uint32_t pv_domid(void);

/** The command line (NUL-terminated; "" when there is none). */
const char *pv_cmdline(void);

/**
 * Finds `key=value` among the space-separated words of the command line and copies the value
 * (NUL-terminated, truncated to fit) into `buf` of `len` bytes.
 * @return the value's full length, or -1 when the key is absent. A bare word `key` has value "".
 */
int pv_cmdline_get(const char *key, char *buf, size_t len);

/** `key=<number>` from the command line (decimal, or hex with 0x), or `dflt` if absent or bad. */
uint32_t pv_cmdline_u32(const char *key, uint32_t dflt);

/**
 * Allocates `size` bytes aligned to `align` (a power of two, at least 1) from the heap between
 * `__heap_base` and start_info.reserved_base. There is no free: this is a boot-time bump
 * allocator, safe to call from any vCPU (an atomic compare-and-swap moves the cursor). While the
 * balloon (balloon.h) holds frames out, the heap ends below them: pv_alloc never hands out a
 * frame the domain gave back to the host, and the balloon never takes one pv_alloc handed out.
 * @return the block (not zeroed), or NULL when the heap is exhausted.
 */
void *pv_alloc(size_t size, size_t align);

/** First heap byte (after .data/.bss). */
uintptr_t pv_heap_start(void);

/** One past the last heap byte: start_info.reserved_base. */
uintptr_t pv_heap_end(void);

/**
 * Flushes this vCPU's console buffer and stops the domain with `reason` (PV_SHUTDOWN_*) and
 * `code`. If the host refuses the call (bad reason) the guest traps: this never returns.
 */
_Noreturn void pv_shutdown(uint32_t reason, int32_t code);

/** pv_shutdown(PV_SHUTDOWN_POWEROFF, code). */
_Noreturn void pv_poweroff(int32_t code);

/** Prints `panic: <message>` and a newline, then pv_shutdown(PV_SHUTDOWN_CRASH, 1). */
_Noreturn void pv_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PVISOR_KERNEL_H */
