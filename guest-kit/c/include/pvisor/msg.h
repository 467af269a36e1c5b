/*
 * pvisor guest kit: inter-domain messaging over grant copy and event channels (msg.c).
 *
 * What: a one-way asynchronous channel between two domains, and a synchronous call/reply with a
 * timeout built from a pair of them.
 *
 *   pv_msg_rx_t  the receiving end. It owns the ring: one header frame and 1..PV_MSG_MAX_FRAMES
 *                data frames of its own memory, granted (writable) to the sender, plus an event
 *                channel port it allocates for the sender.
 *   pv_msg_tx_t  the sending end. It never touches the receiver's memory directly: it builds the
 *                messages in a private shadow of the ring and publishes them with one batched
 *                `grant_copy` (the new bytes, then its indices, then a read-back of the
 *                receiver's indices), and notifies over the event channel only when the
 *                receiver asked to be told (notification suppression, as virtio's event index).
 *   pv_msg_link_t  one rx and one tx between the same two domains: what pv_msg_call() and
 *                pv_msg_reply() use. Both domains open a link with the same `idx`, symmetrically.
 *
 * Connection set-up (no store, no handshake messages; each side needs only the peer's domain id
 * and an agreed channel index `idx` in 0..PV_MSG_MAX_CHANNELS-1):
 * - The receiver registers a grant table (the kit's own, or one given to pv_msg_use_table) and
 *   uses grant references PV_MSG_HDR_REF(idx) .. PV_MSG_HDR_REF(idx) + nr_frames for channel
 *   `idx`: the header frame at PV_MSG_HDR_REF(idx), the data frames after it. It allocates an
 *   unbound event-channel port for the sender, writes the ring geometry and that port number into
 *   the header, writes PV_MSG_MAGIC last, then grants the frames.
 * - The sender copies the header from grant PV_MSG_HDR_REF(idx) of the peer, retrying (sleeping
 *   PV_MSG_RETRY_NS between attempts) while the peer does not exist yet, has no table, has not
 *   granted the reference or has not written the magic, until its deadline; then it binds to the
 *   port named in the header with `evtchn_bind_interdomain`. The agreed reference replaces
 *   xenstore: the port number, which the host chooses, travels inside the granted header.
 *
 * Header frame (little-endian u32 words; the sender writes words 0-1 by grant copy, the receiver
 * writes the others in its own memory):
 *   +0 prod        bytes ever produced (free-running)          sender
 *   +4 cons_event  "notify me when cons passes this"           sender
 *   +8 cons        bytes ever consumed (free-running)          receiver
 *   +12 prod_event "notify me when prod passes this"           receiver
 *   +16 magic, +20 version (u16) and nr_frames (u16), +24 the port for the sender,
 *   +28 the first data reference                               receiver, at set-up
 * Data: nr_frames * PV_GRANT_FRAME_SIZE bytes (a power of two), records back to back, wrapping:
 * an 8-byte record header {u32 len, u32 tag}, then len payload bytes padded to a multiple of 8.
 *
 * Errors (negative PV_E*): PV_EINVAL bad arguments (a peer id of DOMID_SELF or above, an index
 * or frame count out of range) or a message longer than pv_msg_max_len(); PV_ETIMEDOUT the
 * deadline passed; PV_ENOSPC the caller's buffer is smaller than the message (the message stays
 * in the ring, except in pv_msg_call); PV_EAGAIN pv_msg_poll found nothing; PV_EFAULT the host
 * refused a grant copy — its GNTST_* status is in `gnt_status` of the sending end (e.g. a
 * reference the peer did not grant), and the end is broken; PV_EIO the peer broke the
 * protocol (indices or a record out of range), and the end is broken; a broken end answers its
 * error again to every later call. Errors of the event-channel and scheduler calls pass through.
 *
 * Deadlines are absolute system time in ns (pv_time_ns()); 0 means no deadline.
 *
 * Invariants for users:
 * - An end is used by one vCPU at a time (no locking inside). Its port is masked: nothing is
 *   delivered by upcall; the kit waits with `sched_poll`, so these calls block the vCPU and must
 *   not be called from an event handler.
 * - Memory for rings and shadows comes from pv_alloc and is never returned; close only revokes
 *   the grants and closes the port.
 * - Messages queued with pv_msg_queue are copied into the shadow at once (the caller's buffer is
 *   free on return) but the receiver sees them only at the next publish: pv_msg_flush, or when
 *   the queued bytes reach half the ring, or when the ring is full.
 */
#ifndef PVISOR_MSG_H
#define PVISOR_MSG_H

#include <stdint.h>

#include <pvisor/abi.h>

