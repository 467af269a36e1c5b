/**
 * Turning a {@link RunReport} into the exit status and the lines `pvisor run` prints on stderr.
 * Pure functions: no I/O here.
 * @module
 */
import type { DomainOutcome, DomainReport, RunReport, TraceRecord } from '../control/types.ts';
import { formatDuration } from './units.ts';

/** Exit status: every domain powered off with code 0. */
export const EXIT_OK = 0;
/** Exit status: a domain crashed, shut down otherwise than with poweroff code 0, or was still running. */
export const EXIT_GUEST_FAILURE = 1;
/** Exit status: bad flags, config file or guest image; nothing ran. */
export const EXIT_USAGE = 2;

/** What to print and how to exit after a run. */
export interface RunSummary {
  /** {@link EXIT_OK} or {@link EXIT_GUEST_FAILURE}. */
  exitCode: number;
  /** Lines for stderr, each starting with `pvisor: `, without newlines. */
  lines: string[];
}

/** Options of {@link summarizeRun}. */
export interface SummaryOptions {
  /** Print only the domains that did not power off cleanly (and nothing when all did). */
  quiet?: boolean;
  /** The run's virtual time limit in ns, named for domains still running when it stopped. */
  maxTimeNs?: number;
  /**
   * The domain whose ending alone decides the exit status (`pvisor boot`: dom0, which answers
   * for the domains it creates; a client it restarted after a crash is its business, and the
   * report still names the crash). Default: every domain decides.
   */
  judgeBy?: string;
}

/** True when the domain powered off with code 0: the only outcome that counts as success. */
export function isCleanExit(outcome: DomainOutcome): boolean {
  return outcome.kind === 'poweroff' && outcome.code === 0;
}

/**
 * The exit status and the stderr lines for a finished run: one line per domain naming how it
 * ended, then a one-line summary; with `quiet`, only the lines of domains that failed.
 */
export function summarizeRun(report: RunReport, opts: SummaryOptions = {}): RunSummary {
  const failed = report.domains.filter((d) => !isCleanExit(d.outcome));
  const judged = opts.judgeBy === undefined ? report.domains : report.domains.filter((d) => d.name === opts.judgeBy);
  const exitCode = judged.length > 0 && judged.every((d) => isCleanExit(d.outcome)) ? EXIT_OK : EXIT_GUEST_FAILURE;
  const shown = opts.quiet ? failed : report.domains;
  const lines = shown.map((d) => `pvisor: ${describeDomain(d, report, opts.maxTimeNs)}`);
  if (!opts.quiet) {
    const n = report.domains.length;
    const clean = n - failed.length;
    const verdict = failed.length === 0 ? plural(n, 'domain') : `${clean} of ${plural(n, 'domain')}`;
    lines.push(
      `pvisor: ${verdict} powered off cleanly; ${formatDuration(report.virtualTimeNs)} virtual, ${formatWall(report.wallMs)} wall`,
    );
  }
  return { exitCode, lines };
}

/**
 * One domain's ending, e.g. `domain ping (1): powered off, code 0`,
 * `domain hello (3): crashed: unreachable at kmain ← _start`,
 * `domain timer (2): still running at the time limit (10 s virtual)`,
 * `domain worker (2): powered off, code 0; destroyed afterwards` (destroyed during the run),
 * `domain worker (3): still running when domain dom0 (1) ended the run (2 s virtual)` (`pvisor boot`).
 */
export function describeDomain(d: DomainReport, report: RunReport, maxTimeNs?: number): string {
  const o = d.outcome;
  const w = report.endedWith;
  const how =
    o.kind === 'running' && w !== undefined && w.id !== d.id
      ? `still running when domain ${w.name} (${w.id}) ended the run (${formatDuration(report.virtualTimeNs)} virtual)`
      : describeOutcome(o, report.virtualTimeNs, maxTimeNs);
  // A domain destroyed while alive says so in its crash reason ("destroyed…", as every destroyer
  // words it); one that had ended (or crashed on its own) says it here.
  const destroyed = d.destroyed === true && !(o.kind === 'crashed' && o.reason.startsWith('destroyed')) ? '; destroyed afterwards' : '';
  return `domain ${d.name} (${d.id}): ${how}${destroyed}`;
}

/** How a domain ended, in words. */
export function describeOutcome(o: DomainOutcome, endNs: number, maxTimeNs?: number): string {
  switch (o.kind) {
    case 'poweroff':
      return `powered off, code ${o.code}`;
    case 'reboot':
      return `asked to reboot, code ${o.code} (pvisor run does not restart domains)`;
    case 'crash':
      return `crash shutdown, code ${o.code}`;
    case 'crashed':
      return `crashed: ${o.reason}${formatBacktrace(o.backtrace)}`;
    case 'running':
      return maxTimeNs !== undefined && endNs >= maxTimeNs
        ? `still running at the time limit (${formatDuration(maxTimeNs)} virtual)`
        : `blocked with nothing left to wake it (the run ended at ${formatDuration(endNs)} virtual)`;
  }
}

const MAX_FRAMES = 8;

/** ` at f ← g ← h`, innermost frame first, at most 8 frames; empty for no backtrace. */
export function formatBacktrace(frames: readonly string[]): string {
  if (frames.length === 0) return '';
  const head = frames.slice(0, MAX_FRAMES).join(' ← ');
  const more = frames.length > MAX_FRAMES ? ` ← … (${frames.length - MAX_FRAMES} more)` : '';
  return ` at ${head}${more}`;
}

/** The trace as JSON lines: one {@link TraceRecord} per line, each line ending with a newline. */
export function formatTrace(records: readonly TraceRecord[]): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join('');
}

function formatWall(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
