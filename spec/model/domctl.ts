/**
 * The domctl group of the reference model: `domctl`, the controlling domain's operations on
 * domains (ABI 1.4; create, vCPU counts, device moves and physinfo since 1.5).
 *
 * What the state holds for it: per domain `privileged`, `paused`, `maxMem`, `memTarget`,
 * `shutdownRequest`, `vcpusHeld`, its device manifest and `devicesGeneration` (start_info fields
 * on a host; the model states them as plain fields, as it does the shared_info bits), the ids
 * DOMCTL_DESTROY took away, the free frame and vCPU pools, the next domain id, and what the host's
 * image loader accepts ({@link ModelLoader}).
 *
 * Choices where spec/abi.json is silent:
 * - The op is read once, before anything is written; the results are written in field order, the
 *   ids of DOMCTL_LIST before its `nr` and `total` (a buffer that overlaps the op sees that order).
 * - VIRQ_CONTROL goes to the target's vCPU 0 as a global VIRQ (to whichever vCPU it is bound on).
 * - DOMCTL_DESTROY closes every port of the domain as `evtchn_close` from it would (the peers of its
 *   inter-domain ports go back to UNBOUND, naming it), moves the devices it was given back to
 *   their givers (as DETACH would), puts its frames and vCPUs in the pools, removes it from the
 *   state, then raises VIRQ_DOM_EXC on the controlling domains that have not ended (the caller too).
 * - DOMCTL_CREATE of a domain: id = the next id, name `dom<id>` when none is given, memory
 *   mem_bytes (max_mem: the request's, mem_bytes when 0), nr_vcpus vCPU slots all held, vCPU 0
 *   up, paused, no devices, privileged with SIF_PRIVILEGED; it can start vCPUs (the loader's
 *   images export pv_vcpu_entry).
 * - VIRQ_DOM_EXC ("on every controlling domain that has bound it (not on the domain itself)")
 *   goes only to controlling domains that have not ended themselves, as every other VIRQ the
 *   host raises on a domain's behalf (events.ts `domainException`).
 * - A device move also fails with ENOSPC when the receiving domain has no free event-channel port
 *   for the device's interrupt (the spec names only a full manifest; the host refuses both).
 * - A device move closes the device's port in the giving domain only while it is still its DEVICE
 *   port there: the guest may have closed it (evtchn_close: "the device then has no interrupt")
 *   and the number may since have gone to another port, or to another device ({@link
 *   ModelDevice.portLost}).
 * @module
 */
