/*
 * hostile_oob: prints one line, then loads from the first address past the end of its memory.
 * The load traps (out of bounds); the host must crash this domain only, with the reason.
 */
#include <pvisor/pvisor.h>

int kmain(const pv_start_info_t *si)
{
    uint32_t addr = (uint32_t)si->mem_size; /* mem_size < 4 GiB: the first byte past the end */
    pv_printf("hostile_oob: reading 0x%08x, beyond memory\n", (unsigned)addr);
    volatile const uint32_t *p = (volatile const uint32_t *)(uintptr_t)addr;
    uint32_t v = *p;
    /* Not reached when the memory is what start_info says. */
    pv_printf("hostile_oob: read 0x%08x without a trap\n", (unsigned)v);
    return 3;
}
