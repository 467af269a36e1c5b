import { describe, expect, it } from 'vitest';
import {
  ABI_VERSION, CONSOLE_IO_MAX, EBUSY, EDEADLK, EFAULT, EINVAL, ENOSYS, ETIMEDOUT, EVTCHN_STATUS_OFF,
  FEATURE_EVTCHN_2LEVEL, FEATURE_TIME_RECORD, FEATURE_VCPU_HOTPLUG, Hc, MULTICALL_ENTRY_OFF, MULTICALL_ENTRY_SIZE,
  MULTICALL_MAX, NR_EVENT_CHANNELS, POLL_MAX_PORTS, SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT,
  START_INFO_MAGIC, START_INFO_OFF, VIRQ_TIMER, VCPU_INFO_OFF, VCPU_TIME_INFO_OFF, WALLCLOCK_OFF, WALLCLOCK_SIZE,
} from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { Hypervisor, WAIT_BLOCK, WAIT_STOP, WAIT_YIELD } from '../../../src/hv/index.ts';
import type { Domain } from '../../../src/hv/index.ts';
import { SCRATCH, call, makeHv, pending, setMask, upcallPending } from '../../support/hv.ts';

const A = (n: number) => n as GuestAddr;

describe('boot state', () => {
  it('writes start_info at the top of memory with the command line', () => {
    const { hv } = makeHv(0);
    const d = hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 3, cmdline: 'role=ping' });
    const si = d.layout.startInfo;
    expect(d.mem.u32(A(si + START_INFO_OFF.magic))).toBe(START_INFO_MAGIC);
    expect(d.mem.u32(A(si + START_INFO_OFF.abi_version))).toBe(ABI_VERSION);
    expect(d.mem.u32(A(si + START_INFO_OFF.nr_vcpus))).toBe(3);
    expect(d.mem.u64(A(si + START_INFO_OFF.mem_size))).toBe(1 << 20);
    const cl = d.mem.u32(A(si + START_INFO_OFF.cmdline));
    const len = d.mem.u32(A(si + START_INFO_OFF.cmdline_len));
    expect(Buffer.from(d.mem.copyOut(A(cl), len + 1)).toString()).toBe('role=ping\0');
    expect(d.mem.u32(A(si + START_INFO_OFF.reserved_base))).toBeLessThan(d.layout.sharedInfo);
    expect(d.vcpus[0]!.up).toBe(true);
    expect(d.vcpus[1]!.up).toBe(false);
  });
  it('names the field of a configuration it cannot build', () => {
    const { hv } = makeHv(0);
    expect(() => hv.createDomain({ name: 'x', memBytes: 1000, vcpus: 1 })).toThrow(/memory: 1000 bytes/);
    expect(() => hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 0 })).toThrow(/vcpus/);
    expect(() => hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 1, cmdline: 'x'.repeat(1025) })).toThrow(/cmdline/);
    hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 1 });
    expect(() => hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 1 })).toThrow(/already used/);
  });
});

describe('version, probe, console', () => {
  it('version and probe', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.version)).toBe(ABI_VERSION);
    expect(call(hv, v, Hc.probe, Hc.multicall)).toBe(1);
    expect(call(hv, v, Hc.probe, 0)).toBe(0);
    expect(call(hv, v, Hc.probe, 999)).toBe(0);
    expect(call(hv, v, Hc.probe, FEATURE_EVTCHN_2LEVEL)).toBe(1);
    expect(call(hv, v, Hc.probe, 0x1ffff)).toBe(0);
    expect(call(hv, v, 0)).toBe(ENOSYS);
  });
  it('console_write writes, caps at CONSOLE_IO_MAX and checks the buffer', () => {
    const { hv, doms: [d], out } = makeHv(1);
    const v = d!.vcpus[0]!;
    d!.mem.copyIn(SCRATCH, new TextEncoder().encode('hello\n'));
    expect(call(hv, v, Hc.console_write, SCRATCH, 6)).toBe(6);
    expect(out.get('d1')).toBe('hello\n');
    expect(call(hv, v, Hc.console_write, SCRATCH, 100000)).toBe(4096);
    expect(call(hv, v, Hc.console_write, d!.mem.size - 2, 3)).toBe(EFAULT);
    expect(call(hv, v, Hc.console_write, -1, 2)).toBe(EFAULT);
  });
  it('console_read returns queued input, never blocks', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.console_read, SCRATCH, 10)).toBe(0);
    hv.consoleInput(d!, new TextEncoder().encode('abc'));
    expect(call(hv, v, Hc.console_read, SCRATCH, 2)).toBe(2);
    expect(call(hv, v, Hc.console_read, SCRATCH, 10)).toBe(1);
    expect(d!.mem.u8[SCRATCH]).toBe('c'.charCodeAt(0));
  });
});

