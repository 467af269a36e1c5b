/**
 * virtio-net backend (virtio 1.2 §5.1, device ID 1): one receive queue (0) and one transmit
 * queue (1), plugged into a {@link VirtualSwitch} port.
 *
 * FEATURES (§5.1.3) offered: VIRTIO_NET_F_MTU (3), VIRTIO_NET_F_MAC (5), VIRTIO_NET_F_STATUS (16).
 * No checksum/GSO offloads, no MRG_RXBUF, no control queue, no multiqueue: so the header we write
 * on receive is all zeros except `num_buffers` = 1, and the one we get on transmit is ignored.
 *
 * HEADER (§5.1.6): `struct virtio_net_hdr { u8 flags; u8 gso_type; le16 hdr_len; le16 gso_size;
 * le16 csum_start; le16 csum_offset; le16 num_buffers; }` — 12 bytes when VIRTIO_F_VERSION_1 is
 * negotiated; a legacy driver without VERSION_1 (and without MRG_RXBUF, which we never offer)
 * uses the 10-byte header without `num_buffers` (§5.1.6.1 "Legacy Interface: Device Operation").
 *
 * CONFIG (§5.1.4): `mac[6]` @0, `status` le16 @6, `max_virtqueue_pairs` le16 @8 (MQ only; we
 * report 1), `mtu` le16 @10. The space ends at 12: speed/duplex and RSS belong to features we do
 * not offer.
 *
 * TRANSMIT: each chain's readable part is header + frame (any segmentation); the header is
 * stripped and the frame handed to the switch port; the chain completes with used length 0
 * (nothing written). Frames without a whole header or Ethernet header, and frames longer than
 * MTU + 14, are dropped and counted — the chain is still completed (never leak a slot).
 *
 * RECEIVE: a frame from the switch goes straight into the next posted receive buffer when one
 * is there and no earlier frame is waiting; otherwise a copy waits in a bounded host queue (like
 * a NIC's FIFO: when it is full the frame is dropped and counted) until the guest posts buffers.
 * Each frame takes one chain (no MRG_RXBUF). A batch of frames makes one used-ring publication
 * and at most one interrupt (at the switch's flush). Waiting frames are kept across a missing
 * buffer, dropped on device reset.
 *
 * ONE COPY guest to guest: a transmitted frame that lies in one descriptor is handed to the
 * switch as a view of the sender's guest memory (see SwitchEndpoint.receive: valid only during
 * the delivery), and the receiving NIC copies it straight into its guest's buffer. Only frames
 * that must wait for a buffer, or that are scattered over several descriptors, are copied into
 * host memory first. The sender cannot change the bytes in between: its vCPU is inside the
 * QueueNotify trap until the switch batch has been delivered.
 *
 * Receive filtering: none (promiscuous) — we offer no VIRTIO_NET_F_CTRL_RX, so the driver has
 * no way to program a filter; QEMU's virtio-net also starts promiscuous.
 * @module
 */
import type { GuestMemory } from '../hv/memory.ts';
import { type FeatureWords, type VirtioBackend, type VirtioDeviceContext, VIRTIO_ID_NET, featureWords } from './device.ts';
import { VIRTIO_F_VERSION_1 } from './ring-layout.ts';
import { ETH_HEADER_LEN, MAC_LEN, type SwitchEndpoint, type SwitchPort, type VirtualSwitch, parseMac } from './switch.ts';
import type { Chain, SplitQueue } from './virtqueue.ts';

/** VIRTIO_NET_F_MTU: `mtu` in config is valid (§5.1.3). */
export const VIRTIO_NET_F_MTU = 3;
/** VIRTIO_NET_F_MAC: `mac` in config is valid (§5.1.3). */
export const VIRTIO_NET_F_MAC = 5;
/** VIRTIO_NET_F_STATUS: `status` in config is valid (§5.1.3). */
export const VIRTIO_NET_F_STATUS = 16;
/** Config `status` bit: link is up (§5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;
/** `gso_type` GSO_NONE (§5.1.6). */
export const VIRTIO_NET_HDR_GSO_NONE = 0;

/** Header length with VIRTIO_F_VERSION_1 (§5.1.6: num_buffers always present). */
export const NET_HDR_LEN = 12;
/** Header length of a legacy driver without VERSION_1 and without MRG_RXBUF (§5.1.6.1). */
export const NET_HDR_LEN_LEGACY = 10;
/** Offset of `num_buffers` in the header. */
export const NET_HDR_NUM_BUFFERS = 10;

