/**
 * From the flags of `pvisor run` to a plan: the domains to create and the run's options.
 * Only reading the config file touches the outside world, through the `loadConfig` parameter.
 * @module
 */
import { UsageError, type ParsedArgs } from './args.ts';
import {
  checkCmdline,
  checkName,
  checkSeed,
  checkVcpus,
  DEFAULT_MEMORY,
  nameFromImage,
  type DomainPlan,
  type RunConfig,
} from './config.ts';
import { parseConsoleText, parseDiskText, parseNetText, type DiskPlan, type NetPlan } from './devices.ts';
import { parseDuration, parseMemSize, UnitError } from './units.ts';

/** Default seed. */
export const DEFAULT_SEED = 1;
/** Default virtual time limit: 10 s. */
export const DEFAULT_MAX_TIME_NS = 10e9;

/** Everything `pvisor run` needs to start. */
export interface RunPlan {
  /** Domains in creation order (ids from 1), with their devices. */
  domains: DomainPlan[];
  /** Seed of the run. */
  seed: number;
  /** Virtual time limit in ns. */
  maxTimeNs: number;
  /** Where to write a pcap capture of every frame the switches forward, if asked. */
  pcapFile?: string;
  /** Where to write the trace as JSON lines, if asked. */
  traceFile?: string;
  /** Where to serve the control socket (`--control`, config `control`), and where that was said. */
  control?: { path: string; origin: string };
  /** Print only problems. */
  quiet: boolean;
  /** The name of the domain whose end ends the run (`pvisor boot`: the controlling domain), if any. */
  endWith?: string;
}

/** Flags that describe the one domain of `pvisor run KERNEL`; they have no meaning with `--config`. */
const SINGLE_DOMAIN_FLAGS: Record<string, string> = {
  mem: 'memory',
  vcpus: 'vcpus',
  cmdline: 'cmdline',
  name: 'name',
  disk: 'disks',
  net: 'net',
  console: 'console',
  'console-input': 'consoleInput',
};

/**
 * Builds the plan of `pvisor run` from its parsed flags.
 * @param loadConfig - reads and validates a config file (see `loadConfigFile`).
 * @throws {@link UsageError} naming the flag and the fix.
 */
export function planRun(args: ParsedArgs, loadConfig: (path: string) => RunConfig): RunPlan {
  const { flags, positionals } = args;
  const str = (name: string): string | undefined => {
    const v = flags[name];
    return typeof v === 'string' ? v : undefined;
  };
  const usage = (msg: string) => new UsageError(msg, 'run');

  let config: RunConfig;
  const configFile = str('config');
  if (configFile !== undefined) {
    if (positionals.length > 0) {
      throw usage(`give either a KERNEL or --config, not both (got "${positionals[0]}" and --config ${configFile})`);
    }
    for (const [flag, key] of Object.entries(SINGLE_DOMAIN_FLAGS)) {
      if (flags[flag] !== undefined) {
        throw new UsageError(`--${flag} cannot be used with --config; set "${key}" for each domain in ${configFile}`);
      }
    }
    config = loadConfig(configFile);
  } else {
    if (positionals.length === 0) throw usage('missing KERNEL: pvisor run KERNEL.wasm, or pvisor run --config FILE');
    if (positionals.length > 1) {
      const got = positionals.map((p) => `"${p}"`).join(', ');
      throw usage(`one KERNEL at a time (got ${got}); for several domains use --config FILE`);
    }
    const image = positionals[0] as string;
    const dom = singleDomain(image, str);
    const disks = diskFlags(flags.disk);
    if (disks.length > 0) dom.disks = disks;
    const nets = netFlags(flags.net);
    if (nets.length > 0) dom.nets = nets;
    const consoleText = str('console');
    if (consoleText !== undefined) {
      const c = parseConsoleText(consoleText);
      if (typeof c === 'string') throw new UsageError(`--console: ${c}`, 'run');
      dom.console = { ...c, origin: `--console ${consoleText}` };
    }
    const consoleInput = str('console-input');
    if (consoleInput !== undefined) {
      if (dom.console === undefined) throw usage('--console-input needs a console: add --console stdio (or file:PATH, socket:PATH)');
      dom.console.input = consoleInput;
    }
    config = { domains: [dom] };
  }

  let seed = config.seed ?? DEFAULT_SEED;
  const seedText = str('seed');
  if (seedText !== undefined) {
    const n = /^\d+$/.test(seedText) ? checkSeed(Number(seedText)) : checkSeed(seedText);
    if (typeof n === 'string') throw new UsageError(`--seed: ${n}`);
    seed = n;
  }

  let maxTimeNs = config.maxTimeNs ?? DEFAULT_MAX_TIME_NS;
  const maxTime = str('max-time');
  if (maxTime !== undefined) maxTimeNs = withFlag('max-time', () => parseDuration(maxTime));

  const plan: RunPlan = { domains: config.domains, seed, maxTimeNs, quiet: flags.quiet === true };
  const pcap = str('pcap') ?? config.pcap;
  if (pcap !== undefined) {
    if (pcap === '') throw new UsageError('--pcap: give a file name');
    plan.pcapFile = pcap;
  }
  const trace = str('trace');
  if (trace !== undefined) {
    if (trace === '') throw new UsageError('--trace: give a file name');
    plan.traceFile = trace;
  }
  const control = str('control');
  if (control !== undefined) {
    if (control === '') throw new UsageError('--control: give the path of the socket to create, e.g. --control /tmp/pv.sock');
    plan.control = { path: control, origin: `--control ${control}` };
  } else if (config.control !== undefined) {
    plan.control = { path: config.control, origin: `${configFile ?? 'config'}: control` };
  }
  return plan;
}

/** The `--disk` values, in order. */
function diskFlags(values: string | true | string[] | undefined): DiskPlan[] {
  if (values === undefined || values === true) return [];
  const list = typeof values === 'string' ? [values] : values;
  return list.map((text) => {
    const disk = parseDiskText(text);
    if (typeof disk === 'string') throw new UsageError(`--disk ${text}: ${disk}`, 'run');
    return { ...disk, origin: `--disk ${disk.path}`, from: 'flag' as const };
  });
}

/** The `--net` values, in order. */
function netFlags(values: string | true | string[] | undefined): NetPlan[] {
  if (values === undefined || values === true) return [];
  const list = typeof values === 'string' ? [values] : values;
  return list.map((text) => {
    const nic = parseNetText(text);
    if (typeof nic === 'string') throw new UsageError(`--net ${text}: ${nic}`, 'run');
    return { ...nic, origin: `--net ${text}` };
  });
}

function singleDomain(image: string, str: (name: string) => string | undefined): DomainPlan {
  const memBytes = withFlag('mem', () => parseMemSize(str('mem') ?? DEFAULT_MEMORY));

  let vcpus = 1;
  const vcpusText = str('vcpus');
  if (vcpusText !== undefined) {
    const n = /^\d+$/.test(vcpusText) ? Number(vcpusText) : vcpusText;
    const bad = checkVcpus(n);
    if (bad) throw new UsageError(`--vcpus: ${bad}`);
    vcpus = n as number;
  }

  const cmdline = str('cmdline') ?? '';
  const badCmdline = checkCmdline(cmdline);
  if (badCmdline) throw new UsageError(`--cmdline: ${badCmdline}`);

  const name = str('name') ?? nameFromImage(image);
  const badName = checkName(name);
  if (badName) throw new UsageError(`--name: ${badName}`);

  return { name, image, memBytes, vcpus, cmdline };
}

function withFlag<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UnitError) throw new UsageError(`--${flag}: ${err.message}`);
    throw err;
  }
}
