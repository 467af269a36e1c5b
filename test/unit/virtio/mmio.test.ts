/**
 * The virtio-mmio v2 transport clause by clause (virtio 1.2 §4.2.2 register layout and its
 * device/driver requirements, §2.1 status, §2.2 features, §3.1.1 initialisation, §4.2.3 queue
 * configuration and notifications). Positive tests follow what Linux does; negative ones break
 * one driver rule and check the device refuses or ignores it without throwing.
 */
import { describe, expect, it } from 'vitest';
import type { GuestMemory } from '../../../src/hv/memory.ts';
import type { AttachableDevice } from '../../../src/control/system.ts';
import { type VirtioBackend, type VirtioDeviceContext, featureWords } from '../../../src/virtio/device.ts';
import { VirtioMmioDevice, type VirtioMmioOptions } from '../../../src/virtio/mmio.ts';
import { VirtioBlk, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_OUT } from '../../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import type { SplitQueue } from '../../../src/virtio/virtqueue.ts';
import { makeGuestMemory } from '../../support/guest-memory.ts';
import { BlkDriver, MmioDriver, REG, S } from '../../support/mmio-driver.ts';
import { VirtqDriver } from '../../support/virtq-driver.ts';

/** A backend that records what the transport does and completes every chain with length 0. */
class FakeBackend implements VirtioBackend {
  readonly deviceId = 42;
  readonly kind = 'fake';
  readonly features = featureWords([0, 3]);
  readonly configSize = 8;
  readonly queueMaxSizes = [16, 8];
  ctx!: VirtioDeviceContext;
  config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  queues: readonly (SplitQueue | undefined)[] = [];
  activations = 0;
  resets = 0;
  notifies: number[] = [];
  configWrites: [number, number[]][] = [];
  /** Unset by default (the transport's default); a test may install one. */
  configWritableEarly?: (offset: number) => boolean;

  bind(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, dst: Uint8Array): void {
    for (let i = 0; i < dst.length; i++) dst[i] = this.config[offset + i] ?? 0;
  }
  writeConfig(offset: number, src: Uint8Array): void {
    this.configWrites.push([offset, [...src]]);
  }
  activate(queues: readonly (SplitQueue | undefined)[], _mem: GuestMemory, _features: bigint): void {
    this.queues = queues;
    this.activations++;
  }
  reset(): void {
    this.resets++;
    this.queues = [];
  }
  queueNotify(index: number): void {
    this.notifies.push(index);
    const q = this.queues[index];
    if (q === undefined) return;
    q.disableNotifications();
    do {
      for (const c of q.popAll()) q.push(c.head, 0);
      if (q.flush()) this.ctx.usedBuffers(index);
    } while (q.enableNotifications());
  }
}

interface Env {
  mem: GuestMemory;
  be: FakeBackend;
  dev: VirtioMmioDevice;
  drv: MmioDriver;
  irqs: { n: number };
  logs: string[];
}

function setup(opts: Partial<VirtioMmioOptions> = {}): Env {
  const mem = makeGuestMemory(1 << 20);
  const be = new FakeBackend();
  const logs: string[] = [];
  const dev = new VirtioMmioDevice({ name: 'fake0', backend: be, mem, log: (l) => logs.push(l), ...opts });
  const irqs = { n: 0 };
  dev.setInterrupt(() => irqs.n++);
  return { mem, be, dev, drv: new MmioDriver(dev, mem), irqs, logs };
}

/** Brings the device to FEATURES_OK (everything offered accepted). */
function toFeaturesOk(drv: MmioDriver): void {
  drv.w(REG.STATUS, 0);
  drv.addStatus(S.ACK | S.DRIVER);
  drv.writeFeatures(drv.readFeatures());
  drv.addStatus(S.FEATURES_OK);
  expect(drv.r(REG.STATUS) & S.FEATURES_OK).toBe(S.FEATURES_OK);
}

