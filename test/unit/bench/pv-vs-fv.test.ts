/**
 * `pvisor bench pv-vs-fv` at the quick scale: every workload both ways, the JSON against its
 * schema, the identity check (it must fail when the variants are made to differ), the SVG, the
 * progress output and the CLI's errors. No timing is asserted: wall times are whatever they are.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { modeledNs, DEFAULT_COST_MODEL, EXIT_KINDS } from '../../../src/bench/cost-model.ts';
import { addExits, exitsOf } from '../../../src/bench/exits.ts';
import { System } from '../../../src/control/system.ts';
import { VirtioBlk } from '../../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';
import { progressLine, progressReporter, REDRAW_MS } from '../../../src/bench/progress.ts';
import {
  fmtNum,
  fmtRatio,
  formatPvVsFv,
  PV_VS_FV_SCHEMA,
  runPvVsFv,
  SIZES,
  WORKLOAD_NAMES,
  type PvVsFvProgress,
  type PvVsFvResult,
} from '../../../src/bench/pv-vs-fv.ts';
import { parseWorkloads } from '../../../src/bench/pv-vs-fv-workloads.ts';
import { pvVsFvSvg } from '../../../src/bench/svg.ts';
import { parseArgs } from '../../../src/cli/args.ts';
import { runBench } from '../../../src/cli/bench.ts';
import type { CliIo } from '../../../src/cli/cli.ts';
import { pvisor } from '../../support/cli.ts';
import { BENCH } from '../../../src/cli/commands.ts';

const schema = JSON.parse(readFileSync(new URL('../../../src/bench/pv-vs-fv.schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true }).compile(schema);

/** The result as --json writes it (through JSON, so undefined and class instances are gone). */
const asJson = (r: PvVsFvResult): unknown => JSON.parse(JSON.stringify(r));


