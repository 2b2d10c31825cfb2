/* winograd_tiles.h — what the two Winograd kernel files (winograd_avx512.c: F(4x4, 3x3);
 * winograd2_avx512.c: F(2x2, 3x3)) share: the input transform's loop over tiles and channels, the
 * tile size and the one-axis transform given by each. Include only inside their AVX-512 sections. */
#ifndef CNN_KERNELS_WINOGRAD_TILES_H
#define CNN_KERNELS_WINOGRAD_TILES_H

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

#endif /* CNN_KERNELS_WINOGRAD_TILES_H */
