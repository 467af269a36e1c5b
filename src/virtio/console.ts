/**
 * virtio-console backend (virtio 1.2 §5.3, device ID 3): port 0 only, no VIRTIO_CONSOLE_F_MULTIPORT.
 *
 * QUEUES (§5.3.2): 0 = receiveq(port0), host → guest; 1 = transmitq(port0), guest → host. Without
 * MULTIPORT there are no control queues and no more ports.
 *
 * FEATURES (§5.3.3) offered: VIRTIO_CONSOLE_F_SIZE (0) — `cols`/`rows` are valid — and
 * VIRTIO_CONSOLE_F_EMERG_WRITE (2) unless disabled.
 *
 * CONFIG (§5.3.4): `struct virtio_console_config { le16 cols; le16 rows; le32 max_nr_ports;
 * le32 emerg_wr; }` — cols @0, rows @2, max_nr_ports @4 (MULTIPORT only; 0), emerg_wr @8. A
 * 32-bit write of a character to emerg_wr emits its low byte on the console at once.
 *
 * HOST SIDE: output goes to a {@link ConsoleSink} (the toolstack routes it to stdout, a file or a
 * Unix socket); input given to {@link VirtioConsole.input} waits in a bounded host buffer and is
 * written into receive buffers as the guest posts them (one interrupt per batch). Input is kept
 * across a device reset: it is the user's typing, not device state.
 *
 * ERRORS: a transmit chain the virtqueue refused is completed with length 0 and its bytes are
 * not emitted (error class 1); a sink that throws (disk full, socket closed) is a host fault:
 * the bytes are lost, one log line, the guest goes on (class 3).
 * @module
 */
import * as fs from 'node:fs';
import type { GuestMemory } from '../hv/memory.ts';
import { type FeatureWords, type VirtioBackend, type VirtioDeviceContext, VIRTIO_ID_CONSOLE, featureWords } from './device.ts';
import type { SplitQueue } from './virtqueue.ts';

/** VIRTIO_CONSOLE_F_SIZE: `cols` and `rows` are valid (§5.3.3). */
export const VIRTIO_CONSOLE_F_SIZE = 0;
/** VIRTIO_CONSOLE_F_MULTIPORT (§5.3.3). Not offered. */
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;
/** VIRTIO_CONSOLE_F_EMERG_WRITE: `emerg_wr` is valid (§5.3.3). */
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;

/** Offsets in `struct virtio_console_config` (§5.3.4). */
export const CONSOLE_CONFIG = {
  COLS: 0, // le16
  ROWS: 2, // le16
  MAX_NR_PORTS: 4, // le32 (MULTIPORT only)
  EMERG_WR: 8, // le32, write-only
  /** Size of the config space. */
  SIZE: 12,
} as const;

/** receiveq(port0): host → guest (§5.3.2). */
export const CONSOLE_RXQ = 0;
/** transmitq(port0): guest → host (§5.3.2). */
export const CONSOLE_TXQ = 1;

/** Where console output goes. `write` gets a private copy it may keep. */
export interface ConsoleSink {
  /** Guest output bytes, in order. May throw on a host I/O failure (the device logs it and goes on). */
  write(bytes: Uint8Array): void;
}

/** A sink that calls `fn` for every chunk of output. */
export function callbackSink(fn: (bytes: Uint8Array) => void): ConsoleSink {
  return { write: fn };
}

/** A sink that collects output in memory (tests, `pvisor run --console` capture). */
export class MemorySink implements ConsoleSink {
  private readonly chunks: Uint8Array[] = [];
  private total = 0;

  /** See {@link ConsoleSink.write}. */
  write(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.total += bytes.length;
  }

