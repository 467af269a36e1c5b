/**
 * The x86 I/O port space (ports 0..0xFFFF) of the emulated legacy platform: devices register
 * port ranges; the engine forwards the guest's `hw.in8/16/32` and `hw.out8/16/32` traps here.
 *
 * PC BEHAVIOUR MODELLED
 * - An unmapped port reads as all ones (0xFF / 0xFFFF / 0xFFFFFFFF): nothing drives the ISA data
 *   lines and the pull-ups win. Writes to unmapped ports are dropped.
 * - A mapping declares the access widths its device decodes natively (default: bytes only). A
 *   wider access is split by the bus into little-endian pieces of the widest native width, at
 *   successive ports (`port`, `port + w`, …) — what the chipset does for a 16-bit `in` on an
 *   8-bit ISA device. Each piece is routed on its own (a piece may land on another device or on
 *   unmapped space).
 * - Overlapping registrations are refused (a host configuration error: it throws).
 *
 * ACCOUNTING. Every mapping counts the guest accesses that start in it (one per `read`/`write`
 * call, however the bus splits it, plus one per element of a string operation) and the string
 * operations themselves; unmapped accesses are counted on the bus. The engine's exit accounting
 * reads these counters.
 * @module
 */

/** Width of one port access in bytes. */
export type AccessSize = 1 | 2 | 4;

/** All-ones value of an access of `size` bytes (what an unmapped port reads as). */
export function allOnes(size: AccessSize): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

/**
 * A device behind one or more port ranges. `port` is the absolute port number; `size` is one of
 * the widths the mapping declared native, and the value is masked to it.
 */
export interface PortDevice {
  /** An `in` of `size` bytes at `port`; returns an unsigned value of that width. */
  read(port: number, size: AccessSize): number;
  /** An `out` of `size` bytes of `value` (already masked to the width) at `port`. */
  write(port: number, size: AccessSize, value: number): void;
  /**
   * Optional fast path for `ins`: fills `dst` (whose length is a multiple of `size`) with
   * `dst.length / size` successive reads of `port`, little-endian. Must behave exactly like that
   * many `read` calls.
   */
  readString?(port: number, size: AccessSize, dst: Uint8Array): void;
  /** Optional fast path for `outs`, the counterpart of {@link PortDevice.readString}. */
  writeString?(port: number, size: AccessSize, src: Uint8Array): void;
}

/** Counters of one port range. */
export interface PortRangeStats {
  /** `in` accesses that started in the range (string operations count each element). */
  reads: number;
  /** `out` accesses that started in the range (string operations count each element). */
  writes: number;
  /** String operations (`ins`/`outs`) that started in the range, whatever their length. */
  strings: number;
  /** Items moved by those string operations (also counted in `reads`/`writes`); exits = reads + writes - stringItems + strings. */
  stringItems: number;
}

/** What a device passes to {@link PortBus.register}. */
export interface PortRangeSpec {
  /** Name for reports (e.g. `pic-master`, `ata0`). */
  name: string;
  /** First port. */
  base: number;
  /** Number of ports (≥ 1). */
  length: number;
  /** The device that decodes the range. */
  device: PortDevice;
  /** Widths the device decodes natively (default `[1]`); wider accesses are split by the bus. */
  sizes?: readonly AccessSize[];
}

/** One registered range. */
export class PortMapping {
  /** See {@link PortRangeSpec.name}. */
  readonly name: string;
  /** First port. */
  readonly base: number;
  /** Number of ports. */
  readonly length: number;
  /** The device. */
  readonly device: PortDevice;
  /** Counters (see {@link PortRangeStats}). */
  readonly stats: PortRangeStats = { reads: 0, writes: 0, strings: 0, stringItems: 0 };
  /** @internal Bit mask of native widths (1, 2, 4 → bits 1, 2, 4). */
  readonly widthMask: number;

  /** @internal Made by {@link PortBus.register}. */
  constructor(spec: PortRangeSpec) {
    this.name = spec.name;
    this.base = spec.base;
    this.length = spec.length;
    this.device = spec.device;
    let m = 0;
    for (const s of spec.sizes ?? [1]) m |= s;
    this.widthMask = m === 0 ? 1 : m;
  }

  /** The widest native width below `size` (the split width for a wider access). */
  splitWidth(size: AccessSize): AccessSize {
    if (size === 4 && (this.widthMask & 2) !== 0) return 2;
    return 1;
  }
}

/** The I/O port space. */
export class PortBus {
  /** `in` accesses to ports no device decodes. */
  unmappedReads = 0;
  /** `out` accesses to ports no device decodes. */
  unmappedWrites = 0;

  // port → mapping; a flat table keeps the per-access cost at one array load.
  private readonly table: (PortMapping | undefined)[] = new Array<PortMapping | undefined>(0x10000);
  private readonly list: PortMapping[] = [];

  /** Maps `spec.base .. spec.base + spec.length - 1`; throws if outside 0..0xFFFF or overlapping. */
  register(spec: PortRangeSpec): PortMapping {
    const { base, length } = spec;
    if (!Number.isInteger(base) || !Number.isInteger(length) || length < 1 || base < 0 || base + length > 0x10000) {
      throw new Error(`port range ${spec.name}: bad range ${base}+${length}`);
    }
    for (let p = base; p < base + length; p++) {
      const other = this.table[p];
      if (other !== undefined) throw new Error(`port range ${spec.name} (0x${hex(base)}+${length}) overlaps ${other.name} at port 0x${hex(p)}`);
    }
    const m = new PortMapping(spec);
    for (let p = base; p < base + length; p++) this.table[p] = m;
    this.list.push(m);
    return m;
  }

