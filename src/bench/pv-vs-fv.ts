/**
 * `pvisor bench pv-vs-fv`: the same workloads run paravirtualized (console hypercall, virtio-blk,
 * virtio-net, a sched_poll deadline per tick) and fully virtualized (16550A, ATA PIO, NE2000,
 * 8254 PIT behind the 8259A), in one process, and compared — exits by kind, exits per operation, wall time, the
 * time a cost model says those exits would take on real hardware, and throughput.
 *
 * FAIRNESS. Each workload is one C source built twice (guest-kit/workloads): the same pattern is
 * generated, checksummed and verified by the same code; only the drivers underneath differ. The
 * runner checks that both variants produced the same bytes — the whole console text, the disk
 * image, the DATA frames the switch forwarded, and every result line — and reports a mismatch as
 * a failure, never as a number.
 *
 * WHAT IS TIMED. Wall time is `performance.now()` around `System.run()` — the guest booting,
 * doing its work and powering off — not loading or instrumenting the image. The blk run is split
 * in two rows at the host's first disk read after the sequential read reached the end of the
 * area (see PhaseProbe below): `blk-seq` (boot, write, flush, verified read) and `blk-rand`
 * (the 4 KiB random reads). The host memory behind the blk disk image is committed before the
 * clock starts (written once), for both variants alike: the first write to a fresh page costs a
 * page fault, ~5 ns a byte here, which would otherwise be most of blk-seq's time on both sides
 * and hide the I/O paths compared. For net, the time the runner's own frame checksum takes inside the
 * run is measured and subtracted. Before the timed runs, every selected workload runs once at
 * the quick scale, untimed, so V8 has compiled the host's hot paths for both variants alike.
 * With `reps` > 1 each variant runs that many times, PV and FV taking turns to go first, and the
 * wall time reported is the median (exits, being deterministic, must not change between runs).
 *
 * MODELED TIME is the cost model's price of the exits only ({@link modeledNs}): what a
 * hardware-virtualized host would spend leaving and re-entering the guest. Guest computation is
 * left out on purpose — it is the same code in both variants.
 * @module
 */
import { existsSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { arch, cpus, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import { System } from '../control/system.ts';
import type { RunReport } from '../control/types.ts';
import type { Domain } from '../hv/index.ts';
import { VirtioBlk } from '../virtio/blk.ts';
import { type DiskImage, MemoryDiskImage } from '../virtio/disk-image.ts';
import { VirtioMmioDevice } from '../virtio/mmio.ts';
import { VirtioNet } from '../virtio/net.ts';
import { VirtualSwitch, localMac } from '../virtio/switch.ts';
import { type CostModel, DEFAULT_COST_MODEL, EXIT_KINDS, type ExitKind, countsByKind, modeledNs } from './cost-model.ts';
import { type ExitCounts, addExits, emptyExits, exitsOf } from './exits.ts';
import { WORKLOAD_NAMES, type WorkloadName } from './pv-vs-fv-workloads.ts';

/** Version of the JSON {@link PvVsFvResult} (its `schema` field); bump on an incompatible change. */
export const PV_VS_FV_SCHEMA = 'pvisor-bench-pv-vs-fv/1';

/** The two ways a workload runs. */
export type Variant = 'pv' | 'fv';

export { WORKLOAD_NAMES, parseWorkloads, type WorkloadName } from './pv-vs-fv-workloads.ts';

/** Full size (the issue's figures) or a small one for tests and smoke runs. */
export type Scale = 'full' | 'quick';

/** What a row's operations are, which fixes its throughput unit. */
export type OpUnit = 'byte' | 'request' | 'packet' | 'tick';

/** Sizes of the workloads at one scale. */
export interface WorkloadSizes {
  /** console: bytes written. */
  consoleBytes: number;
  /** blk: MiB written then read sequentially (64 KiB requests). */
  blkMb: number;
  /** blk: 4 KiB random reads after the sequential part. */
  blkReads: number;
  /** net-64 and net-1500: data frames sent. */
  netCount: number;
  /** idle: virtual seconds. */
  idleSeconds: number;
  /** idle: tick rate. */
  idleHz: number;
}

/** The sizes of each scale. */
export const SIZES: Record<Scale, WorkloadSizes> = {
  full: { consoleBytes: 1 << 20, blkMb: 64, blkReads: 10_000, netCount: 100_000, idleSeconds: 10, idleHz: 100 },
  quick: { consoleBytes: 16 << 10, blkMb: 1, blkReads: 64, netCount: 300, idleSeconds: 1, idleHz: 20 },
};

/** A variant's result as printed and as the runner compared it. */
export interface VariantOutput {
  /** The guests' result lines (the last console line of each domain, by domain name). */
  resultLines: Record<string, string>;
  /** CRC-32 of everything compared besides the lines (console text, disk image, data frames), hex. */
  digest: string;
}

/** One measured (workload, variant). */
export interface PvVsFvRow {
  /** Workload name. */
  workload: WorkloadName;
  /** `pv` or `fv`. */
  variant: Variant;
  /** The guest image(s) run (file names under guest-kit/workloads). */
  image: string;
  /** Command line(s) given, by domain name. */
  cmdlines: Record<string, string>;
  /** Operations done: bytes (console, blk-seq), requests (blk-rand), packets (net), ticks (idle). */
  ops: number;
  /** What {@link ops} counts. */
  opUnit: OpUnit;
  /** Exits of every domain of the run (or of the phase, for blk), by kind and by device. */
  exits: ExitCounts;
  /** Exits per priced kind (the cost model's kinds). */
  exitsByKind: Record<ExitKind, number>;
  /** `exits.total / ops`. */
  exitsPerOp: number;
  /** Wall time of the run or phase, ms (see the module doc for what is included); the median of {@link wallMsReps}. */
  wallMs: number;
  /** Wall time of each repetition, ms, in the order run. */
  wallMsReps: number[];
  /** Virtual time the run or phase took, ms. */
  virtualMs: number;
  /** The cost model's price of {@link exits}, ms. */
  modeledMs: number;
  /** {@link modeledMs} by kind, ms. */
  modeledByKindMs: Record<ExitKind, number>;
  /** Throughput: MiB/s of wall time (bytes), requests or packets per wall second, exits per virtual second (ticks). */
  throughput: number;
  /** Unit of {@link throughput}. */
  throughputUnit: 'MiB/s' | 'req/s' | 'pkt/s' | 'exits/virtual s';
  /** What the guests printed and what was compared. */
  output: VariantOutput;
}

/**
 * PV against FV for one workload. Every figure is oriented so that a number above 1 favours PV,
 * except {@link exitsPvOverFv}, kept as the fraction the issue's targets are written in. A ratio
 * whose denominator is 0 is `null`.
 */
export interface PvVsFvRatio {
  /** Workload name. */
  workload: WorkloadName;
  /** PV exits / FV exits (0.001 = a thousandth). */
  exitsPvOverFv: number | null;
  /** FV exits per op / PV exits per op (how many times fewer exits PV takes per operation). */
  exitsPerOpReduction: number | null;
  /** FV wall / PV wall (how many times faster PV ran here). */
  wallSpeedup: number | null;
  /** FV modeled / PV modeled. */
  modeledSpeedup: number | null;
  /** PV throughput / FV throughput; for idle (exits per virtual second) FV / PV, so above 1 is PV's gain too. */
  throughputGain: number | null;
}

/** A check that both variants produced the same result bytes. */
export interface IdentityCheck {
  /** Workload name. */
  workload: WorkloadName;
  /** True when every compared item matched. */
  identical: boolean;
  /** What was compared, in words. */
  compared: string[];
  /** For a failure: what differed, with both sides. */
  differences: { what: string; pv: string; fv: string }[];
}

/** One target from the issue, evaluated on this run. */
export interface TargetResult {
  /** Short id. */
  id: string;
  /** The target in words. */
  text: string;
  /** What was measured, in the target's terms. */
  value: number;
  /** The threshold. */
  threshold: number;
  /** `>=` or `<=`: how value compares to threshold when met. */
  op: '>=' | '<=';
  /** Whether this run met it. */
  met: boolean;
}

/** The whole result, as `--json` writes it. */
export interface PvVsFvResult {
  /** {@link PV_VS_FV_SCHEMA}. */
  schema: typeof PV_VS_FV_SCHEMA;
  /** When the run started (ISO 8601). */
  startedAt: string;
  /** The machine. */
  host: { node: string; platform: string; arch: string; cpu: string; cpus: number };
  /** The scale run. */
  scale: Scale;
  /** Sizes used. */
  sizes: WorkloadSizes;
  /** Whether an untimed warm-up pass ran first. */
  warmup: boolean;
  /** Runs of each variant; wall times are medians over them. */
  reps: number;
  /** The cost model used for modeled time. */
  costModel: CostModel;
  /** Two rows per workload (pv then fv), in {@link WORKLOAD_NAMES} order. */
  rows: PvVsFvRow[];
  /** One per workload. */
  ratios: PvVsFvRatio[];
  /** One per workload. */
  checks: IdentityCheck[];
  /** The issue's targets whose workloads ran. */
  targets: TargetResult[];
  /** False when a check failed or a guest did not power off with code 0. */
  ok: boolean;
  /** Why not ok, one line each. */
  failures: string[];
}

/** Progress events (one start and one end per run; blk's one run serves two workloads). */
export interface PvVsFvProgress {
  /** Runs finished so far (before this event for `start`). */
  done: number;
  /** Runs in all (not counting the warm-up). */
  total: number;
  /** `warmup` for the untimed pass, else the run starting or ending. */
  phase: 'warmup' | 'start' | 'end';
  /** The run: workload family and variant. */
  run: string;
  /** For `end`: its wall time, ms. */
  wallMs?: number;
}

/** Options of {@link runPvVsFv}. */
export interface PvVsFvOptions {
  /** Workloads to run (default all); blk-seq and blk-rand share one run. */
  workloads?: readonly WorkloadName[];
  /** Default `full`. */
  scale?: Scale;
  /** Default {@link DEFAULT_COST_MODEL}. */
  costModel?: CostModel;
  /** Run every family once at the quick scale first, untimed (default: true at full scale). */
  warmup?: boolean;
  /** Called as runs start and end. */
  onProgress?: (p: PvVsFvProgress) => void;
  /**
   * Runs of each variant (default 1); wall time is their median, and the order of PV and FV
   * alternates between repetitions. Exits must come out the same every time.
   */
  reps?: number;
  /**
   * Command-line arguments to set (`{ seed: '2' }`) for one variant, by workload family
   * (`console`, `blk`, `net`, `idle`), replacing the runner's value of the same key: a way to
   * make the variants differ on purpose and see the identity check fail.
   */
  cmdlineOverrides?: Partial<Record<Family, Partial<Record<Variant, Record<string, string>>>>>;
}

/** A guest image family (one C source, two builds). */
export type Family = 'console' | 'blk' | 'net' | 'idle';

const FAMILY: Record<WorkloadName, Family> = {
  console: 'console',
  'blk-seq': 'blk',
  'blk-rand': 'blk',
  'net-64': 'net',
  'net-1500': 'net',
  idle: 'idle',
};

const MiB = 1 << 20;

/** Path of a built workload image. */
function imagePath(family: Family, v: Variant): string {
  return fileURLToPath(new URL(`../../guest-kit/workloads/${family}-${v}.wasm`, import.meta.url));
}

/**
 * The workload images a selection needs that are not there (a clone without built guests, or
 * an installed package, which does not ship guest-kit): paths, empty when all exist.
 */
export function missingImages(workloads: readonly WorkloadName[]): string[] {
  const families = [...new Set(workloads.map((w) => FAMILY[w]))];
  return families.flatMap((f) => (['pv', 'fv'] as const).map((v) => imagePath(f, v))).filter((p) => !existsSync(p));
}

/** What one run of a family measured, per workload row it feeds. */
interface RunMeasure {
  workload: WorkloadName;
  ops: number;
  opUnit: OpUnit;
  exits: ExitCounts;
  wallMs: number;
  virtualNs: number;
}

/** One run of a family: its rows' measures, the compared output, and problems. */
interface FamilyRun {
  measures: RunMeasure[];
  cmdlines: Record<string, string>;
  resultLines: Record<string, string>;
  /**
   * Compared between variants besides the lines (console text, disk image, data frames): a
   * summary for the report and, where the runner can hold them, the bytes themselves (compared
   * exactly; the summary alone is compared otherwise).
   */
  digests: Record<string, { summary: string; bytes?: Uint8Array }>;
  problems: string[];
}

/** A fresh system collecting console text per domain and host log lines. */
function newSystem(): { sys: System; out: Record<string, string>; log: string[] } {
  const out: Record<string, string> = {};
  const log: string[] = [];
  // The longest workload (idle) takes 10 virtual seconds: a guest still running at 60 is stuck,
  // and is reported as such rather than hanging the bench.
  const sys = new System({ seed: 1, maxTimeNs: 60e9, console: (d, t) => void (out[d] = (out[d] ?? '') + t), log: (l) => log.push(l) });
  // An input that never delivers anything: with it, run() lets the event loop turn every
  // LIVE_SLICE_MS of wall time, so a progress bar can redraw during a long run; the guests see
  // nothing of it. It can wake no idle guest (canWakeIdle), so a run with every guest blocked for
  // good still ends. Always added, so the measured path is the same with or without a bar.
  sys.addExternalInput({ open: true, canWakeIdle: () => false, next: () => new Promise<void>(() => {}) });
  return { sys, out, log };
}

/** The median (the mean of the middle two for an even count). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const hex = (x: number): string => x.toString(16).padStart(8, '0');

/** Overrides for one run's command lines (key → value). */
type Overrides = Record<string, string>;

/** `base` ("k=v k=v") with the keys of `over` replaced or added. */
function withOverrides(base: string, over: Overrides): string {
  const args = new Map(base.split(' ').filter((w) => w !== '').map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] as const));
  for (const [k, v] of Object.entries(over)) args.set(k, v);
  return [...args].map(([k, v]) => `${k}=${v}`).join(' ');
}

