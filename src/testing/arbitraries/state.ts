/**
 * Arbitraries for the structures the host shares with a guest — `start_info`, `shared_info` and
 * `vcpu_info` — as decoded values with an encoder to their ABI bytes, in a valid flavour (what a
 * correct host writes) and a hostile one (what a guest-side parser must survive: bad magic,
 * future versions, torn seqlocks, pointers outside memory, random bytes); and reachable states of
 * the reference model, built by running valid calls from the initial state.
 * @module
 */
import fc from 'fast-check';
import {
  ABI_VERSION,
  CMDLINE_MAX,
  DOMID_SELF,
  MAX_DEVICES,
  MAX_VCPUS,
  NR_EVENT_CHANNELS,
  SHARED_INFO_OFF,
  SHARED_INFO_SIZE,
  SIF_PRIVILEGED,
  START_INFO_MAGIC,
  START_INFO_OFF,
  START_INFO_SIZE,
  VCPU_INFO_OFF,
  VCPU_INFO_SIZE,
  VCPU_TIME_INFO_OFF,
} from '../../abi/generated/index.ts';
import type { ModelDomainConfig, ModelState } from '../../../spec/model/index.ts';
import { modelHost } from '../model-host.ts';
import { hypercallArbitrary, type Flavour } from './calls.ts';

const PAGE = 4096;

/** A `vcpu_info` as values. */
export interface VcpuInfoValue {
  /** evtchn_upcall_pending. */
  readonly upcallPending: boolean;
  /** evtchn_upcall_mask. */
  readonly upcallMask: boolean;
  /** evtchn_pending_sel (u32). */
  readonly pendingSel: number;
  /** time.version (seqlock: odd while the host writes). */
  readonly timeVersion: number;
  /** time.system_time in ns (below 2^53). */
  readonly systemTime: number;
}

/** A `shared_info` as values. */
export interface SharedInfoValue {
  /** One entry per vCPU (at most MAX_VCPUS). */
  readonly vcpus: readonly VcpuInfoValue[];
  /** Pending ports. */
  readonly pending: readonly number[];
  /** Masked ports. */
  readonly mask: readonly number[];
  /** The wallclock fields. */
  readonly wallclock: WallclockValue;
}

/** shared_info's wallclock fields. */
export interface WallclockValue {
  /** wc_version (seqlock: odd while the host writes). */
  readonly version: number;
  /** wc_sec: seconds since the epoch at boot. */
  readonly sec: number;
  /** wc_nsec. */
  readonly nsec: number;
}

