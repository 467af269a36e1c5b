/*
 * legacy kit: ATA PIO driver (ata.h). Protocols and register bits from ATA/ATAPI-6 (T13 1410D):
 * §9.5 PIO data-in, §9.6 PIO data-out, §9.4 non-data, §9.2 software reset.
 */
#include <legacy/ata.h>
#include <legacy/cpu.h>
#include <legacy/io.h>
#include <legacy/klib.h>

/* Command block offsets. */
#define REG_DATA 0
#define REG_ERROR 1
#define REG_FEATURES 1
#define REG_COUNT 2
#define REG_LBA_LO 3
#define REG_LBA_MID 4
#define REG_LBA_HI 5
#define REG_DEVICE 6
#define REG_STATUS 7
#define REG_COMMAND 7

#define ST_ERR 0x01u
#define ST_DRQ 0x08u
#define ST_DF 0x20u
#define ST_DRDY 0x40u
#define ST_BSY 0x80u

#define CTL_NIEN 0x02u
#define CTL_SRST 0x04u

#define DEV_LBA 0x40u
#define DEV_OBS 0xA0u /* bits 7 and 5: obsolete, set by convention */

#define CMD_READ_SECTORS 0x20u
#define CMD_READ_SECTORS_EXT 0x24u
#define CMD_READ_MULTIPLE_EXT 0x29u
#define CMD_WRITE_SECTORS 0x30u
#define CMD_WRITE_SECTORS_EXT 0x34u
#define CMD_WRITE_MULTIPLE_EXT 0x39u
#define CMD_READ_MULTIPLE 0xC4u
#define CMD_WRITE_MULTIPLE 0xC5u
#define CMD_SET_MULTIPLE 0xC6u
#define CMD_FLUSH_CACHE 0xE7u
#define CMD_FLUSH_CACHE_EXT 0xEAu
#define CMD_IDENTIFY 0xECu

/* Polls a bounded number of times before declaring the device dead (it is synchronous here,
 * but a real device is not). */
#define POLL_LIMIT 10000000u

static uint8_t status(const ata_dev_t *a) { return inb((uint16_t)(a->base + REG_STATUS)); }
static uint8_t alt_status(const ata_dev_t *a) { return inb(a->ctl); }

/* The 400 ns after a command or device select before Status is valid: four Alternate Status reads. */
static void delay400(const ata_dev_t *a)
{
    for (int i = 0; i < 4; i++)
        (void)alt_status(a);
}

static void on_irq(uint32_t irq, void *ctx)
{
    (void)irq;
    ata_dev_t *a = ctx;
    /* Reading Status acknowledges INTRQ (ATA-6 §6.2.2: "the host reads the Status register"). */
    a->irq_status = status(a);
    a->irq_seen = 1;
}

/* Waits for BSY = 0; returns the last Status, or 0xFF when it never clears. */
static uint8_t wait_not_busy(ata_dev_t *a)
{
    for (uint32_t i = 0; i < POLL_LIMIT; i++) {
        uint8_t s = alt_status(a);
        if ((s & ST_BSY) == 0)
            return s;
    }
    return 0xFF;
}

/*
 * Waits for the device to finish its part of a protocol step: INTRQ (interrupt mode: sleeps until
 * the handler has run) or BSY = 0 (polling). Returns Status with BSY clear.
 */
static uint8_t wait_device(ata_dev_t *a)
{
    if (a->use_irq) {
        uint32_t f = irq_save();
        while (!a->irq_seen) {
            wait_for_interrupt();
            cli();
        }
        a->irq_seen = 0;
        irq_restore(f);
    }
    return wait_not_busy(a);
}

static int failed(ata_dev_t *a, uint8_t s)
{
    a->last_status = s;
    if (s & (ST_ERR | ST_DF)) {
        a->last_error = inb((uint16_t)(a->base + REG_ERROR));
        return 1;
    }
    return 0;
}

