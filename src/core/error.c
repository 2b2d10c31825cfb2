/* error.c — the last error message, checked allocation and checked size arithmetic. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

const char *cnn_last_error(void) { return last_error[0] ? last_error : "no error"; }

void cnn_clear_error(void) { last_error[0] = 0; }

/* Messages quote names taken from files (tensor names, JSON keys): a control character among them
 * becomes '?', so that a message stays one line. */
static void set_error(const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    for (char *c = last_error; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

int cnn_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return -1;
}

int cnn_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return -1;
}

void *cnn_fail_null(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return NULL;
}

void *cnn_calloc(size_t count, size_t size, const char *what) {
    if (count == 0 || size == 0) count = size = 1;
    if (count > SIZE_MAX / size) return cnn_fail_null("out of memory: %zu x %zu bytes for %s overflows", count, size, what);
    void *p = calloc(count, size);
    if (!p) return cnn_fail_null("out of memory: %zu bytes for %s", count * size, what);
    return p;
}

int64_t cnn_mul_i64(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return -1;
    if (a != 0 && b > INT64_MAX / a) return -1;
    return a * b;
}

int64_t cnn_add_i64(int64_t a, int64_t b) {
    if (a < 0 || b < 0 || a > INT64_MAX - b) return -1;
    return a + b;
}
