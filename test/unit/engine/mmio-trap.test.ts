/**
 * The deterministic engine's MMIO traps (ABI 1.1): a WAT guest reaches a fake device through
 * `hw.mmio_read32` / `hw.mmio_write32`; values, exit counts, virtual time, an interrupt raised
 * during a write, and a device that throws (a host bug: only its domain crashes).
 */
import { describe, expect, it } from 'vitest';
import { MMIO_DEVICE_BASE, VIRTIO_ID_BLOCK } from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import { GuestImageError } from '../../../src/engine/errors.ts';
import { inspectGuest } from '../../../src/engine/loader.ts';
import type { Domain } from '../../../src/hv/index.ts';
import { wat } from '../../support/wat.ts';

const BASE = MMIO_DEVICE_BASE;
const IMPORTS = `
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "hw" "mmio_read32" (func $rd (param i32) (result i32)))
  (import "hw" "mmio_write32" (func $wr (param i32 i32)))`;
/** sched_shutdown(POWEROFF, code) */
const SHUTDOWN = (code: string) => `(drop (call $hc (i32.const 8) (i32.const 0) ${code} (i32.const 0) (i32.const 0) (i32.const 0)))`;

/** A register file that records accesses; `onWrite` lets a test react to a write (raise an interrupt). */
class FakeDevice {
  readonly size = 0x100;
  readonly name: string;
  readonly type = VIRTIO_ID_BLOCK;
  readonly regs = new Uint32Array(0x40);
  readonly log: string[] = [];
  raise: (() => void) | undefined;
  onWrite: ((offset: number, value: number) => void) | undefined;
  failOn: Error | undefined;
  constructor(name = 'fake0') {
    this.name = name;
  }
  read32(offset: number): number {
    if (this.failOn !== undefined) throw this.failOn;
    this.log.push(`r ${offset.toString(16)}`);
    return this.regs[offset / 4]!;
  }
  write32(offset: number, value: number): void {
    this.log.push(`w ${offset.toString(16)} ${value.toString(16)}`);
    this.regs[offset / 4] = value;
    this.onWrite?.(offset, value);
  }
  setInterrupt(raise: () => void): void {
    this.raise = raise;
  }
}

async function boot(image: Uint8Array, dev: FakeDevice, opts: { trace?: boolean } = {}) {
  const log: string[] = [];
  const sys = new System({ seed: 1, console: () => {}, log: (l) => log.push(l), ...(opts.trace === true ? { trace: true } : {}) });
  const d = await sys.addDomain({ name: 'g', image, memBytes: 1 << 20, vcpus: 1, cmdline: '' });
  const at = sys.attachDevice(d, dev);
  return { sys, d, at, log };
}

