/**
 * What the toolstack adds for a controlling domain (src/control/system.ts): the run ends when
 * the domain given to System.endRunWith ends (and only then, not at the time limit), domains
 * destroyed during a run stay in its report marked destroyed, and System.setVcpus moves vCPUs
 * through the host's free pool with errors that name the field.
 */
import { describe, expect, it } from 'vitest';
import { Hc } from '../../../src/abi/index.ts';
import { System, type ExternalInput } from '../../../src/control/system.ts';
import { wat } from '../../support/wat.ts';

const HC = '(import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))';

/** Returns from `_start` at once (poweroff 0). */
const QUICK = wat(`(module (import "env" "memory" (memory 2 256 shared)) ${HC}
  (func (export "_start") (param i32)))`);

/** Spins for ever without a hypercall: only the time limit (or the end of the run) stops it. */
const SPIN = wat(`(module (import "env" "memory" (memory 2 256 shared)) ${HC}
  (func (export "_start") (param i32) (loop $l (br $l))))`);

/** Blocks for ever. */
const BLOCKER = wat(`(module (import "env" "memory" (memory 2 256 shared)) ${HC}
  (func (export "_start") (param i32)
    (loop $l (drop (call $hc (i32.const ${Hc.sched_block}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))) (br $l))))`);

/** Can hold two vCPUs: exports pv_vcpu_entry and __stack_pointer. Blocks for ever on vCPU 0. */
const SMP = wat(`(module (import "env" "memory" (memory 2 256 shared)) ${HC}
  (global (export "__stack_pointer") (mut i32) (i32.const 65536))
  (func (export "pv_vcpu_entry") (param i32 i32))
  (func (export "_start") (param i32)
    (loop $l (drop (call $hc (i32.const ${Hc.sched_block}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))) (br $l))))`);

const MEM = 1 << 20;
const system = (maxTimeNs = 1e9) => new System({ seed: 1, maxTimeNs, console: () => {}, log: () => {} });

