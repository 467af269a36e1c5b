/** Moved to src/testing (the public `pvisor/testing` toolkit); re-exported for existing tests. */
export type { HostUnderTest } from '../../src/testing/host.ts';
export { modelHost, defaultSharedInfoAddr, type ModelHost, type ModelHostOptions, type StepFn } from '../../src/testing/model-host.ts';
