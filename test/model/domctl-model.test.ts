/**
 * The domctl group of the reference model by hand: EPERM before anything else, the header checks
 * in the spec's order, what each command does to the state and writes back, VIRQ_CONTROL waking a
 * blocked vCPU, and destroy leaving peers unbound with the invariants intact.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_GETINFO, DOMCTL_GETINFO_OFF, DOMCTL_GETINFO_SIZE, DOMCTL_INTERFACE_VERSION,
  DOMCTL_LIST, DOMCTL_LIST_OFF, DOMCTL_OP_OFF, DOMCTL_PAUSE, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET, DOMCTL_UNPAUSE, DOMID_SELF, DOMINF_PAUSED, DOMINF_PRIVILEGED, EFAULT, EINVAL, EOPNOTSUPP,
  EPERM, ESRCH, Hc, SHUTDOWN_CRASH, SHUTDOWN_REBOOT, VIRQ_CONTROL,
} from '../../src/abi/generated/index.ts';
import { encodeDomctlOp, getDomain, getinfoBytes, initialState, invariants, memoryOf, step, u32Bytes, type ModelState } from '../../spec/model/index.ts';

const MEM = 64 * 1024;
const OP = 0x1000;
const LIST = 0x1100;

/** dom0 (1, controlling) and clients 2, 3; `img` is the caller's memory for each step. */
function world(): ModelState {
  return initialState([1, 2, 3].map((id) => ({ id, memSize: MEM, nrVcpus: 2, privileged: id === 1 })));
}

function ctl(s: ModelState, from: number, op: Uint8Array) {
  const img = new Uint8Array(MEM);
  img.set(op, OP);
  return step(s, { dom: from, vcpu: 0 }, Hc.domctl, [OP], memoryOf(img));
}

const u64 = (v: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
};

