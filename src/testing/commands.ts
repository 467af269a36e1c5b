/**
 * The commands of the model-based runs: one per hypercall (and guest-side writes to shared_info,
 * and time passing), each carrying only selectors that it resolves against the model state when
 * it runs, then makes the same step on the model and the host under test and compares them.
 * {@link modelRun} (model-run.ts) runs sequences of them.
 * @module
 */
import fc from 'fast-check';
import {
  DOMID_SELF,
  GNTCOPY_DEST_GREF,
  GNTCOPY_SOURCE_GREF,
  GRANT_COPY_OP_SIZE,
  GRANT_ENTRY_V1_SIZE,
  GRANT_FRAME_SIZE,
  GRANT_TABLE_MAX,
  GTF_PERMIT_ACCESS,
  GTF_READONLY,
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
  VIRQ_CONTROL,
  VIRQ_DOM_EXC,
  VIRQ_TIMER,
  SIF_PRIVILEGED,
  CONSOLE_IO_MAX,
  DOMCTL_ATTACH_DEVICE,
  DOMCTL_CREATE,
  DOMCTL_DETACH_DEVICE,
  DOMCTL_PHYSINFO,
  DOMCTL_DESTROY,
  DOMCTL_GETINFO,
  DOMCTL_LIST,
  DOMCTL_OP_SIZE,
  DOMCTL_PAUSE,
  DOMCTL_REQUEST_SHUTDOWN,
  DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET,
  DOMCTL_SET_VCPUS,
  DOMCTL_UNPAUSE,
  WALLCLOCK_SIZE,
  errorName,
} from '../abi/generated/index.ts';
import {
  encodeDomctlCreate,
  encodeDomctlOp,
  encodeGrantCopyOp,
  encodeGrantEntry,
  invariants,
  observe,
  u32Bytes,
  type GrantCopyPtr,
  type ModelDomain,
  type ModelDomainConfig,
  type ModelState,
  type ModelWrite,
} from '../../spec/model/index.ts';
import { diffObservations } from './diff.ts';
import type { HostUnderTest } from './host.ts';
import type { ModelHost } from './model-host.ts';
import { FAKE_GUEST_IMAGE } from './fake-image.ts';

/**
 * Three domains (ids 1..3, as the host numbers them), two vCPUs each, 256 KiB each. Domain 1 is a
 * controlling domain (its `domctl` calls succeed; the others' get EPERM).
 */
export const DEFAULT_DOMAINS: readonly ModelDomainConfig[] = [1, 2, 3].map((id) => ({
  id,
  memSize: 256 * 1024,
  nrVcpus: 2,
  privileged: id === 1,
}));

/**
 * {@link DEFAULT_DOMAINS} with devices: the controlling domain has two (a block and a network
 * device), domain 2 one, so DOMCTL_ATTACH_DEVICE and DOMCTL_DETACH_DEVICE have something to move
 * (on {@link hvHost} they are FakeDevices; their DEVICE ports are 1, 2 and 1).
 */
export const DEVICE_DOMAINS: readonly ModelDomainConfig[] = DEFAULT_DOMAINS.map((d) => ({
  ...d,
  devices: d.id === 1 ? [{ name: 'blk0', type: 2 }, { name: 'net0', type: 1 }] : d.id === 2 ? [{ name: 'con0', type: 3 }] : [],
}));

/** What fast-check's model run carries on the model side. */
export interface ModelWorld {
  /** The reference model, behind the same interface as the host. */
  readonly model: ModelHost;
  /** What the commands of this run did, with their arguments resolved (printed on failure). */
  readonly trace: string[];
  /** Whether calls may block (the host reports blocked vCPUs and wake results). */
  readonly blocking: boolean;
  /** vCPUs ("dom.vcpu") the harness made block, with the call that blocked them. */
  readonly waiting: Map<string, string>;
}

