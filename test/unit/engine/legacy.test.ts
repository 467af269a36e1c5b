/**
 * Full virtualization through the engine (spec/abi.json `legacyPlatform`, `hw` traps): a module
 * that imports nothing from `pv` boots on the emulated PC — boot_info instead of start_info, the
 * UART as its console, the debug-exit port, the PIT ticking in virtual time, interrupts injected
 * through `hw_interrupt` while the flag at `hw_if` is set, `halt` sleeping until an interrupt,
 * and string port I/O with a checked buffer. Guests are hand-written WAT.
 */
import { describe, expect, it } from 'vitest';
import { BOOT_INFO_MAGIC, BOOT_INFO_OFF } from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import type { LegacyPlatform } from '../../../src/legacy/platform.ts';
import { wat } from '../../support/wat.ts';

const MEM = '(import "env" "memory" (memory 2 256 shared))';
const IO = `
  (import "hw" "in8" (func $in8 (param i32) (result i32)))
  (import "hw" "out8" (func $out8 (param i32 i32)))
  (import "hw" "halt" (func $halt))`;

async function run(text: string, opts: { cmdline?: string; maxTimeNs?: number } = {}) {
  let out = '';
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (_d, t) => (out += t), log: (l) => log.push(l), ...(opts.maxTimeNs !== undefined ? { maxTimeNs: opts.maxTimeNs } : {}) });
  const d = await sys.addDomain({ name: 'fv', image: wat(text), memBytes: 1 << 20, vcpus: 1, cmdline: opts.cmdline ?? '' });
  const report = await sys.run();
  return { out, log, report, d, pc: d.legacy as LegacyPlatform, sys };
}

/** `(call $puts (i32.const addr) (i32.const len))` writes bytes of memory to COM1's THR. */
const PUTS = `
  (func $puts (param $p i32) (param $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (call $out8 (i32.const 0x3f8) (i32.load8_u (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))`;

