/*
 * pvisor guest kit: virtio-console driver (virtio 1.2 §5.3) over virtio-mmio (virtio.h), port 0
 * only (no MULTIPORT): queue 0 receives (host → guest), queue 1 transmits (guest → host).
 *
 * What:
 *   pv_vcon_init(con, info or NULL, qsize)  init sequence (VERSION_1 required; SIZE and
 *                                           EVENT_IDX accepted when offered), cols/rows from
 *                                           config, both queues, every receive buffer posted
 *   pv_vcon_write(con, buf, len)            copies into transmit buffers (PV_VCON_BUF_SIZE bytes
 *                                           each), one kick for all of them
 *   pv_vcon_poll(con, buf, cap)             input bytes if some are waiting, else PV_EAGAIN
 *   pv_vcon_read(con, buf, cap)             blocks (pv_sched_block, upcalls on) until input
 *
 * Input arrives in chunks of at most PV_VCON_BUF_SIZE bytes (how the device split it); a read
 * returns bytes from one received buffer at a time, and a buffer only partly read is kept for
 * the next call. A buffer fully read goes straight back to the ring (refill).
 *
 * Invariants: as virtio_net.h — one vCPU drives the device (the one that called pv_vcon_init,
 * where its interrupt is handled), queue operations mask upcalls, the blocking calls must not
 * run in an event handler, and after DEVICE_NEEDS_RESET everything returns PV_EIO.
 */
#ifndef PVISOR_VIRTIO_CONSOLE_H
#define PVISOR_VIRTIO_CONSOLE_H

#include <stdint.h>

#include <pvisor/virtio.h>

/* ---- Feature bits (§5.3.3) ---- */
#define PV_VIRTIO_CONSOLE_F_SIZE 0
#define PV_VIRTIO_CONSOLE_F_MULTIPORT 1
#define PV_VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* ---- Configuration space offsets (§5.3.4) ---- */
#define PV_VIRTIO_CONSOLE_CFG_COLS 0
#define PV_VIRTIO_CONSOLE_CFG_ROWS 2

/** Bytes of each receive and transmit buffer. */
#define PV_VCON_BUF_SIZE 128u

/** One buffer (one descriptor). */
typedef struct pv_vcon_buf {
    uint8_t data[PV_VCON_BUF_SIZE];
} pv_vcon_buf_t;

/** A virtio-console device. */
typedef struct pv_vcon {
    pv_virtio_dev_t vdev;
    pv_virtq_t rxq;
    pv_virtq_t txq;
    pv_vcon_buf_t *rx_bufs;
    pv_vcon_buf_t *tx_bufs;
    uint16_t *tx_free;      /* stack of free transmit buffer indices */
    uint32_t tx_nfree;
    pv_vcon_buf_t *cur;     /* received buffer being read, or NULL */
    uint32_t cur_len;
    uint32_t cur_off;
    uint16_t cols, rows;    /* from config (VIRTIO_CONSOLE_F_SIZE), else 0 */
    uint32_t rx_bytes;      /* statistics */
    uint32_t tx_bytes;
} pv_vcon_t;

/**
 * Initialises the console `info` (NULL: the first PV_VIRTIO_ID_CONSOLE in the manifest) with
 * queues of `qsize` entries (0: min(QueueNumMax, 16)); rings and buffers come from pv_alloc.
 * @return 0; PV_ESRCH (no console device); PV_ENOSPC (heap exhausted); or pv_virtio_begin's and
 * pv_virtio_setup_queue's errors.
 */
int32_t pv_vcon_init(pv_vcon_t *con, const pv_device_info_t *info, uint32_t qsize);

/** Writes `len` bytes (waits for transmit buffers when all are in flight). @return len or PV_EIO. */
int32_t pv_vcon_write(pv_vcon_t *con, const void *buf, uint32_t len);

/** Input bytes (1..cap) if any are waiting; PV_EAGAIN if none; PV_EIO; PV_EINVAL for cap 0. */
int32_t pv_vcon_poll(pv_vcon_t *con, void *buf, uint32_t cap);

/** Blocks until input arrives, then as pv_vcon_poll. */
int32_t pv_vcon_read(pv_vcon_t *con, void *buf, uint32_t cap);

#endif /* PVISOR_VIRTIO_CONSOLE_H */
