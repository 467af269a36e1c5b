/*
 * libpvisor: inter-domain messaging over grant copy and event channels (msg.h).
 *
 * Invariants:
 * - Who writes what. The receiver writes its ring's `cons` and `prod_event` (plain stores in its
 *   own memory), and the set-up words once, magic last. The sender writes `prod` and
 *   `cons_event`, only through grant_copy, in the same op (8 bytes at +0). Data bytes are written
 *   only by the sender, only in [pub, prod) of the ring, and only before the `prod` that covers
 *   them (the data ops come first in the batch, and the host runs ops in order).
 * - Indices are free-running u32 byte counts, always multiples of 8; the data area's size is a
 *   power of two, so a position is `index & (size - 1)` and `prod - cons` (mod 2^32) is the fill,
 *   0..size. A record is an 8-byte header {len, tag} plus len bytes padded to 8; the header never
 *   wraps (8-aligned in a size that is a multiple of 8), the payload may wrap to the start.
 * - Neither side trusts the other's words: the receiver keeps its own `cons` and checks every
 *   `prod` (fill <= size, 8-aligned) and record (len fits the ring and the fill) before it copies;
 *   the sender checks that `cons` only moves forward and never past `prod`. A violation breaks
 *   the end with PV_EIO. The receiver reads a record header once, into locals.
 * - Notification rule (virtio's event index): an index update old -> new notifies the peer iff
 *   the peer's event word lies in [old, new). The receiver, before it waits, sets prod_event =
 *   cons ("tell me when prod passes cons"), fences, and re-checks prod; the sender writes prod
 *   and then reads prod_event in the same batch. The sender, before it waits for room, writes
 *   cons_event = (the cons it needs) - 1 and reads cons in the same batch; the receiver stores
 *   cons, fences, then reads cons_event. Either the waiter's re-check sees the update or the
 *   updater sees the event word, so no wake-up is lost; a stale event word only costs a spurious
 *   notification, which every waiter tolerates (it re-checks).
 * - Waiting is `sched_poll` on the end's own port, which stays masked (no upcalls): clear the
 *   pending bit, then re-check, then poll; an event that arrives after the clear leaves the bit
 *   set and the poll returns at once.
 */
#include "internal.h"

#include <pvisor/grant.h>
#include <pvisor/msg.h>

/* The grant table the receiving ends grant from: the kit's own unless pv_msg_use_table. */
static struct pv_grant_entry_v1 kit_table[PV_MSG_TABLE_ENTRIES];
static struct pv_grant_entry_v1 *table;
/* One bit per channel index with an open receiving end. */
static uint32_t open_mask;

static uint32_t align8(uint32_t v)
{
    return (v + 7u) & ~7u;
}

/* virtio's vring_need_event: the update old -> new passed `event` (event in [old, new)). */
static int need_event(uint32_t event, uint32_t new_idx, uint32_t old_idx)
{
    return (uint32_t)(new_idx - event - 1u) < (uint32_t)(new_idx - old_idx);
}

static int expired(uint64_t deadline)
{
    return deadline != 0 && pv_time_ns() >= deadline;
}

static int32_t poll_port(uint32_t *port, uint64_t deadline)
{
    return pv_sched_poll(port, 1, deadline != 0 ? &deadline : NULL);
}

int32_t pv_msg_use_table(struct pv_grant_entry_v1 *t, uint32_t nr)
{
    if (t == NULL || nr < PV_MSG_TABLE_ENTRIES || pv_atomic_load(&open_mask) != 0)
        return PV_EINVAL;
    table = t;
    return 0;
}

/* ---- Receiving end ---- */

