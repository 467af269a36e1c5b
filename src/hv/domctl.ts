/**
 * `domctl`: the controlling domain's operations on other domains (Xen's XEN_DOMCTL), one call with
 * a `domctl_op` whose `cmd` picks the operation.
 *
 * Order of checks (spec/abi.json `domctl`): privilege first, before any guest memory is read, so a
 * non-controlling domain learns nothing and changes nothing; then the op is copied out of guest
 * memory once and only the copy is looked at (another vCPU may rewrite it meanwhile); then the
 * interface version, the command, the target domain and the command's own checks. Every failure
 * is an error code and leaves the host as it was. The operations themselves are the
 * {@link Hypervisor}'s (pause, unpause, destroyDomain, moveDevice, the loader DOMCTL_CREATE calls)
 * and the domain's start_info fields that ABI 1.4 and 1.5 added (shutdown request, memory target,
 * max, vCPUs held, device generation), so the host toolstack (src/control) and a controlling
 * guest do the same thing.
 *
 * Accounts (ABI 1.5): frames and vCPUs only move — between domains and the host's free pools
 * ({@link Hypervisor.freeFrames}, {@link Hypervisor.freeVcpus}) — so what all domains hold plus
 * the pools never changes under any command here ({@link physInfo}).
 * @module
 */