describe('sched', () => {
  it('block returns at once when an upcall is pending, else records a block and an event wakes it', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_ipi, 0);
    d!.mem.u8[d!.upcallMaskAddr(0)] = 1;
    call(hv, v, Hc.evtchn_send, p);
    expect(call(hv, v, Hc.sched_block)).toBe(0);
    expect(v.wait).toBe(null);
    expect(d!.mem.u8[d!.upcallMaskAddr(0)]).toBe(0); // block re-enables delivery
    d!.mem.u8[d!.upcallPendingAddr(0)] = 0;
    d!.mem.i32[d!.pendingIdx] = 0;
    d!.mem.i32[d!.pendingSelIdx(0)] = 0;
    call(hv, v, Hc.sched_block);
    expect(v.wait?.kind).toBe('block');
    // Another vCPU of the domain sends the IPI: the blocked vCPU wakes.
    call(hv, d!.vcpus[1]!, Hc.evtchn_send, p);
    expect(v.wait).toBe(null);
    expect(v.queued).toBe(true);
  });
  it('block and poll are refused in an upcall', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    v.inUpcall = true;
    expect(call(hv, v, Hc.sched_block)).toBe(EDEADLK);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, 0)).toBe(EDEADLK);
  });
  it('poll validates, returns at once for a pending port, times out by deadline', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_ipi, 0);
    d!.mem.setU32(SCRATCH, p);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 0, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 129, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.sched_poll, d!.mem.size - 2, 1, 0)).toBe(EFAULT);
    const t = A(SCRATCH + 64);
    hv.now = 100;
    d!.mem.setU64(t, 50);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, t)).toBe(ETIMEDOUT);
    hv.now = 0;
    d!.mem.setU64(t, 0); // a deadline of 0 is no timeout
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, t)).toBe(0);
    expect(v.wait).toEqual({ kind: 'poll', ports: [p], deadline: Infinity });
    v.wait = null;
    d!.mem.setU64(t, 5000);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, t)).toBe(0);
    expect(v.wait).toMatchObject({ kind: 'poll', deadline: 5000 });
    hv.now = 5000;
    hv.fireTimers();
    expect(v.wait).toBe(null);
    expect(v.resumeResult).toBe(ETIMEDOUT);
    call(hv, v, Hc.sched_poll, SCRATCH, 1, 0);
    call(hv, d!.vcpus[1]!, Hc.evtchn_send, p);
    expect(v.wait).toBe(null);
    expect(v.resumeResult).toBe(0);
  });
  it('shutdown records reason and code and stops the vCPU; a bad reason is EINVAL', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.sched_shutdown, 2, 0)).toBe(EINVAL);
    expect(d!.state).toBe('running');
    call(hv, v, Hc.sched_shutdown, SHUTDOWN_CRASH, 7);
    expect(d!.state).toBe('shutdown');
    expect(d!.shutdownReason).toBe(SHUTDOWN_CRASH);
    expect(d!.shutdownCode).toBe(7);
    expect(v.wait?.kind).toBe('stop');
  });
});

describe('time', () => {
  it('set_timer fires VIRQ_TIMER at the deadline, 0 cancels, a past deadline fires at once', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_virq, VIRQ_TIMER, 0);
    d!.mem.setU64(SCRATCH, 10_000);
    expect(call(hv, v, Hc.set_timer, SCRATCH)).toBe(0);
    expect(hv.nextDeadline()).toBe(10_000);
    hv.now = 9_999;
    hv.fireTimers();
    expect(pending(d!, p)).toBe(false);
    hv.now = 10_000;
    hv.fireTimers();
    expect(pending(d!, p)).toBe(true);
    expect(upcallPending(d!, 0)).toBe(1);
    expect(hv.nextDeadline()).toBe(Infinity);
    d!.mem.setU64(SCRATCH, 20_000);
    call(hv, v, Hc.set_timer, SCRATCH);
    d!.mem.setU64(SCRATCH, 0);
    call(hv, v, Hc.set_timer, SCRATCH);
    expect(hv.nextDeadline()).toBe(Infinity);
    d!.mem.i32[d!.pendingIdx] = 0;
    d!.mem.setU64(SCRATCH, 5);
    call(hv, v, Hc.set_timer, SCRATCH);
    expect(pending(d!, p)).toBe(true);
    expect(call(hv, v, Hc.set_timer, d!.mem.size - 4)).toBe(EFAULT);
  });
  it('the time record follows virtual time under its seqlock (version stays even)', () => {
    const { hv, doms: [d] } = makeHv(1);
    hv.now = 123_456_789_012;
    hv.updateTime(d!.vcpus[0]!);
    const rec = d!.vcpuInfo(0) + VCPU_INFO_OFF.time;
    expect(d!.mem.u64(A(rec + VCPU_TIME_INFO_OFF.system_time))).toBe(123_456_789_012);
    expect(d!.mem.u32(A(rec + VCPU_TIME_INFO_OFF.version)) % 2).toBe(0);
  });
  it('wallclock is boot wallclock plus virtual time', () => {
    const { hv, doms: [d] } = makeHv(1);
    hv.now = 2_500_000_000;
    expect(call(hv, d!.vcpus[0]!, Hc.wallclock, SCRATCH)).toBe(0);
    expect(d!.mem.u64(SCRATCH)).toBe(hv.wallclock.sec + 2);
    expect(d!.mem.u32(A(SCRATCH + 8))).toBe(500_000_000);
  });
});