describe('hw.mmio_* traps on the deterministic engine', () => {
  it('reads and writes device registers, counts exits by kind, and strays read all ones', async () => {
    const image = wat(`(module ${IMPORTS}
      (func (export "_start") (param $si i32)
        (call $wr (i32.const ${BASE}) (i32.const 0xdeadbeef))
        (call $wr (i32.const ${BASE + 8}) (i32.add (call $rd (i32.const ${BASE + 4})) (i32.const 1)))
        (call $wr (i32.const ${BASE + 12}) (call $rd (i32.const ${BASE + 0x1000})))
        (call $wr (i32.const ${BASE + 16}) (call $rd (i32.const ${BASE + 2})))
        ${SHUTDOWN('(i32.const 0)')}))`);
    const dev = new FakeDevice();
    dev.regs[1] = 41;
    const { sys, d, at } = await boot(image, dev, { trace: true });
    expect(at).toEqual({ base: BASE, port: 1 });
    const report = await sys.run();
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(dev.log).toEqual(['w 0 deadbeef', 'r 4', 'w 8 2a', 'w c ffffffff', 'w 10 ffffffff']);
    expect(d.mmioExits).toEqual({ read: 3, write: 4 });
    expect(d.mmio.strayAccesses).toBe(2);
    // Each trap is one exit charged like a hypercall: 7 MMIO + 1 hypercall at 50 ns each, plus fuel.
    expect(report.virtualTimeNs).toBeGreaterThanOrEqual(8 * 50);
    const evs = report.trace!.map((r) => r.ev);
    expect(evs).toEqual(['mmio_write32', 'mmio_read32', 'mmio_write32', 'mmio_read32', 'mmio_write32', 'mmio_read32', 'mmio_write32', 'sched_shutdown']);
    expect(report.trace![1]).toMatchObject({ args: [BASE + 4 - 2 ** 32], ret: 41 });
    // Virtual time never goes backwards across the traps.
    const ts = report.trace!.map((r) => r.t);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
  });

  it('delivers an interrupt the device raises during a write at the VM entry ending that write', async () => {
    // pv_upcall: clear upcall_pending (vcpu_info 0 is at the start of shared_info), then write a marker.
    const image = wat(`(module ${IMPORTS}
      (global $sh (mut i32) (i32.const 0))
      (func (export "pv_upcall")
        (i32.store8 (global.get $sh) (i32.const 0))
        (call $wr (i32.const ${BASE + 0x20}) (i32.const 0x1ca11)))
      (func (export "_start") (param $si i32)
        (global.set $sh (i32.load offset=32 (local.get $si)))
        (call $wr (i32.const ${BASE + 0x14}) (i32.const 1))
        (call $wr (i32.const ${BASE + 0x18}) (i32.const 2))
        ${SHUTDOWN('(i32.const 0)')}))`);
    const dev = new FakeDevice();
    dev.onWrite = (off) => {
      if (off === 0x14) dev.raise!();
    };
    const { sys, d, at } = await boot(image, dev);
    const report = await sys.run();
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    // The upcall ran once, inside the trap of the raising write, before the guest's next access.
    expect(dev.log).toEqual(['w 14 1', 'w 20 1ca11', 'w 18 2']);
    expect(d.mmioExits).toEqual({ read: 0, write: 3 });
    expect(pendingBit(d, at.port)).toBe(true); // the guest never cleared the port's pending bit
  });

  it('crashes only the domain whose device throws, with a host log line', async () => {
    const image = wat(`(module ${IMPORTS}
      (func (export "_start") (param $si i32)
        (drop (call $rd (i32.const ${BASE})))
        ${SHUTDOWN('(i32.const 0)')}))`);
    const log: string[] = [];
    const sys = new System({ seed: 1, console: () => {}, log: (l) => log.push(l) });
    const bad = await sys.addDomain({ name: 'bad', image, memBytes: 1 << 20, vcpus: 1, cmdline: '' });
    const good = await sys.addDomain({ name: 'good', image, memBytes: 1 << 20, vcpus: 1, cmdline: '' });
    const failing = new FakeDevice();
    // A RangeError too must count as a host fault, not as the guest's stack overflow.
    failing.failOn = new RangeError('device bug');
    sys.attachDevice(bad, failing);
    sys.attachDevice(good, new FakeDevice());
    const report = await sys.run();
    const [rb, rg] = report.domains;
    expect(rb!.outcome.kind).toBe('crashed');
    expect(rb!.outcome.kind === 'crashed' && rb!.outcome.reason).toMatch(/^host fault: device at MMIO 0xfe000000 threw on read: device bug/);
    expect(rg!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(log.some((l) => l.startsWith('host fault while running bad vCPU 0'))).toBe(true);
  });

  it('other hw.* imports still crash a PV guest that calls them', async () => {
    const image = wat(`(module ${IMPORTS}
      (import "hw" "out8" (func $out8 (param i32 i32)))
      (func (export "_start") (param $si i32)
        (call $out8 (i32.const 0x3f8) (i32.const 65))
        ${SHUTDOWN('(i32.const 0)')}))`);
    const { sys } = await boot(image, new FakeDevice());
    const report = await sys.run();
    const o = report.domains[0]!.outcome;
    expect(o.kind === 'crashed' && o.reason).toMatch(/hw\.out8: legacy hardware is not emulated for this guest/);
  });

  it('the loader refuses an MMIO trap imported with the wrong signature', () => {
    const image = wat(`(module
      (import "env" "memory" (memory 2 256 shared))
      (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
      (import "hw" "mmio_read32" (func $rd (param i32 i32) (result i32)))
      (import "hw" "mmio_write32" (func $wr (param i32) (result i32)))
      (func (export "_start") (param i32)))`);
    let err: unknown;
    try {
      inspectGuest(image, 'bad.wasm');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GuestImageError);
    expect((err as GuestImageError).problems).toEqual([
      expect.stringMatching(/^imports hw\.mmio_read32 with signature \(i32, i32\) -> i32; it must be \(i32\) -> i32/),
      expect.stringMatching(/^imports hw\.mmio_write32 with signature \(i32\) -> i32; it must be \(i32, i32\) -> /),
    ]);
  });
});

function pendingBit(d: Domain, port: number): boolean {
  return ((d.mem.i32[d.pendingIdx + (port >>> 5)]! >>> (port & 31)) & 1) === 1;
}
