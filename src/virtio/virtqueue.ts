/**
 * Device side of a virtio 1.x split virtqueue (virtio 1.2 §2.7).
 *
 * WHO WRITES WHAT (§2.7: "each part is write-able by either the driver or the device, but not
 * both"). The device never writes a driver-owned field, and treats every one it reads as hostile.
 *   driver: descriptor table (addr, len, flags, next)                        — read by us
 *           available ring: flags, idx, ring[], used_event                   — read by us
 *   device: used ring: flags, idx, ring[] (id, len), avail_event             — written by us
 *
 * WRAP RULE (§2.7.13.3). avail.idx and used.idx are free-running u16 counters: they only ever
 * increase and wrap naturally at 65536. The ring slot of index i is `i mod Q` (Q is a power of
 * 2 ≤ 32768, so `i & (Q - 1)`), and `(avail.idx - nextAvail) mod 2^16` is the number of new
 * entries; it can never legitimately exceed Q, so the 16-bit index tells full from empty.
 *
 * NOTIFICATION RULE (§2.7.7, §2.7.10).
 *   With VIRTIO_F_EVENT_IDX: after moving used.idx from `old` to `new`, the device notifies the
 *   driver iff vring_need_event(used_event, new, old) = (u16)(new - used_event - 1) <
 *   (u16)(new - old), i.e. iff one of the entries written sat at index used_event. Symmetrically
 *   the device publishes avail_event = the next avail index it wants to hear about, and flags
 *   MUST be 0 on both sides (their low bit is ignored).
 *   Without it: the driver's VIRTQ_AVAIL_F_NO_INTERRUPT asks us not to notify, our
 *   VIRTQ_USED_F_NO_NOTIFY asks it not to kick; both are hints, not synchronised.
 *   We decide once per batch (one used.idx store, at most one notification), as rust-vmm and
 *   Firecracker do: with EVENT_IDX the window test above is exactly "some entry of the batch
 *   was at used_event".
 *
 * ERROR CLASSES (DESIGN.md "Error policy"; see errors.ts).
 *   Malformed request — anything wrong inside one chain (bad next, loop, nested/odd indirect,
 *     R after W, bounds, zero length, > 2^32 bytes) and also a head index ≥ Q read from the
 *     avail ring: the chain is popped with `error` set and must be completed with length 0.
 *     A bad head is per-chain because it is confined to one avail slot: we have consumed that
 *     slot, echo the id back in one used element, and the driver's and device's counters stay
 *     in step, whereas stopping the queue would throw away every other request in flight.
 *   Corrupt ring — avail.idx moved ahead of us by more than Q (or backwards), or more than Q
 *     buffers would be outstanding: the indices themselves are garbage, nothing after them can
 *     be trusted, so the queue becomes `broken` (popAll returns nothing, push/flush do nothing)
 *     until reset(); the transport sets DEVICE_NEEDS_RESET (§2.1.2) via `onBroken`.
 *   Nothing here throws because of guest data, and guest memory is only touched inside ranges
 *   checked with GuestMemory.inBounds (the rings once at creation — Wasm memory never shrinks —
 *   and every buffer and indirect table per chain).
 *
 * MEMORY ORDERING. Guest memory is a SharedArrayBuffer the guest writes from other threads. The
 * indices and event words are accessed with Atomics (sequentially consistent, stronger than the
 * acquire/release the protocol needs); each access says what it orders. Descriptors, ring
 * entries and used elements are plain accesses ordered by those.
 * @module
 */
import type { GuestAddr } from '../abi/index.ts';
import type { GuestMemory } from '../hv/memory.ts';
import { type Chain, ChainWalker, DEFAULT_READ_MAX, readChain, readChainInto, writeChain } from './chain.ts';
import {
  type QueueConfigErrorKind,
  type RingErrorKind,
  QUEUE_CONFIG_ERROR_TEXT,
  RING_ERROR_TEXT,
} from './errors.ts';
import {
  AVAIL_ALIGN,
  DESC_ALIGN,
  MAX_QUEUE_SIZE,
  RING_ENTRIES,
  RING_FLAGS,
  RING_IDX,
  USED_ALIGN,
  USED_ELEM_SIZE,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_USED_F_NO_NOTIFY,
  availEventOffset,
  availRingBytes,
  descTableBytes,
  hasFeature,
  needEvent,
  usedEventOffset,
  usedRingBytes,
} from './ring-layout.ts';

