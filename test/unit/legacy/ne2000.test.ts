/**
 * NE2000 (DP8390 + NE2000 remote DMA) at register level (National DP8390D datasheet, NE2000
 * memory map): reset, PROM, remote DMA read/write with RDC and ring wrap, transmit into the
 * virtual switch, the receive ring (header, FCS, wrap at PSTOP, overflow), address filtering,
 * ISR/IMR, page registers, loopback, and a driver-style property over random traffic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingIrqLine } from '../../../src/legacy/irq.ts';
import {
  ISR_OVW,
  ISR_PRX,
  ISR_PTX,
  ISR_RDC,
  ISR_RST,
  Ne2000,
  RSR_PHY,
  RSR_PRX,
  crc32,
  multicastHash,
} from '../../../src/legacy/ne2000.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';
import { type SwitchEndpoint, VirtualSwitch, parseMac } from '../../../src/virtio/switch.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const BASE = 0x300;
const MAC = parseMac('02:00:00:00:00:01');
const PEER = parseMac('02:00:00:00:00:02');
const PSTART = 0x46;
const PSTOP = 0x80;

class Probe implements SwitchEndpoint {
  got: Uint8Array[] = [];
  receive(f: Uint8Array): boolean {
    this.got.push(f.slice());
    return true;
  }
}

/** The frames as hex strings: cheap to compare, readable when they differ. */
function hex(frames: Uint8Array[]): string[] {
  return frames.map((f) => Buffer.from(f).toString('hex'));
}

function frame(dst: Uint8Array, len: number, tag: number, src = PEER): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  for (let i = 14; i < len; i++) f[i] = (i + tag) & 0xff;
  return f;
}

function setup(opts: { word?: boolean } = {}) {
  const irq = new RecordingIrqLine();
  const nic = new Ne2000({ mac: MAC, irq });
  const bus = new PortBus();
  nic.register(bus);
  const sw = new VirtualSwitch('sw');
  const port = sw.attach('nic', nic);
  nic.connect(port);
  const probe = new Probe();
  const peer = sw.attach('peer', probe);
  const out = (off: number, v: number) => bus.write(BASE + off, 1, v);
  const inb = (off: number) => bus.read(BASE + off, 1);
  const word = opts.word ?? true;

  /** The 8390.c-style bring-up: stop, DCR, ring, station address, start. */
  const init = () => {
    inb(0x1f); // reset port
    out(0x00, 0x21); // page 0, STP, abort DMA
    out(0x0e, word ? 0x49 : 0x48); // DCR: (WTS), LS normal, FIFO threshold 8
    out(0x0a, 0);
    out(0x0b, 0);
    out(0x0c, 0x04); // RCR: accept broadcast
    out(0x0d, 0x00); // TCR normal
    out(0x01, PSTART);
    out(0x02, PSTOP);
    out(0x03, PSTART); // BNRY
    out(0x07, 0xff); // clear ISR
    out(0x0f, 0x00); // IMR
    out(0x00, 0x61); // page 1, STP
    for (let i = 0; i < 6; i++) out(0x01 + i, MAC[i]!);
    out(0x07, PSTART + 1); // CURR
    out(0x00, 0x22); // page 0, STA
  };
  const dmaRead = (addr: number, len: number): Uint8Array => {
    out(0x08, addr & 0xff);
    out(0x09, addr >> 8);
    out(0x0a, len & 0xff);
    out(0x0b, len >> 8);
    out(0x00, 0x0a); // remote read, start
    const b = new Uint8Array(len);
    if (word) bus.readString(BASE + 0x10, 2, b.subarray(0, len & ~1));
    else bus.readString(BASE + 0x10, 1, b);
    if (word && len & 1) b[len - 1] = bus.read(BASE + 0x10, 2) & 0xff;
    return b;
  };
  const dmaWrite = (addr: number, data: Uint8Array) => {
    out(0x08, addr & 0xff);
    out(0x09, addr >> 8);
    out(0x0a, data.length & 0xff);
    out(0x0b, data.length >> 8);
    out(0x00, 0x12); // remote write, start
    if (word) bus.writeString(BASE + 0x10, 2, data.length & 1 ? Uint8Array.from([...data, 0]) : data);
    else bus.writeString(BASE + 0x10, 1, data);
  };
  const send = (f: Uint8Array) => {
    dmaWrite(0x4000, f);
    out(0x04, 0x40); // TPSR
    out(0x05, f.length & 0xff);
    out(0x06, f.length >> 8);
    out(0x00, 0x26); // STA | TXP | abort DMA
  };
  /** Takes every frame out of the ring the way 8390.c does; returns the frames (FCS stripped). */
  const drain = (): Uint8Array[] => {
    const frames: Uint8Array[] = [];
    for (;;) {
      out(0x00, 0x62);
      const curr = inb(0x07);
      out(0x00, 0x22);
      let next = inb(0x03) + 1;
      if (next >= PSTOP) next = PSTART;
      if (next === curr) return frames;
      const h = dmaRead(next << 8, 4);
      const count = h[2]! | (h[3]! << 8);
      const data = dmaRead((next << 8) + 4, count);
      const f = data.subarray(0, count - 4);
      const fcs = (data[count - 4]! | (data[count - 3]! << 8) | (data[count - 2]! << 16) | (data[count - 1]! << 24)) >>> 0;
      if (crc32(f) !== fcs) throw new Error(`bad FCS on the frame at page ${next}`);
      frames.push(f.slice());
      let bnry = h[1]! - 1;
      if (bnry < PSTART) bnry = PSTOP - 1;
      out(0x03, bnry);
    }
  };
  return { nic, irq, bus, out, inb, init, dmaRead, dmaWrite, send, drain, probe, peer, sw };
}

