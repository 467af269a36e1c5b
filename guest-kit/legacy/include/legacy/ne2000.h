/*
 * legacy kit: NE2000 driver (a DP8390 NIC behind the NE2000's remote-DMA data port), written from
 * the National DP8390D datasheet and the NE2000 board conventions.
 *
 * What: ne_init resets the card through its reset port, reads the station address from the PROM
 * by remote DMA (word mode: each PROM byte appears twice), and sets up the 16 KiB packet RAM as
 * a 6-page transmit buffer at page 0x40 and the receive ring PSTART = 0x46 .. PSTOP = 0x80; it
 * accepts frames to its address and broadcasts. ne_send copies the frame into the transmit
 * buffer by remote DMA write (`rep outsw`, then waits for RDC) and starts it with TXP; it waits
 * for the previous transmission's PTX/TXE first. ne_recv reads the next frame of the ring by
 * remote DMA read: the 4-byte header (status, next page, byte count with the FCS), then the
 * frame, and moves BNRY behind it.
 *
 * Ring convention: BNRY is the last page the driver has consumed, so the next frame starts at
 * BNRY + 1 (wrapping at PSTOP) and the ring is empty when that equals CURR; the NIC never writes
 * into the page at BNRY. A header that makes no sense (next page outside the ring, a length
 * above 1518 or below 64) means the ring is corrupt: the driver restarts the NIC (counted in
 * `resets`).
 *
 * Interrupts: with an IRQ, IMR enables the receive events only (PRX, RXE, OVW, CNT): the handler
 * acknowledges them and sets `rx_ready`; transmit completion (PTX/TXE) is polled by ne_send; the driver's register sequences run with interrupts off (irq_save), so the handler
 * always finds register page 0 and no remote DMA in flight.
 */
#ifndef LEGACY_NE2000_H
#define LEGACY_NE2000_H

#include <stdint.h>

#define NE2000_BASE 0x300u
/** The spec's IRQ for the NE2000 (legacyPlatform). */
#define NE2000_IRQ 10u
/** Largest frame without the FCS. */
#define NE_MAX_FRAME 1514u
/** Ethernet minimum without the FCS (ne_send pads shorter frames with zeros). */
#define NE_MIN_FRAME 60u

typedef struct ne_dev {
    uint16_t base;
    int32_t irq;             /* -1: polled */
    uint8_t mac[6];
    uint8_t next;            /* page of the next frame to read */
    volatile uint32_t rx_ready;
    volatile uint32_t isr_seen; /* ISR bits the handler acknowledged (accumulated) */
    uint32_t tx_busy;
    uint32_t rx_frames, tx_frames, rx_errors, resets, overflows;
} ne_dev_t;

/** @return 0, or -1 when no NE2000 answers at `base` (`irq` < 0: polled). */
int ne_init(ne_dev_t *ne, uint16_t base, int32_t irq);
/** Sends one frame of 14..1514 bytes. @return 0 or -1. */
int ne_send(ne_dev_t *ne, const void *frame, uint32_t len);
/** Receives one frame into `buf` (at least 1514 bytes). @return its length, 0 when none, -1 on a ring reset. */
int ne_recv(ne_dev_t *ne, void *buf, uint32_t cap);
/** 1 when a frame waits in the ring. */
int ne_rx_pending(ne_dev_t *ne);

#endif /* LEGACY_NE2000_H */
