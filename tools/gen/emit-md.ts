/**
 * Emits docs/abi.md, the reference page a guest author reads: conventions first, then the
 * error table, constants, structs, and every call in one fixed template (after KVM's api.rst
 * and the SBI per-function tables).
 * @module
 */
import { cHwPrototype, cPrototype } from './emit-c.ts';
import { callsByNr } from './emit-ts.ts';
import { computeLayouts } from './layout.ts';
import { hwWasmSignature, PRIMITIVES, type AbiSpec, type ArgSpec, type CallSpec } from './spec.ts';
import { BANNER_LINES, upper } from './text.ts';

/** Escapes text for a markdown table cell. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** First sentence of a doc string, for index tables. */
function summary(doc: string): string {
  const m = /^(.*?[.!?])(\s|$)/.exec(doc);
  return m?.[1] ?? doc;
}

function argType(a: ArgSpec): string {
  if (a.type !== 'ptr') return `\`${a.type}\``;
  return a.dir === 'in' ? '`ptr` (`const void *`)' : '`ptr` (`void *`)';
}

function hex(v: number): string {
  return v < 0 ? String(v) : `0x${v.toString(16).toUpperCase()}`;
}

function callSection(c: CallSpec, o: string[]): void {
  o.push(`<a id="call-${c.name}"></a>`);
  o.push('');
  o.push(`### ${c.nr}. ${c.name}`);
  o.push('');
  o.push(c.doc);
  o.push('');
  o.push('| | |');
  o.push('|---|---|');
  o.push(`| Number | ${c.nr} (\`PV_HC_${upper(c.name)}\`, TS \`Hc.${c.name}\`) |`);
  o.push(`| Group | ${c.group} |`);
  o.push(`| Privilege | ${c.privilege === 'control' ? 'controlling domain only' : 'any domain'} |`);
  o.push(`| May block | ${c.blocking ? 'yes' : 'no'} |`);
  o.push(`| Since | ${c.since} |`);
  o.push('');
  o.push('```c');
  o.push(`${cPrototype(c)};`);
  o.push('```');
  o.push('');
  o.push('**Arguments**');
  o.push('');
  if (c.args.length === 0) o.push('None.');
  else {
    o.push('| Slot | Name | Direction | Type | Pointer length (bytes) | Meaning |');
    o.push('|---|---|---|---|---|---|');
    c.args.forEach((a, i) => {
      const len = a.type === 'ptr' ? `\`${a.length ?? ''}\`${a.nullable ? '; may be 0 (absent)' : ''}` : '';
      o.push(`| a${i} | \`${a.name}\` | ${a.dir} | ${argType(a)} | ${cell(len)} | ${cell(a.doc)} |`);
    });
  }
  o.push('');
  o.push(`**Returns** ${c.returns}`);
  o.push('');
  o.push('**Errors**');
  o.push('');
  if (c.errors.length === 0) o.push('None specific to this call.');
  else {
    o.push('| Error | When |');
    o.push('|---|---|');
    for (const e of c.errors) o.push(`| [\`${e.name}\`](#errors) | ${cell(e.when)} |`);
  }
  o.push('');
}

