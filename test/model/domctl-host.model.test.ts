/**
 * The real hypervisor core against the reference model, with domctl commands made frequent: the
 * controlling domain (domain 1 of DEFAULT_DOMAINS) pauses, unpauses, creates (through hvHost's
 * fake loader) and destroys domains, reads their info and the host's accounts, lists the domains,
 * sets max and target memory and vCPU counts, moves devices (DEVICE_DOMAINS) and asks for
 * shutdowns (VIRQ_CONTROL and VIRQ_DOM_EXC bound by the guests now and then), and the clients try
 * the same and get EPERM; every result, every byte written back and the observable state (paused,
 * max, target, shutdown request, vCPUs held, manifests and generations, both pools, created
 * domains there and destroyed ones gone, their peers' ports unbound) must agree after every step.
 * Every DOMCTL_* command must succeed at least once, and the new ones (ABI 1.5) must also fail.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL_ATTACH_DEVICE, DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_DETACH_DEVICE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_OP_SIZE,
  DOMCTL_PAUSE, DOMCTL_PHYSINFO, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_SET_MAX_MEM, DOMCTL_SET_MEMORY_TARGET, DOMCTL_SET_VCPUS,
  DOMCTL_UNPAUSE, Hc,
} from '../../src/abi/generated/index.ts';
import { decodeDomctlOp, type ModelDomainConfig } from '../../spec/model/index.ts';
import { DEVICE_DOMAINS, type HostUnderTest } from '../../src/testing/index.ts';
import { modelSeed, runModelBased } from '../support/model-harness.ts';
import { hvHost } from '../support/model-hv-host.ts';
import { RUNS } from '../support/seed.ts';

const seed = modelSeed();

/** Per DOMCTL_* command: results the core returned. */
const results = new Map<number, number[]>();

function recording(domains: readonly ModelDomainConfig[]): HostUnderTest {
  const h = hvHost(domains);
  return {
    ...h,
    call(dom, vcpu, nr, args) {
      const op = nr === Hc.domctl && h.readMem !== undefined ? decodeDomctlOp(h.readMem(dom, (args[0] ?? 0) >>> 0, DOMCTL_OP_SIZE)) : undefined;
      const r = h.call(dom, vcpu, nr, args);
      if (op !== undefined && h.observe().domains.find((d) => d.id === dom)?.privileged === true) results.set(op.cmd, [...(results.get(op.cmd) ?? []), r]);
      return r;
    },
  };
}

describe(`domctl: host vs reference model (seed ${seed})`, () => {
  it(`domctl-heavy command sequences agree with spec/model after every step (seed ${seed})`, () => {
    runModelBased(hvHost, { seed, numRuns: RUNS, commands: { domctlWeight: 6 } });
  });

  it(`with devices and ballooning, every DOMCTL_* command succeeds and the 1.5 ones also fail (seed ${seed})`, () => {
    runModelBased(recording, { seed, numRuns: RUNS, domains: DEVICE_DOMAINS, commands: { domctlWeight: 6, balloon: true } });
    const all = [
      DOMCTL_CREATE, DOMCTL_DESTROY, DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_GETINFO, DOMCTL_LIST, DOMCTL_SET_MAX_MEM,
      DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE, DOMCTL_SET_MEMORY_TARGET, DOMCTL_REQUEST_SHUTDOWN, DOMCTL_PHYSINFO,
    ];
    for (const cmd of all) expect(results.get(cmd)?.some((r) => r === 0), `DOMCTL command ${cmd} never succeeded`).toBe(true);
    for (const cmd of [DOMCTL_CREATE, DOMCTL_SET_VCPUS, DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE]) {
      expect(results.get(cmd)?.some((r) => r < 0), `DOMCTL command ${cmd} never failed`).toBe(true);
    }
  });
});
