/**
 * The fast-check seed for this run: fixed in CI (printed in test titles), overridable with
 * PVISOR_SEED to reproduce or explore.
 */
export const SEED = Number(process.env.PVISOR_SEED ?? 20261122);
/** Runs per property (PVISOR_RUNS overrides). */
export const RUNS = Number(process.env.PVISOR_RUNS ?? 200);
