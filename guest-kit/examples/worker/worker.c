/*
 * worker: a client OS for the controlling-domain demo (issue 6). It does some work on a periodic
 * timer and follows what the controlling domain asks through VIRQ_CONTROL (control.h): it
 * balloons to a memory target, brings vCPUs up and down, and shuts down when asked.
 *
 * Command line (all optional):
 *   name=NAME     how it calls itself in its output (default dom<id>)
 *   load=N        work units per tick and vCPU (default 100)
 *   period_ms=P   tick period in ms of virtual time (default 10)
 *   ticks=T       stop after T ticks with poweroff 0 (default 0: run until asked to shut down)
 *   crash_at=K    trap deliberately at tick K (default 0: never), so dom0 can restart it
 *   report=R      print a progress line every R ticks (default 100)
 *   grow=B        at boot, grow memory by B bytes (whole 64 KiB pages) with pv_mem_grow and use it
 *
 * Output, one line per event (exact):
 *   worker NAME: up, holds <bytes> bytes, <n> vcpus, load <N>
 *   worker NAME: target <bytes> bytes, holds <bytes>            (+ " (short: <err>)" if it fell short)
 *   worker NAME: vcpus <held> held, <up> up                    (+ " (error <err>)" on an error)
 *   worker NAME: grew by <bytes> bytes, holds <bytes>            (grow=B; or "grow by <bytes> refused")
 *   worker NAME: devices generation <g>
 *   worker NAME: disk <dev> added at entry <i>: <sectors> sectors, crc32 <xxxxxxxx> of sector 0
 *   worker NAME: disk <dev> at entry <i>: error <err>             (init or read failed)
 *   worker NAME: disk removed from entry <i>
 *   worker NAME: shutdown requested (poweroff|reboot)          then it shuts down with that reason
 *   worker NAME: tick <t>, <units> units                       every R ticks
 *   worker NAME: crashing at tick <K>                          then a Wasm trap (the domain crashes)
 *   worker NAME: done after <T> ticks, <units> units           then poweroff 0
 *
 * vCPUs other than 0 (brought up by the control dispatcher) do the same work per tick, silently;
 * units of all vCPUs are counted together.
 *
 * Disk hotplug: when the controlling domain moves a virtio-blk into this domain's manifest at run
 * time (DOMCTL_ATTACH_DEVICE; control.h on_device_added), the main loop — not the upcall, where a
 * driver cannot block — initialises it with pv_blk_init at its next tick, reads its first
 * min(capacity, 8) sectors and prints the "added" line (<dev> its manifest name, <sectors> its
 * capacity in 512-byte sectors, the CRC-32 (zlib) of sector 0 as 8 lowercase hex digits). When the
 * device is moved out again (on_device_removed) the upcall marks the driver's device gone (a read
 * waiting on it returns an error), drops its interrupt handler and prints the "removed" line; the
 * old window is never touched again. One hot-plugged disk at a time: a second one is ignored.
 */
#include <pvisor/bootvol.h>
#include <pvisor/pvisor.h>
#include <pvisor/virtio_blk.h>

static char name[16];
static uint32_t load;
static uint64_t period_ns;
static uint64_t units; /* all vCPUs add to it */

/* What a work unit reads: a fixed pattern in .bss, filled at boot. */
static uint32_t pattern[256];
/* Results land here so the compiler keeps the work (one slot per vCPU). */
static volatile uint32_t sink[PV_MAX_VCPUS];

/* One work unit: an FNV-1a pass over the pattern, seeded so no two units are the same. */
static uint32_t work_unit(uint32_t seed)
{
    uint32_t h = 2166136261u ^ seed;
    for (uint32_t i = 0; i < sizeof pattern / sizeof pattern[0]; i++)
        h = (h ^ pattern[i]) * 16777619u;
    return h;
}

static void do_work(uint32_t tick)
{
    uint32_t cpu = pv_this_vcpu();
    uint32_t h = 0;
    for (uint32_t u = 0; u < load; u++)
        h ^= work_unit(tick * 65599u + u);
    if (cpu < PV_MAX_VCPUS)
        sink[cpu] = h;
    pv_atomic_fetch_add(&units, (uint64_t)load);
}

