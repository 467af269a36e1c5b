/*
 * libpvisor: virtio-net driver (virtio_net.h).
 *
 * Receive: every rxq descriptor is one PV_NET_BUF_SIZE buffer (header + frame), all posted at
 * init; a frame taken out of the used ring is copied to the caller and its buffer re-added at
 * once (refill) with one kick. Transmit: a fixed pool of buffers, one descriptor each (header +
 * frame), a free stack refilled by reaping the txq (in the interrupt, or before waiting).
 * Everything touching the queues runs with upcalls masked, so the interrupt handler and the
 * caller never interleave on the driving vCPU.
 */
#include "internal.h"

#include <pvisor/virtio_net.h>

/* Reaps finished transmit buffers. Upcalls masked. */
static void reap_tx(pv_net_t *net)
{
    pv_net_buf_t *b;
    while ((b = pv_virtq_get_used(&net->txq, NULL)) != NULL)
        net->tx_free[net->tx_nfree++] = (uint16_t)(b - net->tx_bufs);
}

static void on_used(pv_virtio_dev_t *dev, void *ctx)
{
    (void)dev;
    reap_tx(ctx); /* received frames stay in the used ring until pv_net_poll/recv */
}

static int32_t post_rx(pv_net_t *net, pv_net_buf_t *b)
{
    pv_virtq_buf_t vb = {b, (uint32_t)sizeof *b};
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
    memset(net, 0, sizeof *net);
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
    if (net->mtu > PV_NET_FRAME_MAX - PV_ETH_HLEN)
        net->mtu = (uint16_t)(PV_NET_FRAME_MAX - PV_ETH_HLEN);
    net->has_status = pv_virtio_has(dev, PV_VIRTIO_NET_F_STATUS) ? 1u : 0u;

    r = setup(net, 0, &net->rxq, qsize);
    if (r < 0)
        return r;
    r = setup(net, 1, &net->txq, qsize);
    if (r < 0)
        return r;
    net->rx_bufs = pv_alloc((size_t)net->rxq.num * sizeof(pv_net_buf_t), 16);
    net->tx_bufs = pv_alloc((size_t)net->txq.num * sizeof(pv_net_buf_t), 16);
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
        r = post_rx(net, &net->rx_bufs[i]);
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

int32_t pv_net_queue(pv_net_t *net, const void *frame, uint32_t len)
{
    if (frame == NULL || len < PV_ETH_HLEN || len > PV_NET_FRAME_MAX)
        return PV_EINVAL;
    int was = pv_irq_save();
    if (!tx_room(net)) {
        /* All buffers in flight: queued ones must reach the device before any can come back. */
        if (net->tx_pending != 0) {
            net->tx_pending = 0;
            pv_virtq_kick(&net->txq);
        }
        pv_irq_restore(was);
        PV_WAIT_UNTIL(tx_room(net));
        was = pv_irq_save();
    }
    if (pv_atomic_load(&net->vdev.needs_reset)) {
        pv_irq_restore(was);
        return PV_EIO;
    }
    uint16_t i = net->tx_free[--net->tx_nfree];
    pv_net_buf_t *b = &net->tx_bufs[i];
    memset(&b->hdr, 0, sizeof b->hdr);
    memcpy(b->frame, frame, len);
    pv_virtq_buf_t vb = {b, PV_VIRTIO_NET_HDR_LEN + len};
    int32_t r = pv_virtq_add(&net->txq, &vb, 1, 0, b);
    if (r < 0)
        net->tx_free[net->tx_nfree++] = i;
    else {
        net->tx_pending++;
        net->tx_frames++;
    }
    pv_irq_restore(was);
    return r < 0 ? r : 0;
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
        pv_net_buf_t *b = pv_virtq_get_used(&net->rxq, &len);
        if (b == NULL)
            return PV_EAGAIN;
        int32_t r;
        if (len < PV_VIRTIO_NET_HDR_LEN + PV_ETH_HLEN || len > sizeof *b) {
            net->rx_errors++; /* e.g. length 0: a frame that did not fit, or a refused chain */
            r = PV_EAGAIN;
        } else {
            r = (int32_t)(len - PV_VIRTIO_NET_HDR_LEN);
            memcpy(buf, b->frame, (uint32_t)r < cap ? (uint32_t)r : cap);
            net->rx_frames++;
        }
        post_rx(net, b); /* cannot fail: the descriptor just came back */
        pv_virtq_kick(&net->rxq);
        if (r != PV_EAGAIN)
            return r;
    }
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
