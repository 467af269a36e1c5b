/**
 * The pv-vs-fv chart as a self-contained SVG string (no dependencies, no scripts, no external
 * fonts): one panel per measure — exits, wall time, modeled exit time — each with a PV bar and an
 * FV bar per workload on a log scale (the two differ by up to six orders of magnitude, which a
 * linear axis would flatten to nothing), the value printed at the end of each bar, and PV's gain
 * (FV / PV) at the right of each pair. Read it across: the shorter the PV bar, the better.
 * @module
 */
import { fmtNum, type PvVsFvResult, type PvVsFvRow, type WorkloadName } from './pv-vs-fv.ts';

/** A measure a panel shows. */
interface Panel {
  title: string;
  axis: string;
  value: (r: PvVsFvRow) => number;
}

const PANELS: Panel[] = [
  { title: 'Exits', axis: 'exits per run (log scale)', value: (r) => r.exits.total },
  { title: 'Wall time', axis: 'ms measured on this host (log scale)', value: (r) => r.wallMs },
  { title: 'Modeled exit time', axis: 'ms the cost model charges (log scale)', value: (r) => r.modeledMs },
];

const COLOR = { pv: '#2b6cb0', fv: '#dd6b20' } as const;

/** Escapes text for an XML text node or attribute. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The powers of ten covering [lo, hi] (lo > 0), at least one decade. */
function decades(lo: number, hi: number): { min: number; max: number } {
  let min = Math.floor(Math.log10(lo));
  // Keep the shortest bar visible: a value just above a decade would otherwise be a sliver.
  if (Math.log10(lo) - min < 0.3) min--;
  const max = Math.max(min + 1, Math.ceil(Math.log10(hi)));
  return { min, max };
}

/** A power of ten as a short label: 1, 10, 100, 1k, 10k, … 1M, … ; 0.1, 0.01, … below 1. */
function tickLabel(e: number): string {
  if (e < 0) return (10 ** e).toFixed(-e);
  const names = ['', 'k', 'M', 'G', 'T'];
  const g = Math.min(Math.floor(e / 3), names.length - 1);
  return `${10 ** (e - 3 * g)}${names[g]}`;
}

/**
 * Renders the chart of a pv-vs-fv result.
 * @returns an SVG document (UTF-8 text); one `<rect class="bar">` per row and panel.
 */
export function pvVsFvSvg(r: PvVsFvResult): string {
  const workloads: WorkloadName[] = r.ratios.map((x) => x.workload);
  const row = (w: WorkloadName, v: 'pv' | 'fv'): PvVsFvRow => r.rows.find((x) => x.workload === w && x.variant === v)!;

  const labelW = 96;
  const panelW = 300;
  const gap = 24;
  const barH = 15;
  const pairGap = 14;
  const top = 92;
  const groupH = 2 * barH + 4 + pairGap;
  const plotH = workloads.length * groupH;
  const width = labelW + PANELS.length * (panelW + gap) + 8;
  const height = top + plotH + 64;
  const valueW = 62;
  const gainW = 52;
  const barMax = panelW - valueW - gainW;

  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<title>pvisor: paravirtual (PV) against fully virtualized (FV) devices</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${labelW}" y="24" font-size="16" font-weight="bold">Paravirtual (virtio, hypercalls) vs full virtualization (16550, ATA PIO, NE2000, PIT)</text>`,
    `<text x="${labelW}" y="42" fill="#444">${esc(`Same workload source, both builds, one process; ${r.scale} scale; cost model: ${r.costModel.name}, ${r.costModel.cpuGhz} GHz. Shorter is better; the right-hand figure is FV / PV.`)}</text>`,
    // Legend.
    `<rect x="${labelW}" y="52" width="12" height="12" fill="${COLOR.pv}"/><text x="${labelW + 17}" y="62">PV (paravirtual)</text>`,
    `<rect x="${labelW + 130}" y="52" width="12" height="12" fill="${COLOR.fv}"/><text x="${labelW + 147}" y="62">FV (emulated legacy devices)</text>`,
  );

  PANELS.forEach((p, pi) => {
    const x0 = labelW + pi * (panelW + gap);
    const vals = r.rows.map(p.value).filter((v) => v > 0);
    const { min, max } = decades(vals.length > 0 ? Math.min(...vals) : 1, vals.length > 0 ? Math.max(...vals) : 10);
    const xOf = (v: number): number => (v <= 0 ? 0 : ((Math.log10(v) - min) / (max - min)) * barMax);
    o.push(`<g class="panel" data-measure="${esc(p.title)}">`);
    o.push(`<text x="${x0}" y="${top - 10}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    o.push(`<text x="${x0 + panelW - 2}" y="${top - 10}" text-anchor="end" fill="#444">FV / PV</text>`);
    // Decade grid lines and tick labels.
    for (let e = min; e <= max; e++) {
      const x = x0 + xOf(10 ** e);
      o.push(`<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${top + plotH}" stroke="#ddd"/>`);
      o.push(`<text x="${x.toFixed(1)}" y="${top + plotH + 14}" text-anchor="middle" fill="#444">${tickLabel(e)}</text>`);
    }
    o.push(`<line x1="${x0}" y1="${top + plotH}" x2="${x0 + barMax}" y2="${top + plotH}" stroke="#888"/>`);
    o.push(`<text x="${x0 + barMax / 2}" y="${top + plotH + 32}" text-anchor="middle" fill="#222">${esc(p.axis)}</text>`);
    workloads.forEach((w, wi) => {
      const y0 = top + wi * groupH + pairGap / 2;
      for (const [vi, v] of (['pv', 'fv'] as const).entries()) {
        const value = p.value(row(w, v));
        const y = y0 + vi * (barH + 4);
        const bw = Math.max(1, xOf(value));
        o.push(
          `<rect class="bar" data-workload="${w}" data-variant="${v}" x="${x0}" y="${y}" width="${bw.toFixed(1)}" height="${barH}" fill="${COLOR[v]}"><title>${esc(`${w} ${v.toUpperCase()}: ${fmtNum(value)}`)}</title></rect>`,
          `<text x="${(x0 + bw + 4).toFixed(1)}" y="${y + barH - 4}" fill="#222">${esc(fmtNum(value))}</text>`,
        );
      }
      const pv = p.value(row(w, 'pv'));
      const fv = p.value(row(w, 'fv'));
      const gain = pv > 0 ? `×${fmtNum(fv / pv)}` : '–';
      o.push(`<text x="${x0 + panelW - 2}" y="${y0 + barH + 6}" text-anchor="end" font-weight="bold" fill="${fv >= pv ? '#276749' : '#9b2c2c'}">${esc(gain)}</text>`);
    });
    o.push('</g>');
  });
  // Workload labels, once, at the left.
  workloads.forEach((w, wi) => {
    const y = top + wi * groupH + pairGap / 2 + barH + 6;
    o.push(`<text x="${labelW - 8}" y="${y}" text-anchor="end" font-weight="bold">${esc(w)}</text>`);
  });
  const bad = r.ok ? '' : ' — RESULTS DIFFERED, see the table';
  const reps = r.reps > 1 ? `; wall time: median of ${r.reps} runs` : '';
  o.push(`<text x="${labelW}" y="${height - 10}" fill="#666">${esc(`${r.host.cpu} ×${r.host.cpus}, node ${r.host.node}, ${r.startedAt}${reps}${bad}`)}</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
