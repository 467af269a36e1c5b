/**
 * virtio-blk against a plain byte-array model of the disk. Each generated run is a sequence of
 * batches of requests (every type, valid and invalid: past the end, misaligned, read-only,
 * bad discard flags, unknown types; split over several descriptors, direct or indirect); each
 * request's expected status, used length and IN data are computed from the model, which is
 * then updated. At the end the image must equal the model byte for byte. Chain shapes come from
 * pvisor/testing's `chainShapeArb`: the result must not depend on them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
  VirtioBlk,
} from '../../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import { chainShapeArb, type ChainShape } from '../../../src/testing/arbitraries/virtq.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';
import { makeGuestMemory } from '../../support/guest-memory.ts';
import { type BlkRequest, BlkDriver, MmioDriver, discardSegments } from '../../support/mmio-driver.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const SECTORS = 32;
const ID = 'prop-disk';

interface Seg {
  sector: number;
  num: number;
  flags: number;
}

/** Requests; `shape` is how the driver splits each data part over descriptors (any must do). */
type Op =
  | { kind: 'in'; sector: number; nsec: number; extra: number; shape: ChainShape }
  | { kind: 'out'; sector: number; nsec: number; extra: number; shape: ChainShape; seed: number }
  | { kind: 'flush'; shape: ChainShape }
  | { kind: 'get-id'; shape: ChainShape }
  | { kind: 'discard' | 'write-zeroes'; segs: Seg[]; shape: ChainShape }
  | { kind: 'unknown'; type: number };

const sectorArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: SECTORS + 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 32, 2 ** 32 + 1, 2 ** 40) },
);
const extraArb = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 511 }) });
const segArb: fc.Arbitrary<Seg> = fc.record({
  sector: sectorArb,
  num: fc.integer({ min: 0, max: 5 }),
  flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3) }),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('in' as const), sector: sectorArb, nsec: fc.integer({ min: 0, max: 4 }), extra: extraArb, shape: chainShapeArb() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('out' as const), sector: sectorArb, nsec: fc.integer({ min: 0, max: 4 }), extra: extraArb, shape: chainShapeArb(), seed: fc.integer({ min: 1, max: 1000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const), shape: chainShapeArb() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('get-id' as const), shape: chainShapeArb() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('discard' as const, 'write-zeroes' as const), segs: fc.array(segArb, { minLength: 1, maxLength: 3 }), shape: chainShapeArb() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unknown' as const), type: fc.constantFrom(2, 3, 5, 7, 10, 100, 0xffffffff) }) },
);

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 9)) & 0xff);
}

/** Index of the first differing byte (or of the shorter length), -1 when equal. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) return -1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return Math.min(a.length, b.length);
}

const inRange = (sector: number, n: number) => sector <= SECTORS && n <= SECTORS - sector;

/** The request to submit for an op. */
function toRequest(op: Op): BlkRequest {
  switch (op.kind) {
    case 'in':
      return { type: VIRTIO_BLK_T_IN, sector: op.sector, inLen: op.nsec * 512 + op.extra, ...op.shape };
    case 'out':
      return { type: VIRTIO_BLK_T_OUT, sector: op.sector, out: bytes(op.nsec * 512 + op.extra, op.seed), ...op.shape };
    case 'flush':
      return { type: VIRTIO_BLK_T_FLUSH, ...op.shape };
    case 'get-id':
      return { type: VIRTIO_BLK_T_GET_ID, inLen: 20, ...op.shape };
    case 'discard':
    case 'write-zeroes':
      return { type: op.kind === 'discard' ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments(op.segs), ...op.shape };
    case 'unknown':
      return { type: op.type };
  }
}

