/**
 * `npm run bench:control` — the toolstack's control path: how fast domains come and go, how many
 * tiny ones one host holds, and what one costs. Each figure has a baseline taken in the same run
 * (the machine is shared and noisy, so ratios mean more than absolute numbers).
 *
 * 1. create → first console byte → destroy. A cycle creates a domain from `hello.wasm` (7 KB;
 *    prints its command line and powers off) with the smallest memory the image accepts, runs it
 *    until it has powered off, and lets it go. Timed with `performance.now()` from before the
 *    create to the console callback (first byte) and to the end of the run (cycle).
 *    - Into a LONG-LIVED `System`, as a host toolstack does: `addDomain` after the previous run
 *      ended, `run()` again, then `System.destroyDomain` (removes it from the hypervisor, the
 *      scheduler and the engine, so its memory is garbage). Cycles/s is total wall time over
 *      back-to-back cycles, the collector's work included.
 *    - Beside it, a FRESH `System` per cycle (new hypervisor and engine; destroy = dropping it),
 *      which adds system setup.
 *    - Cold first cycles, reported apart: instrumentation uncached (empty cache directory and
 *      in-process cache cleared: binaryen instruments, then V8 compiles), and on-disk cache only
 *      (in-process cache cleared: read, check, compile). The warm cycles then find the compiled
 *      module in the process ("instrumentation cached", the target's condition).
 *    - Floor: a bare `new WebAssembly.Memory` (shared, same size) plus `new WebAssembly.Instance`
 *      of the same compiled module, with stub imports, not run — what any create must do at least.
 * 2. Concurrent tiny domains: for N in BENCH_DOMAINS, N/2 pingpong pairs (`role=ping`/`pong`,
 *    `count=1`, smallest memory) created in one System and run together: each pong answers one
 *    ping (an event round trip over an inter-domain channel), each ping powers off only once
 *    answered. Reported: whether all answered (every domain powered off with 0 and printed its
 *    line), how many were alive when the first answer was printed, wall time (create, run),
 *    and host memory per domain — deltas of `process.memoryUsage()` from before the System to
 *    after the run (every domain instantiated, all still referenced), divided by N: RSS, and
 *    heapUsed + external + arrayBuffers (V8 counts no shared Wasm memory there: guest memory
 *    shows in RSS only, as the pages the guest and host touched). Each N runs in a fresh child
 *    process started with `--expose-gc`, after an untimed warm-up pair, and the collector runs
 *    before each sample, so one N's garbage is not in the next one's figures.
 * 3. Messaging. The bare primitive: the event-channel round trip (pingpong with BENCH_ROUNDS
 *    round trips; per round trip: send, block, wake, reply), beside a bare Wasm→JS import call.
 *    The guest kit's messaging library (pvisor/msg.h), run by the `msg` example between two
 *    domains:
 *    - sync: BENCH_ROUNDS `pv_msg_call`s of 64 bytes (`mode=sync`; per call: one grant_copy
 *      batch for the request, a notification, the server's reply the same way, the client's
 *      sched_poll). Wall time per call is the run's wall time over the calls (boot amortised);
 *      the virtual median and p99 are what the client measured per call in system time.
 *    - async: `mode=async` runs of BENCH_MSG_MB MiB in 64-byte and in 4000-byte messages (16-frame
 *      ring: 64 KiB), the server checksumming what it receives; wall MiB/s is the payload over the
 *      run's wall time (boot included), beside the virtual rate the client printed and the number
 *      of grant_copy calls the sender made. Copies cost no virtual time (the host's copy and the
 *      guest's bulk-memory memcpy are not fuel), so the virtual rate mostly measures the receiver's
 *      checksum loop; the wall rate is where the host's grant_copy cost shows.
 *    Both beside the raw copy bandwidth (`Uint8Array.set` of 64 KiB from one guest memory into
 *    another's), the floor of what any copy between two Wasm memories costs.
 *
 * Env: BENCH_CYCLES (warm fresh-System cycles per rep, default 200), BENCH_REPS (5),
 * BENCH_DOMAINS ("100,300,1000"),
 * BENCH_ROUNDS (20000 round trips and sync calls per rep), BENCH_COPY_MB (256), BENCH_MSG_MB (32).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import wabtInit from 'wabt';
import { System } from '../src/control/system.ts';
import { clearInProcessCache, compileGuest } from '../src/engine/cache.ts';
import { inspectGuest } from '../src/engine/loader.ts';
import { reservedBytes, WASM_PAGE } from '../src/hv/index.ts';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 200);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const DOMAINS = (process.env.BENCH_DOMAINS ?? '100,300,1000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20_000);
const COPY_MB = Number(process.env.BENCH_COPY_MB ?? 256);
const MSG_MB = Number(process.env.BENCH_MSG_MB ?? 32);
const MiB = 1024 * 1024;
/** Argument that makes this script a child running one concurrency measurement (see concurrentInChild). */
const CHILD_FLAG = '--concurrent-child';
const childAt = process.argv.indexOf(CHILD_FLAG);
const childN = childAt >= 0 ? Number(process.argv[childAt + 1]) : undefined;
for (const n of DOMAINS) if (!Number.isInteger(n) || n < 2 || n % 2 !== 0) throw new Error(`BENCH_DOMAINS: ${n} is not an even number >= 2 (domains come in ping/pong pairs)`);

