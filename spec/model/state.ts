/**
 * The abstract state of the reference model, and the small immutable updates the calls are
 * written with.
 *
 * The model is a pure statement of the hypercall ABI (spec/abi.json): a state is a plain JSON-like
 * value, nothing in it is ever mutated, and every change produces a new value. Only what a call's
 * `doc`, `returns` and `errors` talk about is here: domains and their vCPUs, event-channel ports
 * with their pending and mask bits, timers, the console text, and where each domain's grant table
 * is. Guest memory is not part of the state (the grant entries themselves live there); calls see
 * it through a read-only {@link ModelMemory} view (see `memory.ts`).
 *
 * The per-port pending and mask bits and the per-vCPU `upcallPending`, `upcallMask` and
 * `pendingSel` live in guest memory on a real host (shared_info). The model holds them as plain
 * fields; `shared-info.ts` states how they map to bytes.
 * @module
 */
import { DOMID_SELF, MAX_DEVICES, MAX_VCPUS, NR_EVENT_CHANNELS } from '../../src/abi/generated/index.ts';
import type { ModelMemory } from './memory.ts';

/**
 * One event-channel port, by state. The index of a port in {@link ModelDomain.ports} is its port
 * number. `vcpu` is the vCPU notified when the port fires.
 */
export type ModelPort =
  /** Free (EVTCHNSTAT_CLOSED). Port 0 stays closed forever. */
  | { readonly state: 'closed' }
  /** Allocated by `evtchn_alloc_unbound`, waiting for `remoteDom` to bind (EVTCHNSTAT_UNBOUND). */
  | { readonly state: 'unbound'; readonly remoteDom: number; readonly vcpu: number }
  /** Connected to `remotePort` of domain `remoteDom`, possibly this domain (EVTCHNSTAT_INTERDOMAIN). */
  | { readonly state: 'interdomain'; readonly remoteDom: number; readonly remotePort: number; readonly vcpu: number }
  /** Bound to a virtual interrupt (EVTCHNSTAT_VIRQ). */
  | { readonly state: 'virq'; readonly virq: number; readonly vcpu: number }
  /** Bound for inter-processor interrupts within the domain (EVTCHNSTAT_IPI). */
  | { readonly state: 'ipi'; readonly vcpu: number }
  /**
   * Bound by the host to a device's interrupt (EVTCHNSTAT_DEVICE). No call creates one: the
   * toolstack binds it before the guest runs, so the model meets it only in states built by hand
   * (or observed from a host with devices attached). The guest may close it but not send on it.
   */
  | { readonly state: 'device'; readonly vcpu: number };

/** What a blocked vCPU waits for. */
export type ModelBlock =
  /** In `sched_block`: waits until its `upcallPending` is set. */
  | { readonly kind: 'block' }
  /** In `sched_poll`: waits until one of `ports` is pending, or `deadline` (0 = none) passes. */
  | { readonly kind: 'poll'; readonly ports: readonly number[]; readonly deadline: number };

/** One vCPU. */
export interface ModelVcpu {
  /** Up (running or runnable or blocked) rather than down. */
  readonly up: boolean;
  /** vcpu_info.evtchn_upcall_pending. */
  readonly upcallPending: boolean;
  /** vcpu_info.evtchn_upcall_mask (the guest's "interrupts disabled" flag). */
  readonly upcallMask: boolean;
  /** vcpu_info.evtchn_pending_sel, a u32 (bit i: word i of the pending bitmap may hold ports). */
  readonly pendingSel: number;
  /** Absolute deadline of the one-shot timer in ns of system time; 0 = not armed. */
  readonly timer: number;
  /** The blocking call the vCPU is waiting in, or null when it is not blocked. */
  readonly blocked: ModelBlock | null;
}

/** The shutdown record of a domain that called `sched_shutdown`. */
export interface ModelShutdown {
  /** SHUTDOWN_* value. */
  readonly reason: number;
  /** The exit code for the toolstack (an i32). */
  readonly code: number;
}

/**
 * Where a domain's v1 grant table is, as `grant_setup` registered it: `nrEntries` grant_entry_v1
 * at guest address `table` of its own memory. `nrEntries` 0 (and `table` 0) = none registered.
 */