/** Offsets in `struct virtio_net_config` (§5.1.4). */
export const NET_CONFIG = {
  MAC: 0, // u8[6]
  STATUS: 6, // le16
  MAX_VIRTQUEUE_PAIRS: 8, // le16
  MTU: 10, // le16
  /** Our config space ends after `mtu`. */
  SIZE: 12,
} as const;

/** Receive queue index (§5.1.2: receiveq1 is queue 0). */
export const NET_RXQ = 0;
/** Transmit queue index (§5.1.2: transmitq1 is queue 1). */
export const NET_TXQ = 1;

/** Construction options of {@link VirtioNet}. */
export interface VirtioNetOptions {
  /** The NIC's MAC (6 bytes or `aa:bb:…`); see `localMac` in switch.ts for a deterministic default. */
  mac: Uint8Array | string;
  /** MTU reported in config (68–65535, §5.1.4.1); default 1500. */
  mtu?: number;
  /** QueueNumMax of both queues (a power of 2); default 256. */
  queueSize?: number;
  /** Frames the host receive queue holds before dropping; default 256. */
  rxQueueFrames?: number;
  /** Administrative link state (the `status` LINK_UP bit also needs a switch port); default true. */
  linkUp?: boolean;
}

/** Counters of a {@link VirtioNet} (reports, tests). */
export interface VirtioNetStats {
  /** Frames the guest sent that went to the switch. */
  txFrames: number;
  /** Bytes of `txFrames` (Ethernet frames, header excluded). */
  txBytes: number;
  /** Transmit chains dropped: malformed, shorter than header + Ethernet header, or over MTU. */
  txDropped: number;
  /** Transmit chains sent while no switch port was connected (frame discarded, like an unplugged cable). */
  txNoCarrier: number;
  /** Frames written into guest receive buffers. */
  rxFrames: number;
  /** Bytes of `rxFrames` (header excluded). */
  rxBytes: number;
  /** Frames dropped because the host receive queue was full. */
  rxQueueDrops: number;
  /** Frames dropped because the receive buffer the guest posted was too small for them. */
  rxTooBig: number;
  /** Receive chains the virtqueue refused (completed with length 0, frame kept). */
  rxMalformed: number;
}

/**
 * The virtio-net device type. Also a {@link SwitchEndpoint}: connect it with
 * {@link VirtioNet.connect}, which attaches it to a switch.
 */
export class VirtioNet implements VirtioBackend, SwitchEndpoint {
  /** See {@link VirtioBackend.deviceId}. */
  readonly deviceId = VIRTIO_ID_NET;
  /** See {@link VirtioBackend.kind}. */
  readonly kind = 'net';
  /** See {@link VirtioBackend.features}. */
  readonly features: FeatureWords = featureWords([VIRTIO_NET_F_MTU, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS]);
  /** See {@link VirtioBackend.configSize}. */
  readonly configSize = NET_CONFIG.SIZE;
  /** See {@link VirtioBackend.queueMaxSizes}. */
  readonly queueMaxSizes: readonly number[];
  /** The MAC address (6 bytes). */
  readonly mac: Uint8Array;
  /** The MTU in config. */
  readonly mtu: number;
  /** Capacity of the host receive queue, in frames. */
  readonly rxQueueFrames: number;
  /** Counters. */
  readonly stats: VirtioNetStats = {
    txFrames: 0,
    txBytes: 0,
    txDropped: 0,
    txNoCarrier: 0,
    rxFrames: 0,
    rxBytes: 0,
    rxQueueDrops: 0,
    rxTooBig: 0,
    rxMalformed: 0,
  };

  private readonly config = new Uint8Array(NET_CONFIG.SIZE);
  private readonly configView = new DataView(this.config.buffer);
  private ctx: VirtioDeviceContext | undefined;
  private rxq: SplitQueue | undefined;
  private txq: SplitQueue | undefined;
  private mem: GuestMemory | undefined;
  private hdrLen = NET_HDR_LEN;
  private readonly rxHdr = new Uint8Array(NET_HDR_LEN);
  private readonly pending: Uint8Array[] = [];
  private port: SwitchPort | undefined;
  private adminUp: boolean;

