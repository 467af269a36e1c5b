/**
 * A classic libpcap capture writer (the format `tcpdump -r` and Wireshark read), attachable to a
 * {@link VirtualSwitch} to record every frame it forwards.
 *
 * FORMAT (libpcap "pcap" file, all fields in the writer's byte order; we write little-endian,
 * which readers detect from the magic):
 * - global header, 24 bytes: magic_number u32 = 0xa1b2c3d4 (microsecond timestamps),
 *   version_major u16 = 2, version_minor u16 = 4, thiszone i32 = 0, sigfigs u32 = 0,
 *   snaplen u32 = 65535, network u32 = 1 (LINKTYPE_ETHERNET);
 * - per packet, a 16-byte record header: ts_sec u32, ts_usec u32, incl_len u32 (bytes saved,
 *   ≤ snaplen), orig_len u32 (bytes on the wire), then incl_len bytes of the frame.
 *
 * TIME comes from a supplied clock in nanoseconds — the domain's virtual time in the
 * deterministic engine — so the same run gives a byte-identical capture.
 *
 * HOST FAULTS: a failed file write (disk full) stops the capture and is reported once through
 * `log`; it never reaches the switch or the guest (DESIGN.md error class 3).
 * @module
 */
import * as fs from 'node:fs';
import type { SwitchPort, VirtualSwitch } from './switch.ts';

/** Magic of a microsecond-resolution pcap file. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** Major version written. */
export const PCAP_VERSION_MAJOR = 2;
/** Minor version written. */
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;
/** Default snapshot length. */
export const PCAP_DEFAULT_SNAPLEN = 65535;
/** Bytes of the global header. */
export const PCAP_GLOBAL_HEADER_LEN = 24;
/** Bytes of each packet record header. */
export const PCAP_RECORD_HEADER_LEN = 16;

/** A clock in nanoseconds (bigint or number). */
export type NsClock = () => bigint | number;

/** Options of {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** Timestamp source in nanoseconds (virtual time); default: always 0. */
  clock?: NsClock;
  /** Snapshot length: longer frames are cut to it (orig_len keeps the real length); default 65535. */
  snaplen?: number;
  /** Host log for a write failure (class 3); default `console.warn`. */
  log?: (line: string) => void;
}

/** Where the bytes go: a file descriptor (synchronous writes) or memory. */
type Output = { kind: 'fd'; fd: number } | { kind: 'memory'; chunks: Uint8Array[] };

/** Writes a pcap stream to a file or to memory. */
export class PcapWriter {
  /** Snapshot length in the global header. */
  readonly snaplen: number;
  /** Packets recorded. */
  packets = 0;
  /** Bytes of the stream so far (headers included). */
  bytesWritten = 0;
  /** Set when a host write failed; the capture has stopped. */
  failed: string | undefined;

  private readonly out: Output;
  private readonly clock: NsClock;
  private readonly logFn: (line: string) => void;
  private closed = false;
  private readonly hdr = new Uint8Array(PCAP_RECORD_HEADER_LEN);
  private readonly hdrView = new DataView(this.hdr.buffer);

  private constructor(out: Output, opts: PcapWriterOptions) {
    this.out = out;
    this.clock = opts.clock ?? (() => 0n);
    this.snaplen = Math.max(1, Math.min(opts.snaplen ?? PCAP_DEFAULT_SNAPLEN, 0x7fffffff));
    this.logFn = opts.log ?? ((l) => console.warn(l));
    this.put(pcapGlobalHeader(this.snaplen));
  }

  /** A writer to the file at `path` (created or truncated now; synchronous writes). Throws if it cannot be created. */
  static toFile(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter({ kind: 'fd', fd: fs.openSync(path, 'w') }, opts);
  }

  /** A writer collecting the stream in memory (see {@link PcapWriter.bytes}). */
  static inMemory(opts: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter({ kind: 'memory', chunks: [] }, opts);
  }

  /** Records one frame, timestamped now by the clock (or at `timeNs`). */
  write(frame: Uint8Array, timeNs?: bigint | number): void {
    if (this.closed || this.failed !== undefined) return;
    const raw = timeNs ?? this.clock();
    // A number clock may be fractional or garbage; BigInt() of a non-integer throws, and a
    // capture must never throw into the switch.
    const t = typeof raw === 'bigint' ? raw : Number.isFinite(raw) ? BigInt(Math.floor(raw)) : 0n;
    const ns = t < 0n ? 0n : t;
    const incl = Math.min(frame.length, this.snaplen);
    const v = this.hdrView;
    // ts_sec is a u32 (wraps in 2106 of virtual time); ts_usec < 1e6.
    v.setUint32(0, Number((ns / 1_000_000_000n) & 0xffffffffn), true);
    v.setUint32(4, Number((ns % 1_000_000_000n) / 1000n), true);
    v.setUint32(8, incl, true);
    v.setUint32(12, frame.length, true);
    // One record = header + data written together, so a failure never leaves half a record
    // whose length field would desynchronise a reader.
    const rec = new Uint8Array(PCAP_RECORD_HEADER_LEN + incl);
    rec.set(this.hdr, 0);
    rec.set(frame.subarray(0, incl), PCAP_RECORD_HEADER_LEN);
    if (this.put(rec)) this.packets++;
  }

  /**
   * Captures every frame `sw` accepts (once per frame, at ingress, before forwarding). Returns
   * a function that detaches the capture.
   */
  attach(sw: VirtualSwitch): () => void {
    return sw.addTap((frame: Uint8Array, _port: SwitchPort) => this.write(frame));
  }

  /** The whole stream so far (memory writers; a file writer returns an empty array). */
  bytes(): Uint8Array {
    if (this.out.kind !== 'memory') return new Uint8Array(0);
    const all = new Uint8Array(this.bytesWritten);
    let o = 0;
    for (const c of this.out.chunks) {
      all.set(c, o);
      o += c.length;
    }
    return all;
  }

  /** Closes the file (memory writers just stop). Later writes are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.out.kind === 'fd') {
      try {
        fs.closeSync(this.out.fd);
      } catch (e) {
        this.fail(e);
      }
    }
  }

  private put(b: Uint8Array): boolean {
    if (this.out.kind === 'memory') {
      this.out.chunks.push(b);
      this.bytesWritten += b.length;
      return true;
    }
    try {
      let o = 0;
      while (o < b.length) o += fs.writeSync(this.out.fd, b, o, b.length - o);
      this.bytesWritten += b.length;
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private fail(e: unknown): void {
    if (this.failed !== undefined) return;
    this.failed = e instanceof Error ? e.message : String(e);
    this.logFn(`pcap: capture stopped after ${this.packets} packets: ${this.failed}`);
  }
}

/** The 24-byte pcap global header (little-endian) for `snaplen` and Ethernet. */
export function pcapGlobalHeader(snaplen = PCAP_DEFAULT_SNAPLEN): Uint8Array {
  const b = new Uint8Array(PCAP_GLOBAL_HEADER_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, PCAP_MAGIC, true);
  v.setUint16(4, PCAP_VERSION_MAJOR, true);
  v.setUint16(6, PCAP_VERSION_MINOR, true);
  v.setInt32(8, 0, true); // thiszone: timestamps are UTC (here: virtual time since boot)
  v.setUint32(12, 0, true); // sigfigs: always 0 in practice
  v.setUint32(16, snaplen, true);
  v.setUint32(20, LINKTYPE_ETHERNET, true);
  return b;
}
