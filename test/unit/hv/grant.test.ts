/**
 * Grant tables in the core (src/hv/grant.ts): grant_setup's checks, grant_copy's per-op GNTST_*
 * statuses in Xen's order (permission, domain, reference, entry, frame, bounds), one bad op
 * failing alone in a batch, byte-exact copies between domains, and grant_map's ENOSYS.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMID_SELF, EFAULT, EINVAL, ENOSYS, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_BAD_COPY_ARG, GNTST_BAD_DOMAIN,
  GNTST_BAD_GNTREF, GNTST_BAD_PAGE, GNTST_GENERAL_ERROR, GNTST_OKAY, GNTST_PERMISSION_DENIED, GRANT_COPY_MAX,
  GRANT_COPY_OP_OFF, GRANT_COPY_OP_SIZE, GRANT_FRAME_SIZE, GRANT_TABLE_MAX, GTF_PERMIT_ACCESS, GTF_READONLY, Hc,
} from '../../../src/abi/index.ts';
import type { Domain, Hypervisor } from '../../../src/hv/index.ts';
import { encodeGrantCopyOp, encodeGrantEntry, type GrantCopyOp } from '../../../spec/model/index.ts';
import { call, makeHv } from '../../support/hv.ts';

/** Each domain keeps its table here and writes ops here; data lives in frames 4.. */
const TABLE = 0x3000;
const OPS = 0x3800;
const MEM = 256 * 1024;

function setup(n = 2): { hv: Hypervisor; doms: Domain[] } {
  const { hv, doms } = makeHv(n, { memBytes: MEM });
  return { hv, doms };
}

function grant(d: Domain, ref: number, flags: number, domid: number, frame: number): void {
  d.mem.u8.set(encodeGrantEntry(flags, domid, frame), TABLE + 8 * ref);
}

function fill(d: Domain, frame: number, seed: number): Uint8Array {
  const bytes = Uint8Array.from({ length: GRANT_FRAME_SIZE }, (_, i) => (i * 7 + seed) & 0xff);
  d.mem.u8.set(bytes, frame * GRANT_FRAME_SIZE);
  return bytes;
}

const byFrame = (frame: number, offset = 0) => ({ ref: frame, domid: DOMID_SELF, offset });
const byRef = (ref: number, domid: number, offset = 0) => ({ ref, domid, offset });

/** Writes the ops (status set to a stale value) and makes the call; returns [result, statuses]. */
function copy(hv: Hypervisor, d: Domain, ops: GrantCopyOp[]): [number, number[]] {
  ops.forEach((op, i) => d.mem.u8.set(encodeGrantCopyOp(op, 0x7eed), OPS + i * GRANT_COPY_OP_SIZE));
  const r = call(hv, d.vcpus[0]!, Hc.grant_copy, OPS, ops.length);
  const dv = new DataView(d.mem.u8.buffer);
  return [r, ops.map((_, i) => dv.getInt16(OPS + i * GRANT_COPY_OP_SIZE + GRANT_COPY_OP_OFF.status, true))];
}

function frameBytes(d: Domain, frame: number, off: number, len: number): Uint8Array {
  return d.mem.u8.slice(frame * GRANT_FRAME_SIZE + off, frame * GRANT_FRAME_SIZE + off + len);
}

describe('grant_setup', () => {
  it('registers, replaces and unregisters the table; a bad one changes nothing', () => {
    const { hv, doms: [d] } = setup(1);
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.grant_setup, TABLE, 4)).toBe(0);
    expect([d!.grantTable, d!.grantEntries]).toEqual([TABLE, 4]);
    expect(call(hv, v, Hc.grant_setup, TABLE + 2, 4)).toBe(EINVAL); // "not 4-byte aligned"
    expect(call(hv, v, Hc.grant_setup, TABLE, GRANT_TABLE_MAX + 1)).toBe(EINVAL);
    expect(call(hv, v, Hc.grant_setup, MEM - 8, 2)).toBe(EFAULT); // one entry past the end
    expect(call(hv, v, Hc.grant_setup, 0xfffffff8, 2)).toBe(EFAULT); // wraps 2^32
    expect([d!.grantTable, d!.grantEntries]).toEqual([TABLE, 4]);
    expect(call(hv, v, Hc.grant_setup, MEM - GRANT_TABLE_MAX * 8, GRANT_TABLE_MAX)).toBe(0); // ends at the end
    expect(call(hv, v, Hc.grant_setup, 0xffffffff, 0)).toBe(0); // table not looked at
    expect([d!.grantTable, d!.grantEntries]).toEqual([0, 0]);
  });
});