describe('vcpu', () => {
  it('vcpu_up validates and queues; is_up and down follow', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 3 });
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.vcpu_up, 0, 1, 4096, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.vcpu_up, 3, 1, 4096, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 4100, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 0, 0)).toBe(EFAULT);
    expect(call(hv, v, Hc.vcpu_is_up, 1)).toBe(0);
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 8192, 7)).toBe(0);
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 8192, 7)).toBe(EBUSY);
    expect(call(hv, v, Hc.vcpu_is_up, 1)).toBe(1);
    expect(d!.vcpus[1]!.entry).toEqual({ fn: 1, stack: 8192, arg: 7 });
    expect(call(hv, v, Hc.vcpu_down, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.vcpu_down, 1)).toBe(0);
    expect(call(hv, v, Hc.vcpu_is_up, 1)).toBe(0);
    expect(call(hv, v, Hc.vcpu_down, 1)).toBe(0);
    expect(call(hv, v, Hc.vcpu_is_up, 9)).toBe(EINVAL);
    d!.caps = { upcall: true, vcpuEntry: false };
    expect(call(hv, v, Hc.vcpu_up, 2, 1, 8192, 0)).toBe(ENOSYS);
  });
});

describe('multicall', () => {
  it('runs a batch in order, writes each result, refuses blocking and nested calls', () => {
    const { hv, doms: [d], out } = makeHv(1);
    const v = d!.vcpus[0]!;
    const b = A(8192);
    const msg = A(4096);
    d!.mem.copyIn(msg, new TextEncoder().encode('mc'));
    const ent = (i: number, op: number, ...args: number[]) => {
      const e = b + i * MULTICALL_ENTRY_SIZE;
      d!.mem.setU32(A(e + MULTICALL_ENTRY_OFF.op), op);
      args.forEach((a, k) => d!.mem.setU32(A(e + MULTICALL_ENTRY_OFF.args + 4 * k), a));
    };
    ent(0, Hc.version);
    ent(1, Hc.console_write, msg, 2);
    ent(2, Hc.sched_block);
    ent(3, Hc.multicall, b, 1);
    ent(4, 77);
    expect(call(hv, v, Hc.multicall, b, 5)).toBe(0);
    const res = (i: number) => d!.mem.i32At(A(b + i * MULTICALL_ENTRY_SIZE + MULTICALL_ENTRY_OFF.result));
    expect([res(0), res(1), res(2), res(3), res(4)]).toEqual([ABI_VERSION, 2, EDEADLK, EDEADLK, ENOSYS]);
    expect(out.get('d1')).toBe('mc');
    expect(v.wait).toBe(null);
    expect(call(hv, v, Hc.multicall, b, 65)).toBe(EINVAL);
    expect(call(hv, v, Hc.multicall, d!.mem.size - 28, 2)).toBe(EFAULT);
  });
  it('a shutdown ends the batch', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const b = A(8192);
    d!.mem.setU32(b, Hc.sched_shutdown);
    d!.mem.setU32(A(b + MULTICALL_ENTRY_SIZE), Hc.version);
    d!.mem.setI32(A(b + MULTICALL_ENTRY_SIZE + 4), -999);
    call(hv, v, Hc.multicall, b, 2);
    expect(d!.state).toBe('shutdown');
    expect(d!.mem.i32At(A(b + MULTICALL_ENTRY_SIZE + 4))).toBe(-999);
  });
});

describe('domain life cycle', () => {
  it('a paused domain is not scheduled; unpause puts its runnable vCPUs back; a blocked domain reads as blocked', () => {
    const { hv, doms: [a, b] } = makeHv(2, { vcpus: 1 });
    hv.pause(a!);
    expect(a!.runState).toBe('paused');
    expect(hv.sched.next()).toBe(b!.vcpus[0]);
    expect(hv.sched.next()).toBe(undefined);
    hv.unpause(a!);
    expect(a!.runState).toBe('running');
    expect(hv.sched.next()).toBe(a!.vcpus[0]);
    call(hv, a!.vcpus[0]!, Hc.sched_block);
    expect(a!.runState).toBe('blocked');
    hv.shutdown(a!, 0, 0);
    hv.unpause(a!);
    expect(a!.runState).toBe('shutdown');
  });
});

