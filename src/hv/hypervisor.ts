/**
 * The hypervisor core: domains, virtual time, timers, the run queue and the hypercall entry.
 *
 * The core is mechanism only and knows nothing of Wasm: an engine (src/engine) runs vCPUs and
 * calls {@link Hypervisor.hypercall} at each trap, advances {@link Hypervisor.now}, and asks
 * {@link Hypervisor.fireTimers} / {@link Hypervisor.nextDeadline} when it runs out of work.
 * Property tests drive the same object directly, without Wasm.
 * @module
 */
import type { LegacyMachine } from './legacy-machine.ts';
import {
  ABI_VERSION, CMDLINE_MAX, DEVICE_INFO_OFF, DEVICE_INFO_SIZE, EINVAL, ENOSPC, ETIMEDOUT, EVTCHNSTAT_CLOSED, EVTCHNSTAT_DEVICE, MAX_DEVICES, MMIO_DEVICE_BASE, MMIO_WINDOW_SIZE,
  SHARED_INFO_OFF, SIF_PRIVILEGED, START_INFO_MAGIC, START_INFO_OFF, START_INFO_SIZE, VCPU_INFO_OFF, VCPU_TIME_INFO_OFF, VIRQ_CONSOLE, VIRQ_CONTROL, VIRQ_DOM_EXC, VIRQ_TIMER, callName, makeDispatch,
} from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { TraceRecord } from '../control/types.ts';
import { Domain } from './domain.ts';
import type { PluggableDevice, PluggedDevice } from './domain.ts';
import * as evtchn from './evtchn.ts';
import type { EvtchnHost } from './evtchn.ts';
import { makeHandlers } from './hypercalls.ts';
import { layoutFor, reservedBytes } from './layout.ts';
import { heldFrames } from './reservation.ts';
import { GuestMemory, WASM_PAGE } from './memory.ts';
import { Scheduler } from './scheduler.ts';
import type { Vcpu, VcpuEntry } from './vcpu.ts';

/** Options of a hypervisor instance. */
export interface HypervisorOptions {
  /** Receives console bytes written by a domain. */
  console?: (d: Domain, bytes: Uint8Array) => void;
  /** Host log (guest misbehaviour, host faults). */
  log?: (line: string) => void;
  /** Record every hypercall in {@link Hypervisor.trace}. */
  trace?: boolean;
  /** Wallclock at boot (virtual time 0). */
  wallclock?: { sec: number; nsec: number };
}

/** What a new domain gets. */
export interface CreateDomainOptions {
  /** Name. */
  name: string;
  /** Memory in bytes (a multiple of 64 KiB). */
  memBytes: number;
  /** Largest size the memory may grow to (defaults to memBytes). */
  maxMemBytes?: number;
  /** vCPUs (1..MAX_VCPUS). */
  vcpus: number;
  /** Command line (at most CMDLINE_MAX bytes of UTF-8). */
  cmdline?: string;
  /** Controlling domain. */
  privileged?: boolean;
}

/** One device as the guest finds it in the manifest (`start_info.devices`). */
export interface DeviceManifestEntry {
  /** Name, at most 15 bytes of UTF-8 (the field is NUL-padded and always NUL-terminated). */
  name: string;
  /** A VIRTIO_ID_* value. */
  type: number;
  /** MMIO address of the register window. */
  mmioBase: number;
  /** Bytes of the window (1..MMIO_WINDOW_SIZE). */
  mmioSize: number;
  /** The DEVICE event-channel port bound for its interrupt. */
  evtchn: number;
}

/** What a controlling domain's DOMCTL_CREATE asks the {@link Hypervisor.loader} to build. */
export interface ImageCreateRequest {
  /** The image bytes (a private copy). */
  image: Uint8Array;
  /** Domain options (name, memory, vCPUs, command line, privilege). */
  opts: CreateDomainOptions;
}

/** Thrown by {@link Hypervisor.createDomain} for a configuration the host cannot build. */
export class DomainConfigError extends Error {
  /** The offending field (`memBytes`, `vcpus`, `cmdline`, `name`). */
  readonly field: string;
  /** Creates the error. */
  constructor(field: string, message: string) {
    super(message);
    this.name = 'DomainConfigError';
    this.field = field;
  }
}

