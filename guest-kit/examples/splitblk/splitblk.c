/*
 * splitblk: the kit's split block driver end to end (blkif.h, blkback.h, blkfront.h). One image,
 * two roles:
 *
 *   role=back  peer=<front's domid> [disk=<name> idle=<ns, 2 s> stall=<K> hold=<ns, 3 ms>]
 *   role=front peer=<back's domid>  [start=<sector, 8> count=<sectors, 96> chunk=<sectors per
 *              call, 40> offset=<sectors into the first frame, 3> depth=<requests outstanding,
 *              1..8, 4> seed=<pattern seed> hostile=1 hsector=<sector of the hostile write, 0>
 *              close=<0|1, 1> timeout=<ns, 1 s> linger=<ns, 0>]
 *
 * The backend owns a virtio-blk disk (the first one, or `disk=`) and serves the front end on msg
 * channel 0 until it sends CLOSE. The front end learns the disk's size, writes `count` sectors
 * from `start` (word w of sector s is pattern(s, w) below, in calls of `chunk` sectors from a
 * buffer starting `offset` sectors into a frame, so segments start mid-frame; each call keeps up
 * to `depth` requests outstanding), flushes, reads them
 * back into a zeroed buffer, verifies, checksums (FNV-1a over the read-back 32-bit words, sector
 * after sector) and closes. With hostile=1 it first sends requests a buggy or hostile front end
 * would, through pv_blkfront_request, and prints the backend's answer to each; the normal run
 * afterwards shows the backend kept serving.
 *
 * `stall=K` makes the backend take request K (1 = the front end's INFO) without answering, as a
 * hung backend would: it holds it `hold` ns, then tries to copy from the request's first grant
 * and prints what the host answered. A front end whose `timeout` is shorter has given up and
 * revoked the grant by then (`linger` keeps its domain alive after a failure, so the grant is
 * revoked rather than gone with the domain):
 *   splitblk: back: held request K for T ns; its grant now answers status G
 *
 * Output (exact, apart from the measured times T):
 *   splitblk: back: serving domain F, disk S sectors
 *   splitblk: back: closed after R requests: W writes (X sectors), D reads (Y sectors), L flushes, E errors
 *   splitblk: front: disk S sectors (read-write), backend domain B
 *   splitblk: front: hostile <what>: status X (grant status G)      (hostile=1, one per case)
 *   splitblk: front: wrote N sectors, read back N, checksum XXXXXXXX
 *   splitblk: front: write T ns, flush T ns, read T ns (virtual), Q requests at depth D, G grant copies
 * Exit codes: 0 done; 1 bad command line; 2 no disk / link not opened / no memory; 3 front: data
 * mismatch or an unexpected status, back: no request within `idle` ns; 4 an I/O or link error.
 */
#include <pvisor/blkback.h>
#include <pvisor/blkfront.h>
#include <pvisor/grant.h>
#include <pvisor/pvisor.h>
#include <pvisor/virtio_blk.h>

#define CONNECT_NS 1000000000ull /* virtual time allowed for the peer to appear */
#define SECTOR PV_BLKIF_SECTOR_SIZE
#define WORDS (SECTOR / 4u)
#define FNV_INIT 0x811c9dc5u

/* Word w of sector s of what the front end writes (the test computes the same). */
static uint32_t pattern(uint32_t seed, uint64_t s, uint32_t w)
{
    return ((uint32_t)s * 0x9e3779b1u) ^ (w * 0x85ebca77u) ^ seed;
}

static uint32_t fnv_word(uint32_t h, uint32_t w)
{
    return (h ^ w) * 0x01000193u;
}

/* System time now, after a no-op hypercall so that guest work done since the last entry counts. */
static uint64_t now_ns(void)
{
    (void)pv_version();
    return pv_time_ns();
}

/* ---- Backend ---- */

static pv_blk_t disk;
static pv_blkback_t back;

/* Serves requests 1..stall-1, then takes request `stall` and never answers it (see above). */
static int run_stall(uint32_t stall, uint32_t idle)
{
    while (back.requests + 1u < stall) {
        int32_t r = pv_blkback_serve_one(&back, pv_time_ns() + idle);
        if (r < 0) {
            pv_printf("splitblk: back: link error %d before request %u\n", (int)r, (unsigned)stall);
            return 4;
        }
    }
    pv_blkif_req_t req;
    memset(&req, 0, sizeof req);
    int32_t len = pv_msg_recv(&back.link.rx, &req, sizeof req, NULL, pv_time_ns() + idle);
    if (len < (int32_t)PV_BLKIF_REQ_LEN(1) || req.nr_segs == 0) {
        pv_printf("splitblk: back: request %u is not a data request (%d bytes)\n", (unsigned)stall, (int)len);
        return 4;
    }
    uint64_t hold = pv_cmdline_u32("hold", 3000000u);
    uint64_t t0 = now_ns();
    pv_sleep_ns(hold);
    uint64_t t1 = pv_time_ns();
    int32_t st = pv_grant_copy_from((uint16_t)back.front, req.seg[0].gref, 0, back.bounce, SECTOR);
    pv_printf("splitblk: back: held request %u for %llu ns; its grant now answers status %d\n", (unsigned)stall,
              (unsigned long long)(t1 - t0), (int)st);
    return 0;
}

