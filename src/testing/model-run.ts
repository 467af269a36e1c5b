/**
 * Model-based testing of the hypercall ABI: random command sequences run against the reference
 * model (spec/model) and a host under test, with the call results, the bytes calls write and the
 * whole observable state compared after every command.
 *
 * Commands are chosen *with* the model: an arbitrary only carries selectors ("the k-th live port
 * of the caller", "an unbound port offered to the caller"), and each command resolves them against
 * the current model state when it runs. So sequences stay meaningful (they often name ports that
 * exist) and still shrink well. Calls that would block are never made: a command whose call the
 * model says blocks is skipped by fast-check (`check` returns false).
 *
 * ```ts
 * import { modelRun, hvHost } from 'pvisor/testing';
 * modelRun(hvHost, { seed: 42, numRuns: 200 });
 * ```
 * @module
 */
import fc from 'fast-check';
import { observe, type ModelDomainConfig } from '../../spec/model/index.ts';
import { DEFAULT_DOMAINS, fail, hypercallCommands, type CommandsConfig, type ModelWorld } from './commands.ts';
import { diffObservations } from './diff.ts';
import type { HostFactory, HostUnderTest } from './host.ts';
import { modelHost } from './model-host.ts';

/** Options of {@link modelRun}. */
export interface ModelRunOptions {
  /** fast-check seed (print it in the test title, so a failure can be replayed). */
  readonly seed: number;
  /** Number of command sequences. */
  readonly numRuns: number;
  /**
   * fast-check replay path (`"3:1:0"`) of a failure reported for this seed: with it the run jumps
   * straight to that (shrunk) counterexample.
   */
  readonly path?: string;
  /** The domains to create (default {@link DEFAULT_DOMAINS}). */
  readonly domains?: readonly ModelDomainConfig[];
  /** Which commands to generate. */
  readonly commands?: CommandsConfig;
}

/**
 * The model-based property itself: for any command sequence, a fresh host from `makeHost` and
 * the reference model agree after every command. For callers that want their own `fc.assert` /
 * `fc.check` parameters; {@link modelRun} and {@link checkModelRun} wrap it.
 */
export function modelRunProperty(makeHost: HostFactory, opts: Omit<ModelRunOptions, 'seed' | 'numRuns' | 'path'> = {}): fc.IPropertyWithHooks<[Iterable<fc.Command<ModelWorld, HostUnderTest>>]> {
  const domains = opts.domains ?? DEFAULT_DOMAINS;
  // Time commands only when the host can let time pass, blocking calls only when it reports
  // blocked vCPUs (one probe host tells).
  const probe = makeHost(domains);
  const time = opts.commands?.time ?? probe.advanceTime !== undefined;
  const blocking = opts.commands?.blocking ?? (probe.isBlocked !== undefined && probe.wakeResult !== undefined);
  return fc.property(hypercallCommands({ ...opts.commands, time, blocking }), (cmds) => {
    const setup = (): { model: ModelWorld; real: HostUnderTest } => {
      const host = makeHost(domains);
      for (const d of domains) {
        if (host.memSize(d.id) !== d.memSize) {
          throw new Error(`harness setup: domain ${d.id} has ${host.memSize(d.id)} bytes on the host, ${d.memSize} in the model`);
        }
      }
      const model = modelHost(domains, { sharedInfoAddr: (d) => host.sharedInfoAddr(d.id), ...(host.loader !== undefined ? { loader: host.loader } : {}) });
      // Start from the host's bytes (start_info, wallclock fields): calls that read guest memory
      // anywhere (console_write of the top page) must see the same bytes on both sides.
      if (host.readMem !== undefined) for (const d of domains) model.loadImage(d.id, host.readMem(d.id, 0, d.memSize));
      const diff = diffObservations(observe(model.state), host.observe());
      if (diff.length > 0) fail(null, diff);
      return { model: { model, trace: [], blocking, waiting: new Map() }, real: host };
    };
    fc.modelRun(setup, cmds);
  });
}

function params(opts: ModelRunOptions): fc.Parameters<[Iterable<fc.Command<ModelWorld, HostUnderTest>>]> {
  // includeErrorInReport: the thrown diff (with the resolved trace) is the useful part of a failure.
  return { seed: opts.seed, numRuns: opts.numRuns, includeErrorInReport: true, ...(opts.path !== undefined ? { path: opts.path } : {}) };
}

/**
 * Runs random command sequences against a fresh host from `makeHost(domains)` and the reference
 * model, comparing after every command: each call's result, the bytes it writes, and the whole
 * observable state (domain status, vCPU upcall bits and timers, ports, pending and mask bits,
 * console text).
 *
 * @param makeHost - builds the host under test ({@link hvHost}, {@link modelHost}, or your own)
 * @throws Error (from fast-check) on the first disagreement, with the seed, the replay path, the
 *   shrunk command sequence, the resolved calls of the failing run and a field-by-field diff
 */
export function modelRun(makeHost: HostFactory, opts: ModelRunOptions): void {
  fc.assert(modelRunProperty(makeHost, opts), params(opts));
}

/**
 * {@link modelRun} without throwing: fast-check's run details (failed, seed, counterexamplePath,
 * counterexample, errorInstance), for tools that report failures their own way (`npm run fuzz`,
 * {@link formatRegression}).
 */
export function checkModelRun(makeHost: HostFactory, opts: ModelRunOptions): fc.RunDetails<[Iterable<fc.Command<ModelWorld, HostUnderTest>>]> {
  return fc.check(modelRunProperty(makeHost, opts), params(opts));
}
