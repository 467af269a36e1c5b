import { describe, expect, it } from 'vitest';
import { version } from '../../../src/cli/cli.ts';
import { pvisor } from '../../support/cli.ts';
import { RUN } from '../../../src/cli/commands.ts';


describe('pvisor', () => {
  it('prints its version from package.json', async () => {
    expect(await pvisor('--version')).toEqual({ status: 0, out: `pvisor ${version()}\n`, err: '' });
    expect(version()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('has help for itself and every command, on stdout', async () => {
    const main = await pvisor('--help');
    expect(main.status).toBe(0);
    expect(main.out).toContain('Commands:');
    expect(main.out).toContain('  run ');
    for (const argv of [['help', 'run'], ['run', '--help'], ['run', '-h'], ['run', 'x.wasm', '--bogus', '--help'], ['help', '--help']]) {
      const r = await pvisor(...argv);
      expect(r.status, argv.join(' ')).toBe(0);
      expect(r.out, argv.join(' ')).toMatch(/^Usage:\n {2}pvisor /);
    }
    expect((await pvisor('help')).out).toBe(main.out);
  });

  it('lists every flag of run in its help, with defaults', async () => {
    const { out } = await pvisor('help', 'run');
    for (const f of RUN.flags) expect(out).toContain(`--${f.name}`);
    expect(out).toContain('(default: 16M)');
    expect(out).toContain('(default: 10s)');
  });

  it('shows help on stderr and exits 2 without a command', async () => {
    const r = await pvisor();
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('Commands:');
  });

  it('exits 2 with one message per problem for usage errors', async () => {
    expect(await pvisor('rn', 'x.wasm')).toEqual({
      status: 2,
      out: '',
      err: 'pvisor: unknown command "rn"; did you mean "run"?\npvisor: commands: run, boot, ctl, bench, help; see "pvisor --help"\n',
    });
    expect((await pvisor('run', 'x.wasm', '--mem', '12X')).err).toBe('pvisor: --mem: "12X" is not a size; use e.g. 64M or 1G\n');
    expect((await pvisor('run')).err).toBe(
      'pvisor: missing KERNEL: pvisor run KERNEL.wasm, or pvisor run --config FILE\npvisor: see "pvisor run --help"\n',
    );
    expect((await pvisor('--verbose')).status).toBe(2);
    expect((await pvisor('help', 'runn')).err).toContain('did you mean "run"?');
  });

  it('names missing image files before starting anything', async () => {
    expect(await pvisor('run', 'no/such/kernel.wasm')).toEqual({
      status: 2,
      out: '',
      err: 'pvisor: domain kernel: no such image file: no/such/kernel.wasm\n',
    });
  });
});
