/**
 * The one shape every virtio device backend has (blk now; console and net later), and the
 * three error classes kept apart (DESIGN.md "Error policy").
 *
 * A backend knows its device type: feature bits, configuration space, queues and requests. It
 * knows nothing of the transport: registers, the status machine, feature windows, queue
 * latching and interrupts live in the transport (`mmio.ts`), which talks to the backend only
 * through {@link VirtioBackend} and hands it a {@link VirtioDeviceContext} to talk back.
 *
 * ERROR CLASSES — each has one path and they never mix:
 * 1. Malformed request (a guest mistake confined to one request: bad header, wrong direction,
 *    out-of-range sector, a chain the virtqueue refused) → the backend completes the chain with
 *    an error status written where the protocol has one (virtio-blk: IOERR/UNSUPP in the status
 *    byte) and used length 0 when it wrote no data. The queue and the device go on.
 * 2. Corrupt ring (the indices themselves are garbage; see `errors.ts` RingErrorKind) or an
 *    impossible queue configuration → the transport sets DEVICE_NEEDS_RESET (status bit 64),
 *    raises a configuration-change interrupt (InterruptStatus bit 1) once DRIVER_OK is set, and
 *    the device ignores notifications until the driver resets it (QEMU's `virtio_error` policy).
 * 3. Host fault (the host's own I/O failed: EIO, ENOSPC, …) → the request is completed with the
 *    protocol's I/O error (virtio-blk IOERR) and one line goes to the host log through
 *    {@link VirtioDeviceContext.log}. The host never throws because of it.
 * @module
 */
import type { GuestMemory } from '../hv/memory.ts';
import type { SplitQueue } from './virtqueue.ts';

/** Device status bit ACKNOWLEDGE (virtio 1.2 §2.1). */
export const STATUS_ACKNOWLEDGE = 1;
/** Device status bit DRIVER (virtio 1.2 §2.1). */
export const STATUS_DRIVER = 2;
/** Device status bit DRIVER_OK (virtio 1.2 §2.1). */
export const STATUS_DRIVER_OK = 4;
/** Device status bit FEATURES_OK (virtio 1.2 §2.1). */
export const STATUS_FEATURES_OK = 8;
/** Device status bit DEVICE_NEEDS_RESET, set by the device only (virtio 1.2 §2.1). */
export const STATUS_DEVICE_NEEDS_RESET = 64;
/** Device status bit FAILED (virtio 1.2 §2.1). */
export const STATUS_FAILED = 128;

/** Virtio device ID of a network card (virtio 1.2 §5). */
export const VIRTIO_ID_NET = 1;
/** Virtio device ID of a block device (virtio 1.2 §5). */
export const VIRTIO_ID_BLOCK = 2;
/** Virtio device ID of a console (virtio 1.2 §5). */
export const VIRTIO_ID_CONSOLE = 3;

/** A 64-bit feature set as the two 32-bit words the transports expose (bits 0–31, 32–63). */
export interface FeatureWords {
  /** Feature bits 0–31 (u32). */
  readonly lo: number;
  /** Feature bits 32–63 (u32). */
  readonly hi: number;
}

