import { describe, expect, it } from 'vitest';
import { GuestImageError } from '../../../src/engine/errors.ts';
import { inspectGuest } from '../../../src/engine/loader.ts';
import { wat } from '../../support/wat.ts';

const HC = '(import "pv" "hypercall" (func (param i32 i32 i32 i32 i32 i32) (result i32)))';
const MEM = '(import "env" "memory" (memory 2 256 shared))';
const START = '(func (export "_start") (param i32))';

/** The problems inspectGuest reports for an image (fails the test if it accepts it). */
function problemsOf(bytes: Uint8Array, name = 'test.wasm'): string[] {
  try {
    inspectGuest(bytes, name);
  } catch (e) {
    expect(e).toBeInstanceOf(GuestImageError);
    const err = e as GuestImageError;
    expect(err.image).toBe(name);
    for (const p of err.problems) expect(err.message).toContain(p);
    return err.problems;
  }
  throw new Error('inspectGuest accepted the image');
}

/** Appends a custom section (to fake an object file's "linking" section). */
function withCustomSection(bytes: Uint8Array, name: string): Uint8Array {
  const n = Buffer.from(name);
  return Buffer.concat([bytes, Buffer.from([0, n.length + 1, n.length]), n]);
}

describe('inspectGuest: accepted images', () => {
  it('describes a PV guest with all optional exports', () => {
    const info = inspectGuest(
      wat(`(module ${MEM} ${HC}
        (import "hw" "mmio_read32" (func (param i32) (result i32)))
        (global $sp (export "__stack_pointer") (mut i32) (i32.const 65536))
        ${START}
        (func (export "pv_upcall"))
        (func (export "pv_vcpu_entry") (param i32 i32)))`),
      'pv.wasm',
    );
    expect(info).toEqual({
      name: 'pv.wasm',
      kind: 'pv',
      memory: { minPages: 2, maxPages: 256, shared: true },
      hasUpcall: true,
      hasVcpuEntry: true,
      hasInterruptEntry: false,
      exportsIfFlag: false,
      exportsStackPointer: true,
      imports: ['env.memory', 'pv.hypercall', 'hw.mmio_read32'],
    });
  });

  it('calls a guest that imports only hw.* functions unmodified', () => {
    const info = inspectGuest(
      wat(`(module ${MEM}
        (import "hw" "in8" (func (param i32) (result i32)))
        (import "hw" "out8" (func (param i32 i32)))
        (import "hw" "anything_new" (func (param i64 f64)))
        ${START})`),
      'fv.wasm',
    );
    expect(info.kind).toBe('unmodified');
    expect(info.hasUpcall).toBe(false);
    expect(info.hasVcpuEntry).toBe(false);
    expect(info.exportsStackPointer).toBe(false);
    expect(info.hasInterruptEntry).toBe(false);
    expect(info.exportsIfFlag).toBe(false);
  });

  it('finds the legacy platform entry points: hw_interrupt(vector) and the hw_if flag address', () => {
    const info = inspectGuest(
      wat(`(module ${MEM}
        (import "hw" "in8" (func (param i32) (result i32)))
        (global (export "hw_if") i32 (i32.const 1024))
        ${START}
        (func (export "hw_interrupt") (param i32)))`),
      'fv.wasm',
    );
    expect(info.kind).toBe('unmodified');
    expect(info.hasInterruptEntry).toBe(true);
    expect(info.exportsIfFlag).toBe(true);
  });
});

