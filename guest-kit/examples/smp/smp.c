/*
 * smp: two vCPUs increment one shared counter; vCPU 1 reports completion with an IPI.
 *
 * Needs 2 vCPUs. vCPU 0 binds an IPI port to itself (`evtchn_bind_ipi(0)`), starts vCPU 1 on a
 * stack of its own (pv_vcpu_start), and both add 1 to the counter N times (count=<N>, default
 * 100000) with atomic adds. vCPU 1 then sends on the IPI port and returns (which takes it down);
 * vCPU 0 blocks until the IPI's handler has run, prints
 *
 *   smp: counter=<2N> (expected <2N>)
 *
 * and powers off with 0 (1 if the counter is wrong, 2 with fewer than 2 vCPUs or a failed setup).
 */
#include <pvisor/pvisor.h>

#define STACK_SIZE 16384

static uint32_t counter;
static uint32_t done;
static uint32_t ipi_port;
static uint32_t n_adds;
static unsigned char vcpu1_stack[STACK_SIZE] __attribute__((aligned(16)));

static void on_ipi(uint32_t port, void *ctx)
{
    (void)port;
    (void)ctx;
    pv_atomic_store(&done, 1u);
}

static void add_n(void)
{
    uint32_t n = pv_atomic_load(&n_adds);
    for (uint32_t i = 0; i < n; i++)
        pv_atomic_fetch_add(&counter, 1u);
}

/* Runs on vCPU 1. */
static void worker(void *arg)
{
    (void)arg;
    add_n();
    pv_evtchn_send(pv_atomic_load(&ipi_port));
}

int kmain(const pv_start_info_t *si)
{
    if (si->nr_vcpus < 2) {
        pv_printf("smp: needs 2 vCPUs, has %u\n", (unsigned)si->nr_vcpus);
        return 2;
    }
    pv_atomic_store(&n_adds, pv_cmdline_u32("count", 100000u));

    int32_t port = pv_bind_ipi(0, on_ipi, NULL);
    if (port < 0) {
        pv_printf("smp: evtchn_bind_ipi(0) failed: %d\n", (int)port);
        return 2;
    }
    pv_atomic_store(&ipi_port, (uint32_t)port);

    int32_t r = pv_vcpu_start(1, worker, NULL, vcpu1_stack + sizeof vcpu1_stack);
    if (r < 0) {
        pv_printf("smp: vcpu_up(1) failed: %d\n", (int)r);
        return 2;
    }
    add_n();
    PV_WAIT_UNTIL(pv_atomic_load(&done) != 0);

    uint32_t got = pv_atomic_load(&counter), want = 2u * pv_atomic_load(&n_adds);
    pv_printf("smp: counter=%u (expected %u)\n", (unsigned)got, (unsigned)want);
    return got == want ? 0 : 1;
}
