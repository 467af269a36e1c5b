/**
 * NS16550A UART (COM1: ports 0x3F8–0x3FF, IRQ 4), from the PC16550D datasheet.
 *
 * REGISTERS (offset from the base; DLAB = LCR bit 7):
 * 0 RBR (read) / THR (write) — DLL when DLAB = 1;  1 IER — DLM when DLAB = 1;
 * 2 IIR (read) / FCR (write);  3 LCR;  4 MCR;  5 LSR;  6 MSR;  7 SCR.
 *
 * EMULATED: both 16-byte FIFOs with FCR enable/reset and the receive trigger levels 1/4/8/14;
 * 16450 (non-FIFO) mode with a one-byte holding register; IIR priorities (receiver line status
 * > received data available / character timeout > THR empty > modem status) and their
 * clearing rules; LSR DR, OE, THRE, TEMT (PE, FE, BI and bit 7 exist but nothing sets them); overrun
 * ("the character in the shift register is overwritten" in FIFO mode, the RBR character is
 * destroyed in 16450 mode); MCR loopback (TX fed back to RX, modem outputs looped to the
 * modem inputs: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD); MSR with delta bits and trailing-edge
 * RI; the scratch register; the PC's IRQ gate — the INTR pin reaches IRQ 4 only while MCR OUT2
 * is set, and not in loopback (the OUT2 pin is forced inactive there).
 *
 * NOT EMULATED: line timing. Transmission is instant (THR/FIFO empty again as soon as the byte
 * is handed to the sink, so THRE and TEMT read 1 after every write); the divisor is stored and
 * reported ({@link Uart16550.baud}) but paces nothing. There is no line-idle timer: the
 * character timeout ("no characters removed from or input to the FIFO during the last 4
 * character times") is taken to have elapsed whenever bytes below the trigger level wait in the
 * receive FIFO. Parity, framing errors and break never occur on the virtual wire. DMA mode
 * (FCR bit 3, RXRDY/TXRDY pins) is stored only.
 *
 * HOST SIDE: transmitted bytes go to the `sink` callback; {@link Uart16550.pushInput} queues host
 * input, which enters the receive FIFO as room frees and only while the guest asserts RTS (MCR
 * bit 1) outside loopback: the far end honours RTS/CTS flow control, so host input is never lost,
 * not even input queued before the guest's driver has set the UART up and cleared its FIFO; {@link Uart16550.receiveByte} puts one character on the wire
 * now and can overrun.
 * @module
 */
import type { IrqLine } from './irq.ts';
import type { AccessSize, PortBus, PortDevice, PortMapping } from './port-bus.ts';

/** COM1 base port. */
export const COM1_BASE = 0x3f8;
/** COM1 IRQ. */
export const COM1_IRQ = 4;
/** The UART's reference clock (1.8432 MHz crystal on a PC). */
export const UART_CLOCK_HZ = 1843200;
/** Depth of each FIFO. */
export const FIFO_DEPTH = 16;

/** IER bit 0: received data available interrupt. */
export const IER_ERBFI = 0x01;
/** IER bit 1: transmitter holding register empty interrupt. */
export const IER_ETBEI = 0x02;
/** IER bit 2: receiver line status interrupt. */
export const IER_ELSI = 0x04;
/** IER bit 3: modem status interrupt. */
export const IER_EDSSI = 0x08;

/** IIR: no interrupt pending (bit 0 = 1). */
export const IIR_NONE = 0x01;
/** IIR: receiver line status (highest priority). */
export const IIR_RLS = 0x06;
/** IIR: received data available. */
export const IIR_RDA = 0x04;
/** IIR: character timeout (FIFO mode). */
export const IIR_CTI = 0x0c;
/** IIR: transmitter holding register empty. */
export const IIR_THRE = 0x02;
/** IIR: modem status (lowest priority). */
export const IIR_MSI = 0x00;
/** IIR bits 7–6: FIFOs enabled. */
export const IIR_FIFO = 0xc0;

