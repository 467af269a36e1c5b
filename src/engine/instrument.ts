/**
 * Load-time instrumentation of guest images for the deterministic engine (binaryen).
 *
 * 1. **Fuel.** A mutable i32 global exported as `__pv_fuel` is decremented at every function
 *    entry and at the top of every loop body; when it goes below zero the guest calls the new
 *    import `pvisor.fuel: () -> void`. The host sets the global to a slice budget before it runs
 *    a vCPU and reads it back to learn what was consumed; inside `pvisor.fuel` it either refills
 *    the budget and returns, or preempts the vCPU by unwinding it. Fuel therefore counts
 *    "function entries + loop iterations", a deterministic measure of work.
 * 2. **The hypercall carries the fuel.** Calls to the `pv.hypercall` import become calls to the
 *    new import `pvisor.hypercall` with the six arguments and the current `__pv_fuel` as a
 *    seventh. The host learns the fuel consumed without reading the global from JS, which costs
 *    ~20 ns (as much as the import call itself); a global.get in Wasm is free.
 * 3. **Asyncify** with `pvisor.hypercall`, `pvisor.fuel` and every `hw.*` import as the points
 *    where the host may unwind the guest (and later rewind it).
 * 4. **Memory growth is accounted.** Every `memory.grow` gets its delta through the new import
 *    `pvisor.memory_grow`, which returns the delta to grow by: the host takes the new frames
 *    from its free pool, or refuses (a delta too large for any memory), so a guest can never
 *    make memory out of nothing (spec `memoryLayout`). It is not an unwind point.
 * 5. Function names are kept (name section), so a trap's `err.stack` names guest functions;
 *    {@link parseWasmBacktrace} extracts them.
 *
 * Choices:
 * - Every defined function is fuel instrumented, the start function and startup helpers
 *   (`__wasm_init_memory`, `__wasm_call_ctors`) included: it is simpler, costs a few units, and
 *   a hostile start function that loops forever still reaches `pvisor.fuel` (after
 *   {@link FUEL_INITIAL} units) instead of hanging `new WebAssembly.Instance`. A call to
 *   `pvisor.fuel` during instantiation can only mean that; the host should throw from the
 *   import (never unwind: it does not hold the instance yet), which aborts the instantiation.
 * - The asyncify helpers are added after the fuel pass, so they are not fuel instrumented.
 * - `__pv_fuel` starts at INT32_MAX so that legitimate start code never calls `pvisor.fuel`;
 *   the host sets it before every slice anyway.
 * - Every `memory.atomic.wait` gets timeout 0. The deterministic engine runs all vCPUs on one
 *   thread, so a guest wait could never be woken and would hang the host: wasm-ld's
 *   `__wasm_init_memory` waits (timeout -1) while a guest-memory flag says "another instance is
 *   initialising memory", and a guest that writes that value to the flag would hang the next
 *   vCPU's instantiation; any other wait in guest code would hang the run. With timeout 0 the
 *   wait returns at once ("timed-out" or "not-equal"); a guest that loops on it is preempted by
 *   its fuel like any spinning loop. (A parallel engine can keep real waits.)
 * - The check is a global decrement and a never-taken branch; binaryen's asyncify pass then
 *   treats the `pvisor.fuel` call like any other unwind point.
 *
 * Nothing added here throws a host exception: the only new host entry is `pvisor.fuel`, and
 * asyncify reports misuse as Wasm traps (`WebAssembly.RuntimeError`, `unreachable`): an invalid
 * data buffer in `asyncify_start_unwind`/`start_rewind`, and a saved stack that overflowed the
 * buffer in `asyncify_stop_unwind` (asyncify does not bound its writes while unwinding, so the
 * overflow has already written past `end`, inside guest memory). The host must therefore call
 * the asyncify exports inside its guest-trap handling, like guest code.
 * @module
 */
import binaryen from 'binaryen';
import { GuestImageError } from './errors.ts';

