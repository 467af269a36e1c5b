/*
 * libpvisor: split block driver, front end (blkfront.h; protocol in blkif.h).
 *
 * Invariants:
 * - Slot s (0..depth-1) of outstanding requests owns grant references
 *   PV_BLKIF_GREF_MIN + s * PV_BLKIF_MAX_SEGS + i for its segments i; a slot is busy from the
 *   moment its first grant is made until its response is taken or the call gives up, and its
 *   grants are all revoked when it becomes free. No grant outlives the call that made it.
 * - Grants are made (domid and frame, then flags) before the request is queued; every queued
 *   request is published (pv_msg_flush) before the front end waits.
 * - Requests carry a fresh message tag each; a response is matched to its slot by tag and then
 *   checked against the request (id, op, sectors moved) before it counts. A response with no busy
 *   slot (to a request of a call that timed out) is dropped.
 */
#include "internal.h"

#include <pvisor/blkfront.h>
#include <pvisor/grant.h>

#define SECTOR PV_BLKIF_SECTOR_SIZE

/* The domain's grant table: the msg channels' references below PV_BLKIF_GREF_MIN, data above. */
static struct pv_grant_entry_v1 front_table[PV_GRANT_TABLE_MAX];

_Static_assert(PV_BLKIF_GREF_MIN + PV_BLKFRONT_MAX_DEPTH * PV_BLKIF_MAX_SEGS <= PV_GRANT_TABLE_MAX,
               "the slots' grant references fit in the table");

static uint32_t slot_ref(uint32_t slot, uint32_t seg)
{
    return PV_BLKIF_GREF_MIN + slot * PV_BLKIF_MAX_SEGS + seg;
}

static void slot_free(pv_blkfront_t *f, uint32_t s)
{
    for (uint32_t i = 0; i < f->slot[s].segs; i++)
        pv_grant_end_access(f->table, slot_ref(s, i));
    f->slot[s].busy = 0;
    f->inflight--;
}

static void free_all(pv_blkfront_t *f)
{
    for (uint32_t s = 0; s < PV_BLKFRONT_MAX_DEPTH; s++)
        if (f->slot[s].busy)
            slot_free(f, s);
}

static uint64_t deadline_of(const pv_blkfront_t *f)
{
    return f->timeout_ns != 0 ? pv_time_ns() + f->timeout_ns : 0;
}

/* Queues `len` bytes of `req` for slot `s` (already granted); frees the slot on failure. */
static int32_t slot_queue(pv_blkfront_t *f, uint32_t s, const void *req, uint32_t len, uint32_t id,
                          uint32_t op, uint32_t sectors)
{
    f->slot[s].busy = 1;
    f->slot[s].tag = ++f->tag_seq;
    f->slot[s].id = id;
    f->slot[s].op = op;
    f->slot[s].sectors = sectors;
    f->inflight++;
    int32_t r = pv_msg_queue(&f->link.tx, req, len, f->slot[s].tag, deadline_of(f));
    if (r < 0)
        slot_free(f, s);
    return r;
}

/*
 * Takes one response for a busy slot (publishing what is queued first): frees the slot and stores
 * the response in *rsp. @return the response's status, PV_EIO if it does not match its request,
 * or a link error (then every slot is freed).
 */
static int32_t take_one(pv_blkfront_t *f, pv_blkif_rsp_t *rsp)
{
    int32_t r = pv_msg_flush(&f->link.tx);
    uint64_t deadline = deadline_of(f);
    while (r >= 0) {
        uint32_t tag;
        r = pv_msg_recv(&f->link.rx, f->rbuf, f->rbuf_cap, &tag, deadline);
        if (r < 0)
            break;
        uint32_t s = 0;
        while (s < PV_BLKFRONT_MAX_DEPTH && !(f->slot[s].busy && f->slot[s].tag == tag))
            s++;
        if (s == PV_BLKFRONT_MAX_DEPTH)
            continue; /* a late response to a request given up on */
        struct pv_blkfront_slot sl = f->slot[s];
        slot_free(f, s);
        if ((uint32_t)r != sizeof *rsp) {
            r = PV_EIO;
            break;
        }
        memcpy(rsp, f->rbuf, sizeof *rsp);
        f->requests++;
        if (rsp->id != sl.id || rsp->op != sl.op || (rsp->status == 0 && sl.sectors != 0 && rsp->sectors != sl.sectors))
            return PV_EIO;
        if (rsp->status != 0) {
            f->errors++;
            f->last_status = rsp->status;
            f->last_gnt_status = rsp->gnt_status;
        }
        return rsp->status;
    }
    free_all(f);
    return r;
}

