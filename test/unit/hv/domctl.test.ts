/**
 * `domctl` in the core (src/hv/domctl.ts): every command, the order of its checks (EPERM before
 * anything is read, EFAULT, interface version, command, ESRCH), what each command writes back and
 * into the target's start_info, VIRQ_CONTROL, and EPERM from a domain that is not controlling
 * changing nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_PHYSINFO, DOMCTL_DETACH_DEVICE, DOMCTL_GETINFO, DOMCTL_GETINFO_OFF,
  DOMCTL_INTERFACE_VERSION, DOMCTL_LIST, DOMCTL_LIST_OFF, DOMCTL_OP_OFF, DOMCTL_OP_SIZE, DOMCTL_PAUSE,
  DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MAX_MEM, DOMCTL_SET_MEMORY_TARGET, DOMCTL_SET_VCPUS, DOMCTL_UNPAUSE, DOMID_SELF,
  DOMINF_DYING, DOMINF_PAUSED, DOMINF_PRIVILEGED, DOMINF_SHUTDOWN, EFAULT, EINVAL, EOPNOTSUPP, EPERM, ESRCH,
  EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_UNBOUND, GRANT_FRAME_SIZE, Hc, SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT,
  START_INFO_OFF, VIRQ_CONTROL,
} from '../../../src/abi/index.ts';
import { Hypervisor, type Domain } from '../../../src/hv/index.ts';
import { encodeDomctlOp } from '../../../spec/model/index.ts';
import { call, createPayload, pending } from '../../support/hv.ts';

const MEM = 256 * 1024;
/** Where the controlling domain writes its op (8-aligned), and a DOMCTL_LIST buffer. */
const OP = 0x2000;
const LIST = 0x2100;

/** dom0 (controlling, id 1) and two clients (ids 2, 3). */
function world(): { hv: Hypervisor; dom0: Domain; a: Domain; b: Domain } {
  const hv = new Hypervisor({ log: () => {} });
  const dom0 = hv.createDomain({ name: 'dom0', memBytes: MEM, vcpus: 1, privileged: true });
  const a = hv.createDomain({ name: 'a', memBytes: MEM, vcpus: 2 });
  const b = hv.createDomain({ name: 'b', memBytes: MEM, vcpus: 1 });
  for (const d of [dom0, a, b]) d.caps = { upcall: true, vcpuEntry: true };
  return { hv, dom0, a, b };
}

function u64(v: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v), true);
  return out;
}

function u32s(...vs: number[]): Uint8Array {
  const out = new Uint8Array(4 * vs.length);
  vs.forEach((v, i) => new DataView(out.buffer).setUint32(4 * i, v >>> 0, true));
  return out;
}

/** Writes the op into `from`'s memory at OP and makes the call from its vCPU 0. */
function ctl(hv: Hypervisor, from: Domain, cmd: number, domain: number, payload?: Uint8Array, version?: number): number {
  from.mem.u8.set(encodeDomctlOp(cmd, domain, payload, version), OP);
  return call(hv, from.vcpus[0]!, Hc.domctl, OP);
}

/** A u32 / u64 of the op's payload as the host left it. */
const pay32 = (d: Domain, off: number) => d.mem.u32((OP + DOMCTL_OP_OFF.payload + off) as never);
const pay64 = (d: Domain, off: number) => d.mem.u64((OP + DOMCTL_OP_OFF.payload + off) as never);
const si32 = (d: Domain, off: number) => d.mem.u32((d.layout.startInfo + off) as never);
const si64 = (d: Domain, off: number) => d.mem.u64((d.layout.startInfo + off) as never);

/** Everything `domctl` can change, to compare before and after a refused call. */
function snapshot(hv: Hypervisor): string {
  return JSON.stringify(hv.domains.map((d) => ({
    id: d.id, state: d.state, maxMem: d.maxMem, memTarget: d.memTarget, req: d.shutdownRequest,
    mem: Buffer.from(d.mem.u8).toString('base64'),
  })));
}

