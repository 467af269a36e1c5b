/*
 * pvisor guest kit: the controlling domain's toolstack calls (domctl).
 *
 * What: one function per DOMCTL_* command. Each fills a `domctl_op` (abi.h: pv_domctl_op_t, with
 * interface_version = PV_DOMCTL_INTERFACE_VERSION) on the caller's stack, lays the command's
 * payload struct over `payload`, makes the `domctl` hypercall and copies back what the host wrote.
 *
 * Why: the op is 80 bytes of header and a union-like payload; filling it by hand at every call
 * site invites a wrong version field or payload offset. As in Xen's libxc, the toolstack is built
 * against the host it controls (DOMCTL_INTERFACE_VERSION is not a stable guest ABI).
 *
 * Invariants:
 * - Every function returns 0 or a negative PV_E* error from `domctl` (see abi.h `pv_domctl` for
 *   the list): PV_EPERM in a domain created without SIF_PRIVILEGED, PV_ESRCH for an unknown domain.
 *   On an error nothing is written through the out pointers.
 * - `d` may be PV_DOMID_SELF wherever the command acts on a domain.
 * - Byte counts are multiples of PV_GRANT_FRAME_SIZE (4 KiB); domain memory (create) a multiple of
 *   64 KiB. The host checks; this library passes values through unchanged.
 * - No call blocks: they may be made from an event handler.
 */
#ifndef PVISOR_DOMCTL_H
#define PVISOR_DOMCTL_H

#include <stdint.h>

#include <pvisor/abi.h>

/**
 * DOMCTL_CREATE: a new domain from the Wasm image at `image` (`image_len` bytes of this domain's
 * memory; the host copies it once), with `mem_bytes` of memory and `nr_vcpus` vCPUs taken from the
 * host's free pools (PV_ENOMEM when they hold too few: balloon frames out and lower your own vCPUs
 * first). `flags` is 0 or PV_SIF_PRIVILEGED. `name` (NULL or "" for the host's `dom<id>`; 1..15
 * printable characters, no space) and `cmdline` (NULL or "" for none) are NUL-terminated. The
 * domain starts paused; pv_dom_unpause() starts it. Its id goes to `*domid_out` (may be NULL).
 */
int pv_dom_create(const void *image, uint32_t image_len, uint64_t mem_bytes, uint32_t nr_vcpus,
                  uint32_t flags, const char *name, const char *cmdline, uint32_t *domid_out);

/**
 * pv_dom_create() for a domain that may grow its memory with `memory.grow` up to `max_mem` bytes
 * (0: no growth; else a multiple of 64 KiB, at least mem_bytes). Growth takes frames from the
 * host's free pool when it happens (pv_mem_grow() in pvisor/balloon.h).
 */
int pv_dom_create_max(const void *image, uint32_t image_len, uint64_t mem_bytes, uint64_t max_mem,
                      uint32_t nr_vcpus, uint32_t flags, const char *name, const char *cmdline,
                      uint32_t *domid_out);

/** DOMCTL_DESTROY: ends domain `d`; its frames and vCPUs go to the host's free pools. */
int pv_dom_destroy(uint32_t d);

/** DOMCTL_PAUSE: stops scheduling domain `d` (not the caller itself). */
int pv_dom_pause(uint32_t d);

/** DOMCTL_UNPAUSE: schedules domain `d` again (starts a newly created one). */
int pv_dom_unpause(uint32_t d);

/** DOMCTL_GETINFO: describes domain `d` into `*out` (flags, vCPUs, memory, shutdown reason). */
int pv_dom_getinfo(uint32_t d, pv_domctl_getinfo_t *out);

/**
 * DOMCTL_LIST: writes up to `max` domain ids, in creation order, into `ids` (may be NULL when max
 * is 0); `*nr_out` gets how many were written and `*total_out` how many domains exist (either
 * pointer may be NULL).
 */
int pv_dom_list(uint32_t *ids, uint32_t max, uint32_t *nr_out, uint32_t *total_out);

/** DOMCTL_SET_MAX_MEM: the most memory domain `d` may hold (at least its mem_size). */
int pv_dom_set_max_mem(uint32_t d, uint64_t bytes);

/**
 * DOMCTL_SET_MEMORY_TARGET: the memory domain `d`'s balloon driver is to hold (at most its
 * max_mem). The host writes start_info.mem_target and raises the domain's VIRQ_CONTROL; the kit's
 * control dispatcher (control.h) then moves its balloon (balloon.h).
 */
int pv_dom_set_target(uint32_t d, uint64_t bytes);

/**
 * DOMCTL_SET_VCPUS: domain `d` is to hold `n` vCPUs (1..its max_vcpus). vCPUs move between it and
 * the host's free vCPU pool (PV_ENOMEM when the pool is short); its VIRQ_CONTROL fires and its
 * kit brings vCPUs up or takes them down. PV_DOMID_SELF lowers the caller's own count (PV_EBUSY
 * below the vCPU making the call).
 */
int pv_dom_set_vcpus(uint32_t d, uint32_t n);

/**
 * DOMCTL_ATTACH_DEVICE: moves entry `index` of the caller's device manifest into domain `d`'s;
 * `*new_index` (may be NULL) gets its entry there. The device is reset; both domains'
 * devices_generation changes and their VIRQ_CONTROL fires.
 */
int pv_dom_attach(uint32_t d, uint32_t index, uint32_t *new_index);

/** DOMCTL_DETACH_DEVICE: moves entry `index` of domain `d`'s manifest back into the caller's. */
int pv_dom_detach(uint32_t d, uint32_t index, uint32_t *new_index);

/**
 * DOMCTL_REQUEST_SHUTDOWN: asks domain `d` to shut itself down with `reason`
 * (PV_SHUTDOWN_POWEROFF or PV_SHUTDOWN_REBOOT). Cooperative: it sees VIRQ_CONTROL and calls
 * sched_shutdown; watch for that with VIRQ_DOM_EXC (control.h) and pv_dom_getinfo().
 */
int pv_dom_request_shutdown(uint32_t d, uint32_t reason);

/** DOMCTL_PHYSINFO: the host's accounts: total and free frames and vCPUs. */
int pv_physinfo(pv_domctl_physinfo_t *out);

#endif /* PVISOR_DOMCTL_H */
