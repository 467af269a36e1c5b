/**
 * The virtio-mmio version 2 transport (virtio 1.2 §4.2): a 4 KiB register window on a domain's
 * MMIO bus in front of one {@link VirtioBackend}.
 *
 * It owns everything that is the same for every device type: the register map (§4.2.2), the
 * device status state machine (§2.1, §3.1), feature negotiation over the two 32-bit windows
 * (§2.2), queue configuration and its latching into a {@link SplitQueue} when QueueReady is set
 * (§4.2.3.2), notifications both ways (§4.2.3.3, §4.2.3.4), the configuration generation, and
 * the DEVICE_NEEDS_RESET "give up" path for corrupt rings (§2.1.2).
 *
 * ACCESS WIDTH. Our MMIO trap is 32-bit only (`hw.mmio_read32/mmio_write32`, `MmioDevice`).
 * That is exactly what §4.2.2.2 requires of the driver for the control registers ("MUST only use
 * 32 bit wide and aligned reads and writes"). For the device-specific configuration space the
 * spec lets (makes) the driver use 8- and 16-bit accesses for 8- and 16-bit fields; through our
 * trap a guest reads the aligned 32-bit word holding the field and extracts it, and writes a
 * sub-word field by read-modify-write of its word. The backend sees a 4-byte access either way.
 *
 * VENDOR ID. 0x554d4551 ("QEMU" little-endian) by default, the value Linux ignores and
 * unmodified xv6 insists on; pass `vendorId` to change it. pvisor has no PCI-SIG vendor ID.
 *
 * WHAT IS OFFERED. The backend's device bits plus VIRTIO_F_VERSION_1 (32), VIRTIO_F_EVENT_IDX
 * (29) and VIRTIO_F_INDIRECT_DESC (28) — what our SplitQueue implements — and nothing else
 * (§2.2.2: a device offers only what it implements). Not offered: NOTIFICATION_DATA (so
 * QueueNotify carries a plain queue index), RING_RESET (QueueReset reads 0), RING_PACKED.
 * @module
 */
import type { MmioDevice } from '../hv/mmio.ts';
import type { GuestMemory } from '../hv/memory.ts';
import {
  type FeatureWords,
  type VirtioBackend,
  type VirtioDeviceContext,
  STATUS_ACKNOWLEDGE,
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  STATUS_FEATURES_OK,
  featureBits,
} from './device.ts';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from './ring-layout.ts';
import { SplitQueue } from './virtqueue.ts';

/** Register offsets of the virtio-mmio v2 window (virtio 1.2 §4.2.2, table "MMIO Device Register Layout"). */
export const VIRTIO_MMIO = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** MagicValue: "virt" little-endian (§4.2.2). */
export const VIRTIO_MMIO_MAGIC = 0x74726976;
/** Version of the non-legacy MMIO interface (§4.2.2; legacy devices used 1). */
export const VIRTIO_MMIO_VERSION = 2;
/** Default VendorID: "QEMU" little-endian (see the module comment). */
export const VIRTIO_MMIO_DEFAULT_VENDOR = 0x554d4551;
/** Size of the register window. */
export const VIRTIO_MMIO_WINDOW = 0x1000;
/** InterruptStatus bit 0: used buffer notification (§4.2.2). */
export const INT_USED_BUFFER = 1;
/** InterruptStatus bit 1: configuration change notification (§4.2.2). */
export const INT_CONFIG_CHANGE = 2;

/** Construction options of a {@link VirtioMmioDevice}. */
export interface VirtioMmioOptions {
  /** Instance name for logs and the device manifest (e.g. `vda`). */
  name: string;
  /** The device type behind the window. */
  backend: VirtioBackend;
  /** The domain's memory, where the driver puts its rings. */
  mem: GuestMemory;
  /** VendorID register value; default {@link VIRTIO_MMIO_DEFAULT_VENDOR}. */
  vendorId?: number;
  /**
   * Refuse FEATURES_OK unless the driver accepted VIRTIO_F_VERSION_1 (default false). Off by
   * default so a driver written for legacy ring semantics (xv6) still runs: §6 lets a device
   * "fail to operate further if VIRTIO_F_VERSION_1 is not accepted", it does not require it.
   */
  strictVersion1?: boolean;
  /**
   * Feature bits not to offer although implemented, e.g. `[VIRTIO_F_EVENT_IDX]` to make a driver
   * use the flag-based notification suppression of §2.7.7/§2.7.10 instead (testing drivers; a
   * device may offer any subset of what it implements, §2.2.2). Default: none.
   */
  withhold?: readonly number[];
  /** Host log (error classes 2 and 3); default `console.warn`. Lines are prefixed with the name. */
  log?: (line: string) => void;
}