import {
  CMDLINE_MAX, DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE, DOMCTL_CREATE_OFF, DOMCTL_DESTROY, DOMCTL_DETACH_DEVICE, DOMCTL_DEVICE_OFF,
  DOMCTL_GETINFO, DOMCTL_GETINFO_OFF, DOMCTL_INTERFACE_VERSION, DOMCTL_LIST, DOMCTL_LIST_OFF, DOMCTL_MEM_OFF, DOMCTL_OP_OFF,
  DOMCTL_OP_SIZE, DOMCTL_PAUSE, DOMCTL_PHYSINFO, DOMCTL_PHYSINFO_OFF, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET, DOMCTL_SET_VCPUS, DOMCTL_SHUTDOWN_OFF, DOMCTL_UNPAUSE, DOMCTL_VCPUS_OFF, DOMID_SELF, DOMINF_DYING,
  DOMINF_PAUSED, DOMINF_PRIVILEGED, DOMINF_SHUTDOWN, EBUSY, EEXIST, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, EPERM, ESRCH,
  GRANT_FRAME_SIZE, MAX_VCPUS, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SIF_PRIVILEGED, START_INFO_OFF, VIRQ_CONTROL,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { Domain } from './domain.ts';
import * as evtchn from './evtchn.ts';
import type { Hypervisor } from './hypervisor.ts';
import { heldFrames, populatedBytes } from './reservation.ts';
import type { Vcpu } from './vcpu.ts';
import { WASM_PAGE } from './memory.ts';

/** Largest max_mem a domain may be given: a wasm32 memory holds at most 4 GiB. */
export const MAX_MEM_LIMIT = 4 * 1024 * 1024 * 1024;

/** What `domctl_getinfo` says of a domain (also the toolstack's view). */
export interface DomctlInfo {
  /** Domain id. */
  domid: number;
  /** DOMINF_* bits. */
  flags: number;
  /** SHUTDOWN_* reason with DOMINF_SHUTDOWN, else 0. */
  shutdownReason: number;
  /** Exit code with DOMINF_SHUTDOWN, else 0. */
  shutdownCode: number;
  /** vCPUs it holds (it may bring up those below this). */
  nrVcpus: number;
  /** vCPU slots it was created with. */
  maxVcpus: number;
  /** vCPUs up now. */
  vcpusOnline: number;
  /** Bytes of memory it has. */
  memSize: number;
  /** The most it may hold. */
  maxMem: number;
  /** Its balloon target. */
  memTarget: number;
  /** Bytes of its memory it holds (mem_size minus the frames it handed back). */
  populated: number;
}

/** The DOMCTL_GETINFO record of `d`. */
export function domainInfo(d: Domain): DomctlInfo {
  const shut = d.state === 'shutdown';
  const flags =
    (d.state === 'crashed' ? DOMINF_DYING : 0) | (shut ? DOMINF_SHUTDOWN : 0) |
    (d.state === 'paused' ? DOMINF_PAUSED : 0) | (d.privileged ? DOMINF_PRIVILEGED : 0);
  return {
    domid: d.id,
    flags,
    shutdownReason: shut ? d.shutdownReason : 0,
    shutdownCode: shut ? d.shutdownCode : 0,
    nrVcpus: d.vcpusHeld,
    maxVcpus: d.vcpus.length,
    vcpusOnline: d.vcpus.filter((v) => v.up).length,
    memSize: d.mem.size,
    maxMem: d.maxMem,
    memTarget: d.memTarget,
    populated: populatedBytes(d),
  };
}

/** Writes a u64 into `d`'s start_info (the fields ABI 1.4 appended). */
function setStartInfoU64(d: Domain, off: number, v: number): void {
  d.mem.setU64((d.layout.startInfo + off) as GuestAddr, v);
}

/**
 * Records `bytes` as the most memory `d` may hold (DOMCTL_SET_MAX_MEM) and writes it to its
 * start_info. Returns 0 or EINVAL (below what it has, above 4 GiB, not a whole number of frames).
 */
export function setMaxMem(d: Domain, bytes: number): number {
  if (bytes % GRANT_FRAME_SIZE !== 0 || bytes < d.mem.size || bytes > MAX_MEM_LIMIT) return EINVAL;
  d.maxMem = bytes;
  setStartInfoU64(d, START_INFO_OFF.max_mem, bytes);
  return 0;
}

/**
 * Sets `d`'s balloon target (DOMCTL_SET_MEMORY_TARGET): start_info.mem_target, then VIRQ_CONTROL
 * while the domain lives. Returns 0 or EINVAL (above max_mem, not a whole number of frames).
 */
export function setMemoryTarget(hv: Hypervisor, d: Domain, bytes: number): number {
  if (bytes % GRANT_FRAME_SIZE !== 0 || bytes > d.maxMem) return EINVAL;
  d.memTarget = bytes;
  setStartInfoU64(d, START_INFO_OFF.mem_target, bytes);
  // A dead domain's vCPUs must not be queued again (as evtchn.raiseDevice).
  if (d.alive) evtchn.sendVirq(hv, d, VIRQ_CONTROL, 0);
  return 0;
}

/**
 * Asks `d` to shut down (DOMCTL_REQUEST_SHUTDOWN): start_info.shutdown_reason, then
 * shutdown_requested = 1, then VIRQ_CONTROL. Returns 0 or EINVAL (a reason other than poweroff or
 * reboot, or a domain that has already ended).
 */
export function requestShutdown(hv: Hypervisor, d: Domain, reason: number): number {
  if ((reason !== SHUTDOWN_POWEROFF && reason !== SHUTDOWN_REBOOT) || !d.alive) return EINVAL;
  d.shutdownRequest = reason;
  const si = d.layout.startInfo;
  // Reason before the flag: a guest that sees the flag (on another vCPU) reads a valid reason.
  d.mem.setU32((si + START_INFO_OFF.shutdown_reason) as GuestAddr, reason);
  d.mem.setU32((si + START_INFO_OFF.shutdown_requested) as GuestAddr, 1);
  evtchn.sendVirq(hv, d, VIRQ_CONTROL, 0);
  return 0;
}

/** The host's accounts (DOMCTL_PHYSINFO), in frames and vCPUs. */
export interface PhysInfo {
  /** Frames all domains hold plus the free pool. */
  totalFrames: number;
  /** Frames in the free pool. */
  freeFrames: number;
  /** vCPUs all domains hold plus the free vCPU pool. */
  totalVcpus: number;
  /** vCPUs in the free pool. */
  freeVcpus: number;
}

/** The host's accounts: what every domain holds plus the free pools. */
export function physInfo(hv: Hypervisor): PhysInfo {
  let frames = hv.freeFrames;
  let vcpus = hv.freeVcpus;
  for (const d of hv.domains) {
    frames += heldFrames(d);
    vcpus += d.vcpusHeld;
  }
  return { totalFrames: frames, freeFrames: hv.freeFrames, totalVcpus: vcpus, freeVcpus: hv.freeVcpus };
}

/**
 * Sets how many vCPUs `d` holds (DOMCTL_SET_VCPUS): the difference moves between it and the
 * host's free vCPU pool; vCPUs at or above `n` that are up are taken down (as `vcpu_down` from
 * another vCPU). `caller` is the vCPU making the request, if a guest's: lowering its own domain
 * below it is refused. Returns 0, EINVAL (n outside 1..slots), ENOMEM (pool too small) or EBUSY;
 * on an error nothing changed.
 */
export function setVcpus(hv: Hypervisor, d: Domain, n: number, caller?: Vcpu): number {
  if (!Number.isInteger(n) || n < 1 || n > d.vcpus.length) return EINVAL;
  const delta = n - d.vcpusHeld;
  if (delta > hv.freeVcpus) return ENOMEM;
  if (caller !== undefined && caller.domain === d && caller.index >= n) return EBUSY;
  if (delta === 0) return 0;
  for (let i = n; i < d.vcpus.length; i++) {
    const v = d.vcpus[i]!;
    if (v.up) hv.vcpuDown(v);
  }
  hv.freeVcpus -= delta;
  d.vcpusHeld = n;
  d.mem.setU32((d.layout.startInfo + START_INFO_OFF.vcpus_held) as GuestAddr, n);
  if (d.alive) evtchn.sendVirq(hv, d, VIRQ_CONTROL, 0);
  return 0;
}

/** Decodes a command line as the spec asks (UTF-8, refused otherwise). */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Printable ASCII without space: what a domain name made by DOMCTL_CREATE may hold. */
function validName(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b <= 0x20 || b >= 0x7f) return false;
  return true;
}

