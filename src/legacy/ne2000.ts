/**
 * NE2000-class Ethernet adapter: a National DP8390 network interface controller behind the
 * NE2000's remote-DMA data port, at a configurable I/O base (default 0x300, 32 ports) and IRQ.
 * Plugged into the same {@link VirtualSwitch} as virtio-net (it is a {@link SwitchEndpoint}).
 *
 * PORTS (offset from the base): 0x00–0x0F DP8390 registers (three pages selected by CR PS1–PS0),
 * 0x10–0x17 data port (remote DMA; 8- or 16-bit per DCR WTS), 0x18–0x1F reset port (a read or a
 * write resets the card).
 *
 * BUFFER MEMORY (NE2000 map, reached only through remote DMA): 0x0000–0x001F station address
 * PROM (each of its 16 bytes appears twice; bytes 14–15 are 0x57 'W', the NE2000 signature),
 * 0x4000–0x7FFF 16 KiB of packet RAM. Other addresses read 0xFF and ignore writes.
 *
 * EMULATED (DP8390D datasheet): CR (STP/STA, TXP, remote DMA commands read/write/send packet/
 * abort, page select); page 0 CLDA/BNRY/TSR/NCR/FIFO/ISR/CRDA/RSR/tally counters (read) and
 * PSTART/PSTOP/BNRY/TPSR/TBCR/ISR/RSAR/RBCR/RCR/TCR/DCR/IMR (write); page 1 PAR0–5, CURR,
 * MAR0–7; page 2 read-back of PSTART/PSTOP/RNPP/TPSR/LNPP/RCR/TCR/DCR/IMR. The receive ring
 * between PSTART and PSTOP with the 4-byte header (status, next page, byte count incl. the FCS),
 * frames wrapping from PSTOP to PSTART, the FCS stored after the data, the boundary rule (the
 * NIC never writes into the page at BNRY) and overflow (OVW, missed-packet tally CNTR2, RST).
 * Address filtering per RCR: physical match on PAR, broadcast (AB), multicast through the MAR
 * hash (AM: top 6 bits of the CRC-32 of the destination), promiscuous (PRO), monitor (MON:
 * checked and counted, not stored). Remote DMA reads and writes wrap from PSTOP to PSTART as the
 * ring does; RDC when the byte count reaches zero. Transmit of TBCR bytes from page TPSR with
 * PTX/TSR; TCR loopback (LB ≠ 0) sends the frame to our own receiver instead of the wire.
 * ISR bits PRX, PTX, RXE, TXE, OVW, CNT, RDC, RST with IMR; INT = ISR & IMR (bits 0–6).
 *
 * NOT EMULATED: the wire (no collisions, CRC/alignment errors, deferrals: those tallies stay 0),
 * the FIFO register's contents (reads 0), local DMA timing, the lock-up after an overflow — the
 * receiver simply resumes once BNRY frees room, so a driver's overflow recovery sequence works
 * but is not required. A frame shorter than the 60-byte Ethernet minimum (a PV peer does not
 * pad) is received padded with zeros, as the sending MAC would have put it on the wire; frames
 * longer than 1514 bytes are dropped (counted in {@link Ne2000Stats.rxOversize}).
 *
 * RECEIVE PATH. {@link Ne2000.receive} copies the frame (the switch lends it only for the call)
 * into a bounded queue; {@link Ne2000.flush}, at the end of the switch's batch, moves the queued
 * frames into the ring — one interrupt per batch.
 * @module
 */
import type { SwitchEndpoint, SwitchPort } from '../virtio/switch.ts';
import type { IrqLine } from './irq.ts';
import type { AccessSize, PortBus, PortDevice, PortMapping } from './port-bus.ts';

/** Default I/O base. */
export const NE2000_BASE = 0x300;
/** Default IRQ (spec `legacyPlatform`: IRQ 10). */
export const NE2000_IRQ = 10;
/** Ports decoded by the card. */
export const NE2000_PORTS = 0x20;

/** Command register (all pages). */
export const NE_CR = 0x00;
/** Remote DMA data port. */
export const NE_DATA = 0x10;
/** Reset port. */
export const NE_RESET = 0x1f;