/** FCR bit 0: enable both FIFOs. */
export const FCR_ENABLE = 0x01;
/** FCR bit 1: clear the receive FIFO. */
export const FCR_CLEAR_RX = 0x02;
/** FCR bit 2: clear the transmit FIFO. */
export const FCR_CLEAR_TX = 0x04;

/** LCR bit 7: divisor latch access. */
export const LCR_DLAB = 0x80;

/** MCR DTR output. */
export const MCR_DTR = 0x01;
/** MCR RTS output. */
export const MCR_RTS = 0x02;
/** MCR OUT1 output. */
export const MCR_OUT1 = 0x04;
/** MCR OUT2 output (gates the IRQ on a PC). */
export const MCR_OUT2 = 0x08;
/** MCR loopback mode. */
export const MCR_LOOP = 0x10;

/** LSR data ready. */
export const LSR_DR = 0x01;
/** LSR overrun error. */
export const LSR_OE = 0x02;
/** LSR parity error. */
export const LSR_PE = 0x04;
/** LSR framing error. */
export const LSR_FE = 0x08;
/** LSR break interrupt. */
export const LSR_BI = 0x10;
/** LSR transmitter holding register (or FIFO) empty. */
export const LSR_THRE = 0x20;
/** LSR transmitter empty (holding and shift register). */
export const LSR_TEMT = 0x40;
/** LSR bit 7: error in the receive FIFO. */
export const LSR_FIFO_ERR = 0x80;

/** MSR delta CTS. */
export const MSR_DCTS = 0x01;
/** MSR delta DSR. */
export const MSR_DDSR = 0x02;
/** MSR trailing edge of RI. */
export const MSR_TERI = 0x04;
/** MSR delta DCD. */
export const MSR_DDCD = 0x08;
/** MSR clear to send. */
export const MSR_CTS = 0x10;
/** MSR data set ready. */
export const MSR_DSR = 0x20;
/** MSR ring indicator. */
export const MSR_RI = 0x40;
/** MSR data carrier detect. */
export const MSR_DCD = 0x80;

const TRIGGER = [1, 4, 8, 14] as const;

/** Options of {@link Uart16550}. */
export interface UartOptions {
  /** Base port (default 0x3F8). */
  base?: number;
  /** The interrupt line (IRQ 4 for COM1). */
  irq: IrqLine;
  /** Receives every transmitted byte (not called in loopback). */
  sink?: (byte: number) => void;
  /** Modem status inputs from the far end (MSR bits 7–4; default CTS | DSR | DCD: a connected peer). */
  modemInputs?: number;
}

/** Counters (accounting and tests). */
export interface UartStats {
  /** Bytes sent to the sink. */
  txBytes: number;
  /** Bytes entering the receive FIFO or RBR. */
  rxBytes: number;
  /** Characters lost to overrun. */
  overruns: number;
}

/** The 16550A. */
export class Uart16550 implements PortDevice {
  /** Base port. */
  readonly base: number;
  /** Counters. */
  readonly stats: UartStats = { txBytes: 0, rxBytes: 0, overruns: 0 };

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0x0c; // not reset by the datasheet's MR; 9600 bd is a common power-on value
  private dlm = 0;
  private fcr = 0;
  private lsrErrors = 0; // OE | PE | FE | BI, cleared by reading LSR
  private msrDeltas = 0;
  private modemIn: number; // far-end inputs (outside loopback)
  private lastMsrInputs: number;
  private thriPending = true; // THRE interrupt source (cleared by IIR read or THR write)
  private readonly rx: number[] = [];
  private readonly backlog: number[] = [];
  private backlogHead = 0;
  private readonly irq: IrqLine;
  private readonly sink: ((b: number) => void) | undefined;

  /** A UART at `opts.base` (default COM1). */
  constructor(opts: UartOptions) {
    this.base = opts.base ?? COM1_BASE;
    this.irq = opts.irq;
    this.sink = opts.sink;
    this.modemIn = (opts.modemInputs ?? MSR_CTS | MSR_DSR | MSR_DCD) & 0xf0;
    this.lastMsrInputs = this.modemIn;
  }

  /** Registers the 8 ports on `bus`. */
  register(bus: PortBus): PortMapping {
    return bus.register({ name: 'uart', base: this.base, length: 8, device: this });
  }

