/**
 * Interrupt request lines of the legacy platform: a device drives a line high or low; the line
 * ends at an input of the interrupt controller (the 8259A pair, pic.ts). Devices never see the
 * controller — only an {@link IrqLine} — so they can be tested with a recording line.
 * @module
 */

/** Something with numbered interrupt inputs (the PIC pair: IRQ 0..15). */
export interface IrqSink {
  /** Drives input `irq` to `level` (true = high / asserted). */
  setIrq(irq: number, level: boolean): void;
}

/** One wire from a device to an interrupt controller input. */
export interface IrqLine {
  /** Drives the line to `level` (true = asserted). Setting the level it already has is a no-op. */
  set(level: boolean): void;
  /** The level last driven. */
  readonly level: boolean;
}

/** A line wired to input `irq` of `sink`; only level changes are passed on. */
export function irqLine(sink: IrqSink, irq: number): IrqLine {
  let level = false;
  return {
    set(v: boolean): void {
      if (v === level) return;
      level = v;
      sink.setIrq(irq, v);
    },
    get level(): boolean {
      return level;
    },
  };
}

/** A line that goes nowhere but remembers its level and counts rising edges (tests, unwired devices). */
export class RecordingIrqLine implements IrqLine {
  /** Current level. */
  level = false;
  /** Low-to-high transitions seen. */
  rises = 0;

  /** See {@link IrqLine.set}. */
  set(v: boolean): void {
    if (v && !this.level) this.rises++;
    this.level = v;
  }
}
