/**
 * Intel 8254 programmable interval timer at ports 0x40–0x43 (counters 0–2 and the control word
 * register), clocked at 1.193182 MHz, counter 0's OUT wired to IRQ 0.
 *
 * TIME. There is no wall clock and no host timer: the PIT reads the current virtual time (ns)
 * from the clock callback it is given, computes counts and OUT edges from it, and tells the
 * engine when the next IRQ 0 edge is due ({@link Pit8254.nextDeadline}). The engine calls
 * {@link Pit8254.sync} at (or after) that time to raise the edge. Input clock ticks are counted
 * from virtual time 0 exactly (integer arithmetic): tick k happens at ⌈k · 10⁹ / 1193182⌉ ns.
 *
 * EMULATED (8254 datasheet): control word (SC, RW, M, BCD); access modes LSB only, MSB only,
 * LSB then MSB, with separate read and write byte sequencing; the counter latch command; the
 * read-back command (count and status, several counters at once); binary and BCD counting;
 * mode 0 (interrupt on terminal count), mode 2 (rate generator), mode 3 (square wave),
 * mode 4 (software triggered strobe); modes 1 and 5 wait for a gate trigger, which never comes
 * (GATE is tied high on a PC, and no port 0x61 is emulated), so they hold their count.
 * A count written while counting takes effect at the end of the current period in modes 2
 * and 3 ("the current period is not affected").
 *
 * NOT EMULATED: GATE inputs (always high), counter 2's speaker gate / port 0x61, OUT of
 * counters 1 and 2 (nothing is wired to them). The one-clock load cycle after a count is written
 * is folded into the write: counting starts at the tick the write happens in.
 *
 * IRQ 0. The line the PIC sees carries one rising edge per OUT rising edge. Virtual time jumps,
 * so when the engine syncs late, the edges that happened since the last sync are merged into
 * one (the PIC latches only one request per input anyway) and counted in
 * {@link PitStats.coalesced}. In modes 2, 3 and 4 the line is presented high between edges (the
 * low phase is collapsed into the edge), so a request is not withdrawn by the second half of a
 * square wave before the guest could take it; the count and read-back status report true OUT.
 * @module
 */
import type { IrqLine } from './irq.ts';
import type { AccessSize, PortBus, PortDevice, PortMapping } from './port-bus.ts';

/** First port of the PIT. */
export const PIT_BASE = 0x40;
/** Input clock in Hz. */
export const PIT_HZ = 1193182;

const NS_PER_S = 1_000_000_000;

/** Input clock ticks completed at virtual time `ns` (floor(ns · 1193182 / 10⁹), exactly). */
export function ticksAt(ns: number): number {
  const s = Math.floor(ns / NS_PER_S);
  const r = ns - s * NS_PER_S;
  return s * PIT_HZ + Math.floor((r * PIT_HZ) / NS_PER_S);
}

/** The virtual time (ns) at which tick `k` happens: the least `ns` with `ticksAt(ns) ≥ k`. */
export function timeOfTick(k: number): number {
  const q = Math.floor(k / PIT_HZ);
  const r = k - q * PIT_HZ;
  return q * NS_PER_S + Math.ceil((r * NS_PER_S) / PIT_HZ);
}

/** Read/write access mode of a counter (control word RW1 RW0). */
export const enum Access {
  Latch = 0,
  Lsb = 1,
  Msb = 2,
  LsbMsb = 3,
}

/** One counter of the 8254. */
export class PitCounter {
  /** Mode 0–5 (6 and 7 read back as written but behave as 2 and 3). */
  mode = 0;
  /** Control-word mode bits as written (for read-back status). */
  modeBits = 0;
  /** RW mode. */
  access: Access = Access.LsbMsb;
  /** BCD counting. */
  bcd = false;
  /** The count register contents (initial count), raw 16 bits as written. */
  countReg = 0;
  /** True between a control word and the first complete count (status NULL COUNT). */
  nullCount = true;

  // Counting element: counting since tick `start` with initial count `n` (1..65536 binary or
  // 1..10000 BCD, 0 encoded as the max). `running` is false until a count is loaded.
  /** @internal */ running = false;
  /** @internal */ start = 0;
  /** @internal */ n = 0;
  // A new count for modes 2/3 written while counting: takes over at tick `pendingAt`.
  private pendingN: number | undefined;
  private pendingAt = 0;

