/**
 * The host toolstack offers the domctl operations to TypeScript users (issue 6): System's
 * pauseDomain / unpauseDomain / requestShutdown / setMemoryTarget / domainInfo do what the
 * corresponding DOMCTL_* commands do, and a controlling guest's DOMCTL_DESTROY makes the System
 * forget the domain as System.destroyDomain does.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL_DESTROY, DOMINF_PAUSED, DOMINF_PRIVILEGED, Hc, SHUTDOWN_CRASH, SHUTDOWN_REBOOT, START_INFO_OFF, VIRQ_CONTROL,
} from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import { encodeDomctlOp } from '../../../spec/model/index.ts';

const MEM = 256 * 1024;

function system(): System {
  return new System({ seed: 1, console: () => {}, log: () => {} });
}

describe('System: the domctl operations for TypeScript users', () => {
  it('pause / unpause report whether they changed anything; domainInfo is DOMCTL_GETINFO', () => {
    const sys = system();
    const d = sys.hv.createDomain({ name: 'c', memBytes: MEM, vcpus: 2 });
    expect(sys.pauseDomain(d)).toBe(true);
    expect(sys.pauseDomain(d)).toBe(false);
    expect(sys.domainInfo(d)).toMatchObject({ domid: d.id, flags: DOMINF_PAUSED, nrVcpus: 2, vcpusOnline: 1, memSize: MEM, maxMem: MEM, memTarget: MEM });
    expect(sys.unpauseDomain(d)).toBe(true);
    expect(sys.unpauseDomain(d)).toBe(false);
    expect(sys.domainInfo(d).flags).toBe(0);
    const ctl = sys.hv.createDomain({ name: 'dom0', memBytes: MEM, vcpus: 1, privileged: true });
    expect(sys.domainInfo(ctl).flags).toBe(DOMINF_PRIVILEGED);
  });

  it('requestShutdown and setMemoryTarget write start_info and raise VIRQ_CONTROL; bad input names the fix', () => {
    const sys = system();
    const d = sys.hv.createDomain({ name: 'c', memBytes: MEM, vcpus: 1 });
    const v = d.vcpus[0]!;
    const port = sys.hv.hypercall(v, Hc.evtchn_bind_virq, VIRQ_CONTROL, 0, 0, 0, 0);
    const pending = () => ((d.mem.i32[d.pendingIdx]! >>> port) & 1) === 1;
    sys.setMemoryTarget(d, MEM / 2);
    expect([d.mem.u64((d.layout.startInfo + START_INFO_OFF.mem_target) as never), pending()]).toEqual([MEM / 2, true]);
    expect(() => sys.setMemoryTarget(d, MEM + 4096)).toThrow(/multiple of 4096 no larger than its max_mem/);
    expect(() => sys.setMemoryTarget(d, 100)).toThrow(RangeError);
    sys.requestShutdown(d, SHUTDOWN_REBOOT);
    expect([d.mem.u32((d.layout.startInfo + START_INFO_OFF.shutdown_requested) as never), d.mem.u32((d.layout.startInfo + START_INFO_OFF.shutdown_reason) as never)]).toEqual([1, SHUTDOWN_REBOOT]);
    expect(() => sys.requestShutdown(d, SHUTDOWN_CRASH)).toThrow(/use SHUTDOWN_POWEROFF \(0\) or SHUTDOWN_REBOOT \(1\)/);
    sys.hv.shutdown(d, SHUTDOWN_REBOOT, 0);
    expect(() => sys.requestShutdown(d)).toThrow(/has already ended/);
  });

  it('a controlling guest destroying a domain through domctl makes the System forget it too', () => {
    const sys = system();
    const dom0 = sys.hv.createDomain({ name: 'dom0', memBytes: MEM, vcpus: 1, privileged: true });
    const c = sys.hv.createDomain({ name: 'c', memBytes: MEM, vcpus: 1 });
    const forgotten: number[] = [];
    const onDestroy = sys.hv.onDestroy!;
    sys.hv.onDestroy = (d) => {
      forgotten.push(d.id);
      onDestroy(d);
    };
    dom0.mem.u8.set(encodeDomctlOp(DOMCTL_DESTROY, c.id), 0x2000);
    expect(sys.hv.hypercall(dom0.vcpus[0]!, Hc.domctl, 0x2000, 0, 0, 0, 0)).toBe(0);
    expect([forgotten, sys.hv.domain(c.id)]).toEqual([[c.id], undefined]);
    expect(() => sys.destroyDomain(c)).toThrow(/was destroyed already/);
  });
});
