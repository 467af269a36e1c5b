/**
 * The worker example (guest-kit/examples/worker) driven from TypeScript as a controlling domain
 * would drive it (issue 6): the test reacts to the worker's console lines with the System's
 * domctl operations, and checks the host's accounts at each step. This exercises the guest kit's
 * control dispatcher (control.c), balloon driver (balloon.c, with pv_alloc's ceiling) and vCPU
 * bring-up end to end through the engine.
 */
import { describe, expect, it } from 'vitest';
import { ENOMEM, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT } from '../../src/abi/index.ts';
import { System } from '../../src/control/system.ts';
import type { RunReport } from '../../src/control/types.ts';
import type { Domain } from '../../src/hv/domain.ts';
import { example } from './run.ts';

const MIB = 1024 * 1024;
const FRAME = 4096;

/** What a reaction sees: the system, the worker's domain and its lines so far. */
interface Ctx {
  sys: System;
  d: Domain;
}

/**
 * Runs one worker; `react` is called with each complete console line as it is written (inside the
 * guest's console hypercall, as a control request from outside would arrive), and may call the
 * System's domctl operations. A failed expectation inside `react` is rethrown after the run.
 */
async function runWorker(
  cfg: { cmdline: string; memBytes?: number; vcpus?: number; maxMemBytes?: number; pool?: number },
  react: (line: string, c: Ctx) => void = () => {},
): Promise<{ report: RunReport; lines: string[]; d: Domain; sys: System }> {
  const lines: string[] = [];
  let partial = '';
  let failure: unknown;
  let ctx: Ctx | undefined;
  const sys = new System({
    seed: 1,
    log: () => {},
    console: (_name, text) => {
      partial += text;
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        lines.push(line);
        if (failure !== undefined || ctx === undefined) continue;
        try {
          react(line, ctx);
        } catch (e) {
          failure = e;
        }
      }
    },
  });
  const d = await sys.addDomain({
    name: 'w', image: example('worker'), memBytes: cfg.memBytes ?? 8 * MIB, vcpus: cfg.vcpus ?? 1, cmdline: cfg.cmdline,
    ...(cfg.maxMemBytes !== undefined ? { maxMemBytes: cfg.maxMemBytes } : {}),
  });
  // Frames other domains handed back, as the host's pool would hold them.
  if (cfg.pool !== undefined) sys.hv.freeFrames = cfg.pool;
  ctx = { sys, d };
  const report = await sys.run();
  if (failure !== undefined) throw failure;
  if (partial !== '') lines.push(partial);
  return { report, lines, d, sys };
}

/** The accounts the test checks: what the domain holds and the host's free frame pool. */
function accounts(c: Ctx): { populated: number; freeFrames: number } {
  return { populated: c.sys.domainInfo(c.d).populated, freeFrames: c.sys.hv.freeFrames };
}