/** The last non-empty line of a console stream (the workloads' result line). */
function lastLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').filter((l) => l !== '');
  return lines[lines.length - 1] ?? '(no output)';
}

/** Problems of a run: a guest that did not power off with 0, host log lines. */
function runProblems(label: string, report: RunReport, log: string[]): string[] {
  const p: string[] = [];
  for (const d of report.domains) {
    if (d.outcome.kind !== 'poweroff' || d.outcome.code !== 0) p.push(`${label}: domain ${d.name} ended ${JSON.stringify(d.outcome)}`);
  }
  for (const l of log.slice(0, 5)) p.push(`${label}: host log: ${l}`);
  return p;
}

function sumExits(sys: System): ExitCounts {
  let e = emptyExits();
  for (const d of sys.hv.domains) e = addExits(e, exitsOf(sys.hv, d));
  return e;
}

/** `a - b`, key by key (counters only grow, so every difference is >= 0). */
function subExits(a: ExitCounts, b: ExitCounts): ExitCounts {
  const neg = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, -v]));
  const minus: ExitCounts = {
    hypercalls: neg(b.hypercalls),
    pio: neg(b.pio),
    pioItems: neg(b.pioItems),
    mmio: neg(b.mmio),
    halt: -b.halt,
    injections: -b.injections,
    upcalls: -b.upcalls,
    total: -b.total,
  };
  return addExits(a, minus);
}

