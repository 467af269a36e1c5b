/*
 * pvisor guest kit: virtio drivers, the common part — device discovery, the virtio-mmio v2
 * transport, and the driver side of split virtqueues.
 *
 * What: a driver for one device type (virtio_blk.h) is built on three pieces:
 *
 *   pv_virtio_find()       finds a device in the start_info manifest (by type and/or name)
 *   pv_virtio_dev_t        one virtio-mmio v2 register window: the status machine, feature
 *                          negotiation, queue setup, the device interrupt (an event channel)
 *   pv_virtq_t             one split virtqueue in guest memory: free descriptor list, adding
 *                          chains, batched kicks, interrupt suppression, reaping used entries
 *
 * The init sequence (virtio 1.2 §3.1.1, §4.2.3.1), split so the device driver can read its
 * configuration space between the steps:
 *
 *   pv_virtio_begin(dev, info, wanted)   check MagicValue/Version/DeviceID; reset; ACKNOWLEDGE;
 *                                        DRIVER; read the 64 device feature bits; write the
 *                                        accepted ones (VERSION_1 required, EVENT_IDX and
 *                                        INDIRECT_DESC when offered, plus `wanted & offered`);
 *                                        FEATURES_OK, re-read Status to see that it stuck
 *   pv_virtio_config_read*(dev, off)     device-specific configuration
 *   pv_virtio_setup_queue(dev, i, vq, n, mem)   QueueSel, QueueNumMax, QueueNum, the three area
 *                                        addresses (low/high), QueueReady (read back)
 *   pv_virtio_set_handlers(dev, ...)     what the interrupt calls
 *   pv_virtio_driver_ok(dev)             register the interrupt handler on the device's event
 *                                        port, unmask it, set DRIVER_OK
 *
 * Any failure sets FAILED in Status and returns a negative PV_E* value.
 *
 * Why: virtio is how pvisor devices talk to guests (DESIGN.md "Devices"); the transport is
 * virtio-mmio v2 reached through the `hw.mmio_read32/mmio_write32` traps of ABI 1.1.
 *
 * Invariants:
 * - Guest-physical address = linear-memory address: rings and buffers are plain pointers into the
 *   guest's memory (static, stack or pv_alloc); the high halves of 64-bit addresses are 0.
 * - Ring memory: descriptor table 16-aligned, available ring 2-aligned, used ring 4-aligned
 *   (§2.7). pv_virtq_mem_size(n) bytes at a 16-aligned address hold all three plus the driver's
 *   per-descriptor bookkeeping, laid out by pv_virtq_init.
 * - Memory ordering (§2.7.13, §2.7.14): descriptors and the avail ring entry are written before
 *   avail.idx (release fence), avail.idx is published before avail_event/flags are read (full
 *   fence), used.idx is read before the used entries it covers (acquire fence), and used_event
 *   is written before used.idx is re-checked (full fence).
 * - The interrupt handler runs in the upcall of the vCPU that called pv_virtio_driver_ok (the
 *   host binds device ports to vCPU 0): it must not block, and neither may the callbacks. A
 *   device and its queues are driven by one vCPU at a time; code that also runs from the
 *   handler must mask upcalls (pv_irq_save) around queue operations, as virtio_blk.c does.
 * - After DEVICE_NEEDS_RESET (a config-change interrupt whose Status has bit 64 set) the device
 *   has stopped: `needs_reset` becomes 1 and the on_config callback runs; outstanding buffers
 *   will never complete until the driver resets and re-initialises the device.
 */
#ifndef PVISOR_VIRTIO_H
#define PVISOR_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include <pvisor/abi.h>

/* ---- virtio-mmio v2 register offsets (virtio 1.2 §4.2.2) ---- */
#define PV_VIRTIO_MMIO_MAGIC_VALUE 0x000
#define PV_VIRTIO_MMIO_VERSION 0x004
#define PV_VIRTIO_MMIO_DEVICE_ID 0x008
#define PV_VIRTIO_MMIO_VENDOR_ID 0x00c
#define PV_VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define PV_VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define PV_VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define PV_VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define PV_VIRTIO_MMIO_QUEUE_SEL 0x030
#define PV_VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define PV_VIRTIO_MMIO_QUEUE_NUM 0x038
#define PV_VIRTIO_MMIO_QUEUE_READY 0x044
#define PV_VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define PV_VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define PV_VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define PV_VIRTIO_MMIO_STATUS 0x070
#define PV_VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define PV_VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define PV_VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define PV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define PV_VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define PV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define PV_VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define PV_VIRTIO_MMIO_CONFIG 0x100