static int run_back(uint32_t peer)
{
    char name[16];
    const pv_device_info_t *info = pv_cmdline_get("disk", name, sizeof name) >= 0
                                       ? pv_virtio_find(PV_VIRTIO_ID_BLOCK, name, 0)
                                       : pv_virtio_find(PV_VIRTIO_ID_BLOCK, NULL, 0);
    if (info == NULL) {
        pv_printf("splitblk: back: no virtio-blk disk\n");
        return 2;
    }
    int32_t r = pv_blk_init(&disk, info, 0);
    if (r < 0) {
        pv_printf("splitblk: back: pv_blk_init: error %d\n", (int)r);
        return 2;
    }
    r = pv_blkback_open(&back, &disk, peer, 0, pv_time_ns() + CONNECT_NS);
    if (r < 0) {
        pv_printf("splitblk: back: cannot open the link with domain %u: error %d\n", (unsigned)peer, (int)r);
        return 2;
    }
    pv_printf("splitblk: back: serving domain %u, disk %llu sectors\n", (unsigned)peer,
              (unsigned long long)disk.capacity);
    uint32_t idle = pv_cmdline_u32("idle", 2000000000u);
    uint32_t stall = pv_cmdline_u32("stall", 0u);
    if (stall != 0)
        return run_stall(stall, idle);
    r = pv_blkback_serve(&back, idle);
    if (r == PV_ETIMEDOUT) {
        pv_printf("splitblk: back: no request within %u ns\n", (unsigned)idle);
        return 3;
    }
    if (r < 0) {
        pv_printf("splitblk: back: link error %d\n", (int)r);
        return 4;
    }
    pv_printf("splitblk: back: closed after %u requests: %u writes (%llu sectors), %u reads (%llu sectors), %u flushes, %u errors\n",
              (unsigned)back.requests, (unsigned)back.writes, (unsigned long long)back.sectors_written,
              (unsigned)back.reads, (unsigned long long)back.sectors_read, (unsigned)back.flushes,
              (unsigned)back.errors);
    return 0;
}

/* ---- Front end ---- */

static pv_blkfront_t front;

/* Sends `len` bytes of `req` and prints the answer; returns 0 when the status is `want`. */
static int hostile(const char *what, pv_blkif_req_t *req, uint32_t len, int32_t want)
{
    pv_blkif_rsp_t rsp;
    memset(&rsp, 0, sizeof rsp);
    rsp.status = 1; /* no status is positive: still 1 means no response came */
    req->id = ++front.next_id;
    int32_t r = pv_blkfront_request(&front, req, len, &rsp);
    if (rsp.status == 1) {
        pv_printf("splitblk: front: hostile %s: link error %d\n", what, (int)r);
        return 4;
    }
    pv_printf("splitblk: front: hostile %s: status %d (grant status %d)\n", what, (int)rsp.status,
              (int)rsp.gnt_status);
    return r == want ? 0 : 3;
}

/* A READ/WRITE request of one segment naming `gref`, sectors first..last, at `sector`. */
static uint32_t one_seg(pv_blkif_req_t *req, uint32_t op, uint64_t sector, uint32_t gref, uint32_t first,
                        uint32_t last)
{
    memset(req, 0, sizeof *req);
    req->op = (uint8_t)op;
    req->nr_segs = 1;
    req->sector = sector;
    req->seg[0].gref = gref;
    req->seg[0].first_sect = (uint8_t)first;
    req->seg[0].last_sect = (uint8_t)last;
    return PV_BLKIF_REQ_LEN(1);
}

/*
 * The requests a hostile front end would send. Each must be refused with its status, leave the
 * disk untouched and leave this domain's memory unwritten where it granted no write access.
 */
