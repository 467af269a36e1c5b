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
    'run KERNEL.wasm [--mem SIZE] [--vcpus N] [--cmdline STR] [--name NAME] [devices] [options]',
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
    'Devices are virtio devices the guest finds in its start_info manifest: the disks of --disk ' +
      '(disk0, disk1, …), then the NICs of --net (net0, …), then the console of --console ' +
      '(console0). NICs on the same switch name share one learning switch, across every domain ' +
      'of a config file. With --console socket:PATH, pvisor waits for a client ' +
      '(socat - UNIX-CONNECT:PATH) before the run starts, then takes input as it is typed: ' +
      'while guests wait for input the run waits too, until they power off or Ctrl-C.',
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
    {
      name: 'disk',
      value: 'PATH[,ro][,size=SIZE]',
      repeatable: true,
      help: 'add a virtio-blk disk on a raw image file (repeatable: disk0, disk1, …); ro: read-only; ' +
        'size=: create it sparse if missing',
      suggestFor: ['drive', 'hda', 'blk', 'block', 'disks'],
    },
    {
      name: 'net',
      value: 'SWITCH[,mac=MAC]',
      repeatable: true,
      help: 'add a virtio-net NIC (repeatable: net0, net1, …) plugged into the named switch; default MAC 02:70:76:…',
      suggestFor: ['netdev', 'nic', 'network', 'switch'],
    },
    {
      name: 'console',
      value: 'stdio|file:PATH|socket:PATH',
      help: 'add a virtio-console (console0): output to stdout, a file, or a Unix socket to attach to',
      suggestFor: ['serial', 'chardev', 'tty'],
    },
    {
      name: 'console-input',
      value: 'TEXT',
      help: "type TEXT into console0 before the run starts (a scripted session; in a shell, $'line\\nquit\\n')",
      suggestFor: ['input', 'stdin'],
    },
    { name: 'seed', value: 'N', default: '1', help: 'seed for every choice the host makes; same seed, same run' },
    { name: 'max-time', value: 'DURATION', default: '10s', help: 'stop after this much virtual time (500ms, 10s, 2m)' },
    { name: 'trace', value: 'FILE', help: 'write every exit to FILE as JSON lines' },
    { name: 'pcap', value: 'FILE', help: 'capture every frame the switches forward to FILE (pcap, virtual timestamps)', suggestFor: ['capture', 'dump'] },
    { name: 'quiet', short: 'q', help: 'print only problems on stderr' },
    HELP_FLAG,
  ],
  examples: [
    ['run hello.wasm --cmdline "hi there"', 'one guest, 16M of memory, one vCPU'],
    ['run kernel.wasm --mem 64M --vcpus 4 --max-time 2m', 'a bigger guest, more time'],
    ['run --config examples/demo.json --seed 7', 'several domains from a file'],
    ['run hello.wasm --trace trace.jsonl', 'record every exit'],
    ['run kernel.wasm --disk data.img,size=64M --disk base.img,ro', 'two disks: data.img (created sparse if missing), base.img read-only'],
    ['run --config net.yaml --pcap lan.pcap', 'domains on a shared switch (net: [lan] in the file), frames captured'],
    ['run kernel.wasm --console socket:/tmp/k.sock', 'then, elsewhere: socat - UNIX-CONNECT:/tmp/k.sock'],
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
