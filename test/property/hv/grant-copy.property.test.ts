/**
 * grant_copy over random batches, each op generated together with the status it must get: a
 * well-formed copy (by frame, or through a real grant of the caller's or another domain's table)
 * must succeed, and an op built to break exactly one rule (frame of another domain, missing
 * domain, reference out of the table, entry that does not permit the access, frame outside
 * memory, copy crossing its frame, stray flag bit) must fail with that rule's GNTST_* code. After
 * the batch every byte of every domain must be what the good ops alone make it: their copies,
 * applied in order, and the status fields.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DOMID_SELF, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_BAD_COPY_ARG, GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF,
  GNTST_BAD_PAGE, GNTST_GENERAL_ERROR, GNTST_OKAY, GNTST_PERMISSION_DENIED, GRANT_COPY_OP_OFF, GRANT_COPY_OP_SIZE,
  GRANT_FRAME_SIZE, GTF_PERMIT_ACCESS, GTF_READONLY, Hc,
} from '../../../src/abi/index.ts';
import { encodeGrantCopyOp, encodeGrantEntry, type GrantCopyOp, type GrantCopyPtr } from '../../../spec/model/index.ts';
import { call, makeHv } from '../../support/hv.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const MEM = 256 * 1024;
const FRAMES = MEM / GRANT_FRAME_SIZE;
const TABLE = 0x3000;
const ENTRIES = 32;
const OPS = 0x3800;
/** Sources come from frames 4..5, destinations are frames 6..7: no op changes a later op's source. */
const SRC_FRAMES = [4, 5];
const DST_FRAMES = [6, 7];
/** Domain 1 copies; domains 1 and 2 register tables; domain 3 registers none. */
const CALLER = 1;

/** An entry some domain writes into its table before the batch. */
interface Entry {
  readonly dom: number;
  readonly ref: number;
  readonly bytes: Uint8Array;
}

/** One generated op, the entry it needs, and the status it must get. */
interface Case {
  readonly what: string;
  readonly op: GrantCopyOp;
  readonly entry?: Entry;
  readonly expected: number;
}

const frameOf = (fs: number[]) => fc.constantFrom(...fs);
/** A length and two offsets that keep the copy inside its frames. */
const span = fc.integer({ min: 0, max: 512 }).chain((len) =>
  fc.tuple(fc.constant(len), fc.integer({ min: 0, max: GRANT_FRAME_SIZE - len }), fc.integer({ min: 0, max: GRANT_FRAME_SIZE - len })),
);
const self = (frame: number, offset: number): GrantCopyPtr => ({ ref: frame, domid: DOMID_SELF, offset });

