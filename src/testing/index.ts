/**
 * `pvisor/testing`: the property-testing toolkit for the pvisor hypercall ABI.
 *
 * - Arbitraries for every hypercall in three flavours ({@link hypercallArbitraries}: valid,
 *   boundary, hostile), for start_info / shared_info / vcpu_info states and for virtqueue
 *   descriptor chains.
 * - {@link modelRun}: random `fc.commands` sequences against a host and the reference model in
 *   `spec/model`, compared after every step; {@link checkModelRun} and {@link formatRegression}
 *   for campaigns and regression tests.
 * - {@link HostUnderTest}: the interface a host satisfies to be tested ({@link hvHost} is pvisor's
 *   core, {@link modelHost} the model itself); plug in your own variant.
 * - {@link hostileGuest}: a generated hypercall program run inside a real Wasm guest on the
 *   deterministic engine, compared with the model (trap path, argument decoding, upcalls).
 *
 * Guide: docs/property-testing.md.
 * @module
 */
export type { HostUnderTest, HostFactory } from './host.ts';
export { modelHost, defaultSharedInfoAddr, type ModelHost, type ModelHostOptions, type StepFn } from './model-host.ts';
export { hvHost, observeDomain, observedPorts, fakeLoader, FakeDevice } from './hv-host.ts';
export { FAKE_GUEST_IMAGE, FAKE_LOADER } from './fake-image.ts';
export { diffObservations } from './diff.ts';
export { DEFAULT_DOMAINS, DEVICE_DOMAINS, hypercallCommands, type CommandsConfig, type ModelWorld } from './commands.ts';
export { modelRun, modelRunProperty, checkModelRun, type ModelRunOptions } from './model-run.ts';
export {
  conservationRun,
  conservationProperty,
  checkConservation,
  recomputeAccounts,
  CONSERVATION_DOMAINS,
  type ConservationOptions,
  type ConservationWorld,
  type Accounts,
} from './conservation.ts';
export { formatRegression, replayPathOf, type RegressionOptions, type RunOutcome } from './regression.ts';
export {
  hypercallArbitraries,
  hypercallArbitrary,
  ARBITRARY_CALLS,
  type ArbitraryContext,
  type CallArbitraries,
  type HypercallArbitraryTable,
  type Flavour,
  type HypercallInput,
  type MemoryWrite,
} from './arbitraries/calls.ts';
export {
  vcpuInfoArb,
  sharedInfoArb,
  sharedInfoBytesArb,
  startInfoArb,
  modelStateArb,
  encodeVcpuInfo,
  encodeSharedInfoValue,
  encodeStartInfo,
  type VcpuInfoValue,
  type SharedInfoValue,
  type WallclockValue,
  type StartInfoValue,
  type ModelStateArbOptions,
} from './arbitraries/state.ts';
export {
  chainSpecArb,
  chainShapeArb,
  malformedChainArb,
  layoutMalformedChain,
  rawDescriptorArb,
  ringScribbleArb,
  CHAIN_FAULTS,
  HOSTILE_TABLES,
  type DescriptorChainSpec,
  type ChainSpecOptions,
  type ChainShape,
  type ChainShapeOptions,
  type ChainFault,
  type MalformedChainPlan,
  type MalformedChainOptions,
  type MalformedChainContext,
  type MalformedChainLayout,
  type RawDescriptor,
  type RawDescriptorLayout,
  type RingScribble,
} from './arbitraries/virtq.ts';
export {
  hostileGuest,
  hostileGuestImage,
  HOSTILE_GUEST_CONTEXT,
  HOSTILE_GUEST_MEM,
  type HostileGuestOptions,
  type HostileGuestReport,
  type HostileCallOutcome,
  type SkippedCall,
} from './hostile-guest.ts';
export { HOSTILE_GUEST_WAT } from './hostile-guest-wat.ts';
/**
 * The reference model of spec/model (step, fireTimers, observe, invariants, initialState,
 * CALL_TABLE, …), for properties written directly against it.
 */
export * as model from '../../spec/model/index.ts';
export type {
  ModelCaller,
  ModelDomainConfig,
  ModelMemory,
  ModelState,
  ModelStep,
  ModelWrite,
  Observation,
  ObservedDomain,
  ObservedPort,
  ObservedVcpu,
} from '../../spec/model/index.ts';
/** The generated ABI constants (Hc call numbers, error codes, struct sizes and offsets). */
export * as abi from '../abi/index.ts';
