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

#include "simd512.h"

const bool cnn_gemm_avx512_compiled = true;

/* Where a tile's columns are stored: C's and the residual's row row0 (columns from the tile's first
 * on), and the columns in masks m0 (0..15), m1 (16..31). A tile across two samples' columns
 * (cnn_gemm_epilogue.sample_cols) has two. */
typedef struct tile_dst {
    float *c;
    const float *res;
    __mmask16 m0, m1;
} tile_dst;

/* One GEMM_MR x GEMM_NR tile: A's rows read in place (element (r, p) at a[r * rs + p * cs], rows
 * past mr repeat the last), B from its panel; rows < mr stored to each of the nd destinations (ldc,
 * the residual's rows ldr apart). With width 24, 16 or 8, only the panel's first 24, 16 or 8
 * columns are computed (an edge panel of at most that many: inception_v3's 17x17 planes, 289 =
 * 9 x 32 + 1 columns, googlenet's 14x14, 196 = 6 x 32 + 4, LeNet-5's 50 channels, 32 + 18), by 512-
 * or 256-bit multiply-adds (this CPU's 512-bit ones cost two 256-bit ones); with half (mr <= 4: an
 * edge row panel, LeNet-5's 20 channels, 8 + 8 + 4), only the first 4 rows. Each computed element is
 * the same chain, so the same bits. Inlined into tile_w's eight cases. */
