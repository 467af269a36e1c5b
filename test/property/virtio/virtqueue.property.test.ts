/**
 * Properties of the device-side split virtqueue. Each generator produces a request together
 * with the outcome it must have (Firecracker's `parse_random_requests` shape): a well-formed
 * chain must round-trip its bytes and lengths; a chain with exactly one driver MUST broken must
 * be refused with that reason, complete with used length 0 and leave the queue usable; and the
 * notification decision must agree with the spec's per-entry rule, computed independently.
 * The chain generators are pvisor/testing's (`chainSpecArb`, `malformedChainArb`), so what is
 * published is what pvisor's own queue is held to.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SplitQueue } from '../../../src/virtio/virtqueue.ts';
import { needEvent } from '../../../src/virtio/ring-layout.ts';
import type { GuestMemory } from '../../../src/hv/memory.ts';
import { CHAIN_FAULTS, chainSpecArb, layoutMalformedChain, malformedChainArb, type ChainFault } from '../../../src/testing/arbitraries/virtq.ts';
import { RUNS, SEED } from '../../support/seed.ts';
import { fillRandom, makeGuestMemory } from '../../support/guest-memory.ts';
import { VirtqDriver, type ChainSpec } from '../../support/virtq-driver.ts';

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

/** A chain from pvisor/testing, with how much of its writable space the backend fills. */
const requestArb = fc.record({ spec: chainSpecArb(), frac: fc.double({ min: 0, max: 1, noNaN: true }) });

describe(`split virtqueue properties (seed ${SEED})`, () => {
  it(`well-formed chains round-trip their bytes and lengths, in batches, across the u16 wrap (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4, 8, 16, 64, 256),
        fc.boolean(),
        fc.boolean(),
        fc.oneof(fc.integer({ min: 65500, max: 65535 }), fc.integer({ min: 0, max: 65535 })),
        fc.array(fc.array(requestArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
        (size, eventIdx, indirect, startIdx, batches) => {
          const mem = makeGuestMemory(MEM);
          const drv = new VirtqDriver(mem, { size, eventIdx, indirect, startIdx });
          const q = makeQueue(mem, drv);
          for (const batch of batches) {
            const added: { head: number; req: (typeof batch)[number] }[] = [];
            for (const req of batch) {
              const s: ChainSpec = { ...req.spec, indirect: indirect && req.spec.indirect };
              const head = drv.addChain(s);
              if (head !== undefined) added.push({ head, req });
            }
            drv.kick();
            const chains = q.popAll();
            expect(chains.map((c) => c.head)).toEqual(added.map((a) => a.head));
            const expectUsed: { id: number; len: number; written: number[] }[] = [];
            chains.forEach((c, i) => {
              const { spec, frac } = added[i]!.req;
              const rLen = spec.readable.reduce((n, b) => n + b.length, 0);
              const wLen = spec.writable.reduce((n, b) => n + b, 0);
              expect(c.error).toBeUndefined();
              expect(c.readableLen).toBe(rLen);
              expect(c.writableLen).toBe(wLen);
              expect(c.readable.reduce((n, s) => n + s.len, 0)).toBe(rLen);
              expect(c.writable.reduce((n, s) => n + s.len, 0)).toBe(wLen);
              expect(Buffer.from(q.readChain(c)).equals(Buffer.concat(spec.readable))).toBe(true);
              const n = Math.floor(frac * wLen);
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
    const seen = new Set<ChainFault>();
    fc.assert(
      fc.property(
        fc.constantFrom(16, 64, 256),
        fc.integer({ min: 0, max: 65535 }),
        malformedChainArb(),
        (size, startIdx, plan) => {
          const mem = makeGuestMemory(MEM);
          const drv = new VirtqDriver(mem, { size, startIdx, eventIdx: false, indirect: plan.indirectFeature });
          const q = makeQueue(mem, drv);
          // The plan (and the refusal it must get) comes from pvisor/testing; place it in this queue.
          const lay = layoutMalformedChain(plan, { queueSize: size, memSize: mem.size, alloc: (len) => drv.arena.alloc(len) });
          for (const b of lay.buffers) fillRandom(mem, b.addr, b.len, b.addr);
          for (const { index, desc } of lay.ring) drv.writeDesc(index, desc);
          const table = lay.table;
          table?.descs.forEach((d, i) => drv.writeDescAt(table.addr + 16 * i, d));
          const head = lay.head;

          drv.addHead(head);
          drv.kick();
          const chains = q.popAll();
          expect(chains).toHaveLength(1);
          const c = chains[0]!;
          expect(c.head).toBe(head);
          expect(c.error).toBe(plan.fault);
          seen.add(plan.fault);
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
      { seed: SEED, numRuns: Math.max(RUNS, 4 * CHAIN_FAULTS.length) },
    );
    // The generator reached every fault (otherwise one could silently stop being tested).
    expect([...seen].sort()).toEqual([...CHAIN_FAULTS].sort());
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
