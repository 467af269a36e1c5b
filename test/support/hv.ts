/**
 * Builds a hypervisor with bare domains (no Wasm) for tests that drive hypercalls directly, and
 * helpers to read the event state a guest would see in shared_info.
 */
import { Hypervisor } from '../../src/hv/index.ts';
import type { Domain, Vcpu } from '../../src/hv/index.ts';
import type { GuestAddr } from '../../src/abi/index.ts';
import { encodeDomctlCreate } from '../../spec/model/index.ts';

/** A hypervisor with `n` domains of `memBytes` and `vcpus` each, named d1..dn. */
export function makeHv(n = 1, opts: { memBytes?: number; vcpus?: number; trace?: boolean } = {}): { hv: Hypervisor; doms: Domain[]; out: Map<string, string> } {
  const out = new Map<string, string>();
  const hv = new Hypervisor({
    console: (d, b) => out.set(d.name, (out.get(d.name) ?? '') + Buffer.from(b).toString('latin1')),
    log: () => {},
    trace: opts.trace === true,
  });
  const doms: Domain[] = [];
  for (let i = 0; i < n; i++) doms.push(hv.createDomain({ name: `d${i + 1}`, memBytes: opts.memBytes ?? 256 * 1024, vcpus: opts.vcpus ?? 2, cmdline: '' }));
  for (const d of doms) d.caps = { upcall: true, vcpuEntry: true };
  return { hv, doms, out };
}

/** Calls a hypercall with up to five args as a guest would (raw i32). */
export function call(hv: Hypervisor, v: Vcpu, nr: number, ...args: number[]): number {
  const a = [...args, 0, 0, 0, 0, 0];
  return hv.hypercall(v, nr, a[0]! | 0, a[1]! | 0, a[2]! | 0, a[3]! | 0, a[4]! | 0);
}

/** Scratch address in low guest memory for pointer arguments. */
export const SCRATCH = 4096 as GuestAddr;

/** True when `port` is pending in the domain's shared_info. */
export function pending(d: Domain, port: number): boolean {
  return ((d.mem.i32[d.pendingIdx + (port >>> 5)]! >>> (port & 31)) & 1) === 1;
}

/** Sets or clears the guest-owned mask bit of `port`. */
export function setMask(d: Domain, port: number, masked: boolean): void {
  const i = d.maskIdx + (port >>> 5);
  const bit = 1 << (port & 31);
  d.mem.i32[i] = masked ? d.mem.i32[i]! | bit : d.mem.i32[i]! & ~bit;
}

/** A vCPU's upcall_pending flag. */
export function upcallPending(d: Domain, vcpu: number): number {
  return d.mem.u8[d.upcallPendingAddr(vcpu)]!;
}

/** Fields of a `domctl_create` payload, as a test sets them (addresses in the caller's memory). */
export interface CreateFields {
  image: number;
  len: number;
  mem: number;
  vcpus: number;
  max?: number;
  flags?: number;
  cmd?: [addr: number, len: number];
  name?: [addr: number, len: number];
}

/** The bytes of a `domctl_create` payload (spec/abi.json; unset fields 0). */
export function createPayload(o: CreateFields): Uint8Array {
  return encodeDomctlCreate({
    image: o.image, imageLen: o.len, memBytes: o.mem, nrVcpus: o.vcpus, flags: o.flags ?? 0, maxMem: o.max ?? 0,
    cmdline: o.cmd?.[0] ?? 0, cmdlineLen: o.cmd?.[1] ?? 0, name: o.name?.[0] ?? 0, nameLen: o.name?.[1] ?? 0,
  });
}
