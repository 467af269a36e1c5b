/**
 * Event delivery: what happens when a port fires.
 *
 * This is the one place where the model says how pending bits, mask bits, `pending_sel`,
 * `upcall_pending` and blocked vCPUs interact. Sending on a channel, a VIRQ firing, and
 * `evtchn_unmask` of a pending port all come here.
 * @module
 */
import { VIRQ_CONSOLE, VIRQ_CONTROL, VIRQ_DOM_EXC } from '../../src/abi/generated/index.ts';
import {
  getDomain,
  getPort,
  getVcpu,
  setPending,
  updateDomain,
  updateVcpu,
  type ModelDomain,
  type ModelState,
  type ModelWake,
} from './state.ts';

/** A state change together with the blocked vCPUs it woke. */
export interface Delivery {
  /** The new state. */
  readonly state: ModelState;
  /** vCPUs whose blocking call ended, with that call's result. */
  readonly wakes: readonly ModelWake[];
}

/**
 * The vCPU a port notifies. A closed port has none; like Xen, which resets a freed channel's
 * notify_vcpu_id to 0, the model uses vCPU 0 for it (only `evtchn_unmask` of a closed but still
 * pending port can need this).
 */
export function portVcpu(d: ModelDomain, port: number): number {
  const p = getPort(d, port);
  return p.state === 'closed' ? 0 : p.vcpu;
}

/**
 * Tells vCPU `v` that word `port >> 5` has a pending unmasked port: sets that bit of its
 * `pending_sel`; if the bit was clear, sets its `upcall_pending` and ends a `sched_block` it is
 * waiting in.
 *
 * spec vcpu_info.evtchn_upcall_pending: "Set by the host when an unmasked port bound to this vCPU
 * becomes pending and its word's bit in evtchn_pending_sel was clear" (Xen's 2-level rule: a
 * guest must clear upcall_pending before it exchanges pending_sel, or it can miss an upcall).
 *
 * spec sched_block: "blocks until one is [pending]": an upcall_pending vCPU in `sched_block`
 * wakes with result 0.
 */
export function markUpcall(d: ModelDomain, v: number, port: number): { domain: ModelDomain; wakes: ModelWake[] } {
  const before = getVcpu(d, v);
  const wakes: ModelWake[] = [];
  const wbit = 1 << (port >> 5);
  if ((before.pendingSel & wbit) !== 0) return { domain: d, wakes };
  const woken = before.blocked?.kind === 'block';
  if (woken) wakes.push({ dom: d.id, vcpu: v, result: 0 });
  const domain = updateVcpu(d, v, (vc) => ({
    ...vc,
    pendingSel: (vc.pendingSel | (1 << (port >> 5))) >>> 0,
    upcallPending: true,
    blocked: woken ? null : vc.blocked,
  }));
  return { domain, wakes };
}

/**
 * Ends the `sched_poll` of every vCPU of `d` that polls `port` (result 0).
 *
 * spec sched_poll: "Blocks until one of the given ports is pending (in shared_info, whatever its
 * mask)". Only pollers of this very port wake (Xen also wakes every vCPU polling several ports,
 * spuriously; the spec's wording does not allow that).
 */
function wakePollers(d: ModelDomain, port: number): { domain: ModelDomain; wakes: ModelWake[] } {
  const wakes: ModelWake[] = [];
  const vcpus = d.vcpus.map((vc, v) => {
    if (vc.blocked?.kind === 'poll' && vc.blocked.ports.includes(port)) {
      wakes.push({ dom: d.id, vcpu: v, result: 0 });
      return { ...vc, blocked: null };
    }
    return vc;
  });
  return { domain: wakes.length === 0 ? d : { ...d, vcpus }, wakes };
}

/**
 * Port `port` of domain `dom` fires.
 *
 * 1. Set its pending bit (shared_info.evtchn_pending: "Set by the host (atomic OR)"). If it was
 *    already pending, nothing else happens: the guest has not consumed the previous event yet.
 * 2. If the port is not masked (evtchn_mask: "port p does not raise upcalls"), mark its vCPU
 *    ({@link markUpcall}).
 * 3. Whatever the mask, wake the vCPUs polling this port.
 *
 * The domain may be shut down: like Xen, which keeps a dying domain's structures until it is
 * destroyed, the model still sets its bits.
 */
export function raise(s: ModelState, dom: number, port: number): Delivery {
  const d0 = getDomain(s, dom);
  if (d0.pending[port] === true) return { state: s, wakes: [] };
  let d = setPending(d0, port, true);
  const wakes: ModelWake[] = [];
  if (d.mask[port] !== true) {
    const m = markUpcall(d, portVcpu(d, port), port);
    d = m.domain;
    wakes.push(...m.wakes);
  }
  const p = wakePollers(d, port);
  d = p.domain;
  wakes.push(...p.wakes);
  const next = d;
  return { state: updateDomain(s, dom, () => next), wakes };
}

/** VIRQs of which a domain has one for all its vCPUs (spec VIRQ_CONSOLE, VIRQ_CONTROL, VIRQ_DOM_EXC: "Global"). */
export function isGlobalVirq(virq: number): boolean {
  return virq === VIRQ_CONSOLE || virq === VIRQ_CONTROL || virq === VIRQ_DOM_EXC;
}

/** The port `virq` is bound to for vCPU `vcpu` (any vCPU for a global VIRQ), or undefined. */
export function virqPort(d: ModelDomain, virq: number, vcpu: number): number | undefined {
  const port = d.ports.findIndex(
    (p) => p.state === 'virq' && p.virq === virq && (isGlobalVirq(virq) || p.vcpu === vcpu),
  );
  return port < 0 ? undefined : port;
}

/**
 * VIRQ `virq` fires for vCPU `vcpu` of `dom`: raises the port it is bound to. An unbound VIRQ is
 * dropped (as in Xen: nobody asked for it, and nothing remembers it for a later binding).
 */
export function sendVirq(s: ModelState, dom: number, virq: number, vcpu: number): Delivery {
  const port = virqPort(getDomain(s, dom), virq, vcpu);
  return port === undefined ? { state: s, wakes: [] } : raise(s, dom, port);
}

/**
 * A domain shut down, crashed or was destroyed (`ended`): VIRQ_DOM_EXC fires on every controlling
 * domain that has not ended itself, other than `ended` (domctl: "the host raises VIRQ_DOM_EXC on
 * every controlling domain that has bound it (not on the domain itself)"). Paused ones count: they
 * have not ended.
 */
export function domainException(s: ModelState, ended: number): Delivery {
  let state = s;
  const wakes: ModelWake[] = [];
  for (const c of s.domains) {
    if (c.id === ended || !c.privileged || c.status !== 'running') continue;
    const d = sendVirq(state, c.id, VIRQ_DOM_EXC, 0);
    state = d.state;
    wakes.push(...d.wakes);
  }
  return { state, wakes };
}
