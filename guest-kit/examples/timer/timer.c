/*
 * timer: ten ticks of the one-shot timer, 10 ms apart, each printed with its virtual timestamp.
 *
 * Tick k is due at system time k * 10 ms (absolute deadlines, so the output does not depend on
 * how long boot took). For each tick the kernel arms the timer with `set_timer` and waits with
 * `sched_block` until the VIRQ_TIMER handler has counted it:
 *
 *   tick 1 at <T1> ns ... tick 10 at <T10> ns
 *   timer: done
 *
 * with k * 10000000 <= Tk (Tk is the time the vCPU saw when it woke up).
 */
#include <pvisor/pvisor.h>

#define TICKS 10u
#define PERIOD_NS (10u * PV_NS_PER_MS)

static uint32_t ticks; /* written by the handler, read by kmain: both on vCPU 0 */

static void on_tick(uint32_t port, void *ctx)
{
    (void)port;
    (void)ctx;
    pv_atomic_fetch_add(&ticks, 1u);
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    /* libpvisor bound VIRQ_TIMER for vCPU 0 at boot; take over its handler. */
    uint32_t port = pv_timer_port();
    if (port == 0)
        pv_panic("timer: VIRQ_TIMER is not bound");
    pv_evtchn_set_handler(port, on_tick, NULL);

    for (uint32_t k = 1; k <= TICKS; k++) {
        uint64_t deadline = (uint64_t)k * PERIOD_NS;
        pv_irq_disable();
        int32_t r = pv_set_timer(&deadline);
        if (r < 0)
            pv_panic("timer: set_timer returned %d", (int)r);
        while (pv_atomic_load(&ticks) < k) {
            /* Atomically unmasks and waits; the upcall (on_tick) runs as the call returns. */
            r = pv_sched_block();
            if (r < 0)
                pv_panic("timer: sched_block returned %d", (int)r);
            pv_irq_disable();
        }
        pv_irq_enable();
        pv_printf("tick %u at %llu ns\n", (unsigned)k, (unsigned long long)pv_time_ns());
    }
    pv_puts("timer: done");
    return 0;
}