/* Writes the task file for `lba`/`count` (count 0 = 256 or 65536) and the command. */
static void issue(ata_dev_t *a, uint8_t cmd, uint64_t lba, uint32_t count, int ext)
{
    uint16_t b = a->base;
    a->irq_seen = 0;
    if (ext) {
        /* 48-bit: "previous content" first (the registers are two-deep FIFOs), then current. */
        outb((uint16_t)(b + REG_COUNT), (uint8_t)(count >> 8));
        outb((uint16_t)(b + REG_LBA_LO), (uint8_t)(lba >> 24));
        outb((uint16_t)(b + REG_LBA_MID), (uint8_t)(lba >> 32));
        outb((uint16_t)(b + REG_LBA_HI), (uint8_t)(lba >> 40));
        outb((uint16_t)(b + REG_COUNT), (uint8_t)count);
        outb((uint16_t)(b + REG_LBA_LO), (uint8_t)lba);
        outb((uint16_t)(b + REG_LBA_MID), (uint8_t)(lba >> 8));
        outb((uint16_t)(b + REG_LBA_HI), (uint8_t)(lba >> 16));
        outb((uint16_t)(b + REG_DEVICE), DEV_OBS | DEV_LBA);
    } else {
        outb((uint16_t)(b + REG_COUNT), (uint8_t)count);
        outb((uint16_t)(b + REG_LBA_LO), (uint8_t)lba);
        outb((uint16_t)(b + REG_LBA_MID), (uint8_t)(lba >> 8));
        outb((uint16_t)(b + REG_LBA_HI), (uint8_t)(lba >> 16));
        outb((uint16_t)(b + REG_DEVICE), (uint8_t)(DEV_OBS | DEV_LBA | ((lba >> 24) & 0x0F)));
    }
    a->commands++;
    outb((uint16_t)(b + REG_COMMAND), cmd);
}

/* A non-data command (§9.4): issue, wait for INTRQ / BSY = 0, check ERR. */
static int non_data(ata_dev_t *a, uint8_t cmd, uint32_t count)
{
    issue(a, cmd, 0, count, 0);
    delay400(a);
    return failed(a, wait_device(a)) ? -1 : 0;
}

int ata_init(ata_dev_t *a, int use_irq)
{
    memset(a, 0, sizeof *a);
    a->base = ATA_PRIMARY_BASE;
    a->ctl = ATA_PRIMARY_CTL;
    if (alt_status(a) == 0xFF)
        return -1; /* floating bus: no device on the channel */
    /* Software reset (§9.2): SRST = 1, wait, SRST = 0, wait for BSY = 0. nIEN while we set up. */
    outb(a->ctl, CTL_NIEN | CTL_SRST);
    delay400(a);
    outb(a->ctl, CTL_NIEN);
    if (wait_not_busy(a) == 0xFF)
        return -1;
    outb((uint16_t)(a->base + REG_DEVICE), DEV_OBS); /* device 0 */
    delay400(a);
    /* IDENTIFY DEVICE, polled (nIEN = 1): PIO data-in of one block. */
    outb((uint16_t)(a->base + REG_COMMAND), CMD_IDENTIFY);
    delay400(a);
    uint8_t s = alt_status(a);
    if (s == 0)
        return -1; /* no device 0 */
    s = wait_not_busy(a);
    /* An ATAPI or SATA signature in LBA mid/high means "not an ATA device": we only do ATA. */
    if (inb((uint16_t)(a->base + REG_LBA_MID)) != 0 || inb((uint16_t)(a->base + REG_LBA_HI)) != 0)
        return -1;
    while ((s & (ST_DRQ | ST_ERR)) == 0 && s != 0xFF)
        s = alt_status(a);
    if (failed(a, s) || (s & ST_DRQ) == 0)
        return -1;
    static uint16_t id[256];
    insw((uint16_t)(a->base + REG_DATA), id, 256);
    (void)status(a); /* end of the data-in block: clears INTRQ */
    if (id[0] & 0x8000u)
        return -1; /* bit 15 = 1: not an ATA device */
    for (int i = 0; i < 20; i++) {
        a->model[2 * i] = (char)(id[27 + i] >> 8);
        a->model[2 * i + 1] = (char)id[27 + i];
    }
    for (int i = 39; i >= 0 && a->model[i] == ' '; i--)
        a->model[i] = 0;
    /* Word 86 bit 10: the 48-bit Address feature set is enabled; words 100-103 hold its max LBA. */
    if (id[86] & (1u << 10)) {
        a->lba48 = 1;
        a->sectors = (uint64_t)id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 | (uint64_t)id[103] << 48;
    } else {
        a->sectors = (uint64_t)id[60] | (uint64_t)id[61] << 16;
    }
    a->use_irq = use_irq ? 1u : 0u;
    if (a->use_irq) {
        irq_register(ATA_PRIMARY_IRQ, on_irq, a);
        outb(a->ctl, 0); /* nIEN = 0: INTRQ drives IRQ 14 */
    }
    /* Word 47 bits 7-0: the largest DRQ block READ/WRITE MULTIPLE supports. */
    uint32_t maxm = id[47] & 0xFFu;
    uint32_t m = 1;
    while (m * 2 <= maxm && m * 2 <= 16)
        m *= 2;
    if (maxm >= 2 && non_data(a, CMD_SET_MULTIPLE, m) == 0)
        a->multiple = m;
    return 0;
}

