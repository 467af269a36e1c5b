/*
 * pvisor guest kit: time.
 *
 * What: the current system time read from this vCPU's time record (no hypercall), sleeping with
 * the one-shot timer, and the wall clock.
 *
 * Why no hypercall for time: the host refreshes each vcpu_info.time record at every VM entry
 * (pvclock style); a guest reads it like memory. In the deterministic engine this is virtual time,
 * so the same run prints the same timestamps.
 *
 * Invariants:
 * - pv_time_ns() reads `system_time` under the record's seqlock: it retries while `version` is odd
 *   or changed across the read (atomic loads with an acquire fence in between). Time only moves at
 *   VM entries, so a loop that makes no hypercall may see the same value for a while.
 * - At boot libpvisor binds VIRQ_TIMER for each vCPU it starts (vCPU 0 in _start, others in
 *   pv_vcpu_start's boot path); pv_timer_port() returns that port. Its default handler does
 *   nothing but acknowledge; a kernel may replace it with pv_evtchn_set_handler(pv_timer_port(),
 *   ...) — pv_sleep_until() does not depend on the handler, only on the event waking the vCPU.
 * - The one-shot timer is per vCPU and pv_sleep_until() re-arms it: a kernel that arms the timer
 *   itself must not sleep concurrently on the same vCPU.
 * - pv_sleep_until()/pv_sleep_ns() block (sched_block): not from an event handler.
 */
#ifndef PVISOR_TIME_H
#define PVISOR_TIME_H

#include <stdint.h>

#include <pvisor/abi.h>

#define PV_NS_PER_US 1000ull
#define PV_NS_PER_MS 1000000ull
#define PV_NS_PER_SEC 1000000000ull

/** Nanoseconds since the domain booted, from this vCPU's time record. */
uint64_t pv_time_ns(void);

/**
 * Blocks until system time reaches `deadline_ns` (returns at once if it already has). Other events
 * that wake the vCPU meanwhile are handled (their upcalls run) and the wait goes on.
 * @return 0, or a negative PV_E* error from set_timer/sched_block (PV_EDEADLK in a handler).
 */
int32_t pv_sleep_until(uint64_t deadline_ns);

/** pv_sleep_until(pv_time_ns() + ns). */
int32_t pv_sleep_ns(uint64_t ns);

/** The VIRQ_TIMER port libpvisor bound for the calling vCPU (0 if binding failed). */
uint32_t pv_timer_port(void);

/**
 * Wall-clock time in ns since the Unix epoch without a hypercall: the boot wallclock from
 * shared_info (wc_sec, wc_nsec under wc_version's seqlock) plus pv_time_ns(). The `wallclock`
 * hypercall, `pv_wallclock(pv_wallclock_t *out)` from abi.h, gives the same time split into
 * seconds and nanoseconds.
 */
uint64_t pv_wallclock_ns(void);

#endif /* PVISOR_TIME_H */
