/*
 * net workload: a windowed one-way stream of frames with deterministic payloads between two
 * domains on one switch; the sink verifies every payload.
 *
 * Command line:
 *   role=send|sink   (required)
 *   count=<n>        data frames (default 100000)
 *   size=<n>         bytes per data frame, Ethernet header included (default 1500; 64..1514)
 *   window=<n>       the sink acknowledges every `window` frames and tells the sender, which
 *                    keeps at most 2 x window unacknowledged (default: what the sink's receive
 *                    ring holds without loss, halved, at most 64)
 *   seed=<n>         payload seed (default 1; give both sides the same)
 *
 * Protocol (EtherType 0x88B5, local experimental): byte 14 the kind — 1 HELLO (sink to
 * broadcast, le32 window at 16, repeated every 10 ms until data flows), 2 DATA (le32 sequence
 * number at 16, payload from byte 20), 3 ACK (sink to sender, le32 frames received in order).
 * Payload byte j of frame q is byte j % 4 of the 32-bit word mix(seed, q, j / 4).
 *
 * The sink checks size, sequence and every payload byte, and both sides take the CRC-32 of all
 * payloads in sequence order — the same number when nothing was lost or damaged.
 *
 * Output: sender "net: sent <n> frames of <s> bytes, payload crc32 0x<..>"; sink "net: received
 * <n> frames of <s> bytes in order, payload crc32 0x<..>". Exit 0; 1 on a gap, bad size, bad
 * payload or a stall (2 s of virtual time without progress): "net: FAILED: ..."; 2 on a bad
 * command line or no NIC.
 */
#include "../wl.h"

#define ETHERTYPE 0x88B5u
#define KIND_HELLO 1u
#define KIND_DATA 2u
#define KIND_ACK 3u
#define HDR 20u
#define MIN_FRAME 64u
#define STALL_MS 2000u
#define HELLO_MS 10u

static uint8_t mac[6], peer[6];
static uint32_t seed;
static uint32_t payload_words[(1514u - HDR + 3u) / 4u];

static uint32_t mix(uint32_t q, uint32_t k)
{
    uint32_t x = q * 0x9E3779B1u ^ seed * 0xC2B2AE3Du ^ k * 0x27D4EB2Fu;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 13;
    return x;
}

/* The payload of frame q (len bytes) into payload_words. */
static void payload(uint32_t q, uint32_t len)
{
    for (uint32_t k = 0; k < (len + 3) / 4; k++)
        payload_words[k] = mix(q, k);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int is_ours(const uint8_t *f, uint32_t len)
{
    return len >= HDR && f[12] == (uint8_t)(ETHERTYPE >> 8) && f[13] == (uint8_t)ETHERTYPE;
}

/* Builds and sends one frame; `body` (len - HDR bytes) follows the header when not NULL. */
static int send(const uint8_t *dst, uint32_t kind, uint32_t value, const void *body, uint32_t len)
{
    uint8_t *f = wl_net_tx_get();
    if (f == NULL)
        return -1;
    for (int i = 0; i < 6; i++) {
        f[i] = dst[i];
        f[6 + i] = mac[i];
    }
    f[12] = (uint8_t)(ETHERTYPE >> 8);
    f[13] = (uint8_t)ETHERTYPE;
    f[14] = (uint8_t)kind;
    f[15] = 0;
    put_le32(f + 16, value);
    if (body != NULL)
        memcpy(f + HDR, body, len - HDR);
    else
        memset(f + HDR, 0, len - HDR);
    return wl_net_tx_put(f, len);
}

/* ---- sink ---- */

struct sink {
    uint32_t expected, size, bad_size, gaps, bad_payload, crc;
    int have_peer;
};

static void on_sink_frame(const uint8_t *f, uint32_t len, void *ctx)
{
    struct sink *s = ctx;
    if (!is_ours(f, len) || f[14] != KIND_DATA)
        return;
    if (!s->have_peer) {
        memcpy(peer, f + 6, 6);
        s->have_peer = 1;
    }
    uint32_t q = get_le32(f + 16);
    if (len != s->size) {
        s->bad_size++;
        return;
    }
    if (q != s->expected) {
        s->gaps++;
        return;
    }
    payload(q, len - HDR);
    if (memcmp(f + HDR, payload_words, len - HDR) != 0)
        s->bad_payload++;
    s->crc = wl_crc32(s->crc, f + HDR, len - HDR);
    s->expected = q + 1;
}

static int run_sink(uint32_t count, uint32_t size, uint32_t window)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct sink s = {0};
    s.size = size;
    uint32_t acked = 0;
    uint64_t last_progress = wl_ms();
    while (s.expected < count || acked < s.expected) {
        if (!s.have_peer) {
            send(bcast, KIND_HELLO, window, NULL, MIN_FRAME);
            wl_net_kick();
        }
        int n = wl_net_rx_burst(on_sink_frame, &s, 64);
        if (n < 0) {
            wl_printf("net: FAILED: receive error %d\n", n);
            return 1;
        }
        if (s.gaps != 0 || s.bad_size != 0 || s.bad_payload != 0) {
            wl_printf("net: FAILED: %u out of order, %u of the wrong size, %u damaged (at frame %u)\n", (unsigned)s.gaps,
                      (unsigned)s.bad_size, (unsigned)s.bad_payload, (unsigned)s.expected);
            return 1;
        }
        if (s.have_peer && (s.expected - acked >= window || (s.expected >= count && acked < s.expected))) {
            acked = s.expected;
            send(peer, KIND_ACK, acked, NULL, MIN_FRAME);
            wl_net_kick();
        }
        uint64_t now = wl_ms();
        if (n > 0)
            last_progress = now;
        else if (now - last_progress > STALL_MS) {
            wl_printf("net: FAILED: stalled at frame %u of %u\n", (unsigned)s.expected, (unsigned)count);
            return 1;
        }
        if (n == 0 && (s.expected < count || acked < s.expected))
            wl_net_wait(s.have_peer ? STALL_MS : HELLO_MS);
    }
    wl_printf("net: received %u frames of %u bytes in order, payload crc32 0x%08x\n", (unsigned)count, (unsigned)size,
              (unsigned)s.crc);
    return 0;
}