int32_t pv_msg_rx_open(pv_msg_rx_t *rx, uint32_t peer, uint32_t idx, uint32_t nr_frames,
                       uint64_t deadline)
{
    if (rx == NULL || idx >= PV_MSG_MAX_CHANNELS || peer >= PV_DOMID_SELF || nr_frames == 0 ||
        nr_frames > PV_MSG_MAX_FRAMES || (nr_frames & (nr_frames - 1)) != 0)
        return PV_EINVAL;
    if (table == NULL) {
        int32_t r = pv_grant_table_init(kit_table, PV_MSG_TABLE_ENTRIES);
        if (r < 0)
            return r;
        table = kit_table;
    }
    uint32_t bit = 1u << idx;
    if (pv_atomic_fetch_or(&open_mask, bit) & bit)
        return PV_EBUSY;

    /* Header and data in frames of their own: a grant exposes whole frames. */
    uint8_t *mem = pv_alloc((size_t)(1u + nr_frames) * PV_GRANT_FRAME_SIZE, PV_GRANT_FRAME_SIZE);
    if (mem == NULL) {
        pv_atomic_fetch_and(&open_mask, ~bit);
        return PV_ENOSPC;
    }
    memset(mem, 0, (size_t)(1u + nr_frames) * PV_GRANT_FRAME_SIZE);

    int32_t port;
    for (;;) {
        port = pv_evtchn_alloc_unbound(peer);
        if (port >= 0 || port != PV_ESRCH || expired(deadline))
            break;
        pv_sleep_ns(PV_MSG_RETRY_NS); /* the peer does not exist yet */
    }
    if (port < 0) {
        pv_atomic_fetch_and(&open_mask, ~bit);
        return port;
    }
    pv_evtchn_mask((uint32_t)port); /* waits use sched_poll; no upcall needed */

    uint32_t hdr_ref = PV_MSG_HDR_REF(idx);
    pv_msg_hdr_t *h = (pv_msg_hdr_t *)mem;
    h->prod = 0;
    h->cons = 0;
    h->prod_event = 0;           /* the first message notifies */
    h->cons_event = 0xffffffffu; /* = cons - 1: no consumption notifies until the sender asks */
    h->version = (uint16_t)PV_MSG_VERSION;
    h->nr_frames = (uint16_t)nr_frames;
    h->port = (uint32_t)port;
    h->data_ref = hdr_ref + 1u;
    pv_wmb();
    pv_atomic_store(&h->magic, PV_MSG_MAGIC);

    memset(rx, 0, sizeof *rx);
    rx->hdr = h;
    rx->data = mem + PV_GRANT_FRAME_SIZE;
    rx->nr_frames = nr_frames;
    rx->size = nr_frames * PV_GRANT_FRAME_SIZE;
    rx->peer = peer;
    rx->idx = idx;
    rx->port = (uint32_t)port;

    /* Data grants first: once the sender can read the header, everything it names exists. */
    for (uint32_t i = 0; i < nr_frames; i++)
        pv_grant_access(table, hdr_ref + 1u + i, (uint16_t)peer, rx->data + i * PV_GRANT_FRAME_SIZE, 0);
    pv_grant_access(table, hdr_ref, (uint16_t)peer, h, 0);
    return 0;
}

/* Marks the end broken with `err` and returns it. */
static int32_t rx_break(pv_msg_rx_t *rx, int32_t err)
{
    rx->broken = err;
    return err;
}

/*
 * Waits (if `wait`) until a record is at cons, checks it, and returns 0 with its length and tag;
 * PV_EAGAIN / PV_ETIMEDOUT when none came.
 */
static int32_t rx_next(pv_msg_rx_t *rx, uint64_t deadline, int wait, uint32_t *len, uint32_t *tag)
{
    if (rx->broken != 0)
        return rx->broken;
    pv_msg_hdr_t *h = rx->hdr;
    uint32_t prod;
    for (;;) {
        prod = pv_atomic_load_acquire(&h->prod);
        if (prod != rx->cons)
            break;
        if (!wait)
            return PV_EAGAIN;
        pv_evtchn_clear(rx->port);
        pv_atomic_store(&h->prod_event, rx->cons);
        pv_mb();
        if (pv_atomic_load_acquire(&h->prod) != rx->cons)
            continue;
        rx->waits++;
        int32_t r = poll_port(&rx->port, deadline);
        if (r == PV_ETIMEDOUT) {
            if (pv_atomic_load_acquire(&h->prod) != rx->cons)
                continue; /* came at the last moment: take it */
            return r;
        }
        if (r < 0)
            return r;
    }
    uint32_t fill = prod - rx->cons;
    if (fill > rx->size || (fill & 7u) != 0)
        return rx_break(rx, PV_EIO);
    const uint32_t *rec = (const uint32_t *)(rx->data + (rx->cons & (rx->size - 1u)));
    uint32_t l = pv_atomic_load_relaxed(&rec[0]);
    uint32_t t = pv_atomic_load_relaxed(&rec[1]);
    if (l > rx->size - PV_MSG_REC_HDR || PV_MSG_REC_HDR + align8(l) > fill)
        return rx_break(rx, PV_EIO);
    *len = l;
    *tag = t;
    return 0;
}

