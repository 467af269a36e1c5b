/**
 * Struct layout by C natural alignment: each field starts at the next multiple of its
 * alignment, a struct's alignment is its largest field alignment, and its size is padded to a
 * multiple of that. This is what clang does for wasm32, so the spec's declared offsets can be
 * checked here and again by `_Static_assert` in the C header.
 * @module
 */
import { PRIMITIVES, type StructSpec } from './spec.ts';

/** Computed placement of one field. */
export interface FieldLayout {
  name: string;
  /** Offset by natural alignment (independent of the declared one). */
  offset: number;
  /** Bytes of one element. */
  elemSize: number;
  /** Bytes of the whole field (elemSize * count). */
  size: number;
  align: number;
}

/** Computed layout of one struct. */
export interface StructLayout {
  size: number;
  align: number;
  fields: FieldLayout[];
}

/** Rounds `n` up to a multiple of `a` (a power of two). */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Computes the layouts of `structs` in order. A field's type must be a primitive or a struct
 * earlier in the list (that rules out recursion); unknown types are skipped here, the
 * validator reports them.
 */
export function computeLayouts(structs: readonly StructSpec[]): Map<string, StructLayout> {
  const out = new Map<string, StructLayout>();
  for (const s of structs) {
    let end = 0;
    let maxAlign = 1;
    const fields: FieldLayout[] = [];
    for (const f of s.fields) {
      const prim = PRIMITIVES[f.type];
      const nested = out.get(f.type);
      const elemSize = prim ? prim.size : nested ? nested.size : 0;
      const align = prim ? prim.size : nested ? nested.align : 1;
      const offset = alignUp(end, align);
      const size = elemSize * (f.count ?? 1);
      fields.push({ name: f.name, offset, elemSize, size, align });
      end = offset + size;
      maxAlign = Math.max(maxAlign, align);
    }
    out.set(s.name, { size: alignUp(end, maxAlign), align: maxAlign, fields });
  }
  return out;
}
