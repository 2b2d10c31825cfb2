/* pool_avx512.c — pool.h: training's 2x2 / stride-2 max pool with its argmax, and its gradient
 * stored whole, 16 outputs to a vector (narrow planes: several rows to a vector; LeNet-5's pool2,
 * cnn bench lenet5 --train --profile, 5 alternating: forward 0.121-0.153 -> 0.050-0.054 ms and
 * backward 0.099-0.136 -> 0.066-0.074 at 1 thread). Built with -mavx512f -mfma (Makefile) like sgemm_avx512.c and called only when
 * cnn_gemm_avx512_available(). */
#include "pool.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include "simd512.h"

#include <math.h>
#include <stdbool.h>

/* The running pick (best at flat index at) against the other column's (x at f), as ops/pool.c's
 * pick_column: a NaN with the larger index, else the larger value or, equal, the smaller index. */
static inline void pick(__m512 *best, __m512i *at, __m512 x, __m512i f) {
    const __mmask16 nan_x = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), nan_best = _mm512_cmp_ps_mask(*best, *best, _CMP_UNORD_Q);
    const __mmask16 later = _mm512_cmpgt_epi32_mask(f, *at), earlier = _mm512_cmplt_epi32_mask(f, *at);
    const __mmask16 larger = _mm512_cmp_ps_mask(x, *best, _CMP_GT_OQ), equal = _mm512_cmp_ps_mask(x, *best, _CMP_EQ_OQ);
    const __mmask16 take = (nan_x & (~nan_best | later)) | (~nan_x & ~nan_best & (larger | (equal & earlier)));
    *best = _mm512_mask_mov_ps(*best, take, x);
    *at = _mm512_mask_mov_epi32(*at, take, f);
}

/* Planes of w = 2 ow with ow 1, 2, 4 or 8 (LeNet-5's pool2: 8 x 8): 16 outputs are 16 / ow whole
 * rows, their windows 64 consecutive inputs. Groups of those rows, 16 outputs to a vector instead of
 * ow; 0 when the plane is not such or has fewer rows than a group. */
static inline int64_t narrow_groups(int64_t w, int64_t oh, int64_t ow, int *shift) {
    if (w != 2 * ow || (ow != 1 && ow != 2 && ow != 4 && ow != 8)) return 0;
    *shift = __builtin_ctzll((unsigned long long)ow);
    return oh * ow / 16;
}

/* Lane l of 16 = output o = l / 2 of 8 consecutive ones (group-relative, rows of 2^s) and column
 * l % 2 of its window: the offset of that column's top cell among the group's inputs. */
static inline __m512i narrow_top(int s) {
    const __m512i l = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), o = _mm512_srli_epi32(l, 1);
    const __m512i row = _mm512_sll_epi32(_mm512_srl_epi32(o, _mm_cvtsi32_si128(s)), _mm_cvtsi32_si128(s + 2));
    const __m512i col = _mm512_slli_epi32(_mm512_and_si512(o, _mm512_set1_epi32((1 << s) - 1)), 1);
    return _mm512_add_epi32(_mm512_add_epi32(row, col), _mm512_and_si512(l, _mm512_set1_epi32(1)));
}