/** console: one domain writing `bytes` of text. */
async function runConsole(v: Variant, sizes: WorkloadSizes, over: Overrides): Promise<FamilyRun> {
  const { sys, out, log } = newSystem();
  const cmdline = withOverrides(`bytes=${sizes.consoleBytes}`, over);
  await sys.addDomain({ name: 'console', image: imagePath('console', v), memBytes: 2 * MiB, vcpus: 1, cmdline });
  const report = await sys.run();
  const text = out['console'] ?? '';
  return {
    measures: [{ workload: 'console', ops: sizes.consoleBytes, opUnit: 'byte', exits: sumExits(sys), wallMs: report.wallMs, virtualNs: report.virtualTimeNs }],
    cmdlines: { console: cmdline },
    resultLines: { console: lastLine(text) },
    digests: { 'console text': { summary: `${text.length} chars, crc32 ${hex(crc32(text))}`, bytes: new TextEncoder().encode(text) } },
    problems: runProblems(`console ${v}`, report, log),
  };
}

/**
 * A disk image that notes when the blk workload moves from its sequential part to its random
 * reads: the first read after a read that reached the end of the written area. At that moment
 * it records the wall clock, the virtual time and the exits so far (the exit in progress may
 * fall on either side: one exit in thousands).
 */
class PhaseProbe implements DiskImage {
  private seqDone = false;
  /** Set at the first random read. */
  split: { wall: number; virtualNs: number; exits: ExitCounts } | undefined;
  constructor(
    private readonly inner: MemoryDiskImage,
    private readonly areaBytes: number,
    private readonly snapshot: () => { virtualNs: number; exits: ExitCounts },
  ) {}
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(offset: number, dst: Uint8Array): void {
    if (this.seqDone && this.split === undefined) this.split = { wall: performance.now(), ...this.snapshot() };
    if (offset + dst.length === this.areaBytes) this.seqDone = true;
    this.inner.read(offset, dst);
  }
  write(offset: number, src: Uint8Array): void {
    this.inner.write(offset, src);
  }
  zero(offset: number, len: number): void {
    this.inner.zero(offset, len);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): void {
    this.inner.close();
  }
}

/** blk: sequential write + verified read of `blkMb` MiB, then `blkReads` 4 KiB random reads; two rows. */
async function runBlk(v: Variant, sizes: WorkloadSizes, over: Overrides): Promise<FamilyRun> {
  const { sys, out, log } = newSystem();
  const cmdline = withOverrides(`mb=${sizes.blkMb} req=64 reads=${sizes.blkReads} seed=1`, over);
  const d = await sys.addDomain({ name: 'blk', image: imagePath('blk', v), memBytes: 2 * MiB, vcpus: 1, cmdline });
  const image = new MemoryDiskImage(sizes.blkMb * MiB);
  // Commit the image's pages now, untimed (see WHAT IS TIMED): filling writes every page.
  image.data.fill(0);
  const probe = new PhaseProbe(image, sizes.blkMb * MiB, () => ({ virtualNs: sys.hv.now, exits: exitsOf(sys.hv, d) }));
  if (v === 'fv') sys.plugLegacy(d, { disk: probe });
  else sys.attachDevice(d, new VirtioMmioDevice({ name: 'vda', backend: new VirtioBlk({ image: probe }), mem: d.mem, log: (l) => log.push(l) }));
  const t0 = performance.now();
  const report = await sys.run();
  const t1 = performance.now();
  const all = exitsOf(sys.hv, d);
  const problems = runProblems(`blk ${v}`, report, log);
  // Without random reads (or if the guest failed before them) the whole run is the sequential part.
  const split = probe.split ?? { wall: t1, virtualNs: report.virtualTimeNs, exits: all };
  if (probe.split === undefined && sizes.blkReads > 0 && problems.length === 0) problems.push(`blk ${v}: the random-read phase was never seen`);
  return {
    measures: [
      { workload: 'blk-seq', ops: 2 * sizes.blkMb * MiB, opUnit: 'byte', exits: split.exits, wallMs: split.wall - t0, virtualNs: split.virtualNs },
      {
        workload: 'blk-rand',
        ops: sizes.blkReads,
        opUnit: 'request',
        exits: subExits(all, split.exits),
        wallMs: t1 - split.wall,
        virtualNs: report.virtualTimeNs - split.virtualNs,
      },
    ],
    cmdlines: { blk: cmdline },
    resultLines: { blk: lastLine(out['blk']) },
    digests: { 'disk image': { summary: `${image.size} bytes, crc32 ${hex(crc32(image.data))}`, bytes: image.data } },
    problems,
  };
}