/* One READ or WRITE command of `count` (1..65536) sectors. */
static int transfer(ata_dev_t *a, uint64_t lba, uint8_t *buf, uint32_t count, int write)
{
    int ext = lba + count > 0x0FFFFFFFu || count > 256;
    uint8_t cmd;
    if (a->multiple)
        cmd = write ? (ext ? CMD_WRITE_MULTIPLE_EXT : CMD_WRITE_MULTIPLE) : (ext ? CMD_READ_MULTIPLE_EXT : CMD_READ_MULTIPLE);
    else
        cmd = write ? (ext ? CMD_WRITE_SECTORS_EXT : CMD_WRITE_SECTORS) : (ext ? CMD_READ_SECTORS_EXT : CMD_READ_SECTORS);
    uint32_t block = a->multiple ? a->multiple : 1;
    uint16_t data = (uint16_t)(a->base + REG_DATA);
    issue(a, cmd, lba, count & (ext ? 0xFFFFu : 0xFFu), ext);
    delay400(a);
    uint8_t s;
    if (write) {
        /* PIO data-out: the first block is requested without an interrupt; poll for DRQ. */
        s = wait_not_busy(a);
        while (count > 0) {
            if (failed(a, s) || (s & ST_DRQ) == 0)
                return -1;
            uint32_t n = count < block ? count : block;
            a->irq_seen = 0;
            outsw(data, buf, n * (ATA_SECTOR / 2));
            buf += n * ATA_SECTOR;
            count -= n;
            /* INTRQ after every block; the last one with DRQ = 0 (command complete). */
            s = wait_device(a);
        }
        if (failed(a, s) || (s & ST_DRQ) != 0)
            return -1;
        return 0;
    }
    /* PIO data-in: each block is announced by INTRQ with DRQ = 1. */
    while (count > 0) {
        s = wait_device(a);
        if (failed(a, s) || (s & ST_DRQ) == 0)
            return -1;
        uint32_t n = count < block ? count : block;
        a->irq_seen = 0;
        insw(data, buf, n * (ATA_SECTOR / 2));
        buf += n * ATA_SECTOR;
        count -= n;
    }
    /* After the last block DRQ clears with no further interrupt. */
    s = alt_status(a);
    if (a->use_irq == 0)
        (void)status(a);
    return failed(a, s) ? -1 : 0;
}

static int rw(ata_dev_t *a, uint64_t lba, uint8_t *buf, uint32_t nsectors, int write)
{
    if (lba + nsectors > a->sectors || lba + nsectors < lba)
        return -1;
    uint32_t max = a->lba48 ? 65536u : 256u;
    while (nsectors > 0) {
        uint32_t n = nsectors < max ? nsectors : max;
        if (transfer(a, lba, buf, n, write) != 0)
            return -1;
        lba += n;
        buf += (uint64_t)n * ATA_SECTOR;
        nsectors -= n;
    }
    return 0;
}

int ata_read(ata_dev_t *a, uint64_t lba, void *buf, uint32_t nsectors) { return rw(a, lba, buf, nsectors, 0); }

int ata_write(ata_dev_t *a, uint64_t lba, const void *buf, uint32_t nsectors)
{
    return rw(a, lba, (uint8_t *)(uintptr_t)buf, nsectors, 1);
}

int ata_flush(ata_dev_t *a)
{
    issue(a, a->lba48 ? CMD_FLUSH_CACHE_EXT : CMD_FLUSH_CACHE, 0, 0, 0);
    delay400(a);
    return failed(a, wait_device(a)) ? -1 : 0;
}
