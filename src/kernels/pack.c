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

/* Panels at a time in cnn_gemm_pack_b_samples: their rows p are filled together, so that each row
 * of a sample is read in one stretch (the prefetchers follow it) rather than 32 columns of it per
 * panel with k - 1 other rows between. */
#define PACK_PANELS 64

CNN_CLONES void cnn_gemm_pack_b_samples(int64_t k, int64_t n, int64_t samples, const float *b, int64_t ldb, int64_t b_stride, float *bp,
                                        int64_t first, int64_t count) {
    const int64_t total = n * samples;
    for (int64_t g0 = first; g0 < first + count; g0 += PACK_PANELS) {
        const int64_t g1 = g0 + PACK_PANELS < first + count ? g0 + PACK_PANELS : first + count;
        /* each panel's columns as runs within one sample */
        const float *src[PACK_PANELS][GEMM_NR];
        int64_t at[PACK_PANELS][GEMM_NR + 1], runs[PACK_PANELS];
        for (int64_t jp = g0; jp < g1; jp++) {
            const int64_t j0 = jp * GEMM_NR, cols = total - j0 < GEMM_NR ? total - j0 : GEMM_NR, i = jp - g0;
            runs[i] = 0;
            for (int64_t q = 0; q < cols; runs[i]++) {
                const int64_t j = j0 + q, s = j / n, pcol = j % n, len = n - pcol < cols - q ? n - pcol : cols - q;
                src[i][runs[i]] = b + s * b_stride + pcol, at[i][runs[i]] = q;
                q += len;
            }
            at[i][runs[i]] = cols;
        }
        for (int64_t p = 0; p < k; p++)
            for (int64_t jp = g0; jp < g1; jp++) {
                const int64_t i = jp - g0;
                float *dst = bp + (jp - first) * GEMM_NR * k + p * GEMM_NR;
                if (runs[i] == 1 && at[i][1] == GEMM_NR) {
                    const float *sr = src[i][0] + p * ldb;
#pragma omp simd
                    for (int64_t c = 0; c < GEMM_NR; c++) dst[c] = sr[c];
                    continue;
                }
                for (int64_t r = 0; r < runs[i]; r++) {
                    const float *sr = src[i][r] + p * ldb;
                    float *dr = dst + at[i][r];
                    for (int64_t c = 0; c < at[i][r + 1] - at[i][r]; c++) dr[c] = sr[c];
                }
                for (int64_t c = at[i][runs[i]]; c < GEMM_NR; c++) dst[c] = 0.0f;
            }
    }
}