describe('§4.2.2 identification registers', () => {
  it('MagicValue 0x74726976, Version 2, DeviceID of the backend, VendorID "QEMU" by default; window 0x1000', () => {
    const { drv, dev } = setup();
    expect(drv.r(REG.MAGIC)).toBe(0x74726976);
    expect(drv.r(REG.VERSION)).toBe(2);
    expect(drv.r(REG.DEVICE_ID)).toBe(42);
    expect(drv.r(REG.VENDOR_ID)).toBe(0x554d4551);
    expect(dev.size).toBe(0x1000);
    expect(dev.name).toBe('fake0');
    expect(dev.type).toBe(42);
    expect(dev.label).toBe('virtio-fake');
  });

  it('VendorID is configurable; blk reports DeviceID 2 (also its manifest type)', () => {
    const mem = makeGuestMemory(1 << 16);
    const dev = new VirtioMmioDevice({ name: 'vda', backend: new VirtioBlk({ image: new MemoryDiskImage(4096) }), mem, vendorId: 0x1234 });
    expect(dev.read32(REG.VENDOR_ID)).toBe(0x1234);
    expect(dev.read32(REG.DEVICE_ID)).toBe(2);
    expect(dev.type).toBe(2);
    expect(dev.label).toBe('virtio-blk');
    // Compile-time: the transport is what System.attachDevice takes.
    const attachable: AttachableDevice = dev;
    expect(attachable.size).toBe(0x1000);
  });

  it('write-only and undefined registers read 0; writes to read-only registers are dropped; both counted', () => {
    const { drv, dev } = setup();
    expect(drv.r(REG.QUEUE_NOTIFY)).toBe(0);
    expect(drv.r(REG.DRIVER_FEATURES)).toBe(0);
    expect(drv.r(0x0f0)).toBe(0);
    drv.w(REG.MAGIC, 0);
    drv.w(REG.VERSION, 1);
    expect(drv.r(REG.MAGIC)).toBe(0x74726976);
    expect(drv.r(REG.VERSION)).toBe(2);
    expect(dev.strayAccesses).toBe(5);
    // No shared memory regions: length -1, base all ones (§4.2.2).
    expect(drv.r(0x0b0)).toBe(0xffffffff);
    expect(drv.r(0x0bc)).toBe(0xffffffff);
  });
});

