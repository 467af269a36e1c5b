/*
 * legacy kit: 8259A PIC pair (pic.h). Register meanings from the Intel 8259A datasheet.
 */
#include <legacy/io.h>
#include <legacy/pic.h>

#define ICW1_IC4 0x01u  /* ICW4 follows */
#define ICW1_INIT 0x10u /* D4 = 1: this is ICW1 */
#define ICW4_8086 0x01u /* uPM: 8086/8088 mode */
#define OCW2_EOI 0x20u  /* non-specific EOI */
#define OCW3_READ_ISR 0x0Bu

static uint8_t mask1 = 0xFF, mask2 = 0xFF;

void pic_init(uint8_t vector_base)
{
    /* ICW1: edge triggered, cascade mode (SNGL = 0), ICW4 needed. */
    outb(PIC1_CMD, ICW1_INIT | ICW1_IC4);
    outb(PIC2_CMD, ICW1_INIT | ICW1_IC4);
    /* ICW2: vector base (T7-T3) of each chip. */
    outb(PIC1_DATA, vector_base);
    outb(PIC2_DATA, (uint8_t)(vector_base + 8));
    /* ICW3: the master has a slave on IR2; the slave's ID is 2. */
    outb(PIC1_DATA, 1u << PIC_CASCADE_IRQ);
    outb(PIC2_DATA, PIC_CASCADE_IRQ);
    /* ICW4: 8086 mode, normal (not automatic) EOI. */
    outb(PIC1_DATA, ICW4_8086);
    outb(PIC2_DATA, ICW4_8086);
    /* OCW1: everything masked except the cascade input. */
    mask1 = (uint8_t)~(1u << PIC_CASCADE_IRQ);
    mask2 = 0xFF;
    outb(PIC1_DATA, mask1);
    outb(PIC2_DATA, mask2);
}

void pic_mask(uint32_t irq)
{
    if (irq < 8) {
        mask1 |= (uint8_t)(1u << irq);
        outb(PIC1_DATA, mask1);
    } else if (irq < 16) {
        mask2 |= (uint8_t)(1u << (irq - 8));
        outb(PIC2_DATA, mask2);
    }
}

void pic_unmask(uint32_t irq)
{
    if (irq < 8) {
        mask1 &= (uint8_t) ~(1u << irq);
        outb(PIC1_DATA, mask1);
    } else if (irq < 16) {
        mask2 &= (uint8_t) ~(1u << (irq - 8));
        outb(PIC2_DATA, mask2);
    }
}

void pic_eoi(uint32_t irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, OCW2_EOI);
    outb(PIC1_CMD, OCW2_EOI);
}

uint16_t pic_read_isr(void)
{
    outb(PIC1_CMD, OCW3_READ_ISR);
    outb(PIC2_CMD, OCW3_READ_ISR);
    return (uint16_t)(inb(PIC1_CMD) | (uint16_t)inb(PIC2_CMD) << 8);
}
