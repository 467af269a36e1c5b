/*
 * pvisor guest kit: the boot volume (bootvol.c), the read-only disk `pvisor boot --image NAME=PATH`
 * builds for a controlling domain: the images (and any other files) it needs to create domains.
 *
 *   pv_bootvol_open()                    find the virtio-blk device named "boot", read the directory
 *   pv_bootvol_find(name, &len)          is `name` on the volume, and how long is it
 *   pv_bootvol_read(name, dst, len)      read it into dst, verify its CRC-32
 *   pv_bootvol_count() / pv_bootvol_entry(i)   list the directory
 *
 * Format (docs/boot.md; the host side is src/control/boot-volume.ts). Little-endian, 512-byte
 * sectors. Sector 0: magic "PVBOOTV1" (8 bytes), u32 count, u32 reserved, then `count` entries of
 * 32 bytes: name[16] (1..15 bytes, NUL-padded), u32 first_sector, u32 length (bytes), u32 crc32
 * (IEEE 802.3 / zlib CRC-32 of the file's bytes), u32 reserved. At most PV_BOOTVOL_MAX_ENTRIES
 * entries. Each file starts on a sector boundary after sector 0.
 *
 * Results: 0 or a negative PV_E*:
 *   PV_ESRCH   no device "boot" in the manifest (open); no file of that name (find, read)
 *   PV_EINVAL  sector 0 is not a boot volume (bad magic, count above 15, an entry with a bad name
 *              or extending past the disk) (open); a NULL or over-long name, or the volume is
 *              not open (find, read)
 *   PV_ENOSPC  `len` is smaller than the file (read; nothing is written), or the heap is full (open)
 *   PV_EIO     the device failed a read (open, read); the bytes read do not match the CRC-32
 *              (read: `dst` then holds what was read — do not use it)
 *   and pv_blk_init's errors from open.
 *
 * Invariants for users:
 * - The host is not trusted either: the directory is checked once at open (bounds against the
 *   disk's capacity) and every file's CRC-32 at every read.
 * - One volume per domain, driven by the vCPU that called pv_bootvol_open; the calls block
 *   (virtio-blk, virtio_blk.h) and must not be called from an event handler.
 * - pv_bootvol_open is idempotent once it succeeded. A device move (DOMCTL_DETACH of "boot")
 *   resets the device: do not use the volume after handing it away.
 */
#ifndef PVISOR_BOOTVOL_H
#define PVISOR_BOOTVOL_H

#include <stdint.h>

/** The first 8 bytes of sector 0. */
#define PV_BOOTVOL_MAGIC "PVBOOTV1"
/** Most files on a volume. */
#define PV_BOOTVOL_MAX_ENTRIES 15u
/** Longest file name in bytes (the field is 16 bytes, always NUL-terminated). */
#define PV_BOOTVOL_NAME_MAX 15u
/** The manifest name of the boot volume device. */
#define PV_BOOTVOL_DEVICE "boot"
/** Bytes per sector. */
#define PV_BOOTVOL_SECTOR 512u

/** One directory entry, as on disk (32 bytes). */
typedef struct pv_bootvol_entry {
    char name[16];         /* NUL-padded */
    uint32_t first_sector; /* where the file starts */
    uint32_t length;       /* its size in bytes */
    uint32_t crc32;        /* CRC-32 (zlib) of its bytes */
    uint32_t reserved;
} pv_bootvol_entry_t;

/** Finds the device "boot", initialises it and reads and checks the directory. */
int pv_bootvol_open(void);

/** Files on the open volume (0 when it is not open). */
uint32_t pv_bootvol_count(void);

/** Directory entry `i` (0 <= i < pv_bootvol_count()), or NULL. */
const pv_bootvol_entry_t *pv_bootvol_entry(uint32_t i);

/** Looks `name` up; its length in bytes goes to `*len_out` (may be NULL). */
int pv_bootvol_find(const char *name, uint32_t *len_out);

/** Reads file `name` into `dst` (`len` >= its length) and verifies its CRC-32. */
int pv_bootvol_read(const char *name, void *dst, uint32_t len);

/** CRC-32 (IEEE 802.3, as zlib's crc32) of `len` bytes at `p`. */
uint32_t pv_bootvol_crc32(const void *p, uint32_t len);

#endif /* PVISOR_BOOTVOL_H */
