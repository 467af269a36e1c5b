/**
 * One pure function per hypercall: what the call does to the abstract state.
 *
 * Each function has the {@link ModelCall} shape: `(state, caller, rawArgs, memory) => step`.
 * Arguments arrive as the raw i32 words of `pv.hypercall` and are decoded here as the generated
 * dispatch decodes them: `u32` → `a >>> 0`, `i32` → `a | 0`, `ptr` → `a >>> 0`.
 *
 * Conventions that hold for every call (each is a choice where spec/abi.json is silent):
 * - **A failing call changes nothing.** Every error is decided before the first change, so an
 *   error result always comes with the unchanged state and no writes.
 * - **Error order.** When several errors apply, the call returns the first one in the order its
 *   `errors` table lists them; EDEADLK (a question of where the call is made, not of its
 *   arguments) comes first. The only departure is forced by data: `sched_poll` can only check its
 *   ports' range after reading them, so that EINVAL comes after the EFAULT checks.
 * - **Shut-down domains still exist.** A domain that called `sched_shutdown` keeps its ports and
 *   bits: other domains can allocate ports for it, bind to its unbound ports and send to it, as
 *   Xen allows until a dying domain is destroyed. (Its own vCPUs make no more calls.)
 * @module
 */
import {
  ABI_VERSION,
  CONSOLE_IO_MAX,
  EBUSY,
  EDEADLK,
  EEXIST,
  EFAULT,
  EINVAL,
  ENOSPC,
  ENOSYS,
  ESRCH,
  ETIMEDOUT,
  EVTCHN_STATUS_SIZE,
  EVTCHNSTAT_CLOSED,
  EVTCHNSTAT_DEVICE,
  EVTCHNSTAT_INTERDOMAIN,
  EVTCHNSTAT_IPI,
  EVTCHNSTAT_UNBOUND,
  EVTCHNSTAT_VIRQ,
  FEATURE_EVTCHN_2LEVEL,
  FEATURE_TIME_RECORD,
  FEATURE_VCPU_HOTPLUG,
  Hc,
  MULTICALL_ENTRY_OFF,
  MULTICALL_ENTRY_SIZE,
  MULTICALL_MAX,
  POLL_MAX_PORTS,
  SHUTDOWN_CRASH,
  SHUTDOWN_POWEROFF,
  SHUTDOWN_REBOOT,
  VIRQ_CONSOLE,
  VIRQ_TIMER,
  WALLCLOCK_SIZE,
  callInfo,
} from '../../src/abi/generated/index.ts';
import { domainException, isGlobalVirq, markUpcall, portVcpu, raise, sendVirq, virqPort } from './events.ts';
import { domctl } from './domctl.ts';
import { decrease_reservation, increase_reservation } from './reservation.ts';
import { grant_copy, grant_map, grant_setup } from './grant.ts';
import { inBounds, overlay, readU32, readU64, u32Bytes, type ModelMemory } from './memory.ts';
import { applySharedInfoWrite, withSharedInfo } from './shared-info.ts';
import {
  closePort,
  findDomain,
  getDomain,
  getPort,
  getVcpu,
  lowestFreePort,
  portInRange,
  resolveDomid,
  setMask,
  setPort,
  updateDomain,
  updateVcpu,
  type ModelCall,
  type ModelCaller,
  type ModelDomain,
  type ModelPort,
  type ModelState,
  type ModelStep,
  type ModelWake,
  type ModelWrite,
} from './state.ts';

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Argument `i` decoded as u32 (missing slots are 0: "unused argument slots ... should be 0"). */
function u32(args: readonly number[], i: number): number {
  return (args[i] ?? 0) >>> 0;
}

/** Argument `i` decoded as i32. */
function i32(args: readonly number[], i: number): number {
  return (args[i] ?? 0) | 0;
}

/** A successful call. */
function ok(state: ModelState, result = 0, wakes: readonly ModelWake[] = []): ModelStep {
  return wakes.length === 0 ? { result, state } : { result, state, wakes };
}

/** A failed call: the state is the one the call started with. */
function fail(state: ModelState, code: number): ModelStep {
  return { result: code, state };
}

/** The calling domain (it exists: `step` checks the caller). */
function self(s: ModelState, caller: ModelCaller): ModelDomain {
  return getDomain(s, caller.dom);
}

