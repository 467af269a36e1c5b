/**
 * The hypervisor object (src/hv/hypervisor.ts): domain creation and the boot state it writes,
 * the device manifest, the hypercall entry (counts, trace), vCPU and domain life cycle, console
 * input, and timers.
 */
import { describe, expect, it } from 'vitest';
import {
  ABI_VERSION, CMDLINE_MAX, DEVICE_INFO_OFF, DOMID_SELF, DEVICE_INFO_SIZE, ETIMEDOUT, Hc, MAX_DEVICES, MMIO_WINDOW_SIZE,
  SHARED_INFO_OFF, SIF_PRIVILEGED, START_INFO_MAGIC, START_INFO_OFF, START_INFO_SIZE, VCPU_INFO_OFF,
  VCPU_TIME_INFO_OFF, VIRQ_CONSOLE, VIRQ_TIMER, EVTCHNSTAT_CLOSED, EVTCHNSTAT_UNBOUND, SHUTDOWN_POWEROFF,
} from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { DEFAULT_WALLCLOCK, DomainConfigError, Hypervisor, WAIT_BLOCK, WAIT_YIELD, WASM_PAGE, layoutFor, reservedBytes } from '../../../src/hv/index.ts';
import type { Domain, DeviceManifestEntry } from '../../../src/hv/index.ts';
import { SCRATCH, call, makeHv, pending, upcallPending } from '../../support/hv.ts';

const A = (n: number) => n as GuestAddr;
const quiet = () => new Hypervisor({ log: () => {} });
const si = (d: Domain, field: keyof typeof START_INFO_OFF) => d.mem.u32(A(d.layout.startInfo + START_INFO_OFF[field]));

/** Expects createDomain to throw a DomainConfigError naming `field`. */
function configError(hv: Hypervisor, opts: Parameters<Hypervisor['createDomain']>[0], field: string, msg: RegExp): void {
  let err: unknown;
  try {
    hv.createDomain(opts);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DomainConfigError);
  expect((err as DomainConfigError).field).toBe(field);
  expect((err as DomainConfigError).name).toBe('DomainConfigError');
  expect((err as Error).message).toMatch(msg);
}

