/**
 * The boot volume: the read-only disk `pvisor boot --image NAME=PATH` gives a controlling domain,
 * holding the guest images (or any other files) it creates domains from. The guest reads it with
 * the kit's pvisor/bootvol.h; docs/boot.md describes the format.
 *
 * FORMAT. Little-endian, 512-byte sectors.
 *
 * | offset | bytes | field |
 * |---|---|---|
 * | 0 | 8 | magic `PVBOOTV1` |
 * | 8 | 4 | count: number of entries (0..15) |
 * | 12 | 4 | reserved, 0 |
 * | 16 + 32·i | 16 | entry i: name, 1..15 bytes of UTF-8, NUL-padded |
 * | +16 | 4 | first_sector (≥ 1) |
 * | +20 | 4 | length in bytes |
 * | +24 | 4 | crc32 of the file (IEEE 802.3, as zlib's `crc32`) |
 * | +28 | 4 | reserved, 0 |
 *
 * Files follow sector 0 in entry order, each starting on a sector boundary; the last sector of a
 * file is zero-padded. The image is a whole number of sectors (at least one).
 * @module
 */

/** The first 8 bytes of sector 0. */
export const BOOTVOL_MAGIC = 'PVBOOTV1';
/** Bytes per sector. */
export const BOOTVOL_SECTOR = 512;
/** Most files on a volume (16 bytes of header and 15 entries of 32 fill sector 0). */
export const BOOTVOL_MAX_ENTRIES = 15;
/** Longest file name in bytes of UTF-8 (the 16-byte field keeps a NUL). */
export const BOOTVOL_NAME_MAX = 15;
/** Largest volume built: it is held in host memory, and sector numbers are u32 anyway. */
export const BOOTVOL_MAX_BYTES = 1024 * 1024 * 1024;
/** Manifest name of the boot volume device. */
export const BOOTVOL_DEVICE = 'boot';

const HEADER_BYTES = 16;
const ENTRY_BYTES = 32;

/** One file to put on a volume. */
export interface BootFile {
  /** Its name on the volume: 1..15 bytes of UTF-8, no NUL, unique. */
  name: string;
  /** Its contents. */
  bytes: Uint8Array;
  /** Where the user said it (e.g. `--image kernel=worker.wasm`), for messages; default `files[i]`. */
  origin?: string;
}

/** One file found on a volume by {@link parseBootVolume}. */
export interface BootVolumeEntry {
  /** Its name. */
  name: string;
  /** The sector it starts at. */
  firstSector: number;
  /** Its length in bytes. */
  length: number;
  /** The CRC-32 the directory records (verified against the bytes). */
  crc32: number;
  /** Its contents. */
  bytes: Uint8Array;
}