/** CR STP: stop. */
export const CR_STP = 0x01;
/** CR STA: start. */
export const CR_STA = 0x02;
/** CR TXP: transmit packet. */
export const CR_TXP = 0x04;
/** CR RD = 001: remote read. */
export const CR_RD_READ = 0x08;
/** CR RD = 010: remote write. */
export const CR_RD_WRITE = 0x10;
/** CR RD = 011: send packet. */
export const CR_RD_SEND = 0x18;
/** CR RD = 1xx: abort/complete remote DMA. */
export const CR_RD_ABORT = 0x20;
/** CR PS1–PS0: register page select. */
export const CR_PS_MASK = 0xc0;

/** ISR PRX: packet received. */
export const ISR_PRX = 0x01;
/** ISR PTX: packet transmitted. */
export const ISR_PTX = 0x02;
/** ISR RXE: receive error. */
export const ISR_RXE = 0x04;
/** ISR TXE: transmit error. */
export const ISR_TXE = 0x08;
/** ISR OVW: receive buffer overwrite warning (ring full). */
export const ISR_OVW = 0x10;
/** ISR CNT: a tally counter reached its MSB. */
export const ISR_CNT = 0x20;
/** ISR RDC: remote DMA complete. */
export const ISR_RDC = 0x40;
/** ISR RST: the NIC is in reset (or stopped after an overflow); not an interrupt source. */
export const ISR_RST = 0x80;

/** RCR SEP: save errored packets. */
export const RCR_SEP = 0x01;
/** RCR AR: accept runt packets. */
export const RCR_AR = 0x02;
/** RCR AB: accept broadcast. */
export const RCR_AB = 0x04;
/** RCR AM: accept multicast through the MAR hash. */
export const RCR_AM = 0x08;
/** RCR PRO: promiscuous physical. */
export const RCR_PRO = 0x10;
/** RCR MON: monitor mode (check, count, do not buffer). */
export const RCR_MON = 0x20;

/** RSR PRX: packet received intact. */
export const RSR_PRX = 0x01;
/** RSR MPA: missed packet. */
export const RSR_MPA = 0x10;
/** RSR PHY: the destination was a multicast or broadcast address. */
export const RSR_PHY = 0x20;
/** RSR DIS: receiver disabled (monitor mode). */
export const RSR_DIS = 0x40;

/** TSR bit: packet transmitted. */
export const TSR_PTX = 0x01;

/** DCR bit: word-wide remote DMA. */
export const DCR_WTS = 0x01;

/** Packet RAM window. */
export const RAM_START = 0x4000;
/** End of packet RAM (exclusive). */
export const RAM_END = 0x8000;

/** Largest frame accepted from the wire (no FCS). */
export const MAX_FRAME = 1514;
/** Ethernet minimum without FCS. */
export const MIN_FRAME = 60;
/** Frames waiting between {@link Ne2000.receive} and {@link Ne2000.flush}. */
export const RX_QUEUE = 64;

/** Options of {@link Ne2000}. */
export interface Ne2000Options {
  /** Station address (written to the PROM; the driver copies it into PAR0–5). */
  mac: Uint8Array;
  /** The interrupt line (IRQ 10 by default wiring). */
  irq: IrqLine;
  /** I/O base (default 0x300). */
  base?: number;
}

/** Counters (accounting and tests). */
export interface Ne2000Stats {
  /** Frames stored in the ring. */
  rxFrames: number;
  /** Frames lost because the ring was full (also in CNTR2). */
  rxOverflow: number;
  /** Frames refused by the address filter. */
  rxFiltered: number;
  /** Frames dropped because they were longer than 1514 bytes. */
  rxOversize: number;
  /** Frames dropped because the receive queue was full or the NIC stopped. */
  rxDropped: number;
  /** Frames transmitted (to the switch or looped back). */
  txFrames: number;
}

/** The NE2000 card. */
export class Ne2000 implements PortDevice, SwitchEndpoint {
  /** I/O base. */
  readonly base: number;
  /** Counters. */
  readonly stats: Ne2000Stats = { rxFrames: 0, rxOverflow: 0, rxFiltered: 0, rxOversize: 0, rxDropped: 0, txFrames: 0 };
  /** The 32-byte PROM as seen through remote DMA. */
  readonly prom = new Uint8Array(32);
  /** Packet RAM (offset 0 = NIC address 0x4000). */
  readonly ram = new Uint8Array(RAM_END - RAM_START);

  private readonly irq: IrqLine;
  private port: SwitchPort | undefined;
  private readonly rxQueue: Uint8Array[] = [];