/** net: a sender and a sink on one switch, `netCount` frames of `size` bytes. */
async function runNet(v: Variant, size: number, sizes: WorkloadSizes, over: Overrides): Promise<FamilyRun> {
  const { sys, out, log } = newSystem();
  const sw = new VirtualSwitch('lan');
  const cmdlines: Record<string, string> = {};
  const ports: string[] = [];
  for (const [i, role] of (['sink', 'send'] as const).entries()) {
    const cmdline = withOverrides(`role=${role} count=${sizes.netCount} size=${size} seed=1`, over);
    cmdlines[role] = cmdline;
    const d = await sys.addDomain({ name: role, image: imagePath('net', v), memBytes: 4 * MiB, vcpus: 1, cmdline });
    const mac = localMac(i + 1, 0);
    if (v === 'fv') {
      sys.plugLegacy(d, { nic: { sw, mac } });
      ports.push(`${role}.ne0`);
    } else {
      const nic = new VirtioNet({ mac });
      nic.connect(sw, `${role}.net0`);
      sys.attachDevice(d, new VirtioMmioDevice({ name: 'net0', backend: nic, mem: d.mem, log: (l) => log.push(l) }));
      ports.push(`${role}.net0`);
    }
  }
  // DATA frames (kind 2 at byte 14) as forwarded, in order: identical bytes on both variants.
  // HELLO and ACK frames are left out: their number depends on timing and the sink's ring.
  let frames = 0;
  let frameCrc = 0;
  let tapMs = 0;
  sw.addTap((frame) => {
    if (frame.length <= 14 || frame[14] !== 2) return;
    const t = performance.now();
    frames++;
    frameCrc = crc32(frame, frameCrc);
    tapMs += performance.now() - t;
  });
  const report = await sys.run();
  return {
    measures: [
      { workload: size === 64 ? 'net-64' : 'net-1500', ops: sizes.netCount, opUnit: 'packet', exits: sumExits(sys), wallMs: report.wallMs - tapMs, virtualNs: report.virtualTimeNs },
    ],
    cmdlines,
    resultLines: { sink: lastLine(out['sink']), send: lastLine(out['send']) },
    // 150 MB of frames are not kept: their count and CRC-32 are compared (the sink checks every payload byte itself).
    digests: { 'data frames on the switch': { summary: `${frames} frames, crc32 ${hex(frameCrc)}` } },
    problems: runProblems(`net-${size} ${v}`, report, log),
  };
}

/** idle: ticks for `idleSeconds` virtual seconds. */
async function runIdle(v: Variant, sizes: WorkloadSizes, over: Overrides): Promise<FamilyRun> {
  const { sys, out, log } = newSystem();
  const cmdline = withOverrides(`seconds=${sizes.idleSeconds} hz=${sizes.idleHz}`, over);
  await sys.addDomain({ name: 'idle', image: imagePath('idle', v), memBytes: 2 * MiB, vcpus: 1, cmdline });
  const report = await sys.run();
  return {
    measures: [{ workload: 'idle', ops: sizes.idleSeconds * sizes.idleHz, opUnit: 'tick', exits: sumExits(sys), wallMs: report.wallMs, virtualNs: report.virtualTimeNs }],
    cmdlines: { idle: cmdline },
    resultLines: { idle: lastLine(out['idle']) },
    digests: {},
    problems: runProblems(`idle ${v}`, report, log),
  };
}

/** The runs needed for a selection of workloads: a family, or net at one frame size. */
interface RunSpec {
  key: string;
  workloads: WorkloadName[];
  run: (v: Variant, sizes: WorkloadSizes, over: Overrides) => Promise<FamilyRun>;
  family: Family;
}

