/* tensor.c — element counts, shape strings and tensor views over flat buffers. */
#include "internal.h"

#include <stdio.h>

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
