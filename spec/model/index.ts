/**
 * The executable reference model of the pvisor hypercall ABI.
 *
 * A pure statement of what each call does to the abstract state (state.ts), written for clarity:
 * every function takes a state and returns a new one. Property tests run the same random call
 * sequences against the model and the real host and require the same results and the same
 * {@link observe}d state.
 *
 * - {@link step}: one hypercall from one vCPU.
 * - {@link fireTimers}: time passes; expired one-shot timers fire VIRQ_TIMER and poll deadlines
 *   end their polls.
 * - {@link observe}: the part of the state a host must agree on.
 * - {@link invariants}: facts every reachable state satisfies (a check on the model itself).
 * @module
 */
import { GRANT_ENTRY_V1_SIZE, GRANT_FRAME_SIZE, GRANT_TABLE_MAX, MAX_DEVICES, NR_EVENT_CHANNELS, VIRQ_TIMER, ETIMEDOUT } from '../../src/abi/generated/index.ts';
import { dispatchCall } from './calls.ts';
import { isGlobalVirq, sendVirq, type Delivery } from './events.ts';
import type { ModelMemory } from './memory.ts';
import { withSharedInfo } from './shared-info.ts';
import {
  findDomain,
  updateDomain,
  updateVcpu,
  type ModelCaller,
  type ModelGrantTable,
  type ModelPort,
  type ModelState,
  type ModelStep,
  type ModelWake,
} from './state.ts';

export * from './state.ts';
export * from './memory.ts';
export * from './shared-info.ts';
export { raise, sendVirq, markUpcall, portVcpu, virqPort, isGlobalVirq, domainException, type Delivery } from './events.ts';
export { CALL_TABLE, dispatchCall, statusBytes } from './calls.ts';
export { decodeDomctlOp, encodeDomctlCreate, encodeDomctlOp, getinfoBytes, physinfo, type DomctlCreateFields, type DomctlOp } from './domctl.ts';
export { heldFrames } from './reservation.ts';
export { decodeGrantCopyOp, encodeGrantCopyOp, encodeGrantEntry, type GrantCopyOp, type GrantCopyPtr } from './grant.ts';

/**
 * Hypercall `nr` with raw i32 `args`, made by `caller`, against memory `mem`.
 *
 * The caller must be able to make a call at all: its domain exists and is running, and the vCPU
 * is up and not blocked. Anything else is a bug in whoever drives the model (a host never runs
 * such a vCPU), so it throws; nothing a *guest* passes (nr, args, memory) makes it throw.
 * An unknown `nr` (0 included) returns ENOSYS and changes nothing.
 */
export function step(
  s: ModelState,
  caller: ModelCaller,
  nr: number,
  args: readonly number[],
  mem: ModelMemory,
): ModelStep {
  const d = findDomain(s, caller.dom);
  if (d === undefined) throw new Error(`model.step: no domain ${caller.dom}`);
  if (d.status !== 'running') throw new Error(`model.step: domain ${caller.dom} is shut down`);
  if (d.paused) throw new Error(`model.step: domain ${caller.dom} is paused`);
  const vc = d.vcpus[caller.vcpu];
  if (vc === undefined || !vc.up) throw new Error(`model.step: vCPU ${caller.dom}.${caller.vcpu} is not up`);
  if (vc.blocked !== null) throw new Error(`model.step: vCPU ${caller.dom}.${caller.vcpu} is blocked`);
  return dispatchCall(s, caller, nr, args, withSharedInfo(mem, d));
}

/**
 * System time moves on to `now` (ns; never backwards).
 *
 * 1. Every vCPU whose timer is armed and due (`timer <= now`) has it disarmed (one-shot) and
 *    VIRQ_TIMER fires on it (set_timer: "VIRQ_TIMER fires when system time reaches the
 *    deadline"); an unbound VIRQ_TIMER is dropped.
 * 2. Then every `sched_poll` whose deadline is due and that is still waiting ends with ETIMEDOUT
 *    ("The deadline passed with no polled port pending"). Choice: timers go first, so when a
 *    VIRQ_TIMER port a vCPU polls fires at its poll deadline, the poll returns 0, not ETIMEDOUT.
 *
 * Shut-down domains are skipped: their timers stay armed and their polls waiting, but never fire
 * (sched_shutdown: "Its one-shot timers and poll deadlines stay as they are and never fire"), as
 * a dying Xen domain's timers are killed. Found by the fuzzer as a divergence from the core,
 * which was right: test/regression/shutdown-timer.test.ts.
 */
