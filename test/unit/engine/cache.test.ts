import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey, clearInProcessCache, compileGuest, instrumentCached } from '../../../src/engine/cache.ts';
import { GuestImageError } from '../../../src/engine/errors.ts';
import { instrument } from '../../../src/engine/instrument.ts';
import { wat } from '../../support/wat.ts';

const GUEST = wat(`(module (import "env" "memory" (memory 1 1 shared))
  (func (export "_start") (param i32) (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))))`);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvisor-cache-test-'));
  clearInProcessCache();
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  clearInProcessCache();
});

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const entryFile = () => join(dir, `${cacheKey(GUEST)}.wasm`);

describe('instrumentCached', () => {
  it('instruments once, then serves from the disk cache and from memory', () => {
    const first = instrumentCached(GUEST, { dir });
    expect(first.fromCache).toBe(false);
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(same(first.bytes, instrument(GUEST))).toBe(true);
    expect(readdirSync(dir)).toEqual([`${first.hash}.wasm`]); // no temp files left behind

    const again = instrumentCached(GUEST, { dir }); // in-process map
    expect(again.fromCache).toBe(true);
    expect(again.bytes).toBe(first.bytes);

    clearInProcessCache();
    const fromDisk = instrumentCached(GUEST, { dir });
    expect(fromDisk.fromCache).toBe(true);
    expect(fromDisk.hash).toBe(first.hash);
    expect(same(fromDisk.bytes, first.bytes)).toBe(true);
  });

  it.each([
    ['a flipped byte', (b: Buffer) => ((b[Math.floor(b.length / 2)]! ^= 0xff), b)],
    ['truncation', (b: Buffer) => b.subarray(0, b.length - 100)],
    ['garbage', () => Buffer.from('not wasm at all')],
    ['an empty file', () => Buffer.alloc(0)],
    ['a valid module sealed for another key', (b: Buffer) => (b.fill(0x11, b.length - 64, b.length - 32), b)],
  ])('ignores and rebuilds an entry corrupted by %s', (_what, corrupt) => {
    const good = instrumentCached(GUEST, { dir });
    writeFileSync(entryFile(), corrupt(readFileSync(entryFile())));
    clearInProcessCache();
    const rebuilt = instrumentCached(GUEST, { dir });
    expect(rebuilt.fromCache).toBe(false);
    expect(same(rebuilt.bytes, good.bytes)).toBe(true);
    clearInProcessCache();
    expect(instrumentCached(GUEST, { dir }).fromCache).toBe(true); // the entry was repaired
  });

  it('uses $PVISOR_CACHE_DIR by default', () => {
    const saved = process.env.PVISOR_CACHE_DIR;
    process.env.PVISOR_CACHE_DIR = dir;
    try {
      const r = instrumentCached(GUEST);
      expect(readdirSync(dir)).toEqual([`${r.hash}.wasm`]);
    } finally {
      if (saved === undefined) delete process.env.PVISOR_CACHE_DIR;
      else process.env.PVISOR_CACHE_DIR = saved;
    }
  });

  it('still works when the cache directory cannot be written', () => {
    const notADir = join(dir, 'file');
    writeFileSync(notADir, 'x');
    const r = instrumentCached(GUEST, { dir: join(notADir, 'sub') });
    expect(r.fromCache).toBe(false);
    expect(WebAssembly.validate(r.bytes as Uint8Array<ArrayBuffer>)).toBe(true);
  });

  it('keys on the content and never caches failures', () => {
    const other = wat(`(module (import "env" "memory" (memory 1 1 shared)) (func (export "_start") (param i32) nop))`);
    expect(cacheKey(other)).not.toBe(cacheKey(GUEST));
    expect(cacheKey(GUEST)).toBe(cacheKey(Uint8Array.from(GUEST)));
    const bad = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5]);
    expect(() => instrumentCached(bad, { dir })).toThrow(GuestImageError);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('compileGuest', () => {
  it('returns one compiled module per image in a process', () => {
    const a = compileGuest(GUEST, { dir });
    expect(compileGuest(GUEST, { dir })).toBe(a);
    expect(WebAssembly.Module.exports(a).map((e) => e.name)).toContain('__pv_fuel');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const inst = new WebAssembly.Instance(a, { env: { memory }, pvisor: { fuel: () => {} } });
    expect(typeof inst.exports._start).toBe('function');
  });
});
