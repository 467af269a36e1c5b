/**
 * Device-side split virtqueue, clause by clause (virtio 1.2 §2.7). Positive tests show the
 * device accepts what a driver may do; negative ones break one driver MUST and check the device
 * neither throws nor leaks the slot (malformed request) or stops the queue (corrupt ring).
 */
import { describe, expect, it, vi } from 'vitest';
import { SplitQueue, type Chain, type SplitQueueConfig } from '../../../src/virtio/virtqueue.ts';
import { VIRTQ_USED_F_NO_NOTIFY, needEvent } from '../../../src/virtio/ring-layout.ts';
import { makeGuestMemory, snapshot, changedBytes } from '../../support/guest-memory.ts';
import { F_INDIRECT, F_NEXT, F_WRITE, VirtqDriver, type DriverOptions } from '../../support/virtq-driver.ts';
import type { GuestMemory } from '../../../src/hv/memory.ts';
import type { ChainErrorKind } from '../../../src/virtio/errors.ts';

interface Env {
  mem: GuestMemory;
  drv: VirtqDriver;
  q: SplitQueue;
}

function setup(o: Partial<DriverOptions> & { memBytes?: number; onBroken?: SplitQueueConfig['onBroken'] } = {}): Env {
  const mem = makeGuestMemory(o.memBytes ?? 1 << 20);
  const drv = new VirtqDriver(mem, { size: 16, ...o });
  const r = SplitQueue.create(mem, { ...drv.config(), onBroken: o.onBroken });
  if (!r.ok) throw new Error(r.message);
  return { mem, drv, q: r.queue };
}

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

function popOne(q: SplitQueue): Chain {
  const cs = q.popAll();
  expect(cs).toHaveLength(1);
  return cs[0]!;
}

/** A well-formed request goes through end to end (the queue is still usable). */
function expectUsable({ drv, q }: Env): void {
  const data = bytes(40, 9);
  const head = drv.addChain({ readable: [data], writable: [8] })!;
  drv.kick();
  const c = popOne(q);
  expect(c.error).toBeUndefined();
  expect(c.head).toBe(head);
  expect([...q.readChain(c)]).toEqual([...data]);
  expect(q.writeChain(c, new Uint8Array([1, 2, 3]))).toBe(3);
  expect(q.push(c.head, 3)).toBe(true);
  q.flush();
  const used = drv.reapUsed();
  expect(used).toHaveLength(1);
  expect(used[0]).toMatchObject({ id: head, len: 3, known: true });
  expect([...used[0]!.written!]).toEqual([1, 2, 3]);
}

/** Kicks raw head `head`, pops it, expects `kind`, completes it with 0, checks the used element. */
function expectMalformed(env: Env, head: number, kind: ChainErrorKind): Chain {
  const { drv, q } = env;
  drv.addHead(head);
  drv.kick();
  const c = popOne(q);
  expect(c.error).toBe(kind);
  expect(c.readable).toEqual([]);
  expect(c.writable).toEqual([]);
  expect(c.readableLen + c.writableLen).toBe(0);
  expect(q.broken).toBeUndefined();
  expect(q.complete(c, 100)).toBe(true);
  q.flush();
  expect(drv.reapUsed()).toEqual([{ id: head, len: 0, known: false }]);
  expectUsable(env);
  return c;
}

