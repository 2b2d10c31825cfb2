/* winograd.h — the transforms of Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, 2015) for
 * 3x3 stride-1 convolutions: a 6x6 input tile d and a 3x3 kernel g give the 4x4 output tile
 * Y = A^T [(G g G^T) . (B^T d B)] A, the 36 element-wise products summed over input channels as 36
 * GEMMs (our packed GEMM, gemm.h). F(2x2, 5x5), for 5x5 kernels in eval plans, takes the same 6x6
 * tiles, B^T (points 0, +-1, +-2, inf) and layouts, its tiles 2 apart (WINO5_M), with its own G (6x5)
 * and A^T (2x6): 36 products per 2x2 output tile and channel pair instead of 100. Built with AVX-512F (winograd_avx512.c) and called only where
 * cnn_gemm_avx512_available(): every transform works on 16 channels at once.
 *
 * Layouts: the input in padded channels-last form xp[row][col][C]; per element xi of the 6x6 tile,
 * V[xi] (tiles x C, row-major) is the GEMM's A read in place, U[xi] (C x K) packed into GEMM_NR-column
 * panels is its B, and M[xi] (tiles x K) its C. */
#ifndef CNN_KERNELS_WINOGRAD_H
#define CNN_KERNELS_WINOGRAD_H

#include "gemm.h"

#include <stdbool.h>
#include <stdint.h>

#define WINO_M 4                  /* output tile side */
#define WINO5_M 2                 /* F(2x2, 5x5)'s */
#define WINO_A 6                  /* input tile side: WINO_M + 3 - 1 */
#define WINO_XI (WINO_A * WINO_A) /* elements of a tile: GEMMs per block */

/* Floats of U: WINO_XI packed (C x K) matrices of ceil(K / GEMM_NR) panels each; -1 on overflow. */
static inline int64_t cnn_winograd_weights_size(int64_t k, int64_t c) {
    const int64_t kp = cnn_gemm_round_nr(k);
    return c > 0 && kp > INT64_MAX / WINO_XI / c ? -1 : WINO_XI * c * kp;
}

/* Row r of a padded channels-last copy of one sample x (c planes of h x w): xp[r][s][ci] =
 * x[ci][r - pad_top][s - pad_left], zero outside x; rows of xp_w >= pad_left + w positions. */
void cnn_winograd_pad_row(const float *x, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *xp, int64_t xp_w,
                          int64_t r);

/* U[xi] = (G g G^T)[xi] for the kernels w (K, C, r, r; r 3 or 5) of output channels [k_first,
 * k_first + k_count) (k_first a multiple of GEMM_NR; columns past K are zeros). */
void cnn_winograd_weights(int r, int64_t k, int64_t c, const float *w, float *u, int64_t k_first, int64_t k_count);

/* V[xi][t][0..C) = (B^T d B)[xi] for the tiles t = 0..count-1 of a block: tile t is tile first + t
 * of a plane of tiles_w tiles per row, its 6x6 window at xp[tm * ty][tm * tx] (tm: WINO_M or
 * WINO5_M; xp: rows of xp_w positions of C floats). V[xi] holds ldv rows. */
void cnn_winograd_input(int tm, const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *v,
                        int64_t ldv);

/* Channels [k_first, k_first + k_count) (k_first a multiple of 16) of the tm x tm output tiles (tm:
 * WINO_M or WINO5_M) first .. first + count - 1 from M (M[xi] with ldm rows of K), each A^T m A,
 * then the epilogue e (may be NULL; gemm.h's bias, scale and shift, residual laid out as y, ReLU;
 * its ldr and sample fields are not used), stored into y (K planes of out_h x out_w, channel k at
 * y + k * out_h * out_w) where inside the plane. */
void cnn_winograd_output(int tm, const float *m, int64_t ldm, int64_t k, int64_t k_first, int64_t k_count, int64_t tiles_w, int64_t first,
                         int64_t count, const cnn_gemm_epilogue *e, float *y, int64_t out_h, int64_t out_w);

/* The stamp of n floats of kernels (the eval paths' change check, ops/conv_common.h): the state
 * h[0..CNN_STAMP_LANES) of as many hash chains, 64 bits each, the floats taken 16 at a time (8
 * 64-bit words: two chains by turns, 8 lanes each; the last vector's missing floats read as 0), each
 * step h = (h ^ word) * M, h ^= h >> 29: a bijection of h and of the word, so one changed word
 * always changes its chain's state. */
