/* simd512.h — small AVX-512 helpers shared by the kernels built with -mavx512f (sgemm_avx512.c and
 * the Winograd files through winograd_tiles.h). Include only inside their AVX-512 sections. */
#ifndef CNN_KERNELS_SIMD512_H
#define CNN_KERNELS_SIMD512_H

#include <immintrin.h>
#include <stdint.h>

/* The first n lanes (none for n <= 0, all for n >= 16). */
static inline __mmask16 lanes(int64_t n) { return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1); }

/* r[i] lane j -> r[j] lane i: a 16x16 transpose in registers (inlined and unrolled: r, t, u and v
 * are registers, not arrays in memory). */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16], u[16], v[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        v[i] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0x88);
        v[i + 4] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0xDD);
        v[i + 8] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0x88);
        v[i + 12] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0xDD);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = _mm512_shuffle_f32x4(v[i], v[i + 8], 0x88), r[i + 8] = _mm512_shuffle_f32x4(v[i], v[i + 8], 0xDD);
}

#endif /* CNN_KERNELS_SIMD512_H */