describe('virtio 1.2 §2.7 queue configuration', () => {
  const mem = makeGuestMemory(2 << 20);
  const base = { desc: 0x1000, avail: 0x100000, used: 0x140000, features: 0n };

  it('§2.7: Queue Size is a power of 2, at most 32768', () => {
    for (const size of [1, 2, 256, 32768]) expect(SplitQueue.create(mem, { ...base, size }).ok).toBe(true);
    for (const size of [0, 3, 12, 65536, 32769, -2, 1.5, Number.NaN]) {
      expect(SplitQueue.create(mem, { ...base, size })).toMatchObject({ ok: false, error: 'bad-size' });
    }
  });

  it('§2.7.1: each part is aligned (descriptor table 16, available ring 2, used ring 4)', () => {
    expect(SplitQueue.create(mem, { ...base, size: 8, desc: 0x1008 })).toMatchObject({ ok: false, error: 'misaligned-desc' });
    expect(SplitQueue.create(mem, { ...base, size: 8, avail: 0x100001 })).toMatchObject({ ok: false, error: 'misaligned-avail' });
    expect(SplitQueue.create(mem, { ...base, size: 8, used: 0x140002 })).toMatchObject({ ok: false, error: 'misaligned-used' });
    expect(SplitQueue.create(mem, { ...base, size: 8, desc: 0x1010, avail: 0x100002, used: 0x140004 }).ok).toBe(true);
  });

  it('§2.7: every part must lie inside guest memory (addresses are u64; ≥ 2^32 is outside)', () => {
    const top = mem.size;
    expect(SplitQueue.create(mem, { ...base, size: 8, used: top - 4 })).toMatchObject({ ok: false, error: 'out-of-memory' });
    expect(SplitQueue.create(mem, { ...base, size: 8, desc: top - 16 })).toMatchObject({ ok: false, error: 'out-of-memory' });
    expect(SplitQueue.create(mem, { ...base, size: 8, avail: 2 ** 32 })).toMatchObject({ ok: false, error: 'bad-address' });
    expect(SplitQueue.create(mem, { ...base, size: 8, desc: -16 })).toMatchObject({ ok: false, error: 'bad-address' });
  });

  it('§2.7: a used ring overlapping driver-owned parts is refused (the device would write them)', () => {
    expect(SplitQueue.create(mem, { ...base, size: 8, used: 0x1000 + 64 })).toMatchObject({ ok: false, error: 'used-overlaps-driver-area' });
    expect(SplitQueue.create(mem, { ...base, size: 8, used: 0x100004 })).toMatchObject({ ok: false, error: 'used-overlaps-driver-area' });
    // Descriptor table and available ring may overlap: the device only reads both.
    expect(SplitQueue.create(mem, { ...base, size: 8, avail: 0x1000 }).ok).toBe(true);
  });

  it('configuration from arbitrary guest numbers never throws', () => {
    const vals = [0, 1, 2, 3, 4, 15, 16, 4096, 32768, 65535, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, 0.5, Number.NaN, Infinity];
    for (const size of vals) for (const desc of vals) for (const used of vals) {
      expect(() => SplitQueue.create(mem, { size, desc, avail: 0x100000, used, features: 0n, nextAvail: size, nextUsed: desc })).not.toThrow();
    }
  });
});

describe('virtio 1.2 §2.7.5 descriptor table', () => {
  it('§2.7.5: a chain of several descriptors is read in order, readable and writable parts apart', () => {
    const { drv, q } = setup();
    const r1 = bytes(10, 1);
    const r2 = bytes(300, 2);
    const head = drv.addChain({ readable: [r1, r2], writable: [5, 7] })!;
    drv.kick();
    const c = popOne(q);
    expect(c).toMatchObject({ head, readableLen: 310, writableLen: 12 });
    expect(c.readable.map((s) => s.len)).toEqual([10, 300]);
    expect(c.writable.map((s) => s.len)).toEqual([5, 7]);
    expect([...q.readChain(c)]).toEqual([...r1, ...r2]);
    const last = c.writable[1]!;
    expect(c.lastWritableAddr).toBe(last.addr + last.len - 1);
  });

  it('§2.7.5: a head index ≥ Queue Size read from the available ring is a malformed request, not a corrupt ring', () => {
    const env = setup({ size: 8 });
    expectMalformed(env, 8, 'head-out-of-range');
    expectMalformed(env, 0xffff, 'head-out-of-range');
  });

  it('§2.7.5: a next index ≥ Queue Size is a malformed request', () => {
    const env = setup({ size: 8 });
    env.drv.writeDesc(0, { addr: 0x8000, len: 16, flags: F_NEXT, next: 8 });
    expectMalformed(env, 0, 'next-out-of-range');
  });

  it('§2.7.5.2: a loop in the chain (longer than Queue Size) is a malformed request', () => {
    const env = setup({ size: 4 });
    env.drv.writeDesc(0, { addr: 0x8000, len: 16, flags: F_NEXT, next: 1 });
    env.drv.writeDesc(1, { addr: 0x8000, len: 16, flags: F_NEXT, next: 0 });
    expectMalformed(env, 0, 'chain-too-long');
    env.drv.writeDesc(2, { addr: 0x8000, len: 16, flags: F_NEXT | F_WRITE, next: 2 }); // self-loop
    expectMalformed(env, 2, 'chain-too-long');
  });

  it('§2.7.5.3.1: a chain of exactly Queue Size descriptors is accepted (using the whole table)', () => {
    const env = setup({ size: 4 });
    for (let i = 0; i < 4; i++) env.drv.writeDesc(i, { addr: 0x8000 + 16 * i, len: 16, flags: i < 3 ? F_NEXT : F_WRITE, next: i + 1 });
    env.drv.addHead(0);
    env.drv.kick();
    const c = popOne(env.q);
    expect(c.error).toBeUndefined();
    expect(c.readable).toHaveLength(3);
    expect(c.writable).toHaveLength(1);
  });

  it('§2.7.5.2: a chain longer than 2^32 - 1 bytes in total is a malformed request', () => {
    // 256 in-bounds descriptors of 16 MiB each (all the same bytes) add up to exactly 2^32.
    const env = setup({ size: 256, memBytes: 17 << 20 });
    const big = (lastLen: number) => {
      for (let i = 0; i < 256; i++) env.drv.writeDesc(i, { addr: 0x10000, len: i < 255 ? 16 << 20 : lastLen, flags: i < 255 ? F_NEXT : F_WRITE, next: i + 1 });
    };
    big(16 << 20);
    expectMalformed(env, 0, 'total-length-overflow');
    // 2^32 - 16 bytes is still fine.
    big((16 << 20) - 16);
    env.drv.addHead(0);
    env.drv.kick();
    const c = popOne(env.q);
    expect(c.error).toBeUndefined();
    expect(c.readableLen + c.writableLen).toBe(2 ** 32 - 16);
  });

  it('§2.7.5: a buffer outside guest memory is a malformed request (addr + len past the end, addr ≥ 2^32)', () => {
    const env = setup({ size: 8 });
    const top = env.mem.size;
    env.drv.writeDesc(0, { addr: top - 8, len: 9, flags: 0, next: 0 });
    expectMalformed(env, 0, 'buffer-out-of-memory');
    env.drv.writeDesc(1, { addr: 2 ** 32 + 0x8000, len: 16, flags: F_WRITE, next: 0 });
    expectMalformed(env, 1, 'buffer-out-of-memory');
    env.drv.writeDesc(2, { addr: 0xffff_fff0, len: 0x20, flags: 0, next: 0 }); // wraps in 32 bits
    expectMalformed(env, 2, 'buffer-out-of-memory');
    // The last byte of memory is fine.
    env.drv.writeDesc(3, { addr: top - 8, len: 8, flags: F_WRITE, next: 0 });
    env.drv.addHead(3);
    env.drv.kick();
    expect(popOne(env.q)).toMatchObject({ writableLen: 8, lastWritableAddr: top - 1 });
  });

  it('zero-length buffer is a malformed request (QEMU policy; §2.7.4.1 allows a device limit)', () => {
    const env = setup({ size: 8 });
    env.drv.writeDesc(0, { addr: 0x8000, len: 16, flags: F_NEXT, next: 1 });
    env.drv.writeDesc(1, { addr: 0x8000, len: 0, flags: F_WRITE, next: 0 });
    expectMalformed(env, 0, 'zero-length');
  });

  it('§2.7.5.1: the device never writes a device-readable buffer (writeChain only fills writable ones)', () => {
    const { mem, drv, q } = setup();
    drv.addChain({ readable: [bytes(64)], writable: [16, 16] });
    drv.kick();
    const c = popOne(q);
    const before = snapshot(mem);
    expect(q.writeChain(c, new Uint8Array(1000).fill(0xab))).toBe(32);
    const changed = changedBytes(mem, before);
    expect(changed).toHaveLength(32);
    const inWritable = (a: number) => c.writable.some((s) => a >= s.addr && a < s.addr + s.len);
    expect(changed.every(inWritable)).toBe(true);
  });
});

