/**
 * The arbitraries of pvisor/testing, checked against the core and the model: every call in every
 * flavour, made from a world with bound, pending and masked ports, gives the same result and the
 * same observable state on pvisor's core as in the reference model, never throws in the host, and
 * places its buffers inside guest memory. The state arbitraries encode to the ABI's sizes and
 * generate model states that satisfy the model's invariants.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hc, SHARED_INFO_OFF, SHARED_INFO_SIZE, START_INFO_MAGIC, START_INFO_SIZE, VCPU_INFO_SIZE } from '../../src/abi/generated/index.ts';
import { decodeSharedInfo, getDomain, initialState, invariants } from '../../spec/model/index.ts';
import {
  ARBITRARY_CALLS,
  CHAIN_FAULTS,
  DEFAULT_DOMAINS,
  HOSTILE_TABLES,
  chainShapeArb,
  chainSpecArb,
  diffObservations,
  encodeSharedInfoValue,
  encodeStartInfo,
  encodeVcpuInfo,
  hvHost,
  hypercallArbitraries,
  layoutMalformedChain,
  malformedChainArb,
  modelHost,
  modelStateArb,
  rawDescriptorArb,
  ringScribbleArb,
  sharedInfoArb,
  startInfoArb,
  vcpuInfoArb,
  type HostUnderTest,
  type ModelHost,
} from '../../src/testing/index.ts';
import { NEVER_SUCCEEDING_CALLS } from '../../src/testing/arbitraries/calls.ts';
import { modelSeed } from '../support/model-harness.ts';

const SEED = modelSeed();
/** Small domains keep the thousands of fresh worlds below cheap. */
const MEM = 128 * 1024;
/** Domain 1, the caller of every arbitrary, is a controlling domain, so that `domctl` can succeed. */
const DOMAINS = [1, 2, 3].map((id) => ({ id, memSize: MEM, nrVcpus: 2, privileged: id === 1 }));

/**
 * Both sides, with domain 1 holding port 1 interdomain to domain 2, port 2 IPI (pending), port 3
 * VIRQ_TIMER (masked), and frames 1 and 2 ballooned out; domain 2 offers its port 2 to domain 1.
 */
function world(): { host: HostUnderTest; model: ModelHost } {
  const host = hvHost(DOMAINS);
  const model = modelHost(DOMAINS, { sharedInfoAddr: (d) => host.sharedInfoAddr(d.id), ...(host.loader !== undefined ? { loader: host.loader } : {}) });
  for (const d of DOMAINS) model.loadImage(d.id, host.readMem!(d.id, 0, d.memSize));
  const both = (dom: number, nr: number, args: number[]) => {
    const r = model.call(dom, 0, nr, args);
    expect(host.call(dom, 0, nr, args)).toBe(r);
  };
  both(1, Hc.evtchn_alloc_unbound, [2]);
  both(2, Hc.evtchn_bind_interdomain, [1, 1]);
  both(2, Hc.evtchn_alloc_unbound, [1]); // domain 2 port 2: offered to domain 1
  both(1, Hc.evtchn_bind_ipi, [0]);
  both(1, Hc.evtchn_bind_virq, [0, 0]);
  const maskPort3 = new Uint8Array([1 << 3]);
  model.writeMem(1, model.sharedInfoAddr(1) + SHARED_INFO_OFF.evtchn_mask, maskPort3);
  host.writeMem(1, host.sharedInfoAddr(1) + SHARED_INFO_OFF.evtchn_mask, maskPort3);
  both(1, Hc.evtchn_send, [2]);
  // Frames 1 and 2 (the first half of the scratch area) handed back, so that increase_reservation
  // has frames to take and decrease_reservation frames 3 and 4 to give.
  both(1, Hc.decrease_reservation, [1, 2]);
  return { host, model };
}

