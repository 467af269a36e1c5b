/**
 * fast-check arbitraries for every hypercall of the ABI, in three flavours:
 *
 * - **valid**: well-formed arguments — numbers in range, enums that exist, pointers to buffers
 *   inside the caller's scratch area with sensible contents. Whether the call then succeeds can
 *   still depend on the state (is the port bound?); for state-aware sequences use
 *   {@link modelRun}.
 * - **boundary**: the edges the spec names — sizes 0 and the maximum, buffers ending exactly at
 *   the end of memory or straddling a page, the last port, the last vCPU.
 * - **hostile**: what a malicious guest passes — wild and wrapping pointers, buffers overlapping
 *   shared_info or each other, closed ports, other domains' ports, out-of-range enums, negative
 *   counts, nested multicalls.
 *
 * Each value is a {@link HypercallInput}: the call number, the raw i32 arguments and the guest
 * memory to write before the call. Feed it to a host ({@link HostUnderTest.writeMem} then
 * {@link HostUnderTest.call}), to the model (`step` over a memory holding the writes) or to
 * {@link hostileGuest}.
 * @module
 */
import fc from 'fast-check';
import {
  CALLS,
  CONSOLE_IO_MAX,
  CMDLINE_MAX,
  DOMCTL_ATTACH_DEVICE,
  DOMCTL_CREATE,
  DOMCTL_PHYSINFO,
  MAX_DEVICES,
  SIF_PRIVILEGED,
  DOMCTL_DESTROY,
  DOMCTL_DETACH_DEVICE,
  DOMCTL_GETINFO,
  DOMCTL_INTERFACE_VERSION,
  DOMCTL_LIST,
  DOMCTL_OP_SIZE,
  DOMCTL_PAUSE,
  DOMCTL_REQUEST_SHUTDOWN,
  DOMCTL_SET_MAX_MEM,
  DOMCTL_SET_MEMORY_TARGET,
  DOMCTL_SET_VCPUS,
  DOMCTL_UNPAUSE,
  DOMID_SELF,
  EVTCHN_STATUS_SIZE,
  FEATURE_EVTCHN_2LEVEL,
  FEATURE_TIME_RECORD,
  FEATURE_VCPU_HOTPLUG,
  GNTCOPY_DEST_GREF,
  GNTCOPY_SOURCE_GREF,
  GRANT_COPY_MAX,
  GRANT_COPY_OP_SIZE,
  GRANT_ENTRY_V1_SIZE,
  GRANT_FRAME_SIZE,
  GRANT_TABLE_MAX,
  GTF_PERMIT_ACCESS,
  GTF_READONLY,
  Hc,
  MAX_VCPUS,
  MULTICALL_ENTRY_OFF,
  MULTICALL_ENTRY_SIZE,
  MULTICALL_MAX,
  NR_EVENT_CHANNELS,
  POLL_MAX_PORTS,
  SHARED_INFO_SIZE,
  SHUTDOWN_CRASH,
  SHUTDOWN_POWEROFF,
  SHUTDOWN_REBOOT,
  VIRQ_CONSOLE,
  VIRQ_TIMER,
  WALLCLOCK_SIZE,
  type HcName,
} from '../../abi/generated/index.ts';
import { encodeDomctlCreate, encodeDomctlOp, encodeGrantCopyOp, encodeGrantEntry, type GrantCopyPtr } from '../../../spec/model/index.ts';
import { FAKE_GUEST_IMAGE } from '../fake-image.ts';

/** A guest memory write made before a call (an argument buffer). */
export interface MemoryWrite {
  /** Guest address. */
  readonly addr: number;
  /** The bytes. */
  readonly bytes: Uint8Array;
}

/** One hypercall ready to make: number, raw i32 arguments, and the buffers it reads. */
export interface HypercallInput {
  /** Call name (from spec/abi.json). */
  readonly name: HcName;
  /** Call number. */
  readonly nr: number;
  /** Raw arguments a0.. as i32 (unused slots may be left out). */
  readonly args: readonly number[];
  /** Guest memory to write first (all inside the caller's memory). */
  readonly memory: readonly MemoryWrite[];
}

/** The three flavours of one call's arbitraries. */
export interface CallArbitraries {
  /** Well-formed arguments. */
  readonly valid: fc.Arbitrary<HypercallInput>;
  /** Edges the spec names: sizes 0 and max, end of memory, page edges, last port, last vCPU. */
  readonly boundary: fc.Arbitrary<HypercallInput>;
  /** Wild pointers, overlapping buffers, closed or foreign ports, bad enums. */
  readonly hostile: fc.Arbitrary<HypercallInput>;
}

/** Which flavour of arbitrary. */
export type Flavour = keyof CallArbitraries;

/** What the arbitraries know of the caller's world. */
export interface ArbitraryContext {
  /** Bytes of the caller's memory. */
  readonly memSize: number;
  /** vCPUs of the caller's domain. */
  readonly nrVcpus: number;
  /** The caller's domain id. */
  readonly self: number;
  /** Ids of the other domains (default none). */
  readonly others?: readonly number[];
  /** Ports known to be bound in the caller's domain (default: small port numbers 1..8). */
  readonly ports?: readonly number[];
  /** Ports bound in other domains, for "someone else's port" (default: small numbers). */
  readonly foreignPorts?: readonly number[];
  /** Start of a scratch area for argument buffers (default 0x1000). */
  readonly scratch?: number;
  /** Bytes of the scratch area (default 16 KiB, or less in a small memory). */
  readonly scratchSize?: number;
  /** Guest address of shared_info (default: memSize - 2 pages, as the host places it). */
  readonly sharedInfo?: number;
  /** Current system time in ns, for deadlines (default 0). */
  readonly now?: number;
}

const PAGE = 4096;

interface Ctx {
  readonly memSize: number;
  readonly nrVcpus: number;
  readonly self: number;
  readonly others: readonly number[];
  readonly ports: readonly number[];
  readonly foreignPorts: readonly number[];
  readonly scratch: number;
  readonly scratchSize: number;
  readonly sharedInfo: number;
  readonly now: number;
}

