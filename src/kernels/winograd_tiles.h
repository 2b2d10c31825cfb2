/* winograd_tiles.h — what the Winograd kernel files (winograd_avx512.c: F(4x4, 3x3);
 * winograd2_avx512.c: F(2x2, 3x3); winograd1d_avx512.c: F(4, 3) and F(3, 7) along one axis) share:
 * the input transform's loop over tiles and channels, given the tile size and a one-axis transform,
 * and F(4, 3)'s one-axis transforms. Include only inside their AVX-512 sections. */
#ifndef CNN_KERNELS_WINOGRAD_TILES_H
#define CNN_KERNELS_WINOGRAD_TILES_H

#include "gemm.h"
#include "simd512.h"

#include <stdint.h>

/* V[xi][t][0..c) = (B^T d B)[xi] for the tiles t = 0..count-1 of a block (tile first + t of a plane
 * of tiles_w per row): d the side x side window at xp[m * ty][m * tx] (m the output tile side; xp
 * rows of xp_w positions of c floats), bt B^T along one axis on side vectors of 16 channels. V[xi]
 * holds ldv rows. Inlined into each caller with its constants. */
static inline __attribute__((always_inline)) void winograd_input_tiles(const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w,
                                                                       int64_t first, int64_t count, float *v, int64_t ldv, int m,
                                                                       int side, void (*bt)(const __m512 *z, __m512 *t)) {
    const int64_t per_xi = ldv * c;
    for (int64_t t = 0; t < count; t++) {
        const int64_t tile = first + t, ty = tile / tiles_w, tx = tile % tiles_w;
        const float *base = xp + (ty * m * xp_w + tx * m) * c;
        float *vt = v + t * c;
        for (int64_t c0 = 0; c0 < c; c0 += 16) {
            const __mmask16 mask = lanes(c - c0);
            /* (fully unrolled, so that s, z and o live in registers rather than on the stack) */
            __m512 s[6][6]; /* B^T d: column by column (side <= 6) */
#pragma GCC unroll 6
            for (int col = 0; col < side; col++) {
                __m512 z[6], o[6];
#pragma GCC unroll 6
                for (int r = 0; r < side; r++) z[r] = _mm512_maskz_loadu_ps(mask, base + (r * xp_w + col) * c + c0);
                bt(z, o);
#pragma GCC unroll 6
                for (int r = 0; r < side; r++) s[r][col] = o[r];
            }
#pragma GCC unroll 6
            for (int r = 0; r < side; r++) { /* (B^T d) B: row by row */
                __m512 o[6];
                bt(s[r], o);
#pragma GCC unroll 6
                for (int col = 0; col < side; col++) _mm512_mask_storeu_ps(vt + (r * side + col) * per_xi + c0, mask, o[col]);
            }
        }
    }
}

/* The kernel transforms' loads: tap e (< taps <= 25) of the kernels w (K, C, taps) of output channels
 * k0 .. k0 + 15 from input channel ci as vector z[e], lane j output channel k0 + j (zero from k on). */
static inline void winograd_kernel_taps(const float *w, int64_t k, int64_t c, int64_t k0, int64_t ci, int taps, __m512 *z) {
    const int64_t n = k - k0 < 16 ? (k - k0 < 0 ? 0 : k - k0) : 16;
    float g[25][16] = {{0}};
    for (int64_t j = 0; j < n; j++)
        for (int e = 0; e < taps; e++) g[e][j] = w[((k0 + j) * c + ci) * taps + e];
    for (int e = 0; e < taps; e++) z[e] = _mm512_loadu_ps(g[e]);
}

/* F(4, 3) along one axis (points 0, +-1, +-2, inf): winograd_avx512.c applies each twice for F(4x4, 3x3),
 * winograd1d_avx512.c once for 1x3 and 3x1 kernels. */

/* G (6x3) times z (3): the kernel transform along one axis. */
static inline __attribute__((always_inline)) void g_apply(const __m512 z[3], __m512 u[6]) {
    const __m512 q = _mm512_set1_ps(0.25f), s = _mm512_set1_ps(1.0f / 6.0f), h = _mm512_set1_ps(1.0f / 12.0f),
                 w = _mm512_set1_ps(1.0f / 24.0f);
    const __m512 even = _mm512_add_ps(z[0], z[2]);
    u[0] = _mm512_mul_ps(z[0], q);
    u[1] = _mm512_mul_ps(_mm512_add_ps(even, z[1]), _mm512_set1_ps(-1.0f / 6.0f));
    u[2] = _mm512_mul_ps(_mm512_sub_ps(even, z[1]), _mm512_set1_ps(-1.0f / 6.0f));
    const __m512 a = _mm512_add_ps(_mm512_mul_ps(z[0], w), _mm512_mul_ps(z[2], s)), b = _mm512_mul_ps(z[1], h);
    u[3] = _mm512_add_ps(a, b);
    u[4] = _mm512_sub_ps(a, b);
    u[5] = z[2];
}

