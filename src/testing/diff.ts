/**
 * A readable difference between two observations (model vs host), one line per differing leaf,
 * e.g. `domains[1].ports[port 3].remoteDom: model 2, host 3` or
 * `domains[0].pending: host lacks [5], host has extra [7]`.
 * @module
 */

function fmt(v: unknown): string {
  if (v === undefined) return 'absent';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPortList(v: unknown[]): boolean {
  return v.every((x) => isRecord(x) && typeof x.port === 'number');
}

function diffStrings(path: string, e: string, a: string): string[] {
  // Short strings (port states, status) read best whole; long ones (console) from the first difference.
  if (e.length <= 60 && a.length <= 60) return [`${path}: model ${fmt(e)}, host ${fmt(a)}`];
  let i = 0;
  while (i < e.length && i < a.length && e[i] === a[i]) i++;
  return [`${path}: differs at char ${i} (model length ${e.length}, host ${a.length}): model ${fmt(e.slice(i, i + 40))}, host ${fmt(a.slice(i, i + 40))}`];
}

/** Lines describing where `model` and `host` differ; empty when they are equal. */
export function diffObservations(model: unknown, host: unknown, path = ''): string[] {
  if (typeof model === 'string' && typeof host === 'string') {
    return model === host ? [] : diffStrings(path, model, host);
  }
  if (Array.isArray(model) && Array.isArray(host)) {
    // Lists of port numbers (pending, mask): compare as sets.
    if (model.every((x) => typeof x === 'number') && host.every((x) => typeof x === 'number')) {
      const missing = model.filter((x) => !host.includes(x));
      const extra = host.filter((x) => !model.includes(x));
      const out: string[] = [];
      if (missing.length > 0) out.push(`${path}: host lacks ${fmt(missing)}`);
      if (extra.length > 0) out.push(`${path}: host has extra ${fmt(extra)}`);
      if (out.length === 0 && model.join() !== host.join()) out.push(`${path}: order differs: model ${fmt(model)}, host ${fmt(host)}`);
      return out;
    }
    // Lists of ports: align by port number, so one missing port does not shift every other.
    if (isPortList(model) && isPortList(host)) {
      const byPort = (xs: unknown[]) => new Map(xs.map((x) => [(x as { port: number }).port, x]));
      const m = byPort(model);
      const h = byPort(host);
      const ports = [...new Set([...m.keys(), ...h.keys()])].sort((x, y) => x - y);
      return ports.flatMap((p) => diffObservations(m.get(p), h.get(p), `${path}[port ${p}]`));
    }
    const out: string[] = [];
    if (model.length !== host.length) out.push(`${path}.length: model ${model.length}, host ${host.length}`);
    for (let i = 0; i < Math.min(model.length, host.length); i++) {
      out.push(...diffObservations(model[i], host[i], `${path}[${i}]`));
    }
    return out;
  }
  if (isRecord(model) && isRecord(host)) {
    const keys = [...new Set([...Object.keys(model), ...Object.keys(host)])];
    return keys.flatMap((k) => diffObservations(model[k], host[k], path === '' ? k : `${path}.${k}`));
  }
  return Object.is(model, host) ? [] : [`${path}: model ${fmt(model)}, host ${fmt(host)}`];
}
