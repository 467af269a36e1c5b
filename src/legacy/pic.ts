/**
 * Intel 8259A programmable interrupt controller pair, as wired in a PC/AT: master at ports
 * 0x20/0x21 (IRQ 0–7), slave at 0xA0/0xA1 (IRQ 8–15) cascaded into master IR2, and the
 * edge/level control registers (ELCR, as in the PIIX/ICH) at 0x4D0/0x4D1.
 *
 * EMULATED (8259A datasheet): the ICW1–ICW4 initialization sequence; OCW1 (interrupt mask);
 * OCW2 non-specific EOI, specific EOI, rotate on (non-)specific EOI, set priority, rotate in
 * automatic EOI mode; OCW3 read IRR / read ISR, poll command, special mask mode; edge- and
 * level-triggered inputs (ICW1 LTIM or the ELCR bit); fully nested priorities with rotation;
 * cascade on IR2; automatic EOI; special fully nested mode on the master; the spurious
 * interrupt (IR7 vector, no ISR bit set) when a request goes away before the INTA cycle.
 *
 * NOT EMULATED: 8080/8085 mode (ICW4 µPM = 0; vectors are always 8086-style), buffered mode
 * pins (BUF, M/S are stored only), slaves on inputs other than IR2.
 *
 * ENGINE INTERFACE. The INT output of the master is {@link PicPair.pendingVector}: the vector an
 * INTA cycle would return now, or undefined. At VM entry the engine calls
 * {@link PicPair.acknowledge} (one complete INTA sequence) and injects the vector it returns.
 * `onIntr` (optional) is called when INT changes, so a halted vCPU can be woken.
 *
 * EDGE MODE. Datasheet: "In the edge triggered mode … the IR input must remain high until after
 * the falling edge of the first INTA pulse"; the IRR latch is set by the rising edge and the
 * request only stays in IRR while the input is high. Here: a rising edge sets the IRR bit, a
 * falling edge clears it, and after an INTA the input must fall and rise again to request anew.
 * @module
 */
import type { IrqSink } from './irq.ts';
import type { AccessSize, PortBus, PortDevice, PortMapping } from './port-bus.ts';

/** Ports of the master 8259A. */
export const PIC_MASTER_BASE = 0x20;
/** Ports of the slave 8259A. */
export const PIC_SLAVE_BASE = 0xa0;
/** Edge/level control registers (master, slave). */
export const ELCR_BASE = 0x4d0;
/** The master input the slave's INT is wired to. */
export const CASCADE_IRQ = 2;

// ICW1 bits (written to A0 = 0 with D4 = 1).
const ICW1_IC4 = 0x01; // ICW4 needed
const ICW1_SNGL = 0x02; // single (no ICW3)
const ICW1_LTIM = 0x08; // level triggered
// ICW4 bits.
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;

/** Where a chip is in the initialization sequence. */
const enum Init {
  Ready,
  Icw2,
  Icw3,
  Icw4,
}

/** One 8259A. Exposed for tests and diagnostics; the engine talks to {@link PicPair}. */
export class Pic8259 {
  /** Interrupt request register. */
  irr = 0;
  /** In-service register. */
  isr = 0;
  /** Interrupt mask register (OCW1). */
  imr = 0;
  /** Vector base from ICW2 (T7–T3; low 3 bits are the IR number). */
  vectorBase = 0;
  /** ICW3 as written (master: slave bitmap; slave: its ID). */
  icw3 = 0;
  /** ICW4 as written (0 when ICW1 said no ICW4: "all functions selected in ICW4 are set to zero"). */
  icw4 = 0;
  /** ICW1 as last written. */
  icw1 = 0;
  /** Edge/level control: bit n = 1 makes IRn level triggered (ELCR). */
  elcr = 0;
  /** Input levels as last driven. */
  lines = 0;
  /** IR number with the lowest priority (7 after initialization: IR0 highest). */
  lowest = 7;
  /** Rotate in automatic EOI mode (OCW2 R=1, SL=0, EOI=0). */
  rotateOnAeoi = false;
  /** Special mask mode (OCW3 ESMM/SMM). */
  specialMask = false;
  /** OCW3 RIS: command-port reads return ISR (true) or IRR (false). */
  readIsr = false;
  /** OCW3 P was set by the last OCW3: the next command-port read is a poll. */
  poll = false;
  /** @internal Initialization state. */
  init: Init = Init.Ready;
  /** Bits that may be set in {@link Pic8259.elcr} (the rest are reserved, read as 0). */
  readonly elcrMask: number;

