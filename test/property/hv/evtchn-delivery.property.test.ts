/**
 * The 2-level delivery rule over the whole port space (src/hv/evtchn.ts, Xen's
 * `evtchn_2l_set_pending`): "a port that becomes pending and is not masked sets its word's bit in
 * the notified vCPU's pending_sel; if that bit was clear, the vCPU's upcall_pending is set".
 * Each case is generated with its expected outcome: the bits that must change and the flag.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EVTCHNSTAT_IPI, Hc, NR_EVENT_CHANNELS } from '../../../src/abi/index.ts';
import { call, makeHv, setMask } from '../../support/hv.ts';
import { RUNS, SEED } from '../../support/seed.ts';

/** A send on IPI port `port` bound to `vcpu`, with the guest's mask and selector state, and what must follow. */
const cases = fc
  .record({
    port: fc.integer({ min: 1, max: NR_EVENT_CHANNELS - 1 }),
    vcpu: fc.integer({ min: 0, max: 1 }),
    masked: fc.boolean(),
    selAlready: fc.boolean(),
    alreadyPending: fc.boolean(),
  })
  .map((c) => {
    const word = c.port >>> 5;
    const deliver = !c.alreadyPending && !c.masked;
    return {
      ...c,
      expected: {
        pendingWord: 1 << (c.port & 31) | 0,
        sel: c.selAlready || deliver ? 1 << word | 0 : 0,
        upcall: deliver && !c.selAlready ? 1 : 0,
      },
    };
  });

describe(`event delivery over all ports and both vCPUs (seed ${SEED})`, () => {
  it(`evtchn_send on an IPI port sets exactly its pending bit, its selector bit and the upcall flag the rule says (seed ${SEED})`, () => {
    fc.assert(
      fc.property(cases, ({ port, vcpu, masked, selAlready, alreadyPending, expected }) => {
        const { hv, doms: [d] } = makeHv(1, { vcpus: 2 });
        const v = d!.vcpus[0]!;
        // Ports below `port` are in use (IPIs to the other vCPU; set directly: binding 1000 ports one
        // by one is quadratic), so the bind below allocates `port` itself.
        for (let p = 1; p < port; p++) d!.ports[p] = { state: EVTCHNSTAT_IPI, vcpu: 1 - vcpu, remoteDom: 0, remotePort: 0, virq: 0 };
        expect(call(hv, v, Hc.evtchn_bind_ipi, vcpu)).toBe(port);
        const word = port >>> 5;
        if (masked) setMask(d!, port, true);
        if (selAlready) d!.mem.i32[d!.pendingSelIdx(vcpu)] = 1 << word;
        if (alreadyPending) d!.mem.i32[d!.pendingIdx + word] = 1 << (port & 31);
        expect(call(hv, v, Hc.evtchn_send, port)).toBe(0);
        const words = Array.from({ length: 32 }, (_, w) => d!.mem.i32[d!.pendingIdx + w]);
        expect(words).toEqual(Array.from({ length: 32 }, (_, w) => (w === word ? expected.pendingWord : 0)));
        expect(d!.mem.i32[d!.pendingSelIdx(vcpu)]).toBe(expected.sel);
        expect(d!.mem.i32[d!.pendingSelIdx(1 - vcpu)]).toBe(0);
        expect(d!.mem.u8[d!.upcallPendingAddr(vcpu)]).toBe(expected.upcall);
        expect(d!.mem.u8[d!.upcallPendingAddr(1 - vcpu)]).toBe(0);
        // evtchn_unmask then delivers a masked, pending port "as if it had just become pending":
        // the selector bit is set, and upcall_pending only "if that bit was clear".
        if (masked) {
          expect(call(hv, v, Hc.evtchn_unmask, port)).toBe(0);
          expect(d!.mem.i32[d!.maskIdx + word]).toBe(0);
          expect(d!.mem.i32[d!.pendingSelIdx(vcpu)]).toBe(1 << word | 0);
          expect(d!.mem.u8[d!.upcallPendingAddr(vcpu)]).toBe(selAlready ? 0 : 1);
          expect(d!.mem.u8[d!.upcallPendingAddr(1 - vcpu)]).toBe(0);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
