/**
 * The partitioning commands of `domctl` (ABI 1.5) in the core: DOMCTL_CREATE through the
 * toolstack's image loader (a fake one here: the core knows nothing of Wasm), DOMCTL_SET_VCPUS
 * and the free vCPU pool, DOMCTL_ATTACH_DEVICE / DOMCTL_DETACH_DEVICE moving a device between
 * manifests, DOMCTL_PHYSINFO, and VIRQ_DOM_EXC. The accounts (frames and vCPUs of all domains
 * plus the pools) must never change under any of them.
 */
import { describe, expect, it } from 'vitest';
import {
  DEVICE_INFO_OFF, DEVICE_INFO_SIZE, DEVICE_NONE, DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE, DOMCTL_CREATE_OFF,
  DOMCTL_DESTROY, DOMCTL_DETACH_DEVICE, DOMCTL_DEVICE_OFF, DOMCTL_GETINFO, DOMCTL_GETINFO_OFF, DOMCTL_OP_OFF, DOMCTL_PHYSINFO,
  DOMCTL_PHYSINFO_OFF, DOMCTL_SET_VCPUS, DOMCTL_UNPAUSE, DOMID_SELF, EBUSY, EEXIST, EFAULT, EINVAL, ENOMEM, ENOSPC,
  EVTCHNSTAT_CLOSED, EVTCHNSTAT_DEVICE, GRANT_FRAME_SIZE, Hc, MAX_DEVICES, MMIO_DEVICE_BASE, MMIO_WINDOW_SIZE, SHUTDOWN_POWEROFF,
  SIF_PRIVILEGED, START_INFO_OFF, VIRQ_CONTROL, VIRQ_DOM_EXC, VIRTIO_ID_BLOCK,
} from '../../../src/abi/index.ts';
import { Hypervisor, physInfo, type Domain, type GuestMemory, type PluggableDevice } from '../../../src/hv/index.ts';
import { encodeDomctlOp } from '../../../spec/model/index.ts';
import { call, createPayload as encodeCreate, pending, type CreateFields } from '../../support/hv.ts';

const MEM = 1024 * 1024;
const OP = 0x2000;
const IMG = 0x3000;
/** The only "image" the fake loader accepts. */
const GOOD = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);

function world() {
  const log: string[] = [];
  const hv = new Hypervisor({ log: (l) => log.push(l) });
  const dom0 = hv.createDomain({ name: 'dom0', memBytes: MEM, vcpus: 4, privileged: true });
  dom0.caps = { upcall: true, vcpuEntry: true };
  // A fake toolstack: builds the domain from the request when the bytes are GOOD.
  hv.loader = (req) => {
    if (req.image.length !== GOOD.length || !req.image.every((b, i) => b === GOOD[i])) return { problems: ['not a guest image'] };
    let d: Domain;
    try {
      d = hv.createDomain(req.opts);
    } catch (e) {
      return { problems: [String(e)] };
    }
    d.caps = { upcall: true, vcpuEntry: true };
    return d;
  };
  dom0.mem.u8.set(GOOD, IMG);
  return { hv, dom0, log };
}

/** A create payload with the GOOD image at IMG unless told otherwise. */
function createPayload(o: Omit<CreateFields, 'image' | 'len'> & { image?: number; len?: number }): Uint8Array {
  return encodeCreate({ ...o, image: o.image ?? IMG, len: o.len ?? GOOD.length });
}

function ctl(hv: Hypervisor, from: Domain, cmd: number, domain: number, payload?: Uint8Array, vcpu = 0): number {
  from.mem.u8.set(encodeDomctlOp(cmd, domain, payload), OP);
  return call(hv, from.vcpus[vcpu]!, Hc.domctl, OP);
}
const pay32 = (d: Domain, off: number) => d.mem.u32((OP + DOMCTL_OP_OFF.payload + off) as never);
const si32 = (d: Domain, off: number) => d.mem.u32((d.layout.startInfo + off) as never);
const u32s = (...vs: number[]) => new Uint8Array(new Uint32Array(vs).buffer);

