/**
 * The boot volume format (src/control/boot-volume.ts, docs/boot.md): the bytes the builder
 * writes field by field, the limits (15 files, 15-byte names, unique names), the checks the
 * parser makes (each error names the field), and a round trip of random file sets.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOOTVOL_MAGIC,
  BOOTVOL_MAX_ENTRIES,
  BOOTVOL_SECTOR,
  BootVolumeError,
  buildBootVolume,
  checkBootName,
  crc32,
  parseBootVolume,
  type BootFile,
} from '../../../src/control/boot-volume.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const enc = new TextEncoder();
const file = (name: string, text: string, origin?: string): BootFile => ({ name, bytes: enc.encode(text), ...(origin !== undefined ? { origin } : {}) });

/** The error `fn` throws, which must be a BootVolumeError. */
function thrown(fn: () => unknown): BootVolumeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BootVolumeError);
    return e as BootVolumeError;
  }
  throw new Error('expected a BootVolumeError, nothing was thrown');
}

describe('crc32', () => {
  it('is the IEEE CRC-32 (check value of "123456789" is 0xcbf43926; empty is 0)', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });
});

describe('buildBootVolume', () => {
  it('writes the header, the entries and the sector-aligned files as the format says', () => {
    const a = new Uint8Array(600).map((_, i) => i & 0xff); // two sectors, the second partial
    const img = buildBootVolume([{ name: 'worker', bytes: a }, file('cfg', 'x=1\n')]);
    const dv = new DataView(img.buffer);
    expect(img.length).toBe(4 * BOOTVOL_SECTOR); // directory + 2 + 1
    expect(new TextDecoder().decode(img.subarray(0, 8))).toBe(BOOTVOL_MAGIC);
    expect(dv.getUint32(8, true)).toBe(2);
    expect(dv.getUint32(12, true)).toBe(0);
    // entry 0
    expect(Array.from(img.subarray(16, 32))).toEqual([...enc.encode('worker'), ...new Array(10).fill(0)]);
    expect(dv.getUint32(32, true)).toBe(1);
    expect(dv.getUint32(36, true)).toBe(600);
    expect(dv.getUint32(40, true)).toBe(crc32(a));
    expect(dv.getUint32(44, true)).toBe(0);
    // entry 1 starts after the two sectors of entry 0
    expect(new TextDecoder().decode(img.subarray(48, 51))).toBe('cfg');
    expect(dv.getUint32(64, true)).toBe(3);
    expect(dv.getUint32(68, true)).toBe(4);
    expect(Array.from(img.subarray(512, 512 + 600))).toEqual(Array.from(a));
    expect(img.subarray(512 + 600, 3 * 512).every((b) => b === 0)).toBe(true); // padding
    expect(new TextDecoder().decode(img.subarray(3 * 512, 3 * 512 + 4))).toBe('x=1\n');
  });

  it('builds an empty volume as one sector and an empty file with no sectors', () => {
    expect(buildBootVolume([]).length).toBe(BOOTVOL_SECTOR);
    const img = buildBootVolume([file('empty', ''), file('one', 'a')]);
    expect(img.length).toBe(2 * BOOTVOL_SECTOR);
    expect(parseBootVolume(img).map((e) => [e.name, e.firstSector, e.length])).toEqual([['empty', 1, 0], ['one', 1, 1]]);
  });

  it('takes 15 files and refuses the 16th, naming it', () => {
    const files = Array.from({ length: BOOTVOL_MAX_ENTRIES }, (_, i) => file(`f${i}`, `${i}`, `--image f${i}=f${i}.bin`));
    expect(parseBootVolume(buildBootVolume(files))).toHaveLength(15);
    const e = thrown(() => buildBootVolume([...files, file('f15', 'x', '--image f15=f15.bin')]));
    expect(e.field).toBe('--image f15=f15.bin');
    expect(e.message).toMatch(/16 files; a boot volume holds at most 15/);
  });

  it('refuses a name over 15 bytes (counted in UTF-8), an empty one and a NUL, naming the file', () => {
    expect(parseBootVolume(buildBootVolume([file('a'.repeat(15), '')]))[0]!.name).toBe('a'.repeat(15));
    let e = thrown(() => buildBootVolume([file('ok', ''), file('a'.repeat(16), '', '--image aaaaaaaaaaaaaaaa=x')]));
    expect(e.field).toBe('--image aaaaaaaaaaaaaaaa=x');
    expect(e.message).toMatch(/16 bytes; names are at most 15 bytes/);
    e = thrown(() => buildBootVolume([file('é'.repeat(8), '')])); // 16 bytes, 8 characters
    expect(e.field).toBe('files[0].name');
    expect(e.message).toMatch(/16 bytes/);
    expect(thrown(() => buildBootVolume([file('', '')])).message).toMatch(/empty/);
    expect(thrown(() => buildBootVolume([file('a\0b', '')])).message).toMatch(/NUL/);
    expect(checkBootName('worker')).toBeUndefined();
  });

  it('refuses a repeated name, naming both', () => {
    const e = thrown(() => buildBootVolume([file('w', '1', '--image w=a.wasm'), file('w', '2', '--image w=b.wasm')]));
    expect(e.field).toBe('--image w=b.wasm');
    expect(e.message).toMatch(/already used by --image w=a\.wasm/);
  });
});

