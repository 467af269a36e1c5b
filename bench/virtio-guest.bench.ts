/**
 * `npm run bench:virtio` part 2 — virtio THROUGH REAL GUESTS: the example kernels blkstream and
 * netstream (guest-kit/examples) drive the devices with the kit's C drivers, instrumented and
 * run by the deterministic engine exactly as `pvisor run` does. Everything is in the figure: the
 * guest's driver code (Wasm, with fuel accounting), the MMIO traps (QueueNotify), event-channel
 * interrupts and upcalls, the split rings, the backends, the switch.
 *
 * Timing: wall time on the host between two lines the guest prints — "… warm" after a warm-up
 * portion (by then V8 has optimised the guest's and the host's hot code) and its final line —
 * so the figure is the steady state, not instrumentation, compilation or boot. Each rep is a
 * fresh System, and one untimed rep of each kind runs first (V8 keeps optimising the guest and
 * host code for longer than one warm-up); the baseline is measured in the same process right
 * after each rep, into the same guest memory (the machine is shared and noisy: only ratios mean
 * anything).
 *
 * 1. blk: blkstream reads / writes BENCH_MB MiB sequentially in 64 KiB requests, 8 per kick,
 *    polling for completions, on a memory image (beside `Uint8Array.set` of the same 64 KiB
 *    chunks between the image and the guest's memory) and on a raw file image (beside
 *    `fs.readSync` / `fs.writeSync` of the same chunks of the same file into / out of guest memory).
 * 2. net: a netstream sender and sink on one switch; BENCH_PKTS frames of 64 and 1500 bytes and
 *    BENCH_BIG frames of 65536 bytes (MTU 65535), windowed (the sink acks every 64 frames, or 16
 *    for 64 KiB ones), beside `Uint8Array.set` of 64 KiB from one guest's memory to the other's.
 * 3. notifications (QueueNotify writes) and interrupts (device interrupt raises) per 64 KiB moved,
 *    counted over the measured part and the warm-up together.
 *
 * Env: BENCH_MB (default 256), BENCH_REPS (3), BENCH_PKTS (200000), BENCH_BIG (20000),
 * BENCH_DIR (where the temp image goes; default os.tmpdir()).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { System } from '../src/control/system.ts';
import type { Domain } from '../src/hv/index.ts';
import { VirtioBlk } from '../src/virtio/blk.ts';
import { type DiskImage, MemoryDiskImage, RawFileDiskImage } from '../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../src/virtio/mmio.ts';
import { VirtioNet } from '../src/virtio/net.ts';
import { VirtualSwitch, localMac } from '../src/virtio/switch.ts';

const MB = Number(process.env.BENCH_MB ?? 256);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const PKTS = Number(process.env.BENCH_PKTS ?? 200_000);
const BIG = Number(process.env.BENCH_BIG ?? 20_000);
const CHUNK = 64 * 1024;
const IMAGE_BYTES = 64 * 1024 * 1024; // blkstream wraps around it
const WARM_MB = 64;
const MiB = 1024 * 1024;
const NOTIFY_OFF = 0x050; // virtio-mmio QueueNotify (§4.2.2)

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function example(name: string): string {
  return path.resolve(import.meta.dirname, '../guest-kit/examples', `${name}.wasm`);
}

interface Counters {
  notifies: number;
  irqs: number;
}

/** Wraps a device so its QueueNotify writes and interrupt raises are counted. */
function counted(dev: VirtioMmioDevice, cnt: Counters): VirtioMmioDevice {
  const write32 = dev.write32.bind(dev);
  dev.write32 = (off: number, v: number) => {
    if (off === NOTIFY_OFF) cnt.notifies++;
    write32(off, v);
  };
  const setInterrupt = dev.setInterrupt.bind(dev);
  dev.setInterrupt = (raise: () => void) =>
    setInterrupt(() => {
      cnt.irqs++;
      raise();
    });
  return dev;
}

/**
 * A console sink that times the wall clock between the line matching `start` and the one matching
 * `end` (of domain `who`), and keeps that domain's lines.
 */
