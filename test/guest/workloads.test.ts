/**
 * End to end: the benchmark workloads (guest-kit/workloads), each built twice from one source —
 * `<name>-pv.wasm` over the paravirtual kit (console hypercall, virtio-blk, virtio-net, one-shot
 * timer) and `<name>-fv.wasm`, an unmodified guest over the legacy kit's drivers (16550A, ATA PIO,
 * NE2000, 8254 PIT behind the 8259A; spec `legacyPlatform`). Both variants must print the same
 * result line, and that line must match an oracle computed here from the workload's documented
 * pattern (so "the same" cannot mean "the same wrong number").
 */
import { crc32 } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { System } from '../../src/control/system.ts';
import type { RunReport } from '../../src/control/types.ts';
import type { LegacyPlatform } from '../../src/legacy/platform.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { VirtioNet } from '../../src/virtio/net.ts';
import { VirtualSwitch, localMac } from '../../src/virtio/switch.ts';

const MiB = 1 << 20;
const SECTOR = 512;

type Variant = 'pv' | 'fv';
const VARIANTS: readonly Variant[] = ['pv', 'fv'];

/** Path of a built workload image. */
const workload = (name: string, v: Variant): string => fileURLToPath(new URL(`../../guest-kit/workloads/${name}-${v}.wasm`, import.meta.url));

interface Run {
  out: Record<string, string>;
  log: string[];
  report: RunReport;
}

/** A fresh system that collects console text per domain and host log lines. */
function newSystem(): { sys: System; out: Record<string, string>; log: string[] } {
  const out: Record<string, string> = {};
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (d, t) => void (out[d] = (out[d] ?? '') + t), log: (l) => log.push(l) });
  return { sys, out, log };
}

/** Runs one workload domain with no devices. */
async function runPlain(name: string, v: Variant, cmdline: string): Promise<Run> {
  const { sys, out, log } = newSystem();
  await sys.addDomain({ name, image: workload(name, v), memBytes: 2 * MiB, vcpus: 1, cmdline });
  const report = await sys.run();
  return { out, log, report };
}

const u32 = (x: number): number => x >>> 0;


// ---- oracles: the workloads' documented patterns, recomputed here ----

/** console.c: 64-byte lines "NNNNNNNN " + 54 letters + "\n", cut at `bytes`. */
function consolePattern(bytes: number): string {
  let s = '';
  for (let i = 0; s.length < bytes; i++) {
    let l = `${String(i).padStart(8, '0')} `;
    for (let j = 0; j < 54; j++) l += String.fromCharCode(97 + ((i + j) % 26));
    s += `${l}\n`;
  }
  return s.slice(0, bytes);
}

/** blk.c's pattern word k of sector `sector` (below 2^32): mix(seed, k) ^ stamp(sector). */
function blkWord(seed: number, sector: number, k: number): number {
  let x = u32(Math.imul(seed, 0xc2b2ae3d) ^ Math.imul(k, 0x27d4eb2f));
  x = u32(x ^ (x >>> 15));
  x = u32(Math.imul(x, 0x2c1b3c6d));
  x = u32(x ^ (x >>> 12));
  return u32(x ^ Math.imul(sector, 0x9e3779b1));
}

function blkSectors(seed: number, first: number, n: number): Uint8Array {
  const b = new Uint8Array(n * SECTOR);
  const dv = new DataView(b.buffer);
  for (let s = 0; s < n; s++) for (let k = 0; k < SECTOR / 4; k++) dv.setUint32(s * SECTOR + k * 4, blkWord(seed, first + s, k), true);
  return b;
}

/** wl_rand: xorshift64*. */
function* xorshift(seed: bigint): Generator<bigint> {
  const M = (1n << 64n) - 1n;
  let x = seed;
  for (;;) {
    if (x === 0n) x = 0x9e3779b97f4a7c15n;
    x ^= x >> 12n;
    x = (x ^ (x << 25n)) & M;
    x ^= x >> 27n;
    yield (x * 0x2545f4914f6cdd1dn) & M;
  }
}

/** The blk workload's result line. */
function blkResult(mb: number, reads: number, seed: number): string {
  const area = (mb * MiB) / SECTOR;
  const crcW = crc32(blkSectors(seed, 0, area));
  const s = BigInt(seed);
  const rng = xorshift(0x5deece66dn ^ ((s << 32n) | s));
  const blocks = BigInt(area / 8);
  let crcR = 0;
  for (let i = 0; i < reads; i++) {
    const sector = Number(((rng.next().value as bigint) % blocks) * 8n);
    crcR = crc32(blkSectors(seed, sector, 8), crcR);
  }
  return `blk: wrote ${mb} MiB, read ${mb} MiB, crc32 0x${hex(crcW)}, ${reads} random reads crc32 0x${hex(crcR)}`;
}

