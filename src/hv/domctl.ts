/**
 * `domctl`: the controlling domain's operations on other domains (Xen's XEN_DOMCTL), one call with
 * a `domctl_op` whose `cmd` picks the operation.
 *
 * Order of checks (spec/abi.json `domctl`): privilege first, before any guest memory is read, so a
 * non-controlling domain learns nothing and changes nothing; then the op is copied out of guest
 * memory once and only the copy is looked at (another vCPU may rewrite it meanwhile); then the
 * interface version, the command, the target domain and the command's own checks. Every failure
 * is an error code and leaves the host as it was. The operations themselves are the
 * {@link Hypervisor}'s (pause, unpause, destroyDomain) and the domain's start_info fields that
 * ABI 1.4 added (shutdown request, memory target, max), so the host toolstack (src/control) and a
 * controlling guest do the same thing.
 * @module
 */
import {
  DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_DETACH_DEVICE, DOMCTL_GETINFO, DOMCTL_GETINFO_OFF,
  DOMCTL_INTERFACE_VERSION, DOMCTL_LIST, DOMCTL_LIST_OFF, DOMCTL_MEM_OFF, DOMCTL_OP_OFF,
  DOMCTL_OP_SIZE, DOMCTL_PAUSE, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MAX_MEM, DOMCTL_SET_MEMORY_TARGET,
  DOMCTL_SET_VCPUS, DOMCTL_SHUTDOWN_OFF, DOMCTL_UNPAUSE, DOMID_SELF, DOMINF_DYING, DOMINF_PAUSED, DOMINF_PRIVILEGED,
  DOMINF_SHUTDOWN, EFAULT, EINVAL, EOPNOTSUPP, EPERM, ESRCH, GRANT_FRAME_SIZE, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT,
  START_INFO_OFF, VIRQ_CONTROL,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { Domain } from './domain.ts';
import * as evtchn from './evtchn.ts';
import type { Hypervisor } from './hypervisor.ts';
import { populatedBytes } from './reservation.ts';

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
  /** vCPUs it may bring up. */
  nrVcpus: number;
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
    nrVcpus: d.vcpus.length,
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

/** Commands in the ABI that this host does not implement yet (issue 6). */
const NOT_YET = new Set([DOMCTL_CREATE, DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE]);
/** Commands this host implements. */
const KNOWN = new Set([
  DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN,
]);

/** `domctl` from domain `caller` with the op at `op`. Returns 0 or an error as spec/abi.json says. */
export function domctl(hv: Hypervisor, caller: Domain, op: GuestAddr): number {
  if (!caller.privileged) return EPERM;
  if (op % 8 !== 0 || !caller.mem.inBounds(op, DOMCTL_OP_SIZE)) return EFAULT;
  // One copy of the op; the payload is read from it, and results go back into guest memory.
  const raw = caller.mem.copyOut(op, DOMCTL_OP_SIZE);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const cmd = dv.getUint32(DOMCTL_OP_OFF.cmd, true);
  if (dv.getUint32(DOMCTL_OP_OFF.interface_version, true) !== DOMCTL_INTERFACE_VERSION) return EINVAL;
  if (NOT_YET.has(cmd)) return EOPNOTSUPP;
  if (!KNOWN.has(cmd)) return EINVAL;
  const pl = DOMCTL_OP_OFF.payload;
  const payload = (op + pl) as GuestAddr;

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
    case DOMCTL_SET_MEMORY_TARGET:
      return setMemoryTarget(hv, d, Number(dv.getBigUint64(pl + DOMCTL_MEM_OFF.bytes, true)));
    default: // DOMCTL_REQUEST_SHUTDOWN, the last of KNOWN
      return requestShutdown(hv, d, dv.getUint32(pl + DOMCTL_SHUTDOWN_OFF.reason, true));
  }
}
