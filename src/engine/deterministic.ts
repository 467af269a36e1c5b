/**
 * The deterministic engine: every vCPU of every domain on one thread.
 *
 * Each vCPU is one instance of the domain's instrumented module on the domain's shared memory.
 * The engine picks vCPUs from the core's FIFO run queue and runs each for a slice of fuel. A vCPU
 * leaves the CPU only inside an import (a hypercall, or the fuel import when its slice is spent):
 * the engine then unwinds the guest's Wasm stack with asyncify into the vCPU's scratch area and,
 * when the vCPU runs again, calls the same entry export in rewind mode so that the import
 * returns where it left off.
 *
 * MMIO traps (`hw.mmio_read32` / `hw.mmio_write32`) go to the domain's MMIO bus: each is one exit,
 * counted in `domain.mmioExits` and charged like a hypercall, and ends with a VM entry, so an
 * interrupt a device raises during the access is delivered before the trap returns. The other
 * `hw.*` imports (port I/O, halt) belong to full virtualization and crash a PV guest that calls them.
 *
 * Virtual time: fuel consumed × `nsPerFuel`, plus `exitCostNs` per hypercall or MMIO trap; when nothing is
 * runnable, time jumps to the next timer. Nothing depends on the host clock, so the same image,
 * inputs and seed give the same console output, exit counts and timestamps.
 *
 * VM entry (return from any trap, resume after a wait or preemption): the vCPU's time record is
 * refreshed, and if its `upcall_pending` is set and `upcall_mask` clear, the guest's `pv_upcall`
 * runs first with the mask set.
 * @module
 */
import type { Domain, Hypervisor, Vcpu } from '../hv/index.ts';
import { WAIT_BLOCK, WAIT_PREEMPT, growMemory } from '../hv/index.ts';
import type { LegacyMachine } from '../hv/legacy-machine.ts';
import type { AccessSize } from '../legacy/port-bus.ts';
import { ASYNCIFY_AREA } from '../hv/layout.ts';
import { SHUTDOWN_POWEROFF, VCPU_TIME_INFO_OFF } from '../abi/index.ts';
import type { GuestAddr } from '../abi/index.ts';
import type { GuestImageInfo } from './loader.ts';
import { parseWasmBacktrace } from './instrument.ts';

/** Tuning of the deterministic engine. */
export interface EngineOptions {
  /** Virtual ns per time slice before the scheduler may switch vCPUs (default 1 ms). */
  sliceNs?: number;
  /** Virtual ns charged per fuel unit (function entry or loop iteration; default 4). */
  nsPerFuel?: number;
  /** Virtual ns charged per hypercall or MMIO trap exit (default 50). */
  exitCostNs?: number;
  /** Stop when virtual time reaches this (default: run until no domain can make progress). */
  maxTimeNs?: number;
  /** Slices an upcall handler may run before its domain is crashed (default 100). */
  upcallLimitSlices?: number;
}

interface GuestExports {
  _start: (si: number) => void;
  pv_upcall?: () => void;
  pv_vcpu_entry?: (fn: number, arg: number) => void;
  __stack_pointer?: WebAssembly.Global;
  hw_interrupt?: (vector: number) => void;
  hw_if?: WebAssembly.Global;
  __pv_fuel: WebAssembly.Global;
  asyncify_start_unwind: (p: number) => void;
  asyncify_stop_unwind: () => void;
  asyncify_start_rewind: (p: number) => void;
  asyncify_stop_rewind: () => void;
}

/** Per-vCPU engine state (kept in `vcpu.engine`). */
interface VcpuRuntime {
  ex: GuestExports;
  fuel: WebAssembly.Global;
  /** Asyncify scratch area: [ptr] = current, [ptr+4] = end, data after. */
  area: number;
  lastFuel: number;
  rewinding: boolean;
  unwinding: boolean;
  upcallSlices: number;
  /** An unmodified guest that can take interrupts (exports hw_interrupt and hw_if). */
  irq: boolean;
}

/** Thrown from an import to abandon a vCPU's Wasm stack (shutdown, vcpu_down of self). */
class StopVcpu {
  /** Marker so a guest value can never be mistaken for it. */
  readonly stop = true;
}
const STOP = new StopVcpu();