/** Which commands a run may generate. */
export interface CommandsConfig {
  /** Most commands per sequence (default 60). */
  readonly maxCommands?: number;
  /** Include vcpu_up / vcpu_down, so vCPU 1 can make calls too (default true). */
  readonly vcpuHotplug?: boolean;
  /** Include sched_shutdown (default true; rare). */
  readonly shutdown?: boolean;
  /** Include multicall batches of event-channel calls (default true). */
  readonly multicall?: boolean;
  /**
   * Include "time passes" commands (default: when the host has {@link HostUnderTest.advanceTime}).
   * set_timer is generated either way.
   */
  readonly time?: boolean;
  /**
   * fast-check's commands replay path (the `replayPath="…"` a failure prints beside the shrunk
   * sequence); with {@link ModelRunOptions.seed} and {@link ModelRunOptions.path} it replays that
   * exact sequence.
   */
  readonly replayPath?: string;
  /**
   * Let sched_block and sched_poll block (default: when the host has
   * {@link HostUnderTest.isBlocked} and {@link HostUnderTest.wakeResult}); the harness then checks
   * every wake: when, and with which result.
   */
  readonly blocking?: boolean;
  /** Include console_write / console_read / wallclock (default true). */
  readonly console?: boolean;
  /** Include grant_setup, grant entries written by the guests, and grant_copy (default true). */
  readonly grant?: boolean;
  /**
   * How much more often than by default the grant commands come (default 1): a grant-focused run
   * (test/model/grant-host.model.test.ts) raises it so that tables, entries and copies meet.
   */
  readonly grantWeight?: number;
  /**
   * Include `domctl` (default true): all 13 commands — getinfo, list, pause, unpause, destroy,
   * max and target memory, shutdown requests, vCPU counts, device moves, physinfo, and create
   * (the fake image, through the host's loader) — mostly from a controlling domain.
   */
  readonly domctl?: boolean;
  /** How much more often than by default domctl commands come (default 1; see grantWeight). */
  readonly domctlWeight?: number;
  /**
   * Include decrease_reservation / increase_reservation (ballooning; default false). Opt-in so that
   * the default mix, and the seeds documented with it (docs/property-testing.md's worked example),
   * stay as they were; test/model/balloon-host.model.test.ts and the checklist turn it on.
   */
  readonly balloon?: boolean;
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

/** System time moves on to `now` (ns): the model's fireTimers, the host's advanceTime. */
interface TimePlan {
  readonly kind: 'time';
  readonly label: string;
  readonly now: number;
}

/** A guest's plain store into its own memory (a grant entry), outside shared_info. */
interface MemPlan {
  readonly kind: 'mem';
  readonly label: string;
  readonly dom: number;
  readonly addr: number;
  readonly bytes: Uint8Array;
}

type Plan = CallPlan | GuestPlan | TimePlan | MemPlan;

/** Turns the model state into a plan, or null when the command cannot run now. */
/**
 * Turns the model state into a plan, or null when the command cannot run now. The model host is
 * there for the few commands that choose by guest memory (grant_copy picks entries guests wrote).
 */
type Planner = (s: ModelState, m: ModelHost) => Plan | null;

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
    private readonly mayBlock = false,
  ) {}

  check(w: Readonly<ModelWorld>): boolean {
    const p = this.plan(w.model.state, w.model);
    if (p === null) return false;
    if (p.kind !== 'call' || w.model.peek(p.dom, p.vcpu, p.nr, p.args, p.prepare).blocks !== true) return true;
    // A call that blocks: only from a command that may block, on a host that reports blocked
    // vCPUs, and never the last runnable vCPU of all (with none left, only time could go on).
    if (!this.mayBlock || !w.blocking) return false;
    let runnable = 0;
    for (const d of w.model.state.domains) if (d.status === 'running' && !d.paused) for (const v of d.vcpus) if (v.up && v.blocked === null) runnable++;
    return runnable > 1;
  }

  run(w: ModelWorld, host: HostUnderTest): void {
    const p = this.plan(w.model.state, w.model);
    if (p === null) throw new Error(`harness: ${this.name} ran although check() refused it`);
    w.trace.push(p.label);
    if (p.kind === 'guest') runGuest(w, host, p);
    else if (p.kind === 'time') runTime(w, host, p);
    else if (p.kind === 'mem') runMem(w, host, p);
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

/** Throws the failure of a run: what differs, after which command, and the resolved commands so far. */
export function fail(w: ModelWorld | null, lines: string[]): never {
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
  const known = new Set(w.model.state.domains.map((d) => d.id));
  const expected = w.model.step(p.dom, p.vcpu, p.nr, p.args);
  const got = host.call(p.dom, p.vcpu, p.nr, p.args);
  if (expected.blocks === true) {
    // Its result comes when it wakes (checkWaits); now only that the host blocked it too.
    if (host.isBlocked?.(p.dom, p.vcpu) !== true) fail(w, [`vCPU ${p.dom}.${p.vcpu}: blocks in the model, host returned ${showResult(got)} at once`]);
    w.waiting.set(`${p.dom}.${p.vcpu}`, p.label);
    return;
  }
  if (expected.noReturn !== true && got !== expected.result) {
    fail(w, [`result: model ${showResult(expected.result)}, host ${showResult(got)}`, ...diffObservations(observe(w.model.state), host.observe())]);
  }
  // A domain DOMCTL_CREATE made starts from the host's bytes (start_info and the rest), as the
  // initial ones do (model-run.ts setup).
  if (host.readMem !== undefined) {
    for (const d of w.model.state.domains) if (!known.has(d.id)) w.model.loadImage(d.id, host.readMem(d.id, 0, d.memSize));
  }
  if (host.readMem !== undefined && expected.noReturn !== true) {
    for (const wr of expected.writes ?? []) {
      if (wr.hostDefined === true) {
        // The model cannot know these bytes (wallclock); take the host's, so that later calls
        // reading them (console_write of that buffer) see the same memory on both sides.
        w.model.writeMem(p.dom, wr.addr, host.readMem(p.dom, wr.addr, wr.bytes.length));
        continue;
      }
      // grant_copy writes into other domains too (wr.dom).
      const dom = wr.dom ?? p.dom;
      const hostBytes = host.readMem(dom, wr.addr, wr.bytes.length);
      const modelBytes = w.model.readMem?.(dom, wr.addr, wr.bytes.length) ?? wr.bytes;
      if (hostBytes.join() !== modelBytes.join()) {
        fail(w, [`memory at ${wr.addr}${dom === p.dom ? '' : ` of domain ${dom}`}: model [${modelBytes.join(' ')}], host [${hostBytes.join(' ')}]`]);
      }
    }
  }
  syncStartInfo(w, host);
}

/** The start_info pages, host-written bytes the model does not state, copied into the model's memory (HostUnderTest.startInfoAddr). */
function syncStartInfo(w: ModelWorld, host: HostUnderTest): void {
  if (host.startInfoAddr === undefined || host.readMem === undefined) return;
  for (const d of w.model.state.domains) {
    const at = host.startInfoAddr(d.id);
    const len = Math.max(0, Math.min(4096, d.memSize - at));
    if (len > 0) w.model.writeMem(d.id, at, host.readMem(d.id, at, len));
  }
}

function runGuest(w: ModelWorld, host: HostUnderTest, p: GuestPlan): void {
  for (const g of p.writes) {
    w.model.writeMem(p.dom, w.model.sharedInfoAddr(p.dom) + g.off, g.bytes);
    host.writeMem(p.dom, host.sharedInfoAddr(p.dom) + g.off, g.bytes);
  }
}

function runMem(w: ModelWorld, host: HostUnderTest, p: MemPlan): void {
  w.model.writeMem(p.dom, p.addr, p.bytes);
  host.writeMem(p.dom, p.addr, p.bytes);
}

function runTime(w: ModelWorld, host: HostUnderTest, p: TimePlan): void {
  if (host.advanceTime === undefined) fail(w, ['harness: the host has no advanceTime; run with commands: { time: false }']);
  w.model.advanceTime(p.now);
  host.advanceTime(p.now);
}

function compareState(w: ModelWorld, host: HostUnderTest): void {
  const broken = invariants(w.model.state);
  if (broken.length > 0) fail(w, ['the MODEL broke its own invariants:', ...broken]);
  const diff = diffObservations(observe(w.model.state), host.observe());
  if (diff.length > 0) fail(w, ['observable state differs:', ...diff]);
  checkWaits(w, host);
}

/**
 * Every vCPU the harness made block: still blocked on both sides, or woken on both with the same
 * result. A vCPU taken down or in a shut-down domain stops waiting without a result (the model's
 * rule); it is no longer followed.
 */
function checkWaits(w: ModelWorld, host: HostUnderTest): void {
  for (const [key, call] of w.waiting) {
    const [dom, vcpu] = key.split('.').map(Number) as [number, number];
    const d = w.model.state.domains.find((x) => x.id === dom);
    if (d === undefined || d.status !== 'running' || d.vcpus[vcpu]?.up !== true) {
      w.waiting.delete(key);
      continue;
    }
    const inModel = w.model.isBlocked(dom, vcpu);
    const onHost = host.isBlocked?.(dom, vcpu) === true;
    if (inModel !== onHost) fail(w, [`vCPU ${key} (in ${call}): model ${inModel ? 'still blocked' : 'woke'}, host ${onHost ? 'still blocked' : 'woke'}`]);
    if (inModel) continue;
    const expected = w.model.wakeResult(dom, vcpu);
    const got = host.wakeResult?.(dom, vcpu) ?? expected;
    if (got !== expected) fail(w, [`vCPU ${key} woke from ${call}: result model ${showResult(expected)}, host ${showResult(got)}`]);
    w.waiting.delete(key);
  }
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
  const doms = s.domains.filter((d) => d.status === 'running' && !d.paused && runnable(d).length > 0);
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
const TIMEOUT_AT = 0x700;
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
  build: (s: ModelState, caller: { dom: ModelDomain; vcpu: number }, x: T, m: ModelHost) => CallPlan | null,
  mayBlock = false,
): fc.Arbitrary<fc.Command<ModelWorld, HostUnderTest>> {
  return fc.tuple(callerArb, extra).map(
    ([sel, x]) =>
      new PlannedCommand(
        name,
        showSelectors(sel, x),
        (s, m) => {
          const c = resolveCaller(s, sel);
          return c === null ? null : build(s, c, x, m);
        },
        mayBlock,
      ),
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
  { weight: 5, arbitrary: fc.constantFrom(VIRQ_TIMER, VIRQ_CONSOLE, VIRQ_CONTROL, VIRQ_DOM_EXC) },
  { weight: 1, arbitrary: fc.constantFrom(1, 4, 24, -1) },
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

/**
 * sched_block: with `mayBlock`, also when nothing is pending (the host must block the vCPU and
 * later wake it); otherwise only when it returns at once.
 */
const schedBlock = (mayBlock: boolean) => callCommand('sched_block', fc.constant(null), (_s, c) => callPlan(c.dom.id, c.vcpu, Hc.sched_block, []), mayBlock);

/**
 * sched_poll on 1..3 ports (or a bad count), without a timeout, with a deadline already reached
 * (ETIMEDOUT unless a port is pending), a deadline a little ahead (a "time passes" ends it with
 * ETIMEDOUT), a deadline value of 0 ("no timeout") or a bad timeout pointer. It may block when
 * the host reports blocked vCPUs ({@link HostUnderTest.isBlocked}).
 */
const schedPoll = (mayBlock: boolean) => callCommand(
  'sched_poll',
  fc.tuple(
    fc.array(portSelArb('pending'), { minLength: 1, maxLength: 3 }),
    fc.constantFrom<'ok' | 'zero' | 'big'>('ok', 'ok', 'ok', 'zero', 'big'),
    fc.constantFrom<'none' | 'reached' | 'ahead' | 'zero' | 'bad'>('none', 'none', 'reached', 'ahead', 'ahead', 'zero', 'bad'),
    fc.integer({ min: 1, max: 5000 }),
  ),
  (s, c, [sels, count, timeout, k]) => {
    const ports = sels.map((p) => resolvePort(c.dom, p));
    const n = count === 'ok' ? ports.length : count === 'zero' ? 0 : 129;
    const prepare: ModelWrite[] = [{ addr: POLL_AT, bytes: u32Bytes(...ports) }];
    let t = 0;
    if (timeout === 'reached' || timeout === 'ahead' || timeout === 'zero') {
      t = TIMEOUT_AT;
      const deadline = timeout === 'zero' ? 0 : timeout === 'ahead' ? s.now + k : Math.max(1, s.now);
      prepare.push({ addr: TIMEOUT_AT, bytes: u64Bytes(deadline) });
    } else if (timeout === 'bad') t = c.dom.memSize - 4;
    return callPlan(c.dom.id, c.vcpu, Hc.sched_poll, [POLL_AT, n, t], prepare, `ports ${ports.join(',')}, timeout ${timeout}`);
  },
  mayBlock,
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

/** Little-endian u64 bytes (exact below 2^53; `'max'` is 2^64 - 1). */
function u64Bytes(v: number | 'max'): Uint8Array {
  const out = new Uint8Array(8);
  if (v === 'max') return out.fill(0xff);
  new DataView(out.buffer).setBigUint64(0, BigInt(v), true);
  return out;
}

/** Pointer selectors that land inside memory, so the harness can place the argument there. */
function placeable(sel: PtrSel): boolean {
  return sel === 'low' || sel === 'edge';
}

/** A u64 deadline relative to the model's current time. */
type DeadlineSel = 'cancel' | 'now' | 'soon' | 'later' | 'far' | 'max';

const deadlineSelArb = fc.tuple(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom<DeadlineSel>('soon', 'later') },
    { weight: 2, arbitrary: fc.constantFrom<DeadlineSel>('cancel', 'now') },
    { weight: 1, arbitrary: fc.constantFrom<DeadlineSel>('far', 'max') },
  ),
  fc.integer({ min: 1, max: 20_000 }),
);

function resolveDeadline(now: number, [sel, k]: [DeadlineSel, number]): number | 'max' {
  switch (sel) {
    case 'cancel':
      return 0;
    case 'now':
      return now; // already reached: fires during the call (or cancels, at time 0)
    case 'soon':
      return now + k;
    case 'later':
      return now + 1_000_000 + k;
    case 'far':
      return now + 2 ** 40;
    case 'max':
      return 'max';
  }
}

const setTimer = callCommand('set_timer', fc.tuple(deadlineSelArb, ptrSelArb), (s, c, [dl, ptr]) => {
  const at = resolvePtr(c.dom.memSize, ptr, 8);
  const deadline = resolveDeadline(s.now, dl);
  const prepare = placeable(ptr) ? [{ addr: at, bytes: u64Bytes(deadline) }] : [];
  return callPlan(c.dom.id, c.vcpu, Hc.set_timer, [at], prepare, `deadline ${deadline === 'max' ? '2^64-1' : deadline}, now ${s.now}`);
});

const consoleLenArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant('bytes' as const) },
  { weight: 1, arbitrary: fc.constantFrom(0, CONSOLE_IO_MAX, CONSOLE_IO_MAX + 1, -1) },
);

