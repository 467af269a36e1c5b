/**
 * The grant group of the reference model by hand: grant_setup's state, grant_copy's writes into
 * other domains (with `dom`), its shared_info rule for another domain's page, copies seen by later
 * ops and by later multicall entries, the zero view of a memory nobody provided, and grant_map.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMID_SELF, EFAULT, EINVAL, ENOSYS, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_GENERAL_ERROR, GNTST_OKAY,
  GRANT_COPY_OP_OFF, GRANT_COPY_OP_SIZE, GRANT_FRAME_SIZE, GTF_PERMIT_ACCESS, Hc, MULTICALL_ENTRY_SIZE,
  SHARED_INFO_OFF,
} from '../../src/abi/generated/index.ts';
import {
  encodeGrantCopyOp,
  encodeGrantEntry,
  getDomain,
  initialState,
  invariants,
  memoryOf,
  observe,
  step,
  u32Bytes,
  type ModelMemory,
  type ModelState,
} from '../../spec/model/index.ts';

const MEM = 64 * 1024;
const TABLE = 0x3000;
const OPS = 0x3800;
const SHARED = MEM - 2 * GRANT_FRAME_SIZE;

/** Domains 1 and 2 with byte images; each view sees the other's (as the model host gives them). */
function world(): { s: ModelState; img: Map<number, Uint8Array>; mem: (dom: number) => ModelMemory } {
  const img = new Map([1, 2].map((id) => [id, new Uint8Array(MEM)]));
  const view = (id: number): ModelMemory => memoryOf(img.get(id)!, SHARED);
  const mem = (dom: number) => memoryOf(img.get(dom)!, SHARED, (id) => (img.has(id) ? view(id) : undefined));
  return { s: initialState([1, 2].map((id) => ({ id, memSize: MEM, nrVcpus: 1 }))), img, mem };
}

describe('grant_setup (model)', () => {
  it('records the table, replaces it, unregisters with 0, and refuses bad ones without change', () => {
    const { s, mem } = world();
    let r = step(s, { dom: 1, vcpu: 0 }, Hc.grant_setup, [TABLE, 4], mem(1));
    expect([r.result, getDomain(r.state, 1).grantTable]).toEqual([0, { table: TABLE, nrEntries: 4 }]);
    const reg = r.state;
    for (const [args, err] of [[[TABLE + 1, 4], EINVAL], [[TABLE, 513], EINVAL], [[MEM - 8, 2], EFAULT]] as const) {
      r = step(reg, { dom: 1, vcpu: 0 }, Hc.grant_setup, [...args], mem(1));
      expect(r.result).toBe(err);
      expect(r.state).toBe(reg);
    }
    r = step(reg, { dom: 1, vcpu: 0 }, Hc.grant_setup, [-1, 0], mem(1));
    expect(getDomain(r.state, 1).grantTable).toEqual({ table: 0, nrEntries: 0 });
    expect(observe(reg).domains[0]!.grantTable).toEqual({ table: TABLE, nrEntries: 4 });
  });
});