/** The reference page text. */
export function emitMd(spec: AbiSpec): string {
  const o: string[] = [];
  const v = `${spec.version.major}.${spec.version.minor}`;
  const calls = callsByNr(spec);
  const layouts = computeLayouts(spec.structs);
  o.push('<!--');
  for (const l of BANNER_LINES) o.push(`  ${l}`);
  o.push('-->');
  o.push('');
  o.push(`# ${spec.name} hypercall ABI ${v}`);
  o.push('');
  o.push(
    'The contract between a paravirtualized guest and the host: how to make a hypercall, what the guest must import and export, the structs shared in guest memory, and every call with its arguments and errors. C guests get all of it from `#include <pvisor/abi.h>`; the host gets it from `src/abi`.',
  );
  o.push('');
  o.push('## Contents');
  o.push('');
  o.push('- [Calling convention](#calling-convention)');
  o.push('- [Version rule](#version-rule)');
  o.push('- [Hardware traps](#hardware-traps): ' + spec.hw.traps.map((x) => `[${x.name}](#hw-${x.name})`).join(', '));
  o.push('- [Guest interface](#guest-interface)');
  o.push('- [Legacy platform (unmodified guests)](#legacy-platform-unmodified-guests)');
  o.push('- [Memory layout](#memory-layout)');
  o.push('- [Errors](#errors)');
  o.push('- [Constants](#constants): ' + spec.constants.map((g) => `[${g.group}](#const-${g.group})`).join(', '));
  o.push('- [Structs](#structs): ' + spec.structs.map((s) => `[${s.name}](#struct-${s.name})`).join(', '));
  o.push('- [Calls](#calls)');
  o.push('');
  o.push('| Nr | Call | Group | Summary |');
  o.push('|---|---|---|---|');
  for (const c of calls) o.push(`| ${c.nr} | [\`${c.name}\`](#call-${c.name}) | ${c.group} | ${cell(summary(c.doc))} |`);
  o.push('');

  o.push('## Calling convention');
  o.push('');
  o.push(spec.callingConvention.doc);
  o.push('');
  o.push(`- Trap: \`${spec.callingConvention.trap}\` with signature \`${spec.callingConvention.signature}\`.`);
  o.push('- Call number 0 is reserved; any number not in the [call table](#calls) returns `ENOSYS`.');
  o.push('- A pointer argument names a byte range `[ptr, ptr + length)`; the host checks the whole range and returns `EFAULT` when any of it lies outside guest memory or wraps around 2^32.');
  o.push('- Nothing a guest passes makes the host throw: a mistake is an error code, and the guest goes on.');
  o.push('');
  o.push('```c');
  o.push('__attribute__((import_module("pv"), import_name("hypercall")))');
  o.push('int32_t pv_hypercall(int32_t nr, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t a4);');
  o.push('```');
  o.push('');

  o.push('## Hardware traps');
  o.push('');
  o.push(spec.hw.doc);
  o.push('');
  o.push('| Trap | Wasm signature | C | Since | Summary |');
  o.push('|---|---|---|---|---|');
  for (const tr of spec.hw.traps) {
    o.push(`| [\`${spec.hw.module}.${tr.name}\`](#hw-${tr.name}) | \`${hwWasmSignature(tr)}\` | \`pv_${tr.name}\` | ${tr.since} | ${cell(summary(tr.doc))} |`);
  }
  o.push('');
  for (const tr of spec.hw.traps) {
    o.push(`<a id="hw-${tr.name}"></a>`);
    o.push('');
    o.push(`### ${spec.hw.module}.${tr.name}`);
    o.push('');
    o.push(tr.doc);
    o.push('');
    o.push('```c');
    o.push(`__attribute__((import_module("${spec.hw.module}"), import_name("${tr.name}")))`);
    o.push(`${cHwPrototype(tr)};`);
    o.push('```');
    o.push('');
    if (tr.params.length === 0) o.push('**Parameters** None.');
    else {
      o.push('| Parameter | Type | Meaning |');
      o.push('|---|---|---|');
      for (const a of tr.params) o.push(`| \`${a.name}\` | \`${a.type}\` | ${cell(a.doc)} |`);
    }
    o.push('');
    o.push(`**Returns** ${tr.returns}`);
    o.push('');
  }

  o.push('## Version rule');
  o.push('');
  o.push(`This page describes ABI ${v}: \`version\` returns \`(${spec.version.major} << 16) | ${spec.version.minor}\` = ${spec.version.major * 65536 + spec.version.minor} (\`PV_ABI_VERSION\`).`);
  o.push('');
  o.push(spec.versionRule);
  o.push('');

  o.push('## Guest interface');
  o.push('');
  o.push('**Imports** (provided by the host)');
  o.push('');
  o.push('| Module | Name | Meaning |');
  o.push('|---|---|---|');
  for (const i of spec.guestInterface.imports) o.push(`| \`${i.module}\` | \`${i.name}\` | ${cell(i.doc)} |`);
  o.push('');
  o.push('**Exports** (provided by the guest)');
  o.push('');
  o.push('| Name | Signature | Required | Meaning |');
  o.push('|---|---|---|---|');
  for (const e of spec.guestInterface.exports) {
    o.push(`| \`${e.name}\` | \`${e.signature}\` | ${e.required ? 'yes' : 'no'} | ${cell(e.doc)} |`);
  }
  o.push('');

  o.push('## Legacy platform (unmodified guests)');
  o.push('');
  o.push(spec.legacyPlatform.doc);
  o.push('');
  o.push('**Exports** (provided by an unmodified guest)');
  o.push('');
  o.push('| Name | Signature | Required | Meaning |');
  o.push('|---|---|---|---|');
  for (const e of spec.legacyPlatform.exports) {
    o.push(`| \`${e.name}\` | \`${e.signature}\` | ${e.required ? 'yes' : 'no'} | ${cell(e.doc)} |`);
  }
  o.push('');

  o.push('## Memory layout');
  o.push('');
  o.push(spec.memoryLayout);
  o.push('');

  o.push('## Errors');
  o.push('');
  o.push('One table for all calls. Each call lists the errors it may return and why.');
  o.push('');
  o.push('| Code | Name | C | Cause |');
  o.push('|---|---|---|---|');
  for (const e of [...spec.errors].sort((a, b) => b.code - a.code)) {
    o.push(`| ${e.code} | \`${e.name}\` | \`PV_${e.name}\` | ${cell(e.cause)} |`);
  }
  o.push('');

  o.push('## Constants');
  o.push('');
  o.push('In C each constant `NAME` is `PV_NAME`; in TypeScript it is exported as `NAME`.');
  o.push('');
  for (const g of spec.constants) {
    o.push(`<a id="const-${g.group}"></a>`);
    o.push('');
    o.push(`### ${g.group}`);
    o.push('');
    o.push(g.doc);
    o.push('');
    o.push('| Name | Value | Hex | Meaning |');
    o.push('|---|---|---|---|');
    for (const c of g.values) o.push(`| \`${c.name}\` | ${c.value} | ${hex(c.value)} | ${cell(c.doc)} |`);
    o.push('');
  }

  o.push('## Structs');
  o.push('');
  o.push('Little-endian, C natural alignment (the offsets below are asserted by `_Static_assert` in `abi.h` and by the host\'s layout test). Reserved fields must be written as 0.');
  o.push('');
  for (const s of spec.structs) {
    const lay = layouts.get(s.name);
    o.push(`<a id="struct-${s.name}"></a>`);
    o.push('');
    o.push(`### struct ${s.name}`);
    o.push('');
    o.push(s.doc);
    o.push('');
    o.push(
      `Size ${s.size} bytes, align ${s.align}${s.appendOnly ? ', append-only (new fields only ever go at the end)' : ''}. C \`struct pv_${s.name}\` / \`pv_${s.name}_t\`; TS \`${upper(s.name)}_SIZE\`, \`${upper(s.name)}_OFF\`.`,
    );
    o.push('');
    o.push('| Offset | Field | Type | Bytes | Meaning |');
    o.push('|---|---|---|---|---|');
    s.fields.forEach((f, i) => {
      const isStruct = PRIMITIVES[f.type] === undefined;
      const base = isStruct ? `[${f.type}](#struct-${f.type})` : `\`${f.type}\``;
      const ty = f.count !== undefined ? `${base}[${f.count}]` : base;
      const since = f.since !== undefined ? ` (since ${f.since})` : '';
      o.push(`| ${f.offset} | \`${f.name}\` | ${ty} | ${lay?.fields[i]?.size ?? ''} | ${cell(f.doc)}${since} |`);
    });
    o.push('');
  }

  o.push('## Calls');
  o.push('');
  o.push('Each call: number, group, C prototype (the inline wrapper in `abi.h`), arguments in slot order, result, errors with their causes, privilege, whether it may block, and the ABI version that introduced it.');
  o.push('');
  for (const c of calls) callSection(c, o);
  return o.join('\n').replace(/\n+$/, '') + '\n';
}
