/**
 * Grant tables (Xen's v1 ABI, copy only): `grant_setup` and `grant_copy`.
 *
 * A domain keeps its grant table in its own memory and tells the host where (`grant_setup`); the
 * host stores only the address and the entry count on the {@link Domain} and reads an entry, from
 * the granting domain's memory through the checked accessors, each time a `grant_copy` op names
 * it. So granting and revoking are plain guest stores, and the host never writes a table.
 *
 * `grant_copy` runs its ops one at a time. Each op is copied out of guest memory once and only the
 * copy is validated and acted on (another vCPU may change the array meanwhile); checks follow Xen's
 * `gnttab_copy_one` order and every failure is a GNTST_* status in the op, never an exception: a
 * bad op fails alone. Zero-copy mapping (`grant_map`) is impossible between two separate Wasm
 * memories; its handler lives in hypercalls.ts and always answers ENOSYS.
 * @module
 */
import {
  DOMID_SELF, EFAULT, EINVAL, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_BAD_COPY_ARG, GNTST_BAD_DOMAIN,
  GNTST_BAD_GNTREF, GNTST_BAD_PAGE, GNTST_GENERAL_ERROR, GNTST_OKAY, GNTST_PERMISSION_DENIED, GRANT_COPY_MAX,
  GRANT_COPY_OP_OFF, GRANT_COPY_OP_SIZE, GRANT_COPY_PTR_OFF, GRANT_ENTRY_V1_OFF, GRANT_ENTRY_V1_SIZE,
  GRANT_FRAME_SIZE, GRANT_TABLE_MAX, GTF_PERMIT_ACCESS, GTF_READONLY, GTF_TYPE_MASK,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { Domain } from './domain.ts';

/** What grant code needs from the hypervisor. */
export interface GrantHost {
  /** The domain with this id, alive or not; undefined when none. */
  domain(id: number): Domain | undefined;
}

/** Every GNTCOPY_* bit; any other bit fails the op (Xen ignores them; pvisor keeps them free). */
const GNTCOPY_ALL = GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF;

/** Frames a 32-bit memory can hold: a frame number at or above this is never inside memory. */
const MAX_FRAMES = 4294967296 / GRANT_FRAME_SIZE;

/**
 * `grant_setup`: registers (nr 0: unregisters) `d`'s grant table. Returns 0, EINVAL or EFAULT
 * as spec/abi.json says; on an error nothing changes.
 */
export function setup(d: Domain, table: GuestAddr, nrEntries: number): number {
  if (nrEntries > GRANT_TABLE_MAX || (nrEntries !== 0 && table % 4 !== 0)) return EINVAL;
  if (nrEntries !== 0 && !d.mem.inBounds(table, nrEntries * GRANT_ENTRY_V1_SIZE)) return EFAULT;
  d.grantTable = (nrEntries === 0 ? 0 : table) as GuestAddr;
  d.grantEntries = nrEntries;
  return 0;
}

/** One end of an op, as copied out of guest memory. */
/** One end of an op, as copied out. */
interface End {
  /** Grant reference, or frame of the caller's memory. */
  ref: number;
  /** Granting domain (u16), or DOMID_SELF. */
  domid: number;
  /** First byte inside the frame (u16). */
  offset: number;
}

// Scratch copies of one op and one grant entry: each is copied out of guest memory once per use,
// then read from here (no allocation per op: a sync message round trip is several ops).
const opRaw = new Uint8Array(GRANT_COPY_OP_SIZE);
const opDv = new DataView(opRaw.buffer);
const entryRaw = new Uint8Array(GRANT_ENTRY_V1_SIZE);
const entryDv = new DataView(entryRaw.buffer);
const statusRaw = new Uint8Array(2);
const statusDv = new DataView(statusRaw.buffer);
const srcEnd: End = { ref: 0, domid: 0, offset: 0 };
const dstEnd: End = { ref: 0, domid: 0, offset: 0 };

function readEnd(dv: DataView, at: number, e: End): End {
  e.ref = dv.getUint32(at + GRANT_COPY_PTR_OFF.ref, true);
  e.domid = dv.getUint16(at + GRANT_COPY_PTR_OFF.domid, true);
  e.offset = dv.getUint16(at + GRANT_COPY_PTR_OFF.offset, true);
  return e;
}

function lockEnd(h: GrantHost, caller: Domain, e: End, isGref: boolean): Domain | number {
  // Only the caller's own frames may be named directly.
  if (!isGref && e.domid !== DOMID_SELF) return GNTST_PERMISSION_DENIED;
  const d = e.domid === DOMID_SELF ? caller : h.domain(e.domid);
  return d ?? GNTST_BAD_DOMAIN;
}

/**
 * Xen `gnttab_copy_claim_buf`: the guest address of the end's frame in `owner`, or a GNTST_* code.
 * A grant entry is read once, from the owner's memory, and checked for the caller.
 */
function claimEnd(caller: Domain, owner: Domain, e: End, isGref: boolean, isDest: boolean): number {
  let frame = e.ref;
  if (isGref) {
    const entryAt = owner.grantTable + e.ref * GRANT_ENTRY_V1_SIZE;
    if (e.ref >= owner.grantEntries || !owner.mem.inBounds(entryAt as GuestAddr, GRANT_ENTRY_V1_SIZE)) return GNTST_BAD_GNTREF;
    owner.mem.readInto(entryAt as GuestAddr, entryRaw);
    const dv = entryDv;
    const flags = dv.getUint16(GRANT_ENTRY_V1_OFF.flags, true);
    // Xen answers all three refusals with general_error (_set_status_v1).
    if ((flags & GTF_TYPE_MASK) !== GTF_PERMIT_ACCESS) return GNTST_GENERAL_ERROR;
    if (dv.getUint16(GRANT_ENTRY_V1_OFF.domid, true) !== caller.id) return GNTST_GENERAL_ERROR;
    if (isDest && (flags & GTF_READONLY) !== 0) return GNTST_GENERAL_ERROR;
    frame = dv.getUint32(GRANT_ENTRY_V1_OFF.frame, true);
  }
  if (frame >= MAX_FRAMES || !owner.mem.inBounds((frame * GRANT_FRAME_SIZE) as GuestAddr, GRANT_FRAME_SIZE)) return GNTST_BAD_PAGE;
  // A frame the owner handed back (decrease_reservation) is the host's now.
  if (owner.ballooned.has(frame)) return GNTST_BAD_PAGE;
  return frame * GRANT_FRAME_SIZE;
}

/** One op (already copied out into `raw`): copies when allowed and returns its GNTST_* status. */
function copyOne(h: GrantHost, caller: Domain, dv: DataView): number {
  const src = readEnd(dv, GRANT_COPY_OP_OFF.source, srcEnd);
  const dst = readEnd(dv, GRANT_COPY_OP_OFF.dest, dstEnd);
  const len = dv.getUint16(GRANT_COPY_OP_OFF.len, true);
  const flags = dv.getUint16(GRANT_COPY_OP_OFF.flags, true);
  if ((flags & ~GNTCOPY_ALL) !== 0) return GNTST_GENERAL_ERROR;
  const srcGref = (flags & GNTCOPY_SOURCE_GREF) !== 0;
  const dstGref = (flags & GNTCOPY_DEST_GREF) !== 0;
  const sd = lockEnd(h, caller, src, srcGref);
  if (typeof sd === 'number') return sd;
  const dd = lockEnd(h, caller, dst, dstGref);
  if (typeof dd === 'number') return dd;
  const from = claimEnd(caller, sd, src, srcGref, false);
  if (from < 0) return from;
  const to = claimEnd(caller, dd, dst, dstGref, true);
  if (to < 0) return to;
  if (src.offset + len > GRANT_FRAME_SIZE || dst.offset + len > GRANT_FRAME_SIZE) return GNTST_BAD_COPY_ARG;
  // Both ranges lie inside their frames, which were checked against their memories; copyFrom is
  // a memmove, so overlapping ends (same domain) are fine.
  dd.mem.copyFrom(sd.mem, (from + src.offset) as GuestAddr, (to + dst.offset) as GuestAddr, len);
  return GNTST_OKAY;
}

/**
 * `grant_copy` from domain `caller`: validates the batch (EINVAL, EFAULT), then runs each op and
 * writes its status. Returns 0 once the batch ran.
 */
export function copy(h: GrantHost, caller: Domain, ops: GuestAddr, count: number): number {
  if (count > GRANT_COPY_MAX) return EINVAL;
  if (!caller.mem.inBounds(ops, count * GRANT_COPY_OP_SIZE)) return EFAULT;
  for (let i = 0; i < count; i++) {
    const at = ops + i * GRANT_COPY_OP_SIZE;
    // Copy the op out once (earlier ops may have copied into the array), then act on the copy.
    caller.mem.readInto(at as GuestAddr, opRaw);
    statusDv.setInt16(0, copyOne(h, caller, opDv), true);
    caller.mem.copyIn((at + GRANT_COPY_OP_OFF.status) as GuestAddr, statusRaw);
  }
  return 0;
}
