import { describe, expect, it } from 'vitest';
import {
  ABI_VERSION, EBUSY, EDEADLK, EFAULT, EINVAL, ENOSYS, ETIMEDOUT, FEATURE_EVTCHN_2LEVEL, Hc,
  MULTICALL_ENTRY_OFF, MULTICALL_ENTRY_SIZE, SHUTDOWN_CRASH, START_INFO_MAGIC, START_INFO_OFF, VIRQ_TIMER,
  VCPU_INFO_OFF, VCPU_TIME_INFO_OFF,
} from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { SCRATCH, call, makeHv, pending, upcallPending } from '../../support/hv.ts';

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