describe('NE2000 reset, PROM and remote DMA', () => {
  it('the reset port stops the NIC: CR = 21h, ISR RST set', () => {
    const { inb, init, out } = setup();
    init();
    expect(inb(0x07) & ISR_RST).toBe(0); // cleared by the start command
    inb(0x1f);
    expect(inb(0x00)).toBe(0x21);
    expect(inb(0x07) & ISR_RST).toBe(ISR_RST);
    out(0x07, 0xff); // RST cannot be cleared by writing it
    expect(inb(0x07) & ISR_RST).toBe(ISR_RST);
  });

  it('the station address PROM reads with every byte doubled and the NE2000 signature 57h at bytes 14–15', () => {
    const { init, dmaRead } = setup({ word: false });
    init();
    const prom = dmaRead(0, 32);
    expect([...prom.subarray(0, 12)]).toEqual([...MAC].flatMap((b) => [b, b]));
    expect([...prom.subarray(28, 32)]).toEqual([0x57, 0x57, 0x57, 0x57]);
  });

  it('remote DMA write then read returns the bytes; RDC is set when the byte count reaches zero', () => {
    const { init, dmaRead, dmaWrite, inb, out } = setup();
    init();
    const data = Uint8Array.from({ length: 100 }, (_, i) => i * 3);
    dmaWrite(0x5000, data);
    expect(inb(0x07) & ISR_RDC).toBe(ISR_RDC);
    out(0x07, ISR_RDC);
    expect(dmaRead(0x5000, 100)).toEqual(data);
    expect(inb(0x07) & ISR_RDC).toBe(ISR_RDC);
  });

  it('remote DMA wraps from PSTOP to PSTART, as the receive ring does', () => {
    const { init, dmaRead, dmaWrite } = setup();
    init();
    const data = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    dmaWrite((PSTOP << 8) - 32, data);
    expect(dmaRead(PSTART << 8, 32)).toEqual(data.subarray(32));
    expect(dmaRead((PSTOP << 8) - 32, 64)).toEqual(data);
  });

  it('addresses outside the PROM and packet RAM read FFh', () => {
    const { init, dmaRead } = setup({ word: false });
    init();
    expect([...dmaRead(0x8000, 2)]).toEqual([0xff, 0xff]);
  });
});

describe('NE2000 transmit', () => {
  it('sends TBCR bytes from page TPSR into the switch; PTX in ISR and TSR; IRQ when unmasked', () => {
    const { init, send, probe, inb, out, irq, nic } = setup();
    init();
    out(0x0f, ISR_PTX);
    const f = frame(PEER, 100, 1, MAC);
    send(f);
    expect(probe.got).toEqual([f]);
    expect(inb(0x07) & ISR_PTX).toBe(ISR_PTX);
    expect(inb(0x04) & 1).toBe(1);
    expect(inb(0x00) & 0x04).toBe(0); // TXP cleared when done
    expect(irq.level).toBe(true);
    out(0x07, ISR_PTX); // write 1 to clear
    expect(irq.level).toBe(false);
    expect(nic.stats.txFrames).toBe(1);
  });

  it('does not transmit while stopped', () => {
    const { init, dmaWrite, probe, out, inb } = setup();
    init();
    dmaWrite(0x4000, frame(PEER, 60, 0, MAC));
    out(0x04, 0x40);
    out(0x05, 60);
    out(0x06, 0);
    out(0x00, 0x25); // STP | TXP
    expect(probe.got).toEqual([]);
    expect(inb(0x07) & ISR_PTX).toBe(0);
  });

  it('TCR loopback returns the frame to our own receiver instead of the wire', () => {
    const { init, send, probe, out, drain } = setup();
    init();
    out(0x0d, 0x02);
    const f = frame(MAC, 80, 7);
    send(f);
    expect(probe.got).toEqual([]);
    expect(drain()).toEqual([f]);
  });
});

