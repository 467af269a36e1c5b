import { describe, expect, it } from 'vitest';
import {
  DOMID_SELF, EEXIST, EFAULT, EINVAL, ENOSPC, ESRCH, EVTCHNSTAT_CLOSED, EVTCHNSTAT_DEVICE, EVTCHNSTAT_INTERDOMAIN,
  EVTCHNSTAT_IPI, EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ, EVTCHN_STATUS_OFF, Hc, NR_EVENT_CHANNELS, VIRQ_CONSOLE, VIRQ_TIMER,
} from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { WAIT_BLOCK, evtchn } from '../../../src/hv/index.ts';
import type { Domain } from '../../../src/hv/index.ts';
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

/** Fills every free port of `d` (so the next allocation finds none). */
function fillPorts(hv: ReturnType<typeof makeHv>['hv'], d: Domain): void {
  while (d.freePort() > 0) hv.bindDevicePort(d);
}

describe('delivery rule (evtchn_2l_set_pending), beyond the first bitmap word', () => {
  it('a port in word k sets pending bit k*32+b, pending_sel bit k, and honours the mask word k', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    const v = a!.vcpus[0]!;
    // Ports 1..69 on vCPU 1; use 33 (word 1) and 68 (word 2).
    let p = 0;
    while (p < 69) p = call(hv, v, Hc.evtchn_bind_ipi, 1);
    setMask(a!, 68, true);
    call(hv, v, Hc.evtchn_send, 33);
    expect(pending(a!, 33)).toBe(true);
    expect(a!.mem.i32[a!.pendingIdx]).toBe(0);
    expect(a!.mem.i32[a!.pendingIdx + 1]).toBe(1 << 1);
    expect(a!.mem.i32[a!.pendingSelIdx(1)]).toBe(1 << 1);
    expect(upcallPending(a!, 1)).toBe(1);
    call(hv, v, Hc.evtchn_send, 68);
    expect(a!.mem.i32[a!.pendingIdx + 2]).toBe(1 << 4);
    expect(a!.mem.i32[a!.pendingSelIdx(1)]).toBe(1 << 1); // masked: no selector bit
    // sched_poll sees a pending port in any word.
    a!.mem.setU32(SCRATCH, 68);
    expect(call(hv, a!.vcpus[1]!, Hc.sched_poll, SCRATCH, 1, 0)).toBe(0);
    expect(a!.vcpus[1]!.wait).toBe(null);
    // evtchn_unmask clears mask bit 68 only, then delivers it into selector word 2.
    setMask(a!, 33, true);
    expect(call(hv, v, Hc.evtchn_unmask, 68)).toBe(0);
    expect(a!.mem.i32[a!.maskIdx + 2]).toBe(0);
    expect(a!.mem.i32[a!.maskIdx + 1]).toBe(1 << 1);
    expect(a!.mem.i32[a!.pendingSelIdx(1)]).toBe((1 << 1) | (1 << 2));
  });

  it('an upcall wakes only a vCPU blocked in sched_block; a running or polling vCPU is left as it is', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    while (hv.sched.next() !== undefined);
    const [v0, v1] = a!.vcpus;
    hv.vcpuUp(v1!, { fn: 1, stack: 16, arg: 0 });
    hv.sched.next();
    const p0 = call(hv, v0!, Hc.evtchn_bind_ipi, 0);
    const p1 = call(hv, v0!, Hc.evtchn_bind_ipi, 1);
    const other = call(hv, v0!, Hc.evtchn_bind_ipi, 1);
    // v0 is running (no wait, not queued): the event must not queue it a second time.
    call(hv, v1!, Hc.evtchn_send, p0);
    expect([upcallPending(a!, 0), v0!.queued, v0!.wait]).toEqual([1, false, null]);
    // v1 polls `other`: an unmasked event on p1 (also bound to v1) raises its upcall but does not end the poll.
    a!.mem.setU32(SCRATCH, other);
    call(hv, v1!, Hc.sched_poll, SCRATCH, 1, 0);
    call(hv, v0!, Hc.evtchn_send, p1);
    expect(upcallPending(a!, 1)).toBe(1);
    expect(v1!.wait).toMatchObject({ kind: 'poll', ports: [other] });
    expect(v1!.queued).toBe(false);
  });

  it('a masked event does not wake a vCPU blocked in sched_block', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    const [v0, v1] = a!.vcpus;
    hv.vcpuUp(v1!, { fn: 1, stack: 16, arg: 0 });
    const p = call(hv, v0!, Hc.evtchn_bind_ipi, 1);
    setMask(a!, p, true);
    call(hv, v1!, Hc.sched_block);
    call(hv, v0!, Hc.evtchn_send, p);
    expect(pending(a!, p)).toBe(true);
    expect(v1!.wait).toBe(WAIT_BLOCK);
    call(hv, v0!, Hc.evtchn_unmask, p);
    expect([v1!.wait, v1!.resumeResult]).toEqual([null, 0]);
  });

  it('unmask of a port the guest made pending by hand, never allocated, notifies vCPU 0', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    const v = a!.vcpus[1]!;
    a!.mem.i32[a!.pendingIdx] = 1 << 9;
    setMask(a!, 9, true);
    expect(call(hv, v, Hc.evtchn_unmask, 9)).toBe(0);
    expect([upcallPending(a!, 0), upcallPending(a!, 1)]).toEqual([1, 0]);
    // Unmask of a port that was not masked delivers nothing.
    a!.mem.u8[a!.upcallPendingAddr(0)] = 0;
    a!.mem.i32[a!.pendingSelIdx(0)] = 0;
    expect(call(hv, v, Hc.evtchn_unmask, 9)).toBe(0);
    expect(upcallPending(a!, 0)).toBe(0);
    expect(call(hv, v, Hc.evtchn_unmask, NR_EVENT_CHANNELS)).toBe(EINVAL);
  });
});

