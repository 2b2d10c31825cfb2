/* threads.c — the one thread count shared by OpenMP loops and OpenBLAS. */
#include "internal.h"

#include <cblas.h>
#include <omp.h>

/* OpenBLAS stays on one thread (see kernels/gemm.c); its setter also changes OpenMP's count,
 * so it goes first. */
void cnn_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    openblas_set_num_threads(1);
    omp_set_num_threads(n);
}

int cnn_get_threads(void) { return omp_get_max_threads(); }

/* At load: OpenBLAS to one thread (kernels/gemm.c splits products itself, deterministically).
 * Its setter also sets OpenMP's count of the calling thread to 1, so that is put back. */
__attribute__((constructor)) static void blas_single_thread(void) {
    int n = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(n);
}