/* Detailed rules per call, each quoting spec/abi.json (doc, returns or errors). */

describe('probe: "a call (id below 0x10000: a call number) or a feature (a FEATURE_* id)"', () => {
  it('is 1 for exactly the spec calls and features (grant_map: numbered, but "`probe` reports it absent")', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const calls = new Set<number>(Object.values(Hc).filter((nr) => nr !== Hc.grant_map));
    for (let id = 0; id < 70; id++) expect(call(hv, v, Hc.probe, id), `id ${id}`).toBe(calls.has(id as never) ? 1 : 0);
    expect(call(hv, v, Hc.probe, 0xffff)).toBe(0);
    expect([FEATURE_EVTCHN_2LEVEL, FEATURE_TIME_RECORD, FEATURE_VCPU_HOTPLUG].map((f) => call(hv, v, Hc.probe, f))).toEqual([1, 1, 1]);
    expect(call(hv, v, Hc.probe, 0x10000 + Hc.version + 0x10)).toBe(0);
    expect(call(hv, v, Hc.probe, 0x10003)).toBe(0);
    expect(call(hv, v, Hc.probe, -1)).toBe(0);
  });
});

describe('console', () => {
  it('console_write: "writes at most CONSOLE_IO_MAX bytes per call", and only those bytes', () => {
    const { hv, doms: [d], out } = makeHv(1);
    const v = d!.vcpus[0]!;
    const bytes = new Uint8Array(CONSOLE_IO_MAX + 10).map((_, i) => 65 + (i % 26));
    d!.mem.copyIn(SCRATCH, bytes);
    expect(call(hv, v, Hc.console_write, SCRATCH, CONSOLE_IO_MAX + 10)).toBe(CONSOLE_IO_MAX);
    expect(out.get('d1')).toBe(Buffer.from(bytes.subarray(0, CONSOLE_IO_MAX)).toString('latin1'));
    expect(call(hv, v, Hc.console_write, SCRATCH, 0)).toBe(0);
    // EFAULT: "[buf, buf + min(len, CONSOLE_IO_MAX)) is not inside guest memory": a huge len past the
    // end is fine when its first CONSOLE_IO_MAX bytes are inside.
    const top = d!.mem.size - CONSOLE_IO_MAX;
    expect(call(hv, v, Hc.console_write, top, 0x7fff_ffff)).toBe(CONSOLE_IO_MAX);
    expect(call(hv, v, Hc.console_write, top + 1, 0x7fff_ffff)).toBe(EFAULT);
    expect(call(hv, v, Hc.console_write, d!.mem.size, 0)).toBe(0);
  });

  it('console_read: returns min(len, queued, CONSOLE_IO_MAX) bytes and keeps the rest; EFAULT as for write', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const input = new Uint8Array(CONSOLE_IO_MAX + 3).map((_, i) => i & 0xff);
    hv.consoleInput(d!, input);
    expect(call(hv, v, Hc.console_read, d!.mem.size - 4, 5)).toBe(EFAULT);
    expect(d!.consoleIn.length).toBe(CONSOLE_IO_MAX + 3);
    d!.mem.fill(SCRATCH, CONSOLE_IO_MAX + 8, 0xee);
    expect(call(hv, v, Hc.console_read, SCRATCH, 0x7fff_ffff)).toBe(CONSOLE_IO_MAX);
    expect(Array.from(d!.mem.copyOut(SCRATCH, CONSOLE_IO_MAX))).toEqual(Array.from(input.subarray(0, CONSOLE_IO_MAX)));
    expect(d!.mem.u8[SCRATCH + CONSOLE_IO_MAX]).toBe(0xee);
    d!.mem.fill(SCRATCH, 200, 0xee);
    expect(call(hv, v, Hc.console_read, A(SCRATCH + 100), 2)).toBe(2);
    expect([d!.mem.u8[SCRATCH + 100], d!.mem.u8[SCRATCH + 101], d!.mem.u8[SCRATCH + 102]]).toEqual([0, 1, 0xee]);
    expect(call(hv, v, Hc.console_read, SCRATCH, 10)).toBe(1);
    expect(d!.mem.u8[SCRATCH]).toBe(2);
    expect(call(hv, v, Hc.console_read, SCRATCH, 10)).toBe(0);
  });
});

