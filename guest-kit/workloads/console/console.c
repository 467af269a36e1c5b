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

/* The alphabet four times: line i's letters are ALPHA[i % 26 .. i % 26 + 54). */
static const char ALPHA[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                            "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";

int wl_main(void)
{
    uint32_t total = wl_arg_u32("bytes", 1048576u);
    static char chunk[CHUNK];
    /* The line number as 8 decimal digits, counted up in place (the console is what is measured:
     * formatting each line with printf cost more than writing it on the paravirtual path). */
    char num[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
    uint32_t crc = 0, done = 0, line = 0;
    while (done < total) {
        uint32_t n = 0;
        while (n < CHUNK) {
            char *l = chunk + n;
            memcpy(l, num, 8);
            l[8] = ' ';
            memcpy(l + 9, ALPHA + line % 26u, LINE - 10);
            l[LINE - 1] = '\n';
            n += LINE;
            line++;
            for (int d = 7; d >= 0 && ++num[d] > '9'; d--)
                num[d] = '0';
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
