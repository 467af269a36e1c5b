/**
 * `npm run gen`: validate spec/abi.json, then write every generated file.
 * `npm run gen -- --check`: write nothing; exit 1 listing stale or missing files.
 * Exit 2 (with every problem listed) when the spec is invalid.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkGenerated, generateAll, REPO_ROOT, SPEC_PATH } from './generate.ts';
import { loadSpec } from './validate.ts';

function fail(problems: readonly string[]): never {
  process.stderr.write(`${SPEC_PATH} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n`);
  for (const p of problems) process.stderr.write(`  ${SPEC_PATH}${p.startsWith('/') ? '#' : ': '}${p}\n`);
  process.exit(2);
}

function main(argv: readonly string[]): void {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`usage: tsx tools/gen/main.ts [--check]\nunknown argument: ${unknown.join(' ')}\n`);
    process.exit(2);
  }
  if (argv.includes('--check')) {
    const r = checkGenerated(REPO_ROOT);
    if (!r.ok) fail(r.problems);
    if (r.stale.length > 0) {
      process.stderr.write('generated files are out of date with spec/abi.json (run `npm run gen`):\n');
      for (const s of r.stale) process.stderr.write(`  ${s.reason}: ${s.path}\n`);
      process.exit(1);
    }
    process.stdout.write('generated files are up to date\n');
    return;
  }
  const r = loadSpec(join(REPO_ROOT, SPEC_PATH));
  if (!r.ok) fail(r.problems);
  for (const f of generateAll(r.spec)) {
    const p = join(REPO_ROOT, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
    process.stdout.write(`wrote ${f.path}\n`);
  }
}

main(process.argv.slice(2));
