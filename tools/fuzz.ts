/**
 * Long property campaigns: `npm run fuzz -- --seed S --runs N [--host hv|model|guest]
 * [--property model|conservation] [--devices] [--max-commands K]`.
 *
 * - `hv` (default) / `model`: the model-based property of pvisor/testing against pvisor's core
 *   (or the model itself, to check the harness). On a failure it prints the seed, the replay path,
 *   the shrunk counterexample and a ready-to-paste vitest regression test for test/regression/.
 * - `--property conservation` (with `hv` or `model`): issue 6's conservation rule instead: random
 *   ballooning, create / destroy, vCPU counts, memory targets, shutdowns and crashes; the frames
 *   and vCPUs all domains hold plus the free pools must equal the initial totals after every step
 *   (DOMCTL_PHYSINFO and an independent recomputation). A failure prints the steps and a
 *   regression test.
 * - `guest`: hostile-guest programs (valid, boundary and hostile calls) run inside the Wasm
 *   interpreter guest and compared with the model; a failure prints the shrunk program and a
 *   regression test that runs it.
 *
 * Exit code 1 on a failure. Without --seed a fresh seed is drawn (and printed, so the campaign
 * can be repeated).
 */
import fc from 'fast-check';
import {
  HOSTILE_GUEST_CONTEXT,
  DEVICE_DOMAINS,
  FAKE_LOADER,
  checkConservation,
  checkModelRun,
  formatRegression,
  hostileGuest,
  hvHost,
  hypercallArbitrary,
  modelHost,
  replayPathOf,
  type HostFactory,
  type HypercallInput,
} from '../src/testing/index.ts';

interface Args {
  seed: number;
  runs: number;
  host: 'hv' | 'model' | 'guest';
  property: 'model' | 'conservation';
  /** Model-based runs on DEVICE_DOMAINS with ballooning on (device moves, create/destroy cycles). */
  devices: boolean;
  maxCommands: number | undefined;
}

function usage(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\nusage: npm run fuzz -- [--seed S] [--runs N] [--host hv|model|guest] [--property model|conservation] [--devices] [--max-commands K]\n`);
  process.exit(2);
}

function parse(argv: string[]): Args {
  const a: Args = { seed: (Date.now() ^ (Math.random() * 2 ** 31)) | 0, runs: 1000, host: 'hv', property: 'model', devices: false, maxCommands: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => argv[++i] ?? usage(`${k} needs a value`);
    const int = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isSafeInteger(n)) usage(`${k}: not an integer: ${s}`);
      return n;
    };
    if (k === '--seed') a.seed = int();
    else if (k === '--runs') a.runs = int();
    else if (k === '--max-commands') a.maxCommands = int();
    else if (k === '--devices') a.devices = true;
    else if (k === '--host') {
      const h = v();
      if (h !== 'hv' && h !== 'model' && h !== 'guest') usage(`--host: hv, model or guest, not ${h}`);
      a.host = h;
    } else if (k === '--property') {
      const p = v();
      if (p !== 'model' && p !== 'conservation') usage(`--property: model or conservation, not ${p}`);
      a.property = p;
    } else usage(`unknown argument ${k}`);
  }
  if (a.property === 'conservation' && a.host === 'guest') usage('--property conservation runs with --host hv or --host model');
  return a;
}

const args = parse(process.argv.slice(2));
if (args.host === 'guest') {
  await fuzzGuest(args);
  process.exit(process.exitCode ?? 0);
}
// The model as a host gets the fake loader hvHost has, so DOMCTL_CREATE succeeds on both.
const makeHost: HostFactory = args.host === 'hv' ? hvHost : (domains) => modelHost(domains, { loader: FAKE_LOADER });
if (args.property === 'conservation') {
  fuzzConservation(args, makeHost);
  process.exit(process.exitCode ?? 0);
}
const commands = { ...(args.maxCommands !== undefined ? { maxCommands: args.maxCommands } : {}), ...(args.devices ? { balloon: true } : {}) };
process.stdout.write(`fuzz: host ${args.host}, seed ${args.seed}, ${args.runs} runs${args.devices ? ', DEVICE_DOMAINS with ballooning' : ''}\n`);
const t0 = performance.now();
const details = checkModelRun(makeHost, { seed: args.seed, numRuns: args.runs, commands, ...(args.devices ? { domains: DEVICE_DOMAINS } : {}) });
const secs = ((performance.now() - t0) / 1000).toFixed(1);
if (!details.failed) {
  process.stdout.write(`fuzz: ${details.numRuns} runs passed in ${secs} s (seed ${args.seed})\n`);
} else {
  const opts = [
    args.maxCommands === undefined ? undefined : `maxCommands: ${args.maxCommands}`,
    args.devices ? 'balloon: true' : undefined,
  ].filter((x) => x !== undefined);
  process.stdout.write(
    [
      `fuzz: FAILED after ${details.numRuns} runs, ${details.numShrinks} shrinks, ${secs} s`,
      `seed: ${details.seed}`,
      `path: ${details.counterexamplePath}`,
      `counterexample: ${String(details.counterexample?.[0] ?? '')}`,
      '',
      String(details.errorInstance instanceof Error ? details.errorInstance.message : details.errorInstance),
      '',
      '--- regression test (paste into test/regression/<what-broke>.test.ts) ---',
      formatRegression(details, {
        hostExpr: args.host === 'hv' ? 'hvHost' : 'modelHost',
        importFrom: '../../src/testing/index.ts',
        ...(opts.length > 0 ? { commandsOptions: opts.join(', ') } : {}),
        ...(args.devices ? { runOptions: 'domains: DEVICE_DOMAINS', runImports: ['DEVICE_DOMAINS'] } : {}),
      }),
    ].join('\n'),
  );
  process.exitCode = 1;
}

function fuzzConservation(a: Args, makeHost: HostFactory): void {
  process.stdout.write(`fuzz: conservation, host ${a.host}, seed ${a.seed}, ${a.runs} runs\n`);
  const t0 = performance.now();
  let steps = 0;
  let created = 0;
  const details = checkConservation(makeHost, {
    seed: a.seed,
    numRuns: a.runs,
    ...(a.maxCommands !== undefined ? { maxCommands: a.maxCommands } : {}),
    onStep: (_acc, step, r) => {
      steps++;
      if (r >= 0 && step.startsWith('DOMCTL_CREATE')) created++;
    },
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (!details.failed) {
    process.stdout.write(`fuzz: ${details.numRuns} runs passed in ${secs} s (seed ${a.seed}; ${steps} checked steps, ${created} domains created)\n`);
    return;
  }
  const hostExpr = a.host === 'hv' ? 'hvHost' : '(domains) => modelHost(domains, { loader: FAKE_LOADER })';
  const replay = replayPathOf(String(details.counterexample?.[0] ?? ''));
  const message = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  process.stdout.write(
    [
      `fuzz: FAILED after ${details.numRuns} runs, ${details.numShrinks} shrinks, ${secs} s`,
      `seed: ${details.seed}`,
      `path: ${details.counterexamplePath}`,
      `counterexample: ${String(details.counterexample?.[0] ?? '')}`,
      '',
      message,
      '',
      '--- regression test (paste into test/regression/<what-broke>.test.ts) ---',
      `import { it } from 'vitest';`,
      `import { conservationRun, FAKE_LOADER, hvHost, modelHost } from '../../src/testing/index.ts';`,
      '',
      `it('regression: conservation (seed ${details.seed})', () => {`,
      `  // Found by npm run fuzz -- --property conservation --host ${a.host} (seed ${details.seed}).`,
      '  // What broke: <fill in>.',
      ...message.split('\n').map((l) => `  // ${l}`),
      `  conservationRun(${hostExpr}, { seed: ${details.seed}, numRuns: 1, path: '${details.counterexamplePath}'${replay !== undefined ? `, replayPath: '${replay}'` : ''}${a.maxCommands !== undefined ? `, maxCommands: ${a.maxCommands}` : ''} });`,
      '});',
      '',
    ].join('\n'),
  );
  process.exitCode = 1;
}

