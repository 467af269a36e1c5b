/**
 * Checks a guest image against the guest interface (spec/abi.json `guestInterface`) before
 * anything else touches it.
 *
 * The JS API compiles the module and lists its imports and exports, but it does not expose
 * function signatures, global mutability or the memory import's limits and shared flag, which
 * are exactly what goes wrong when a guest is linked the wrong way. So this file also reads the
 * type, import, function, memory, global and export sections itself (a few hundred bytes of a
 * typical image; the code section is skipped by size).
 *
 * Every problem is collected and reported at once, each with the fix (usually a linker flag).
 * @module
 */
import { HW_TRAPS } from '../abi/index.ts';
import { GuestImageError } from './errors.ts';

/** What the engine needs to know about a guest image that passed {@link inspectGuest}. */
export interface GuestImageInfo {
  /** Name of the image, as given to {@link inspectGuest}. */
  name: string;
  /** `'pv'` when it imports `pv.hypercall`; `'unmodified'` when it uses only `hw.*` (or nothing). */
  kind: 'pv' | 'unmodified';
  /** Limits of the imported `env.memory`, in 64 KiB pages. */
  memory: { minPages: number; maxPages: number; shared: boolean };
  /** Exports `pv_upcall: () -> void`. */
  hasUpcall: boolean;
  /** Exports `pv_vcpu_entry: (i32, i32) -> void`. */
  hasVcpuEntry: boolean;
  /** Exports `__stack_pointer` as a mutable i32 global (needed for secondary vCPUs). */
  exportsStackPointer: boolean;
  /** Exports `hw_interrupt: (i32) -> void`, the interrupt entry of an unmodified guest (spec `legacyPlatform`). */
  hasInterruptEntry: boolean;
  /** Exports `hw_if` as an i32 global: the address of the guest's interrupt flag (spec `legacyPlatform`). */
  exportsIfFlag: boolean;
  /** Every import as `module.name`, in module order. */
  imports: string[];
}

/** Export names the instrumenter adds; a guest may not use them (see instrument.ts). */
const RESERVED_EXPORT = /^(__pv_fuel|asyncify_.*)$/;
/** Import module the instrumenter adds (`pvisor.fuel`). */
const RESERVED_IMPORT_MODULE = 'pvisor';

/** The signature `pv.hypercall` must have. */
const HYPERCALL_SIG: FuncType = { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: ['i32'] };

/**
 * Inspects a guest image and returns what the engine needs to know about it.
 *
 * @param bytes - the linked `.wasm` file
 * @param name - name used in messages (usually the file name)
 * @returns the image's kind, memory limits and optional exports
 * @throws {@link GuestImageError} listing every problem found, each with its fix
 */