  // Byte sequencing: write (LSB next?) and read (LSB next?) flip-flops.
  private writeLsbNext = true;
  private writeLow = 0;
  private readLsbNext = true;
  // Latched count (counter latch / read-back) and latched status.
  private latched: number | undefined;
  private latchedStatus: number | undefined;
  // Mode 0 between the first and second byte of a new count: counting stopped at this value.
  private frozenCount: number | undefined;

  /** Writes a control word for this counter (not a latch command). */
  control(rw: Access, modeBits: number, bcd: boolean): void {
    this.access = rw;
    this.modeBits = modeBits;
    this.mode = modeBits >= 6 ? modeBits - 4 : modeBits; // 11x: modes 2 and 3
    this.bcd = bcd;
    // "When a Control Word is written to a Counter, all Control Logic is immediately reset and
    // OUT goes to a known initial state"; counting waits for a new count.
    this.running = false;
    this.pendingN = undefined;
    this.nullCount = true;
    this.writeLsbNext = true;
    this.readLsbNext = true;
    this.latched = undefined;
    this.latchedStatus = undefined;
    this.frozenCount = undefined;
  }

  /** The modulus of one full count: 65536 binary, 10000 BCD. */
  private get max(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** Writes one byte of a count at tick `now`. */
  writeByte(v: number, now: number): void {
    switch (this.access) {
      case Access.Lsb:
        this.load(v & 0xff, now);
        return;
      case Access.Msb:
        this.load((v & 0xff) << 8, now);
        return;
      default:
        if (this.writeLsbNext) {
          this.writeLow = v & 0xff;
          this.writeLsbNext = false;
          // Mode 0: "writing the first byte disables counting".
          if (this.mode === 0 && this.running) {
            this.freeze(now);
          }
        } else {
          this.writeLsbNext = true;
          this.load(this.writeLow | ((v & 0xff) << 8), now);
        }
    }
  }

  private freeze(now: number): void {
    this.frozenCount = this.countAt(now);
    this.running = false;
  }

  private load(raw: number, now: number): void {
    this.countReg = raw;
    this.nullCount = false;
    this.frozenCount = undefined;
    let n = this.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = this.max;
    this.fold(now);
    if (this.running && (this.mode === 2 || this.mode === 3)) {
      // Current period completes first; the new count is loaded at its end.
      const e = now - this.start;
      const periods = Math.floor(e / this.n) + 1;
      this.pendingAt = this.start + periods * this.n;
      this.pendingN = n;
      return;
    }
    this.n = n;
    this.start = now;
    this.running = true;
    this.pendingN = undefined;
  }

  /** Applies a pending count whose time has come. */
  fold(now: number): void {
    if (this.pendingN !== undefined && now >= this.pendingAt) {
      this.start = this.pendingAt;
      this.n = this.pendingN;
      this.pendingN = undefined;
    }
  }

  /** The counting element at tick `now` (binary value, 0..max-1 as the hardware shows). */
  countAt(now: number): number {
    this.fold(now);
    if (!this.running) return this.frozenCount ?? (this.bcd ? fromBcd(this.countReg) : this.countReg);
    const e = now - this.start;
    const n = this.n;
    let c: number;
    switch (this.mode) {
      case 2: // N, N-1, …, 1, reload
        c = n - (e % n);
        break;
      case 3: {
        const p = e % n;
        if (n % 2 === 0) {
          const h = n / 2;
          c = p < h ? n - 2 * p : n - 2 * (p - h);
        } else {
          // Odd: "OUT high for (N+1)/2 counts and low for (N-1)/2 counts"; N-1 is loaded and
          // decremented by two.
          const h = (n + 1) / 2;
          c = p === 0 ? n : p < h ? n + 1 - 2 * p : n - 1 - 2 * (p - h);
        }
        break;
      }
      case 0:
      case 4: // count down, wrap through 0 and go on
        c = (((n - e) % this.max) + this.max) % this.max;
        break;
      default: // modes 1 and 5: waiting for a gate trigger
        c = n;
    }
    return c % this.max;
  }

  /** True OUT at tick `now`. */
  outAt(now: number): boolean {
    this.fold(now);
    // Mode 0: "OUT will be initially low after the Mode set" and low again when a count is
    // (re)written; the other modes start high.
    if (!this.running) return this.mode !== 0;
    const e = now - this.start;
    const n = this.n;
    switch (this.mode) {
      case 0:
        return e >= n;
      case 2:
        return e % n !== n - 1;
      case 3:
        return e % n < Math.ceil(n / 2);
      case 4:
        return e !== n;
      default:
        return true;
    }
  }

  /**
   * Number of OUT rising edges in ticks (from, to], and the tick of the first edge after `to`
   * (undefined when none will come).
   */
  edges(from: number, to: number): { count: number; next: number | undefined } {
    if (!this.running) return { count: 0, next: undefined };
    let count = 0;
    // A pending reload splits the interval into two runs; `pendingAt` is the end of a period of
    // the old run, so the edge there belongs to it.
    if (this.pendingN !== undefined && this.pendingAt <= to) {
      if (this.pendingAt > from) count += this.edgesRun(this.start, this.n, from, this.pendingAt).count;
      from = Math.max(from, this.pendingAt);
      this.fold(to);
    }
    const r = this.edgesRun(this.start, this.n, from, to);
    return { count: count + r.count, next: r.next };
  }

  // Tick offset (from start) of the k-th rising edge (k ≥ 1), or undefined if none.
  private edgeOffset(n: number, k: number): number | undefined {
    switch (this.mode) {
      case 0:
        return k === 1 ? n : undefined; // OUT goes high at terminal count and stays
      case 2:
      case 3:
        return k * n; // end of each period (mode 2: after the one-clock low; mode 3: low half)
      case 4:
        return k === 1 ? n + 1 : undefined; // one-clock strobe at terminal count
      default:
        return undefined;
    }
  }

  private edgesRun(start: number, n: number, from: number, to: number): { count: number; next: number | undefined } {
    // Edges at start + off(k); count those in (from, to].
    switch (this.mode) {
      case 2:
      case 3: {
        const upTo = (t: number) => (t < start ? 0 : Math.floor((t - start) / n));
        const count = Math.max(0, upTo(to) - upTo(from));
        return { count, next: start + (upTo(to) + 1) * n };
      }
      case 0:
      case 4: {
        const at = start + this.edgeOffset(n, 1)!;
        return { count: at > from && at <= to ? 1 : 0, next: at > to ? at : undefined };
      }
      default:
        return { count: 0, next: undefined };
    }
  }

  /** Counter latch command: latches the count unless a latched count is still unread. */
  latch(now: number): void {
    if (this.latched !== undefined) return; // "subsequent latch commands are ignored"
    const c = this.countAt(now);
    this.latched = this.bcd ? toBcd(c) : c;
    this.readLsbNext = true;
  }

  /** Read-back status latch: OUT, NULL COUNT, RW, M, BCD. */
  latchStatus(now: number): void {
    if (this.latchedStatus !== undefined) return;
    this.latchedStatus =
      (this.outAt(now) ? 0x80 : 0) | (this.nullCount ? 0x40 : 0) | (this.access << 4) | (this.modeBits << 1) | (this.bcd ? 1 : 0);
  }

  /** Reads one byte at tick `now`. */
  readByte(now: number): number {
    if (this.latchedStatus !== undefined) {
      const s = this.latchedStatus;
      this.latchedStatus = undefined;
      return s;
    }
    let value: number;
    const fromLatch = this.latched !== undefined;
    if (this.latched !== undefined) value = this.latched;
    else {
      const c = this.countAt(now);
      value = this.bcd ? toBcd(c) : c;
    }
    let b: number;
    switch (this.access) {
      case Access.Lsb:
        b = value & 0xff;
        this.latched = undefined;
        break;
      case Access.Msb:
        b = (value >> 8) & 0xff;
        this.latched = undefined;
        break;
      default:
        if (this.readLsbNext) {
          b = value & 0xff;
          this.readLsbNext = false;
          // A live (unlatched) two-byte read: the MSB comes from the count at its own read.
        } else {
          b = (value >> 8) & 0xff;
          this.readLsbNext = true;
          if (fromLatch) this.latched = undefined;
        }
    }
    return b;
  }
}

/** Counters of the IRQ 0 edges (exit accounting and tests). */
export interface PitStats {
  /** Rising edges presented on IRQ 0. */
  irqEdges: number;
  /** OUT rising edges merged into a presented edge because the sync came late. */
  coalesced: number;
}

/** Options of {@link Pit8254}. */
export interface PitOptions {
  /** Current virtual time in ns (monotonic). */
  clock: () => number;
  /** IRQ 0. */
  irq: IrqLine;
}

/** The 8254 with counter 0 on IRQ 0. */
export class Pit8254 implements PortDevice {
  /** Counters 0, 1, 2. */
  readonly counters: readonly [PitCounter, PitCounter, PitCounter] = [new PitCounter(), new PitCounter(), new PitCounter()];
  /** Counters (see {@link PitStats}). */
  readonly stats: PitStats = { irqEdges: 0, coalesced: 0 };

