/**
 * The port I/O bus: routing, all-ones for unmapped ports, refused overlaps, splitting of wide
 * accesses into native pieces, string operations and the per-range counters.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AccessSize, type PortDevice, PortBus, getLe, putLe } from '../../../src/legacy/port-bus.ts';
import { RUNS, SEED } from '../../support/seed.ts';

/** A byte-register file that logs every access it decodes. */
class Regs implements PortDevice {
  readonly log: string[] = [];
  readonly mem = new Map<number, number>();
  read(port: number, size: AccessSize): number {
    this.log.push(`r${size}@${port.toString(16)}`);
    if (size === 1) return this.mem.get(port) ?? 0;
    let v = 0;
    for (let i = 0; i < size; i++) v += (this.mem.get(port + i) ?? 0) * 2 ** (8 * i);
    return v;
  }
  write(port: number, size: AccessSize, value: number): void {
    this.log.push(`w${size}@${port.toString(16)}=${value.toString(16)}`);
    for (let i = 0; i < size; i++) this.mem.set(port + i, Math.floor(value / 2 ** (8 * i)) & 0xff);
  }
}

describe('PortBus', () => {
  it('reads all ones from unmapped ports at every width and drops writes (PC: pull-ups on the ISA data lines)', () => {
    const bus = new PortBus();
    expect(bus.read(0x1234, 1)).toBe(0xff);
    expect(bus.read(0x1234, 2)).toBe(0xffff);
    expect(bus.read(0x1234, 4)).toBe(0xffffffff);
    bus.write(0x1234, 1, 0);
    expect(bus.unmappedReads).toBe(3);
    expect(bus.unmappedWrites).toBe(1);
  });

  it('routes accesses to the mapping that decodes the port and counts them per range', () => {
    const bus = new PortBus();
    const a = new Regs();
    const b = new Regs();
    const ma = bus.register({ name: 'a', base: 0x60, length: 4, device: a });
    const mb = bus.register({ name: 'b', base: 0x70, length: 2, device: b });
    bus.write(0x61, 1, 0x5a);
    expect(bus.read(0x61, 1)).toBe(0x5a);
    expect(bus.read(0x71, 1)).toBe(0);
    expect(ma.stats).toEqual({ reads: 1, writes: 1, strings: 0, stringItems: 0 });
    expect(mb.stats).toEqual({ reads: 1, writes: 0, strings: 0, stringItems: 0 });
    expect(bus.lookup(0x63)).toBe(ma);
    expect(bus.lookup(0x64)).toBeUndefined();
  });

  it('refuses overlapping or out-of-range registrations and frees ports on unregister', () => {
    const bus = new PortBus();
    const m = bus.register({ name: 'a', base: 0x3f8, length: 8, device: new Regs() });
    expect(() => bus.register({ name: 'b', base: 0x3ff, length: 2, device: new Regs() })).toThrow(/overlaps a at port 0x03ff/);
    expect(() => bus.register({ name: 'c', base: 0xffff, length: 2, device: new Regs() })).toThrow(/bad range/);
    expect(() => bus.register({ name: 'd', base: 0x10, length: 0, device: new Regs() })).toThrow(/bad range/);
    bus.unregister(m);
    expect(bus.read(0x3f8, 1)).toBe(0xff);
    expect(() => bus.register({ name: 'b', base: 0x3ff, length: 2, device: new Regs() })).not.toThrow();
  });

  it('splits a 16-bit access to a byte-wide device into two byte accesses at port and port+1, little-endian', () => {
    const bus = new PortBus();
    const a = new Regs();
    bus.register({ name: 'a', base: 0x20, length: 2, device: a });
    bus.write(0x20, 2, 0xbeef);
    expect(a.log).toEqual(['w1@20=ef', 'w1@21=be']);
    expect(bus.read(0x20, 2)).toBe(0xbeef);
    // A piece that falls on unmapped space reads as 0xFF.
    expect(bus.read(0x21, 2)).toBe(0xffbe);
  });

  it('splits a 32-bit access to a 16-bit device into two 16-bit accesses at port and port+2', () => {
    const bus = new PortBus();
    const a = new Regs();
    bus.register({ name: 'a', base: 0x300, length: 4, device: a, sizes: [1, 2] });
    bus.write(0x300, 4, 0x11223344);
    expect(a.log).toEqual(['w2@300=3344', 'w2@302=1122']);
    expect(bus.read(0x300, 4)).toBe(0x11223344);
  });

  it('passes native widths through unsplit', () => {
    const bus = new PortBus();
    const a = new Regs();
    bus.register({ name: 'a', base: 0x1f0, length: 1, device: a, sizes: [1, 2, 4] });
    bus.write(0x1f0, 4, 0xdeadbeef);
    expect(a.log).toEqual(['w4@1f0=deadbeef']);
  });

  it('string operations count one string plus one access per element and fall back to element accesses', () => {
    const bus = new PortBus();
    const a = new Regs();
    a.mem.set(0x40, 7);
    const m = bus.register({ name: 'a', base: 0x40, length: 4, device: a });
    const dst = new Uint8Array(4);
    bus.readString(0x40, 1, dst);
    expect([...dst]).toEqual([7, 7, 7, 7]);
    bus.writeString(0x41, 2, Uint8Array.of(1, 2, 3, 4));
    expect(m.stats).toEqual({ reads: 4, writes: 2, strings: 2, stringItems: 6 });
    expect(a.log.slice(-4)).toEqual(['w1@41=1', 'w1@42=2', 'w1@41=3', 'w1@42=4']);
    const un = new Uint8Array(4);
    bus.readString(0x999, 2, un);
    expect([...un]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(bus.unmappedReads).toBe(2);
  });

  it('uses a device fast path for strings when it has one', () => {
    const bus = new PortBus();
    let got: number[] = [];
    bus.register({
      name: 'fast',
      base: 0x10,
      length: 1,
      sizes: [2],
      device: {
        read: () => 0,
        write: () => {},
        readString: (_p, _s, dst) => dst.fill(9),
        writeString: (_p, _s, src) => (got = [...src]),
      },
    });
    const d = new Uint8Array(6);
    bus.readString(0x10, 2, d);
    expect([...d]).toEqual([9, 9, 9, 9, 9, 9]);
    bus.writeString(0x10, 2, Uint8Array.of(1, 2));
    expect(got).toEqual([1, 2]);
  });

  it(`putLe/getLe round-trip any value at every width (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.constantFrom<AccessSize>(1, 2, 4), fc.integer({ min: 0, max: 0xffffffff }), (size, v) => {
        const b = new Uint8Array(4);
        putLe(b, 0, size, v);
        const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
        expect(getLe(b, 0, size)).toBe((v & mask) >>> 0);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
