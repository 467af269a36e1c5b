/**
 * Unit tests of the reference model itself, call by call: each success case and each row of the
 * call's errors table (quoted), plus a few properties every call must have.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ABI_VERSION,
  CONSOLE_IO_MAX,
  DOMID_SELF,
  EBUSY,
  EDEADLK,
  EEXIST,
  EFAULT,
  EINVAL,
  ENOSPC,
  ENOSYS,
  ESRCH,
  ETIMEDOUT,
  EVTCHNSTAT_CLOSED,
  EVTCHNSTAT_INTERDOMAIN,
  EVTCHNSTAT_IPI,
  EVTCHNSTAT_UNBOUND,
  EVTCHNSTAT_VIRQ,
  FEATURE_EVTCHN_2LEVEL,
  FEATURE_TIME_RECORD,
  FEATURE_VCPU_HOTPLUG,
  Hc,
  MULTICALL_ENTRY_SIZE,
  MULTICALL_MAX,
  NR_EVENT_CHANNELS,
  POLL_MAX_PORTS,
  SHARED_INFO_OFF,
  SHUTDOWN_CRASH,
  SHUTDOWN_POWEROFF,
  SHUTDOWN_REBOOT,
  VCPU_INFO_OFF,
  VIRQ_CONSOLE,
  VIRQ_DOM_EXC,
  VIRQ_TIMER,
} from '../../src/abi/generated/index.ts';
import {
  applySharedInfoWrite,
  fireTimers,
  getDomain,
  initialState,
  invariants,
  memoryOf,
  observe,
  setPort,
  step,
  u32Bytes,
  updateDomain,
  updateVcpu,
  type ModelState,
} from '../../spec/model/index.ts';
import {
  FIXTURE_MEM,
  call,
  expectCall,
  fixtureMemory,
  fixtureState,
  u64Bytes,
} from '../support/model-fixtures.ts';
import { SEED } from '../support/seed.ts';

const dom = (s: ModelState, id: number) => getDomain(s, id);
const vcpu = (s: ModelState, id: number, v: number) => dom(s, id).vcpus[v]!;

/** Brings vCPU 1 of domain `id` up (a stack at 0x8000). */
function upVcpu1(s: ModelState, id: number): ModelState {
  return expectCall(s, id, Hc.vcpu_up, [1, 0, 0x8000, 0], 0);
}

/** An interdomain channel: `a` allocates for `b`, `b` binds. Returns [state, portA, portB]. */
function connect(s0: ModelState, a: number, b: number): [ModelState, number, number] {
  const alloc = call(s0, a, Hc.evtchn_alloc_unbound, [b]);
  const bind = call(alloc.state, b, Hc.evtchn_bind_interdomain, [a, alloc.result]);
  expect(bind.result).toBeGreaterThan(0);
  return [bind.state, alloc.result, bind.result];
}