/* Copies the payload of the checked record at cons (`len` bytes) into buf. */
static void rx_copy(const pv_msg_rx_t *rx, void *buf, uint32_t len)
{
    uint32_t off = (rx->cons + PV_MSG_REC_HDR) & (rx->size - 1u);
    uint32_t first = rx->size - off < len ? rx->size - off : len;
    memcpy(buf, rx->data + off, first);
    memcpy((uint8_t *)buf + first, rx->data, len - first);
}

/* Consumes the record at cons (payload `len`), publishes cons, notifies if the sender waits. */
static int32_t rx_consume(pv_msg_rx_t *rx, uint32_t len)
{
    uint32_t old = rx->cons;
    uint32_t now = old + PV_MSG_REC_HDR + align8(len);
    rx->cons = now;
    rx->msgs++;
    pv_atomic_store_release(&rx->hdr->cons, now);
    pv_mb();
    if (need_event(pv_atomic_load(&rx->hdr->cons_event), now, old)) {
        rx->notifies++;
        int32_t r = pv_evtchn_send(rx->port);
        if (r < 0)
            return r;
    }
    return 0;
}

static int32_t rx_recv(pv_msg_rx_t *rx, void *buf, uint32_t cap, uint32_t *tag, uint64_t deadline,
                       int wait)
{
    uint32_t len, t;
    int32_t r = rx_next(rx, deadline, wait, &len, &t);
    if (r < 0)
        return r;
    if (len > cap)
        return PV_ENOSPC;
    rx_copy(rx, buf, len);
    if (tag != NULL)
        *tag = t;
    r = rx_consume(rx, len);
    return r < 0 ? r : (int32_t)len;
}

int32_t pv_msg_recv(pv_msg_rx_t *rx, void *buf, uint32_t cap, uint32_t *tag, uint64_t deadline)
{
    return rx_recv(rx, buf, cap, tag, deadline, 1);
}

int32_t pv_msg_poll(pv_msg_rx_t *rx, void *buf, uint32_t cap, uint32_t *tag)
{
    return rx_recv(rx, buf, cap, tag, 0, 0);
}

int32_t pv_msg_rx_close(pv_msg_rx_t *rx)
{
    uint32_t hdr_ref = PV_MSG_HDR_REF(rx->idx);
    pv_grant_end_access(table, hdr_ref);
    for (uint32_t i = 0; i < rx->nr_frames; i++)
        pv_grant_end_access(table, hdr_ref + 1u + i);
    pv_evtchn_mask(rx->port);
    int32_t r = pv_evtchn_close(rx->port);
    pv_evtchn_clear(rx->port);
    rx->broken = PV_EINVAL;
    pv_atomic_fetch_and(&open_mask, ~(1u << rx->idx));
    return r;
}

/* ---- Sending end ---- */

static void set_op(struct pv_grant_copy_op *op, uint32_t sref, uint16_t sdom, uint16_t soff,
                   uint32_t dref, uint16_t ddom, uint16_t doff, uint16_t len, uint16_t flags)
{
    op->source.ref = sref;
    op->source.domid = sdom;
    op->source.offset = soff;
    op->dest.ref = dref;
    op->dest.domid = ddom;
    op->dest.offset = doff;
    op->len = len;
    op->flags = flags;
    op->status = 0;
    op->pad = 0;
}

static int32_t tx_break(pv_msg_tx_t *tx, int32_t err)
{
    tx->broken = err;
    return err;
}

