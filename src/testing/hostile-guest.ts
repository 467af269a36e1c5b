/**
 * `hostileGuest`: runs a generated hypercall program inside a real Wasm guest on pvisor's
 * deterministic engine and compares what happened with the reference model — every call's result
 * as the guest saw it, the upcalls delivered after each call, the guest memory the calls wrote,
 * the console text, and the final observable state.
 *
 * Unlike {@link modelRun}, which calls `Hypervisor.hypercall` from TypeScript, this goes through
 * the whole path a guest uses: the `pv.hypercall` import and its i32 argument decoding, binaryen's
 * instrumentation (fuel, asyncify unwinding on sched_yield), the VM entry after each trap and the
 * guest's `pv_upcall` handler.
 *
 * ```ts
 * const prog = fc.sample(fc.array(hypercallArbitrary(HOSTILE_GUEST_CONTEXT, 'hostile')), 1)[0];
 * const report = await hostileGuest(prog);
 * expect(report.mismatches).toEqual([]);
 * ```
 *
 * Limits, by design: one vCPU (the guest exports no vCPU entry, so vcpu_up answers as the spec
 * says for such a guest); calls the model says would block are dropped from the program (nothing
 * would wake them), and so are a wallclock aimed at shared_info and a call that reads bytes only
 * the host knows (a time record, an earlier wallclock's output), and a set_timer whose deadline the
 * run's virtual time may reach; time is not modelled here, so use deadlines far in the future
 * ({@link HOSTILE_GUEST_CONTEXT} does) — timers firing is {@link modelRun}'s business.
 * The engine and binaryen are loaded on first use, so importing `pvisor/testing` stays light.
 * @module
 */
import {
  CALLS,
  CONSOLE_IO_MAX,
  SHARED_INFO_SIZE,
  SHUTDOWN_POWEROFF,
  Hc,
  VCPU_INFO_OFF,
  VCPU_TIME_INFO_SIZE,
  errorName,
} from '../abi/generated/index.ts';
import { observe, type ModelDomainConfig, type Observation } from '../../spec/model/index.ts';
import { Hypervisor } from '../hv/index.ts';
import type { ArbitraryContext, HypercallInput } from './arbitraries/calls.ts';
import { diffObservations } from './diff.ts';
import { observeDomain } from './hv-host.ts';
import { HOSTILE_GUEST_WASM_BASE64 } from './hostile-guest-wasm.ts';
import {
  DATA_AT,
  DONE_AT,
  MAX_RECORDS,
  RECORDS_AT,
  RECORD_SIZE,
  PROGRAM_AT,
  SCRATCH_AT,
  SCRATCH_SIZE,
  UPCALLS_AT,
} from './hostile-guest-wat.ts';
import { modelHost } from './model-host.ts';

const PAGE = 4096;

/** Memory of the hostile guest's domain (1 MiB). */
export const HOSTILE_GUEST_MEM = 1 << 20;

/** The hostile guest's binary (see hostile-guest-wat.ts for its source and memory layout). */
export function hostileGuestImage(): Uint8Array {
  return new Uint8Array(Buffer.from(HOSTILE_GUEST_WASM_BASE64, 'base64'));
}

/**
 * The {@link ArbitraryContext} of the hostile guest's domain: domain 1 alone, one vCPU, 1 MiB,
 * argument buffers in its scratch area, shared_info where the host puts it, and "now" far in
 * the future so that no deadline a program sets is reached while it runs.
 */
export const HOSTILE_GUEST_CONTEXT: ArbitraryContext = Object.freeze({
  memSize: HOSTILE_GUEST_MEM,
  nrVcpus: 1,
  self: 1,
  scratch: SCRATCH_AT,
  scratchSize: SCRATCH_SIZE,
  sharedInfo: HOSTILE_GUEST_MEM - 2 * PAGE,
  now: 1e12,
});

/** What happened to one call of the program, in the guest and in the model. */
export interface HostileCallOutcome {
  /** The call as made. */
  readonly call: HypercallInput;
  /** Result the guest saw (undefined when the call did not return to it). */
  readonly result: number | undefined;
  /** Result the model gives (undefined when the call does not return). */
  readonly expected: number | undefined;
  /** Upcalls delivered so far, after this call returned, in the guest. */
  readonly upcalls: number | undefined;
  /** The same in the model. */
  readonly expectedUpcalls: number | undefined;
}

