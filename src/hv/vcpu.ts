/**
 * A virtual CPU: its run state, what it waits for, its one-shot timer.
 *
 * A vCPU leaves the physical CPU only at an exit. A handler that must not return to the guest
 * yet (block, poll, yield, stop) records a {@link Wait} in `vcpu.wait` and returns; the engine
 * sees the wait after the handler, takes the vCPU off the CPU, and when the wait ends returns
 * `resumeResult` as the hypercall's result.
 * @module
 */
import { VCPU_INFO_OFF, VCPU_TIME_INFO_OFF } from '../abi/index.ts';
import type { Domain } from './domain.ts';

/** Why a vCPU left the CPU. */
export type Wait =
  | { readonly kind: 'block' }
  | { readonly kind: 'poll'; readonly ports: readonly number[]; readonly deadline: number }
  | { readonly kind: 'yield' }
  | { readonly kind: 'preempt' }
  | { readonly kind: 'stop' };

/** Shared wait objects for the kinds that carry no data (no allocation on the hot path). */
export const WAIT_BLOCK: Wait = Object.freeze({ kind: 'block' });
/** See {@link WAIT_BLOCK}. */
export const WAIT_YIELD: Wait = Object.freeze({ kind: 'yield' });
/** See {@link WAIT_BLOCK}. */
export const WAIT_PREEMPT: Wait = Object.freeze({ kind: 'preempt' });
/** See {@link WAIT_BLOCK}. */
export const WAIT_STOP: Wait = Object.freeze({ kind: 'stop' });

/** How a vCPU enters the guest when it starts (not when it resumes). */
export interface VcpuEntry {
  /** vCPU 0 calls `_start(arg)`; others `pv_vcpu_entry(fn, arg)` on `stack`. */
  readonly fn: number;
  /** Initial stack pointer (secondary vCPUs). */
  readonly stack: number;
  /** Argument. */
  readonly arg: number;
}

/** One vCPU of a domain. */
export class Vcpu {
  /** Owning domain. */
  readonly domain: Domain;
  /** Index within the domain (0 = boot vCPU). */
  readonly index: number;
  /** Up (brought up and not taken down). */
  up = false;
  /** Entered the guest since it was last brought up (so the next run resumes rather than starts). */
  started = false;
  /** Where it starts. */
  entry: VcpuEntry = { fn: 0, stack: 0, arg: 0 };
  /** What it waits for while off the CPU; null while runnable or running. */
  wait: Wait | null = null;
  /** Sitting in the scheduler's run queue. */
  queued = false;
  /** Result handed back to the guest when the wait ends. */
  resumeResult = 0;
  /** One-shot timer deadline in virtual ns; 0 = not armed. */
  timer = 0;
  /** Inside the guest's upcall handler (blocking calls are refused). */
  inUpcall = false;
  /** Inside a multicall batch (blocking calls are refused). */
  inMulticall = false;
  /** The engine's per-vCPU state (instance, exports); opaque to the core. */
  engine: unknown = undefined;
  /** Byte address of this vCPU's `evtchn_upcall_pending` (precomputed: read at every VM entry). */
  readonly upcallPendingAddr: number;
  /** Byte address of this vCPU's `evtchn_upcall_mask`. */
  readonly upcallMaskAddr: number;
  /** i32 index of this vCPU's time record `version` (system_time is at +2). */
  readonly timeIdx: number;

  /** Creates a vCPU (down). */
  constructor(domain: Domain, index: number) {
    this.domain = domain;
    this.index = index;
    this.upcallPendingAddr = domain.upcallPendingAddr(index);
    this.upcallMaskAddr = domain.upcallMaskAddr(index);
    this.timeIdx = (domain.vcpuInfo(index) + VCPU_INFO_OFF.time + VCPU_TIME_INFO_OFF.version) >>> 2;
  }

  /** True when the vCPU waits in `sched_block` or `sched_poll`. */
  get blocked(): boolean {
    return this.wait !== null && (this.wait.kind === 'block' || this.wait.kind === 'poll');
  }
}
