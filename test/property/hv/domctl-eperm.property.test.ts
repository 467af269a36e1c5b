/**
 * Issue 6's rule: every domctl from a domain that is not controlling returns -EPERM and changes
 * nothing. Random worlds (the controlling domain has paused, targeted, asked to shut down or
 * destroyed some clients first), then a random domctl of any flavour (valid, boundary, hostile:
 * every command, wild pointers, bad versions) from a random client vCPU: the result is EPERM and
 * every domain's state, domctl fields, ports and every byte of its memory are as before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MEMORY_TARGET, EPERM, Hc, SHUTDOWN_POWEROFF } from '../../../src/abi/index.ts';
import { Hypervisor } from '../../../src/hv/index.ts';
import { hypercallArbitraries } from '../../../src/testing/index.ts';
import { encodeDomctlOp } from '../../../spec/model/index.ts';
import { call } from '../../support/hv.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const MEM = 128 * 1024;
const OP = 0x2000;

/** Everything of every domain that a domctl could change. */
function snapshot(hv: Hypervisor): string {
  return JSON.stringify(hv.domains.map((d) => ({
    id: d.id, state: d.state, maxMem: d.maxMem, memTarget: d.memTarget, req: d.shutdownRequest,
    up: d.vcpus.map((v) => v.up), ports: d.ports, mem: Buffer.from(d.mem.u8).toString('base64'),
  })));
}

/** What the controlling domain did first, to each client (ids 2..4). */
const setupArb = fc.array(fc.constantFrom('none', 'pause', 'target', 'shutdown', 'destroy'), { minLength: 3, maxLength: 3 });

describe(`domctl from a domain that is not controlling (seed ${SEED})`, () => {
  it(`returns EPERM and changes nothing, whatever the op (seed ${SEED})`, () => {
    const arbs = (self: number) => hypercallArbitraries({ memSize: MEM, nrVcpus: 2, self, others: [1, 2, 3, 4].filter((x) => x !== self) }).domctl;
    const opArb = fc.nat(2).chain((k) => fc.tuple(fc.constant(2 + k), fc.constantFrom('valid', 'boundary', 'hostile' as const)).chain(([self, flavour]) => fc.tuple(fc.constant(self), arbs(self)[flavour])));
    fc.assert(
      fc.property(setupArb, opArb, fc.nat(1), (setup, [self, input], vcpu) => {
        const hv = new Hypervisor({ log: () => {} });
        const dom0 = hv.createDomain({ name: 'dom0', memBytes: MEM, vcpus: 1, privileged: true });
        const clients = [2, 3, 4].map((i) => hv.createDomain({ name: `c${i}`, memBytes: MEM, vcpus: 2 }));
        const ctl = (cmd: number, dom: number, payload?: Uint8Array) => {
          dom0.mem.u8.set(encodeDomctlOp(cmd, dom, payload), OP);
          return call(hv, dom0.vcpus[0]!, Hc.domctl, OP);
        };
        setup.forEach((what, i) => {
          const id = clients[i]!.id;
          if (what === 'pause') expect(ctl(DOMCTL_PAUSE, id)).toBe(0);
          if (what === 'target') expect(ctl(DOMCTL_SET_MEMORY_TARGET, id, new Uint8Array([0, 0, 1]))).toBe(0);
          if (what === 'shutdown') expect(ctl(DOMCTL_REQUEST_SHUTDOWN, id, new Uint8Array([SHUTDOWN_POWEROFF]))).toBe(0);
          if (what === 'destroy') expect(ctl(DOMCTL_DESTROY, id)).toBe(0);
        });
        // The caller: a client still on the host (a paused or destroyed one cannot run, but the
        // rule is about privilege, so any live client will do; the harness calls directly).
        const caller = hv.domain(self) ?? hv.domains.find((d) => !d.privileged);
        if (caller === undefined) return;
        for (const m of input.memory) caller.mem.u8.set(m.bytes, m.addr);
        const before = snapshot(hv);
        const a = [...input.args, 0, 0, 0, 0, 0];
        expect(hv.hypercall(caller.vcpus[vcpu]!, input.nr, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!)).toBe(EPERM);
        expect(snapshot(hv)).toBe(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
