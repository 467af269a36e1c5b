/**
 * The spec validator rejects broken specs with messages that name the JSON path, and lists
 * every problem at once.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AbiSpec } from '../../../tools/gen/spec.ts';
import { validateSpec } from '../../../tools/gen/validate.ts';

const original = readFileSync(new URL('../../../spec/abi.json', import.meta.url), 'utf8');

/** A fresh copy of the real spec, changed by `edit`. */
function broken(edit: (s: AbiSpec) => void): AbiSpec {
  const s = JSON.parse(original) as AbiSpec;
  edit(s);
  return s;
}

function problems(s: unknown): string[] {
  const r = validateSpec(s);
  return r.ok ? [] : r.problems;
}

const idx = (s: AbiSpec, name: string): number => s.calls.findIndex((c) => c.name === name);

describe('spec validator', () => {
  it('accepts spec/abi.json', () => {
    expect(problems(JSON.parse(original))).toEqual([]);
  });

  it('rejects a duplicate call number, naming both places', () => {
    const p = problems(broken((s) => { s.calls[3]!.nr = s.calls[2]!.nr; }));
    expect(p).toContainEqual(expect.stringMatching(/^\/calls\/3\/nr: duplicate call number \d+ \(first at \/calls\/2\/nr\)/));
  });

  it('rejects call number 0 and duplicate names', () => {
    expect(problems(broken((s) => { s.calls[0]!.nr = 0; }))).toContainEqual(expect.stringMatching(/^\/calls\/0\/nr/));
    expect(problems(broken((s) => { s.calls[1]!.name = s.calls[0]!.name; }))).toContainEqual(
      expect.stringMatching(/^\/calls\/1\/name: duplicate call name/),
    );
  });

  it('rejects a field offset that natural alignment does not give', () => {
    const p = problems(broken((s) => {
      const f = s.structs[0]!.fields.find((x) => x.name === 'mem_size')!;
      f.offset = 20; // u64 must be 8-aligned, and 20 overlaps nr_vcpus
    }));
    expect(p).toContainEqual(expect.stringMatching(/^\/structs\/0\/fields\/6\/offset: start_info\.mem_size is declared at 20 but .* puts it at 24/));
    expect(p).toContainEqual(expect.stringMatching(/^\/structs\/0\/fields\/6\/offset: .*overlaps nr_vcpus/));
  });

  it('rejects a wrong struct size and align', () => {
    const p = problems(broken((s) => { s.structs[0]!.size = 44; s.structs[0]!.align = 4; }));
    expect(p).toContainEqual(expect.stringMatching(/^\/structs\/0\/size: start_info declares size 44 .* give 88/));
    expect(p).toContainEqual(expect.stringMatching(/^\/structs\/0\/align: /));
  });

  it('rejects a nested struct used before it is declared', () => {
    const p = problems(broken((s) => { s.structs.reverse(); }));
    expect(p).toContainEqual(expect.stringMatching(/\/fields\/\d+\/type: 'vcpu_info' is a struct declared later/));
  });

  it('rejects an error name missing from the table', () => {
    const i = idx(JSON.parse(original) as AbiSpec, 'console_write');
    const p = problems(broken((s) => { s.calls[i]!.errors[0]!.name = 'ENOPE'; }));
    expect(p).toContainEqual(`/calls/${i}/errors/0/name: console_write names error ENOPE, which is not in /errors`);
  });

  it('rejects duplicate and non-negative error codes', () => {
    expect(problems(broken((s) => { s.errors[1]!.code = s.errors[0]!.code; }))).toContainEqual(
      expect.stringMatching(/^\/errors\/1\/code: duplicate error code -1/),
    );
    // Positive codes are already a schema error.
    expect(problems(broken((s) => { s.errors[0]!.code = 5; }))).toContainEqual(expect.stringMatching(/^\/errors\/0\/code: /));
  });

  it.each([
    ['len - 1', /unexpected character '-'/],
    ['count * 4', /'count' is not an integer argument of this call/],
    ['buf', /'buf' is not an integer argument/],
    ['sizeof(nothing)', /sizeof\(nothing\) names no struct/],
    ['sizeof wallclock', /'sizeof' must be followed by '\('/],
    ['(len)', /unexpected '\('/],
    ['len *', /expression ends early/],
    ['len 4', /unexpected '4'/],
  ])('rejects the length expression %j', (expr, why) => {
    const i = idx(JSON.parse(original) as AbiSpec, 'console_write');
    const p = problems(broken((s) => { s.calls[i]!.args[0]!.length = expr; }));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(new RegExp(`^/calls/${i}/args/0/length: bad length expression`));
    expect(p[0]).toMatch(why);
  });

  it('accepts sums, products and sizeof in length expressions', () => {
    const i = idx(JSON.parse(original) as AbiSpec, 'console_write');
    expect(problems(broken((s) => { s.calls[i]!.args[0]!.length = 'len * 2 + sizeof(wallclock) * 3 + 1'; }))).toEqual([]);
  });

  it('reports schema violations with their path', () => {
    const p = problems(broken((s) => {
      (s.calls[0] as unknown as Record<string, unknown>)['colour'] = 'red';
      s.calls[1]!.args.push({ name: 'x', type: 'u32', dir: 'out', doc: 'no' });
    }));
    expect(p).toContainEqual(expect.stringMatching(/^\/calls\/0: .*additional properties \('colour'\)/));
    expect(p).toContainEqual(expect.stringMatching(/^\/calls\/1\/args\/1\/dir: /));
  });

  it('checks per-field since: not after the version, append-only structs only, in version order, no gaps', () => {
    const si = (s: AbiSpec) => s.structs[0]!;
    const last = (s: AbiSpec) => si(s).fields[si(s).fields.length - 1]!;
    expect(problems(broken((s) => { last(s).since = '1.6'; }))).toContainEqual(
      expect.stringMatching(/^\/structs\/0\/fields\/\d+\/since: start_info\.devices_generation is since 1\.6, later than the spec version 1\.5/),
    );
    expect(problems(broken((s) => { si(s).fields[0]!.since = '1.1'; }))).toContainEqual(
      expect.stringMatching(/^\/structs\/0\/fields\/1\/since: start_info\.abi_version follows a field added in 1\.1, so it needs a since/),
    );
    expect(problems(broken((s) => { last(s).since = '1.0'; si(s).fields[si(s).fields.length - 2]!.since = '1.2'; }))).toContainEqual(
      expect.stringMatching(/since 1\.0 but follows a field since 1\.2; fields are appended in version order/),
    );
    expect(problems(broken((s) => { s.structs.find((x) => x.name === 'wallclock')!.fields[1]!.since = '1.1'; s.structs.find((x) => x.name === 'wallclock')!.fields[2]!.since = '1.1'; }))).toContainEqual(
      expect.stringMatching(/wallclock is not append-only/),
    );
    expect(problems(broken((s) => { last(s).since = '1.x'; }))).toContainEqual(expect.stringMatching(/^\/structs\/0\/fields\/\d+\/since: /));
  });

  it('checks the hardware traps: shape, unique names, no clash with call wrappers, since', () => {
    expect(problems(broken((s) => { s.hw.traps[1]!.name = 'mmio_read32'; }))).toContainEqual(
      '/hw/traps/1/name: duplicate hardware trap name "mmio_read32" (first at /hw/traps/0/name)',
    );
    expect(problems(broken((s) => { s.hw.traps[0]!.name = 'console_write'; }))).toContainEqual(
      expect.stringMatching(/^\/hw\/traps\/0\/name: trap console_write would be C pv_console_write/),
    );
    expect(problems(broken((s) => { s.hw.traps[0]!.since = '2.0'; }))).toContainEqual(
      expect.stringMatching(/^\/hw\/traps\/0\/since: mmio_read32 is since 2\.0, later than/),
    );
    expect(problems(broken((s) => { s.hw.traps[1]!.params[1]!.name = 'addr'; }))).toContainEqual(
      expect.stringMatching(/^\/hw\/traps\/1\/params\/1\/name: duplicate parameter name/),
    );
    expect(problems(broken((s) => { s.hw.traps[0]!.params[0]!.name = 'int'; }))).toContainEqual(
      expect.stringMatching(/^\/hw\/traps\/0\/params\/0\/name: 'int' is reserved/),
    );
    expect(problems(broken((s) => { (s.hw.traps[0] as unknown as Record<string, unknown>)['result'] = 'i64'; }))).toContainEqual(
      expect.stringMatching(/^\/hw\/traps\/0\/result: /),
    );
    expect(problems(broken((s) => { delete (s as unknown as Record<string, unknown>)['hw']; }))).toContainEqual(
      expect.stringMatching(/must have required property 'hw'/),
    );
  });

  it('lists every problem, not only the first', () => {
    const p = problems(broken((s) => {
      s.calls[3]!.nr = s.calls[2]!.nr;
      s.structs[0]!.size = 40;
      s.calls[2]!.errors[0]!.name = 'EWHAT';
    }));
    expect(p.length).toBeGreaterThanOrEqual(3);
  });
});
