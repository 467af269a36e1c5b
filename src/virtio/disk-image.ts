/**
 * Disk images behind virtio-blk: an in-memory image and a raw file.
 *
 * The data path copies once: `read` fills the caller's view (a subarray of guest memory) and
 * `write` takes one, so a 64 KiB request is one memcpy (memory image) or one pread/pwrite
 * straight into/out of guest memory (raw file) — no staging buffer.
 *
 * Host failures (EIO, ENOSPC, a closed fd) surface as {@link HostIoError}: the backend turns
 * them into VIRTIO_BLK_S_IOERR plus a host log line (error class 3), never a host crash.
 * Configuration mistakes (opening a path that does not exist without `create`) throw plain
 * errors at construction: they are the host operator's, not the guest's.
 * @module
 */
import * as nodeFs from 'node:fs';
import { HostIoError } from './device.ts';

/** A block device's backing store, addressed in bytes. Offsets and lengths are checked by the caller. */
export interface DiskImage {
  /** Size in bytes (the device exposes `floor(size / 512)` sectors). */
  readonly size: number;
  /** True when writes must be refused (the device offers VIRTIO_BLK_F_RO). */
  readonly readOnly: boolean;
  /** Fills `dst` with the bytes at `[offset, offset + dst.length)`. Throws {@link HostIoError}. */
  read(offset: number, dst: Uint8Array): void;
  /** Stores `src` at `offset`. Throws {@link HostIoError}. */
  write(offset: number, src: Uint8Array): void;
  /** Zeroes `[offset, offset + len)` (DISCARD, WRITE_ZEROES). Throws {@link HostIoError}. */
  zero(offset: number, len: number): void;
  /** Makes every completed write durable before returning (FLUSH). Throws {@link HostIoError}. */
  flush(): void;
  /** Releases host resources; further calls fail with {@link HostIoError}. */
  close(): void;
}

/** An image held in a host `Uint8Array` (tests, scratch disks). FLUSH is a no-op: nothing is volatile. */
export class MemoryDiskImage implements DiskImage {
  /** The image bytes (shared with the caller when a `Uint8Array` was passed in). */
  readonly data: Uint8Array;
  /** See {@link DiskImage.readOnly}. */
  readonly readOnly: boolean;
  /** Flushes requested so far (tests check FLUSH reaches the image). */
  flushes = 0;

  /** Wraps `data`, or a fresh zeroed image of `data` bytes. */
  constructor(data: Uint8Array | number, opts: { readOnly?: boolean } = {}) {
    this.data = typeof data === 'number' ? new Uint8Array(data) : data;
    this.readOnly = opts.readOnly ?? false;
  }

  /** See {@link DiskImage.size}. */
  get size(): number {
    return this.data.length;
  }

  /** See {@link DiskImage.read}. */
  read(offset: number, dst: Uint8Array): void {
    dst.set(this.data.subarray(offset, offset + dst.length));
  }

  /** See {@link DiskImage.write}. */
  write(offset: number, src: Uint8Array): void {
    this.data.set(src, offset);
  }

  /** See {@link DiskImage.zero}. */
  zero(offset: number, len: number): void {
    this.data.fill(0, offset, offset + len);
  }

  /** See {@link DiskImage.flush}. */
  flush(): void {
    this.flushes++;
  }

  /** See {@link DiskImage.close}. */
  close(): void {}
}

/** The synchronous fs calls a {@link RawFileDiskImage} makes; replaceable to inject host faults in tests. */
export interface FileIo {
  /** `fs.readSync(fd, buffer, offset, length, position)`. */
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** `fs.writeSync(fd, buffer, offset, length, position)`. */
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** `fs.fsyncSync(fd)`. */
  fsyncSync(fd: number): void;
  /** `fs.closeSync(fd)`. */
  closeSync(fd: number): void;
}

/** Options of {@link RawFileDiskImage.open}. */
export interface RawFileOptions {
  /** Open read-only (`O_RDONLY`); the device offers VIRTIO_BLK_F_RO. */
  readOnly?: boolean;
  /**
   * When the file does not exist, create it sparse with this size in bytes (ftruncate, no
   * data written). Ignored when it exists. Without it, a missing file is an error.
   */
  createSize?: number;
  /** fs calls to use (default `node:fs`); tests inject EIO/ENOSPC here. */
  io?: Partial<FileIo>;
}