/**
 * A device threw from inside an MMIO access: a host bug, not a guest fault. Wrapping the device's
 * error keeps it on the host-fault path of the engine (logged, domain crashed) even when it is a
 * RangeError, which the engine would otherwise take for a guest stack overflow.
 */
class DeviceFault extends Error {
  /** Creates the fault around the device's error. */
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'DeviceFault';
  }
}

/** A fault of the guest's own that ends its domain (reason recorded, host goes on). */
export class GuestFault extends Error {
  /** Creates the fault. */
  constructor(message: string) {
    super(message);
    this.name = 'GuestFault';
  }
}

/** Why {@link DeterministicEngine.run} returned. */
export type EngineStop = 'idle' | 'time-limit' | 'budget' | 'stopped';

/** Runs domains' vCPUs deterministically on the calling thread. */
export class DeterministicEngine {
  private readonly hv: Hypervisor;
  private readonly modules = new Map<Domain, { module: WebAssembly.Module; info: GuestImageInfo }>();
  private readonly slice: number;
  private readonly nsPerFuel: number;
  private readonly exitCost: number;
  private readonly maxTime: number;
  private readonly upcallLimit: number;
  private stopped = false;

  /** Creates an engine over a hypervisor. */
  constructor(hv: Hypervisor, opts: EngineOptions = {}) {
    this.hv = hv;
    this.nsPerFuel = opts.nsPerFuel ?? 4;
    this.slice = Math.max(1, Math.round((opts.sliceNs ?? 1_000_000) / this.nsPerFuel));
    this.exitCost = opts.exitCostNs ?? 50;
    this.maxTime = opts.maxTimeNs ?? Infinity;
    this.upcallLimit = opts.upcallLimitSlices ?? 100;
  }

  /** Gives a domain its instrumented module; its vCPUs are instantiated when they first run. */
  attach(d: Domain, module: WebAssembly.Module, info: GuestImageInfo): void {
    this.modules.set(d, { module, info });
    d.caps = { upcall: info.hasUpcall, vcpuEntry: info.hasVcpuEntry && info.exportsStackPointer };
  }

  /**
   * Forgets a domain the toolstack destroyed: its module entry and its vCPUs' instances, so
   * nothing here keeps its memory alive. Call it after the domain has stopped.
   */
  detach(d: Domain): void {
    this.modules.delete(d);
    for (const v of d.vcpus) v.engine = undefined;
  }

  /**
   * Runs until no vCPU can make progress or virtual time reaches the limit — or, with
   * `wallBudgetMs`, until that much wall time has passed (checked between slices), so a caller
   * with inputs from outside (a console socket) can let them in and call `run` again.
   * @returns why it returned: `idle` (nothing runnable and no timer pending: only an outside
   *   event can wake a guest), `time-limit` (virtual time reached `maxTimeNs`; later calls return
   *   at once), `budget` (the wall-time budget ran out with work left), or `stopped`
   *   ({@link DeterministicEngine.stop} was called).
   */
  run(opts: { wallBudgetMs?: number } = {}): EngineStop {
    const hv = this.hv;
    const budget = opts.wallBudgetMs ?? Infinity;
    const deadline = budget === Infinity ? Infinity : performance.now() + budget;
    while (!this.stopped) {
      const v = hv.sched.next();
      if (v !== undefined) {
        this.runSlice(v);
        hv.fireTimers();
        if (deadline !== Infinity && performance.now() >= deadline) return 'budget';
        continue;
      }
      const t = hv.nextDeadline();
      if (t === Infinity) return 'idle';
      if (t > this.maxTime) {
        hv.now = Math.max(hv.now, this.maxTime);
        this.stopped = true;
        return 'time-limit';
      }
      if (t > hv.now) hv.now = t;
      hv.fireTimers();
    }
    return hv.now >= this.maxTime ? 'time-limit' : 'stopped';
  }

  /**
   * Makes {@link DeterministicEngine.run} return (`stopped`) at its next look between slices,
   * and every later call return at once. For a host that ends a run from outside (Ctrl-C).
   */
  stop(): void {
    this.stopped = true;
  }