/* ---- sender ---- */

struct sender {
    uint32_t acked, window;
    int have_peer;
};

static void on_sender_frame(const uint8_t *f, uint32_t len, void *ctx)
{
    struct sender *s = ctx;
    if (!is_ours(f, len))
        return;
    if (f[14] == KIND_HELLO && !s->have_peer) {
        memcpy(peer, f + 6, 6);
        s->window = get_le32(f + 16);
        s->have_peer = 1;
    } else if (f[14] == KIND_ACK && get_le32(f + 16) > s->acked) {
        s->acked = get_le32(f + 16);
    }
}

static int run_sender(uint32_t count, uint32_t size)
{
    struct sender s = {0};
    uint64_t start = wl_ms();
    while (!s.have_peer) {
        if (wl_net_rx_burst(on_sender_frame, &s, 64) < 0) {
            wl_printf("net: FAILED: receive error\n");
            return 1;
        }
        if (s.have_peer)
            break;
        if (wl_ms() - start > STALL_MS) {
            wl_printf("net: FAILED: no HELLO from a sink\n");
            return 1;
        }
        wl_net_wait(STALL_MS);
    }
    if (s.window == 0)
        s.window = 1;
    uint32_t sent = 0, crc = 0;
    while (s.acked < count) {
        while (sent < count && sent - s.acked < 2u * s.window) {
            uint8_t *f = wl_net_tx_get();
            if (f == NULL) {
                wl_printf("net: FAILED: transmit error\n");
                return 1;
            }
            for (int i = 0; i < 6; i++) {
                f[i] = peer[i];
                f[6 + i] = mac[i];
            }
            f[12] = (uint8_t)(ETHERTYPE >> 8);
            f[13] = (uint8_t)ETHERTYPE;
            f[14] = KIND_DATA;
            f[15] = 0;
            put_le32(f + 16, sent);
            payload(sent, size - HDR);
            memcpy(f + HDR, payload_words, size - HDR);
            crc = wl_crc32(crc, f + HDR, size - HDR);
            if (wl_net_tx_put(f, size) < 0) {
                wl_printf("net: FAILED: transmit error\n");
                return 1;
            }
            sent++;
            if ((sent & 31u) == 0)
                wl_net_kick();
        }
        wl_net_kick();
        uint32_t before = s.acked;
        uint64_t t0 = wl_ms();
        while (s.acked == before) {
            int n = wl_net_rx_burst(on_sender_frame, &s, 64);
            if (n < 0) {
                wl_printf("net: FAILED: receive error\n");
                return 1;
            }
            if (s.acked != before)
                break;
            if (wl_ms() - t0 > STALL_MS) {
                wl_printf("net: FAILED: no acknowledgement after %u of %u frames\n", (unsigned)s.acked, (unsigned)count);
                return 1;
            }
            if (n == 0)
                wl_net_wait(STALL_MS);
        }
    }
    wl_printf("net: sent %u frames of %u bytes, payload crc32 0x%08x\n", (unsigned)count, (unsigned)size, (unsigned)crc);
    return 0;
}

int wl_main(void)
{
    char role[8] = "";
    wl_arg_str("role", role, sizeof role);
    uint32_t count = wl_arg_u32("count", 100000);
    uint32_t size = wl_arg_u32("size", 1500);
    seed = wl_arg_u32("seed", 1);
    int sink = strcmp(role, "sink") == 0;
    if (!sink && strcmp(role, "send") != 0) {
        wl_printf("net: role=sink or role=send\n");
        return 2;
    }
    if (wl_net_init(mac) != 0) {
        wl_printf("net: no usable NIC\n");
        return 2;
    }
    if (size < MIN_FRAME || size > wl_net_frame_max() || size > 1514u) {
        wl_printf("net: size %u does not fit (64..%u)\n", (unsigned)size, (unsigned)(wl_net_frame_max() < 1514u ? wl_net_frame_max() : 1514u));
        return 2;
    }
    if (!sink)
        return run_sender(count, size);
    uint32_t window = wl_net_rx_capacity(size) / 2;
    if (window > 64)
        window = 64;
    window = wl_arg_u32("window", window);
    if (window == 0) {
        wl_printf("net: window must be at least 1\n");
        return 2;
    }
    return run_sink(count, size, window);
}
