/* threads.c — the one thread count shared by OpenMP loops and OpenBLAS. */
#include "internal.h"

#include <cblas.h>
#include <omp.h>

void cnn_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int cnn_get_threads(void) { return omp_get_max_threads(); }
