/**
 * The hypercall handlers: one method per call of spec/abi.json, plugged into the generated
 * dispatcher. Each validates its arguments before touching state and returns an ABI error code
 * for a guest mistake; nothing a guest passes can make a handler throw. A handler that must take
 * the vCPU off the CPU records a wait on it (see vcpu.ts) and returns.
 * @module
 */
import {
  ABI_VERSION, CALLS, CONSOLE_IO_MAX, EBUSY, EDEADLK, EFAULT, EINVAL, ENOSYS, ETIMEDOUT,
  FEATURE_EVTCHN_2LEVEL, FEATURE_TIME_RECORD, FEATURE_VCPU_HOTPLUG, Hc, MULTICALL_ENTRY_OFF,
  MULTICALL_ENTRY_SIZE, MULTICALL_MAX, NR_EVENT_CHANNELS, POLL_MAX_PORTS, SHUTDOWN_CRASH,
  SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, VIRQ_TIMER, WALLCLOCK_OFF, WALLCLOCK_SIZE, callName,
} from '../abi/index.ts';
import type { GuestAddr, HypercallHandlers } from '../abi/index.ts';
import { domctl } from './domctl.ts';
import * as evtchn from './evtchn.ts';
import * as grant from './grant.ts';
import * as reservation from './reservation.ts';
import type { Hypervisor } from './hypervisor.ts';
import { WAIT_BLOCK, WAIT_STOP, WAIT_YIELD } from './vcpu.ts';
import type { Vcpu } from './vcpu.ts';

/** Call numbers that may block (refused inside an upcall or a multicall). */
const BLOCKING = new Set(CALLS.filter((c) => c.blocking).map((c) => c.nr));