describe('createDomain: configuration checks', () => {
  it('vcpus must be an integer in 1..32 (MAX_VCPUS)', () => {
    const hv = quiet();
    for (const vcpus of [0, 33, 1.5, -1, NaN]) configError(hv, { name: 'x', memBytes: 4 << 20, vcpus }, 'vcpus', /vcpus: .* out of range; use 1 to 32/);
    expect(hv.createDomain({ name: 'one', memBytes: 4 << 20, vcpus: 1 }).vcpus).toHaveLength(1);
    expect(hv.createDomain({ name: 'max', memBytes: 4 << 20, vcpus: 32 }).vcpus).toHaveLength(32);
    expect(hv.domains).toHaveLength(2);
  });

  it('memory must be a positive multiple of 64 KiB below 4 GiB, with room above the reserved area', () => {
    const hv = quiet();
    for (const memBytes of [0, -WASM_PAGE, WASM_PAGE + 1, 1.5 * WASM_PAGE, NaN]) {
      configError(hv, { name: 'x', memBytes, vcpus: 1 }, 'memBytes', /is not a positive multiple of 64 KiB/);
    }
    configError(hv, { name: 'x', memBytes: 4 * 1024 * 1024 * 1024, vcpus: 1 }, 'memBytes', /above the 4 GiB wasm32 limit/);
    // The largest memory the engine accepts, 65535 pages, is allowed (the OS maps it lazily).
    const largest = hv.createDomain({ name: 'largest', memBytes: 4 * 1024 * 1024 * 1024 - WASM_PAGE, vcpus: 1 });
    expect(si(largest, 'reserved_base')).toBe(4 * 1024 * 1024 * 1024 - WASM_PAGE - reservedBytes(1));
    // One vCPU reserves 8 KiB + 16 KiB: one 64 KiB page is not enough, two are (one page for the guest).
    configError(hv, { name: 'x', memBytes: WASM_PAGE, vcpus: 1 }, 'memBytes', /leaves no room for the guest after the host's 24576 reserved bytes/);
    expect(hv.createDomain({ name: 'two-pages', memBytes: 2 * WASM_PAGE, vcpus: 1 }).mem.size).toBe(2 * WASM_PAGE);
    // The bound is reserved + one page exactly: 32 vCPUs reserve 8 KiB + 512 KiB.
    const need = reservedBytes(32) + WASM_PAGE;
    const lowest = Math.ceil(need / WASM_PAGE) * WASM_PAGE;
    configError(hv, { name: 'x', memBytes: lowest - WASM_PAGE, vcpus: 32 }, 'memBytes', /leaves no room/);
    expect(hv.createDomain({ name: 'big', memBytes: lowest, vcpus: 32 }).vcpus).toHaveLength(32);
  });

  it('the smallest memory for n vCPUs is the reserved area plus one 64 KiB page, rounded up to a page', () => {
    // reservedBytes(3) + 64 KiB = 8 KiB + 48 KiB + 64 KiB = 120 KiB: 128 KiB is enough, 64 KiB is not.
    const hv = quiet();
    expect(reservedBytes(3) + WASM_PAGE).toBe(120 * 1024);
    expect(hv.createDomain({ name: 'x', memBytes: 128 * 1024, vcpus: 3 }).vcpus).toHaveLength(3);
    configError(hv, { name: 'y', memBytes: 64 * 1024, vcpus: 3 }, 'memBytes', /leaves no room/);
  });

  it('the command line is at most CMDLINE_MAX bytes of UTF-8 (counted in bytes, not characters)', () => {
    const hv = quiet();
    const d = hv.createDomain({ name: 'a', memBytes: 1 << 20, vcpus: 1, cmdline: 'x'.repeat(CMDLINE_MAX) });
    expect(si(d, 'cmdline_len')).toBe(CMDLINE_MAX);
    expect(d.mem.u8[d.layout.cmdline + CMDLINE_MAX]).toBe(0);
    configError(hv, { name: 'b', memBytes: 1 << 20, vcpus: 1, cmdline: 'é'.repeat(CMDLINE_MAX / 2 + 1) }, 'cmdline', /cmdline: 1026 bytes is longer than 1024; shorten it/);
  });

  it('names are unique', () => {
    const hv = quiet();
    hv.createDomain({ name: 'a', memBytes: 1 << 20, vcpus: 1 });
    configError(hv, { name: 'a', memBytes: 1 << 20, vcpus: 1 }, 'name', /name: "a" is already used/);
    expect(hv.createDomain({ name: 'b', memBytes: 1 << 20, vcpus: 1 }).id).toBe(2);
  });
});

describe('createDomain: boot state', () => {
  it('writes every start_info field (spec struct start_info)', () => {
    const hv = quiet();
    hv.createDomain({ name: 'first', memBytes: 1 << 20, vcpus: 1 });
    const d = hv.createDomain({ name: 'x', memBytes: 2 << 20, vcpus: 3, cmdline: 'a b', privileged: true });
    const l = layoutFor(2 << 20, 3);
    expect(d.layout).toEqual(l);
    expect(d.id).toBe(2);
    expect(hv.domain(2)).toBe(d);
    expect(hv.domain(3)).toBe(undefined);
    expect(si(d, 'magic')).toBe(START_INFO_MAGIC);
    expect(si(d, 'abi_version')).toBe(ABI_VERSION);
    expect(si(d, 'size')).toBe(START_INFO_SIZE);
    expect(si(d, 'domid')).toBe(2);
    expect(si(d, 'flags')).toBe(SIF_PRIVILEGED);
    expect(si(d, 'nr_vcpus')).toBe(3);
    expect(d.mem.u64(A(l.startInfo + START_INFO_OFF.mem_size))).toBe(2 << 20);
    expect(si(d, 'shared_info')).toBe(l.sharedInfo);
    expect(si(d, 'cmdline')).toBe(l.cmdline);
    expect(si(d, 'cmdline_len')).toBe(3);
    expect(si(d, 'reserved_base')).toBe(l.reservedBase);
    expect(si(d, 'nr_devices')).toBe(0);
    expect(si(d, 'devices')).toBe(l.devices);
    expect(Buffer.from(d.mem.copyOut(l.cmdline, 4)).toString('latin1')).toBe('a b\0');
    expect(d.privileged).toBe(true);
    const plain = hv.createDomain({ name: 'y', memBytes: 1 << 20, vcpus: 1 });
    expect(si(plain, 'flags')).toBe(0);
    expect(plain.privileged).toBe(false);
    expect(si(plain, 'cmdline_len')).toBe(0);
  });

  it('shared_info carries the boot wallclock; every vCPU time record is published (version even, system_time = now)', () => {
    const hv = new Hypervisor({ log: () => {}, wallclock: { sec: 0x1_2345_6789, nsec: 987_654_321 } });
    hv.now = 0x3_0000_0005;
    const d = hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 2 });
    const sh = d.layout.sharedInfo;
    expect(d.mem.u64(A(sh + SHARED_INFO_OFF.wc_sec))).toBe(0x1_2345_6789);
    expect(d.mem.u32(A(sh + SHARED_INFO_OFF.wc_nsec))).toBe(987_654_321);
    for (const i of [0, 1]) {
      const rec = d.vcpuInfo(i) + VCPU_INFO_OFF.time;
      expect(d.mem.u32(A(rec + VCPU_TIME_INFO_OFF.version))).toBe(2);
      expect(d.mem.u64(A(rec + VCPU_TIME_INFO_OFF.system_time))).toBe(0x3_0000_0005);
    }
    expect(quiet().wallclock).toEqual(DEFAULT_WALLCLOCK);
    expect(DEFAULT_WALLCLOCK).toEqual({ sec: 1767225600, nsec: 0 });
  });

  it('zeroes the reserved area of a given memory, leaving the guest part alone; vCPU 0 is up at _start(start_info)', () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
    new Uint8Array(memory.buffer).fill(0xaa);
    const hv = quiet();
    const d = hv.createDomain({ name: 'x', memBytes: 4 * WASM_PAGE, vcpus: 2 }, memory);
    expect(d.mem.memory).toBe(memory);
    const u8 = new Uint8Array(memory.buffer);
    const rb = d.layout.reservedBase;
    expect(u8[rb - 1]).toBe(0xaa);
    // Everything the host did not write is zero: check the scratch areas and the mask bitmap.
    expect(u8.subarray(rb, d.layout.sharedInfo).every((b) => b === 0)).toBe(true);
    expect(u8.subarray(d.layout.sharedInfo + SHARED_INFO_OFF.evtchn_pending, d.layout.sharedInfo + SHARED_INFO_OFF.wc_version).every((b) => b === 0)).toBe(true);
    expect(u8[4 * WASM_PAGE - 1]).toBe(0);
    const [v0, v1] = d.vcpus;
    expect(v0!.up && v0!.queued).toBe(true);
    expect(v0!.entry).toEqual({ fn: 0, stack: 0, arg: d.layout.startInfo });
    expect(v1!.up || v1!.queued).toBe(false);
    expect(hv.sched.next()).toBe(v0);
  });

  it('a memory created by the host may grow up to maxMemBytes', () => {
    const hv = quiet();
    const d = hv.createDomain({ name: 'x', memBytes: 2 * WASM_PAGE, maxMemBytes: 4 * WASM_PAGE, vcpus: 1 });
    d.mem.memory.grow(2);
    expect(() => d.mem.memory.grow(1)).toThrow(RangeError);
    const fixed = hv.createDomain({ name: 'y', memBytes: 2 * WASM_PAGE, vcpus: 1 });
    expect(() => fixed.mem.memory.grow(1)).toThrow(RangeError);
  });
});

