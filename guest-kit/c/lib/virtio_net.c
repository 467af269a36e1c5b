/*
 * libpvisor: virtio-net driver (virtio_net.h).
 *
 * Receive: every rxq descriptor is one buf_size buffer (header + frame), all posted at init; a
 * frame taken out of the used ring is copied to the caller (or handed to a burst callback in
 * place) and its buffer re-added at once (refill), one kick per call. Transmit: a fixed pool of
 * buf_size buffers, one descriptor each (header + frame), a free stack refilled by reaping the
 * txq (in the interrupt, or before waiting). Buffer i is at bufs + i * buf_size.
 * Everything touching the queues runs with upcalls masked, so the interrupt handler and the
 * caller never interleave on the driving vCPU.
 */
#include "internal.h"

#include <pvisor/virtio_net.h>

/* Reaps finished transmit buffers. Upcalls masked. */
static void reap_tx(pv_net_t *net)
{
    uint8_t *b;
    while ((b = pv_virtq_get_used(&net->txq, NULL)) != NULL)
        net->tx_free[net->tx_nfree++] = (uint16_t)((uint32_t)(b - net->tx_bufs) / net->buf_size);
}

static void on_used(pv_virtio_dev_t *dev, void *ctx)
{
    (void)dev;
    reap_tx(ctx); /* received frames stay in the used ring until pv_net_poll/recv */
}

static int32_t post_rx(pv_net_t *net, uint8_t *b)
{
    pv_virtq_buf_t vb = {b, net->buf_size};
    int32_t r = pv_virtq_add(&net->rxq, &vb, 0, 1, b);
    return r < 0 ? r : 0;
}

/* Queue `index` with `qsize` entries (0: the driver's default), rings from pv_alloc. */
static int32_t setup(pv_net_t *net, uint32_t index, pv_virtq_t *vq, uint32_t qsize)
{
    return pv_virtio_alloc_queue(&net->vdev, index, vq, qsize, 64u);
}

int32_t pv_net_init(pv_net_t *net, const pv_device_info_t *info, uint32_t qsize)
{
    return pv_net_init_ex(net, info, qsize, 0);
}

int32_t pv_net_init_ex(pv_net_t *net, const pv_device_info_t *info, uint32_t qsize, uint32_t buf_size)
{
    memset(net, 0, sizeof *net);
    if (buf_size == 0)
        buf_size = PV_NET_BUF_SIZE;
    if (buf_size < PV_NET_BUF_SIZE || buf_size > PV_NET_BUF_SIZE_MAX)
        return PV_EINVAL;
    net->buf_size = (buf_size + 15u) & ~15u;
    net->frame_max = net->buf_size - PV_VIRTIO_NET_HDR_LEN;
    if (info == NULL)
        info = pv_virtio_find(PV_VIRTIO_ID_NET, NULL, 0);
    if (info == NULL)
        return PV_ESRCH;
    uint64_t wanted = PV_VIRTIO_BIT(PV_VIRTIO_NET_F_MAC) | PV_VIRTIO_BIT(PV_VIRTIO_NET_F_MTU) |
                      PV_VIRTIO_BIT(PV_VIRTIO_NET_F_STATUS);
    int32_t r = pv_virtio_begin(&net->vdev, info, wanted);
    if (r < 0)
        return r;
    pv_virtio_dev_t *dev = &net->vdev;
    if (pv_virtio_has(dev, PV_VIRTIO_NET_F_MAC))
        for (uint32_t i = 0; i < PV_ETH_ALEN; i++)
            net->mac[i] = pv_virtio_config_read8(dev, PV_VIRTIO_NET_CFG_MAC + i);
    net->mtu = pv_virtio_has(dev, PV_VIRTIO_NET_F_MTU)
                   ? pv_virtio_config_read16(dev, PV_VIRTIO_NET_CFG_MTU)
                   : 1500u;
    if (net->mtu > net->frame_max - PV_ETH_HLEN)
        net->mtu = (uint16_t)(net->frame_max - PV_ETH_HLEN);
    net->has_status = pv_virtio_has(dev, PV_VIRTIO_NET_F_STATUS) ? 1u : 0u;

    r = setup(net, 0, &net->rxq, qsize);
    if (r < 0)
        return r;
    r = setup(net, 1, &net->txq, qsize);
    if (r < 0)
        return r;
    net->rx_bufs = pv_alloc((size_t)net->rxq.num * net->buf_size, 16);
    net->tx_bufs = pv_alloc((size_t)net->txq.num * net->buf_size, 16);
    net->tx_free = pv_alloc((size_t)net->txq.num * sizeof(uint16_t), 2);
    if (net->rx_bufs == NULL || net->tx_bufs == NULL || net->tx_free == NULL) {
        pv_virtio_fail(dev);
        return PV_ENOSPC;
    }
    for (uint32_t i = 0; i < net->txq.num; i++)
        net->tx_free[i] = (uint16_t)(net->txq.num - 1u - i);
    net->tx_nfree = net->txq.num;
    /* §5.1.5 step 4: fill the receive queue before DRIVER_OK. */
    for (uint32_t i = 0; i < net->rxq.num; i++) {
        r = post_rx(net, net->rx_bufs + (size_t)i * net->buf_size);
        if (r < 0) {
            pv_virtio_fail(dev);
            return r;
        }
    }
    pv_virtio_set_handlers(dev, on_used, NULL, net);
    r = pv_virtio_driver_ok(dev);
    if (r < 0)
        return r;
    pv_virtq_kick(&net->rxq);
    return 0;
}