#define CNN_STAMP_LANES 16
void cnn_kernel_stamp(const float *w, int64_t n, uint64_t h[CNN_STAMP_LANES]);

/* ---- along one axis, for 1x7 / 7x1 kernels by F(3, 7) and 1x3 / 3x1 ones by F(4, 3), in eval plans
 * (winograd1d_avx512.c) ----
 * A tile of a inputs along the kernel's axis gives m outputs: F(3, 7) 9 products per 3 outputs
 * instead of 21, F(4, 3) 6 per 4 instead of 12. Layouts as above: xp channels-last, V[xi] (tiles x C),
 * U[xi] (C x K packed), M[xi] (tiles x K), xi < a. */
#define WINO1D_A_MAX 9

/* A convolution's tiles: taps 7 (m 3, a 9) or 3 (m 4, a 6); tile t is tile t % per_row of row
 * t / per_row of tiles, its inputs start at xp position (t / per_row) * row_pitch + (t % per_row) *
 * tile_pitch and are step positions apart (positions of c floats: xp[r][s] at r * xp_w + s). 1xr: a
 * row of tiles per output row, tiles m positions apart, step 1; rx1 (vertical): a row of tiles per m
 * output rows, a tile per column, step xp_w. Outputs: k planes of out_h x out_w. */
typedef struct cnn_wino1d_layout {
    int taps, m, a;
    int64_t c, k, per_row, row_pitch, tile_pitch, step, out_h, out_w;
    bool vertical;
} cnn_wino1d_layout;

/* Floats of U: a packed (C x K) matrices; -1 on overflow. */
static inline int64_t cnn_winograd1d_weights_size(const cnn_wino1d_layout *l) {
    const int64_t kp = cnn_gemm_round_nr(l->k);
    return l->c > 0 && kp > INT64_MAX / WINO1D_A_MAX / l->c ? -1 : l->a * l->c * kp;
}

/* U[xi] = (G g)[xi] for the kernels w (K, C, taps) of output channels [k_first, k_first + k_count)
 * (k_first a multiple of GEMM_NR; columns past K are zeros). */
void cnn_winograd1d_weights(const cnn_wino1d_layout *l, const float *w, float *u, int64_t k_first, int64_t k_count);

/* V[xi][t][0..C) = (B^T d)[xi] for the tiles first .. first + count - 1 (rows t - first of V[xi],
 * ldv rows each). */
void cnn_winograd1d_input(const cnn_wino1d_layout *l, const float *xp, int64_t first, int64_t count, float *v, int64_t ldv);

/* Channels [k_first, k_first + k_count) (k_first a multiple of 16) of the outputs of tiles first ..
 * first + count - 1 from M (M[xi] with ldm rows of K), A^T m, then the epilogue e (may be NULL; as
 * cnn_winograd_output's), stored into y where inside the planes. */
void cnn_winograd1d_output(const cnn_wino1d_layout *l, const float *m, int64_t ldm, int64_t first, int64_t count, int64_t k_first,
                           int64_t k_count, const cnn_gemm_epilogue *e, float *y);

/* ---- F(2x2, 3x3), for training plans (winograd2_avx512.c) ----
 * A 4x4 input tile gives a 2x2 output tile; its transforms' coefficients are 0, +-1 and 1/2, so it
 * rounds like the direct product. Layouts as above with 16 elements per tile; xp as above. */
#define WINO2_M 2                     /* output tile side */
#define WINO2_A 4                     /* input tile side */
#define WINO2_XI (WINO2_A * WINO2_A) /* GEMMs per block */

/* U[xi] (rows x cols packed into GEMM_NR-column panels, U[xi] at u + xi * rows * ceil(cols / NR) * NR)
 * = (G g G^T)[xi] for the columns [j_first, j_first + j_count) (j_first a multiple of GEMM_NR; columns
 * past cols are zeros) and the rows [i_first, i_first + i_count), from the kernels w (K, C, 3, 3). Forward (dx false): rows C, cols K, g of
 * (row i, column j) is w[j][i]. Input gradient (dx): rows K, cols C, g is w[i][j] turned by 180
 * degrees (the input gradient of a stride-1 convolution is that convolution of dy). */
void cnn_winograd2_weights(int64_t k, int64_t c, const float *w, bool dx, float *u, int64_t j_first, int64_t j_count, int64_t i_first,
                           int64_t i_count);