/** Fixed boot wallclock for reproducible runs: 2026-01-01T00:00:00Z. */
export const DEFAULT_WALLCLOCK = Object.freeze({ sec: 1767225600, nsec: 0 });

/** The hypervisor. */
export class Hypervisor implements EvtchnHost {
  /** Virtual time in ns. */
  now = 0;
  /** Run queue. */
  readonly sched = new Scheduler();
  /** Domains in creation order (dead ones stay until destroyed). */
  readonly domains: Domain[] = [];
  /** Recorded hypercalls, when tracing. */
  readonly trace: TraceRecord[] | null;
  /** Wallclock at virtual time 0. */
  readonly wallclock: { sec: number; nsec: number };
  /** The generated dispatcher bound to this core's handlers. */
  readonly dispatch: (v: Vcpu, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number) => number;
  private readonly byId = new Map<number, Domain>();
  private nextId = 1;
  /** The id the next domain will get (DOMCTL_CREATE names an unnamed domain `dom<id>`). */
  get nextDomainId(): number {
    return this.nextId;
  }
  private readonly consoleSink: (d: Domain, bytes: Uint8Array) => void;
  /** Host log. */
  readonly log: (line: string) => void;
  /**
   * Called at the end of {@link Hypervisor.destroyDomain}, whoever destroys (the toolstack, or a
   * controlling guest's `domctl`): the toolstack sets it to forget what it keeps of the domain
   * (the engine's instances, console decoders).
   */
  onDestroy: ((d: Domain) => void) | undefined = undefined;
  /**
   * Called when a live domain ends — shuts down or crashes (a destroy crashes a live domain
   * first) — after its state changed: the toolstack ends a run with its controlling domain.
   */
  onDomainEnd: ((d: Domain) => void) | undefined = undefined;
  /**
   * The host's free pool of memory frames (GRANT_FRAME_SIZE bytes): frames domains handed back
   * with `decrease_reservation`, or held by a destroyed domain. Empty at boot (reservation.ts).
   */
  freeFrames = 0;
  /** The host's free pool of vCPUs (DOMCTL_SET_VCPUS lowering, destroyed domains). Empty at boot. */
  freeVcpus = 0;
  /**
   * Builds a domain from a guest image for DOMCTL_CREATE (the toolstack sets it: the core knows
   * nothing of Wasm). Returns the new domain, or the problems that make the image unusable.
   * Undefined on a bare core: DOMCTL_CREATE then fails with EOPNOTSUPP.
   */
  loader: ((req: ImageCreateRequest) => Domain | { problems: string[] }) | undefined = undefined;

  /** Creates an empty hypervisor. */
  constructor(opts: HypervisorOptions = {}) {
    this.consoleSink = opts.console ?? (() => {});
    this.log = opts.log ?? ((l) => process.stderr.write(`pvisor: ${l}\n`));
    this.trace = opts.trace === true ? [] : null;
    this.wallclock = opts.wallclock ?? DEFAULT_WALLCLOCK;
    this.dispatch = makeDispatch(makeHandlers(this));
  }

  /** The domain with this id (alive or dead), if any. */
  domain(id: number): Domain | undefined {
    return this.byId.get(id);
  }

