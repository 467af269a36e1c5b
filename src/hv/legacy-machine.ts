/**
 * What the core and the engine need from the emulated legacy PC of an unmodified guest (spec
 * `legacyPlatform`); src/legacy/platform.ts builds one. Kept to an interface so the core does not
 * depend on the device models.
 *
 * TIME. Devices never look at a clock of their own: the core calls {@link LegacyMachine.sync}
 * with the virtual time when {@link LegacyMachine.nextDeadline} has passed (and the engine at each
 * exit), so everything a device does is a function of virtual time and guest accesses.
 * @module
 */
import type { PortBus } from '../legacy/port-bus.ts';

/** Exits of an unmodified guest that are not MMIO or port accesses (the engine counts them). */
export interface LegacyExits {
  /** `hw.halt` traps. */
  halt: number;
  /** Interrupts injected (calls of the guest's `hw_interrupt`). */
  injections: number;
}

/** The legacy platform of one domain. */
export interface LegacyMachine {
  /** The port I/O space the `hw.in*` / `hw.out*` traps go to (with per-range counters). */
  readonly ports: PortBus;
  /** Brings time-driven device state (the PIT) up to virtual time `now` (ns); may raise IRQs. */
  sync(now: number): void;
  /** The next virtual time at which `sync` has something to do (Infinity: nothing scheduled). */
  nextDeadline(): number;
  /** The vector the PIC would deliver now, if an unmasked request is pending (no side effects). */
  pendingVector(): number | undefined;
  /** The INTA cycle: the PIC marks the request in service and returns its vector. */
  acknowledge(): number;
  /** Set by the core: called whenever a device raises an interrupt request (wakes a halted vCPU). */
  onInterrupt: (() => void) | undefined;
  /** Hands on buffered console output (called at the end of a run). */
  flush(): void;
  /** Exit counters (the engine increments them). */
  readonly exits: LegacyExits;
}
