/**
 * Executing a {@link RunPlan}: create the domains with the toolstack, plug in their devices, run
 * them, report.
 *
 * The toolstack (and with it binaryen) is imported only here and only when a run starts, so
 * that `pvisor --help` and flag errors answer at once.
 * @module
 */
import { closeSync, existsSync, openSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import type { Socket } from 'node:net';
import { isAbsolute, relative, resolve } from 'node:path';
import { MAX_DEVICES } from '../abi/index.ts';
import { UsageError } from './args.ts';
import { BOOTVOL_DEVICE } from '../control/boot-volume.ts';
import type { ExternalInput, LegacyDevices, System } from '../control/system.ts';
import type { SystemOptions, TraceRecord } from '../control/types.ts';
import type { Domain } from '../hv/index.ts';
import type { LegacyPlatform } from '../legacy/platform.ts';
import type { VirtioBackend } from '../virtio/device.ts';
import type { DiskImage } from '../virtio/disk-image.ts';
import type { VirtioMmioDevice } from '../virtio/mmio.ts';
import type { PcapWriter } from '../virtio/pcap.ts';
import type { VirtualSwitch } from '../virtio/switch.ts';
import type { CliIo } from './cli.ts';
import { CONSOLE_NAME, createHint, diskName, LEGACY_NIC_NAME, legacyDeviceProblems, netName, type DiskPlan, type NetPlan } from './devices.ts';
import type { RunPlan } from './plan.ts';
import { formatTrace, summarizeRun } from './report.ts';

/**
 * Runs the plan and returns the exit status (0 or 1); guest console output goes to stdout,
 * the per-domain summary to `io.err`.
 * @throws {@link UsageError} for a missing image or disk, an unwritable trace file or a bad guest image (exit 2).
 */
export async function runPlan(plan: RunPlan, io: CliIo): Promise<number> {
  const missing = plan.domains
    .filter((d) => typeof d.image === 'string' && !existsSync(d.image))
    .map((d) => `domain ${d.name}: no such image file: ${shortPath(d.image as string)}`);
  const problems = [...missing, ...checkDevices(plan)];
  if (plan.control !== undefined && existsSync(plan.control.path)) {
    problems.push(`${plan.control.origin}: ${shortPath(plan.control.path)} already exists; remove it (a socket left by an earlier run?)`);
  }
  if (problems.length > 0) throw new UsageError(problems);

  // Open the trace file before the run, so that a bad path fails at once, not after it.
  let traceFd: number | undefined;
  if (plan.traceFile !== undefined) {
    try {
      traceFd = openSync(plan.traceFile, 'w');
    } catch (err) {
      throw new UsageError(`--trace: cannot write ${plan.traceFile}: ${(err as Error).message}`);
    }
  }

  let built: BuiltSystem | undefined;
  let control: { close(): void } | undefined;
  try {
    built = await buildSystem(plan, { trace: traceFd !== undefined });
    // Ctrl-C while waiting for a console client: remove the sockets rather than leave them behind.
    const b = built;
    const onInterrupt = (): void => {
      b.close();
      process.exit(130);
    };
    process.once('SIGINT', onInterrupt);
    try {
      await built.waitForClients();
    } finally {
      process.off('SIGINT', onInterrupt);
    }
    const sys = built.system;
    if (plan.endWith !== undefined) {
      const i = plan.domains.findIndex((d) => d.name === plan.endWith);
      if (i >= 0) sys.endRunWith(built.domains[i] as Domain);
    }
    if (plan.control !== undefined) {
      // An external input of the run: the run yields to it and, while a domain is paused, waits for it.
      const { listenControl } = await import('../control/control-socket.ts');
      const c = plan.control;
      try {
        const server = await listenControl(sys, c.path);
        control = server;
        sys.addExternalInput(server);
      } catch (err) {
        throw new UsageError(`${c.origin}: ${(err as Error).message}`);
      }
      if (!plan.quiet) io.err(`pvisor: control socket on ${c.path}: pvisor ctl ${c.path} list\n`);
    }
    // With socket consoles or a control socket the run yields to the event loop, so Ctrl-C can
    // end it gracefully: stop the guests where they are and print the usual summary. (Without
    // them the run is one synchronous call and Ctrl-C keeps its default effect.)
    const onStop = (): void => sys.stop('interrupted (SIGINT)');
    if (sys.hasExternalInputs) process.once('SIGINT', onStop);
    let report;
    try {
      report = await sys.run();
    } finally {
      process.off('SIGINT', onStop);
    }
    if (traceFd !== undefined) writeTrace(traceFd, report.trace ?? []);
    const summary = summarizeRun(report, { quiet: plan.quiet, maxTimeNs: plan.maxTimeNs, ...(plan.endWith !== undefined ? { judgeBy: plan.endWith } : {}) });
    for (const line of summary.lines) io.err(`${line}\n`);
    return summary.exitCode;
  } finally {
    control?.close();
    built?.close();
    if (traceFd !== undefined) closeSync(traceFd);
  }
}

/** A system built from a plan, not yet run. */
export interface BuiltSystem {
  /** The toolstack, with every domain created and every device attached. */
  system: System;
  /** The domains, in plan order. */
  domains: Domain[];
  /** The devices attached to each domain, in plan order (the same order as the manifest); none for an unmodified guest. */
  devices: VirtioMmioDevice[][];
  /** Each domain's emulated PC, in plan order: set for unmodified guests (its ATA disk and NE2000 carry their statistics), undefined for paravirtual ones. */
  legacy: (LegacyPlatform | undefined)[];
  /** The virtual switches, by name, in order of first use. */
  switches: Map<string, VirtualSwitch>;
  /**
   * Waits until every `socket:` console has a client: guest output has nowhere to go before.
   * Input is taken while the run goes on. Resolves at once without socket consoles.
   */
  waitForClients(): Promise<void>;
  /** Closes disk images, console files and sockets, and the capture (idempotent); call it after the run. */
  close(): void;
}

/** Options of {@link buildSystem} beyond the plan. */
export interface BuildOptions {
  /** Record every exit (for `--trace`). */
  trace?: boolean;
  /** Console sink (default: stdout, see {@link SystemOptions.console}). */
  console?: SystemOptions['console'];
  /** Host log (default: stderr, see {@link SystemOptions.log}); devices log here too. */
  log?: SystemOptions['log'];
}

/**
 * Creates the System of a plan: every domain, then its devices, attached with
 * `System.attachDevice` in this order — a boot volume (`pvisor boot --image`: the read-only,
 * memory-backed virtio-blk `boot`), `--disk` (virtio-blk `diskN` on a raw image file,
 * created sparse when asked), `--net` (virtio-net `netN` plugged into its switch; switches are
 * created on first use and shared by all domains), `--console` (virtio-console `console0`) —
 * and the `--pcap` capture on every switch. An unmodified guest (full virtualization) gets the
 * same image and switch objects as legacy devices instead, with `System.plugLegacy`: its one
 * disk as the ATA primary master (`ata0`), its one NIC as the NE2000 at 0x300, IRQ 10 (`ne0`,
 * switch port `NAME.ne0`), and the console as its COM1 16550A (stdio: the domain console, as
 * without `--console`; a file; or a socket whose input enters the receive FIFO). Nothing runs.
 * On failure, whatever was opened is closed again.
 * @throws {@link UsageError} for a guest image that cannot boot, more than one disk or NIC for
 *   an unmodified guest, or a disk, console or capture file that cannot be opened.
 */
export async function buildSystem(plan: RunPlan, opts: BuildOptions = {}): Promise<BuiltSystem> {
  const [{ System }, { GuestImageError }, disk, blk, mmio, net, sw, con, pcapMod] = await Promise.all([
    import('../control/system.ts'),
    import('../engine/errors.ts'),
    import('../virtio/disk-image.ts'),
    import('../virtio/blk.ts'),
    import('../virtio/mmio.ts'),
    import('../virtio/net.ts'),
    import('../virtio/switch.ts'),
    import('../virtio/console.ts'),
    import('../virtio/pcap.ts'),
  ]);
  const sysOpts: SystemOptions = { seed: plan.seed, maxTimeNs: plan.maxTimeNs, trace: opts.trace === true };
  if (opts.console !== undefined) sysOpts.console = opts.console;
  if (opts.log !== undefined) sysOpts.log = opts.log;
  const system = new System(sysOpts);
  const domains: Domain[] = [];
  for (const d of plan.domains) {
    try {
      domains.push(await system.addDomain(d));
    } catch (err) {
      if (!(err instanceof GuestImageError)) throw err;
      const image = typeof d.image === 'string' ? ` (${shortPath(d.image)})` : '';
      throw new UsageError([`domain ${d.name}${image} cannot boot:`, ...err.problems.map((p: string) => `  ${p}`)]);
    }
  }
  // Unmodified guests are known once their images are inspected; refuse what their PC cannot
  // take before any device is opened.
  const fv = plan.domains.flatMap((d, i) => {
    if (domains[i]?.legacy === undefined) return [];
    const problems = legacyDeviceProblems(d.name, d.disks ?? [], d.nets ?? []);
    // A controlling domain drives the host with hypercalls, which an unmodified guest cannot make.
    if (d.bootVolume !== undefined) problems.push(`domain ${d.name}: an unmodified guest (it imports nothing from module pv) cannot be the controlling domain; build it with the guest kit`);
    return problems;
  });
  if (fv.length > 0) throw new UsageError(fv);
  const log = (line: string): void => system.hv.log(line);

  const closers: (() => void)[] = [];
  const close = (): void => {
    for (const c of closers.splice(0)) {
      try {
        c();
      } catch (err) {
        log(`closing devices: ${(err as Error).message}`);
      }
    }
  };
  const waits: (() => Promise<void>)[] = [];
  const devices: VirtioMmioDevice[][] = [];
  const legacy: (LegacyPlatform | undefined)[] = [];
  const switches = new Map<string, VirtualSwitch>();
  try {
    let capture: PcapWriter | undefined;
    if (plan.pcapFile !== undefined) {
      try {
        capture = pcapMod.PcapWriter.toFile(plan.pcapFile, { clock: () => system.hv.now, log });
      } catch (err) {
        throw new UsageError(`--pcap: cannot write ${plan.pcapFile}: ${(err as Error).message}`);
      }
      const c = capture;
      closers.push(() => c.close());
    }
    const switchFor = (name: string): VirtualSwitch => {
      let s = switches.get(name);
      if (s === undefined) {
        s = new sw.VirtualSwitch(name);
        switches.set(name, s);
        capture?.attach(s);
      }
      return s;
    };
    const macUsers = new Map<string, string>();
    /** Opens (or creates) a disk image; the same backend for virtio-blk and ATA. */
    const openDisk = (dk: DiskPlan): DiskImage => {
      let image: DiskImage;
      try {
        image = disk.RawFileDiskImage.open(dk.path, {
          readOnly: dk.readOnly,
          ...(dk.createSize !== undefined ? { createSize: dk.createSize } : {}),
        });
      } catch (err) {
        throw new UsageError(`${dk.origin}: cannot open: ${(err as Error).message}`);
      }
      closers.push(() => image.close());
      return image;
    };
    /** The NIC's MAC (default: the deterministic one of the domain's `n`th NIC), refused if its switch has it already. */
    const claimMac = (domain: Domain, nic: NetPlan, n: number, device: string): string => {
      const mac = nic.mac ?? sw.formatMac(sw.localMac(domain.id, n));
      const key = `${nic.switch} ${mac}`;
      const earlier = macUsers.get(key);
      if (earlier !== undefined) {
        throw new UsageError(`${nic.origin}: MAC ${mac} is already used on switch ${nic.switch} by ${earlier}; give each NIC its own mac=`);
      }
      macUsers.set(key, `domain ${domain.name} (${device})`);
      return mac;
    };

    for (const [i, d] of plan.domains.entries()) {
      const domain = domains[i] as Domain;
      const attached: VirtioMmioDevice[] = [];
      const devLog = (line: string): void => log(`domain ${domain.name}: ${line}`);
      if (domain.legacy !== undefined) {
        // Full virtualization: the first (only) disk and NIC become the PC's ATA disk and NE2000.
        const dev: LegacyDevices = {};
        const dk = d.disks?.[0];
        if (dk !== undefined) dev.disk = openDisk(dk);
        const nic = d.nets?.[0];
        if (nic !== undefined) {
          const mac = claimMac(domain, nic, 0, LEGACY_NIC_NAME);
          dev.nic = { sw: switchFor(nic.switch), mac: sw.parseMac(mac), port: LEGACY_NIC_NAME };
        }
        // COM1 is the console: its output goes to the domain console unless a file or socket takes it.
        let pc: LegacyPlatform | undefined;
        const c = d.console;
        if (c?.kind === 'file') {
          dev.console = fileConsole(c.path, c.origin, con.fileSink, closers);
        } else if (c?.kind === 'socket') {
          let toClients: (bytes: Uint8Array) => void = () => {};
          const end: ConsoleEnd = { input: (bytes) => pc?.uart.pushInput(bytes), setSink: (f) => (toClients = f) };
          const server = await socketConsole(c.path, c.origin, end, (line) => devLog(`com1: ${line}`));
          closers.push(() => server.close());
          waits.push(() => server.waitForClient());
          system.addExternalInput(server);
          dev.console = (bytes) => toClients(bytes);
        }
        pc = system.plugLegacy(domain, dev);
        if (c?.input !== undefined) pc.uart.pushInput(c.input);
        devices.push(attached);
        legacy.push(pc);
        continue;
      }
      const attach = (name: string, backend: VirtioBackend): VirtioMmioDevice => {
        const dev = new mmio.VirtioMmioDevice({ name, backend, mem: domain.mem, log: devLog });
        system.attachDevice(domain, dev);
        attached.push(dev);
        return dev;
      };

      if (d.bootVolume !== undefined) {
        // First, so the controlling domain finds it at manifest entry 0 whatever else it has.
        const image = new disk.MemoryDiskImage(d.bootVolume, { readOnly: true });
        attach(BOOTVOL_DEVICE, new blk.VirtioBlk({ image, id: 'pvisor-boot' }));
      }

      for (const [n, dk] of (d.disks ?? []).entries()) {
        const image = openDisk(dk);
        attach(diskName(n), new blk.VirtioBlk({ image, id: `pvisor-${diskName(n)}` }));
      }

      for (const [n, nic] of (d.nets ?? []).entries()) {
        const mac = claimMac(domain, nic, n, netName(n));
        const backend = new net.VirtioNet({ mac });
        attach(netName(n), backend);
        backend.connect(switchFor(nic.switch), `${domain.name}.${netName(n)}`);
      }

      const c = d.console;
      if (c !== undefined) {
        const backend = new con.VirtioConsole();
        // Scripted input waits in the device until the guest posts receive buffers.
        if (c.input !== undefined) backend.input(c.input);
        if (c.kind === 'stdio') {
          backend.setSink((bytes) => system.consoleOutput(domain, bytes));
        } else if (c.kind === 'file') {
          backend.setSink(fileConsole(c.path, c.origin, con.fileSink, closers));
        } else {
          const server = await socketConsole(c.path, c.origin, backend, (line) => devLog(`${CONSOLE_NAME}: ${line}`));
          closers.push(() => server.close());
          waits.push(() => server.waitForClient());
          system.addExternalInput(server);
        }
        attach(CONSOLE_NAME, backend);
      }
      devices.push(attached);
      legacy.push(undefined);
    }
  } catch (err) {
    close();
    throw err;
  }
  const waitForClients = async (): Promise<void> => {
    for (const w of waits) await w();
  };
  return { system, domains, devices, legacy, switches, waitForClients, close };
}

/** Opens a console file for writing (closed with the rest); its writer. */
function fileConsole(
  path: string,
  origin: string,
  open: (path: string) => { write(bytes: Uint8Array): void; close(): void },
  closers: (() => void)[],
): (bytes: Uint8Array) => void {
  let sink: { write(bytes: Uint8Array): void; close(): void };
  try {
    sink = open(path);
  } catch (err) {
    throw new UsageError(`${origin}: cannot write ${path}: ${(err as Error).message}`);
  }
  closers.push(() => sink.close());
  return (bytes) => sink.write(bytes);
}

/** The guest end of a console: a virtio-console, or an unmodified guest's COM1. */
interface ConsoleEnd {
  /** Bytes typed by a client, for the guest. */
  input(bytes: Uint8Array): void;
  /** Where the guest's output goes from now on. */
  setSink(write: (bytes: Uint8Array) => void): void;
}

/**
 * A console's Unix socket server (virtio-console or COM1): output to every client, input from any to the guest,
 * as it arrives (the run waits for it: see ExternalInput). It stays open — new clients may
 * attach — until the run ends.
 */
interface SocketConsole extends ExternalInput {
  waitForClient(): Promise<void>;
  close(): void;
}

async function socketConsole(path: string, origin: string, backend: ConsoleEnd, log: (line: string) => void): Promise<SocketConsole> {
  const { createServer } = await import('node:net');
  const clients = new Set<Socket>();
  let firstClient: (() => void) | undefined;
  const connected = new Promise<void>((resolve) => (firstClient = resolve));
  // Waiters of next(): woken by input, a client leaving, or close().
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  const server = createServer((sock) => {
    clients.add(sock);
    sock.on('data', (data: Buffer) => {
      backend.input(new Uint8Array(data.buffer, data.byteOffset, data.length));
      wake();
    });
    sock.on('error', (err) => log(`socket client: ${err.message}`));
    sock.on('close', () => {
      clients.delete(sock);
      wake();
    });
    firstClient?.();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? `${path} already exists; remove it (a socket left by an earlier run?)` : `cannot listen on ${path}: ${err.message}`;
      reject(new UsageError(`${origin}: ${why}`));
    });
    server.listen(path, () => resolve());
  });
  server.on('error', (err) => log(`socket ${path}: ${err.message}`));
  backend.setSink((bytes) => {
    for (const sock of clients) if (sock.writable) sock.write(bytes);
  });
  let closed = false;
  return {
    get open() {
      return !closed;
    },
    next() {
      return closed ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
    },
    async waitForClient() {
      if (clients.size === 0) log(`waiting for a client on ${path}: socat - UNIX-CONNECT:${path}`);
      await connected;
    },
    close() {
      if (closed) return;
      closed = true;
      wake();
      firstClient?.();
      for (const sock of clients) {
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      }
      server.close();
      server.unref();
      // libuv removes the socket file when the close completes; do it now, in case the process
      // exits first (Ctrl-C).
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * What is wrong with the plan's devices before anything is opened: more than MAX_DEVICES in a
 * domain, a missing disk image without a size, a missing image that should be created read-only,
 * a disk path that is not a file, the same image used writable twice, a console socket path
 * that already exists.
 */
export function checkDevices(plan: RunPlan): string[] {
  const problems: string[] = [];
  const users = new Map<string, { who: string; readOnly: boolean }[]>();
  for (const d of plan.domains) {
    const count = (d.bootVolume !== undefined ? 1 : 0) + (d.disks?.length ?? 0) + (d.nets?.length ?? 0) + (d.console ? 1 : 0);
    if (count > MAX_DEVICES) problems.push(`domain ${d.name}: ${count} devices; a domain has at most ${MAX_DEVICES}`);
    if (d.console?.kind === 'socket' && existsSync(d.console.path)) {
      problems.push(`${d.console.origin}: ${shortPath(d.console.path)} already exists; remove it (a socket left by an earlier run?)`);
    }
    (d.disks ?? []).forEach((disk, n) => {
      const shown = shortPath(disk.path);
      let st: Stats | undefined;
      try {
        st = statSync(disk.path);
      } catch {
        st = undefined;
      }
      if (st === undefined) {
        if (disk.createSize === undefined) {
          problems.push(`${disk.origin}: no such file; ${createHint(disk.from)}`);
        } else if (disk.readOnly) {
          const fix = disk.from === 'flag' ? 'drop ,ro to create it' : 'drop "ro" to create it';
          problems.push(`${disk.origin}: no such file, and a read-only image cannot be created; ${fix}`);
        }
      } else if (!st.isFile()) {
        problems.push(`${disk.origin}: ${shown} is not a file; give a raw disk image file`);
      }
      const key = resolve(disk.path);
      const list = users.get(key) ?? [];
      list.push({ who: `domain ${d.name} (${diskName(n)})`, readOnly: disk.readOnly });
      users.set(key, list);
    });
  }
  for (const [path, list] of users) {
    if (list.length > 1 && list.some((u) => !u.readOnly)) {
      problems.push(
        `disk image ${shortPath(path)} is used by ${list.map((u) => u.who).join(' and ')}, not all read-only; ` +
          'writers would corrupt it: add ro to every use, or give each its own copy',
      );
    }
  }
  return problems;
}

/** Writes the trace in batches, so that a long trace never has to fit in one string. */
function writeTrace(fd: number, records: readonly TraceRecord[]): void {
  const BATCH = 10_000;
  for (let i = 0; i < records.length; i += BATCH) writeSync(fd, formatTrace(records.slice(i, i + BATCH)));
}

/** A path as short as it can be shown: relative to the working directory when it lies inside it. */
function shortPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return isAbsolute(p) && rel !== '' && !rel.startsWith('..') && rel.length < p.length ? rel : p;
}
