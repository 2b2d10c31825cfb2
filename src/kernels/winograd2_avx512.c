/* winograd2_avx512.c — the F(2x2, 3x3) transforms of winograd.h for training plans: the forward,
 * the input gradient (the same convolution of dy with the kernel turned and its channels swapped)
 * and the weight gradient (the adjoint of the forward's products). Built with -mavx512f -mfma
 * (Makefile) like sgemm_avx512.c and called only when cnn_gemm_avx512_available(); the vector
 * transforms work on 16 channels at once. Each transform is a fixed sequence of operations per tile
 * and channel: the result does not depend on which thread computes which tile.
 *
 * F(2x2, 3x3): Y = A^T [(G g G^T) . (B^T d B)] A with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * Its coefficients are 0, +-1 and 1/2: it rounds like the direct product (F(4x4, 3x3) scales terms
 * by up to 25 and rounds ~10x worse, which training magnifies past PyTorch's own rounding). */
#include "winograd.h"
#include "gemm.h"

/* G^T z (z: 4 values at stride s) into o (3 values at stride os). */
static inline void gt2_apply(const float *z, int64_t s, float *o, int64_t os) {
    const float p = z[s] + z[2 * s];
    o[0] = z[0] + p * 0.5f;
    o[os] = (z[s] - z[2 * s]) * 0.5f;
    o[2 * os] = p * 0.5f + z[3 * s];
}

/* G^T z for F(2x2, 5x5) (G: g5_apply's, 6x5; z: 6 values at stride s) into o (5 values at stride os). */
static inline void gt5_apply(const float *z, int64_t s, float *o, int64_t os) {
    const float p = z[s] + z[2 * s], d = z[2 * s] - z[s], pp = z[3 * s] + z[4 * s], dd = z[3 * s] - z[4 * s];
    const float sixth = 1.0f / 6.0f, p6 = p * sixth, d6 = d * sixth;
    o[0] = z[0] * 0.25f - p6 + pp * (1.0f / 24.0f);
    o[os] = d6 + dd * (1.0f / 12.0f);
    o[2 * os] = pp * sixth - p6;
    o[3 * os] = d6 + dd * (1.0f / 3.0f);
    o[4 * os] = pp * (2.0f / 3.0f) - p6 + z[5 * s];
}

/* dw (K, C, r, r) += G^T dU G over a x a tiles (a = r + 1), gt: G^T along one axis. Inlined into each
 * caller with its constants. */
static inline __attribute__((always_inline)) void weights_grad(int64_t k, int64_t c, const float *du, float *dw, int64_t k_first,
                                                               int64_t k_count, int r, void (*gt)(const float *z, int64_t s, float *o, int64_t os)) {
    const int a = r + 1;
    for (int64_t ko = k_first; ko < k_first + k_count && ko < k; ko++)
        for (int64_t ci = 0; ci < c; ci++) {
            float z[36], t[30], g[25];
            for (int xi = 0; xi < a * a; xi++) z[xi] = du[(xi * c + ci) * k + ko];
            for (int col = 0; col < a; col++) gt(z + col, a, t + col, a); /* G^T dU: (r x a) */
            for (int q = 0; q < r; q++) gt(t + q * a, 1, g + q * r, 1);    /* (G^T dU) G: (r x r) */
            float *d = dw + (ko * c + ci) * r * r;
            for (int e = 0; e < r * r; e++) d[e] += g[e];
        }
}

void cnn_winograd2_weights_grad(int64_t k, int64_t c, const float *du, float *dw, int64_t k_first, int64_t k_count) {
    weights_grad(k, c, du, dw, k_first, k_count, 3, gt2_apply);
}

void cnn_winograd5_weights_grad(int64_t k, int64_t c, const float *du, float *dw, int64_t k_first, int64_t k_count) {
    weights_grad(k, c, du, dw, k_first, k_count, 5, gt5_apply);
}

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "winograd_tiles.h"