describe('the legacy PC of an unmodified guest', () => {
  it('boots with boot_info (magic, memory size, command line) and prints through the UART', async () => {
    const { out, report, d } = await run(
      `(module ${MEM} ${IO} ${PUTS}
        (func (export "_start") (param $bi i32)
          ;; Check the magic, then echo the command line.
          (if (i32.ne (i32.load (local.get $bi)) (i32.const ${BOOT_INFO_MAGIC})) (then unreachable))
          (call $puts (i32.load offset=${BOOT_INFO_OFF.cmdline} (local.get $bi)) (i32.load offset=${BOOT_INFO_OFF.cmdline_len} (local.get $bi)))
          (call $out8 (i32.const 0x3f8) (i32.const 10))))`,
      { cmdline: 'hello from an unmodified guest' },
    );
    expect(out).toBe('hello from an unmodified guest\n');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(d.mem.u32((d.layout.startInfo + BOOT_INFO_OFF.mem_size) as never)).toBe(1 << 20);
  });

  it('powers off with the code written to the debug-exit port (0xF4); nothing after it runs', async () => {
    const { out, report } = await run(`(module ${MEM} ${IO}
      (func (export "_start") (param i32)
        (call $out8 (i32.const 0xf4) (i32.const 3))
        (call $out8 (i32.const 0x3f8) (i32.const 65))))`);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 3 });
    expect(out).toBe('');
  });

  it('reads all ones from a port no device decodes', async () => {
    const { out } = await run(`(module ${MEM} ${IO}
      (import "hw" "in16" (func $in16 (param i32) (result i32)))
      (import "hw" "in32" (func $in32 (param i32) (result i32)))
      (func (export "_start") (param i32)
        (if (i32.ne (call $in8 (i32.const 0x1234)) (i32.const 0xff)) (then unreachable))
        (if (i32.ne (call $in16 (i32.const 0x1234)) (i32.const 0xffff)) (then unreachable))
        (if (i32.ne (call $in32 (i32.const 0x1234)) (i32.const -1)) (then unreachable))
        (call $out8 (i32.const 0x3f8) (i32.const 0x4f))))`);
    expect(out).toBe('O');
  });

  // The classic PC timer set-up: remap the PIC to 0x20, unmask IRQ 0, program PIT counter 0 in
  // mode 2 at 100 Hz (divisor 11932), then `sti; hlt` until five ticks were counted by the
  // interrupt handler, which sends a non-specific EOI.
  const TIMER = `(module ${MEM} ${IO} ${PUTS}
    (global $if i32 (i32.const 0x100))
    (export "hw_if" (global $if))
    (data (i32.const 0x200) "tick")
    (func (export "hw_interrupt") (param $vec i32)
      (if (i32.ne (local.get $vec) (i32.const 0x20)) (then unreachable))
      ;; interrupts are off inside the handler (the host cleared the flag)
      (if (i32.ne (i32.load (i32.const 0x100)) (i32.const 0)) (then unreachable))
      (i32.store (i32.const 0x104) (i32.add (i32.load (i32.const 0x104)) (i32.const 1)))
      (call $out8 (i32.const 0x20) (i32.const 0x20)))
    (func (export "_start") (param i32)
      ;; ICW1 (edge, cascade, ICW4 needed), ICW2 vector base, ICW3 wiring, ICW4 8086 mode.
      (call $out8 (i32.const 0x20) (i32.const 0x11)) (call $out8 (i32.const 0x21) (i32.const 0x20))
      (call $out8 (i32.const 0x21) (i32.const 0x04)) (call $out8 (i32.const 0x21) (i32.const 0x01))
      (call $out8 (i32.const 0xa0) (i32.const 0x11)) (call $out8 (i32.const 0xa1) (i32.const 0x28))
      (call $out8 (i32.const 0xa1) (i32.const 0x02)) (call $out8 (i32.const 0xa1) (i32.const 0x01))
      ;; OCW1: only IRQ 0 unmasked.
      (call $out8 (i32.const 0x21) (i32.const 0xfe)) (call $out8 (i32.const 0xa1) (i32.const 0xff))
      ;; PIT: counter 0, LSB then MSB, mode 2, binary; divisor 11932 = 0x2E9C.
      (call $out8 (i32.const 0x43) (i32.const 0x34))
      (call $out8 (i32.const 0x40) (i32.const 0x9c)) (call $out8 (i32.const 0x40) (i32.const 0x2e))
      (block $done (loop $l
        (br_if $done (i32.ge_u (i32.load (i32.const 0x104)) (i32.const 5)))
        (i32.store (i32.const 0x100) (i32.const 1)) ;; sti
        (call $halt)
        (br $l)))
      (i32.store (i32.const 0x100) (i32.const 0)) ;; cli
      (call $puts (i32.const 0x200) (i32.const 4))))`;

  it('injects PIT interrupts through hw_interrupt while the flag is set; halt sleeps in virtual time', async () => {
    const { out, report, pc } = await run(TIMER);
    expect(out).toBe('tick');
    expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
    expect(pc.exits.injections).toBe(5);
    expect(pc.exits.halt).toBe(5);
    // Five periods of 11932 input clocks at 1.193182 MHz: the fifth edge at ~50.0 ms.
    expect(report.domains[0]!.endedAtNs).toBeGreaterThan(50_000_000);
    expect(report.domains[0]!.endedAtNs).toBeLessThan(50_100_000);
    expect(pc.pic.stats.spurious).toBe(0);
  });

  it('runs the same way twice (virtual time, exits)', async () => {
    const a = await run(TIMER);
    const b = await run(TIMER);
    expect([b.report.domains[0]!.endedAtNs, b.pc.exits.halt, b.pc.ports.mappings.map((m) => m.stats)]).toEqual([
      a.report.domains[0]!.endedAtNs,
      a.pc.exits.halt,
      a.pc.ports.mappings.map((m) => m.stats),
    ]);
  });

  it('a halt with nothing that could interrupt leaves the domain idle, reported as running', async () => {
    const { report } = await run(`(module ${MEM} ${IO} (func (export "_start") (param i32) (call $halt)))`);
    expect(report.domains[0]!.outcome).toEqual({ kind: 'running' });
  });

  it('string port I/O moves count items in one exit, and nothing when the buffer is outside memory', async () => {
    const { out, pc } = await run(`(module ${MEM} ${IO}
      (import "hw" "outs16" (func $outs16 (param i32 i32 i32) (result i32)))
      (data (i32.const 0x300) "a\\00b\\00c\\00")
      (func (export "_start") (param i32)
        ;; Three 16-bit items to COM1 (the UART takes the low byte of each piece the bus splits).
        (if (i32.ne (call $outs16 (i32.const 0x3f8) (i32.const 0x300) (i32.const 3)) (i32.const 3)) (then unreachable))
        ;; A buffer running past the end of memory: 0 items, nothing written.
        (if (i32.ne (call $outs16 (i32.const 0x3f8) (i32.const 0xfffff) (i32.const 2)) (i32.const 0)) (then unreachable))
        (if (i32.ne (call $outs16 (i32.const 0x3f8) (i32.const 0) (i32.const 0x80000001)) (i32.const 0)) (then unreachable))))`);
    // The UART decodes bytes: each 16-bit item is split into two byte writes at 0x3F8 and 0x3F9
    // (IER), so only the low bytes reach the transmitter.
    expect(out).toBe('abc');
    const uart = pc.ports.mappings.find((m) => m.name === 'uart')!;
    expect(uart.stats.strings).toBe(1);
  });

  it('a paravirtual guest that calls a port trap is crashed (port I/O is only emulated for unmodified guests)', async () => {
    const { report } = await run(`(module ${MEM}
      (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
      (import "hw" "in8" (func $in8 (param i32) (result i32)))
      (func (export "_start") (param i32) (drop (call $in8 (i32.const 0x3f8)))))`);
    expect(report.domains[0]!.outcome).toMatchObject({ kind: 'crashed', reason: expect.stringContaining('hw.in8: legacy hardware is not emulated for this guest') });
  });

  it('refuses more than one vCPU for an unmodified guest, naming the fix', async () => {
    const sys = new System({ seed: 1, console: () => {}, log: () => {} });
    await expect(sys.addDomain({ name: 'fv', image: wat(`(module ${MEM} (func (export "_start") (param i32)))`), memBytes: 1 << 20, vcpus: 2, cmdline: '' })).rejects.toThrow(
      'vcpus: fv is an unmodified guest (it imports no pv.hypercall); the emulated PC it runs on has one CPU, use --vcpus 1',
    );
  });
});