  /** Everything written so far, as one array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  /** Everything written so far, decoded as UTF-8. */
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/**
 * A sink over a file descriptor with synchronous writes (stdout is fd 1): output is on its way
 * before the guest's next instruction, so a crash report never loses the last lines.
 */
export function fdSink(fd: number): ConsoleSink {
  return {
    write(bytes) {
      let o = 0;
      while (o < bytes.length) o += fs.writeSync(fd, bytes, o, bytes.length - o);
    },
  };
}

/** A sink appending to the file at `path` (created or truncated now), synchronous writes. */
export function fileSink(path: string): ConsoleSink & { close(): void } {
  const fd = fs.openSync(path, 'w');
  const s = fdSink(fd);
  return { write: s.write, close: () => fs.closeSync(fd) };
}

/**
 * A sink over a Node writable stream (a `net.Socket` for `--console socket:PATH`). Writes are
 * asynchronous: a closed peer shows up as the stream's `error` event, which the owner of the
 * stream must handle (e.g. by switching the console back to a discarding sink with
 * {@link VirtioConsole.setSink}); nothing is thrown here.
 */
export function streamSink(stream: { write(chunk: Uint8Array): unknown }): ConsoleSink {
  return { write: (bytes) => void stream.write(bytes) };
}

/** Construction options of {@link VirtioConsole}. */
export interface VirtioConsoleOptions {
  /** Where output goes (a sink or a plain callback); default: discarded. */
  sink?: ConsoleSink | ((bytes: Uint8Array) => void);
  /** Console width reported in config (VIRTIO_CONSOLE_F_SIZE); default 80. */
  cols?: number;
  /** Console height reported in config; default 25. */
  rows?: number;
  /** Offer VIRTIO_CONSOLE_F_EMERG_WRITE; default true. */
  emergWrite?: boolean;
  /** QueueNumMax of both queues; default 64. */
  queueSize?: number;
  /** Bytes of host input held for the guest before new input is dropped; default 64 KiB. */
  inputLimit?: number;
}

/** Counters of a {@link VirtioConsole}. */
export interface VirtioConsoleStats {
  /** Bytes the guest wrote through the transmit queue. */
  txBytes: number;
  /** Bytes written through emerg_wr. */
  emergBytes: number;
  /** Bytes delivered into guest receive buffers. */
  rxBytes: number;
  /** Host input bytes dropped because the input buffer was full. */
  inputDropped: number;
  /** Chains the virtqueue refused (completed with length 0). */
  malformed: number;
  /** Sink failures (host faults; the bytes were lost). */
  hostErrors: number;
}

/** Largest chunk read out of one transmit chain at a time (a chain may describe up to 4 GiB). */
const TX_CHUNK = 64 * 1024;

/** The virtio-console device type (port 0 only). */
export class VirtioConsole implements VirtioBackend {
  /** See {@link VirtioBackend.deviceId}. */
  readonly deviceId = VIRTIO_ID_CONSOLE;
  /** See {@link VirtioBackend.kind}. */
  readonly kind = 'console';
  /** See {@link VirtioBackend.features}. */
  readonly features: FeatureWords;
  /** See {@link VirtioBackend.configSize}. */
  readonly configSize = CONSOLE_CONFIG.SIZE;
  /** See {@link VirtioBackend.queueMaxSizes}. */
  readonly queueMaxSizes: readonly number[];
  /** Capacity of the host input buffer in bytes. */
  readonly inputLimit: number;
  /** Counters. */
  readonly stats: VirtioConsoleStats = { txBytes: 0, emergBytes: 0, rxBytes: 0, inputDropped: 0, malformed: 0, hostErrors: 0 };

  private sink: ConsoleSink;
  private readonly emergWrite: boolean;
  private readonly config = new Uint8Array(CONSOLE_CONFIG.SIZE);
  private readonly configView = new DataView(this.config.buffer);
  private ctx: VirtioDeviceContext | undefined;
  private rxq: SplitQueue | undefined;
  private txq: SplitQueue | undefined;
  // Host input not yet delivered: chunks, the first one consumed from `inputOff`.
  private readonly inbuf: Uint8Array[] = [];
  private inputOff = 0;
  private inputBytes = 0;

  /** A console writing to `opts.sink`. */
  constructor(opts: VirtioConsoleOptions = {}) {
    this.sink = toSink(opts.sink);
    this.emergWrite = opts.emergWrite ?? true;
    this.features = featureWords(this.emergWrite ? [VIRTIO_CONSOLE_F_SIZE, VIRTIO_CONSOLE_F_EMERG_WRITE] : [VIRTIO_CONSOLE_F_SIZE]);
    const qs = opts.queueSize ?? 64;
    this.queueMaxSizes = [qs, qs];
    this.inputLimit = Math.max(1, opts.inputLimit ?? 64 * 1024);
    this.configView.setUint16(CONSOLE_CONFIG.COLS, (opts.cols ?? 80) & 0xffff, true);
    this.configView.setUint16(CONSOLE_CONFIG.ROWS, (opts.rows ?? 25) & 0xffff, true);
  }

  /** Replaces the output sink (e.g. when a socket client connects). */
  setSink(sink: ConsoleSink | ((bytes: Uint8Array) => void) | undefined): void {
    this.sink = toSink(sink);
  }

  /** Host input bytes waiting for guest receive buffers. */
  get pendingInput(): number {
    return this.inputBytes;
  }

  /**
   * Host input for the guest (keyboard, socket data). Queued up to `inputLimit` bytes — the rest
   * is dropped and counted, as a UART drops on overrun — then delivered into whatever receive
   * buffers the guest has posted. Returns the number of bytes accepted.
   */
  input(data: Uint8Array | string): number {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const n = Math.min(bytes.length, this.inputLimit - this.inputBytes);
    this.stats.inputDropped += bytes.length - n;
    if (n > 0) {
      this.inbuf.push(bytes.slice(0, n)); // our own copy: the caller may reuse its buffer
      this.inputBytes += n;
      this.processRx();
    }
    return n;
  }

  /** Sets the console size in config and signals a configuration change (§5.3.4: SIGWINCH-like). */
  resize(cols: number, rows: number): void {
    this.configView.setUint16(CONSOLE_CONFIG.COLS, cols & 0xffff, true);
    this.configView.setUint16(CONSOLE_CONFIG.ROWS, rows & 0xffff, true);
    this.ctx?.configChanged();
  }

  // --- VirtioBackend ---------------------------------------------------------------------------