const consoleWrite = callCommand(
  'console_write',
  fc.record({ ptr: ptrSelArb, bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }), len: consoleLenArb }),
  (_s, c, x) => {
    const len = x.len === 'bytes' ? x.bytes.length : x.len;
    const at = resolvePtr(c.dom.memSize, x.ptr, Math.min(len >>> 0, CONSOLE_IO_MAX));
    const prepare = placeable(x.ptr) && x.bytes.length <= c.dom.memSize - at ? [{ addr: at, bytes: x.bytes }] : [];
    return callPlan(c.dom.id, c.vcpu, Hc.console_write, [at, len], prepare);
  },
);

const consoleRead = callCommand(
  'console_read',
  fc.tuple(ptrSelArb, fc.constantFrom(0, 16, CONSOLE_IO_MAX, CONSOLE_IO_MAX + 1, -1)),
  (_s, c, [ptr, len]) => callPlan(c.dom.id, c.vcpu, Hc.console_read, [resolvePtr(c.dom.memSize, ptr, Math.min(len >>> 0, CONSOLE_IO_MAX)), len]),
);

const wallclockCmd = callCommand('wallclock', ptrSelArb, (_s, c, ptr) =>
  callPlan(c.dom.id, c.vcpu, Hc.wallclock, [resolvePtr(c.dom.memSize, ptr, WALLCLOCK_SIZE)]),
);

