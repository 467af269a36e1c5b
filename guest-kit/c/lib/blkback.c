/*
 * libpvisor: split block driver, backend (blkback.h; protocol in blkif.h).
 *
 * Invariants:
 * - The request is read from the ring once, by pv_msg_recv into b->req (a buffer the size of the
 *   whole ring, so every message the front end can send fits and is consumed); every check and
 *   every later use reads the local `req` copy made from it, never the ring.
 * - The front end's memory is touched only by grant_copy naming its grant references
 *   (GNTCOPY_SOURCE_GREF for WRITE data, GNTCOPY_DEST_GREF for READ data); the host enforces the
 *   grant's domain and read-only bit.
 * - Copy pieces never cross a frame on either side: a segment lies inside one frame of the front
 *   end, and is split at the bounce buffer's frame boundary (at most two ops per segment).
 */
#include "internal.h"

#include <pvisor/blkback.h>
#include <pvisor/grant.h>

#define SECTOR PV_BLKIF_SECTOR_SIZE

int32_t pv_blkback_open(pv_blkback_t *b, pv_blk_t *blk, uint32_t front, uint32_t idx, uint64_t deadline)
{
    if (b == NULL || blk == NULL)
        return PV_EINVAL;
    memset(b, 0, sizeof *b);
    b->blk = blk;
    b->front = front;
    b->bounce = pv_alloc(PV_BLKIF_MAX_SEGS * PV_GRANT_FRAME_SIZE, PV_GRANT_FRAME_SIZE);
    if (b->bounce == NULL)
        return PV_ENOSPC;
    int32_t r = pv_msg_link_open(&b->link, front, idx, 1, deadline);
    if (r < 0)
        return r;
    b->req_cap = b->link.rx.size;
    b->req = pv_alloc(b->req_cap, 8);
    return b->req == NULL ? PV_ENOSPC : 0;
}

/*
 * Builds the copy ops between the request's segments and the bounce buffer (`to_front`: bounce ->
 * grants, for READ) and runs them in one grant_copy; with `probe` every op has length 0, which
 * makes the host check both ends (grant valid, granted to us, writable when the destination)
 * and copy nothing. @return 0, PV_EFAULT (with *gnt the first failed op's GNTST_*), or the call's
 * negative error.
 */
static int32_t copy_segments(pv_blkback_t *b, const pv_blkif_req_t *req, int to_front, int probe, int32_t *gnt)
{
    uint16_t front = (uint16_t)b->front;
    uint32_t n = 0;
    uint32_t pos = 0; /* byte offset into the bounce buffer */
    for (uint32_t i = 0; i < req->nr_segs; i++) {
        const pv_blkif_seg_t *s = &req->seg[i];
        uint32_t off = (uint32_t)s->first_sect * SECTOR;
        uint32_t left = ((uint32_t)s->last_sect - s->first_sect + 1u) * SECTOR;
        while (left != 0) {
            uint32_t in = pos % PV_GRANT_FRAME_SIZE;
            uint32_t chunk = PV_GRANT_FRAME_SIZE - in < left ? PV_GRANT_FRAME_SIZE - in : left;
            struct pv_grant_copy_op *op = &b->ops[n++];
            memset(op, 0, sizeof *op);
            uint8_t *mine = b->bounce + pos;
            if (to_front) {
                op->source.ref = pv_grant_frame(mine);
                op->source.domid = (uint16_t)PV_DOMID_SELF;
                op->source.offset = pv_grant_offset(mine);
                op->dest.ref = s->gref;
                op->dest.domid = front;
                op->dest.offset = (uint16_t)off;
                op->flags = (uint16_t)PV_GNTCOPY_DEST_GREF;
            } else {
                op->source.ref = s->gref;
                op->source.domid = front;
                op->source.offset = (uint16_t)off;
                op->dest.ref = pv_grant_frame(mine);
                op->dest.domid = (uint16_t)PV_DOMID_SELF;
                op->dest.offset = pv_grant_offset(mine);
                op->flags = (uint16_t)PV_GNTCOPY_SOURCE_GREF;
            }
            op->len = probe ? 0u : (uint16_t)chunk;
            pos += chunk;
            off += chunk;
            left -= chunk;
        }
    }
    int32_t r = pv_grant_copy(b->ops, n);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < n; i++) {
        if (b->ops[i].status != PV_GNTST_OKAY) {
            *gnt = b->ops[i].status;
            return PV_EFAULT;
        }
    }
    return 0;
}

/*
 * Checks the segments of a READ/WRITE copy (`len` bytes of message) and returns the total sectors,
 * or 0 when the request is malformed or out of range.
 */
static uint32_t check_rw(const pv_blkback_t *b, const pv_blkif_req_t *req, uint32_t len)
{
    if (req->nr_segs == 0 || req->nr_segs > PV_BLKIF_MAX_SEGS || len != PV_BLKIF_REQ_LEN(req->nr_segs))
        return 0;
    uint32_t total = 0;
    for (uint32_t i = 0; i < req->nr_segs; i++) {
        const pv_blkif_seg_t *s = &req->seg[i];
        if (s->first_sect > s->last_sect || s->last_sect >= PV_BLKIF_SECTORS_PER_FRAME ||
            s->gref < PV_BLKIF_GREF_MIN || s->gref >= PV_GRANT_TABLE_MAX)
            return 0;
        total += (uint32_t)s->last_sect - s->first_sect + 1u;
    }
    uint64_t cap = b->blk->capacity;
    if (req->sector > cap || total > cap - req->sector)
        return 0;
    return total;
}

