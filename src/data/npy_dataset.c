/* npy_dataset.c — the "npy:X.npy,Y.npy" dataset: images (N,C,H,W) float32 (or uint8, scaled to [0,1]) and integer labels (N). */
#include "data.h"

#include <stdlib.h>
#include <string.h>

#define NPY_MAX_CLASSES ((int64_t)1 << 20)

int cnn_npy_dataset_open(cnn_dataset *d, const char *arg) {
    const char *comma = strrchr(arg, ',');
    if (!comma || comma == arg || !comma[1]) return cnn_fail("dataset '%s': want npy:X.npy,Y.npy", d->spec);
    char x_path[4096];
    size_t x_len = (size_t)(comma - arg);
    if (x_len >= sizeof x_path) return cnn_fail("dataset '%s': path too long", d->spec);
    memcpy(x_path, arg, x_len);
    x_path[x_len] = 0;
    const char *y_path = comma + 1;

    cnn_array x, y;
    if (cnn_npy_read(x_path, &x)) return -1;
    if (cnn_npy_read(y_path, &y)) {
        cnn_array_free(&x);
        return -1;
    }
    int rc = -1;
    if (x.rank != 4 && x.rank != 3) {
        cnn_fail("%s: images must be (N,C,H,W) (or (N,H,W)), not rank %d", x_path, x.rank);
        goto done;
    }
    if (x.dtype != CNN_F32 && x.dtype != CNN_F64 && x.dtype != CNN_U8) {
        cnn_fail("%s: images must be float32, float64 or uint8", x_path);
        goto done;
    }
    if (y.rank != 1 || (y.dtype != CNN_I64 && y.dtype != CNN_I32)) {
        cnn_fail("%s: labels must be a 1-D int64 or int32 array", y_path);
        goto done;
    }
    if (x.shape[0] != y.shape[0]) {
        cnn_fail("%s has %lld samples but %s has %lld labels", x_path, (long long)x.shape[0], y_path,
                 (long long)y.shape[0]);
        goto done;
    }
    d->n = x.shape[0];
    d->channels = x.rank == 4 ? x.shape[1] : 1;
    d->height = x.shape[x.rank - 2];
    d->width = x.shape[x.rank - 1];
    if (d->n <= 0 || d->channels <= 0 || d->height <= 0 || d->width <= 0) {
        cnn_fail("%s: empty array", x_path);
        goto done;
    }
    d->labels = cnn_calloc((size_t)d->n, sizeof(int64_t), "labels");
    if (!d->labels) goto done;
    int64_t max_label = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int64_t label = y.dtype == CNN_I64 ? ((const int64_t *)y.data)[i] : ((const int32_t *)y.data)[i];
        if (label < 0) {
            cnn_fail("%s: label %lld of sample %lld is negative", y_path, (long long)label, (long long)i);
            goto done;
        }
        if (label >= NPY_MAX_CLASSES) {
            cnn_fail("%s: label %lld of sample %lld is not a plausible class index", y_path, (long long)label, (long long)i);
            goto done;
        }
        if (label > max_label) max_label = label;
        d->labels[i] = label;
    }
    d->classes = max_label + 1;
    if (x.dtype == CNN_U8) {
        d->pixels = x.data;
        x.data = NULL;
    } else if (x.dtype == CNN_F32) {
        d->values = x.data;
        x.data = NULL;
    } else {
        d->values = cnn_array_to_f32(&x);
        if (!d->values) goto done;
    }
    rc = cnn_dataset_set_class_names(d, NULL);
done:
    cnn_array_free(&x);
    cnn_array_free(&y);
    return rc;
}
