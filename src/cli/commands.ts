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
    'An unmodified guest (a KERNEL that imports nothing from module pv) runs on an emulated PC ' +
      'instead: its one --disk is the ATA primary master (ata0, IRQ 14), its one --net an NE2000 ' +
      'at 0x300, IRQ 10 (ne0) on the same named switch, and --console is its COM1 16550A.',
    'With --control PATH, "pvisor ctl PATH …" lists, pauses, unpauses, shuts down, destroys and ' +
      'resizes domains while the run goes on; while a domain is paused, a run with nothing else to do ' +
      'waits for it instead of ending. See "pvisor ctl --help".',
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
    {
      name: 'control',
      value: 'PATH',
      help: 'serve the control socket on PATH while the run goes on (drive it with pvisor ctl PATH …)',
      suggestFor: ['api-sock', 'api-socket', 'ctl', 'qmp', 'monitor'],
    },
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
    ['run --config demo.yaml --control /tmp/pv.sock --max-time 1h', 'then, elsewhere: pvisor ctl /tmp/pv.sock list'],
  ],
};

/** `pvisor boot`. */
export const BOOT: CommandSpec = {
  name: 'boot',
  summary: 'boot a controlling domain (dom0) that owns the whole host and creates the other domains itself',
  usage: ['boot DOM0.wasm --mem SIZE [--vcpus N] [--image NAME=PATH]... [devices] [options]'],
  description: [
    'Creates one privileged domain (default name dom0) holding all of the host: --mem is the ' +
      "host's memory and --vcpus its vCPUs, and the host's free pools start empty. The guest " +
      'creates, resizes and destroys other domains with domctl, after handing memory (balloon) and ' +
      'vCPUs (DOMCTL_SET_VCPUS on itself) back to the pools; those domains appear in the report.',
    'Its first device is the boot volume: a read-only virtio-blk named "boot" holding the files of ' +
      '--image (at most 15; NAME is 1 to 15 bytes; each file is checked with a CRC-32), which the ' +
      'guest reads with pvisor/bootvol.h (format in docs/boot.md). The devices of --disk, --net and ' +
      '--console follow, named as for pvisor run (disk0…, net0…, console0); dom0 may move them to ' +
      'the domains it creates.',
    'The run ends when dom0 ends (domains still running then are reported so), or at the time ' +
      'limit. Exit status: dom0\'s, since it answers for the domains it creates: 0 when dom0 powered ' +
      'off with code 0 (the report still names every client that crashed, even one dom0 restarted); ' +
      '1 otherwise; 2 for a usage or image error.',
  ],
  flags: [
    { name: 'mem', value: 'SIZE', help: "the host's memory, all of it dom0's at boot: a multiple of 64K (256M, 1G); required", suggestFor: ['m', 'memory', 'mem-size'] },
    { name: 'vcpus', value: 'N', default: '1', help: `the host's vCPUs, all of them dom0's at boot (1 to ${MAX_VCPUS})`, suggestFor: ['smp', 'cpus', 'vcpu'] },
    {
      name: 'image',
      value: 'NAME=PATH',
      repeatable: true,
      help: 'put the file PATH on the boot volume as NAME (1 to 15 bytes; repeatable, at most 15 files)',
      suggestFor: ['file', 'images', 'module', 'initrd', 'kernel'],
    },
    { name: 'cmdline', value: 'STR', default: '""', help: `command line handed to dom0 (at most ${CMDLINE_MAX} bytes)`, suggestFor: ['append', 'boot-args'] },
    { name: 'name', value: 'NAME', default: 'dom0', help: 'name of the controlling domain' },
    { name: 'disk', value: 'PATH[,ro][,size=SIZE]', repeatable: true, help: "a virtio-blk disk for dom0 after the boot volume (disk0, …), as pvisor run's", suggestFor: ['drive', 'blk'] },
    { name: 'net', value: 'SWITCH[,mac=MAC]', repeatable: true, help: "a virtio-net NIC for dom0 (net0, …), as pvisor run's", suggestFor: ['nic', 'netdev'] },
    { name: 'console', value: 'stdio|file:PATH|socket:PATH', help: "a virtio-console for dom0 (console0), as pvisor run's", suggestFor: ['serial'] },
    { name: 'console-input', value: 'TEXT', help: 'type TEXT into console0 before the run starts' },
    { name: 'seed', value: 'N', default: '1', help: 'seed for every choice the host makes; same seed, same run' },
    { name: 'max-time', value: 'DURATION', default: '10s', help: 'stop after this much virtual time (500ms, 10s, 2m)' },
    { name: 'trace', value: 'FILE', help: 'write every exit to FILE as JSON lines' },
    { name: 'pcap', value: 'FILE', help: 'capture every frame the switches forward to FILE' },
    { name: 'control', value: 'PATH', help: 'serve the control socket on PATH (pvisor ctl PATH …)', suggestFor: ['api-sock', 'ctl'] },
    { name: 'quiet', short: 'q', help: 'print only problems on stderr' },
    HELP_FLAG,
  ],
  examples: [
    [
      'boot guest-kit/examples/dom0.wasm --mem 64M --vcpus 4 --image worker=guest-kit/examples/worker.wasm',
      'dom0 with 64M and 4 vCPUs, reading worker from its boot volume',
    ],
    ['boot dom0.wasm --mem 256M --image web=web.wasm --disk data.img --net lan --control /tmp/pv.sock', 'devices for dom0 to hand out; drive it with pvisor ctl'],
  ],
};