/** MagicValue: "virt" little-endian. */
#define PV_VIRTIO_MMIO_MAGIC 0x74726976u
/** InterruptStatus bit 0: used buffer notification. */
#define PV_VIRTIO_INT_USED 1u
/** InterruptStatus bit 1: configuration change notification. */
#define PV_VIRTIO_INT_CONFIG 2u

/* ---- Device status bits (§2.1) ---- */
#define PV_VIRTIO_STATUS_ACKNOWLEDGE 1u
#define PV_VIRTIO_STATUS_DRIVER 2u
#define PV_VIRTIO_STATUS_DRIVER_OK 4u
#define PV_VIRTIO_STATUS_FEATURES_OK 8u
#define PV_VIRTIO_STATUS_NEEDS_RESET 64u
#define PV_VIRTIO_STATUS_FAILED 128u

/* ---- Reserved feature bits (§6) ---- */
#define PV_VIRTIO_F_INDIRECT_DESC 28
#define PV_VIRTIO_F_EVENT_IDX 29
#define PV_VIRTIO_F_VERSION_1 32
/** The 64-bit mask of feature bit `b`. */
#define PV_VIRTIO_BIT(b) (1ull << (b))

/* ---- Split virtqueue layout (§2.7) ---- */
#define PV_VIRTQ_DESC_F_NEXT 1u
#define PV_VIRTQ_DESC_F_WRITE 2u
#define PV_VIRTQ_DESC_F_INDIRECT 4u
#define PV_VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define PV_VIRTQ_USED_F_NO_NOTIFY 1u
/** Largest queue size the spec allows. */
#define PV_VIRTQ_MAX_SIZE 32768u

/** A descriptor (16 bytes, little-endian like wasm32). */
typedef struct pv_virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} pv_virtq_desc_t;

/** The available ring header; `ring[num]` follows, then `used_event`. */
typedef struct pv_virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
} pv_virtq_avail_t;

/** One used element. */
typedef struct pv_virtq_used_elem {
    uint32_t id;
    uint32_t len;
} pv_virtq_used_elem_t;

/** The used ring header; `ring[num]` follows, then `avail_event`. */
typedef struct pv_virtq_used {
    uint16_t flags;
    uint16_t idx;
    pv_virtq_used_elem_t ring[];
} pv_virtq_used_t;

/**
 * The event-index test (§2.7.7.2, `vring_need_event` of virtio-queue.h): after moving an index
 * from `old_idx` to `new_idx`, the other side asked to hear about it iff one of the entries
 * written sat at `event_idx`.
 */
static inline int pv_vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/** A buffer of a chain: `len` bytes at `addr` (guest memory). */
typedef struct pv_virtq_buf {
    void *addr;
    uint32_t len;
} pv_virtq_buf_t;

/** One split virtqueue, driver side. Fields are the driver's; use the functions. */
typedef struct pv_virtq {
    pv_virtq_desc_t *desc;
    pv_virtq_avail_t *avail;
    pv_virtq_used_t *used;
    void **cookie;          /* per head descriptor: what pv_virtq_add was given */
    uint16_t *used_event;   /* &avail->ring[num] (driver writes) */
    uint16_t *avail_event;  /* &used->ring[num] (device writes) */
    uint16_t num;           /* queue size (power of 2) */
    uint16_t index;         /* the queue's index in its device */
    uint16_t free_head;     /* first free descriptor (chained by `next`) */
    uint16_t num_free;
    uint16_t avail_shadow;  /* avail idx including entries added but not yet published */
    uint16_t avail_kicked;  /* avail idx at the last publication (for vring_need_event) */
    uint16_t last_used;     /* next used index to reap */
    uint8_t event_idx;      /* VIRTIO_F_EVENT_IDX negotiated */
    uint8_t cb_disabled;    /* interrupts suppressed (pv_virtq_disable_cb) */
    uint32_t notify_addr;   /* MMIO address of QueueNotify, 0 before setup */
    uint32_t kicks;         /* QueueNotify writes made (statistics) */
    uint32_t kicks_skipped; /* publications the device asked not to hear about */
} pv_virtq_t;

/** Bytes of ring memory (plus bookkeeping) a queue of `num` entries needs (see pv_virtq_init). */
size_t pv_virtq_mem_size(uint32_t num);

