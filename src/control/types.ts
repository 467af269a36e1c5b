/**
 * Types of the toolstack API: what a caller (the CLI, a test, a user's script) gives to
 * `System` (src/control/system.ts) and what it gets back. Kept apart from the implementation so that the CLI and
 * the config parser depend only on these shapes.
 * @module
 */
import type { ExitCounts } from '../bench/exits.ts';

/** Where a domain's console output goes. */
export type ConsoleSink = (domain: string, text: string) => void;

/** One domain to create, as the user described it (config file or CLI flags). */
export interface DomainConfig {
  /** Unique name, used as the console prefix and in reports. */
  name: string;
  /** Path of the guest's `.wasm` image, or its bytes. */
  image: string | Uint8Array;
  /** Guest memory in bytes; a multiple of 64 KiB. */
  memBytes: number;
  /** vCPUs the domain may use (1..32). */
  vcpus: number;
  /** Command line handed to the guest in start_info (at most 1024 bytes). */
  cmdline: string;
  /**
   * A controlling domain (SIF_PRIVILEGED): it may make `domctl` calls (create, destroy and
   * resize other domains). Default false.
   */
  privileged?: boolean;
  /**
   * The most memory the guest may grow to with `memory.grow` (bytes, a multiple of 64 KiB; its
   * WebAssembly maximum and start_info.max_mem). Growing takes frames from the host's free pool.
   * Default: memBytes (no growth).
   */
  maxMemBytes?: number;
}

/**
 * A raw disk image file to plug into a domain as a virtio-blk device (`pvisor run --disk`,
 * `domains[i].disks` in a config file). The toolstack's caller opens it with
 * `RawFileDiskImage.open` and attaches it with `System.attachDevice`.
 */
export interface DiskConfig {
  /** Path of the raw image file. */
  path: string;
  /** Open read-only; the device offers VIRTIO_BLK_F_RO and refuses writes. */
  readOnly: boolean;
  /** When the file does not exist, create it sparse with this many bytes (a multiple of 512). */
  createSize?: number;
}

/** A virtio-net NIC plugged into a virtual switch (`pvisor run --net`, `domains[i].net`). */
export interface NetConfig {
  /** Name of the switch; switches are created on first use and shared by every domain of a run. */
  switch: string;
  /** MAC address `aa:bb:cc:dd:ee:ff` (unicast); default derived from the domain id and NIC index (`02:70:76:…`). */
  mac?: string;
}

/**
 * Where a virtio-console's output goes and its input comes from (`pvisor run --console`,
 * `domains[i].console`): stdout (prefixed like the hypercall console), a file (output only), or
 * a Unix socket server a client attaches to (`socat - UNIX-CONNECT:PATH`).
 */
export type ConsoleConfig = { kind: 'stdio' } | { kind: 'file'; path: string } | { kind: 'socket'; path: string };

/** Options for a whole run. */
export interface SystemOptions {
  /** Seed for every random choice the host makes; same seed, same run. */
  seed: number;
  /** Stop the run when virtual time reaches this many nanoseconds (domains still running are reported as such). */
  maxTimeNs?: number;
  /** Receives console output; the default writes to stdout with a `[name] ` prefix when there are several domains. */
  console?: ConsoleSink;
  /** Receives host log lines (warnings about guest behaviour, host faults). Default: stderr. */
  log?: (line: string) => void;
  /** Directory for instrumented-module cache; default `node_modules/.cache/pvisor` or `$PVISOR_CACHE_DIR`. */
  cacheDir?: string;
  /** When set, every exit is recorded in the report's `trace`. */
  trace?: boolean;
  /** Boot wallclock in ns since the epoch (deterministic runs use a fixed default). */
  wallclockNs?: number;
}

/** How a domain ended (or that it had not ended when the run stopped). */
export type DomainOutcome =
  | { kind: 'poweroff'; code: number }
  | { kind: 'reboot'; code: number }
  | { kind: 'crash'; code: number }
  | { kind: 'crashed'; reason: string; backtrace: string[] }
  | { kind: 'running' };

/** The report of one domain after a run. */
export interface DomainReport {
  /** Domain id (guest domains are numbered from 1 in creation order). */
  id: number;
  /** Name from the config. */
  name: string;
  /** How it ended. */
  outcome: DomainOutcome;
  /** Hypercalls made, by call name. */
  hypercalls: Record<string, number>;
  /** Virtual time at which it ended, in ns. */
  endedAtNs: number;
  /**
   * Exits by kind: hypercalls, port I/O and MMIO by device, halts, interrupt injections, upcalls
   * (see src/bench/exits.ts). `System.run` always fills it; optional so hand-made reports need not.
   */
  exits?: ExitCounts;
  /**
   * Set when the domain was destroyed during the run (the control socket, a controlling
   * domain's domctl, System.destroyDomain): it is in the report still, and `outcome` is how it had
   * ended — a domain destroyed while alive is `crashed` with the destroyer's reason.
   */
  destroyed?: true;
}

/** One recorded exit, when tracing is on. */
export interface TraceRecord {
  /** Virtual time in ns. */
  t: number;
  /** Domain id. */
  dom: number;
  /** vCPU index. */
  vcpu: number;
  /** What happened: a call name, `upcall`, `preempt`, `block`, `wake`, `crash`. */
  ev: string;
  /** Arguments or details. */
  args?: number[];
  /** Result of a call. */
  ret?: number;
}

/** The report of a whole run. */
export interface RunReport {
  /** Per domain, in creation order. */
  domains: DomainReport[];
  /** Virtual time at the end of the run, in ns. */
  virtualTimeNs: number;
  /** Wall-clock milliseconds the run took. */
  wallMs: number;
  /** True when every domain powered off with code 0. */
  ok: boolean;
  /** Recorded exits when `trace` was set. */
  trace?: TraceRecord[];
  /** The domain whose end ended the run (`System.endRunWith`, the controlling domain of `pvisor boot`), when it did. */
  endedWith?: { id: number; name: string };
}