/** Op `i` of the batch: the grant entry it uses (if any) is entry `i` of the granter's table. */
function caseArb(i: number): fc.Arbitrary<Case> {
  const granter = fc.constantFrom<[number, number]>([CALLER, DOMID_SELF], [CALLER, CALLER], [2, 2]);
  return fc.oneof(
    fc.tuple(frameOf(SRC_FRAMES), frameOf(DST_FRAMES), span).map(([sf, df, [len, so, dof]]): Case => ({
      what: 'by frames',
      op: { flags: 0, source: self(sf, so), dest: self(df, dof), len },
      expected: GNTST_OKAY,
    })),
    fc.tuple(granter, frameOf(SRC_FRAMES), frameOf(DST_FRAMES), span, fc.boolean()).map(([[dom, domid], sf, df, [len, so, dof], ro]): Case => ({
      what: 'from a grant',
      op: { flags: GNTCOPY_SOURCE_GREF, source: { ref: i, domid, offset: so }, dest: self(df, dof), len },
      entry: { dom, ref: i, bytes: encodeGrantEntry(GTF_PERMIT_ACCESS | (ro ? GTF_READONLY : 0), CALLER, sf) },
      expected: GNTST_OKAY,
    })),
    fc.tuple(granter, frameOf(SRC_FRAMES), frameOf(DST_FRAMES), span).map(([[dom, domid], sf, df, [len, so, dof]]): Case => ({
      what: 'into a grant',
      op: { flags: GNTCOPY_DEST_GREF, source: self(sf, so), dest: { ref: i, domid, offset: dof }, len },
      entry: { dom, ref: i, bytes: encodeGrantEntry(GTF_PERMIT_ACCESS, CALLER, df) },
      expected: GNTST_OKAY,
    })),
    fc.tuple(fc.constantFrom(CALLER, 2, 3), fc.boolean()).map(([domid, asDest]): Case => {
      const other = { ref: SRC_FRAMES[0]!, domid, offset: 0 };
      return {
        what: 'another domain\'s frame named directly',
        op: asDest ? { flags: 0, source: self(4, 0), dest: other, len: 8 } : { flags: 0, source: other, dest: self(6, 0), len: 8 },
        expected: GNTST_PERMISSION_DENIED,
      };
    }),
    fc.tuple(fc.constantFrom(0, 4, 99, DOMID_SELF + 1, 0xffff), fc.boolean()).map(([domid, asDest]): Case => ({
      what: 'a domain that does not exist',
      op: asDest
        ? { flags: GNTCOPY_DEST_GREF, source: self(4, 0), dest: { ref: i, domid, offset: 0 }, len: 8 }
        : { flags: GNTCOPY_SOURCE_GREF, source: { ref: i, domid, offset: 0 }, dest: self(6, 0), len: 8 },
      expected: GNTST_BAD_DOMAIN,
    })),
    fc.constantFrom<[number, number]>([2, ENTRIES], [2, 0xffffffff], [3, i], [CALLER, ENTRIES + i]).map(([domid, ref]): Case => ({
      what: 'a reference outside the table',
      op: { flags: GNTCOPY_SOURCE_GREF, source: { ref, domid, offset: 0 }, dest: self(6, 0), len: 8 },
      expected: GNTST_BAD_GNTREF,
    })),
    fc
      .constantFrom<[string, number, number, boolean]>(
        ['invalid entry', 0, CALLER, false],
        ['accept_transfer entry', 2, CALLER, false],
        ['transitive entry', 3, CALLER, false],
        ['granted to domain 3', GTF_PERMIT_ACCESS, 3, false],
        ['read-only entry as destination', GTF_PERMIT_ACCESS | GTF_READONLY, CALLER, true],
      )
      .map(([what, flags, grantee, asDest]): Case => ({
        what,
        op: asDest
          ? { flags: GNTCOPY_DEST_GREF, source: self(4, 0), dest: { ref: i, domid: 2, offset: 0 }, len: 8 }
          : { flags: GNTCOPY_SOURCE_GREF, source: { ref: i, domid: 2, offset: 0 }, dest: self(6, 0), len: 8 },
        entry: { dom: 2, ref: i, bytes: encodeGrantEntry(flags, grantee, asDest ? 6 : 4) },
        expected: GNTST_GENERAL_ERROR,
      })),
    fc.tuple(fc.constantFrom(FRAMES, FRAMES + 1, 0xfffff, 0xffffffff), fc.constantFrom('src', 'dst', 'granted')).map(([frame, where]): Case => ({
      what: `frame ${frame} (${where})`,
      op:
        where === 'src' ? { flags: 0, source: self(frame, 0), dest: self(6, 0), len: 8 }
        : where === 'dst' ? { flags: 0, source: self(4, 0), dest: self(frame, 0), len: 8 }
        : { flags: GNTCOPY_SOURCE_GREF, source: { ref: i, domid: 2, offset: 0 }, dest: self(6, 0), len: 8 },
      ...(where === 'granted' ? { entry: { dom: 2, ref: i, bytes: encodeGrantEntry(GTF_PERMIT_ACCESS, CALLER, frame) } } : {}),
      expected: GNTST_BAD_PAGE,
    })),
    fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.boolean()).map(([len, off, srcSide]): Case => {
      // Make offset + len exceed the frame on one side.
      const o = Math.max(off, GRANT_FRAME_SIZE - len + 1) & 0xffff;
      const crossing = o + len > GRANT_FRAME_SIZE ? o : GRANT_FRAME_SIZE;
      return {
        what: 'crossing the end of the frame',
        op: { flags: 0, source: self(4, srcSide ? crossing : 0), dest: self(6, srcSide ? 0 : crossing), len },
        expected: GNTST_BAD_COPY_ARG,
      };
    }),
    fc.integer({ min: 2, max: 15 }).map((bit): Case => ({
      what: `flag bit ${bit}`,
      op: { flags: 1 << bit, source: self(4, 0), dest: self(6, 0), len: 8 },
      expected: GNTST_GENERAL_ERROR,
    })),
  );
}