describe('sched_yield, sched_block', () => {
  it('yield: "the vCPU stays runnable"; inside an upcall or multicall it is a no-op', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.sched_yield)).toBe(0);
    expect(v.wait).toBe(WAIT_YIELD);
    v.wait = null;
    v.inUpcall = true;
    expect(call(hv, v, Hc.sched_yield)).toBe(0);
    expect(v.wait).toBe(null);
    v.inUpcall = false;
    v.inMulticall = true;
    expect(call(hv, v, Hc.sched_yield)).toBe(0);
    expect(v.wait).toBe(null);
  });

  it('block: refused inside a multicall batch too (EDEADLK), leaving the mask as it was', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[1]!;
    d!.mem.u8[d!.upcallMaskAddr(1)] = 1;
    v.inMulticall = true;
    expect(call(hv, v, Hc.sched_block)).toBe(EDEADLK);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, 0)).toBe(EDEADLK);
    expect(d!.mem.u8[d!.upcallMaskAddr(1)]).toBe(1);
    v.inMulticall = false;
    // "Atomically clears the vCPU's upcall_mask": its own, not vCPU 0's.
    d!.mem.u8[d!.upcallMaskAddr(0)] = 1;
    expect(call(hv, v, Hc.sched_block)).toBe(0);
    expect(v.wait).toBe(WAIT_BLOCK);
    expect(d!.mem.u8[d!.upcallMaskAddr(1)]).toBe(0);
    expect(d!.mem.u8[d!.upcallMaskAddr(0)]).toBe(1);
  });

  it('block: "unless an event is already pending for it (upcall_pending set)": another vCPU\'s flag does not count', () => {
    const { hv, doms: [d] } = makeHv(1);
    d!.mem.u8[d!.upcallPendingAddr(0)] = 1;
    expect(call(hv, d!.vcpus[1]!, Hc.sched_block)).toBe(0);
    expect(d!.vcpus[1]!.wait).toBe(WAIT_BLOCK);
    expect(call(hv, d!.vcpus[0]!, Hc.sched_block)).toBe(0);
    expect(d!.vcpus[0]!.wait).toBe(null);
  });
});

describe('sched_poll', () => {
  it('EINVAL: "nr_ports is 0 or above POLL_MAX_PORTS, or a port is out of range"', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    for (let i = 0; i < POLL_MAX_PORTS; i++) d!.mem.setU32(A(SCRATCH + 4 * i), 1);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, POLL_MAX_PORTS, 0)).toBe(0);
    expect(v.wait).toMatchObject({ kind: 'poll', deadline: Infinity });
    expect(v.wait?.kind === 'poll' ? v.wait.ports.length : -1).toBe(POLL_MAX_PORTS);
    v.wait = null;
    expect(call(hv, v, Hc.sched_poll, SCRATCH, POLL_MAX_PORTS + 1, 0)).toBe(EINVAL);
    d!.mem.setU32(A(SCRATCH + 8), NR_EVENT_CHANNELS - 1);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 3, 0)).toBe(0);
    expect(v.wait).toEqual({ kind: 'poll', ports: [1, 1, NR_EVENT_CHANNELS - 1], deadline: Infinity });
    v.wait = null;
    d!.mem.setU32(A(SCRATCH + 8), NR_EVENT_CHANNELS);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 3, 0)).toBe(EINVAL);
    expect(v.wait).toBe(null);
  });

  it('EFAULT: "The port array or the timeout is not inside guest memory"', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const top = d!.mem.size;
    d!.mem.setU32(A(top - 8), 1);
    d!.mem.setU32(A(top - 4), 1);
    expect(call(hv, v, Hc.sched_poll, top - 8, 2, 0)).toBe(0);
    v.wait = null;
    expect(call(hv, v, Hc.sched_poll, top - 8, 3, 0)).toBe(EFAULT);
    d!.mem.setU32(SCRATCH, 1);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, top - 7)).toBe(EFAULT);
    expect(v.wait).toBe(null);
    d!.mem.setU64(A(top - 8), 0);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, top - 8)).toBe(0);
    expect(v.wait).toMatchObject({ deadline: Infinity });
  });

  it('"Blocks until one of the given ports is pending (in shared_info, whatever its mask)"; "Does not change upcall_mask"', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const p = call(hv, v, Hc.evtchn_bind_ipi, 0);
    const q = call(hv, v, Hc.evtchn_bind_ipi, 0);
    setMask(d!, q, true);
    d!.mem.u8[d!.upcallMaskAddr(0)] = 1;
    d!.mem.setU32(SCRATCH, p);
    d!.mem.setU32(A(SCRATCH + 4), q);
    call(hv, v, Hc.evtchn_send, q);
    // q is pending though masked: return at once, even with a deadline in the past.
    hv.now = 1000;
    d!.mem.setU64(A(SCRATCH + 64), 10);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 2, A(SCRATCH + 64))).toBe(0);
    expect(v.wait).toBe(null);
    expect(d!.mem.u8[d!.upcallMaskAddr(0)]).toBe(1);
    // Only the first port listed: q not polled, so the past deadline times out.
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, A(SCRATCH + 64))).toBe(ETIMEDOUT);
    // "A deadline that has already passed": a deadline equal to now has passed.
    d!.mem.setU64(A(SCRATCH + 64), 1000);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, A(SCRATCH + 64))).toBe(ETIMEDOUT);
    d!.mem.setU64(A(SCRATCH + 64), 1001);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, A(SCRATCH + 64))).toBe(0);
    expect(v.wait).toEqual({ kind: 'poll', ports: [p], deadline: 1001 });
    // A masked polled port wakes the poller when it fires.
    v.wait = null;
    setMask(d!, p, true);
    call(hv, v, Hc.sched_poll, SCRATCH, 1, 0);
    call(hv, d!.vcpus[1]!, Hc.evtchn_send, p);
    expect([v.wait, v.resumeResult, v.queued]).toEqual([null, 0, true]);
  });

  it('a null timeout pointer means no timeout: address 0 is not read', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    d!.mem.setU64(A(0), 5); // whatever the guest keeps at address 0
    hv.now = 10;
    d!.mem.setU32(SCRATCH, 1);
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, 0)).toBe(0);
    expect(v.wait).toEqual({ kind: 'poll', ports: [1], deadline: Infinity });
  });

  it('the deadline is a u64: high words count', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    d!.mem.setU32(SCRATCH, 1);
    d!.mem.setU32(A(SCRATCH + 64), 0);
    d!.mem.setU32(A(SCRATCH + 68), 1);
    hv.now = 5;
    expect(call(hv, v, Hc.sched_poll, SCRATCH, 1, A(SCRATCH + 64))).toBe(0);
    expect(v.wait).toMatchObject({ deadline: 2 ** 32 });
  });
});

