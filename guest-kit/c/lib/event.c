/*
 * libpvisor: the upcall dispatcher, per-port handlers and upcall masking (event.h).
 */
#include "internal.h"

#define PORTS_PER_WORD 32u

/*
 * Handlers by port. One table for the domain (shared memory), written with `fn` last (release)
 * and read with `fn` first (acquire), so a handler is never seen with another port's ctx/owner.
 */
struct port_handler {
    pv_evtchn_handler_t fn;
    void *ctx;
    uint32_t owner; /* the vCPU whose upcall runs fn */
};
static struct port_handler handlers[PV_NR_EVENT_CHANNELS];

static int32_t set_handler(uint32_t port, uint32_t owner, pv_evtchn_handler_t fn, void *ctx)
{
    if (port >= PV_NR_EVENT_CHANNELS || owner >= PV_MAX_VCPUS)
        return PV_EINVAL;
    struct port_handler *h = &handlers[port];
    pv_atomic_store(&h->fn, (pv_evtchn_handler_t)NULL);
    pv_atomic_store(&h->ctx, ctx);
    pv_atomic_store(&h->owner, owner);
    pv_atomic_store_release(&h->fn, fn);
    return 0;
}

int32_t pv_evtchn_set_handler(uint32_t port, pv_evtchn_handler_t fn, void *ctx)
{
    return set_handler(port, pv_this_vcpu(), fn, ctx);
}

int32_t pv_evtchn_set_owner(uint32_t port, uint32_t vcpu)
{
    if (port >= PV_NR_EVENT_CHANNELS || vcpu >= PV_MAX_VCPUS)
        return PV_EINVAL;
    pv_atomic_store(&handlers[port].owner, vcpu);
    return 0;
}

void pv_upcall(void)
{
    pv_shared_info_t *s = pv__shinfo;
    uint32_t cpu = pv_this_vcpu();
    if (s == NULL || cpu >= PV_MAX_VCPUS)
        return; /* cannot happen after _start; never touch memory we do not know yet */
    pv_vcpu_info_t *vi = &s->vcpu_info[cpu];

    do {
        /* Xen order: upcall_pending, then the selector, then the pending words. An event set
         * after one of these reads re-sets everything before it, so it is never lost. */
        pv_atomic_store(&vi->evtchn_upcall_pending, (uint8_t)0);
        uint32_t sel = pv_atomic_xchg(&vi->evtchn_pending_sel, 0u);
        while (sel != 0) {
            uint32_t w = (uint32_t)__builtin_ctz(sel);
            sel &= sel - 1;
            uint32_t ready = pv_atomic_load(&s->evtchn_pending[w]) & ~pv_atomic_load(&s->evtchn_mask[w]);
            while (ready != 0) {
                uint32_t b = (uint32_t)__builtin_ctz(ready);
                ready &= ready - 1;
                uint32_t port = w * PORTS_PER_WORD + b;
                struct port_handler *h = &handlers[port];
                pv_evtchn_handler_t fn = pv_atomic_load_acquire(&h->fn);
                /* Unhandled here: leave it pending for its owner vCPU or for a poller. */
                if (fn == NULL || pv_atomic_load(&h->owner) != cpu)
                    continue;
                uint32_t bit = 1u << b;
                if (pv_atomic_fetch_and(&s->evtchn_pending[w], ~bit) & bit)
                    fn(port, pv_atomic_load(&h->ctx));
            }
        }
    } while (pv_atomic_load(&vi->evtchn_upcall_pending) != 0);
}

void pv_evtchn_mask(uint32_t port)
{
    if (pv__shinfo == NULL || port >= PV_NR_EVENT_CHANNELS)
        return;
    pv_atomic_fetch_or(&pv__shinfo->evtchn_mask[port / PORTS_PER_WORD], 1u << (port % PORTS_PER_WORD));
}

void pv_evtchn_clear(uint32_t port)
{
    if (pv__shinfo == NULL || port >= PV_NR_EVENT_CHANNELS)
        return;
    pv_atomic_fetch_and(&pv__shinfo->evtchn_pending[port / PORTS_PER_WORD],
                        ~(1u << (port % PORTS_PER_WORD)));
}

