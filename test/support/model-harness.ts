/**
 * Model-based testing of event channels: random command sequences run against the reference
 * model and a host under test, with the call results, the bytes calls write and the whole
 * observable state compared after every command.
 *
 * Commands are chosen *with* the model: an arbitrary only carries selectors ("the k-th live port
 * of the caller", "an unbound port offered to the caller"), and each command resolves them against
 * the current model state when it runs. So sequences stay meaningful (they often name ports that
 * exist) and still shrink well. Calls that would block are never made: a command whose call the
 * model says blocks is skipped by fast-check (`check` returns false).
 *
 * Usage (the lead plugs the real host in):
 * ```ts
 * runModelBased((domains) => myHostAdapter(domains), { seed: SEED, numRuns: 100 });
 * ```
 */
import fc from 'fast-check';
import {
  DOMID_SELF,
  Hc,
  MULTICALL_ENTRY_OFF,
  MULTICALL_ENTRY_SIZE,
  NR_EVENT_CHANNELS,
  SHARED_INFO_OFF,
  SHUTDOWN_CRASH,
  SHUTDOWN_POWEROFF,
  SHUTDOWN_REBOOT,
  VCPU_INFO_OFF,
  VCPU_INFO_SIZE,
  VIRQ_CONSOLE,
  VIRQ_TIMER,
  errorName,
} from '../../src/abi/generated/index.ts';
import {
  invariants,
  observe,
  u32Bytes,
  type ModelDomain,
  type ModelDomainConfig,
  type ModelState,
  type ModelWrite,
} from '../../spec/model/index.ts';
import { diffObservations } from './model-diff.ts';
import { modelHost, type HostUnderTest, type ModelHost } from './model-host.ts';

export type { HostUnderTest } from './model-host.ts';

/** The seed of model-based runs: PVISOR_SEED, or the fixed CI seed 20261122. */
export function modelSeed(): number {
  const seed = Number(process.env.PVISOR_SEED ?? 20261122);
  if (!Number.isSafeInteger(seed)) throw new Error(`PVISOR_SEED must be an integer, got ${process.env.PVISOR_SEED}`);
  return seed;
}

/** Three domains (ids 1..3, as the host numbers them), two vCPUs each, 256 KiB each. */
export const DEFAULT_DOMAINS: readonly ModelDomainConfig[] = [1, 2, 3].map((id) => ({
  id,
  memSize: 256 * 1024,
  nrVcpus: 2,
}));

/** What fast-check's model run carries on the model side. */
export interface ModelWorld {
  /** The reference model, behind the same interface as the host. */
  readonly model: ModelHost;
  /** What the commands of this run did, with their arguments resolved (printed on failure). */
  readonly trace: string[];
}

/** Which commands a run may generate. */
export interface EvtchnCommandsConfig {
  /** Most commands per sequence (default 60). */
  readonly maxCommands?: number;
  /** Include vcpu_up / vcpu_down, so vCPU 1 can make calls too (default true). */
  readonly vcpuHotplug?: boolean;
  /** Include sched_shutdown (default true; rare). */
  readonly shutdown?: boolean;
  /** Include multicall batches of event-channel calls (default true). */
  readonly multicall?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Plans: what a command does, resolved against the model state.

/** A hypercall from one vCPU, after writing `prepare` (argument buffers) into its memory. */
interface CallPlan {
  readonly kind: 'call';
  readonly label: string;
  readonly dom: number;
  readonly vcpu: number;
  readonly nr: number;
  readonly args: number[];
  readonly prepare: ModelWrite[];
}

/** Guest-side writes to the domain's shared_info, at offsets from its start. */
interface GuestPlan {
  readonly kind: 'guest';
  readonly label: string;
  readonly dom: number;
  readonly writes: { readonly off: number; readonly bytes: Uint8Array }[];
}

type Plan = CallPlan | GuestPlan;

/** Turns the model state into a plan, or null when the command cannot run now. */
type Planner = (s: ModelState) => Plan | null;

/**
 * A command whose behaviour is a {@link Planner}. Its `toString` shows its selectors, which are
 * stable; the arguments they resolve to depend on the run, so a failure prints the resolved
 * trace of the failing run itself (the command objects are shared between shrinking attempts).
 */
class PlannedCommand implements fc.Command<ModelWorld, HostUnderTest> {
  constructor(
    private readonly name: string,
    private readonly selectors: string,
    private readonly plan: Planner,
  ) {}

