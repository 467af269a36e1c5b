/**
 * Properties of the device-side split virtqueue. Each generator produces a request together
 * with the outcome it must have (Firecracker's `parse_random_requests` shape): a well-formed
 * chain must round-trip its bytes and lengths; a chain with exactly one driver MUST broken must
 * be refused with that reason, complete with used length 0 and leave the queue usable; and the
 * notification decision must agree with the spec's per-entry rule, computed independently.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SplitQueue } from '../../../src/virtio/virtqueue.ts';
import { needEvent } from '../../../src/virtio/ring-layout.ts';
import type { ChainErrorKind } from '../../../src/virtio/errors.ts';
import type { GuestMemory } from '../../../src/hv/memory.ts';
import { RUNS, SEED } from '../../support/seed.ts';
import { fillRandom, makeGuestMemory } from '../../support/guest-memory.ts';
import { F_INDIRECT, F_NEXT, F_WRITE, VirtqDriver, type ChainSpec, type RawDesc } from '../../support/virtq-driver.ts';

const MEM = 1 << 20;

function makeQueue(mem: GuestMemory, drv: VirtqDriver): SplitQueue {
  const r = SplitQueue.create(mem, drv.config());
  if (!r.ok) throw new Error(r.message);
  return r.queue;
}

/** What the backend writes into a chain: a pattern that names the chain. */
function pattern(head: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (head * 13 + i) & 0xff);
}

