/**
 * A domain's MMIO address space: a separate 32-bit address space (not linear memory) that the
 * guest reaches with the `hw.mmio_read32` / `hw.mmio_write32` traps. Devices map fixed windows
 * into it. The core knows only this interface; devices (src/virtio, src/legacy) implement it and
 * the toolstack maps them, so the core never imports a device.
 * @module
 */

/** A device register window. Offsets are relative to the window base; accesses are 32-bit. */
export interface MmioDevice {
  /** Window size in bytes. */
  readonly size: number;
  /** A 32-bit read at `offset` (4-byte aligned, inside the window). Returns a u32. */
  read32(offset: number): number;
  /** A 32-bit write at `offset` (4-byte aligned, inside the window). */
  write32(offset: number, value: number): void;
  /** Name for exit reports (a virtio device's manifest name); the window's base when absent. */
  readonly name?: string;
}

/**
 * One mapped window and the guest accesses routed to it. The counters live on the window object
 * so that counting costs an increment on the trap path, no lookup or allocation.
 */
export interface MmioWindow {
  /** First address. */
  readonly base: number;
  /** First address past the window. */
  readonly end: number;
  /** The device. */
  readonly dev: MmioDevice;
  /** The device's name, or `mmio@0x<base>` (hex) when it has none. */
  readonly name: string;
  /** Reads routed to the device. */
  readonly reads: number;
  /** Writes routed to the device. */
  readonly writes: number;
}

/** The bus's own record of a window: the counters are written only here. */
interface Mapping extends MmioWindow {
  reads: number;
  writes: number;
}

/** Value read from an unmapped or misaligned address: all ones, as an empty bus reads on hardware. */
export const MMIO_UNMAPPED = 0xffffffff;

/** The MMIO bus of one domain. */
export class MmioBus {
  private readonly maps: Mapping[] = [];
  /** Accesses that hit no window or were misaligned (a guest mistake, counted for reports). */
  strayAccesses = 0;

  /** Maps a device at `base` (4 KiB aligned); throws if it overlaps another window (a host configuration error). */
  map(base: number, dev: MmioDevice): void {
    if (base % 4096 !== 0 || base < 0 || base + dev.size > 0x1_0000_0000) throw new Error(`mmio: bad window base 0x${base.toString(16)}`);
    const end = base + dev.size;
    for (const m of this.maps) {
      if (base < m.end && m.base < end) throw new Error(`mmio: window 0x${base.toString(16)} overlaps 0x${m.base.toString(16)}`);
    }
    this.maps.push({ base, end, dev, name: dev.name ?? `mmio@0x${base.toString(16)}`, reads: 0, writes: 0 });
  }

  /**
   * The mapped windows with their access counters, in mapping order. An unmapped window's
   * counters go with it (a report taken after a hot-unplug no longer lists it).
   */
  get windows(): readonly MmioWindow[] {
    return this.maps;
  }

  /** Unmaps the device mapped at `base` (hot-unplug). */
  unmap(base: number): void {
    const i = this.maps.findIndex((m) => m.base === base);
    if (i >= 0) this.maps.splice(i, 1);
  }

  private find(addr: number): Mapping | undefined {
    for (const m of this.maps) if (addr >= m.base && addr + 4 <= m.end) return m;
    return undefined;
  }

  /** A guest read: routed to the device, or all ones when nothing is there. `addr` is a u32. */
  read32(addr: number): number {
    const m = (addr & 3) === 0 ? this.find(addr) : undefined;
    if (m === undefined) {
      this.strayAccesses++;
      return MMIO_UNMAPPED;
    }
    m.reads++;
    return m.dev.read32(addr - m.base) >>> 0;
  }

  /** A guest write: routed to the device, or dropped when nothing is there. `addr` is a u32. */
  write32(addr: number, value: number): void {
    const m = (addr & 3) === 0 ? this.find(addr) : undefined;
    if (m === undefined) {
      this.strayAccesses++;
      return;
    }
    m.writes++;
    m.dev.write32(addr - m.base, value >>> 0);
  }
}