  /** See {@link VirtioBackend.bind}. */
  bind(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  /** See {@link VirtioBackend.readConfig}. emerg_wr is write-only and reads as 0. */
  readConfig(offset: number, dst: Uint8Array): void {
    for (let i = 0; i < dst.length; i++) dst[i] = this.config[offset + i] ?? 0;
  }

  /**
   * See {@link VirtioBackend.writeConfig}. Only emerg_wr is writable: a write covering it emits
   * the low byte of the written le32 (§5.3.4: "a driver can use it to write a single character
   * to the console"). cols/rows/max_nr_ports are read-only and ignore writes.
   */
  writeConfig(offset: number, src: Uint8Array): void {
    if (!this.emergWrite) return;
    const at = CONSOLE_CONFIG.EMERG_WR - offset;
    if (at < 0 || at >= src.length) return;
    this.stats.emergBytes++;
    this.emit(Uint8Array.of(src[at]!));
  }

  /**
   * See {@link VirtioBackend.configWritableEarly}: the word holding emerg_wr (offset 8), when
   * EMERG_WRITE is offered. §5.3.4: "The device MUST allow a write to emerg_wr, even on an
   * unconfigured device."
   */
  configWritableEarly(offset: number): boolean {
    return this.emergWrite && offset <= CONSOLE_CONFIG.EMERG_WR && CONSOLE_CONFIG.EMERG_WR < offset + 4;
  }

  /** See {@link VirtioBackend.activate}. */
  activate(queues: readonly (SplitQueue | undefined)[], _mem: GuestMemory, _features: bigint): void {
    this.rxq = queues[CONSOLE_RXQ];
    this.txq = queues[CONSOLE_TXQ];
    this.processRx(); // input typed before the driver was up
  }

  /** See {@link VirtioBackend.reset}. Host input is kept (see the module comment). */
  reset(): void {
    this.rxq = this.txq = undefined;
  }

  /** See {@link VirtioBackend.queueNotify}. */
  queueNotify(index: number): void {
    if (index === CONSOLE_RXQ) this.processRx();
    else if (index === CONSOLE_TXQ) this.processTx();
  }

  // ---------------------------------------------------------------------------------------------

  /** Emits every transmit chain's readable bytes to the sink, in ring order. */
  private processTx(): void {
    const q = this.txq;
    if (q === undefined) return;
    q.disableNotifications();
    do {
      for (const c of q.popAll()) {
        if (c.error !== undefined) {
          this.stats.malformed++;
        } else {
          // §5.3.6.1 (Transmitting): the driver places output in transmitq buffers; every byte of
          // every readable descriptor is output (cloud-hypervisor #7802: not just the first one).
          for (let off = 0; off < c.readableLen; off += TX_CHUNK) {
            const chunk = new Uint8Array(Math.min(TX_CHUNK, c.readableLen - off));
            q.readChainInto(c, chunk, off);
            this.stats.txBytes += chunk.length;
            this.emit(chunk);
          }
        }
        // Output buffers are device-readable only: nothing written, used length 0 (§2.7.8).
        q.push(c.head, 0);
      }
      if (q.flush()) this.ctx?.usedBuffers(CONSOLE_TXQ);
    } while (q.enableNotifications());
  }

  /**
   * Fills posted receive buffers with pending input. Like virtio-net's receive side, it wants
   * available-buffer notifications only while input waits for buffers.
   */
  private processRx(): void {
    const q = this.rxq;
    if (q === undefined || this.inputBytes === 0) return;
    q.disableNotifications();
    do {
      while (this.inputBytes !== 0) {
        const c = q.pop();
        if (c === undefined) break;
        if (c.error !== undefined) {
          this.stats.malformed++;
          q.push(c.head, 0);
          continue;
        }
        // §5.3.6.1: input goes into receiveq buffers; a buffer may take part of the input, the
        // rest waits for the next one. Used length = bytes written (§2.7.8.2).
        let n = 0;
        while (n < c.writableLen && this.inputBytes !== 0) {
          const head = this.inbuf[0]!;
          const part = head.subarray(this.inputOff, this.inputOff + (c.writableLen - n));
          const w = q.writeChain(c, part, n);
          n += w;
          this.inputBytes -= w;
          this.inputOff += w;
          if (this.inputOff >= head.length) {
            this.inbuf.shift();
            this.inputOff = 0;
          }
          if (w < part.length) break; // a buffer went out of guest memory: stop at what fitted
        }
        this.stats.rxBytes += n;
        q.push(c.head, n);
      }
      if (q.flush()) this.ctx?.usedBuffers(CONSOLE_RXQ);
    } while (this.inputBytes !== 0 && q.enableNotifications());
  }

  /** Hands bytes to the sink; a failing sink is a host fault (class 3): log, count, go on. */
  private emit(bytes: Uint8Array): void {
    try {
      this.sink.write(bytes);
    } catch (e) {
      this.stats.hostErrors++;
      this.ctx?.log(`virtio-console: output sink failed, ${bytes.length} bytes lost: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

function toSink(s: ConsoleSink | ((bytes: Uint8Array) => void) | undefined): ConsoleSink {
  if (s === undefined) return { write: () => {} };
  return typeof s === 'function' ? callbackSink(s) : s;
}
