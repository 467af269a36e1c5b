/**
 * Utf8Stream (src/control/utf8-stream.ts): any split of any byte string gives exactly the text a
 * single streaming TextDecoder gives, U+FFFD replacements included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Utf8Stream } from '../../../src/control/utf8-stream.ts';
import { RUNS, SEED } from '../../support/seed.ts';

/** What one streaming TextDecoder makes of the chunks. */
function reference(chunks: Uint8Array[]): string {
  const d = new TextDecoder('utf-8');
  return chunks.map((c) => d.decode(c, { stream: true })).join('') + d.decode();
}

function ours(chunks: Uint8Array[]): string {
  const s = new Utf8Stream();
  return chunks.map((c) => s.decode(c)).join('') + s.end();
}

/** Splits `bytes` at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

// Bytes that stress the decoder: ASCII, every kind of lead byte, continuation bytes, invalid ones.
const byte = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xbf }), fc.integer({ min: 0xc0, max: 0xff }));

describe('Utf8Stream', () => {
  it(`decodes text split anywhere as one streaming TextDecoder does (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const bytes = new TextEncoder().encode(text);
        expect(ours(split(bytes, cuts))).toBe(text);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it(`gives the same replacements as TextDecoder for any bytes, split anywhere (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (raw, cuts) => {
        const chunks = split(Uint8Array.from(raw), cuts);
        expect(ours(chunks)).toBe(reference(chunks));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('keeps back a character cut in two until its last byte arrives, and ends an unfinished one with U+FFFD', () => {
    const s = new Utf8Stream();
    const euro = new TextEncoder().encode('a€'); // 61 e2 82 ac
    expect(s.decode(euro.subarray(0, 3))).toBe('a');
    expect(s.decode(euro.subarray(3))).toBe('€');
    expect(s.decode(Uint8Array.of(0xf0, 0x9f))).toBe('');
    expect(s.end()).toBe('\ufffd');
    expect(s.end()).toBe('');
  });
});