/**
 * DOMCTL_CREATE from `caller` with the op's copy `dv` (payload at `pl`). Checks in the spec's
 * order, copies the image once, takes the frames and vCPUs from the pools only once the loader
 * has built the domain, and leaves it paused.
 */
function create(hv: Hypervisor, caller: Domain, dv: DataView, pl: number, payload: GuestAddr): number {
  const u32 = (off: number) => dv.getUint32(pl + off, true);
  const flags = u32(DOMCTL_CREATE_OFF.flags);
  const vcpus = u32(DOMCTL_CREATE_OFF.nr_vcpus);
  const memBytes = Number(dv.getBigUint64(pl + DOMCTL_CREATE_OFF.mem_bytes, true));
  const [image, imageLen] = [u32(DOMCTL_CREATE_OFF.image), u32(DOMCTL_CREATE_OFF.image_len)];
  const [cmd, cmdLen] = [u32(DOMCTL_CREATE_OFF.cmdline), u32(DOMCTL_CREATE_OFF.cmdline_len)];
  const [name, nameLen] = [u32(DOMCTL_CREATE_OFF.name), u32(DOMCTL_CREATE_OFF.name_len)];
  if ((flags & ~SIF_PRIVILEGED) !== 0) return EINVAL;
  if (vcpus < 1 || vcpus > MAX_VCPUS) return EINVAL;
  if (memBytes === 0 || memBytes % WASM_PAGE !== 0 || memBytes > MAX_MEM_LIMIT) return EINVAL;
  const maxMem = Number(dv.getBigUint64(pl + DOMCTL_CREATE_OFF.max_mem, true));
  if (maxMem !== 0 && (maxMem % WASM_PAGE !== 0 || maxMem < memBytes || maxMem > MAX_MEM_LIMIT)) return EINVAL;
  if (cmdLen > CMDLINE_MAX || nameLen > 15) return EINVAL;
  const m = caller.mem;
  if (!m.inBounds(image as GuestAddr, imageLen) || (cmdLen > 0 && !m.inBounds(cmd as GuestAddr, cmdLen)) ||
      (nameLen > 0 && !m.inBounds(name as GuestAddr, nameLen))) return EFAULT;
  let cmdline = '';
  try {
    // Fatal: a replacement character would change the bytes (and their length) the guest gave.
    if (cmdLen > 0) cmdline = STRICT_UTF8.decode(m.copyOut(cmd as GuestAddr, cmdLen));
  } catch {
    return EINVAL;
  }
  let domName = `dom${hv.nextDomainId}`;
  if (nameLen > 0) {
    const nb = m.copyOut(name as GuestAddr, nameLen);
    if (!validName(nb)) return EINVAL;
    domName = String.fromCharCode(...nb);
  }
  if (hv.domains.some((d) => d.name === domName)) return EEXIST;
  const frames = memBytes / GRANT_FRAME_SIZE;
  if (hv.freeFrames < frames || hv.freeVcpus < vcpus) return ENOMEM;
  if (hv.loader === undefined) return EOPNOTSUPP;
  const bytes = m.copyOut(image as GuestAddr, imageLen);
  const made = hv.loader({ image: bytes, opts: { name: domName, memBytes, vcpus, cmdline, privileged: flags === SIF_PRIVILEGED, ...(maxMem !== 0 ? { maxMemBytes: maxMem } : {}) } });
  if ('problems' in made) {
    for (const p of made.problems) hv.log(`${caller.name}: DOMCTL_CREATE: ${p}`);
    return EINVAL;
  }
  const d = made;
  hv.freeFrames -= frames;
  hv.freeVcpus -= vcpus;
  d.creator = caller;
  hv.pause(d);
  caller.mem.setU32((payload + DOMCTL_CREATE_OFF.domid) as GuestAddr, d.id);
  return 0;
}

