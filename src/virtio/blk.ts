/**
 * virtio-blk backend (virtio 1.2 §5.2, device ID 2): one request queue over a {@link DiskImage}.
 *
 * REQUEST (§5.2.6): `struct virtio_blk_req { le32 type; le32 reserved; le64 sector; u8 data[];
 * u8 status; }` — a 16-byte device-readable header, data (device-readable for OUT, DISCARD,
 * WRITE_ZEROES; device-writable for IN, GET_ID), and a 1-byte device-writable status, which we
 * take to be the last byte of the chain's writable part (any segmentation is accepted: the
 * header may share a buffer with OUT data, the status may share one with IN data).
 *
 * OUTCOMES, in the order they are checked:
 * - the virtqueue refused the chain (`chain.error`), the header is shorter than 16 bytes, or
 *   there is no writable byte for the status → malformed: IOERR written at the chain's last
 *   writable byte when the queue could reach it, used length 0 (cloud-hypervisor #8401: never
 *   leak the slot);
 * - data in the wrong direction for the type → IOERR;
 * - unknown type → UNSUPP (§5.2.6: UNSUPP is "for a request unsupported by device");
 * - OUT / DISCARD / WRITE_ZEROES on a read-only disk → IOERR and nothing written (§5.2.6.2);
 * - IN/OUT data not a multiple of 512, any range past `capacity` → IOERR;
 * - DISCARD / WRITE_ZEROES: a flag other than `unmap` → UNSUPP, `unmap` on DISCARD → UNSUPP
 *   (§5.2.6.2), more segments or sectors than advertised → IOERR; every segment is checked
 *   before any is applied;
 * - a host I/O failure (EIO, ENOSPC, …) → IOERR and a host log line (error class 3).
 *
 * USED LENGTH (§2.7.8.2: may underestimate, never overestimate, counted from the first
 * writable byte): the whole writable part when we wrote all of it (IN / GET_ID that succeeded,
 * or any request whose only writable byte is the status), else 0.
 *
 * BATCHING: a notification pops everything available, completes it, and makes one used-ring
 * publication and at most one interrupt per batch; the queue's re-check loop catches requests
 * that arrived meanwhile. Requests run to completion synchronously inside the guest's trap.
 *
 * DURABILITY (§5.2.6.2): we offer VIRTIO_BLK_F_FLUSH, so FLUSH is `image.flush()` (fsync for a
 * file) before OK. A driver that does not negotiate FLUSH (nor CONFIG_WCE, which we do not offer)
 * gets write-through instead — the spec then calls a completed write stable — so we flush once
 * per batch, before the batch's used entries are published; if that flush fails, every write
 * of the batch is reported IOERR instead of OK.
 * @module
 */
import type { GuestAddr } from '../abi/index.ts';
import type { GuestMemory } from '../hv/memory.ts';
import type { DiskImage } from './disk-image.ts';
import { type FeatureWords, type VirtioBackend, type VirtioDeviceContext, HostIoError, VIRTIO_ID_BLOCK, featureWords } from './device.ts';
import type { Chain, SplitQueue } from './virtqueue.ts';

/** Sector size of the request protocol (§5.2.6: `sector` counts 512-byte units, whatever blk_size says). */
export const SECTOR_SIZE = 512;

/** VIRTIO_BLK_F_SIZE_MAX: `size_max` is valid (§5.2.3). Not offered. */
export const VIRTIO_BLK_F_SIZE_MAX = 1;
/** VIRTIO_BLK_F_SEG_MAX: `seg_max` is valid (§5.2.3). */
export const VIRTIO_BLK_F_SEG_MAX = 2;
/** VIRTIO_BLK_F_RO: the device is read-only (§5.2.3). */
export const VIRTIO_BLK_F_RO = 5;
/** VIRTIO_BLK_F_BLK_SIZE: `blk_size` is valid (§5.2.3). */
export const VIRTIO_BLK_F_BLK_SIZE = 6;
/** VIRTIO_BLK_F_FLUSH: the FLUSH command is supported (§5.2.3). */
export const VIRTIO_BLK_F_FLUSH = 9;
/** VIRTIO_BLK_F_DISCARD: DISCARD is supported, `max_discard_*` are valid (§5.2.3). */
export const VIRTIO_BLK_F_DISCARD = 13;
/** VIRTIO_BLK_F_WRITE_ZEROES: WRITE_ZEROES is supported, `max_write_zeroes_*` are valid (§5.2.3). */
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

