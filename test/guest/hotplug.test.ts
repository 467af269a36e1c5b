/**
 * Device hotplug end to end (issue 6): a memory-backed virtio-blk moved into a running worker
 * (guest-kit/examples/worker) and out again, once through System.moveDevice (the host toolstack
 * acting as the controlling domain) and once by the dom0 example under `pvisor boot` (its
 * `disk=CLIENT` step, DOMCTL_ATTACH_DEVICE / DOMCTL_DETACH_DEVICE). This exercises the guest kit's
 * manifest snapshot and on_device_added / on_device_removed callbacks (control.c), the virtio-blk
 * driver re-initialised on a device the host reset and rebound, and the host's manifests.
 *
 * The worker's "added" line carries the CRC-32 of sector 0 it read from the device; the test
 * recomputes it here from the disk bytes (its own bitwise CRC, not the kit's or the host's).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEVICE_INFO_OFF, DEVICE_INFO_SIZE, DEVICE_NONE, SHUTDOWN_POWEROFF, START_INFO_OFF, VIRTIO_ID_BLOCK } from '../../src/abi/index.ts';
import type { GuestAddr } from '../../src/abi/index.ts';
import { System } from '../../src/control/system.ts';
import type { RunReport } from '../../src/control/types.ts';
import type { Domain } from '../../src/hv/domain.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { example } from './run.ts';

const MIB = 1024 * 1024;
const SECTOR = 512;
/** 128 sectors: more than the 8 the worker reads. */
const DISK_BYTES = 64 * 1024;

/** A disk whose every sector differs (so a read of the wrong sector shows in the CRC). */
function diskBytes(): Uint8Array {
  const b = new Uint8Array(DISK_BYTES);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + 3 + (i >> 9) * 13) & 0xff;
  return b;
}

/** CRC-32 (IEEE 802.3, reflected, zlib's), bit by bit. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of bytes) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/** Entry `i` of `d`'s manifest as the guest reads it from its start_info area. */
function entry(d: Domain, i: number): { name: string; type: number } {
  const e = d.layout.devices + i * DEVICE_INFO_SIZE;
  const raw = d.mem.copyOut((e + DEVICE_INFO_OFF.name) as GuestAddr, 16);
  const name = new TextDecoder().decode(raw.subarray(0, raw.indexOf(0) < 0 ? 16 : raw.indexOf(0)));
  return { name, type: d.mem.u32((e + DEVICE_INFO_OFF.type) as GuestAddr) };
}

/** What the guest sees of its manifest: nr_devices, devices_generation and every entry. */
function manifest(d: Domain): { nr: number; generation: number; entries: { name: string; type: number }[] } {
  const si = d.layout.startInfo;
  const nr = d.mem.u32((si + START_INFO_OFF.nr_devices) as GuestAddr);
  return {
    nr,
    generation: d.mem.u32((si + START_INFO_OFF.devices_generation) as GuestAddr),
    entries: Array.from({ length: nr }, (_, i) => entry(d, i)),
  };
}

/** The worker's "added" line for the test disk in domain `name`. */
const addedLine = (name: string): string =>
  `worker ${name}: disk hot added at entry 0: ${DISK_BYTES / SECTOR} sectors, crc32 ${hex8(crc32(diskBytes().subarray(0, SECTOR)))} of sector 0`;

/** Two workers and the disk, as {@link runPair} sets them up. */
interface Pair {
  sys: System;
  /** The worker the disk is moved into (no device at boot). */
  w: Domain;
  /** The holder: a worker that boots with the disk as its entry 0. */
  h: Domain;
}

/**
 * Runs worker `w` (no device) beside worker `h`, which boots holding the test disk (`hot`, its
 * entry 0). `react` sees each complete console line of either (inside the guest's console
 * hypercall, as a control request from outside would arrive) and may move the device; a failed
 * expectation inside it is rethrown after the run. Returns each domain's lines and the report.
 */
async function runPair(react: (dom: string, line: string, p: Pair) => void): Promise<Pair & { lines: Record<string, string[]>; report: RunReport }> {
  const lines: Record<string, string[]> = { w: [], h: [] };
  const partial: Record<string, string> = { w: '', h: '' };
  let failure: unknown;
  let pair: Pair | undefined;
  const sys = new System({
    seed: 1,
    log: () => {},
    // A worker runs until asked to stop: a reaction that never comes must not hang the test.
    maxTimeNs: 10_000_000_000,
    console: (dom, text) => {
      partial[dom] += text;
      for (let nl = partial[dom]!.indexOf('\n'); nl >= 0; nl = partial[dom]!.indexOf('\n')) {
        const line = partial[dom]!.slice(0, nl);
        partial[dom] = partial[dom]!.slice(nl + 1);
        lines[dom]!.push(line);
        if (failure !== undefined || pair === undefined) continue;
        try {
          react(dom, line, pair);
        } catch (e) {
          failure = e;
        }
      }
    },
  });
  // `h` is a worker too: it does nothing with a disk it booted with, and takes it up when it
  // comes back as a new device.
  const w = await sys.addDomain({ name: 'w', image: example('worker'), memBytes: 4 * MIB, vcpus: 1, cmdline: 'name=w load=1 report=5' });
  const h = await sys.addDomain({ name: 'h', image: example('worker'), memBytes: 4 * MIB, vcpus: 1, cmdline: 'name=h load=1 report=0' });
  const blk = new VirtioBlk({ image: new MemoryDiskImage(diskBytes()), id: 'hot' });
  sys.attachDevice(h, new VirtioMmioDevice({ name: 'hot', backend: blk, mem: h.mem, log: () => {} }));
  expect(manifest(h)).toEqual({ nr: 1, generation: 0, entries: [{ name: 'hot', type: VIRTIO_ID_BLOCK }] });
  pair = { sys, w, h };
  const report = await sys.run();
  if (failure !== undefined) throw failure;
  return { ...pair, lines, report };
}

