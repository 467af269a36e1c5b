/** Runs built example guests through the real toolstack and collects their console output. */
import { fileURLToPath } from 'node:url';
import { System } from '../../src/control/system.ts';
import type { RunReport } from '../../src/control/types.ts';

/** Path of a built example guest. */
export const example = (name: string): string => fileURLToPath(new URL(`../../guest-kit/examples/${name}.wasm`, import.meta.url));

/** One domain to run. */
export interface GuestSpec {
  name: string;
  image: string;
  cmdline?: string;
  vcpus?: number;
  memBytes?: number;
}

/** Runs the domains together; returns the report and each domain's console text. */
export async function runGuests(specs: GuestSpec[], opts: { maxTimeNs?: number; trace?: boolean } = {}): Promise<{ report: RunReport; out: Record<string, string>; log: string[] }> {
  const out: Record<string, string> = {};
  const log: string[] = [];
  const sys = new System({
    seed: 1,
    console: (d, text) => (out[d] = (out[d] ?? '') + text),
    log: (l) => log.push(l),
    ...(opts.maxTimeNs !== undefined ? { maxTimeNs: opts.maxTimeNs } : {}),
    ...(opts.trace === true ? { trace: true } : {}),
  });
  for (const s of specs) {
    await sys.addDomain({ name: s.name, image: s.image, memBytes: s.memBytes ?? 1 << 20, vcpus: s.vcpus ?? 1, cmdline: s.cmdline ?? '' });
  }
  const report = await sys.run();
  return { report, out, log };
}