  check(w: Readonly<ModelWorld>): boolean {
    const p = this.plan(w.model.state);
    if (p === null) return false;
    // Never make a call that blocks: the harness cannot resume it.
    return p.kind === 'guest' || w.model.peek(p.dom, p.vcpu, p.nr, p.args, p.prepare).blocks !== true;
  }

  run(w: ModelWorld, host: HostUnderTest): void {
    const p = this.plan(w.model.state);
    if (p === null) throw new Error(`harness: ${this.name} ran although check() refused it`);
    w.trace.push(p.label);
    if (p.kind === 'guest') runGuest(w, host, p);
    else runCall(w, host, p);
    compareState(w, host);
  }

  toString(): string {
    return `${this.name}${this.selectors}`;
  }
}

/** `-22 (EINVAL)` */
function showResult(r: number): string {
  return r < 0 ? `${r} (${errorName(r) ?? '?'})` : `${r}`;
}

function fail(w: ModelWorld | null, lines: string[]): never {
  const trace = w === null ? [] : w.trace;
  const history = trace.map((t, i) => `  ${i + 1}. ${t}`).join('\n');
  const last = trace.at(-1) ?? 'setup (initial state)';
  throw new Error(`model-based run: after ${last}:\n  ${lines.join('\n  ')}\ncommands of this run:\n${history}`);
}

function runCall(w: ModelWorld, host: HostUnderTest, p: CallPlan): void {
  for (const m of p.prepare) {
    w.model.writeMem(p.dom, m.addr, m.bytes);
    host.writeMem(p.dom, m.addr, m.bytes);
  }
  const expected = w.model.step(p.dom, p.vcpu, p.nr, p.args);
  const got = host.call(p.dom, p.vcpu, p.nr, p.args);
  if (expected.blocks === true) fail(w, ['harness bug: the call blocked in the model']);
  if (expected.noReturn !== true && got !== expected.result) {
    fail(w, [`result: model ${showResult(expected.result)}, host ${showResult(got)}`, ...diffObservations(observe(w.model.state), host.observe())]);
  }
  if (host.readMem !== undefined && expected.noReturn !== true) {
    for (const wr of expected.writes ?? []) {
      if (wr.hostDefined === true) continue;
      const hostBytes = host.readMem(p.dom, wr.addr, wr.bytes.length);
      const modelBytes = w.model.readMem?.(p.dom, wr.addr, wr.bytes.length) ?? wr.bytes;
      if (hostBytes.join() !== modelBytes.join()) {
        fail(w, [`memory at ${wr.addr}: model [${modelBytes.join(' ')}], host [${hostBytes.join(' ')}]`]);
      }
    }
  }
}

function runGuest(w: ModelWorld, host: HostUnderTest, p: GuestPlan): void {
  for (const g of p.writes) {
    w.model.writeMem(p.dom, w.model.sharedInfoAddr(p.dom) + g.off, g.bytes);
    host.writeMem(p.dom, host.sharedInfoAddr(p.dom) + g.off, g.bytes);
  }
}

function compareState(w: ModelWorld, host: HostUnderTest): void {
  const broken = invariants(w.model.state);
  if (broken.length > 0) fail(w, ['the MODEL broke its own invariants:', ...broken]);
  const diff = diffObservations(observe(w.model.state), host.observe());
  if (diff.length > 0) fail(w, ['observable state differs:', ...diff]);
}

// ---------------------------------------------------------------------------------------------
// Selectors and their resolution

/** Picks a vCPU that can make a call: `d`-th running domain, `v`-th runnable vCPU of it. */
interface CallerSel {
  readonly d: number;
  readonly v: number;
}

function resolveCaller(s: ModelState, sel: CallerSel): { dom: ModelDomain; vcpu: number } | null {
  const runnable = (d: ModelDomain) => d.vcpus.flatMap((vc, i) => (vc.up && vc.blocked === null ? [i] : []));
  const doms = s.domains.filter((d) => d.status === 'running' && runnable(d).length > 0);
  const dom = doms[sel.d % Math.max(1, doms.length)];
  if (dom === undefined) return null;
  const vs = runnable(dom);
  const vcpu = vs[sel.v % vs.length];
  return vcpu === undefined ? null : { dom, vcpu };
}

/**
 * A port: the k-th live (not closed) port of the domain, the k-th port one can send on
 * (INTERDOMAIN or IPI), the k-th pending port, or a raw i32. An empty choice falls back to a live
 * port, then to a small port number.
 */
type PortSel =
  | { readonly kind: 'live' | 'sendable' | 'pending'; readonly k: number }
  | { readonly kind: 'raw'; readonly port: number };

function resolvePort(d: ModelDomain, sel: PortSel): number {
  if (sel.kind === 'raw') return sel.port;
  const pick = (ok: (port: number) => boolean): number | undefined => {
    const xs: number[] = [];
    for (let i = 0; i < d.ports.length; i++) if (ok(i)) xs.push(i);
    return xs[sel.k % Math.max(1, xs.length)];
  };
  const live = (i: number) => d.ports[i]?.state !== 'closed';
  const chosen =
    sel.kind === 'sendable'
      ? pick((i) => d.ports[i]?.state === 'interdomain' || d.ports[i]?.state === 'ipi')
      : sel.kind === 'pending'
        ? pick((i) => d.pending[i] === true)
        : undefined;
  return chosen ?? pick(live) ?? 1 + (sel.k % 4);
}

/** A port for a guest-side write: always in range. */
function resolveGuestPort(d: ModelDomain, sel: PortSel): number {
  const p = resolvePort(d, sel);
  return ((p % NR_EVENT_CHANNELS) + NR_EVENT_CHANNELS) % NR_EVENT_CHANNELS;
}

/** A domain id argument: one of the domains, DOMID_SELF, or a raw value (mostly no domain). */
type DomSel = { readonly kind: 'idx'; readonly k: number } | { readonly kind: 'self' } | { readonly kind: 'raw'; readonly id: number };

function resolveDom(s: ModelState, sel: DomSel): number {
  if (sel.kind === 'self') return DOMID_SELF;
  if (sel.kind === 'raw') return sel.id;
  return s.domains[sel.k % s.domains.length]?.id ?? 0;
}

/** Where an output pointer points. */
type PtrSel = 'low' | 'edge' | 'past' | 'end' | 'wrap' | 'huge';

/** Scratch area in low memory for the harness's pointer arguments. */
const SCRATCH = 0x100;
const POLL_AT = 0x400;
const BATCH_AT = 0x2000;
const STATUS_LEN = 24;

function resolvePtr(memSize: number, sel: PtrSel, len: number): number {
  switch (sel) {
    case 'low':
      return SCRATCH;
    case 'edge':
      return memSize - len; // the last place it fits
    case 'past':
      return memSize - len + 1; // one byte too far
    case 'end':
      return memSize;
    case 'wrap':
      return 0xfffffff8 | 0; // + len wraps around 2^32
    case 'huge':
      return 0x80000000 | 0;
  }
}

const callerArb: fc.Arbitrary<CallerSel> = fc.record({ d: fc.nat(), v: fc.nat() });

const rawPortArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom(NR_EVENT_CHANNELS - 1, NR_EVENT_CHANNELS, -1, 0x80000000 | 0) },
);