/** net.c payload of frame q (len bytes). */
function netPayload(seed: number, q: number, len: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(len / 4) * 4);
  const dv = new DataView(b.buffer);
  for (let k = 0; k < b.length / 4; k++) {
    let x = u32(Math.imul(q, 0x9e3779b1) ^ Math.imul(seed, 0xc2b2ae3d) ^ Math.imul(k, 0x27d4eb2f));
    x = u32(x ^ (x >>> 15));
    x = u32(Math.imul(x, 0x2c1b3c6d));
    dv.setUint32(k * 4, u32(x ^ (x >>> 13)), true);
  }
  return b.subarray(0, len);
}

function netCrc(count: number, size: number, seed: number): string {
  let c = 0;
  for (let q = 0; q < count; q++) c = crc32(netPayload(seed, q, size - 20), c);
  return hex(c);
}

const hex = (x: number): string => x.toString(16).padStart(8, '0');

// ---- console ----

describe('console workload: 1 MiB of text through the console hypercall (pv) and the 16550A (fv)', () => {
  it('writes the same bytes and the same result line on both variants', async () => {
    const bytes = MiB;
    const text = consolePattern(bytes);
    const want = `console: wrote ${bytes} bytes, crc32 0x${hex(crc32(text))}`;
    for (const v of VARIANTS) {
      const r = await runPlain('console', v, '');
      expect(r.out['console'], v).toBe(`${text}${want}\n`);
      expect(r.report.domains[0]!.outcome, v).toEqual({ kind: 'poweroff', code: 0 });
      expect(r.log, v).toEqual([]);
    }
  });

  it('cuts the last line at bytes= and puts the result on a line of its own', async () => {
    const text = consolePattern(1000);
    for (const v of VARIANTS) {
      const r = await runPlain('console', v, 'bytes=1000');
      expect(r.out['console'], v).toBe(`${text}\nconsole: wrote 1000 bytes, crc32 0x${hex(crc32(text))}\n`);
    }
  });
});

// ---- idle ----

describe('idle workload: a periodic tick for N virtual seconds (pv: one-shot timer; fv: 8254 PIT on IRQ 0)', () => {
  it('counts seconds x hz ticks and ends after about that much virtual time', async () => {
    for (const v of VARIANTS) {
      const r = await runPlain('idle', v, 'seconds=3 hz=100');
      expect(r.out['idle'], v).toBe('idle: 300 ticks at 100 Hz (3 s)\n');
      expect(r.report.domains[0]!.outcome, v).toEqual({ kind: 'poweroff', code: 0 });
      // 300 periods of 10 ms (pv) or of 11932 PIT clocks = 10.0002 ms (fv), plus boot.
      expect(r.report.virtualTimeNs, v).toBeGreaterThanOrEqual(3e9);
      expect(r.report.virtualTimeNs, v).toBeLessThan(3.01e9);
    }
  });

  it('regression: below the slowest 8254 rate (18.2 Hz) the legacy backend divides a faster PIT rate', async () => {
    // 10 Hz needs a divisor of 119318, which does not fit in 16 bits: the PIT ran at 18.2 Hz and
    // the workload saw its ticks come early. Now it programs 20 Hz and counts two periods a tick.
    for (const v of VARIANTS) {
      const r = await runPlain('idle', v, 'seconds=2 hz=10');
      expect(r.out['idle'], v).toBe('idle: 20 ticks at 10 Hz (2 s)\n');
      // fv: 40 periods of 59659 PIT clocks = 1.999998 s (the 8254 rounds the divisor).
      expect(r.report.virtualTimeNs, v).toBeGreaterThan(1.999e9);
      expect(r.report.virtualTimeNs, v).toBeLessThan(2.01e9);
    }
  });
});

// ---- blk ----

/** Runs blk-pv on a virtio-blk disk. */
async function runBlkPv(image: MemoryDiskImage, cmdline: string): Promise<Run> {
  const { sys, out, log } = newSystem();
  const d = await sys.addDomain({ name: 'blk', image: workload('blk', 'pv'), memBytes: 2 * MiB, vcpus: 1, cmdline });
  sys.attachDevice(d, new VirtioMmioDevice({ name: 'vda', backend: new VirtioBlk({ image }), mem: d.mem, log: (l) => log.push(l) }));
  return { out, log, report: await sys.run() };
}

