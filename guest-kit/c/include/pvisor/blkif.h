/*
 * pvisor guest kit: the split block driver's wire protocol (blkfront.h, blkback.h).
 *
 * What: a Xen-style split block device. A driver domain owns a real (host-provided virtio-blk)
 * disk and runs the BACKEND (blkback.c); a client domain runs the FRONT END (blkfront.c) and
 * reads and writes the backend's disk through it. The transport is one kit message link
 * (msg.h, on an agreed channel index): a request is one message from the front end, its
 * response one message back carrying the request's tag. Data never travels in the messages: the
 * front end grants the frames of its data buffer to the backend, and the backend moves the bytes
 * with `grant_copy` between those grants and its own bounce buffer, as Xen's blkback does. The
 * front end's memory is therefore written only through grants it made writable, and only for
 * reads.
 *
 * Why msg and not a ring of our own: msg already gives a checked, notification-suppressed
 * grant-copy ring with call/reply tags and timeouts; a blkif request is small (at most
 * PV_BLKIF_REQ_MAX bytes), so one record per request costs one grant_copy per direction.
 *
 * Who writes what:
 * - Front end: builds a request {op, nr_segs, id, sector, segs[]}, grants each segment's frame
 *   to the backend (read-only for WRITE: the backend only copies from it; writable for READ),
 *   sends the request, waits for the response with the same tag, then revokes the grants. It
 *   never reuses a granted frame for anything else while the request is outstanding.
 * - Backend: receives each request once into a private buffer (pv_msg_recv copies it out of the
 *   ring; nothing is read from the ring again), validates that copy, does the I/O, and answers
 *   exactly one response per request, carrying the request's message tag and its `id`. Tags are
 *   the front end's (each request a new one); the backend only echoes them.
 *
 * Ordering: the backend serves requests one at a time in arrival order; it takes every request
 * already waiting, then publishes their responses together (in the same order), so a front end
 * may keep several requests outstanding, each granted through its own references. A response
 * means the I/O is complete: for READ the data was copied into the front end's grants before the
 * response was published; for WRITE the device accepted the data (durable after a later FLUSH's
 * OK). Requests the backend refuses have no effect on the disk. Nothing after a CLOSE is served.
 *
 * Segments: segment i names grant `gref` of the front end and the sectors first_sect..last_sect
 * (inclusive, 0..PV_BLKIF_SECTORS_PER_FRAME-1) of that frame. The data of the request is the
 * segments' sectors in order, and lands on consecutive disk sectors from `sector`.
 *
 * Validation by the backend (every check on its private copy; a failed check answers an error
 * and touches neither the disk nor the front end's memory):
 * - the message length is exactly PV_BLKIF_REQ_LEN(nr_segs); READ/WRITE carry 1..PV_BLKIF_MAX_SEGS
 *   segments, the other ops none                                             -> PV_EINVAL
 * - first_sect <= last_sect < PV_BLKIF_SECTORS_PER_FRAME, gref in
 *   [PV_BLKIF_GREF_MIN, PV_GRANT_TABLE_MAX) (the references below are the msg channels')  -> PV_EINVAL
 * - sector + total sectors <= the disk's capacity (no wrap)                  -> PV_EINVAL
 * - WRITE on a read-only disk                                                 -> PV_EPERM
 * - an unknown op                                                             -> PV_ENOSYS
 * - a grant copy the host refused (a reference not granted to the backend, a read-only grant
 *   for READ data, no such domain): PV_EFAULT with the copy's GNTST_* in `gnt_status`. For WRITE
 *   every copy is done before the disk is written; for READ every grant is checked (zero-length
 *   copies) before the device is asked, and only a front end that revokes a grant in between can
 *   get PV_EFAULT after the read, with part of the data in its other grants.
 * - the device failed: PV_EIO (or PV_ENOSYS for an op it does not support).
 * A request the backend cannot even parse (shorter than the fixed header) is answered with
 * id 0 and op PV_BLKIF_OP_INVALID. A refused request never stops the backend; only CLOSE, a
 * broken link (msg.h: PV_EIO / PV_EFAULT on the ring itself) or its idle timeout ends its loop.
 * The front end trusts the backend no more: a response must echo its request's id and op and
 * the sector count, or the front end takes it as PV_EIO.
 *
 * Ops: READ, WRITE, FLUSH (pv_blk_flush), INFO (no I/O: the response carries the capacity in
 * `sectors` and PV_BLKIF_INFO_* bits in `info`), CLOSE (the backend answers OK and stops).
 *
 * Layout: little-endian, naturally aligned, no padding beyond the named fields.
 */
