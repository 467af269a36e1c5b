/**
 * Executing a {@link RunPlan}: create the domains with the toolstack, run them, report.
 *
 * The toolstack (and with it binaryen) is imported only here and only when a run starts, so
 * that `pvisor --help` and flag errors answer at once.
 * @module
 */
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { UsageError } from './args.ts';
import type { TraceRecord } from '../control/types.ts';
import type { CliIo } from './cli.ts';
import type { RunPlan } from './plan.ts';
import { formatTrace, summarizeRun } from './report.ts';

/**
 * Runs the plan and returns the exit status (0 or 1); guest console output goes to stdout,
 * the per-domain summary to `io.err`.
 * @throws {@link UsageError} for a missing image, an unwritable trace file or a bad guest image (exit 2).
 */
export async function runPlan(plan: RunPlan, io: CliIo): Promise<number> {
  const missing = plan.domains
    .filter((d) => typeof d.image === 'string' && !existsSync(d.image))
    .map((d) => `domain ${d.name}: no such image file: ${shortPath(d.image as string)}`);
  if (missing.length > 0) throw new UsageError(missing);

  // Open the trace file before the run, so that a bad path fails at once, not after it.
  let traceFd: number | undefined;
  if (plan.traceFile !== undefined) {
    try {
      traceFd = openSync(plan.traceFile, 'w');
    } catch (err) {
      throw new UsageError(`--trace: cannot write ${plan.traceFile}: ${(err as Error).message}`);
    }
  }

  try {
    const [{ System }, { GuestImageError }] = await Promise.all([
      import('../control/system.ts'),
      import('../engine/errors.ts'),
    ]);
    const system = new System({ seed: plan.seed, maxTimeNs: plan.maxTimeNs, trace: traceFd !== undefined });
    for (const d of plan.domains) {
      try {
        await system.addDomain(d);
      } catch (err) {
        if (!(err instanceof GuestImageError)) throw err;
        const image = typeof d.image === 'string' ? ` (${shortPath(d.image)})` : '';
        throw new UsageError([`domain ${d.name}${image} cannot boot:`, ...err.problems.map((p: string) => `  ${p}`)]);
      }
    }
    const report = await system.run();
    if (traceFd !== undefined) writeTrace(traceFd, report.trace ?? []);
    const summary = summarizeRun(report, { quiet: plan.quiet, maxTimeNs: plan.maxTimeNs });
    for (const line of summary.lines) io.err(`${line}\n`);
    return summary.exitCode;
  } finally {
    if (traceFd !== undefined) closeSync(traceFd);
  }
}

/** Writes the trace in batches, so that a long trace never has to fit in one string. */
function writeTrace(fd: number, records: readonly TraceRecord[]): void {
  const BATCH = 10_000;
  for (let i = 0; i < records.length; i += BATCH) writeSync(fd, formatTrace(records.slice(i, i + BATCH)));
}

/** A path as short as it can be shown: relative to the working directory when that is shorter. */
function shortPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return isAbsolute(p) && rel.length < p.length ? rel : p;
}
