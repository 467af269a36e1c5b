/**
 * Emits the host's TypeScript view of the ABI: `src/abi/generated/{constants,structs,calls,
 * dispatch,index}.ts`. Names follow docs/architecture.md exactly (other modules import them).
 * @module
 */
import { computeLayouts } from './layout.ts';
import { lengthToTs, parseLength } from './length.ts';
import { hwWasmSignature, type AbiSpec, type ArgSpec, type CallSpec } from './spec.ts';
import { BANNER_LINES, docBlock, tsString, upper } from './text.ts';

const BANNER = BANNER_LINES.map((l) => `// ${l}`).join('\n');

function file(moduleDoc: string, body: string[]): string {
  return `${BANNER}\n\n${docBlock('', [moduleDoc, '@module'])}\n\n${body.join('\n')}\n`;
}

const q = tsString;

/** Sorted copy of the calls by number: generated tables follow call numbers, not file order. */
export function callsByNr(spec: AbiSpec): CallSpec[] {
  return [...spec.calls].sort((a, b) => a.nr - b.nr);
}

function constantsTs(spec: AbiSpec): string {
  const { major, minor } = spec.version;
  const out: string[] = [];
  out.push(docBlock('', [`ABI major version. ${spec.versionRule}`]));
  out.push(`export const ABI_VERSION_MAJOR = ${major};`);
  out.push(docBlock('', ['ABI minor version (see ABI_VERSION_MAJOR for the bump rule).']));
  out.push(`export const ABI_VERSION_MINOR = ${minor};`);
  out.push(docBlock('', ['The value `version` returns: `(ABI_VERSION_MAJOR << 16) | ABI_VERSION_MINOR`.']));
  out.push(`export const ABI_VERSION = ${major * 65536 + minor};`);
  out.push('');
  out.push('// Errors: one global table of negative codes (Xen/errno style); a failing call returns one.');
  out.push('');
  const errors = [...spec.errors].sort((a, b) => b.code - a.code);
  for (const e of errors) {
    out.push(docBlock('', [`${e.cause} (${e.code})`]));
    out.push(`export const ${e.name} = ${e.code};`);
  }
  out.push('');
  out.push(docBlock('', ['Every error code by name, in code order (-1 first).']));
  out.push('export const ERRORS = {');
  for (const e of errors) out.push(`  ${e.name}: ${e.code},`);
  out.push('} as const;');
  out.push('');
  out.push(docBlock('', ['Name of an error in the ABI table.']));
  out.push('export type ErrorName = keyof typeof ERRORS;');
  out.push('');
  out.push(docBlock('', ['The name of an error code (`-14` → `"EFAULT"`), or undefined when the table has no such code.']));
  out.push('export function errorName(code: number): ErrorName | undefined {');
  out.push('  switch (code) {');
  for (const e of errors) out.push(`    case ${e.code}:\n      return ${q(e.name)};`);
  out.push('    default:\n      return undefined;');
  out.push('  }');
  out.push('}');
  for (const g of spec.constants) {
    out.push('');
    out.push(`// Constants: ${g.group}. ${g.doc}`);
    out.push('');
    for (const c of g.values) {
      out.push(docBlock('', [`${c.doc} (group ${g.group})`]));
      out.push(`export const ${c.name} = ${c.value};`);
    }
  }
  out.push('');
  out.push(docBlock('', ['Hypercall numbers by call name (the `nr` argument of `pv.hypercall`).']));
  out.push('export const Hc = {');
  for (const c of callsByNr(spec)) out.push(`  ${c.name}: ${c.nr},`);
  out.push('} as const;');
  out.push('');
  out.push(docBlock('', ['Name of a hypercall.']));
  out.push('export type HcName = keyof typeof Hc;');
  return file('ABI version, error codes, constants and call numbers, from spec/abi.json.', out);
}

