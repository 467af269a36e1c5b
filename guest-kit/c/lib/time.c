/*
 * libpvisor: time from the per-vCPU time record, sleeping on the one-shot timer (time.h).
 */
#include "internal.h"

/* The VIRQ_TIMER port of each vCPU (C globals are shared: index by vCPU). */
static uint32_t timer_port[PV_MAX_VCPUS];

/* Default VIRQ_TIMER handler: the upcall already cleared the pending bit, which is all a
 * sleeper needs (its loop re-reads the time). */
static void timer_ack(uint32_t port, void *ctx)
{
    (void)port;
    (void)ctx;
}

void pv__time_init_vcpu(uint32_t vcpu)
{
    int32_t port = pv_bind_virq(PV_VIRQ_TIMER, timer_ack, NULL);
    /* PV_EEXIST: this vCPU was up before and its VIRQ_TIMER is still bound; keep that port. */
    if (port >= 0 && vcpu < PV_MAX_VCPUS)
        pv_atomic_store(&timer_port[vcpu], (uint32_t)port);
}

uint32_t pv_timer_port(void)
{
    uint32_t cpu = pv_this_vcpu();
    return cpu < PV_MAX_VCPUS ? pv_atomic_load(&timer_port[cpu]) : 0u;
}

uint64_t pv_time_ns(void)
{
    pv_vcpu_info_t *vi = pv__my_vcpu_info();
    if (vi == NULL)
        return 0;
    pv_vcpu_time_info_t *t = &vi->time;
    for (;;) {
        uint32_t v1 = pv_atomic_load_acquire(&t->version);
        if (v1 & 1u)
            continue; /* the host is writing the record */
        uint64_t ns = pv_atomic_load_relaxed(&t->system_time);
        pv_rmb(); /* the data read stays before the second version read */
        uint32_t v2 = pv_atomic_load_relaxed(&t->version);
        if (v1 == v2)
            return ns;
    }
}

int32_t pv_sleep_until(uint64_t deadline_ns)
{
    int was = pv_irq_save();
    int32_t r = 0;
    /* Masked, test, then sched_block atomically unmasks and waits: a timer that fires between
     * the test and the block leaves upcall_pending set, so the block returns at once. */
    while (pv_time_ns() < deadline_ns) {
        r = pv_set_timer(&deadline_ns);
        if (r < 0)
            break;
        r = pv_sched_block();
        if (r < 0)
            break;
        pv_irq_disable();
    }
    pv_irq_restore(was);
    return r < 0 ? r : 0;
}

int32_t pv_sleep_ns(uint64_t ns)
{
    return pv_sleep_until(pv_time_ns() + ns);
}

uint64_t pv_wallclock_ns(void)
{
    pv_shared_info_t *s = pv__shinfo;
    if (s == NULL)
        return 0;
    uint64_t sec;
    uint32_t nsec;
    for (;;) {
        uint32_t v1 = pv_atomic_load_acquire(&s->wc_version);
        if (v1 & 1u)
            continue;
        sec = pv_atomic_load_relaxed(&s->wc_sec);
        nsec = pv_atomic_load_relaxed(&s->wc_nsec);
        pv_rmb();
        if (pv_atomic_load_relaxed(&s->wc_version) == v1)
            break;
    }
    return sec * PV_NS_PER_SEC + nsec + pv_time_ns();
}
