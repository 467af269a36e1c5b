/*
 * blk workload: sequential write, then sequential read with verification, of a deterministic
 * pattern; then 4 KiB random reads inside the written area.
 *
 * Command line:
 *   mb=<n>      MiB written then read (default 64; the disk must hold them)
 *   req=<n>     KiB per request (default 64; 4..1024, a multiple of 4)
 *   reads=<n>   4 KiB random reads (default 1000)
 *   seed=<n>    seeds the pattern and the random offsets (default 1)
 *
 * Pattern: 32-bit word k of sector s is mix(seed, k) ^ stamp(s) (below): every sector differs, so
 * a misplaced sector is caught, and so does every word of a sector, so a misplaced word is too.
 * The mixed words are computed once: what is measured is the disk path, not the pattern
 * generator. Every word read is checked against the pattern. The checksums are CRC-32s of the
 * bytes in disk order (the whole area as written; random reads: the 4 KiB blocks in the order
 * read); the sequential read needs none of its own, since every word of it is checked.
 *
 * Output: "blk: wrote <mb> MiB, read <mb> MiB, crc32 0x<..>, <reads> random reads crc32 0x<..>".
 * Exit 0; 1 on an I/O error or a mismatch ("blk: FAILED: ..."); 2 on a bad command line or no
 * (big enough) disk.
 */
#include "../wl.h"

#define SECTOR 512u
#define BLOCK 4096u

static uint32_t mix(uint32_t seed, uint32_t k)
{
    uint32_t x = seed * 0xC2B2AE3Du ^ k * 0x27D4EB2Fu;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    return x;
}

static uint32_t stamp(uint64_t sector)
{
    return (uint32_t)sector * 0x9E3779B1u ^ (uint32_t)(sector >> 32) * 0x85EBCA77u;
}

/* mix(seed, k) for every word of a sector. */
static uint32_t base[SECTOR / 4];

static void fill(uint32_t *w, uint64_t sector, uint32_t nsectors)
{
    for (uint32_t s = 0; s < nsectors; s++) {
        uint32_t t = stamp(sector + s);
        for (uint32_t k = 0; k < SECTOR / 4; k++)
            *w++ = base[k] ^ t;
    }
}

/* The first sector in [sector, sector + n) whose contents differ from the pattern, or -1. */
static int64_t check(const uint32_t *w, uint64_t sector, uint32_t nsectors)
{
    for (uint32_t s = 0; s < nsectors; s++) {
        uint32_t t = stamp(sector + s), diff = 0;
        for (uint32_t k = 0; k < SECTOR / 4; k++)
            diff |= *w++ ^ base[k] ^ t;
        if (diff != 0)
            return (int64_t)(sector + s);
    }
    return -1;
}

int wl_main(void)
{
    uint32_t mb = wl_arg_u32("mb", 64);
    uint32_t req_kib = wl_arg_u32("req", 64);
    uint32_t reads = wl_arg_u32("reads", 1000);
    uint32_t seed = wl_arg_u32("seed", 1);
    if (mb == 0 || req_kib < 4 || req_kib > 1024 || req_kib % 4 != 0) {
        wl_printf("blk: mb must be > 0 and req 4..1024 KiB, a multiple of 4\n");
        return 2;
    }
    uint64_t capacity;
    if (wl_blk_init(&capacity) != 0) {
        wl_printf("blk: no usable disk\n");
        return 2;
    }
    uint64_t area = (uint64_t)mb * (1024u * 1024u / SECTOR);
    if (capacity < area) {
        wl_printf("blk: disk of %llu sectors is smaller than %u MiB\n", (unsigned long long)capacity, (unsigned)mb);
        return 2;
    }
    uint32_t per_req = req_kib * 1024u / SECTOR;
    uint32_t *buf = wl_alloc(req_kib * 1024u, 64);
    if (buf == NULL) {
        wl_printf("blk: out of memory for a %u KiB buffer\n", (unsigned)req_kib);
        return 2;
    }
    for (uint32_t k = 0; k < SECTOR / 4; k++)
        base[k] = mix(seed, k);
    uint32_t crc_w = 0, crc_rand = 0;
    for (uint64_t s = 0; s < area; s += per_req) {
        uint32_t n = area - s < per_req ? (uint32_t)(area - s) : per_req;
        fill(buf, s, n);
        crc_w = wl_crc32(crc_w, buf, (size_t)n * SECTOR);
        if (wl_blk_write(s, buf, n) != 0) {
            wl_printf("blk: FAILED: write of %u sectors at %llu\n", (unsigned)n, (unsigned long long)s);
            return 1;
        }
    }
    if (wl_blk_flush() != 0) {
        wl_printf("blk: FAILED: flush\n");
        return 1;
    }
    for (uint64_t s = 0; s < area; s += per_req) {
        uint32_t n = area - s < per_req ? (uint32_t)(area - s) : per_req;
        if (wl_blk_read(s, buf, n) != 0) {
            wl_printf("blk: FAILED: read of %u sectors at %llu\n", (unsigned)n, (unsigned long long)s);
            return 1;
        }
        int64_t bad = check(buf, s, n);
        if (bad >= 0) {
            wl_printf("blk: FAILED: sector %llu does not hold what was written\n", (unsigned long long)bad);
            return 1;
        }
    }
    uint64_t rng = 0x5DEECE66Dull ^ ((uint64_t)seed << 32 | seed);
    uint64_t blocks = area / (BLOCK / SECTOR);
    for (uint32_t i = 0; i < reads; i++) {
        uint64_t s = wl_rand(&rng) % blocks * (BLOCK / SECTOR);
        if (wl_blk_read(s, buf, BLOCK / SECTOR) != 0) {
            wl_printf("blk: FAILED: random read at %llu\n", (unsigned long long)s);
            return 1;
        }
        int64_t bad = check(buf, s, BLOCK / SECTOR);
        if (bad >= 0) {
            wl_printf("blk: FAILED: sector %llu does not hold what was written\n", (unsigned long long)bad);
            return 1;
        }
        crc_rand = wl_crc32(crc_rand, buf, BLOCK);
    }
    wl_printf("blk: wrote %u MiB, read %u MiB, crc32 0x%08x, %u random reads crc32 0x%08x\n", (unsigned)mb,
              (unsigned)mb, (unsigned)crc_w, (unsigned)reads, (unsigned)crc_rand);
    return 0;
}