/* G z (z: 3 vectors) into u (4 vectors): the kernel transform along one axis, 16 kernels at once. */
static inline void g2v(const __m512 z[3], __m512 u[4]) {
    const __m512 half = _mm512_set1_ps(0.5f), even = _mm512_add_ps(z[0], z[2]);
    u[0] = z[0];
    u[1] = _mm512_mul_ps(_mm512_add_ps(even, z[1]), half);
    u[2] = _mm512_mul_ps(_mm512_sub_ps(even, z[1]), half);
    u[3] = z[2];
}

/* U[xi] = (G g G^T)[xi] for r x r kernels and a x a tiles (a = r + 1), gf: G along one axis; the
 * kernels turned by 180 degrees when turned. Inlined into each caller with its constants. */
static inline __attribute__((always_inline)) void weights_panels(int64_t k, int64_t c, const float *w, bool dx, bool turned, float *u,
                                                                 int64_t j_first, int64_t j_count, int64_t i_first, int64_t i_count, int r,
                                                                 void (*gf)(const __m512 *z, __m512 *u)) {
    const int a = r + 1, taps = r * r;
    const int64_t rows = dx ? k : c, cols = dx ? c : k, cols_p = cnn_gemm_round_nr(cols), per_xi = rows * cols_p;
    const int64_t j_end = j_first + j_count < cols_p ? j_first + j_count : cols_p;
    /* 16 columns j at once: kernel (i, j) at w + i * si + j * sj (+ e, or taps - 1 - e turned) */
    const int64_t si = dx ? c * taps : taps, sj = dx ? taps : c * taps;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i offsets = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sj));
    for (int64_t j0 = j_first; j0 < j_end; j0 += 16) {
        const __mmask16 mask = lanes(cols - j0);
        float *panel = u + j0 / GEMM_NR * rows * GEMM_NR + j0 % GEMM_NR;
        for (int64_t i = i_first; i < i_first + i_count && i < rows; i++) {
            const float *base = w + i * si + (j0 < cols ? j0 : 0) * sj;
            __m512 g[25];
            for (int e = 0; e < taps; e++)
                g[e] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, offsets, base + (turned ? taps - 1 - e : e), 4);
            __m512 t[6][5]; /* G g: column by column */
            for (int col = 0; col < r; col++) {
                __m512 z[5], o[6];
                for (int q = 0; q < r; q++) z[q] = g[q * r + col];
                gf(z, o);
                for (int q = 0; q < a; q++) t[q][col] = o[q];
            }
            for (int q = 0; q < a; q++) { /* (G g) G^T: row by row; zeros past cols */
                __m512 o[6];
                gf(t[q], o);
                for (int col = 0; col < a; col++) _mm512_storeu_ps(panel + (q * a + col) * per_xi + i * GEMM_NR, o[col]);
            }
        }
    }
}

void cnn_winograd2_weights(int64_t k, int64_t c, const float *w, bool dx, float *u, int64_t j_first, int64_t j_count, int64_t i_first,
                           int64_t i_count) {
    weights_panels(k, c, w, dx, dx, u, j_first, j_count, i_first, i_count, 3, g2v);
}

void cnn_winograd5_weights_t(int64_t k, int64_t c, const float *w, float *u, int64_t j_first, int64_t j_count, int64_t i_first, int64_t i_count) {
    weights_panels(k, c, w, true, false, u, j_first, j_count, i_first, i_count, 5, g5_apply);
}

/* B^T (4x4) times z (4): the input transform along one axis. */
static inline void bt2(const __m512 z[4], __m512 t[4]) {
    t[0] = _mm512_sub_ps(z[0], z[2]);
    t[1] = _mm512_add_ps(z[1], z[2]);
    t[2] = _mm512_sub_ps(z[2], z[1]);
    t[3] = _mm512_sub_ps(z[1], z[3]);
}

/* A^T (2x4) times z (4): the output transform along one axis. */
static inline void at2(const __m512 z[4], __m512 o[2]) {
    o[0] = _mm512_add_ps(_mm512_add_ps(z[0], z[1]), z[2]);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(z[1], z[2]), z[3]);
}

/* A (4x2) times z (2): the output gradient's transform along one axis. */
static inline void a2_4(__m512 z0, __m512 z1, __m512 o[4]) {
    o[0] = z0;
    o[1] = _mm512_add_ps(z0, z1);
    o[2] = _mm512_sub_ps(z0, z1);
    o[3] = _mm512_sub_ps(_mm512_setzero_ps(), z1);
}

