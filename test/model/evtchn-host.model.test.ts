/**
 * The real hypervisor core against the reference model: random sequences of event-channel calls
 * (and guest-side writes to shared_info) across three domains with two vCPUs each must give the
 * same result for every call and the same observable state after every step.
 */
import { describe, it } from 'vitest';
import { modelSeed, runModelBased } from '../support/model-harness.ts';
import { hvHost } from '../support/model-hv-host.ts';
import { RUNS } from '../support/seed.ts';

const seed = modelSeed();

describe(`host vs reference model (seed ${seed})`, () => {
  it(`event-channel command sequences agree with spec/model after every step (seed ${seed})`, () => {
    runModelBased(hvHost, { seed, numRuns: RUNS });
  });
});