const batchArb = fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => caseArb(i))));

describe(`grant_copy statuses and bytes (seed ${SEED})`, () => {
  it(`each op gets the status it was built for and only good ops change memory (seed ${SEED})`, () => {
    const seen = new Set<number>();
    fc.assert(
      fc.property(batchArb, fc.integer({ min: 1, max: 255 }), (cases, salt) => {
        const { hv, doms } = makeHv(3, { memBytes: MEM });
        const [d1, d2] = doms;
        for (const d of doms) {
          // Recognisable bytes everywhere a copy may read or write.
          for (const f of [...SRC_FRAMES, ...DST_FRAMES]) {
            for (let k = 0; k < GRANT_FRAME_SIZE; k++) d.mem.u8[f * GRANT_FRAME_SIZE + k] = (k * 31 + f * 7 + d.id * 13 + salt) & 0xff;
          }
        }
        expect(call(hv, d1!.vcpus[0]!, Hc.grant_setup, TABLE, ENTRIES)).toBe(0);
        expect(call(hv, d2!.vcpus[0]!, Hc.grant_setup, TABLE, ENTRIES)).toBe(0);
        for (const c of cases) if (c.entry !== undefined) doms[c.entry.dom - 1]!.mem.u8.set(c.entry.bytes, TABLE + 8 * c.entry.ref);
        cases.forEach((c, i) => d1!.mem.u8.set(encodeGrantCopyOp(c.op, 0x7eed), OPS + i * GRANT_COPY_OP_SIZE));

        // The expected memories: the good ops' copies in order (sources never change), then the statuses.
        const expected = doms.map((d) => d.mem.u8.slice());
        const frameAt = (p: GrantCopyPtr, gref: boolean, c: Case): [number, number] => {
          const dom = p.domid === DOMID_SELF ? CALLER : p.domid;
          if (!gref) return [dom, p.ref * GRANT_FRAME_SIZE];
          const e = new DataView(c.entry!.bytes.buffer);
          return [dom, e.getUint32(4, true) * GRANT_FRAME_SIZE];
        };
        for (const c of cases) {
          if (c.expected !== GNTST_OKAY) continue;
          const [sd, sa] = frameAt(c.op.source, (c.op.flags & GNTCOPY_SOURCE_GREF) !== 0, c);
          const [dd, da] = frameAt(c.op.dest, (c.op.flags & GNTCOPY_DEST_GREF) !== 0, c);
          const bytes = expected[sd - 1]!.slice(sa + c.op.source.offset, sa + c.op.source.offset + c.op.len);
          expected[dd - 1]!.set(bytes, da + c.op.dest.offset);
        }
        cases.forEach((c, i) => new DataView(expected[0]!.buffer).setInt16(OPS + i * GRANT_COPY_OP_SIZE + GRANT_COPY_OP_OFF.status, c.expected, true));

        expect(call(hv, d1!.vcpus[0]!, Hc.grant_copy, OPS, cases.length)).toBe(0);
        const dv = new DataView(d1!.mem.u8.buffer);
        const got = cases.map((_, i) => dv.getInt16(OPS + i * GRANT_COPY_OP_SIZE + GRANT_COPY_OP_OFF.status, true));
        expect(got.map((s, i) => `${cases[i]!.what}: ${s}`)).toEqual(cases.map((c) => `${c.what}: ${c.expected}`));
        doms.forEach((d, k) => {
          const mine = d.mem.u8;
          const want = expected[k]!;
          // Compare byte-exact, reporting the first difference rather than a 256 KiB diff.
          const at = mine.findIndex((b, j) => b !== want[j]);
          expect(at, `domain ${d.id}: first differing byte`).toBe(-1);
        });
        for (const c of cases) seen.add(c.expected);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // Every status was generated and met.
    expect([...seen].sort((a, b) => a - b)).toEqual(
      [GNTST_BAD_COPY_ARG, GNTST_BAD_PAGE, GNTST_PERMISSION_DENIED, GNTST_BAD_GNTREF, GNTST_BAD_DOMAIN, GNTST_GENERAL_ERROR, GNTST_OKAY].sort((a, b) => a - b),
    );
  });
});
