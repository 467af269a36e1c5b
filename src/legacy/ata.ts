/**
 * ATA PIO disk (device 0) on the primary channel: command block 0x1F0–0x1F7, control block
 * 0x3F6 (alternate status / device control), INTRQ on IRQ 14. Backed by a {@link DiskImage},
 * the same backends as virtio-blk. Written from ATA/ATAPI-6 (T13 1410D).
 *
 * REGISTERS: 0x1F0 data (16-bit; 32-bit accesses move two words, 8-bit accesses one word of
 * which the low byte is returned); 0x1F1 error (read) / features (write); 0x1F2 sector count;
 * 0x1F3–0x1F5 LBA low/mid/high; 0x1F6 device; 0x1F7 status (read: clears INTRQ) / command;
 * 0x3F6 alternate status (read: does not clear INTRQ) / device control (nIEN, SRST, HOB).
 * Each of features, count and LBA low/mid/high is a two-deep FIFO for 48-bit commands: a write
 * pushes the previous value into the "previous content" slot, read back with HOB = 1.
 *
 * COMMANDS: IDENTIFY DEVICE (0xEC); READ/WRITE SECTORS (0x20/0x21, 0x30/0x31); READ/WRITE
 * SECTORS EXT (0x24/0x34); READ/WRITE MULTIPLE (0xC4/0xC5) and EXT (0x29/0x39) with SET MULTIPLE
 * MODE (0xC6); READ VERIFY SECTORS (0x40/0x41, EXT 0x42); FLUSH CACHE (0xE7) and EXT (0xEA);
 * EXECUTE DEVICE DIAGNOSTIC (0x90); INITIALIZE DEVICE PARAMETERS (0x91); SET FEATURES (0xEF:
 * write cache on/off, set transfer mode to a PIO mode, revert to defaults); CHECK POWER MODE
 * (0xE5); IDLE/STANDBY IMMEDIATE (0xE1/0xE0) as no-ops. Anything else — NOP and IDENTIFY PACKET
 * DEVICE included, as the standard says for an ATA device — ends with ERR and ABRT. LBA28,
 * LBA48 and CHS addressing (CHS through the current translation).
 *
 * PROTOCOLS (ATA-6 §9): PIO data-in — each DRQ block (one sector, or the multiple count) is
 * announced by DRQ = 1 and INTRQ; after the last word of the last block DRQ clears with no
 * further interrupt. PIO data-out — the first block needs no interrupt (DRQ = 1 right after the
 * command); INTRQ follows every block, the last one with DRQ = 0 (command complete).
 * Non-data — INTRQ at completion. All media access is synchronous, so BSY is never observed
 * between blocks; BSY is observable during a software reset (SRST = 1) and while it lasts
 * the command block ignores writes.
 *
 * ERRORS: an address range outside the user-addressable sectors → ERR with IDNF ("the address
 * … was outside the range of user-accessible addresses"), checked for the whole command before
 * any data moves; a bad SET MULTIPLE count, a READ/WRITE MULTIPLE with multiple mode disabled,
 * writes to a read-only image, unknown commands → ERR with ABRT. A host I/O failure (EIO,
 * ENOSPC, …) → reads: ERR with UNC; writes and flushes: ERR with ABRT plus DF (the device
 * could not store data it had accepted); one host log line each; never a host crash.
 *
 * DEVICE 1: absent. While DEV = 1 is selected the status registers read 00h, data reads all
 * ones, commands are ignored (except EXECUTE DEVICE DIAGNOSTIC) and INTRQ is released.
 * NOT EMULATED: DMA, ATAPI, security, SMART, power management states, HPA/NATIVE MAX.
 * @module
 */
import type { DiskImage } from '../virtio/disk-image.ts';
import type { IrqLine } from './irq.ts';
import { type AccessSize, type PortBus, type PortDevice, type PortMapping, getLe, putLe } from './port-bus.ts';

/** Primary channel command block base. */
export const ATA_PRIMARY_BASE = 0x1f0;
/** Primary channel control block port (alternate status / device control). */
export const ATA_PRIMARY_CTL = 0x3f6;
/** Primary channel IRQ. */
export const ATA_PRIMARY_IRQ = 14;
/** Sector size. */
export const SECTOR = 512;

