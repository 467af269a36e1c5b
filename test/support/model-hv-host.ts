/** Moved to src/testing (the public `pvisor/testing` toolkit); re-exported for existing tests. */
export { hvHost } from '../../src/testing/hv-host.ts';