// Zeroes for DISCARD/WRITE_ZEROES on a file: written in chunks so a large range never needs a
// large allocation. 64 KiB matches the request size the data path is tuned for.
const ZERO_CHUNK = new Uint8Array(64 * 1024);

/**
 * A raw image file accessed with synchronous positional I/O on one fd (pread/pwrite), so a
 * request runs to completion inside the guest's trap. FLUSH is `fsync`: durable before OK.
 */
export class RawFileDiskImage implements DiskImage {
  /** The file path (logs). */
  readonly path: string;
  /** See {@link DiskImage.size}. */
  readonly size: number;
  /** See {@link DiskImage.readOnly}. */
  readonly readOnly: boolean;
  private readonly io: FileIo;
  private fd: number;

  private constructor(path: string, fd: number, size: number, readOnly: boolean, io: FileIo) {
    this.path = path;
    this.fd = fd;
    this.size = size;
    this.readOnly = readOnly;
    this.io = io;
  }

  /** Opens (or creates sparse, see {@link RawFileOptions.createSize}) the image at `path`. */
  static open(path: string, opts: RawFileOptions = {}): RawFileDiskImage {
    const readOnly = opts.readOnly ?? false;
    const io: FileIo = {
      readSync: opts.io?.readSync ?? ((fd, b, o, l, p) => nodeFs.readSync(fd, b, o, l, p)),
      writeSync: opts.io?.writeSync ?? ((fd, b, o, l, p) => nodeFs.writeSync(fd, b, o, l, p)),
      fsyncSync: opts.io?.fsyncSync ?? ((fd) => nodeFs.fsyncSync(fd)),
      closeSync: opts.io?.closeSync ?? ((fd) => nodeFs.closeSync(fd)),
    };
    if (!nodeFs.existsSync(path)) {
      if (opts.createSize === undefined) throw new Error(`disk image ${path} does not exist`);
      if (readOnly) throw new Error(`disk image ${path}: cannot create a read-only image`);
      if (!Number.isSafeInteger(opts.createSize) || opts.createSize < 0) throw new Error(`disk image ${path}: bad size ${opts.createSize}`);
      // 'wx': fail rather than truncate if someone created it meanwhile; ftruncate makes it
      // sparse (no blocks allocated until written).
      const fd = nodeFs.openSync(path, 'wx+');
      nodeFs.ftruncateSync(fd, opts.createSize);
      return new RawFileDiskImage(path, fd, opts.createSize, false, io);
    }
    const fd = nodeFs.openSync(path, readOnly ? 'r' : 'r+');
    const size = nodeFs.fstatSync(fd).size;
    return new RawFileDiskImage(path, fd, size, readOnly, io);
  }

  /** See {@link DiskImage.read}. Past the end of a file that shrank under us reads zeroes. */
  read(offset: number, dst: Uint8Array): void {
    let done = 0;
    try {
      while (done < dst.length) {
        const n = this.io.readSync(this.fd, dst, done, dst.length - done, offset + done);
        if (n <= 0) break;
        done += n;
      }
    } catch (e) {
      throw new HostIoError(`read ${this.path} at ${offset}+${dst.length}`, e);
    }
    if (done < dst.length) dst.fill(0, done);
  }

  /** See {@link DiskImage.write}. */
  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new HostIoError(`write ${this.path}`, new Error('image is read-only'));
    let done = 0;
    try {
      while (done < src.length) {
        const n = this.io.writeSync(this.fd, src, done, src.length - done, offset + done);
        // A write that makes no progress would spin forever; treat it like ENOSPC.
        if (n <= 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
        done += n;
      }
    } catch (e) {
      throw new HostIoError(`write ${this.path} at ${offset}+${src.length}`, e);
    }
  }

  /** See {@link DiskImage.zero}. Writes zeroes (Node has no portable hole punching). */
  zero(offset: number, len: number): void {
    for (let done = 0; done < len; done += ZERO_CHUNK.length) {
      this.write(offset + done, ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, len - done)));
    }
  }

  /** See {@link DiskImage.flush}: `fsync(fd)`. */
  flush(): void {
    try {
      this.io.fsyncSync(this.fd);
    } catch (e) {
      throw new HostIoError(`fsync ${this.path}`, e);
    }
  }

  /** See {@link DiskImage.close}. */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      this.io.closeSync(fd);
    } catch (e) {
      throw new HostIoError(`close ${this.path}`, e);
    }
  }
}
