/*
 * console workload: writes a deterministic text pattern to the console, then a result line.
 *
 * Command line: bytes=<n> (default 1048576).
 *
 * Pattern: 64-byte lines "NNNNNNNN " + 54 letters + "\n", line i's letters starting at
 * 'a' + i % 26 and cycling through the alphabet; the last line is cut at `bytes`. Written in
 * 4 KiB chunks.
 *
 * Output: the pattern (a newline added when `bytes` cut the last line), then "console: wrote <n> bytes, crc32 0x<crc of the pattern>". Exit 0.
 */
#include "../wl.h"

#define LINE 64u
#define CHUNK 4096u

int wl_main(void)
{
    uint32_t total = wl_arg_u32("bytes", 1048576u);
    static char chunk[CHUNK];
    uint32_t crc = 0, done = 0, line = 0;
    while (done < total) {
        uint32_t n = 0;
        while (n < CHUNK) {
            char *l = chunk + n;
            wl_snprintf(l, 10, "%08u ", (unsigned)line);
            for (uint32_t j = 0; j < LINE - 10; j++)
                l[9 + j] = (char)('a' + (line + j) % 26u);
            l[LINE - 1] = '\n';
            n += LINE;
            line++;
        }
        if (n > total - done)
            n = total - done;
        wl_console_write(chunk, n);
        crc = wl_crc32(crc, chunk, n);
        done += n;
    }
    if (done % LINE != 0)
        wl_console_write("\n", 1); /* the result on a line of its own (not counted) */
    wl_printf("console: wrote %u bytes, crc32 0x%08x\n", (unsigned)done, (unsigned)crc);
    return 0;
}
