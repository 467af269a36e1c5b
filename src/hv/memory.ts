/**
 * Guest memory behind bounds- and overflow-checked accessors.
 *
 * Guest memory is untrusted: every guest-supplied address reaches the host as a
 * {@link GuestAddr} and is only dereferenced here, after {@link GuestMemory.inBounds} says that
 * `[addr, addr + len)` lies inside the memory. Addresses and lengths are u32 values held in JS
 * numbers, so `addr + len` cannot wrap: a range that would wrap in 32 bits simply ends past the
 * memory and is refused.
 *
 * The memory is a shared `WebAssembly.Memory`. A guest can grow it with `memory.grow` without an
 * exit, so the cached views are refreshed whenever a check fails against a stale size.
 * @module
 */
import type { GuestAddr } from '../abi/index.ts';

/** Wasm page size in bytes. */
export const WASM_PAGE = 65536;

const TWO_32 = 4294967296;

/** A domain's memory, as the host sees it. */
export class GuestMemory {
  /** The shared Wasm memory the guest imports as `env.memory`. */
  readonly memory: WebAssembly.Memory;
  /** Current size in bytes (refreshed when the guest grows its memory). */
  size = 0;
  /** Byte view over the whole memory. */
  u8!: Uint8Array;
  /** 32-bit view (for `Atomics` on aligned words of shared structures). */
  i32!: Int32Array;
  private dv!: DataView;
  /**
   * The most the memory may grow to (its WebAssembly maximum, fixed when it was made). For a
   * wrapped memory whose maximum the host was not told, its size then: a guest `memory.grow`
   * is never granted beyond what the host knows will succeed (reservation.ts `growMemory`).
   */
  readonly maxBytes: number;

  /** Wraps an existing memory whose maximum is `maxBytes` (default: its present size). */
  constructor(memory: WebAssembly.Memory, maxBytes?: number) {
    this.memory = memory;
    this.refresh();
    this.maxBytes = maxBytes ?? this.size;
  }

  /** Creates a shared memory of `bytes` (a multiple of 64 KiB) that may grow to `maxBytes`. */
  static create(bytes: number, maxBytes: number): GuestMemory {
    return new GuestMemory(
      new WebAssembly.Memory({ initial: bytes / WASM_PAGE, maximum: maxBytes / WASM_PAGE, shared: true }),
      maxBytes,
    );
  }

  /** Re-reads the buffer after a possible `memory.grow`. Returns true when the size changed. */
  refresh(): boolean {
    const buf = this.memory.buffer as ArrayBuffer;
    if (buf.byteLength === this.size && this.u8 !== undefined) return false;
    this.size = buf.byteLength;
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf, 0, this.size >>> 2);
    this.dv = new DataView(buf);
    return true;
  }

  /** True when `[addr, addr + len)` lies inside guest memory. `addr` and `len` are u32. */
  inBounds(addr: GuestAddr, len: number): boolean {
    if (addr + len <= this.size) return true;
    // The guest may have grown its memory since we last looked.
    return this.refresh() && addr + len <= this.size;
  }

  /** Reads a u32 at a checked address. */
  u32(addr: GuestAddr): number {
    return this.dv.getUint32(addr, true);
  }

  /** Writes a u32 at a checked address. */
  setU32(addr: GuestAddr, v: number): void {
    this.dv.setUint32(addr, v >>> 0, true);
  }

  /** Reads an i32 at a checked address. */
  i32At(addr: GuestAddr): number {
    return this.dv.getInt32(addr, true);
  }

  /** Writes an i32 at a checked address. */
  setI32(addr: GuestAddr, v: number): void {
    this.dv.setInt32(addr, v | 0, true);
  }

  /**
   * Reads a u64 as a JS number. Values above 2^53 lose precision; the ABI's u64 values are
   * nanosecond times, for which 2^53 ns is 104 days of guest uptime.
   */
  u64(addr: GuestAddr): number {
    return this.dv.getUint32(addr, true) + this.dv.getUint32(addr + 4, true) * TWO_32;
  }

  /** Writes a non-negative integer below 2^53 as a u64. */
  setU64(addr: GuestAddr, v: number): void {
    this.dv.setUint32(addr, v % TWO_32, true);
    this.dv.setUint32(addr + 4, Math.floor(v / TWO_32), true);
  }

  /** A copy of `[addr, addr + len)`: copy once, then validate and act on the copy. */
  copyOut(addr: GuestAddr, len: number): Uint8Array {
    return this.u8.slice(addr, addr + len);
  }

  /**
   * Copies `len` bytes from `[srcAddr, …)` of `src` (this memory or another domain's) to
   * `[dstAddr, …)` of this one, both checked, as memmove: no intermediate copy is made, and when
   * both ranges are in the same memory `TypedArray.set` copies as if through a buffer.
   */
  copyFrom(src: GuestMemory, srcAddr: GuestAddr, dstAddr: GuestAddr, len: number): void {
    this.u8.set(src.u8.subarray(srcAddr, srcAddr + len), dstAddr);
  }

  /** Copies `[addr, addr + into.length)` into a host buffer (a scratch copy without an allocation). */
  readInto(addr: GuestAddr, into: Uint8Array): void {
    into.set(this.u8.subarray(addr, addr + into.length));
  }

  /** Copies bytes into guest memory at a checked address. */
  copyIn(addr: GuestAddr, bytes: Uint8Array): void {
    this.u8.set(bytes, addr);
  }

  /** Zeroes `[addr, addr + len)` at a checked address. */
  fill(addr: GuestAddr, len: number, value = 0): void {
    this.u8.fill(value, addr, addr + len);
  }
}
