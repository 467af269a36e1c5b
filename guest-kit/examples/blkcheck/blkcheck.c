/*
 * blkcheck: end-to-end check of the virtio-blk driver (virtio_blk.h) against the host's
 * virtio-mmio transport and virtio-blk backend, XTF style.
 *
 * Command line (all optional):
 *   disk=<name>   the manifest name of the device (default: the first block device)
 *   id=<string>   the GET_ID string the device must report
 *   chunk=<n>     sectors per request (default 64; 2..1024)
 *   depth=<n>     requests in flight per batch (default 8, at most 16)
 *   passes=<n>    how many times to read back and verify the disk (default 1; many passes of
 *                 small requests drive the 16-bit ring indices through their wrap at 65536)
 *
 * Writable disk: writes a pattern derived from each sector's number over the whole disk
 * (multi-sector requests, `depth` in flight, one kick per batch, completions by interrupt),
 * flushes, reads it all back (interrupt suppressed, completions polled) and verifies it, then
 * rewrites and re-reads the last sector with the blocking calls.
 * Read-only disk: verifies that the disk already holds the pattern, and that writes are refused
 * (PV_EPERM by the driver, IOERR by the device).
 * Both: a read past the end, a read straddling the end, and IN/OUT requests whose data length is
 * not a multiple of 512 must fail with IOERR; an unknown request type with UNSUPP.
 *
 * Output on success (N = capacity in sectors):
 *   blkcheck: N sectors ok                (or "blkcheck: N sectors ok (read-only)")
 *   Test result: SUCCESS
 * Otherwise "FAILURE: <what>" lines and "Test result: FAILURE: <first problem>" (crash, 5), or
 * "Test result: ERROR: ..." when there is no usable block device.
 */
#include <pvisor/pvisor.h>
#include <pvisor/virtio_blk.h>

#define MAX_DEPTH 16u
#define SECTOR PV_BLK_SECTOR_SIZE
#define WORDS_PER_SECTOR (SECTOR / 4u)

static pv_blk_t blk;
static pv_blk_req_t slot[MAX_DEPTH];
static uint32_t *buf[MAX_DEPTH];
static uint32_t chunk, depth;
static int failures;

/** The pattern: word `w` of sector `s` (the host-side test computes the same). */
static uint32_t pattern(uint64_t s, uint32_t w)
{
    return ((uint32_t)s * 0x9e3779b1u) ^ (w * 0x85ebca77u) ^ 0xb10cb10cu;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        failures++;                                                                                \
        pv_test_note(PV_TEST_FAILURE, __VA_ARGS__);                                                \
    } while (0)

static void fill(uint32_t *p, uint64_t sector, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t w = 0; w < WORDS_PER_SECTOR; w++)
            p[i * WORDS_PER_SECTOR + w] = pattern(sector + i, w);
}

/* Returns 1 if the n sectors at p hold the pattern of `sector`...; reports the first mismatch. */
static int verify(const uint32_t *p, uint64_t sector, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t w = 0; w < WORDS_PER_SECTOR; w++)
            if (p[i * WORDS_PER_SECTOR + w] != pattern(sector + i, w)) {
                FAIL("sector %llu word %u: read 0x%08x, expected 0x%08x",
                     (unsigned long long)(sector + i), w, p[i * WORDS_PER_SECTOR + w],
                     pattern(sector + i, w));
                return 0;
            }
    return 1;
}

static uint32_t batch_done; /* completions counted by the `done` callback */

static void count_done(pv_blk_req_t *req, void *ctx)
{
    (void)req;
    (void)ctx;
    batch_done++;
}

/*
 * One pass over the disk: batches of `depth` requests of `chunk` sectors, one kick each.
 * type IN verifies what was read; OUT writes the pattern. `poll` suppresses the interrupt and
 * polls for completions instead of sleeping on it.
 */
