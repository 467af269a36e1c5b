/**
 * The commands of `pvisor` and their flags, as data: the parser and the help text both read
 * these tables, so they cannot disagree.
 * @module
 */
import { CMDLINE_MAX, MAX_VCPUS } from '../abi/index.ts';
import type { FlagSpec } from './args.ts';

/** A command: what it is for, how to call it, and its flags. */
export interface CommandSpec {
  /** Name as typed after `pvisor`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage lines, without the leading `pvisor `. */
  usage: string[];
  /** Paragraphs after the usage. */
  description: string[];
  /** Accepted flags (every command accepts `--help`). */
  flags: FlagSpec[];
  /** Example invocations, each with a comment. */
  examples: [string, string][];
}

/** `--help`, accepted everywhere. */
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', help: 'show this help and exit' };

/** Flags of `pvisor` itself, before a command. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  HELP_FLAG,
  { name: 'version', help: 'print the version and exit' },
];

/** `pvisor run`. */
export const RUN: CommandSpec = {
  name: 'run',
  summary: 'boot one guest kernel, or the domains of a config file, and run them to the end',
  usage: [
    'run KERNEL.wasm [--mem SIZE] [--vcpus N] [--cmdline STR] [--name NAME] [options]',
    'run --config FILE [options]',
  ],
  description: [
    'Boots each domain and runs them all on the deterministic engine until every one has shut ' +
      'down or the virtual time limit is reached. The same image, inputs and seed give the same ' +
      'console output, exit counts and virtual timestamps.',
    'Guest console output goes to stdout (prefixed with "[name] " when there are several ' +
      "domains); pvisor's own messages go to stderr. Exit status: 0 when every domain powered off " +
      'with code 0; 1 when one did not (crashed, stopped with another code, or was still running ' +
      'at the time limit); 2 for a usage, config or image error.',
  ],
  flags: [
    { name: 'config', value: 'FILE', help: 'run the domains of a JSON or YAML config file instead of one KERNEL' },
    {
      name: 'mem',
      value: 'SIZE',
      default: '16M',
      help: 'guest memory, a multiple of 64K (64M, 1G, 65536)',
      suggestFor: ['m', 'memory', 'mem-size'],
    },
    {
      name: 'vcpus',
      value: 'N',
      default: '1',
      help: `vCPUs the guest may bring up (1 to ${MAX_VCPUS})`,
      suggestFor: ['smp', 'cpus', 'vcpu', 'vcpu-count'],
    },
    {
      name: 'cmdline',
      value: 'STR',
      default: '""',
      help: `command line handed to the guest (at most ${CMDLINE_MAX} bytes)`,
      suggestFor: ['append', 'boot-args'],
    },
    { name: 'name', value: 'NAME', default: 'file name', help: 'domain name, used in console prefixes and reports' },
    { name: 'seed', value: 'N', default: '1', help: 'seed for every choice the host makes; same seed, same run' },
    { name: 'max-time', value: 'DURATION', default: '10s', help: 'stop after this much virtual time (500ms, 10s, 2m)' },
    { name: 'trace', value: 'FILE', help: 'write every exit to FILE as JSON lines' },
    { name: 'quiet', short: 'q', help: 'print only problems on stderr' },
    HELP_FLAG,
  ],
  examples: [
    ['run hello.wasm --cmdline "hi there"', 'one guest, 16M of memory, one vCPU'],
    ['run kernel.wasm --mem 64M --vcpus 4 --max-time 2m', 'a bigger guest, more time'],
    ['run --config examples/demo.json --seed 7', 'several domains from a file'],
    ['run hello.wasm --trace trace.jsonl', 'record every exit'],
  ],
};

/** `pvisor help`. */
export const HELP: CommandSpec = {
  name: 'help',
  summary: 'show help for pvisor or for one command',
  usage: ['help [COMMAND]'],
  description: [],
  flags: [HELP_FLAG],
  examples: [['help run', 'the flags of pvisor run']],
};

/** Every command, in the order help lists them. */
export const COMMANDS: CommandSpec[] = [RUN, HELP];
