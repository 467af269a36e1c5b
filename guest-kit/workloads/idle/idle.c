/*
 * idle workload: a periodic timer for a number of virtual seconds, sleeping between ticks.
 *
 * Command line: seconds=<n> (default 10), hz=<n> (default 100).
 *
 * At every tick it reads the clock, as a kernel's tick handler updates the time of day, and
 * checks that time never goes backwards and that no tick comes early (by half a period or more).
 *
 * Output: "idle: <seconds * hz> ticks at <hz> Hz (<seconds> s)". Exit 0; 1 when a check fails
 * (with a line saying which); 2 when the timer cannot be started.
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
    uint64_t period = 1000000000u / hz, start = wl_now_ns(), last = start;
    while (ticks < want) {
        ticks = wl_tick_wait();
        uint64_t now = wl_now_ns();
        if (now < last || now - start + period / 2 < ticks * period) {
            wl_printf("idle: tick %llu at %llu ns after the start: the clock went back or the tick came early\n",
                      (unsigned long long)ticks, (unsigned long long)(now - start));
            return 1;
        }
        last = now;
    }
    wl_tick_stop();
    wl_printf("idle: %llu ticks at %u Hz (%u s)\n", (unsigned long long)ticks, (unsigned)hz, (unsigned)seconds);
    return 0;
}