/** One queue's registers as the driver writes them, and the queue latched from them. */
interface QueueRegs {
  readonly max: number;
  num: number;
  ready: boolean;
  descLo: number;
  descHi: number;
  driverLo: number;
  driverHi: number;
  deviceLo: number;
  deviceHi: number;
  queue: SplitQueue | undefined;
}

const TRANSPORT_FEATURES = [VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX, VIRTIO_F_VERSION_1];

/**
 * A virtio device on the MMIO bus: `System.attachDevice` maps it (size 0x1000) and gives it the
 * interrupt line with {@link VirtioMmioDevice.setInterrupt}. Guest accesses never throw.
 */
export class VirtioMmioDevice implements MmioDevice {
  /** Window size: one 4 KiB page (registers up to 0xff, configuration space from 0x100). */
  readonly size = VIRTIO_MMIO_WINDOW;
  /** Instance name (logs, manifest). */
  readonly name: string;
  /**
   * Manifest type: the VIRTIO_ID_* device ID (2 for blk), the number `System.attachDevice`
   * (`AttachableDevice.type`) writes into the guest's device manifest.
   */
  readonly type: number;
  /** Human-readable kind for logs, `virtio-<kind>` (e.g. `virtio-blk`). */
  readonly label: string;
  /** The backend behind the window. */
  readonly backend: VirtioBackend;
  /** Features offered to the driver: the backend's plus the transport's (see the module comment). */
  readonly offered: bigint;
  /** Accesses to undefined offsets or in the wrong direction (guest mistakes, counted for reports). */
  strayAccesses = 0;

  private mem: GuestMemory;
  private readonly vendorId: number;
  private readonly strictVersion1: boolean;
  private readonly logFn: (line: string) => void;
  private raise: () => void = () => {};
  private readonly queues: QueueRegs[];
  private readonly cfgWord = new Uint8Array(4);
  private readonly cfgView = new DataView(this.cfgWord.buffer);

  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  // The driver wrote a 1 in a DriverFeatures word beyond bit 63: unofferable, refuses FEATURES_OK.
  private driverFeaturesBeyond = false;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private active = false;
  private broken = false;

  /** A transport for `opts.backend`; binds the backend to it. */
  constructor(opts: VirtioMmioOptions) {
    this.name = opts.name;
    this.backend = opts.backend;
    this.type = opts.backend.deviceId;
    this.label = `virtio-${opts.backend.kind}`;
    this.mem = opts.mem;
    this.vendorId = (opts.vendorId ?? VIRTIO_MMIO_DEFAULT_VENDOR) >>> 0;
    this.strictVersion1 = opts.strictVersion1 ?? false;
    this.logFn = opts.log ?? ((l) => console.warn(l));
    let withheld = 0n;
    for (const b of opts.withhold ?? []) withheld |= 1n << BigInt(b);
    this.offered = offeredFeatures(opts.backend.features) & ~withheld;
    this.queues = opts.backend.queueMaxSizes.map((max) => ({
      max,
      num: max,
      ready: false,
      descLo: 0,
      descHi: 0,
      driverLo: 0,
      driverHi: 0,
      deviceLo: 0,
      deviceHi: 0,
      queue: undefined,
    }));
    const ctx: VirtioDeviceContext = {
      usedBuffers: () => this.interrupt(INT_USED_BUFFER),
      configChanged: () => this.configChanged(),
      needsReset: (reason) => this.needsReset(reason),
      log: (line) => this.log(line),
    };
    this.backend.bind(ctx);
  }

