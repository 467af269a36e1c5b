/**
 * Byte layout of a virtio 1.x split virtqueue (virtio 1.2 §2.7), as named constants.
 *
 * Every offset here is relative to the start of its part; all fields are little-endian
 * (§2.7.3: only legacy interfaces use guest-native endianness, and we have none).
 *
 * ```
 * Descriptor Table (align 16, 16·Q bytes)     desc[i] @ 16i: addr le64 @0, len le32 @8,
 *                                                             flags le16 @12, next le16 @14
 * Available Ring   (align 2,  6 + 2·Q bytes)  flags @0, idx @2, ring[i] @4+2i, used_event @4+2Q
 * Used Ring        (align 4,  6 + 8·Q bytes)  flags @0, idx @2, ring[i] = {id le32 @4+8i,
 *                                             len le32 @8+8i}, avail_event @4+8Q
 * ```
 * @module
 */

/** `VIRTQ_DESC_F_NEXT`: the buffer continues via the `next` field (§2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
/** `VIRTQ_DESC_F_WRITE`: the buffer is device write-only (otherwise device read-only) (§2.7.5). */
export const VIRTQ_DESC_F_WRITE = 2;
/** `VIRTQ_DESC_F_INDIRECT`: the buffer holds a table of descriptors (§2.7.5.3). */
export const VIRTQ_DESC_F_INDIRECT = 4;
/** `VIRTQ_AVAIL_F_NO_INTERRUPT`: avail `flags` bit, driver asks for no used-buffer notifications (§2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** `VIRTQ_USED_F_NO_NOTIFY`: used `flags` bit, device asks for no available-buffer notifications (§2.7.10). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Feature bit VIRTIO_F_INDIRECT_DESC: the driver may use indirect descriptor tables (§6). */
export const VIRTIO_F_INDIRECT_DESC = 28;
/** Feature bit VIRTIO_F_EVENT_IDX: `used_event`/`avail_event` replace the flags hints (§6). */
export const VIRTIO_F_EVENT_IDX = 29;
/** Feature bit VIRTIO_F_VERSION_1 (§6); not consulted by the ring itself. */
export const VIRTIO_F_VERSION_1 = 32;

/** Largest queue size (§2.7: "The maximum Queue Size value is 32768"). */
export const MAX_QUEUE_SIZE = 32768;
/** Bytes per descriptor, in the table and in indirect tables. */
export const DESC_SIZE = 16;
/** Required alignment of the descriptor table (§2.7 table, §2.7.1). */
export const DESC_ALIGN = 16;
/** Required alignment of the available ring (§2.7 table, §2.7.1). */
export const AVAIL_ALIGN = 2;
/** Required alignment of the used ring (§2.7 table, §2.7.1). */
export const USED_ALIGN = 4;

/** Offset of `flags` in both rings. */
export const RING_FLAGS = 0;
/** Offset of `idx` in both rings. */
export const RING_IDX = 2;
/** Offset of `ring[0]` in both rings. */
export const RING_ENTRIES = 4;
/** Bytes per available-ring entry (le16 head index). */
export const AVAIL_ENTRY_SIZE = 2;
/** Bytes per used-ring element (`virtq_used_elem`: le32 id, le32 len). */
export const USED_ELEM_SIZE = 8;

/** Size in bytes of the descriptor table for a queue of `q` entries. */
export function descTableBytes(q: number): number {
  return DESC_SIZE * q;
}

/** Size in bytes of the available ring, `used_event` included. */
export function availRingBytes(q: number): number {
  return 6 + AVAIL_ENTRY_SIZE * q;
}

/** Size in bytes of the used ring, `avail_event` included. */
export function usedRingBytes(q: number): number {
  return 6 + USED_ELEM_SIZE * q;
}

/** Offset of `used_event` in the available ring (right after `ring[q-1]`). */
export function usedEventOffset(q: number): number {
  return RING_ENTRIES + AVAIL_ENTRY_SIZE * q;
}

/** Offset of `avail_event` in the used ring (right after `ring[q-1]`). */
export function availEventOffset(q: number): number {
  return RING_ENTRIES + USED_ELEM_SIZE * q;
}

/**
 * `vring_need_event` (§2.7.7.2 and the spec's virtio-queue.h): true when the 16-bit index
 * `event` lies in the half-open window `[old, newIdx)` modulo 2^16, i.e. when moving an index
 * from `old` to `newIdx` wrote the entry the other side asked to hear about.
 *
 * Computed as `(u16)(newIdx - event - 1) < (u16)(newIdx - old)`; the wrapped subtraction makes
 * it correct across the 65535 → 0 wrap without special cases.
 */
export function needEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/** True when `features` (the negotiated 64-bit feature set) has bit `bit`. */
export function hasFeature(features: bigint, bit: number): boolean {
  return ((features >> BigInt(bit)) & 1n) === 1n;
}