describe('inspectGuest: problems and their fixes', () => {
  it('not a Wasm module: bad magic, too short, truncated', () => {
    expect(problemsOf(new TextEncoder().encode('int main(void) { return 0; }'))[0]).toMatch(/bad magic/);
    expect(problemsOf(new Uint8Array([0, 0x61]))[0]).toMatch(/only 2 bytes/);
    expect(problemsOf(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))[0]).toMatch(/version 2/);
    const good = wat(`(module ${MEM} ${HC} ${START})`);
    const cut = problemsOf(good.subarray(0, good.length - 3));
    expect(cut.some((p) => /does not compile/.test(p))).toBe(true);
    expect(cut.some((p) => /cannot be read: .*truncated/.test(p))).toBe(true);
  });

  it('a relocatable object file', () => {
    const obj = withCustomSection(wat(`(module ${MEM} ${HC} ${START})`), 'linking');
    expect(problemsOf(obj)).toEqual([expect.stringMatching(/relocatable object file.*link it with wasm-ld/)]);
  });

  it('memory: non-shared, no maximum, not imported, absent', () => {
    expect(problemsOf(wat(`(module (import "env" "memory" (memory 2 256)) ${HC} ${START})`))).toEqual([
      expect.stringMatching(/imports env\.memory as non-shared; link with --shared-memory/),
    ]);
    expect(problemsOf(wat(`(module (import "env" "memory" (memory 2)) ${HC} ${START})`))).toEqual([
      expect.stringMatching(/non-shared; link with --shared-memory/),
      expect.stringMatching(/without a maximum size; link with --max-memory=N/),
    ]);
    expect(problemsOf(wat(`(module ${HC} (memory 2 256 shared) ${START})`))).toEqual([
      expect.stringMatching(/defines its own memory.*link with --import-memory/),
    ]);
    expect(problemsOf(wat(`(module ${HC} ${START})`))).toEqual([
      expect.stringMatching(/has no memory; link with --import-memory/),
    ]);
  });

  it('imports: wrong hypercall signature (named), unknown pv.*, hw.* non-function, others', () => {
    const problems = problemsOf(
      wat(`(module ${MEM}
        (import "pv" "hypercall" (func (param i32 i32) (result i32)))
        (import "pv" "console_write" (func (param i32 i32) (result i32)))
        (import "hw" "ports" (global i32))
        (import "env" "printf" (func (param i32 i32) (result i32)))
        (import "env" "__indirect_function_table" (table 1 funcref))
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (import "pvisor" "fuel" (func))
        ${START})`),
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /imports pv\.hypercall with signature \(i32, i32\) -> i32; it must be \(i32, i32, i32, i32, i32, i32\) -> i32/,
      ),
      expect.stringMatching(/imports pv\.console_write, which does not exist; the only pv import is pv\.hypercall/),
      expect.stringMatching(/imports hw\.ports as a global; hw\.\* imports must be functions/),
      expect.stringMatching(/imports env\.printf, an undefined function.*define it in the guest/),
      expect.stringMatching(/imports env\.__indirect_function_table \(table\); link the guest as a plain executable/),
      expect.stringMatching(/imports wasi_snapshot_preview1\.fd_write \(func\), which the host does not provide/),
      expect.stringMatching(/imports pvisor\.fuel; the module name "pvisor" is reserved/),
    ]);
  });

  it('exports: missing _start', () => {
    expect(problemsOf(wat(`(module ${MEM} ${HC})`))).toEqual([
      expect.stringMatching(/does not export _start; link with --export=_start/),
    ]);
  });

  it('exports: wrong signatures and kinds', () => {
    const problems = problemsOf(
      wat(`(module ${MEM} ${HC}
        (func (export "_start"))
        (func (export "pv_upcall") (param i32))
        (func (export "pv_vcpu_entry") (param i32) (result i32) (i32.const 0))
        (global (export "__stack_pointer") i32 (i32.const 0)))`),
    );
    expect(problems).toEqual([
      expect.stringMatching(/exports _start with signature \(\) -> void; it must be \(i32\) -> void/),
      expect.stringMatching(/exports pv_upcall with signature \(i32\) -> void; it must be \(\) -> void/),
      expect.stringMatching(/exports pv_vcpu_entry with signature \(i32\) -> i32; it must be \(i32, i32\) -> void/),
      expect.stringMatching(/exports __stack_pointer as an immutable i32 global; it must be a mutable i32/),
    ]);
    expect(
      problemsOf(
        wat(`(module ${MEM} ${HC} (global (export "_start") i32 (i32.const 0))
          (global (export "__stack_pointer") (mut i64) (i64.const 0)))`),
      ),
    ).toEqual([
      expect.stringMatching(/exports _start as a global; it must be a function \(i32\) -> void/),
      expect.stringMatching(/exports __stack_pointer as a mutable i64 global; it must be a mutable i32/),
    ]);
    expect(
      problemsOf(
        wat(`(module ${MEM} ${START}
          (func (export "hw_interrupt"))
          (global (export "hw_if") i64 (i64.const 0)))`),
      ),
    ).toEqual([
      expect.stringMatching(/exports hw_interrupt with signature \(\) -> void; it must be \(i32\) -> void/),
      expect.stringMatching(/exports hw_if as a i64 global; it must be the address of the 32-bit interrupt flag/),
    ]);
  });

  it('exports: names reserved for the instrumentation', () => {
    expect(
      problemsOf(
        wat(`(module ${MEM} ${HC} ${START}
          (global (export "__pv_fuel") (mut i32) (i32.const 0))
          (func (export "asyncify_get_state") (result i32) (i32.const 0)))`),
      ),
    ).toEqual([
      expect.stringMatching(/exports __pv_fuel, a name reserved.*already instrumented/),
      expect.stringMatching(/exports asyncify_get_state, a name reserved/),
    ]);
  });

  it('lists every problem of a badly linked image at once', () => {
    const problems = problemsOf(
      wat(`(module (import "env" "memory" (memory 1))
        (import "pv" "hypercall" (func (param i32) (result i32)))
        (import "env" "memcpy" (func (param i32 i32 i32) (result i32)))
        (func (export "_start"))
        (func (export "pv_upcall") (result i32) (i32.const 0)))`),
    );
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/--shared-memory[^]*--max-memory[^]*pv\.hypercall[^]*env\.memcpy[^]*_start[^]*pv_upcall/);
  });
});