/** Time passes: to the next armed timer or poll deadline, a little, or a lot. */
const timePasses = (): fc.Arbitrary<fc.Command<ModelWorld, HostUnderTest>> =>
  fc.tuple(fc.constantFrom<'next' | 'small' | 'big'>('next', 'next', 'small', 'big'), fc.integer({ min: 1, max: 5000 }))
  .map(
    ([kind, k]) =>
      new PlannedCommand('time passes', ` {${kind} ${k}}`, (s) => {
        let next = Infinity;
        for (const d of s.domains) {
          for (const v of d.vcpus) {
            if (v.timer !== 0 && v.timer > s.now && v.timer < next) next = v.timer;
            const b = v.blocked;
            if (b?.kind === 'poll' && b.deadline !== 0 && b.deadline > s.now && b.deadline < next) next = b.deadline;
          }
        }
        const now = kind === 'next' && next !== Infinity ? next : kind === 'big' ? s.now + 10_000_000 : s.now + k;
        return { kind: 'time', label: `time passes: ${s.now} -> ${now} ns`, now };
      }),
  );

const misc = callCommand(
  'misc',
  fc.oneof(
    fc.constant({ nr: Hc.version, args: [] as number[] }),
    fc.constant({ nr: Hc.sched_yield, args: [] as number[] }),
    fc
      .oneof(fc.integer({ min: 0, max: 27 }), fc.constantFrom(0x10000, 0x10001, 0x10002, 0x10003))
      .map((id) => ({ nr: Hc.probe, args: [id] })),
    vcpuArgArb.map((v) => ({ nr: Hc.vcpu_is_up, args: [v] })),
    // Always ENOSYS: two Wasm memories cannot share a page.
    fc.tuple(fc.constantFrom(1, 2, DOMID_SELF, 0), fc.nat(20)).map(([d, r]) => ({ nr: Hc.grant_map, args: [d, r] })),
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

// ---------------------------------------------------------------------------------------------
// Grant tables: every domain keeps its table at GRANT_AT (when it registers one), grants frames of
// DATA_FRAMES by plain stores, and copies with ops written at GRANT_OPS_AT. Frames on the host's
// time records are never a copy's source (the host refreshes them; the model does not know them).

const GRANT_AT = 0x3000;
/** Small tables, so that the references copies name are often the entries guests wrote. */
const GRANT_ENTRIES = 4;
const GRANT_OPS_AT = 0x3800;
const DATA_FRAMES = [4, 5, 6];

const grantSetup = callCommand(
  'grant_setup',
  fc.oneof(
    { weight: 6, arbitrary: fc.oneof(fc.constant(GRANT_ENTRIES), fc.integer({ min: 1, max: GRANT_ENTRIES })).map((n) => ({ kind: 'ok' as const, n })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'none' as const, n: 0 }) },
    { weight: 1, arbitrary: fc.constantFrom('misaligned' as const, 'too-many' as const, 'outside' as const).map((kind) => ({ kind, n: 4 })) },
  ),
  (_s, c, x) => {
    const args =
      x.kind === 'ok' ? [GRANT_AT, x.n]
      : x.kind === 'none' ? [0, 0]
      : x.kind === 'misaligned' ? [GRANT_AT + 2, x.n]
      : x.kind === 'too-many' ? [GRANT_AT, GRANT_TABLE_MAX + 1]
      : [c.dom.memSize - 8, x.n];
    return callPlan(c.dom.id, c.vcpu, Hc.grant_setup, args, [], x.kind);
  },
);

/** A guest writes entry k of its table: usually a grant of a data frame to some domain. */
const grantEntry = fc
  .tuple(
    callerArb,
    fc.nat(GRANT_ENTRIES - 1),
    fc.constantFrom(GTF_PERMIT_ACCESS, GTF_PERMIT_ACCESS, GTF_PERMIT_ACCESS | GTF_READONLY, GTF_PERMIT_ACCESS | GTF_READONLY, 0, 2),
    domSelArb,
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...DATA_FRAMES) }, { weight: 1, arbitrary: fc.constantFrom(64, 0xffffffff) }),
  )
  .map(
    ([sel, k, flags, to, frame]) =>
      new PlannedCommand('guest: write grant entry', showSelectors(sel, { k, flags, to, frame }), (s) => {
        const c = resolveCaller(s, sel);
        if (c === null) return null;
        const grantee = to.kind === 'self' ? c.dom.id : resolveDom(s, to);
        return {
          kind: 'mem',
          label: `guest ${c.dom.id}: grant entry ${k} = {flags ${flags}, domid ${grantee & 0xffff}, frame ${frame}}`,
          dom: c.dom.id,
          addr: GRANT_AT + k * GRANT_ENTRY_V1_SIZE,
          bytes: encodeGrantEntry(flags, grantee, frame),
        };
      }),
  );

