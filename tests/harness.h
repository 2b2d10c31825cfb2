/* harness.h — a tiny test harness: named cases, failure messages, and the "N passed, M failed" line. */
#ifndef CNN_TEST_HARNESS_H
#define CNN_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>

/* Inside a case function returning int: fail the case with a message. */
#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            harness_message(__FILE__, __LINE__, __VA_ARGS__); \
            return -1;                                    \
        }                                                 \
    } while (0)

void harness_message(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs fn(arg) as the case `name`: 0 passes, anything else fails. */
void harness_case(const char *name, int (*fn)(void *), void *arg);
/* Prints "N passed, M failed" and returns the exit status. */
int harness_finish(void);

/* Max |a-b| over n floats, and max |b|. */
double harness_max_abs_diff(const float *a, const float *b, long long n, double *max_ref);

#endif
