/**
 * A small, strict command-line flag parser.
 *
 * Rules, chosen to be unsurprising rather than clever:
 * - flags are long (`--mem 64M` or `--mem=64M`); a flag may also have a one-letter alias (`-h`);
 * - a flag that takes a value must get one; a switch (`--quiet`) takes none;
 * - a flag may be given once, unless it is marked `repeatable` (`--disk a.img --disk b.img`),
 *   in which case its values are collected in order; an unknown flag is an error that lists the valid ones and,
 *   when one is close, suggests it;
 * - `--` ends the flags: everything after it is positional.
 * @module
 */
import { didYouMean } from '../control/suggest.ts';

export { didYouMean, editDistance } from '../control/suggest.ts';

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without the dashes: `mem` for `--mem`. */
  name: string;
  /** Optional one-letter alias without the dash: `h` for `-h`. */
  short?: string;
  /** Placeholder of the value in help (`SIZE`); absent for a switch that takes no value. */
  value?: string;
  /** Default shown in help, as the user would type it. */
  default?: string;
  /** One line of help. */
  help: string;
  /**
   * Spellings users bring from other tools (`m` and `memory` for `--mem`, as in QEMU's `-m`):
   * not accepted, but an unknown flag spelled like this gets this flag as its suggestion.
   */
  suggestFor?: string[];
  /** May be given several times; {@link ParsedArgs.flags} then holds every value, in order. */
  repeatable?: boolean;
}

/** What {@link parseArgs} found. */
export interface ParsedArgs {
  /** Given flags by long name: the value, `true` for a switch, or every value of a repeatable flag. */
  flags: Record<string, string | true | string[]>;
  /** Arguments that are not flags, in order. */
  positionals: string[];
}

/**
 * A mistake in how pvisor was invoked (flags, arguments, config file, guest image): the
 * command exits with status 2. Each problem is printed on its own line.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The problems, one sentence each, without the `pvisor: ` prefix. */
  readonly problems: string[];
  /** A command whose `--help` would help (`run`), or undefined. */
  readonly helpFor: string | undefined;

  constructor(problems: string | string[], helpFor?: string) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.problems = list;
    this.helpFor = helpFor;
  }
}

/**
 * Parses `argv` against `specs`.
 * @param argv - the arguments after the command name.
 * @param specs - the flags the command accepts.
 * @param command - the command as the user types it (`pvisor run`), for messages.
 * @throws {@link UsageError} on an unknown flag, a missing or unexpected value, or a repeated flag.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedArgs {
  const flags: Record<string, string | true | string[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }

    const eq = arg.indexOf('=');
    const written = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = findFlag(written, specs);
    if (!spec) throw new UsageError(unknownFlag(written, specs, command));
    const shown = `--${spec.name}`;

    let value: string | true;
    if (spec.value === undefined) {
      if (eq >= 0) throw new UsageError(`${shown} takes no value (got "${arg.slice(eq + 1)}")`);
      value = true;
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${shown} needs a value: ${shown} ${spec.value}`);
      if (next.startsWith('-') && next !== '-') {
        throw new UsageError(
          `${shown} needs a value: ${shown} ${spec.value} (for a value that starts with "-", write ${shown}=VALUE)`,
        );
      }
      value = next;
      i++;
    }

    const before = Object.hasOwn(flags, spec.name) ? flags[spec.name] : undefined;
    if (spec.repeatable && typeof value === 'string') {
      if (Array.isArray(before)) before.push(value);
      else flags[spec.name] = [value];
      continue;
    }
    if (before !== undefined) {
      const both = before === true ? '' : ` ("${before}" and "${String(value)}")`;
      throw new UsageError(`${shown} is given twice${both}; give it once`);
    }
    flags[spec.name] = value;
  }
  return { flags, positionals };
}

function findFlag(written: string, specs: readonly FlagSpec[]): FlagSpec | undefined {
  if (written.startsWith('--')) return specs.find((s) => s.name === written.slice(2));
  return specs.find((s) => s.short !== undefined && s.short === written.slice(1));
}

function unknownFlag(written: string, specs: readonly FlagSpec[], command: string): string[] {
  const bare = written.replace(/^-+/, '');
  const guess = specs.find((s) => s.suggestFor?.includes(bare))?.name ?? didYouMean(bare, specs.map((s) => s.name));
  const first = guess === undefined ? `unknown flag ${written}` : `unknown flag ${written}; did you mean --${guess}?`;
  return [first, `valid flags for "${command}": ${specs.map((s) => `--${s.name}`).join(', ')}`];
}