/** A call of the program that the guest was not given. */
export interface SkippedCall {
  /** Its index in the program. */
  readonly index: number;
  /** The call. */
  readonly call: HypercallInput;
  /**
   * Why: `would block`, `host-defined bytes onto shared_info`, `reads host-defined bytes`, or
   * `deadline within the run` (a set_timer deadline the run's virtual time may reach).
   */
  readonly why: string;
}

/** What {@link hostileGuest} found. */
export interface HostileGuestReport {
  /** The calls the guest ran (the program minus calls the model says would block). */
  readonly calls: readonly HostileCallOutcome[];
  /**
   * Calls dropped, with their index in the given program and why: they would block (nothing
   * would wake them), or they would write host-defined bytes (wallclock) onto shared_info, which
   * the model cannot predict.
   */
  readonly skipped: readonly SkippedCall[];
  /** How the domain ended: `shutdown`, `crashed` (with reason) or `running` (stuck). */
  readonly outcome: string;
  /** Every disagreement with the model, one line each; empty when the host agreed. */
  readonly mismatches: readonly string[];
  /** Final observable state in the guest's host. */
  readonly observed: Observation;
  /** Final state as the model has it. */
  readonly expected: Observation;
}

/** Options of {@link hostileGuest}. */
export interface HostileGuestOptions {
  /** Virtual-time limit of the run (default 1 s); a program that hangs ends there. */
  readonly maxTimeNs?: number;
  /**
   * Changes the hypervisor before the guest boots: wrap `hv.hypercall` to put a variant of one
   * call's handler on the guest's real trap path (the test of this module injects a bug so).
   */
  readonly patchHypervisor?: (hv: Hypervisor) => void;
}

interface Range {
  readonly lo: number;
  readonly hi: number;
}

const overlaps = (a: Range, b: Range): boolean => a.lo < b.hi && b.lo < a.hi;

/**
 * The guest memory a call reads, from the spec's argument metadata (`in`/`inout` pointers and
 * their lengths; console_write reads at most CONSOLE_IO_MAX bytes; a null nullable pointer reads
 * nothing).
 */
function readRanges(c: HypercallInput): Range[] {
  const info = CALLS.find((x) => x.nr === c.nr);
  if (info === undefined) return [];
  const w = c.args.map((a) => a >>> 0);
  const out: Range[] = [];
  info.args.forEach((a, i) => {
    if (a.type !== 'ptr' || a.dir === 'out' || a.lengthOf === undefined) return;
    const at = w[i] ?? 0;
    if (a.nullable === true && at === 0) return;
    const len = c.nr === Hc.console_write ? Math.min(a.lengthOf(w), CONSOLE_IO_MAX) : a.lengthOf(w);
    if (len > 0) out.push({ lo: at, hi: at + len });
  });
  return out;
}

function show(r: number | undefined): string {
  if (r === undefined) return 'no return';
  return r < 0 ? `${r} (${errorName(r) ?? '?'})` : `${r}`;
}

function label(c: HypercallInput): string {
  return `${c.name}(${c.args.join(', ')})`;
}

/**
 * Runs `program` (calls from {@link hypercallArbitraries} over {@link HOSTILE_GUEST_CONTEXT}, or
 * made by hand) in the hostile guest on pvisor's core and engine, and the same calls through the
 * reference model, and reports every difference.
 *
 * @throws Error when the program has more than MAX_RECORDS calls or places a buffer outside the
 *   domain's memory (a mistake of the caller, not of the host)
 */