/** Status ERR: the command ended with an error (see the Error register). */
export const ST_ERR = 0x01;
/** Status DRQ: the device is ready to transfer a word of data. */
export const ST_DRQ = 0x08;
/** Status bit 4 (DSC/SERV, command dependent): set with DRDY when idle, as drives traditionally do. */
export const ST_DSC = 0x10;
/** Status DF: device fault. */
export const ST_DF = 0x20;
/** Status DRDY: the device accepts commands. */
export const ST_DRDY = 0x40;
/** Status BSY: the device owns the command block registers. */
export const ST_BSY = 0x80;

/** Error ABRT: command aborted (unsupported, invalid parameter, or failed). */
export const ERR_ABRT = 0x04;
/** Error IDNF: the requested address is outside the user-accessible range. */
export const ERR_IDNF = 0x10;
/** Error UNC: uncorrectable data error (here: a host read failure). */
export const ERR_UNC = 0x40;

/** Device control nIEN: INTRQ disabled. */
export const CTL_NIEN = 0x02;
/** Device control SRST: software reset. */
export const CTL_SRST = 0x04;
/** Device control HOB: reads return the previous ("high order byte") register contents. */
export const CTL_HOB = 0x80;

/** Device register LBA bit: LBA addressing (else CHS). */
export const DEV_LBA = 0x40;
/** Device register DEV bit: device 1 selected. */
export const DEV_DEV = 0x10;

/** Command opcodes. */
export const CMD = {
  READ_SECTORS: 0x20,
  READ_SECTORS_NR: 0x21,
  READ_SECTORS_EXT: 0x24,
  READ_MULTIPLE_EXT: 0x29,
  WRITE_SECTORS: 0x30,
  WRITE_SECTORS_NR: 0x31,
  WRITE_SECTORS_EXT: 0x34,
  WRITE_MULTIPLE_EXT: 0x39,
  READ_VERIFY: 0x40,
  READ_VERIFY_NR: 0x41,
  READ_VERIFY_EXT: 0x42,
  EXECUTE_DIAGNOSTIC: 0x90,
  INIT_DEVICE_PARAMS: 0x91,
  IDENTIFY_PACKET: 0xa1,
  READ_MULTIPLE: 0xc4,
  WRITE_MULTIPLE: 0xc5,
  SET_MULTIPLE: 0xc6,
  STANDBY_IMMEDIATE: 0xe0,
  IDLE_IMMEDIATE: 0xe1,
  CHECK_POWER_MODE: 0xe5,
  FLUSH_CACHE: 0xe7,
  FLUSH_CACHE_EXT: 0xea,
  IDENTIFY: 0xec,
  SET_FEATURES: 0xef,
} as const;

/** Largest multiple count offered (IDENTIFY word 47). */
export const MAX_MULTIPLE = 16;

/** Options of {@link AtaDisk}. */
export interface AtaOptions {
  /** The backing image (its size rounded down to sectors is the capacity). */
  image: DiskImage;
  /** INTRQ (IRQ 14 on the primary channel). */
  irq: IrqLine;
  /** Host log (host I/O errors); default `console.error`. */
  log?: (msg: string) => void;
  /** Model number (IDENTIFY words 27–46, ≤ 40 ASCII characters). */
  model?: string;
  /** Serial number (words 10–19, ≤ 20 ASCII characters). */
  serial?: string;
  /** Firmware revision (words 23–26, ≤ 8 ASCII characters). */
  firmware?: string;
  /** Command block base (default 0x1F0). */
  base?: number;
  /** Control block port (default 0x3F6). */
  ctlPort?: number;
}

/** Counters (accounting and tests). */
export interface AtaStats {
  /** Commands accepted (written to the command register with device 0 selected). */
  commands: number;
  /** Sectors read from / written to the image. */
  sectorsRead: number;
  /** See {@link AtaStats.sectorsRead}. */
  sectorsWritten: number;
  /** Host I/O failures. */
  hostErrors: number;
}

/** One task-file register with its HOB "previous content". */
class Fifo2 {
  cur = 0;
  prev = 0;
  write(v: number): void {
    this.prev = this.cur;
    this.cur = v & 0xff;
  }
  read(hob: boolean): number {
    return hob ? this.prev : this.cur;
  }
}