describe('device manifest', () => {
  const dev = (over: Partial<DeviceManifestEntry> = {}): DeviceManifestEntry => ({ name: 'net0', type: 1, mmioBase: 0x1000_0000, mmioSize: 0x200, evtchn: 3, ...over });

  it('writes device_info entries in order and bumps start_info.nr_devices', () => {
    const { hv, doms: [d] } = makeHv(1);
    const l = d!.layout;
    // Garbage in the entry's NUL padding is rewritten.
    d!.mem.fill(A(l.devices + DEVICE_INFO_SIZE), DEVICE_INFO_SIZE, 0xee);
    expect(hv.addDeviceToManifest(d!, dev())).toBe(0);
    expect(hv.addDeviceToManifest(d!, dev({ name: 'blk-with-15-byt', type: 2, mmioBase: 0xffff_f000, mmioSize: MMIO_WINDOW_SIZE, evtchn: 0xffff_ffff }))).toBe(1);
    expect(d!.nrDevices).toBe(2);
    expect(si(d!, 'nr_devices')).toBe(2);
    const e1 = l.devices + DEVICE_INFO_SIZE;
    const u32 = (a: number) => d!.mem.u32(A(a));
    expect(Buffer.from(d!.mem.copyOut(A(l.devices), 16)).toString('latin1')).toBe('net0' + '\0'.repeat(12));
    expect([u32(l.devices + DEVICE_INFO_OFF.type), u32(l.devices + DEVICE_INFO_OFF.mmio_base), u32(l.devices + DEVICE_INFO_OFF.mmio_size), u32(l.devices + DEVICE_INFO_OFF.evtchn)])
      .toEqual([1, 0x1000_0000, 0x200, 3]);
    expect(Buffer.from(d!.mem.copyOut(A(e1), 16)).toString('latin1')).toBe('blk-with-15-byt\0');
    expect([u32(e1 + DEVICE_INFO_OFF.type), u32(e1 + DEVICE_INFO_OFF.mmio_base), u32(e1 + DEVICE_INFO_OFF.mmio_size), u32(e1 + DEVICE_INFO_OFF.evtchn)])
      .toEqual([2, 0xffff_f000, MMIO_WINDOW_SIZE, 0xffff_ffff]);
    // The third entry is untouched.
    expect(d!.mem.u8[l.devices + 2 * DEVICE_INFO_SIZE]).toBe(0);
  });

  it(`holds at most MAX_DEVICES (${MAX_DEVICES}) entries`, () => {
    const { hv, doms: [d] } = makeHv(1);
    for (let i = 0; i < MAX_DEVICES; i++) expect(hv.addDeviceToManifest(d!, dev({ name: `d${i}` }))).toBe(i);
    expect(() => hv.addDeviceToManifest(d!, dev())).toThrow(new RangeError(`d1: at most ${MAX_DEVICES} devices per domain`));
    expect(si(d!, 'nr_devices')).toBe(MAX_DEVICES);
  });

  it('refuses out-of-range fields without writing anything', () => {
    const { hv, doms: [d] } = makeHv(1);
    const bad: [Partial<DeviceManifestEntry>, RegExp][] = [
      [{ name: '' }, /must be 1 to 15 bytes/],
      [{ name: 'sixteen-bytes-xx' }, /must be 1 to 15 bytes/],
      [{ name: 'ééééééééx' }, /must be 1 to 15 bytes/], // 17 bytes of UTF-8 in 9 characters
      [{ mmioSize: 0 }, /window size 0 is not in 1\.\.4096/],
      [{ mmioSize: MMIO_WINDOW_SIZE + 1 }, /window size 4097/],
      [{ mmioSize: 1.5 }, /window size 1.5/],
      [{ type: -1 }, /type -1 is not a u32/],
      [{ type: 2 ** 32 }, /type 4294967296 is not a u32/],
      [{ mmioBase: 0.5 }, /mmioBase 0.5 is not a u32/],
      [{ evtchn: 2 ** 32 }, /evtchn 4294967296 is not a u32/],
    ];
    for (const [over, msg] of bad) expect(() => hv.addDeviceToManifest(d!, dev(over)), JSON.stringify(over)).toThrow(msg);
    expect(d!.nrDevices).toBe(0);
    expect(d!.mem.u8.subarray(d!.layout.devices, d!.layout.devices + MAX_DEVICES * DEVICE_INFO_SIZE).every((b) => b === 0)).toBe(true);
    // The edges are accepted.
    expect(hv.addDeviceToManifest(d!, dev({ name: 'x', mmioSize: 1, type: 0, mmioBase: 0, evtchn: 0 }))).toBe(0);
  });

  it('bindDevicePort binds the lowest free port, or throws for a bad vCPU or a full table', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 2 });
    expect(hv.bindDevicePort(d!)).toBe(1);
    expect(hv.bindDevicePort(d!, 1)).toBe(2);
    expect(d!.port(2)?.vcpu).toBe(1);
    expect(() => hv.bindDevicePort(d!, 2)).toThrow(new RangeError('d1: cannot bind a device port on vCPU 2 (no such vCPU)'));
    for (let p = 3; p < 1024; p++) hv.bindDevicePort(d!);
    expect(() => hv.bindDevicePort(d!)).toThrow(new RangeError('d1: cannot bind a device port on vCPU 0 (no free port)'));
  });
});

