/**
 * A driver-side mock of a virtio 1.x split virtqueue (the role of rust-vmm's `MockSplitQueue`
 * and Firecracker's `VirtQueue` test helper): it lays a queue out in guest memory, allocates
 * descriptors and buffers, adds chains, kicks, and reads used entries — plus knobs for hostile
 * tests that write raw descriptors and indices.
 *
 * Deliberately independent of src/virtio: offsets, flags and the event-index test are written
 * out here again from the spec (virtio 1.2 §2.7), so a layout bug in the device is not hidden by
 * sharing it with the mock. Only types are shared: GuestMemory, and the chain and descriptor
 * shapes of pvisor/testing's virtqueue arbitraries (so generated chains go straight in).
 *
 * Used by unit, property, model and fuzz tests, and by benches.
 */
import type { GuestMemory } from '../../src/hv/memory.ts';
import type { DescriptorChainSpec, RawDescriptor } from '../../src/testing/arbitraries/virtq.ts';

// virtio 1.2 §2.7.5 / §2.7.6 / §2.7.8, spelled out independently of src/virtio/ring-layout.ts.
/** Descriptor flag NEXT. */
export const F_NEXT = 1;
/** Descriptor flag WRITE (device-writable). */
export const F_WRITE = 2;
/** Descriptor flag INDIRECT. */
export const F_INDIRECT = 4;
/** Avail ring flag NO_INTERRUPT. */
export const AVAIL_NO_INTERRUPT = 1;
/** Used ring flag NO_NOTIFY. */
export const USED_NO_NOTIFY = 1;
/** Feature bit numbers. */
export const FEAT_INDIRECT_DESC = 28;
/** Feature bit numbers. */
export const FEAT_EVENT_IDX = 29;

/** Layout and feature choices for {@link VirtqDriver}. */
export interface DriverOptions {
  /** Queue size (a power of 2 for a well-behaved driver). */
  size: number;
  /** Address of the descriptor table (16-aligned); default 0x1000. */
  base?: number;
  /** Negotiate VIRTIO_F_EVENT_IDX. */
  eventIdx?: boolean;
  /** Negotiate VIRTIO_F_INDIRECT_DESC. */
  indirect?: boolean;
  /** Initial avail.idx and used.idx (to start near the 65535 → 0 wrap). */
  startIdx?: number;
  /** Start of the buffer arena (default: first 4 KiB boundary after the used ring). */
  dataBase?: number;
  /** End of the buffer arena (default: end of memory). */
  dataEnd?: number;
}

/**
 * What a well-formed chain carries: readable buffers with their bytes, writable buffer lengths;
 * pvisor/testing's `chainSpecArb` output, with every field optional for hand-written chains.
 */
export type ChainSpec = Partial<DescriptorChainSpec>;

/** A raw descriptor as the driver writes it (pvisor/testing's `RawDescriptor`; `addr` is a le64). */
export type RawDesc = RawDescriptor;

/** One used element as the driver reads it. */
export interface UsedEntry {
  /** Used element id (the chain head). */
  id: number;
  /** Bytes the device says it wrote. */
  len: number;
  /** True when `id` names a chain added with {@link VirtqDriver.addChain} and still outstanding. */
  known: boolean;
  /** The first `len` bytes of the chain's writable buffers (known chains only). */
  written?: Uint8Array;
}

interface Outstanding {
  descs: number[];
  allocs: number[];
  writable: { addr: number; len: number }[];
}

/** A first-fit allocator over `[base, end)` for buffers and indirect tables. */
export class Arena {
  private free: { addr: number; len: number }[];
  private sizes = new Map<number, number>();

  /** An arena over `[base, end)`. */
  constructor(base: number, end: number) {
    this.free = end > base ? [{ addr: base, len: end - base }] : [];
  }

  /** Allocates `len` bytes aligned to `align`; undefined when full. */
  alloc(len: number, align = 16): number | undefined {
    const want = Math.max(16, Math.ceil(len / 16) * 16);
    for (let i = 0; i < this.free.length; i++) {
      const r = this.free[i]!;
      const a = Math.ceil(r.addr / align) * align;
      if (a + want > r.addr + r.len) continue;
      const parts: { addr: number; len: number }[] = [];
      if (a > r.addr) parts.push({ addr: r.addr, len: a - r.addr });
      if (a + want < r.addr + r.len) parts.push({ addr: a + want, len: r.addr + r.len - a - want });
      this.free.splice(i, 1, ...parts);
      this.sizes.set(a, want);
      return a;
    }
    return undefined;
  }

