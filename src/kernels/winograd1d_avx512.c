/* winograd1d_avx512.c — the one-axis transforms of winograd.h: F(2, 7) for 1x7 and 7x1 kernels,
 * F(4, 3) for 1x3 and 3x1 ones, 16 channels to a vector. Built with -mavx512f -mfma (Makefile) like
 * sgemm_avx512.c and called only when cnn_gemm_avx512_available(). F(2, 7) interpolates at 0, +-1,
 * +-2, +-1/2 and infinity (F(6, 3)'s points: B^T's coefficients at most 5.25), F(4, 3) at 0, +-1, +-2
 * and infinity (winograd_tiles.h's transforms, F(4x4, 3x3)'s along one axis); both round to ~0.5e-6
 * of the terms' magnitudes. Each transform is a fixed sequence of vector operations per tile: the
 * result does not depend on which thread computes which tile. */
#include "winograd.h"
#include "gemm.h"

#include <string.h>

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "winograd_tiles.h"

/* G (8x7) times the 7 taps z: U's eight values. Rows: p^k / prod_{l != j} (p - p_l) for the finite
 * points p = 0, 1, -1, 2, -2, 1/2, -1/2 (row 0 with its sign moved to B^T's row 0), then the last tap. */
static inline void g7_apply(const __m512 z[7], __m512 u[8]) {
    const __m512 even = _mm512_add_ps(_mm512_add_ps(z[0], z[2]), _mm512_add_ps(z[4], z[6]));
    const __m512 odd = _mm512_add_ps(_mm512_add_ps(z[1], z[3]), z[5]);
    const __m512 e2 = _mm512_add_ps(_mm512_add_ps(z[0], _mm512_mul_ps(z[2], _mm512_set1_ps(4.0f))),
                                    _mm512_add_ps(_mm512_mul_ps(z[4], _mm512_set1_ps(16.0f)), _mm512_mul_ps(z[6], _mm512_set1_ps(64.0f))));
    const __m512 o2 = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(z[1], _mm512_set1_ps(2.0f)), _mm512_mul_ps(z[3], _mm512_set1_ps(8.0f))),
                                    _mm512_mul_ps(z[5], _mm512_set1_ps(32.0f)));
    const __m512 eh = _mm512_add_ps(_mm512_add_ps(z[0], _mm512_mul_ps(z[2], _mm512_set1_ps(0.25f))),
                                    _mm512_add_ps(_mm512_mul_ps(z[4], _mm512_set1_ps(0.0625f)), _mm512_mul_ps(z[6], _mm512_set1_ps(0.015625f))));
    const __m512 oh = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(z[1], _mm512_set1_ps(0.5f)), _mm512_mul_ps(z[3], _mm512_set1_ps(0.125f))),
                                    _mm512_mul_ps(z[5], _mm512_set1_ps(0.03125f)));
    const __m512 n29 = _mm512_set1_ps(-2.0f / 9.0f), s90 = _mm512_set1_ps(1.0f / 90.0f), s45 = _mm512_set1_ps(32.0f / 45.0f);
    u[0] = z[0];
    u[1] = _mm512_mul_ps(_mm512_add_ps(even, odd), n29);
    u[2] = _mm512_mul_ps(_mm512_sub_ps(even, odd), n29);
    u[3] = _mm512_mul_ps(_mm512_add_ps(e2, o2), s90);
    u[4] = _mm512_mul_ps(_mm512_sub_ps(e2, o2), s90);
    u[5] = _mm512_mul_ps(_mm512_add_ps(eh, oh), s45);
    u[6] = _mm512_mul_ps(_mm512_sub_ps(eh, oh), s45);
    u[7] = z[6];
}

/* B^T (8x8) times the 8 inputs d of a tile. */
static inline void bt8_apply(const __m512 d[8], __m512 t[8]) {
    const __m512 c525 = _mm512_set1_ps(5.25f), c425 = _mm512_set1_ps(4.25f), c25 = _mm512_set1_ps(2.5f), c125 = _mm512_set1_ps(1.25f);
    t[0] = _mm512_add_ps(_mm512_sub_ps(d[0], d[6]), _mm512_mul_ps(_mm512_sub_ps(d[4], d[2]), c525));
    t[7] = _mm512_add_ps(_mm512_sub_ps(d[7], d[1]), _mm512_mul_ps(_mm512_sub_ps(d[3], d[5]), c525));
    const __m512 a1 = _mm512_sub_ps(_mm512_add_ps(d[1], d[5]), _mm512_mul_ps(d[3], c425));
    const __m512 a2 = _mm512_sub_ps(_mm512_add_ps(d[2], d[6]), _mm512_mul_ps(d[4], c425));
    t[1] = _mm512_add_ps(a2, a1);
    t[2] = _mm512_sub_ps(a2, a1);
    const __m512 b1 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(d[1], _mm512_set1_ps(0.5f)), _mm512_mul_ps(d[3], c25)),
                                    _mm512_mul_ps(d[5], _mm512_set1_ps(2.0f)));
    const __m512 b2 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(d[2], _mm512_set1_ps(0.25f)), _mm512_mul_ps(d[4], c125)), d[6]);
    t[3] = _mm512_add_ps(b2, b1);
    t[4] = _mm512_sub_ps(b2, b1);
    const __m512 c1 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(d[1], _mm512_set1_ps(2.0f)), _mm512_mul_ps(d[3], c25)),
                                    _mm512_mul_ps(d[5], _mm512_set1_ps(0.5f)));
    const __m512 c2 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(d[2], _mm512_set1_ps(4.0f)), _mm512_mul_ps(d[4], _mm512_set1_ps(5.0f))), d[6]);
    t[5] = _mm512_add_ps(c2, c1);
    t[6] = _mm512_sub_ps(c2, c1);
}

