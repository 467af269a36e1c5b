/**
 * Exit accounting (src/bench/exits.ts): the counts `exitsOf` gathers from the core's, engine's and
 * buses' counters must agree with an independent record of the same run — the exit trace, in
 * which every trap is one record (port traps carry the port, MMIO traps the address) — and with
 * what the guest observably did (bytes through the UART, console text).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addExits, emptyExits, exitsOf, MMIO_STRAY, MMIO_UNPLUGGED, PIO_UNMAPPED, totalOf } from '../../../src/bench/exits.ts';
import type { ExitCounts } from '../../../src/bench/exits.ts';
import { System } from '../../../src/control/system.ts';
import type { RunReport, TraceRecord } from '../../../src/control/types.ts';
import { Hypervisor } from '../../../src/hv/index.ts';
import type { Domain, MmioDevice } from '../../../src/hv/index.ts';
import type { LegacyPlatform } from '../../../src/legacy/platform.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';
import { VirtioBlk } from '../../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';

const MiB = 1 << 20;
const workload = (name: string): string => fileURLToPath(new URL(`../../../guest-kit/workloads/${name}.wasm`, import.meta.url));

interface Traced {
  sys: System;
  d: Domain;
  report: RunReport;
  trace: TraceRecord[];
  out: string;
}

/** Runs one workload with tracing on; `setup` may plug devices before the run. */
async function traced(image: string, cmdline: string, setup?: (sys: System, d: Domain) => void): Promise<Traced> {
  let out = '';
  const sys = new System({ seed: 1, trace: true, console: (_d, t) => void (out += t), log: () => {} });
  const d = await sys.addDomain({ name: 'w', image: workload(image), memBytes: 2 * MiB, vcpus: 1, cmdline });
  setup?.(sys, d);
  const report = await sys.run();
  return { sys, d, report, trace: (report.trace ?? []).filter((r) => r.dom === d.id), out };
}

const PIO_EVENTS = new Set(['in8', 'in16', 'in32', 'out8', 'out16', 'out32', 'ins16', 'ins32', 'outs16', 'outs32']);
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
const count = (trace: TraceRecord[], ev: string): number => trace.filter((r) => r.ev === ev).length;

/** Port exits per range name as the trace shows them: one record per trap, named by the bus's own lookup. */
function pioFromTrace(trace: TraceRecord[], bus: PortBus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of trace) {
    if (!PIO_EVENTS.has(r.ev)) continue;
    const name = bus.lookup(r.args![0]!)?.name ?? PIO_UNMAPPED;
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** Hypercalls by name as the trace shows them. */
function callsFromTrace(trace: TraceRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of trace) if (!PIO_EVENTS.has(r.ev) && !['halt', 'interrupt', 'mmio_read32', 'mmio_write32'].includes(r.ev)) out[r.ev] = (out[r.ev] ?? 0) + 1;
  return out;
}