  /** Returns an allocation to the arena (merging neighbours). */
  release(addr: number): void {
    const len = this.sizes.get(addr);
    if (len === undefined) return;
    this.sizes.delete(addr);
    let i = 0;
    while (i < this.free.length && this.free[i]!.addr < addr) i++;
    this.free.splice(i, 0, { addr, len });
    // Merge with the next, then with the previous.
    const cur = this.free[i]!;
    const nxt = this.free[i + 1];
    if (nxt !== undefined && cur.addr + cur.len === nxt.addr) {
      cur.len += nxt.len;
      this.free.splice(i + 1, 1);
    }
    const prv = this.free[i - 1];
    if (prv !== undefined && prv.addr + prv.len === cur.addr) {
      prv.len += cur.len;
      this.free.splice(i, 1);
    }
  }

  /** Bytes currently free. */
  get freeBytes(): number {
    return this.free.reduce((s, r) => s + r.len, 0);
  }
}

/** The driver side of one split virtqueue, laid out in a GuestMemory. */
export class VirtqDriver {
  /** The memory the queue lives in. */
  readonly mem: GuestMemory;
  /** Queue size. */
  readonly size: number;
  /** Descriptor table address. */
  readonly desc: number;
  /** Available ring address. */
  readonly avail: number;
  /** Used ring address. */
  readonly used: number;
  /** Negotiated features as the device sees them. */
  readonly features: bigint;
  /** Buffer arena. */
  readonly arena: Arena;
  /** Arena bounds. */
  readonly dataBase: number;
  /** Arena bounds. */
  readonly dataEnd: number;
  /** The avail.idx the driver will publish at the next kick, minus pending entries. */
  availIdx: number;
  /** Entries written to the avail ring since the last kick. */
  pending = 0;
  /** Next used index the driver will read. */
  lastUsed: number;

  private freeDescs: number[];
  private chains = new Map<number, Outstanding>();
  private dv: DataView;
  private u16: Uint16Array;

  /** Lays out a queue (desc, avail, used at aligned addresses) and zeroes it. */
  constructor(mem: GuestMemory, opts: DriverOptions) {
    this.mem = mem;
    this.size = opts.size;
    const q = opts.size;
    this.desc = opts.base ?? 0x1000;
    this.avail = this.desc + 16 * q; // 16-aligned, so 2-aligned
    this.used = Math.ceil((this.avail + 6 + 2 * q) / 4) * 4;
    const usedEnd = this.used + 6 + 8 * q;
    this.dataBase = opts.dataBase ?? Math.ceil(usedEnd / 4096) * 4096;
    this.dataEnd = opts.dataEnd ?? mem.size;
    this.arena = new Arena(this.dataBase, this.dataEnd);
    this.features = (opts.eventIdx === true ? 1n << BigInt(FEAT_EVENT_IDX) : 0n) | (opts.indirect === true ? 1n << BigInt(FEAT_INDIRECT_DESC) : 0n);
    this.dv = new DataView(mem.u8.buffer);
    this.u16 = new Uint16Array(mem.u8.buffer, 0, mem.u8.byteLength >>> 1);
    mem.u8.fill(0, this.desc, usedEnd);
    this.availIdx = this.lastUsed = (opts.startIdx ?? 0) & 0xffff;
    this.setU16(this.avail + 2, this.availIdx);
    this.setU16(this.used + 2, this.availIdx);
    this.freeDescs = Array.from({ length: q }, (_, i) => q - 1 - i);
  }

  /** The queue configuration a transport would latch for this layout. */
  config(): { size: number; desc: number; avail: number; used: number; features: bigint; nextAvail: number; nextUsed: number } {
    return { size: this.size, desc: this.desc, avail: this.avail, used: this.used, features: this.features, nextAvail: this.availIdx, nextUsed: this.lastUsed };
  }

  /** Descriptors not in use by outstanding chains. */
  get numFree(): number {
    return this.freeDescs.length;
  }

  /** Chains added and not yet reaped. */
  get outstanding(): number {
    return this.chains.size;
  }

