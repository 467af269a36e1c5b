/*
 * pvisor guest kit: the balloon driver (Xen's balloon, over decrease/increase_reservation).
 *
 * What: moves this domain's memory to and from the host's free frame pool. Frames are taken from
 * the top of the free heap (between the bump allocator's break and start_info.reserved_base),
 * highest first, and given back in reverse order (the lowest ballooned frame first), so the
 * frames held out are always one run [ceiling, top) below reserved_base.
 *
 * How it cooperates with pv_alloc (kernel.h): before handing frames to the host the balloon
 * lowers the heap's ceiling below them, in one atomic step with pv_alloc's cursor (start.c): a
 * frame pv_alloc has handed out is never ballooned, and pv_alloc never hands out a ballooned
 * frame. Taking frames back raises the ceiling again after the host has returned them.
 *
 * Accounting: a domain holds its whole memory (start_info.mem_size) at boot; "populated" is that
 * minus the frames the balloon holds out, exactly what the host's DOMCTL_GETINFO reports while
 * only this driver hands frames back. The data/stack, the heap in use and the host's reserved
 * area can never be ballooned, so a target below them is reached only partly.
 *
 * Errors and partial success (decided here):
 * - pv_balloon_release / pv_balloon_reclaim are all or nothing: on an error nothing moved.
 * - pv_balloon_set_target is best effort: it moves as far toward the target as it can and
 *   returns PV_ENOMEM when it stopped short (free heap too small going down, host pool short
 *   going up: it then takes as many frames as the pool has, halving its request on each
 *   PV_ENOMEM); pv_balloon_populated() says where it got. A later call (the next target) retries.
 * - Every function may be called from an event handler (none blocks). They are serialised by a
 *   lock taken without waiting: a call that finds another vCPU in the middle of a balloon
 *   operation returns PV_EBUSY — except pv_balloon_set_target, whose target the vCPU holding the
 *   lock then follows before it lets go (so a new target is never lost).
 */
#ifndef PVISOR_BALLOON_H
#define PVISOR_BALLOON_H

#include <stdint.h>

#include <pvisor/abi.h>

/**
 * Moves the memory this domain holds toward `bytes` (a target above mem_size means all of it):
 * frames out while it holds more than `bytes` (it then holds at most `bytes`), back in while it
 * holds less. @return 0 when it reached the target; PV_ENOMEM when it stopped short (see above);
 * PV_EBUSY when another vCPU is ballooning (it follows this target); another PV_E* error from the
 * host (nothing moved in that step).
 */
int pv_balloon_set_target(uint64_t bytes);

/** Bytes this domain holds: its memory's present size (grown or not) minus the frames the balloon holds out. */
uint64_t pv_balloon_populated(void);

/**
 * Grows this domain's memory by `bytes` rounded up to whole 64 KiB pages with `memory.grow`,
 * up to start_info.max_mem: the host takes the frames from its free pool (ABI 1.5). The new
 * memory lies above the host-reserved area, outside the heap pv_alloc serves and the balloon
 * moves; it is the caller's for good. @return its first byte, or NULL when the host refused
 * (pool too small, or past max_mem) and nothing changed.
 */
void *pv_mem_grow(uint32_t bytes);

/**
 * Hands `nr_frames` more frames (the highest free ones) to the host's pool: a controlling domain
 * does this before DOMCTL_CREATE. @return 0; PV_ENOMEM when the free heap has fewer frames (nothing
 * moved); PV_EBUSY; or the host's error.
 */
int pv_balloon_release(uint32_t nr_frames);

/**
 * Takes `nr_frames` of the frames the balloon holds out back from the host's pool. @return 0;
 * PV_EINVAL when the balloon holds fewer out; PV_ENOMEM when the host's pool holds fewer (nothing
 * moved); PV_EBUSY.
 */
int pv_balloon_reclaim(uint32_t nr_frames);

#endif /* PVISOR_BALLOON_H */