// Typed-array views read guest fields in host byte order; virtio 1.x is little-endian (§2.7.3).
// Every platform Node 20 ships on is little-endian; refuse to run rather than misread rings.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('pvisor virtio: big-endian hosts are not supported');
}

const U32_MAX = 0xffffffff;

/** What the transport latched when the driver set QueueReady (virtio-mmio §4.2.3.2). */
export interface SplitQueueConfig {
  /** Queue size Q: a power of 2, 1 ≤ Q ≤ 32768 (§2.7). */
  size: number;
  /** Guest-physical address of the descriptor table (QueueDesc), 16-aligned. */
  desc: number;
  /** Guest-physical address of the available ring (QueueDriver), 2-aligned. */
  avail: number;
  /** Guest-physical address of the used ring (QueueDevice), 4-aligned. */
  used: number;
  /** Negotiated feature bits (bit n = `1n << BigInt(n)`); the ring reads bits 28 and 29. */
  features: bigint;
  /** Starting avail index (snapshot restore, tests); 0 for a fresh queue. */
  nextAvail?: number;
  /** Starting used index (snapshot restore, tests); 0 for a fresh queue. */
  nextUsed?: number;
  /** Called once when the queue becomes broken; the transport sets DEVICE_NEEDS_RESET. */
  onBroken?: (reason: RingErrorKind, message: string) => void;
}

/** Result of {@link SplitQueue.create}: a queue, or why the configuration was refused. */
export type SplitQueueResult =
  | { readonly ok: true; readonly queue: SplitQueue }
  | { readonly ok: false; readonly error: QueueConfigErrorKind; readonly message: string };

/**
 * The device side of one split virtqueue over a guest's memory.
 *
 * Rules for users (transport and backends):
 * - Create it with {@link SplitQueue.create} when the driver sets QueueReady; refuse QueueReady
 *   when it returns `{ ok: false }`.
 * - Complete every popped chain exactly once with {@link SplitQueue.push} (or
 *   {@link SplitQueue.complete}) — malformed ones with length 0, after optionally writing an
 *   error status at `lastWritableAddr` — then {@link SplitQueue.flush} once per batch and notify
 *   the driver when it returns true.
 * - End every processing round with the `enableNotifications()` re-check loop below. With
 *   EVENT_IDX the driver kicks only when it crosses avail_event, so a buffer added while a batch
 *   was being popped is found only by that re-check.
 * - After `broken` becomes set (or `onBroken` fires), set DEVICE_NEEDS_RESET and stop using the
 *   queue until the driver resets the device; drop chains popped before, do not push them.
 * - A chain may hold at most Q buffers, indirect ones included (§2.7.5.3.1): a virtio-blk
 *   device should advertise `seg_max` ≤ Q - 2 so Linux never builds longer indirect tables.
 *
 * A backend's loop:
 * ```ts
 * q.disableNotifications();
 * do {
 *   for (const c of q.popAll()) {
 *     if (c.error !== undefined) { q.push(c.head, 0); continue; }   // malformed: used len 0
 *     const req = q.readChain(c);                                    // copy, then parse
 *     const n = q.writeChain(c, reply(req));                         // bounded by writableLen
 *     q.push(c.head, n);
 *   }
 *   if (q.flush()) transport.notifyUsed();                          // ≤ 1 notification per batch
 * } while (q.enableNotifications());                                  // race-free re-check
 * if (q.broken !== undefined) transport.needsReset();
 * ```
 */
export class SplitQueue {
  /** Queue size Q. */
  readonly size: number;
  /** Descriptor table address. */
  readonly descAddr: GuestAddr;
  /** Available ring address. */
  readonly availAddr: GuestAddr;
  /** Used ring address. */
  readonly usedAddr: GuestAddr;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  readonly indirectDesc: boolean;