describe('NE2000 receive ring', () => {
  it('stores header (RSR, next page, count incl. FCS), data and FCS at CURR, advances CURR, sets PRX', () => {
    const { init, peer, dmaRead, inb, out, irq } = setup();
    init();
    out(0x0f, ISR_PRX);
    const f = frame(parseMac('ff:ff:ff:ff:ff:ff'), 300, 2);
    peer.send(f);
    const h = dmaRead((PSTART + 1) << 8, 4);
    expect(h[0]).toBe(RSR_PRX | RSR_PHY); // broadcast: PHY = 1
    expect(h[1]).toBe(PSTART + 1 + 2); // 4 + 300 + 4 = 308 bytes → 2 pages
    expect(h[2]! | (h[3]! << 8)).toBe(304);
    expect(dmaRead(((PSTART + 1) << 8) + 4, 300)).toEqual(f);
    const fcs = dmaRead(((PSTART + 1) << 8) + 304, 4);
    expect((fcs[0]! | (fcs[1]! << 8) | (fcs[2]! << 16) | (fcs[3]! << 24)) >>> 0).toBe(crc32(f));
    out(0x00, 0x62);
    expect(inb(0x07)).toBe(PSTART + 3);
    out(0x00, 0x22);
    expect(inb(0x07) & ISR_PRX).toBe(ISR_PRX);
    expect(irq.level).toBe(true);
  });

  it('a frame crossing PSTOP wraps to PSTART (ring wrap) and reads back whole', () => {
    const { init, peer, out, drain, dmaRead } = setup();
    init();
    // Move the ring pointers near the end: BNRY = 7Dh, CURR = 7Eh (two pages before PSTOP).
    out(0x03, 0x7d);
    out(0x00, 0x62);
    out(0x07, 0x7e);
    out(0x00, 0x22);
    const f = frame(MAC, 1000, 3);
    peer.send(f);
    const h = dmaRead(0x7e00, 4);
    expect(h[1]).toBe(PSTART + 2); // 1008 bytes = 4 pages: 7Eh, 7Fh, then 46h, 47h → next 48h
    expect(dmaRead(PSTART << 8, 8)).toEqual(f.subarray(508, 516)); // data continued at PSTART
    expect(drain()).toEqual([f]);
  });

  it('overflow: a full ring drops frames with OVW and the missed-packet tally; reception resumes when BNRY frees room', () => {
    const { init, peer, inb, out, drain, nic } = setup();
    init();
    const frames: Uint8Array[] = [];
    // Ring of 58 pages minus the page at BNRY: 1500-byte frames take 6 pages → 9 fit.
    for (let i = 0; i < 11; i++) {
      const f = frame(MAC, 1500, i);
      frames.push(f);
      peer.send(f);
    }
    expect(nic.stats.rxFrames).toBe(9);
    expect(inb(0x07) & (ISR_OVW | ISR_RST)).toBe(ISR_OVW | ISR_RST);
    expect(inb(0x0f)).toBe(2); // CNTR2: missed packets
    expect(inb(0x0f)).toBe(0); // cleared when read
    expect(hex(drain())).toEqual(hex(frames.slice(0, 9)));
    out(0x07, ISR_OVW);
    const g = frame(MAC, 200, 99);
    peer.send(g);
    expect(drain()).toEqual([g]);
  });

  it('short frames are padded to 60 bytes (the sending MAC pads on the wire)', () => {
    const { init, peer, dmaRead } = setup();
    init();
    const f = frame(MAC, 42, 4);
    peer.send(f);
    const h = dmaRead((PSTART + 1) << 8, 4);
    expect(h[2]! | (h[3]! << 8)).toBe(64);
    expect(dmaRead(((PSTART + 1) << 8) + 4, 60)).toEqual(Uint8Array.from([...f, ...new Uint8Array(18)]));
  });

  it('address filter: other unicast dropped unless PRO; broadcast needs AB; multicast needs AM and its MAR bit', () => {
    const { init, peer, out, drain, nic } = setup();
    init();
    const other = frame(parseMac('02:00:00:00:00:09'), 60, 0);
    peer.send(other);
    expect(drain()).toEqual([]);
    out(0x0c, 0x14); // PRO | AB
    peer.send(other);
    expect(drain()).toEqual([other]);
    out(0x0c, 0x00);
    peer.send(frame(parseMac('ff:ff:ff:ff:ff:ff'), 60, 0));
    expect(drain()).toEqual([]);
    const mc = parseMac('01:00:5e:00:00:01');
    const m = frame(mc, 60, 5);
    out(0x0c, 0x08); // AM
    peer.send(m);
    expect(drain()).toEqual([]); // MAR all zero
    const h = multicastHash(mc);
    out(0x00, 0x62);
    out(0x08 + (h >> 3), 1 << (h & 7));
    out(0x00, 0x22);
    peer.send(m);
    expect(drain()).toEqual([m]);
    expect(nic.stats.rxFiltered).toBe(3);
  });

  it('copies the borrowed frame: changing it after delivery does not change what the guest reads', () => {
    const { init, nic, drain } = setup();
    init();
    const f = frame(MAC, 100, 6);
    const copy = f.slice();
    nic.receive(f);
    f.fill(0);
    nic.flush();
    expect(drain()).toEqual([copy]);
  });

  it('drops frames while stopped and refuses them when its queue is full', () => {
    const { init, nic, out } = setup();
    init();
    out(0x00, 0x21);
    expect(nic.receive(frame(MAC, 60, 0))).toBe(false);
    out(0x00, 0x22);
    for (let i = 0; i < 64; i++) expect(nic.receive(frame(MAC, 60, i))).toBe(true);
    expect(nic.receive(frame(MAC, 60, 0))).toBe(false);
  });
});

