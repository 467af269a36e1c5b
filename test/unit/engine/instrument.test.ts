import { describe, expect, it } from 'vitest';
import { GuestImageError } from '../../../src/engine/errors.ts';
import {
  ASYNCIFY_EXPORTS,
  FUEL_EXPORT,
  FUEL_INITIAL,
  instrument,
  parseWasmBacktrace,
} from '../../../src/engine/instrument.ts';
import { wat } from '../../support/wat.ts';

/** Asyncify states (binaryen). */
const NORMAL = 0;
const UNWINDING = 1;
const REWINDING = 2;

const HC_IMPORT = '(import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))';
const MEM_IMPORT = '(import "env" "memory" (memory 1 1 shared))';

interface Exports {
  [FUEL_EXPORT]: WebAssembly.Global;
  asyncify_start_unwind(ptr: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(ptr: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
  [name: string]: unknown;
}

/** One instance ("vCPU") of an instrumented module on a shared memory, with host imports. */
function instantiate(
  bytes: Uint8Array,
  memory: WebAssembly.Memory,
  imports: { hypercall?: (...a: number[]) => number; fuel?: () => void } = {},
): Exports {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    env: { memory },
    // The instrumented module reaches the host through pvisor.hypercall (args + the fuel left).
    pvisor: { hypercall: imports.hypercall ?? (() => 0), fuel: imports.fuel ?? (() => {}) },
  });
  return inst.exports as unknown as Exports;
}

/** Places an asyncify data buffer `{ i32 current, i32 end, data… }` in guest memory. */
function initAsyncifyBuffer(memory: WebAssembly.Memory, ptr: number, size: number): void {
  const v = new DataView(memory.buffer);
  v.setInt32(ptr, ptr + 8, true);
  v.setInt32(ptr + 4, ptr + size, true);
}

function sharedMemory(pages = 1): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

const COUNT_GUEST = `(module ${MEM_IMPORT}
  (func $count (export "count") (param $n i32) (result i32) (local $i i32)
    (block $done
      (loop $top
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (local.get $i))
  (func (export "_start") (param i32)))`;

describe('instrument: output shape', () => {
  it('adds __pv_fuel, pvisor.fuel and the asyncify exports, and still loads in Node', () => {
    const out = instrument(wat(COUNT_GUEST));
    const mod = new WebAssembly.Module(out as Uint8Array<ArrayBuffer>);
    const exports = WebAssembly.Module.exports(mod);
    expect(exports).toContainEqual({ name: FUEL_EXPORT, kind: 'global' });
    for (const name of ASYNCIFY_EXPORTS) expect(exports).toContainEqual({ name, kind: 'function' });
    expect(WebAssembly.Module.imports(mod)).toEqual([
      { module: 'env', name: 'memory', kind: 'memory' },
      { module: 'pvisor', name: 'fuel', kind: 'function' },
    ]);
    const ex = instantiate(out, sharedMemory());
    expect(ex[FUEL_EXPORT].value).toBe(FUEL_INITIAL);
  });

  it('is deterministic (same input, same bytes)', () => {
    const src = wat(COUNT_GUEST);
    expect(Buffer.from(instrument(src)).equals(Buffer.from(instrument(src)))).toBe(true);
  });

  it('rejects what is not a valid module, and already instrumented modules', () => {
    expect(() => instrument(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 9]))).toThrow(GuestImageError);
    const once = instrument(wat(COUNT_GUEST));
    try {
      instrument(once);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GuestImageError);
      const problems = (e as GuestImageError).problems.join('\n');
      expect(problems).toContain('__pv_fuel');
      expect(problems).toContain('asyncify_start_unwind');
      expect(problems).toContain('pvisor.fuel');
    }
  });
});