export interface ModelGrantTable {
  /** Guest address of entry 0. */
  readonly table: number;
  /** Entries, 0..GRANT_TABLE_MAX. */
  readonly nrEntries: number;
}

/** No grant table registered (the state at boot, and after `grant_setup(_, 0)`). */
export const NO_GRANT_TABLE: ModelGrantTable = Object.freeze({ table: 0, nrEntries: 0 });

/** A device in a manifest entry (the model treats devices abstractly: name, type, interrupt port). */
export interface ModelDevice {
  /** Manifest name (1..15 bytes). */
  readonly name: string;
  /** Manifest type (a VIRTIO_ID_* value). */
  readonly type: number;
  /** Its DEVICE event-channel port in this domain (bound on vCPU 0 when it was plugged in). */
  readonly port: number;
  /** The domain whose DOMCTL_ATTACH_DEVICE moved it here (it goes back there on destroy); absent: none. */
  readonly givenBy?: number;
  /**
   * Its port is no longer its own: the guest closed it and the number went to a device plugged
   * in later (the manifest entry still names the old number). Absent = false.
   */
  readonly portLost?: boolean;
}

/** One domain. */
export interface ModelDomain {
  /** Domain id (below DOMID_SELF). */
  readonly id: number;
  /** Bytes of guest memory. */
  readonly memSize: number;
  /** vCPU slots it was created with (start_info.nr_vcpus, getinfo.max_vcpus; 1..MAX_VCPUS). */
  readonly nrVcpus: number;
  /**
   * vCPUs it holds (start_info.vcpus_held, getinfo.nr_vcpus; 1..nrVcpus, DOMCTL_SET_VCPUS): it may
   * bring up only those below this.
   */
  readonly vcpusHeld: number;
  /** Its name (unique on the host; DOMCTL_CREATE refuses a used one with EEXIST). */
  readonly name: string;
  /**
   * Its device manifest (start_info.nr_devices entries): a device, or null for a DEVICE_NONE entry
   * (the device moved away with DOMCTL_ATTACH_DEVICE / DOMCTL_DETACH_DEVICE).
   */
  readonly devices: readonly (ModelDevice | null)[];
  /** start_info.devices_generation: bumped (u32) by every device move in or out. */
  readonly devicesGeneration: number;
  /**
   * Whether the guest exports `pv_vcpu_entry` and `__stack_pointer`; `vcpu_up` returns ENOSYS
   * otherwise. Not observable: it is a property of the guest image, fixed at creation.
   */
  readonly canStartVcpus: boolean;
  /** 'shutdown' after a successful `sched_shutdown`. */
  readonly status: 'running' | 'shutdown';
  /** Set with status 'shutdown'. */
  readonly shutdown?: ModelShutdown;
  /** One entry per vCPU, index = vCPU id. */
  readonly vcpus: readonly ModelVcpu[];
  /** NR_EVENT_CHANNELS entries, index = port number. */
  readonly ports: readonly ModelPort[];
  /** shared_info.evtchn_pending, one flag per port. */
  readonly pending: readonly boolean[];
  /** shared_info.evtchn_mask, one flag per port. */
  readonly mask: readonly boolean[];
  /** Everything written with `console_write`, one char per byte (latin1). */
  readonly console: string;
  /** The registered grant table (its entries are in guest memory). */
  readonly grantTable: ModelGrantTable;
  /** A controlling domain (start_info.flags has SIF_PRIVILEGED): the only kind that may call `domctl`. */
  readonly privileged: boolean;
  /** Paused by DOMCTL_PAUSE (its vCPUs make no calls until DOMCTL_UNPAUSE). */
  readonly paused: boolean;
  /** start_info.max_mem: the most memory it may hold (DOMCTL_SET_MAX_MEM). */
  readonly maxMem: number;
  /** start_info.mem_target: its balloon target (DOMCTL_SET_MEMORY_TARGET). */
  readonly memTarget: number;
  /** The SHUTDOWN_* reason DOMCTL_REQUEST_SHUTDOWN asked for (start_info.shutdown_reason), -1 = none. */
  readonly shutdownRequest: number;
  /** start_info.reserved_base: frames below it may be handed back (`decrease_reservation`). */
  readonly reservedBase: number;
  /** Frames it handed back and has not taken again, increasing (the rest of its memory it holds). */
  readonly ballooned: readonly number[];
}