describe('virq ports', () => {
  it('a VIRQ is found among other ports: bind, EEXIST and delivery look at VIRQ ports of that virq only', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    const v = a!.vcpus[0]!;
    const ipi = call(hv, v, Hc.evtchn_bind_ipi, 0);
    const con = call(hv, v, Hc.evtchn_bind_virq, VIRQ_CONSOLE, 1);
    const t1 = call(hv, v, Hc.evtchn_bind_virq, VIRQ_TIMER, 1);
    const t0 = call(hv, v, Hc.evtchn_bind_virq, VIRQ_TIMER, 0);
    expect([ipi, con, t1, t0]).toEqual([1, 2, 3, 4]);
    v.timer = 1;
    hv.now = 1;
    hv.fireTimers();
    expect([1, 2, 3, 4].map((p) => pending(a!, p))).toEqual([false, false, false, true]);
  });
});

describe('ENOSPC: "No free port"', () => {
  it('every call that allocates a port returns ENOSPC on a full table and changes nothing', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_alloc_unbound, a!.id);
    fillPorts(hv, a!);
    const v = a!.vcpus[0]!;
    expect(call(hv, v, Hc.evtchn_alloc_unbound, DOMID_SELF)).toBe(ENOSPC);
    expect(call(hv, v, Hc.evtchn_bind_interdomain, b!.id, pb)).toBe(ENOSPC);
    expect(b!.port(pb)!.state).toBe(EVTCHNSTAT_UNBOUND);
    expect(call(hv, v, Hc.evtchn_bind_virq, VIRQ_TIMER, 0)).toBe(ENOSPC);
    expect(call(hv, v, Hc.evtchn_bind_ipi, 0)).toBe(ENOSPC);
    expect(a!.ports).toHaveLength(NR_EVENT_CHANNELS);
    expect(a!.ports.every((e, i) => i === 0 || e.state === EVTCHNSTAT_DEVICE)).toBe(true);
  });
});

