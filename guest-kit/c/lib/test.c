/*
 * libpvisor: XTF-style test results (test.h).
 */
#include "internal.h"

static const char *status_name(enum pv_test_status s)
{
    switch (s) {
    case PV_TEST_SUCCESS:
        return "SUCCESS";
    case PV_TEST_SKIP:
        return "SKIP";
    case PV_TEST_ERROR:
        return "ERROR";
    case PV_TEST_FAILURE:
        return "FAILURE";
    }
    return "ERROR";
}

/* Severity order, XTF's: SUCCESS < SKIP < ERROR < FAILURE. */
static int severity(enum pv_test_status s)
{
    switch (s) {
    case PV_TEST_SUCCESS:
        return 0;
    case PV_TEST_SKIP:
        return 1;
    case PV_TEST_ERROR:
        return 2;
    case PV_TEST_FAILURE:
        return 3;
    }
    return 2;
}

/* The worst status noted so far and its message (shared by all vCPUs: updated under a lock). */
static enum pv_test_status worst = PV_TEST_SUCCESS;
static char worst_msg[160];
static uint32_t note_lock;

static _Noreturn void finish(enum pv_test_status status, const char *msg)
{
    pv__console_begin_line();
    if (msg != NULL && msg[0] != '\0')
        pv_printf("Test result: %s: %s\n", status_name(status), msg);
    else
        pv_printf("Test result: %s\n", status_name(status));
    if (status == PV_TEST_SUCCESS || status == PV_TEST_SKIP)
        pv_shutdown(PV_SHUTDOWN_POWEROFF, 0);
    pv_shutdown(PV_SHUTDOWN_CRASH, (int32_t)status);
}

_Noreturn void pv_test_result(enum pv_test_status status, const char *fmt, ...)
{
    char msg[160];
    msg[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        pv_vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    finish(status, msg);
}

void pv_test_note(enum pv_test_status status, const char *fmt, ...)
{
    char msg[160];
    msg[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        pv_vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        pv_printf("%s: %s\n", status_name(status), msg);
    }
    uint32_t unlocked = 0;
    while (!pv_atomic_cas(&note_lock, &unlocked, 1u)) {
        unlocked = 0;
        pv_sched_yield();
    }
    if (severity(status) > severity(worst)) {
        worst = status;
        memcpy(worst_msg, msg, sizeof msg);
    }
    pv_atomic_store(&note_lock, 0u);
}

_Noreturn void pv_test_exit(void)
{
    finish(worst, worst_msg);
}