describe(`reference model (seed ${SEED})`, () => {
  describe('initialState', () => {
    it('starts with vCPU 0 up, the others down, nothing bound, pending or masked', () => {
      const s = fixtureState();
      const o = observe(s);
      expect(o.domains.map((d) => d.id)).toEqual([0, 1, 2]);
      for (const d of o.domains) {
        expect(d.status).toBe('running');
        expect(d.vcpus.map((v) => v.up)).toEqual([true, false]);
        expect(d.vcpus.every((v) => !v.upcallPending && !v.upcallMask && v.pendingSel === 0 && v.timer === 0)).toBe(true);
        expect(d.ports).toEqual([]);
        expect(d.pending).toEqual([]);
        expect(d.mask).toEqual([]);
        expect(d.console).toBe('');
      }
      expect(invariants(s)).toEqual([]);
    });

    it('refuses impossible configurations', () => {
      expect(() => initialState([{ id: 1, memSize: 65536, nrVcpus: 1 }, { id: 1, memSize: 65536, nrVcpus: 1 }])).toThrow(/duplicate/);
      expect(() => initialState([{ id: DOMID_SELF, memSize: 65536, nrVcpus: 1 }])).toThrow();
      expect(() => initialState([{ id: 1, memSize: 65536, nrVcpus: 0 }])).toThrow();
    });
  });

  describe('step', () => {
    it('answers an unknown call number, and the reserved 0, with ENOSYS and no change', () => {
      const s = fixtureState();
      for (const nr of [0, Hc.increase_reservation + 1, 1000, -1]) {
        const r = call(s, 0, nr);
        expect(r.result).toBe(ENOSYS);
        expect(r.state).toBe(s);
      }
    });

    it('throws for callers that cannot run (a driver bug, not a guest mistake)', () => {
      const s = fixtureState();
      const mem = fixtureMemory();
      expect(() => step(s, { dom: 9, vcpu: 0 }, Hc.version, [], mem)).toThrow(/no domain/);
      expect(() => step(s, { dom: 0, vcpu: 1 }, Hc.version, [], mem)).toThrow(/not up/);
      const blocked = call(s, 0, Hc.sched_block).state;
      expect(() => step(blocked, { dom: 0, vcpu: 0 }, Hc.version, [], mem)).toThrow(/blocked/);
      const down = call(s, 0, Hc.sched_shutdown, [SHUTDOWN_POWEROFF, 0]).state;
      expect(() => step(down, { dom: 0, vcpu: 0 }, Hc.version, [], mem)).toThrow(/shut down/);
    });
  });

  describe('version / probe', () => {
    it('version returns (major << 16) | minor', () => {
      expect(call(fixtureState(), 0, Hc.version).result).toBe(ABI_VERSION);
    });

    it('probe: 1 for every call number and FEATURE_* id, 0 otherwise (grant_map: "`probe` reports it absent")', () => {
      const s = fixtureState();
      for (const nr of Object.values(Hc)) expect(call(s, 0, Hc.probe, [nr]).result).toBe(nr === Hc.grant_map ? 0 : 1);
      for (const f of [FEATURE_EVTCHN_2LEVEL, FEATURE_TIME_RECORD, FEATURE_VCPU_HOTPLUG]) {
        expect(call(s, 0, Hc.probe, [f]).result).toBe(1);
      }
      for (const id of [0, Hc.increase_reservation + 1, 0xffff, 0x10003, -1]) expect(call(s, 0, Hc.probe, [id]).result).toBe(0);
    });
  });

  describe('console_write / console_read', () => {
    it('appends the bytes (latin1) and returns their number', () => {
      const text = new Uint8Array([0x68, 0x69, 0xff, 0x00]);
      const mem = fixtureMemory(FIXTURE_MEM, [[100, text]]);
      const r = call(fixtureState(), 1, Hc.console_write, [100, 4], mem);
      expect(r.result).toBe(4);
      expect(dom(r.state, 1).console).toBe('hi\xff\x00');
      expect(dom(r.state, 0).console).toBe('');
    });

    it('moves at most CONSOLE_IO_MAX bytes: "longer requests are partial"', () => {
      const r = call(fixtureState(), 0, Hc.console_write, [0, CONSOLE_IO_MAX + 10]);
      expect(r.result).toBe(CONSOLE_IO_MAX);
      expect(dom(r.state, 0).console.length).toBe(CONSOLE_IO_MAX);
    });

    it('EFAULT: "[buf, buf + min(len, CONSOLE_IO_MAX)) is not inside guest memory."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.console_write, [FIXTURE_MEM - 4, 4]).result).toBe(4);
      expect(call(s, 0, Hc.console_write, [FIXTURE_MEM - 3, 4]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.console_write, [FIXTURE_MEM, 0]).result).toBe(0);
      expect(call(s, 0, Hc.console_write, [FIXTURE_MEM + 1, 0]).result).toBe(EFAULT);
      // Wraparound: 0xFFFFFFF0 + 0x20 wraps to 0x10 in 32 bits, which would look in range.
      expect(call(s, 0, Hc.console_write, [0xfffffff0 | 0, 0x20]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.console_write, [FIXTURE_MEM - 3, 4]).state).toBe(s);
    });

    it('console_read: the model has no input, so 0 after the pointer check', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.console_read, [0, 64]).result).toBe(0);
      expect(call(s, 0, Hc.console_read, [FIXTURE_MEM - 1, 2]).result).toBe(EFAULT);
    });
  });

  describe('sched_yield / sched_block', () => {
    it('sched_yield returns 0 and changes nothing', () => {
      const s = fixtureState();
      const r = call(s, 0, Hc.sched_yield);
      expect(r.result).toBe(0);
      expect(r.state).toBe(s);
    });

    it('sched_block clears upcall_mask and blocks when nothing is pending', () => {
      const s0 = updateDomain(fixtureState(), 0, (d) => updateVcpu(d, 0, (v) => ({ ...v, upcallMask: true })));
      const r = call(s0, 0, Hc.sched_block);
      expect(r.blocks).toBe(true);
      expect(vcpu(r.state, 0, 0).upcallMask).toBe(false);
      expect(vcpu(r.state, 0, 0).blocked).toEqual({ kind: 'block' });
    });

    it('sched_block returns at once when upcall_pending is set', () => {
      const s0 = updateDomain(fixtureState(), 0, (d) =>
        updateVcpu(d, 0, (v) => ({ ...v, upcallMask: true, upcallPending: true })),
      );
      const r = call(s0, 0, Hc.sched_block);
      expect(r.blocks).toBeUndefined();
      expect(r.result).toBe(0);
      expect(vcpu(r.state, 0, 0).upcallMask).toBe(false);
      expect(vcpu(r.state, 0, 0).blocked).toBeNull();
    });

    it('a blocked vCPU wakes (result 0) when an unmasked port bound to it fires', () => {
      let s = upVcpu1(fixtureState(), 0);
      const ipi = call(s, 0, Hc.evtchn_bind_ipi, [1]);
      s = ipi.state;
      s = call(s, { dom: 0, vcpu: 1 }, Hc.sched_block).state;
      const send = call(s, 0, Hc.evtchn_send, [ipi.result]);
      expect(send.wakes).toEqual([{ dom: 0, vcpu: 1, result: 0 }]);
      expect(vcpu(send.state, 0, 1).blocked).toBeNull();
      expect(vcpu(send.state, 0, 1).upcallPending).toBe(true);
    });

    it('a blocked vCPU stays blocked when the port that fires is masked', () => {
      let s = upVcpu1(fixtureState(), 0);
      const ipi = call(s, 0, Hc.evtchn_bind_ipi, [1]);
      s = updateDomain(ipi.state, 0, (d) => ({ ...d, mask: d.mask.map((m, p) => m || p === ipi.result) }));
      s = call(s, { dom: 0, vcpu: 1 }, Hc.sched_block).state;
      const send = call(s, 0, Hc.evtchn_send, [ipi.result]);
      expect(send.wakes).toBeUndefined();
      expect(vcpu(send.state, 0, 1).blocked).toEqual({ kind: 'block' });
      expect(dom(send.state, 0).pending[ipi.result]).toBe(true);
    });

    it('EDEADLK: "Called from the upcall handler."', () => {
      const s = fixtureState();
      const r = step(s, { dom: 0, vcpu: 0, inUpcall: true }, Hc.sched_block, [], fixtureMemory());
      expect(r.result).toBe(EDEADLK);
      expect(r.state).toBe(s);
    });
  });

  describe('sched_poll', () => {
    /** Memory with the port list at 0x100 and a deadline at 0x200. */
    const pollMem = (ports: number[], deadline = 0) =>
      fixtureMemory(FIXTURE_MEM, [
        [0x100, u32Bytes(...ports)],
        [0x200, u64Bytes(deadline)],
      ]);

    it('returns 0 at once when a polled port is already pending (whatever its mask)', () => {
      let s = fixtureState();
      const ipi = call(s, 0, Hc.evtchn_bind_ipi, [0]);
      s = expectCall(ipi.state, 0, Hc.evtchn_send, [ipi.result], 0);
      s = updateDomain(s, 0, (d) => ({ ...d, mask: d.mask.map(() => true) }));
      const r = call(s, 0, Hc.sched_poll, [0x100, 2, 0], pollMem([5, ipi.result]));
      expect(r.result).toBe(0);
      expect(r.blocks).toBeUndefined();
    });

    it('blocks otherwise, wakes when a polled port fires even if masked, and keeps upcall_mask', () => {
      let s = upVcpu1(fixtureState(), 0);
      const ipi = call(s, 0, Hc.evtchn_bind_ipi, [0]);
      s = updateDomain(ipi.state, 0, (d) => updateVcpu({ ...d, mask: d.mask.map(() => true) }, 1, (v) => ({ ...v, upcallMask: true })));
      const poll = call(s, { dom: 0, vcpu: 1 }, Hc.sched_poll, [0x100, 1, 0], pollMem([ipi.result]));
      expect(poll.blocks).toBe(true);
      expect(vcpu(poll.state, 0, 1).blocked).toEqual({ kind: 'poll', ports: [ipi.result], deadline: 0 });
      expect(vcpu(poll.state, 0, 1).upcallMask).toBe(true);
      const send = call(poll.state, 0, Hc.evtchn_send, [ipi.result]);
      expect(send.wakes).toEqual([{ dom: 0, vcpu: 1, result: 0 }]);
    });

    it('does not wake for a port it does not poll', () => {
      let s = upVcpu1(fixtureState(), 0);
      const a = call(s, 0, Hc.evtchn_bind_ipi, [1]);
      const b = call(a.state, 0, Hc.evtchn_bind_ipi, [1]);
      s = call(b.state, { dom: 0, vcpu: 1 }, Hc.sched_poll, [0x100, 1, 0], pollMem([a.result])).state;
      const send = call(s, 0, Hc.evtchn_send, [b.result]);
      expect(vcpu(send.state, 0, 1).blocked?.kind).toBe('poll');
      expect(send.wakes).toBeUndefined();
    });

    it('ETIMEDOUT: "The deadline passed with no polled port pending." (at once, or when time passes)', () => {
      let s = upVcpu1(fixtureState(), 0);
      s = fireTimers(s, 1000).state;
      expect(call(s, 0, Hc.sched_poll, [0x100, 1, 0x200], pollMem([3], 1000)).result).toBe(ETIMEDOUT);
      const poll = call(s, { dom: 0, vcpu: 1 }, Hc.sched_poll, [0x100, 1, 0x200], pollMem([3], 5000));
      expect(poll.blocks).toBe(true);
      expect(fireTimers(poll.state, 4999).wakes).toEqual([]);
      const t = fireTimers(poll.state, 5000);
      expect(t.wakes).toEqual([{ dom: 0, vcpu: 1, result: ETIMEDOUT }]);
      expect(vcpu(t.state, 0, 1).blocked).toBeNull();
    });

    it('a deadline value of 0 means no timeout (as a null pointer does)', () => {
      const s = fireTimers(fixtureState(), 1000).state;
      expect(call(s, 0, Hc.sched_poll, [0x100, 1, 0x200], pollMem([3], 0)).blocks).toBe(true);
    });

    it('EINVAL: "nr_ports is 0 or above POLL_MAX_PORTS, or a port is out of range."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.sched_poll, [0x100, 0, 0], pollMem([1])).result).toBe(EINVAL);
      expect(call(s, 0, Hc.sched_poll, [0x100, POLL_MAX_PORTS + 1, 0], pollMem([1])).result).toBe(EINVAL);
      expect(call(s, 0, Hc.sched_poll, [0x100, 2, 0], pollMem([1, NR_EVENT_CHANNELS])).result).toBe(EINVAL);
      expect(call(s, 0, Hc.sched_poll, [0x100, POLL_MAX_PORTS, 0], pollMem([1])).blocks).toBe(true);
    });

    it('EFAULT: "The port array or the timeout is not inside guest memory."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.sched_poll, [FIXTURE_MEM - 4, 2, 0]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.sched_poll, [0x100, 1, FIXTURE_MEM - 7], pollMem([1])).result).toBe(EFAULT);
      // The range check comes first: a bad pointer with a bad port is EFAULT.
      expect(call(s, 0, Hc.sched_poll, [FIXTURE_MEM, 1, 0]).result).toBe(EFAULT);
    });

    it('EDEADLK: "Called from the upcall handler."', () => {
      const r = step(fixtureState(), { dom: 0, vcpu: 0, inUpcall: true }, Hc.sched_poll, [0x100, 1, 0], pollMem([1]));
      expect(r.result).toBe(EDEADLK);
    });
  });

  describe('sched_shutdown', () => {
    it('stops the domain with its reason and code, and does not return', () => {
      for (const reason of [SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_CRASH]) {
        const r = call(fixtureState(), 1, Hc.sched_shutdown, [reason, -7]);
        expect(r.noReturn).toBe(true);
        expect(dom(r.state, 1).status).toBe('shutdown');
        expect(dom(r.state, 1).shutdown).toEqual({ reason, code: -7 });
        expect(dom(r.state, 0).status).toBe('running');
      }
    });

    it('EINVAL: "reason is not a SHUTDOWN_* value."', () => {
      const s = fixtureState();
      for (const reason of [2, 4, -1]) {
        const r = call(s, 0, Hc.sched_shutdown, [reason, 0]);
        expect(r.result).toBe(EINVAL);
        expect(r.state).toBe(s);
      }
    });

    it('a shut-down domain still exists for others: they can allocate for it, bind to it and send to it', () => {
      let s = fixtureState();
      const alloc = call(s, 1, Hc.evtchn_alloc_unbound, [0]);
      s = expectCall(alloc.state, 1, Hc.sched_shutdown, [SHUTDOWN_POWEROFF, 0], 0);
      const bind = call(s, 0, Hc.evtchn_bind_interdomain, [1, alloc.result]);
      expect(bind.result).toBe(1);
      const send = call(bind.state, 0, Hc.evtchn_send, [bind.result]);
      expect(dom(send.state, 1).pending[alloc.result]).toBe(true);
      expect(call(send.state, 0, Hc.evtchn_alloc_unbound, [1]).result).toBe(2);
    });
  });

  describe('set_timer / fireTimers', () => {
    const at = (deadline: number) => fixtureMemory(FIXTURE_MEM, [[0x300, u64Bytes(deadline)]]);

    it('arms, replaces and cancels (0) the timer', () => {
      let s = expectCall(fixtureState(), 0, Hc.set_timer, [0x300], 0, at(500));
      expect(vcpu(s, 0, 0).timer).toBe(500);
      s = expectCall(s, 0, Hc.set_timer, [0x300], 0, at(700));
      expect(vcpu(s, 0, 0).timer).toBe(700);
      s = expectCall(s, 0, Hc.set_timer, [0x300], 0, at(0));
      expect(vcpu(s, 0, 0).timer).toBe(0);
    });

    it('fires VIRQ_TIMER on the bound port when time reaches the deadline, once', () => {
      const bind = call(fixtureState(), 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0]);
      let s = expectCall(bind.state, 0, Hc.set_timer, [0x300], 0, at(500));
      s = fireTimers(s, 499).state;
      expect(dom(s, 0).pending[bind.result]).toBe(false);
      s = fireTimers(s, 500).state;
      expect(dom(s, 0).pending[bind.result]).toBe(true);
      expect(vcpu(s, 0, 0).timer).toBe(0);
      expect(vcpu(s, 0, 0).upcallPending).toBe(true);
      expect(vcpu(s, 0, 0).pendingSel).toBe(1 << (bind.result >> 5));
    });

    it('"at once if it already has" reached the deadline', () => {
      const bind = call(fireTimers(fixtureState(), 1000).state, 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0]);
      const r = call(bind.state, 0, Hc.set_timer, [0x300], at(1000));
      expect(r.result).toBe(0);
      expect(dom(r.state, 0).pending[bind.result]).toBe(true);
      expect(vcpu(r.state, 0, 0).timer).toBe(0);
    });

    it('an unbound VIRQ_TIMER is dropped', () => {
      const s = expectCall(fixtureState(), 0, Hc.set_timer, [0x300], 0, at(10));
      const t = fireTimers(s, 20).state;
      expect(observe(t).domains[0]!.pending).toEqual([]);
      expect(vcpu(t, 0, 0).timer).toBe(0);
    });

    it('EFAULT: "The deadline is not inside guest memory."', () => {
      expect(call(fixtureState(), 0, Hc.set_timer, [FIXTURE_MEM - 7]).result).toBe(EFAULT);
    });

    it('time never goes backwards', () => {
      expect(() => fireTimers(fireTimers(fixtureState(), 10).state, 5)).toThrow(/backwards/);
    });
  });

  describe('wallclock', () => {
    it('writes one host-defined wallclock struct and returns 0', () => {
      const r = call(fixtureState(), 0, Hc.wallclock, [0x40]);
      expect(r.result).toBe(0);
      expect(r.writes).toHaveLength(1);
      expect(r.writes![0]!.addr).toBe(0x40);
      expect(r.writes![0]!.bytes.length).toBe(16);
      expect(r.writes![0]!.hostDefined).toBe(true);
    });

    it('EFAULT: "out is not inside guest memory."', () => {
      expect(call(fixtureState(), 0, Hc.wallclock, [FIXTURE_MEM - 15]).result).toBe(EFAULT);
      expect(call(fixtureState(), 0, Hc.wallclock, [FIXTURE_MEM - 16]).result).toBe(0);
    });
  });

  describe('evtchn_alloc_unbound', () => {
    it('allocates lowest-free-first from 1, for vCPU 0, and resolves DOMID_SELF', () => {
      let s = fixtureState();
      const a = call(s, 0, Hc.evtchn_alloc_unbound, [1]);
      expect(a.result).toBe(1);
      const b = call(a.state, 0, Hc.evtchn_alloc_unbound, [DOMID_SELF]);
      expect(b.result).toBe(2);
      expect(observe(b.state).domains[0]!.ports).toEqual([
        { port: 1, state: 'unbound', remoteDom: 1, vcpu: 0 },
        { port: 2, state: 'unbound', remoteDom: 0, vcpu: 0 },
      ]);
      s = expectCall(b.state, 0, Hc.evtchn_close, [1], 0);
      expect(call(s, 0, Hc.evtchn_alloc_unbound, [2]).result).toBe(1);
    });

    it('ESRCH: "remote_dom names no domain."', () => {
      const s = fixtureState();
      for (const d of [3, 0x7fef, DOMID_SELF + 1, -1]) {
        const r = call(s, 0, Hc.evtchn_alloc_unbound, [d]);
        expect(r.result).toBe(ESRCH);
        expect(r.state).toBe(s);
      }
    });

    it('ENOSPC: "No free port."', () => {
      const full = updateDomain(fixtureState(), 0, (d) => ({
        ...d,
        ports: d.ports.map((p, i) => (i === 0 ? p : { state: 'ipi' as const, vcpu: 0 })),
      }));
      expect(call(full, 0, Hc.evtchn_alloc_unbound, [1]).result).toBe(ENOSPC);
      expect(call(full, 0, Hc.evtchn_bind_ipi, [0]).result).toBe(ENOSPC);
      expect(call(full, 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0]).result).toBe(ENOSPC);
      const alloc = call(full, 1, Hc.evtchn_alloc_unbound, [0]);
      expect(call(alloc.state, 0, Hc.evtchn_bind_interdomain, [1, alloc.result]).result).toBe(ENOSPC);
    });
  });

  describe('evtchn_bind_interdomain', () => {
    it('connects both ends as INTERDOMAIN on vCPU 0 and raises no event (unlike Xen)', () => {
      const [s, pa, pb] = connect(fixtureState(), 1, 2);
      expect(observe(s).domains[1]!.ports).toEqual([{ port: pa, state: 'interdomain', remoteDom: 2, remotePort: pb, vcpu: 0 }]);
      expect(observe(s).domains[2]!.ports).toEqual([{ port: pb, state: 'interdomain', remoteDom: 1, remotePort: pa, vcpu: 0 }]);
      expect(observe(s).domains[2]!.pending).toEqual([]);
      expect(vcpu(s, 2, 0).upcallPending).toBe(false);
      expect(observe(s).domains[1]!.pending).toEqual([]);
      expect(invariants(s)).toEqual([]);
    });

    it('supports a loopback channel (DOMID_SELF)', () => {
      const a = call(fixtureState(), 0, Hc.evtchn_alloc_unbound, [DOMID_SELF]);
      const b = call(a.state, 0, Hc.evtchn_bind_interdomain, [DOMID_SELF, a.result]);
      expect(b.result).toBe(2);
      const send = call(b.state, 0, Hc.evtchn_send, [a.result]);
      expect(dom(send.state, 0).pending[b.result]).toBe(true);
      expect(invariants(send.state)).toEqual([]);
    });

    it('ESRCH: "remote_dom names no domain."', () => {
      expect(call(fixtureState(), 0, Hc.evtchn_bind_interdomain, [7, 1]).result).toBe(ESRCH);
    });

    it('EINVAL: "remote_port is out of range, not UNBOUND, or not allocated for this domain."', () => {
      let s = fixtureState();
      const forTwo = call(s, 1, Hc.evtchn_alloc_unbound, [2]);
      s = forTwo.state;
      const r = (args: number[]) => call(s, 0, Hc.evtchn_bind_interdomain, args).result;
      expect(r([1, NR_EVENT_CHANNELS])).toBe(EINVAL);
      expect(r([1, -1])).toBe(EINVAL);
      expect(r([1, 5])).toBe(EINVAL); // closed
      expect(r([1, forTwo.result])).toBe(EINVAL); // allocated for domain 2, not 0
      const ipi = call(s, 1, Hc.evtchn_bind_ipi, [0]);
      expect(call(ipi.state, 0, Hc.evtchn_bind_interdomain, [1, ipi.result]).result).toBe(EINVAL);
      const [bound, pa] = connect(s, 1, 0);
      expect(call(bound, 0, Hc.evtchn_bind_interdomain, [1, pa]).result).toBe(EINVAL); // already bound
    });
  });

  describe('evtchn_bind_virq', () => {
    it('binds per-vCPU VIRQ_TIMER and a global VIRQ_CONSOLE on any valid vCPU', () => {
      let s = fixtureState();
      const t0 = call(s, 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0]);
      const t1 = call(t0.state, 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 1]);
      const c = call(t1.state, 0, Hc.evtchn_bind_virq, [VIRQ_CONSOLE, 1]);
      s = c.state;
      expect([t0.result, t1.result, c.result]).toEqual([1, 2, 3]);
      expect(observe(s).domains[0]!.ports).toEqual([
        { port: 1, state: 'virq', virq: VIRQ_TIMER, vcpu: 0 },
        { port: 2, state: 'virq', virq: VIRQ_TIMER, vcpu: 1 },
        { port: 3, state: 'virq', virq: VIRQ_CONSOLE, vcpu: 1 },
      ]);
    });

    it('EINVAL: "virq is not a VIRQ_* value or vcpu is not below nr_vcpus."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.evtchn_bind_virq, [1, 0]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.evtchn_bind_virq, [4, 0]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 2]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.evtchn_bind_virq, [VIRQ_CONSOLE, -1]).result).toBe(EINVAL);
    });

    it('VIRQ_DOM_EXC (since 1.5) is a global VIRQ: one port for the domain, on any vCPU', () => {
      const s = expectCall(fixtureState(), 0, Hc.evtchn_bind_virq, [VIRQ_DOM_EXC, 1], 1);
      expect(call(s, 0, Hc.evtchn_bind_virq, [VIRQ_DOM_EXC, 0]).result).toBe(EEXIST);
    });

    it('EEXIST: "That virq is already bound on that vCPU (VIRQ_CONSOLE: on any vCPU)."', () => {
      let s = expectCall(fixtureState(), 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0], 1);
      expect(call(s, 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0]).result).toBe(EEXIST);
      s = expectCall(s, 0, Hc.evtchn_bind_virq, [VIRQ_CONSOLE, 0], 2);
      expect(call(s, 0, Hc.evtchn_bind_virq, [VIRQ_CONSOLE, 1]).result).toBe(EEXIST);
      // Closing frees the binding.
      s = expectCall(s, 0, Hc.evtchn_close, [2], 0);
      expect(call(s, 0, Hc.evtchn_bind_virq, [VIRQ_CONSOLE, 1]).result).toBe(2);
    });
  });

  describe('evtchn_bind_ipi', () => {
    it('binds to the given vCPU, up or not', () => {
      const r = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [1]);
      expect(r.result).toBe(1);
      expect(observe(r.state).domains[0]!.ports).toEqual([{ port: 1, state: 'ipi', vcpu: 1 }]);
    });

    it('EINVAL: "vcpu is not below nr_vcpus."', () => {
      expect(call(fixtureState(), 0, Hc.evtchn_bind_ipi, [2]).result).toBe(EINVAL);
    });
  });

  describe('evtchn_send', () => {
    it('IPI: raises the port itself on its vCPU (pending, pending_sel word bit, upcall_pending)', () => {
      let s = fixtureState();
      // Allocate up to port 40 so the selector bit is not bit 0.
      for (let i = 0; i < 39; i++) s = call(s, 0, Hc.evtchn_alloc_unbound, [0]).state;
      const ipi = call(s, 0, Hc.evtchn_bind_ipi, [1]);
      expect(ipi.result).toBe(40);
      const r = call(ipi.state, 0, Hc.evtchn_send, [40]);
      expect(r.result).toBe(0);
      expect(observe(r.state).domains[0]!.pending).toEqual([40]);
      expect(vcpu(r.state, 0, 1).pendingSel).toBe(1 << 1);
      expect(vcpu(r.state, 0, 1).upcallPending).toBe(true);
      expect(vcpu(r.state, 0, 0).upcallPending).toBe(false);
    });

    it('INTERDOMAIN: raises the peer port in the peer domain', () => {
      const [s, pa, pb] = connect(fixtureState(), 1, 2);
      const cleared = updateDomain(s, 2, (d) => ({ ...d, pending: d.pending.map(() => false) }));
      const r = call(cleared, 1, Hc.evtchn_send, [pa]);
      expect(observe(r.state).domains[2]!.pending).toEqual([pb]);
      expect(observe(r.state).domains[1]!.pending).toEqual([]);
    });

    it('an already pending port changes nothing else', () => {
      const ipi = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [0]);
      const once = call(ipi.state, 0, Hc.evtchn_send, [ipi.result]).state;
      const acked = updateDomain(once, 0, (d) => updateVcpu(d, 0, (v) => ({ ...v, upcallPending: false, pendingSel: 0 })));
      const twice = call(acked, 0, Hc.evtchn_send, [ipi.result]);
      expect(twice.state).toBe(acked);
    });

    it('a masked port becomes pending without pending_sel or upcall_pending', () => {
      const ipi = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [0]);
      const masked = updateDomain(ipi.state, 0, (d) => ({ ...d, mask: d.mask.map((_, p) => p === ipi.result) }));
      const r = call(masked, 0, Hc.evtchn_send, [ipi.result]);
      expect(dom(r.state, 0).pending[ipi.result]).toBe(true);
      expect(vcpu(r.state, 0, 0).pendingSel).toBe(0);
      expect(vcpu(r.state, 0, 0).upcallPending).toBe(false);
    });

    it('"Sending on an UNBOUND port does nothing and succeeds"', () => {
      const a = call(fixtureState(), 0, Hc.evtchn_alloc_unbound, [1]);
      const r = call(a.state, 0, Hc.evtchn_send, [a.result]);
      expect(r.result).toBe(0);
      expect(r.state).toBe(a.state);
    });

    it('EINVAL: "port is out of range, CLOSED or VIRQ."', () => {
      const v = call(fixtureState(), 0, Hc.evtchn_bind_virq, [VIRQ_TIMER, 0]);
      for (const port of [0, 2, NR_EVENT_CHANNELS, -1, v.result]) {
        const r = call(v.state, 0, Hc.evtchn_send, [port]);
        expect(r.result).toBe(EINVAL);
        expect(r.state).toBe(v.state);
      }
    });
  });

  describe('evtchn_unmask', () => {
    it('clears the mask bit; a pending port is marked in pending_sel and raises upcall_pending', () => {
      let s = upVcpu1(fixtureState(), 0);
      const ipi = call(s, 0, Hc.evtchn_bind_ipi, [1]);
      s = updateDomain(ipi.state, 0, (d) => ({ ...d, mask: d.mask.map((_, p) => p === ipi.result) }));
      s = call(s, { dom: 0, vcpu: 1 }, Hc.sched_block).state;
      s = call(s, 0, Hc.evtchn_send, [ipi.result]).state;
      expect(vcpu(s, 0, 1).upcallPending).toBe(false);
      const r = call(s, 0, Hc.evtchn_unmask, [ipi.result]);
      expect(r.result).toBe(0);
      expect(dom(r.state, 0).mask[ipi.result]).toBe(false);
      expect(vcpu(r.state, 0, 1).upcallPending).toBe(true);
      expect(vcpu(r.state, 0, 1).pendingSel).toBe(1);
      expect(r.wakes).toEqual([{ dom: 0, vcpu: 1, result: 0 }]);
    });

    it('a port that is not pending is only unmasked', () => {
      const s = updateDomain(fixtureState(), 0, (d) => ({ ...d, mask: d.mask.map((_, p) => p === 9) }));
      const r = call(s, 0, Hc.evtchn_unmask, [9]);
      expect(observe(r.state).domains[0]!.mask).toEqual([]);
      expect(vcpu(r.state, 0, 0).upcallPending).toBe(false);
    });

    it('does not re-deliver a pending port that was not masked (Xen evtchn_2l_unmask)', () => {
      const ipi = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [0]);
      const sent = call(ipi.state, 0, Hc.evtchn_send, [ipi.result]).state;
      const acked = updateDomain(sent, 0, (d) => updateVcpu(d, 0, (v) => ({ ...v, upcallPending: false, pendingSel: 0 })));
      const r = call(acked, 0, Hc.evtchn_unmask, [ipi.result]);
      expect(vcpu(r.state, 0, 0).upcallPending).toBe(false);
      expect(vcpu(r.state, 0, 0).pendingSel).toBe(0);
    });

    it('does not set upcall_pending again while the selector bit is still set (2-level rule)', () => {
      const ipi = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [0]);
      const s1 = updateDomain(ipi.state, 0, (d) => ({ ...d, mask: d.mask.map((m, p) => (p === ipi.result ? true : m)) }));
      const sent = call(s1, 0, Hc.evtchn_send, [ipi.result]).state;
      // The guest left pending_sel's bit set but cleared upcall_pending.
      const half = updateDomain(sent, 0, (d) => updateVcpu(d, 0, (v) => ({ ...v, upcallPending: false, pendingSel: 1 })));
      const r = call(half, 0, Hc.evtchn_unmask, [ipi.result]);
      expect(vcpu(r.state, 0, 0).upcallPending).toBe(false);
    });

    it('EINVAL: "port is out of range."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.evtchn_unmask, [NR_EVENT_CHANNELS]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.evtchn_unmask, [0]).result).toBe(0);
      expect(call(s, 0, Hc.evtchn_unmask, [NR_EVENT_CHANNELS - 1]).result).toBe(0);
    });
  });

  describe('evtchn_close', () => {
    it('frees the port; the INTERDOMAIN peer goes back to UNBOUND for this domain', () => {
      const [s, pa, pb] = connect(fixtureState(), 1, 2);
      const r = call(s, 2, Hc.evtchn_close, [pb]);
      expect(r.result).toBe(0);
      expect(observe(r.state).domains[2]!.ports).toEqual([]);
      expect(observe(r.state).domains[1]!.ports).toEqual([{ port: pa, state: 'unbound', remoteDom: 2, vcpu: 0 }]);
      // "(allowing this domain to bind again)"
      expect(call(r.state, 2, Hc.evtchn_bind_interdomain, [1, pa]).result).toBe(pb);
    });

    it('"The pending and mask bits are left for the guest to clear."', () => {
      const ipi = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [0]);
      let s = call(ipi.state, 0, Hc.evtchn_send, [ipi.result]).state;
      s = updateDomain(s, 0, (d) => ({ ...d, mask: d.mask.map((_, p) => p === ipi.result) }));
      const r = call(s, 0, Hc.evtchn_close, [ipi.result]);
      expect(observe(r.state).domains[0]!.pending).toEqual([ipi.result]);
      expect(observe(r.state).domains[0]!.mask).toEqual([ipi.result]);
    });

    it('closes a loopback channel end without breaking the invariants', () => {
      const a = call(fixtureState(), 0, Hc.evtchn_alloc_unbound, [DOMID_SELF]);
      const b = call(a.state, 0, Hc.evtchn_bind_interdomain, [DOMID_SELF, a.result]);
      const r = call(b.state, 0, Hc.evtchn_close, [a.result]);
      expect(observe(r.state).domains[0]!.ports).toEqual([{ port: b.result, state: 'unbound', remoteDom: 0, vcpu: 0 }]);
      expect(invariants(r.state)).toEqual([]);
    });

    it('EINVAL: "port is out of range or already CLOSED."', () => {
      const s = fixtureState();
      for (const port of [0, 1, NR_EVENT_CHANNELS, -1]) expect(call(s, 0, Hc.evtchn_close, [port]).result).toBe(EINVAL);
    });
  });

  describe('evtchn_status', () => {
    const read = (bytes: Uint8Array) => Array.from({ length: 6 }, (_, i) => new DataView(bytes.buffer).getUint32(i * 4, true));

    it('describes each state, zeros where a field does not apply', () => {
      let s = fixtureState();
      const [c, pa] = connect(s, 0, 1);
      s = c;
      const unb = call(s, 0, Hc.evtchn_alloc_unbound, [2]);
      const virq = call(unb.state, 0, Hc.evtchn_bind_virq, [VIRQ_CONSOLE, 1]);
      const ipi = call(virq.state, 0, Hc.evtchn_bind_ipi, [1]);
      s = ipi.state;
      const status = (port: number) => {
        const r = call(s, 0, Hc.evtchn_status, [port, 0x500]);
        expect(r.result).toBe(0);
        expect(r.writes![0]!.addr).toBe(0x500);
        return read(r.writes![0]!.bytes);
      };
      expect(status(0)).toEqual([0, EVTCHNSTAT_CLOSED, 0, 0, 0, 0]);
      expect(status(pa)).toEqual([pa, EVTCHNSTAT_INTERDOMAIN, 0, 1, 1, 0]);
      expect(status(unb.result)).toEqual([unb.result, EVTCHNSTAT_UNBOUND, 0, 2, 0, 0]);
      expect(status(virq.result)).toEqual([virq.result, EVTCHNSTAT_VIRQ, 1, 0, 0, VIRQ_CONSOLE]);
      expect(status(ipi.result)).toEqual([ipi.result, EVTCHNSTAT_IPI, 1, 0, 0, 0]);
      expect(status(NR_EVENT_CHANNELS - 1)).toEqual([NR_EVENT_CHANNELS - 1, EVTCHNSTAT_CLOSED, 0, 0, 0, 0]);
    });

    it('EINVAL: "port is out of range." and EFAULT: "out is not inside guest memory." (in that order)', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.evtchn_status, [NR_EVENT_CHANNELS, 0]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.evtchn_status, [NR_EVENT_CHANNELS, FIXTURE_MEM]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.evtchn_status, [1, FIXTURE_MEM - 23]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.evtchn_status, [1, FIXTURE_MEM - 24]).result).toBe(0);
      expect(call(s, 0, Hc.evtchn_status, [1, FIXTURE_MEM - 23]).writes).toBeUndefined();
    });

    it('an output that lands on shared_info changes the bits it overwrites, as a guest write would', () => {
      const sharedInfo = 0x8000;
      const mem = memoryOf(new Uint8Array(FIXTURE_MEM), sharedInfo);
      const ipi = call(fixtureState(), 0, Hc.evtchn_bind_ipi, [0]);
      // Status of port 1 (port=1, state=5, ...) written over evtchn_pending words 0..5:
      // word 0 = 1 sets port 0's pending bit, word 1 = 5 sets ports 32 and 34.
      const r = step(ipi.state, { dom: 0, vcpu: 0 }, Hc.evtchn_status, [1, sharedInfo + SHARED_INFO_OFF.evtchn_pending], mem);
      expect(observe(r.state).domains[0]!.pending).toEqual([0, 32, 34]);
    });
  });

  describe('vcpu_up / vcpu_down / vcpu_is_up', () => {
    it('brings a vCPU up and down; vcpu_is_up reports it', () => {
      let s = fixtureState();
      expect(call(s, 0, Hc.vcpu_is_up, [1]).result).toBe(0);
      s = upVcpu1(s, 0);
      expect(call(s, 0, Hc.vcpu_is_up, [1]).result).toBe(1);
      expect(call(s, 0, Hc.vcpu_is_up, [0]).result).toBe(1);
      s = expectCall(s, 0, Hc.vcpu_down, [1], 0);
      expect(call(s, 0, Hc.vcpu_is_up, [1]).result).toBe(0);
      // "Taking down a vCPU that is already down succeeds and does nothing."
      const again = call(s, 0, Hc.vcpu_down, [1]);
      expect(again.result).toBe(0);
      expect(again.state).toBe(s);
    });

    it('vcpu_down cancels the timer, ends a wait, and does not return on the calling vCPU', () => {
      let s = upVcpu1(fixtureState(), 0);
      s = expectCall(s, { dom: 0, vcpu: 1 }, Hc.set_timer, [0x300], 0, fixtureMemory(FIXTURE_MEM, [[0x300, u64Bytes(99)]]));
      s = call(s, { dom: 0, vcpu: 1 }, Hc.sched_block).state;
      const other = call(s, 0, Hc.vcpu_down, [1]);
      expect(other.noReturn).toBeUndefined();
      expect(vcpu(other.state, 0, 1)).toMatchObject({ up: false, timer: 0, blocked: null });
      const self = call(upVcpu1(fixtureState(), 0), { dom: 0, vcpu: 1 }, Hc.vcpu_down, [1]);
      expect(self.noReturn).toBe(true);
      expect(vcpu(self.state, 0, 1).up).toBe(false);
    });

    it('vcpu_up EINVAL: "vcpu is 0 or not below nr_vcpus, or stack is not 16-byte aligned."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.vcpu_up, [0, 0, 0x8000, 0]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.vcpu_up, [2, 0, 0x8000, 0]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.vcpu_up, [1, 0, 0x8008, 0]).result).toBe(EINVAL);
    });

    it('vcpu_up EFAULT: "stack is 0 or beyond guest memory."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.vcpu_up, [1, 0, 0, 0]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.vcpu_up, [1, 0, FIXTURE_MEM + 16, 0]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.vcpu_up, [1, 0, FIXTURE_MEM, 0]).result).toBe(0);
    });

    it('vcpu_up EBUSY: "The vCPU is already up."', () => {
      expect(call(upVcpu1(fixtureState(), 0), 0, Hc.vcpu_up, [1, 0, 0x8000, 0]).result).toBe(EBUSY);
    });

    it('vcpu_up ENOSYS: "The guest does not export pv_vcpu_entry and __stack_pointer."', () => {
      const s = initialState([{ id: 0, memSize: FIXTURE_MEM, nrVcpus: 2, canStartVcpus: false }]);
      expect(call(s, 0, Hc.vcpu_up, [1, 0, 0x8000, 0]).result).toBe(ENOSYS);
    });

    it('vcpu_down / vcpu_is_up EINVAL for vCPUs out of range', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.vcpu_down, [0]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.vcpu_down, [2]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.vcpu_is_up, [2]).result).toBe(EINVAL);
    });
  });

  describe('multicall', () => {
    /** A batch of entries [op, a0..a4] at `addr`. */
    function batch(addr: number, entries: number[][]): [number, Uint8Array] {
      const bytes = new Uint8Array(entries.length * MULTICALL_ENTRY_SIZE);
      entries.forEach(([op, ...args], i) => {
        bytes.set(u32Bytes(op ?? 0, 0, ...[0, 1, 2, 3, 4].map((k) => args[k] ?? 0)), i * MULTICALL_ENTRY_SIZE);
      });
      return [addr, bytes];
    }
    const resultAt = (r: { writes?: readonly { addr: number; bytes: Uint8Array }[] }, addr: number) => {
      const w = r.writes!.filter((x) => x.addr === addr).at(-1)!;
      return new DataView(w.bytes.buffer).getInt32(0, true);
    };

    it('runs entries in order and writes each result', () => {
      const mem = fixtureMemory(FIXTURE_MEM, [
        batch(0x1000, [[Hc.evtchn_bind_ipi, 0], [Hc.evtchn_send, 1], [Hc.version], [99], [Hc.evtchn_close, 7]]),
      ]);
      const r = call(fixtureState(), 0, Hc.multicall, [0x1000, 5], mem);
      expect(r.result).toBe(0);
      expect([0, 1, 2, 3, 4].map((i) => resultAt(r, 0x1000 + i * MULTICALL_ENTRY_SIZE + 4))).toEqual([
        1, 0, ABI_VERSION, ENOSYS, EINVAL,
      ]);
      expect(dom(r.state, 0).pending[1]).toBe(true);
    });

    it('"Calls that may block, and nested multicalls, get -EDEADLK in their entry."', () => {
      const mem = fixtureMemory(FIXTURE_MEM, [batch(0x1000, [[Hc.sched_block], [Hc.sched_poll, 0, 1, 0], [Hc.multicall, 0x1000, 1]])]);
      const s = fixtureState();
      const r = call(s, 0, Hc.multicall, [0x1000, 3], mem);
      expect([0, 1, 2].map((i) => resultAt(r, 0x1000 + i * MULTICALL_ENTRY_SIZE + 4))).toEqual([EDEADLK, EDEADLK, EDEADLK]);
      expect(r.state).toEqual(s);
      expect(r.blocks).toBeUndefined();
    });

    it('"A call that does not return (sched_shutdown, vcpu_down of self) ends the batch."', () => {
      const mem = fixtureMemory(FIXTURE_MEM, [
        batch(0x1000, [[Hc.evtchn_bind_ipi, 0], [Hc.sched_shutdown, SHUTDOWN_CRASH, 3], [Hc.evtchn_bind_ipi, 0]]),
      ]);
      const r = call(fixtureState(), 0, Hc.multicall, [0x1000, 3], mem);
      expect(r.noReturn).toBe(true);
      expect(dom(r.state, 0).status).toBe('shutdown');
      expect(observe(r.state).domains[0]!.ports).toHaveLength(1);
      expect(r.writes!.map((w) => w.addr)).toEqual([0x1000 + 4]);
    });

    it('an entry sees what earlier entries wrote (status written over the next entry)', () => {
      // Entry 0 writes an evtchn_status of port 0 (24 zero-ish bytes: port 0, CLOSED, ...) over
      // entry 1 starting at its op field, turning entry 1 into op 0 → ENOSYS.
      const e1 = 0x1000 + MULTICALL_ENTRY_SIZE;
      const mem = fixtureMemory(FIXTURE_MEM, [batch(0x1000, [[Hc.evtchn_status, 0, e1], [Hc.version]])]);
      const r = call(fixtureState(), 0, Hc.multicall, [0x1000, 2], mem);
      expect(resultAt(r, e1 + 4)).toBe(ENOSYS);
    });

    it('EINVAL: "nr_calls is above MULTICALL_MAX." and EFAULT: "The batch is not inside guest memory."', () => {
      const s = fixtureState();
      expect(call(s, 0, Hc.multicall, [0, MULTICALL_MAX + 1]).result).toBe(EINVAL);
      expect(call(s, 0, Hc.multicall, [FIXTURE_MEM - MULTICALL_ENTRY_SIZE + 1, 1]).result).toBe(EFAULT);
      expect(call(s, 0, Hc.multicall, [0, 0]).result).toBe(0);
    });
  });

  describe('shared_info mapping', () => {
    it('a guest write of a mask byte and of vcpu_info fields is taken in byte for byte', () => {
      const d0 = getDomain(fixtureState(), 0);
      const at = 0x8000;
      let d = applySharedInfoWrite(d0, at, { addr: at + SHARED_INFO_OFF.evtchn_mask + 1, bytes: new Uint8Array([0x81]) });
      expect(d.mask.flatMap((m, p) => (m ? [p] : []))).toEqual([8, 15]);
      d = applySharedInfoWrite(d, at, { addr: at + 64 + VCPU_INFO_OFF.evtchn_upcall_mask, bytes: new Uint8Array([1]) });
      expect(d.vcpus[1]!.upcallMask).toBe(true);
      d = applySharedInfoWrite(d, at, { addr: at + VCPU_INFO_OFF.evtchn_pending_sel, bytes: u32Bytes(0x80000001) });
      expect(d.vcpus[0]!.pendingSel).toBe(0x80000001);
      expect(applySharedInfoWrite(d, at, { addr: at - 8, bytes: new Uint8Array(8) })).toBe(d);
    });
  });

  describe('properties', () => {
    /** A random call with raw i32 arguments, biased toward small values that hit real ports and domains. */
    const anyCall = fc.record({
      nr: fc.oneof(fc.integer({ min: 0, max: 24 }), fc.integer()),
      args: fc.array(
        fc.oneof(
          fc.integer({ min: 0, max: 8 }),
          fc.constantFrom(DOMID_SELF, NR_EVENT_CHANNELS, FIXTURE_MEM, FIXTURE_MEM - 8, -1, 0x1000),
          fc.integer(),
        ),
        { maxLength: 5 },
      ),
      dom: fc.integer({ min: 0, max: 2 }),
    });

    it(`never throws on guest input; a failed call changes nothing; invariants hold (seed ${SEED})`, () => {
      fc.assert(
        fc.property(fc.array(anyCall, { maxLength: 40 }), (calls) => {
          let s = fixtureState();
          const mem = fixtureMemory();
          for (const c of calls) {
            if (getDomain(s, c.dom).status !== 'running' || getDomain(s, c.dom).vcpus[0]!.blocked !== null) continue;
            const r = step(s, { dom: c.dom, vcpu: 0 }, c.nr, c.args, mem);
            if (r.result < 0) {
              expect(r.state).toBe(s);
              expect(r.writes).toBeUndefined();
            }
            s = r.state;
            expect(invariants(s)).toEqual([]);
          }
        }),
        { seed: SEED, numRuns: 200 },
      );
    });

    it(`EFAULT for every pointer call on any range that does not fit, with no change (seed ${SEED})`, () => {
      const s = fixtureState();
      const outside = fc.oneof(
        fc.integer({ min: FIXTURE_MEM - 7, max: 0xffffffff }),
        fc.constant(0xfffffff8),
      );
      fc.assert(
        fc.property(outside, (addr) => {
          for (const [nr, args] of [
            [Hc.set_timer, [addr]],
            [Hc.wallclock, [addr]],
            [Hc.evtchn_status, [0, addr]],
            [Hc.console_write, [addr, 8]],
            [Hc.multicall, [addr, 1]],
            [Hc.sched_poll, [addr, 2, 0]],
          ] as const) {
            const r = call(s, 0, nr, [...args]);
            expect(r.result).toBe(EFAULT);
            expect(r.state).toBe(s);
          }
        }),
        { seed: SEED, numRuns: 100 },
      );
    });

    it('ports with the same binding state stay consistent with setPort (sanity of helpers)', () => {
      const d = setPort(getDomain(fixtureState(), 0), 5, { state: 'ipi', vcpu: 1 });
      expect(d.ports[5]).toEqual({ state: 'ipi', vcpu: 1 });
      expect(getDomain(fixtureState(), 0).ports[5]).toEqual({ state: 'closed' });
    });
  });
});
