/**
 * Device options of `pvisor run`, as flags (`--disk PATH[,ro][,size=SIZE]`, `--net SWITCH[,mac=MAC]`,
 * `--console stdio|file:PATH|socket:PATH`) and as config-file entries (`disks`, `net`,
 * `console`). Pure parsing: whether a file exists is checked when the run starts (`run.ts`).
 * @module
 */
import type { ConsoleConfig, DiskConfig, NetConfig } from '../control/types.ts';
import { parseDiskSize, UnitError } from './units.ts';

/** A disk as planned: what to open, and where the user asked for it (for messages). */
export interface DiskPlan extends DiskConfig {
  /** Where it was asked for, as messages start: `--disk d.img` or `run.yaml: domains[0].disks[1]`. */
  origin: string;
  /** Whether it came from a flag (hints say `,size=64M`) or a config file (hints say `size: 64M`). */
  from: 'flag' | 'config';
}

/** The options a `--disk` value may carry after the path. */
export const DISK_OPTIONS = ['ro', 'size=SIZE'];

/** Keys of a disk object in a config file. */
export const DISK_KEYS = ['path', 'ro', 'size'];

/** The manifest name of a domain's `index`th disk: `disk0`, `disk1`, … */
export function diskName(index: number): string {
  return `disk${index}`;
}

/**
 * Parses `PATH[,ro][,size=SIZE]`: the path, then options separated by commas.
 * @returns the disk (path as written), or what is wrong (without the `--disk …: ` prefix).
 */
export function parseDiskText(text: string): DiskConfig | string {
  const [path = '', ...opts] = text.split(',');
  if (path === '') return `"${text}" has no path; write PATH[,ro][,size=SIZE], e.g. disk.img,size=64M`;
  const disk: DiskConfig = { path, readOnly: false };
  const seen = new Set<string>();
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    const key = eq >= 0 ? opt.slice(0, eq) : opt;
    if (seen.has(key)) return `option "${key}" is given twice; give it once`;
    seen.add(key);
    if (opt === 'ro') {
      disk.readOnly = true;
    } else if (key === 'size' && eq >= 0) {
      const size = sizeOf(opt.slice(eq + 1));
      if (typeof size === 'string') return `size: ${size}`;
      disk.createSize = size;
    } else if (key === 'size') {
      return 'size needs a value: size=SIZE, e.g. size=64M';
    } else {
      return `unknown option "${opt}"; valid options: ${DISK_OPTIONS.join(', ')}`;
    }
  }
  return disk;
}

/**
 * A disk size as typed (`64M`, or a number of bytes in a config file).
 * @returns bytes, or what is wrong (quoting the value).
 */
export function sizeOf(value: string | number): number | string {
  try {
    return parseDiskSize(String(value));
  } catch (err) {
    if (err instanceof UnitError) return err.message;
    throw err;
  }
}

/** The hint for creating a missing image: `,size=64M` for a flag, `size: 64M` in a config file. */
export function createHint(from: DiskPlan['from']): string {
  return from === 'flag' ? 'add ,size=64M to create it' : 'add size: 64M to create it';
}

/** A NIC as planned, with where it was asked for. */
export interface NetPlan extends NetConfig {
  /** Where it was asked for: `--net lan` or `run.yaml: domains[0].net[1]`. */
  origin: string;
}

/** A console as planned, with where it was asked for. */
export type ConsolePlan = ConsoleConfig & {
  /** Where it was asked for: `--console socket:/tmp/c` or `run.yaml: domains[0].console`. */
  origin: string;
  /**
   * Bytes typed into the console before the run starts (`--console-input`, `consoleInput`):
   * a scripted session, like piping a file into a serial port.
   */
  input?: string;
};

/** The options a `--net` value may carry after the switch name. */
export const NET_OPTIONS = ['mac=MAC'];

/** Keys of a NIC object in a config file. */
export const NET_KEYS = ['switch', 'mac'];

/** The manifest name of a domain's `index`th NIC: `net0`, `net1`, … */
export function netName(index: number): string {
  return `net${index}`;
}

/** The manifest name of a domain's console. */
export const CONSOLE_NAME = 'console0';

/** An unmodified guest's NIC as messages and its switch port name it: the NE2000 at 0x300, IRQ 10. */
export const LEGACY_NIC_NAME = 'ne0';

