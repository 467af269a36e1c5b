/**
 * The shape of `spec/abi.json` as TypeScript types, and the primitive type table the layout
 * rules use. The JSON Schema (`spec/abi.schema.json`) is the authority on the shape; these types
 * mirror it so the emitters are typed. Keep the two in step.
 * @module
 */

/** Argument types a hypercall slot can carry: every slot is an i32 on the wire. */
export type ArgType = 'u32' | 'i32' | 'ptr';

/** Direction of a pointer argument's data (scalars are always `in`). */
export type ArgDir = 'in' | 'out' | 'inout';

/** One hypercall argument. */
export interface ArgSpec {
  name: string;
  type: ArgType;
  dir: ArgDir;
  /** Byte length of the pointed-to range; required for `ptr` (see length expressions). */
  length?: string;
  /** A `ptr` that may be 0 meaning "absent". */
  nullable?: boolean;
  doc: string;
}

/** One error a call may return, with the cause specific to that call. */
export interface CallErrorSpec {
  name: string;
  when: string;
}

/** One hypercall. */
export interface CallSpec {
  nr: number;
  name: string;
  group: string;
  since: string;
  privilege: 'any' | 'control';
  blocking: boolean;
  doc: string;
  args: ArgSpec[];
  returns: string;
  errors: CallErrorSpec[];
}

/** One entry of the global error table. */
export interface ErrorSpec {
  name: string;
  code: number;
  cause: string;
}

/** One named constant. */
export interface ConstantSpec {
  name: string;
  value: number;
  doc: string;
}

/** A documented group of constants. */
export interface ConstantGroupSpec {
  group: string;
  doc: string;
  values: ConstantSpec[];
}

/** One struct field; `type` is a primitive or the name of a struct declared earlier. */
export interface FieldSpec {
  name: string;
  type: string;
  offset: number;
  /** Array element count; absent means a single element. */
  count?: number;
  /** ABI version that appended the field ("major.minor"); absent means the struct's first version. */
  since?: string;
  doc: string;
}

/** A struct living in guest memory (little-endian, C natural alignment). */
export interface StructSpec {
  name: string;
  size: number;
  align: number;
  appendOnly: boolean;
  doc: string;
  fields: FieldSpec[];
}

/** A guest import the host provides. */
export interface GuestImportSpec {
  module: string;
  name: string;
  doc: string;
}

/** A guest export the host calls or reads. */
export interface GuestExportSpec {
  name: string;
  signature: string;
  required: boolean;
  doc: string;
}

/** One parameter of a hardware trap: every parameter is an i32 on the wire. */
export interface HwParamSpec {
  name: string;
  /** How the guest and host read the word (C `uint32_t` / `int32_t`). */
  type: 'u32' | 'i32';
  doc: string;
}

/** One hardware trap: a function the guest imports from module `hw` (not a hypercall). */
export interface HwTrapSpec {
  /** Import name in module `hw`; C `pv_<name>`. */
  name: string;
  since: string;
  doc: string;
  params: HwParamSpec[];
  /** Result type; `void` for none. */
  result: 'u32' | 'i32' | 'void';
  returns: string;
}

/** The hardware-trap section: imports of module `hw`, apart from the hypercall table. */
export interface HwSpec {
  /** Always `hw`. */
  module: 'hw';
  doc: string;
  traps: HwTrapSpec[];
}

/** The whole ABI definition (`spec/abi.json`). */
export interface AbiSpec {
  $schema?: string;
  name: string;
  version: { major: number; minor: number };
  versionRule: string;
  callingConvention: { trap: string; signature: string; doc: string };
  guestInterface: { imports: GuestImportSpec[]; exports: GuestExportSpec[] };
  /** The emulated PC that unmodified guests (no `pv` imports) boot on. */
  legacyPlatform: { doc: string; exports: GuestExportSpec[] };
  hw: HwSpec;
  memoryLayout: string;
  errors: ErrorSpec[];
  constants: ConstantGroupSpec[];
  structs: StructSpec[];
  calls: CallSpec[];
}

/** Size (= natural alignment) and C type of each primitive field type. */
export const PRIMITIVES: Readonly<Record<string, { size: number; c: string; signed: boolean }>> = {
  u8: { size: 1, c: 'uint8_t', signed: false },
  i8: { size: 1, c: 'int8_t', signed: true },
  u16: { size: 2, c: 'uint16_t', signed: false },
  i16: { size: 2, c: 'int16_t', signed: true },
  u32: { size: 4, c: 'uint32_t', signed: false },
  i32: { size: 4, c: 'int32_t', signed: true },
  u64: { size: 8, c: 'uint64_t', signed: false },
  i64: { size: 8, c: 'int64_t', signed: true },
};

/** Parses a "major.minor" version string (already checked by the schema's pattern). */
export function parseVersion(v: string): { major: number; minor: number } {
  const [major, minor] = v.split('.').map(Number) as [number, number];
  return { major, minor };
}

/** True when version string `a` ("major.minor") is later than `b`. */
export function versionAfter(a: string, b: { major: number; minor: number }): boolean {
  const { major, minor } = parseVersion(a);
  return major > b.major || (major === b.major && minor > b.minor);
}

/** The Wasm signature of a hardware trap, as docs show it: `(addr: i32) -> i32`. */
export function hwWasmSignature(t: HwTrapSpec): string {
  return `(${t.params.map((p) => `${p.name}: i32`).join(', ')}) -> ${t.result === 'void' ? 'void' : 'i32'}`;
}

/** True when `t` names a primitive field type. */
export function isPrimitive(t: string): boolean {
  return Object.prototype.hasOwnProperty.call(PRIMITIVES, t);
}
