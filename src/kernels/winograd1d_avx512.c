/* winograd1d_avx512.c — the one-axis transforms of winograd.h: F(3, 7) for 1x7 and 7x1 kernels,
 * F(4, 3) for 1x3 and 3x1 ones, 16 channels to a vector. Built with -mavx512f -mfma (Makefile) like
 * sgemm_avx512.c and called only when cnn_gemm_avx512_available(). F(3, 7) interpolates at 0, +-1,
 * +-2, +-1/2, 1/4 and infinity (B^T's coefficients at most 5.3125), F(4, 3) at 0, +-1, +-2 and
 * infinity (winograd_tiles.h's transforms, F(4x4, 3x3)'s along one axis); they round to ~3e-6 and
 * ~0.5e-6 of the terms' magnitudes (test_kernels). Each transform is a fixed sequence of vector operations per tile: the
 * result does not depend on which thread computes which tile. */
#include "winograd.h"
#include "gemm.h"

#include <string.h>

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "winograd_tiles.h"

/* F(3, 7): the points 0, +-1, +-2, +-1/2 (F(6, 3)'s, which F(2, 7) took before) and 1/4 (the ninth
 * point: 1/4 rounded best in a float simulation of 2,000 sums of 192 terms, 3e-7 of the terms'
 * magnitudes at worst, against 4.6e-7 for 3 or -3 and 7e-7 for 1/3; F(2, 7) 0.9e-7). Derived exactly (A^T and G from the points, G's rows divided by the
 * products of the differences to the other points, B^T solved from the correlation's identity), then
 * rounded to floats: B^T and A^T are exact (dyadic), G is not. Applied as dense matrices, the zero
 * coefficients left out (the loops unrolled over the constant tables). */
static const float G37[9][7] = {
    {4.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {-0.296296299f, -0.296296299f, -0.296296299f, -0.296296299f, -0.296296299f, -0.296296299f, -0.296296299f},
    {0.177777782f, -0.177777782f, 0.177777782f, -0.177777782f, 0.177777782f, -0.177777782f, 0.177777782f},
    {0.00634920644f, 0.0126984129f, 0.0253968257f, 0.0507936515f, 0.101587303f, 0.203174606f, 0.406349212f},
    {-0.00493827183f, 0.00987654366f, -0.0197530873f, 0.0395061746f, -0.0790123492f, 0.158024698f, -0.316049397f},
    {2.84444451f, 1.42222226f, 0.711111128f, 0.355555564f, 0.177777782f, 0.088888891f, 0.0444444455f},
    {-0.948148131f, 0.474074066f, -0.237037033f, 0.118518516f, -0.0592592582f, 0.0296296291f, -0.0148148146f},
    {-5.77918863f, -1.44479716f, -0.36119929f, -0.0902998224f, -0.0225749556f, -0.0056437389f, -0.00141093472f},
    {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f},
};
static const float BT39[9][9] = {
    {0.25f, -1.0f, -1.3125f, 5.25f, 1.3125f, -5.25f, -0.25f, 1.0f, 0.0f},
    {0.0f, -0.25f, 0.75f, 2.0625f, -3.1875f, -4.5f, 0.75f, 1.0f, 0.0f},
    {0.0f, 0.25f, -1.25f, -0.0625f, 5.3125f, -4.0f, -1.25f, 1.0f, 0.0f},
    {0.0f, -0.125f, 0.4375f, 0.875f, -2.1875f, -1.75f, 1.75f, 1.0f, 0.0f},
    {0.0f, 0.125f, -0.5625f, -0.375f, 2.8125f, -0.75f, -2.25f, 1.0f, 0.0f},
    {0.0f, -0.5f, 1.0f, 4.625f, -1.25f, -5.125f, 0.25f, 1.0f, 0.0f},
    {0.0f, 0.5f, -3.0f, 3.375f, 3.75f, -4.875f, -0.75f, 1.0f, 0.0f},
    {0.0f, -1.0f, 0.0f, 5.25f, 0.0f, -5.25f, 0.0f, 1.0f, 0.0f},
    {0.0f, 0.25f, -1.0f, -1.3125f, 5.25f, 1.3125f, -5.25f, -0.25f, 1.0f},
};
static const float AT39[3][9] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.5f, -0.5f, 0.25f, 0.0f},
    {0.0f, 1.0f, 1.0f, 4.0f, 4.0f, 0.25f, 0.25f, 0.0625f, 1.0f},
};