function lineClock(who: string, start: RegExp, end: RegExp) {
  let t0 = NaN;
  let t1 = NaN;
  let partial = '';
  const lines: string[] = [];
  return {
    lines,
    console(d: string, text: string): void {
      if (d !== who) return;
      partial += text;
      const ls = partial.split('\n');
      partial = ls.pop()!;
      for (const l of ls) {
        lines.push(l);
        if (start.test(l)) t0 = performance.now();
        if (end.test(l)) t1 = performance.now();
      }
    },
    /** Runs `sys` (built with this console) and returns the timed span in ms. */
    async run(sys: System): Promise<number> {
      const report = await sys.run();
      if (!report.ok) throw new Error(`guest run failed: ${JSON.stringify(report.domains.map((d) => [d.name, d.outcome]))}\n${lines.join('\n')}`);
      if (!(t1 > t0)) throw new Error(`no timing lines in: ${lines.join(' | ')}`);
      return t1 - t0;
    },
  };
}

// -------------------------------------------------------------------------------------------------
// blk

interface BlkRun {
  ms: number;
  cnt: Counters;
  mem: Domain['mem'];
  line: string;
}

async function blkRun(image: DiskImage, op: 'read' | 'write'): Promise<BlkRun> {
  const clock = lineClock('blkstream', /^blkstream: warm$/, /^blkstream: (read|write) /);
  const sys = new System({ seed: 1, console: clock.console, log: (l) => console.error(l) });
  const d = await sys.addDomain({ name: 'blkstream', image: example('blkstream'), memBytes: 16 * MiB, vcpus: 1, cmdline: `op=${op} mb=${MB} warmup=${WARM_MB} inflight=8` });
  const cnt: Counters = { notifies: 0, irqs: 0 };
  sys.attachDevice(d, counted(new VirtioMmioDevice({ name: 'disk0', backend: new VirtioBlk({ image }), mem: d.mem, log: (l) => console.error(l) }), cnt));
  const ms = await clock.run(sys);
  const line = clock.lines.at(-1)!;
  if (!line.endsWith(' 0 errors')) throw new Error(line);
  return { ms, cnt, mem: d.mem, line };
}

/** Guest buffers for the baselines: 8 chunks in the guest's memory (where blkstream's would be). */
const BASE_AT = 8 * MiB;

function rawCopy(u8: Uint8Array, img: Uint8Array, read: boolean): number {
  const n = (MB * MiB) / CHUNK;
  const t0 = performance.now();
  for (let r = 0; r < n; r++) {
    const d = BASE_AT + (r % 8) * CHUNK;
    const off = (r * CHUNK) % img.length;
    if (read) u8.set(img.subarray(off, off + CHUNK), d);
    else img.set(u8.subarray(d, d + CHUNK), off);
  }
  return performance.now() - t0;
}

function fsCopy(u8: Uint8Array, fd: number, read: boolean): number {
  const n = (MB * MiB) / CHUNK;
  const t0 = performance.now();
  for (let r = 0; r < n; r++) {
    const d = BASE_AT + (r % 8) * CHUNK;
    const off = (r * CHUNK) % IMAGE_BYTES;
    const got = read ? fs.readSync(fd, u8, d, CHUNK, off) : fs.writeSync(fd, u8, d, CHUNK, off);
    if (got !== CHUNK) throw new Error('fs: short transfer');
  }
  return performance.now() - t0;
}

interface Row {
  name: string;
  dev: number[]; // MiB/s
  base: number[];
  baseName: string;
  target: number;
  cnt: Counters;
  bytes: number; // moved in one run including warm-up (for per-64K counts)
}

