/*
 * pvisor guest kit: the boot volume reader (pvisor/bootvol.h; format in docs/boot.md).
 *
 * The directory is copied out of sector 0 once and checked there; later calls look only at the
 * copy. Files are read straight into the caller's buffer, whole sectors at a time, and the last
 * partial sector through a bounce buffer, so nothing past `length` bytes of `dst` is written.
 */
#include <pvisor/bootvol.h>
#include <pvisor/pvisor.h>
#include <pvisor/virtio.h>
#include <pvisor/virtio_blk.h>

/* Sectors per request: keeps each request well inside what any device accepts. */
#define CHUNK_SECTORS 64u
#define HEADER_BYTES 16u

static pv_blk_t blk;
static int opened;
static uint32_t count;
static pv_bootvol_entry_t dir[PV_BOOTVOL_MAX_ENTRIES];
/* Sector-sized scratch: sector 0 at open, the last partial sector of a file at read. */
static uint8_t bounce[PV_BOOTVOL_SECTOR] __attribute__((aligned(16)));

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t pv_bootvol_crc32(const void *p, uint32_t len)
{
    /* Bitwise, no table: boot files are read once, and 1 KiB of table is not worth it. */
    const uint8_t *b = (const uint8_t *)p;
    uint32_t crc = 0xffffffffu;
    for (uint32_t i = 0; i < len; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* Checks one entry copied from disk against the disk's capacity. */
static int entry_ok(const pv_bootvol_entry_t *e, uint64_t capacity)
{
    size_t n = pv_strnlen(e->name, sizeof e->name);
    if (n == 0 || n > PV_BOOTVOL_NAME_MAX) return 0;
    for (size_t i = n; i < sizeof e->name; i++)
        if (e->name[i] != 0) return 0;
    if (e->first_sector == 0) return 0; /* sector 0 is the directory */
    uint64_t sectors = ((uint64_t)e->length + PV_BOOTVOL_SECTOR - 1) / PV_BOOTVOL_SECTOR;
    return (uint64_t)e->first_sector + sectors <= capacity;
}

int pv_bootvol_open(void)
{
    if (opened) return 0;
    const pv_device_info_t *info = pv_virtio_find(PV_VIRTIO_ID_BLOCK, PV_BOOTVOL_DEVICE, 0);
    if (info == 0) return PV_ESRCH;
    int32_t rc = pv_blk_init(&blk, info, 0);
    if (rc != 0) return rc;
    rc = pv_blk_read(&blk, 0, bounce, 1);
    if (rc != 0) return rc;
    if (memcmp(bounce, PV_BOOTVOL_MAGIC, 8) != 0) return PV_EINVAL;
    uint32_t n = le32(bounce + 8);
    if (n > PV_BOOTVOL_MAX_ENTRIES) return PV_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = bounce + HEADER_BYTES + i * sizeof(pv_bootvol_entry_t);
        pv_bootvol_entry_t *e = &dir[i];
        memcpy(e->name, p, sizeof e->name);
        e->first_sector = le32(p + 16);
        e->length = le32(p + 20);
        e->crc32 = le32(p + 24);
        e->reserved = le32(p + 28);
        if (!entry_ok(e, blk.capacity)) return PV_EINVAL;
    }
    count = n;
    opened = 1;
    return 0;
}

uint32_t pv_bootvol_count(void)
{
    return opened ? count : 0;
}

const pv_bootvol_entry_t *pv_bootvol_entry(uint32_t i)
{
    return opened && i < count ? &dir[i] : 0;
}

/* The entry named `name`, or NULL; *err says why not. */
static const pv_bootvol_entry_t *lookup(const char *name, int *err)
{
    if (!opened || name == 0 || pv_strnlen(name, PV_BOOTVOL_NAME_MAX + 1) > PV_BOOTVOL_NAME_MAX) {
        *err = PV_EINVAL;
        return 0;
    }
    for (uint32_t i = 0; i < count; i++)
        if (strncmp(dir[i].name, name, sizeof dir[i].name) == 0) return &dir[i];
    *err = PV_ESRCH;
    return 0;
}

int pv_bootvol_find(const char *name, uint32_t *len_out)
{
    int err = 0;
    const pv_bootvol_entry_t *e = lookup(name, &err);
    if (e == 0) return err;
    if (len_out != 0) *len_out = e->length;
    return 0;
}

int pv_bootvol_read(const char *name, void *dst, uint32_t len)
{
    int err = 0;
    const pv_bootvol_entry_t *e = lookup(name, &err);
    if (e == 0) return err;
    if (len < e->length) return PV_ENOSPC;
    uint8_t *out = (uint8_t *)dst;
    uint32_t whole = e->length / PV_BOOTVOL_SECTOR;
    uint64_t sector = e->first_sector;
    for (uint32_t done = 0; done < whole;) {
        uint32_t n = whole - done < CHUNK_SECTORS ? whole - done : CHUNK_SECTORS;
        int32_t rc = pv_blk_read(&blk, sector + done, out + (size_t)done * PV_BOOTVOL_SECTOR, n);
        if (rc != 0) return rc;
        done += n;
    }
    uint32_t tail = e->length % PV_BOOTVOL_SECTOR;
    if (tail != 0) {
        int32_t rc = pv_blk_read(&blk, sector + whole, bounce, 1);
        if (rc != 0) return rc;
        memcpy(out + (size_t)whole * PV_BOOTVOL_SECTOR, bounce, tail);
    }
    if (pv_bootvol_crc32(dst, e->length) != e->crc32) return PV_EIO;
    return 0;
}