function structsTs(spec: AbiSpec): string {
  const layouts = computeLayouts(spec.structs);
  const out: string[] = [];
  out.push(docBlock('', ['Metadata of one struct field.']));
  out.push('export interface StructFieldInfo {');
  out.push('  /** Field name as in the spec and the C header. */\n  readonly name: string;');
  out.push('  /** A primitive (`u8` … `i64`) or the name of a nested struct. */\n  readonly type: string;');
  out.push('  /** Byte offset from the start of the struct. */\n  readonly offset: number;');
  out.push('  /** Element count (1 for a scalar field). */\n  readonly count: number;');
  out.push('  /** Bytes of one element. */\n  readonly elemSize: number;');
  out.push('  /** ABI version that appended the field; absent for the struct\'s first fields. */\n  readonly since?: string;');
  out.push('  /** What the field means. */\n  readonly doc: string;');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['Metadata of one struct in guest memory (little-endian, C natural alignment).']));
  out.push('export interface StructInfo {');
  out.push('  /** Struct name as in the spec (`struct pv_<name>` in C). */\n  readonly name: string;');
  out.push('  /** Size in bytes, padded to `align`. */\n  readonly size: number;');
  out.push('  /** Alignment in bytes. */\n  readonly align: number;');
  out.push('  /** New fields are only ever appended (readers check a size field first). */\n  readonly appendOnly: boolean;');
  out.push('  /** What the struct is for. */\n  readonly doc: string;');
  out.push('  /** Fields in offset order. */\n  readonly fields: readonly StructFieldInfo[];');
  out.push('}');
  for (const s of spec.structs) {
    const U = upper(s.name);
    out.push('');
    out.push(docBlock('', [`Size in bytes of \`${s.name}\` (C \`struct pv_${s.name}\`). ${s.doc}`]));
    out.push(`export const ${U}_SIZE = ${s.size};`);
    out.push('');
    out.push(docBlock('', [`Byte offsets of the fields of \`${s.name}\`.`]));
    out.push(`export const ${U}_OFF = {`);
    for (const f of s.fields) {
      const ty = f.count !== undefined ? `${f.type}[${f.count}]` : f.type;
      out.push(docBlock('  ', [`${ty}${f.since !== undefined ? ` (since ${f.since})` : ''}: ${f.doc}`]));
      out.push(`  ${f.name}: ${f.offset},`);
    }
    out.push('} as const;');
  }
  out.push('');
  out.push(docBlock('', ['Name of a struct of the ABI.']));
  out.push(`export type StructName = ${spec.structs.map((s) => q(s.name)).join(' | ')};`);
  out.push('');
  out.push(docBlock('', ['Every struct of the ABI with its fields, by struct name.']));
  out.push('export const STRUCTS: Readonly<Record<StructName, StructInfo>> = {');
  for (const s of spec.structs) {
    const lay = layouts.get(s.name);
    out.push(`  ${s.name}: {`);
    out.push(`    name: ${q(s.name)},`);
    out.push(`    size: ${s.size},`);
    out.push(`    align: ${s.align},`);
    out.push(`    appendOnly: ${s.appendOnly},`);
    out.push(`    doc: ${q(s.doc)},`);
    out.push('    fields: [');
    s.fields.forEach((f, i) => {
      const elemSize = lay?.fields[i]?.elemSize ?? 0;
      out.push(
        `      { name: ${q(f.name)}, type: ${q(f.type)}, offset: ${f.offset}, count: ${f.count ?? 1}, elemSize: ${elemSize}, ${f.since !== undefined ? `since: ${q(f.since)}, ` : ''}doc: ${q(f.doc)} },`,
      );
    });
    out.push('    ],');
    out.push('  },');
  }
  out.push('};');
  return file('Struct sizes, field offsets and layout metadata, from spec/abi.json.', out);
}

/** The `lengthOf` arrow for a pointer argument: its length expression over raw words `w`, read as u32. */
function lengthFn(c: CallSpec, a: ArgSpec, structNames: ReadonlySet<string>): string | undefined {
  if (a.length === undefined) return undefined;
  const scalars = new Set(c.args.filter((x) => x.type !== 'ptr').map((x) => x.name));
  const r = parseLength(a.length, scalars, structNames);
  if (!r.ok) return undefined;
  const body = lengthToTs(
    r.expr,
    (n) => `((w[${c.args.findIndex((x) => x.name === n)}] ?? 0) >>> 0)`,
    (s) => `${upper(s)}_SIZE`,
  );
  return `(w: readonly number[]): number => ${body}`;
}