/** A `start_info` as values (field names and meanings as in the ABI's `start_info`). */
export interface StartInfoValue {
  /** START_INFO_MAGIC. */
  readonly magic: number;
  /** (major << 16) | minor of the host's ABI. */
  readonly abi_version: number;
  /** Bytes of the struct the host wrote. */
  readonly size: number;
  /** The domain's id. */
  readonly domid: number;
  /** SIF_* bits. */
  readonly flags: number;
  /** vCPUs the domain may bring up. */
  readonly nr_vcpus: number;
  /** Bytes of guest memory (a u64). */
  readonly mem_size: number;
  /** Guest address of the shared_info page. */
  readonly shared_info: number;
  /** Guest address of the NUL-terminated command line. */
  readonly cmdline: number;
  /** Length of the command line without the NUL. */
  readonly cmdline_len: number;
  /** First byte of the host-reserved area. */
  readonly reserved_base: number;
  /** Entries in the device manifest (since 1.1). */
  readonly nr_devices: number;
  /** Guest address of the device manifest (since 1.1). */
  readonly devices: number;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function setU64(v: DataView, at: number, x: number): void {
  v.setBigUint64(at, BigInt.asUintN(64, BigInt(x)), true);
}

/** The VCPU_INFO_SIZE bytes of a vcpu_info. */
export function encodeVcpuInfo(x: VcpuInfoValue, out: Uint8Array = new Uint8Array(VCPU_INFO_SIZE)): Uint8Array {
  const v = dv(out);
  v.setUint8(VCPU_INFO_OFF.evtchn_upcall_pending, x.upcallPending ? 1 : 0);
  v.setUint8(VCPU_INFO_OFF.evtchn_upcall_mask, x.upcallMask ? 1 : 0);
  v.setUint32(VCPU_INFO_OFF.evtchn_pending_sel, x.pendingSel >>> 0, true);
  v.setUint32(VCPU_INFO_OFF.time + VCPU_TIME_INFO_OFF.version, x.timeVersion >>> 0, true);
  setU64(v, VCPU_INFO_OFF.time + VCPU_TIME_INFO_OFF.system_time, x.systemTime);
  return out;
}

/** The SHARED_INFO_SIZE bytes of a shared_info. */
export function encodeSharedInfoValue(x: SharedInfoValue): Uint8Array {
  const out = new Uint8Array(SHARED_INFO_SIZE);
  x.vcpus.slice(0, MAX_VCPUS).forEach((vc, i) => encodeVcpuInfo(vc, out.subarray(SHARED_INFO_OFF.vcpu_info + i * VCPU_INFO_SIZE, SHARED_INFO_OFF.vcpu_info + (i + 1) * VCPU_INFO_SIZE)));
  const v = dv(out);
  const bit = (base: number, p: number) => {
    const at = base + 4 * (p >>> 5);
    v.setUint32(at, v.getUint32(at, true) | (1 << (p & 31)), true);
  };
  for (const p of x.pending) if (p >= 0 && p < NR_EVENT_CHANNELS) bit(SHARED_INFO_OFF.evtchn_pending, p);
  for (const p of x.mask) if (p >= 0 && p < NR_EVENT_CHANNELS) bit(SHARED_INFO_OFF.evtchn_mask, p);
  v.setUint32(SHARED_INFO_OFF.wc_version, x.wallclock.version >>> 0, true);
  setU64(v, SHARED_INFO_OFF.wc_sec, x.wallclock.sec);
  v.setUint32(SHARED_INFO_OFF.wc_nsec, x.wallclock.nsec >>> 0, true);
  return out;
}

/** The START_INFO_SIZE bytes of a start_info. */
export function encodeStartInfo(x: StartInfoValue): Uint8Array {
  const out = new Uint8Array(START_INFO_SIZE);
  const v = dv(out);
  const u32 = (k: keyof typeof START_INFO_OFF, n: number) => v.setUint32(START_INFO_OFF[k], n >>> 0, true);
  u32('magic', x.magic);
  u32('abi_version', x.abi_version);
  u32('size', x.size);
  u32('domid', x.domid);
  u32('flags', x.flags);
  u32('nr_vcpus', x.nr_vcpus);
  setU64(v, START_INFO_OFF.mem_size, x.mem_size);
  u32('shared_info', x.shared_info);
  u32('cmdline', x.cmdline);
  u32('cmdline_len', x.cmdline_len);
  u32('reserved_base', x.reserved_base);
  u32('nr_devices', x.nr_devices);
  u32('devices', x.devices);
  return out;
}

const u32Arb = fc.nat(0xffffffff);
const edgePorts: fc.Arbitrary<readonly number[]> = fc.constantFrom<readonly number[]>([0], [NR_EVENT_CHANNELS - 1], []);
const portsArb: fc.Arbitrary<readonly number[]> = fc.uniqueArray(fc.nat(NR_EVENT_CHANNELS - 1), { maxLength: 16 });

/**
 * vcpu_info values. valid: a settled time record (even version), a pending_sel with a bit for
 * each word a pending port could be in; hostile: any bits, an odd (torn) version, time near 2^53.
 */
export function vcpuInfoArb(flavour: Flavour = 'valid'): fc.Arbitrary<VcpuInfoValue> {
  const version = flavour === 'valid' ? fc.nat(0x7fffffff).map((n) => n * 2) : flavour === 'boundary' ? fc.constantFrom(0, 0xfffffffe, 0xffffffff) : u32Arb;
  const time = flavour === 'valid' ? fc.nat(2 ** 40) : fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1);
  return fc.record({
    upcallPending: fc.boolean(),
    upcallMask: fc.boolean(),
    pendingSel: flavour === 'boundary' ? fc.constantFrom(0, 1, 0x80000000, 0xffffffff) : u32Arb,
    timeVersion: version,
    systemTime: time,
  });
}

