/**
 * The domctl group of the reference model: `domctl`, the controlling domain's operations on
 * domains (ABI 1.4).
 *
 * What the state holds for it: per domain `privileged`, `paused`, `maxMem`, `memTarget` and
 * `shutdownRequest` (the last three are start_info fields on a host; the model states them as
 * plain fields, as it does the shared_info bits), and the ids DOMCTL_DESTROY took away.
 *
 * Choices where spec/abi.json is silent:
 * - The op is read once, before anything is written; the results are written in field order, the
 *   ids of DOMCTL_LIST before its `nr` and `total` (a buffer that overlaps the op sees that order).
 * - VIRQ_CONTROL goes to the target's vCPU 0 as a global VIRQ (to whichever vCPU it is bound on).
 * - DOMCTL_DESTROY closes every port of the domain as `evtchn_close` from it would (the peers of its
 *   inter-domain ports go back to UNBOUND, naming it) and removes it from the state.
 * @module
 */
import {
  DOMCTL_ATTACH_DEVICE,
  DOMCTL_CREATE,
  DOMCTL_DESTROY,
  DOMCTL_DETACH_DEVICE,
  DOMCTL_GETINFO,
  DOMCTL_GETINFO_OFF,
  DOMCTL_GETINFO_SIZE,
  DOMCTL_INTERFACE_VERSION,
  DOMCTL_LIST,
  DOMCTL_LIST_OFF,
  DOMCTL_MEM_OFF,
  DOMCTL_OP_OFF,
  DOMCTL_OP_SIZE,
  DOMCTL_PAUSE,
  DOMCTL_REQUEST_SHUTDOWN,
  DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET,
  DOMCTL_SET_VCPUS,
  DOMCTL_SHUTDOWN_OFF,
  DOMCTL_UNPAUSE,
  DOMINF_PAUSED,
  DOMINF_PRIVILEGED,
  DOMINF_SHUTDOWN,
  EFAULT,
  EINVAL,
  EOPNOTSUPP,
  EPERM,
  ESRCH,
  GRANT_FRAME_SIZE,
  SHUTDOWN_POWEROFF,
  SHUTDOWN_REBOOT,
  VIRQ_CONTROL,
} from '../../src/abi/generated/index.ts';
import { sendVirq } from './events.ts';
import { heldFrames } from './reservation.ts';
import { inBounds, type ModelMemory } from './memory.ts';
import { applySharedInfoWrite } from './shared-info.ts';
import {
  closePort,
  findDomain,
  getDomain,
  getPort,
  resolveDomid,
  setPort,
  updateDomain,
  type ModelCall,
  type ModelCaller,
  type ModelDomain,
  type ModelState,
  type ModelStep,
  type ModelWake,
  type ModelWrite,
} from './state.ts';

/** Largest max_mem: a wasm32 memory holds at most 4 GiB. */
const MAX_MEM_LIMIT = 2 ** 32;

/** A domctl_op, decoded: the header and the payload fields the implemented commands read. */
export interface DomctlOp {
  /** DOMCTL_* command. */
  readonly cmd: number;
  /** Must be DOMCTL_INTERFACE_VERSION. */
  readonly interfaceVersion: number;
  /** Target domain id (u32; DOMID_SELF = the caller). */
  readonly domain: number;
  /** The 64 payload bytes. */
  readonly payload: Uint8Array;
}

/** Decodes a domctl_op from its DOMCTL_OP_SIZE bytes (little-endian). */
export function decodeDomctlOp(b: Uint8Array): DomctlOp {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    cmd: dv.getUint32(DOMCTL_OP_OFF.cmd, true),
    interfaceVersion: dv.getUint32(DOMCTL_OP_OFF.interface_version, true),
    domain: dv.getUint32(DOMCTL_OP_OFF.domain, true),
    payload: b.slice(DOMCTL_OP_OFF.payload, DOMCTL_OP_SIZE),
  };
}

/**
 * Encodes a domctl_op: the header, and `payload` (at most 64 bytes) at its start; the rest is 0.
 * `interfaceVersion` defaults to DOMCTL_INTERFACE_VERSION.
 */
