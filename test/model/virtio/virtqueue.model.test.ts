/**
 * Model-based test of the device-side split virtqueue: random interleavings of driver actions
 * (add chain, kick, reap used) and device actions (pop all / pop one, push in any order, flush,
 * notification on/off), checked after every step against a plain-array model of where each
 * request is: pending → kicked → popped → staged → visible → reaped.
 *
 * Indices start near 65535 so runs cross the u16 wrap (§2.7.13.3) many times.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SplitQueue, type Chain } from '../../../src/virtio/virtqueue.ts';
import { chainSpecArb } from '../../../src/testing/arbitraries/virtq.ts';
import { RUNS, SEED } from '../../support/seed.ts';
import { makeGuestMemory } from '../../support/guest-memory.ts';
import { USED_NO_NOTIFY, VirtqDriver, type ChainSpec } from '../../support/virtq-driver.ts';

interface Req {
  head: number;
  spec: ChainSpec;
  descs: number;
  chain?: Chain;
}
interface Done {
  head: number;
  len: number;
  bytes: number[];
  descs: number;
}

/** The model: plain arrays and counters, no guest memory. */
interface Model {
  size: number;
  eventIdx: boolean;
  free: number; // descriptors the driver has not handed out
  pending: Req[]; // added, not yet kicked
  kicked: Req[]; // visible to the device, not popped
  popped: Req[]; // held by the device
  staged: Done[]; // pushed, not flushed
  visible: Done[]; // published in used.idx, not reaped by the driver
  availIdx: number; // avail.idx as published
  lastAvail: number; // device's next avail index
  shadow: number; // avail.idx as the device last read it
  usedIdx: number;
  notifyOn: boolean;
  availEvent: number; // what the device should have published (EVENT_IDX)
}

interface Real {
  drv: VirtqDriver;
  q: SplitQueue;
}

type Cmd = fc.Command<Model, Real>;

const u16 = (n: number) => n & 0xffff;

/** How often runs crossed 65535 → 0 (a coverage guard: the point of the start indices). */
const wraps = { used: 0, runs: 0, commands: 0 };

function pattern(head: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (head * 7 + i * 3) & 0xff);
}

/** Everything the model says about the real queue, checked after every command. */
function agree(m: Model, r: Real): void {
  expect(r.q.broken).toBeUndefined();
  expect(r.q.nextAvailIdx).toBe(m.lastAvail);
  expect(r.q.nextUsedIdx).toBe(m.usedIdx);
  expect(r.drv.usedIdx()).toBe(m.usedIdx);
  expect(r.q.inFlight).toBe(m.popped.length + m.staged.length);
  expect(r.q.pendingUsed).toBe(m.staged.length);
  expect(r.drv.numFree).toBe(m.free);
  if (m.eventIdx) {
    expect(r.drv.usedFlags()).toBe(0); // §2.7.10.2: flags MUST be 0 with EVENT_IDX
    expect(r.drv.availEvent()).toBe(m.availEvent);
  } else {
    expect(r.drv.usedFlags()).toBe(m.notifyOn ? 0 : USED_NO_NOTIFY);
  }
}

function checkChain(r: Real, req: Req, c: Chain): void {
  const readable = req.spec.readable ?? [];
  const writable = req.spec.writable ?? [];
  expect(c.head).toBe(req.head);
  expect(c.error).toBeUndefined();
  expect(c.readableLen).toBe(readable.reduce((n, b) => n + b.length, 0));
  expect(c.writableLen).toBe(writable.reduce((n, b) => n + b, 0));
  expect(Buffer.from(r.q.readChain(c)).equals(Buffer.concat(readable))).toBe(true);
}

