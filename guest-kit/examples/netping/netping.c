/*
 * netping: two domains on one virtual switch ping each other through the kit's virtio-net
 * driver (virtio_net.h), with hand-built ARP, IPv4 and ICMP.
 *
 * Addressing is fixed: the responder is 10.0.0.1, the pinger 10.0.0.2.
 *
 * Command line:
 *   role=responder [count=N]        answers ARP requests for 10.0.0.1 and ICMP echo requests to
 *                                   it; powers off after answering N (default 4) echo requests
 *   role=pinger [count=N] [ip=A.B.C.D]   ARPs for the peer (default ip 10.0.0.1; retried every
 *                                   10 ms, up to 10 times), sends N (default 4) echo requests
 *                                   (id 0x7076, seq 1..N, 56-byte payload derived from seq), one
 *                                   at a time, and checks each reply: IPv4 and ICMP checksums,
 *                                   addresses, id, seq, payload
 *
 * Output:
 *   responder: "netping: responder answered A ARP, N echo requests", poweroff 0
 *   pinger:    "netping: N/N replies ok", "Test result: SUCCESS" (FAILURE: crash 5; ERROR: no
 *              NIC or no ARP answer, crash 4)
 */
#include <pvisor/pvisor.h>
#include <pvisor/virtio_net.h>

#define ETH_P_IP 0x0800u
#define ETH_P_ARP 0x0806u
#define IP_HLEN 20u
#define ICMP_HLEN 8u
#define PAYLOAD 56u
#define ICMP_ID 0x7076u
#define RESPONDER_IP 0x0a000001u /* 10.0.0.1 */
#define PINGER_IP 0x0a000002u    /* 10.0.0.2 */

static pv_net_t net;
static uint8_t rx[PV_NET_FRAME_MAX];
static uint8_t tx[PV_NET_FRAME_MAX];
static uint32_t my_ip;

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

/** The Internet checksum (RFC 1071) of `len` bytes: 0 over data that includes a valid one. */
static uint16_t csum(const uint8_t *p, uint32_t len)
{
    uint32_t s = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        s += get16(p + i);
    if (len & 1u)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)~s;
}

static void eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, net.mac, 6);
    put16(f + 12, type);
}

/* ARP for IPv4 over Ethernet (RFC 826): 28 bytes after the Ethernet header. */
static uint32_t arp_frame(uint8_t *f, uint16_t op, const uint8_t *eth_dst, const uint8_t *tha, uint32_t tpa)
{
    eth_header(f, eth_dst, ETH_P_ARP);
    uint8_t *a = f + PV_ETH_HLEN;
    put16(a, 1);          /* htype Ethernet */
    put16(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, net.mac, 6);
    put32(a + 14, my_ip);
    memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    return PV_ETH_HLEN + 28u;
}

static int is_arp(const uint8_t *f, int32_t n, uint16_t op)
{
    const uint8_t *a = f + PV_ETH_HLEN;
    return n >= (int32_t)(PV_ETH_HLEN + 28u) && get16(f + 12) == ETH_P_ARP && get16(a) == 1 &&
           get16(a + 2) == ETH_P_IP && a[4] == 6 && a[5] == 4 && get16(a + 6) == op &&
           get32(a + 24) == my_ip;
}

/* The ICMP message of an IPv4 frame to us with valid header checksum, or NULL; *icmp_len set. */
static uint8_t *icmp_of(uint8_t *f, int32_t n, uint32_t *icmp_len, uint32_t *src)
{
    if (n < (int32_t)(PV_ETH_HLEN + IP_HLEN + ICMP_HLEN) || get16(f + 12) != ETH_P_IP)
        return NULL;
    uint8_t *ip = f + PV_ETH_HLEN;
    uint32_t ihl = (ip[0] & 15u) * 4u;
    uint32_t tot = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < IP_HLEN || tot > (uint32_t)n - PV_ETH_HLEN || tot < ihl + ICMP_HLEN)
        return NULL;
    if (ip[9] != 1 || get32(ip + 16) != my_ip || csum(ip, ihl) != 0)
        return NULL;
    if ((get16(ip + 6) & 0x3fffu) != 0) /* fragments: not ours to handle */
        return NULL;
    *icmp_len = tot - ihl;
    *src = get32(ip + 12);
    return ip + ihl;
}

/* Builds an IPv4 + ICMP frame around an ICMP message already at tx + 34 (checksum computed here). */
static uint32_t ip_icmp_frame(const uint8_t *dst_mac, uint32_t dst_ip, uint32_t icmp_len, uint16_t ip_id)
{
    eth_header(tx, dst_mac, ETH_P_IP);
    uint8_t *ip = tx + PV_ETH_HLEN;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, IP_HLEN + icmp_len);
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = 1;
    put16(ip + 10, 0);
    put32(ip + 12, my_ip);
    put32(ip + 16, dst_ip);
    put16(ip + 10, csum(ip, IP_HLEN));
    uint8_t *icmp = ip + IP_HLEN;
    put16(icmp + 2, 0);
    put16(icmp + 2, csum(icmp, icmp_len));
    return PV_ETH_HLEN + IP_HLEN + icmp_len;
}

