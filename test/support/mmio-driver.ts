/**
 * Driver side of virtio-mmio for tests: initialises a device through its registers in the order
 * Linux's `virtio_mmio.c` + `virtio.c` do (virtio 1.2 §3.1.1, §4.2.3), with the existing
 * VirtqDriver mock laying out the rings; and a virtio-blk request helper.
 *
 * Register offsets and status bits are written out again here from the spec (not imported from
 * src/virtio/mmio.ts), so a wrong offset in the device is not hidden by sharing it with the test.
 *
 * Adapter note: the blk helper builds its chains itself (raw descriptors via VirtqDriver's
 * `writeDesc`/`writeDescAt`/`addHead`, buffers from its `arena`) instead of `addChain`, because it
 * must know where each request's status byte and data buffers are — `addChain` does not return
 * them, and a malformed or failed request is completed with used length 0, so the status is not
 * in `UsedEntry.written`. It keeps its own descriptor free list, so do not mix it with
 * `addChain` on the same queue.
 */
import type { GuestMemory } from '../../src/hv/memory.ts';
import type { MmioDevice } from '../../src/hv/mmio.ts';
import { F_INDIRECT, F_NEXT, F_WRITE, VirtqDriver, type DriverOptions } from './virtq-driver.ts';

// virtio 1.2 §4.2.2, spelled out independently.
/** Register offsets (driver's copy). */
export const REG = {
  MAGIC: 0x000,
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
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** Status bits (virtio 1.2 §2.1), driver's copy. */
export const S = { ACK: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 64, FAILED: 128 } as const;

/** Default spacing of queue areas (ring + buffer arena) in guest memory. */
export const QUEUE_STRIDE = 0x40000;

/** Options for {@link MmioDriver.init}. */
export interface InitOptions {
  /** Chooses the features to accept from the offered set; default: accept everything offered. */
  accept?: (offered: bigint) => bigint;
  /** Ring layout per queue (size defaults to QueueNumMax, capped at 64; base defaults to 0x1000 + QUEUE_STRIDE·i). */
  queues?: Partial<DriverOptions>[];
  /** Stop after FEATURES_OK (for tests that poke queue registers themselves). */
  stopAfterFeatures?: boolean;
}

/** What {@link MmioDriver.init} did. */
export interface InitResult {
  /** FEATURES_OK stuck and DRIVER_OK was written. */
  ok: boolean;
  /** Status read back at the end. */
  status: number;
  /** The features the driver wrote. */
  features: bigint;
  /** One ring mock per enabled queue. */
  queues: VirtqDriver[];
}

/** A register-level virtio-mmio driver. */
export class MmioDriver {
  /** The device window. */
  readonly dev: MmioDevice;
  /** Guest memory for the rings. */
  readonly mem: GuestMemory;

  /** A driver for `dev` with its rings in `mem`. */
  constructor(dev: MmioDevice, mem: GuestMemory) {
    this.dev = dev;
    this.mem = mem;
  }

  /** Register read. */
  r(off: number): number {
    return this.dev.read32(off) >>> 0;
  }

  /** Register write. */
  w(off: number, v: number): void {
    this.dev.write32(off, v >>> 0);
  }

  /** The 64-bit offered features, read word 1 then word 0 as Linux `vm_get_features` does. */
  readFeatures(): bigint {
    this.w(REG.DEVICE_FEATURES_SEL, 1);
    const hi = BigInt(this.r(REG.DEVICE_FEATURES));
    this.w(REG.DEVICE_FEATURES_SEL, 0);
    const lo = BigInt(this.r(REG.DEVICE_FEATURES));
    return (hi << 32n) | lo;
  }

  /** Writes both driver feature words (`vm_finalize_features`). */
  writeFeatures(f: bigint): void {
    this.w(REG.DRIVER_FEATURES_SEL, 1);
    this.w(REG.DRIVER_FEATURES, Number((f >> 32n) & 0xffffffffn));
    this.w(REG.DRIVER_FEATURES_SEL, 0);
    this.w(REG.DRIVER_FEATURES, Number(f & 0xffffffffn));
  }

  /** ORs bits into Status (Linux `add_status`). */
  addStatus(bits: number): void {
    this.w(REG.STATUS, this.r(REG.STATUS) | bits);
  }

  /**
   * §3.1.1 in order: reset, ACKNOWLEDGE, DRIVER, read features, write the accepted subset,
   * FEATURES_OK and re-read it, set up each queue (§4.2.3.2), DRIVER_OK.
   */
  init(opts: InitOptions = {}): InitResult {
    // §4.2.3.1: check MagicValue and Version, then DeviceID.
    if (this.r(REG.MAGIC) !== 0x74726976 || this.r(REG.VERSION) !== 2 || this.r(REG.DEVICE_ID) === 0) {
      return { ok: false, status: 0, features: 0n, queues: [] };
    }
    this.w(REG.STATUS, 0);
    this.addStatus(S.ACK);
    this.addStatus(S.DRIVER);
    const offered = this.readFeatures();
    const features = opts.accept !== undefined ? opts.accept(offered) : offered;
    this.writeFeatures(features);
    this.addStatus(S.FEATURES_OK);
    if ((this.r(REG.STATUS) & S.FEATURES_OK) === 0) {
      // §3.1.1 step 6: "the device does not support our subset of features and the device is unusable".
      this.addStatus(S.FAILED);
      return { ok: false, status: this.r(REG.STATUS), features, queues: [] };
    }
    const queues: VirtqDriver[] = [];
    if (opts.stopAfterFeatures === true) return { ok: true, status: this.r(REG.STATUS), features, queues };
    for (let i = 0; ; i++) {
      this.w(REG.QUEUE_SEL, i);
      if (this.r(REG.QUEUE_READY) !== 0) break; // already in use: a driver bug, stop
      const max = this.r(REG.QUEUE_NUM_MAX);
      if (max === 0) break; // no such queue
      const o = opts.queues?.[i] ?? {};
      const drv = new VirtqDriver(this.mem, {
        size: o.size ?? Math.min(max, 64),
        base: o.base ?? 0x1000 + QUEUE_STRIDE * i,
        eventIdx: (features >> 29n) & 1n ? true : false,
        indirect: (features >> 28n) & 1n ? true : false,
        ...(o.dataBase !== undefined ? { dataBase: o.dataBase } : {}),
        // Each queue's buffer arena ends where the next queue's area starts, so they never overlap.
        dataEnd: o.dataEnd ?? Math.min(this.mem.size, (o.base ?? 0x1000 + QUEUE_STRIDE * i) + QUEUE_STRIDE - 0x1000),
        ...(o.startIdx !== undefined ? { startIdx: o.startIdx } : {}),
      });
      this.setupQueue(i, drv);
      queues.push(drv);
    }
    this.addStatus(S.DRIVER_OK);
    return { ok: true, status: this.r(REG.STATUS), features, queues };
  }

  /** §4.2.3.2 steps 5–7 for queue `i`: QueueNum, the three address pairs, QueueReady = 1. */
  setupQueue(i: number, drv: VirtqDriver): void {
    this.w(REG.QUEUE_SEL, i);
    this.w(REG.QUEUE_NUM, drv.size);
    this.w(REG.QUEUE_DESC_LOW, drv.desc);
    this.w(REG.QUEUE_DESC_HIGH, 0);
    this.w(REG.QUEUE_DRIVER_LOW, drv.avail);
    this.w(REG.QUEUE_DRIVER_HIGH, 0);
    this.w(REG.QUEUE_DEVICE_LOW, drv.used);
    this.w(REG.QUEUE_DEVICE_HIGH, 0);
    this.w(REG.QUEUE_READY, 1);
  }

  /** Available-buffer notification (§4.2.3.3): the queue index to QueueNotify. */
  notify(i: number): void {
    this.w(REG.QUEUE_NOTIFY, i);
  }

  /** The interrupt handler's register work (Linux `vm_interrupt`): read InterruptStatus, ACK it, return it. */
  ackInterrupt(): number {
    const s = this.r(REG.INTERRUPT_STATUS);
    if (s !== 0) this.w(REG.INTERRUPT_ACK, s);
    return s;
  }

  /** A config-space u32 at byte `off` (must be 4-aligned: the trap is 32-bit). */
  config32(off: number): number {
    return this.r(REG.CONFIG + off);
  }

  /** A config-space u64 as two 32-bit reads inside a generation check (§4.2.2.2, §2.5.1). */
  config64(off: number): number {
    for (;;) {
      const g = this.r(REG.CONFIG_GENERATION);
      const v = this.config32(off) + this.config32(off + 4) * 2 ** 32;
      if (this.r(REG.CONFIG_GENERATION) === g) return v;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// virtio-blk requests

/** One virtio-blk request to submit. */
export interface BlkRequest {
  /** Request type (IN 0, OUT 1, FLUSH 4, GET_ID 8, DISCARD 11, WRITE_ZEROES 13, or anything). */
  type: number;
  /** Starting sector (u64 as a number). */
  sector?: number;
  /** Device-readable data after the header (OUT data, DISCARD/WRITE_ZEROES segments). */
  out?: Uint8Array;
  /** Bytes of device-writable data before the status (IN, GET_ID). */
  inLen?: number;
  /** Split each data part into this many descriptors (multi-segment requests); default 1. */
  segments?: number;
  /** Put the chain in an indirect table. */
  indirect?: boolean;
}

/** What came back for one request. */
export interface BlkResult {
  /** The used element's id (the chain head). */
  head: number;
  /** Used length reported by the device. */
  usedLen: number;
  /** The status byte (0xff if the device never wrote it: the helper pre-fills 0xff, as xv6 does). */
  status: number;
  /** The device-writable data bytes (IN, GET_ID), as they are in guest memory now. */
  data: Uint8Array;
}

interface Pending {
  descs: number[];
  allocs: number[];
  inParts: { addr: number; len: number }[];
  statusAddr: number;
  req: BlkRequest;
}

/** Builds a 16-byte virtio_blk_req header. */
export function blkHeader(type: number, sector = 0): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, type >>> 0, true);
  dv.setUint32(8, sector % 2 ** 32, true);
  dv.setUint32(12, Math.floor(sector / 2 ** 32), true);
  return h;
}

/** Builds DISCARD/WRITE_ZEROES segments `{le64 sector; le32 num_sectors; le32 flags}`. */
export function discardSegments(segs: { sector: number; num: number; flags?: number }[]): Uint8Array {
  const b = new Uint8Array(16 * segs.length);
  const dv = new DataView(b.buffer);
  segs.forEach((s, i) => {
    dv.setUint32(16 * i, s.sector % 2 ** 32, true);
    dv.setUint32(16 * i + 4, Math.floor(s.sector / 2 ** 32), true);
    dv.setUint32(16 * i + 8, s.num >>> 0, true);
    dv.setUint32(16 * i + 12, (s.flags ?? 0) >>> 0, true);
  });
  return b;
}

function split(len: number, n: number): number[] {
  if (len === 0) return [];
  const k = Math.max(1, Math.min(n, len));
  const base = Math.floor(len / k);
  return Array.from({ length: k }, (_, i) => (i === k - 1 ? len - base * (k - 1) : base));
}

/** Submits virtio-blk requests on queue 0 of an initialised device and collects the results. */
export class BlkDriver {
  /** The register-level driver. */
  readonly mmio: MmioDriver;
  /** Ring mock of the request queue. */
  readonly vq: VirtqDriver;
  private free: number[];
  private pending = new Map<number, Pending>();

  /** A request helper over `mmio` and its queue 0 ring. */
  constructor(mmio: MmioDriver, vq: VirtqDriver) {
    this.mmio = mmio;
    this.vq = vq;
    this.free = Array.from({ length: vq.size }, (_, i) => vq.size - 1 - i);
  }

  /** Adds one request to the avail ring (not yet published); returns its head or undefined when out of space. */
  add(req: BlkRequest): number | undefined {
    const vq = this.vq;
    const mem = this.mmio.mem;
    const segs = req.segments ?? 1;
    const bufs: { addr: number; len: number; flags: number }[] = [];
    const allocs: number[] = [];
    const undo = () => {
      for (const a of allocs) vq.arena.release(a);
      return undefined;
    };
    const alloc = (len: number) => {
      const a = vq.arena.alloc(len);
      if (a !== undefined) allocs.push(a);
      return a;
    };
    const hdr = alloc(16);
    if (hdr === undefined) return undo();
    mem.u8.set(blkHeader(req.type, req.sector ?? 0), hdr);
    bufs.push({ addr: hdr, len: 16, flags: 0 });
    let off = 0;
    for (const n of split(req.out?.length ?? 0, segs)) {
      const a = alloc(n);
      if (a === undefined) return undo();
      mem.u8.set(req.out!.subarray(off, off + n), a);
      bufs.push({ addr: a, len: n, flags: 0 });
      off += n;
    }
    const inParts: { addr: number; len: number }[] = [];
    for (const n of split(req.inLen ?? 0, segs)) {
      const a = alloc(n);
      if (a === undefined) return undo();
      mem.u8.fill(0xcc, a, a + n);
      bufs.push({ addr: a, len: n, flags: F_WRITE });
      inParts.push({ addr: a, len: n });
    }
    const st = alloc(1);
    if (st === undefined) return undo();
    mem.u8[st] = 0xff;
    bufs.push({ addr: st, len: 1, flags: F_WRITE });

    const descs: number[] = [];
    const need = req.indirect === true ? 1 : bufs.length;
    if (need > this.free.length) return undo();
    if (req.indirect === true) {
      const table = alloc(16 * bufs.length);
      if (table === undefined) return undo();
      bufs.forEach((b, i) => {
        const last = i === bufs.length - 1;
        vq.writeDescAt(table + 16 * i, { addr: b.addr, len: b.len, flags: b.flags | (last ? 0 : F_NEXT), next: last ? 0 : i + 1 });
      });
      const d = this.free.pop()!;
      descs.push(d);
      vq.writeDesc(d, { addr: table, len: 16 * bufs.length, flags: F_INDIRECT, next: 0 });
    } else {
      for (let i = 0; i < bufs.length; i++) descs.push(this.free.pop()!);
      bufs.forEach((b, i) => {
        const last = i === bufs.length - 1;
        vq.writeDesc(descs[i]!, { addr: b.addr, len: b.len, flags: b.flags | (last ? 0 : F_NEXT), next: last ? 0 : descs[i + 1]! });
      });
    }
    const head = descs[0]!;
    this.pending.set(head, { descs, allocs, inParts, statusAddr: st, req });
    vq.addHead(head);
    return head;
  }

  /** Publishes added requests and notifies the device when the ring's suppression rule says so. */
  kick(): void {
    if (this.vq.kick()) this.mmio.notify(0);
  }

  /** Reads every completed request, frees its descriptors and buffers, and returns the results in used order. */
  reap(): BlkResult[] {
    const out: BlkResult[] = [];
    const mem = this.mmio.mem;
    for (const u of this.vq.reapUsed()) {
      const p = this.pending.get(u.id);
      if (p === undefined) throw new Error(`device completed unknown head ${u.id}`);
      this.pending.delete(u.id);
      const total = p.inParts.reduce((s, x) => s + x.len, 0);
      const data = new Uint8Array(total);
      let o = 0;
      for (const x of p.inParts) {
        data.set(mem.u8.subarray(x.addr, x.addr + x.len), o);
        o += x.len;
      }
      out.push({ head: u.id, usedLen: u.len, status: mem.u8[p.statusAddr]!, data });
      for (const d of p.descs) this.free.push(d);
      for (const a of p.allocs) this.vq.arena.release(a);
    }
    return out;
  }

  /** Submits `reqs` as one batch (one kick) and returns their results in submission order. */
  batch(reqs: BlkRequest[]): BlkResult[] {
    const heads = reqs.map((r) => {
      const h = this.add(r);
      if (h === undefined) throw new Error('blk test driver: out of descriptors or arena space');
      return h;
    });
    this.kick();
    const done = new Map(this.reap().map((r) => [r.head, r]));
    return heads.map((h) => {
      const r = done.get(h);
      if (r === undefined) throw new Error(`request with head ${h} not completed`);
      return r;
    });
  }

  /** Submits one request and returns its result. */
  one(req: BlkRequest): BlkResult {
    return this.batch([req])[0]!;
  }

  /** Requests added and not yet reaped. */
  get outstanding(): number {
    return this.pending.size;
  }
}
