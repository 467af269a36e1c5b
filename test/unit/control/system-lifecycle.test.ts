/**
 * Domain life cycle in the toolstack: System.destroyDomain after a run and while a domain still
 * runs, the closing of its event channels, creating domains into a System that has already run,
 * and that a destroyed domain's guest memory is garbage (nothing in the host keeps it).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { EVTCHNSTAT_CLOSED, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_UNBOUND, Hc } from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import * as evtchn from '../../../src/hv/evtchn.ts';
import { wat } from '../../support/wat.ts';

/** Prints "hi\n" and returns from `_start` (poweroff 0). */
const HELLO = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (data (i32.const 16) "hi\\n")
  (func (export "_start") (param i32)
    (drop (call $hc (i32.const ${Hc.console_write}) (i32.const 16) (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0)))))`);

/** Blocks for ever: nothing ever sends it an event, so it stays alive after an idle run. */
const BLOCKER = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param i32)
    (loop $l
      (drop (call $hc (i32.const ${Hc.sched_block}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (br $l))))`);

const MEM = 1 << 20;

function system(out: string[] = []): System {
  return new System({ seed: 1, console: (name, text) => out.push(`${name}:${text}`), log: () => {} });
}

describe('System.destroyDomain', () => {
  it('removes an ended domain: not in the hypervisor, its id unknown, not in the next report, its name free again', async () => {
    const out: string[] = [];
    const sys = system(out);
    const a = await sys.addDomain({ name: 'a', image: HELLO, memBytes: MEM, vcpus: 1, cmdline: '' });
    const r1 = await sys.run();
    expect(r1.domains.map((d) => [d.name, d.outcome])).toEqual([['a', { kind: 'poweroff', code: 0 }]]);
    expect(sys.consoleBytes(a)).toBe(3);

    sys.destroyDomain(a);
    expect(sys.hv.domains).not.toContain(a);
    expect(sys.hv.domain(a.id)).toBeUndefined();
    expect(a.state).toBe('shutdown'); // it had ended: destroy does not rewrite how
    expect(sys.consoleBytes(a)).toBe(0);

    // Created into the System that has run: the same name again, a new id.
    const b = await sys.addDomain({ name: 'a', image: HELLO, memBytes: MEM, vcpus: 1, cmdline: '' });
    expect(b.id).toBeGreaterThan(a.id);
    const r2 = await sys.run();
    expect(r2.domains.map((d) => [d.id, d.outcome])).toEqual([[b.id, { kind: 'poweroff', code: 0 }]]);
    expect(out).toEqual(['a:hi\n', 'a:hi\n']);
  });

  it('stops a domain that still runs (crashed: destroyed) and the others go on', async () => {
    const sys = system();
    const blocked = await sys.addDomain({ name: 'blocked', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    const r1 = await sys.run();
    expect(r1.domains[0]!.outcome).toEqual({ kind: 'running' });
    expect(blocked.alive).toBe(true);

    sys.destroyDomain(blocked);
    expect(blocked.state).toBe('crashed');
    expect(blocked.crashReason).toBe('destroyed');
    expect(blocked.vcpus.every((v) => !v.up && v.engine === undefined)).toBe(true);
    await sys.addDomain({ name: 'next', image: HELLO, memBytes: MEM, vcpus: 1, cmdline: '' });
    const r2 = await sys.run();
    expect(r2.ok).toBe(true);
    expect(r2.domains.map((d) => d.name)).toEqual(['next']);
  });

  it("closes its event channels: the peer's inter-domain port goes back to UNBOUND, sends to it do nothing", async () => {
    const sys = system();
    const a = await sys.addDomain({ name: 'a', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    const b = await sys.addDomain({ name: 'b', image: BLOCKER, memBytes: MEM, vcpus: 1, cmdline: '' });
    const pa = evtchn.allocUnbound(sys.hv, a, b.id);
    const pb = evtchn.bindInterdomain(sys.hv, b, a.id, pa);
    expect(pb).toBeGreaterThan(0);
    expect(b.ports[pb]!.state).toBe(EVTCHNSTAT_INTERDOMAIN);

    sys.destroyDomain(a);
    expect(a.ports[pa]!.state).toBe(EVTCHNSTAT_CLOSED);
    expect(b.ports[pb]).toMatchObject({ state: EVTCHNSTAT_UNBOUND, remoteDom: a.id, remotePort: 0 });
    expect(evtchn.send(sys.hv, b, pb)).toBe(0);
    expect(evtchn.isPending(a, pa)).toBe(false);
    // A new channel to the destroyed id cannot be made.
    expect(evtchn.allocUnbound(sys.hv, b, a.id)).toBeLessThan(0);
  });

  it('refuses a domain of another system, and a second destroy', async () => {
    const sys = system();
    const other = system();
    const d = await other.addDomain({ name: 'd', image: HELLO, memBytes: MEM, vcpus: 1, cmdline: '' });
    expect(() => sys.destroyDomain(d)).toThrow(/d is not a domain of this system/);
    other.destroyDomain(d);
    expect(() => other.destroyDomain(d)).toThrow(/destroyed already/);
  });

  it.each([
    ['after it ran (its vCPU instantiated)', true],
    ['before it ever ran (its vCPU still queued)', false],
  ])('leaves nothing in the host that keeps the guest memory alive: %s', async (_what, run) => {
    // gc() without starting vitest with --expose-gc: V8 lets the flag be set at run time.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const sys = system();
    // The Domain lives only inside this function, so after it returns only the host could hold it.
    const memory = await (async () => {
      const d = await sys.addDomain({ name: 'gone', image: HELLO, memBytes: MEM, vcpus: 1, cmdline: '' });
      if (run) await sys.run();
      sys.destroyDomain(d);
      return new WeakRef(d.mem.memory);
    })();
    for (let i = 0; i < 5 && memory.deref() !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
    }
    expect(memory.deref()).toBeUndefined();
    // The System itself is still usable.
    await sys.addDomain({ name: 'gone', image: HELLO, memBytes: MEM, vcpus: 1, cmdline: '' });
    expect((await sys.run()).ok).toBe(true);
  });
});
