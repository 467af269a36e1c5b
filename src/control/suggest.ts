/**
 * "Did you mean …?" for names a user or a client typed: the CLI's flags, commands and config
 * keys, and the control socket's ops, fields and domain names.
 * @module
 */

/**
 * The candidate closest to `word` (edit distance, or a unique prefix), or undefined when none
 * is close enough to be a plausible typo.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  if (w === '') return undefined;
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(w));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  const allowed = Math.max(1, Math.floor(w.length / 3));
  return bestDist <= allowed ? best : undefined;
}

/** Levenshtein distance, counting a swap of two adjacent letters as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(v);
    }
    d.push(row);
  }
  return (d[a.length] as number[])[b.length] as number;
}