  /** Descriptors a chain spec needs in the ring. */
  static descsNeeded(spec: ChainSpec): number {
    return spec.indirect === true ? 1 : (spec.readable?.length ?? 0) + (spec.writable?.length ?? 0);
  }

  /**
   * Adds a well-formed chain (§2.7.13.1–2): buffers from the arena, readable ones filled with
   * their bytes, writable ones poisoned with 0xCC; the head goes in the next avail slot, not yet
   * visible to the device (see {@link VirtqDriver.kick}). Returns the head, or undefined when
   * the chain would be longer than the queue size, or descriptors or arena space run out
   * (nothing is left allocated then).
   */
  addChain(spec: ChainSpec): number | undefined {
    const readable = spec.readable ?? [];
    const writable = spec.writable ?? [];
    const n = readable.length + writable.length;
    // §2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the Queue Size" —
    // indirect chains included (Linux does not check this for indirect tables; we do).
    if (n === 0 || n > this.size || VirtqDriver.descsNeeded(spec) > this.freeDescs.length) return undefined;
    const allocs: number[] = [];
    const bufs: RawDesc[] = [];
    const undo = () => {
      for (const a of allocs) this.arena.release(a);
      return undefined;
    };
    for (const data of readable) {
      const a = this.arena.alloc(data.length);
      if (a === undefined) return undo();
      allocs.push(a);
      this.mem.u8.set(data, a);
      bufs.push({ addr: a, len: data.length, flags: 0, next: 0 });
    }
    for (const len of writable) {
      const a = this.arena.alloc(len);
      if (a === undefined) return undo();
      allocs.push(a);
      this.mem.u8.fill(0xcc, a, a + len);
      bufs.push({ addr: a, len, flags: F_WRITE, next: 0 });
    }
    const descs: number[] = [];
    let head: number;
    if (spec.indirect === true) {
      const table = this.arena.alloc(16 * n, 16);
      if (table === undefined) return undo();
      allocs.push(table);
      bufs.forEach((b, i) => {
        const last = i === n - 1;
        this.writeDescAt(table + 16 * i, { ...b, flags: b.flags | (last ? 0 : F_NEXT), next: last ? 0 : i + 1 });
      });
      head = this.freeDescs.pop()!;
      descs.push(head);
      this.writeDesc(head, { addr: table, len: 16 * n, flags: F_INDIRECT, next: 0 });
    } else {
      for (let i = 0; i < n; i++) descs.push(this.freeDescs.pop()!);
      bufs.forEach((b, i) => {
        const last = i === n - 1;
        this.writeDesc(descs[i]!, { ...b, flags: b.flags | (last ? 0 : F_NEXT), next: last ? 0 : descs[i + 1]! });
      });
      head = descs[0]!;
    }
    this.chains.set(head, { descs, allocs, writable: bufs.filter((b) => (b.flags & F_WRITE) !== 0) });
    this.addHead(head);
    return head;
  }

  /** Writes `head` into the next avail slot (raw: no descriptor bookkeeping). */
  addHead(head: number): void {
    this.setU16(this.avail + 4 + 2 * ((this.availIdx + this.pending) % this.size), head);
    this.pending++;
  }

  /**
   * Publishes pending entries (§2.7.13.3): one avail.idx store after the ring writes. Returns
   * whether the driver must notify the device by §2.7.10 (driver side of the suppression rule).
   */
  kick(): boolean {
    const old = this.availIdx;
    this.availIdx = (this.availIdx + this.pending) & 0xffff;
    this.pending = 0;
    // Release: ring entries and descriptors are visible before the new idx.
    Atomics.store(this.u16, (this.avail + 2) >>> 1, this.availIdx);
    return this.needsKick(old, this.availIdx);
  }

  /** Driver-side notification rule (§2.7.10.1), spelled as "was avail_event in [old, new)". */
  needsKick(old: number, now: number): boolean {
    if ((this.features & (1n << BigInt(FEAT_EVENT_IDX))) !== 0n) {
      const ev = this.availEvent();
      return ((ev - old) & 0xffff) < ((now - old) & 0xffff);
    }
    return (this.usedFlags() & USED_NO_NOTIFY) === 0;
  }

  /** used.idx as the device published it. */
  usedIdx(): number {
    // Acquire: pairs with the device's idx store; used elements are visible after it.
    return Atomics.load(this.u16, (this.used + 2) >>> 1);
  }

