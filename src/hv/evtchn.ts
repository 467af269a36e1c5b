/**
 * Event channels: Xen's 2-level ABI.
 *
 * Who writes what: the host sets bits in `shared_info.evtchn_pending` and in a vCPU's
 * `evtchn_pending_sel`, and sets `evtchn_upcall_pending`; the guest clears all three and owns
 * `evtchn_mask` (the host clears a mask bit only in `evtchn_unmask`). Delivery rule (as Xen's
 * `evtchn_2l_set_pending`): a port that becomes pending and is not masked sets its word's bit in
 * the notified vCPU's `pending_sel`; if that bit was clear, the vCPU's `upcall_pending` is set
 * and a vCPU blocked in `sched_block` wakes. A vCPU polling the port wakes whatever the mask.
 * @module
 */
import {
  DOMID_SELF, EEXIST, EINVAL, ENOSPC, ESRCH, EFAULT, EVTCHNSTAT_CLOSED, EVTCHNSTAT_DEVICE, EVTCHNSTAT_INTERDOMAIN,
  EVTCHNSTAT_IPI, EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ, EVTCHN_STATUS_OFF, EVTCHN_STATUS_SIZE,
  NR_EVENT_CHANNELS, VIRQ_CONSOLE, VIRQ_CONTROL, VIRQ_DOM_EXC, VIRQ_TIMER,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { Domain, Port } from './domain.ts';
import type { Vcpu } from './vcpu.ts';

/** What event-channel code needs from the hypervisor. */
export interface EvtchnHost {
  /** The domain with this id, alive or not; undefined when none. */
  domain(id: number): Domain | undefined;
  /** Ends a vCPU's wait with a result and makes it runnable. */
  wake(v: Vcpu, result: number): void;
}

function bind(d: Domain, p: number, state: number, vcpu: number, remoteDom = 0, remotePort = 0, virq = 0): void {
  d.ports[p] = { state, vcpu, remoteDom, remotePort, virq };
}

/** Sets `upcall_pending` on a vCPU and kicks it out of `sched_block` (Xen `vcpu_mark_events_pending`). */
export function markEventsPending(h: EvtchnHost, d: Domain, v: Vcpu): void {
  // SeqCst store: the flag must be visible before the vCPU is woken to look at it.
  Atomics.store(d.mem.u8, d.upcallPendingAddr(v.index), 1);
  if (v.wait !== null && v.wait.kind === 'block') h.wake(v, 0);
}

/** Makes `port` of domain `d` pending and notifies as the delivery rule says. */
export function raise(h: EvtchnHost, d: Domain, port: number): void {
  const rec = d.ports[port];
  const vi = rec === undefined ? 0 : rec.vcpu;
  const word = port >>> 5;
  const bit = 1 << (port & 31);
  const i32 = d.mem.i32;
  // Atomic OR: the guest clears other bits of the same word concurrently.
  const old = Atomics.or(i32, d.pendingIdx + word, bit);
  if ((old & bit) !== 0) return;
  const v = d.vcpus[vi];
  if (v === undefined) return;
  // SeqCst load: pairs with the guest's mask writes; a stale read could lose an upcall.
  if ((Atomics.load(i32, d.maskIdx + word) & bit) === 0) {
    const wbit = 1 << word;
    // Atomic OR: the guest exchanges pending_sel with 0 concurrently.
    const oldSel = Atomics.or(i32, d.pendingSelIdx(vi), wbit);
    if ((oldSel & wbit) === 0) markEventsPending(h, d, v);
  }
  for (const pv of d.vcpus) {
    const w = pv.wait;
    if (w !== null && w.kind === 'poll' && w.ports.includes(port)) h.wake(pv, 0);
  }
}

/** True when `port` is pending in `d`'s shared_info. */
export function isPending(d: Domain, port: number): boolean {
  // SeqCst load: sees the latest guest clear or host set.
  return (Atomics.load(d.mem.i32, d.pendingIdx + (port >>> 5)) & (1 << (port & 31))) !== 0;
}

function resolve(d: Domain, dom: number): number {
  return dom === DOMID_SELF ? d.id : dom;
}

/** `evtchn_alloc_unbound`. */
export function allocUnbound(h: EvtchnHost, d: Domain, remoteDom: number): number {
  const rd = resolve(d, remoteDom);
  if (h.domain(rd) === undefined) return ESRCH;
  const p = d.freePort();
  if (p < 0) return ENOSPC;
  bind(d, p, EVTCHNSTAT_UNBOUND, 0, rd);
  return p;
}

/** `evtchn_bind_interdomain`. */
export function bindInterdomain(h: EvtchnHost, d: Domain, remoteDom: number, remotePort: number): number {
  const rd = h.domain(resolve(d, remoteDom));
  if (rd === undefined) return ESRCH;
  if (remotePort >= NR_EVENT_CHANNELS) return EINVAL;
  const rp = rd.ports[remotePort];
  if (rp === undefined || rp.state !== EVTCHNSTAT_UNBOUND || rp.remoteDom !== d.id) return EINVAL;
  const lp = d.freePort();
  if (lp < 0) return ENOSPC;
  bind(d, lp, EVTCHNSTAT_INTERDOMAIN, 0, rd.id, remotePort);
  rp.state = EVTCHNSTAT_INTERDOMAIN;
  rp.remoteDom = d.id;
  rp.remotePort = lp;
  return lp;
}

/** VIRQs a domain has one of for all its vCPUs (spec: "Global: bind it on one vCPU"). */
function isGlobalVirq(virq: number): boolean {
  return virq === VIRQ_CONSOLE || virq === VIRQ_CONTROL || virq === VIRQ_DOM_EXC;
}

/** Port bound to `virq` on vCPU `vcpu` (a global VIRQ: on any vCPU), or 0. */
export function virqPort(d: Domain, virq: number, vcpu: number): number {
  for (let p = 1; p < d.ports.length; p++) {
    const e = d.ports[p];
    if (e !== undefined && e.state === EVTCHNSTAT_VIRQ && e.virq === virq && (isGlobalVirq(virq) || e.vcpu === vcpu)) return p;
  }
  return 0;
}

/** `evtchn_bind_virq`. */
export function bindVirq(d: Domain, virq: number, vcpu: number): number {
  if ((virq !== VIRQ_TIMER && !isGlobalVirq(virq)) || vcpu >= d.vcpus.length) return EINVAL;
  if (virqPort(d, virq, vcpu) !== 0) return EEXIST;
  const p = d.freePort();
  if (p < 0) return ENOSPC;
  bind(d, p, EVTCHNSTAT_VIRQ, vcpu, 0, 0, virq);
  return p;
}

/** `evtchn_bind_ipi`. */
export function bindIpi(d: Domain, vcpu: number): number {
  if (vcpu >= d.vcpus.length) return EINVAL;
  const p = d.freePort();
  if (p < 0) return ENOSPC;
  bind(d, p, EVTCHNSTAT_IPI, vcpu);
  return p;
}

/**
 * Binds the lowest free port to a device interrupt notifying vCPU `vcpu` (host side; no
 * hypercall creates DEVICE ports). Returns the port, EINVAL for a bad vCPU, or ENOSPC.
 */
export function bindDevice(d: Domain, vcpu: number): number {
  if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= d.vcpus.length) return EINVAL;
  const p = d.freePort();
  if (p < 0) return ENOSPC;
  bind(d, p, EVTCHNSTAT_DEVICE, vcpu);
  return p;
}

