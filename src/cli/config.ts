/**
 * Run configuration files (JSON or YAML) for `pvisor run --config FILE`.
 *
 * ```yaml
 * seed: 1            # optional, default 1
 * maxTime: 10s       # optional, default 10s of virtual time
 * domains:
 *   - name: ping                 # optional: defaults to the image's file name
 *     image: ping.wasm           # relative to this file
 *     memory: 16M                # optional, default 16M
 *     vcpus: 1                   # optional, default 1
 *     cmdline: role=ping peer=2  # optional, default ""
 *     disks:                     # optional: virtio-blk devices disk0, disk1, …
 *       - data.img,size=64M      # as --disk: PATH[,ro][,size=SIZE], relative to this file
 *       - { path: base.img, ro: true }
 *     net: [lan, "wan,mac=02:00:00:00:00:09"]  # optional: virtio-net NICs net0, net1, … on switches
 *     console: socket:ping.sock  # optional: virtio-console console0 (stdio, file:PATH, socket:PATH)
 *     consoleInput: "ls\n"        # optional: bytes typed into console0 before the run
 * pcap: lan.pcap               # optional: capture every frame the switches forward
 * control: pv.sock             # optional: serve the control socket here (pvisor ctl pv.sock list)
 * ```
 *
 * Validation is by hand so that every problem names its JSON path and the fix
 * (`domains[1].memory: "12X" is not a size; use e.g. 64M or 1G`). All problems are reported at
 * once, not only the first.
 * @module
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CMDLINE_MAX, MAX_VCPUS } from '../abi/index.ts';
import type { DomainConfig } from '../control/types.ts';
import { didYouMean, UsageError } from './args.ts';
import {
  DISK_KEYS,
  NET_KEYS,
  parseConsoleText,
  parseDiskText,
  parseMacText,
  parseNetText,
  checkSwitchName,
  sizeOf,
  type ConsolePlan,
  type DiskPlan,
  type NetPlan,
} from './devices.ts';
import { parseDuration, parseMemSize, UnitError } from './units.ts';

/** Guest memory when none is given. */
export const DEFAULT_MEMORY = '16M';

/** A domain to create, with the devices to plug into it. */
export interface DomainPlan extends DomainConfig {
  /** Raw disk images, attached as virtio-blk devices `disk0`, `disk1`, … in this order (an unmodified guest: one, its ATA disk). */
  disks?: DiskPlan[];
  /** virtio-net NICs `net0`, `net1`, … in this order, each plugged into its switch (an unmodified guest: one, its NE2000). */
  nets?: NetPlan[];
  /** A virtio-console `console0` (an unmodified guest: its COM1). */
  console?: ConsolePlan;
  /**
   * A boot volume image (src/control/boot-volume.ts), attached as the read-only virtio-blk `boot`
   * before every other device, so it is manifest entry 0 (`pvisor boot --image`).
   */
  bootVolume?: Uint8Array;
}

/** A validated configuration file. */
export interface RunConfig {
  /** `seed`, when the file sets it. */
  seed?: number;
  /** `maxTime` in ns, when the file sets it. */
  maxTimeNs?: number;
  /** `pcap`, resolved against the file's directory, when the file sets it. */
  pcap?: string;
  /** `control` (the control socket's path), resolved against the file's directory, when the file sets it. */
  control?: string;
  /** The domains in file order (domain ids are assigned from 1 in this order); images and disks are absolute paths. */
  domains: DomainPlan[];
}

/** A file format we read. */
export type ConfigFormat = 'json' | 'yaml';

/**
 * Reads, parses and validates a configuration file.
 * @throws {@link UsageError} with every problem, each prefixed with the file's path.
 */
export function loadConfigFile(path: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(err);
    throw new UsageError(`--config: ${path}: ${why}`);
  }
  return parseConfigText(text, { fileName: path, baseDir: dirname(resolve(path)) });
}

/** Where a configuration text came from. */
export interface ConfigSource {
  /** Shown before every problem; its extension chooses the format unless `format` is given. */
  fileName: string;
  /** Directory that relative image paths are resolved against. */
  baseDir: string;
  /** Force a format instead of looking at the extension and the text. */
  format?: ConfigFormat;
}

/**
 * Parses and validates a configuration text.
 * @throws {@link UsageError} with every problem, each prefixed with `source.fileName`.
 */
export function parseConfigText(text: string, source: ConfigSource): RunConfig {
  const format = source.format ?? detectFormat(source.fileName, text);
  let value: unknown;
  try {
    value = format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const what = format === 'json' ? 'not valid JSON' : 'not valid YAML';
    throw new UsageError(`${source.fileName}: ${what}: ${syntaxMessage(err, text)}`);
  }
  const problems: string[] = [];
  const config = validateConfig(value, source.baseDir, problems);
  if (problems.length > 0) throw new UsageError(problems.map((p) => `${source.fileName}: ${p}`));
  for (const d of config.domains) {
    for (const x of [...(d.disks ?? []), ...(d.nets ?? []), ...(d.console ? [d.console] : [])]) x.origin = `${source.fileName}: ${x.origin}`;
  }
  return config;
}