describe('hypercall entry', () => {
  it('counts calls by number; numbers of 64 and above (and negative ones) count as unknown', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    call(hv, v, Hc.version);
    call(hv, v, Hc.version);
    call(hv, v, Hc.probe, 1);
    call(hv, v, 63);
    call(hv, v, 64);
    call(hv, v, -1);
    expect(d!.hypercalls[Hc.version]).toBe(2);
    expect(d!.hypercalls[63]).toBe(1);
    expect(d!.hypercalls[0]).toBe(2);
    expect(hv.hypercallCounts(d!)).toEqual({ version: 2, probe: 1, '#63': 1, unknown: 2 });
    const { hv: hv2, doms: [e] } = makeHv(1);
    expect(hv2.hypercallCounts(e!)).toEqual({});
  });

  it('traces each call with time, domain, vCPU, name, args as i32 and result, only when asked', () => {
    const { hv, doms: [, d] } = makeHv(2, { trace: true });
    hv.now = 42;
    call(hv, d!.vcpus[1]!, Hc.probe, 0xffff_ffff, 2, 3, 4, 5);
    call(hv, d!.vcpus[0]!, 99, 1);
    expect(hv.trace).toEqual([
      { t: 42, dom: 2, vcpu: 1, ev: 'probe', args: [-1, 2, 3, 4, 5], ret: 0 },
      { t: 42, dom: 2, vcpu: 0, ev: '#99', args: [1, 0, 0, 0, 0], ret: -38 },
    ]);
    expect(makeHv(1).hv.trace).toBe(null);
  });
});