int32_t pv_blkfront_request(pv_blkfront_t *f, const void *req, uint32_t len, pv_blkif_rsp_t *rsp)
{
    if (f == NULL || f->rbuf == NULL || f->inflight != 0 || (req == NULL && len != 0))
        return PV_EINVAL;
    /* What the answer must echo: the backend answers an unparseable message with id 0. */
    uint32_t id = 0, op = PV_BLKIF_OP_INVALID;
    if (len >= PV_BLKIF_REQ_HDR) {
        const pv_blkif_req_t *q = req;
        id = q->id;
        op = q->op;
    }
    f->slot[0].segs = 0; /* the caller's grants stay the caller's */
    int32_t r = slot_queue(f, 0, req, len, id, op, 0);
    if (r < 0)
        return r;
    return take_one(f, rsp);
}

/* A request with no data (FLUSH, INFO, CLOSE). */
static int32_t simple(pv_blkfront_t *f, uint32_t op, pv_blkif_rsp_t *rsp)
{
    pv_blkif_req_t req;
    memset(&req, 0, PV_BLKIF_REQ_HDR);
    req.op = (uint8_t)op;
    req.id = ++f->next_id;
    return pv_blkfront_request(f, &req, PV_BLKIF_REQ_HDR, rsp);
}

int32_t pv_blkfront_connect(pv_blkfront_t *f, uint32_t back, uint32_t idx, uint64_t timeout_ns,
                            uint64_t deadline)
{
    if (f == NULL || back >= PV_DOMID_SELF)
        return PV_EINVAL;
    memset(f, 0, sizeof *f);
    f->back = back;
    f->timeout_ns = timeout_ns;
    f->depth = 1;
    f->table = front_table;
    static int registered;
    if (!registered) {
        int32_t r = pv_grant_table_init(front_table, PV_GRANT_TABLE_MAX);
        if (r < 0)
            return r;
        r = pv_msg_use_table(front_table, PV_GRANT_TABLE_MAX);
        if (r < 0)
            return r;
        registered = 1;
    }
    int32_t r = pv_msg_link_open(&f->link, back, idx, 1, deadline);
    if (r < 0)
        return r;
    /* Any message the ring can hold fits, so even a misbehaving backend's is consumed. */
    f->rbuf_cap = f->link.rx.size;
    f->rbuf = pv_alloc(f->rbuf_cap, 8);
    if (f->rbuf == NULL)
        return PV_ENOSPC;
    pv_blkif_rsp_t rsp;
    r = simple(f, PV_BLKIF_OP_INFO, &rsp);
    if (r < 0)
        return r;
    f->sectors = rsp.sectors;
    f->info = rsp.info;
    return 0;
}

int32_t pv_blkfront_set_depth(pv_blkfront_t *f, uint32_t depth)
{
    if (f == NULL || depth == 0 || depth > PV_BLKFRONT_MAX_DEPTH || f->inflight != 0)
        return PV_EINVAL;
    f->depth = depth;
    return 0;
}

void *pv_blkfront_alloc(uint32_t nsectors)
{
    size_t bytes = ((size_t)nsectors * SECTOR + PV_GRANT_FRAME_SIZE - 1u) & ~(size_t)(PV_GRANT_FRAME_SIZE - 1u);
    return pv_alloc(bytes != 0 ? bytes : PV_GRANT_FRAME_SIZE, PV_GRANT_FRAME_SIZE);
}

