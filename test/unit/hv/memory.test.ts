import { describe, expect, it } from 'vitest';
import { GuestMemory, WASM_PAGE } from '../../../src/hv/memory.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';

const A = (n: number) => n as GuestAddr;

describe('GuestMemory bounds', () => {
  const m = GuestMemory.create(65536, 2 * 65536);
  it('accepts ranges that end exactly at the top', () => {
    expect(m.inBounds(A(0), 65536)).toBe(true);
    expect(m.inBounds(A(65535), 1)).toBe(true);
    expect(m.inBounds(A(65536), 0)).toBe(true);
  });
  it('refuses ranges past the top and ranges that would wrap in 32 bits', () => {
    expect(m.inBounds(A(65535), 2)).toBe(false);
    expect(m.inBounds(A(65537), 0)).toBe(false);
    expect(m.inBounds(A(0xffffffff), 2)).toBe(false);
    expect(m.inBounds(A(0xfffffff0), 0x20)).toBe(false);
  });
  it('sees memory the guest grew without an exit', () => {
    const g = GuestMemory.create(65536, 2 * 65536);
    expect(g.inBounds(A(65536), 4)).toBe(false);
    g.memory.grow(1);
    expect(g.inBounds(A(65536), 4)).toBe(true);
    expect(g.size).toBe(131072);
  });
  it('round-trips u64 values below 2^53', () => {
    for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 123456789012345, 2 ** 53 - 1]) {
      m.setU64(A(8), v);
      expect(m.u64(A(8))).toBe(v);
    }
  });
  it('copyOut returns a copy that later guest writes do not change', () => {
    m.copyIn(A(100), new Uint8Array([1, 2, 3]));
    const c = m.copyOut(A(100), 3);
    m.copyIn(A(100), new Uint8Array([9, 9, 9]));
    expect([...c]).toEqual([1, 2, 3]);
  });

  it('a grown memory is still bounded: ranges past the new top are refused, the new top is reachable', () => {
    const g = GuestMemory.create(65536, 3 * 65536);
    g.memory.grow(1);
    expect(g.inBounds(A(131072 - 4), 8)).toBe(false); // refreshes, still out of range
    expect(g.size).toBe(131072);
    g.memory.grow(1);
    expect(g.inBounds(A(196608), 0)).toBe(true); // ends exactly at the new top
    g.memory.grow(0);
    expect(g.inBounds(A(196608), 1)).toBe(false);
    const h = GuestMemory.create(65536, 2 * 65536);
    h.memory.grow(1);
    // addr + len past the grown memory, though addr - len would be inside.
    expect(h.inBounds(A(131072), 65536)).toBe(false);
  });

  it('refresh reports whether the size changed, and the views follow', () => {
    const g = GuestMemory.create(65536, 2 * 65536);
    expect(g.refresh()).toBe(false);
    g.memory.grow(1);
    expect(g.refresh()).toBe(true);
    expect([g.size, g.u8.length, g.i32.length]).toEqual([131072, 131072, 32768]);
    g.setU32(A(131068), 0xdeadbeef);
    expect(g.u32(A(131068))).toBe(0xdeadbeef);
    expect(g.refresh()).toBe(false);
  });

  it('wraps an empty memory (0 pages) with usable, empty views', () => {
    const g = new GuestMemory(new WebAssembly.Memory({ initial: 0, maximum: 1, shared: true }));
    expect([g.size, g.u8.length, g.i32.length]).toEqual([0, 0, 0]);
    expect(g.inBounds(A(0), 0)).toBe(true);
    expect(g.inBounds(A(0), 1)).toBe(false);
  });

  it('creates a shared memory ("guest memory is shared between vCPUs") of the given initial and maximum size', () => {
    const g = GuestMemory.create(2 * 65536, 3 * 65536);
    expect(g.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(g.size).toBe(2 * 65536);
    g.memory.grow(1);
    expect(() => g.memory.grow(1)).toThrow(RangeError);
  });

  it('fill zeroes (or sets) exactly [addr, addr + len)', () => {
    const g = GuestMemory.create(65536, 65536);
    g.u8.fill(7, 0, 64);
    g.fill(A(8), 16);
    g.fill(A(40), 4, 0xab);
    expect(Array.from(g.u8.subarray(6, 26))).toEqual([7, 7, ...Array(16).fill(0), 7, 7]);
    expect(Array.from(g.u8.subarray(39, 45))).toEqual([7, 0xab, 0xab, 0xab, 0xab, 7]);
  });

  it('i32 and u32 accessors are little-endian and agree on the bits', () => {
    const g = GuestMemory.create(65536, 65536);
    g.setI32(A(4), -2);
    expect([g.u32(A(4)), g.i32At(A(4)), g.u8[4], g.u8[7]]).toEqual([0xfffffffe, -2, 0xfe, 0xff]);
    g.setU32(A(8), 0x80000001);
    expect([g.i32At(A(8)), g.u8[8], g.u8[11]]).toEqual([-0x7fffffff, 1, 0x80]);
    g.setU64(A(16), 2 ** 32 + 5);
    expect([g.u32(A(16)), g.u32(A(20))]).toEqual([5, 1]);
  });
});

describe('GuestMemory.copyFrom and readInto', () => {
  it('copies between two memories and, overlapping, within one as memmove; readInto fills a host buffer', () => {
    const a = GuestMemory.create(WASM_PAGE, WASM_PAGE);
    const b = GuestMemory.create(WASM_PAGE, WASM_PAGE);
    a.u8.set([1, 2, 3, 4, 5, 6], 100);
    b.copyFrom(a, 100 as GuestAddr, 7 as GuestAddr, 4);
    expect([...b.u8.subarray(6, 12)]).toEqual([0, 1, 2, 3, 4, 0]);
    a.copyFrom(a, 100 as GuestAddr, 102 as GuestAddr, 4); // forward overlap
    expect([...a.u8.subarray(100, 106)]).toEqual([1, 2, 1, 2, 3, 4]);
    a.copyFrom(a, 102 as GuestAddr, 100 as GuestAddr, 4); // backward overlap
    expect([...a.u8.subarray(100, 106)]).toEqual([1, 2, 3, 4, 3, 4]);
    const into = new Uint8Array(3);
    a.readInto(101 as GuestAddr, into);
    expect([...into]).toEqual([2, 3, 4]);
  });
});
