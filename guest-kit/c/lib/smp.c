/*
 * libpvisor: starting secondary vCPUs (smp.h) and the exported pv_vcpu_entry.
 */
#include "internal.h"

/* Written by pv_vcpu_start at the top of the new vCPU's stack, above its initial stack pointer. */
struct boot_record {
    void (*fn)(void *);
    void *arg;
    uint32_t vcpu;
    uint32_t pad;
};
_Static_assert(sizeof(struct boot_record) == 16, "the boot record must keep the stack 16-aligned");

/* How far below the boot record the first frame may start before we call the stack foreign. */
#define STACK_CHECK_SLACK 4096u

/* Runs first on a secondary vCPU (called through pv_vcpu_entry). */
static void secondary_boot(uint32_t rec)
{
    const struct boot_record *b = (const struct boot_record *)(uintptr_t)rec;
    uint32_t cpu = pv_atomic_load(&b->vcpu);
    pv__set_this_vcpu(cpu);

    /* The host must have pointed __stack_pointer just below the record. If it did not, this frame
     * is on vCPU 0's stack and running on would corrupt it: stop the domain with a clear reason. */
    volatile uint32_t probe = 0;
    uintptr_t sp = (uintptr_t)&probe;
    if (sp >= rec || rec - sp > STACK_CHECK_SLACK)
        pv_panic("vCPU %u: running on stack %p, not below %p: the host did not switch stacks", cpu,
                 (void *)sp, (void *)(uintptr_t)rec);

    pv_irq_disable();
    pv__time_init_vcpu(cpu);
    pv_irq_enable();

    b->fn(b->arg);
    pv_console_flush();
}

void pv_vcpu_entry(uint32_t entry, uint32_t arg)
{
    /* `entry` is a function table index, i.e. a C function pointer of type void(uint32_t).
     * Returning from here takes this vCPU down. */
    void (*fn)(uint32_t) = (void (*)(uint32_t))(uintptr_t)entry;
    /* Until secondary_boot says which vCPU this is, it is none: a raw vcpu_up entry must not
     * act as vCPU 0 (the instance's global starts at 0). */
    pv__set_this_vcpu(PV_VCPU_UNKNOWN);
    fn(arg);
}

int32_t pv_vcpu_start(uint32_t vcpu, void (*fn)(void *), void *arg, void *stack_top)
{
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15u;
    if (vcpu == 0 || vcpu >= PV_MAX_VCPUS || fn == NULL || top < 2 * sizeof(struct boot_record))
        return PV_EINVAL;
    struct boot_record *b = (struct boot_record *)(top - sizeof(struct boot_record));
    b->fn = fn;
    b->arg = arg;
    b->vcpu = vcpu;
    b->pad = 0;
    pv_mb(); /* the record is complete before the other vCPU can run */
    return pv_vcpu_up(vcpu, (uint32_t)(uintptr_t)&secondary_boot, b, (uint32_t)(uintptr_t)b);
}