/** The whole abstract state. */
export interface ModelState {
  /** Current system time in ns (virtual time). */
  readonly now: number;
  /** All domains, in creation order (destroyed ones are gone). */
  readonly domains: readonly ModelDomain[];
  /**
   * Ids of domains DOMCTL_DESTROY took off the host (never given again). Other domains' unbound
   * ports may still name them, as in Xen. Absent = none.
   */
  readonly destroyed?: readonly number[];
  /**
   * The host's free pool, in frames (GRANT_FRAME_SIZE): what domains handed back and destroyed
   * domains held. 0 at boot.
   */
  readonly freeFrames: number;
  /** The host's free vCPU pool (DOMCTL_SET_VCPUS lowering, destroyed domains). 0 at boot. Absent = 0. */
  readonly freeVcpus?: number;
  /** The id the next DOMCTL_CREATE gives (ids are never given again). Absent = one above the highest id. */
  readonly nextId?: number;
  /**
   * What DOMCTL_CREATE can load (the host's image loader, a host parameter the spec leaves to the
   * host): absent = no loader (EOPNOTSUPP, the bare core).
   */
  readonly loader?: ModelLoader;
}

/**
 * The images a host's loader accepts, for DOMCTL_CREATE: exactly these byte strings (latin1), with
 * memory that leaves a guest room above pvisor's reserved area (mem_bytes at least
 * {@link minGuestMemory}) and that a wasm32 engine can make (at most 4 GiB less one 64 KiB page).
 * Anything else is "not a guest the host can run" (EINVAL).
 */
export interface ModelLoader {
  /** Accepted images, one char per byte (latin1). */
  readonly images: readonly string[];
}

/** pvisor's smallest memory for a domain with `nrVcpus` vCPUs: its reserved bytes plus one Wasm page (src/hv/hypervisor.ts createDomain). */
export function minGuestMemory(nrVcpus: number): number {
  return 2 * 4096 + nrVcpus * 16384 + 65536;
}

/** Who makes a call. */
export interface ModelCaller {
  /** The calling domain's id. */
  readonly dom: number;
  /** The calling vCPU. */
  readonly vcpu: number;
  /**
   * True when the call is made from the guest's upcall handler (`pv_upcall`), where blocking calls
   * return EDEADLK. Absent = false.
   */
  readonly inUpcall?: boolean;
}

/** A byte range a call writes into guest memory: the caller's, or another domain's (`dom`). */
export interface ModelWrite {
  /**
   * The domain whose memory receives the bytes when it is not the caller (only `grant_copy`
   * writes into other domains). Absent = the caller's memory.
   */
  readonly dom?: number;
  /** Guest address of the first byte. */
  readonly addr: number;
  /** The bytes. */
  readonly bytes: Uint8Array;
  /**
   * The content is host-defined (the wallclock value): only `addr` and the length are part of the
   * model; `bytes` holds zeros.
   */
  readonly hostDefined?: boolean;
}

/** A blocked vCPU whose wait ended, and the result its blocking call returns when it resumes. */
export interface ModelWake {
  /** Domain id. */
  readonly dom: number;
  /** vCPU. */
  readonly vcpu: number;
  /** The blocked call's result (0, or ETIMEDOUT for a poll whose deadline passed). */
  readonly result: number;
}

/** The outcome of one call. */
export interface ModelStep {
  /** The call's result (meaningless when `blocks` or `noReturn`). */
  readonly result: number;
  /** The state after the call. */
  readonly state: ModelState;
  /** Bytes written into guest memory (the caller's, or another domain's with `dom`), in order. */
  readonly writes?: readonly ModelWrite[];
  /** The calling vCPU is now blocked; its result comes later, through a {@link ModelWake}. */
  readonly blocks?: boolean;
  /** The call does not return to the caller (shutdown, or taking down the calling vCPU). */
  readonly noReturn?: boolean;
  /** Other vCPUs (or, in a multicall, none) whose blocking call ended during this call. */
  readonly wakes?: readonly ModelWake[];
}

/** The signature every call of the model has. */
export type ModelCall = (s: ModelState, caller: ModelCaller, args: readonly number[], mem: ModelMemory) => ModelStep;

