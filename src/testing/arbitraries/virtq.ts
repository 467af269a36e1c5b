/**
 * Arbitraries for virtqueue descriptor chains (virtio 1.x split rings), shared by pvisor's own
 * virtio tests and usable against any device backend:
 *
 * - {@link chainSpecArb}: well-formed chains as a driver would post them — device-readable
 *   buffers with their bytes, then device-writable buffer lengths, optionally in an indirect
 *   table. A driver mock (pvisor's is test/support/virtq-driver.ts) lays them out in memory.
 * - {@link chainShapeArb}: how a driver splits a request's data parts over descriptors (segments,
 *   direct or indirect), for device tests whose driver builds the chain itself.
 * - {@link malformedChainArb}: chains with exactly one driver MUST broken, each with the refusal
 *   it must get; {@link layoutMalformedChain} turns one into descriptors for a given queue.
 * - {@link rawDescriptorArb}: single raw descriptors as a hostile driver writes them — addresses
 *   past memory or past 2^32, zero and huge lengths, INDIRECT with anything, unknown flag bits,
 *   `next` out of range — for the "a corrupt ring never crashes the host" properties;
 *   {@link ringScribbleArb}: a whole round of such writes (descriptors, indirect tables, avail
 *   entries, indices, flags, event words).
 *
 * Everything here is plain data; no guest memory or driver is assumed.
 * @module
 */
import fc from 'fast-check';
import type { ChainErrorKind } from '../../virtio/errors.ts';

// Descriptor flags (virtio 1.2 §2.7.5).
const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;

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
  /**
   * Start of room for indirect tables, if any: {@link HOSTILE_TABLES}.count tables,
   * {@link HOSTILE_TABLES}.stride bytes apart, of up to {@link HOSTILE_TABLES}.entries entries.
   */
  readonly tables?: number;
  /** Queue size: `next` values are mostly around it. */
  readonly queueSize: number;
}

/**
 * Geometry of the indirect tables of a {@link RawDescriptorLayout}: raw descriptors aim at the
 * start of one of `count` tables `stride` bytes apart, with lengths of 1..`entries` descriptors;
 * {@link ringScribbleArb} writes entries 0..`entries`-1 of them.
 */
export const HOSTILE_TABLES = { count: 4, stride: 256, entries: 8 } as const;

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
      ...(tables !== undefined
        ? [{ arbitrary: fc.integer({ min: 0, max: HOSTILE_TABLES.count - 1 }).map((t) => tables + HOSTILE_TABLES.stride * t), weight: 2 }]
        : []),
      { arbitrary: fc.integer({ min: 0, max: l.memSize - 1 }), weight: 2 },
      { arbitrary: fc.integer({ min: l.memSize - 64, max: l.memSize + 64 }), weight: 1 },
      { arbitrary: fc.oneof(fc.integer({ min: 2 ** 32 - 64, max: 2 ** 32 + 64 }), fc.constant(2 ** 52)), weight: 1 },
    ),
    len: fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 600 }), weight: 6 },
      { arbitrary: fc.integer({ min: 1, max: HOSTILE_TABLES.entries }).map((k) => 16 * k), weight: 3 }, // table-sized
      { arbitrary: fc.constant(0), weight: 1 },
      { arbitrary: fc.constantFrom(2 ** 32 - 1, 2 ** 31, l.memSize, l.memSize - l.dataStart), weight: 1 },
    ),
    flags: fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 8 }, // NEXT/WRITE: mostly plausible chains
      { arbitrary: fc.integer({ min: 4, max: 7 }), weight: 3 }, // INDIRECT with anything
      { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }, // unknown bits too
    ),
    next: fc.oneof({ arbitrary: fc.integer({ min: 0, max: l.queueSize + 4 }), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
  });
}

/** One round of a hostile driver's writes to its queue, from {@link ringScribbleArb}. */
export interface RingScribble {
  /** Descriptor-table writes `[index, descriptor]`, index < the layout's queue size (skip those ≥ a smaller actual size). */
  descWrites: [number, RawDescriptor][];
  /** Indirect-table writes `[table, entry, descriptor]` into the layout's tables ({@link HOSTILE_TABLES}); empty without tables. */
  tableWrites: [number, number, RawDescriptor][];
  /** Heads for the avail slots from the current avail.idx on: mostly < the queue size, sometimes any u16. */
  heads: number[];
  /** How far to move avail.idx: mostly 0..queue size (reduce it modulo a smaller actual size + 1), sometimes any u16 jump. */
  availDelta: number;
  /** The used_event word (any u16). */
  usedEvent: number;
  /** avail.flags (any u16: NO_INTERRUPT and unknown bits). */
  availFlags: number;
}