describe('domctl: privilege and the header', () => {
  it('EPERM: a domain that is not controlling gets EPERM for every command, and nothing changes (not even its op)', () => {
    const { hv, a, b } = world();
    for (const cmd of [0, DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM, DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN, 99]) {
      a.mem.u8.set(encodeDomctlOp(cmd, b.id, u32s(LIST, 8)), OP);
      const before = snapshot(hv);
      expect(call(hv, a.vcpus[0]!, Hc.domctl, OP), `cmd ${cmd}`).toBe(EPERM);
      expect(snapshot(hv), `cmd ${cmd}`).toBe(before);
    }
    // Before any pointer check: a wild pointer is EPERM too (nothing is read).
    expect(call(hv, a.vcpus[0]!, Hc.domctl, 0xfffffff8)).toBe(EPERM);
  });

  it('EFAULT: the op outside memory, wrapping, or not 8-byte aligned', () => {
    const { hv, dom0 } = world();
    const v = dom0.vcpus[0]!;
    expect(call(hv, v, Hc.domctl, MEM - DOMCTL_OP_SIZE + 8)).toBe(EFAULT);
    expect(call(hv, v, Hc.domctl, 0xfffffff8)).toBe(EFAULT);
    dom0.mem.u8.set(encodeDomctlOp(DOMCTL_GETINFO, DOMID_SELF), OP + 4);
    expect(call(hv, v, Hc.domctl, OP + 4)).toBe(EFAULT);
    // The last place it fits is fine.
    dom0.mem.u8.set(encodeDomctlOp(DOMCTL_GETINFO, DOMID_SELF), MEM - DOMCTL_OP_SIZE);
    expect(call(hv, v, Hc.domctl, MEM - DOMCTL_OP_SIZE)).toBe(0);
  });

  it('EINVAL for a wrong interface version (checked before the command), and for an unknown command', () => {
    const { hv, dom0, a } = world();
    for (const ver of [0, DOMCTL_INTERFACE_VERSION + 1, 0xffffffff]) {
      expect(ctl(hv, dom0, DOMCTL_PAUSE, a.id, undefined, ver)).toBe(EINVAL);
      expect(ctl(hv, dom0, DOMCTL_CREATE, a.id, undefined, ver)).toBe(EINVAL);
    }
    expect(a.state).toBe('running');
    for (const cmd of [0, DOMCTL_PHYSINFO + 1, 0xffffffff]) expect(ctl(hv, dom0, cmd, a.id)).toBe(EINVAL);
  });

  it('ESRCH for a domain that does not exist (never created, or destroyed); DOMID_SELF is the caller', () => {
    const { hv, dom0, a } = world();
    for (const id of [0, 4, 99, DOMID_SELF + 1, 0xffffffff]) expect(ctl(hv, dom0, DOMCTL_GETINFO, id), `id ${id}`).toBe(ESRCH);
    expect(ctl(hv, dom0, DOMCTL_GETINFO, DOMID_SELF)).toBe(0);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.domid)).toBe(dom0.id);
    expect(ctl(hv, dom0, DOMCTL_DESTROY, a.id)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_GETINFO, a.id)).toBe(ESRCH);
    expect(ctl(hv, dom0, DOMCTL_UNPAUSE, a.id)).toBe(ESRCH);
  });

  it('EOPNOTSUPP: create on a bare core (no image loader), after the checks that need none; nothing changes', () => {
    const { hv, dom0 } = world();
    hv.freeFrames = 64;
    hv.freeVcpus = 1;
    dom0.mem.u8.set(new Uint8Array(8).fill(1), 0x3000);
    dom0.mem.u8.set(encodeDomctlOp(DOMCTL_CREATE, 0, createPayload({ image: 0x3000, len: 8, mem: 65536, vcpus: 1 })), OP);
    const before = snapshot(hv);
    expect(call(hv, dom0.vcpus[0]!, Hc.domctl, OP)).toBe(EOPNOTSUPP);
    expect(snapshot(hv)).toBe(before);
    expect([hv.freeFrames, hv.freeVcpus]).toEqual([64, 1]);
  });
});

