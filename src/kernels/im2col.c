/* im2col.c — im2col / vol2col and col2im / col2vol-accumulate with stride, dilation and asymmetric zero padding. */
#include "im2col.h"
#include "gemm.h"
#include "../core/internal.h"

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

/* dst[0, len) = src[0, len): rows are a few dozen floats, shorter than a memcpy call is worth (the
 * callers keep GCC from making this loop one: NO_MEMCPY below). */
static inline void copy_row(float *restrict dst, const float *restrict src, int64_t len) {
#pragma omp simd
    for (int64_t k = 0; k < len; k++) dst[k] = src[k];
}

/* dst[0, len) += src[0, len); the two never overlap. */
static inline void add_row(float *restrict dst, const float *restrict src, int64_t len) {
#pragma omp simd
    for (int64_t k = 0; k < len; k++) dst[k] += src[k];
}

/* GCC turns copy loops into memmove / memset calls (-ftree-loop-distribute-patterns, on at -O2):
 * for im2col's rows of 8 to 30 floats the call costs more than the copy (LeNet-5's conv2, 8x8
 * windows: 256K calls a training step, 6% of it at 1 thread). */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_MEMCPY __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_MEMCPY
#endif

/* dst[0, n) = 0 without a call for the short runs of padding. */
static inline void zero_row(float *dst, int64_t n) {
#pragma omp simd
    for (int64_t k = 0; k < n; k++) dst[k] = 0.0f;
}

/* One tap of one input plane over a 2-D grid of windows: which rows and columns read the input
 * (the rest read padding), and where. */
typedef struct plane_tap {
    int64_t in_w, out_h, out_w;
    int64_t stride_h, stride_w, off_h, off_w;
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
} plane_tap;

static plane_tap make_plane_tap(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, int64_t stride_h, int64_t stride_w,
                                int64_t off_h, int64_t off_w) {
    plane_tap t = {.in_w = in_w, .out_h = out_h, .out_w = out_w, .stride_h = stride_h, .stride_w = stride_w,
                   .off_h = off_h, .off_w = off_w};
    valid_range(off_h, stride_h, in_h, out_h, &t.oh_lo, &t.oh_hi);
    valid_range(off_w, stride_w, in_w, out_w, &t.ow_lo, &t.ow_hi);
    return t;
}

/* dst (out_h, out_w) = the tap's input value of every window of plane xp (in_h, in_w), zero in the padding.
 * CNN_CLONES here (the callers hold OpenMP regions; copy_row goes inline into each version). Not on
 * scatter_plane_add: its rows of a few dozen adds measured slower with the AVX-512 version (the
 * stride-1 fold now goes through cnn_col2im_s1_channel instead, which sums in registers). Rows at
 * stride 1 go through cnn_gather_rows_s1 where AVX-512 is there: LeNet-5's conv2 (rows of 8
 * windows) spent 15% of a training step at 1 thread here, with the loops below, 5% with it. */
