/* unfold_avx512.c — cnn_im2col_panels (im2col.h): convolution windows straight into our GEMM's
 * panels; and the stride-1 rows of cnn_im2col and cnn_col2im_add (cnn_gather_rows_s1,
 * cnn_col2im_s1_channel). Built with -mavx512f -mfma (Makefile) like sgemm_avx512.c, and called only where our GEMM
 * runs (cnn_gemm_avx512_available): stride-1 and stride-2 rows are moved 16 floats at a time, the
 * last ones of a run masked. */
#include "im2col.h"
#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

/* Rows of one channel a few dozen floats long, channels a plane apart: too short for the hardware
 * to see a stream, so the rows of the channel this many on are fetched ahead. */
#define PREFETCH_CHANNELS 4
/* Taps whose spans one pass works out (then used for every channel): 7x7 kernels in one pass. */
#define SPAN_TAPS 49

/* Where one run of a panel reads for one kernel tap, in channel 0 (each channel a plane on): windows
 * [lo, hi) of its len read the row from src (src[e * stride] for window e), the others the padding;
 * src is NULL when the whole run is in the padding. Runs start at panel column at. */
typedef struct run_span {
    const float *src;
    int64_t at, len, lo, hi;
    int64_t fetch; /* > 0 on a tap of kernel column 0: floats of the row the kernel's columns read, fetched ahead */
} run_span;

/* d[0, len) = the run: zeros, then row elements xrow[e * sw] for e in [lo, hi), then zeros; 16
 * at a time at strides 1 and 2, the last ones masked (loads and stores only inside the row and the run). */
static inline void move_run(float *d, const float *xrow, int64_t lo, int64_t hi, int64_t len, int64_t sw) {
    for (int64_t q = 0; q < lo; q++) d[q] = 0.0f;
    int64_t e = lo;
    if (sw == 1) {
        for (; e < hi; e += 16) {
            const __mmask16 mk = (__mmask16)((1u << (hi - e < 16 ? hi - e : 16)) - 1);
            _mm512_mask_storeu_ps(d + e, mk, _mm512_maskz_loadu_ps(mk, xrow + e));
        }
    } else if (sw == 2) { /* the even elements of 32 */
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        for (; e < hi; e += 16) {
            const int64_t cnt = hi - e < 16 ? hi - e : 16, need = 2 * cnt - 1; /* row elements read */
            const __mmask16 l0 = (__mmask16)(need >= 16 ? 0xffff : (1u << need) - 1);
            const __mmask16 l1 = (__mmask16)(need > 16 ? (1u << (need - 16)) - 1 : 0);
            const __m512 lo16 = _mm512_maskz_loadu_ps(l0, xrow + 2 * e);
            const __m512 hi16 = l1 ? _mm512_maskz_loadu_ps(l1, xrow + 2 * e + 16) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(d + e, (__mmask16)((1u << cnt) - 1), _mm512_permutex2var_ps(lo16, even, hi16));
        }
    }
    for (; e < hi; e++) d[e] = xrow[e * sw];
    for (int64_t q = hi; q < len; q++) d[q] = 0.0f;
}

