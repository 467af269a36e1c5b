import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseDuration, parseMemSize } from '../../../src/cli/units.ts';

describe('parseMemSize', () => {
  it.each([
    ['64M', 64 * 2 ** 20],
    ['64MiB', 64 * 2 ** 20],
    ['64m', 64 * 2 ** 20],
    ['1G', 2 ** 30],
    ['1GiB', 2 ** 30],
    ['0.5G', 2 ** 29],
    ['16.5M', 16.5 * 2 ** 20],
    ['64K', 65536],
    ['65536', 65536],
    ['131072B', 131072],
    ['4G', 2 ** 32],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseMemSize(text)).toBe(bytes);
  });

  it.each([
    ['12X', '"12X" is not a size; use e.g. 64M or 1G'],
    ['', '"" is not a size; use e.g. 64M or 1G'],
    ['-1M', '"-1M" is not a size; use e.g. 64M or 1G'],
    ['64MB', '"64MB" is ambiguous; sizes are binary here: write 64M or 64MiB'],
    ['100000', '"100000" is not a multiple of 64K (the Wasm page size); use 64K or 128K'],
    ['1000', '"1000" is not a multiple of 64K (the Wasm page size); use 64K'],
    ['100.5K', '"100.5K" is not a multiple of 64K (the Wasm page size); use 64K or 128K'],
    ['0', '"0" is no memory at all; use at least 64K'],
    ['8G', '"8G" is more than 4G, the most a wasm32 guest can address'],
    ['1.3', '"1.3" is not a whole number of bytes'],
  ])('rejects %j', (text, message) => {
    expect(() => parseMemSize(text)).toThrow(message);
  });
});

describe('formatSize', () => {
  it('uses the largest exact unit', () => {
    expect([2 ** 30, 16 * 2 ** 20, 65536, 1000, 3 * 2 ** 20 + 65536].map(formatSize)).toEqual(['1G', '16M', '64K', '1000', '3136K']);
  });
});

describe('parseDuration', () => {
  it.each([
    ['10s', 10e9],
    ['500ms', 500e6],
    ['2m', 120e9],
    ['1h', 3600e9],
    ['100us', 100e3],
    ['100µs', 100e3],
    ['1000ns', 1000],
    ['1.5s', 1.5e9],
    ['0.1s', 1e8],
  ])('%s is %d ns', (text, ns) => {
    expect(parseDuration(text)).toBe(ns);
  });

  it.each([
    ['10', '"10" has no unit; use e.g. 10s or 10ms'],
    ['10x', '"10x" has an unknown unit "x"; use ns, us, ms, s, m or h'],
    ['soon', '"soon" is not a duration; use e.g. 10s, 500ms or 2m'],
    ['-1s', '"-1s" is not a duration; use e.g. 10s, 500ms or 2m'],
    ['0s', '"0s" is no time at all; use e.g. 10s'],
    ['1.5ns', '"1.5ns" is not a whole number of nanoseconds'],
  ])('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(message);
  });
});

describe('formatDuration', () => {
  it('picks a unit that keeps the number at least 1', () => {
    expect([10e9, 1.5e9, 250e6, 12_345, 7, 0].map(formatDuration)).toEqual(['10 s', '1.5 s', '250 ms', '12.345 µs', '7 ns', '0 ns']);
  });
});