  private runtime(v: Vcpu): VcpuRuntime {
    if (v.engine !== undefined) return v.engine as VcpuRuntime;
    const d = v.domain;
    const img = this.modules.get(d);
    if (img === undefined) throw new Error(`domain ${d.name} has no image attached`);
    const rt = { area: d.layout.asyncify[v.index]!, lastFuel: 0, rewinding: false, unwinding: false, upcallSlices: 0, irq: false } as unknown as VcpuRuntime;
    const hw: Record<string, (...args: number[]) => number | void> = {};
    for (const name of img.info.imports) {
      if (name.startsWith('hw.')) {
        hw[name.slice(3)] = () => {
          throw new GuestFault(`${name}: legacy hardware is not emulated for this guest (it imports pv.hypercall)`);
        };
      }
    }
    // An unmodified guest's port I/O and halt go to its legacy platform (spec `legacyPlatform`).
    const m = d.legacy;
    if (m !== undefined) {
      for (const name of img.info.imports) {
        if (!name.startsWith('hw.')) continue;
        const trap = this.legacyTrapFor(v, rt, m, name.slice(3));
        if (trap !== undefined) hw[name.slice(3)] = trap;
      }
      if (img.info.exportsIfFlag && img.info.hasInterruptEntry) rt.irq = true;
    }
    // The MMIO traps of ABI 1.1 (spec `hw.traps`); the loader has checked their signatures.
    if (img.info.imports.includes('hw.mmio_read32')) hw['mmio_read32'] = this.mmioReadFor(v, rt);
    if (img.info.imports.includes('hw.mmio_write32')) hw['mmio_write32'] = this.mmioWriteFor(v, rt);
    const instance = new WebAssembly.Instance(img.module, {
      env: { memory: d.mem.memory },
      // The instrumenter routes pv.hypercall through pvisor.hypercall, which adds the fuel left.
      pvisor: {
        hypercall: this.trapFor(v, rt),
        fuel: () => this.onFuel(v, rt),
        memory_grow: (pages: number) => growMemory(this.hv, d, pages),
      },
      hw,
    });
    rt.ex = instance.exports as unknown as GuestExports;
    rt.fuel = rt.ex.__pv_fuel;
    v.engine = rt;
    return rt;
  }

  private runSlice(v: Vcpu): void {
    const hv = this.hv;
    const d = v.domain;
    let rt: VcpuRuntime;
    try {
      rt = this.runtime(v);
    } catch (e) {
      hv.crash(d, `instantiating vCPU ${v.index} failed: ${(e as Error).message}`);
      return;
    }
    rt.fuel.value = this.slice;
    rt.lastFuel = this.slice;
    rt.upcallSlices = 0;
    const ex = rt.ex;
    // Deeper V8 stacks for crash backtraces (the default keeps 10 frames, host frames included).
    const savedLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 64;
    try {
      if (!v.started) {
        v.started = true;
        hv.updateTime(v);
        if (v.index === 0) ex._start(v.entry.arg);
        else {
          ex.__stack_pointer!.value = v.entry.stack;
          ex.pv_vcpu_entry!(v.entry.fn, v.entry.arg);
        }
      } else {
        rt.rewinding = true;
        ex.asyncify_start_rewind(rt.area);
        if (v.index === 0) ex._start(v.entry.arg);
        else ex.pv_vcpu_entry!(v.entry.fn, v.entry.arg);
      }
      if (rt.unwinding) {
        rt.unwinding = false;
        ex.asyncify_stop_unwind();
        const w = v.wait;
        if (w !== null && (w.kind === 'yield' || w.kind === 'preempt')) {
          v.wait = null;
          hv.sched.enqueue(v);
        }
        return;
      }
      // The entry returned: `_start` returning is poweroff 0; a secondary's entry returning takes it down.
      this.account(rt, 0);
      if (v.index === 0) hv.shutdown(d, SHUTDOWN_POWEROFF, 0);
      else hv.vcpuDown(v);
    } catch (e) {
      rt.rewinding = false;
      if (rt.unwinding) {
        rt.unwinding = false;
        try {
          ex.asyncify_stop_unwind();
        } catch {
          /* the instance is being abandoned */
        }
      }
      if (e === STOP) return;
      this.fault(d, v, e);
    } finally {
      Error.stackTraceLimit = savedLimit;
    }
  }