/**
 * Version of the instrumentation output. It is part of the cache key: bump it whenever the
 * bytes produced for the same input change (new check shape, new pass options, new exports).
 */
export const INSTRUMENT_VERSION = 'pvisor-instrument-4';

/** Name of the exported fuel global (mutable i32). */
export const FUEL_EXPORT = '__pv_fuel';
/** Module and name of the fuel import, `() -> void`, called when fuel goes below zero. */
export const FUEL_IMPORT = { module: 'pvisor', name: 'fuel' } as const;
/** Initial value of `__pv_fuel` in a new instance (INT32_MAX; the host sets it per slice). */
export const FUEL_INITIAL = 0x7fffffff;
/**
 * Module and name of the import every `memory.grow` asks first, `(pages: i32) -> i32`: the grow
 * then runs with the delta it returns (the host refuses with a delta no memory can take, so the
 * grow fails with -1 and changes nothing). Growth takes frames from the host's free pool.
 */
export const MEMORY_GROW_IMPORT = { module: 'pvisor', name: 'memory_grow' } as const;
/** Module and name of the import that replaces `pv.hypercall`: `(nr, a0..a4, fuel: i32) -> i32`. */
export const HYPERCALL_IMPORT = { module: 'pvisor', name: 'hypercall' } as const;
/** Imports the host may unwind from (binaryen `asyncify-imports` syntax; `*` is a wildcard). */
export const ASYNCIFY_IMPORTS = [
  `${HYPERCALL_IMPORT.module}.${HYPERCALL_IMPORT.name}`,
  `${FUEL_IMPORT.module}.${FUEL_IMPORT.name}`,
  'hw.*',
] as const;
/** Exports added by asyncify. The data buffer they take is `{ i32 current, i32 end, data… }`. */
export const ASYNCIFY_EXPORTS = [
  'asyncify_start_unwind',
  'asyncify_stop_unwind',
  'asyncify_start_rewind',
  'asyncify_stop_rewind',
  'asyncify_get_state',
] as const;

/**
 * Wasm features binaryen may read and write: what Node 20 (V8 11.3) runs without flags.
 * Not `Features.All`: binaryen gates some encodings on features (GC type sections, newer
 * opcodes), and the output must load in Node 20. The input passed `WebAssembly.validate`
 * first, so it cannot use anything outside this set anyway.
 */
const FEATURES =
  binaryen.Features.Atomics |
  binaryen.Features.MutableGlobals |
  binaryen.Features.NontrappingFPToInt |
  binaryen.Features.SIMD128 |
  binaryen.Features.BulkMemory |
  binaryen.Features.BulkMemoryOpt |
  binaryen.Features.SignExt |
  binaryen.Features.ExceptionHandling |
  binaryen.Features.TailCall |
  binaryen.Features.ReferenceTypes |
  binaryen.Features.Multivalue;

/**
 * Instruments a guest image: fuel counter, then asyncify (see the module comment).
 *
 * @param bytes - a valid Wasm module (normally one that passed `inspectGuest`)
 * @returns the instrumented module; it exports `__pv_fuel` and the asyncify functions and
 *   imports `pvisor.fuel` in addition to the original imports
 * @throws {@link GuestImageError} when the input is not a valid module, already uses the names
 *   the instrumentation adds, or contains something binaryen cannot rewrite
 */
