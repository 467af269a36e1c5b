/**
 * makeDispatch: unknown numbers return ENOSYS and touch no handler; each known number calls
 * exactly its handler once, with the arguments decoded by type.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CALLS,
  callName,
  ENOSYS,
  Hc,
  makeDispatch,
  type HypercallHandlers,
} from '../../../src/abi/index.ts';

type Rec = { name: string; args: unknown[] };

/** Handlers that record every call and return a per-call marker (1000 + nr). */
function recorder(): { h: HypercallHandlers<string>; log: Rec[] } {
  const log: Rec[] = [];
  const h: Record<string, (...args: unknown[]) => number> = {};
  for (const c of CALLS) {
    h[c.name] = (...args: unknown[]) => {
      log.push({ name: c.name, args });
      return 1000 + c.nr;
    };
  }
  return { h: h as unknown as HypercallHandlers<string>, log };
}

const known = new Set(CALLS.map((c) => c.nr));
const maxNr = Math.max(...known);

describe('makeDispatch', () => {
  it('returns ENOSYS for numbers outside the table and calls nothing', () => {
    const { h, log } = recorder();
    const d = makeDispatch(h);
    const outside = [0, -1, -2, -(2 ** 31), maxNr + 1, maxNr + 1000, 2 ** 31 - 1, 0x10000, -maxNr];
    for (const nr of outside) {
      expect(known.has(nr)).toBe(false);
      expect(d('vcpu', nr, 1, 2, 3, 4, 5), `nr ${nr}`).toBe(ENOSYS);
      expect(callName(nr)).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((n) => !known.has(n)), (nr) => {
        return d('vcpu', nr, -1, -1, -1, -1, -1) === ENOSYS;
      }),
      { seed: 0x5eed, numRuns: 2000 },
    );
    expect(log).toEqual([]);
  });

  for (const c of CALLS) {
    it(`nr ${c.nr} calls exactly ${c.name} with decoded arguments`, () => {
      const { h, log } = recorder();
      const d = makeDispatch(h);
      // Negative words show the decoding: u32/ptr read unsigned, i32 stays signed.
      const words = [-1, -2, -3, -4, -5] as const;
      expect(d('vcpu', c.nr, ...words)).toBe(1000 + c.nr);
      const expected = c.args.map((a, i) => (a.type === 'i32' ? words[i]! | 0 : words[i]! >>> 0));
      expect(log).toEqual([{ name: c.name, args: ['vcpu', ...expected] }]);
      expect(callName(c.nr)).toBe(c.name);
    });
  }

  it('decodes u32 -1 as 4294967295 and keeps i32 signed', () => {
    const { h, log } = recorder();
    const d = makeDispatch(h);
    d('v0', Hc.console_write, 0x10, -1, 0, 0, 0);
    d('v0', Hc.sched_shutdown, 0, -1, 0, 0, 0);
    d('v0', Hc.console_write, -16, 7, 0, 0, 0);
    expect(log).toEqual([
      { name: 'console_write', args: ['v0', 0x10, 4294967295] },
      { name: 'sched_shutdown', args: ['v0', 0, -1] },
      { name: 'console_write', args: ['v0', 0xfffffff0, 7] },
    ]);
  });

  it('passes only the declared argument slots', () => {
    const { h, log } = recorder();
    makeDispatch(h)('v', Hc.version, 9, 9, 9, 9, 9);
    expect(log).toEqual([{ name: 'version', args: ['v'] }]);
  });
});