function callsTs(spec: AbiSpec): string {
  const structNames = new Set(spec.structs.map((s) => s.name));
  const usedSizes = new Set<string>();
  for (const c of spec.calls) for (const a of c.args) {
    for (const m of (a.length ?? '').matchAll(/sizeof\s*\(\s*([A-Za-z_]\w*)\s*\)/g)) usedSizes.add(`${upper(m[1]!)}_SIZE`);
  }
  const out: string[] = [];
  out.push("import type { ErrorName, HcName } from './constants.ts';");
  if (usedSizes.size > 0) out.push(`import { ${[...usedSizes].sort().join(', ')} } from './structs.ts';`);
  out.push('');
  out.push(docBlock('', ['Metadata of one hypercall argument.']));
  out.push('export interface ArgInfo {');
  out.push('  /** Argument name (also the C wrapper parameter name). */\n  readonly name: string;');
  out.push('  /** Wire type: every slot is an i32; `u32`/`ptr` are read unsigned. */\n  readonly type: \'u32\' | \'i32\' | \'ptr\';');
  out.push('  /** Direction of the data (scalars are always `in`). */\n  readonly dir: \'in\' | \'out\' | \'inout\';');
  out.push('  /** For `ptr`: byte length of the range, as written in the spec. */\n  readonly length?: string;');
  out.push(
    '  /**\n   * For `ptr`: the byte length computed from the raw argument words `w` (a0..a4, read as u32).\n   * Numbers are exact (below 2^53), so a caller can compare against memory size without overflow.\n   */\n  readonly lengthOf?: (w: readonly number[]) => number;',
  );
  out.push('  /** For `ptr`: 0 is allowed and means "absent". */\n  readonly nullable?: boolean;');
  out.push('  /** What the argument means. */\n  readonly doc: string;');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['One error a call may return, with the call-specific cause.']));
  out.push('export interface CallErrorInfo {');
  out.push('  /** Name in the global error table. */\n  readonly name: ErrorName;');
  out.push('  /** When this call returns it. */\n  readonly when: string;');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['Metadata of one hypercall.']));
  out.push('export interface CallInfo {');
  out.push('  /** Call number (never 0). */\n  readonly nr: number;');
  out.push('  /** Call name. */\n  readonly name: HcName;');
  out.push('  /** Group (version, console, sched, …). */\n  readonly group: string;');
  out.push('  /** ABI version that introduced the call, "major.minor". */\n  readonly since: string;');
  out.push('  /** `any` domain, or only the `control`ling domain. */\n  readonly privilege: \'any\' | \'control\';');
  out.push('  /** True when the call may block the calling vCPU. */\n  readonly blocking: boolean;');
  out.push('  /** What the call does. */\n  readonly doc: string;');
  out.push('  /** Arguments in slot order (a0, a1, …). */\n  readonly args: readonly ArgInfo[];');
  out.push('  /** Meaning of a non-negative result. */\n  readonly returns: string;');
  out.push('  /** Errors the call may return besides ENOSYS-for-unknown-number. */\n  readonly errors: readonly CallErrorInfo[];');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['Every hypercall, in call-number order.']));
  out.push('export const CALLS: readonly CallInfo[] = [');
  for (const c of callsByNr(spec)) {
    out.push('  {');
    out.push(`    nr: ${c.nr},`);
    out.push(`    name: ${q(c.name)},`);
    out.push(`    group: ${q(c.group)},`);
    out.push(`    since: ${q(c.since)},`);
    out.push(`    privilege: ${q(c.privilege)},`);
    out.push(`    blocking: ${c.blocking},`);
    out.push(`    doc: ${q(c.doc)},`);
    if (c.args.length === 0) out.push('    args: [],');
    else {
      out.push('    args: [');
      for (const a of c.args) {
        const parts = [`name: ${q(a.name)}`, `type: ${q(a.type)}`, `dir: ${q(a.dir)}`];
        if (a.length !== undefined) parts.push(`length: ${q(a.length)}`);
        const lf = lengthFn(c, a, structNames);
        if (lf !== undefined) parts.push(`lengthOf: ${lf}`);
        if (a.nullable !== undefined) parts.push(`nullable: ${a.nullable}`);
        parts.push(`doc: ${q(a.doc)}`);
        out.push(`      { ${parts.join(', ')} },`);
      }
      out.push('    ],');
    }
    out.push(`    returns: ${q(c.returns)},`);
    if (c.errors.length === 0) out.push('    errors: [],');
    else {
      out.push('    errors: [');
      for (const e of c.errors) out.push(`      { name: ${q(e.name)}, when: ${q(e.when)} },`);
      out.push('    ],');
    }
    out.push('  },');
  }
  out.push('];');
  out.push('');
  out.push('const byNr = new Map<number, CallInfo>(CALLS.map((c) => [c.nr, c]));');
  out.push('');
  out.push(docBlock('', ['The metadata of call `nr`, or undefined when no call has that number.']));
  out.push('export function callInfo(nr: number): CallInfo | undefined {');
  out.push('  return byNr.get(nr);');
  out.push('}');
  return file('Hypercall metadata (arguments, errors, privilege, blocking, since), from spec/abi.json.', out);
}