static const char *reason_name(uint32_t reason)
{
    switch (reason) {
    case PV_SHUTDOWN_POWEROFF:
        return "poweroff";
    case PV_SHUTDOWN_REBOOT:
        return "reboot";
    default:
        return "other";
    }
}

/* The control callbacks: the kit's default action, then one line saying where it got. */

static void on_target(uint64_t bytes)
{
    int r = pv_balloon_set_target(bytes);
    if (r < 0)
        pv_printf("worker %s: target %llu bytes, holds %llu (short: %d)\n", name,
                  (unsigned long long)bytes, (unsigned long long)pv_balloon_populated(), r);
    else
        pv_printf("worker %s: target %llu bytes, holds %llu\n", name, (unsigned long long)bytes,
                  (unsigned long long)pv_balloon_populated());
}

static void on_vcpus(uint32_t held)
{
    int r = pv_control_default_vcpus(held);
    uint32_t up = 0;
    for (uint32_t v = 0; v < pv_nr_vcpus(); v++)
        up += pv_vcpu_is_up(v) == 1 ? 1u : 0u;
    if (r < 0)
        pv_printf("worker %s: vcpus %u held, %u up (error %d)\n", name, held, up, r);
    else
        pv_printf("worker %s: vcpus %u held, %u up\n", name, held, up);
}

static void on_devices(uint32_t generation)
{
    pv_printf("worker %s: devices generation %u\n", name, generation);
}

/* The hot-plugged disk: none, added (the main loop is to initialise it) or in use. */
enum { DISK_NONE = 0, DISK_ADDED = 1, DISK_ACTIVE = 2 };
static uint32_t disk_state; /* written in the upcall and in the main loop with upcalls masked */
static uint32_t disk_entry;
static const pv_device_info_t *disk_info;
static pv_blk_t disk;
#define DISK_READ_SECTORS 8u
static uint8_t disk_buf[DISK_READ_SECTORS * PV_BLK_SECTOR_SIZE];

static void on_device_added(uint32_t index, const pv_device_info_t *info)
{
    if (info->type != PV_VIRTIO_ID_BLOCK || disk_state != DISK_NONE)
        return;
    disk_entry = index;
    disk_info = info;
    pv_atomic_store(&disk_state, (uint32_t)DISK_ADDED);
}

static void on_device_removed(uint32_t index, uint32_t old_type)
{
    (void)old_type;
    uint32_t st = pv_atomic_load(&disk_state);
    if (st == DISK_NONE || index != disk_entry)
        return;
    if (st == DISK_ACTIVE) {
        /* The host reset the device and closed its port: a request in flight never completes.
         * needs_reset makes the blk calls return PV_EIO instead of waiting; no MMIO here. */
        pv_atomic_store(&disk.vdev.needs_reset, 1u);
        pv_evtchn_set_handler(disk.vdev.port, NULL, NULL);
    }
    pv_atomic_store(&disk_state, (uint32_t)DISK_NONE);
    pv_printf("worker %s: disk removed from entry %u\n", name, (unsigned)index);
}

/* Main loop (normal context): initialises a disk that was added and reads it. */
static void service_disk(void)
{
    int was = pv_irq_save();
    int added = pv_atomic_load(&disk_state) == DISK_ADDED;
    const pv_device_info_t *info = disk_info;
    uint32_t entry = disk_entry;
    char dev[sizeof info->name + 1];
    if (added) {
        memcpy(dev, info->name, sizeof info->name);
        dev[sizeof info->name] = 0;
        memset(&disk, 0, sizeof disk);
        /* Masked, so a removal cannot come in the middle of the init sequence. */
        int32_t r = pv_blk_init(&disk, info, 0);
        if (r < 0) {
            pv_atomic_store(&disk_state, (uint32_t)DISK_NONE);
            pv_irq_restore(was);
            pv_printf("worker %s: disk %s at entry %u: error %d\n", name, dev, (unsigned)entry, (int)r);
            return;
        }
        pv_atomic_store(&disk_state, (uint32_t)DISK_ACTIVE);
    }
    pv_irq_restore(was);
    if (!added)
        return;
    uint32_t n = disk.capacity < DISK_READ_SECTORS ? (uint32_t)disk.capacity : DISK_READ_SECTORS;
    int32_t r = n == 0 ? PV_EIO : pv_blk_read(&disk, 0, disk_buf, n);
    /* A removal while the read waited: the upcall already said so. */
    if (pv_atomic_load(&disk_state) != DISK_ACTIVE || disk_entry != entry)
        return;
    if (r < 0) {
        pv_printf("worker %s: disk %s at entry %u: error %d\n", name, dev, (unsigned)entry, (int)r);
        return;
    }
    pv_printf("worker %s: disk %s added at entry %u: %llu sectors, crc32 %08x of sector 0\n", name, dev,
              (unsigned)entry, (unsigned long long)disk.capacity,
              (unsigned)pv_bootvol_crc32(disk_buf, PV_BLK_SECTOR_SIZE));
}

