/*
 * libpvisor: the VIRQ_CONTROL dispatcher and the VIRQ_DOM_EXC hook (control.h).
 *
 * The "seen" values are touched only by dispatch(), which runs on the vCPU that called
 * pv_control_init with its upcalls masked (in the upcall, or inside init), so it needs no lock.
 */
#include <pvisor/balloon.h>
#include <pvisor/control.h>

#include "internal.h"

/* Stack of a vCPU the default vcpus action brings up. */
#define VCPU_STACK_SIZE 32768u

static pv_control_ops_t ops;
static uint32_t seen_shutdown;
static uint64_t seen_target;
static uint32_t seen_vcpus;
static uint32_t seen_generation;
/* The manifest as last seen (control.h "Device changes"); entries past seen_nr_devices are zero. */
static pv_device_info_t seen_devices[PV_MAX_DEVICES];
static uint32_t seen_nr_devices;
static uint32_t snap_generation; /* the devices_generation seen_devices goes with */

static void (*vcpu_entry)(int vcpu);
static unsigned char *vcpu_stack[PV_MAX_VCPUS];
static void (*dom_exc_fn)(void);

/* Runs on a vCPU the default action brought up (through pv_vcpu_start's boot path). */
static void vcpu_main(void *arg)
{
    void (*entry)(int) = pv_atomic_load(&vcpu_entry);
    if (entry != NULL)
        entry((int)(uintptr_t)arg);
}

void pv_control_set_vcpu_entry(void (*entry)(int vcpu))
{
    pv_atomic_store(&vcpu_entry, entry);
}

int pv_control_default_vcpus(uint32_t held)
{
    uint32_t n = pv_nr_vcpus();
    if (n > PV_MAX_VCPUS)
        n = PV_MAX_VCPUS;
    uint32_t self = pv_this_vcpu();
    int err = 0;
    for (uint32_t v = held > 1 ? held : 1u; v < n; v++) {
        if (v == self)
            continue; /* vcpu_down of the caller would not return */
        int32_t r = pv_vcpu_is_up(v);
        if (r > 0)
            r = pv_vcpu_down(v);
        if (r < 0 && err == 0)
            err = r;
    }
    if (pv_atomic_load(&vcpu_entry) == NULL)
        return err;
    for (uint32_t v = 1; v < held && v < n; v++) {
        int32_t r = pv_vcpu_is_up(v);
        if (r == 0) {
            if (vcpu_stack[v] == NULL)
                vcpu_stack[v] = pv_alloc(VCPU_STACK_SIZE, 16);
            r = vcpu_stack[v] == NULL
                    ? PV_ENOMEM
                    : pv_vcpu_start(v, vcpu_main, (void *)(uintptr_t)v, vcpu_stack[v] + VCPU_STACK_SIZE);
        }
        if (r < 0 && err == 0)
            err = r;
    }
    return err;
}

/* The live manifest (0 entries on a host older than ABI 1.1). */
static const pv_device_info_t *live_manifest(void)
{
    return (const pv_device_info_t *)(uintptr_t)pv__si->devices;
}

/*
 * Copies the manifest into `out` (entries past the end zeroed, i.e. DEVICE_NONE) and `*nr_out`,
 * and returns the devices_generation it goes with. The host rewrites the entries, then bumps the
 * generation, in one step the guest cannot interrupt; so equal generations read before and after
 * the copy mean a consistent copy (else copy again).
 */
static uint32_t read_manifest(pv_device_info_t out[PV_MAX_DEVICES], uint32_t *nr_out)
{
    const pv_start_info_t *si = pv__si;
    for (;;) {
        uint32_t gen = pv_atomic_load(&si->devices_generation);
        uint32_t n = si->devices == 0 ? 0 : pv_atomic_load(&si->nr_devices);
        if (n > PV_MAX_DEVICES)
            n = PV_MAX_DEVICES;
        memset(out, 0, PV_MAX_DEVICES * sizeof *out);
        if (n != 0)
            memcpy(out, live_manifest(), n * sizeof *out);
        if (pv_atomic_load(&si->devices_generation) == gen) {
            *nr_out = n;
            return gen;
        }
    }
}

/*
 * Compares the manifest with the snapshot and reports the differences (control.h "Device
 * changes"): removals first, so a driver lets go of an entry before a new device there is
 * announced, then additions; then keeps the new snapshot.
 *
 * Each move into or out of this domain bumps the generation by one and changes one entry, so
 * when the generation moved further than the entries that differ account for, some entry lost
 * its device and got an identical-looking one back (reset by the host meanwhile) before this ran.
 * Which one cannot be told, so every entry that looks unchanged is then reported removed and
 * added: a driver may be re-initialised for nothing, but is never left driving a reset device.
 */
