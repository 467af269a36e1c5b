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
});