/**
 * shared_info values for a domain with `nrVcpus` vCPUs. In the valid flavour pending_sel and
 * upcall_pending follow the 2-level rule for ports delivered to vCPU 0 (a pending unmasked port
 * has its word's bit set in vCPU 0's selector, and upcall_pending with it); the other vCPUs have
 * nothing pending. Boundary and hostile values have no such relation.
 */
export function sharedInfoArb(nrVcpus: number, flavour: Flavour = 'valid'): fc.Arbitrary<SharedInfoValue> {
  const wallclock = fc.record({
    version: flavour === 'hostile' ? u32Arb : fc.nat(0x7fffffff).map((n) => n * 2),
    sec: flavour === 'valid' ? fc.integer({ min: 1_700_000_000, max: 2_000_000_000 }) : fc.constantFrom(0, 2 ** 32, 2 ** 53 - 1),
    nsec: flavour === 'hostile' ? u32Arb : fc.nat(999_999_999),
  });
  const base = fc.record({
    vcpus: fc.array(vcpuInfoArb(flavour), { minLength: nrVcpus, maxLength: nrVcpus }),
    pending: flavour === 'boundary' ? edgePorts : portsArb,
    mask: flavour === 'boundary' ? edgePorts : portsArb,
    wallclock,
  });
  if (flavour !== 'valid') return base;
  return base.map((x) => {
    let sel = 0;
    for (const p of x.pending) if (!x.mask.includes(p)) sel |= 1 << (p >>> 5);
    const vcpus = x.vcpus.map((vc, i) => (i === 0 ? { ...vc, pendingSel: sel >>> 0, upcallPending: sel !== 0 } : { ...vc, pendingSel: 0, upcallPending: false }));
    return { ...x, vcpus };
  });
}

/** Raw shared_info bytes: anything at all, the way a hostile guest may leave its page. */
export function sharedInfoBytesArb(): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength: SHARED_INFO_SIZE, maxLength: SHARED_INFO_SIZE });
}

/**
 * start_info values. valid: what a host writes for some domain (memory a multiple of 64 KiB,
 * shared_info and start_info in the top two pages, command line inside the start_info page);
 * boundary: the extremes (1 and MAX_VCPUS vCPUs, an empty and a CMDLINE_MAX command line,
 * MAX_DEVICES devices, an older ABI minor, a struct longer than this ABI knows); hostile: a wrong
 * magic, a newer major, pointers outside memory, counts beyond their maxima.
 */
export function startInfoArb(flavour: Flavour = 'valid'): fc.Arbitrary<StartInfoValue> {
  const valid = fc
    .record({
      pages: fc.integer({ min: 4, max: 1024 }),
      domid: fc.integer({ min: 1, max: DOMID_SELF - 1 }),
      nrVcpus: fc.integer({ min: 1, max: MAX_VCPUS }),
      cmdlineLen: fc.nat(CMDLINE_MAX),
      nrDevices: fc.nat(MAX_DEVICES),
      privileged: fc.boolean(),
    })
    .map(({ pages, domid, nrVcpus, cmdlineLen, nrDevices, privileged }): StartInfoValue => {
      const memSize = pages * 65536;
      const si = memSize - PAGE;
      return {
        magic: START_INFO_MAGIC,
        abi_version: ABI_VERSION,
        size: START_INFO_SIZE,
        domid,
        flags: privileged ? SIF_PRIVILEGED : 0,
        nr_vcpus: nrVcpus,
        mem_size: memSize,
        shared_info: memSize - 2 * PAGE,
        cmdline: si + 256,
        cmdline_len: cmdlineLen,
        reserved_base: memSize - 2 * PAGE - nrVcpus * 16384,
        nr_devices: nrDevices,
        devices: si + 2048,
      };
    });
  if (flavour === 'valid') return valid;
  if (flavour === 'boundary') {
    return fc.tuple(valid, fc.constantFrom('vcpus1', 'vcpusMax', 'cmdline0', 'cmdlineMax', 'devicesMax', 'older', 'longer')).map(([x, k]) => {
      switch (k) {
        case 'vcpus1':
          return { ...x, nr_vcpus: 1 };
        case 'vcpusMax':
          return { ...x, nr_vcpus: MAX_VCPUS };
        case 'cmdline0':
          return { ...x, cmdline_len: 0 };
        case 'cmdlineMax':
          return { ...x, cmdline_len: CMDLINE_MAX };
        case 'devicesMax':
          return { ...x, nr_devices: MAX_DEVICES };
        case 'older':
          // ABI 1.0: the struct ended before nr_devices.
          return { ...x, abi_version: ABI_VERSION & ~0xffff, size: START_INFO_OFF.nr_devices, nr_devices: 0, devices: 0 };
        case 'longer':
          // "New fields are only ever appended": a newer minor with a longer struct.
          return { ...x, abi_version: ABI_VERSION + 1, size: START_INFO_SIZE + 8 };
      }
    });
  }
  return fc.tuple(valid, fc.constantFrom('magic', 'major', 'shared', 'cmdline', 'vcpus0', 'vcpusBig', 'devices', 'size', 'memsize')).map(([x, k]) => {
    switch (k) {
      case 'magic':
        return { ...x, magic: x.magic ^ 0x01000000 };
      case 'major':
        return { ...x, abi_version: ABI_VERSION + 0x10000 };
      case 'shared':
        return { ...x, shared_info: x.mem_size };
      case 'cmdline':
        return { ...x, cmdline: x.mem_size - 4, cmdline_len: CMDLINE_MAX + 1 };
      case 'vcpus0':
        return { ...x, nr_vcpus: 0 };
      case 'vcpusBig':
        return { ...x, nr_vcpus: MAX_VCPUS + 1 };
      case 'devices':
        return { ...x, nr_devices: 0xffffffff, devices: 0xfffffff0 };
      case 'size':
        return { ...x, size: 4 };
      case 'memsize':
        return { ...x, mem_size: 2 ** 40 };
    }
  });
}