describe('System.endRunWith', () => {
  it('ends the run when that domain ends; the others are reported running, and the report says why', async () => {
    const sys = system();
    const spin = await sys.addDomain({ name: 'spin', image: SPIN, memBytes: MEM, vcpus: 1, cmdline: '' });
    const dom0 = await sys.addDomain({ name: 'dom0', image: QUICK, memBytes: MEM, vcpus: 1, cmdline: '' });
    sys.endRunWith(dom0);
    const r = await sys.run();
    expect(r.endedWith).toEqual({ id: dom0.id, name: 'dom0' });
    expect(r.domains.map((d) => [d.name, d.outcome.kind])).toEqual([['spin', 'running'], ['dom0', 'poweroff']]);
    expect(r.virtualTimeNs).toBeLessThan(1e9); // not the time limit
    expect(spin.alive).toBe(true);
  });

  it('without it, the same run goes on to the time limit', async () => {
    const sys = system();
    await sys.addDomain({ name: 'spin', image: SPIN, memBytes: MEM, vcpus: 1, cmdline: '' });
    await sys.addDomain({ name: 'dom0', image: QUICK, memBytes: MEM, vcpus: 1, cmdline: '' });
    const r = await sys.run();
    expect(r.endedWith).toBeUndefined();
    expect(r.virtualTimeNs).toBeGreaterThanOrEqual(1e9);
  });

  it('also ends it when the domain crashes or is destroyed (by an outside input mid-run)', async () => {
    const sys = system();
    await sys.addDomain({ name: 'other', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    const dom0 = await sys.addDomain({ name: 'dom0', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    sys.endRunWith(dom0);
    let open = true;
    const input: ExternalInput = {
      get open() {
        return open;
      },
      canWakeIdle: () => true,
      // Answered as soon as the run waits: destroys dom0 (it was alive: crashed, destroyed).
      next: async () => {
        sys.destroyDomain(dom0, 'destroyed by the test');
        open = true;
      },
    };
    sys.addExternalInput(input);
    const r = await sys.run();
    open = false;
    expect(r.endedWith).toEqual({ id: dom0.id, name: 'dom0' });
    expect(r.domains.map((d) => [d.name, d.outcome.kind, d.destroyed])).toEqual([
      ['other', 'running', undefined],
      ['dom0', 'crashed', true],
    ]);
  });
});

describe('domains destroyed during a run', () => {
  it('stay in its report, in id order, with how they had ended; not in the next run', async () => {
    const sys = system();
    const a = await sys.addDomain({ name: 'a', image: QUICK, memBytes: MEM, vcpus: 1, cmdline: '' });
    const b = await sys.addDomain({ name: 'b', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    await sys.addDomain({ name: 'c', image: QUICK, memBytes: MEM, vcpus: 1, cmdline: '' });
    let open = true;
    sys.addExternalInput({
      get open() {
        return open;
      },
      canWakeIdle: () => open,
      next: async () => {
        // When every guest is idle: a had powered off, b still blocks.
        sys.destroyDomain(a);
        sys.destroyDomain(b, 'destroyed by the test');
        open = false;
      },
    });
    const r = await sys.run();
    expect(r.domains.map((d) => [d.name, d.outcome, d.destroyed])).toEqual([
      ['a', { kind: 'poweroff', code: 0 }, true],
      ['b', { kind: 'crashed', reason: 'destroyed by the test', backtrace: [] }, true],
      ['c', { kind: 'poweroff', code: 0 }, undefined],
    ]);
    expect(r.ok).toBe(false); // b was destroyed while it ran
    expect(sys.hv.freeFrames).toBe((2 * MEM) / 4096);
    const r2 = await sys.run();
    expect(r2.domains.map((d) => d.name)).toEqual(['c']);
  });

  it('a run where a domain powered off and was then destroyed is still ok', async () => {
    const sys = system();
    const a = await sys.addDomain({ name: 'a', image: QUICK, memBytes: MEM, vcpus: 1, cmdline: '' });
    const b = await sys.addDomain({ name: 'b', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    let open = true;
    sys.addExternalInput({
      get open() {
        return open;
      },
      canWakeIdle: () => open,
      next: async () => {
        sys.destroyDomain(a);
        sys.hv.shutdown(b, 0, 0);
        open = false;
      },
    });
    const r = await sys.run();
    expect(r.domains.map((d) => [d.name, d.outcome, d.destroyed])).toEqual([
      ['a', { kind: 'poweroff', code: 0 }, true],
      ['b', { kind: 'poweroff', code: 0 }, undefined],
    ]);
    expect(r.ok).toBe(true);
  });
});

describe('System.setVcpus', () => {
  it('moves vCPUs between the domain and the free pool, and names the field when it cannot', async () => {
    const sys = system();
    const d = await sys.addDomain({ name: 'd', image: SMP, memBytes: MEM, vcpus: 2, cmdline: '' });
    expect(sys.hv.freeVcpus).toBe(0);
    sys.setVcpus(d, 1);
    expect([d.vcpusHeld, sys.hv.freeVcpus]).toEqual([1, 1]);
    expect([sys.domainInfo(d).nrVcpus, d.vcpus.length]).toEqual([1, 2]); // held of created
    sys.setVcpus(d, 2);
    expect([d.vcpusHeld, sys.hv.freeVcpus]).toEqual([2, 0]);
    expect(() => sys.setVcpus(d, 3)).toThrow('vcpus: 3 for d; give a whole number from 1 to 2 (the vCPUs it was created with)');
    expect(() => sys.setVcpus(d, 0)).toThrow(/^vcpus: 0 for d; give a whole number from 1 to 2/);
    sys.setVcpus(d, 1);
    sys.hv.freeVcpus = 0; // as if another domain had been created from the pool
    expect(() => sys.setVcpus(d, 2)).toThrow("vcpus: 2 for d needs 1 more vCPU(s) than the host's free pool holds (0); lower another domain's vCPUs first");
    expect(d.vcpusHeld).toBe(1);
    sys.hv.shutdown(d, 0, 0);
    expect(() => sys.setVcpus(d, 1)).toThrow('vcpus: d has already ended');
  });
});