describe('instrument: fuel', () => {
  it('charges one unit per function entry and per loop iteration; the host reads __pv_fuel', () => {
    const ex = instantiate(instrument(wat(COUNT_GUEST)), sharedMemory());
    const count = ex.count as (n: number) => number;
    ex[FUEL_EXPORT].value = 1000;
    expect(count(100)).toBe(100);
    // 1 entry + 101 loop headers (100 iterations and the exit test)
    expect(1000 - ex[FUEL_EXPORT].value).toBe(102);
  });

  it('calls pvisor.fuel each time fuel goes below zero when the budget is small', () => {
    let calls = 0;
    const B = 10;
    const ex: Exports = instantiate(instrument(wat(COUNT_GUEST)), sharedMemory(), {
      fuel: () => {
        calls++;
        expect(ex[FUEL_EXPORT].value).toBe(-1); // called as soon as it goes negative
        ex[FUEL_EXPORT].value += B; // refill and let it go on
      },
    });
    ex[FUEL_EXPORT].value = B;
    expect((ex.count as (n: number) => number)(100)).toBe(100);
    const consumed = B + calls * B - ex[FUEL_EXPORT].value;
    expect(consumed).toBe(102);
    // first call after B+1 units, then one every B units: 1 + floor((102 - 11) / 10)
    expect(calls).toBe(10);
  });

  it('fuel-instruments the start function and makes its atomic waits non-blocking', () => {
    const src = wat(`(module ${MEM_IMPORT}
      (func $init (local $i i32)
        ;; wasm-ld's __wasm_init_memory waits like this while another instance initialises;
        ;; the value is 0 = expected, so without instrumentation this blocks forever.
        (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
        (i32.store (i32.const 4) (local.get $i)))
      (start $init)
      (func (export "_start") (param i32)))`);
    const memory = sharedMemory();
    const ex = instantiate(instrument(src), memory); // would hang without the timeout rewrite
    expect(new Int32Array(memory.buffer)[1]).toBe(10);
    expect(FUEL_INITIAL - ex[FUEL_EXPORT].value).toBe(1 + 10);
  });
});

/** A guest that makes 5 hypercalls from a nested function and stores the sum of the results. */
const HYPERCALL_GUEST = `(module ${MEM_IMPORT} ${HC_IMPORT}
  (func $step (param $i i32) (result i32)
    (call $hc (i32.const 7) (local.get $i) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func $_start (export "_start") (param $si i32) (local $i i32) (local $sum i32)
    (loop $top
      (local.set $sum (i32.add (local.get $sum) (call $step (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $top (i32.lt_u (local.get $i) (i32.const 5))))
    (i32.store (local.get $si) (local.get $sum))
    (i32.store offset=4 (local.get $si) (local.get $i))))`;