const gc = (globalThis as { gc?: () => void }).gc;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
}

function example(name: string): Uint8Array {
  return new Uint8Array(readFileSync(path.resolve(import.meta.dirname, '../guest-kit/examples', `${name}.wasm`)));
}

/** The smallest memory `image` accepts with one vCPU: its data and stack plus the host's reserved area. */
function smallestMemory(image: Uint8Array, name: string): number {
  const info = inspectGuest(image, name);
  return Math.ceil((info.memory.minPages * WASM_PAGE + reservedBytes(1)) / WASM_PAGE) * WASM_PAGE;
}

const hello = example('hello');
const helloMem = smallestMemory(hello, 'hello');
const pingpong = example('pingpong');
const pingpongMem = smallestMemory(pingpong, 'pingpong');
const msg = example('msg');
/** The msg client keeps one u32 per sync call for its percentiles: room for BENCH_ROUNDS of them. */
const msgMem = Math.ceil((smallestMemory(msg, 'msg') + 4 * ROUNDS + 512 * 1024) / WASM_PAGE) * WASM_PAGE;

// -------------------------------------------------------------------------------------------------
// 1. create -> first console byte -> destroy

interface Cycle {
  /** performance.now() before create to the first console callback, ms. */
  firstMs: number;
  /** Before create to the end of the run (domain powered off), ms. */
  cycleMs: number;
}

/** One cycle on a fresh System (created, run, dropped). */
async function freshCycle(cacheDir?: string): Promise<Cycle> {
  let first = -1;
  const t0 = performance.now();
  const sys = new System({
    seed: 1,
    console: () => {
      if (first < 0) first = performance.now();
    },
    ...(cacheDir !== undefined ? { cacheDir } : {}),
  });
  await sys.addDomain({ name: 'tiny', image: hello, memBytes: helloMem, vcpus: 1, cmdline: 'hi' });
  const r = await sys.run();
  const t1 = performance.now();
  if (!r.ok || first < 0) throw new Error(`hello cycle failed: ${JSON.stringify(r.domains.map((d) => d.outcome))}`);
  return { firstMs: first - t0, cycleMs: t1 - t0 };
}

/** One cycle into a long-lived System: create, run until it powered off, destroy. */
async function hostCycle(sys: System, first: { at: number }): Promise<Cycle> {
  first.at = -1;
  const t0 = performance.now();
  const d = await sys.addDomain({ name: 'tiny', image: hello, memBytes: helloMem, vcpus: 1, cmdline: 'hi' });
  await sys.run();
  if (d.state !== 'shutdown' || d.shutdownCode !== 0 || first.at < 0) throw new Error(`hello cycle in a long-lived System failed (state ${d.state})`);
  sys.destroyDomain(d);
  return { firstMs: first.at - t0, cycleMs: performance.now() - t0 };
}