  /** A NIC with `opts.mac`; not connected to any switch yet. */
  constructor(opts: VirtioNetOptions) {
    this.mac = typeof opts.mac === 'string' ? parseMac(opts.mac) : Uint8Array.from(opts.mac.subarray(0, MAC_LEN));
    if (this.mac.length !== MAC_LEN) throw new Error('virtio-net: a MAC address is 6 bytes');
    this.mtu = opts.mtu ?? 1500;
    // §5.1.4.1: "The device MUST set mtu to between 68 and 65535 inclusive." A host configuration
    // error, not a guest one: refuse to build the device.
    if (!Number.isInteger(this.mtu) || this.mtu < 68 || this.mtu > 65535) throw new Error(`virtio-net: MTU ${this.mtu} not in 68..65535`);
    const qs = opts.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs];
    this.rxQueueFrames = Math.max(1, opts.rxQueueFrames ?? 256);
    this.adminUp = opts.linkUp ?? true;
    this.config.set(this.mac, NET_CONFIG.MAC);
    // max_virtqueue_pairs is only meaningful with VIRTIO_NET_F_MQ (not offered); 1 is the truth.
    this.configView.setUint16(NET_CONFIG.MAX_VIRTQUEUE_PAIRS, 1, true);
    this.configView.setUint16(NET_CONFIG.MTU, this.mtu, true);
    this.updateStatus(false);
  }

  /** The switch port this NIC is plugged into, if any. */
  get switchPort(): SwitchPort | undefined {
    return this.port;
  }

  /** Frames waiting in the host receive queue for guest buffers. */
  get rxQueued(): number {
    return this.pending.length;
  }

  /** Whether config `status` currently reports LINK_UP. */
  get linkUp(): boolean {
    return (this.configView.getUint16(NET_CONFIG.STATUS, true) & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /** Plugs the NIC into `sw` as port `name` (unplugging it from any previous switch); link goes up. */
  connect(sw: VirtualSwitch, name: string): SwitchPort {
    this.disconnect();
    this.port = sw.attach(name, this);
    this.updateStatus(true);
    return this.port;
  }

  /** Unplugs the NIC from its switch; link goes down. */
  disconnect(): void {
    if (this.port === undefined) return;
    this.port.switch.detach(this.port);
    this.port = undefined;
    this.updateStatus(true);
  }

  /**
   * Its domain was destroyed: unplugs from the switch (its port and learned MACs are gone, so
   * frames to its MAC no longer reach it) and drops the queues, guest memory and waiting frames.
   */
  release(): void {
    this.disconnect();
    this.reset();
  }

  /** Sets the administrative link state (config `status` LINK_UP, config-change interrupt). */
  setLink(up: boolean): void {
    this.adminUp = up;
    this.updateStatus(true);
  }

  // --- VirtioBackend ---------------------------------------------------------------------------

  /** See {@link VirtioBackend.bind}. */
  bind(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  /** See {@link VirtioBackend.readConfig}. */
  readConfig(offset: number, dst: Uint8Array): void {
    for (let i = 0; i < dst.length; i++) dst[i] = this.config[offset + i] ?? 0;
  }

  /**
   * See {@link VirtioBackend.writeConfig}. Every field we expose is read-only to a 1.x driver:
   * only legacy drivers wrote `mac` into config (§5.1.4.3 legacy interface); changing the MAC
   * needs VIRTIO_NET_F_CTRL_MAC_ADDR and a control queue, which we do not offer. Writes are ignored.
   */
  writeConfig(_offset: number, _src: Uint8Array): void {}

  /** See {@link VirtioBackend.activate}. */
  activate(queues: readonly (SplitQueue | undefined)[], mem: GuestMemory, features: bigint): void {
    this.mem = mem;
    this.rxq = queues[NET_RXQ];
    this.txq = queues[NET_TXQ];
    // §5.1.6: with VIRTIO_F_VERSION_1 the header always has num_buffers (12 bytes); legacy
    // drivers without MRG_RXBUF use 10 (§5.1.6.1 legacy interface).
    this.hdrLen = ((features >> BigInt(VIRTIO_F_VERSION_1)) & 1n) !== 0n ? NET_HDR_LEN : NET_HDR_LEN_LEGACY;
    // Frames that arrived before DRIVER_OK go in as soon as buffers are there.
    this.processRx();
  }

  /** See {@link VirtioBackend.reset}: queues go, and so do frames waiting for them (a NIC reset empties its FIFO). */
  reset(): void {
    this.rxq = this.txq = undefined;
    this.mem = undefined;
    this.pending.length = 0;
    this.hdrLen = NET_HDR_LEN;
  }

  /** See {@link VirtioBackend.queueNotify}: rx = new buffers posted, tx = frames to send. */
  queueNotify(index: number): void {
    if (index === NET_RXQ) this.processRx();
    else if (index === NET_TXQ) this.processTx();
  }

  // --- SwitchEndpoint --------------------------------------------------------------------------

  /**
   * A frame from the switch. With buffers posted and nothing waiting it is written straight into
   * the next one (published at {@link VirtioNet.flush}); otherwise a copy is queued, or dropped
   * and counted when the host queue is full (as a NIC drops when its FIFO overflows; Firecracker's
   * CVE-2020-16843 is what happens when a device instead stops reading).
   */
  receive(frame: Uint8Array): boolean {
    const q = this.rxq;
    if (q !== undefined && this.pending.length === 0) {
      // Order is kept: the fast path is only taken when no earlier frame waits.
      for (let c = q.pop(); c !== undefined; c = q.pop()) if (this.fill(q, c, frame)) return true;
    }
    if (this.pending.length >= this.rxQueueFrames) {
      this.stats.rxQueueDrops++;
      return false;
    }
    // The switch's array may be a view of the sender's guest memory: keep our own copy, with the
    // same 8-byte alignment so both copies of it take V8's fast path.
    const skew = frame.byteOffset & 7;
    const copy = new Uint8Array(new ArrayBuffer(frame.length + skew), skew, frame.length);
    copy.set(frame);
    this.pending.push(copy);
    return true;
  }

  /** End of a switch batch: fill guest receive buffers, one interrupt for all of them. */
  flush(): void {
    this.processRx();
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Moves queued frames into posted receive buffers and publishes what {@link VirtioNet.receive}
   * delivered directly. Available-buffer notifications are wanted only while frames wait for
   * buffers: with none waiting, the next frame pops buffers itself, so the loop ends with
   * notifications left off and the guest's refills cost no kick.
   */
  private processRx(): void {
    const q = this.rxq;
    if (q === undefined) return;
    if (this.pending.length === 0) {
      if (q.flush()) this.ctx?.usedBuffers(NET_RXQ);
      return;
    }
    q.disableNotifications();
    do {
      while (this.pending.length !== 0) {
        const c = q.pop();
        if (c === undefined) break;
        if (this.fill(q, c, this.pending[0]!)) this.pending.shift();
      }
      // One used.idx store and at most one interrupt per batch (§2.7.7.2 applied by flush()).
      if (q.flush()) this.ctx?.usedBuffers(NET_RXQ);
    } while (this.pending.length !== 0 && q.enableNotifications());
  }

  /**
   * Writes `frame` into chain `c`, completing `c` exactly once. Returns false when `c` was
   * refused (malformed) and the frame still needs a buffer; true when the frame is done with
   * (delivered, or dropped because it does not fit).
   */
  private fill(q: SplitQueue, c: Chain, frame: Uint8Array): boolean {
    if (c.error !== undefined) {
      // A chain the virtqueue refused: length 0, the frame waits for the next buffer.
      this.stats.rxMalformed++;
      q.push(c.head, 0);
      return false;
    }
    const need = this.hdrLen + frame.length;
    if (c.writableLen < need) {
      // §5.1.6.3.2: without MRG_RXBUF the device uses a single descriptor chain per packet, and
      // §5.1.6.3.1 tells drivers to post buffers big enough for one ("at least 1526 bytes", or
      // MTU + header with VIRTIO_NET_F_MTU). A frame that does not fit is dropped; the buffer goes
      // back with length 0 (Linux counts it as a length error and reposts it).
      this.stats.rxTooBig++;
      q.push(c.head, 0);
      return true;
    }
    const h = this.rxHdr;
    h.fill(0);
    // §5.1.6.4.1 (device, processing of incoming packets): without GUEST_CSUM "the device MUST
    // set flags to zero", and without GUEST_TSO4/TSO6/UFO it "MUST set gso_type to
    // VIRTIO_NET_HDR_GSO_NONE"; §5.1.6.3.2 (device, receive buffers): "the device MUST set
    // num_buffers to 1" when VIRTIO_NET_F_MRG_RXBUF is not negotiated (field present with VERSION_1).
    if (this.hdrLen === NET_HDR_LEN) h[NET_HDR_NUM_BUFFERS] = 1;
    const n = q.writeChain(c, h.subarray(0, this.hdrLen), 0) + q.writeChain(c, frame, this.hdrLen);
    // §2.7.8.2: used length = bytes written from the first writable byte (header + frame; never
    // more than was written: "MUST NOT ... overestimate").
    q.push(c.head, n);
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    return true;
  }

  /** Sends every transmit chain to the switch as one batch, then completes them. */
  private processTx(): void {
    const q = this.txq;
    if (q === undefined) return;
    const send = () => {
      q.disableNotifications();
      do {
        for (const c of q.popAll()) {
          this.transmit(q, c);
          // §5.1.6.2: a transmit buffer is device-readable only; nothing is written, used length 0.
          q.push(c.head, 0);
        }
        if (q.flush()) this.ctx?.usedBuffers(NET_TXQ);
      } while (q.enableNotifications());
    };
    // One switch batch: each destination NIC is flushed (one rx interrupt) after all our frames.
    if (this.port !== undefined) this.port.batch(send);
    else send();
  }

  /** Validates one transmit chain and forwards its frame. */
  private transmit(q: SplitQueue, c: Chain): void {
    const maxFrame = this.mtu + ETH_HEADER_LEN;
    if (c.error !== undefined || c.readableLen < this.hdrLen + ETH_HEADER_LEN) {
      this.stats.txDropped++;
      return;
    }
    const len = c.readableLen - this.hdrLen;
    // §5.1.4.2: with VIRTIO_NET_F_MTU the driver "MUST NOT transmit packets of size exceeding
    // the value of mtu (plus low level ethernet header length)". Oversized frames are dropped,
    // not truncated: a truncated frame would be a different, corrupt frame on the wire.
    if (len > maxFrame) {
      this.stats.txDropped++;
      return;
    }
    // §5.1.6.2: the header precedes the packet; with no offloads negotiated its flags and
    // gso_type can only be 0, and there is nothing in it we need — skip it unread.
    const frame = this.frameOf(q, c, len);
    if (frame === undefined) {
      this.stats.txDropped++; // a buffer no longer inside guest memory: never send a padded frame
      return;
    }
    if (this.port === undefined || !this.linkUp) {
      this.stats.txNoCarrier++;
      return;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    this.port.send(frame);
  }

  /**
   * The `len`-byte frame after the header of chain `c`: a view of guest memory when it lies in
   * one descriptor (the usual layouts: header + frame in one buffer, or header and frame in two),
   * else a gathered host copy. Undefined when a buffer is no longer inside guest memory.
   */
  private frameOf(q: SplitQueue, c: Chain, len: number): Uint8Array | undefined {
    const mem = this.mem;
    let skip = this.hdrLen;
    for (const seg of c.readable) {
      if (skip < seg.len) {
        if (skip + len > seg.len || mem === undefined) break; // scattered: gather below
        if (!mem.inBounds(seg.addr, seg.len)) return undefined;
        return mem.u8.subarray(seg.addr + skip, seg.addr + skip + len);
      }
      skip -= seg.len;
    }
    // V8 copies between shared (guest) and plain memory byte by byte when the two are aligned
    // differently (~7x slower at 64 KiB), so the copy gets the guest bytes' alignment.
    const first = c.readable[0];
    const skew = first === undefined ? 0 : (first.addr + this.hdrLen) & 7;
    const copy = new Uint8Array(new ArrayBuffer(len + skew), skew, len);
    return q.readChainInto(c, copy, this.hdrLen) === len ? copy : undefined;
  }

  /** Recomputes config `status`; signals a config change when it changed and `notify` is set. */
  private updateStatus(notify: boolean): void {
    const up = this.adminUp && this.port !== undefined ? VIRTIO_NET_S_LINK_UP : 0;
    if (this.configView.getUint16(NET_CONFIG.STATUS, true) === up) return;
    this.configView.setUint16(NET_CONFIG.STATUS, up, true);
    // A link change is a device configuration change, announced by a configuration change
    // notification (§2.5, §4.2.3.4); the transport bumps ConfigGeneration and interrupts
    // once DRIVER_OK is set.
    if (notify) this.ctx?.configChanged();
  }
}