/* A^T (2x8) times the 8 products m: a tile's two outputs. */
static inline void at8_apply(const __m512 m[8], __m512 o[2]) {
    const __m512 p1 = _mm512_add_ps(m[1], m[2]), p2 = _mm512_add_ps(m[3], m[4]), p3 = _mm512_add_ps(m[5], m[6]);
    const __m512 q1 = _mm512_sub_ps(m[1], m[2]), q2 = _mm512_sub_ps(m[3], m[4]), q3 = _mm512_sub_ps(m[5], m[6]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], p1), _mm512_add_ps(p2, p3));
    o[1] = _mm512_add_ps(_mm512_add_ps(q1, _mm512_mul_ps(q2, _mm512_set1_ps(2.0f))), _mm512_add_ps(_mm512_mul_ps(q3, _mm512_set1_ps(0.5f)), m[7]));
}

void cnn_winograd1d_weights(const cnn_wino1d_layout *l, const float *w, float *u, int64_t k_first, int64_t k_count) {
    const int64_t k = l->k, c = l->c, kp = cnn_gemm_round_nr(k), per_xi = c * kp;
    const int taps = l->taps;
    for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += 16) {
        const int64_t n = k - k0 < 16 ? (k - k0 < 0 ? 0 : k - k0) : 16;
        float *panel = u + k0 / GEMM_NR * GEMM_NR * c + k0 % GEMM_NR;
        for (int64_t ci = 0; ci < c; ci++) {
            float g[7][16] = {{0}};
            for (int64_t j = 0; j < n; j++)
                for (int e = 0; e < taps; e++) g[e][j] = w[((k0 + j) * c + ci) * taps + e];
            __m512 z[7], o[8];
            for (int e = 0; e < taps; e++) z[e] = _mm512_loadu_ps(g[e]);
            if (taps == 7)
                g7_apply(z, o);
            else
                g_apply(z, o);
            for (int xi = 0; xi < l->a; xi++) _mm512_storeu_ps(panel + xi * per_xi + ci * GEMM_NR, o[xi]);
        }
    }
}

/* The xp position (in floats) where tile t's inputs start. */
static inline const float *tile_base(const cnn_wino1d_layout *l, const float *xp, int64_t t) {
    return xp + (t / l->per_row * l->row_pitch + t % l->per_row * l->tile_pitch) * l->c;
}

/* The input transform of tiles of side inputs (8: F(2, 7), 6: F(4, 3)); inlined into each caller. */
static inline __attribute__((always_inline)) void input_tiles(const cnn_wino1d_layout *l, const float *xp, int64_t first, int64_t count,
                                                              float *v, int64_t ldv, int side) {
    const int64_t c = l->c, per_xi = ldv * c, step = l->step * c;
    for (int64_t t = 0; t < count; t++) {
        const float *base = tile_base(l, xp, first + t);
        float *vt = v + t * c;
        for (int64_t c0 = 0; c0 < c; c0 += 16) {
            const __mmask16 mask = lanes(c - c0);
            __m512 d[8], o[8];
#pragma GCC unroll 8
            for (int i = 0; i < side; i++) d[i] = _mm512_maskz_loadu_ps(mask, base + i * step + c0);
            if (side == 8)
                bt8_apply(d, o);
            else
                bt_apply(d, o);
#pragma GCC unroll 8
            for (int xi = 0; xi < side; xi++) _mm512_mask_storeu_ps(vt + xi * per_xi + c0, mask, o[xi]);
        }
    }
}

void cnn_winograd1d_input(const cnn_wino1d_layout *l, const float *xp, int64_t first, int64_t count, float *v, int64_t ldv) {
    if (l->a == 8)
        input_tiles(l, xp, first, count, v, ldv, 8);
    else
        input_tiles(l, xp, first, count, v, ldv, 6);
}

/* One row segment of outputs, position-major (out[p]: position p's 16 channels), through the epilogue
 * and stored as channels k0 .. k0 + nk - 1's runs of np positions at y + (k0 + j) * plane, at in each. */
