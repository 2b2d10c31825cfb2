/* pack.c — packing matrices into the panels of our GEMM (gemm.h). */
#include "gemm.h"
#include "../core/internal.h"

/* One panel (k rows of GEMM_NR floats) from runs of columns: run r fills panel columns [at[r],
 * at[r + 1]) from src[r] (row p at src[r] + p * ldb); columns past at[runs] are zeros. */
static inline void pack_panel(int64_t k, int64_t ldb, const float *const *src, const int64_t *at, int64_t runs, float *panel) {
    if (runs == 1 && at[1] == GEMM_NR) { /* whole rows of GEMM_NR floats */
        for (int64_t p = 0; p < k; p++) {
            float *dst = panel + p * GEMM_NR;
            const float *sr = src[0] + p * ldb;
#pragma omp simd
            for (int64_t c = 0; c < GEMM_NR; c++) dst[c] = sr[c];
        }
        return;
    }
    for (int64_t p = 0; p < k; p++) {
        float *dst = panel + p * GEMM_NR;
        for (int64_t r = 0; r < runs; r++) {
            const float *sr = src[r] + p * ldb;
            float *dr = dst + at[r];
            for (int64_t c = 0; c < at[r + 1] - at[r]; c++) dr[c] = sr[c];
        }
        for (int64_t c = at[runs]; c < GEMM_NR; c++) dst[c] = 0.0f;
    }
}

CNN_CLONES void cnn_gemm_pack_b(int64_t k, int64_t n, const float *b, int64_t ldb, float *bp, int64_t first, int64_t count) {
    for (int64_t jp = first; jp < first + count; jp++) {
        const int64_t j0 = jp * GEMM_NR, at[2] = {0, n - j0 < GEMM_NR ? n - j0 : GEMM_NR};
        const float *src = b + j0;
        pack_panel(k, ldb, &src, at, 1, bp + j0 * k);
    }
}

CNN_CLONES void cnn_gemm_pack_b_samples(int64_t k, int64_t n, int64_t samples, const float *b, int64_t ldb, int64_t b_stride, float *bp,
                                        int64_t first, int64_t count) {
    const int64_t total = n * samples;
    for (int64_t jp = first; jp < first + count; jp++) {
        const int64_t j0 = jp * GEMM_NR, cols = total - j0 < GEMM_NR ? total - j0 : GEMM_NR;
        /* the panel's columns as runs within one sample */
        const float *src[GEMM_NR];
        int64_t at[GEMM_NR + 1], runs = 0;
        for (int64_t q = 0; q < cols; runs++) {
            const int64_t j = j0 + q, s = j / n, pcol = j % n, len = n - pcol < cols - q ? n - pcol : cols - q;
            src[runs] = b + s * b_stride + pcol, at[runs] = q;
            q += len;
        }
        at[runs] = cols;
        pack_panel(k, ldb, src, at, runs, bp + (jp - first) * GEMM_NR * k);
    }
}
