/*
 * legacy kit: NE2000 / DP8390 driver (ne2000.h). Register map and command bits from the National
 * DP8390D datasheet; the PROM, data port (base + 0x10) and reset port (base + 0x1F) are the
 * NE2000 board's.
 */
#include <legacy/cpu.h>
#include <legacy/io.h>
#include <legacy/klib.h>
#include <legacy/ne2000.h>

/* Page 0 registers (offsets from the base). */
#define CR 0x00
#define PSTART 0x01
#define PSTOP 0x02
#define BNRY 0x03
#define TPSR 0x04 /* write */
#define TSR 0x04  /* read */
#define TBCR0 0x05
#define TBCR1 0x06
#define ISR 0x07
#define RSAR0 0x08
#define RSAR1 0x09
#define RBCR0 0x0A
#define RBCR1 0x0B
#define RCR 0x0C
#define TCR 0x0D
#define DCR 0x0E
#define IMR 0x0F
/* Page 1. */
#define PAR0 0x01
#define CURR 0x07
#define MAR0 0x08
/* Board. */
#define DATA 0x10
#define RESET 0x1F

/* CR bits. */
#define CR_STP 0x01u
#define CR_STA 0x02u
#define CR_TXP 0x04u
#define CR_RD_READ 0x08u
#define CR_RD_WRITE 0x10u
#define CR_RD_ABORT 0x20u
#define CR_PAGE0 0x00u
#define CR_PAGE1 0x40u

/* ISR / IMR bits. */
#define ISR_PRX 0x01u
#define ISR_PTX 0x02u
#define ISR_RXE 0x04u
#define ISR_TXE 0x08u
#define ISR_OVW 0x10u
#define ISR_CNT 0x20u
#define ISR_RDC 0x40u
#define ISR_RST 0x80u

#define DCR_WTS 0x01u /* word-wide DMA */
#define DCR_LS 0x08u  /* normal operation (not loopback) */
#define DCR_FT1 0x40u /* FIFO threshold 8 bytes */
#define RCR_AB 0x04u  /* accept broadcast */
#define RCR_MON 0x20u
#define TCR_LOOPBACK 0x02u /* internal loopback: used while initialising */
#define RSR_PRX 0x01u

/* Packet RAM layout (pages of 256 bytes): 0x40-0x45 transmit buffer, 0x46-0x7F receive ring. */
#define TX_PAGE 0x40u
#define RX_START 0x46u
#define RX_STOP 0x80u

#define LOOP_LIMIT 1000000u

static void wr(ne_dev_t *ne, uint16_t reg, uint8_t v) { outb((uint16_t)(ne->base + reg), v); }
static uint8_t rd(ne_dev_t *ne, uint16_t reg) { return inb((uint16_t)(ne->base + reg)); }

/* Remote DMA setup: byte count and start address, then the read or write command. */
static void dma_start(ne_dev_t *ne, uint16_t addr, uint16_t count, uint8_t cmd)
{
    wr(ne, RBCR0, (uint8_t)count);
    wr(ne, RBCR1, (uint8_t)(count >> 8));
    wr(ne, RSAR0, (uint8_t)addr);
    wr(ne, RSAR1, (uint8_t)(addr >> 8));
    wr(ne, CR, cmd | CR_STA | CR_PAGE0);
}

/* Waits for Remote DMA Complete and acknowledges it. @return 0, or -1 when it never comes. */
static int dma_wait(ne_dev_t *ne)
{
    for (uint32_t i = 0; i < LOOP_LIMIT; i++) {
        if (rd(ne, ISR) & ISR_RDC) {
            wr(ne, ISR, ISR_RDC);
            return 0;
        }
    }
    return -1;
}

/* Reads `len` bytes of card memory at `addr` (remote DMA read, word mode). */
static int dma_read(ne_dev_t *ne, uint16_t addr, uint8_t *dst, uint32_t len)
{
    uint32_t even = (len + 1) & ~1u;
    dma_start(ne, addr, (uint16_t)even, CR_RD_READ);
    insw((uint16_t)(ne->base + DATA), dst, len / 2);
    if (len & 1) {
        uint16_t w = inw((uint16_t)(ne->base + DATA));
        dst[len - 1] = (uint8_t)w;
    }
    return dma_wait(ne);
}

static void on_irq(uint32_t irq, void *ctx);