static inline __attribute__((always_inline)) void tile_8x32(int64_t k, const float *restrict a, int64_t rs, int64_t cs,
                                                            const float *restrict b, const tile_dst *d, int nd, int64_t ldc, int mr,
                                                            bool accumulate, const cnn_gemm_epilogue *e, int64_t row0, const int width,
                                                            const bool half) {
    const float *r0 = a, *r1 = a + (mr > 1 ? 1 : 0) * rs, *r2 = a + (mr > 2 ? 2 : mr - 1) * rs, *r3 = a + (mr > 3 ? 3 : mr - 1) * rs;
    const float *r4 = a + (mr > 4 ? 4 : mr - 1) * rs, *r5 = a + (mr > 5 ? 5 : mr - 1) * rs, *r6 = a + (mr > 6 ? 6 : mr - 1) * rs;
    const float *r7 = a + (mr > 7 ? 7 : mr - 1) * rs;
    /* The rows this tile will store (and their residual) on their way while the products run: with
     * small k the stores and the residual's loads otherwise wait on memory. */
    for (int i = 0; i < nd; i++)
        for (int r = 0; r < mr; r++) {
            __builtin_prefetch(d[i].c + r * ldc, 1, 3);
            __builtin_prefetch(d[i].c + r * ldc + 16, 1, 3);
            if (d[i].res) {
                __builtin_prefetch(d[i].res + r * e->ldr, 0, 3);
                __builtin_prefetch(d[i].res + r * e->ldr + 16, 0, 3);
            }
        }
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    if (width == 8) {
        __m256 q0 = _mm256_setzero_ps(), q1 = q0, q2 = q0, q3 = q0, q4 = q0, q5 = q0, q6 = q0, q7 = q0;
        for (int64_t p = 0, q = 0; p < k; p++, q += cs) {
            const __m256 b0 = _mm256_loadu_ps(b);
            q0 = _mm256_fmadd_ps(_mm256_set1_ps(r0[q]), b0, q0), q1 = _mm256_fmadd_ps(_mm256_set1_ps(r1[q]), b0, q1);
            q2 = _mm256_fmadd_ps(_mm256_set1_ps(r2[q]), b0, q2), q3 = _mm256_fmadd_ps(_mm256_set1_ps(r3[q]), b0, q3);
            if (!half) q4 = _mm256_fmadd_ps(_mm256_set1_ps(r4[q]), b0, q4), q5 = _mm256_fmadd_ps(_mm256_set1_ps(r5[q]), b0, q5);
            if (!half) q6 = _mm256_fmadd_ps(_mm256_set1_ps(r6[q]), b0, q6), q7 = _mm256_fmadd_ps(_mm256_set1_ps(r7[q]), b0, q7);
            b += GEMM_NR;
        }
        c00 = _mm512_zextps256_ps512(q0), c10 = _mm512_zextps256_ps512(q1), c20 = _mm512_zextps256_ps512(q2);
        c30 = _mm512_zextps256_ps512(q3), c40 = _mm512_zextps256_ps512(q4), c50 = _mm512_zextps256_ps512(q5);
        c60 = _mm512_zextps256_ps512(q6), c70 = _mm512_zextps256_ps512(q7);
    } else if (width == 24) { /* 16 columns by 512-bit multiply-adds, 8 by 256-bit ones */
        __m256 q0 = _mm256_setzero_ps(), q1 = q0, q2 = q0, q3 = q0, q4 = q0, q5 = q0, q6 = q0, q7 = q0;
        for (int64_t p = 0, q = 0; p < k; p++, q += cs) {
            const __m512 b0 = _mm512_loadu_ps(b);
            const __m256 b1 = _mm256_loadu_ps(b + 16);
            __m512 t;
            t = _mm512_set1_ps(r0[q]), c00 = _mm512_fmadd_ps(t, b0, c00), q0 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q0);
            t = _mm512_set1_ps(r1[q]), c10 = _mm512_fmadd_ps(t, b0, c10), q1 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q1);
            t = _mm512_set1_ps(r2[q]), c20 = _mm512_fmadd_ps(t, b0, c20), q2 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q2);
            t = _mm512_set1_ps(r3[q]), c30 = _mm512_fmadd_ps(t, b0, c30), q3 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q3);
            if (!half) { t = _mm512_set1_ps(r4[q]), c40 = _mm512_fmadd_ps(t, b0, c40), q4 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q4); }
            if (!half) { t = _mm512_set1_ps(r5[q]), c50 = _mm512_fmadd_ps(t, b0, c50), q5 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q5); }
            if (!half) { t = _mm512_set1_ps(r6[q]), c60 = _mm512_fmadd_ps(t, b0, c60), q6 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q6); }
            if (!half) { t = _mm512_set1_ps(r7[q]), c70 = _mm512_fmadd_ps(t, b0, c70), q7 = _mm256_fmadd_ps(_mm512_castps512_ps256(t), b1, q7); }
            b += GEMM_NR;
        }
        c01 = _mm512_zextps256_ps512(q0), c11 = _mm512_zextps256_ps512(q1), c21 = _mm512_zextps256_ps512(q2);
        c31 = _mm512_zextps256_ps512(q3), c41 = _mm512_zextps256_ps512(q4), c51 = _mm512_zextps256_ps512(q5);
        c61 = _mm512_zextps256_ps512(q6), c71 = _mm512_zextps256_ps512(q7);
    } else if (width == 16)
        for (int64_t p = 0, q = 0; p < k; p++, q += cs) {
            const __m512 b0 = _mm512_loadu_ps(b);
            c00 = _mm512_fmadd_ps(_mm512_set1_ps(r0[q]), b0, c00), c10 = _mm512_fmadd_ps(_mm512_set1_ps(r1[q]), b0, c10);
            c20 = _mm512_fmadd_ps(_mm512_set1_ps(r2[q]), b0, c20), c30 = _mm512_fmadd_ps(_mm512_set1_ps(r3[q]), b0, c30);
            if (!half) c40 = _mm512_fmadd_ps(_mm512_set1_ps(r4[q]), b0, c40), c50 = _mm512_fmadd_ps(_mm512_set1_ps(r5[q]), b0, c50);
            if (!half) c60 = _mm512_fmadd_ps(_mm512_set1_ps(r6[q]), b0, c60), c70 = _mm512_fmadd_ps(_mm512_set1_ps(r7[q]), b0, c70);
            b += GEMM_NR;
        }
    else
        for (int64_t p = 0, q = 0; p < k; p++, q += cs) {
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            __m512 t;
            t = _mm512_set1_ps(r0[q]), c00 = _mm512_fmadd_ps(t, b0, c00), c01 = _mm512_fmadd_ps(t, b1, c01);
            t = _mm512_set1_ps(r1[q]), c10 = _mm512_fmadd_ps(t, b0, c10), c11 = _mm512_fmadd_ps(t, b1, c11);
            t = _mm512_set1_ps(r2[q]), c20 = _mm512_fmadd_ps(t, b0, c20), c21 = _mm512_fmadd_ps(t, b1, c21);
            t = _mm512_set1_ps(r3[q]), c30 = _mm512_fmadd_ps(t, b0, c30), c31 = _mm512_fmadd_ps(t, b1, c31);
            if (!half) { t = _mm512_set1_ps(r4[q]), c40 = _mm512_fmadd_ps(t, b0, c40), c41 = _mm512_fmadd_ps(t, b1, c41); }
            if (!half) { t = _mm512_set1_ps(r5[q]), c50 = _mm512_fmadd_ps(t, b0, c50), c51 = _mm512_fmadd_ps(t, b1, c51); }
            if (!half) { t = _mm512_set1_ps(r6[q]), c60 = _mm512_fmadd_ps(t, b0, c60), c61 = _mm512_fmadd_ps(t, b1, c61); }
            if (!half) { t = _mm512_set1_ps(r7[q]), c70 = _mm512_fmadd_ps(t, b0, c70), c71 = _mm512_fmadd_ps(t, b1, c71); }
            b += GEMM_NR;
        }
    const __m512 acc[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    const int64_t ldr = e ? e->ldr : 0;
    for (int i = 0; i < nd; i++) {
        const __mmask16 m0 = d[i].m0, m1 = d[i].m1;
#pragma GCC unroll 8 /* acc indexed by constants: the accumulators stay in registers */
        for (int r = 0; r < GEMM_MR; r++) {
            if (r == mr) break;
            float *cr = d[i].c + r * ldc;
            __m512 v0 = acc[r][0], v1 = acc[r][1];
            if (accumulate) {
                v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
                v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
            }
            if (e && e->bias) { /* bias + y: the bits of accumulating onto C filled with the bias */
                const __m512 bb = _mm512_set1_ps(e->bias[row0 + r]);
                v0 = _mm512_add_ps(bb, v0);
                v1 = _mm512_add_ps(bb, v1);
            }
            if (e && e->scale) { /* y * scale + shift, two operations as the batch norm computes them */
                const __m512 s = _mm512_set1_ps(e->scale[row0 + r]), h = _mm512_set1_ps(e->shift[row0 + r]);
                v0 = _mm512_add_ps(_mm512_mul_ps(v0, s), h);
                v1 = _mm512_add_ps(_mm512_mul_ps(v1, s), h);
            }
            if (d[i].res) { /* + the residual, as the add layer computes it */
                const float *res = d[i].res + r * ldr;
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
}

/* tile_8x32 with its width and row count (half: the first 4 rows only, for mr <= 4) as constants. */
static inline __attribute__((always_inline)) void tile_w(int64_t k, const float *a, int64_t rs, int64_t cs, const float *b, const tile_dst *d,
                                                         int nd, int64_t ldc, int mr, bool accumulate, const cnn_gemm_epilogue *e, int64_t row0,
                                                         int width) {
    if (width == 8 && mr <= 4)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 8, true);
    else if (width == 8)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 8, false);
    else if (width == 16 && mr <= 4)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 16, true);
    else if (width == 16)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 16, false);
    else if (width == 24 && mr <= 4)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 24, true);
    else if (width == 24)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 24, false);
    else if (mr <= 4)
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 32, true);
    else
        tile_8x32(k, a, rs, cs, b, d, nd, ldc, mr, accumulate, e, row0, 32, false);
}

