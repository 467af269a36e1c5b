/**
 * A domain: its memory, vCPUs, event-channel ports and life-cycle state.
 *
 * Life cycle: `running` → (`paused` ↔ `running`) → `shutdown` (the guest asked: poweroff, reboot,
 * crash with a code) or `crashed` (the host stopped it: a Wasm trap or a hostile act, with a
 * reason and a guest backtrace). "Blocked" is not a stored state: a running domain is blocked when
 * every up vCPU waits ({@link Domain.runState}).
 * @module
 */
import type { LegacyMachine } from './legacy-machine.ts';
import type { GuestAddr } from '../abi/index.ts';
import { NR_EVENT_CHANNELS, SHARED_INFO_OFF, VCPU_INFO_SIZE, VCPU_INFO_OFF } from '../abi/index.ts';
import type { DomainLayout } from './layout.ts';
import type { GuestMemory } from './memory.ts';
import { MmioBus } from './mmio.ts';
import type { MmioDevice } from './mmio.ts';
import { Vcpu } from './vcpu.ts';

/** Stored life-cycle state. */
export type DomainState = 'running' | 'paused' | 'shutdown' | 'crashed';

/** One event-channel port (index in {@link Domain.ports} = port number). */
export interface Port {
  /** EVTCHNSTAT_* value. */
  state: number;
  /** vCPU notified when the port fires. */
  vcpu: number;
  /** UNBOUND: domain allowed to bind; INTERDOMAIN: peer domain. */
  remoteDom: number;
  /** INTERDOMAIN: peer's port. */
  remotePort: number;
  /** VIRQ: the virtual interrupt. */
  virq: number;
}

/** MMIO exits of a domain by kind (each `hw.mmio_*` trap is one exit, mapped or not). */
export interface MmioExits {
  /** `hw.mmio_read32` traps. */
  read: number;
  /** `hw.mmio_write32` traps. */
  write: number;
}

/**
 * A device that can sit in a domain's manifest and move between domains (DOMCTL_ATTACH_DEVICE,
 * DOMCTL_DETACH_DEVICE): the core maps it, binds its interrupt port and, on a move, resets it and
 * points it at the receiving domain's memory.
 */
export interface PluggableDevice extends MmioDevice {
  /** Manifest name, 1..15 bytes of UTF-8. */
  readonly name: string;
  /** Manifest type (a VIRTIO_ID_* value). */
  readonly type: number;
  /** Receives the function that raises the device's interrupt in its current domain. */
  setInterrupt?(raise: () => void): void;
  /**
   * Resets the device (as its driver writing 0 to Status) and makes it use `mem` from now on.
   * Absent: the device cannot move (the move fails with EINVAL).
   */
  rebind?(mem: GuestMemory): void;
}

/** A device in a manifest entry, with what the core bound for it there. */
export interface PluggedDevice {
  /** The device. */
  readonly dev: PluggableDevice;
  /** Its window's base (MMIO_DEVICE_BASE + index * MMIO_WINDOW_SIZE). */
  readonly base: number;
  /**
   * Its DEVICE event-channel port in this domain; -1 once it has none (the guest closed the port
   * and the number went to another device, so this one's interrupts are dropped).
   */
  readonly port: number;
  /** The domain that moved it here with DOMCTL_ATTACH_DEVICE (it goes back there on destroy). */
  readonly givenBy: Domain | undefined;
}

/** What the image offers, as the loader found it. */
export interface DomainCaps {
  /** Exports `pv_upcall`. */
  upcall: boolean;
  /** Exports `pv_vcpu_entry` and `__stack_pointer`. */
  vcpuEntry: boolean;
}