/** Frames and vCPUs of all domains plus the pools, recomputed here from first principles. */
function accounts(hv: Hypervisor): { frames: number; vcpus: number } {
  let frames = hv.freeFrames;
  let vcpus = hv.freeVcpus;
  for (const d of hv.domains) {
    frames += d.mem.size / GRANT_FRAME_SIZE - d.ballooned.size;
    vcpus += d.vcpusHeld;
  }
  return { frames, vcpus };
}

/** dom0 hands `frames` frames from the bottom of its memory and `vcpus` vCPUs to the pools. */
function fund(hv: Hypervisor, dom0: Domain, frames: number, keepVcpus: number): void {
  expect(call(hv, dom0.vcpus[0]!, Hc.decrease_reservation, 16, frames)).toBe(0);
  expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, DOMID_SELF, u32s(keepVcpus, 0))).toBe(0);
  dom0.mem.u8.set(GOOD, IMG);
}

/** A device that records what the core does to it. */
function fakeDevice(name: string): PluggableDevice & { mems: GuestMemory[]; raise: (() => void) | undefined } {
  const dev = {
    name, type: VIRTIO_ID_BLOCK, size: MMIO_WINDOW_SIZE, mems: [] as GuestMemory[], raise: undefined as (() => void) | undefined,
    read32: (off: number) => (off === 0 ? 0x74726976 : 0),
    write32: () => {},
    setInterrupt(r: () => void) { dev.raise = r; },
    rebind(m: GuestMemory) { dev.mems.push(m); },
  };
  return dev;
}

describe('DOMCTL_CREATE (seed-free: fixed cases)', () => {
  it('takes memory and vCPUs from the pools, starts paused, names and describes the domain; accounts unchanged', () => {
    const { hv, dom0 } = world();
    const before = accounts(hv);
    expect(before).toEqual({ frames: MEM / GRANT_FRAME_SIZE, vcpus: 4 });
    fund(hv, dom0, 32, 2);
    expect([hv.freeFrames, hv.freeVcpus]).toEqual([32, 2]);
    dom0.mem.u8.set(new TextEncoder().encode('web'), 0x3100);
    dom0.mem.u8.set(new TextEncoder().encode('load=3'), 0x3200);
    expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 128 * 1024, vcpus: 2, name: [0x3100, 3], cmd: [0x3200, 6] }))).toBe(0);
    const id = pay32(dom0, DOMCTL_CREATE_OFF.domid);
    const c = hv.domain(id)!;
    expect([c.name, c.state, c.creator, c.vcpusHeld, c.privileged]).toEqual(['web', 'paused', dom0, 2, false]);
    expect(new TextDecoder().decode(c.mem.copyOut(c.layout.cmdline, 6))).toBe('load=3');
    expect([hv.freeFrames, hv.freeVcpus]).toEqual([0, 0]);
    expect(accounts(hv)).toEqual(before);
    expect(physInfo(hv)).toEqual({ totalFrames: before.frames, freeFrames: 0, totalVcpus: 4, freeVcpus: 0 });
    expect(ctl(hv, dom0, DOMCTL_UNPAUSE, id)).toBe(0);
    expect(c.state).toBe('running');
    // Unnamed: dom<id>.
    expect(ctl(hv, dom0, DOMCTL_DESTROY, id)).toBe(0);
    expect(accounts(hv)).toEqual(before);
    expect([hv.freeFrames, hv.freeVcpus]).toEqual([32, 2]);
    expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 64 * 1024 * 2, vcpus: 1, flags: SIF_PRIVILEGED }))).toBe(0);
    const c2 = hv.domain(pay32(dom0, DOMCTL_CREATE_OFF.domid))!;
    expect([c2.name, c2.privileged, c2.maxMem, c2.mem.maxBytes]).toEqual([`dom${c2.id}`, true, 2 * 65536, 2 * 65536]);
    // max_mem: the memory may grow to it later (frames from the pool then).
    expect(ctl(hv, dom0, DOMCTL_DESTROY, c2.id)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 2 * 65536, vcpus: 1, max: 8 * 65536 }))).toBe(0);
    const c3 = hv.domain(pay32(dom0, DOMCTL_CREATE_OFF.domid))!;
    expect([c3.maxMem, c3.mem.maxBytes, c3.mem.size]).toEqual([8 * 65536, 8 * 65536, 2 * 65536]);
  });

  it('checks in the spec order and changes nothing on an error', () => {
    const { hv, dom0, log } = world();
    fund(hv, dom0, 16, 3);
    const bad: [Parameters<typeof createPayload>[0], number][] = [
      [{ mem: 65536, vcpus: 1, flags: 2 }, EINVAL],
      [{ mem: 65536, vcpus: 0 }, EINVAL],
      [{ mem: 65536, vcpus: 33 }, EINVAL],
      [{ mem: 0, vcpus: 1 }, EINVAL],
      [{ mem: 2 * 65536, vcpus: 1, max: 65536 }, EINVAL], // max below mem
      [{ mem: 65536, vcpus: 1, max: 65536 + 4096 }, EINVAL], // not whole pages
      [{ mem: 4096, vcpus: 1 }, EINVAL],
      [{ mem: 65536, vcpus: 1, cmd: [0x3200, 1025] }, EINVAL],
      [{ mem: 65536, vcpus: 1, name: [0x3100, 16] }, EINVAL],
      [{ mem: 65536, vcpus: 1, image: MEM - 4 }, EFAULT],
      [{ mem: 65536, vcpus: 1, name: [MEM - 2, 3] }, EFAULT],
      [{ mem: 65536, vcpus: 1, cmd: [0xfffffff0, 0x20] }, EFAULT],
      [{ mem: 65536, vcpus: 1, cmd: [0x3500, 2] }, EINVAL], // 0xc3 0x28: not UTF-8
      [{ mem: 65536, vcpus: 1, name: [0x3300, 2] }, EINVAL], // "a b" has a space
      [{ mem: 65536, vcpus: 1, name: [0x3400, 4] }, EEXIST], // dom0
      [{ mem: 2 * 65536, vcpus: 1 }, ENOMEM], // 32 frames, the pool has 16
      [{ mem: 65536, vcpus: 2 }, ENOMEM], // the pool has 1 vCPU
      [{ mem: 65536, vcpus: 1, len: 7 }, EINVAL], // the loader refuses it
    ];
    dom0.mem.u8.set(new TextEncoder().encode('a b'), 0x3300);
    dom0.mem.u8.set([0xc3, 0x28], 0x3500);
    dom0.mem.u8.set(new TextEncoder().encode('dom0'), 0x3400);
    const before = JSON.stringify([hv.domains.map((d) => d.id), hv.freeFrames, hv.freeVcpus]);
    for (const [p, err] of bad) expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload(p)), JSON.stringify(p)).toBe(err);
    expect(JSON.stringify([hv.domains.map((d) => d.id), hv.freeFrames, hv.freeVcpus])).toBe(before);
    expect(log.some((l) => l.includes('DOMCTL_CREATE: not a guest image'))).toBe(true);
  });
});

