/*
 * pingpong: two domains bounce an event over an inter-domain event channel.
 *
 *   role=ping peer=<pong's domid> count=<N>     prints "ping: N round trips"
 *   role=pong peer=<ping's domid> count=<N>     prints "pong: N events"
 *
 * Rendezvous without a store: ping allocates an unbound port for pong (`evtchn_alloc_unbound`)
 * and waits (yielding) until `evtchn_status` says the port is INTERDOMAIN. Pong does not know the
 * port number: it tries `evtchn_bind_interdomain(peer, p)` for p = 1 .. PROBE_PORTS (only ping's
 * unbound port for pong can succeed; the others, and every port before ping has allocated it,
 * give -EINVAL, a domain not created yet -ESRCH) and yields between rounds.
 * Then ping sends and blocks until pong's reply has been handled, N times; pong answers each event.
 * Both power off with 0 (1 on a bad command line, 2 if the channel cannot be set up).
 */
#include <pvisor/pvisor.h>

#define PROBE_PORTS 16u
#define MAX_ROUNDS 100000u /* rendezvous attempts before giving up */

static uint32_t events; /* handled events on our port (vCPU 0 only) */

static void on_event(uint32_t port, void *ctx)
{
    (void)port;
    (void)ctx;
    pv_atomic_fetch_add(&events, 1u);
}

static int ping(uint32_t peer, uint32_t count)
{
    int32_t port = pv_bind_unbound(peer, on_event, NULL);
    if (port < 0) {
        pv_printf("ping: evtchn_alloc_unbound(%u) failed: %d\n", (unsigned)peer, (int)port);
        return 2;
    }
    pv_evtchn_status_t st;
    for (uint32_t round = 0;; round++) {
        int32_t r = pv_evtchn_status((uint32_t)port, &st);
        if (r < 0) {
            pv_printf("ping: evtchn_status failed: %d\n", (int)r);
            return 2;
        }
        if (st.state == PV_EVTCHNSTAT_INTERDOMAIN)
            break;
        if (round == MAX_ROUNDS) {
            pv_printf("ping: peer %u never connected\n", (unsigned)peer);
            return 2;
        }
        pv_sched_yield();
    }
    for (uint32_t i = 1; i <= count; i++) {
        int32_t r = pv_evtchn_send((uint32_t)port);
        if (r < 0) {
            pv_printf("ping: evtchn_send failed: %d\n", (int)r);
            return 2;
        }
        PV_WAIT_UNTIL(pv_atomic_load(&events) >= i);
    }
    pv_printf("ping: %u round trips\n", (unsigned)count);
    return 0;
}

static int pong(uint32_t peer, uint32_t count)
{
    int32_t port = PV_EINVAL;
    for (uint32_t round = 0; port < 0; round++) {
        for (uint32_t p = 1; p <= PROBE_PORTS && port < 0; p++) {
            port = pv_bind_interdomain(peer, p, on_event, NULL);
            if (port < 0 && port != PV_EINVAL && port != PV_ESRCH) {
                pv_printf("pong: evtchn_bind_interdomain(%u, %u) failed: %d\n", (unsigned)peer,
                          (unsigned)p, (int)port);
                return 2;
            }
        }
        if (port >= 0)
            break;
        if (round == MAX_ROUNDS) {
            pv_printf("pong: no port of peer %u to bind\n", (unsigned)peer);
            return 2;
        }
        pv_sched_yield();
    }
    for (uint32_t i = 1; i <= count; i++) {
        PV_WAIT_UNTIL(pv_atomic_load(&events) >= i);
        int32_t r = pv_evtchn_send((uint32_t)port);
        if (r < 0) {
            pv_printf("pong: evtchn_send failed: %d\n", (int)r);
            return 2;
        }
    }
    pv_printf("pong: %u events\n", (unsigned)count);
    return 0;
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    char role[8];
    int n = pv_cmdline_get("role", role, sizeof role);
    uint32_t peer = pv_cmdline_u32("peer", 0xffffffffu);
    uint32_t count = pv_cmdline_u32("count", 1000u);
    if (n < 0 || peer == 0xffffffffu) {
        pv_puts("pingpong: usage: role=ping|pong peer=<domid> [count=<N>]");
        return 1;
    }
    if (strcmp(role, "ping") == 0)
        return ping(peer, count);
    if (strcmp(role, "pong") == 0)
        return pong(peer, count);
    pv_printf("pingpong: unknown role '%s'\n", role);
    return 1;
}