/** A port selector, weighted toward `favourite` (a kind that suits the command). */
function portSelArb(favourite: 'live' | 'sendable' | 'pending' = 'live'): fc.Arbitrary<PortSel> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant(favourite), k: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('live' as const, 'sendable' as const, 'pending' as const), k: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), port: rawPortArb }) },
  );
}

const domSelArb: fc.Arbitrary<DomSel> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('idx' as const), k: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'self' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('raw' as const), id: fc.constantFrom(0, 7, DOMID_SELF + 1, 0xffff, -1) }),
  },
);

const ptrSelArb: fc.Arbitrary<PtrSel> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('low' as const) },
  { weight: 1, arbitrary: fc.constantFrom<PtrSel>('edge', 'past', 'end', 'wrap', 'huge') },
);

/** A vCPU argument: usually valid (0 or 1 of 2), sometimes not. */
const vcpuArgArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(0, 1) },
  { weight: 1, arbitrary: fc.constantFrom(2, 31, 32, -1) },
);

// ---------------------------------------------------------------------------------------------
// Commands

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(Hc).map(([k, v]) => [v, k]));

/** A call plan from a resolved caller; the label shows the resolved arguments. */
function callPlan(dom: number, vcpu: number, nr: number, args: number[], prepare: ModelWrite[] = [], note = ''): CallPlan {
  const label = `${NAMES[nr] ?? `call ${nr}`}(${args.join(', ')}) from ${dom}.${vcpu}${note === '' ? '' : ` [${note}]`}`;
  return { kind: 'call', label, dom, vcpu, nr, args, prepare };
}

