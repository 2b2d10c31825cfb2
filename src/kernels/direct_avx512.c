/* direct_avx512.c — direct.h: convolutions over one input plane, 16 output positions to a vector.
 * Built with -mavx512f -mfma (Makefile) like sgemm_avx512.c and called only when
 * cnn_gemm_avx512_available(). */
#include "direct.h"

void cnn_direct_table(const float *w, int64_t k, int taps, int kb, float *table) {
    const int64_t kp = (k + kb - 1) / kb * kb;
    for (int t = 0; t < taps; t++)
        for (int64_t o = 0; o < kp; o++) table[t * kp + o] = o < k ? w[o * taps + t] : 0.0f;
}

#if defined(__x86_64__) && defined(__AVX512F__)
#include "simd512.h"

/* A vector of output positions of a plane (ow a row): rows of at least 16 are taken 16 consecutive
 * positions at a time, a vector spanning at most two rows (LeNet-5's rows of 24: one vector whole
 * in a row, then the end of one and the start of the next, instead of a vector and a half-empty one
 * per row); shorter rows a row a vector. Lanes m0 have their windows' top left at xp + at0 + lane,
 * lanes m1 (none when 0) at xp + at1 + lane (xp's rows pw apart); the positions start at p0. */
typedef struct pos_vec {
    int64_t p0, count, at0, at1;
    __mmask16 m0, m1;
} pos_vec;

typedef struct pos_walk {
    int64_t oy, ox, p0, ow, pw, plane;
} pos_walk;

static inline pos_vec next_vec(pos_walk *w) {
    pos_vec v = {.p0 = w->p0, .at0 = w->oy * w->pw + w->ox, .m1 = 0};
    if (w->ow < 16) {
        v.count = w->ow, v.m0 = lanes(w->ow), v.at1 = v.at0;
        w->oy++, w->p0 += w->ow;
        return v;
    }
    v.count = w->plane - w->p0 < 16 ? w->plane - w->p0 : 16;
    const int64_t first = w->ow - w->ox < v.count ? w->ow - w->ox : v.count; /* lanes in the first row */
    v.m0 = lanes(first), v.m1 = (__mmask16)(lanes(v.count) & ~lanes(first));
    v.at1 = v.m1 ? (w->oy + 1) * w->pw - first : v.at0;
    w->ox += v.count, w->p0 += v.count;
    if (w->ox >= w->ow) w->ox -= w->ow, w->oy++;
    return v;
}

/* Tap (i, j)'s inputs of the vector's positions (base = xp + i * pw + j). */
static inline __m512 load_vec(const pos_vec *v, const float *base) {
    return _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(v->m0, base + v->at0), v->m1, base + v->at1);
}

/* cnn_direct_forward with KB channels a pass (inlined with its constant). */
static inline __attribute__((always_inline)) void forward_block(const float *xp, int64_t pw, const float *table, int64_t kp, const float *bias,
                                                                int64_t k_first, int64_t k_count, int kh, int kw, float *y, int64_t oh, int64_t ow,
                                                                const int KB) {
    const int64_t plane = oh * ow;
    pos_walk walk = {.ow = ow, .pw = pw, .plane = plane};
    while (walk.p0 < plane) {
        const pos_vec r = next_vec(&walk);
        const __mmask16 m = lanes(r.count);
        __m512 acc[10];
#pragma GCC unroll 10
        for (int q = 0; q < KB; q++) acc[q] = _mm512_setzero_ps();
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const __m512 v = load_vec(&r, xp + i * pw + j);
                const float *wt = table + (i * kw + j) * kp + k_first;
#pragma GCC unroll 10
                for (int q = 0; q < KB; q++) acc[q] = _mm512_fmadd_ps(v, _mm512_set1_ps(wt[q]), acc[q]);
            }
#pragma GCC unroll 10
        for (int q = 0; q < KB; q++) {
            if (q >= k_count) break;
            const __m512 out = bias ? _mm512_add_ps(acc[q], _mm512_set1_ps(bias[k_first + q])) : acc[q];
            _mm512_mask_storeu_ps(y + (k_first + q) * plane + r.p0, m, out);
        }
    }
}

void cnn_direct_forward(const float *xp, int64_t pw, const float *table, int64_t kp, int kb, const float *bias, int64_t k_first,
                        int64_t k_count, int kh, int kw, float *y, int64_t oh, int64_t ow) {
    if (kb == 10)
        forward_block(xp, pw, table, kp, bias, k_first, k_count, kh, kw, y, oh, ow, 10);
    else
        forward_block(xp, pw, table, kp, bias, k_first, k_count, kh, kw, y, oh, ow, 8);
}

/* The weight gradient of g output channels o0 .. o0 + g - 1 (g <= G; past g, channel o0 + g - 1
 * again, its sums dropped) for KH x KW kernels: a sample's planes (in L1) are passed over once per
 * kernel row i, with that row's G * KW sums in registers (kept between samples in keep) and its KW
 * shifted input vectors shared by the G channels (KW + G loads per G * KW multiply-adds, instead of
 * KW * KH + 1 loads per KW * KH for one channel with all its taps in registers). The positions go
 * in vectors as in the forward (next_vec: LeNet-5's rows of 24 in 1.5 vectors, not 2). Each
 * weight's sum runs over the samples and the vectors in order. Inlined with constant KH, KW and G,
 * loops fully unrolled. */
