/**
 * A {@link HostUnderTest} over pvisor's own hypervisor core (src/hv), driven directly without
 * Wasm guests: bare domains whose vCPUs make hypercalls through `Hypervisor.hypercall`, exactly as
 * the engine's trap would.
 *
 * ```ts
 * modelRun(hvHost, { seed: 42, numRuns: 200 });
 * ```
 * @module
 */
import {
  DEVICE_INFO_OFF,
  DEVICE_INFO_SIZE,
  DEVICE_NONE,
  START_INFO_OFF,
  EVTCHNSTAT_DEVICE,
  EVTCHNSTAT_INTERDOMAIN,
  EVTCHNSTAT_IPI,
  EVTCHNSTAT_UNBOUND,
  EVTCHNSTAT_VIRQ,
} from '../abi/generated/index.ts';
import type { ModelDomainConfig, ObservedDomain, ObservedPort } from '../../spec/model/index.ts';
import { DomainConfigError, Hypervisor, type Domain, type PluggableDevice } from '../hv/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { HostUnderTest } from './host.ts';
import { FAKE_GUEST_IMAGE, FAKE_LOADER } from './fake-image.ts';

/**
 * A device for model-based runs: a window that reads 0 and ignores writes, and can move between
 * domains (DOMCTL_ATTACH_DEVICE / DETACH); `resets` counts the resets a move does.
 */
export class FakeDevice implements PluggableDevice {
  /** Window size. */
  readonly size = 0x100;
  /** Resets so far (one per move). */
  resets = 0;
  /** A device named `name` of manifest type `type`. */
  constructor(
    readonly name: string,
    readonly type: number,
  ) {}
  /** Reads 0. */
  read32(): number {
    return 0;
  }
  /** Ignores the write. */
  write32(): void {}
  /** A move resets it; it has no state to point at the new memory. */
  rebind(): void {
    this.resets++;
  }
}

/**
 * {@link hvHost}'s loader (Hypervisor.loader): builds a bare domain from the request when the
 * image is {@link FAKE_GUEST_IMAGE} and the host can make a domain of that shape; otherwise the
 * problems, as a real loader reports them.
 */
export function fakeLoader(hv: Hypervisor): NonNullable<Hypervisor['loader']> {
  return ({ image, opts }) => {
    if (image.length !== FAKE_GUEST_IMAGE.length || image.some((b, i) => b !== FAKE_GUEST_IMAGE[i])) return { problems: ['not the fake test image'] };
    try {
      const d = hv.createDomain(opts);
      d.caps = { upcall: true, vcpuEntry: true };
      return d;
    } catch (e) {
      if (e instanceof DomainConfigError) return { problems: [e.message] };
      throw e;
    }
  };
}

function bitList(d: Domain, wordIdx: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < 32; w++) {
    const word = (d.mem.i32[wordIdx + w] ?? 0) >>> 0;
    for (let b = 0; b < 32; b++) if (((word >>> b) & 1) === 1) out.push(w * 32 + b);
  }
  return out;
}

/** The ports of a host domain in the model's observation shape (closed ports left out). */
export function observedPorts(d: Domain): ObservedPort[] {
  const out: ObservedPort[] = [];
  d.ports.forEach((p, port) => {
    if (p === undefined) return;
    if (p.state === EVTCHNSTAT_UNBOUND) out.push({ port, state: 'unbound', remoteDom: p.remoteDom, vcpu: p.vcpu });
    else if (p.state === EVTCHNSTAT_INTERDOMAIN) {
      out.push({ port, state: 'interdomain', remoteDom: p.remoteDom, remotePort: p.remotePort, vcpu: p.vcpu });
    } else if (p.state === EVTCHNSTAT_VIRQ) out.push({ port, state: 'virq', virq: p.virq, vcpu: p.vcpu });
    else if (p.state === EVTCHNSTAT_IPI) out.push({ port, state: 'ipi', vcpu: p.vcpu });
    else if (p.state === EVTCHNSTAT_DEVICE) out.push({ port, state: 'device', vcpu: p.vcpu });
  });
  return out;
}

/**
 * A host domain in the model's observation shape: status, per-vCPU upcall bits, pending_sel and
 * timer (read from shared_info, where the guest sees them), ports, pending and mask bits, the
 * console text passed in (latin1), where its grant table is, and what `domctl` set (privilege,
 * paused, max_mem, memory target, shutdown request).
 */