/** `{caller d=0 v=1} [{"kind":"live","k":3}]`: the selectors of a command, compactly. */
function showSelectors(caller: CallerSel, x: unknown): string {
  return `{caller d=${caller.d} v=${caller.v}}${x === null ? '' : ` ${JSON.stringify(x)}`}`;
}

/** A command that makes call `nr` from a selected caller with arguments built by `args`. */
function callCommand<T>(
  name: string,
  extra: fc.Arbitrary<T>,
  build: (s: ModelState, caller: { dom: ModelDomain; vcpu: number }, x: T) => CallPlan | null,
): fc.Arbitrary<fc.Command<ModelWorld, HostUnderTest>> {
  return fc.tuple(callerArb, extra).map(
    ([sel, x]) =>
      new PlannedCommand(name, showSelectors(sel, x), (s) => {
        const c = resolveCaller(s, sel);
        return c === null ? null : build(s, c, x);
      }),
  );
}

/** A guest-side write by a running domain. */
function guestCommand<T>(
  name: string,
  extra: fc.Arbitrary<T>,
  build: (d: ModelDomain, vcpu: number, x: T) => GuestPlan,
): fc.Arbitrary<fc.Command<ModelWorld, HostUnderTest>> {
  return fc.tuple(callerArb, extra).map(
    ([sel, x]) =>
      new PlannedCommand(name, showSelectors(sel, x), (s) => {
        const c = resolveCaller(s, sel);
        return c === null ? null : build(c.dom, c.vcpu, x);
      }),
  );
}

/** The byte of a bitmap (pending or mask) holding port `p`, with that bit set to `on`. */
function bitmapByte(bits: readonly boolean[], p: number, on: boolean): Uint8Array {
  const base = p & ~7;
  let byte = 0;
  for (let i = 0; i < 8; i++) if (bits[base + i] === true) byte |= 1 << i;
  byte = on ? byte | (1 << (p & 7)) : byte & ~(1 << (p & 7));
  return new Uint8Array([byte]);
}

const allocUnbound = callCommand('evtchn_alloc_unbound', domSelArb, (s, c, d) =>
  callPlan(c.dom.id, c.vcpu, Hc.evtchn_alloc_unbound, [resolveDom(s, d)]),
);

/** bind_interdomain: mostly a port that really is offered to the caller, sometimes anything. */
type BindSel =
  | { readonly kind: 'match'; readonly k: number; readonly viaSelf: boolean }
  | { readonly kind: 'other'; readonly dom: DomSel; readonly port: PortSel };

const bindSelArb: fc.Arbitrary<BindSel> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('match' as const), k: fc.nat(), viaSelf: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('other' as const), dom: domSelArb, port: portSelArb() }) },
);

const bindInterdomain = callCommand('evtchn_bind_interdomain', bindSelArb, (s, c, sel) => {
  if (sel.kind === 'match') {
    const offers: { dom: number; port: number }[] = [];
    for (const d of s.domains) {
      d.ports.forEach((p, port) => {
        if (p.state === 'unbound' && p.remoteDom === c.dom.id) offers.push({ dom: d.id, port });
      });
    }
    const o = offers[sel.k % Math.max(1, offers.length)];
    if (o !== undefined) {
      const domArg = o.dom === c.dom.id && sel.viaSelf ? DOMID_SELF : o.dom;
      return callPlan(c.dom.id, c.vcpu, Hc.evtchn_bind_interdomain, [domArg, o.port], [], 'offered');
    }
  }
  const dom = sel.kind === 'other' ? resolveDom(s, sel.dom) : (s.domains[0]?.id ?? 0);
  const target = s.domains.find((d) => d.id === (dom === DOMID_SELF ? c.dom.id : dom));
  const port = target !== undefined ? resolvePort(target, sel.kind === 'other' ? sel.port : { kind: 'live', k: 0 }) : 1;
  return callPlan(c.dom.id, c.vcpu, Hc.evtchn_bind_interdomain, [dom, port]);
});

const virqArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(VIRQ_TIMER, VIRQ_CONSOLE) },
  { weight: 1, arbitrary: fc.constantFrom(1, 3, 24, -1) },
);

const bindVirq = callCommand('evtchn_bind_virq', fc.tuple(virqArb, vcpuArgArb), (_s, c, [virq, v]) =>
  callPlan(c.dom.id, c.vcpu, Hc.evtchn_bind_virq, [virq, v]),
);

const bindIpi = callCommand('evtchn_bind_ipi', vcpuArgArb, (_s, c, v) => callPlan(c.dom.id, c.vcpu, Hc.evtchn_bind_ipi, [v]));

/** send / unmask / close on a selected port of the caller. */
function portCall(nr: number, favourite: 'live' | 'sendable' | 'pending'): fc.Arbitrary<fc.Command<ModelWorld, HostUnderTest>> {
  return callCommand(NAMES[nr] ?? `${nr}`, portSelArb(favourite), (_s, c, p) => callPlan(c.dom.id, c.vcpu, nr, [resolvePort(c.dom, p)]));
}

const status = callCommand('evtchn_status', fc.tuple(portSelArb(), ptrSelArb), (_s, c, [p, ptr]) =>
  callPlan(c.dom.id, c.vcpu, Hc.evtchn_status, [resolvePort(c.dom, p), resolvePtr(c.dom.memSize, ptr, STATUS_LEN)]),
);

/** sched_block: only runs when the model says it returns at once (upcall_pending set). */
const schedBlock = callCommand('sched_block', fc.constant(null), (_s, c) => callPlan(c.dom.id, c.vcpu, Hc.sched_block, []));

/** sched_poll on 1..3 ports (or a bad count); only runs when it returns at once. */
const schedPoll = callCommand(
  'sched_poll',
  fc.tuple(fc.array(portSelArb('pending'), { minLength: 1, maxLength: 3 }), fc.constantFrom<'ok' | 'zero' | 'big'>('ok', 'ok', 'ok', 'zero', 'big')),
  (_s, c, [sels, count]) => {
    const ports = sels.map((p) => resolvePort(c.dom, p));
    const n = count === 'ok' ? ports.length : count === 'zero' ? 0 : 129;
    return callPlan(c.dom.id, c.vcpu, Hc.sched_poll, [POLL_AT, n, 0], [{ addr: POLL_AT, bytes: u32Bytes(...ports) }], `ports ${ports.join(',')}`);
  },
);

const shutdown = callCommand(
  'sched_shutdown',
  fc.tuple(fc.constantFrom(SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_CRASH, 2), fc.integer({ min: -3, max: 3 })),
  (_s, c, [reason, code]) => callPlan(c.dom.id, c.vcpu, Hc.sched_shutdown, [reason, code]),
);

const vcpuUp = callCommand(
  'vcpu_up',
  fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(0, 2) }), fc.constantFrom(0x4000, 0x4000, 0x4000, 0x4008, 0)),
  (_s, c, [v, stack]) => callPlan(c.dom.id, c.vcpu, Hc.vcpu_up, [v, 0, stack, 0]),
);

const vcpuDown = callCommand('vcpu_down', fc.constantFrom(1, 1, 0, 2), (_s, c, v) => callPlan(c.dom.id, c.vcpu, Hc.vcpu_down, [v]));

const misc = callCommand(
  'misc',
  fc.oneof(
    fc.constant({ nr: Hc.version, args: [] as number[] }),
    fc.constant({ nr: Hc.sched_yield, args: [] as number[] }),
    fc
      .oneof(fc.integer({ min: 0, max: 24 }), fc.constantFrom(0x10000, 0x10001, 0x10002, 0x10003))
      .map((id) => ({ nr: Hc.probe, args: [id] })),
    vcpuArgArb.map((v) => ({ nr: Hc.vcpu_is_up, args: [v] })),
  ),
  (_s, c, x) => callPlan(c.dom.id, c.vcpu, x.nr, x.args),
);