describe('exitsOf', () => {
  it('full virtualization (console-fv bytes=1000): port exits by range match the trace, the UART took every byte, halts and injections match', async () => {
    const { sys, d, report, trace, out } = await traced('console-fv', 'bytes=1000');
    expect(report.ok).toBe(true);
    expect(out.length).toBeGreaterThan(1000);
    const pc = d.legacy as LegacyPlatform;
    const e = exitsOf(sys.hv, d);
    // Every byte the guest printed went through the THR: one `out` each, plus LSR polls.
    expect(pc.uart.stats.txBytes).toBe(out.length);
    expect(e.pio['uart']).toBeGreaterThanOrEqual(pc.uart.stats.txBytes);
    // The trace, named by the bus's own lookup, gives the same per-range counts.
    expect(e.pio).toEqual(pioFromTrace(trace, pc.ports));
    // No string operations here, so exits = items = the ranges' own counters.
    expect(pc.ports.mappings.every((m) => m.stats.strings === 0)).toBe(true);
    expect(sum(e.pio)).toBe(pc.ports.mappings.reduce((a, m) => a + m.stats.reads + m.stats.writes, 0) + pc.ports.unmappedReads + pc.ports.unmappedWrites);
    expect(e.pioItems).toEqual(e.pio);
    expect(e.halt).toBe(count(trace, 'halt'));
    expect(e.injections).toBe(count(trace, 'interrupt'));
    expect([e.halt, e.injections]).toEqual([pc.exits.halt, pc.exits.injections]);
    // An unmodified guest makes no hypercalls, maps no MMIO, takes no upcalls.
    expect([e.hypercalls, e.mmio, e.upcalls]).toEqual([{}, {}, 0]);
    expect(e.total).toBe(sum(e.pio) + e.halt + e.injections);
    expect(e.total).toBe(trace.filter((r) => PIO_EVENTS.has(r.ev) || r.ev === 'halt' || r.ev === 'interrupt').length);
    // The run report carries the same counts.
    expect(report.domains[0]!.exits).toEqual(e);
  });

  it('paravirtual (console-pv bytes=1000): hypercalls by name match the trace and the report, upcalls come from the engine, no PV halt or PIO', async () => {
    const { sys, d, report, trace, out } = await traced('console-pv', 'bytes=1000');
    expect(report.ok).toBe(true);
    const e = exitsOf(sys.hv, d);
    expect(e.hypercalls['console_write']).toBeGreaterThanOrEqual(2); // the pattern, then the result line
    expect(e.hypercalls).toEqual(callsFromTrace(trace));
    expect(e.hypercalls).toEqual(report.domains[0]!.hypercalls);
    expect(out.length).toBeGreaterThan(1000);
    expect(e.upcalls).toBe(d.upcalls);
    // A PV guest cannot call hw.*: it blocks with a hypercall, so halt and port I/O stay empty.
    expect([e.pio, e.pioItems, e.mmio, e.halt, e.injections]).toEqual([{}, {}, {}, 0, 0]);
    expect(e.total).toBe(sum(e.hypercalls) + e.upcalls);
    expect(report.domains[0]!.exits).toEqual(e);
  });

  it('MMIO exits by window (blk-pv on virtio-blk `vda`): the window count matches the trace addresses inside it and the engine total', async () => {
    let base = 0;
    const { sys, d, report, trace } = await traced('blk-pv', 'mb=1 reads=20', (s, dom) => {
      base = s.attachDevice(dom, new VirtioMmioDevice({ name: 'vda', backend: new VirtioBlk({ image: new MemoryDiskImage(2 * MiB) }), mem: dom.mem })).base;
    });
    expect(report.ok).toBe(true);
    const e = exitsOf(sys.hv, d);
    const size = d.mmio.windows[0]!.end - base;
    const inWindow = trace.filter((r) => (r.ev === 'mmio_read32' || r.ev === 'mmio_write32') && r.args![0]! >>> 0 >= base && r.args![0]! >>> 0 < base + size);
    expect(e.mmio['vda']).toBe(inWindow.length);
    expect(e.mmio['vda']).toBeGreaterThan(0);
    expect(sum(e.mmio)).toBe(d.mmioExits.read + d.mmioExits.write);
    expect(sum(e.mmio)).toBe(count(trace, 'mmio_read32') + count(trace, 'mmio_write32'));
    expect(e.total).toBe(sum(e.hypercalls) + sum(e.mmio) + e.upcalls);
  });

  it('blk-fv: pioItems per range are the bus counters; the ATA data port moves sectors with string operations, one exit each', async () => {
    const { sys, d, report, trace } = await traced('blk-fv', 'mb=1 reads=20', (s, dom) => {
      s.plugLegacy(dom, { disk: new MemoryDiskImage(2 * MiB) });
    });
    expect(report.ok).toBe(true);
    const pc = d.legacy as LegacyPlatform;
    const e = exitsOf(sys.hv, d);
    for (const m of pc.ports.mappings) if (m.stats.reads + m.stats.writes > 0) expect(e.pioItems[m.name], m.name).toBe(m.stats.reads + m.stats.writes);
    const data = pc.ports.mappings.find((m) => m.name === 'ata0-data')!;
    expect(data.stats.strings).toBeGreaterThan(0);
    const fromTrace = pioFromTrace(trace, pc.ports);
    // One exit per string operation: exactly the trace, and fewer exits than items on the data port.
    expect(e.pio).toEqual(fromTrace);
    expect(e.pioItems['ata0-data']).toBeGreaterThan(e.pio['ata0-data']!);
  });

  it('windows unmapped since, and stray accesses, keep the MMIO record summing to the engine count', () => {
    const hv = new Hypervisor();
    const d = hv.createDomain({ name: 'x', memBytes: 2 * MiB, vcpus: 1, cmdline: '' });
    const dev: MmioDevice = { size: 0x100, read32: () => 0, write32: () => {} };
    d.mmio.map(0x1000, dev);
    // What the engine does per trap: count, then access the bus.
    const trap = (write: boolean, addr: number): void => {
      if (write) {
        d.mmioExits.write++;
        d.mmio.write32(addr, 0);
      } else {
        d.mmioExits.read++;
        d.mmio.read32(addr);
      }
    };
    trap(false, 0x1000);
    trap(true, 0x1004);
    trap(true, 0x1008);
    trap(false, 0x9000);
    expect(exitsOf(hv, d).mmio).toEqual({ 'mmio@0x1000': 3, [MMIO_STRAY]: 1 });
    d.mmio.unmap(0x1000);
    trap(false, 0x1000); // now stray
    const e = exitsOf(hv, d);
    expect(e.mmio).toEqual({ [MMIO_STRAY]: 2, [MMIO_UNPLUGGED]: 3 });
    expect(e.total).toBe(5);
    expect(e.hypercalls).toEqual({});
  });
});

describe('addExits / totalOf', () => {
  const a: ExitCounts = { hypercalls: { console_io: 2, sched_op: 1 }, pio: {}, pioItems: {}, mmio: { vda: 4 }, halt: 0, injections: 0, upcalls: 3, total: 10 };
  const b: ExitCounts = { hypercalls: { console_io: 5 }, pio: { uart: 7, ata0: 1 }, pioItems: { uart: 7, ata0: 300 }, mmio: {}, halt: 2, injections: 6, upcalls: 0, total: 21 };

  it('sums key by key and recomputes the total; the arguments are unchanged', () => {
    const before = JSON.stringify([a, b]);
    const s = addExits(a, b);
    expect(s).toEqual({
      hypercalls: { console_io: 7, sched_op: 1 },
      pio: { uart: 7, ata0: 1 },
      pioItems: { uart: 7, ata0: 300 },
      mmio: { vda: 4 },
      halt: 2,
      injections: 6,
      upcalls: 3,
      total: 31,
    });
    expect(JSON.stringify([a, b])).toBe(before);
    expect(addExits(s, emptyExits())).toEqual(s);
    expect(addExits(emptyExits(), emptyExits())).toEqual(emptyExits());
  });

  it('totalOf counts port exits, not items', () => {
    expect(totalOf(b)).toBe(5 + 8 + 2 + 6);
    expect(totalOf(a)).toBe(3 + 4 + 3);
  });
});
