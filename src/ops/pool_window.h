/* pool_window.h — what the 2-D and 3-D window pools (pool.c, pool3d.c) share: the window arithmetic of one axis, the
 * checks of their parameters and the argmax state. */
#ifndef CNN_POOL_WINDOW_H
#define CNN_POOL_WINDOW_H

#include "ops.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* One window along one axis: real input rows [lo, hi) and the window's size clipped to the
 * padded extent only (PyTorch's count_include_pad divisor, which ceil mode can make smaller). */
typedef struct pool_span {
    int64_t lo, hi, padded;
} pool_span;

static inline pool_span window_span(int64_t out_index, int kernel, int stride, int pad_before, int pad_after, int64_t in) {
    int64_t start = out_index * stride - pad_before;
    int64_t end = start + kernel;
    if (end > in + pad_after) end = in + pad_after;
    pool_span s = {start < 0 ? 0 : start, end < in ? end : in, end - start};
    return s;
}

/* The rows (or columns) a dilated max-pool window reads: start + t*dilation for t < kernel, those
 * inside [0, in) as r = lo, lo + dilation, ... < hi; lo >= hi when none is (only possible when the
 * dilation exceeds the input). With dilation 1 the same as window_span's lo and hi. */
static inline pool_span dilated_span(int64_t out_index, int kernel, int stride, int dilation, int pad_before, int64_t in) {
    const int64_t start = out_index * stride - pad_before;
    const int64_t first = start < 0 ? (-start + dilation - 1) / dilation : 0;      /* first t inside */
    int64_t last = (in - start + dilation - 1) / dilation;                          /* t past the input */
    if (last > kernel) last = kernel;
    pool_span s = {start + first * dilation, start + (last > first ? last : first) * dilation, 0};
    return s;
}

/* (kernel - 1) * dilation + 1: the extent of a dilated window. */
static inline int64_t dilated_extent(int kernel, int dilation) { return (int64_t)(kernel - 1) * dilation + 1; }

/* Output length along one axis; in ceil mode the last window must start inside the input or the
 * leading pad (PyTorch's pooling_output_shape, whose division rounds towards minus infinity: in
 * ceil mode the kernel may be larger than the padded input, e.g. 3x3/2 on 2x2 gives 1x1). */
static inline int64_t pool_out_size(int64_t in, int64_t kernel, int stride, int pad_before, int pad_after, bool ceil_mode) {
    int64_t span = in + pad_before + pad_after - kernel + (ceil_mode ? stride - 1 : 0);
    int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_before) out--;
    return out;
}

/* The larger of two values, NaN winning as in PyTorch's max pooling. */
static inline float max_nan(float best, float v) { return v > best || isnan(v) ? v : best; }

/* ---- parameter checks ---- */

/* A window pool's parameters along its n axes (2: H, W; 3: D, H, W), pads resolved. */
typedef struct pool_axes {
    int n;
    int64_t in[3];
    int kernel[3], stride[3], dilation[3], pad_before[3], pad_after[3];
    bool max, ceil_mode, large_pads;
} pool_axes;

/* "8x8" or "4x8x8": the first n values of v joined by 'x'. */
static inline const char *pool_dims_str(const int64_t *v, int n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < n && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? "x%lld" : "%lld", (long long)v[d]);
    return buf;
}

static inline const char *pool_ints_str(const int *v, int n, char *buf, size_t size) {
    int64_t w[3];
    for (int d = 0; d < n; d++) w[d] = v[d];
    return pool_dims_str(w, n, buf, size);
}