describe('blk workload: sequential write + verified read, then 4 KiB random reads', () => {
  it('pv: virtio-blk — the result matches the oracle and the disk holds the pattern', async () => {
    const image = new MemoryDiskImage(8 * MiB);
    const r = await runBlkPv(image, 'mb=4 reads=200 seed=7');
    expect(r.out['blk']).toBe(`${blkResult(4, 200, 7)}\n`);
    expect(r.report.ok).toBe(true);
    expect(r.log).toEqual([]);
    // Host side: the written area holds the pattern (Buffer.equals: a deep toEqual of 4 MiB is slow).
    expect(Buffer.from(image.data.subarray(0, 4 * MiB)).equals(blkSectors(7, 0, (4 * MiB) / SECTOR))).toBe(true);
  });

  it('fv: ATA PIO (IRQ 14, and polled) — the same result line as pv and the oracle', async () => {
    for (const mode of ['irq', 'poll']) {
      const image = new MemoryDiskImage(8 * MiB);
      const { sys, out, log } = newSystem();
      const d = await sys.addDomain({ name: 'blk', image: workload('blk', 'fv'), memBytes: 2 * MiB, vcpus: 1, cmdline: `mb=4 reads=200 seed=7 ata=${mode}` });
      const pc = sys.plugLegacy(d, { disk: image });
      const report = await sys.run();
      expect(out['blk'], mode).toBe(`${blkResult(4, 200, 7)}\n`);
      expect(report.ok, mode).toBe(true);
      expect(log, mode).toEqual([]);
      expect(Buffer.from(image.data.subarray(0, 4 * MiB)).equals(blkSectors(7, 0, (4 * MiB) / SECTOR)), mode).toBe(true);
      // 64 KiB requests in blocks of 16 sectors (READ/WRITE MULTIPLE): one string op per block.
      expect(pc.ata!.stats.sectorsWritten, mode).toBe((4 * MiB) / SECTOR);
      expect(pc.ata!.stats.sectorsRead, mode).toBe((4 * MiB) / SECTOR + 200 * 8);
      // IDENTIFY + 512 blocks written + 512 read + one block per 4 KiB random read.
      expect(pc.ports.mappings.find((m) => m.name === 'ata0-data')!.stats.strings, mode).toBe(1 + 512 + 512 + 200);
      const irqs = pc.exits.injections;
      if (mode === 'irq') expect(irqs).toBeGreaterThan(0);
      else expect(irqs).toBe(0);
    }
  });

  it('without a disk: exit code 2 on both variants', async () => {
    for (const v of VARIANTS) {
      const r = await runPlain('blk', v, 'mb=1');
      expect(r.out['blk'], v).toBe('blk: no usable disk\n');
      expect(r.report.domains[0]!.outcome, v).toEqual({ kind: 'poweroff', code: 2 });
    }
  });

  it('a disk smaller than mb=: exit code 2', async () => {
    const r = await runBlkPv(new MemoryDiskImage(MiB), 'mb=2');
    expect(r.out['blk']).toBe('blk: disk of 2048 sectors is smaller than 2 MiB\n');
    expect(r.report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 2 });
  });

  it('a bad command line: exit code 2 on both variants', async () => {
    for (const v of VARIANTS) {
      const r = await runPlain('blk', v, 'req=3');
      expect(r.out['blk'], v).toBe('blk: mb must be > 0 and req 4..1024 KiB, a multiple of 4\n');
      expect(r.report.domains[0]!.outcome, v).toEqual({ kind: 'poweroff', code: 2 });
    }
  });
});

// ---- net ----

/** Runs net-pv as sink and sender on one switch. */
async function runNetPv(args: string) {
  const { sys, out, log } = newSystem();
  const sw = new VirtualSwitch('lan');
  const nics: VirtioNet[] = [];
  for (const [i, role] of (['sink', 'send'] as const).entries()) {
    const d = await sys.addDomain({ name: role, image: workload('net', 'pv'), memBytes: 4 * MiB, vcpus: 1, cmdline: `role=${role} ${args}` });
    const nic = new VirtioNet({ mac: localMac(i + 1, 0) });
    nic.connect(sw, `${role}.net0`);
    sys.attachDevice(d, new VirtioMmioDevice({ name: 'net0', backend: nic, mem: d.mem, log: (l) => log.push(l) }));
    nics.push(nic);
  }
  return { out, log, report: await sys.run(), nics };
}