describe('device hotplug through System.moveDevice: a virtio-blk moved into a running worker and back', () => {
  it('the worker initialises the disk it was given, reads it, lets go of it when it is taken; the holder gets it back', async () => {
    const seen: Record<string, ReturnType<typeof manifest>> = {};
    const moves: number[] = [];
    const { w, h, lines, report } = await runPair((dom, line, { sys, w, h }) => {
      // After w's control dispatcher is up (its first progress line): the disk moves in.
      if (dom === 'w' && line === 'worker w: tick 5, 5 units') {
        moves.push(sys.moveDevice(h, 0, w));
        seen.in = manifest(w);
        seen.out = manifest(h);
        expect(w.devices[0]?.givenBy).toBe(h);
      } else if (dom === 'w' && line === addedLine('w')) {
        // It used it: take it back to the holder (a detach: the holder is its giver).
        moves.push(sys.moveDevice(w, 0, h));
        seen.w2 = manifest(w);
        seen.h2 = manifest(h);
        expect(h.devices[0]?.givenBy).toBeUndefined();
      } else if (dom === 'h' && line === addedLine('h')) {
        sys.requestShutdown(w, SHUTDOWN_POWEROFF);
        sys.requestShutdown(h, SHUTDOWN_POWEROFF);
      }
    });

    expect(moves).toEqual([0, 0]);
    // The holder's entry became DEVICE_NONE (the manifest keeps its length); both generations moved.
    expect(seen.out).toEqual({ nr: 1, generation: 1, entries: [{ name: '', type: DEVICE_NONE }] });
    expect(seen.in).toEqual({ nr: 1, generation: 1, entries: [{ name: 'hot', type: VIRTIO_ID_BLOCK }] });
    // Back: w's entry is DEVICE_NONE, h's DEVICE_NONE entry was reused.
    expect(seen.w2).toEqual({ nr: 1, generation: 2, entries: [{ name: '', type: DEVICE_NONE }] });
    expect(seen.h2).toEqual({ nr: 1, generation: 2, entries: [{ name: 'hot', type: VIRTIO_ID_BLOCK }] });

    expect(lines.w!.filter((l) => !l.includes(': tick '))).toEqual([
      'worker w: up, holds 4194304 bytes, 1 vcpus, load 1',
      'worker w: devices generation 1',
      addedLine('w'),
      'worker w: disk removed from entry 0',
      'worker w: devices generation 2',
      'worker w: shutdown requested (poweroff)',
    ]);
    // The holder booted with the disk (not reported), saw it go (it had not used it: no line) and
    // come back as a new device, which it then initialised and read like w did.
    expect(lines.h).toEqual([
      'worker h: up, holds 4194304 bytes, 1 vcpus, load 1',
      'worker h: devices generation 1',
      'worker h: devices generation 2',
      addedLine('h'),
      'worker h: shutdown requested (poweroff)',
    ]);
    // Neither touched a window where there was none (w's old one after the disk left, say).
    expect([w.mmio.strayAccesses, h.mmio.strayAccesses]).toEqual([0, 0]);
    expect(report.domains.map((d) => [d.name, d.outcome])).toEqual([
      ['w', { kind: 'poweroff', code: 0 }],
      ['h', { kind: 'poweroff', code: 0 }],
    ]);
  });

  it('a disk taken back before the worker took it up is reported removed and never initialised', async () => {
    const { w, lines, report } = await runPair((dom, line, { sys, w, h }) => {
      if (dom === 'w' && line === 'worker w: tick 5, 5 units') sys.moveDevice(h, 0, w);
      // Printed by the control upcall: w's main loop has not seen the disk yet.
      else if (dom === 'w' && line === 'worker w: devices generation 1') sys.moveDevice(w, 0, h);
      else if (dom === 'h' && line === addedLine('h')) {
        sys.requestShutdown(w, SHUTDOWN_POWEROFF);
        sys.requestShutdown(h, SHUTDOWN_POWEROFF);
      }
    });
    expect(lines.w!.filter((l) => !l.includes(': tick '))).toEqual([
      'worker w: up, holds 4194304 bytes, 1 vcpus, load 1',
      'worker w: devices generation 1',
      'worker w: disk removed from entry 0',
      'worker w: devices generation 2',
      'worker w: shutdown requested (poweroff)',
    ]);
    // h's two changes come as one event (no "generation 1" line): its entry looks as it did at
    // boot, but the generation moved twice with no difference to show for it, so the kit reports
    // the entry removed and added (control.h) and h takes the reset device up.
    expect(lines.h).toEqual(['worker h: up, holds 4194304 bytes, 1 vcpus, load 1', 'worker h: devices generation 2', addedLine('h'), 'worker h: shutdown requested (poweroff)']);
    expect(w.mmio.strayAccesses).toBe(0);
    expect(report.domains.map((d) => d.outcome)).toEqual([
      { kind: 'poweroff', code: 0 },
      { kind: 'poweroff', code: 0 },
    ]);
  });

  it('refuses a bad move with a message naming the argument, and changes nothing', async () => {
    const sys = new System({ seed: 1, log: () => {}, console: () => {} });
    const w = await sys.addDomain({ name: 'w', image: example('worker'), memBytes: 1 * MIB, vcpus: 1, cmdline: '' });
    const h = await sys.addDomain({ name: 'h', image: example('worker'), memBytes: 1 * MIB, vcpus: 1, cmdline: '' });
    sys.attachDevice(h, new VirtioMmioDevice({ name: 'hot', backend: new VirtioBlk({ image: new MemoryDiskImage(SECTOR) }), mem: h.mem, log: () => {} }));
    const before = [manifest(w), manifest(h)];
    expect(() => sys.moveDevice(h, 1, w)).toThrow(/^moveDevice: index: h has no movable device at entry 1; its movable devices are at 0 \(hot\)$/);
    expect(() => sys.moveDevice(w, 0, h)).toThrow(/^moveDevice: index: w has no movable device at entry 0; it holds no movable device$/);
    expect(() => sys.moveDevice(h, 0, h)).toThrow(/^moveDevice: from and to are both h/);
    sys.destroyDomain(w);
    expect(() => sys.moveDevice(h, 0, w)).toThrow(/^moveDevice: to: w is not a domain of this system$/);
    expect([manifest(h)]).toEqual([before[1]]);
  });
});