/**
 * What is wrong with the devices asked for an unmodified guest (one that imports nothing from
 * `pv`): its emulated PC has one ATA disk (primary master) and one NE2000, so the first disk and
 * the first NIC are all it can take. Each problem names the flag or config field and the fix.
 * @param name - the domain's name.
 * @param disks - its disks as planned (`--disk` or `disks`).
 * @param nets - its NICs as planned (`--net` or `net`).
 */
export function legacyDeviceProblems(name: string, disks: readonly DiskPlan[], nets: readonly NetPlan[]): string[] {
  const problems: string[] = [];
  const why = `domain ${name} is an unmodified guest (it imports nothing from pv), and its PC has`;
  const first = disks[0];
  if (first !== undefined && disks.length > 1) {
    const fix = first.from === 'flag' ? 'give it one --disk' : 'list one disk';
    problems.push(`${fieldOf(first.origin)}: ${why} one ATA disk (primary master); ${fix}, not ${disks.length}`);
  }
  const nic = nets[0];
  if (nic !== undefined && nets.length > 1) {
    const fix = nic.origin.startsWith('--') ? 'give it one --net' : 'list one switch';
    problems.push(`${fieldOf(nic.origin)}: ${why} one NE2000 NIC (0x300, IRQ 10); ${fix}, not ${nets.length}`);
  }
  return problems;
}

/** The flag or config field of a device's origin: `--disk a.img` → `--disk`, `f.json: domains[0].disks[1]` → `f.json: domains[0].disks`. */
function fieldOf(origin: string): string {
  return origin.startsWith('--') ? (origin.split(' ')[0] as string) : origin.replace(/\[\d+\]$/, '');
}

/**
 * Checks a switch name: 1 to 32 letters, digits, `.`, `_` or `-`, starting with a letter or digit.
 * @returns what is wrong, or undefined.
 */
export function checkSwitchName(name: string): string | undefined {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(name)) return undefined;
  return `"${name}" is not a valid switch name; use 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit`;
}

/**
 * Checks a MAC address: six hex bytes separated by `:` (or `-`), unicast, not all zero.
 * @returns the address as `aa:bb:cc:dd:ee:ff`, or what is wrong.
 */
export function parseMacText(text: string): { mac: string } | { problem: string } {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    return { problem: `"${text}" is not a MAC address; write six hex bytes, e.g. 02:00:00:00:00:01` };
  }
  const bytes = parts.map((p) => parseInt(p, 16));
  if (((bytes[0] as number) & 1) !== 0) {
    return { problem: `"${text}" is a multicast address (the first byte is odd); a NIC needs a unicast one, e.g. 02:00:00:00:00:01` };
  }
  if (bytes.every((b) => b === 0)) return { problem: `"${text}" is the all-zero address; use e.g. 02:00:00:00:00:01` };
  return { mac: parts.join(':').toLowerCase() };
}

/**
 * Parses `SWITCH[,mac=MAC]`.
 * @returns the NIC, or what is wrong (without the `--net …: ` prefix).
 */
export function parseNetText(text: string): NetConfig | string {
  const [sw = '', ...opts] = text.split(',');
  if (sw === '') return `"${text}" has no switch name; write SWITCH[,mac=MAC], e.g. lan or lan,mac=02:00:00:00:00:01`;
  const bad = checkSwitchName(sw);
  if (bad) return bad;
  const net: NetConfig = { switch: sw };
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    const key = eq >= 0 ? opt.slice(0, eq) : opt;
    if (key === 'mac' && eq >= 0) {
      if (net.mac !== undefined) return 'option "mac" is given twice; give it once';
      const m = parseMacText(opt.slice(eq + 1));
      if ('problem' in m) return `mac: ${m.problem}`;
      net.mac = m.mac;
    } else if (key === 'mac') {
      return 'mac needs a value: mac=MAC, e.g. mac=02:00:00:00:00:01';
    } else {
      return `unknown option "${opt}"; valid options: ${NET_OPTIONS.join(', ')}`;
    }
  }
  return net;
}

/**
 * Parses `stdio`, `file:PATH` or `socket:PATH`.
 * @returns the console (paths as written), or what is wrong.
 */
export function parseConsoleText(text: string): ConsoleConfig | string {
  if (text === 'stdio') return { kind: 'stdio' };
  const colon = text.indexOf(':');
  const kind = colon >= 0 ? text.slice(0, colon) : text;
  const path = colon >= 0 ? text.slice(colon + 1) : '';
  if (kind === 'file' || kind === 'socket') {
    if (path === '') return `"${text}" has no path; write ${kind}:PATH`;
    return { kind, path };
  }
  return `"${text}" is not a console; use stdio, file:PATH or socket:PATH`;
}
