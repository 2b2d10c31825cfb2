/* gemm.c — row-major single-precision matrix products through OpenBLAS, split into fixed tiles.
 *
 * Why tiles: OpenBLAS (0.3.21, Zen kernels) splits a product by its own thread count, and a
 * different split changes the order of additions in its edge kernels, so a product on 2 threads
 * differs in the last bits from the same product on 1. Here OpenBLAS always runs on one thread
 * (set at load, core/threads.c),
 * C is cut into tiles that depend on the shape alone, and OpenMP shares the tiles out: the same
 * bits for any thread count. */
#include "../core/internal.h"
#include "gemm.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Below this many multiply-adds a product runs on one thread: waking others costs more. */
#define GEMM_PARALLEL_MIN_MACS 65536

static void blas_tile(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (blasint)m,
                (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

void cnn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    /* Tiles of up to 128 x 512; smaller (down to 16 x 64) until there are 8 tiles to share out. */
    int64_t tile_m = m < 128 ? m : 128, tile_n = n < 512 ? n : 512;
    while (((m + tile_m - 1) / tile_m) * ((n + tile_n - 1) / tile_n) < 8) {
        if (tile_n >= 128) tile_n = (tile_n + 1) / 2;
        else if (tile_m >= 32) tile_m = (tile_m + 1) / 2;
        else break;
    }
    const int64_t tiles_n = (n + tile_n - 1) / tile_n, tiles = (m + tile_m - 1) / tile_m * tiles_n;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (tiles < threads) threads = (int)tiles;
    if ((double)m * (double)n * (double)k < GEMM_PARALLEL_MIN_MACS) threads = 1;
    /* C[i0.., j0..] of size mt x nt: rows of op(A) from i0, columns of op(B) from j0. */
#pragma omp parallel for schedule(dynamic) num_threads(threads)
    for (int64_t t = 0; t < tiles; t++) {
        const int64_t i0 = t / tiles_n * tile_m, j0 = t % tiles_n * tile_n;
        const int64_t mt = m - i0 < tile_m ? m - i0 : tile_m, nt = n - j0 < tile_n ? n - j0 : tile_n;
        blas_tile(trans_a, trans_b, mt, nt, k, alpha, trans_a ? a + i0 : a + i0 * lda, lda, trans_b ? b + j0 * ldb : b + j0,
                  ldb, beta, c + i0 * ldc + j0, ldc);
    }
}

/* ---- our own packed GEMM (gemm.h) ---- */

/* Compiled here, for baseline x86-64: sgemm_avx512.c may use AVX-512 anywhere. */
bool cnn_gemm_avx512_available(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return cnn_gemm_avx512_compiled && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool cnn_gemm_fast(void) {
    static int fast = -1; /* decided once; a race writes the same value */
    if (fast < 0) {
        const char *env = getenv("CNN_GEMM");
        fast = cnn_gemm_avx512_available() && !(env && strcmp(env, "blas") == 0);
    }
    return fast == 1;
}

int64_t cnn_l2_bytes(void) {
    static int64_t bytes = -1; /* decided once; a race writes the same value */
    if (bytes < 0) {
        const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        bytes = l2 > 0 ? (int64_t)l2 : 0;
    }
    return bytes;
}

int64_t cnn_gemm_b_cache_bytes(void) {
    const int64_t l2 = cnn_l2_bytes();
    return l2 >= 2 * 1024 * 1024 ? l2 / 16 * 7 : 384 * 1024;
}

int64_t cnn_sgemm_fast_scratch(int64_t k, int64_t n) { return cnn_gemm_packed_b_size(k, n) + 16; }

/* Panels [first, first + count) of B (k x n), or of B given transposed (trans_b: n x k, ldb). */
static void pack(bool trans_b, int64_t k, int64_t n, const float *b, int64_t ldb, float *bp, int64_t first, int64_t count) {
    if (trans_b)
        cnn_gemm_pack_bt(k, n, b, ldb, bp, first, count);
    else
        cnn_gemm_pack_b(k, n, b, ldb, bp, first, count);
}

static void sgemm_fast(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float *scratch, float *c, int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e) {
    if (m <= 0 || n <= 0) return;
    float *bp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const int64_t panels_n = (n + GEMM_NR - 1) / GEMM_NR, tiles = (m + GEMM_MR - 1) / GEMM_MR * panels_n;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((double)m * (double)n * (double)k < GEMM_PARALLEL_MIN_MACS) threads = 1;
    if (tiles < threads) threads = (int)tiles;
    if (threads > 1 && panels_n >= 2 * threads) {
        /* Wide B: each thread packs a run of B's panels and computes those columns of C alone (no
         * barrier, and no panel packed by one core and read by another). From 2 panels a thread
         * (googlenet's 14x14 layers at batch 1: 7 panels, split 4 + 3, were 4 + 3 packed, then
         * shared tile by tile: 2 threads 18.0 -> 16.2 ms a forward; at 4 panels a thread before). */
#pragma omp parallel num_threads(threads)
        {
            const int t = omp_get_thread_num(), nt = omp_get_num_threads();
            const int64_t first = panels_n * t / nt, last = panels_n * (t + 1) / nt, j0 = first * GEMM_NR;
            const int64_t cols = (last * GEMM_NR < n ? last * GEMM_NR : n) - j0;
            cnn_gemm_epilogue et = {0};
            if (e) et = *e;
            if (et.residual) et.residual += j0;
            pack(trans_b, k, n, b, ldb, bp, first, last - first);
            cnn_gemm_packed_avx512(trans_a, m, cols, k, a, lda, bp + j0 * k, c + j0, ldc, accumulate, e ? &et : NULL, 0, 1);
        }
        return;
    }
    /* Each thread packs its share of B's panels, then they share out the tiles. */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t first = panels_n * t / nt, last = panels_n * (t + 1) / nt;
        pack(trans_b, k, n, b, ldb, bp, first, last - first);
#pragma omp barrier
        cnn_gemm_packed_avx512(trans_a, m, n, k, a, lda, bp, c, ldc, accumulate, e, t, nt);
    }
}

void cnn_sgemm_fast(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                    float *scratch, float *c, int64_t ldc, bool accumulate, const cnn_gemm_epilogue *e) {
    sgemm_fast(trans_a, false, m, n, k, a, lda, b, ldb, scratch, c, ldc, accumulate, e);
}

void cnn_sgemm_fast_bt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bt, int64_t ldbt, float *scratch, float *c,
                       int64_t ldc, bool accumulate) {
    sgemm_fast(false, true, m, n, k, a, lda, bt, ldbt, scratch, c, ldc, accumulate, NULL);
}