describe('virtio 1.2 §2.7.4 message framing', () => {
  it('§2.7.4.2: a device-readable descriptor after a device-writable one is a malformed request', () => {
    const env = setup({ size: 8 });
    env.drv.writeDesc(0, { addr: 0x8000, len: 16, flags: F_NEXT, next: 1 });
    env.drv.writeDesc(1, { addr: 0x8100, len: 16, flags: F_NEXT | F_WRITE, next: 2 });
    env.drv.writeDesc(2, { addr: 0x8200, len: 16, flags: F_NEXT, next: 3 });
    env.drv.writeDesc(3, { addr: 0x8300, len: 1, flags: F_WRITE, next: 0 });
    const c = expectMalformed(env, 0, 'readable-after-writable');
    // The chain still ends in a reachable writable byte: a backend may put an error status there.
    expect(c.lastWritableAddr).toBe(0x8300);
  });

  it('§2.7.4.2: readable-only and writable-only chains are well formed', () => {
    const { drv, q } = setup();
    drv.addChain({ readable: [bytes(5)] });
    drv.addChain({ writable: [9] });
    drv.kick();
    const [r, w] = q.popAll();
    expect(r).toMatchObject({ readableLen: 5, writableLen: 0, writable: [] });
    expect(r!.lastWritableAddr).toBeUndefined();
    expect(w).toMatchObject({ readableLen: 0, writableLen: 9, readable: [] });
  });

  it('§2.7.4.1: the device makes no assumption about framing (same bytes in one or many descriptors)', () => {
    const { drv, q } = setup({ size: 64, indirect: true });
    const data = bytes(200, 3);
    drv.addChain({ readable: [data] });
    drv.addChain({ readable: Array.from({ length: 50 }, (_, i) => data.subarray(4 * i, 4 * i + 4)) });
    drv.addChain({ readable: [data.subarray(0, 1), data.subarray(1)], indirect: true });
    drv.kick();
    const cs = q.popAll();
    expect(cs).toHaveLength(3);
    for (const c of cs) expect([...q.readChain(c)]).toEqual([...data]);
  });
});

