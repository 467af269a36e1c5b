/**
 * virtio-net backend (virtio 1.2 §5.1) through the MMIO transport and the virtual switch, driven
 * at register level: features and config (§5.1.3, §5.1.4), transmit from one NIC arriving on
 * another's receive queue with a correct header (§5.1.6), flooding and learning, host receive
 * queue overflow, small buffers, MTU, legacy header, reset.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PcapWriter } from '../../../src/virtio/pcap.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';
import { NET_CONFIG, VirtioNet, type VirtioNetOptions } from '../../../src/virtio/net.ts';
import { VirtualSwitch, formatMac, localMac, parseMac } from '../../../src/virtio/switch.ts';
import { makeGuestMemory } from '../../support/guest-memory.ts';
import { RUNS, SEED } from '../../support/seed.ts';
import { MmioDriver, REG, S } from '../../support/mmio-driver.ts';
import { F_NEXT, F_WRITE, type UsedEntry, VirtqDriver } from '../../support/virtq-driver.ts';

// virtio 1.2 §5.1.3 / §5.1.6, written out independently of src/virtio/net.ts.
const F_MTU = 3;
const F_MAC = 5;
const F_STATUS = 16;
const HDR = 12;
const BCAST = 'ff:ff:ff:ff:ff:ff';

interface Nic {
  mem: ReturnType<typeof makeGuestMemory>;
  net: VirtioNet;
  dev: VirtioMmioDevice;
  mmio: MmioDriver;
  rx: VirtqDriver;
  tx: VirtqDriver;
  irqs: { n: number };
  mac: string;
}

function nic(sw: VirtualSwitch | undefined, index: number, opts: Partial<VirtioNetOptions> & { legacy?: boolean; noEventIdx?: boolean } = {}): Nic {
  const mem = makeGuestMemory(1 << 20);
  const mac = formatMac(localMac(index + 1, 0));
  const net = new VirtioNet({ mac, queueSize: 64, ...opts });
  if (sw !== undefined) net.connect(sw, `dom${index + 1}.eth0`);
  const dev = new VirtioMmioDevice({ name: `eth${index}`, backend: net, mem, log: () => {} });
  const irqs = { n: 0 };
  dev.setInterrupt(() => irqs.n++);
  const mmio = new MmioDriver(dev, mem);
  const r = mmio.init({ accept: (f) => f & ~(opts.legacy === true ? 1n << 32n : 0n) & ~(opts.noEventIdx === true ? 1n << 29n : 0n) });
  expect(r.ok).toBe(true);
  return { mem, net, dev, mmio, rx: r.queues[0]!, tx: r.queues[1]!, irqs, mac };
}

function frame(dst: string, src: string, tag: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.set(parseMac(dst), 0);
  f.set(parseMac(src), 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental EtherType
  for (let i = 14; i < len; i++) f[i] = (tag * 31 + i) & 0xff;
  return f;
}

/** Posts `n` receive buffers of `size` bytes and kicks if the ring says so. */
function postRx(n: Nic, count: number, size = 1526): void {
  for (let i = 0; i < count; i++) expect(n.rx.addChain({ writable: [size] })).toBeDefined();
  if (n.rx.kick()) n.mmio.notify(0);
}

/** Transmits frames as one batch: header and frame in separate descriptors, as Linux does. */
function send(n: Nic, frames: Uint8Array[], opts: { oneDesc?: boolean; hdr?: number } = {}): UsedEntry[] {
  for (const f of frames) {
    const hdr = new Uint8Array(opts.hdr ?? HDR);
    const spec = opts.oneDesc === true ? { readable: [Uint8Array.from([...hdr, ...f])] } : { readable: [hdr, f] };
    expect(n.tx.addChain(spec)).toBeDefined();
  }
  if (n.tx.kick()) n.mmio.notify(1);
  return n.tx.reapUsed();
}

