/**
 * 8259A PIC pair at register level (Intel 8259A datasheet): the ICW sequence, masking, fully
 * nested priorities, EOI forms, rotation, OCW3 reads and poll, cascade on IR2, auto-EOI, edge
 * versus level triggering, ELCR and the spurious IR7/IR15 vectors.
 */
import { describe, expect, it } from 'vitest';
import { PicPair } from '../../../src/legacy/pic.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';

/** A PC-style initialized pair: master vectors 0x20, slave 0x28, cascade on IR2. */
function setup(opts: { aeoi?: boolean; level?: boolean } = {}): { pic: PicPair; bus: PortBus; out: (p: number, v: number) => void; inb: (p: number) => number } {
  const pic = new PicPair();
  const bus = new PortBus();
  pic.register(bus);
  const out = (p: number, v: number) => bus.write(p, 1, v);
  const inb = (p: number) => bus.read(p, 1);
  const icw1 = 0x11 | (opts.level ? 0x08 : 0);
  const icw4 = 0x01 | (opts.aeoi ? 0x02 : 0);
  out(0x20, icw1);
  out(0x21, 0x20);
  out(0x21, 0x04);
  out(0x21, icw4);
  out(0xa0, icw1);
  out(0xa1, 0x28);
  out(0xa1, 0x02);
  out(0xa1, icw4);
  return { pic, bus, out, inb };
}

describe('8259A initialization', () => {
  it('ICW1 clears IMR and the ICW sequence ends with OCW1 writes going to IMR', () => {
    const { pic, out, inb } = setup();
    // "The Interrupt Mask Register is cleared" by ICW1.
    expect(inb(0x21)).toBe(0);
    out(0x21, 0xfb);
    expect(inb(0x21)).toBe(0xfb);
    expect(pic.master.vectorBase).toBe(0x20);
    expect(pic.slave.vectorBase).toBe(0x28);
    expect(pic.cascaded).toBe(true);
  });

  it('ICW2 keeps only T7–T3; the IR number fills the low three bits of the vector', () => {
    const { pic, out } = setup();
    out(0x20, 0x11);
    out(0x21, 0x47); // low bits ignored
    out(0x21, 0x04);
    out(0x21, 0x01);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x43);
  });

  it('single mode skips ICW3; without IC4 the ICW4 functions are zero (no auto-EOI)', () => {
    const pic = new PicPair();
    const bus = new PortBus();
    pic.register(bus);
    bus.write(0x20, 1, 0x13); // SNGL | IC4
    bus.write(0x21, 1, 0x08);
    bus.write(0x21, 1, 0x03); // this is ICW4 (AEOI), not ICW3
    expect(pic.master.autoEoi).toBe(true);
    expect(pic.cascaded).toBe(false);
    bus.write(0x20, 1, 0x12); // SNGL, no IC4
    bus.write(0x21, 1, 0x08);
    expect(pic.master.autoEoi).toBe(false);
    bus.write(0x21, 1, 0xaa); // now OCW1
    expect(pic.master.imr).toBe(0xaa);
  });

  it('after ICW1 a line already high must make a new low-to-high transition to request', () => {
    const { pic, out } = setup();
    pic.setIrq(4, true);
    out(0x20, 0x11);
    out(0x21, 0x20);
    out(0x21, 0x04);
    out(0x21, 0x01);
    expect(pic.pendingVector()).toBeUndefined();
    pic.setIrq(4, false);
    pic.setIrq(4, true);
    expect(pic.pendingVector()).toBe(0x24);
  });
});