/** Builds the handler table for a hypervisor. */
export function makeHandlers(hv: Hypervisor): HypercallHandlers<Vcpu> {
  const h: HypercallHandlers<Vcpu> = {
    version: () => ABI_VERSION,

    probe: (_v, id) => {
      // grant_map is numbered but absent on this host (spec: "`probe` reports it absent").
      if (id < 0x10000) return id !== 0 && id !== Hc.grant_map && callName(id) !== undefined ? 1 : 0;
      return id === FEATURE_EVTCHN_2LEVEL || id === FEATURE_TIME_RECORD || id === FEATURE_VCPU_HOTPLUG ? 1 : 0;
    },

    console_write: (v, buf, len) => {
      const n = Math.min(len, CONSOLE_IO_MAX);
      const d = v.domain;
      if (!d.mem.inBounds(buf, n)) return EFAULT;
      hv.consoleOutput(d, d.mem.copyOut(buf, n));
      return n;
    },

    console_read: (v, buf, len) => {
      const n = Math.min(len, CONSOLE_IO_MAX);
      const d = v.domain;
      if (!d.mem.inBounds(buf, n)) return EFAULT;
      const k = Math.min(n, d.consoleIn.length);
      d.mem.copyIn(buf, d.consoleIn.subarray(0, k));
      d.consoleIn = d.consoleIn.subarray(k);
      return k;
    },

    sched_yield: (v) => {
      // Inside an upcall or a multicall the vCPU cannot leave the CPU; yielding is a no-op there.
      if (!v.inUpcall && !v.inMulticall) v.wait = WAIT_YIELD;
      return 0;
    },

    sched_block: (v) => {
      if (v.inUpcall || v.inMulticall) return EDEADLK;
      const d = v.domain;
      // Xen SCHEDOP_block: re-enable delivery, then block only if nothing is pending.
      Atomics.store(d.mem.u8, d.upcallMaskAddr(v.index), 0);
      if (Atomics.load(d.mem.u8, d.upcallPendingAddr(v.index)) !== 0) return 0;
      v.wait = WAIT_BLOCK;
      return 0;
    },

    sched_poll: (v, ports, nrPorts, timeout) => {
      if (v.inUpcall || v.inMulticall) return EDEADLK;
      if (nrPorts === 0 || nrPorts > POLL_MAX_PORTS) return EINVAL;
      const d = v.domain;
      if (!d.mem.inBounds(ports, nrPorts * 4)) return EFAULT;
      if (timeout !== 0 && !d.mem.inBounds(timeout, 8)) return EFAULT;
      const list: number[] = [];
      for (let i = 0; i < nrPorts; i++) {
        const p = d.mem.u32((ports + 4 * i) as GuestAddr);
        if (p >= NR_EVENT_CHANNELS) return EINVAL;
        list.push(p);
      }
      // A null pointer or a deadline of 0 means no timeout (Xen SCHEDOP_poll).
      const t = timeout === 0 ? 0 : d.mem.u64(timeout);
      const deadline = t === 0 ? Infinity : t;
      for (const p of list) if (evtchn.isPending(d, p)) return 0;
      if (deadline <= hv.now) return ETIMEDOUT;
      v.wait = { kind: 'poll', ports: list, deadline };
      return 0;
    },

    sched_shutdown: (v, reason, code) => {
      if (reason !== SHUTDOWN_POWEROFF && reason !== SHUTDOWN_REBOOT && reason !== SHUTDOWN_CRASH) return EINVAL;
      hv.shutdown(v.domain, reason, code);
      v.wait = WAIT_STOP;
      return 0;
    },

    set_timer: (v, deadline) => {
      const d = v.domain;
      if (!d.mem.inBounds(deadline, 8)) return EFAULT;
      const t = d.mem.u64(deadline);
      v.timer = t;
      if (t !== 0 && t <= hv.now) {
        // A deadline already passed fires at once.
        v.timer = 0;
        evtchn.sendVirq(hv, d, VIRQ_TIMER, v.index);
      }
      return 0;
    },

    wallclock: (v, out) => {
      const d = v.domain;
      if (!d.mem.inBounds(out, WALLCLOCK_SIZE)) return EFAULT;
      const ns = hv.wallclock.nsec + (hv.now % 1e9);
      const sec = hv.wallclock.sec + Math.floor(hv.now / 1e9) + Math.floor(ns / 1e9);
      d.mem.setU64((out + WALLCLOCK_OFF.sec) as GuestAddr, sec);
      d.mem.setU32((out + WALLCLOCK_OFF.nsec) as GuestAddr, ns % 1e9);
      d.mem.setU32((out + WALLCLOCK_OFF.pad) as GuestAddr, 0);
      return 0;
    },

    evtchn_alloc_unbound: (v, remoteDom) => evtchn.allocUnbound(hv, v.domain, remoteDom),
    evtchn_bind_interdomain: (v, remoteDom, remotePort) => evtchn.bindInterdomain(hv, v.domain, remoteDom, remotePort),
    evtchn_bind_virq: (v, virq, vcpu) => evtchn.bindVirq(v.domain, virq, vcpu),
    evtchn_bind_ipi: (v, vcpu) => evtchn.bindIpi(v.domain, vcpu),
    evtchn_send: (v, port) => evtchn.send(hv, v.domain, port),
    evtchn_unmask: (v, port) => evtchn.unmask(hv, v.domain, port),
    evtchn_close: (v, port) => evtchn.close(hv, v.domain, port),
    evtchn_status: (v, port, out) => evtchn.status(v.domain, port, out),

    vcpu_up: (v, vcpu, entry, stack, arg) => {
      const d = v.domain;
      // ABI 1.5: only the vCPUs it holds (start_info.vcpus_held, DOMCTL_SET_VCPUS) may come up.
      if (vcpu === 0 || vcpu >= d.vcpusHeld || stack % 16 !== 0) return EINVAL;
      if (stack === 0 || stack > d.mem.size) return EFAULT;
      const t = d.vcpus[vcpu]!;
      if (t.up) return EBUSY;
      if (!d.caps.vcpuEntry) return ENOSYS;
      hv.vcpuUp(t, { fn: entry, stack, arg });
      return 0;
    },

    vcpu_down: (v, vcpu) => {
      const d = v.domain;
      if (vcpu === 0 || vcpu >= d.vcpus.length) return EINVAL;
      const t = d.vcpus[vcpu]!;
      if (!t.up) return 0;
      hv.vcpuDown(t);
      if (t === v) v.wait = WAIT_STOP;
      return 0;
    },

    vcpu_is_up: (v, vcpu) => {
      const d = v.domain;
      if (vcpu >= d.vcpus.length) return EINVAL;
      return d.vcpus[vcpu]!.up ? 1 : 0;
    },

    multicall: (v, calls, nrCalls) => {
      if (nrCalls > MULTICALL_MAX) return EINVAL;
      const d = v.domain;
      if (!d.mem.inBounds(calls, nrCalls * MULTICALL_ENTRY_SIZE)) return EFAULT;
      v.inMulticall = true;
      try {
        for (let i = 0; i < nrCalls; i++) {
          const e = calls + i * MULTICALL_ENTRY_SIZE;
          // Copy the entry out once, then act on the copy.
          const op = d.mem.u32((e + MULTICALL_ENTRY_OFF.op) as GuestAddr);
          const a = e + MULTICALL_ENTRY_OFF.args;
          const a0 = d.mem.u32(a as GuestAddr), a1 = d.mem.u32((a + 4) as GuestAddr), a2 = d.mem.u32((a + 8) as GuestAddr);
          const a3 = d.mem.u32((a + 12) as GuestAddr), a4 = d.mem.u32((a + 16) as GuestAddr);
          const r = op === Hc.multicall || BLOCKING.has(op) ? EDEADLK : hv.hypercall(v, op, a0, a1, a2, a3, a4);
          // A call that does not return (shutdown, vcpu_down of self) ends the batch, result unwritten.
          if (v.wait !== null && v.wait.kind === 'stop') break;
          d.mem.setI32((e + MULTICALL_ENTRY_OFF.result) as GuestAddr, r);
          if (v.wait !== null) break;
        }
      } finally {
        v.inMulticall = false;
      }
      return 0;
    },

    grant_setup: (v, table, nrEntries) => grant.setup(v.domain, table, nrEntries),
    grant_copy: (v, ops, count) => grant.copy(hv, v.domain, ops, count),
    // Two separate Wasm memories cannot share a page: there is nothing to map into.
    grant_map: () => ENOSYS,

    domctl: (v, op) => domctl(hv, v, op),

    decrease_reservation: (v, frame, nrFrames) => reservation.decrease(hv, v.domain, frame, nrFrames),
    increase_reservation: (v, frame, nrFrames) => reservation.increase(hv, v.domain, frame, nrFrames),
  };
  return h;
}