/** Packs a list of feature bit numbers (0–63) into a {@link FeatureWords}. */
export function featureWords(bits: readonly number[]): FeatureWords {
  let lo = 0;
  let hi = 0;
  for (const b of bits) {
    if (b < 32) lo |= 1 << b;
    else hi |= 1 << (b - 32);
  }
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** The 64-bit feature set of a {@link FeatureWords} as a bigint (the form SplitQueue takes). */
export function featureBits(w: FeatureWords): bigint {
  return (BigInt(w.hi >>> 0) << 32n) | BigInt(w.lo >>> 0);
}

/**
 * What the transport offers a backend to talk back with. Given once, before any other call, by
 * {@link VirtioBackend.bind}.
 */
export interface VirtioDeviceContext {
  /**
   * Used-buffer notification for queue `index`: call it at most once per processed batch, and
   * only when `SplitQueue.flush()` returned true (it has already applied the driver's
   * notification suppression, virtio 1.2 §2.7.7.2). The transport sets InterruptStatus bit 0
   * and raises the device interrupt.
   */
  usedBuffers(index: number): void;
  /**
   * The device-specific configuration space changed: the transport bumps ConfigGeneration and,
   * once DRIVER_OK is set, raises a configuration-change notification (InterruptStatus bit 1).
   */
  configChanged(): void;
  /**
   * Error class 2 from the backend's side (an unrecoverable device state that is not a ring
   * error the queue already reported): DEVICE_NEEDS_RESET and stop until reset.
   */
  needsReset(reason: string): void;
  /** Error class 3: one line on the host log (already prefixed with the device name). */
  log(line: string): void;
}

/**
 * A virtio device type, seen from its transport. One implementation per device type, all the
 * same shape (DESIGN.md "Devices": one file per backend).
 *
 * Call order from the transport: `bind` once; then any number of device lifetimes, each
 * `activate` (at DRIVER_OK), `queueNotify`* (only while active and not broken), `reset`.
 * `readConfig` may come at any time (the driver may read config before FEATURES_OK, §3.1.1).
 */
export interface VirtioBackend {
  /** Virtio device ID (virtio 1.2 §5): 2 for block. */
  readonly deviceId: number;
  /** Short device kind for names and logs: `blk`, `console`, `net`. */
  readonly kind: string;
  /**
   * Device-type feature bits this backend implements and offers (virtio 1.2 §2.2 device
   * requirement: offer nothing unimplemented). The transport adds the transport/ring bits.
   */
  readonly features: FeatureWords;
  /** Size in bytes of the device-specific configuration space. */
  readonly configSize: number;
  /** Maximum size of each queue (QueueNumMax); the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Receives the transport's callbacks; called once, before anything else. */
  bind(ctx: VirtioDeviceContext): void;
  /** Copies `dst.length` config bytes from `offset` (bytes past `configSize` read as 0). */
  readConfig(offset: number, dst: Uint8Array): void;
  /** A driver write of `src` at config `offset`; read-only fields ignore it. */
  writeConfig(offset: number, src: Uint8Array): void;
  /**
   * Optional: whether a config write at `offset` (the 4-aligned word the transport traps) must
   * reach {@link VirtioBackend.writeConfig} even before FEATURES_OK. The transport otherwise drops
   * config writes until then (§3.1.1 step 4); a device type whose spec requires an early write
   * (virtio-console emerg_wr, §5.3.4: "The device MUST allow a write to emerg_wr, even on an
   * unconfigured device") answers true for that field. Absent means never.
   */
  configWritableEarly?(offset: number): boolean;
  /**
   * The driver set DRIVER_OK: start serving. `queues[i]` is the latched queue `i`, or undefined
   * when the driver did not enable it. `features` is the negotiated set.
   */
  activate(queues: readonly (SplitQueue | undefined)[], mem: GuestMemory, features: bigint): void;
  /** Device reset (virtio 1.2 §2.4): drop queues and popped chains; back to the pre-activate state. */
  reset(): void;
  /** An available-buffer notification for queue `index` (always a valid, enabled queue). */
  queueNotify(index: number): void;
  /**
   * Optional: the device's domain was destroyed and the backend is never used again; drop every
   * reference from outside the domain (a switch port) so nothing keeps its memory alive.
   */
  release?(): void;
}

/**
 * A failure of the host's own resources (error class 3), e.g. an `fs` call that threw EIO or
 * ENOSPC. Disk images throw it; backends catch it, answer the guest with an I/O error and log
 * it. Keeping it a distinct class lets a backend tell a host fault from a bug in itself.
 */
export class HostIoError extends Error {
  /** The errno-style code of the underlying failure, when there was one (`EIO`, `ENOSPC`). */
  readonly code: string | undefined;

  /** Wraps `cause` (usually a Node system error) with what the host was doing. */
  constructor(what: string, cause: unknown) {
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(`${what}: ${msg}`, { cause });
    this.name = 'HostIoError';
    this.code = code;
  }
}