  private fault(d: Domain, v: Vcpu, e: unknown): void {
    const hv = this.hv;
    if (e instanceof WebAssembly.RuntimeError || e instanceof GuestFault || e instanceof RangeError) {
      // `as Error`: the three classes are structurally alike, so TS may narrow the else arm to never.
      const msg = e instanceof RangeError ? `stack overflow (${e.message})` : (e as Error).message;
      hv.crash(d, `vCPU ${v.index}: ${msg}`, parseWasmBacktrace(e));
    } else {
      // A host bug must not take the host down: the domain ends, the host logs it.
      const err = e instanceof Error ? e : new Error(String(e));
      hv.log(`host fault while running ${d.name} vCPU ${v.index}: ${err.stack ?? err.message}`);
      hv.crash(d, `host fault: ${err.message}`, parseWasmBacktrace(e));
    }
  }

  /** Charges fuel consumed since the last exit (and an exit cost) to virtual time. */
  private account(rt: VcpuRuntime, exitCost: number): void {
    const f = rt.fuel.value as number;
    this.hv.now += (rt.lastFuel - f) * this.nsPerFuel + exitCost;
    rt.lastFuel = f;
  }

  /** Starts unwinding the guest's stack into the vCPU's scratch area. */
  private unwind(v: Vcpu, rt: VcpuRuntime): void {
    const m = v.domain.mem;
    m.setU32(rt.area as GuestAddr, rt.area + 8);
    m.setU32((rt.area + 4) as GuestAddr, rt.area + ASYNCIFY_AREA);
    rt.unwinding = true;
    rt.ex.asyncify_start_unwind(rt.area);
  }

  /** VM entry: refresh the time record and run the upcall handler if an event waits. */
  private enter(v: Vcpu, rt: VcpuRuntime): void {
    const hv = this.hv;
    const d = v.domain;
    if (d.legacy !== undefined) {
      this.enterLegacy(v, rt, d.legacy);
      return;
    }
    hv.updateTime(v);
    if (v.inUpcall || !d.caps.upcall) return;
    const u8 = d.mem.u8;
    const pa = v.upcallPendingAddr;
    const ma = v.upcallMaskAddr;
    // Plain accesses: on this engine guest and host share one thread (see Hypervisor.updateTime).
    if (u8[pa] === 0 || u8[ma] !== 0) return;
    u8[ma] = 1;
    v.inUpcall = true;
    d.upcalls++;
    try {
      rt.ex.pv_upcall!();
    } finally {
      v.inUpcall = false;
    }
    u8[ma] = 0;
  }

  /**
   * The hypercall trap of one vCPU: a closure per vCPU so that the hot path (account time,
   * dispatch, VM entry) touches no lookup tables. `fuel` is the fuel left at the call.
   */
  private trapFor(v: Vcpu, rt: VcpuRuntime): (nr: number, a0: number, a1: number, a2: number, a3: number, a4: number, fuel: number) => number {
    const hv = this.hv;
    const nsPerFuel = this.nsPerFuel;
    const exitCost = this.exitCost;
    const d = v.domain;
    const timeIdx = v.timeIdx;
    const stIdx = timeIdx + ((VCPU_TIME_INFO_OFF.system_time - VCPU_TIME_INFO_OFF.version) >>> 2);
    const pa = v.upcallPendingAddr;
    const ma = v.upcallMaskAddr;
    return (nr, a0, a1, a2, a3, a4, fuel) => {
      if (rt.rewinding) return this.resume(v, rt);
      const now = hv.now + (rt.lastFuel - fuel) * nsPerFuel + exitCost;
      hv.now = now;
      rt.lastFuel = fuel;
      const r = hv.hypercall(v, nr, a0, a1, a2, a3, a4);
      if (v.wait !== null) return this.leave(v, rt, r);
      // VM entry, inlined from enter() for the common case: time record (seqlock as in
      // Hypervisor.updateTime), then the upcall check. Plain accesses: one thread (see there).
      const i32 = d.mem.i32;
      const ver = i32[timeIdx]!;
      i32[timeIdx] = ver + 1;
      const hi = Math.floor(now / 4294967296);
      i32[stIdx] = now - hi * 4294967296;
      i32[stIdx + 1] = hi;
      i32[timeIdx] = ver + 2;
      const u8 = d.mem.u8;
      if (u8[pa] !== 0 && u8[ma] === 0) this.enter(v, rt);
      return r;
    };
  }

  /** Wraps what a device threw as a host fault of this domain (the engine's fault path logs it). */
  private deviceFault(what: string, addr: number, e: unknown): DeviceFault {
    return new DeviceFault(`device at MMIO 0x${(addr >>> 0).toString(16)} threw on ${what}: ${e instanceof Error ? e.message : String(e)}`, e);
  }

