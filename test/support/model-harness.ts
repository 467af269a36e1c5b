/**
 * The model-based harness moved to src/testing (the public `pvisor/testing` toolkit); this file
 * keeps the names the existing tests use and the test-only seed helper.
 */
export type { HostUnderTest } from '../../src/testing/host.ts';
export { DEFAULT_DOMAINS, hypercallCommands as makeEvtchnCommands, type CommandsConfig as EvtchnCommandsConfig, type ModelWorld } from '../../src/testing/commands.ts';
export { modelRun as runModelBased, type ModelRunOptions as RunModelBasedOptions } from '../../src/testing/model-run.ts';

/** The seed of model-based runs: PVISOR_SEED, or the fixed CI seed 20261122. */
export function modelSeed(): number {
  const seed = Number(process.env.PVISOR_SEED ?? 20261122);
  if (!Number.isSafeInteger(seed)) throw new Error(`PVISOR_SEED must be an integer, got ${process.env.PVISOR_SEED}`);
  return seed;
}