describe('sched_shutdown', () => {
  it('accepts exactly the SHUTDOWN_* reasons ("reason is not a SHUTDOWN_* value" is EINVAL)', () => {
    for (const reason of [SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_CRASH]) {
      const { hv, doms: [d] } = makeHv(1);
      expect(call(hv, d!.vcpus[1]!, Hc.sched_shutdown, reason, -5)).toBe(0);
      expect([d!.state, d!.shutdownReason, d!.shutdownCode, d!.vcpus[1]!.wait]).toEqual(['shutdown', reason, -5, WAIT_STOP]);
      expect(d!.vcpus[0]!.wait).toBe(null);
    }
    for (const reason of [2, 4, -1]) {
      const { hv, doms: [d] } = makeHv(1);
      expect(call(hv, d!.vcpus[0]!, Hc.sched_shutdown, reason, 0)).toBe(EINVAL);
      expect([d!.state, d!.vcpus[0]!.wait]).toEqual(['running', null]);
    }
  });
});

describe('set_timer', () => {
  it('"A new deadline replaces the old one; a deadline of 0 cancels"; only the calling vCPU\'s timer', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[1]!;
    const p = call(hv, v, Hc.evtchn_bind_virq, VIRQ_TIMER, 1);
    d!.mem.setU64(SCRATCH, 2 ** 32 + 7);
    expect(call(hv, v, Hc.set_timer, SCRATCH)).toBe(0);
    expect([d!.vcpus[0]!.timer, v.timer]).toEqual([0, 2 ** 32 + 7]);
    d!.mem.setU64(SCRATCH, 300);
    call(hv, v, Hc.set_timer, SCRATCH);
    expect(v.timer).toBe(300);
    hv.now = 300;
    d!.mem.setU64(SCRATCH, 300); // "at once if it already has" reached the deadline
    call(hv, v, Hc.set_timer, SCRATCH);
    expect([v.timer, pending(d!, p), upcallPending(d!, 1), upcallPending(d!, 0)]).toEqual([0, true, 1, 0]);
    d!.mem.setU64(SCRATCH, 0);
    expect(call(hv, v, Hc.set_timer, SCRATCH)).toBe(0);
    expect(v.timer).toBe(0);
    expect(call(hv, v, Hc.set_timer, d!.mem.size - 8)).toBe(0);
    expect(call(hv, v, Hc.set_timer, d!.mem.size - 7)).toBe(EFAULT);
  });
});