describe('virtio 1.2 §2.7.5.3 indirect descriptors', () => {
  it('§2.7.5.3: an indirect table is read from entry 0 and chained by next, mixing R and W', () => {
    const { drv, q } = setup({ indirect: true });
    const data = bytes(33);
    const head = drv.addChain({ readable: [data, bytes(3)], writable: [4, 1], indirect: true })!;
    drv.kick();
    const c = popOne(q);
    expect(c).toMatchObject({ head, readableLen: 36, writableLen: 5 });
    expect(c.error).toBeUndefined();
    expect([...q.readChain(c, 33)]).toEqual([...data]);
  });

  it('§2.7.5.3.1: VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC negotiated is a malformed request', () => {
    const env = setup({ indirect: false });
    env.drv.writeDescAt(0x9000, { addr: 0x8000, len: 8, flags: 0, next: 0 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 16, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-not-negotiated');
  });

  it('§2.7.5.3.1: VIRTQ_DESC_F_INDIRECT within an indirect table is a malformed request', () => {
    const env = setup({ indirect: true });
    env.drv.writeDescAt(0x9000, { addr: 0x9100, len: 16, flags: F_INDIRECT, next: 0 });
    env.drv.writeDescAt(0x9100, { addr: 0x8000, len: 8, flags: 0, next: 0 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 16, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-nested');
  });

  it('§2.7.5.3.1: VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT both set is a malformed request', () => {
    const env = setup({ indirect: true });
    env.drv.writeDescAt(0x9000, { addr: 0x8000, len: 8, flags: 0, next: 0 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 16, flags: F_INDIRECT | F_NEXT, next: 1 });
    env.drv.writeDesc(1, { addr: 0x8000, len: 1, flags: F_WRITE, next: 0 });
    expectMalformed(env, 0, 'indirect-with-next');
  });

  it('§2.7.5.3.1: a chain longer than Queue Size through an indirect table is a malformed request', () => {
    const env = setup({ size: 4, indirect: true });
    for (let i = 0; i < 5; i++) env.drv.writeDescAt(0x9000 + 16 * i, { addr: 0x8000, len: 8, flags: i < 4 ? F_NEXT : 0, next: i + 1 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 5 * 16, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'chain-too-long');
    // A loop inside the table ends the same way.
    env.drv.writeDescAt(0x9000, { addr: 0x8000, len: 8, flags: F_NEXT, next: 0 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 5 * 16, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'chain-too-long');
  });

  it('§2.7.5.3.1: direct and indirect descriptors count together against Queue Size', () => {
    const env = setup({ size: 4, indirect: true });
    for (let i = 0; i < 2; i++) env.drv.writeDescAt(0x9000 + 16 * i, { addr: 0x8000, len: 8, flags: i < 1 ? F_NEXT : 0, next: i + 1 });
    env.drv.writeDesc(0, { addr: 0x8000, len: 8, flags: F_NEXT, next: 1 });
    env.drv.writeDesc(1, { addr: 0x8000, len: 8, flags: F_NEXT, next: 2 });
    env.drv.writeDesc(2, { addr: 0x8000, len: 8, flags: F_NEXT, next: 3 });
    env.drv.writeDesc(3, { addr: 0x9000, len: 32, flags: F_INDIRECT, next: 0 }); // 3 + 2 = 5 > 4
    expectMalformed(env, 0, 'chain-too-long');
  });

  it('§2.7.5.3: an indirect table length of zero or not a multiple of 16 is a malformed request', () => {
    const env = setup({ indirect: true });
    env.drv.writeDescAt(0x9000, { addr: 0x8000, len: 8, flags: 0, next: 0 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 24, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-bad-length');
    env.drv.writeDesc(0, { addr: 0x9000, len: 0, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-bad-length');
  });

  it('§2.7.5.3: an indirect table outside guest memory is a malformed request', () => {
    const env = setup({ indirect: true });
    env.drv.writeDesc(0, { addr: env.mem.size - 16, len: 32, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-out-of-memory');
    env.drv.writeDesc(0, { addr: 2 ** 40, len: 16, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-out-of-memory');
  });

  it('§2.7.5.3: an indirect next past the end of its table is a malformed request', () => {
    const env = setup({ indirect: true });
    env.drv.writeDescAt(0x9000, { addr: 0x8000, len: 8, flags: F_NEXT, next: 1 });
    env.drv.writeDesc(0, { addr: 0x9000, len: 16, flags: F_INDIRECT, next: 0 });
    expectMalformed(env, 0, 'indirect-next-out-of-range');
  });

  it('§2.7.5.3.2: the device ignores VIRTQ_DESC_F_WRITE on the descriptor that refers to an indirect table', () => {
    const { drv, q } = setup({ indirect: true });
    drv.writeDescAt(0x9000, { addr: 0x8000, len: 8, flags: 0, next: 0 });
    drv.writeDesc(0, { addr: 0x9000, len: 16, flags: F_INDIRECT | F_WRITE, next: 0 });
    drv.addHead(0);
    drv.kick();
    expect(popOne(q)).toMatchObject({ readableLen: 8, writableLen: 0 });
  });

  it('§2.7.5.3.2: zero or more direct descriptors followed by a single indirect one are handled', () => {
    const { drv, q } = setup({ indirect: true });
    drv.writeDescAt(0x9000, { addr: 0x8100, len: 8, flags: F_NEXT, next: 1 });
    drv.writeDescAt(0x9010, { addr: 0x8200, len: 2, flags: F_WRITE, next: 0 });
    drv.writeDesc(0, { addr: 0x8000, len: 4, flags: F_NEXT, next: 5 });
    drv.writeDesc(5, { addr: 0x9000, len: 32, flags: F_INDIRECT, next: 0 });
    drv.addHead(0);
    drv.kick();
    const c = popOne(q);
    expect(c.error).toBeUndefined();
    expect(c.readable).toEqual([{ addr: 0x8000, len: 4 }, { addr: 0x8100, len: 8 }]);
    expect(c.writable).toEqual([{ addr: 0x8200, len: 2 }]);
    expect(c.lastWritableAddr).toBe(0x8201);
  });

  it('§2.7.5.3: an indirect table need not be 16-byte aligned (the spec sets no alignment)', () => {
    const { drv, q } = setup({ indirect: true });
    drv.writeDescAt(0x9003, { addr: 0x8000, len: 8, flags: F_NEXT, next: 1 });
    drv.writeDescAt(0x9013, { addr: 0x8100, len: 1, flags: F_WRITE, next: 0 });
    drv.writeDesc(0, { addr: 0x9003, len: 32, flags: F_INDIRECT, next: 0 });
    drv.addHead(0);
    drv.kick();
    expect(popOne(q)).toMatchObject({ readableLen: 8, writableLen: 1, lastWritableAddr: 0x8100 });
  });
});

describe('virtio 1.2 §2.7.6 available ring: a corrupt ring stops the queue', () => {
  it('§2.7.6.1: the driver decrementing avail idx breaks the queue; nothing pops until reset()', () => {
    const onBroken = vi.fn();
    const { drv, q } = setup({ onBroken });
    drv.addChain({ readable: [bytes(4)] });
    drv.kick();
    expect(q.popAll()).toHaveLength(1);
    drv.setAvailIdx(0); // was 1
    expect(q.popAll()).toEqual([]);
    expect(q.broken).toBe('avail-idx-jump');
    expect(onBroken).toHaveBeenCalledTimes(1);
    expect(onBroken.mock.calls[0]![0]).toBe('avail-idx-jump');
    // Stopped: nothing pops, nothing is published, no notification, even when the driver repairs idx.
    drv.setAvailIdx(1);
    expect(q.popAll()).toEqual([]);
    expect(q.pop()).toBeUndefined();
    expect(q.push(0, 0)).toBe(false);
    expect(q.flush()).toBe(false);
    expect(q.enableNotifications()).toBe(false);
    expect(drv.usedIdx()).toBe(0);
    expect(onBroken).toHaveBeenCalledTimes(1);
  });

  it('§2.7.13: avail idx ahead of the device by more than Queue Size breaks the queue; by exactly Q is fine', () => {
    const a = setup({ size: 8 });
    a.drv.setAvailIdx(9);
    expect(a.q.popAll()).toEqual([]);
    expect(a.q.broken).toBe('avail-idx-jump');
    const b = setup({ size: 8 });
    for (let i = 0; i < 8; i++) b.drv.addChain({ writable: [4] });
    b.drv.kick();
    expect(b.q.popAll()).toHaveLength(8);
    expect(b.q.broken).toBeUndefined();
  });

  it('§2.7: more than Queue Size buffers outstanding (popped, not yet used) breaks the queue', () => {
    const { drv, q } = setup({ size: 4 });
    for (let i = 0; i < 4; i++) drv.addChain({ writable: [4] });
    drv.kick();
    expect(q.popAll()).toHaveLength(4);
    drv.addHead(0); // the driver reuses a head the device still holds
    drv.kick();
    expect(q.popAll()).toEqual([]);
    expect(q.broken).toBe('too-many-outstanding');
  });

  it('reset() after a corrupt ring returns the queue to index 0, running', () => {
    const env = setup({ size: 8 });
    env.drv.setAvailIdx(100);
    env.q.popAll();
    expect(env.q.broken).toBeDefined();
    env.q.reset();
    expect(env.q.broken).toBeUndefined();
    // The driver re-initialises its rings after a reset (§3.1): a fresh layout at the same place.
    const drv = new VirtqDriver(env.mem, { size: 8 });
    expectUsable({ ...env, drv });
  });
});

describe('virtio 1.2 §2.7.8 used ring', () => {
  it('§2.7.8.2: used elements are set before used idx, which moves once per flush', () => {
    const { drv, q } = setup();
    const heads = [0, 1, 2].map(() => drv.addChain({ writable: [8] })!);
    drv.kick();
    const cs = q.popAll();
    for (const c of cs) q.push(c.head, 8);
    // Staged but not visible: the elements are written, the idx is not.
    expect(drv.usedIdx()).toBe(0);
    expect([0, 1, 2].map((s) => drv.usedEntry(s))).toEqual(heads.map((id) => ({ id, len: 8 })));
    expect(q.pendingUsed).toBe(3);
    q.flush();
    expect(drv.usedIdx()).toBe(3);
    expect(q.pendingUsed).toBe(0);
    expect(q.inFlight).toBe(0);
  });

  it('§2.7.8: completions may come out of order; each id is echoed once', () => {
    const { drv, q } = setup();
    const heads = [0, 1, 2, 3].map((i) => drv.addChain({ readable: [bytes(4, i)], writable: [4] })!);
    drv.kick();
    const cs = q.popAll();
    for (const c of [cs[2]!, cs[0]!, cs[3]!, cs[1]!]) q.push(c.head, 0);
    q.flush();
    expect(drv.reapUsed().map((u) => u.id)).toEqual([heads[2], heads[0], heads[3], heads[1]]);
  });

  it('push refuses completions with nothing in flight (e.g. a chain popped before reset)', () => {
    const { drv, q } = setup();
    expect(q.push(0, 0)).toBe(false);
    drv.addChain({ writable: [4] });
    drv.kick();
    const [c] = q.popAll();
    expect(q.push(c!.head, 4)).toBe(true);
    expect(q.push(c!.head, 4)).toBe(false);
  });

  it('§2.7.8.2: complete() clamps the used length to the writable length (never an overestimate)', () => {
    const { drv, q } = setup();
    drv.addChain({ readable: [bytes(4)], writable: [6] });
    drv.kick();
    const [c] = q.popAll();
    q.complete(c!, 1000);
    q.flush();
    expect(drv.reapUsed()[0]!.len).toBe(6);
  });
});

describe('virtio 1.2 §2.7.7 used buffer notification suppression', () => {
  function batch(env: Env, n: number): boolean {
    for (let i = 0; i < n; i++) env.drv.addChain({ writable: [1] });
    env.drv.kick();
    for (const c of env.q.popAll()) env.q.push(c.head, 0);
    const notify = env.q.flush();
    env.drv.reapUsed();
    return notify;
  }

  it('§2.7.7.2 without EVENT_IDX: notify after a batch unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT', () => {
    const env = setup();
    expect(batch(env, 3)).toBe(true);
    env.drv.setAvailFlags(1);
    expect(batch(env, 3)).toBe(false);
    env.drv.setAvailFlags(0);
    expect(batch(env, 1)).toBe(true);
  });

  it('§2.7.7.2 with EVENT_IDX: notify iff an entry of the batch was written at used_event', () => {
    const env = setup({ eventIdx: true });
    env.drv.setUsedEvent(5);
    expect(batch(env, 3)).toBe(false); // wrote 0,1,2
    expect(batch(env, 3)).toBe(true); // wrote 3,4,5
    expect(batch(env, 3)).toBe(false); // 6,7,8: used_event 5 already passed
    env.drv.setUsedEvent(9);
    expect(batch(env, 1)).toBe(true); // wrote 9
  });

  it('§2.7.7.2 example: used_event 0 notifies after the 1st buffer, then only when used idx comes round to 0 again', () => {
    const env = setup({ eventIdx: true, size: 32768, memBytes: 2 << 20 });
    env.drv.setUsedEvent(0);
    expect(batch(env, 1)).toBe(true);
    let notes = 0;
    for (let done = 1; done < 65536; done += 4096) notes += batch(env, Math.min(4096, 65536 - done)) ? 1 : 0;
    expect(notes).toBe(0);
    expect(env.drv.usedIdx()).toBe(0); // 65536 buffers used: wrapped to 0
    expect(batch(env, 1)).toBe(true);
  });

  it('§2.7.7.2 with EVENT_IDX: the device ignores the lower bit of avail flags', () => {
    const env = setup({ eventIdx: true });
    env.drv.setAvailFlags(1);
    env.drv.setUsedEvent(0);
    expect(batch(env, 1)).toBe(true);
  });

  it('a flush with nothing staged never notifies', () => {
    const env = setup();
    expect(env.q.flush()).toBe(false);
  });

  it('vring_need_event matches the spec formula at the wrap', () => {
    expect(needEvent(65535, 1, 65534)).toBe(true);
    expect(needEvent(0, 1, 65535)).toBe(true);
    expect(needEvent(1, 1, 65535)).toBe(false);
    expect(needEvent(5, 5, 5)).toBe(false);
  });
});

describe('virtio 1.2 §2.7.10 available buffer notification suppression', () => {
  it('§2.7.10.2 without EVENT_IDX: disable sets VIRTQ_USED_F_NO_NOTIFY, enable clears it', () => {
    const { drv, q } = setup();
    q.disableNotifications();
    expect(drv.usedFlags()).toBe(VIRTQ_USED_F_NO_NOTIFY);
    expect(drv.kick()).toBe(false);
    expect(q.enableNotifications()).toBe(false);
    expect(drv.usedFlags()).toBe(0);
    drv.addChain({ writable: [1] });
    expect(drv.kick()).toBe(true);
  });

  it('§2.7.10.2 with EVENT_IDX: flags stay 0; the device publishes avail_event = its next avail index', () => {
    const { drv, q } = setup({ eventIdx: true });
    for (let i = 0; i < 3; i++) drv.addChain({ writable: [1] });
    expect(drv.kick()).toBe(true); // avail_event 0 was inside [0, 3)
    for (const c of q.popAll()) q.push(c.head, 0);
    expect(drv.availEvent()).toBe(3);
    q.disableNotifications();
    expect(drv.usedFlags()).toBe(0);
    drv.addChain({ writable: [1] });
    expect(drv.kick()).toBe(true); // crosses 3
    q.popAll();
    expect(drv.availEvent()).toBe(3); // disabled: not advanced
    drv.addChain({ writable: [1] });
    expect(drv.kick()).toBe(false); // so the driver does not kick again
    expect(q.enableNotifications()).toBe(true); // and the re-check finds it
    expect(drv.availEvent()).toBe(4);
  });

  it('§2.7.10: enableNotifications() re-checks the ring after publishing (no lost wake-up)', () => {
    const { drv, q } = setup();
    q.disableNotifications();
    drv.addChain({ writable: [1] });
    expect(drv.kick()).toBe(false); // the driver sees NO_NOTIFY and does not kick
    expect(q.enableNotifications()).toBe(true); // the device finds the buffer anyway
    expect(q.popAll()).toHaveLength(1);
    expect(q.enableNotifications()).toBe(false);
  });

  it('§2.7.10.2: the device MUST handle spurious notifications (popAll on an empty ring is harmless)', () => {
    const { q } = setup();
    expect(q.popAll()).toEqual([]);
    expect(q.pop()).toBeUndefined();
    expect(q.hasAvailable()).toBe(false);
    expect(q.broken).toBeUndefined();
  });
});

describe('virtio 1.2 §2.7.13.3 free-running indices', () => {
  it('§2.7.13.3: idx "always increments, and wraps naturally at 65536"', () => {
    const env = setup({ size: 8, startIdx: 65534 });
    const heads = [0, 1, 2, 3].map((i) => env.drv.addChain({ readable: [bytes(3, i)], writable: [2] })!);
    env.drv.kick();
    expect(env.drv.availIdx).toBe(2);
    const cs = env.q.popAll();
    expect(cs.map((c) => c.head)).toEqual(heads);
    for (const c of cs) env.q.push(c.head, 2);
    env.q.flush();
    expect(env.drv.usedIdx()).toBe(2);
    expect(env.q.nextAvailIdx).toBe(2);
    expect(env.drv.reapUsed().map((u) => u.id)).toEqual(heads);
  });

  it('pop() takes one chain at a time and reads avail idx only when it runs out', () => {
    const { drv, q } = setup();
    drv.addChain({ writable: [1] });
    drv.addChain({ writable: [2] });
    drv.kick();
    expect(q.pop()?.writableLen).toBe(1);
    drv.addChain({ writable: [3] });
    drv.kick();
    expect(q.pop()?.writableLen).toBe(2);
    expect(q.pop()?.writableLen).toBe(3);
    expect(q.pop()).toBeUndefined();
  });
});

describe('chains are copied once, then validated; helpers are bounded', () => {
  it('rewriting the descriptor table after pop changes nothing in the popped chain (no TOCTOU)', () => {
    const { drv, q } = setup();
    const head = drv.addChain({ readable: [bytes(8)], writable: [4] })!;
    drv.kick();
    const c = popOne(q);
    const copy = JSON.stringify(c);
    drv.writeDesc(head, { addr: 2 ** 40, len: 0, flags: F_INDIRECT | F_NEXT, next: 999 });
    expect(JSON.stringify(c)).toBe(copy);
  });

  it('a malformed chain whose last descriptor is writable and reachable exposes its last byte for a status', () => {
    const env = setup({ size: 8 });
    env.drv.writeDesc(0, { addr: 0x8000, len: 0, flags: F_NEXT, next: 1 }); // zero length: malformed
    env.drv.writeDesc(1, { addr: 0x8100, len: 16, flags: F_NEXT | F_WRITE, next: 2 });
    env.drv.writeDesc(2, { addr: 0x8200, len: 1, flags: F_WRITE, next: 0 });
    env.drv.addHead(0);
    env.drv.kick();
    const c = popOne(env.q);
    expect(c.error).toBe('zero-length');
    expect(c.lastWritableAddr).toBe(0x8200);
    // Unreachable end (bad next): no status address.
    env.drv.writeDesc(3, { addr: 0x8200, len: 1, flags: F_NEXT | F_WRITE, next: 77 });
    env.drv.addHead(3);
    env.drv.kick();
    const d = popOne(env.q);
    expect(d.error).toBe('next-out-of-range');
    expect(d.lastWritableAddr).toBeUndefined();
  });

  it('readChain honours maxBytes; readChainInto skips; writeChain stops at the writable end', () => {
    const { mem, drv, q } = setup();
    const a = bytes(10, 1);
    const b = bytes(10, 2);
    drv.addChain({ readable: [a, b], writable: [3, 3] });
    drv.kick();
    const c = popOne(q);
    expect([...q.readChain(c, 4)]).toEqual([...a.subarray(0, 4)]);
    const dst = new Uint8Array(8);
    expect(q.readChainInto(c, dst, 7)).toBe(8);
    expect([...dst]).toEqual([...a.subarray(7), ...b.subarray(0, 5)]);
    expect(q.readChainInto(c, new Uint8Array(50), 15)).toBe(5);
    expect(q.writeChain(c, new Uint8Array([1, 2, 3, 4, 5]), 2)).toBe(4);
    expect(q.writeChain(c, new Uint8Array([9]), 6)).toBe(0);
    const w = c.writable;
    expect([...mem.u8.subarray(w[0]!.addr, w[0]!.addr + 3)]).toEqual([0xcc, 0xcc, 1]);
    expect([...mem.u8.subarray(w[1]!.addr, w[1]!.addr + 3)]).toEqual([2, 3, 4]);
  });

  it('buffers in memory the guest grew after the queue was created are accepted', () => {
    const mem = makeGuestMemory(1 << 16, 2 << 16);
    const drv = new VirtqDriver(mem, { size: 4, base: 0x100 });
    const r = SplitQueue.create(mem, drv.config());
    if (!r.ok) throw new Error(r.message);
    drv.writeDesc(0, { addr: 0x18000, len: 4, flags: F_WRITE, next: 0 });
    drv.addHead(0);
    drv.kick();
    expect(r.queue.popAll()[0]!.error).toBe('buffer-out-of-memory');
    r.queue.push(0, 0);
    r.queue.flush();
    mem.memory.grow(1);
    drv.addHead(0);
    drv.kick();
    const c = r.queue.popAll()[0]!;
    expect(c.error).toBeUndefined();
    expect(r.queue.writeChain(c, new Uint8Array([7, 7, 7, 7]))).toBe(4);
    expect(mem.u8[0x18003]).toBe(7);
  });
});

describe('regressions', () => {
  it('regression: a writable buffer overlapping the used ring does not confuse the device (fuzz seed 6)', () => {
    // Found by hostile-ring.fuzz (seed 6): descriptor 28 of a 32-entry queue at 0x1000 was a
    // 205-byte writable buffer at 0x1180, spanning the end of the descriptor table, the avail
    // ring and the first bytes of the used ring. The backend's data overwrote used.ring[0],
    // which the device had written for the previous chain of the batch. Decision: the spec
    // sets no rule against buffers overlapping the rings, the guest only corrupts its own ring
    // with memory it lent us, and the device never reads the used ring back — its indices are
    // its own — so the device keeps going and used.idx stays right. (The fuzz test's used-
    // element check now skips batches whose buffers overlap the used ring.)
    const { mem, drv, q } = setup({ size: 32 });
    drv.writeDesc(0, { addr: 0x8000, len: 8, flags: 0, next: 0 });
    drv.writeDesc(28, { addr: drv.desc + 0x180, len: 205, flags: F_WRITE, next: 0 });
    drv.addHead(0);
    drv.addHead(28);
    drv.kick();
    const [a, b] = q.popAll();
    expect(b!.writable).toEqual([{ addr: drv.desc + 0x180, len: 205 }]);
    q.push(a!.head, 0);
    expect(q.writeChain(b!, new Uint8Array(205).fill(0xab))).toBe(205);
    q.push(b!.head, 205);
    q.flush();
    expect(drv.usedIdx()).toBe(2);
    expect(drv.usedEntry(0).id).toBe(0xab); // the guest's own buffer landed on its used ring
    expect(drv.usedEntry(1)).toEqual({ id: 28, len: 205 });
    expect(mem.u8[drv.used + 4]).toBe(0xab);
    // The device is unaffected: its next element goes to slot 2 and idx moves to 3.
    drv.writeDesc(1, { addr: 0x8000, len: 8, flags: F_WRITE, next: 0 });
    drv.addHead(1);
    drv.kick();
    const [c] = q.popAll();
    q.push(c!.head, 1);
    q.flush();
    expect(drv.usedIdx()).toBe(3);
    expect(drv.usedEntry(2)).toEqual({ id: 1, len: 1 });
    expect(q.broken).toBeUndefined();
  });
});