  // DP8390 registers.
  private cr = CR_STP | CR_RD_ABORT;
  private isr = ISR_RST;
  private imr = 0;
  private pstart = 0;
  private pstop = 0;
  private bnry = 0;
  private curr = 0;
  private tpsr = 0;
  private tbcr = 0;
  private rsar = 0;
  private rbcr = 0;
  private rcr = 0;
  private tcr = 0;
  private dcr = 0;
  private tsr = 0;
  private rsr = 0;
  private ncr = 0;
  private readonly par = new Uint8Array(6);
  private readonly mar = new Uint8Array(8);
  private cntr = [0, 0, 0];
  private lastRxPage = 0; // LNPP diagnostics

  /** A card with station address `opts.mac`. */
  constructor(opts: Ne2000Options) {
    this.base = opts.base ?? NE2000_BASE;
    this.irq = opts.irq;
    for (let i = 0; i < 6; i++) {
      const b = opts.mac[i] ?? 0;
      this.prom[2 * i] = b;
      this.prom[2 * i + 1] = b;
    }
    // NE2000 signature: PROM bytes 14 and 15 are 0x57 ('W'); doubled like the rest.
    this.prom.fill(0x57, 28, 32);
  }

  /** Registers the 32 ports; the data port decodes 8- and 16-bit accesses. */
  register(bus: PortBus): PortMapping[] {
    return [
      bus.register({ name: 'ne2000', base: this.base, length: 0x10, device: this }),
      bus.register({ name: 'ne2000-data', base: this.base + 0x10, length: 8, device: this, sizes: [1, 2] }),
      bus.register({ name: 'ne2000-reset', base: this.base + 0x18, length: 8, device: this }),
    ];
  }

  /** Attaches the card to a switch port (where transmitted frames go). */
  connect(port: SwitchPort): void {
    this.port = port;
  }

  // -- SwitchEndpoint ------------------------------------------------------------------------

  /** See {@link SwitchEndpoint.receive}: copies the borrowed frame into the queue. */
  receive(frame: Uint8Array): boolean {
    if (this.rxQueue.length >= RX_QUEUE || (this.cr & CR_STP) !== 0) {
      this.stats.rxDropped++;
      return false;
    }
    this.rxQueue.push(frame.slice());
    return true;
  }

  /** See {@link SwitchEndpoint.flush}: stores the queued frames in the ring, then interrupts. */
  flush(): void {
    for (let f = this.rxQueue.shift(); f !== undefined; f = this.rxQueue.shift()) this.store(f);
    this.updateIrq();
  }

  // -- port I/O ------------------------------------------------------------------------------

  /** See {@link PortDevice.read}. */
  read(port: number, size: AccessSize): number {
    const off = port - this.base;
    if (off >= 0x10 && off < 0x18) return this.dmaRead(size === 1 || (this.dcr & DCR_WTS) === 0 ? 1 : 2);
    if (off >= 0x18) {
      this.reset();
      return 0xff;
    }
    const v = this.readReg(off);
    this.updateIrq();
    return v;
  }

  /** See {@link PortDevice.write}. */
  write(port: number, size: AccessSize, v: number): void {
    const off = port - this.base;
    if (off >= 0x10 && off < 0x18) {
      this.dmaWrite(size === 1 || (this.dcr & DCR_WTS) === 0 ? 1 : 2, v);
      return;
    }
    if (off >= 0x18) {
      this.reset();
      return;
    }
    this.writeReg(off, v & 0xff);
    this.updateIrq();
  }

  /** Hardware reset through the reset port: NIC stopped, remote DMA aborted, ISR = RST. */
  reset(): void {
    this.cr = CR_STP | CR_RD_ABORT;
    this.isr = ISR_RST;
    this.imr = 0;
    this.dcr = 0;
    this.rcr = 0;
    this.tcr = 0;
    this.rbcr = 0;
    this.rxQueue.length = 0;
    this.updateIrq();
  }

  private updateIrq(): void {
    this.irq.set((this.isr & this.imr & 0x7f) !== 0);
  }

