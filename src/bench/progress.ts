/**
 * Progress of a benchmark on stderr: on a terminal, one bar redrawn in place; otherwise (a log,
 * CI, a pipe) one plain line per finished run, so nothing is full of carriage returns. Never on
 * stdout, which holds the results.
 * @module
 */
import type { PvVsFvProgress } from './pv-vs-fv.ts';

/** A sink for progress events and the end of the bench. */
export interface ProgressReporter {
  /** Hand to `runPvVsFv({ onProgress })`. */
  onProgress(p: PvVsFvProgress): void;
  /** Clears the bar (terminal) before the results are printed. */
  finish(): void;
}

/** Width of the bar in characters. */
const BAR = 24;

/** The bar line for a progress event: `[#####-------]  3/12  net-64 fv  12.3 s`. */
export function progressLine(p: PvVsFvProgress, elapsedMs: number): string {
  const filled = p.total === 0 ? BAR : Math.round((p.done / p.total) * BAR);
  const what = p.phase === 'warmup' ? `warming up: ${p.run}` : p.phase === 'start' ? `running ${p.run}` : `done ${p.run}`;
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total}  ${what}  ${(elapsedMs / 1000).toFixed(1)} s`;
}

/** How often the bar's clock is redrawn during a run (the runner lets the event loop turn every 20 ms). */
export const REDRAW_MS = 250;

/**
 * A reporter writing to `write` (stderr). `tty`: redraw one line with `\r`, at each event and
 * every {@link REDRAW_MS} in between (so the elapsed time moves during a long run); else one
 * line per finished run and one for the warm-up.
 */
export function progressReporter(write: (text: string) => void, tty: boolean, now: () => number = () => performance.now()): ProgressReporter {
  const t0 = now();
  let last: PvVsFvProgress | undefined;
  let warned = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const draw = (): void => {
    if (last !== undefined) write(`\r\x1b[K${progressLine(last, now() - t0)}`);
  };
  return {
    onProgress(p) {
      if (tty) {
        last = p;
        draw();
        if (timer === undefined) {
          timer = setInterval(draw, REDRAW_MS);
          timer.unref();
        }
        return;
      }
      if (p.phase === 'warmup' && !warned) {
        warned = true;
        write('pvisor: bench: warming up (every workload once at the quick scale, untimed)\n');
      }
      if (p.phase === 'end') write(`pvisor: bench: ${p.done}/${p.total} ${p.run} done in ${((p.wallMs ?? 0) / 1000).toFixed(2)} s\n`);
    },
    finish() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (tty && last !== undefined) write('\r\x1b[K');
      last = undefined;
    },
  };
}
