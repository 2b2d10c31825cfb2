/* winograd_avx512.c — the F(4x4, 3x3) and F(2x2, 5x5) transforms of winograd.h, 16 channels to a vector. Built with
 * -mavx512f -mfma (Makefile) like sgemm_avx512.c and called only when cnn_gemm_avx512_available().
 * Each transform is a fixed sequence of vector operations per tile: the result does not depend on
 * which thread computes which tile. */
#include "winograd.h"
#include "gemm.h"

#include <string.h>

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "winograd_tiles.h"


/* Row y of a sample's c planes (h x w, at x) and w positions of a channels-last row (cl: c floats
 * a position), 16 channels x 16 positions at a time through a transpose: the planes' row into cl
 * (to_planes false), or cl's positions added into the planes' row. Inlined into each caller. */
static inline __attribute__((always_inline)) void planes_row_blocks(float *x, int64_t c, int64_t h, int64_t w, int64_t y, float *cl,
                                                                    bool to_planes) {
    const int64_t plane = h * w;
    for (int64_t c0 = 0; c0 < c; c0 += 16) {
        const int64_t nc = c - c0 < 16 ? c - c0 : 16;
        const __mmask16 cmask = lanes(nc);
        for (int64_t s0 = 0; s0 < w; s0 += 16) {
            const int64_t ns = w - s0 < 16 ? w - s0 : 16;
            const __mmask16 smask = lanes(ns);
            __m512 v[16];
            if (to_planes) {
#pragma GCC unroll 16
                for (int s = 0; s < 16; s++) v[s] = s < ns ? _mm512_maskz_loadu_ps(cmask, cl + (s0 + s) * c + c0) : _mm512_setzero_ps();
                transpose16(v);
                for (int64_t j = 0; j < nc; j++) {
                    float *d = x + (c0 + j) * plane + y * w + s0;
                    _mm512_mask_storeu_ps(d, smask, _mm512_add_ps(_mm512_maskz_loadu_ps(smask, d), v[j]));
                }
                continue;
            }
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) v[j] = j < nc ? _mm512_maskz_loadu_ps(smask, x + (c0 + j) * plane + y * w + s0) : _mm512_setzero_ps();
            transpose16(v);
            float *dst = cl + s0 * c + c0;
#pragma GCC unroll 16
            for (int s = 0; s < 16; s++) {
                if (s == ns) break;
                _mm512_mask_storeu_ps(dst + s * c, cmask, v[s]);
            }
        }
    }
}

void cnn_winograd_pad_row(const float *x, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *xp, int64_t xp_w,
                          int64_t r) {
    float *row = xp + r * xp_w * c;
    const int64_t y = r - pad_top;
    if (y < 0 || y >= h) {
        memset(row, 0, (size_t)(xp_w * c) * sizeof(float));
        return;
    }
    /* zeros on each side: left pad_left positions, right xp_w - pad_left - w >= 0 */
    const int64_t right = xp_w - pad_left - w;
    memset(row, 0, (size_t)(pad_left * c) * sizeof(float));
    memset(row + (pad_left + w) * c, 0, (size_t)(right * c) * sizeof(float));
    planes_row_blocks((float *)x, c, h, w, y, row + pad_left * c, false);
}

void cnn_winograd_unpad_add_row(const float *xp, int64_t xp_w, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *x,
                                int64_t y) {
    planes_row_blocks(x, c, h, w, y, (float *)xp + ((y + pad_top) * xp_w + pad_left) * c, true);
}

/* U[xi] = (G g G^T)[xi] for kernels of r x r taps, G (6 x r) along one axis by gt (on r vectors of 16
 * output channels). Inlined into each caller with its constants. */
static inline __attribute__((always_inline)) void winograd_weights_taps(int64_t k, int64_t c, const float *w, float *u, int64_t k_first,
                                                                        int64_t k_count, int r, void (*gt)(const __m512 *z, __m512 *u)) {
    const int64_t kp = cnn_gemm_round_nr(k), per_xi = c * kp;
    for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += 16) {
        float *panel = u + k0 / GEMM_NR * GEMM_NR * c + k0 % GEMM_NR;
        for (int64_t ci = 0; ci < c; ci++) {
            __m512 g[25], t[6][5]; /* the taps; G g: column by column */
            winograd_kernel_taps(w, k, c, k0, ci, r * r, g);
            for (int col = 0; col < r; col++) {
                __m512 z[5], o[6];
                for (int q = 0; q < r; q++) z[q] = g[q * r + col];
                gt(z, o);
                for (int q = 0; q < 6; q++) t[q][col] = o[q];
            }
            for (int q = 0; q < 6; q++) { /* (G g) G^T: row by row */
                __m512 o[6];
                gt(t[q], o);
                for (int col = 0; col < 6; col++) _mm512_storeu_ps(panel + (q * 6 + col) * per_xi + ci * GEMM_NR, o[col]);
            }
        }
    }
}


