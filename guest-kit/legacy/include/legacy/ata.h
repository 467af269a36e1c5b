/*
 * legacy kit: ATA PIO driver for device 0 on the primary channel (0x1F0-0x1F7, control 0x3F6,
 * IRQ 14), written from ATA/ATAPI-6 (T13 1410D).
 *
 * What: ata_init does a software reset (SRST), selects device 0, runs IDENTIFY DEVICE and reads
 * the capacity (words 60-61, or 100-103 when the 48-bit feature set is enabled, word 86 bit 10),
 * then SET MULTIPLE MODE with the largest block IDENTIFY word 47 offers (up to 16 sectors).
 * ata_read/ata_write move any number of sectors: READ/WRITE MULTIPLE (EXT), or READ/WRITE
 * SECTORS (EXT) when multiple mode is not available; EXT commands only when the range needs LBA48;
 * at most 256 (LBA28) or 65536 (LBA48) sectors per command. One `rep insw`/`rep outsw` per DRQ
 * block. ata_flush issues FLUSH CACHE (EXT).
 *
 * Interrupts or polling: with use_irq, nIEN is cleared and the driver sleeps (sti; hlt) until the
 * IRQ 14 handler has seen INTRQ (it reads Status, which clears INTRQ); otherwise nIEN is set and
 * the driver polls Alternate Status for BSY = 0 and DRQ or ERR, as the PIO protocols allow.
 *
 * Errors: ERR or DF in Status ends the command; the driver returns -1 and keeps Status and Error
 * in `last_status`/`last_error`. No device (the bus floats at 0xFF, or IDENTIFY status 0): -1.
 */
#ifndef LEGACY_ATA_H
#define LEGACY_ATA_H

#include <stdint.h>

#define ATA_PRIMARY_BASE 0x1F0u
#define ATA_PRIMARY_CTL 0x3F6u
#define ATA_PRIMARY_IRQ 14u
#define ATA_SECTOR 512u

typedef struct ata_dev {
    uint16_t base, ctl;
    uint32_t use_irq;
    uint64_t sectors;       /* user-addressable sectors */
    uint32_t lba48;         /* 48-bit feature set enabled */
    uint32_t multiple;      /* sectors per DRQ block for READ/WRITE MULTIPLE; 0: not used */
    char model[41];         /* IDENTIFY words 27-46, trailing spaces removed */
    volatile uint32_t irq_seen;
    volatile uint8_t irq_status;
    uint8_t last_status, last_error;
    uint32_t commands;
} ata_dev_t;

/** @return 0, or -1 when there is no usable device 0. */
int ata_init(ata_dev_t *ata, int use_irq);
int ata_read(ata_dev_t *ata, uint64_t lba, void *buf, uint32_t nsectors);
int ata_write(ata_dev_t *ata, uint64_t lba, const void *buf, uint32_t nsectors);
int ata_flush(ata_dev_t *ata);

#endif /* LEGACY_ATA_H */