/** Request type IN: read sectors into the writable data (§5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
/** Request type OUT: write the readable data to sectors (§5.2.6). */
export const VIRTIO_BLK_T_OUT = 1;
/** Request type FLUSH: make completed writes durable (§5.2.6). */
export const VIRTIO_BLK_T_FLUSH = 4;
/** Request type GET_ID: 20-byte device ID string (§5.2.6). */
export const VIRTIO_BLK_T_GET_ID = 8;
/** Request type DISCARD (§5.2.6). */
export const VIRTIO_BLK_T_DISCARD = 11;
/** Request type WRITE_ZEROES (§5.2.6). */
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

/** Status OK (§5.2.6). */
export const VIRTIO_BLK_S_OK = 0;
/** Status IOERR (§5.2.6). */
export const VIRTIO_BLK_S_IOERR = 1;
/** Status UNSUPP (§5.2.6). */
export const VIRTIO_BLK_S_UNSUPP = 2;

/** Bytes of the request header (type, reserved, sector). */
export const BLK_HEADER_SIZE = 16;
/** Bytes of the GET_ID answer (§5.2.6: NUL-padded, no NUL when exactly 20 long). */
export const VIRTIO_BLK_ID_BYTES = 20;
/** Bytes of one `virtio_blk_discard_write_zeroes` segment: le64 sector, le32 num_sectors, le32 flags. */
export const DISCARD_SEGMENT_SIZE = 16;
/** `flags` bit of a DISCARD/WRITE_ZEROES segment: unmap (§5.2.6). */
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;

/**
 * Offsets in `struct virtio_blk_config` (§5.2.4), for the fields we fill. Fields we leave 0
 * (size_max, geometry, topology, writeback, secure erase, zoned) belong to features not offered.
 */
export const BLK_CONFIG = {
  CAPACITY: 0, // le64, 512-byte sectors
  SIZE_MAX: 8, // le32
  SEG_MAX: 12, // le32
  BLK_SIZE: 20, // le32
  NUM_QUEUES: 34, // le16 (only with MQ)
  MAX_DISCARD_SECTORS: 36, // le32
  MAX_DISCARD_SEG: 40, // le32
  DISCARD_SECTOR_ALIGNMENT: 44, // le32
  MAX_WRITE_ZEROES_SECTORS: 48, // le32
  MAX_WRITE_ZEROES_SEG: 52, // le32
  WRITE_ZEROES_MAY_UNMAP: 56, // u8
  /** Our config space ends after `unused1[3]` (byte 59): the secure-erase and zoned fields are not offered. */
  SIZE: 60,
} as const;

/** Construction options of {@link VirtioBlk}. */
export interface VirtioBlkOptions {
  /** The backing image; its `readOnly` makes the device offer VIRTIO_BLK_F_RO. */
  image: DiskImage;
  /** The GET_ID string (ASCII, at most 20 bytes used); default `pvisor-blk`. */
  id?: string;
  /** QueueNumMax of the request queue (a power of 2); default 256. */
  queueSize?: number;
  /** Largest DISCARD/WRITE_ZEROES range per segment, in sectors; default 65536 (32 MiB). */
  maxDiscardSectors?: number;
  /** Most DISCARD/WRITE_ZEROES segments per request; default 16. */
  maxDiscardSeg?: number;
}

/** Per-request data ranges: where in guest memory the request's data lies (header and status excluded). */
interface DataPart {
  readonly addr: number;
  readonly len: number;
}

