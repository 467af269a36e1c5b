/**
 * `pvisor bench pv-vs-fv`: flags checked first (without loading the toolstack), output files
 * opened before the run (a bad path fails at once, not after half a minute), then the runner
 * (src/bench/pv-vs-fv.ts), the table on stdout, the JSON and SVG files, progress on stderr.
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { CostModelError, loadCostModel, type CostModel } from '../bench/cost-model.ts';
import { parseWorkloads, WORKLOAD_NAMES, type WorkloadName } from '../bench/pv-vs-fv-workloads.ts';
import { progressReporter } from '../bench/progress.ts';
import type { ParsedArgs } from './args.ts';
import { UsageError } from './args.ts';
import type { PvVsFvOptions } from '../bench/pv-vs-fv.ts';
import type { CliIo } from './cli.ts';
import { EXIT_GUEST_FAILURE, EXIT_OK } from './report.ts';

/** The benchmarks `pvisor bench` knows. */
export const BENCHMARKS = ['pv-vs-fv'] as const;

/** What `bench pv-vs-fv` will do, from its flags. */
export interface BenchPlan {
  /** Workloads to run. */
  workloads: WorkloadName[];
  /** `--json` path. */
  json?: string;
  /** `--svg` path. */
  svg?: string;
  /** The cost model (`--cost-model` or the built-in one). */
  costModel?: CostModel;
  /** `--quick`. */
  quick: boolean;
  /** `--reps`. */
  reps: number;
}

const str = (v: string | true | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Checks the arguments of `pvisor bench`.
 * @throws {@link UsageError} naming the bad argument or flag and what is valid.
 */
export function planBench(args: ParsedArgs): BenchPlan {
  const [which, ...extra] = args.positionals;
  if (which === undefined) throw new UsageError(`bench needs the name of a benchmark: ${BENCHMARKS.join(', ')} (e.g. "pvisor bench pv-vs-fv")`, 'bench');
  if (!(BENCHMARKS as readonly string[]).includes(which)) throw new UsageError(`unknown benchmark "${which}"; benchmarks: ${BENCHMARKS.join(', ')}`, 'bench');
  if (extra.length > 0) throw new UsageError(`bench takes one benchmark name (got ${args.positionals.join(' ')}); choose workloads with --workload`, 'bench');
  const problems: string[] = [];
  let workloads: WorkloadName[] = [];
  const w = args.flags['workload'];
  try {
    workloads = w === undefined ? [...WORKLOAD_NAMES] : parseWorkloads(Array.isArray(w) ? w : [String(w)]);
  } catch (e) {
    problems.push(`--workload: ${(e as Error).message}`);
  }
  let costModel: CostModel | undefined;
  const cm = str(args.flags['cost-model']);
  if (cm !== undefined) {
    try {
      costModel = loadCostModel(cm);
    } catch (e) {
      if (e instanceof CostModelError) problems.push(...e.problems.map((p) => `--cost-model ${e.where}: ${p}`));
      else problems.push(`--cost-model: ${(e as Error).message}`);
    }
  }
  const repsText = str(args.flags['reps']) ?? '1';
  const reps = /^\d+$/.test(repsText) ? Number(repsText) : NaN;
  if (!(reps >= 1 && reps <= 20)) problems.push(`--reps: "${repsText}" is not a whole number from 1 to 20`);
  if (problems.length > 0) throw new UsageError(problems, 'bench');
  const plan: BenchPlan = { workloads, quick: args.flags['quick'] === true, reps };
  const json = str(args.flags['json']);
  const svg = str(args.flags['svg']);
  if (json !== undefined) plan.json = json;
  if (svg !== undefined) plan.svg = svg;
  if (costModel !== undefined) plan.costModel = costModel;
  return plan;
}

/** Opens `path` for writing now, so a bad path is a usage error before the run. */
function openOut(flag: string, path: string): number {
  try {
    return openSync(path, 'w');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; give a path in a writable directory`);
  }
}

/** Options of {@link runBench} that have no flag (tests). */
export interface BenchRunOptions {
  /** Draw a progress bar on `io.err` (default: when `io` writes to the process's stderr and it is a terminal). */
  tty?: boolean;
  /** Passed to the runner: makes the variants differ on purpose (see `PvVsFvOptions.cmdlineOverrides`). */
  cmdlineOverrides?: PvVsFvOptions['cmdlineOverrides'];
}

/**
 * Runs `pvisor bench …` and returns the exit status: 0, or 1 when the variants' results
 * differed or a guest failed.
 * @throws {@link UsageError} for bad arguments or unwritable output files (exit 2).
 */
export async function runBench(args: ParsedArgs, io: CliIo, opts: BenchRunOptions = {}): Promise<number> {
  const plan = planBench(args);
  const { runPvVsFv, formatPvVsFv, missingImages } = await import('../bench/pv-vs-fv.ts');
  const missing = missingImages(plan.workloads);
  if (missing.length > 0) {
    throw new UsageError([...missing.map((m) => `no workload image ${m}`), 'the workloads are built by "npm run build:guests" in a clone of the repository (needs clang-16 and lld-16)']);
  }
  const fds: { json?: number; svg?: number } = {};
  try {
    if (plan.json !== undefined) fds.json = openOut('json', plan.json);
    if (plan.svg !== undefined) fds.svg = openOut('svg', plan.svg);
    const { pvVsFvSvg } = await import('../bench/svg.ts');
    const { processIo } = await import('./cli.ts');
    const bar = progressReporter((t) => io.err(t), opts.tty ?? (io === processIo && process.stderr.isTTY === true));
    const result = await runPvVsFv({
      workloads: plan.workloads,
      scale: plan.quick ? 'quick' : 'full',
      reps: plan.reps,
      ...(plan.costModel !== undefined ? { costModel: plan.costModel } : {}),
      onProgress: (p) => bar.onProgress(p),
      ...(opts.cmdlineOverrides !== undefined ? { cmdlineOverrides: opts.cmdlineOverrides } : {}),
    });
    bar.finish();
    io.out(formatPvVsFv(result));
    if (fds.json !== undefined) writeSync(fds.json, `${JSON.stringify(result, null, 2)}\n`);
    if (fds.svg !== undefined) writeSync(fds.svg, pvVsFvSvg(result));
    if (!result.ok) {
      for (const f of result.failures) io.err(`pvisor: bench pv-vs-fv: ${f}\n`);
      return EXIT_GUEST_FAILURE;
    }
    return EXIT_OK;
  } finally {
    if (fds.json !== undefined) closeSync(fds.json);
    if (fds.svg !== undefined) closeSync(fds.svg);
  }
}