/**
 * A device raises its interrupt: `port` fires if it is still a DEVICE port of a live domain. After the guest
 * closed it (or it was reused for something else) the interrupt is dropped, so a device can
 * never raise a port the guest now uses for another purpose.
 */
export function raiseDevice(h: EvtchnHost, d: Domain, port: number): void {
  // A dead domain's vCPUs must not be woken back onto the run queue.
  if (d.alive && d.ports[port]?.state === EVTCHNSTAT_DEVICE) raise(h, d, port);
}

/** `evtchn_send`: DEVICE ports, like VIRQ ports, fall to EINVAL (only the host raises them). */
export function send(h: EvtchnHost, d: Domain, port: number): number {
  if (port >= NR_EVENT_CHANNELS) return EINVAL;
  const e = d.ports[port];
  if (e === undefined) return EINVAL;
  switch (e.state) {
    case EVTCHNSTAT_INTERDOMAIN: {
      const rd = h.domain(e.remoteDom);
      if (rd !== undefined) raise(h, rd, e.remotePort);
      return 0;
    }
    case EVTCHNSTAT_IPI:
      raise(h, d, port);
      return 0;
    case EVTCHNSTAT_UNBOUND:
      return 0;
    default:
      return EINVAL;
  }
}

/** Raises VIRQ `virq` for vCPU `vcpu` if the guest bound it (Xen `send_guest_vcpu_virq`). */
export function sendVirq(h: EvtchnHost, d: Domain, virq: number, vcpu: number): void {
  const p = virqPort(d, virq, vcpu);
  if (p !== 0) raise(h, d, p);
}

