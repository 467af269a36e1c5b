/**
 * One parse, every output: maps a validated spec to the full set of generated files, and
 * compares them with what is on disk (for `--check` and the freshness test).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { C_HEADER_PATH, emitC } from './emit-c.ts';
import { emitMd } from './emit-md.ts';
import { emitTs } from './emit-ts.ts';
import type { AbiSpec } from './spec.ts';
import { loadSpec } from './validate.ts';

/** Repository root (two levels above this file). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The spec file, repository-relative. */
export const SPEC_PATH = 'spec/abi.json';

/** One generated file: repository-relative path and full content. */
export interface GeneratedFile {
  path: string;
  content: string;
}

/** Every generated file for `spec`, in a fixed order. */
export function generateAll(spec: AbiSpec): GeneratedFile[] {
  const files: Array<[string, string]> = [...emitTs(spec), [C_HEADER_PATH, emitC(spec)], ['docs/abi.md', emitMd(spec)]];
  return files.map(([path, content]) => ({ path, content }));
}

/** A generated file whose on-disk copy is not what the generator produces now. */
export interface StaleFile {
  path: string;
  reason: 'missing' | 'stale';
}

/** Result of a freshness check. */
export type CheckResult = { ok: true; stale: StaleFile[] } | { ok: false; problems: string[] };

/**
 * Validates the spec under `root` and lists the generated files that are missing or differ.
 * Writes nothing. `ok: false` means the spec itself is invalid.
 */
export function checkGenerated(root: string = REPO_ROOT): CheckResult {
  const r = loadSpec(join(root, SPEC_PATH));
  if (!r.ok) return r;
  const stale: StaleFile[] = [];
  for (const f of generateAll(r.spec)) {
    const p = join(root, f.path);
    if (!existsSync(p)) stale.push({ path: f.path, reason: 'missing' });
    else if (readFileSync(p, 'utf8') !== f.content) stale.push({ path: f.path, reason: 'stale' });
  }
  return { ok: true, stale };
}