const enum Xfer {
  None,
  In,
  Out,
}

/** The ATA PIO disk. */
export class AtaDisk implements PortDevice {
  /** Command block base. */
  readonly base: number;
  /** Control port. */
  readonly ctlPort: number;
  /** Capacity in sectors. */
  readonly sectors: number;
  /** Counters. */
  readonly stats: AtaStats = { commands: 0, sectorsRead: 0, sectorsWritten: 0, hostErrors: 0 };

  private readonly image: DiskImage;
  private readonly irq: IrqLine;
  private readonly log: (msg: string) => void;
  private readonly model: string;
  private readonly serial: string;
  private readonly firmware: string;

  // Task file.
  private readonly features = new Fifo2();
  private readonly count = new Fifo2();
  private readonly lbaLo = new Fifo2();
  private readonly lbaMid = new Fifo2();
  private readonly lbaHi = new Fifo2();
  private device = 0;
  private devctl = 0;
  private status = ST_DRDY | ST_DSC;
  private error = 0x01; // diagnostic code after power-on: device 0 passed
  private intrq = false;
  private resetting = false;

  // Settings.
  private multiple = 0; // sectors per DRQ block for READ/WRITE MULTIPLE; 0 = disabled
  private heads = 16;
  private spt = 63;
  private writeCache = true;

  // Transfer.
  private readonly buf = new Uint8Array(SECTOR * MAX_MULTIPLE);
  private xfer: Xfer = Xfer.None;
  private bufPos = 0;
  private bufLen = 0;
  private xferLba = 0;
  private xferLeft = 0; // sectors left, current block included
  private blockSectors = 1;
  private xferIsIdentify = false;

  /** A disk on `opts.image`. */
  constructor(opts: AtaOptions) {
    this.image = opts.image;
    this.irq = opts.irq;
    this.log = opts.log ?? ((m) => console.error(m));
    this.model = opts.model ?? 'PVISOR ATA DISK';
    this.serial = opts.serial ?? 'PV00000001';
    this.firmware = opts.firmware ?? '1.0';
    this.base = opts.base ?? ATA_PRIMARY_BASE;
    this.ctlPort = opts.ctlPort ?? ATA_PRIMARY_CTL;
    this.sectors = Math.floor(opts.image.size / SECTOR);
    this.signature();
  }

  /** Registers the data port (8/16/32-bit), the other command block ports and the control port. */
  register(bus: PortBus): PortMapping[] {
    return [
      bus.register({ name: 'ata0-data', base: this.base, length: 1, device: this, sizes: [1, 2, 4] }),
      bus.register({ name: 'ata0', base: this.base + 1, length: 7, device: this }),
      bus.register({ name: 'ata0-ctl', base: this.ctlPort, length: 1, device: this }),
    ];
  }

  /** CHS translation for IDENTIFY words 1/3/6 and 54–58. */
  private get cylinders(): number {
    return Math.min(16383, Math.floor(this.sectors / (this.heads * this.spt)));
  }

  private get dev1(): boolean {
    return (this.device & DEV_DEV) !== 0;
  }

  private updateIrq(): void {
    // INTRQ is driven only by the selected device and only while nIEN = 0.
    this.irq.set(this.intrq && (this.devctl & CTL_NIEN) === 0 && !this.dev1);
  }

  private raise(): void {
    this.intrq = true;
    this.updateIrq();
  }

  private statusValue(): number {
    if (this.dev1) return 0; // device 1 absent: device 0 answers 00h for it
    return this.status;
  }

  // -- port I/O ----------------------------------------------------------------------------

  /** See {@link PortDevice.read}. */
  read(port: number, size: AccessSize): number {
    if (port === this.ctlPort) return this.statusValue(); // alternate status: INTRQ untouched
    const hob = (this.devctl & CTL_HOB) !== 0;
    switch (port - this.base) {
      case 0:
        return this.readData(size);
      case 1:
        return this.error; // the Error register has no previous content (not a FIFO)
      case 2:
        return this.count.read(hob);
      case 3:
        return this.lbaLo.read(hob);
      case 4:
        return this.lbaMid.read(hob);
      case 5:
        return this.lbaHi.read(hob);
      case 6:
        return this.device;
      case 7: {
        const s = this.statusValue();
        if (!this.dev1) {
          this.intrq = false; // reading Status clears the pending interrupt
          this.updateIrq();
        }
        return s;
      }
      default:
        return 0xff;
    }
  }