export function instrument(bytes: Uint8Array): Uint8Array {
  // binaryen reports malformed input with non-Error throws from C++; never hand it anything
  // V8 would not accept.
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
    let why = 'invalid module';
    try {
      new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    throw new GuestImageError('(instrument input)', [`is not a valid WebAssembly module: ${why}`]);
  }

  const savedDebug = binaryen.getDebugInfo();
  const savedOpt = binaryen.getOptimizeLevel();
  const savedShrink = binaryen.getShrinkLevel();
  const savedArg = binaryen.getPassArgument('asyncify-imports');
  let mod: binaryen.Module | undefined;
  try {
    // Debug info on: keep the name section on read and write it on emit.
    binaryen.setDebugInfo(true);
    // Level 2 lets asyncify clean up the code it generates (locals, flow); guest code it does
    // not touch is left alone. Level 0 gave ~40% bigger code and ~1.5x slower import calls.
    binaryen.setOptimizeLevel(2);
    binaryen.setShrinkLevel(0);
    try {
      // readBinary takes the features as a second argument at runtime (its typings lag).
      mod = (binaryen.readBinary as (data: Uint8Array, features: number) => binaryen.Module)(bytes, FEATURES);
    } catch (e) {
      throw new GuestImageError('(instrument input)', [`binaryen cannot read the module: ${describeThrown(e)}`]);
    }
    mod.setFeatures(FEATURES);
    checkReservedNames(mod);
    const fuel = addFuel(mod);
    passFuelToHypercall(mod, fuel);
    binaryen.setPassArgument('asyncify-imports', ASYNCIFY_IMPORTS.join(','));
    mod.runPasses(['asyncify']);
    const out = mod.emitBinary();
    if (!WebAssembly.validate(out as Uint8Array<ArrayBuffer>)) {
      // A bug here, not in the guest: say so plainly.
      throw new Error('pvisor instrument: binaryen produced an invalid module (please report with the guest image)');
    }
    return out;
  } finally {
    mod?.dispose();
    binaryen.setPassArgument('asyncify-imports', savedArg);
    binaryen.setDebugInfo(savedDebug);
    binaryen.setOptimizeLevel(savedOpt);
    binaryen.setShrinkLevel(savedShrink);
  }
}

/** Rejects inputs that already use the names the instrumentation adds (e.g. instrumented twice). */
function checkReservedNames(mod: binaryen.Module): void {
  const problems: string[] = [];
  for (let i = 0; i < mod.getNumExports(); i++) {
    const name = binaryen.getExportInfo(mod.getExportByIndex(i)).name;
    if (name === FUEL_EXPORT || /^asyncify_/.test(name)) {
      problems.push(`exports ${name}, a name reserved for the instrumentation (is it already instrumented?)`);
    }
  }
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const f = binaryen.getFunctionInfo(mod.getFunctionByIndex(i));
    if (f.module === FUEL_IMPORT.module) {
      problems.push(`imports ${f.module}.${f.base ?? ''}; module "${FUEL_IMPORT.module}" is reserved for the instrumentation`);
    }
  }
  if (problems.length > 0) throw new GuestImageError('(instrument input)', problems);
}

/** A name not yet used by any function or global of the module. */
function freshName(mod: binaryen.Module, base: string): string {
  const used = (n: string) => mod.getFunction(n) !== 0 || mod.getGlobal(n) !== 0;
  let name = base;
  for (let i = 1; used(name); i++) name = `${base}_${i}`;
  return name;
}

/**
 * Adds the fuel global, export and import, and the checks in every defined function; makes
 * the start function's atomic waits non-blocking (see the module comment).
 */
