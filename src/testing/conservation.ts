/**
 * The conservation property of issue 6: resources move, they are never created or lost. Under
 * random sequences of the calls that move memory and vCPUs (decrease_reservation,
 * increase_reservation, DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_SET_VCPUS,
 * DOMCTL_SET_MEMORY_TARGET, DOMCTL_UNPAUSE) and of domains ending (sched_shutdown, and a crash when
 * the host can make one), the frames and vCPUs all domains hold plus the free pools always equal
 * the initial totals. Checked after every step twice: through DOMCTL_PHYSINFO (the host's own
 * accounts, as a guest reads them) and by an independent recomputation from the observation
 * (memory size minus ballooned frames per domain, vcpus_held per domain, both pools).
 *
 * Unlike `modelRun` it needs no reference model: it runs against any {@link HostUnderTest}
 * with `readMem` (pvisor's core through `hvHost`, or the model itself through
 * `modelHost` with a loader), so long campaigns are cheap:
 *
 * ```sh
 * npm run fuzz -- --property conservation --seed 7 --runs 20000 --host hv
 * ```
 * @module
 */
import fc from 'fast-check';
import {
  DOMCTL_CREATE,
  DOMCTL_DESTROY,
  DOMCTL_OP_OFF,
  DOMCTL_OP_SIZE,
  DOMCTL_PHYSINFO,
  DOMCTL_PHYSINFO_OFF,
  DOMCTL_SET_MEMORY_TARGET,
  DOMCTL_SET_VCPUS,
  DOMCTL_UNPAUSE,
  DOMID_SELF,
  GRANT_FRAME_SIZE,
  Hc,
  SHUTDOWN_POWEROFF,
  SIF_PRIVILEGED,
  errorName,
} from '../abi/generated/index.ts';
import { encodeDomctlCreate, encodeDomctlOp, u32Bytes, type ModelDomainConfig, type Observation, type ObservedDomain } from '../../spec/model/index.ts';
import { FAKE_GUEST_IMAGE } from './fake-image.ts';
import type { HostFactory, HostUnderTest } from './host.ts';

/**
 * A controlling domain (1) and two clients, 256 KiB and 2 vCPUs each: the controlling domain can
 * balloon out 32 frames at once, enough to create a 128 KiB domain by itself.
 */
export const CONSERVATION_DOMAINS: readonly ModelDomainConfig[] = [1, 2, 3].map((id) => ({
  id,
  memSize: 256 * 1024,
  nrVcpus: 2,
  privileged: id === 1,
}));

/** Options of {@link conservationRun}. */
export interface ConservationOptions {
  /** fast-check seed (print it in the test title). */
  readonly seed: number;
  /** Number of command sequences. */
  readonly numRuns: number;
  /** fast-check replay path of a reported failure. */
  readonly path?: string;
  /** fast-check's commands replay path (the `replayPath="…"` beside a shrunk sequence); with `path` it replays it exactly. */
  readonly replayPath?: string;
  /** Most commands per sequence (default 40). */
  readonly maxCommands?: number;
  /** The domains (default {@link CONSERVATION_DOMAINS}; at least one controlling). */
  readonly domains?: readonly ModelDomainConfig[];
  /** Called after every checked step with the accounts (for tests that want to see resources move). */
  readonly onStep?: (a: Accounts, step: string, result: number) => void;
}

/** The host's accounts: frames and vCPUs, in total and free. */
export interface Accounts {
  /** Frames all domains hold plus the free pool. */
  readonly totalFrames: number;
  /** Frames in the free pool. */
  readonly freeFrames: number;
  /** vCPUs all domains hold plus the free vCPU pool. */
  readonly totalVcpus: number;
  /** vCPUs in the free pool. */
  readonly freeVcpus: number;
  /** Domains on the host. */
  readonly domains: number;
}

/** What a conservation run carries: the initial totals, and the steps so far (printed on failure). */
export interface ConservationWorld {
  /** Frames all domains held at the start (the free pool is empty at boot). */
  readonly totalFrames: number;
  /** vCPUs all domains held at the start. */
  readonly totalVcpus: number;
  /** The steps of this run, with their results. */
  readonly trace: string[];
  /** {@link ConservationOptions.onStep}. */
  readonly onStep: ConservationOptions['onStep'];
}

/** Where the harness writes a domctl op, and a DOMCTL_CREATE's image (low memory, frame 3). */
const OP_AT = 0x3c00;
const IMAGE_AT = 0x3d00;

