/**
 * The checked-in generated files must be exactly what the generator produces from
 * spec/abi.json now (CI also runs `npm run gen` + `git diff`).
 */
import { describe, expect, it } from 'vitest';
import { checkGenerated } from '../../../tools/gen/generate.ts';

describe('generated ABI files', () => {
  it('are up to date with spec/abi.json (run `npm run gen` if this fails)', () => {
    const r = checkGenerated();
    if (!r.ok) throw new Error(`spec/abi.json is invalid:\n${r.problems.join('\n')}`);
    const report = r.stale.map((s) => `${s.reason}: ${s.path}`);
    expect(report, `stale generated files; run \`npm run gen\`:\n${report.join('\n')}`).toEqual([]);
  });
});

describe('checkGenerated', () => {
  it('names missing and stale files', async () => {
    const { cpSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = mkdtempSync(join(tmpdir(), 'pvisor-gen-'));
    try {
      cpSync(new URL('../../../spec', import.meta.url), join(root, 'spec'), { recursive: true });
      mkdirSync(join(root, 'docs'));
      writeFileSync(join(root, 'docs', 'abi.md'), 'hand edit\n');
      const r = checkGenerated(root);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.stale).toContainEqual({ path: 'docs/abi.md', reason: 'stale' });
      expect(r.stale).toContainEqual({ path: 'src/abi/generated/dispatch.ts', reason: 'missing' });
      expect(r.stale).toContainEqual({ path: 'guest-kit/c/include/pvisor/abi.h', reason: 'missing' });
      expect(r.stale).toContainEqual({ path: 'src/abi/generated/hw.ts', reason: 'missing' });
      // Six TS files (constants, structs, calls, dispatch, hw, index), the C header, the docs page.
      expect(r.stale).toHaveLength(8);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
