/*
 * msg: two domains exchange messages over the kit's grant-copy channels (pvisor/msg.h).
 *
 *   role=server peer=<client's domid> [count=N size=S mode=both|sync|async frames=F idle=NS mute=1]
 *   role=client peer=<server's domid> [count=N size=S mode=both|sync|async frames=F timeout=NS badref=R]
 *
 * Both open a link on channel 0 (each owns the ring it receives on, F data frames, default 4).
 * Sync phase: the client makes N calls of S bytes (byte j of call i is pat(i, j)); the server
 * echoes each request as the reply; the client times each call in virtual ns and checksums the
 * replies outside the timed part.
 * Async phase: the client queues N messages of S bytes (byte j of message i is
 * pat(0xa5, i % 251 + j), a window into one precomputed buffer, so the sender does no per-byte
 * work) and flushes; the server receives and checksums them and acknowledges the last with an
 * empty message; the client's time runs from its first queue to the acknowledgement.
 * Checksums: FNV-1a over the payload as 32-bit little-endian words (fnv() below), message after
 * message.
 *
 * Output (exact, apart from the measured numbers):
 *   msg: client: sync N calls of S bytes: median M ns, p99 P ns (virtual), reply checksum XXXXXXXX
 *   msg: server: answered N calls of S bytes
 *   msg: client: async N messages of S bytes in T ns (virtual): X.XX MiB/s, G grant copies
 *   msg: server: received N messages of S bytes, checksum XXXXXXXX
 * Failures: `msg: client: call K timed out after T ns (error -110)` (exit 3) when no reply comes
 * within `timeout` ns (default 10 ms); `msg: server: no message K within T ns` (exit 3) after
 * `idle` ns (default 1 s) without one; `mute=1` makes the server take call 1 and power off without
 * answering (`msg: server: mute, not answering call 1`). `badref=R` makes the client send through
 * grant reference R instead of the ring's data references, as a hostile or buggy sender would:
 * `msg: client: call 1 failed: error -14 (grant status G)` (exit 4). `badprod=N` makes the client
 * publish a producer index N bytes beyond what it wrote, as a broken sender would: the server
 * refuses the ring (`msg: server: call 1: error -5`, exit 4) and the client's call times out.
 * Exit 1: bad command line; 2: the link could not be opened.
 */
#include <pvisor/msg.h>
#include <pvisor/pvisor.h>

#define CONNECT_NS 1000000000ull /* virtual time allowed for the peer to appear */

static pv_msg_link_t link;

/* The payload byte j of message i: a hash, so a misplaced or reordered chunk changes the sum. */
static uint8_t pat(uint32_t i, uint32_t j)
{
    uint32_t x = i * 0x9e3779b1u + j * 0x85ebca77u;
    x ^= x >> 15;
    return (uint8_t)x;
}

/*
 * FNV-1a over 32-bit little-endian words (a last partial word zero-extended): a quarter of the
 * loop iterations of the bytewise hash, since the engine charges virtual time per iteration.
 */
static uint32_t fnv(uint32_t h, const uint8_t *p, uint32_t n)
{
    uint32_t k = 0;
    for (; k + 4u <= n; k += 4u) {
        uint32_t w;
        memcpy(&w, p + k, 4);
        h = (h ^ w) * 0x01000193u;
    }
    if (k < n) {
        uint32_t w = 0;
        for (uint32_t b = 0; k + b < n; b++)
            w |= (uint32_t)p[k + b] << (8u * b);
        h = (h ^ w) * 0x01000193u;
    }
    return h;
}

#define FNV_INIT 0x811c9dc5u

/*
 * System time now. The time record is refreshed at VM entries only, so after a stretch of guest
 * work it lags; a no-op hypercall (version) first makes a start timestamp exclude that work.
 */
static uint64_t now_ns(void)
{
    (void)pv_version();
    return pv_time_ns();
}

static void fill(uint8_t *buf, uint32_t i, uint32_t size)
{
    for (uint32_t j = 0; j < size; j++)
        buf[j] = pat(i, j);
}

/* Heap sort (no recursion, no extra memory). */
static void sift(uint32_t *a, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t c = 2u * root + 1u;
        if (c >= n)
            return;
        if (c + 1u < n && a[c + 1u] > a[c])
            c++;
        if (a[root] >= a[c])
            return;
        uint32_t t = a[root];
        a[root] = a[c];
        a[c] = t;
        root = c;
    }
}

static void sort_u32(uint32_t *a, uint32_t n)
{
    for (uint32_t i = n / 2u; i-- > 0;)
        sift(a, i, n);
    for (uint32_t end = n; end-- > 1u;) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(a, 0, end);
    }
}

