/**
 * virtio-blk backend (virtio 1.2 §5.2) through the MMIO transport, driven at register level:
 * every request type with its success and error outcomes, raw-file images (FLUSH = fsync,
 * sparse creation, read-only), host I/O faults becoming IOERR plus a log line, multi-segment
 * and indirect requests, and several requests in one batch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BLK_CONFIG,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
  VirtioBlk,
} from '../../../src/virtio/blk.ts';
import { type DiskImage, type FileIo, MemoryDiskImage, RawFileDiskImage } from '../../../src/virtio/disk-image.ts';
import { HostIoError } from '../../../src/virtio/device.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';
import { makeGuestMemory } from '../../support/guest-memory.ts';
import { BlkDriver, MmioDriver, blkHeader, discardSegments } from '../../support/mmio-driver.ts';
import { F_NEXT, F_WRITE } from '../../support/virtq-driver.ts';

const SECTORS = 64;

interface Env {
  blk: VirtioBlk;
  dev: VirtioMmioDevice;
  drv: BlkDriver;
  mmio: MmioDriver;
  logs: string[];
  irqs: { n: number };
}

function setup(image: DiskImage = new MemoryDiskImage(SECTORS * 512), opts: { eventIdx?: boolean; id?: string } = {}): Env {
  const mem = makeGuestMemory(1 << 20);
  const logs: string[] = [];
  const blk = new VirtioBlk({ image, queueSize: 32, ...(opts.id !== undefined ? { id: opts.id } : {}) });
  const dev = new VirtioMmioDevice({ name: 'vda', backend: blk, mem, log: (l) => logs.push(l) });
  const irqs = { n: 0 };
  dev.setInterrupt(() => irqs.n++);
  const mmio = new MmioDriver(dev, mem);
  const r = mmio.init({ accept: (f) => (opts.eventIdx === false ? f & ~(1n << 29n) : f) });
  expect(r.ok).toBe(true);
  return { blk, dev, drv: new BlkDriver(mmio, r.queues[0]!), mmio, logs, irqs };
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + (i >> 8)) & 0xff);
}

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pvisor-blk-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('virtio-blk configuration and features (§5.2.3, §5.2.4)', () => {
  it('offers SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES (RO only for read-only images) and lays out the config per §5.2.4', () => {
    const { mmio } = setup();
    const f = mmio.readFeatures();
    for (const b of [2, 6, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES]) expect((f >> BigInt(b)) & 1n).toBe(1n);
    expect((f >> BigInt(VIRTIO_BLK_F_RO)) & 1n).toBe(0n);
    expect((f >> 1n) & 1n).toBe(0n); // SIZE_MAX not offered
    expect(mmio.config64(BLK_CONFIG.CAPACITY)).toBe(SECTORS);
    expect(mmio.config32(BLK_CONFIG.SEG_MAX)).toBe(30);
    expect(mmio.config32(BLK_CONFIG.BLK_SIZE)).toBe(512);
    expect(mmio.config32(BLK_CONFIG.MAX_DISCARD_SECTORS)).toBe(65536);
    expect(mmio.config32(BLK_CONFIG.MAX_DISCARD_SEG)).toBe(16);
    expect(mmio.config32(BLK_CONFIG.DISCARD_SECTOR_ALIGNMENT)).toBe(1);
    expect(mmio.config32(BLK_CONFIG.MAX_WRITE_ZEROES_SECTORS)).toBe(65536);
    expect(mmio.config32(BLK_CONFIG.MAX_WRITE_ZEROES_SEG)).toBe(16);
    expect(mmio.config32(BLK_CONFIG.WRITE_ZEROES_MAY_UNMAP) & 0xff).toBe(0);
    // Past the config space: zero.
    expect(mmio.config32(0x200)).toBe(0);
  });

  it('offers VIRTIO_BLK_F_RO for a read-only image', () => {
    const { mmio } = setup(new MemoryDiskImage(4096, { readOnly: true }));
    expect((mmio.readFeatures() >> BigInt(VIRTIO_BLK_F_RO)) & 1n).toBe(1n);
  });

  it('config writes are ignored (every field is read-only)', () => {
    const { mmio } = setup();
    mmio.w(0x100 + BLK_CONFIG.BLK_SIZE, 4096);
    expect(mmio.config32(BLK_CONFIG.BLK_SIZE)).toBe(512);
  });
});

describe('virtio-blk requests (§5.2.6)', () => {
  it('OUT then IN round-trips data; used len counts IN data + status, OUT only the status', () => {
    const { drv, blk } = setup();
    const data = pattern(1024, 1);
    const w = drv.one({ type: VIRTIO_BLK_T_OUT, sector: 3, out: data });
    expect(w).toMatchObject({ status: VIRTIO_BLK_S_OK, usedLen: 1 });
    const r = drv.one({ type: VIRTIO_BLK_T_IN, sector: 3, inLen: 1024 });
    expect(r).toMatchObject({ status: VIRTIO_BLK_S_OK, usedLen: 1025 });
    expect(r.data).toEqual(data);
    expect((blk.image as MemoryDiskImage).data.subarray(3 * 512, 5 * 512)).toEqual(data);
  });

  it('reads and writes the last sector; one past the end is IOERR and touches nothing', () => {
    const { drv, blk } = setup();
    const img = (blk.image as MemoryDiskImage).data;
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: SECTORS - 1, out: pattern(512, 2) }).status).toBe(VIRTIO_BLK_S_OK);
    const before = img.slice();
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: SECTORS - 1, out: pattern(1024, 3) })).toMatchObject({ status: VIRTIO_BLK_S_IOERR, usedLen: 1 });
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: SECTORS, out: pattern(512, 3) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 2 ** 40, out: pattern(512, 3) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(img).toEqual(before);
    const r = drv.one({ type: VIRTIO_BLK_T_IN, sector: SECTORS, inLen: 512 });
    // Failed IN: no data written, so used len 0 (§2.7.8.2 never overestimate); the poison stays.
    expect(r).toMatchObject({ status: VIRTIO_BLK_S_IOERR, usedLen: 0 });
    expect(r.data.every((b) => b === 0xcc)).toBe(true);
  });

  it('data not a multiple of 512 is IOERR (IN and OUT)', () => {
    const { drv, blk } = setup();
    const before = (blk.image as MemoryDiskImage).data.slice();
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(513, 1) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_IN, sector: 0, inLen: 100 }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect((blk.image as MemoryDiskImage).data).toEqual(before);
  });

  it('data in the wrong direction is IOERR (OUT with writable data, IN with readable data, FLUSH with data)', () => {
    const { drv } = setup();
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1), inLen: 512 }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_IN, sector: 0, out: pattern(512, 1), inLen: 512 }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_FLUSH, out: pattern(512, 1) }).status).toBe(VIRTIO_BLK_S_IOERR);
  });

  it('OUT, DISCARD and WRITE_ZEROES on a read-only disk are IOERR and write nothing; IN works', () => {
    const img = new MemoryDiskImage(pattern(SECTORS * 512, 5), { readOnly: true });
    const before = img.data.slice();
    const { drv } = setup(img);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_DISCARD, out: discardSegments([{ sector: 0, num: 1 }]) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments([{ sector: 0, num: 1 }]) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(img.data).toEqual(before);
    const r = drv.one({ type: VIRTIO_BLK_T_IN, sector: 1, inLen: 512 });
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    expect(r.data).toEqual(before.subarray(512, 1024));
  });

  it('unknown types (and legacy SCSI/FLUSH_OUT, GET_LIFETIME) are UNSUPP', () => {
    const { drv } = setup();
    for (const t of [2, 3, 5, 10, 14, 0x80000000, 0xffffffff]) {
      expect(drv.one({ type: t, inLen: 0 })).toMatchObject({ status: VIRTIO_BLK_S_UNSUPP, usedLen: 1 });
    }
  });

  it('GET_ID returns the 20-byte NUL-padded ID; exactly 20 characters has no NUL; too small a buffer is IOERR', () => {
    const a = setup(undefined, { id: 'disk-0' });
    const r = a.drv.one({ type: VIRTIO_BLK_T_GET_ID, inLen: 20 });
    expect(r).toMatchObject({ status: VIRTIO_BLK_S_OK, usedLen: 21 });
    expect(new TextDecoder().decode(r.data)).toBe('disk-0' + '\0'.repeat(14));
    const b = setup(undefined, { id: 'abcdefghijklmnopqrstuvwxyz' });
    expect(new TextDecoder().decode(b.drv.one({ type: VIRTIO_BLK_T_GET_ID, inLen: 20 }).data)).toBe('abcdefghijklmnopqrst');
    expect(a.drv.one({ type: VIRTIO_BLK_T_GET_ID, inLen: 19 }).status).toBe(VIRTIO_BLK_S_IOERR);
    // A larger buffer (split across descriptors) is NUL-padded to its end.
    const big = a.drv.one({ type: VIRTIO_BLK_T_GET_ID, inLen: 32, segments: 3 });
    expect(big).toMatchObject({ status: VIRTIO_BLK_S_OK, usedLen: 33 });
    expect(new TextDecoder().decode(big.data)).toBe('disk-0' + '\0'.repeat(26));
  });

  it('DISCARD and WRITE_ZEROES zero their ranges (several segments), reads then return zeroes', () => {
    const img = new MemoryDiskImage(pattern(SECTORS * 512, 9));
    const { drv } = setup(img);
    const expected = img.data.slice();
    expect(drv.one({ type: VIRTIO_BLK_T_DISCARD, out: discardSegments([{ sector: 1, num: 2 }, { sector: 10, num: 1 }]) }).status).toBe(VIRTIO_BLK_S_OK);
    expected.fill(0, 512, 3 * 512);
    expected.fill(0, 10 * 512, 11 * 512);
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments([{ sector: 20, num: 4, flags: 1 }]) }).status).toBe(VIRTIO_BLK_S_OK);
    expected.fill(0, 20 * 512, 24 * 512);
    expect(img.data).toEqual(expected);
    expect(drv.one({ type: VIRTIO_BLK_T_IN, sector: 20, inLen: 2048 }).data.every((b) => b === 0)).toBe(true);
  });

  it('DISCARD/WRITE_ZEROES errors: unmap on DISCARD and unknown flags UNSUPP; past the end, empty, ragged or too many segments IOERR; nothing applied', () => {
    const img = new MemoryDiskImage(pattern(SECTORS * 512, 4));
    const { drv } = setup(img);
    const before = img.data.slice();
    expect(drv.one({ type: VIRTIO_BLK_T_DISCARD, out: discardSegments([{ sector: 0, num: 1, flags: 1 }]) }).status).toBe(VIRTIO_BLK_S_UNSUPP);
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments([{ sector: 0, num: 1, flags: 2 }]) }).status).toBe(VIRTIO_BLK_S_UNSUPP);
    // The second segment is bad: the first must not have been applied either.
    expect(drv.one({ type: VIRTIO_BLK_T_DISCARD, out: discardSegments([{ sector: 0, num: 1 }, { sector: SECTORS - 1, num: 2 }]) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: new Uint8Array(0) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: new Uint8Array(20) }).status).toBe(VIRTIO_BLK_S_IOERR);
    const many = discardSegments(Array.from({ length: 17 }, (_, i) => ({ sector: i, num: 1 })));
    expect(drv.one({ type: VIRTIO_BLK_T_DISCARD, out: many }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(img.data).toEqual(before);
  });

  it('FLUSH on a memory image reaches the image and returns OK', () => {
    const img = new MemoryDiskImage(4096);
    const { drv } = setup(img);
    expect(drv.one({ type: VIRTIO_BLK_T_FLUSH })).toMatchObject({ status: VIRTIO_BLK_S_OK, usedLen: 1 });
    expect(img.flushes).toBe(1);
  });

  it('multi-segment and indirect requests: data spread over several descriptors both ways', () => {
    const { drv } = setup();
    const data = pattern(4096, 7);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 8, out: data, segments: 5 }).status).toBe(VIRTIO_BLK_S_OK);
    const r1 = drv.one({ type: VIRTIO_BLK_T_IN, sector: 8, inLen: 4096, segments: 7 });
    expect(r1).toMatchObject({ status: VIRTIO_BLK_S_OK, usedLen: 4097 });
    expect(r1.data).toEqual(data);
    const r2 = drv.one({ type: VIRTIO_BLK_T_IN, sector: 8, inLen: 4096, segments: 3, indirect: true });
    expect(r2.data).toEqual(data);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: data.subarray(0, 1024), segments: 2, indirect: true }).status).toBe(VIRTIO_BLK_S_OK);
  });

  it('header and status sharing buffers with data (any layout) are accepted', () => {
    const { drv, mmio, blk } = setup();
    const vq = drv.vq;
    const mem = mmio.mem;
    // One readable buffer = header + 512 bytes of data; one writable status byte.
    const a = vq.arena.alloc(16 + 512)!;
    mem.u8.set(blkHeader(VIRTIO_BLK_T_OUT, 2), a);
    mem.u8.set(pattern(512, 3), a + 16);
    const st = vq.arena.alloc(1)!;
    vq.writeDesc(30, { addr: a, len: 528, flags: F_NEXT, next: 31 });
    vq.writeDesc(31, { addr: st, len: 1, flags: F_WRITE, next: 0 });
    vq.addHead(30);
    vq.kick();
    mmio.notify(0);
    expect(vq.reapUsed()).toMatchObject([{ id: 30, len: 1 }]);
    expect(mem.u8[st]).toBe(VIRTIO_BLK_S_OK);
    expect((blk.image as MemoryDiskImage).data.subarray(1024, 1536)).toEqual(pattern(512, 3));
  });

  it('several requests in one batch: all completed, one used-idx publication, one interrupt', () => {
    const { drv, irqs, dev } = setup();
    const before = irqs.n;
    const res = drv.batch([
      { type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) },
      { type: VIRTIO_BLK_T_OUT, sector: 1, out: pattern(512, 2) },
      { type: VIRTIO_BLK_T_IN, sector: 0, inLen: 1024 },
      { type: 99 },
      { type: VIRTIO_BLK_T_FLUSH },
      { type: VIRTIO_BLK_T_GET_ID, inLen: 20 },
    ]);
    expect(res.map((r) => r.status)).toEqual([0, 0, 0, 2, 0, 0]);
    expect(res[2]!.data.subarray(0, 512)).toEqual(pattern(512, 1));
    expect(res[2]!.data.subarray(512)).toEqual(pattern(512, 2));
    expect(irqs.n - before).toBe(1);
    expect(dev.pendingInterrupts & 1).toBe(1);
  });

  it('malformed chains: header too short, no status byte, readable after writable → used len 0, IOERR where reachable, queue goes on', () => {
    const { drv, mmio, blk } = setup();
    const vq = drv.vq;
    const mem = mmio.mem;
    // (a) 8-byte header + status: status reachable.
    const h = vq.arena.alloc(8)!;
    const st = vq.arena.alloc(1)!;
    mem.u8[st] = 0xff;
    vq.writeDesc(20, { addr: h, len: 8, flags: F_NEXT, next: 21 });
    vq.writeDesc(21, { addr: st, len: 1, flags: F_WRITE, next: 0 });
    vq.addHead(20);
    // (b) header only, no writable byte: nowhere to put a status.
    const h2 = vq.arena.alloc(16)!;
    mem.u8.set(blkHeader(VIRTIO_BLK_T_FLUSH), h2);
    vq.writeDesc(22, { addr: h2, len: 16, flags: 0, next: 0 });
    vq.addHead(22);
    // (c) readable after writable (the virtqueue refuses the chain), ends in a writable byte.
    const st3 = vq.arena.alloc(1)!;
    mem.u8[st3] = 0xff;
    vq.writeDesc(23, { addr: st3, len: 1, flags: F_WRITE | F_NEXT, next: 24 });
    vq.writeDesc(24, { addr: h2, len: 16, flags: F_NEXT, next: 25 });
    vq.writeDesc(25, { addr: st3, len: 1, flags: F_WRITE, next: 0 });
    vq.addHead(23);
    vq.kick();
    mmio.notify(0);
    expect(vq.reapUsed()).toMatchObject([
      { id: 20, len: 0 },
      { id: 22, len: 0 },
      { id: 23, len: 0 },
    ]);
    expect(mem.u8[st]).toBe(VIRTIO_BLK_S_IOERR);
    expect(blk.stats.malformed).toBe(3);
    // The queue still works.
    expect(drv.one({ type: VIRTIO_BLK_T_FLUSH }).status).toBe(VIRTIO_BLK_S_OK);
  });
});

describe('virtio-blk raw file images', () => {
  it('creates a sparse image of the requested size when absent, and FLUSH calls fsync before OK', () => {
    const p = path.join(tmpDir(), 'd.img');
    const calls: string[] = [];
    const img = RawFileDiskImage.open(p, {
      createSize: 1 << 20,
      io: {
        fsyncSync: (fd) => {
          calls.push('fsync');
          fs.fsyncSync(fd);
        },
      },
    });
    expect(fs.statSync(p).size).toBe(1 << 20);
    const { drv, blk } = setup(img);
    expect(blk.capacity).toBe(2048);
    const data = pattern(65536, 3);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 100, out: data }).status).toBe(VIRTIO_BLK_S_OK);
    expect(calls).toEqual([]);
    expect(drv.one({ type: VIRTIO_BLK_T_FLUSH }).status).toBe(VIRTIO_BLK_S_OK);
    expect(calls).toEqual(['fsync']);
    const r = drv.one({ type: VIRTIO_BLK_T_IN, sector: 100, inLen: 65536, segments: 4 });
    expect(r.data).toEqual(data);
    img.close();
    expect(fs.readFileSync(p).subarray(100 * 512, 100 * 512 + 65536)).toEqual(Buffer.from(data));
  });

  it('WRITE_ZEROES on a file zeroes the range (chunked), past 64 KiB', () => {
    const p = path.join(tmpDir(), 'z.img');
    fs.writeFileSync(p, Buffer.alloc(512 * 300, 0xab));
    const img = RawFileDiskImage.open(p);
    const { drv } = setup(img);
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments([{ sector: 1, num: 200 }]) }).status).toBe(VIRTIO_BLK_S_OK);
    img.close();
    const b = fs.readFileSync(p);
    expect(b[511]).toBe(0xab);
    expect(b.subarray(512, 201 * 512).every((x) => x === 0)).toBe(true);
    expect(b[201 * 512]).toBe(0xab);
  });

  it('a read-only file image offers RO and refuses writes without touching the file', () => {
    const p = path.join(tmpDir(), 'ro.img');
    fs.writeFileSync(p, Buffer.alloc(4096, 7));
    const img = RawFileDiskImage.open(p, { readOnly: true });
    const { drv, mmio } = setup(img);
    expect((mmio.readFeatures() >> 5n) & 1n).toBe(1n);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) }).status).toBe(VIRTIO_BLK_S_IOERR);
    expect(drv.one({ type: VIRTIO_BLK_T_IN, sector: 0, inLen: 512 }).data.every((x) => x === 7)).toBe(true);
    img.close();
    expect(fs.readFileSync(p).every((x) => x === 7)).toBe(true);
  });

  it('opening a missing image without createSize is a host configuration error', () => {
    expect(() => RawFileDiskImage.open(path.join(tmpDir(), 'nope.img'))).toThrow(/does not exist/);
  });

  it('host I/O errors (EIO on write, ENOSPC, EIO on fsync and read) become IOERR plus a log line, never a throw', () => {
    const p = path.join(tmpDir(), 'f.img');
    const fail = { write: '', read: '', fsync: '' };
    const sysErr = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });
    const io: Partial<FileIo> = {
      writeSync: (fd, b, o, l, pos) => {
        if (fail.write !== '') throw sysErr(fail.write);
        return fs.writeSync(fd, b, o, l, pos);
      },
      readSync: (fd, b, o, l, pos) => {
        if (fail.read !== '') throw sysErr(fail.read);
        return fs.readSync(fd, b, o, l, pos);
      },
      fsyncSync: (fd) => {
        if (fail.fsync !== '') throw sysErr(fail.fsync);
        fs.fsyncSync(fd);
      },
    };
    const img = RawFileDiskImage.open(p, { createSize: 64 * 512, io });
    const { drv, logs, blk } = setup(img);
    fail.write = 'EIO';
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) }).status).toBe(VIRTIO_BLK_S_IOERR);
    fail.write = 'ENOSPC';
    expect(drv.one({ type: VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments([{ sector: 0, num: 1 }]) }).status).toBe(VIRTIO_BLK_S_IOERR);
    fail.write = '';
    fail.fsync = 'EIO';
    expect(drv.one({ type: VIRTIO_BLK_T_FLUSH }).status).toBe(VIRTIO_BLK_S_IOERR);
    fail.read = 'EIO';
    expect(drv.one({ type: VIRTIO_BLK_T_IN, sector: 0, inLen: 512 })).toMatchObject({ status: VIRTIO_BLK_S_IOERR, usedLen: 0 });
    expect(blk.stats.hostErrors).toBe(4);
    expect(logs).toHaveLength(4);
    expect(logs[0]).toMatch(/vda.*host I\/O error on write at sector 0.*EIO/);
    expect(logs[1]).toMatch(/ENOSPC/);
    expect(logs[2]).toMatch(/flush.*EIO/);
    expect(logs[3]).toMatch(/read.*EIO/);
    // Recovery: the host fault did not break the device.
    fail.read = fail.fsync = '';
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) }).status).toBe(VIRTIO_BLK_S_OK);
    img.close();
  });

  it('HostIoError keeps the errno code', () => {
    const e = new HostIoError('write x', Object.assign(new Error('nope'), { code: 'ENOSPC' }));
    expect(e.code).toBe('ENOSPC');
    expect(e.message).toBe('write x: nope');
  });
});

describe('virtio-blk durability without a negotiated FLUSH (§5.2.6.2 write-through)', () => {
  function setupNoFlush(image: DiskImage): Env {
    const mem = makeGuestMemory(1 << 20);
    const logs: string[] = [];
    const blk = new VirtioBlk({ image, queueSize: 32 });
    const dev = new VirtioMmioDevice({ name: 'vdw', backend: blk, mem, log: (l) => logs.push(l) });
    const irqs = { n: 0 };
    dev.setInterrupt(() => irqs.n++);
    const mmio = new MmioDriver(dev, mem);
    const r = mmio.init({ accept: (f) => f & ~(1n << BigInt(VIRTIO_BLK_F_FLUSH)) });
    expect(r.ok).toBe(true);
    return { blk, dev, drv: new BlkDriver(mmio, r.queues[0]!), mmio, logs, irqs };
  }

  it('flushes the image once per batch of writes before completing them; reads alone do not flush', () => {
    const img = new MemoryDiskImage(SECTORS * 512);
    const { drv } = setupNoFlush(img);
    drv.batch([
      { type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) },
      { type: VIRTIO_BLK_T_OUT, sector: 1, out: pattern(512, 2) },
      { type: VIRTIO_BLK_T_WRITE_ZEROES, out: discardSegments([{ sector: 2, num: 1 }]) },
    ]);
    expect(img.flushes).toBe(1);
    drv.one({ type: VIRTIO_BLK_T_IN, sector: 0, inLen: 512 });
    expect(img.flushes).toBe(1);
  });

  it('when the write-through flush fails, the batch\'s writes report IOERR and the host logs it', () => {
    const p = path.join(tmpDir(), 'wt.img');
    let failSync = false;
    const img = RawFileDiskImage.open(p, {
      createSize: SECTORS * 512,
      io: {
        fsyncSync: (fd) => {
          if (failSync) throw Object.assign(new Error('EIO: simulated'), { code: 'EIO' });
          fs.fsyncSync(fd);
        },
      },
    });
    const { drv, logs } = setupNoFlush(img);
    expect(drv.one({ type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) }).status).toBe(VIRTIO_BLK_S_OK);
    failSync = true;
    const res = drv.batch([
      { type: VIRTIO_BLK_T_OUT, sector: 0, out: pattern(512, 1) },
      { type: VIRTIO_BLK_T_IN, sector: 0, inLen: 512 },
    ]);
    expect(res.map((r) => r.status)).toEqual([VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK]);
    expect(logs.some((l) => /write-through flush.*EIO/.test(l))).toBe(true);
    img.close();
  });
});