/* One tile, A row-major or stored transposed (trans_a: rs 1; otherwise cs 1), the panel's first
 * width columns (32, 24, 16 or 8), mr rows: tile_w's eight cases (the strides stay variables: a
 * stride of 1 known to the compiler saves nothing in the loop). */
static void tile(bool trans_a, int width, int64_t k, const float *a, int64_t lda, const float *b, const tile_dst *d, int nd, int64_t ldc,
                 int mr, bool accumulate, const cnn_gemm_epilogue *e, int64_t row0) {
    tile_w(k, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, d, nd, ldc, mr, accumulate, e, row0, width);
}

/* Columns [lo, hi) of a tile (0 <= lo <= hi <= 32) as its two masks. */
static void column_masks(int64_t lo, int64_t hi, tile_dst *d) {
    const uint32_t bits = (uint32_t)((hi >= 32 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1));
    d->m0 = (__mmask16)(bits & 0xffff);
    d->m1 = (__mmask16)(bits >> 16);
}

/* The destinations of the tile at row ip * MR and column j (of cols columns) of the call. */
static int tile_dsts(float *c, int64_t ldc, const cnn_gemm_epilogue *e, int64_t ip, int64_t j, int64_t cols, tile_dst *d) {
    const int64_t row = ip * GEMM_MR, ldr = e ? e->ldr : 0;
    const float *res = e ? e->residual : NULL;
    if (!e || e->sample_cols == 0) {
        d[0].c = c + row * ldc + j;
        d[0].res = res ? res + row * ldr + j : NULL;
        column_masks(0, cols, &d[0]);
        return 1;
    }
    /* Samples side by side: column j is column p of sample s; the first q columns of the tile are
     * sample s's, the rest (when cols > q) sample s + 1's from its column 0 (sample_cols >= NR:
     * never a third). The second destination starts q columns before sample s + 1's row, inside
     * sample s's data, and its first q columns are masked off. */
    const int64_t at = e->col_first + j, s = at / e->sample_cols, p = at % e->sample_cols, q = e->sample_cols - p;
    d[0].c = c + s * e->sample_c + row * ldc + p;
    d[0].res = res ? res + s * e->sample_r + row * ldr + p : NULL;
    column_masks(0, q < cols ? q : cols, &d[0]);
    if (q >= cols) return 1;
    d[1].c = c + (s + 1) * e->sample_c + row * ldc - q;
    d[1].res = res ? res + (s + 1) * e->sample_r + row * ldr - q : NULL;
    column_masks(q, cols, &d[1]);
    return 2;
}

