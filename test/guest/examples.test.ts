/**
 * End to end: the checked-in example guests (built from guest-kit/examples by
 * `npm run build:guests`) run on the real host with exact expected output.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { example, runGuests } from './run.ts';

describe('example guests end to end', () => {
  it('hello prints its command line and powers off 0', async () => {
    const { report, out } = await runGuests([{ name: 'hello', image: example('hello'), cmdline: 'hi' }]);
    expect(out['hello']).toBe('hi\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(report.ok).toBe(true);
  });

  it('timer ticks ten times at exact 10 ms virtual timestamps', async () => {
    const { report, out } = await runGuests([{ name: 'timer', image: example('timer') }]);
    const ticks = Array.from({ length: 10 }, (_, i) => `tick ${i + 1} at ${(i + 1) * 10_000_000} ns\n`).join('');
    expect(out['timer']).toBe(`${ticks}timer: done\n`);
    expect(report.ok).toBe(true);
    expect(report.virtualTimeNs).toBeGreaterThanOrEqual(100_000_000);
    expect(report.virtualTimeNs).toBeLessThan(101_000_000);
  });

  it('pingpong bounces 1000 events between two domains', async () => {
    const { report, out } = await runGuests([
      { name: 'ping', image: example('pingpong'), cmdline: 'role=ping peer=2 count=1000' },
      { name: 'pong', image: example('pingpong'), cmdline: 'role=pong peer=1 count=1000' },
    ]);
    expect(out).toEqual({ ping: 'ping: 1000 round trips\n', pong: 'pong: 1000 events\n' });
    expect(report.ok).toBe(true);
    expect(report.domains[0]!.hypercalls['evtchn_send']).toBe(1000);
    expect(report.domains[1]!.hypercalls['evtchn_send']).toBe(1000);
  });

  it('smp: two vCPUs increment a shared counter and join by IPI', async () => {
    const { report, out } = await runGuests([{ name: 'smp', image: example('smp'), vcpus: 2, cmdline: 'count=50000' }]);
    expect(out['smp']).toBe('smp: counter=100000 (expected 100000)\n');
    expect(report.ok).toBe(true);
    expect(report.domains[0]!.hypercalls['vcpu_up']).toBe(1);
  });

  it('selftest reports an XTF-style SUCCESS', async () => {
    const { report, out } = await runGuests([{ name: 'selftest', image: example('selftest'), vcpus: 2 }]);
    expect(out['selftest']).toMatch(/Test result: SUCCESS\n$/);
    expect(report.ok).toBe(true);
  });

  it('the pvisor command runs hello and exits 0', () => {
    const bin = fileURLToPath(new URL('../../bin/pvisor.js', import.meta.url));
    const r = spawnSync(process.execPath, [bin, 'run', example('hello'), '--cmdline', 'hi'], { encoding: 'utf8' });
    expect(r.stdout).toBe('hi\n');
    expect(r.status).toBe(0);
  });
});

describe('determinism', () => {
  it('pingpong run twice gives byte-identical output and trace', async () => {
    const run = () =>
      runGuests(
        [
          { name: 'ping', image: example('pingpong'), cmdline: 'role=ping peer=2 count=200' },
          { name: 'pong', image: example('pingpong'), cmdline: 'role=pong peer=1 count=200' },
        ],
        { trace: true },
      );
    const a = await run();
    const b = await run();
    expect(a.report.trace!.length).toBeGreaterThan(800);
    expect(JSON.stringify(b.out)).toBe(JSON.stringify(a.out));
    expect(JSON.stringify(b.report.trace)).toBe(JSON.stringify(a.report.trace));
    expect(b.report.virtualTimeNs).toBe(a.report.virtualTimeNs);
    expect(JSON.stringify(b.report.domains)).toBe(JSON.stringify(a.report.domains));
  });
});

describe('containment', () => {
  it('a runaway loop is preempted and an out-of-bounds access crashes only its domain, while a healthy guest keeps time', async () => {
    const { report, out } = await runGuests(
      [
        { name: 'loop', image: example('hostile_loop') },
        { name: 'oob', image: example('hostile_oob'), memBytes: 16 << 20 },
        { name: 'timer', image: example('timer') },
      ],
      { maxTimeNs: 300_000_000 },
    );
    const by = Object.fromEntries(report.domains.map((d) => [d.name, d]));
    // The healthy guest did all its work beside a spinning neighbour (ticks late by at most a slice).
    expect(out['timer']).toMatch(/tick 10 at 100\d{6} ns\ntimer: done\n$/);
    expect(by['timer']!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    // The runaway loop was preempted every slice and is still running at the limit.
    expect(out['loop']).toBe('hostile_loop: spinning forever\n');
    expect(by['loop']!.outcome).toEqual({ kind: 'running' });
    expect(report.virtualTimeNs).toBeGreaterThanOrEqual(300_000_000);
    // The out-of-bounds access crashed its own domain, with the trap and guest function names.
    expect(out['oob']).toBe('hostile_oob: reading 0x01000000, beyond memory\n');
    expect(by['oob']!.outcome).toEqual({ kind: 'crashed', reason: 'vCPU 0: memory access out of bounds', backtrace: ['kmain', '_start'] });
    expect(report.ok).toBe(false);
  });

  it('a random-hypercall storm gets error codes back and a healthy guest beside it finishes', async () => {
    const { report, out, log } = await runGuests([
      { name: 'storm', image: example('hostile_storm') },
      { name: 'hello', image: example('hello'), cmdline: 'still here' },
    ]);
    expect(out['storm']).toMatch(/^storm: 100000 calls, \d+ errors\n$/);
    expect(out['hello']).toBe('still here\n');
    expect(report.domains.map((d) => d.outcome)).toEqual([{ kind: 'poweroff', code: 0 }, { kind: 'poweroff', code: 0 }]);
    const counts = report.domains[0]!.hypercalls;
    expect(counts['unknown']! + counts['#40']!).toBeGreaterThan(1000);
    expect(log).toEqual([]); // no host fault
  });
});