describe('wallclock', () => {
  it('"boot wallclock plus system time", carrying nanoseconds into seconds; pad is 0', () => {
    const hv = new Hypervisor({ log: () => {}, wallclock: { sec: 1000, nsec: 900_000_000 } });
    const d = hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 1 });
    const v = d.vcpus[0]!;
    d.mem.fill(SCRATCH, 16, 0xff);
    hv.now = 3 * 1e9 + 200_000_000;
    expect(call(hv, v, Hc.wallclock, SCRATCH)).toBe(0);
    expect([d.mem.u64(A(SCRATCH + WALLCLOCK_OFF.sec)), d.mem.u32(A(SCRATCH + WALLCLOCK_OFF.nsec)), d.mem.u32(A(SCRATCH + WALLCLOCK_OFF.pad))])
      .toEqual([1004, 100_000_000, 0]);
    hv.now = 99_999_999;
    call(hv, v, Hc.wallclock, SCRATCH);
    expect([d.mem.u64(SCRATCH), d.mem.u32(A(SCRATCH + 8))]).toEqual([1000, 999_999_999]);
    hv.now = 100_000_000;
    call(hv, v, Hc.wallclock, SCRATCH);
    expect([d.mem.u64(SCRATCH), d.mem.u32(A(SCRATCH + 8))]).toEqual([1001, 0]);
    expect(call(hv, v, Hc.wallclock, d.mem.size - WALLCLOCK_SIZE)).toBe(0);
    expect(call(hv, v, Hc.wallclock, d.mem.size - WALLCLOCK_SIZE + 1)).toBe(EFAULT);
  });
});

describe('vcpu_up, vcpu_down, vcpu_is_up', () => {
  it('vcpu_up: "stack is 0 or beyond guest memory" is EFAULT; the top of memory is a valid stack', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 2 });
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.vcpu_up, 1, 1, d!.mem.size + 16, 0)).toBe(EFAULT);
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 8, 0)).toBe(EINVAL);
    expect(call(hv, v, Hc.vcpu_up, 1, 5, d!.mem.size, 6)).toBe(0);
    const t = d!.vcpus[1]!;
    expect([t.up, t.queued, t.entry]).toEqual([true, true, { fn: 5, stack: d!.mem.size, arg: 6 }]);
  });

  it('vcpu_up: ENOSYS only after the other checks pass (EBUSY first for an up vCPU)', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 2 });
    d!.caps = { upcall: true, vcpuEntry: false };
    const v = d!.vcpus[0]!;
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 4096, 0)).toBe(ENOSYS);
    expect(d!.vcpus[1]!.up).toBe(false);
    hv.vcpuUp(d!.vcpus[1]!, { fn: 0, stack: 16, arg: 0 });
    expect(call(hv, v, Hc.vcpu_up, 1, 1, 4096, 0)).toBe(EBUSY);
  });

  it('vcpu_down: "On the calling vCPU it does not return"; "Its timer is cancelled"; out of range is EINVAL', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 3 });
    const [v0, v1, v2] = d!.vcpus;
    hv.vcpuUp(v1!, { fn: 1, stack: 16, arg: 0 });
    hv.vcpuUp(v2!, { fn: 1, stack: 16, arg: 0 });
    v2!.timer = 99;
    expect(call(hv, v0!, Hc.vcpu_down, 2)).toBe(0);
    expect([v2!.up, v2!.timer, v0!.wait]).toEqual([false, 0, null]);
    expect(call(hv, v1!, Hc.vcpu_down, 1)).toBe(0);
    expect([v1!.up, v1!.wait]).toEqual([false, WAIT_STOP]);
    expect(call(hv, v0!, Hc.vcpu_down, 3)).toBe(EINVAL);
    expect(call(hv, v0!, Hc.vcpu_is_up, 0)).toBe(1);
    expect(call(hv, v0!, Hc.vcpu_is_up, 2)).toBe(0);
    expect(call(hv, v0!, Hc.vcpu_is_up, 3)).toBe(EINVAL);
  });
});