/* Appends a guard: copies the status of op `from` over the dest.offset of op `to` (see below). */
static void add_guard(pv_msg_tx_t *tx, uint32_t *n, uint32_t from, uint32_t to)
{
    int16_t *status = &tx->ops[from].status;
    uint16_t *offset = &tx->ops[to].dest.offset;
    set_op(&tx->ops[(*n)++], pv_grant_frame(status), (uint16_t)PV_DOMID_SELF, pv_grant_offset(status),
           pv_grant_frame(offset), (uint16_t)PV_DOMID_SELF, pv_grant_offset(offset), 2, 0);
}

/*
 * One grant_copy: the queued bytes [pub, prod) frame by frame, then {prod, cons_event} into the
 * header, then {cons, prod_event} back; then a notification if prod passed prod_event.
 *
 * All or nothing: the host runs each op on its own, so a failed data op would not stop the index
 * write, and the receiver would take unwritten bytes as messages. Every op after the first data
 * op has dest.offset 0 (later pieces start at a frame boundary, as does the index write), so
 * before each of them a guard op copies the previous op's status over that offset: 0 after a
 * success, and after a failure a negative status, which as an offset (>= 0xfff6) fails the op with
 * GNTST_BAD_COPY_ARG. A failure thus runs down the chain and the index is never written. (The
 * host reads each op only when its turn comes, after the earlier ops' statuses are written.)
 */
static int32_t tx_publish(pv_msg_tx_t *tx)
{
    if (tx->broken != 0)
        return tx->broken;
    uint16_t peer = (uint16_t)tx->peer;
    uint32_t n = 0;
    uint32_t last_data = 0;
    int have_data = 0;
    uint32_t pos = tx->pub;
    uint32_t left = tx->prod - tx->pub;
    while (left != 0) {
        uint32_t off = pos & (tx->size - 1u);
        uint32_t in = off % PV_GRANT_FRAME_SIZE;
        uint32_t chunk = PV_GRANT_FRAME_SIZE - in < left ? PV_GRANT_FRAME_SIZE - in : left;
        if (have_data)
            add_guard(tx, &n, last_data, n + 1u); /* in == 0 here */
        last_data = n;
        have_data = 1;
        set_op(&tx->ops[n++], pv_grant_frame(tx->shadow + off), (uint16_t)PV_DOMID_SELF, (uint16_t)in,
               tx->data_ref + off / PV_GRANT_FRAME_SIZE, peer, (uint16_t)in, (uint16_t)chunk,
               (uint16_t)PV_GNTCOPY_DEST_GREF);
        pos += chunk;
        left -= chunk;
    }
    uint32_t *io = tx->io;
    io[0] = tx->prod;
    io[1] = tx->cons_event;
    if (have_data)
        add_guard(tx, &n, last_data, n + 1u);
    set_op(&tx->ops[n++], pv_grant_frame(io), (uint16_t)PV_DOMID_SELF, pv_grant_offset(io),
           tx->hdr_ref, peer, 0, 8, (uint16_t)PV_GNTCOPY_DEST_GREF);
    set_op(&tx->ops[n++], tx->hdr_ref, peer, 8, pv_grant_frame(&io[2]), (uint16_t)PV_DOMID_SELF,
           pv_grant_offset(&io[2]), 8, (uint16_t)PV_GNTCOPY_SOURCE_GREF);
    int32_t r = pv_grant_copy(tx->ops, n);
    if (r < 0)
        return r;
    tx->publishes++;
    /* The first failure is the cause; the ops after it failed through their guards. */
    for (uint32_t i = 0; i < n; i++) {
        if (tx->ops[i].status != PV_GNTST_OKAY) {
            tx->gnt_status = tx->ops[i].status;
            return tx_break(tx, PV_EFAULT);
        }
    }
    uint32_t old = tx->pub;
    uint32_t cons = pv_atomic_load(&io[2]);
    uint32_t prod_event = pv_atomic_load(&io[3]);
    tx->pub = tx->prod;
    /* cons may only move forward, and never past prod. */
    if (tx->prod - cons > tx->prod - tx->cons || (cons & 7u) != 0)
        return tx_break(tx, PV_EIO);
    tx->cons = cons;
    tx->prod_event = prod_event;
    if (tx->prod != old && need_event(prod_event, tx->prod, old)) {
        tx->notifies++;
        r = pv_evtchn_send(tx->port);
        if (r < 0)
            return r;
    }
    return 0;
}