/** A volume that cannot be built, or an image that is not a valid volume; `field` names what is wrong. */
export class BootVolumeError extends Error {
  /** What is at fault: an origin such as `--image kernel=x.wasm`, `files[2].name`, or a header field such as `magic`, `entries[1].crc32`. */
  readonly field: string;
  /** Creates the error; the message is prefixed with the field. */
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'BootVolumeError';
    this.field = field;
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, reflected, as zlib's `crc32` and the kit's `pv_bootvol_crc32`). */
export function crc32(bytes: Uint8Array): number {
  let table = crcTable;
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    crcTable = table;
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** What is wrong with `name` as a file name on a volume, or undefined when it is fine. */
export function checkBootName(name: string): string | undefined {
  const len = new TextEncoder().encode(name).length;
  if (len === 0) return 'the name is empty; give 1 to 15 bytes, e.g. worker';
  if (len > BOOTVOL_NAME_MAX) return `the name "${name}" is ${len} bytes; names are at most ${BOOTVOL_NAME_MAX} bytes of UTF-8, shorten it`;
  if (name.includes('\0')) return 'the name contains a NUL byte; remove it';
  return undefined;
}

/** Sectors `length` bytes take (0 for an empty file). */
function sectorsFor(length: number): number {
  return Math.ceil(length / BOOTVOL_SECTOR);
}

/**
 * Builds the volume image of `files`, in this order.
 * @throws {@link BootVolumeError} naming the file (its `origin`, else `files[i]`) for a bad or
 *   repeated name, more than 15 files, or more than {@link BOOTVOL_MAX_BYTES} in all.
 */
export function buildBootVolume(files: readonly BootFile[]): Uint8Array {
  if (files.length > BOOTVOL_MAX_ENTRIES) {
    const extra = files[BOOTVOL_MAX_ENTRIES]!;
    throw new BootVolumeError(extra.origin ?? `files[${BOOTVOL_MAX_ENTRIES}]`, `${files.length} files; a boot volume holds at most ${BOOTVOL_MAX_ENTRIES}, drop some`);
  }
  const seen = new Map<string, string>();
  let sectors = 1;
  files.forEach((f, i) => {
    const field = f.origin ?? `files[${i}].name`;
    const bad = checkBootName(f.name);
    if (bad !== undefined) throw new BootVolumeError(field, bad);
    const earlier = seen.get(f.name);
    if (earlier !== undefined) throw new BootVolumeError(field, `the name "${f.name}" is already used by ${earlier}; give each file its own name`);
    seen.set(f.name, f.origin ?? `files[${i}]`);
    sectors += sectorsFor(f.bytes.length);
    if (sectors * BOOTVOL_SECTOR > BOOTVOL_MAX_BYTES) {
      throw new BootVolumeError(f.origin ?? `files[${i}].bytes`, `the volume would exceed ${BOOTVOL_MAX_BYTES / (1024 * 1024)} MiB; give smaller files`);
    }
  });
  const image = new Uint8Array(sectors * BOOTVOL_SECTOR);
  const dv = new DataView(image.buffer);
  image.set(new TextEncoder().encode(BOOTVOL_MAGIC), 0);
  dv.setUint32(8, files.length, true);
  let next = 1;
  files.forEach((f, i) => {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    image.set(new TextEncoder().encode(f.name), at);
    dv.setUint32(at + 16, next, true);
    dv.setUint32(at + 20, f.bytes.length, true);
    dv.setUint32(at + 24, crc32(f.bytes), true);
    image.set(f.bytes, next * BOOTVOL_SECTOR);
    next += sectorsFor(f.bytes.length);
  });
  return image;
}

/**
 * Reads a volume image back, checking it as the guest does (and more): magic, count, every
 * entry's name, bounds, reserved fields and CRC-32.
 * @throws {@link BootVolumeError} whose field names the part at fault (`image`, `magic`,
 *   `count`, `entries[i].name`, `entries[i].first_sector`, `entries[i].length`, `entries[i].crc32`, …).
 */
export function parseBootVolume(image: Uint8Array): BootVolumeEntry[] {
  if (image.length < BOOTVOL_SECTOR || image.length % BOOTVOL_SECTOR !== 0) {
    throw new BootVolumeError('image', `${image.length} bytes; a boot volume is a whole number of ${BOOTVOL_SECTOR}-byte sectors, at least one`);
  }
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const magic = new TextDecoder('latin1').decode(image.subarray(0, 8));
  if (magic !== BOOTVOL_MAGIC) throw new BootVolumeError('magic', `${JSON.stringify(magic)}, expected "${BOOTVOL_MAGIC}": not a boot volume`);
  const count = dv.getUint32(8, true);
  if (count > BOOTVOL_MAX_ENTRIES) throw new BootVolumeError('count', `${count}; at most ${BOOTVOL_MAX_ENTRIES}`);
  if (dv.getUint32(12, true) !== 0) throw new BootVolumeError('reserved', 'must be 0');
  const capacity = image.length / BOOTVOL_SECTOR;
  const out: BootVolumeEntry[] = [];
  const names = new Set<string>();
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    const field = (f: string): string => `entries[${i}].${f}`;
    const raw = image.subarray(at, at + 16);
    const nul = raw.indexOf(0);
    if (nul <= 0 || raw.subarray(nul).some((b) => b !== 0)) {
      throw new BootVolumeError(field('name'), 'must be 1 to 15 bytes followed by NUL padding');
    }
    let name: string;
    try {
      name = new TextDecoder('utf-8', { fatal: true }).decode(raw.subarray(0, nul));
    } catch {
      throw new BootVolumeError(field('name'), 'is not valid UTF-8');
    }
    if (names.has(name)) throw new BootVolumeError(field('name'), `"${name}" appears twice`);
    names.add(name);
    const firstSector = dv.getUint32(at + 16, true);
    const length = dv.getUint32(at + 20, true);
    const crc = dv.getUint32(at + 24, true);
    if (dv.getUint32(at + 28, true) !== 0) throw new BootVolumeError(field('reserved'), 'must be 0');
    if (firstSector === 0) throw new BootVolumeError(field('first_sector'), '0 is the directory; files start at sector 1 or later');
    if (firstSector + sectorsFor(length) > capacity) {
      throw new BootVolumeError(field('length'), `${length} bytes from sector ${firstSector} run past the volume's ${capacity} sectors`);
    }
    const bytes = image.slice(firstSector * BOOTVOL_SECTOR, firstSector * BOOTVOL_SECTOR + length);
    const actual = crc32(bytes);
    if (actual !== crc) {
      throw new BootVolumeError(field('crc32'), `the directory says 0x${crc.toString(16).padStart(8, '0')}, the bytes of "${name}" give 0x${actual.toString(16).padStart(8, '0')}`);
    }
    out.push({ name, firstSector, length, crc32: crc, bytes });
  }
  return out;
}