  // Edge sense latches: 1 = armed (input went low since its last request was acknowledged, or
  // since initialization). A rising edge on an armed input sets IRR and disarms it.
  private armed = 0xff;

  /** A chip whose ELCR may set `elcrMask` bits. */
  constructor(elcrMask: number) {
    this.elcrMask = elcrMask;
  }

  /** True when input `n` is level triggered (ICW1 LTIM applies to all inputs; ELCR to one). */
  isLevel(n: number): boolean {
    return (this.icw1 & ICW1_LTIM) !== 0 || ((this.elcr >> n) & 1) !== 0;
  }

  /** Automatic EOI (ICW4 AEOI). */
  get autoEoi(): boolean {
    return (this.icw4 & ICW4_AEOI) !== 0;
  }

  /** Drives input `n`. */
  setLine(n: number, level: boolean): void {
    const bit = 1 << n;
    if (level) {
      if (this.isLevel(n)) this.irr |= bit;
      else if ((this.lines & bit) === 0 && (this.armed & bit) !== 0) {
        this.irr |= bit;
        this.armed &= ~bit;
      }
      this.lines |= bit;
    } else {
      // Edge and level alike: the request is withdrawn when the input falls before INTA.
      this.irr &= ~bit;
      this.armed |= bit;
      this.lines &= ~bit;
    }
  }

  /** Priority rank of IR `n`: 0 is the highest. */
  private rank(n: number): number {
    return (n - this.lowest - 1) & 7;
  }

  /** The highest-priority IR set in `bits`, or -1. */
  private highest(bits: number): number {
    for (let r = 0; r < 8; r++) {
      const n = (this.lowest + 1 + r) & 7;
      if ((bits >> n) & 1) return n;
    }
    return -1;
  }

  /**
   * The IR the chip would signal on INT now, or -1. A request is serviced only when it has
   * higher priority than every in-service level ("fully nested mode"); in special mask mode an
   * in-service level that is masked does not block; with `sfnmCascade` (special fully nested
   * mode, master) an in-service cascade input does not block a new request on that same input.
   */
  resolve(sfnmCascade = -1): number {
    const req = this.irr & ~this.imr & 0xff;
    if (req === 0) return -1;
    const n = this.highest(req);
    let blocking = this.specialMask ? this.isr & ~this.imr : this.isr;
    if (sfnmCascade >= 0 && n === sfnmCascade) blocking &= ~(1 << n);
    const s = this.highest(blocking & 0xff);
    if (s >= 0 && this.rank(s) <= this.rank(n)) return -1;
    return n;
  }

  /** The INTA effect on this chip for IR `n`: IRR reset (unless level), ISR set (unless AEOI). */
  take(n: number): void {
    const bit = 1 << n;
    if (!this.isLevel(n) || (this.lines & bit) === 0) this.irr &= ~bit;
    if (this.autoEoi) {
      if (this.rotateOnAeoi) this.lowest = n;
    } else {
      this.isr |= bit;
    }
  }

  /** Command port (A0 = 0) write: ICW1, OCW2 or OCW3. */
  writeCommand(v: number): void {
    if (v & 0x10) {
      // ICW1. Datasheet: the edge sense circuit is reset, IMR cleared, IR7 lowest priority,
      // special mask mode cleared, status read set to IRR; no ICW4 → ICW4 functions zero.
      this.icw1 = v;
      this.imr = 0;
      this.irr = 0;
      this.isr = 0;
      this.armed = 0xff;
      // A line already high must make a new low-to-high transition: treat it as not armed.
      this.armed &= ~this.lines;
      if (v & ICW1_LTIM) this.irr = this.lines;
      this.lowest = 7;
      this.specialMask = false;
      this.readIsr = false;
      this.poll = false;
      this.rotateOnAeoi = false;
      if ((v & ICW1_IC4) === 0) this.icw4 = 0;
      this.init = Init.Icw2;
      return;
    }
    if (v & 0x08) {
      // OCW3: ESMM/SMM (D6/D5), P (D2), RR/RIS (D1/D0).
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      this.poll = (v & 0x04) !== 0;
      if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
      return;
    }
    // OCW2: R SL EOI in D7–D5, L2–L0 in D2–D0.
    const level = v & 7;
    switch (v >> 5) {
      case 0b001: // non-specific EOI
        this.eoi(this.highest(this.isr), false);
        break;
      case 0b011: // specific EOI
        this.isr &= ~(1 << level);
        break;
      case 0b101: // rotate on non-specific EOI
        this.eoi(this.highest(this.isr), true);
        break;
      case 0b111: // rotate on specific EOI: the EOI'd level becomes lowest
        this.isr &= ~(1 << level);
        this.lowest = level;
        break;
      case 0b100: // set rotate in automatic EOI mode
        this.rotateOnAeoi = true;
        break;
      case 0b000: // clear rotate in automatic EOI mode
        this.rotateOnAeoi = false;
        break;
      case 0b110: // set priority: L becomes the lowest
        this.lowest = level;
        break;
      default: // 0b010: no operation
        break;
    }
  }

