/* gemm.c — row-major single-precision matrix products through OpenBLAS, split into fixed tiles.
 *
 * Why tiles: OpenBLAS splits a product by its own thread count, and a different split changes the
 * order of additions in its edge kernels, so results would differ between 1 and 2 threads. Here
 * OpenBLAS always runs on one thread per call, and the product is cut into tiles whose size does
 * not depend on the thread count; OpenMP runs the tiles in parallel. Same bits for any thread count. */
#include "../core/internal.h"

#include <cblas.h>
#include <pthread.h>

#define TILE_M 256
#define TILE_N 512

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

void cnn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    pthread_once(&blas_once, blas_single_thread);
    int64_t tiles_m = (m + TILE_M - 1) / TILE_M, tiles_n = (n + TILE_N - 1) / TILE_N;
    /* C (m x n) tile (i0, j0): rows of op(A) from i0, columns of op(B) from j0. */
#pragma omp parallel for collapse(2) schedule(static) if (tiles_m * tiles_n > 1)
    for (int64_t ti = 0; ti < tiles_m; ti++)
        for (int64_t tj = 0; tj < tiles_n; tj++) {
            int64_t i0 = ti * TILE_M, j0 = tj * TILE_N;
            int64_t mt = m - i0 < TILE_M ? m - i0 : TILE_M, nt = n - j0 < TILE_N ? n - j0 : TILE_N;
            const float *at = trans_a ? a + i0 : a + i0 * lda;
            const float *bt = trans_b ? b + j0 * ldb : b + j0;
            cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                        (blasint)mt, (blasint)nt, (blasint)k, alpha, at, (blasint)lda, bt, (blasint)ldb, beta,
                        c + i0 * ldc + j0, (blasint)ldc);
        }
}