  /**
   * `hw.mmio_read32(addr) -> i32` of one vCPU: one exit (fuel since the last exit plus the exit
   * cost; an `hw.*` import carries no fuel operand, so the global is read), the bus read, then
   * VM entry.
   */
  private mmioReadFor(v: Vcpu, rt: VcpuRuntime): (addr: number) => number {
    const hv = this.hv;
    const d = v.domain;
    return (addr) => {
      this.account(rt, this.exitCost);
      d.mmioExits.read++;
      let value: number;
      try {
        value = d.mmio.read32(addr >>> 0);
      } catch (e) {
        throw this.deviceFault('read', addr, e);
      }
      if (hv.trace !== null) hv.trace.push({ t: hv.now, dom: d.id, vcpu: v.index, ev: 'mmio_read32', args: [addr | 0], ret: value | 0 });
      this.enter(v, rt);
      // An i32 result: the u32 register value's bits.
      return value | 0;
    };
  }

  /** `hw.mmio_write32(addr, value)` of one vCPU: one exit, the bus write, then VM entry. */
  private mmioWriteFor(v: Vcpu, rt: VcpuRuntime): (addr: number, value: number) => void {
    const hv = this.hv;
    const d = v.domain;
    return (addr, value) => {
      this.account(rt, this.exitCost);
      d.mmioExits.write++;
      // The device may raise its DEVICE port synchronously; enter() below delivers it.
      try {
        d.mmio.write32(addr >>> 0, value >>> 0);
      } catch (e) {
        throw this.deviceFault('write', addr, e);
      }
      if (hv.trace !== null) hv.trace.push({ t: hv.now, dom: d.id, vcpu: v.index, ev: 'mmio_write32', args: [addr | 0, value | 0] });
      this.enter(v, rt);
    };
  }

  /** Rewind reached the import that unwound: finish the rewind, VM entry, hand back the result. */
  private resume(v: Vcpu, rt: VcpuRuntime): number {
    rt.rewinding = false;
    rt.ex.asyncify_stop_rewind();
    this.enter(v, rt);
    return v.resumeResult;
  }

  /** The vCPU must leave the CPU after a hypercall: abandon its stack (stop) or unwind it (wait). */
  private leave(v: Vcpu, rt: VcpuRuntime, r: number): number {
    if (v.wait!.kind === 'stop') throw STOP;
    v.resumeResult = r;
    this.unwind(v, rt);
    return 0;
  }

  /**
   * VM entry of an unmodified guest: devices catch up with virtual time, then pending interrupts
   * are injected while the guest's interrupt flag is set — the PIC's INTA cycle, the flag cleared
   * for the handler and restored after it (an interrupt gate and `iret`). Not nested: an
   * interrupt arriving during the handler waits for the VM entry after it.
   */
  private enterLegacy(v: Vcpu, rt: VcpuRuntime, m: LegacyMachine): void {
    m.sync(this.hv.now);
    if (!rt.irq || v.inUpcall) return;
    const mem = v.domain.mem;
    const flag = (rt.ex.hw_if as WebAssembly.Global).value as number;
    // The flag's address comes from the guest: checked like any guest pointer (a bad one means
    // interrupts stay off, which only harms the guest).
    if (!mem.inBounds(flag as GuestAddr, 4)) return;
    while (mem.u32(flag as GuestAddr) !== 0 && m.pendingVector() !== undefined) {
      const vector = m.acknowledge();
      m.exits.injections++;
      if (this.hv.trace !== null) this.hv.trace.push({ t: this.hv.now, dom: v.domain.id, vcpu: v.index, ev: 'interrupt', args: [vector] });
      mem.setU32(flag as GuestAddr, 0);
      v.inUpcall = true;
      try {
        rt.ex.hw_interrupt!(vector);
      } finally {
        v.inUpcall = false;
      }
      mem.setU32(flag as GuestAddr, 1);
      m.sync(this.hv.now);
    }
  }