function addFuel(mod: binaryen.Module): string {
  const { i32, none, auto } = binaryen;
  const fuel = freshName(mod, '__pv_fuel');
  const fuelFn = freshName(mod, '__pv_fuel_exhausted');
  // Collect functions before adding the import so that the new import is not visited.
  const funcs: binaryen.FunctionRef[] = [];
  for (let i = 0; i < mod.getNumFunctions(); i++) funcs.push(mod.getFunctionByIndex(i));
  const start = mod.getStart();

  mod.addGlobal(fuel, i32, true, mod.i32.const(FUEL_INITIAL));
  mod.addGlobalExport(fuel, FUEL_EXPORT);
  mod.addFunctionImport(fuelFn, FUEL_IMPORT.module, FUEL_IMPORT.name, none, none);

  // fuel = fuel - 1; if (fuel < 0) pvisor.fuel();  — fresh nodes per site (IR trees are not shared)
  const check = (): binaryen.ExpressionRef[] => [
    mod.global.set(fuel, mod.i32.sub(mod.global.get(fuel, i32), mod.i32.const(1))),
    mod.if(mod.i32.lt_s(mod.global.get(fuel, i32), mod.i32.const(0)), mod.call(fuelFn, [], none)),
  ];
  const prepend = (body: binaryen.ExpressionRef): binaryen.ExpressionRef =>
    mod.block(null, [...check(), body], auto);

  const loops: number[] = [];
  const waits: number[] = [];
  const grows: number[] = [];
  let growFn: string | undefined;
  for (const f of funcs) {
    const info = binaryen.getFunctionInfo(f);
    if (info.module !== null && info.module !== '') continue; // an import: no body
    loops.length = 0;
    waits.length = 0;
    grows.length = 0;
    walk(info.body, (e, id) => {
      if (id === binaryen.LoopId) loops.push(e);
      else if (id === binaryen.AtomicWaitId) waits.push(e);
      else if (id === binaryen.MemoryGrowId) grows.push(e);
    });
    if (grows.length > 0 && growFn === undefined) {
      growFn = freshName(mod, '__pv_memory_grow');
      mod.addFunctionImport(growFn, MEMORY_GROW_IMPORT.module, MEMORY_GROW_IMPORT.name, i32, i32);
    }
    for (const g of grows) X.MemoryGrow.setDelta(g, mod.call(growFn!, [X.MemoryGrow.getDelta(g)], i32));
    // i64.const takes one bigint at runtime in this binaryen (its typings still say (low, high)).
    for (const w of waits) X.AtomicWait.setTimeout(w, (mod.i64.const as unknown as (v: bigint) => number)(0n));
    for (const loop of loops) X.Loop.setBody(loop, prepend(X.Loop.getBody(loop)));
    X.Function.setBody(f, prepend(info.body));
  }
  return fuel;
}

/**
 * Replaces the `pv.hypercall` import with `pvisor.hypercall(nr, a0..a4, fuel)`: every direct
 * call is retargeted with `global.get __pv_fuel` appended as a seventh operand (no extra call
 * layer on the hot path), and a function of the old internal name and type forwards the same
 * way for the rare indirect uses (a table entry, `ref.func`). Added after the fuel pass: the
 * forwarder has no check of its own.
 */
function passFuelToHypercall(mod: binaryen.Module, fuel: string): void {
  const { i32 } = binaryen;
  let name: string | undefined;
  const defined: binaryen.FunctionRef[] = [];
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const ref = mod.getFunctionByIndex(i);
    const f = binaryen.getFunctionInfo(ref);
    if (f.module === 'pv' && f.base === 'hypercall') name = f.name;
    else if (f.module === null || f.module === '') defined.push(ref);
  }
  if (name === undefined) return; // not a PV guest
  const target = freshName(mod, '__pv_hypercall_fuel');
  mod.addFunctionImport(target, HYPERCALL_IMPORT.module, HYPERCALL_IMPORT.name, binaryen.createType([i32, i32, i32, i32, i32, i32, i32]), i32);
  const calls: number[] = [];
  for (const f of defined) {
    walk(binaryen.getFunctionInfo(f).body, (e, id) => {
      if (id === binaryen.CallId && (binaryen.getExpressionInfo(e) as binaryen.CallInfo).target === name) calls.push(e);
    });
  }
  for (const c of calls) {
    X.Call.setTarget(c, target);
    X.Call.appendOperand(c, mod.global.get(fuel, i32));
  }
  mod.removeFunction(name);
  const args = [0, 1, 2, 3, 4, 5].map((k) => mod.local.get(k, i32));
  mod.addFunction(name, binaryen.createType([i32, i32, i32, i32, i32, i32]), i32, [], mod.call(target, [...args, mod.global.get(fuel, i32)], i32));
}

// ---------------------------------------------------------------------------------------------
// Expression walking. binaryen.js has no generic "children" accessor, so the child getters of
// each expression class are listed here. Classes without JS accessors (table.fill/copy/init,
// newer proposals) are checked through their text: if one contains a loop we refuse the module
// rather than leave a loop without a fuel check.

