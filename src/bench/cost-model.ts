/**
 * A cost model for exits: modeled CPU cycles per exit kind, each with the published measurement
 * it comes from, so a run's exit counts ({@link ExitCounts}) turn into a modeled time on real
 * hardware beside the measured wall time of the simulation.
 *
 * The model is deliberately coarse: one figure per kind, whatever the device or call. It answers
 * "how much would these exits cost on a hardware-virtualized x86 host", not "how long does this
 * simulator take". Users can give their own table as JSON ({@link loadCostModel}).
 * @module
 */
import { readFileSync } from 'node:fs';
import type { ExitCounts } from './exits.ts';

/** The exit kinds a cost model prices (the keys of {@link CostModel.kinds}). */
export const EXIT_KINDS = ['hypercall', 'pio', 'mmio', 'halt', 'injection', 'upcall'] as const;

/** One exit kind of {@link EXIT_KINDS}. */
export type ExitKind = (typeof EXIT_KINDS)[number];

/** The modeled cost of one exit of a kind. */
export interface KindCost {
  /** CPU cycles per exit (> 0). */
  cycles: number;
  /** Where the figure comes from: citation text and URL, and whether it is an estimate. */
  source: string;
}

/** A table of modeled cost per exit kind. */
export interface CostModel {
  /** Name shown in reports. */
  name: string;
  /** Clock of the modeled CPU in GHz (> 0): cycles / cpuGhz = ns. */
  cpuGhz: number;
  /** Where the table as a whole comes from (machine, paper, benchmark). */
  source: string;
  /** Cost per exit kind; every kind must be present. */
  kinds: Record<ExitKind, KindCost>;
}

/** Modeled time of a set of exits. */
export interface ModeledTime {
  /** Sum over every kind, in ns. */
  totalNs: number;
  /** Per kind, in ns. */
  byKind: Record<ExitKind, number>;
}

/** Exits of each priced kind in `e` (pio as exits, not items). */
export function countsByKind(e: ExitCounts): Record<ExitKind, number> {
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  return { hypercall: sum(e.hypercalls), pio: sum(e.pio), mmio: sum(e.mmio), halt: e.halt, injection: e.injections, upcall: e.upcalls };
}

/** Modeled time of exits `e` under `model`: count × cycles / cpuGhz per kind. */
export function modeledNs(e: ExitCounts, model: CostModel): ModeledTime {
  const n = countsByKind(e);
  const byKind = {} as Record<ExitKind, number>;
  let totalNs = 0;
  for (const k of EXIT_KINDS) {
    const ns = (n[k] * model.kinds[k].cycles) / model.cpuGhz;
    byKind[k] = ns;
    totalNs += ns;
  }
  return { totalNs, byKind };
}