static inline __attribute__((always_inline)) void weight_grad_group(const float *xps, int64_t xp_stride, int64_t pw, const float *dy,
                                                                    int64_t dy_stride, int64_t batch, int64_t o0, int64_t g, int64_t oh, int64_t ow,
                                                                    float *dw, const int KH, const int KW, const int G) {
    const int64_t plane = oh * ow;
    __m512 keep[7][28]; /* [kernel row][channel * KW + j] */
    int64_t doff[8];
#pragma GCC unroll 8
    for (int q = 0; q < G; q++) doff[q] = (o0 + (q < g ? q : g - 1)) * plane;
    for (int i = 0; i < KH; i++)
#pragma GCC unroll 28
        for (int q = 0; q < G * KW; q++) keep[i][q] = _mm512_setzero_ps();
    for (int64_t b = 0; b < batch; b++) {
        const float *xb = xps + b * xp_stride, *db = dy + b * dy_stride;
        for (int i = 0; i < KH; i++) {
            __m512 acc[28];
#pragma GCC unroll 28
            for (int q = 0; q < G * KW; q++) acc[q] = keep[i][q];
            pos_walk walk = {.ow = ow, .pw = pw, .plane = plane};
            while (walk.p0 < plane) {
                const pos_vec r = next_vec(&walk);
                const __mmask16 m = lanes(r.count);
                __m512 xv[7];
#pragma GCC unroll 7
                for (int j = 0; j < KW; j++) xv[j] = load_vec(&r, xb + i * pw + j);
#pragma GCC unroll 8
                for (int q = 0; q < G; q++) {
                    const __m512 d = _mm512_maskz_loadu_ps(m, db + doff[q] + r.p0);
#pragma GCC unroll 7
                    for (int j = 0; j < KW; j++) acc[q * KW + j] = _mm512_fmadd_ps(xv[j], d, acc[q * KW + j]);
                }
            }
#pragma GCC unroll 28
            for (int q = 0; q < G * KW; q++) keep[i][q] = acc[q];
        }
    }
    for (int64_t q = 0; q < g; q++)
        for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++) dw[(o0 + q) * KH * KW + i * KW + j] += _mm512_reduce_add_ps(keep[i][q * KW + j]);
}

/* Other kernels: a tap at a time over the batch (its sum in one vector). */
static void weight_grad_tap(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t o,
                            int t, int kh, int kw, int64_t oh, int64_t ow, float *dw) {
    const int64_t plane = oh * ow, off = t / kw * pw + t % kw;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < batch; b++) {
        const float *xb = xps + b * xp_stride + off, *db = dy + b * dy_stride + o * plane;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox += 16) {
                const __mmask16 m = lanes(ow - ox);
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xb + oy * pw + ox), _mm512_maskz_loadu_ps(m, db + oy * ow + ox), acc);
            }
    }
    dw[o * kh * kw + t] += _mm512_reduce_add_ps(acc);
}

void cnn_direct_weight_grad(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t k_first,
                            int64_t k_count, int kh, int kw, int64_t oh, int64_t ow, float *dw) {
    /* 5x5: groups of 5 channels (25 sums, 5 input vectors and a gradient one: 31 registers); 3x3: of 8 */
    if (kh == 5 && kw == 5)
        for (int64_t o = k_first; o < k_first + k_count; o += 5)
            weight_grad_group(xps, xp_stride, pw, dy, dy_stride, batch, o, k_first + k_count - o < 5 ? k_first + k_count - o : 5, oh, ow, dw, 5, 5, 5);
    else if (kh == 3 && kw == 3)
        for (int64_t o = k_first; o < k_first + k_count; o += 8)
            weight_grad_group(xps, xp_stride, pw, dy, dy_stride, batch, o, k_first + k_count - o < 8 ? k_first + k_count - o : 8, oh, ow, dw, 3, 3, 8);
    else
        for (int64_t o = k_first; o < k_first + k_count; o++)
            for (int t = 0; t < kh * kw; t++) weight_grad_tap(xps, xp_stride, pw, dy, dy_stride, batch, o, t, kh, kw, oh, ow, dw);
}

#else /* not x86-64 with AVX-512 enabled for this file: never called (cnn_gemm_avx512_available is false) */

void cnn_direct_forward(const float *xp, int64_t pw, const float *table, int64_t kp, int kb, const float *bias, int64_t k_first,
                        int64_t k_count, int kh, int kw, float *y, int64_t oh, int64_t ow) {
    (void)xp, (void)pw, (void)table, (void)kp, (void)kb, (void)bias, (void)k_first, (void)k_count, (void)kh, (void)kw, (void)y, (void)oh, (void)ow;
}

void cnn_direct_weight_grad(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t k_first,
                            int64_t k_count, int kh, int kw, int64_t oh, int64_t ow, float *dw) {
    (void)xps, (void)xp_stride, (void)pw, (void)dy, (void)dy_stride, (void)batch, (void)k_first, (void)k_count, (void)kh, (void)kw, (void)oh,
        (void)ow, (void)dw;
}

#endif
