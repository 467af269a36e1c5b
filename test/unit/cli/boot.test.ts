/**
 * `pvisor boot` (src/cli/boot.ts): its help, argument errors that name the flag and the fix, the
 * plan it makes (one privileged domain, the boot volume, the run ending with it), the device
 * order buildSystem gives that domain, and one short run of a plain guest as dom0. The run of
 * the real controlling-domain example is test/guest (the dom0 example's own test).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMINF_PRIVILEGED } from '../../../src/abi/index.ts';
import { parseArgs } from '../../../src/cli/args.ts';
import { planBoot } from '../../../src/cli/boot.ts';
import { pvisor } from '../../support/cli.ts';
import { BOOT } from '../../../src/cli/commands.ts';
import { parseBootVolume } from '../../../src/control/boot-volume.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const HELLO = repo('guest-kit/examples/hello.wasm');


let dir: string;
let a: string;
let b: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvisor-boot-'));
  a = join(dir, 'a.bin');
  b = join(dir, 'b.bin');
  writeFileSync(a, 'first file');
  writeFileSync(b, new Uint8Array(1000).fill(7));
  mkdirSync(join(dir, 'sub'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = (...argv: string[]) => planBoot(parseArgs(argv, BOOT.flags, 'pvisor boot'));

describe('pvisor boot --help', () => {
  it('lists every flag and says what dom0 holds, how the run ends, and the boot volume', async () => {
    const r = await pvisor('boot', '--help');
    expect(r.status).toBe(0);
    for (const f of BOOT.flags) expect(r.out).toContain(`--${f.name}`);
    expect(r.out).toMatch(/^Usage:\n {2}pvisor boot DOM0\.wasm --mem SIZE/);
    expect(r.out).toContain('read-only virtio-blk named "boot"');
    expect(r.out).toContain('The run ends when dom0 ends');
    expect((await pvisor('help', 'boot')).out).toBe(r.out);
    expect((await pvisor('--help')).out).toMatch(/\n {2}boot +boot a controlling domain/);
  });
});

describe('pvisor boot arguments', () => {
  const usage = async (...argv: string[]) => {
    const r = await pvisor('boot', ...argv);
    expect(r.status, r.err).toBe(2);
    expect(r.err).not.toContain('pvisor run --help');
    return r.err;
  };

  it('needs DOM0.wasm and --mem', async () => {
    expect(await usage()).toContain('pvisor: missing DOM0.wasm: pvisor boot DOM0.wasm --mem SIZE [--image NAME=PATH]...\npvisor: see "pvisor boot --help"\n');
    expect(await usage(HELLO)).toContain("pvisor: --mem is required: the host's memory, all of it dom0's at boot, e.g. --mem 256M");
    expect(await usage(HELLO, 'x.wasm', '--mem', '16M')).toContain('one DOM0.wasm (got');
  });

  it('names the --image at fault: no "=", a bad or repeated name, a missing file, a directory', async () => {
    expect(await usage(HELLO, '--mem', '16M', '--image', a)).toContain(`pvisor: --image ${a}: expected NAME=PATH (the name on the boot volume, then the file), e.g. --image worker=${a}`);
    const long = 'a'.repeat(16);
    expect(await usage(HELLO, '--mem', '16M', '--image', `${long}=${a}`)).toContain(`--image ${long}=${a}: the name "${long}" is 16 bytes; names are at most 15 bytes of UTF-8, shorten it`);
    expect(await usage(HELLO, '--mem', '16M', '--image', `=${a}`)).toContain('the name is empty');
    expect(await usage(HELLO, '--mem', '16M', '--image', 'w=')).toContain('--image w=: no PATH after "="');
    const twice = await usage(HELLO, '--mem', '16M', '--image', `w=${a}`, '--image', `w=${b}`);
    expect(twice).toContain(`--image w=${b}: the name "w" is already used by --image w=${a}`);
    const missing = join(dir, 'nope.wasm');
    expect(await usage(HELLO, '--mem', '16M', '--image', `w=${missing}`)).toContain(`pvisor: --image w=${missing}: no such file: ${missing}`);
    expect(await usage(HELLO, '--mem', '16M', '--image', `w=${join(dir, 'sub')}`)).toContain('is not a file; give a file to put on the boot volume');
  });

  it('lists every bad --image at once, and refuses a 16th', async () => {
    const err = await usage(HELLO, '--mem', '16M', '--image', 'x', '--image', 'y');
    expect(err).toContain('pvisor: --image x: expected NAME=PATH');
    expect(err).toContain('pvisor: --image y: expected NAME=PATH');
    const many = Array.from({ length: 16 }, (_, i) => ['--image', `f${i}=${a}`]).flat();
    expect(await usage(HELLO, '--mem', '16M', ...many)).toContain('--image: 16 images; the boot volume holds at most 15');
  });

  it("checks the flags it shares with run as run does, pointing at boot's help", async () => {
    expect(await usage(HELLO, '--mem', '12X')).toContain('pvisor: --mem: "12X" is not a size');
    expect(await usage(HELLO, '--mem', '16M', '--vcpus', '0')).toContain('pvisor: --vcpus: ');
    // run's parser names its own help for this one; boot's is named instead.
    expect(await usage(HELLO, '--mem', '16M', '--console', 'tty')).toMatch(/pvisor: --console: "tty" is not a console.*\npvisor: see "pvisor boot --help"\n$/);
    expect(await usage(HELLO, '--mem', '16M', '--name', 'a b')).toContain('pvisor: --name: ');
    expect(await usage(HELLO, '--mem', '16M', '--config', 'x.json')).toContain('unknown flag');
  });
});

describe('the plan of pvisor boot', () => {
  it('is one privileged domain named dom0 with the boot volume, and the run ends with it', () => {
    const p = plan(HELLO, '--mem', '64M', '--vcpus', '4', '--image', `a=${a}`, '--image', `bee=${b}`, '--cmdline', 'x=1', '--disk', join(dir, 'd.img') + ',size=1M', '--net', 'lan');
    expect(p.endWith).toBe('dom0');
    expect(p.domains).toHaveLength(1);
    const d = p.domains[0]!;
    expect(d).toMatchObject({ name: 'dom0', image: HELLO, memBytes: 64 * 2 ** 20, vcpus: 4, cmdline: 'x=1', privileged: true });
    expect(d.disks?.map((x) => x.origin)).toEqual([`--disk ${join(dir, 'd.img')}`]);
    expect(d.nets?.map((x) => x.switch)).toEqual(['lan']);
    const files = parseBootVolume(d.bootVolume!);
    expect(files.map((f) => [f.name, new TextDecoder().decode(f.bytes.subarray(0, 10))])).toEqual([
      ['a', 'first file'],
      ['bee', '\x07'.repeat(10)],
    ]);
    expect(files[1]!.length).toBe(1000);
  });

  it('takes --name, and gives an empty boot volume without --image', () => {
    const p = plan(HELLO, '--mem', '16M', '--name', 'ctl');
    expect(p.endWith).toBe('ctl');
    expect(parseBootVolume(p.domains[0]!.bootVolume!)).toEqual([]);
  });

  it('gives dom0 the boot volume as its first device, read-only, then the others', async () => {
    const { buildSystem } = await import('../../../src/cli/run.ts');
    const p = plan(HELLO, '--mem', '16M', '--image', `a=${a}`, '--disk', join(dir, 'disk.img') + ',size=64K', '--console', `file:${join(dir, 'con.txt')}`);
    const built = await buildSystem(p, { console: () => {}, log: () => {} });
    try {
      const [dom0] = built.domains;
      expect(dom0!.privileged).toBe(true);
      expect(built.devices[0]!.map((d) => d.name)).toEqual(['boot', 'disk0', 'console0']);
      expect(built.system.domainInfo(dom0!).flags & DOMINF_PRIVILEGED).toBe(DOMINF_PRIVILEGED);
    } finally {
      built.close();
    }
  });
});

describe('pvisor boot, a plain guest as dom0', () => {
  it('refuses an unmodified guest as dom0 (exit 2): it cannot make hypercalls', async () => {
    const r = await pvisor('boot', repo('guest-kit/workloads/idle-fv.wasm'), '--mem', '16M');
    expect(r.status).toBe(2);
    expect(r.err).toContain('pvisor: domain dom0: an unmodified guest (it imports nothing from module pv) cannot be the controlling domain; build it with the guest kit');
  });

  it('runs it and prints the report as pvisor run does', async () => {
    const r = await pvisor('boot', HELLO, '--mem', '2M', '--image', `a=${a}`);
    expect(r.status, r.err).toBe(0);
    expect(r.err).toMatch(/^pvisor: domain dom0 \(1\): powered off, code 0\npvisor: 1 domain powered off cleanly; /);
  });
});
