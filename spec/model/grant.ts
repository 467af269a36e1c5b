/**
 * The grant group of the reference model: `grant_setup`, `grant_copy` and `grant_map`.
 *
 * The state holds only where each domain's v1 grant table is ({@link ModelGrantTable}); the
 * entries are guest memory, read through the granting domain's {@link ModelMemory} view each time
 * an op names them, as the host reads them. `grant_copy` is the one call that reads and writes
 * memory of domains other than the caller: it reaches them through {@link ModelMemory.foreign}
 * and returns their writes with {@link ModelWrite.dom} set.
 *
 * Choices where spec/abi.json is silent or where the model states Xen's behaviour precisely:
 * - The check order of an op is Xen's `gnttab_copy_one` (lock the source and dest domains, claim
 *   the source, claim the dest, then the offset check), after a first check that pvisor adds:
 *   unknown flag bits fail the op (Xen ignores them; rejecting keeps them free for later use).
 * - A domain may name itself through a grant reference; the entry's domid must then be its own
 *   id, as in Xen.
 * - The copy reads the whole source range before writing the destination, so overlapping ends
 *   behave as `memmove`.
 * - A write that lands on a domain's shared_info page changes that domain's pending/mask/vcpu_info
 *   fields exactly as the guest writing the same bytes would (no event is raised).
 * @module
 */
import {
  EFAULT,
  EINVAL,
  ENOSYS,
  GNTCOPY_DEST_GREF,
  GNTCOPY_SOURCE_GREF,
  GNTST_BAD_COPY_ARG,
  GNTST_BAD_DOMAIN,
  GNTST_BAD_GNTREF,
  GNTST_BAD_PAGE,
  GNTST_GENERAL_ERROR,
  GNTST_OKAY,
  GNTST_PERMISSION_DENIED,
  GRANT_COPY_MAX,
  GRANT_COPY_OP_OFF,
  GRANT_COPY_OP_SIZE,
  GRANT_COPY_PTR_OFF,
  GRANT_ENTRY_V1_OFF,
  GRANT_ENTRY_V1_SIZE,
  GRANT_FRAME_SIZE,
  GRANT_TABLE_MAX,
  GTF_PERMIT_ACCESS,
  GTF_READONLY,
  GTF_TYPE_MASK,
  DOMID_SELF,
} from '../../src/abi/generated/index.ts';
import { inBounds, overlay, zeroMemory, type ModelMemory } from './memory.ts';
import { applySharedInfoWrite, withSharedInfo } from './shared-info.ts';
import {
  NO_GRANT_TABLE,
  findDomain,
  getDomain,
  updateDomain,
  type ModelCall,
  type ModelCaller,
  type ModelState,
  type ModelWrite,
} from './state.ts';

/** Every GNTCOPY_* bit; any other bit in `flags` fails the op. */
const GNTCOPY_ALL = GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF;

/** Frames that can exist in a 32-bit memory: a frame number at or above it is never inside one. */
const MAX_FRAMES = 2 ** 32 / GRANT_FRAME_SIZE;

/** One end of a grant_copy_op, decoded. */
export interface GrantCopyPtr {
  /** Grant reference (gref end) or frame of the caller's memory (frame end). */
  readonly ref: number;
  /** Granting domain, or DOMID_SELF. */
  readonly domid: number;
  /** First byte inside the frame. */
  readonly offset: number;
}

/** A grant_copy_op, decoded (status left out: the host only writes it). */
export interface GrantCopyOp {
  /** Where the bytes come from. */
  readonly source: GrantCopyPtr;
  /** Where they go. */
  readonly dest: GrantCopyPtr;
  /** Bytes to copy (u16). */
  readonly len: number;
  /** GNTCOPY_* bits (u16). */
  readonly flags: number;
}