describe('NE2000 registers', () => {
  it('page 1 holds PAR0–5, CURR, MAR0–7; page 2 reads back PSTART, PSTOP, TPSR, RCR, TCR, DCR, IMR', () => {
    const { init, out, inb } = setup();
    init();
    out(0x00, 0x62);
    expect([1, 2, 3, 4, 5, 6].map((r) => inb(r))).toEqual([...MAC]);
    out(0x0f, 0xa5);
    expect(inb(0x0f)).toBe(0xa5);
    out(0x00, 0x22);
    out(0x04, 0x40);
    out(0x0f, 0x11);
    out(0x00, 0xa2); // page 2
    expect([inb(0x01), inb(0x02), inb(0x04), inb(0x0c) & 0x3f, inb(0x0d) & 0x1f, inb(0x0e) & 0x7f, inb(0x0f) & 0x7f]).toEqual([PSTART, PSTOP, 0x40, 0x04, 0x00, 0x49, 0x11]);
  });

  it('IMR gates the interrupt line: ISR bits stay, the line follows ISR & IMR', () => {
    const { init, peer, out, irq } = setup();
    init();
    peer.send(frame(MAC, 60, 0));
    expect(irq.level).toBe(false);
    out(0x0f, ISR_PRX);
    expect(irq.level).toBe(true);
    out(0x0f, 0);
    expect(irq.level).toBe(false);
  });

  it('crc32 is the IEEE 802.3 CRC ("123456789" → CBF43926h); the multicast hash is its top 6 bits, MSB-first', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    // The MSB-first register over LSB-first data is the bit reversal of the reflected register.
    const rev6 = (x: number) => {
      let r = 0;
      for (let i = 0; i < 6; i++) r |= ((x >> i) & 1) << (5 - i);
      return r;
    };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (mac) => {
        expect(multicastHash(mac)).toBe(rev6((crc32(mac) ^ 0xffffffff) & 0x3f));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('NE2000 traffic property', () => {
  it(`random frame sizes and drain points: every frame that fits is received intact and in order, the rest counted (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 14, max: 1514 }), drain: fc.boolean() }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        (steps, word) => {
          const t = setup({ word });
          t.init();
          const got: Uint8Array[] = [];
          let sent = 0;
          const expected: Uint8Array[] = [];
          steps.forEach((s, i) => {
            const f = frame(MAC, s.len, i);
            const before = t.nic.stats.rxFrames;
            t.peer.send(f);
            if (t.nic.stats.rxFrames > before) expected.push(f.length < 60 ? Uint8Array.from([...f, ...new Uint8Array(60 - f.length)]) : f);
            sent++;
            if (s.drain) got.push(...t.drain());
          });
          got.push(...t.drain());
          expect(hex(got)).toEqual(hex(expected));
          expect(t.nic.stats.rxFrames + t.nic.stats.rxOverflow).toBe(sent);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