  /** Connects the device interrupt (an event channel for PV guests, a PIC line for full-virt ones). */
  setInterrupt(raise: () => void): void {
    this.raise = raise;
  }

  /**
   * Its domain was destroyed (`System.destroyDomain` calls this): the interrupt line is cut and
   * the backend releases what it holds outside the domain ({@link VirtioBackend.release}).
   */
  release(): void {
    this.raise = () => {};
    this.backend.release?.();
  }

  /** The device status register as the driver would read it. */
  get deviceStatus(): number {
    return this.status;
  }

  /** The InterruptStatus register as the driver would read it. */
  get pendingInterrupts(): number {
    return this.interruptStatus;
  }

  /** The negotiated feature set (meaningful once FEATURES_OK stuck). */
  get negotiatedFeatures(): bigint {
    return this.driverFeatures;
  }

  /** A 32-bit guest read of the register at `offset` (4-aligned, inside the window). */
  read32(offset: number): number {
    const R = VIRTIO_MMIO;
    if (offset >= R.CONFIG) return this.readConfig(offset - R.CONFIG);
    const q = this.queues[this.queueSel];
    switch (offset) {
      // §4.2.2.1: "The device MUST return 0x74726976 in MagicValue."
      case R.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      // §4.2.2.1: "The device MUST return value 0x2 in Version."
      case R.VERSION:
        return VIRTIO_MMIO_VERSION;
      // §4.2.2: DeviceID, "See 5 Device Types for possible values."
      case R.DEVICE_ID:
        return this.backend.deviceId;
      // §4.2.2: VendorID, "Virtio Subsystem Vendor ID" (see the module comment for the choice).
      case R.VENDOR_ID:
        return this.vendorId;
      // §4.2.2: DeviceFeatures "returns bits DeviceFeaturesSel*32 to (DeviceFeaturesSel*32)+31";
      // words past bit 63 are all zero (we offer nothing there).
      case R.DEVICE_FEATURES:
        return this.deviceFeaturesSel > 1 ? 0 : Number((this.offered >> BigInt(32 * this.deviceFeaturesSel)) & 0xffffffffn);
      // §4.2.2: QueueNumMax "returns the maximum size ... or zero (0x0) if the queue is not available".
      case R.QUEUE_NUM_MAX:
        return q?.max ?? 0;
      // §4.2.2: QueueReady "Reading from this register returns the last value written to it" —
      // except that a refused QueueReady = 1 (bad configuration, see write32) reads back 0.
      case R.QUEUE_READY:
        return q?.ready === true ? 1 : 0;
      // §4.2.2: InterruptStatus "returns a bit mask of events that caused the device interrupt".
      case R.INTERRUPT_STATUS:
        return this.interruptStatus;
      // §4.2.2: Status "Reading from this register returns the current device status flags."
      case R.STATUS:
        return this.status;
      // §4.2.2: SHMLen of a non-existent region "results in a length of -1", SHMBase in
      // 0xffffffffffffffff. We have no shared memory regions.
      case R.SHM_LEN_LOW:
      case R.SHM_LEN_HIGH:
      case R.SHM_BASE_LOW:
      case R.SHM_BASE_HIGH:
        return 0xffffffff;
      // RING_RESET is not offered: QueueReset is always 0 (§4.2.2.1 "present a 0 ... on reset").
      case R.QUEUE_RESET:
        return 0;
      // §4.2.2: ConfigGeneration; §4.2.2.1 "MUST change ... if there is any risk of a driver
      // seeing an inconsistent configuration state".
      case R.CONFIG_GENERATION:
        return this.configGeneration;
      default:
        // Write-only or undefined register. §4.2.2.2: the driver "MUST NOT read from the
        // write-only registers"; it gets 0, and the stray access is counted.
        this.strayAccesses++;
        return 0;
    }
  }

