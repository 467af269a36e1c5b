/**
 * `pvisor/testing` from a scratch project that depends on pvisor, as a user would have it: the
 * package is built (`tsconfig.build.json`, as `npm run build` / `prepare` do) into a staging
 * directory, packed with `npm pack` (so package.json "files" decides what ships), unpacked into a
 * scratch project's node_modules, and imported from plain Node (no tsx) and type-checked with
 * tsc. Hermetic: no network, fast-check linked from this repository's node_modules.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const tmp = mkdtempSync(join(tmpdir(), 'pvisor-pack-'));
const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('package export pvisor/testing', () => {
  it('is importable and type-checks from a scratch project that depends on the packed pvisor', () => {
    const stage = join(tmp, 'stage');
    run(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')], ROOT);
    cpSync(join(ROOT, 'package.json'), join(stage, 'package.json'));
    run('npm', ['pack', stage, '--ignore-scripts', '--pack-destination', tmp, '--silent'], tmp);
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    expect(tgz).toBeDefined();

    const scratch = join(tmp, 'scratch');
    const pkg = join(scratch, 'node_modules/pvisor');
    mkdirSync(pkg, { recursive: true });
    run('tar', ['-xzf', join(tmp, tgz!), '-C', pkg, '--strip-components=1'], tmp);
    symlinkSync(join(ROOT, 'node_modules/fast-check'), join(scratch, 'node_modules/fast-check'), 'dir');
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ type: 'module', private: true, dependencies: { pvisor: '*', 'fast-check': '*' } }));
    writeFileSync(
      join(scratch, 'check.mjs'),
      `import fc from 'fast-check';
import { modelRun, hvHost, hypercallArbitraries } from 'pvisor/testing';
modelRun(hvHost, { seed: 1, numRuns: 5 });
const a = hypercallArbitraries({ memSize: 65536, nrVcpus: 1, self: 1 });
console.log('ok', Object.keys(a).length, fc.sample(a.version.valid, 1)[0].nr);
`,
    );
    expect(run(process.execPath, ['check.mjs'], scratch).trim()).toBe('ok 28 1');

    writeFileSync(
      join(scratch, 'check.ts'),
      `import fc from 'fast-check';
import { modelRun, hvHost, type HostFactory, type HostUnderTest } from 'pvisor/testing';
const variant: HostFactory = (domains) => {
  const h: HostUnderTest = hvHost(domains);
  return { ...h, call: (dom, vcpu, nr, args) => h.call(dom, vcpu, nr, args) };
};
modelRun(variant, { seed: 1, numRuns: 1 });
export const n: number = fc.sample(fc.nat(), 1)[0]!;
// Real types, not \`any\` from an unresolved declaration file:
// @ts-expect-error a host factory is not a number
export const wrong: number = hvHost;
`,
    );
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: [] }, files: ['check.ts'] }),
    );
    // Throws (with tsc's diagnostics) when the types do not resolve.
    run(process.execPath, [TSC, '-p', scratch], scratch);
  });
});
