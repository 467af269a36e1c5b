/**
 * 8254 PIT at register level (Intel 8254 datasheet), driven by a fake virtual clock: control
 * words, access modes, counter latch, read-back, modes 0/2/3/4, BCD, IRQ 0 edges and the
 * deadlines the engine schedules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingIrqLine } from '../../../src/legacy/irq.ts';
import { PIT_HZ, Pit8254, ticksAt, timeOfTick } from '../../../src/legacy/pit.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';
import { RUNS, SEED } from '../../support/seed.ts';

function setup() {
  const clock = { now: 0 };
  const irq = new RecordingIrqLine();
  const pit = new Pit8254({ clock: () => clock.now, irq });
  const bus = new PortBus();
  pit.register(bus);
  const out = (p: number, v: number) => bus.write(p, 1, v);
  const inb = (p: number) => bus.read(p, 1);
  /** Moves virtual time to tick `t`. */
  const at = (t: number) => (clock.now = timeOfTick(t));
  return { pit, irq, out, inb, at, clock };
}

describe('8254 time base', () => {
  it(`ticksAt and timeOfTick are inverse: tick k happens at the first ns whose tick count reaches k (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (k) => {
        const t = timeOfTick(k);
        expect(ticksAt(t)).toBe(k);
        if (t > 0) expect(ticksAt(t - 1)).toBe(k - 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    expect(ticksAt(1_000_000_000)).toBe(PIT_HZ);
  });
});

describe('8254 counter 0', () => {
  it('mode 2 (rate generator): counts N…1 and reloads; one IRQ 0 edge per N input clocks', () => {
    const { pit, irq, out, inb, at } = setup();
    out(0x43, 0x34); // counter 0, LSB then MSB, mode 2, binary
    out(0x40, 100);
    out(0x40, 0);
    expect(pit.nextDeadline()).toBe(timeOfTick(100));
    at(30);
    out(0x43, 0x00); // counter latch
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(70);
    at(99); // count 1: "OUT goes low for one clock" — not an edge yet
    pit.sync();
    expect(irq.rises).toBe(0);
    at(100);
    pit.sync();
    expect(irq.rises).toBe(1);
    expect(pit.nextDeadline()).toBe(timeOfTick(200));
    at(250);
    out(0x43, 0x00);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(50);
    expect(irq.rises).toBe(2); // the port access synced the edge at 200
  });

  it('late syncs merge missed edges into one and count them as coalesced', () => {
    const { pit, irq, out, at } = setup();
    out(0x43, 0x34);
    out(0x40, 10);
    out(0x40, 0);
    at(55);
    pit.sync();
    expect(irq.rises).toBe(1);
    expect(pit.stats).toEqual({ irqEdges: 1, coalesced: 4 });
    expect(pit.nextDeadline()).toBe(timeOfTick(60));
  });

  it('mode 3 (square wave): even N counts down by two, twice per period; OUT high for the first half', () => {
    const { pit, out, inb, at } = setup();
    out(0x43, 0x36); // mode 3
    out(0x40, 10);
    out(0x40, 0);
    const read = () => {
      out(0x43, 0x00);
      return inb(0x40) | (inb(0x40) << 8);
    };
    at(1);
    expect(read()).toBe(8);
    at(6);
    expect(read()).toBe(8);
    out(0x43, 0xe2); // read-back status of counter 0
    expect(inb(0x40) & 0x80).toBe(0); // OUT low in the second half
    at(3);
    expect(pit.counters[0].outAt(3)).toBe(true);
    expect(pit.nextDeadline()).toBe(timeOfTick(10));
  });

  it('mode 3 odd N: "OUT high for (N+1)/2 counts and low for (N-1)/2 counts"', () => {
    const { pit, out } = setup();
    out(0x43, 0x36);
    out(0x40, 5);
    out(0x40, 0);
    const c = pit.counters[0];
    expect([0, 1, 2, 3, 4].map((t) => c.outAt(t))).toEqual([true, true, true, false, false]);
  });

  it('access modes: LSB only and MSB only load one byte; lohi needs both', () => {
    const { pit, out, inb } = setup();
    out(0x43, 0x14); // LSB only, mode 2
    out(0x40, 0x80);
    expect(pit.counters[0].countReg).toBe(0x80);
    out(0x43, 0x24); // MSB only
    out(0x40, 0x02);
    expect(pit.counters[0].countReg).toBe(0x200);
    expect(inb(0x40)).toBe(0x02); // reads in MSB-only mode give the MSB
    out(0x43, 0x34);
    out(0x40, 0x34);
    // NULL COUNT until the whole count is written.
    out(0x43, 0xe2);
    expect(inb(0x40) & 0x40).toBe(0x40);
    out(0x40, 0x12);
    out(0x43, 0xe2);
    expect(inb(0x40)).toBe(0xb4); // OUT high (mode 2 starts high), count loaded, RW=11, mode 2
  });

  it('counter latch: the count is frozen until read, and a second latch before the read is ignored', () => {
    const { out, inb, at } = setup();
    out(0x43, 0x34);
    out(0x40, 0);
    out(0x40, 0x10); // 0x1000
    at(0x10);
    out(0x43, 0x00);
    at(0x20);
    out(0x43, 0x00); // ignored: "subsequent latch commands are ignored until the count is read"
    expect(inb(0x40)).toBe(0xf0);
    at(0x30);
    expect(inb(0x40)).toBe(0x0f); // still the latched MSB
    // After the latched value is read, reads follow the counter again.
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(0x1000 - 0x30);
  });

  it('read-back can latch status and count together: status comes first', () => {
    const { out, inb, at } = setup();
    out(0x43, 0x34);
    out(0x40, 100);
    out(0x40, 0);
    at(10);
    out(0x43, 0xc2); // read-back: count and status of counter 0
    expect(inb(0x40)).toBe(0x80 | 0x34); // OUT high, RW=11, mode 2, binary
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(90);
  });

  it('a new count in mode 2 takes effect at the end of the current period', () => {
    const { pit, out, at } = setup();
    out(0x43, 0x34);
    out(0x40, 100);
    out(0x40, 0);
    at(150);
    out(0x40, 10);
    out(0x40, 0);
    expect(pit.nextDeadline()).toBe(timeOfTick(200)); // current period completes
    at(200);
    pit.sync();
    expect(pit.nextDeadline()).toBe(timeOfTick(210));
    expect(pit.counters[0].countAt(205)).toBe(5);
  });

  it('mode 0: OUT low after the count is written, high at terminal count, one edge only', () => {
    const { pit, irq, out, at } = setup();
    out(0x43, 0x30); // mode 0
    out(0x40, 50);
    out(0x40, 0);
    expect(irq.level).toBe(false);
    at(49);
    pit.sync();
    expect(irq.level).toBe(false);
    at(50);
    pit.sync();
    expect(irq.level).toBe(true);
    expect(pit.nextDeadline()).toBeUndefined();
    at(60);
    expect(pit.counters[0].countAt(60)).toBe(0x10000 - 10); // the counter wraps and goes on
  });

  it('mode 0: writing the first byte of a new count stops counting', () => {
    const { pit, out, at } = setup();
    out(0x43, 0x30);
    out(0x40, 50);
    out(0x40, 0);
    at(20);
    out(0x40, 0x99);
    at(40);
    expect(pit.counters[0].countAt(40)).toBe(30);
  });

  it('BCD counting: the count 0x0100 means one hundred and reads back in BCD', () => {
    const { out, inb, at } = setup();
    out(0x43, 0x35); // mode 2, BCD
    out(0x40, 0x00);
    out(0x40, 0x01);
    at(1);
    out(0x43, 0x00);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(0x99);
  });

  it('modes 1 and 5 wait for a gate trigger, which never comes on counter 0 (GATE tied high)', () => {
    const { pit, out, at } = setup();
    out(0x43, 0x32); // mode 1
    out(0x40, 10);
    out(0x40, 0);
    at(100);
    expect(pit.counters[0].countAt(100)).toBe(10);
    expect(pit.nextDeadline()).toBeUndefined();
  });

  it(`modes 2 and 3: over any sync schedule, presented plus coalesced edges = one per N clocks, and the deadline is the next period end (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x34, 0x36),
        fc.integer({ min: 2, max: 0xffff }),
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 30 }),
        (cw, n, steps) => {
          const { pit, irq, out, at } = setup();
          out(0x43, cw);
          out(0x40, n & 0xff);
          out(0x40, n >> 8);
          let t = 0;
          for (const d of steps) {
            t += d;
            at(t);
            pit.sync();
            expect(pit.stats.irqEdges + pit.stats.coalesced).toBe(Math.floor(t / n));
            expect(irq.rises).toBe(pit.stats.irqEdges);
            expect(pit.nextDeadline()).toBe(timeOfTick((Math.floor(t / n) + 1) * n));
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('port 0x43 is write-only and reads as 0xFF', () => {
    const { inb } = setup();
    expect(inb(0x43)).toBe(0xff);
  });
});
