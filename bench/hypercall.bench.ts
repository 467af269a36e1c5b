/**
 * `npm run bench:hypercall` — the cost of pvisor's trap path, measured against a baseline taken in
 * the same run (this machine is shared and noisy, so only ratios mean anything):
 *
 * 1. bare: a plain (uninstrumented) Wasm module calling a JS import `(i32 ×6) -> i32` in a loop;
 * 2. null hypercall: a PV guest calling `version` in a loop through the full path (instrumented
 *    module, engine import, generated dispatch, handler, VM entry with time record and upcall check);
 * 3. event round trip: two domains bounce an event (send, block, wake, reply) — the pingpong
 *    example when it is built, measured per round trip.
 *
 * Prints medians over repetitions and the ratio null/bare.
 */
import { readFileSync, existsSync } from 'node:fs';
import wabtInit from 'wabt';
import { System } from '../src/control/system.ts';

const N = Number(process.env.BENCH_N ?? 2_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 7);

const wabt = await wabtInit();
function wat(text: string): Uint8Array {
  const m = wabt.parseWat('bench.wat', text, { threads: true, mutable_globals: true });
  const { buffer } = m.toBinary({});
  m.destroy();
  return new Uint8Array(buffer);
}

const loopBody = (callee: string) => `
    (local $i i32)
    (loop $l
      (drop (call ${callee} (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${N}))))`;

const bare = wat(`(module
  (import "env" "f" (func $f (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "run") ${loopBody('$f')}))`);

const guest = wat(`(module
  (import "env" "memory" (memory 4 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param $si i32) ${loopBody('$hc')}
    (drop (call $hc (i32.const 8) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measureBare(): number {
  let sink = 0;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bare as Uint8Array<ArrayBuffer>), { env: { f: (a: number) => { sink += a; return 0; } } });
  const run = inst.exports['run'] as () => void;
  const t0 = performance.now();
  run();
  const ns = ((performance.now() - t0) * 1e6) / N;
  if (sink !== N) throw new Error('bare loop did not run');
  return ns;
}

async function measureNull(): Promise<number> {
  const sys = new System({ seed: 1, console: () => {} });
  await sys.addDomain({ name: 'null', image: guest, memBytes: 8 * 65536, vcpus: 1, cmdline: '' });
  const r = await sys.run();
  const d = r.domains[0]!;
  if (d.outcome.kind !== 'poweroff' || d.hypercalls['version'] !== N) throw new Error(`null guest failed: ${JSON.stringify(d)}`);
  return (r.wallMs * 1e6) / N;
}

const pingpong = new URL('../guest-kit/examples/pingpong.wasm', import.meta.url);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100_000);
async function measureRoundTrip(): Promise<number | undefined> {
  if (!existsSync(pingpong)) return undefined;
  const image = new Uint8Array(readFileSync(pingpong));
  const sys = new System({ seed: 1, console: () => {} });
  await sys.addDomain({ name: 'ping', image, memBytes: 1 << 20, vcpus: 1, cmdline: `role=ping peer=2 count=${ROUNDS}` });
  await sys.addDomain({ name: 'pong', image, memBytes: 1 << 20, vcpus: 1, cmdline: `role=pong peer=1 count=${ROUNDS}` });
  const r = await sys.run();
  if (!r.ok) throw new Error(`pingpong failed: ${JSON.stringify(r.domains.map((d) => d.outcome))}`);
  return (r.wallMs * 1e6) / ROUNDS;
}

const bareNs: number[] = [];
const nullNs: number[] = [];
const rtNs: number[] = [];
for (let i = 0; i < REPS; i++) {
  bareNs.push(measureBare());
  nullNs.push(await measureNull());
  const rt = await measureRoundTrip();
  if (rt !== undefined) rtNs.push(rt);
}
const b = median(bareNs);
const n = median(nullNs);
console.log(`bare Wasm->JS import call     median ${b.toFixed(1)} ns  (${REPS} reps x ${N} calls)`);
console.log(`null hypercall (version)      median ${n.toFixed(1)} ns`);
console.log(`ratio null / bare             ${(n / b).toFixed(2)}x  (target <= 3x)`);
if (rtNs.length > 0) {
  console.log(`event round trip (pingpong)   median ${(median(rtNs) / 1000).toFixed(2)} us per round trip  (${ROUNDS} rounds; target <= 3 us)`);
  console.log(`ratio round trip / bare call  ${(median(rtNs) / b).toFixed(1)}x`);
} else {
  console.log('event round trip: guest-kit/examples/pingpong.wasm not built (npm run build:guests)');
}
