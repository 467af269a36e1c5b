/**
 * A descriptor chain as a backend sees it: a validated copy, split into the device-readable
 * part and the device-writable part; bounded helpers to move bytes in and out; and the walker
 * that builds it (copy the descriptors once, then validate the copy).
 *
 * A {@link Chain} is built by the queue from a private copy of the descriptors (virtio 1.2
 * §2.7.5; Xen's RING_COPY_REQUEST idea): the guest may rewrite its descriptor table the moment
 * we have read it, and nothing here reads the table again. The buffers themselves stay in guest
 * memory — that is the point of virtio — so a backend reads request bytes once, with
 * {@link readChain}/{@link readChainInto}, and parses the copy.
 * @module
 */
import type { GuestAddr } from '../abi/index.ts';
import type { GuestMemory } from '../hv/memory.ts';
import type { ChainErrorKind } from './errors.ts';
import { DESC_SIZE, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './ring-layout.ts';

/** One guest buffer: `[addr, addr + len)`, inside guest memory when the chain was popped. */
export interface Segment {
  /** Guest-physical start address. */
  readonly addr: GuestAddr;
  /** Length in bytes (≥ 1). */
  readonly len: number;
}

/**
 * One request taken off the available ring.
 *
 * Every chain popped must be completed exactly once with `SplitQueue.push(chain.head, n)` —
 * malformed ones too, with `n = 0` — or the driver loses that slot.
 */
export interface Chain {
  /** Head descriptor index, as the driver wrote it in the available ring (echoed in the used element). */
  readonly head: number;
  /** Device-readable buffers in chain order (empty when `error` is set). */
  readonly readable: readonly Segment[];
  /** Device-writable buffers in chain order (empty when `error` is set). */
  readonly writable: readonly Segment[];
  /** Total bytes in `readable`. */
  readonly readableLen: number;
  /** Total bytes in `writable`: the most `push` may report as written. */
  readonly writableLen: number;
  /**
   * Set when the chain breaks a driver requirement; the backend must not act on the request,
   * only complete it with used length 0 (optionally writing an error status, see
   * {@link Chain.lastWritableAddr}).
   */
  readonly error?: ChainErrorKind;
  /**
   * Address of the last device-writable byte, when the chain's last descriptor could be reached
   * and is a device-writable buffer inside guest memory. Protocols that end a request with a
   * status byte (virtio-blk, virtio-scsi, the net control queue) write it here — for malformed
   * chains too, so the driver sees an error status instead of a stale one.
   */
  readonly lastWritableAddr?: GuestAddr;
}

/**
 * Default cap for {@link readChain}: a chain may legally describe up to 4 GiB (the same guest
 * bytes can appear in many descriptors), so without a cap a guest could make the host allocate
 * that much. Backends pass their protocol's own limit.
 */
export const DEFAULT_READ_MAX = 16 * 1024 * 1024;

/**
 * Copies the device-readable part of `chain` out of guest memory, at most `maxBytes` of it.
 * The result is the host's own copy: parse it, not guest memory.
 */
export function readChain(mem: GuestMemory, chain: Chain, maxBytes: number = DEFAULT_READ_MAX): Uint8Array {
  const out = new Uint8Array(Math.max(0, Math.min(chain.readableLen, maxBytes)));
  readChainInto(mem, chain, out, 0);
  return out;
}

/**
 * Copies device-readable bytes of `chain`, starting `skip` bytes into its readable part, into
 * `dst` (allocation-free: backends reuse `dst`). Returns the number of bytes copied, which is
 * `min(dst.length, readableLen - skip)`.
 */
export function readChainInto(mem: GuestMemory, chain: Chain, dst: Uint8Array, skip = 0): number {
  let done = 0;
  let pos = 0; // offset of the current segment within the readable part
  const want = dst.length;
  for (let i = 0; i < chain.readable.length && done < want; i++) {
    const seg = chain.readable[i]!;
    const end = pos + seg.len;
    if (end > skip) {
      const from = Math.max(0, skip - pos);
      const n = Math.min(seg.len - from, want - done);
      // Re-checked (one compare) rather than trusted: it also refreshes stale views after a grow.
      if (!mem.inBounds(seg.addr, seg.len)) break;
      dst.set(mem.u8.subarray(seg.addr + from, seg.addr + from + n), done);
      done += n;
    }
    pos = end;
  }
  return done;
}

/**
 * Writes `bytes` into the device-writable part of `chain`, starting `offset` bytes into it.
 * Never writes past the writable buffers (nor into readable ones: virtio 1.2 §2.7.5.1 "A device
 * MUST NOT write to a device-readable buffer"). Returns the number of bytes written.
 */
export function writeChain(mem: GuestMemory, chain: Chain, bytes: Uint8Array, offset = 0): number {
  let done = 0;
  let pos = 0;
  const want = bytes.length;
  for (let i = 0; i < chain.writable.length && done < want; i++) {
    const seg = chain.writable[i]!;
    const end = pos + seg.len;
    if (end > offset) {
      const from = Math.max(0, offset - pos);
      const n = Math.min(seg.len - from, want - done);
      if (!mem.inBounds(seg.addr, seg.len)) break;
      mem.u8.set(bytes.subarray(done, done + n), seg.addr + from);
      done += n;
    }
    pos = end;
  }
  return done;
}

/** Scratch copy of one chain's buffer descriptors (struct-of-arrays, allocated once per queue). */
interface Scratch {
  addrLo: Uint32Array;
  addrHi: Uint32Array;
  len: Uint32Array;
  flags: Uint16Array;
}

const U32_MAX = 0xffffffff;
const NONE: readonly Segment[] = Object.freeze([]);

/**
 * Turns the head index of an available-ring entry into a {@link Chain}, in two phases: copy the
 * chain's descriptors out of guest memory once (following next and indirect links), then
 * validate the copy. One per queue; the scratch space is reused for every chain.
 * @internal Used by SplitQueue; backends receive the Chains it builds.
 */
export class ChainWalker {
  private readonly mem: GuestMemory;
  private readonly size: number;
  private readonly descAddr: number;
  private readonly indirectDesc: boolean;
  private readonly scratch: Scratch;
  // Result of the last copy(): why the walk stopped early, and whether it reached a descriptor
  // without NEXT (so the chain's last descriptor is known).
  private copyError: ChainErrorKind | undefined;
  private copyComplete = false;

  /**
   * A walker for a queue of `size` descriptors at `descAddr` (16-aligned, inside `mem`: the
   * caller checked both) that may use indirect tables when `indirectDesc` was negotiated.
   */
  constructor(mem: GuestMemory, size: number, descAddr: number, indirectDesc: boolean) {
    this.mem = mem;
    this.size = size;
    this.descAddr = descAddr;
    this.indirectDesc = indirectDesc;
    this.scratch = {
      addrLo: new Uint32Array(size),
      addrHi: new Uint32Array(size),
      len: new Uint32Array(size),
      flags: new Uint16Array(size),
    };
  }

  /**
   * Copies and validates the chain starting at `head`. `u32` is a word view of guest memory
   * covering at least the descriptor table. Never throws on guest data: a malformed chain
   * comes back with `error` set.
   */
  walk(head: number, u32: Uint32Array<ArrayBufferLike>): Chain {
    return this.validate(head, this.copy(head, u32));
  }

  /**
   * Copy phase: follows the chain from `head`, copying each buffer descriptor once into scratch.
   * Only structural checks happen here — the ones without which we could not even know where the
   * next descriptor is. Returns the number of buffer descriptors copied; `copyComplete` is false
   * and `copyError` set when the walk stopped early.
   */
  private copy(head: number, u32: Uint32Array<ArrayBufferLike>): number {
    this.copyError = undefined;
    this.copyComplete = false;
    // virtio 1.2 §2.7.5: "The number of descriptors in the table is defined by the queue size" —
    // a head from the avail ring outside the table names no descriptor at all. A per-chain
    // error, not a corrupt ring: see the ERROR CLASSES note at the top of virtqueue.ts.
    if (head >= this.size) {
      this.copyError = 'head-out-of-range';
      return 0;
    }
    const s = this.scratch;
    let count = 0;
    let idx = head;
    let indirect = false; // walking an indirect table rather than the queue's own table
    let base = this.descAddr as number; // byte address of the table being walked
    let tableLen = this.size;
    // Word-indexed reads through the u32 view when the table is 4-aligned and inside the view
    // (always true of the queue's table: 16-aligned and checked at creation).
    let fast = true;
    for (;;) {
      let lo: number, hi: number, len: number, flags: number, next: number;
      if (fast) {
        const w = (base >>> 2) + idx * (DESC_SIZE >>> 2);
        lo = u32[w]!;
        hi = u32[w + 1]!;
        len = u32[w + 2]!;
        const fn = u32[w + 3]!; // flags le16, next le16
        flags = fn & 0xffff;
        next = fn >>> 16;
      } else {
        // Indirect tables need no alignment (rust-vmm v0.7.1), and may lie in memory grown
        // after our views were made: read through GuestMemory, which was bounds-checked on entry.
        const a = (base + idx * DESC_SIZE) as GuestAddr;
        lo = this.mem.u32(a);
        hi = this.mem.u32((a + 4) as GuestAddr);
        len = this.mem.u32((a + 8) as GuestAddr);
        const fn = this.mem.u32((a + 12) as GuestAddr);
        flags = fn & 0xffff;
        next = fn >>> 16;
      }
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        // virtio 1.2 §2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag within
        // an indirect descriptor (ie. only one table per descriptor)."
        // This check also bounds the walk: entering a table copies no buffer, so without it a
        // table whose entry points back at itself would never reach the chain-length limit.
        if (indirect) return this.stop('indirect-nested', count);
        // virtio 1.2 §2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless
        // the VIRTIO_F_INDIRECT_DESC feature was negotiated."
        if (!this.indirectDesc) return this.stop('indirect-not-negotiated', count);
        // virtio 1.2 §2.7.5.3.1: "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and
        // VIRTQ_DESC_F_NEXT in flags." (Refused, not ignored: ignoring would drop the rest.)
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) return this.stop('indirect-with-next', count);
        // virtio 1.2 §2.7.5.3: the table is "struct virtq_desc desc[len / 16]" — a length that is
        // not a whole number of descriptors, or no descriptor at all, is not a table.
        if (len === 0 || len % DESC_SIZE !== 0) return this.stop('indirect-bad-length', count);
        // addr is le64: anything ≥ 2^32 is outside a wasm32 guest's memory.
        if (hi !== 0 || !this.mem.inBounds(lo as GuestAddr, len)) return this.stop('indirect-out-of-memory', count);
        // virtio 1.2 §2.7.5.3.2: "The device MUST ignore the write-only flag in the descriptor
        // that refers to an indirect table" — so WRITE is not looked at here.
        indirect = true;
        base = lo;
        tableLen = len / DESC_SIZE;
        fast = (lo & 3) === 0 && lo + len <= u32.byteLength;
        idx = 0; // "The first indirect descriptor is located at start of the indirect descriptor table"
        continue;
      }
      // virtio 1.2 §2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the Queue
      // Size of the device." Counted across direct and indirect descriptors together (openvmm
      // #2986), and this is also what ends a loop: §2.7.5.2 "loops ... are forbidden".
      if (count === this.size) return this.stop('chain-too-long', count);
      s.addrLo[count] = lo;
      s.addrHi[count] = hi;
      s.len[count] = len;
      s.flags[count] = flags;
      count++;
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) {
        this.copyComplete = true;
        return count;
      }
      // virtio 1.2 §2.7.5: the table has Q descriptors (an indirect one len/16), so `next` must
      // name one of them.
      if (next >= tableLen) return this.stop(indirect ? 'indirect-next-out-of-range' : 'next-out-of-range', count);
      idx = next;
    }
  }

  /** Records why the copy stopped early; returns `count` for the caller to return. */
  private stop(kind: ChainErrorKind, count: number): number {
    this.copyError = kind;
    return count;
  }

  /**
   * Validate phase: checks the copied buffer descriptors and builds the Chain. Nothing here
   * reads the descriptor table again.
   */
  private validate(head: number, count: number): Chain {
    const s = this.scratch;
    let error = this.copyError;
    let rLen = 0;
    let wLen = 0;
    let seenWrite = false;
    for (let i = 0; i < count && error === undefined; i++) {
      const len = s.len[i]!;
      const write = (s.flags[i]! & VIRTQ_DESC_F_WRITE) !== 0;
      // Not a MUST in virtio 1.2, but an empty buffer has no meaning; QEMU refuses it too
      // ("zero sized buffers are not allowed"), under §2.7.4.1's "reasonable limit".
      if (len === 0) error = 'zero-length';
      // §2.7.5 "addr is a physical address": addr is le64, so anything ≥ 2^32 is outside a
      // wasm32 guest; addr + len is computed in doubles, so it cannot wrap.
      else if (s.addrHi[i] !== 0 || !this.mem.inBounds(s.addrLo[i]! as GuestAddr, len)) error = 'buffer-out-of-memory';
      // virtio 1.2 §2.7.4.2: "The driver MUST place any device-writable descriptor elements
      // after any device-readable descriptor elements."
      else if (!write && seenWrite) error = 'readable-after-writable';
      else {
        if (write) {
          seenWrite = true;
          wLen += len;
        } else {
          rLen += len;
        }
        // virtio 1.2 §2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes
        // in total" — and the used length is a le32, so stop at 2^32 - 1.
        if (rLen + wLen > U32_MAX) error = 'total-length-overflow';
      }
    }
    // The last byte of the last descriptor, if we reached it and it is a writable buffer in
    // guest memory: where a status byte goes, for malformed chains too.
    let lastWritableAddr: GuestAddr | undefined;
    if (this.copyComplete && count > 0) {
      const i = count - 1;
      const len = s.len[i]!;
      const lo = s.addrLo[i]!;
      if ((s.flags[i]! & VIRTQ_DESC_F_WRITE) !== 0 && len > 0 && s.addrHi[i] === 0 && this.mem.inBounds(lo as GuestAddr, len)) {
        lastWritableAddr = (lo + len - 1) as GuestAddr;
      }
    }
    if (error !== undefined) {
      const bad: Chain = { head, readable: NONE, writable: NONE, readableLen: 0, writableLen: 0, error };
      return lastWritableAddr === undefined ? bad : { ...bad, lastWritableAddr };
    }
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    for (let i = 0; i < count; i++) {
      // Descriptor addresses become GuestAddr here, after the bounds check above, as hypercall
      // dispatch does for pointer arguments.
      const seg: Segment = { addr: s.addrLo[i]! as GuestAddr, len: s.len[i]! };
      if ((s.flags[i]! & VIRTQ_DESC_F_WRITE) !== 0) writable.push(seg);
      else readable.push(seg);
    }
    return lastWritableAddr === undefined
      ? { head, readable, writable, readableLen: rLen, writableLen: wLen }
      : { head, readable, writable, readableLen: rLen, writableLen: wLen, lastWritableAddr };
  }
}
