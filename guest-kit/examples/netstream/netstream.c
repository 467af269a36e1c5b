/*
 * netstream: a windowed one-way frame stream between two domains through the kit's zero-copy
 * virtio-net calls (pv_net_tx_get/put, pv_net_rx_burst), the guest half of `npm run
 * bench:virtio` (the host times the run).
 *
 * Command line:
 *   role=sink|send   (required)
 *   count=<n>        data frames (default 10000)
 *   size=<n>         bytes per data frame, Ethernet header included (default 1500; 64..65550,
 *                    and at most what the NIC's MTU allows)
 *   window=<n>       the sink acknowledges every `window` frames; the sender keeps at most
 *                    2 x window unacknowledged (default 64; the sink's receive queue plus the
 *                    device's FIFO must hold 2 x window frames, so nothing is dropped)
 *   qsize=<n>        queue size of both queues (default 256; 64 KiB frames want fewer)
 *   warmup=<n>       extra data frames sent first (default 0; give both sides the same value);
 *                    once it has them the sink prints "netstream: warm" — the host's JIT has
 *                    compiled the hot paths by then, and a benchmark times from that line to
 *                    the sink's last one
 *
 * Protocol (EtherType 0x88B5, local experimental): byte 14 is the kind — 1 HELLO (sink →
 * broadcast, repeated every millisecond until data flows: the sender learns the sink's MAC),
 * 2 DATA (sender → sink, le32 sequence number at 16, from 0), 3 ACK (sink → sender, le32 count
 * of data frames received in order at 16).
 *
 * The sink checks that every data frame has the right size and the next sequence number (no
 * loss, no reordering, no duplicates) and counts the bytes. Neither side touches the payload.
 *
 * Output: sender "netstream: sent N frames of S bytes", sink "netstream: received N frames of
 * S bytes in order", poweroff 0. A gap, a wrong size or a timeout (1 s of virtual time without
 * progress): "netstream: FAILED ..." and exit code 1. No NIC: exit 2.
 */
#include <pvisor/pvisor.h>
#include <pvisor/virtio_net.h>

#define ETHERTYPE 0x88b5u
#define KIND_HELLO 1u
#define KIND_DATA 2u
#define KIND_ACK 3u
#define MIN_FRAME 64u
#define STALL_NS 1000000000ull

static pv_net_t net;
static uint8_t peer[PV_ETH_ALEN];

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

/* Queues one control or data frame of `len` bytes (built in the driver's buffer). */
static int32_t queue(const uint8_t *dst, uint32_t kind, uint32_t value, uint32_t len)
{
    uint8_t *f = pv_net_tx_get(&net);
    if (f == NULL)
        return PV_EIO;
    memcpy(f, dst, PV_ETH_ALEN);
    memcpy(f + 6, net.mac, PV_ETH_ALEN);
    f[12] = (uint8_t)(ETHERTYPE >> 8);
    f[13] = (uint8_t)ETHERTYPE;
    f[14] = (uint8_t)kind;
    put_le32(f + 16, value);
    return pv_net_tx_put(&net, f, len);
}

/* ---- sink ---- */

struct sink {
    uint32_t expected, size, bad_size, gaps, window;
    uint64_t bytes;
    int have_peer;
};

static void on_sink_frame(const uint8_t *f, uint32_t len, void *ctx)
{
    struct sink *s = ctx;
    if (len < 20 || f[12] != (uint8_t)(ETHERTYPE >> 8) || f[13] != (uint8_t)ETHERTYPE || f[14] != KIND_DATA)
        return;
    if (!s->have_peer) {
        memcpy(peer, f + 6, PV_ETH_ALEN);
        s->have_peer = 1;
    }
    if (len != s->size)
        s->bad_size++;
    if (get_le32(f + 16) != s->expected)
        s->gaps++;
    s->expected = get_le32(f + 16) + 1u;
    s->bytes += len;
}