describe('multicall: "Runs a batch of calls in order, writing each result into its entry"', () => {
  const B = A(8192);
  const ent = (d: Domain, i: number, op: number, ...args: number[]) => {
    const e = B + i * MULTICALL_ENTRY_SIZE;
    d.mem.setU32(A(e + MULTICALL_ENTRY_OFF.op), op);
    for (let k = 0; k < 5; k++) d.mem.setU32(A(e + MULTICALL_ENTRY_OFF.args + 4 * k), args[k] ?? 0);
    d.mem.setI32(A(e + MULTICALL_ENTRY_OFF.result), -12345);
  };
  const res = (d: Domain, i: number) => d.mem.i32At(A(B + i * MULTICALL_ENTRY_SIZE + MULTICALL_ENTRY_OFF.result));

  it('passes all five arguments of each entry to the call and runs it as the calling vCPU', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 3 });
    const v = d!.vcpus[0]!;
    // vcpu_up uses four arguments; evtchn_status writes at its second.
    ent(d!, 0, Hc.vcpu_up, 2, 11, 4096, 13);
    ent(d!, 1, Hc.evtchn_bind_ipi, 2);
    ent(d!, 2, Hc.evtchn_status, 1, 4096 + 512);
    ent(d!, 3, Hc.probe, 0x10000);
    expect(call(hv, v, Hc.multicall, B, 4)).toBe(0);
    expect([res(d!, 0), res(d!, 1), res(d!, 2), res(d!, 3)]).toEqual([0, 1, 0, 1]);
    expect(d!.vcpus[2]!.entry).toEqual({ fn: 11, stack: 4096, arg: 13 });
    expect(d!.mem.u32(A(4096 + 512 + EVTCHN_STATUS_OFF.vcpu))).toBe(2);
    expect(v.inMulticall).toBe(false);
    expect(d!.hypercalls[Hc.multicall]).toBe(1);
    expect(d!.hypercalls[Hc.evtchn_bind_ipi]).toBe(1);
  });

  it('an empty batch and a full one (MULTICALL_MAX) are fine; the batch must lie inside memory', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    ent(d!, 0, Hc.version);
    expect(call(hv, v, Hc.multicall, B, 0)).toBe(0);
    expect(res(d!, 0)).toBe(-12345);
    ent(d!, 1, Hc.version);
    expect(call(hv, v, Hc.multicall, B, 1)).toBe(0);
    expect([res(d!, 0), res(d!, 1)]).toEqual([ABI_VERSION, -12345]);
    for (let i = 0; i < MULTICALL_MAX; i++) ent(d!, i, Hc.version);
    expect(call(hv, v, Hc.multicall, B, MULTICALL_MAX)).toBe(0);
    expect(res(d!, MULTICALL_MAX - 1)).toBe(ABI_VERSION);
    const top = d!.mem.size - 2 * MULTICALL_ENTRY_SIZE;
    expect(call(hv, v, Hc.multicall, top, 2)).toBe(0);
    expect(call(hv, v, Hc.multicall, top + 1, 2)).toBe(EFAULT);
  });

  it('a yield inside a batch is a no-op and the batch goes on; vcpu_down of self ends it, result unwritten', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 2 });
    const v1 = d!.vcpus[1]!;
    hv.vcpuUp(v1, { fn: 1, stack: 16, arg: 0 });
    ent(d!, 0, Hc.sched_yield);
    ent(d!, 1, Hc.sched_poll, 4096, 1, 0);
    ent(d!, 2, Hc.vcpu_down, 1);
    ent(d!, 3, Hc.version);
    expect(call(hv, v1, Hc.multicall, B, 4)).toBe(0);
    expect([res(d!, 0), res(d!, 1), res(d!, 2), res(d!, 3)]).toEqual([0, EDEADLK, -12345, -12345]);
    expect([v1.up, v1.wait, v1.inMulticall]).toEqual([false, WAIT_STOP, false]);
  });

  it('refused entries (blocking calls, nested multicalls) never reach a handler: not counted, not traced', () => {
    const { hv, doms: [d] } = makeHv(1, { trace: true });
    const v = d!.vcpus[0]!;
    ent(d!, 0, Hc.sched_block);
    ent(d!, 1, Hc.sched_poll, 4096, 1, 0);
    ent(d!, 2, Hc.multicall, B, 1);
    ent(d!, 3, Hc.version);
    call(hv, v, Hc.multicall, B, 4);
    expect([res(d!, 0), res(d!, 1), res(d!, 2), res(d!, 3)]).toEqual([EDEADLK, EDEADLK, EDEADLK, ABI_VERSION]);
    expect(hv.hypercallCounts(d!)).toEqual({ multicall: 1, version: 1 });
    expect(hv.trace!.map((r) => r.ev)).toEqual(['version', 'multicall']);
  });

  it('a call that leaves a wait that is not a stop writes its result and ends the batch', () => {
    const { hv, doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    ent(d!, 0, Hc.version);
    ent(d!, 1, Hc.version);
    // Simulate a non-blocking call that records a wait (the engine's preempt at an exit).
    const dispatch = hv.dispatch;
    let n = 0;
    (hv as { dispatch: typeof dispatch }).dispatch = (vv, nr, ...a) => {
      const r = dispatch(vv, nr, ...a);
      if (nr === Hc.version && n++ === 0) vv.wait = WAIT_YIELD;
      return r;
    };
    expect(dispatch(v, Hc.multicall, B, 2, 0, 0, 0)).toBe(0);
    expect([res(d!, 0), res(d!, 1)]).toEqual([ABI_VERSION, -12345]);
  });
});