  private eoi(n: number, rotate: boolean): void {
    if (n < 0) return;
    this.isr &= ~(1 << n);
    if (rotate) this.lowest = n;
  }

  /** Data port (A0 = 1) write: ICW2–ICW4 during initialization, OCW1 otherwise. */
  writeData(v: number): void {
    switch (this.init) {
      case Init.Icw2:
        this.vectorBase = v & 0xf8;
        this.init = (this.icw1 & ICW1_SNGL) === 0 ? Init.Icw3 : (this.icw1 & ICW1_IC4) !== 0 ? Init.Icw4 : Init.Ready;
        return;
      case Init.Icw3:
        this.icw3 = v;
        this.init = (this.icw1 & ICW1_IC4) !== 0 ? Init.Icw4 : Init.Ready;
        return;
      case Init.Icw4:
        this.icw4 = v;
        this.init = Init.Ready;
        return;
      default:
        this.imr = v;
    }
  }

  /** Special fully nested mode (ICW4 SFNM). */
  get sfnm(): boolean {
    return (this.icw4 & ICW4_SFNM) !== 0;
  }

  /** True when ICW1 said single mode (no cascade). */
  get single(): boolean {
    return (this.icw1 & ICW1_SNGL) !== 0;
  }
}

/** Counters of the INTA cycles (exit accounting and tests). */
export interface PicStats {
  /** INTA sequences run ({@link PicPair.acknowledge} calls and poll reads). */
  acks: number;
  /** Of those, how many returned a spurious IR7 vector (master or slave). */
  spurious: number;
}

/** The master/slave 8259A pair with the PC wiring; the engine's interrupt controller. */
export class PicPair implements IrqSink {
  /** The master chip (IRQ 0–7). */
  readonly master = new Pic8259(0xf8); // ELCR bits 0–2 (IRQ 0, 1, 2) are reserved: always edge
  /** The slave chip (IRQ 8–15). */
  readonly slave = new Pic8259(0xde); // ELCR bits 0 and 5 (IRQ 8, 13) are reserved: always edge
  /** Counters (see {@link PicStats}). */
  readonly stats: PicStats = { acks: 0, spurious: 0 };
  /** Called when the master's INT output changes (wake a halted vCPU). */
  onIntr: ((asserted: boolean) => void) | undefined;

  private lastIntr = false;

  /** Drives IRQ line `irq` (0–15). See {@link IrqSink}. */
  setIrq(irq: number, level: boolean): void {
    if (irq < 0 || irq > 15) return;
    if (irq < 8) {
      if (irq === CASCADE_IRQ && this.cascaded) {
        // IR2 of the master is the slave's INT output, not a device line.
        return;
      }
      this.master.setLine(irq, level);
    } else {
      this.slave.setLine(irq - 8, level);
    }
    this.update();
  }

  /** True when the master routes IR2 to the slave (not single mode, ICW3 bit 2 set). */
  get cascaded(): boolean {
    return !this.master.single && (this.master.icw3 & (1 << CASCADE_IRQ)) !== 0;
  }

  /**
   * The vector an INTA cycle would return now (the master's INT output is asserted), or
   * undefined when INT is low.
   */
  pendingVector(): number | undefined {
    const n = this.master.resolve(this.master.sfnm ? CASCADE_IRQ : -1);
    if (n < 0) return undefined;
    if (n === CASCADE_IRQ && this.cascaded) {
      const s = this.slave.resolve();
      return this.slave.vectorBase | (s < 0 ? 7 : s);
    }
    return this.master.vectorBase | n;
  }