/** `evtchn_unmask` (Xen `evtchn_2l_unmask`). */
export function unmask(h: EvtchnHost, d: Domain, port: number): number {
  if (port >= NR_EVENT_CHANNELS) return EINVAL;
  const word = port >>> 5;
  const bit = 1 << (port & 31);
  const i32 = d.mem.i32;
  // Atomic AND: the guest sets other mask bits of the word concurrently.
  const old = Atomics.and(i32, d.maskIdx + word, ~bit);
  if ((old & bit) !== 0 && isPending(d, port)) {
    const vi = d.ports[port]?.vcpu ?? 0;
    const v = d.vcpus[vi];
    if (v === undefined) return 0;
    const wbit = 1 << word;
    // Atomic OR: as in raise().
    const oldSel = Atomics.or(i32, d.pendingSelIdx(vi), wbit);
    if ((oldSel & wbit) === 0) markEventsPending(h, d, v);
  }
  return 0;
}

/** `evtchn_close`. */
export function close(h: EvtchnHost, d: Domain, port: number): number {
  if (port >= NR_EVENT_CHANNELS) return EINVAL;
  const e = d.ports[port];
  if (e === undefined || e.state === EVTCHNSTAT_CLOSED) return EINVAL;
  if (e.state === EVTCHNSTAT_INTERDOMAIN) {
    const rd = h.domain(e.remoteDom);
    const rp = rd?.ports[e.remotePort];
    if (rp !== undefined && rp.state === EVTCHNSTAT_INTERDOMAIN) {
      rp.state = EVTCHNSTAT_UNBOUND;
      rp.remoteDom = d.id;
      rp.remotePort = 0;
    }
  }
  d.ports[port] = { state: EVTCHNSTAT_CLOSED, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 };
  return 0;
}

/** `evtchn_status`. */
export function status(d: Domain, port: number, out: GuestAddr): number {
  if (port >= NR_EVENT_CHANNELS) return EINVAL;
  if (!d.mem.inBounds(out, EVTCHN_STATUS_SIZE)) return EFAULT;
  const e: Port = d.ports[port] ?? { state: EVTCHNSTAT_CLOSED, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 };
  const m = d.mem;
  m.setU32((out + EVTCHN_STATUS_OFF.port) as GuestAddr, port);
  m.setU32((out + EVTCHN_STATUS_OFF.state) as GuestAddr, e.state);
  m.setU32((out + EVTCHN_STATUS_OFF.vcpu) as GuestAddr, e.vcpu);
  m.setU32((out + EVTCHN_STATUS_OFF.remote_dom) as GuestAddr, e.remoteDom);
  m.setU32((out + EVTCHN_STATUS_OFF.remote_port) as GuestAddr, e.remotePort);
  m.setU32((out + EVTCHN_STATUS_OFF.virq) as GuestAddr, e.virq);
  return 0;
}
