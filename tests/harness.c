/* harness.c — runs named test cases and counts them. */
#include "harness.h"

#include <math.h>
#include <string.h>

static int passed, failed;
static char message[2048];

void harness_message(const char *file, int line, const char *fmt, ...) {
    int used = snprintf(message, sizeof message, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (used > 0 && (size_t)used < sizeof message) vsnprintf(message + used, sizeof message - (size_t)used, fmt, ap);
    va_end(ap);
}

void harness_case(const char *name, int (*fn)(void *), void *arg) {
    message[0] = 0;
    int rc = fn(arg);
    if (rc == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s: %s\n", name, message[0] ? message : "(no message)");
    }
    fflush(stdout);
}

int harness_finish(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

double harness_max_abs_diff(const float *a, const float *b, long long n, double *max_ref) {
    double worst = 0, ref = 0;
    for (long long i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue; /* NaN where the reference has NaN */
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = d; /* NaN propagates as the worst */
        if (fabs((double)b[i]) > ref) ref = fabs((double)b[i]);
    }
    if (max_ref) *max_ref = ref;
    return worst;
}