/* h = (h ^ x) * M mod 2^64 per 64-bit lane (no AVX-512DQ: from 32-bit halves), then h ^= h >> 29. */
static inline __m512i stamp_step(__m512i h, __m512i x) {
    const __m512i ml = _mm512_set1_epi64(0x1ce4e5b9), mh = _mm512_set1_epi64(0xbf58476d), t = _mm512_xor_si512(h, x);
    const __m512i cross = _mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(t, 32), ml), _mm512_mul_epu32(t, mh));
    const __m512i r = _mm512_add_epi64(_mm512_mul_epu32(t, ml), _mm512_slli_epi64(cross, 32));
    return _mm512_xor_si512(r, _mm512_srli_epi64(r, 29));
}

void cnn_kernel_stamp(const float *w, int64_t n, uint64_t h[CNN_STAMP_LANES]) {
    uint64_t start[CNN_STAMP_LANES]; /* each chain from its own odd multiple of 2^64 / phi */
    for (int l = 0; l < CNN_STAMP_LANES; l++) start[l] = 0x9e3779b97f4a7c15ull * (uint64_t)(2 * l + 1);
    __m512i a = _mm512_loadu_si512(start), b = _mm512_loadu_si512(start + 8);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = stamp_step(a, _mm512_castps_si512(_mm512_loadu_ps(w + i)));
        b = stamp_step(b, _mm512_castps_si512(_mm512_loadu_ps(w + i + 16)));
    }
    if (i + 16 <= n) a = stamp_step(a, _mm512_castps_si512(_mm512_loadu_ps(w + i))), i += 16;
    if (i < n) b = stamp_step(b, _mm512_castps_si512(_mm512_maskz_loadu_ps(lanes(n - i), w + i)));
    _mm512_storeu_si512(h, a);
    _mm512_storeu_si512(h + 8, b);
}

/* ---- F(2x2, 5x5): bt_apply's B^T and g5_apply's G (winograd_tiles.h); A^T (2x6) for the same
 * points 0, 1, -1, 2, -2, inf ---- */

/* A^T (2x6) times z (6). */
static inline __attribute__((always_inline)) void at2_apply(const __m512 z[6], __m512 o[2]) {
    const __m512 p12 = _mm512_add_ps(z[1], z[2]), m12 = _mm512_sub_ps(z[1], z[2]);
    o[0] = _mm512_add_ps(_mm512_add_ps(z[0], p12), _mm512_add_ps(z[3], z[4]));
    o[1] = _mm512_add_ps(_mm512_add_ps(m12, _mm512_mul_ps(_mm512_sub_ps(z[3], z[4]), _mm512_set1_ps(2.0f))), z[5]);
}

void cnn_winograd_weights(int r, int64_t k, int64_t c, const float *w, float *u, int64_t k_first, int64_t k_count) {
    if (r == 5)
        winograd_weights_taps(k, c, w, u, k_first, k_count, 5, g5_apply);
    else
        winograd_weights_taps(k, c, w, u, k_first, k_count, 3, g_apply);
}

void cnn_winograd_input(int tm, const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *v,
                        int64_t ldv) {
    if (tm == WINO5_M)
        winograd_input_tiles(xp, xp_w, c, tiles_w, first, count, v, ldv, WINO5_M, WINO_A, bt_apply);
    else
        winograd_input_tiles(xp, xp_w, c, tiles_w, first, count, v, ldv, WINO_M, WINO_A, bt_apply);
}

/* One tile's tm x tm outputs for 16 channels from its M (mt: element xi at mt + xi * per_xi, lanes
 * from k0), through the epilogue (res: the residual's tm * tm vectors, or NULL): out[r * tm + col]. */
static inline __attribute__((always_inline)) void tile_values(const float *mt, int64_t per_xi, int64_t k0, __mmask16 mask, int tm,
                                                              void (*at)(const __m512 *z, __m512 *o), const winograd_epi *ep,
                                                              const __m512 *res, __m512 *out) {
    __m512 s[WINO_M][6]; /* A^T m: column by column (small loops unrolled: fewer vectors through the stack) */
#pragma GCC unroll 6
    for (int col = 0; col < 6; col++) {
        __m512 z[6], o[WINO_M];
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) z[r] = _mm512_maskz_loadu_ps(mask, mt + (r * 6 + col) * per_xi + k0);
        at(z, o);
#pragma GCC unroll 4
        for (int r = 0; r < tm; r++) s[r][col] = o[r];
    }
