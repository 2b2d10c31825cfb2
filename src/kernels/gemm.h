/* gemm.h — our own packed single-precision GEMM (sgemm_avx512.c, pack.c): C = A * B (+ C) from panels
 * packed once, with a batch-norm / ReLU epilogue applied as the tile is stored. Used where it is
 * available (AVX-512F); cnn_sgemm (OpenBLAS) otherwise. */
#ifndef CNN_KERNELS_GEMM_H
#define CNN_KERNELS_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#define GEMM_MR 8  /* rows of A per panel, of C per tile */
#define GEMM_NR 32 /* columns of B per panel, of C per tile */

/* Applied per row r of C (an output channel) as tiles are stored: y + bias[r] (when bias is not
 * NULL: the same bits as C holding the bias and accumulating), then y * scale[r] + shift[r] (when
 * scale is not NULL), then y + residual[r * ldr + j] for column j (when residual is not NULL: a
 * matrix laid out like C), then y <= 0 ? 0 : y (when relu).
 *
 * With sample_cols > 0 (at least GEMM_NR), C is several samples' matrices side by side: column j
 * of the call is column (col_first + j) % sample_cols of sample (col_first + j) / sample_cols, whose
 * C starts sample_c floats and whose residual sample_r floats after the previous sample's (ldc and
 * ldr are within a sample); the GEMM's C pointer is sample 0's. */
typedef struct cnn_gemm_epilogue {
    const float *bias;
    const float *scale, *shift;
    const float *residual;
    int64_t ldr;
    bool relu;
    int64_t sample_cols, sample_c, sample_r, col_first;
} cnn_gemm_epilogue;

/* The CPU has AVX-512F and FMA, and sgemm_avx512.c was compiled for them (cnn_gemm_avx512_compiled). */
bool cnn_gemm_avx512_available(void);
extern const bool cnn_gemm_avx512_compiled;

/* Packed B up to this many bytes is walked with A's rows outer (cnn_gemm_packed_avx512): 384 KB where
 * L2 is smaller than 2 MB (AMD Zen 4, 1 MB: measured there), 7/16 of L2 from 2 MB (an Intel Xeon's
 * 2 MB: 896 KB, which takes resnet50's 56x56 1x1 layers at batch 8, 802 KB of B: 13.5 -> 7.4 ms
 * each at 1 thread). The size as sysconf reports it, read once. */
int64_t cnn_gemm_b_cache_bytes(void);

/* The L2 cache's size in bytes as sysconf reports it (0 when it does not), read once. */
int64_t cnn_l2_bytes(void);

/* n columns rounded up to whole panels of GEMM_NR. */
static inline int64_t cnn_gemm_round_nr(int64_t n) { return (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR; }

/* Floats of B (k x n) packed: ceil(n / NR) panels of k * NR. */
static inline int64_t cnn_gemm_packed_b_size(int64_t k, int64_t n) { return cnn_gemm_round_nr(n) * k; }

/* B (k x n, row-major, ldb) into panels of NR columns, k-major, zero columns past n; the panels
 * [first, first + count) of them only, at their places in bp (the others are left as they are). */
void cnn_gemm_pack_b(int64_t k, int64_t n, const float *b, int64_t ldb, float *bp, int64_t first, int64_t count);

/* As cnn_gemm_pack_b, from B given transposed: bt (n x k, row-major, ldbt), element (p, j) of B at
 * bt[j * ldbt + p] (sgemm_avx512.c: 16x16 blocks through a register transpose). */
void cnn_gemm_pack_bt(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t first, int64_t count);

/* Rows of a B whose panels are ldp rows long (ldp >= k): every panel's rows [0, k) from bt as
 * cnn_gemm_pack_bt's, panel jp at bp + jp * GEMM_NR * ldp; bp pointing at row r0 of the first panel
 * packs rows [r0, r0 + k) (samples' column matrices stacked along k, one at a time). */
void cnn_gemm_pack_bt_rows(int64_t k, int64_t n, const float *bt, int64_t ldbt, float *bp, int64_t ldp);

/* B of samples side by side: columns j < samples * n, column j being column j % n of B_s (k x n,
 * row-major, ldb) at b + s * b_stride for s = j / n; panels as cnn_gemm_pack_b's, but panel
 * first at bp (the block of count panels only). */
void cnn_gemm_pack_b_samples(int64_t k, int64_t n, int64_t samples, const float *b, int64_t ldb, int64_t b_stride, float *bp, int64_t first,
                             int64_t count);

/* C (m x n, ldc) = A * Bp, or C += A * Bp (accumulate), A read in place (m x k row-major, lda; with
 * trans_a, A^T stored k x m: element (r, p) at a[p * lda + r]), then the epilogue (may be NULL); the
 * tiles first_tile, first_tile + tile_step, ... of the ceil(m/MR) * ceil(n/NR) (threads share them
 * out: every element is computed the same way whoever computes it). */
void cnn_gemm_packed_avx512(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bp, float *c,
                            int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e, int64_t first_tile, int64_t tile_step);

#endif /* CNN_KERNELS_GEMM_H */