/** A program in the source form of a regression test. */
function programSource(program: readonly HypercallInput[]): string {
  const one = (c: HypercallInput) =>
    `  { name: '${c.name}', nr: ${c.nr}, args: [${c.args.join(', ')}], memory: [${c.memory.map((m) => `{ addr: ${m.addr}, bytes: new Uint8Array([${[...m.bytes].join(', ')}]) }`).join(', ')}] },`;
  return ['[', ...program.map(one), ']'].join('\n');
}

async function fuzzGuest(a: Args): Promise<void> {
  process.stdout.write(`fuzz: hostile guest, seed ${a.seed}, ${a.runs} programs\n`);
  const program = fc.array(
    fc.oneof(
      hypercallArbitrary(HOSTILE_GUEST_CONTEXT, 'valid'),
      hypercallArbitrary(HOSTILE_GUEST_CONTEXT, 'boundary'),
      hypercallArbitrary(HOSTILE_GUEST_CONTEXT, 'hostile'),
    ),
    { maxLength: a.maxCommands ?? 60, size: 'max' },
  );
  const t0 = performance.now();
  const details = await fc.check(
    fc.asyncProperty(program, async (p) => {
      const r = await hostileGuest(p);
      if (r.mismatches.length > 0) throw new Error(`hostile guest disagrees with the model:\n  ${r.mismatches.join('\n  ')}`);
    }),
    { seed: a.seed, numRuns: a.runs },
  );
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (!details.failed) {
    process.stdout.write(`fuzz: ${details.numRuns} programs passed in ${secs} s (seed ${a.seed})\n`);
    return;
  }
  const shrunk = (details.counterexample?.[0] ?? []) as HypercallInput[];
  const message = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  process.stdout.write(
    [
      `fuzz: FAILED after ${details.numRuns} programs, ${details.numShrinks} shrinks, ${secs} s`,
      `seed: ${details.seed}`,
      `path: ${details.counterexamplePath}`,
      '',
      message,
      '',
      '--- regression test (paste into test/regression/<what-broke>.test.ts) ---',
      `import { expect, it } from 'vitest';`,
      `import { hostileGuest } from '../../src/testing/index.ts';`,
      '',
      `it('regression: hostile guest, ${message.split('\n')[1]?.trim().replace(/\\/g, '\\\\').replace(/'/g, "\\'") ?? 'program'}', async () => {`,
      `  // Found by npm run fuzz -- --host guest (seed ${details.seed}, path ${details.counterexamplePath}).`,
      '  // What broke: <fill in>.',
      ...message.split('\n').map((l) => `  // ${l}`),
      `  const program = ${programSource(shrunk).split('\n').join('\n  ')};`,
      '  expect((await hostileGuest(program)).mismatches).toEqual([]);',
      '});',
      '',
    ].join('\n'),
  );
  process.exitCode = 1;
}
