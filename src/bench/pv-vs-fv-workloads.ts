/**
 * The names of the pv-vs-fv workloads and the `--workload` parser, apart from the runner so the
 * CLI can check its flags without loading the toolstack (and binaryen with it).
 * @module
 */

/** The workloads, in the order they run and are reported. */
export const WORKLOAD_NAMES = ['console', 'blk-seq', 'blk-rand', 'net-64', 'net-1500', 'idle'] as const;

/** One workload of {@link WORKLOAD_NAMES}. */
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/**
 * Checks `--workload` values (each a name or a comma-separated list).
 * @returns the names in run order, without repeats.
 * @throws Error naming every unknown workload and the valid ones.
 */
export function parseWorkloads(values: readonly string[]): WorkloadName[] {
  const names = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const bad = names.filter((n) => !(WORKLOAD_NAMES as readonly string[]).includes(n));
  if (bad.length > 0) {
    throw new Error(`unknown workload${bad.length > 1 ? 's' : ''} ${bad.map((b) => `"${b}"`).join(', ')}; valid: ${WORKLOAD_NAMES.join(', ')}`);
  }
  if (names.length === 0) throw new Error(`no workload named; valid: ${WORKLOAD_NAMES.join(', ')}`);
  return WORKLOAD_NAMES.filter((w) => names.includes(w));
}
