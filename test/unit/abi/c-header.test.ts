/**
 * The generated guest header compiles alone as strict C99 for wasm32, and its layout
 * assertions really fire when a layout drifts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const hasClang = spawnSync('clang-16', ['--version'], { encoding: 'utf8' }).status === 0;
const header = readFileSync(new URL('../../../guest-kit/c/include/pvisor/abi.h', import.meta.url), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'pvisor-abi-h-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FLAGS = ['--target=wasm32', '-std=c99', '-Wall', '-Wextra', '-Werror', '-ffreestanding', '-nostdlib', '-fsyntax-only'];

/** Compiles `main.c` against `headerText` placed at include/pvisor/abi.h. */
function compile(name: string, headerText: string, mainC: string, extra: string[] = []) {
  const dir = join(work, name);
  mkdirSync(join(dir, 'include', 'pvisor'), { recursive: true });
  writeFileSync(join(dir, 'include', 'pvisor', 'abi.h'), headerText);
  writeFileSync(join(dir, 'main.c'), mainC);
  return spawnSync('clang-16', [...FLAGS, ...extra, '-I', join(dir, 'include'), join(dir, 'main.c')], { encoding: 'utf8' });
}

describe('guest-kit/c/include/pvisor/abi.h', () => {
  it.runIf(hasClang)('compiles with clang-16 -std=c99 -Wall -Wextra -Werror (needs clang-16; CI installs it)', () => {
    const r = compile('plain', header, '#include <pvisor/abi.h>\n#include <pvisor/abi.h>\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.runIf(hasClang)('compiles under -pedantic and its wrappers are callable (needs clang-16)', () => {
    const main = [
      '#include <pvisor/abi.h>',
      'int32_t use(void);',
      'int32_t use(void) {',
      '    static struct pv_wallclock wc;',
      '    static const char msg[] = "hi";',
      '    pv_start_info_t si; (void)si;',
      '    pv_mmio_write32(PV_MMIO_DEVICE_BASE + PV_MMIO_WINDOW_SIZE, pv_mmio_read32(PV_MMIO_DEVICE_BASE));',
      '    pv_device_info_t dev; dev.type = PV_VIRTIO_ID_BLOCK; (void)dev;',
      '    return pv_version() + pv_console_write(msg, 2) + pv_wallclock(&wc) + pv_sched_shutdown(PV_SHUTDOWN_POWEROFF, -1)',
      '        + PV_EFAULT + PV_HC_CONSOLE_WRITE + (int32_t)PV_ABI_VERSION + PV_EVTCHNSTAT_DEVICE + PV_MAX_DEVICES;',
      '}',
      '',
    ].join('\n');
    const r = compile('pedantic', header, main, ['-pedantic']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.runIf(hasClang)('fails to compile when a field moves (the _Static_asserts are live; needs clang-16)', () => {
    const drifted = header.replace(/struct pv_start_info \{([\s\S]*?)uint32_t magic;/, 'struct pv_start_info {$1uint64_t magic;');
    expect(drifted).not.toBe(header);
    const r = compile('drift', drifted, '#include <pvisor/abi.h>\n');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/offsetof\(struct pv_start_info, abi_version\) must be 4/);
  });
});