static int client_sync(uint32_t count, uint32_t size, uint32_t timeout, uint8_t *req, uint8_t *rep)
{
    uint32_t *lat = pv_alloc((size_t)(count ? count : 1u) * 4u, 4);
    if (lat == NULL) {
        pv_printf("msg: client: no memory for %u latencies\n", (unsigned)count);
        return 2;
    }
    uint32_t sum = FNV_INIT;
    for (uint32_t i = 0; i < count; i++) {
        fill(req, i, size);
        uint64_t t0 = now_ns();
        int32_t r = pv_msg_call(&link, req, size, rep, size, timeout);
        uint64_t t1 = pv_time_ns();
        if (r == PV_ETIMEDOUT) {
            pv_printf("msg: client: call %u timed out after %llu ns (error %d)\n", (unsigned)(i + 1u),
                      (unsigned long long)(t1 - t0), (int)r);
            return 3;
        }
        if (r < 0) {
            pv_printf("msg: client: call %u failed: error %d (grant status %d)\n", (unsigned)(i + 1u),
                      (int)r, (int)link.tx.gnt_status);
            return 4;
        }
        if ((uint32_t)r != size) {
            pv_printf("msg: client: call %u: reply of %d bytes, expected %u\n", (unsigned)(i + 1u), (int)r,
                      (unsigned)size);
            return 4;
        }
        lat[i] = t1 - t0 > 0xffffffffu ? 0xffffffffu : (uint32_t)(t1 - t0);
        sum = fnv(sum, rep, size);
    }
    sort_u32(lat, count);
    uint32_t med = count ? lat[count / 2u] : 0;
    uint32_t p99 = count ? lat[(uint32_t)(((uint64_t)count * 99u) / 100u)] : 0;
    pv_printf("msg: client: sync %u calls of %u bytes: median %u ns, p99 %u ns (virtual), reply checksum %08x\n",
              (unsigned)count, (unsigned)size, (unsigned)med, (unsigned)p99, (unsigned)sum);
    return 0;
}

#define WINDOWS 251u /* message i starts at offset i % WINDOWS of the pool */

static int client_async(uint32_t count, uint32_t size)
{
    uint8_t *pool = pv_alloc(size + WINDOWS, 8);
    if (pool == NULL) {
        pv_printf("msg: client: no memory for the payload pool\n");
        return 2;
    }
    for (uint32_t k = 0; k < size + WINDOWS; k++)
        pool[k] = pat(0xa5u, k);
    uint32_t copies0 = link.tx.publishes;
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < count; i++) {
        int32_t r = pv_msg_queue(&link.tx, pool + i % WINDOWS, size, i, 0);
        if (r < 0) {
            pv_printf("msg: client: message %u failed: error %d (grant status %d)\n", (unsigned)(i + 1u),
                      (int)r, (int)link.tx.gnt_status);
            return 4;
        }
    }
    int32_t r = pv_msg_flush(&link.tx);
    uint32_t tag = 0;
    if (r >= 0)
        r = pv_msg_recv(&link.rx, NULL, 0, &tag, pv_time_ns() + CONNECT_NS);
    uint64_t t1 = pv_time_ns();
    if (r < 0 || tag != count) {
        pv_printf("msg: client: no acknowledgement: error %d (tag %u)\n", (int)r, (unsigned)tag);
        return r == PV_ETIMEDOUT ? 3 : 4;
    }
    uint64_t ns = t1 > t0 ? t1 - t0 : 1u;
    uint64_t bytes = (uint64_t)count * size;
    uint64_t bps = bytes * 1000000000ull / ns;
    uint64_t mib100 = bps * 100u / (1024u * 1024u);
    pv_printf("msg: client: async %u messages of %u bytes in %llu ns (virtual): %llu.%02llu MiB/s, %u grant copies\n",
              (unsigned)count, (unsigned)size, (unsigned long long)ns, (unsigned long long)(mib100 / 100u),
              (unsigned long long)(mib100 % 100u), (unsigned)(link.tx.publishes - copies0));
    return 0;
}

static int server_sync(uint32_t count, uint32_t size, uint32_t idle, int mute, uint8_t *req)
{
    for (uint32_t i = 0; i < count; i++) {
        uint32_t tag;
        int32_t r = pv_msg_recv(&link.rx, req, size, &tag, pv_time_ns() + idle);
        if (r < 0) {
            if (r == PV_ETIMEDOUT)
                pv_printf("msg: server: no message %u within %u ns\n", (unsigned)(i + 1u), (unsigned)idle);
            else
                pv_printf("msg: server: call %u: error %d\n", (unsigned)(i + 1u), (int)r);
            return r == PV_ETIMEDOUT ? 3 : 4;
        }
        if (mute) {
            pv_printf("msg: server: mute, not answering call %u\n", (unsigned)(i + 1u));
            return 0;
        }
        r = pv_msg_reply(&link, tag, req, (uint32_t)r, pv_time_ns() + idle);
        if (r < 0) {
            pv_printf("msg: server: reply %u: error %d (grant status %d)\n", (unsigned)(i + 1u), (int)r,
                      (int)link.tx.gnt_status);
            return 4;
        }
    }
    pv_printf("msg: server: answered %u calls of %u bytes\n", (unsigned)count, (unsigned)size);
    return 0;
}