class AddChain implements Cmd {
  constructor(readonly spec: ChainSpec) {}
  check(m: Readonly<Model>): boolean {
    const n = (this.spec.readable?.length ?? 0) + (this.spec.writable?.length ?? 0);
    return n <= m.size && VirtqDriver.descsNeeded(this.spec) <= m.free;
  }
  run(m: Model, r: Real): void {
    const head = r.drv.addChain(this.spec);
    expect(head).toBeDefined();
    const descs = VirtqDriver.descsNeeded(this.spec);
    m.pending.push({ head: head!, spec: this.spec, descs });
    m.free -= descs;
    agree(m, r);
  }
  toString(): string {
    return `add(r=${(this.spec.readable ?? []).map((b) => b.length).join('+')} w=${(this.spec.writable ?? []).join('+')}${this.spec.indirect === true ? ' indirect' : ''})`;
  }
}

class Kick implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const old = m.availIdx;
    const kick = r.drv.kick();
    m.availIdx = u16(m.availIdx + m.pending.length);
    // Driver-side rule (§2.7.10.1) against the model's idea of what the device published.
    let expected = false;
    for (let k = 0; k < m.pending.length; k++) {
      if (m.eventIdx ? u16(old + k) === m.availEvent : m.notifyOn) expected = true;
    }
    if (!m.eventIdx && m.pending.length === 0) expected = m.notifyOn;
    expect(kick).toBe(expected);
    m.kicked.push(...m.pending);
    m.pending = [];
    agree(m, r);
  }
  toString(): string {
    return 'kick';
  }
}

class PopAll implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const chains = r.q.popAll();
    // popAll reads avail.idx once and takes everything published; pop() may have read less.
    const ready = m.kicked;
    expect(chains.length).toBe(ready.length);
    ready.forEach((req, i) => {
      checkChain(r, req, chains[i]!);
      req.chain = chains[i]!;
    });
    m.popped.push(...ready);
    m.kicked = [];
    m.shadow = m.availIdx;
    m.lastAvail = m.availIdx;
    if (ready.length > 0 && m.eventIdx && m.notifyOn) m.availEvent = m.lastAvail;
    agree(m, r);
  }
  toString(): string {
    return 'popAll';
  }
}

class PopOne implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const c = r.q.pop();
    // pop() re-reads avail.idx only when it has used up what it saw last time.
    if (m.lastAvail === m.shadow) m.shadow = m.availIdx;
    if (m.lastAvail === m.shadow) {
      expect(c).toBeUndefined();
    } else {
      const req = m.kicked.shift()!;
      expect(c).toBeDefined();
      checkChain(r, req, c!);
      req.chain = c!;
      m.popped.push(req);
      m.lastAvail = u16(m.lastAvail + 1);
      if (m.lastAvail === m.shadow && m.eventIdx && m.notifyOn) m.availEvent = m.lastAvail;
    }
    agree(m, r);
  }
  toString(): string {
    return 'pop';
  }
}

class Push implements Cmd {
  constructor(
    readonly pick: number,
    readonly frac: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.popped.length > 0;
  }
  run(m: Model, r: Real): void {
    const [req] = m.popped.splice(this.pick % m.popped.length, 1);
    const c = req!.chain!;
    const n = Math.floor(this.frac * c.writableLen);
    const bytes = pattern(c.head, n);
    expect(r.q.writeChain(c, Uint8Array.from(bytes))).toBe(n);
    expect(r.q.push(c.head, n)).toBe(true);
    m.staged.push({ head: c.head, len: n, bytes, descs: req!.descs });
    agree(m, r);
  }
  toString(): string {
    return `push(#${this.pick}, ${this.frac.toFixed(2)})`;
  }
}

