/*
 * libpvisor internals shared by the library's own files (not installed, not part of the API).
 *
 * State kept here, and why it lives where it does:
 * - pv__si, pv__shinfo, the heap cursor and the event handler table are C globals: one copy in the
 *   shared memory, the same for every vCPU (written before secondary vCPUs exist, or atomically).
 * - The vCPU index is a Wasm global defined in start.c (private to each vCPU's instance).
 * - Per-vCPU state in memory (console line buffers, timer ports) is in arrays indexed by it.
 */
#ifndef PVISOR_LIB_INTERNAL_H
#define PVISOR_LIB_INTERNAL_H

#include <pvisor/pvisor.h>

/** start_info as handed to _start (set once, before kmain). */
extern const pv_start_info_t *pv__si;
/** shared_info (set once, before kmain). NULL before: upcall masking is then a no-op. */
extern pv_shared_info_t *pv__shinfo;

/** Sets this instance's vCPU index (start.c). */
void pv__set_this_vcpu(uint32_t vcpu);

/** Binds VIRQ_TIMER for `vcpu` on the calling vCPU (time.c); called with upcalls masked. */
void pv__time_init_vcpu(uint32_t vcpu);

/** This vCPU's vcpu_info, or NULL before shared_info is known or for an impossible index. */
static inline pv_vcpu_info_t *pv__my_vcpu_info(void)
{
    pv_shared_info_t *s = pv__shinfo;
    uint32_t cpu = pv_this_vcpu();
    if (s == NULL || cpu >= PV_MAX_VCPUS)
        return NULL;
    return &s->vcpu_info[cpu];
}

/** The heap's break: the first byte pv_alloc has not handed out (start.c). */
uintptr_t pv__heap_break(void);

/** The heap's ceiling: pv_alloc hands out nothing at or above it (reserved_base at boot). */
uintptr_t pv__heap_ceiling(void);

/**
 * Moves the heap's ceiling to `ceiling` (at most reserved_base), atomically with respect to
 * pv_alloc: the balloon (balloon.c) lowers it before handing the frames above it to the host and
 * raises it after taking them back. @return 0, PV_EBUSY when the break is already above
 * `ceiling` (nothing changed), or PV_EINVAL above reserved_base or before _start.
 */
int32_t pv__heap_set_ceiling(uintptr_t ceiling);

/** Ends this vCPU's partial console line, if any, with a newline (console.c). */
void pv__console_begin_line(void);

/** Sink for the formatter: one character at a time. */
typedef void (*pv__out_fn)(void *ctx, char c);

/** The printf engine behind pv_vprintf/pv_vsnprintf (console.c). @return characters produced. */
int pv__vformat(pv__out_fn out, void *ctx, const char *fmt, va_list ap);

#endif /* PVISOR_LIB_INTERNAL_H */
