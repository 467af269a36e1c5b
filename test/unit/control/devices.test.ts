/**
 * The device manifest (ABI 1.1): what System.attachDevice puts in start_info and the
 * `device_info` array, read back both by the host and by a WAT guest through its own loads, and
 * the refusals (too late, too big, too many, bad name).
 */
import { describe, expect, it } from 'vitest';
import {
  ABI_VERSION, DEVICE_INFO_OFF, DEVICE_INFO_SIZE, EVTCHNSTAT_DEVICE, MAX_DEVICES, MMIO_DEVICE_BASE, MMIO_WINDOW_SIZE,
  START_INFO_OFF, START_INFO_SIZE, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE, VIRTIO_ID_NET,
} from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import { DEVICES_OFFSET, Hypervisor } from '../../../src/hv/index.ts';
import type { Domain } from '../../../src/hv/index.ts';
import { wat } from '../../support/wat.ts';

/** A device with `size` bytes of registers that answer 0. */
function dev(name: string, type: number, size = 0x200) {
  return { name, type, size, read32: () => 0, write32: () => {} };
}

const GUEST = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param i32)))`);

async function system(): Promise<{ sys: System; d: Domain }> {
  const sys = new System({ seed: 1, console: () => {}, log: () => {} });
  const d = await sys.addDomain({ name: 'g', image: GUEST, memBytes: 1 << 20, vcpus: 1, cmdline: 'x'.repeat(1024) });
  return { sys, d };
}

/** The manifest as the bytes in guest memory say. */
function readManifest(d: Domain) {
  const m = d.mem;
  const si = d.layout.startInfo;
  const n = m.u32((si + START_INFO_OFF.nr_devices) as GuestAddr);
  const at = m.u32((si + START_INFO_OFF.devices) as GuestAddr);
  const entries = [];
  for (let i = 0; i < n; i++) {
    const e = at + i * DEVICE_INFO_SIZE;
    const nameBytes = m.u8.slice(e + DEVICE_INFO_OFF.name, e + DEVICE_INFO_OFF.name + 16);
    entries.push({
      nameBytes: [...nameBytes],
      name: Buffer.from(nameBytes).toString('utf8').replace(/\0+$/, ''),
      type: m.u32((e + DEVICE_INFO_OFF.type) as GuestAddr),
      mmioBase: m.u32((e + DEVICE_INFO_OFF.mmio_base) as GuestAddr),
      mmioSize: m.u32((e + DEVICE_INFO_OFF.mmio_size) as GuestAddr),
      evtchn: m.u32((e + DEVICE_INFO_OFF.evtchn) as GuestAddr),
    });
  }
  return { size: m.u32((si + START_INFO_OFF.size) as GuestAddr), version: m.u32((si + START_INFO_OFF.abi_version) as GuestAddr), n, at, entries };
}

describe('device manifest', () => {
  it('a new domain has an empty manifest at a fixed place in the start_info page', () => {
    const hv = new Hypervisor({ log: () => {} });
    const d = hv.createDomain({ name: 'a', memBytes: 256 * 1024, vcpus: 1 });
    const m = readManifest(d);
    expect(m).toMatchObject({ size: START_INFO_SIZE, version: ABI_VERSION, n: 0, at: d.layout.startInfo + DEVICES_OFFSET, entries: [] });
    expect(START_INFO_SIZE).toBe(88);
    // Past the longest command line, inside the page, inside the reserved area.
    expect(m.at).toBeGreaterThanOrEqual(d.layout.cmdline + 1025);
    expect(m.at + MAX_DEVICES * DEVICE_INFO_SIZE).toBeLessThanOrEqual(d.layout.startInfo + 4096);
    expect(m.at).toBeGreaterThanOrEqual(d.layout.reservedBase);
  });

  it('attachDevice fills windows, ports and entries in order', async () => {
    const { sys, d } = await system();
    const a = sys.attachDevice(d, dev('console0', VIRTIO_ID_CONSOLE, 0x100));
    const b = sys.attachDevice(d, dev('vda', VIRTIO_ID_BLOCK, MMIO_WINDOW_SIZE));
    const c = sys.attachDevice(d, dev('eth0', VIRTIO_ID_NET));
    expect([a, b, c]).toEqual([
      { base: MMIO_DEVICE_BASE, port: 1 },
      { base: MMIO_DEVICE_BASE + 0x1000, port: 2 },
      { base: MMIO_DEVICE_BASE + 0x2000, port: 3 },
    ]);
    const m = readManifest(d);
    expect(m.n).toBe(3);
    expect(m.entries.map(({ nameBytes: _n, ...e }) => e)).toEqual([
      { name: 'console0', type: 3, mmioBase: 0xfe000000, mmioSize: 0x100, evtchn: 1 },
      { name: 'vda', type: 2, mmioBase: 0xfe001000, mmioSize: 0x1000, evtchn: 2 },
      { name: 'eth0', type: 1, mmioBase: 0xfe002000, mmioSize: 0x200, evtchn: 3 },
    ]);
    expect(m.entries[1]!.nameBytes).toEqual([0x76, 0x64, 0x61, ...new Array<number>(13).fill(0)]);
    for (const p of [1, 2, 3]) expect(d.port(p)).toMatchObject({ state: EVTCHNSTAT_DEVICE, vcpu: 0 });
    // The command line, right below the manifest, is intact.
    expect(d.mem.u8[d.layout.cmdline + 1023]).toBe(0x78);
    expect(d.mem.u8[d.layout.cmdline + 1024]).toBe(0);
  });

  it('hands the device an interrupt callback that raises its port', async () => {
    const { sys, d } = await system();
    let raise: (() => void) | undefined;
    const at = sys.attachDevice(d, { ...dev('vda', VIRTIO_ID_BLOCK), setInterrupt: (r: () => void) => (raise = r) });
    expect(raise).toBeTypeOf('function');
    raise!();
    expect((d.mem.i32[d.pendingIdx]! >>> at.port) & 1).toBe(1);
  });

  it('is what the guest reads through start_info', async () => {
    // The guest copies start_info.size, nr_devices and every field of entry 1 to the device of
    // entry 0, so the test sees the manifest through the guest's own loads.
    const B = MMIO_DEVICE_BASE;
    const image = wat(`(module
      (import "env" "memory" (memory 2 256 shared))
      (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
      (import "hw" "mmio_write32" (func $wr (param i32 i32)))
      (func (export "_start") (param $si i32) (local $e i32)
        (call $wr (i32.const ${B}) (i32.load offset=8 (local.get $si)))
        (call $wr (i32.const ${B + 4}) (i32.load offset=48 (local.get $si)))
        (local.set $e (i32.add (i32.load offset=52 (local.get $si)) (i32.const ${DEVICE_INFO_SIZE})))
        (call $wr (i32.const ${B + 8}) (i32.load offset=0 (local.get $e)))
        (call $wr (i32.const ${B + 12}) (i32.load offset=12 (local.get $e)))
        (call $wr (i32.const ${B + 16}) (i32.load offset=16 (local.get $e)))
        (call $wr (i32.const ${B + 20}) (i32.load offset=20 (local.get $e)))
        (call $wr (i32.const ${B + 24}) (i32.load offset=24 (local.get $e)))
        (call $wr (i32.const ${B + 28}) (i32.load offset=28 (local.get $e)))))`);
    const sys = new System({ seed: 1, console: () => {}, log: () => {} });
    const d = await sys.addDomain({ name: 'g', image, memBytes: 1 << 20, vcpus: 1, cmdline: '' });
    const regs = new Map<number, number>();
    sys.attachDevice(d, { ...dev('console0', VIRTIO_ID_CONSOLE), write32: (o: number, v: number) => void regs.set(o, v) });
    sys.attachDevice(d, dev('vda', VIRTIO_ID_BLOCK, 0x1000));
    const report = await sys.run();
    expect(report.ok).toBe(true);
    expect(Object.fromEntries(regs)).toEqual({
      0: 88, // start_info.size (ABI 1.5)
      4: 2, // nr_devices
      8: 0x616476, // "vda\0" little-endian
      12: 0, // name[12..16]: NUL padding
      16: VIRTIO_ID_BLOCK,
      20: MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE,
      24: 0x1000,
      28: 2,
    });
  });

  it('refuses devices after run(), oversized windows, bad names and a full manifest, leaving nothing behind', async () => {
    const { sys, d } = await system();
    expect(() => sys.attachDevice(d, dev('big', VIRTIO_ID_BLOCK, MMIO_WINDOW_SIZE + 4))).toThrow(/4\.\.4096/);
    expect(() => sys.attachDevice(d, dev('a-very-long-name', VIRTIO_ID_BLOCK))).toThrow(/1 to 15 bytes/);
    expect(() => sys.attachDevice(d, dev('', VIRTIO_ID_BLOCK))).toThrow(/1 to 15 bytes/);
    expect(d.nrDevices).toBe(0);
    expect(d.port(1)).toBeUndefined();
    for (let i = 0; i < MAX_DEVICES; i++) sys.attachDevice(d, dev(`d${i}`, VIRTIO_ID_BLOCK));
    expect(() => sys.attachDevice(d, dev('one-more', VIRTIO_ID_BLOCK))).toThrow(/at most 16 devices/);
    expect(readManifest(d).n).toBe(MAX_DEVICES);
    expect(d.port(MAX_DEVICES + 1)).toBeUndefined();
    await sys.run();
    expect(() => sys.attachDevice(d, dev('late', VIRTIO_ID_BLOCK))).toThrow(/before run\(\)/);
  });

  it('Hypervisor.addDeviceToManifest checks its entry', () => {
    const hv = new Hypervisor({ log: () => {} });
    const d = hv.createDomain({ name: 'a', memBytes: 256 * 1024, vcpus: 1 });
    const ok = { name: 'x', type: 1, mmioBase: MMIO_DEVICE_BASE, mmioSize: 0x100, evtchn: 1 };
    expect(() => hv.addDeviceToManifest(d, { ...ok, mmioSize: 0 })).toThrow(RangeError);
    expect(() => hv.addDeviceToManifest(d, { ...ok, type: -1 })).toThrow(/not a u32/);
    expect(hv.addDeviceToManifest(d, ok)).toBe(0);
    expect(hv.addDeviceToManifest(d, { ...ok, name: 'é'.repeat(7) })).toBe(1); // 14 bytes
    expect(readManifest(d).entries[1]!.name).toBe('é'.repeat(7));
  });
});