static void on_shutdown(uint32_t reason)
{
    pv_printf("worker %s: shutdown requested (%s)\n", name, reason_name(reason));
    pv_shutdown(reason, 0);
}

/* A secondary vCPU: work on its own timer until it is taken down. */
static void secondary(int vcpu)
{
    (void)vcpu;
    uint64_t next = pv_time_ns();
    for (uint32_t tick = 1;; tick++) {
        next += period_ns;
        if (pv_sleep_until(next) < 0)
            return;
        do_work(tick);
    }
}

int kmain(const pv_start_info_t *si)
{
    char buf[16];
    if (pv_cmdline_get("name", buf, sizeof buf) > 0)
        memcpy(name, buf, sizeof name);
    else
        pv_snprintf(name, sizeof name, "dom%u", (unsigned)si->domid);
    load = pv_cmdline_u32("load", 100);
    period_ns = (uint64_t)pv_cmdline_u32("period_ms", 10) * PV_NS_PER_MS;
    uint32_t ticks = pv_cmdline_u32("ticks", 0);
    uint32_t crash_at = pv_cmdline_u32("crash_at", 0);
    uint32_t report = pv_cmdline_u32("report", 100);
    if (period_ns == 0)
        period_ns = PV_NS_PER_MS;
    for (uint32_t i = 0; i < sizeof pattern / sizeof pattern[0]; i++)
        pattern[i] = i * 2654435761u;

    pv_printf("worker %s: up, holds %llu bytes, %u vcpus, load %u\n", name,
              (unsigned long long)pv_balloon_populated(), (unsigned)si->vcpus_held, load);

    uint32_t grow = pv_cmdline_u32("grow", 0);
    if (grow != 0) {
        uint32_t *p = pv_mem_grow(grow);
        if (p == NULL) {
            pv_printf("worker %s: grow by %u refused\n", name, (unsigned)grow);
        } else {
            /* Use the new memory: write every word, then check it all. */
            uint32_t words = grow / 4u, bad = 0;
            for (uint32_t i = 0; i < words; i++)
                p[i] = i * 2654435761u;
            for (uint32_t i = 0; i < words; i++)
                bad += p[i] != i * 2654435761u;
            if (bad != 0)
                pv_panic("worker %s: %u bad words in grown memory", name, (unsigned)bad);
            pv_printf("worker %s: grew by %u bytes, holds %llu\n", name, (unsigned)grow,
                      (unsigned long long)pv_balloon_populated());
        }
    }

    pv_control_set_vcpu_entry(secondary);
    pv_control_ops_t ops = {
        .on_shutdown = on_shutdown,
        .on_target = on_target,
        .on_vcpus = on_vcpus,
        .on_devices = on_devices,
        .on_device_added = on_device_added,
        .on_device_removed = on_device_removed,
    };
    int r = pv_control_init(&ops);
    if (r < 0)
        pv_panic("worker %s: pv_control_init: %d", name, r);

    uint64_t next = pv_time_ns();
    for (uint32_t tick = 1; ticks == 0 || tick <= ticks; tick++) {
        next += period_ns;
        r = pv_sleep_until(next);
        if (r < 0)
            pv_panic("worker %s: sleep: %d", name, r);
        if (tick == crash_at) {
            pv_printf("worker %s: crashing at tick %u\n", name, tick);
            pv_console_flush();
            __builtin_trap();
        }
        service_disk();
        do_work(tick);
        if (report != 0 && tick % report == 0)
            pv_printf("worker %s: tick %u, %llu units\n", name, tick,
                      (unsigned long long)pv_atomic_load(&units));
    }
    pv_printf("worker %s: done after %u ticks, %llu units\n", name, ticks,
              (unsigned long long)pv_atomic_load(&units));
    return 0;
}
