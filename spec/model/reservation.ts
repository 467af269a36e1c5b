/**
 * The memory group of the reference model: `decrease_reservation` and `increase_reservation`
 * (ballooning, ABI 1.4).
 *
 * State: per domain the frames it handed back ({@link ModelDomain.ballooned}) and where its
 * reserved area starts; for the host the free pool ({@link ModelState.freeFrames}). Frames only
 * move between a domain and the pool. Both calls zero the frames they move: the model returns
 * that as one write of zeros over the range (so memory reads see it, as a guest would).
 * @module
 */
import { EINVAL, ENOMEM, GRANT_FRAME_SIZE } from '../../src/abi/generated/index.ts';
import { getDomain, updateDomain, type ModelCall, type ModelDomain } from './state.ts';

/** Whether [frame, frame + nr) lies wholly below `d`'s reserved_base (JS numbers: no wrap). */
function belowReserved(d: ModelDomain, frame: number, nr: number): boolean {
  return (frame + nr) * GRANT_FRAME_SIZE <= d.reservedBase;
}

/** Frames `d` holds: all of its memory but the ballooned ones. */
export function heldFrames(d: ModelDomain): number {
  return Math.floor(d.memSize / GRANT_FRAME_SIZE) - d.ballooned.length;
}

function range(frame: number, nr: number): number[] {
  return Array.from({ length: nr }, (_, i) => frame + i);
}

/**
 * `decrease_reservation`: "Hands frames [frame, frame + nr_frames) of the caller's memory back to
 * the host ... The host zeroes the frames, takes them off the domain's reservation and adds them
 * to the free pool". returns "0."
 */
export const decrease_reservation: ModelCall = (s, caller, args) => {
  const frame = (args[0] ?? 0) >>> 0;
  const nr = (args[1] ?? 0) >>> 0;
  // "nr_frames 0 does nothing and returns 0."
  if (nr === 0) return { result: 0, state: s };
  const d = getDomain(s, caller.dom);
  const out = new Set(d.ballooned);
  // EINVAL: "a frame of the range is not held by the caller ... or does not lie wholly below start_info.reserved_base".
  if (!belowReserved(d, frame, nr) || range(frame, nr).some((f) => out.has(f))) return { result: EINVAL, state: s };
  const ballooned = [...d.ballooned, ...range(frame, nr)].sort((a, b) => a - b);
  const state = { ...updateDomain(s, caller.dom, (x) => ({ ...x, ballooned })), freeFrames: s.freeFrames + nr };
  return { result: 0, state, writes: [{ addr: frame * GRANT_FRAME_SIZE, bytes: new Uint8Array(nr * GRANT_FRAME_SIZE) }] };
};

/**
 * `increase_reservation`: "Takes frames [frame, frame + nr_frames) of the caller's memory back
 * from the host's free pool ... the host takes nr_frames frames from the pool, zeroes the frames
 * and counts them as the domain's again." returns "0."
 */
export const increase_reservation: ModelCall = (s, caller, args) => {
  const frame = (args[0] ?? 0) >>> 0;
  const nr = (args[1] ?? 0) >>> 0;
  if (nr === 0) return { result: 0, state: s };
  const d = getDomain(s, caller.dom);
  const out = new Set(d.ballooned);
  // EINVAL: "a frame of the range is held by the caller already, or does not lie wholly below start_info.reserved_base".
  if (!belowReserved(d, frame, nr) || range(frame, nr).some((f) => !out.has(f))) return { result: EINVAL, state: s };
  // ENOMEM: "The free pool holds fewer than nr_frames frames."
  if (s.freeFrames < nr) return { result: ENOMEM, state: s };
  const back = new Set(range(frame, nr));
  const ballooned = d.ballooned.filter((f) => !back.has(f));
  const state = { ...updateDomain(s, caller.dom, (x) => ({ ...x, ballooned })), freeFrames: s.freeFrames - nr };
  return { result: 0, state, writes: [{ addr: frame * GRANT_FRAME_SIZE, bytes: new Uint8Array(nr * GRANT_FRAME_SIZE) }] };
};
