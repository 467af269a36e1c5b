/**
 * The toolstack: builds domains from guest images, runs them on the deterministic engine and
 * reports how each one ended. The CLI is a thin layer over this class, and so is any script that
 * wants to run guests from TypeScript.
 *
 * ```ts
 * const sys = new System({ seed: 1 });
 * await sys.addDomain({ name: 'hello', image: 'guest-kit/examples/hello.wasm', memBytes: 16 << 20, vcpus: 1, cmdline: 'hi' });
 * const report = await sys.run();
 * ```
 * @module
 */
import { readFile } from 'node:fs/promises';
import {
  BOOT_INFO_F_DISK,
  BOOT_INFO_F_NIC,
  BOOT_INFO_MAGIC,
  BOOT_INFO_OFF,
  MAX_DEVICES,
  MMIO_DEVICE_BASE,
  MMIO_WINDOW_SIZE,
  ENOMEM,
  SHUTDOWN_CRASH,
  SHUTDOWN_POWEROFF,
  SHUTDOWN_REBOOT,
  START_INFO_OFF,
  START_INFO_SIZE,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import { exitsOf } from '../bench/exits.ts';
import { LegacyPlatform } from '../legacy/platform.ts';
import { Utf8Stream } from './utf8-stream.ts';
import { DeterministicEngine } from '../engine/deterministic.ts';
import { compileGuest } from '../engine/cache.ts';
import { GuestImageError } from '../engine/errors.ts';
import { inspectGuest } from '../engine/loader.ts';
import { DomainConfigError, Hypervisor, domainInfo, requestShutdown, reservedBytes, setMemoryTarget, setVcpus, WASM_PAGE } from '../hv/index.ts';
import type { DomctlInfo, Domain, MmioDevice } from '../hv/index.ts';
import type { DiskImage } from '../virtio/disk-image.ts';
import type { VirtualSwitch } from '../virtio/switch.ts';
import type { DomainConfig, DomainOutcome, DomainReport, RunReport, SystemOptions } from './types.ts';

/** Splits each domain's console stream into lines and prefixes them with `[name] `. */
class PrefixedConsole {
  private readonly partial = new Map<string, string>();
  constructor(private readonly write: (s: string) => void) {}
  push(domain: string, text: string): void {
    const lines = ((this.partial.get(domain) ?? '') + text).split('\n');
    this.partial.set(domain, lines.pop()!);
    for (const l of lines) this.write(`[${domain}] ${l}\n`);
  }
  flush(): void {
    for (const [domain, rest] of this.partial) if (rest !== '') this.write(`[${domain}] ${rest}\n`);
    this.partial.clear();
  }
  /** Writes out and forgets one domain's unfinished line (the domain is gone). */
  flushOne(domain: string): void {
    const rest = this.partial.get(domain);
    if (rest !== undefined && rest !== '') this.write(`[${domain}] ${rest}\n`);
    this.partial.delete(domain);
  }
}

/**
 * A device {@link System.attachDevice} can plug into a domain: an MMIO register window (the
 * transport, e.g. virtio-mmio) plus what the manifest says about it, and optionally a way to be
 * handed its interrupt line.
 */
export type AttachableDevice = MmioDevice & {
  /** Manifest name (1..15 bytes of UTF-8), e.g. `vda` or `console0`. */
  readonly name: string;
  /** A VIRTIO_ID_* value. */
  readonly type: number;
  /** Receives the function that raises the device's interrupt (its DEVICE event channel). */
  setInterrupt?(raise: () => void): void;
  /**
   * Called once when its domain is destroyed: let go of what outside the domain still refers to
   * the device (a switch port), so nothing keeps the domain's memory alive or delivers to it.
   */
  release?(): void;
};

/** The devices {@link System.plugLegacy} gives an unmodified guest's emulated PC. */
export interface LegacyDevices {
  /** The ATA disk (primary master), on any image backend virtio-blk uses. */
  disk?: DiskImage;
  /** The NE2000: its MAC, the switch it plugs into, its IRQ (default 10, spec `legacyPlatform`), its switch port name (default `ne0`). */
  nic?: { sw: VirtualSwitch; mac: Uint8Array; irq?: number; port?: string };
  /** Where COM1's output goes instead of the domain console (a console file or socket). */
  console?: (bytes: Uint8Array) => void;
}

/** Where {@link System.attachDevice} put a device. */
export interface AttachedDevice {
  /** MMIO address of the device's window. */
  base: number;
  /** The DEVICE event-channel port bound for its interrupt. */
  port: number;
}

/**
 * Something outside the simulation that can wake a guest while the system runs: a console socket
 * a person types into, a host tap. With one registered, {@link System.run} does not end when every
 * guest waits for input; it waits for the input instead, and it lets the host's event loop run
 * every {@link LIVE_SLICE_MS} of wall time so input arrives while guests compute. A run with
 * external inputs is only as reproducible as the timing of that input.
 */
export interface ExternalInput {
  /** True while more input may still come (e.g. the socket is still listening). */
  readonly open: boolean;
  /** Resolves once new input has been handed to a device, or the source has closed. */
  next(): Promise<void>;
  /**
   * Whether input from this source could wake a run in which nothing can make progress right
   * now. Absent means yes (a console: typing wakes a guest waiting for it). A control socket
   * answers yes only while a domain is paused (an `unpause` could wake it); when no open input
   * says yes, an idle run ends instead of waiting for input that could change nothing.
   */
  canWakeIdle?(): boolean;
}

/** Wall time the engine runs between looks at the host event loop when external inputs exist. */
export const LIVE_SLICE_MS = 20;

/** A set of domains and the host that runs them. */
export class System {
  /** The hypervisor core (exposed for tests and tools). */
  readonly hv: Hypervisor;
  private readonly engine: DeterministicEngine;
  private readonly opts: SystemOptions;
  private readonly decoders = new Map<Domain, Utf8Stream>();
  private readonly prefixed: PrefixedConsole;
  private readonly configs: DomainConfig[] = [];
  /**
   * Domains a run() has started: they can get no more devices (guests read the manifest at
   * boot). A domain created after a run can still get them before the next.
   */
  private readonly booted = new WeakSet<Domain>();
  private readonly inputs: ExternalInput[] = [];
  /** Console bytes per domain (hypercall console and console0 on stdio), for the control socket. */
  private readonly consoleCounts = new Map<Domain, number>();
  private stopRequested = false;
  private wakeStop: (() => void) | undefined;
  /** What to undo when a domain is destroyed: its devices' outside references (switch ports). */
  private readonly releases = new Map<Domain, (() => void)[]>();
  /** While a run() goes on: the reports of the domains destroyed during it (they left hv.domains). */
  private destroyedInRun: DomainReport[] | undefined;
  /** The domain whose end ends the run ({@link System.endRunWith}), and whether it has ended. */
  private lifeline: Domain | undefined;
  private lifelineEnded = false;
  /**
   * Set once the system has held two domains: console lines are prefixed from then on, so the
   * output of a controlling domain keeps its prefix after it destroyed its clients.
   */
  private severalDomains = false;

  /** Creates an empty system. */
  constructor(opts: SystemOptions) {
    this.opts = opts;
    this.prefixed = new PrefixedConsole((s) => process.stdout.write(s));
    this.hv = new Hypervisor({
      console: (d, bytes) => this.onConsole(d, bytes),
      trace: opts.trace === true,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
      ...(opts.wallclockNs !== undefined ? { wallclock: { sec: Math.floor(opts.wallclockNs / 1e9), nsec: opts.wallclockNs % 1e9 } } : {}),
    });
    this.engine = new DeterministicEngine(this.hv, opts.maxTimeNs !== undefined ? { maxTimeNs: opts.maxTimeNs } : {});
    // A controlling guest's domctl destroys through the core too: forget the domain either way.
    this.hv.onDestroy = (d) => this.forget(d);
    // A run given a lifeline (endRunWith) stops when that domain ends.
    this.hv.onDomainEnd = (d) => this.checkLifeline(d);
    // ... and creates through it: DOMCTL_CREATE builds the domain as addDomain does.
    this.hv.loader = (req) => this.build(req.image, req.opts.name, { ...req.opts, cmdline: req.opts.cmdline ?? '' });
  }

  private onConsole(d: Domain, bytes: Uint8Array): void {
    this.consoleCounts.set(d, (this.consoleCounts.get(d) ?? 0) + bytes.length);
    let dec = this.decoders.get(d);
    if (dec === undefined) this.decoders.set(d, (dec = new Utf8Stream()));
    this.emitConsole(d, dec.decode(bytes));
  }

  /** Hands decoded console text on: the console option, prefixed stdout, or plain stdout. */
  private emitConsole(d: Domain, text: string): void {
    if (text === '') return;
    if (this.opts.console !== undefined) this.opts.console(d.name, text);
    else if (this.severalDomains) this.prefixed.push(d.name, text);
    else process.stdout.write(text);
  }

  /**
   * Console output of `domain` from a device (a virtio-console on stdio): it goes where the
   * hypercall console's does — {@link SystemOptions.console}, or stdout with the `[name] ` prefix
   * when there are several domains — decoded as UTF-8 in the same stream.
   */
  consoleOutput(domain: Domain, bytes: Uint8Array): void {
    this.onConsole(domain, bytes);
  }

  /**
   * Loads, checks and instruments an image and creates its domain.
   * @throws GuestImageError when the image or its fit with the configuration is wrong (every problem listed).
   */
  async addDomain(cfg: DomainConfig): Promise<Domain> {
    const bytes = typeof cfg.image === 'string' ? new Uint8Array(await readFile(cfg.image)) : cfg.image;
    const imageName = typeof cfg.image === 'string' ? cfg.image : cfg.name;
    const made = this.build(bytes, imageName, cfg);
    if ('problems' in made) throw new GuestImageError(imageName, made.problems);
    return made;
  }

  /**
   * Checks an image against its configuration, instruments it and creates its domain (the body
   * of addDomain, and of a controlling guest's DOMCTL_CREATE through {@link Hypervisor.loader}).
   * Returns the domain or every problem found; a host fault while compiling is a problem too, so
   * a guest's DOMCTL_CREATE can never throw through the core.
   */
  private build(bytes: Uint8Array, imageName: string, cfg: Omit<DomainConfig, 'image'>): Domain | { problems: string[] } {
    let info: ReturnType<typeof inspectGuest>;
    try {
      info = inspectGuest(bytes, imageName);
    } catch (e) {
      if (e instanceof GuestImageError) return { problems: e.problems };
      throw e;
    }
    const problems: string[] = [];
    if (info.kind !== 'pv' && cfg.vcpus !== 1) {
      problems.push(`vcpus: ${imageName} is an unmodified guest (it imports no pv.hypercall); the emulated PC it runs on has one CPU, use --vcpus 1`);
    }
    const need = info.memory.minPages * WASM_PAGE + reservedBytes(cfg.vcpus);
    if (cfg.memBytes < need) {
      problems.push(`memory: ${cfg.memBytes} bytes is too small for ${imageName} (its data and stack need ${info.memory.minPages * WASM_PAGE} bytes, the host reserves ${reservedBytes(cfg.vcpus)}); use at least ${Math.ceil(need / WASM_PAGE) * 64}K`);
    }
    if (info.memory.maxPages !== undefined && cfg.maxMemBytes !== undefined && cfg.maxMemBytes > info.memory.maxPages * WASM_PAGE) {
      problems.push(`max memory: ${cfg.maxMemBytes} bytes is above the image's maximum of ${info.memory.maxPages * WASM_PAGE}; allow less growth or relink with --max-memory=${cfg.maxMemBytes}`);
    }
    if (info.memory.maxPages !== undefined && cfg.memBytes > info.memory.maxPages * WASM_PAGE) {
      problems.push(`memory: ${cfg.memBytes} bytes is above the image's maximum of ${info.memory.maxPages * WASM_PAGE}; use less memory or relink with --max-memory=${cfg.memBytes}`);
    }
    if (cfg.vcpus > 1 && !(info.hasVcpuEntry && info.exportsStackPointer)) {
      problems.push(`vcpus: ${cfg.vcpus} vCPUs need an image that exports pv_vcpu_entry and __stack_pointer; link with --export=pv_vcpu_entry --export=__stack_pointer or use --vcpus 1`);
    }
    if (problems.length > 0) return { problems };
    let module: WebAssembly.Module;
    try {
      module = compileGuest(bytes, this.opts.cacheDir !== undefined ? { dir: this.opts.cacheDir } : {});
    } catch (e) {
      // A module the checks passed but binaryen or V8 refuses: a problem of the image, not a host crash.
      return { problems: [`${imageName}: cannot be instrumented or compiled: ${e instanceof Error ? e.message : String(e)}`] };
    }
    let d: Domain;
    try {
      d = this.hv.createDomain({
        name: cfg.name, memBytes: cfg.memBytes, vcpus: cfg.vcpus, cmdline: cfg.cmdline,
        ...(cfg.privileged === true ? { privileged: true } : {}),
        ...(cfg.maxMemBytes !== undefined ? { maxMemBytes: cfg.maxMemBytes } : {}),
      });
    } catch (e) {
      if (e instanceof DomainConfigError) return { problems: [e.message] };
      throw e;
    }
    if (info.kind === 'unmodified') this.bootLegacy(d);
    this.engine.attach(d, module, info);
    this.configs.push({ ...cfg, image: imageName });
    if (this.configs.length > 1) this.severalDomains = true;
    return d;
  }

  /**
   * Full virtualization: gives an unmodified guest its emulated PC (spec `legacyPlatform`) and
   * replaces the start_info the core wrote with the `boot_info` a bootloader would hand over (the
   * command line stays where it is, in the same page). The PC starts with no disk and no NIC;
   * {@link System.plugLegacy} rebuilds it with them.
   */
  private bootLegacy(d: Domain, dev: LegacyDevices = {}): LegacyPlatform {
    const hv = this.hv;
    const log = this.opts.log;
    const pc = new LegacyPlatform({
      clock: () => hv.now,
      console: dev.console ?? ((bytes) => hv.consoleOutput(d, bytes)),
      powerOff: (code) => hv.shutdown(d, SHUTDOWN_POWEROFF, code),
      ...(log !== undefined ? { log: (msg: string) => log(`${d.name}: ${msg}`) } : {}),
      ...(dev.disk !== undefined ? { disk: dev.disk } : {}),
      ...(dev.nic !== undefined ? { nicMac: dev.nic.mac, ...(dev.nic.irq !== undefined ? { nicIrq: dev.nic.irq } : {}) } : {}),
    });
    hv.attachLegacy(d, pc);
    if (pc.nic !== undefined && dev.nic !== undefined) {
      const sw = dev.nic.sw;
      const port = sw.attach(`${d.name}.${dev.nic.port ?? 'ne0'}`, pc.nic);
      pc.nic.connect(port);
      this.onRelease(d, () => sw.detach(port));
    }
    const m = d.mem;
    const bi = d.layout.startInfo;
    // The first boot found start_info here; a re-plug finds boot_info, whose cmdline_len sits elsewhere.
    const cmdLen = m.u32((bi + (m.u32(bi) === BOOT_INFO_MAGIC ? BOOT_INFO_OFF.cmdline_len : START_INFO_OFF.cmdline_len)) as GuestAddr);
    m.fill(bi, START_INFO_SIZE);
    const w = (off: number, v: number) => m.setU32((bi + off) as GuestAddr, v);
    w(BOOT_INFO_OFF.magic, BOOT_INFO_MAGIC);
    w(BOOT_INFO_OFF.mem_size, m.size);
    w(BOOT_INFO_OFF.reserved_base, d.layout.reservedBase);
    w(BOOT_INFO_OFF.cmdline, d.layout.cmdline);
    w(BOOT_INFO_OFF.cmdline_len, cmdLen);
    w(BOOT_INFO_OFF.flags, (dev.disk !== undefined ? BOOT_INFO_F_DISK : 0) | (dev.nic !== undefined ? BOOT_INFO_F_NIC : 0));
    return pc;
  }

  /**
   * Gives an unmodified guest's emulated PC an ATA disk on the primary channel (IRQ 14) and/or an
   * NE2000 at LEGACY_NIC_BASE plugged into a virtual switch, and sets boot_info.flags to say so,
   * as the platform's firmware would. Call it once, before the {@link System.run} that boots the domain.
   * @returns the domain's platform (its devices carry their statistics).
   * @throws Error for a paravirtual domain (give it virtio devices with attachDevice), once a
   *   run() has booted it, or for a domain of another system.
   */
  plugLegacy(domain: Domain, dev: LegacyDevices): LegacyPlatform {
    if (this.booted.has(domain)) throw new Error(`plugLegacy(${domain.name}): devices must be plugged in before run() boots the domain`);
    if (!this.hv.domains.includes(domain)) throw new Error(`plugLegacy: ${domain.name} is not a domain of this system`);
    if (domain.legacy === undefined) throw new Error(`plugLegacy(${domain.name}): a paravirtual guest; give it virtio devices with attachDevice`);
    return this.bootLegacy(domain, dev);
  }

  /**
   * Plugs a device into a domain: maps its register window at the domain's next free slot
   * (MMIO_DEVICE_BASE + i * MMIO_WINDOW_SIZE), binds a DEVICE event-channel port on vCPU 0 for its
   * interrupt, adds it to the manifest the guest finds in start_info, and hands the device a
   * callback that raises that port.
   * @throws Error once a run() has booted the domain (the guest has read its manifest), when the window is
   *   larger than MMIO_WINDOW_SIZE, or when the manifest is full.
   */
  attachDevice(domain: Domain, dev: AttachableDevice): AttachedDevice {
    if (this.booted.has(domain)) throw new Error(`attachDevice(${domain.name}, ${dev.name}): devices must be attached before run() boots the domain`);
    if (!this.hv.domains.includes(domain)) throw new Error(`attachDevice: ${domain.name} is not a domain of this system`);
    if (!Number.isInteger(dev.size) || dev.size < 4 || dev.size > MMIO_WINDOW_SIZE) {
      throw new Error(`attachDevice(${domain.name}, ${dev.name}): window of ${dev.size} bytes; it must be 4..${MMIO_WINDOW_SIZE}`);
    }
    // Check what the manifest would refuse before the core maps or binds anything, so a refused
    // device leaves nothing behind (no window, no port), with a message naming the device.
    const nameBytes = new TextEncoder().encode(dev.name).length;
    if (domain.nrDevices >= MAX_DEVICES) throw new Error(`attachDevice(${domain.name}, ${dev.name}): at most ${MAX_DEVICES} devices per domain`);
    if (nameBytes < 1 || nameBytes > 15) throw new Error(`attachDevice(${domain.name}): device name "${dev.name}" must be 1 to 15 bytes of UTF-8`);
    if (!Number.isInteger(dev.type) || dev.type < 0 || dev.type > 0xffffffff) throw new Error(`attachDevice(${domain.name}, ${dev.name}): type ${dev.type} is not a u32`);
    // Entry i's window is at MMIO_DEVICE_BASE + i * MMIO_WINDOW_SIZE (the core's plugDevice).
    const i = this.hv.plugDevice(domain, dev);
    if (i < 0) throw new RangeError(`attachDevice(${domain.name}, ${dev.name}): no free event-channel port for its interrupt`);
    const { base, port } = domain.devices[i]!;
    if (dev.release !== undefined) this.onRelease(domain, () => dev.release!());
    return { base, port };
  }

  /** Remembers `fn` to run when `domain` is destroyed ({@link System.forget}). */
  private onRelease(domain: Domain, fn: () => void): void {
    const list = this.releases.get(domain);
    if (list === undefined) this.releases.set(domain, [fn]);
    else list.push(fn);
  }

  /**
   * Destroys a domain (`xl destroy`): stops it at once if it still runs (it ends as crashed,
   * reason "destroyed"), closes its event channels (a peer's inter-domain port goes back to
   * UNBOUND), flushes its console, and removes it from the hypervisor and the engine, so it is
   * in no later run report, its name can be used again, and its guest memory and instances are
   * garbage once the caller drops the Domain. Call it between runs (or between the slices of a
   * run with external inputs, as the control socket does), not from inside a guest's hypercall.
   * Its devices are released too (`release` of {@link AttachableDevice}: a virtio-net NIC leaves its
   * switch port) and a legacy NE2000 leaves its switch, so frames to its MAC no longer reach it.
   * An {@link ExternalInput} registered for it (a console socket) stays until the caller closes it.
   * @throws Error for a domain that is not (or no longer) in this system.
   */
  destroyDomain(domain: Domain, reason = 'destroyed'): void {
    if (!this.hv.domains.includes(domain)) throw new Error(`destroyDomain: ${domain.name} is not a domain of this system (or was destroyed already)`);
    this.hv.destroyDomain(domain, reason);
  }

  /** After the core destroyed `domain`: releases its devices, drops the engine's instances, flushes and drops its console state. */
  private forget(domain: Domain): void {
    // A domain destroyed during a run is still part of that run's story: keep its report.
    this.destroyedInRun?.push({ ...this.reportOf(domain), destroyed: true });
    const releases = this.releases.get(domain) ?? [];
    this.releases.delete(domain);
    for (const release of releases) {
      try {
        release();
      } catch (e) {
        // A device that fails to let go must not stop the rest of the destroy.
        this.hv.log(`${domain.name}: releasing a device on destroy: ${(e as Error).message}`);
      }
    }
    this.engine.detach(domain);
    domain.legacy?.flush();
    const dec = this.decoders.get(domain);
    if (dec !== undefined) this.emitConsole(domain, dec.end());
    this.prefixed.flushOne(domain.name);
    this.decoders.delete(domain);
    this.consoleCounts.delete(domain);
    const i = this.configs.findIndex((c) => c.name === domain.name);
    if (i >= 0) this.configs.splice(i, 1);
  }

  /** Pauses a running domain (DOMCTL_PAUSE): its vCPUs keep their state but are not scheduled. Returns whether it changed. */
  pauseDomain(domain: Domain): boolean {
    const changed = domain.state === 'running';
    this.hv.pause(domain);
    return changed;
  }

  /** Resumes a paused domain (DOMCTL_UNPAUSE). Returns whether it changed. */
  unpauseDomain(domain: Domain): boolean {
    const changed = domain.state === 'paused';
    this.hv.unpause(domain);
    return changed;
  }

  /**
   * Asks a domain to shut itself down (DOMCTL_REQUEST_SHUTDOWN): its start_info gets the reason
   * and the request flag, and its VIRQ_CONTROL fires; a guest-kit guest then calls sched_shutdown.
   * @throws RangeError for a reason other than SHUTDOWN_POWEROFF / SHUTDOWN_REBOOT or a domain that has ended.
   */
  requestShutdown(domain: Domain, reason: number = SHUTDOWN_POWEROFF): void {
    if (requestShutdown(this.hv, domain, reason) !== 0) {
      throw new RangeError(`requestShutdown: ${domain.name} ${domain.alive ? `cannot be asked for reason ${reason}; use SHUTDOWN_POWEROFF (0) or SHUTDOWN_REBOOT (1)` : 'has already ended'}`);
    }
  }

  /**
   * Sets a domain's memory target for its balloon driver (DOMCTL_SET_MEMORY_TARGET): written to
   * its start_info.mem_target, then VIRQ_CONTROL fires.
   * @throws RangeError when `bytes` is above the domain's max_mem or not a multiple of 4 KiB.
   */
  setMemoryTarget(domain: Domain, bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || setMemoryTarget(this.hv, domain, bytes) !== 0) {
      throw new RangeError(`setMemoryTarget: ${bytes} bytes for ${domain.name} must be a multiple of 4096 no larger than its max_mem (${domain.maxMem})`);
    }
  }

  /**
   * Sets how many vCPUs `domain` holds (DOMCTL_SET_VCPUS): those at or above `n` go down, the
   * difference moves between the domain and the host's free vCPU pool, start_info.vcpus_held is
   * written and VIRQ_CONTROL fires; the guest brings vCPUs below `n` up itself.
   * @throws RangeError (its message starts with `vcpus:`) for a domain that has ended, `n` outside
   *   1..the vCPUs it was created with, or more vCPUs than the free pool holds.
   */
  setVcpus(domain: Domain, n: number): void {
    if (!domain.alive) throw new RangeError(`vcpus: ${domain.name} has already ended`);
    const rc = setVcpus(this.hv, domain, n);
    if (rc === 0) return;
    if (rc === ENOMEM) {
      throw new RangeError(
        `vcpus: ${n} for ${domain.name} needs ${n - domain.vcpusHeld} more vCPU(s) than the host's free pool holds (${this.hv.freeVcpus}); lower another domain's vCPUs first`,
      );
    }
    throw new RangeError(`vcpus: ${n} for ${domain.name}; give a whole number from 1 to ${domain.vcpus.length} (the vCPUs it was created with)`);
  }

  /**
   * Moves the device of `from`'s manifest entry `index` into `to`'s manifest, as a controlling
   * domain's DOMCTL_ATTACH_DEVICE / DOMCTL_DETACH_DEVICE would, with the host toolstack acting as
   * that controlling domain: the device is reset, `from`'s entry becomes DEVICE_NONE, `to` gets it
   * at its first DEVICE_NONE entry (else a new one at the end), both domains' devices_generation
   * goes up and both get VIRQ_CONTROL (those still alive). A move back to the domain that gave the
   * device is a detach (the device stays there when `from` is destroyed); any other move records
   * `from` as the giver, so destroying `to` hands the device back to `from`.
   * @returns the device's entry index in `to`'s manifest.
   * @throws Error naming the argument at fault: a domain not in this system, `from` and `to` the
   *   same, `to` already ended, `index` naming no movable device of `from`, or `to`'s manifest full.
   */
  moveDevice(from: Domain, index: number, to: Domain): number {
    for (const [what, d] of [['from', from], ['to', to]] as const) {
      if (!this.hv.domains.includes(d)) throw new Error(`moveDevice: ${what}: ${d.name} is not a domain of this system`);
    }
    if (from === to) throw new Error(`moveDevice: from and to are both ${from.name}; give two different domains`);
    if (!to.alive) throw new Error(`moveDevice: to: ${to.name} has already ended; a device can only move into a running domain`);
    const p = Number.isInteger(index) && index >= 0 && index < from.nrDevices ? from.devices[index] : undefined;
    if (p === undefined || p.dev.rebind === undefined) {
      const held = from.devices.flatMap((x, i) => (x?.dev.rebind !== undefined ? [`${i} (${x.dev.name})`] : []));
      throw new Error(
        `moveDevice: index: ${from.name} has no movable device at entry ${index}; ` +
          (held.length > 0 ? `its movable devices are at ${held.join(', ')}` : 'it holds no movable device'),
      );
    }
    // Back to its giver: a detach (no giver recorded there). Elsewhere: an attach by `from`.
    const i = this.hv.moveDevice(from, index, to, p.givenBy === to ? undefined : from);
    if (i < 0) throw new Error(`moveDevice: to: ${to.name}'s manifest is full (${MAX_DEVICES} entries) or it has no free event-channel port; move a device out of it first`);
    return i;
  }

  /**
   * Makes every later run end when `domain` ends (shuts down, crashes or is destroyed), as a
   * host goes down with its controlling domain (`pvisor boot`): the engine stops after the slice
   * in which it ended, a point as deterministic as the rest of the run. Domains still alive then
   * are reported as running, and the report's {@link RunReport.endedWith} names `domain`.
   */
  endRunWith(domain: Domain): void {
    this.lifeline = domain;
    this.lifelineEnded = false;
    this.checkLifeline(domain);
  }

  private checkLifeline(d: Domain): void {
    if (d !== this.lifeline || d.alive || this.lifelineEnded) return;
    this.lifelineEnded = true;
    this.engine.stop();
  }

  /** What DOMCTL_GETINFO reports of a domain: flags, shutdown reason and code, vCPUs, memory, max and target. */
  domainInfo(domain: Domain): DomctlInfo {
    return domainInfo(domain);
  }

  /**
   * Bytes `domain` has written to the console that goes through the toolstack: the hypercall
   * console and a console0 on stdio (not a console file or socket, nor COM1 taken by one).
   */
  consoleBytes(domain: Domain): number {
    return this.consoleCounts.get(domain) ?? 0;
  }

  /** True when {@link System.addExternalInput} was called: the run yields to the event loop. */
  get hasExternalInputs(): boolean {
    return this.inputs.length > 0;
  }

  /**
   * Ends a run that is waiting for external input or yielding between slices (e.g. on Ctrl-C):
   * guests stop where they are and are reported as still running. Logs `why`.
   */
  stop(why: string): void {
    this.opts.log?.(`run stopped: ${why}`);
    this.stopRequested = true;
    this.engine.stop();
    this.wakeStop?.();
  }

  /**
   * Registers an outside source of input (see {@link ExternalInput}); the run then waits for it
   * when guests are idle rather than ending.
   */
  addExternalInput(input: ExternalInput): void {
    this.inputs.push(input);
  }

  /**
   * Runs every domain until all have ended, none can make progress (and no open
   * {@link ExternalInput} could change that), or the time limit.
   */
  async run(): Promise<RunReport> {
    for (const d of this.hv.domains) this.booted.add(d);
    this.destroyedInRun = [];
    const t0 = performance.now();
    const stopped = new Promise<void>((resolve) => (this.wakeStop = resolve));
    while (!this.stopRequested) {
      const live = this.inputs.filter((i) => i.open);
      if (live.length === 0) {
        this.engine.run();
        break;
      }
      const why = this.engine.run({ wallBudgetMs: LIVE_SLICE_MS });
      if (why === 'time-limit' || this.lifelineEnded || this.hv.domains.every((d) => !d.alive)) break;
      // Let sockets deliver what arrived meanwhile (a macrotask, so I/O callbacks run first).
      if (why === 'budget') await new Promise<void>((resolve) => setImmediate(resolve));
      // Idle: wait only if some input could wake a guest; every input's news re-runs the engine
      // (a control request may unpause or destroy while a console waits for typing).
      else if (live.some((i) => i.canWakeIdle?.() ?? true)) await Promise.race([stopped, ...live.map((i) => i.next())]);
      else break;
    }
    const wallMs = performance.now() - t0;
    for (const d of this.hv.domains) d.legacy?.flush();
    for (const [d, dec] of this.decoders) this.emitConsole(d, dec.end());
    this.prefixed.flush();
    const domains = [...this.hv.domains.map((d) => this.reportOf(d)), ...(this.destroyedInRun ?? [])].sort((a, b) => a.id - b.id);
    this.destroyedInRun = undefined;
    const report: RunReport = {
      domains,
      virtualTimeNs: this.hv.now,
      wallMs,
      ok: domains.every((r) => r.outcome.kind === 'poweroff' && r.outcome.code === 0),
    };
    if (this.hv.trace !== null) report.trace = this.hv.trace;
    if (this.lifelineEnded && this.lifeline !== undefined) report.endedWith = { id: this.lifeline.id, name: this.lifeline.name };
    return report;
  }

  /** The report of one domain as it is now. */
  private reportOf(d: Domain): DomainReport {
    return {
      id: d.id,
      name: d.name,
      outcome: outcomeOf(d),
      hypercalls: this.hv.hypercallCounts(d),
      endedAtNs: d.alive ? this.hv.now : d.endedAt,
      exits: exitsOf(this.hv, d),
    };
  }
}

/** How `d` ended, or `running` while it is alive (running, blocked or paused). */
export function outcomeOf(d: Domain): DomainOutcome {
  if (d.state === 'crashed') return { kind: 'crashed', reason: d.crashReason, backtrace: d.backtrace };
  if (d.state !== 'shutdown') return { kind: 'running' };
  switch (d.shutdownReason) {
    case SHUTDOWN_POWEROFF:
      return { kind: 'poweroff', code: d.shutdownCode };
    case SHUTDOWN_REBOOT:
      return { kind: 'reboot', code: d.shutdownCode };
    case SHUTDOWN_CRASH:
    default:
      return { kind: 'crash', code: d.shutdownCode };
  }
}