describe('grant_copy (model)', () => {
  it('writes into the granting domain with `dom`, and the status into the caller', () => {
    const { s, img, mem } = world();
    const st = step(s, { dom: 2, vcpu: 0 }, Hc.grant_setup, [TABLE, 2], mem(2)).state;
    img.get(2)!.set(encodeGrantEntry(GTF_PERMIT_ACCESS, 1, 5), TABLE + 8);
    img.get(1)!.set([1, 2, 3, 4], 4 * GRANT_FRAME_SIZE + 10);
    img.get(1)!.set(encodeGrantCopyOp({ flags: GNTCOPY_DEST_GREF, source: { ref: 4, domid: DOMID_SELF, offset: 10 }, dest: { ref: 1, domid: 2, offset: 7 }, len: 4 }, 99), OPS);
    const r = step(st, { dom: 1, vcpu: 0 }, Hc.grant_copy, [OPS, 1], mem(1));
    expect(r.result).toBe(0);
    expect(r.writes).toEqual([
      { dom: 2, addr: 5 * GRANT_FRAME_SIZE + 7, bytes: new Uint8Array([1, 2, 3, 4]) },
      { addr: OPS + GRANT_COPY_OP_OFF.status, bytes: new Uint8Array([GNTST_OKAY, 0]) },
    ]);
  });

  it('a copy onto another domain\'s shared_info page changes that domain\'s bits, raising nothing', () => {
    const { s, img, mem } = world();
    const st = step(s, { dom: 2, vcpu: 0 }, Hc.grant_setup, [TABLE, 1], mem(2)).state;
    img.get(2)!.set(encodeGrantEntry(GTF_PERMIT_ACCESS, 1, SHARED / GRANT_FRAME_SIZE), TABLE);
    img.get(1)!.set([0b1010], 4 * GRANT_FRAME_SIZE);
    img.get(1)!.set(encodeGrantCopyOp({ flags: GNTCOPY_DEST_GREF, source: { ref: 4, domid: DOMID_SELF, offset: 0 }, dest: { ref: 0, domid: 2, offset: SHARED_INFO_OFF.evtchn_pending }, len: 1 }), OPS);
    const r = step(st, { dom: 1, vcpu: 0 }, Hc.grant_copy, [OPS, 1], mem(1));
    const d2 = observe(r.state).domains[1]!;
    expect(d2.pending).toEqual([1, 3]);
    expect(d2.vcpus[0]!.upcallPending).toBe(false);
    expect(invariants(r.state)).toEqual([]);
  });

  it('later ops see earlier copies: a copied-in grant entry is used by the next op', () => {
    const { s, img, mem } = world();
    const st = step(s, { dom: 1, vcpu: 0 }, Hc.grant_setup, [TABLE, 1], mem(1)).state;
    // Op 1 copies a self-grant into entry 0 (frame 3 = the table's frame); op 2 uses it.
    img.get(1)!.set(encodeGrantEntry(GTF_PERMIT_ACCESS, 1, 6), 4 * GRANT_FRAME_SIZE);
    img.get(1)!.set(encodeGrantCopyOp({ flags: 0, source: { ref: 4, domid: DOMID_SELF, offset: 0 }, dest: { ref: 3, domid: DOMID_SELF, offset: 0 }, len: 8 }), OPS);
    img.get(1)!.set(encodeGrantCopyOp({ flags: GNTCOPY_SOURCE_GREF, source: { ref: 0, domid: DOMID_SELF, offset: 0 }, dest: { ref: 7, domid: DOMID_SELF, offset: 0 }, len: 8 }), OPS + GRANT_COPY_OP_SIZE);
    const r = step(st, { dom: 1, vcpu: 0 }, Hc.grant_copy, [OPS, 2], mem(1));
    const statusAt = (i: number) => OPS + i * GRANT_COPY_OP_SIZE + GRANT_COPY_OP_OFF.status;
    expect(r.writes!.filter((w) => w.addr === statusAt(0) || w.addr === statusAt(1)).map((w) => w.bytes[0])).toEqual([GNTST_OKAY, GNTST_OKAY]);
    expect(r.writes!.find((w) => w.addr === 7 * GRANT_FRAME_SIZE)).toBeDefined();
    // Without op 1 the entry is empty: refused.
    const alone = step(st, { dom: 1, vcpu: 0 }, Hc.grant_copy, [OPS + GRANT_COPY_OP_SIZE, 1], mem(1));
    expect(new Int8Array(alone.writes![0]!.bytes.buffer)[0]).toBe(GNTST_GENERAL_ERROR);
  });

  it('inside a multicall, a later entry reads what an earlier entry copied into another domain', () => {
    const { s, img, mem } = world();
    let st = step(s, { dom: 2, vcpu: 0 }, Hc.grant_setup, [TABLE, 1], mem(2)).state;
    st = step(st, { dom: 1, vcpu: 0 }, Hc.grant_setup, [TABLE, 1], mem(1)).state;
    img.get(2)!.set(encodeGrantEntry(GTF_PERMIT_ACCESS, 1, 5), TABLE);
    img.get(1)!.set([42], 4 * GRANT_FRAME_SIZE);
    // Entry 1: frame 4 -> domain 2 frame 5. Entry 2: domain 2 frame 5 -> own frame 6.
    img.get(1)!.set(encodeGrantCopyOp({ flags: GNTCOPY_DEST_GREF, source: { ref: 4, domid: DOMID_SELF, offset: 0 }, dest: { ref: 0, domid: 2, offset: 0 }, len: 1 }), OPS);
    img.get(1)!.set(encodeGrantCopyOp({ flags: GNTCOPY_SOURCE_GREF, source: { ref: 0, domid: 2, offset: 0 }, dest: { ref: 6, domid: DOMID_SELF, offset: 0 }, len: 1 }), OPS + GRANT_COPY_OP_SIZE);
    const batch = new Uint8Array(2 * MULTICALL_ENTRY_SIZE);
    batch.set(u32Bytes(Hc.grant_copy, 0, OPS, 1), 0);
    batch.set(u32Bytes(Hc.grant_copy, 0, OPS + GRANT_COPY_OP_SIZE, 1), MULTICALL_ENTRY_SIZE);
    img.get(1)!.set(batch, 0x2000);
    const r = step(st, { dom: 1, vcpu: 0 }, Hc.multicall, [0x2000, 2], mem(1));
    expect(r.writes!.find((w) => w.addr === 6 * GRANT_FRAME_SIZE)?.bytes).toEqual(new Uint8Array([42]));
  });

  it('without views of other domains, their memory reads as zeros (entries grant nothing)', () => {
    const { s, img, mem } = world();
    const st = step(s, { dom: 2, vcpu: 0 }, Hc.grant_setup, [TABLE, 1], mem(2)).state;
    img.get(2)!.set(encodeGrantEntry(GTF_PERMIT_ACCESS, 1, 5), TABLE);
    img.get(1)!.set(encodeGrantCopyOp({ flags: GNTCOPY_SOURCE_GREF, source: { ref: 0, domid: 2, offset: 0 }, dest: { ref: 6, domid: DOMID_SELF, offset: 0 }, len: 1 }), OPS);
    const withViews = step(st, { dom: 1, vcpu: 0 }, Hc.grant_copy, [OPS, 1], mem(1));
    const without = step(st, { dom: 1, vcpu: 0 }, Hc.grant_copy, [OPS, 1], memoryOf(img.get(1)!, SHARED));
    expect(withViews.writes!.at(-1)!.bytes[0]).toBe(GNTST_OKAY);
    expect(new Int8Array(without.writes!.at(-1)!.bytes.buffer)[0]).toBe(GNTST_GENERAL_ERROR);
  });
});

describe('grant_map (model)', () => {
  it('is ENOSYS and changes nothing', () => {
    const { s, mem } = world();
    const r = step(s, { dom: 1, vcpu: 0 }, Hc.grant_map, [2, 0], mem(1));
    expect(r).toEqual({ result: ENOSYS, state: s });
  });
});