  private readonly clock: () => number;
  private readonly irq: IrqLine;
  private lastTick: number;
  // Tick of counter 0's next OUT rising edge after lastTick (Infinity: none). Cached because the
  // engine syncs at every exit: between edges a sync is one clock read and one compare.
  private nextEdge = Infinity;

  /** A PIT reading time from `opts.clock` and driving `opts.irq`. */
  constructor(opts: PitOptions) {
    this.clock = opts.clock;
    this.irq = opts.irq;
    // The line starts low and is first raised by counter 0's first OUT edge: OUT is undefined
    // at power-up, and a spurious edge at programming time would be an interrupt nobody asked for.
    this.lastTick = ticksAt(this.clock());
  }

  /** Registers ports 0x40–0x43 on `bus`. */
  register(bus: PortBus): PortMapping {
    return bus.register({ name: 'pit', base: PIT_BASE, length: 4, device: this });
  }

  /**
   * Brings IRQ 0 up to date with virtual time: presents one rising edge if counter 0's OUT rose
   * since the last sync. The engine calls it at {@link Pit8254.nextDeadline} (and the PIT calls
   * it itself on every port access).
   */
  sync(): void {
    const now = ticksAt(this.clock());
    if (now < this.lastTick) return; // time never runs backwards; ignore a confused clock
    if (now < this.nextEdge) {
      this.lastTick = now;
      return;
    }
    const c0 = this.counters[0];
    const { count } = c0.edges(this.lastTick, now);
    this.lastTick = now;
    if (count > 0) {
      this.stats.irqEdges++;
      this.stats.coalesced += count - 1;
      this.irq.set(false);
      this.irq.set(true);
    } else if (c0.running && c0.mode === 0) {
      this.irq.set(c0.outAt(now));
    }
    this.schedule();
  }

