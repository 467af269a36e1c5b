/**
 * The real hypervisor core against the reference model, with grant commands made frequent: guests
 * register tables, write entries (good and bad) granting frames to each other, and copy through
 * the entries that name them, between domains and into their own shared_info mask bits; every
 * status, every byte the copies write (in any domain) and the observable state must agree.
 */
import { describe, it } from 'vitest';
import { modelSeed, runModelBased } from '../support/model-harness.ts';
import { hvHost } from '../support/model-hv-host.ts';
import { RUNS } from '../support/seed.ts';

const seed = modelSeed();

describe(`grant tables: host vs reference model (seed ${seed})`, () => {
  it(`grant-heavy command sequences agree with spec/model after every step (seed ${seed})`, () => {
    runModelBased(hvHost, { seed, numRuns: RUNS, commands: { grantWeight: 6 } });
  });
});
