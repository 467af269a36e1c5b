/*
 * libpvisor: virtio-blk driver (virtio_blk.h).
 *
 * Each request is one chain: the 16-byte header (device-readable), the data if any
 * (device-readable for OUT, device-writable for IN/GET_ID), the status byte (device-writable).
 * Completions are reaped either by the device interrupt (on_used, in the upcall) or by polling
 * code with upcalls masked, so the two never interleave on the driving vCPU.
 */
#include "internal.h"

#include <pvisor/virtio_blk.h>

static int32_t status_result(uint8_t st)
{
    switch (st) {
    case PV_VIRTIO_BLK_S_OK:
        return 0;
    case PV_VIRTIO_BLK_S_UNSUPP:
        return PV_ENOSYS;
    default: /* IOERR, or a status the device never wrote (we preset 0xff) */
        return PV_EIO;
    }
}

/* Reaps every used request. Called with upcalls masked (in the upcall, or by the poll path). */
static uint32_t reap(pv_blk_t *blk)
{
    uint32_t n = 0;
    uint32_t len;
    pv_blk_req_t *req;
    while ((req = pv_virtq_get_used(&blk->vq, &len)) != NULL) {
        req->used_len = len;
        req->result = status_result(pv_atomic_load(&req->status));
        blk->in_flight--;
        blk->completed++;
        if (req->result != 0)
            blk->errors++;
        pv_atomic_store_release(&req->state, (uint32_t)PV_BLK_REQ_DONE);
        if (req->done != NULL)
            req->done(req, req->ctx);
        n++;
    }
    return n;
}

static void on_used(pv_virtio_dev_t *dev, void *ctx)
{
    (void)dev;
    reap(ctx);
}

int32_t pv_blk_init(pv_blk_t *blk, const pv_device_info_t *info, uint32_t qsize)
{
    memset(blk, 0, sizeof *blk);
    if (info == NULL)
        info = pv_virtio_find(PV_VIRTIO_ID_BLOCK, NULL, 0);
    if (info == NULL)
        return PV_ESRCH;
    uint64_t wanted = PV_VIRTIO_BIT(PV_VIRTIO_BLK_F_RO) | PV_VIRTIO_BIT(PV_VIRTIO_BLK_F_BLK_SIZE) |
                      PV_VIRTIO_BIT(PV_VIRTIO_BLK_F_FLUSH) | PV_VIRTIO_BIT(PV_VIRTIO_BLK_F_SEG_MAX);
    int32_t r = pv_virtio_begin(&blk->vdev, info, wanted);
    if (r < 0)
        return r;
    pv_virtio_dev_t *dev = &blk->vdev;
    blk->capacity = pv_virtio_config_read64(dev, PV_VIRTIO_BLK_CFG_CAPACITY);
    blk->blk_size = pv_virtio_has(dev, PV_VIRTIO_BLK_F_BLK_SIZE)
                        ? pv_virtio_config_read32(dev, PV_VIRTIO_BLK_CFG_BLK_SIZE)
                        : PV_BLK_SECTOR_SIZE;
    blk->read_only = pv_virtio_has(dev, PV_VIRTIO_BLK_F_RO) ? 1u : 0u;
    blk->has_flush = pv_virtio_has(dev, PV_VIRTIO_BLK_F_FLUSH) ? 1u : 0u;

    r = pv_virtio_alloc_queue(dev, 0, &blk->vq, qsize, 128u);
    if (r < 0)
        return r;
    pv_virtio_set_handlers(dev, on_used, NULL, blk);
    return pv_virtio_driver_ok(dev);
}

int32_t pv_blk_queue(pv_blk_t *blk, pv_blk_req_t *req)
{
    if (req == NULL || (req->len != 0 && req->buf == NULL))
        return PV_EINVAL;
    if (pv_atomic_load(&req->state) == PV_BLK_REQ_IN_FLIGHT)
        return PV_EINVAL;
    if (pv_atomic_load(&blk->vdev.needs_reset))
        return PV_EIO;
    req->hdr.type = req->type;
    req->hdr.reserved = 0;
    req->hdr.sector = req->sector;
    req->status = 0xff; /* not a status the device can mean: caught if it never writes one */
    req->result = 0;
    req->used_len = 0;

    pv_virtq_buf_t bufs[3];
    uint32_t n_out = 1, n_in = 0;
    bufs[0] = (pv_virtq_buf_t){&req->hdr, sizeof req->hdr};
    int dev_writes = req->type == PV_VIRTIO_BLK_T_IN || req->type == PV_VIRTIO_BLK_T_GET_ID;
    if (req->len != 0) {
        bufs[1] = (pv_virtq_buf_t){req->buf, req->len};
        if (dev_writes)
            n_in++;
        else
            n_out++;
    }
    bufs[n_out + n_in] = (pv_virtq_buf_t){&req->status, 1};
    n_in++;

    int was = pv_irq_save();
    pv_atomic_store(&req->state, (uint32_t)PV_BLK_REQ_IN_FLIGHT);
    int32_t r = pv_virtq_add(&blk->vq, bufs, n_out, n_in, req);
    if (r < 0)
        pv_atomic_store(&req->state, (uint32_t)PV_BLK_REQ_IDLE);
    else
        blk->in_flight++;
    pv_irq_restore(was);
    return r < 0 ? r : 0;
}