/* As cnn_winograd_input, for F(2x2, 3x3): tile t's 4x4 window at xp[2 * ty][2 * tx]. */
void cnn_winograd2_input(const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *v,
                         int64_t ldv);

/* Output tiles first .. first + count - 1 from M (M[xi] with ldm rows of k), each A^T m A, plus bias
 * (may be NULL), stored into y (k planes of out_h x out_w) where inside the plane, or added to it
 * (accumulate). */
void cnn_winograd2_output(const float *m, int64_t ldm, int64_t k, int64_t tiles_w, int64_t first, int64_t count, const float *bias,
                          bool accumulate, float *y, int64_t out_h, int64_t out_w);

/* The weight gradient's right-hand side: for the output tiles first .. first + count - 1 (tiles_w per
 * row), A dy A^T of each 2x2 tile of the output gradient, read from dyp (channels-last, rows of dyp_w
 * positions of k floats, the output's position (0, 0) at dyp[0][0], zeros past the plane), into
 * rows row0 .. row0 + count - 1 of dm as the GEMM's packed B per xi: dm[xi] (ldk rows of k, at
 * dm + xi * ldk * ceil(k / NR) * NR) in panels of GEMM_NR columns (panel p at p * ldk * NR), zeros
 * past k. */
void cnn_winograd2_output_grad(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first, int64_t count, float *dm,
                               int64_t row0, int64_t ldk);

/* dw (K, C, 3, 3) += G^T dU G for output channels [k_first, k_first + k_count), dU[xi] (C x K,
 * row-major) at du + xi * C * K: the kernel gradient from the gradient of U. */
void cnn_winograd2_weights_grad(int64_t k, int64_t c, const float *du, float *dw, int64_t k_first, int64_t k_count);

/* ---- F(2x2, 5x5), for training plans (winograd2_avx512.c) ----
 * The forward and the weight gradient's V as in eval plans (cnn_winograd_weights with r 5,
 * cnn_winograd_input and cnn_winograd_output with WINO5_M); 36 elements per tile. The input
 * gradient runs the forward's transposed algorithm, dx = sum over tiles of B [U^T (A dy A^T)] B^T,
 * each 6x6 window added where the forward read it (overlapping by 4): as many products as the
 * forward (a convolution of dy padded by 4 with the turned kernels would need 36 output tiles on
 * LeNet-5's 12x12 input gradient where the forward has 16). */

/* U^T[xi] (rows K, cols C, packed as cnn_winograd2_weights' input-gradient matrices) = (G g G^T)[xi]
 * of the kernels w (K, C, 5, 5) as they are (not turned), for the columns [j_first, j_first + j_count)
 * and the rows [i_first, i_first + i_count). */
void cnn_winograd5_weights_t(int64_t k, int64_t c, const float *w, float *u, int64_t j_first, int64_t j_count, int64_t i_first, int64_t i_count);

/* As cnn_winograd2_output_grad with 6x6 A dy A^T (A: 6x2), and when tr is not NULL the same values
 * row-major: tr[xi] of ldt rows of k (tile t in row t), for the input gradient's products. */
void cnn_winograd5_output_grad(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first, int64_t count, float *dm,
                               int64_t row0, int64_t ldk, float *tr, int64_t ldt);

/* For the output tiles first .. first + count - 1 (tiles_w per row): B m B^T of each (M[xi] with ldm
 * rows of c, tile t in row t) added into its 6x6 window of dxp (channels-last, rows of dxp_w positions
 * of c floats, laid out as the forward's padded input: the window of tile (ty, tx) at dxp[2 ty][2 tx]),
 * tiles in order. */
void cnn_winograd5_input_grad(const float *m, int64_t ldm, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *dxp,
                              int64_t dxp_w);

/* dw (K, C, 5, 5) += G^T dU G for output channels [k_first, k_first + k_count), dU[xi] (C x K,
 * row-major) at du + xi * C * K. */
void cnn_winograd5_weights_grad(int64_t k, int64_t c, const float *du, float *dw, int64_t k_first, int64_t k_count);

/* The adjoint of cnn_winograd_pad_row for row y of x: x[ci][y][s] += xp[y + pad_top][s + pad_left][ci]
 * for every channel and s < w. */
void cnn_winograd_unpad_add_row(const float *xp, int64_t xp_w, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *x,
                                int64_t y);

#endif /* CNN_KERNELS_WINOGRAD_H */