/** How a domain is described when the model starts. */
export interface ModelDomainConfig {
  /** Domain id: unique, below DOMID_SELF. */
  readonly id: number;
  /** Bytes of guest memory. */
  readonly memSize: number;
  /** vCPUs, 1..MAX_VCPUS. */
  readonly nrVcpus: number;
  /** Whether the guest can start secondary vCPUs (default true). */
  readonly canStartVcpus?: boolean;
  /** A controlling domain, allowed to call `domctl` (default false). */
  readonly privileged?: boolean;
  /**
   * start_info.reserved_base (default: where pvisor's host puts it, memSize - 2 pages - 16 KiB per
   * vCPU; see src/hv/layout.ts). A host with another layout passes its own.
   */
  readonly reservedBase?: number;
  /** Its name (default `d<id>`, as pvisor/testing's hvHost names the domains it makes). */
  readonly name?: string;
  /**
   * Devices in its manifest at boot, in order; each gets a DEVICE port on vCPU 0, the lowest free
   * one (1, 2, ... in order), as the host's `plugDevice` binds them. Default none.
   */
  readonly devices?: readonly { readonly name: string; readonly type: number }[];
}

/** pvisor's reserved_base for a domain (src/hv/layout.ts `reservedBytes`). */
export function defaultReservedBase(memSize: number, nrVcpus: number): number {
  return memSize - 2 * 4096 - nrVcpus * 16384;
}

// ---------------------------------------------------------------------------------------------
// Construction

const CLOSED: ModelPort = { state: 'closed' };
const DEVICE_PORT: ModelPort = { state: 'device', vcpu: 0 };

/** A vCPU as the host creates it: down, nothing pending, nothing masked, no timer. */
function newVcpu(up: boolean): ModelVcpu {
  return { up, upcallPending: false, upcallMask: false, pendingSel: 0, timer: 0, blocked: null };
}

/**
 * The state at boot: vCPU 0 of every domain is up (start_info: "vCPU 0 is already running"),
 * the others are down; every port is closed; no pending or mask bit is set; upcall_mask is clear;
 * time is 0.
 *
 * Throws when the configuration itself is impossible (a test bug, not a guest mistake).
 */
export function initialState(domains: readonly ModelDomainConfig[]): ModelState {
  const ids = new Set<number>();
  for (const d of domains) {
    if (!Number.isInteger(d.id) || d.id < 0 || d.id >= DOMID_SELF || ids.has(d.id)) {
      throw new Error(`model.initialState: bad or duplicate domain id ${d.id}`);
    }
    if (!Number.isInteger(d.nrVcpus) || d.nrVcpus < 1 || d.nrVcpus > MAX_VCPUS) {
      throw new Error(`model.initialState: domain ${d.id}: nrVcpus ${d.nrVcpus} not in 1..${MAX_VCPUS}`);
    }
    if (!Number.isInteger(d.memSize) || d.memSize <= 0 || d.memSize > 2 ** 32) {
      throw new Error(`model.initialState: domain ${d.id}: bad memSize ${d.memSize}`);
    }
    if ((d.devices?.length ?? 0) > MAX_DEVICES) throw new Error(`model.initialState: domain ${d.id}: more than ${MAX_DEVICES} devices`);
    ids.add(d.id);
  }
  return {
    now: 0,
    freeFrames: 0,
    freeVcpus: 0,
    nextId: Math.max(0, ...domains.map((d) => d.id)) + 1,
    domains: domains.map(newDomain),
  };
}

/**
 * A domain as the host makes it: vCPU 0 up (start_info: "vCPU 0 is already running"), the others
 * down; it holds all its vCPU slots; its devices' DEVICE ports are 1, 2, ...; every other port is
 * closed, no pending or mask bit set, nothing paused, max and target = its memory.
 */