describe('DOMCTL_SET_VCPUS', () => {
  it('moves vCPUs between a domain and the pool; lowering takes vCPUs down; VIRQ_CONTROL; vcpu_up limited to the held ones', () => {
    const { hv, dom0 } = world();
    fund(hv, dom0, 32, 2);
    expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 2 * 65536, vcpus: 2 }))).toBe(0);
    const c = hv.domain(pay32(dom0, DOMCTL_CREATE_OFF.domid))!;
    hv.unpause(c);
    const port = call(hv, c.vcpus[0]!, Hc.evtchn_bind_virq, VIRQ_CONTROL, 0);
    expect(call(hv, c.vcpus[0]!, Hc.vcpu_up, 1, 1, 0x8000, 0)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, c.id, u32s(1, 0))).toBe(0);
    expect([c.vcpusHeld, si32(c, START_INFO_OFF.vcpus_held), c.vcpus[1]!.up, hv.freeVcpus, pending(c, port)]).toEqual([1, 1, false, 1, true]);
    expect(call(hv, c.vcpus[0]!, Hc.vcpu_up, 1, 1, 0x8000, 0)).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_GETINFO, c.id)).toBe(0);
    expect([pay32(dom0, DOMCTL_GETINFO_OFF.nr_vcpus), pay32(dom0, DOMCTL_GETINFO_OFF.max_vcpus)]).toEqual([1, 2]);
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, c.id, u32s(3, 0))).toBe(EINVAL); // above its slots
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, c.id, u32s(0, 0))).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, c.id, u32s(2, 0))).toBe(0);
    expect([c.vcpusHeld, hv.freeVcpus]).toEqual([2, 0]);
    expect(call(hv, c.vcpus[0]!, Hc.vcpu_up, 1, 1, 0x8000, 0)).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, DOMID_SELF, u32s(3, 0))).toBe(ENOMEM); // pool empty
    expect(accounts(hv)).toEqual({ frames: MEM / GRANT_FRAME_SIZE, vcpus: 4 });
  });

  it('EBUSY when a domain would take away the vCPU making the call', () => {
    const { hv, dom0 } = world();
    hv.vcpuUp(dom0.vcpus[2]!, { fn: 1, stack: 0x8000, arg: 0 });
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, DOMID_SELF, u32s(2, 0), 2)).toBe(EBUSY);
    expect([dom0.vcpusHeld, hv.freeVcpus]).toEqual([4, 0]);
    expect(ctl(hv, dom0, DOMCTL_SET_VCPUS, DOMID_SELF, u32s(3, 0), 2)).toBe(0);
    expect([dom0.vcpusHeld, hv.freeVcpus, dom0.vcpus[2]!.up]).toEqual([3, 1, true]);
  });
});