/** A multicall batch of 1..3 event-channel entries, written at BATCH_AT. */
const multicallCmd = callCommand(
  'multicall',
  fc.array(fc.tuple(fc.constantFrom(Hc.evtchn_send, Hc.evtchn_unmask, Hc.evtchn_close, Hc.evtchn_bind_ipi, Hc.evtchn_status, Hc.sched_block), portSelArb('sendable')), {
    minLength: 1,
    maxLength: 3,
  }),
  (_s, c, entries) => {
    const bytes = new Uint8Array(entries.length * MULTICALL_ENTRY_SIZE);
    const shown: string[] = [];
    entries.forEach(([op, sel], i) => {
      const port = resolvePort(c.dom, sel);
      const args = op === Hc.evtchn_bind_ipi ? [port & 1] : op === Hc.evtchn_status ? [port, SCRATCH] : op === Hc.sched_block ? [] : [port];
      shown.push(`${NAMES[op]}(${args.join(', ')})`);
      const at = i * MULTICALL_ENTRY_SIZE;
      bytes.set(u32Bytes(op), at + MULTICALL_ENTRY_OFF.op);
      // A stale value in the result field: the host must overwrite it.
      bytes.set(u32Bytes(0xdead), at + MULTICALL_ENTRY_OFF.result);
      bytes.set(u32Bytes(...[0, 1, 2, 3, 4].map((k) => args[k] ?? 0)), at + MULTICALL_ENTRY_OFF.args);
    });
    return callPlan(c.dom.id, c.vcpu, Hc.multicall, [BATCH_AT, entries.length], [{ addr: BATCH_AT, bytes }], shown.join('; '));
  },
);

const guestMask = guestCommand('guest: set/clear mask bit', fc.tuple(portSelArb(), fc.boolean()), (d, _v, [sel, on]) => {
  const p = resolveGuestPort(d, sel);
  return {
    kind: 'guest',
    label: `guest ${d.id}: ${on ? 'mask' : 'clear mask of'} port ${p}`,
    dom: d.id,
    writes: [{ off: SHARED_INFO_OFF.evtchn_mask + (p >> 3), bytes: bitmapByte(d.mask, p, on) }],
  };
});

const guestClearPending = guestCommand('guest: clear pending bit', portSelArb('pending'), (d, _v, sel) => {
  const p = resolveGuestPort(d, sel);
  return {
    kind: 'guest',
    label: `guest ${d.id}: clear pending of port ${p}`,
    dom: d.id,
    writes: [{ off: SHARED_INFO_OFF.evtchn_pending + (p >> 3), bytes: bitmapByte(d.pending, p, false) }],
  };
});

/**
 * What an upcall handler does: clear upcall_pending, then take pending_sel (exchange with 0).
 * `part` also lets the two steps happen alone, as they do when an event arrives between them.
 */
const guestAckUpcall = guestCommand('guest: ack upcall', fc.constantFrom('both' as const, 'both' as const, 'upcall' as const, 'sel' as const), (d, v, part) => {
  const base = SHARED_INFO_OFF.vcpu_info + v * VCPU_INFO_SIZE;
  const clearUpcall = { off: base + VCPU_INFO_OFF.evtchn_upcall_pending, bytes: new Uint8Array([0]) };
  const clearSel = { off: base + VCPU_INFO_OFF.evtchn_pending_sel, bytes: new Uint8Array(4) };
  const writes = part === 'both' ? [clearUpcall, clearSel] : part === 'upcall' ? [clearUpcall] : [clearSel];
  const what = part === 'both' ? 'upcall_pending and pending_sel' : part === 'upcall' ? 'upcall_pending only' : 'pending_sel only';
  return { kind: 'guest', label: `guest ${d.id}.${v}: clear ${what}`, dom: d.id, writes };
});

const guestUpcallMask = guestCommand('guest: set/clear upcall_mask', fc.boolean(), (d, v, on) => ({
  kind: 'guest',
  label: `guest ${d.id}.${v}: upcall_mask = ${on ? 1 : 0}`,
  dom: d.id,
  writes: [{ off: SHARED_INFO_OFF.vcpu_info + v * VCPU_INFO_SIZE + VCPU_INFO_OFF.evtchn_upcall_mask, bytes: new Uint8Array([on ? 1 : 0]) }],
}));