  /** See {@link PortDevice.write}. */
  write(port: number, size: AccessSize, v: number): void {
    if (port === this.ctlPort) {
      this.writeDevctl(v & 0xff);
      return;
    }
    if (this.resetting) return; // BSY: the command block is not accepted
    const off = port - this.base;
    if (off === 0) {
      this.writeData(size, v);
      return;
    }
    // "HOB shall be cleared to zero by a write to any Command Block register."
    this.devctl &= ~CTL_HOB;
    switch (off) {
      case 1:
        this.features.write(v);
        return;
      case 2:
        this.count.write(v);
        return;
      case 3:
        this.lbaLo.write(v);
        return;
      case 4:
        this.lbaMid.write(v);
        return;
      case 5:
        this.lbaHi.write(v);
        return;
      case 6:
        this.device = v & 0xff;
        this.updateIrq();
        return;
      case 7:
        this.command(v & 0xff);
        return;
      default:
        return;
    }
  }

  /** See {@link PortDevice.readString}: `dst.length / size` data-port reads. */
  readString(port: number, size: AccessSize, dst: Uint8Array): void {
    if (port !== this.base) {
      for (let i = 0; i + size <= dst.length; i += size) putLe(dst, i, size, this.read(port, size));
      return;
    }
    let i = 0;
    while (i < dst.length) {
      if (this.xfer !== Xfer.In || this.dev1) {
        dst.fill(0xff, i);
        return;
      }
      const n = Math.min(dst.length - i, this.bufLen - this.bufPos);
      dst.set(this.buf.subarray(this.bufPos, this.bufPos + n), i);
      i += n;
      this.bufPos += n;
      if (this.bufPos >= this.bufLen) this.blockDone();
    }
  }

  /** See {@link PortDevice.writeString}: `src.length / size` data-port writes. */
  writeString(port: number, size: AccessSize, src: Uint8Array): void {
    if (port !== this.base) {
      for (let i = 0; i + size <= src.length; i += size) this.write(port, size, getLe(src, i, size));
      return;
    }
    let i = 0;
    while (i < src.length) {
      if (this.xfer !== Xfer.Out || this.dev1) return;
      const n = Math.min(src.length - i, this.bufLen - this.bufPos);
      this.buf.set(src.subarray(i, i + n), this.bufPos);
      i += n;
      this.bufPos += n;
      if (this.bufPos >= this.bufLen) this.blockDone();
    }
  }

  private readData(size: AccessSize): number {
    if (this.xfer !== Xfer.In || this.dev1) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    const b = this.buf;
    const p = this.bufPos;
    let v: number;
    if (size === 4) {
      v = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
      this.bufPos += 4;
    } else {
      // An 8-bit access is still one 16-bit DIOR- cycle: the word is consumed.
      v = size === 2 ? b[p]! | (b[p + 1]! << 8) : b[p]!;
      this.bufPos += 2;
    }
    if (this.bufPos >= this.bufLen) this.blockDone();
    return v;
  }

  private writeData(size: AccessSize, v: number): void {
    if (this.xfer !== Xfer.Out || this.dev1) return;
    const b = this.buf;
    const p = this.bufPos;
    b[p] = v & 0xff;
    b[p + 1] = size === 1 ? 0 : (v >>> 8) & 0xff;
    if (size === 4) {
      b[p + 2] = (v >>> 16) & 0xff;
      b[p + 3] = (v >>> 24) & 0xff;
      this.bufPos += 4;
    } else {
      this.bufPos += 2;
    }
    if (this.bufPos >= this.bufLen) this.blockDone();
  }

