/*
 * pvisor guest kit: XTF-style test results.
 *
 * What: a test kernel ends with exactly one pv_test_result() call, which prints one line
 *
 *     Test result: SUCCESS
 *     Test result: SKIP: <message>
 *     Test result: FAILURE: <message>
 *     Test result: ERROR: <message>
 *
 * (": <message>" only when a non-empty message is given) and stops the domain. SUCCESS and SKIP
 * power off with code 0; FAILURE and ERROR shut down with PV_SHUTDOWN_CRASH and the status value as
 * the code (5 and 4, xtf-runner's exit codes), so a runner can tell them apart from the reason
 * alone and from the console line. A run whose console has no "Test result:" line crashed.
 *
 * Why: the same contract as XTF (xtf_exit prints "Test result: <STATUS>" then powers off) so the
 * host's end-to-end tests parse one line. FAILURE means the code under test is wrong; ERROR means
 * the test or its environment is (as in XTF).
 *
 * pv_test_note() keeps the most severe status seen so far (SUCCESS < SKIP < ERROR < FAILURE, as
 * XTF) with its message; pv_test_exit() reports it. PV_TEST_CHECK records a FAILURE and goes on.
 */
#ifndef PVISOR_TEST_H
#define PVISOR_TEST_H

#include <stdint.h>

/** Test statuses; the values are xtf-runner's exit codes. */
enum pv_test_status {
    PV_TEST_SUCCESS = 0,
    PV_TEST_SKIP = 3,
    PV_TEST_ERROR = 4,
    PV_TEST_FAILURE = 5,
};

/** Prints the result line and stops the domain (see above). `fmt` may be NULL. */
_Noreturn void pv_test_result(enum pv_test_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Records a status and message (the most severe one is kept) and prints the message. */
void pv_test_note(enum pv_test_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Reports the most severe status recorded by pv_test_note (SUCCESS if none). */
_Noreturn void pv_test_exit(void);

/** Records a FAILURE naming the source line when `cond` is false. */
#define PV_TEST_CHECK(cond)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            pv_test_note(PV_TEST_FAILURE, "line %d: %s", __LINE__, #cond);                         \
    } while (0)

#endif /* PVISOR_TEST_H */