/** How dispatch decodes an i32 word into the handler's argument. */
function decode(a: ArgSpec, word: string): string {
  switch (a.type) {
    case 'u32':
      return `${word} >>> 0`;
    case 'i32':
      return `${word} | 0`;
    case 'ptr':
      return `(${word} >>> 0) as GuestAddr`;
  }
}

function tsArgType(a: ArgSpec): string {
  return a.type === 'ptr' ? 'GuestAddr' : 'number';
}

function dispatchTs(spec: AbiSpec): string {
  const calls = callsByNr(spec);
  const out: string[] = [];
  out.push("import type { GuestAddr } from '../types.ts';");
  out.push("import { ENOSYS, type HcName } from './constants.ts';");
  out.push('');
  out.push(
    docBlock('', [
      'What the hypervisor implements: one method per hypercall. `V` is the caller (the host\'s vCPU reference). Arguments arrive decoded: `u32` as an unsigned number, `i32` as a signed number, `ptr` as a GuestAddr that still has to go through the checked accessor. A method returns the call\'s result: >= 0 on success, a negative error code otherwise. It must not throw for anything a guest passes.',
      '@typeParam V - The caller reference the engine passes through.',
    ]),
  );
  out.push('export interface HypercallHandlers<V> {');
  calls.forEach((c, i) => {
    if (i > 0) out.push('');
    const paras = [`\`${c.name}\` (nr ${c.nr}, group ${c.group}, since ${c.since}${c.blocking ? ', may block' : ''}${c.privilege === 'control' ? ', controlling domain only' : ''}). ${c.doc}`];
    paras.push('@param v - The calling vCPU.');
    for (const a of c.args) {
      const len = a.length !== undefined ? ` [${a.dir}, ${a.length} bytes${a.nullable ? ', may be 0' : ''}]` : '';
      paras.push(`@param ${a.name} - ${a.doc}${len}`);
    }
    const errs = c.errors.map((e) => e.name).join(', ');
    paras.push(`@returns ${c.returns}${errs ? ` Errors: ${errs}.` : ''}`);
    out.push(docBlock('  ', paras));
    const params = ['v: V', ...c.args.map((a) => `${a.name}: ${tsArgType(a)}`)].join(', ');
    out.push(`  ${c.name}(${params}): number;`);
  });
  out.push('}');
  out.push('');
  out.push(
    docBlock('', [
      'The hypercall entry point: `(v, nr, a0..a4) => result`.',
      '@typeParam V - The caller reference.',
    ]),
  );
  out.push('export type HypercallDispatch<V> = (v: V, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number) => number;');
  out.push('');
  out.push(
    docBlock('', [
      'Builds the hypercall entry point over `h`. Hot path: one switch on the call number, arguments decoded inline, no allocation per call. An unknown number (0, negative, above the table) returns ENOSYS without touching `h`.',
      '@param h - The handlers; methods are called with `h` as `this`.',
      '@typeParam V - The caller reference.',
      '@returns The dispatch function to bind to the guest\'s `pv.hypercall` import.',
    ]),
  );
  out.push('export function makeDispatch<V>(h: HypercallHandlers<V>): HypercallDispatch<V> {');
  out.push('  return function dispatch(v: V, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number): number {');
  out.push('    switch (nr) {');
  for (const c of calls) {
    const args = ['v', ...c.args.map((a, i) => decode(a, `a${i}`))].join(', ');
    out.push(`      case ${c.nr}:`);
    out.push(`        return h.${c.name}(${args});`);
  }
  out.push('      default:');
  out.push('        return ENOSYS;');
  out.push('    }');
  out.push('  };');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['The name of call `nr` (`3` → `"console_write"`), or undefined when no call has that number.']));
  out.push('export function callName(nr: number): HcName | undefined {');
  out.push('  switch (nr) {');
  for (const c of calls) out.push(`    case ${c.nr}:\n      return ${q(c.name)};`);
  out.push('    default:\n      return undefined;');
  out.push('  }');
  out.push('}');
  return file('Hypercall dispatch: the handler interface the hypervisor implements and the switch that calls it, from spec/abi.json.', out);
}

