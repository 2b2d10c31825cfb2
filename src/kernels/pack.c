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
