/*
 * pvisor guest kit: split block driver, BACKEND (blkback.c). The protocol is in blkif.h.
 *
 * What: runs in a driver domain that owns a virtio-blk disk (virtio_blk.h) and serves one front
 * end (blkfront.h) over a kit message link: each request is copied out of the ring once,
 * validated, carried out with pv_blk_* on the real disk, its data moved with `grant_copy`
 * between the front end's grants and a bounce buffer of this domain, and answered.
 *
 *   pv_blkback_open(b, blk, front, idx, deadline)  link with the front end on channel idx
 *   pv_blkback_serve_one(b, deadline)               the requests waiting: receive, check, answer
 *   pv_blkback_serve(b, idle_ns)                    until CLOSE, a broken link or idle_ns quiet
 *
 * Errors: a bad request is answered (blkif.h lists the statuses) and counted in `errors`; it is
 * never an error of these calls. The calls fail only for the link itself: PV_ETIMEDOUT (no
 * request before the deadline, or a front end that left no room for responses until then: it
 * sent far more requests than it reads answers), PV_EIO / PV_EFAULT (the ring is broken,
 * msg.h), PV_ENOSPC (no memory at open), or the errors of pv_msg_link_open.
 *
 * Invariants: one vCPU drives the backend and the disk (the one that called pv_blk_init). The
 * backend uses the kit's grant table through msg.h (channel references only): it grants nothing
 * of its own to the front end beyond its receive ring.
 */
#ifndef PVISOR_BLKBACK_H
#define PVISOR_BLKBACK_H

#include <stdint.h>

#include <pvisor/blkif.h>
#include <pvisor/msg.h>
#include <pvisor/virtio_blk.h>

/** The backend of one front end. Fields are read-only for users. */
typedef struct pv_blkback {
    pv_msg_link_t link;
    pv_blk_t *blk;
    /** The front end's domain id. */
    uint32_t front;
    /** PV_BLKIF_MAX_SEGS frames, frame-aligned: the data of one request. */
    uint8_t *bounce;
    /** The private copy of the request being served (the ring's size: any message fits). */
    uint8_t *req;
    uint32_t req_cap;
    /** Set once CLOSE was answered. */
    uint32_t closed;
    /** Statistics. */
    uint32_t requests;
    uint32_t reads;
    uint32_t writes;
    uint32_t flushes;
    uint32_t infos;
    uint32_t errors;
    uint64_t sectors_read;
    uint64_t sectors_written;
    /** The status of the last refused request, and its GNTST_* when it was PV_EFAULT. */
    int32_t last_error;
    int32_t last_gnt_status;
    /** The grant_copy batch of one request (a segment may span two bounce frames). */
    struct pv_grant_copy_op ops[2u * PV_BLKIF_MAX_SEGS];
} pv_blkback_t;

/**
 * Opens the link with front end `front` on msg channel `idx` (one data frame each way) and
 * allocates the bounce buffer. `blk` is an initialised disk. Waits until `deadline` for the front
 * end to appear. @return 0 or a negative PV_E*.
 */
int32_t pv_blkback_open(pv_blkback_t *b, pv_blk_t *blk, uint32_t front, uint32_t idx,
                        uint64_t deadline);

/**
 * Waits until `deadline` (0: none) for a request, serves it and every request already waiting
 * behind it (up to and including a CLOSE), one after the other, and publishes all their responses
 * with one flush. @return how many requests were served (refused ones included), or a negative
 * PV_E* of the link (PV_EINVAL once closed).
 */
int32_t pv_blkback_serve_one(pv_blkback_t *b, uint64_t deadline);

/**
 * Serves requests until the front end sends CLOSE (returns 0), the link breaks, or no request
 * comes for `idle_ns` of system time (0: wait forever; returns PV_ETIMEDOUT).
 */
int32_t pv_blkback_serve(pv_blkback_t *b, uint64_t idle_ns);

#endif /* PVISOR_BLKBACK_H */
