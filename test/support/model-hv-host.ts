/**
 * A {@link HostUnderTest} over the real hypervisor core (src/hv), driven directly without Wasm
 * guests: the adapter the model-based harness needs to compare the host with the reference model.
 *
 * Used by test/model/evtchn-host.model.test.ts:
 * ```ts
 * runModelBased(hvHost, { seed: modelSeed(), numRuns: 200 });
 * ```
 */
import { EVTCHNSTAT_DEVICE, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI, EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ } from '../../src/abi/generated/index.ts';
import type { ModelDomainConfig, ObservedDomain, ObservedPort } from '../../spec/model/index.ts';
import type { Domain } from '../../src/hv/index.ts';
import { call, makeHv } from './hv.ts';
import type { HostUnderTest } from './model-host.ts';

function bitList(d: Domain, wordIdx: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < 32; w++) {
    const word = (d.mem.i32[wordIdx + w] ?? 0) >>> 0;
    for (let b = 0; b < 32; b++) if (((word >>> b) & 1) === 1) out.push(w * 32 + b);
  }
  return out;
}

function observedPorts(d: Domain): ObservedPort[] {
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
 * The real hypervisor with bare domains shaped like `domains`. The host numbers domains from 1,
 * so `domains` must have ids 1..n in order (as DEFAULT_DOMAINS does) and one memory size.
 */
export function hvHost(domains: readonly ModelDomainConfig[]): HostUnderTest {
  const first = domains[0];
  if (first === undefined) throw new Error('hvHost: no domains');
  domains.forEach((d, i) => {
    if (d.id !== i + 1 || d.memSize !== first.memSize || d.nrVcpus !== first.nrVcpus) {
      throw new Error('hvHost: domains must be ids 1..n with one memory size and vCPU count');
    }
  });
  const { hv, doms, out } = makeHv(domains.length, { memBytes: first.memSize, vcpus: first.nrVcpus });
  const byId = (id: number): Domain => {
    const d = doms.find((x) => x.id === id);
    if (d === undefined) throw new Error(`hvHost: no domain ${id}`);
    return d;
  };
  return {
    call(dom, vcpu, nr, args) {
      const v = byId(dom).vcpus[vcpu];
      if (v === undefined) throw new Error(`hvHost: no vCPU ${dom}.${vcpu}`);
      const r = call(hv, v, nr, ...args);
      // Without an engine nobody takes a yielding vCPU off the CPU and back; do what the engine
      // would, or the vCPU's next multicall would stop after its first entry.
      if (v.wait?.kind === 'yield') v.wait = null;
      return r;
    },
    observe: () => ({
      domains: doms.map(
        (d): ObservedDomain => ({
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
          console: out.get(d.name) ?? '',
        }),
      ),
    }),
    writeMem: (dom, addr, bytes) => byId(dom).mem.u8.set(bytes, addr),
    memSize: (dom) => byId(dom).mem.size,
    sharedInfoAddr: (dom) => byId(dom).layout.sharedInfo,
    readMem: (dom, addr, len) => byId(dom).mem.u8.slice(addr, addr + len),
  };
}