describe('net workload: a windowed stream of verified payloads between two domains', () => {
  for (const [count, size] of [
    [2000, 1500],
    [3000, 64],
  ] as const) {
    it(`pv: virtio-net, ${count} frames of ${size} bytes — both sides print the oracle's payload crc`, async () => {
      const crc = netCrc(count, size, 3);
      const r = await runNetPv(`count=${count} size=${size} seed=3`);
      expect(r.out['sink']).toBe(`net: received ${count} frames of ${size} bytes in order, payload crc32 0x${crc}\n`);
      expect(r.out['send']).toBe(`net: sent ${count} frames of ${size} bytes, payload crc32 0x${crc}\n`);
      expect(r.report.ok).toBe(true);
      expect(r.log).toEqual([]);
      expect(r.nics[0]!.stats.rxQueueDrops).toBe(0);
    });
  }

  for (const [count, size] of [
    [2000, 1500],
    [3000, 64],
  ] as const) {
    it(`fv: NE2000, ${count} frames of ${size} bytes — the same lines as pv, nothing lost in the 16 KiB ring`, async () => {
      const crc = netCrc(count, size, 3);
      const { sys, out, log } = newSystem();
      const sw = new VirtualSwitch('lan');
      const pcs: LegacyPlatform[] = [];
      for (const [i, role] of (['sink', 'send'] as const).entries()) {
        const d = await sys.addDomain({ name: role, image: workload('net', 'fv'), memBytes: 4 * MiB, vcpus: 1, cmdline: `role=${role} count=${count} size=${size} seed=3` });
        pcs.push(sys.plugLegacy(d, { nic: { sw, mac: localMac(i + 1, 0) } }));
      }
      const report = await sys.run();
      expect(out['sink']).toBe(`net: received ${count} frames of ${size} bytes in order, payload crc32 0x${crc}\n`);
      expect(out['send']).toBe(`net: sent ${count} frames of ${size} bytes, payload crc32 0x${crc}\n`);
      expect(report.ok).toBe(true);
      expect(log).toEqual([]);
      const sink = pcs[0]!.nic!.stats;
      expect(sink.rxFrames).toBe(count);
      expect(sink.rxOverflow).toBe(0);
    });
  }

  it('pv and fv on one switch: a virtio-net sender streams to an NE2000 sink and back', async () => {
    const crc = netCrc(500, 1000, 5);
    for (const sinkVariant of VARIANTS) {
      const { sys, out, log } = newSystem();
      const sw = new VirtualSwitch('lan');
      for (const [i, role] of (['sink', 'send'] as const).entries()) {
        const v: Variant = role === 'sink' ? sinkVariant : sinkVariant === 'pv' ? 'fv' : 'pv';
        const d = await sys.addDomain({ name: role, image: workload('net', v), memBytes: 4 * MiB, vcpus: 1, cmdline: `role=${role} count=500 size=1000 seed=5` });
        const mac = localMac(i + 1, 0);
        if (v === 'fv') sys.plugLegacy(d, { nic: { sw, mac } });
        else {
          const nic = new VirtioNet({ mac });
          nic.connect(sw, `${role}.net0`);
          sys.attachDevice(d, new VirtioMmioDevice({ name: 'net0', backend: nic, mem: d.mem, log: (l) => log.push(l) }));
        }
      }
      const report = await sys.run();
      expect(out['sink'], sinkVariant).toBe(`net: received 500 frames of 1000 bytes in order, payload crc32 0x${crc}\n`);
      expect(out['send'], sinkVariant).toBe(`net: sent 500 frames of 1000 bytes, payload crc32 0x${crc}\n`);
      expect(report.ok, sinkVariant).toBe(true);
    }
  });

  it('without a NIC: exit code 2 on both variants', async () => {
    for (const v of VARIANTS) {
      const r = await runPlain('net', v, 'role=sink');
      expect(r.out['net'], v).toBe('net: no usable NIC\n');
      expect(r.report.domains[0]!.outcome, v).toEqual({ kind: 'poweroff', code: 2 });
    }
  });

  it('a bad role: exit code 2 on both variants', async () => {
    for (const v of VARIANTS) {
      const r = await runPlain('net', v, 'role=both');
      expect(r.out['net'], v).toBe('net: role=sink or role=send\n');
      expect(r.report.domains[0]!.outcome, v).toEqual({ kind: 'poweroff', code: 2 });
    }
  });
});
