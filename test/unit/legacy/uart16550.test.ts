/**
 * 16550A UART at register level (NS/TI PC16550D datasheet): DLAB switching, IER/IIR priorities
 * and clearing rules, FCR FIFOs and trigger levels, LSR bits incl. overrun, MCR loopback, MSR
 * deltas, scratch register, the OUT2 interrupt gate, host input pacing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingIrqLine } from '../../../src/legacy/irq.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';
import {
  IIR_CTI,
  IIR_MSI,
  IIR_NONE,
  IIR_RDA,
  IIR_RLS,
  IIR_THRE,
  LSR_DR,
  LSR_OE,
  LSR_TEMT,
  LSR_THRE,
  MSR_CTS,
  MSR_DCD,
  MSR_DCTS,
  MSR_DSR,
  Uart16550,
} from '../../../src/legacy/uart16550.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const B = 0x3f8;

function setup() {
  const irq = new RecordingIrqLine();
  const sent: number[] = [];
  const uart = new Uart16550({ irq, sink: (b) => sent.push(b) });
  const bus = new PortBus();
  uart.register(bus);
  const out = (off: number, v: number) => bus.write(B + off, 1, v);
  const inb = (off: number) => bus.read(B + off, 1);
  return { uart, irq, sent, out, inb, bus };
}

describe('16550A registers', () => {
  it('DLAB = 1 maps offsets 0 and 1 to DLL/DLM; DLAB = 0 gives back RBR/THR and IER untouched', () => {
    const { uart, sent, out, inb } = setup();
    out(1, 0x05); // IER
    out(3, 0x80); // DLAB
    out(0, 0x01); // DLL (not transmitted)
    out(1, 0x00); // DLM (not IER)
    expect(inb(0)).toBe(0x01);
    expect(inb(1)).toBe(0x00);
    expect(uart.baud).toBe(115200);
    out(3, 0x03); // 8N1, DLAB off
    expect(inb(1)).toBe(0x05);
    out(0, 0x41);
    expect(sent).toEqual([0x41]);
    out(3, 0x83);
    expect(inb(0)).toBe(0x01); // divisor kept
    expect(inb(3)).toBe(0x83);
  });

  it('the scratch register holds any byte', () => {
    const { out, inb } = setup();
    out(7, 0xa5);
    expect(inb(7)).toBe(0xa5);
  });

  it('reset state: IIR 01h (no interrupt), LSR 60h (THRE and TEMT), IER 0', () => {
    const { inb } = setup();
    expect(inb(2)).toBe(IIR_NONE);
    expect(inb(5)).toBe(LSR_THRE | LSR_TEMT);
    expect(inb(1)).toBe(0);
  });
});

describe('16550A interrupts', () => {
  it('THRE: enabling ETBEI with THR empty interrupts; reading IIR clears it; a THR write re-arms it with a new edge', () => {
    const { irq, out, inb } = setup();
    out(4, 0x08); // OUT2: the PC's interrupt gate
    out(1, 0x02);
    expect(irq.level).toBe(true);
    expect(inb(2)).toBe(IIR_THRE);
    expect(irq.level).toBe(false);
    expect(inb(2)).toBe(IIR_NONE);
    out(0, 0x55);
    expect(irq.level).toBe(true);
    expect(irq.rises).toBe(2);
    out(0, 0x56); // line drops and rises again: an edge per transmitted byte
    expect(irq.rises).toBe(3);
  });

  it('without MCR OUT2 the interrupt never reaches the IRQ line (PC wiring)', () => {
    const { irq, out, inb } = setup();
    out(1, 0x02);
    expect(inb(2)).toBe(IIR_THRE); // pending inside the UART …
    out(1, 0x00);
    out(1, 0x02);
    expect(irq.rises).toBe(0); // … but gated off
  });

  it('priority: receiver line status > received data > THRE > modem status', () => {
    const { uart, out, inb } = setup();
    out(4, 0x08);
    out(1, 0x0f);
    uart.setModemInputs(MSR_DSR | MSR_DCD); // CTS dropped → DCTS
    uart.receiveByte(1);
    uart.receiveByte(2); // 16450 mode: overrun
    expect(inb(2)).toBe(IIR_RLS);
    expect(inb(5) & (LSR_OE | LSR_DR)).toBe(LSR_OE | LSR_DR); // reading LSR clears OE
    expect(inb(2)).toBe(IIR_RDA);
    expect(inb(0)).toBe(2); // 16450: the RBR character was destroyed by the new one
    expect(inb(2)).toBe(IIR_THRE);
    expect(inb(2)).toBe(IIR_MSI);
    expect(inb(6) & (MSR_DCTS | MSR_CTS)).toBe(MSR_DCTS);
    expect(inb(2)).toBe(IIR_NONE);
  });

  it('FIFO mode: IIR bits 7–6 set; RDA at the trigger level, character timeout below it', () => {
    const { uart, out, inb } = setup();
    out(2, 0x81); // enable FIFOs, trigger 8
    out(1, 0x01);
    expect(inb(2) & 0xc0).toBe(0xc0);
    for (let i = 0; i < 7; i++) uart.receiveByte(i);
    expect(inb(2) & 0x0f).toBe(IIR_CTI);
    uart.receiveByte(7);
    expect(inb(2) & 0x0f).toBe(IIR_RDA);
    expect(inb(0)).toBe(0); // oldest first
    expect(inb(2) & 0x0f).toBe(IIR_CTI);
  });

  it('trigger levels 1, 4, 8, 14 from FCR bits 7–6', () => {
    for (const [bits, level] of [
      [0x00, 1],
      [0x40, 4],
      [0x80, 8],
      [0xc0, 14],
    ] as const) {
      const { uart, out, inb } = setup();
      out(2, bits | 1);
      out(1, 0x01);
      for (let i = 0; i < level - 1; i++) uart.receiveByte(i);
      if (level > 1) expect(inb(2) & 0x0f).toBe(IIR_CTI);
      uart.receiveByte(0xff);
      expect(inb(2) & 0x0f).toBe(IIR_RDA);
    }
  });

  it('FIFO overrun: the 17th character is lost, the 16 in the FIFO survive, OE is set', () => {
    const { uart, out, inb } = setup();
    out(2, 0x01);
    for (let i = 0; i < 17; i++) uart.receiveByte(i);
    expect(inb(5) & LSR_OE).toBe(LSR_OE);
    const got: number[] = [];
    while (inb(5) & LSR_DR) got.push(inb(0));
    expect(got).toEqual([...Array(16).keys()]);
    expect(uart.stats.overruns).toBe(1);
  });

  it('FCR bit 1 clears the receive FIFO; changing the FIFO enable clears it too', () => {
    const { uart, out, inb } = setup();
    out(2, 0x01);
    uart.receiveByte(1);
    out(2, 0x03);
    expect(inb(5) & LSR_DR).toBe(0);
    uart.receiveByte(2);
    out(2, 0x00);
    expect(inb(5) & LSR_DR).toBe(0);
  });
});

describe('16550A loopback and modem lines', () => {
  it('loopback: transmitted bytes come back as received data and do not reach the sink; MCR outputs loop to MSR inputs', () => {
    const { sent, out, inb, irq } = setup();
    out(4, 0x10 | 0x08 | 0x02 | 0x01); // LOOP, OUT2, RTS, DTR
    out(1, 0x01);
    out(0, 0x42);
    expect(sent).toEqual([]);
    expect(inb(5) & LSR_DR).toBe(LSR_DR);
    // In loopback the OUT2 pin is forced inactive: no IRQ.
    expect(irq.level).toBe(false);
    expect(inb(0)).toBe(0x42);
    // RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
    expect(inb(6) & 0xf0).toBe(MSR_CTS | MSR_DSR | MSR_DCD);
  });

  it('non-FIFO loopback: two bytes without a read overrun the RBR', () => {
    const { out, inb } = setup();
    out(4, 0x10);
    out(0, 1);
    out(0, 2);
    expect(inb(5) & LSR_OE).toBe(LSR_OE);
    expect(inb(0)).toBe(2);
  });

  it('MSR delta bits latch changes and clear on read', () => {
    const { uart, inb } = setup();
    expect(inb(6)).toBe(MSR_CTS | MSR_DSR | MSR_DCD);
    uart.setModemInputs(MSR_CTS);
    expect(inb(6)).toBe(MSR_CTS | 0x02 | 0x08); // DDSR, DDCD
    expect(inb(6)).toBe(MSR_CTS);
  });
});

describe('16550A host input', () => {
  it('regression: input queued before the driver sets the UART up is held until RTS, so its FIFO clear loses nothing', () => {
    // --console-input reaches the UART before boot; a driver's init clears the FIFOs (FCR) and
    // then raises DTR | RTS. Delivered at once, the first byte sat in the RBR and was cleared.
    const { uart, out, inb } = setup();
    uart.pushInput('hi');
    expect(inb(5) & LSR_DR).toBe(0);
    out(2, 0xc7); // FIFOs on, both cleared
    out(4, 0x0b); // DTR | RTS | OUT2
    expect([inb(0), inb(0)]).toEqual([0x68, 0x69]);
    out(4, 0x08); // RTS dropped: the far end stops
    uart.pushInput('!');
    expect(inb(5) & LSR_DR).toBe(0);
    out(4, 0x12); // RTS in loopback: still nothing from the far end
    expect(inb(5) & LSR_DR).toBe(0);
    out(4, 0x02);
    expect(inb(0)).toBe(0x21);
  });

  it(`host input enters the FIFO in order as room frees and is never lost (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 100 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 10 }),
        (data, fifo, chunks) => {
          const { uart, out, inb } = setup();
          if (fifo) out(2, 0xc1);
          out(4, 0x03); // DTR | RTS: the far end may send
          uart.pushInput(data);
          const got: number[] = [];
          let ci = 0;
          while (inb(5) & LSR_DR) {
            // Read in bursts of varying length, checking LSR in between as drivers do.
            for (let i = 0; i < chunks[ci % chunks.length]! && inb(5) & LSR_DR; i++) got.push(inb(0));
            ci++;
          }
          expect(got).toEqual([...data]);
          expect(uart.stats.overruns).toBe(0);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('when a read empties the FIFO and more host input waits, the IRQ line falls and rises (a new edge)', () => {
    const { uart, out, inb, irq } = setup();
    out(4, 0x0a); // RTS | OUT2
    out(1, 0x01);
    uart.pushInput(Uint8Array.of(1, 2));
    expect(irq.rises).toBe(1);
    inb(0);
    expect(irq.rises).toBe(2);
    inb(0);
    expect(irq.level).toBe(false);
  });
});
