import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, parseArgs, UsageError, type FlagSpec } from '../../../src/cli/args.ts';

const SPECS: FlagSpec[] = [
  { name: 'mem', value: 'SIZE', help: 'memory', suggestFor: ['m'] },
  { name: 'max-time', value: 'DURATION', help: 'limit' },
  { name: 'cmdline', value: 'STR', help: 'command line' },
  { name: 'quiet', short: 'q', help: 'quiet' },
  { name: 'help', short: 'h', help: 'help' },
];

function problems(argv: string[]): string[] {
  try {
    parseArgs(argv, SPECS, 'pvisor run');
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).problems;
  }
  throw new Error(`parseArgs accepted ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('reads values, switches, aliases and positionals', () => {
    const got = parseArgs(['k.wasm', '--mem', '64M', '--max-time=2m', '-q'], SPECS, 'pvisor run');
    expect(got).toEqual({ flags: { mem: '64M', 'max-time': '2m', quiet: true }, positionals: ['k.wasm'] });
  });

  it('keeps an = inside a --flag=value value, and an empty value', () => {
    const got = parseArgs(['--cmdline=a=b c', '--mem='], SPECS, 'pvisor run');
    expect(got.flags).toEqual({ cmdline: 'a=b c', mem: '' });
  });

  it('treats everything after -- as positional', () => {
    expect(parseArgs(['--', '--mem', '-q'], SPECS, 'x').positionals).toEqual(['--mem', '-q']);
  });

  it('rejects an unknown flag, suggests the closest (or the flag it is known as elsewhere) and lists the valid ones', () => {
    expect(problems(['--mme', '64M'])).toEqual([
      'unknown flag --mme; did you mean --mem?',
      'valid flags for "pvisor run": --mem, --max-time, --cmdline, --quiet, --help',
    ]);
    expect(problems(['--max', '1s'])[0]).toBe('unknown flag --max; did you mean --max-time?');
    expect(problems(['-m', '64M'])[0]).toBe('unknown flag -m; did you mean --mem?');
  });

  it('does not suggest a far-away flag', () => {
    expect(problems(['--disk', 'd.img'])[0]).toBe('unknown flag --disk');
  });

  it('rejects a missing value', () => {
    expect(problems(['--mem'])).toEqual(['--mem needs a value: --mem SIZE']);
    expect(problems(['--cmdline', '--quiet'])[0]).toMatch(/^--cmdline needs a value: --cmdline STR \(for a value that starts with "-", write --cmdline=VALUE\)$/);
  });

  it('rejects a value given to a switch', () => {
    expect(problems(['--quiet=yes'])).toEqual(['--quiet takes no value (got "yes")']);
  });

  it('rejects a repeated flag, naming both values', () => {
    expect(problems(['--mem', '64M', '--mem=1G'])).toEqual(['--mem is given twice ("64M" and "1G"); give it once']);
    expect(problems(['-q', '--quiet'])).toEqual(['--quiet is given twice; give it once']);
  });
});

describe('didYouMean', () => {
  it('finds typos, swaps and unique prefixes', () => {
    expect(didYouMean('vpcus', ['vcpus', 'mem'])).toBe('vcpus');
    expect(didYouMean('cmdlin', ['cmdline', 'config'])).toBe('cmdline');
    expect(didYouMean('con', ['config', 'cmdline'])).toBe('config');
    expect(didYouMean('zzz', ['config', 'cmdline'])).toBeUndefined();
  });

  it('measures edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