static void pass(uint32_t type, int poll)
{
    uint64_t cap = blk.capacity;
    uint64_t next = 0;
    const char *what = type == PV_VIRTIO_BLK_T_OUT ? "write" : "read";
    pv_blk_set_polling(&blk, poll);
    while (next < cap && failures == 0) {
        uint32_t n = 0;
        batch_done = 0;
        for (; n < depth && next < cap; n++) {
            uint64_t left = cap - next;
            uint32_t cnt = left < chunk ? (uint32_t)left : chunk;
            pv_blk_req_t *r = &slot[n];
            memset(r, 0, sizeof *r);
            r->type = type;
            r->sector = next;
            r->buf = buf[n];
            r->len = cnt * SECTOR;
            r->done = count_done;
            if (type == PV_VIRTIO_BLK_T_OUT)
                fill(buf[n], next, cnt);
            int32_t q = pv_blk_queue(&blk, r);
            if (q < 0) {
                FAIL("%s: queueing sector %llu: %d", what, (unsigned long long)next, (int)q);
                break;
            }
            next += cnt;
        }
        pv_blk_kick(&blk);
        if (poll) {
            /* Poll; sleep on the request still missing only if the device is slow. */
            for (uint32_t i = 0; i < n; i++) {
                pv_blk_poll(&blk);
                if (!pv_blk_req_done(&slot[i]))
                    pv_blk_wait(&blk, &slot[i]);
            }
        } else {
            pv_blk_wait_all(&blk);
        }
        if (pv_atomic_load(&blk.vdev.needs_reset)) {
            FAIL("%s: device needs reset", what);
            break; /* it stopped: nothing in flight will complete */
        }
        if (batch_done != n)
            FAIL("%s: %u completions for %u requests", what, batch_done, n);
        for (uint32_t i = 0; i < n; i++) {
            pv_blk_req_t *r = &slot[i];
            if (!pv_blk_req_done(r)) {
                FAIL("%s: sector %llu (%u bytes): not completed", what,
                     (unsigned long long)r->sector, r->len);
                continue;
            }
            if (r->result != 0) {
                FAIL("%s: sector %llu (%u bytes): result %d", what,
                     (unsigned long long)r->sector, r->len, (int)r->result);
                continue;
            }
            if (type == PV_VIRTIO_BLK_T_IN)
                verify(buf[i], r->sector, r->len / SECTOR);
        }
    }
    pv_blk_set_polling(&blk, 0);
}

/* A raw request through the submit API; returns its result. */
static int32_t raw(uint32_t type, uint64_t sector, void *data, uint32_t len)
{
    pv_blk_req_t r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.sector = sector;
    r.buf = data;
    r.len = len;
    int32_t q = pv_blk_submit(&blk, &r);
    if (q < 0)
        return q;
    return pv_blk_wait(&blk, &r);
}

static void expect(const char *what, int32_t got, int32_t want)
{
    if (got != want)
        FAIL("%s: got %d, expected %d", what, (int)got, (int)want);
}

static void check_errors(void)
{
    uint64_t cap = blk.capacity;
    uint32_t *b = buf[0];
    expect("read past the end", pv_blk_read(&blk, cap, b, 1), PV_EIO);
    expect("read across the end", pv_blk_read(&blk, cap - 1, b, 2), PV_EIO);
    expect("read of 100 bytes", raw(PV_VIRTIO_BLK_T_IN, 0, b, 100), PV_EIO);
    expect("read of 513 bytes", raw(PV_VIRTIO_BLK_T_IN, 0, b, 513), PV_EIO);
    if (!blk.read_only) {
        fill(b, 1, 2);
        expect("write of 513 bytes", raw(PV_VIRTIO_BLK_T_OUT, 1, b, 513), PV_EIO);
        expect("write past the end", raw(PV_VIRTIO_BLK_T_OUT, cap, b, SECTOR), PV_EIO);
    }
    expect("request type 99", raw(99, 0, NULL, 0), PV_ENOSYS);
}