static void diff_devices(void)
{
    static pv_device_info_t now[PV_MAX_DEVICES];
    uint32_t n;
    uint32_t gen = read_manifest(now, &n);
    uint32_t top = n > seen_nr_devices ? n : seen_nr_devices;
    uint32_t visible = 0;
    for (uint32_t i = 0; i < top; i++) {
        if (memcmp(&seen_devices[i], &now[i], sizeof now[i]) != 0)
            visible += (seen_devices[i].type != PV_DEVICE_NONE) + (now[i].type != PV_DEVICE_NONE);
    }
    int hidden = gen - snap_generation > visible;
    for (uint32_t i = 0; i < top; i++) {
        const pv_device_info_t *was = &seen_devices[i];
        if (was->type != PV_DEVICE_NONE && (hidden || memcmp(was, &now[i], sizeof now[i]) != 0) &&
            ops.on_device_removed != NULL)
            ops.on_device_removed(i, was->type);
    }
    for (uint32_t i = 0; i < top; i++) {
        if (now[i].type != PV_DEVICE_NONE && (hidden || memcmp(&seen_devices[i], &now[i], sizeof now[i]) != 0) &&
            ops.on_device_added != NULL)
            ops.on_device_added(i, &live_manifest()[i]);
    }
    memcpy(seen_devices, now, sizeof now);
    seen_nr_devices = n;
    snap_generation = gen;
}

/* Acts on every start_info field that changed since it last looked (control.h for the order). */
static void dispatch(void)
{
    const pv_start_info_t *si = pv__si;

    uint32_t gen = pv_atomic_load(&si->devices_generation);
    if (gen != seen_generation) {
        seen_generation = gen;
        diff_devices();
        if (ops.on_devices != NULL)
            ops.on_devices(gen);
    }

    uint64_t target = pv_atomic_load(&si->mem_target);
    if (target != seen_target) {
        seen_target = target;
        if (ops.on_target != NULL)
            ops.on_target(target);
        else
            (void)pv_balloon_set_target(target);
    }

    uint32_t held = pv_atomic_load(&si->vcpus_held);
    if (held != seen_vcpus) {
        seen_vcpus = held;
        if (ops.on_vcpus != NULL)
            ops.on_vcpus(held);
        else
            (void)pv_control_default_vcpus(held);
    }

    if (pv_atomic_load(&si->shutdown_requested) != 0 && seen_shutdown == 0) {
        seen_shutdown = 1;
        uint32_t reason = pv_atomic_load(&si->shutdown_reason);
        if (ops.on_shutdown != NULL)
            ops.on_shutdown(reason);
        else
            pv_shutdown(reason, 0);
    }
}

static void control_handler(uint32_t port, void *ctx)
{
    (void)port;
    (void)ctx;
    dispatch();
}

int pv_control_init(const pv_control_ops_t *ops_in)
{
    if (pv__si == NULL)
        return PV_EINVAL;
    int was = pv_irq_save();
    if (ops_in != NULL)
        ops = *ops_in;
    else
        memset(&ops, 0, sizeof ops);
    /* Boot as the baseline: anything the creator changed before unpausing is handled below. */
    seen_shutdown = 0;
    seen_target = pv__si->mem_size;
    seen_vcpus = 1;
    seen_generation = 0;
    /* What the kernel found at boot is the baseline: only later moves are reported. */
    snap_generation = read_manifest(seen_devices, &seen_nr_devices);
    int32_t port = pv_bind_virq(PV_VIRQ_CONTROL, control_handler, NULL);
    if (port >= 0)
        dispatch();
    pv_irq_restore(was);
    return port < 0 ? port : 0;
}

static void dom_exc_handler(uint32_t port, void *ctx)
{
    (void)port;
    (void)ctx;
    void (*fn)(void) = pv_atomic_load(&dom_exc_fn);
    if (fn != NULL)
        fn();
}

int pv_control_bind_dom_exc(void (*fn)(void))
{
    pv_atomic_store(&dom_exc_fn, fn);
    int32_t port = pv_bind_virq(PV_VIRQ_DOM_EXC, dom_exc_handler, NULL);
    return port < 0 ? port : 0;
}
