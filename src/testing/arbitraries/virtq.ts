/**
 * Arbitraries for virtqueue descriptor chains (virtio 1.x split rings), shared by pvisor's own
 * virtio tests and usable against any device backend:
 *
 * - {@link chainSpecArb}: well-formed chains as a driver would post them — device-readable
 *   buffers with their bytes, then device-writable buffer lengths, optionally in an indirect
 *   table. A driver mock (pvisor's is test/support/virtq-driver.ts) lays them out in memory.
 * - {@link rawDescriptorArb}: single raw descriptors as a hostile driver writes them — addresses
 *   past memory or past 2^32, zero and huge lengths, INDIRECT with anything, unknown flag bits,
 *   `next` out of range — for the "a corrupt ring never crashes the host" properties.
 * @module
 */
import fc from 'fast-check';

/** A well-formed chain: what it carries, not where. */
export interface DescriptorChainSpec {
  /** Device-readable buffers, in order, each with its contents (length >= 1). */
  readable: Uint8Array[];
  /** Lengths of device-writable buffers, in order (each >= 1). */
  writable: number[];
  /** Put the buffers in an indirect table (one ring descriptor). */
  indirect: boolean;
}

/** Options of {@link chainSpecArb}. */
export interface ChainSpecOptions {
  /** Longest buffer in bytes (default 96). */
  readonly maxBufferLen?: number;
  /** Most readable and most writable buffers each (default 3). */
  readonly maxBuffers?: number;
  /** Whether chains may be indirect (default true). */
  readonly indirect?: boolean;
}

/**
 * Well-formed descriptor chains: 0..maxBuffers readable buffers (random contents) followed by
 * 0..maxBuffers writable ones, never empty ("a chain has at least one descriptor"), indirect or
 * not. Readable-before-writable is the order virtio 1.x §2.7.4.2 requires of a driver.
 */
export function chainSpecArb(opts: ChainSpecOptions = {}): fc.Arbitrary<DescriptorChainSpec> {
  const maxLen = opts.maxBufferLen ?? 96;
  const maxBuffers = opts.maxBuffers ?? 3;
  return fc
    .record({
      readable: fc.array(fc.uint8Array({ minLength: 1, maxLength: maxLen }), { maxLength: maxBuffers }),
      writable: fc.array(fc.integer({ min: 1, max: maxLen }), { maxLength: maxBuffers }),
      indirect: opts.indirect === false ? fc.constant(false) : fc.boolean(),
    })
    .filter((s) => s.readable.length + s.writable.length > 0);
}

/** A raw split-ring descriptor as a driver writes it; `addr` is a le64 and may exceed 2^32. */
export interface RawDescriptor {
  /** Buffer address. */
  addr: number;
  /** Buffer length (u32). */
  len: number;
  /** Flags (u16): NEXT = 1, WRITE = 2, INDIRECT = 4, anything else unknown. */
  flags: number;
  /** Next descriptor index (u16). */
  next: number;
}

/** Where the hostile descriptors of {@link rawDescriptorArb} aim. */
export interface RawDescriptorLayout {
  /** Bytes of guest memory. */
  readonly memSize: number;
  /** The data area ordinary buffers live in, [dataStart, dataEnd). */
  readonly dataStart: number;
  /** End of the data area. */
  readonly dataEnd: number;
  /** Start of room for indirect tables (four tables of 256 bytes from here), if any. */
  readonly tables?: number;
  /** Queue size: `next` values are mostly around it. */
  readonly queueSize: number;
}

/**
 * Raw descriptors, mostly plausible (in the data area, NEXT/WRITE flags, small lengths, `next`
 * near the queue size) and sometimes hostile: addresses anywhere in or just past memory or near
 * 2^32 and 2^52, lengths 0, 2^31, 2^32 - 1 or the whole memory, INDIRECT with any other bits,
 * unknown flags, any u16 `next`.
 */
export function rawDescriptorArb(l: RawDescriptorLayout): fc.Arbitrary<RawDescriptor> {
  const tables = l.tables;
  return fc.record({
    addr: fc.oneof(
      { arbitrary: fc.integer({ min: l.dataStart, max: l.dataEnd - 1 }), weight: 6 },
      ...(tables !== undefined ? [{ arbitrary: fc.integer({ min: 0, max: 3 }).map((t) => tables + 256 * t), weight: 2 }] : []),
      { arbitrary: fc.integer({ min: 0, max: l.memSize - 1 }), weight: 2 },
      { arbitrary: fc.integer({ min: l.memSize - 64, max: l.memSize + 64 }), weight: 1 },
      { arbitrary: fc.oneof(fc.integer({ min: 2 ** 32 - 64, max: 2 ** 32 + 64 }), fc.constant(2 ** 52)), weight: 1 },
    ),
    len: fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 600 }), weight: 6 },
      { arbitrary: fc.integer({ min: 1, max: 8 }).map((k) => 16 * k), weight: 3 },
      { arbitrary: fc.constant(0), weight: 1 },
      { arbitrary: fc.constantFrom(2 ** 32 - 1, 2 ** 31, l.memSize, l.memSize - l.dataStart), weight: 1 },
    ),
    flags: fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 8 },
      { arbitrary: fc.integer({ min: 4, max: 7 }), weight: 3 },
      { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 },
    ),
    next: fc.oneof({ arbitrary: fc.integer({ min: 0, max: l.queueSize + 4 }), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
  });
}
