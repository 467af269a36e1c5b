/*
 * selftest: checks the guest kit and the basic hypercall semantics it relies on, XTF style.
 *
 * Prints nothing but the result line when every check passes:
 *
 *   Test result: SUCCESS
 *
 * Each failed check prints "FAILURE: <what>" first; the last line is then
 * "Test result: FAILURE: <first failure>" and the domain shuts down with PV_SHUTDOWN_CRASH, 5.
 * Runs on one vCPU with any command line; it checks that start_info.cmdline_len matches.
 */
#include <pvisor/pvisor.h>

static int checks;

/* Like PV_TEST_CHECK, counting checks. (Stringized here, so the message shows the source text
 * rather than the expansion of pv_atomic_load and friends.) */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond))                                                                               \
            pv_test_note(PV_TEST_FAILURE, "line %d: %s", __LINE__, #cond);                         \
    } while (0)

static void check_fmt(int line, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void check_fmt(int line, const char *want, const char *fmt, ...)
{
    char got[96];
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vsnprintf(got, sizeof got, fmt, ap);
    va_end(ap);
    checks++;
    if (strcmp(got, want) != 0 || n != (int)strlen(want))
        pv_test_note(PV_TEST_FAILURE, "line %d: format \"%s\" gave \"%s\" (%d), want \"%s\"", line,
                     fmt, got, n, want);
}
#define FMT(want, ...) check_fmt(__LINE__, want, __VA_ARGS__)

static void test_format(void)
{
    FMT("0", "%d", 0);
    FMT("-42", "%d", -42);
    FMT("7", "%i", 7);
    FMT("   42", "%5d", 42);
    FMT("42   |", "%-5d|", 42);
    FMT("-0042", "%05d", -42);
    FMT("4294967295", "%u", 4294967295u);
    FMT("deadbeef", "%x", 0xdeadbeefu);
    FMT("DEADBEEF", "%X", 0xdeadbeefu);
    FMT("00001234", "%08x", 0x1234u);
    FMT("-5", "%ld", -5L);
    FMT("-9223372036854775808", "%lld", (long long)(-9223372036854775807LL - 1));
    FMT("18446744073709551615", "%llu", 18446744073709551615ull);
    FMT("123456789abcdef0", "%llx", 0x123456789abcdef0ull);
    FMT("12", "%zu", (size_t)12);
    FMT("0x00001234", "%p", (void *)0x1234);
    FMT("abc", "%s", "abc");
    FMT("ab", "%.2s", "abc");
    FMT("   ab", "%5s", "ab");
    FMT("ab  |", "%-4s|", "ab");
    FMT("(null)", "%s", (const char *)NULL);
    FMT("x", "%c", 'x');
    FMT("100%", "%d%%", 100);
    FMT("   7", "%*d", 4, 7);

    char buf[4];
    int n = pv_snprintf(buf, sizeof buf, "abcdef");
    CHECK(n == 6 && strcmp(buf, "abc") == 0);
}

static void test_string(void)
{
    char a[16];
    memset(a, 'z', sizeof a);
    CHECK(a[0] == 'z' && a[15] == 'z');
    memcpy(a, "hello", 6);
    CHECK(strlen(a) == 5 && strcmp(a, "hello") == 0);
    memmove(a + 1, a, 6); /* overlapping */
    CHECK(strcmp(a, "hhello") == 0);
    CHECK(memcmp("abc", "abd", 3) < 0 && memcmp("abc", "abc", 3) == 0);
    CHECK(strcmp("b", "a") > 0 && strncmp("abcx", "abcy", 3) == 0 && strncmp("ab", "abc", 3) < 0);
    const char *end;
    CHECK(pv_strtoull("0x1F", &end, 0) == 31 && *end == '\0');
    CHECK(pv_strtoull("123abc", &end, 10) == 123 && *end == 'a');
    CHECK(pv_strnlen("abcdef", 3) == 3);
}

static void test_boot(const pv_start_info_t *si)
{
    CHECK(si == pv_start_info());
    CHECK(si->magic == PV_START_INFO_MAGIC);
    CHECK(si->size >= sizeof(pv_start_info_t));
    CHECK((si->abi_version >> 16) == PV_ABI_VERSION_MAJOR);
    CHECK((uintptr_t)si->shared_info == (uintptr_t)pv_shared_info());
    CHECK(si->reserved_base <= si->mem_size && si->reserved_base % 4096 == 0);
    CHECK(si->nr_vcpus >= 1 && pv_nr_vcpus() == si->nr_vcpus);
    CHECK(si->cmdline_len == strlen(pv_cmdline()));
    CHECK(pv_this_vcpu() == 0);
    CHECK(pv_heap_end() == si->reserved_base && pv_heap_start() < pv_heap_end());

    unsigned char *p = pv_alloc(100, 64), *q = pv_alloc(10, 1);
    CHECK(p != NULL && ((uintptr_t)p & 63) == 0 && (uintptr_t)p >= pv_heap_start());
    CHECK(q != NULL && q >= p + 100 && (uintptr_t)(q + 10) <= pv_heap_end());
    CHECK(pv_alloc(0xfffffff0u, 1) == NULL);
    CHECK(pv_alloc(8, 3) == NULL);
}

static void test_hypercalls(void)
{
    CHECK((pv_version() >> 16) == PV_ABI_VERSION_MAJOR);
    CHECK(pv_hypercall(0, 0, 0, 0, 0, 0) == PV_ENOSYS);
    CHECK(pv_hypercall(40, 1, 2, 3, 4, 5) == PV_ENOSYS);
    CHECK(pv_probe(PV_HC_CONSOLE_WRITE) == 1);
    CHECK(pv_console_write((const void *)(uintptr_t)0xfffffff0u, 32) == PV_EFAULT);
    CHECK(pv_console_write("", 0) == 0);
    pv_wallclock_t wc;
    CHECK(pv_wallclock(&wc) == 0 && wc.nsec < 1000000000u);
}

static uint32_t hits;

static void count_hit(uint32_t port, void *ctx)
{
    (void)port;
    CHECK(ctx == &hits);
    pv_atomic_fetch_add(&hits, 1u);
}

static void test_events(void)
{
    int32_t port = pv_bind_ipi(0, count_hit, &hits);
    CHECK(port > 0);
    if (port <= 0)
        return;
    uint32_t p = (uint32_t)port;

    /* The upcall runs at the VM entry that ends the send. */
    CHECK(pv_evtchn_send(p) == 0);
    CHECK(pv_atomic_load(&hits) == 1 && !pv_evtchn_is_pending(p));

    /* A masked port becomes pending without an upcall; unmasking re-raises it. */
    pv_evtchn_mask(p);
    CHECK(pv_evtchn_send(p) == 0);
    CHECK(pv_atomic_load(&hits) == 1 && pv_evtchn_is_pending(p));
    CHECK(pv_evtchn_unmask(p) == 0);
    CHECK(pv_atomic_load(&hits) == 2 && !pv_evtchn_is_pending(p));

    /* With upcalls masked on the vCPU, delivery waits for pv_irq_enable. */
    pv_irq_disable();
    CHECK(pv_evtchn_send(p) == 0);
    CHECK(pv_atomic_load(&hits) == 2);
    pv_irq_enable();
    CHECK(pv_atomic_load(&hits) == 3);

    pv_evtchn_status_t st;
    CHECK(pv_evtchn_status(p, &st) == 0 && st.state == PV_EVTCHNSTAT_IPI && st.vcpu == 0);
    CHECK(pv_unbind(p) == 0);
    CHECK(pv_evtchn_status(p, &st) == 0 && st.state == PV_EVTCHNSTAT_CLOSED);
    CHECK(pv_evtchn_send(p) == PV_EINVAL);
}

static void test_time(void)
{
    CHECK(pv_timer_port() != 0);
    uint64_t t0 = pv_time_ns();
    CHECK(pv_sleep_ns(PV_NS_PER_MS) == 0);
    uint64_t t1 = pv_time_ns();
    CHECK(t1 >= t0 + PV_NS_PER_MS);
    CHECK(pv_sleep_until(t1) == 0); /* already passed: returns at once */
    CHECK(pv_wallclock_ns() >= t1);
}

int kmain(const pv_start_info_t *si)
{
    test_format();
    test_string();
    test_boot(si);
    test_hypercalls();
    test_events();
    test_time();
    if (checks == 0)
        pv_test_result(PV_TEST_ERROR, "no checks ran");
    pv_test_exit();
}
