/*
 * libpvisor: the driver side of a virtio split virtqueue (virtio.h, virtio 1.2 §2.7).
 *
 * Who writes what: the driver (us) writes the descriptor table, avail.flags/idx/ring and
 * used_event; the device writes used.flags/idx/ring and avail_event. The indices and event
 * words are accessed with atomics (the host reads them with Atomics.* on the shared memory);
 * descriptors and ring entries are plain accesses ordered by fences around those.
 */
#include "internal.h"

#include <pvisor/virtio.h>

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Offsets inside the queue's memory: desc (16-aligned) | avail (2) | used (4) | cookies (4). */
static size_t avail_off(uint32_t num)
{
    return 16u * (size_t)num;
}

static size_t used_off(uint32_t num)
{
    return align_up(avail_off(num) + 6u + 2u * (size_t)num, 4);
}

static size_t cookie_off(uint32_t num)
{
    return align_up(used_off(num) + 6u + 8u * (size_t)num, sizeof(void *));
}

size_t pv_virtq_mem_size(uint32_t num)
{
    return cookie_off(num) + sizeof(void *) * (size_t)num;
}

int32_t pv_virtq_init(pv_virtq_t *vq, uint32_t num, void *mem, int event_idx)
{
    if (num == 0 || num > PV_VIRTQ_MAX_SIZE || (num & (num - 1)) != 0 || mem == NULL ||
        ((uintptr_t)mem & 15u) != 0)
        return PV_EINVAL;
    uint8_t *m = mem;
    memset(m, 0, pv_virtq_mem_size(num));
    memset(vq, 0, sizeof *vq);
    vq->desc = (pv_virtq_desc_t *)m;
    vq->avail = (pv_virtq_avail_t *)(m + avail_off(num));
    vq->used = (pv_virtq_used_t *)(m + used_off(num));
    vq->cookie = (void **)(m + cookie_off(num));
    vq->used_event = &vq->avail->ring[num];
    vq->avail_event = (uint16_t *)&vq->used->ring[num];
    vq->num = (uint16_t)num; /* 32768 fits; the mask below uses num - 1 */
    vq->event_idx = event_idx ? 1 : 0;
    /* Free list: every descriptor, chained through `next`. */
    for (uint32_t i = 0; i + 1 < num; i++)
        vq->desc[i].next = (uint16_t)(i + 1);
    vq->free_head = 0;
    vq->num_free = (uint16_t)(num > 0xffffu ? 0xffffu : num);
    return 0;
}

static uint16_t qmask(const pv_virtq_t *vq)
{
    return (uint16_t)(vq->num - 1u);
}

int32_t pv_virtq_add(pv_virtq_t *vq, const pv_virtq_buf_t *bufs, uint32_t n_out, uint32_t n_in,
                     void *cookie)
{
    uint32_t n = n_out + n_in;
    if (n == 0 || cookie == NULL || n < n_out)
        return PV_EINVAL;
    if (n > vq->num_free)
        return PV_ENOSPC;
    for (uint32_t i = 0; i < n; i++)
        if (bufs[i].len == 0) /* §2.7.4.1-ish: devices (QEMU, ours) refuse zero-length buffers */
            return PV_EINVAL;

    uint16_t head = vq->free_head;
    uint16_t d = head;
    for (uint32_t i = 0; i < n; i++) {
        pv_virtq_desc_t *e = &vq->desc[d];
        e->addr = (uint64_t)(uintptr_t)bufs[i].addr;
        e->len = bufs[i].len;
        /* §2.7.4: device-writable buffers after all device-readable ones. */
        e->flags = (uint16_t)((i >= n_out ? PV_VIRTQ_DESC_F_WRITE : 0u) |
                              (i + 1 < n ? PV_VIRTQ_DESC_F_NEXT : 0u));
        d = e->next; /* free-list link; for all but the last it is also the chain link */
    }
    vq->free_head = d;
    vq->num_free = (uint16_t)(vq->num_free - n);
    vq->cookie[head] = cookie;

    /* The avail entry; the device may not look at it before the avail.idx store in kick. */
    vq->avail->ring[vq->avail_shadow & qmask(vq)] = head;
    vq->avail_shadow++;
    return head;
}

