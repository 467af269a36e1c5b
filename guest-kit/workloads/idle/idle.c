/*
 * idle workload: a periodic timer for a number of virtual seconds, sleeping between ticks.
 *
 * Command line: seconds=<n> (default 10), hz=<n> (default 100).
 *
 * Output: "idle: <seconds * hz> ticks at <hz> Hz (<seconds> s)". Exit 0; 2 when the timer cannot
 * be started.
 */
#include "../wl.h"

int wl_main(void)
{
    uint32_t seconds = wl_arg_u32("seconds", 10);
    uint32_t hz = wl_arg_u32("hz", 100);
    if (hz == 0 || wl_tick_start(hz) != 0) {
        wl_printf("idle: cannot start a %u Hz timer\n", (unsigned)hz);
        return 2;
    }
    uint64_t want = (uint64_t)seconds * hz, ticks = 0;
    while (ticks < want)
        ticks = wl_tick_wait();
    wl_tick_stop();
    wl_printf("idle: %llu ticks at %u Hz (%u s)\n", (unsigned long long)ticks, (unsigned)hz, (unsigned)seconds);
    return 0;
}
