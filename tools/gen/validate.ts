/**
 * Validation of `spec/abi.json`: first the JSON Schema (shape), then the cross-checks a
 * schema cannot express (uniqueness, references, layouts, length expressions). Every problem
 * names its JSON path (`/calls/3/errors/1/name`) so the spec author can find it; all problems
 * are collected, not just the first.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { computeLayouts } from './layout.ts';
import { parseLength } from './length.ts';
import { isPrimitive, parseVersion, versionAfter, type AbiSpec } from './spec.ts';

/** Outcome of validation: the typed spec when there are no problems. */
export type ValidationResult = { ok: true; spec: AbiSpec } | { ok: false; problems: string[] };

/** Location of the schema: `spec/abi.schema.json` of this repository, whatever the cwd. */
export const SCHEMA_PATH = fileURLToPath(new URL('../../spec/abi.schema.json', import.meta.url));

/**
 * Words that cannot be argument names: `v` is the handler's vCPU parameter in dispatch.ts, the
 * rest are reserved in C or TypeScript parameter position.
 */
const RESERVED_ARG_NAMES = new Set([
  'v', 'nr', 'a0', 'a1', 'a2', 'a3', 'a4', 'h',
  'auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else',
  'enum', 'extern', 'float', 'for', 'goto', 'if', 'inline', 'int', 'long', 'register',
  'restrict', 'return', 'short', 'signed', 'sizeof', 'static', 'struct', 'switch', 'typedef',
  'union', 'unsigned', 'void', 'volatile', 'while', 'bool', 'class', 'delete', 'export',
  'extends', 'false', 'finally', 'function', 'import', 'in', 'instanceof', 'let', 'new', 'null',
  'super', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'with', 'yield', 'await',
]);

function formatAjvError(e: ErrorObject): string {
  const path = e.instancePath === '' ? '/' : e.instancePath;
  const extra =
    e.keyword === 'additionalProperties'
      ? ` ('${String((e.params as { additionalProperty?: string }).additionalProperty)}')`
      : e.keyword === 'enum'
        ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})`
        : '';
  return `${path}: ${e.message ?? e.keyword}${extra}`;
}

let compiled: ReturnType<Ajv2020['compile']> | undefined;
let compiledFrom: string | undefined;

function schemaValidator(schemaPath: string): ReturnType<Ajv2020['compile']> {
  if (compiled && compiledFrom === schemaPath) return compiled;
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as object;
  const ajv = new Ajv2020({ allErrors: true });
  compiled = ajv.compile(schema);
  compiledFrom = schemaPath;
  return compiled;
}

/**
 * Validates a parsed spec document against the schema at `schemaPath`, then cross-checks it.
 */
export function validateSpec(doc: unknown, schemaPath: string = SCHEMA_PATH): ValidationResult {
  const check = schemaValidator(schemaPath);
  if (!check(doc)) {
    // Semantic checks assume the shape, so stop at schema errors.
    return { ok: false, problems: (check.errors ?? []).map(formatAjvError) };
  }
  const spec = doc as AbiSpec;
  const problems = semanticProblems(spec);
  return problems.length === 0 ? { ok: true, spec } : { ok: false, problems };
}

/** Reports a value seen twice in a list, naming both places. */
function dupChecker(problems: string[], what: string) {
  const seen = new Map<string | number, string>();
  return (key: string | number, path: string): void => {
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${path}: duplicate ${what} ${JSON.stringify(key)} (first at ${first})`);
    else seen.set(key, path);
  };
}

