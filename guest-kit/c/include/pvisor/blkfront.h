/*
 * pvisor guest kit: split block driver, FRONT END (blkfront.c). The protocol is in blkif.h.
 *
 * What: reads and writes the disk of a backend domain (blkback.h) through a kit message link.
 * Each call turns into requests of at most PV_BLKIF_MAX_SEGS frames: the frames holding the
 * caller's buffer are granted to the backend (read-only for writes, writable for reads), up to
 * `depth` requests are queued and published with one grant_copy, and as each response comes its
 * request's grants are revoked and the next request takes its place. A call returns when all its
 * requests are answered.
 *
 *   pv_blkfront_connect(f, back, idx, timeout_ns, deadline)  link + INFO (capacity, read-only)
 *   pv_blkfront_set_depth(f, d)                               requests outstanding per call (1..8)
 *   pv_blkfront_read(f, sector, buf, n) / pv_blkfront_write / pv_blkfront_flush
 *   pv_blkfront_close(f)                                      CLOSE: the backend stops serving
 *   pv_blkfront_request(f, req, len, rsp)                     one raw request, as built by the caller
 *
 * Results: 0, or the first failure among the call's requests (no new request is sent after it;
 * those outstanding are still collected): the backend's status (blkif.h: PV_EINVAL, PV_EPERM,
 * PV_EFAULT with `last_gnt_status`, PV_EIO, PV_ENOSYS), or a link error (PV_ETIMEDOUT after
 * `timeout_ns` without a response, PV_EFAULT / PV_EIO for a broken ring, msg.h). Before
 * anything is sent: PV_EINVAL for a buffer that is not 512-byte aligned, n == 0, or a range
 * beyond the capacity learnt at connect. A response whose id, op or sector count does not match
 * the request is PV_EIO (the backend is not trusted either).
 *
 * Invariants for users:
 * - The whole frames covering [buf, buf + n * 512) are granted while a request is outstanding:
 *   keep nothing else in them (pv_blkfront_alloc gives frame-aligned buffers).
 * - The front end registers its own grant table of PV_GRANT_TABLE_MAX entries and hands it to the
 *   msg channels (pv_msg_use_table): connect before any other msg channel of this domain is opened
 *   (later ones share the table). References PV_BLKIF_GREF_MIN .. PV_BLKIF_GREF_MIN +
 *   PV_BLKFRONT_MAX_DEPTH * PV_BLKIF_MAX_SEGS - 1 are the requests' segments (slot by slot),
 *   free between calls; a raw request's grants are the caller's (it may use those references
 *   between calls) and are not revoked for it. One front end per domain; one
 *   vCPU uses it; the calls block (sched_poll) and must not be called from an event handler.
 * - After a timeout the grants are revoked before the call returns, so a late backend copy fails
 *   instead of writing into memory the caller has reused.
 */
#ifndef PVISOR_BLKFRONT_H
#define PVISOR_BLKFRONT_H

#include <stdint.h>

#include <pvisor/blkif.h>
#include <pvisor/msg.h>

/** Most requests a front end keeps outstanding (pv_blkfront_set_depth). */
#define PV_BLKFRONT_MAX_DEPTH 8u

/** One outstanding request. */
struct pv_blkfront_slot {
    uint32_t busy;
    uint32_t tag;     /* its message tag (unique per request) */
    uint32_t id;      /* its id, echoed by the response */
    uint32_t op;
    uint32_t sectors; /* sectors it moves (0: no data) */
    uint32_t segs;    /* grants it holds: references slot_ref(slot, 0..segs-1) (blkfront.c) */
};

/** A front end. Fields are read-only for users (`table` may be used to grant by hand). */
typedef struct pv_blkfront {
    pv_msg_link_t link;
    /** The backend's domain id. */
    uint32_t back;
    /** The disk, as INFO reported it. */
    uint64_t sectors;
    uint32_t info;
    /** How long one request may take, ns of system time (0: forever). */
    uint64_t timeout_ns;
    /** This domain's grant table (PV_GRANT_TABLE_MAX entries). */
    struct pv_grant_entry_v1 *table;
    /** The id of the last request, and the last message tag. */
    uint32_t next_id;
    uint32_t tag_seq;
    /** Requests kept outstanding by read/write (1..PV_BLKFRONT_MAX_DEPTH), and outstanding now. */
    uint32_t depth;
    uint32_t inflight;
    struct pv_blkfront_slot slot[PV_BLKFRONT_MAX_DEPTH];
    /** Where responses are received (the ring's size: any message fits). */
    uint8_t *rbuf;
    uint32_t rbuf_cap;
    /** Statistics: requests answered, of which errors. */
    uint32_t requests;
    uint32_t errors;
    /** The last failed request's status and, with PV_EFAULT from the backend, its GNTST_*. */
    int32_t last_status;
    int32_t last_gnt_status;
} pv_blkfront_t;

/**
 * Connects to the backend in domain `back` on msg channel `idx` (waiting until `deadline` for it)
 * and asks INFO. @return 0 or a negative PV_E* (PV_EINVAL: a msg channel was already open).
 */
int32_t pv_blkfront_connect(pv_blkfront_t *f, uint32_t back, uint32_t idx, uint64_t timeout_ns,
                            uint64_t deadline);

/**
 * Lets read/write keep up to `depth` requests outstanding (1..PV_BLKFRONT_MAX_DEPTH; 1 after
 * connect): they are queued and published together, and the backend answers them in one batch.
 * @return 0 or PV_EINVAL.
 */
int32_t pv_blkfront_set_depth(pv_blkfront_t *f, uint32_t depth);

/** A buffer of `nsectors` sectors in frames of its own (pv_alloc, never freed); NULL if none. */
void *pv_blkfront_alloc(uint32_t nsectors);

/** Reads `n` sectors from `sector` into `buf` (512-aligned). */
int32_t pv_blkfront_read(pv_blkfront_t *f, uint64_t sector, void *buf, uint32_t n);

/** Writes `n` sectors from `buf` (512-aligned) at `sector`. */
int32_t pv_blkfront_write(pv_blkfront_t *f, uint64_t sector, const void *buf, uint32_t n);

/** Makes completed writes durable. */
int32_t pv_blkfront_flush(pv_blkfront_t *f);

/** Sends CLOSE; the backend answers and stops serving. */
int32_t pv_blkfront_close(pv_blkfront_t *f);

/**
 * Sends `len` bytes of `req` exactly as given (the caller grants what it names, and sets `id`)
 * and stores the response in `*rsp`. For tests of the backend's checks. @return rsp->status, or
 * a link error (then `*rsp` is not valid); PV_EIO when the response is not a pv_blkif_rsp_t or
 * does not echo the request's id and op (id 0 and PV_BLKIF_OP_INVALID when `len` is below
 * PV_BLKIF_REQ_HDR).
 */
int32_t pv_blkfront_request(pv_blkfront_t *f, const void *req, uint32_t len, pv_blkif_rsp_t *rsp);

#endif /* PVISOR_BLKFRONT_H */