/**
 * One round of hostile ring writes (the shape of rust-vmm's `virtio_queue` fuzz target): up to 12
 * descriptor writes and 8 indirect-table entry writes of {@link rawDescriptorArb} descriptors, up
 * to 12 avail entries, an avail.idx move, any used_event and avail.flags. Apply a round, let the
 * device pop and complete, check, repeat.
 */
export function ringScribbleArb(l: RawDescriptorLayout): fc.Arbitrary<RingScribble> {
  const desc = rawDescriptorArb(l);
  const q = l.queueSize;
  return fc.record({
    descWrites: fc.array(fc.tuple(fc.nat(q - 1), desc), { maxLength: 12 }),
    tableWrites:
      l.tables === undefined
        ? fc.constant([])
        : fc.array(fc.tuple(fc.nat(HOSTILE_TABLES.count - 1), fc.nat(HOSTILE_TABLES.entries - 1), desc), { maxLength: 8 }),
    heads: fc.array(fc.oneof({ arbitrary: fc.nat(q - 1), weight: 8 }, { arbitrary: fc.nat(0xffff), weight: 1 }), { maxLength: 12 }),
    availDelta: fc.oneof({ arbitrary: fc.integer({ min: 0, max: q }), weight: 20 }, { arbitrary: fc.nat(0xffff), weight: 1 }),
    usedEvent: fc.nat(0xffff),
    availFlags: fc.nat(0xffff),
  });
}

/** How a driver splits a request over descriptors, from {@link chainShapeArb}. */
export interface ChainShape {
  /** Descriptors each data part (device-readable payload, device-writable payload) is split over (>= 1). */
  segments: number;
  /** Put the chain in an indirect table. */
  indirect: boolean;
}

/** Options of {@link chainShapeArb}. */
export interface ChainShapeOptions {
  /** Most descriptors per data part (default 4). */
  readonly maxSegments?: number;
  /** Whether chains may be indirect (default true). */
  readonly indirect?: boolean;
}

/**
 * Chain shapes for device tests whose driver lays out the request itself (a header, payload
 * parts, a status byte): 1..maxSegments descriptors per part, direct or indirect. A device must
 * not depend on the framing (virtio 1.2 §2.6.4), so every shape must give the same result.
 */
export function chainShapeArb(opts: ChainShapeOptions = {}): fc.Arbitrary<ChainShape> {
  return fc.record({
    segments: fc.integer({ min: 1, max: opts.maxSegments ?? 4 }),
    indirect: opts.indirect === false ? fc.constant(false) : fc.boolean(),
  });
}

/**
 * The driver MUSTs {@link malformedChainArb} breaks, one per chain. The names are pvisor's
 * `ChainErrorKind`s; `total-length-overflow` is left out because it needs more than 4 GiB of
 * buffers inside guest memory.
 */
export type ChainFault = Exclude<ChainErrorKind, 'total-length-overflow'>;

/** Every {@link ChainFault}. */
export const CHAIN_FAULTS: readonly ChainFault[] = [
  'head-out-of-range',
  'next-out-of-range',
  'chain-too-long',
  'indirect-not-negotiated',
  'indirect-nested',
  'indirect-with-next',
  'indirect-bad-length',
  'indirect-out-of-memory',
  'indirect-next-out-of-range',
  'readable-after-writable',
  'buffer-out-of-memory',
  'zero-length',
];

/** Faults that need an indirect table in the chain. */
const TABLE_FAULTS: ReadonlySet<ChainFault> = new Set<ChainFault>([
  'indirect-not-negotiated',
  'indirect-nested',
  'indirect-with-next',
  'indirect-bad-length',
  'indirect-out-of-memory',
  'indirect-next-out-of-range',
]);

/**
 * A chain with exactly one driver MUST broken, and the refusal it must get (`fault`). Address-free:
 * {@link layoutMalformedChain} places it in a queue.
 */
export interface MalformedChainPlan {
  /** The rule broken, which is the refusal a conforming device reports. */
  readonly fault: ChainFault;
  /** The buffers in chain order before the corruption: length and whether device-writable. */
  readonly buffers: readonly { readonly len: number; readonly write: boolean }[];
  /** Whether buffers `[direct, …)` sit in an indirect table chained after the ring's `[0, direct)`. */
  readonly indirect: boolean;
  /** Buffers in the ring before the indirect descriptor (all of them without a table; fewer with one). */
  readonly direct: number;
  /** Whether the driver negotiates VIRTIO_F_INDIRECT_DESC (false only for `indirect-not-negotiated`). */
  readonly indirectFeature: boolean;
  /** Seed of the permutation of ring slots, so chains are not laid out in order. */
  readonly slotSeed: number;
  /** Which descriptor the corruption hits (modulo the candidates). */
  readonly pick: number;
  /** How far past its limit an out-of-range value is (modulo the room there is). */
  readonly offset: number;
  /** How far (1..15) an indirect table length is off a multiple of 16. */
  readonly misalign: number;
  /** Out of range far away (past 2^32, or a zero table length) rather than just past the end. */
  readonly far: boolean;
}