describe('device hotplug by the dom0 example under pvisor boot (disk=CLIENT)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvisor-hotplug-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('dom0 attaches its --disk to the worker, the worker reads it, dom0 takes it back; exit 0', () => {
    const disk = diskBytes();
    const path = join(dir, 'disk.img');
    writeFileSync(path, disk);
    const bin = fileURLToPath(new URL('../../bin/pvisor.js', import.meta.url));
    const r = spawnSync(
      process.execPath,
      [bin, 'boot', example('dom0'), '--mem', '32M', '--vcpus', '2', '--image', `worker=${example('worker')}`, '--disk', path,
        '--cmdline', 'plan=web:worker:4M:1/name=web disk=web'],
      { encoding: 'utf8' },
    );
    const interesting = r.stdout.split('\n').filter((l) => /disk|devices generation/.test(l));
    expect(interesting).toEqual([
      // Entry 0 of dom0's manifest is the boot volume; disk0 was entry 1 and comes back there.
      '[dom0] dom0: attached disk0 to web (its entry 0)',
      '[web] worker web: devices generation 1',
      `[web] worker web: disk disk0 added at entry 0: ${DISK_BYTES / SECTOR} sectors, crc32 ${hex8(crc32(disk.subarray(0, SECTOR)))} of sector 0`,
      '[dom0] dom0: detached disk0 from web (back at entry 1)',
      '[web] worker web: disk removed from entry 0',
      '[web] worker web: devices generation 2',
    ]);
    expect(r.stdout).toContain('[dom0] dom0: final accounts equal the boot accounts\n');
    expect(r.stderr).toMatch(/^pvisor: 2 domains powered off cleanly; /m);
    expect(r.status).toBe(0);
  });

  it('disk=CLIENT without a --disk is a bad command line (dom0 exits 2) naming the fix', () => {
    const bin = fileURLToPath(new URL('../../bin/pvisor.js', import.meta.url));
    const r = spawnSync(
      process.execPath,
      [bin, 'boot', example('dom0'), '--mem', '32M', '--vcpus', '2', '--image', `worker=${example('worker')}`, '--cmdline', 'plan=web:worker:4M:1 disk=web'],
      { encoding: 'utf8' },
    );
    expect(r.stdout).toContain('dom0: bad command line: disk=: dom0 has no device disk0; give pvisor boot a disk, e.g. --disk disk.img,size=1M\n');
    expect(r.stderr).toMatch(/^pvisor: domain dom0 \(1\): powered off, code 2$/m);
    // pvisor boot's status: 1 when dom0 did not power off with code 0 (docs/cli.md).
    expect(r.status).toBe(1);
  });
});
