/**
 * virtio-console backend (virtio 1.2 §5.3), port 0 only, through the MMIO transport: features and
 * config (§5.3.3, §5.3.4), transmit to the sink, host input into receive buffers (split across
 * buffers, held until buffers are posted, bounded), emergency write, resize, host sink failure.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { CONSOLE_CONFIG, MemorySink, VirtioConsole, type VirtioConsoleOptions, fileSink, streamSink } from '../../../src/virtio/console.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';
import { makeGuestMemory } from '../../support/guest-memory.ts';
import { MmioDriver, REG } from '../../support/mmio-driver.ts';
import { F_NEXT, F_WRITE, type VirtqDriver } from '../../support/virtq-driver.ts';

// virtio 1.2 §5.3.3, written out independently of src/virtio/console.ts.
const F_SIZE = 0;
const F_MULTIPORT = 1;
const F_EMERG_WRITE = 2;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

interface Env {
  con: VirtioConsole;
  sink: MemorySink;
  mmio: MmioDriver;
  rx: VirtqDriver;
  tx: VirtqDriver;
  logs: string[];
  irqs: { n: number };
}

function setup(opts: VirtioConsoleOptions = {}, init = true): Env {
  const mem = makeGuestMemory(1 << 20);
  const sink = new MemorySink();
  const con = new VirtioConsole({ sink, queueSize: 16, ...opts });
  const logs: string[] = [];
  const dev = new VirtioMmioDevice({ name: 'hvc0', backend: con, mem, log: (l) => logs.push(l) });
  const irqs = { n: 0 };
  dev.setInterrupt(() => irqs.n++);
  const mmio = new MmioDriver(dev, mem);
  if (!init) return { con, sink, mmio, rx: undefined!, tx: undefined!, logs, irqs };
  const r = mmio.init();
  expect(r.ok).toBe(true);
  return { con, sink, mmio, rx: r.queues[0]!, tx: r.queues[1]!, logs, irqs };
}

function write(e: Env, ...parts: string[]) {
  expect(e.tx.addChain({ readable: parts.map(enc) })).toBeDefined();
  if (e.tx.kick()) e.mmio.notify(1);
  return e.tx.reapUsed();
}

function post(e: Env, ...sizes: number[]) {
  for (const n of sizes) expect(e.rx.addChain({ writable: [n] })).toBeDefined();
  if (e.rx.kick()) e.mmio.notify(0);
}

describe('virtio-console (§5.3)', () => {
  it('offers SIZE and EMERG_WRITE (not MULTIPORT), has two queues, and reports cols/rows at 0/2', () => {
    const e = setup({ cols: 132, rows: 43 });
    const f = e.mmio.readFeatures();
    expect((f >> BigInt(F_SIZE)) & 1n).toBe(1n);
    expect((f >> BigInt(F_EMERG_WRITE)) & 1n).toBe(1n);
    expect((f >> BigInt(F_MULTIPORT)) & 1n).toBe(0n);
    expect(e.mmio.config32(0)).toBe(132 | (43 << 16));
    expect(e.mmio.config32(4)).toBe(0); // max_nr_ports: MULTIPORT only
    expect(e.mmio.config32(8)).toBe(0); // emerg_wr is write-only
    e.mmio.w(REG.QUEUE_SEL, 2);
    expect(e.mmio.r(REG.QUEUE_NUM_MAX)).toBe(0); // no control queues without MULTIPORT
    expect(CONSOLE_CONFIG).toMatchObject({ COLS: 0, ROWS: 2, MAX_NR_PORTS: 4, EMERG_WR: 8 });
    expect(setup({ emergWrite: false }).mmio.readFeatures() & (1n << BigInt(F_EMERG_WRITE))).toBe(0n);
  });

  it('transmitq: every readable descriptor of every chain goes to the sink, in order, used length 0', () => {
    const e = setup();
    expect(write(e, 'hello ', 'wor', 'ld\n').map((u) => u.len)).toEqual([0]);
    e.tx.addChain({ readable: [enc('a')] });
    e.tx.addChain({ readable: [enc('b')], indirect: true });
    if (e.tx.kick()) e.mmio.notify(1);
    expect(e.tx.reapUsed().length).toBe(2);
    expect(e.sink.text()).toBe('hello world\nab');
    expect(e.con.stats.txBytes).toBe(14);
  });

  it('receiveq: host input fills posted buffers, split across them, and waits for more buffers', () => {
    const e = setup();
    post(e, 4);
    expect(e.con.input('hello, world')).toBe(12);
    let used = e.rx.reapUsed();
    expect(used.map((u) => dec(u.written!))).toEqual(['hell']);
    expect(e.con.pendingInput).toBe(8);
    post(e, 3, 16);
    used = e.rx.reapUsed();
    expect(used.map((u) => dec(u.written!))).toEqual(['o, ', 'world']);
    expect(used.map((u) => u.len)).toEqual([3, 5]);
    expect(e.con.pendingInput).toBe(0);
    expect(e.con.stats.rxBytes).toBe(12);
  });

  it('input typed before DRIVER_OK is delivered once the driver is up; excess over the limit is dropped', () => {
    const e = setup({ inputLimit: 8 }, false);
    expect(e.con.input('0123456789')).toBe(8);
    expect(e.con.stats.inputDropped).toBe(2);
    const r = e.mmio.init();
    e.rx = r.queues[0]!;
    post(e, 64);
    expect(e.rx.reapUsed().map((u) => dec(u.written!))).toEqual(['01234567']);
  });

  it('one interrupt for a batch of receive buffers filled by one input', () => {
    const e = setup();
    post(e, 2, 2, 2);
    e.mmio.ackInterrupt();
    const before = e.irqs.n;
    e.con.input('abcdef');
    expect(e.irqs.n - before).toBe(1);
    expect(e.rx.reapUsed().map((u) => dec(u.written!))).toEqual(['ab', 'cd', 'ef']);
  });

  it('emergency write: a 32-bit write of a character to config offset 8 emits it at once', () => {
    const e = setup();
    for (const ch of 'SOS\n') e.mmio.w(REG.CONFIG + 8, ch.charCodeAt(0));
    expect(e.sink.text()).toBe('SOS\n');
    expect(e.con.stats.emergBytes).toBe(4);
    e.mmio.w(REG.CONFIG + 0, 0x00500050); // cols/rows are read-only
    expect(e.mmio.config32(0)).toBe(80 | (25 << 16));
    const off = setup({ emergWrite: false });
    off.mmio.w(REG.CONFIG + 8, 0x41);
    expect(off.sink.text()).toBe('');
  });

  // §5.3.4 (device): "The device MUST allow a write to emerg_wr, even on an unconfigured device."
  it('emergency write before FEATURES_OK reaches the sink; other config writes are still dropped then', () => {
    const e = setup({}, false);
    // Straight after creation: status 0, nothing negotiated.
    e.mmio.w(REG.CONFIG + 8, 0x21); // '!'
    // After a reset and part of the handshake (ACKNOWLEDGE | DRIVER), still before FEATURES_OK.
    e.mmio.w(REG.STATUS, 0);
    e.mmio.w(REG.STATUS, 1);
    e.mmio.w(REG.STATUS, 1 | 2);
    e.mmio.w(REG.CONFIG + 8, 0x0a);
    expect(e.sink.text()).toBe('!\n');
    expect(e.con.stats.emergBytes).toBe(2);
    expect(e.mmio.r(REG.STATUS) & 8).toBe(0); // still unconfigured
    e.mmio.w(REG.CONFIG + 0, 0x00500050); // cols/rows: read-only anyway, and not an early field
    expect(e.mmio.config32(0)).toBe(80 | (25 << 16));
    // The device still initialises and works normally afterwards.
    const r = e.mmio.init();
    expect(r.ok).toBe(true);
    e.tx = r.queues[1]!;
    write(e, 'ok');
    expect(e.sink.text()).toBe('!\nok');
    // Without EMERG_WRITE offered, an early write to offset 8 is dropped like any other.
    const off = setup({ emergWrite: false }, false);
    off.mmio.w(REG.CONFIG + 8, 0x41);
    expect(off.sink.text()).toBe('');
    expect(off.con.configWritableEarly(8)).toBe(false);
  });

  it('resize updates cols/rows with a configuration change interrupt', () => {
    const e = setup();
    e.mmio.ackInterrupt();
    const gen = e.mmio.r(REG.CONFIG_GENERATION);
    e.con.resize(100, 30);
    expect(e.mmio.ackInterrupt() & 2).toBe(2);
    expect(e.mmio.r(REG.CONFIG_GENERATION)).not.toBe(gen);
    expect(e.mmio.config32(0)).toBe(100 | (30 << 16));
  });

  it('a failing sink is a host fault: logged and counted, the chain still completes', () => {
    const e = setup({
      sink: () => {
        throw new Error('EPIPE');
      },
    });
    expect(write(e, 'lost').length).toBe(1);
    expect(e.con.stats.hostErrors).toBe(1);
    expect(e.logs.some((l) => l.includes('EPIPE'))).toBe(true);
    expect(write(e, 'again').length).toBe(1); // the device goes on
  });

  it('malformed chains are completed with length 0 and emit nothing; input waits for a good buffer', () => {
    const e = setup();
    e.tx.writeDesc(15, { addr: 0x50000, len: 4, flags: F_NEXT, next: 99 });
    e.tx.addHead(15);
    if (e.tx.kick()) e.mmio.notify(1);
    expect(e.tx.reapUsed().map((u) => [u.id, u.len])).toEqual([[15, 0]]);
    e.rx.writeDesc(15, { addr: 0x10000, len: 4, flags: F_WRITE | F_NEXT, next: 99 });
    e.rx.addHead(15);
    post(e, 8);
    e.con.input('hi');
    expect(e.rx.reapUsed().map((u) => [u.id === 15, u.len])).toEqual([
      [true, 0],
      [false, 2],
    ]);
    expect(e.con.stats.malformed).toBe(2);
    expect(e.sink.text()).toBe('');
  });

  it('fileSink writes output synchronously to a file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvisor-con-'));
    try {
      const file = path.join(dir, 'console.log');
      const sink = fileSink(file);
      const e = setup({ sink });
      write(e, 'to a file\n');
      expect(fs.readFileSync(file, 'utf8')).toBe('to a file\n');
      sink.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('streamSink forwards output to a writable stream (a socket in the toolstack)', () => {
    const s = new PassThrough();
    const e = setup({ sink: streamSink(s) });
    write(e, 'over ', 'a socket');
    expect(String(s.read())).toBe('over a socket');
  });
});