#pragma GCC unroll 4
    for (int r = 0; r < tm; r++) { /* (A^T m) A: row by row, then the epilogue */
        __m512 o[WINO_M];
        at(s[r], o);
#pragma GCC unroll 4
        for (int col = 0; col < tm; col++) out[r * tm + col] = winograd_epi_apply(ep, o[col], res ? &res[r * tm + col] : NULL);
    }
}

/* Four F(2x2, 5x5) output tiles along a row (their M rows from mt, k apart), no residual: their
 * outputs for 16 channels at a time through a 16x16 transpose, two rows of 8 stored per channel at
 * y (the first tile's top left in channel 0's plane). Not inlined: its copies of tile_values made
 * clang's -O1 sanitizer build of this file three times slower. */
static void four_tiles_2x2(const float *mt, int64_t k, int64_t per_xi, int64_t k_first, int64_t k_count, const cnn_gemm_epilogue *e,
                           float *y, int64_t plane, int64_t out_w) {
    /* lanes of 4 tiles' outputs (tile * 4 + r * 2 + col) taken as row 0 (8 floats), then row 1 */
    const __m512i by_rows = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += 16) {
        const int64_t n = k_first + k_count - k0 < 16 ? k_first + k_count - k0 : 16;
        const __mmask16 mask = lanes(n);
        const winograd_epi ep = winograd_epi_load(e, k0, mask);
        __m512 out[16];
        for (int q = 0; q < 4; q++) tile_values(mt + q * k, per_xi, k0, mask, WINO5_M, at2_apply, &ep, NULL, out + 4 * q);
        transpose16(out);
        for (int64_t j = 0; j < n; j++) {
            const __m512 v = _mm512_permutexvar_ps(by_rows, out[j]);
            float *yk = y + (k0 + j) * plane;
            _mm256_storeu_ps(yk, _mm512_castps512_ps256(v));
            _mm256_storeu_ps(yk + out_w, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        }
    }
}

/* cnn_winograd_output for output tiles of side tm (4: F(4x4, 3x3), A^T by at_apply; 2: F(2x2, 5x5),
 * by at2_apply), inlined into it once for each with its constants. */
static inline __attribute__((always_inline)) void output_tiles(const float *m, int64_t ldm, int64_t k, int64_t k_first, int64_t k_count,
                                                               int64_t tiles_w, int64_t first, int64_t count, const cnn_gemm_epilogue *e,
                                                               float *y, int64_t out_h, int64_t out_w, int tm,
                                                               void (*at)(const __m512 *z, __m512 *o)) {
    const int64_t per_xi = ldm * k, plane = out_h * out_w;
    const float *residual = e ? e->residual : NULL;
    for (int64_t t = 0; t < count;) {
        const int64_t tile = first + t, oy = tile / tiles_w * tm, ox = tile % tiles_w * tm;
        const int rows = (int)(out_h - oy < tm ? out_h - oy : tm), cols = (int)(out_w - ox < tm ? out_w - ox : tm);
        const float *mt = m + t * k;
        /* 2x2 tiles without a residual: four along a row, inside the plane, through a transpose (rows
         * of 8 per channel) instead of a scalar store per output and channel */
        if (tm == WINO5_M && !residual && t + 4 <= count && tile % tiles_w + 4 <= tiles_w && oy + 2 <= out_h && ox + 8 <= out_w) {
            four_tiles_2x2(mt, k, per_xi, k_first, k_count, e, y + oy * out_w + ox, plane, out_w);
            t += 4;
            continue;
        }
        for (int64_t k0 = k_first; k0 < k_first + k_count; k0 += 16) {
            const int64_t n = k_first + k_count - k0 < 16 ? k_first + k_count - k0 : 16;
            const __mmask16 mask = lanes(n);
            /* an inside 4x4 tile: rows of 4 in and out by vectors; otherwise through part, position-major */
            const bool full = tm == WINO_M && rows == WINO_M && cols == WINO_M;
            __m512 res[WINO_M * WINO_M];
            if (residual && full) { /* channel j's 4x4 residual as lane set j, then transposed to position-major */
                for (int64_t j = 0; j < 16; j++) {
                    const float *rk = residual + (k0 + (j < n ? j : 0)) * plane + oy * out_w + ox;
                    __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(rk));
                    v = _mm512_insertf32x4(v, _mm_loadu_ps(rk + out_w), 1);
                    v = _mm512_insertf32x4(v, _mm_loadu_ps(rk + 2 * out_w), 2);
                    res[j] = _mm512_insertf32x4(v, _mm_loadu_ps(rk + 3 * out_w), 3);
                }
                transpose16(res);
            } else if (residual) {
                float part[WINO_M * WINO_M][16] = {{0}};
                for (int64_t j = 0; j < n; j++) {
                    const float *rk = residual + (k0 + j) * plane + oy * out_w + ox;
                    for (int r = 0; r < rows; r++)
                        for (int col = 0; col < cols; col++) part[r * tm + col][j] = rk[r * out_w + col];
                }
                for (int q = 0; q < tm * tm; q++) res[q] = _mm512_loadu_ps(part[q]);
            }
            const winograd_epi ep = winograd_epi_load(e, k0, mask);
            __m512 out[WINO_M * WINO_M];
            tile_values(mt, per_xi, k0, mask, tm, at, &ep, residual ? res : NULL, out);
            if (full) { /* transposed: vector j holds channel k0 + j's tile, a row of 4 per 128 bits */
                transpose16(out);
                for (int64_t j = 0; j < n; j++) {
                    float *yk = y + (k0 + j) * plane + oy * out_w + ox;
                    _mm_storeu_ps(yk, _mm512_castps512_ps128(out[j]));
                    _mm_storeu_ps(yk + out_w, _mm512_extractf32x4_ps(out[j], 1));
                    _mm_storeu_ps(yk + 2 * out_w, _mm512_extractf32x4_ps(out[j], 2));
                    _mm_storeu_ps(yk + 3 * out_w, _mm512_extractf32x4_ps(out[j], 3));
                }
                continue;
            }
            float part[WINO_M * WINO_M][16];
            for (int q = 0; q < tm * tm; q++) _mm512_storeu_ps(part[q], out[q]);
            for (int64_t j = 0; j < n; j++) {
                float *yk = y + (k0 + j) * plane + oy * out_w + ox;
                for (int r = 0; r < rows; r++)
                    for (int col = 0; col < cols; col++) yk[r * out_w + col] = part[r * tm + col][j];
            }
        }
        t++;
    }
}