/* B^T (6x6) times z (6): the input transform along one axis. */
static inline __attribute__((always_inline)) void bt_apply(const __m512 z[6], __m512 t[6]) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    t[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(z[0], four), _mm512_mul_ps(z[2], five)), z[4]);
    const __m512 a = _mm512_sub_ps(z[4], _mm512_mul_ps(z[2], four)), b = _mm512_sub_ps(z[3], _mm512_mul_ps(z[1], four));
    t[1] = _mm512_add_ps(a, b);
    t[2] = _mm512_sub_ps(a, b);
    const __m512 c = _mm512_sub_ps(z[4], z[2]), d = _mm512_mul_ps(_mm512_sub_ps(z[3], z[1]), two);
    t[3] = _mm512_add_ps(c, d);
    t[4] = _mm512_sub_ps(c, d);
    t[5] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(z[1], four), _mm512_mul_ps(z[3], five)), z[5]);
}

/* A^T (4x6) times z (6): the output transform along one axis. */
static inline __attribute__((always_inline)) void at_apply(const __m512 z[6], __m512 o[4]) {
    const __m512 p12 = _mm512_add_ps(z[1], z[2]), m12 = _mm512_sub_ps(z[1], z[2]);
    const __m512 p34 = _mm512_add_ps(z[3], z[4]), m34 = _mm512_sub_ps(z[3], z[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(z[0], p12), p34);
    o[1] = _mm512_add_ps(m12, _mm512_mul_ps(m34, _mm512_set1_ps(2.0f)));
    o[2] = _mm512_add_ps(p12, _mm512_mul_ps(p34, _mm512_set1_ps(4.0f)));
    o[3] = _mm512_add_ps(_mm512_add_ps(m12, _mm512_mul_ps(m34, _mm512_set1_ps(8.0f))), z[5]);
}

/* F(2x2, 5x5) (points 0, +-1, +-2, inf: bt_apply's B^T): G (6x5), its rows scaled as g_apply's (1/4,
 * -1/6, -1/6, 1/24, 1/24, 1) to match that B^T. winograd_avx512.c for eval plans, winograd2_avx512.c
 * for training plans. */
/* G (6x5) times z (5): the kernel transform along one axis. */
static inline __attribute__((always_inline)) void g5_apply(const __m512 z[5], __m512 u[6]) {
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), w = _mm512_set1_ps(1.0f / 24.0f);
    const __m512 even = _mm512_add_ps(_mm512_add_ps(z[0], z[2]), z[4]), odd = _mm512_add_ps(z[1], z[3]);
    u[0] = _mm512_mul_ps(z[0], _mm512_set1_ps(0.25f));
    u[1] = _mm512_mul_ps(_mm512_add_ps(even, odd), _mm512_set1_ps(-1.0f / 6.0f));
    u[2] = _mm512_mul_ps(_mm512_sub_ps(even, odd), _mm512_set1_ps(-1.0f / 6.0f));
    /* z0 + 4 z2 + 16 z4 and 2 z1 + 8 z3, Horner's way */
    const __m512 e2 = _mm512_add_ps(z[0], _mm512_mul_ps(_mm512_add_ps(z[2], _mm512_mul_ps(z[4], four)), four));
    const __m512 o2 = _mm512_mul_ps(_mm512_add_ps(z[1], _mm512_mul_ps(z[3], four)), two);
    u[3] = _mm512_mul_ps(_mm512_add_ps(e2, o2), w);
    u[4] = _mm512_mul_ps(_mm512_sub_ps(e2, o2), w);
    u[5] = z[4];
}

/* gemm.h's epilogue for the output transforms, 16 output channels from k0 to a vector: their bias,
 * scale and shift loaded once (mask: the channels present), then applied to each output vector. */
typedef struct winograd_epi {
    __m512 b, sc, sh;
    bool bias, scale, relu;
} winograd_epi;

static inline __attribute__((always_inline)) winograd_epi winograd_epi_load(const cnn_gemm_epilogue *e, int64_t k0, __mmask16 mask) {
    winograd_epi p = {.b = _mm512_setzero_ps(), .bias = e && e->bias, .scale = e && e->scale, .relu = e && e->relu};
    if (p.bias) p.b = _mm512_maskz_loadu_ps(mask, e->bias + k0);
    p.sc = p.scale ? _mm512_maskz_loadu_ps(mask, e->scale + k0) : p.b, p.sh = p.scale ? _mm512_maskz_loadu_ps(mask, e->shift + k0) : p.b;
    return p;
}

/* v + bias, then * scale + shift, then + *res (res NULL: none), then ReLU (y <= 0 ? 0 : y, NaN kept). */
static inline __attribute__((always_inline)) __m512 winograd_epi_apply(const winograd_epi *p, __m512 v, const __m512 *res) {
    if (p->bias) v = _mm512_add_ps(v, p->b);
    if (p->scale) v = _mm512_add_ps(_mm512_mul_ps(v, p->sc), p->sh);
    if (res) v = _mm512_add_ps(v, *res);
    if (p->relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LE_OQ), _mm512_setzero_ps());
    return v;
}

#endif /* CNN_KERNELS_WINOGRAD_TILES_H */