  /**
   * One complete INTA sequence: the highest-priority request moves from IRR to ISR (unless in
   * automatic EOI mode) and its vector is returned. With no request left — it went away before
   * the acknowledge — the datasheet's default applies: "the 8259A will issue an interrupt level
   * 7" and no ISR bit is set (the master's vector base + 7; via the cascade, the slave's + 7,
   * with master IR2 in service).
   */
  acknowledge(): number {
    this.stats.acks++;
    const v = this.inta();
    this.update();
    return v;
  }

  private inta(): number {
    const m = this.master;
    const n = m.resolve(m.sfnm ? CASCADE_IRQ : -1);
    if (n < 0) {
      this.stats.spurious++;
      return m.vectorBase | 7;
    }
    m.take(n);
    if (n === CASCADE_IRQ && this.cascaded) {
      const s = this.slave.resolve();
      if (s < 0) {
        this.stats.spurious++;
        return this.slave.vectorBase | 7;
      }
      this.slave.take(s);
      this.syncCascade();
      return this.slave.vectorBase | s;
    }
    return m.vectorBase | n;
  }

  /** Registers the command/data ports of both chips and the ELCR pair on `bus`. */
  register(bus: PortBus): PortMapping[] {
    const dev: PortDevice = {
      read: (port: number, _size: AccessSize) => this.readPort(port),
      write: (port: number, _size: AccessSize, v: number) => this.writePort(port, v),
    };
    return [
      bus.register({ name: 'pic-master', base: PIC_MASTER_BASE, length: 2, device: dev }),
      bus.register({ name: 'pic-slave', base: PIC_SLAVE_BASE, length: 2, device: dev }),
      bus.register({ name: 'pic-elcr', base: ELCR_BASE, length: 2, device: dev }),
    ];
  }

  /** A byte read of one of the PIC or ELCR ports. */
  readPort(port: number): number {
    if (port === ELCR_BASE) return this.master.elcr;
    if (port === ELCR_BASE + 1) return this.slave.elcr;
    const chip = (port & 0xf0) === PIC_SLAVE_BASE ? this.slave : this.master;
    if ((port & 1) === 1) return chip.imr;
    if (chip.poll) {
      // Poll command: "the 8259A treats the next RD pulse as an interrupt acknowledge", and the
      // byte read is I (D7) plus W2–W0, the highest-priority level requesting service.
      chip.poll = false;
      const v = this.pollChip(chip);
      this.update();
      return v;
    }
    return chip.readIsr ? chip.isr : chip.irr;
  }

  private pollChip(chip: Pic8259): number {
    this.stats.acks++;
    const n = chip.resolve(chip === this.master && chip.sfnm ? CASCADE_IRQ : -1);
    if (n < 0) return 0;
    chip.take(n);
    if (chip === this.slave) this.syncCascade();
    return 0x80 | n;
  }

  /** A byte write to one of the PIC or ELCR ports. */
  writePort(port: number, v: number): void {
    if (port === ELCR_BASE || port === ELCR_BASE + 1) {
      const chip = port === ELCR_BASE ? this.master : this.slave;
      chip.elcr = v & chip.elcrMask;
      // Inputs now level triggered that are high request at once.
      chip.irr |= chip.lines & chip.elcr;
    } else {
      const chip = (port & 0xf0) === PIC_SLAVE_BASE ? this.slave : this.master;
      if ((port & 1) === 0) chip.writeCommand(v);
      else chip.writeData(v);
    }
    this.update();
  }

  /** Feeds the slave's INT output into master IR2 and recomputes the master's INT output. */
  private update(): void {
    this.syncCascade();
    const intr = this.pendingVector() !== undefined;
    if (intr !== this.lastIntr) {
      this.lastIntr = intr;
      this.onIntr?.(intr);
    }
  }

  private syncCascade(): void {
    if (!this.cascaded) return;
    const slaveInt = this.slave.resolve() >= 0;
    const bit = 1 << CASCADE_IRQ;
    if (slaveInt !== ((this.master.lines & bit) !== 0)) this.master.setLine(CASCADE_IRQ, slaveInt);
  }
}
