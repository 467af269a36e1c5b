/**
 * The hypervisor core (mechanism only): domains, vCPUs, guest memory, event channels, virtual
 * time and timers, the run queue and the hypercall handlers.
 * @module
 */
export { Hypervisor, DomainConfigError, DEFAULT_WALLCLOCK } from './hypervisor.ts';
export type { HypervisorOptions, CreateDomainOptions, DeviceManifestEntry, ImageCreateRequest } from './hypervisor.ts';
export { Domain } from './domain.ts';
export type { DomainState, Port, DomainCaps, MmioExits, PluggableDevice, PluggedDevice } from './domain.ts';
export { Vcpu, WAIT_BLOCK, WAIT_PREEMPT, WAIT_STOP, WAIT_YIELD } from './vcpu.ts';
export type { Wait, VcpuEntry } from './vcpu.ts';
export { GuestMemory, WASM_PAGE } from './memory.ts';
export { layoutFor, reservedBytes, ASYNCIFY_AREA, CMDLINE_OFFSET, DEVICES_OFFSET, PAGE } from './layout.ts';
export type { DomainLayout } from './layout.ts';
export { Scheduler } from './scheduler.ts';
export * as evtchn from './evtchn.ts';
export { MmioBus, MMIO_UNMAPPED } from './mmio.ts';
export type { MmioDevice, MmioWindow } from './mmio.ts';
export type { LegacyMachine, LegacyExits } from './legacy-machine.ts';
export { domainInfo, setMaxMem, setMemoryTarget, requestShutdown, setVcpus, physInfo, MAX_MEM_LIMIT } from './domctl.ts';
export type { DomctlInfo, PhysInfo } from './domctl.ts';
export { populatedBytes, heldFrames, releasableFrames, growMemory, GROW_REFUSED } from './reservation.ts';