/** Decodes a grant_copy_op from its GRANT_COPY_OP_SIZE bytes (little-endian). */
export function decodeGrantCopyOp(b: Uint8Array): GrantCopyOp {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ptr = (at: number): GrantCopyPtr => ({
    ref: dv.getUint32(at + GRANT_COPY_PTR_OFF.ref, true),
    domid: dv.getUint16(at + GRANT_COPY_PTR_OFF.domid, true),
    offset: dv.getUint16(at + GRANT_COPY_PTR_OFF.offset, true),
  });
  return {
    source: ptr(GRANT_COPY_OP_OFF.source),
    dest: ptr(GRANT_COPY_OP_OFF.dest),
    len: dv.getUint16(GRANT_COPY_OP_OFF.len, true),
    flags: dv.getUint16(GRANT_COPY_OP_OFF.flags, true),
  };
}

/** Encodes a grant_copy_op (status and pad 0), the inverse of {@link decodeGrantCopyOp}. */
export function encodeGrantCopyOp(op: GrantCopyOp, status = 0): Uint8Array {
  const out = new Uint8Array(GRANT_COPY_OP_SIZE);
  const dv = new DataView(out.buffer);
  const ptr = (at: number, p: GrantCopyPtr): void => {
    dv.setUint32(at + GRANT_COPY_PTR_OFF.ref, p.ref >>> 0, true);
    dv.setUint16(at + GRANT_COPY_PTR_OFF.domid, p.domid & 0xffff, true);
    dv.setUint16(at + GRANT_COPY_PTR_OFF.offset, p.offset & 0xffff, true);
  };
  ptr(GRANT_COPY_OP_OFF.source, op.source);
  ptr(GRANT_COPY_OP_OFF.dest, op.dest);
  dv.setUint16(GRANT_COPY_OP_OFF.len, op.len & 0xffff, true);
  dv.setUint16(GRANT_COPY_OP_OFF.flags, op.flags & 0xffff, true);
  dv.setInt16(GRANT_COPY_OP_OFF.status, status, true);
  return out;
}