function runSpecs(selected: readonly WorkloadName[]): RunSpec[] {
  const specs: RunSpec[] = [];
  const want = (w: WorkloadName): boolean => selected.includes(w);
  if (want('console')) specs.push({ key: 'console', workloads: ['console'], run: runConsole, family: 'console' });
  const blk = (['blk-seq', 'blk-rand'] as const).filter(want);
  if (blk.length > 0) specs.push({ key: 'blk', workloads: [...blk], run: runBlk, family: 'blk' });
  if (want('net-64')) specs.push({ key: 'net-64', workloads: ['net-64'], run: (v, s, e) => runNet(v, 64, s, e), family: 'net' });
  if (want('net-1500')) specs.push({ key: 'net-1500', workloads: ['net-1500'], run: (v, s, e) => runNet(v, 1500, s, e), family: 'net' });
  if (want('idle')) specs.push({ key: 'idle', workloads: ['idle'], run: runIdle, family: 'idle' });
  return specs;
}

function throughputOf(m: RunMeasure): { value: number; unit: PvVsFvRow['throughputUnit'] } {
  const s = m.wallMs / 1000;
  switch (m.opUnit) {
    case 'byte':
      return { value: m.ops / MiB / s, unit: 'MiB/s' };
    case 'request':
      return { value: m.ops / s, unit: 'req/s' };
    case 'packet':
      return { value: m.ops / s, unit: 'pkt/s' };
    case 'tick':
      return { value: m.exits.total / (m.virtualNs / 1e9), unit: 'exits/virtual s' };
  }
}

function rowOf(spec: RunSpec, v: Variant, run: FamilyRun, m: RunMeasure, model: CostModel): PvVsFvRow {
  const modeled = modeledNs(m.exits, model);
  const tp = throughputOf(m);
  const modeledByKindMs = {} as Record<ExitKind, number>;
  for (const k of EXIT_KINDS) modeledByKindMs[k] = modeled.byKind[k] / 1e6;
  return {
    workload: m.workload,
    variant: v,
    image: `${spec.family}-${v}.wasm`,
    cmdlines: run.cmdlines,
    ops: m.ops,
    opUnit: m.opUnit,
    exits: m.exits,
    exitsByKind: countsByKind(m.exits),
    exitsPerOp: m.exits.total / m.ops,
    wallMs: m.wallMs,
    wallMsReps: [m.wallMs],
    virtualMs: m.virtualNs / 1e6,
    modeledMs: modeled.totalNs / 1e6,
    modeledByKindMs,
    throughput: tp.value,
    throughputUnit: tp.unit,
    output: { resultLines: run.resultLines, digest: Object.entries(run.digests).map(([k, d]) => `${k}: ${d.summary}`).join('; ') },
  };
}

/** Compares what the two variants of one run produced. */
function compare(pv: FamilyRun, fv: FamilyRun): { compared: string[]; differences: IdentityCheck['differences'] } {
  const compared: string[] = [];
  const differences: IdentityCheck['differences'] = [];
  for (const dom of Object.keys(pv.resultLines)) {
    compared.push(`result line of ${dom}`);
    const a = pv.resultLines[dom]!;
    const b = fv.resultLines[dom] ?? '(no output)';
    if (a !== b) differences.push({ what: `result line of ${dom}`, pv: a, fv: b });
  }
  for (const what of Object.keys(pv.digests)) {
    compared.push(what);
    const a = pv.digests[what]!;
    const b = fv.digests[what];
    const same = b !== undefined && a.summary === b.summary && (a.bytes === undefined || b.bytes === undefined || Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.byteLength).equals(b.bytes));
    if (!same) differences.push({ what, pv: a.summary, fv: b?.summary ?? '(none)' });
  }
  return { compared, differences };
}

/** `a / b`, or null when b is 0 (JSON has no Infinity). */
const div = (a: number, b: number): number | null => (b === 0 ? null : a / b);

function ratioOf(workload: WorkloadName, pv: PvVsFvRow, fv: PvVsFvRow): PvVsFvRatio {
  return {
    workload,
    exitsPvOverFv: div(pv.exits.total, fv.exits.total),
    exitsPerOpReduction: div(fv.exitsPerOp, pv.exitsPerOp),
    wallSpeedup: div(fv.wallMs, pv.wallMs),
    modeledSpeedup: div(fv.modeledMs, pv.modeledMs),
    throughputGain: pv.opUnit === 'tick' ? div(fv.throughput, pv.throughput) : div(pv.throughput, fv.throughput),
  };
}