static int server_async(uint32_t count, uint32_t size, uint32_t idle, uint8_t *buf)
{
    uint32_t sum = FNV_INIT;
    for (uint32_t i = 0; i < count; i++) {
        int32_t r = pv_msg_recv(&link.rx, buf, size, NULL, pv_time_ns() + idle);
        if (r < 0) {
            if (r == PV_ETIMEDOUT)
                pv_printf("msg: server: no message %u within %u ns\n", (unsigned)(i + 1u), (unsigned)idle);
            else
                pv_printf("msg: server: message %u: error %d\n", (unsigned)(i + 1u), (int)r);
            return r == PV_ETIMEDOUT ? 3 : 4;
        }
        if ((uint32_t)r != size) {
            pv_printf("msg: server: message %u has %d bytes, expected %u\n", (unsigned)(i + 1u), (int)r,
                      (unsigned)size);
            return 4;
        }
        sum = fnv(sum, buf, size);
    }
    int32_t r = pv_msg_send(&link.tx, NULL, 0, count, pv_time_ns() + idle);
    if (r < 0) {
        pv_printf("msg: server: acknowledgement: error %d\n", (int)r);
        return 4;
    }
    pv_printf("msg: server: received %u messages of %u bytes, checksum %08x\n", (unsigned)count,
              (unsigned)size, (unsigned)sum);
    return 0;
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char role[8], mode[8] = "both";
    int n = pv_cmdline_get("role", role, sizeof role);
    uint32_t peer = pv_cmdline_u32("peer", 0xffffffffu);
    uint32_t count = pv_cmdline_u32("count", 1000u);
    uint32_t size = pv_cmdline_u32("size", 64u);
    uint32_t frames = pv_cmdline_u32("frames", 4u);
    uint32_t timeout = pv_cmdline_u32("timeout", 10000000u);
    uint32_t idle = pv_cmdline_u32("idle", 1000000000u);
    uint32_t mute = pv_cmdline_u32("mute", 0u);
    uint32_t badref = pv_cmdline_u32("badref", 0xffffffffu);
    uint32_t badprod = pv_cmdline_u32("badprod", 0u);
    int m = pv_cmdline_get("mode", mode, sizeof mode);
    int server = n >= 0 && strcmp(role, "server") == 0;
    int client = n >= 0 && strcmp(role, "client") == 0;
    int sync = m < 0 || strcmp(mode, "both") == 0 || strcmp(mode, "sync") == 0;
    int async = m < 0 || strcmp(mode, "both") == 0 || strcmp(mode, "async") == 0;
    if ((!server && !client) || peer == 0xffffffffu || (!sync && !async)) {
        pv_puts("msg: usage: role=server|client peer=<domid> [count=N size=S mode=both|sync|async frames=F]");
        return 1;
    }
    const char *who = server ? "server" : "client";
    int32_t r = pv_msg_link_open(&link, peer, 0, frames, pv_time_ns() + CONNECT_NS);
    if (r < 0) {
        pv_printf("msg: %s: cannot open the link with domain %u: error %d (grant status %d)\n", who,
                  (unsigned)peer, (int)r, (int)link.tx.gnt_status);
        return 2;
    }
    if (size > pv_msg_max_len(&link.tx) || size > link.rx.size - PV_MSG_REC_HDR) {
        pv_printf("msg: %s: size=%u is above the ring's largest message (%u bytes)\n", who, (unsigned)size,
                  (unsigned)pv_msg_max_len(&link.tx));
        return 1;
    }
    uint8_t *a = pv_alloc(size ? size : 1u, 8);
    uint8_t *b = pv_alloc(size ? size : 1u, 8);
    if (a == NULL || b == NULL) {
        pv_printf("msg: %s: no memory for %u-byte buffers\n", who, (unsigned)size);
        return 2;
    }
    if (client && badref != 0xffffffffu)
        link.tx.data_ref = badref; /* behave like a sender that names a reference it was not given */
    if (client && badprod != 0) {
        /* Behave like a sender whose producer index is corrupt: skip N bytes it never wrote. */
        link.tx.prod += badprod;
        link.tx.pub += badprod;
    }
    int rc = 0;
    if (sync)
        rc = server ? server_sync(count, size, idle, mute != 0, a) : client_sync(count, size, timeout, a, b);
    if (rc == 0 && async && !(server && mute))
        rc = server ? server_async(count, size, idle, a) : client_async(count, size);
    return rc;
}