/** Options of {@link malformedChainArb}. */
export interface MalformedChainOptions {
  /** Faults to generate (default {@link CHAIN_FAULTS}). */
  readonly faults?: readonly ChainFault[];
  /** Most buffers before the corruption (default 8; `readable-after-writable` adds one). */
  readonly maxBuffers?: number;
  /** Longest buffer in bytes (default 300). */
  readonly maxBufferLen?: number;
}

/**
 * Malformed chains, each breaking exactly one rule of virtio 1.2 §2.7.5 (out-of-range head or
 * next, a loop, INDIRECT misuse of every kind, readable after writable, a buffer outside memory,
 * a zero length), over varied shapes: 1..maxBuffers buffers, readable then writable, direct or
 * split between ring and indirect table. The expected refusal comes with the input, so a device
 * test asserts `error === plan.fault`, used length 0, and that the queue goes on.
 */
export function malformedChainArb(opts: MalformedChainOptions = {}): fc.Arbitrary<MalformedChainPlan> {
  const faults = opts.faults ?? CHAIN_FAULTS;
  if (faults.length === 0) throw new Error('malformedChainArb: opts.faults is empty; list at least one ChainFault, or omit it for all');
  const maxBuffers = opts.maxBuffers ?? 8;
  return fc
    .record({
      fault: fc.constantFrom(...faults),
      lens: fc.array(fc.integer({ min: 1, max: opts.maxBufferLen ?? 300 }), { minLength: 1, maxLength: maxBuffers }),
      nWrite: fc.nat(maxBuffers),
      indirect: fc.boolean(),
      direct: fc.nat(maxBuffers),
      slotSeed: fc.nat(),
      pick: fc.nat(),
      offset: fc.integer({ min: 0, max: 0xfff0 }),
      misalign: fc.integer({ min: 1, max: 15 }),
      far: fc.boolean(),
    })
    .map((g): MalformedChainPlan => {
      // Normalise the shape so that the chosen rule is the only one broken.
      const fault = g.fault;
      let nWrite = Math.min(g.nWrite, g.lens.length);
      if (fault === 'readable-after-writable' && nWrite === 0) nWrite = 1;
      const buffers = g.lens.map((len, i) => ({ len, write: i >= g.lens.length - nWrite }));
      if (fault === 'readable-after-writable') buffers.push({ len: 7, write: false });
      let indirect = g.indirect || TABLE_FAULTS.has(fault);
      let direct = indirect ? g.direct % buffers.length : buffers.length; // the table is never empty
      // next-out-of-range corrupts a ring buffer descriptor, so keep at least one there.
      if (fault === 'next-out-of-range' && direct === 0) {
        indirect = false;
        direct = buffers.length;
      }
      const { slotSeed, pick, offset, misalign, far } = g;
      return { fault, buffers, indirect, direct, indirectFeature: fault !== 'indirect-not-negotiated', slotSeed, pick, offset, misalign, far };
    });
}

/** Where {@link layoutMalformedChain} may put things. */
export interface MalformedChainContext {
  /** Queue size (>= the plan's buffers + 1, so only the chosen rule can fail). */
  readonly queueSize: number;
  /** Bytes of guest memory. */
  readonly memSize: number;
  /** Allocates `len` bytes of guest memory, 16-aligned, inside memory; undefined when full. */
  alloc(len: number): number | undefined;
}

/** A {@link MalformedChainPlan} placed in a queue: write these, then publish `head`. */
export interface MalformedChainLayout {
  /** The avail ring entry to publish. */
  head: number;
  /** Descriptors for the ring's table, at `index`. */
  ring: { index: number; desc: RawDescriptor }[];
  /** The indirect table, when the plan has one: write `descs[i]` at `addr + 16 * i`. */
  table: { addr: number; descs: RawDescriptor[] } | undefined;
  /** The buffers allocated (before the corruption), in chain order: fill them as you like. */
  buffers: { addr: number; len: number }[];
}

/**
 * Lays a {@link MalformedChainPlan} out: buffers and table from `ctx.alloc`, ring descriptors in
 * permuted slots, table entries 0, 1, 2, …, then the one corruption of `plan.fault`. Throws when
 * the queue is too small for the plan or the allocator runs out (test set-up errors, not device
 * behaviour).
 */
