/*
 * pvisor guest kit: event channels, the upcall dispatcher, and "interrupt" masking.
 *
 * What: libpvisor exports `pv_upcall`, the handler the host calls at VM entry when this vCPU's
 * `evtchn_upcall_pending` is set and its `evtchn_upcall_mask` is clear. It does the Xen 2-level
 * scan over shared_info:
 *
 *   repeat while vcpu_info.evtchn_upcall_pending:
 *     clear evtchn_upcall_pending
 *     sel = atomic exchange(vcpu_info.evtchn_pending_sel, 0)
 *     for each set bit w of sel:
 *       for each set bit b of evtchn_pending[w] & ~evtchn_mask[w]:
 *         port = 32*w + b
 *         if port has a handler registered for this vCPU:
 *           atomically clear the pending bit; if it was set, call handler(port, ctx)
 *
 * Why: this is the Xen event model the ABI copies, so the ordering rules are Xen's: clearing
 * upcall_pending before taking the selector, and the selector before the pending words, means an
 * event that arrives during the scan either is seen by this scan or raises a new upcall.
 *
 * Invariants:
 * - Handlers run in upcall context with upcalls masked on this vCPU. They must not block:
 *   a blocking hypercall from the upcall returns PV_EDEADLK. They may print and send events.
 * - A port is handled only on the vCPU it was registered for (its "owner"). A pending port with
 *   no handler, or owned by another vCPU, is left pending and untouched: its owner handles it,
 *   or code polls it with pv_evtchn_is_pending()/sched_poll and clears it with pv_evtchn_clear().
 *   (The host raises an upcall only when a port goes from not pending to pending, so an
 *   unhandled pending port stays quiet until cleared.)
 * - Events are edge-like: several sends before the handler runs may be seen as one.
 * - Handlers are also called spuriously at most once after registration if the port was already
 *   pending (a stale bit from a closed port); handlers must tolerate that.
 * - Mask bits (shared_info.evtchn_mask) belong to the guest. Upcall masking (pv_irq_*) is per vCPU.
 */
#ifndef PVISOR_EVENT_H
#define PVISOR_EVENT_H

#include <stdint.h>

#include <pvisor/abi.h>

/** An event handler: `port` fired; `ctx` is what was registered with it. */
typedef void (*pv_evtchn_handler_t)(uint32_t port, void *ctx);

/** The exported upcall entry (called by the host; may also be called by the kit itself). */
void pv_upcall(void);

/**
 * Registers `fn(port, ctx)` for `port`, owned by the calling vCPU (call it on the vCPU the port is
 * bound to, or move it with pv_evtchn_set_owner). `fn` NULL removes the handler.
 * @return 0, or PV_EINVAL if port is out of range.
 */
int32_t pv_evtchn_set_handler(uint32_t port, pv_evtchn_handler_t fn, void *ctx);

/** Makes vCPU `vcpu` the one whose upcall handles `port`. @return 0 or PV_EINVAL. */
int32_t pv_evtchn_set_owner(uint32_t port, uint32_t vcpu);

/** Sets the port's mask bit (no upcalls for it; it still becomes pending). */
void pv_evtchn_mask(uint32_t port);

/*
 * Unmasking goes through the host: `pv_evtchn_unmask(port)` from abi.h clears the mask bit and,
 * if the port is pending, re-raises the event on its vCPU as if it had just fired.
 */

/** Clears the port's pending bit. */
void pv_evtchn_clear(uint32_t port);

/** Non-zero when the port's pending bit is set (whatever its mask). */
int pv_evtchn_is_pending(uint32_t port);

/*
 * Binding helpers: each makes the hypercall, registers `fn`/`ctx` (which may be NULL) with the
 * right owner vCPU, then unmasks the port with the hypercall (so an event that arrived before the
 * handler existed is delivered now). Each returns the new local port, or a negative PV_E* error.
 */

/** Binds `virq` (PV_VIRQ_*) on the calling vCPU. */
int32_t pv_bind_virq(uint32_t virq, pv_evtchn_handler_t fn, void *ctx);

/** Binds an IPI port whose events go to `vcpu` (owner = vcpu). */
int32_t pv_bind_ipi(uint32_t vcpu, pv_evtchn_handler_t fn, void *ctx);

/** Allocates a port domain `remote_dom` may bind to (events go to vCPU 0). */
int32_t pv_bind_unbound(uint32_t remote_dom, pv_evtchn_handler_t fn, void *ctx);

/** Connects to `remote_port` of `remote_dom` (events go to vCPU 0). */
int32_t pv_bind_interdomain(uint32_t remote_dom, uint32_t remote_port, pv_evtchn_handler_t fn,
                            void *ctx);

/** Masks and closes `port`, removes its handler and clears its pending bit. @return close's result. */
int32_t pv_unbind(uint32_t port);

/*
 * Upcall masking: the guest's "interrupts disabled" flag is this vCPU's
 * vcpu_info.evtchn_upcall_mask. While it is set the host makes no upcall on this vCPU; events
 * still become pending. Re-enabling delivers what arrived meanwhile.
 */

/** Sets this vCPU's evtchn_upcall_mask. */
void pv_irq_disable(void);

/**
 * Clears this vCPU's evtchn_upcall_mask; if an upcall became pending meanwhile it is delivered
 * before this returns (by a no-op hypercall, whose VM entry runs the upcall; if the host did not
 * run it, pv_upcall is called directly with the mask set, as the host would).
 */
void pv_irq_enable(void);

/** Disables upcalls and returns whether they were already disabled (for pv_irq_restore). */
int pv_irq_save(void);

/** Re-enables upcalls if `was_disabled` (from pv_irq_save) is 0. */
void pv_irq_restore(int was_disabled);

/** Non-zero while upcalls are masked on this vCPU. */
int pv_irqs_disabled(void);

/**
 * Blocks the calling vCPU until `cond` becomes true, where `cond` is made true by an event
 * handler. The race-free idiom: mask upcalls, test, and let `sched_block` atomically unmask and
 * wait; each wake-up runs the upcall (and so the handlers) before the test is repeated.
 * Must not be used in an event handler (sched_block would return PV_EDEADLK; the loop then stops).
 */
#define PV_WAIT_UNTIL(cond)                                                                        \
    do {                                                                                           \
        pv_irq_disable();                                                                          \
        while (!(cond)) {                                                                          \
            if (pv_sched_block() < 0)                                                              \
                break;                                                                             \
            pv_irq_disable();                                                                      \
        }                                                                                          \
        pv_irq_enable();                                                                           \
    } while (0)

#endif /* PVISOR_EVENT_H */