  private readonly mem: GuestMemory;
  private readonly mask: number;
  private readonly onBroken: ((reason: RingErrorKind, message: string) => void) | undefined;
  // u16 indices (byte address / 2) of the fields we touch with Atomics.
  private readonly availFlagsI: number;
  private readonly availIdxI: number;
  private readonly availRingI: number;
  private readonly usedEventI: number;
  private readonly usedFlagsI: number;
  private readonly usedIdxI: number;
  private readonly availEventI: number;
  // u32 index of used.ring[0].id.
  private readonly usedRingW: number;
  private readonly walker: ChainWalker;

  // Empty until views() runs: byteLength 0 is also what a detached buffer reports.
  private u16: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  private u32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

  private lastAvail = 0; // next avail index to consume (QEMU last_avail_idx, rust-vmm next_avail)
  private shadowAvail = 0; // avail.idx as last read; entries [lastAvail, shadowAvail) are ours
  private nextUsed = 0; // used.idx as last published
  private staged = 0; // used elements written after nextUsed, not yet published
  private outstanding = 0; // chains popped and not yet published in used.idx
  private notifyOn = true; // whether we want available-buffer notifications
  private brokenReason: RingErrorKind | undefined;

  private constructor(mem: GuestMemory, cfg: SplitQueueConfig) {
    this.mem = mem;
    this.size = cfg.size;
    this.mask = cfg.size - 1;
    this.descAddr = cfg.desc as GuestAddr;
    this.availAddr = cfg.avail as GuestAddr;
    this.usedAddr = cfg.used as GuestAddr;
    this.eventIdx = hasFeature(cfg.features, VIRTIO_F_EVENT_IDX);
    this.indirectDesc = hasFeature(cfg.features, VIRTIO_F_INDIRECT_DESC);
    this.onBroken = cfg.onBroken;
    this.availFlagsI = (cfg.avail + RING_FLAGS) >>> 1;
    this.availIdxI = (cfg.avail + RING_IDX) >>> 1;
    this.availRingI = (cfg.avail + RING_ENTRIES) >>> 1;
    this.usedEventI = (cfg.avail + usedEventOffset(cfg.size)) >>> 1;
    this.usedFlagsI = (cfg.used + RING_FLAGS) >>> 1;
    this.usedIdxI = (cfg.used + RING_IDX) >>> 1;
    this.availEventI = (cfg.used + availEventOffset(cfg.size)) >>> 1;
    this.usedRingW = (cfg.used + RING_ENTRIES) >>> 2;
    this.walker = new ChainWalker(mem, cfg.size, this.descAddr, this.indirectDesc);
    this.lastAvail = this.shadowAvail = cfg.nextAvail ?? 0;
    this.nextUsed = cfg.nextUsed ?? 0;
    this.views();
  }

  /**
   * Validates a configuration the driver wrote and creates the queue. Never throws on guest
   * values: an impossible configuration comes back as `{ ok: false }` and the transport refuses
   * QueueReady (or sets DEVICE_NEEDS_RESET).
   */
  static create(mem: GuestMemory, cfg: SplitQueueConfig): SplitQueueResult {
    const err = checkConfig(mem, cfg);
    if (err !== undefined) return { ok: false, error: err, message: QUEUE_CONFIG_ERROR_TEXT[err] };
    return { ok: true, queue: new SplitQueue(mem, cfg) };
  }

  /** Why the queue stopped, or undefined while it runs. */
  get broken(): RingErrorKind | undefined {
    return this.brokenReason;
  }

  /** The next available-ring index the device will consume. */
  get nextAvailIdx(): number {
    return this.lastAvail;
  }

  /** The used index last published to the driver. */
  get nextUsedIdx(): number {
    return this.nextUsed;
  }

  /** Chains popped and not yet published by {@link SplitQueue.flush} (pushed or not). */
  get inFlight(): number {
    return this.outstanding;
  }

  /** Used elements staged by {@link SplitQueue.push} and not yet flushed. */
  get pendingUsed(): number {
    return this.staged;
  }

  /**
   * Pops every chain the driver has made available, reading avail.idx once. Each chain is copied
   * out of guest memory, validated, and returned; malformed ones carry `error`. Returns an empty
   * array when there is nothing new, or when the queue is (or just became) broken.
   */
  popAll(): Chain[] {
    const out: Chain[] = [];
    if (!this.refill()) return out;
    while (this.lastAvail !== this.shadowAvail) out.push(this.popOne());
    this.publishAvailEvent();
    return out;
  }