  private writeDevctl(v: number): void {
    const wasReset = (this.devctl & CTL_SRST) !== 0;
    this.devctl = v;
    const srst = (v & CTL_SRST) !== 0;
    if (srst && !wasReset) {
      // Software reset asserted: BSY, any command aborted.
      this.resetting = true;
      this.xfer = Xfer.None;
      this.status = ST_BSY;
      this.intrq = false;
    } else if (!srst && wasReset) {
      // Reset released: the device runs its diagnostics and posts the signature.
      this.resetting = false;
      this.signature();
    }
    this.updateIrq();
  }

  /** Power-on / reset / diagnostic outputs: signature in the task file, error = 01h. */
  private signature(): void {
    this.status = ST_DRDY | ST_DSC;
    this.error = 0x01;
    this.count.cur = 1;
    this.lbaLo.cur = 1;
    this.lbaMid.cur = 0;
    this.lbaHi.cur = 0;
    this.device = 0;
    this.xfer = Xfer.None;
  }

  // -- commands ----------------------------------------------------------------------------

  private command(op: number): void {
    if (this.dev1 && op !== CMD.EXECUTE_DIAGNOSTIC) return; // device 1 absent: ignored
    this.stats.commands++;
    // Writing the command register clears a pending interrupt and abandons a transfer.
    this.intrq = false;
    this.xfer = Xfer.None;
    this.error = 0;
    this.status = ST_DRDY | ST_DSC;
    this.updateIrq();
    switch (op) {
      case CMD.IDENTIFY:
        this.identify();
        return;
      case CMD.READ_SECTORS:
      case CMD.READ_SECTORS_NR:
        this.startTransfer(Xfer.In, false, 1);
        return;
      case CMD.READ_SECTORS_EXT:
        this.startTransfer(Xfer.In, true, 1);
        return;
      case CMD.READ_MULTIPLE:
      case CMD.READ_MULTIPLE_EXT:
        if (this.multiple === 0) return this.abort();
        this.startTransfer(Xfer.In, op === CMD.READ_MULTIPLE_EXT, this.multiple);
        return;
      case CMD.WRITE_SECTORS:
      case CMD.WRITE_SECTORS_NR:
        this.startTransfer(Xfer.Out, false, 1);
        return;
      case CMD.WRITE_SECTORS_EXT:
        this.startTransfer(Xfer.Out, true, 1);
        return;
      case CMD.WRITE_MULTIPLE:
      case CMD.WRITE_MULTIPLE_EXT:
        if (this.multiple === 0) return this.abort();
        this.startTransfer(Xfer.Out, op === CMD.WRITE_MULTIPLE_EXT, this.multiple);
        return;
      case CMD.READ_VERIFY:
      case CMD.READ_VERIFY_NR:
      case CMD.READ_VERIFY_EXT: {
        const a = this.address(op === CMD.READ_VERIFY_EXT);
        if (a !== undefined) this.raise();
        return;
      }
      case CMD.SET_MULTIPLE: {
        // ATA-6: block sizes are powers of two up to IDENTIFY word 47; anything else aborts.
        // A count of 0 disables multiple mode.
        const n = this.count.cur;
        if (n !== 0 && (n > MAX_MULTIPLE || (n & (n - 1)) !== 0)) return this.abort();
        this.multiple = n;
        this.raise();
        return;
      }
      case CMD.FLUSH_CACHE:
      case CMD.FLUSH_CACHE_EXT:
        try {
          this.image.flush();
        } catch (e) {
          this.hostError('flush', 0, e, false);
          return;
        }
        this.raise();
        return;
      case CMD.EXECUTE_DIAGNOSTIC:
        this.signature();
        this.raise();
        return;
      case CMD.INIT_DEVICE_PARAMS: {
        const spt = this.count.cur;
        if (spt === 0) return this.abort();
        this.spt = spt;
        this.heads = (this.device & 0x0f) + 1;
        this.raise();
        return;
      }
      case CMD.SET_FEATURES:
        this.setFeatures();
        return;
      case CMD.CHECK_POWER_MODE:
        this.count.cur = 0xff; // active or idle
        this.raise();
        return;
      case CMD.IDLE_IMMEDIATE:
      case CMD.STANDBY_IMMEDIATE:
        this.raise();
        return;
      default:
        this.abort();
    }
  }

