/**
 * End to end: the streaming example guests behind `npm run bench:virtio` — blkstream (sequential
 * 64 KiB requests through the kit's virtio-blk submit/complete API) and netstream (a windowed
 * frame stream through the kit's zero-copy virtio-net calls pv_net_tx_get/put and
 * pv_net_rx_burst, with jumbo buffers from pv_net_init_ex) — checked for their results, the bytes
 * on the disk image, and the switch's counters.
 */
import { describe, expect, it } from 'vitest';
import { System } from '../../src/control/system.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { VIRTIO_F_EVENT_IDX } from '../../src/virtio/ring-layout.ts';
import { VirtioNet } from '../../src/virtio/net.ts';
import { VirtualSwitch, localMac } from '../../src/virtio/switch.ts';
import { example } from './run.ts';

const MiB = 1 << 20;

async function blkstream(image: MemoryDiskImage, cmdline: string, withhold: number[] = []) {
  const out: string[] = [];
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (_d, t) => out.push(t), log: (l) => log.push(l) });
  const d = await sys.addDomain({ name: 'blkstream', image: example('blkstream'), memBytes: 2 * MiB, vcpus: 1, cmdline });
  const blk = new VirtioBlk({ image });
  const dev = new VirtioMmioDevice({ name: 'disk0', backend: blk, mem: d.mem, log: (l) => log.push(l), withhold });
  sys.attachDevice(d, dev);
  const report = await sys.run();
  return { out: out.join(''), log, report, blk, dev };
}

describe('blkstream', () => {
  it('reads 4 MiB (after 1 MiB of warm-up) in 64 KiB requests, 8 per kick, wrapping around a 1 MiB disk', async () => {
    const image = new MemoryDiskImage(MiB);
    const { out, report, log } = await blkstream(image, 'op=read mb=4 warmup=1');
    expect(out).toBe('blkstream: warm\nblkstream: read 4 MiB in 64 requests of 64 KiB, 8 per kick, 0 errors\n');
    expect(report.ok).toBe(true);
    expect(log).toEqual([]);
  });

  it('writes what is in its buffers: a disk full of 0xAA ends up all zero', async () => {
    const image = new MemoryDiskImage(MiB);
    image.data.fill(0xaa);
    const { out, report } = await blkstream(image, 'op=write mb=1 req=16 inflight=4');
    expect(out).toBe('blkstream: write 1 MiB in 64 requests of 16 KiB, 4 per kick, 0 errors\n');
    expect(report.ok).toBe(true);
    // The guest never touches its (zeroed) buffers: the whole disk was overwritten with zeros.
    expect(image.data.every((b) => b === 0)).toBe(true);
  });

  it('counts failed requests: writes to a read-only disk are refused before they are sent', async () => {
    const { out, report } = await blkstream(new MemoryDiskImage(MiB, { readOnly: true }), 'op=write mb=1');
    expect(out).toBe('blkstream: disk is read-only\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 2 });
  });

  it('rejects a bad command line', async () => {
    const { out, report } = await blkstream(new MemoryDiskImage(MiB), 'op=seek');
    expect(out).toBe('blkstream: op=seek: use read or write\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 2 });
  });
});

async function netstream(args: string, opts: { mtu?: number; memBytes?: number; withhold?: number[] } = {}) {
  const out: Record<string, string> = {};
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (d, t) => void (out[d] = (out[d] ?? '') + t), log: (l) => log.push(l) });
  const sw = new VirtualSwitch('lan');
  const nics: VirtioNet[] = [];
  const devs: VirtioMmioDevice[] = [];
  for (const [i, role] of (['sink', 'send'] as const).entries()) {
    const d = await sys.addDomain({ name: role, image: example('netstream'), memBytes: opts.memBytes ?? 4 * MiB, vcpus: 1, cmdline: `role=${role} ${args}` });
    const nic = new VirtioNet({ mac: localMac(i + 1, 0), ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}) });
    nic.connect(sw, `${role}.net0`);
    const dev = new VirtioMmioDevice({ name: 'net0', backend: nic, mem: d.mem, log: (l) => log.push(l), withhold: opts.withhold ?? [] });
    sys.attachDevice(d, dev);
    nics.push(nic);
    devs.push(dev);
  }
  const report = await sys.run();
  return { out, log, report, nics, sw, devs };
}