/** Floor: a shared memory of the same size and an instance of the compiled module, not run. */
function bareInstantiate(module: WebAssembly.Module): number {
  const t0 = performance.now();
  const memory = new WebAssembly.Memory({ initial: helloMem / WASM_PAGE, maximum: helloMem / WASM_PAGE, shared: true });
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    (imports[imp.module] ??= {})[imp.name] = imp.kind === 'memory' ? memory : () => 0;
  }
  new WebAssembly.Instance(module, imports);
  return performance.now() - t0;
}

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} us` : `${ms.toFixed(2)} ms`);

/** Section 1: measures and prints create -> first byte -> destroy. */
async function createCycles(): Promise<void> {
  const coldDir = mkdtempSync(path.join(os.tmpdir(), 'pvisor-bench-control-'));
  let cold: Cycle;
  let diskCached: Cycle;
  try {
    clearInProcessCache();
    cold = await freshCycle(coldDir);
    clearInProcessCache();
    diskCached = await freshCycle(coldDir);
  } finally {
    rmSync(coldDir, { recursive: true, force: true });
  }
  // From here on the compiled module is in the process (the default cache dir is not touched).
  const helloModule = compileGuest(hello);

  const first = { at: -1 };
  const sys = new System({
    seed: 1,
    console: () => {
      if (first.at < 0) first.at = performance.now();
    },
  });
  const host: Cycle[] = [];
  const hostPerSec: number[] = [];
  const warm: Cycle[] = [];
  const cyclesPerSec: number[] = [];
  const floorMs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    let t0 = performance.now();
    for (let i = 0; i < CYCLES; i++) host.push(await hostCycle(sys, first));
    hostPerSec.push((CYCLES * 1000) / (performance.now() - t0));
    t0 = performance.now();
    for (let i = 0; i < CYCLES; i++) warm.push(await freshCycle());
    cyclesPerSec.push((CYCLES * 1000) / (performance.now() - t0));
    for (let i = 0; i < CYCLES; i++) floorMs.push(bareInstantiate(helloModule));
  }
  if (sys.hv.domains.length !== 0) throw new Error(`${sys.hv.domains.length} domains left in the long-lived System after destroy`);

  console.log(`== create -> first console byte -> destroy  (hello.wasm, ${helloMem / 1024} KiB, 1 vCPU)`);
  console.log(`cold: instrumentation uncached      first byte ${fmt(cold.firstMs)}, cycle ${fmt(cold.cycleMs)}`);
  console.log(`cold: on-disk cache, not in process  first byte ${fmt(diskCached.firstMs)}, cycle ${fmt(diskCached.cycleMs)}`);
  const hFirst = host.map((c) => c.firstMs);
  const hCycle = host.map((c) => c.cycleMs);
  const perSec = (xs: number[]) => `median ${median(xs).toFixed(0)}/s over reps (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`long-lived System: create, run, System.destroyDomain, ${REPS} reps x ${CYCLES} cycles:`);
  console.log(`  first byte after create           median ${fmt(median(hFirst))}, p90 ${fmt(quantile(hFirst, 0.9))}  (target <= 5 ms)`);
  console.log(`  whole cycle, destroy included     median ${fmt(median(hCycle))}, p90 ${fmt(quantile(hCycle, 0.9))}`);
  console.log(`  cycles per second                 ${perSec(hostPerSec)}  (target >= 200/s; Firecracker publishes 150 microVMs/s)`);
  const wFirst = warm.map((c) => c.firstMs);
  const wCycle = warm.map((c) => c.cycleMs);
  console.log(`fresh System per cycle (destroy = drop it; includes system setup and GC), ${REPS} reps x ${CYCLES} cycles:`);
  console.log(`  first byte after create           median ${fmt(median(wFirst))}, p90 ${fmt(quantile(wFirst, 0.9))}`);
  console.log(`  whole cycle                       median ${fmt(median(wCycle))}, p90 ${fmt(quantile(wCycle, 0.9))}`);
  console.log(`  cycles per second                 ${perSec(cyclesPerSec)}`);
  const fl = median(floorMs);
  console.log(`floor: new shared Memory + Instance  median ${fmt(fl)}  (not run)`);
  console.log(`ratio first byte / floor            long-lived ${(median(hFirst) / fl).toFixed(1)}x, fresh ${(median(wFirst) / fl).toFixed(1)}x`);
}

// -------------------------------------------------------------------------------------------------
// 2. concurrent tiny domains

interface MemSample {
  rss: number;
  js: number;
}
/** Memory after the collector has run and the allocator has had time to give pages back. */
async function sampleMemory(): Promise<MemSample> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, js: m.heapUsed + m.external + m.arrayBuffers };
}