  /**
   * Creates a domain: its memory (unless given), start_info, command line and shared_info, and
   * brings vCPU 0 up at `_start(start_info)`. The domain runs when the engine picks vCPU 0.
   */
  createDomain(opts: CreateDomainOptions, memory?: WebAssembly.Memory): Domain {
    const { name, memBytes, vcpus } = opts;
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 32) throw new DomainConfigError('vcpus', `vcpus: ${vcpus} is out of range; use 1 to 32`);
    if (!Number.isInteger(memBytes) || memBytes <= 0 || memBytes % WASM_PAGE !== 0) {
      throw new DomainConfigError('memBytes', `memory: ${memBytes} bytes is not a positive multiple of 64 KiB; use e.g. 16M`);
    }
    if (memBytes > 4 * 1024 * 1024 * 1024 - WASM_PAGE) throw new DomainConfigError('memBytes', 'memory: above the 4 GiB wasm32 limit; use at most 4095M');
    const maxBytes = opts.maxMemBytes;
    if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes % WASM_PAGE !== 0 || maxBytes > 4 * 1024 * 1024 * 1024 - WASM_PAGE)) {
      throw new DomainConfigError('maxMemBytes', `max memory: ${maxBytes} bytes is not a multiple of 64 KiB up to 4095M; use e.g. 64M`);
    }
    if (memBytes < reservedBytes(vcpus) + WASM_PAGE) {
      throw new DomainConfigError('memBytes', `memory: ${memBytes} bytes leaves no room for the guest after the host's ${reservedBytes(vcpus)} reserved bytes; use at least 128K`);
    }
    const cmd = new TextEncoder().encode(opts.cmdline ?? '');
    if (cmd.length > CMDLINE_MAX) throw new DomainConfigError('cmdline', `cmdline: ${cmd.length} bytes is longer than ${CMDLINE_MAX}; shorten it`);
    if (this.domains.some((d) => d.name === name)) throw new DomainConfigError('name', `name: "${name}" is already used by another domain; names must be unique`);
    if (this.nextId >= 0x7ff0) throw new DomainConfigError('name', 'too many domains');

    const mem = memory !== undefined ? new GuestMemory(memory, opts.maxMemBytes) : GuestMemory.create(memBytes, Math.max(memBytes, opts.maxMemBytes ?? memBytes));
    const layout = layoutFor(memBytes, vcpus);
    const d = new Domain(this.nextId++, name, mem, layout, vcpus, opts.privileged === true);
    this.domains.push(d);
    this.byId.set(d.id, d);

    // The host's area starts zeroed whatever the image's data segments put there.
    mem.fill(layout.reservedBase, memBytes - layout.reservedBase);
    const si = layout.startInfo;
    const w = (off: number, v: number) => mem.setU32((si + off) as GuestAddr, v);
    w(START_INFO_OFF.magic, START_INFO_MAGIC);
    w(START_INFO_OFF.abi_version, ABI_VERSION);
    w(START_INFO_OFF.size, START_INFO_SIZE);
    w(START_INFO_OFF.domid, d.id);
    w(START_INFO_OFF.flags, d.privileged ? SIF_PRIVILEGED : 0);
    w(START_INFO_OFF.nr_vcpus, vcpus);
    mem.setU64((si + START_INFO_OFF.mem_size) as GuestAddr, memBytes);
    w(START_INFO_OFF.shared_info, layout.sharedInfo);
    w(START_INFO_OFF.cmdline, layout.cmdline);
    w(START_INFO_OFF.cmdline_len, cmd.length);
    w(START_INFO_OFF.reserved_base, layout.reservedBase);
    // ABI 1.1: the manifest's address is written even while it is empty, so a guest never has to
    // special-case 0 devices; entries are added with addDeviceToManifest before the guest runs.
    w(START_INFO_OFF.nr_devices, 0);
    w(START_INFO_OFF.devices, layout.devices);
    // ABI 1.5: it holds all its vCPU slots; no device has moved yet (generation 0, zeroed area).
    w(START_INFO_OFF.vcpus_held, vcpus);
    // ABI 1.4: no shutdown requested (the area is zeroed), target and max = what it has (or the
    // larger maximum the toolstack gave).
    d.maxMem = Math.max(memBytes, opts.maxMemBytes ?? memBytes);
    d.memTarget = memBytes;
    mem.setU64((si + START_INFO_OFF.mem_target) as GuestAddr, d.memTarget);
    mem.setU64((si + START_INFO_OFF.max_mem) as GuestAddr, d.maxMem);
    mem.copyIn(layout.cmdline, cmd);
    const sh = layout.sharedInfo;
    mem.setU64((sh + SHARED_INFO_OFF.wc_sec) as GuestAddr, this.wallclock.sec);
    mem.setU32((sh + SHARED_INFO_OFF.wc_nsec) as GuestAddr, this.wallclock.nsec);
    for (const v of d.vcpus) this.updateTime(v);

    this.vcpuUp(d.vcpus[0]!, { fn: 0, stack: 0, arg: layout.startInfo });
    return d;
  }

  /**
   * Binds the lowest free port of `d` to a device interrupt (state EVTCHNSTAT_DEVICE) whose
   * events go to vCPU `vcpu`. The toolstack calls it when it attaches a device.
   * @throws RangeError when `vcpu` is not a vCPU of `d` or no port is free (a host configuration error).
   */
  bindDevicePort(d: Domain, vcpu = 0): number {
    const p = evtchn.bindDevice(d, vcpu);
    if (p < 0) {
      throw new RangeError(`${d.name}: cannot bind a device port on vCPU ${vcpu} (${p === EINVAL ? 'no such vCPU' : 'no free port'})`);
    }
    return p;
  }

  /**
   * A device's interrupt: raises `port` of `d` as an event if it is still a DEVICE port (the
   * guest may have closed it; then the interrupt is dropped). Safe to call from inside an MMIO
   * trap: the event is delivered at the VM entry that ends the trap.
   */
  raiseDevice(d: Domain, port: number): void {
    evtchn.raiseDevice(this, d, port);
  }

  /**
   * Appends a device to `d`'s manifest: writes the next `device_info` entry and bumps
   * `start_info.nr_devices`. The guest reads the manifest at boot, so call it before `d` runs
   * (devices that move later go through {@link Hypervisor.plugDevice}).
   * @returns the entry's index.
   * @throws RangeError when the manifest is full (MAX_DEVICES) or an entry field is out of range.
   */
  addDeviceToManifest(d: Domain, dev: DeviceManifestEntry): number {
    const i = d.nrDevices;
    if (i >= MAX_DEVICES) throw new RangeError(`${d.name}: at most ${MAX_DEVICES} devices per domain`);
    this.writeManifestEntry(d, i, dev);
    return i;
  }

  /**
   * Checks that a manifest entry can describe `dev`, and returns its name's bytes.
   * @throws RangeError naming the field the entry cannot hold.
   */
  private static checkManifestEntry(dev: DeviceManifestEntry): Uint8Array {
    const name = new TextEncoder().encode(dev.name);
    if (name.length === 0 || name.length > 15) throw new RangeError(`device name "${dev.name}" must be 1 to 15 bytes of UTF-8`);
    if (!Number.isInteger(dev.mmioSize) || dev.mmioSize < 1 || dev.mmioSize > MMIO_WINDOW_SIZE) {
      throw new RangeError(`device ${dev.name}: window size ${dev.mmioSize} is not in 1..${MMIO_WINDOW_SIZE}`);
    }
    for (const [k, v] of [['type', dev.type], ['mmioBase', dev.mmioBase], ['evtchn', dev.evtchn]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`device ${dev.name}: ${k} ${v} is not a u32`);
    }
    return name;
  }

  /** Writes entry `i` of `d`'s manifest (all zero = DEVICE_NONE when `dev` is undefined) and grows nr_devices to cover it. */
  private writeManifestEntry(d: Domain, i: number, dev: DeviceManifestEntry | undefined): void {
    const name = dev !== undefined ? Hypervisor.checkManifestEntry(dev) : undefined;
    const m = d.mem;
    const e = d.layout.devices + i * DEVICE_INFO_SIZE;
    // The whole entry is rewritten (NUL padding included): the reserved area is the host's.
    m.fill(e as GuestAddr, DEVICE_INFO_SIZE);
    if (dev !== undefined && name !== undefined) {
      m.copyIn((e + DEVICE_INFO_OFF.name) as GuestAddr, name);
      m.setU32((e + DEVICE_INFO_OFF.type) as GuestAddr, dev.type);
      m.setU32((e + DEVICE_INFO_OFF.mmio_base) as GuestAddr, dev.mmioBase);
      m.setU32((e + DEVICE_INFO_OFF.mmio_size) as GuestAddr, dev.mmioSize);
      m.setU32((e + DEVICE_INFO_OFF.evtchn) as GuestAddr, dev.evtchn);
    }
    if (i >= d.nrDevices) {
      d.nrDevices = i + 1;
      m.setU32((d.layout.startInfo + START_INFO_OFF.nr_devices) as GuestAddr, d.nrDevices);
    }
  }

  /**
   * Plugs a device into `d`: the first DEVICE_NONE entry of its manifest (else a new one at the
   * end), its window at that entry's slot, a DEVICE port on vCPU 0 for its interrupt.
   * @returns the entry's index, or ENOSPC (manifest full or no free port; nothing changed).
   * @throws RangeError for a device whose name, type or window the manifest cannot describe.
   */
  plugDevice(d: Domain, dev: PluggableDevice, givenBy?: Domain): number {
    let i = d.nrDevices;
    for (const f of d.freeEntries) if (f < i) i = f;
    if (i >= MAX_DEVICES || d.freePort() < 0) return ENOSPC;
    const base = MMIO_DEVICE_BASE + i * MMIO_WINDOW_SIZE;
    const entry = { name: dev.name, type: dev.type, mmioBase: base, mmioSize: dev.size, evtchn: 0 };
    // Checked before anything is mapped or bound, so a refused device leaves nothing behind.
    Hypervisor.checkManifestEntry(entry);
    d.mmio.map(base, dev);
    entry.evtchn = this.bindDevicePort(d, 0);
    const port = entry.evtchn;
    this.writeManifestEntry(d, i, entry);
    d.freeEntries.delete(i);
    // A device whose port the guest closed keeps no claim on the number once another device gets
    // it (evtchn_close of a DEVICE port: "the device then has no interrupt"): port -1.
    d.devices.forEach((o, k) => {
      if (o !== undefined && o.port === port) d.devices[k] = { ...o, port: -1 };
    });
    d.devices[i] = { dev, base, port, givenBy };
    // The interrupt follows the entry: none once the device lost its port or left the entry.
    dev.setInterrupt?.(() => {
      const cur = d.devices[i];
      if (cur?.dev === dev && cur.port >= 0) evtchn.raiseDevice(this, d, cur.port);
    });
    return i;
  }

  /**
   * Takes the device of entry `i` out of `d` (its entry becomes DEVICE_NONE, its window is
   * unmapped, its port closed) and returns it, or undefined when the entry holds none.
   */
  private unplugDevice(d: Domain, i: number): PluggedDevice | undefined {
    const p = d.devices[i];
    if (p === undefined) return undefined;
    d.devices[i] = undefined;
    d.freeEntries.add(i);
    d.mmio.unmap(p.base);
    // Only a port it still has (port -1: the guest closed it and the number went to another device).
    const e = p.port >= 0 ? d.ports[p.port] : undefined;
    if (e !== undefined && e.state === EVTCHNSTAT_DEVICE) evtchn.close(this, d, p.port);
    this.writeManifestEntry(d, i, undefined);
    return p;
  }

  /**
   * Moves the device of `from`'s entry `index` into `to` (DOMCTL_ATTACH_DEVICE and
   * DOMCTL_DETACH_DEVICE): reset and rebound to `to`'s memory, unplugged from `from`, plugged into
   * `to`, both generations bumped and both told with VIRQ_CONTROL (those still alive).
   * @returns the new entry's index, EINVAL (no movable device there) or ENOSPC (`to` is full); on
   *   an error nothing changed.
   */
  moveDevice(from: Domain, index: number, to: Domain, givenBy: Domain | undefined): number {
    const p = index < from.nrDevices ? from.devices[index] : undefined;
    if (p === undefined || p.dev.rebind === undefined) return EINVAL;
    if ((to.nrDevices >= MAX_DEVICES && to.freeEntries.size === 0) || to.freePort() < 0) return ENOSPC;
    // virtio 1.2 §2.1: a reset drops whatever the old driver had in flight.
    p.dev.rebind(to.mem);
    this.unplugDevice(from, index);
    const i = this.plugDevice(to, p.dev, givenBy);
    for (const d of [from, to]) {
      d.devicesGeneration = (d.devicesGeneration + 1) >>> 0;
      d.mem.setU32((d.layout.startInfo + START_INFO_OFF.devices_generation) as GuestAddr, d.devicesGeneration);
      if (d.alive) evtchn.sendVirq(this, d, VIRQ_CONTROL, 0);
    }
    return i;
  }

  /** The single entry for every hypercall: count, dispatch, trace. */
  hypercall(v: Vcpu, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number): number {
    const d = v.domain;
    d.hypercalls[nr >>> 0 < 64 ? nr : 0]!++;
    const r = this.dispatch(v, nr, a0, a1, a2, a3, a4);
    if (this.trace !== null) {
      this.trace.push({ t: this.now, dom: d.id, vcpu: v.index, ev: callName(nr) ?? `#${nr >>> 0}`, args: [a0 | 0, a1 | 0, a2 | 0, a3 | 0, a4 | 0], ret: r });
    }
    return r;
  }

  /** Brings a vCPU up at an entry and queues it. */
  vcpuUp(v: Vcpu, entry: VcpuEntry): void {
    v.up = true;
    v.started = false;
    v.entry = entry;
    v.wait = null;
    v.timer = 0;
    this.sched.enqueue(v);
  }

  /** Takes a vCPU down: it leaves the run queue and its timer is cancelled. */
  vcpuDown(v: Vcpu): void {
    v.up = false;
    v.started = false;
    v.timer = 0;
    v.wait = null;
  }

  /** Ends a vCPU's wait with `result` and queues it. */
  wake(v: Vcpu, result: number): void {
    if (!v.up) return;
    v.wait = null;
    v.resumeResult = result;
    this.sched.enqueue(v);
  }

  /** Shuts a domain down at the guest's request. Its vCPUs stop. */
  shutdown(d: Domain, reason: number, code: number): void {
    if (!d.alive) return;
    d.state = 'shutdown';
    d.shutdownReason = reason;
    d.shutdownCode = code;
    d.endedAt = this.now;
    this.domainException(d);
    this.onDomainEnd?.(d);
  }

  /** Pauses a running domain: its vCPUs keep their state but are not scheduled. */
  pause(d: Domain): void {
    if (d.state === 'running') d.state = 'paused';
  }

  /** Resumes a paused domain: its runnable vCPUs go back on the run queue. */
  unpause(d: Domain): void {
    if (d.state !== 'paused') return;
    d.state = 'running';
    for (const v of d.vcpus) if (v.up && v.wait === null) this.sched.enqueue(v);
  }

  /**
   * Takes a domain off the host for good (the toolstack's destroy): it stops if it still runs
   * (crashed, with `reason`), its vCPUs go down, every event channel of its is closed (a peer's
   * inter-domain port goes back to UNBOUND, as when the domain closes it itself), and it leaves
   * {@link Hypervisor.domains} and the id table, so the core holds nothing of it and its memory
   * can be collected. Its id is not given again. Unknown (already destroyed) domains are ignored.
   */
  destroyDomain(d: Domain, reason = 'destroyed'): void {
    const i = this.domains.indexOf(d);
    if (i < 0) return;
    this.crash(d, reason);
    for (const v of d.vcpus) this.vcpuDown(v);
    for (let p = 1; p < d.ports.length; p++) {
      const e = d.ports[p];
      if (e !== undefined && e.state !== EVTCHNSTAT_CLOSED) evtchn.close(this, d, p);
    }
    this.sched.forget(d);
    // Devices it was given go back to the domain that gave them, while that one exists.
    for (let k = 0; k < d.nrDevices; k++) {
      const giver = d.devices[k]?.givenBy;
      if (giver !== undefined && this.domains.includes(giver)) this.moveDevice(d, k, giver, undefined);
    }
    // Its frames and vCPUs go to the free pools: resources move, they are never lost or created.
    this.freeFrames += heldFrames(d);
    this.freeVcpus += d.vcpusHeld;
    this.domains.splice(i, 1);
    this.byId.delete(d.id);
    this.domainException(d);
    this.onDestroy?.(d);
  }

  /** VIRQ_DOM_EXC on every live controlling domain but `d`: a domain shut down, crashed or was destroyed. */
  private domainException(d: Domain): void {
    for (const c of this.domains) if (c !== d && c.privileged && c.alive) evtchn.sendVirq(this, c, VIRQ_DOM_EXC, 0);
  }

  /** Stops a domain for a fault of its own (trap, hostile act); the other domains go on. */
  crash(d: Domain, reason: string, backtrace: string[] = []): void {
    if (!d.alive) return;
    d.state = 'crashed';
    d.crashReason = reason;
    d.backtrace = backtrace;
    d.endedAt = this.now;
    this.domainException(d);
    this.onDomainEnd?.(d);
  }

  /** Passes console bytes from a domain to the sink. */
  consoleOutput(d: Domain, bytes: Uint8Array): void {
    this.consoleSink(d, bytes);
  }

  /** Queues console input for a domain and raises VIRQ_CONSOLE. */
  consoleInput(d: Domain, bytes: Uint8Array): void {
    const joined = new Uint8Array(d.consoleIn.length + bytes.length);
    joined.set(d.consoleIn);
    joined.set(bytes, d.consoleIn.length);
    d.consoleIn = joined;
    for (const v of d.vcpus) {
      const p = evtchn.virqPort(d, VIRQ_CONSOLE, v.index);
      if (p !== 0) {
        evtchn.raise(this, d, p);
        break;
      }
    }
  }

  /**
   * Refreshes a vCPU's time record (at VM entry). Seqlock: version odd, fields, version even; a
   * guest reading concurrently retries. Plain stores, not `Atomics`: this runs at every VM entry,
   * and in the deterministic engine the guest and the host share one thread, so program order is
   * the order every reader sees (a parallel engine must make the two version stores SeqCst).
   */
  updateTime(v: Vcpu): void {
    // The engine's hypercall trap inlines this sequence; keep the two in step.
    const i32 = v.domain.mem.i32;
    const vi = v.timeIdx;
    const st = vi + ((VCPU_TIME_INFO_OFF.system_time - VCPU_TIME_INFO_OFF.version) >>> 2);
    const ver = i32[vi]!;
    i32[vi] = ver + 1;
    const t = this.now;
    // No `%` on doubles: it compiles to a slow fmod call on this hot path.
    const hi = Math.floor(t / 4294967296);
    i32[st] = t - hi * 4294967296;
    i32[st + 1] = hi;
    i32[vi] = (ver + 2) | 0;
  }

  /**
   * Gives domain `d` (an unmodified guest) its legacy platform: from now on its devices' time
   * runs with virtual time ({@link Hypervisor.fireTimers}, {@link Hypervisor.nextDeadline}), and an
   * interrupt request wakes its vCPU 0 from `hw.halt` (a wait of kind `block`).
   */
  attachLegacy(d: Domain, m: LegacyMachine): void {
    d.legacy = m;
    const v = d.vcpus[0]!;
    m.onInterrupt = () => {
      const w = v.wait;
      if (w !== null && w.kind === 'block' && d.state === 'running') this.wake(v, 0);
    };
  }

  /**
   * Fires every expired one-shot timer (VIRQ_TIMER) and poll timeout, in domain and vCPU order,
   * and brings legacy platforms whose device deadline has passed up to date.
   */
  fireTimers(): void {
    const now = this.now;
    for (const d of this.domains) {
      if (!d.alive) continue;
      const m = d.legacy;
      if (m !== undefined && m.nextDeadline() <= now) m.sync(now);
      for (const v of d.vcpus) {
        if (!v.up) continue;
        if (v.timer !== 0 && v.timer <= now) {
          v.timer = 0;
          evtchn.sendVirq(this, d, VIRQ_TIMER, v.index);
        }
        const w = v.wait;
        if (w !== null && w.kind === 'poll' && w.deadline <= now) this.wake(v, ETIMEDOUT);
      }
    }
  }

  /** The earliest pending timer or poll deadline of a live domain, or Infinity. */
  nextDeadline(): number {
    let t = Infinity;
    for (const d of this.domains) {
      if (d.state !== 'running') continue;
      if (d.legacy !== undefined) t = Math.min(t, d.legacy.nextDeadline());
      for (const v of d.vcpus) {
        if (!v.up) continue;
        if (v.timer !== 0 && v.timer < t) t = v.timer;
        const w = v.wait;
        if (w !== null && w.kind === 'poll' && w.deadline < t) t = w.deadline;
      }
    }
    return t;
  }

  /** Call counts of a domain by call name. */
  hypercallCounts(d: Domain): Record<string, number> {
    const out: Record<string, number> = {};
    for (let nr = 1; nr < 64; nr++) {
      const n = d.hypercalls[nr]!;
      if (n > 0) out[callName(nr) ?? `#${nr}`] = n;
    }
    if (d.hypercalls[0]! > 0) out['unknown'] = d.hypercalls[0]!;
    return out;
  }
}