/** The issue's targets, evaluated for the workloads that ran. */
function targetsOf(ratios: PvVsFvRatio[]): TargetResult[] {
  const r = (w: WorkloadName): PvVsFvRatio | undefined => ratios.find((x) => x.workload === w);
  const out: TargetResult[] = [];
  const add = (id: string, text: string, value: number | null | undefined, op: '>=' | '<=', threshold: number): void => {
    if (value === undefined || value === null) return;
    out.push({ id, text, value, op, threshold, met: op === '>=' ? value >= threshold : value <= threshold });
  };
  add('console-wall', 'console: PV at least 50x faster in wall time than the 16550', r('console')?.wallSpeedup, '>=', 50);
  add('console-exits', 'console: PV takes at most 1/1000 of the 16550 exits', r('console')?.exitsPvOverFv, '<=', 1 / 1000);
  add('blk-seq-wall', 'blk-seq: PV at least 20x faster in wall time than ATA PIO', r('blk-seq')?.wallSpeedup, '>=', 20);
  add('net-1500-rate', 'net-1500: PV at least 10x the packet rate of the NE2000', r('net-1500')?.throughputGain, '>=', 10);
  add('idle-exits', "idle: PV exits per virtual second at most 1/5 of FV's", div(1, r('idle')?.throughputGain ?? 0), '<=', 1 / 5);
  return out;
}

/**
 * Runs the selected workloads both ways and compares them.
 * @returns every row, ratio, identity check and target; `ok` is false when the variants'
 *   results differ or a guest failed (the rows are still there, for the record).
 */
export async function runPvVsFv(opts: PvVsFvOptions = {}): Promise<PvVsFvResult> {
  const scale = opts.scale ?? 'full';
  const sizes = SIZES[scale];
  const model = opts.costModel ?? DEFAULT_COST_MODEL;
  const selected = opts.workloads ?? WORKLOAD_NAMES;
  const specs = runSpecs(selected);
  const warmup = opts.warmup ?? scale === 'full';
  const progress = opts.onProgress ?? (() => {});
  const overrides = (f: Family, v: Variant): Overrides => opts.cmdlineOverrides?.[f]?.[v] ?? {};
  const startedAt = new Date().toISOString();
  const reps = opts.reps ?? 1;
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`reps: ${reps} is not an integer >= 1`);
  const total = specs.length * 2 * reps;
  const repTag = (rep: number): string => (reps > 1 ? ` (${rep + 1}/${reps})` : '');

  if (warmup) {
    for (const spec of specs) {
      for (const v of ['pv', 'fv'] as const) {
        progress({ done: 0, total, phase: 'warmup', run: `${spec.key} ${v}` });
        await spec.run(v, SIZES.quick, {});
      }
    }
  }

  const rows: PvVsFvRow[] = [];
  const ratios: PvVsFvRatio[] = [];
  const checks: IdentityCheck[] = [];
  const failures: string[] = [];
  let done = 0;
  for (const spec of specs) {
    const runs: Record<Variant, FamilyRun[]> = { pv: [], fv: [] };
    const differences: IdentityCheck['differences'] = [];
    let compared: string[] = [];
    for (let rep = 0; rep < reps; rep++) {
      // Alternate which variant goes first, so a drift in the machine's speed favours neither.
      for (const v of rep % 2 === 0 ? (['pv', 'fv'] as const) : (['fv', 'pv'] as const)) {
        progress({ done, total, phase: 'start', run: `${spec.key} ${v}${repTag(rep)}` });
        const t = performance.now();
        const run = await spec.run(v, sizes, overrides(spec.family, v));
        runs[v].push(run);
        done++;
        progress({ done, total, phase: 'end', run: `${spec.key} ${v}${repTag(rep)}`, wallMs: performance.now() - t });
        if (rep === 0) failures.push(...run.problems);
      }
      const pair = compare(runs.pv[rep]!, runs.fv[rep]!);
      compared = pair.compared;
      for (const d of pair.differences) {
        if (!differences.some((x) => x.what === d.what && x.pv === d.pv && x.fv === d.fv)) differences.push(d);
      }
      // The compared bytes (a 64 MiB disk per variant) are not kept past their comparison.
      for (const v of ['pv', 'fv'] as const) for (const d of Object.values(runs[v][rep]!.digests)) delete d.bytes;
    }
    for (const w of spec.workloads) {
      const pair = {} as Record<Variant, PvVsFvRow>;
      for (const v of ['pv', 'fv'] as const) {
        const ms = runs[v].map((r) => r.measures.find((m) => m.workload === w)!);
        const first = ms[0]!;
        // Exits are deterministic: a repetition that counts differently is a bug worth failing on.
        if (ms.some((m) => m.exits.total !== first.exits.total)) failures.push(`${w} ${v}: exit counts differ between repetitions (${ms.map((m) => m.exits.total).join(', ')})`);
        const row = rowOf(spec, v, runs[v][0]!, { ...first, wallMs: median(ms.map((m) => m.wallMs)) }, model);
        row.wallMsReps = ms.map((m) => m.wallMs);
        pair[v] = row;
      }
      rows.push(pair.pv, pair.fv);
      ratios.push(ratioOf(w, pair.pv, pair.fv));
      checks.push({ workload: w, identical: differences.length === 0, compared, differences });
    }
    const named = spec.workloads.join(' and ');
    for (const d of differences) failures.push(`${named}: ${d.what} differs between the variants: pv "${d.pv}", fv "${d.fv}"`);
  }
  const c = cpus();
  return {
    schema: PV_VS_FV_SCHEMA,
    startedAt,
    host: { node: process.version, platform: platform(), arch: arch(), cpu: c[0]?.model ?? 'unknown', cpus: c.length },
    scale,
    sizes,
    warmup,
    reps,
    costModel: model,
    rows,
    ratios,
    checks,
    targets: targetsOf(ratios),
    ok: failures.length === 0,
    failures,
  };
}

