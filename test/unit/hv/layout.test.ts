/**
 * The host's reserved area (spec/abi.json `memoryLayout`): "from `start_info.reserved_base` up to
 * `mem_size` it places the start_info page (with the command line and the device manifest ... in
 * the same page), the shared_info page and per-vCPU host scratch areas".
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CMDLINE_MAX, DEVICE_INFO_SIZE, MAX_DEVICES, MAX_VCPUS, SHARED_INFO_SIZE, START_INFO_SIZE } from '../../../src/abi/index.ts';
import { ASYNCIFY_AREA, CMDLINE_OFFSET, DEVICES_OFFSET, PAGE, WASM_PAGE, layoutFor, reservedBytes } from '../../../src/hv/index.ts';
import { RUNS, SEED } from '../../support/seed.ts';

describe('layoutFor', () => {
  it('puts start_info in the top page, shared_info below it, then one scratch area per vCPU', () => {
    const mem = 1 << 20;
    const l = layoutFor(mem, 3);
    expect(l.startInfo).toBe(mem - 4096);
    expect(l.cmdline).toBe(mem - 4096 + 256);
    expect(l.devices).toBe(mem - 4096 + 2048);
    expect(l.sharedInfo).toBe(mem - 8192);
    expect(l.asyncify).toEqual([mem - 8192 - 16384, mem - 8192 - 2 * 16384, mem - 8192 - 3 * 16384]);
    expect(l.reservedBase).toBe(mem - 8192 - 3 * 16384);
  });

  it('reserves two pages plus ASYNCIFY_AREA per vCPU', () => {
    expect(reservedBytes(0)).toBe(2 * PAGE);
    expect(reservedBytes(1)).toBe(2 * PAGE + ASYNCIFY_AREA);
    expect(reservedBytes(32)).toBe(2 * PAGE + 32 * ASYNCIFY_AREA);
  });

  it('the ABI structures fit their pages (the load-time check holds for the current spec)', () => {
    expect(START_INFO_SIZE).toBeLessThanOrEqual(CMDLINE_OFFSET);
    expect(CMDLINE_OFFSET + CMDLINE_MAX + 1).toBeLessThanOrEqual(DEVICES_OFFSET);
    expect(DEVICES_OFFSET + MAX_DEVICES * DEVICE_INFO_SIZE).toBeLessThanOrEqual(PAGE);
    expect(SHARED_INFO_SIZE).toBeLessThanOrEqual(PAGE);
    expect(() => layoutFor(1 << 20, 1)).not.toThrow();
  });

  it(`areas are disjoint, inside [reserved_base, mem_size), and tile it exactly (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_VCPUS }), fc.integer({ min: 0, max: 4096 }), (n, extraPages) => {
        const mem = reservedBytes(n) + WASM_PAGE + extraPages * WASM_PAGE;
        const l = layoutFor(mem, n);
        const areas: [number, number][] = [
          [l.startInfo, PAGE],
          [l.sharedInfo, PAGE],
          ...l.asyncify.map((a): [number, number] => [a, ASYNCIFY_AREA]),
        ];
        expect(areas).toHaveLength(n + 2);
        const sorted = [...areas].sort((a, b) => a[0] - b[0]);
        // Tiled: each area ends where the next begins, from reserved_base to the top of memory.
        let at = l.reservedBase as number;
        for (const [base, len] of sorted) {
          expect(base).toBe(at);
          at = base + len;
        }
        expect(at).toBe(mem);
        expect(l.reservedBase).toBe(mem - reservedBytes(n));
        expect(l.cmdline - l.startInfo).toBe(CMDLINE_OFFSET);
        expect(l.devices - l.startInfo).toBe(DEVICES_OFFSET);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