/** A user's cost model file is wrong; the message names the field and the fix. */
export class CostModelError extends Error {
  /** @param where file name or `cost model`; @param problems one line each. */
  constructor(
    readonly where: string,
    readonly problems: string[],
  ) {
    super(`${where}: bad cost model:\n  ${problems.join('\n  ')}`);
    this.name = 'CostModelError';
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a parsed cost model and returns it typed; collects every problem (unknown keys, missing
 * kinds, numbers that are not finite and > 0, empty text) into one {@link CostModelError}.
 */
export function validateCostModel(v: unknown, where = 'cost model'): CostModel {
  const problems: string[] = [];
  if (!isRecord(v)) throw new CostModelError(where, ['the file must hold a JSON object {"name", "cpuGhz", "source", "kinds"}']);
  const top = ['name', 'cpuGhz', 'source', 'kinds'];
  for (const k of Object.keys(v)) if (!top.includes(k)) problems.push(`${k}: unknown key; allowed: ${top.join(', ')}`);
  const text = (field: string, x: unknown): void => {
    if (typeof x !== 'string' || x.trim() === '') problems.push(`${field}: must be a non-empty string (say where the figure comes from)`);
  };
  const positive = (field: string, x: unknown, unit: string): void => {
    if (x === undefined) problems.push(`${field}: missing; give ${unit}`);
    // String() for numbers: JSON would show NaN and Infinity as null.
    else if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) problems.push(`${field}: ${typeof x === 'number' ? String(x) : JSON.stringify(x)} is not a number > 0; give ${unit}`);
  };
  if (typeof v.name !== 'string' || v.name.trim() === '') problems.push('name: must be a non-empty string (shown in reports)');
  positive('cpuGhz', v.cpuGhz, 'the modeled CPU clock in GHz, e.g. 3.0');
  text('source', v.source);
  if (!isRecord(v.kinds)) {
    problems.push(`kinds: must be an object with one entry per exit kind (${EXIT_KINDS.join(', ')}), each {"cycles", "source"}`);
  } else {
    const kinds = v.kinds;
    for (const k of Object.keys(kinds)) {
      if (!(EXIT_KINDS as readonly string[]).includes(k)) problems.push(`kinds.${k}: unknown exit kind; allowed: ${EXIT_KINDS.join(', ')}`);
    }
    for (const k of EXIT_KINDS) {
      const c = kinds[k];
      if (c === undefined) {
        problems.push(`kinds.${k}: missing; add {"cycles": <number > 0>, "source": "<where it comes from>"}`);
        continue;
      }
      if (!isRecord(c)) {
        problems.push(`kinds.${k}: must be an object {"cycles", "source"}`);
        continue;
      }
      for (const f of Object.keys(c)) if (f !== 'cycles' && f !== 'source') problems.push(`kinds.${k}.${f}: unknown key; allowed: cycles, source`);
      positive(`kinds.${k}.cycles`, c.cycles, 'CPU cycles per exit');
      text(`kinds.${k}.source`, c.source);
    }
  }
  if (problems.length > 0) throw new CostModelError(where, problems);
  return v as unknown as CostModel;
}

/**
 * A user's cost model: a path to a JSON file, JSON text (starting with `{`), or an already parsed
 * object. Validated by {@link validateCostModel}.
 * @throws CostModelError naming every bad field and the fix; Error when the file cannot be read.
 */
export function loadCostModel(src: string | object): CostModel {
  if (typeof src !== 'string') return validateCostModel(src);
  const isText = src.trimStart().startsWith('{');
  const where = isText ? 'cost model' : src;
  let text = src;
  if (!isText) {
    try {
      text = readFileSync(src, 'utf8');
    } catch (e) {
      throw new Error(`cost model ${src}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a JSON file`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CostModelError(where, [`not valid JSON (${(e as Error).message})`]);
  }
  return validateCostModel(parsed, where);
}

// Sources of the default figures. Where a number was not found in a primary source it says so.
const VMEXIT_ISSUE =
  'kvm-unit-tests x86/vmexit.c (https://gitlab.com/kvm-unit-tests/kvm-unit-tests/-/blob/master/x86/vmexit.c) figures as quoted in pvisor issue 4';
const NOT_LOCATED = 'the primary table (which machine, which kernel) was not located when this model was written, so treat the figure as a quoted value, not a measurement we can trace';
const SPLITX =
  'SplitX: Split Guest/Hypervisor Execution on Multi-Core (Landau, Ben-Yehuda, Gordon, IBM Research Haifa; copy read at https://m.moam.info/splitx-split-guest-hypervisor-execution-on-multi-core-usenix_59e5379e1723ddf9a2a71953.html): the direct cost of an exit alone (the world switch both ways, no handling) is about 2,000 cycles on a Xeon X5570 at 2.93 GHz, KVM of Linux 2.6.34';
const GVISOR =
  'gVisor PR 7370 (https://github.com/google/gvisor/pull/7370): BenchmarkWorldSwitchToUserRoundtrip 5,655 ns on a Xeon W-2135 at 3.7 GHz, about 20.9 k cycles for a guest exit that returns to a userspace VMM and re-enters';
const BONZINI_NESTED =
  'Paolo Bonzini, "[PATCH 00/43] VMX optimizations" (kvm@vger.kernel.org cover letter), nested vmexit.flat after the series: vmcall 13,189, inl_from_kernel 13,518, inl_from_qemu 44,826, self_ipi_sti_nop 14,858, self_ipi_sti_hlt 28,348 cycles (nested virtualization, so only the ratios carry over)';

/**
 * The default model: a KVM host on Intel VT-x, with pvisor's devices priced as a userspace device
 * model (QEMU-like) because they live in the host process, outside the "hypervisor core" that
 * handles hypercalls. Each kind's `source` says where its figure comes from; figures marked
 * "estimate" are ours. `cpuGhz` is a modeled clock for turning cycles into ns (the figures' own
 * machine is not known), not the machine of any measurement.
 */
export const DEFAULT_COST_MODEL: CostModel = {
  name: 'kvm-vmx-userspace-devices',
  cpuGhz: 3.0,
  source: `Per-exit cycles of a KVM/VT-x host; hypercall and port/MMIO figures from ${VMEXIT_ISSUE} (${NOT_LOCATED}); cross-checked against SplitX, gVisor PR 7370 and Bonzini's nested vmexit.flat ratios; halt, injection and upcall are estimates. Clock 3.0 GHz is a modeling choice.`,
  kinds: {
    hypercall: {
      cycles: 3900,
      // A PV hypercall is handled inside the hypervisor (KVM's vmcall, Xen's hypercall page): no
      // trip to userspace, so the vmcall row fits.
      source: `vmcall ≈ 3.9 k cycles: ${VMEXIT_ISSUE}; ${NOT_LOCATED}. Plausible against ${SPLITX} (3.9 k = the 2 k world switch plus handling).`,
    },
    pio: {
      cycles: 20600,
      // pvisor's legacy devices (UART, PIC, PIT, ATA, NE2000) are TypeScript in the host process:
      // the analogue of QEMU's device models, not of KVM's in-kernel PIC/PIT, so each port exit is
      // priced as a round trip to a userspace VMM (inl_from_qemu), not as inl_from_kernel (≈ 7.2 k).
      source: `PIO exit to a userspace device model (inl_from_qemu) ≈ 20.6 k cycles, vs ≈ 7.2 k handled in the kernel (inl_from_kernel): ${VMEXIT_ISSUE}; ${NOT_LOCATED}. Agrees with ${GVISOR}; the userspace/kernel ratio (2.9) is close to the 3.3 of ${BONZINI_NESTED}.`,
    },
    mmio: {
      cycles: 20600,
      // virtio-mmio registers are decoded by the host's device model, so an MMIO exit is a
      // userspace round trip like a PIO one.
      source: `estimate: priced as the userspace PIO exit (${VMEXIT_ISSUE}, inl_from_qemu ≈ 20.6 k); a real MMIO exit (EPT misconfiguration) also decodes the faulting instruction, so this is a lower bound; no separate MMIO figure was located.`,
    },
    halt: {
      cycles: 7200,
      // hlt is handled by KVM itself (with the in-kernel LAPIC) — here by the hypervisor core's
      // scheduler — so it is a kernel-handled exit; the idle time that follows is not a cost.
      source: `estimate: a kernel-handled exit, priced as inl_from_kernel ≈ 7.2 k cycles (${VMEXIT_ISSUE}; ${NOT_LOCATED}). In ${BONZINI_NESTED} a halt adds about one exit round trip (self_ipi_sti_hlt − self_ipi_sti_nop ≈ vmcall).`,
    },
    injection: {
      cycles: 1700,
      // Injection happens at VM entry (VMCS event injection), no exit of its own; the guest's EOI
      // is a port write, counted and priced under pio.
      source: `estimate: the extra cost of delivering an interrupt at VM entry, taken as self_ipi_sti_nop − vmcall ≈ 1.7 k cycles from ${BONZINI_NESTED} (a nested measurement, so an upper-side guess).`,
    },
    upcall: {
      cycles: 1700,
      // A PV event-channel upcall is the same act as an injection (the hypervisor redirects the
      // vCPU to the guest's callback at VM entry); masking and pending bits are shared memory.
      source: 'estimate: priced as an interrupt injection (same mechanism at VM entry: a callback frame instead of an IDT vector); no separate published figure was located.',
    },
  },
};
