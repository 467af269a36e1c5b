/**
 * `memory.grow` is accounted (src/engine/instrument.ts, src/hv/reservation.ts `growMemory`): a
 * guest grows only up to its max_mem and its WebAssembly maximum, and only with frames taken
 * from the host's free pool, so growing never makes memory out of nothing. A WAT guest grows
 * and reports memory.grow's result as its exit code.
 */
import { describe, expect, it } from 'vitest';
import { GRANT_FRAME_SIZE } from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import { heldFrames, physInfo } from '../../../src/hv/index.ts';
import { wat } from '../../support/wat.ts';

const MIB = 1 << 20;

/** Grows by `pages` pages, then by 0 (a size query), and exits with the first result; code 99 if the size query disagrees. */
const grower = (pages: number) => wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param $si i32)
    (local $r i32) (local $code i32)
    (local.set $r (memory.grow (i32.const ${pages})))
    (local.set $code (local.get $r))
    ;; After a granted grow the size is old + pages; after a refused one it is unchanged.
    (if (i32.ne (memory.grow (i32.const 0))
                (select (i32.add (local.get $r) (i32.const ${pages})) (i32.const 16) (i32.ge_s (local.get $r) (i32.const 0))))
      (then (local.set $code (i32.const 99))))
    (drop (call $hc (i32.const 8) (i32.const 0) (local.get $code) (i32.const 0) (i32.const 0) (i32.const 0)))))`);

async function run(pages: number, opts: { maxMemBytes?: number; pool?: number }) {
  const sys = new System({ seed: 1, console: () => {}, log: () => {} });
  const d = await sys.addDomain({ name: 'g', image: grower(pages), memBytes: MIB, vcpus: 1, cmdline: '', ...(opts.maxMemBytes !== undefined ? { maxMemBytes: opts.maxMemBytes } : {}) });
  // The host's free pool, as if other domains had handed frames back (set here to isolate the grow).
  sys.hv.freeFrames = opts.pool ?? 0;
  const before = physInfo(sys.hv).totalFrames;
  const report = await sys.run();
  const dom = report.domains.find((x) => x.name === 'g')!;
  const o = dom.outcome;
  d.mem.refresh(); // the host's view catches up with the guest's grow lazily
  return { code: o.kind === 'poweroff' ? o.code : o.kind, size: d.mem.size, free: sys.hv.freeFrames, held: heldFrames(d), before, after: physInfo(sys.hv).totalFrames };
}

describe('memory.grow through the host (accounted growth)', () => {
  it('grows by whole pages with frames from the free pool, up to max_mem; the accounts do not change', async () => {
    const r = await run(2, { maxMemBytes: 2 * MIB, pool: 40 });
    expect(r.code).toBe(16); // the old size in pages
    expect([r.size, r.free, r.held]).toEqual([MIB + 2 * 65536, 40 - 32, (MIB + 2 * 65536) / GRANT_FRAME_SIZE]);
    expect(r.after).toBe(r.before);
  });

  it('is refused (-1, nothing changes) when the pool is short, beyond max_mem, or with no max given', async () => {
    for (const [pages, opts] of [
      [2, { maxMemBytes: 2 * MIB, pool: 31 }],
      [17, { maxMemBytes: 2 * MIB, pool: 1000 }],
      [1, { pool: 1000 }],
    ] as const) {
      const r = await run(pages, opts);
      expect(r.code, JSON.stringify(opts)).toBe(-1);
      expect([r.size, r.free, r.after], JSON.stringify(opts)).toEqual([MIB, opts.pool, r.before]);
    }
  });

  it('a max above the image\'s own maximum is refused when the domain is made', async () => {
    const sys = new System({ seed: 1, console: () => {}, log: () => {} });
    await expect(sys.addDomain({ name: 'g', image: grower(1), memBytes: MIB, maxMemBytes: 32 * MIB, vcpus: 1, cmdline: '' })).rejects.toThrow(/max memory: .* above the image's maximum/);
  });
});