describe(`hypercall arbitraries (seed ${SEED})`, () => {
  const ctx = { memSize: MEM, nrVcpus: 2, self: 1, others: [2, 3], ports: [1, 2, 3], foreignPorts: [1, 2] };
  const arbs = hypercallArbitraries(ctx);

  it('cover every call of the ABI', () => {
    expect([...ARBITRARY_CALLS].sort()).toEqual(Object.keys(Hc).sort());
  });

  for (const flavour of ['valid', 'boundary', 'hostile'] as const) {
    it(`${flavour}: every call agrees between the core and the model, buffers inside memory (seed ${SEED})`, () => {
      const outcomes = new Set<string>();
      for (const name of ARBITRARY_CALLS) {
        fc.assert(
          fc.property(arbs[name][flavour], (c) => {
            for (const m of c.memory) expect(m.addr >= 0 && m.addr + m.bytes.length <= MEM, `${name} buffer at ${m.addr}`).toBe(true);
            const { host, model } = world();
            for (const m of c.memory) {
              model.writeMem(1, m.addr, m.bytes);
              host.writeMem(1, m.addr, m.bytes);
            }
            const expected = model.step(1, 0, c.nr, [...c.args]);
            const got = host.call(1, 0, c.nr, [...c.args]);
            if (expected.noReturn !== true) expect(got, `${name}(${c.args.join(', ')})`).toBe(expected.result);
            outcomes.add(`${name} ${expected.result < 0 ? 'error' : 'ok'}`);
            // A wallclock onto shared_info writes bytes only the host knows (the model's stated limit).
            const hostDefinedOnShared = (expected.writes ?? []).some((w) => w.hostDefined === true && w.addr + w.bytes.length > host.sharedInfoAddr(1) && w.addr < host.sharedInfoAddr(1) + SHARED_INFO_SIZE);
            if (!hostDefinedOnShared) expect(diffObservations(model.observe(), host.observe()), `${name}(${c.args.join(', ')})`).toEqual([]);
          }),
          { seed: SEED, numRuns: 20 },
        );
      }
      // Valid arguments mostly succeed; hostile ones mostly fail: the flavours mean what they say.
      const err = ARBITRARY_CALLS.filter((n) => outcomes.has(`${n} error`)).length;
      // grant_map never succeeds on this host (spec), whatever its arguments.
      if (flavour === 'valid') expect(ARBITRARY_CALLS.filter((n) => !outcomes.has(`${n} ok`))).toEqual([...NEVER_SUCCEEDING_CALLS]);
      if (flavour === 'hostile') expect(err).toBeGreaterThanOrEqual(ARBITRARY_CALLS.length - 4); // version, probe, yield, block take no pointers or ports
    });
  }
});