/**
 * The virtio-blk device type. Feature bits offered: SEG_MAX, BLK_SIZE, FLUSH, DISCARD,
 * WRITE_ZEROES, and RO when the image is read-only.
 */
export class VirtioBlk implements VirtioBackend {
  /** See {@link VirtioBackend.deviceId}. */
  readonly deviceId = VIRTIO_ID_BLOCK;
  /** See {@link VirtioBackend.kind}. */
  readonly kind = 'blk';
  /** See {@link VirtioBackend.features}. */
  readonly features: FeatureWords;
  /** See {@link VirtioBackend.configSize}. */
  readonly configSize = BLK_CONFIG.SIZE;
  /** See {@link VirtioBackend.queueMaxSizes}. */
  readonly queueMaxSizes: readonly number[];
  /** The backing image. */
  readonly image: DiskImage;
  /** Disk size in 512-byte sectors. */
  readonly capacity: number;
  /** Requests completed per status since creation (reports, tests). */
  readonly stats = { ok: 0, ioerr: 0, unsupp: 0, malformed: 0, hostErrors: 0 };

  private readonly config: Uint8Array;
  private readonly idBytes: Uint8Array;
  private readonly maxDiscardSectors: number;
  private readonly maxDiscardSeg: number;
  private ctx: VirtioDeviceContext | undefined;
  private queue: SplitQueue | undefined;
  // FLUSH offered but not negotiated: completed writes must already be stable (§5.2.6.2).
  private writeThrough = false;
  // Status bytes of the writes that succeeded in the current batch (write-through only).
  private readonly batchWrites: number[] = [];
  private mem: GuestMemory | undefined;
  private readonly header = new Uint8Array(BLK_HEADER_SIZE);
  private readonly headerView = new DataView(this.header.buffer);