/** Header word `magic`: "PVMQ" as a little-endian u32. */
#define PV_MSG_MAGIC 0x514d5650u
/** Layout version in the header. */
#define PV_MSG_VERSION 1u
/** Most data frames of one ring (64 KiB of data). */
#define PV_MSG_MAX_FRAMES 16u
/** Channel indices per domain (0..PV_MSG_MAX_CHANNELS-1). */
#define PV_MSG_MAX_CHANNELS 8u
/** Grant references reserved per channel index (header + data frames, rounded up). */
#define PV_MSG_REFS_PER_CHANNEL 32u
/** Grant references the channels use: 0..PV_MSG_TABLE_ENTRIES-1. */
#define PV_MSG_TABLE_ENTRIES (PV_MSG_MAX_CHANNELS * PV_MSG_REFS_PER_CHANNEL)
/** The grant reference of channel `idx`'s header frame. */
#define PV_MSG_HDR_REF(idx) ((uint32_t)(idx) * PV_MSG_REFS_PER_CHANNEL)
/** Bytes of a record header. */
#define PV_MSG_REC_HDR 8u
/** Sleep between connection attempts, ns of system time. */
#define PV_MSG_RETRY_NS 20000u

/** The header frame's words (see the layout above). */
typedef struct pv_msg_hdr {
    uint32_t prod;
    uint32_t cons_event;
    uint32_t cons;
    uint32_t prod_event;
    uint32_t magic;
    uint16_t version;
    uint16_t nr_frames;
    uint32_t port;
    uint32_t data_ref;
} pv_msg_hdr_t;

/** The receiving end of a channel. Fields are read-only for users. */
typedef struct pv_msg_rx {
    /** The header frame, and the data frames after it, in this domain's memory. */
    pv_msg_hdr_t *hdr;
    uint8_t *data;
    /** Data bytes (nr_frames * PV_GRANT_FRAME_SIZE) and nr_frames. */
    uint32_t size;
    uint32_t nr_frames;
    /** The sending domain, the channel index and the local port. */
    uint32_t peer;
    uint32_t idx;
    uint32_t port;
    /** Bytes consumed: the private copy (the header's `cons` is only published from it). */
    uint32_t cons;
    /** 0, or the error this end is broken with. */
    int32_t broken;
    /** Statistics: messages received, notifications sent, sched_poll waits. */
    uint32_t msgs;
    uint32_t notifies;
    uint32_t waits;
} pv_msg_rx_t;

/** The sending end of a channel. Fields are read-only for users. */
typedef struct pv_msg_tx {
    /** The receiving domain, the channel index, its header and first data references. */
    uint32_t peer;
    uint32_t idx;
    uint32_t hdr_ref;
    uint32_t data_ref;
    /** The local port bound to the receiver's. */
    uint32_t port;
    /** Data bytes of the peer's ring. */
    uint32_t size;
    /** Bytes written into the shadow (published or queued), and bytes published. */
    uint32_t prod;
    uint32_t pub;
    /** The receiver's cons and prod_event as last read, and our cons_event. */
    uint32_t cons;
    uint32_t prod_event;
    uint32_t cons_event;
    /** The GNTST_* status of the op that failed, when a publish answered PV_EFAULT. */
    int32_t gnt_status;
    /** 0, or the error this end is broken with. */
    int32_t broken;
    /** Private copy of the peer's data area, frame-aligned (ops copy it frame by frame). */
    uint8_t *shadow;
    /** 32 bytes, 32-aligned (never cross a frame): the words a publish writes and reads back. */
    uint32_t *io;
    /** Statistics: messages, publishes (grant_copy calls), notifications, sched_poll waits. */
    uint32_t msgs;
    uint32_t publishes;
    uint32_t notifies;
    uint32_t waits;
    /**
     * The publish batch: data pieces (at most nr_frames + 1) with a guard op after each (msg.c:
     * a failed op makes every later one fail), the index write, the read-back.
     */
    struct pv_grant_copy_op ops[2u * (PV_MSG_MAX_FRAMES + 1u) + 2u];
} pv_msg_tx_t;

/** Both directions between two domains. */
typedef struct pv_msg_link {
    pv_msg_rx_t rx;
    pv_msg_tx_t tx;
    /** Tag of the last pv_msg_call (replies with another tag are stale and dropped). */
    uint32_t call_seq;
} pv_msg_link_t;

/**
 * Makes the channels use `table` (`nr` >= PV_MSG_TABLE_ENTRIES entries, already registered with
 * grant_setup by the caller, references 0..PV_MSG_TABLE_ENTRIES-1 left to the channels) instead
 * of registering the kit's own table. Call before the first pv_msg_rx_open.
 * @return 0, or PV_EINVAL (NULL table, too few entries, or a channel is already open).
 */