  /**
   * Pops one chain, or undefined when none is available (or the queue is broken). Re-reads
   * avail.idx only after the entries seen at the last read are used up; suited to device-driven
   * queues (net RX) that take one buffer per incoming packet.
   */
  pop(): Chain | undefined {
    if (this.brokenReason !== undefined) return undefined;
    if (this.lastAvail === this.shadowAvail && !this.refill()) return undefined;
    const c = this.popOne();
    if (this.lastAvail === this.shadowAvail) this.publishAvailEvent();
    return c;
  }

  /** True when the driver has made buffers available that have not been popped (re-reads avail.idx). */
  hasAvailable(): boolean {
    if (this.brokenReason !== undefined) return false;
    this.views();
    // Acquire: pairs with the driver's barrier before its idx store (§2.7.13.3.1).
    return Atomics.load(this.u16, this.availIdxI) !== this.lastAvail;
  }

  /**
   * Stages a used element `{id: head, len: writtenLen}` (§2.7.8). It is written to the used
   * ring now, in a slot the driver cannot see yet, and published by {@link SplitQueue.flush}.
   * `writtenLen` must not exceed the chain's `writableLen` (the used length may underestimate,
   * never overestimate, §2.7.8.2) and is 0 for malformed chains.
   *
   * Returns false (and does nothing) when the queue is broken or nothing is in flight — e.g. a
   * completion arriving for a chain popped before a reset.
   */
  push(head: number, writtenLen: number): boolean {
    if (this.brokenReason !== undefined || this.staged >= this.outstanding) return false;
    this.views();
    const w = this.usedRingW + ((this.nextUsed + this.staged) & this.mask) * (USED_ELEM_SIZE >>> 2);
    // Plain stores: the driver does not look at this slot until the used.idx store in flush().
    this.u32[w] = head >>> 0;
    this.u32[w + 1] = writtenLen >>> 0;
    this.staged++;
    return true;
  }

  /**
   * Completes a popped chain: like {@link SplitQueue.push}, with the length clamped to the
   * chain's writable length and forced to 0 for a malformed chain.
   */
  complete(chain: Chain, writtenLen: number): boolean {
    const n = chain.error !== undefined ? 0 : Math.max(0, Math.min(writtenLen, chain.writableLen));
    return this.push(chain.head, n);
  }