/**
 * Random sequences of event-channel work across the domains: alloc_unbound, bind_interdomain
 * (mostly on a port really offered to the caller), bind_virq, bind_ipi, send, unmask, close,
 * status (sometimes with a bad pointer), guest-side writes of mask, pending, upcall_pending,
 * pending_sel and upcall_mask, sched_block and sched_poll when they return at once, and
 * optionally vcpu_up/down, sched_shutdown and multicall batches.
 */
export function makeEvtchnCommands(cfg: EvtchnCommandsConfig = {}): fc.Arbitrary<Iterable<fc.Command<ModelWorld, HostUnderTest>>> {
  type W = { weight: number; arbitrary: fc.Arbitrary<fc.Command<ModelWorld, HostUnderTest>> };
  const weighted: W[] = [
    { weight: 4, arbitrary: allocUnbound },
    { weight: 4, arbitrary: bindInterdomain },
    { weight: 2, arbitrary: bindVirq },
    { weight: 2, arbitrary: bindIpi },
    { weight: 5, arbitrary: portCall(Hc.evtchn_send, 'sendable') },
    { weight: 2, arbitrary: portCall(Hc.evtchn_unmask, 'pending') },
    { weight: 2, arbitrary: portCall(Hc.evtchn_close, 'live') },
    { weight: 2, arbitrary: status },
    { weight: 2, arbitrary: guestMask },
    { weight: 2, arbitrary: guestClearPending },
    { weight: 2, arbitrary: guestAckUpcall },
    { weight: 1, arbitrary: guestUpcallMask },
    { weight: 2, arbitrary: schedBlock },
    { weight: 2, arbitrary: schedPoll },
    { weight: 1, arbitrary: misc },
  ];
  if (cfg.vcpuHotplug !== false) weighted.push({ weight: 1, arbitrary: vcpuUp }, { weight: 1, arbitrary: vcpuDown });
  if (cfg.shutdown !== false) weighted.push({ weight: 1, arbitrary: shutdown });
  if (cfg.multicall !== false) weighted.push({ weight: 1, arbitrary: multicallCmd });
  // size 'max': sequences up to maxCommands long; the default ('small') gives a handful of
  // commands, too few to build up channels worth testing.
  return fc.commands([fc.oneof(...weighted)], { maxCommands: cfg.maxCommands ?? 60, size: 'max' });
}

/** Options of {@link runModelBased}. */
export interface RunModelBasedOptions {
  /** fast-check seed (print it in the test title). */
  readonly seed: number;
  /** Number of command sequences. */
  readonly numRuns: number;
  /** The domains to create (default {@link DEFAULT_DOMAINS}). */
  readonly domains?: readonly ModelDomainConfig[];
  /** Which commands to generate. */
  readonly commands?: EvtchnCommandsConfig;
}

/**
 * Runs random command sequences against a fresh host from `makeHost(domains)` and the reference
 * model, comparing after every command. Throws (through fast-check, with the shrunk command
 * sequence and a readable diff) on the first disagreement.
 */
export function runModelBased(makeHost: (domains: readonly ModelDomainConfig[]) => HostUnderTest, opts: RunModelBasedOptions): void {
  const domains = opts.domains ?? DEFAULT_DOMAINS;
  fc.assert(
    fc.property(makeEvtchnCommands(opts.commands), (cmds) => {
      const setup = (): { model: ModelWorld; real: HostUnderTest } => {
        const host = makeHost(domains);
        for (const d of domains) {
          if (host.memSize(d.id) !== d.memSize) {
            throw new Error(`harness setup: domain ${d.id} has ${host.memSize(d.id)} bytes on the host, ${d.memSize} in the model`);
          }
        }
        const model = modelHost(domains, { sharedInfoAddr: (d) => host.sharedInfoAddr(d.id) });
        const diff = diffObservations(observe(model.state), host.observe());
        if (diff.length > 0) fail(null, diff);
        return { model: { model, trace: [] }, real: host };
      };
      fc.modelRun(setup, cmds);
    }),
    // includeErrorInReport: the thrown diff is the useful part of a failure.
    { seed: opts.seed, numRuns: opts.numRuns, includeErrorInReport: true },
  );
}
