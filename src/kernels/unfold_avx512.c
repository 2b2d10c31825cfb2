/* unfold_avx512.c — cnn_im2col_panels (im2col.h): convolution windows straight into our GEMM's
 * panels. Built with -mavx512f -mfma (Makefile) like sgemm_avx512.c, and called only where our GEMM
 * runs (cnn_gemm_avx512_available): stride-1 and stride-2 rows are moved 16 floats at a time, the
 * last ones of a run masked. */
#include "im2col.h"
#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

/* Rows of one channel a few dozen floats long, channels a plane apart: too short for the hardware
 * to see a stream, so the rows of the channel this many on are fetched ahead. */
#define PREFETCH_CHANNELS 4

void cnn_im2col_panels(const cnn_conv_geometry *geo, const float *x, int64_t x_stride, int64_t first, int64_t count, float *bp) {
    const int64_t rows = geo->channels * geo->kernel_h * geo->kernel_w, plane = geo->in_h * geo->in_w, out_w = geo->out_w;
    const int64_t out_plane = geo->out_h * out_w;
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
        for (int64_t r = 0, c = 0, i = 0, kj = 0; r < rows; r++) { /* r = (c, i, kj): channel c, kernel tap (i, kj) */
            float *dst = panel + r * GEMM_NR;
            for (int64_t k = 0; k < runs; k++) {
                const int64_t ih = oh[k] * geo->stride_h - geo->pad_top + i * geo->dilation_h;
                const int64_t iw0 = ow[k] * geo->stride_w - geo->pad_left + kj * geo->dilation_w;
                if (ih < 0 || ih >= geo->in_h) {
                    for (int64_t q = at[k]; q < at[k + 1]; q++) dst[q] = 0.0f;
                    continue;
                }
                /* windows [lo, hi) of the run read the row, the rest the padding (dividing only at the edges) */
                const int64_t len = at[k + 1] - at[k], sw = geo->stride_w;
                int64_t lo = iw0 < 0 ? (-iw0 + sw - 1) / sw : 0, hi = len;
                if (iw0 + (len - 1) * sw >= geo->in_w) hi = iw0 >= geo->in_w ? 0 : (geo->in_w - iw0 + sw - 1) / sw;
                if (lo > len) lo = len;
                if (hi < lo) hi = lo;
                const float *xrow = xs[k] + c * plane + ih * geo->in_w + iw0;
                float *d = dst + at[k];
                if (c + PREFETCH_CHANNELS < geo->channels) { /* the same windows PREFETCH_CHANNELS channels on */
                    const float *ahead = xrow + PREFETCH_CHANNELS * plane;
                    for (int64_t q = lo * sw; q < (hi - 1) * sw + 1; q += 16) __builtin_prefetch(ahead + q, 0, 3);
                }
                for (int64_t q = 0; q < lo; q++) d[q] = 0.0f;
                int64_t e = lo;
                /* windows [e, hi) read the row: 16 at a time, the last ones masked (loads and
                 * stores only inside the row and the run) */
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
            for (int64_t q = n; q < GEMM_NR; q++) dst[q] = 0.0f;
            if (++kj == geo->kernel_w) { /* the next tap without dividing: divisions cost more than the copies */
                kj = 0;
                if (++i == geo->kernel_h) i = 0, c++;
            }
        }
    }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_im2col_panels(const cnn_conv_geometry *geo, const float *x, int64_t x_stride, int64_t first, int64_t count, float *bp) {
    (void)geo, (void)x, (void)x_stride, (void)first, (void)count, (void)bp;
}

#endif