/** binaryen.js's per-class static accessors (present at runtime, not in its typings). */
type StaticClass = Record<string, (expr: number, index?: number, value?: number) => number>;
const X = binaryen as unknown as Record<string, StaticClass> & {
  Loop: { getBody(e: number): number; setBody(e: number, body: number): void };
  AtomicWait: { setTimeout(e: number, timeout: number): void };
  MemoryGrow: { getDelta(e: number): number; setDelta(e: number, delta: number): void };
  Function: { setBody(f: binaryen.FunctionRef, body: number): void };
  Call: { setTarget(e: number, target: string): void; appendOperand(e: number, operand: number): number };
};

/** Child accessors: a getter name, or [count getter, indexed getter] for a list. */
type ChildSpec = (string | [string, string])[];
const CHILDREN: [string, ChildSpec][] = [
  ['Block', [['getNumChildren', 'getChildAt']]],
  ['If', ['getCondition', 'getIfTrue', 'getIfFalse']],
  ['Loop', ['getBody']],
  ['Break', ['getCondition', 'getValue']],
  ['Switch', ['getCondition', 'getValue']],
  ['Call', [['getNumOperands', 'getOperandAt']]],
  ['CallIndirect', ['getTarget', ['getNumOperands', 'getOperandAt']]],
  ['LocalSet', ['getValue']],
  ['GlobalSet', ['getValue']],
  ['Load', ['getPtr']],
  ['Store', ['getPtr', 'getValue']],
  ['Unary', ['getValue']],
  ['Binary', ['getLeft', 'getRight']],
  ['Select', ['getIfTrue', 'getIfFalse', 'getCondition']],
  ['Drop', ['getValue']],
  ['Return', ['getValue']],
  ['MemoryGrow', ['getDelta']],
  ['AtomicRMW', ['getPtr', 'getValue']],
  ['AtomicCmpxchg', ['getPtr', 'getExpected', 'getReplacement']],
  ['AtomicWait', ['getPtr', 'getExpected', 'getTimeout']],
  ['AtomicNotify', ['getPtr', 'getNotifyCount']],
  ['SIMDExtract', ['getVec']],
  ['SIMDReplace', ['getVec', 'getValue']],
  ['SIMDShuffle', ['getLeft', 'getRight']],
  ['SIMDTernary', ['getA', 'getB', 'getC']],
  ['SIMDShift', ['getVec', 'getShift']],
  ['SIMDLoad', ['getPtr']],
  ['SIMDLoadStoreLane', ['getPtr', 'getVec']],
  ['MemoryInit', ['getDest', 'getOffset', 'getSize']],
  ['MemoryCopy', ['getDest', 'getSource', 'getSize']],
  ['MemoryFill', ['getDest', 'getValue', 'getSize']],
  ['RefIsNull', ['getValue']],
  ['RefEq', ['getLeft', 'getRight']],
  ['TableGet', ['getIndex']],
  ['TableSet', ['getIndex', 'getValue']],
  ['TableGrow', ['getValue', 'getDelta']],
  ['Try', ['getBody', ['getNumCatchBodies', 'getCatchBodyAt']]],
  ['Throw', [['getNumOperands', 'getOperandAt']]],
  ['TupleMake', [['getNumOperands', 'getOperandAt']]],
  ['TupleExtract', ['getTuple']],
  ['CallRef', [['getNumOperands', 'getOperandAt'], 'getTarget']],
  ['RefAs', ['getValue']],
];
/** Expression classes that never have children. */
const LEAVES = [
  'Nop', 'LocalGet', 'GlobalGet', 'Const', 'MemorySize', 'Unreachable', 'AtomicFence', 'DataDrop',
  'RefNull', 'RefFunc', 'TableSize', 'Rethrow', 'Pop', 'ElemDrop', 'Pause',
];