export function inspectGuest(bytes: Uint8Array, name: string): GuestImageInfo {
  const problems: string[] = [];
  const fail = (): never => {
    throw new GuestImageError(name, problems);
  };

  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    problems.push(
      bytes.length < 4
        ? `is not a WebAssembly module: only ${bytes.length} bytes long; pass the linked .wasm file`
        : 'is not a WebAssembly module (bad magic: it does not start with "\\0asm"); pass the linked .wasm file, not C source, an archive or WAT text',
    );
    fail();
  }
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== 1) {
    problems.push(
      `has WebAssembly binary version ${version >>> 0} (only version 1 is supported; a component or a newer layer is not a core module)`,
    );
    fail();
  }

  // Compiling is the only complete validation; we keep going after a failure so that import
  // and export problems (which often come together with a bad link) are listed as well.
  let compiled = true;
  try {
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    compiled = false;
    problems.push(
      `does not compile: ${errMessage(e)}; rebuild it (a truncated or corrupted file, or a Wasm feature Node ${process.versions.node} does not support, fails here)`,
    );
  }

  let mod: ParsedModule;
  try {
    mod = parseModule(bytes);
  } catch (e) {
    problems.push(`cannot be read: ${errMessage(e)} (the file is truncated or corrupted)`);
    return fail();
  }

  if (mod.customSections.includes('linking')) {
    problems.push(
      'is a relocatable object file (it has a "linking" section), not a linked module; link it with wasm-ld --import-memory --shared-memory --max-memory=N --no-entry --export=_start',
    );
    return fail();
  }

  // ---- memory
  let memory: GuestImageInfo['memory'] = { minPages: 0, maxPages: 0, shared: false };
  const memImports = mod.imports.filter((i) => i.desc.kind === 'memory');
  const envMemory = memImports.find((i) => i.module === 'env' && i.name === 'memory');
  if (envMemory && envMemory.desc.kind === 'memory') {
    const lim = envMemory.desc;
    memory = { minPages: lim.min, maxPages: lim.max ?? 0, shared: lim.shared };
    if (lim.is64) problems.push('imports env.memory as a 64-bit memory (memory64); compile and link for --target=wasm32');
    if (!lim.shared) {
      problems.push(
        'imports env.memory as non-shared; link with --shared-memory (and compile every object, library members included, with -matomics -mbulk-memory)',
      );
    }
    if (lim.max === undefined) {
      problems.push(
        'imports env.memory without a maximum size; link with --max-memory=N (N in bytes, a multiple of 65536, at least the largest domain memory)',
      );
    }
  } else if (mod.definesMemory) {
    problems.push('defines its own memory instead of importing env.memory; link with --import-memory');
  } else if (memImports.length === 0) {
    problems.push('has no memory; link with --import-memory (the host provides env.memory)');
  }

  // ---- imports
  let importsHypercall = false;
  for (const imp of mod.imports) {
    const full = `${imp.module}.${imp.name}`;
    const d = imp.desc;
    if (imp === envMemory) continue;
    if (imp.module === 'pv' && imp.name === 'hypercall') {
      importsHypercall = true;
      if (d.kind !== 'func') {
        problems.push(`imports pv.hypercall as a ${d.kind}; it must be a function (i32, i32, i32, i32, i32, i32) -> i32`);
      } else if (!sameType(d.type, HYPERCALL_SIG)) {
        problems.push(
          `imports pv.hypercall with signature ${fmtType(d.type)}; it must be ${fmtType(HYPERCALL_SIG)} — declare it as pvisor/abi.h does: int32_t pv_hypercall(int32_t nr, int32_t a0, … int32_t a4)`,
        );
      }
    } else if (imp.module === 'pv') {
      problems.push(
        `imports ${full}, which does not exist; the only pv import is pv.hypercall (every call goes through it with its number)`,
      );
    } else if (imp.module === 'hw') {
      // Other hw.* functions are accepted for now: the full-virtualization mode binds them. The
      // ABI's traps (spec `hw.traps`) are bound by the engine, so their signatures must match:
      // a JS import accepts any signature and would silently read missing arguments as undefined.
      const trap = HW_TRAPS.find((x) => x.name === imp.name);
      if (d.kind !== 'func') problems.push(`imports ${full} as a ${d.kind}; hw.* imports must be functions`);
      else if (trap !== undefined) {
        const want: FuncType = { params: trap.params.map(() => 'i32'), results: trap.result === 'void' ? [] : ['i32'] };
        if (!sameType(d.type, want)) {
          problems.push(`imports ${full} with signature ${fmtType(d.type)}; it must be ${fmtType(want)} — declare it as pvisor/abi.h does: pv_${trap.name}`);
        }
      }
    } else if (imp.module === RESERVED_IMPORT_MODULE) {
      problems.push(
        `imports ${full}; the module name "pvisor" is reserved for the host's instrumentation (is this image already instrumented? load the original image)`,
      );
    } else if (d.kind === 'memory') {
      problems.push(`imports a memory as ${full}; the host provides only env.memory — link with --import-memory`);
    } else if (imp.module === 'env' && /^(__stack_pointer|__memory_base|__table_base|__indirect_function_table|__tls_base)$/.test(imp.name)) {
      problems.push(
        `imports ${full} (${d.kind}); link the guest as a plain executable: no -shared, -pie or --experimental-pic, no --import-table`,
      );
    } else if (imp.module === 'env' && d.kind === 'func') {
      problems.push(
        `imports ${full}, an undefined function the host does not provide; define it in the guest (or link the library that does) — wasm-ld turns undefined symbols into env.* imports under --allow-undefined`,
      );
    } else {
      problems.push(
        `imports ${full} (${d.kind}), which the host does not provide; a guest may import only env.memory, pv.hypercall and hw.* functions`,
      );
    }
  }

  // ---- exports
  const exports = new Map(mod.exports.map((e) => [e.name, e]));
  const funcExport = (expName: string, want: FuncType, required: boolean, why: string): boolean => {
    const e = exports.get(expName);
    if (!e) {
      if (required) problems.push(`does not export ${expName}; ${why}`);
      return false;
    }
    if (e.kind !== 'func') {
      problems.push(`exports ${expName} as a ${e.kind}; it must be a function ${fmtType(want)}`);
      return false;
    }
    const t = mod.funcType(e.index);
    if (!t) {
      problems.push(`exports ${expName} with an unknown type (function ${e.index}); the module is inconsistent`);
      return false;
    }
    if (!sameType(t, want)) {
      problems.push(`exports ${expName} with signature ${fmtType(t)}; it must be ${fmtType(want)} — ${why}`);
      return false;
    }
    return true;
  };
  funcExport(
    '_start',
    { params: ['i32'], results: [] },
    true,
    'link with --export=_start and define void _start(pv_start_info_t *start_info): it receives the start_info address',
  );
  const hasUpcall = funcExport('pv_upcall', { params: [], results: [] }, false, 'define it as void pv_upcall(void)');
  const hasVcpuEntry = funcExport(
    'pv_vcpu_entry',
    { params: ['i32', 'i32'], results: [] },
    false,
    'define it as void pv_vcpu_entry(int32_t entry, int32_t arg)',
  );
  const hasInterruptEntry = funcExport(
    'hw_interrupt',
    { params: ['i32'], results: [] },
    false,
    'define it as void hw_interrupt(int32_t vector) and link with --export=hw_interrupt',
  );
  let exportsIfFlag = false;
  const flag = exports.get('hw_if');
  if (flag) {
    const g = flag.kind === 'global' ? mod.globalType(flag.index) : undefined;
    if (g === undefined || g.type !== 'i32') {
      problems.push(
        `exports hw_if as ${flag.kind === 'global' ? `a ${g?.type ?? 'unknown'} global` : `a ${flag.kind}`}; it must be the address of the 32-bit interrupt flag: define a uint32_t hw_if and link with --export=hw_if`,
      );
    } else {
      exportsIfFlag = true;
    }
  }
  let exportsStackPointer = false;
  const sp = exports.get('__stack_pointer');
  if (sp) {
    const g = sp.kind === 'global' ? mod.globalType(sp.index) : undefined;
    if (sp.kind !== 'global') {
      problems.push(`exports __stack_pointer as a ${sp.kind}; it must be the C stack pointer global (mutable i32), exported with --export=__stack_pointer`);
    } else if (!g) {
      problems.push(`exports __stack_pointer with an unknown type (global ${sp.index}); the module is inconsistent`);
    } else if (g.type !== 'i32' || !g.mutable) {
      problems.push(
        `exports __stack_pointer as ${g.mutable ? 'a mutable' : 'an immutable'} ${g.type} global; it must be a mutable i32 (the C stack pointer, exported with --export=__stack_pointer)`,
      );
    } else {
      exportsStackPointer = true;
    }
  }
  for (const e of mod.exports) {
    if (RESERVED_EXPORT.test(e.name)) {
      problems.push(
        `exports ${e.name}, a name reserved for the host's instrumentation; rename it (is this image already instrumented? load the original image)`,
      );
    }
  }

  if (problems.length > 0 || !compiled) fail();
  return {
    name,
    kind: importsHypercall ? 'pv' : 'unmodified',
    memory,
    hasUpcall,
    hasVcpuEntry,
    exportsStackPointer,
    hasInterruptEntry,
    exportsIfFlag,
    imports: mod.imports.map((i) => `${i.module}.${i.name}`),
  };
}