const chainSpecArb = fc
  .record({
    readable: fc.array(fc.uint8Array({ minLength: 1, maxLength: 96 }), { maxLength: 3 }),
    writable: fc.array(fc.integer({ min: 1, max: 96 }), { maxLength: 3 }),
    indirect: fc.boolean(),
    frac: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .filter((s) => s.readable.length + s.writable.length > 0);

describe(`split virtqueue properties (seed ${SEED})`, () => {
  it(`well-formed chains round-trip their bytes and lengths, in batches, across the u16 wrap (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4, 8, 16, 64, 256),
        fc.boolean(),
        fc.boolean(),
        fc.oneof(fc.integer({ min: 65500, max: 65535 }), fc.integer({ min: 0, max: 65535 })),
        fc.array(fc.array(chainSpecArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
        (size, eventIdx, indirect, startIdx, batches) => {
          const mem = makeGuestMemory(MEM);
          const drv = new VirtqDriver(mem, { size, eventIdx, indirect, startIdx });
          const q = makeQueue(mem, drv);
          for (const batch of batches) {
            const added: { head: number; spec: (typeof batch)[number] }[] = [];
            for (const spec of batch) {
              const s: ChainSpec = { readable: spec.readable, writable: spec.writable, indirect: indirect && spec.indirect };
              const head = drv.addChain(s);
              if (head !== undefined) added.push({ head, spec });
            }
            drv.kick();
            const chains = q.popAll();
            expect(chains.map((c) => c.head)).toEqual(added.map((a) => a.head));
            const expectUsed: { id: number; len: number; written: number[] }[] = [];
            chains.forEach((c, i) => {
              const { spec } = added[i]!;
              const rLen = spec.readable.reduce((n, b) => n + b.length, 0);
              const wLen = spec.writable.reduce((n, b) => n + b, 0);
              expect(c.error).toBeUndefined();
              expect(c.readableLen).toBe(rLen);
              expect(c.writableLen).toBe(wLen);
              expect(c.readable.reduce((n, s) => n + s.len, 0)).toBe(rLen);
              expect(c.writable.reduce((n, s) => n + s.len, 0)).toBe(wLen);
              expect(Buffer.from(q.readChain(c)).equals(Buffer.concat(spec.readable))).toBe(true);
              const n = Math.floor(spec.frac * wLen);
              const bytes = pattern(c.head, n);
              expect(q.writeChain(c, bytes)).toBe(n);
              expect(q.push(c.head, n)).toBe(true);
              expectUsed.push({ id: c.head, len: n, written: [...bytes] });
            });
            q.flush();
            const used = drv.reapUsed().map((u) => ({ id: u.id, len: u.len, written: [...(u.written ?? [])] }));
            expect(used).toEqual(expectUsed);
            expect(q.inFlight).toBe(0);
          }
          expect(q.broken).toBeUndefined();
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it(`each kind of malformed chain is refused with its reason, completes with used length 0, and leaves the queue usable (seed ${SEED})`, () => {
    const kinds: ChainErrorKind[] = [
      'head-out-of-range',
      'next-out-of-range',
      'chain-too-long',
      'indirect-not-negotiated',
      'indirect-nested',
      'indirect-with-next',
      'indirect-bad-length',
      'indirect-out-of-memory',
      'indirect-next-out-of-range',
      'readable-after-writable',
      'buffer-out-of-memory',
      'zero-length',
    ];
    const seen = new Set<ChainErrorKind>();
    fc.assert(
      fc.property(
        fc.record({
          kind: fc.constantFrom(...kinds),
          size: fc.constantFrom(16, 64, 256),
          startIdx: fc.integer({ min: 0, max: 65535 }),
          lens: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }),
          nWrite: fc.nat(8),
          indirect: fc.boolean(),
          direct: fc.nat(8),
          descSeed: fc.nat(),
          pick: fc.nat(),
          r: fc.integer({ min: 0, max: 0xfff0 }),
          r15: fc.integer({ min: 1, max: 15 }),
          far: fc.boolean(),
        }),
        (g) => {
          // Normalise the plan so that exactly the chosen rule is the one broken.
          const needsTable = ['indirect-not-negotiated', 'indirect-nested', 'indirect-with-next', 'indirect-bad-length', 'indirect-out-of-memory', 'indirect-next-out-of-range'].includes(g.kind);
          const useIndirect = g.indirect || needsTable;
          const lens = [...g.lens];
          let nWrite = Math.min(g.nWrite, lens.length);
          if (g.kind === 'readable-after-writable' && nWrite === 0) nWrite = 1;
          const bufs = lens.map((len, i) => ({ len, write: i >= lens.length - nWrite }));
          if (g.kind === 'readable-after-writable') bufs.push({ len: 7, write: false });
          const direct = useIndirect ? g.direct % bufs.length : bufs.length; // buffers before the table
          if (g.kind === 'next-out-of-range' && direct === 0) return; // nothing direct to corrupt
          const features = { eventIdx: false, indirect: g.kind !== 'indirect-not-negotiated' };

          const mem = makeGuestMemory(MEM);
          const drv = new VirtqDriver(mem, { size: g.size, startIdx: g.startIdx, ...features });
          const q = makeQueue(mem, drv);
          // Descriptor slots: a seed-chosen permutation, so chains are not laid out in order.
          const slots = Array.from({ length: g.size }, (_, i) => i);
          for (let i = slots.length - 1, x = g.descSeed; i > 0; i--) {
            x = (x * 1103515245 + 12345) >>> 0;
            const j = x % (i + 1);
            [slots[i], slots[j]] = [slots[j]!, slots[i]!];
          }
          const raw: RawDesc[] = bufs.map((b) => {
            const addr = drv.arena.alloc(b.len)!;
            fillRandom(mem, addr, b.len, addr);
            return { addr, len: b.len, flags: b.write ? F_WRITE : 0, next: 0 };
          });
          const ring = raw.slice(0, direct);
          const table = raw.slice(direct);
          const tableAddr = useIndirect ? drv.arena.alloc(16 * table.length)! : 0;
          let ind: RawDesc | undefined = useIndirect ? { addr: tableAddr, len: 16 * table.length, flags: F_INDIRECT, next: 0 } : undefined;
          // Link: ring descriptors via the permuted slots, table entries via 0, 1, 2, ...
          const ringAll = ind === undefined ? ring : [...ring, ind];
          ringAll.forEach((d, i) => {
            if (i < ringAll.length - 1) {
              d.flags |= F_NEXT;
              d.next = slots[i + 1]!;
            }
          });
          table.forEach((d, i) => {
            if (i < table.length - 1) {
              d.flags |= F_NEXT;
              d.next = i + 1;
            }
          });
          let head = slots[0]!;
          const pickOf = <T,>(xs: T[]): T => xs[g.pick % xs.length]!;
          switch (g.kind) {
            case 'head-out-of-range':
              head = g.size + (g.r % (65536 - g.size));
              break;
            case 'next-out-of-range': {
              const d = pickOf(ring);
              d.flags |= F_NEXT;
              d.next = g.size + (g.r % (65536 - g.size));
              break;
            }
            case 'indirect-next-out-of-range': {
              const d = pickOf(table);
              d.flags |= F_NEXT;
              d.next = table.length + (g.r % (65536 - table.length));
              break;
            }
            case 'chain-too-long':
              if (table.length > 0) {
                table[table.length - 1]!.flags |= F_NEXT;
                table[table.length - 1]!.next = g.pick % table.length;
              } else {
                ring[ring.length - 1]!.flags |= F_NEXT;
                ring[ring.length - 1]!.next = slots[g.pick % ring.length]!;
              }
              break;
            case 'indirect-not-negotiated':
              break; // the layout uses a table, the feature is off
            case 'indirect-nested': {
              const d = pickOf(table);
              d.flags = (d.flags & F_NEXT) | F_INDIRECT;
              d.addr = tableAddr;
              d.len = 16 * table.length;
              break;
            }
            case 'indirect-with-next':
              ind!.flags |= F_NEXT;
              ind!.next = slots[0]!;
              break;
            case 'indirect-bad-length':
              ind!.len = g.far ? 0 : 16 * table.length + g.r15;
              break;
            case 'indirect-out-of-memory':
              ind!.addr = g.far ? 2 ** 32 + tableAddr : mem.size - 16 * table.length + 16 * (1 + (g.r % 64));
              break;
            case 'readable-after-writable':
              break; // built in: the last buffer is readable and follows a writable one
            case 'buffer-out-of-memory': {
              const d = pickOf(raw);
              d.addr = g.far ? d.addr + 2 ** 32 * (1 + (g.r % 1000)) : mem.size - d.len + 1 + (g.r % 4096);
              break;
            }
            case 'zero-length':
              pickOf(raw).len = 0;
              break;
          }
          ringAll.forEach((d, i) => drv.writeDesc(slots[i]!, d));
          table.forEach((d, i) => drv.writeDescAt(tableAddr + 16 * i, d));
          ind = undefined;

          drv.addHead(head);
          drv.kick();
          const chains = q.popAll();
          expect(chains).toHaveLength(1);
          const c = chains[0]!;
          expect(c.head).toBe(head);
          expect(c.error).toBe(g.kind);
          seen.add(c.error!);
          expect(c.readable.length + c.writable.length).toBe(0);
          expect(q.complete(c, 4096)).toBe(true);
          q.flush();
          expect(drv.reapUsed()).toEqual([{ id: head, len: 0, known: false }]);
          expect(q.broken).toBeUndefined();

          // Still usable: a well-formed request goes through.
          const data = new Uint8Array([1, 2, 3, 4, 5]);
          const h2 = drv.addChain({ readable: [data], writable: [2] })!;
          drv.kick();
          const [c2] = q.popAll();
          expect(c2).toMatchObject({ head: h2, readableLen: 5, writableLen: 2 });
          expect(c2!.error).toBeUndefined();
          expect([...q.readChain(c2!)]).toEqual([1, 2, 3, 4, 5]);
          q.push(h2, 0);
          q.flush();
          expect(drv.reapUsed()).toMatchObject([{ id: h2, len: 0, known: true }]);
        },
      ),
      { seed: SEED, numRuns: Math.max(RUNS, 4 * kinds.length) },
    );
    // The generator reached every kind (otherwise a kind could silently stop being tested).
    expect([...seen].sort()).toEqual([...kinds].sort());
  });

  it(`vring_need_event(event, new, old) is "event lies in [old, new) modulo 2^16" (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 32768 }), (event, old, n) => {
        const now = (old + n) & 0xffff;
        let inWindow = false;
        for (let k = 0; k < n; k++) if (((old + k) & 0xffff) === event) inWindow = true;
        expect(needEvent(event, now, old)).toBe(inWindow);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it(`at most one notification per batch, exactly when the per-entry rule of §2.7.7.2 asks for one (seed ${SEED})`, () => {
    const round = fc.record({
      n: fc.integer({ min: 0, max: 20 }),
      usedEventDelta: fc.oneof(fc.integer({ min: -3, max: 24 }), fc.integer({ min: 0, max: 65535 })),
      noInterrupt: fc.boolean(),
      complete: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom(16, 32, 64),
        fc.integer({ min: 65400, max: 65535 }),
        fc.array(round, { minLength: 1, maxLength: 30 }),
        (eventIdx, size, startIdx, rounds) => {
          const mem = makeGuestMemory(MEM);
          const drv = new VirtqDriver(mem, { size, eventIdx, startIdx });
          const q = makeQueue(mem, drv);
          let held: number[] = [];
          for (const r of rounds) {
            for (let i = 0; i < r.n && drv.numFree > 0; i++) drv.addChain({ writable: [4] });
            drv.kick();
            held.push(...q.popAll().map((c) => c.head));
            // Complete a prefix of what the device holds; the rest stays in flight.
            const k = Math.round(r.complete * held.length);
            for (const h of held.slice(0, k)) expect(q.push(h, 4)).toBe(true);
            held = held.slice(k);
            const old = q.nextUsedIdx;
            const usedEvent = (old + r.usedEventDelta) & 0xffff;
            drv.setUsedEvent(usedEvent);
            drv.setAvailFlags(r.noInterrupt ? 1 : 0);
            // Independent oracle: the spec's per-entry rule, applied to each entry written.
            let expected = false;
            for (let j = 0; j < k; j++) {
              const at = (old + j) & 0xffff; // the used idx at which entry j is written
              if (eventIdx ? at === usedEvent : !r.noInterrupt) expected = true;
            }
            const notifications = q.flush() ? 1 : 0;
            expect(notifications).toBeLessThanOrEqual(1);
            expect(notifications === 1).toBe(expected);
            expect(drv.usedIdx()).toBe((old + k) & 0xffff);
            drv.reapUsed();
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
