/*
 * pvisor guest kit: virtio-net driver (virtio 1.2 §5.1) over virtio-mmio (virtio.h).
 *
 * What: one receive queue (0) and one transmit queue (1), no offloads, no MRG_RXBUF, no control
 * queue. Frames are plain Ethernet frames (destination MAC first, no FCS); the driver adds and
 * strips the 12-byte virtio_net_hdr (VERSION_1 layout, num_buffers included).
 *
 *   pv_net_init(net, info or NULL, qsize)  init sequence (VERSION_1 required; MAC, MTU, STATUS
 *                                          and EVENT_IDX accepted when offered), MAC/MTU/status
 *                                          from config, both queues, and the receive queue
 *                                          filled with buffers
 *   pv_net_init_ex(net, info, qsize, bsz)  the same with bsz-byte buffers (jumbo frames)
 *   pv_net_send(net, frame, len)           copy into a transmit buffer, queue, kick
 *   pv_net_queue / pv_net_kick             the same, several frames per kick (batched)
 *   pv_net_poll(net, buf, cap)             one received frame if there is one, else PV_EAGAIN
 *   pv_net_recv(net, buf, cap)             blocks (pv_sched_block, upcalls on) until a frame
 *   pv_net_recv_until(net, buf, cap, t)    the same, PV_ETIMEDOUT once system time reaches t
 * Zero-copy (the frame is built or read in the driver's buffer, as Linux does with skbs):
 *   pv_net_tx_get(net) / pv_net_tx_put     a free transmit buffer to build a frame in; queue it
 *   pv_net_rx_burst(net, fn, ctx, max)     fn(frame, len) on received frames in place, then
 *                                          their buffers are reposted with one kick
 *   pv_net_rx_wait(net, t)                 blocks until a frame waits (or PV_ETIMEDOUT at t)
 *
 * Receive buffers: each is one device-writable descriptor holding header + frame (§5.1.6.3.1:
 * big enough for MTU + 14 + header; this driver posts buf_size-byte buffers — PV_NET_BUF_SIZE
 * unless pv_net_init_ex says otherwise — and caps the MTU it uses accordingly). After a frame is
 * taken its buffer goes straight back to the ring (refill), so the receive queue stays full.
 *
 * Invariants:
 * - One vCPU drives a device: the one that called pv_net_init (its interrupt is handled there).
 *   Queue operations mask upcalls around themselves. The blocking calls must not be called from
 *   an event handler.
 * - The interrupt reaps finished transmit buffers; received frames stay in the used ring until
 *   pv_net_poll/pv_net_recv take them (the device keeps further frames in its own FIFO while
 *   the ring is empty: nothing is lost by a slow reader up to the device's limit).
 * - After DEVICE_NEEDS_RESET everything returns PV_EIO.
 */
#ifndef PVISOR_VIRTIO_NET_H
#define PVISOR_VIRTIO_NET_H

#include <stdint.h>

#include <pvisor/virtio.h>

/* ---- Feature bits (§5.1.3) ---- */
#define PV_VIRTIO_NET_F_MTU 3
#define PV_VIRTIO_NET_F_MAC 5
#define PV_VIRTIO_NET_F_STATUS 16

/* ---- Configuration space offsets (§5.1.4) ---- */
#define PV_VIRTIO_NET_CFG_MAC 0
#define PV_VIRTIO_NET_CFG_STATUS 6
#define PV_VIRTIO_NET_CFG_MTU 10
/** Config `status` bit: link up. */
#define PV_VIRTIO_NET_S_LINK_UP 1u

/** Bytes of a MAC address. */
#define PV_ETH_ALEN 6u
/** Bytes of an Ethernet header (dst, src, ethertype). */
#define PV_ETH_HLEN 14u
/** Bytes of the virtio_net_hdr with VERSION_1. */
#define PV_VIRTIO_NET_HDR_LEN 12u
/** Bytes of each receive/transmit buffer (header + frame). */
#define PV_NET_BUF_SIZE 1536u
/** Largest frame (Ethernet header included) that fits a buffer. */
#define PV_NET_FRAME_MAX (PV_NET_BUF_SIZE - PV_VIRTIO_NET_HDR_LEN)
/** Largest buffer pv_net_init_ex accepts: header + a 65535-byte MTU + Ethernet header, 16-aligned. */
#define PV_NET_BUF_SIZE_MAX 65568u

/** The header in front of every frame (§5.1.6), 12 bytes. */
typedef struct pv_virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} pv_virtio_net_hdr_t;

/** One buffer: header then frame, contiguous (one descriptor). */
typedef struct pv_net_buf {
    pv_virtio_net_hdr_t hdr;
    uint8_t frame[PV_NET_FRAME_MAX];
} pv_net_buf_t;