describe('vCPU and domain life cycle', () => {
  it('vcpuUp resets the vCPU and queues it; vcpuDown cancels its timer and wait', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[1]!;
    v.started = true;
    v.timer = 500;
    v.wait = WAIT_BLOCK;
    hv.vcpuUp(v, { fn: 7, stack: 1024, arg: 9 });
    expect([v.up, v.started, v.timer, v.wait, v.queued]).toEqual([true, false, 0, null, true]);
    expect(v.entry).toEqual({ fn: 7, stack: 1024, arg: 9 });
    v.started = true;
    v.timer = 500;
    v.wait = WAIT_YIELD;
    hv.vcpuDown(v);
    expect([v.up, v.started, v.timer, v.wait]).toEqual([false, false, 0, null]);
    expect(hv.nextDeadline()).toBe(Infinity);
  });

  it('wake ends a wait with a result and queues the vCPU, but not a vCPU that is down', () => {
    const { hv, doms: [d] } = makeHv(1);
    while (hv.sched.next() !== undefined);
    const v = d!.vcpus[1]!;
    v.wait = WAIT_BLOCK;
    hv.wake(v, 5);
    expect([v.wait, v.resumeResult, v.queued]).toEqual([WAIT_BLOCK, 0, false]);
    v.up = true;
    hv.wake(v, 5);
    expect([v.wait, v.resumeResult, v.queued]).toEqual([null, 5, true]);
  });

  it('shutdown and crash record once: the first end wins, with the time it happened', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    hv.now = 100;
    hv.shutdown(a!, 1, 7);
    hv.now = 200;
    hv.shutdown(a!, 0, 9);
    hv.crash(a!, 'late');
    expect([a!.state, a!.shutdownReason, a!.shutdownCode, a!.endedAt, a!.crashReason]).toEqual(['shutdown', 1, 7, 100, '']);
    expect(a!.alive).toBe(false);
    hv.crash(b!, 'trap', ['f', 'g']);
    hv.crash(b!, 'again');
    hv.shutdown(b!, 0, 0);
    expect([b!.state, b!.crashReason, b!.backtrace, b!.endedAt, b!.shutdownReason]).toEqual(['crashed', 'trap', ['f', 'g'], 200, -1]);
    const { hv: hv2, doms: [c] } = makeHv(1);
    hv2.crash(c!, 'x');
    expect(c!.backtrace).toEqual([]);
    // A paused domain can still end.
    const { hv: hv3, doms: [p] } = makeHv(1);
    hv3.pause(p!);
    hv3.shutdown(p!, 0, 3);
    expect(p!.state).toBe('shutdown');
  });

  it('pause only pauses a running domain; unpause queues only up vCPUs without a wait', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 3 });
    while (hv.sched.next() !== undefined);
    hv.vcpuUp(d!.vcpus[1]!, { fn: 1, stack: 16, arg: 0 });
    hv.vcpuUp(d!.vcpus[2]!, { fn: 1, stack: 16, arg: 0 });
    while (hv.sched.next() !== undefined);
    d!.vcpus[1]!.wait = WAIT_BLOCK;
    hv.pause(d!);
    expect(d!.state).toBe('paused');
    hv.vcpuDown(d!.vcpus[2]!);
    hv.unpause(d!);
    expect(d!.state).toBe('running');
    expect(d!.vcpus.map((v) => v.queued)).toEqual([true, false, false]);
    hv.crash(d!, 'x');
    hv.pause(d!);
    expect(d!.state).toBe('crashed');
    // unpause of a domain that is not paused changes nothing and queues nothing.
    const { hv: hv2, doms: [e] } = makeHv(1);
    while (hv2.sched.next() !== undefined);
    hv2.unpause(e!);
    expect(e!.vcpus[0]!.queued).toBe(false);
  });
});

