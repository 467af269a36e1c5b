/**
 * The bytes of shared_info that the model's state stands for.
 *
 * spec struct shared_info: "One page per domain, shared between host and guest. The host sets
 * pending bits; the guest clears them and owns the mask bits." The model keeps these as fields:
 * `pending[p]` is bit p of `evtchn_pending` (bit p%32 of u32 word p/32, little-endian), `mask[p]`
 * of `evtchn_mask`, and per vCPU `vcpu_info[v].evtchn_upcall_pending` (u8, nonzero = set),
 * `evtchn_upcall_mask` (u8) and `evtchn_pending_sel` (u32). Everything else in the page (time
 * records, wallclock, padding, slots of vCPUs the domain does not have) is not modelled.
 *
 * A guest changes these by writing memory; {@link applySharedInfoWrite} is how the model takes
 * such a write in.
 * @module
 */
import {
  NR_EVENT_CHANNELS,
  SHARED_INFO_OFF,
  SHARED_INFO_SIZE,
  VCPU_INFO_OFF,
  VCPU_INFO_SIZE,
} from '../../src/abi/generated/index.ts';
import { applyBytes, type ModelMemory } from './memory.ts';
import type { ModelDomain, ModelWrite } from './state.ts';

function bit(bytes: Uint8Array, base: number, p: number): boolean {
  return (((bytes[base + (p >> 3)] ?? 0) >> (p & 7)) & 1) === 1;
}

function putBit(bytes: Uint8Array, base: number, p: number, on: boolean): void {
  const i = base + (p >> 3);
  const m = 1 << (p & 7);
  bytes[i] = on ? (bytes[i] ?? 0) | m : (bytes[i] ?? 0) & ~m;
}

/**
 * Writes the modelled fields of `d` into `page` (a shared_info image of at least SHARED_INFO_SIZE
 * bytes), leaving every other byte as it is.
 */
export function encodeSharedInfo(d: ModelDomain, page: Uint8Array): void {
  for (let p = 0; p < NR_EVENT_CHANNELS; p++) {
    putBit(page, SHARED_INFO_OFF.evtchn_pending, p, d.pending[p] === true);
    putBit(page, SHARED_INFO_OFF.evtchn_mask, p, d.mask[p] === true);
  }
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  d.vcpus.forEach((vc, v) => {
    const base = SHARED_INFO_OFF.vcpu_info + v * VCPU_INFO_SIZE;
    page[base + VCPU_INFO_OFF.evtchn_upcall_pending] = vc.upcallPending ? 1 : 0;
    page[base + VCPU_INFO_OFF.evtchn_upcall_mask] = vc.upcallMask ? 1 : 0;
    dv.setUint32(base + VCPU_INFO_OFF.evtchn_pending_sel, vc.pendingSel >>> 0, true);
  });
}

/** Reads the modelled fields of `d` back from a shared_info image. */
export function decodeSharedInfo(d: ModelDomain, page: Uint8Array): ModelDomain {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const pending = d.pending.map((_, p) => bit(page, SHARED_INFO_OFF.evtchn_pending, p));
  const mask = d.mask.map((_, p) => bit(page, SHARED_INFO_OFF.evtchn_mask, p));
  const vcpus = d.vcpus.map((vc, v) => {
    const base = SHARED_INFO_OFF.vcpu_info + v * VCPU_INFO_SIZE;
    return {
      ...vc,
      upcallPending: page[base + VCPU_INFO_OFF.evtchn_upcall_pending] !== 0,
      upcallMask: page[base + VCPU_INFO_OFF.evtchn_upcall_mask] !== 0,
      pendingSel: dv.getUint32(base + VCPU_INFO_OFF.evtchn_pending_sel, true),
    };
  });
  return { ...d, pending, mask, vcpus };
}

/** True when `[addr, addr+len)` overlaps the shared_info page at `sharedInfo`. */
export function touchesSharedInfo(sharedInfo: number, addr: number, len: number): boolean {
  return addr < sharedInfo + SHARED_INFO_SIZE && addr + len > sharedInfo;
}

/**
 * The domain after a memory write `w` (guest address space) lands on its shared_info page at
 * `sharedInfo`: the write is taken in byte for byte, as plain memory would. A write that misses
 * the page returns `d` unchanged.
 */
export function applySharedInfoWrite(d: ModelDomain, sharedInfo: number, w: ModelWrite): ModelDomain {
  if (!touchesSharedInfo(sharedInfo, w.addr, w.bytes.length)) return d;
  const page = new Uint8Array(SHARED_INFO_SIZE);
  encodeSharedInfo(d, page);
  applyBytes(page, sharedInfo, w.addr, w.bytes);
  return decodeSharedInfo(d, page);
}

/**
 * `mem` with the modelled shared_info fields of `d` laid over it, so that a call reading from
 * the shared_info page sees the current state (not a stale image).
 */
export function withSharedInfo(mem: ModelMemory, d: ModelDomain): ModelMemory {
  const at = mem.sharedInfo;
  if (at === undefined) return mem;
  return {
    ...mem,
    read(addr: number, len: number): Uint8Array {
      const out = mem.read(addr, len);
      if (!touchesSharedInfo(at, addr, len)) return out;
      // The unmodelled bytes of the page (time records, padding) come from memory as they are.
      const full = new Uint8Array(SHARED_INFO_SIZE);
      full.set(mem.read(at, Math.max(0, Math.min(SHARED_INFO_SIZE, mem.size - at))));
      encodeSharedInfo(d, full);
      applyBytes(out, addr, at, full);
      return out;
    },
  };
}