/** Expression id → function pushing its non-null children. Built once. */
const childFns = new Map<number, (e: number, out: number[]) => void>();
const leafIds = new Set<number>();
for (const [cls, spec] of CHILDREN) {
  const id = exprId(cls);
  const c = X[cls];
  if (id === undefined || !c) continue;
  const getters = spec.map((s) => (typeof s === 'string' ? c[s] : [c[s[0]], c[s[1]]] as const));
  if (getters.some((g) => (Array.isArray(g) ? !g[0] || !g[1] : !g))) continue; // falls back to text
  childFns.set(id, (e, out) => {
    for (const g of getters) {
      if (Array.isArray(g)) {
        const n = g[0]!(e);
        for (let i = 0; i < n; i++) {
          const k = g[1]!(e, i);
          if (k) out.push(k);
        }
      } else {
        const k = (g as (e: number) => number)(e);
        if (k) out.push(k);
      }
    }
  });
}
for (const cls of LEAVES) {
  const id = exprId(cls);
  if (id !== undefined) leafIds.add(id);
}

/** The numeric id of an expression class (`binaryen.LoopId`, or the C API getter if not exported). */
function exprId(cls: string): number | undefined {
  const b = binaryen as unknown as Record<string, unknown>;
  const v = b[`${cls}Id`];
  if (typeof v === 'number') return v;
  const f = b[`_Binaryen${cls}Id`];
  return typeof f === 'function' ? (f as () => number)() : undefined;
}

/**
 * Visits every expression of a tree, parents before children, iteratively (bodies can nest
 * thousands deep). Children may be replaced by the visitor only inside the visited node.
 */
function walk(root: binaryen.ExpressionRef, visit: (e: number, id: number) => void): void {
  const stack: number[] = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    const id = binaryen.getExpressionId(e);
    visit(e, id);
    const kids = childFns.get(id);
    if (kids) kids(e, stack);
    else if (!leafIds.has(id) && /\((loop|memory\.atomic\.wait)/.test(binaryen.emitText(e))) {
      throw new GuestImageError('(instrument input)', [
        `contains a loop or wait inside an instruction the instrumenter cannot rewrite (binaryen expression id ${id}); rebuild without that feature`,
      ]);
    }
  }
}

/** Message of whatever binaryen threw (its C++ exceptions are not Error objects). */
function describeThrown(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'object' && e !== null ? 'parse error' : String(e);
}

// ---------------------------------------------------------------------------------------------

/**
 * Guest function names from a Wasm error's stack, innermost first, without host (JS) frames.
 *
 * V8 prints a Wasm frame as `at NAME (wasm://wasm/HASH:wasm-function[N]:0xOFF)`, or without
 * `NAME (…)` when the function has no name; unnamed frames come back as `wasm-function[N]`.
 * The stack holds at most `Error.stackTraceLimit` frames (10 by default) at the time of the
 * trap, so raise that limit around guest entry for deep backtraces.
 *
 * @param err - anything thrown from a guest call (RuntimeError, RangeError on stack overflow, …)
 * @returns guest frames, innermost first; `[]` when there is no stack or no Wasm frame
 */
export function parseWasmBacktrace(err: unknown): string[] {
  let stack: unknown;
  try {
    stack = typeof err === 'object' && err !== null ? (err as { stack?: unknown }).stack : undefined;
  } catch {
    return []; // a hostile getter must not turn a guest crash into a host crash
  }
  if (typeof stack !== 'string') return [];
  const frames: string[] = [];
  for (const line of stack.split('\n')) {
    const m = WASM_FRAME.exec(line);
    if (m) frames.push(m[1] ?? `wasm-function[${m[2]}]`);
  }
  return frames;
}

/** One V8 Wasm stack frame; group 1 is the name (may contain spaces or parentheses). */
const WASM_FRAME = /^\s*at (?:(.*) \()?wasm:\/\/wasm\/[^\s:]*:wasm-function\[(\d+)\]:0x[0-9a-fA-F]+\)?\s*$/;
