import { describe, expect, it } from 'vitest';
import {
  DOMID_SELF, EEXIST, EFAULT, EINVAL, ESRCH, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_UNBOUND, EVTCHN_STATUS_OFF,
  Hc, NR_EVENT_CHANNELS, VIRQ_CONSOLE, VIRQ_TIMER,
} from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { SCRATCH, call, makeHv, pending, setMask, upcallPending } from '../../support/hv.ts';

describe('event channels', () => {
  it('connects two domains and delivers an event: pending bit, pending_sel word bit, upcall_pending', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const pa = call(hv, a!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id);
    expect(pa).toBe(1);
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_bind_interdomain, a!.id, pa);
    expect(pb).toBe(1);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_send, pa)).toBe(0);
    expect(pending(b!, pb)).toBe(true);
    expect(b!.mem.i32[b!.pendingSelIdx(0)]).toBe(1);
    expect(upcallPending(b!, 0)).toBe(1);
    expect(pending(a!, pa)).toBe(false);
  });

  it('a masked port becomes pending without an upcall; unmask then raises it', () => {
    const { hv, doms: [a] } = makeHv(1);
    const v = a!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_ipi, 0);
    setMask(a!, p, true);
    call(hv, v, Hc.evtchn_send, p);
    expect(pending(a!, p)).toBe(true);
    expect(upcallPending(a!, 0)).toBe(0);
    expect(call(hv, v, Hc.evtchn_unmask, p)).toBe(0);
    expect(upcallPending(a!, 0)).toBe(1);
  });

  it('an event already pending does not raise a second upcall (Xen 2-level rule)', () => {
    const { hv, doms: [a] } = makeHv(1);
    const v = a!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_ipi, 0);
    call(hv, v, Hc.evtchn_send, p);
    a!.mem.u8[a!.upcallPendingAddr(0)] = 0; // guest consumed the upcall but left the port pending
    call(hv, v, Hc.evtchn_send, p);
    expect(upcallPending(a!, 0)).toBe(0);
  });

  it('IPI ports notify the vCPU they were bound for', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    const p = call(hv, a!.vcpus[0]!, Hc.evtchn_bind_ipi, 1);
    call(hv, a!.vcpus[0]!, Hc.evtchn_send, p);
    expect(upcallPending(a!, 1)).toBe(1);
    expect(upcallPending(a!, 0)).toBe(0);
  });

  it('closing one end of an inter-domain channel leaves the peer UNBOUND for the closer', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const pa = call(hv, a!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id);
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_bind_interdomain, a!.id, pa);
    expect(a!.port(pa)!.state).toBe(EVTCHNSTAT_INTERDOMAIN);
    expect(call(hv, b!.vcpus[0]!, Hc.evtchn_close, pb)).toBe(0);
    expect(a!.port(pa)!.state).toBe(EVTCHNSTAT_UNBOUND);
    expect(a!.port(pa)!.remoteDom).toBe(b!.id);
    expect(call(hv, b!.vcpus[0]!, Hc.evtchn_close, pb)).toBe(EINVAL);
    // The closer may bind again.
    expect(call(hv, b!.vcpus[0]!, Hc.evtchn_bind_interdomain, a!.id, pa)).toBeGreaterThan(0);
  });

  it('refuses wrong binds with the spec error codes', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const va = a!.vcpus[0]!;
    expect(call(hv, va, Hc.evtchn_alloc_unbound, 999)).toBe(ESRCH);
    expect(call(hv, va, Hc.evtchn_bind_interdomain, 999, 1)).toBe(ESRCH);
    expect(call(hv, va, Hc.evtchn_bind_interdomain, b!.id, 1)).toBe(EINVAL); // not allocated
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id); // unbound for itself, not for a
    expect(call(hv, va, Hc.evtchn_bind_interdomain, b!.id, pb)).toBe(EINVAL);
    expect(call(hv, va, Hc.evtchn_bind_interdomain, b!.id, NR_EVENT_CHANNELS)).toBe(EINVAL);
    expect(call(hv, va, Hc.evtchn_bind_virq, 7, 0)).toBe(EINVAL);
    expect(call(hv, va, Hc.evtchn_bind_virq, VIRQ_TIMER, 2)).toBe(EINVAL);
    expect(call(hv, va, Hc.evtchn_bind_virq, VIRQ_TIMER, 0)).toBeGreaterThan(0);
    expect(call(hv, va, Hc.evtchn_bind_virq, VIRQ_TIMER, 0)).toBe(EEXIST);
    expect(call(hv, va, Hc.evtchn_bind_virq, VIRQ_TIMER, 1)).toBeGreaterThan(0);
    expect(call(hv, va, Hc.evtchn_bind_virq, VIRQ_CONSOLE, 0)).toBeGreaterThan(0);
    expect(call(hv, va, Hc.evtchn_bind_virq, VIRQ_CONSOLE, 1)).toBe(EEXIST);
    expect(call(hv, va, Hc.evtchn_send, 0)).toBe(EINVAL);
    expect(call(hv, va, Hc.evtchn_send, -1)).toBe(EINVAL);
  });

  it('loopback: DOMID_SELF binds a domain to itself', () => {
    const { hv, doms: [a] } = makeHv(1);
    const v = a!.vcpus[0]!;
    const p1 = call(hv, v, Hc.evtchn_alloc_unbound, DOMID_SELF);
    const p2 = call(hv, v, Hc.evtchn_bind_interdomain, DOMID_SELF, p1);
    expect(p2).toBe(p1 + 1);
    call(hv, v, Hc.evtchn_send, p2);
    expect(pending(a!, p1)).toBe(true);
  });

  it('evtchn_status describes a port and checks its pointer', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const pa = call(hv, a!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_status, pa, SCRATCH)).toBe(0);
    const rd = (o: number) => a!.mem.u32((SCRATCH + o) as GuestAddr);
    expect(rd(EVTCHN_STATUS_OFF.state)).toBe(EVTCHNSTAT_UNBOUND);
    expect(rd(EVTCHN_STATUS_OFF.remote_dom)).toBe(b!.id);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_status, pa, a!.mem.size - 4)).toBe(EFAULT);
  });
});