describe('instrument: asyncify', () => {
  it('unwinds from pv.hypercall at the 3rd call and rewinds to finish with the right state', () => {
    const memory = sharedMemory();
    const DATA = 0x8000; // the asyncify buffer lives in guest memory, where the host chooses
    const SI = 0x100;
    const seen: number[] = [];
    let pending: number | undefined;
    let blocked = false;
    const ex: Exports = instantiate(instrument(wat(HYPERCALL_GUEST)), memory, {
      hypercall: (nr, a0) => {
        if (ex.asyncify_get_state() === REWINDING) {
          ex.asyncify_stop_rewind();
          const r = pending!;
          pending = undefined;
          return r; // the blocked call's result, delivered at rewind
        }
        expect(nr).toBe(7);
        seen.push(a0!);
        if (seen.length === 3) {
          pending = a0! * 10 + 1;
          blocked = true;
          initAsyncifyBuffer(memory, DATA, 1024);
          ex.asyncify_start_unwind(DATA);
          return 0; // ignored: the guest is unwinding
        }
        return a0! * 10 + 1;
      },
    });
    const start = ex._start as (si: number) => void;
    const mem = new Int32Array(memory.buffer);

    start(SI);
    expect(blocked).toBe(true);
    expect(ex.asyncify_get_state()).toBe(UNWINDING);
    ex.asyncify_stop_unwind();
    expect(ex.asyncify_get_state()).toBe(NORMAL);
    expect(mem[SI / 4]).toBe(0); // the guest has not finished
    const used = new DataView(memory.buffer).getInt32(DATA, true) - (DATA + 8);
    expect(used).toBeGreaterThan(0); // its stack was saved in guest memory

    ex.asyncify_start_rewind(DATA);
    start(SI); // same arguments; asyncify jumps back into the hypercall
    expect(ex.asyncify_get_state()).toBe(NORMAL);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(mem[SI / 4]).toBe(0 + 1 + 11 + 21 + 31 + 41);
    expect(mem[SI / 4 + 1]).toBe(5);
  });

  it('preempts through pvisor.fuel, rewinds, and charges exactly the uninterrupted fuel', () => {
    const src = wat(`(module ${MEM_IMPORT}
      (func $mix (param $x i32) (result i32) (i32.add (i32.mul (local.get $x) (i32.const 31)) (i32.const 7)))
      (func $_start (export "_start") (param $si i32) (local $i i32) (local $h i32)
        (loop $top
          (local.set $h (i32.xor (local.get $h) (call $mix (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $top (i32.lt_u (local.get $i) (i32.const 1000))))
        (i32.store (local.get $si) (local.get $h))))`);
    const out = instrument(src);
    const memory = sharedMemory();
    const mem = new Int32Array(memory.buffer);

    // Reference: one slice with enough fuel.
    const ref = instantiate(out, memory);
    ref[FUEL_EXPORT].value = 1_000_000;
    (ref._start as (si: number) => void)(0x100);
    const expected = mem[0x100 / 4];
    const total = 1_000_000 - ref[FUEL_EXPORT].value;
    expect(total).toBe(1 + 1000 * 2); // _start entry + per iteration: loop header + $mix entry

    // Preempted run on a second instance of the same module and memory.
    const DATA = 0x8000;
    const BUDGET = 150;
    let preemptions = 0;
    const ex: Exports = instantiate(out, memory, {
      fuel: () => {
        if (ex.asyncify_get_state() === REWINDING) {
          ex.asyncify_stop_rewind();
          return;
        }
        preemptions++;
        initAsyncifyBuffer(memory, DATA, 1024);
        ex.asyncify_start_unwind(DATA);
      },
    });
    const start = ex._start as (si: number) => void;
    let consumed = 0;
    ex[FUEL_EXPORT].value = BUDGET;
    start(0x200);
    for (let slices = 1; ex.asyncify_get_state() === UNWINDING; slices++) {
      expect(slices).toBeLessThan(100);
      ex.asyncify_stop_unwind();
      consumed += BUDGET - ex[FUEL_EXPORT].value; // value is -1 at a preemption
      ex[FUEL_EXPORT].value = BUDGET;
      ex.asyncify_start_rewind(DATA);
      start(0x200);
    }
    consumed += BUDGET - ex[FUEL_EXPORT].value;
    expect(mem[0x200 / 4]).toBe(expected);
    expect(consumed).toBe(total); // rewinding does not charge twice
    expect(preemptions).toBe(Math.floor(total / (BUDGET + 1)));
  });

  it('every hw.* import is an unwind point too', () => {
    const memory = sharedMemory();
    const src = wat(`(module ${MEM_IMPORT}
      (import "hw" "in8" (func $in8 (param i32) (result i32)))
      (func $_start (export "_start") (param $si i32)
        (i32.store (local.get $si) (i32.add (call $in8 (i32.const 0x3f8)) (call $in8 (i32.const 0x3fd))))))`);
    let unwound = false;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(instrument(src) as Uint8Array<ArrayBuffer>), {
      env: { memory },
      pvisor: { fuel: () => {} },
      hw: {
        in8: (port: number) => {
          if (ex.asyncify_get_state() === REWINDING) {
            ex.asyncify_stop_rewind();
            return 40;
          }
          if (port === 0x3f8 && !unwound) {
            unwound = true;
            initAsyncifyBuffer(memory, 0x8000, 1024);
            ex.asyncify_start_unwind(0x8000);
            return 0;
          }
          return 2;
        },
      },
    });
    const ex = inst.exports as unknown as Exports;
    (ex._start as (si: number) => void)(0x100);
    expect(ex.asyncify_get_state()).toBe(UNWINDING);
    ex.asyncify_stop_unwind();
    ex.asyncify_start_rewind(0x8000);
    (ex._start as (si: number) => void)(0x100);
    expect(new Int32Array(memory.buffer)[0x100 / 4]).toBe(42);
  });

  it('runs two instances (vCPUs) on one memory with separate fuel, stacks and asyncify state', () => {
    const memory = sharedMemory();
    const out = instrument(wat(HYPERCALL_GUEST));
    const bufs = [0x8000, 0x9000];
    const vcpus: Exports[] = [];
    let blockA = true;
    for (let id = 0; id < 2; id++) {
      const me = id;
      vcpus.push(
        instantiate(out, memory, {
          hypercall: (_nr, a0) => {
            const ex = vcpus[me]!;
            if (ex.asyncify_get_state() === REWINDING) {
              ex.asyncify_stop_rewind();
              return 1000;
            }
            if (me === 0 && blockA && a0 === 1) {
              blockA = false;
              initAsyncifyBuffer(memory, bufs[me]!, 1024);
              ex.asyncify_start_unwind(bufs[me]!);
              return 0;
            }
            return a0!;
          },
        }),
      );
    }
    const [a, b] = vcpus as [Exports, Exports];
    const mem = new Int32Array(memory.buffer);
    (a._start as (si: number) => void)(0x100);
    expect(a.asyncify_get_state()).toBe(UNWINDING);
    a.asyncify_stop_unwind();
    // vCPU 1 runs to completion while vCPU 0 is blocked.
    (b._start as (si: number) => void)(0x200);
    expect(b.asyncify_get_state()).toBe(NORMAL);
    expect(mem[0x200 / 4]).toBe(0 + 1 + 2 + 3 + 4);
    a.asyncify_start_rewind(bufs[0]!);
    (a._start as (si: number) => void)(0x100);
    expect(mem[0x100 / 4]).toBe(0 + 1000 + 2 + 3 + 4);
    expect(a[FUEL_EXPORT]).not.toBe(b[FUEL_EXPORT]);
  });

  it('an unwind that overflows the asyncify buffer traps in asyncify_stop_unwind', () => {
    // asyncify checks the buffer in start_unwind/stop_unwind, not while it saves the stack: an
    // overflow writes past `end` (inside guest memory, bounds-checked by Wasm) and then
    // asyncify_stop_unwind traps. The host must call it inside its guest-trap handling.
    const memory = sharedMemory();
    const DATA = 0x8000;
    const ex: Exports = instantiate(instrument(wat(HYPERCALL_GUEST)), memory, {
      hypercall: () => {
        initAsyncifyBuffer(memory, DATA, 12); // room for 4 bytes of data only
        ex.asyncify_start_unwind(DATA);
        return 0;
      },
    });
    (ex._start as (si: number) => void)(0x100);
    const v = new DataView(memory.buffer);
    expect(v.getInt32(DATA, true)).toBeGreaterThan(v.getInt32(DATA + 4, true));
    expect(() => ex.asyncify_stop_unwind()).toThrow(WebAssembly.RuntimeError);
  });

  it('asyncify_start_unwind with an invalid buffer traps in the guest', () => {
    const memory = sharedMemory();
    const ex: Exports = instantiate(instrument(wat(HYPERCALL_GUEST)), memory, {
      hypercall: () => {
        const v = new DataView(memory.buffer);
        v.setInt32(0x8000, 0x9000, true); // current > end
        v.setInt32(0x8004, 0x8010, true);
        ex.asyncify_start_unwind(0x8000);
        return 0;
      },
    });
    expect(() => (ex._start as (si: number) => void)(0x100)).toThrow(WebAssembly.RuntimeError);
  });
});