/**
 * Lays out a queue of `num` entries (a power of 2, 1..32768) in `mem` (16-aligned,
 * pv_virtq_mem_size(num) bytes, zeroed here) and builds the free list. `event_idx` says whether
 * VIRTIO_F_EVENT_IDX was negotiated. @return 0 or PV_EINVAL.
 */
int32_t pv_virtq_init(pv_virtq_t *vq, uint32_t num, void *mem, int event_idx);

/**
 * Adds a chain: `bufs[0 .. n_out)` device-readable, then `bufs[n_out .. n_out + n_in)`
 * device-writable, with `cookie` (non-NULL) returned by pv_virtq_get_used when the device is
 * done. The entry is placed in the avail ring but not yet published: call pv_virtq_kick.
 * @return the head descriptor index, PV_EINVAL (no buffers, NULL cookie, zero length), or
 * PV_ENOSPC when fewer than n_out + n_in descriptors are free.
 */
int32_t pv_virtq_add(pv_virtq_t *vq, const pv_virtq_buf_t *bufs, uint32_t n_out, uint32_t n_in,
                     void *cookie);

/**
 * Publishes every chain added since the last call (one avail.idx store) and notifies the device
 * (one QueueNotify write) unless it asked not to hear about them (EVENT_IDX: avail_event; else
 * VIRTQ_USED_F_NO_NOTIFY). @return 1 if it notified, 0 if not.
 */
int pv_virtq_kick(pv_virtq_t *vq);

/**
 * Reaps one used element: returns its cookie and stores the used length in `*len` (may be
 * NULL), and returns its descriptors to the free list. NULL when nothing is pending. With
 * interrupts enabled and EVENT_IDX, also moves used_event past the reaped entry.
 */
void *pv_virtq_get_used(pv_virtq_t *vq, uint32_t *len);

/** Non-zero when the device has used buffers the driver has not reaped yet. */
int pv_virtq_has_used(const pv_virtq_t *vq);

/**
 * Asks the device not to interrupt for this queue (while polling): VIRTQ_AVAIL_F_NO_INTERRUPT,
 * or with EVENT_IDX a used_event the device will not reach. A hint: a late interrupt may come.
 */
void pv_virtq_disable_cb(pv_virtq_t *vq);

/**
 * Re-enables interrupts for the next used buffer (§2.7.14 driver side: set used_event/clear the
 * flag, full fence, re-check). @return 1 if nothing is pending (safe to wait for an interrupt),
 * 0 if used buffers arrived meanwhile (reap them first).
 */
int pv_virtq_enable_cb(pv_virtq_t *vq);

/** Descriptors free for new chains. */
static inline uint32_t pv_virtq_num_free(const pv_virtq_t *vq)
{
    return vq->num_free;
}

/* ---- Devices ---- */

/**
 * The `nth` (0-based) entry of the start_info device manifest whose type is `type` (0: any) and
 * whose name is `name` (NULL: any). NULL when there is none (or the host's ABI predates 1.1).
 */
const pv_device_info_t *pv_virtio_find(uint32_t type, const char *name, uint32_t nth);

struct pv_virtio_dev;
/** Interrupt callbacks: run in the upcall (must not block). */
typedef void (*pv_virtio_cb_t)(struct pv_virtio_dev *dev, void *ctx);

/** Most queues a pv_virtio_dev_t tracks. */
#define PV_VIRTIO_MAX_QUEUES 8

/** One virtio-mmio device as the driver sees it. */
typedef struct pv_virtio_dev {
    const pv_device_info_t *info;
    uint32_t base;           /* MMIO base of the register window */
    uint32_t port;           /* the device's event-channel port */
    uint32_t device_id;      /* DeviceID register */
    uint64_t offered;        /* device features */
    uint64_t features;       /* negotiated features */
    pv_virtq_t *queues[PV_VIRTIO_MAX_QUEUES];
    pv_virtio_cb_t on_used;  /* InterruptStatus bit 0 */
    pv_virtio_cb_t on_config; /* InterruptStatus bit 1 (config change or NEEDS_RESET) */
    void *cb_ctx;
    uint32_t needs_reset;    /* the device set DEVICE_NEEDS_RESET (pv_atomic_load it) */
    uint32_t interrupts;     /* interrupts handled (statistics) */
} pv_virtio_dev_t;

