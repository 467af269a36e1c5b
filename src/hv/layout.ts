/**
 * Where the host puts its structures in guest memory.
 *
 * The host reserves the top of guest memory (spec/abi.json `memoryLayout`), from high to low:
 * the start_info page (command line at +256, device manifest at +2048), the shared_info page,
 * then one asyncify scratch
 * area per vCPU, which the deterministic engine uses to save a vCPU's Wasm stack while it is
 * blocked or preempted. `reserved_base` is the lowest reserved byte; the guest's heap ends there.
 * @module
 */
import type { GuestAddr } from '../abi/index.ts';
import { CMDLINE_MAX, DEVICE_INFO_SIZE, MAX_DEVICES, SHARED_INFO_SIZE, START_INFO_SIZE } from '../abi/index.ts';

/** Page granularity of the reserved area. */
export const PAGE = 4096;
/** Offset of the command line inside the start_info page. */
export const CMDLINE_OFFSET = 256;
/**
 * Offset of the device manifest (`device_info[MAX_DEVICES]`) inside the start_info page. The page
 * has room: the command line ends by 256 + CMDLINE_MAX + 1 = 1281 and the manifest takes
 * MAX_DEVICES * DEVICE_INFO_SIZE = 512 bytes, so 2048..2560 leaves both room to grow without
 * taking another page (which would move reserved_base and every guest's heap end).
 */
export const DEVICES_OFFSET = 2048;
/** Bytes of asyncify scratch per vCPU (the saved Wasm stack of a blocked vCPU must fit). */
export const ASYNCIFY_AREA = 16384;

/** Addresses of the host's structures in one domain's memory. */
export interface DomainLayout {
  /** start_info address. */
  startInfo: GuestAddr;
  /** NUL-terminated command line. */
  cmdline: GuestAddr;
  /** The device manifest, room for MAX_DEVICES `device_info` entries. */
  devices: GuestAddr;
  /** shared_info address. */
  sharedInfo: GuestAddr;
  /** Per-vCPU asyncify scratch areas. */
  asyncify: GuestAddr[];
  /** Lowest reserved address. */
  reservedBase: GuestAddr;
}

/** Bytes the host reserves for a domain with `nrVcpus` vCPUs. */
export function reservedBytes(nrVcpus: number): number {
  return 2 * PAGE + nrVcpus * ASYNCIFY_AREA;
}

/** Computes the layout for a memory of `memSize` bytes. */
export function layoutFor(memSize: number, nrVcpus: number): DomainLayout {
  // Compile-time facts checked once at load: the structures fit their pages.
  // Stryker disable all: the operands are spec constants, so no test input can reach the throw (docs/mutation.md).
  if (
    START_INFO_SIZE > CMDLINE_OFFSET ||
    CMDLINE_OFFSET + CMDLINE_MAX + 1 > DEVICES_OFFSET ||
    DEVICES_OFFSET + MAX_DEVICES * DEVICE_INFO_SIZE > PAGE ||
    SHARED_INFO_SIZE > PAGE
  ) {
    throw new Error('layout: ABI structures outgrew their pages');
  }
  // Stryker restore all
  const startInfo = memSize - PAGE;
  const sharedInfo = memSize - 2 * PAGE;
  const asyncify: GuestAddr[] = [];
  for (let i = 0; i < nrVcpus; i++) asyncify.push((sharedInfo - (i + 1) * ASYNCIFY_AREA) as GuestAddr);
  return {
    startInfo: startInfo as GuestAddr,
    cmdline: (startInfo + CMDLINE_OFFSET) as GuestAddr,
    devices: (startInfo + DEVICES_OFFSET) as GuestAddr,
    sharedInfo: sharedInfo as GuestAddr,
    asyncify,
    reservedBase: (memSize - reservedBytes(nrVcpus)) as GuestAddr,
  };
}
