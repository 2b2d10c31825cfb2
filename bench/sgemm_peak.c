/* sgemm_peak.c N REPEATS — the machine's FP32 peak as OpenBLAS reaches it: C = A*B on N x N
 * matrices, best of REPEATS after one warm-up, printed as one JSON object {"n", "threads", "gflops"}.
 * The thread count is OpenBLAS's own (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS). Built and run by bench/compare. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048, repeats = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 1 || repeats < 1) return fprintf(stderr, "usage: sgemm_peak N REPEATS\n"), 2;
    size_t size = (size_t)n * (size_t)n;
    float *a = malloc(size * sizeof *a), *b = malloc(size * sizeof *b), *c = malloc(size * sizeof *c);
    if (!a || !b || !c) return fprintf(stderr, "sgemm_peak: out of memory\n"), 1;
    for (size_t i = 0; i < size; i++) {
        a[i] = (float)(i % 17) / 17.0f - 0.5f;
        b[i] = (float)(i % 13) / 13.0f - 0.5f;
    }
    double best = 1e30;
    for (int r = -1; r < repeats; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (r >= 0 && t < best) best = t;
    }
    printf("{\"n\": %d, \"threads\": %d, \"gflops\": %.3f}\n", n, openblas_get_num_threads(), 2.0 * n * (double)n * n / best / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