int pv_virtq_kick(pv_virtq_t *vq)
{
    uint16_t old = vq->avail_kicked;
    uint16_t now = vq->avail_shadow;
    if (old == now)
        return 0;
    /* §2.7.13.3: descriptors and ring entries before the idx ("MUST perform a suitable memory
     * barrier before the idx update"). */
    pv_wmb();
    pv_atomic_store_release(&vq->avail->idx, now);
    vq->avail_kicked = now;
    /* §2.7.13.4: idx published before reading the device's suppression word, so a device that
     * goes idle meanwhile has either seen our idx or shows us an avail_event/flags asking for a
     * kick. */
    pv_mb();
    int need;
    if (vq->event_idx)
        need = pv_vring_need_event(pv_atomic_load(vq->avail_event), now, old);
    else
        need = (pv_atomic_load(&vq->used->flags) & PV_VIRTQ_USED_F_NO_NOTIFY) == 0;
    if (!need || vq->notify_addr == 0) {
        vq->kicks_skipped++;
        return 0;
    }
    vq->kicks++;
    /* Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index (§4.2.3.3). */
    pv_mmio_write32(vq->notify_addr, vq->index);
    return 1;
}

int pv_virtq_has_used(const pv_virtq_t *vq)
{
    return pv_atomic_load_acquire(&vq->used->idx) != vq->last_used;
}

void *pv_virtq_get_used(pv_virtq_t *vq, uint32_t *len)
{
    pv_virtq_used_elem_t e;
    uint32_t head;
    for (;;) {
        uint16_t used_idx = pv_atomic_load_acquire(&vq->used->idx);
        if (used_idx == vq->last_used)
            return NULL;
        /* §2.7.14: read the idx, then the entries it covers. */
        pv_rmb();
        e = vq->used->ring[vq->last_used & qmask(vq)];
        vq->last_used++;
        head = e.id;
        if (head < vq->num && vq->cookie[head] != NULL)
            break;
        /* The device broke the protocol (an id we never gave it, or gave back twice): nothing
         * safe to free or report; skip the entry. */
    }
    void *cookie = vq->cookie[head];
    vq->cookie[head] = NULL;
    if (len != NULL)
        *len = e.len;

    /* Return the chain to the free list: walk it to its last descriptor, link that to the
     * current free head. Bounded by num in case the table was corrupted. */
    uint16_t d = (uint16_t)head;
    uint32_t count = 1;
    while ((vq->desc[d].flags & PV_VIRTQ_DESC_F_NEXT) != 0 && count < vq->num) {
        d = vq->desc[d].next;
        count++;
    }
    vq->desc[d].flags = 0;
    vq->desc[d].next = vq->free_head;
    vq->free_head = (uint16_t)head;
    vq->num_free = (uint16_t)(vq->num_free + count);

    /* EVENT_IDX with interrupts on: ask for an interrupt at the next used entry. */
    if (vq->event_idx && !vq->cb_disabled)
        pv_atomic_store_release(vq->used_event, vq->last_used);
    return cookie;
}

void pv_virtq_disable_cb(pv_virtq_t *vq)
{
    vq->cb_disabled = 1;
    if (vq->event_idx) {
        /* §2.7.7: flags MUST be 0 with EVENT_IDX; instead name an index the device already
         * passed, so its next interrupt is 65535 entries away. */
        pv_atomic_store(vq->used_event, (uint16_t)(vq->last_used - 1u));
    } else {
        pv_atomic_store(&vq->avail->flags, (uint16_t)PV_VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
}

int pv_virtq_enable_cb(pv_virtq_t *vq)
{
    vq->cb_disabled = 0;
    if (vq->event_idx)
        pv_atomic_store(vq->used_event, vq->last_used);
    else
        pv_atomic_store(&vq->avail->flags, (uint16_t)0);
    /* §2.7.14 driver side: publish the request for an interrupt, full fence, then re-check, so
     * a buffer used in between is either seen here or interrupts. */
    pv_mb();
    return pv_atomic_load(&vq->used->idx) == vq->last_used;
}
