/*
 * hostile_loop: prints one line, then spins forever without making a hypercall. The host must
 * preempt it (fuel) and keep other domains running; it ends only when the host stops it.
 */
#include <pvisor/pvisor.h>

int kmain(const pv_start_info_t *si)
{
    (void)si;
    pv_puts("hostile_loop: spinning forever");
    volatile uint32_t spins = 0;
    for (;;)
        spins = spins + 1;
}