// ---- text report ----

/** An integer with thousands separators. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A positive number with 3 significant digits (no exponent below 1e9); `0` as is. */
export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return '0';
  const a = Math.abs(n);
  if (a >= 1000) return fmtInt(n);
  if (a >= 1) {
    // Rounded to 3 digits first (999.6 → 1000), then printed without an exponent or trailing zeros.
    const r = Number(n.toPrecision(3));
    return Math.abs(r) >= 1000 ? fmtInt(r) : String(r);
  }
  return n.toPrecision(3);
}

/** A ratio above 1 as `×N`, below 1 as `1/N` (so 0.001 reads `1/1000`). */
export function fmtRatio(r: number | null): string {
  if (r === null) return 'n/a';
  if (!Number.isFinite(r) || r <= 0) return String(r);
  return r >= 1 ? `×${fmtNum(r)}` : `1/${fmtNum(1 / r)}`;
}

/** FV time / PV time as `×N faster` (N >= 1) or `×N slower`. */
export function fmtSpeedup(x: number | null): string {
  if (x === null) return 'n/a';
  if (!Number.isFinite(x) || x <= 0) return String(x);
  return x >= 1 ? `×${fmtNum(x)} faster` : `×${fmtNum(1 / x)} slower`;
}

const OP_UNIT_LABEL: Record<OpUnit, string> = { byte: 'bytes', request: 'reads', packet: 'packets', tick: 'ticks' };

function table(head: string[], rows: string[][], rightFrom = 2): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i >= rightFrom ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * The result as plain text: the main table (a PV row, an FV row and a PV/FV row per workload),
 * exits by kind, the identity checks and the issue's targets.
 */
export function formatPvVsFv(r: PvVsFvResult): string {
  const main: string[][] = [];
  for (const ratio of r.ratios) {
    for (const v of ['pv', 'fv'] as const) {
      const row = r.rows.find((x) => x.workload === ratio.workload && x.variant === v)!;
      main.push([
        v === 'pv' ? row.workload : '',
        v,
        `${fmtInt(row.ops)} ${OP_UNIT_LABEL[row.opUnit]}`,
        fmtInt(row.exits.total),
        fmtNum(row.exitsPerOp),
        fmtNum(row.wallMs),
        fmtNum(row.modeledMs),
        `${fmtNum(row.throughput)} ${row.throughputUnit}`,
      ]);
    }
    main.push(['', 'PV/FV', '', fmtRatio(ratio.exitsPvOverFv), fmtRatio(ratio.exitsPerOpReduction === null ? null : 1 / ratio.exitsPerOpReduction), fmtSpeedup(ratio.wallSpeedup), fmtSpeedup(ratio.modeledSpeedup), ratio.throughputGain === null ? 'n/a' : `×${fmtNum(ratio.throughputGain)}`]);
  }
  const out = [
    `pv-vs-fv: ${r.scale} scale, ${r.reps > 1 ? `wall time the median of ${r.reps} runs, ` : ''}cost model "${r.costModel.name}" (${r.costModel.cpuGhz} GHz), ${r.host.cpu} ×${r.host.cpus}, node ${r.host.node}`,
    '',
    table(['workload', 'variant', 'ops', 'exits', 'exits/op', 'wall ms', 'modeled ms', 'throughput'], main),
    '',
    'Exits by kind:',
    table(
      ['workload', 'variant', ...EXIT_KINDS],
      r.rows.map((row) => [row.workload, row.variant, ...EXIT_KINDS.map((k) => fmtInt(row.exitsByKind[k]))]),
    ),
    '',
    'Same results on both variants:',
    ...r.checks.map((c) => `  ${c.workload}: ${c.identical ? 'identical' : 'DIFFERENT'} (${c.compared.join(', ')})`),
  ];
  if (r.targets.length > 0) {
    out.push('', 'Targets (issue 4):');
    for (const t of r.targets) {
      const shown = t.op === '<=' && t.value < 1 ? fmtRatio(t.value) : fmtNum(t.value);
      const want = t.op === '<=' && t.threshold < 1 ? fmtRatio(t.threshold) : fmtNum(t.threshold);
      out.push(`  ${t.met ? 'met    ' : 'NOT met'}  ${t.text}: ${shown} (want ${t.op} ${want})`);
    }
  }
  if (r.failures.length > 0) out.push('', 'FAILED:', ...r.failures.map((f) => `  ${f}`));
  return `${out.join('\n')}\n`;
}
