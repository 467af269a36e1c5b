/**
 * DEVICE event-channel ports (ABI 1.1): the host binds them for device interrupts; the guest sees
 * them in evtchn_status, cannot send on them, and may close them, after which the device's
 * interrupts are dropped.
 */
import { describe, expect, it } from 'vitest';
import { EINVAL, EVTCHN_STATUS_OFF, EVTCHNSTAT_DEVICE, Hc } from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import type { Domain } from '../../../src/hv/index.ts';
import { call, makeHv, pending, SCRATCH, setMask, upcallPending } from '../../support/hv.ts';

function status(d: Domain): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [k, off] of Object.entries(EVTCHN_STATUS_OFF)) r[k] = d.mem.u32((SCRATCH + off) as GuestAddr);
  return r;
}

describe('device ports', () => {
  it('binds the lowest free port in state DEVICE on the given vCPU', () => {
    const { hv, doms } = makeHv(1, { vcpus: 2 });
    const d = doms[0]!;
    expect(hv.bindDevicePort(d)).toBe(1);
    expect(call(hv, d.vcpus[0]!, Hc.evtchn_bind_ipi, 0)).toBe(2);
    expect(hv.bindDevicePort(d, 1)).toBe(3);
    expect(d.port(1)).toMatchObject({ state: EVTCHNSTAT_DEVICE, vcpu: 0 });
    expect(d.port(3)).toMatchObject({ state: EVTCHNSTAT_DEVICE, vcpu: 1 });
    expect(() => hv.bindDevicePort(d, 2)).toThrow(RangeError);
    // A closed port is reused first.
    expect(call(hv, d.vcpus[0]!, Hc.evtchn_close, 1)).toBe(0);
    expect(hv.bindDevicePort(d)).toBe(1);
  });

  it('raiseDevice makes the port pending and sets upcall_pending on its vCPU', () => {
    const { hv, doms } = makeHv(1, { vcpus: 2 });
    const d = doms[0]!;
    const p = hv.bindDevicePort(d, 1);
    hv.raiseDevice(d, p);
    expect(pending(d, p)).toBe(true);
    expect(upcallPending(d, 1)).toBe(1);
    expect(upcallPending(d, 0)).toBe(0);
  });

  it('a masked device port becomes pending without an upcall', () => {
    const { hv, doms } = makeHv(1);
    const d = doms[0]!;
    const p = hv.bindDevicePort(d);
    setMask(d, p, true);
    hv.raiseDevice(d, p);
    expect(pending(d, p)).toBe(true);
    expect(upcallPending(d, 0)).toBe(0);
  });

  it('evtchn_status reports DEVICE with its vCPU and zeros elsewhere', () => {
    const { hv, doms } = makeHv(1, { vcpus: 2 });
    const d = doms[0]!;
    const p = hv.bindDevicePort(d, 1);
    expect(call(hv, d.vcpus[0]!, Hc.evtchn_status, p, SCRATCH)).toBe(0);
    expect(status(d)).toEqual({ port: p, state: EVTCHNSTAT_DEVICE, vcpu: 1, remote_dom: 0, remote_port: 0, virq: 0 });
  });

  it('evtchn_send on a device port is EINVAL and raises nothing', () => {
    const { hv, doms } = makeHv(1);
    const d = doms[0]!;
    const p = hv.bindDevicePort(d);
    expect(call(hv, d.vcpus[0]!, Hc.evtchn_send, p)).toBe(EINVAL);
    expect(pending(d, p)).toBe(false);
  });

  it('the guest may close it; later device interrupts are dropped, even if the port is reused', () => {
    const { hv, doms } = makeHv(1);
    const d = doms[0]!;
    const v = d.vcpus[0]!;
    const p = hv.bindDevicePort(d);
    expect(call(hv, v, Hc.evtchn_close, p)).toBe(0);
    hv.raiseDevice(d, p);
    expect(pending(d, p)).toBe(false);
    // Reused as an IPI port: the stale device must still not fire it.
    expect(call(hv, v, Hc.evtchn_bind_ipi, 0)).toBe(p);
    hv.raiseDevice(d, p);
    expect(pending(d, p)).toBe(false);
    expect(upcallPending(d, 0)).toBe(0);
  });

  it('raiseDevice on a crashed domain does nothing', () => {
    const { hv, doms } = makeHv(1);
    const d = doms[0]!;
    const p = hv.bindDevicePort(d);
    hv.crash(d, 'test');
    hv.raiseDevice(d, p);
    expect(pending(d, p)).toBe(false);
  });
});