  private readReg(off: number): number {
    if (off === NE_CR) return this.cr;
    const page = this.cr >> 6;
    if (page === 0) {
      switch (off) {
        case 0x01:
          return this.lastRxPage & 0xff; // CLDA0 (local DMA address, low)
        case 0x02:
          return this.lastRxPage >> 8;
        case 0x03:
          return this.bnry;
        case 0x04:
          return this.tsr;
        case 0x05:
          return this.ncr;
        case 0x06:
          return 0; // FIFO
        case 0x07:
          return this.isr;
        case 0x08:
          return this.rsar & 0xff; // CRDA0: current remote DMA address
        case 0x09:
          return this.rsar >> 8;
        case 0x0c:
          return this.rsr;
        case 0x0d:
        case 0x0e:
        case 0x0f: {
          // Tally counters "are cleared when read".
          const i = off - 0x0d;
          const v = this.cntr[i]!;
          this.cntr[i] = 0;
          this.updateCnt();
          return v;
        }
        default:
          return 0xff;
      }
    }
    if (page === 1) {
      if (off <= 0x06) return this.par[off - 1]!;
      if (off === 0x07) return this.curr;
      return this.mar[off - 0x08]!;
    }
    if (page === 2) {
      switch (off) {
        case 0x01:
          return this.pstart;
        case 0x02:
          return this.pstop;
        case 0x03:
          return this.bnry; // remote next packet pointer: the driver reads from BNRY on
        case 0x04:
          return this.tpsr;
        case 0x05:
          return this.curr; // local next packet pointer
        case 0x06:
          return this.rsar >> 8;
        case 0x07:
          return this.rsar & 0xff;
        case 0x0c:
          return this.rcr | 0xc0;
        case 0x0d:
          return this.tcr | 0xe0;
        case 0x0e:
          return this.dcr | 0x80;
        case 0x0f:
          return this.imr | 0x80;
        default:
          return 0xff;
      }
    }
    return 0; // page 3: not a DP8390 page
  }

  private writeReg(off: number, v: number): void {
    if (off === NE_CR) {
      this.writeCr(v);
      return;
    }
    const page = this.cr >> 6;
    if (page === 0) {
      switch (off) {
        case 0x01:
          this.pstart = v;
          return;
        case 0x02:
          this.pstop = v;
          return;
        case 0x03:
          this.bnry = v;
          // Room freed: the "RST … cleared when one or more packets have been removed".
          if (this.isr & ISR_OVW && (this.cr & CR_STP) === 0) this.isr &= ~ISR_RST;
          return;
        case 0x04:
          this.tpsr = v;
          return;
        case 0x05:
          this.tbcr = (this.tbcr & 0xff00) | v;
          return;
        case 0x06:
          this.tbcr = (this.tbcr & 0xff) | (v << 8);
          return;
        case 0x07:
          // Writing 1 clears the bit; RST is not writable.
          this.isr &= ~(v & 0x7f);
          return;
        case 0x08:
          this.rsar = (this.rsar & 0xff00) | v;
          return;
        case 0x09:
          this.rsar = (this.rsar & 0xff) | (v << 8);
          return;
        case 0x0a:
          this.rbcr = (this.rbcr & 0xff00) | v;
          return;
        case 0x0b:
          this.rbcr = (this.rbcr & 0xff) | (v << 8);
          return;
        case 0x0c:
          this.rcr = v & 0x3f;
          return;
        case 0x0d:
          this.tcr = v & 0x1f;
          return;
        case 0x0e:
          this.dcr = v & 0x7f;
          return;
        case 0x0f:
          this.imr = v & 0x7f;
          return;
        default:
          return;
      }
    }
    if (page === 1) {
      if (off <= 0x06) this.par[off - 1] = v;
      else if (off === 0x07) this.curr = v;
      else this.mar[off - 0x08] = v;
    }
    // Page 2 is for diagnostics (read back); page 3 is not a DP8390 page: writes ignored.
  }

  private writeCr(v: number): void {
    // RD2–RD0: 1xx abort/complete remote DMA.
    let rd = v & 0x38;
    if (rd & CR_RD_ABORT) rd = CR_RD_ABORT;
    if (v & CR_STP) {
      // Stop: "the NIC enters reset … ISR RST set".
      this.cr = (v & (CR_PS_MASK | 0x38)) | CR_STP;
      this.isr |= ISR_RST;
    } else if (v & CR_STA) {
      this.cr = (v & (CR_PS_MASK | 0x38 | CR_TXP)) | CR_STA;
      this.isr &= ~ISR_RST; // "cleared when a Start Command is issued"
    } else {
      this.cr = (this.cr & (CR_STP | CR_STA)) | (v & (CR_PS_MASK | 0x38 | CR_TXP));
    }
    this.cr = (this.cr & ~0x38) | rd;
    if (rd === CR_RD_SEND) {
      // Send Packet: remote read of the packet at BNRY, length from its header.
      this.rsar = this.bnry << 8;
      const h = this.ramIndex(this.rsar);
      this.rbcr = h === undefined ? 0 : this.ram[h + 2]! | (this.ram[h + 3]! << 8);
      this.cr = (this.cr & ~0x38) | CR_RD_READ;
    }
    if (this.cr & CR_TXP && (this.cr & CR_STP) === 0) this.transmit();
  }

