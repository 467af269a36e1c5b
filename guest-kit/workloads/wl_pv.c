/*
 * Workload backend over the paravirtual kit (wl.h): console_write hypercall, virtio-blk
 * (blocking calls), virtio-net (zero-copy pv_net_tx_get/put, pv_net_rx_burst, pv_net_rx_wait),
 * sched_poll with a deadline for ticks (one exit each: the poll is the sleep), pv_time_ns for time.
 */
#include <pvisor/pvisor.h>
#include <pvisor/virtio_blk.h>
#include <pvisor/virtio_net.h>

#include "wl.h"

/* Receive queue entries: the sink holds this many frames without loss (the device's FIFO
 * adds more, but the window is kept within the ring). */
#define NET_QSIZE 256u

static pv_blk_t blk;
static pv_net_t net;
static uint64_t tick_period_ns, tick_next_ns, ticks;

int kmain(const pv_start_info_t *si)
{
    (void)si;
    return wl_main();
}

const char *wl_backend(void) { return "pv"; }

void wl_console_write(const void *buf, size_t len)
{
    /* Straight to the hypercall, CONSOLE_IO_MAX bytes at a time; earlier printf output first. */
    pv_console_flush();
    const char *p = buf;
    while (len > 0) {
        int32_t n = pv_console_write(p, (uint32_t)len);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

int wl_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int wl_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

const char *wl_cmdline(void) { return pv_cmdline(); }
uint32_t wl_arg_u32(const char *key, uint32_t dflt) { return pv_cmdline_u32(key, dflt); }
int wl_arg_str(const char *key, char *buf, size_t len) { return pv_cmdline_get(key, buf, len); }
void *wl_alloc(size_t size, size_t align) { return pv_alloc(size, align); }

/* ---- block ---- */

int wl_blk_init(uint64_t *sectors)
{
    int32_t r = pv_blk_init(&blk, NULL, 0);
    if (r < 0)
        return r;
    *sectors = blk.capacity;
    return 0;
}

uint32_t wl_blk_max_sectors(void) { return 2048; }

int wl_blk_read(uint64_t sector, void *buf, uint32_t nsectors) { return pv_blk_read(&blk, sector, buf, nsectors); }

int wl_blk_write(uint64_t sector, const void *buf, uint32_t nsectors)
{
    return pv_blk_write(&blk, sector, buf, nsectors);
}

int wl_blk_flush(void) { return pv_blk_flush(&blk); }

/* ---- network ---- */

int wl_net_init(uint8_t mac[6])
{
    int32_t r = pv_net_init(&net, NULL, NET_QSIZE);
    if (r < 0)
        return r;
    memcpy(mac, net.mac, PV_ETH_ALEN);
    return 0;
}

uint32_t wl_net_frame_max(void)
{
    uint32_t m = (uint32_t)net.mtu + PV_ETH_HLEN;
    return m < net.frame_max ? m : net.frame_max;
}

uint32_t wl_net_rx_capacity(uint32_t frame_len)
{
    (void)frame_len;
    return net.rxq.num;
}

uint8_t *wl_net_tx_get(void) { return pv_net_tx_get(&net); }
int wl_net_tx_put(uint8_t *frame, uint32_t len) { return pv_net_tx_put(&net, frame, len); }
void wl_net_kick(void) { pv_net_kick(&net); }
int wl_net_rx_burst(wl_rx_fn fn, void *ctx, uint32_t max) { return pv_net_rx_burst(&net, fn, ctx, max); }

int wl_net_wait(uint32_t timeout_ms)
{
    int32_t r = pv_net_rx_wait(&net, pv_time_ns() + (uint64_t)timeout_ms * PV_NS_PER_MS);
    if (r == PV_ETIMEDOUT)
        return 0;
    return r < 0 ? r : 1;
}

/* ---- time ---- */

uint64_t wl_ms(void) { return pv_time_ns() / PV_NS_PER_MS; }

uint64_t wl_now_ns(void) { return pv_time_ns(); }

int wl_tick_start(uint32_t hz)
{
    if (hz == 0)
        return -1;
    tick_period_ns = PV_NS_PER_SEC / hz;
    tick_next_ns = pv_time_ns() + tick_period_ns;
    ticks = 0;
    return 0;
}

uint64_t wl_tick_wait(void)
{
    /* A tickless kernel's periodic wake-up: one sched_poll whose deadline is the next tick (on
     * the VIRQ_TIMER port, which nothing arms, so only the deadline ends it) — one exit per tick,
     * no timer to re-arm and no upcall. Absolute deadlines, so no drift. */
    uint32_t port = pv_timer_port();
    while (pv_time_ns() < tick_next_ns) {
        if (pv_sched_poll(&port, 1, &tick_next_ns) < 0 && pv_time_ns() < tick_next_ns) {
            pv_sleep_until(tick_next_ns); /* no poll (no port): the one-shot timer instead */
            break;
        }
    }
    tick_next_ns += tick_period_ns;
    return ++ticks;
}

void wl_tick_stop(void) { tick_period_ns = 0; }