/** What one concurrency run found (printed as JSON by the child process that ran it). */
interface ConcurrentResult {
  n: number;
  /** Domains that powered off with 0 (a ping only once answered, a pong once it answered). */
  answered: number;
  /** Console lines printed ("ping: 1 round trips" / "pong: 1 events", one per domain). */
  lines: number;
  /** Domains alive, and domains whose vCPU had been instantiated, when the first line came. */
  aliveAtFirst: number;
  instantiatedAtFirst: number;
  createMs: number;
  runMs: number;
  /** Memory deltas in bytes from before the System: after creating all, and after the run. */
  created: MemSample;
  ran: MemSample;
}

/** N/2 pingpong pairs in one System; run in a child process so the memory deltas start clean. */
async function concurrent(n: number): Promise<ConcurrentResult> {
  // Warm-up, not measured: compile the module and run one pair, so the baseline holds the code.
  const warmSys = new System({ seed: 1, console: () => {} });
  await warmSys.addDomain({ name: 'ping', image: pingpong, memBytes: pingpongMem, vcpus: 1, cmdline: 'role=ping peer=2 count=1' });
  await warmSys.addDomain({ name: 'pong', image: pingpong, memBytes: pingpongMem, vcpus: 1, cmdline: 'role=pong peer=1 count=1' });
  if (!(await warmSys.run()).ok) throw new Error('pingpong warm-up pair failed');
  const m0 = await sampleMemory();
  let aliveAtFirst = -1;
  let instantiatedAtFirst = -1;
  let lines = 0;
  const t0 = performance.now();
  const sys: System = new System({
    seed: 1,
    console: (_name, text) => {
      if (aliveAtFirst < 0) {
        aliveAtFirst = sys.hv.domains.filter((d) => d.alive).length;
        instantiatedAtFirst = sys.hv.domains.filter((d) => d.vcpus[0]!.engine !== undefined).length;
      }
      lines += text.split('\n').length - 1;
    },
  });
  // Ids are given in creation order from 1: pair k is ping 2k+1, pong 2k+2.
  for (let k = 0; k < n / 2; k++) {
    const ping = 2 * k + 1;
    await sys.addDomain({ name: `ping${k}`, image: pingpong, memBytes: pingpongMem, vcpus: 1, cmdline: `role=ping peer=${ping + 1} count=1` });
    await sys.addDomain({ name: `pong${k}`, image: pingpong, memBytes: pingpongMem, vcpus: 1, cmdline: `role=pong peer=${ping} count=1` });
  }
  const tCreated = performance.now();
  const m1 = await sampleMemory();
  const r = await sys.run();
  const tRun = performance.now();
  const m2 = await sampleMemory();
  const delta = (m: MemSample): MemSample => ({ rss: m.rss - m0.rss, js: m.js - m0.js });
  return {
    n,
    answered: r.domains.filter((d) => d.outcome.kind === 'poweroff' && d.outcome.code === 0).length,
    lines,
    aliveAtFirst,
    instantiatedAtFirst,
    createMs: tCreated - t0,
    runMs: tRun - tCreated,
    created: delta(m1),
    ran: delta(m2),
  };
}

