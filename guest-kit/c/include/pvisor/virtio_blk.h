/*
 * pvisor guest kit: virtio-blk driver (virtio 1.2 §5.2) over virtio-mmio (virtio.h).
 *
 * What: two APIs over one request queue.
 *
 * Blocking — pv_blk_read(blk, sector, buf, nsectors), pv_blk_write, pv_blk_flush,
 * pv_blk_get_id: submit one request and block the vCPU (pv_sched_block with upcalls on, the
 * PV_WAIT_UNTIL idiom) until the device completes it.
 *
 * Submit/complete — fill a pv_blk_req_t (type, sector, buf, len, optional `done` callback),
 * pv_blk_queue() it (several may be queued), pv_blk_kick() once for the batch (or
 * pv_blk_submit() = queue + kick), then either pv_blk_poll() (reaps completions, returns how many)
 * or pv_blk_wait(req) (blocks until that request is done). Completions are also reaped by the
 * device interrupt; `done` then runs in the upcall. pv_blk_set_polling(blk, 1) suppresses the
 * interrupt for callers that poll (pv_blk_wait still works: it re-enables it while it blocks).
 *
 * Results: 0 (VIRTIO_BLK_S_OK), PV_EIO (VIRTIO_BLK_S_IOERR — out of range, data length not a
 * multiple of 512, a write to a read-only disk, a host I/O error — or a device that stopped with
 * DEVICE_NEEDS_RESET), PV_ENOSYS (VIRTIO_BLK_S_UNSUPP). Before submission: PV_EINVAL (bad
 * arguments, a request already in flight), PV_ENOSPC (queue full; pv_blk_queue only — the
 * blocking calls wait for room), PV_EPERM (pv_blk_write on a read-only disk).
 *
 * Why: the blocking calls are what a tiny kernel wants; the submit API keeps several requests
 * in flight with one QueueNotify per batch.
 *
 * Invariants:
 * - Ranges are not checked in the guest: the device is the authority (a read past capacity comes
 *   back PV_EIO). Sector numbers are always 512-byte units (§5.2.6), whatever blk_size says.
 * - A request's header and status byte live inside pv_blk_req_t, and its data in `buf`: all
 *   must stay valid and untouched until the request is done (pv_blk_req_done).
 * - One vCPU drives a device: the one that called pv_blk_init (its interrupt is handled there).
 *   The blocking calls and pv_blk_wait must not be called from an event handler.
 */
#ifndef PVISOR_VIRTIO_BLK_H
#define PVISOR_VIRTIO_BLK_H

#include <stdint.h>

#include <pvisor/virtio.h>

/* ---- Feature bits (§5.2.3) ---- */
#define PV_VIRTIO_BLK_F_SIZE_MAX 1
#define PV_VIRTIO_BLK_F_SEG_MAX 2
#define PV_VIRTIO_BLK_F_RO 5
#define PV_VIRTIO_BLK_F_BLK_SIZE 6
#define PV_VIRTIO_BLK_F_FLUSH 9

/* ---- Configuration space offsets (§5.2.4) ---- */
#define PV_VIRTIO_BLK_CFG_CAPACITY 0
#define PV_VIRTIO_BLK_CFG_SIZE_MAX 8
#define PV_VIRTIO_BLK_CFG_SEG_MAX 12
#define PV_VIRTIO_BLK_CFG_BLK_SIZE 20

/* ---- Requests (§5.2.6) ---- */
#define PV_VIRTIO_BLK_T_IN 0u
#define PV_VIRTIO_BLK_T_OUT 1u
#define PV_VIRTIO_BLK_T_FLUSH 4u
#define PV_VIRTIO_BLK_T_GET_ID 8u
#define PV_VIRTIO_BLK_S_OK 0u
#define PV_VIRTIO_BLK_S_IOERR 1u
#define PV_VIRTIO_BLK_S_UNSUPP 2u
/** Bytes per sector in requests. */
#define PV_BLK_SECTOR_SIZE 512u
/** Bytes of the GET_ID answer (NUL-padded; no NUL when exactly 20 long). */
#define PV_VIRTIO_BLK_ID_BYTES 20u

/** The request header the device reads (16 bytes). */
typedef struct pv_virtio_blk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
} pv_virtio_blk_hdr_t;

struct pv_blk_req;
/** Completion callback: runs in the upcall or in pv_blk_poll/pv_blk_wait; must not block. */
typedef void (*pv_blk_done_t)(struct pv_blk_req *req, void *ctx);

