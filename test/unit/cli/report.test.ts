import { describe, expect, it } from 'vitest';
import type { DomainOutcome, DomainReport, RunReport } from '../../../src/control/types.ts';
import { EXIT_GUEST_FAILURE, EXIT_OK, formatBacktrace, formatTrace, summarizeRun } from '../../../src/cli/report.ts';

function dom(id: number, name: string, outcome: DomainOutcome): DomainReport {
  return { id, name, outcome, hypercalls: {}, endedAtNs: 0 };
}

function run(domains: DomainReport[], virtualTimeNs = 1_500_000, wallMs = 42): RunReport {
  const ok = domains.every((d) => d.outcome.kind === 'poweroff' && d.outcome.code === 0);
  return { domains, virtualTimeNs, wallMs, ok };
}

const TEN_S = 10e9;

describe('summarizeRun', () => {
  it('exits 0 and names every domain when all powered off with code 0', () => {
    const s = summarizeRun(run([dom(1, 'ping', { kind: 'poweroff', code: 0 }), dom(2, 'pong', { kind: 'poweroff', code: 0 })]));
    expect(s).toEqual({
      exitCode: EXIT_OK,
      lines: [
        'pvisor: domain ping (1): powered off, code 0',
        'pvisor: domain pong (2): powered off, code 0',
        'pvisor: 2 domains powered off cleanly; 1.5 ms virtual, 42 ms wall',
      ],
    });
  });

  it('judgeBy (pvisor boot): only that domain decides the exit status; the others are still reported', () => {
    const r = run([dom(1, 'dom0', { kind: 'poweroff', code: 0 }), dom(2, 'web', { kind: 'crashed', reason: 'unreachable', backtrace: [] })]);
    const s = summarizeRun(r, { judgeBy: 'dom0' });
    expect(s.exitCode).toBe(EXIT_OK);
    expect(s.lines[1]).toMatch(/^pvisor: domain web \(2\): crashed/);
    expect(summarizeRun(r).exitCode).toBe(EXIT_GUEST_FAILURE);
    expect(summarizeRun(run([dom(1, 'dom0', { kind: 'poweroff', code: 3 })]), { judgeBy: 'dom0' }).exitCode).toBe(EXIT_GUEST_FAILURE);
    // A judge that is not in the report (it never booted): failure, not success.
    expect(summarizeRun(r, { judgeBy: 'nobody' }).exitCode).toBe(EXIT_GUEST_FAILURE);
  });

  it('prints nothing with quiet when all is well', () => {
    expect(summarizeRun(run([dom(1, 'hello', { kind: 'poweroff', code: 0 })]), { quiet: true })).toEqual({ exitCode: EXIT_OK, lines: [] });
  });

  it('exits 1 and says how each domain ended otherwise', () => {
    const report = run(
      [
        dom(1, 'ping', { kind: 'poweroff', code: 0 }),
        dom(2, 'pong', { kind: 'crashed', reason: 'unreachable executed', backtrace: ['handle', 'kmain', '_start'] }),
        dom(3, 'timer', { kind: 'running' }),
        dom(4, 'hello', { kind: 'crash', code: 3 }),
        dom(5, 'exit7', { kind: 'poweroff', code: 7 }),
        dom(6, 'rb', { kind: 'reboot', code: 0 }),
      ],
      TEN_S,
      2500,
    );
    expect(summarizeRun(report, { maxTimeNs: TEN_S })).toEqual({
      exitCode: EXIT_GUEST_FAILURE,
      lines: [
        'pvisor: domain ping (1): powered off, code 0',
        'pvisor: domain pong (2): crashed: unreachable executed at handle ← kmain ← _start',
        'pvisor: domain timer (3): still running at the time limit (10 s virtual)',
        'pvisor: domain hello (4): crash shutdown, code 3',
        'pvisor: domain exit7 (5): powered off, code 7',
        'pvisor: domain rb (6): asked to reboot, code 0 (pvisor run does not restart domains)',
        'pvisor: 1 of 6 domains powered off cleanly; 10 s virtual, 2.5 s wall',
      ],
    });
  });

  it('with quiet, prints only the domains that failed', () => {
    const report = run([dom(1, 'ping', { kind: 'poweroff', code: 0 }), dom(2, 'pong', { kind: 'crash', code: 3 })]);
    expect(summarizeRun(report, { quiet: true })).toEqual({
      exitCode: EXIT_GUEST_FAILURE,
      lines: ['pvisor: domain pong (2): crash shutdown, code 3'],
    });
  });

  it('tells a domain stuck before the time limit from one that ran out of time', () => {
    const report = run([dom(1, 'waiter', { kind: 'running' })], 2_000_000);
    expect(summarizeRun(report, { maxTimeNs: TEN_S, quiet: true }).lines).toEqual([
      'pvisor: domain waiter (1): blocked with nothing left to wake it (the run ended at 2 ms virtual)',
    ]);
  });

  it('says which domains were destroyed during the run; one destroyed while alive fails through its crash', () => {
    const worker = { ...dom(2, 'worker', { kind: 'poweroff', code: 0 }), destroyed: true as const };
    const killed = { ...dom(3, 'web', { kind: 'crashed', reason: 'destroyed by the control socket', backtrace: [] }), destroyed: true as const };
    expect(summarizeRun(run([dom(1, 'dom0', { kind: 'poweroff', code: 0 }), worker]), {})).toEqual({
      exitCode: EXIT_OK,
      lines: [
        'pvisor: domain dom0 (1): powered off, code 0',
        'pvisor: domain worker (2): powered off, code 0; destroyed afterwards',
        'pvisor: 2 domains powered off cleanly; 1.5 ms virtual, 42 ms wall',
      ],
    });
    const s = summarizeRun(run([dom(1, 'dom0', { kind: 'poweroff', code: 0 }), killed]), { quiet: true });
    expect(s).toEqual({ exitCode: EXIT_GUEST_FAILURE, lines: ['pvisor: domain web (3): crashed: destroyed by the control socket'] });
    // One that crashed on its own and was destroyed later (a controlling domain restarting it).
    const crashed = { ...dom(4, 'batch', { kind: 'crashed', reason: 'vCPU 0: unreachable', backtrace: [] }), destroyed: true as const };
    expect(summarizeRun(run([crashed]), { quiet: true }).lines).toEqual(['pvisor: domain batch (4): crashed: vCPU 0: unreachable; destroyed afterwards']);
  });

  it('names the domain whose end ended the run for the domains still running then', () => {
    const report = { ...run([dom(1, 'dom0', { kind: 'poweroff', code: 0 }), dom(2, 'worker', { kind: 'running' })], 2e9), endedWith: { id: 1, name: 'dom0' } };
    expect(summarizeRun(report, { maxTimeNs: TEN_S }).lines).toEqual([
      'pvisor: domain dom0 (1): powered off, code 0',
      'pvisor: domain worker (2): still running when domain dom0 (1) ended the run (2 s virtual)',
      'pvisor: 1 of 2 domains powered off cleanly; 2 s virtual, 42 ms wall',
    ]);
  });

  it('treats a run without domains as a failure', () => {
    expect(summarizeRun(run([])).exitCode).toBe(EXIT_GUEST_FAILURE);
  });
});

describe('formatBacktrace', () => {
  it('shows at most 8 frames, innermost first', () => {
    expect(formatBacktrace([])).toBe('');
    expect(formatBacktrace(['f'])).toBe(' at f');
    const frames = Array.from({ length: 10 }, (_, i) => `f${i}`);
    expect(formatBacktrace(frames)).toBe(' at f0 ← f1 ← f2 ← f3 ← f4 ← f5 ← f6 ← f7 ← … (2 more)');
  });
});

describe('formatTrace', () => {
  it('writes one JSON object per line', () => {
    const text = formatTrace([
      { t: 0, dom: 1, vcpu: 0, ev: 'console_write', args: [4096, 6], ret: 6 },
      { t: 1000, dom: 2, vcpu: 0, ev: 'block' },
    ]);
    expect(text).toBe(
      '{"t":0,"dom":1,"vcpu":0,"ev":"console_write","args":[4096,6],"ret":6}\n{"t":1000,"dom":2,"vcpu":0,"ev":"block"}\n',
    );
    expect(formatTrace([])).toBe('');
  });
});