  /**
   * The `hw.*` trap `name` of an unmodified guest's vCPU, or undefined for one the legacy
   * platform does not provide (MMIO is bound separately; unknown names keep their crashing stub).
   * Each is one exit: fuel since the last exit plus the exit cost, the device access, VM entry.
   */
  private legacyTrapFor(v: Vcpu, rt: VcpuRuntime, m: LegacyMachine, name: string): ((...args: number[]) => number | void) | undefined {
    const hv = this.hv;
    const d = v.domain;
    const ports = m.ports;
    const trace = (ev: string, args: number[], ret?: number): void => {
      if (hv.trace !== null) hv.trace.push(ret === undefined ? { t: hv.now, dom: d.id, vcpu: v.index, ev, args } : { t: hv.now, dom: d.id, vcpu: v.index, ev, args, ret });
    };
    const exit = (): void => this.account(rt, this.exitCost);
    const size = (n: string): AccessSize => (n.endsWith('8') ? 1 : n.endsWith('16') ? 2 : 4);
    switch (name) {
      case 'in8':
      case 'in16':
      case 'in32': {
        const w = size(name);
        return (port: number) => {
          exit();
          const value = ports.read(port & 0xffff, w);
          trace(name, [port & 0xffff], value | 0);
          this.enterLegacy(v, rt, m);
          return value | 0;
        };
      }
      case 'out8':
      case 'out16':
      case 'out32': {
        const w = size(name);
        const mask = w === 4 ? 0xffffffff : (1 << (8 * w)) - 1;
        return (port: number, value: number) => {
          exit();
          ports.write(port & 0xffff, w, (value & mask) >>> 0);
          trace(name, [port & 0xffff, value | 0]);
          // The debug-exit port powers the machine off: the vCPU stops here.
          if (!d.alive) throw STOP;
          this.enterLegacy(v, rt, m);
        };
      }
      case 'ins16':
      case 'ins32':
      case 'outs16':
      case 'outs32': {
        const w = size(name);
        const input = name.startsWith('ins');
        return (port: number, ptr: number, count: number) => {
          exit();
          const n = count >>> 0;
          const bytes = n * w;
          // spec hw.ins*/outs*: a buffer outside guest memory transfers nothing and returns 0.
          let done = 0;
          if (n !== 0 && bytes <= 0xffffffff && d.mem.inBounds((ptr >>> 0) as GuestAddr, bytes)) {
            const buf = d.mem.u8.subarray(ptr >>> 0, (ptr >>> 0) + bytes);
            if (input) ports.readString(port & 0xffff, w, buf);
            else ports.writeString(port & 0xffff, w, buf);
            done = n;
          }
          trace(name, [port & 0xffff, ptr | 0, count | 0], done);
          this.enterLegacy(v, rt, m);
          return done;
        };
      }
      case 'halt':
        return () => {
          if (rt.rewinding) {
            this.resume(v, rt);
            return;
          }
          exit();
          m.exits.halt++;
          trace('halt', []);
          m.sync(hv.now);
          if (m.pendingVector() !== undefined) {
            this.enterLegacy(v, rt, m);
            return;
          }
          // spec hw.halt: sleep until an interrupt request (Hypervisor.attachLegacy wakes us).
          v.wait = WAIT_BLOCK;
          v.resumeResult = 0;
          this.unwind(v, rt);
        };
      default:
        return undefined;
    }
  }

  private onFuel(v: Vcpu, rt: VcpuRuntime): void {
    const hv = this.hv;
    // Fuel starts at INT32_MAX in a new instance: running out before the engine holds the
    // instance means the start function ran away. Throwing aborts the instantiation.
    if (rt.ex === undefined) throw new GuestFault('the start function ran away (fuel exhausted during instantiation)');
    if (rt.rewinding) {
      this.resume(v, rt);
      return;
    }
    this.account(rt, 0);
    rt.fuel.value = this.slice;
    rt.lastFuel = this.slice;
    if (v.inUpcall) {
      // An upcall handler cannot be preempted (it runs nested in an import); bound it instead.
      if (++rt.upcallSlices > this.upcallLimit) {
        throw new GuestFault(`upcall handler ran for ${this.upcallLimit} slices without returning`);
      }
      return;
    }
    hv.fireTimers();
    if (hv.now >= this.maxTime) this.stopped = true;
    if (this.stopped || hv.sched.hasWaiting) {
      v.wait = WAIT_PREEMPT;
      v.resumeResult = 0;
      this.unwind(v, rt);
      return;
    }
    this.enter(v, rt);
  }
}