  /**
   * Publishes every staged used element with one used.idx store and returns whether the driver
   * must be notified (at most once per batch): by vring_need_event on used_event with
   * VIRTIO_F_EVENT_IDX, otherwise unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT (§2.7.7.2).
   * Returns false when nothing was staged or the queue is broken.
   */
  flush(): boolean {
    if (this.brokenReason !== undefined || this.staged === 0) return false;
    this.views();
    const old = this.nextUsed;
    const now = (old + this.staged) & 0xffff;
    // Release: the used elements written in push() are visible before the new idx
    // (§2.7.8.2 "The device MUST set len prior to updating the used idx").
    Atomics.store(this.u16, this.usedIdxI, now);
    this.nextUsed = now;
    this.outstanding -= this.staged;
    this.staged = 0;
    if (this.eventIdx) {
      // SeqCst load after the SeqCst store: not reordered before it (QEMU's smp_mb), so a
      // used_event the driver wrote after seeing our idx is not missed.
      const ev = Atomics.load(this.u16, this.usedEventI);
      // virtio 1.2 §2.7.7.2: "If the idx field in the used ring ... was equal to used_event,
      // the device MUST send a notification." — once per batch via the window test.
      return needEvent(ev, now, old);
    }
    // Ordered after the idx store for the same reason as used_event above.
    const flags = Atomics.load(this.u16, this.availFlagsI);
    // virtio 1.2 §2.7.7.2: "If flags is 1, the device SHOULD NOT send a notification. If flags
    // is 0, the device MUST send a notification." Other bits are the driver's error; ignore them.
    return (flags & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Asks the driver not to send available-buffer notifications while the device is busy
   * processing (§2.7.10). Without EVENT_IDX this sets VIRTQ_USED_F_NO_NOTIFY; with it, it stops
   * advancing avail_event, after which the driver kicks at most once more (§2.7.10.2: the device
   * MUST keep flags 0 with EVENT_IDX).
   */
  disableNotifications(): void {
    if (this.brokenReason !== undefined) return;
    this.notifyOn = false;
    if (!this.eventIdx) {
      this.views();
      // Atomic so the driver never reads a torn flags word; ordering is irrelevant for a hint.
      Atomics.store(this.u16, this.usedFlagsI, VIRTQ_USED_F_NO_NOTIFY);
    }
  }

  /**
   * Re-enables available-buffer notifications and re-checks the ring: returns true when buffers
   * arrived that have not been popped, in which case the caller must process again (the driver
   * may have added them while notifications were off and will not kick for them).
   */
  enableNotifications(): boolean {
    if (this.brokenReason !== undefined) return false;
    this.notifyOn = true;
    this.views();
    if (this.eventIdx) {
      // SeqCst store: ordered before the avail.idx load below (QEMU/rust-vmm full fence).
      Atomics.store(this.u16, this.availEventI, this.lastAvail);
    } else {
      // SeqCst store: ordered before the avail.idx load below.
      Atomics.store(this.u16, this.usedFlagsI, 0);
    }
    // After publishing: either the driver saw our avail_event/flags and will kick, or we see
    // its new idx here. Without this re-check a buffer added in between would sit unnoticed.
    return Atomics.load(this.u16, this.availIdxI) !== this.lastAvail;
  }

  /**
   * Returns the queue to its initial state (device reset, §2.1.2 / virtio-mmio QueueReady = 0):
   * indices 0, nothing in flight, notifications on, not broken. Does not write guest memory.
   * Chains popped earlier must be dropped, not pushed.
   */
  reset(): void {
    this.lastAvail = this.shadowAvail = this.nextUsed = 0;
    this.staged = this.outstanding = 0;
    this.notifyOn = true;
    this.brokenReason = undefined;
  }

  /** Copies the readable part of `chain` out of guest memory (at most `maxBytes`). */
  readChain(chain: Chain, maxBytes: number = DEFAULT_READ_MAX): Uint8Array {
    return readChain(this.mem, chain, maxBytes);
  }

  /** Copies readable bytes of `chain`, from `skip` on, into `dst`; returns the count. */
  readChainInto(chain: Chain, dst: Uint8Array, skip = 0): number {
    return readChainInto(this.mem, chain, dst, skip);
  }

  /** Writes `bytes` into the writable part of `chain` at `offset`, bounded; returns the count. */
  writeChain(chain: Chain, bytes: Uint8Array, offset = 0): number {
    return writeChain(this.mem, chain, bytes, offset);
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Makes sure our ring views are usable. They only ever cover the rings and the descriptor
   * table, which lay inside the memory at creation; a grow of a shared memory leaves the old
   * buffer valid for those bytes, so views are only rebuilt when a (non-shared) buffer was
   * detached by a grow. Indirect tables and buffers go through GuestMemory, which tracks growth.
   */
  private views(): void {
    if (this.u16.byteLength !== 0) return;
    this.mem.refresh();
    const b = this.mem.u8.buffer;
    this.u16 = new Uint16Array(b, 0, b.byteLength >>> 1);
    this.u32 = new Uint32Array(b, 0, b.byteLength >>> 2);
  }

  /** Marks the queue broken (once) and tells the transport. */
  private fail(reason: RingErrorKind): void {
    if (this.brokenReason !== undefined) return;
    this.brokenReason = reason;
    this.staged = 0;
    this.onBroken?.(reason, RING_ERROR_TEXT[reason]);
  }

  /** Reads avail.idx once; checks it; returns true when there are entries to pop. */
  private refill(): boolean {
    if (this.brokenReason !== undefined) return false;
    this.views();
    // Acquire: ring entries and descriptors the driver wrote before its idx store (with its
    // barrier, §2.7.13.3.1) are visible to the plain reads that follow.
    const idx = Atomics.load(this.u16, this.availIdxI);
    const n = (idx - this.lastAvail) & 0xffff;
    // virtio 1.2 §2.7.6.1: "A driver MUST NOT decrement the available idx"; and §2.7.13: the
    // ring is the same size as the table, so it never holds more than Q new entries. A larger
    // distance means idx went backwards or is garbage: the ring is corrupt, not one request.
    if (n > this.size) {
      this.fail('avail-idx-jump');
      return false;
    }
    // virtio 1.2 §2.7: "Queue Size corresponds to the maximum number of buffers in the
    // virtqueue". Chains we hold (popped, not yet published) still own their descriptors, so a
    // legitimate driver can never have more than Q in flight; more is a corrupt ring, and
    // refusing it bounds host memory (QEMU "Virtqueue size exceeded", CVE-2016-5403).
    if (this.outstanding + n > this.size) {
      this.fail('too-many-outstanding');
      return false;
    }
    this.shadowAvail = idx;
    return n !== 0;
  }

  /** With EVENT_IDX and notifications on: ask for a kick when the driver passes `lastAvail`. */
  private publishAvailEvent(): void {
    if (!this.eventIdx || !this.notifyOn) return;
    // Atomic so the driver never reads a torn value; a stale one only costs a spurious kick,
    // which the device MUST handle anyway (§2.7.10.2).
    Atomics.store(this.u16, this.availEventI, this.lastAvail);
  }

  /** Consumes the avail entry at lastAvail: copy the chain, validate the copy, build a Chain. */
  private popOne(): Chain {
    // Plain read, ordered by the Atomics.load of avail.idx in refill(); read once, never again.
    const head = this.u16[this.availRingI + (this.lastAvail & this.mask)]!;
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    this.outstanding++;
    return this.walker.walk(head, this.u32);
  }
}

/** Checks a driver-written configuration; returns what is wrong, or undefined. */
function checkConfig(mem: GuestMemory, cfg: SplitQueueConfig): QueueConfigErrorKind | undefined {
  const q = cfg.size;
  // virtio 1.2 §2.7: "Queue Size value is always a power of 2. The maximum Queue Size value is
  // 32768." (Size 0 means "no queue" in virtio-mmio, never a queue we run.)
  if (!Number.isInteger(q) || q < 1 || q > MAX_QUEUE_SIZE || (q & (q - 1)) !== 0) return 'bad-size';
  for (const a of [cfg.desc, cfg.avail, cfg.used]) {
    if (!Number.isInteger(a) || a < 0 || a > U32_MAX) return 'bad-address';
  }
  // virtio 1.2 §2.7.1: "The driver MUST ensure that the physical address of the first byte of
  // each virtqueue part is a multiple of the specified alignment value in the above table."
  if (cfg.desc % DESC_ALIGN !== 0) return 'misaligned-desc';
  if (cfg.avail % AVAIL_ALIGN !== 0) return 'misaligned-avail';
  if (cfg.used % USED_ALIGN !== 0) return 'misaligned-used';
  const dBytes = descTableBytes(q);
  const aBytes = availRingBytes(q);
  const uBytes = usedRingBytes(q);
  // Checked once: Wasm memory only grows, so these ranges stay valid for the queue's life.
  if (
    !mem.inBounds(cfg.desc as GuestAddr, dBytes) ||
    !mem.inBounds(cfg.avail as GuestAddr, aBytes) ||
    !mem.inBounds(cfg.used as GuestAddr, uBytes)
  ) {
    return 'out-of-memory';
  }
  // §2.7: each part is "write-able by either the driver or the device, but not both". A used
  // ring overlapping the driver's parts would have us write into them; refuse such a layout.
  const overlaps = (a: number, al: number, b: number, bl: number) => a < b + bl && b < a + al;
  if (overlaps(cfg.used, uBytes, cfg.desc, dBytes) || overlaps(cfg.used, uBytes, cfg.avail, aBytes)) {
    return 'used-overlaps-driver-area';
  }
  for (const i of [cfg.nextAvail ?? 0, cfg.nextUsed ?? 0]) {
    if (!Number.isInteger(i) || i < 0 || i > 0xffff) return 'bad-index';
  }
  return undefined;
}

/** Re-exported so backends need one import. */
export type { Chain, Segment } from './chain.ts';
/** Re-exported so backends need one import. */
export type { ChainErrorKind, RingErrorKind, QueueConfigErrorKind } from './errors.ts';