  /** Programmed bit rate: clock / (16 × divisor); 0 when the divisor is 0. */
  get baud(): number {
    const d = this.dll | (this.dlm << 8);
    return d === 0 ? 0 : UART_CLOCK_HZ / (16 * d);
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  private get loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  /** Capacity of the receive buffer: the FIFO, or the RBR alone in 16450 mode. */
  private get rxCapacity(): number {
    return this.fifoEnabled ? FIFO_DEPTH : 1;
  }

  /** Host input, delivered as room frees in the receive FIFO; never overruns. */
  pushInput(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    for (const b of bytes) this.backlog.push(b);
    this.refill();
    this.update();
  }

  /** Host input not yet in the receive FIFO. */
  get pendingInput(): number {
    return this.backlog.length - this.backlogHead;
  }

  /** One character arrives on the wire now (may overrun). */
  receiveByte(b: number): void {
    this.arrive(b & 0xff);
    this.update();
  }

  /** Sets the far end's modem lines (MSR bits 7–4); deltas are latched as on a real line. */
  setModemInputs(bits: number): void {
    this.modemIn = bits & 0xf0;
    if (!this.loopback) this.trackMsr(this.modemIn);
    this.update();
  }

  private arrive(b: number): void {
    if (this.rx.length >= this.rxCapacity) {
      // PC16550D: FIFO mode — "the character in the shift register is overwritten, but it is
      // not transferred to the FIFO"; 16450 mode — the RBR character is destroyed.
      this.lsrErrors |= LSR_OE;
      this.stats.overruns++;
      if (!this.fifoEnabled) this.rx[0] = b;
      return;
    }
    this.rx.push(b);
    this.stats.rxBytes++;
  }

  private refill(): void {
    // RTS/CTS flow control: the far end sends only while the guest asserts RTS, never in loopback.
    if ((this.mcr & MCR_RTS) === 0 || this.loopback) return;
    while (this.backlogHead < this.backlog.length && this.rx.length < this.rxCapacity) {
      this.arrive(this.backlog[this.backlogHead++]!);
    }
    if (this.backlogHead === this.backlog.length) {
      this.backlog.length = 0;
      this.backlogHead = 0;
    }
  }

  // The modem inputs as the MSR sees them: looped back from MCR in loopback mode.
  private msrInputs(): number {
    if (!this.loopback) return this.modemIn;
    const m = this.mcr;
    return ((m & MCR_RTS) !== 0 ? MSR_CTS : 0) | ((m & MCR_DTR) !== 0 ? MSR_DSR : 0) | ((m & MCR_OUT1) !== 0 ? MSR_RI : 0) | ((m & MCR_OUT2) !== 0 ? MSR_DCD : 0);
  }

  private trackMsr(now: number): void {
    const changed = now ^ this.lastMsrInputs;
    if (changed & MSR_CTS) this.msrDeltas |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDeltas |= MSR_DDSR;
    if (changed & MSR_DCD) this.msrDeltas |= MSR_DDCD;
    // TERI: "RI input … has changed from a low to a high state" on the pin, i.e. the RI bit
    // going from 1 to 0 (trailing edge of the ring).
    if (changed & MSR_RI && (now & MSR_RI) === 0) this.msrDeltas |= MSR_TERI;
    this.lastMsrInputs = now;
  }

  private lsr(): number {
    let v = this.lsrErrors | LSR_THRE | LSR_TEMT;
    if (this.rx.length > 0) v |= LSR_DR;
    if (this.fifoEnabled && this.lsrErrors & (LSR_PE | LSR_FE | LSR_BI)) v |= LSR_FIFO_ERR;
    return v;
  }

  /** The highest-priority pending interrupt's IIR value (bits 3–0). */
  private iirId(): number {
    if (this.ier & IER_ELSI && this.lsrErrors & (LSR_OE | LSR_PE | LSR_FE | LSR_BI)) return IIR_RLS;
    if (this.ier & IER_ERBFI && this.rx.length > 0) {
      if (!this.fifoEnabled) return IIR_RDA;
      const trig = TRIGGER[(this.fcr >> 6) & 3]!;
      return this.rx.length >= trig ? IIR_RDA : IIR_CTI;
    }
    if (this.ier & IER_ETBEI && this.thriPending) return IIR_THRE;
    if (this.ier & IER_EDSSI && this.msrDeltas !== 0) return IIR_MSI;
    return IIR_NONE;
  }

  private update(): void {
    const pending = this.iirId() !== IIR_NONE;
    // PC wiring: INTR goes through a gate enabled by the OUT2 pin; in loopback that pin is
    // forced inactive, so no interrupt reaches the PIC.
    this.irq.set(pending && (this.mcr & MCR_OUT2) !== 0 && !this.loopback);
  }

  /** See {@link PortDevice.read}. */
  read(port: number, _size: AccessSize): number {
    const v = this.readReg(port - this.base);
    this.update();
    return v;
  }

  private readReg(off: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (off) {
      case 0: {
        if (dlab) return this.dll;
        const b = this.rx.shift();
        if (this.rx.length === 0 && this.pendingInput > 0) {
          // The read emptied the FIFO: INTR falls before the next host byte arrives and raises
          // it again — the edge an edge-triggered PIC needs.
          this.update();
          this.refill();
        }
        return b ?? 0;
      }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        const id = this.iirId();
        // "THRE interrupt … cleared by reading the IIR (if source of interrupt)".
        if (id === IIR_THRE) this.thriPending = false;
        return id | (this.fifoEnabled ? IIR_FIFO : 0);
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const v = this.lsr();
        this.lsrErrors = 0; // OE, PE, FE, BI "reset whenever the CPU reads the LSR"
        return v;
      }
      case 6: {
        const v = this.msrInputs() | this.msrDeltas;
        this.msrDeltas = 0;
        return v;
      }
      case 7:
        return this.scr;
      default:
        return 0xff;
    }
  }

