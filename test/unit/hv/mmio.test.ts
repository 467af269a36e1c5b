/**
 * The per-domain MMIO bus: windows map into a separate 32-bit space, overlapping windows are a
 * host configuration error, and a stray access (unmapped or misaligned) reads all ones or is
 * dropped, counted, and never reaches a device.
 */
import { describe, expect, it } from 'vitest';
import { MMIO_DEVICE_BASE, MMIO_WINDOW_SIZE } from '../../../src/abi/index.ts';
import { MMIO_UNMAPPED, MmioBus } from '../../../src/hv/index.ts';
import type { MmioDevice } from '../../../src/hv/index.ts';

/** A register file of `size` bytes that records every access it gets. */
class FakeDevice implements MmioDevice {
  readonly regs: Uint32Array;
  readonly log: string[] = [];
  constructor(readonly size: number) {
    this.regs = new Uint32Array(size / 4);
  }
  read32(offset: number): number {
    this.log.push(`r ${offset}`);
    return this.regs[offset / 4]!;
  }
  write32(offset: number, value: number): void {
    this.log.push(`w ${offset} ${value}`);
    this.regs[offset / 4] = value;
  }
}

describe('MmioBus', () => {
  it('routes reads and writes to the window by offset, values as u32', () => {
    const bus = new MmioBus();
    const a = new FakeDevice(0x100);
    const b = new FakeDevice(MMIO_WINDOW_SIZE);
    bus.map(MMIO_DEVICE_BASE, a);
    bus.map(MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE, b);
    bus.write32(MMIO_DEVICE_BASE + 8, -1);
    bus.write32(MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE + 0xffc, 0x12345678);
    expect(a.log).toEqual([`w 8 ${0xffffffff}`]);
    expect(b.log).toEqual([`w 4092 ${0x12345678}`]);
    expect(bus.read32(MMIO_DEVICE_BASE + 8)).toBe(0xffffffff);
    expect(bus.read32(MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE + 0xffc)).toBe(0x12345678);
    expect(bus.strayAccesses).toBe(0);
  });

  it('refuses a window that overlaps another, or a bad base', () => {
    const bus = new MmioBus();
    bus.map(0x1000, new FakeDevice(0x2000));
    expect(() => bus.map(0x2000, new FakeDevice(0x1000))).toThrow(/overlaps 0x1000/);
    expect(() => bus.map(0x0, new FakeDevice(0x1004))).toThrow(/overlaps/);
    expect(() => bus.map(0x1800, new FakeDevice(0x100))).toThrow(/bad window base/);
    expect(() => bus.map(0xfffff000, new FakeDevice(0x2000))).toThrow(/bad window base/);
    // Adjacent windows are fine.
    bus.map(0x3000, new FakeDevice(0x1000));
    bus.map(0x0, new FakeDevice(0x1000));
  });

  it('reads all ones from an unmapped address and drops writes there', () => {
    const bus = new MmioBus();
    const dev = new FakeDevice(0x100);
    bus.map(MMIO_DEVICE_BASE, dev);
    expect(bus.read32(0)).toBe(MMIO_UNMAPPED);
    expect(bus.read32(MMIO_DEVICE_BASE + 0x100)).toBe(0xffffffff); // just past the window
    expect(bus.read32(MMIO_DEVICE_BASE - 4)).toBe(0xffffffff);
    bus.write32(MMIO_DEVICE_BASE + 0x100, 1);
    bus.write32(0xfffffffc, 1);
    expect(dev.log).toEqual([]);
    expect(bus.strayAccesses).toBe(5);
  });

  it('treats a misaligned access as stray, even inside a window', () => {
    const bus = new MmioBus();
    const dev = new FakeDevice(0x100);
    bus.map(MMIO_DEVICE_BASE, dev);
    for (const off of [1, 2, 3, 0xfd]) {
      expect(bus.read32(MMIO_DEVICE_BASE + off)).toBe(MMIO_UNMAPPED);
      bus.write32(MMIO_DEVICE_BASE + off, 7);
    }
    expect(dev.log).toEqual([]);
    expect(bus.strayAccesses).toBe(8);
  });

  it('unmaps a window (then it reads all ones and can be mapped again)', () => {
    const bus = new MmioBus();
    const dev = new FakeDevice(0x100);
    dev.regs[0] = 42;
    bus.map(MMIO_DEVICE_BASE, dev);
    expect(bus.read32(MMIO_DEVICE_BASE)).toBe(42);
    bus.unmap(MMIO_DEVICE_BASE);
    expect(bus.read32(MMIO_DEVICE_BASE)).toBe(MMIO_UNMAPPED);
    bus.map(MMIO_DEVICE_BASE, dev);
    expect(bus.read32(MMIO_DEVICE_BASE)).toBe(42);
  });

  it('the 32-bit space ends at 2^32: a window may end exactly there; a negative base is refused', () => {
    const bus = new MmioBus();
    const top = new FakeDevice(0x1000);
    top.regs[0x3ff] = 9;
    bus.map(0xffff_f000, top);
    expect(bus.read32(0xffff_fffc)).toBe(9);
    expect(() => bus.map(-0x1000, new FakeDevice(0x1000))).toThrow(/bad window base/);
  });

  it('unmap removes only the window at that base; an unknown base changes nothing', () => {
    const bus = new MmioBus();
    const [a, b] = [new FakeDevice(0x100), new FakeDevice(0x100)];
    a.regs[0] = 1;
    b.regs[0] = 2;
    bus.map(0x1000, a);
    bus.map(0x2000, b);
    bus.unmap(0x5000);
    expect([bus.read32(0x1000), bus.read32(0x2000)]).toEqual([1, 2]);
    bus.unmap(0x2000);
    expect([bus.read32(0x1000), bus.read32(0x2000)]).toEqual([1, MMIO_UNMAPPED]);
    bus.map(0x2000, b);
    bus.unmap(0x1000);
    expect([bus.read32(0x1000), bus.read32(0x2000)]).toEqual([MMIO_UNMAPPED, 2]);
  });

  it('counts the reads and writes routed to each window apart; strays count on the bus only', () => {
    const bus = new MmioBus();
    const a = Object.assign(new FakeDevice(0x100), { name: 'vda' });
    const b = new FakeDevice(0x1000);
    bus.map(0x1000, a);
    bus.map(0x3000, b);
    expect(bus.windows.map((w) => [w.name, w.base, w.end, w.reads, w.writes])).toEqual([
      ['vda', 0x1000, 0x1100, 0, 0],
      ['mmio@0x3000', 0x3000, 0x4000, 0, 0],
    ]);
    bus.read32(0x1000);
    bus.read32(0x10fc);
    bus.write32(0x1004, 1);
    bus.write32(0x3ffc, 2);
    bus.read32(0x1100); // past a's end: stray
    bus.read32(0x1002); // misaligned inside a: stray
    bus.write32(0x2000, 3); // between windows: stray
    expect(bus.windows.map((w) => [w.reads, w.writes])).toEqual([
      [2, 1],
      [0, 1],
    ]);
    expect(bus.windows[0]!.dev).toBe(a);
    expect(bus.strayAccesses).toBe(3);
    // Counts and device accesses agree one to one.
    expect(a.log.length + b.log.length).toBe(4);
  });

  it('a window mapped again starts its counters at zero; unmapping drops it from the list', () => {
    const bus = new MmioBus();
    const a = new FakeDevice(0x100);
    bus.map(0x1000, a);
    bus.write32(0x1000, 1);
    bus.unmap(0x1000);
    expect(bus.windows).toEqual([]);
    bus.map(0x1000, a);
    expect(bus.windows.map((w) => [w.reads, w.writes])).toEqual([[0, 0]]);
  });
});
