/**
 * End to end: the split block driver (guest-kit/c/include/pvisor/blkif.h, blkback.h, blkfront.h)
 * through the `splitblk` example. Domain 1 is the driver domain: it owns a virtio-blk disk on a
 * memory-backed image and runs the backend; domain 2 runs the front end, which has no device and
 * reaches the disk only through the backend over a grant-copy message link. The checksum is
 * recomputed here from the pattern definition in splitblk.c, and the disk image's bytes are read
 * on the host afterwards: the data went through the driver domain to the real device.
 */
import { describe, expect, it } from 'vitest';
import { EFAULT, EINVAL, ENOSYS, EPERM, ETIMEDOUT, GNTST_GENERAL_ERROR } from '../../src/abi/index.ts';
import { System } from '../../src/control/system.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { example } from './run.ts';

const SECTOR = 512;
const SPLITBLK = example('splitblk');
/** splitblk.c's default `seed`. */
const SEED = 0x51b10c00;

/** splitblk.c `pattern(seed, s, w)`: word w of sector s. */
function pattern(seed: number, s: number, w: number): number {
  return (Math.imul(s >>> 0, 0x9e3779b1) ^ Math.imul(w, 0x85ebca77) ^ seed) >>> 0;
}

/** FNV-1a over 32-bit little-endian words of `bytes` (splitblk.c `fnv_word`, sector after sector). */
function fnvWords(bytes: Uint8Array): string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let h = 0x811c9dc5;
  for (let k = 0; k < bytes.length; k += 4) h = Math.imul((h ^ dv.getUint32(k, true)) >>> 0, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The bytes the front end writes to sectors [start, start + count). */
function expected(seed: number, start: number, count: number): Uint8Array {
  const out = new Uint8Array(count * SECTOR);
  const dv = new DataView(out.buffer);
  for (let s = 0; s < count; s++) for (let w = 0; w < SECTOR / 4; w++) dv.setUint32(s * SECTOR + w * 4, pattern(seed, start + s, w), true);
  return out;
}

/** Backend = domain 1 with the disk, front end = domain 2. */
async function runPair(image: MemoryDiskImage, back: string, front: string) {
  const out: Record<string, string> = {};
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (d, text) => (out[d] = (out[d] ?? '') + text), log: (l) => log.push(l) });
  const b = await sys.addDomain({ name: 'back', image: SPLITBLK, memBytes: 2 << 20, vcpus: 1, cmdline: `role=back peer=2 ${back}` });
  const blk = new VirtioBlk({ image, id: 'splitblk-disk' });
  sys.attachDevice(b, new VirtioMmioDevice({ name: 'vda', backend: blk, mem: b.mem, log: (l) => log.push(l) }));
  await sys.addDomain({ name: 'front', image: SPLITBLK, memBytes: 2 << 20, vcpus: 1, cmdline: `role=front peer=1 ${front}` });
  const report = await sys.run();
  return { report, blk, log, back: out['back'] ?? '', front: out['front'] ?? '' };
}

const TIMING = /^splitblk: front: write (\d+) ns, flush (\d+) ns, read (\d+) ns \(virtual\), (\d+) requests at depth (\d+), (\d+) grant copies$/;