/** `pvisor ctl`. */
export const CTL: CommandSpec = {
  name: 'ctl',
  summary: 'drive a running host through its control socket: list, info, pause, unpause, shutdown, destroy, mem-set, vcpu-set',
  usage: [
    'ctl PATH list [--json]',
    'ctl PATH info|pause|unpause|destroy DOMAIN [--json]',
    'ctl PATH shutdown DOMAIN [--force] [--json]',
    'ctl PATH mem-set DOMAIN SIZE',
    'ctl PATH vcpu-set DOMAIN N',
  ],
  description: [
    'Sends one request to the control socket of "pvisor run|boot … --control PATH" and prints the ' +
      'answer: a table for list, the details of one domain for info, one line otherwise. DOMAIN ' +
      'is a name or an id. The host applies a request between two engine slices.',
    'pause stops scheduling the vCPUs of a domain (its clock record stands still), unpause ' +
      'schedules them again. destroy takes a domain off the host for good: a live one is stopped ' +
      '(reported as crashed: destroyed by the control socket), an ended one just leaves; its memory ' +
      "and vCPUs go back to the host's free pools, and the run report lists it as destroyed.",
    'shutdown, mem-set and vcpu-set ask the guest, which acts on them itself (a kit guest with ' +
      'control.h does; one that does not goes on as before): shutdown asks it to power off ' +
      '(--force powers it off at once, code 0, without asking); mem-set sets its balloon target ' +
      '(at most the memory it was created with); vcpu-set sets how many vCPUs it holds (1 to the ' +
      "number it was created with; more than it holds come from the host's free vCPU pool). The " +
      'answer comes at once; info shows the progress (holds/target, up/held).',
    'Exit status: 0 when the host did it; 1 when the host refused (its message names the field ' +
      'at fault) or hung up; 2 for a usage error, or a PATH where no host listens.',
  ],
  flags: [
    { name: 'force', help: 'shutdown only: power the domain off at once instead of asking it (like destroy, but it ends with poweroff code 0)', suggestFor: ['hard', 'f', 'kill'] },
    { name: 'json', help: 'print the response line as the host sent it ({"id","ok","result"} or {"ok":false,"error"})', suggestFor: ['raw', 'j'] },
    HELP_FLAG,
  ],
  examples: [
    ['ctl /tmp/pv.sock list', 'every domain: state, memory, vCPUs, guest time, console bytes, exits'],
    ['ctl /tmp/pv.sock pause web', 'stop scheduling domain web; unpause web resumes it'],
    ['ctl /tmp/pv.sock info 2 --json', 'domain 2 with hypercalls and exits by kind, as JSON'],
    ['ctl /tmp/pv.sock shutdown web', 'ask web to power off; add --force if it does not listen'],
    ['ctl /tmp/pv.sock mem-set web 32M', "web's balloon driver gives memory back down to 32M"],
    ['ctl /tmp/pv.sock vcpu-set web 2', 'web holds 2 vCPUs and brings them up'],
    ['ctl /tmp/pv.sock destroy web', 'take web off the host; its memory and vCPUs are free again'],
  ],
};