/* Reset, PROM, ring setup; leaves the NIC started. */
static int setup(ne_dev_t *ne)
{
    /* Board reset: a read (or write) of the reset port; the NIC then reports ISR.RST. */
    uint8_t v = rd(ne, RESET);
    wr(ne, RESET, v);
    uint32_t i;
    for (i = 0; i < LOOP_LIMIT; i++)
        if (rd(ne, ISR) & ISR_RST)
            break;
    if (i == LOOP_LIMIT)
        return -1;
    wr(ne, ISR, 0xFF);
    /* DP8390D initialisation sequence (§ "Initialization Procedure"). */
    wr(ne, CR, CR_PAGE0 | CR_RD_ABORT | CR_STP);
    wr(ne, DCR, DCR_FT1 | DCR_LS | DCR_WTS);
    wr(ne, RBCR0, 0);
    wr(ne, RBCR1, 0);
    wr(ne, RCR, RCR_MON);
    wr(ne, TCR, TCR_LOOPBACK);
    wr(ne, PSTART, RX_START);
    wr(ne, PSTOP, RX_STOP);
    wr(ne, BNRY, RX_START);
    wr(ne, ISR, 0xFF);
    wr(ne, IMR, 0);
    /* Station address from the PROM: 16 words, each PROM byte doubled. Remote DMA needs STA. */
    uint8_t prom[32];
    wr(ne, CR, CR_PAGE0 | CR_RD_ABORT | CR_STA);
    if (dma_read(ne, 0, prom, 32) != 0)
        return -1;
    wr(ne, CR, CR_PAGE0 | CR_RD_ABORT | CR_STP);
    if (prom[28] != 0x57 || prom[30] != 0x57)
        return -1; /* no NE2000 signature ('W' in bytes 14-15) */
    for (int k = 0; k < 6; k++)
        ne->mac[k] = prom[2 * k];
    /* Page 1: physical address, multicast filter (none), CURR. */
    wr(ne, CR, CR_PAGE1 | CR_RD_ABORT | CR_STP);
    for (int k = 0; k < 6; k++)
        wr(ne, (uint16_t)(PAR0 + k), ne->mac[k]);
    for (int k = 0; k < 8; k++)
        wr(ne, (uint16_t)(MAR0 + k), 0);
    /* BNRY = PSTART is "consumed"; the first frame goes to PSTART + 1. */
    wr(ne, CURR, RX_START + 1);
    ne->next = RX_START + 1;
    wr(ne, CR, CR_PAGE0 | CR_RD_ABORT | CR_STA);
    wr(ne, ISR, 0xFF);
    /* Receive events interrupt; transmit completion is polled (one transmit buffer: ne_send
     * waits for TXP to clear before reusing it), which saves an interrupt per frame sent. */
    wr(ne, IMR, ne->irq >= 0 ? (uint8_t)(ISR_PRX | ISR_RXE | ISR_OVW | ISR_CNT) : 0);
    wr(ne, TCR, 0);      /* normal transmit */
    wr(ne, RCR, RCR_AB); /* our address and broadcasts */
    ne->tx_busy = 0;
    ne->rx_ready = 0;
    return 0;
}

int ne_init(ne_dev_t *ne, uint16_t base, int32_t irq)
{
    memset(ne, 0, sizeof *ne);
    ne->base = base;
    ne->irq = irq;
    /* Nothing decodes the port: an empty bus reads all ones. */
    if (rd(ne, CR) == 0xFF)
        return -1;
    if (irq >= 0)
        irq_register((uint32_t)irq, on_irq, ne);
    uint32_t f = irq_save();
    int r = setup(ne);
    irq_restore(f);
    if (r != 0 && irq >= 0)
        irq_unregister((uint32_t)irq);
    return r;
}

static void on_irq(uint32_t irq, void *ctx)
{
    (void)irq;
    ne_dev_t *ne = ctx;
    /*
     * INT follows ISR & IMR as a level; the PIC latches edges, so acknowledge every enabled
     * source until none is left, or the line would stay high and never interrupt again.
     */
    for (int i = 0; i < 8; i++) {
        uint8_t isr = rd(ne, ISR) & (ISR_PRX | ISR_RXE | ISR_OVW | ISR_CNT);
        if (isr == 0)
            break;
        wr(ne, ISR, isr);
        ne->isr_seen |= isr;
        if (isr & (ISR_PRX | ISR_OVW))
            ne->rx_ready = 1;
        if (isr & ISR_OVW)
            ne->overflows++;
        if (isr & ISR_CNT) {
            (void)rd(ne, 0x0D); /* tally counters clear on read */
            (void)rd(ne, 0x0E);
            (void)rd(ne, 0x0F);
        }
    }
}