export function observeDomain(d: Domain, console: string): ObservedDomain {
  const si = d.layout.startInfo;
  const u32 = (addr: number) => d.mem.u32(addr as GuestAddr);
  // The manifest and counts as the guest reads them (start_info and the device_info entries).
  const devices: ({ name: string; type: number; port: number } | null)[] = [];
  const nr = u32(si + START_INFO_OFF.nr_devices);
  const table = u32(si + START_INFO_OFF.devices);
  for (let i = 0; i < nr; i++) {
    const e = table + i * DEVICE_INFO_SIZE;
    const type = u32(e + DEVICE_INFO_OFF.type);
    if (type === DEVICE_NONE) {
      devices.push(null);
      continue;
    }
    const raw = d.mem.u8.subarray(e + DEVICE_INFO_OFF.name, e + DEVICE_INFO_OFF.name + 16);
    const end = raw.indexOf(0);
    devices.push({ name: Buffer.from(raw.subarray(0, end < 0 ? 16 : end)).toString('latin1'), type, port: u32(e + DEVICE_INFO_OFF.evtchn) });
  }
  return {
    id: d.id,
    // A crash ends a domain as a shutdown does (the model has no crash; only the conservation property makes one).
    status: d.state === 'shutdown' || d.state === 'crashed' ? 'shutdown' : 'running',
    vcpus: d.vcpus.map((v, i) => ({
      up: v.up,
      upcallPending: d.mem.u8[d.upcallPendingAddr(i)] !== 0,
      upcallMask: d.mem.u8[d.upcallMaskAddr(i)] !== 0,
      pendingSel: (d.mem.i32[d.pendingSelIdx(i)] ?? 0) >>> 0,
      timer: v.timer,
    })),
    ports: observedPorts(d),
    pending: bitList(d, d.pendingIdx),
    mask: bitList(d, d.maskIdx),
    console,
    grantTable: { table: d.grantTable as number, nrEntries: d.grantEntries },
    privileged: d.privileged,
    paused: d.state === 'paused',
    maxMem: d.maxMem,
    memTarget: d.memTarget,
    shutdownRequest: d.shutdownRequest,
    ballooned: [...d.ballooned].sort((a, b) => a - b),
    vcpusHeld: u32(si + START_INFO_OFF.vcpus_held),
    devicesGeneration: u32(si + START_INFO_OFF.devices_generation),
    devices,
  };
}

/**
 * The real hypervisor with bare domains shaped like `domains`. The host numbers domains from 1,
 * so `domains` must have ids 1..n in order (as {@link DEFAULT_DOMAINS} does) with one memory size
 * and one vCPU count (`privileged` and `devices` may differ: those domains are created
 * controlling, and each device is a {@link FakeDevice} plugged in before anything runs). Domains
 * a `domctl` destroyed leave the observation, as they leave the model's state; domains
 * DOMCTL_CREATE made join it. Its loader is {@link fakeLoader} (the model is told with
 * {@link HostUnderTest.loader}). Every domain is marked as having an upcall handler and a vCPU
 * entry point (as a guest linked with the guest kit has).
 *
 * @throws Error when `domains` is not of that shape (a harness mistake, not a host bug)
 */
export function hvHost(domains: readonly ModelDomainConfig[]): HostUnderTest {
  const first = domains[0];
  if (first === undefined) throw new Error('hvHost: no domains');
  domains.forEach((d, i) => {
    if (d.id !== i + 1 || d.memSize !== first.memSize || d.nrVcpus !== first.nrVcpus) {
      throw new Error('hvHost: domains must be ids 1..n with one memory size and vCPU count');
    }
  });
  const out = new Map<Domain, string>();
  const hv = new Hypervisor({
    console: (d, b) => out.set(d, (out.get(d) ?? '') + Buffer.from(b).toString('latin1')),
    log: () => {},
  });
  hv.loader = fakeLoader(hv);
  const doms = domains.map((d) => hv.createDomain({ name: d.name ?? `d${d.id}`, memBytes: d.memSize, vcpus: d.nrVcpus, cmdline: '', privileged: d.privileged === true }));
  doms.forEach((d, i) => {
    d.caps = { upcall: true, vcpuEntry: domains[0]?.canStartVcpus !== false };
    for (const x of domains[i]?.devices ?? []) {
      if (hv.plugDevice(d, new FakeDevice(x.name, x.type)) < 0) throw new Error(`hvHost: cannot plug device ${x.name} into domain ${d.id}`);
    }
  });
  const byId = (id: number): Domain => {
    const d = hv.domain(id);
    if (d === undefined) throw new Error(`hvHost: no domain ${id}`);
    return d;
  };
  return {
    loader: FAKE_LOADER,
    call(dom, vcpu, nr, args) {
      const v = byId(dom).vcpus[vcpu];
      if (v === undefined) throw new Error(`hvHost: no vCPU ${dom}.${vcpu}`);
      const a = [...args, 0, 0, 0, 0, 0];
      const r = hv.hypercall(v, nr, a[0]! | 0, a[1]! | 0, a[2]! | 0, a[3]! | 0, a[4]! | 0);
      // Without an engine nobody takes a yielding vCPU off the CPU and back; do what the engine
      // would, or the vCPU's next multicall would stop after its first entry.
      if (v.wait?.kind === 'yield') v.wait = null;
      return r;
    },
    observe: () => ({ domains: hv.domains.map((d) => observeDomain(d, out.get(d) ?? '')), freeFrames: hv.freeFrames, freeVcpus: hv.freeVcpus }),
    writeMem: (dom, addr, bytes) => byId(dom).mem.u8.set(bytes, addr),
    memSize: (dom) => byId(dom).mem.size,
    sharedInfoAddr: (dom) => byId(dom).layout.sharedInfo,
    startInfoAddr: (dom) => byId(dom).layout.startInfo,
    readMem: (dom, addr, len) => byId(dom).mem.u8.slice(addr, addr + len),
    advanceTime(now) {
      hv.now = now;
      hv.fireTimers();
    },
    isBlocked: (dom, vcpu) => byId(dom).vcpus[vcpu]?.blocked === true,
    wakeResult: (dom, vcpu) => byId(dom).vcpus[vcpu]?.resumeResult ?? 0,
    crash: (dom) => hv.crash(byId(dom), 'crashed by the harness'),
  };
}