static int run_sink(uint32_t count, uint32_t warm, uint32_t size, uint32_t window)
{
    static const uint8_t bcast[PV_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct sink s = {0};
    s.size = size;
    s.window = window;
    uint32_t acked = 0;
    uint64_t last_progress = pv_time_ns();
    int said_warm = warm == 0;
    count += warm;
    while (s.expected < count || acked < s.expected) {
        if (!s.have_peer) {
            queue(bcast, KIND_HELLO, 0, MIN_FRAME);
            pv_net_kick(&net);
        }
        int32_t n = pv_net_rx_burst(&net, on_sink_frame, &s, 64);
        if (n < 0) {
            pv_printf("netstream: FAILED: receive error %d\n", (int)n);
            return 1;
        }
        if (s.gaps != 0 || s.bad_size != 0) {
            pv_printf("netstream: FAILED: %u out-of-order frames, %u of the wrong size (at %u)\n", (unsigned)s.gaps,
                      (unsigned)s.bad_size, (unsigned)s.expected);
            return 1;
        }
        if (!said_warm && s.expected >= warm) {
            said_warm = 1;
            pv_puts("netstream: warm");
        }
        /* Acknowledge each full window, and the end. */
        if (s.have_peer && (s.expected - acked >= window || (s.expected >= count && acked < s.expected))) {
            acked = s.expected;
            queue(peer, KIND_ACK, acked, MIN_FRAME);
            pv_net_kick(&net);
        }
        uint64_t now = pv_time_ns();
        if (n > 0)
            last_progress = now;
        else if (now - last_progress > STALL_NS) {
            pv_printf("netstream: FAILED: stalled at frame %u of %u\n", (unsigned)s.expected, (unsigned)count);
            return 1;
        }
        if (n == 0 && (s.expected < count || acked < s.expected))
            pv_net_rx_wait(&net, s.have_peer ? now + STALL_NS : now + 1000000u);
    }
    pv_printf("netstream: received %u frames of %u bytes in order\n", (unsigned)(count - warm), (unsigned)size);
    return 0;
}

/* ---- sender ---- */

struct sender {
    uint32_t acked;
    int have_peer;
};

static void on_sender_frame(const uint8_t *f, uint32_t len, void *ctx)
{
    struct sender *s = ctx;
    if (len < 20 || f[12] != (uint8_t)(ETHERTYPE >> 8) || f[13] != (uint8_t)ETHERTYPE)
        return;
    if (f[14] == KIND_HELLO && !s->have_peer) {
        memcpy(peer, f + 6, PV_ETH_ALEN);
        s->have_peer = 1;
    } else if (f[14] == KIND_ACK && get_le32(f + 16) > s->acked) {
        s->acked = get_le32(f + 16);
    }
}

static int run_sender(uint32_t count, uint32_t warm, uint32_t size, uint32_t window)
{
    struct sender s = {0};
    count += warm;
    while (!s.have_peer) {
        if (pv_net_rx_wait(&net, pv_time_ns() + STALL_NS) < 0) {
            pv_puts("netstream: FAILED: no HELLO from a sink");
            return 1;
        }
        pv_net_rx_burst(&net, on_sender_frame, &s, 64);
    }
    uint32_t sent = 0;
    while (s.acked < count) {
        while (sent < count && sent - s.acked < 2u * window) {
            if (queue(peer, KIND_DATA, sent, size) < 0) {
                pv_puts("netstream: FAILED: transmit error");
                return 1;
            }
            sent++;
            if ((sent & 31u) == 0)
                pv_net_kick(&net);
        }
        pv_net_kick(&net);
        uint32_t before = s.acked;
        while (s.acked == before) {
            if (pv_net_rx_wait(&net, pv_time_ns() + STALL_NS) < 0) {
                pv_printf("netstream: FAILED: no acknowledgement after %u of %u frames\n", (unsigned)s.acked, (unsigned)count);
                return 1;
            }
            pv_net_rx_burst(&net, on_sender_frame, &s, 64);
        }
    }
    pv_printf("netstream: sent %u frames of %u bytes\n", (unsigned)(count - warm), (unsigned)size);
    return 0;
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char role[8] = "";
    pv_cmdline_get("role", role, sizeof role);
    uint32_t count = pv_cmdline_u32("count", 10000);
    uint32_t size = pv_cmdline_u32("size", 1500);
    uint32_t window = pv_cmdline_u32("window", 64);
    uint32_t qsize = pv_cmdline_u32("qsize", 256);
    uint32_t warm = pv_cmdline_u32("warmup", 0);
    int sink = strcmp(role, "sink") == 0;
    if (!sink && strcmp(role, "send") != 0) {
        pv_puts("netstream: role=sink or role=send");
        return 2;
    }
    uint32_t buf = size + PV_VIRTIO_NET_HDR_LEN > PV_NET_BUF_SIZE ? size + PV_VIRTIO_NET_HDR_LEN : PV_NET_BUF_SIZE;
    int32_t r = pv_net_init_ex(&net, NULL, qsize, buf);
    if (r < 0) {
        pv_printf("netstream: no usable NIC (%d)\n", (int)r);
        return 2;
    }
    if (size < MIN_FRAME || size > net.frame_max || size > (uint32_t)net.mtu + PV_ETH_HLEN || window == 0) {
        pv_printf("netstream: size %u does not fit (64..%u with MTU %u), or window is 0\n", (unsigned)size,
                  (unsigned)((uint32_t)net.mtu + PV_ETH_HLEN), (unsigned)net.mtu);
        return 2;
    }
    return sink ? run_sink(count, warm, size, window) : run_sender(count, warm, size, window);
}
