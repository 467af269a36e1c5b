/**
 * Found while bringing the model to ABI 1.5 (by reading the core against the spec, then checked
 * here; the model had copied the core's rule, so the model-based runs could not see it).
 *
 * What broke: a guest closes a device's DEVICE port (allowed: "the device then has no interrupt
 * until the toolstack attaches it again"), and a device moved in later gets the same port number
 * (the lowest free one). The core kept the first device tied to that number, so
 * - the first device's interrupts were raised on the second device's port, and
 * - moving the first device away closed the second device's port ("closes its DEVICE port in the
 *   giving domain": its own, which the guest had already closed).
 *
 * Fixed in src/hv/hypervisor.ts (plugDevice: a device whose port number goes to another device
 * loses its port; its interrupt follows its entry; unplugDevice closes only a port the device
 * still has) and in spec/model/domctl.ts (the same rule: `portLost`).
 */
import { describe, expect, it } from 'vitest';
import { DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, EVTCHNSTAT_CLOSED, EVTCHNSTAT_DEVICE, Hc, SHARED_INFO_OFF } from '../../src/abi/index.ts';
import { Hypervisor } from '../../src/hv/index.ts';
import { DEVICE_DOMAINS, hvHost, modelHost, diffObservations, FakeDevice, FAKE_LOADER } from '../../src/testing/index.ts';
import { encodeDomctlOp, u32Bytes } from '../../spec/model/index.ts';
import { call } from '../support/hv.ts';

const OP = 0x3c00;

describe('regression: a device port the guest closed and another device got', () => {
  it('the first device neither raises nor closes the second one\'s port (core)', () => {
    const hv = new Hypervisor({ log: () => {} });
    const d1 = hv.createDomain({ name: 'd1', memBytes: 256 * 1024, vcpus: 1, privileged: true });
    const d2 = hv.createDomain({ name: 'd2', memBytes: 256 * 1024, vcpus: 1 });
    const d3 = hv.createDomain({ name: 'd3', memBytes: 256 * 1024, vcpus: 1 });
    let raiseA: (() => void) | undefined;
    const a = Object.assign(new FakeDevice('blk0', 2), { setInterrupt: (f: () => void) => { raiseA = f; } });
    expect(hv.plugDevice(d1, a)).toBe(0); // port 1
    expect(hv.plugDevice(d2, new FakeDevice('con0', 3))).toBe(0); // port 1 of d2
    const v = d1.vcpus[0]!;
    expect(call(hv, v, Hc.evtchn_close, 1)).toBe(0);
    const ctl = (cmd: number, dom: number, index: number) => {
      d1.mem.u8.set(encodeDomctlOp(cmd, dom, u32Bytes(index, 0)), OP);
      return call(hv, v, Hc.domctl, OP);
    };
    // con0 comes to d1 and gets the lowest free port: 1 again.
    expect(ctl(DOMCTL_DETACH_DEVICE, d2.id, 0)).toBe(0);
    expect([d1.ports[1]?.state, d1.devices[1]?.port]).toEqual([EVTCHNSTAT_DEVICE, 1]);
    // blk0's interrupt must not show up on con0's port.
    raiseA?.();
    expect(d1.mem.u8[d1.layout.sharedInfo + SHARED_INFO_OFF.evtchn_pending]! & 0b10).toBe(0);
    // Moving blk0 away must leave con0's port bound.
    expect(ctl(DOMCTL_ATTACH_DEVICE, d3.id, 0)).toBe(0);
    expect(d1.ports[1]?.state).toBe(EVTCHNSTAT_DEVICE);
    expect(d1.ports.filter((p) => p !== undefined && p.state !== EVTCHNSTAT_CLOSED).length).toBe(1);
  });

  it('core and model agree on the sequence', () => {
    const host = hvHost(DEVICE_DOMAINS);
    const model = modelHost(DEVICE_DOMAINS, { sharedInfoAddr: (d) => host.sharedInfoAddr(d.id), loader: FAKE_LOADER });
    for (const d of DEVICE_DOMAINS) model.loadImage(d.id, host.readMem!(d.id, 0, d.memSize));
    const both = (dom: number, nr: number, args: number[], op?: Uint8Array) => {
      if (op !== undefined) {
        host.writeMem(dom, OP, op);
        model.writeMem(dom, OP, op);
      }
      const r = model.call(dom, 0, nr, args);
      expect(host.call(dom, 0, nr, args)).toBe(r);
      expect(diffObservations(model.observe(), host.observe())).toEqual([]);
      return r;
    };
    both(1, Hc.evtchn_close, [1]); // blk0's port
    expect(both(1, Hc.domctl, [OP], encodeDomctlOp(DOMCTL_DETACH_DEVICE, 2, u32Bytes(0, 0)))).toBe(0); // con0 -> port 1
    expect(both(1, Hc.domctl, [OP], encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 3, u32Bytes(0, 0)))).toBe(0); // blk0 away
    expect(model.state.domains[0]!.ports[1]).toEqual({ state: 'device', vcpu: 0 });
  });
});