/** One end of a harness op: an own data frame, a grant reference of some domain, or an own shared_info mask range. */
type EndSel =
  | { readonly kind: 'offered'; readonly k: number }
  | { readonly kind: 'frame'; readonly i: number }
  | { readonly kind: 'gref'; readonly dom: DomSel; readonly ref: number }
  | { readonly kind: 'frame-of'; readonly dom: DomSel }
  | { readonly kind: 'own-mask' };

const srcEndArb: fc.Arbitrary<EndSel> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('offered' as const), k: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('frame' as const), i: fc.nat(DATA_FRAMES.length - 1) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('gref' as const), dom: domSelArb, ref: fc.nat(GRANT_ENTRIES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('frame-of' as const), dom: domSelArb }) },
);
const dstEndArb: fc.Arbitrary<EndSel> = fc.oneof(
  { weight: 8, arbitrary: srcEndArb },
  { weight: 1, arbitrary: fc.constant({ kind: 'own-mask' as const }) },
);

/**
 * grant_copy: 1..3 ops between the caller's data frames, other domains' grants (often real ones:
 * the entry commands write them) and the mask bitmap of the caller's own shared_info, with
 * lengths that sometimes cross the end of the frame and, rarely, a stray flag bit.
 */
const grantCopy = callCommand(
  'grant_copy',
  fc.array(
    fc.record({
      src: srcEndArb,
      dst: dstEndArb,
      srcOff: fc.oneof({ weight: 4, arbitrary: fc.nat(256) }, { weight: 1, arbitrary: fc.constantFrom(GRANT_FRAME_SIZE - 8, GRANT_FRAME_SIZE) }),
      dstOff: fc.nat(128),
      len: fc.oneof({ weight: 4, arbitrary: fc.nat(64) }, { weight: 1, arbitrary: fc.constantFrom(0, 9, GRANT_FRAME_SIZE) }),
      junk: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(4) }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  (s, c, ops, m) => {
    const sharedInfoFrame = Math.floor((c.dom.memSize - 2 * GRANT_FRAME_SIZE) / GRANT_FRAME_SIZE);
    // Entries of registered tables that name the caller (whatever their type and frame: the
    // host must still refuse the bad ones), as the model's memory holds them.
    const offers: { dom: number; ref: number }[] = [];
    for (const d of s.domains) {
      for (let ref = 0; ref < d.grantTable.nrEntries; ref++) {
        const e = m.readMem?.(d.id, d.grantTable.table + ref * GRANT_ENTRY_V1_SIZE, GRANT_ENTRY_V1_SIZE) ?? new Uint8Array(GRANT_ENTRY_V1_SIZE);
        if ((e[2]! | (e[3]! << 8)) === c.dom.id) offers.push({ dom: d.id, ref });
      }
    }
    const end = (e: EndSel, off: number, len: number): { ptr: GrantCopyPtr; gref: boolean; len: number } => {
      switch (e.kind) {
        case 'offered': {
          const o = offers[e.k % Math.max(1, offers.length)];
          if (o === undefined) return { ptr: { ref: DATA_FRAMES[0]!, domid: DOMID_SELF, offset: off }, gref: false, len };
          const viaSelf = o.dom === c.dom.id && e.k % 2 === 0;
          return { ptr: { ref: o.ref, domid: viaSelf ? DOMID_SELF : o.dom, offset: off }, gref: true, len };
        }
        case 'frame':
          return { ptr: { ref: DATA_FRAMES[e.i] ?? 4, domid: DOMID_SELF, offset: off }, gref: false, len };
        case 'gref':
          return { ptr: { ref: e.ref, domid: resolveDom(s, e.dom) & 0xffff, offset: off }, gref: true, len };
        case 'frame-of':
          return { ptr: { ref: 4, domid: resolveDom(s, e.dom) & 0xffff, offset: off }, gref: false, len };
        case 'own-mask': {
          // The mask bitmap: bits a guest may set and clear at will, so the model's invariants hold.
          const at = (c.dom.memSize - 2 * GRANT_FRAME_SIZE) % GRANT_FRAME_SIZE + SHARED_INFO_OFF.evtchn_mask + (off % 64);
          return { ptr: { ref: sharedInfoFrame, domid: DOMID_SELF, offset: at }, gref: false, len: Math.min(len, 64) };
        }
      }
    };
    const bytes = new Uint8Array(ops.length * GRANT_COPY_OP_SIZE);
    const shown: string[] = [];
    ops.forEach((o, i) => {
      const dst = end(o.dst, o.dstOff, o.len);
      const src = end(o.src, o.srcOff, dst.len);
      const flags = (src.gref ? GNTCOPY_SOURCE_GREF : 0) | (dst.gref ? GNTCOPY_DEST_GREF : 0) | o.junk;
      bytes.set(encodeGrantCopyOp({ source: src.ptr, dest: dst.ptr, len: dst.len, flags }, 0x7eed), i * GRANT_COPY_OP_SIZE);
      const show = (p: GrantCopyPtr, g: boolean) => `${g ? 'ref' : 'frame'} ${p.ref}@${p.domid}+${p.offset}`;
      shown.push(`${show(src.ptr, src.gref)} -> ${show(dst.ptr, dst.gref)} len ${dst.len} flags ${flags}`);
    });
    return callPlan(c.dom.id, c.vcpu, Hc.grant_copy, [GRANT_OPS_AT, ops.length], [{ addr: GRANT_OPS_AT, bytes }], shown.join('; '));
  },
);

// ---------------------------------------------------------------------------------------------
// domctl: mostly from the controlling domain (so it acts), sometimes from any domain (EPERM from
// the others). The op is written at DOMCTL_AT, a DOMCTL_LIST buffer after it.

const DOMCTL_AT = 0x3c00;
const DOMCTL_LIST_AT = DOMCTL_AT + DOMCTL_OP_SIZE;

/** Where a DOMCTL_CREATE's image, name and command line are written (after the op and list buffer). */
const CREATE_IMAGE_AT = 0x3d00;
const CREATE_NAME_AT = 0x3d40;
const CREATE_CMDLINE_AT = 0x3d60;

/** A DOMCTL_CREATE request, by selectors resolved against the state. */
interface CreateSel {
  readonly kind: 'create';
  /** 128 KiB (fits 1 or 2 vCPUs), 64 KiB (too small: the loader refuses), or a bad size. */
  readonly mem: 'fit' | 'small' | 'zero' | 'odd' | 'huge';
  readonly vcpus: number;
  readonly flags: number;
  /** The fake image, a damaged one (the loader refuses), or one outside memory (EFAULT). */
  readonly image: 'fake' | 'junk' | 'outside';
  /** No name (`dom<id>`), a fresh one, one a domain has (EEXIST), a bad one, a too long one. */
  readonly name: 'none' | 'fresh' | 'taken' | 'bad' | 'long';
  /** max_mem: 0 (= mem_bytes), twice the memory, or below it (EINVAL). */
  readonly maxMem: 'none' | 'double' | 'below';
  readonly k: number;
}

/** What a harness domctl asks: the command, its target and payload selectors. */
type DomctlSel =
  | { readonly kind: 'getinfo' | 'pause' | 'unpause' | 'destroy'; readonly dom: DomSel }
  | { readonly kind: 'list'; readonly max: number }
  | { readonly kind: 'max_mem' | 'target'; readonly dom: DomSel; readonly frames: number }
  | { readonly kind: 'shutdown'; readonly dom: DomSel; readonly reason: number }
  | { readonly kind: 'set_vcpus'; readonly dom: DomSel; readonly n: number }
  | { readonly kind: 'attach' | 'detach'; readonly dom: DomSel; readonly k: number; readonly device: boolean }
  | CreateSel
  | { readonly kind: 'physinfo' }
  | { readonly kind: 'bad_version' | 'bad_cmd' };

const createSelArb: fc.Arbitrary<CreateSel> = fc.record({
  kind: fc.constant('create' as const),
  mem: fc.oneof({ weight: 8, arbitrary: fc.constant('fit' as const) }, { weight: 1, arbitrary: fc.constantFrom('small' as const, 'zero' as const, 'odd' as const, 'huge' as const) }),
  vcpus: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 1, 2) }, { weight: 1, arbitrary: fc.constantFrom(0, 33) }),
  flags: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 0, 0, SIF_PRIVILEGED) }, { weight: 1, arbitrary: fc.constant(2) }),
  image: fc.oneof({ weight: 8, arbitrary: fc.constant('fake' as const) }, { weight: 1, arbitrary: fc.constantFrom('junk' as const, 'outside' as const) }),
  name: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('none' as const, 'fresh' as const) }, { weight: 1, arbitrary: fc.constantFrom('taken' as const, 'bad' as const, 'long' as const) }),
  maxMem: fc.oneof({ weight: 6, arbitrary: fc.constant('none' as const) }, { weight: 2, arbitrary: fc.constant('double' as const) }, { weight: 1, arbitrary: fc.constant('below' as const) }),
  k: fc.nat(),
});