int32_t pv_msg_tx_connect(pv_msg_tx_t *tx, uint32_t peer, uint32_t idx, uint64_t deadline)
{
    if (tx == NULL || idx >= PV_MSG_MAX_CHANNELS || peer >= PV_DOMID_SELF)
        return PV_EINVAL;
    memset(tx, 0, sizeof *tx);
    tx->peer = peer;
    tx->idx = idx;
    tx->hdr_ref = PV_MSG_HDR_REF(idx);
    tx->io = pv_alloc(32, 32);
    if (tx->io == NULL)
        return PV_ENOSPC;
    uint32_t *io = tx->io;
    struct pv_grant_copy_op *op = &tx->ops[0];
    for (;;) {
        set_op(op, tx->hdr_ref, (uint16_t)peer, 0, pv_grant_frame(io), (uint16_t)PV_DOMID_SELF,
               pv_grant_offset(io), 32, (uint16_t)PV_GNTCOPY_SOURCE_GREF);
        int32_t r = pv_grant_copy(op, 1);
        if (r < 0)
            return r;
        int32_t st = op->status;
        tx->gnt_status = st;
        if (st == PV_GNTST_OKAY && pv_atomic_load(&io[4]) == PV_MSG_MAGIC)
            break;
        /* Not there yet (no such domain, no table, not granted, magic unwritten): retry.
         * Any other status means the peer's grant is unusable: give up. */
        if (st != PV_GNTST_OKAY && st != PV_GNTST_BAD_DOMAIN && st != PV_GNTST_BAD_GNTREF &&
            st != PV_GNTST_GENERAL_ERROR)
            return PV_EFAULT;
        if (expired(deadline))
            return PV_ETIMEDOUT;
        pv_sleep_ns(PV_MSG_RETRY_NS);
    }
    uint32_t version = io[5] & 0xffffu;
    uint32_t nr_frames = io[5] >> 16;
    uint32_t prod = io[0];
    uint32_t cons = io[2];
    if (version != PV_MSG_VERSION || nr_frames == 0 || nr_frames > PV_MSG_MAX_FRAMES ||
        (nr_frames & (nr_frames - 1)) != 0)
        return PV_EIO;
    uint32_t size = nr_frames * PV_GRANT_FRAME_SIZE;
    if (prod - cons > size || ((prod | cons) & 7u) != 0)
        return PV_EIO;
    tx->size = size;
    tx->data_ref = io[7];
    tx->prod = tx->pub = prod;
    tx->cons = cons;
    tx->prod_event = io[3];
    tx->cons_event = cons - 1u; /* asks for nothing until the ring is full */
    tx->shadow = pv_alloc(size, PV_GRANT_FRAME_SIZE);
    if (tx->shadow == NULL)
        return PV_ENOSPC;
    int32_t port = pv_evtchn_bind_interdomain(peer, io[6]);
    if (port < 0)
        return port;
    pv_evtchn_mask((uint32_t)port);
    tx->port = (uint32_t)port;
    return 0;
}

uint32_t pv_msg_max_len(const pv_msg_tx_t *tx)
{
    return tx->size - PV_MSG_REC_HDR;
}

static uint32_t tx_room(const pv_msg_tx_t *tx)
{
    return tx->size - (tx->prod - tx->cons);
}