describe('8259A priorities, masking and EOI', () => {
  it('IR0 has the highest priority; a masked request waits; IRR and ISR read back through OCW3', () => {
    const { pic, out, inb } = setup();
    out(0x21, 0x01); // mask IR0
    pic.setIrq(0, true);
    pic.setIrq(5, true);
    expect(pic.pendingVector()).toBe(0x25);
    out(0x20, 0x0a); // OCW3: read IRR
    expect(inb(0x20)).toBe(0x21);
    expect(pic.acknowledge()).toBe(0x25);
    out(0x20, 0x0b); // OCW3: read ISR
    expect(inb(0x20)).toBe(0x20);
    out(0x21, 0x00); // unmask IR0: higher priority than IR5 in service
    expect(pic.pendingVector()).toBe(0x20);
  });

  it('fully nested: an in-service level blocks itself and lower levels until EOI', () => {
    const { pic, out } = setup();
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x23);
    pic.setIrq(5, true);
    expect(pic.pendingVector()).toBeUndefined();
    pic.setIrq(1, true);
    expect(pic.pendingVector()).toBe(0x21); // higher priority interrupts the handler
    expect(pic.acknowledge()).toBe(0x21);
    // Non-specific EOI resets "the highest priority ISR bit": IR1 first.
    out(0x20, 0x20);
    expect(pic.master.isr).toBe(0x08);
    out(0x20, 0x20);
    expect(pic.master.isr).toBe(0);
    expect(pic.acknowledge()).toBe(0x25);
  });

  it('specific EOI resets exactly the named level', () => {
    const { pic, out } = setup();
    pic.setIrq(6, true);
    pic.acknowledge();
    pic.setIrq(1, true);
    pic.acknowledge();
    out(0x20, 0x66); // specific EOI for IR6
    expect(pic.master.isr).toBe(0x02);
  });

  it('rotate on non-specific EOI makes the serviced level the lowest priority', () => {
    const { pic, out } = setup();
    pic.setIrq(0, true);
    pic.acknowledge();
    out(0x20, 0xa0); // rotate on non-specific EOI: IR0 becomes lowest, IR1 highest
    pic.setIrq(0, false);
    pic.setIrq(0, true);
    pic.setIrq(7, true);
    expect(pic.acknowledge()).toBe(0x27);
  });

  it('set priority (OCW2 R=1 SL=1 EOI=0) makes L the lowest; rotate on specific EOI likewise', () => {
    const { pic, out } = setup();
    out(0x20, 0xc4); // IR4 lowest → IR5 highest
    pic.setIrq(4, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x26);
    out(0x20, 0xe6); // rotate on specific EOI of IR6: IR6 lowest → IR7 highest
    expect(pic.master.isr).toBe(0);
    pic.setIrq(6, false);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x24); // IR4 (rank 5) beats IR6 (rank 7)
  });

  it('special mask mode lets lower levels in while a masked level is in service', () => {
    const { pic, out } = setup();
    pic.setIrq(3, true);
    pic.acknowledge(); // IR3 in service
    pic.setIrq(5, true);
    expect(pic.pendingVector()).toBeUndefined();
    out(0x21, 0x08); // mask IR3
    out(0x20, 0x68); // OCW3: set special mask mode
    expect(pic.pendingVector()).toBe(0x25);
    out(0x20, 0x48); // reset special mask mode
    expect(pic.pendingVector()).toBeUndefined();
  });

  it('the poll command reads 1000_0WWW and acknowledges; 0 when nothing requests', () => {
    const { pic, out, inb } = setup();
    out(0x20, 0x0c); // OCW3 P=1
    expect(inb(0x20)).toBe(0);
    pic.setIrq(6, true);
    out(0x20, 0x0c);
    expect(inb(0x20)).toBe(0x86);
    expect(pic.master.isr).toBe(0x40);
    // The next read is an ordinary IRR read again.
    expect(inb(0x20)).toBe(0);
  });
});

