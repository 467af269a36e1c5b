/**
 * The real hypervisor core against the reference model, with domctl commands made frequent: the
 * controlling domain (domain 1 of DEFAULT_DOMAINS) pauses, unpauses and destroys clients, reads
 * their info, lists the domains, sets max and target memory and asks for shutdowns (VIRQ_CONTROL
 * bound by the guests now and then), and the clients try the same and get EPERM; every result,
 * every byte written back and the observable state (paused, max, target, shutdown request,
 * destroyed domains gone, their peers' ports unbound) must agree after every step.
 */
import { describe, it } from 'vitest';
import { modelSeed, runModelBased } from '../support/model-harness.ts';
import { hvHost } from '../support/model-hv-host.ts';
import { RUNS } from '../support/seed.ts';

const seed = modelSeed();

describe(`domctl: host vs reference model (seed ${seed})`, () => {
  it(`domctl-heavy command sequences agree with spec/model after every step (seed ${seed})`, () => {
    runModelBased(hvHost, { seed, numRuns: RUNS, commands: { domctlWeight: 6 } });
  });
});