describe('netstream', () => {
  it('streams 3000 frames of 1500 bytes in order, windowed, with nothing dropped', async () => {
    const { out, report, nics, log } = await netstream('count=3000 size=1500 warmup=500');
    expect(out['sink']).toBe('netstream: warm\nnetstream: received 3000 frames of 1500 bytes in order\n');
    expect(out['send']).toBe('netstream: sent 3000 frames of 1500 bytes\n');
    expect(report.ok).toBe(true);
    expect(log).toEqual([]);
    const [sink, send] = nics as [VirtioNet, VirtioNet];
    // Every data frame arrived; acks (one per 64-frame window, plus the end) went back.
    expect(send.stats.txFrames).toBe(3500);
    expect(send.stats.txBytes).toBe(3500 * 1500);
    expect(sink.stats.rxFrames).toBe(3500);
    expect(sink.stats.rxQueueDrops + sink.stats.rxTooBig + sink.stats.rxMalformed).toBe(0);
    // The sender took every ack (3500 / 64 full windows and the end); only HELLOs sent before its
    // driver reset the NIC can be missing.
    expect(send.stats.rxFrames).toBeGreaterThanOrEqual(Math.ceil(3500 / 64));
  });

  it('streams 64 KiB frames through jumbo buffers (MTU 65535)', async () => {
    const { out, report, nics } = await netstream('count=200 size=65536 window=8 qsize=16', { mtu: 65535, memBytes: 8 * MiB });
    expect(out['sink']).toBe('netstream: received 200 frames of 65536 bytes in order\n');
    expect(report.ok).toBe(true);
    expect(nics[0]!.stats.rxBytes).toBe(200 * 65536);
  });

  it('64-byte frames: the smallest the protocol uses', async () => {
    const { out, report } = await netstream('count=2000 size=64');
    expect(out['sink']).toBe('netstream: received 2000 frames of 64 bytes in order\n');
    expect(report.ok).toBe(true);
  });

  it('refuses a frame size the NIC cannot carry (MTU 1500)', async () => {
    const { out, report } = await netstream('count=10 size=9000', { memBytes: 16 * MiB });
    expect(out['sink']).toBe('netstream: size 9000 does not fit (64..1514 with MTU 1500), or window is 0\n');
    expect(report.domains.map((d) => d.outcome)).toEqual([
      { kind: 'poweroff', code: 2 },
      { kind: 'poweroff', code: 2 },
    ]);
  });

  it('a window larger than the queue and the device FIFO can hold loses frames, and both sides say so', async () => {
    // 2 x 400 frames in flight > 16 receive buffers + 256 frames of host FIFO: the device drops
    // (and counts) the rest, the sink never completes a window, and both time out.
    const { out, report, nics } = await netstream('count=2000 size=128 window=400 qsize=16');
    expect(out['sink']).toBe('netstream: FAILED: stalled at frame 272 of 2000\n');
    expect(out['send']).toBe('netstream: FAILED: no acknowledgement after 0 of 2000 frames\n');
    expect(report.domains.map((d) => d.outcome)).toEqual([
      { kind: 'poweroff', code: 1 },
      { kind: 'poweroff', code: 1 },
    ]);
    expect(nics[0]!.stats.rxQueueDrops).toBeGreaterThan(0);
  });
});

// The kit's ring driver has two ways to suppress notifications: used_event/avail_event with
// VIRTIO_F_EVENT_IDX, and the NO_INTERRUPT / NO_NOTIFY flags without it (§2.7.7, §2.7.10). A
// device that does not offer EVENT_IDX makes it take the second path.
describe('the kit drivers without VIRTIO_F_EVENT_IDX (flag-based notification suppression)', () => {
  it('blkstream reads and writes', async () => {
    for (const op of ['read', 'write']) {
      const r = await blkstream(new MemoryDiskImage(MiB), `op=${op} mb=2 inflight=4`, [VIRTIO_F_EVENT_IDX]);
      expect(r.out).toBe(`blkstream: ${op} 2 MiB in 32 requests of 64 KiB, 4 per kick, 0 errors\n`);
      expect((r.dev.negotiatedFeatures >> BigInt(VIRTIO_F_EVENT_IDX)) & 1n).toBe(0n);
      expect(r.report.ok).toBe(true);
    }
  });

  it('netstream streams in order with nothing dropped', async () => {
    const { out, report, nics, devs } = await netstream('count=3000 size=1500', { withhold: [VIRTIO_F_EVENT_IDX] });
    expect(out['sink']).toBe('netstream: received 3000 frames of 1500 bytes in order\n');
    expect(report.ok).toBe(true);
    for (const d of devs) expect((d.negotiatedFeatures >> BigInt(VIRTIO_F_EVENT_IDX)) & 1n).toBe(0n);
    expect(nics[0]!.stats.rxQueueDrops).toBe(0);
  });
});