CNN_CLONES NO_MEMCPY static void gather_plane(const plane_tap *t, const float *xp, float *dst) {
    const int64_t out_w = t->out_w, sw = t->stride_w;
    zero_row(dst, t->oh_lo * out_w);
    if (sw == 1 && t->stride_h == 1 && out_w == t->in_w && t->oh_lo < t->oh_hi && t->ow_lo < t->ow_hi) {
        /* A "same" grid at stride 1: dst and the plane have the same pitch, so the rows that read
         * the input are one copy (from the first to the last element read) and the padding
         * columns then get their zeros back. */
        const int64_t first = t->oh_lo * out_w + t->ow_lo, end = (t->oh_hi - 1) * out_w + t->ow_hi;
        copy_row(dst + first, xp + first + t->off_h * t->in_w + t->off_w, end - first);
        for (int64_t oh = t->oh_lo; oh < t->oh_hi; oh++) {
            float *d = dst + oh * out_w;
            for (int64_t ow = 0; ow < t->ow_lo; ow++) d[ow] = 0.0f;
            for (int64_t ow = t->ow_hi; ow < out_w; ow++) d[ow] = 0.0f;
        }
        zero_row(dst + t->oh_hi * out_w, (t->out_h - t->oh_hi) * out_w);
        return;
    }
    if (sw == 1 && t->oh_lo < t->oh_hi && cnn_gemm_avx512_available()) { /* rows of 8 to 30 floats: one masked move each */
        cnn_gather_rows_s1(dst + t->oh_lo * out_w, out_w, xp + (t->oh_lo * t->stride_h + t->off_h) * t->in_w + t->off_w, t->stride_h * t->in_w,
                           t->oh_hi - t->oh_lo, t->ow_lo, t->ow_hi);
        zero_row(dst + t->oh_hi * out_w, (t->out_h - t->oh_hi) * out_w);
        return;
    }
    for (int64_t oh = t->oh_lo; oh < t->oh_hi; oh++) {
        const float *xrow = xp + (oh * t->stride_h + t->off_h) * t->in_w; /* (in_w) */
        float *d = dst + oh * out_w;                                        /* (out_w) */
        for (int64_t ow = 0; ow < t->ow_lo; ow++) d[ow] = 0.0f;
        if (sw == 1) {
            copy_row(d + t->ow_lo, xrow + (t->ow_lo + t->off_w), t->ow_hi - t->ow_lo);
        } else if (sw == 2) { /* (downsampling convolutions) a constant stride, loads the compiler pairs up; rows of 7 to 30 */
            const float *xs = xrow + t->off_w;
#pragma omp simd simdlen(8)
            for (int64_t ow = t->ow_lo; ow < t->ow_hi; ow++) d[ow] = xs[2 * ow];
        } else {
            for (int64_t ow = t->ow_lo; ow < t->ow_hi; ow++) d[ow] = xrow[ow * sw + t->off_w];
        }
        for (int64_t ow = t->ow_hi; ow < out_w; ow++) d[ow] = 0.0f;
    }
    zero_row(dst + t->oh_hi * out_w, (t->out_h - t->oh_hi) * out_w);
}

/* The adjoint of gather_plane: xp (in_h, in_w) += src (out_h, out_w) at the tap's input positions,
 * in the order (oh, ow). */
static void scatter_plane_add(const plane_tap *t, const float *src, float *xp) {
    const int64_t sw = t->stride_w;
    for (int64_t oh = t->oh_lo; oh < t->oh_hi; oh++) {
        float *xrow = xp + (oh * t->stride_h + t->off_h) * t->in_w; /* (in_w) */
        const float *s = src + oh * t->out_w;                         /* (out_w) */
        if (sw == 1) {
            /* col is scratch apart from x: the row adds as one vector loop, and each element
             * still sums its taps in the caller's order. */
            add_row(xrow + (t->ow_lo + t->off_w), s + t->ow_lo, t->ow_hi - t->ow_lo);
        } else {
            for (int64_t ow = t->ow_lo; ow < t->ow_hi; ow++) xrow[ow * sw + t->off_w] += s[ow];
        }
    }
}

/* Tap t = (i, j) of the kernel over the grid of windows. */
static plane_tap kernel_tap(const cnn_conv_geometry *geo, int64_t t) {
    const int64_t i = t / geo->kernel_w, j = t % geo->kernel_w;
    return make_plane_tap(geo->in_h, geo->in_w, geo->out_h, geo->out_w, geo->stride_h, geo->stride_w, i * geo->dilation_h - geo->pad_top,
                          j * geo->dilation_w - geo->pad_left);
}

/* Kernels of up to this many taps have theirs worked out once per call, not once per channel. */
#define KEPT_TAPS 64

void cnn_im2col(const cnn_conv_geometry *geo, const float *x, float *col) {
    const int64_t taps = geo->kernel_h * geo->kernel_w, rows = geo->channels * taps;
    const int64_t cols = geo->out_h * geo->out_w, plane = geo->in_h * geo->in_w;
    plane_tap kept[KEPT_TAPS];
    for (int64_t t = 0; t < taps && taps <= KEPT_TAPS; t++) kept[t] = kernel_tap(geo, t);
    /* Rows are disjoint, so any split over threads writes the same values. */
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) { /* r = (c, tap): channel c, kernel tap (i, j) */
        const plane_tap t = taps <= KEPT_TAPS ? kept[r % taps] : kernel_tap(geo, r % taps);
        gather_plane(&t, x + r / taps * plane, col + r * cols);
    }
}

