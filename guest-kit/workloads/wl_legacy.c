/*
 * Workload backend over the legacy kit (wl.h): what an unmodified OS has on a PC — the 16550A
 * console, the ATA PIO disk, the NE2000 NIC, and the 8254 PIT as its only clock. Imports nothing
 * from module `pv`.
 *
 * Command line knobs of this backend (the workloads ignore them):
 *   ata=irq|poll   ATA completion by IRQ 14 (default) or by polling Status
 *   nic_irq=<n>    the NE2000's IRQ (default 10, the spec's; 255: polled)
 *   nic_io=<port>  its I/O base (default 0x300)
 *
 * Time: the PIT is the clock. wl_ms() starts it at 1 kHz on first use; wl_tick_start(hz)
 * reprograms it to `hz`, and wl_ms() then counts in those ticks.
 */
#include <legacy/ata.h>
#include <legacy/cpu.h>
#include <legacy/io.h>
#include <legacy/klib.h>
#include <legacy/ne2000.h>
#include <legacy/pit.h>
#include <legacy/uart.h>

#include "wl.h"

#define CLOCK_HZ 1000u
#define RX_RING_PAGES 57u /* PSTART 0x46 .. PSTOP 0x80, less the page at BNRY */

static ata_dev_t ata;
static ne_dev_t ne;
static uint32_t pit_hz;
/* PIT periods per workload tick: the 16-bit divisor cannot go below 18.2 Hz, so slower ticks
 * count several faster PIT periods (a software divider, as kernels with HZ < 19 would need). */
static uint32_t tick_mult = 1;
#define PIT_MIN_HZ 19u
static uint64_t pit_base_ms; /* ms already counted when the PIT was last reprogrammed */
static uint8_t rx_buf[NE_MAX_FRAME + 2] __attribute__((aligned(4)));
static uint8_t tx_buf[NE_MAX_FRAME + 2] __attribute__((aligned(4)));

int kmain(const char *cmd)
{
    (void)cmd;
    return wl_main();
}

const char *wl_backend(void) { return "fv"; }

void wl_console_write(const void *buf, size_t len) { kwrite(buf, len); }

int wl_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvprintf(fmt, ap);
    va_end(ap);
    return n;
}

int wl_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

const char *wl_cmdline(void) { return cmdline(); }
uint32_t wl_arg_u32(const char *key, uint32_t dflt) { return cmdline_u32(key, dflt); }
int wl_arg_str(const char *key, char *buf, size_t len) { return cmdline_get(key, buf, len); }
void *wl_alloc(size_t size, size_t align) { return kalloc((uint32_t)size, (uint32_t)align); }

/* ---- block ---- */

int wl_blk_init(uint64_t *sectors)
{
    if ((boot_flags() & PV_BOOT_INFO_F_DISK) == 0)
        return -1;
    char mode[8] = "irq";
    cmdline_get("ata", mode, sizeof mode);
    if (ata_init(&ata, strcmp(mode, "poll") != 0) != 0)
        return -1;
    *sectors = ata.sectors;
    return 0;
}

uint32_t wl_blk_max_sectors(void) { return ata.lba48 ? 65536u : 256u; }
int wl_blk_read(uint64_t sector, void *buf, uint32_t nsectors) { return ata_read(&ata, sector, buf, nsectors); }
int wl_blk_write(uint64_t sector, const void *buf, uint32_t nsectors) { return ata_write(&ata, sector, buf, nsectors); }
int wl_blk_flush(void) { return ata_flush(&ata); }

/* ---- time ---- */

static void clock_start(uint32_t hz)
{
    if (pit_hz != 0)
        pit_base_ms += pit_ticks() * 1000u / pit_hz;
    pit_hz = hz;
    pit_start_periodic(hz);
}

uint64_t wl_ms(void)
{
    if (pit_hz == 0)
        clock_start(CLOCK_HZ);
    return pit_base_ms + pit_ticks() * 1000u / pit_hz;
}

uint64_t wl_now_ns(void)
{
    if (pit_hz == 0)
        clock_start(CLOCK_HZ);
    return pit_base_ms * 1000000u + pit_clocks() * 1000000000u / PIT_INPUT_HZ;
}

int wl_tick_start(uint32_t hz)
{
    if (hz == 0)
        return -1;
    tick_mult = hz < PIT_MIN_HZ ? (PIT_MIN_HZ + hz - 1) / hz : 1u;
    clock_start(hz * tick_mult);
    return 0;
}

uint64_t wl_tick_wait(void)
{
    uint64_t t = pit_ticks() / tick_mult;
    pit_wait_until((t + 1) * tick_mult);
    return t + 1;
}

void wl_tick_stop(void)
{
    pit_base_ms = wl_ms();
    pit_stop();
    pit_hz = 0;
    tick_mult = 1;
}

/* ---- network ---- */

int wl_net_init(uint8_t mac[6])
{
    if ((boot_flags() & PV_BOOT_INFO_F_NIC) == 0)
        return -1;
    uint32_t irq = cmdline_u32("nic_irq", NE2000_IRQ);
    uint32_t io = cmdline_u32("nic_io", NE2000_BASE);
    if (ne_init(&ne, (uint16_t)io, irq > 15 ? -1 : (int32_t)irq) != 0)
        return -1;
    memcpy(mac, ne.mac, 6);
    (void)wl_ms(); /* the clock for timeouts */
    return 0;
}

uint32_t wl_net_frame_max(void) { return NE_MAX_FRAME; }

uint32_t wl_net_rx_capacity(uint32_t frame_len)
{
    /* Pages per frame in the ring: 4-byte header + frame (at least 60) + 4-byte FCS. */
    uint32_t len = frame_len < NE_MIN_FRAME ? NE_MIN_FRAME : frame_len;
    uint32_t pages = (len + 8 + 255) / 256;
    return RX_RING_PAGES / pages;
}

uint8_t *wl_net_tx_get(void) { return tx_buf; }

int wl_net_tx_put(uint8_t *frame, uint32_t len) { return ne_send(&ne, frame, len); }

void wl_net_kick(void) {}

int wl_net_rx_burst(wl_rx_fn fn, void *ctx, uint32_t max)
{
    uint32_t n = 0;
    while (n < max) {
        int len = ne_recv(&ne, rx_buf, sizeof rx_buf);
        if (len < 0)
            return -1;
        if (len == 0)
            break;
        fn(rx_buf, (uint32_t)len, ctx);
        n++;
    }
    return (int)n;
}

int wl_net_wait(uint32_t timeout_ms)
{
    uint64_t deadline = wl_ms() + timeout_ms;
    if (ne.irq < 0) {
        /* Polled NIC: look at the ring between clock ticks. */
        while (!ne_rx_pending(&ne)) {
            if (wl_ms() >= deadline)
                return 0;
            wl_tick_wait();
        }
        return 1;
    }
    if (ne_rx_pending(&ne))
        return 1;
    uint32_t f = irq_save();
    while (!ne.rx_ready) {
        if (pit_base_ms + pit_ticks() * 1000u / pit_hz >= deadline) {
            irq_restore(f);
            return 0;
        }
        wait_for_interrupt();
        cli();
    }
    irq_restore(f);
    return 1;
}