  private ramIndex(addr: number): number | undefined {
    return addr >= RAM_START && addr < RAM_END ? addr - RAM_START : undefined;
  }

  // -- remote DMA ----------------------------------------------------------------------------

  private memRead(addr: number): number {
    if (addr < 0x20) return this.prom[addr]!;
    const i = this.ramIndex(addr);
    return i === undefined ? 0xff : this.ram[i]!;
  }

  /** Advances RSAR by one byte, wrapping from PSTOP to PSTART like the ring. */
  private advance(): void {
    this.rsar = (this.rsar + 1) & 0xffff;
    if (this.pstop !== 0 && this.rsar === this.pstop << 8) this.rsar = this.pstart << 8;
    if (this.rbcr > 0) {
      this.rbcr--;
      if (this.rbcr === 0) {
        this.isr |= ISR_RDC; // remote DMA complete
        this.cr = (this.cr & ~0x38) | CR_RD_ABORT;
      }
    }
  }

  private dmaRead(bytes: 1 | 2): number {
    if ((this.cr & 0x38) !== CR_RD_READ) return bytes === 1 ? 0xff : 0xffff;
    let v = 0;
    for (let i = 0; i < bytes; i++) {
      v |= this.memRead(this.rsar) << (8 * i);
      this.advance();
    }
    this.updateIrq();
    return v;
  }

  private dmaWrite(bytes: 1 | 2, v: number): void {
    if ((this.cr & 0x38) !== CR_RD_WRITE) return;
    for (let i = 0; i < bytes; i++) {
      const idx = this.ramIndex(this.rsar);
      if (idx !== undefined) this.ram[idx] = (v >> (8 * i)) & 0xff;
      this.advance();
    }
    this.updateIrq();
  }

  // -- transmit ------------------------------------------------------------------------------

  private transmit(): void {
    const start = this.tpsr << 8;
    const len = this.tbcr;
    this.cr &= ~CR_TXP;
    const i = this.ramIndex(start);
    if (i === undefined || len === 0 || i + len > this.ram.length) {
      // Nothing sensible to send: transmit error (aborted).
      this.tsr = 0x08; // ABT
      this.isr |= ISR_TXE;
      return;
    }
    const frame = this.ram.slice(i, i + len); // the guest may reuse the buffer at once
    this.tsr = TSR_PTX;
    this.isr |= ISR_PTX;
    this.stats.txFrames++;
    if ((this.tcr & 0x06) !== 0) {
      // Loopback (TCR LB1–LB0 ≠ 0): the frame comes back to our own receiver.
      this.store(frame);
    } else {
      this.port?.send(frame);
    }
  }

  // -- receive -------------------------------------------------------------------------------

  private updateCnt(): void {
    // CNT: "set when MSB of one or more of the Network Tally Counters has been set".
    if (this.cntr.some((c) => c & 0x80)) this.isr |= ISR_CNT;
  }

  private accepts(f: Uint8Array): { ok: boolean; group: boolean } {
    const group = (f[0]! & 1) !== 0;
    if (this.rcr & RCR_PRO) return { ok: true, group };
    if (!group) {
      for (let i = 0; i < 6; i++) if (f[i] !== this.par[i]) return { ok: false, group };
      return { ok: true, group };
    }
    let bcast = true;
    for (let i = 0; i < 6; i++) if (f[i] !== 0xff) bcast = false;
    if (bcast) return { ok: (this.rcr & RCR_AB) !== 0, group };
    if ((this.rcr & RCR_AM) === 0) return { ok: false, group };
    const h = multicastHash(f);
    return { ok: ((this.mar[h >> 3]! >> (h & 7)) & 1) !== 0, group };
  }