/** JSON for `.json`, YAML for `.yaml`/`.yml`; otherwise JSON when the text starts with `{` or `[`. */
export function detectFormat(fileName: string, text: string): ConfigFormat {
  const ext = extname(fileName).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  return /^\s*[{[]/.test(text) ? 'json' : 'yaml';
}

function syntaxMessage(err: unknown, text: string): string {
  // V8 quotes the whole input in some JSON messages ("Unexpected token ',', "{…}" is not valid
  // JSON"); keep the part that says what is wrong, and turn "at position N" into a line and column.
  const full = err instanceof Error ? err.message : String(err);
  const first = (/^(Unexpected token .+?), ".*" is not valid JSON$/s.exec(full)?.[1] ?? full).split('\n')[0] ?? '';
  const msg = first.replace(/:$/, '');
  const pos = /(?: in JSON)? at position (\d+)/.exec(msg);
  if (!pos) return msg;
  const before = text.slice(0, Number(pos[1]));
  const line = before.split('\n').length;
  const col = before.length - before.lastIndexOf('\n');
  return `${msg.slice(0, pos.index)} at line ${line}, column ${col}`;
}

const TOP_KEYS = ['seed', 'maxTime', 'pcap', 'control', 'domains'];
const DOMAIN_KEYS = ['name', 'image', 'memory', 'vcpus', 'cmdline', 'disks', 'net', 'console', 'consoleInput'];

/**
 * Checks a parsed configuration and turns it into a {@link RunConfig}. Each problem found is
 * pushed to `problems` as `path: what is wrong; the fix`; the returned value is meaningful only
 * when none was.
 * @param value - the parsed file.
 * @param baseDir - directory that relative image paths are resolved against.
 */
export function validateConfig(value: unknown, baseDir: string, problems: string[]): RunConfig {
  const config: RunConfig = { domains: [] };
  if (!isObject(value)) {
    problems.push(`expected an object with "domains", got ${describe(value)}`);
    return config;
  }
  checkKeys(value, TOP_KEYS, '', problems);

  if (value.seed !== undefined) {
    const seed = checkSeed(value.seed);
    if (typeof seed === 'string') problems.push(`seed: ${seed}`);
    else config.seed = seed;
  }
  if (value.maxTime !== undefined) {
    if (typeof value.maxTime !== 'string') {
      problems.push(`maxTime: expected a duration such as "10s" or "500ms", got ${describe(value.maxTime)}`);
    } else {
      try {
        config.maxTimeNs = parseDuration(value.maxTime);
      } catch (err) {
        problems.push(`maxTime: ${unitMessage(err)}`);
      }
    }
  }

  if (value.pcap !== undefined) {
    if (typeof value.pcap !== 'string' || value.pcap === '') {
      problems.push(`pcap: expected a file name, got ${describe(value.pcap)}`);
    } else {
      config.pcap = resolve(baseDir, value.pcap);
    }
  }

  if (value.control !== undefined) {
    if (typeof value.control !== 'string' || value.control === '') {
      problems.push(`control: expected the path of the control socket to create, got ${describe(value.control)}`);
    } else {
      config.control = resolve(baseDir, value.control);
    }
  }

  const domains = value.domains;
  if (domains === undefined) {
    problems.push('domains: missing; add a list of domains, each with at least an "image"');
    return config;
  }
  if (!Array.isArray(domains) || domains.length === 0) {
    problems.push(`domains: expected a non-empty list of domains, got ${describe(domains)}`);
    return config;
  }
  const firstUse = new Map<string, number>();
  domains.forEach((d: unknown, i) => {
    const dom = validateDomain(d, `domains[${i}]`, baseDir, problems);
    if (!dom) return;
    const earlier = firstUse.get(dom.name);
    if (earlier !== undefined) {
      const from = isObject(d) && d.name === undefined ? ' (from the image file name)' : '';
      problems.push(
        `domains[${i}].name: "${dom.name}"${from} is already used by domains[${earlier}]; give each domain its own name`,
      );
    } else {
      firstUse.set(dom.name, i);
    }
    config.domains.push(dom);
  });
  return config;
}

function validateDomain(d: unknown, path: string, baseDir: string, problems: string[]): DomainPlan | undefined {
  if (!isObject(d)) {
    problems.push(`${path}: expected an object with at least an "image", got ${describe(d)}`);
    return undefined;
  }
  const before = problems.length;
  checkKeys(d, DOMAIN_KEYS, `${path}.`, problems);

  let image = '';
  if (typeof d.image !== 'string' || d.image === '') {
    const got = d.image === undefined ? 'missing' : `expected a path, got ${describe(d.image)}`;
    problems.push(`${path}.image: ${got}; give the guest's .wasm file, relative to the config file`);
  } else {
    image = resolve(baseDir, d.image);
  }

  let name = '';
  if (d.name === undefined) {
    name = nameFromImage(image);
  } else if (typeof d.name !== 'string') {
    problems.push(`${path}.name: expected a string, got ${describe(d.name)}`);
  } else {
    const bad = checkName(d.name);
    if (bad) problems.push(`${path}.name: ${bad}`);
    name = d.name;
  }

  let memBytes = 0;
  const memory = d.memory ?? DEFAULT_MEMORY;
  if (typeof memory !== 'string' && typeof memory !== 'number') {
    problems.push(`${path}.memory: expected a size such as "64M" or "1G", got ${describe(memory)}`);
  } else {
    try {
      memBytes = parseMemSize(String(memory));
    } catch (err) {
      problems.push(`${path}.memory: ${unitMessage(err)}`);
    }
  }

  let vcpus = 1;
  if (d.vcpus !== undefined) {
    const bad = checkVcpus(d.vcpus);
    if (bad) problems.push(`${path}.vcpus: ${bad}`);
    else vcpus = d.vcpus as number;
  }

  let cmdline = '';
  if (d.cmdline !== undefined) {
    if (typeof d.cmdline !== 'string') {
      problems.push(`${path}.cmdline: expected a string, got ${describe(d.cmdline)}; quote it`);
    } else {
      const bad = checkCmdline(d.cmdline);
      if (bad) problems.push(`${path}.cmdline: ${bad}`);
      cmdline = d.cmdline;
    }
  }

  const disks: DiskPlan[] = [];
  if (d.disks !== undefined) {
    if (!Array.isArray(d.disks)) {
      problems.push(`${path}.disks: expected a list of disks, each "PATH[,ro][,size=SIZE]" or { path, ro, size }, got ${describe(d.disks)}`);
    } else {
      d.disks.forEach((x: unknown, i) => {
        const disk = validateDisk(x, `${path}.disks[${i}]`, baseDir, problems);
        if (disk) disks.push(disk);
      });
    }
  }

  const nets: NetPlan[] = [];
  if (d.net !== undefined) {
    if (!Array.isArray(d.net)) {
      problems.push(`${path}.net: expected a list of NICs, each "SWITCH[,mac=MAC]" or { switch, mac }, got ${describe(d.net)}`);
    } else {
      d.net.forEach((x: unknown, i) => {
        const nic = validateNet(x, `${path}.net[${i}]`, problems);
        if (nic) nets.push(nic);
      });
    }
  }

  let console: ConsolePlan | undefined;
  if (d.console !== undefined) {
    const c = typeof d.console === 'string' ? parseConsoleText(d.console) : `expected "stdio", "file:PATH" or "socket:PATH", got ${describe(d.console)}`;
    if (typeof c === 'string') problems.push(`${path}.console: ${c}`);
    else console = c.kind === 'stdio' ? { ...c, origin: `${path}.console` } : { ...c, path: resolve(baseDir, c.path), origin: `${path}.console` };
  }
  if (d.consoleInput !== undefined) {
    if (typeof d.consoleInput !== 'string') problems.push(`${path}.consoleInput: expected a string (the bytes typed into console0), got ${describe(d.consoleInput)}`);
    else if (d.console === undefined) problems.push(`${path}.consoleInput: needs a console; add "console": "stdio" (or file:PATH, socket:PATH)`);
    else if (console !== undefined) console.input = d.consoleInput;
  }

  if (problems.length > before) return undefined;
  const dom: DomainPlan = { name, image, memBytes, vcpus, cmdline };
  if (disks.length > 0) dom.disks = disks;
  if (nets.length > 0) dom.nets = nets;
  if (console !== undefined) dom.console = console;
  return dom;
}

function validateNet(x: unknown, path: string, problems: string[]): NetPlan | undefined {
  if (typeof x === 'string') {
    const nic = parseNetText(x);
    if (typeof nic === 'string') {
      problems.push(`${path}: ${nic}`);
      return undefined;
    }
    return { ...nic, origin: path };
  }
  if (!isObject(x)) {
    problems.push(`${path}: expected "SWITCH[,mac=MAC]" or { switch, mac }, got ${describe(x)}`);
    return undefined;
  }
  const before = problems.length;
  checkKeys(x, NET_KEYS, `${path}.`, problems);
  let sw = '';
  if (typeof x.switch !== 'string') {
    const got = x.switch === undefined ? 'missing' : `expected a name, got ${describe(x.switch)}`;
    problems.push(`${path}.switch: ${got}; give the name of the switch to plug the NIC into`);
  } else {
    const bad = checkSwitchName(x.switch);
    if (bad) problems.push(`${path}.switch: ${bad}`);
    sw = x.switch;
  }
  let mac: string | undefined;
  if (x.mac !== undefined) {
    if (typeof x.mac !== 'string') {
      problems.push(`${path}.mac: expected a MAC address such as "02:00:00:00:00:01", got ${describe(x.mac)}`);
    } else {
      const m = parseMacText(x.mac);
      if ('problem' in m) problems.push(`${path}.mac: ${m.problem}`);
      else mac = m.mac;
    }
  }
  if (problems.length > before) return undefined;
  const nic: NetPlan = { switch: sw, origin: path };
  if (mac !== undefined) nic.mac = mac;
  return nic;
}

function validateDisk(x: unknown, path: string, baseDir: string, problems: string[]): DiskPlan | undefined {
  if (typeof x === 'string') {
    const disk = parseDiskText(x);
    if (typeof disk === 'string') {
      problems.push(`${path}: ${disk}`);
      return undefined;
    }
    return { ...disk, path: resolve(baseDir, disk.path), origin: path, from: 'config' };
  }
  if (!isObject(x)) {
    problems.push(`${path}: expected "PATH[,ro][,size=SIZE]" or { path, ro, size }, got ${describe(x)}`);
    return undefined;
  }
  const before = problems.length;
  checkKeys(x, DISK_KEYS, `${path}.`, problems);
  let file = '';
  if (typeof x.path !== 'string' || x.path === '') {
    const got = x.path === undefined ? 'missing' : `expected a path, got ${describe(x.path)}`;
    problems.push(`${path}.path: ${got}; give the raw image file, relative to the config file`);
  } else {
    file = resolve(baseDir, x.path);
  }
  if (x.ro !== undefined && typeof x.ro !== 'boolean') {
    problems.push(`${path}.ro: expected true or false, got ${describe(x.ro)}`);
  }
  let createSize: number | undefined;
  if (x.size !== undefined) {
    if (typeof x.size !== 'string' && typeof x.size !== 'number') {
      problems.push(`${path}.size: expected a size such as "64M" or "1G", got ${describe(x.size)}`);
    } else {
      const size = sizeOf(x.size);
      if (typeof size === 'string') problems.push(`${path}.size: ${size}`);
      else createSize = size;
    }
  }
  if (problems.length > before) return undefined;
  const disk: DiskPlan = { path: file, readOnly: x.ro === true, origin: path, from: 'config' };
  if (createSize !== undefined) disk.createSize = createSize;
  return disk;
}

/**
 * Checks a domain name: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit.
 * @returns what is wrong, or undefined when the name is fine.
 */
export function checkName(name: string): string | undefined {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) return undefined;
  return `"${name}" is not a valid name; use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`;
}

/** A valid domain name derived from an image path: `/x/ping-pong.wasm` → `ping-pong`. */
export function nameFromImage(image: string): string {
  const stem = basename(image, extname(image)).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[._-]+/, '');
  return stem.slice(0, 64) || 'guest';
}