describe('domctl commands', () => {
  it('GETINFO: flags, shutdown reason and code, vCPUs, memory, max and target', () => {
    const { hv, dom0, a, b } = world();
    expect(ctl(hv, dom0, DOMCTL_GETINFO, a.id)).toBe(0);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.domid)).toBe(a.id);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.flags)).toBe(0);
    expect([pay32(dom0, DOMCTL_GETINFO_OFF.nr_vcpus), pay32(dom0, DOMCTL_GETINFO_OFF.vcpus_online)]).toEqual([2, 1]);
    expect([pay64(dom0, DOMCTL_GETINFO_OFF.mem_size), pay64(dom0, DOMCTL_GETINFO_OFF.max_mem), pay64(dom0, DOMCTL_GETINFO_OFF.mem_target)]).toEqual([MEM, MEM, MEM]);
    expect(ctl(hv, dom0, DOMCTL_GETINFO, dom0.id)).toBe(0);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.flags)).toBe(DOMINF_PRIVILEGED);
    hv.shutdown(a, SHUTDOWN_REBOOT, -7);
    expect(ctl(hv, dom0, DOMCTL_GETINFO, a.id)).toBe(0);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.flags)).toBe(DOMINF_SHUTDOWN);
    expect([pay32(dom0, DOMCTL_GETINFO_OFF.shutdown_reason), dom0.mem.i32At((OP + DOMCTL_OP_OFF.payload + DOMCTL_GETINFO_OFF.shutdown_code) as never)]).toEqual([SHUTDOWN_REBOOT, -7]);
    hv.crash(b, 'test');
    expect(ctl(hv, dom0, DOMCTL_GETINFO, b.id)).toBe(0);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.flags)).toBe(DOMINF_DYING);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.shutdown_reason)).toBe(0);
  });

  it('LIST: ids in creation order into the buffer, nr = min(max, total); EFAULT for a bad buffer', () => {
    const { hv, dom0, a } = world();
    dom0.mem.u8.fill(0xee, LIST, LIST + 16);
    expect(ctl(hv, dom0, DOMCTL_LIST, 0, u32s(LIST, 2))).toBe(0);
    expect([dom0.mem.u32(LIST as never), dom0.mem.u32((LIST + 4) as never), dom0.mem.u32((LIST + 8) as never)]).toEqual([1, 2, 0xeeeeeeee]);
    expect([pay32(dom0, DOMCTL_LIST_OFF.nr), pay32(dom0, DOMCTL_LIST_OFF.total)]).toEqual([2, 3]);
    expect(ctl(hv, dom0, DOMCTL_LIST, 0, u32s(0, 0))).toBe(0); // max 0: buffer not looked at
    expect([pay32(dom0, DOMCTL_LIST_OFF.nr), pay32(dom0, DOMCTL_LIST_OFF.total)]).toEqual([0, 3]);
    expect(ctl(hv, dom0, DOMCTL_DESTROY, a.id)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_LIST, 0xdead, u32s(LIST, 8))).toBe(0); // `domain` is not looked at
    expect([dom0.mem.u32(LIST as never), dom0.mem.u32((LIST + 4) as never), pay32(dom0, DOMCTL_LIST_OFF.nr)]).toEqual([1, 3, 2]);
    expect(ctl(hv, dom0, DOMCTL_LIST, 0, u32s(MEM - 8, 4))).toBe(EFAULT);
    expect(ctl(hv, dom0, DOMCTL_LIST, 0, u32s(LIST + 2, 1))).toBe(EFAULT);
    expect(ctl(hv, dom0, DOMCTL_LIST, 0, u32s(0xfffffffc, 2))).toBe(EFAULT);
  });

  it('PAUSE / UNPAUSE: another domain only; repeating either, or pausing an ended domain, changes nothing', () => {
    const { hv, dom0, a, b } = world();
    expect(ctl(hv, dom0, DOMCTL_PAUSE, DOMID_SELF)).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_PAUSE, dom0.id)).toBe(EINVAL);
    expect(dom0.state).toBe('running');
    expect(ctl(hv, dom0, DOMCTL_PAUSE, a.id)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_PAUSE, a.id)).toBe(0);
    expect(a.state).toBe('paused');
    expect(ctl(hv, dom0, DOMCTL_GETINFO, a.id)).toBe(0);
    expect(pay32(dom0, DOMCTL_GETINFO_OFF.flags)).toBe(DOMINF_PAUSED);
    expect(ctl(hv, dom0, DOMCTL_UNPAUSE, a.id)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_UNPAUSE, a.id)).toBe(0);
    expect(a.state).toBe('running');
    hv.shutdown(b, SHUTDOWN_POWEROFF, 0);
    expect(ctl(hv, dom0, DOMCTL_PAUSE, b.id)).toBe(0);
    expect(b.state).toBe('shutdown');
  });

  it('DESTROY: not itself; the domain leaves the host and its peers\' ports go back to unbound', () => {
    const { hv, dom0, a, b } = world();
    const pa = call(hv, a.vcpus[0]!, Hc.evtchn_alloc_unbound, b.id);
    const pb = call(hv, b.vcpus[0]!, Hc.evtchn_bind_interdomain, a.id, pa);
    expect(b.ports[pb]!.state).toBe(EVTCHNSTAT_INTERDOMAIN);
    expect(ctl(hv, dom0, DOMCTL_DESTROY, DOMID_SELF)).toBe(EINVAL);
    expect(hv.domain(dom0.id)).toBe(dom0);
    expect(ctl(hv, dom0, DOMCTL_DESTROY, a.id)).toBe(0);
    expect(hv.domain(a.id)).toBeUndefined();
    expect(a.vcpus.every((v) => !v.up)).toBe(true);
    expect([b.ports[pb]!.state, b.ports[pb]!.remoteDom]).toEqual([EVTCHNSTAT_UNBOUND, a.id]);
    expect(ctl(hv, dom0, DOMCTL_DESTROY, a.id)).toBe(ESRCH);
  });

  it('SET_MAX_MEM: at least what it has, at most 4 GiB, whole frames; written to start_info.max_mem', () => {
    const { hv, dom0, a } = world();
    expect(si64(a, START_INFO_OFF.max_mem)).toBe(MEM);
    expect(ctl(hv, dom0, DOMCTL_SET_MAX_MEM, a.id, u64(MEM + 16 * GRANT_FRAME_SIZE))).toBe(0);
    expect([a.maxMem, si64(a, START_INFO_OFF.max_mem)]).toEqual([MEM + 65536, MEM + 65536]);
    for (const bad of [MEM - GRANT_FRAME_SIZE, MEM + 1, 2 ** 32 + GRANT_FRAME_SIZE, 2n ** 64n - 1n]) {
      expect(ctl(hv, dom0, DOMCTL_SET_MAX_MEM, a.id, u64(bad)), `${bad}`).toBe(EINVAL);
    }
    expect(a.maxMem).toBe(MEM + 65536);
    expect(ctl(hv, dom0, DOMCTL_SET_MAX_MEM, a.id, u64(2 ** 32))).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_SET_MAX_MEM, a.id, u64(MEM))).toBe(0);
  });

  it('SET_MEMORY_TARGET: at most max_mem, whole frames; start_info.mem_target, then VIRQ_CONTROL', () => {
    const { hv, dom0, a } = world();
    const port = call(hv, a.vcpus[0]!, Hc.evtchn_bind_virq, VIRQ_CONTROL, 1);
    expect(port).toBeGreaterThan(0);
    expect(si64(a, START_INFO_OFF.mem_target)).toBe(MEM);
    expect(ctl(hv, dom0, DOMCTL_SET_MEMORY_TARGET, a.id, u64(MEM / 2))).toBe(0);
    expect([a.memTarget, si64(a, START_INFO_OFF.mem_target)]).toEqual([MEM / 2, MEM / 2]);
    expect(pending(a, port)).toBe(true);
    expect(ctl(hv, dom0, DOMCTL_SET_MEMORY_TARGET, a.id, u64(MEM + GRANT_FRAME_SIZE))).toBe(EINVAL); // above max
    expect(ctl(hv, dom0, DOMCTL_SET_MEMORY_TARGET, a.id, u64(100))).toBe(EINVAL);
    expect(a.memTarget).toBe(MEM / 2);
    // Above the old max once the max is raised; a dead domain gets it recorded, no event.
    expect(ctl(hv, dom0, DOMCTL_SET_MAX_MEM, a.id, u64(2 * MEM))).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_SET_MEMORY_TARGET, a.id, u64(2 * MEM))).toBe(0);
    a.mem.i32[a.pendingIdx + (port >>> 5)] = 0;
    hv.crash(a, 'test');
    expect(ctl(hv, dom0, DOMCTL_SET_MEMORY_TARGET, a.id, u64(0))).toBe(0);
    expect([a.memTarget, pending(a, port)]).toEqual([0, false]);
  });

  it('REQUEST_SHUTDOWN: reason then flag in start_info, VIRQ_CONTROL; the domain runs until it shuts itself down', () => {
    const { hv, dom0, a, b } = world();
    const port = call(hv, a.vcpus[0]!, Hc.evtchn_bind_virq, VIRQ_CONTROL, 0);
    expect(si32(a, START_INFO_OFF.shutdown_requested)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_REQUEST_SHUTDOWN, a.id, u32s(SHUTDOWN_CRASH))).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_REQUEST_SHUTDOWN, a.id, u32s(7))).toBe(EINVAL);
    expect(si32(a, START_INFO_OFF.shutdown_requested)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_REQUEST_SHUTDOWN, a.id, u32s(SHUTDOWN_REBOOT))).toBe(0);
    expect([si32(a, START_INFO_OFF.shutdown_requested), si32(a, START_INFO_OFF.shutdown_reason), a.shutdownRequest]).toEqual([1, SHUTDOWN_REBOOT, SHUTDOWN_REBOOT]);
    expect(pending(a, port)).toBe(true);
    expect(a.state).toBe('running');
    // The guest's part: it reads the reason and shuts down with it.
    expect(call(hv, a.vcpus[0]!, Hc.sched_shutdown, si32(a, START_INFO_OFF.shutdown_reason), 0)).toBe(0);
    expect([a.state, a.shutdownReason]).toEqual(['shutdown', SHUTDOWN_REBOOT]);
    expect(ctl(hv, dom0, DOMCTL_REQUEST_SHUTDOWN, a.id, u32s(SHUTDOWN_POWEROFF))).toBe(EINVAL);
    // Unbound VIRQ_CONTROL: the request is still recorded.
    expect(ctl(hv, dom0, DOMCTL_REQUEST_SHUTDOWN, b.id, u32s(SHUTDOWN_POWEROFF))).toBe(0);
    expect(si32(b, START_INFO_OFF.shutdown_requested)).toBe(1);
  });
});
