/*
 * libpvisor: the vCPU 0 entry (_start), boot checks, the per-instance vCPU index, start_info
 * accessors, the heap and shutdown.
 */
#include "internal.h"

/*
 * The vCPU index lives in a Wasm global of its own, defined here in assembly, because a C global
 * would be in linear memory, which every vCPU instance shares. Each instance starts with 0 (right
 * for vCPU 0); smp.c's boot path sets it on secondary vCPUs.
 */
__asm__(".globaltype pv__vcpu_id, i32\n"
        "pv__vcpu_id:\n");

uint32_t pv_this_vcpu(void)
{
    uint32_t v;
    __asm__ __volatile__("global.get pv__vcpu_id\n\tlocal.set %0" : "=r"(v));
    return v;
}

void pv__set_this_vcpu(uint32_t vcpu)
{
    __asm__ __volatile__("local.get %0\n\tglobal.set pv__vcpu_id" : : "r"(vcpu));
}

const pv_start_info_t *pv__si;
pv_shared_info_t *pv__shinfo;

/* Defined by wasm-ld: the first byte after .data/.bss (and the stack, with --stack-first). */
extern unsigned char __heap_base;
/*
 * The heap's cursor (low 32 bits) and ceiling (high 32 bits) in one word, so that pv_alloc moving
 * the cursor and the balloon (balloon.c) lowering the ceiling are one atomic step each: neither
 * can slip past the other. The ceiling is start_info.reserved_base until the balloon lowers it.
 */
static uint64_t heap_state;

static inline uint64_t heap_pack(uintptr_t cur, uintptr_t ceiling)
{
    return (uint64_t)(uint32_t)cur | ((uint64_t)(uint32_t)ceiling << 32);
}

/*
 * The entry of vCPU 0, exported by the link line (--export=_start). The host calls it once with
 * the address of start_info.
 */
void _start(const pv_start_info_t *si);

void _start(const pv_start_info_t *si)
{
    pv__set_this_vcpu(0);
    if (si == NULL || si->magic != PV_START_INFO_MAGIC)
        pv_panic("start_info at %p has a bad magic (expected 0x%08x)", (const void *)si,
                 (unsigned)PV_START_INFO_MAGIC);
    if ((si->abi_version >> 16) != PV_ABI_VERSION_MAJOR ||
        (si->abi_version & 0xffffu) < PV_ABI_VERSION_MINOR)
        pv_panic("host ABI %u.%u cannot run a guest built for ABI %u.%u", si->abi_version >> 16,
                 si->abi_version & 0xffffu, (unsigned)PV_ABI_VERSION_MAJOR,
                 (unsigned)PV_ABI_VERSION_MINOR);
    if (si->size < sizeof(pv_start_info_t))
        pv_panic("start_info is %u bytes, expected at least %u", si->size,
                 (unsigned)sizeof(pv_start_info_t));

    if ((uintptr_t)&__heap_base > si->reserved_base)
        pv_panic("memory too small: the image ends at %p, the host's area starts at 0x%08x",
                 (void *)&__heap_base, (unsigned)si->reserved_base);

    pv__si = si;
    pv__shinfo = (pv_shared_info_t *)(uintptr_t)si->shared_info;
    pv_irq_disable();

    pv_atomic_store(&heap_state, heap_pack(pv_heap_start(), si->reserved_base));
    pv__time_init_vcpu(0);

    pv_irq_enable();
    int ret = kmain(si);
    pv_shutdown(PV_SHUTDOWN_POWEROFF, ret);
}

const pv_start_info_t *pv_start_info(void)
{
    return pv__si;
}

pv_shared_info_t *pv_shared_info(void)
{
    return pv__shinfo;
}

pv_vcpu_info_t *pv_vcpu_info(uint32_t vcpu)
{
    if (pv__shinfo == NULL || vcpu >= PV_MAX_VCPUS)
        return NULL;
    return &pv__shinfo->vcpu_info[vcpu];
}

uint32_t pv_nr_vcpus(void)
{
    return pv__si != NULL ? pv__si->nr_vcpus : 1u;
}

uint32_t pv_domid(void)
{
    return pv__si != NULL ? pv__si->domid : 0u;
}

uintptr_t pv_heap_start(void)
{
    return ((uintptr_t)&__heap_base + 15u) & ~(uintptr_t)15u;
}

uintptr_t pv_heap_end(void)
{
    return pv__si != NULL ? (uintptr_t)pv__si->reserved_base : pv_heap_start();
}

void *pv_alloc(size_t size, size_t align)
{
    if (align == 0 || (align & (align - 1)) != 0 || pv__si == NULL)
        return NULL;
    uint64_t st = pv_atomic_load(&heap_state);
    for (;;) {
        uintptr_t cur = (uintptr_t)(uint32_t)st;
        uintptr_t end = (uintptr_t)(st >> 32);
        uintptr_t start = (cur + (align - 1)) & ~(uintptr_t)(align - 1);
        if (start < cur || start > end || size > end - start)
            return NULL;
        if (pv_atomic_cas(&heap_state, &st, heap_pack(start + size, end)))
            return (void *)start;
    }
}

uintptr_t pv__heap_break(void)
{
    return (uintptr_t)(uint32_t)pv_atomic_load(&heap_state);
}

uintptr_t pv__heap_ceiling(void)
{
    return (uintptr_t)(pv_atomic_load(&heap_state) >> 32);
}

int32_t pv__heap_set_ceiling(uintptr_t ceiling)
{
    if (pv__si == NULL || ceiling > pv__si->reserved_base)
        return PV_EINVAL;
    uint64_t st = pv_atomic_load(&heap_state);
    for (;;) {
        if ((uintptr_t)(uint32_t)st > ceiling)
            return PV_EBUSY; /* pv_alloc handed out memory above it */
        if (pv_atomic_cas(&heap_state, &st, heap_pack((uintptr_t)(uint32_t)st, ceiling)))
            return 0;
    }
}

_Noreturn void pv_shutdown(uint32_t reason, int32_t code)
{
    pv_console_flush();
    pv_sched_shutdown(reason, code);
    /* Only reached if the host refused the reason: stop this vCPU the hard way. */
    __builtin_trap();
}

_Noreturn void pv_poweroff(int32_t code)
{
    pv_shutdown(PV_SHUTDOWN_POWEROFF, code);
}

_Noreturn void pv_panic(const char *fmt, ...)
{
    va_list ap;
    int was = pv_irq_save();
    pv__console_begin_line(); /* so that "panic:" starts a line of its own */
    pv_printf("panic: ");
    va_start(ap, fmt);
    pv_vprintf(fmt, ap);
    va_end(ap);
    pv_putc('\n');
    pv_irq_restore(was);
    pv_shutdown(PV_SHUTDOWN_CRASH, 1);
}