export async function hostileGuest(program: readonly HypercallInput[], opts: HostileGuestOptions = {}): Promise<HostileGuestReport> {
  if (program.length > MAX_RECORDS) throw new Error(`hostileGuest: ${program.length} calls, at most ${MAX_RECORDS}`);
  const { DeterministicEngine, compileGuest, inspectGuest } = await import('../engine/index.ts');
  const mem = HOSTILE_GUEST_MEM;
  const maxTime = opts.maxTimeNs ?? 1e9;
  let consoleText = '';
  const hv = new Hypervisor({ console: (_d, b) => (consoleText += Buffer.from(b).toString('latin1')), log: () => {} });
  const d = hv.createDomain({ name: 'hostile', memBytes: mem, vcpus: 1, cmdline: 'hostile' });
  opts.patchHypervisor?.(hv);
  const si = d.layout.sharedInfo as number;

  // The model, on the host's initial bytes (start_info, wallclock fields).
  const cfg: ModelDomainConfig = { id: d.id, memSize: mem, nrVcpus: 1, canStartVcpus: false };
  const model = modelHost([cfg], { sharedInfoAddr: () => si });
  model.loadImage(d.id, d.mem.u8.slice());

  // Bytes the host defines and the model does not know: vCPU 0's time record (refreshed at every
  // VM entry), whatever host-defined writes (wallclock) land on, and the guest's own program and
  // bookkeeping. A call that reads them is dropped: its outcome depends on values only the host has.
  const timeRec = si + VCPU_INFO_OFF.time;
  const always: Range[] = [
    { lo: timeRec, hi: timeRec + VCPU_TIME_INFO_SIZE },
    { lo: PROGRAM_AT, hi: d.layout.reservedBase as number },
  ];
  let written: Range[] = [];

  const kept: { call: HypercallInput; expected: number | undefined; expectedUpcalls: number | undefined }[] = [];
  const skipped: SkippedCall[] = [];
  let upcalls = 0;
  let ended = false;
  program.forEach((call, index) => {
    for (const w of call.memory) {
      if (w.addr < 0 || w.addr + w.bytes.length > mem) throw new Error(`hostileGuest: ${label(call)} places a buffer at ${w.addr} outside memory`);
    }
    if (ended) {
      kept.push({ call, expected: undefined, expectedUpcalls: undefined });
      return;
    }
    const args = [...call.args];
    const peek = model.peek(d.id, 0, call.nr, args, call.memory);
    if (peek.blocks === true) {
      skipped.push({ index, call, why: 'would block' });
      return;
    }
    // The model cannot know host-defined bytes (wallclock); landing on shared_info they would
    // change modelled fields (upcall bits) to values only the host knows.
    if ((peek.writes ?? []).some((w) => w.hostDefined === true && overlaps({ lo: w.addr, hi: w.addr + w.bytes.length }, { lo: si, hi: si + SHARED_INFO_SIZE }))) {
      skipped.push({ index, call, why: 'host-defined bytes onto shared_info' });
      return;
    }
    const reads = readRanges(call);
    // Buffers the call places itself are known, whatever was there before.
    const placed = call.memory.map((w) => ({ lo: w.addr, hi: w.addr + w.bytes.length }));
    // A deadline the run's virtual time may reach makes the outcome depend on the host's clock,
    // which the model does not follow here (its time stays 0).
    if (call.nr === Hc.set_timer) {
      const at = (call.args[0] ?? 0) >>> 0;
      if (at + 8 <= mem) {
        const b = model.readMem!(d.id, at, 8);
        for (const w of call.memory) for (let k = 0; k < w.bytes.length; k++) if (w.addr + k >= at && w.addr + k < at + 8) b[w.addr + k - at] = w.bytes[k]!;
        const deadline = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
        if (deadline !== 0 && deadline <= maxTime) {
          skipped.push({ index, call, why: 'deadline within the run' });
          return;
        }
      }
    }
    const coveredByPlaced = (u: Range, r: Range) => placed.some((p) => p.lo <= Math.max(u.lo, r.lo) && Math.min(u.hi, r.hi) <= p.hi);
    if (reads.some((r) => always.some((u) => overlaps(u, r)) || written.some((u) => overlaps(u, r) && !coveredByPlaced(u, r)))) {
      skipped.push({ index, call, why: 'reads host-defined bytes' });
      return;
    }
    written = written.filter((u) => !placed.some((p) => p.lo <= u.lo && u.hi <= p.hi));
    for (const w of call.memory) model.writeMem(d.id, w.addr, w.bytes);
    const r = model.step(d.id, 0, call.nr, args);
    for (const w of r.writes ?? []) if (w.hostDefined === true) written.push({ lo: w.addr, hi: w.addr + w.bytes.length });
    if (r.noReturn === true) {
      ended = true;
      kept.push({ call, expected: undefined, expectedUpcalls: undefined });
      return;
    }
    // VM entry: the guest's handler runs when an upcall is pending and not masked.
    const vc = model.state.domains[0]!.vcpus[0]!;
    if (vc.upcallPending && !vc.upcallMask) {
      upcalls++;
      model.writeMem(d.id, si + VCPU_INFO_OFF.evtchn_upcall_pending, new Uint8Array(1));
      model.writeMem(d.id, si + VCPU_INFO_OFF.evtchn_pending_sel, new Uint8Array(4));
    }
    kept.push({ call, expected: r.result, expectedUpcalls: upcalls });
  });
  // The guest powers off after its last record.
  if (!ended) model.step(d.id, 0, Hc.sched_shutdown, [SHUTDOWN_POWEROFF, 0]);

  // The program, as the guest reads it.
  const calls = kept.map((k) => k.call);
  const u8 = d.mem.u8;
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  dv.setUint32(PROGRAM_AT, calls.length, true);
  let data = DATA_AT;
  calls.forEach((c, i) => {
    const rec = RECORDS_AT + i * RECORD_SIZE;
    dv.setUint32(rec, c.nr >>> 0, true);
    for (let k = 0; k < 5; k++) dv.setUint32(rec + 4 + 4 * k, (c.args[k] ?? 0) >>> 0, true);
    dv.setInt32(rec + 24, 0x7eadbeef, true);
    dv.setUint32(rec + 32, c.memory.length, true);
    const table = data;
    data += 12 * c.memory.length;
    dv.setUint32(rec + 36, table, true);
    c.memory.forEach((w, j) => {
      u8.set(w.bytes, data);
      dv.setUint32(table + 12 * j, w.addr >>> 0, true);
      dv.setUint32(table + 12 * j + 4, data, true);
      dv.setUint32(table + 12 * j + 8, w.bytes.length, true);
      data = (data + w.bytes.length + 3) & ~3;
    });
  });
  if (data > (d.layout.reservedBase as number)) throw new Error('hostileGuest: the program does not fit in guest memory');

  const image = hostileGuestImage();
  const engine = new DeterministicEngine(hv, { maxTimeNs: maxTime });
  engine.attach(d, compileGuest(image), inspectGuest(image, 'hostile-guest'));
  engine.run();

  // Compare.
  const mismatches: string[] = [];
  const done = dv.getUint32(DONE_AT, true);
  const outcomes: HostileCallOutcome[] = kept.map((k, i) => {
    const rec = RECORDS_AT + i * RECORD_SIZE;
    const ran = i < done;
    return {
      call: k.call,
      result: ran ? dv.getInt32(rec + 24, true) : undefined,
      expected: k.expected,
      upcalls: ran ? dv.getUint32(rec + 28, true) : undefined,
      expectedUpcalls: k.expectedUpcalls,
    };
  });
  outcomes.forEach((o, i) => {
    const at = `call ${i + 1} ${label(o.call)}`;
    if (o.result !== o.expected) mismatches.push(`${at}: result: model ${show(o.expected)}, guest saw ${show(o.result)}`);
    else if (o.upcalls !== o.expectedUpcalls) mismatches.push(`${at}: upcalls so far: model ${o.expectedUpcalls ?? '-'}, guest ${o.upcalls ?? '-'}`);
  });
  if (dv.getUint32(UPCALLS_AT, true) !== upcalls && mismatches.length === 0) {
    mismatches.push(`upcalls in total: model ${upcalls}, guest ${dv.getUint32(UPCALLS_AT, true)}`);
  }
  const outcome = d.state === 'crashed' ? `crashed: ${d.crashReason}` : d.state;
  if (d.state !== 'shutdown') mismatches.push(`domain ${outcome}, the model has it shut down`);

  const expected = observe(model.state);
  const observed: Observation = { domains: [observeDomain(d, consoleText)], freeFrames: hv.freeFrames, freeVcpus: hv.freeVcpus };
  mismatches.push(...diffObservations(expected, observed));
  // Guest memory the calls wrote (status structs, multicall results), over the scratch area.
  const scratch: Range = { lo: SCRATCH_AT, hi: SCRATCH_AT + SCRATCH_SIZE };
  const modelBytes = model.readMem!(d.id, scratch.lo, scratch.hi - scratch.lo);
  for (let a = scratch.lo; a < scratch.hi; a++) {
    if ([...always, ...written].some((u) => a >= u.lo && a < u.hi)) continue;
    if (u8[a] !== modelBytes[a - scratch.lo]) {
      mismatches.push(`memory at ${a}: model ${modelBytes[a - scratch.lo]}, guest ${u8[a]}`);
      break;
    }
  }
  return { calls: outcomes, skipped, outcome, mismatches, observed, expected };
}