describe(`state arbitraries (seed ${SEED})`, () => {
  it('vcpu_info, shared_info and start_info encode to their ABI sizes; valid ones decode back', () => {
    fc.assert(
      fc.property(vcpuInfoArb('hostile'), sharedInfoArb(2, 'valid'), startInfoArb('valid'), startInfoArb('hostile'), (vc, si, st, bad) => {
        expect(encodeVcpuInfo(vc).length).toBe(VCPU_INFO_SIZE);
        const page = encodeSharedInfoValue(si);
        expect(page.length).toBe(SHARED_INFO_SIZE);
        const d = decodeSharedInfo(getDomain(initialState([{ id: 1, memSize: MEM, nrVcpus: 2 }]), 1), page);
        expect(d.pending.flatMap((p, i) => (p ? [i] : []))).toEqual([...si.pending].sort((a, b) => a - b));
        expect(d.vcpus[0]!.upcallPending).toBe(si.vcpus[0]!.upcallPending);
        const bytes = encodeStartInfo(st);
        expect(bytes.length).toBe(START_INFO_SIZE);
        expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(START_INFO_MAGIC);
        expect(st.shared_info + SHARED_INFO_SIZE).toBeLessThanOrEqual(st.mem_size);
        // A hostile start_info breaks at least one rule a guest checks.
        const rules = [bad.magic === START_INFO_MAGIC, bad.abi_version >>> 16 === 1, bad.size >= 52, bad.nr_vcpus >= 1 && bad.nr_vcpus <= 32, bad.shared_info + SHARED_INFO_SIZE <= bad.mem_size, bad.cmdline + bad.cmdline_len < bad.mem_size && bad.cmdline_len <= 1024, bad.nr_devices <= 16, bad.mem_size < 2 ** 32];
        expect(rules.every(Boolean)).toBe(false);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('modelStateArb reaches states that satisfy the model invariants, with ports bound', () => {
    let bound = 0;
    fc.assert(
      fc.property(modelStateArb(DEFAULT_DOMAINS, { maxCalls: 25 }), (s) => {
        expect(invariants(s)).toEqual([]);
        bound += s.domains.reduce((n, d) => n + d.ports.filter((p) => p.state !== 'closed').length, 0);
      }),
      { seed: SEED, numRuns: 50 },
    );
    expect(bound).toBeGreaterThan(0);
  });

  it('descriptor chains are never empty; raw descriptors reach past memory and 2^32', () => {
    const chains = fc.sample(chainSpecArb({ indirect: false }), { seed: SEED, numRuns: 200 });
    expect(chains.every((c) => c.readable.length + c.writable.length > 0 && !c.indirect)).toBe(true);
    const raws = fc.sample(rawDescriptorArb({ memSize: 65536, dataStart: 8192, dataEnd: 60000, queueSize: 16 }), { seed: SEED, numRuns: 500 });
    expect(raws.some((d) => d.addr >= 65536)).toBe(true);
    expect(raws.some((d) => d.addr >= 2 ** 32)).toBe(true);
    expect(raws.some((d) => (d.flags & 4) !== 0)).toBe(true);
  });

  it('chain shapes and ring scribbles stay in their ranges; scribbles reach tables only when there are tables', () => {
    const shapes = fc.sample(chainShapeArb({ maxSegments: 3, indirect: false }), { seed: SEED, numRuns: 200 });
    expect(shapes.every((s) => s.segments >= 1 && s.segments <= 3 && !s.indirect)).toBe(true);
    expect(new Set(shapes.map((s) => s.segments))).toEqual(new Set([1, 2, 3]));
    const layout = { memSize: 65536, dataStart: 8192, dataEnd: 32768, tables: 32768, queueSize: 16 };
    const rounds = fc.sample(ringScribbleArb(layout), { seed: SEED, numRuns: 300 });
    expect(rounds.every((r) => r.descWrites.every(([i]) => i < 16))).toBe(true);
    expect(rounds.every((r) => r.tableWrites.every(([t, i]) => t < HOSTILE_TABLES.count && i < HOSTILE_TABLES.entries))).toBe(true);
    expect(rounds.some((r) => r.tableWrites.length > 0)).toBe(true);
    expect(rounds.some((r) => r.heads.some((h) => h >= 16))).toBe(true); // hostile heads too
    const noTables = fc.sample(ringScribbleArb({ ...layout, tables: undefined }), { seed: SEED, numRuns: 100 });
    expect(noTables.every((r) => r.tableWrites.length === 0)).toBe(true);
  });

  it('malformed-chain plans break exactly the rule they name, and lay out into distinct in-range slots', () => {
    const plans = fc.sample(malformedChainArb(), { seed: SEED, numRuns: 400 });
    expect(new Set(plans.map((p) => p.fault))).toEqual(new Set(CHAIN_FAULTS));
    for (const p of plans) {
      // Readable before writable (§2.7.4.2) unless that is the rule broken.
      const w = p.buffers.map((b) => b.write);
      const ordered = w.indexOf(true) < 0 || w.slice(w.indexOf(true)).every(Boolean);
      expect(ordered).toBe(p.fault !== 'readable-after-writable');
      expect(p.indirectFeature).toBe(p.fault !== 'indirect-not-negotiated');
      if (p.fault.startsWith('indirect-')) expect(p.indirect).toBe(true);
      if (p.fault === 'next-out-of-range') expect(p.direct).toBeGreaterThan(0);
      // A table, when there is one, holds at least one buffer.
      if (p.indirect) expect(p.direct).toBeLessThan(p.buffers.length);
      else expect(p.direct).toBe(p.buffers.length);

      let next = 0x10000;
      const lay = layoutMalformedChain(p, {
        queueSize: 16,
        memSize: 0x20000,
        alloc: (len) => {
          const a = next;
          next += Math.ceil(len / 16) * 16;
          return a;
        },
      });
      const slots = lay.ring.map((r) => r.index);
      expect(new Set(slots).size).toBe(slots.length);
      expect(slots.every((i) => i < 16)).toBe(true);
      expect(lay.head === slots[0]).toBe(p.fault !== 'head-out-of-range');
      expect(lay.table !== undefined).toBe(p.indirect);
      expect(lay.buffers.map((b) => b.len)).toEqual(p.buffers.map((b) => b.len));
    }
    const big = plans.find((p) => p.buffers.length >= 2)!;
    expect(() => layoutMalformedChain(big, { queueSize: big.buffers.length, memSize: 0x20000, alloc: () => 0x10000 })).toThrow(/ctx\.queueSize/);
    expect(() => layoutMalformedChain(big, { queueSize: 16, memSize: 0x20000, alloc: () => undefined })).toThrow(/ctx\.alloc/);
    expect(() => malformedChainArb({ faults: [] })).toThrow(/opts\.faults/);
  });
});