/**
 * Checks a vCPU count (an integer from 1 to the ABI's MAX_VCPUS).
 * @returns what is wrong, or undefined.
 */
export function checkVcpus(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_VCPUS) return undefined;
  return `${describe(v)} is not a vCPU count; use a whole number from 1 to ${MAX_VCPUS}`;
}

/**
 * Checks a command line (at most the ABI's CMDLINE_MAX bytes of UTF-8, no NUL).
 * @returns what is wrong, or undefined.
 */
export function checkCmdline(s: string): string | undefined {
  if (s.includes('\0')) return 'contains a NUL byte; the guest sees the command line as a C string';
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes > CMDLINE_MAX) return `is ${bytes} bytes long; the most is ${CMDLINE_MAX}`;
  return undefined;
}

/**
 * Checks a seed (an integer 0..2^32-1).
 * @returns the seed, or what is wrong.
 */
export function checkSeed(v: unknown): number | string {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  return `${describe(v)} is not a seed; use a whole number from 0 to 4294967295`;
}

function checkKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string, problems: string[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const guess = didYouMean(key, known);
    const hint = guess !== undefined ? `did you mean "${guess}"? ` : '';
    problems.push(`${prefix}${key}: unknown key; ${hint}valid keys here: ${known.join(', ')}`);
  }
}

function unitMessage(err: unknown): string {
  if (err instanceof UnitError) return err.message;
  throw err;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as it appears in a message: `"12X"`, `12`, `a list`, `an object`, `null`. */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
