/*
 * legacy kit: 16550A UART (uart.h). Register map and bits from the PC16550D datasheet.
 */
#include <legacy/cpu.h>
#include <legacy/io.h>
#include <legacy/uart.h>

#define RBR 0 /* receive buffer (read), DLAB = 0 */
#define THR 0 /* transmit holding (write), DLAB = 0 */
#define DLL 0 /* divisor latch LSB, DLAB = 1 */
#define IER 1
#define DLM 1
#define FCR 2 /* FIFO control (write) */
#define LCR 3
#define MCR 4
#define LSR 5

#define LCR_8N1 0x03u
#define LCR_DLAB 0x80u
#define FCR_ENABLE 0x01u
#define FCR_CLEAR_RX 0x02u
#define FCR_CLEAR_TX 0x04u
#define FCR_TRIGGER_14 0xC0u
#define MCR_DTR 0x01u
#define MCR_RTS 0x02u
#define MCR_OUT2 0x08u
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define IER_ERBFI 0x01u

static uint16_t base;
static int present;
static volatile uint8_t rx_ring[256];
static volatile uint32_t rx_head, rx_tail;

int uart_init(uint16_t b)
{
    base = b;
    present = 0;
    if (inb((uint16_t)(base + LSR)) == 0xFF)
        return -1; /* floating bus: no UART */
    outb((uint16_t)(base + IER), 0);
    outb((uint16_t)(base + LCR), LCR_DLAB);
    outb((uint16_t)(base + DLL), 1); /* 115200 baud from the 1.8432 MHz clock */
    outb((uint16_t)(base + DLM), 0);
    outb((uint16_t)(base + LCR), LCR_8N1);
    outb((uint16_t)(base + FCR), FCR_ENABLE | FCR_CLEAR_RX | FCR_CLEAR_TX | FCR_TRIGGER_14);
    outb((uint16_t)(base + MCR), MCR_DTR | MCR_RTS | MCR_OUT2);
    present = 1;
    return 0;
}

void uart_write(const void *buf, size_t len)
{
    if (!present)
        return;
    const uint8_t *p = buf;
    while (len > 0) {
        /* THRE in FIFO mode: the transmit FIFO is empty, so 16 bytes fit. */
        while ((inb((uint16_t)(base + LSR)) & LSR_THRE) == 0)
            ;
        size_t n = len < UART_FIFO_DEPTH ? len : UART_FIFO_DEPTH;
        for (size_t i = 0; i < n; i++)
            outb((uint16_t)(base + THR), p[i]);
        p += n;
        len -= n;
    }
}

static void on_irq(uint32_t irq, void *ctx)
{
    (void)irq;
    (void)ctx;
    /* Drain the FIFO: reading RBR until DR clears also clears the RDA/timeout interrupt. */
    while (inb((uint16_t)(base + LSR)) & LSR_DR) {
        uint8_t c = inb((uint16_t)(base + RBR));
        if (rx_head - rx_tail < sizeof rx_ring)
            rx_ring[rx_head++ % sizeof rx_ring] = c;
    }
}

void uart_rx_irq(int on)
{
    if (!present)
        return;
    if (on) {
        irq_register(COM1_IRQ, on_irq, 0);
        outb((uint16_t)(base + IER), IER_ERBFI);
    } else {
        outb((uint16_t)(base + IER), 0);
        irq_unregister(COM1_IRQ);
    }
}

int uart_getc(void)
{
    uint32_t f = irq_save();
    int c = -1;
    if (rx_tail != rx_head)
        c = rx_ring[rx_tail++ % sizeof rx_ring];
    irq_restore(f);
    return c;
}