/** The accounts recomputed from an observation, independently of the host's own (physinfo). */
export function recomputeAccounts(o: Observation, memSize: (dom: number) => number): Accounts {
  let frames = o.freeFrames;
  let vcpus = o.freeVcpus;
  for (const d of o.domains) {
    frames += memSize(d.id) / GRANT_FRAME_SIZE - d.ballooned.length;
    vcpus += d.vcpusHeld;
  }
  return { totalFrames: frames, freeFrames: o.freeFrames, totalVcpus: vcpus, freeVcpus: o.freeVcpus, domains: o.domains.length };
}

function failWith(w: ConservationWorld, lines: string[]): never {
  const history = w.trace.map((t, i) => `  ${i + 1}. ${t}`).join('\n');
  throw new Error(`conservation: after ${w.trace.at(-1) ?? 'setup'}:\n  ${lines.join('\n  ')}\nsteps of this run:\n${history}`);
}

/** A domain that can make a call now (running, not paused), by selector; controlling ones only with `ctl`. */
function caller(o: Observation, k: number, ctl: boolean): ObservedDomain | undefined {
  const xs = o.domains.filter((d) => d.status === 'running' && !d.paused && d.vcpus[0]?.up === true && (!ctl || d.privileged));
  return xs[k % Math.max(1, xs.length)];
}

/** A domctl from `dom`'s vCPU 0 with the op at OP_AT (after `extra` writes); returns its result. */
function domctl(host: HostUnderTest, dom: number, op: Uint8Array, extra: { addr: number; bytes: Uint8Array }[] = []): number {
  for (const m of extra) host.writeMem(dom, m.addr, m.bytes);
  host.writeMem(dom, OP_AT, op);
  return host.call(dom, 0, Hc.domctl, [OP_AT]);
}

/** After every step: physinfo (when a controlling domain can ask) and the recomputation both equal the totals. */
function check(w: ConservationWorld, host: HostUnderTest, result: number): void {
  const o = host.observe();
  const again = recomputeAccounts(o, (id) => host.memSize(id));
  const lines: string[] = [];
  if (again.totalFrames !== w.totalFrames) lines.push(`frames held + free pool = ${again.totalFrames}, initially ${w.totalFrames}`);
  if (again.totalVcpus !== w.totalVcpus) lines.push(`vCPUs held + free pool = ${again.totalVcpus}, initially ${w.totalVcpus}`);
  for (const d of o.domains) {
    if (d.vcpusHeld < 1 || d.vcpusHeld > d.vcpus.length) lines.push(`domain ${d.id} holds ${d.vcpusHeld} of ${d.vcpus.length} vCPUs`);
    d.vcpus.forEach((v, i) => {
      if (v.up && i >= d.vcpusHeld) lines.push(`domain ${d.id}: vCPU ${i} is up but only ${d.vcpusHeld} are held`);
    });
  }
  const asker = caller(o, 0, true);
  if (asker !== undefined && host.readMem !== undefined) {
    const r = domctl(host, asker.id, encodeDomctlOp(DOMCTL_PHYSINFO, 0));
    if (r !== 0) lines.push(`DOMCTL_PHYSINFO from domain ${asker.id} returned ${r}`);
    else {
      const b = host.readMem(asker.id, OP_AT + DOMCTL_OP_OFF.payload, 16);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const got = [DOMCTL_PHYSINFO_OFF.total_frames, DOMCTL_PHYSINFO_OFF.free_frames, DOMCTL_PHYSINFO_OFF.total_vcpus, DOMCTL_PHYSINFO_OFF.free_vcpus].map((off) => dv.getUint32(off, true));
      const want = [w.totalFrames, again.freeFrames, w.totalVcpus, again.freeVcpus];
      if (got.join() !== want.join()) lines.push(`DOMCTL_PHYSINFO says total/free frames ${got[0]}/${got[1]}, vCPUs ${got[2]}/${got[3]}; expected ${want[0]}/${want[1]}, ${want[2]}/${want[3]}`);
    }
  }
  if (lines.length > 0) failWith(w, lines);
  w.onStep?.(again, w.trace.at(-1) ?? '', result);
}

/** What a command does, resolved against the host's observation; null when it cannot run now. */
type Act = (o: Observation, host: HostUnderTest) => { label: string; run: () => number } | null;

class Step implements fc.Command<ConservationWorld, HostUnderTest> {
  constructor(
    private readonly name: string,
    private readonly act: Act,
  ) {}
  check(): boolean {
    return true;
  }
  run(w: ConservationWorld, host: HostUnderTest): void {
    const a = this.act(host.observe(), host);
    if (a === null) return;
    const r = a.run();
    w.trace.push(`${a.label} = ${r < 0 ? `${r} (${errorName(r) ?? '?'})` : r}`);
    check(w, host, r);
  }
  toString(): string {
    return this.name;
  }
}

const u64 = (v: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
};