const domctlSelArb: fc.Arbitrary<DomctlSel> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('getinfo' as const), dom: domSelArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('list' as const), max: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pause' as const), dom: domSelArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('unpause' as const), dom: domSelArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('destroy' as const), dom: domSelArb }) },
  // Frames relative to the domain's size: below it (EINVAL for a max), at it, above it.
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('max_mem' as const, 'target' as const), dom: domSelArb, frames: fc.integer({ min: -8, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('shutdown' as const), dom: domSelArb, reason: fc.constantFrom(SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_REBOOT, SHUTDOWN_CRASH) }) },
  // 1 and 2 are the valid counts of a 2-vCPU domain; 0 and 3 are EINVAL.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set_vcpus' as const), dom: domSelArb, n: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(1, 1, 2) }, { weight: 1, arbitrary: fc.constantFrom(0, 3, 0xffffffff) }) }) },
  // Mostly an entry that holds a device; sometimes any index (DEVICE_NONE, past the end).
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('attach' as const, 'detach' as const), dom: domSelArb, k: fc.nat(), device: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 3, arbitrary: createSelArb },
  { weight: 1, arbitrary: fc.constant({ kind: 'physinfo' as const }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'bad_version' as const }, { kind: 'bad_cmd' as const }) },
);

/** An index into `d`'s manifest: the k-th entry holding a device, or (device false) any index up to two past the end. */
function manifestIndex(d: ModelDomain | undefined, k: number, device: boolean): number {
  const n = d?.devices.length ?? 0;
  if (device) {
    const held = (d?.devices ?? []).flatMap((x, i) => (x === null ? [] : [i]));
    const i = held[k % Math.max(1, held.length)];
    if (i !== undefined) return i;
  }
  return k % (n + 2);
}

