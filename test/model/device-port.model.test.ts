/**
 * The reference model on DEVICE ports (ABI 1.1): the host binds them, so the model never creates
 * one; these tests put one in a state by hand and check what the guest's calls do to it, and that
 * the same situation on the real host observes the same.
 */
import { describe, expect, it } from 'vitest';
import { EINVAL, EVTCHNSTAT_DEVICE, Hc } from '../../src/abi/generated/index.ts';
import { invariants, observe, setPort, statusBytes, updateDomain, type ModelState } from '../../spec/model/index.ts';
import { makeHv, call as hvCall, SCRATCH } from '../support/hv.ts';
import { call, fixtureState } from '../support/model-fixtures.ts';

/** The fixture world with port 1 of domain 0 bound to a device interrupt on vCPU 1. */
function withDevicePort(): ModelState {
  return updateDomain(fixtureState(), 0, (d) => setPort(d, 1, { state: 'device', vcpu: 1 }));
}

describe('DEVICE ports in the model', () => {
  it('is a valid, observable port state', () => {
    const s = withDevicePort();
    expect(invariants(s)).toEqual([]);
    expect(observe(s).domains[0]!.ports).toEqual([{ port: 1, state: 'device', vcpu: 1 }]);
  });

  it('evtchn_send on it is EINVAL and changes nothing ("VIRQ and DEVICE ports cannot be sent on")', () => {
    const s = withDevicePort();
    const r = call(s, 0, Hc.evtchn_send, [1]);
    expect(r.result).toBe(EINVAL);
    expect(r.state).toEqual(s);
  });

  it('evtchn_close frees it', () => {
    const r = call(withDevicePort(), 0, Hc.evtchn_close, [1]);
    expect(r.result).toBe(0);
    expect(observe(r.state).domains[0]!.ports).toEqual([]);
    expect(call(r.state, 0, Hc.evtchn_close, [1]).result).toBe(EINVAL);
  });

  it('evtchn_status reports state DEVICE and its vCPU, every other field 0', () => {
    const r = call(withDevicePort(), 0, Hc.evtchn_status, [1, 0x500]);
    expect(r.result).toBe(0);
    expect(r.writes).toEqual([{ addr: 0x500, bytes: statusBytes(1, { state: 'device', vcpu: 1 }) }]);
    const w = new DataView(statusBytes(1, { state: 'device', vcpu: 1 }).buffer);
    expect([0, 4, 8, 12, 16, 20].map((o) => w.getUint32(o, true))).toEqual([1, EVTCHNSTAT_DEVICE, 1, 0, 0, 0]);
  });

  it('agrees with the host on send, status and close', () => {
    const { hv, doms } = makeHv(1);
    const d = doms[0]!;
    const port = hv.bindDevicePort(d, 1);
    expect(port).toBe(1);
    const v = d.vcpus[0]!;
    expect(hvCall(hv, v, Hc.evtchn_send, port)).toBe(call(withDevicePort(), 0, Hc.evtchn_send, [1]).result);
    expect(hvCall(hv, v, Hc.evtchn_status, port, SCRATCH)).toBe(0);
    expect(d.mem.u8.slice(SCRATCH, SCRATCH + 24)).toEqual(statusBytes(1, { state: 'device', vcpu: 1 }));
    expect(hvCall(hv, v, Hc.evtchn_close, port)).toBe(0);
    expect(hvCall(hv, v, Hc.evtchn_close, port)).toBe(EINVAL);
  });
});
