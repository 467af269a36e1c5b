/**
 * Guest memory for device tests: a shared Wasm memory wrapped in the host's GuestMemory, plus
 * snapshot/diff helpers for "what did the device write?" checks.
 */
import { GuestMemory, WASM_PAGE } from '../../src/hv/memory.ts';
import type { GuestAddr } from '../../src/abi/index.ts';

/** Casts a test constant to a guest address (tests are the other place allowed to mint them). */
export const A = (n: number): GuestAddr => n as GuestAddr;

/**
 * A fresh, zeroed, shared guest memory of at least `bytes` (rounded up to 64 KiB pages), which
 * may grow to `maxBytes`.
 */
export function makeGuestMemory(bytes = 1 << 20, maxBytes?: number): GuestMemory {
  const size = Math.max(WASM_PAGE, Math.ceil(bytes / WASM_PAGE) * WASM_PAGE);
  const max = Math.max(size, maxBytes === undefined ? size : Math.ceil(maxBytes / WASM_PAGE) * WASM_PAGE);
  return GuestMemory.create(size, max);
}

/** A private copy of the whole memory. */
export function snapshot(mem: GuestMemory): Uint8Array {
  return mem.u8.slice();
}

/** Addresses whose byte differs between `before` and the memory now (up to `before.length`). */
export function changedBytes(mem: GuestMemory, before: Uint8Array): number[] {
  const now = mem.u8;
  const out: number[] = [];
  for (let i = 0; i < before.length; i++) if (now[i] !== before[i]) out.push(i);
  return out;
}

/** Fills `[addr, addr + len)` with a deterministic pseudo-random byte stream from `seed` (xorshift32). */
export function fillRandom(mem: GuestMemory, addr: number, len: number, seed: number): void {
  let x = seed >>> 0 || 0x9e3779b9;
  const u8 = mem.u8;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    u8[addr + i] = x & 0xff;
  }
}