import {
  CMDLINE_MAX,
  DOMCTL_ATTACH_DEVICE,
  DOMCTL_CREATE,
  DOMCTL_CREATE_OFF,
  DOMCTL_CREATE_SIZE,
  DOMCTL_DEVICE_OFF,
  DOMCTL_PHYSINFO,
  DOMCTL_PHYSINFO_OFF,
  DOMCTL_VCPUS_OFF,
  EBUSY,
  EEXIST,
  ENOMEM,
  ENOSPC,
  MAX_DEVICES,
  MAX_VCPUS,
  SIF_PRIVILEGED,
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
import { domainException, sendVirq } from './events.ts';
import { heldFrames } from './reservation.ts';
import { inBounds, type ModelMemory } from './memory.ts';
import { applySharedInfoWrite } from './shared-info.ts';
import {
  closePort,
  findDomain,
  lowestFreePort,
  minGuestMemory,
  newDomain,
  updateVcpu,
  type ModelDevice,
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
import type { Delivery } from './events.ts';

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

/** The fields of a `domctl_create` payload (spec/abi.json), any u32 / u64 value allowed (hostile ones too). */
export interface DomctlCreateFields {
  image: number;
  imageLen: number;
  memBytes: number | bigint;
  nrVcpus: number;
  flags?: number;
  cmdline?: number;
  cmdlineLen?: number;
  name?: number;
  nameLen?: number;
  /** 0 (the default): no growth beyond memBytes. */
  maxMem?: number | bigint;
  /** What the domid field holds before the call (the host writes it on success). */
  domid?: number;
}

/** Encodes a `domctl_create` payload (DOMCTL_CREATE_SIZE bytes, little-endian; unset fields 0). */
export function encodeDomctlCreate(f: DomctlCreateFields): Uint8Array {
  const out = new Uint8Array(DOMCTL_CREATE_SIZE);
  const dv = new DataView(out.buffer);
  const u32 = (off: number, v: number) => dv.setUint32(off, v >>> 0, true);
  const u64 = (off: number, v: number | bigint) => dv.setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);
  u32(DOMCTL_CREATE_OFF.image, f.image);
  u32(DOMCTL_CREATE_OFF.image_len, f.imageLen);
  u64(DOMCTL_CREATE_OFF.mem_bytes, f.memBytes);
  u32(DOMCTL_CREATE_OFF.nr_vcpus, f.nrVcpus);
  u32(DOMCTL_CREATE_OFF.flags, f.flags ?? 0);
  u32(DOMCTL_CREATE_OFF.cmdline, f.cmdline ?? 0);
  u32(DOMCTL_CREATE_OFF.cmdline_len, f.cmdlineLen ?? 0);
  u32(DOMCTL_CREATE_OFF.name, f.name ?? 0);
  u32(DOMCTL_CREATE_OFF.name_len, f.nameLen ?? 0);
  u32(DOMCTL_CREATE_OFF.domid, f.domid ?? 0);
  u64(DOMCTL_CREATE_OFF.max_mem, f.maxMem ?? 0);
  return out;
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
  dv.setUint32(DOMCTL_GETINFO_OFF.nr_vcpus, d.vcpusHeld, true);
  dv.setUint32(DOMCTL_GETINFO_OFF.vcpus_online, d.vcpus.filter((v) => v.up).length, true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.mem_size, BigInt(d.memSize), true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.max_mem, BigInt(d.maxMem), true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.mem_target, BigInt(d.memTarget), true);
  dv.setBigUint64(DOMCTL_GETINFO_OFF.populated, BigInt(d.memSize - d.ballooned.length * GRANT_FRAME_SIZE), true);
  dv.setUint32(DOMCTL_GETINFO_OFF.max_vcpus, d.nrVcpus, true);
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

/** DOMCTL_DESTROY of `victim`: see the module comment for the order of its steps. */
function destroy(s: ModelState, victim: number): Delivery {
  let state = s;
  const wakes: ModelWake[] = [];
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
  // "Destroying a domain moves the devices it was given back to the domain that gave them, when
  // that one still exists, as DETACH would." It has ended: it gets no VIRQ_CONTROL.
  const ended = updateDomain(state, victim, (dd) => ({ ...dd, status: 'shutdown' as const }));
  state = ended;
  d.devices.forEach((dev, k) => {
    if (dev?.givenBy === undefined || findDomain(state, dev.givenBy) === undefined) return;
    const moved = moveDevice(state, victim, k, dev.givenBy, undefined);
    if (typeof moved === 'number') return;
    state = moved.state;
    wakes.push(...moved.wakes);
  });
  // "its frames and vCPUs go to the host's free pools".
  const gone = getDomain(state, victim);
  state = {
    ...state,
    freeFrames: state.freeFrames + heldFrames(gone),
    freeVcpus: (state.freeVcpus ?? 0) + gone.vcpusHeld,
    domains: state.domains.filter((x) => x.id !== victim),
    destroyed: [...(state.destroyed ?? []), victim],
  };
  const exc = domainException(state, victim);
  return { state: exc.state, wakes: [...wakes, ...exc.wakes] };
}

/** What a device move produced: the state and wakes, and the receiving entry. */
interface Moved extends Delivery {
  /** The receiving manifest's entry (`new_index`). */
  readonly index: number;
}

/**
 * Moves the device of `from`'s entry `index` into `to` (DOMCTL_ATTACH_DEVICE / DETACH, and
 * destroy): EINVAL when the entry is not a device, ENOSPC when `to` has no room (no DEVICE_NONE
 * entry and MAX_DEVICES entries, or no free port). Otherwise: its port in `from` closes (while it
 * is still a DEVICE port), its entry becomes DEVICE_NONE; it goes to `to`'s first DEVICE_NONE
 * entry (else a new one at the end) with a DEVICE port on vCPU 0 (the lowest free one); both
 * generations go up by one (u32) and VIRQ_CONTROL fires on each that has not ended.
 */
function moveDevice(s: ModelState, from: number, index: number, to: number, givenBy: number | undefined): Moved | number {
  const src = getDomain(s, from);
  const dev = index < src.devices.length ? src.devices[index] : undefined;
  if (dev === undefined || dev === null) return EINVAL;
  const dst = getDomain(s, to);
  const free = dst.devices.indexOf(null);
  const port = lowestFreePort(dst);
  if ((free < 0 && dst.devices.length >= MAX_DEVICES) || port === undefined) return ENOSPC;
  let state = updateDomain(s, from, (x) => {
    const devices = x.devices.slice();
    devices[index] = null;
    const y = { ...x, devices };
    return dev.portLost !== true && getPort(y, dev.port).state === 'device' ? closePort(y, dev.port) : y;
  });
  const at = free < 0 ? dst.devices.length : free;
  const plugged: ModelDevice = givenBy === undefined ? { name: dev.name, type: dev.type, port } : { name: dev.name, type: dev.type, port, givenBy };
  state = updateDomain(state, to, (x) => {
    // A device there whose port number this was (the guest closed it) no longer has a port.
    const devices = x.devices.map((o) => (o !== null && o.port === port ? { ...o, portLost: true } : o));
    devices[at] = plugged;
    return setPort({ ...x, devices }, port, { state: 'device', vcpu: 0 });
  });
  const wakes: ModelWake[] = [];
  for (const id of [from, to]) {
    state = updateDomain(state, id, (x) => ({ ...x, devicesGeneration: (x.devicesGeneration + 1) >>> 0 }));
    if (getDomain(state, id).status !== 'running') continue;
    const d = sendVirq(state, id, VIRQ_CONTROL, 0);
    state = d.state;
    wakes.push(...d.wakes);
  }
  return { state, wakes, index: at };
}

/** Printable ASCII without space: what a DOMCTL_CREATE name may hold. */
function validName(b: Uint8Array): boolean {
  return b.every((x) => x > 0x20 && x < 0x7f);
}

/** latin1: one char per byte. */
function latin1(b: Uint8Array): string {
  let out = '';
  for (const x of b) out += String.fromCharCode(x);
  return out;
}

/** Whether `b` is well-formed UTF-8 (the spec's command-line rule for DOMCTL_CREATE). */
function isUtf8(b: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * DOMCTL_CREATE: the checks in the spec's order (flags, nr_vcpus, mem_bytes, max_mem, cmdline_len,
 * name_len, EFAULT, name, EEXIST, ENOMEM, loader), then the new domain (module comment), the
 * pools lowered, `domid` written.
 */
function create(s: ModelState, caller: ModelCaller, mem: ModelMemory, pv: DataView, payloadAt: number): ModelStep {
  const u32 = (off: number) => pv.getUint32(off, true);
  const flags = u32(DOMCTL_CREATE_OFF.flags);
  const nrVcpus = u32(DOMCTL_CREATE_OFF.nr_vcpus);
  const memBytes = Number(pv.getBigUint64(DOMCTL_CREATE_OFF.mem_bytes, true));
  const image = u32(DOMCTL_CREATE_OFF.image);
  const imageLen = u32(DOMCTL_CREATE_OFF.image_len);
  const cmd = u32(DOMCTL_CREATE_OFF.cmdline);
  const cmdLen = u32(DOMCTL_CREATE_OFF.cmdline_len);
  const name = u32(DOMCTL_CREATE_OFF.name);
  const nameLen = u32(DOMCTL_CREATE_OFF.name_len);
  const no = (code: number): ModelStep => ({ result: code, state: s });
  // EINVAL: "DOMCTL_CREATE with bad flags, nr_vcpus, mem_bytes, cmdline_len, name or image".
  if ((flags & ~SIF_PRIVILEGED) !== 0) return no(EINVAL);
  if (nrVcpus < 1 || nrVcpus > MAX_VCPUS) return no(EINVAL);
  if (memBytes === 0 || memBytes % 65536 !== 0 || memBytes > MAX_MEM_LIMIT) return no(EINVAL);
  // "max_mem (EINVAL unless 0, or a multiple of 65536 from mem_bytes up to 4 GiB)".
  const maxMem = Number(pv.getBigUint64(DOMCTL_CREATE_OFF.max_mem, true));
  if (maxMem !== 0 && (maxMem % 65536 !== 0 || maxMem < memBytes || maxMem > MAX_MEM_LIMIT)) return no(EINVAL);
  if (cmdLen > CMDLINE_MAX || nameLen > 15) return no(EINVAL);
  // EFAULT: "the image, command line or name is not inside the caller's memory".
  if (!inBounds(mem, image, imageLen) || (cmdLen > 0 && !inBounds(mem, cmd, cmdLen)) || (nameLen > 0 && !inBounds(mem, name, nameLen))) return no(EFAULT);
  // EINVAL: "a command line that is not UTF-8".
  if (cmdLen > 0 && !isUtf8(mem.read(cmd, cmdLen))) return no(EINVAL);
  const id = s.nextId ?? Math.max(0, ...s.domains.map((d) => d.id), ...(s.destroyed ?? [])) + 1;
  let domName = `dom${id}`;
  if (nameLen > 0) {
    const nb = mem.read(name, nameLen);
    if (!validName(nb)) return no(EINVAL);
    domName = latin1(nb);
  }
  // EEXIST: "a domain already has that name".
  if (s.domains.some((d) => d.name === domName)) return no(EEXIST);
  const frames = memBytes / GRANT_FRAME_SIZE;
  // ENOMEM: "the host's free pool holds too few frames or vCPUs".
  if (s.freeFrames < frames || (s.freeVcpus ?? 0) < nrVcpus) return no(ENOMEM);
  // EOPNOTSUPP: "on a host without an image loader".
  if (s.loader === undefined) return no(EOPNOTSUPP);
  // EINVAL: "when it is not a guest the host can run with that memory and those vCPUs".
  // pvisor's loader: one of its images, room for the guest above the reserved area, and a memory
  // a wasm32 engine can make (4 GiB less one page at most: src/hv/hypervisor.ts createDomain).
  if (!s.loader.images.includes(latin1(mem.read(image, imageLen))) || memBytes < minGuestMemory(nrVcpus) || memBytes > MAX_MEM_LIMIT - 65536) return no(EINVAL);
  // max_mem 0: the memory it is made with.
  const made = { ...newDomain({ id, memSize: memBytes, nrVcpus, privileged: flags === SIF_PRIVILEGED, name: domName }), paused: true, maxMem: Math.max(memBytes, maxMem) };
  const state: ModelState = {
    ...s,
    domains: [...s.domains, made],
    nextId: id + 1,
    freeFrames: s.freeFrames - frames,
    freeVcpus: (s.freeVcpus ?? 0) - nrVcpus,
  };
  return okWrites(state, caller, mem, [{ addr: payloadAt + DOMCTL_CREATE_OFF.domid, bytes: u32le(id) }]);
}

/**
 * DOMCTL_SET_VCPUS: n in 1..nr_vcpus (EINVAL), raising needs the pool (ENOMEM), lowering the
 * caller's own domain below the calling vCPU is EBUSY; then the vCPUs at or above n that are up go
 * down (as `vcpu_down`), the difference moves to or from the pool, and VIRQ_CONTROL fires when the
 * count changed and the domain has not ended.
 */
function setVcpus(s: ModelState, caller: ModelCaller, d: ModelDomain, n: number): ModelStep {
  if (n < 1 || n > d.nrVcpus) return { result: EINVAL, state: s };
  const delta = n - d.vcpusHeld;
  if (delta > (s.freeVcpus ?? 0)) return { result: ENOMEM, state: s };
  if (d.id === caller.dom && caller.vcpu >= n) return { result: EBUSY, state: s };
  if (delta === 0) return ok(s);
  let state = updateDomain(s, d.id, (x) => {
    let y: ModelDomain = { ...x, vcpusHeld: n };
    for (let v = n; v < x.nrVcpus; v++) {
      if (x.vcpus[v]?.up === true) y = updateVcpu(y, v, (vc) => ({ ...vc, up: false, timer: 0, blocked: null }));
    }
    return y;
  });
  state = { ...state, freeVcpus: (s.freeVcpus ?? 0) - delta };
  if (d.status !== 'running') return ok(state);
  const delivery = sendVirq(state, d.id, VIRQ_CONTROL, 0);
  return ok(delivery.state, delivery.wakes);
}

/** The host's accounts (DOMCTL_PHYSINFO): frames and vCPUs all domains hold plus the free pools. */
export function physinfo(s: ModelState): { totalFrames: number; freeFrames: number; totalVcpus: number; freeVcpus: number } {
  let frames = s.freeFrames;
  let vcpus = s.freeVcpus ?? 0;
  for (const d of s.domains) {
    frames += heldFrames(d);
    vcpus += d.vcpusHeld;
  }
  return { totalFrames: frames, freeFrames: s.freeFrames, totalVcpus: vcpus, freeVcpus: s.freeVcpus ?? 0 };
}

/** The DOMCTL_* commands. */
const KNOWN: ReadonlySet<number> = new Set([
  DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN,
  DOMCTL_PHYSINFO,
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
  // EINVAL: "cmd is not a DOMCTL_* command".
  if (!KNOWN.has(op.cmd)) return { result: EINVAL, state: s };
  // DOMCTL_CREATE and DOMCTL_PHYSINFO do not look at `domain`.
  if (op.cmd === DOMCTL_CREATE) return create(s, caller, mem, pv, payloadAt);
  if (op.cmd === DOMCTL_PHYSINFO) {
    const a = physinfo(s);
    const at = payloadAt;
    return okWrites(s, caller, mem, [
      { addr: at + DOMCTL_PHYSINFO_OFF.total_frames, bytes: u32le(a.totalFrames) },
      { addr: at + DOMCTL_PHYSINFO_OFF.free_frames, bytes: u32le(a.freeFrames) },
      { addr: at + DOMCTL_PHYSINFO_OFF.total_vcpus, bytes: u32le(a.totalVcpus) },
      { addr: at + DOMCTL_PHYSINFO_OFF.free_vcpus, bytes: u32le(a.freeVcpus) },
    ]);
  }

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
    case DOMCTL_DESTROY: {
      if (id === caller.dom) return { result: EINVAL, state: s };
      const gone = destroy(s, id);
      return ok(gone.state, gone.wakes);
    }
    case DOMCTL_SET_VCPUS:
      return setVcpus(s, caller, d, pv.getUint32(DOMCTL_VCPUS_OFF.nr_vcpus, true));
    case DOMCTL_ATTACH_DEVICE:
    case DOMCTL_DETACH_DEVICE: {
      const attach = op.cmd === DOMCTL_ATTACH_DEVICE;
      // EINVAL: "naming the caller ..., or ATTACH to a domain that has ended".
      if (id === caller.dom || (attach && d.status !== 'running')) return { result: EINVAL, state: s };
      const index = pv.getUint32(DOMCTL_DEVICE_OFF.index, true);
      const moved = attach ? moveDevice(s, caller.dom, index, id, caller.dom) : moveDevice(s, id, index, caller.dom, undefined);
      if (typeof moved === 'number') return { result: moved, state: s };
      return okWrites(moved.state, caller, mem, [{ addr: payloadAt + DOMCTL_DEVICE_OFF.new_index, bytes: u32le(moved.index) }], moved.wakes);
    }
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