static int run_hostile(uint64_t hsector)
{
    uint8_t *page = pv_blkfront_alloc(2u * PV_BLKIF_SECTORS_PER_FRAME);
    if (page == NULL)
        return 2;
    uint8_t *page2 = page + PV_GRANT_FRAME_SIZE;
    memset(page, 0xee, 2u * PV_GRANT_FRAME_SIZE);
    uint32_t ref = PV_BLKIF_GREF_MIN, ref2 = PV_BLKIF_GREF_MIN + 1u;
    uint64_t cap = front.sectors;
    pv_blkif_req_t req;
    int rc = 0;
    pv_grant_access(front.table, ref, (uint16_t)front.back, page, 0);

    uint32_t len = one_seg(&req, PV_BLKIF_OP_READ, cap, ref, 0, 0);
    rc |= hostile("read at sector capacity", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_READ, cap - 1u, ref, 0, 1);
    rc |= hostile("read across the end", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_WRITE, 0xffffffffffffffffull, ref, 0, 7);
    rc |= hostile("write at sector 2^64-1", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, ref, 5, 3);
    rc |= hostile("segment 5..3", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, ref, 0, PV_BLKIF_SECTORS_PER_FRAME);
    rc |= hostile("segment beyond its frame", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, PV_MSG_HDR_REF(0), 0, 0);
    rc |= hostile("gref of the msg ring", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, PV_GRANT_TABLE_MAX, 0, 0);
    rc |= hostile("gref beyond any table", &req, len, PV_EINVAL);
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, ref, 0, 0);
    rc |= hostile("length one byte short", &req, len - 1u, PV_EINVAL);
    memset(&req, 0, sizeof req);
    req.op = PV_BLKIF_OP_READ;
    req.nr_segs = (uint8_t)(PV_BLKIF_MAX_SEGS + 1u);
    rc |= hostile("17 segments", &req, PV_BLKIF_REQ_LEN(PV_BLKIF_MAX_SEGS), PV_EINVAL);
    rc |= hostile("8-byte message", &req, 8, PV_EINVAL);
    memset(&req, 0, sizeof req);
    req.op = 77;
    rc |= hostile("op 77", &req, PV_BLKIF_REQ_HDR, PV_ENOSYS);

    /* Grants the backend may not use: never granted, and read-only for a READ. */
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, PV_BLKIF_GREF_MIN + 100u, 0, 0);
    rc |= hostile("read into an ungranted gref", &req, len, PV_EFAULT);
    pv_grant_access(front.table, ref2, (uint16_t)front.back, page2, 1);
    len = one_seg(&req, PV_BLKIF_OP_READ, 0, ref2, 0, 7);
    rc |= hostile("read into a read-only grant", &req, len, PV_EFAULT);
    /* A write whose second segment is not granted: refused before the disk is written. */
    memset(&req, 0, sizeof req);
    req.op = PV_BLKIF_OP_WRITE;
    req.nr_segs = 2;
    req.sector = hsector;
    req.seg[0] = (pv_blkif_seg_t){ .gref = ref, .first_sect = 0, .last_sect = 0 };
    req.seg[1] = (pv_blkif_seg_t){ .gref = PV_BLKIF_GREF_MIN + 101u, .first_sect = 0, .last_sect = 0 };
    rc |= hostile("write with an ungranted second segment", &req, PV_BLKIF_REQ_LEN(2), PV_EFAULT);
    pv_grant_end_access(front.table, ref);
    pv_grant_end_access(front.table, ref2);
    for (uint32_t i = 0; i < 2u * PV_GRANT_FRAME_SIZE; i++)
        if (page[i] != 0xee) {
            pv_printf("splitblk: front: hostile requests changed byte %u of the granted frames\n", (unsigned)i);
            return 3;
        }
    return rc;
}

/* After a failure: stays alive `linger` ns (so a backend still holding a request meets revoked
 * grants, not a dead domain). */
static void linger(void)
{
    uint32_t ns = pv_cmdline_u32("linger", 0u);
    if (ns != 0)
        pv_sleep_ns(ns);
}