int pv_evtchn_is_pending(uint32_t port)
{
    if (pv__shinfo == NULL || port >= PV_NR_EVENT_CHANNELS)
        return 0;
    return (pv_atomic_load(&pv__shinfo->evtchn_pending[port / PORTS_PER_WORD]) >>
            (port % PORTS_PER_WORD)) & 1u;
}

/* Registers the handler, then unmasks through the host, which re-raises the event if it fired
 * before the handler existed (e.g. a peer that sent right after our bind). */
static int32_t finish_bind(int32_t port, uint32_t owner, pv_evtchn_handler_t fn, void *ctx)
{
    if (port < 0)
        return port;
    set_handler((uint32_t)port, owner, fn, ctx);
    pv_evtchn_unmask((uint32_t)port);
    return port;
}

int32_t pv_bind_virq(uint32_t virq, pv_evtchn_handler_t fn, void *ctx)
{
    uint32_t cpu = pv_this_vcpu();
    return finish_bind(pv_evtchn_bind_virq(virq, cpu), cpu, fn, ctx);
}

int32_t pv_bind_ipi(uint32_t vcpu, pv_evtchn_handler_t fn, void *ctx)
{
    return finish_bind(pv_evtchn_bind_ipi(vcpu), vcpu, fn, ctx);
}

int32_t pv_bind_unbound(uint32_t remote_dom, pv_evtchn_handler_t fn, void *ctx)
{
    return finish_bind(pv_evtchn_alloc_unbound(remote_dom), 0, fn, ctx);
}

int32_t pv_bind_interdomain(uint32_t remote_dom, uint32_t remote_port, pv_evtchn_handler_t fn,
                            void *ctx)
{
    return finish_bind(pv_evtchn_bind_interdomain(remote_dom, remote_port), 0, fn, ctx);
}

int32_t pv_unbind(uint32_t port)
{
    pv_evtchn_mask(port);
    int32_t r = pv_evtchn_close(port);
    if (port < PV_NR_EVENT_CHANNELS)
        set_handler(port, 0, NULL, NULL);
    pv_evtchn_clear(port);
    return r;
}

/* ---- Upcall masking ---- */

void pv_irq_disable(void)
{
    pv_vcpu_info_t *vi = pv__my_vcpu_info();
    if (vi != NULL)
        pv_atomic_store(&vi->evtchn_upcall_mask, (uint8_t)1);
}

void pv_irq_enable(void)
{
    pv_vcpu_info_t *vi = pv__my_vcpu_info();
    if (vi == NULL)
        return;
    pv_atomic_store(&vi->evtchn_upcall_mask, (uint8_t)0);
    if (pv_atomic_load(&vi->evtchn_upcall_pending) == 0)
        return;
    /* An event arrived while masked. Any hypercall's VM entry delivers it: take the cheapest. */
    (void)pv_version();
    /* If the host did not run the upcall, run it as the host would: with the mask set. */
    while (pv_atomic_load(&vi->evtchn_upcall_pending) != 0 &&
           pv_atomic_load(&vi->evtchn_upcall_mask) == 0) {
        pv_atomic_store(&vi->evtchn_upcall_mask, (uint8_t)1);
        pv_upcall();
        pv_atomic_store(&vi->evtchn_upcall_mask, (uint8_t)0);
    }
}

int pv_irq_save(void)
{
    pv_vcpu_info_t *vi = pv__my_vcpu_info();
    if (vi == NULL)
        return 1;
    int was = pv_atomic_load(&vi->evtchn_upcall_mask) != 0;
    pv_atomic_store(&vi->evtchn_upcall_mask, (uint8_t)1);
    return was;
}

void pv_irq_restore(int was_disabled)
{
    if (!was_disabled)
        pv_irq_enable();
}

int pv_irqs_disabled(void)
{
    pv_vcpu_info_t *vi = pv__my_vcpu_info();
    return vi == NULL || pv_atomic_load(&vi->evtchn_upcall_mask) != 0;
}