describe('console input', () => {
  it('appends to the queue and raises VIRQ_CONSOLE, bound on whichever vCPU', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    hv.consoleInput(d!, new TextEncoder().encode('ab')); // nothing bound: input is only queued
    const p = call(hv, v, Hc.evtchn_bind_virq, VIRQ_CONSOLE, 1);
    expect(d!.port(p)?.vcpu).toBe(1);
    hv.consoleInput(d!, new TextEncoder().encode('cd'));
    expect(pending(d!, p)).toBe(true);
    expect(upcallPending(d!, 1)).toBe(1);
    expect(upcallPending(d!, 0)).toBe(0);
    expect(call(hv, v, Hc.console_read, SCRATCH, 10)).toBe(4);
    expect(Buffer.from(d!.mem.copyOut(SCRATCH, 4)).toString('latin1')).toBe('abcd');
  });
});

describe('timers', () => {
  it('fireTimers fires expired one-shot timers as VIRQ_TIMER on their own vCPU and disarms them', () => {
    const { hv, doms: [d] } = makeHv(1);
    const [v0, v1] = d!.vcpus;
    hv.vcpuUp(v1!, { fn: 1, stack: 16, arg: 0 });
    const p0 = call(hv, v0!, Hc.evtchn_bind_virq, VIRQ_TIMER, 0);
    const p1 = call(hv, v0!, Hc.evtchn_bind_virq, VIRQ_TIMER, 1);
    v0!.timer = 100;
    v1!.timer = 200;
    hv.now = 150;
    hv.fireTimers();
    expect([pending(d!, p0), pending(d!, p1)]).toEqual([true, false]);
    expect([v0!.timer, v1!.timer]).toEqual([0, 200]);
    expect(hv.nextDeadline()).toBe(200);
    hv.now = 200;
    hv.fireTimers();
    expect(pending(d!, p1)).toBe(true);
    expect(upcallPending(d!, 1)).toBe(1);
    expect(hv.nextDeadline()).toBe(Infinity);
  });

  it('timers and poll deadlines of down vCPUs and dead domains neither fire nor count; paused ones fire but do not count', () => {
    const { hv, doms: [a, b, c] } = makeHv(3);
    for (const d of [a, b, c]) call(hv, d!.vcpus[0]!, Hc.evtchn_bind_virq, VIRQ_TIMER, 0);
    a!.vcpus[1]!.timer = 10; // vCPU 1 is down
    a!.vcpus[1]!.wait = { kind: 'poll', ports: [1], deadline: 10 };
    b!.vcpus[0]!.timer = 20;
    hv.crash(b!, 'x');
    c!.vcpus[0]!.timer = 30;
    hv.pause(c!);
    expect(hv.nextDeadline()).toBe(Infinity);
    hv.now = 1000;
    hv.fireTimers();
    expect(a!.vcpus[1]!.timer).toBe(10);
    expect(a!.vcpus[1]!.wait).not.toBe(null);
    expect(b!.vcpus[0]!.timer).toBe(20);
    expect(pending(b!, 1)).toBe(false);
    // A paused domain's timer fires (its event waits for it) though it does not set the next deadline.
    expect(c!.vcpus[0]!.timer).toBe(0);
    expect(pending(c!, 1)).toBe(true);
  });

  it('nextDeadline is the earliest armed timer or poll deadline; a poll times out with ETIMEDOUT', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const v = b!.vcpus[0]!;
    a!.vcpus[0]!.timer = 500;
    expect(hv.nextDeadline()).toBe(500);
    v.wait = { kind: 'poll', ports: [1], deadline: 300 };
    expect(hv.nextDeadline()).toBe(300);
    v.timer = 200;
    expect(hv.nextDeadline()).toBe(200);
    v.timer = 0;
    hv.now = 299;
    hv.fireTimers();
    expect(v.wait).not.toBe(null);
    hv.now = 300;
    hv.fireTimers();
    expect([v.wait, v.resumeResult]).toEqual([null, ETIMEDOUT]);
    expect(hv.nextDeadline()).toBe(500);
    // The earliest wins whatever the order: a later domain's larger timer does not replace it.
    v.timer = 900;
    expect(hv.nextDeadline()).toBe(500);
    v.timer = 0;
    // A non-poll wait has no deadline.
    a!.vcpus[0]!.timer = 0;
    a!.vcpus[0]!.wait = WAIT_BLOCK;
    expect(hv.nextDeadline()).toBe(Infinity);
  });

  it('updateTime publishes system_time as a u64 under an even version, bumping it by 2', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[1]!;
    const rec = d!.vcpuInfo(1) + VCPU_INFO_OFF.time;
    const ver = () => d!.mem.u32(A(rec + VCPU_TIME_INFO_OFF.version));
    const t = () => d!.mem.u64(A(rec + VCPU_TIME_INFO_OFF.system_time));
    expect(ver()).toBe(2);
    for (const now of [0, 1, 0xffff_ffff, 2 ** 32, 2 ** 32 + 1, 7 * 2 ** 32 + 0x8000_0000, 2 ** 53 - 1]) {
      const before = ver();
      hv.now = now;
      hv.updateTime(v);
      expect(ver()).toBe(before + 2);
      expect(t()).toBe(now);
    }
    // vCPU 0's record is not touched by vCPU 1's update.
    expect(d!.mem.u32(A(d!.vcpuInfo(0) + VCPU_INFO_OFF.time + VCPU_TIME_INFO_OFF.version))).toBe(2);
    // The version wraps as a u32 seqlock counter.
    d!.mem.setU32(A(rec + VCPU_TIME_INFO_OFF.version), 0xffff_fffe);
    hv.updateTime(v);
    expect(ver()).toBe(0);
  });
});

