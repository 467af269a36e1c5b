/**
 * `pvisor boot DOM0.wasm --mem SIZE [--vcpus N] [--image NAME=PATH]… [devices] [options]`: one
 * privileged domain that holds the whole host and creates the others itself (issue 6).
 *
 * The flags `boot` shares with `run` (memory, vCPUs, command line, devices, seed, time limit,
 * trace, capture, control socket) are read by `planRun`, so they mean and check the same; this
 * module adds what is particular: `--mem` is required (it is the host's memory), the domain is
 * privileged and named dom0 by default, its first device is the boot volume built from
 * `--image` (src/control/boot-volume.ts), and the run ends when it ends. `runPlan` does the rest
 * and prints the usual report.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { UsageError, type ParsedArgs } from './args.ts';
import type { CliIo } from './cli.ts';
import { checkName } from './config.ts';
import { planRun, type RunPlan } from './plan.ts';
import { BOOTVOL_MAX_BYTES, BOOTVOL_MAX_ENTRIES, BootVolumeError, buildBootVolume, checkBootName, type BootFile } from '../control/boot-volume.ts';

/** Name of the controlling domain when `--name` is not given. */
export const DEFAULT_DOM0_NAME = 'dom0';

/** One `--image NAME=PATH`, split. */
export interface ImageFlag {
  /** The name on the boot volume. */
  name: string;
  /** The file's path, as given. */
  path: string;
  /** The flag as typed, for messages: `--image NAME=PATH`. */
  origin: string;
}

/**
 * Splits the `--image` values at their first `=` and checks the names.
 * @returns the images in order, or throws.
 * @throws {@link UsageError} listing every value that is not NAME=PATH, a bad or repeated name,
 *   or more than 15 images.
 */
export function parseImageFlags(values: string | true | string[] | undefined): ImageFlag[] {
  if (values === undefined || values === true) return [];
  const list = typeof values === 'string' ? [values] : values;
  const problems: string[] = [];
  const out: ImageFlag[] = [];
  const seen = new Map<string, string>();
  for (const text of list) {
    const origin = `--image ${text}`;
    const eq = text.indexOf('=');
    if (eq < 0) {
      problems.push(`${origin}: expected NAME=PATH (the name on the boot volume, then the file), e.g. --image worker=${text}`);
      continue;
    }
    const name = text.slice(0, eq);
    const path = text.slice(eq + 1);
    const bad = checkBootName(name);
    if (bad !== undefined) problems.push(`${origin}: ${bad}`);
    if (path === '') problems.push(`${origin}: no PATH after "="; give the file to put on the boot volume`);
    const earlier = seen.get(name);
    if (earlier !== undefined) problems.push(`${origin}: the name "${name}" is already used by ${earlier}; give each image its own name`);
    seen.set(name, origin);
    out.push({ name, path, origin });
  }
  if (list.length > BOOTVOL_MAX_ENTRIES) problems.push(`--image: ${list.length} images; the boot volume holds at most ${BOOTVOL_MAX_ENTRIES}`);
  if (problems.length > 0) throw new UsageError(problems, 'boot');
  return out;
}

/**
 * Reads the images and builds the boot volume.
 * @param read - reads a file (tests pass their own); default `readFileSync`.
 * @throws {@link UsageError} naming the `--image` of a file that is missing, not a file, or too big.
 */
export function buildVolumeFromFlags(images: readonly ImageFlag[], read: (path: string) => Uint8Array = readImageFile): Uint8Array {
  const problems: string[] = [];
  const files: BootFile[] = [];
  for (const img of images) {
    try {
      files.push({ name: img.name, bytes: read(img.path), origin: img.origin });
    } catch (err) {
      problems.push(`${img.origin}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new UsageError(problems, 'boot');
  try {
    return buildBootVolume(files);
  } catch (err) {
    if (err instanceof BootVolumeError) throw new UsageError(err.message, 'boot');
    throw err;
  }
}

/** Reads one image file, with messages that say the fix. */
function readImageFile(path: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error(`${path} is not a file; give a file to put on the boot volume`);
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no such file: ${path}`);
    throw err;
  }
  if (size > BOOTVOL_MAX_BYTES) throw new Error(`${path} is ${size} bytes; the boot volume holds at most ${BOOTVOL_MAX_BYTES / (1024 * 1024)} MiB`);
  return new Uint8Array(readFileSync(path));
}

/**
 * Builds the plan of `pvisor boot` from its parsed flags: `planRun`'s single-domain plan, made
 * privileged, with the boot volume and `endWith` set.
 * @param read - reads an `--image` file (tests pass their own).
 * @throws {@link UsageError} naming the flag at fault and the fix.
 */
export function planBoot(args: ParsedArgs, read?: (path: string) => Uint8Array): RunPlan {
  const { flags, positionals } = args;
  if (positionals.length === 0) throw new UsageError('missing DOM0.wasm: pvisor boot DOM0.wasm --mem SIZE [--image NAME=PATH]...', 'boot');
  if (positionals.length > 1) {
    const got = positionals.map((p) => `"${p}"`).join(', ');
    throw new UsageError(`one DOM0.wasm (got ${got}); put the other images on its boot volume with --image NAME=PATH`, 'boot');
  }
  if (flags.mem === undefined) throw new UsageError("--mem is required: the host's memory, all of it dom0's at boot, e.g. --mem 256M", 'boot');
  const images = parseImageFlags(flags.image);
  let plan: RunPlan;
  try {
    // `boot` has no --config; planRun reads the flags they share and checks them the same way.
    plan = planRun(args, () => {
      throw new UsageError('pvisor boot takes no --config', 'boot');
    });
  } catch (err) {
    // Point at boot's help rather than run's for the flags they share.
    if (err instanceof UsageError && err.helpFor === 'run') throw new UsageError(err.problems, 'boot');
    throw err;
  }
  const dom0 = plan.domains[0]!;
  if (typeof flags.name !== 'string') {
    dom0.name = DEFAULT_DOM0_NAME;
  } else {
    const bad = checkName(flags.name);
    if (bad) throw new UsageError(`--name: ${bad}`, 'boot');
  }
  dom0.privileged = true;
  dom0.bootVolume = buildVolumeFromFlags(images, read);
  plan.endWith = dom0.name;
  return plan;
}

/**
 * `pvisor boot`: plans, builds the boot volume, runs until dom0 ends and prints the report.
 * @returns the exit status, as `pvisor run`'s.
 * @throws {@link UsageError} for bad flags or files (exit 2).
 */
export async function runBoot(args: ParsedArgs, io: CliIo): Promise<number> {
  const plan = planBoot(args);
  const { runPlan } = await import('./run.ts');
  return await runPlan(plan, io);
}
