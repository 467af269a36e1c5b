/**
 * Properties of the hypercall entry that hold for every call: unknown numbers are ENOSYS, and a
 * pointer outside guest memory is EFAULT with no state changed. Each property generates the
 * arguments together with the outcome they must produce.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CALLS, EFAULT, ENOSYS, Hc, callName } from '../../../src/abi/index.ts';
import { Hypervisor, type Domain } from '../../../src/hv/index.ts';
import { RUNS, SEED } from '../../support/seed.ts';
import { call, makeHv } from '../../support/hv.ts';

/** Everything a call could change, as plain data. */
function snapshot(hv: Hypervisor, out: Map<string, string>): unknown {
  return {
    now: hv.now,
    mem: hv.domains.map((d: Domain) => Buffer.from(d.mem.u8).toString('base64')),
    ports: hv.domains.map((d) => JSON.stringify(d.ports)),
    vcpus: hv.domains.map((d) => d.vcpus.map((v) => ({ up: v.up, wait: v.wait, timer: v.timer, entry: v.entry }))),
    state: hv.domains.map((d) => [d.state, d.shutdownReason, d.shutdownCode]),
    grant: hv.domains.map((d) => [d.grantTable, d.grantEntries]),
    out: [...out.entries()],
  };
}

const MEM = 256 * 1024;

/** A pointer range `[addr, addr+len)` that does not fit in MEM, including 32-bit wrap-around. */
const badRange = (len: number) =>
  fc.oneof(
    fc.integer({ min: MEM - len + 1, max: 0xffffffff }),
    fc.integer({ min: 0xffffffff - len + 1, max: 0xffffffff }),
  ).filter((a) => a + len > MEM);

/** For each call with a pointer: args valid except one pointer, which is out of bounds. */
const efaultCases: { name: keyof typeof Hc; gen: fc.Arbitrary<number[]> }[] = [
  { name: 'console_write', gen: fc.integer({ min: 1, max: 4096 }).chain((len) => badRange(len).map((a) => [a, len])) },
  { name: 'console_read', gen: fc.integer({ min: 1, max: 4096 }).chain((len) => badRange(len).map((a) => [a, len])) },
  { name: 'sched_poll', gen: fc.integer({ min: 1, max: 128 }).chain((n) => badRange(4 * n).map((a) => [a, n, 0])) },
  { name: 'sched_poll', gen: badRange(8).map((t) => [4096, 1, t]) },
  { name: 'set_timer', gen: badRange(8).map((a) => [a]) },
  { name: 'wallclock', gen: badRange(16).map((a) => [a]) },
  { name: 'evtchn_status', gen: fc.tuple(fc.integer({ min: 0, max: 1023 }), badRange(24)).map(([p, a]) => [p, a]) },
  { name: 'vcpu_up', gen: fc.integer({ min: MEM / 16 + 1, max: 0x0fffffff }).map((k) => [1, 1, k * 16, 0]) },
  { name: 'multicall', gen: fc.integer({ min: 1, max: 64 }).chain((n) => badRange(28 * n).map((a) => [a, n])) },
  { name: 'grant_setup', gen: fc.integer({ min: 1, max: 512 }).chain((n) => badRange(8 * n).map((a) => [(a & ~3) >>> 0, n])).filter(([a, n]) => a! + 8 * n! > MEM) },
  { name: 'grant_copy', gen: fc.integer({ min: 1, max: 256 }).chain((n) => badRange(24 * n).map((a) => [a, n])) },
  // domctl from the controlling domain (doms[0] in these worlds): the op outside memory, or misaligned.
  { name: 'domctl', gen: fc.oneof(badRange(80), fc.integer({ min: 0, max: MEM / 8 - 10 }).map((k) => 8 * k + 4)).map((a) => [a]) },
];

/**
 * makeHv(2), but domain 1 is a controlling domain (so `domctl` reaches its pointer checks; no
 * other call looks at privilege).
 */
function makeWorld(): { hv: Hypervisor; doms: Domain[]; out: Map<string, string> } {
  const out = new Map<string, string>();
  const hv = new Hypervisor({ console: (d, b) => out.set(d.name, (out.get(d.name) ?? '') + Buffer.from(b).toString('latin1')), log: () => {} });
  const doms = [1, 2].map((i) => hv.createDomain({ name: `d${i}`, memBytes: MEM, vcpus: 2, cmdline: '', privileged: i === 1 }));
  for (const d of doms) d.caps = { upcall: true, vcpuEntry: true };
  return { hv, doms, out };
}

describe(`hypercall entry properties (seed ${SEED})`, () => {
  it(`every number outside the table returns ENOSYS and changes nothing (seed ${SEED})`, () => {
    const known = new Set(CALLS.map((c) => c.nr));
    fc.assert(
      fc.property(
        fc.integer({ min: -0x80000000, max: 0x7fffffff }).filter((n) => !known.has(n)),
        fc.array(fc.integer({ min: -0x80000000, max: 0x7fffffff }), { minLength: 5, maxLength: 5 }),
        (nr, args) => {
          const { hv, doms, out } = makeHv(2);
          const before = snapshot(hv, out);
          expect(call(hv, doms[0]!.vcpus[0]!, nr, ...args)).toBe(ENOSYS);
          expect(snapshot(hv, out)).toEqual(before);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it(`every pointer argument checks its range: EFAULT and no state change (seed ${SEED})`, () => {
    // Coverage guard: every call whose spec has a pointer argument has a case here.
    const withPtr = CALLS.filter((c) => c.args.some((a) => a.type === 'ptr')).map((c) => c.name);
    expect(new Set(efaultCases.map((c) => c.name))).toEqual(new Set(withPtr));
    fc.assert(
      fc.property(fc.constantFrom(...efaultCases).chain((c) => c.gen.map((args) => ({ name: c.name, args }))), ({ name, args }) => {
        const { hv, doms, out } = makeWorld();
        const before = snapshot(hv, out);
        expect({ name, r: call(hv, doms[0]!.vcpus[0]!, Hc[name], ...args) }).toEqual({ name, r: EFAULT });
        expect(snapshot(hv, out)).toEqual(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it(`random argument vectors never throw in the host, for every call (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CALLS.map((c) => c.nr)),
        fc.array(fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.integer({ min: -2, max: 70000 })), { minLength: 5, maxLength: 5 }),
        (nr, args) => {
          const { hv, doms } = makeWorld();
          const r = call(hv, doms[0]!.vcpus[0]!, nr, ...args);
          expect(Number.isInteger(r), `${callName(nr)} returned ${r}`).toBe(true);
        },
      ),
      { seed: SEED, numRuns: RUNS * 5 },
    );
  });
});