  private schedule(): void {
    const t = this.lastTick;
    this.nextEdge = this.counters[0].edges(t, t).next ?? Infinity;
  }

  /**
   * Virtual time (ns) of counter 0's first OUT rising edge after the last {@link Pit8254.sync},
   * or undefined when none will come. At or past it, `sync` has an edge to present; it stays put
   * until then (it is not relative to the clock's current time).
   */
  nextDeadline(): number | undefined {
    return this.nextEdge === Infinity ? undefined : timeOfTick(this.nextEdge);
  }

  /** See {@link PortDevice.read}. Port 0x43 is write-only (reads as 0xFF). */
  read(port: number, _size: AccessSize): number {
    this.sync();
    const i = port - PIT_BASE;
    if (i < 0 || i > 2) return 0xff;
    return this.counters[i as 0 | 1 | 2].readByte(this.lastTick);
  }

  /** See {@link PortDevice.write}. */
  write(port: number, _size: AccessSize, v: number): void {
    this.sync();
    this.writePort(port, v);
    this.schedule();
  }

  private writePort(port: number, v: number): void {
    const now = this.lastTick;
    const i = port - PIT_BASE;
    if (i >= 0 && i <= 2) {
      this.counters[i as 0 | 1 | 2].writeByte(v, now);
      if (i === 0) this.afterCounter0Change();
      return;
    }
    if (i !== 3) return;
    const sc = v >> 6;
    if (sc === 3) {
      // Read-back: D5 = 0 latches count, D4 = 0 latches status, D3–D1 select counters 2–0.
      for (let c = 0; c < 3; c++) {
        if ((v & (2 << c)) === 0) continue;
        const ctr = this.counters[c as 0 | 1 | 2];
        if ((v & 0x10) === 0) ctr.latchStatus(now);
        if ((v & 0x20) === 0) ctr.latch(now);
      }
      return;
    }
    const ctr = this.counters[sc as 0 | 1 | 2];
    const rw = ((v >> 4) & 3) as Access;
    if (rw === Access.Latch) {
      ctr.latch(now);
      return;
    }
    ctr.control(rw, (v >> 1) & 7, (v & 1) !== 0);
    // Mode 0's initial OUT is low; in the other modes the presented line stays as it is (it only
    // carries edges, see the module comment).
    if (sc === 0 && ctr.mode === 0) this.irq.set(false);
  }

  private afterCounter0Change(): void {
    const c0 = this.counters[0];
    if (c0.mode === 0) this.irq.set(c0.outAt(this.lastTick));
  }
}

/** Binary value of a 4-digit BCD count. */
function fromBcd(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

/** 4-digit BCD of `v` (0..9999). */
function toBcd(v: number): number {
  v %= 10000;
  return ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | v % 10;
}