describe('8259A cascade, auto-EOI, triggering and spurious interrupts', () => {
  it('a slave request arrives through master IR2 with the slave vector; both chips need EOI', () => {
    const { pic, out } = setup();
    pic.setIrq(12, true);
    expect(pic.pendingVector()).toBe(0x2c);
    expect(pic.acknowledge()).toBe(0x2c);
    expect(pic.master.isr).toBe(0x04);
    expect(pic.slave.isr).toBe(0x10);
    out(0xa0, 0x20);
    out(0x20, 0x20);
    expect(pic.master.isr | pic.slave.isr).toBe(0);
  });

  it('a masked IR2 on the master holds back every slave interrupt', () => {
    const { pic, out } = setup();
    out(0x21, 0x04);
    pic.setIrq(9, true);
    expect(pic.pendingVector()).toBeUndefined();
    out(0x21, 0x00);
    expect(pic.pendingVector()).toBe(0x29);
  });

  it('auto-EOI: "the 8259A will automatically perform a non-specific EOI at the trailing edge of the last INTA pulse"', () => {
    const { pic } = setup({ aeoi: true });
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x23);
    expect(pic.master.isr).toBe(0);
    // Nothing blocks: a lower level is delivered without any EOI.
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x25);
  });

  it('rotate in auto-EOI mode rotates priorities at each acknowledge', () => {
    const { pic, out } = setup({ aeoi: true });
    out(0x20, 0x80); // set rotate in AEOI
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x21); // IR1 now lowest
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x26);
    out(0x20, 0x00); // clear rotate in AEOI
    expect(pic.master.rotateOnAeoi).toBe(false);
  });

  it('edge mode: a request withdrawn before INTA gives the spurious IR7 vector, with no ISR bit set', () => {
    // Datasheet: "If no interrupt request is present at step 4 … (i.e., the request was too
    // short in duration) the 8259A will issue an interrupt level 7."
    const { pic } = setup();
    pic.setIrq(4, true);
    expect(pic.pendingVector()).toBe(0x24); // INT was raised …
    pic.setIrq(4, false); // … but the request went away
    expect(pic.pendingVector()).toBeUndefined();
    expect(pic.acknowledge()).toBe(0x27);
    expect(pic.master.isr).toBe(0); // a spurious IR7 sets no ISR bit: the handler must not EOI
    expect(pic.stats).toEqual({ acks: 1, spurious: 1 });
  });

  it('the slave answers a withdrawn request with its IR7 vector (IRQ 15) while master IR2 is in service', () => {
    const { pic } = setup();
    pic.setIrq(11, true);
    expect(pic.pendingVector()).toBe(0x2b);
    // Direct manipulation of the slave's IRR models the request dropping between the two INTA
    // pulses (the master resolved IR2 at the first pulse, the slave answers the second).
    pic.slave.irr = 0;
    expect(pic.acknowledge()).toBe(0x2f);
    expect(pic.master.isr).toBe(0x04);
    expect(pic.slave.isr).toBe(0);
  });

  it('edge mode: a line held high requests once; it must fall and rise to request again', () => {
    const { pic, out } = setup();
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x21);
    out(0x20, 0x20);
    expect(pic.pendingVector()).toBeUndefined();
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    expect(pic.pendingVector()).toBe(0x21);
  });

  it('level mode (ICW1 LTIM): the request stays as long as the line is high, even after EOI', () => {
    const { pic, out } = setup({ level: true });
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x21);
    out(0x20, 0x20);
    expect(pic.pendingVector()).toBe(0x21);
    pic.setIrq(1, false);
    expect(pic.pendingVector()).toBeUndefined();
  });

  it('ELCR makes single inputs level triggered; reserved bits (IRQ 0–2, 8, 13) stay 0', () => {
    const { pic, out, inb } = setup();
    out(0x4d0, 0xff);
    out(0x4d1, 0xff);
    expect(inb(0x4d0)).toBe(0xf8);
    expect(inb(0x4d1)).toBe(0xde);
    pic.setIrq(10, true);
    expect(pic.acknowledge()).toBe(0x2a);
    out(0xa0, 0x20);
    out(0x20, 0x20);
    expect(pic.pendingVector()).toBe(0x2a); // still high: requested again
  });

  it('onIntr follows the master INT output', () => {
    const { pic, out } = setup();
    const seen: boolean[] = [];
    pic.onIntr = (a) => seen.push(a);
    pic.setIrq(3, true);
    pic.acknowledge();
    out(0x20, 0x20);
    expect(seen).toEqual([true, false]);
  });
});
