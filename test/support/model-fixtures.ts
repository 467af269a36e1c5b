/**
 * Small helpers for driving the reference model by hand in tests: a default world, a memory, and
 * a `call` that threads the state.
 */
import {
  initialState,
  memoryOf,
  step,
  type ModelCaller,
  type ModelDomainConfig,
  type ModelMemory,
  type ModelState,
  type ModelStep,
} from '../../spec/model/index.ts';

/** Default memory size of fixture domains (64 KiB). */
export const FIXTURE_MEM = 64 * 1024;

/** Three domains (ids 0, 1, 2), two vCPUs each, FIXTURE_MEM bytes each. */
export const FIXTURE_DOMAINS: readonly ModelDomainConfig[] = [0, 1, 2].map((id) => ({
  id,
  memSize: FIXTURE_MEM,
  nrVcpus: 2,
}));

/** The initial state of {@link FIXTURE_DOMAINS}. */
export function fixtureState(): ModelState {
  return initialState(FIXTURE_DOMAINS);
}

/** A zeroed memory of `size` bytes with optional initial contents at given addresses. */
export function fixtureMemory(size = FIXTURE_MEM, at: readonly [number, Uint8Array][] = []): ModelMemory {
  const bytes = new Uint8Array(size);
  for (const [addr, b] of at) bytes.set(b, addr);
  return memoryOf(bytes);
}

/** Little-endian u64 bytes. */
export function u64Bytes(v: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v), true);
  return out;
}

/** Calls `nr` from `caller` (vCPU 0 of domain `caller` when a number), with zero-filled memory by default. */
export function call(
  s: ModelState,
  caller: number | ModelCaller,
  nr: number,
  args: readonly number[] = [],
  mem: ModelMemory = fixtureMemory(),
): ModelStep {
  const c = typeof caller === 'number' ? { dom: caller, vcpu: 0 } : caller;
  return step(s, c, nr, args, mem);
}

/** Calls and returns the new state, failing the test when the result is not `expected`. */
export function expectCall(
  s: ModelState,
  caller: number | ModelCaller,
  nr: number,
  args: readonly number[],
  expected: number,
  mem?: ModelMemory,
): ModelState {
  const r = call(s, caller, nr, args, mem);
  if (r.result !== expected) {
    throw new Error(`call ${nr}(${args.join(', ')}) returned ${r.result}, expected ${expected}`);
  }
  return r.state;
}