void cnn_im2col_panels(const cnn_conv_geometry *geo, const float *x, int64_t x_stride, int64_t first, int64_t count, float *bp) {
    const int64_t taps = geo->kernel_h * geo->kernel_w, rows = geo->channels * taps, plane = geo->in_h * geo->in_w;
    const int64_t out_w = geo->out_w, out_plane = geo->out_h * out_w, sw = geo->stride_w;
    for (int64_t p0 = 0; p0 < count; p0 += GEMM_NR) {
        const int64_t n = count - p0 < GEMM_NR ? count - p0 : GEMM_NR;
        float *panel = bp + p0 * rows;
        /* The panel's windows as runs along one output row of one sample: run k starts at panel
         * column at[k] with window (oh[k], ow[k]) of the sample whose input is xs[k]. */
        int64_t at[GEMM_NR + 1], oh[GEMM_NR], ow[GEMM_NR], runs = 0;
        const float *xs[GEMM_NR];
        for (int64_t q = 0; q < n; runs++) {
            const int64_t j = (first + p0 + q) % out_plane, len = out_w - j % out_w;
            at[runs] = q, oh[runs] = j / out_w, ow[runs] = j % out_w, xs[runs] = x + (first + p0 + q) / out_plane * x_stride;
            q += len < n - q ? len : n - q;
        }
        at[runs] = n;
        /* The runs' spans for up to SPAN_TAPS taps at a time (the same for every channel), then
         * every channel's rows of those taps: row r = (c, tap). */
        for (int64_t t0 = 0; t0 < taps; t0 += SPAN_TAPS) {
            const int64_t t1 = taps - t0 < SPAN_TAPS ? taps : t0 + SPAN_TAPS;
            run_span span[SPAN_TAPS][GEMM_NR];
            for (int64_t t = t0; t < t1; t++) {
                const int64_t i = t / geo->kernel_w, kj = t % geo->kernel_w;
                for (int64_t k = 0; k < runs; k++) {
                    run_span *sp = &span[t - t0][k];
                    const int64_t ih = oh[k] * geo->stride_h - geo->pad_top + i * geo->dilation_h;
                    const int64_t iw0 = ow[k] * sw - geo->pad_left + kj * geo->dilation_w, len = at[k + 1] - at[k];
                    sp->at = at[k], sp->len = len, sp->src = NULL, sp->lo = sp->hi = 0, sp->fetch = 0;
                    if (ih < 0 || ih >= geo->in_h) continue;
                    /* windows [lo, hi) of the run read the row, the rest the padding (dividing only at the edges) */
                    int64_t lo = iw0 < 0 ? (-iw0 + sw - 1) / sw : 0, hi = len;
                    if (iw0 + (len - 1) * sw >= geo->in_w) hi = iw0 >= geo->in_w ? 0 : (geo->in_w - iw0 + sw - 1) / sw;
                    if (lo > len) lo = len;
                    if (hi < lo) hi = lo;
                    sp->src = xs[k] + ih * geo->in_w + iw0, sp->lo = lo, sp->hi = hi;
                    if (kj == 0 && hi > lo) sp->fetch = (hi - 1) * sw + (geo->kernel_w - 1) * geo->dilation_w + 1;
                }
            }
            for (int64_t c = 0; c < geo->channels; c++) {
                const bool ahead = c + PREFETCH_CHANNELS < geo->channels;
                for (int64_t t = t0; t < t1; t++) {
                    float *dst = panel + (c * taps + t) * GEMM_NR;
                    for (int64_t k = 0; k < runs; k++) {
                        const run_span *sp = &span[t - t0][k];
                        if (!sp->src) {
                            for (int64_t q = sp->at; q < sp->at + sp->len; q++) dst[q] = 0.0f;
                            continue;
                        }
                        const float *xrow = sp->src + c * plane;
                        if (ahead) /* the same windows PREFETCH_CHANNELS channels on */
                            for (int64_t q = sp->lo * sw; q < sp->fetch; q += 16) __builtin_prefetch(xrow + PREFETCH_CHANNELS * plane + q, 0, 3);
                        move_run(dst + sp->at, xrow, sp->lo, sp->hi, sp->len, sw);
                    }
                    for (int64_t q = n; q < GEMM_NR; q++) dst[q] = 0.0f;
                }
            }
        }
    }
}

/* The lanes [lo, hi) of 16 windows starting at q (lo, hi relative to the row). */
static inline __mmask16 window_lanes(int64_t q, int64_t lo, int64_t hi) {
    const int64_t a = lo - q < 0 ? 0 : lo - q, b = hi - q > 16 ? 16 : hi - q;
    return b <= a ? 0 : (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
}

void cnn_gather_rows_s1(float *dst, int64_t out_w, const float *src, int64_t src_pitch, int64_t rows, int64_t lo, int64_t hi) {
    for (int64_t q = 0; q < out_w; q += 16) {
        const __mmask16 read = window_lanes(q, lo, hi), store = (__mmask16)((1u << (out_w - q < 16 ? out_w - q : 16)) - 1);
        for (int64_t k = 0; k < rows; k++)
            _mm512_mask_storeu_ps(dst + k * out_w + q, store, _mm512_maskz_loadu_ps(read, src + k * src_pitch + q));
    }
}

void cnn_col2im_s1_channel(const cnn_conv_geometry *geo, const float *col, float *x) {
    const int64_t out_h = geo->out_h, out_w = geo->out_w, in_w = geo->in_w, kh = geo->kernel_h, kw = geo->kernel_w;
    for (int64_t ih = 0; ih < geo->in_h; ih++)
        for (int64_t q = 0; q < in_w; q += 16) {
            const __mmask16 row = (__mmask16)((1u << (in_w - q < 16 ? in_w - q : 16)) - 1);
            float *d = x + ih * in_w + q;
            __m512 v = _mm512_maskz_loadu_ps(row, d);
            for (int64_t i = 0; i < kh; i++) {
                const int64_t oh = ih + geo->pad_top - i * geo->dilation_h;
                if (oh < 0 || oh >= out_h) continue;
                for (int64_t j = 0; j < kw; j++) {
                    /* element q + e reads window ow = q + e + shift, those in [0, out_w) */
                    const int64_t shift = geo->pad_left - j * geo->dilation_w;
                    const __mmask16 m = row & window_lanes(q, -shift, out_w - shift);
                    if (!m) continue;
                    const float *s = col + (i * kw + j) * out_h * out_w + oh * out_w + shift;
                    v = _mm512_mask_add_ps(v, m, v, _mm512_maskz_loadu_ps(m, s + q));
                }
            }
            _mm512_mask_storeu_ps(d, row, v);
        }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_gather_rows_s1(float *dst, int64_t out_w, const float *src, int64_t src_pitch, int64_t rows, int64_t lo, int64_t hi) {
    (void)dst, (void)out_w, (void)src, (void)src_pitch, (void)rows, (void)lo, (void)hi;
}

void cnn_col2im_s1_channel(const cnn_conv_geometry *geo, const float *col, float *x) { (void)geo, (void)col, (void)x; }

void cnn_im2col_panels(const cnn_conv_geometry *geo, const float *x, int64_t x_stride, int64_t first, int64_t count, float *bp) {
    (void)geo, (void)x, (void)x_stride, (void)first, (void)count, (void)bp;
}

#endif