  /** Reads every new used element, frees known chains, and returns the entries in order. */
  reapUsed(): UsedEntry[] {
    const end = this.usedIdx();
    const out: UsedEntry[] = [];
    while (this.lastUsed !== end) {
      const e = this.used + 4 + 8 * (this.lastUsed % this.size);
      const id = this.dv.getUint32(e, true);
      const len = this.dv.getUint32(e + 4, true);
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      const c = this.chains.get(id);
      if (c === undefined) {
        out.push({ id, len, known: false });
        continue;
      }
      const written = new Uint8Array(len);
      let done = 0;
      for (const w of c.writable) {
        if (done >= len) break;
        const n = Math.min(w.len, len - done);
        written.set(this.mem.u8.subarray(w.addr, w.addr + n), done);
        done += n;
      }
      out.push({ id, len, known: true, written: written.subarray(0, done) });
      this.chains.delete(id);
      for (const d of c.descs) this.freeDescs.push(d);
      for (const a of c.allocs) this.arena.release(a);
    }
    return out;
  }

  // --- knobs for hostile tests -------------------------------------------------------------

  /** Address of descriptor `i` of the ring's table. */
  descAddr(i: number): number {
    return this.desc + 16 * i;
  }

  /** Writes descriptor `i` of the ring's table. */
  writeDesc(i: number, d: RawDesc): void {
    this.writeDescAt(this.descAddr(i), d);
  }

  /** Writes a descriptor at any address (indirect tables, or anywhere for hostile tests). */
  writeDescAt(addr: number, d: RawDesc): void {
    this.dv.setUint32(addr, d.addr % 2 ** 32, true);
    this.dv.setUint32(addr + 4, Math.floor(d.addr / 2 ** 32) % 2 ** 32, true);
    this.dv.setUint32(addr + 8, d.len >>> 0, true);
    this.dv.setUint16(addr + 12, d.flags & 0xffff, true);
    this.dv.setUint16(addr + 14, d.next & 0xffff, true);
  }

  /** Reads descriptor `i` of the ring's table. */
  readDesc(i: number): RawDesc {
    const a = this.descAddr(i);
    return {
      addr: this.dv.getUint32(a, true) + this.dv.getUint32(a + 4, true) * 2 ** 32,
      len: this.dv.getUint32(a + 8, true),
      flags: this.dv.getUint16(a + 12, true),
      next: this.dv.getUint16(a + 14, true),
    };
  }

  /** Writes avail.ring[slot] directly. */
  setAvailEntry(slot: number, head: number): void {
    this.setU16(this.avail + 4 + 2 * slot, head);
  }

  /** Stores any avail.idx (e.g. decrement it, or jump far ahead). */
  setAvailIdx(v: number): void {
    this.availIdx = v & 0xffff;
    this.pending = 0;
    Atomics.store(this.u16, (this.avail + 2) >>> 1, this.availIdx);
  }

  /** Writes avail.flags (VIRTQ_AVAIL_F_NO_INTERRUPT is bit 0). */
  setAvailFlags(v: number): void {
    Atomics.store(this.u16, this.avail >>> 1, v & 0xffff);
  }

  /** Writes used_event (after avail.ring[Q-1]). */
  setUsedEvent(v: number): void {
    Atomics.store(this.u16, (this.avail + 4 + 2 * this.size) >>> 1, v & 0xffff);
  }

  /** Reads used.flags. */
  usedFlags(): number {
    return Atomics.load(this.u16, this.used >>> 1);
  }

  /** Reads avail_event (after used.ring[Q-1]). */
  availEvent(): number {
    return Atomics.load(this.u16, (this.used + 4 + 8 * this.size) >>> 1);
  }

  /** Reads used.ring[slot] without consuming it. */
  usedEntry(slot: number): { id: number; len: number } {
    const e = this.used + 4 + 8 * slot;
    return { id: this.dv.getUint32(e, true), len: this.dv.getUint32(e + 4, true) };
  }

  /** Byte range of the used ring (everything the device may write besides buffers). */
  usedRange(): { start: number; end: number } {
    return { start: this.used, end: this.used + 6 + 8 * this.size };
  }

  private setU16(addr: number, v: number): void {
    this.dv.setUint16(addr, v & 0xffff, true);
  }
}
