/**
 * A domain's derived state and addresses (src/hv/domain.ts): "'Blocked' is not a stored state: a
 * running domain is blocked when every up vCPU waits", vcpu_info slots in shared_info, and port
 * allocation ("Lowest free port ≥ 1").
 */
import { describe, expect, it } from 'vitest';
import {
  EVTCHNSTAT_CLOSED, EVTCHNSTAT_IPI, NR_EVENT_CHANNELS, SHARED_INFO_OFF, VCPU_INFO_OFF, VCPU_INFO_SIZE,
} from '../../../src/abi/index.ts';
import { WAIT_BLOCK, WAIT_PREEMPT, WAIT_STOP, WAIT_YIELD } from '../../../src/hv/index.ts';
import { makeHv } from '../../support/hv.ts';

describe('Domain', () => {
  it('alive while running or paused, not once shut down or crashed', () => {
    const { doms: [d] } = makeHv(1);
    const alive = (['running', 'paused', 'shutdown', 'crashed'] as const).map((s) => {
      d!.state = s;
      return d!.alive;
    });
    expect(alive).toEqual([true, true, false, false]);
  });

  it('runState: blocked when every up vCPU blocks or polls; a yield or preempt is still running', () => {
    const { hv, doms: [d] } = makeHv(1, { vcpus: 3 });
    hv.vcpuUp(d!.vcpus[1]!, { fn: 1, stack: 16, arg: 0 });
    const [v0, v1] = d!.vcpus;
    expect(d!.runState).toBe('running');
    v0!.wait = WAIT_BLOCK;
    expect(d!.runState).toBe('running'); // v1 is up and runnable; v2 is down and does not count
    v1!.wait = { kind: 'poll', ports: [1], deadline: Infinity };
    expect(d!.runState).toBe('blocked');
    for (const w of [WAIT_YIELD, WAIT_PREEMPT, WAIT_STOP]) {
      v1!.wait = w;
      expect(d!.runState, w.kind).toBe('running');
    }
    v1!.wait = WAIT_BLOCK;
    d!.state = 'paused';
    expect(d!.runState).toBe('paused');
    d!.state = 'crashed';
    expect(d!.runState).toBe('crashed');
  });

  it('vcpu_info slot i is at shared_info + i * VCPU_INFO_SIZE, with its fields at their spec offsets', () => {
    const { doms: [d] } = makeHv(1, { vcpus: 4 });
    const sh = d!.layout.sharedInfo;
    for (let i = 0; i < 4; i++) {
      const vi = sh + SHARED_INFO_OFF.vcpu_info + i * VCPU_INFO_SIZE;
      expect(d!.vcpuInfo(i)).toBe(vi);
      expect(d!.upcallPendingAddr(i)).toBe(vi + VCPU_INFO_OFF.evtchn_upcall_pending);
      expect(d!.upcallMaskAddr(i)).toBe(vi + VCPU_INFO_OFF.evtchn_upcall_mask);
      expect(d!.pendingSelIdx(i) * 4).toBe(vi + VCPU_INFO_OFF.evtchn_pending_sel);
      const v = d!.vcpus[i]!;
      expect([v.upcallPendingAddr, v.upcallMaskAddr]).toEqual([d!.upcallPendingAddr(i), d!.upcallMaskAddr(i)]);
      expect(v.timeIdx * 4).toBe(vi + VCPU_INFO_OFF.time);
      expect(v.index).toBe(i);
      expect(v.domain).toBe(d);
    }
    expect(d!.pendingIdx * 4).toBe(sh + SHARED_INFO_OFF.evtchn_pending);
    expect(d!.maskIdx * 4).toBe(sh + SHARED_INFO_OFF.evtchn_mask);
  });

  it('freePort is the lowest port ≥ 1 never allocated or CLOSED, -1 when all are in use', () => {
    const { doms: [d] } = makeHv(1);
    const used = { state: EVTCHNSTAT_IPI, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 };
    expect(d!.freePort()).toBe(1);
    expect(d!.port(1)).toBe(undefined);
    d!.ports[1] = { ...used };
    d!.ports[2] = { ...used };
    expect(d!.freePort()).toBe(3);
    d!.ports[1] = { ...used, state: EVTCHNSTAT_CLOSED };
    expect(d!.freePort()).toBe(1);
    for (let p = 1; p < NR_EVENT_CHANNELS; p++) d!.ports[p] = { ...used };
    expect(d!.freePort()).toBe(-1);
    d!.ports[NR_EVENT_CHANNELS - 1]!.state = EVTCHNSTAT_CLOSED;
    expect(d!.freePort()).toBe(NR_EVENT_CHANNELS - 1);
    expect(d!.port(5)).toEqual(used);
  });

  it('starts with no devices, no console input, zero counters and the default caps', () => {
    const { hv } = makeHv(0);
    const d = hv.createDomain({ name: 'x', memBytes: 1 << 20, vcpus: 1 });
    expect(d.caps).toEqual({ upcall: false, vcpuEntry: false });
    expect([d.nrDevices, d.consoleIn.length, d.shutdownReason, d.shutdownCode, d.crashReason, d.endedAt]).toEqual([0, 0, -1, 0, '', 0]);
    expect(d.backtrace).toEqual([]);
    expect(d.mmioExits).toEqual({ read: 0, write: 0 });
    expect(Array.from(d.hypercalls).every((n) => n === 0)).toBe(true);
    expect(d.hypercalls).toHaveLength(64);
  });
});

describe('Vcpu', () => {
  it('blocked only in sched_block or sched_poll', () => {
    const { doms: [d] } = makeHv(1);
    const v = d!.vcpus[0]!;
    const kinds = [null, WAIT_BLOCK, { kind: 'poll' as const, ports: [], deadline: 0 }, WAIT_YIELD, WAIT_PREEMPT, WAIT_STOP].map((w) => {
      v.wait = w;
      return v.blocked;
    });
    expect(kinds).toEqual([false, true, true, false, false, false]);
  });

  it('starts down, not started, unqueued, with no timer and nothing pending', () => {
    const { doms: [d] } = makeHv(1);
    const v = d!.vcpus[1]!;
    expect([v.up, v.started, v.queued, v.wait, v.timer, v.resumeResult, v.inUpcall, v.inMulticall, v.engine])
      .toEqual([false, false, false, null, 0, 0, false, false, undefined]);
    expect(v.entry).toEqual({ fn: 0, stack: 0, arg: 0 });
  });

  it('the shared wait objects are frozen and of their kind', () => {
    expect([WAIT_BLOCK, WAIT_YIELD, WAIT_PREEMPT, WAIT_STOP].map((w) => [w.kind, Object.isFrozen(w)])).toEqual([
      ['block', true], ['yield', true], ['preempt', true], ['stop', true],
    ]);
  });
});