void cnn_maxpool2x2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int s = 0;
    const int64_t groups = narrow_groups(w, oh, ow, &s);
    if (groups > 0) {
        const __m512i top = narrow_top(s), bottom = _mm512_add_epi32(top, _mm512_set1_epi32((int)w));
        for (int64_t q = 0; q < groups; q++) {
            /* the same picks as below: per column its two rows, then per output its two columns */
            __m512 v[2];
            __m512i vi[2];
            for (int h = 0; h < 2; h++) {
                const float *x = xp + 64 * q + 32 * h;
                const __m512 z0 = _mm512_loadu_ps(x), z1 = _mm512_loadu_ps(x + 16);
                const __m512 a = _mm512_permutex2var_ps(z0, top, z1), b = _mm512_permutex2var_ps(z0, bottom, z1);
                const __mmask16 take = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
                const __m512i first = _mm512_add_epi32(top, _mm512_set1_epi32((int)(64 * q + 32 * h)));
                v[h] = _mm512_mask_mov_ps(a, take, b);
                vi[h] = _mm512_mask_mov_epi32(first, take, _mm512_add_epi32(first, _mm512_set1_epi32((int)w)));
            }
            __m512 best = _mm512_permutex2var_ps(v[0], even, v[1]);
            __m512i at = _mm512_permutex2var_epi32(vi[0], even, vi[1]);
            pick(&best, &at, _mm512_permutex2var_ps(v[0], odd, v[1]), _mm512_permutex2var_epi32(vi[0], odd, vi[1]));
            _mm512_storeu_ps(yp + 16 * q, best);
            _mm512_storeu_epi32(ap + 16 * q, at);
        }
    }
    for (int64_t i = groups * (16 >> s); i < oh; i++) { /* the rows after the groups (16 / ow = 2^(4 - s) a group) */
        const float *x0 = xp + 2 * i * w, *x1 = x0 + w;
        for (int64_t j = 0; j < ow; j += 16) {
            const int64_t n = ow - j < 16 ? ow - j : 16; /* outputs, reading 2 n columns */
            const __mmask16 lo = lanes(2 * n), hi = lanes(2 * n - 16), out = lanes(n);
            /* per column the row-major pick between its two rows: the second row if larger or NaN */
            __m512 v[2];
            __m512i vi[2];
            for (int h = 0; h < 2; h++) {
                const __mmask16 m = h ? hi : lo;
                const int64_t q = 2 * j + 16 * h;
                const __m512 a = _mm512_maskz_loadu_ps(m, x0 + q), b = _mm512_maskz_loadu_ps(m, x1 + q);
                const __mmask16 take = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
                const __m512i first = _mm512_add_epi32(lane, _mm512_set1_epi32((int)(2 * i * w + q)));
                v[h] = _mm512_mask_mov_ps(a, take, b);
                vi[h] = _mm512_mask_mov_epi32(first, take, _mm512_add_epi32(first, _mm512_set1_epi32((int)w)));
            }
            /* then along the row: each output's left column against its right */
            __m512 best = _mm512_permutex2var_ps(v[0], even, v[1]);
            __m512i at = _mm512_permutex2var_epi32(vi[0], even, vi[1]);
            pick(&best, &at, _mm512_permutex2var_ps(v[0], odd, v[1]), _mm512_permutex2var_epi32(vi[0], odd, vi[1]));
            _mm512_mask_storeu_ps(yp + i * ow + j, out, best);
            _mm512_mask_storeu_epi32(ap + i * ow + j, out, at);
        }
    }
}

