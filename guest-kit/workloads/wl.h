/*
 * Workload backend interface: what a benchmark workload needs from "the machine", implemented
 * twice — wl_pv.c over the paravirtual kit (console hypercall, virtio-blk, virtio-net zero-copy
 * calls, the one-shot timer) and wl_legacy.c over the legacy kit's drivers (16550A, ATA PIO,
 * NE2000, 8254 PIT behind the 8259A). A workload is one C file built against each, so the -pv and
 * -fv images run the same code above this line and must print the same result.
 *
 * Entry: the backend boots, then calls wl_main(); its return value is the exit code (0 success,
 * 1 a failed check, 2 a bad command line or a missing device).
 *
 * Invariants:
 * - Nothing here is called from interrupt/event context.
 * - Frames handed to wl_net_rx_burst's callback are valid only during the call.
 * - Timing (wl_ms, wl_tick_wait) is virtual time; results never depend on it, only pacing and
 *   timeouts do.
 */
#ifndef WL_H
#define WL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The standard memory/string functions both kits define (clang may call the first two anyway). */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/** The workload's entry point. */
int wl_main(void);

/** Backend name: "pv" or "fv" (for diagnostics only: never in a result line). */
const char *wl_backend(void);

/* ---- console ---- */
/** Writes raw bytes to the console. */
void wl_console_write(const void *buf, size_t len);
/** Formatted output to the console (%d %u %x %s %c %%, width/'0'/'-', l/ll). */
int wl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** snprintf. */
int wl_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- command line (key=value words) ---- */
const char *wl_cmdline(void);
uint32_t wl_arg_u32(const char *key, uint32_t dflt);
int wl_arg_str(const char *key, char *buf, size_t len);

/* ---- memory ---- */
/** Never freed. NULL when exhausted. */
void *wl_alloc(size_t size, size_t align);

/* ---- block device (512-byte sectors) ---- */
/** @return 0 with *sectors set, or <0 when there is no disk. */
int wl_blk_init(uint64_t *sectors);
/** Largest request the backend prefers, in sectors (callers split larger transfers). */
uint32_t wl_blk_max_sectors(void);
int wl_blk_read(uint64_t sector, void *buf, uint32_t nsectors);
int wl_blk_write(uint64_t sector, const void *buf, uint32_t nsectors);
int wl_blk_flush(void);

/* ---- network ---- */
/** @return 0 with the MAC in mac[6], or <0 when there is no NIC. */
int wl_net_init(uint8_t mac[6]);
/** Largest frame (Ethernet header included, no FCS). */
uint32_t wl_net_frame_max(void);
/** Frames the receiver can hold without loss (the sender's window must stay below). */
uint32_t wl_net_rx_capacity(uint32_t frame_len);
/** A buffer to build one frame in (NULL on a device error). Give it to wl_net_tx_put once. */
uint8_t *wl_net_tx_get(void);
/** Sends (or queues) the frame built in a wl_net_tx_get buffer. @return 0 or <0. */
int wl_net_tx_put(uint8_t *frame, uint32_t len);
/** Pushes queued frames out. */
void wl_net_kick(void);
typedef void (*wl_rx_fn)(const uint8_t *frame, uint32_t len, void *ctx);
/** Calls fn on up to `max` received frames. @return how many (0: none), <0 on a device error. */
int wl_net_rx_burst(wl_rx_fn fn, void *ctx, uint32_t max);
/** Sleeps until a frame may be waiting or `timeout_ms` passed. @return 1 frame, 0 timeout, <0 error. */
int wl_net_wait(uint32_t timeout_ms);

/* ---- time ---- */
/** Milliseconds since boot (virtual time; coarse on the legacy backend: its tick). */
uint64_t wl_ms(void);
/**
 * Nanoseconds of virtual time since the clock started, as finely as the machine can tell: the
 * paravirtual backend reads the time record in shared memory (no exit); the legacy one counts
 * PIT periods and latches the PIT counter (three port exits: a PC without a TSC has no other
 * clock). Never goes backwards.
 */
uint64_t wl_now_ns(void);
/** Starts a periodic tick at `hz`. @return 0 or <0. */
int wl_tick_start(uint32_t hz);
/** Sleeps until the next tick; returns the ticks since wl_tick_start. */
uint64_t wl_tick_wait(void);
void wl_tick_stop(void);

/* ---- shared helpers (wl_common.c) ---- */
/** CRC-32 (IEEE 802.3, reflected, as zlib's crc32): pass 0 to start. */
uint32_t wl_crc32(uint32_t crc, const void *buf, size_t len);
/** xorshift64* step: the workloads' deterministic PRNG. */
uint64_t wl_rand(uint64_t *state);

#endif /* WL_H */
