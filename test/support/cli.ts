/**
 * Runs the `pvisor` command in-process (src/cli/cli.ts) and captures what it prints, for tests
 * of its commands and their errors.
 */
import { cli, type CliIo } from '../../src/cli/cli.ts';

/** Runs `pvisor ARGV…` and returns its exit status and what it wrote to stdout and stderr. */
export async function pvisor(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const status = await cli(argv, io);
  return { status, out, err };
}