function hwTs(spec: AbiSpec): string {
  const out: string[] = [];
  out.push(docBlock('', [`Import module of the hardware traps. ${spec.hw.doc}`]));
  out.push(`export const HW_MODULE = ${q(spec.hw.module)};`);
  out.push('');
  out.push(docBlock('', ['One parameter of a hardware trap (an i32 on the wire).']));
  out.push('export interface HwParamInfo {');
  out.push('  /** Parameter name (also the C parameter name). */\n  readonly name: string;');
  out.push('  /** How the word is read: `u32` unsigned, `i32` signed. */\n  readonly type: \'u32\' | \'i32\';');
  out.push('  /** What the parameter means. */\n  readonly doc: string;');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['Metadata of one hardware trap: a function the guest imports from `HW_MODULE`.']));
  out.push('export interface HwTrapInfo {');
  out.push('  /** Import name (C `pv_<name>`). */\n  readonly name: string;');
  out.push('  /** ABI version that introduced the trap, "major.minor". */\n  readonly since: string;');
  out.push('  /** Wasm signature, e.g. `(addr: i32) -> i32`. */\n  readonly signature: string;');
  out.push('  /** Parameters in order. */\n  readonly params: readonly HwParamInfo[];');
  out.push('  /** Result type (`void`: none). */\n  readonly result: \'u32\' | \'i32\' | \'void\';');
  out.push('  /** What the trap does. */\n  readonly doc: string;');
  out.push('  /** Meaning of the result. */\n  readonly returns: string;');
  out.push('}');
  out.push('');
  out.push(docBlock('', ['Every hardware trap of the ABI, in spec order. Port I/O traps come with full virtualization later.']));
  out.push('export const HW_TRAPS: readonly HwTrapInfo[] = [');
  for (const tr of spec.hw.traps) {
    out.push('  {');
    out.push(`    name: ${q(tr.name)},`);
    out.push(`    since: ${q(tr.since)},`);
    out.push(`    signature: ${q(hwWasmSignature(tr))},`);
    if (tr.params.length === 0) out.push('    params: [],');
    else {
      out.push('    params: [');
      for (const a of tr.params) out.push(`      { name: ${q(a.name)}, type: ${q(a.type)}, doc: ${q(a.doc)} },`);
      out.push('    ],');
    }
    out.push(`    result: ${q(tr.result)},`);
    out.push(`    doc: ${q(tr.doc)},`);
    out.push(`    returns: ${q(tr.returns)},`);
    out.push('  },');
  }
  out.push('];');
  out.push('');
  out.push(docBlock('', ['Name of a hardware trap.']));
  out.push(`export type HwTrapName = ${spec.hw.traps.length === 0 ? 'never' : spec.hw.traps.map((x) => q(x.name)).join(' | ')};`);
  return file('Hardware traps (imports of module `hw`), from spec/abi.json.', out);
}

function indexTs(): string {
  return file('Everything generated from spec/abi.json, in one import.', [
    "export * from './constants.ts';",
    "export * from './structs.ts';",
    "export * from './calls.ts';",
    "export * from './dispatch.ts';",
    "export * from './hw.ts';",
  ]);
}

/** The generated TypeScript files, repository-relative path → content. */
export function emitTs(spec: AbiSpec): Array<[string, string]> {
  return [
    ['src/abi/generated/constants.ts', constantsTs(spec)],
    ['src/abi/generated/structs.ts', structsTs(spec)],
    ['src/abi/generated/calls.ts', callsTs(spec)],
    ['src/abi/generated/dispatch.ts', dispatchTs(spec)],
    ['src/abi/generated/hw.ts', hwTs(spec)],
    ['src/abi/generated/index.ts', indexTs()],
  ];
}