describe('host log and domain ids', () => {
  it('log goes to the given sink, else to stderr with a "pvisor: " prefix', () => {
    const lines: string[] = [];
    new Hypervisor({ log: (l) => lines.push(l) }).log('hello');
    expect(lines).toEqual(['hello']);
    const writes: unknown[] = [];
    const orig = process.stderr.write;
    process.stderr.write = ((s: unknown) => (writes.push(s), true)) as typeof process.stderr.write;
    try {
      new Hypervisor().log('to stderr');
    } finally {
      process.stderr.write = orig;
    }
    expect(writes).toEqual(['pvisor: to stderr\n']);
  });

  it('domain ids stay below DOMID_SELF (0x7ff0): creation stops there', () => {
    const hv = quiet();
    // Reaching the limit honestly would take 32 Ki domains; start the counter near it instead.
    (hv as unknown as { nextId: number }).nextId = 0x7fef;
    expect(hv.createDomain({ name: 'last', memBytes: 1 << 20, vcpus: 1 }).id).toBe(0x7fef);
    expect(DOMID_SELF).toBe(0x7ff0);
    configError(hv, { name: 'one-too-many', memBytes: 1 << 20, vcpus: 1 }, 'name', /too many domains/);
  });
});

describe('legacy platform hooks (attachLegacy)', () => {
  /** A legacy machine that only keeps time: one device deadline, and a log of sync calls. */
  function fakeMachine(deadline: number) {
    const syncs: number[] = [];
    const m = {
      ports: undefined as never,
      deadline,
      sync(now: number) {
        syncs.push(now);
      },
      nextDeadline() {
        return m.deadline;
      },
      pendingVector: () => undefined,
      acknowledge: () => 0,
      onInterrupt: undefined as (() => void) | undefined,
      flush() {},
      exits: { halt: 0, injections: 0 },
    };
    return { m, syncs };
  }

  it('"an interrupt request wakes its vCPU 0 from hw.halt (a wait of kind block)", and nothing else', () => {
    const { hv, doms: [d] } = makeHv(1);
    const { m } = fakeMachine(Infinity);
    hv.attachLegacy(d!, m);
    expect(d!.legacy).toBe(m);
    const [v0, v1] = d!.vcpus;
    // Not halted: no effect.
    m.onInterrupt!();
    expect(v0!.wait).toBe(null);
    v0!.wait = WAIT_YIELD;
    m.onInterrupt!();
    expect(v0!.wait).toBe(WAIT_YIELD);
    // vCPU 1 halted is not vCPU 0.
    hv.vcpuUp(v1!, { fn: 1, stack: 16, arg: 0 });
    v1!.wait = WAIT_BLOCK;
    v0!.wait = WAIT_BLOCK;
    hv.pause(d!);
    m.onInterrupt!(); // a paused domain is not woken
    expect(v0!.wait).toBe(WAIT_BLOCK);
    hv.unpause(d!);
    m.onInterrupt!();
    expect([v0!.wait, v0!.resumeResult, v1!.wait]).toEqual([null, 0, WAIT_BLOCK]);
  });

  it('fireTimers syncs a live legacy machine once its deadline has passed; nextDeadline includes it while running', () => {
    const { hv, doms: [a, b] } = makeHv(2);
    const fa = fakeMachine(1000);
    const fb = fakeMachine(500);
    hv.attachLegacy(a!, fa.m);
    hv.attachLegacy(b!, fb.m);
    expect(hv.nextDeadline()).toBe(500);
    a!.vcpus[0]!.timer = 700;
    expect(hv.nextDeadline()).toBe(500);
    hv.now = 499;
    hv.fireTimers();
    expect([fa.syncs, fb.syncs]).toEqual([[], []]);
    hv.now = 500;
    hv.fireTimers();
    expect([fa.syncs, fb.syncs]).toEqual([[], [500]]);
    fb.m.deadline = Infinity;
    expect(hv.nextDeadline()).toBe(700);
    hv.pause(a!);
    expect(hv.nextDeadline()).toBe(Infinity);
    hv.crash(b!, 'x');
    fb.m.deadline = 0;
    hv.now = 2000;
    hv.fireTimers();
    expect([fa.syncs, fb.syncs]).toEqual([[2000], [500]]);
  });
});