#ifndef PVISOR_BLKIF_H
#define PVISOR_BLKIF_H

#include <stdint.h>

#include <pvisor/abi.h>
#include <pvisor/msg.h>

/* ---- Ops (pv_blkif_req_t.op) ---- */
#define PV_BLKIF_OP_READ 0u
#define PV_BLKIF_OP_WRITE 1u
#define PV_BLKIF_OP_FLUSH 3u
#define PV_BLKIF_OP_INFO 8u
#define PV_BLKIF_OP_CLOSE 9u
/** The op of the response to a message too short to carry one. */
#define PV_BLKIF_OP_INVALID 0xffu

/** Most segments (granted frames) in one request: 64 KiB of data. */
#define PV_BLKIF_MAX_SEGS 16u
/** Bytes per sector on the wire (always 512, whatever the device's block size). */
#define PV_BLKIF_SECTOR_SIZE 512u
/** Sectors per granted frame. */
#define PV_BLKIF_SECTORS_PER_FRAME (PV_GRANT_FRAME_SIZE / PV_BLKIF_SECTOR_SIZE)
/** The lowest grant reference a segment may name (below: the msg channels' rings). */
#define PV_BLKIF_GREF_MIN PV_MSG_TABLE_ENTRIES

/* ---- INFO bits (pv_blkif_rsp_t.info) ---- */
#define PV_BLKIF_INFO_READ_ONLY 1u
#define PV_BLKIF_INFO_FLUSH 2u

/** One segment: sectors first_sect..last_sect of the frame granted as `gref`. */
typedef struct pv_blkif_seg {
    uint32_t gref;
    uint8_t first_sect;
    uint8_t last_sect;
    uint16_t pad;
} pv_blkif_seg_t;

/** A request (front end -> backend): the fixed header, then nr_segs segments. */
typedef struct pv_blkif_req {
    uint8_t op;
    uint8_t nr_segs;
    uint16_t pad;
    uint32_t id;     /* the front end's, echoed in the response */
    uint64_t sector; /* first disk sector (512-byte units) */
    pv_blkif_seg_t seg[PV_BLKIF_MAX_SEGS];
} pv_blkif_req_t;

/** Bytes of the fixed request header. */
#define PV_BLKIF_REQ_HDR 16u
/** The exact length of a request with `n` segments. */
#define PV_BLKIF_REQ_LEN(n) (PV_BLKIF_REQ_HDR + (uint32_t)(n) * (uint32_t)sizeof(pv_blkif_seg_t))
/** The longest request. */
#define PV_BLKIF_REQ_MAX PV_BLKIF_REQ_LEN(PV_BLKIF_MAX_SEGS)

/** A response (backend -> front end). */
typedef struct pv_blkif_rsp {
    uint32_t id;        /* the request's id */
    uint8_t op;         /* the request's op (PV_BLKIF_OP_INVALID when unparseable) */
    uint8_t pad[3];
    int32_t status;     /* 0 or a negative PV_E* (see the validation list) */
    int32_t gnt_status; /* with PV_EFAULT: the failed copy's GNTST_*; else 0 */
    uint32_t info;      /* INFO: PV_BLKIF_INFO_* */
    uint32_t pad2;
    uint64_t sectors;   /* INFO: the disk's capacity; READ/WRITE: sectors moved */
} pv_blkif_rsp_t;

_Static_assert(sizeof(pv_blkif_seg_t) == 8, "blkif segment layout");
_Static_assert(sizeof(pv_blkif_req_t) == PV_BLKIF_REQ_MAX, "blkif request layout");
_Static_assert(sizeof(pv_blkif_rsp_t) == 32, "blkif response layout");

#endif /* PVISOR_BLKIF_H */
