/**
 * The exit cost model (src/bench/cost-model.ts): modeled time is count × cycles / GHz per kind;
 * a user's table is checked field by field, and every error names the field and the fix.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CostModelError, DEFAULT_COST_MODEL, EXIT_KINDS, countsByKind, loadCostModel, modeledNs, validateCostModel } from '../../../src/bench/cost-model.ts';
import type { CostModel } from '../../../src/bench/cost-model.ts';
import { emptyExits } from '../../../src/bench/exits.ts';
import type { ExitCounts } from '../../../src/bench/exits.ts';

/** A valid model with round numbers, built fresh for each test (tests mutate it). */
function model(): CostModel {
  return {
    name: 'round',
    cpuGhz: 2,
    source: 'test',
    kinds: {
      hypercall: { cycles: 1000, source: 'a' },
      pio: { cycles: 10000, source: 'b' },
      mmio: { cycles: 20000, source: 'c' },
      halt: { cycles: 4000, source: 'd' },
      injection: { cycles: 600, source: 'e' },
      upcall: { cycles: 200, source: 'f' },
    },
  };
}

const exits: ExitCounts = {
  hypercalls: { console_write: 3, sched_op: 2 },
  pio: { uart: 7, '(unmapped)': 1 },
  pioItems: { uart: 7, '(unmapped)': 500 },
  mmio: { vda: 4 },
  halt: 2,
  injections: 5,
  upcalls: 10,
  total: 5 + 8 + 4 + 2 + 5 + 10,
};

/** The error a bad model raises, as its list of problems. */
function problems(v: unknown): string[] {
  try {
    validateCostModel(v);
  } catch (e) {
    expect(e).toBeInstanceOf(CostModelError);
    return (e as CostModelError).problems;
  }
  throw new Error('no error');
}

describe('modeledNs', () => {
  it('charges count × cycles / GHz per kind, port exits not items', () => {
    const t = modeledNs(exits, model());
    expect(t.byKind).toEqual({
      hypercall: (5 * 1000) / 2,
      pio: (8 * 10000) / 2,
      mmio: (4 * 20000) / 2,
      halt: (2 * 4000) / 2,
      injection: (5 * 600) / 2,
      upcall: (10 * 200) / 2,
    });
    expect(t.totalNs).toBe(2500 + 40000 + 40000 + 4000 + 1500 + 1000);
  });

  it('is zero for no exits and scales inversely with the clock', () => {
    expect(modeledNs(emptyExits(), DEFAULT_COST_MODEL).totalNs).toBe(0);
    const fast = { ...model(), cpuGhz: 4 };
    expect(modeledNs(exits, fast).totalNs * 2).toBe(modeledNs(exits, model()).totalNs);
  });

  it('countsByKind sums each record', () => {
    expect(countsByKind(exits)).toEqual({ hypercall: 5, pio: 8, mmio: 4, halt: 2, injection: 5, upcall: 10 });
  });
});

describe('DEFAULT_COST_MODEL', () => {
  it('is a valid model with a source for every kind; devices priced as a userspace VMM, above a hypercall', () => {
    expect(validateCostModel(DEFAULT_COST_MODEL)).toBe(DEFAULT_COST_MODEL);
    for (const k of EXIT_KINDS) expect(DEFAULT_COST_MODEL.kinds[k].source.length, k).toBeGreaterThan(40);
    const c = DEFAULT_COST_MODEL.kinds;
    expect(c.pio.cycles).toBeGreaterThan(c.halt.cycles);
    expect(c.halt.cycles).toBeGreaterThan(c.hypercall.cycles);
    expect(c.mmio.cycles).toBeGreaterThanOrEqual(c.pio.cycles);
  });
});

