/**
 * The reference model behind the {@link HostUnderTest} interface: a "host" whose every call is
 * `step` of the model, with byte images of each domain's memory so that pointer arguments and
 * guest writes to shared_info behave as they do on a real host.
 *
 * It serves twice in the model-based harness: as the model side of every run (the harness reads
 * its state to choose arguments and compares against it), and as a host under test, to check the
 * harness itself (model vs model must agree; a deliberately broken step must be caught).
 * @module
 */
import { SHARED_INFO_SIZE } from '../abi/generated/index.ts';
import {
  applyBytes,
  fireTimers,
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
  type ModelLoader,
  type ModelState,
  type ModelStep,
  type ModelWrite,
} from '../../spec/model/index.ts';
import type { HostUnderTest } from './host.ts';

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
  /** Time moves on to `now`: the model's `fireTimers` (always present on the model). */
  advanceTime(now: number): void;
  /**
   * Loads a whole memory image (from the host under test: its start_info page, wallclock fields
   * and other bytes the model does not state) without changing the model state; the modelled
   * shared_info fields are then rewritten from the state.
   */
  loadImage(dom: number, bytes: Uint8Array): void;
  /** Whether the vCPU waits in sched_block / sched_poll in the model state. */
  isBlocked(dom: number, vcpu: number): boolean;
  /** The result of the vCPU's last ended wait (from the model's wakes). */
  wakeResult(dom: number, vcpu: number): number;
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
  /** What the host's DOMCTL_CREATE loader accepts (default: no loader; see HostUnderTest.loader). */
  readonly loader?: ModelLoader;
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
  let state: ModelState = opts.loader === undefined ? initialState(domains) : { ...initialState(domains), loader: opts.loader };
  const wakeResults = new Map<string, number>();
  const noteWakes = (wakes: readonly { dom: number; vcpu: number; result: number }[] | undefined): void => {
    for (const k of wakes ?? []) wakeResults.set(`${k.dom}.${k.vcpu}`, k.result);
  };

  const image = (dom: number): Uint8Array => {
    const img = images.get(dom);
    if (img === undefined) throw new Error(`modelHost: no domain ${dom}`);
    return img;
  };
  // Domains DOMCTL_CREATE made get a zeroed image (the harness loads the host's bytes into it) and
  // pvisor's layout (shared_info below the top page): the step runs before the host has made its
  // copy of the domain, so there is nothing to ask yet.
  const adoptNew = (): void => {
    for (const d of state.domains) {
      if (images.has(d.id)) continue;
      images.set(d.id, new Uint8Array(d.memSize));
      sharedAt.set(d.id, defaultSharedInfoAddr({ id: d.id, memSize: d.memSize, nrVcpus: d.nrVcpus }));
    }
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

  // Every domain's memory as the model sees it: its image, with the other domains' images for the
  // calls that reach into them (grant_copy).
  const foreign = (id: number) => (images.has(id) ? memoryOf(image(id), shared(id)) : undefined);
  const memOf = (dom: number) => memoryOf(image(dom), shared(dom), foreign);

  const doStep = (dom: number, vcpu: number, nr: number, args: number[]): ModelStep => {
    const before = state;
    const r = stepFn(state, { dom, vcpu }, nr, args, memOf(dom));
    state = r.state;
    adoptNew();
    noteWakes(r.wakes);
    // The step already took in writes that land on shared_info; copy every write into the image,
    // then re-derive the shared_info bytes of every domain the call changed (it may have raised
    // events in others). Unchanged domains keep their object, so a reference check suffices.
    for (const w of r.writes ?? []) applyBytes(image(w.dom ?? dom), 0, w.addr, w.bytes);
    state.domains.forEach((d) => {
      if (!before.domains.includes(d)) syncShared(d.id);
    });
    return r;
  };

  return {
    get state() {
      return state;
    },
    ...(opts.loader !== undefined ? { loader: opts.loader } : {}),
    step: doStep,
    peek: (dom, vcpu, nr, args, prepare) =>
      stepFn(state, { dom, vcpu }, nr, args, overlay(memOf(dom), prepare)),
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
    loadImage(dom, bytes) {
      image(dom).set(bytes.subarray(0, image(dom).length));
      syncShared(dom);
    },
    advanceTime(now) {
      const before = state;
      const delivery = fireTimers(state, now);
      state = delivery.state;
      noteWakes(delivery.wakes);
      state.domains.forEach((d, i) => {
        if (d !== before.domains[i]) syncShared(d.id);
      });
    },
    isBlocked: (dom, vcpu) => getDomain(state, dom).vcpus[vcpu]?.blocked != null,
    wakeResult: (dom, vcpu) => wakeResults.get(`${dom}.${vcpu}`) ?? 0,
    memSize: (dom) => image(dom).length,
    sharedInfoAddr: shared,
    readMem: (dom, addr, len) => image(dom).slice(addr, addr + len),
  };
}