/** A target domain id: the k-th domain, DOMID_SELF, or one that does not exist. */
const targetArb = fc.oneof(
  { weight: 8, arbitrary: fc.nat().map((k) => ({ k })) },
  { weight: 1, arbitrary: fc.constantFrom({ id: DOMID_SELF }, { id: 999 }) },
);
function target(o: Observation, t: { k: number } | { id: number }): number {
  return 'id' in t ? t.id : (o.domains[t.k % Math.max(1, o.domains.length)]?.id ?? 999);
}

/** Frame ranges: small ones, 32 frames at once (enough to create a 128 KiB domain), ranges the host must refuse. */
const framesArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 4, max: 9 }), fc.integer({ min: 1, max: 3 })) },
  { weight: 3, arbitrary: fc.constantFrom<[number, number]>([10, 32], [10, 16], [26, 16]) },
  { weight: 1, arbitrary: fc.constantFrom<[number, number]>([4, 0], [60, 4], [0xffffffff, 2]) },
);

function reservation(nr: number): fc.Arbitrary<fc.Command<ConservationWorld, HostUnderTest>> {
  const name = nr === Hc.decrease_reservation ? 'decrease_reservation' : 'increase_reservation';
  return fc.tuple(fc.nat(), framesArb).map(([k, [f, n]]) => new Step(`${name}(${f}, ${n}) by #${k}`, (o, host) => {
    const d = caller(o, k, false);
    return d === undefined ? null : { label: `${name}(${f}, ${n}) from ${d.id}`, run: () => host.call(d.id, 0, nr, [f, n]) };
  }));
}

const createArb = fc
  .record({
    k: fc.nat(),
    mem: fc.constantFrom(128 * 1024, 128 * 1024, 192 * 1024, 64 * 1024),
    vcpus: fc.constantFrom(1, 1, 2),
    flags: fc.constantFrom(0, 0, 0, SIF_PRIVILEGED),
    junk: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  })
  .map((x) => new Step(`create ${JSON.stringify(x)}`, (o, host) => {
    const d = caller(o, x.k, true);
    if (d === undefined) return null;
    const image = x.junk ? FAKE_GUEST_IMAGE.map((b, i) => (i === 8 ? b ^ 1 : b)) : FAKE_GUEST_IMAGE;
    const p = encodeDomctlCreate({ image: IMAGE_AT, imageLen: image.length, memBytes: x.mem, nrVcpus: x.vcpus, flags: x.flags });
    const label = `DOMCTL_CREATE(${x.mem / 1024} KiB, ${x.vcpus} vCPUs${x.flags !== 0 ? ', privileged' : ''}${x.junk ? ', bad image' : ''}) from ${d.id}`;
    return { label, run: () => domctl(host, d.id, encodeDomctlOp(DOMCTL_CREATE, 0, p), [{ addr: IMAGE_AT, bytes: image }]) };
  }));

/** A domctl on a target from a controlling domain. */
function targeted(name: string, cmd: number, payload: fc.Arbitrary<(o: Observation, dom: number) => Uint8Array>): fc.Arbitrary<fc.Command<ConservationWorld, HostUnderTest>> {
  return fc.tuple(fc.nat(), targetArb, payload).map(([k, t, pl]) => new Step(`${name} ${JSON.stringify(t)} by #${k}`, (o, host) => {
    const d = caller(o, k, true);
    if (d === undefined) return null;
    const dom = target(o, t);
    const bytes = pl(o, dom === DOMID_SELF ? d.id : dom);
    return { label: `${name}(${dom}${bytes.length > 0 ? `, ${[...new Uint32Array(bytes.slice(0, 4).buffer)][0]}` : ''}) from ${d.id}`, run: () => domctl(host, d.id, encodeDomctlOp(cmd, dom, bytes)) };
  }));
}

const memOf = (o: Observation, dom: number, host: HostUnderTest): number => (o.domains.some((d) => d.id === dom) ? host.memSize(dom) : 256 * 1024);

/** A domain ends: sched_shutdown from it, or (when the host can) a crash; never the first controlling domain. */
const endArb = fc.tuple(fc.nat(), fc.boolean()).map(([k, crash]) => new Step(`end #${k}${crash ? ' (crash)' : ''}`, (o, host) => {
  const first = o.domains.find((d) => d.privileged)?.id;
  const xs = o.domains.filter((d) => d.status === 'running' && d.id !== first && (crash || (!d.paused && d.vcpus[0]?.up === true)));
  const d = xs[k % Math.max(1, xs.length)];
  if (d === undefined) return null;
  if (crash && host.crash !== undefined) {
    const c = host.crash.bind(host);
    return { label: `crash of ${d.id}`, run: () => (c(d.id), 0) };
  }
  if (d.paused || d.vcpus[0]?.up !== true) return null;
  return { label: `sched_shutdown from ${d.id}`, run: () => host.call(d.id, 0, Hc.sched_shutdown, [SHUTDOWN_POWEROFF, 0]) };
}));

