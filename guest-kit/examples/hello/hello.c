/*
 * hello: prints its command line and a newline, then powers off with code 0.
 *
 *   pvisor run hello.wasm --cmdline hi      prints exactly "hi\n"
 */
#include <pvisor/pvisor.h>

int kmain(const pv_start_info_t *si)
{
    (void)si;
    pv_printf("%s\n", pv_cmdline());
    return 0;
}
