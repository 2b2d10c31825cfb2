/* pack.c — packing matrices into the panels of our GEMM (gemm.h). */
#include "gemm.h"
#include "../core/internal.h"


CNN_CLONES void cnn_gemm_pack_b(int64_t k, int64_t n, const float *b, int64_t ldb, float *bp, int64_t first, int64_t count) {
    for (int64_t jp = first; jp < first + count; jp++) {
        const int64_t j0 = jp * GEMM_NR, cols = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
        float *panel = bp + j0 * k;
        for (int64_t p = 0; p < k; p++) {
            float *dst = panel + p * GEMM_NR;
            const float *src = b + p * ldb + j0;
            if (cols == GEMM_NR) {
#pragma omp simd
                for (int64_t c = 0; c < GEMM_NR; c++) dst[c] = src[c];
            } else {
                for (int64_t c = 0; c < cols; c++) dst[c] = src[c];
                for (int64_t c = cols; c < GEMM_NR; c++) dst[c] = 0.0f;
            }
        }
    }
}

CNN_CLONES void cnn_gemm_pack_b_samples(int64_t k, int64_t n, int64_t samples, const float *b, int64_t ldb, int64_t b_stride, float *bp,
                                        int64_t first, int64_t count) {
    const int64_t total = n * samples;
    for (int64_t jp = first; jp < first + count; jp++) {
        const int64_t j0 = jp * GEMM_NR, cols = total - j0 < GEMM_NR ? total - j0 : GEMM_NR;
        float *panel = bp + (jp - first) * GEMM_NR * k;
        /* the panel's columns as runs within one sample: run r is columns [at[r], at[r + 1]) from src[r] */
        const float *src[GEMM_NR];
        int64_t at[GEMM_NR + 1], runs = 0;
        for (int64_t q = 0; q < cols; runs++) {
            const int64_t j = j0 + q, s = j / n, pcol = j % n, len = n - pcol < cols - q ? n - pcol : cols - q;
            src[runs] = b + s * b_stride + pcol, at[runs] = q;
            q += len;
        }
        at[runs] = cols;
        for (int64_t p = 0; p < k; p++) {
            float *dst = panel + p * GEMM_NR;
            for (int64_t r = 0; r < runs; r++) {
                const float *sr = src[r] + p * ldb;
                float *dr = dst + at[r];
#pragma omp simd
                for (int64_t c = 0; c < at[r + 1] - at[r]; c++) dr[c] = sr[c];
            }
            for (int64_t c = cols; c < GEMM_NR; c++) dst[c] = 0.0f;
        }
    }
}