int pv_blk_kick(pv_blk_t *blk)
{
    /* Upcalls stay on: the device completes inside the QueueNotify trap and its interrupt is
     * delivered at the VM entry that ends it. Kick itself touches only driver-side state. */
    return pv_virtq_kick(&blk->vq);
}

int32_t pv_blk_submit(pv_blk_t *blk, pv_blk_req_t *req)
{
    int32_t r = pv_blk_queue(blk, req);
    if (r < 0)
        return r;
    pv_blk_kick(blk);
    return 0;
}

uint32_t pv_blk_poll(pv_blk_t *blk)
{
    int was = pv_irq_save();
    uint32_t n = reap(blk);
    pv_irq_restore(was);
    return n;
}

int pv_blk_req_done(const pv_blk_req_t *req)
{
    return pv_atomic_load_acquire(&req->state) == PV_BLK_REQ_DONE;
}

void pv_blk_set_polling(pv_blk_t *blk, int on)
{
    int was = pv_irq_save();
    blk->polling = on ? 1u : 0u;
    if (on)
        pv_virtq_disable_cb(&blk->vq);
    else
        pv_virtq_enable_cb(&blk->vq);
    pv_irq_restore(was);
}

/* Reaps, then tells whether to stop waiting. Runs with upcalls masked (inside PV_WAIT_UNTIL). */
static int settled(pv_blk_t *blk, const pv_blk_req_t *req)
{
    reap(blk);
    if (pv_atomic_load(&blk->vdev.needs_reset))
        return 1;
    return req != NULL ? pv_blk_req_done(req) : blk->in_flight == 0;
}

static int32_t wait_for(pv_blk_t *blk, const pv_blk_req_t *req)
{
    /* A poller has the interrupt suppressed; it is needed to sleep. The re-check inside
     * PV_WAIT_UNTIL (reap after masking) covers anything used before it was re-enabled. */
    if (blk->polling)
        pv_virtq_enable_cb(&blk->vq);
    PV_WAIT_UNTIL(settled(blk, req));
    if (blk->polling)
        pv_virtq_disable_cb(&blk->vq);
    if (req != NULL && pv_blk_req_done(req))
        return req->result;
    if (pv_atomic_load(&blk->vdev.needs_reset))
        return PV_EIO;
    return 0;
}

int32_t pv_blk_wait(pv_blk_t *blk, pv_blk_req_t *req)
{
    if (pv_atomic_load(&req->state) == PV_BLK_REQ_IDLE)
        return PV_EINVAL;
    return wait_for(blk, req);
}

int32_t pv_blk_wait_all(pv_blk_t *blk)
{
    return wait_for(blk, NULL);
}

/* One request, blocking: waits for ring room, submits, waits for completion. */
static int32_t do_sync(pv_blk_t *blk, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    pv_blk_req_t req;
    memset(&req, 0, sizeof req);
    req.type = type;
    req.sector = sector;
    req.buf = buf;
    req.len = len;
    for (;;) {
        int32_t r = pv_blk_submit(blk, &req);
        if (r == 0)
            break;
        if (r != PV_ENOSPC)
            return r;
        /* The ring is full of other requests: wait for one of them. */
        uint32_t before = blk->completed;
        PV_WAIT_UNTIL((reap(blk), blk->completed != before || pv_atomic_load(&blk->vdev.needs_reset)));
        if (pv_atomic_load(&blk->vdev.needs_reset))
            return PV_EIO;
    }
    return wait_for(blk, &req);
}

int32_t pv_blk_read(pv_blk_t *blk, uint64_t sector, void *buf, uint32_t nsectors)
{
    if (nsectors == 0 || nsectors > 0xffffffffu / PV_BLK_SECTOR_SIZE)
        return PV_EINVAL;
    return do_sync(blk, PV_VIRTIO_BLK_T_IN, sector, buf, nsectors * PV_BLK_SECTOR_SIZE);
}

int32_t pv_blk_write(pv_blk_t *blk, uint64_t sector, const void *buf, uint32_t nsectors)
{
    if (nsectors == 0 || nsectors > 0xffffffffu / PV_BLK_SECTOR_SIZE)
        return PV_EINVAL;
    if (blk->read_only)
        return PV_EPERM;
    /* The device only reads an OUT buffer; the cast does not let it be written. */
    return do_sync(blk, PV_VIRTIO_BLK_T_OUT, sector, (void *)(uintptr_t)buf,
                   nsectors * PV_BLK_SECTOR_SIZE);
}

int32_t pv_blk_flush(pv_blk_t *blk)
{
    if (!blk->has_flush)
        return 0; /* §5.2.6.2: without FLUSH negotiated, completed writes are already stable */
    return do_sync(blk, PV_VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
}

int32_t pv_blk_get_id(pv_blk_t *blk, char id[PV_VIRTIO_BLK_ID_BYTES + 1])
{
    int32_t r = do_sync(blk, PV_VIRTIO_BLK_T_GET_ID, 0, id, PV_VIRTIO_BLK_ID_BYTES);
    id[r == 0 ? PV_VIRTIO_BLK_ID_BYTES : 0] = '\0';
    return r;
}