export function encodeDomctlOp(cmd: number, domain: number, payload: Uint8Array = new Uint8Array(0), interfaceVersion = DOMCTL_INTERFACE_VERSION): Uint8Array {
  const out = new Uint8Array(DOMCTL_OP_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(DOMCTL_OP_OFF.cmd, cmd >>> 0, true);
  dv.setUint32(DOMCTL_OP_OFF.interface_version, interfaceVersion >>> 0, true);
  dv.setUint32(DOMCTL_OP_OFF.domain, domain >>> 0, true);
  out.set(payload.subarray(0, DOMCTL_OP_SIZE - DOMCTL_OP_OFF.payload), DOMCTL_OP_OFF.payload);
  return out;
}

/** The DOMCTL_GETINFO_SIZE bytes of a domctl_getinfo describing `d`. */
export function getinfoBytes(d: ModelDomain): Uint8Array {
  const out = new Uint8Array(DOMCTL_GETINFO_SIZE);
  const dv = new DataView(out.buffer);
  const shut = d.status === 'shutdown';
  const flags = (shut ? DOMINF_SHUTDOWN : 0) | (d.paused ? DOMINF_PAUSED : 0) | (d.privileged ? DOMINF_PRIVILEGED : 0);
  dv.setUint32(DOMCTL_GETINFO_OFF.domid, d.id, true);
  dv.setUint32(DOMCTL_GETINFO_OFF.flags, flags, true);
  dv.setUint32(DOMCTL_GETINFO_OFF.shutdown_reason, shut ? (d.shutdown?.reason ?? 0) : 0, true);
  dv.setInt32(DOMCTL_GETINFO_OFF.shutdown_code, shut ? (d.shutdown?.code ?? 0) : 0, true);
  dv.setUint32(DOMCTL_GETINFO_OFF.nr_vcpus, d.nrVcpus, true);
  dv.setUint32(DOMCTL_GETINFO_OFF.vcpus_online, d.vcpus.filter((v) => v.up).length, true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.mem_size, BigInt(d.memSize), true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.max_mem, BigInt(d.maxMem), true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.mem_target, BigInt(d.memTarget), true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.populated, BigInt(d.memSize - d.ballooned.length * GRANT_FRAME_SIZE), true);
  return out;
}

function u32le(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v >>> 0, true);
  return out;
}

/** A successful call writing into the caller's memory (writes on its shared_info change the state). */
function okWrites(s: ModelState, caller: ModelCaller, mem: ModelMemory, writes: ModelWrite[], wakes: readonly ModelWake[] = []): ModelStep {
  const at = mem.sharedInfo;
  let state = s;
  if (at !== undefined) for (const w of writes) state = updateDomain(state, caller.dom, (d) => applySharedInfoWrite(d, at, w));
  return { result: 0, state, ...(writes.length > 0 ? { writes } : {}), ...(wakes.length > 0 ? { wakes } : {}) };
}

function ok(state: ModelState, wakes: readonly ModelWake[] = []): ModelStep {
  return wakes.length === 0 ? { result: 0, state } : { result: 0, state, wakes };
}

/** DOMCTL_DESTROY of `victim`: its ports close as evtchn_close would close them, then it is gone. */
function destroy(s: ModelState, victim: number): ModelState {
  let state = s;
  const d = getDomain(state, victim);
  for (let port = 1; port < d.ports.length; port++) {
    const p = getPort(getDomain(state, victim), port);
    if (p.state === 'closed') continue;
    state = updateDomain(state, victim, (dd) => closePort(dd, port));
    if (p.state !== 'interdomain' || p.remoteDom === victim) continue;
    const peer = getPort(getDomain(state, p.remoteDom), p.remotePort);
    if (peer.state !== 'interdomain') continue;
    state = updateDomain(state, p.remoteDom, (dd) => setPort(dd, p.remotePort, { state: 'unbound', remoteDom: victim, vcpu: peer.vcpu }));
  }
  // "the frames it held go to the host's free pool".
  const freeFrames = state.freeFrames + heldFrames(getDomain(state, victim));
  return { ...state, freeFrames, domains: state.domains.filter((x) => x.id !== victim), destroyed: [...(state.destroyed ?? []), victim] };
}

/** The commands in the ABI that this host does not implement yet (issue 6). */
const NOT_YET: ReadonlySet<number> = new Set([DOMCTL_CREATE, DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE]);
/** The commands this host implements. */
const KNOWN: ReadonlySet<number> = new Set([
  DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN,
]);

/**
 * `domctl`: "Controls other domains (Xen's XEN_DOMCTL hypercall): one call, one `domctl_op` whose
 * `cmd` chooses the operation. Only a controlling domain ... may make it; any other gets EPERM and
 * nothing is read or changed." returns "0."
 */