export function fireTimers(s: ModelState, now: number): Delivery {
  if (!(now >= s.now)) throw new Error(`model.fireTimers: time goes backwards (${s.now} -> ${now})`);
  let state: ModelState = { ...s, now };
  const wakes: ModelWake[] = [];
  for (const d of s.domains) {
    if (d.status === 'shutdown') continue;
    d.vcpus.forEach((vc, v) => {
      if (vc.timer === 0 || vc.timer > now) return;
      state = updateDomain(state, d.id, (dd) => updateVcpu(dd, v, (x) => ({ ...x, timer: 0 })));
      const delivery = sendVirq(state, d.id, VIRQ_TIMER, v);
      state = delivery.state;
      wakes.push(...delivery.wakes);
    });
  }
  for (const d of state.domains) {
    if (d.status === 'shutdown') continue;
    d.vcpus.forEach((vc, v) => {
      const b = vc.blocked;
      if (b?.kind !== 'poll' || b.deadline === 0 || b.deadline > now) return;
      state = updateDomain(state, d.id, (dd) => updateVcpu(dd, v, (x) => ({ ...x, blocked: null })));
      wakes.push({ dom: d.id, vcpu: v, result: ETIMEDOUT });
    });
  }
  return { state, wakes };
}

// ---------------------------------------------------------------------------------------------
// Observation

/** A port that is not closed, with its number. */
export type ObservedPort = { readonly port: number } & Exclude<ModelPort, { state: 'closed' }>;

/** The observable part of a vCPU. */
export interface ObservedVcpu {
  /** Up or down. */
  readonly up: boolean;
  /** vcpu_info.evtchn_upcall_pending. */
  readonly upcallPending: boolean;
  /** vcpu_info.evtchn_upcall_mask. */
  readonly upcallMask: boolean;
  /** vcpu_info.evtchn_pending_sel (u32). */
  readonly pendingSel: number;
  /** Armed one-shot timer deadline in ns, 0 = none. */
  readonly timer: number;
}

/** The observable part of a domain. */
export interface ObservedDomain {
  /** Domain id. */
  readonly id: number;
  /** 'running' or 'shutdown'. */
  readonly status: 'running' | 'shutdown';
  /** Per vCPU, index = vCPU id. */
  readonly vcpus: readonly ObservedVcpu[];
  /** Every port that is not closed, by increasing port number. */
  readonly ports: readonly ObservedPort[];
  /** Ports whose pending bit is set, increasing. */
  readonly pending: readonly number[];
  /** Ports whose mask bit is set, increasing. */
  readonly mask: readonly number[];
  /** Console text (latin1: one char per byte). */
  readonly console: string;
  /** The registered grant table: address and entries ({table: 0, nrEntries: 0} when none). */
  readonly grantTable: ModelGrantTable;
  /** A controlling domain. */
  readonly privileged: boolean;
  /** Paused by DOMCTL_PAUSE. */
  readonly paused: boolean;
  /** start_info.max_mem. */
  readonly maxMem: number;
  /** start_info.mem_target. */
  readonly memTarget: number;
  /** The SHUTDOWN_* reason asked for by DOMCTL_REQUEST_SHUTDOWN, -1 = none. */
  readonly shutdownRequest: number;
  /** Frames it handed back with decrease_reservation (and has not taken again), increasing. */
  readonly ballooned: readonly number[];
  /** start_info.vcpus_held (DOMCTL_SET_VCPUS). */
  readonly vcpusHeld: number;
  /** start_info.devices_generation. */
  readonly devicesGeneration: number;
  /** Its manifest: per entry the device's name, type and DEVICE port, or null (DEVICE_NONE). */
  readonly devices: readonly ({ readonly name: string; readonly type: number; readonly port: number } | null)[];
}

