/*
 * libpvisor: device discovery and the virtio-mmio v2 transport, driver side (virtio.h;
 * virtio 1.2 §3.1.1 device initialization, §4.2 virtio over MMIO).
 */
#include "internal.h"

#include <pvisor/virtio.h>

const pv_device_info_t *pv_virtio_find(uint32_t type, const char *name, uint32_t nth)
{
    const pv_start_info_t *si = pv__si;
    if (si == NULL || si->devices == 0)
        return NULL;
    uint32_t n = si->nr_devices < PV_MAX_DEVICES ? si->nr_devices : PV_MAX_DEVICES;
    const pv_device_info_t *dev = (const pv_device_info_t *)(uintptr_t)si->devices;
    for (uint32_t i = 0; i < n; i++) {
        const pv_device_info_t *d = &dev[i];
        if (type != 0 && d->type != type)
            continue;
        if (name != NULL && strncmp((const char *)d->name, name, sizeof d->name) != 0)
            continue;
        if (nth-- == 0)
            return d;
    }
    return NULL;
}

uint32_t pv_virtio_status(const pv_virtio_dev_t *dev)
{
    return pv_virtio_read(dev, PV_VIRTIO_MMIO_STATUS);
}

/* Adds bits to Status (the driver never clears one, §2.1.1; only a reset does). */
static void add_status(pv_virtio_dev_t *dev, uint32_t bits)
{
    pv_virtio_write(dev, PV_VIRTIO_MMIO_STATUS, pv_virtio_status(dev) | bits);
}

void pv_virtio_fail(pv_virtio_dev_t *dev)
{
    add_status(dev, PV_VIRTIO_STATUS_FAILED);
}

static int32_t fail(pv_virtio_dev_t *dev, int32_t err)
{
    pv_virtio_fail(dev);
    return err;
}

