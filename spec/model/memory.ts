/**
 * How the model sees guest memory: a read-only view, the pointer rule, and little-endian reads.
 *
 * Calls never change memory in place; they return the byte ranges they write
 * ({@link ModelWrite}) and whoever runs the model applies them.
 * @module
 */
import type { ModelWrite } from './state.ts';

/** A read-only view of the caller's memory, for pointer arguments. */
export interface ModelMemory {
  /** Size of the memory in bytes. */
  readonly size: number;
  /** Copies `len` bytes from `addr`; only called for ranges that passed {@link inBounds}. */
  read(addr: number, len: number): Uint8Array;
  /**
   * Guest address of this domain's shared_info page, when the runner knows it. With it, bytes a
   * call writes there (a guest may point an output argument anywhere, "a guest that writes there
   * only harms itself") change the pending/mask/vcpu_info fields of the state, exactly as a write
   * by the guest would; and reads from it see the current state. Absent: shared_info is not in
   * this memory (unit tests).
   */
  readonly sharedInfo?: number;
  /**
   * Read-only views of the other domains' memories, for the calls that reach into them
   * (`grant_copy` reads a granting domain's table and copies between domains). Each view has its
   * own `sharedInfo`. Absent, or undefined for a domain: that domain's memory reads as zeros.
   */
  readonly foreign?: (dom: number) => ModelMemory | undefined;
}

const TWO_32 = 2 ** 32;

/**
 * The pointer rule of every call. spec error EFAULT: "A guest pointer (with its length) does not
 * lie inside the guest's memory, or wraps around the 32-bit address space." So `[addr, addr+len)`
 * is valid when `addr + len <= size`, computed without 32-bit wraparound: JS numbers are exact
 * here, so a range that would wrap simply ends past 2^32 and past the memory.
 */
export function inBounds(mem: ModelMemory, addr: number, len: number): boolean {
  return addr >= 0 && len >= 0 && addr + len <= mem.size && addr + len <= TWO_32;
}

/** Reads a little-endian u32 ("All multi-byte values in memory are little-endian"). */
export function readU32(mem: ModelMemory, addr: number): number {
  const b = mem.read(addr, 4);
  return ((b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16) | ((b[3] ?? 0) << 24)) >>> 0;
}

/**
 * Reads a little-endian u64 as a number. Exact below 2^53 ns (about 104 days of system time);
 * larger deadlines round, which only matters for deadlines that never come anyway.
 */
export function readU64(mem: ModelMemory, addr: number): number {
  return readU32(mem, addr) + readU32(mem, addr + 4) * TWO_32;
}

/** Encodes u32 values little-endian, one after the other. */
export function u32Bytes(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint32(i * 4, v >>> 0, true));
  return out;
}

/**
 * A memory over a byte array (tests, and the model-backed host), with the other domains' views
 * when given (see {@link ModelMemory.foreign}).
 */
export function memoryOf(bytes: Uint8Array, sharedInfo?: number, foreign?: (dom: number) => ModelMemory | undefined): ModelMemory {
  const base = {
    size: bytes.length,
    read: (addr: number, len: number): Uint8Array => bytes.slice(addr, addr + len),
  };
  return { ...base, ...(sharedInfo === undefined ? {} : { sharedInfo }), ...(foreign === undefined ? {} : { foreign }) };
}

/**
 * `mem` as seen after `writes` (later writes win), for calls that read what an earlier part of the
 * same call wrote (the entries of a multicall are read one at a time, after the previous entries
 * ran, as Xen does). Writes with a `dom` land on that domain's {@link ModelMemory.foreign} view
 * (when `mem` has one).
 */
export function overlay(mem: ModelMemory, writes: readonly ModelWrite[]): ModelMemory {
  if (writes.length === 0) return mem;
  const own = writes.filter((w) => w.dom === undefined);
  const others = writes.filter((w) => w.dom !== undefined);
  const foreign = mem.foreign;
  return {
    ...mem,
    read(addr: number, len: number): Uint8Array {
      const out = mem.read(addr, len);
      for (const w of own) applyBytes(out, addr, w.addr, w.bytes);
      return out;
    },
    ...(foreign === undefined || others.length === 0
      ? {}
      : {
          foreign(dom: number): ModelMemory | undefined {
            const base = foreign(dom);
            const mine = others.filter((w) => w.dom === dom).map((w) => ({ addr: w.addr, bytes: w.bytes }));
            return base === undefined ? undefined : overlay(base, mine);
          },
        }),
  };
}

/** A memory of `size` bytes that reads as zeros (another domain's memory nobody gave a view of). */
export function zeroMemory(size: number): ModelMemory {
  return { size, read: (_addr: number, len: number): Uint8Array => new Uint8Array(len) };
}

/**
 * Copies the part of `src` (placed at guest address `srcAddr`) that falls inside `dst` (placed at
 * `dstAddr`) into `dst`.
 */
export function applyBytes(dst: Uint8Array, dstAddr: number, srcAddr: number, src: Uint8Array): void {
  const from = Math.max(dstAddr, srcAddr);
  const to = Math.min(dstAddr + dst.length, srcAddr + src.length);
  for (let a = from; a < to; a++) dst[a - dstAddr] = src[a - srcAddr] ?? 0;
}