void cnn_winograd2_input(const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *v,
                         int64_t ldv) {
    winograd_input_tiles(xp, xp_w, c, tiles_w, first, count, v, ldv, WINO2_M, WINO2_A, bt2);
}

/* One tile's 2x2 outputs for 16 channels from its M (mt: element xi at mt + xi * per_xi), plus the
 * bias when not NULL: out[r * 2 + col]. */
static inline void tile_out(const float *mt, int64_t per_xi, __mmask16 mask, const float *bias, __m512 b, __m512 out[4]) {
    __m512 s[2][4]; /* A^T m: column by column (loops unrolled: s, z, o in registers) */
#pragma GCC unroll 4
    for (int col = 0; col < 4; col++) {
        __m512 z[4], o[2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) z[r] = _mm512_maskz_loadu_ps(mask, mt + (r * 4 + col) * per_xi);
        at2(z, o);
        s[0][col] = o[0], s[1][col] = o[1];
    }
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++) { /* (A^T m) A: row by row */
        __m512 o[2];
        at2(s[r], o);
#pragma GCC unroll 2
        for (int col = 0; col < 2; col++) out[r * 2 + col] = bias ? _mm512_add_ps(o[col], b) : o[col];
    }
}

void cnn_winograd2_output(const float *m, int64_t ldm, int64_t k, int64_t tiles_w, int64_t first, int64_t count, const float *bias,
                          bool accumulate, float *y, int64_t out_h, int64_t out_w) {
    const int64_t per_xi = ldm * k, plane = out_h * out_w;
    /* lanes of 4 tiles' outputs (tile * 4 + r * 2 + col) taken as row 0 (8 floats), then row 1 */
    const __m512i by_rows = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    for (int64_t k0 = 0; k0 < k; k0 += 16) {
        const int64_t n = k - k0 < 16 ? k - k0 : 16;
        const __mmask16 mask = lanes(n);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + k0) : _mm512_setzero_ps();
        for (int64_t t = 0; t < count;) {
            const int64_t tile = first + t, oy = tile / tiles_w * WINO2_M, ox = tile % tiles_w * WINO2_M;
            if (t + 4 <= count && tile % tiles_w + 4 <= tiles_w && oy + 2 <= out_h && ox + 8 <= out_w) {
                /* four tiles along a row, inside the plane: through a transpose, rows of 8 per channel */
                __m512 out[16];
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) tile_out(m + (t + q) * k + k0, per_xi, mask, bias, b, out + 4 * q);
                transpose16(out);
                for (int64_t j = 0; j < n; j++) {
                    const __m512 v = _mm512_permutexvar_ps(by_rows, out[j]);
                    __m256 lo = _mm512_castps512_ps256(v), hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
                    float *yk = y + (k0 + j) * plane + oy * out_w + ox;
                    if (accumulate) lo = _mm256_add_ps(_mm256_loadu_ps(yk), lo), hi = _mm256_add_ps(_mm256_loadu_ps(yk + out_w), hi);
                    _mm256_storeu_ps(yk, lo);
                    _mm256_storeu_ps(yk + out_w, hi);
                }
                t += 4;
                continue;
            }
            const int rows = (int)(out_h - oy < WINO2_M ? out_h - oy : WINO2_M), cols = (int)(out_w - ox < WINO2_M ? out_w - ox : WINO2_M);
            __m512 out[4];
            tile_out(m + t * k + k0, per_xi, mask, bias, b, out);
            float part[4][16];
            for (int q = 0; q < 4; q++) _mm512_storeu_ps(part[q], out[q]);
            for (int64_t j = 0; j < n; j++) {
                float *yk = y + (k0 + j) * plane + oy * out_w + ox;
                for (int r = 0; r < rows; r++)
                    for (int col = 0; col < cols; col++) {
                        if (accumulate)
                            yk[r * out_w + col] += part[r * 2 + col][j];
                        else
                            yk[r * out_w + col] = part[r * 2 + col][j];
                    }
            }
            t++;
        }
    }
}

