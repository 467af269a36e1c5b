/*
 * legacy kit: Intel 8254 PIT driver, counter 0 (ports 0x40-0x43, OUT0 on IRQ 0).
 *
 * What: pit_start_periodic(hz) programs counter 0 in mode 2 (rate generator), binary, LSB then
 * MSB, with the divisor round(1193182 / hz), registers an IRQ 0 handler that counts ticks, and
 * unmasks IRQ 0; pit_ticks() reads the count; pit_stop() masks IRQ 0 and puts counter 0 in
 * mode 0 with count 0 (one terminal count, then OUT stays high: no more edges).
 *
 * Invariants: the period is the divisor / 1193182 s, not exactly 1/hz (100 Hz: 11932 clocks,
 * 10.0002 ms). Divisors are clamped to 2..65536 (a written 0 means 65536).
 */
#ifndef LEGACY_PIT_H
#define LEGACY_PIT_H

#include <stdint.h>

#define PIT_CH0 0x40u
#define PIT_CMD 0x43u
#define PIT_IRQ 0u
#define PIT_INPUT_HZ 1193182u

/** Starts the periodic tick; returns the divisor programmed. */
uint32_t pit_start_periodic(uint32_t hz);
/** Stops it. */
void pit_stop(void);
/** Ticks counted since pit_start_periodic. */
uint64_t pit_ticks(void);
/**
 * PIT input clocks since pit_start_periodic, to the clock (838 ns): ticks x divisor plus what
 * counter 0 has counted down in the current period, read with a counter-latch command and two
 * data reads (three port exits: without a TSC, the PIT is this PC's only fine clock). Never goes
 * backwards, even when a period ended and its IRQ is not serviced yet.
 */
uint64_t pit_clocks(void);
/** Sleeps (sti; hlt) until the tick count reaches `t`. */
void pit_wait_until(uint64_t t);

#endif /* LEGACY_PIT_H */