/** Reads the 32-bit register at `off` of the device's window. */
static inline uint32_t pv_virtio_read(const pv_virtio_dev_t *dev, uint32_t off)
{
    return pv_mmio_read32(dev->base + off);
}

/** Writes the 32-bit register at `off` of the device's window. */
static inline void pv_virtio_write(const pv_virtio_dev_t *dev, uint32_t off, uint32_t value)
{
    pv_mmio_write32(dev->base + off, value);
}

/**
 * Steps 1–6 of the init sequence (see the top of this file) for the manifest entry `info`.
 * `wanted` are device-type feature bits the driver can use; VERSION_1 is always requested and
 * required, EVENT_IDX and INDIRECT_DESC are accepted when offered.
 * @return 0; PV_ENOSYS (not a virtio-mmio v2 device, or DeviceID 0); PV_EINVAL (DeviceID
 * differs from the manifest's type); PV_EIO (VERSION_1 not offered or FEATURES_OK refused).
 */
int32_t pv_virtio_begin(pv_virtio_dev_t *dev, const pv_device_info_t *info, uint64_t wanted);

/**
 * Sets up queue `index` with `num` entries in `mem` (pv_virtq_mem_size(num) bytes, 16-aligned);
 * `num` 0 means min(QueueNumMax, 256). `num` larger than QueueNumMax is clamped.
 * @return the queue size used; PV_ENOSYS (no such queue); PV_EINVAL (bad size, or more than
 * PV_VIRTIO_MAX_QUEUES); PV_EIO (the device refused QueueReady).
 */
int32_t pv_virtio_setup_queue(pv_virtio_dev_t *dev, uint32_t index, pv_virtq_t *vq, uint32_t num,
                              void *mem);

/**
 * Picks the size of queue `index` — `num` (0: `default_num`) rounded down to a power of two and
 * clamped to QueueNumMax — allocates its rings with pv_alloc and sets it up. On failure the
 * device is marked FAILED. @return the queue size used, or what pv_virtio_setup_queue returns;
 * PV_ENOSYS (QueueNumMax is 0: no such queue); PV_ENOSPC (no memory for the rings).
 */
int32_t pv_virtio_alloc_queue(pv_virtio_dev_t *dev, uint32_t index, pv_virtq_t *vq, uint32_t num,
                              uint32_t default_num);

/** Sets the interrupt callbacks (either may be NULL) and their context. */
void pv_virtio_set_handlers(pv_virtio_dev_t *dev, pv_virtio_cb_t on_used, pv_virtio_cb_t on_config,
                            void *ctx);

/**
 * Step 8: registers the interrupt handler on the device's port (owned by the calling vCPU),
 * unmasks the port, and sets DRIVER_OK. @return 0, or PV_EIO if the device shows NEEDS_RESET.
 */
int32_t pv_virtio_driver_ok(pv_virtio_dev_t *dev);

/** Sets FAILED (the driver gives up on the device). */
void pv_virtio_fail(pv_virtio_dev_t *dev);

/** Writes 0 to Status (device reset) and unregisters the interrupt handler. */
void pv_virtio_reset(pv_virtio_dev_t *dev);

/** The Status register. */
uint32_t pv_virtio_status(const pv_virtio_dev_t *dev);

/**
 * The interrupt handler pv_virtio_driver_ok registers (exposed for polling code that wants to
 * run it with upcalls masked): reads InterruptStatus, acknowledges it, runs the callbacks.
 */
void pv_virtio_interrupt(uint32_t port, void *dev);

/* Device configuration space (§4.2.2 "config"), at byte offset `off`. 8/16-bit fields are read
 * through the aligned 32-bit word holding them; the 64-bit read retries until ConfigGeneration
 * is the same before and after (§2.5.1). */
uint8_t pv_virtio_config_read8(const pv_virtio_dev_t *dev, uint32_t off);
uint16_t pv_virtio_config_read16(const pv_virtio_dev_t *dev, uint32_t off);
uint32_t pv_virtio_config_read32(const pv_virtio_dev_t *dev, uint32_t off);
uint64_t pv_virtio_config_read64(const pv_virtio_dev_t *dev, uint32_t off);

/** Non-zero when feature bit `bit` was negotiated. */
static inline int pv_virtio_has(const pv_virtio_dev_t *dev, unsigned bit)
{
    return (dev->features >> bit) & 1u;
}

#endif /* PVISOR_VIRTIO_H */