  /** A 32-bit guest write of `value` (u32) to the register at `offset` (4-aligned, inside the window). */
  write32(offset: number, value: number): void {
    const R = VIRTIO_MMIO;
    const v = value >>> 0;
    if (offset >= R.CONFIG) {
      this.writeConfig(offset - R.CONFIG, v);
      return;
    }
    switch (offset) {
      // §4.2.2: DeviceFeaturesSel "selects a set of 32 device feature bits".
      case R.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = v;
        return;
      // §4.2.2: DriverFeaturesSel "selects a set of 32 activated feature bits".
      case R.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = v;
        return;
      case R.DRIVER_FEATURES:
        this.writeDriverFeatures(v);
        return;
      // §4.2.2: QueueSel "selects the virtual queue that the following operations ... apply to".
      // Any value is accepted; a queue that does not exist reads QueueNumMax 0 and takes no writes.
      case R.QUEUE_SEL:
        this.queueSel = v;
        return;
      case R.QUEUE_NUM:
      case R.QUEUE_DESC_LOW:
      case R.QUEUE_DESC_HIGH:
      case R.QUEUE_DRIVER_LOW:
      case R.QUEUE_DRIVER_HIGH:
      case R.QUEUE_DEVICE_LOW:
      case R.QUEUE_DEVICE_HIGH:
        this.writeQueueField(offset, v);
        return;
      case R.QUEUE_READY:
        this.writeQueueReady(v);
        return;
      case R.QUEUE_NOTIFY:
        this.notify(v);
        return;
      // §4.2.2: InterruptACK "notifies the device that events causing the interrupt have been
      // handled"; §4.2.2.1 keeps a bit set "until the driver acknowledges the interrupt by
      // writing a corresponding bit mask". Undefined bits are ignored.
      case R.INTERRUPT_ACK:
        this.interruptStatus &= ~v & (INT_USED_BUFFER | INT_CONFIG_CHANGE);
        return;
      case R.STATUS:
        this.writeStatus(v);
        return;
      case R.SHM_SEL:
        return; // no shared memory regions; the selector has nothing to select
      default:
        // Read-only or undefined register (incl. the legacy GuestPageSize/QueueAlign/QueuePFN).
        // §4.2.2.2: the driver "MUST NOT write to the read-only registers"; the write is dropped.
        this.strayAccesses++;
    }
  }

  // --- status ----------------------------------------------------------------------------------