describe('runPvVsFv at the quick scale, every workload', () => {
  let r: PvVsFvResult;
  const events: PvVsFvProgress[] = [];
  beforeAll(async () => {
    r = await runPvVsFv({ scale: 'quick', onProgress: (p) => events.push(p) });
  });

  it('runs every workload both ways, with identical results, and reports ok', () => {
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.rows.map((x) => `${x.workload}/${x.variant}`)).toEqual(WORKLOAD_NAMES.flatMap((w) => [`${w}/pv`, `${w}/fv`]));
    expect(r.ratios.map((x) => x.workload)).toEqual([...WORKLOAD_NAMES]);
    for (const c of r.checks) {
      expect(c.identical, c.workload).toBe(true);
      expect(c.differences, c.workload).toEqual([]);
    }
    // What is compared, per workload: the result lines and the bytes behind them.
    const compared = Object.fromEntries(r.checks.map((c) => [c.workload, c.compared]));
    expect(compared['console']).toContain('console text');
    expect(compared['blk-seq']).toContain('disk image');
    expect(compared['net-1500']).toEqual(['result line of sink', 'result line of send', 'data frames on the switch']);
  });

  it('prints the same result lines on both variants, and they are the workloads\' own lines', () => {
    const q = SIZES.quick;
    for (const w of WORKLOAD_NAMES) {
      const pv = r.rows.find((x) => x.workload === w && x.variant === 'pv')!;
      const fv = r.rows.find((x) => x.workload === w && x.variant === 'fv')!;
      expect(pv.output, w).toEqual(fv.output);
    }
    const line = (w: string) => r.rows.find((x) => x.workload === w)!.output.resultLines;
    expect(line('console')['console']).toMatch(new RegExp(`^console: wrote ${q.consoleBytes} bytes, crc32 0x[0-9a-f]{8}$`));
    expect(line('blk-seq')['blk']).toMatch(new RegExp(`^blk: wrote ${q.blkMb} MiB, read ${q.blkMb} MiB, .* ${q.blkReads} random reads`));
    expect(line('net-64')['sink']).toMatch(new RegExp(`^net: received ${q.netCount} frames of 64 bytes in order`));
    expect(line('idle')['idle']).toBe(`idle: ${q.idleSeconds * q.idleHz} ticks at ${q.idleHz} Hz (${q.idleSeconds} s)`);
    expect(r.rows.find((x) => x.workload === 'net-64')!.output.digest).toBe(`data frames on the switch: ${q.netCount} frames, crc32 ${r.rows.find((x) => x.workload === 'net-64')!.output.digest.slice(-8)}`);
  });

  it('derives every row figure from its exit counts, ops and times', () => {
    for (const row of r.rows) {
      const tag = `${row.workload}/${row.variant}`;
      const byKind = EXIT_KINDS.reduce((s, k) => s + row.exitsByKind[k], 0);
      expect(byKind, tag).toBe(row.exits.total);
      expect(row.exitsPerOp, tag).toBeCloseTo(row.exits.total / row.ops, 12);
      expect(row.modeledMs, tag).toBeCloseTo(modeledNs(row.exits, DEFAULT_COST_MODEL).totalNs / 1e6, 9);
      expect(row.wallMs, tag).toBeGreaterThan(0);
      expect(row.virtualMs, tag).toBeGreaterThan(0);
    }
    const ops = Object.fromEntries(r.rows.map((x) => [x.workload, x.ops]));
    const q = SIZES.quick;
    expect(ops).toEqual({
      console: q.consoleBytes,
      'blk-seq': 2 * q.blkMb * 1024 * 1024,
      'blk-rand': q.blkReads,
      'net-64': q.netCount,
      'net-1500': q.netCount,
      idle: q.idleSeconds * q.idleHz,
    });
    for (const ratio of r.ratios) {
      const pv = r.rows.find((x) => x.workload === ratio.workload && x.variant === 'pv')!;
      const fv = r.rows.find((x) => x.workload === ratio.workload && x.variant === 'fv')!;
      expect(ratio.exitsPvOverFv).toBeCloseTo(pv.exits.total / fv.exits.total, 12);
      expect(ratio.wallSpeedup).toBeCloseTo(fv.wallMs / pv.wallMs, 12);
      expect(ratio.modeledSpeedup).toBeCloseTo(fv.modeledMs / pv.modeledMs, 12);
    }
  });

  it('counts each variant on its own devices: PV by hypercall and MMIO, FV by port I/O', () => {
    for (const row of r.rows) {
      const tag = `${row.workload}/${row.variant}`;
      if (row.variant === 'pv') {
        expect(row.exitsByKind.pio + row.exitsByKind.halt + row.exitsByKind.injection, tag).toBe(0);
        expect(row.exitsByKind.hypercall + row.exitsByKind.mmio, tag).toBeGreaterThan(0);
      } else {
        expect(row.exitsByKind.hypercall + row.exitsByKind.mmio + row.exitsByKind.upcall, tag).toBe(0);
        expect(row.exitsByKind.pio + row.exitsByKind.halt, tag).toBeGreaterThan(0);
      }
    }
    // blk is split exactly at the first random read. ATA moves up to 16 sectors per string
    // operation: IDENTIFY + (write + read) of 1 MiB in 8 KiB blocks before the split, one 4 KiB
    // block per random read after it.
    const q = SIZES.quick;
    const seq = r.rows.find((x) => x.workload === 'blk-seq' && x.variant === 'fv')!;
    const rand = r.rows.find((x) => x.workload === 'blk-rand' && x.variant === 'fv')!;
    expect(seq.exits.pio['ata0-data']).toBe(1 + (2 * q.blkMb * 1024) / 8);
    expect(rand.exits.pio['ata0-data']).toBe(q.blkReads);
    expect(rand.exits.pioItems['ata0-data']).toBe(q.blkReads * 2048);
    const randPv = r.rows.find((x) => x.workload === 'blk-rand' && x.variant === 'pv')!;
    expect(randPv.exits.mmio['vda']).toBeGreaterThan(0);
  });

  it('splits the blk run without losing or doubling an exit: the two rows add up to a whole run', async () => {
    const q = SIZES.quick;
    for (const v of ['pv', 'fv'] as const) {
      const sys = new System({ seed: 1, console: () => {} });
      const d = await sys.addDomain({ name: 'blk', image: fileURLToPath(new URL(`../../../guest-kit/workloads/blk-${v}.wasm`, import.meta.url)), memBytes: 2 << 20, vcpus: 1, cmdline: `mb=${q.blkMb} req=64 reads=${q.blkReads} seed=1` });
      const image = new MemoryDiskImage(q.blkMb << 20);
      if (v === 'fv') sys.plugLegacy(d, { disk: image });
      else sys.attachDevice(d, new VirtioMmioDevice({ name: 'vda', backend: new VirtioBlk({ image }), mem: d.mem }));
      expect((await sys.run()).ok, v).toBe(true);
      const whole = exitsOf(sys.hv, d);
      const parts = r.rows.filter((x) => x.variant === v && x.workload.startsWith('blk-')).map((x) => x.exits);
      expect(parts.length, v).toBe(2);
      expect(addExits(parts[0]!, parts[1]!), v).toEqual(whole);
    }
  });

  it('writes JSON that its schema accepts, and the schema is not vacuous', () => {
    const json = asJson(r) as Record<string, unknown>;
    expect(json['schema']).toBe(PV_VS_FV_SCHEMA);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    for (const broken of [
      { ...json, schema: 'pvisor-bench-pv-vs-fv/0' },
      { ...json, rows: [{ ...(json['rows'] as object[])[0], variant: 'hvm' }] },
      { ...json, rows: [{ ...(json['rows'] as object[])[0], wallMs: -1 }] },
      { ...json, extra: 1 },
      Object.fromEntries(Object.entries(json).filter(([k]) => k !== 'ratios')),
    ]) {
      expect(validate(broken)).toBe(false);
    }
  });

  it('draws one bar per row and panel, with a title, a legend and axis labels', () => {
    const svg = pvVsFvSvg(r);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const bars = [...svg.matchAll(/<rect class="bar" data-workload="([^"]+)" data-variant="(pv|fv)"/g)];
    expect(bars.length).toBe(r.rows.length * 3);
    for (const row of r.rows) expect(bars.filter((b) => b[1] === row.workload && b[2] === row.variant).length).toBe(3);
    for (const text of ['PV (paravirtual)', 'FV (emulated legacy devices)', 'exits per run (log scale)', 'Wall time', 'Modeled exit time']) expect(svg).toContain(text);
    // Balanced tags: every opened element is closed (a cheap well-formedness check).
    const opened = [...svg.matchAll(/<([a-z]+)[\s>]/g)].length;
    const selfClosed = [...svg.matchAll(/\/>/g)].length;
    const closed = [...svg.matchAll(/<\/[a-z]+>/g)].length;
    expect(opened).toBe(selfClosed + closed);
  });

  it('formats a table with a PV, an FV and a PV/FV row per workload', () => {
    const text = formatPvVsFv(r);
    const lines = text.split('\n');
    expect(lines.filter((l) => /^\s+PV\/FV\s/.test(l)).length).toBe(WORKLOAD_NAMES.length);
    for (const w of WORKLOAD_NAMES) expect(lines.some((l) => l.startsWith(`${w} `) && / pv /.test(l)), w).toBe(true);
    expect(text).toContain('Same results on both variants:');
    expect(text).not.toContain('FAILED');
  });

  it('reports progress: a start and an end per run, done counting up to the total', () => {
    const ends = events.filter((e) => e.phase === 'end');
    expect(ends.length).toBe(10); // blk-seq and blk-rand share a run
    expect(ends.map((e) => e.done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(events.every((e) => e.total === 10)).toBe(true);
    expect(events.some((e) => e.phase === 'warmup')).toBe(false); // no warm-up at the quick scale
  });
});

describe('the identity check', () => {
  it('fails the run and names the workload and both lines when the variants differ', async () => {
    const r = await runPvVsFv({ scale: 'quick', workloads: ['idle'], cmdlineOverrides: { idle: { fv: { seconds: '2' } } } });
    expect(r.ok).toBe(false);
    const check = r.checks.find((c) => c.workload === 'idle')!;
    expect(check.identical).toBe(false);
    expect(check.differences).toEqual([{ what: 'result line of idle', pv: 'idle: 20 ticks at 20 Hz (1 s)', fv: 'idle: 40 ticks at 20 Hz (2 s)' }]);
    expect(r.failures).toEqual(['idle: result line of idle differs between the variants: pv "idle: 20 ticks at 20 Hz (1 s)", fv "idle: 40 ticks at 20 Hz (2 s)"']);
    expect(formatPvVsFv(r)).toContain('idle: DIFFERENT');
    expect(validate(asJson(r)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('compares the bytes, not only the lines: a different disk pattern is caught', async () => {
    const r = await runPvVsFv({ scale: 'quick', workloads: ['blk-seq'], cmdlineOverrides: { blk: { pv: { seed: '2' } } } });
    expect(r.ok).toBe(false);
    const what = r.checks[0]!.differences.map((d) => d.what);
    expect(what).toEqual(['result line of blk', 'disk image']);
    expect(r.rows.map((x) => x.workload)).toEqual(['blk-seq', 'blk-seq']);
  });

  it('reports a guest that fails (exit code 2 for a bad command line) as a failure of the run', async () => {
    const r = await runPvVsFv({ scale: 'quick', workloads: ['blk-rand'], cmdlineOverrides: { blk: { fv: { req: '3' } } } });
    expect(r.ok).toBe(false);
    expect(r.failures).toContain('blk fv: domain blk ended {"kind":"poweroff","code":2}');
    expect(r.checks[0]!.differences[0]).toEqual({ what: 'result line of blk', pv: expect.stringMatching(/^blk: wrote 1 MiB/), fv: 'blk: mb must be > 0 and req 4..1024 KiB, a multiple of 4' });
  });
});

describe('repetitions', () => {
  it('runs each variant reps times, PV and FV taking turns to go first, and reports the median wall time', async () => {
    const events: PvVsFvProgress[] = [];
    const r = await runPvVsFv({ scale: 'quick', workloads: ['idle'], reps: 3, onProgress: (p) => events.push(p) });
    expect(r.ok).toBe(true);
    expect(r.reps).toBe(3);
    expect(events.filter((e) => e.phase === 'end').map((e) => e.run)).toEqual([
      'idle pv (1/3)',
      'idle fv (1/3)',
      'idle fv (2/3)',
      'idle pv (2/3)',
      'idle pv (3/3)',
      'idle fv (3/3)',
    ]);
    expect(events.every((e) => e.total === 6)).toBe(true);
    for (const row of r.rows) {
      expect(row.wallMsReps).toHaveLength(3);
      expect(row.wallMs).toBe([...row.wallMsReps].sort((a, b) => a - b)[1]);
    }
    expect(validate(asJson(r)), JSON.stringify(validate.errors)).toBe(true);
    expect(formatPvVsFv(r)).toContain('wall time the median of 3 runs');
  });

  it('refuses a count that is not a whole number >= 1', async () => {
    await expect(runPvVsFv({ scale: 'quick', workloads: ['idle'], reps: 0 })).rejects.toThrow('reps: 0 is not an integer >= 1');
  });
});

describe('workload names', () => {
  it('accepts names and comma lists, in run order without repeats', () => {
    expect(parseWorkloads(['idle,console', 'console'])).toEqual(['console', 'idle']);
    expect(parseWorkloads([' net-64 , blk-rand '])).toEqual(['blk-rand', 'net-64']);
  });
  it('names every unknown workload and the valid ones', () => {
    expect(() => parseWorkloads(['console,disk,net'])).toThrow('unknown workloads "disk", "net"; valid: console, blk-seq, blk-rand, net-64, net-1500, idle');
    expect(() => parseWorkloads([','])).toThrow('no workload named');
  });
});

describe('progress output', () => {
  it('draws a bar in place on a terminal and clears it at the end', () => {
    let s = '';
    let t = 0;
    const rep = progressReporter((x) => void (s += x), true, () => (t += 500));
    rep.onProgress({ done: 3, total: 12, phase: 'start', run: 'net-64 fv' });
    rep.finish();
    expect(s).toBe('\r\x1b[K[######------------------]  3/12  running net-64 fv  0.5 s\r\x1b[K');
    expect(progressLine({ done: 12, total: 12, phase: 'end', run: 'idle fv' }, 0)).toBe(`[${'#'.repeat(24)}] 12/12  done idle fv  0.0 s`);
  });
  it('on a terminal, redraws the clock during a long run and stops at finish', () => {
    vi.useFakeTimers();
    try {
      const lines: string[] = [];
      const rep = progressReporter((x) => void lines.push(x), true, () => Date.now());
      rep.onProgress({ done: 9, total: 10, phase: 'start', run: 'net-1500 fv' });
      vi.advanceTimersByTime(2 * REDRAW_MS);
      expect(lines.length).toBe(3);
      expect(lines[2]).toBe('\r\x1b[K[######################--]  9/10  running net-1500 fv  0.5 s');
      rep.finish();
      vi.advanceTimersByTime(4 * REDRAW_MS);
      expect(lines.length).toBe(4);
      expect(lines[3]).toBe('\r\x1b[K');
    } finally {
      vi.useRealTimers();
    }
  });
  it('writes one plain line per finished run otherwise', () => {
    let s = '';
    const rep = progressReporter((x) => void (s += x), false);
    rep.onProgress({ done: 0, total: 2, phase: 'warmup', run: 'idle pv' });
    rep.onProgress({ done: 0, total: 2, phase: 'warmup', run: 'idle fv' });
    rep.onProgress({ done: 0, total: 2, phase: 'start', run: 'idle pv' });
    rep.onProgress({ done: 1, total: 2, phase: 'end', run: 'idle pv', wallMs: 1234 });
    rep.finish();
    expect(s).toBe('pvisor: bench: warming up (every workload once at the quick scale, untimed)\npvisor: bench: 1/2 idle pv done in 1.23 s\n');
  });
});

describe('pvisor bench', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pvisor-bench-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is listed in the main help and has complete help of its own', async () => {
    expect((await pvisor('--help')).out).toMatch(/\n {2}bench +run a benchmark/);
    const h = await pvisor('bench', '--help');
    expect(h.status).toBe(0);
    for (const f of ['--workload', '--json', '--svg', '--cost-model', '--quick', '--reps']) expect(h.out).toContain(f);
    expect(h.out).toContain('pvisor bench pv-vs-fv --workload console,net-1500 --quick');
  });

  it('exits 2 naming the valid workloads for an unknown one', async () => {
    const r = await pvisor('bench', 'pv-vs-fv', '--workload', 'console,disk');
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('pvisor: --workload: unknown workload "disk"; valid: console, blk-seq, blk-rand, net-64, net-1500, idle');
    expect(r.err).toContain('see "pvisor bench --help"');
  });

  it('exits 2 without a benchmark name, for an unknown one, and for a bad cost model or output path', async () => {
    expect((await pvisor('bench')).err).toContain('bench needs the name of a benchmark: pv-vs-fv');
    expect((await pvisor('bench', 'pv-vs-hvm')).err).toContain('unknown benchmark "pv-vs-hvm"; benchmarks: pv-vs-fv');
    const cm = await pvisor('bench', 'pv-vs-fv', '--cost-model', '{"name":"x","cpuGhz":0,"source":"s","kinds":{}}');
    expect(cm.status).toBe(2);
    expect(cm.err).toContain('--cost-model cost model: cpuGhz: 0 is not a number > 0');
    for (const bad of ['0', '21', '2.5', 'x']) {
      const reps = await pvisor('bench', 'pv-vs-fv', '--reps', bad);
      expect(reps.status, bad).toBe(2);
      expect(reps.err, bad).toContain(`--reps: "${bad}" is not a whole number from 1 to 20`);
    }
    const missing = await pvisor('bench', 'pv-vs-fv', '--cost-model', join(dir, 'nope.json'));
    expect(missing.err).toContain('cannot read it (ENOENT)');
    const out = await pvisor('bench', 'pv-vs-fv', '--quick', '--json', join(dir, 'no', 'such', 'dir.json'));
    expect(out.status).toBe(2);
    expect(out.err).toContain('--json: cannot write');
  });

  it('runs, prints the table on stdout, progress on stderr, and writes valid JSON and an SVG', async () => {
    const json = join(dir, 'r.json');
    const svg = join(dir, 'r.svg');
    const r = await pvisor('bench', 'pv-vs-fv', '--quick', '--workload', 'console', '--workload', 'idle', '--json', json, '--svg', svg);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^pv-vs-fv: quick scale/);
    expect(r.out).not.toContain('pvisor: bench:');
    expect(r.err).toContain('pvisor: bench: 4/4 idle fv done in');
    const written = JSON.parse(readFileSync(json, 'utf8')) as PvVsFvResult;
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true);
    expect(written.rows.map((x) => x.workload)).toEqual(['console', 'console', 'idle', 'idle']);
    expect([...readFileSync(svg, 'utf8').matchAll(/<rect class="bar"/g)].length).toBe(4 * 3);
  });
});