class Flush implements Cmd {
  constructor(
    readonly eventDelta: number,
    readonly noInterrupt: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const usedEvent = u16(m.usedIdx + this.eventDelta);
    r.drv.setUsedEvent(usedEvent);
    r.drv.setAvailFlags(this.noInterrupt ? 1 : 0);
    // §2.7.7.2, entry by entry: notify if any entry was written at used_event (EVENT_IDX), or
    // if any entry was written while flags was 0 (no EVENT_IDX).
    let expected = false;
    for (let k = 0; k < m.staged.length; k++) {
      if (m.eventIdx ? u16(m.usedIdx + k) === usedEvent : !this.noInterrupt) expected = true;
    }
    expect(r.q.flush()).toBe(expected);
    if (m.usedIdx + m.staged.length > 0xffff) wraps.used++;
    m.usedIdx = u16(m.usedIdx + m.staged.length);
    m.visible.push(...m.staged);
    m.staged = [];
    agree(m, r);
  }
  toString(): string {
    return `flush(used_event=+${this.eventDelta}${this.noInterrupt ? ', NO_INTERRUPT' : ''})`;
  }
}

class Reap implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const got = r.drv.reapUsed().map((u) => ({ head: u.id, len: u.len, bytes: [...(u.written ?? [])], known: u.known }));
    expect(got).toEqual(m.visible.map((d) => ({ head: d.head, len: d.len, bytes: d.bytes, known: true })));
    for (const d of m.visible) m.free += d.descs;
    m.visible = [];
    agree(m, r);
  }
  toString(): string {
    return 'reap';
  }
}

class SetNotify implements Cmd {
  constructor(readonly on: boolean) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    if (this.on) {
      const more = r.q.enableNotifications();
      expect(more).toBe(m.availIdx !== m.lastAvail);
      m.notifyOn = true;
      if (m.eventIdx) m.availEvent = m.lastAvail;
    } else {
      r.q.disableNotifications();
      m.notifyOn = false;
    }
    agree(m, r);
  }
  toString(): string {
    return this.on ? 'enableNotifications' : 'disableNotifications';
  }
}

// The chain generator of pvisor/testing (shared with users testing their own backends).
const specArb = (indirect: boolean): fc.Arbitrary<ChainSpec> => chainSpecArb({ maxBufferLen: 48, indirect });

const commandsArb = (indirect: boolean) =>
  fc.commands<Model, Real>(
    [
      specArb(indirect).map((s) => new AddChain(s)),
      fc.constant(new Kick()),
      fc.constant(new PopAll()),
      fc.constant(new PopOne()),
      fc.tuple(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true })).map(([p, f]) => new Push(p, f)),
      fc.tuple(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 65535 })), fc.boolean()).map(([d, n]) => new Flush(d, n)),
      fc.constant(new Reap()),
      fc.boolean().map((on) => new SetNotify(on)),
    ],
    // 'large' gives runs of ~200 commands on average (the default would give ~10).
    { maxCommands: 400, size: 'large' },
  );

describe(`split virtqueue against a plain-array model (seed ${SEED})`, () => {
  it(`random driver/device interleavings agree with the model across the u16 wrap (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4, 8, 16, 64),
        fc.boolean(),
        fc.oneof({ arbitrary: fc.integer({ min: 65522, max: 65535 }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 65535 }), weight: 1 }),
        fc.boolean().chain((indirect) => fc.tuple(fc.constant(indirect), commandsArb(indirect))),
        (size, eventIdx, startIdx, [indirect, cmds]) => {
          const mem = makeGuestMemory(1 << 20);
          const drv = new VirtqDriver(mem, { size, eventIdx, indirect, startIdx });
          const r = SplitQueue.create(mem, drv.config());
          if (!r.ok) throw new Error(r.message);
          const model: Model = {
            size,
            eventIdx,
            free: size,
            pending: [],
            kicked: [],
            popped: [],
            staged: [],
            visible: [],
            availIdx: startIdx,
            lastAvail: startIdx,
            shadow: startIdx,
            usedIdx: startIdx,
            notifyOn: true,
            availEvent: 0,
          };
          wraps.runs++;
          wraps.commands += [...cmds].length;
          fc.modelRun(() => ({ model, real: { drv, q: r.queue } }), cmds);
        },
      ),
      { seed: SEED, numRuns: Math.max(20, Math.floor(RUNS / 2)) },
    );
    // The runs did cross the wrap, many times over.
    expect(wraps.used).toBeGreaterThan(wraps.runs / 4);
  });
});
