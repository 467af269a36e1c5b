/**
 * Issue 6 item 9, the conservation rule: under random sequences of ballooning, DOMCTL_CREATE,
 * DOMCTL_DESTROY, DOMCTL_SET_VCPUS, DOMCTL_SET_MEMORY_TARGET, DOMCTL_UNPAUSE, shutdowns and crashes
 * from and around a controlling domain, the frames and vCPUs all domains hold plus the free pools
 * always equal the initial totals, by DOMCTL_PHYSINFO and by an independent recomputation, after
 * every step. On pvisor's core (its fake loader makes the domains) and on the reference model.
 * Long campaigns: `npm run fuzz -- --property conservation --runs N` (docs/property-testing.md).
 */
import { describe, expect, it } from 'vitest';
import { Hc } from '../../../src/abi/index.ts';
import { conservationRun, FAKE_LOADER, hvHost, modelHost, type Accounts } from '../../../src/testing/index.ts';
import { RUNS, SEED } from '../../support/seed.ts';

/** What the runs did: how often each kind of step succeeded, and whether the pools ever filled. */
function tally(): { onStep: (a: Accounts, step: string, r: number) => void; ok: Map<string, number>; poolFrames: number; poolVcpus: number; mostDomains: number } {
  const t = {
    ok: new Map<string, number>(),
    poolFrames: 0,
    poolVcpus: 0,
    mostDomains: 0,
    onStep(a: Accounts, step: string, r: number) {
      const kind = step.split(/[ (]/)[0] ?? step;
      if (r >= 0) t.ok.set(kind, (t.ok.get(kind) ?? 0) + 1);
      t.poolFrames = Math.max(t.poolFrames, a.freeFrames);
      t.poolVcpus = Math.max(t.poolVcpus, a.freeVcpus);
      t.mostDomains = Math.max(t.mostDomains, a.domains);
    },
  };
  return t;
}

describe(`conservation of frames and vCPUs (seed ${SEED})`, () => {
  it(`on the core: held + free pools = the initial totals after every step (seed ${SEED})`, () => {
    const t = tally();
    conservationRun(hvHost, { seed: SEED, numRuns: RUNS, onStep: t.onStep });
    // Not vacuous: resources really moved both ways, domains were made and taken away, and both
    // pools filled at some point.
    for (const kind of ['decrease_reservation', 'increase_reservation', 'DOMCTL_CREATE', 'DOMCTL_DESTROY', 'DOMCTL_SET_VCPUS', 'crash', 'sched_shutdown']) {
      expect(t.ok.get(kind) ?? 0, `${kind} never succeeded`).toBeGreaterThan(0);
    }
    expect(t.poolFrames).toBeGreaterThan(0);
    expect(t.poolVcpus).toBeGreaterThan(0);
    expect(t.mostDomains).toBeGreaterThan(3);
  });

  it(`on the reference model, with the same loader (seed ${SEED})`, () => {
    const t = tally();
    conservationRun((domains) => modelHost(domains, { loader: FAKE_LOADER }), { seed: SEED, numRuns: Math.max(20, RUNS / 4), onStep: t.onStep });
    expect(t.ok.get('DOMCTL_CREATE') ?? 0).toBeGreaterThan(0);
  });

  it('fails on a host that loses a frame', () => {
    // A core whose decrease_reservation forgets to put the frames in the pool.
    const leaky = (domains: Parameters<typeof hvHost>[0]) => {
      const h = hvHost(domains);
      let stolen = false;
      return {
        ...h,
        observe() {
          const o = h.observe();
          return stolen ? { ...o, freeFrames: Math.max(0, o.freeFrames - 1) } : o;
        },
        call(dom: number, vcpu: number, nr: number, args: number[]) {
          const r = h.call(dom, vcpu, nr, args);
          if (nr === Hc.decrease_reservation && r === 0 && (args[1] ?? 0) > 0) stolen = true;
          return r;
        },
      };
    };
    expect(() => conservationRun(leaky, { seed: SEED, numRuns: 50 })).toThrow(/frames held \+ free pool = \d+, initially \d+/);
  });
});
