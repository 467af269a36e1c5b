/**
 * Memory sizes and durations as users type them.
 *
 * Sizes are binary, as in QEMU's `-m`: `64K`, `64M`, `64MiB`, `1G`; a bare number is bytes.
 * Guest memory is made of 64 KiB Wasm pages, so a size must be a multiple of 64 KiB.
 * Durations need a unit: `100ns`, `100us` (or `µs`), `500ms`, `10s`, `2m`, `1h`.
 *
 * The parsers throw {@link UnitError} with a message that quotes the input and names a fix;
 * callers prefix it with where the value came from (`--mem: …`, `domains[1].memory: …`).
 * @module
 */

/** A value that is not a valid size or duration. The message quotes it and says what to write. */
export class UnitError extends Error {
  override readonly name = 'UnitError';
}

/** Bytes in a Wasm page: guest memory sizes are multiples of this. */
export const WASM_PAGE = 65536;
/** The most memory a wasm32 guest can address: 65536 pages = 4 GiB. */
export const MAX_MEMORY = 65536 * WASM_PAGE;

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * Parses a guest memory size: `64M`, `64MiB`, `1G`, `512K`, `65536` (bytes).
 * @returns bytes, a positive multiple of 64 KiB, at most 4 GiB.
 * @throws {@link UnitError} when the text is not a size, not a multiple of 64 KiB, zero or above 4 GiB.
 */
export function parseMemSize(text: string): number {
  const bytes = parseBytes(text);
  if (bytes === 0) throw new UnitError(`"${text}" is no memory at all; use at least 64K`);
  if (bytes > MAX_MEMORY) throw new UnitError(`"${text}" is more than 4G, the most a wasm32 guest can address`);
  if (bytes % WASM_PAGE !== 0) {
    const down = Math.floor(bytes / WASM_PAGE) * WASM_PAGE;
    const up = down + WASM_PAGE;
    const choices = down > 0 ? `${formatSize(down)} or ${formatSize(up)}` : formatSize(up);
    throw new UnitError(`"${text}" is not a multiple of 64K (the Wasm page size); use ${choices}`);
  }
  return bytes;
}

/** Bytes in a disk sector: disk image sizes are multiples of this. */
export const SECTOR = 512;

/**
 * Parses a disk image size: `64M`, `1G`, `512K`, `1048576` (bytes); binary units as for memory,
 * up to `T`.
 * @returns bytes, a positive multiple of 512 (the virtio-blk sector size).
 * @throws {@link UnitError} when the text is not a size, zero, too large or not a multiple of 512.
 */
export function parseDiskSize(text: string): number {
  const bytes = parseBytes(text);
  if (bytes === 0) throw new UnitError(`"${text}" is an empty disk; use e.g. 64M`);
  if (!Number.isSafeInteger(bytes)) throw new UnitError(`"${text}" is too large`);
  if (bytes % SECTOR !== 0) {
    const down = Math.floor(bytes / SECTOR) * SECTOR;
    const up = down + SECTOR;
    const choices = down > 0 ? `${formatSize(down)} or ${formatSize(up)}` : formatSize(up);
    throw new UnitError(`"${text}" is not a multiple of 512 (the sector size); use ${choices}`);
  }
  return bytes;
}

/** A size in bytes as typed (`64M`, `64MiB`, `65536`); `64MB` is refused as ambiguous. */
function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(ib|b)?|(b))?\s*$/i.exec(text);
  if (!m) throw new UnitError(`"${text}" is not a size; use e.g. 64M or 1G`);
  const [, num = '', letter = '', suffix = '', bytesOnly = ''] = m;
  if (suffix.toLowerCase() === 'b') {
    const l = letter.toUpperCase();
    throw new UnitError(`"${text}" is ambiguous; sizes are binary here: write ${num}${l} or ${num}${l}iB`);
  }
  const unit = SIZE_UNITS[(letter || bytesOnly).toLowerCase()] as number;
  const bytes = decimalTimes(num, unit);
  if (bytes === undefined) throw new UnitError(`"${text}" is not a whole number of bytes`);
  return bytes;
}

/** Formats bytes the way {@link parseMemSize} reads them, in the largest exact unit: `16M`, `64K`, `1G`, `1000`. */
export function formatSize(bytes: number): string {
  for (const [suffix, unit] of [['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parses a duration: `10s`, `500ms`, `2m`, `100us`, `1000ns`, `1.5s`.
 * @returns nanoseconds, a positive integer.
 * @throws {@link UnitError} when the text has no unit, an unknown unit, is zero or is not whole nanoseconds.
 */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zµ]*)\s*$/i.exec(text);
  if (!m) throw new UnitError(`"${text}" is not a duration; use e.g. 10s, 500ms or 2m`);
  const [, num = '', unitText = ''] = m;
  if (unitText === '') throw new UnitError(`"${text}" has no unit; use e.g. ${num}s or ${num}ms`);
  const unit = DURATION_UNITS[unitText] ?? DURATION_UNITS[unitText.toLowerCase()];
  if (unit === undefined) {
    throw new UnitError(`"${text}" has an unknown unit "${unitText}"; use ns, us, ms, s, m or h`);
  }
  const ns = decimalTimes(num, unit);
  if (ns === undefined) throw new UnitError(`"${text}" is not a whole number of nanoseconds`);
  if (ns === 0) throw new UnitError(`"${text}" is no time at all; use e.g. 10s`);
  if (!Number.isSafeInteger(ns)) throw new UnitError(`"${text}" is too long`);
  return ns;
}

/**
 * Formats nanoseconds for people, in the largest unit that keeps the number at least 1, with
 * up to three decimals: `10 s`, `1.5 s`, `250 ms`, `12.345 µs`, `7 ns`.
 */
export function formatDuration(ns: number): string {
  for (const [name, unit] of [['s', 1e9], ['ms', 1e6], ['µs', 1e3]] as const) {
    if (ns >= unit) return `${+(ns / unit).toFixed(3)} ${name}`;
  }
  return `${ns} ns`;
}

/** `digits` (a decimal like `1.5`) times an integer `unit`, when the product is a whole number. */
function decimalTimes(digits: string, unit: number): number | undefined {
  const [whole = '0', frac = ''] = digits.split('.');
  const scale = 10n ** BigInt(frac.length);
  const product = BigInt(whole + frac) * BigInt(unit);
  if (product % scale !== 0n) return undefined;
  return Number(product / scale);
}