async function benchBlk(): Promise<Row[]> {
  const rows: Row[] = [];
  const mibps = (ms: number) => MB / (ms / 1000);
  const moved = (MB + WARM_MB) * MiB;
  const mem = new MemoryDiskImage(IMAGE_BYTES);
  for (const op of ['read', 'write'] as const) {
    const row: Row = { name: `blk mem ${op}`, dev: [], base: [], baseName: 'Uint8Array.set', target: op === 'read' ? 0.5 : 0, cnt: { notifies: 0, irqs: 0 }, bytes: moved };
    // Rep -1 is a whole untimed run: V8 tiers the code up over more than one run's warm-up.
    for (let rep = -1; rep < REPS; rep++) {
      const r = await blkRun(mem, op);
      const base = rawCopy(r.mem.u8, mem.data, op === 'read');
      if (rep < 0) continue;
      row.dev.push(mibps(r.ms));
      row.cnt = r.cnt;
      row.base.push(mibps(base));
    }
    rows.push(row);
  }
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'pvisor-bench-'));
  const file = path.join(dir, 'disk.img');
  try {
    fs.writeFileSync(file, new Uint8Array(IMAGE_BYTES).fill(0x5a)); // allocated, in the page cache
    for (const op of ['read', 'write'] as const) {
      const row: Row = { name: `blk file ${op}`, dev: [], base: [], baseName: op === 'read' ? 'fs.readSync' : 'fs.writeSync', target: op === 'read' ? 0.5 : 0, cnt: { notifies: 0, irqs: 0 }, bytes: moved };
      for (let rep = -1; rep < REPS; rep++) {
        const img = RawFileDiskImage.open(file, { readOnly: false });
        let r: BlkRun;
        try {
          r = await blkRun(img, op);
        } finally {
          img.close();
        }
        const fd = fs.openSync(file, 'r+');
        let base: number;
        try {
          base = fsCopy(r.mem.u8, fd, op === 'read');
        } finally {
          fs.closeSync(fd);
        }
        if (rep < 0) continue;
        row.dev.push(mibps(r.ms));
        row.cnt = r.cnt;
        row.base.push(mibps(base));
      }
      rows.push(row);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

// -------------------------------------------------------------------------------------------------
// net

interface NetRow {
  size: number;
  frames: number;
  pps: number[];
  cnt: Counters;
}

async function netRun(size: number, frames: number): Promise<{ ms: number; cnt: Counters; mems: Domain['mem'][] }> {
  const big = size > 1514;
  const clock = lineClock('sink', /^netstream: warm$/, /^netstream: received /);
  const sys = new System({ seed: 1, console: clock.console, log: (l) => console.error(l) });
  const sw = new VirtualSwitch('lan');
  const warm = Math.max(1000, Math.floor(frames / 5));
  const window = big ? 16 : 64;
  const qsize = big ? 64 : 256;
  const cnt: Counters = { notifies: 0, irqs: 0 };
  const mems: Domain['mem'][] = [];
  for (const [i, role] of (['sink', 'send'] as const).entries()) {
    const d = await sys.addDomain({
      name: role,
      image: example('netstream'),
      memBytes: big ? 32 * MiB : 16 * MiB,
      vcpus: 1,
      cmdline: `role=${role} count=${frames} size=${size} window=${window} qsize=${qsize} warmup=${warm}`,
    });
    const nic = new VirtioNet({ mac: localMac(i + 1, 0), mtu: big ? 65535 : 1500 });
    nic.connect(sw, `${role}.net0`);
    sys.attachDevice(d, counted(new VirtioMmioDevice({ name: 'net0', backend: nic, mem: d.mem, log: (l) => console.error(l) }), cnt));
    mems.push(d.mem);
  }
  const ms = await clock.run(sys);
  return { ms, cnt, mems };
}

async function benchNet(): Promise<{ rows: NetRow[]; rawGbps: number[]; bigGbps: number[] }> {
  const rows: NetRow[] = [];
  const rawGbps: number[] = [];
  const bigGbps: number[] = [];
  for (const [size, frames] of [
    [64, PKTS],
    [1500, PKTS],
    [65536, BIG],
  ] as const) {
    const row: NetRow = { size, frames, pps: [], cnt: { notifies: 0, irqs: 0 } };
    for (let rep = -1; rep < REPS; rep++) {
      const r = await netRun(size, frames);
      if (rep < 0) continue; // untimed: V8 tiers the code up over more than one run's warm-up
      row.pps.push(frames / (r.ms / 1000));
      row.cnt = r.cnt;
      if (size === 65536) {
        bigGbps.push((frames * size * 8) / (r.ms / 1000) / 1e9);
        // Baseline: 64 KiB copies from the sender's memory to the sink's, as many as frames.
        const [a, b] = [r.mems[1]!.u8, r.mems[0]!.u8];
        const copy = () => {
          const t0 = performance.now();
          for (let i = 0; i < frames; i++) b.set(a.subarray(BASE_AT + (i % 8) * CHUNK + 12, BASE_AT + (i % 8) * CHUNK + 12 + size), BASE_AT + 12 + (i % 8) * CHUNK);
          return performance.now() - t0;
        };
        rawGbps.push((frames * size * 8) / (copy() / 1000) / 1e9);
      }
    }
    rows.push(row);
  }
  return { rows, rawGbps, bigGbps };
}

// -------------------------------------------------------------------------------------------------

const pct = (x: number) => `${Math.round(x * 100)} %`;
const t0 = performance.now();
const verdicts: string[] = [];

console.log(`virtio through real guests (blkstream, netstream; C drivers in instrumented Wasm), ${REPS} reps, medians`);
console.log(`block: ${MB} MiB sequential in 64 KiB requests, 8 per kick, after ${WARM_MB} MiB of warm-up\n`);
const blk = await benchBlk();
console.log('block, sequential (MiB/s, median)        guest      baseline              ratio   target');
for (const r of blk) {
  const dev = median(r.dev);
  const base = median(r.base);
  const ratio = dev / base;
  const ok = r.target === 0 ? '(none)' : ratio >= r.target ? `>= ${pct(r.target)}  ok` : `>= ${pct(r.target)}  MISSED`;
  console.log(`  ${r.name.padEnd(38)}${dev.toFixed(0).padStart(8)}  ${base.toFixed(0).padStart(8)} ${r.baseName.padEnd(16)}${pct(ratio).padStart(5)}   ${ok}`);
  if (r.target !== 0) verdicts.push(`${r.name} ${pct(ratio)} of ${r.baseName} (target >= ${pct(r.target)}): ${ratio >= r.target ? 'ok' : 'MISSED'}`);
}
console.log('\nblock notifications / interrupts per 64 KiB (one run, warm-up included)   target <= 1');
for (const r of blk) {
  const per = r.bytes / CHUNK;
  const n = r.cnt.notifies / per;
  const i = r.cnt.irqs / per;
  console.log(`  ${r.name.padEnd(38)} notify ${n.toFixed(3)}  irq ${i.toFixed(3)}   ${n <= 1 && i <= 1 ? 'ok' : 'MISSED'}`);
  verdicts.push(`${r.name}: ${n.toFixed(3)} notifications, ${i.toFixed(3)} interrupts per 64 KiB (target <= 1): ${n <= 1 && i <= 1 ? 'ok' : 'MISSED'}`);
}

const net = await benchNet();
console.log('\nnet guest to guest (netstream sender -> VirtualSwitch -> netstream sink), median');
for (const r of net.rows) {
  const pps = median(r.pps);
  const gbps = (pps * r.size * 8) / 1e9;
  // Both NICs' counters over the whole run, per frame of the measured + warm-up total.
  const total = r.frames + Math.max(1000, Math.floor(r.frames / 5));
  console.log(
    `  ${`${r.size} B frames`.padEnd(16)} ${(pps / 1e6).toFixed(3).padStart(7)} Mpps ${gbps.toFixed(2).padStart(8)} Gbit/s   per frame: ${(r.cnt.notifies / total).toFixed(3)} notify, ${(r.cnt.irqs / total).toFixed(3)} irq (${r.frames} frames)`,
  );
}
const big = median(net.bigGbps);
const raw = median(net.rawGbps);
const ratio = big / raw;
console.log(`  raw copy (64 KiB Uint8Array.set, sender mem -> sink mem)   ${raw.toFixed(2)} Gbit/s`);
console.log(`  ratio net 64 KiB / raw copy                                 ${pct(ratio)}   target >= 40 %  ${ratio >= 0.4 ? 'ok' : 'MISSED'}`);
verdicts.push(`net 64 KiB through guests ${pct(ratio)} of raw copy (target >= 40 %): ${ratio >= 0.4 ? 'ok' : 'MISSED'}`);
const bigRow = net.rows.find((r) => r.size === 65536)!;
const bigTotal = bigRow.frames + Math.max(1000, Math.floor(bigRow.frames / 5));
const nPer = bigRow.cnt.notifies / bigTotal;
const iPer = bigRow.cnt.irqs / bigTotal;
verdicts.push(`net 64 KiB: ${nPer.toFixed(3)} notifications, ${iPer.toFixed(3)} interrupts per 64 KiB frame, both NICs (target <= 1): ${nPer <= 1 && iPer <= 1 ? 'ok' : 'MISSED'}`);

console.log('\ntargets');
for (const v of verdicts) console.log(`  ${v}`);
console.log(`(total ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
