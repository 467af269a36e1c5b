/*
 * libpvisor: the command line (start_info.cmdline): `key=value` words separated by spaces.
 */
#include "internal.h"

const char *pv_cmdline(void)
{
    if (pv__si == NULL || pv__si->cmdline == 0)
        return "";
    return (const char *)(uintptr_t)pv__si->cmdline;
}

int pv_cmdline_get(const char *key, char *buf, size_t len)
{
    const char *p = pv_cmdline();
    size_t klen = strlen(key);
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p != '\0' && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - word);
        if (wlen < klen || strncmp(word, key, klen) != 0)
            continue;
        const char *val;
        size_t vlen;
        if (wlen == klen) {
            val = word + klen;
            vlen = 0;
        } else if (word[klen] == '=') {
            val = word + klen + 1;
            vlen = wlen - klen - 1;
        } else {
            continue;
        }
        if (len > 0) {
            size_t n = vlen < len - 1 ? vlen : len - 1;
            memcpy(buf, val, n);
            buf[n] = '\0';
        }
        return (int)vlen;
    }
    return -1;
}

uint32_t pv_cmdline_u32(const char *key, uint32_t dflt)
{
    char buf[24];
    int n = pv_cmdline_get(key, buf, sizeof buf);
    if (n <= 0 || n >= (int)sizeof buf)
        return dflt;
    const char *end;
    uint64_t v = pv_strtoull(buf, &end, 0);
    if (*end != '\0' || end == buf || v > 0xffffffffu)
        return dflt;
    return (uint32_t)v;
}
