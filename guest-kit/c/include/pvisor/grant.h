/*
 * pvisor guest kit: grant tables (ABI 1.3, `grant_setup` / `grant_copy`).
 *
 * What: a domain keeps a v1 grant table in its own memory and registers it once; granting a frame
 * to another domain and revoking it are plain stores into the table, no hypercall. The other domain
 * then moves bytes with `grant_copy`. There is no mapping: two domains' Wasm memories cannot share
 * a page, so `pv_grant_map` always answers PV_ENOSYS.
 *
 * Why these helpers: the entry must become valid atomically for a host that may read it at any
 * moment from another vCPU's call. Xen's rule, kept here: write domid and frame, then a barrier,
 * then flags last; revoke by storing flags = GTF_INVALID.
 *
 * Invariants: the table is 4-byte aligned (`struct pv_grant_entry_v1` is), has at most
 * PV_GRANT_TABLE_MAX entries, and stays where it was registered while any grant in it is live.
 * A grant covers a whole frame of PV_GRANT_FRAME_SIZE bytes: grant only frames that hold nothing
 * but the data meant for the grantee.
 */
#ifndef PVISOR_GRANT_H
#define PVISOR_GRANT_H

#include <pvisor/abi.h>
#include <pvisor/atomic.h>

/** The frame number of the frame holding guest address `p`. */
static inline uint32_t pv_grant_frame(const void *p)
{
    return (uint32_t)((uintptr_t)p / PV_GRANT_FRAME_SIZE);
}

/** The offset of guest address `p` inside its frame. */
static inline uint16_t pv_grant_offset(const void *p)
{
    return (uint16_t)((uintptr_t)p % PV_GRANT_FRAME_SIZE);
}

/**
 * Clears `nr` entries at `table` and registers them as this domain's grant table.
 * Returns 0, or PV_EINVAL / PV_EFAULT from `grant_setup`.
 */
static inline int32_t pv_grant_table_init(struct pv_grant_entry_v1 *table, uint32_t nr)
{
    for (uint32_t i = 0; i < nr; i++) {
        pv_atomic_store(&table[i].flags, (uint16_t)PV_GTF_INVALID);
        table[i].domid = 0;
        table[i].frame = 0;
    }
    return pv_grant_setup(table, nr);
}

/**
 * Grants domain `domid` access to the frame holding `page` through entry `ref` (read-only when
 * `readonly` is nonzero): domid and frame first, flags last, as the host may read the entry at
 * any time.
 */
static inline void pv_grant_access(struct pv_grant_entry_v1 *table, uint32_t ref, uint16_t domid, const void *page, int readonly)
{
    struct pv_grant_entry_v1 *e = &table[ref];
    e->domid = domid;
    e->frame = pv_grant_frame(page);
    pv_wmb();
    pv_atomic_store(&e->flags, (uint16_t)(PV_GTF_PERMIT_ACCESS | (readonly ? PV_GTF_READONLY : 0)));
}

/** Revokes entry `ref`. A copy already running on another vCPU may still finish with the old entry. */
static inline void pv_grant_end_access(struct pv_grant_entry_v1 *table, uint32_t ref)
{
    pv_atomic_store(&table[ref].flags, (uint16_t)PV_GTF_INVALID);
}

/**
 * Copies `len` bytes from grant `ref` of domain `domid` (at `offset` in the granted frame) to
 * `dst` in this domain's memory. The destination must not cross a frame boundary. Returns the
 * op's GNTST_* status (0 = copied), or the call's negative error.
 */
static inline int32_t pv_grant_copy_from(uint16_t domid, uint32_t ref, uint16_t offset, void *dst, uint16_t len)
{
    struct pv_grant_copy_op op = { 0 };
    op.source.ref = ref;
    op.source.domid = domid;
    op.source.offset = offset;
    op.dest.ref = pv_grant_frame(dst);
    op.dest.domid = PV_DOMID_SELF;
    op.dest.offset = pv_grant_offset(dst);
    op.len = len;
    op.flags = PV_GNTCOPY_SOURCE_GREF;
    int32_t r = pv_grant_copy(&op, 1);
    return r < 0 ? r : op.status;
}

/**
 * Copies `len` bytes from `src` in this domain's memory into grant `ref` of domain `domid`, at
 * `offset` in the granted frame. The source must not cross a frame boundary. Returns the op's
 * GNTST_* status (0 = copied), or the call's negative error.
 */
static inline int32_t pv_grant_copy_to(uint16_t domid, uint32_t ref, uint16_t offset, const void *src, uint16_t len)
{
    struct pv_grant_copy_op op = { 0 };
    op.source.ref = pv_grant_frame(src);
    op.source.domid = PV_DOMID_SELF;
    op.source.offset = pv_grant_offset(src);
    op.dest.ref = ref;
    op.dest.domid = domid;
    op.dest.offset = offset;
    op.len = len;
    op.flags = PV_GNTCOPY_DEST_GREF;
    int32_t r = pv_grant_copy(&op, 1);
    return r < 0 ? r : op.status;
}

#endif /* PVISOR_GRANT_H */