static void check_last_sector(void)
{
    uint64_t last = blk.capacity - 1;
    uint32_t *b = buf[0];
    if (!blk.read_only) {
        fill(b, last, 1);
        expect("write of the last sector", pv_blk_write(&blk, last, b, 1), 0);
    }
    memset(b, 0, SECTOR);
    int32_t r = pv_blk_read(&blk, last, b, 1);
    expect("read of the last sector", r, 0);
    if (r == 0)
        verify(b, last, 1);
}

static void check_read_only(void)
{
    uint32_t *b = buf[0];
    fill(b, 0, 1);
    expect("pv_blk_write on a read-only disk", pv_blk_write(&blk, 0, b, 1), PV_EPERM);
    expect("raw write on a read-only disk", raw(PV_VIRTIO_BLK_T_OUT, 0, b, SECTOR), PV_EIO);
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char name[16];
    const pv_device_info_t *info;
    if (pv_cmdline_get("disk", name, sizeof name) >= 0)
        info = pv_virtio_find(PV_VIRTIO_ID_BLOCK, name, 0);
    else
        info = pv_virtio_find(PV_VIRTIO_ID_BLOCK, NULL, 0);
    if (info == NULL)
        pv_test_result(PV_TEST_ERROR, "no virtio-blk device");

    chunk = pv_cmdline_u32("chunk", 64);
    depth = pv_cmdline_u32("depth", 8);
    if (chunk < 2 || chunk > 1024 || depth == 0 || depth > MAX_DEPTH)
        pv_test_result(PV_TEST_ERROR, "bad chunk=%u or depth=%u", chunk, depth);

    int32_t r = pv_blk_init(&blk, info, 0);
    if (r < 0)
        pv_test_result(PV_TEST_FAILURE, "pv_blk_init(%s): %d", (const char *)info->name, (int)r);
    if (blk.capacity < 2)
        pv_test_result(PV_TEST_ERROR, "disk of %llu sectors is too small",
                       (unsigned long long)blk.capacity);
    if (blk.blk_size != SECTOR)
        FAIL("blk_size %u, expected %u", blk.blk_size, SECTOR);
    for (uint32_t i = 0; i < depth; i++) {
        buf[i] = pv_alloc(chunk * SECTOR, 16);
        if (buf[i] == NULL)
            pv_test_result(PV_TEST_ERROR, "out of memory for %u x %u sectors", depth, chunk);
    }

    char want[PV_VIRTIO_BLK_ID_BYTES + 1], id[PV_VIRTIO_BLK_ID_BYTES + 1];
    r = pv_blk_get_id(&blk, id);
    if (r != 0)
        FAIL("GET_ID: %d", (int)r);
    else if (pv_cmdline_get("id", want, sizeof want) >= 0 && strcmp(id, want) != 0)
        FAIL("GET_ID: '%s', expected '%s'", id, want);

    if (!blk.read_only) {
        pass(PV_VIRTIO_BLK_T_OUT, 0);
        if (failures == 0)
            expect("flush", pv_blk_flush(&blk), 0);
    }
    uint32_t passes = pv_cmdline_u32("passes", 1);
    for (uint32_t i = 0; i < passes && failures == 0; i++)
        pass(PV_VIRTIO_BLK_T_IN, 1);
    if (failures == 0)
        check_last_sector();
    if (pv_atomic_load(&blk.vdev.needs_reset) == 0) {
        if (blk.read_only)
            check_read_only();
        check_errors();
        if (blk.in_flight != 0)
            FAIL("%u requests still in flight", blk.in_flight);
        if (pv_virtq_num_free(&blk.vq) != blk.vq.num)
            FAIL("%u of %u descriptors free at the end", pv_virtq_num_free(&blk.vq), blk.vq.num);
    }
    if (pv_atomic_load(&blk.vdev.needs_reset) && failures == 0)
        FAIL("the device set DEVICE_NEEDS_RESET");

    if (failures == 0)
        pv_printf("blkcheck: %llu sectors ok%s\n", (unsigned long long)blk.capacity,
                  blk.read_only ? " (read-only)" : "");
    pv_test_exit();
}