int32_t pv_virtio_begin(pv_virtio_dev_t *dev, const pv_device_info_t *info, uint64_t wanted)
{
    memset(dev, 0, sizeof *dev);
    if (info == NULL)
        return PV_EINVAL;
    dev->info = info;
    dev->base = info->mmio_base;
    dev->port = info->evtchn;

    /* §4.2.3.1.1: check MagicValue and Version before anything else; DeviceID 0 is a
     * placeholder with no device behind it. */
    if (pv_virtio_read(dev, PV_VIRTIO_MMIO_MAGIC_VALUE) != PV_VIRTIO_MMIO_MAGIC ||
        pv_virtio_read(dev, PV_VIRTIO_MMIO_VERSION) != 2u)
        return PV_ENOSYS;
    dev->device_id = pv_virtio_read(dev, PV_VIRTIO_MMIO_DEVICE_ID);
    if (dev->device_id == 0)
        return PV_ENOSYS;
    if (dev->device_id != info->type)
        return PV_EINVAL;

    /* §3.1.1 steps 1–3: reset, ACKNOWLEDGE, DRIVER. */
    pv_virtio_write(dev, PV_VIRTIO_MMIO_STATUS, 0);
    add_status(dev, PV_VIRTIO_STATUS_ACKNOWLEDGE);
    add_status(dev, PV_VIRTIO_STATUS_DRIVER);

    /* Step 4: the 64 device feature bits through DeviceFeaturesSel. */
    uint64_t offered = 0;
    for (uint32_t sel = 0; sel < 2; sel++) {
        pv_virtio_write(dev, PV_VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
        offered |= (uint64_t)pv_virtio_read(dev, PV_VIRTIO_MMIO_DEVICE_FEATURES) << (32 * sel);
    }
    dev->offered = offered;
    if ((offered & PV_VIRTIO_BIT(PV_VIRTIO_F_VERSION_1)) == 0)
        return fail(dev, PV_EIO); /* a legacy-only device: this driver speaks virtio 1.x only */

    /* Step 5: the subset we understand. */
    uint64_t accept = PV_VIRTIO_BIT(PV_VIRTIO_F_VERSION_1) |
                      PV_VIRTIO_BIT(PV_VIRTIO_F_EVENT_IDX) |
                      PV_VIRTIO_BIT(PV_VIRTIO_F_INDIRECT_DESC) | wanted;
    uint64_t features = offered & accept;
    for (uint32_t sel = 0; sel < 2; sel++) {
        pv_virtio_write(dev, PV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
        pv_virtio_write(dev, PV_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> (32 * sel)));
    }
    dev->features = features;

    /* Step 6: FEATURES_OK, then re-read: the device refuses by leaving it clear. */
    add_status(dev, PV_VIRTIO_STATUS_FEATURES_OK);
    if ((pv_virtio_status(dev) & PV_VIRTIO_STATUS_FEATURES_OK) == 0)
        return fail(dev, PV_EIO);
    return 0;
}

int32_t pv_virtio_setup_queue(pv_virtio_dev_t *dev, uint32_t index, pv_virtq_t *vq, uint32_t num,
                              void *mem)
{
    if (index >= PV_VIRTIO_MAX_QUEUES)
        return PV_EINVAL;
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_SEL, index);
    /* §4.2.3.2: the queue must not be in use, and must exist. */
    if (pv_virtio_read(dev, PV_VIRTIO_MMIO_QUEUE_READY) != 0)
        return PV_EINVAL;
    uint32_t max = pv_virtio_read(dev, PV_VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0)
        return PV_ENOSYS;
    if (num == 0)
        num = max < 256u ? max : 256u;
    if (num > max)
        num = max;
    /* A power of 2 (split ring); round a non-power QueueNumMax down. */
    while ((num & (num - 1)) != 0)
        num &= num - 1;
    int32_t r = pv_virtq_init(vq, num, mem, pv_virtio_has(dev, PV_VIRTIO_F_EVENT_IDX));
    if (r < 0)
        return r;
    vq->index = (uint16_t)index;

    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_NUM, num);
    uint64_t desc = (uint64_t)(uintptr_t)vq->desc;
    uint64_t drv = (uint64_t)(uintptr_t)vq->avail;
    uint64_t devarea = (uint64_t)(uintptr_t)vq->used;
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)drv);
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(drv >> 32));
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)devarea);
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(devarea >> 32));
    /* The ring contents (zeroed by pv_virtq_init) before the device may latch them. */
    pv_wmb();
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_READY, 1);
    if (pv_virtio_read(dev, PV_VIRTIO_MMIO_QUEUE_READY) != 1)
        return fail(dev, PV_EIO);
    vq->notify_addr = dev->base + PV_VIRTIO_MMIO_QUEUE_NOTIFY;
    dev->queues[index] = vq;
    return (int32_t)num;
}

void pv_virtio_set_handlers(pv_virtio_dev_t *dev, pv_virtio_cb_t on_used, pv_virtio_cb_t on_config,
                            void *ctx)
{
    dev->on_used = on_used;
    dev->on_config = on_config;
    dev->cb_ctx = ctx;
}

void pv_virtio_interrupt(uint32_t port, void *ctx)
{
    (void)port;
    pv_virtio_dev_t *dev = ctx;
    /* §4.2.3.4: read InterruptStatus, acknowledge exactly those bits, then handle them (an
     * event raised after the ACK re-raises the line, so nothing is lost). */
    uint32_t st = pv_virtio_read(dev, PV_VIRTIO_MMIO_INTERRUPT_STATUS);
    if (st == 0)
        return; /* spurious (e.g. the stale bit of a port after registration) */
    pv_virtio_write(dev, PV_VIRTIO_MMIO_INTERRUPT_ACK, st);
    pv_atomic_fetch_add(&dev->interrupts, 1u);
    if ((st & PV_VIRTIO_INT_CONFIG) != 0) {
        /* §2.1.2: a device that gave up sets DEVICE_NEEDS_RESET and sends a config change. */
        if ((pv_virtio_status(dev) & PV_VIRTIO_STATUS_NEEDS_RESET) != 0)
            pv_atomic_store(&dev->needs_reset, 1u);
        if (dev->on_config != NULL)
            dev->on_config(dev, dev->cb_ctx);
    }
    if ((st & PV_VIRTIO_INT_USED) != 0 && dev->on_used != NULL)
        dev->on_used(dev, dev->cb_ctx);
}