static inline void store_segment(__m512 out[16], int np, int64_t nk, int64_t k0, int64_t at, const cnn_gemm_epilogue *e, float *y,
                                 int64_t plane) {
    const __mmask16 pmask = lanes(np);
    const winograd_epi ep = winograd_epi_load(e, k0, lanes(nk));
    const bool residual = e && e->residual;
    __m512 res[16];
    if (residual) { /* channel j's run as vector j, then transposed to position-major */
        for (int64_t j = 0; j < 16; j++) res[j] = j < nk ? _mm512_maskz_loadu_ps(pmask, e->residual + (k0 + j) * plane + at) : _mm512_setzero_ps();
        transpose16(res);
    }
#pragma GCC unroll 16
    for (int p = 0; p < 16; p++) out[p] = winograd_epi_apply(&ep, out[p], residual ? &res[p] : NULL);
    transpose16(out);
    for (int64_t j = 0; j < nk; j++) _mm512_mask_storeu_ps(y + (k0 + j) * plane + at, pmask, out[j]);
}

void cnn_winograd1d_output(const cnn_wino1d_layout *l, const float *m, int64_t ldm, int64_t first, int64_t count, int64_t k_first,
                           int64_t k_count, const cnn_gemm_epilogue *e, float *y) {
    const int64_t k = l->k, per_xi = ldm * k, plane = l->out_h * l->out_w, tm = l->m;
    /* tiles in runs along one row of tiles, up to 16 output positions at a time: 16 / m tiles side by
     * side (1xr), or 16 tiles giving m rows of 16 (rx1) */
    const int64_t chunk = l->vertical ? 16 : 16 / tm;
    for (int64_t t0 = first; t0 < first + count;) {
        const int64_t row = t0 / l->per_row, in_row = t0 % l->per_row;
        const int64_t left = l->per_row - in_row < first + count - t0 ? l->per_row - in_row : first + count - t0;
        const int64_t n = left < chunk ? left : chunk;
        const float *mt = m + (t0 - first) * k;
        /* the chunk's outputs: row oh (1xr) or rows oh .. oh + m - 1 (rx1), positions ow .. ow + np - 1 */
        const int64_t oh = l->vertical ? tm * row : row, ow = l->vertical ? in_row : tm * in_row;
        const int64_t last = l->vertical ? ow + n : tm * (in_row + n) < l->out_w ? tm * (in_row + n) : l->out_w;
        const int np = (int)(last - ow);
        for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += 16) {
            const int64_t nk = k_first + k_count - k0 < 16 ? k_first + k_count - k0 : 16;
            const __mmask16 mask = lanes(nk);
            __m512 seg[4][16]; /* seg[r]: output row oh + r (rx1), or seg[0] the row's 16 positions (1xr); zeros past the chunk */
#pragma GCC unroll 16
            for (int q = 0; q < 16; q++) seg[0][q] = seg[1][q] = seg[2][q] = seg[3][q] = _mm512_setzero_ps();
            for (int64_t i = 0; i < n; i++) {
                __m512 z[8], o[4];
                if (l->a == 8) {
#pragma GCC unroll 8
                    for (int xi = 0; xi < 8; xi++) z[xi] = _mm512_maskz_loadu_ps(mask, mt + i * k + xi * per_xi + k0);
                    at8_apply(z, o);
                } else {
#pragma GCC unroll 6
                    for (int xi = 0; xi < 6; xi++) z[xi] = _mm512_maskz_loadu_ps(mask, mt + i * k + xi * per_xi + k0);
                    at_apply(z, o);
                }
                for (int r = 0; r < tm; r++) {
                    if (l->vertical)
                        seg[r][i] = o[r];
                    else
                        seg[0][tm * i + r] = o[r];
                }
            }
            for (int r = 0; r < (l->vertical ? tm : 1); r++)
                if (oh + r < l->out_h) store_segment(seg[r], np, nk, k0, (oh + r) * l->out_w + ow, e, y, plane);
        }
        t0 += n;
    }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_winograd1d_weights(const cnn_wino1d_layout *l, const float *w, float *u, int64_t k_first, int64_t k_count) {
    (void)l, (void)w, (void)u, (void)k_first, (void)k_count;
}

void cnn_winograd1d_input(const cnn_wino1d_layout *l, const float *xp, int64_t first, int64_t count, float *v, int64_t ldv) {
    (void)l, (void)xp, (void)first, (void)count, (void)v, (void)ldv;
}

void cnn_winograd1d_output(const cnn_wino1d_layout *l, const float *m, int64_t ldm, int64_t first, int64_t count, int64_t k_first,
                           int64_t k_count, const cnn_gemm_epilogue *e, float *y) {
    (void)l, (void)m, (void)ldm, (void)first, (void)count, (void)k_first, (void)k_count, (void)e, (void)y;
}

#endif