/** The op and the memory a DOMCTL_CREATE from `c` needs. */
function createRequest(s: ModelState, c: ModelDomain, x: CreateSel): { payload: Uint8Array; prepare: ModelWrite[]; note: string } {
  const memBytes = { fit: 128 * 1024, small: 64 * 1024, zero: 0, odd: 4096, huge: 2 ** 32 + 65536 }[x.mem];
  const image = x.image === 'junk' ? FAKE_GUEST_IMAGE.map((b, i) => (i === 8 ? b ^ 0x20 : b)) : FAKE_GUEST_IMAGE;
  const imageAt = x.image === 'outside' ? c.memSize - 4 : CREATE_IMAGE_AT;
  const name =
    x.name === 'none' ? ''
    : x.name === 'fresh' ? `vm${x.k % 6}`
    : x.name === 'taken' ? (s.domains[x.k % s.domains.length]?.name ?? 'd1')
    : x.name === 'bad' ? 'a b'
    : 'sixteen-letters!';
  const nameBytes = new TextEncoder().encode(name);
  const cmdline = new TextEncoder().encode(`k=${x.k % 100}`);
  const payload = encodeDomctlCreate({
    image: imageAt, imageLen: image.length, memBytes, nrVcpus: x.vcpus, flags: x.flags,
    maxMem: { none: 0, double: 2 * memBytes, below: Math.max(0, memBytes - 65536) }[x.maxMem],
    cmdline: CREATE_CMDLINE_AT, cmdlineLen: cmdline.length, name: CREATE_NAME_AT, nameLen: nameBytes.length,
    // A stale domid: the host must overwrite it on success and leave it on failure.
    domid: 0xdead,
  });
  const prepare: ModelWrite[] = [{ addr: CREATE_NAME_AT, bytes: nameBytes }, { addr: CREATE_CMDLINE_AT, bytes: cmdline }];
  if (x.image !== 'outside') prepare.push({ addr: CREATE_IMAGE_AT, bytes: image });
  return { payload, prepare, note: `mem ${memBytes} max ${x.maxMem} vcpus ${x.vcpus} flags ${x.flags} image ${x.image} name "${name}"` };
}

const domctlCmd = fc.tuple(callerArb, fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), domctlSelArb).map(
  ([sel, fromControl, x]) =>
    new PlannedCommand('domctl', showSelectors(sel, { fromControl, ...x }), (s) => {
      // From a controlling domain when one can make a call, else from the selected caller.
      const runnableDoms = s.domains.filter((d) => d.status === 'running' && !d.paused && d.vcpus.some((v) => v.up && v.blocked === null));
      const ctls = runnableDoms.filter((d) => d.privileged);
      const ctl = fromControl && ctls.length > 0 ? ctls[sel.d % ctls.length] : undefined;
      const c = resolveCaller(s, ctl === undefined ? sel : { d: runnableDoms.indexOf(ctl), v: sel.v });
      if (c === null) return null;
      const target = (dom: number) => s.domains.find((d) => d.id === (dom === DOMID_SELF ? c.dom.id : dom));
      const memBytes = (dom: number) => target(dom)?.memSize ?? c.dom.memSize;
      const u64 = (v: number) => {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, v)), true);
        return b;
      };
      let cmd: number;
      let dom = 0;
      let payload: Uint8Array = new Uint8Array(0);
      let version: number | undefined;
      let prepare: ModelWrite[] = [];
      let note = '';
      switch (x.kind) {
        case 'getinfo': case 'pause': case 'unpause': case 'destroy':
          cmd = { getinfo: DOMCTL_GETINFO, pause: DOMCTL_PAUSE, unpause: DOMCTL_UNPAUSE, destroy: DOMCTL_DESTROY }[x.kind];
          dom = resolveDom(s, x.dom);
          break;
        case 'list':
          cmd = DOMCTL_LIST;
          payload = u32Bytes(DOMCTL_LIST_AT, x.max);
          break;
        case 'max_mem': case 'target':
          cmd = x.kind === 'max_mem' ? DOMCTL_SET_MAX_MEM : DOMCTL_SET_MEMORY_TARGET;
          dom = resolveDom(s, x.dom);
          payload = u64(memBytes(dom) + x.frames * GRANT_FRAME_SIZE);
          break;
        case 'shutdown':
          cmd = DOMCTL_REQUEST_SHUTDOWN;
          dom = resolveDom(s, x.dom);
          payload = u32Bytes(x.reason, 0);
          break;
        case 'set_vcpus':
          cmd = DOMCTL_SET_VCPUS;
          dom = resolveDom(s, x.dom);
          payload = u32Bytes(x.n, 0);
          break;
        case 'attach': case 'detach': {
          cmd = x.kind === 'attach' ? DOMCTL_ATTACH_DEVICE : DOMCTL_DETACH_DEVICE;
          dom = resolveDom(s, x.dom);
          // ATTACH names an entry of the caller's manifest, DETACH one of the target's.
          const index = manifestIndex(x.kind === 'attach' ? c.dom : target(dom), x.k, x.device);
          payload = u32Bytes(index, 0xdead);
          break;
        }
        case 'create': {
          cmd = DOMCTL_CREATE;
          dom = 0xbeef; // not looked at
          const r = createRequest(s, c.dom, x);
          payload = r.payload;
          prepare = r.prepare;
          note = ` (${r.note})`;
          break;
        }
        case 'physinfo':
          cmd = DOMCTL_PHYSINFO;
          dom = 0xbeef; // not looked at
          break;
        case 'bad_version':
          cmd = DOMCTL_GETINFO;
          dom = c.dom.id;
          version = 0;
          break;
        case 'bad_cmd':
          cmd = DOMCTL_PHYSINFO + 1;
          dom = c.dom.id;
          break;
      }
      const bytes = encodeDomctlOp(cmd, dom, payload, version);
      return callPlan(c.dom.id, c.vcpu, Hc.domctl, [DOMCTL_AT], [...prepare, { addr: DOMCTL_AT, bytes }], `${x.kind} cmd ${cmd} dom ${dom}${note}`);
    }),
);