// ---------------------------------------------------------------------------------------------
// A minimal reader for the sections above. It throws WasmReadError on anything truncated or
// malformed; inspectGuest turns that into a problem, so no input can make it throw anything else.

/** A function type, value types by their text names. */
interface FuncType {
  params: string[];
  results: string[];
}

type ImportDesc =
  | { kind: 'func'; type: FuncType | undefined }
  | { kind: 'table' }
  | { kind: 'memory'; min: number; max: number | undefined; shared: boolean; is64: boolean }
  | { kind: 'global'; type: string; mutable: boolean }
  | { kind: 'tag' };

interface ParsedModule {
  imports: { module: string; name: string; desc: ImportDesc }[];
  exports: { name: string; kind: string; index: number }[];
  definesMemory: boolean;
  customSections: string[];
  /** Type of the function with this index in the function index space (imports first). */
  funcType(index: number): FuncType | undefined;
  /** Type of the global with this index in the global index space (imports first). */
  globalType(index: number): { type: string; mutable: boolean } | undefined;
}

class WasmReadError extends Error {}

const EXTERN_KINDS = ['func', 'table', 'memory', 'global', 'tag'] as const;

class Reader {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmReadError(`unexpected end of data at offset ${this.pos}`);
    return this.b[this.pos++]!;
  }
  /** Unsigned LEB128 up to 53 bits (memory64 limits need more than 32). */
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const x = this.byte();
      result += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new WasmReadError(`LEB128 too long at offset ${this.pos}`);
  }
  /** Signed LEB128; only skipped or used for small values, so the value may be imprecise. */
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const x = this.byte();
      result += (x & 0x7f) * mul;
      mul *= 128;
      if ((x & 0x80) === 0) return x & 0x40 ? result - mul : result;
    }
    throw new WasmReadError(`LEB128 too long at offset ${this.pos}`);
  }
  skip(n: number): void {
    if (n > this.end - this.pos) throw new WasmReadError(`unexpected end of data at offset ${this.pos}`);
    this.pos += n;
  }
  name(): string {
    const n = this.uleb();
    const start = this.pos;
    this.skip(n);
    return new TextDecoder().decode(this.b.subarray(start, start + n));
  }
  valType(): string {
    const t = this.byte();
    switch (t) {
      case 0x7f: return 'i32';
      case 0x7e: return 'i64';
      case 0x7d: return 'f32';
      case 0x7c: return 'f64';
      case 0x7b: return 'v128';
      case 0x70: return 'funcref';
      case 0x6f: return 'externref';
      case 0x63:
      case 0x64:
        this.sleb(); // heap type of (ref null? ht)
        return t === 0x63 ? 'ref null' : 'ref';
      default:
        throw new WasmReadError(`unknown value type 0x${t.toString(16)} at offset ${this.pos - 1}`);
    }
  }
  limits(): { min: number; max: number | undefined; shared: boolean; is64: boolean } {
    const flags = this.byte();
    if (flags > 7) throw new WasmReadError(`unknown limits flags 0x${flags.toString(16)}`);
    const min = this.uleb();
    const max = flags & 1 ? this.uleb() : undefined;
    return { min, max, shared: (flags & 2) !== 0, is64: (flags & 4) !== 0 };
  }
  /** Skips a constant expression (global initializer) up to its `end`. */
  constExpr(): void {
    for (;;) {
      const op = this.byte();
      switch (op) {
        case 0x0b: return;
        case 0x41: case 0x42: this.sleb(); break; // i32/i64.const
        case 0x43: this.skip(4); break;
        case 0x44: this.skip(8); break;
        case 0x23: case 0xd2: this.uleb(); break; // global.get, ref.func
        case 0xd0: this.sleb(); break; // ref.null heaptype
        case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: break; // extended-const
        case 0xfd:
          if (this.uleb() !== 12) throw new WasmReadError('unsupported instruction in a global initializer');
          this.skip(16);
          break;
        default:
          throw new WasmReadError(`unsupported instruction 0x${op.toString(16)} in a global initializer`);
      }
    }
  }
}

