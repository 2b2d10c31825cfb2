/* direct_avx512.c — direct.h: convolutions over one input plane, 16 output positions to a vector.
 * Built with -mavx512f -mfma (Makefile) like sgemm_avx512.c and called only when
 * cnn_gemm_avx512_available(). */
#include "direct.h"

void cnn_direct_table(const float *w, int64_t k, int taps, float *table) {
    const int64_t kp = (k + DIRECT_K_BLOCK - 1) / DIRECT_K_BLOCK * DIRECT_K_BLOCK;
    for (int t = 0; t < taps; t++)
        for (int64_t o = 0; o < kp; o++) table[t * kp + o] = o < k ? w[o * taps + t] : 0.0f;
}

#if defined(__x86_64__) && defined(__AVX512F__)
#include "simd512.h"

void cnn_direct_forward(const float *xp, int64_t pw, const float *table, int64_t kp, const float *bias, int64_t k_first, int64_t k_count,
                        int kh, int kw, float *y, int64_t oh, int64_t ow) {
    const int64_t plane = oh * ow;
    for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += DIRECT_K_BLOCK) {
        const int64_t nk = k_first + k_count - k0 < DIRECT_K_BLOCK ? k_first + k_count - k0 : DIRECT_K_BLOCK;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox += 16) {
                const __mmask16 m = lanes(ow - ox);
                __m512 acc[DIRECT_K_BLOCK];
#pragma GCC unroll 8
                for (int q = 0; q < DIRECT_K_BLOCK; q++) acc[q] = _mm512_setzero_ps();
                for (int i = 0; i < kh; i++) {
                    const float *row = xp + (oy + i) * pw + ox;
                    for (int j = 0; j < kw; j++) {
                        const __m512 v = _mm512_maskz_loadu_ps(m, row + j);
                        const float *wt = table + (i * kw + j) * kp + k0;
#pragma GCC unroll 8
                        for (int q = 0; q < DIRECT_K_BLOCK; q++) acc[q] = _mm512_fmadd_ps(v, _mm512_set1_ps(wt[q]), acc[q]);
                    }
                }
#pragma GCC unroll 8
                for (int q = 0; q < DIRECT_K_BLOCK; q++) {
                    if (q >= nk) break;
                    const __m512 out = bias ? _mm512_add_ps(acc[q], _mm512_set1_ps(bias[k0 + q])) : acc[q];
                    _mm512_mask_storeu_ps(y + (k0 + q) * plane + oy * ow + ox, m, out);
                }
            }
    }
}

/* The weight gradient of output channel o for kh x kw kernels (KH * KW accumulators in registers:
 * inlined with constant kh and kw, loops fully unrolled). */
static inline __attribute__((always_inline)) void weight_grad_fixed(const float *xps, int64_t xp_stride, int64_t pw, const float *dy,
                                                                    int64_t dy_stride, int64_t batch, int64_t o, int64_t oh, int64_t ow, float *dw,
                                                                    const int kh, const int kw) {
    const int64_t plane = oh * ow;
    __m512 acc[25];
#pragma GCC unroll 25
    for (int q = 0; q < kh * kw; q++) acc[q] = _mm512_setzero_ps();
    for (int64_t b = 0; b < batch; b++) {
        const float *xb = xps + b * xp_stride, *db = dy + b * dy_stride + o * plane;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox += 16) {
                const __mmask16 m = lanes(ow - ox);
                const __m512 d = _mm512_maskz_loadu_ps(m, db + oy * ow + ox);
                const float *x0 = xb + oy * pw + ox;
#pragma GCC unroll 5
                for (int i = 0; i < kh; i++)
#pragma GCC unroll 5
                    for (int j = 0; j < kw; j++) acc[i * kw + j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x0 + i * pw + j), d, acc[i * kw + j]);
            }
    }
#pragma GCC unroll 25
    for (int q = 0; q < kh * kw; q++) dw[o * kh * kw + q] += _mm512_reduce_add_ps(acc[q]);
}

/* Other kernels: a tap at a time over the batch (its sum in one vector). */
static void weight_grad_tap(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t o,
                            int t, int kh, int kw, int64_t oh, int64_t ow, float *dw) {
    const int64_t plane = oh * ow, off = t / kw * pw + t % kw;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < batch; b++) {
        const float *xb = xps + b * xp_stride + off, *db = dy + b * dy_stride + o * plane;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox += 16) {
                const __mmask16 m = lanes(ow - ox);
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xb + oy * pw + ox), _mm512_maskz_loadu_ps(m, db + oy * ow + ox), acc);
            }
    }
    dw[o * kh * kw + t] += _mm512_reduce_add_ps(acc);
}

void cnn_direct_weight_grad(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t k_first,
                            int64_t k_count, int kh, int kw, int64_t oh, int64_t ow, float *dw) {
    for (int64_t o = k_first; o < k_first + k_count; o++) {
        if (kh == 5 && kw == 5)
            weight_grad_fixed(xps, xp_stride, pw, dy, dy_stride, batch, o, oh, ow, dw, 5, 5);
        else if (kh == 3 && kw == 3)
            weight_grad_fixed(xps, xp_stride, pw, dy, dy_stride, batch, o, oh, ow, dw, 3, 3);
        else
            for (int t = 0; t < kh * kw; t++) weight_grad_tap(xps, xp_stride, pw, dy, dy_stride, batch, o, t, kh, kw, oh, ow, dw);
    }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_direct_forward(const float *xp, int64_t pw, const float *table, int64_t kp, const float *bias, int64_t k_first, int64_t k_count,
                        int kh, int kw, float *y, int64_t oh, int64_t ow) {
    (void)xp, (void)pw, (void)table, (void)kp, (void)bias, (void)k_first, (void)k_count, (void)kh, (void)kw, (void)y, (void)oh, (void)ow;
}

void cnn_direct_weight_grad(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t k_first,
                            int64_t k_count, int kh, int kw, int64_t oh, int64_t ow, float *dw) {
    (void)xps, (void)xp_stride, (void)pw, (void)dy, (void)dy_stride, (void)batch, (void)k_first, (void)k_count, (void)kh, (void)kw, (void)oh,
        (void)ow, (void)dw;
}

#endif