/** `pvisor bench`. */
export const BENCH: CommandSpec = {
  name: 'bench',
  summary: 'run a benchmark: pv-vs-fv compares paravirtual and emulated devices on the same workloads',
  usage: ['bench pv-vs-fv [--workload NAME...] [--json FILE] [--svg FILE] [--cost-model FILE] [--quick] [--reps N]'],
  description: [
    'pv-vs-fv runs each workload twice in this process: built over the paravirtual kit (console ' +
      'hypercall, virtio-blk, virtio-net, sched_poll deadlines) and as an unmodified guest over emulated ' +
      'legacy devices (16550A, ATA PIO, NE2000, 8254 PIT). Workloads: console (1 MiB of text), ' +
      'blk-seq (64 MiB written then read, 64 KiB requests), blk-rand (10000 random 4 KiB reads, ' +
      'same run as blk-seq), net-64 and net-1500 (100000 frames between two domains), idle (10 ' +
      'virtual seconds of a 100 Hz tick).',
    'It prints a table on stdout: operations, exits, exits per operation, wall time, modeled time ' +
      '(the exits priced by a cost model of a hardware-virtualized host; see docs/pv-vs-fv.md), ' +
      'throughput, and a PV/FV row per workload; then exits by kind, the result check and the ' +
      "issue's targets. Progress goes to stderr: a bar on a terminal, a line per finished run " +
      'otherwise.',
    'Both variants must produce the same bytes — result lines, console text, disk image, the data ' +
      'frames on the switch — or the command fails. Exit status: 0 when they did, 1 when a result ' +
      'differed or a guest failed (the table, JSON and SVG are still written), 2 for a usage error.',
  ],
  flags: [
    {
      name: 'workload',
      value: 'NAME[,NAME...]',
      repeatable: true,
      default: 'all',
      help: 'run only these workloads (repeatable or comma-separated): console, blk-seq, blk-rand, net-64, net-1500, idle',
      suggestFor: ['workloads', 'w', 'only'],
    },
    { name: 'json', value: 'FILE', help: 'write every figure to FILE as JSON (schema: src/bench/pv-vs-fv.schema.json)', suggestFor: ['output', 'o', 'out'] },
    { name: 'svg', value: 'FILE', help: 'write a bar chart (exits, wall time, modeled time; log scale) to FILE', suggestFor: ['chart', 'plot'] },
    { name: 'cost-model', value: 'FILE', default: 'built-in KVM/VT-x figures', help: 'price exits with the cycles per kind of this JSON file', suggestFor: ['model', 'costs'] },
    { name: 'quick', help: 'small sizes (16 KiB, 1 MiB, 300 frames, 1 s), no warm-up: a smoke run of a few seconds', suggestFor: ['fast', 'small'] },
    { name: 'reps', value: 'N', default: '1', help: 'run each variant N times (1 to 20), PV and FV taking turns to go first; wall time is the median', suggestFor: ['repeat', 'runs', 'iterations'] },
    HELP_FLAG,
  ],
  examples: [
    ['bench pv-vs-fv', 'every workload at full size (about 20 s on a 2-core machine)'],
    ['bench pv-vs-fv --workload console,net-1500 --quick', 'two workloads, small sizes'],
    ['bench pv-vs-fv --json pvfv.json --svg pvfv.svg', 'keep the figures and a chart'],
    ['bench pv-vs-fv --reps 3', 'median wall time of three runs each, on a noisy machine'],
    ['bench pv-vs-fv --cost-model my-host.json', 'modeled time with your own cycles per exit'],
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
export const COMMANDS: CommandSpec[] = [RUN, BOOT, CTL, BENCH, HELP];