describe('DOMCTL_ATTACH_DEVICE / DOMCTL_DETACH_DEVICE', () => {
  it('moves a device: reset onto the new memory, DEVICE_NONE left behind, new port, generations, VIRQ_CONTROL; destroy gives it back', () => {
    const { hv, dom0 } = world();
    const disk = fakeDevice('vdb');
    expect(hv.plugDevice(dom0, fakeDevice('boot'))).toBe(0);
    expect(hv.plugDevice(dom0, disk)).toBe(1);
    fund(hv, dom0, 32, 3);
    expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 2 * 65536, vcpus: 1 }))).toBe(0);
    const c = hv.domain(pay32(dom0, DOMCTL_CREATE_OFF.domid))!;
    const cport = call(hv, c.vcpus[0]!, Hc.evtchn_bind_virq, VIRQ_CONTROL, 0);
    const oldPort = dom0.devices[1]!.port;
    expect(ctl(hv, dom0, DOMCTL_ATTACH_DEVICE, c.id, u32s(1, 0))).toBe(0);
    expect(pay32(dom0, DOMCTL_DEVICE_OFF.new_index)).toBe(0);
    expect(disk.mems).toEqual([c.mem]);
    // dom0: entry 1 is DEVICE_NONE, the window and the port are gone.
    const e1 = dom0.layout.devices + DEVICE_INFO_SIZE;
    expect(dom0.mem.u32((e1 + DEVICE_INFO_OFF.type) as never)).toBe(DEVICE_NONE);
    expect(dom0.mem.u8.subarray(e1, e1 + DEVICE_INFO_SIZE).every((b) => b === 0)).toBe(true);
    expect(si32(dom0, START_INFO_OFF.nr_devices)).toBe(2);
    expect(dom0.mmio.read32(MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE)).toBe(0xffffffff);
    expect(dom0.ports[oldPort]?.state ?? EVTCHNSTAT_CLOSED).toBe(EVTCHNSTAT_CLOSED);
    // The client: entry 0, its window, a DEVICE port the device raises.
    const e0 = c.layout.devices;
    expect(c.mem.u32((e0 + DEVICE_INFO_OFF.type) as never)).toBe(VIRTIO_ID_BLOCK);
    expect(c.mem.u32((e0 + DEVICE_INFO_OFF.mmio_base) as never)).toBe(MMIO_DEVICE_BASE);
    const port = c.mem.u32((e0 + DEVICE_INFO_OFF.evtchn) as never);
    expect(c.ports[port]!.state).toBe(EVTCHNSTAT_DEVICE);
    expect(c.mmio.read32(MMIO_DEVICE_BASE)).toBe(0x74726976);
    disk.raise!();
    expect(pending(c, port)).toBe(true);
    expect([si32(dom0, START_INFO_OFF.devices_generation), si32(c, START_INFO_OFF.devices_generation), pending(c, cport)]).toEqual([1, 1, true]);
    // Errors: no device at that index, the caller itself, DETACH of an empty entry.
    expect(ctl(hv, dom0, DOMCTL_ATTACH_DEVICE, c.id, u32s(1, 0))).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_ATTACH_DEVICE, c.id, u32s(MAX_DEVICES, 0))).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_ATTACH_DEVICE, DOMID_SELF, u32s(0, 0))).toBe(EINVAL);
    expect(ctl(hv, dom0, DOMCTL_DETACH_DEVICE, c.id, u32s(1, 0))).toBe(EINVAL);
    // DETACH brings it back into dom0's free entry 1.
    expect(ctl(hv, dom0, DOMCTL_DETACH_DEVICE, c.id, u32s(0, 0))).toBe(0);
    expect(pay32(dom0, DOMCTL_DEVICE_OFF.new_index)).toBe(1);
    expect(disk.mems).toEqual([c.mem, dom0.mem]);
    expect(dom0.mmio.read32(MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE)).toBe(0x74726976);
    // Destroy gives a device back to the domain that gave it.
    expect(ctl(hv, dom0, DOMCTL_ATTACH_DEVICE, c.id, u32s(1, 0))).toBe(0);
    expect(ctl(hv, dom0, DOMCTL_DESTROY, c.id)).toBe(0);
    expect(dom0.devices[1]?.dev).toBe(disk);
    expect(disk.mems.at(-1)).toBe(dom0.mem);
  });

  it('ENOSPC when the receiving manifest is full; nothing moves', () => {
    const { hv, dom0 } = world();
    const dev = fakeDevice('x');
    hv.plugDevice(dom0, dev);
    fund(hv, dom0, 32, 3);
    expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 2 * 65536, vcpus: 1 }))).toBe(0);
    const c = hv.domain(pay32(dom0, DOMCTL_CREATE_OFF.domid))!;
    for (let i = 0; i < MAX_DEVICES; i++) expect(hv.plugDevice(c, fakeDevice(`f${i}`))).toBe(i);
    expect(ctl(hv, dom0, DOMCTL_ATTACH_DEVICE, c.id, u32s(0, 0))).toBe(ENOSPC);
    expect([dom0.devices[0]?.dev, dev.mems.length]).toEqual([dev, 0]);
  });
});