/*
 * Grants and queues one request in free slot `s`: as many sectors from `p` as fit in
 * PV_BLKIF_MAX_SEGS frames (at most `n`). @return the sectors it covers (> 0) or a negative PV_E*.
 */
static int32_t rw_queue(pv_blkfront_t *f, uint32_t s, uint32_t op, uint64_t sector, uintptr_t p, uint32_t n)
{
    pv_blkif_req_t req;
    memset(&req, 0, sizeof req);
    req.op = (uint8_t)op;
    req.id = ++f->next_id;
    req.sector = sector;
    uint32_t total = 0;
    uint32_t segs = 0;
    int readonly = op == PV_BLKIF_OP_WRITE;
    while (total < n && segs < PV_BLKIF_MAX_SEGS) {
        uintptr_t at = p + (uintptr_t)total * SECTOR;
        uint32_t first = (uint32_t)(at % PV_GRANT_FRAME_SIZE) / SECTOR;
        uint32_t room = PV_BLKIF_SECTORS_PER_FRAME - first;
        uint32_t cnt = n - total < room ? n - total : room;
        uint32_t ref = slot_ref(s, segs);
        pv_grant_access(f->table, ref, (uint16_t)f->back, (const void *)at, readonly);
        req.seg[segs].gref = ref;
        req.seg[segs].first_sect = (uint8_t)first;
        req.seg[segs].last_sect = (uint8_t)(first + cnt - 1u);
        segs++;
        total += cnt;
    }
    req.nr_segs = (uint8_t)segs;
    f->slot[s].segs = segs;
    int32_t r = slot_queue(f, s, &req, PV_BLKIF_REQ_LEN(segs), req.id, op, total);
    return r < 0 ? r : (int32_t)total;
}

/*
 * Keeps up to `depth` requests outstanding until the range is done. After the first failure no
 * new request is sent, the outstanding ones are still collected (their grants revoked), and that
 * first error is returned.
 */
static int32_t rw(pv_blkfront_t *f, uint32_t op, uint64_t sector, uintptr_t p, uint32_t n)
{
    if (f == NULL || f->rbuf == NULL || f->inflight != 0 || n == 0 || p % SECTOR != 0 ||
        sector > f->sectors || n > f->sectors - sector)
        return PV_EINVAL;
    int32_t err = 0;
    while ((n != 0 && err == 0) || f->inflight != 0) {
        while (n != 0 && err == 0 && f->inflight < f->depth) {
            uint32_t s = 0;
            while (f->slot[s].busy)
                s++;
            int32_t r = rw_queue(f, s, op, sector, p, n);
            if (r < 0) {
                err = r;
                break;
            }
            sector += (uint32_t)r;
            p += (uintptr_t)r * SECTOR;
            n -= (uint32_t)r;
        }
        if (f->inflight == 0)
            break;
        pv_blkif_rsp_t rsp;
        int32_t r = take_one(f, &rsp);
        if (r < 0 && err == 0)
            err = r;
    }
    return err;
}

int32_t pv_blkfront_read(pv_blkfront_t *f, uint64_t sector, void *buf, uint32_t n)
{
    return rw(f, PV_BLKIF_OP_READ, sector, (uintptr_t)buf, n);
}

int32_t pv_blkfront_write(pv_blkfront_t *f, uint64_t sector, const void *buf, uint32_t n)
{
    return rw(f, PV_BLKIF_OP_WRITE, sector, (uintptr_t)buf, n);
}

int32_t pv_blkfront_flush(pv_blkfront_t *f)
{
    pv_blkif_rsp_t rsp;
    return simple(f, PV_BLKIF_OP_FLUSH, &rsp);
}

int32_t pv_blkfront_close(pv_blkfront_t *f)
{
    pv_blkif_rsp_t rsp;
    return simple(f, PV_BLKIF_OP_CLOSE, &rsp);
}
