/**
 * End to end: the echo example guest (guest-kit/examples/echo) drives the kit's virtio-console
 * driver against the real virtio-mmio transport and virtio-console backend: host input is queued
 * before the run, output is captured through a MemorySink.
 */
import { describe, expect, it } from 'vitest';
import { System } from '../../src/control/system.ts';
import { MemorySink, VirtioConsole } from '../../src/virtio/console.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { example } from './run.ts';

async function runEcho(input: string | undefined, opts: { queueSize?: number } = {}) {
  let out = '';
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: (l) => log.push(l) });
  const d = await sys.addDomain({ name: 'echo', image: example('echo'), memBytes: 1 << 20, vcpus: 1, cmdline: '' });
  const sink = new MemorySink();
  const con = new VirtioConsole({ sink, ...(opts.queueSize !== undefined ? { queueSize: opts.queueSize } : {}) });
  if (input !== undefined) con.input(input);
  const dev = new VirtioMmioDevice({ name: 'console0', backend: con, mem: d.mem, log: (l) => log.push(l) });
  sys.attachDevice(d, dev);
  const report = await sys.run();
  return { out, log, report, sink, con, dev };
}

describe('echo: the guest virtio-console driver end to end', () => {
  it('prints a banner, echoes its input and powers off at "quit"', async () => {
    const { out, report, sink, con, dev, log } = await runEcho('hello\nworld\nquit\nnot echoed\n');
    expect(sink.text()).toBe('echo: ready\nhello\nworld\nquit\necho: bye\n');
    expect(out).toBe('echo: quit after 3 lines\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(report.ok).toBe(true);
    expect((dev.negotiatedFeatures >> 32n) & 1n).toBe(1n);
    expect((dev.negotiatedFeatures >> 29n) & 1n).toBe(1n);
    expect(dev.deviceStatus & 64).toBe(0);
    expect(dev.strayAccesses).toBe(0);
    expect(con.stats.malformed).toBe(0);
    expect(log.filter((l) => l.includes('NEEDS_RESET'))).toEqual([]);
  });

  it('handles input larger than its receive ring (buffers refilled as they are read)', async () => {
    // 200 lines of 40 bytes = 8000 bytes: more than 16 x 128-byte buffers at a time.
    const lines = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, '0')} ${'x'.repeat(30)}\n`).join('');
    const { out, report, sink } = await runEcho(`${lines}quit\n`);
    expect(sink.text()).toBe(`echo: ready\n${lines}quit\necho: bye\n`);
    expect(out).toBe('echo: quit after 201 lines\n');
    expect(report.ok).toBe(true);
  });

  it('exits 2 without a virtio-console', async () => {
    let out = '';
    const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: () => {} });
    await sys.addDomain({ name: 'echo', image: example('echo'), memBytes: 1 << 20, vcpus: 1, cmdline: '' });
    const report = await sys.run();
    expect(out).toBe('echo: no virtio-console\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 2 });
  });
});
