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
  EVTCHNSTAT_DEVICE,
  EVTCHNSTAT_INTERDOMAIN,
  EVTCHNSTAT_IPI,
  EVTCHNSTAT_UNBOUND,
  EVTCHNSTAT_VIRQ,
} from '../abi/generated/index.ts';
import type { ModelDomainConfig, ObservedDomain, ObservedPort } from '../../spec/model/index.ts';
import { Hypervisor, type Domain } from '../hv/index.ts';
import type { HostUnderTest } from './host.ts';

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
  return {
    id: d.id,
    status: d.state === 'shutdown' ? 'shutdown' : 'running',
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
  };
}

/**
 * The real hypervisor with bare domains shaped like `domains`. The host numbers domains from 1,
 * so `domains` must have ids 1..n in order (as {@link DEFAULT_DOMAINS} does) with one memory size
 * and one vCPU count (`privileged` may differ: those domains are created controlling). Domains a
 * `domctl` destroyed leave the observation, as they leave the model's state. Every domain is marked as having an upcall handler and a vCPU entry point
 * (as a guest linked with the guest kit has).
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
  const doms = domains.map((d) => hv.createDomain({ name: `d${d.id}`, memBytes: d.memSize, vcpus: d.nrVcpus, cmdline: '', privileged: d.privileged === true }));
  for (const d of doms) d.caps = { upcall: true, vcpuEntry: domains[0]?.canStartVcpus !== false };
  const byId = (id: number): Domain => {
    const d = doms.find((x) => x.id === id);
    if (d === undefined) throw new Error(`hvHost: no domain ${id}`);
    return d;
  };
  return {
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
    observe: () => ({ domains: doms.filter((d) => hv.domain(d.id) === d).map((d) => observeDomain(d, out.get(d) ?? '')), freeFrames: hv.freeFrames }),
    writeMem: (dom, addr, bytes) => byId(dom).mem.u8.set(bytes, addr),
    memSize: (dom) => byId(dom).mem.size,
    sharedInfoAddr: (dom) => byId(dom).layout.sharedInfo,
    readMem: (dom, addr, len) => byId(dom).mem.u8.slice(addr, addr + len),
    advanceTime(now) {
      hv.now = now;
      hv.fireTimers();
    },
    isBlocked: (dom, vcpu) => byId(dom).vcpus[vcpu]?.blocked === true,
    wakeResult: (dom, vcpu) => byId(dom).vcpus[vcpu]?.resumeResult ?? 0,
  };
}
