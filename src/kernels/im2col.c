/* im2col.c — im2col and col2im-accumulate with stride, dilation and asymmetric zero padding. */
#include "im2col.h"

#include <string.h>

/* Below this many column elements the work is too small to be worth waking threads for. */
#define PARALLEL_MIN_ELEMENTS 32768

/* The output positions o in [lo, hi) of [0, out) whose input index o*stride + offset lies in
 * [0, size); positions outside read the zero padding. */
static void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t first = offset < 0 ? (-offset + stride - 1) / stride : 0;
    int64_t end = size - offset > 0 ? (size - offset - 1) / stride + 1 : 0;
    if (first > out) first = out;
    if (end > out) end = out;
    if (end < first) end = first;
    *lo = first;
    *hi = end;
}

/* dst[0, len) = src[0, len): rows are a few dozen floats, shorter than a memcpy call is worth. */
static inline void copy_row(float *restrict dst, const float *restrict src, int64_t len) {
#pragma omp simd
    for (int64_t k = 0; k < len; k++) dst[k] = src[k];
}

void cnn_im2col(const cnn_conv_geometry *geo, const float *x, float *col) {
    const int64_t taps = geo->kernel_h * geo->kernel_w, rows = geo->channels * taps;
    const int64_t out_w = geo->out_w, cols = geo->out_h * out_w, plane = geo->in_h * geo->in_w;
    /* Rows are disjoint, so any split over threads writes the same values. */
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) { /* r = (c, i, j): channel c, kernel tap (i, j) */
        const int64_t c = r / taps, i = r % taps / geo->kernel_w, j = r % geo->kernel_w;
        const int64_t off_h = i * geo->dilation_h - geo->pad_top, off_w = j * geo->dilation_w - geo->pad_left;
        const int64_t sw = geo->stride_w;
        int64_t oh_lo, oh_hi, ow_lo, ow_hi;
        valid_range(off_h, geo->stride_h, geo->in_h, geo->out_h, &oh_lo, &oh_hi);
        valid_range(off_w, sw, geo->in_w, out_w, &ow_lo, &ow_hi);
        const float *xc = x + c * plane;
        float *dst = col + r * cols; /* (out_h, out_w) */
        memset(dst, 0, (size_t)(oh_lo * out_w) * sizeof(float));
        for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
            const float *xrow = xc + (oh * geo->stride_h + off_h) * geo->in_w; /* (in_w) */
            float *d = dst + oh * out_w;                                         /* (out_w) */
            for (int64_t ow = 0; ow < ow_lo; ow++) d[ow] = 0.0f;
            if (sw == 1) {
                copy_row(d + ow_lo, xrow + (ow_lo + off_w), ow_hi - ow_lo);
            } else {
                for (int64_t ow = ow_lo; ow < ow_hi; ow++) d[ow] = xrow[ow * sw + off_w];
            }
            for (int64_t ow = ow_hi; ow < out_w; ow++) d[ow] = 0.0f;
        }
        memset(dst + oh_hi * out_w, 0, (size_t)((geo->out_h - oh_hi) * out_w) * sizeof(float));
    }
}

/* dst[0, len) += src[0, len); the two never overlap. */
static inline void add_row(float *restrict dst, const float *restrict src, int64_t len) {
#pragma omp simd
    for (int64_t k = 0; k < len; k++) dst[k] += src[k];
}

void cnn_col2im_add(const cnn_conv_geometry *geo, const float *col, float *x) {
    const int64_t taps = geo->kernel_h * geo->kernel_w, channels = geo->channels;
    const int64_t out_w = geo->out_w, cols = geo->out_h * out_w, plane = geo->in_h * geo->in_w;
    /* One thread per channel plane: each input element is summed by one thread, always in the
     * order (i, j, oh, ow), so the result is the same for every thread count. */
#pragma omp parallel for schedule(static) if (channels * taps * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t c = 0; c < channels; c++) {
        float *xc = x + c * plane; /* (in_h, in_w) */
        for (int64_t i = 0; i < geo->kernel_h; i++)
            for (int64_t j = 0; j < geo->kernel_w; j++) {
                const int64_t off_h = i * geo->dilation_h - geo->pad_top, off_w = j * geo->dilation_w - geo->pad_left;
                const int64_t sw = geo->stride_w;
                int64_t oh_lo, oh_hi, ow_lo, ow_hi;
                valid_range(off_h, geo->stride_h, geo->in_h, geo->out_h, &oh_lo, &oh_hi);
                valid_range(off_w, sw, geo->in_w, out_w, &ow_lo, &ow_hi);
                const float *src = col + ((c * geo->kernel_h + i) * geo->kernel_w + j) * cols; /* (out_h, out_w) */
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    float *xrow = xc + (oh * geo->stride_h + off_h) * geo->in_w; /* (in_w) */
                    const float *s = src + oh * out_w;                           /* (out_w) */
                    if (sw == 1) {
                        /* col is scratch apart from x: the row adds as one vector loop, and each
                         * element still sums its taps in the order (i, j). */
                        add_row(xrow + (ow_lo + off_w), s + ow_lo, ow_hi - ow_lo);
                    } else {
                        for (int64_t ow = ow_lo; ow < ow_hi; ow++) xrow[ow * sw + off_w] += s[ow];
                    }
                }
            }
    }
}