int32_t pv_virtio_driver_ok(pv_virtio_dev_t *dev)
{
    int32_t r = pv_evtchn_set_handler(dev->port, pv_virtio_interrupt, dev);
    if (r < 0)
        return fail(dev, r);
    add_status(dev, PV_VIRTIO_STATUS_DRIVER_OK);
    /* Unmask through the host: an interrupt raised before the handler existed is re-raised. */
    pv_evtchn_unmask(dev->port);
    uint32_t st = pv_virtio_status(dev);
    if ((st & PV_VIRTIO_STATUS_NEEDS_RESET) != 0 || (st & PV_VIRTIO_STATUS_DRIVER_OK) == 0) {
        pv_atomic_store(&dev->needs_reset, 1u);
        return PV_EIO;
    }
    return 0;
}

void pv_virtio_reset(pv_virtio_dev_t *dev)
{
    pv_virtio_write(dev, PV_VIRTIO_MMIO_STATUS, 0);
    pv_evtchn_set_handler(dev->port, NULL, NULL);
    pv_evtchn_clear(dev->port);
    for (uint32_t i = 0; i < PV_VIRTIO_MAX_QUEUES; i++)
        dev->queues[i] = NULL;
    pv_atomic_store(&dev->needs_reset, 0u);
}

/* ---- Configuration space ---- */

static uint32_t config_word(const pv_virtio_dev_t *dev, uint32_t off)
{
    return pv_virtio_read(dev, PV_VIRTIO_MMIO_CONFIG + (off & ~3u));
}

uint8_t pv_virtio_config_read8(const pv_virtio_dev_t *dev, uint32_t off)
{
    return (uint8_t)(config_word(dev, off) >> (8 * (off & 3u)));
}

uint16_t pv_virtio_config_read16(const pv_virtio_dev_t *dev, uint32_t off)
{
    if ((off & 3u) == 3u) /* straddles two words (not a natural alignment, but be exact) */
        return (uint16_t)(pv_virtio_config_read8(dev, off) |
                          (pv_virtio_config_read8(dev, off + 1) << 8));
    return (uint16_t)(config_word(dev, off) >> (8 * (off & 3u)));
}

uint32_t pv_virtio_config_read32(const pv_virtio_dev_t *dev, uint32_t off)
{
    if ((off & 3u) == 0)
        return config_word(dev, off);
    return (uint32_t)pv_virtio_config_read16(dev, off) |
           ((uint32_t)pv_virtio_config_read16(dev, off + 2) << 16);
}

uint64_t pv_virtio_config_read64(const pv_virtio_dev_t *dev, uint32_t off)
{
    /* §2.5.1: a field wider than 32 bits is read in pieces; ConfigGeneration tells whether the
     * device changed it in between. */
    for (;;) {
        uint32_t gen = pv_virtio_read(dev, PV_VIRTIO_MMIO_CONFIG_GENERATION);
        uint64_t lo = pv_virtio_config_read32(dev, off);
        uint64_t hi = pv_virtio_config_read32(dev, off + 4);
        if (pv_virtio_read(dev, PV_VIRTIO_MMIO_CONFIG_GENERATION) == gen)
            return lo | (hi << 32);
    }
}

int32_t pv_virtio_alloc_queue(pv_virtio_dev_t *dev, uint32_t index, pv_virtq_t *vq, uint32_t num,
                              uint32_t default_num)
{
    /* The queue size decides the ring memory: ask the device first. */
    pv_virtio_write(dev, PV_VIRTIO_MMIO_QUEUE_SEL, index);
    uint32_t max = pv_virtio_read(dev, PV_VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0) {
        pv_virtio_fail(dev);
        return PV_ENOSYS;
    }
    if (num == 0)
        num = default_num;
    if (num > max)
        num = max;
    while ((num & (num - 1)) != 0)
        num &= num - 1;
    void *mem = pv_alloc(pv_virtq_mem_size(num), 16);
    if (mem == NULL) {
        pv_virtio_fail(dev);
        return PV_ENOSPC;
    }
    return pv_virtio_setup_queue(dev, index, vq, num, mem);
}