describe('splitblk: a block backend in a driver domain serving a front end over grants', () => {
  const cases = [
    // The example's defaults: segments start mid-frame.
    { start: 8, count: 96, chunk: 40, offset: 3, depth: 4 },
    // One call of 300 sectors from a frame-aligned buffer: split into 16-frame requests, one at a time.
    { start: 100, count: 300, chunk: 300, offset: 0, depth: 1 },
    // 1024 sectors in one call: 8 requests of 16 frames, all outstanding together.
    { start: 0, count: 1024, chunk: 1024, offset: 0, depth: 8 },
    // More requests per call than the depth, starting mid-frame: slots are refilled as answers come.
    { start: 1000, count: 700, chunk: 700, offset: 5, depth: 3 },
    // Single-sector calls ending at the disk's last sector.
    { start: 2048 - 5, count: 5, chunk: 1, offset: 7, depth: 2 },
  ];
  for (const { start, count, chunk, offset, depth } of cases) {
    it(`start=${start} count=${count} chunk=${chunk} offset=${offset} depth=${depth}: the data reaches the disk image and reads back`, async () => {
      const image = new MemoryDiskImage(1 << 20);
      const { report, blk, back, front } = await runPair(image, '', `start=${start} count=${count} chunk=${chunk} offset=${offset} depth=${depth}`);
      const lines = front.split('\n');
      expect(lines[0]).toBe('splitblk: front: disk 2048 sectors (read-write), backend domain 1');
      expect(lines[1]).toBe(`splitblk: front: wrote ${count} sectors, read back ${count}, checksum ${fnvWords(expected(SEED, start, count))}`);
      const t = TIMING.exec(lines[2] ?? '');
      expect(t, front).not.toBeNull();
      expect(Number(t![1])).toBeGreaterThan(0);
      expect(Number(t![3])).toBeGreaterThan(0);
      // Requests: each call splits at 16 frames; the buffer's offset shifts the frame boundaries.
      // The front end publishes once for its first `depth` requests of a call, then once per
      // request that refills a slot (blkfront.c): 1 + max(0, R - depth) per call of R requests.
      let reqs = 0;
      let copies = 1; // the flush
      for (let done = 0; done < count; done += chunk) {
        let first = (offset + done) % 8;
        let left = Math.min(chunk, count - done);
        let perCall = 0;
        while (left > 0) {
          let segs = 0;
          while (left > 0 && segs < 16) {
            const n = Math.min(8 - first, left);
            left -= n;
            first = 0;
            segs++;
          }
          perCall++;
        }
        reqs += perCall;
        copies += 2 * (1 + Math.max(0, perCall - depth)); // the write call and the read call
      }
      expect(Number(t![4])).toBe(2 * reqs + 1); // writes, the flush, reads
      expect(Number(t![5])).toBe(depth);
      expect(Number(t![6])).toBe(copies);
      expect(lines[3]).toBe('');
      expect(back).toBe(
        'splitblk: back: serving domain 2, disk 2048 sectors\n' +
          `splitblk: back: closed after ${2 * reqs + 3} requests: ${reqs} writes (${count} sectors), ${reqs} reads (${count} sectors), 1 flushes, 0 errors\n`,
      );
      expect(report.domains.map((d) => d.outcome)).toEqual([
        { kind: 'poweroff', code: 0 },
        { kind: 'poweroff', code: 0 },
      ]);
      // Host side: the image holds exactly what the front end wrote, and nothing else changed.
      const want = new Uint8Array(1 << 20);
      want.set(expected(SEED, start, count), start * SECTOR);
      expect(Buffer.compare(image.data, want)).toBe(0);
      expect(image.flushes).toBeGreaterThanOrEqual(1);
      // The device saw exactly the front end's requests (INFO and CLOSE are the backend's own).
      expect(blk.stats).toMatchObject({ ok: 2 * reqs + 1, ioerr: 0, unsupp: 0, malformed: 0 });
    });
  }

  it('a hostile front end gets an error status for every bad request, and the backend keeps serving', async () => {
    const image = new MemoryDiskImage(1 << 20);
    const { report, blk, back, front } = await runPair(image, '', 'hostile=1 hsector=0 start=16 count=24 chunk=24 offset=0');
    const h = (what: string, status: number, gnt = 0) => `splitblk: front: hostile ${what}: status ${status} (grant status ${gnt})`;
    const lines = front.split('\n');
    expect(lines.slice(0, 16)).toEqual([
      'splitblk: front: disk 2048 sectors (read-write), backend domain 1',
      h('read at sector capacity', EINVAL),
      h('read across the end', EINVAL),
      h('write at sector 2^64-1', EINVAL),
      h('segment 5..3', EINVAL),
      h('segment beyond its frame', EINVAL),
      h('gref of the msg ring', EINVAL),
      h('gref beyond any table', EINVAL),
      h('length one byte short', EINVAL),
      h('17 segments', EINVAL),
      h('8-byte message', EINVAL),
      h('op 77', ENOSYS),
      h('read into an ungranted gref', EFAULT, GNTST_GENERAL_ERROR),
      h('read into a read-only grant', EFAULT, GNTST_GENERAL_ERROR),
      h('write with an ungranted second segment', EFAULT, GNTST_GENERAL_ERROR),
      `splitblk: front: wrote 24 sectors, read back 24, checksum ${fnvWords(expected(SEED, 16, 24))}`,
    ]);
    expect(lines[16]).toMatch(TIMING);
    // INFO, 14 refused requests, then one write, the flush, one read and CLOSE.
    expect(back).toBe(
      'splitblk: back: serving domain 2, disk 2048 sectors\n' +
        'splitblk: back: closed after 19 requests: 1 writes (24 sectors), 1 reads (24 sectors), 1 flushes, 14 errors\n',
    );
    expect(report.domains.map((d) => d.outcome)).toEqual([
      { kind: 'poweroff', code: 0 },
      { kind: 'poweroff', code: 0 },
    ]);
    // The refused write (sector 0, hsector) never reached the disk; the good one did.
    const want = new Uint8Array(1 << 20);
    want.set(expected(SEED, 16, 24), 16 * SECTOR);
    expect(Buffer.compare(image.data, want)).toBe(0);
    // Every refused request was stopped by the backend before the device: the device saw only
    // the good write, the flush and the good read (the bad READ grants were probed first).
    expect(blk.stats).toMatchObject({ ok: 3, ioerr: 0, unsupp: 0, malformed: 0 });
  });

  it('a read-only disk: the front end learns it, its write is refused with EPERM, the backend stops when idle', async () => {
    const image = new MemoryDiskImage(64 * SECTOR, { readOnly: true });
    image.data.fill(0x5a);
    const { report, blk, back, front } = await runPair(image, 'idle=1000000', 'start=0 count=8');
    expect(front).toBe(`splitblk: front: disk 64 sectors (read-only), backend domain 1\nsplitblk: front: write: error ${EPERM} (grant status 0)\n`);
    // The front end left without CLOSE: the backend gives up after `idle` ns without a request.
    expect(back).toBe('splitblk: back: serving domain 2, disk 64 sectors\nsplitblk: back: no request within 1000000 ns\n');
    expect(report.domains.map((d) => d.outcome)).toEqual([
      { kind: 'poweroff', code: 3 },
      { kind: 'poweroff', code: 4 },
    ]);
    expect(image.data.every((b) => b === 0x5a)).toBe(true);
    expect(blk.stats.ok + blk.stats.ioerr).toBe(0);
  });

  // A hung backend: it takes the first write and never answers. While the request is outstanding
  // its grant works; once the front end's call has timed out, the front end has revoked it.
  for (const [hold, status, why] of [
    [500_000, 0, 'before the front end gives up, the grant is live'],
    [3_000_000, GNTST_GENERAL_ERROR, 'after the front end timed out, the grant is revoked'],
  ] as const) {
    it(`a backend that never answers: the front end times out; ${why}`, async () => {
      const image = new MemoryDiskImage(1 << 20);
      const { report, back, front } = await runPair(image, `stall=2 hold=${hold}`, 'timeout=2000000 linger=5000000');
      expect(front).toBe(`splitblk: front: disk 2048 sectors (read-write), backend domain 1\nsplitblk: front: write: error ${ETIMEDOUT} (grant status 0)\n`);
      const m = /^splitblk: back: serving domain 2, disk 2048 sectors\nsplitblk: back: held request 2 for (\d+) ns; its grant now answers status (-?\d+)\n$/.exec(back);
      expect(m, back).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(hold);
      expect(Number(m![2])).toBe(status);
      expect(report.domains.map((d) => d.outcome)).toEqual([
        { kind: 'poweroff', code: 0 },
        { kind: 'poweroff', code: 4 },
      ]);
      expect(image.data.every((b) => b === 0)).toBe(true);
    });
  }

  it('a backend whose front end never appears reports that the link did not open', async () => {
    const image = new MemoryDiskImage(64 * SECTOR);
    let out = '';
    const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: () => {} });
    const b = await sys.addDomain({ name: 'back', image: SPLITBLK, memBytes: 2 << 20, vcpus: 1, cmdline: 'role=back peer=2' });
    sys.attachDevice(b, new VirtioMmioDevice({ name: 'vda', backend: new VirtioBlk({ image }), mem: b.mem, log: () => {} }));
    const report = await sys.run();
    // No domain 2: the link never opens.
    expect(out).toMatch(/^splitblk: back: cannot open the link with domain 2: error -\d+\n$/);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 2 });
  });
});
