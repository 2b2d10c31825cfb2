/* sgemm_avx512.c — C (M x N) = A (M x K) * B (K x N) (+ C) from packed panels, with an AVX-512 register
 * kernel. Built with -mavx512f -mfma (Makefile) and called only when the CPU has AVX-512F
 * (cnn_gemm_avx512_available, in gemm.c: nothing of this file runs before the check passes); the
 * rest of the library stays baseline x86-64.
 *
 * Layout (see gemm.h): A read in place (row-major, or stored transposed); B in panels of GEMM_NR
 * columns, each k-major (panel[k][GEMM_NR]), the edge panel padded with zeros. Every
 * element of C is one sum over k = 0..K-1 in order (one FMA chain), added to C at the end when
 * accumulating: the result does not depend on how the tiles are shared out to threads. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

const bool cnn_gemm_avx512_compiled = true;

/* One GEMM_MR x GEMM_NR tile, C's rows row0.. and columns col0..: A's rows read in place (element
 * (r, p) at a[r * rs + p * cs], rows past mr repeat the last), B from its panel; rows < mr and the
 * columns in masks m0 (0..15), m1 (16..31) stored. Inlined into tile_n (cs 1: rows contiguous) and tile_t (A transposed). */
static inline __attribute__((always_inline)) void tile_8x32(int64_t k, const float *restrict a, int64_t rs, int64_t cs,
                                                            const float *restrict b, float *restrict c, int64_t ldc, int mr, __mmask16 m0,
                                                            __mmask16 m1, bool accumulate, const cnn_gemm_epilogue *e, int64_t row0,
                                                            int64_t col0) {
    const float *r0 = a, *r1 = a + (mr > 1 ? 1 : 0) * rs, *r2 = a + (mr > 2 ? 2 : mr - 1) * rs, *r3 = a + (mr > 3 ? 3 : mr - 1) * rs;
    const float *r4 = a + (mr > 4 ? 4 : mr - 1) * rs, *r5 = a + (mr > 5 ? 5 : mr - 1) * rs, *r6 = a + (mr > 6 ? 6 : mr - 1) * rs;
    const float *r7 = a + (mr > 7 ? 7 : mr - 1) * rs;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int64_t p = 0, q = 0; p < k; p++, q += cs) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 t;
        t = _mm512_set1_ps(r0[q]), c00 = _mm512_fmadd_ps(t, b0, c00), c01 = _mm512_fmadd_ps(t, b1, c01);
        t = _mm512_set1_ps(r1[q]), c10 = _mm512_fmadd_ps(t, b0, c10), c11 = _mm512_fmadd_ps(t, b1, c11);
        t = _mm512_set1_ps(r2[q]), c20 = _mm512_fmadd_ps(t, b0, c20), c21 = _mm512_fmadd_ps(t, b1, c21);
        t = _mm512_set1_ps(r3[q]), c30 = _mm512_fmadd_ps(t, b0, c30), c31 = _mm512_fmadd_ps(t, b1, c31);
        t = _mm512_set1_ps(r4[q]), c40 = _mm512_fmadd_ps(t, b0, c40), c41 = _mm512_fmadd_ps(t, b1, c41);
        t = _mm512_set1_ps(r5[q]), c50 = _mm512_fmadd_ps(t, b0, c50), c51 = _mm512_fmadd_ps(t, b1, c51);
        t = _mm512_set1_ps(r6[q]), c60 = _mm512_fmadd_ps(t, b0, c60), c61 = _mm512_fmadd_ps(t, b1, c61);
        t = _mm512_set1_ps(r7[q]), c70 = _mm512_fmadd_ps(t, b0, c70), c71 = _mm512_fmadd_ps(t, b1, c71);
        b += GEMM_NR;
    }
    const __m512 acc[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        __m512 v0 = acc[r][0], v1 = acc[r][1];
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
        }
        if (e && e->scale) { /* y * scale + shift, two operations as the batch norm computes them */
            const __m512 s = _mm512_set1_ps(e->scale[row0 + r]), h = _mm512_set1_ps(e->shift[row0 + r]);
            v0 = _mm512_add_ps(_mm512_mul_ps(v0, s), h);
            v1 = _mm512_add_ps(_mm512_mul_ps(v1, s), h);
        }
        if (e && e->residual) { /* + the residual, as the add layer computes it */
            const float *res = e->residual + (row0 + r) * e->ldr + col0;
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, res));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, res + 16));
        }
        if (e && e->relu) { /* y <= 0 ? 0 : y, NaN kept (as relu_fwd) */
            const __m512 z = _mm512_setzero_ps();
            v0 = _mm512_mask_mov_ps(v0, _mm512_cmp_ps_mask(v0, z, _CMP_LE_OQ), z);
            v1 = _mm512_mask_mov_ps(v1, _mm512_cmp_ps_mask(v1, z, _CMP_LE_OQ), z);
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

static void tile_n(int64_t k, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int mr, __mmask16 m0, __mmask16 m1,
                   bool accumulate, const cnn_gemm_epilogue *e, int64_t row0, int64_t col0) {
    tile_8x32(k, a, lda, 1, b, c, ldc, mr, m0, m1, accumulate, e, row0, col0);
}

static void tile_t(int64_t k, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int mr, __mmask16 m0, __mmask16 m1,
                   bool accumulate, const cnn_gemm_epilogue *e, int64_t row0, int64_t col0) {
    tile_8x32(k, a, 1, lda, b, c, ldc, mr, m0, m1, accumulate, e, row0, col0);
}

void cnn_gemm_packed_avx512(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bp, float *c,
                            int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e, int64_t first_tile, int64_t tile_step) {
    const int64_t panels_m = (m + GEMM_MR - 1) / GEMM_MR, panels_n = (n + GEMM_NR - 1) / GEMM_NR;
    /* When B's panels fit in L2 (K x N small), tile t is row panel t / panels_n and column panel
     * t % panels_n: each MR rows of A are read once, against B in cache. Otherwise the other way
     * round: each B panel stays in cache while the rows of A stream past it. */
    const bool rows_outer = k * panels_n * GEMM_NR * (int64_t)sizeof(float) <= GEMM_B_CACHE_BYTES;
    for (int64_t t = first_tile; t < panels_m * panels_n; t += tile_step) {
        const int64_t jp = rows_outer ? t % panels_n : t / panels_m, ip = rows_outer ? t / panels_n : t % panels_m;
        const int64_t cols = n - jp * GEMM_NR < GEMM_NR ? n - jp * GEMM_NR : GEMM_NR;
        const int rows = (int)(m - ip * GEMM_MR < GEMM_MR ? m - ip * GEMM_MR : GEMM_MR);
        const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
        const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
        if (trans_a)
            tile_t(k, a + ip * GEMM_MR, lda, bp + jp * GEMM_NR * k, c + ip * GEMM_MR * ldc + jp * GEMM_NR, ldc, rows, m0, m1, accumulate, e,
                   ip * GEMM_MR, jp * GEMM_NR);
        else
            tile_n(k, a + ip * GEMM_MR * lda, lda, bp + jp * GEMM_NR * k, c + ip * GEMM_MR * ldc + jp * GEMM_NR, ldc, rows, m0, m1, accumulate,
                   e, ip * GEMM_MR, jp * GEMM_NR);
    }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

const bool cnn_gemm_avx512_compiled = false;

void cnn_gemm_packed_avx512(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bp, float *c,
                            int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e, int64_t first_tile, int64_t tile_step) {
    (void)trans_a, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)bp, (void)c, (void)ldc, (void)accumulate, (void)e, (void)first_tile, (void)tile_step;
}

#endif