  /** A block device over `opts.image`. */
  constructor(opts: VirtioBlkOptions) {
    this.image = opts.image;
    this.capacity = Math.floor(opts.image.size / SECTOR_SIZE);
    const qsize = opts.queueSize ?? 256;
    this.queueMaxSizes = [qsize];
    this.maxDiscardSectors = opts.maxDiscardSectors ?? 65536;
    this.maxDiscardSeg = opts.maxDiscardSeg ?? 16;
    const bits = [VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES];
    if (opts.image.readOnly) bits.push(VIRTIO_BLK_F_RO);
    this.features = featureWords(bits);
    this.idBytes = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    const id = opts.id ?? 'pvisor-blk';
    for (let i = 0; i < Math.min(id.length, VIRTIO_BLK_ID_BYTES); i++) this.idBytes[i] = id.charCodeAt(i) & 0x7f;

    this.config = new Uint8Array(BLK_CONFIG.SIZE);
    const dv = new DataView(this.config.buffer);
    dv.setUint32(BLK_CONFIG.CAPACITY, this.capacity % 2 ** 32, true);
    dv.setUint32(BLK_CONFIG.CAPACITY + 4, Math.floor(this.capacity / 2 ** 32), true);
    // §5.2.4 seg_max: "maximum number of segments in a request". Header and status take two of
    // the Q descriptors a chain may hold (§2.7.5.3.1), so Linux must never build more than Q-2.
    dv.setUint32(BLK_CONFIG.SEG_MAX, Math.max(1, qsize - 2), true);
    dv.setUint32(BLK_CONFIG.BLK_SIZE, SECTOR_SIZE, true);
    dv.setUint16(BLK_CONFIG.NUM_QUEUES, 1, true);
    dv.setUint32(BLK_CONFIG.MAX_DISCARD_SECTORS, this.maxDiscardSectors, true);
    dv.setUint32(BLK_CONFIG.MAX_DISCARD_SEG, this.maxDiscardSeg, true);
    dv.setUint32(BLK_CONFIG.DISCARD_SECTOR_ALIGNMENT, 1, true);
    dv.setUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SECTORS, this.maxDiscardSectors, true);
    dv.setUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SEG, this.maxDiscardSeg, true);
    // We always write real zeroes, never deallocate, so "may unmap" stays 0.
    this.config[BLK_CONFIG.WRITE_ZEROES_MAY_UNMAP] = 0;
  }

  /** See {@link VirtioBackend.bind}. */
  bind(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  /** See {@link VirtioBackend.readConfig}. */
  readConfig(offset: number, dst: Uint8Array): void {
    for (let i = 0; i < dst.length; i++) dst[i] = this.config[offset + i] ?? 0;
  }

  /** See {@link VirtioBackend.writeConfig}: every field we offer is read-only (no CONFIG_WCE), so writes are ignored. */
  writeConfig(_offset: number, _src: Uint8Array): void {}

  /** See {@link VirtioBackend.activate}. */
  activate(queues: readonly (SplitQueue | undefined)[], mem: GuestMemory, features: bigint): void {
    this.queue = queues[0];
    this.mem = mem;
    // §5.2.6.2: "A write becomes stable once it is completed and ... neither VIRTIO_BLK_F_CONFIG_WCE
    // nor VIRTIO_BLK_F_FLUSH feature were negotiated, but VIRTIO_BLK_F_FLUSH was offered".
    this.writeThrough = ((features >> BigInt(VIRTIO_BLK_F_FLUSH)) & 1n) === 0n;
  }

  /** See {@link VirtioBackend.reset}. Requests complete synchronously, so nothing is in flight. */
  reset(): void {
    this.queue = undefined;
    this.mem = undefined;
    this.writeThrough = false;
    this.batchWrites.length = 0;
  }

  /** See {@link VirtioBackend.queueNotify}: processes every available request, in batches. */
  queueNotify(index: number): void {
    const q = this.queue;
    if (index !== 0 || q === undefined) return;
    q.disableNotifications();
    do {
      const chains = q.popAll();
      for (const c of chains) {
        const n = this.handle(q, c);
        q.push(c.head, n);
      }
      if (this.batchWrites.length !== 0) this.makeBatchDurable();
      // One used.idx publication and one notification decision per batch (suppression applied
      // by flush()); the transport raises the interrupt.
      if (q.flush()) this.ctx?.usedBuffers(0);
    } while (q.enableNotifications());
  }

  // ---------------------------------------------------------------------------------------------

  /** Processes one chain; writes its status; returns the used length. */
  private handle(q: SplitQueue, c: Chain): number {
    const mem = this.mem!;
    if (c.error !== undefined) return this.malformed(mem, c.lastWritableAddr);
    // §5.2.6: the header is 16 device-readable bytes and the status one device-writable byte.
    if (c.readableLen < BLK_HEADER_SIZE || c.writableLen < 1) return this.malformed(mem, c.lastWritableAddr);
    q.readChainInto(c, this.header, 0);
    const type = this.headerView.getUint32(0, true);
    const sector = this.headerView.getUint32(8, true) + this.headerView.getUint32(12, true) * 2 ** 32;
    const statusAddr = lastByte(c.writable);
    const inLen = c.writableLen - 1; // device-writable data bytes (IN, GET_ID)
    const outLen = c.readableLen - BLK_HEADER_SIZE; // device-readable data bytes (OUT, DISCARD, WRITE_ZEROES)

    let status: number;
    let wroteData = false;
    switch (type) {
      case VIRTIO_BLK_T_IN:
        if (outLen !== 0) status = VIRTIO_BLK_S_IOERR;
        else {
          status = this.rw(mem, 'read', sector, slice(c.writable, 0, inLen));
          wroteData = status === VIRTIO_BLK_S_OK;
        }
        break;
      case VIRTIO_BLK_T_OUT:
        // §5.2.6.2: "A device MUST set the status byte to VIRTIO_BLK_S_IOERR for a write request
        // if the VIRTIO_BLK_F_RO feature if offered, and MUST NOT write any data."
        if (inLen !== 0 || this.image.readOnly) status = VIRTIO_BLK_S_IOERR;
        else status = this.rw(mem, 'write', sector, slice(c.readable, BLK_HEADER_SIZE, outLen));
        break;
      case VIRTIO_BLK_T_FLUSH:
        // FLUSH carries no data (§5.2.6). Durable before OK: the image's flush is fsync.
        if (inLen !== 0 || outLen !== 0) status = VIRTIO_BLK_S_IOERR;
        else status = this.host('flush', 0, () => this.image.flush());
        break;
      case VIRTIO_BLK_T_GET_ID:
        // §5.2.6: the ID is 20 bytes; a buffer shorter than that cannot hold it.
        if (outLen !== 0 || inLen < VIRTIO_BLK_ID_BYTES) status = VIRTIO_BLK_S_IOERR;
        else {
          const parts = slice(c.writable, 0, inLen);
          let off = 0;
          for (const p of parts) {
            // NUL-padded: bytes past the 20-byte ID (a larger buffer) are written as 0 too.
            const view = mem.u8.subarray(p.addr, p.addr + p.len);
            view.fill(0);
            if (off < VIRTIO_BLK_ID_BYTES) view.set(this.idBytes.subarray(off, Math.min(VIRTIO_BLK_ID_BYTES, off + p.len)));
            off += p.len;
          }
          status = VIRTIO_BLK_S_OK;
          wroteData = true;
        }
        break;
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES:
        if (inLen !== 0 || this.image.readOnly) status = VIRTIO_BLK_S_IOERR;
        else status = this.discard(q, c, type, outLen);
        break;
      default:
        // §5.2.6: status is "VIRTIO_BLK_S_UNSUPP for a request unsupported by device".
        status = VIRTIO_BLK_S_UNSUPP;
    }
    mem.u8[statusAddr] = status;
    this.count(status);
    if (this.writeThrough && status === VIRTIO_BLK_S_OK && (type === VIRTIO_BLK_T_OUT || type === VIRTIO_BLK_T_DISCARD || type === VIRTIO_BLK_T_WRITE_ZEROES)) {
      this.batchWrites.push(statusAddr);
    }
    // §2.7.8.2: used len is the bytes written from the first writable byte on; when we wrote only
    // the status (at the end), that is the whole writable part only if it is that one byte.
    return wroteData || c.writableLen === 1 ? c.writableLen : 0;
  }

  /**
   * Write-through mode: one flush for the batch's writes before they are published; on a host
   * failure they become IOERR (their used length, 1, is unchanged: only the status byte).
   */
  private makeBatchDurable(): void {
    const mem = this.mem!;
    const status = this.host('write-through flush', 0, () => this.image.flush());
    if (status !== VIRTIO_BLK_S_OK) {
      for (const a of this.batchWrites) mem.u8[a] = VIRTIO_BLK_S_IOERR;
      this.stats.ok -= this.batchWrites.length;
      this.stats.ioerr += this.batchWrites.length;
    }
    this.batchWrites.length = 0;
  }

  /** A malformed chain: IOERR where the status byte would be, if reachable; used length 0. */
  private malformed(mem: GuestMemory, statusAddr: GuestAddr | undefined): number {
    this.stats.malformed++;
    if (statusAddr !== undefined && mem.inBounds(statusAddr, 1)) mem.u8[statusAddr] = VIRTIO_BLK_S_IOERR;
    return 0;
  }

  private count(status: number): void {
    if (status === VIRTIO_BLK_S_OK) this.stats.ok++;
    else if (status === VIRTIO_BLK_S_UNSUPP) this.stats.unsupp++;
    else this.stats.ioerr++;
  }

  /** IN / OUT: checks alignment and range, then copies straight between guest memory and the image. */
  private rw(mem: GuestMemory, op: 'read' | 'write', sector: number, parts: DataPart[]): number {
    let len = 0;
    for (const p of parts) len += p.len;
    // §5.2.6: IN/OUT data is "in multiples of 512 bytes"; and the driver must not go past capacity.
    if (len % SECTOR_SIZE !== 0) return VIRTIO_BLK_S_IOERR;
    if (!this.inRange(sector, len / SECTOR_SIZE)) return VIRTIO_BLK_S_IOERR;
    return this.host(op, sector, () => {
      let pos = sector * SECTOR_SIZE;
      for (const p of parts) {
        // Re-checked (one compare; refreshes the view after a memory.grow) rather than trusted.
        if (!mem.inBounds(p.addr as GuestAddr, p.len)) throw new HostIoError('guest buffer', new Error('outside guest memory'));
        const view = mem.u8.subarray(p.addr, p.addr + p.len);
        if (op === 'read') this.image.read(pos, view);
        else this.image.write(pos, view);
        pos += p.len;
      }
    });
  }

  /** DISCARD / WRITE_ZEROES: parse and check every segment, then zero each range. */
  private discard(q: SplitQueue, c: Chain, type: number, outLen: number): number {
    if (outLen === 0 || outLen % DISCARD_SEGMENT_SIZE !== 0) return VIRTIO_BLK_S_IOERR;
    const nseg = outLen / DISCARD_SEGMENT_SIZE;
    if (nseg > this.maxDiscardSeg) return VIRTIO_BLK_S_IOERR;
    const buf = new Uint8Array(outLen);
    q.readChainInto(c, buf, BLK_HEADER_SIZE);
    const dv = new DataView(buf.buffer);
    const ranges: [number, number][] = [];
    for (let i = 0; i < nseg; i++) {
      const o = i * DISCARD_SEGMENT_SIZE;
      const sector = dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 2 ** 32;
      const num = dv.getUint32(o + 8, true);
      const flags = dv.getUint32(o + 12, true);
      // §5.2.6.2: "the device MUST set the status byte to VIRTIO_BLK_S_UNSUPP for discard and
      // write zeroes commands if any unknown flag is set. Furthermore, the device MUST set the
      // status byte to VIRTIO_BLK_S_UNSUPP for discard commands if the unmap flag is set."
      if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return VIRTIO_BLK_S_UNSUPP;
      if (type === VIRTIO_BLK_T_DISCARD && flags !== 0) return VIRTIO_BLK_S_UNSUPP;
      if (num > this.maxDiscardSectors || !this.inRange(sector, num)) return VIRTIO_BLK_S_IOERR;
      ranges.push([sector, num]);
    }
    // Discarded sectors read back as zeroes: the simplest "unspecified" content, and the same
    // as WRITE_ZEROES, so the model in the tests is one rule.
    return this.host(type === VIRTIO_BLK_T_DISCARD ? 'discard' : 'write-zeroes', ranges[0]![0], () => {
      for (const [s, n] of ranges) this.image.zero(s * SECTOR_SIZE, n * SECTOR_SIZE);
    });
  }

  private inRange(sector: number, count: number): boolean {
    return sector <= this.capacity && count <= this.capacity - sector;
  }

  /** Runs a host I/O operation; a host fault becomes IOERR plus one log line (error class 3). */
  private host(op: string, sector: number, fn: () => void): number {
    try {
      fn();
      return VIRTIO_BLK_S_OK;
    } catch (e) {
      this.stats.hostErrors++;
      const msg = e instanceof Error ? e.message : String(e);
      this.ctx?.log(`virtio-blk: host I/O error on ${op} at sector ${sector}: ${msg}`);
      return VIRTIO_BLK_S_IOERR;
    }
  }
}

/** Guest address of the last byte of a non-empty segment list. */
function lastByte(segs: readonly { addr: number; len: number }[]): number {
  const s = segs[segs.length - 1]!;
  return s.addr + s.len - 1;
}

/** The guest ranges covering bytes `[skip, skip + len)` of a segment list (no copy). */
function slice(segs: readonly { addr: number; len: number }[], skip: number, len: number): DataPart[] {
  const out: DataPart[] = [];
  let pos = 0;
  const end = skip + len;
  for (const s of segs) {
    const a = Math.max(pos, skip);
    const b = Math.min(pos + s.len, end);
    if (b > a) out.push({ addr: s.addr + (a - pos), len: b - a });
    pos += s.len;
    if (pos >= end) break;
  }
  return out;
}
