/*
 * legacy kit: 8254 PIT counter 0 (pit.h). Control word layout from the Intel 8254 datasheet:
 * SC1-SC0 (counter), RW1-RW0 (11: LSB then MSB), M2-M0 (mode), BCD.
 */
#include <legacy/cpu.h>
#include <legacy/io.h>
#include <legacy/pit.h>

#define CW_COUNTER0 0x00u
#define CW_LSB_MSB 0x30u
#define CW_MODE0 0x00u
#define CW_MODE2 0x04u
#define CW_LATCH0 0x00u /* counter 0, RW = 00: counter latch command */

static volatile uint64_t ticks;
static uint32_t divisor;
static uint64_t last_clocks;

static void on_tick(uint32_t irq, void *ctx)
{
    (void)irq;
    (void)ctx;
    ticks++;
}

uint32_t pit_start_periodic(uint32_t hz)
{
    if (hz == 0)
        hz = 1;
    uint32_t div = (PIT_INPUT_HZ + hz / 2) / hz;
    if (div < 2)
        div = 2; /* mode 2: a count of 1 is illegal */
    if (div > 65536)
        div = 65536;
    uint32_t f = irq_save();
    ticks = 0;
    divisor = div;
    last_clocks = 0;
    outb(PIT_CMD, CW_COUNTER0 | CW_LSB_MSB | CW_MODE2);
    outb(PIT_CH0, (uint8_t)div);        /* 65536 is written as 0 */
    outb(PIT_CH0, (uint8_t)(div >> 8));
    irq_register(PIT_IRQ, on_tick, 0);
    irq_restore(f);
    return div;
}

void pit_stop(void)
{
    uint32_t f = irq_save();
    irq_unregister(PIT_IRQ);
    /* Mode 0 with count 0: one terminal count, after which OUT stays high (no more edges). */
    outb(PIT_CMD, CW_COUNTER0 | CW_LSB_MSB | CW_MODE0);
    outb(PIT_CH0, 0);
    outb(PIT_CH0, 0);
    irq_restore(f);
}

uint64_t pit_ticks(void)
{
    uint32_t f = irq_save(); /* a 64-bit read is two loads: keep the handler out */
    uint64_t t = ticks;
    irq_restore(f);
    return t;
}

uint64_t pit_clocks(void)
{
    uint32_t f = irq_save();
    outb(PIT_CMD, CW_LATCH0);
    uint32_t lo = inb(PIT_CH0);
    uint32_t hi = inb(PIT_CH0);
    uint32_t count = lo | (hi << 8);
    if (count == 0 || count > divisor)
        count = divisor; /* 0 reads as 65536; a count above the divisor is a reload in flight */
    uint64_t c = ticks * divisor + (divisor - count);
    /* The counter reloads at the end of a period before IRQ 0 is serviced: until then the
     * sum above looks a period early. Keep time monotonic, as kernels of the PIT era did. */
    if (c < last_clocks)
        c = last_clocks;
    last_clocks = c;
    irq_restore(f);
    return c;
}

void pit_wait_until(uint64_t t)
{
    uint32_t f = irq_save();
    while (ticks < t) {
        wait_for_interrupt();
        cli();
    }
    irq_restore(f);
}