function parseModule(bytes: Uint8Array): ParsedModule {
  const types: FuncType[] = [];
  const imports: ParsedModule['imports'] = [];
  const exports: ParsedModule['exports'] = [];
  const customSections: string[] = [];
  const importedFuncTypes: (FuncType | undefined)[] = [];
  const importedGlobals: { type: string; mutable: boolean }[] = [];
  const definedFuncTypeIdx: number[] = [];
  const definedGlobals: { type: string; mutable: boolean }[] = [];
  let definesMemory = false;

  const top = new Reader(bytes, 8, bytes.length);
  while (top.pos < top.end) {
    const id = top.byte();
    const size = top.uleb();
    const start = top.pos;
    top.skip(size);
    const r = new Reader(bytes, start, start + size);
    switch (id) {
      case 0:
        customSections.push(r.name());
        break;
      case 1: {
        for (let n = r.uleb(); n > 0; n--) {
          const form = r.byte();
          if (form !== 0x60) throw new WasmReadError(`unsupported type form 0x${form.toString(16)} (GC types)`);
          const params: string[] = [];
          for (let k = r.uleb(); k > 0; k--) params.push(r.valType());
          const results: string[] = [];
          for (let k = r.uleb(); k > 0; k--) results.push(r.valType());
          types.push({ params, results });
        }
        break;
      }
      case 2: {
        for (let n = r.uleb(); n > 0; n--) {
          const module = r.name();
          const name = r.name();
          const kind = r.byte();
          let desc: ImportDesc;
          switch (kind) {
            case 0: {
              const t = types[r.uleb()];
              importedFuncTypes.push(t);
              desc = { kind: 'func', type: t };
              break;
            }
            case 1:
              r.valType();
              r.limits();
              desc = { kind: 'table' };
              break;
            case 2:
              desc = { kind: 'memory', ...r.limits() };
              break;
            case 3: {
              const type = r.valType();
              const mutable = r.byte() === 1;
              importedGlobals.push({ type, mutable });
              desc = { kind: 'global', type, mutable };
              break;
            }
            case 4:
              r.byte();
              r.uleb();
              desc = { kind: 'tag' };
              break;
            default:
              throw new WasmReadError(`unknown import kind ${kind} for ${module}.${name}`);
          }
          imports.push({ module, name, desc });
        }
        break;
      }
      case 3:
        for (let n = r.uleb(); n > 0; n--) definedFuncTypeIdx.push(r.uleb());
        break;
      case 5:
        definesMemory = r.uleb() > 0;
        break;
      case 6:
        for (let n = r.uleb(); n > 0; n--) {
          const type = r.valType();
          const mutable = r.byte() === 1;
          r.constExpr();
          definedGlobals.push({ type, mutable });
        }
        break;
      case 7:
        for (let n = r.uleb(); n > 0; n--) {
          const name = r.name();
          const k = r.byte();
          const index = r.uleb();
          exports.push({ name, kind: EXTERN_KINDS[k] ?? `kind ${k}`, index });
        }
        break;
      default:
        break; // code, data, … are not needed here
    }
  }

  return {
    imports,
    exports,
    definesMemory,
    customSections,
    funcType(index) {
      if (index < importedFuncTypes.length) return importedFuncTypes[index];
      const ti = definedFuncTypeIdx[index - importedFuncTypes.length];
      return ti === undefined ? undefined : types[ti];
    },
    globalType(index) {
      return index < importedGlobals.length
        ? importedGlobals[index]
        : definedGlobals[index - importedGlobals.length];
    },
  };
}

function sameType(a: FuncType | undefined, b: FuncType): boolean {
  return (
    a !== undefined &&
    a.params.length === b.params.length &&
    a.results.length === b.results.length &&
    a.params.every((p, i) => p === b.params[i]) &&
    a.results.every((p, i) => p === b.results[i])
  );
}

function fmtType(t: FuncType | undefined): string {
  if (!t) return '(unknown type)';
  const res = t.results.length === 0 ? 'void' : t.results.length === 1 ? t.results[0]! : `(${t.results.join(', ')})`;
  return `(${t.params.join(', ')}) -> ${res}`;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