  /** Removes a mapping (its ports become unmapped). */
  unregister(m: PortMapping): void {
    const i = this.list.indexOf(m);
    if (i < 0) return;
    this.list.splice(i, 1);
    for (let p = m.base; p < m.base + m.length; p++) this.table[p] = undefined;
  }

  /** The registered mappings, in registration order. */
  get mappings(): readonly PortMapping[] {
    return this.list;
  }

  /** The mapping decoding `port`, if any. */
  lookup(port: number): PortMapping | undefined {
    return this.table[port & 0xffff];
  }

  /** A guest `in` of `size` bytes at `port`. */
  read(port: number, size: AccessSize): number {
    port &= 0xffff;
    const m = this.table[port];
    if (m === undefined) {
      this.unmappedReads++;
      return allOnes(size);
    }
    m.stats.reads++;
    return this.route(m, port, size);
  }

  /** A guest `out` of `size` bytes of `value` at `port`. */
  write(port: number, size: AccessSize, value: number): void {
    port &= 0xffff;
    const m = this.table[port];
    if (m === undefined) {
      this.unmappedWrites++;
      return;
    }
    m.stats.writes++;
    this.routeWrite(m, port, size, value);
  }

  /**
   * A guest `ins`: `dst.length / size` reads of `port` (all at the same port, as `rep insw`
   * does), little-endian into `dst`. Counted as one string operation plus one read per element.
   */
  readString(port: number, size: AccessSize, dst: Uint8Array): void {
    port &= 0xffff;
    const count = Math.floor(dst.length / size);
    const m = this.table[port];
    if (m === undefined) {
      this.unmappedReads += count;
      dst.fill(0xff, 0, count * size);
      return;
    }
    m.stats.strings++;
    m.stats.stringItems += count;
    m.stats.reads += count;
    if (m.device.readString !== undefined && (m.widthMask & size) !== 0) {
      m.device.readString(port, size, dst.subarray(0, count * size));
      return;
    }
    for (let i = 0; i < count; i++) putLe(dst, i * size, size, this.route(m, port, size));
  }

  /** A guest `outs`, the counterpart of {@link PortBus.readString}. */
  writeString(port: number, size: AccessSize, src: Uint8Array): void {
    port &= 0xffff;
    const count = Math.floor(src.length / size);
    const m = this.table[port];
    if (m === undefined) {
      this.unmappedWrites += count;
      return;
    }
    m.stats.strings++;
    m.stats.stringItems += count;
    m.stats.writes += count;
    if (m.device.writeString !== undefined && (m.widthMask & size) !== 0) {
      m.device.writeString(port, size, src.subarray(0, count * size));
      return;
    }
    for (let i = 0; i < count; i++) this.routeWrite(m, port, size, getLe(src, i * size, size));
  }

  // Dispatch without counting: natively, or split into pieces routed one by one.
  private route(m: PortMapping, port: number, size: AccessSize): number {
    if ((m.widthMask & size) !== 0) return m.device.read(port, size) >>> 0;
    const w = m.splitWidth(size);
    let v = 0;
    for (let off = 0; off < size; off += w) {
      const p = (port + off) & 0xffff;
      const pm = this.table[p];
      const piece = pm === undefined ? allOnes(w) : this.route(pm, p, w);
      v += piece * 2 ** (8 * off);
    }
    return v >>> 0;
  }

  private routeWrite(m: PortMapping, port: number, size: AccessSize, value: number): void {
    value = size === 4 ? value >>> 0 : value & (size === 1 ? 0xff : 0xffff);
    if ((m.widthMask & size) !== 0) {
      m.device.write(port, size, value);
      return;
    }
    const w = m.splitWidth(size);
    const mask = w === 1 ? 0xff : 0xffff;
    for (let off = 0; off < size; off += w) {
      const p = (port + off) & 0xffff;
      const pm = this.table[p];
      if (pm !== undefined) this.routeWrite(pm, p, w, Math.floor(value / 2 ** (8 * off)) & mask);
    }
  }
}

/** Stores `v` as `size` little-endian bytes at `off`. */
export function putLe(b: Uint8Array, off: number, size: AccessSize, v: number): void {
  b[off] = v & 0xff;
  if (size >= 2) b[off + 1] = (v >>> 8) & 0xff;
  if (size === 4) {
    b[off + 2] = (v >>> 16) & 0xff;
    b[off + 3] = (v >>> 24) & 0xff;
  }
}

/** Loads `size` little-endian bytes at `off` as an unsigned number. */
export function getLe(b: Uint8Array, off: number, size: AccessSize): number {
  let v = b[off] ?? 0;
  if (size >= 2) v |= (b[off + 1] ?? 0) << 8;
  if (size === 4) v = (v | ((b[off + 2] ?? 0) << 16) | ((b[off + 3] ?? 0) << 24)) >>> 0;
  return v;
}

function hex(n: number): string {
  return n.toString(16).padStart(4, '0');
}