describe('domctl (model)', () => {
  it('EPERM for a domain that is not controlling, whatever the op, with no change and no write', () => {
    const s = world();
    for (const op of [encodeDomctlOp(DOMCTL_PAUSE, 1), encodeDomctlOp(0, 0, new Uint8Array(0), 99)]) {
      const r = ctl(s, 2, op);
      expect([r.result, r.state, r.writes]).toEqual([EPERM, s, undefined]);
    }
    expect(step(s, { dom: 2, vcpu: 0 }, Hc.domctl, [0xfffffff8], memoryOf(new Uint8Array(MEM))).result).toBe(EPERM);
  });

  it('then EFAULT, the interface version, EOPNOTSUPP, an unknown command, ESRCH, in that order', () => {
    const s = world();
    expect(step(s, { dom: 1, vcpu: 0 }, Hc.domctl, [OP + 4], memoryOf(new Uint8Array(MEM))).result).toBe(EFAULT);
    expect(step(s, { dom: 1, vcpu: 0 }, Hc.domctl, [MEM - 8], memoryOf(new Uint8Array(MEM))).result).toBe(EFAULT);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_CREATE, 99, new Uint8Array(0), DOMCTL_INTERFACE_VERSION + 1)).result).toBe(EINVAL);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_CREATE, 99)).result).toBe(EOPNOTSUPP);
    expect(ctl(s, 1, encodeDomctlOp(77, 99)).result).toBe(EINVAL);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_GETINFO, 99)).result).toBe(ESRCH);
  });

  it('GETINFO and LIST write their payloads (LIST: the ids first, then nr and total)', () => {
    let s = world();
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_PAUSE, 3)).state;
    const info = ctl(s, 1, encodeDomctlOp(DOMCTL_GETINFO, 3));
    expect(info.writes).toEqual([{ addr: OP + DOMCTL_OP_OFF.payload, bytes: getinfoBytes(getDomain(s, 3)) }]);
    const dv = new DataView(info.writes![0]!.bytes.buffer);
    expect(info.writes![0]!.bytes.length).toBe(DOMCTL_GETINFO_SIZE);
    expect([dv.getUint32(DOMCTL_GETINFO_OFF.domid, true), dv.getUint32(DOMCTL_GETINFO_OFF.flags, true), dv.getUint32(DOMCTL_GETINFO_OFF.vcpus_online, true)]).toEqual([3, DOMINF_PAUSED, 1]);
    const self = ctl(s, 1, encodeDomctlOp(DOMCTL_GETINFO, DOMID_SELF));
    expect(new DataView(self.writes![0]!.bytes.buffer).getUint32(DOMCTL_GETINFO_OFF.flags, true)).toBe(DOMINF_PRIVILEGED);
    const list = ctl(s, 1, encodeDomctlOp(DOMCTL_LIST, 0, u32Bytes(LIST, 2)));
    const pl = OP + DOMCTL_OP_OFF.payload;
    expect(list.writes).toEqual([
      { addr: LIST, bytes: u32Bytes(1) },
      { addr: LIST + 4, bytes: u32Bytes(2) },
      { addr: pl + DOMCTL_LIST_OFF.nr, bytes: u32Bytes(2) },
      { addr: pl + DOMCTL_LIST_OFF.total, bytes: u32Bytes(3) },
    ]);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_LIST, 0, u32Bytes(MEM - 4, 2))).result).toBe(EFAULT);
  });

  it('PAUSE / UNPAUSE / DESTROY: not the caller (pause, destroy); destroy unbinds the peers and keeps the invariants', () => {
    let s = world();
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_PAUSE, DOMID_SELF)).result).toBe(EINVAL);
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_PAUSE, 2)).state;
    expect(getDomain(s, 2).paused).toBe(true);
    expect(() => step(s, { dom: 2, vcpu: 0 }, Hc.version, [], memoryOf(new Uint8Array(MEM)))).toThrow(/paused/);
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_UNPAUSE, 2)).state;
    expect(getDomain(s, 2).paused).toBe(false);
    // 2 offers a port to 3, 3 binds it; then 2 is destroyed.
    const mem = memoryOf(new Uint8Array(MEM));
    s = step(s, { dom: 2, vcpu: 0 }, Hc.evtchn_alloc_unbound, [3], mem).state;
    const bound = step(s, { dom: 3, vcpu: 0 }, Hc.evtchn_bind_interdomain, [2, 1], mem);
    s = bound.state;
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_DESTROY, 1)).result).toBe(EINVAL);
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_DESTROY, 2)).state;
    expect(s.domains.map((d) => d.id)).toEqual([1, 3]);
    expect(getDomain(s, 3).ports[bound.result]).toEqual({ state: 'unbound', remoteDom: 2, vcpu: 0 });
    expect(s.destroyed).toEqual([2]);
    expect(invariants(s)).toEqual([]);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_GETINFO, 2)).result).toBe(ESRCH);
  });

  it('SET_MAX_MEM, SET_MEMORY_TARGET and REQUEST_SHUTDOWN; VIRQ_CONTROL wakes a vCPU blocked in sched_block', () => {
    let s = world();
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_SET_MAX_MEM, 2, u64(MEM - 4096))).result).toBe(EINVAL);
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_MAX_MEM, 2, u64(2 * MEM))).state;
    expect(getDomain(s, 2).maxMem).toBe(2 * MEM);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_SET_MEMORY_TARGET, 2, u64(2 * MEM + 4096))).result).toBe(EINVAL);
    const mem = memoryOf(new Uint8Array(MEM));
    const port = step(s, { dom: 2, vcpu: 0 }, Hc.evtchn_bind_virq, [VIRQ_CONTROL, 0], mem);
    s = step(port.state, { dom: 2, vcpu: 0 }, Hc.sched_block, [], mem).state;
    const target = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_MEMORY_TARGET, 2, u64(MEM / 2)));
    expect(getDomain(target.state, 2).memTarget).toBe(MEM / 2);
    expect(target.wakes).toEqual([{ dom: 2, vcpu: 0, result: 0 }]);
    expect(getDomain(target.state, 2).pending[port.result]).toBe(true);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_REQUEST_SHUTDOWN, 2, u32Bytes(SHUTDOWN_CRASH))).result).toBe(EINVAL);
    const req = ctl(s, 1, encodeDomctlOp(DOMCTL_REQUEST_SHUTDOWN, 2, u32Bytes(SHUTDOWN_REBOOT)));
    expect([req.result, getDomain(req.state, 2).shutdownRequest, getDomain(req.state, 2).status]).toEqual([0, SHUTDOWN_REBOOT, 'running']);
    expect(req.wakes).toEqual([{ dom: 2, vcpu: 0, result: 0 }]);
    expect(invariants(req.state)).toEqual([]);
  });
});
