/**
 * The `pvisor` command: dispatch to a command, turn errors into messages and exit statuses.
 * @module
 */
import { readFileSync } from 'node:fs';
import { didYouMean, parseArgs, UsageError } from './args.ts';
import { BENCH, BOOT, COMMANDS, CTL, GLOBAL_FLAGS, HELP, RUN } from './commands.ts';
import { loadConfigFile } from './config.ts';
import { commandHelp, mainHelp } from './help.ts';
import { planRun } from './plan.ts';
import { EXIT_OK, EXIT_USAGE } from './report.ts';

/** Exit status when pvisor itself failed (a bug): EX_SOFTWARE from sysexits.h. */
export const EXIT_INTERNAL = 70;

/** Where the command writes. Guest console output does not pass here: the toolstack writes it to stdout. */
export interface CliIo {
  /** Requested output (help, version). */
  out(text: string): void;
  /** Diagnostics and run summaries. */
  err(text: string): void;
}

/** Writes to the process's stdout and stderr. */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** The version in package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Runs `pvisor` with the given arguments (without `node` and the script).
 * @returns the exit status: 0 success, 1 a guest failed, 2 usage error, 70 internal error.
 */
export async function cli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      for (const p of err.problems) io.err(`pvisor: ${p}\n`);
      if (err.helpFor !== undefined) io.err(`pvisor: see "pvisor ${err.helpFor} --help"\n`);
      return EXIT_USAGE;
    }
    io.err(`pvisor: internal error (please report it): ${(err as Error).stack ?? String(err)}\n`);
    return EXIT_INTERNAL;
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const global = parseArgs(at < 0 ? argv : argv.slice(0, at), GLOBAL_FLAGS, 'pvisor');
  if (global.flags.version) {
    io.out(`pvisor ${version()}\n`);
    return EXIT_OK;
  }
  if (global.flags.help) {
    io.out(mainHelp(version()));
    return EXIT_OK;
  }
  if (at < 0) {
    io.err(mainHelp(version()));
    return EXIT_USAGE;
  }

  const name = argv[at] as string;
  const rest = argv.slice(at + 1);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw unknownCommand(name);
  if (wantsHelp(rest)) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  const args = parseArgs(rest, command.flags, `pvisor ${command.name}`);

  switch (command) {
    case HELP: {
      const [topic, ...extra] = args.positionals;
      if (extra.length > 0) throw new UsageError(`help takes one command at most (got ${args.positionals.join(' ')})`);
      if (topic === undefined) {
        io.out(mainHelp(version()));
        return EXIT_OK;
      }
      const cmd = COMMANDS.find((c) => c.name === topic);
      if (!cmd) throw unknownCommand(topic);
      io.out(commandHelp(cmd));
      return EXIT_OK;
    }
    case RUN: {
      const plan = planRun(args, loadConfigFile);
      const { runPlan } = await import('./run.ts');
      return await runPlan(plan, io);
    }
    case BOOT: {
      const { runBoot } = await import('./boot.ts');
      return await runBoot(args, io);
    }
    case CTL: {
      const { runCtl } = await import('./ctl.ts');
      return await runCtl(args, io);
    }
    case BENCH: {
      const { runBench } = await import('./bench.ts');
      return await runBench(args, io);
    }
    default:
      throw new Error(`command ${command.name} has no implementation`);
  }
}

/** `--help` or `-h` before any `--`. */
function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

function unknownCommand(name: string): UsageError {
  const names = COMMANDS.map((c) => c.name);
  const guess = didYouMean(name, names);
  const hint = guess === undefined ? '' : `; did you mean "${guess}"?`;
  const first = `unknown command "${name}"${hint}`;
  return new UsageError([first, `commands: ${names.join(', ')}; see "pvisor --help"`]);
}