static int responder(uint32_t count)
{
    uint32_t arps = 0, echoes = 0;
    while (echoes < count) {
        int32_t n = pv_net_recv(&net, rx, sizeof rx);
        if (n < 0)
            pv_panic("netping: receive failed: %d", (int)n);
        if (is_arp(rx, n, 1)) {
            const uint8_t *a = rx + PV_ETH_HLEN;
            uint32_t len = arp_frame(tx, 2, a + 8, a + 8, get32(a + 14));
            pv_net_send(&net, tx, len);
            arps++;
            continue;
        }
        uint32_t ilen, src;
        uint8_t *icmp = icmp_of(rx, n, &ilen, &src);
        if (icmp == NULL || icmp[0] != 8 || icmp[1] != 0 || csum(icmp, ilen) != 0)
            continue;
        memcpy(tx + PV_ETH_HLEN + IP_HLEN, icmp, ilen);
        tx[PV_ETH_HLEN + IP_HLEN] = 0; /* echo reply, same id/seq/data */
        uint32_t len = ip_icmp_frame(rx + 6, src, ilen, (uint16_t)(echoes + 1));
        pv_net_send(&net, tx, len);
        echoes++;
    }
    pv_printf("netping: responder answered %u ARP, %u echo requests\n", (unsigned)arps, (unsigned)echoes);
    return 0;
}

static uint8_t payload_byte(uint32_t seq, uint32_t i)
{
    return (uint8_t)(seq * 31u + i);
}

static uint32_t parse_ip(const char *s)
{
    uint32_t ip = 0;
    for (int part = 0; part < 4; part++) {
        uint32_t v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            v = v * 10u + (uint32_t)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || v > 255 || (part < 3 ? *s != '.' : *s != '\0'))
            return 0;
        if (part < 3)
            s++;
        ip = ip << 8 | v;
    }
    return ip;
}

static int pinger(uint32_t count, uint32_t peer_ip)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[6] = {0};
    uint8_t peer_mac[6];
    int found = 0;
    for (int tries = 0; tries < 10 && !found; tries++) {
        pv_net_send(&net, tx, arp_frame(tx, 1, bcast, zero, peer_ip));
        uint64_t deadline = pv_time_ns() + 10000000ull;
        int32_t n;
        while ((n = pv_net_recv_until(&net, rx, sizeof rx, deadline)) >= 0) {
            if (is_arp(rx, n, 2) && get32(rx + PV_ETH_HLEN + 14) == peer_ip) {
                memcpy(peer_mac, rx + PV_ETH_HLEN + 8, 6);
                found = 1;
                break;
            }
        }
    }
    if (!found)
        pv_test_result(PV_TEST_ERROR, "no ARP reply from the peer");

    uint32_t ok = 0;
    for (uint32_t seq = 1; seq <= count; seq++) {
        uint8_t *icmp = tx + PV_ETH_HLEN + IP_HLEN;
        icmp[0] = 8;
        icmp[1] = 0;
        put16(icmp + 4, ICMP_ID);
        put16(icmp + 6, seq);
        for (uint32_t i = 0; i < PAYLOAD; i++)
            icmp[ICMP_HLEN + i] = payload_byte(seq, i);
        pv_net_send(&net, tx, ip_icmp_frame(peer_mac, peer_ip, ICMP_HLEN + PAYLOAD, (uint16_t)seq));
        uint64_t deadline = pv_time_ns() + 100000000ull;
        for (;;) {
            int32_t n = pv_net_recv_until(&net, rx, sizeof rx, deadline);
            if (n == PV_ETIMEDOUT) {
                pv_test_note(PV_TEST_FAILURE, "seq %u: no reply", (unsigned)seq);
                break;
            }
            if (n < 0)
                pv_test_result(PV_TEST_FAILURE, "receive failed: %d", (int)n);
            uint32_t ilen, src;
            uint8_t *r = icmp_of(rx, n, &ilen, &src);
            if (r == NULL || r[0] != 0 || src != peer_ip)
                continue; /* not an echo reply from the peer */
            int good = r[1] == 0 && csum(r, ilen) == 0 && ilen == ICMP_HLEN + PAYLOAD &&
                       get16(r + 4) == ICMP_ID && get16(r + 6) == seq;
            for (uint32_t i = 0; good && i < PAYLOAD; i++)
                good = r[ICMP_HLEN + i] == payload_byte(seq, i);
            if (good)
                ok++;
            else
                pv_test_note(PV_TEST_FAILURE, "seq %u: bad reply", (unsigned)seq);
            break;
        }
    }
    pv_printf("netping: %u/%u replies ok\n", (unsigned)ok, (unsigned)count);
    if (ok != count)
        pv_test_result(PV_TEST_FAILURE, "%u of %u replies missing or wrong", (unsigned)(count - ok), (unsigned)count);
    pv_test_result(PV_TEST_SUCCESS, NULL);
    return 0;
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char role[16], ipbuf[20];
    if (pv_cmdline_get("role", role, sizeof role) < 0)
        role[0] = '\0';
    int is_pinger = strcmp(role, "pinger") == 0;
    if (!is_pinger && strcmp(role, "responder") != 0)
        pv_test_result(PV_TEST_ERROR, "role=responder or role=pinger");
    uint32_t count = pv_cmdline_u32("count", 4);
    uint32_t peer = RESPONDER_IP;
    if (pv_cmdline_get("ip", ipbuf, sizeof ipbuf) >= 0 && (peer = parse_ip(ipbuf)) == 0)
        pv_test_result(PV_TEST_ERROR, "bad ip=%s", ipbuf);
    my_ip = is_pinger ? PINGER_IP : RESPONDER_IP;
    int32_t r = pv_net_init(&net, NULL, 0);
    if (r < 0)
        pv_test_result(PV_TEST_ERROR, r == PV_ESRCH ? "no virtio-net device" : "virtio-net init failed");
    return is_pinger ? pinger(count, peer) : responder(count);
}