/** The cross-checks; assumes `spec` already matches the schema. */
export function semanticProblems(spec: AbiSpec): string[] {
  const problems: string[] = [];

  // Errors: one global table, negative unique codes.
  const errorNames = new Set<string>();
  const errName = dupChecker(problems, 'error name');
  const errCode = dupChecker(problems, 'error code');
  spec.errors.forEach((e, i) => {
    const p = `/errors/${i}`;
    errName(e.name, `${p}/name`);
    errCode(e.code, `${p}/code`);
    if (!Number.isInteger(e.code) || e.code >= 0) problems.push(`${p}/code: error code ${e.code} must be a negative integer`);
    errorNames.add(e.name);
  });
  if (!errorNames.has('ENOSYS')) problems.push('/errors: the table must define ENOSYS (returned for unknown call numbers)');
  if (!errorNames.has('EFAULT')) problems.push('/errors: the table must define EFAULT (returned for bad guest pointers)');

  // Names that generated code defines besides the spec's own constants.
  const structNames = spec.structs.map((s) => s.name);
  const generatedNames = new Set([
    'ABI_VERSION', 'ABI_VERSION_MAJOR', 'ABI_VERSION_MINOR', 'ERRORS', 'CALLS', 'STRUCTS', 'Hc', 'HW_TRAPS', 'HW_MODULE',
    ...structNames.flatMap((n) => [`${n.toUpperCase()}_SIZE`, `${n.toUpperCase()}_OFF`]),
    ...spec.calls.map((c) => `HC_${c.name.toUpperCase()}`),
  ]);

  // Constants: names unique across groups and distinct from error and generated names.
  const group = dupChecker(problems, 'constant group');
  const constName = dupChecker(problems, 'constant name');
  spec.constants.forEach((g, gi) => {
    group(g.group, `/constants/${gi}/group`);
    g.values.forEach((c, ci) => {
      const p = `/constants/${gi}/values/${ci}/name`;
      constName(c.name, p);
      if (errorNames.has(c.name)) problems.push(`${p}: constant ${c.name} has the name of an error`);
      if (generatedNames.has(c.name)) problems.push(`${p}: constant ${c.name} collides with a generated name`);
    });
  });

  // Structs: names, field types, and layout by natural alignment.
  const structName = dupChecker(problems, 'struct name');
  const declared = new Set<string>();
  spec.structs.forEach((s, si) => {
    const p = `/structs/${si}`;
    structName(s.name, `${p}/name`);
    if (isPrimitive(s.name)) problems.push(`${p}/name: '${s.name}' is a primitive type name`);
    const fieldName = dupChecker(problems, 'field name');
    // Per-field since: fields of an append-only struct are appended in version order, so once a
    // field names a version every later field must name the same or a later one.
    let lastSince: string | undefined;
    s.fields.forEach((f, fi) => {
      fieldName(f.name, `${p}/fields/${fi}/name`);
      if (f.since !== undefined) {
        const sp = `${p}/fields/${fi}/since`;
        if (versionAfter(f.since, spec.version)) {
          problems.push(`${sp}: ${s.name}.${f.name} is since ${f.since}, later than the spec version ${spec.version.major}.${spec.version.minor}`);
        }
        if (!s.appendOnly) problems.push(`${sp}: ${s.name} is not append-only, so no field of it can be added later`);
        if (lastSince !== undefined && versionAfter(lastSince, parseVersion(f.since))) {
          problems.push(`${sp}: ${s.name}.${f.name} is since ${f.since} but follows a field since ${lastSince}; fields are appended in version order`);
        }
        lastSince = f.since;
      } else if (lastSince !== undefined) {
        problems.push(`${p}/fields/${fi}/since: ${s.name}.${f.name} follows a field added in ${lastSince}, so it needs a since`);
      }
      if (!isPrimitive(f.type) && !declared.has(f.type)) {
        const later = structNames.includes(f.type);
        problems.push(
          `${p}/fields/${fi}/type: '${f.type}' is ${later ? 'a struct declared later (or this one); declare nested structs first' : 'neither a primitive (u8 i8 u16 i16 u32 i32 u64 i64) nor a struct'}`,
        );
      }
    });
    declared.add(s.name);
  });
  const layouts = computeLayouts(spec.structs);
  spec.structs.forEach((s, si) => {
    const p = `/structs/${si}`;
    const lay = layouts.get(s.name);
    if (!lay) return;
    let prevEnd = 0;
    let prevName = '';
    s.fields.forEach((f, fi) => {
      const fl = lay.fields[fi];
      if (!fl) return;
      const fp = `${p}/fields/${fi}`;
      if (f.offset !== fl.offset) {
        problems.push(
          `${fp}/offset: ${s.name}.${f.name} is declared at ${f.offset} but C natural alignment puts it at ${fl.offset} (after ${prevName || 'the start'}, aligned to ${fl.align})`,
        );
      }
      if (f.offset < prevEnd) {
        problems.push(`${fp}/offset: ${s.name}.${f.name} at ${f.offset} overlaps ${prevName}, which ends at ${prevEnd}`);
      }
      prevEnd = Math.max(prevEnd, f.offset + fl.size);
      prevName = f.name;
    });
    if (s.align !== lay.align) {
      problems.push(`${p}/align: ${s.name} declares align ${s.align} but its largest field alignment is ${lay.align}`);
    }
    if (s.size !== lay.size) {
      problems.push(`${p}/size: ${s.name} declares size ${s.size} but its fields padded to align ${lay.align} give ${lay.size}`);
    }
  });

  // Calls.
  const structSet = new Set(structNames);
  const callNr = dupChecker(problems, 'call number');
  const callName = dupChecker(problems, 'call name');
  spec.calls.forEach((c, ci) => {
    const p = `/calls/${ci}`;
    callNr(c.nr, `${p}/nr`);
    callName(c.name, `${p}/name`);
    if (!Number.isInteger(c.nr) || c.nr < 1) problems.push(`${p}/nr: call number ${c.nr} must be an integer >= 1 (0 is reserved)`);
    const [maj, min] = c.since.split('.').map(Number) as [number, number];
    if (maj > spec.version.major || (maj === spec.version.major && min > spec.version.minor)) {
      problems.push(`${p}/since: ${c.name} is since ${c.since}, later than the spec version ${spec.version.major}.${spec.version.minor}`);
    }
    const argName = dupChecker(problems, 'argument name');
    const scalarArgs = new Set(c.args.filter((a) => a.type !== 'ptr').map((a) => a.name));
    c.args.forEach((a, ai) => {
      const ap = `${p}/args/${ai}`;
      argName(a.name, `${ap}/name`);
      if (RESERVED_ARG_NAMES.has(a.name)) problems.push(`${ap}/name: '${a.name}' is reserved (C/TS keyword or a name the dispatcher uses)`);
      if (a.type === 'ptr') {
        if (a.length === undefined) {
          problems.push(`${ap}/length: pointer argument ${a.name} needs a length expression`);
        } else {
          const r = parseLength(a.length, scalarArgs, structSet);
          if (!r.ok) problems.push(`${ap}/length: bad length expression ${JSON.stringify(a.length)}: ${r.error}`);
        }
      } else {
        if (a.dir !== 'in') problems.push(`${ap}/dir: scalar argument ${a.name} must be 'in' (only pointers carry data out)`);
        if (a.length !== undefined) problems.push(`${ap}/length: only pointer arguments have a length`);
        if (a.nullable !== undefined) problems.push(`${ap}/nullable: only pointer arguments can be nullable`);
      }
    });
    const callErr = dupChecker(problems, 'error');
    c.errors.forEach((e, ei) => {
      const ep = `${p}/errors/${ei}/name`;
      callErr(e.name, ep);
      if (!errorNames.has(e.name)) problems.push(`${ep}: ${c.name} names error ${e.name}, which is not in /errors`);
    });
    if (c.privilege === 'control' && !c.errors.some((e) => e.name === 'EPERM')) {
      problems.push(`${p}/errors: ${c.name} needs the controlling domain, so it must list EPERM`);
    }
  });

  // Hardware traps: unique names that do not collide with the C names of calls or the trap.
  const trapName = dupChecker(problems, 'hardware trap name');
  const callNames = new Set(spec.calls.map((c) => c.name));
  spec.hw.traps.forEach((t, ti) => {
    const p = `/hw/traps/${ti}`;
    trapName(t.name, `${p}/name`);
    if (callNames.has(t.name) || t.name === 'hypercall') {
      problems.push(`${p}/name: trap ${t.name} would be C pv_${t.name}, which a hypercall wrapper already uses`);
    }
    if (versionAfter(t.since, spec.version)) {
      problems.push(`${p}/since: ${t.name} is since ${t.since}, later than the spec version ${spec.version.major}.${spec.version.minor}`);
    }
    const paramName = dupChecker(problems, 'parameter name');
    t.params.forEach((a, ai) => {
      paramName(a.name, `${p}/params/${ai}/name`);
      if (RESERVED_ARG_NAMES.has(a.name)) problems.push(`${p}/params/${ai}/name: '${a.name}' is reserved (C/TS keyword or a name the dispatcher uses)`);
    });
  });

  return problems;
}

/** Reads and validates a spec file. */
export function loadSpec(specPath: string, schemaPath: string = SCHEMA_PATH): ValidationResult {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(specPath, 'utf8'));
  } catch (e) {
    return { ok: false, problems: [`${specPath}: ${(e as Error).message}`] };
  }
  return validateSpec(doc, schemaPath);
}
