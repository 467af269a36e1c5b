/*
 * libpvisor: the balloon driver (balloon.h).
 *
 * State: `nr_out` frames are held out, the run [top - nr_out, top) where top is the first frame
 * not wholly below start_info.reserved_base. While nr_out > 0 the heap's ceiling (start.c) is the
 * run's first byte; at 0 it is reserved_base again. Only the vCPU holding `lock` changes either.
 */
#include <pvisor/balloon.h>

#include "internal.h"

#define FRAME ((uint64_t)PV_GRANT_FRAME_SIZE)

static uint32_t nr_out;
static uint32_t lock;
/* A target set while another vCPU held the lock: that vCPU follows it before it unlocks. */
static uint64_t pending_target;
static uint32_t target_pending;

/* One past the highest frame the balloon may take: frames must lie wholly below reserved_base. */
static uint32_t top_frame(void)
{
    return (uint32_t)(pv__si->reserved_base / FRAME);
}

/* The lowest frame the balloon may take: the first one wholly above the heap's break. */
static uint32_t low_frame(void)
{
    return (uint32_t)(((uint64_t)pv__heap_break() + FRAME - 1) / FRAME);
}

/* The heap ceiling that matches nr_out. */
static uintptr_t ceiling_for(uint32_t out)
{
    return out == 0 ? (uintptr_t)pv__si->reserved_base
                    : (uintptr_t)((uint64_t)(top_frame() - out) * FRAME);
}

static int trylock(void)
{
    uint32_t free = 0;
    return pv_atomic_cas(&lock, &free, 1u);
}

/*
 * Hands `n` frames below the run to the host. With `partial`, takes as many as the free heap has
 * and returns PV_ENOMEM if that is fewer than `n`; without, all or nothing.
 */
static int release_locked(uint32_t n, int partial)
{
    uint32_t want = n;
    for (;;) {
        uint32_t top = top_frame() - nr_out;
        uint32_t low = low_frame();
        uint32_t avail = top > low ? top - low : 0u;
        n = want;
        if (avail < n) {
            if (!partial)
                return PV_ENOMEM;
            n = avail;
        }
        if (n == 0)
            return want == 0 ? 0 : PV_ENOMEM;
        uint32_t first = top - n;
        int32_t r = pv__heap_set_ceiling((uintptr_t)((uint64_t)first * FRAME));
        if (r == PV_EBUSY)
            continue; /* pv_alloc moved the break past `first` meanwhile: look again */
        if (r < 0)
            return r;
        r = pv_decrease_reservation(first, n);
        if (r < 0) {
            (void)pv__heap_set_ceiling(ceiling_for(nr_out));
            return r;
        }
        pv_atomic_store(&nr_out, nr_out + n);
        return n < want ? PV_ENOMEM : 0;
    }
}

/* Takes the `n` lowest held-out frames back; all or nothing. */
static int reclaim_locked(uint32_t n)
{
    if (n > nr_out)
        return PV_EINVAL;
    if (n == 0)
        return 0;
    int32_t r = pv_increase_reservation(top_frame() - nr_out, n);
    if (r < 0)
        return r;
    pv_atomic_store(&nr_out, nr_out - n);
    /* Raising the ceiling cannot fail: the break is below the old one. */
    (void)pv__heap_set_ceiling(ceiling_for(nr_out));
    return 0;
}

/* Moves toward `target` bytes held, best effort (balloon.h). */
static int follow_locked(uint64_t target)
{
    uint64_t mem = (uint64_t)__builtin_wasm_memory_size(0) * 65536u; /* grown memory counts too */
    uint64_t want_out = target >= mem ? 0 : (mem - target + FRAME - 1) / FRAME;
    uint64_t max_out = top_frame();
    if (want_out > max_out)
        want_out = max_out; /* below the frames that exist: as far as it goes (short) */
    if (want_out > nr_out)
        return release_locked((uint32_t)(want_out - nr_out), 1);
    uint32_t need = nr_out - (uint32_t)want_out;
    uint32_t chunk = need;
    while (need > 0) {
        int r = reclaim_locked(chunk);
        if (r == 0) {
            need -= chunk;
            if (chunk > need)
                chunk = need;
        } else if (r == PV_ENOMEM && chunk > 1) {
            chunk /= 2; /* the pool holds fewer than chunk frames: take what it has */
        } else {
            return r;
        }
    }
    return 0;
}

/* Lets go of the lock, after following any target another vCPU set meanwhile. */
static void unlock(void)
{
    for (;;) {
        while (pv_atomic_xchg(&target_pending, 0u) != 0)
            (void)follow_locked(pv_atomic_load(&pending_target));
        pv_atomic_store(&lock, 0u);
        /* A target set between the last look and the store above: follow it unless its setter
         * (or another vCPU) took the lock and will. */
        if (pv_atomic_load(&target_pending) == 0 || !trylock())
            return;
    }
}

int pv_balloon_set_target(uint64_t bytes)
{
    if (pv__si == NULL)
        return PV_EINVAL;
    int was = pv_irq_save(); /* no upcall on this vCPU while it holds the lock */
    pv_atomic_store(&pending_target, bytes);
    pv_atomic_store(&target_pending, 1u);
    int r = PV_EBUSY;
    if (trylock()) {
        r = 0;
        while (pv_atomic_xchg(&target_pending, 0u) != 0)
            r = follow_locked(pv_atomic_load(&pending_target));
        unlock();
    }
    pv_irq_restore(was);
    return r;
}

uint64_t pv_balloon_populated(void)
{
    if (pv__si == NULL)
        return 0;
    // The present size, not start_info.mem_size (the size at boot): memory.grow adds to it.
    return (uint64_t)__builtin_wasm_memory_size(0) * 65536u - (uint64_t)pv_atomic_load(&nr_out) * FRAME;
}

void *pv_mem_grow(uint32_t bytes)
{
    uint32_t pages = (uint32_t)(((uint64_t)bytes + 65535u) / 65536u);
    if (pages == 0)
        return NULL;
    // The host accounts the grow (it takes the frames from its pool) or makes it fail with -1.
    long old = (long)__builtin_wasm_memory_grow(0, pages);
    if (old < 0)
        return NULL;
    return (void *)((uintptr_t)old * 65536u);
}

int pv_balloon_release(uint32_t nr_frames)
{
    if (pv__si == NULL)
        return PV_EINVAL;
    int was = pv_irq_save();
    int r = PV_EBUSY;
    if (trylock()) {
        r = release_locked(nr_frames, 0);
        unlock();
    }
    pv_irq_restore(was);
    return r;
}

int pv_balloon_reclaim(uint32_t nr_frames)
{
    if (pv__si == NULL)
        return PV_EINVAL;
    int was = pv_irq_save();
    int r = PV_EBUSY;
    if (trylock()) {
        r = reclaim_locked(nr_frames);
        unlock();
    }
    pv_irq_restore(was);
    return r;
}