/** Received frames: checks the header of each and returns the frames. */
function received(n: Nic, hdrLen = HDR): Uint8Array[] {
  return n.rx.reapUsed().map((u) => {
    expect(u.len).toBeGreaterThanOrEqual(hdrLen);
    const h = u.written!.subarray(0, hdrLen);
    // §5.1.6.4.1: flags 0 (no GUEST_CSUM), gso_type GSO_NONE, and num_buffers 1 (no MRG_RXBUF).
    const expected = new Uint8Array(hdrLen);
    if (hdrLen === 12) expected[10] = 1;
    expect([...h]).toEqual([...expected]);
    return u.written!.slice(hdrLen);
  });
}

describe('virtio-net features and configuration (§5.1.3, §5.1.4)', () => {
  it('offers MAC, MTU and STATUS only and lays out mac/status/max_virtqueue_pairs/mtu at 0/6/8/10', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0, { mtu: 9000 });
    const f = a.mmio.readFeatures();
    for (const b of [F_MTU, F_MAC, F_STATUS]) expect((f >> BigInt(b)) & 1n).toBe(1n);
    // No offloads, no MRG_RXBUF (15), no CTRL_VQ (17), no MQ (22).
    for (const b of [0, 1, 2, 7, 11, 15, 17, 22]) expect((f >> BigInt(b)) & 1n).toBe(0n);
    const w0 = a.mmio.config32(0);
    const w1 = a.mmio.config32(4);
    const w2 = a.mmio.config32(8);
    const mac = [w0 & 0xff, (w0 >>> 8) & 0xff, (w0 >>> 16) & 0xff, w0 >>> 24, w1 & 0xff, (w1 >>> 8) & 0xff];
    expect(mac).toEqual([...parseMac(a.mac)]);
    expect(w1 >>> 16).toBe(1); // status: VIRTIO_NET_S_LINK_UP
    expect(w2 & 0xffff).toBe(1); // max_virtqueue_pairs
    expect(w2 >>> 16).toBe(9000); // mtu
    expect(NET_CONFIG).toMatchObject({ MAC: 0, STATUS: 6, MAX_VIRTQUEUE_PAIRS: 8, MTU: 10 });
  });

  it('reports the link down when unplugged, with a configuration change interrupt and a new generation', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const gen = a.mmio.r(REG.CONFIG_GENERATION);
    a.net.disconnect();
    expect(a.mmio.config32(4) >>> 16).toBe(0);
    expect(a.mmio.r(REG.CONFIG_GENERATION)).not.toBe(gen);
    expect(a.mmio.ackInterrupt() & 2).toBe(2);
    a.net.connect(sw, 'again');
    a.net.setLink(false);
    expect(a.net.linkUp).toBe(false);
    a.net.setLink(true);
    expect(a.mmio.config32(4) >>> 16).toBe(1);
  });

  it('refuses an MTU outside 68..65535 (§5.1.4.1)', () => {
    expect(() => new VirtioNet({ mac: '02:00:00:00:00:01', mtu: 67 })).toThrow();
    expect(() => new VirtioNet({ mac: '02:00:00:00:00:01', mtu: 65536 })).toThrow();
  });
});