describe('DOMCTL_PHYSINFO and VIRQ_DOM_EXC', () => {
  it('PHYSINFO reports the pools; VIRQ_DOM_EXC reaches controlling domains when a domain shuts down, crashes or is destroyed', () => {
    const { hv, dom0 } = world();
    const exc = call(hv, dom0.vcpus[0]!, Hc.evtchn_bind_virq, VIRQ_DOM_EXC, 0);
    expect(exc).toBeGreaterThan(0);
    fund(hv, dom0, 96, 1);
    expect(ctl(hv, dom0, DOMCTL_PHYSINFO, 0)).toBe(0);
    expect([0, 4, 8, 12].map((o) => pay32(dom0, o))).toEqual([MEM / GRANT_FRAME_SIZE, 96, 4, 3]);
    expect(DOMCTL_PHYSINFO_OFF).toEqual({ total_frames: 0, free_frames: 4, total_vcpus: 8, free_vcpus: 12 });
    const made: Domain[] = [];
    for (let i = 0; i < 3; i++) {
      expect(ctl(hv, dom0, DOMCTL_CREATE, 0, createPayload({ mem: 2 * 65536, vcpus: 1 }))).toBe(0);
      made.push(hv.domain(pay32(dom0, DOMCTL_CREATE_OFF.domid))!);
    }
    expect(pending(dom0, exc)).toBe(false);
    const clear = () => { dom0.mem.i32[dom0.pendingIdx + (exc >>> 5)]! &= ~(1 << (exc & 31)); };
    hv.shutdown(made[0]!, SHUTDOWN_POWEROFF, 0);
    expect(pending(dom0, exc)).toBe(true);
    clear();
    hv.crash(made[1]!, 'test');
    expect(pending(dom0, exc)).toBe(true);
    clear();
    expect(ctl(hv, dom0, DOMCTL_DESTROY, made[0]!.id)).toBe(0);
    expect(pending(dom0, exc)).toBe(true);
    expect(accounts(hv)).toEqual({ frames: MEM / GRANT_FRAME_SIZE, vcpus: 4 });
  });
});