  /** See {@link PortDevice.write}. */
  write(port: number, _size: AccessSize, v: number): void {
    this.writeReg(port - this.base, v & 0xff);
    this.update();
  }

  private writeReg(off: number, v: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (off) {
      case 0:
        if (dlab) {
          this.dll = v;
          return;
        }
        this.transmit(v);
        return;
      case 1:
        if (dlab) {
          this.dlm = v;
          return;
        }
        // Enabling ETBEI with the THR empty raises a THRE interrupt.
        if (v & IER_ETBEI && (this.ier & IER_ETBEI) === 0) this.thriPending = true;
        this.ier = v & 0x0f;
        return;
      case 2:
        this.writeFcr(v);
        return;
      case 3:
        this.lcr = v;
        return;
      case 4: {
        const wasLoop = this.loopback;
        this.mcr = v & 0x1f;
        if (wasLoop !== this.loopback || this.loopback) this.trackMsr(this.msrInputs());
        this.refill(); // RTS raised (or loopback left): held host input may flow now
        return;
      }
      case 7:
        this.scr = v;
        return;
      default:
        // LSR and MSR writes are for factory test; ignored.
        return;
    }
  }

  private writeFcr(v: number): void {
    const wasEnabled = this.fifoEnabled;
    // Changing FIFO enable clears both FIFOs; bits 1 and 2 clear one each ("self-clearing").
    if ((v & FCR_ENABLE) !== (wasEnabled ? 1 : 0) || v & FCR_CLEAR_RX) this.rx.length = 0;
    this.fcr = v & 0xc9;
    if (!this.fifoEnabled) this.fcr = 0;
    // Our TX FIFO is always empty (instant transmit); clearing it leaves THRE set.
    this.refill();
  }

  private transmit(b: number): void {
    // Writing THR clears the THRE interrupt; the byte leaves at once, so the holding register
    // is empty again and the THRE interrupt re-arms. INTR drops in between (the edge an
    // edge-triggered PIC needs for the next THRE interrupt).
    this.thriPending = false;
    this.update();
    if (this.loopback) {
      this.arrive(b);
    } else {
      this.stats.txBytes++;
      this.sink?.(b);
    }
    this.thriPending = true;
  }
}
