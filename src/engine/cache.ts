/**
 * Cache of instrumented guest images, by content hash: on disk across runs, in memory within
 * one process.
 *
 * Instrumenting costs 0.1–1 s (binaryen's first call in a process is the slowest), far more than
 * a run of a small guest, so the result is kept. The key covers everything the output depends on:
 * the input bytes, {@link INSTRUMENT_VERSION} and the binaryen package version.
 *
 * A cache file is never trusted: it ends with a custom section `pvisor.cache` holding its key
 * and the SHA-256 of the bytes before it, and the bytes must pass `WebAssembly.validate`.
 * Anything else (truncated, edited, renamed, unreadable) is ignored and rebuilt. Writes go to a
 * temporary file renamed into place, so concurrent runs never see half a file. Failing to write
 * (read-only directory, disk full) only costs the next run the instrumentation time.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { INSTRUMENT_VERSION, instrument } from './instrument.ts';

/** Version of the binaryen package, part of the key (a new binaryen may emit other bytes). */
const BINARYEN_VERSION: string = (createRequire(import.meta.url)('binaryen/package.json') as { version: string })
  .version;

/** Name of the trailing custom section that seals a cache file. */
const SEAL_NAME = 'pvisor.cache';
/** Seal = custom section id, size, name, key (32 bytes), SHA-256 of the module before it. */
const SEAL_PAYLOAD = 1 + SEAL_NAME.length + 32 + 32;
const SEAL_SIZE = 2 + SEAL_PAYLOAD;

/** Options of {@link instrumentCached} and {@link compileGuest}. */
export interface CacheOptions {
  /**
   * Cache directory. Default: `$PVISOR_CACHE_DIR`, else `node_modules/.cache/pvisor` under
   * the nearest directory (from the working directory up) that has a package.json, else under
   * the working directory.
   */
  dir?: string;
}

/** Result of {@link instrumentCached}. */
export interface InstrumentedImage {
  /** The instrumented module. Shared with the in-process cache: do not modify it. */
  bytes: Uint8Array;
  /** Cache key: hex SHA-256 of the input, the instrumentation version and binaryen's version. */
  hash: string;
  /** True when the result came from the in-process or on-disk cache, not from `instrument`. */
  fromCache: boolean;
}

const imagesInProcess = new Map<string, Uint8Array>();
const modulesInProcess = new Map<string, WebAssembly.Module>();

/**
 * Instruments a guest image (see `instrument`), using the in-process and on-disk caches.
 *
 * @param bytes - the guest image as linked
 * @param opts - cache directory
 * @returns the instrumented bytes, the cache key and whether the cache had them
 * @throws the `GuestImageError` of `instrument` for images it cannot instrument (never cached)
 */
export function instrumentCached(bytes: Uint8Array, opts: CacheOptions = {}): InstrumentedImage {
  const hash = cacheKey(bytes);
  const known = imagesInProcess.get(hash);
  if (known) return { bytes: known, hash, fromCache: true };

  const file = join(opts.dir ?? defaultCacheDir(), `${hash}.wasm`);
  const cached = readEntry(file, hash);
  if (cached) {
    imagesInProcess.set(hash, cached);
    return { bytes: cached, hash, fromCache: true };
  }

  const out = instrument(bytes);
  writeEntry(file, hash, out);
  imagesInProcess.set(hash, out);
  return { bytes: out, hash, fromCache: false };
}

/**
 * Instruments (through the caches) and compiles a guest image; compiled modules are kept per
 * process, so every vCPU and domain of the same image shares one `WebAssembly.Module`.
 *
 * @param bytes - the guest image as linked
 * @param opts - cache directory
 * @returns the compiled instrumented module
 * @throws the `GuestImageError` of `instrument` for images it cannot instrument
 */
export function compileGuest(bytes: Uint8Array, opts: CacheOptions = {}): WebAssembly.Module {
  const img = instrumentCached(bytes, opts);
  let mod = modulesInProcess.get(img.hash);
  if (!mod) {
    mod = new WebAssembly.Module(img.bytes as Uint8Array<ArrayBuffer>);
    modulesInProcess.set(img.hash, mod);
  }
  return mod;
}

/**
 * Forgets the in-process caches (images and compiled modules); the on-disk cache stays.
 * For tests, and for long-lived hosts that load many different images.
 */
export function clearInProcessCache(): void {
  imagesInProcess.clear();
  modulesInProcess.clear();
}

/**
 * The cache key of an image: hex SHA-256 of its bytes, {@link INSTRUMENT_VERSION} and the
 * binaryen package version.
 *
 * @param bytes - the guest image as linked
 * @returns 64 hex digits
 */
export function cacheKey(bytes: Uint8Array): string {
  return createHash('sha256')
    .update(bytes)
    .update(`\0${INSTRUMENT_VERSION}\0binaryen@${BINARYEN_VERSION}`)
    .digest('hex');
}

/** See {@link CacheOptions.dir}. */
function defaultCacheDir(): string {
  const fromEnv = process.env.PVISOR_CACHE_DIR;
  if (fromEnv) return fromEnv;
  let dir = process.cwd();
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'node_modules', '.cache', 'pvisor');
    const up = dirname(dir);
    if (up === dir) return join(process.cwd(), 'node_modules', '.cache', 'pvisor');
    dir = up;
  }
}

/** The module stored in a cache file, or undefined if it is missing or not exactly what we wrote. */
function readEntry(file: string, hash: string): Uint8Array | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined; // missing or unreadable: rebuild
  }
  if (data.length <= SEAL_SIZE) return undefined;
  const body = data.subarray(0, data.length - SEAL_SIZE);
  const expected = seal(body, hash);
  if (!expected.equals(data.subarray(data.length - SEAL_SIZE))) return undefined;
  const bytes = new Uint8Array(body); // own copy, detached from the file buffer's pool
  return WebAssembly.validate(bytes) ? bytes : undefined;
}

/** Writes a cache file atomically (temp file + rename); errors only cost a rebuild next time. */
function writeEntry(file: string, hash: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, Buffer.concat([bytes, seal(bytes, hash)]));
    renameSync(tmp, file);
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* nothing more to do */
    }
  }
}

/** The trailing custom section that seals `body` under `hash`. */
function seal(body: Uint8Array, hash: string): Buffer {
  const out = Buffer.alloc(SEAL_SIZE);
  out[0] = 0; // custom section
  out[1] = SEAL_PAYLOAD; // < 128: a one-byte LEB128
  out[2] = SEAL_NAME.length;
  out.write(SEAL_NAME, 3, 'latin1');
  Buffer.from(hash, 'hex').copy(out, 3 + SEAL_NAME.length);
  createHash('sha256').update(body).digest().copy(out, 3 + SEAL_NAME.length + 32);
  return out;
}