void cnn_maxpool2x2_grad_store(const float *dy, const int32_t *ap, int64_t h, int64_t w, int64_t oh, int64_t ow, float *dx) {
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int)w), down1 = _mm512_set1_epi32((int)w + 1);
    const __m512 zero = _mm512_setzero_ps();
    int s = 0;
    const int64_t groups = narrow_groups(w, oh, ow, &s);
    if (groups > 0) {
        /* output o's window's top left (group-relative), and where each input of a group takes its
         * value from: lane o + 16 * (column % 2) of the top (even rows) or bottom cells' pair */
        const __m512i l = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m128i sh = _mm_cvtsi32_si128(s), sh1 = _mm_cvtsi32_si128(s + 1), sh2 = _mm_cvtsi32_si128(s + 2);
        const __m512i low = _mm512_set1_epi32((1 << s) - 1);
        const __m512i corner = _mm512_add_epi32(_mm512_sll_epi32(_mm512_srl_epi32(l, sh), sh2), _mm512_slli_epi32(_mm512_and_si512(l, low), 1));
        __m512i from[4];
        __mmask16 bottom_row[4];
        for (int k = 0; k < 4; k++) {
            const __m512i f = _mm512_add_epi32(l, _mm512_set1_epi32(16 * k)), r = _mm512_srl_epi32(f, sh1);
            const __m512i c = _mm512_and_si512(f, _mm512_set1_epi32((int)w - 1));
            const __m512i o = _mm512_add_epi32(_mm512_sll_epi32(_mm512_srli_epi32(r, 1), sh), _mm512_srli_epi32(c, 1));
            from[k] = _mm512_add_epi32(o, _mm512_slli_epi32(_mm512_and_si512(c, _mm512_set1_epi32(1)), 4));
            bottom_row[k] = _mm512_test_epi32_mask(r, _mm512_set1_epi32(1));
        }
        for (int64_t q = 0; q < groups; q++) {
            const __m512 d = _mm512_loadu_ps(dy + 16 * q);
            const __m512i rel = _mm512_sub_epi32(_mm512_loadu_epi32(ap + 16 * q), _mm512_add_epi32(corner, _mm512_set1_epi32((int)(64 * q))));
            const __m512 e[4] = {_mm512_maskz_add_ps(_mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512()), zero, d),
                                 _mm512_maskz_add_ps(_mm512_cmpeq_epi32_mask(rel, one), zero, d),
                                 _mm512_maskz_add_ps(_mm512_cmpeq_epi32_mask(rel, down), zero, d),
                                 _mm512_maskz_add_ps(_mm512_cmpeq_epi32_mask(rel, down1), zero, d)};
            for (int k = 0; k < 4; k++)
                _mm512_storeu_ps(dx + 64 * q + 16 * k, _mm512_mask_blend_ps(bottom_row[k], _mm512_permutex2var_ps(e[0], from[k], e[1]),
                                                                             _mm512_permutex2var_ps(e[2], from[k], e[3])));
        }
    }
    for (int64_t i = groups * (16 >> s); i < oh; i++) {
        for (int64_t j = 0; j < ow; j += 16) {
            const int64_t n = ow - j < 16 ? ow - j : 16;
            const __mmask16 out = lanes(n), lo = lanes(2 * n), hi = lanes(2 * n - 16);
            const __m512 d = _mm512_maskz_loadu_ps(out, dy + i * ow + j);
            /* each output's pick relative to its window's top left: 0, 1, w or w + 1 */
            const __m512i rel = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(out, ap + i * ow + j),
                                                 _mm512_add_epi32(lane2, _mm512_set1_epi32((int)(2 * i * w + 2 * j))));
            /* 0 + dy where picked (as zeros then += would: -0 becomes +0), 0 elsewhere */
            const __m512 e[4] = {_mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512()), zero, d),
                                 _mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, one), zero, d),
                                 _mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, down), zero, d),
                                 _mm512_maskz_add_ps(out & _mm512_cmpeq_epi32_mask(rel, down1), zero, d)};
            for (int r = 0; r < 2; r++) {
                float *row = dx + (2 * i + r) * w + 2 * j;
                _mm512_mask_storeu_ps(row, lo, _mm512_permutex2var_ps(e[2 * r], lo_idx, e[2 * r + 1]));
                _mm512_mask_storeu_ps(row + 16, hi, _mm512_permutex2var_ps(e[2 * r], hi_idx, e[2 * r + 1]));
            }
        }
        for (int r = 0; r < 2; r++)
            for (int64_t x = 2 * ow; x < w; x++) dx[(2 * i + r) * w + x] = 0.0f;
    }
    for (int64_t x = 2 * oh * w; x < h * w; x++) dx[x] = 0.0f;
}