describe('§2.1 / §3.1.1 status state machine', () => {
  it('follows ACK → DRIVER → FEATURES_OK → DRIVER_OK and activates the backend at DRIVER_OK', () => {
    const { drv, be } = setup();
    const r = drv.init();
    expect(r.ok).toBe(true);
    expect(r.status).toBe(S.ACK | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(be.activations).toBe(1);
    expect(be.queues.filter((q) => q !== undefined)).toHaveLength(2);
  });

  it('drops a bit whose predecessor is missing (DRIVER without ACK, DRIVER_OK without FEATURES_OK)', () => {
    const { drv, be } = setup();
    drv.w(REG.STATUS, S.DRIVER);
    expect(drv.r(REG.STATUS)).toBe(0);
    drv.w(REG.STATUS, S.ACK | S.DRIVER | S.DRIVER_OK);
    expect(drv.r(REG.STATUS)).toBe(S.ACK | S.DRIVER);
    expect(be.activations).toBe(0);
  });

  it('§2.1.1 a write that clears a bit is ignored; only 0 resets', () => {
    const { drv } = setup();
    drv.w(REG.STATUS, S.ACK | S.DRIVER);
    drv.w(REG.STATUS, S.ACK);
    expect(drv.r(REG.STATUS)).toBe(S.ACK | S.DRIVER);
  });

  it('FAILED may be set at any time and sticks until reset', () => {
    const { drv } = setup();
    drv.w(REG.STATUS, S.ACK | S.FAILED);
    expect(drv.r(REG.STATUS)).toBe(S.ACK | S.FAILED);
    drv.w(REG.STATUS, 0);
    expect(drv.r(REG.STATUS)).toBe(0);
  });

  it('the driver cannot set DEVICE_NEEDS_RESET', () => {
    const { drv } = setup();
    drv.w(REG.STATUS, S.ACK | S.NEEDS_RESET);
    expect(drv.r(REG.STATUS)).toBe(S.ACK);
  });

  it('§4.2.2.1 writing 0 resets: status, features, queues (QueueReady 0), InterruptStatus, and the backend', () => {
    const { drv, be, dev } = setup();
    const r = drv.init();
    r.queues[0]!.addChain({ writable: [4] });
    r.queues[0]!.kick();
    drv.notify(0);
    expect(drv.r(REG.INTERRUPT_STATUS)).toBe(1);
    const resetsBefore = be.resets;
    drv.w(REG.STATUS, 0);
    expect(drv.r(REG.STATUS)).toBe(0);
    expect(drv.r(REG.INTERRUPT_STATUS)).toBe(0);
    expect(dev.negotiatedFeatures).toBe(0n);
    for (const i of [0, 1]) {
      drv.w(REG.QUEUE_SEL, i);
      expect(drv.r(REG.QUEUE_READY)).toBe(0);
    }
    expect(be.resets).toBe(resetsBefore + 1);
    // A kick after reset reaches nothing (§2.1.2: no buffers consumed before DRIVER_OK).
    drv.notify(0);
    expect(be.notifies).toEqual([0]);
  });
});

describe('§2.2 feature negotiation over the two 32-bit windows', () => {
  it('DeviceFeatures shows bits 0–31 at sel 0, 32–63 at sel 1, nothing beyond; offers backend bits + VERSION_1, EVENT_IDX, INDIRECT_DESC only', () => {
    const { drv } = setup();
    drv.w(REG.DEVICE_FEATURES_SEL, 0);
    expect(drv.r(REG.DEVICE_FEATURES)).toBe(((1 << 0) | (1 << 3) | (1 << 28) | (1 << 29)) >>> 0);
    drv.w(REG.DEVICE_FEATURES_SEL, 1);
    expect(drv.r(REG.DEVICE_FEATURES)).toBe(1); // VERSION_1 = bit 32
    drv.w(REG.DEVICE_FEATURES_SEL, 2);
    expect(drv.r(REG.DEVICE_FEATURES)).toBe(0);
  });

  it('accepts any offered subset; the negotiated set is what the driver wrote', () => {
    const { drv, dev } = setup();
    const r = drv.init({ accept: (f) => f & ((1n << 32n) | 1n) });
    expect(r.ok).toBe(true);
    expect(dev.negotiatedFeatures).toBe((1n << 32n) | 1n);
  });

  it('§2.2.2 refuses FEATURES_OK (the bit does not stick) when the driver acks a bit not offered', () => {
    const { drv, logs } = setup();
    const r = drv.init({ accept: (f) => f | (1n << 1n) });
    expect(r.ok).toBe(false);
    expect(r.status & S.FEATURES_OK).toBe(0);
    expect(logs.some((l) => /FEATURES_OK refused.*not offered/.test(l))).toBe(true);
  });

  it('refuses FEATURES_OK when a bit above 63 is acked (DriverFeaturesSel 2)', () => {
    const { drv } = setup();
    drv.addStatus(S.ACK | S.DRIVER);
    drv.writeFeatures(1n << 32n);
    drv.w(REG.DRIVER_FEATURES_SEL, 2);
    drv.w(REG.DRIVER_FEATURES, 1);
    drv.addStatus(S.FEATURES_OK);
    expect(drv.r(REG.STATUS) & S.FEATURES_OK).toBe(0);
  });

  it('without strictVersion1 a driver that does not ack VERSION_1 (xv6) is accepted; with it, refused', () => {
    const lax = setup();
    expect(lax.drv.init({ accept: (f) => f & 0xffffffffn }).ok).toBe(true);
    const strict = setup({ strictVersion1: true });
    const r = strict.drv.init({ accept: (f) => f & 0xffffffffn });
    expect(r.ok).toBe(false);
    expect(strict.drv.init().ok).toBe(true);
  });

  it('DriverFeatures writes are ignored before DRIVER and after FEATURES_OK', () => {
    const { drv, dev } = setup();
    drv.w(REG.STATUS, S.ACK);
    drv.writeFeatures(1n);
    expect(dev.negotiatedFeatures).toBe(0n);
    drv.addStatus(S.DRIVER);
    drv.writeFeatures(1n << 32n);
    drv.addStatus(S.FEATURES_OK);
    drv.writeFeatures((1n << 32n) | 8n);
    expect(dev.negotiatedFeatures).toBe(1n << 32n);
  });
});

describe('§4.2.3.2 queue configuration: gating and latching', () => {
  it('QueueNumMax per queue; 0 for a queue that does not exist', () => {
    const { drv } = setup();
    drv.w(REG.QUEUE_SEL, 0);
    expect(drv.r(REG.QUEUE_NUM_MAX)).toBe(16);
    drv.w(REG.QUEUE_SEL, 1);
    expect(drv.r(REG.QUEUE_NUM_MAX)).toBe(8);
    drv.w(REG.QUEUE_SEL, 2);
    expect(drv.r(REG.QUEUE_NUM_MAX)).toBe(0);
    expect(drv.r(REG.QUEUE_READY)).toBe(0);
  });

  it('queue registers are ignored before FEATURES_OK (§3.1.1 step 7)', () => {
    const { drv, mem } = setup();
    drv.addStatus(S.ACK | S.DRIVER);
    const vq = new VirtqDriver(mem, { size: 16 });
    drv.setupQueue(0, vq);
    expect(drv.r(REG.QUEUE_READY)).toBe(0);
  });

  it('latches at QueueReady = 1 (reads back 1); later writes to the live queue are ignored (§4.2.2.2)', () => {
    const { drv, mem, be } = setup();
    toFeaturesOk(drv);
    const vq = new VirtqDriver(mem, { size: 16 });
    drv.setupQueue(0, vq);
    expect(drv.r(REG.QUEUE_READY)).toBe(1);
    // Re-pointing the ready queue must not take effect (CVE-2026-5747 pattern).
    drv.w(REG.QUEUE_NUM, 8);
    drv.w(REG.QUEUE_DESC_LOW, 0x8000);
    drv.addStatus(S.DRIVER_OK);
    expect(be.queues[0]!.size).toBe(16);
    expect(be.queues[0]!.descAddr).toBe(vq.desc);
    expect(be.queues[1]).toBeUndefined();
  });

  it('queue registers and QueueReady are ignored after DRIVER_OK', () => {
    const { drv, mem, be } = setup();
    toFeaturesOk(drv);
    drv.addStatus(S.DRIVER_OK);
    drv.setupQueue(1, new VirtqDriver(mem, { size: 8 }));
    drv.w(REG.QUEUE_SEL, 1);
    expect(drv.r(REG.QUEUE_READY)).toBe(0);
    expect(be.queues[1]).toBeUndefined();
  });

  it('QueueReady = 0 before DRIVER_OK disables the queue again', () => {
    const { drv, mem, be } = setup();
    toFeaturesOk(drv);
    drv.setupQueue(0, new VirtqDriver(mem, { size: 16 }));
    drv.w(REG.QUEUE_READY, 0);
    expect(drv.r(REG.QUEUE_READY)).toBe(0);
    drv.addStatus(S.DRIVER_OK);
    expect(be.queues[0]).toBeUndefined();
  });

  for (const [what, mutate] of [
    ['QueueNum > QueueNumMax (§4.2.2.2)', (d: MmioDriver) => d.w(REG.QUEUE_NUM, 32)],
    ['QueueNum not a power of 2 (§2.7)', (d: MmioDriver) => d.w(REG.QUEUE_NUM, 12)],
    ['QueueNum 0', (d: MmioDriver) => d.w(REG.QUEUE_NUM, 0)],
    ['misaligned descriptor table (§2.7.1)', (d: MmioDriver) => d.w(REG.QUEUE_DESC_LOW, 0x1008)],
    ['an address at or above 4 GiB', (d: MmioDriver) => d.w(REG.QUEUE_DEVICE_HIGH, 1)],
    ['a ring outside guest memory', (d: MmioDriver) => d.w(REG.QUEUE_DRIVER_LOW, 0xfffff0)],
  ] as const) {
    it(`a bad configuration (${what}) is refused: QueueReady reads 0, NEEDS_RESET set, config interrupt at DRIVER_OK, no activation`, () => {
      const { drv, mem, be, irqs, logs } = setup();
      toFeaturesOk(drv);
      const vq = new VirtqDriver(mem, { size: 16 });
      drv.w(REG.QUEUE_SEL, 0);
      drv.w(REG.QUEUE_NUM, 16);
      drv.w(REG.QUEUE_DESC_LOW, vq.desc);
      drv.w(REG.QUEUE_DRIVER_LOW, vq.avail);
      drv.w(REG.QUEUE_DEVICE_LOW, vq.used);
      mutate(drv);
      drv.w(REG.QUEUE_READY, 1);
      expect(drv.r(REG.QUEUE_READY)).toBe(0);
      expect(drv.r(REG.STATUS) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
      expect(irqs.n).toBe(0); // not before DRIVER_OK
      expect(logs.some((l) => /DEVICE_NEEDS_RESET: queue 0 configuration refused/.test(l))).toBe(true);
      drv.addStatus(S.DRIVER_OK);
      expect(irqs.n).toBe(1);
      expect(drv.r(REG.INTERRUPT_STATUS)).toBe(2);
      expect(be.activations).toBe(0);
      // Reset recovers.
      expect(drv.init().ok).toBe(true);
      expect(drv.r(REG.STATUS) & S.NEEDS_RESET).toBe(0);
      expect(be.activations).toBe(1);
    });
  }
});

describe('§4.2.3.3 / §4.2.3.4 notifications and interrupts', () => {
  it('QueueNotify reaches the backend only after DRIVER_OK and only for enabled queues', () => {
    const { drv, be, mem } = setup();
    toFeaturesOk(drv);
    drv.setupQueue(0, new VirtqDriver(mem, { size: 16 }));
    drv.notify(0);
    expect(be.notifies).toEqual([]);
    drv.addStatus(S.DRIVER_OK);
    drv.notify(1); // queue 1 not enabled: spurious, ignored
    drv.notify(7); // no such queue
    drv.notify(0x10000); // not a queue index
    drv.notify(0);
    expect(be.notifies).toEqual([0]);
  });

  it('a batch of used buffers sets InterruptStatus bit 0 and raises once; InterruptACK clears it', () => {
    const { drv, irqs } = setup();
    const r = drv.init({ accept: (f) => f & ~(1n << 29n) });
    const q = r.queues[0]!;
    for (let i = 0; i < 5; i++) q.addChain({ writable: [8] });
    q.kick();
    drv.notify(0);
    expect(q.reapUsed()).toHaveLength(5);
    expect(irqs.n).toBe(1);
    expect(drv.ackInterrupt()).toBe(1);
    expect(drv.r(REG.INTERRUPT_STATUS)).toBe(0);
    // A spurious kick with nothing new: no interrupt.
    drv.notify(0);
    expect(irqs.n).toBe(1);
  });

  it('honours VIRTQ_AVAIL_F_NO_INTERRUPT (no EVENT_IDX): no raise, no InterruptStatus bit', () => {
    const { drv, irqs } = setup();
    const r = drv.init({ accept: (f) => f & ~(1n << 29n) });
    const q = r.queues[0]!;
    q.setAvailFlags(1);
    q.addChain({ writable: [8] });
    q.kick();
    drv.notify(0);
    expect(q.reapUsed()).toHaveLength(1);
    expect(irqs.n).toBe(0);
    expect(drv.r(REG.INTERRUPT_STATUS)).toBe(0);
  });

  it('honours used_event with EVENT_IDX: raise only when the batch crosses it', () => {
    const { drv, irqs } = setup();
    const r = drv.init();
    const q = r.queues[0]!;
    q.setUsedEvent(3); // interrupt wanted when used idx passes 3
    q.addChain({ writable: [8] });
    q.addChain({ writable: [8] });
    q.kick();
    drv.notify(0);
    expect(irqs.n).toBe(0);
    q.addChain({ writable: [8] });
    q.addChain({ writable: [8] });
    if (q.kick()) drv.notify(0);
    expect(q.reapUsed()).toHaveLength(4);
    expect(irqs.n).toBe(1);
  });

  it('InterruptACK ignores undefined bits and clears only what is written', () => {
    const { drv, be, irqs } = setup();
    drv.init();
    be.ctx.configChanged();
    be.ctx.usedBuffers(0);
    expect(irqs.n).toBe(2);
    expect(drv.r(REG.INTERRUPT_STATUS)).toBe(3);
    drv.w(REG.INTERRUPT_ACK, 0xfffffffe);
    expect(drv.r(REG.INTERRUPT_STATUS)).toBe(1);
  });
});

describe('§2.1.2 DEVICE_NEEDS_RESET on a corrupt ring', () => {
  it('sets NEEDS_RESET and InterruptStatus bit 1, raises, stops serving until reset, then recovers', () => {
    const { drv, be, irqs, logs } = setup();
    const r = drv.init();
    const q = r.queues[0]!;
    q.setAvailIdx(100); // avail.idx jumps more than Q ahead: the indices are garbage
    drv.notify(0);
    expect(drv.r(REG.STATUS) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    expect(drv.r(REG.STATUS) & S.DRIVER_OK).toBe(S.DRIVER_OK);
    expect(drv.r(REG.INTERRUPT_STATUS) & 2).toBe(2);
    expect(irqs.n).toBe(1);
    expect(logs.some((l) => /DEVICE_NEEDS_RESET: queue 0: avail-idx-jump/.test(l))).toBe(true);
    // Stopped: kicks are ignored.
    drv.notify(0);
    drv.notify(1);
    expect(be.notifies).toEqual([0]);
    // Reset and re-initialise: serving again.
    const r2 = drv.init();
    expect(r2.ok).toBe(true);
    expect(drv.r(REG.STATUS) & S.NEEDS_RESET).toBe(0);
    r2.queues[0]!.addChain({ writable: [4] });
    r2.queues[0]!.kick();
    drv.notify(0);
    expect(r2.queues[0]!.reapUsed()).toHaveLength(1);
  });

  it('a corrupt ring on one blk device leaves another device running', () => {
    const mem = makeGuestMemory(1 << 20);
    const mk = (name: string) => new VirtioMmioDevice({ name, backend: new VirtioBlk({ image: new MemoryDiskImage(8192), queueSize: 16 }), mem, log: () => {} });
    const a = new MmioDriver(mk('vda'), mem);
    const b = new MmioDriver(mk('vdb'), mem);
    const ra = a.init({ queues: [{ base: 0x1000, dataBase: 0x10000, dataEnd: 0x40000 }] });
    const rb = b.init({ queues: [{ base: 0x2000, dataBase: 0x40000, dataEnd: 0x80000 }] });
    ra.queues[0]!.setAvailIdx(0x8000);
    a.notify(0);
    expect(a.r(REG.STATUS) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    const blkB = new BlkDriver(b, rb.queues[0]!);
    expect(blkB.one({ type: VIRTIO_BLK_T_OUT, sector: 1, out: new Uint8Array(512).fill(1) }).status).toBe(0);
    expect(blkB.one({ type: VIRTIO_BLK_T_FLUSH }).status).toBe(0);
  });
});

describe('configuration space and ConfigGeneration (§4.2.2, §4.2.2.1)', () => {
  it('config is read in 32-bit words at 0x100+ (bytes past the space read 0)', () => {
    const { drv } = setup();
    expect(drv.config32(0)).toBe(0x04030201);
    expect(drv.config32(4)).toBe(0x08070605);
    expect(drv.config32(8)).toBe(0);
  });

  it('config writes reach the backend only after FEATURES_OK (§3.1.1 step 4)', () => {
    const { drv, be } = setup();
    drv.w(REG.CONFIG, 0xaabbccdd);
    expect(be.configWrites).toEqual([]);
    toFeaturesOk(drv);
    drv.w(REG.CONFIG + 4, 0xaabbccdd);
    expect(be.configWrites).toEqual([[4, [0xdd, 0xcc, 0xbb, 0xaa]]]);
  });

  it('configWritableEarly: a backend-named field takes writes before FEATURES_OK; the rest still wait', () => {
    const { drv, be } = setup();
    const asked: number[] = [];
    be.configWritableEarly = (off: number) => {
      asked.push(off);
      return off === 4;
    };
    drv.w(REG.CONFIG + 4, 0x11223344); // status 0: passes (named field)
    drv.w(REG.CONFIG + 0, 0xaabbccdd); // status 0: dropped
    drv.w(REG.CONFIG + 8, 1); // past configSize: dropped without asking
    drv.addStatus(S.ACK);
    drv.addStatus(S.DRIVER);
    drv.w(REG.CONFIG + 4, 0x55667788); // before FEATURES_OK: passes
    expect(be.configWrites).toEqual([
      [4, [0x44, 0x33, 0x22, 0x11]],
      [4, [0x88, 0x77, 0x66, 0x55]],
    ]);
    expect(asked).toEqual([4, 0, 4]);
    const stray = be.configWrites.length;
    toFeaturesOk(drv);
    drv.w(REG.CONFIG + 0, 0xaabbccdd); // after FEATURES_OK every field goes through, unasked
    expect(be.configWrites.length).toBe(stray + 1);
    expect(asked).toEqual([4, 0, 4]);
  });

  it('ConfigGeneration changes when the backend changes its config; a config interrupt follows only after DRIVER_OK', () => {
    const { drv, be, irqs } = setup();
    const g0 = drv.r(REG.CONFIG_GENERATION);
    be.config[0] = 9;
    be.ctx.configChanged();
    const g1 = drv.r(REG.CONFIG_GENERATION);
    expect(g1).not.toBe(g0);
    expect(irqs.n).toBe(0);
    drv.init();
    be.ctx.configChanged();
    expect(drv.r(REG.CONFIG_GENERATION)).not.toBe(g1);
    expect(irqs.n).toBe(1);
    expect(drv.ackInterrupt()).toBe(2);
    // A stable config keeps the generation: the driver's re-read loop terminates.
    expect(drv.config32(0)).toBe(0x04030209);
  });
});

describe('a backend bug is contained', () => {
  it('an exception thrown by the backend on a notify puts the device in NEEDS_RESET instead of unwinding into the guest trap', () => {
    const { drv, be, logs } = setup();
    drv.init();
    be.queueNotify = () => {
      throw new Error('boom');
    };
    expect(() => drv.notify(0)).not.toThrow();
    expect(drv.r(REG.STATUS) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    expect(drv.r(REG.INTERRUPT_STATUS) & 2).toBe(2);
    expect(logs.some((l) => /backend threw on queue 0: boom/.test(l))).toBe(true);
  });
});