/* Carries out the checked request copy `req`; fills the status fields of `rsp`. */
static void do_request(pv_blkback_t *b, const pv_blkif_req_t *req, uint32_t len, pv_blkif_rsp_t *rsp)
{
    int32_t st = 0;
    switch (req->op) {
    case PV_BLKIF_OP_READ:
    case PV_BLKIF_OP_WRITE: {
        uint32_t n = check_rw(b, req, len);
        int write = req->op == PV_BLKIF_OP_WRITE;
        if (n == 0) {
            st = PV_EINVAL;
        } else if (write && b->blk->read_only) {
            st = PV_EPERM;
        } else if (write) {
            /* Every piece of data first: a refused grant leaves the disk untouched. */
            st = copy_segments(b, req, 0, 0, &rsp->gnt_status);
            if (st == 0)
                st = pv_blk_write(b->blk, req->sector, b->bounce, n);
            if (st == 0) {
                b->writes++;
                b->sectors_written += n;
                rsp->sectors = n;
            }
        } else {
            /* Probe the grants first, as Xen's blkback maps them before the I/O: a request
             * naming grants we may not write never reaches the device. The front end can
             * still revoke in between; then the copy below fails and says so. */
            st = copy_segments(b, req, 1, 1, &rsp->gnt_status);
            if (st == 0)
                st = pv_blk_read(b->blk, req->sector, b->bounce, n);
            if (st == 0)
                st = copy_segments(b, req, 1, 0, &rsp->gnt_status);
            if (st == 0) {
                b->reads++;
                b->sectors_read += n;
                rsp->sectors = n;
            }
        }
        break;
    }
    case PV_BLKIF_OP_FLUSH:
        st = len != PV_BLKIF_REQ_LEN(0) ? PV_EINVAL : pv_blk_flush(b->blk);
        if (st == 0)
            b->flushes++;
        break;
    case PV_BLKIF_OP_INFO:
        if (len != PV_BLKIF_REQ_LEN(0)) {
            st = PV_EINVAL;
            break;
        }
        rsp->sectors = b->blk->capacity;
        rsp->info = (b->blk->read_only ? PV_BLKIF_INFO_READ_ONLY : 0u) |
                    (b->blk->has_flush ? PV_BLKIF_INFO_FLUSH : 0u);
        b->infos++;
        break;
    case PV_BLKIF_OP_CLOSE:
        if (len != PV_BLKIF_REQ_LEN(0))
            st = PV_EINVAL;
        else
            b->closed = 1;
        break;
    default:
        st = PV_ENOSYS;
        break;
    }
    rsp->status = st;
    if (st != 0) {
        b->errors++;
        b->last_error = st;
        b->last_gnt_status = rsp->gnt_status;
    }
}

/* Serves the request just received into b->req (`len` bytes) and queues its response. */
static int32_t handle(pv_blkback_t *b, uint32_t len, uint32_t tag, uint64_t deadline)
{
    /* The one copy: from here on only `req` is read. */
    pv_blkif_req_t req;
    memset(&req, 0, sizeof req);
    memcpy(&req, b->req, len < sizeof req ? len : sizeof req);
    pv_blkif_rsp_t rsp;
    memset(&rsp, 0, sizeof rsp);
    b->requests++;
    if (len < PV_BLKIF_REQ_HDR) {
        rsp.op = (uint8_t)PV_BLKIF_OP_INVALID;
        rsp.status = PV_EINVAL;
        b->errors++;
        b->last_error = PV_EINVAL;
        b->last_gnt_status = 0;
    } else {
        rsp.id = req.id;
        rsp.op = req.op;
        do_request(b, &req, len, &rsp);
    }
    return pv_msg_queue(&b->link.tx, &rsp, sizeof rsp, tag, deadline);
}

int32_t pv_blkback_serve_one(pv_blkback_t *b, uint64_t deadline)
{
    if (b->closed)
        return PV_EINVAL;
    uint32_t tag;
    int32_t len = pv_msg_recv(&b->link.rx, b->req, b->req_cap, &tag, deadline);
    int32_t served = 0;
    while (len >= 0) {
        int32_t r = handle(b, (uint32_t)len, tag, deadline);
        if (r < 0)
            return r;
        served++;
        if (b->closed)
            break; /* nothing after CLOSE is served */
        len = pv_msg_poll(&b->link.rx, b->req, b->req_cap, &tag);
    }
    if (served == 0)
        return len;
    /* One publish for every response of the batch (also when the ring broke behind them). */
    int32_t r = pv_msg_flush(&b->link.tx);
    if (r < 0)
        return r;
    return len < 0 && len != PV_EAGAIN ? len : served;
}

int32_t pv_blkback_serve(pv_blkback_t *b, uint64_t idle_ns)
{
    while (!b->closed) {
        uint64_t deadline = idle_ns != 0 ? pv_time_ns() + idle_ns : 0;
        int32_t r = pv_blkback_serve_one(b, deadline);
        if (r < 0)
            return r;
    }
    return 0;
}