/* Kernel, stride and dilation of node n's window (ins: its input, as messages name it). */
static inline int pool_check_window(const cnn_node *n, const pool_axes *ax, const char *ins) {
    const char *op = n->op->name, *ones = ax->n == 3 ? "1x1x1" : "1x1";
    char kernel[64], stride[64], dilation[64];
    pool_ints_str(ax->kernel, ax->n, kernel, sizeof kernel);
    pool_ints_str(ax->stride, ax->n, stride, sizeof stride);
    pool_ints_str(ax->dilation, ax->n, dilation, sizeof dilation);
    bool small_kernel = false, small_stride = false, small_dilation = false, dilated = false;
    for (int d = 0; d < ax->n; d++) {
        small_kernel = small_kernel || ax->kernel[d] < 1;
        small_stride = small_stride || ax->stride[d] < 1;
        small_dilation = small_dilation || ax->dilation[d] < 1;
        dilated = dilated || ax->dilation[d] != 1;
    }
    if (small_kernel) return cnn_fail("%s '%s': kernel %s must be at least %s (input %s)", op, n->name, kernel, ones, ins);
    if (small_stride) return cnn_fail("%s '%s': stride %s must be at least %s (input %s)", op, n->name, stride, ones, ins);
    if (small_dilation) return cnn_fail("%s '%s': dilation %s must be at least %s (input %s)", op, n->name, dilation, ones, ins);
    if (!ax->max && dilated)
        return cnn_fail("%s '%s': dilation %s is supported by max pooling only (input %s)", op, n->name, dilation, ins);
    return 0;
}

/* The pads' limits, then out[] = the output size along each axis (at least 1, or a message);
 * pads names the pads as the op's messages do. */
static inline int pool_check_pads_and_size(const cnn_node *n, const pool_axes *ax, const char *pads, const char *ins,
                                           int64_t out[3]) {
    const char *op = n->op->name;
    bool negative = false, too_large = false, empty = false, dilated = false;
    int64_t ext[3], padded[3];
    for (int d = 0; d < ax->n; d++) {
        /* PyTorch's limit is half the kernel; ONNX's pads (large_pads) may reach kernel - 1, so every
         * window still holds an input element. The limit is on the kernel itself, as PyTorch's. */
        const int max_pad = ax->large_pads ? ax->kernel[d] - 1 : ax->kernel[d] / 2;
        negative = negative || ax->pad_before[d] < 0 || ax->pad_after[d] < 0;
        too_large = too_large || ax->pad_before[d] > max_pad || ax->pad_after[d] > max_pad;
        ext[d] = dilated_extent(ax->kernel[d], ax->dilation[d]);
        padded[d] = ax->in[d] + ax->pad_before[d] + ax->pad_after[d];
        empty = empty || ext[d] > padded[d];
        dilated = dilated || ax->dilation[d] != 1;
    }
    char kernel[64], sizes[96];
    pool_ints_str(ax->kernel, ax->n, kernel, sizeof kernel);
    if (negative) return cnn_fail("%s '%s': negative padding (%s; input %s)", op, n->name, pads, ins);
    if (too_large)
        return cnn_fail("%s '%s': pad should be at most %s kernel size: %s with kernel %s (input %s)", op, n->name,
                        ax->large_pads ? "one less than the" : "half of", pads, kernel, ins);
    if (!ax->ceil_mode && empty)
        return cnn_fail("%s '%s': kernel %s%s larger than the padded input %s: the output size would reach zero (input %s)",
                        op, n->name, kernel, dilated ? " (dilated)" : "", pool_dims_str(padded, ax->n, sizes, sizeof sizes),
                        ins);
    bool zero = false;
    for (int d = 0; d < ax->n; d++) {
        out[d] = pool_out_size(ax->in[d], ext[d], ax->stride[d], ax->pad_before[d], ax->pad_after[d], ax->ceil_mode);
        zero = zero || out[d] < 1;
    }
    if (zero) {
        char stride[64];
        return cnn_fail("%s '%s': output size %s reaches zero (input %s, kernel %s, stride %s)", op, n->name,
                        pool_dims_str(out, ax->n, sizes, sizeof sizes), ins, kernel,
                        pool_ints_str(ax->stride, ax->n, stride, sizeof stride));
    }
    return 0;
}

/* ---- sizes ---- */

/* A max pool's state in train mode: one int32 argmax per output element, (N,C,...) contiguous. */
static inline size_t pool_argmax_bytes(const cnn_node *n, int64_t batch, bool training) {
    if (!training) return 0;
    int64_t count = cnn_mul_i64(cnn_shape_sample_numel(&n->shape), batch);
    if (count < 0 || (uint64_t)count > SIZE_MAX / 2 / sizeof(int32_t)) return SIZE_MAX / 2;
    return (size_t)count * sizeof(int32_t);
}

#endif /* CNN_POOL_WINDOW_H */