export const domctl: ModelCall = (s, caller, args, mem) => {
  const opAt = (args[0] ?? 0) >>> 0;
  const me = getDomain(s, caller.dom);
  // EPERM: "The caller is not a controlling domain."
  if (!me.privileged) return { result: EPERM, state: s };
  // EFAULT: "The op is not inside guest memory or not 8-byte aligned".
  if (opAt % 8 !== 0 || !inBounds(mem, opAt, DOMCTL_OP_SIZE)) return { result: EFAULT, state: s };
  const op = decodeDomctlOp(mem.read(opAt, DOMCTL_OP_SIZE));
  const pv = new DataView(op.payload.buffer, op.payload.byteOffset, op.payload.byteLength);
  const payloadAt = opAt + DOMCTL_OP_OFF.payload;
  // EINVAL: "interface_version is not DOMCTL_INTERFACE_VERSION".
  if (op.interfaceVersion !== DOMCTL_INTERFACE_VERSION) return { result: EINVAL, state: s };
  // EOPNOTSUPP: "not implemented by this host yet (issue 6)".
  if (NOT_YET.has(op.cmd)) return { result: EOPNOTSUPP, state: s };
  // EINVAL: "cmd is not a DOMCTL_* command".
  if (!KNOWN.has(op.cmd)) return { result: EINVAL, state: s };

  if (op.cmd === DOMCTL_LIST) {
    const buf = pv.getUint32(DOMCTL_LIST_OFF.buffer, true);
    const max = pv.getUint32(DOMCTL_LIST_OFF.max, true);
    // EFAULT: "max is not 0 and the buffer of max u32 is not inside guest memory or not 4-byte aligned".
    if (max !== 0 && (buf % 4 !== 0 || !inBounds(mem, buf, max * 4))) return { result: EFAULT, state: s };
    const ids = s.domains.map((d) => d.id);
    const nr = Math.min(max, ids.length);
    const writes: ModelWrite[] = [];
    for (let i = 0; i < nr; i++) writes.push({ addr: buf + 4 * i, bytes: u32le(ids[i]!) });
    writes.push({ addr: payloadAt + DOMCTL_LIST_OFF.nr, bytes: u32le(nr) }, { addr: payloadAt + DOMCTL_LIST_OFF.total, bytes: u32le(ids.length) });
    return okWrites(s, caller, mem, writes);
  }

  const id = resolveDomid(caller, op.domain);
  const d = findDomain(s, id);
  // ESRCH: "`domain` names no domain".
  if (d === undefined) return { result: ESRCH, state: s };
  const fits = (bytes: number) => bytes % GRANT_FRAME_SIZE === 0;

  switch (op.cmd) {
    case DOMCTL_GETINFO:
      return okWrites(s, caller, mem, [{ addr: payloadAt, bytes: getinfoBytes(d) }]);
    case DOMCTL_PAUSE:
      // EINVAL: "DOMCTL_PAUSE or DOMCTL_DESTROY names the caller".
      if (id === caller.dom) return { result: EINVAL, state: s };
      // "pausing a paused or ended domain ... changes nothing and returns 0".
      return ok(d.status === 'running' && !d.paused ? updateDomain(s, id, (x) => ({ ...x, paused: true })) : s);
    case DOMCTL_UNPAUSE:
      return ok(d.paused ? updateDomain(s, id, (x) => ({ ...x, paused: false })) : s);
    case DOMCTL_DESTROY:
      if (id === caller.dom) return { result: EINVAL, state: s };
      return ok(destroy(s, id));
    case DOMCTL_SET_MAX_MEM: {
      const bytes = Number(pv.getBigUint64(DOMCTL_MEM_OFF.bytes, true));
      // EINVAL: "DOMCTL_SET_MAX_MEM below the domain's mem_size or above 4 GiB, or not a multiple of GRANT_FRAME_SIZE".
      if (!fits(bytes) || bytes < d.memSize || bytes > MAX_MEM_LIMIT) return { result: EINVAL, state: s };
      return ok(updateDomain(s, id, (x) => ({ ...x, maxMem: bytes })));
    }
    case DOMCTL_SET_MEMORY_TARGET: {
      const bytes = Number(pv.getBigUint64(DOMCTL_MEM_OFF.bytes, true));
      // EINVAL: "DOMCTL_SET_MEMORY_TARGET above the domain's max_mem or not a multiple of GRANT_FRAME_SIZE".
      if (!fits(bytes) || bytes > d.maxMem) return { result: EINVAL, state: s };
      const set = updateDomain(s, id, (x) => ({ ...x, memTarget: bytes }));
      // "raises its VIRQ_CONTROL (when bound and the domain has not ended)".
      if (d.status !== 'running') return ok(set);
      const delivery = sendVirq(set, id, VIRQ_CONTROL, 0);
      return ok(delivery.state, delivery.wakes);
    }
    default: {
      // DOMCTL_REQUEST_SHUTDOWN
      const reason = pv.getUint32(DOMCTL_SHUTDOWN_OFF.reason, true);
      // EINVAL: "a reason other than SHUTDOWN_POWEROFF or SHUTDOWN_REBOOT, or to a domain that has already shut down".
      if ((reason !== SHUTDOWN_POWEROFF && reason !== SHUTDOWN_REBOOT) || d.status !== 'running') return { result: EINVAL, state: s };
      const set = updateDomain(s, id, (x) => ({ ...x, shutdownRequest: reason }));
      const delivery = sendVirq(set, id, VIRQ_CONTROL, 0);
      return ok(delivery.state, delivery.wakes);
    }
  }
};
