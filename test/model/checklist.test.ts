/**
 * Coverage that cannot silently shrink: for every call in spec/abi.json there must be
 * (1) valid, boundary and hostile arbitraries in pvisor/testing, (2) a function of the reference
 * model, and (3) a model-based property that really makes the call against pvisor's core and
 * sees it succeed at least once (a call the spec says never succeeds on this host, grant_map, must
 * instead be made and fail every time). A call added to the spec without them fails here, by name.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_DETACH_DEVICE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_PAUSE,
  DOMCTL_PHYSINFO, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MAX_MEM, DOMCTL_SET_MEMORY_TARGET, DOMCTL_SET_VCPUS, DOMCTL_UNPAUSE, Hc,
} from '../../src/abi/generated/index.ts';
import { CALL_TABLE, decodeDomctlOp } from '../../spec/model/index.ts';
import { checkModelRun, hvHost, hypercallArbitraries, type HostUnderTest } from '../../src/testing/index.ts';
import type { ModelDomainConfig } from '../../spec/model/index.ts';
import { NEVER_SUCCEEDING_CALLS } from '../../src/testing/arbitraries/calls.ts';
import { modelSeed } from '../support/model-harness.ts';

interface SpecCall {
  nr: number;
  name: string;
}
const spec = JSON.parse(readFileSync(new URL('../../spec/abi.json', import.meta.url), 'utf8')) as { calls: SpecCall[] };
const SEED = modelSeed();

/** Per call number: how often the model-based run made it, and how often it did not fail. */
const made = new Map<number, { calls: number; ok: number }>();

function recording(domains: readonly ModelDomainConfig[]): HostUnderTest {
  const h = hvHost(domains);
  return {
    ...h,
    call(dom, vcpu, nr, args) {
      const r = h.call(dom, vcpu, nr, args);
      const m = made.get(nr) ?? { calls: 0, ok: 0 };
      made.set(nr, { calls: m.calls + 1, ok: m.ok + (r >= 0 ? 1 : 0) });
      return r;
    },
  };
}

describe(`property-testing checklist over spec/abi.json (seed ${SEED})`, () => {
  beforeAll(() => {
    // Ballooning is opt-in in the command mix (see CommandsConfig.balloon); coverage wants every call.
    const details = checkModelRun(recording, { seed: SEED, numRuns: 60, commands: { balloon: true } });
    // A failing run is the business of evtchn-host.model.test.ts; here only coverage counts.
    if (details.failed) throw new Error(`model-based run failed while counting coverage: ${String(details.errorInstance)}`);
  });

  it('the spec has calls, and Hc agrees with it', () => {
    expect(spec.calls.length).toBeGreaterThan(0);
    expect(Object.fromEntries(spec.calls.map((c) => [c.name, c.nr]))).toEqual({ ...Hc });
  });

  const arbs = hypercallArbitraries({ memSize: 256 * 1024, nrVcpus: 2, self: 1, others: [2, 3] });

  for (const c of spec.calls) {
    describe(c.name, () => {
      it(`${c.name}: has valid, boundary and hostile arbitraries that make call ${c.nr}`, () => {
        const a = (arbs as Record<string, (typeof arbs)[keyof typeof arbs] | undefined>)[c.name];
        expect(a, `no arbitraries for ${c.name} in src/testing/arbitraries/calls.ts`).toBeDefined();
        for (const flavour of ['valid', 'boundary', 'hostile'] as const) {
          const samples = fc.sample(a![flavour], { numRuns: 20, seed: SEED });
          expect(samples.every((s) => s.nr === c.nr && s.name === c.name), `${c.name} ${flavour}`).toBe(true);
        }
      });

      it(`${c.name}: has a reference-model function`, () => {
        expect(CALL_TABLE[c.nr], `no model function for ${c.name} in spec/model/calls.ts`).toBeTypeOf('function');
      });

      const never = (NEVER_SUCCEEDING_CALLS as readonly string[]).includes(c.name);
      it(`${c.name}: is made, and ${never ? 'always fails (by the spec)' : 'succeeds'}, in the model-based property against the core`, () => {
        const m = made.get(c.nr);
        expect(m?.calls ?? 0, `the model-based commands never make ${c.name}`).toBeGreaterThan(0);
        if (never) expect(m?.ok ?? 0, `${c.name} succeeded although the spec says it never does`).toBe(0);
        else expect(m?.ok ?? 0, `${c.name} never succeeds in the model-based run`).toBeGreaterThan(0);
      });
    });
  }

  // domctl is one call with 13 commands: each needs its own valid, boundary and hostile inputs.
  const ALL_DOMCTL = [
    DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM,
    DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_PHYSINFO,
  ];
  const SINCE_1_5 = [DOMCTL_CREATE, DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, DOMCTL_PHYSINFO];
  for (const [flavour, want] of [['valid', ALL_DOMCTL], ['boundary', SINCE_1_5], ['hostile', SINCE_1_5.filter((c) => c !== DOMCTL_PHYSINFO)]] as const) {
    it(`domctl: the ${flavour} arbitraries make every ${flavour === 'valid' ? '' : 'ABI 1.5 '}DOMCTL_* command`, () => {
      const cmds = new Set<number>();
      for (const x of fc.sample(arbs.domctl[flavour], { numRuns: 600, seed: SEED })) {
        const op = x.memory.find((m) => m.addr === (x.args[0]! >>> 0));
        if (op !== undefined) cmds.add(decodeDomctlOp(op.bytes).cmd);
      }
      expect(want.filter((c) => !cmds.has(c)), `DOMCTL commands missing from the ${flavour} domctl arbitraries`).toEqual([]);
    });
  }
});
