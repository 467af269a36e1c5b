/**
 * Exit accounting: how many times a domain left guest mode, by kind, gathered from the counters
 * the core, the engine and the device buses keep (nothing is counted here, so reading the
 * accounts costs the run nothing).
 *
 * KINDS
 * - `hypercalls`: by call name (`Hypervisor.hypercallCounts`). A paravirtual guest's blocking
 *   (`sched_op` block/poll) is a hypercall, so it appears here, not under `halt`.
 * - `pio`: port I/O traps of an unmodified guest by port range name. An `in`/`out` is one exit; a
 *   string operation (`ins`/`outs`) is ONE exit however many items it moves — `pioItems` has the
 *   items. Accesses to ports no device decodes are under `(unmapped)`.
 * - `mmio`: `hw.mmio_*` traps by window (device) name; unmapped or misaligned accesses under
 *   `(stray)`, and traps to windows since unplugged under `(unplugged)`, so the record always sums
 *   to the engine's own count (`Domain.mmioExits`).
 * - `halt`: `hw.halt` traps (full virtualization only: a paravirtual guest cannot call `hw.*`).
 * - `injections`: interrupts injected into an unmodified guest at VM entry (`hw_interrupt` calls).
 * - `upcalls`: event-channel upcalls into a paravirtual guest at VM entry (`pv_upcall` calls), its
 *   counterpart of an injection.
 *
 * LIMITS. Accesses to unmapped ports count per item, and a string operation whose buffer is outside guest memory (it
 * moves nothing) never reaches the bus and is not counted.
 *
 * `total` sums every kind. Injections and upcalls are not exits themselves (they happen on the way
 * back into the guest) but each costs the host work a cost model charges for, so they count.
 * @module
 */
import type { Domain, Hypervisor } from '../hv/index.ts';

/** Exits of one domain (or a sum of domains, {@link addExits}) by kind. */
export interface ExitCounts {
  /** Hypercalls by call name. */
  hypercalls: Record<string, number>;
  /** Port I/O exits by port range name (a string operation is one exit); `(unmapped)` for no device. */
  pio: Record<string, number>;
  /** Port I/O items moved by range name: one per `in`/`out`, `count` per string operation. */
  pioItems: Record<string, number>;
  /** MMIO exits by window name; `(stray)` for unmapped or misaligned, `(unplugged)` for windows since removed. */
  mmio: Record<string, number>;
  /** `hw.halt` exits. */
  halt: number;
  /** Interrupts injected into an unmodified guest. */
  injections: number;
  /** Event-channel upcalls into a paravirtual guest. */
  upcalls: number;
  /** Sum of every kind above (pio as exits, not items). */
  total: number;
}

/** The key of port accesses no device decodes. */
export const PIO_UNMAPPED = '(unmapped)';
/** The key of MMIO accesses that hit no window or were misaligned. */
export const MMIO_STRAY = '(stray)';
/** The key of MMIO accesses to windows unmapped since (their own counters went with them). */
export const MMIO_UNPLUGGED = '(unplugged)';

/** Adds `n` to `rec[key]` (creating it), skipping zeros so records list only what happened. */
function bump(rec: Record<string, number>, key: string, n: number): void {
  if (n !== 0) rec[key] = (rec[key] ?? 0) + n;
}

function sum(rec: Record<string, number>): number {
  let s = 0;
  for (const k in rec) s += rec[k]!;
  return s;
}

/** Exits with every count zero. */
export function emptyExits(): ExitCounts {
  return { hypercalls: {}, pio: {}, pioItems: {}, mmio: {}, halt: 0, injections: 0, upcalls: 0, total: 0 };
}

/**
 * The exits domain `d` of `hv` has taken so far. Ranges and windows that saw no access are left
 * out; two ranges or windows of the same name are summed.
 */
export function exitsOf(hv: Hypervisor, d: Domain): ExitCounts {
  const e = emptyExits();
  e.hypercalls = hv.hypercallCounts(d);
  const m = d.legacy;
  if (m !== undefined) {
    for (const r of m.ports.mappings) {
      const s = r.stats;
      const items = s.reads + s.writes;
      // reads/writes count every item; a string operation is one exit for all of its items.
      bump(e.pio, r.name, items - s.stringItems + s.strings);
      bump(e.pioItems, r.name, items);
    }
    bump(e.pio, PIO_UNMAPPED, m.ports.unmappedReads + m.ports.unmappedWrites);
    bump(e.pioItems, PIO_UNMAPPED, m.ports.unmappedReads + m.ports.unmappedWrites);
    e.halt = m.exits.halt;
    e.injections = m.exits.injections;
  }
  let routed = 0;
  for (const w of d.mmio.windows) {
    bump(e.mmio, w.name, w.reads + w.writes);
    routed += w.reads + w.writes;
  }
  const stray = d.mmio.strayAccesses;
  bump(e.mmio, MMIO_STRAY, stray);
  // The engine counts every trap; what no current window or the stray counter explains went to a
  // window that has been unmapped since.
  bump(e.mmio, MMIO_UNPLUGGED, d.mmioExits.read + d.mmioExits.write - routed - stray);
  e.upcalls = d.upcalls;
  e.total = totalOf(e);
  return e;
}

/** The sum of every kind of `e` (pio counted as exits, not items). */
export function totalOf(e: Omit<ExitCounts, 'total'>): number {
  return sum(e.hypercalls) + sum(e.pio) + sum(e.mmio) + e.halt + e.injections + e.upcalls;
}

/** `a + b`, key by key (a new object; neither argument changes). */
export function addExits(a: ExitCounts, b: ExitCounts): ExitCounts {
  const e = emptyExits();
  for (const src of [a, b]) {
    for (const k in src.hypercalls) bump(e.hypercalls, k, src.hypercalls[k]!);
    for (const k in src.pio) bump(e.pio, k, src.pio[k]!);
    for (const k in src.pioItems) bump(e.pioItems, k, src.pioItems[k]!);
    for (const k in src.mmio) bump(e.mmio, k, src.mmio[k]!);
    e.halt += src.halt;
    e.injections += src.injections;
    e.upcalls += src.upcalls;
  }
  e.total = totalOf(e);
  return e;
}
