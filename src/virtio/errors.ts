/**
 * What a driver can get wrong, in three classes kept apart (DESIGN.md "Error policy"):
 *
 * - {@link ChainErrorKind}: one request is malformed. The queue goes on; the chain is handed to
 *   the backend with `error` set, completed with used length 0 (and an error status where the
 *   protocol has one and the chain ends in a reachable device-writable byte), so no slot leaks.
 * - {@link RingErrorKind}: the ring itself is corrupt (its indices cannot be trusted). The queue
 *   stops (`broken`) until reset; the transport sets DEVICE_NEEDS_RESET. Only this queue stops.
 * - {@link QueueConfigErrorKind}: the driver configured an impossible queue (size, alignment,
 *   placement). The queue is not created; the transport refuses QueueReady.
 *
 * None of these is an exception: guest data never makes the host throw.
 * @module
 */

/**
 * Why one descriptor chain was refused. The value is a stable identifier (tests and metrics
 * match on it); {@link CHAIN_ERROR_TEXT} gives the sentence and the clause.
 */
export type ChainErrorKind =
  | 'head-out-of-range'
  | 'next-out-of-range'
  | 'chain-too-long'
  | 'indirect-not-negotiated'
  | 'indirect-nested'
  | 'indirect-with-next'
  | 'indirect-bad-length'
  | 'indirect-out-of-memory'
  | 'indirect-next-out-of-range'
  | 'readable-after-writable'
  | 'buffer-out-of-memory'
  | 'zero-length'
  | 'total-length-overflow';

/** A human-readable reason for each {@link ChainErrorKind}, naming the clause it enforces. */
export const CHAIN_ERROR_TEXT: Readonly<Record<ChainErrorKind, string>> = {
  'head-out-of-range': 'head index from the available ring is not below the queue size (virtio 1.2 §2.7.5)',
  'next-out-of-range': 'descriptor next index is not below the queue size (virtio 1.2 §2.7.5)',
  'chain-too-long': 'descriptor chain longer than the queue size, or a loop (virtio 1.2 §2.7.5.3.1, §2.7.5.2)',
  'indirect-not-negotiated': 'VIRTQ_DESC_F_INDIRECT used without VIRTIO_F_INDIRECT_DESC (virtio 1.2 §2.7.5.3.1)',
  'indirect-nested': 'VIRTQ_DESC_F_INDIRECT inside an indirect table (virtio 1.2 §2.7.5.3.1)',
  'indirect-with-next': 'VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT both set (virtio 1.2 §2.7.5.3.1)',
  'indirect-bad-length': 'indirect table length is zero or not a multiple of 16 (virtio 1.2 §2.7.5.3)',
  'indirect-out-of-memory': 'indirect table lies outside guest memory (virtio 1.2 §2.7.5.3)',
  'indirect-next-out-of-range': 'indirect descriptor next index is past the end of its table (virtio 1.2 §2.7.5.3)',
  'readable-after-writable': 'device-readable descriptor after a device-writable one (virtio 1.2 §2.7.4.2)',
  'buffer-out-of-memory': 'buffer address + length lies outside guest memory (virtio 1.2 §2.7.5)',
  'zero-length': 'zero-length buffer (refused as QEMU does; virtio 1.2 §2.7.4.1 lets a device limit chains)',
  'total-length-overflow': 'descriptor chain longer than 2^32 - 1 bytes in total (virtio 1.2 §2.7.5.2)',
};

/** Why a queue was put in the broken state. {@link RING_ERROR_TEXT} gives the sentence. */
export type RingErrorKind = 'avail-idx-jump' | 'too-many-outstanding';

/** A human-readable reason for each {@link RingErrorKind}, naming the clause it enforces. */
export const RING_ERROR_TEXT: Readonly<Record<RingErrorKind, string>> = {
  'avail-idx-jump':
    'available idx moved back, or ahead of the device by more than the queue size (virtio 1.2 §2.7.6.1, §2.7.13)',
  'too-many-outstanding':
    'more buffers made available than the queue size allows in flight (virtio 1.2 §2.7: at most Queue Size buffers queued)',
};

/** Why a queue configuration was refused. {@link QUEUE_CONFIG_ERROR_TEXT} gives the sentence. */
export type QueueConfigErrorKind =
  | 'bad-size'
  | 'bad-address'
  | 'misaligned-desc'
  | 'misaligned-avail'
  | 'misaligned-used'
  | 'out-of-memory'
  | 'used-overlaps-driver-area'
  | 'bad-index';

/** A human-readable reason for each {@link QueueConfigErrorKind}. */
export const QUEUE_CONFIG_ERROR_TEXT: Readonly<Record<QueueConfigErrorKind, string>> = {
  'bad-size': 'queue size is not a power of 2 between 1 and 32768 (virtio 1.2 §2.7)',
  'bad-address': 'a ring address is not an integer below 2^32',
  'misaligned-desc': 'descriptor table is not 16-byte aligned (virtio 1.2 §2.7.1)',
  'misaligned-avail': 'available ring is not 2-byte aligned (virtio 1.2 §2.7.1)',
  'misaligned-used': 'used ring is not 4-byte aligned (virtio 1.2 §2.7.1)',
  'out-of-memory': 'a ring does not lie inside guest memory',
  'used-overlaps-driver-area': 'used ring overlaps the descriptor table or the available ring, which the device must not write',
  'bad-index': 'initial ring index is not a u16',
};