function resolve(c: ArbitraryContext): Ctx {
  const scratch = c.scratch ?? 0x1000;
  return {
    memSize: c.memSize,
    nrVcpus: c.nrVcpus,
    self: c.self,
    others: c.others ?? [],
    ports: c.ports !== undefined && c.ports.length > 0 ? c.ports : [1, 2, 3, 4, 5, 6, 7, 8],
    foreignPorts: c.foreignPorts !== undefined && c.foreignPorts.length > 0 ? c.foreignPorts : [1, 2, 3],
    scratch,
    scratchSize: c.scratchSize ?? Math.max(256, Math.min(16 * 1024, Math.floor(c.memSize / 4) - scratch)),
    sharedInfo: c.sharedInfo ?? c.memSize - 2 * PAGE,
    now: c.now ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Building blocks

function le32(...vs: number[]): Uint8Array {
  const out = new Uint8Array(4 * vs.length);
  const dv = new DataView(out.buffer);
  vs.forEach((v, i) => dv.setUint32(4 * i, v >>> 0, true));
  return out;
}

function le64(v: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  return out;
}

/** A call with no buffers. */
function input(name: HcName, args: readonly number[], memory: readonly MemoryWrite[] = []): HypercallInput {
  return { name, nr: Hc[name], args: args.map((a) => a | 0), memory };
}

/** A buffer of `len` bytes inside the scratch area (len <= scratchSize). */
function scratchPtr(c: Ctx, len: number): fc.Arbitrary<number> {
  const max = c.scratch + Math.max(0, c.scratchSize - len);
  return fc.integer({ min: c.scratch, max }).map((a) => a & ~3);
}

/** Edge placements of a `len`-byte buffer: ends exactly at the end of memory, straddles a page. */
function edgePtr(c: Ctx, len: number): fc.Arbitrary<number> {
  const straddle = c.scratch + PAGE - Math.max(1, len >> 1);
  return fc.constantFrom(c.memSize - len, straddle, c.scratch + PAGE);
}

/**
 * Pointers a hostile guest passes for a `len`-byte buffer: one byte past the end, the end itself,
 * far out, wrapping around 2^32, the top bit set, 0, and onto shared_info (in range, but the
 * host's own page).
 */
function wildPtr(c: Ctx, len: number): fc.Arbitrary<number> {
  return fc.constantFrom(
    c.memSize - len + 1,
    c.memSize,
    c.memSize + PAGE,
    0xffffffff | 0,
    (0x100000000 - Math.max(1, len >> 1)) | 0,
    0x80000000 | 0,
    0,
    c.sharedInfo,
    c.sharedInfo + SHARED_INFO_SIZE - 4,
  );
}

const anyI32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

/** Out-of-range or sign-flipped numbers for a u32 argument with valid values below `limit`. */
function badU32(limit: number): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(limit, limit + 1, -1, 0x7fffffff, 0x80000000 | 0), anyI32);
}

function vcpuArb(c: Ctx): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: c.nrVcpus - 1 });
}

function portArb(c: Ctx): fc.Arbitrary<number> {
  return fc.constantFrom(...c.ports);
}

function domArb(c: Ctx): fc.Arbitrary<number> {
  return fc.constantFrom(DOMID_SELF, c.self, ...c.others);
}

/** Ports no one is likely to have bound, and ports of other domains. */
function hostilePort(c: Ctx): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(0, NR_EVENT_CHANNELS - 1, NR_EVENT_CHANNELS, NR_EVENT_CHANNELS + 1, -1, 0x80000000 | 0),
    fc.constantFrom(...c.foreignPorts),
    anyI32,
  );
}

/** A deadline: armed in the future, already passed (fires at once) or 0 (cancel / no timeout). */
function deadlineArb(c: Ctx): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: c.now + 1, max: c.now + 1e9 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, c.now) },
  );
}

/** A buffer call: a pointer arbitrary plus the contents placed there when it is in range. */
function withBuffer(
  c: Ctx,
  ptr: fc.Arbitrary<number>,
  bytes: fc.Arbitrary<Uint8Array>,
  build: (addr: number, bytes: Uint8Array) => HypercallInput,
): fc.Arbitrary<HypercallInput> {
  return fc.tuple(ptr, bytes).map(([addr, b]) => {
    const inside = addr >= 0 && addr + b.length <= c.memSize;
    const r = build(addr, b);
    return inside ? { ...r, memory: [{ addr, bytes: b }, ...r.memory] } : r;
  });
}

// ---------------------------------------------------------------------------------------------
// Multicall batches

/** One multicall entry: op and five args. */
type Entry = readonly [op: number, args: readonly number[]];

function batchBytes(entries: readonly Entry[]): Uint8Array {
  const bytes = new Uint8Array(entries.length * MULTICALL_ENTRY_SIZE);
  entries.forEach(([op, args], i) => {
    const at = i * MULTICALL_ENTRY_SIZE;
    bytes.set(le32(op), at + MULTICALL_ENTRY_OFF.op);
    bytes.set(le32(0xdead), at + MULTICALL_ENTRY_OFF.result);
    bytes.set(le32(...[0, 1, 2, 3, 4].map((k) => args[k] ?? 0)), at + MULTICALL_ENTRY_OFF.args);
  });
  return bytes;
}

/** Entries that need no buffers of their own: safe inside any batch. */
function simpleEntry(c: Ctx): fc.Arbitrary<Entry> {
  return fc.oneof(
    fc.constant<Entry>([Hc.version, []]),
    fc.constant<Entry>([Hc.sched_yield, []]),
    portArb(c).map((p): Entry => [Hc.evtchn_send, [p]]),
    portArb(c).map((p): Entry => [Hc.evtchn_unmask, [p]]),
    vcpuArb(c).map((v): Entry => [Hc.evtchn_bind_ipi, [v]]),
    vcpuArb(c).map((v): Entry => [Hc.vcpu_is_up, [v]]),
    domArb(c).map((d): Entry => [Hc.evtchn_alloc_unbound, [d]]),
  );
}

function hostileEntry(c: Ctx, batchAt: number): fc.Arbitrary<Entry> {
  return fc.oneof(
    simpleEntry(c),
    // A nested multicall (EDEADLK), a blocking call (EDEADLK), an unknown op (ENOSYS).
    fc.constant<Entry>([Hc.multicall, [batchAt, 1]]),
    fc.constant<Entry>([Hc.sched_block, []]),
    fc.constantFrom<Entry>([0, []], [Hc.multicall + 1, []], [-1, []]),
    // evtchn_status writing over the batch itself (overlapping buffers).
    hostilePort(c).map((p): Entry => [Hc.evtchn_status, [p, batchAt]]),
    wildPtr(c, EVTCHN_STATUS_SIZE).map((p): Entry => [Hc.evtchn_status, [1, p]]),
  );
}

// ---------------------------------------------------------------------------------------------
// Grant tables

/**
 * Where the grant arbitraries put things in the scratch area: the caller's grant table (32
 * entries) at its end, the ops array just below it, and whole frames for the data below that.
 * A `grant_setup` valid input registers the table here, so a `grant_copy` made later in the same
 * program finds the entries it places.
 */
interface GrantLayout {
  /** Guest address of the grant table (4-byte aligned). */
  readonly table: number;
  /** Entries of the table a valid grant_setup registers at most. */
  readonly entries: number;
  /** Where an ops array of `n` ops starts. */
  opsAt(n: number): number;
  /** Data frames of the caller's memory (non-empty). */
  readonly frames: readonly number[];
}

function grantLayout(c: Ctx): GrantLayout {
  const entries = 32;
  const table = (c.scratch + c.scratchSize - entries * GRANT_ENTRY_V1_SIZE) & ~3;
  const opsAt = (n: number): number => (table - n * GRANT_COPY_OP_SIZE) & ~3;
  const lo = Math.ceil(c.scratch / GRANT_FRAME_SIZE);
  const hi = Math.floor(opsAt(4) / GRANT_FRAME_SIZE) - 1;
  const frames = Array.from({ length: Math.max(1, Math.min(3, hi - lo + 1)) }, (_, i) => lo + i);
  return { table, entries, opsAt, frames };
}

/** One op plus the memory it wants placed (source bytes, grant entries). */
interface OpPlan {
  readonly flags: number;
  readonly source: GrantCopyPtr;
  readonly dest: GrantCopyPtr;
  readonly len: number;
  readonly memory: readonly MemoryWrite[];
}