/** Request states (pv_blk_req_t.state). */
enum { PV_BLK_REQ_IDLE = 0, PV_BLK_REQ_IN_FLIGHT = 1, PV_BLK_REQ_DONE = 2 };

/** One request. The caller fills the first block; the driver owns the rest while in flight. */
typedef struct pv_blk_req {
    uint32_t type;      /* PV_VIRTIO_BLK_T_* (others are passed through: the device answers) */
    uint64_t sector;    /* first 512-byte sector */
    void *buf;          /* data: device-writable for IN/GET_ID, device-readable otherwise */
    uint32_t len;       /* data bytes (0: no data descriptor) */
    pv_blk_done_t done; /* optional */
    void *ctx;          /* for `done` */
    /* Results (valid once state is DONE). */
    int32_t result;     /* 0, PV_EIO, PV_ENOSYS */
    uint32_t used_len;  /* bytes the device reported writing (data + status) */
    uint32_t state;     /* PV_BLK_REQ_*; read it with pv_blk_req_done */
    /* Device-visible, driver-owned. */
    pv_virtio_blk_hdr_t hdr;
    uint8_t status;
} pv_blk_req_t;

/** A virtio-blk device. */
typedef struct pv_blk {
    pv_virtio_dev_t vdev;
    pv_virtq_t vq;
    uint64_t capacity;  /* in 512-byte sectors */
    uint32_t blk_size;  /* preferred block size (512 when not offered) */
    uint32_t read_only; /* VIRTIO_BLK_F_RO */
    uint32_t has_flush; /* VIRTIO_BLK_F_FLUSH negotiated */
    uint32_t polling;   /* pv_blk_set_polling */
    uint32_t in_flight; /* requests submitted and not yet reaped */
    uint32_t completed; /* requests reaped since init */
    uint32_t errors;    /* of which with a non-zero result */
} pv_blk_t;

/**
 * Initialises the block device `info` (NULL: the first PV_VIRTIO_ID_BLOCK in the manifest): the
 * virtio init sequence, capacity/blk_size/RO from config, one request queue of `qsize` entries
 * (0: min(QueueNumMax, 128)) allocated with pv_alloc, and its interrupt on the calling vCPU.
 * @return 0; PV_ESRCH (no block device); PV_ENOSPC (heap exhausted); or pv_virtio_begin's and
 * pv_virtio_setup_queue's errors.
 */
int32_t pv_blk_init(pv_blk_t *blk, const pv_device_info_t *info, uint32_t qsize);

/** Queues `req` without notifying the device. @return 0, PV_EINVAL or PV_ENOSPC. */
int32_t pv_blk_queue(pv_blk_t *blk, pv_blk_req_t *req);

/** Publishes the queued requests, one QueueNotify if the device wants it. @return 1 if notified. */
int pv_blk_kick(pv_blk_t *blk);

/** pv_blk_queue + pv_blk_kick. */
int32_t pv_blk_submit(pv_blk_t *blk, pv_blk_req_t *req);

/** Reaps completed requests (sets results, runs `done`). @return how many completed. */
uint32_t pv_blk_poll(pv_blk_t *blk);

/** Blocks until `req` is done. @return its result (PV_EIO if the device needs a reset). */
int32_t pv_blk_wait(pv_blk_t *blk, pv_blk_req_t *req);

/** Blocks until no request is in flight. @return 0, or PV_EIO if the device needs a reset. */
int32_t pv_blk_wait_all(pv_blk_t *blk);

/** Non-zero once `req` has completed. */
int pv_blk_req_done(const pv_blk_req_t *req);

/** Suppresses (1) or re-enables (0) the completion interrupt. */
void pv_blk_set_polling(pv_blk_t *blk, int on);

/** Reads `nsectors` sectors from `sector` into `buf`. */
int32_t pv_blk_read(pv_blk_t *blk, uint64_t sector, void *buf, uint32_t nsectors);

/** Writes `nsectors` sectors from `buf` at `sector`. PV_EPERM on a read-only disk. */
int32_t pv_blk_write(pv_blk_t *blk, uint64_t sector, const void *buf, uint32_t nsectors);

/** Makes completed writes durable (0 at once when FLUSH was not negotiated: write-through). */
int32_t pv_blk_flush(pv_blk_t *blk);

/** The device ID string, NUL-terminated, into `id` (at least 21 bytes). */
int32_t pv_blk_get_id(pv_blk_t *blk, char id[PV_VIRTIO_BLK_ID_BYTES + 1]);

#endif /* PVISOR_VIRTIO_BLK_H */