describe('device ports (host side)', () => {
  it('bindDevice refuses a vCPU that is negative, fractional or too large (EINVAL)', () => {
    const { doms: [a] } = makeHv(1, { vcpus: 2 });
    expect([-1, 0.5, 2, NaN].map((vc) => evtchn.bindDevice(a!, vc))).toEqual([EINVAL, EINVAL, EINVAL, EINVAL]);
    expect(evtchn.bindDevice(a!, 1)).toBe(1);
  });

  it('bindDevice returns ENOSPC on a full table and binds nothing', () => {
    const { hv, doms: [a] } = makeHv(1);
    fillPorts(hv, a!);
    const before = a!.ports.map((e) => ({ ...e }));
    expect(evtchn.bindDevice(a!, 0)).toBe(ENOSPC);
    expect(a!.ports).toEqual(before);
    expect(Object.keys(a!.ports)).toHaveLength(NR_EVENT_CHANNELS - 1);
  });

  it('raiseDevice on a port that was never allocated is dropped without a throw', () => {
    const { hv, doms: [a] } = makeHv(1);
    expect(() => hv.raiseDevice(a!, 77)).not.toThrow();
    expect(pending(a!, 77)).toBe(false);
  });
});

describe('evtchn_close and evtchn_status', () => {
  it('closing an UNBOUND or IPI port leaves the other domain alone', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_alloc_unbound, a!.id);
    const pa = call(hv, a!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_close, pa)).toBe(0);
    expect(b!.port(pb)).toEqual({ state: EVTCHNSTAT_UNBOUND, vcpu: 0, remoteDom: a!.id, remotePort: 0, virq: 0 });
    expect(a!.port(pa)).toEqual({ state: EVTCHNSTAT_CLOSED, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 });
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_close, pa)).toBe(EINVAL);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_close, 500)).toBe(EINVAL);
  });

  it('closing an INTERDOMAIN end puts the peer back to UNBOUND for the closer, remote_port 0', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    call(hv, a!.vcpus[0]!, Hc.evtchn_bind_ipi, 0);
    const pa = call(hv, a!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id);
    call(hv, b!.vcpus[0]!, Hc.evtchn_bind_ipi, 0);
    call(hv, b!.vcpus[0]!, Hc.evtchn_bind_ipi, 0);
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_bind_interdomain, a!.id, pa);
    expect([pa, pb]).toEqual([2, 3]);
    expect(a!.port(pa)).toEqual({ state: EVTCHNSTAT_INTERDOMAIN, vcpu: 0, remoteDom: b!.id, remotePort: 3, virq: 0 });
    expect(b!.port(pb)).toEqual({ state: EVTCHNSTAT_INTERDOMAIN, vcpu: 0, remoteDom: a!.id, remotePort: 2, virq: 0 });
    call(hv, a!.vcpus[0]!, Hc.evtchn_close, pa);
    expect(b!.port(pb)).toEqual({ state: EVTCHNSTAT_UNBOUND, vcpu: 0, remoteDom: a!.id, remotePort: 0, virq: 0 });
    // The peer's ports other than pb are untouched.
    expect(b!.port(1)!.state).toBe(EVTCHNSTAT_IPI);
  });

  it('status of a port never allocated is CLOSED with every field 0 but the port; out of range is EINVAL', () => {
    const { hv, doms: [a] } = makeHv(1);
    a!.mem.fill(SCRATCH, 24, 0xff);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_status, 1023, SCRATCH)).toBe(0);
    const rd = (o: number) => a!.mem.u32((SCRATCH + o) as GuestAddr);
    expect(Object.values(EVTCHN_STATUS_OFF).map(rd)).toEqual([1023, 0, 0, 0, 0, 0]);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_status, 1024, SCRATCH)).toBe(EINVAL);
    expect(call(hv, a!.vcpus[0]!, Hc.evtchn_status, 1, a!.mem.size - 24)).toBe(0);
  });

  it('status of a VIRQ and an IPI port reports vcpu and virq', () => {
    const { hv, doms: [a] } = makeHv(1, { vcpus: 2 });
    const v = a!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_virq, VIRQ_CONSOLE, 1);
    call(hv, v, Hc.evtchn_status, p, SCRATCH);
    const rd = (o: number) => a!.mem.u32((SCRATCH + o) as GuestAddr);
    expect(Object.values(EVTCHN_STATUS_OFF).map(rd)).toEqual([p, EVTCHNSTAT_VIRQ, 1, 0, 0, VIRQ_CONSOLE]);
  });
});