export function newDomain(d: ModelDomainConfig): ModelDomain {
  return {
    id: d.id,
    memSize: d.memSize,
    nrVcpus: d.nrVcpus,
    vcpusHeld: d.nrVcpus,
    name: d.name ?? `d${d.id}`,
    devices: (d.devices ?? []).map((x, i) => ({ name: x.name, type: x.type, port: i + 1 })),
    devicesGeneration: 0,
    canStartVcpus: d.canStartVcpus ?? true,
    status: 'running',
    vcpus: Array.from({ length: d.nrVcpus }, (_, i) => newVcpu(i === 0)),
    ports: new Array<ModelPort>(NR_EVENT_CHANNELS).fill(CLOSED).map((p, i) => (i >= 1 && i <= (d.devices?.length ?? 0) ? DEVICE_PORT : p)),
    pending: new Array<boolean>(NR_EVENT_CHANNELS).fill(false),
    mask: new Array<boolean>(NR_EVENT_CHANNELS).fill(false),
    console: '',
    grantTable: NO_GRANT_TABLE,
    privileged: d.privileged === true,
    paused: false,
    maxMem: d.memSize,
    memTarget: d.memSize,
    shutdownRequest: -1,
    reservedBase: d.reservedBase ?? defaultReservedBase(d.memSize, d.nrVcpus),
    ballooned: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The domain with id `id`, or undefined. Shut-down domains are found too (see calls.ts). */
export function findDomain(s: ModelState, id: number): ModelDomain | undefined {
  return s.domains.find((d) => d.id === id);
}

/** The domain with id `id`; throws when absent (only for ids the model itself produced). */
export function getDomain(s: ModelState, id: number): ModelDomain {
  const d = findDomain(s, id);
  if (d === undefined) throw new Error(`model: no domain ${id}`);
  return d;
}

/** vCPU `v` of `d`; throws when absent (only for vCPU ids already checked against nrVcpus). */
export function getVcpu(d: ModelDomain, v: number): ModelVcpu {
  const vc = d.vcpus[v];
  if (vc === undefined) throw new Error(`model: domain ${d.id} has no vCPU ${v}`);
  return vc;
}

/** Port `p` of `d` (closed when out of range, so callers check the range first). */
export function getPort(d: ModelDomain, p: number): ModelPort {
  return d.ports[p] ?? CLOSED;
}

/** Resolves DOMID_SELF: "Stands for the calling domain wherever a domain id is expected". */
export function resolveDomid(caller: ModelCaller, domid: number): number {
  return domid === DOMID_SELF ? caller.dom : domid;
}

/** A port number is "in range" when it indexes the port table (0 included: it is always closed). */
export function portInRange(port: number): boolean {
  return port >= 0 && port < NR_EVENT_CHANNELS;
}

// ---------------------------------------------------------------------------------------------
// Immutable updates

/** Replaces the domain with id `id` by `f(domain)`. */
export function updateDomain(s: ModelState, id: number, f: (d: ModelDomain) => ModelDomain): ModelState {
  return { ...s, domains: s.domains.map((d) => (d.id === id ? f(d) : d)) };
}

/** Replaces vCPU `v` of `d` by `f(vcpu)`. */
export function updateVcpu(d: ModelDomain, v: number, f: (vc: ModelVcpu) => ModelVcpu): ModelDomain {
  return { ...d, vcpus: d.vcpus.map((vc, i) => (i === v ? f(vc) : vc)) };
}

/** Sets port `p` of `d`. */
export function setPort(d: ModelDomain, p: number, port: ModelPort): ModelDomain {
  const ports = d.ports.slice();
  ports[p] = port;
  return { ...d, ports };
}

/** Frees port `p` of `d`, leaving its pending and mask bits alone (see evtchn_close). */
export function closePort(d: ModelDomain, p: number): ModelDomain {
  return setPort(d, p, CLOSED);
}

/** Sets or clears the pending bit of port `p`. */
export function setPending(d: ModelDomain, p: number, on: boolean): ModelDomain {
  if (d.pending[p] === on) return d;
  const pending = d.pending.slice();
  pending[p] = on;
  return { ...d, pending };
}

/** Sets or clears the mask bit of port `p`. */
export function setMask(d: ModelDomain, p: number, on: boolean): ModelDomain {
  if (d.mask[p] === on) return d;
  const mask = d.mask.slice();
  mask[p] = on;
  return { ...d, mask };
}

/**
 * The lowest free port, starting at 1, or undefined when the table is full.
 * (NR_EVENT_CHANNELS: "Port 0 is never allocated.")
 */
export function lowestFreePort(d: ModelDomain): number | undefined {
  for (let p = 1; p < NR_EVENT_CHANNELS; p++) {
    if (getPort(d, p).state === 'closed') return p;
  }
  return undefined;
}
