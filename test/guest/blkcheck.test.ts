/**
 * End to end: the blkcheck example guest (guest-kit/examples/blkcheck) drives the kit's
 * virtio-blk driver against the real virtio-mmio transport and virtio-blk backend, attached with
 * System.attachDevice, on memory-backed disks.
 */
import { describe, expect, it } from 'vitest';
import { System } from '../../src/control/system.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { example } from './run.ts';

const SECTOR = 512;

/** blkcheck's pattern: word `w` of sector `s` (see blkcheck.c). */
function pattern(s: number, w: number): number {
  return (Math.imul(s >>> 0, 0x9e3779b1) ^ Math.imul(w, 0x85ebca77) ^ 0xb10cb10c) >>> 0;
}

function fillPattern(data: Uint8Array): void {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let s = 0; s < data.length / SECTOR; s++) {
    for (let w = 0; w < SECTOR / 4; w++) dv.setUint32(s * SECTOR + w * 4, pattern(s, w), true);
  }
}

/** The first sector whose bytes differ from the pattern, or -1. */
function firstMismatch(data: Uint8Array): number {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let s = 0; s < data.length / SECTOR; s++) {
    for (let w = 0; w < SECTOR / 4; w++) if (dv.getUint32(s * SECTOR + w * 4, true) !== pattern(s, w)) return s;
  }
  return -1;
}

async function runBlkcheck(image: MemoryDiskImage, cmdline: string, id = 'blkcheck-disk') {
  let out = '';
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: (l) => log.push(l), trace: true });
  const d = await sys.addDomain({ name: 'blkcheck', image: example('blkcheck'), memBytes: 2 << 20, vcpus: 1, cmdline });
  const blk = new VirtioBlk({ image, id });
  const dev = new VirtioMmioDevice({ name: 'vda', backend: blk, mem: d.mem, log: (l) => log.push(l) });
  const at = sys.attachDevice(d, dev);
  const report = await sys.run();
  const trace = report.trace ?? [];
  // QueueNotify writes (register 0x50 of the window), and InterruptStatus reads (0x60: one per
  // device interrupt the driver handled).
  const reg = (ev: string, off: number) => trace.filter((r) => r.ev === ev && r.args?.[0] === ((at.base + off) | 0)).length;
  return { out, log, report, blk, dev, kicks: reg('mmio_write32', 0x50), interrupts: reg('mmio_read32', 0x60) };
}