  private writeStatus(v: number): void {
    // §4.2.2: Status "Writing zero (0x0) to this register triggers a device reset."
    if (v === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    // DEVICE_NEEDS_RESET is the device's bit: a driver write neither sets nor clears it.
    const need = old & STATUS_DEVICE_NEEDS_RESET;
    let next = v & ~STATUS_DEVICE_NEEDS_RESET & 0xff;
    // §2.1.1: "The driver MUST NOT clear a device status bit." A write that would is ignored
    // whole (only a reset clears bits), as Firecracker ignores invalid transitions.
    if ((old & ~STATUS_DEVICE_NEEDS_RESET & ~next) !== 0) {
      this.log(`status write 0x${v.toString(16)} would clear bits of 0x${old.toString(16)}; ignored (§2.1.1)`);
      return;
    }
    const added = next & ~old;
    // §3.1.1 orders the bits: ACKNOWLEDGE, then DRIVER, then FEATURES_OK, then DRIVER_OK.
    // A bit whose predecessor is not (being) set is dropped; FAILED may be set at any time.
    const prereq: [number, number][] = [
      [STATUS_DRIVER, STATUS_ACKNOWLEDGE],
      [STATUS_FEATURES_OK, STATUS_DRIVER],
      [STATUS_DRIVER_OK, STATUS_FEATURES_OK],
    ];
    for (const [bit, pre] of prereq) {
      if ((added & bit) !== 0 && (next & pre) === 0) next &= ~bit;
    }
    if ((added & STATUS_FEATURES_OK) !== 0 && (next & STATUS_FEATURES_OK) !== 0) {
      const why = this.refuseFeatures();
      if (why !== undefined) {
        // §2.2.2: "The device SHOULD accept any valid subset of features the driver accepts,
        // otherwise it MUST fail to set the FEATURES_OK device status bit when the driver
        // writes it." The driver re-reads Status and sees the bit missing (§3.1.1 step 6).
        this.log(`FEATURES_OK refused: ${why}`);
        next &= ~(STATUS_FEATURES_OK | STATUS_DRIVER_OK);
      }
    }
    this.status = next | need;
    if ((added & next & STATUS_DRIVER_OK) !== 0) this.driverOk();
  }

  /** Why the negotiated features cannot be accepted, or undefined. */
  private refuseFeatures(): string | undefined {
    const extra = this.driverFeatures & ~this.offered;
    if (this.driverFeaturesBeyond) return 'driver acked a feature bit above 63';
    if (extra !== 0n) return `driver acked features not offered: 0x${extra.toString(16)}`;
    if (this.strictVersion1 && ((this.driverFeatures >> BigInt(VIRTIO_F_VERSION_1)) & 1n) === 0n) {
      return 'VIRTIO_F_VERSION_1 not accepted (strictVersion1)';
    }
    return undefined;
  }

  /** DRIVER_OK was just set: hand the latched queues to the backend. */
  private driverOk(): void {
    if (this.broken) {
      // §2.1.2: "If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the device MUST send a
      // device configuration change notification to the driver." NEEDS_RESET came earlier (a
      // refused queue configuration); DRIVER_OK is set now, so the notification is due now.
      this.interrupt(INT_CONFIG_CHANGE);
      return;
    }
    this.active = true;
    this.backend.activate(
      this.queues.map((q) => q.queue),
      this.mem,
      this.driverFeatures,
    );
  }

  /**
   * Moves the device to another domain (DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE): a reset, as
   * if the old driver wrote 0 to Status (requests in flight are dropped, virtio 1.2 §2.1), then
   * every later ring access goes to `mem`. The configuration generation moves on, so a driver
   * that cached the config space rereads it.
   */
  rebind(mem: GuestMemory): void {
    this.reset();
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    this.mem = mem;
  }

  /** Device reset (§2.4, §4.2.2.1), from a Status write of 0. */
  private reset(): void {
    // The backend drops its queues and any popped chains (they must not be completed now).
    this.backend.reset();
    this.status = 0;
    this.active = false;
    this.broken = false;
    this.deviceFeaturesSel = this.driverFeaturesSel = 0;
    this.driverFeatures = 0n;
    this.driverFeaturesBeyond = false;
    this.queueSel = 0;
    // §4.2.2.1: "Upon reset, the device MUST clear all bits in InterruptStatus and ready bits in
    // the QueueReady register for all queues in the device."
    this.interruptStatus = 0;
    for (const q of this.queues) {
      q.ready = false;
      q.queue = undefined;
      q.num = q.max;
      q.descLo = q.descHi = q.driverLo = q.driverHi = q.deviceLo = q.deviceHi = 0;
    }
  }

  // --- features --------------------------------------------------------------------------------

  private writeDriverFeatures(v: number): void {
    // §3.1.1 step 5: the driver writes the subset it understands after DRIVER and before
    // FEATURES_OK. After FEATURES_OK the set is fixed (QEMU's virtio_set_features -EINVAL), so a
    // later write is ignored rather than changing features under running queues.
    if ((this.status & STATUS_DRIVER) === 0 || (this.status & STATUS_FEATURES_OK) !== 0) {
      this.strayAccesses++;
      return;
    }
    // §4.2.2: DriverFeatures "sets bits DriverFeaturesSel*32 to (DriverFeaturesSel*32)+31".
    const sel = this.driverFeaturesSel;
    if (sel > 1) {
      if (v !== 0) this.driverFeaturesBeyond = true;
      return;
    }
    const shift = BigInt(32 * sel);
    this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(v) << shift);
  }

  // --- queues ----------------------------------------------------------------------------------

  /**
   * Whether the selected queue's configuration registers may be written now: the queue exists,
   * FEATURES_OK is set, DRIVER_OK is not, and the queue is not enabled.
   */
  private queueWritable(q: QueueRegs | undefined): q is QueueRegs {
    if (q === undefined) return false;
    // §3.1.1 step 7: queue setup comes after FEATURES_OK ("Perform device-specific setup,
    // including discovery of virtqueues") and before DRIVER_OK (step 8). §4.2.2.2: "When
    // QueueReady is not zero, the driver MUST NOT access QueueNum, QueueDescLow, QueueDescHigh,
    // QueueDriverLow, QueueDriverHigh, QueueDeviceLow, QueueDeviceHigh." Writes outside that
    // window are ignored, so a live queue can never be re-pointed (CVE-2026-5747's pattern).
    const s = this.status;
    return (s & STATUS_FEATURES_OK) !== 0 && (s & (STATUS_DRIVER_OK | STATUS_FAILED)) === 0 && !q.ready;
  }

