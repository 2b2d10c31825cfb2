/* pool_window.h — the window arithmetic of one pooling axis, shared by the 2-D and 3-D pools (pool.c, pool3d.c). */
#ifndef CNN_POOL_WINDOW_H
#define CNN_POOL_WINDOW_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

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

#endif /* CNN_POOL_WINDOW_H */