int32_t pv_msg_queue(pv_msg_tx_t *tx, const void *buf, uint32_t len, uint32_t tag, uint64_t deadline)
{
    if (tx->broken != 0)
        return tx->broken;
    if (tx->shadow == NULL || len > pv_msg_max_len(tx) || (buf == NULL && len != 0))
        return PV_EINVAL;
    uint32_t rec = PV_MSG_REC_HDR + align8(len);
    if (tx_room(tx) < rec) {
        /* Publish what is queued and look at cons again; if still full, ask to be told. */
        int32_t r = tx_publish(tx);
        if (r < 0)
            return r;
        while (tx_room(tx) < rec) {
            pv_evtchn_clear(tx->port);
            tx->cons_event = tx->prod + rec - tx->size - 1u;
            r = tx_publish(tx);
            if (r < 0)
                return r;
            if (tx_room(tx) >= rec)
                break;
            tx->waits++;
            r = poll_port(&tx->port, deadline);
            if (r == PV_ETIMEDOUT) {
                r = tx_publish(tx);
                if (r < 0)
                    return r;
                if (tx_room(tx) >= rec)
                    break;
                return PV_ETIMEDOUT;
            }
            if (r < 0)
                return r;
        }
    }
    uint32_t mask = tx->size - 1u;
    uint32_t off = tx->prod & mask;
    uint32_t *h = (uint32_t *)(tx->shadow + off);
    h[0] = len;
    h[1] = tag;
    uint32_t p = (off + PV_MSG_REC_HDR) & mask;
    uint32_t first = tx->size - p < len ? tx->size - p : len;
    if (len != 0) {
        memcpy(tx->shadow + p, buf, first);
        memcpy(tx->shadow, (const uint8_t *)buf + first, len - first);
    }
    uint32_t end = (p + len) & mask;
    memset(tx->shadow + end, 0, align8(len) - len); /* padding: never wraps (ends 8-aligned) */
    tx->prod += rec;
    tx->msgs++;
    if (tx->prod - tx->pub >= tx->size / 2u)
        return tx_publish(tx); /* let the receiver start on the first half */
    return 0;
}

int32_t pv_msg_flush(pv_msg_tx_t *tx)
{
    if (tx->broken != 0)
        return tx->broken;
    return tx->prod == tx->pub ? 0 : tx_publish(tx);
}

int32_t pv_msg_send(pv_msg_tx_t *tx, const void *buf, uint32_t len, uint32_t tag, uint64_t deadline)
{
    int32_t r = pv_msg_queue(tx, buf, len, tag, deadline);
    return r < 0 ? r : pv_msg_flush(tx);
}

int32_t pv_msg_tx_close(pv_msg_tx_t *tx)
{
    pv_evtchn_mask(tx->port);
    int32_t r = pv_evtchn_close(tx->port);
    pv_evtchn_clear(tx->port);
    tx->broken = PV_EINVAL;
    return r;
}

/* ---- Links and calls ---- */

int32_t pv_msg_link_open(pv_msg_link_t *link, uint32_t peer, uint32_t idx, uint32_t nr_frames,
                         uint64_t deadline)
{
    link->call_seq = 0;
    int32_t r = pv_msg_rx_open(&link->rx, peer, idx, nr_frames, deadline);
    if (r < 0)
        return r;
    r = pv_msg_tx_connect(&link->tx, peer, idx, deadline);
    if (r < 0) {
        pv_msg_rx_close(&link->rx);
        return r;
    }
    return 0;
}

int32_t pv_msg_call(pv_msg_link_t *link, const void *req, uint32_t len, void *rep, uint32_t cap,
                    uint64_t timeout_ns)
{
    uint64_t deadline = timeout_ns != 0 ? pv_time_ns() + timeout_ns : 0;
    uint32_t id = ++link->call_seq;
    int32_t r = pv_msg_send(&link->tx, req, len, id, deadline);
    if (r < 0)
        return r;
    for (;;) {
        uint32_t rlen, tag;
        r = rx_next(&link->rx, deadline, 1, &rlen, &tag);
        if (r < 0)
            return r;
        if (tag == id && rlen <= cap)
            rx_copy(&link->rx, rep, rlen);
        r = rx_consume(&link->rx, rlen);
        if (r < 0)
            return r;
        if (tag == id)
            return rlen <= cap ? (int32_t)rlen : PV_ENOSPC;
        /* A reply to an earlier call that timed out: dropped. */
    }
}