  private writeQueueField(offset: number, v: number): void {
    const q = this.queues[this.queueSel];
    if (!this.queueWritable(q)) {
      this.strayAccesses++;
      return;
    }
    const R = VIRTIO_MMIO;
    switch (offset) {
      // §4.2.2: QueueNum "notifies the device what size of the queue the driver will use";
      // checked against QueueNumMax when the queue is enabled.
      case R.QUEUE_NUM:
        q.num = v;
        return;
      // §4.2.2: the three 64-bit area addresses, low word then high word.
      case R.QUEUE_DESC_LOW:
        q.descLo = v;
        return;
      case R.QUEUE_DESC_HIGH:
        q.descHi = v;
        return;
      case R.QUEUE_DRIVER_LOW:
        q.driverLo = v;
        return;
      case R.QUEUE_DRIVER_HIGH:
        q.driverHi = v;
        return;
      case R.QUEUE_DEVICE_LOW:
        q.deviceLo = v;
        return;
      case R.QUEUE_DEVICE_HIGH:
        q.deviceHi = v;
        return;
    }
  }

  /**
   * QueueReady. Writing 1 latches the registers into a SplitQueue (validated: size, alignment,
   * placement). A bad configuration is refused — QueueReady reads back 0 — and the device sets
   * DEVICE_NEEDS_RESET: we choose NEEDS_RESET over silently ignoring because Linux never reads
   * QueueReady back, so an ignored write would leave it waiting forever on a dead queue, while
   * §2.1.2 gives the device exactly this way out ("The device SHOULD set DEVICE_NEEDS_RESET when
   * it enters an error state that a reset is needed"); the configuration-change notification
   * follows at DRIVER_OK. Writing 0 before DRIVER_OK disables the queue again.
   */
  private writeQueueReady(v: number): void {
    const q = this.queues[this.queueSel];
    if (q === undefined) {
      this.strayAccesses++;
      return;
    }
    const s = this.status;
    if ((s & STATUS_FEATURES_OK) === 0 || (s & (STATUS_DRIVER_OK | STATUS_FAILED)) !== 0) {
      // Same window as the other queue registers (§3.1.1 steps 7–8). Stopping a queue of a live
      // device one at a time needs VIRTIO_F_RING_RESET, which we do not offer; reset the device.
      this.strayAccesses++;
      return;
    }
    if ((v & 1) === 0) {
      // §4.2.2.2: "To stop using the queue the driver MUST write zero (0x0) to this QueueReady".
      q.ready = false;
      q.queue = undefined;
      return;
    }
    if (q.ready) return;
    const index = this.queueSel;
    let why: string | undefined;
    // §4.2.2.2: "The driver MUST write a value to QueueNum which is less than or equal to the
    // value presented by the device in QueueNumMax."
    if (q.num > q.max) why = `queue size ${q.num} exceeds QueueNumMax ${q.max}`;
    // A wasm32 guest has no memory at or above 4 GiB: a non-zero high word names no guest RAM.
    else if (q.descHi !== 0 || q.driverHi !== 0 || q.deviceHi !== 0) why = 'a queue area address is at or above 4 GiB';
    else {
      const r = SplitQueue.create(this.mem, {
        size: q.num,
        desc: q.descLo,
        avail: q.driverLo,
        used: q.deviceLo,
        features: this.driverFeatures,
        onBroken: (reason, message) => this.needsReset(`queue ${index}: ${reason}: ${message}`),
      });
      if (r.ok) {
        q.queue = r.queue;
        q.ready = true;
        return;
      }
      why = `${r.error}: ${r.message}`;
    }
    this.needsReset(`queue ${index} configuration refused: ${why}`);
  }