describe('parseBootVolume', () => {
  const good = (): Uint8Array => buildBootVolume([file('kernel', 'hello world'), file('data', 'abc')]);
  const poke = (img: Uint8Array, off: number, v: number): Uint8Array => {
    new DataView(img.buffer).setUint32(off, v, true);
    return img;
  };

  it('names the field at fault', () => {
    expect(thrown(() => parseBootVolume(new Uint8Array(100))).field).toBe('image');
    const badMagic = good();
    badMagic[0] = 0x58;
    expect(thrown(() => parseBootVolume(badMagic)).field).toBe('magic');
    expect(thrown(() => parseBootVolume(poke(good(), 8, 16))).field).toBe('count');
    expect(thrown(() => parseBootVolume(poke(good(), 12, 1))).field).toBe('reserved');
    expect(thrown(() => parseBootVolume(poke(good(), 48 + 16, 0))).field).toBe('entries[1].first_sector');
    expect(thrown(() => parseBootVolume(poke(good(), 48 + 20, 1024))).field).toBe('entries[1].length');
    expect(thrown(() => parseBootVolume(poke(good(), 16 + 28, 7))).field).toBe('entries[0].reserved');
    const badName = good();
    badName[16 + 8] = 0x41; // a byte after the NUL of "kernel"
    expect(thrown(() => parseBootVolume(badName)).field).toBe('entries[0].name');
    const twice = good();
    twice.set(enc.encode('kernel\0'), 48);
    expect(thrown(() => parseBootVolume(twice)).message).toMatch(/"kernel" appears twice/);
  });

  it('detects a flipped bit in a file with its CRC-32', () => {
    const img = good();
    img[512 + 3]! ^= 0x10;
    const e = thrown(() => parseBootVolume(img));
    expect(e.field).toBe('entries[0].crc32');
    expect(e.message).toMatch(/the bytes of "kernel" give/);
  });

  it(`round-trips random file sets, and agrees with zlib's crc32 (seed ${SEED})`, () => {
    const name = fc.string({ minLength: 1, maxLength: 15 }).filter((s) => checkBootName(s) === undefined);
    const files = fc.uniqueArray(fc.record({ name, bytes: fc.uint8Array({ maxLength: 2000 }) }), { maxLength: 15, selector: (f) => f.name });
    fc.assert(
      fc.property(files, (fs) => {
        const img = buildBootVolume(fs);
        const back = parseBootVolume(img);
        expect(back.map((e) => e.name)).toEqual(fs.map((f) => f.name));
        back.forEach((e, i) => {
          expect(Array.from(e.bytes)).toEqual(Array.from(fs[i]!.bytes));
          // Files are laid out in order, each on its own sectors after the directory.
          const prev = back[i - 1];
          expect(e.firstSector).toBe(prev === undefined ? 1 : prev.firstSector + Math.ceil(prev.length / BOOTVOL_SECTOR));
          expect(e.crc32).toBe(zlibCrc32(fs[i]!.bytes) >>> 0);
        });
        expect(img.length % BOOTVOL_SECTOR).toBe(0);
      }),
      { seed: SEED, numRuns: Math.max(20, Math.floor(RUNS / 4)) },
    );
  });
});
