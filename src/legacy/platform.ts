/**
 * The emulated PC of an unmodified guest (spec `legacyPlatform`), wired as a PC/AT:
 * PIC pair at 0x20/0xA0 (+ ELCR 0x4D0), PIT at 0x40 on IRQ 0, COM1 16550A at 0x3F8 on IRQ 4,
 * debug-exit at 0xF4, and when asked for, the ATA primary channel at 0x1F0/0x3F6 on IRQ 14 and an
 * NE2000 at 0x300 on IRQ 10. Implements the core's {@link LegacyMachine}.
 *
 * CONSOLE. Bytes the guest sends through COM1 are buffered and handed on at each newline, every
 * 4 KiB, and at {@link LegacyPlatform.flush}, so a byte-at-a-time guest does not cost one console
 * write per byte on the host.
 * @module
 */
import type { LegacyExits, LegacyMachine } from '../hv/legacy-machine.ts';
import type { DiskImage } from '../virtio/disk-image.ts';
import { ATA_PRIMARY_IRQ, AtaDisk } from './ata.ts';
import { DebugExit } from './debug-exit.ts';
import { irqLine } from './irq.ts';
import { NE2000_BASE, NE2000_IRQ, Ne2000 } from './ne2000.ts';
import { PicPair } from './pic.ts';
import { Pit8254 } from './pit.ts';
import { PortBus } from './port-bus.ts';
import { COM1_IRQ, Uart16550 } from './uart16550.ts';

/** Options of {@link LegacyPlatform}. */
export interface LegacyPlatformOptions {
  /** Current virtual time in ns (the PIT's clock). */
  clock: () => number;
  /** Receives COM1 output, buffered (see the module comment). */
  console?: (bytes: Uint8Array) => void;
  /** Called when the guest writes its exit code to the debug-exit port. */
  powerOff?: (code: number) => void;
  /** Disk behind the ATA primary master; no ATA channel without one. */
  disk?: DiskImage;
  /** NE2000 station address; no NIC without one. */
  nicMac?: Uint8Array;
  /** NE2000 I/O base (default 0x300). */
  nicBase?: number;
  /** NE2000 IRQ (default 9). */
  nicIrq?: number;
  /** Host log (ATA host I/O errors). */
  log?: (msg: string) => void;
}

const CONSOLE_CHUNK = 4096;

/** The legacy PC of one domain. */
export class LegacyPlatform implements LegacyMachine {
  /** The port space with every device registered. */
  readonly ports = new PortBus();
  /** Interrupt controller. */
  readonly pic = new PicPair();
  /** Timer. */
  readonly pit: Pit8254;
  /** COM1. */
  readonly uart: Uart16550;
  /** Debug-exit port. */
  readonly debugExit: DebugExit;
  /** ATA primary master, when a disk was given. */
  readonly ata: AtaDisk | undefined;
  /** NE2000, when a MAC was given (attach it to a switch, then `connect` the port). */
  readonly nic: Ne2000 | undefined;
  /** See {@link LegacyMachine.exits}. */
  readonly exits: LegacyExits = { halt: 0, injections: 0 };
  /** See {@link LegacyMachine.onInterrupt}. */
  onInterrupt: (() => void) | undefined;

  private readonly out = new Uint8Array(CONSOLE_CHUNK);
  private outLen = 0;
  private readonly console: ((bytes: Uint8Array) => void) | undefined;

  /** Builds and registers the devices. */
  constructor(opts: LegacyPlatformOptions) {
    const bus = this.ports;
    this.console = opts.console;
    this.pic.register(bus);
    this.pic.onIntr = (asserted) => {
      if (asserted) this.onInterrupt?.();
    };
    this.pit = new Pit8254({ clock: opts.clock, irq: irqLine(this.pic, 0) });
    this.pit.register(bus);
    this.uart = new Uart16550({ irq: irqLine(this.pic, COM1_IRQ), sink: (b) => this.putc(b) });
    this.uart.register(bus);
    this.debugExit = new DebugExit((code) => {
      this.flush();
      opts.powerOff?.(code);
    });
    this.debugExit.register(bus);
    if (opts.disk !== undefined) {
      this.ata = new AtaDisk({ image: opts.disk, irq: irqLine(this.pic, ATA_PRIMARY_IRQ), ...(opts.log !== undefined ? { log: opts.log } : {}) });
      this.ata.register(bus);
    }
    if (opts.nicMac !== undefined) {
      this.nic = new Ne2000({ mac: opts.nicMac, irq: irqLine(this.pic, opts.nicIrq ?? NE2000_IRQ), base: opts.nicBase ?? NE2000_BASE });
      this.nic.register(bus);
    }
  }

  /** See {@link LegacyMachine.sync}: the PIT reads the time from its clock. */
  sync(_now: number): void {
    this.pit.sync();
  }

  /** See {@link LegacyMachine.nextDeadline}. */
  nextDeadline(): number {
    return this.pit.nextDeadline() ?? Infinity;
  }

  /** See {@link LegacyMachine.pendingVector}. */
  pendingVector(): number | undefined {
    return this.pic.pendingVector();
  }

  /** See {@link LegacyMachine.acknowledge}. */
  acknowledge(): number {
    return this.pic.acknowledge();
  }

  /** See {@link LegacyMachine.flush}. */
  flush(): void {
    if (this.outLen === 0) return;
    const bytes = this.out.slice(0, this.outLen);
    this.outLen = 0;
    this.console?.(bytes);
  }

  private putc(b: number): void {
    this.out[this.outLen++] = b;
    if (b === 0x0a || this.outLen === CONSOLE_CHUNK) this.flush();
  }
}
