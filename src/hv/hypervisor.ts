/**
 * The hypervisor core: domains, virtual time, timers, the run queue and the hypercall entry.
 *
 * The core is mechanism only and knows nothing of Wasm: an engine (src/engine) runs vCPUs and
 * calls {@link Hypervisor.hypercall} at each trap, advances {@link Hypervisor.now}, and asks
 * {@link Hypervisor.fireTimers} / {@link Hypervisor.nextDeadline} when it runs out of work.
 * Property tests drive the same object directly, without Wasm.
 * @module
 */
import {
  ABI_VERSION, CMDLINE_MAX, ETIMEDOUT, SHARED_INFO_OFF, SIF_PRIVILEGED, START_INFO_MAGIC, START_INFO_OFF,
  START_INFO_SIZE, VCPU_INFO_OFF, VCPU_TIME_INFO_OFF, VIRQ_CONSOLE, VIRQ_TIMER, callName, makeDispatch,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { TraceRecord } from '../control/types.ts';
import { Domain } from './domain.ts';
import * as evtchn from './evtchn.ts';
import type { EvtchnHost } from './evtchn.ts';
import { makeHandlers } from './hypercalls.ts';
import { layoutFor, reservedBytes } from './layout.ts';
import { GuestMemory, WASM_PAGE } from './memory.ts';
import { Scheduler } from './scheduler.ts';
import type { Vcpu, VcpuEntry } from './vcpu.ts';

/** Options of a hypervisor instance. */
export interface HypervisorOptions {
  /** Receives console bytes written by a domain. */
  console?: (d: Domain, bytes: Uint8Array) => void;
  /** Host log (guest misbehaviour, host faults). */
  log?: (line: string) => void;
  /** Record every hypercall in {@link Hypervisor.trace}. */
  trace?: boolean;
  /** Wallclock at boot (virtual time 0). */
  wallclock?: { sec: number; nsec: number };
}

/** What a new domain gets. */
export interface CreateDomainOptions {
  /** Name. */
  name: string;
  /** Memory in bytes (a multiple of 64 KiB). */
  memBytes: number;
  /** Largest size the memory may grow to (defaults to memBytes). */
  maxMemBytes?: number;
  /** vCPUs (1..MAX_VCPUS). */
  vcpus: number;
  /** Command line (at most CMDLINE_MAX bytes of UTF-8). */
  cmdline?: string;
  /** Controlling domain. */
  privileged?: boolean;
}

/** Thrown by {@link Hypervisor.createDomain} for a configuration the host cannot build. */
export class DomainConfigError extends Error {
  /** The offending field (`memBytes`, `vcpus`, `cmdline`, `name`). */
  readonly field: string;
  /** Creates the error. */
  constructor(field: string, message: string) {
    super(message);
    this.name = 'DomainConfigError';
    this.field = field;
  }
}

/** Fixed boot wallclock for reproducible runs: 2026-01-01T00:00:00Z. */
export const DEFAULT_WALLCLOCK = Object.freeze({ sec: 1767225600, nsec: 0 });

/** The hypervisor. */
export class Hypervisor implements EvtchnHost {
  /** Virtual time in ns. */
  now = 0;
  /** Run queue. */
  readonly sched = new Scheduler();
  /** Domains in creation order (dead ones stay until destroyed). */
  readonly domains: Domain[] = [];
  /** Recorded hypercalls, when tracing. */
  readonly trace: TraceRecord[] | null;
  /** Wallclock at virtual time 0. */
  readonly wallclock: { sec: number; nsec: number };
  /** The generated dispatcher bound to this core's handlers. */
  readonly dispatch: (v: Vcpu, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number) => number;
  private readonly byId = new Map<number, Domain>();
  private nextId = 1;
  private readonly consoleSink: (d: Domain, bytes: Uint8Array) => void;
  /** Host log. */
  readonly log: (line: string) => void;

  /** Creates an empty hypervisor. */
  constructor(opts: HypervisorOptions = {}) {
    this.consoleSink = opts.console ?? (() => {});
    this.log = opts.log ?? ((l) => process.stderr.write(`pvisor: ${l}\n`));
    this.trace = opts.trace === true ? [] : null;
    this.wallclock = opts.wallclock ?? DEFAULT_WALLCLOCK;
    this.dispatch = makeDispatch(makeHandlers(this));
  }

  /** The domain with this id (alive or dead), if any. */
  domain(id: number): Domain | undefined {
    return this.byId.get(id);
  }

  /**
   * Creates a domain: its memory (unless given), start_info, command line and shared_info, and
   * brings vCPU 0 up at `_start(start_info)`. The domain runs when the engine picks vCPU 0.
   */
  createDomain(opts: CreateDomainOptions, memory?: WebAssembly.Memory): Domain {
    const { name, memBytes, vcpus } = opts;
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 32) throw new DomainConfigError('vcpus', `vcpus: ${vcpus} is out of range; use 1 to 32`);
    if (!Number.isInteger(memBytes) || memBytes <= 0 || memBytes % WASM_PAGE !== 0) {
      throw new DomainConfigError('memBytes', `memory: ${memBytes} bytes is not a positive multiple of 64 KiB; use e.g. 16M`);
    }
    if (memBytes > 4 * 1024 * 1024 * 1024 - WASM_PAGE) throw new DomainConfigError('memBytes', 'memory: above the 4 GiB wasm32 limit; use at most 4095M');
    if (memBytes < reservedBytes(vcpus) + WASM_PAGE) {
      throw new DomainConfigError('memBytes', `memory: ${memBytes} bytes leaves no room for the guest after the host's ${reservedBytes(vcpus)} reserved bytes; use at least 128K`);
    }
    const cmd = new TextEncoder().encode(opts.cmdline ?? '');
    if (cmd.length > CMDLINE_MAX) throw new DomainConfigError('cmdline', `cmdline: ${cmd.length} bytes is longer than ${CMDLINE_MAX}; shorten it`);
    if (this.domains.some((d) => d.name === name)) throw new DomainConfigError('name', `name: "${name}" is already used by another domain; names must be unique`);
    if (this.nextId >= 0x7ff0) throw new DomainConfigError('name', 'too many domains');

    const mem = memory !== undefined ? new GuestMemory(memory) : GuestMemory.create(memBytes, opts.maxMemBytes ?? memBytes);
    const layout = layoutFor(memBytes, vcpus);
    const d = new Domain(this.nextId++, name, mem, layout, vcpus, opts.privileged === true);
    this.domains.push(d);
    this.byId.set(d.id, d);

    // The host's area starts zeroed whatever the image's data segments put there.
    mem.fill(layout.reservedBase, memBytes - layout.reservedBase);
    const si = layout.startInfo;
    const w = (off: number, v: number) => mem.setU32((si + off) as GuestAddr, v);
    w(START_INFO_OFF.magic, START_INFO_MAGIC);
    w(START_INFO_OFF.abi_version, ABI_VERSION);
    w(START_INFO_OFF.size, START_INFO_SIZE);
    w(START_INFO_OFF.domid, d.id);
    w(START_INFO_OFF.flags, d.privileged ? SIF_PRIVILEGED : 0);
    w(START_INFO_OFF.nr_vcpus, vcpus);
    mem.setU64((si + START_INFO_OFF.mem_size) as GuestAddr, memBytes);
    w(START_INFO_OFF.shared_info, layout.sharedInfo);
    w(START_INFO_OFF.cmdline, layout.cmdline);
    w(START_INFO_OFF.cmdline_len, cmd.length);
    w(START_INFO_OFF.reserved_base, layout.reservedBase);
    mem.copyIn(layout.cmdline, cmd);
    const sh = layout.sharedInfo;
    mem.setU64((sh + SHARED_INFO_OFF.wc_sec) as GuestAddr, this.wallclock.sec);
    mem.setU32((sh + SHARED_INFO_OFF.wc_nsec) as GuestAddr, this.wallclock.nsec);
    for (const v of d.vcpus) this.updateTime(v);

    this.vcpuUp(d.vcpus[0]!, { fn: 0, stack: 0, arg: layout.startInfo });
    return d;
  }

  /** The single entry for every hypercall: count, dispatch, trace. */
  hypercall(v: Vcpu, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number): number {
    const d = v.domain;
    d.hypercalls[nr >>> 0 < 64 ? nr : 0]!++;
    const r = this.dispatch(v, nr, a0, a1, a2, a3, a4);
    if (this.trace !== null) {
      this.trace.push({ t: this.now, dom: d.id, vcpu: v.index, ev: callName(nr) ?? `#${nr >>> 0}`, args: [a0 | 0, a1 | 0, a2 | 0, a3 | 0, a4 | 0], ret: r });
    }
    return r;
  }

  /** Brings a vCPU up at an entry and queues it. */
  vcpuUp(v: Vcpu, entry: VcpuEntry): void {
    v.up = true;
    v.started = false;
    v.entry = entry;
    v.wait = null;
    v.timer = 0;
    this.sched.enqueue(v);
  }

  /** Takes a vCPU down: it leaves the run queue and its timer is cancelled. */
  vcpuDown(v: Vcpu): void {
    v.up = false;
    v.started = false;
    v.timer = 0;
    v.wait = null;
  }

  /** Ends a vCPU's wait with `result` and queues it. */
  wake(v: Vcpu, result: number): void {
    if (!v.up) return;
    v.wait = null;
    v.resumeResult = result;
    this.sched.enqueue(v);
  }

  /** Shuts a domain down at the guest's request. Its vCPUs stop. */
  shutdown(d: Domain, reason: number, code: number): void {
    if (!d.alive) return;
    d.state = 'shutdown';
    d.shutdownReason = reason;
    d.shutdownCode = code;
    d.endedAt = this.now;
  }

  /** Pauses a running domain: its vCPUs keep their state but are not scheduled. */
  pause(d: Domain): void {
    if (d.state === 'running') d.state = 'paused';
  }

  /** Resumes a paused domain: its runnable vCPUs go back on the run queue. */
  unpause(d: Domain): void {
    if (d.state !== 'paused') return;
    d.state = 'running';
    for (const v of d.vcpus) if (v.up && v.wait === null) this.sched.enqueue(v);
  }

  /** Stops a domain for a fault of its own (trap, hostile act); the other domains go on. */
  crash(d: Domain, reason: string, backtrace: string[] = []): void {
    if (!d.alive) return;
    d.state = 'crashed';
    d.crashReason = reason;
    d.backtrace = backtrace;
    d.endedAt = this.now;
  }

  /** Passes console bytes from a domain to the sink. */
  consoleOutput(d: Domain, bytes: Uint8Array): void {
    this.consoleSink(d, bytes);
  }

  /** Queues console input for a domain and raises VIRQ_CONSOLE. */
  consoleInput(d: Domain, bytes: Uint8Array): void {
    const joined = new Uint8Array(d.consoleIn.length + bytes.length);
    joined.set(d.consoleIn);
    joined.set(bytes, d.consoleIn.length);
    d.consoleIn = joined;
    for (const v of d.vcpus) {
      const p = evtchn.virqPort(d, VIRQ_CONSOLE, v.index);
      if (p !== 0) {
        evtchn.raise(this, d, p);
        break;
      }
    }
  }

  /**
   * Refreshes a vCPU's time record (at VM entry). Seqlock: version odd, fields, version even; a
   * guest reading concurrently retries. Plain stores, not `Atomics`: this runs at every VM entry,
   * and in the deterministic engine the guest and the host share one thread, so program order is
   * the order every reader sees (a parallel engine must make the two version stores SeqCst).
   */
  updateTime(v: Vcpu): void {
    // The engine's hypercall trap inlines this sequence; keep the two in step.
    const i32 = v.domain.mem.i32;
    const vi = v.timeIdx;
    const st = vi + ((VCPU_TIME_INFO_OFF.system_time - VCPU_TIME_INFO_OFF.version) >>> 2);
    const ver = i32[vi]!;
    i32[vi] = ver + 1;
    const t = this.now;
    // No `%` on doubles: it compiles to a slow fmod call on this hot path.
    const hi = Math.floor(t / 4294967296);
    i32[st] = t - hi * 4294967296;
    i32[st + 1] = hi;
    i32[vi] = (ver + 2) | 0;
  }

  /** Fires every expired one-shot timer (VIRQ_TIMER) and poll timeout, in domain and vCPU order. */
  fireTimers(): void {
    const now = this.now;
    for (const d of this.domains) {
      if (!d.alive) continue;
      for (const v of d.vcpus) {
        if (!v.up) continue;
        if (v.timer !== 0 && v.timer <= now) {
          v.timer = 0;
          evtchn.sendVirq(this, d, VIRQ_TIMER, v.index);
        }
        const w = v.wait;
        if (w !== null && w.kind === 'poll' && w.deadline <= now) this.wake(v, ETIMEDOUT);
      }
    }
  }

  /** The earliest pending timer or poll deadline of a live domain, or Infinity. */
  nextDeadline(): number {
    let t = Infinity;
    for (const d of this.domains) {
      if (d.state !== 'running') continue;
      for (const v of d.vcpus) {
        if (!v.up) continue;
        if (v.timer !== 0 && v.timer < t) t = v.timer;
        const w = v.wait;
        if (w !== null && w.kind === 'poll' && w.deadline < t) t = w.deadline;
      }
    }
    return t;
  }

  /** Call counts of a domain by call name. */
  hypercallCounts(d: Domain): Record<string, number> {
    const out: Record<string, number> = {};
    for (let nr = 1; nr < 64; nr++) {
      const n = d.hypercalls[nr]!;
      if (n > 0) out[callName(nr) ?? `#${nr}`] = n;
    }
    if (d.hypercalls[0]! > 0) out['unknown'] = d.hypercalls[0]!;
    return out;
  }
}