/** Builds the grant_copy input: the ops array at opsAt(n) (status fields stale), then each op's buffers. */
function grantCopyInput(c: Ctx, ops: readonly OpPlan[], at?: number, count = ops.length): HypercallInput {
  const L = grantLayout(c);
  const addr = at ?? L.opsAt(Math.max(1, ops.length));
  const bytes = new Uint8Array(ops.length * GRANT_COPY_OP_SIZE);
  ops.forEach((o, i) => bytes.set(encodeGrantCopyOp({ source: o.source, dest: o.dest, len: o.len, flags: o.flags }, 0x7eed), i * GRANT_COPY_OP_SIZE));
  const inside = (m: MemoryWrite) => m.addr >= 0 && m.addr + m.bytes.length <= c.memSize;
  // Buffers first, the ops array last, so a buffer never hides an op.
  const memory = [...ops.flatMap((o) => o.memory).filter(inside), ...(ops.length > 0 ? [{ addr, bytes }] : [])].filter(inside);
  return input('grant_copy', [addr, count], memory);
}

/** An offset and a length inside one frame, short (the arbitraries place the source bytes). */
const offLenArb = fc.integer({ min: 0, max: 256 }).chain((len) => fc.tuple(fc.integer({ min: 0, max: GRANT_FRAME_SIZE - len }), fc.constant(len)));

/**
 * A well-formed op of the caller on its own memory: by frame (always allowed), or through its own
 * table (the entry is placed; it works once a grant_setup registered the table there), or through
 * another domain's grant reference (works when that domain granted it).
 */
function validOp(c: Ctx): fc.Arbitrary<OpPlan> {
  const L = grantLayout(c);
  const frame = fc.constantFrom(...L.frames);
  const kind = fc.constantFrom<'frames' | 'frames' | 'src-gref' | 'dst-gref' | 'foreign'>('frames', 'frames', 'src-gref', 'dst-gref', 'foreign');
  return fc
    .tuple(kind, frame, frame, offLenArb, offLenArb, fc.integer({ min: 0, max: L.entries - 1 }), fc.boolean(), fc.uint8Array({ minLength: 256, maxLength: 256 }), domArb(c))
    .map(([k, sf, df, [so, len], [dof], ref, viaSelf, data, other]): OpPlan => {
      const dOff = Math.min(dof, GRANT_FRAME_SIZE - len);
      const self = viaSelf ? DOMID_SELF : c.self;
      const srcBytes: MemoryWrite = { addr: sf * GRANT_FRAME_SIZE + so, bytes: data.subarray(0, len) };
      const entry = (frameNo: number, flags: number): MemoryWrite => ({ addr: L.table + ref * GRANT_ENTRY_V1_SIZE, bytes: encodeGrantEntry(flags, c.self, frameNo) });
      const byFrame = (f: number, off: number): GrantCopyPtr => ({ ref: f, domid: DOMID_SELF, offset: off });
      switch (k) {
        case 'frames':
          return { flags: 0, source: byFrame(sf, so), dest: byFrame(df, dOff), len, memory: [srcBytes] };
        case 'src-gref':
          return { flags: GNTCOPY_SOURCE_GREF, source: { ref, domid: self, offset: so }, dest: byFrame(df, dOff), len, memory: [srcBytes, entry(sf, GTF_PERMIT_ACCESS | GTF_READONLY)] };
        case 'dst-gref':
          return { flags: GNTCOPY_DEST_GREF, source: byFrame(sf, so), dest: { ref, domid: self, offset: dOff }, len, memory: [srcBytes, entry(df, GTF_PERMIT_ACCESS)] };
        case 'foreign':
          return { flags: GNTCOPY_SOURCE_GREF, source: { ref, domid: other, offset: so }, dest: byFrame(df, dOff), len, memory: [] };
      }
    });
}

