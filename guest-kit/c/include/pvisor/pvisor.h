/*
 * pvisor guest kit: the umbrella header. `#include <pvisor/pvisor.h>` gives a guest kernel the
 * whole kit:
 *
 *   abi.h        generated from spec/abi.json: PV_HC_* numbers, PV_E* errors, PV_* constants,
 *                the shared structs, pv_hypercall() and one pv_<call>() wrapper per hypercall
 *   kernel.h     the kmain() contract, start_info access, command line, heap, shutdown, panic
 *   console.h    buffered console output and pv_printf
 *   pv_string.h  memset/memcpy/memmove/memcmp/strlen/strcmp/strncmp and parsing helpers
 *   atomic.h     wrappers over the __atomic builtins
 *   event.h      the upcall dispatcher, handlers per port, binding helpers, upcall masking
 *   time.h       pv_time_ns, sleeping on the one-shot timer, wall clock
 *   smp.h        starting secondary vCPUs
 *   balloon.h    the balloon driver (decrease/increase_reservation, cooperating with pv_alloc)
 *   control.h    the VIRQ_CONTROL dispatcher (shutdown, memory target, vCPUs, devices) and VIRQ_DOM_EXC
 *   domctl.h     the controlling domain's domctl wrappers (create, destroy, getinfo, ...)
 *   test.h       XTF-style "Test result:" reporting
 *
 * Build: see guest-kit/README.md (compile flags, the link line and the memory layout).
 */
#ifndef PVISOR_PVISOR_H
#define PVISOR_PVISOR_H

#include <pvisor/abi.h>
#include <pvisor/atomic.h>
#include <pvisor/balloon.h>
#include <pvisor/console.h>
#include <pvisor/control.h>
#include <pvisor/domctl.h>
#include <pvisor/event.h>
#include <pvisor/kernel.h>
#include <pvisor/pv_string.h>
#include <pvisor/smp.h>
#include <pvisor/test.h>
#include <pvisor/time.h>

#endif /* PVISOR_PVISOR_H */