describe('virtio-net data path through the switch', () => {
  it('a frame sent by one NIC arrives on the other with a 12-byte header, num_buffers = 1', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    postRx(b, 4);
    const f = frame(b.mac, a.mac, 1, 100);
    const done = send(a, [f]);
    // The transmit chain completes with used length 0 (nothing written, §5.1.6.2).
    expect(done.map((u) => u.len)).toEqual([0]);
    const got = received(b);
    expect(got.length).toBe(1);
    expect([...got[0]!]).toEqual([...f]);
    expect(a.net.stats).toMatchObject({ txFrames: 1, txBytes: 100 });
    expect(b.net.stats).toMatchObject({ rxFrames: 1, rxBytes: 100 });
  });

  it('a batch of frames makes one receive interrupt; a one-descriptor header+frame works too', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    postRx(b, 8);
    b.mmio.ackInterrupt();
    const before = b.irqs.n;
    const frames = [1, 2, 3].map((t) => frame(b.mac, a.mac, t, 60 + t));
    send(a, frames, { oneDesc: true });
    expect(b.irqs.n - before).toBe(1);
    expect(b.mmio.ackInterrupt() & 1).toBe(1);
    expect(received(b).map((x) => [...x])).toEqual(frames.map((x) => [...x]));
  });

  // The transmit path hands the switch a view of the sender's guest memory (one copy guest to
  // guest). A frame that has to wait for a receive buffer must therefore be copied: once the
  // transmit chain is completed, the sender may reuse the buffer.
  it('a frame waiting for a receive buffer keeps its bytes after the sender reuses its transmit buffer', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    for (const oneDesc of [false, true]) {
      const f = frame(b.mac, a.mac, oneDesc ? 7 : 8, 300);
      const spec = oneDesc ? { readable: [Uint8Array.from([...new Uint8Array(HDR), ...f])] } : { readable: [new Uint8Array(HDR), f] };
      const head = a.tx.addChain(spec)!;
      // The frame's buffer: the head descriptor (one descriptor) or the one it chains to.
      const dv = new DataView(a.mem.u8.buffer);
      const d0 = a.tx.descAddr(head);
      const d = oneDesc ? d0 : a.tx.descAddr(dv.getUint16(d0 + 14, true));
      const addr = dv.getUint32(d, true);
      const len = dv.getUint32(d + 8, true);
      if (a.tx.kick()) a.mmio.notify(1);
      expect(a.tx.reapUsed().map((u) => u.id)).toEqual([head]);
      expect(b.net.rxQueued).toBe(1); // no buffer posted: the frame waits in the device
      a.mem.u8.fill(0xee, addr, addr + len); // the sender reuses its buffer
      postRx(b, 1);
      expect(received(b).map((x) => [...x])).toEqual([[...f]]);
    }
  });

  it('a frame scattered over several transmit descriptors arrives whole', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    postRx(b, 2);
    const f = frame(b.mac, a.mac, 9, 1000);
    // Header split across two descriptors, frame across three (§2.6.4: framing is free).
    const parts = [new Uint8Array(5), new Uint8Array(HDR - 5 + 100), f.subarray(100, 101), f.subarray(101)];
    parts[1]!.set(f.subarray(0, 100), HDR - 5);
    expect(a.tx.addChain({ readable: parts })).toBeDefined();
    if (a.tx.kick()) a.mmio.notify(1);
    a.tx.reapUsed();
    expect(received(b).map((x) => [...x])).toEqual([[...f]]);
  });

  it('floods broadcast to every other NIC, learns, then unicasts to the learned port only', () => {
    const sw = new VirtualSwitch('sw0');
    const [a, b, c] = [nic(sw, 0), nic(sw, 1), nic(sw, 2)];
    for (const n of [a, b, c]) postRx(n, 8);
    send(a, [frame(BCAST, a.mac, 1)]);
    expect(received(a).length).toBe(0); // never back to the sender
    expect(received(b).length).toBe(1);
    expect(received(c).length).toBe(1);
    // Unknown unicast floods too; B's reply teaches the switch where B is.
    send(a, [frame(b.mac, a.mac, 2)]);
    expect(received(c).length).toBe(1);
    expect(received(b).length).toBe(1);
    send(b, [frame(a.mac, b.mac, 3)]);
    expect(received(a).length).toBe(1);
    expect(received(c).length).toBe(0); // A was learned from its broadcast
    send(a, [frame(b.mac, a.mac, 4)]);
    expect(received(b).length).toBe(1);
    expect(received(c).length).toBe(0);
    expect(sw.lookup(b.mac)).toBe(b.net.switchPort);
  });

  it.each([true, false])('holds frames until buffers are posted, and drops and counts them when the host queue is full (EVENT_IDX %s)', (ev) => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0, { noEventIdx: !ev });
    const b = nic(sw, 1, { rxQueueFrames: 4, noEventIdx: !ev });
    const frames = [0, 1, 2, 3, 4, 5].map((t) => frame(b.mac, a.mac, t));
    send(a, frames);
    expect(b.net.rxQueued).toBe(4);
    expect(b.net.stats.rxQueueDrops).toBe(2);
    expect(b.net.switchPort!.stats.outDropped).toBe(2);
    expect(a.net.stats.txFrames).toBe(6); // the sender's transmit side never blocks
    b.mmio.ackInterrupt();
    const before = b.irqs.n;
    postRx(b, 8);
    // The posted buffers take the four queued frames, oldest first, under one interrupt.
    expect(b.irqs.n - before).toBe(1);
    expect(received(b).map((x) => [...x])).toEqual(frames.slice(0, 4).map((x) => [...x]));
    expect(b.net.rxQueued).toBe(0);
  });

  it('a receive buffer too small for the frame is returned with length 0 and the frame is dropped', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    postRx(b, 1, 50);
    postRx(b, 1);
    send(a, [frame(b.mac, a.mac, 1, 100), frame(b.mac, a.mac, 2, 100)]);
    const used = b.rx.reapUsed();
    expect(used.map((u) => u.len)).toEqual([0, HDR + 100]);
    expect(b.net.stats.rxTooBig).toBe(1);
  });

  it('drops (but completes) transmit chains over MTU + 14 or shorter than header + Ethernet header', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0, { mtu: 100 });
    const b = nic(sw, 1);
    postRx(b, 4);
    const done = send(a, [frame(b.mac, a.mac, 1, 115), frame(b.mac, a.mac, 2, 114), new Uint8Array(10)]);
    expect(done.length).toBe(3);
    expect(a.net.stats).toMatchObject({ txFrames: 1, txDropped: 2 });
    expect(received(b).map((x) => x.length)).toEqual([114]);
  });

  it('uses the 10-byte legacy header when VIRTIO_F_VERSION_1 is not negotiated', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0, { legacy: true });
    const b = nic(sw, 1, { legacy: true });
    postRx(b, 2);
    const f = frame(b.mac, a.mac, 7);
    send(a, [f], { hdr: 10 });
    const got = received(b, 10);
    expect([...got[0]!]).toEqual([...f]);
  });

  it('a device reset empties the host receive queue; frames before DRIVER_OK wait for it', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    send(a, [frame(b.mac, a.mac, 1)]);
    expect(b.net.rxQueued).toBe(1);
    b.mmio.w(REG.STATUS, 0);
    expect(b.net.rxQueued).toBe(0);
    // Re-initialise up to FEATURES_OK (init() starts with its own reset), then a frame arrives
    // while the driver is still setting up, then the queues and DRIVER_OK.
    const r = b.mmio.init({ stopAfterFeatures: true });
    expect(r.ok).toBe(true);
    send(a, [frame(b.mac, a.mac, 2)]);
    expect(b.net.rxQueued).toBe(1);
    const eventIdx = ((r.features >> 29n) & 1n) === 1n;
    const rx = new VirtqDriver(b.mmio.mem, { size: 64, base: 0x1000, eventIdx, dataEnd: 0x40000 });
    const tx = new VirtqDriver(b.mmio.mem, { size: 64, base: 0x41000, eventIdx, dataEnd: 0x80000 });
    b.mmio.setupQueue(0, rx);
    b.mmio.setupQueue(1, tx);
    b.mmio.addStatus(S.DRIVER_OK);
    expect(b.net.rxQueued).toBe(1); // no buffers yet
    expect(rx.addChain({ writable: [1526] })).toBeDefined();
    if (rx.kick()) b.mmio.notify(0);
    const used = rx.reapUsed();
    expect(used.length).toBe(1);
    expect(used[0]!.written![HDR + 14]).toBe(frame(b.mac, a.mac, 2)[14]);
  });

  it('malformed chains are completed with length 0: a receive frame waits for the next buffer, a transmit is dropped', () => {
    const sw = new VirtualSwitch('sw0');
    const a = nic(sw, 0);
    const b = nic(sw, 1);
    // Descriptor 63 (never handed out by addChain here) chains to a descriptor outside the table.
    b.rx.writeDesc(63, { addr: 0x30000, len: 1526, flags: F_NEXT | F_WRITE, next: 999 });
    b.rx.addHead(63);
    postRx(b, 1);
    const f = frame(b.mac, a.mac, 5);
    send(a, [f]);
    const used = b.rx.reapUsed();
    expect(used.map((u) => [u.id, u.len])).toEqual([
      [63, 0],
      [used[1]!.id, HDR + f.length],
    ]);
    expect(b.net.stats).toMatchObject({ rxMalformed: 1, rxFrames: 1 });
    a.tx.writeDesc(63, { addr: 0x70000, len: 100, flags: F_NEXT, next: 999 });
    a.tx.addHead(63);
    if (a.tx.kick()) a.mmio.notify(1);
    expect(a.tx.reapUsed().map((u) => [u.id, u.len])).toEqual([[63, 0]]);
    expect(a.net.stats.txDropped).toBe(1);
    expect(a.dev.deviceStatus & 64).toBe(0); // a bad chain is not a corrupt ring: no NEEDS_RESET
  });

  it('a NIC without a switch port counts its transmissions as no-carrier', () => {
    const a = nic(undefined, 0);
    expect(a.mmio.config32(4) >>> 16).toBe(0); // link down
    send(a, [frame(BCAST, a.mac, 1)]);
    expect(a.net.stats.txNoCarrier).toBe(1);
  });

  it(`random send/post interleavings: every frame is delivered in order or counted as dropped; pcap sees each once (seed ${SEED})`, () => {
    type Cmd = { kind: 'send'; lens: number[] } | { kind: 'post'; sizes: number[] };
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), lens: fc.array(fc.integer({ min: 14, max: 1514 }), { minLength: 1, maxLength: 6 }) }),
      fc.record({ kind: fc.constant('post' as const), sizes: fc.array(fc.constantFrom(1526, 1526, 200, 40), { minLength: 1, maxLength: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 30 }), fc.boolean(), fc.integer({ min: 1, max: 8 }), (cmds, ev, limit) => {
        const sw = new VirtualSwitch('sw0');
        const cap = PcapWriter.inMemory();
        cap.attach(sw);
        const a = nic(sw, 0, { noEventIdx: !ev });
        const b = nic(sw, 1, { noEventIdx: !ev, rxQueueFrames: limit });
        const sent: Uint8Array[] = [];
        const got: Uint8Array[] = [];
        let posted = 0;
        let returned = 0;
        for (const c of cmds) {
          if (c.kind === 'send') {
            const batch = c.lens.map((n, k) => frame(b.mac, a.mac, sent.length + k, n));
            sent.push(...batch);
            expect(send(a, batch).length).toBe(batch.length);
          } else {
            // Stay within the 64-entry ring: at most 64 buffers outstanding.
            const room = 64 - (posted - returned);
            const sizes = c.sizes.slice(0, room);
            for (const n of sizes) expect(b.rx.addChain({ writable: [n] })).toBeDefined();
            if (b.rx.kick()) b.mmio.notify(0);
            posted += sizes.length;
          }
          for (const u of b.rx.reapUsed()) {
            returned++;
            if (u.len === 0) continue; // buffer too small: frame dropped
            expect(u.written![10]).toBe(1); // num_buffers
            got.push(u.written!.slice(HDR));
          }
        }
        const st = b.net.stats;
        expect(st.rxFrames + st.rxQueueDrops + st.rxTooBig + b.net.rxQueued).toBe(sent.length);
        expect(got.length).toBe(st.rxFrames);
        // Delivered frames are a subsequence of the sent ones, in order.
        let i = 0;
        for (const g of got) {
          while (i < sent.length && (sent[i]!.length !== g.length || sent[i]![14] !== g[14])) i++;
          expect(i).toBeLessThan(sent.length);
          i++;
        }
        expect(cap.packets).toBe(sent.length);
      }),
      { seed: SEED, numRuns: Math.max(20, Math.floor(RUNS / 4)) },
    );
  });
});