  /** QueueNotify (§4.2.3.3): without NOTIFICATION_DATA the value is the queue index. */
  private notify(v: number): void {
    // §2.1.2: the device MUST NOT consume buffers before DRIVER_OK; a broken device stops until
    // reset (QEMU ignores kicks while `broken`). A kick for a queue that does not exist or is
    // not enabled is spurious, which §2.7.10.2 obliges the device to tolerate.
    if (!this.active || this.broken) return;
    const index = v & 0xffff;
    if (v > 0xffff || this.queues[index]?.queue === undefined) {
      this.strayAccesses++;
      return;
    }
    try {
      this.backend.queueNotify(index);
    } catch (e) {
      // Backends answer guest mistakes and host faults with statuses and never throw; an
      // exception here is a bug in the backend. It must not unwind into the guest's trap and take
      // the host down (DESIGN.md: the host never dies because of a guest), so it stops this
      // device like a corrupt ring would: the other devices and domains go on.
      this.needsReset(`backend threw on queue ${index}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // --- configuration space -----------------------------------------------------------------------

  private readConfig(off: number): number {
    // §4.2.2: config "is accessed with byte alignment"; through a 32-bit trap that is the word
    // holding the field (see the module comment). Bytes past the backend's space read as 0.
    this.cfgWord.fill(0);
    if (off < this.backend.configSize) this.backend.readConfig(off, this.cfgWord);
    return this.cfgView.getUint32(0, true);
  }

  private writeConfig(off: number, v: number): void {
    // §3.1.1 step 4: the driver "MUST NOT write to the device configuration space" before
    // FEATURES_OK; the backend decides what a field write means and ignores read-only ones.
    // A backend may name fields its spec makes writable earlier (configWritableEarly, e.g. the
    // console's emerg_wr, §5.3.4); those pass through in any status, even after a reset.
    const early = (this.status & STATUS_FEATURES_OK) === 0;
    if (off >= this.backend.configSize || (early && this.backend.configWritableEarly?.(off) !== true)) {
      this.strayAccesses++;
      return;
    }
    this.cfgView.setUint32(0, v, true);
    this.backend.writeConfig(off, this.cfgWord);
  }

  private configChanged(): void {
    // §4.2.2.1: "The device MUST change value returned in ConfigGeneration if there is any risk
    // of a driver seeing an inconsistent configuration state."
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    // §2.5 (Device Configuration Space): a config change is signalled by a configuration change
    // notification; before DRIVER_OK the driver reads config itself and needs none.
    if ((this.status & STATUS_DRIVER_OK) !== 0) this.interrupt(INT_CONFIG_CHANGE);
  }

  // --- errors and interrupts ---------------------------------------------------------------------

  /** Error class 2: DEVICE_NEEDS_RESET, a config-change interrupt once DRIVER_OK is set, stop. */
  private needsReset(reason: string): void {
    this.log(`DEVICE_NEEDS_RESET: ${reason}`);
    if (this.broken) return;
    this.broken = true;
    // §2.1.2: "The device SHOULD set DEVICE_NEEDS_RESET when it enters an error state that a
    // reset is needed. If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the device MUST
    // send a device configuration change notification to the driver."
    this.status |= STATUS_DEVICE_NEEDS_RESET;
    if ((this.status & STATUS_DRIVER_OK) !== 0) this.interrupt(INT_CONFIG_CHANGE);
  }

  /**
   * Sets InterruptStatus bits and raises the line (§4.2.3.4: the interrupt "is asserted when at
   * least one of the bits described in the description of InterruptStatus is set"). Backends
   * call this through `usedBuffers` at most once per batch, after the queue's suppression check.
   */
  private interrupt(bits: number): void {
    this.interruptStatus |= bits;
    this.raise();
  }

  private log(line: string): void {
    this.logFn(`virtio-mmio ${this.name} (${this.label}): ${line}`);
  }
}

/** The offered feature set of a backend behind the transport, for tests and manifests. */
export function offeredFeatures(backendFeatures: FeatureWords): bigint {
  let t = 0n;
  for (const b of TRANSPORT_FEATURES) t |= 1n << BigInt(b);
  return featureBits(backendFeatures) | t;
}
