/* test_kernels.c — our packed GEMM (src/kernels/gemm.h) against a double-precision product: edge
 * tiles (m not a multiple of 8, n not of 32), k = 1, accumulating into C, the batch-norm / ReLU
 * epilogue, and the same bits at 1 and 2 threads. Skipped (and said so) on a CPU without AVX-512F. */
#include "cnn.h"
#include "harness.h"
#include "../src/core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gemm_case {
    int64_t m, n, k;
    bool accumulate, epilogue, relu, trans_a;
} gemm_case;

static float value(uint64_t i, uint64_t salt) { return (float)((cnn_hash64(i * 31 + salt) % 2001) / 1000.0 - 1.0); }

static int check_gemm(void *arg) {
    const gemm_case *t = arg;
    const int64_t m = t->m, n = t->n, k = t->k, ldc = n + 5;
    const int64_t lda = t->trans_a ? m + 3 : k + 3, a_rows = t->trans_a ? k : m, ldb = n + 2;
    float *a = malloc((size_t)(a_rows * lda) * sizeof(float)), *b = malloc((size_t)(k * ldb) * sizeof(float));
    float *c1 = malloc((size_t)(m * ldc) * sizeof(float)), *c2 = malloc((size_t)(m * ldc) * sizeof(float));
    float *scratch = malloc((size_t)cnn_sgemm_fast_scratch(k, n) * sizeof(float));
    float *scale = malloc((size_t)m * sizeof(float)), *shift = malloc((size_t)m * sizeof(float));
    CHECK(a && b && c1 && c2 && scratch && scale && shift, "out of memory");
    for (int64_t i = 0; i < a_rows * lda; i++) a[i] = value((uint64_t)i, 1);
    for (int64_t i = 0; i < k * ldb; i++) b[i] = value((uint64_t)i, 2);
    for (int64_t i = 0; i < m; i++) scale[i] = 0.5f + value((uint64_t)i, 3), shift[i] = value((uint64_t)i, 4);
    for (int64_t i = 0; i < m * ldc; i++) c1[i] = c2[i] = value((uint64_t)i, 5);
    const float *sc = t->epilogue ? scale : NULL, *sh = t->epilogue ? shift : NULL;
    cnn_set_threads(1);
    cnn_sgemm_fast(t->trans_a, m, n, k, a, lda, b, ldb, scratch, c1, ldc, t->accumulate, sc, sh, t->relu);
    cnn_set_threads(2);
    cnn_sgemm_fast(t->trans_a, m, n, k, a, lda, b, ldb, scratch, c2, ldc, t->accumulate, sc, sh, t->relu);
    int rc = 0;
    for (int64_t i = 0; i < m && rc == 0; i++)
        for (int64_t j = 0; j < ldc && rc == 0; j++) {
            double want = value((uint64_t)(i * ldc + j), 5), bound = 0.0;
            if (j < n) { /* the product (columns past n are left alone) */
                double sum = 0.0;
                for (int64_t p = 0; p < k; p++) {
                    const double x = t->trans_a ? a[p * lda + i] : a[i * lda + p], y = b[p * ldb + j];
                    sum += x * y, bound += fabs(x * y);
                }
                want = (t->accumulate ? want : 0.0) + sum;
                if (sc) want = want * sc[i] + sh[i], bound = bound * fabs(sc[i]);
                if (t->relu && want <= 0.0) want = 0.0;
            }
            const double got = c1[i * ldc + j], tol = 1e-6 * (bound + 1.0) * (k > 16 ? 4.0 : 1.0);
            if (fabs(got - want) > tol) {
                harness_message(__FILE__, __LINE__, "C[%lld][%lld] = %.9g, want %.9g", (long long)i, (long long)j, got, want);
                rc = -1;
            }
            if (rc == 0 && memcmp(&c1[i * ldc + j], &c2[i * ldc + j], sizeof(float)) != 0) {
                harness_message(__FILE__, __LINE__, "C[%lld][%lld] differs between 1 and 2 threads", (long long)i, (long long)j);
                rc = -1;
            }
        }
    free(a), free(b), free(c1), free(c2), free(scratch), free(scale), free(shift);
    return rc;
}

int main(void) {
    if (!cnn_gemm_fast()) {
        printf("skip our packed GEMM: this CPU has no AVX-512F (or CNN_GEMM=blas); OpenBLAS computes every product\n");
        return harness_finish();
    }
    static const gemm_case cases[] = {
        {8, 32, 16, false, false, false, false},  {13, 45, 7, false, false, false, false}, {1, 1, 1, false, false, false, false},
        {7, 31, 1, true, false, false, false},    {64, 196, 480, true, true, true, false}, {20, 33, 300, false, true, false, false},
        {3, 100, 50, true, false, true, false},   {130, 67, 9, false, true, true, false},  {9, 512, 64, true, true, false, false},
        {21, 70, 40, false, false, false, true}, {16, 35, 33, true, false, false, false},
        {11, 64, 17, true, false, false, true},   {64, 288, 196, true, false, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[160];
        const gemm_case *t = &cases[i];
        snprintf(name, sizeof name, "packed GEMM %lldx%lldx%lld%s%s%s%s vs double, 1 and 2 threads the same bits", (long long)t->m,
                 (long long)t->n, (long long)t->k, t->trans_a ? " A^T" : "", t->accumulate ? " +C" : "",
                 t->epilogue ? " scale/shift" : "", t->relu ? " relu" : "");
        harness_case(name, check_gemm, (void *)t);
    }
    return harness_finish();
}
