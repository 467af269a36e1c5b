/**
 * Emits the guest's C view of the ABI: `guest-kit/c/include/pvisor/abi.h`. C99 plus the clang
 * wasm import attribute; layouts are pinned with `_Static_assert` so a compiler or spec drift
 * fails the guest build instead of corrupting memory at run time.
 * @module
 */
import { callsByNr } from './emit-ts.ts';
import { hwWasmSignature, PRIMITIVES, type AbiSpec, type ArgSpec, type CallSpec, type HwTrapSpec } from './spec.ts';
import { BANNER_LINES, commentSafe, upper, wrap } from './text.ts';

/** Header path, repository-relative. */
export const C_HEADER_PATH = 'guest-kit/c/include/pvisor/abi.h';

/** A `/** … *\/` block at `indent` from paragraphs (wrapped at 100 columns). */
function cdoc(indent: string, paragraphs: readonly string[]): string[] {
  const width = 100 - indent.length - 3;
  const lines = [`${indent}/**`];
  paragraphs.forEach((p, i) => {
    if (i > 0) lines.push(`${indent} *`);
    for (const raw of p.split('\n')) {
      // A leading run of spaces marks a preformatted line (error lists); keep it unwrapped.
      if (/^ {2}/.test(raw)) lines.push(`${indent} * ${commentSafe(raw)}`);
      else for (const l of wrap(commentSafe(raw), width)) lines.push(`${indent} * ${l}`);
    }
  });
  lines.push(`${indent} */`);
  // One short paragraph fits on one line: `/** text */`.
  if (lines.length === 3 && lines[1]!.length + 3 <= 100) return [`${indent}/** ${lines[1]!.slice(indent.length + 3)} */`];
  return lines;
}

/** A C integer literal: values beyond INT32_MAX get a `u` suffix so they stay unsigned. */
function cInt(v: number): string {
  if (v < 0) return `(${v})`;
  return v > 0x7fffffff ? `${v}u` : String(v);
}

function cFieldType(t: string): string {
  return PRIMITIVES[t]?.c ?? `struct pv_${t}`;
}

function cArgType(a: ArgSpec): string {
  if (a.type === 'ptr') return a.dir === 'in' ? 'const void *' : 'void *';
  return a.type === 'u32' ? 'uint32_t ' : 'int32_t ';
}

/** `int32_t pv_name(args)` without the trailing semicolon or body. */
export function cPrototype(c: CallSpec): string {
  const params = c.args.length === 0 ? 'void' : c.args.map((a) => `${cArgType(a)}${a.name}`).join(', ');
  return `int32_t pv_${c.name}(${params})`;
}

function cArgWord(a: ArgSpec): string {
  // Pointers go through uintptr_t: wasm32 pointers are 32 bits, and the host reads them unsigned.
  return a.type === 'ptr' ? `(int32_t)(uintptr_t)${a.name}` : `(int32_t)${a.name}`;
}

/** `uint32_t pv_mmio_read32(uint32_t addr)` without the semicolon: a hardware trap's C declaration. */
export function cHwPrototype(t: HwTrapSpec): string {
  const ty = (x: 'u32' | 'i32' | 'void'): string => (x === 'void' ? 'void' : x === 'u32' ? 'uint32_t' : 'int32_t');
  const params = t.params.length === 0 ? 'void' : t.params.map((a) => `${ty(a.type)} ${a.name}`).join(', ');
  return `${ty(t.result)} pv_${t.name}(${params})`;
}

