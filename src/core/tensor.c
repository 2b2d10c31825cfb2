/* tensor.c — element counts, shape strings and tensor views over flat buffers. */
#include "internal.h"

#include <omp.h>

#include <stdio.h>
#include <string.h>

int64_t cnn_tensor_numel(const cnn_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n = cnn_mul_i64(n, t->shape[i]);
    return n;
}

int64_t cnn_shape_sample_numel(const cnn_shape *s) {
    int64_t n = 1;
    for (int i = 1; i < s->rank; i++) n = cnn_mul_i64(n, s->dims[i]);
    return n;
}

const char *cnn_shape_str(const cnn_shape *s, char *buf, size_t size) {
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(N");
    for (int i = 1; i < s->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, ",%lld", (long long)s->dims[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}

cnn_tensor cnn_tensor_make(float *data, const cnn_shape *s, int64_t batch) {
    cnn_tensor t = {.data = data, .rank = s->rank, .device = CNN_DEVICE_CPU};
    for (int i = 0; i < CNN_MAX_RANK; i++) t.shape[i] = 1;
    t.shape[0] = batch;
    for (int i = 1; i < s->rank; i++) t.shape[i] = s->dims[i];
    int64_t stride = 1;
    for (int i = CNN_MAX_RANK - 1; i >= 0; i--) {
        t.stride[i] = stride;
        if (i < s->rank) stride *= t.shape[i];
    }
    return t;
}

/* Large buffers by all threads: one thread's memset does not reach the memory bandwidth
 * (MiniGoogLeNet's training step spent 2% in it, the other core idle). */
#define ZERO_PARALLEL_FLOATS (256 * 1024)
void cnn_zero_floats(float *d, int64_t n) {
    if (n < ZERO_PARALLEL_FLOATS || omp_in_parallel()) {
        memset(d, 0, (size_t)n * sizeof(float));
        return;
    }
    const int64_t chunk = 16384, chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < chunks; k++) memset(d + k * chunk, 0, (size_t)(n - k * chunk < chunk ? n - k * chunk : chunk) * sizeof(float));
}
