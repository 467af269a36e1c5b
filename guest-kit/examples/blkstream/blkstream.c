/*
 * blkstream: sequential block streaming through the kit's virtio-blk submit/complete API, the
 * guest half of `npm run bench:virtio` (the host times the run; the guest only moves data).
 *
 * Command line (all optional):
 *   op=read|write   direction (default read)
 *   mb=<n>          MiB to move (default 64); wraps around the disk when it is smaller
 *   req=<n>         KiB per request (default 64; 1..1024, a multiple of 512 bytes)
 *   inflight=<n>    requests queued per kick (default 8, at most 32)
 *   warmup=<n>      MiB moved first, before the measured `mb` (default 0); when they are done
 *                   the guest prints "blkstream: warm" — the host's JIT has compiled the hot
 *                   paths by then, and a benchmark times from that line to the last one
 *
 * Loop: queue `inflight` requests at consecutive sectors, one QueueNotify for the batch, reap
 * the completions by polling (interrupt suppressed, as a polling driver does), repeat. The data
 * is not touched by the guest (like dd with O_DIRECT to or from a reused buffer).
 *
 * Output: "blkstream: read 64 MiB in 1024 requests of 64 KiB, 8 per kick, 0 errors" (the measured
 * part; errors counts the warm-up too), poweroff 0;
 * any failed request: the same line with the error count, and exit code 1. No disk: exit 2.
 */
#include <pvisor/pvisor.h>
#include <pvisor/virtio_blk.h>

#define MAX_INFLIGHT 32u

static pv_blk_t blk;
static pv_blk_req_t slot[MAX_INFLIGHT];

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char op[8] = "read";
    pv_cmdline_get("op", op, sizeof op);
    int writing = strcmp(op, "write") == 0;
    if (!writing && strcmp(op, "read") != 0) {
        pv_printf("blkstream: op=%s: use read or write\n", op);
        return 2;
    }
    uint32_t mb = pv_cmdline_u32("mb", 64);
    uint32_t req_kib = pv_cmdline_u32("req", 64);
    uint32_t inflight = pv_cmdline_u32("inflight", 8);
    uint32_t warm_mb = pv_cmdline_u32("warmup", 0);
    if (req_kib == 0 || req_kib > 1024 || inflight == 0 || inflight > MAX_INFLIGHT) {
        pv_puts("blkstream: req must be 1..1024 KiB and inflight 1..32");
        return 2;
    }
    int32_t r = pv_blk_init(&blk, NULL, 0);
    if (r < 0) {
        pv_printf("blkstream: no usable block device (%d)\n", (int)r);
        return 2;
    }
    uint32_t len = req_kib * 1024u;
    uint64_t per_req = len / PV_BLK_SECTOR_SIZE;
    if (blk.capacity < per_req * inflight) {
        pv_puts("blkstream: disk smaller than one batch");
        return 2;
    }
    if (writing && blk.read_only) {
        pv_puts("blkstream: disk is read-only");
        return 2;
    }
    for (uint32_t i = 0; i < inflight; i++) {
        slot[i].buf = pv_alloc(len, 64);
        if (slot[i].buf == NULL) {
            pv_puts("blkstream: out of memory for buffers");
            return 2;
        }
    }
    pv_blk_set_polling(&blk, 1);
    uint64_t warm = (uint64_t)warm_mb * 1024u * 1024u / len;
    uint64_t total = (uint64_t)mb * 1024u * 1024u / len;
    uint64_t sector = 0, done = 0;
    uint32_t errors = 0;
    if (warm == 0 && warm_mb != 0)
        warm = 1;
    total += warm;
    while (done < total) {
        if (warm != 0 && done == warm)
            pv_puts("blkstream: warm");
        uint64_t stop = warm != 0 && done < warm ? warm : total;
        uint32_t n = stop - done < inflight ? (uint32_t)(stop - done) : inflight;
        for (uint32_t i = 0; i < n; i++) {
            if (sector + per_req > blk.capacity)
                sector = 0; /* wrap around a small disk */
            slot[i].type = writing ? PV_VIRTIO_BLK_T_OUT : PV_VIRTIO_BLK_T_IN;
            slot[i].sector = sector;
            slot[i].len = len;
            if (pv_blk_queue(&blk, &slot[i]) < 0)
                errors++;
            sector += per_req;
        }
        pv_blk_kick(&blk);
        for (uint32_t i = 0; i < n; i++) {
            while (!pv_blk_req_done(&slot[i]))
                if (pv_blk_poll(&blk) == 0)
                    pv_blk_wait(&blk, &slot[i]);
            if (slot[i].result != 0)
                errors++;
        }
        done += n;
    }
    pv_printf("blkstream: %s %u MiB in %u requests of %u KiB, %u per kick, %u errors\n", op, (unsigned)mb,
              (unsigned)(total - warm), (unsigned)req_kib, (unsigned)inflight, (unsigned)errors);
    return errors == 0 ? 0 : 1;
}
