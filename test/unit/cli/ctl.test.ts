/**
 * `pvisor ctl` without a host (src/cli/ctl.ts): the request each command line makes, the
 * argument errors (naming the argument and the fix), and how each kind of answer is printed.
 * The exchange with a live host is in test/unit/control/control-socket.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../src/cli/args.ts';
import { CTL } from '../../../src/cli/commands.ts';
import { formatResult, planCtl } from '../../../src/cli/ctl.ts';
import type { ControlDomainInfo } from '../../../src/control/control-socket.ts';

const M = 2 ** 20;
const plan = (...argv: string[]) => planCtl(parseArgs(argv, CTL.flags, 'pvisor ctl'));
const problem = (...argv: string[]): string => {
  try {
    plan(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).problems.join('\n');
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
};

function dom(over: Partial<ControlDomainInfo> = {}): ControlDomainInfo {
  return {
    id: 2,
    name: 'web',
    state: 'running',
    memBytes: 64 * M,
    populatedBytes: 64 * M,
    memTargetBytes: 64 * M,
    vcpus: { up: 2, held: 2, total: 4 },
    guestTimeNs: 1e9,
    consoleBytes: 10,
    exitsTotal: 5,
    ...over,
  };
}

describe('planCtl', () => {
  it('builds the request of each operation', () => {
    expect(plan('/s', 'list')).toEqual({ path: '/s', request: { op: 'list' }, json: false });
    expect(plan('/s', 'shutdown', 'web').request).toEqual({ op: 'shutdown', domain: 'web' });
    expect(plan('/s', 'shutdown', 'web', '--force').request).toEqual({ op: 'shutdown', domain: 'web', force: true });
    expect(plan('/s', 'destroy', '3', '--json')).toEqual({ path: '/s', request: { op: 'destroy', domain: '3' }, json: true });
    expect(plan('/s', 'mem-set', 'web', '32M').request).toEqual({ op: 'mem-set', domain: 'web', memBytes: 32 * M });
    expect(plan('/s', 'vcpu-set', 'web', '3').request).toEqual({ op: 'vcpu-set', domain: 'web', vcpus: 3 });
  });

  it('names the argument at fault and the fix', () => {
    expect(problem('/s', 'pause', 'web', '--force')).toBe('--force is for shutdown only (it powers the domain off at once instead of asking it); drop it from pause');
    expect(problem('/s', 'mem-set', 'web')).toBe('mem-set needs DOMAIN and SIZE: pvisor ctl PATH mem-set DOMAIN SIZE');
    expect(problem('/s', 'mem-set', 'web', 'lots')).toMatch(/^SIZE: "lots" is not a size/);
    expect(problem('/s', 'vcpu-set', 'web', 'two')).toMatch(/^N: /);
    expect(problem('/s', 'shutdown')).toBe('shutdown needs DOMAIN: pvisor ctl PATH shutdown DOMAIN');
    expect(problem('/s', 'destory', 'web')).toMatch(/unknown operation "destory"; did you mean "destroy"\?/);
  });
});

describe('formatResult', () => {
  it('says whether shutdown asked the guest or forced it', () => {
    expect(formatResult('shutdown', { domain: dom(), cooperative: true })).toBe(
      'asked web (2) to shut down (poweroff); it does when its kernel handles the request (pvisor ctl PATH info shows it; --force powers it off at once)\n',
    );
    expect(formatResult('shutdown', { domain: dom({ state: 'shutdown', outcome: { kind: 'poweroff', code: 0 } }), cooperative: false })).toBe(
      'powered off web (2) at once by the host (--force: the guest was not asked)\n',
    );
  });

  it('says how a destroyed domain was when it left', () => {
    const live = dom({ state: 'crashed', outcome: { kind: 'crashed', reason: 'destroyed by the control socket', backtrace: [] } });
    expect(formatResult('destroy', { domain: live, released: true })).toBe("destroyed web (2): stopped; its memory and vCPUs went back to the host's free pools\n");
    const ended = dom({ state: 'shutdown', outcome: { kind: 'poweroff', code: 3 } });
    expect(formatResult('destroy', { domain: ended, released: true })).toBe(
      "destroyed web (2): it had ended (poweroff 3); its memory and vCPUs went back to the host's free pools\n",
    );
  });

  it('shows the target and what the domain holds for mem-set and vcpu-set', () => {
    expect(formatResult('mem-set', { domain: dom({ memTargetBytes: 32 * M }), cooperative: true })).toBe(
      'memory target of web (2) set to 32M; it holds 64M now and moves toward the target itself (info shows it)\n',
    );
    expect(formatResult('vcpu-set', { domain: dom({ vcpus: { up: 1, held: 1, total: 4 } }), cooperative: true })).toBe(
      'web (2) holds 1 vCPU(s) now (1 up); it brings them up or down itself (info shows it)\n',
    );
  });

  it('lists memory held of memory size, and vCPUs up of held', () => {
    const text = formatResult('list', { virtualTimeNs: 2e9, domains: [dom(), dom({ id: 3, name: 'db', populatedBytes: 48 * M, vcpus: { up: 1, held: 3, total: 4 } })] });
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/^2\s+web\s+running\s+64M\s+2\/2\s/);
    expect(lines[2]).toMatch(/^3\s+db\s+running\s+48M\/64M\s+1\/3\s/);
    const info = formatResult('info', { ...dom({ populatedBytes: 48 * M, memTargetBytes: 32 * M }), hypercalls: {} });
    expect(info).toContain(`memory        64M (${64 * M} bytes); holds 48M, target 32M\n`);
    expect(info).toContain('vcpus         2 up, 2 held, 4 created\n');
  });
});