  private setFeatures(): void {
    switch (this.features.cur) {
      case 0x02: // enable write cache
        this.writeCache = true;
        break;
      case 0x82: // disable write cache
        this.writeCache = false;
        break;
      case 0x03: {
        // Set transfer mode: only PIO default (00h/01h) and PIO flow control modes 0–4 (08h–0Ch).
        const m = this.count.cur;
        if (!(m === 0 || m === 1 || (m >= 0x08 && m <= 0x0c))) return this.abort();
        break;
      }
      case 0x66: // disable reverting to power-on defaults
      case 0xcc: // enable reverting to power-on defaults
        break;
      default:
        return this.abort();
    }
    this.raise();
  }

  private abort(): void {
    this.fail(ERR_ABRT);
  }

  private fail(err: number, df = false): void {
    this.xfer = Xfer.None;
    this.error = err;
    this.status = ST_DRDY | ST_DSC | ST_ERR | (df ? ST_DF : 0);
    this.raise();
  }

  /**
   * The command's starting LBA and sector count, or undefined after failing it with IDNF when
   * the range is outside the user-addressable sectors.
   */
  private address(ext: boolean): { lba: number; count: number } | undefined {
    let lba: number;
    let count: number;
    if (ext) {
      lba = this.lbaLo.cur + this.lbaMid.cur * 0x100 + this.lbaHi.cur * 0x10000 + this.lbaLo.prev * 0x1000000 + this.lbaMid.prev * 0x100000000 + this.lbaHi.prev * 0x10000000000;
      count = this.count.cur | (this.count.prev << 8);
      if (count === 0) count = 0x10000;
    } else {
      count = this.count.cur === 0 ? 256 : this.count.cur;
      if (this.device & DEV_LBA) {
        lba = this.lbaLo.cur | (this.lbaMid.cur << 8) | (this.lbaHi.cur << 16) | ((this.device & 0x0f) << 24);
      } else {
        const cyl = this.lbaMid.cur | (this.lbaHi.cur << 8);
        const head = this.device & 0x0f;
        const sec = this.lbaLo.cur;
        if (sec === 0 || sec > this.spt || head >= this.heads) {
          this.fail(ERR_IDNF);
          return undefined;
        }
        lba = (cyl * this.heads + head) * this.spt + sec - 1;
      }
    }
    if (lba + count > this.sectors) {
      this.fail(ERR_IDNF);
      return undefined;
    }
    return { lba, count };
  }

  private startTransfer(dir: Xfer, ext: boolean, blockSectors: number): void {
    const a = this.address(ext);
    if (a === undefined) return;
    if (dir === Xfer.Out && this.image.readOnly) return this.abort();
    this.xfer = dir;
    this.xferIsIdentify = false;
    this.xferLba = a.lba;
    this.xferLeft = a.count;
    this.blockSectors = blockSectors;
    this.nextBlock(dir === Xfer.In);
  }

  /** Sets up the next DRQ block: reads it in (data-in) and asserts DRQ. */
  private nextBlock(interrupt: boolean): void {
    const n = Math.min(this.blockSectors, this.xferLeft);
    this.bufPos = 0;
    this.bufLen = n * SECTOR;
    if (this.xfer === Xfer.In) {
      try {
        this.image.read(this.xferLba * SECTOR, this.buf.subarray(0, this.bufLen));
      } catch (e) {
        this.hostError('read', this.xferLba, e, true);
        return;
      }
      this.stats.sectorsRead += n;
    }
    this.status = ST_DRDY | ST_DSC | ST_DRQ;
    if (interrupt) this.raise();
  }

  /** The host moved the last byte of the current DRQ block. */
  private blockDone(): void {
    if (this.xferIsIdentify) {
      this.xfer = Xfer.None;
      this.status = ST_DRDY | ST_DSC;
      return;
    }
    const n = this.bufLen / SECTOR;
    if (this.xfer === Xfer.Out) {
      try {
        this.image.write(this.xferLba * SECTOR, this.buf.subarray(0, this.bufLen));
      } catch (e) {
        this.hostError('write', this.xferLba, e, false);
        return;
      }
      this.stats.sectorsWritten += n;
    }
    this.xferLba += n;
    this.xferLeft -= n;
    if (this.xferLeft > 0) {
      this.nextBlock(true);
      return;
    }
    const wasOut = this.xfer === Xfer.Out;
    this.xfer = Xfer.None;
    this.status = ST_DRDY | ST_DSC;
    if (wasOut) this.raise(); // data-out: completion interrupt; data-in: none after the last block
  }

