/*
 * libpvisor: virtio-console driver (virtio_console.h), port 0.
 *
 * Same shape as virtio_net.c: every receive descriptor is one PV_VCON_BUF_SIZE buffer posted at
 * init and reposted once read; transmit buffers come from a free stack refilled by reaping the
 * transmit queue (in the interrupt, or before waiting). Queue operations run with upcalls masked.
 */
#include "internal.h"

#include <pvisor/virtio_console.h>

static void reap_tx(pv_vcon_t *con)
{
    pv_vcon_buf_t *b;
    while ((b = pv_virtq_get_used(&con->txq, NULL)) != NULL)
        con->tx_free[con->tx_nfree++] = (uint16_t)(b - con->tx_bufs);
}

static void on_used(pv_virtio_dev_t *dev, void *ctx)
{
    (void)dev;
    reap_tx(ctx); /* input stays in the used ring until pv_vcon_poll/read */
}

static int32_t post_rx(pv_vcon_t *con, pv_vcon_buf_t *b)
{
    pv_virtq_buf_t vb = {b, PV_VCON_BUF_SIZE};
    int32_t r = pv_virtq_add(&con->rxq, &vb, 0, 1, b);
    return r < 0 ? r : 0;
}

/* Queue `index` with `qsize` entries (0: the driver's default), rings from pv_alloc. */
static int32_t setup(pv_vcon_t *con, uint32_t index, pv_virtq_t *vq, uint32_t qsize)
{
    return pv_virtio_alloc_queue(&con->vdev, index, vq, qsize, 16u);
}

int32_t pv_vcon_init(pv_vcon_t *con, const pv_device_info_t *info, uint32_t qsize)
{
    memset(con, 0, sizeof *con);
    if (info == NULL)
        info = pv_virtio_find(PV_VIRTIO_ID_CONSOLE, NULL, 0);
    if (info == NULL)
        return PV_ESRCH;
    int32_t r = pv_virtio_begin(&con->vdev, info, PV_VIRTIO_BIT(PV_VIRTIO_CONSOLE_F_SIZE));
    if (r < 0)
        return r;
    pv_virtio_dev_t *dev = &con->vdev;
    if (pv_virtio_has(dev, PV_VIRTIO_CONSOLE_F_SIZE)) {
        con->cols = pv_virtio_config_read16(dev, PV_VIRTIO_CONSOLE_CFG_COLS);
        con->rows = pv_virtio_config_read16(dev, PV_VIRTIO_CONSOLE_CFG_ROWS);
    }
    r = setup(con, 0, &con->rxq, qsize);
    if (r < 0)
        return r;
    r = setup(con, 1, &con->txq, qsize);
    if (r < 0)
        return r;
    con->rx_bufs = pv_alloc((size_t)con->rxq.num * sizeof(pv_vcon_buf_t), 16);
    con->tx_bufs = pv_alloc((size_t)con->txq.num * sizeof(pv_vcon_buf_t), 16);
    con->tx_free = pv_alloc((size_t)con->txq.num * sizeof(uint16_t), 2);
    if (con->rx_bufs == NULL || con->tx_bufs == NULL || con->tx_free == NULL) {
        pv_virtio_fail(dev);
        return PV_ENOSPC;
    }
    for (uint32_t i = 0; i < con->txq.num; i++)
        con->tx_free[i] = (uint16_t)(con->txq.num - 1u - i);
    con->tx_nfree = con->txq.num;
    for (uint32_t i = 0; i < con->rxq.num; i++) {
        r = post_rx(con, &con->rx_bufs[i]);
        if (r < 0) {
            pv_virtio_fail(dev);
            return r;
        }
    }
    pv_virtio_set_handlers(dev, on_used, NULL, con);
    r = pv_virtio_driver_ok(dev);
    if (r < 0)
        return r;
    pv_virtq_kick(&con->rxq);
    return 0;
}

static int tx_room(pv_vcon_t *con)
{
    reap_tx(con);
    return con->tx_nfree != 0 || pv_atomic_load(&con->vdev.needs_reset);
}

int32_t pv_vcon_write(pv_vcon_t *con, const void *buf, uint32_t len)
{
    const uint8_t *p = buf;
    uint32_t done = 0;
    int was = pv_irq_save();
    while (done < len) {
        if (!tx_room(con)) {
            pv_virtq_kick(&con->txq); /* what is queued must go out before buffers come back */
            pv_irq_restore(was);
            PV_WAIT_UNTIL(tx_room(con));
            was = pv_irq_save();
        }
        if (pv_atomic_load(&con->vdev.needs_reset)) {
            pv_irq_restore(was);
            return PV_EIO;
        }
        uint32_t n = len - done < PV_VCON_BUF_SIZE ? len - done : PV_VCON_BUF_SIZE;
        uint16_t i = con->tx_free[--con->tx_nfree];
        pv_vcon_buf_t *b = &con->tx_bufs[i];
        memcpy(b->data, p + done, n);
        pv_virtq_buf_t vb = {b, n};
        if (pv_virtq_add(&con->txq, &vb, 1, 0, b) < 0) { /* cannot happen: a buffer was free */
            con->tx_free[con->tx_nfree++] = i;
            pv_irq_restore(was);
            return PV_EIO;
        }
        done += n;
        con->tx_bytes += n;
    }
    pv_virtq_kick(&con->txq);
    pv_irq_restore(was);
    return (int32_t)len;
}

/* Bytes from the current (or next) received buffer. Upcalls masked. */
static int32_t take(pv_vcon_t *con, uint8_t *buf, uint32_t cap)
{
    if (pv_atomic_load(&con->vdev.needs_reset))
        return PV_EIO;
    while (con->cur == NULL) {
        uint32_t len;
        pv_vcon_buf_t *b = pv_virtq_get_used(&con->rxq, &len);
        if (b == NULL)
            return PV_EAGAIN;
        if (len == 0 || len > PV_VCON_BUF_SIZE) { /* nothing (or nonsense) written: repost */
            post_rx(con, b);
            pv_virtq_kick(&con->rxq);
            continue;
        }
        con->cur = b;
        con->cur_len = len;
        con->cur_off = 0;
    }
    uint32_t n = con->cur_len - con->cur_off;
    if (n > cap)
        n = cap;
    memcpy(buf, con->cur->data + con->cur_off, n);
    con->cur_off += n;
    con->rx_bytes += n;
    if (con->cur_off == con->cur_len) {
        post_rx(con, con->cur); /* cannot fail: its descriptor came back */
        pv_virtq_kick(&con->rxq);
        con->cur = NULL;
    }
    return (int32_t)n;
}

int32_t pv_vcon_poll(pv_vcon_t *con, void *buf, uint32_t cap)
{
    if (cap == 0)
        return PV_EINVAL;
    int was = pv_irq_save();
    int32_t r = take(con, buf, cap);
    pv_irq_restore(was);
    return r;
}

int32_t pv_vcon_read(pv_vcon_t *con, void *buf, uint32_t cap)
{
    if (cap == 0)
        return PV_EINVAL;
    int was = pv_irq_save();
    int32_t r;
    while ((r = take(con, buf, cap)) == PV_EAGAIN) {
        r = pv_sched_block(); /* unmasks atomically: input arriving meanwhile wakes it at once */
        pv_irq_disable();
        if (r < 0)
            break;
    }
    pv_irq_restore(was);
    return r;
}