int32_t pv_msg_use_table(struct pv_grant_entry_v1 *table, uint32_t nr);

/**
 * Opens the receiving end of channel `idx` for domain `peer`, with `nr_frames` data frames (a
 * power of two, 1..PV_MSG_MAX_FRAMES): registers the kit's grant table on first use, allocates
 * and grants the ring, allocates the port. Retries `evtchn_alloc_unbound` while the peer does
 * not exist yet (PV_ESRCH), until `deadline`. The sender may connect at any time after.
 * @return 0 or a negative PV_E* (PV_ENOSPC: no memory for the ring; PV_EBUSY: `idx` is open).
 */
int32_t pv_msg_rx_open(pv_msg_rx_t *rx, uint32_t peer, uint32_t idx, uint32_t nr_frames,
                       uint64_t deadline);

/**
 * Receives the next message into `buf` (`cap` bytes), waiting until `deadline` for one; stores
 * its tag in `*tag` when `tag` is not NULL. @return the message length, or a negative PV_E*.
 */
int32_t pv_msg_recv(pv_msg_rx_t *rx, void *buf, uint32_t cap, uint32_t *tag, uint64_t deadline);

/** As pv_msg_recv, without waiting: PV_EAGAIN when the ring is empty. */
int32_t pv_msg_poll(pv_msg_rx_t *rx, void *buf, uint32_t cap, uint32_t *tag);

/** Revokes the ring's grants and closes the port. @return evtchn_close's result. */
int32_t pv_msg_rx_close(pv_msg_rx_t *rx);

/**
 * Connects the sending end to channel `idx` of domain `peer` (see "Connection set-up"), waiting
 * until `deadline` for the receiver to appear. @return 0 or a negative PV_E* (PV_ETIMEDOUT with
 * `gnt_status` holding the last copy's status when the header never became readable; PV_EIO: the
 * header is not a valid ring).
 */
int32_t pv_msg_tx_connect(pv_msg_tx_t *tx, uint32_t peer, uint32_t idx, uint64_t deadline);

/** The largest message payload the connected ring takes. */
uint32_t pv_msg_max_len(const pv_msg_tx_t *tx);

/**
 * Queues one message (`len` bytes, `tag` for the receiver) in the shadow. When the ring has no
 * room it publishes what is queued and waits (sched_poll) until the receiver frees enough or
 * `deadline` passes. @return 0 or a negative PV_E*.
 */
int32_t pv_msg_queue(pv_msg_tx_t *tx, const void *buf, uint32_t len, uint32_t tag, uint64_t deadline);

/**
 * Publishes every queued message with one grant_copy and notifies the receiver if it asked to be
 * told. @return 0 or a negative PV_E*.
 */
int32_t pv_msg_flush(pv_msg_tx_t *tx);

/** pv_msg_queue + pv_msg_flush. */
int32_t pv_msg_send(pv_msg_tx_t *tx, const void *buf, uint32_t len, uint32_t tag, uint64_t deadline);

/** Closes the port (the receiver's grants stay the receiver's business). @return evtchn_close's result. */
int32_t pv_msg_tx_close(pv_msg_tx_t *tx);

/**
 * Opens both directions with `peer` on channel `idx`: this domain's receiving end (nr_frames data
 * frames) and a sending end connected to the peer's. The peer calls the same with this domain's
 * id and the same `idx`. @return 0 or a negative PV_E* (from pv_msg_rx_open or pv_msg_tx_connect).
 */
int32_t pv_msg_link_open(pv_msg_link_t *link, uint32_t peer, uint32_t idx, uint32_t nr_frames,
                         uint64_t deadline);

/**
 * Synchronous call: sends `req` (`len` bytes) tagged with a new call number and waits for the
 * reply with that tag (older, stale replies are dropped), at most `timeout_ns` of system time
 * (0: no timeout). @return the reply's length (copied into `rep`), PV_ETIMEDOUT, PV_ENOSPC (the
 * reply was longer than `cap` and is dropped), or another negative PV_E*.
 */
int32_t pv_msg_call(pv_msg_link_t *link, const void *req, uint32_t len, void *rep, uint32_t cap,
                    uint64_t timeout_ns);

/**
 * Answers the call whose request carried `tag` (the server side of pv_msg_call): pv_msg_send on
 * the link's sending end, waiting for room until `deadline`.
 */
static inline int32_t pv_msg_reply(pv_msg_link_t *link, uint32_t tag, const void *rep, uint32_t len,
                                   uint64_t deadline)
{
    return pv_msg_send(&link->tx, rep, len, tag, deadline);
}

#endif /* PVISOR_MSG_H */