  private hostError(op: string, lba: number, e: unknown, read: boolean): void {
    this.stats.hostErrors++;
    const msg = e instanceof Error ? e.message : String(e);
    this.log(`ata: host I/O error on ${op} at sector ${lba}: ${msg}`);
    if (read) this.fail(ERR_UNC);
    else this.fail(ERR_ABRT, true);
  }

  private identify(): void {
    this.buf.set(this.identifyData());
    this.xfer = Xfer.In;
    this.xferIsIdentify = true;
    this.bufPos = 0;
    this.bufLen = SECTOR;
    this.status = ST_DRDY | ST_DSC | ST_DRQ;
    this.raise();
  }

  /** The 512 bytes IDENTIFY DEVICE returns (256 little-endian words). */
  identifyData(): Uint8Array {
    const w = new Uint16Array(256);
    const cyl = this.cylinders;
    const lba28 = Math.min(this.sectors, 0x0fffffff);
    w[0] = 0x0040; // ATA device (bit 15 = 0), fixed
    w[1] = cyl;
    w[3] = this.heads;
    w[6] = this.spt;
    putString(w, 10, 20, this.serial);
    putString(w, 23, 8, this.firmware);
    putString(w, 27, 40, this.model);
    w[47] = 0x8000 | MAX_MULTIPLE; // bits 15–8 = 80h, 7–0 = max sectors per READ/WRITE MULTIPLE
    w[49] = 0x0200; // LBA supported (DMA not)
    w[50] = 0x4000; // bit 14 shall be one
    w[51] = 0x0200; // PIO data transfer cycle timing mode (obsolete): mode 2
    w[53] = 0x0001 | 0x0002; // words 54–58 and 64–70 valid
    w[54] = cyl;
    w[55] = this.heads;
    w[56] = this.spt;
    const chs = cyl * this.heads * this.spt;
    w[57] = chs & 0xffff;
    w[58] = (chs >>> 16) & 0xffff;
    w[59] = this.multiple !== 0 ? 0x0100 | this.multiple : 0; // bit 8: multiple setting valid
    w[60] = lba28 & 0xffff;
    w[61] = (lba28 >>> 16) & 0xffff;
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = 120;
    w[66] = 120;
    w[67] = 120;
    w[68] = 120;
    w[80] = 0x007e; // ATA-1 … ATA-6
    w[82] = 0x0020; // write cache supported
    w[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400; // bit 14 one; FLUSH CACHE EXT, FLUSH CACHE, 48-bit
    w[84] = 0x4000;
    w[85] = this.writeCache ? 0x0020 : 0;
    w[86] = 0x2000 | 0x1000 | 0x0400;
    w[87] = 0x4000;
    // Words 100–103: maximum user LBA for the 48-bit address feature set (64 bits).
    let s = this.sectors;
    for (let i = 100; i <= 103; i++) {
      w[i] = s % 0x10000;
      s = Math.floor(s / 0x10000);
    }
    const bytes = new Uint8Array(SECTOR);
    for (let i = 0; i < 255; i++) {
      bytes[2 * i] = w[i]! & 0xff;
      bytes[2 * i + 1] = w[i]! >> 8;
    }
    // Word 255: integrity word — signature A5h, then the checksum making all 512 bytes sum to 0.
    bytes[510] = 0xa5;
    let sum = 0;
    for (let i = 0; i < 511; i++) sum += bytes[i]!;
    bytes[511] = -sum & 0xff;
    return bytes;
  }
}

/** ATA strings: ASCII padded with spaces, two characters per word, the first in bits 15–8. */
function putString(w: Uint16Array, word: number, len: number, s: string): void {
  const t = s.padEnd(len, ' ').slice(0, len);
  for (let i = 0; i < len; i += 2) w[word + i / 2] = ((t.charCodeAt(i) & 0x7f) << 8) | (t.charCodeAt(i + 1) & 0x7f);
}