/* A (6x2) times (z0, z1): F(2x2, 5x5)'s output gradient transform along one axis. */
static inline void a6(__m512 z0, __m512 z1, __m512 o[6]) {
    const __m512 twice = _mm512_add_ps(z1, z1);
    o[0] = z0;
    o[1] = _mm512_add_ps(z0, z1);
    o[2] = _mm512_sub_ps(z0, z1);
    o[3] = _mm512_add_ps(z0, twice);
    o[4] = _mm512_sub_ps(z0, twice);
    o[5] = z1;
}

/* A dy A^T of 2x2 tiles into a x a (a: 4 or 6; af: A along one axis) as the GEMM's packed B (dm) and,
 * when tr is not NULL, row-major (tr[xi] of ldt rows of k). Inlined into each caller with its constants. */
static inline __attribute__((always_inline)) void output_grad_tiles(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first,
                                                                    int64_t count, float *dm, int64_t row0, int64_t ldk, float *tr, int64_t ldt,
                                                                    int a, void (*af)(__m512 z0, __m512 z1, __m512 *o)) {
    const int64_t kp = cnn_gemm_round_nr(k), per_xi = ldk * kp;
    for (int64_t t = 0; t < count; t++) {
        const int64_t tile = first + t, ty = tile / tiles_w, tx = tile % tiles_w;
        const float *base = dyp + (ty * WINO2_M * dyp_w + tx * WINO2_M) * k;
        for (int64_t k0 = 0; k0 < kp; k0 += 16) {
            const __mmask16 mask = lanes(k - k0);
            __m512 s[6][2]; /* A dy: column by column (loops unrolled: s and o in registers) */
#pragma GCC unroll 2
            for (int col = 0; col < 2; col++) {
                __m512 o[6];
                af(_mm512_maskz_loadu_ps(mask, base + col * k + k0), _mm512_maskz_loadu_ps(mask, base + (dyp_w + col) * k + k0), o);
#pragma GCC unroll 6
                for (int r = 0; r < a; r++) s[r][col] = o[r];
            }
            float *dst = dm + k0 / GEMM_NR * ldk * GEMM_NR + (row0 + t) * GEMM_NR + k0 % GEMM_NR;
#pragma GCC unroll 6
            for (int r = 0; r < a; r++) { /* (A dy) A^T: row by row, into B's panels (zeros past k) */
                __m512 o[6];
                af(s[r][0], s[r][1], o);
#pragma GCC unroll 6
                for (int col = 0; col < a; col++) {
                    _mm512_storeu_ps(dst + (r * a + col) * per_xi, o[col]);
                    if (tr && k0 < k) _mm512_mask_storeu_ps(tr + ((r * a + col) * ldt + t) * k + k0, mask, o[col]);
                }
            }
        }
    }
}

void cnn_winograd2_output_grad(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first, int64_t count, float *dm,
                               int64_t row0, int64_t ldk) {
    output_grad_tiles(dyp, dyp_w, k, tiles_w, first, count, dm, row0, ldk, NULL, 0, WINO2_A, a2_4);
}

void cnn_winograd5_output_grad(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first, int64_t count, float *dm,
                               int64_t row0, int64_t ldk, float *tr, int64_t ldt) {
    output_grad_tiles(dyp, dyp_w, k, tiles_w, first, count, dm, row0, ldk, tr, ldt, WINO_A, a6);
}

/* B (6x6, the transpose of bt_apply's B^T) times m (6): the adjoint of the input transform along one axis. */
static inline __attribute__((always_inline)) void b6(const __m512 m[6], __m512 o[6]) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f), zero = _mm512_setzero_ps();
    const __m512 p12 = _mm512_add_ps(m[1], m[2]), d21 = _mm512_sub_ps(m[2], m[1]), p34 = _mm512_add_ps(m[3], m[4]),
                 d43 = _mm512_sub_ps(m[4], m[3]);
    o[0] = _mm512_mul_ps(m[0], four);
    o[1] = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(d21, four), _mm512_mul_ps(d43, two)), _mm512_mul_ps(m[5], four));
    o[2] = _mm512_sub_ps(zero, _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(m[0], five), _mm512_mul_ps(p12, four)), p34));
    o[3] = _mm512_sub_ps(zero, _mm512_add_ps(_mm512_add_ps(d21, _mm512_mul_ps(d43, two)), _mm512_mul_ps(m[5], five)));
    o[4] = _mm512_add_ps(_mm512_add_ps(m[0], p12), p34);
    o[5] = m[5];
}