static int run_front(uint32_t peer)
{
    uint32_t start = pv_cmdline_u32("start", 8u);
    uint32_t count = pv_cmdline_u32("count", 96u);
    uint32_t chunk = pv_cmdline_u32("chunk", 40u);
    uint32_t offset = pv_cmdline_u32("offset", 3u);
    uint32_t seed = pv_cmdline_u32("seed", 0x51b10c00u);
    uint32_t timeout = pv_cmdline_u32("timeout", 1000000000u);
    uint32_t depth = pv_cmdline_u32("depth", 4u);
    if (count == 0 || chunk == 0 || offset >= PV_BLKIF_SECTORS_PER_FRAME || depth == 0 ||
        depth > PV_BLKFRONT_MAX_DEPTH) {
        pv_printf("splitblk: front: need count>0, chunk>0, offset<%u, depth 1..%u\n",
                  (unsigned)PV_BLKIF_SECTORS_PER_FRAME, (unsigned)PV_BLKFRONT_MAX_DEPTH);
        return 1;
    }
    int32_t r = pv_blkfront_connect(&front, peer, 0, timeout, pv_time_ns() + CONNECT_NS);
    if (r < 0) {
        pv_printf("splitblk: front: cannot connect to domain %u: error %d\n", (unsigned)peer, (int)r);
        return 2;
    }
    pv_printf("splitblk: front: disk %llu sectors (%s), backend domain %u\n", (unsigned long long)front.sectors,
              (front.info & PV_BLKIF_INFO_READ_ONLY) ? "read-only" : "read-write", (unsigned)peer);
    if ((uint64_t)start + count > front.sectors) {
        pv_printf("splitblk: front: start=%u count=%u is beyond the disk\n", (unsigned)start, (unsigned)count);
        return 1;
    }
    if (pv_cmdline_u32("hostile", 0u) != 0) {
        int rc = run_hostile(pv_cmdline_u32("hsector", 0u));
        if (rc != 0)
            return rc;
    }

    uint8_t *mem = pv_blkfront_alloc(count + offset);
    if (mem == NULL) {
        pv_printf("splitblk: front: no memory for %u sectors\n", (unsigned)count);
        return 2;
    }
    uint32_t *buf = (uint32_t *)(mem + offset * SECTOR);
    for (uint32_t s = 0; s < count; s++)
        for (uint32_t w = 0; w < WORDS; w++)
            buf[s * WORDS + w] = pattern(seed, start + s, w);

    pv_blkfront_set_depth(&front, depth);
    uint32_t req0 = front.requests;
    uint32_t pub0 = front.link.tx.publishes;
    uint64_t t0 = now_ns();
    for (uint32_t done = 0; done < count && r == 0; done += chunk)
        r = pv_blkfront_write(&front, start + done, buf + done * WORDS, count - done < chunk ? count - done : chunk);
    uint64_t t1 = pv_time_ns();
    if (r == 0)
        r = pv_blkfront_flush(&front);
    uint64_t t2 = pv_time_ns();
    if (r < 0) {
        pv_printf("splitblk: front: write: error %d (grant status %d)\n", (int)r, (int)front.last_gnt_status);
        linger();
        return 4;
    }
    memset(buf, 0, (size_t)count * SECTOR);
    uint64_t t3 = now_ns();
    for (uint32_t done = 0; done < count && r == 0; done += chunk)
        r = pv_blkfront_read(&front, start + done, buf + done * WORDS, count - done < chunk ? count - done : chunk);
    uint64_t t4 = pv_time_ns();
    if (r < 0) {
        pv_printf("splitblk: front: read: error %d (grant status %d)\n", (int)r, (int)front.last_gnt_status);
        linger();
        return 4;
    }
    uint32_t sum = FNV_INIT;
    for (uint32_t s = 0; s < count; s++)
        for (uint32_t w = 0; w < WORDS; w++) {
            uint32_t got = buf[s * WORDS + w], want = pattern(seed, start + s, w);
            if (got != want) {
                pv_printf("splitblk: front: sector %u word %u: read 0x%08x, expected 0x%08x\n",
                          (unsigned)(start + s), (unsigned)w, (unsigned)got, (unsigned)want);
                return 3;
            }
            sum = fnv_word(sum, got);
        }
    pv_printf("splitblk: front: wrote %u sectors, read back %u, checksum %08x\n", (unsigned)count,
              (unsigned)count, (unsigned)sum);
    pv_printf("splitblk: front: write %llu ns, flush %llu ns, read %llu ns (virtual), %u requests at depth %u, %u grant copies\n",
              (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), (unsigned long long)(t4 - t3),
              (unsigned)(front.requests - req0), (unsigned)depth, (unsigned)(front.link.tx.publishes - pub0));
    if (pv_cmdline_u32("close", 1u) != 0) {
        r = pv_blkfront_close(&front);
        if (r < 0) {
            pv_printf("splitblk: front: close: error %d\n", (int)r);
            return 4;
        }
    }
    return 0;
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char role[8];
    int n = pv_cmdline_get("role", role, sizeof role);
    uint32_t peer = pv_cmdline_u32("peer", 0xffffffffu);
    if (n < 0 || peer == 0xffffffffu || (strcmp(role, "back") != 0 && strcmp(role, "front") != 0)) {
        pv_puts("splitblk: usage: role=back|front peer=<domid> [...]");
        return 1;
    }
    return strcmp(role, "back") == 0 ? run_back(peer) : run_front(peer);
}