/** A virtio-net device. */
typedef struct pv_net {
    pv_virtio_dev_t vdev;
    pv_virtq_t rxq;
    pv_virtq_t txq;
    uint8_t *rx_bufs;         /* rxq.num buffers of buf_size bytes, all posted */
    uint8_t *tx_bufs;         /* txq.num buffers of buf_size bytes */
    uint32_t buf_size;        /* bytes per buffer: header + frame_max */
    uint32_t frame_max;       /* largest frame (Ethernet header included) a buffer holds */
    uint16_t *tx_free;        /* stack of free transmit buffer indices */
    uint32_t tx_nfree;
    uint8_t mac[PV_ETH_ALEN]; /* from config (VIRTIO_NET_F_MAC), else 0 */
    uint16_t mtu;             /* from config (VIRTIO_NET_F_MTU), else 1500; capped to fit */
    uint32_t has_status;      /* VIRTIO_NET_F_STATUS negotiated */
    uint32_t tx_pending;      /* frames queued but not kicked */
    uint32_t rx_frames;       /* statistics */
    uint32_t tx_frames;
    uint32_t rx_errors;       /* used buffers shorter than a header, or too long */
} pv_net_t;

/**
 * Initialises the network device `info` (NULL: the first PV_VIRTIO_ID_NET in the manifest) with
 * queues of `qsize` entries (0: min(QueueNumMax, 64)); rings and buffers come from pv_alloc.
 * @return 0; PV_ESRCH (no network device); PV_ENOSPC (heap exhausted); or pv_virtio_begin's and
 * pv_virtio_setup_queue's errors.
 */
int32_t pv_net_init(pv_net_t *net, const pv_device_info_t *info, uint32_t qsize);

/**
 * As pv_net_init, with `buf_size`-byte receive and transmit buffers (0: PV_NET_BUF_SIZE; at most
 * PV_NET_BUF_SIZE_MAX; rounded up to 16), for frames up to buf_size - 12 bytes. The memory taken
 * is (rx + tx queue size) x buf_size.
 * @return as pv_net_init; PV_EINVAL for a buf_size below PV_NET_BUF_SIZE or above the maximum.
 */
int32_t pv_net_init_ex(pv_net_t *net, const pv_device_info_t *info, uint32_t qsize, uint32_t buf_size);

/** Non-zero when the link is up (always 1 when STATUS was not negotiated). */
int pv_net_link_up(const pv_net_t *net);

/**
 * Queues one frame (copied, with a zero header) without notifying the device. Waits (blocking)
 * for a free transmit buffer when all are in flight.
 * @return 0; PV_EINVAL (len < 14 or > net->frame_max); PV_EIO (device needs reset).
 */
int32_t pv_net_queue(pv_net_t *net, const void *frame, uint32_t len);

/** Publishes the queued frames with at most one QueueNotify. @return 1 if notified. */
int pv_net_kick(pv_net_t *net);

/** pv_net_queue + pv_net_kick. */
int32_t pv_net_send(pv_net_t *net, const void *frame, uint32_t len);

/**
 * Takes one received frame if one is waiting: copies at most `cap` bytes into `buf`, reposts
 * the buffer. @return the frame length (may exceed `cap`: truncated), PV_EAGAIN, or PV_EIO.
 */
int32_t pv_net_poll(pv_net_t *net, void *buf, uint32_t cap);

/** Blocks until a frame arrives, then as pv_net_poll. */
int32_t pv_net_recv(pv_net_t *net, void *buf, uint32_t cap);

/** As pv_net_recv, but PV_ETIMEDOUT once system time (pv_time_ns) reaches `deadline_ns`. */
int32_t pv_net_recv_until(pv_net_t *net, void *buf, uint32_t cap, uint64_t deadline_ns);

/**
 * Zero-copy transmit, step 1: a free transmit buffer's frame area (net->frame_max bytes, 12 bytes
 * past a 16-byte boundary, after the header), waiting (blocking) for one when all are in flight. Build the frame
 * in it, then give it to pv_net_tx_put exactly once. NULL after DEVICE_NEEDS_RESET.
 */
void *pv_net_tx_get(pv_net_t *net);

/**
 * Zero-copy transmit, step 2: queues the buffer from pv_net_tx_get, holding a `len`-byte frame,
 * without copying or notifying (pv_net_kick publishes a batch). On error the buffer is freed.
 * @return 0; PV_EINVAL (not a buffer of this driver, or len < 14 or > frame_max); PV_EIO.
 */
int32_t pv_net_tx_put(pv_net_t *net, void *frame, uint32_t len);

/** Callback of pv_net_rx_burst: one frame, valid only during the call. */
typedef void (*pv_net_rx_fn)(const uint8_t *frame, uint32_t len, void *ctx);

/**
 * Zero-copy receive: calls `fn` on up to `max` received frames in place, in arrival order, then
 * reposts their buffers with at most one kick. `fn` runs with upcalls masked and must not block
 * or call the driver. @return frames handed to `fn` (0: none waiting), or PV_EIO.
 */
int32_t pv_net_rx_burst(pv_net_t *net, pv_net_rx_fn fn, void *ctx, uint32_t max);

/**
 * Blocks until a received frame waits in the ring (0), or system time reaches `deadline_ns`
 * (PV_ETIMEDOUT; UINT64_MAX: no deadline). PV_EIO after DEVICE_NEEDS_RESET.
 */
int32_t pv_net_rx_wait(pv_net_t *net, uint64_t deadline_ns);

#endif /* PVISOR_VIRTIO_NET_H */