/** Ops a hostile guest writes: every GNTST_* failure, and writes aimed at its own shared_info. */
function hostileOp(c: Ctx): fc.Arbitrary<OpPlan> {
  const L = grantLayout(c);
  const f = L.frames[0]!;
  const ok = (ref: number, off = 0): GrantCopyPtr => ({ ref, domid: DOMID_SELF, offset: off });
  const lastFrame = Math.floor(c.memSize / GRANT_FRAME_SIZE);
  return fc.oneof(
    // Unknown flag bits.
    fc.constantFrom(4, 0x8000, 0xfffc).map((flags): OpPlan => ({ flags, source: ok(f), dest: ok(f), len: 8, memory: [] })),
    // Naming another domain's frame directly (permission), and domains that do not exist.
    fc.constantFrom(...c.others, c.self, 0).map((d): OpPlan => ({ flags: 0, source: { ref: f, domid: d, offset: 0 }, dest: ok(f), len: 8, memory: [] })),
    fc.constantFrom(0, DOMID_SELF + 1, 0xffff, 999).map((d): OpPlan => ({ flags: GNTCOPY_DEST_GREF, source: ok(f), dest: { ref: 0, domid: d, offset: 0 }, len: 8, memory: [] })),
    // Frames past the end of memory, and the highest u32.
    fc.constantFrom(lastFrame, lastFrame + 1, 0xfffff, 0x100000, 0xffffffff).map((fr): OpPlan => ({ flags: 0, source: ok(f), dest: ok(fr), len: 8, memory: [] })),
    // A copy crossing the end of its frame.
    fc.tuple(fc.integer({ min: 1, max: GRANT_FRAME_SIZE }), fc.integer({ min: 1, max: 0xffff })).map(([off, len]): OpPlan => ({ flags: 0, source: ok(f, off & 0xffff), dest: ok(f), len: Math.max(len, GRANT_FRAME_SIZE - off + 1) & 0xffff, memory: [] })),
    // Grant references out of any table, and into one with bad entries (wrong grantee, not
    // permitted, read-only as destination) placed where a valid grant_setup puts the table.
    fc.constantFrom(L.entries, GRANT_TABLE_MAX, 0xffffffff).map((ref): OpPlan => ({ flags: GNTCOPY_SOURCE_GREF, source: { ref, domid: DOMID_SELF, offset: 0 }, dest: ok(f), len: 8, memory: [] })),
    fc.tuple(fc.integer({ min: 0, max: L.entries - 1 }), fc.constantFrom<[number, number, boolean]>(
      [GTF_PERMIT_ACCESS, c.others[0] ?? c.self + 1, false],
      [0, c.self, false],
      [2, c.self, false],
      [GTF_PERMIT_ACCESS | GTF_READONLY, c.self, true],
    )).map(([ref, [flags, grantee, asDest]]): OpPlan => {
      const entry = { addr: L.table + ref * GRANT_ENTRY_V1_SIZE, bytes: encodeGrantEntry(flags, grantee, f) };
      const g = { ref, domid: DOMID_SELF, offset: 0 };
      return asDest
        ? { flags: GNTCOPY_DEST_GREF, source: ok(f), dest: g, len: 8, memory: [entry] }
        : { flags: GNTCOPY_SOURCE_GREF, source: g, dest: ok(f), len: 8, memory: [entry] };
    }),
    // Scribbling over its own shared_info page through the host (allowed: it only harms itself).
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b): OpPlan => ({
      flags: 0,
      source: ok(f, 0),
      dest: ok(Math.floor(c.sharedInfo / GRANT_FRAME_SIZE), (c.sharedInfo % GRANT_FRAME_SIZE) + 2048),
      len: 8,
      memory: [{ addr: f * GRANT_FRAME_SIZE, bytes: b }],
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// domctl: the op at the 8-aligned start of the scratch area, a DOMCTL_LIST buffer after it.

/** A domctl input: the op (header + payload) placed at `at` when it lies inside memory. */
function domctlInput(c: Ctx, cmd: number, domain: number, payload: Uint8Array = new Uint8Array(0), opts: { at?: number; version?: number } = {}): HypercallInput {
  const at = opts.at ?? c.scratch;
  const bytes = encodeDomctlOp(cmd, domain, payload, opts.version ?? DOMCTL_INTERFACE_VERSION);
  const inside = at >= 0 && at + bytes.length <= c.memSize;
  return input('domctl', [at], inside ? [{ addr: at, bytes }] : []);
}

/** Where a DOMCTL_LIST input's buffer is (after the op, 4-byte aligned). */
function listAt(c: Ctx): number {
  return c.scratch + DOMCTL_OP_SIZE + 16;
}

/** How a DOMCTL_CREATE input lays out its image, name and command line in the scratch area. */
interface CreateShape {
  readonly mem: number | bigint;
  readonly vcpus: number;
  readonly flags?: number;
  /** The image bytes (default FAKE_GUEST_IMAGE), placed after the op unless `imageAt` is given. */
  readonly image?: Uint8Array;
  /** Where the image is said to be (default: where it is placed). */
  readonly imageAt?: number;
  readonly name?: string;
  /** Command line length (its bytes are written when they fit the scratch area). */
  readonly cmdLen?: number;
  /** A name length other than the name's (16: too long). */
  readonly nameLen?: number;
  /** max_mem (default 0: the memory it is made with). */
  readonly maxMem?: number | bigint;
}

/**
 * A DOMCTL_CREATE input: the op, then the image, the name and the command line after it in the
 * scratch area. Whether it can succeed depends on the host's pools and loader (ENOMEM on a host
 * with empty pools, EOPNOTSUPP on one without a loader), which is the point of making it.
 */
function createInput(c: Ctx, x: CreateShape): HypercallInput {
  const image = x.image ?? FAKE_GUEST_IMAGE;
  const imageAt = c.scratch + DOMCTL_OP_SIZE;
  const nameAt = imageAt + 64;
  const cmdAt = nameAt + 16;
  const name = new TextEncoder().encode(x.name ?? '');
  const cmdLen = x.cmdLen ?? 0;
  const p = encodeDomctlCreate({
    image: x.imageAt ?? imageAt, imageLen: image.length, memBytes: x.mem, nrVcpus: x.vcpus, flags: x.flags ?? 0,
    cmdline: cmdAt, cmdlineLen: cmdLen, name: nameAt, nameLen: x.nameLen ?? name.length, maxMem: x.maxMem ?? 0,
  });
  const op = domctlInput(c, DOMCTL_CREATE, 0, p);
  const extra: MemoryWrite[] = [{ addr: imageAt, bytes: image }, { addr: nameAt, bytes: name }];
  if (cmdLen > 0 && cmdAt + cmdLen <= c.scratch + c.scratchSize) extra.push({ addr: cmdAt, bytes: new Uint8Array(cmdLen).fill(0x61) });
  return { ...op, memory: [...op.memory, ...extra] };
}

/** The domctl arbitraries; the caller must be a controlling domain for any to succeed. */
function domctlArbs(c: Ctx): CallArbitraries {
  const other = c.others.length > 0 ? fc.constantFrom(...c.others) : fc.constant(c.self);
  const frames = (n: number) => n - (n % GRANT_FRAME_SIZE);
  const valid = fc.oneof(
    domArb(c).map((d) => domctlInput(c, DOMCTL_GETINFO, d)),
    fc.integer({ min: 0, max: 8 }).map((max) => domctlInput(c, DOMCTL_LIST, 0, le32(listAt(c), max))),
    fc.tuple(fc.constantFrom(DOMCTL_PAUSE, DOMCTL_UNPAUSE, DOMCTL_DESTROY), other).map(([cmd, d]) => domctlInput(c, cmd, d)),
    fc.tuple(other, fc.nat(64)).map(([d, k]) => domctlInput(c, DOMCTL_SET_MAX_MEM, d, le64(c.memSize + k * GRANT_FRAME_SIZE))),
    fc.tuple(domArb(c), fc.nat(frames(c.memSize) / GRANT_FRAME_SIZE)).map(([d, k]) => domctlInput(c, DOMCTL_SET_MEMORY_TARGET, d, le64(k * GRANT_FRAME_SIZE))),
    fc.tuple(other, fc.constantFrom(SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT)).map(([d, r]) => domctlInput(c, DOMCTL_REQUEST_SHUTDOWN, d, le32(r, 0))),
    // ABI 1.5: vCPU counts, the accounts, device moves (entries 0..3), and a well-formed create.
    fc.tuple(domArb(c), fc.integer({ min: 1, max: c.nrVcpus })).map(([d, n]) => domctlInput(c, DOMCTL_SET_VCPUS, d, le32(n, 0))),
    fc.constant(domctlInput(c, DOMCTL_PHYSINFO, 0)),
    fc.tuple(fc.constantFrom(DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE), other, fc.nat(3)).map(([cmd, d, i]) => domctlInput(c, cmd, d, le32(i, 0))),
    fc.tuple(fc.constantFrom(1, 2), fc.constantFrom('', 'vm1', 'guest-7'), fc.constantFrom(0, SIF_PRIVILEGED), fc.constantFrom(0, 0, 256 * 1024)).map(([vcpus, name, flags, maxMem]) => createInput(c, { mem: 128 * 1024, vcpus, name, flags, cmdLen: 8, maxMem })),
  );
  const boundary = fc.oneof(
    // The op ending exactly at the end of memory; DOMID_SELF; an empty list; a list ending at the end of memory.
    fc.constant(domctlInput(c, DOMCTL_GETINFO, DOMID_SELF, new Uint8Array(0), { at: c.memSize - DOMCTL_OP_SIZE - (c.memSize % 8) })),
    fc.constant(domctlInput(c, DOMCTL_LIST, 0, le32(0, 0))),
    fc.constant(domctlInput(c, DOMCTL_LIST, 0, le32(c.memSize - 16, 4))),
    // max_mem exactly the memory size and 4 GiB; targets 0 and the whole memory.
    fc.constantFrom(c.memSize, 2 ** 32).map((b) => domctlInput(c, DOMCTL_SET_MAX_MEM, c.self, le64(b))),
    fc.constantFrom(0, frames(c.memSize)).map((b) => domctlInput(c, DOMCTL_SET_MEMORY_TARGET, DOMID_SELF, le64(b))),
    // Unpausing a domain that is not paused.
    other.map((d) => domctlInput(c, DOMCTL_UNPAUSE, d)),
    // vCPU counts at both ends (1, all slots: possibly no change); the last manifest entry;
    // PHYSINFO with the op at the end of memory.
    fc.tuple(domArb(c), fc.constantFrom(1, c.nrVcpus)).map(([d, n]) => domctlInput(c, DOMCTL_SET_VCPUS, d, le32(n, 0))),
    fc.tuple(fc.constantFrom(DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE), other).map(([cmd, d]) => domctlInput(c, cmd, d, le32(MAX_DEVICES - 1, 0))),
    fc.constant(domctlInput(c, DOMCTL_PHYSINFO, 0, new Uint8Array(0), { at: c.memSize - DOMCTL_OP_SIZE - (c.memSize % 8) })),
    // Create at the limits: 1 and MAX_VCPUS vCPUs, the smallest and largest memory, a 15-byte
    // name, the longest command line, an image ending at the end of memory, no loader/pool.
    fc.constantFrom<CreateShape>(
      { mem: 65536, vcpus: 1 },
      { mem: 2 ** 32, vcpus: MAX_VCPUS },
      { mem: 128 * 1024, vcpus: 1, name: 'fifteen-letters' },
      { mem: 128 * 1024, vcpus: 1, cmdLen: CMDLINE_MAX },
      { mem: 128 * 1024, vcpus: 1, imageAt: c.memSize - FAKE_GUEST_IMAGE.length },
      { mem: 128 * 1024, vcpus: 1, image: new Uint8Array(8) },
      { mem: 128 * 1024, vcpus: 1, maxMem: 128 * 1024 },
      { mem: 128 * 1024, vcpus: 1, maxMem: 2 ** 32 },
    ).map((x) => createInput(c, x)),
  );
  const hostile = fc.oneof(
    // Wrong interface version, unknown commands, domains that do not exist.
    fc.constantFrom(0, DOMCTL_INTERFACE_VERSION + 1, 0xffffffff).map((v) => domctlInput(c, DOMCTL_GETINFO, c.self, new Uint8Array(0), { version: v })),
    fc.constantFrom(0, DOMCTL_PHYSINFO + 1, 0xffffffff).map((cmd) => domctlInput(c, cmd, c.self)),
    fc.tuple(fc.constantFrom(DOMCTL_GETINFO, DOMCTL_PAUSE, DOMCTL_DESTROY, DOMCTL_REQUEST_SHUTDOWN), fc.constantFrom(0, 99, DOMID_SELF - 1, 0xffffffff)).map(([cmd, d]) => domctlInput(c, cmd, d, le32(SHUTDOWN_POWEROFF))),
    // Wild or misaligned ops, a list buffer outside memory or misaligned.
    wildPtr(c, DOMCTL_OP_SIZE).filter((a) => a === 0 || a < 0 || a + DOMCTL_OP_SIZE > c.memSize).map((a) => domctlInput(c, DOMCTL_GETINFO, c.self, new Uint8Array(0), { at: a })),
    fc.constantFrom(4, 1, 2).map((k) => domctlInput(c, DOMCTL_GETINFO, c.self, new Uint8Array(0), { at: c.scratch + k })),
    fc.constantFrom<[number, number]>([c.memSize - 8, 4], [listAt(c) + 2, 1], [0xfffffffc, 1], [listAt(c), 0x40000000]).map(([b, n]) => domctlInput(c, DOMCTL_LIST, 0, le32(b, n))),
    // Pausing or destroying itself; max below what it has, not whole frames, 2^64-1; target above max; bad reasons.
    fc.constantFrom(DOMCTL_PAUSE, DOMCTL_DESTROY).map((cmd) => domctlInput(c, cmd, DOMID_SELF)),
    fc.constantFrom(c.memSize - GRANT_FRAME_SIZE, c.memSize + 1, 0n - 1n, 2 ** 32 + GRANT_FRAME_SIZE).map((b) => domctlInput(c, DOMCTL_SET_MAX_MEM, c.self, le64(b))),
    fc.constantFrom(c.memSize + GRANT_FRAME_SIZE, 1, 2 ** 40).map((b) => domctlInput(c, DOMCTL_SET_MEMORY_TARGET, c.self, le64(b))),
    fc.constantFrom(SHUTDOWN_CRASH, 7, 0xffffffff).map((r) => domctlInput(c, DOMCTL_REQUEST_SHUTDOWN, c.others[0] ?? c.self, le32(r))),
    // vCPU counts 0, above the slots, 2^32-1, and for domains that do not exist.
    fc.tuple(domArb(c), fc.constantFrom(0, c.nrVcpus + 1, MAX_VCPUS + 1, 0xffffffff)).map(([d, n]) => domctlInput(c, DOMCTL_SET_VCPUS, d, le32(n, 0))),
    fc.constantFrom(0, 99, 0xffffffff).map((d) => domctlInput(c, DOMCTL_SET_VCPUS, d, le32(1, 0))),
    // Moving a device to or from itself, entries that cannot hold one, domains that do not exist.
    fc.tuple(fc.constantFrom(DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE), fc.constantFrom(DOMID_SELF, c.self), fc.nat(3)).map(([cmd, d, i]) => domctlInput(c, cmd, d, le32(i, 0))),
    fc.tuple(fc.constantFrom(DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE), other, fc.constantFrom(MAX_DEVICES, 0x7fffffff, 0xffffffff)).map(([cmd, d, i]) => domctlInput(c, cmd, d, le32(i, 0))),
    fc.tuple(fc.constantFrom(DOMCTL_ATTACH_DEVICE, DOMCTL_DETACH_DEVICE), fc.constantFrom(0, 99, 0xffffffff)).map(([cmd, d]) => domctlInput(c, cmd, d, le32(0, 0))),
    // Create with bad flags, vCPU counts, memory sizes, lengths, names, and an image outside memory.
    fc.constantFrom<CreateShape>(
      { mem: 128 * 1024, vcpus: 1, flags: 2 },
      { mem: 128 * 1024, vcpus: 1, flags: 0xffffffff },
      { mem: 128 * 1024, vcpus: 0 },
      { mem: 128 * 1024, vcpus: MAX_VCPUS + 1 },
      { mem: 0, vcpus: 1 },
      { mem: 4096, vcpus: 1 },
      { mem: 2 ** 32 + 65536, vcpus: 1 },
      { mem: 0n - 65536n, vcpus: 1 },
      { mem: 128 * 1024, vcpus: 1, cmdLen: CMDLINE_MAX + 1 },
      { mem: 128 * 1024, vcpus: 1, name: 'x', nameLen: 16 },
      { mem: 128 * 1024, vcpus: 1, name: 'a b' },
      { mem: 128 * 1024, vcpus: 1, name: 'caf\u00e9' },
      { mem: 128 * 1024, vcpus: 1, imageAt: c.memSize - 4 },
      { mem: 128 * 1024, vcpus: 1, imageAt: 0xfffffff0 },
      { mem: 128 * 1024, vcpus: 1, maxMem: 64 * 1024 },
      { mem: 128 * 1024, vcpus: 1, maxMem: 128 * 1024 + 4096 },
      { mem: 128 * 1024, vcpus: 1, maxMem: 2 ** 32 + 65536 },
    ).map((x) => createInput(c, x)),
  );
  return { valid, boundary, hostile };
}

// ---------------------------------------------------------------------------------------------
// Reservations: frames of the scratch area (so a valid call zeroes only argument buffers).

/** The whole frames inside the scratch area: [first, first + count). */
function scratchFrames(c: Ctx): { first: number; count: number } {
  const first = Math.ceil(c.scratch / GRANT_FRAME_SIZE);
  const end = Math.floor((c.scratch + c.scratchSize) / GRANT_FRAME_SIZE);
  return { first, count: Math.max(0, end - first) };
}

/** Frames at or beyond reserved_base (memSize - 2 pages - 16 KiB per vCPU on pvisor), past memory, wrapping counts. */
function badFrameRange(c: Ctx): fc.Arbitrary<[number, number]> {
  const top = c.memSize / GRANT_FRAME_SIZE;
  return fc.constantFrom<[number, number]>([top - 1, 1], [top - 2, 1], [top, 1], [top - 1, 2], [0, top], [1, 0xffffffff | 0], [0xffffffff | 0, 1], [0x80000000 | 0, 0x80000000 | 0]);
}

function reservationArbs(name: 'decrease_reservation' | 'increase_reservation'): (c: Ctx) => CallArbitraries {
  return (c) => {
    const { first, count } = scratchFrames(c);
    const inScratch = count === 0
      ? fc.constant<[number, number]>([first, 0])
      : fc.integer({ min: 0, max: count - 1 }).chain((i) => fc.integer({ min: 1, max: count - i }).map((n): [number, number] => [first + i, n]));
    return {
      valid: inScratch.map(([f, n]) => input(name, [f, n])),
      // nr 0 (does nothing, whatever the frame), the whole scratch area.
      boundary: fc.oneof(fc.constantFrom(0, first, 0xffffffff | 0).map((f) => input(name, [f, 0])), fc.constant(input(name, [first, count]))),
      hostile: badFrameRange(c).map(([f, n]) => input(name, [f, n])),
    };
  };
}

// ---------------------------------------------------------------------------------------------
// The table

type Table = { readonly [K in HcName]: (c: Ctx) => CallArbitraries };

const noArgs = (name: HcName) => (): CallArbitraries => ({
  valid: fc.constant(input(name, [])),
  // Extra argument slots must be ignored.
  boundary: fc.constant(input(name, [0, 0, 0, 0, 0])),
  hostile: fc.array(anyI32, { minLength: 5, maxLength: 5 }).map((a) => input(name, a)),
});

const TABLE: Table = {
  version: noArgs('version'),
  probe: () => ({
    valid: fc.constantFrom(...Object.values(Hc), FEATURE_EVTCHN_2LEVEL, FEATURE_TIME_RECORD, FEATURE_VCPU_HOTPLUG).map((id) => input('probe', [id])),
    boundary: fc.constantFrom(0, CALLS.length, CALLS.length + 1, 0xffff, 0x10000 - 1, FEATURE_VCPU_HOTPLUG + 1).map((id) => input('probe', [id])),
    hostile: anyI32.map((id) => input('probe', [id])),
  }),
  console_write: (c) => ({
    valid: withBuffer(c, scratchPtr(c, 256), fc.uint8Array({ minLength: 0, maxLength: 256 }), (a, b) => input('console_write', [a, b.length])),
    boundary: fc.oneof(
      // Sizes 0 and CONSOLE_IO_MAX ("longer requests are partial"), a buffer ending at the end of memory.
      fc.constantFrom(0, CONSOLE_IO_MAX, CONSOLE_IO_MAX + 1).map((n) => input('console_write', [c.scratch, n])),
      withBuffer(c, edgePtr(c, 16), fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => input('console_write', [a, 16])),
      fc.constant(input('console_write', [c.memSize, 0])),
    ),
    hostile: fc.tuple(wildPtr(c, 16), fc.oneof(fc.constantFrom(16, 0x7fffffff, -1), anyI32)).map(([a, n]) => input('console_write', [a, n])),
  }),
  console_read: (c) => ({
    valid: fc.tuple(scratchPtr(c, 256), fc.integer({ min: 0, max: 256 })).map(([a, n]) => input('console_read', [a, n])),
    boundary: fc.oneof(
      fc.constantFrom(0, CONSOLE_IO_MAX, CONSOLE_IO_MAX + 1).map((n) => input('console_read', [c.scratch, n])),
      edgePtr(c, 16).map((a) => input('console_read', [a, 16])),
    ),
    // Includes reading into shared_info: in range, so allowed, but the host's own page.
    hostile: fc.tuple(wildPtr(c, 16), fc.oneof(fc.constantFrom(16, -1), anyI32)).map(([a, n]) => input('console_read', [a, n])),
  }),
  sched_yield: noArgs('sched_yield'),
  sched_block: noArgs('sched_block'),
  sched_poll: (c) => {
    const ports = (n: number) => fc.array(portArb(c), { minLength: n, maxLength: n });
    const timeoutAt = c.scratch + c.scratchSize - 8;
    const poll = (portsAt: number, list: readonly number[], count: number, deadline: number | null): HypercallInput =>
      input('sched_poll', [portsAt, count, deadline === null ? 0 : timeoutAt], [
        { addr: portsAt, bytes: le32(...list) },
        ...(deadline === null ? [] : [{ addr: timeoutAt, bytes: le64(deadline) }]),
      ]);
    return {
      valid: fc
        .tuple(fc.integer({ min: 1, max: 4 }).chain(ports), fc.option(deadlineArb(c), { nil: null }))
        .map(([list, dl]) => poll(c.scratch, list, list.length, dl)),
      boundary: fc.oneof(
        // POLL_MAX_PORTS entries, the last port, a port array ending at the end of memory.
        ports(POLL_MAX_PORTS).map((list) => poll(c.scratch, list, POLL_MAX_PORTS, null)),
        fc.constant(poll(c.scratch, [NR_EVENT_CHANNELS - 1], 1, c.now)),
        fc.constant(poll(c.memSize - 4, [1], 1, null)),
      ),
      hostile: fc.oneof(
        fc.constantFrom(0, POLL_MAX_PORTS + 1, -1).map((n) => input('sched_poll', [c.scratch, n, 0])),
        wildPtr(c, 4).map((a) => input('sched_poll', [a, 1, 0])),
        wildPtr(c, 8).map((t) => input('sched_poll', [c.scratch, 1, t], [{ addr: c.scratch, bytes: le32(1) }])),
        hostilePort(c).map((p) => poll(c.scratch, [p], 1, null)),
        // The timeout overlapping the port array.
        fc.constant(input('sched_poll', [c.scratch, 2, c.scratch], [{ addr: c.scratch, bytes: le32(1, 0) }])),
      ),
    };
  },
  sched_shutdown: () => ({
    valid: fc.tuple(fc.constantFrom(SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_CRASH), fc.integer({ min: -255, max: 255 })).map(([r, code]) => input('sched_shutdown', [r, code])),
    boundary: fc.tuple(fc.constantFrom(SHUTDOWN_POWEROFF, SHUTDOWN_CRASH), fc.constantFrom(0x7fffffff, 0x80000000 | 0, -1)).map(([r, code]) => input('sched_shutdown', [r, code])),
    hostile: fc.tuple(fc.oneof(fc.constantFrom(2, 4, -1), anyI32), anyI32).map(([r, code]) => input('sched_shutdown', [r, code])),
  }),
  set_timer: (c) => ({
    valid: withBuffer(c, scratchPtr(c, 8), deadlineArb(c).map(le64), (a) => input('set_timer', [a])),
    boundary: fc.oneof(
      withBuffer(c, fc.constant(c.memSize - 8), deadlineArb(c).map(le64), (a) => input('set_timer', [a])),
      withBuffer(c, fc.constant(c.scratch), fc.constantFrom(le64(0), le64(2 ** 53 - 1), le64(2n ** 64n - 1n)), (a) => input('set_timer', [a])),
    ),
    hostile: wildPtr(c, 8).map((a) => input('set_timer', [a])),
  }),
  wallclock: (c) => ({
    valid: scratchPtr(c, WALLCLOCK_SIZE).map((a) => input('wallclock', [a])),
    boundary: edgePtr(c, WALLCLOCK_SIZE).map((a) => input('wallclock', [a])),
    hostile: wildPtr(c, WALLCLOCK_SIZE).map((a) => input('wallclock', [a])),
  }),
  evtchn_alloc_unbound: (c) => ({
    valid: domArb(c).map((d) => input('evtchn_alloc_unbound', [d])),
    boundary: fc.constantFrom(DOMID_SELF, c.self).map((d) => input('evtchn_alloc_unbound', [d])),
    hostile: fc.oneof(fc.constantFrom(DOMID_SELF + 1, 0xffff, -1, 0x10000 + c.self), anyI32).map((d) => input('evtchn_alloc_unbound', [d])),
  }),
  evtchn_bind_interdomain: (c) => ({
    valid: fc.tuple(domArb(c), fc.constantFrom(...c.foreignPorts)).map(([d, p]) => input('evtchn_bind_interdomain', [d, p])),
    boundary: fc.tuple(domArb(c), fc.constantFrom(1, NR_EVENT_CHANNELS - 1)).map(([d, p]) => input('evtchn_bind_interdomain', [d, p])),
    hostile: fc
      .tuple(fc.oneof(domArb(c), fc.constantFrom(DOMID_SELF + 1, -1)), hostilePort(c))
      .map(([d, p]) => input('evtchn_bind_interdomain', [d, p])),
  }),
  evtchn_bind_virq: (c) => ({
    valid: fc.tuple(fc.constantFrom(VIRQ_TIMER, VIRQ_CONSOLE), vcpuArb(c)).map(([q, v]) => input('evtchn_bind_virq', [q, v])),
    boundary: fc.constantFrom(VIRQ_TIMER, VIRQ_CONSOLE).map((q) => input('evtchn_bind_virq', [q, c.nrVcpus - 1])),
    hostile: fc.tuple(fc.oneof(fc.constantFrom(1, 3, 24, -1), anyI32), fc.oneof(vcpuArb(c), badU32(c.nrVcpus))).map(([q, v]) => input('evtchn_bind_virq', [q, v])),
  }),
  evtchn_bind_ipi: (c) => ({
    valid: vcpuArb(c).map((v) => input('evtchn_bind_ipi', [v])),
    boundary: fc.constantFrom(0, c.nrVcpus - 1).map((v) => input('evtchn_bind_ipi', [v])),
    hostile: fc.oneof(badU32(c.nrVcpus), fc.constant(MAX_VCPUS)).map((v) => input('evtchn_bind_ipi', [v])),
  }),
  evtchn_send: (c) => portCall('evtchn_send', c),
  evtchn_unmask: (c) => portCall('evtchn_unmask', c),
  evtchn_close: (c) => portCall('evtchn_close', c),
  evtchn_status: (c) => ({
    valid: fc.tuple(portArb(c), scratchPtr(c, EVTCHN_STATUS_SIZE)).map(([p, a]) => input('evtchn_status', [p, a])),
    boundary: fc
      .tuple(fc.constantFrom(0, NR_EVENT_CHANNELS - 1, ...c.ports), edgePtr(c, EVTCHN_STATUS_SIZE))
      .map(([p, a]) => input('evtchn_status', [p, a])),
    hostile: fc.tuple(fc.oneof(portArb(c), hostilePort(c)), wildPtr(c, EVTCHN_STATUS_SIZE)).map(([p, a]) => input('evtchn_status', [p, a])),
  }),
  vcpu_up: (c) => {
    const stack = c.scratch + c.scratchSize - (c.scratchSize % 16);
    return {
      valid: fc.tuple(fc.integer({ min: Math.min(1, c.nrVcpus - 1), max: c.nrVcpus - 1 }), fc.nat(0xffff)).map(([v, arg]) => input('vcpu_up', [v, 0, stack & ~15, arg])),
      boundary: fc.constantFrom(c.nrVcpus - 1, 0).map((v) => input('vcpu_up', [v, 0, c.memSize & ~15, 0])),
      hostile: fc
        .tuple(fc.oneof(vcpuArb(c), badU32(c.nrVcpus)), anyI32, fc.constantFrom(0, 8, stack + 4, c.memSize + 16, 0x80000000 | 0), anyI32)
        .map(([v, entry, st, arg]) => input('vcpu_up', [v, entry, st, arg])),
    };
  },
  vcpu_down: (c) => ({
    valid: fc.integer({ min: Math.min(1, c.nrVcpus - 1), max: c.nrVcpus - 1 }).map((v) => input('vcpu_down', [v])),
    boundary: fc.constantFrom(0, c.nrVcpus - 1).map((v) => input('vcpu_down', [v])),
    hostile: badU32(c.nrVcpus).map((v) => input('vcpu_down', [v])),
  }),
  vcpu_is_up: (c) => ({
    valid: vcpuArb(c).map((v) => input('vcpu_is_up', [v])),
    boundary: fc.constantFrom(0, c.nrVcpus - 1, c.nrVcpus, MAX_VCPUS - 1).map((v) => input('vcpu_is_up', [v])),
    hostile: badU32(c.nrVcpus).map((v) => input('vcpu_is_up', [v])),
  }),
  multicall: (c) => {
    const at = c.scratch;
    const batch = (entries: readonly Entry[], count = entries.length, addr = at): HypercallInput =>
      input('multicall', [addr, count], entries.length === 0 ? [] : [{ addr, bytes: batchBytes(entries) }]);
    const maxFit = Math.min(MULTICALL_MAX, Math.floor(c.scratchSize / MULTICALL_ENTRY_SIZE));
    return {
      valid: fc.array(simpleEntry(c), { minLength: 1, maxLength: 6 }).map((e) => batch(e)),
      boundary: fc.oneof(
        fc.constant(batch([])),
        fc.array(simpleEntry(c), { minLength: maxFit, maxLength: maxFit }).map((e) => batch(e)),
        // A one-entry batch ending exactly at the end of memory.
        simpleEntry(c).map((e) => batch([e], 1, c.memSize - MULTICALL_ENTRY_SIZE)),
      ),
      hostile: fc.oneof(
        fc.array(hostileEntry(c, at), { minLength: 1, maxLength: 6 }).map((e) => batch(e)),
        fc.constantFrom(MULTICALL_MAX + 1, -1).map((n) => input('multicall', [at, n])),
        wildPtr(c, MULTICALL_ENTRY_SIZE).map((a) => input('multicall', [a, 1])),
      ),
    };
  },
  grant_setup: (c) => {
    const L = grantLayout(c);
    // Pointers past memory only: a table on shared_info would make later copies read the
    // host-refreshed time records, which no model predicts.
    const outside = (len: number) => fc.constantFrom(c.memSize - len + 4, c.memSize, c.memSize + PAGE, (0x100000000 - Math.max(4, len >> 1)) | 0, 0x80000000 | 0);
    return {
      valid: fc.oneof(
        { weight: 5, arbitrary: fc.integer({ min: 1, max: L.entries }).map((n) => input('grant_setup', [L.table, n])) },
        { weight: 1, arbitrary: fc.constant(input('grant_setup', [0, 0])) },
      ),
      boundary: fc.oneof(
        // GRANT_TABLE_MAX entries ending exactly at the end of memory; a 1-entry table there;
        // nr_entries 0 with any table (not looked at).
        fc.constant(input('grant_setup', [c.memSize - GRANT_TABLE_MAX * GRANT_ENTRY_V1_SIZE, GRANT_TABLE_MAX])),
        fc.constant(input('grant_setup', [c.memSize - GRANT_ENTRY_V1_SIZE, 1])),
        fc.constantFrom(0xffffffff | 0, c.memSize + 1, 3).map((t) => input('grant_setup', [t, 0])),
      ),
      hostile: fc.oneof(
        fc.constantFrom(GRANT_TABLE_MAX + 1, -1, 0x80000000 | 0, 0x20000000).map((n) => input('grant_setup', [L.table, n])),
        fc.constantFrom(1, 2, 3).map((k) => input('grant_setup', [L.table + k, 4])),
        outside(4 * GRANT_ENTRY_V1_SIZE).map((t) => input('grant_setup', [t, 4])),
      ),
    };
  },
  grant_copy: (c) => {
    const L = grantLayout(c);
    // Boundary copies place their source bytes too: a guest program may have left bytes only the
    // host knows (a wallclock's output) in those frames.
    const pattern = (len: number, at: number): MemoryWrite => ({ addr: at, bytes: Uint8Array.from({ length: len }, (_, i) => (i * 13 + 7) & 0xff) });
    const f0 = L.frames[0]! * GRANT_FRAME_SIZE;
    return {
      valid: fc.array(validOp(c), { minLength: 1, maxLength: 4 }).map((ops) => grantCopyInput(c, ops)),
      boundary: fc.oneof(
        // An empty batch; a whole frame (offset 0, len GRANT_FRAME_SIZE); a copy ending exactly at
        // the end of its frame; the ops array ending at the end of memory; the last frame of memory.
        fc.constant(grantCopyInput(c, [])),
        fc.constant(grantCopyInput(c, [{ flags: 0, source: { ref: L.frames[0]!, domid: DOMID_SELF, offset: 0 }, dest: { ref: L.frames.at(-1)!, domid: DOMID_SELF, offset: 0 }, len: GRANT_FRAME_SIZE, memory: [pattern(GRANT_FRAME_SIZE, f0)] }])),
        fc.integer({ min: 0, max: 64 }).map((len) => grantCopyInput(c, [{ flags: 0, source: { ref: L.frames[0]!, domid: DOMID_SELF, offset: GRANT_FRAME_SIZE - len }, dest: { ref: L.frames[0]!, domid: DOMID_SELF, offset: 0 }, len, memory: [pattern(len, f0 + GRANT_FRAME_SIZE - len)] }])),
        validOp(c).map((o) => grantCopyInput(c, [o], c.memSize - GRANT_COPY_OP_SIZE)),
        fc.constant(grantCopyInput(c, [{ flags: 0, source: { ref: L.frames[0]!, domid: DOMID_SELF, offset: 0 }, dest: { ref: Math.floor(c.memSize / GRANT_FRAME_SIZE) - 1, domid: DOMID_SELF, offset: GRANT_FRAME_SIZE - 16 }, len: 16, memory: [pattern(16, f0)] }])),
      ),
      hostile: fc.oneof(
        // Mixed batches: each bad op fails alone, the good ones around it still copy.
        fc.array(fc.oneof({ weight: 3, arbitrary: hostileOp(c) }, { weight: 1, arbitrary: validOp(c) }), { minLength: 1, maxLength: 5 }).map((ops) => grantCopyInput(c, ops)),
        fc.constantFrom(GRANT_COPY_MAX + 1, -1, 0x80000000 | 0).map((n) => input('grant_copy', [L.opsAt(1), n])),
        wildPtr(c, GRANT_COPY_OP_SIZE).filter((a) => a < 0 || a + GRANT_COPY_OP_SIZE > c.memSize || a === 0).map((a) => input('grant_copy', [a, 1])),
      ),
    };
  },
  grant_map: (c) => ({
    valid: fc.tuple(domArb(c), fc.integer({ min: 0, max: 31 })).map(([d, r]) => input('grant_map', [d, r])),
    boundary: fc.constantFrom<[number, number]>([DOMID_SELF, GRANT_TABLE_MAX - 1], [c.self, 0]).map(([d, r]) => input('grant_map', [d, r])),
    hostile: fc.tuple(anyI32, anyI32).map(([d, r]) => input('grant_map', [d, r])),
  }),
  domctl: domctlArbs,
  decrease_reservation: reservationArbs('decrease_reservation'),
  increase_reservation: reservationArbs('increase_reservation'),
};

function portCall(name: 'evtchn_send' | 'evtchn_unmask' | 'evtchn_close', c: Ctx): CallArbitraries {
  return {
    valid: portArb(c).map((p) => input(name, [p])),
    boundary: fc.constantFrom(0, 1, NR_EVENT_CHANNELS - 1).map((p) => input(name, [p])),
    hostile: hostilePort(c).map((p) => input(name, [p])),
  };
}

/** The arbitraries of every call, by call name. */
export type HypercallArbitraryTable = Readonly<Record<HcName, CallArbitraries>>;

/**
 * Calls that never succeed on this host, by the spec: `grant_map` always returns ENOSYS (two Wasm
 * memories cannot share a page). Coverage checks that want "succeeds at least once" skip them and
 * check instead that they always fail.
 */
export const NEVER_SUCCEEDING_CALLS: readonly HcName[] = ['grant_map'];

/** Names of the calls that have arbitraries (every call of the ABI; the checklist test checks). */
export const ARBITRARY_CALLS: readonly HcName[] = Object.keys(TABLE) as HcName[];

/**
 * The valid, boundary and hostile arbitraries of every hypercall, for a caller described by
 * `ctx`. Every buffer they place lies inside `[0, ctx.memSize)`.
 */
export function hypercallArbitraries(ctx: ArbitraryContext): HypercallArbitraryTable {
  const c = resolve(ctx);
  const out = {} as { [K in HcName]: CallArbitraries };
  for (const name of ARBITRARY_CALLS) out[name] = TABLE[name](c);
  return out;
}

/**
 * Any hypercall of the given flavour (every call equally likely), or of a subset of the calls.
 */
export function hypercallArbitrary(ctx: ArbitraryContext, flavour: Flavour, calls: readonly HcName[] = ARBITRARY_CALLS): fc.Arbitrary<HypercallInput> {
  const all = hypercallArbitraries(ctx);
  return fc.oneof(...calls.map((n) => all[n][flavour]));
}