describe('destroyDomain (the toolstack destroy)', () => {
  it('stops the domain, takes its vCPUs down, closes its ports (a peer port goes back to UNBOUND) and forgets it', () => {
    const { hv, doms: [a, b, c] } = makeHv(3);
    const pa = call(hv, a!.vcpus[0]!, Hc.evtchn_alloc_unbound, b!.id);
    const pb = call(hv, b!.vcpus[0]!, Hc.evtchn_bind_interdomain, a!.id, pa);
    const ipi = call(hv, b!.vcpus[0]!, Hc.evtchn_bind_ipi, 0);
    expect(ipi).toBeGreaterThan(0);
    b!.vcpus[0]!.timer = 123;
    hv.destroyDomain(b!, 'destroyed by a test');
    expect(b!.state).toBe('crashed');
    expect(b!.alive).toBe(false);
    expect(b!.vcpus.every((v) => !v.up && v.timer === 0)).toBe(true);
    expect(b!.ports.slice(1).every((p) => p === undefined || p.state === EVTCHNSTAT_CLOSED)).toBe(true);
    // The peer's end is unbound again, still offered to the destroyed domain's id (as after a close).
    expect(a!.ports[pa]).toMatchObject({ state: EVTCHNSTAT_UNBOUND, remoteDom: b!.id });
    expect(hv.domains).toEqual([a, c]);
    expect(hv.domain(b!.id)).toBeUndefined();
    expect(pb).toBeGreaterThan(0);
    // A second destroy, or a domain of another hypervisor, changes nothing.
    hv.destroyDomain(b!);
    expect(hv.domains).toEqual([a, c]);
    // Ids are not given again.
    expect(hv.createDomain({ name: 'd', memBytes: 1 << 20, vcpus: 1 }).id).toBe(4);
  });

  it('leaves no vCPU of the domain in the run queue, queued or dequeued, and keeps the others in order', () => {
    const { hv, doms: [a, b] } = makeHv(2, { vcpus: 2 });
    while (hv.sched.next() !== undefined);
    for (const d of [a!, b!]) for (const v of d.vcpus) v.up = true;
    hv.sched.enqueue(a!.vcpus[0]!);
    hv.sched.enqueue(b!.vcpus[0]!);
    hv.sched.enqueue(a!.vcpus[1]!);
    hv.sched.enqueue(b!.vcpus[1]!);
    hv.destroyDomain(b!);
    expect(b!.vcpus.some((v) => v.queued)).toBe(false);
    expect([hv.sched.next(), hv.sched.next(), hv.sched.next()]).toEqual([a!.vcpus[0], a!.vcpus[1], undefined]);
  });

  it('destroys a domain that had already shut down (its ports are closed then)', () => {
    const { hv, doms: [a] } = makeHv(1);
    const port = call(hv, a!.vcpus[0]!, Hc.evtchn_bind_ipi, 0);
    hv.shutdown(a!, SHUTDOWN_POWEROFF, 3);
    hv.destroyDomain(a!);
    expect(a!.state).toBe('shutdown');
    expect(a!.ports[port]!.state).toBe(EVTCHNSTAT_CLOSED);
    expect(hv.domains).toEqual([]);
  });
});