describe('runBench when the variants differ', () => {
  it('exits 1 and names the workload and both lines on stderr, after printing the table', async () => {
    let out = '';
    let err = '';
    const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t) };
    const args = parseArgs(['pv-vs-fv', '--quick', '--workload', 'console'], BENCH.flags, 'pvisor bench');
    const status = await runBench(args, io, { tty: false, cmdlineOverrides: { console: { pv: { bytes: '1000' } } } });
    expect(status).toBe(1);
    expect(out).toContain('console: DIFFERENT');
    expect(err).toMatch(/pvisor: bench pv-vs-fv: console: result line of console differs between the variants: pv "console: wrote 1000 bytes, crc32 0x[0-9a-f]{8}", fv "console: wrote 16384 bytes, crc32 0x[0-9a-f]{8}"/);
    expect(err).toContain('pvisor: bench pv-vs-fv: console: console text differs between the variants');
  });
});

describe('number formatting', () => {
  it('writes fractions as 1/N and gains as ×N', () => {
    expect(fmtRatio(0.001)).toBe('1/1,000');
    expect(fmtRatio(18.16)).toBe('×18.2');
    expect(fmtRatio(null)).toBe('n/a');
    expect([100.4, 2.5, 10, 999.6, 1234.5, 0.000123].map(fmtNum)).toEqual(['100', '2.5', '10', '1,000', '1,235', '0.000123']);
  });
});
