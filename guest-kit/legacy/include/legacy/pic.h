/*
 * legacy kit: Intel 8259A PIC pair driver (master 0x20/0x21, slave 0xA0/0xA1 on master IR2).
 *
 * What: pic_init runs the ICW1-ICW4 sequence on both chips (edge triggered, cascade, 8086 mode),
 * remapping IRQ 0-7 to vectors base..base+7 and IRQ 8-15 to base+8..base+15, and masks every
 * line but the cascade; pic_mask/pic_unmask change OCW1; pic_eoi sends a non-specific EOI (OCW2)
 * to the slave for IRQ 8-15 and to the master; pic_read_isr reads the in-service registers
 * (OCW3), which tells a real IRQ 7/15 from a spurious one.
 */
#ifndef LEGACY_PIC_H
#define LEGACY_PIC_H

#include <stdint.h>

#define PIC1_CMD 0x20u
#define PIC1_DATA 0x21u
#define PIC2_CMD 0xA0u
#define PIC2_DATA 0xA1u
/** The master input the slave is wired to. */
#define PIC_CASCADE_IRQ 2u

void pic_init(uint8_t vector_base);
void pic_mask(uint32_t irq);
void pic_unmask(uint32_t irq);
void pic_eoi(uint32_t irq);
/** In-service registers: master in bits 0-7, slave in bits 8-15. */
uint16_t pic_read_isr(void);

#endif /* LEGACY_PIC_H */