/* Waits until the previous transmission has ended (TXP clear), acknowledging PTX/TXE. */
static int tx_wait(ne_dev_t *ne)
{
    if (!ne->tx_busy)
        return 0;
    for (uint32_t i = 0; i < LOOP_LIMIT; i++) {
        if ((rd(ne, CR) & CR_TXP) == 0) {
            wr(ne, ISR, ISR_PTX | ISR_TXE);
            ne->tx_busy = 0;
            return 0;
        }
    }
    return -1;
}

int ne_send(ne_dev_t *ne, const void *frame, uint32_t len)
{
    if (len < 14 || len > NE_MAX_FRAME)
        return -1;
    uint32_t f = irq_save();
    int r = -1;
    if (tx_wait(ne) != 0)
        goto out;
    /* Remote DMA write into the transmit buffer (word mode: an even byte count). */
    uint32_t even = (len + 1) & ~1u;
    dma_start(ne, (uint16_t)(TX_PAGE << 8), (uint16_t)even, CR_RD_WRITE);
    const uint8_t *p = frame;
    outsw((uint16_t)(ne->base + DATA), p, len / 2);
    if (len & 1)
        outw((uint16_t)(ne->base + DATA), p[len - 1]);
    if (dma_wait(ne) != 0)
        goto out;
    /* Shorter than the Ethernet minimum: the NIC sends TBCR bytes, so pad with the buffer's
     * zeros... which are not zeros after an earlier frame: write the padding explicitly. */
    uint32_t tx_len = len;
    if (len < NE_MIN_FRAME) {
        static const uint16_t zeros[NE_MIN_FRAME / 2];
        uint32_t pad = (NE_MIN_FRAME - even) / 2;
        if (pad > 0) {
            dma_start(ne, (uint16_t)((TX_PAGE << 8) + even), (uint16_t)(pad * 2), CR_RD_WRITE);
            outsw((uint16_t)(ne->base + DATA), zeros, pad);
            if (dma_wait(ne) != 0)
                goto out;
        }
        tx_len = NE_MIN_FRAME;
    }
    wr(ne, TPSR, TX_PAGE);
    wr(ne, TBCR0, (uint8_t)tx_len);
    wr(ne, TBCR1, (uint8_t)(tx_len >> 8));
    wr(ne, CR, CR_PAGE0 | CR_RD_ABORT | CR_STA | CR_TXP);
    ne->tx_busy = 1;
    ne->tx_frames++;
    r = 0;
out:
    irq_restore(f);
    return r;
}

/* CURR lives in page 1. */
static uint8_t read_curr(ne_dev_t *ne)
{
    wr(ne, CR, CR_PAGE1 | CR_RD_ABORT | CR_STA);
    uint8_t c = rd(ne, CURR);
    wr(ne, CR, CR_PAGE0 | CR_RD_ABORT | CR_STA);
    return c;
}

int ne_rx_pending(ne_dev_t *ne)
{
    uint32_t f = irq_save();
    int r = read_curr(ne) != ne->next;
    irq_restore(f);
    return r;
}

int ne_recv(ne_dev_t *ne, void *buf, uint32_t cap)
{
    uint32_t f = irq_save();
    int r = 0;
    ne->rx_ready = 0;
    if (read_curr(ne) == ne->next)
        goto out;
    uint8_t hdr[4];
    if (dma_read(ne, (uint16_t)(ne->next << 8), hdr, 4) != 0)
        goto reset;
    uint32_t count = (uint32_t)hdr[2] | (uint32_t)hdr[3] << 8; /* frame + FCS */
    uint8_t nxt = hdr[1];
    if ((hdr[0] & RSR_PRX) == 0 || nxt < RX_START || nxt >= RX_STOP || count < 64 || count > NE_MAX_FRAME + 4)
        goto reset;
    uint32_t len = count - 4;
    if (len > cap)
        len = cap;
    /* Remote DMA wraps from PSTOP to PSTART like the ring itself. */
    uint16_t addr = (uint16_t)((ne->next << 8) + 4);
    if (dma_read(ne, addr, buf, len) != 0)
        goto reset;
    ne->next = nxt;
    /* BNRY trails the next frame by one page: the NIC may fill up to, not into, BNRY. */
    wr(ne, BNRY, (uint8_t)(nxt == RX_START ? RX_STOP - 1 : nxt - 1));
    ne->rx_frames++;
    r = (int)len;
    goto out;
reset:
    /* The ring makes no sense: restart the NIC (what the datasheet's overflow recovery does). */
    ne->rx_errors++;
    ne->resets++;
    setup(ne);
    r = -1;
out:
    irq_restore(f);
    return r;
}
