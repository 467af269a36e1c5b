/*
 * Workload helpers shared by both backends (wl.h): CRC-32 and the PRNG. No machine access.
 */
#include "wl.h"

static uint32_t crc_table[8][256];
static int crc_ready;

/* Slicing-by-8 tables of the reflected IEEE polynomial 0xEDB88320. */
static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xFF];
    crc_ready = 1;
}

uint32_t wl_crc32(uint32_t crc, const void *buf, size_t len)
{
    if (!crc_ready)
        crc_init();
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    while (len > 0 && ((uintptr_t)p & 3) != 0) {
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t a = *(const uint32_t *)(const void *)p ^ c;
        uint32_t b = *(const uint32_t *)(const void *)(p + 4);
        c = crc_table[7][a & 0xFF] ^ crc_table[6][(a >> 8) & 0xFF] ^ crc_table[5][(a >> 16) & 0xFF] ^
            crc_table[4][a >> 24] ^ crc_table[3][b & 0xFF] ^ crc_table[2][(b >> 8) & 0xFF] ^
            crc_table[1][(b >> 16) & 0xFF] ^ crc_table[0][b >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

uint64_t wl_rand(uint64_t *s)
{
    /* xorshift64* (Vigna); a zero state would stay zero, so it is nudged. */
    uint64_t x = *s != 0 ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
