import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../src/cli/args.ts';
import { RUN } from '../../../src/cli/commands.ts';
import type { RunConfig } from '../../../src/cli/config.ts';
import { DEFAULT_MAX_TIME_NS, planRun } from '../../../src/cli/plan.ts';

const M = 2 ** 20;
const CONFIG: RunConfig = {
  seed: 5,
  maxTimeNs: 1e9,
  domains: [{ name: 'a', image: '/x/a.wasm', memBytes: 16 * M, vcpus: 1, cmdline: '' }],
};

function plan(argv: string[]) {
  return planRun(parseArgs(argv, RUN.flags, 'pvisor run'), (path) => {
    if (path !== 'c.yaml') throw new Error(`unexpected config ${path}`);
    return CONFIG;
  });
}

function problem(argv: string[]): string {
  try {
    plan(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).problems.join('\n');
  }
  throw new Error('accepted');
}

describe('planRun', () => {
  it('uses the defaults for one kernel', () => {
    expect(plan(['guests/hello.wasm'])).toEqual({
      domains: [{ name: 'hello', image: 'guests/hello.wasm', memBytes: 16 * M, vcpus: 1, cmdline: '' }],
      seed: 1,
      maxTimeNs: DEFAULT_MAX_TIME_NS,
      quiet: false,
    });
  });

  it('reads every flag of a one-kernel run', () => {
    const p = plan(['k.wasm', '--mem', '64M', '--vcpus', '4', '--cmdline', 'a b', '--name', 'web', '--seed', '9', '--max-time', '2m', '--trace', 't.jsonl', '--quiet']);
    expect(p).toEqual({
      domains: [{ name: 'web', image: 'k.wasm', memBytes: 64 * M, vcpus: 4, cmdline: 'a b' }],
      seed: 9,
      maxTimeNs: 120e9,
      traceFile: 't.jsonl',
      quiet: true,
    });
  });

  it('takes the config file, with --seed and --max-time overriding it', () => {
    expect(plan(['--config', 'c.yaml'])).toMatchObject({ seed: 5, maxTimeNs: 1e9, domains: CONFIG.domains });
    expect(plan(['--config', 'c.yaml', '--seed', '6', '--max-time', '3s'])).toMatchObject({ seed: 6, maxTimeNs: 3e9 });
  });

  it.each<[string[], string]>([
    [['k.wasm', '--mem', '12X'], '--mem: "12X" is not a size; use e.g. 64M or 1G'],
    [['k.wasm', '--vcpus', 'two'], '--vcpus: "two" is not a vCPU count; use a whole number from 1 to 32'],
    [['k.wasm', '--vcpus', '33'], '--vcpus: 33 is not a vCPU count; use a whole number from 1 to 32'],
    [['k.wasm', '--seed', '1.5'], '--seed: "1.5" is not a seed; use a whole number from 0 to 4294967295'],
    [['k.wasm', '--max-time', '10'], '--max-time: "10" has no unit; use e.g. 10s or 10ms'],
    [['k.wasm', '--name', 'a b'], '--name: "a b" is not a valid name; use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'],
    [['k.wasm', '--trace='], '--trace: give a file name'],
    [[], 'missing KERNEL: pvisor run KERNEL.wasm, or pvisor run --config FILE'],
    [['a.wasm', 'b.wasm'], 'one KERNEL at a time (got "a.wasm", "b.wasm"); for several domains use --config FILE'],
    [['a.wasm', '--config', 'c.yaml'], 'give either a KERNEL or --config, not both (got "a.wasm" and --config c.yaml)'],
    [['--config', 'c.yaml', '--mem', '1G'], '--mem cannot be used with --config; set "memory" for each domain in c.yaml'],
  ])('rejects %j', (argv, message) => {
    expect(problem(argv)).toBe(message);
  });

  it('derives a valid name from an awkward file name', () => {
    expect(plan(['dir/my kernel (v2).wasm']).domains[0]?.name).toBe('my-kernel--v2-');
  });
});