/** What the model says: status, used length, IN data; applies writes to `disk`. */
function expectOf(op: Op, disk: Uint8Array, ro: boolean): { status: number; usedLen: number; data?: Uint8Array } {
  switch (op.kind) {
    case 'in': {
      const len = op.nsec * 512 + op.extra;
      if (op.extra !== 0 || !inRange(op.sector, op.nsec)) return { status: VIRTIO_BLK_S_IOERR, usedLen: len === 0 ? 1 : 0 };
      return { status: VIRTIO_BLK_S_OK, usedLen: len + 1, data: disk.slice(op.sector * 512, op.sector * 512 + len) };
    }
    case 'out': {
      if (ro || op.extra !== 0 || !inRange(op.sector, op.nsec)) return { status: VIRTIO_BLK_S_IOERR, usedLen: 1 };
      disk.set(bytes(op.nsec * 512, op.seed), op.sector * 512);
      return { status: VIRTIO_BLK_S_OK, usedLen: 1 };
    }
    case 'flush':
      return { status: VIRTIO_BLK_S_OK, usedLen: 1 };
    case 'get-id': {
      const id = new Uint8Array(20);
      id.set(new TextEncoder().encode(ID));
      return { status: VIRTIO_BLK_S_OK, usedLen: 21, data: id };
    }
    case 'discard':
    case 'write-zeroes': {
      if (ro) return { status: VIRTIO_BLK_S_IOERR, usedLen: 1 };
      // Segments are checked in order; the first bad one decides, and nothing is applied.
      for (const s of op.segs) {
        if ((s.flags & ~1) !== 0) return { status: VIRTIO_BLK_S_UNSUPP, usedLen: 1 };
        if (op.kind === 'discard' && s.flags !== 0) return { status: VIRTIO_BLK_S_UNSUPP, usedLen: 1 };
        if (!inRange(s.sector, s.num)) return { status: VIRTIO_BLK_S_IOERR, usedLen: 1 };
      }
      for (const s of op.segs) disk.fill(0, s.sector * 512, (s.sector + s.num) * 512);
      return { status: VIRTIO_BLK_S_OK, usedLen: 1 };
    }
    case 'unknown':
      return { status: VIRTIO_BLK_S_UNSUPP, usedLen: 1 };
  }
}

describe(`virtio-blk against a byte-array model (seed ${SEED})`, () => {
  it(`request batches give the model's status, used length and data; the image ends equal to the model (seed ${SEED}, ${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }),
        (ro, eventIdx, indirect, batches) => {
          const initial = bytes(SECTORS * 512, 99);
          const model = initial.slice();
          const image = new MemoryDiskImage(initial, { readOnly: ro });
          const mem = makeGuestMemory(1 << 20);
          const blk = new VirtioBlk({ image, queueSize: 64, id: ID });
          const dev = new VirtioMmioDevice({ name: 'vdp', backend: blk, mem, log: () => {} });
          let irqs = 0;
          dev.setInterrupt(() => irqs++);
          const mmio = new MmioDriver(dev, mem);
          const init = mmio.init({
            accept: (f) => {
              let g = f;
              if (!eventIdx) g &= ~(1n << 29n);
              if (!indirect) g &= ~(1n << 28n);
              return g;
            },
          });
          expect(init.ok).toBe(true);
          const drv = new BlkDriver(mmio, init.queues[0]!);
          for (const batch of batches) {
            const ops = batch.map((op) => (indirect || !('shape' in op) ? op : { ...op, shape: { ...op.shape, indirect: false } }));
            const before = irqs;
            const got = drv.batch(ops.map(toRequest));
            ops.forEach((op, i) => {
              const want = expectOf(op, model, ro);
              const r = got[i]!;
              expect({ op: op.kind, status: r.status, usedLen: r.usedLen }).toEqual({ op: op.kind, status: want.status, usedLen: want.usedLen });
              if (want.data !== undefined) expect(firstDiff(r.data, want.data)).toBe(-1);
            });
            // One batch, at most one interrupt (and without EVENT_IDX and flags 0, exactly one).
            expect(irqs - before).toBeLessThanOrEqual(1);
            if (!eventIdx) expect(irqs - before).toBe(1);
            mmio.ackInterrupt();
          }
          // Byte compare (a deep toEqual on 16 KiB is slow); on a mismatch, name the first offset.
          expect(firstDiff(image.data, model)).toBe(-1);
          expect(drv.outstanding).toBe(0);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