/** The command mix (memory and vCPU moves, creates and destroys, domains ending). */
function commands(maxCommands: number, replayPath: string | undefined): fc.Arbitrary<Iterable<fc.Command<ConservationWorld, HostUnderTest>>> {
  const setVcpus = targeted('DOMCTL_SET_VCPUS', DOMCTL_SET_VCPUS, fc.constantFrom(0, 1, 1, 2, 2, 3).map((n) => () => u32Bytes(n, 0)));
  const destroy = targeted('DOMCTL_DESTROY', DOMCTL_DESTROY, fc.constant(() => new Uint8Array(0)));
  const unpause = targeted('DOMCTL_UNPAUSE', DOMCTL_UNPAUSE, fc.constant(() => new Uint8Array(0)));
  return fc.commands(
    [
      fc.oneof(
        { weight: 4, arbitrary: reservation(Hc.decrease_reservation) },
        { weight: 3, arbitrary: reservation(Hc.increase_reservation) },
        { weight: 3, arbitrary: createArb },
        { weight: 2, arbitrary: destroy },
        { weight: 3, arbitrary: setVcpus },
        { weight: 1, arbitrary: unpause },
        { weight: 1, arbitrary: targetMem },
        { weight: 1, arbitrary: endArb },
      ),
    ],
    { maxCommands, size: 'max', ...(replayPath !== undefined ? { replayPath } : {}) },
  );
}

/** DOMCTL_SET_MEMORY_TARGET a few frames around the target's size (accounting only: nothing may move). */
const targetMem = fc.tuple(fc.nat(), targetArb, fc.integer({ min: -8, max: 2 })).map(([k, t, df]) => new Step(`DOMCTL_SET_MEMORY_TARGET ${JSON.stringify(t)} ${df}`, (o, host) => {
  const d = caller(o, k, true);
  if (d === undefined) return null;
  const dom = target(o, t);
  const bytes = Math.max(0, memOf(o, dom === DOMID_SELF ? d.id : dom, host) + df * GRANT_FRAME_SIZE);
  return { label: `DOMCTL_SET_MEMORY_TARGET(${dom}, ${bytes}) from ${d.id}`, run: () => domctl(host, d.id, encodeDomctlOp(DOMCTL_SET_MEMORY_TARGET, dom, u64(bytes))) };
}));

/** The property: for any sequence, a fresh host from `makeHost` keeps its accounts after every step. */
export function conservationProperty(makeHost: HostFactory, opts: Omit<ConservationOptions, 'seed' | 'numRuns' | 'path'> = {}): fc.IPropertyWithHooks<[Iterable<fc.Command<ConservationWorld, HostUnderTest>>]> {
  const domains = opts.domains ?? CONSERVATION_DOMAINS;
  if (!domains.some((d) => d.privileged === true)) throw new Error('conservation: at least one domain must be controlling (privileged)');
  const totalFrames = domains.reduce((n, d) => n + d.memSize / GRANT_FRAME_SIZE, 0);
  const totalVcpus = domains.reduce((n, d) => n + d.nrVcpus, 0);
  return fc.property(commands(opts.maxCommands ?? 40, opts.replayPath), (cmds) => {
    const setup = () => {
      const host = makeHost(domains);
      if (host.readMem === undefined) throw new Error('conservation: the host needs readMem (DOMCTL_PHYSINFO is read back from guest memory)');
      const w: ConservationWorld = { totalFrames, totalVcpus, trace: [], onStep: opts.onStep };
      check(w, host, 0);
      return { model: w, real: host };
    };
    fc.modelRun(setup, cmds);
  });
}

function params(opts: ConservationOptions): fc.Parameters<[Iterable<fc.Command<ConservationWorld, HostUnderTest>>]> {
  return { seed: opts.seed, numRuns: opts.numRuns, includeErrorInReport: true, ...(opts.path !== undefined ? { path: opts.path } : {}) };
}

/** Runs the conservation property; throws (fast-check's report, with the steps of the failing run) on the first broken account. */
export function conservationRun(makeHost: HostFactory, opts: ConservationOptions): void {
  fc.assert(conservationProperty(makeHost, opts), params(opts));
}

/** {@link conservationRun} without throwing: fast-check's run details (for `npm run fuzz`). */
export function checkConservation(makeHost: HostFactory, opts: ConservationOptions): fc.RunDetails<[Iterable<fc.Command<ConservationWorld, HostUnderTest>>]> {
  return fc.check(conservationProperty(makeHost, opts), params(opts));
}