/** Encodes one grant_entry_v1. */
export function encodeGrantEntry(flags: number, domid: number, frame: number): Uint8Array {
  const out = new Uint8Array(GRANT_ENTRY_V1_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint16(GRANT_ENTRY_V1_OFF.flags, flags & 0xffff, true);
  dv.setUint16(GRANT_ENTRY_V1_OFF.domid, domid & 0xffff, true);
  dv.setUint32(GRANT_ENTRY_V1_OFF.frame, frame >>> 0, true);
  return out;
}

/** The two little-endian bytes of an i16 status. */
function statusBytes16(status: number): Uint8Array {
  const out = new Uint8Array(2);
  new DataView(out.buffer).setInt16(0, status, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// grant_setup

/**
 * `grant_setup`: "Registers the calling domain's v1 grant table: `nr_entries` grant_entry_v1 at
 * guest address `table` in its own memory ... A new registration replaces the old one;
 * nr_entries 0 unregisters (... `table` is not looked at)." returns "0."
 */
export const grant_setup: ModelCall = (s, caller, args, mem) => {
  const table = (args[0] ?? 0) >>> 0;
  const nr = (args[1] ?? 0) >>> 0;
  // EINVAL: "nr_entries is above GRANT_TABLE_MAX, or nr_entries is not 0 and table is not 4-byte aligned."
  if (nr > GRANT_TABLE_MAX || (nr !== 0 && table % 4 !== 0)) return { result: EINVAL, state: s };
  // EFAULT: "nr_entries is not 0 and the table is not inside guest memory."
  if (nr !== 0 && !inBounds(mem, table, nr * GRANT_ENTRY_V1_SIZE)) return { result: EFAULT, state: s };
  const grantTable = nr === 0 ? NO_GRANT_TABLE : { table, nrEntries: nr };
  return { result: 0, state: updateDomain(s, caller.dom, (d) => ({ ...d, grantTable })) };
};

// ---------------------------------------------------------------------------------------------
// grant_map

/** `grant_map`: "The call always returns -ENOSYS" (two Wasm memories cannot share a page). */
export const grant_map: ModelCall = (s) => ({ result: ENOSYS, state: s });

// ---------------------------------------------------------------------------------------------
// grant_copy

/** Memory views of every domain as the batch has changed them so far. */
class Views {
  /** Writes so far, the caller's without `dom`. */
  readonly writes: ModelWrite[] = [];

  constructor(
    private readonly caller: ModelCaller,
    private readonly mem: ModelMemory,
    public state: ModelState,
  ) {}

  /** Domain `dom`'s memory now (earlier ops' writes and the current shared_info fields in). */
  view(dom: number): ModelMemory {
    const d = getDomain(this.state, dom);
    if (dom === this.caller.dom) return withSharedInfo(overlay(this.mem, this.writes.filter((w) => w.dom === undefined)), d);
    const base = this.mem.foreign?.(dom) ?? zeroMemory(d.memSize);
    const mine = this.writes.filter((w) => w.dom === dom).map((w) => ({ addr: w.addr, bytes: w.bytes }));
    return withSharedInfo(overlay(base, mine), d);
  }

  /** Writes `bytes` at `addr` of domain `dom`, taking in what lands on its shared_info page. */
  write(dom: number, addr: number, bytes: Uint8Array): void {
    const w: ModelWrite = dom === this.caller.dom ? { addr, bytes } : { dom, addr, bytes };
    this.writes.push(w);
    const at = dom === this.caller.dom ? this.mem.sharedInfo : this.mem.foreign?.(dom)?.sharedInfo;
    if (at !== undefined) this.state = updateDomain(this.state, dom, (d) => applySharedInfoWrite(d, at, { addr, bytes }));
  }
}

/** A claimed end: the domain and the guest address of its frame. */
interface Claimed {
  readonly dom: number;
  readonly frameAddr: number;
}

/** Step 1 of an end (Xen `gnttab_copy_lock_domain`): its domain, or a GNTST_* failure. */
function lockEnd(s: ModelState, caller: ModelCaller, p: GrantCopyPtr, isGref: boolean): number | { dom: number } {
  // GNTST_PERMISSION_DENIED: "named by frame with a domid other than DOMID_SELF".
  if (!isGref && p.domid !== DOMID_SELF) return GNTST_PERMISSION_DENIED;
  const dom = p.domid === DOMID_SELF ? caller.dom : p.domid;
  // GNTST_BAD_DOMAIN: "a domid (DOMID_SELF: the caller) that names no domain".
  if (findDomain(s, dom) === undefined) return GNTST_BAD_DOMAIN;
  return { dom };
}

/** Step 2 of an end (Xen `gnttab_copy_claim_buf`): its frame, or a GNTST_* failure. */
function claimEnd(v: Views, caller: ModelCaller, dom: number, p: GrantCopyPtr, isGref: boolean, isDest: boolean): number | Claimed {
  const mem = v.view(dom);
  let frame = p.ref;
  if (isGref) {
    const gt = getDomain(v.state, dom).grantTable;
    // GNTST_BAD_GNTREF: "a reference at or beyond the granting domain's nr_entries".
    const entryAt = gt.table + p.ref * GRANT_ENTRY_V1_SIZE;
    if (p.ref >= gt.nrEntries || !inBounds(mem, entryAt, GRANT_ENTRY_V1_SIZE)) return GNTST_BAD_GNTREF;
    const e = mem.read(entryAt, GRANT_ENTRY_V1_SIZE);
    const dv = new DataView(e.buffer, e.byteOffset, e.byteLength);
    const flags = dv.getUint16(GRANT_ENTRY_V1_OFF.flags, true);
    const grantee = dv.getUint16(GRANT_ENTRY_V1_OFF.domid, true);
    // GNTST_GENERAL_ERROR: "an entry that is not GTF_PERMIT_ACCESS or is granted to another domain
    // than the caller, or a GTF_READONLY entry named as dest".
    if ((flags & GTF_TYPE_MASK) !== GTF_PERMIT_ACCESS || grantee !== caller.dom) return GNTST_GENERAL_ERROR;
    if (isDest && (flags & GTF_READONLY) !== 0) return GNTST_GENERAL_ERROR;
    frame = dv.getUint32(GRANT_ENTRY_V1_OFF.frame, true);
  }
  // GNTST_BAD_PAGE: "a frame not wholly inside its domain's memory".
  if (frame >= MAX_FRAMES || !inBounds(mem, frame * GRANT_FRAME_SIZE, GRANT_FRAME_SIZE)) return GNTST_BAD_PAGE;
  // GNTST_BAD_PAGE: "or one its domain handed back with `decrease_reservation`".
  if (getDomain(v.state, dom).ballooned.includes(frame)) return GNTST_BAD_PAGE;
  return { dom, frameAddr: frame * GRANT_FRAME_SIZE };
}

/** One op: its GNTST_* status; on GNTST_OKAY the copy has been written into `v`. */
function copyOne(v: Views, caller: ModelCaller, op: GrantCopyOp): number {
  // pvisor's own first check: "flags has a bit other than GNTCOPY_*".
  if ((op.flags & ~GNTCOPY_ALL) !== 0) return GNTST_GENERAL_ERROR;
  const srcGref = (op.flags & GNTCOPY_SOURCE_GREF) !== 0;
  const dstGref = (op.flags & GNTCOPY_DEST_GREF) !== 0;
  const src = lockEnd(v.state, caller, op.source, srcGref);
  if (typeof src === 'number') return src;
  const dst = lockEnd(v.state, caller, op.dest, dstGref);
  if (typeof dst === 'number') return dst;
  const from = claimEnd(v, caller, src.dom, op.source, srcGref, false);
  if (typeof from === 'number') return from;
  const to = claimEnd(v, caller, dst.dom, op.dest, dstGref, true);
  if (typeof to === 'number') return to;
  // GNTST_BAD_COPY_ARG: "`source.offset + len` or `dest.offset + len` above GRANT_FRAME_SIZE".
  if (op.source.offset + op.len > GRANT_FRAME_SIZE || op.dest.offset + op.len > GRANT_FRAME_SIZE) return GNTST_BAD_COPY_ARG;
  // "as if through a temporary buffer": read the whole source first.
  const bytes = v.view(from.dom).read(from.frameAddr + op.source.offset, op.len);
  if (op.len > 0) v.write(to.dom, to.frameAddr + op.dest.offset, bytes);
  return GNTST_OKAY;
}

/**
 * `grant_copy`: "Copies bytes between frames of domains that granted the caller access ... the
 * ops run in order, each on its own, and each gets a GNTST_* status; one bad op fails alone and
 * the others still run." returns "0 (each op's outcome is in its status)."
 *
 * Each op is read from the caller's memory as the batch has left it ("Each op is read from memory
 * when its turn comes"), and its status is written after its copy.
 */
export const grant_copy: ModelCall = (s, caller, args, mem) => {
  const ops = (args[0] ?? 0) >>> 0;
  const count = (args[1] ?? 0) >>> 0;
  // EINVAL: "count is above GRANT_COPY_MAX."
  if (count > GRANT_COPY_MAX) return { result: EINVAL, state: s };
  // EFAULT: "The ops array is not inside guest memory."
  if (!inBounds(mem, ops, count * GRANT_COPY_OP_SIZE)) return { result: EFAULT, state: s };
  const v = new Views(caller, mem, s);
  for (let i = 0; i < count; i++) {
    const at = ops + i * GRANT_COPY_OP_SIZE;
    const op = decodeGrantCopyOp(v.view(caller.dom).read(at, GRANT_COPY_OP_SIZE));
    const status = copyOne(v, caller, op);
    v.write(caller.dom, at + GRANT_COPY_OP_OFF.status, statusBytes16(status));
  }
  return v.writes.length === 0 ? { result: 0, state: v.state } : { result: 0, state: v.state, writes: v.writes };
};
