/* pool_avx512.c — pool.h: training's 2x2 / stride-2 max pool with its argmax, and its gradient
 * stored whole, 16 outputs to a vector. Built with -mavx512f -mfma (Makefile) like sgemm_avx512.c and called only when
 * cnn_gemm_avx512_available(). */
#include "pool.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include "simd512.h"

/* The running pick (best at flat index at) against the other column's (x at f), as ops/pool.c's
 * pick_column: a NaN with the larger index, else the larger value or, equal, the smaller index. */
static inline void pick(__m512 *best, __m512i *at, __m512 x, __m512i f) {
    const __mmask16 nan_x = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), nan_best = _mm512_cmp_ps_mask(*best, *best, _CMP_UNORD_Q);
    const __mmask16 later = _mm512_cmpgt_epi32_mask(f, *at), earlier = _mm512_cmplt_epi32_mask(f, *at);
    const __mmask16 larger = _mm512_cmp_ps_mask(x, *best, _CMP_GT_OQ), equal = _mm512_cmp_ps_mask(x, *best, _CMP_EQ_OQ);
    const __mmask16 take = (nan_x & (~nan_best | later)) | (~nan_x & ~nan_best & (larger | (equal & earlier)));
    *best = _mm512_mask_mov_ps(*best, take, x);
    *at = _mm512_mask_mov_epi32(*at, take, f);
}

void cnn_maxpool2x2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t i = 0; i < oh; i++) {
        const float *x0 = xp + 2 * i * w, *x1 = x0 + w;
        for (int64_t j = 0; j < ow; j += 16) {
            const int64_t n = ow - j < 16 ? ow - j : 16; /* outputs, reading 2 n columns */
            const __mmask16 lo = lanes(2 * n), hi = lanes(2 * n - 16), out = lanes(n);
            /* per column the row-major pick between its two rows: the second row if larger or NaN */
            __m512 v[2];
            __m512i vi[2];
            for (int h = 0; h < 2; h++) {
                const __mmask16 m = h ? hi : lo;
                const int64_t q = 2 * j + 16 * h;
                const __m512 a = _mm512_maskz_loadu_ps(m, x0 + q), b = _mm512_maskz_loadu_ps(m, x1 + q);
                const __mmask16 take = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
                const __m512i first = _mm512_add_epi32(lane, _mm512_set1_epi32((int)(2 * i * w + q)));
                v[h] = _mm512_mask_mov_ps(a, take, b);
                vi[h] = _mm512_mask_mov_epi32(first, take, _mm512_add_epi32(first, _mm512_set1_epi32((int)w)));
            }
            /* then along the row: each output's left column against its right */
            __m512 best = _mm512_permutex2var_ps(v[0], even, v[1]);
            __m512i at = _mm512_permutex2var_epi32(vi[0], even, vi[1]);
            pick(&best, &at, _mm512_permutex2var_ps(v[0], odd, v[1]), _mm512_permutex2var_epi32(vi[0], odd, vi[1]));
            _mm512_mask_storeu_ps(yp + i * ow + j, out, best);
            _mm512_mask_storeu_epi32(ap + i * ow + j, out, at);
        }
    }
}

void cnn_maxpool2x2_grad_store(const float *dy, const int32_t *ap, int64_t h, int64_t w, int64_t oh, int64_t ow, float *dx) {
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int)w), down1 = _mm512_set1_epi32((int)w + 1);
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < oh; i++) {
        for (int64_t j = 0; j < ow; j += 16) {
            const int64_t n = ow - j < 16 ? ow - j : 16;
            const __mmask16 out = lanes(n), lo = lanes(2 * n), hi = lanes(2 * n - 16);
            const __m512 d = _mm512_maskz_loadu_ps(out, dy + i * ow + j);
            /* each output's pick relative to its window's top left: 0, 1, w or w + 1 */
            const __m512i rel = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(out, ap + i * ow + j),
                                                 _mm512_add_epi32(lane2, _mm512_set1_epi32((int)(2 * i * w + 2 * j))));
            /* 0 + dy where picked (as zeros then += would: -0 becomes +0), 0 elsewhere */
            const __m512 e[4] = {_mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512()), zero, d),
                                 _mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, one), zero, d),
                                 _mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, down), zero, d),
                                 _mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, down1), zero, d)};
            for (int r = 0; r < 2; r++) {
                float *row = dx + (2 * i + r) * w + 2 * j;
                _mm512_mask_storeu_ps(row, lo, _mm512_permutex2var_ps(e[2 * r], lo_idx, e[2 * r + 1]));
                _mm512_mask_storeu_ps(row + 16, hi, _mm512_permutex2var_ps(e[2 * r], hi_idx, e[2 * r + 1]));
            }
        }
        for (int r = 0; r < 2; r++)
            for (int64_t x = 2 * ow; x < w; x++) dx[(2 * i + r) * w + x] = 0.0f;
    }
    for (int64_t x = 2 * oh * w; x < h * w; x++) dx[x] = 0.0f;
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_maxpool2x2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap) {
    (void)xp, (void)w, (void)oh, (void)ow, (void)yp, (void)ap;
}

void cnn_maxpool2x2_grad_store(const float *dy, const int32_t *ap, int64_t h, int64_t w, int64_t oh, int64_t ow, float *dx) {
    (void)dy, (void)ap, (void)h, (void)w, (void)oh, (void)ow, (void)dx;
}

#endif
