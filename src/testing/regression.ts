/**
 * Turning a failed model-based run into a regression test: the seed and replay path that reach
 * the shrunk counterexample, the counterexample as fast-check printed it, and the resolved calls
 * of the failing run, as a vitest test ready to paste into test/regression/.
 * @module
 */
import type { CommandsConfig } from './commands.ts';

/**
 * The `replayPath` fast-check prints in a shrunk command sequence
 * (`… /*replayPath="AAUAFA/x:VD"*\/`), or undefined.
 */
export function replayPathOf(counterexample: string): string | undefined {
  return /replayPath="([^"]*)"/.exec(counterexample)?.[1];
}

/** How {@link formatRegression} names things in the test it writes. */
export interface RegressionOptions {
  /** Test title after `regression: ` (default: the first line of the failure). */
  readonly title?: string;
  /** Expression that builds the host, as the test should call it (default `hvHost`). */
  readonly hostExpr?: string;
  /**
   * Extra {@link CommandsConfig} fields of the failing run as source text, e.g.
   * `maxCommands: 20` (default none): the replay must generate commands the same way.
   */
  readonly commandsOptions?: string;
  /**
   * Other `modelRun` option fields of the failing run as source text, e.g.
   * `domains: DEVICE_DOMAINS` (default none); names it uses must be imported by hand.
   */
  readonly runOptions?: string;
  /** Names `runOptions` uses, imported beside `modelRun` (e.g. `['DEVICE_DOMAINS']`). */
  readonly runImports?: readonly string[];
  /** Module the test imports `modelRun` and the host from (default `pvisor/testing`). */
  readonly importFrom?: string;
}

/** The fields of fast-check's run details a regression test needs. */
export interface RunOutcome {
  /** Whether the property failed. */
  readonly failed: boolean;
  /** The seed of the run. */
  readonly seed: number;
  /** Replay path of the shrunk counterexample (null when it did not fail). */
  readonly counterexamplePath: string | null;
  /** The shrunk counterexample (its first element: the command sequence). */
  readonly counterexample: readonly unknown[] | null;
  /** What the failing run threw. */
  readonly errorInstance: unknown;
}

/** The error text of a failed run: what differed, and the calls of the failing run. */
function failureText(details: RunOutcome): string {
  const e = details.errorInstance;
  return e instanceof Error ? e.message : String(e ?? 'no error recorded');
}

/** The imports of the regression test: modelRun, and the host factory when it is one of ours. */
function importLines(host: string, from: string, extra: readonly string[] = []): string[] {
  const name = host.replace(/\(.*$/, '');
  const ours = ['modelRun', ...extra];
  if (name === 'hvHost' || name === 'modelHost') return [`import { ${[...ours, name].join(', ')} } from '${from}';`];
  return [`import { ${ours.join(', ')} } from '${from}';`, `import { ${name} } from './your-host.ts'; // where your host factory lives`];
}

/**
 * A vitest test that replays the shrunk counterexample of a failed run (fast-check's `seed` and
 * `path`) and expects the host to agree with the model, with the failure quoted in a comment
 * (fill in what broke). Returns '' when the run did not fail.
 */
export function formatRegression(details: RunOutcome, opts: RegressionOptions = {}): string {
  if (!details.failed || details.counterexamplePath === null) return '';
  const text = failureText(details);
  const firstDiff = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('model-based run') && l !== 'observable state differs:') ?? text;
  const raw = opts.title ?? firstDiff;
  const title = (raw.length > 100 ? `${raw.slice(0, 97)}...` : raw).replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const host = opts.hostExpr ?? 'hvHost';
  const counterexample = String(details.counterexample?.[0] ?? '');
  const replayPath = replayPathOf(counterexample);
  const commands = [opts.commandsOptions, replayPath === undefined ? undefined : `replayPath: '${replayPath}'`].filter((x) => x !== undefined);
  const extra = commands.length === 0 ? '' : `, commands: { ${commands.join(', ')} }`;
  const comment = [
    `Found by npm run fuzz (seed ${details.seed}, path ${details.counterexamplePath}).`,
    'What broke: <fill in>.',
    '',
    `Shrunk counterexample: ${counterexample}`,
    ...text.split('\n'),
  ]
    .map((l) => `  // ${l}`.trimEnd())
    .join('\n');
  return [
    `import { it } from 'vitest';`,
    ...importLines(host, opts.importFrom ?? 'pvisor/testing', opts.runImports),
    '',
    `it('regression: ${title}', () => {`,
    comment,
    `  modelRun(${host}, { seed: ${details.seed}, path: '${details.counterexamplePath}', numRuns: 1${opts.runOptions !== undefined ? `, ${opts.runOptions}` : ''}${extra} });`,
    `});`,
    '',
  ].join('\n');
}