describe('instrument: names and backtraces', () => {
  const TRAP_GUEST = `(module ${MEM_IMPORT}
    (func $inner_fault (param $x i32)
      (loop $l (br_if $l (i32.eqz (local.get $x))))
      (unreachable))
    (func $middle (param $x i32) (call $inner_fault (local.get $x)))
    (func $_start (export "_start") (param $si i32) (call $middle (i32.const 1))))`;

  it('keeps guest function names: a trap in instrumented code names them in err.stack', () => {
    const ex = instantiate(instrument(wat(TRAP_GUEST)), sharedMemory());
    let err: unknown;
    try {
      (ex._start as (si: number) => void)(0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WebAssembly.RuntimeError);
    expect((err as Error).stack).toContain('inner_fault');
    expect(parseWasmBacktrace(err)).toEqual(['inner_fault', 'middle', '_start']);
  });

  it('parseWasmBacktrace: unnamed frames, host frames and non-errors', () => {
    const stack = [
      'RuntimeError: unreachable',
      '    at f (wasm://wasm/6ac30dce:wasm-function[0]:0x29)',
      '    at wasm://wasm/6ac30dce:wasm-function[2]:0x32',
      '    at operator() (int) (wasm://wasm/6ac30dce:wasm-function[3]:0x40)',
      '    at hostFn (file:///x/host.ts:7:20)',
      '    at g (wasm://wasm/6ac30dce:wasm-function[1]:0x2d)',
    ].join('\n');
    expect(parseWasmBacktrace({ stack })).toEqual(['f', 'wasm-function[2]', 'operator() (int)', 'g']);
    expect(parseWasmBacktrace(new Error('host only'))).toEqual([]);
    expect(parseWasmBacktrace(undefined)).toEqual([]);
    expect(parseWasmBacktrace('unreachable')).toEqual([]);
    const hostile = {
      get stack(): string {
        throw new Error('no');
      },
    };
    expect(parseWasmBacktrace(hostile)).toEqual([]);
  });
});

describe('pv.hypercall carries the fuel', () => {
  it('replaces the import with pvisor.hypercall(nr, a0..a4, fuel) and passes the fuel left at the call', () => {
    const guest = wat(`(module
      (import "env" "memory" (memory 1 1 shared))
      ${HC_IMPORT}
      (func (export "_start") (param i32)
        (drop (call $hc (i32.const 7) (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4) (i32.const -5)))))`);
    const out = instrument(guest);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(out as Uint8Array<ArrayBuffer>)).map((i) => `${i.module}.${i.name}`);
    expect(imports).not.toContain('pv.hypercall');
    expect(imports).toContain('pvisor.hypercall');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const seen: number[][] = [];
    const ex = instantiate(out, memory, { hypercall: (...a) => (seen.push(a), 0) });
    ex.__pv_fuel.value = 1000;
    (ex._start as (si: number) => void)(0);
    // One function entry (_start) was charged before the call: 999 left.
    expect(seen).toEqual([[7, 1, 2, 3, 4, -5, 999]]);
  });
});
