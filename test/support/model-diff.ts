/** Moved to src/testing (the public `pvisor/testing` toolkit); re-exported for existing tests. */
export { diffObservations } from '../../src/testing/diff.ts';
