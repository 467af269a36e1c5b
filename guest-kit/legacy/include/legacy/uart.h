/*
 * legacy kit: NS16550A UART driver (COM1: 0x3F8, IRQ 4), written from the PC16550D datasheet.
 *
 * What: uart_init sets 115200 baud (divisor 1 through DLAB), 8N1, enables and clears both FIFOs
 * (receive trigger 14 bytes), raises DTR, RTS and OUT2 (OUT2 gates INTR onto IRQ 4 on a PC), and
 * leaves interrupts off (IER = 0). uart_write transmits polled: it waits for LSR.THRE and then
 * writes up to 16 bytes (the transmit FIFO's depth) before looking at LSR again. uart_rx_irq(1)
 * enables the received-data interrupt (IER.ERBFI) with an IRQ 4 handler that drains the receive
 * FIFO into a 256-byte ring; uart_getc takes a byte from it (-1 when empty).
 *
 * Invariants: a UART that does not answer (LSR reads 0xFF: nothing decodes the port) is left
 * alone and output is dropped, so a kernel without a serial port still runs.
 */
#ifndef LEGACY_UART_H
#define LEGACY_UART_H

#include <stddef.h>
#include <stdint.h>

#define COM1_BASE 0x3F8u
#define COM1_IRQ 4u
/** Bytes the transmit FIFO holds. */
#define UART_FIFO_DEPTH 16u

/** @return 0, or -1 when no UART answers at `base`. */
int uart_init(uint16_t base);
/** Transmits `len` bytes (polled, FIFO-sized bursts). */
void uart_write(const void *buf, size_t len);
/** Enables (1) or disables (0) interrupt-driven receive. */
void uart_rx_irq(int on);
/** The next received byte, or -1. */
int uart_getc(void);

#endif /* LEGACY_UART_H */
