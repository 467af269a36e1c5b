/**
 * Memory reservations and ballooning: `decrease_reservation` and `increase_reservation`.
 *
 * Frames (GRANT_FRAME_SIZE bytes) move between a domain and the host's one free pool
 * ({@link Hypervisor.freeFrames}); they are never created, so the frames every domain holds plus
 * the pool stay constant (destroying a domain moves what it held to the pool). A WebAssembly
 * memory can neither shrink nor unmap a page, so a frame a domain hands back stays addressable:
 * the host zeroes it on the way out and on the way back in, refuses it as a `grant_copy` end
 * (grant.ts), and counts it in the pool, not in the domain. A domain's released frames are kept
 * in {@link Domain.ballooned}.
 * @module
 */
import { EINVAL, ENOMEM, GRANT_FRAME_SIZE } from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { Domain } from './domain.ts';
import type { Hypervisor } from './hypervisor.ts';
import { WASM_PAGE } from './memory.ts';

/** Frames of `d`'s memory below its reserved area (the only ones it may hand back). */
export function releasableFrames(d: Domain): number {
  return Math.floor(d.layout.reservedBase / GRANT_FRAME_SIZE);
}

/** Bytes `d` holds: its memory (grown or not) minus the frames it handed back. */
export function populatedBytes(d: Domain): number {
  d.mem.refresh(); // the guest may have grown it since the host last looked
  return d.mem.size - d.ballooned.size * GRANT_FRAME_SIZE;
}

/** Frames `d` holds (what destroying it returns to the pool). */
export function heldFrames(d: Domain): number {
  d.mem.refresh();
  return Math.floor(d.mem.size / GRANT_FRAME_SIZE) - d.ballooned.size;
}

/** What {@link growMemory} returns to refuse: as a `memory.grow` delta, more pages than any memory has, so the grow fails (-1) and changes nothing. */
export const GROW_REFUSED = 0xffffffff;

/**
 * A guest's `memory.grow` by `pages` WebAssembly pages. The instrumenter passes every grow's
 * delta through here first (src/engine/instrument.ts), and the grow then runs with the delta
 * returned: `pages` when the memory may grow (the new size within the domain's max_mem and
 * its WebAssembly maximum, and the host's free pool holds the new frames, which it takes now:
 * growing moves frames like `increase_reservation`, it never creates them), else
 * {@link GROW_REFUSED}, which makes the grow return -1 as on a full machine. 0 pages is a size
 * query and passes.
 */
export function growMemory(hv: Hypervisor, d: Domain, pages: number): number {
  pages >>>= 0;
  if (pages === 0) return 0;
  d.mem.refresh();
  const bytes = d.mem.size + pages * WASM_PAGE;
  const frames = pages * (WASM_PAGE / GRANT_FRAME_SIZE);
  if (bytes > d.maxMem || bytes > d.mem.maxBytes || hv.freeFrames < frames) return GROW_REFUSED;
  hv.freeFrames -= frames;
  return pages;
}

/** Whether [frame, frame + nr) lies below `d`'s reserved area (exact in JS numbers: no wrap). */
function inRange(d: Domain, frame: number, nr: number): boolean {
  return frame + nr <= releasableFrames(d);
}

/** `decrease_reservation`: hands frames back to the pool. Returns 0 or EINVAL (nothing changed). */
export function decrease(hv: Hypervisor, d: Domain, frame: number, nr: number): number {
  if (nr === 0) return 0;
  if (!inRange(d, frame, nr)) return EINVAL;
  for (let f = frame; f < frame + nr; f++) if (d.ballooned.has(f)) return EINVAL;
  d.mem.fill((frame * GRANT_FRAME_SIZE) as GuestAddr, nr * GRANT_FRAME_SIZE);
  for (let f = frame; f < frame + nr; f++) d.ballooned.add(f);
  hv.freeFrames += nr;
  return 0;
}

/** `increase_reservation`: takes frames back from the pool. Returns 0, EINVAL or ENOMEM (nothing changed). */
export function increase(hv: Hypervisor, d: Domain, frame: number, nr: number): number {
  if (nr === 0) return 0;
  if (!inRange(d, frame, nr)) return EINVAL;
  for (let f = frame; f < frame + nr; f++) if (!d.ballooned.has(f)) return EINVAL;
  if (hv.freeFrames < nr) return ENOMEM;
  hv.freeFrames -= nr;
  for (let f = frame; f < frame + nr; f++) d.ballooned.delete(f);
  // Whatever the guest wrote into a frame it did not hold is discarded.
  d.mem.fill((frame * GRANT_FRAME_SIZE) as GuestAddr, nr * GRANT_FRAME_SIZE);
  return 0;
}