void cnn_winograd5_input_grad(const float *m, int64_t ldm, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *dxp,
                              int64_t dxp_w) {
    const int64_t per_xi = ldm * c;
    for (int64_t t = 0; t < count; t++) {
        const int64_t tile = first + t, ty = tile / tiles_w, tx = tile % tiles_w;
        float *base = dxp + (ty * WINO5_M * dxp_w + tx * WINO5_M) * c;
        const float *mt = m + t * c;
        for (int64_t c0 = 0; c0 < c; c0 += 16) {
            const __mmask16 mask = lanes(c - c0);
            __m512 s[6][6]; /* B m: column by column */
#pragma GCC unroll 6
            for (int col = 0; col < 6; col++) {
                __m512 z[6], o[6];
#pragma GCC unroll 6
                for (int r = 0; r < 6; r++) z[r] = _mm512_maskz_loadu_ps(mask, mt + (r * 6 + col) * per_xi + c0);
                b6(z, o);
#pragma GCC unroll 6
                for (int r = 0; r < 6; r++) s[r][col] = o[r];
            }
#pragma GCC unroll 6
            for (int r = 0; r < 6; r++) { /* (B m) B^T: row by row, added into the window */
                __m512 o[6];
                b6(s[r], o);
#pragma GCC unroll 6
                for (int col = 0; col < 6; col++) {
                    float *d = base + (r * dxp_w + col) * c + c0;
                    _mm512_mask_storeu_ps(d, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, d), o[col]));
                }
            }
        }
    }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_winograd2_weights(int64_t k, int64_t c, const float *w, bool dx, float *u, int64_t j_first, int64_t j_count, int64_t i_first,
                           int64_t i_count) {
    (void)k, (void)c, (void)w, (void)dx, (void)u, (void)j_first, (void)j_count, (void)i_first, (void)i_count;
}

void cnn_winograd2_input(const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *v,
                         int64_t ldv) {
    (void)xp, (void)xp_w, (void)c, (void)tiles_w, (void)first, (void)count, (void)v, (void)ldv;
}

void cnn_winograd2_output(const float *m, int64_t ldm, int64_t k, int64_t tiles_w, int64_t first, int64_t count, const float *bias,
                          bool accumulate, float *y, int64_t out_h, int64_t out_w) {
    (void)m, (void)ldm, (void)k, (void)tiles_w, (void)first, (void)count, (void)bias, (void)accumulate, (void)y, (void)out_h, (void)out_w;
}

void cnn_winograd2_output_grad(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first, int64_t count, float *dm,
                               int64_t row0, int64_t ldk) {
    (void)dyp, (void)dyp_w, (void)k, (void)tiles_w, (void)first, (void)count, (void)dm, (void)row0, (void)ldk;
}

void cnn_winograd5_weights_t(int64_t k, int64_t c, const float *w, float *u, int64_t j_first, int64_t j_count, int64_t i_first, int64_t i_count) {
    (void)k, (void)c, (void)w, (void)u, (void)j_first, (void)j_count, (void)i_first, (void)i_count;
}

void cnn_winograd5_output_grad(const float *dyp, int64_t dyp_w, int64_t k, int64_t tiles_w, int64_t first, int64_t count, float *dm,
                               int64_t row0, int64_t ldk, float *tr, int64_t ldt) {
    (void)dyp, (void)dyp_w, (void)k, (void)tiles_w, (void)first, (void)count, (void)dm, (void)row0, (void)ldk, (void)tr, (void)ldt;
}

void cnn_winograd5_input_grad(const float *m, int64_t ldm, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *dxp,
                              int64_t dxp_w) {
    (void)m, (void)ldm, (void)c, (void)tiles_w, (void)first, (void)count, (void)dxp, (void)dxp_w;
}

#endif