void cnn_gemm_packed_avx512(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bp, float *c,
                            int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e, int64_t first_tile, int64_t tile_step) {
    const int64_t panels_m = (m + GEMM_MR - 1) / GEMM_MR, panels_n = (n + GEMM_NR - 1) / GEMM_NR;
    /* When B's panels fit in L2 (K x N small), tile t is row panel t / panels_n and column panel
     * t % panels_n: each MR rows of A are read once, against B in cache. Otherwise the other way
     * round: each B panel stays in cache while the rows of A stream past it. */
    const bool rows_outer = k * panels_n * GEMM_NR * (int64_t)sizeof(float) <= cnn_gemm_b_cache_bytes();
    for (int64_t t = first_tile; t < panels_m * panels_n; t += tile_step) {
        const int64_t jp = rows_outer ? t % panels_n : t / panels_m, ip = rows_outer ? t / panels_n : t % panels_m;
        const int64_t cols = n - jp * GEMM_NR < GEMM_NR ? n - jp * GEMM_NR : GEMM_NR;
        const int rows = (int)(m - ip * GEMM_MR < GEMM_MR ? m - ip * GEMM_MR : GEMM_MR);
        tile_dst d[2];
        const int nd = tile_dsts(c, ldc, e, ip, jp * GEMM_NR, cols, d);
        /* an edge panel of at most 24, 16 or 8 columns (of the call: a tile across two samples has two
         * destinations and is never one) computes only those */
        const int width = nd == 1 && cols <= 8 ? 8 : nd == 1 && cols <= 16 ? 16 : nd == 1 && cols <= 24 ? 24 : 32;
        tile(trans_a, width, k, trans_a ? a + ip * GEMM_MR : a + ip * GEMM_MR * lda, lda, bp + jp * GEMM_NR * k, d, nd, ldc, rows, accumulate,
             e, ip * GEMM_MR);
    }
}

/* Panels [first, first + count) of B (k rows) given transposed, panel jp at bp + jp * GEMM_NR * ldp. */
static void pack_bt(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t ldp, int64_t first, int64_t count) {
    for (int64_t jp = first; jp < first + count; jp++) {
        const int64_t j0 = jp * GEMM_NR;
        float *panel = bp + j0 * ldp;
        for (int64_t p0 = 0; p0 < k; p0 += 16) {
            const int64_t np = k - p0 < 16 ? k - p0 : 16;
            const __mmask16 pmask = lanes(np);
            for (int h = 0; h < GEMM_NR / 16; h++) { /* panel columns [16h, 16h + 16): rows j0 + 16h + i of bt */
                const int64_t rows = n - j0 - 16 * h;
                __m512 v[16];
                for (int64_t i = 0; i < 16; i++)
                    v[i] = i < rows ? _mm512_maskz_loadu_ps(pmask, bt + (j0 + 16 * h + i) * ldbt + p0) : _mm512_setzero_ps();
                transpose16(v); /* v[q]: row p0 + q of the panel's 16 columns */
                for (int64_t q = 0; q < np; q++) _mm512_storeu_ps(panel + (p0 + q) * GEMM_NR + 16 * h, v[q]);
            }
        }
    }
}

void cnn_gemm_pack_bt(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t first, int64_t count) {
    pack_bt(k, n, bt, ldbt, bp, k, first, count);
}

void cnn_gemm_pack_bt_rows(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t ldp) {
    pack_bt(k, n, bt, ldbt, bp, ldp, 0, (n + GEMM_NR - 1) / GEMM_NR);
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

const bool cnn_gemm_avx512_compiled = false;

void cnn_gemm_pack_bt(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t first, int64_t count) {
    (void)k, (void)n, (void)bt, (void)ldbt, (void)bp, (void)first, (void)count;
}

void cnn_gemm_pack_bt_rows(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t ldp) {
    (void)k, (void)n, (void)bt, (void)ldbt, (void)bp, (void)ldp;
}

void cnn_gemm_packed_avx512(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bp, float *c,
                            int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e, int64_t first_tile, int64_t tile_step) {
    (void)trans_a, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)bp, (void)c, (void)ldc, (void)accumulate, (void)e, (void)first_tile, (void)tile_step;
}

#endif