describe('worker example: a client OS following the controlling domain', () => {
  it('balloons down to a lower target and up again, with the host accounts following; shuts down when asked', async () => {
    const seen: { populated: number; freeFrames: number }[] = [];
    const { report, lines } = await runWorker({ cmdline: 'name=w load=10' }, (line, c) => {
      if (line.startsWith('worker w: up,')) {
        seen.push(accounts(c));
        c.sys.setMemoryTarget(c.d, 6 * MIB);
      } else if (line === 'worker w: target 6291456 bytes, holds 6291456') {
        seen.push(accounts(c));
        c.sys.setMemoryTarget(c.d, 8 * MIB);
      } else if (line === 'worker w: target 8388608 bytes, holds 8388608') {
        seen.push(accounts(c));
        c.sys.requestShutdown(c.d, SHUTDOWN_REBOOT);
      }
    });
    expect(lines).toEqual([
      'worker w: up, holds 8388608 bytes, 1 vcpus, load 10',
      'worker w: target 6291456 bytes, holds 6291456',
      'worker w: target 8388608 bytes, holds 8388608',
      'worker w: shutdown requested (reboot)',
    ]);
    expect(seen).toEqual([
      { populated: 8 * MIB, freeFrames: 0 },
      { populated: 6 * MIB, freeFrames: (2 * MIB) / FRAME },
      { populated: 8 * MIB, freeFrames: 0 },
    ]);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'reboot', code: 0 });
  });

  it('a target below what it can give reaches it only partly (ENOMEM), and the accounts agree with what it reports', async () => {
    const seen: { held: number; populated: number; freeFrames: number }[] = [];
    const { report, lines } = await runWorker({ cmdline: 'name=w load=1', memBytes: 4 * MIB }, (line, c) => {
      const m = /^worker w: target (\d+) bytes, holds (\d+)/.exec(line);
      if (line.startsWith('worker w: up,')) c.sys.setMemoryTarget(c.d, 0);
      else if (m !== null) {
        seen.push({ held: Number(m[2]), ...accounts(c) });
        if (m[1] === '0') c.sys.setMemoryTarget(c.d, 4 * MIB);
        else c.sys.requestShutdown(c.d, SHUTDOWN_POWEROFF);
      }
    });
    const low = seen[0]!.held;
    // It kept its image, the heap it uses and the host's reserved area, and gave the rest.
    expect(low).toBeGreaterThan(0);
    expect(low).toBeLessThan(1 * MIB);
    expect(low % FRAME).toBe(0);
    expect(lines[1]).toBe(`worker w: target 0 bytes, holds ${low} (short: ${ENOMEM})`);
    expect(seen).toEqual([
      { held: low, populated: low, freeFrames: (4 * MIB - low) / FRAME },
      { held: 4 * MIB, populated: 4 * MIB, freeFrames: 0 },
    ]);
    expect(lines.slice(2)).toEqual(['worker w: target 4194304 bytes, holds 4194304', 'worker w: shutdown requested (poweroff)']);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
  });

  it('a target set before the worker binds VIRQ_CONTROL is followed at init; when the pool is short it takes what the pool has', async () => {
    const seen: { held: number; populated: number; freeFrames: number }[] = [];
    const { lines } = await runWorker({ cmdline: 'name=w load=1', memBytes: 4 * MIB }, (line, c) => {
      const m = /^worker w: target (\d+) bytes, holds (\d+)/.exec(line);
      if (line.startsWith('worker w: up,')) c.sys.setMemoryTarget(c.d, 2 * MIB);
      else if (m !== null) {
        seen.push({ held: Number(m[2]), ...accounts(c) });
        if (m[1] === String(2 * MIB)) {
          // Stands in for another domain taking 100 of the 512 pooled frames (DOMCTL_CREATE).
          c.sys.hv.freeFrames -= 100;
          c.sys.setMemoryTarget(c.d, 4 * MIB);
        } else {
          c.sys.hv.freeFrames += 100;
          c.sys.requestShutdown(c.d, SHUTDOWN_POWEROFF);
        }
      }
    });
    expect(lines.slice(1)).toEqual([
      'worker w: target 2097152 bytes, holds 2097152',
      `worker w: target 4194304 bytes, holds ${4 * MIB - 100 * FRAME} (short: ${ENOMEM})`,
      'worker w: shutdown requested (poweroff)',
    ]);
    expect(seen).toEqual([
      { held: 2 * MIB, populated: 2 * MIB, freeFrames: 512 },
      { held: 4 * MIB - 100 * FRAME, populated: 4 * MIB - 100 * FRAME, freeFrames: 0 },
    ]);
  });

  it('pv_alloc hands out no ballooned frame: a vCPU stack cannot be had while the heap is ballooned out, and can once it is back', async () => {
    const { report, lines } = await runWorker({ cmdline: 'name=w load=1', memBytes: 4 * MIB, vcpus: 2 }, (line, c) => {
      if (line.startsWith('worker w: up,')) {
        // Before pv_control_init: it starts with one vCPU (so no stack yet) and a target of 0.
        c.sys.setVcpus(c.d, 1);
        c.sys.setMemoryTarget(c.d, 0);
      } else if (line.startsWith('worker w: target 0 bytes,')) c.sys.setVcpus(c.d, 2);
      else if (line.startsWith('worker w: vcpus 2 held, 1 up')) c.sys.setMemoryTarget(c.d, 4 * MIB);
      else if (line.startsWith('worker w: target 4194304 bytes,')) c.sys.setVcpus(c.d, 1);
      else if (line === 'worker w: vcpus 1 held, 1 up') c.sys.setVcpus(c.d, 2);
      else if (line === 'worker w: vcpus 2 held, 2 up') c.sys.requestShutdown(c.d, SHUTDOWN_POWEROFF);
    });
    expect(lines.slice(2)).toEqual([
      `worker w: vcpus 2 held, 1 up (error ${ENOMEM})`,
      'worker w: target 4194304 bytes, holds 4194304',
      'worker w: vcpus 1 held, 1 up',
      'worker w: vcpus 2 held, 2 up',
      'worker w: shutdown requested (poweroff)',
    ]);
    expect(lines[1]).toMatch(new RegExp(`^worker w: target 0 bytes, holds \\d+ \\(short: ${ENOMEM}\\)$`));
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
  });

  it('ticks=T: works T ticks, reports progress every R ticks and powers off', async () => {
    const { report, lines } = await runWorker({ cmdline: 'name=w load=7 ticks=5 report=2' });
    expect(lines).toEqual([
      'worker w: up, holds 8388608 bytes, 1 vcpus, load 7',
      'worker w: tick 2, 14 units',
      'worker w: tick 4, 28 units',
      'worker w: done after 5 ticks, 35 units',
    ]);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
  });

  it('crash_at=K: traps at tick K and the domain crashes', async () => {
    const { report, lines } = await runWorker({ cmdline: 'name=w load=1 crash_at=3' });
    expect(lines).toEqual(['worker w: up, holds 8388608 bytes, 1 vcpus, load 1', 'worker w: crashing at tick 3']);
    const outcome = report.domains[0]!.outcome;
    expect(outcome.kind).toBe('crashed');
    expect(outcome.kind === 'crashed' ? outcome.reason : '').toMatch(/unreachable/);
  });

  it('vCPUs: brings up what it holds at boot, follows DOMCTL_SET_VCPUS down and up, and the vCPU that came back works', async () => {
    const seen: { online: number; freeVcpus: number }[] = [];
    const { report, lines } = await runWorker({ cmdline: 'name=w load=10 report=20', vcpus: 2 }, (line, c) => {
      const vc = () => seen.push({ online: c.sys.domainInfo(c.d).vcpusOnline, freeVcpus: c.sys.hv.freeVcpus });
      if (line === 'worker w: vcpus 2 held, 2 up' && seen.length === 0) {
        vc();
        c.sys.setVcpus(c.d, 1);
      } else if (line === 'worker w: vcpus 1 held, 1 up') {
        vc();
        c.sys.setVcpus(c.d, 2);
      } else if (line === 'worker w: vcpus 2 held, 2 up') {
        vc();
      } else if (line.startsWith('worker w: tick 20,')) {
        c.sys.requestShutdown(c.d, SHUTDOWN_POWEROFF);
      }
    });
    expect(lines.slice(0, 4)).toEqual([
      'worker w: up, holds 8388608 bytes, 2 vcpus, load 10',
      'worker w: vcpus 2 held, 2 up',
      'worker w: vcpus 1 held, 1 up',
      'worker w: vcpus 2 held, 2 up',
    ]);
    expect(seen).toEqual([
      { online: 2, freeVcpus: 0 },
      { online: 1, freeVcpus: 1 },
      { online: 2, freeVcpus: 0 },
    ]);
    // vCPU 0 alone would have done 20 ticks * 10 units by tick 20: vCPU 1 added work after coming back.
    const m = /^worker w: tick 20, (\d+) units$/.exec(lines[4]!);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(200);
    expect(lines.slice(5)).toEqual(['worker w: shutdown requested (poweroff)']);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
  });
  it('grow=B: grows its memory up to max_mem with frames from the pool and uses it; refused when the pool is short', async () => {
    const grown = await runWorker({ cmdline: 'name=w grow=262144 ticks=1', maxMemBytes: 9 * MIB, pool: 64 + 5 });
    expect(grown.lines).toContain(`worker w: grew by 262144 bytes, holds ${8 * MIB + 262144}`);
    expect(grown.sys.hv.freeFrames).toBe(5);
    expect(grown.sys.domainInfo(grown.d).populated).toBe(8 * MIB + 262144);
    const refused = await runWorker({ cmdline: 'name=w grow=262144 ticks=1', maxMemBytes: 9 * MIB, pool: 63 });
    expect(refused.lines).toContain('worker w: grow by 262144 refused');
    expect([refused.sys.hv.freeFrames, refused.sys.domainInfo(refused.d).populated]).toEqual([63, 8 * MIB]);
    // Past max_mem: refused even with frames to spare.
    const capped = await runWorker({ cmdline: 'name=w grow=262144 ticks=1', maxMemBytes: 8 * MIB + 131072, pool: 1000 });
    expect(capped.lines).toContain('worker w: grow by 262144 refused');
  });
});