/** The generated header text. */
export function emitC(spec: AbiSpec): string {
  const o: string[] = [];
  o.push('/*');
  for (const l of BANNER_LINES) o.push(` * ${l}`);
  o.push(' *');
  o.push(' * pvisor hypercall ABI for guests: call numbers, error codes, constants, the structs shared');
  o.push(' * with the host, and one inline wrapper per hypercall. C99 with clang\'s wasm import');
  o.push(' * attribute; compile for --target=wasm32. Reference: docs/abi.md.');
  o.push(' */');
  o.push('#ifndef PVISOR_ABI_H');
  o.push('#define PVISOR_ABI_H');
  o.push('');
  o.push('#include <stdint.h>');
  o.push('#include <stddef.h> /* offsetof, for the layout assertions only */');
  o.push('');
  o.push(...cdoc('', ['ABI version this header describes. `pv_version()` returns (major << 16) | minor.', spec.versionRule]));
  o.push(`#define PV_ABI_VERSION_MAJOR ${spec.version.major}`);
  o.push(`#define PV_ABI_VERSION_MINOR ${spec.version.minor}`);
  o.push('#define PV_ABI_VERSION ((PV_ABI_VERSION_MAJOR << 16) | PV_ABI_VERSION_MINOR)');
  o.push('');

  o.push('/* ---- Hypercall numbers (0 is reserved and returns PV_ENOSYS) ---- */');
  o.push('');
  for (const c of callsByNr(spec)) o.push(`#define PV_HC_${upper(c.name)} ${c.nr}`);
  o.push('');

  o.push('/* ---- Errors: a hypercall returns a negative code from this table ---- */');
  o.push('');
  for (const e of [...spec.errors].sort((a, b) => b.code - a.code)) {
    o.push(`/** ${commentSafe(e.cause)} */`);
    o.push(`#define PV_${e.name} ${cInt(e.code)}`);
  }
  o.push('');

  for (const g of spec.constants) {
    o.push(`/* ---- Constants: ${g.group}. ${commentSafe(g.doc)} ---- */`);
    o.push('');
    for (const c of g.values) {
      o.push(`/** ${commentSafe(c.doc)} */`);
      o.push(`#define PV_${c.name} ${cInt(c.value)}`);
    }
    o.push('');
  }

  o.push('/* ---- Structs shared with the host (little-endian, natural alignment) ---- */');
  o.push('');
  for (const s of spec.structs) {
    const tag = `pv_${s.name}`;
    o.push(...cdoc('', [`${s.doc}`, `Size ${s.size} bytes, align ${s.align}${s.appendOnly ? ', append-only' : ''}.`]));
    o.push(`struct ${tag} {`);
    for (const f of s.fields) {
      o.push(...cdoc('    ', [`+${f.offset}${f.since !== undefined ? ` (since ${f.since})` : ''}: ${f.doc}`]));
      const arr = f.count !== undefined ? `[${f.count}]` : '';
      o.push(`    ${cFieldType(f.type)} ${f.name}${arr};`);
    }
    o.push('};');
    o.push(`/** Typedef of struct ${tag}. */`);
    o.push(`typedef struct ${tag} ${tag}_t;`);
    o.push(`__extension__ _Static_assert(sizeof(struct ${tag}) == ${s.size}, "sizeof(struct ${tag}) must be ${s.size}");`);
    o.push(`__extension__ _Static_assert(__alignof__(struct ${tag}) == ${s.align}, "alignof(struct ${tag}) must be ${s.align}");`);
    for (const f of s.fields) {
      o.push(`__extension__ _Static_assert(offsetof(struct ${tag}, ${f.name}) == ${f.offset}, "offsetof(struct ${tag}, ${f.name}) must be ${f.offset}");`);
    }
    o.push('');
  }

  o.push('/* ---- The hypercall trap and one wrapper per call ---- */');
  o.push('');
  o.push(...cdoc('', [spec.callingConvention.doc]));
  o.push('__attribute__((import_module("pv"), import_name("hypercall")))');
  o.push('int32_t pv_hypercall(int32_t nr, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t a4);');
  o.push('');
  for (const c of callsByNr(spec)) {
    const paras: string[] = [];
    paras.push(`${c.name} (PV_HC_${upper(c.name)} = ${c.nr}, group ${c.group}, since ${c.since}). ${c.doc}`);
    if (c.args.length > 0) {
      paras.push(
        c.args
          .map((a) => {
            const mode = a.type === 'ptr' ? ` [${a.dir}, ${a.length ?? '?'} bytes${a.nullable ? ', may be NULL' : ''}]` : '';
            return `@param ${a.name}${mode} ${a.doc}`;
          })
          .join('\n'),
      );
    }
    const errLines = c.errors.map((e) => `  PV_${e.name}: ${e.when}`);
    paras.push(
      [`@return ${c.returns}${c.errors.length > 0 ? ' Errors:' : ' No call-specific errors.'}`, ...errLines].join('\n'),
    );
    paras.push(
      `Privilege: ${c.privilege === 'control' ? 'controlling domain only' : 'any domain'}. May block: ${c.blocking ? 'yes' : 'no'}.`,
    );
    o.push(...cdoc('', paras));
    o.push(`static inline ${cPrototype(c)}`);
    o.push('{');
    const words = c.args.map(cArgWord);
    while (words.length < 5) words.push('0');
    o.push(`    return pv_hypercall(PV_HC_${upper(c.name)}, ${words.join(', ')});`);
    o.push('}');
    o.push('');
  }
  o.push(`/* ---- Hardware traps (import module "${spec.hw.module}"; not hypercalls) ---- */`);
  o.push('');
  o.push(...cdoc('', [spec.hw.doc]));
  o.push('');
  for (const tr of spec.hw.traps) {
    const paras = [`${tr.name} (wasm ${hwWasmSignature(tr)}, since ${tr.since}). ${tr.doc}`];
    if (tr.params.length > 0) paras.push(tr.params.map((a) => `@param ${a.name} ${a.doc}`).join('\n'));
    paras.push(`@return ${tr.returns}`);
    o.push(...cdoc('', paras));
    o.push(`__attribute__((import_module("${spec.hw.module}"), import_name("${tr.name}")))`);
    o.push(`${cHwPrototype(tr)};`);
    o.push('');
  }
  o.push('#endif /* PVISOR_ABI_H */');
  return o.join('\n') + '\n';
}