/** Replaces the calling domain by `f(domain)`. */
function updateSelf(s: ModelState, caller: ModelCaller, f: (d: ModelDomain) => ModelDomain): ModelState {
  return updateDomain(s, caller.dom, f);
}

/**
 * A successful call that writes memory. Writes that land on the caller's shared_info page change
 * the state as a guest's own write would (memory.ts `ModelMemory.sharedInfo`). A host-defined
 * write (wallclock) pointed there lands as zeros: the model cannot know those bytes, so only a
 * guest that aims its wallclock output at shared_info sees the model diverge from a host.
 */
function okWrites(s: ModelState, caller: ModelCaller, mem: ModelMemory, result: number, writes: ModelWrite[]): ModelStep {
  const at = mem.sharedInfo;
  let state = s;
  if (at !== undefined) {
    for (const w of writes) state = updateSelf(state, caller, (d) => applySharedInfoWrite(d, at, w));
  }
  return { result, state, writes };
}

/** latin1: one char per byte, so the console text round-trips any byte. */
function latin1(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

// ---------------------------------------------------------------------------------------------
// version group

/** `version`: "Reports the host's ABI version." returns "(major << 16) | minor." */
export const version: ModelCall = (s) => ok(s, ABI_VERSION);

/** The FEATURE_* ids this host has. */
const FEATURES: ReadonlySet<number> = new Set([FEATURE_EVTCHN_2LEVEL, FEATURE_TIME_RECORD, FEATURE_VCPU_HOTPLUG]);

/**
 * `probe`: "Asks whether the host implements a call (id below 0x10000: a call number) or a feature
 * (a FEATURE_* id)." returns "1 when present, 0 when absent."
 *
 * Choice: FEATURE_VCPU_HOTPLUG ("`vcpu_up`/`vcpu_down` work on this host") is a property of the
 * host, so it reports 1 even for a guest that lacks `pv_vcpu_entry` (whose `vcpu_up` returns
 * ENOSYS). Id 0 is reserved, so it reports 0. `grant_map` is in the table but "`probe` reports it
 * absent" (it always returns ENOSYS on this host).
 */
export const probe: ModelCall = (s, _caller, args) => {
  const id = u32(args, 0);
  if (id < 0x10000) return ok(s, callInfo(id) === undefined || id === Hc.grant_map ? 0 : 1);
  return ok(s, FEATURES.has(id) ? 1 : 0);
};

// ---------------------------------------------------------------------------------------------
// console group

/**
 * `console_write`: "Writes bytes to the domain's console. Never blocks; writes at most
 * CONSOLE_IO_MAX bytes per call." returns "The number of bytes written (min(len,
 * CONSOLE_IO_MAX))."
 */
export const console_write: ModelCall = (s, caller, args, mem) => {
  const buf = u32(args, 0);
  const n = Math.min(u32(args, 1), CONSOLE_IO_MAX);
  // EFAULT: "[buf, buf + min(len, CONSOLE_IO_MAX)) is not inside guest memory." Only the bytes
  // actually moved are checked, so a long request on a short buffer near the end is partial
  // rather than a fault only when its first CONSOLE_IO_MAX bytes fit.
  if (!inBounds(mem, buf, n)) return fail(s, EFAULT);
  const text = latin1(mem.read(buf, n));
  return ok(updateSelf(s, caller, (d) => ({ ...d, console: d.console + text })), n);
};

/**
 * `console_read`: "Reads console input that has arrived. Never blocks". The model has no console
 * input ever, so after the pointer check it returns "0 when no input is waiting".
 */
export const console_read: ModelCall = (s, _caller, args, mem) => {
  const buf = u32(args, 0);
  const n = Math.min(u32(args, 1), CONSOLE_IO_MAX);
  // EFAULT: "[buf, buf + min(len, CONSOLE_IO_MAX)) is not inside guest memory."
  if (!inBounds(mem, buf, n)) return fail(s, EFAULT);
  return ok(s, 0);
};

// ---------------------------------------------------------------------------------------------
// sched group

/** `sched_yield`: "Gives up the rest of the time slice; the vCPU stays runnable." returns "0." */
export const sched_yield: ModelCall = (s) => ok(s, 0);

/**
 * `sched_block`: "Atomically clears the vCPU's upcall_mask and, unless an event is already pending
 * for it (upcall_pending set), blocks until one is." returns "0."
 *
 * The wait ends when the vCPU's upcall_pending is set ({@link markUpcall}); the call then returns 0.
 */
export const sched_block: ModelCall = (s, caller) => {
  // EDEADLK: "Called from the upcall handler."
  if (caller.inUpcall === true) return fail(s, EDEADLK);
  const pendingAlready = getVcpu(self(s, caller), caller.vcpu).upcallPending;
  const state = updateSelf(s, caller, (d) =>
    updateVcpu(d, caller.vcpu, (vc) => ({
      ...vc,
      upcallMask: false,
      blocked: pendingAlready ? null : { kind: 'block' },
    })),
  );
  return pendingAlready ? ok(state, 0) : { result: 0, state, blocks: true };
};

/**
 * `sched_poll`: "Blocks until one of the given ports is pending (in shared_info, whatever its mask)
 * or the timeout passes. Does not change upcall_mask." returns "0 when a port is pending."
 *
 * Choices:
 * - A port that is already pending makes the call return 0 at once.
 * - `timeout` is a nullable pointer ("0 for no timeout"); a deadline *value* of 0 also means no
 *   timeout, as Xen's `timeout == 0` does (and as `set_timer`'s 0 means "none").
 * - A deadline that has already passed, with no polled port pending, returns ETIMEDOUT at once.
 * - Unlike Xen, an upcall becoming pending does not end the poll: the spec names only the ports
 *   and the timeout.
 * - Port 0 is in range (it just never fires).
 */
export const sched_poll: ModelCall = (s, caller, args, mem) => {
  // EDEADLK: "Called from the upcall handler."
  if (caller.inUpcall === true) return fail(s, EDEADLK);
  const portsAddr = u32(args, 0);
  const nrPorts = u32(args, 1);
  const timeoutAddr = u32(args, 2);
  // EINVAL: "nr_ports is 0 or above POLL_MAX_PORTS ..."
  if (nrPorts === 0 || nrPorts > POLL_MAX_PORTS) return fail(s, EINVAL);
  // EFAULT: "The port array or the timeout is not inside guest memory."
  if (!inBounds(mem, portsAddr, nrPorts * 4)) return fail(s, EFAULT);
  if (timeoutAddr !== 0 && !inBounds(mem, timeoutAddr, 8)) return fail(s, EFAULT);
  const ports = Array.from({ length: nrPorts }, (_, i) => readU32(mem, portsAddr + 4 * i));
  // EINVAL: "... or a port is out of range."
  if (!ports.every(portInRange)) return fail(s, EINVAL);
  const d = self(s, caller);
  if (ports.some((p) => d.pending[p] === true)) return ok(s, 0);
  const deadline = timeoutAddr === 0 ? 0 : readU64(mem, timeoutAddr);
  // ETIMEDOUT: "The deadline passed with no polled port pending."
  if (deadline !== 0 && deadline <= s.now) return fail(s, ETIMEDOUT);
  const state = updateSelf(s, caller, (dd) =>
    updateVcpu(dd, caller.vcpu, (vc) => ({ ...vc, blocked: { kind: 'poll', ports, deadline } })),
  );
  return { result: 0, state, blocks: true };
};

/** The SHUTDOWN_* values. */
const SHUTDOWN_REASONS: ReadonlySet<number> = new Set([SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_CRASH]);

/**
 * `sched_shutdown`: "Stops the whole domain with a reason and an exit code. Does not return on
 * success."
 *
 * Choice: only `status` and the shutdown record change. The vCPUs keep their `up` flags and
 * bits, ports stay as they are and timers stay armed (a shut-down domain never runs again, but
 * other domains may still interact with it; see the module comment). Its time has stopped, though:
 * its timers and poll deadlines never fire ({@link fireTimers} in index.ts; spec: "Its one-shot
 * timers and poll deadlines stay as they are and never fire").
 */
export const sched_shutdown: ModelCall = (s, caller, args) => {
  const reason = u32(args, 0);
  // EINVAL: "reason is not a SHUTDOWN_* value."
  if (!SHUTDOWN_REASONS.has(reason)) return fail(s, EINVAL);
  const code = i32(args, 1);
  const state = updateSelf(s, caller, (d) => ({ ...d, status: 'shutdown', shutdown: { reason, code } }));
  // domctl (since 1.5): "When a domain shuts down ... the host raises VIRQ_DOM_EXC on every controlling domain".
  const exc = domainException(state, caller.dom);
  return exc.wakes.length === 0 ? { result: 0, state: exc.state, noReturn: true } : { result: 0, state: exc.state, noReturn: true, wakes: exc.wakes };
};

// ---------------------------------------------------------------------------------------------
// time group

/**
 * `set_timer`: "Arms the calling vCPU's one-shot timer: VIRQ_TIMER fires when system time reaches
 * the deadline (at once if it already has). A new deadline replaces the old one; a deadline of 0
 * cancels." returns "0."
 *
 * A deadline that has already come fires during the call, and the timer is then unarmed (it is
 * one-shot). A VIRQ_TIMER that is not bound on the vCPU is dropped ({@link sendVirq}).
 */
export const set_timer: ModelCall = (s, caller, args, mem) => {
  const addr = u32(args, 0);
  // EFAULT: "The deadline is not inside guest memory."
  if (!inBounds(mem, addr, 8)) return fail(s, EFAULT);
  const deadline = readU64(mem, addr);
  const fired = deadline !== 0 && deadline <= s.now;
  const armed = updateSelf(s, caller, (d) =>
    updateVcpu(d, caller.vcpu, (vc) => ({ ...vc, timer: fired ? 0 : deadline })),
  );
  if (!fired) return ok(armed, 0);
  const delivery = sendVirq(armed, caller.dom, VIRQ_TIMER, caller.vcpu);
  return ok(delivery.state, 0, delivery.wakes);
};

/**
 * `wallclock`: "Reads the wall-clock time". The value is host-defined (configuration plus system
 * time), so the model only states the EFAULT-or-0 decision and that the call writes one wallclock
 * struct (WALLCLOCK_SIZE bytes) at `out`.
 */
export const wallclock: ModelCall = (s, caller, args, mem) => {
  const out = u32(args, 0);
  // EFAULT: "out is not inside guest memory."
  if (!inBounds(mem, out, WALLCLOCK_SIZE)) return fail(s, EFAULT);
  return okWrites(s, caller, mem, 0, [{ addr: out, bytes: new Uint8Array(WALLCLOCK_SIZE), hostDefined: true }]);
};

// ---------------------------------------------------------------------------------------------
// evtchn group

/**
 * `evtchn_alloc_unbound`: "Allocates a port that domain remote_dom may connect to with
 * `evtchn_bind_interdomain`. Its events go to vCPU 0." returns "The new port."
 *
 * remote_dom may be DOMID_SELF ("Stands for the calling domain"); the port records the resolved
 * id. Ports are allocated lowest-free-first from 1. A reused port keeps whatever pending and mask
 * bits it had (evtchn_close: "The pending and mask bits are left for the guest to clear").
 */
export const evtchn_alloc_unbound: ModelCall = (s, caller, args) => {
  const remoteDom = resolveDomid(caller, u32(args, 0));
  // ESRCH: "remote_dom names no domain."
  if (findDomain(s, remoteDom) === undefined) return fail(s, ESRCH);
  const port = lowestFreePort(self(s, caller));
  // ENOSPC: "No free port."
  if (port === undefined) return fail(s, ENOSPC);
  return ok(updateSelf(s, caller, (d) => setPort(d, port, { state: 'unbound', remoteDom, vcpu: 0 })), port);
};

/**
 * `evtchn_bind_interdomain`: "Connects a new local port to remote_port of remote_dom, which must be
 * unbound and allocated for this domain. Both ends become INTERDOMAIN; events go to vCPU 0."
 * returns "The new local port."
 *
 * Choices:
 * - The bind raises no event on either end (spec: "The bind itself raises no event"). Xen
 *   conservatively raises the new local port; pvisor does not, so a guest sees exactly the events
 *   that were sent after the channel was connected.
 * - The remote end keeps the vCPU it had (always 0: UNBOUND ports notify vCPU 0).
 * - Error order follows the table (ESRCH, EINVAL, ENOSPC); Xen checks for a free local port
 *   before looking at remote_port.
 * - remote_dom may be the caller itself (DOMID_SELF or its own id): a loopback channel.
 */
export const evtchn_bind_interdomain: ModelCall = (s, caller, args) => {
  const remoteDom = resolveDomid(caller, u32(args, 0));
  const remotePort = u32(args, 1);
  const rd = findDomain(s, remoteDom);
  // ESRCH: "remote_dom names no domain."
  if (rd === undefined) return fail(s, ESRCH);
  // EINVAL: "remote_port is out of range, not UNBOUND, or not allocated for this domain."
  if (!portInRange(remotePort)) return fail(s, EINVAL);
  const rp = getPort(rd, remotePort);
  if (rp.state !== 'unbound' || rp.remoteDom !== caller.dom) return fail(s, EINVAL);
  const localPort = lowestFreePort(self(s, caller));
  // ENOSPC: "No free local port."
  if (localPort === undefined) return fail(s, ENOSPC);
  // The two updates go one after the other on the state, so a loopback (same domain) works.
  const bound = updateDomain(
    updateSelf(s, caller, (d) =>
      setPort(d, localPort, { state: 'interdomain', remoteDom, remotePort, vcpu: 0 }),
    ),
    remoteDom,
    (d) => setPort(d, remotePort, { state: 'interdomain', remoteDom: caller.dom, remotePort: localPort, vcpu: rp.vcpu }),
  );
  return ok(bound, localPort);
};

/**
 * `evtchn_bind_virq`: "Binds a virtual interrupt on a vCPU to a new port." returns "The new port."
 *
 * The target vCPU need not be up ("vcpu is not below nr_vcpus" is the only condition). Unlike Xen,
 * which wants global VIRQs on vCPU 0, VIRQ_CONSOLE may go to any valid vCPU ("its events go
 * there").
 */
export const evtchn_bind_virq: ModelCall = (s, caller, args) => {
  const virq = u32(args, 0);
  const vcpu = u32(args, 1);
  const d = self(s, caller);
  // EINVAL: "virq is not a VIRQ_* value or vcpu is not below nr_vcpus."
  if ((virq !== VIRQ_TIMER && !isGlobalVirq(virq)) || vcpu >= d.nrVcpus) return fail(s, EINVAL);
  // EEXIST: "That virq is already bound on that vCPU (a global VIRQ: on any vCPU)."
  if (virqPort(d, virq, vcpu) !== undefined) return fail(s, EEXIST);
  const port = lowestFreePort(d);
  // ENOSPC: "No free port."
  if (port === undefined) return fail(s, ENOSPC);
  return ok(updateSelf(s, caller, (dd) => setPort(dd, port, { state: 'virq', virq, vcpu })), port);
};

/**
 * `evtchn_bind_ipi`: "Allocates a port whose events (sent by any vCPU of this domain) go to the
 * given vCPU." returns "The new port." The target vCPU need not be up.
 */
export const evtchn_bind_ipi: ModelCall = (s, caller, args) => {
  const vcpu = u32(args, 0);
  const d = self(s, caller);
  // EINVAL: "vcpu is not below nr_vcpus."
  if (vcpu >= d.nrVcpus) return fail(s, EINVAL);
  const port = lowestFreePort(d);
  // ENOSPC: "No free port."
  if (port === undefined) return fail(s, ENOSPC);
  return ok(updateSelf(s, caller, (dd) => setPort(dd, port, { state: 'ipi', vcpu })), port);
};

/**
 * `evtchn_send`: "Sends an event: on an INTERDOMAIN port to the peer's port, on an IPI port to the
 * port itself. Sending on an UNBOUND port does nothing and succeeds; VIRQ and DEVICE ports cannot
 * be sent on (only the host raises them)." returns "0."
 */
export const evtchn_send: ModelCall = (s, caller, args) => {
  const port = u32(args, 0);
  // EINVAL: "port is out of range, CLOSED, VIRQ or DEVICE."
  if (!portInRange(port)) return fail(s, EINVAL);
  const p = getPort(self(s, caller), port);
  switch (p.state) {
    case 'closed':
    case 'virq':
    case 'device':
      return fail(s, EINVAL);
    case 'unbound':
      return ok(s, 0);
    case 'interdomain': {
      const delivery = raise(s, p.remoteDom, p.remotePort);
      return ok(delivery.state, 0, delivery.wakes);
    }
    case 'ipi': {
      const delivery = raise(s, caller.dom, port);
      return ok(delivery.state, 0, delivery.wakes);
    }
  }
};

/**
 * `evtchn_unmask`: "Clears the port's mask bit; if the port is pending, marks it in its vCPU's
 * pending_sel and raises upcall_pending as if it had just fired" (ABI 1.0 wording, made precise in the spec as below); returns "0."
 *
 * Choices:
 * - Any port in range may be unmasked, closed ones too (only "port is out of range" is an error);
 *   a closed port's vCPU is 0 ({@link portVcpu}).
 * - As in Xen's `evtchn_2l_unmask`, the re-delivery happens only when the mask bit was set and
 *   the port is pending; it follows the delivery rule ({@link markUpcall}), so it sets
 *   upcall_pending (and wakes a vCPU in `sched_block`) only when the selector bit was clear.
 */
export const evtchn_unmask: ModelCall = (s, caller, args) => {
  const port = u32(args, 0);
  // EINVAL: "port is out of range."
  if (!portInRange(port)) return fail(s, EINVAL);
  const wasMasked = self(s, caller).mask[port] === true;
  let d = setMask(self(s, caller), port, false);
  let wakes: ModelWake[] = [];
  if (wasMasked && d.pending[port] === true) {
    const m = markUpcall(d, portVcpu(d, port), port);
    d = m.domain;
    wakes = m.wakes;
  }
  const next = d;
  return ok(updateSelf(s, caller, () => next), 0, wakes);
};

/**
 * `evtchn_close`: "Frees a port. The peer of an INTERDOMAIN port goes back to UNBOUND (allowing
 * this domain to bind again). Closing a DEVICE port is allowed: the device then has no interrupt
 * until the toolstack attaches it again. The pending and mask bits are left for the guest to
 * clear." returns "0."
 *
 * The peer becomes UNBOUND with remote_dom = this domain, keeping its vCPU. Unlike Xen, which
 * clears the freed port's pending bit, the pending bit stays (the spec says so). A vCPU polling
 * the closed port keeps polling. A closed VIRQ_TIMER port leaves the timer armed; it then fires
 * into nothing.
 */
export const evtchn_close: ModelCall = (s, caller, args) => {
  const port = u32(args, 0);
  // EINVAL: "port is out of range or already CLOSED."
  if (!portInRange(port)) return fail(s, EINVAL);
  const p = getPort(self(s, caller), port);
  if (p.state === 'closed') return fail(s, EINVAL);
  const closed = updateSelf(s, caller, (d) => closePort(d, port));
  if (p.state !== 'interdomain') return ok(closed, 0);
  const peer = getPort(getDomain(closed, p.remoteDom), p.remotePort);
  const peerVcpu = peer.state === 'closed' ? 0 : peer.vcpu;
  return ok(
    updateDomain(closed, p.remoteDom, (d) =>
      setPort(d, p.remotePort, { state: 'unbound', remoteDom: caller.dom, vcpu: peerVcpu }),
    ),
    0,
  );
};

/** The EVTCHNSTAT_* code of a port state. */
function statCode(p: ModelPort): number {
  switch (p.state) {
    case 'closed':
      return EVTCHNSTAT_CLOSED;
    case 'unbound':
      return EVTCHNSTAT_UNBOUND;
    case 'interdomain':
      return EVTCHNSTAT_INTERDOMAIN;
    case 'virq':
      return EVTCHNSTAT_VIRQ;
    case 'ipi':
      return EVTCHNSTAT_IPI;
    case 'device':
      return EVTCHNSTAT_DEVICE;
  }
}

/**
 * The evtchn_status struct for `port`. Fields that do not apply to the port's state are 0 (the
 * spec says so since 1.1: a DEVICE port reports only its vCPU), and a closed port reports vCPU 0
 * (Xen resets a freed channel to vCPU 0).
 */
export function statusBytes(port: number, p: ModelPort): Uint8Array {
  return u32Bytes(
    port,
    statCode(p),
    p.state === 'closed' ? 0 : p.vcpu,
    p.state === 'unbound' || p.state === 'interdomain' ? p.remoteDom : 0,
    p.state === 'interdomain' ? p.remotePort : 0,
    p.state === 'virq' ? p.virq : 0,
  );
}

/** `evtchn_status`: "Describes a port." returns "0." Writes one evtchn_status at `out`. */
export const evtchn_status: ModelCall = (s, caller, args, mem) => {
  const port = u32(args, 0);
  const out = u32(args, 1);
  // EINVAL: "port is out of range."
  if (!portInRange(port)) return fail(s, EINVAL);
  // EFAULT: "out is not inside guest memory."
  if (!inBounds(mem, out, EVTCHN_STATUS_SIZE)) return fail(s, EFAULT);
  const bytes = statusBytes(port, getPort(self(s, caller), port));
  return okWrites(s, caller, mem, 0, [{ addr: out, bytes }]);
};

// ---------------------------------------------------------------------------------------------
// vcpu group

/**
 * `vcpu_up`: "Starts a down vCPU: it runs `pv_vcpu_entry(entry, arg)` on the given stack. It
 * becomes runnable at once and runs when the scheduler picks it." returns "0."
 *
 * Only `up` changes: the vCPU's vcpu_info fields (upcall_pending, upcall_mask, pending_sel) live
 * in guest memory and stay as they were, as in Xen. `entry` and `arg` matter only to the engine.
 */
export const vcpu_up: ModelCall = (s, caller, args, mem) => {
  const vcpu = u32(args, 0);
  const stack = u32(args, 2);
  const d = self(s, caller);
  // EINVAL: "vcpu is 0 or not below nr_vcpus, or (since 1.5) not below start_info.vcpus_held, or
  // stack is not 16-byte aligned."
  if (vcpu === 0 || vcpu >= d.nrVcpus || vcpu >= d.vcpusHeld || stack % 16 !== 0) return fail(s, EINVAL);
  // EFAULT: "stack is 0 or beyond guest memory." (A stack top equal to the memory size is the
  // highest valid one: the stack grows down from it; the pointer's length is 0.)
  if (stack === 0 || !inBounds(mem, stack, 0)) return fail(s, EFAULT);
  // EBUSY: "The vCPU is already up."
  if (getVcpu(d, vcpu).up) return fail(s, EBUSY);
  // ENOSYS: "The guest does not export pv_vcpu_entry and __stack_pointer."
  if (!d.canStartVcpus) return fail(s, ENOSYS);
  return ok(updateSelf(s, caller, (dd) => updateVcpu(dd, vcpu, (vc) => ({ ...vc, up: true }))), 0);
};

/**
 * `vcpu_down`: "Takes a vCPU down. On the calling vCPU it does not return; another vCPU stops
 * before it next runs. Its timer is cancelled. Taking down a vCPU that is already down succeeds
 * and does nothing." returns "0 (when taking down another vCPU)."
 *
 * A vCPU blocked in `sched_block` or `sched_poll` stops waiting without a result (its call never
 * returns). Its vcpu_info bits stay as they are.
 */
export const vcpu_down: ModelCall = (s, caller, args) => {
  const vcpu = u32(args, 0);
  const d = self(s, caller);
  // EINVAL: "vcpu is 0 or not below nr_vcpus."
  if (vcpu === 0 || vcpu >= d.nrVcpus) return fail(s, EINVAL);
  if (!getVcpu(d, vcpu).up) return ok(s, 0);
  const state = updateSelf(s, caller, (dd) =>
    updateVcpu(dd, vcpu, (vc) => ({ ...vc, up: false, timer: 0, blocked: null })),
  );
  return vcpu === caller.vcpu ? { result: 0, state, noReturn: true } : ok(state, 0);
};

/** `vcpu_is_up`: "Asks whether a vCPU is up." returns "1 when up, 0 when down." */
export const vcpu_is_up: ModelCall = (s, caller, args) => {
  const vcpu = u32(args, 0);
  const d = self(s, caller);
  // EINVAL: "vcpu is not below nr_vcpus."
  if (vcpu >= d.nrVcpus) return fail(s, EINVAL);
  return ok(s, getVcpu(d, vcpu).up ? 1 : 0);
};

// ---------------------------------------------------------------------------------------------
// multicall group

/**
 * `multicall`: "Runs a batch of calls in order, writing each result into its entry. Calls that may
 * block, and nested multicalls, get -EDEADLK in their entry. A call that does not return
 * (sched_shutdown, vcpu_down of self) ends the batch." returns "0 (per-call results are in the
 * entries)."
 *
 * Choices:
 * - Each entry is read from memory just before it runs, so it sees what the entries before it
 *   wrote (Xen copies one entry at a time too).
 * - "Calls that may block" are those the spec marks `blocking` (sched_block, sched_poll); they get
 *   EDEADLK without any of their own checks.
 * - The entry of a call that does not return gets no result; the multicall itself does not return
 *   either.
 * - `nr_calls` = 0 is a valid empty batch (the argument's doc says 0..MULTICALL_MAX).
 */
export const multicall: ModelCall = (s, caller, args, mem) => {
  const batch = u32(args, 0);
  const nrCalls = u32(args, 1);
  // EINVAL: "nr_calls is above MULTICALL_MAX."
  if (nrCalls > MULTICALL_MAX) return fail(s, EINVAL);
  // EFAULT: "The batch is not inside guest memory."
  if (!inBounds(mem, batch, nrCalls * MULTICALL_ENTRY_SIZE)) return fail(s, EFAULT);
  let state = s;
  const writes: ModelWrite[] = [];
  const wakes: ModelWake[] = [];
  for (let i = 0; i < nrCalls; i++) {
    const entry = batch + i * MULTICALL_ENTRY_SIZE;
    const view = withSharedInfo(overlay(mem, writes), self(state, caller));
    const op = readU32(view, entry + MULTICALL_ENTRY_OFF.op);
    const entryArgs = [0, 1, 2, 3, 4].map((k) => readU32(view, entry + MULTICALL_ENTRY_OFF.args + 4 * k) | 0);
    let result: number;
    if (op === Hc.multicall || callInfo(op)?.blocking === true) {
      result = EDEADLK;
    } else {
      const inner = dispatchCall(state, caller, op, entryArgs, view);
      state = inner.state;
      writes.push(...(inner.writes ?? []));
      wakes.push(...(inner.wakes ?? []));
      if (inner.noReturn === true) return { result: 0, state, writes, noReturn: true, wakes };
      result = inner.result;
    }
    const resultWrite = { addr: entry + MULTICALL_ENTRY_OFF.result, bytes: u32Bytes(result) };
    const after = okWrites(state, caller, mem, 0, [resultWrite]);
    state = after.state;
    writes.push(resultWrite);
  }
  return wakes.length === 0 ? { result: 0, state, writes } : { result: 0, state, writes, wakes };
};

// ---------------------------------------------------------------------------------------------
// The table

/** Every call of the ABI by number. A number not in it is answered ENOSYS by {@link dispatchCall}. */
export const CALL_TABLE: Readonly<Record<number, ModelCall>> = {
  [Hc.version]: version,
  [Hc.probe]: probe,
  [Hc.console_write]: console_write,
  [Hc.console_read]: console_read,
  [Hc.sched_yield]: sched_yield,
  [Hc.sched_block]: sched_block,
  [Hc.sched_poll]: sched_poll,
  [Hc.sched_shutdown]: sched_shutdown,
  [Hc.set_timer]: set_timer,
  [Hc.wallclock]: wallclock,
  [Hc.evtchn_alloc_unbound]: evtchn_alloc_unbound,
  [Hc.evtchn_bind_interdomain]: evtchn_bind_interdomain,
  [Hc.evtchn_bind_virq]: evtchn_bind_virq,
  [Hc.evtchn_bind_ipi]: evtchn_bind_ipi,
  [Hc.evtchn_send]: evtchn_send,
  [Hc.evtchn_unmask]: evtchn_unmask,
  [Hc.evtchn_close]: evtchn_close,
  [Hc.evtchn_status]: evtchn_status,
  [Hc.vcpu_up]: vcpu_up,
  [Hc.vcpu_down]: vcpu_down,
  [Hc.vcpu_is_up]: vcpu_is_up,
  [Hc.multicall]: multicall,
  [Hc.grant_setup]: grant_setup,
  [Hc.grant_copy]: grant_copy,
  [Hc.grant_map]: grant_map,
  [Hc.domctl]: domctl,
  [Hc.decrease_reservation]: decrease_reservation,
  [Hc.increase_reservation]: increase_reservation,
};

/**
 * Runs call `nr` without checking the caller (multicall entries, and {@link step} after its
 * checks). ENOSYS: "The call number is not in the table (0 is reserved and always returns this)."
 */
export function dispatchCall(
  s: ModelState,
  caller: ModelCaller,
  nr: number,
  args: readonly number[],
  mem: ModelMemory,
): ModelStep {
  const call = Object.prototype.hasOwnProperty.call(CALL_TABLE, nr >>> 0) ? CALL_TABLE[nr >>> 0] : undefined;
  return call === undefined ? fail(s, ENOSYS) : call(s, caller, args, mem);
}