/* out[i] = sum over j of m[i][j] * z[j] by multiply-adds in order of j, zero coefficients skipped. */
#define DENSE_APPLY(m, rows, cols, z, out)                                                  \
    do {                                                                                    \
        _Pragma("GCC unroll 9") for (int i_ = 0; i_ < (rows); i_++) {                       \
            __m512 s_ = _mm512_setzero_ps();                                                \
            _Pragma("GCC unroll 9") for (int j_ = 0; j_ < (cols); j_++) if ((m)[i_][j_] != 0.0f) \
                s_ = _mm512_fmadd_ps(_mm512_set1_ps((m)[i_][j_]), (z)[j_], s_);              \
            (out)[i_] = s_;                                                                 \
        }                                                                                   \
    } while (0)

static inline void g37_apply(const __m512 z[7], __m512 u[9]) { DENSE_APPLY(G37, 9, 7, z, u); }
static inline void bt9_apply(const __m512 d[9], __m512 t[9]) { DENSE_APPLY(BT39, 9, 9, d, t); }
static inline void at9_apply(const __m512 m[9], __m512 o[3]) { DENSE_APPLY(AT39, 3, 9, m, o); }

void cnn_winograd1d_weights(const cnn_wino1d_layout *l, const float *w, float *u, int64_t k_first, int64_t k_count) {
    const int64_t k = l->k, c = l->c, kp = cnn_gemm_round_nr(k), per_xi = c * kp;
    for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += 16) {
        float *panel = u + k0 / GEMM_NR * GEMM_NR * c + k0 % GEMM_NR;
        for (int64_t ci = 0; ci < c; ci++) {
            __m512 z[7], o[9];
            winograd_kernel_taps(w, k, c, k0, ci, l->taps, z);
            if (l->a == 9)
                g37_apply(z, o);
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

/* The input transform of tiles of side inputs (9: F(3, 7), 6: F(4, 3)); inlined into each caller. */
static inline __attribute__((always_inline)) void input_tiles(const cnn_wino1d_layout *l, const float *xp, int64_t first, int64_t count,
                                                              float *v, int64_t ldv, int side) {
    const int64_t c = l->c, per_xi = ldv * c, step = l->step * c;
    for (int64_t t = 0; t < count; t++) {
        const float *base = tile_base(l, xp, first + t);
        float *vt = v + t * c;
        for (int64_t c0 = 0; c0 < c; c0 += 16) {
            const __mmask16 mask = lanes(c - c0);
            __m512 d[9], o[9];
#pragma GCC unroll 9
            for (int i = 0; i < side; i++) d[i] = _mm512_maskz_loadu_ps(mask, base + i * step + c0);
            if (side == 9)
                bt9_apply(d, o);
            else
                bt_apply(d, o);
#pragma GCC unroll 9
            for (int xi = 0; xi < side; xi++) _mm512_mask_storeu_ps(vt + xi * per_xi + c0, mask, o[xi]);
        }
    }
}

void cnn_winograd1d_input(const cnn_wino1d_layout *l, const float *xp, int64_t first, int64_t count, float *v, int64_t ldv) {
    if (l->a == 9)
        input_tiles(l, xp, first, count, v, ldv, 9);
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
                __m512 z[9], o[4];
                if (l->a == 9) {
#pragma GCC unroll 9
                    for (int xi = 0; xi < 9; xi++) z[xi] = _mm512_maskz_loadu_ps(mask, mt + i * k + xi * per_xi + k0);
                    at9_apply(z, o);
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
