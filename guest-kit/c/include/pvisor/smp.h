/*
 * pvisor guest kit: secondary vCPUs.
 *
 * What: pv_vcpu_start() runs `fn(arg)` on another vCPU, on a stack the caller provides.
 *
 * How it works (and why): each vCPU is a separate instance of the guest module on the same shared
 * memory. `vcpu_up(vcpu, entry, stack, arg)` makes the host set the new instance's exported
 * `__stack_pointer` global to `stack` and call its exported `pv_vcpu_entry(entry, arg)`, which
 * calls the function at table index `entry` (a C function pointer) with `arg`. pv_vcpu_start()
 * writes a 16-byte boot record {fn, arg, vcpu} at the very top of the given stack, passes the
 * address just below it as the stack, and a kit trampoline as `entry`. On the new vCPU the
 * trampoline records the vCPU index in the instance's private Wasm global (pv_this_vcpu()), masks
 * upcalls, binds the vCPU's VIRQ_TIMER (time.h), re-enables upcalls and calls fn(arg). When fn
 * returns, its console buffer is flushed and pv_vcpu_entry returns, which takes the vCPU down.
 *
 * Invariants:
 * - The stack must be memory nothing else uses (a static array or pv_alloc()), below
 *   start_info.reserved_base; `stack_top` is rounded down to 16 bytes. Nothing guards a secondary
 *   stack: overflowing it silently corrupts what lies below.
 * - Secondary vCPUs must be started with pv_vcpu_start(), not the raw pv_vcpu_up(), or they do not
 *   learn their index: pv_this_vcpu() reads PV_VCPU_UNKNOWN there and the kit's event, timer and
 *   masking functions do nothing on that vCPU (see kernel.h).
 * - Link with --export=pv_vcpu_entry --export=__stack_pointer (the kit's link line does); without
 *   them the host answers vcpu_up with PV_ENOSYS.
 */
#ifndef PVISOR_SMP_H
#define PVISOR_SMP_H

#include <stdint.h>

#include <pvisor/abi.h>

/** Starts `fn(arg)` on vCPU `vcpu` (1..nr_vcpus-1) with its stack ending at `stack_top`.
 * @return 0, or a negative PV_E* error from vcpu_up (PV_EBUSY: already up; PV_EINVAL: bad vcpu or
 * a stack too small/misplaced). */
int32_t pv_vcpu_start(uint32_t vcpu, void (*fn)(void *), void *arg, void *stack_top);

/** The exported secondary-vCPU entry: calls the function at table index `entry` with `arg`. */
void pv_vcpu_entry(uint32_t entry, uint32_t arg);

#endif /* PVISOR_SMP_H */
