/**
 * The reference model behind the {@link HostUnderTest} interface: a "host" whose every call is
 * `step` of the model, with byte images of each domain's memory so that pointer arguments and
 * guest writes to shared_info behave as they do on a real host.
 *
 * It serves twice in the model-based harness: as the model side of every run (the harness reads
 * its state to choose arguments and compares against it), and as a host under test, to check the
 * harness itself (model vs model must agree; a deliberately broken step must be caught).
 */
import { SHARED_INFO_SIZE } from '../../src/abi/generated/index.ts';
import {
  applyBytes,
  applySharedInfoWrite,
  encodeSharedInfo,
  getDomain,
  initialState,
  memoryOf,
  observe,
  overlay,
  step,
  touchesSharedInfo,
  updateDomain,
  type ModelDomainConfig,
  type ModelState,
  type ModelStep,
  type ModelWrite,
  type Observation,
} from '../../spec/model/index.ts';

/**
 * What the model-based harness needs from a host. The lead plugs the real hypervisor in through
 * this; {@link modelHost} implements it with the reference model.
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
}

/** A model-backed host that also exposes the model's state and the last step. */
export interface ModelHost extends HostUnderTest {
  /** The current model state. */
  readonly state: ModelState;
  /** Calls and returns the whole model step (result, writes, blocks, noReturn, wakes). */
  step(dom: number, vcpu: number, nr: number, args: number[]): ModelStep;
  /**
   * What the call would do if memory first received `prepare`, without doing it (the model is
   * pure, so this is just `step` on the current state). Used to skip calls that would block.
   */
  peek(dom: number, vcpu: number, nr: number, args: number[], prepare: readonly ModelWrite[]): ModelStep;
}

/** The step function a model host runs: the reference `step`, or a deliberately broken variant. */
export type StepFn = typeof step;

/** Options of {@link modelHost}. */
export interface ModelHostOptions {
  /** The step function (default: the reference model's). */
  readonly step?: StepFn;
  /**
   * Where shared_info lives in a domain's memory (default: the page below the top page, as the
   * host's layout puts it).
   */
  readonly sharedInfoAddr?: (dom: ModelDomainConfig) => number;
}

/** The default shared_info address: memSize - 2 pages (src/hv/layout.ts puts it there). */
export function defaultSharedInfoAddr(d: ModelDomainConfig): number {
  return d.memSize - 2 * 4096;
}

/** A host implemented by the reference model. */
export function modelHost(domains: readonly ModelDomainConfig[], opts: ModelHostOptions = {}): ModelHost {
  const stepFn = opts.step ?? step;
  const sharedAt = new Map(domains.map((d) => [d.id, (opts.sharedInfoAddr ?? defaultSharedInfoAddr)(d)]));
  const images = new Map(domains.map((d) => [d.id, new Uint8Array(d.memSize)]));
  let state = initialState(domains);

  const image = (dom: number): Uint8Array => {
    const img = images.get(dom);
    if (img === undefined) throw new Error(`modelHost: no domain ${dom}`);
    return img;
  };
  const shared = (dom: number): number => sharedAt.get(dom) ?? 0;
  // Keeps the shared_info bytes of the image equal to the state (the state is the truth).
  const syncShared = (dom: number): void => {
    const at = shared(dom);
    const img = image(dom);
    if (at + SHARED_INFO_SIZE > img.length) return;
    encodeSharedInfo(getDomain(state, dom), img.subarray(at, at + SHARED_INFO_SIZE));
  };
  for (const d of domains) syncShared(d.id);

  const doStep = (dom: number, vcpu: number, nr: number, args: number[]): ModelStep => {
    const before = state;
    const r = stepFn(state, { dom, vcpu }, nr, args, memoryOf(image(dom), shared(dom)));
    state = r.state;
    // The step already took in writes that land on shared_info; copy every write into the image,
    // then re-derive the shared_info bytes of every domain the call changed (it may have raised
    // events in others). Unchanged domains keep their object, so a reference check suffices.
    for (const w of r.writes ?? []) applyBytes(image(dom), 0, w.addr, w.bytes);
    state.domains.forEach((d, i) => {
      if (d !== before.domains[i]) syncShared(d.id);
    });
    return r;
  };

  return {
    get state() {
      return state;
    },
    step: doStep,
    peek: (dom, vcpu, nr, args, prepare) =>
      stepFn(state, { dom, vcpu }, nr, args, overlay(memoryOf(image(dom), shared(dom)), prepare)),
    call: (dom, vcpu, nr, args) => doStep(dom, vcpu, nr, args).result,
    observe: () => observe(state),
    writeMem(dom, addr, bytes) {
      applyBytes(image(dom), 0, addr, bytes);
      const at = shared(dom);
      if (touchesSharedInfo(at, addr, bytes.length)) {
        state = updateDomain(state, dom, (d) => applySharedInfoWrite(d, at, { addr, bytes }));
        syncShared(dom);
      }
    },
    memSize: (dom) => image(dom).length,
    sharedInfoAddr: shared,
    readMem: (dom, addr, len) => image(dom).slice(addr, addr + len),
  };
}