// ---------------------------------------------------------------------------------------------
// Ballooning: frames 4..9 (the grant data frames and three more) go back to the pool and come
// back, so copies meet ballooned frames; now and then a range the host must refuse.

const balloonArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 4, max: 9 }), fc.integer({ min: 1, max: 3 })) },
  { weight: 1, arbitrary: fc.constantFrom<[number, number]>([4, 0], [60, 4], [63, 1], [0xffffffff, 2]) },
  // 32 frames at once (see controlBalloon).
  { weight: 1, arbitrary: fc.constant<[number, number]>([10, 32]) },
);
const decreaseCmd = callCommand('decrease_reservation', balloonArb, (_s, c, [f, n]) => callPlan(c.dom.id, c.vcpu, Hc.decrease_reservation, [f, n]));
const increaseCmd = callCommand('increase_reservation', balloonArb, (_s, c, [f, n]) => callPlan(c.dom.id, c.vcpu, Hc.increase_reservation, [f, n]));

/**
 * A controlling domain makes room for a DOMCTL_CREATE, as a toolstack does before `xl create`:
 * it hands frames 10..41 back (enough for a 128 KiB domain) or takes them again, or gives one of
 * its vCPUs to the pool (DOMCTL_SET_VCPUS on itself, from vCPU 0). Without it creates succeed only
 * after a destroy.
 */
const controlBalloon = fc.tuple(fc.nat(), fc.constantFrom('out' as const, 'out' as const, 'in' as const, 'vcpu' as const)).map(
  ([k, what]) =>
    new PlannedCommand('controlling domain makes room', ` {${k} ${what}}`, (s) => {
      const ctls = s.domains.filter((d) => d.privileged && d.status === 'running' && !d.paused && d.vcpus[0]?.up === true && d.vcpus[0].blocked === null);
      const c = ctls[k % Math.max(1, ctls.length)];
      if (c === undefined) return null;
      if (what === 'vcpu') {
        const bytes = encodeDomctlOp(DOMCTL_SET_VCPUS, DOMID_SELF, u32Bytes(1, 0));
        return callPlan(c.id, 0, Hc.domctl, [DOMCTL_AT], [{ addr: DOMCTL_AT, bytes }], 'set_vcpus self 1');
      }
      return callPlan(c.id, 0, what === 'out' ? Hc.decrease_reservation : Hc.increase_reservation, [10, 32]);
    }),
);

/**
 * Random command sequences over all 28 calls of the ABI across the domains: event channels
 * (alloc_unbound, bind_interdomain — mostly on a port really offered to the caller —, bind_virq,
 * bind_ipi, send, unmask, close, status, sometimes with a bad pointer), guest-side writes of mask,
 * pending, upcall_pending, pending_sel and upcall_mask, sched_block and sched_poll when they return
 * at once, set_timer, version, probe, sched_yield, vcpu_is_up, and optionally console_write /
 * console_read / wallclock, "time passes", vcpu_up/down, sched_shutdown, multicall batches, and
 * grant tables (grant_setup, guests writing grant entries, grant_copy batches; grant_map, always
 * ENOSYS, among the misc calls), with `balloon` ballooning (decrease_reservation /
 * increase_reservation, including 32 frames at once so that DOMCTL_CREATE finds a pool), and
 * (with `domctl`, default on) the controlling domains' domctl commands — create and destroy
 * cycles, vCPU counts, device moves, physinfo among them — now and then from a domain that is
 * not controlling.
 */
export function hypercallCommands(cfg: CommandsConfig = {}): fc.Arbitrary<Iterable<fc.Command<ModelWorld, HostUnderTest>>> {
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
    // Mostly the variants that only run when they return at once (the ones that may block come
    // below): a blocked vCPU makes no calls until something wakes it.
    { weight: 2, arbitrary: schedBlock(false) },
    { weight: 2, arbitrary: schedPoll(false) },
    { weight: 1, arbitrary: misc },
    { weight: 2, arbitrary: setTimer },
  ];
  if (cfg.blocking !== false) weighted.push({ weight: 1, arbitrary: schedBlock(true) }, { weight: 1, arbitrary: schedPoll(true) });
  if (cfg.console !== false) weighted.push({ weight: 1, arbitrary: consoleWrite }, { weight: 1, arbitrary: consoleRead }, { weight: 1, arbitrary: wallclockCmd });
  if (cfg.time !== false) weighted.push({ weight: 2, arbitrary: timePasses() });
  // Domctl-heavy runs lower vCPU counts often: bring vCPUs up and down as often, so vcpu_up meets vcpus_held.
  const hotplug = (cfg.domctlWeight ?? 1) > 1 ? 2 : 1;
  if (cfg.vcpuHotplug !== false) weighted.push({ weight: hotplug, arbitrary: vcpuUp }, { weight: hotplug, arbitrary: vcpuDown });
  if (cfg.shutdown !== false) weighted.push({ weight: 1, arbitrary: shutdown });
  if (cfg.multicall !== false) weighted.push({ weight: 1, arbitrary: multicallCmd });
  if (cfg.grant !== false) {
    const g = Math.max(1, Math.round(cfg.grantWeight ?? 1));
    weighted.push({ weight: 2 * g, arbitrary: grantSetup }, { weight: 3 * g, arbitrary: grantEntry }, { weight: 3 * g, arbitrary: grantCopy });
  }
  if (cfg.domctl !== false) weighted.push({ weight: 2 * Math.max(1, Math.round(cfg.domctlWeight ?? 1)), arbitrary: domctlCmd });
  if (cfg.balloon === true) weighted.push({ weight: 1, arbitrary: decreaseCmd }, { weight: 1, arbitrary: increaseCmd }, { weight: 1, arbitrary: controlBalloon });
  // size 'max': sequences up to maxCommands long; the default ('small') gives a handful of
  // commands, too few to build up channels worth testing.
  return fc.commands([fc.oneof(...weighted)], {
    maxCommands: cfg.maxCommands ?? 60,
    size: 'max',
    ...(cfg.replayPath !== undefined ? { replayPath: cfg.replayPath } : {}),
  });
}