  /** Stores one frame (no FCS) into the ring if the NIC is started and the filter accepts it. */
  private store(frame: Uint8Array): void {
    if (this.cr & CR_STP) {
      this.stats.rxDropped++;
      return;
    }
    if (frame.length > MAX_FRAME) {
      this.stats.rxOversize++;
      return;
    }
    const { ok, group } = this.accepts(frame);
    if (!ok) {
      this.stats.rxFiltered++;
      return;
    }
    if (this.rcr & RCR_MON) {
      // Monitor mode: "packets are checked … but not buffered to memory"; counted as missed.
      this.rsr = RSR_DIS | RSR_MPA | (group ? RSR_PHY : 0);
      this.cntr[2] = Math.min(0xff, this.cntr[2]! + 1);
      this.updateCnt();
      return;
    }
    const dataLen = Math.max(frame.length, MIN_FRAME) + 4; // + FCS
    const total = dataLen + 4; // + header
    const pages = Math.ceil(total / 256);
    const ring = this.pstop - this.pstart;
    if (ring <= 0 || this.curr < this.pstart || this.curr >= this.pstop || this.pstart << 8 < RAM_START || this.pstop << 8 > RAM_END) {
      // A ring the driver has not set up: nowhere to put the frame.
      this.stats.rxDropped++;
      return;
    }
    // Pages free before the NIC would write into the page at BNRY.
    const free = (((this.bnry - this.curr) % ring) + ring) % ring;
    if (pages > free) {
      this.isr |= ISR_OVW | ISR_RST;
      this.rsr = RSR_MPA;
      this.cntr[2] = Math.min(0xff, this.cntr[2]! + 1);
      this.updateCnt();
      this.stats.rxOverflow++;
      return;
    }
    let next = this.curr + pages;
    if (next >= this.pstop) next -= ring;
    this.rsr = RSR_PRX | (group ? RSR_PHY : 0);
    const hdr = new Uint8Array(4);
    hdr[0] = this.rsr;
    hdr[1] = next;
    hdr[2] = dataLen & 0xff;
    hdr[3] = dataLen >> 8;
    let addr = this.curr << 8;
    addr = this.ringCopy(addr, hdr);
    addr = this.ringCopy(addr, frame);
    if (frame.length < MIN_FRAME) addr = this.ringCopy(addr, new Uint8Array(MIN_FRAME - frame.length));
    const fcs = crc32(frame, MIN_FRAME);
    this.ringCopy(addr, Uint8Array.of(fcs & 0xff, (fcs >>> 8) & 0xff, (fcs >>> 16) & 0xff, fcs >>> 24));
    this.lastRxPage = this.curr << 8;
    this.curr = next;
    this.isr |= ISR_PRX;
    this.stats.rxFrames++;
  }

  /** Copies `src` into the ring at NIC address `addr`, wrapping at PSTOP; returns the next address. */
  private ringCopy(addr: number, src: Uint8Array): number {
    const stop = this.pstop << 8;
    let done = 0;
    while (done < src.length) {
      const n = Math.min(src.length - done, stop - addr);
      this.ram.set(src.subarray(done, done + n), addr - RAM_START);
      done += n;
      addr += n;
      if (addr >= stop) addr = this.pstart << 8;
    }
    return addr;
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * IEEE 802.3 FCS of `frame` zero-padded to `minLen` bytes (reflected CRC-32, init and final
 * XOR all ones), as transmitted least significant byte first.
 */
export function crc32(frame: Uint8Array, minLen = 0): number {
  let c = 0xffffffff;
  for (let i = 0; i < frame.length; i++) c = CRC_TABLE[(c ^ frame[i]!) & 0xff]! ^ (c >>> 8);
  for (let i = frame.length; i < minLen; i++) c = CRC_TABLE[c & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The DP8390 multicast filter index of a destination address: the 6 most significant bits of
 * the CRC-32 the NIC computes over the 6 destination bytes (bits fed least significant first,
 * shift register not inverted at the end). Bit `i & 7` of MAR `i >> 3` enables it.
 */
export function multicastHash(dst: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < 6; i++) {
    let b = dst[i] ?? 0;
    for (let k = 0; k < 8; k++) {
      const fb = ((crc >>> 31) ^ b) & 1;
      crc = (crc << 1) >>> 0;
      b >>= 1;
      if (fb) crc = (crc ^ 0x04c11db7) >>> 0;
    }
  }
  return crc >>> 26;
}
