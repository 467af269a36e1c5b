import { describe, expect, it } from 'vitest';
import { GuestMemory } from '../../../src/hv/memory.ts';
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
});
