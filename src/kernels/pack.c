/* pack.c — packing matrices into the panels of our GEMM (gemm.h). */
#include "gemm.h"
#include "../core/internal.h"

/* Row p of one panel (GEMM_NR floats at dst) from runs of columns: run r fills panel columns
 * [at[r], at[r + 1]) from src[r] (row p at src[r] + p * ldb); columns past at[runs] are zeros. */
static inline void pack_panel_row(int64_t p, int64_t ldb, const float *const *src, const int64_t *at, int64_t runs, float *dst) {
    if (runs == 1 && at[1] == GEMM_NR) { /* a whole row of GEMM_NR floats */
        const float *sr = src[0] + p * ldb;
#pragma omp simd
        for (int64_t c = 0; c < GEMM_NR; c++) dst[c] = sr[c];
        return;
    }
    for (int64_t r = 0; r < runs; r++) {
        const float *sr = src[r] + p * ldb;
        float *dr = dst + at[r];
        for (int64_t c = 0; c < at[r + 1] - at[r]; c++) dr[c] = sr[c];
    }
    for (int64_t c = at[runs]; c < GEMM_NR; c++) dst[c] = 0.0f;
}

CNN_CLONES void cnn_gemm_pack_b(int64_t k, int64_t n, const float *b, int64_t ldb, float *bp, int64_t first, int64_t count) {
    for (int64_t jp = first; jp < first + count; jp++) {
        const int64_t j0 = jp * GEMM_NR, at[2] = {0, n - j0 < GEMM_NR ? n - j0 : GEMM_NR};
        const float *src = b + j0;
        for (int64_t p = 0; p < k; p++) pack_panel_row(p, ldb, &src, at, 1, bp + j0 * k + p * GEMM_NR);
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
            for (int64_t jp = g0; jp < g1; jp++)
                pack_panel_row(p, ldb, src[jp - g0], at[jp - g0], runs[jp - g0], bp + (jp - first) * GEMM_NR * k + p * GEMM_NR);
    }
}