void cnn_col2im_add(const cnn_conv_geometry *geo, const float *col, float *x) {
    const int64_t taps = geo->kernel_h * geo->kernel_w, channels = geo->channels;
    const int64_t cols = geo->out_h * geo->out_w, plane = geo->in_h * geo->in_w;
    /* One thread per channel plane: each input element is summed by one thread, always in the
     * order (i, j, oh, ow), so the result is the same for every thread count. */
    plane_tap kept[KEPT_TAPS];
    for (int64_t t = 0; t < taps && taps <= KEPT_TAPS; t++) kept[t] = kernel_tap(geo, t);
    const bool s1 = geo->stride_h == 1 && geo->stride_w == 1 && cnn_gemm_avx512_available();
#pragma omp parallel for schedule(static) if (channels * taps * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t c = 0; c < channels; c++) {
        if (s1) {
            cnn_col2im_s1_channel(geo, col + c * taps * cols, x + c * plane);
            continue;
        }
        for (int64_t tap = 0; tap < taps; tap++) { /* (i, j) in order */
            const plane_tap t = taps <= KEPT_TAPS ? kept[tap] : kernel_tap(geo, tap);
            scatter_plane_add(&t, col + (c * taps + tap) * cols, x + c * plane);
        }
    }
}

/* The plane geometry of tap (i, j) of a 3-D kernel, the same for every depth tap. */
static plane_tap volume_tap(const cnn_conv3d_geometry *geo, int64_t i, int64_t j) {
    return make_plane_tap(geo->in[1], geo->in[2], geo->out[1], geo->out[2], geo->stride[1], geo->stride[2],
                          i * geo->dilation[1] - geo->pad[1], j * geo->dilation[2] - geo->pad[2]);
}

void cnn_vol2col(const cnn_conv3d_geometry *geo, const float *x, float *col) {
    const int64_t kh = geo->kernel[1], kw = geo->kernel[2], taps = geo->kernel[0] * kh * kw, rows = geo->channels * taps;
    const int64_t out_plane = geo->out[1] * geo->out[2], cols = geo->out[0] * out_plane;
    const int64_t in_plane = geo->in[1] * geo->in[2], in_volume = geo->in[0] * in_plane;
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) { /* r = (c, a, i, j): channel c, kernel tap (a, i, j) */
        const int64_t c = r / taps, a = r % taps / (kh * kw), i = r % (kh * kw) / kw, j = r % kw;
        const int64_t off_d = a * geo->dilation[0] - geo->pad[0];
        int64_t od_lo, od_hi;
        valid_range(off_d, geo->stride[0], geo->in[0], geo->out[0], &od_lo, &od_hi);
        const plane_tap t = volume_tap(geo, i, j);
        const float *xc = x + c * in_volume; /* (in_d, in_h, in_w) */
        float *dst = col + r * cols;         /* (out_d, out_h * out_w) */
        memset(dst, 0, (size_t)(od_lo * out_plane) * sizeof(float));
        for (int64_t od = od_lo; od < od_hi; od++)
            gather_plane(&t, xc + (od * geo->stride[0] + off_d) * in_plane, dst + od * out_plane);
        memset(dst + od_hi * out_plane, 0, (size_t)((geo->out[0] - od_hi) * out_plane) * sizeof(float));
    }
}

void cnn_col2vol_add(const cnn_conv3d_geometry *geo, const float *col, float *x) {
    const int64_t kd = geo->kernel[0], kh = geo->kernel[1], kw = geo->kernel[2], channels = geo->channels;
    const int64_t out_plane = geo->out[1] * geo->out[2], cols = geo->out[0] * out_plane;
    const int64_t in_plane = geo->in[1] * geo->in[2], in_volume = geo->in[0] * in_plane;
    /* One thread per channel volume, each element summing its taps in the order (a, i, j, od, oh, ow). */
#pragma omp parallel for schedule(static) if (channels * kd * kh * kw * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t c = 0; c < channels; c++)
        for (int64_t a = 0; a < kd; a++) {
            const int64_t off_d = a * geo->dilation[0] - geo->pad[0];
            int64_t od_lo, od_hi;
            valid_range(off_d, geo->stride[0], geo->in[0], geo->out[0], &od_lo, &od_hi);
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    const plane_tap t = volume_tap(geo, i, j);
                    const float *src = col + (((c * kd + a) * kh + i) * kw + j) * cols; /* (out_d, out_h * out_w) */
                    for (int64_t od = od_lo; od < od_hi; od++)
                        scatter_plane_add(&t, src + od * out_plane, x + c * in_volume + (od * geo->stride[0] + off_d) * in_plane);
                }
        }
}