describe('blkcheck: the guest virtio-blk driver end to end', () => {
  it('writes, reads back and verifies a 4 MiB disk, and gets IOERR for bad requests', async () => {
    const image = new MemoryDiskImage(4 << 20);
    const { out, report, blk, dev, log, kicks, interrupts } = await runBlkcheck(image, 'disk=vda id=blkcheck-disk');
    expect(out).toBe('blkcheck: 8192 sectors ok\nTest result: SUCCESS\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(report.ok).toBe(true);
    // Host side: the image holds the pattern everywhere.
    expect(firstMismatch(image.data)).toBe(-1);
    // The driver negotiated VERSION_1, EVENT_IDX and INDIRECT_DESC and never broke the device.
    expect((dev.negotiatedFeatures >> 32n) & 1n).toBe(1n);
    expect((dev.negotiatedFeatures >> 29n) & 1n).toBe(1n);
    expect((dev.negotiatedFeatures >> 28n) & 1n).toBe(1n);
    expect(dev.deviceStatus & 64).toBe(0);
    expect(dev.strayAccesses).toBe(0);
    // Bad requests: 2 reads past/across the end, 2 misaligned reads, 1 misaligned and 1
    // past-the-end write → IOERR; type 99 → UNSUPP. FLUSH went to the image.
    expect(blk.stats.ioerr).toBe(6);
    expect(blk.stats.unsupp).toBe(1);
    expect(blk.stats.malformed).toBe(0);
    expect(image.flushes).toBeGreaterThanOrEqual(1);
    expect(log.filter((l) => l.includes('NEEDS_RESET'))).toEqual([]);
    // Requests: 128 + 128 of 64 sectors, GET_ID, FLUSH, last-sector write and read, 7 bad ones.
    expect(blk.stats.ok + blk.stats.ioerr + blk.stats.unsupp).toBe(267);
    // One kick per batch: 8192 sectors / (64 sectors x 8 in flight) = 16 batches per pass, plus
    // one for each of the 11 single requests.
    expect(kicks).toBe(16 + 16 + 11);
    // The read pass polls with the interrupt suppressed (EVENT_IDX used_event): no interrupt
    // for its 16 batches; every other kick completes with one.
    expect(interrupts).toBe(16 + 11);
    // Completions came by interrupt or poll, never by sleeping (the device is synchronous).
    expect(report.domains[0]!.hypercalls['sched_block'] ?? 0).toBe(0);
  });

  it('verifies a read-only disk and sees writes refused', async () => {
    const image = new MemoryDiskImage(1 << 20, { readOnly: true });
    fillPattern(image.data);
    const before = image.data.slice();
    const { out, report, blk } = await runBlkcheck(image, 'id=ro-disk chunk=32 depth=4', 'ro-disk');
    expect(out).toBe('blkcheck: 2048 sectors ok (read-only)\nTest result: SUCCESS\n');
    expect(report.ok).toBe(true);
    expect(Buffer.compare(image.data, before)).toBe(0);
    // The raw OUT, 2 reads past/across the end, 2 misaligned reads → IOERR; type 99 → UNSUPP.
    expect(blk.stats.ioerr).toBe(5);
    expect(blk.stats.unsupp).toBe(1);
  });

  it('reports FAILURE when the disk does not hold what it should', async () => {
    const image = new MemoryDiskImage(64 * SECTOR, { readOnly: true });
    fillPattern(image.data);
    image.data[10 * SECTOR + 8]! ^= 0xff; // sector 10, word 2
    const { out, report } = await runBlkcheck(image, '');
    expect(out).toMatch(/^FAILURE: sector 10 word 2: read 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}\n/);
    expect(out).toMatch(/Test result: FAILURE: sector 10 word 2: .*\n$/);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'crash', code: 5 });
  });

  it('reports ERROR when there is no block device', async () => {
    let out = '';
    const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: () => {} });
    await sys.addDomain({ name: 'blkcheck', image: example('blkcheck'), memBytes: 2 << 20, vcpus: 1, cmdline: '' });
    const report = await sys.run();
    expect(out).toBe('Test result: ERROR: no virtio-blk device\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'crash', code: 4 });
  });
});

/** A virtio-blk backend that fails like a host bug on its `failAt`-th notification (0-based). */
class FailingBlk extends VirtioBlk {
  private notes = 0;
  constructor(
    image: MemoryDiskImage,
    private readonly failAt: number,
  ) {
    super({ image });
  }
  override queueNotify(index: number): void {
    if (this.notes++ === this.failAt) throw new Error('injected backend failure');
    super.queueNotify(index);
  }
}

describe('blkcheck: a device that stops (DEVICE_NEEDS_RESET)', () => {
  it('sees the config-change interrupt, fails pending requests with EIO and reports FAILURE', async () => {
    let out = '';
    const log: string[] = [];
    const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: (l) => log.push(l) });
    const d = await sys.addDomain({ name: 'blkcheck', image: example('blkcheck'), memBytes: 2 << 20, vcpus: 1, cmdline: '' });
    // Notification 0 is GET_ID; 1 is the first write batch.
    const dev = new VirtioMmioDevice({ name: 'vda', backend: new FailingBlk(new MemoryDiskImage(1 << 20), 1), mem: d.mem, log: (l) => log.push(l) });
    sys.attachDevice(d, dev);
    const report = await sys.run();
    expect(dev.deviceStatus & 64).toBe(64);
    expect(log.some((l) => l.includes('DEVICE_NEEDS_RESET: backend threw'))).toBe(true);
    expect(out).toBe('FAILURE: write: device needs reset\nTest result: FAILURE: write: device needs reset\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'crash', code: 5 });
  });
});

describe('blkcheck: ring index wrap', () => {
  it('keeps working after avail.idx and used.idx wrap at 65536', async () => {
    const image = new MemoryDiskImage(64 * 1024);
    // 128 sectors in 2-sector requests: 64 requests per pass; 1030 read passes > 65536 requests.
    const { out, report, blk, kicks } = await runBlkcheck(image, 'chunk=2 depth=16 passes=1030');
    expect(out).toBe('blkcheck: 128 sectors ok\nTest result: SUCCESS\n');
    expect(report.ok).toBe(true);
    expect(blk.stats.ok).toBeGreaterThan(65536 + 64);
    expect(kicks).toBe(4 + 1030 * 4 + 11);
    expect(firstMismatch(image.data)).toBe(-1);
  });
});
