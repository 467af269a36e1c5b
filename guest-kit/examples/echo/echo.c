/*
 * echo: the kit's virtio-console driver (virtio_console.h) end to end.
 *
 * Writes the banner "echo: ready\n" on the virtio-console, then writes back every byte it reads
 * from it, until it reads the line "quit": that line is echoed too, then "echo: bye\n" is
 * written, anything after it is ignored, and the domain powers off with 0 after printing
 * "echo: quit after N lines" (N counts the quit line) on the hypervisor console.
 * Without a virtio-console: "echo: no virtio-console" and exit code 2.
 */
#include <pvisor/pvisor.h>
#include <pvisor/virtio_console.h>

static pv_vcon_t con;
static uint8_t in[PV_VCON_BUF_SIZE];
static char line[8];

static void say(const char *s)
{
    pv_vcon_write(&con, s, (uint32_t)strlen(s));
}

int kmain(const pv_start_info_t *si)
{
    (void)si;
    if (pv_vcon_init(&con, NULL, 0) < 0) {
        pv_puts("echo: no virtio-console");
        return 2;
    }
    say("echo: ready\n");
    uint32_t lines = 0, linelen = 0;
    for (;;) {
        int32_t n = pv_vcon_read(&con, in, sizeof in);
        if (n < 0) {
            pv_printf("echo: read failed: %d\n", (int)n);
            return 1;
        }
        for (int32_t i = 0; i < n; i++) {
            uint8_t c = in[i];
            if (c != '\n') {
                if (linelen < sizeof line)
                    line[linelen] = (char)c;
                linelen++;
                continue;
            }
            lines++;
            int quit = linelen == 4 && memcmp(line, "quit", 4) == 0;
            linelen = 0;
            if (quit) {
                pv_vcon_write(&con, in, (uint32_t)i + 1u);
                say("echo: bye\n");
                pv_printf("echo: quit after %u lines\n", (unsigned)lines);
                return 0;
            }
        }
        pv_vcon_write(&con, in, (uint32_t)n);
    }
}