/** What a host and the model must agree on after every call. */
export interface Observation {
  /** Per domain, in creation order. */
  readonly domains: readonly ObservedDomain[];
  /** The host's free pool of frames (decrease_reservation, destroyed domains). */
  readonly freeFrames: number;
  /** The host's free vCPU pool (DOMCTL_SET_VCPUS, destroyed domains). */
  readonly freeVcpus: number;
}

// Plain loops below: observe and invariants run after every command of a model-based run, over
// NR_EVENT_CHANNELS entries per domain, and dominate its cost.

function setBits(bits: readonly boolean[]): number[] {
  const out: number[] = [];
  for (let p = 0; p < bits.length; p++) if (bits[p] === true) out.push(p);
  return out;
}

function livePorts(ports: readonly ModelPort[]): ObservedPort[] {
  const out: ObservedPort[] = [];
  for (let port = 0; port < ports.length; port++) {
    const p = ports[port];
    if (p !== undefined && p.state !== 'closed') out.push({ port, ...p });
  }
  return out;
}

/**
 * The observable state: per domain its status, per vCPU {up, upcallPending, upcallMask,
 * pendingSel, timer}, the ports that are not closed with their fields, the pending and mask bits
 * as lists of port numbers, the console text and where the grant table is. Blocked-ness, time
 * and shutdown reasons are left out (and guest memory, grant entries included).
 */