/**
 * DOMCTL_ATTACH_DEVICE (`from` = caller, `to` = target) or DOMCTL_DETACH_DEVICE (the other way):
 * moves the device and writes `new_index`. Returns 0, EINVAL or ENOSPC.
 */
function move(hv: Hypervisor, caller: Domain, d: Domain, attach: boolean, index: number, payload: GuestAddr): number {
  if (d === caller || (attach && !d.alive)) return EINVAL;
  const r = attach ? hv.moveDevice(caller, index, d, caller) : hv.moveDevice(d, index, caller, undefined);
  if (r < 0) return r;
  caller.mem.setU32((payload + DOMCTL_DEVICE_OFF.new_index) as GuestAddr, r);
  return 0;
}

/** Commands this host implements (all of DOMCTL_*). */
const KNOWN = new Set([
  DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN,
  DOMCTL_PHYSINFO,
]);

/**
 * `domctl` from vCPU `v` with the op at `op`. Returns 0 or an error as spec/abi.json says.
 * (A Domain may stand for the caller when no vCPU matters: the toolkit's model runs.)
 */
export function domctl(hv: Hypervisor, v: Vcpu | Domain, op: GuestAddr): number {
  const caller = 'domain' in v ? v.domain : v;
  const callerVcpu = 'domain' in v ? v : undefined;
  if (!caller.privileged) return EPERM;
  if (op % 8 !== 0 || !caller.mem.inBounds(op, DOMCTL_OP_SIZE)) return EFAULT;
  // One copy of the op; the payload is read from it, and results go back into guest memory.
  const raw = caller.mem.copyOut(op, DOMCTL_OP_SIZE);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const cmd = dv.getUint32(DOMCTL_OP_OFF.cmd, true);
  if (dv.getUint32(DOMCTL_OP_OFF.interface_version, true) !== DOMCTL_INTERFACE_VERSION) return EINVAL;
  if (!KNOWN.has(cmd)) return EINVAL;
  const pl = DOMCTL_OP_OFF.payload;
  const payload = (op + pl) as GuestAddr;

  if (cmd === DOMCTL_CREATE) return create(hv, caller, dv, pl, payload);
  if (cmd === DOMCTL_PHYSINFO) {
    const a = physInfo(hv);
    const w = (off: number, x: number) => caller.mem.setU32((payload + off) as GuestAddr, x);
    w(DOMCTL_PHYSINFO_OFF.total_frames, a.totalFrames);
    w(DOMCTL_PHYSINFO_OFF.free_frames, a.freeFrames);
    w(DOMCTL_PHYSINFO_OFF.total_vcpus, a.totalVcpus);
    w(DOMCTL_PHYSINFO_OFF.free_vcpus, a.freeVcpus);
    return 0;
  }

  if (cmd === DOMCTL_LIST) {
    const buf = dv.getUint32(pl + DOMCTL_LIST_OFF.buffer, true);
    const max = dv.getUint32(pl + DOMCTL_LIST_OFF.max, true);
    const ids = hv.domains.map((d) => d.id);
    const nr = Math.min(max, ids.length);
    if (max !== 0 && (buf % 4 !== 0 || !caller.mem.inBounds(buf as GuestAddr, max * 4))) return EFAULT;
    for (let i = 0; i < nr; i++) caller.mem.setU32((buf + 4 * i) as GuestAddr, ids[i]!);
    caller.mem.setU32((payload + DOMCTL_LIST_OFF.nr) as GuestAddr, nr);
    caller.mem.setU32((payload + DOMCTL_LIST_OFF.total) as GuestAddr, ids.length);
    return 0;
  }

  const domid = dv.getUint32(DOMCTL_OP_OFF.domain, true);
  const d = domid === DOMID_SELF ? caller : hv.domain(domid);
  if (d === undefined) return ESRCH;

  switch (cmd) {
    case DOMCTL_GETINFO: {
      const info = domainInfo(d);
      const w = (off: number, v: number) => caller.mem.setU32((payload + off) as GuestAddr, v);
      w(DOMCTL_GETINFO_OFF.domid, info.domid);
      w(DOMCTL_GETINFO_OFF.flags, info.flags);
      w(DOMCTL_GETINFO_OFF.shutdown_reason, info.shutdownReason);
      caller.mem.setI32((payload + DOMCTL_GETINFO_OFF.shutdown_code) as GuestAddr, info.shutdownCode);
      w(DOMCTL_GETINFO_OFF.nr_vcpus, info.nrVcpus);
      w(DOMCTL_GETINFO_OFF.vcpus_online, info.vcpusOnline);
      caller.mem.setU64((payload + DOMCTL_GETINFO_OFF.mem_size) as GuestAddr, info.memSize);
      caller.mem.setU64((payload + DOMCTL_GETINFO_OFF.max_mem) as GuestAddr, info.maxMem);
      caller.mem.setU64((payload + DOMCTL_GETINFO_OFF.mem_target) as GuestAddr, info.memTarget);
      caller.mem.setU64((payload + DOMCTL_GETINFO_OFF.populated) as GuestAddr, info.populated);
      w(DOMCTL_GETINFO_OFF.max_vcpus, info.maxVcpus);
      w(DOMCTL_GETINFO_OFF.pad, 0);
      return 0;
    }
    case DOMCTL_PAUSE:
      // Pausing itself would leave nobody to unpause it (Xen refuses too).
      if (d === caller) return EINVAL;
      hv.pause(d);
      return 0;
    case DOMCTL_UNPAUSE:
      hv.unpause(d);
      return 0;
    case DOMCTL_DESTROY:
      if (d === caller) return EINVAL;
      hv.destroyDomain(d, `destroyed by domain ${caller.id}`);
      return 0;
    case DOMCTL_SET_MAX_MEM:
      return setMaxMem(d, Number(dv.getBigUint64(pl + DOMCTL_MEM_OFF.bytes, true)));
    case DOMCTL_SET_VCPUS:
      return setVcpus(hv, d, dv.getUint32(pl + DOMCTL_VCPUS_OFF.nr_vcpus, true), callerVcpu);
    case DOMCTL_ATTACH_DEVICE:
    case DOMCTL_DETACH_DEVICE:
      return move(hv, caller, d, cmd === DOMCTL_ATTACH_DEVICE, dv.getUint32(pl + DOMCTL_DEVICE_OFF.index, true), payload);
    case DOMCTL_SET_MEMORY_TARGET:
      return setMemoryTarget(hv, d, Number(dv.getBigUint64(pl + DOMCTL_MEM_OFF.bytes, true)));
    default: // DOMCTL_REQUEST_SHUTDOWN, the last of KNOWN
      return requestShutdown(hv, d, dv.getUint32(pl + DOMCTL_SHUTDOWN_OFF.reason, true));
  }
}