/** Options of {@link modelStateArb}. */
export interface ModelStateArbOptions {
  /** Most calls made from the initial state (default 30). */
  readonly maxCalls?: number;
  /** Flavour of the calls (default 'valid'; 'hostile' still only reaches states the model allows). */
  readonly flavour?: Flavour;
}

/**
 * Reachable states of the reference model for these domains: the initial state after a random
 * sequence of calls (of the given flavour) from random running vCPUs. Calls that would block or
 * not return (shutdown, taking down the caller) are left out, so every domain stays running and
 * every vCPU that is up can still make calls, unless a controlling domain's `domctl` paused or
 * destroyed it.
 */
export function modelStateArb(domains: readonly ModelDomainConfig[], opts: ModelStateArbOptions = {}): fc.Arbitrary<ModelState> {
  const first = domains[0];
  if (first === undefined) throw new Error('modelStateArb: no domains');
  const ids = domains.map((d) => d.id);
  const perDomain = domains.map((d) =>
    hypercallArbitrary(
      { memSize: d.memSize, nrVcpus: d.nrVcpus, self: d.id, others: ids.filter((x) => x !== d.id) },
      opts.flavour ?? 'valid',
    ).filter((c) => c.name !== 'sched_shutdown'),
  );
  const callArb = fc.nat(domains.length - 1).chain((i) => fc.tuple(fc.constant(i), perDomain[i]!, fc.nat(MAX_VCPUS - 1)));
  return fc.array(callArb, { maxLength: opts.maxCalls ?? 30 }).map((calls) => {
    const h = modelHost(domains);
    for (const [i, c, v] of calls) {
      const dom = domains[i]!.id;
      // A domctl may have paused or destroyed the domain: it makes no calls then.
      const d = h.state.domains.find((x) => x.id === dom);
      if (d === undefined || d.paused) continue;
      const up = d.vcpus.flatMap((vc, k) => (vc.up && vc.blocked === null ? [k] : []));
      const vcpu = up[v % Math.max(1, up.length)];
      if (vcpu === undefined) continue;
      const prepare = c.memory.filter((m) => m.addr >= 0 && m.addr + m.bytes.length <= d.memSize);
      const peek = h.peek(dom, vcpu, c.nr, [...c.args], prepare);
      if (peek.blocks === true || peek.noReturn === true) continue;
      for (const m of prepare) h.writeMem(dom, m.addr, m.bytes);
      h.step(dom, vcpu, c.nr, [...c.args]);
    }
    return h.state;
  });
}