/** A domain. */
export class Domain {
  /** Domain id (guests from 1). */
  readonly id: number;
  /** Name (console prefix, reports). */
  readonly name: string;
  /** Memory. */
  readonly mem: GuestMemory;
  /** Where the host's structures are. */
  readonly layout: DomainLayout;
  /** vCPUs, index = vCPU id. */
  readonly vcpus: Vcpu[];
  /** Controlling domain. */
  readonly privileged: boolean;
  /** Image capabilities. */
  caps: DomainCaps = { upcall: false, vcpuEntry: false };
  /** Life-cycle state. */
  state: DomainState = 'running';
  /** SHUTDOWN_* reason once shut down. */
  shutdownReason = -1;
  /** Exit code given with the shutdown. */
  shutdownCode = 0;
  /** Why the host crashed it. */
  crashReason = '';
  /** Guest function names, innermost first, at the crash. */
  backtrace: string[] = [];
  /** Virtual time at which it ended. */
  endedAt = 0;
  /** Ports; index 0 is never allocated. Grown on demand up to NR_EVENT_CHANNELS. */
  readonly ports: Port[] = [];
  /** Console input waiting for `console_read`. */
  consoleIn: Uint8Array = new Uint8Array(0);
  /** Hypercalls made, by number (numbers ≥ 64 counted in slot 0). */
  readonly hypercalls = new Uint32Array(64);
  /** The domain's MMIO address space (device register windows). */
  readonly mmio = new MmioBus();
  /** MMIO traps taken, by kind (the engine counts them; exits for the PV/full-virt comparison). */
  readonly mmioExits: MmioExits = { read: 0, write: 0 };
  /** Upcalls delivered (calls of the guest's `pv_upcall`; the engine counts them). */
  upcalls = 0;
  /**
   * The emulated PC of an unmodified guest (spec `legacyPlatform`); undefined for a paravirtual
   * one. See {@link Hypervisor.attachLegacy}.
   */
  legacy: LegacyMachine | undefined = undefined;
  /** Entries written to the device manifest so far (start_info.nr_devices). */
  nrDevices = 0;
  /** The device of each manifest entry (undefined: DEVICE_NONE, or a device the core does not know). */
  readonly devices: (PluggedDevice | undefined)[] = [];
  /** Manifest entries below nrDevices that are DEVICE_NONE (their device moved away): reused first. */
  readonly freeEntries = new Set<number>();
  /** start_info.devices_generation: bumped by every device move in or out. */
  devicesGeneration = 0;
  /** vCPUs it holds (start_info.vcpus_held; DOMCTL_SET_VCPUS): it may bring up vCPUs below this. */
  vcpusHeld: number;
  /** The domain whose DOMCTL_CREATE made it (undefined: the host toolstack). */
  creator: Domain | undefined = undefined;
  /**
   * Guest address of the v1 grant table `grant_setup` registered (0 when none). The entries stay
   * in guest memory; the host reads one each time a `grant_copy` names it (see grant.ts).
   */
  grantTable = 0 as GuestAddr;
  /** Entries of the registered grant table (0 = none: every grant reference is out of range). */
  grantEntries = 0;
  /** The most memory it may hold (start_info.max_mem; `domctl` DOMCTL_SET_MAX_MEM). Set at creation. */
  maxMem = 0;
  /** Its balloon target (start_info.mem_target; DOMCTL_SET_MEMORY_TARGET). Set at creation. */
  memTarget = 0;
  /** SHUTDOWN_* reason the controlling domain asked for (DOMCTL_REQUEST_SHUTDOWN), -1 = none. */
  shutdownRequest = -1;
  /**
   * Frames (GRANT_FRAME_SIZE) it handed back with `decrease_reservation` and has not taken again:
   * still addressable in its Wasm memory, but the host's (see reservation.ts).
   */
  readonly ballooned = new Set<number>();

  /** Absolute addresses of the 32-bit words of the pending and mask bitmaps, as i32 indices. */
  readonly pendingIdx: number;
  /** See {@link Domain.pendingIdx}. */
  readonly maskIdx: number;

  /** Creates a domain; the caller writes start_info and brings vCPU 0 up. */
  constructor(id: number, name: string, mem: GuestMemory, layout: DomainLayout, nrVcpus: number, privileged: boolean) {
    this.id = id;
    this.name = name;
    this.mem = mem;
    this.layout = layout;
    this.privileged = privileged;
    this.vcpus = [];
    for (let i = 0; i < nrVcpus; i++) this.vcpus.push(new Vcpu(this, i));
    this.vcpusHeld = nrVcpus;
    this.pendingIdx = (layout.sharedInfo + SHARED_INFO_OFF.evtchn_pending) >>> 2;
    this.maskIdx = (layout.sharedInfo + SHARED_INFO_OFF.evtchn_mask) >>> 2;
  }

  /** True while the domain's vCPUs may run (not shut down or crashed). */
  get alive(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  /** `running` with a runnable vCPU, `blocked` when every up vCPU waits, or the stored state. */
  get runState(): DomainState | 'blocked' {
    if (this.state !== 'running') return this.state;
    return this.vcpus.every((v) => !v.up || v.blocked) ? 'blocked' : 'running';
  }

  /** Address of vCPU `i`'s vcpu_info. */
  vcpuInfo(i: number): GuestAddr {
    return (this.layout.sharedInfo + SHARED_INFO_OFF.vcpu_info + i * VCPU_INFO_SIZE) as GuestAddr;
  }

  /** Byte index of vCPU `i`'s `evtchn_upcall_pending`. */
  upcallPendingAddr(i: number): number {
    return this.vcpuInfo(i) + VCPU_INFO_OFF.evtchn_upcall_pending;
  }

  /** Byte index of vCPU `i`'s `evtchn_upcall_mask`. */
  upcallMaskAddr(i: number): number {
    return this.vcpuInfo(i) + VCPU_INFO_OFF.evtchn_upcall_mask;
  }

  /** i32 index of vCPU `i`'s `evtchn_pending_sel`. */
  pendingSelIdx(i: number): number {
    return (this.vcpuInfo(i) + VCPU_INFO_OFF.evtchn_pending_sel) >>> 2;
  }

  /** The port record, or undefined when it was never allocated (= CLOSED). */
  port(p: number): Port | undefined {
    return this.ports[p];
  }

  /** Lowest free port ≥ 1, or -1 when the table is full. */
  freePort(): number {
    for (let p = 1; p < NR_EVENT_CHANNELS; p++) {
      const e = this.ports[p];
      if (e === undefined || e.state === 0) return p;
    }
    return -1;
  }
}