export function layoutMalformedChain(plan: MalformedChainPlan, ctx: MalformedChainContext): MalformedChainLayout {
  const size = ctx.queueSize;
  if (!Number.isInteger(size) || size < plan.buffers.length + 1 || size > 32768) {
    throw new Error(
      `layoutMalformedChain: ctx.queueSize ${size} cannot hold ${plan.buffers.length} buffers plus an indirect descriptor; use a queue size of at least ${plan.buffers.length + 1} and at most 32768, or a smaller maxBuffers`,
    );
  }
  const alloc = (len: number, what: string): number => {
    const a = ctx.alloc(len);
    if (a === undefined) throw new Error(`layoutMalformedChain: ctx.alloc(${len}) for ${what} found no room; give the allocator more memory`);
    return a;
  };
  // Descriptor slots: a seeded Fisher-Yates permutation (LCG), so chains are not laid out in order.
  const slots = Array.from({ length: size }, (_, i) => i);
  for (let i = slots.length - 1, x = plan.slotSeed >>> 0; i > 0; i--) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const j = x % (i + 1);
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  const raw: RawDescriptor[] = plan.buffers.map((b, i) => ({ addr: alloc(b.len, `buffer ${i}`), len: b.len, flags: b.write ? WRITE : 0, next: 0 }));
  const buffers = raw.map((d) => ({ addr: d.addr, len: d.len }));
  const ring = raw.slice(0, plan.direct);
  const table = raw.slice(plan.direct);
  const tableAddr = plan.indirect ? alloc(16 * table.length, 'the indirect table') : 0;
  const ind: RawDescriptor | undefined = plan.indirect ? { addr: tableAddr, len: 16 * table.length, flags: INDIRECT, next: 0 } : undefined;
  // Link: ring descriptors through the permuted slots, table entries through 0, 1, 2, …
  const ringAll = ind === undefined ? ring : [...ring, ind];
  ringAll.forEach((d, i) => {
    if (i < ringAll.length - 1) {
      d.flags |= NEXT;
      d.next = slots[i + 1]!;
    }
  });
  table.forEach((d, i) => {
    if (i < table.length - 1) {
      d.flags |= NEXT;
      d.next = i + 1;
    }
  });
  let head = slots[0]!;
  const pickOf = <T>(xs: T[]): T => xs[plan.pick % xs.length]!;
  const past = (limit: number) => limit + (plan.offset % (65536 - limit)); // a u16 >= limit
  switch (plan.fault) {
    case 'head-out-of-range':
      head = past(size);
      break;
    case 'next-out-of-range': {
      const d = pickOf(ring);
      d.flags |= NEXT;
      d.next = past(size);
      break;
    }
    case 'indirect-next-out-of-range': {
      const d = pickOf(table);
      d.flags |= NEXT;
      d.next = past(table.length);
      break;
    }
    case 'chain-too-long': {
      // A loop back into the chain: a walk that never ends unless the device counts.
      const last = table.length > 0 ? table[table.length - 1]! : ring[ring.length - 1]!;
      last.flags |= NEXT;
      last.next = table.length > 0 ? plan.pick % table.length : slots[plan.pick % ring.length]!;
      break;
    }
    case 'indirect-not-negotiated':
      break; // the chain uses a table; the plan's driver does not negotiate the feature
    case 'indirect-nested': {
      const d = pickOf(table);
      d.flags = (d.flags & NEXT) | INDIRECT;
      d.addr = tableAddr;
      d.len = 16 * table.length;
      break;
    }
    case 'indirect-with-next':
      ind!.flags |= NEXT;
      ind!.next = slots[0]!;
      break;
    case 'indirect-bad-length':
      ind!.len = plan.far ? 0 : 16 * table.length + plan.misalign;
      break;
    case 'indirect-out-of-memory':
      ind!.addr = plan.far ? 2 ** 32 + tableAddr : ctx.memSize - 16 * table.length + 16 * (1 + (plan.offset % 64));
      break;
    case 'readable-after-writable':
      break; // built into the plan: its last buffer is readable and follows a writable one
    case 'buffer-out-of-memory': {
      const d = pickOf(raw);
      d.addr = plan.far ? d.addr + 2 ** 32 * (1 + (plan.offset % 1000)) : ctx.memSize - d.len + 1 + (plan.offset % 4096);
      break;
    }
    case 'zero-length':
      pickOf(raw).len = 0;
      break;
  }
  return {
    head,
    ring: ringAll.map((desc, i) => ({ index: slots[i]!, desc })),
    table: ind === undefined ? undefined : { addr: tableAddr, descs: table },
    buffers,
  };
}