int pv_net_link_up(const pv_net_t *net)
{
    if (!net->has_status)
        return 1;
    return (pv_virtio_config_read16(&net->vdev, PV_VIRTIO_NET_CFG_STATUS) & PV_VIRTIO_NET_S_LINK_UP) != 0;
}

/* Stop waiting for a transmit buffer? Upcalls masked. */
static int tx_room(pv_net_t *net)
{
    reap_tx(net);
    return net->tx_nfree != 0 || pv_atomic_load(&net->vdev.needs_reset);
}

/* Takes a free transmit buffer, waiting for one. Upcalls masked on entry and exit; NULL after
 * DEVICE_NEEDS_RESET. `*was` is the caller's saved upcall state (restored while waiting). */
static uint8_t *tx_take(pv_net_t *net, int *was)
{
    if (!tx_room(net)) {
        /* All buffers in flight: queued ones must reach the device before any can come back. */
        if (net->tx_pending != 0) {
            net->tx_pending = 0;
            pv_virtq_kick(&net->txq);
        }
        pv_irq_restore(*was);
        PV_WAIT_UNTIL(tx_room(net));
        *was = pv_irq_save();
    }
    if (pv_atomic_load(&net->vdev.needs_reset))
        return NULL;
    return net->tx_bufs + (size_t)net->tx_free[--net->tx_nfree] * net->buf_size;
}

/* Queues transmit buffer `b` holding a `len`-byte frame (validated); frees it on error. Upcalls masked. */
static int32_t tx_queue(pv_net_t *net, uint8_t *b, uint32_t len)
{
    memset(b, 0, PV_VIRTIO_NET_HDR_LEN); /* §5.1.6.2: no offloads: flags 0, GSO_NONE */
    pv_virtq_buf_t vb = {b, PV_VIRTIO_NET_HDR_LEN + len};
    int32_t r = pv_virtq_add(&net->txq, &vb, 1, 0, b);
    if (r < 0) {
        net->tx_free[net->tx_nfree++] = (uint16_t)((uint32_t)(b - net->tx_bufs) / net->buf_size);
        return r;
    }
    net->tx_pending++;
    net->tx_frames++;
    return 0;
}

int32_t pv_net_queue(pv_net_t *net, const void *frame, uint32_t len)
{
    if (frame == NULL || len < PV_ETH_HLEN || len > net->frame_max)
        return PV_EINVAL;
    int was = pv_irq_save();
    uint8_t *b = tx_take(net, &was);
    int32_t r = PV_EIO;
    if (b != NULL) {
        memcpy(b + PV_VIRTIO_NET_HDR_LEN, frame, len);
        r = tx_queue(net, b, len);
    }
    pv_irq_restore(was);
    return r;
}

void *pv_net_tx_get(pv_net_t *net)
{
    int was = pv_irq_save();
    uint8_t *b = tx_take(net, &was);
    pv_irq_restore(was);
    return b == NULL ? NULL : b + PV_VIRTIO_NET_HDR_LEN;
}

int32_t pv_net_tx_put(pv_net_t *net, void *frame, uint32_t len)
{
    uint8_t *b = (uint8_t *)frame - PV_VIRTIO_NET_HDR_LEN;
    size_t off = (size_t)(b - net->tx_bufs);
    if (frame == NULL || (uint8_t *)frame < net->tx_bufs + PV_VIRTIO_NET_HDR_LEN ||
        off >= (size_t)net->txq.num * net->buf_size || off % net->buf_size != 0)
        return PV_EINVAL;
    int was = pv_irq_save();
    int32_t r;
    if (len < PV_ETH_HLEN || len > net->frame_max) {
        net->tx_free[net->tx_nfree++] = (uint16_t)(off / net->buf_size);
        r = PV_EINVAL;
    } else if (pv_atomic_load(&net->vdev.needs_reset)) {
        net->tx_free[net->tx_nfree++] = (uint16_t)(off / net->buf_size);
        r = PV_EIO;
    } else {
        r = tx_queue(net, b, len);
    }
    pv_irq_restore(was);
    return r;
}