/* ops/pool.c's max_nan on vectors: v where v > best or v is NaN, else best. */
static inline __m512 max_nan16(__m512 best, __m512 v) {
    return _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

/* Lanes of b (high) : a (low) shifted down by s elements (a constant): alignr as floats. */
#define shift_in(b, a, s) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(a), s))

/* Rows of up to 16 (wide false) or 32 floats as two vectors each, lanes from w on -inf as the padding. */
static inline __attribute__((always_inline)) void maxpool3x3s1_rows(const float *xp, int64_t h, int64_t w, float *yp, const bool wide) {
    const __mmask16 m0 = lanes(w), m1 = lanes(w - 16);
    const __m512 lo = _mm512_set1_ps(-INFINITY);
    __m512 above0 = lo, above1 = lo, at0 = _mm512_mask_loadu_ps(lo, m0, xp), at1 = wide ? _mm512_mask_loadu_ps(lo, m1, xp + 16) : lo;
    for (int64_t i = 0; i < h; i++) {
        const float *next = xp + (i + 1) * w;
        const __m512 below0 = i + 1 < h ? _mm512_mask_loadu_ps(lo, m0, next) : lo;
        const __m512 below1 = wide && i + 1 < h ? _mm512_mask_loadu_ps(lo, m1, next + 16) : lo;
        /* the window's rows, in order, then its columns */
        const __m512 v0 = max_nan16(max_nan16(above0, at0), below0), v1 = wide ? max_nan16(max_nan16(above1, at1), below1) : lo;
        _mm512_mask_storeu_ps(yp + i * w, m0, max_nan16(max_nan16(shift_in(v0, lo, 15), v0), shift_in(v1, v0, 1)));
        if (wide) _mm512_mask_storeu_ps(yp + i * w + 16, m1, max_nan16(max_nan16(shift_in(v1, v0, 15), v1), shift_in(lo, v1, 1)));
        above0 = at0, at0 = below0, above1 = at1, at1 = below1;
    }
}

void cnn_maxpool3x3s1_plane(const float *xp, int64_t h, int64_t w, float *yp) {
    if (w <= 16)
        maxpool3x3s1_rows(xp, h, w, yp, false);
    else
        maxpool3x3s1_rows(xp, h, w, yp, true);
}

void cnn_maxpool3x3s2_plane(const float *xp, int64_t h, int64_t w, int64_t oh, int64_t ow, float *yp) {
    const __m512 lo = _mm512_set1_ps(-INFINITY);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1)), next = _mm512_add_epi32(even, _mm512_set1_epi32(2));
    for (int64_t i = 0; i < oh; i++) {
        const int64_t rows = h - 2 * i < 3 ? h - 2 * i : 3; /* the window's rows inside the plane (ceil mode: fewer) */
        const float *x0 = xp + 2 * i * w;
        for (int64_t j0 = 0; j0 < ow; j0 += 16) { /* outputs j0 .. j0 + 15: inputs 2 j0 .. 2 j0 + 32 */
            const int64_t c0 = 2 * j0;
            const __mmask16 m0 = lanes(w - c0), m1 = lanes(w - c0 - 16), m2 = lanes(w - c0 - 32) & 1;
            __m512 v0 = _mm512_mask_loadu_ps(lo, m0, x0 + c0), v1 = _mm512_mask_loadu_ps(lo, m1, x0 + c0 + 16);
            __m512 v2 = _mm512_mask_loadu_ps(lo, m2, x0 + c0 + 32);
            for (int64_t r = 1; r < rows; r++) { /* the window's rows, in order */
                const float *xr = x0 + r * w + c0;
                v0 = max_nan16(v0, _mm512_mask_loadu_ps(lo, m0, xr));
                v1 = max_nan16(v1, _mm512_mask_loadu_ps(lo, m1, xr + 16));
                v2 = max_nan16(v2, _mm512_mask_loadu_ps(lo, m2, xr + 32));
            }
            /* then its columns, in order: inputs 2j, 2j + 1, 2j + 2 (the last of output j0 + 15 from v2) */
            const __m512 a = _mm512_permutex2var_ps(v0, even, v1), b = _mm512_permutex2var_ps(v0, odd, v1);
            const __m512 c = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(v0, next, v1), 0x8000, _mm512_setzero_si512(), v2);
            _mm512_mask_storeu_ps(yp + i * ow + j0, lanes(ow - j0), max_nan16(max_nan16(a, b), c));
        }
    }
}

