/**
 * The PC wiring of the legacy devices (LegacyPlatform, the core's LegacyMachine) and the
 * debug-exit port: which ports and IRQs each device gets, console buffering, power-off, the
 * timer deadline and the wake-up callback.
 */
import { describe, expect, it } from 'vitest';
import { DebugExit } from '../../../src/legacy/debug-exit.ts';
import { LegacyPlatform } from '../../../src/legacy/platform.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';
import { MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import { parseMac } from '../../../src/virtio/switch.ts';

function setup() {
  const clock = { now: 0 };
  const chunks: string[] = [];
  const offs: number[] = [];
  const pc = new LegacyPlatform({
    clock: () => clock.now,
    console: (b) => chunks.push(new TextDecoder().decode(b)),
    powerOff: (c) => offs.push(c),
    disk: new MemoryDiskImage(64 * 512),
    nicMac: parseMac('02:00:00:00:00:01'),
  });
  const out = (p: number, v: number) => pc.ports.write(p, 1, v);
  const inb = (p: number) => pc.ports.read(p, 1);
  const initPic = () => {
    for (const [cmd, data, base, wiring] of [
      [0x20, 0x21, 0x20, 0x04],
      [0xa0, 0xa1, 0x28, 0x02],
    ] as const) {
      out(cmd, 0x11);
      out(data, base);
      out(data, wiring);
      out(data, 0x01);
    }
  };
  return { pc, clock, chunks, offs, out, inb, initPic };
}

describe('LegacyPlatform', () => {
  it('maps the PC ports', () => {
    const { pc } = setup();
    expect(pc.ports.mappings.map((m) => [m.name, m.base, m.length])).toEqual([
      ['pic-master', 0x20, 2],
      ['pic-slave', 0xa0, 2],
      ['pic-elcr', 0x4d0, 2],
      ['pit', 0x40, 4],
      ['uart', 0x3f8, 8],
      ['debug-exit', 0xf4, 1],
      ['ata0-data', 0x1f0, 1],
      ['ata0', 0x1f1, 7],
      ['ata0-ctl', 0x3f6, 1],
      ['ne2000', 0x300, 16],
      ['ne2000-data', 0x310, 8],
      ['ne2000-reset', 0x318, 8],
    ]);
  });

  it('wires COM1 to IRQ 4, ATA to IRQ 14 and the NE2000 to IRQ 10 (spec legacyPlatform), and calls onInterrupt when INT rises', () => {
    const { pc, out, inb, initPic } = setup();
    let wakes = 0;
    pc.onInterrupt = () => wakes++;
    initPic();
    out(0x3fc, 0x08); // UART OUT2
    out(0x3f9, 0x02); // THRE interrupt
    expect(wakes).toBe(1);
    expect(pc.acknowledge()).toBe(0x24);
    inb(0x3fa); // IIR read clears THRE
    out(0x20, 0x20);
    out(0x1f7, 0xe7); // ATA FLUSH CACHE completes with INTRQ
    expect(pc.pendingVector()).toBe(0x2e);
    pc.acknowledge();
    inb(0x1f7);
    out(0xa0, 0x20);
    out(0x20, 0x20);
    pc.nic!.reset();
    out(0x30f, 0x80); // nothing in IMR bit 7: RST does not interrupt
    expect(pc.pendingVector()).toBeUndefined();
    out(0x300, 0x22);
    out(0x30f, 0x40);
    out(0x30a, 1);
    out(0x30b, 0);
    out(0x300, 0x12); // remote write of one byte → RDC
    out(0x310, 0);
    expect(pc.pendingVector()).toBe(0x2a);
    expect(wakes).toBe(3);
  });

  it('buffers COM1 output until a newline or flush()', () => {
    const { pc, out, chunks } = setup();
    for (const c of 'ab\ncd') out(0x3f8, c.charCodeAt(0));
    expect(chunks).toEqual(['ab\n']);
    pc.flush();
    expect(chunks).toEqual(['ab\n', 'cd']);
    pc.flush();
    expect(chunks).toHaveLength(2);
  });

  it('the debug-exit port flushes the console and powers off with the written code', () => {
    const { out, chunks, offs } = setup();
    out(0x3f8, 0x41);
    out(0xf4, 7);
    expect(chunks).toEqual(['A']);
    expect(offs).toEqual([7]);
  });

  it('nextDeadline is Infinity until the PIT counts, then the next IRQ 0 edge; sync presents it', () => {
    const { pc, out, clock, initPic } = setup();
    initPic();
    expect(pc.nextDeadline()).toBe(Infinity);
    out(0x43, 0x34);
    out(0x40, 0x9c);
    out(0x40, 0x2e); // 11932: 100 Hz
    const t = pc.nextDeadline();
    expect(t).toBe(Math.ceil((11932 * 1e9) / 1193182));
    clock.now = t;
    pc.sync(t);
    expect(pc.pendingVector()).toBe(0x20);
  });
});

describe('DebugExit', () => {
  it('reads all ones at every width and passes the written value on', () => {
    const codes: number[] = [];
    const bus = new PortBus();
    new DebugExit((c) => codes.push(c), 0x501).register(bus);
    expect(bus.read(0x501, 2)).toBe(0xffff);
    bus.write(0x501, 2, 0x1234);
    expect(codes).toEqual([0x1234]);
  });
});
