/*
 * hostile_storm: a deterministic storm of random hypercalls.
 *
 * A 64-bit LCG (seed=<S>, default 1) draws `calls=<N>` (default 100000) call numbers in 0..40 —
 * including 0 (reserved) and numbers no call has — with random arguments, among them wild
 * pointers: past the end of memory, straddling the end, wrapping around 2^32, and into the
 * host-reserved area. It never calls sched_shutdown, vcpu_down, sched_block or sched_poll (those
 * numbers are drawn again), nor vcpu_up when the domain has more than one vCPU. It counts the
 * results by sign, prints
 *
 *   storm: <N> calls, <E> errors
 *
 * (E = results below 0) and powers off with 0. The host must survive every call, answer each with
 * a result, and leave the other domains alone.
 *
 * The storm is hostile to the host, not to itself. Three rules keep the guest alive so that it
 * can report:
 * - An argument that would be an address inside the guest's own data, heap or upper stack
 *   ([16 KiB, reserved_base)) is moved into a scratch buffer, so an "out" argument never makes the
 *   host overwrite the guest's state. Below 16 KiB is the unused bottom of the 64 KiB stack
 *   (--stack-first); values there are kept.
 * - console_write gets length 0 or a buffer outside memory, so the console shows only the report.
 * - multicall gets a batch the storm has just filled with entries drawn by the same rules (or a
 *   wild pointer), so a nested call is never a forbidden one.
 */
#include <pvisor/pvisor.h>

#define MAX_NR 40u
#define SCRATCH_SIZE 16384u
#define SCRATCH_WINDOW (SCRATCH_SIZE - PV_CONSOLE_IO_MAX - 64u) /* room for the longest write */
#define LOW_SAFE 16384u
#define BATCH_MAX (PV_MULTICALL_MAX + 8u) /* nr_calls is drawn up to here: some are too many */

static uint64_t lcg;
static unsigned char scratch[SCRATCH_SIZE] __attribute__((aligned(16)));
static pv_multicall_entry_t batch[BATCH_MAX];
static uint32_t mem_end, reserved_base, nr_vcpus;

static uint32_t rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg >> 32);
}

static int forbidden(uint32_t nr)
{
    /* decrease_reservation zeroes the frames it hands back: random ranges would wipe the storm's own data. */
    return nr == PV_HC_SCHED_SHUTDOWN || nr == PV_HC_VCPU_DOWN || nr == PV_HC_SCHED_BLOCK ||
           nr == PV_HC_SCHED_POLL || (nr == PV_HC_VCPU_UP && nr_vcpus > 1) ||
           nr == PV_HC_DECREASE_RESERVATION || nr == PV_HC_INCREASE_RESERVATION;
}

static uint32_t draw_nr(void)
{
    uint32_t nr;
    do
        nr = rnd() % (MAX_NR + 1);
    while (forbidden(nr));
    return nr;
}

static uint32_t scratch_addr(uint32_t v)
{
    return (uint32_t)(uintptr_t)scratch + ((v % SCRATCH_WINDOW) & ~7u);
}

static uint32_t sanitize(uint32_t v)
{
    uint32_t s = (uint32_t)(uintptr_t)scratch;
    if (v >= LOW_SAFE && v < reserved_base && !(v >= s && v < s + SCRATCH_WINDOW))
        return scratch_addr(v);
    return v;
}

/* An address no guest access may reach: past the end, or wrapping around 2^32. */
static uint32_t outside(void)
{
    return (rnd() & 1u) ? mem_end + (rnd() % 65536u) : 0xffffffffu - (rnd() % 64u);
}

static uint32_t arg(void)
{
    switch (rnd() % 10u) {
    case 0:
    case 1:
    case 2:
        return rnd() % 64u; /* ports, vCPUs, VIRQs, small lengths and counts */
    case 3:
        return rnd() % 2048u; /* ports around NR_EVENT_CHANNELS */
    case 4:
        return sanitize(rnd()); /* anything */
    case 5:
        return scratch_addr(rnd()); /* a valid pointer */
    case 6:
    case 8:
        return sanitize(outside());
    case 7:
        return sanitize(mem_end - 1u - (rnd() % 64u)); /* straddles the end for most lengths */
    default:
        return sanitize(reserved_base + rnd() % (mem_end - reserved_base)); /* host area */
    }
}

/* Arguments for call `nr`, in a[0..4]. */
static void draw_args(uint32_t nr, uint32_t a[5])
{
    for (int i = 0; i < 5; i++)
        a[i] = arg();
    if (nr == PV_HC_CONSOLE_WRITE) {
        if (rnd() % 3u == 0)
            a[1] = 0; /* nothing to write, whatever the buffer */
        else
            a[0] = sanitize(outside());
    }
}

static void fill_batch(uint32_t n)
{
    for (uint32_t i = 0; i < n && i < BATCH_MAX; i++) {
        uint32_t a[5];
        batch[i].op = draw_nr();
        batch[i].result = 0;
        draw_args(batch[i].op, a);
        for (int j = 0; j < 5; j++)
            batch[i].args[j] = a[j];
    }
}

int kmain(const pv_start_info_t *si)
{
    volatile uint32_t probe = 0;
    if ((uintptr_t)&probe < 2u * LOW_SAFE)
        pv_panic("storm: stack at %p is below %u: link with --stack-first", (void *)&probe,
                 2u * LOW_SAFE);
    mem_end = (uint32_t)si->mem_size;
    reserved_base = si->reserved_base;
    nr_vcpus = si->nr_vcpus;
    lcg = pv_cmdline_u32("seed", 1u);
    uint32_t calls = pv_cmdline_u32("calls", 100000u);

    uint32_t errors = 0;
    for (uint32_t i = 0; i < calls; i++) {
        uint32_t nr = draw_nr();
        uint32_t a[5];
        draw_args(nr, a);
        if (nr == PV_HC_MULTICALL) {
            a[1] = rnd() % (BATCH_MAX + 1u);
            if (rnd() % 4u != 0) {
                fill_batch(a[1]);
                a[0] = (uint32_t)(uintptr_t)batch;
            } else {
                a[0] = sanitize(outside());
            }
        }
        int32_t r = pv_hypercall((int32_t)nr, (int32_t)a[0], (int32_t)a[1], (int32_t)a[2],
                                 (int32_t)a[3], (int32_t)a[4]);
        if (r < 0)
            errors++;
    }
    pv_printf("storm: %u calls, %u errors\n", (unsigned)calls, (unsigned)errors);
    return 0;
}