void cnn_maxpool3x3s2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_slli_epi32(iota, 1), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i next = _mm512_add_epi32(even, _mm512_set1_epi32(2));
    for (int64_t i = 0; i < oh; i++) {
        const int64_t r0 = 2 * i;
        for (int64_t j0 = 0; j0 < ow; j0 += 16) { /* outputs j0 .. j0 + 15: columns 2 j0 .. 2 j0 + 32 (those of the windows: all inside) */
            const int64_t c0 = 2 * j0, need = 2 * (ow - j0 < 16 ? ow - j0 : 16) + 1;
            const __mmask16 m0 = lanes(need), m1 = lanes(need - 16), m2 = lanes(need - 32);
            /* per column the window rows' pick (the row-major loop's within a column: strictly larger, or a NaN) */
            __m512 v[3];
            __m512i vr[3];
            for (int q = 0; q < 3; q++) {
                const __mmask16 m = q == 0 ? m0 : q == 1 ? m1 : m2;
                v[q] = _mm512_maskz_loadu_ps(m, xp + r0 * w + c0 + 16 * q);
                vr[q] = _mm512_add_epi32(iota, _mm512_set1_epi32((int32_t)(r0 * w + c0 + 16 * q)));
                for (int64_t t = 1; t < 3; t++) {
                    const __m512 x = _mm512_maskz_loadu_ps(m, xp + (r0 + t) * w + c0 + 16 * q);
                    const __mmask16 take = _mm512_cmp_ps_mask(x, v[q], _CMP_GT_OQ) | _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
                    v[q] = _mm512_mask_mov_ps(v[q], take, x);
                    vr[q] = _mm512_mask_mov_epi32(vr[q], take, _mm512_add_epi32(iota, _mm512_set1_epi32((int32_t)((r0 + t) * w + c0 + 16 * q))));
                }
            }
            /* then along the row: columns 2j, 2j + 1, 2j + 2 (the last of output j0 + 15 from the third vector) */
            __m512 best = _mm512_permutex2var_ps(v[0], even, v[1]);
            __m512i at = _mm512_permutex2var_epi32(vr[0], even, vr[1]);
            pick(&best, &at, _mm512_permutex2var_ps(v[0], odd, v[1]), _mm512_permutex2var_epi32(vr[0], odd, vr[1]));
            const __m512 c = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(v[0], next, v[1]), 0x8000, _mm512_setzero_si512(), v[2]);
            const __m512i cr = _mm512_mask_permutexvar_epi32(_mm512_permutex2var_epi32(vr[0], next, vr[1]), 0x8000, _mm512_setzero_si512(), vr[2]);
            pick(&best, &at, c, cr);
            const __mmask16 out = lanes(ow - j0);
            _mm512_mask_storeu_ps(yp + i * ow + j0, out, best);
            _mm512_mask_storeu_epi32(ap + i * ow + j0, out, at);
        }
    }
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_maxpool3x3s2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap) {
    (void)xp, (void)w, (void)oh, (void)ow, (void)yp, (void)ap;
}

void cnn_maxpool3x3s2_plane(const float *xp, int64_t h, int64_t w, int64_t oh, int64_t ow, float *yp) {
    (void)xp, (void)h, (void)w, (void)oh, (void)ow, (void)yp;
}

void cnn_maxpool3x3s1_plane(const float *xp, int64_t h, int64_t w, float *yp) { (void)xp, (void)h, (void)w, (void)yp; }

void cnn_maxpool2x2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap) {
    (void)xp, (void)w, (void)oh, (void)ow, (void)yp, (void)ap;
}

void cnn_maxpool2x2_grad_store(const float *dy, const int32_t *ap, int64_t h, int64_t w, int64_t oh, int64_t ow, float *dx) {
    (void)dy, (void)ap, (void)h, (void)w, (void)oh, (void)ow, (void)dx;
}

#endif