int pv_net_kick(pv_net_t *net)
{
    int was = pv_irq_save();
    net->tx_pending = 0;
    int n = pv_virtq_kick(&net->txq);
    pv_irq_restore(was);
    return n;
}

int32_t pv_net_send(pv_net_t *net, const void *frame, uint32_t len)
{
    int32_t r = pv_net_queue(net, frame, len);
    if (r < 0)
        return r;
    pv_net_kick(net);
    return 0;
}

/* One frame out of the used ring, its buffer reposted. Upcalls masked. */
static int32_t take(pv_net_t *net, void *buf, uint32_t cap)
{
    if (pv_atomic_load(&net->vdev.needs_reset))
        return PV_EIO;
    for (;;) {
        uint32_t len;
        uint8_t *b = pv_virtq_get_used(&net->rxq, &len);
        if (b == NULL)
            return PV_EAGAIN;
        int32_t r;
        if (len < PV_VIRTIO_NET_HDR_LEN + PV_ETH_HLEN || len > net->buf_size) {
            net->rx_errors++; /* e.g. length 0: a frame that did not fit, or a refused chain */
            r = PV_EAGAIN;
        } else {
            r = (int32_t)(len - PV_VIRTIO_NET_HDR_LEN);
            memcpy(buf, b + PV_VIRTIO_NET_HDR_LEN, (uint32_t)r < cap ? (uint32_t)r : cap);
            net->rx_frames++;
        }
        post_rx(net, b); /* cannot fail: the descriptor just came back */
        pv_virtq_kick(&net->rxq);
        if (r != PV_EAGAIN)
            return r;
    }
}

int32_t pv_net_rx_burst(pv_net_t *net, pv_net_rx_fn fn, void *ctx, uint32_t max)
{
    int was = pv_irq_save();
    int32_t n = 0;
    if (pv_atomic_load(&net->vdev.needs_reset)) {
        n = PV_EIO;
    } else {
        uint32_t reposted = 0;
        while ((uint32_t)n < max) {
            uint32_t len;
            uint8_t *b = pv_virtq_get_used(&net->rxq, &len);
            if (b == NULL)
                break;
            if (len < PV_VIRTIO_NET_HDR_LEN + PV_ETH_HLEN || len > net->buf_size) {
                net->rx_errors++;
            } else {
                fn(b + PV_VIRTIO_NET_HDR_LEN, len - PV_VIRTIO_NET_HDR_LEN, ctx);
                net->rx_frames++;
                n++;
            }
            post_rx(net, b);
            reposted++;
        }
        if (reposted != 0)
            pv_virtq_kick(&net->rxq);
    }
    pv_irq_restore(was);
    return n;
}

int32_t pv_net_rx_wait(pv_net_t *net, uint64_t deadline_ns)
{
    int was = pv_irq_save();
    int32_t r = 0;
    while (!pv_virtq_has_used(&net->rxq)) {
        if (pv_atomic_load(&net->vdev.needs_reset)) {
            r = PV_EIO;
            break;
        }
        /* Masked, tested, then sched_block unmasks atomically (see pv_net_recv_until). */
        if (deadline_ns != UINT64_MAX) {
            if (pv_time_ns() >= deadline_ns) {
                r = PV_ETIMEDOUT;
                break;
            }
            r = pv_set_timer(&deadline_ns);
            if (r < 0)
                break;
        }
        r = pv_sched_block();
        pv_irq_disable();
        if (r < 0)
            break;
        r = 0;
    }
    pv_irq_restore(was);
    return r;
}

int32_t pv_net_poll(pv_net_t *net, void *buf, uint32_t cap)
{
    int was = pv_irq_save();
    int32_t r = take(net, buf, cap);
    pv_irq_restore(was);
    return r;
}

int32_t pv_net_recv_until(pv_net_t *net, void *buf, uint32_t cap, uint64_t deadline_ns)
{
    int was = pv_irq_save();
    int32_t r;
    for (;;) {
        r = take(net, buf, cap);
        if (r != PV_EAGAIN)
            break;
        /* Masked, tested, then sched_block unmasks atomically: a frame (or the timer) that
         * arrives in between leaves upcall_pending set and the block returns at once. */
        if (deadline_ns != UINT64_MAX) {
            if (pv_time_ns() >= deadline_ns) {
                r = PV_ETIMEDOUT;
                break;
            }
            r = pv_set_timer(&deadline_ns);
            if (r < 0)
                break;
        }
        r = pv_sched_block();
        pv_irq_disable();
        if (r < 0)
            break;
    }
    pv_irq_restore(was);
    return r;
}

int32_t pv_net_recv(pv_net_t *net, void *buf, uint32_t cap)
{
    return pv_net_recv_until(net, buf, cap, UINT64_MAX);
}
