/**
 * End to end: the echo example guest (guest-kit/examples/echo) drives the kit's virtio-console
 * driver against the real virtio-mmio transport and virtio-console backend: host input is queued
 * before the run, or while it runs (an ExternalInput, and a real `--console socket:` client);
 * output is captured through a MemorySink or the socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.ts';
import { RUN } from '../../src/cli/commands.ts';
import { planRun } from '../../src/cli/plan.ts';
import { buildSystem } from '../../src/cli/run.ts';
import { type ExternalInput, System } from '../../src/control/system.ts';
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

  it('waits for input that arrives while it runs (ExternalInput): one line each time the guest idles', async () => {
    const lines = ['one\n', 'two\n', 'quit\n'];
    let out = '';
    const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: () => {} });
    const d = await sys.addDomain({ name: 'echo', image: example('echo'), memBytes: 1 << 20, vcpus: 1, cmdline: '' });
    const sink = new MemorySink();
    const con = new VirtioConsole({ sink });
    sys.attachDevice(d, new VirtioMmioDevice({ name: 'console0', backend: con, mem: d.mem, log: () => {} }));
    let asked = 0;
    const source: ExternalInput = {
      get open() {
        return lines.length > 0;
      },
      async next() {
        asked++;
        // The guest is blocked in pv_vcon_read with everything so far echoed.
        expect(sink.text().endsWith('\n')).toBe(true);
        await new Promise((r) => setTimeout(r, 1));
        con.input(lines.shift()!);
      },
    };
    sys.addExternalInput(source);
    const report = await sys.run();
    expect(asked).toBe(3);
    expect(sink.text()).toBe('echo: ready\none\ntwo\nquit\necho: bye\n');
    expect(out).toBe('echo: quit after 3 lines\n');
    expect(report.ok).toBe(true);
  });

  it('--console socket:PATH is interactive: a client types after the banner and sees each line echoed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvisor-echo-'));
    const sock = join(dir, 'echo.sock');
    const plan = planRun(parseArgs(['guest-kit/examples/echo.wasm', '--mem', '1M', '--console', `socket:${sock}`], RUN.flags, 'pvisor run'), () => {
      throw new Error('no config');
    });
    let out = '';
    const built = await buildSystem(plan, { console: (_d, t) => void (out += t), log: () => {} });
    try {
      const client = connect(sock);
      let got = '';
      const waiters: [string, () => void][] = [];
      client.on('data', (b: Buffer) => {
        got += b.toString();
        for (const [want, res] of waiters) if (got.endsWith(want)) res();
      });
      const seen = (want: string) => new Promise<void>((res) => (got.endsWith(want) ? res() : waiters.push([want, res])));
      await built.waitForClients();
      const run = built.system.run();
      // Nothing is typed before the guest has printed its banner: the run must wait for input.
      await seen('echo: ready\n');
      client.write('hello\n');
      await seen('hello\n');
      client.write('quit\n');
      const report = await run;
      await seen('echo: bye\n');
      expect(got).toBe('echo: ready\nhello\nquit\necho: bye\n');
      expect(out).toBe('echo: quit after 2 lines\n');
      expect(report.ok).toBe(true);
      client.destroy();
    } finally {
      built.close();
      rmSync(dir, { recursive: true, force: true });
    }
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
