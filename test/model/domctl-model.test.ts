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
  EPERM, ESRCH, Hc, SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, VIRQ_CONTROL, VIRQ_DOM_EXC,
  DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE_OFF, DOMCTL_DETACH_DEVICE, DOMCTL_DEVICE_OFF, DOMCTL_PHYSINFO, DOMCTL_SET_VCPUS,
  EBUSY, EEXIST, ENOMEM, ENOSPC, MAX_DEVICES, SIF_PRIVILEGED,
} from '../../src/abi/generated/index.ts';
import {
  encodeDomctlCreate, encodeDomctlOp, getDomain, getinfoBytes, initialState, invariants, memoryOf, physinfo, step, u32Bytes, type ModelState,
} from '../../spec/model/index.ts';
import { FAKE_GUEST_IMAGE, FAKE_LOADER } from '../../src/testing/index.ts';

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

  it('then EFAULT, the interface version, an unknown command, ESRCH, in that order', () => {
    const s = world();
    expect(step(s, { dom: 1, vcpu: 0 }, Hc.domctl, [OP + 4], memoryOf(new Uint8Array(MEM))).result).toBe(EFAULT);
    expect(step(s, { dom: 1, vcpu: 0 }, Hc.domctl, [MEM - 8], memoryOf(new Uint8Array(MEM))).result).toBe(EFAULT);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_GETINFO, 99, new Uint8Array(0), DOMCTL_INTERFACE_VERSION + 1)).result).toBe(EINVAL);
    expect(ctl(s, 1, encodeDomctlOp(77, 99)).result).toBe(EINVAL);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_PHYSINFO + 1, 1)).result).toBe(EINVAL);
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_GETINFO, 99)).result).toBe(ESRCH);
    // CREATE and PHYSINFO do not look at `domain`.
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_PHYSINFO, 99)).result).toBe(0);
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

  it('GETINFO: nr_vcpus is what the domain holds, max_vcpus its slots', () => {
    let s = withPool(world(), 0, 0);
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 2, u32Bytes(1))).state;
    const dv = new DataView(getinfoBytes(getDomain(s, 2)).buffer);
    expect([dv.getUint32(DOMCTL_GETINFO_OFF.nr_vcpus, true), dv.getUint32(DOMCTL_GETINFO_OFF.max_vcpus, true), dv.getUint32(DOMCTL_GETINFO_OFF.pad, true)]).toEqual([1, 2, 0]);
  });

  it('SET_VCPUS: 1..slots (EINVAL), ENOMEM beyond the pool, EBUSY below the calling vCPU; lowering takes vCPUs down and fills the pool', () => {
    let s = world();
    const mem = memoryOf(new Uint8Array(MEM));
    for (const n of [0, 3, 0xffffffff]) expect(ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 2, u32Bytes(n))).result).toBe(EINVAL);
    // Domain 2 brings vCPU 1 up, arms its timer; lowering it to 1 takes it down.
    s = step(s, { dom: 2, vcpu: 0 }, Hc.vcpu_up, [1, 0, 0x4000, 0], mem).state;
    expect(getDomain(s, 2).vcpus[1]!.up).toBe(true);
    const port = step(s, { dom: 2, vcpu: 0 }, Hc.evtchn_bind_virq, [VIRQ_CONTROL, 0], mem);
    s = port.state;
    const low = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 2, u32Bytes(1)));
    expect(low.result).toBe(0);
    s = low.state;
    expect([getDomain(s, 2).vcpusHeld, getDomain(s, 2).vcpus[1]!.up, s.freeVcpus, getDomain(s, 2).pending[port.result]]).toEqual([1, false, 1, true]);
    // vcpu_up refuses a vCPU it does not hold.
    expect(step(s, { dom: 2, vcpu: 0 }, Hc.vcpu_up, [1, 0, 0x4000, 0], mem).result).toBe(EINVAL);
    // The same count again: nothing changes, no event.
    expect(ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 2, u32Bytes(1))).state).toBe(s);
    // Lowering domain 3 too puts a second vCPU in the pool; raising takes them back.
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 3, u32Bytes(1))).state;
    expect(s.freeVcpus).toBe(2);
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 3, u32Bytes(2))).state;
    expect(s.freeVcpus).toBe(1);
    // With an empty pool, raising domain 2 again is ENOMEM and changes nothing.
    s = withPool(s, s.freeFrames, 0);
    const no = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 2, u32Bytes(2)));
    expect([no.result, no.state]).toEqual([ENOMEM, s]);
    // Domain 1 from its vCPU 1 cannot lower itself to 1.
    s = step(s, { dom: 1, vcpu: 0 }, Hc.vcpu_up, [1, 0, 0x4000, 0], mem).state;
    const img = new Uint8Array(MEM);
    img.set(encodeDomctlOp(DOMCTL_SET_VCPUS, DOMID_SELF, u32Bytes(1)), OP);
    expect(step(s, { dom: 1, vcpu: 1 }, Hc.domctl, [OP], memoryOf(img)).result).toBe(EBUSY);
    expect(step(s, { dom: 1, vcpu: 0 }, Hc.domctl, [OP], memoryOf(img)).result).toBe(0);
    expect(invariants(s)).toEqual([]);
  });

  it('PHYSINFO writes the accounts: what the domains hold plus the pools', () => {
    let s = world();
    const mem = memoryOf(new Uint8Array(MEM));
    s = step(s, { dom: 2, vcpu: 0 }, Hc.decrease_reservation, [2, 3], mem).state;
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_SET_VCPUS, 3, u32Bytes(1))).state;
    const r = ctl(s, 1, encodeDomctlOp(DOMCTL_PHYSINFO, 0));
    const pl = OP + DOMCTL_OP_OFF.payload;
    expect(r.writes).toEqual([
      { addr: pl, bytes: u32Bytes(3 * MEM / 4096) },
      { addr: pl + 4, bytes: u32Bytes(3) },
      { addr: pl + 8, bytes: u32Bytes(6) },
      { addr: pl + 12, bytes: u32Bytes(1) },
    ]);
    expect(physinfo(s)).toEqual({ totalFrames: 48, freeFrames: 3, totalVcpus: 6, freeVcpus: 1 });
  });

  describe('CREATE', () => {
    const IMG = 0x2000;
    const NAME = 0x2100;
    /** A create op for `memBytes` / `vcpus`, with the image and name in the caller's memory. */
    function create(s: ModelState, o: { mem?: number; maxMem?: number; vcpus?: number; flags?: number; name?: string; image?: Uint8Array; imageAt?: number; cmdLen?: number } = {}) {
      const img = new Uint8Array(MEM);
      const name = new TextEncoder().encode(o.name ?? '');
      img.set(o.image ?? FAKE_GUEST_IMAGE, IMG);
      img.set(name, NAME);
      const p = encodeDomctlCreate({
        image: o.imageAt ?? IMG, imageLen: (o.image ?? FAKE_GUEST_IMAGE).length, memBytes: o.mem ?? 128 * 1024, nrVcpus: o.vcpus ?? 1,
        flags: o.flags ?? 0, cmdlineLen: o.cmdLen ?? 0, name: NAME, nameLen: name.length, maxMem: o.maxMem ?? 0,
      });
      img.set(encodeDomctlOp(DOMCTL_CREATE, 0, p), OP);
      return step(s, { dom: 1, vcpu: 0 }, Hc.domctl, [OP], memoryOf(img));
    }

    it('checks in the spec order, then the loader: EOPNOTSUPP without one, EINVAL for an image it cannot run', () => {
      const s = withPool(world(), 64, 2);
      expect(create(s, { flags: 2 }).result).toBe(EINVAL);
      expect(create(s, { vcpus: 0 }).result).toBe(EINVAL);
      expect(create(s, { vcpus: 33 }).result).toBe(EINVAL);
      for (const mem of [0, 4096, 2 ** 32 + 65536]) expect(create(s, { mem }).result).toBe(EINVAL);
      for (const maxMem of [65536, 128 * 1024 + 4096, 2 ** 32 + 65536]) expect(create(s, { maxMem }).result).toBe(EINVAL);
      expect(create(s, { cmdLen: 10_000 }).result).toBe(EINVAL);
      expect(create(s, { name: 'sixteen-letters!' }).result).toBe(EINVAL);
      expect(create(s, { imageAt: MEM - 4 }).result).toBe(EFAULT);
      expect(create(s, { name: 'a b' }).result).toBe(EINVAL);
      expect(create(s, { name: 'd2' }).result).toBe(EEXIST);
      expect(create(withPool(world(), 31, 2)).result).toBe(ENOMEM);
      expect(create(withPool(world(), 64, 0)).result).toBe(ENOMEM);
      expect(create(s).result).toBe(EOPNOTSUPP);
      const l = { ...s, loader: FAKE_LOADER };
      expect(create(l, { image: FAKE_GUEST_IMAGE.map((b, i) => (i === 9 ? 0 : b)) }).result).toBe(EINVAL);
      // 64 KiB leaves no room above the reserved area.
      expect(create(l, { mem: 64 * 1024 }).result).toBe(EINVAL);
    });

    it('makes a paused domain from the pools, writes its id, and destroy gives everything back', () => {
      let s: ModelState = { ...withPool(world(), 64, 2), loader: FAKE_LOADER };
      const r = create(s, { vcpus: 2, flags: SIF_PRIVILEGED, maxMem: 256 * 1024 });
      expect(r.result).toBe(0);
      expect(r.writes).toEqual([{ addr: OP + DOMCTL_OP_OFF.payload + DOMCTL_CREATE_OFF.domid, bytes: u32Bytes(4) }]);
      s = r.state;
      const d = getDomain(s, 4);
      expect([d.name, d.memSize, d.maxMem, d.memTarget, d.nrVcpus, d.vcpusHeld, d.paused, d.privileged, d.vcpus.map((v) => v.up)]).toEqual(['dom4', 128 * 1024, 256 * 1024, 128 * 1024, 2, 2, true, true, [true, false]]);
      expect([s.freeFrames, s.freeVcpus]).toEqual([32, 0]);
      expect(create(s, { name: 'dom4' }).result).toBe(EEXIST);
      s = ctl(s, 1, encodeDomctlOp(DOMCTL_DESTROY, 4)).state;
      expect([s.freeFrames, s.freeVcpus, s.domains.map((x) => x.id)]).toEqual([64, 2, [1, 2, 3]]);
      // Ids are never given again.
      expect(getDomain(create(s, { name: 'vm' }).state, 5).name).toBe('vm');
      expect(invariants(s)).toEqual([]);
    });
  });

  describe('ATTACH_DEVICE / DETACH_DEVICE', () => {
    /** Domain 1 with devices blk0 and net0 (ports 1, 2), domain 2 with con0 (port 1), domain 3 with none. */
    function devWorld(): ModelState {
      return initialState([1, 2, 3].map((id) => ({
        id, memSize: MEM, nrVcpus: 2, privileged: id === 1,
        devices: id === 1 ? [{ name: 'blk0', type: 2 }, { name: 'net0', type: 1 }] : id === 2 ? [{ name: 'con0', type: 3 }] : [],
      })));
    }
    const dev = (i: number) => u32Bytes(i, 0xdead);

    it('moves a device, leaves DEVICE_NONE behind, reuses it, bumps both generations and raises VIRQ_CONTROL on both', () => {
      let s = devWorld();
      const mem = memoryOf(new Uint8Array(MEM));
      s = step(s, { dom: 3, vcpu: 0 }, Hc.evtchn_bind_virq, [VIRQ_CONTROL, 0], mem).state;
      const a = ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 3, dev(0)));
      expect(a.result).toBe(0);
      expect(a.writes).toEqual([{ addr: OP + DOMCTL_OP_OFF.payload + DOMCTL_DEVICE_OFF.new_index, bytes: u32Bytes(0) }]);
      s = a.state;
      expect(getDomain(s, 1).devices).toEqual([null, { name: 'net0', type: 1, port: 2 }]);
      expect(getDomain(s, 1).ports[1]).toEqual({ state: 'closed' });
      // Port 1 of domain 3 is its VIRQ_CONTROL: the device gets port 2.
      expect(getDomain(s, 3).devices).toEqual([{ name: 'blk0', type: 2, port: 2, givenBy: 1 }]);
      expect(getDomain(s, 3).ports[2]).toEqual({ state: 'device', vcpu: 0 });
      expect([getDomain(s, 1).devicesGeneration, getDomain(s, 3).devicesGeneration, getDomain(s, 3).pending[1]]).toEqual([1, 1, true]);
      // DETACH from 2: con0 lands in domain 1's DEVICE_NONE entry 0.
      const d = ctl(s, 1, encodeDomctlOp(DOMCTL_DETACH_DEVICE, 2, dev(0)));
      expect(d.writes?.[0]?.bytes).toEqual(u32Bytes(0));
      s = d.state;
      expect(getDomain(s, 1).devices[0]).toEqual({ name: 'con0', type: 3, port: 1 });
      expect(getDomain(s, 2).devices).toEqual([null]);
      expect(invariants(s)).toEqual([]);
    });

    it('EINVAL: the caller, DEVICE_NONE, past the end, ATTACH to an ended domain; DETACH from an ended one works', () => {
      let s = devWorld();
      const mem = memoryOf(new Uint8Array(MEM));
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, DOMID_SELF, dev(0))).result).toBe(EINVAL);
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_DETACH_DEVICE, 1, dev(0))).result).toBe(EINVAL);
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 2, dev(2))).result).toBe(EINVAL);
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_DETACH_DEVICE, 3, dev(0))).result).toBe(EINVAL);
      s = ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 2, dev(0))).state;
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 3, dev(0))).result).toBe(EINVAL);
      s = step(s, { dom: 2, vcpu: 0 }, Hc.sched_shutdown, [SHUTDOWN_POWEROFF, 0], mem).state;
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 2, dev(1))).result).toBe(EINVAL);
      expect(ctl(s, 1, encodeDomctlOp(DOMCTL_DETACH_DEVICE, 2, dev(1))).result).toBe(0);
    });

    it('ENOSPC when the receiving manifest is full', () => {
      const s = devWorld();
      const full = { ...s, domains: s.domains.map((d) => (d.id === 3 ? { ...d, devices: Array.from({ length: MAX_DEVICES }, (_, i) => ({ name: `x${i}`, type: 2, port: 100 + i })) } : d)) };
      expect(ctl(full, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 3, dev(0))).result).toBe(ENOSPC);
    });

    it('destroy sends the devices a domain was given back to the giver', () => {
      let s = devWorld();
      s = ctl(s, 1, encodeDomctlOp(DOMCTL_ATTACH_DEVICE, 3, dev(1))).state;
      s = ctl(s, 1, encodeDomctlOp(DOMCTL_DESTROY, 3)).state;
      expect(getDomain(s, 1).devices).toEqual([{ name: 'blk0', type: 2, port: 1 }, { name: 'net0', type: 1, port: 2 }]);
      expect(getDomain(s, 1).devicesGeneration).toBe(2);
    });
  });

  it('VIRQ_DOM_EXC: on the controlling domains that have not ended, at shutdown and destroy, never on the domain itself', () => {
    let s = initialState([1, 2, 3].map((id) => ({ id, memSize: MEM, nrVcpus: 2, privileged: id !== 3 })));
    const mem = memoryOf(new Uint8Array(MEM));
    s = step(s, { dom: 1, vcpu: 0 }, Hc.evtchn_bind_virq, [VIRQ_DOM_EXC, 1], mem).state;
    s = step(s, { dom: 2, vcpu: 0 }, Hc.evtchn_bind_virq, [VIRQ_DOM_EXC, 0], mem).state;
    const down = step(s, { dom: 2, vcpu: 0 }, Hc.sched_shutdown, [SHUTDOWN_POWEROFF, 0], mem);
    s = down.state;
    expect([getDomain(s, 1).pending[1], getDomain(s, 2).pending[1]]).toEqual([true, false]);
    // Domain 1 clears it; destroying 3 raises it again on 1 (not on 2, which has ended).
    s = { ...s, domains: s.domains.map((d) => (d.id === 1 ? { ...d, pending: d.pending.map(() => false) } : d)) };
    s = ctl(s, 1, encodeDomctlOp(DOMCTL_DESTROY, 3)).state;
    expect([getDomain(s, 1).pending[1], getDomain(s, 2).pending[1]]).toEqual([true, false]);
  });
});

/** `s` with the free pools set (as if frames and vCPUs had been handed back). */
function withPool(s: ModelState, frames: number, vcpus: number): ModelState {
  return { ...s, freeFrames: frames, freeVcpus: vcpus };
}
