/**
 * hostileGuest end to end: generated hypercall programs (valid, boundary and hostile flavours)
 * run inside the interpreter guest on the real core and engine, and every call's result, the
 * upcalls after each call, the memory the calls wrote, the console and the final state must be
 * what the reference model says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ABI_VERSION, EINVAL, Hc, SHARED_INFO_OFF, VCPU_INFO_SIZE } from '../../src/abi/generated/index.ts';
import { HOSTILE_GUEST_CONTEXT, HOSTILE_GUEST_WAT, hostileGuest, hostileGuestImage, hypercallArbitrary, type HypercallInput } from '../../src/testing/index.ts';
import { SEED } from '../support/seed.ts';
import { wat } from '../support/wat.ts';

const program = (flavour: 'valid' | 'boundary' | 'hostile') =>
  fc.array(
    fc.oneof(
      { weight: 3, arbitrary: hypercallArbitrary(HOSTILE_GUEST_CONTEXT, flavour) },
      // Mix in valid event-channel work, so later calls meet bound, pending and masked ports.
      { weight: 2, arbitrary: hypercallArbitrary(HOSTILE_GUEST_CONTEXT, 'valid', ['evtchn_bind_ipi', 'evtchn_send', 'evtchn_alloc_unbound', 'evtchn_bind_interdomain', 'evtchn_unmask', 'evtchn_bind_virq']) },
    ),
    { maxLength: 40, size: 'max' },
  );

describe(`hostile guest vs reference model (seed ${SEED})`, () => {
  it('the checked-in binary is the WAT source compiled', () => {
    expect(Buffer.from(hostileGuestImage()).equals(Buffer.from(wat(HOSTILE_GUEST_WAT)))).toBe(true);
  });

  it('runs a hand-written program: results, an IPI upcall, console output, a dropped blocking call', async () => {
    const call = (name: keyof typeof Hc, args: number[], memory: HypercallInput['memory'] = []): HypercallInput => ({ name, nr: Hc[name], args, memory });
    const text = new TextEncoder().encode('hi from wasm');
    const r = await hostileGuest([
      call('version', []),
      call('evtchn_bind_ipi', [0]), // port 1
      call('evtchn_send', [1]), // pending -> upcall
      call('console_write', [0x1000, text.length], [{ addr: 0x1000, bytes: text }]),
      call('evtchn_send', [999]), // EINVAL
      call('sched_block', []), // nothing pending: would block, dropped
    ]);
    expect(r.mismatches).toEqual([]);
    expect(r.calls.map((c) => c.result)).toEqual([ABI_VERSION, 1, 0, text.length, EINVAL]);
    expect(r.calls.map((c) => c.upcalls)).toEqual([0, 0, 1, 1, 1]);
    expect(r.skipped.map((s) => s.call.name)).toEqual(['sched_block']);
    expect(r.observed.domains[0]!.console).toBe('hi from wasm');
    expect(r.outcome).toBe('shutdown');
  });

  it('catches a handler bug on the guest path: evtchn_unmask that forgets to re-deliver', async () => {
    const call = (name: keyof typeof Hc, args: number[]): HypercallInput => ({ name, nr: Hc[name], args, memory: [] });
    const mask1 = (on: boolean): HypercallInput => ({
      name: 'console_read', // a harmless call that places a buffer: the guest writes its own mask bit
      nr: Hc.console_read,
      args: [0x1000, 0],
      memory: [{ addr: HOSTILE_GUEST_CONTEXT.sharedInfo! + SHARED_INFO_OFF.evtchn_mask, bytes: new Uint8Array([on ? 2 : 0]) }],
    });
    const program = [call('evtchn_bind_ipi', [0]), mask1(true), call('evtchn_send', [1]), call('evtchn_unmask', [1]), call('version', [])];
    expect((await hostileGuest(program)).mismatches).toEqual([]);
    const r = await hostileGuest(program, {
      patchHypervisor: (hv) => {
        const real = hv.hypercall.bind(hv);
        hv.hypercall = (v, nr, a0, a1, a2, a3, a4) => {
          if (nr !== Hc.evtchn_unmask) return real(v, nr, a0, a1, a2, a3, a4);
          const si = v.domain.layout.sharedInfo as number;
          const before = v.domain.mem.u8.slice(si, si + VCPU_INFO_SIZE);
          const result = real(v, nr, a0, a1, a2, a3, a4);
          v.domain.mem.u8.set(before, si);
          return result;
        };
      },
    });
    expect(r.mismatches.join('\n')).toMatch(/call 4 evtchn_unmask\(1\): upcalls so far: model 1, guest 0/);
  });

  for (const flavour of ['valid', 'boundary', 'hostile'] as const) {
    it(`${flavour} programs: the guest sees what the model says (seed ${SEED})`, async () => {
      let calls = 0;
      let upcalls = 0;
      await fc.assert(
        fc.asyncProperty(program(flavour), async (prog) => {
          const r = await hostileGuest(prog);
          calls += r.calls.filter((c) => c.result !== undefined).length;
          upcalls += Math.max(0, ...r.calls.map((c) => c.upcalls ?? 0));
          if (r.mismatches.length > 0) throw new Error(`hostile guest disagrees with the model:\n  ${r.mismatches.join('\n  ')}`);
        }),
        { seed: SEED, numRuns: 60 },
      );
      // Not vacuous: calls really ran in the guest, and events really reached its handler.
      expect(calls).toBeGreaterThan(50);
      expect(upcalls).toBeGreaterThan(0);
    });
  }
});
