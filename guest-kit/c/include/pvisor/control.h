/*
 * pvisor guest kit: what the controlling domain asks of this domain (VIRQ_CONTROL), and the
 * controlling domain's own watch on the others (VIRQ_DOM_EXC).
 *
 * What: pv_control_init() binds VIRQ_CONTROL on the calling vCPU. Its handler compares the
 * start_info fields the host rewrites (shutdown_requested/shutdown_reason, mem_target, vcpus_held,
 * devices_generation) with the values it saw last and calls one callback per field that changed,
 * in the order devices, target, vcpus, shutdown (shutdown last: by default it does not return).
 *
 * Why compare instead of queueing: the host raises one event whatever changed and several
 * changes before the handler runs are seen as one (events are edge-like), so the fields are the
 * truth and the handler only ever acts on their latest values (as Xen's xenstore watches re-read
 * the node).
 *
 * What init counts as already seen: no shutdown request, mem_target == mem_size, one vCPU held
 * (only vCPU 0 runs at boot) and devices_generation 0. So whatever differs at init — a creator
 * that set a target or a vCPU count before unpausing, or a domain booted with nr_vcpus > 1 — is
 * handled by init itself, before it returns, with upcalls masked as in the handler.
 *
 * Device changes: the dispatcher keeps a snapshot of the manifest (each entry as the host wrote
 * it: name, type, mmio_base, mmio_size, evtchn), taken when pv_control_init runs. When
 * devices_generation changes it compares the manifest with the snapshot entry by entry, calls
 * on_device_removed for each entry whose device went (its type in the snapshot), then
 * on_device_added for each entry that now holds a different device, then on_devices, and keeps
 * the new manifest as the snapshot. An entry that changed device in one coalesced event is reported
 * removed, then added. Devices already in the manifest when init runs are not reported (the
 * kernel found them at boot, as pv_virtio_find does). A device moved out of an entry and an
 * identical-looking one moved back in before the handler runs (same name, type and port) shows no
 * difference, but the generation moved further than the differences explain (each move bumps it
 * once); then every entry that looks unchanged is reported removed and added, so a driver is at
 * worst re-initialised for nothing, never left driving a device the host reset.
 *
 * A moved device was reset by the host (virtio 1.2 §2.1): the driver of an added device runs the
 * whole init sequence again (pv_blk_init etc.), and the driver of a removed one must never touch
 * its old window or port again (reads of an unmapped window return all ones; its port is closed).
 * Both callbacks run in upcall context, where a driver cannot be initialised (the init sequence
 * and the first requests block): set a flag there and (re)initialise from normal context, as
 * guest-kit/examples/worker does.
 *
 * Default actions (a NULL callback):
 * - shutdown: pv_shutdown(reason, 0).
 * - target:   pv_balloon_set_target(bytes) (balloon.h); its result is dropped (best effort).
 * - vcpus:    pv_control_default_vcpus(held).
 * - devices, device_added, device_removed: nothing (the snapshot is still kept).
 *
 * Invariants:
 * - Callbacks run in upcall context (or inside pv_control_init), with upcalls masked: they must
 *   not block (no sleeping or waiting; a blocking call returns PV_EDEADLK). They may print,
 *   balloon, start and stop vCPUs and shut down.
 * - A vCPU brought up here gets a 32 KiB stack from pv_alloc() the first time; the stack is kept
 *   for that vCPU and reused when it comes up again (the heap has no free).
 * - A vCPU is taken down with vcpu_down wherever it is; code that runs on vCPUs which may be
 *   taken down must not hold a lock another vCPU waits for.
 */
#ifndef PVISOR_CONTROL_H
#define PVISOR_CONTROL_H

#include <stdint.h>

#include <pvisor/abi.h>

/** Callbacks for the controlling domain's requests; NULL members take the default action. */
typedef struct {
    /** A shutdown was requested with `reason` (PV_SHUTDOWN_POWEROFF or PV_SHUTDOWN_REBOOT). */
    void (*on_shutdown)(uint32_t reason);
    /** The memory target is now `bytes` (start_info.mem_target). */
    void (*on_target)(uint64_t bytes);
    /** The domain now holds `held` vCPUs (start_info.vcpus_held). */
    void (*on_vcpus)(uint32_t held);
    /**
     * The device manifest changed; start_info.devices_generation is now `generation`. Called after
     * the on_device_removed / on_device_added calls for the same change.
     */
    void (*on_devices)(uint32_t generation);
    /**
     * Manifest entry `index` now holds a device it did not hold before (moved here with
     * DOMCTL_ATTACH_DEVICE or DOMCTL_DETACH_DEVICE). `info` points at the live manifest entry
     * (the host rewrites it if the device moves again): copy what is needed. The device is reset;
     * initialise its driver from normal context (see above). Appended after on_devices so older
     * designated initialisers still compile.
     */
    void (*on_device_added)(uint32_t index, const pv_device_info_t *info);
    /**
     * The device of manifest entry `index` (of type `old_type`, a PV_VIRTIO_ID_*) has gone: the
     * entry is DEVICE_NONE now (or holds another device, reported by on_device_added next). Its
     * window is unmapped and its port closed: the driver must stop using it (mark it gone, so
     * that a request waiting on it returns an error) and never touch the old window again.
     */
    void (*on_device_removed)(uint32_t index, uint32_t old_type);
} pv_control_ops_t;

/**
 * Binds VIRQ_CONTROL on the calling vCPU and handles what already differs from boot (see above).
 * `ops` is copied; NULL means all defaults. Call it once, on the vCPU that is to handle requests
 * (vCPU 0: it is never taken down). @return 0, or a negative PV_E* error from the bind
 * (PV_EEXIST when called twice).
 */
int pv_control_init(const pv_control_ops_t *ops);

/**
 * The function the default vcpus action runs on each vCPU it brings up, with the vCPU's index
 * (it runs there like a pv_vcpu_start() function: returning takes the vCPU down). Until one is
 * set, the default action brings no vCPU up (it still takes surplus ones down).
 */
void pv_control_set_vcpu_entry(void (*entry)(int vcpu));

/**
 * The default vcpus action, for a callback that adds to it (logging): takes down every vCPU at
 * or above `held` (below start_info.nr_vcpus) that is up, except the caller's own, and, with an
 * entry set, brings up every vCPU in 1..held-1 that is down. Must not block (it does not).
 * @return 0, or the first negative PV_E* error (from vcpu_up, or PV_ENOMEM when pv_alloc has no
 * room for a stack); it goes on with the other vCPUs after an error.
 */
int pv_control_default_vcpus(uint32_t held);

/**
 * For controlling domains: binds VIRQ_DOM_EXC on the calling vCPU and calls `fn()` (in upcall
 * context: it must not block) each time another domain shuts down, crashes or is destroyed; it
 * then looks with pv_dom_list()/pv_dom_getinfo() (domctl.h). Several such events before `fn`
 * runs may be seen as one. @return 0, or a negative PV_E* error from the bind.
 */
int pv_control_bind_dom_exc(void (*fn)(void));

#endif /* PVISOR_CONTROL_H */