void cnn_winograd_output(int tm, const float *m, int64_t ldm, int64_t k, int64_t k_first, int64_t k_count, int64_t tiles_w, int64_t first,
                         int64_t count, const cnn_gemm_epilogue *e, float *y, int64_t out_h, int64_t out_w) {
    if (tm == WINO5_M)
        output_tiles(m, ldm, k, k_first, k_count, tiles_w, first, count, e, y, out_h, out_w, WINO5_M, at2_apply);
    else
        output_tiles(m, ldm, k, k_first, k_count, tiles_w, first, count, e, y, out_h, out_w, WINO_M, at_apply);
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_winograd_pad_row(const float *x, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *xp, int64_t xp_w,
                          int64_t r) {
    (void)x, (void)c, (void)h, (void)w, (void)pad_top, (void)pad_left, (void)xp, (void)xp_w, (void)r;
}

void cnn_winograd_unpad_add_row(const float *xp, int64_t xp_w, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *x,
                                int64_t y) {
    (void)xp, (void)xp_w, (void)c, (void)h, (void)w, (void)pad_top, (void)pad_left, (void)x, (void)y;
}

void cnn_winograd_weights(int r, int64_t k, int64_t c, const float *w, float *u, int64_t k_first, int64_t k_count) {
    (void)r, (void)k, (void)c, (void)w, (void)u, (void)k_first, (void)k_count;
}

void cnn_winograd_input(int tm, const float *xp, int64_t xp_w, int64_t c, int64_t tiles_w, int64_t first, int64_t count, float *v,
                        int64_t ldv) {
    (void)tm, (void)xp, (void)xp_w, (void)c, (void)tiles_w, (void)first, (void)count, (void)v, (void)ldv;
}

void cnn_winograd_output(int tm, const float *m, int64_t ldm, int64_t k, int64_t k_first, int64_t k_count, int64_t tiles_w, int64_t first,
                         int64_t count, const cnn_gemm_epilogue *e, float *y, int64_t out_h, int64_t out_w) {
    (void)tm, (void)m, (void)ldm, (void)k, (void)k_first, (void)k_count, (void)tiles_w, (void)first, (void)count, (void)e, (void)y,
        (void)out_h, (void)out_w;
}

void cnn_kernel_stamp(const float *w, int64_t n, uint64_t h[CNN_STAMP_LANES]) { (void)w, (void)n, (void)h; }

#endif