export function observe(s: ModelState): Observation {
  return {
    domains: s.domains.map((d) => ({
      id: d.id,
      status: d.status,
      vcpus: d.vcpus.map((vc) => ({
        up: vc.up,
        upcallPending: vc.upcallPending,
        upcallMask: vc.upcallMask,
        pendingSel: vc.pendingSel,
        timer: vc.timer,
      })),
      ports: livePorts(d.ports),
      pending: setBits(d.pending),
      mask: setBits(d.mask),
      console: d.console,
      grantTable: { table: d.grantTable.table, nrEntries: d.grantTable.nrEntries },
      privileged: d.privileged,
      paused: d.paused,
      maxMem: d.maxMem,
      memTarget: d.memTarget,
      shutdownRequest: d.shutdownRequest,
      ballooned: d.ballooned,
      vcpusHeld: d.vcpusHeld,
      devicesGeneration: d.devicesGeneration,
      devices: d.devices.map((x) => (x === null ? null : { name: x.name, type: x.type, port: x.port })),
    })),
    freeFrames: s.freeFrames,
    freeVcpus: s.freeVcpus ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Invariants

/**
 * Facts every state reachable from {@link initialState} through {@link step}, {@link fireTimers}
 * and the guest writes a guest makes to shared_info (clearing pending bits, upcall_pending and
 * pending_sel; setting or clearing mask bits and upcall_mask) satisfies. A guest that *sets*
 * pending bits or upcall_pending by hand can break the last two facts: the host does not watch
 * guest memory, so such a write wakes nobody. Returns one line per violation (empty = fine).
 *
 * - Tables have NR_EVENT_CHANNELS entries; port 0 is closed ("Port 0 is never allocated").
 * - Every bound port names a vCPU below nr_vcpus; an UNBOUND port names an existing or a
 *   destroyed domain.
 * - INTERDOMAIN ports come in pairs: the peer port is INTERDOMAIN and points back.
 * - At most one VIRQ_TIMER port per vCPU and one VIRQ_CONSOLE port per domain (EEXIST).
 * - A down vCPU has no timer and is not blocked ("Its timer is cancelled").
 * - A vCPU in sched_block has no upcall pending (it would have woken); a vCPU in sched_poll has
 *   none of its ports pending.
 * - pending_sel is a u32.
 * - A paused domain is running (not shut down); memTarget <= maxMem and memSize <= maxMem.
 * - Ballooned frames are distinct, increasing and below reserved_base; the pools are never negative.
 * - A domain holds 1..nr_vcpus vCPUs and no vCPU at or above what it holds is up; a manifest has
 *   at most MAX_DEVICES entries.
 * - A grant table has at most GRANT_TABLE_MAX entries, lies inside the domain's memory, and is
 *   {table 0, nrEntries 0} when none is registered.
 */
export function invariants(s: ModelState): string[] {
  const out: string[] = [];
  if (!Number.isInteger(s.freeFrames) || s.freeFrames < 0) out.push(`free pool ${s.freeFrames}`);
  const freeVcpus = s.freeVcpus ?? 0;
  if (!Number.isInteger(freeVcpus) || freeVcpus < 0) out.push(`free vCPU pool ${freeVcpus}`);
  for (const d of s.domains) {
    const at = `dom ${d.id}`;
    if (d.ports.length !== NR_EVENT_CHANNELS || d.pending.length !== NR_EVENT_CHANNELS || d.mask.length !== NR_EVENT_CHANNELS) {
      out.push(`${at}: table sizes ${d.ports.length}/${d.pending.length}/${d.mask.length}`);
    }
    if (d.ports[0]?.state !== 'closed') out.push(`${at}: port 0 is ${d.ports[0]?.state}`);
    const virqs = new Set<string>();
    for (let port = 0; port < d.ports.length; port++) {
      const p = d.ports[port];
      if (p === undefined || p.state === 'closed') continue;
      if (p.vcpu < 0 || p.vcpu >= d.nrVcpus) out.push(`${at} port ${port}: vcpu ${p.vcpu} out of range`);
      if (p.state === 'unbound' && findDomain(s, p.remoteDom) === undefined && s.destroyed?.includes(p.remoteDom) !== true) {
        out.push(`${at} port ${port}: unbound for missing domain ${p.remoteDom}`);
      }
      if (p.state === 'interdomain') {
        const peer = findDomain(s, p.remoteDom)?.ports[p.remotePort];
        if (peer?.state !== 'interdomain' || peer.remoteDom !== d.id || peer.remotePort !== port) {
          out.push(`${at} port ${port}: peer ${p.remoteDom}:${p.remotePort} does not point back`);
        }
      }
      if (p.state === 'virq') {
        const key = isGlobalVirq(p.virq) ? `${p.virq}` : `${p.virq}@${p.vcpu}`;
        if (virqs.has(key)) out.push(`${at} port ${port}: virq ${key} bound twice`);
        virqs.add(key);
      }
    }
    if (d.paused && d.status !== 'running') out.push(`${at}: paused but ${d.status}`);
    if (d.memTarget > d.maxMem || d.memSize > d.maxMem) out.push(`${at}: target ${d.memTarget} / size ${d.memSize} above max ${d.maxMem}`);
    if (d.ballooned.some((f, i) => (f + 1) * GRANT_FRAME_SIZE > d.reservedBase || (i > 0 && f <= d.ballooned[i - 1]!))) out.push(`${at}: ballooned frames ${d.ballooned.join(',')} not increasing below reserved_base`);
    const gt = d.grantTable;
    if (gt.nrEntries > GRANT_TABLE_MAX || gt.table + gt.nrEntries * GRANT_ENTRY_V1_SIZE > d.memSize || (gt.nrEntries === 0 && gt.table !== 0)) {
      out.push(`${at}: grant table ${gt.table}+${gt.nrEntries} entries is impossible`);
    }
    if (!Number.isInteger(d.vcpusHeld) || d.vcpusHeld < 1 || d.vcpusHeld > d.nrVcpus) out.push(`${at}: holds ${d.vcpusHeld} of ${d.nrVcpus} vCPUs`);
    if (d.devices.length > MAX_DEVICES) out.push(`${at}: ${d.devices.length} manifest entries`);
    d.vcpus.forEach((vc, v) => {
      const atv = `${at} vcpu ${v}`;
      if (vc.up && v >= d.vcpusHeld) out.push(`${atv}: up but not held (vcpus_held ${d.vcpusHeld})`);
      if (!vc.up && (vc.timer !== 0 || vc.blocked !== null)) out.push(`${atv}: down but has a timer or a wait`);
      if (vc.blocked?.kind === 'block' && vc.upcallPending) out.push(`${atv}: blocked with upcall pending`);
      if (vc.blocked?.kind === 'poll' && vc.blocked.ports.some((p) => d.pending[p] === true)) {
        out.push(`${atv}: polling a pending port`);
      }
      if (!Number.isInteger(vc.pendingSel) || vc.pendingSel < 0 || vc.pendingSel > 0xffffffff) {
        out.push(`${atv}: pending_sel ${vc.pendingSel} is not a u32`);
      }
    });
  }
  return out;
}