/** Runs {@link concurrent} in a fresh `node --expose-gc` process; a message when the child failed. */
function concurrentInChild(n: number): ConcurrentResult | string {
  const runTs = path.resolve(import.meta.dirname, '../tools/run-ts.js');
  const r = spawnSync(process.execPath, ['--expose-gc', runTs, import.meta.filename, CHILD_FLAG, String(n)], { encoding: 'utf8', maxBuffer: 64 * MiB });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || line === undefined) return `child exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  return JSON.parse(line) as ConcurrentResult;
}

// -------------------------------------------------------------------------------------------------
// 3. messaging

/** A bare Wasm->JS import call with one i32 argument, ns (the unit trap paths are measured against). */
async function bareCallNs(): Promise<() => number> {
  const wabt = await wabtInit();
  const m = wabt.parseWat(
    'bare.wat',
    `(module
      (import "env" "f" (func $f (param i32) (result i32)))
      (func (export "run") (param $n i32) (local $i i32)
        (loop $l
          (drop (call $f (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $n))))))`,
  );
  const { buffer } = m.toBinary({});
  m.destroy();
  const module = new WebAssembly.Module(new Uint8Array(buffer));
  return () => {
    const N = 2_000_000;
    let calls = 0;
    const inst = new WebAssembly.Instance(module, { env: { f: (a: number) => ((calls += 1), a) } });
    const run = inst.exports['run'] as (n: number) => void;
    const t0 = performance.now();
    run(N);
    const ns = ((performance.now() - t0) * 1e6) / N;
    if (calls !== N) throw new Error(`bare loop made ${calls} calls, not ${N}`);
    return ns;
  };
}

/** Wall time per event round trip of a pingpong pair doing `rounds` of them, ns (boot included, amortised). */
async function roundTripNs(rounds: number): Promise<number> {
  const sys = new System({ seed: 1, console: () => {} });
  await sys.addDomain({ name: 'ping', image: pingpong, memBytes: pingpongMem, vcpus: 1, cmdline: `role=ping peer=2 count=${rounds}` });
  await sys.addDomain({ name: 'pong', image: pingpong, memBytes: pingpongMem, vcpus: 1, cmdline: `role=pong peer=1 count=${rounds}` });
  const r = await sys.run();
  if (!r.ok) throw new Error(`pingpong failed: ${JSON.stringify(r.domains.map((d) => d.outcome))}`);
  return (r.wallMs * 1e6) / rounds;
}

/** Raw copy bandwidth, GB/s: 64 KiB `Uint8Array.set` from one shared guest memory into another. */
function rawCopyGBs(a: Uint8Array, b: Uint8Array): number {
  const CHUNK = 64 * 1024;
  const n = (COPY_MB * MiB) / CHUNK;
  const slots = a.length / CHUNK;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const off = (i % slots) * CHUNK;
    b.set(a.subarray(off, off + CHUNK), off);
  }
  return (COPY_MB * MiB) / ((performance.now() - t0) * 1e6);
}

/** One run of the msg example (server = domain 1, client = domain 2, both with `args`): wall time and each side's output. */
async function msgRun(args: string): Promise<{ wallMs: number; client: string; server: string }> {
  const out: Record<string, string> = {};
  const sys = new System({ seed: 1, console: (d, text) => (out[d] = (out[d] ?? '') + text) });
  await sys.addDomain({ name: 'server', image: msg, memBytes: msgMem, vcpus: 1, cmdline: `role=server peer=2 ${args}` });
  await sys.addDomain({ name: 'client', image: msg, memBytes: msgMem, vcpus: 1, cmdline: `role=client peer=1 ${args}` });
  const r = await sys.run();
  if (!r.ok) throw new Error(`msg ${args} failed: ${JSON.stringify(r.domains.map((d) => d.outcome))} ${JSON.stringify(out)}`);
  return { wallMs: r.wallMs, client: out['client'] ?? '', server: out['server'] ?? '' };
}

/** What one sync run measured: wall ns per call (boot amortised), the client's virtual median and p99 per call. */
interface SyncFigures {
  wallNs: number;
  median: number;
  p99: number;
}

/** `calls` sync calls of 64 bytes. */
async function msgSync(calls: number): Promise<SyncFigures> {
  const r = await msgRun(`mode=sync count=${calls} size=64`);
  const m = /median (\d+) ns, p99 (\d+) ns/.exec(r.client);
  if (m === null) throw new Error(`msg sync: unexpected output ${r.client}`);
  return { wallNs: (r.wallMs * 1e6) / calls, median: Number(m[1]), p99: Number(m[2]) };
}

/** What one async run measured: wall MiB/s (boot included), the client's virtual MiB/s and its grant_copy calls. */
interface StreamFigures {
  wallMiBs: number;
  virtMiBs: number;
  copies: number;
}

/** An async stream of `count` messages of `size` bytes over a 16-frame ring. */
async function msgAsync(count: number, size: number): Promise<StreamFigures> {
  const r = await msgRun(`mode=async count=${count} size=${size} frames=16`);
  const m = /: ([\d.]+) MiB\/s, (\d+) grant copies/.exec(r.client);
  if (m === null || !r.server.includes(`received ${count} messages of ${size} bytes`)) throw new Error(`msg async: unexpected output ${r.client} ${r.server}`);
  return { wallMiBs: (count * size) / MiB / (r.wallMs / 1000), virtMiBs: Number(m[1]), copies: Number(m[2]) };
}

/** Section 3: measures and prints the messaging figures. */
async function messaging(): Promise<void> {
  const bareCall = await bareCallNs();
  const memA = new Uint8Array(new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true }).buffer);
  const memB = new Uint8Array(new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true }).buffer);
  memA.fill(0x5a);
  const sizes = [64, 4000];
  const counts = sizes.map((size) => Math.max(1, Math.round((MSG_MB * MiB) / size)));
  // Untimed: V8 tiers the guest and host code up over the first few thousand round trips.
  await roundTripNs(ROUNDS);
  await msgSync(ROUNDS);
  for (let k = 0; k < sizes.length; k++) await msgAsync(Math.min(20_000, counts[k]!), sizes[k]!);
  const bare: number[] = [];
  const rt: number[] = [];
  const copy: number[] = [];
  const sync: SyncFigures[] = [];
  const streams: StreamFigures[][] = sizes.map(() => []);
  for (let rep = 0; rep < REPS; rep++) {
    bare.push(bareCall());
    rt.push(await roundTripNs(ROUNDS));
    copy.push(rawCopyGBs(memA, memB));
    sync.push(await msgSync(ROUNDS));
    for (let k = 0; k < sizes.length; k++) streams[k]!.push(await msgAsync(counts[k]!, sizes[k]!));
  }
  const rawMiBs = (median(copy) * 1e9) / MiB;
  const syncWall = median(sync.map((x) => x.wallNs));
  console.log(`\n== messaging`);
  console.log(`sync: event-channel round trip (pingpong)   median ${(median(rt) / 1000).toFixed(2)} us  (${REPS} reps x ${ROUNDS} round trips, boot amortised; ${(median(rt) / median(bare)).toFixed(0)}x a bare Wasm->JS call of ${median(bare).toFixed(1)} ns)`);
  console.log(
    `sync: call/reply over a grant ring (msg)    median ${(syncWall / 1000).toFixed(2)} us wall per 64-byte call (${REPS} reps x ${ROUNDS} calls, boot amortised; ${(syncWall / median(rt)).toFixed(1)}x the event round trip)` +
      `; virtual median ${median(sync.map((x) => x.median))} ns, p99 ${median(sync.map((x) => x.p99))} ns`,
  );
  for (let k = 0; k < sizes.length; k++) {
    const st = streams[k]!;
    const wall = median(st.map((x) => x.wallMiBs));
    console.log(
      `async: channel throughput over grant_copy   ${String(sizes[k]).padStart(4)}-byte messages: median ${wall.toFixed(1)} MiB/s wall (raw copy is ${(rawMiBs / wall).toFixed(0)}x that)` +
        `; virtual ${median(st.map((x) => x.virtMiBs)).toFixed(1)} MiB/s; ${counts[k]} messages (${MSG_MB} MiB) in ${median(st.map((x) => x.copies))} grant_copy calls`,
    );
  }
  console.log(`raw copy bandwidth (64 KiB Uint8Array.set, guest memory to guest memory)  median ${median(copy).toFixed(1)} GB/s = ${rawMiBs.toFixed(0)} MiB/s`);
}

// -------------------------------------------------------------------------------------------------
// main

if (childN !== undefined) {
  // A child started by concurrentInChild: one concurrency run, one JSON line.
  console.log(JSON.stringify(await concurrent(childN)));
  process.exit(0);
}

await createCycles();

console.log(`\n== concurrent tiny domains  (pingpong pairs, count=1, ${pingpongMem / 1024} KiB guest memory each, 1 vCPU; each N in a fresh process)`);
const kib = (bytes: number, n: number) => `${(bytes / n / 1024).toFixed(0)} KiB`;
for (const n of DOMAINS) {
  const r = concurrentInChild(n);
  if (typeof r === 'string') {
    console.log(`N=${String(n).padStart(4)}  FAILED: ${r}`);
    continue;
  }
  const all = r.answered === n && r.lines === n;
  console.log(
    `N=${String(n).padStart(4)}  ${all ? 'all answered' : `ONLY ${r.answered} of ${n} powered off with 0 (${r.lines} lines)`}` +
      `, ${r.aliveAtFirst} alive (${r.instantiatedAtFirst} instantiated) at the first answer; create ${fmt(r.createMs)}, run ${fmt(r.runMs)}` +
      `; per domain: RSS ${kib(r.ran.rss, n)}, heap+external+arrayBuffers ${kib(r.ran.js, n)}` +
      ` (created, before run: RSS ${kib(r.created.rss, n)}, JS ${kib(r.created.js, n)})`,
  );
}

await messaging();