describe('validateCostModel', () => {
  it('accepts a complete model and returns it', () => {
    const m = model();
    expect(validateCostModel(m)).toBe(m);
  });

  it('names unknown keys at the top, in kinds and in a kind', () => {
    const m = { ...model(), colour: 'red' } as Record<string, unknown>;
    (m['kinds'] as Record<string, unknown>)['vmfunc'] = { cycles: 1, source: 'x' };
    (m['kinds'] as Record<string, Record<string, unknown>>)['pio']!['ns'] = 3;
    expect(problems(m)).toEqual([
      'colour: unknown key; allowed: name, cpuGhz, source, kinds',
      `kinds.vmfunc: unknown exit kind; allowed: ${EXIT_KINDS.join(', ')}`,
      'kinds.pio.ns: unknown key; allowed: cycles, source',
    ]);
  });

  it('names every missing kind with what to add', () => {
    const m = model() as unknown as { kinds: Record<string, unknown> };
    delete m.kinds['halt'];
    delete m.kinds['upcall'];
    expect(problems(m)).toEqual([
      'kinds.halt: missing; add {"cycles": <number > 0>, "source": "<where it comes from>"}',
      'kinds.upcall: missing; add {"cycles": <number > 0>, "source": "<where it comes from>"}',
    ]);
  });

  it('refuses non-positive, non-finite and non-number cycles and clock', () => {
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '3000', null]) {
      const m = model() as unknown as Record<string, unknown> & { kinds: Record<string, Record<string, unknown>> };
      m.kinds['mmio']!['cycles'] = bad;
      m['cpuGhz'] = bad;
      const p = problems(m);
      const shown = typeof bad === 'number' ? String(bad) : JSON.stringify(bad);
      expect(p, String(bad)).toEqual([
        `cpuGhz: ${shown} is not a number > 0; give the modeled CPU clock in GHz, e.g. 3.0`,
        `kinds.mmio.cycles: ${shown} is not a number > 0; give CPU cycles per exit`,
      ]);
    }
    const m = model() as unknown as { kinds: Record<string, Record<string, unknown>> };
    delete m.kinds['pio']!['cycles'];
    expect(problems(m)).toEqual(['kinds.pio.cycles: missing; give CPU cycles per exit']);
  });

  it('wants a name and sources as non-empty text', () => {
    const m = model() as unknown as Record<string, unknown> & { kinds: Record<string, Record<string, unknown>> };
    m['name'] = '';
    m['source'] = 7;
    m.kinds['hypercall']!['source'] = '  ';
    expect(problems(m)).toEqual([
      'name: must be a non-empty string (shown in reports)',
      'source: must be a non-empty string (say where the figure comes from)',
      'kinds.hypercall.source: must be a non-empty string (say where the figure comes from)',
    ]);
  });

  it('refuses a non-object model, kinds or kind', () => {
    expect(problems([])).toEqual(['the file must hold a JSON object {"name", "cpuGhz", "source", "kinds"}']);
    expect(problems(null)).toHaveLength(1);
    expect(problems({ ...model(), kinds: [1] })).toEqual([
      `kinds: must be an object with one entry per exit kind (${EXIT_KINDS.join(', ')}), each {"cycles", "source"}`,
    ]);
    expect(problems({ ...model(), kinds: { ...model().kinds, pio: 20600 } })).toEqual(['kinds.pio: must be an object {"cycles", "source"}']);
  });

  it('the error message lists every problem under the file name', () => {
    try {
      validateCostModel({ name: 'x' }, 'my.json');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/^my\.json: bad cost model:\n {2}cpuGhz: missing; give the modeled CPU clock in GHz/);
      expect((e as CostModelError).problems).toHaveLength(3);
    }
  });
});

describe('loadCostModel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvisor-cost-'));

  it('loads a JSON file, JSON text, or an object', () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify(model()));
    expect(loadCostModel(path)).toEqual(model());
    expect(loadCostModel(`  ${JSON.stringify(model())}`)).toEqual(model());
    expect(loadCostModel(model())).toEqual(model());
  });

  it('names the file for bad JSON and for a bad model', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{"name": ');
    expect(() => loadCostModel(path)).toThrow(new RegExp(`^${path.replace(/[.\\/]/g, '\\$&')}: bad cost model:\n {2}not valid JSON`));
    writeFileSync(path, JSON.stringify({ ...model(), cpuGhz: 0 }));
    expect(() => loadCostModel(path)).toThrow(/bad\.json: bad cost model:\n {2}cpuGhz: 0 is not a number > 0/);
    expect(() => loadCostModel('{oops')).toThrow(/^cost model: bad cost model:\n {2}not valid JSON/);
  });

  it('says which file cannot be read and what to give', () => {
    expect(() => loadCostModel(join(dir, 'nope.json'))).toThrow(/nope\.json: cannot read it \(ENOENT\); give the path of a JSON file/);
  });
});