describe('grant_copy', () => {
  it('copies byte-exact from a granted frame of another domain, and into one', () => {
    const { hv, doms: [a, b] } = setup();
    const src = fill(b!, 5, 3);
    fill(a!, 4, 0);
    a!.mem.u8.fill(0xaa, 6 * GRANT_FRAME_SIZE, 7 * GRANT_FRAME_SIZE);
    expect(call(hv, b!.vcpus[0]!, Hc.grant_setup, TABLE, 8)).toBe(0);
    grant(b!, 2, GTF_PERMIT_ACCESS | GTF_READONLY, a!.id, 5);
    grant(b!, 3, GTF_PERMIT_ACCESS, a!.id, 6);
    const [r, st] = copy(hv, a!, [
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(2, b!.id, 100), dest: byFrame(6, 10), len: 300 },
      { flags: GNTCOPY_DEST_GREF, source: byFrame(4, 0), dest: byRef(3, b!.id, 4000), len: 96 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(2, b!.id, 0), dest: byFrame(6, 0), len: 0 }, // checked, copies nothing
    ]);
    expect([r, ...st]).toEqual([0, GNTST_OKAY, GNTST_OKAY, GNTST_OKAY]);
    expect(frameBytes(a!, 6, 10, 300)).toEqual(src.subarray(100, 400));
    // Bytes around the copy are untouched.
    expect([a!.mem.u8[6 * GRANT_FRAME_SIZE + 9], a!.mem.u8[6 * GRANT_FRAME_SIZE + 310]]).toEqual([0xaa, 0xaa]);
    expect(frameBytes(b!, 6, 4000, 96)).toEqual(frameBytes(a!, 4, 0, 96));
  });

  it('copies a whole frame between two of the caller\'s own frames, and overlapping ranges as memmove', () => {
    const { hv, doms: [a] } = setup(1);
    const src = fill(a!, 4, 9);
    expect(copy(hv, a!, [{ flags: 0, source: byFrame(4), dest: byFrame(5), len: GRANT_FRAME_SIZE }])[1]).toEqual([GNTST_OKAY]);
    expect(frameBytes(a!, 5, 0, GRANT_FRAME_SIZE)).toEqual(src);
    expect(copy(hv, a!, [{ flags: 0, source: byFrame(4, 0), dest: byFrame(4, 1), len: 100 }])[1]).toEqual([GNTST_OKAY]);
    expect(frameBytes(a!, 4, 1, 100)).toEqual(src.subarray(0, 100));
  });

  it('permission: an entry without GTF_permit_access, granted to another domain, or read-only as dest is refused (Xen: general_error)', () => {
    const { hv, doms: [a, b, c] } = setup(3);
    fill(b!, 5, 1);
    expect(call(hv, b!.vcpus[0]!, Hc.grant_setup, TABLE, 8)).toBe(0);
    grant(b!, 0, 0, a!.id, 5); // GTF_invalid
    grant(b!, 1, 2, a!.id, 5); // accept_transfer: grants nothing here
    grant(b!, 2, GTF_PERMIT_ACCESS, c!.id, 5); // for domain 3, not the caller
    grant(b!, 3, GTF_PERMIT_ACCESS | GTF_READONLY, a!.id, 5);
    grant(b!, 4, GTF_PERMIT_ACCESS, DOMID_SELF, 5); // DOMID_SELF is not a grantee
    const before = frameBytes(b!, 5, 0, 64);
    const [, st] = copy(hv, a!, [
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(0, b!.id), dest: byFrame(4), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(1, b!.id), dest: byFrame(4), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(2, b!.id), dest: byFrame(4), len: 8 },
      { flags: GNTCOPY_DEST_GREF, source: byFrame(4), dest: byRef(3, b!.id), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(4, b!.id), dest: byFrame(4), len: 8 },
      // The read-only grant is fine as a source.
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(3, b!.id), dest: byFrame(4), len: 8 },
    ]);
    expect(st).toEqual([GNTST_GENERAL_ERROR, GNTST_GENERAL_ERROR, GNTST_GENERAL_ERROR, GNTST_GENERAL_ERROR, GNTST_GENERAL_ERROR, GNTST_OKAY]);
    expect(frameBytes(b!, 5, 0, 64)).toEqual(before);
    // Domain 3 may use the grant made for it.
    expect(copy(hv, c!, [{ flags: GNTCOPY_SOURCE_GREF, source: byRef(2, b!.id), dest: byFrame(4), len: 8 }])[1]).toEqual([GNTST_OKAY]);
  });

  it('permission: another domain\'s frame named directly is refused, even by number', () => {
    const { hv, doms: [a, b] } = setup();
    const [, st] = copy(hv, a!, [
      { flags: 0, source: { ref: 5, domid: b!.id, offset: 0 }, dest: byFrame(4), len: 8 },
      { flags: 0, source: byFrame(4), dest: { ref: 5, domid: b!.id, offset: 0 }, len: 8 },
      // Xen: "Only DOMID_SELF may reference via frame" — the caller's own number is not DOMID_SELF.
      { flags: 0, source: { ref: 5, domid: a!.id, offset: 0 }, dest: byFrame(4), len: 8 },
    ]);
    expect(st).toEqual([GNTST_PERMISSION_DENIED, GNTST_PERMISSION_DENIED, GNTST_PERMISSION_DENIED]);
  });

  it('bad domain, bad references (no table, ref >= nr_entries), unknown flag bits', () => {
    const { hv, doms: [a, b] } = setup();
    const [, st] = copy(hv, a!, [
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(0, 9), dest: byFrame(4), len: 8 },
      { flags: GNTCOPY_DEST_GREF, source: byFrame(4), dest: byRef(0, 0), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(0, b!.id), dest: byFrame(4), len: 8 }, // b has no table
      { flags: 4, source: byFrame(4), dest: byFrame(5), len: 8 },
    ]);
    expect(st).toEqual([GNTST_BAD_DOMAIN, GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF, GNTST_GENERAL_ERROR]);
    expect(call(hv, b!.vcpus[0]!, Hc.grant_setup, TABLE, 2)).toBe(0);
    grant(b!, 2, GTF_PERMIT_ACCESS, a!.id, 5); // written, but beyond nr_entries
    grant(b!, 1, GTF_PERMIT_ACCESS, a!.id, 5);
    const [, st2] = copy(hv, a!, [
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(2, b!.id), dest: byFrame(4), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(1, b!.id), dest: byFrame(4), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(0xffffffff, b!.id), dest: byFrame(4), len: 8 },
    ]);
    expect(st2).toEqual([GNTST_BAD_GNTREF, GNTST_OKAY, GNTST_BAD_GNTREF]);
    // Unregistering revokes every reference at once.
    expect(call(hv, b!.vcpus[0]!, Hc.grant_setup, 0, 0)).toBe(0);
    expect(copy(hv, a!, [{ flags: GNTCOPY_SOURCE_GREF, source: byRef(1, b!.id), dest: byFrame(4), len: 8 }])[1]).toEqual([GNTST_BAD_GNTREF]);
  });

  it('bounds: offset + len above the frame, and frames outside memory (named or granted)', () => {
    const { hv, doms: [a, b] } = setup();
    expect(call(hv, b!.vcpus[0]!, Hc.grant_setup, TABLE, 4)).toBe(0);
    grant(b!, 0, GTF_PERMIT_ACCESS, a!.id, MEM / GRANT_FRAME_SIZE); // one frame past the end
    grant(b!, 1, GTF_PERMIT_ACCESS, a!.id, MEM / GRANT_FRAME_SIZE - 1); // the last frame
    const [, st] = copy(hv, a!, [
      { flags: 0, source: byFrame(4, GRANT_FRAME_SIZE - 8), dest: byFrame(5), len: 9 },
      { flags: 0, source: byFrame(4), dest: byFrame(5, 1), len: GRANT_FRAME_SIZE },
      { flags: 0, source: byFrame(4, GRANT_FRAME_SIZE - 8), dest: byFrame(5), len: 8 }, // exactly to the end
      { flags: 0, source: byFrame(4, GRANT_FRAME_SIZE), dest: byFrame(5), len: 0 },
      { flags: 0, source: byFrame(MEM / GRANT_FRAME_SIZE), dest: byFrame(5), len: 8 },
      { flags: 0, source: byFrame(4), dest: byFrame(0xffffffff), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(0, b!.id), dest: byFrame(5), len: 8 },
      { flags: GNTCOPY_SOURCE_GREF, source: byRef(1, b!.id), dest: byFrame(5), len: 8 },
      // The frame checks come before the offset check (Xen's order).
      { flags: 0, source: byFrame(MEM / GRANT_FRAME_SIZE, GRANT_FRAME_SIZE), dest: byFrame(5), len: 8 },
    ]);
    expect(st).toEqual([
      GNTST_BAD_COPY_ARG, GNTST_BAD_COPY_ARG, GNTST_OKAY, GNTST_OKAY, GNTST_BAD_PAGE, GNTST_BAD_PAGE, GNTST_BAD_PAGE, GNTST_OKAY, GNTST_BAD_PAGE,
    ]);
  });

  it('one bad op fails alone: the ops around it still copy, and the failed one copies nothing', () => {
    const { hv, doms: [a] } = setup(1);
    const src = fill(a!, 4, 5);
    a!.mem.u8.fill(0, 5 * GRANT_FRAME_SIZE, 6 * GRANT_FRAME_SIZE);
    const [r, st] = copy(hv, a!, [
      { flags: 0, source: byFrame(4, 0), dest: byFrame(5, 0), len: 16 },
      { flags: 0, source: byFrame(4, 16), dest: byFrame(5, GRANT_FRAME_SIZE - 8), len: 16 }, // crosses the frame
      { flags: 0, source: byFrame(4, 32), dest: byFrame(5, 32), len: 16 },
    ]);
    expect([r, ...st]).toEqual([0, GNTST_OKAY, GNTST_BAD_COPY_ARG, GNTST_OKAY]);
    expect(frameBytes(a!, 5, 0, 16)).toEqual(src.subarray(0, 16));
    expect(frameBytes(a!, 5, GRANT_FRAME_SIZE - 8, 8)).toEqual(new Uint8Array(8));
    expect(frameBytes(a!, 5, 32, 16)).toEqual(src.subarray(32, 48));
  });

  it('reads each op when its turn comes: an earlier op may rewrite a later one', () => {
    const { hv, doms: [a] } = setup(1);
    // Op 1 carries a valid op 2 in frame 4 and copies it over op 2 (which asks for frame 0xffff).
    const good: GrantCopyOp = { flags: 0, source: byFrame(4, 0), dest: byFrame(5, 0), len: 4 };
    a!.mem.u8.set(encodeGrantCopyOp(good), 4 * GRANT_FRAME_SIZE + 100);
    const opsFrame = Math.floor(OPS / GRANT_FRAME_SIZE);
    const [, st] = copy(hv, a!, [
      { flags: 0, source: byFrame(4, 100), dest: byFrame(opsFrame, (OPS % GRANT_FRAME_SIZE) + GRANT_COPY_OP_SIZE), len: GRANT_COPY_OP_SIZE },
      { flags: 0, source: byFrame(4), dest: byFrame(0xffff), len: 4 },
    ]);
    expect(st).toEqual([GNTST_OKAY, GNTST_OKAY]);
  });

  it('checks the batch: EINVAL above GRANT_COPY_MAX, EFAULT outside memory, 0 for an empty one', () => {
    const { hv, doms: [a] } = setup(1);
    const v = a!.vcpus[0]!;
    expect(call(hv, v, Hc.grant_copy, OPS, GRANT_COPY_MAX + 1)).toBe(EINVAL);
    expect(call(hv, v, Hc.grant_copy, OPS, -1)).toBe(EINVAL);
    expect(call(hv, v, Hc.grant_copy, MEM - GRANT_COPY_OP_SIZE + 1, 1)).toBe(EFAULT);
    expect(call(hv, v, Hc.grant_copy, 0xfffffff0, 1)).toBe(EFAULT);
    const before = a!.mem.u8.slice(OPS, OPS + 64);
    expect(call(hv, v, Hc.grant_copy, OPS, 0)).toBe(0);
    expect(call(hv, v, Hc.grant_copy, MEM, 0)).toBe(0); // an empty array at the very end is inside
    expect(call(hv, v, Hc.grant_copy, 0xffffffff, 0)).toBe(EFAULT); // the pointer rule still applies
    expect(a!.mem.u8.slice(OPS, OPS + 64)).toEqual(before);
    // An op array that ends exactly at the end of memory.
    a!.mem.u8.set(encodeGrantCopyOp({ flags: 0, source: byFrame(4), dest: byFrame(5), len: 1 }, 0x7eed), MEM - GRANT_COPY_OP_SIZE);
    expect(call(hv, v, Hc.grant_copy, MEM - GRANT_COPY_OP_SIZE, 1)).toBe(0);
    expect(new DataView(a!.mem.u8.buffer).getInt16(MEM - GRANT_COPY_OP_SIZE + GRANT_COPY_OP_OFF.status, true)).toBe(GNTST_OKAY);
  });

  it('works inside a multicall (it does not block)', () => {
    const { hv, doms: [a] } = setup(1);
    fill(a!, 4, 2);
    a!.mem.u8.set(encodeGrantCopyOp({ flags: 0, source: byFrame(4), dest: byFrame(5), len: 32 }, 0x7eed), OPS);
    const batch = new DataView(new ArrayBuffer(28));
    batch.setUint32(0, Hc.grant_copy, true);
    batch.setUint32(8, OPS, true);
    batch.setUint32(12, 1, true);
    a!.mem.u8.set(new Uint8Array(batch.buffer), 0x2000);
    expect(call(hv, a!.vcpus[0]!, Hc.multicall, 0x2000, 1)).toBe(0);
    expect(new DataView(a!.mem.u8.buffer).getInt32(0x2004, true)).toBe(0);
    expect(frameBytes(a!, 5, 0, 32)).toEqual(frameBytes(a!, 4, 0, 32));
  });
});

describe('grant_map', () => {
  it('is always ENOSYS and probe reports it absent (two Wasm memories cannot share a page)', () => {
    const { hv, doms: [a, b] } = setup();
    expect(call(hv, b!.vcpus[0]!, Hc.grant_setup, TABLE, 1)).toBe(0);
    grant(b!, 0, GTF_PERMIT_ACCESS, a!.id, 5);
    expect(call(hv, a!.vcpus[0]!, Hc.grant_map, b!.id, 0)).toBe(ENOSYS);
    expect(call(hv, a!.vcpus[0]!, Hc.probe, Hc.grant_map)).toBe(0);
    expect(call(hv, a!.vcpus[0]!, Hc.probe, Hc.grant_copy)).toBe(1);
  });
});
