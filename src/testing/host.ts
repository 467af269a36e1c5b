/**
 * The plug-in point of the property-testing toolkit: what a host must offer so that the
 * model-based properties ({@link modelRun}) can drive it and compare it with the reference model.
 *
 * pvisor's own core satisfies it through {@link hvHost}; the reference model through
 * {@link modelHost}. A user who writes a variant (a new scheduler, a different event-channel
 * implementation, a hypervisor of their own that claims the same ABI) writes one adapter of this
 * shape and runs the same properties against it. See docs/property-testing.md.
 * @module
 */
import type { ModelDomainConfig, ModelLoader, Observation } from '../../spec/model/index.ts';

/**
 * A host under test, driven directly (no Wasm guest): it makes hypercalls on behalf of a given
 * vCPU, reports its observable state in the model's {@link Observation} shape, and lets the
 * harness write guest memory the way a guest would.
 *
 * Domains are the ones the factory was given ({@link HostFactory}), with the same ids, and those
 * a controlling domain's DOMCTL_CREATE makes later (numbered on from the highest id, as the model
 * numbers them; see {@link HostUnderTest.loader}).
 */
export interface HostUnderTest {
  /**
   * Makes a call from (dom, vcpu) with raw i32 args and returns its result. For a call that would
   * block, the host returns after recording the block (the harness only makes blocking calls when
   * the model says they return at once). For a call that does not return (sched_shutdown,
   * vcpu_down of self) the result is ignored.
   */
  call(dom: number, vcpu: number, nr: number, args: number[]): number;
  /** The observable state, same shape as the model's `observe(state)`. */
  observe(): Observation;
  /** A guest memory write (pointer arguments, and guest-side writes to shared_info). */
  writeMem(dom: number, addr: number, bytes: Uint8Array): void;
  /** Size of the domain's memory in bytes. */
  memSize(dom: number): number;
  /** Guest address of the domain's shared_info page (where guest-side bit writes go). */
  sharedInfoAddr(dom: number): number;
  /**
   * Optional: reads guest memory. When present, the harness also checks the bytes each call
   * writes (evtchn_status structs, multicall results).
   */
  readMem?(dom: number, addr: number, len: number): Uint8Array;
  /**
   * Optional: system time moves on to `now` (ns, never backwards) and expired one-shot timers
   * fire, as the model's `fireTimers` states. When present, the harness generates "time passes"
   * commands, so `set_timer` deadlines are reached; without it timers are only armed and
   * cancelled.
   */
  advanceTime?(now: number): void;
  /**
   * Optional, with {@link HostUnderTest.wakeResult}: whether vCPU (dom, vcpu) waits in
   * sched_block or sched_poll. When both are present the harness also makes calls that block,
   * and checks that the host wakes the vCPU exactly when the model does, with the same result.
   */
  isBlocked?(dom: number, vcpu: number): boolean;
  /** Optional: the result the vCPU's last ended wait returns to the guest (see isBlocked). */
  wakeResult?(dom: number, vcpu: number): number;
  /**
   * Optional: guest address of the domain's start_info page. The host writes there on its own
   * (domctl results for the target: mem_target, max_mem, shutdown request, vcpus_held, the device
   * manifest) and the model does not state those bytes, so with `readMem` the harness copies the
   * page from the host into the model's memory after every call; calls that read it (a
   * console_write of the top page) then see the same bytes on both sides. The fields the model
   * does state are compared through {@link HostUnderTest.observe}.
   */
  startInfoAddr?(dom: number): number;
  /**
   * Optional: what the host's DOMCTL_CREATE loader accepts, for the model. Absent: the host has
   * no loader (DOMCTL_CREATE returns EOPNOTSUPP after its other checks, as on the bare core).
   */
  readonly loader?: ModelLoader;
  /**
   * Optional: the domain crashes (a fault of its own, as a trap would make it), for properties
   * that need domains to end other than by a call (the conservation property). The model has no
   * such event, so model-based runs never use it.
   */
  crash?(dom: number): void;
}

/** Builds a fresh host with exactly these domains (the harness makes one per command sequence). */
export type HostFactory = (domains: readonly ModelDomainConfig[]) => HostUnderTest;
