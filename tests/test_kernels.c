/* test_kernels.c — our packed GEMM (src/kernels/gemm.h) against a double-precision product: edge
 * tiles (m not a multiple of 8, n not of 32), k = 1, accumulating into C, the batch-norm / ReLU
 * epilogue, and the same bits at 1 and 2 threads; and conv2d's Winograd forward (3x3, stride 1:
 * src/ops/conv_winograd.c) against a double-precision convolution, with bias, folded batch norm and
 * ReLU, odd sizes and asymmetric pads, and the same bits at 1 and 2 threads. Skipped (and said so) on
 * a CPU without AVX-512F. */
#include "cnn.h"
#include "harness.h"
#include "../src/core/internal.h"
#include "../src/kernels/gemm.h"
#include "../src/kernels/im2col.h"
#include "../src/kernels/pool.h"
#include "../src/kernels/winograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gemm_case {
    int64_t m, n, k;
    bool accumulate, epilogue, relu, trans_a;
    bool trans_b; /* B given transposed (cnn_sgemm_fast_bt: no epilogue, A not transposed) */
} gemm_case;

static float value(uint64_t i, uint64_t salt) { return (float)((cnn_hash64(i * 31 + salt) % 2001) / 1000.0 - 1.0); }

static int check_gemm(void *arg) {
    const gemm_case *t = arg;
    const int64_t m = t->m, n = t->n, k = t->k, ldc = n + 5;
    const int64_t lda = t->trans_a ? m + 3 : k + 3, a_rows = t->trans_a ? k : m, ldb = t->trans_b ? k + 2 : n + 2, b_rows = t->trans_b ? n : k;
    float *a = malloc((size_t)(a_rows * lda) * sizeof(float)), *b = malloc((size_t)(b_rows * ldb) * sizeof(float));
    float *c1 = malloc((size_t)(m * ldc) * sizeof(float)), *c2 = malloc((size_t)(m * ldc) * sizeof(float));
    float *scratch = malloc((size_t)cnn_sgemm_fast_scratch(k, n) * sizeof(float));
    float *scale = malloc((size_t)m * sizeof(float)), *shift = malloc((size_t)m * sizeof(float)), *bias_of = malloc((size_t)m * sizeof(float));
    CHECK(a && b && c1 && c2 && scratch && scale && shift && bias_of, "out of memory");
    for (int64_t i = 0; i < m; i++) bias_of[i] = 2.0f * value((uint64_t)i, 6);
    for (int64_t i = 0; i < a_rows * lda; i++) a[i] = value((uint64_t)i, 1);
    for (int64_t i = 0; i < b_rows * ldb; i++) b[i] = value((uint64_t)i, 2);
    for (int64_t i = 0; i < m; i++) scale[i] = 0.5f + value((uint64_t)i, 3), shift[i] = value((uint64_t)i, 4);
    for (int64_t i = 0; i < m * ldc; i++) c1[i] = c2[i] = value((uint64_t)i, 5);
    const float *sc = t->epilogue ? scale : NULL, *sh = t->epilogue ? shift : NULL;
    const float *bias = t->epilogue && !t->accumulate ? bias_of : NULL; /* a bias (as convolutions add it) when not accumulating */
    const cnn_gemm_epilogue e = {.bias = bias, .scale = sc, .shift = sh, .relu = t->relu};
    for (int threads = 1; threads <= 2; threads++) {
        cnn_set_threads(threads);
        if (t->trans_b)
            cnn_sgemm_fast_bt(m, n, k, a, lda, b, ldb, scratch, threads == 1 ? c1 : c2, ldc, t->accumulate);
        else
            cnn_sgemm_fast(t->trans_a, m, n, k, a, lda, b, ldb, scratch, threads == 1 ? c1 : c2, ldc, t->accumulate, &e);
    }
    int rc = 0;
    for (int64_t i = 0; i < m && rc == 0; i++)
        for (int64_t j = 0; j < ldc && rc == 0; j++) {
            double want = value((uint64_t)(i * ldc + j), 5), bound = 0.0;
            if (j < n) { /* the product (columns past n are left alone) */
                double sum = 0.0;
                for (int64_t p = 0; p < k; p++) {
                    const double x = t->trans_a ? a[p * lda + i] : a[i * lda + p], y = t->trans_b ? b[j * ldb + p] : b[p * ldb + j];
                    sum += x * y, bound += fabs(x * y);
                }
                want = (t->accumulate ? want : 0.0) + sum + (bias ? bias[i] : 0.0f);
                if (bias) bound += fabs(bias[i]);
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
    free(a), free(b), free(c1), free(c2), free(scratch), free(scale), free(shift), free(bias_of);
    return rc;
}

typedef struct wino_case {
    int64_t batch, c, k, h, w;
    int pads[4]; /* top, bottom, left, right */
    bool bias, bn_relu;
    bool refresh; /* a forward with one kernel element changed first: the plan's kept U must follow the change back */
    int kernel, stride; /* 0: 3 and 1 (Winograd's); others, with at most 4 input channels, unfold straight into panels */
    int kh, kw;         /* when set: a kh x kw kernel (1x7, 7x1, 1x3, 3x1: conv_winograd1d.c) */
} wino_case;

static int case_kernel(const wino_case *t) { return t->kernel ? t->kernel : 3; }
static int case_kh(const wino_case *t) { return t->kh ? t->kh : case_kernel(t); }
static int case_kw(const wino_case *t) { return t->kw ? t->kw : case_kernel(t); }
static int case_stride(const wino_case *t) { return t->stride ? t->stride : 1; }

/* One forward of x -> conv2d (-> batchnorm -> relu) in an eval plan at the given thread count; the
 * output copied to y. */
static int wino_forward(const wino_case *t, int threads, float *y, double *want) {
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "out of memory");
    const int kh = case_kh(t), kw = case_kw(t), st = case_stride(t);
    cnn_conv2d_params p = {.out_channels = t->k, .kernel_h = kh, .kernel_w = kw, .stride_h = st, .stride_w = st, .bias = t->bias,
                           .pad_top = t->pads[0], .pad_bottom = t->pads[1], .pad_left = t->pads[2], .pad_right = t->pads[3]};
    cnn_node *x = cnn_input(g, "x", t->c, t->h, t->w), *conv = cnn_conv2d_ex(g, x, "conv", &p), *out = conv;
    if (t->bn_relu) out = cnn_relu(g, cnn_batchnorm(g, conv, "bn", 1e-5f, 0.1f), "relu");
    CHECK(out && cnn_graph_add_output(g, out, 0) == 0 && cnn_graph_init_params(g, 7) == 0, "graph: %s", cnn_last_error());
    cnn_param w, b, gamma, beta, mean, var;
    CHECK(cnn_param_find(g, "conv.weight", &w) == 0, "no conv.weight");
    const bool bn = t->bn_relu && cnn_param_find(g, "bn.weight", &gamma) == 0 && cnn_param_find(g, "bn.bias", &beta) == 0 &&
                    cnn_param_find(g, "bn.running_mean", &mean) == 0 && cnn_param_find(g, "bn.running_var", &var) == 0;
    if (t->bn_relu) {
        CHECK(bn, "no batch norm parameters");
        for (int64_t o = 0; o < t->k; o++)
            gamma.data[o] = 0.5f + value((uint64_t)o, 11), beta.data[o] = value((uint64_t)o, 12), mean.data[o] = 0.3f * value((uint64_t)o, 13),
            var.data[o] = 0.5f + 0.4f * value((uint64_t)o, 14);
    }
    if (t->bias) CHECK(cnn_param_find(g, "conv.bias", &b) == 0, "no conv.bias");
    cnn_set_threads(threads);
    cnn_plan *plan = cnn_plan_create(g, t->batch, 0);
    CHECK(plan, "plan: %s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(plan, 0);
    const int64_t nx = t->batch * t->c * t->h * t->w;
    for (int64_t i = 0; i < nx; i++) in->data[i] = value((uint64_t)i, 10);
    if (t->refresh) {
        const int64_t at = w.numel - 5; /* in the last output channel */
        const float kept = w.data[at];
        w.data[at] = kept + 4.0f;
        CHECK(cnn_plan_forward(plan) == 0, "forward: %s", cnn_last_error());
        w.data[at] = kept;
    }
    CHECK(cnn_plan_forward(plan) == 0, "forward: %s", cnn_last_error());
    const cnn_tensor *o = cnn_plan_output(plan, 0);
    const int64_t oh = o->shape[2], ow = o->shape[3], ny = t->batch * t->k * oh * ow;
    memcpy(y, o->data, (size_t)ny * sizeof(float));
    if (want) /* [value, bound] per output: the double-precision result and sum |x * w| + |bias| */
        for (int64_t n = 0; n < t->batch; n++)
            for (int64_t k = 0; k < t->k; k++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        double sum = t->bias ? b.data[k] : 0.0, bound = fabs(sum);
                        for (int64_t c = 0; c < t->c; c++)
                            for (int di = 0; di < kh; di++)
                                for (int dj = 0; dj < kw; dj++) {
                                    const int64_t yy = i * st + di - t->pads[0], xx = j * st + dj - t->pads[2];
                                    if (yy < 0 || yy >= t->h || xx < 0 || xx >= t->w) continue;
                                    const double prod = (double)in->data[((n * t->c + c) * t->h + yy) * t->w + xx] *
                                                        (double)w.data[((k * t->c + c) * kh + di) * kw + dj];
                                    sum += prod, bound += fabs(prod);
                                }
                        if (t->bn_relu) {
                            const double s = gamma.data[k] / sqrt((double)var.data[k] + 1e-5);
                            sum = (sum - mean.data[k]) * s + beta.data[k], bound *= fabs(s);
                            if (sum < 0) sum = 0;
                        }
                        const int64_t at = ((n * t->k + k) * oh + i) * ow + j;
                        want[2 * at] = sum, want[2 * at + 1] = bound;
                    }
    cnn_plan_free(plan);
    cnn_graph_free(g);
    return 0;
}

static int check_winograd(void *arg) {
    const wino_case *t = arg;
    const int kh = case_kh(t), kw = case_kw(t), st = case_stride(t);
    const int64_t oh = (t->h + t->pads[0] + t->pads[1] - kh) / st + 1, ow = (t->w + t->pads[2] + t->pads[3] - kw) / st + 1;
    const int64_t ny = t->batch * t->k * oh * ow;
    float *y1 = malloc((size_t)ny * sizeof(float)), *y2 = malloc((size_t)ny * sizeof(float));
    double *want = malloc((size_t)ny * 2 * sizeof(double));
    CHECK(y1 && y2 && want, "out of memory");
    int rc = wino_forward(t, 1, y1, want) || wino_forward(t, 2, y2, NULL) ? -1 : 0;
    double worst = 0.0;
    for (int64_t i = 0; i < ny && rc == 0; i++) {
        /* F(4x4, 3x3)'s transforms scale terms by up to 25 before rounding: errors reach ~3e-6 of the
         * sum of |terms| (the direct product's stay below 1e-6) */
        const double err = fabs(y1[i] - want[2 * i]), tol = 1e-5 * want[2 * i + 1] + 1e-7;
        if (err / (want[2 * i + 1] + 1e-30) > worst) worst = err / (want[2 * i + 1] + 1e-30);
        if (err > tol) {
            harness_message(__FILE__, __LINE__, "y[%lld] = %.9g, want %.9g (sum of |terms| %.3g)", (long long)i, y1[i], want[2 * i],
                            want[2 * i + 1]);
            rc = -1;
        }
        if (rc == 0 && memcmp(&y1[i], &y2[i], sizeof(float)) != 0) {
            harness_message(__FILE__, __LINE__, "y[%lld] differs between 1 and 2 threads", (long long)i);
            rc = -1;
        }
    }
    if (getenv("CNN_TEST_VERBOSE")) printf("     worst |error| / sum |terms|: %.3g\n", worst);
    free(y1), free(y2), free(want);
    return rc;
}


/* ---- the eval Winograd paths' change check (cnn_kernel_stamp, ops/conv_common.h) ---- */

static bool stamp_equal(const float *w, int64_t n, const uint64_t *want) {
    uint64_t h[CNN_STAMP_LANES];
    cnn_kernel_stamp(w, n, h);
    return memcmp(h, want, sizeof h) == 0;
}

/* Every float of arrays of 1 to 70 (whole vectors, a pair of them, masked tails), changed in its
 * lowest bit, its sign or its exponent, changes the stamp; so does every pair of sign flips (a
 * multiply-only chain would keep the top bit's difference and miss those) and every swap of two
 * unequal floats in a 70-float array; the same floats give the same stamp. */
static int stamp_sees_changes(void *arg) {
    (void)arg;
    float w[70];
    uint64_t h[CNN_STAMP_LANES], again[CNN_STAMP_LANES];
    for (int64_t n = 1; n <= 70; n++) {
        for (int64_t i = 0; i < n; i++) w[i] = value((uint64_t)i, (uint64_t)n);
        cnn_kernel_stamp(w, n, h);
        cnn_kernel_stamp(w, n, again);
        CHECK(memcmp(h, again, sizeof h) == 0, "n %lld: the same floats, another stamp", (long long)n);
        for (int64_t i = 0; i < n; i++) {
            const uint32_t flips[3] = {1u, 0x80000000u, 0x00800000u};
            for (int f = 0; f < 3; f++) {
                const float kept = w[i];
                uint32_t bits;
                memcpy(&bits, &w[i], sizeof bits);
                bits ^= flips[f];
                memcpy(&w[i], &bits, sizeof bits);
                CHECK(!stamp_equal(w, n, h), "n %lld: float %lld with bits %08x flipped, the same stamp", (long long)n, (long long)i, flips[f]);
                w[i] = kept;
            }
        }
    }
    const int64_t n = 70;
    for (int64_t i = 0; i < n; i++) w[i] = value((uint64_t)i, 99);
    cnn_kernel_stamp(w, n, h);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            w[i] = -w[i], w[j] = -w[j];
            CHECK(!stamp_equal(w, n, h), "floats %lld and %lld negated, the same stamp", (long long)i, (long long)j);
            w[i] = -w[i], w[j] = -w[j];
            float t = w[i];
            w[i] = w[j], w[j] = t;
            CHECK(w[i] == w[j] || !stamp_equal(w, n, h), "floats %lld and %lld swapped, the same stamp", (long long)i, (long long)j);
            t = w[i], w[i] = w[j], w[j] = t;
        }
    return 0;
}

/* One kh x kw conv (17 -> 40 channels, 11x10, 'same' pads) on the eval Winograd paths, its weight in w;
 * NULL on failure. */
static cnn_graph *kernel_change_graph(const int *kernel, cnn_param *w) {
    cnn_graph *g = cnn_graph_create();
    const cnn_conv2d_params p = {.out_channels = 40, .kernel_h = kernel[0], .kernel_w = kernel[1], .pad_top = kernel[0] / 2,
                                 .pad_bottom = kernel[0] / 2, .pad_left = kernel[1] / 2, .pad_right = kernel[1] / 2};
    cnn_node *out = cnn_conv2d_ex(g, cnn_input(g, "x", 17, 11, 10), "conv", &p);
    if (out && cnn_graph_add_output(g, out, 0) == 0 && cnn_graph_init_params(g, 5) == 0 && cnn_param_find(g, "conv.weight", w) == 0) return g;
    cnn_graph_free(g);
    return NULL;
}

/* An eval plan kept across changes of its conv's kernels (3x3: F(4x4, 3x3); 5x5: F(2x2, 5x5); 1x7:
 * F(3, 7)), two panels of output channels, gives bitwise what a new plan gives after each: one float
 * a unit in the last place up, two floats negated, two swapped, all zero, back to the start. */
static int plans_follow_kernel_changes(void *arg) {
    const int *kernel = arg; /* kh, kw */
    cnn_param w;
    cnn_graph *g = kernel_change_graph(kernel, &w);
    CHECK(g, "graph: %s", cnn_last_error());
    float *start = malloc((size_t)w.numel * sizeof(float));
    CHECK(start, "out of memory");
    memcpy(start, w.data, (size_t)w.numel * sizeof(float));
    cnn_plan *kept = cnn_plan_create(g, 1, 0);
    CHECK(kept, "plan: %s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(kept, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(in); i++) in->data[i] = value((uint64_t)i, 3);
    int rc = cnn_plan_forward(kept);
    bool told = false;
    const int64_t a = w.numel - 7, b = w.numel / 3; /* in panel 1 (channels 32..39), in panel 0 */
    for (int change = 0; change < 5 && rc == 0; change++) {
        if (change == 0) w.data[a] = nextafterf(w.data[a], INFINITY);
        if (change == 1) w.data[a] = -w.data[a], w.data[b] = -w.data[b];
        if (change == 2) {
            const float t = w.data[a];
            w.data[a] = w.data[b], w.data[b] = t;
        }
        if (change == 3) memset(w.data, 0, (size_t)w.numel * sizeof(float));
        if (change == 4) memcpy(w.data, start, (size_t)w.numel * sizeof(float));
        cnn_plan *fresh = cnn_plan_create(g, 1, 0);
        if (!fresh) {
            rc = -1;
            break;
        }
        memcpy(cnn_plan_input(fresh, 0)->data, in->data, (size_t)cnn_tensor_numel(in) * sizeof(float));
        rc = cnn_plan_forward(kept) || cnn_plan_forward(fresh) ? -1 : 0;
        const cnn_tensor *y = cnn_plan_output(kept, 0), *want = cnn_plan_output(fresh, 0);
        if (rc == 0 && memcmp(y->data, want->data, (size_t)cnn_tensor_numel(y) * sizeof(float)) != 0) {
            harness_message(__FILE__, __LINE__, "%dx%d, change %d: the kept plan differs from a new one", kernel[0], kernel[1], change);
            rc = -1, told = true;
        }
        cnn_plan_free(fresh);
    }
    if (rc && !told) harness_message(__FILE__, __LINE__, "%s", cnn_last_error());
    cnn_plan_free(kept);
    free(start);
    cnn_graph_free(g);
    return rc;
}

/* A frozen eval plan (CNN_PLAN_FROZEN) uses the transformed kernels of its first forward without
 * reading the kernels again: after a change of them it still gives its first output bitwise, while
 * a new plan (frozen or not) gives the changed convolution; a frozen training plan is refused. */
static int frozen_plans_keep_kernels(void *arg) {
    const int *kernel = arg; /* kh, kw */
    cnn_param w;
    cnn_graph *g = kernel_change_graph(kernel, &w);
    CHECK(g, "graph: %s", cnn_last_error());
    CHECK(!cnn_plan_create(g, 1, CNN_PLAN_FROZEN | CNN_PLAN_TRAIN) && strstr(cnn_last_error(), "CNN_PLAN_FROZEN is for eval plans"),
          "a frozen training plan: %s", cnn_last_error());
    cnn_plan *frozen = cnn_plan_create(g, 1, CNN_PLAN_FROZEN);
    CHECK(frozen, "plan: %s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(frozen, 0);
    const int64_t n = cnn_tensor_numel(in), m = cnn_tensor_numel(cnn_plan_output(frozen, 0));
    for (int64_t i = 0; i < n; i++) in->data[i] = value((uint64_t)i, 3);
    float *first = malloc((size_t)m * sizeof(float));
    CHECK(first, "out of memory");
    int rc = cnn_plan_forward(frozen);
    if (rc == 0) memcpy(first, cnn_plan_output(frozen, 0)->data, (size_t)m * sizeof(float));
    w.data[w.numel - 7] += 1.0f, w.data[w.numel / 3] -= 1.0f; /* in panel 1 (channels 32..39), in panel 0 */
    cnn_plan *fresh = rc == 0 ? cnn_plan_create(g, 1, CNN_PLAN_FROZEN) : NULL, *checked = fresh ? cnn_plan_create(g, 1, 0) : NULL;
    if (checked) {
        memcpy(cnn_plan_input(fresh, 0)->data, in->data, (size_t)n * sizeof(float));
        memcpy(cnn_plan_input(checked, 0)->data, in->data, (size_t)n * sizeof(float));
    }
    rc = !checked || cnn_plan_forward(frozen) || cnn_plan_forward(fresh) || cnn_plan_forward(checked) ? -1 : 0;
    const char *why = rc ? cnn_last_error() : NULL;
    if (rc == 0 && memcmp(cnn_plan_output(frozen, 0)->data, first, (size_t)m * sizeof(float)) != 0) why = "the frozen plan read the changed kernels";
    if (rc == 0 && !why && memcmp(cnn_plan_output(fresh, 0)->data, first, (size_t)m * sizeof(float)) == 0) why = "the change left the output as it was";
    if (rc == 0 && !why && memcmp(cnn_plan_output(fresh, 0)->data, cnn_plan_output(checked, 0)->data, (size_t)m * sizeof(float)) != 0)
        why = "a new frozen plan differs from a new checked one";
    cnn_plan_free(checked);
    cnn_plan_free(fresh);
    cnn_plan_free(frozen);
    free(first);
    cnn_graph_free(g);
    CHECK(!why, "%dx%d: %s", kernel[0], kernel[1], why);
    return 0;
}

/* ---- eval max pool 3x3 / stride 1 / pad 1 on planes up to 32 wide (kernels/pool.h) ---- */

static float max_nan_ref(float best, float v) { return v > best || isnan(v) ? v : best; }

/* A pool test's plane: n values from -4 to 4 (ties), some -inf and some NaNs of distinct payloads. */
static void pool_plane_values(float *x, int64_t n, uint64_t salt) {
    for (int64_t i = 0; i < n; i++) {
        const uint64_t r = cnn_hash64((uint64_t)i * 977 + salt);
        uint32_t nan = 0x7fc00000u | (uint32_t)(r >> 40 & 0x3fffff);
        x[i] = r % 23 == 0 ? -INFINITY : (float)(r % 9) - 4.0f;
        if (r % 17 == 0) memcpy(&x[i], &nan, sizeof nan);
    }
}

/* cnn_maxpool3x3s1_plane against the scalar order of ops/pool.c (the window's rows, then its
 * columns, padding dropped), bitwise: planes 1..32 wide, 1..15 rows, values with ties, -inf and
 * NaNs of distinct payloads (the last NaN in that order is the one kept). */
static int maxpool3x3s1_matches(void *arg) {
    (void)arg;
    if (!cnn_gemm_avx512_available()) return 0;
    float x[15 * 32], y[15 * 32], v[15 * 32];
    static const int64_t ws[] = {1, 2, 3, 5, 7, 13, 14, 15, 16, 17, 28, 31, 32}, hs[] = {1, 2, 3, 7, 14, 15};
    for (int wi = 0; wi < 13; wi++)
        for (int hi = 0; hi < 6; hi++) {
            const int64_t w = ws[wi], h = hs[hi];
            pool_plane_values(x, h * w, (uint64_t)(w * 31 + h));
            cnn_maxpool3x3s1_plane(x, h, w, y);
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) {
                    float m = x[(i > 0 ? i - 1 : i) * w + j];
                    for (int64_t r = (i > 0 ? i : i + 1); r <= i + 1 && r < h; r++) m = max_nan_ref(m, x[r * w + j]);
                    v[i * w + j] = m;
                }
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) {
                    float m = v[i * w + (j > 0 ? j - 1 : j)];
                    for (int64_t q = (j > 0 ? j : j + 1); q <= j + 1 && q < w; q++) m = max_nan_ref(m, v[i * w + q]);
                    CHECK(memcmp(&m, &y[i * w + j], sizeof m) == 0, "%lldx%lld plane, output (%lld, %lld): %g, want %g", (long long)h,
                          (long long)w, (long long)i, (long long)j, (double)y[i * w + j], (double)m);
                }
        }
    return 0;
}

/* cnn_maxpool3x3s2_plane the same way: planes 1..70 wide (several vectors of outputs a row) and
 * 1..15 high, floor and ceil mode (a last window past the plane's edge). */
static int maxpool3x3s2_matches(void *arg) {
    (void)arg;
    if (!cnn_gemm_avx512_available()) return 0;
    static float x[15 * 70], y[8 * 35];
    static const int64_t ws[] = {1, 2, 3, 4, 5, 14, 28, 31, 32, 33, 34, 35, 64, 65, 70}, hs[] = {1, 2, 3, 4, 7, 14, 15};
    for (int wi = 0; wi < 15; wi++)
        for (int hi = 0; hi < 7; hi++)
            for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
                const int64_t w = ws[wi], h = hs[hi];
                const int64_t ow = w < 3 ? 1 : ceil_mode ? (w - 3 + 1) / 2 + 1 : (w - 3) / 2 + 1;
                const int64_t oh = h < 3 ? 1 : ceil_mode ? (h - 3 + 1) / 2 + 1 : (h - 3) / 2 + 1;
                pool_plane_values(x, h * w, (uint64_t)(w * 37 + h + 5));
                cnn_maxpool3x3s2_plane(x, h, w, oh, ow, y);
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        float cols[3] = {0}, m = 0;
                        int64_t nc = 0;
                        for (int64_t q = 2 * j; q < 2 * j + 3 && q < w; q++, nc++) { /* the window's rows, then its columns */
                            cols[nc] = x[2 * i * w + q];
                            for (int64_t r = 2 * i + 1; r < 2 * i + 3 && r < h; r++) cols[nc] = max_nan_ref(cols[nc], x[r * w + q]);
                        }
                        m = cols[0];
                        for (int64_t q = 1; q < nc; q++) m = max_nan_ref(m, cols[q]);
                        CHECK(memcmp(&m, &y[i * ow + j], sizeof m) == 0, "%lldx%lld plane%s, output (%lld, %lld): %g, want %g", (long long)h,
                              (long long)w, ceil_mode ? " (ceil)" : "", (long long)i, (long long)j, (double)y[i * ow + j], (double)m);
                    }
            }
    return 0;
}

/* cnn_maxpool3x3s2_argmax against PyTorch's row-major loop over each window (a later element
 * replaces only if larger, or a NaN): values and flat indices bitwise, planes 3..70 wide (windows
 * inside: floor mode), ties, -inf and NaNs. */
static int maxpool3x3s2_argmax_matches(void *arg) {
    (void)arg;
    if (!cnn_gemm_avx512_available()) return 0;
    static float x[15 * 70], y[7 * 34];
    static int32_t at[7 * 34];
    static const int64_t ws[] = {3, 4, 5, 14, 32, 33, 34, 35, 36, 64, 65, 70}, hs[] = {3, 4, 7, 15};
    for (int wi = 0; wi < 12; wi++)
        for (int hi = 0; hi < 4; hi++) {
            const int64_t w = ws[wi], h = hs[hi], ow = (w - 3) / 2 + 1, oh = (h - 3) / 2 + 1;
            pool_plane_values(x, h * w, (uint64_t)(w * 41 + h + 9));
            cnn_maxpool3x3s2_argmax(x, w, oh, ow, y, at);
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int32_t best = (int32_t)(2 * i * w + 2 * j);
                    for (int64_t r = 2 * i; r < 2 * i + 3; r++)
                        for (int64_t q = 2 * j; q < 2 * j + 3; q++)
                            if (x[r * w + q] > x[best] || isnan(x[r * w + q])) best = (int32_t)(r * w + q);
                    CHECK(at[i * ow + j] == best && memcmp(&y[i * ow + j], &x[best], sizeof(float)) == 0,
                          "%lldx%lld plane, output (%lld, %lld): index %d, want %d", (long long)h, (long long)w, (long long)i, (long long)j,
                          at[i * ow + j], best);
                }
        }
    return 0;
}

/* ---- training plans: conv2d 3x3/1 forward, input and weight gradients by F(2x2, 3x3) ---- */

typedef struct wino_train_case {
    int64_t batch, c, k, h, w;
    int pads[4]; /* top, bottom, left, right */
    bool bias;
    int r; /* kernel side: 3 (F(2x2, 3x3)) or 5 (F(2x2, 5x5)) */
} wino_train_case;

/* Two training steps of x -> conv2d at the given thread count, dy given: the second's y, dx, dW, db
 * copied out (each buffer sized by the caller). With want: [value, sum of |terms|] of each, in double. */
static int wino_train_step(const wino_train_case *t, int threads, float *y, float *dx, float *dw, float *db, double *want) {
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "out of memory");
    const int r = t->r;
    cnn_conv2d_params p = {.out_channels = t->k, .kernel_h = r, .kernel_w = r, .stride_h = 1, .stride_w = 1, .bias = t->bias,
                           .pad_top = t->pads[0], .pad_bottom = t->pads[1], .pad_left = t->pads[2], .pad_right = t->pads[3]};
    cnn_node *x = cnn_input(g, "x", t->c, t->h, t->w), *conv = cnn_conv2d_ex(g, x, "conv", &p);
    CHECK(conv && cnn_graph_add_output(g, conv, 0) == 0 && cnn_graph_init_params(g, 9) == 0, "graph: %s", cnn_last_error());
    cnn_param w, b;
    CHECK(cnn_param_find(g, "conv.weight", &w) == 0 && (!t->bias || cnn_param_find(g, "conv.bias", &b) == 0), "no conv parameters");
    cnn_set_threads(threads);
    /* one input plane: a first layer, without the input gradient (conv_direct.c's backward) */
    cnn_plan *plan = cnn_plan_create(g, t->batch, CNN_PLAN_TRAIN | (t->c > 1 ? CNN_PLAN_INPUT_GRAD : 0));
    CHECK(plan, "plan: %s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(plan, 0);
    const int64_t nx = t->batch * t->c * t->h * t->w, nw = t->k * t->c * r * r;
    const cnn_tensor *o = cnn_plan_output(plan, 0);
    const int64_t oh = o->shape[2], ow = o->shape[3], ny = t->batch * t->k * oh * ow;
    for (int step = 0; step < 2; step++) { /* the second with the first's partial sums left in the scratch */
        for (int64_t i = 0; i < nx; i++) in->data[i] = value((uint64_t)i, 20);
        CHECK(cnn_plan_forward(plan) == 0, "forward: %s", cnn_last_error());
        cnn_tensor *gy = cnn_plan_output_grad(plan, 0);
        for (int64_t i = 0; i < ny; i++) gy->data[i] = value((uint64_t)i, 21);
        cnn_graph_zero_grad(g);
        CHECK(cnn_plan_backward(plan) == 0, "backward: %s", cnn_last_error());
    }
    const cnn_tensor *gy = cnn_plan_output_grad(plan, 0);
    /* the gradients exist once a training plan is made */
    CHECK(cnn_param_find(g, "conv.weight", &w) == 0 && (!t->bias || cnn_param_find(g, "conv.bias", &b) == 0) && w.grad, "no gradients");
    memcpy(y, o->data, (size_t)ny * sizeof(float));
    if (t->c > 1) memcpy(dx, cnn_plan_input_grad(plan, 0)->data, (size_t)nx * sizeof(float));
    memcpy(dw, w.grad, (size_t)nw * sizeof(float));
    if (t->bias) memcpy(db, b.grad, (size_t)t->k * sizeof(float));
    if (want) { /* y at 0, dx after ny, dW after ny + nx: every product x * w or x * dy or w * dy of the sums */
        double *wy = want, *wdx = want + 2 * ny, *wdw = want + 2 * (ny + nx);
        memset(want, 0, (size_t)(2 * (ny + nx + nw)) * sizeof(double));
        for (int64_t n = 0; n < t->batch; n++)
            for (int64_t k = 0; k < t->k; k++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        const int64_t at = ((n * t->k + k) * oh + i) * ow + j;
                        const double d = gy->data[at];
                        if (t->bias) wy[2 * at] = b.data[k], wy[2 * at + 1] = fabs(b.data[k]);
                        for (int64_t c = 0; c < t->c; c++)
                            for (int di = 0; di < r; di++)
                                for (int dj = 0; dj < r; dj++) {
                                    const int64_t yy = i + di - t->pads[0], xx = j + dj - t->pads[2];
                                    if (yy < 0 || yy >= t->h || xx < 0 || xx >= t->w) continue;
                                    const int64_t xi = ((n * t->c + c) * t->h + yy) * t->w + xx, wi = (k * t->c + c) * r * r + di * r + dj;
                                    const double xv = in->data[xi], wv = w.data[wi];
                                    wy[2 * at] += xv * wv, wy[2 * at + 1] += fabs(xv * wv);
                                    wdx[2 * xi] += d * wv, wdx[2 * xi + 1] += fabs(d * wv);
                                    wdw[2 * wi] += d * xv, wdw[2 * wi + 1] += fabs(d * xv);
                                }
                    }
    }
    cnn_plan_free(plan);
    cnn_graph_free(g);
    return 0;
}

/* F(2x2, 5x5)'s bound (B^T's and G's coefficients up to 5 and 1/24 scale the terms, as F(4x4, 3x3)'s). */
#define WINO5_TRAIN_TOL 5e-6

/* got (n) against want's [value, bound] pairs within tol of the bound, and the same bits as other.
 * F(2x2, 3x3) rounds like the direct product, to ~1e-7 of the sum of |terms| (F(4x4, 3x3): ~3e-6). */
static int match(const char *what, const float *got, const float *other, const double *want, int64_t n, double tol) {
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double err = fabs(got[i] - want[2 * i]);
        if (err / (want[2 * i + 1] + 1e-30) > worst) worst = err / (want[2 * i + 1] + 1e-30);
        CHECK(err <= tol * want[2 * i + 1] + 1e-6, "%s[%lld] = %.9g, want %.9g (sum of |terms| %.3g)", what, (long long)i, got[i],
              want[2 * i], want[2 * i + 1]);
        CHECK(memcmp(&got[i], &other[i], sizeof(float)) == 0, "%s[%lld] differs between 1 and 2 threads", what, (long long)i);
    }
    if (getenv("CNN_TEST_VERBOSE")) printf("     %s: worst |error| / sum |terms|: %.3g\n", what, worst);
    return 0;
}

/* The direct weight gradient's vectors past a row's outputs (LeNet-5's conv1: 24 outputs, the
 * second vector 8) hold the row's further inputs: an infinity in the input's last column, which only
 * the kernel's last column reads, must leave every other tap's gradient finite. */
static int direct_dw_ignores_past_the_row(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "out of memory");
    cnn_node *x = cnn_input(g, "x", 1, 9, 28), *conv = cnn_conv2d(g, x, "conv", 4, 5, 5, 1, 0, false);
    CHECK(conv && cnn_graph_add_output(g, conv, 0) == 0 && cnn_graph_init_params(g, 3) == 0, "graph: %s", cnn_last_error());
    cnn_plan *plan = cnn_plan_create(g, 2, CNN_PLAN_TRAIN);
    CHECK(plan, "plan: %s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(plan, 0);
    for (int64_t i = 0; i < 2 * 9 * 28; i++) in->data[i] = i % 28 == 27 ? INFINITY : value((uint64_t)i, 30);
    CHECK(cnn_plan_forward(plan) == 0, "forward: %s", cnn_last_error());
    cnn_tensor *gy = cnn_plan_output_grad(plan, 0);
    for (int64_t i = 0; i < 2 * 4 * 5 * 24; i++) gy->data[i] = value((uint64_t)i, 31);
    cnn_graph_zero_grad(g);
    CHECK(cnn_plan_backward(plan) == 0, "backward: %s", cnn_last_error());
    cnn_param w;
    CHECK(cnn_param_find(g, "conv.weight", &w) == 0 && w.grad, "no weight gradient");
    for (int o = 0; o < 4; o++)
        for (int t = 0; t < 25; t++)
            CHECK(t % 5 == 4 || isfinite(w.grad[o * 25 + t]), "dW[%d][%d][%d] = %g: an input no window of that tap reads got in", o, t / 5,
                  t % 5, w.grad[o * 25 + t]);
    cnn_plan_free(plan);
    cnn_graph_free(g);
    return 0;
}

static int check_winograd_train(void *arg) {
    const wino_train_case *t = arg;
    const int side = t->r;
    const int64_t oh = t->h + t->pads[0] + t->pads[1] - (side - 1), ow = t->w + t->pads[2] + t->pads[3] - (side - 1);
    const int64_t ny = t->batch * t->k * oh * ow, nx = t->batch * t->c * t->h * t->w, nw = t->k * t->c * side * side;
    const double tol = side == 5 ? WINO5_TRAIN_TOL : 2e-6;
    float *f[2][4];
    double *want = malloc((size_t)(2 * (ny + nx + nw + t->k)) * sizeof(double));
    int rc = want ? 0 : -1;
    for (int r = 0; r < 2; r++) {
        f[r][0] = malloc((size_t)ny * sizeof(float)), f[r][1] = malloc((size_t)nx * sizeof(float));
        f[r][2] = malloc((size_t)nw * sizeof(float)), f[r][3] = malloc((size_t)t->k * sizeof(float));
        if (!f[r][0] || !f[r][1] || !f[r][2] || !f[r][3]) rc = -1;
    }
    if (rc == 0) rc = wino_train_step(t, 1, f[0][0], f[0][1], f[0][2], f[0][3], want) || wino_train_step(t, 2, f[1][0], f[1][1], f[1][2], f[1][3], NULL);
    if (rc == 0) rc = match("y", f[0][0], f[1][0], want, ny, tol) || (t->c > 1 && match("dx", f[0][1], f[1][1], want + 2 * ny, nx, tol)) ||
                      match("dW", f[0][2], f[1][2], want + 2 * (ny + nx), nw, tol);
    if (rc == 0 && t->bias) { /* db: the sum of dy over the batch and positions */
        for (int64_t k = 0; k < t->k && rc == 0; k++) {
            double sum = 0.0, bound = 0.0;
            for (int64_t n = 0; n < t->batch; n++)
                for (int64_t i = 0; i < oh * ow; i++) {
                    const double d = value((uint64_t)((n * t->k + k) * oh * ow + i), 21);
                    sum += d, bound += fabs(d);
                }
            want[2 * k] = sum, want[2 * k + 1] = bound;
        }
        if (rc == 0) rc = match("db", f[0][3], f[1][3], want, t->k, tol);
    }
    for (int r = 0; r < 2; r++) free(f[r][0]), free(f[r][1]), free(f[r][2]), free(f[r][3]);
    free(want);
    return rc;
}

/* ---- unfolding windows: cnn_im2col and cnn_col2im_add against plain loops ---- */

typedef struct unfold_case {
    int64_t channels, in_h, in_w, kh, kw, sh, sw, dh, dw, pads[4]; /* pads: top, left, bottom, right */
} unfold_case;

/* The input position window (oh, ow) tap (i, j) reads, or -1 in the padding. */
static int64_t unfold_at(const cnn_conv_geometry *g, int64_t c, int64_t i, int64_t j, int64_t oh, int64_t ow) {
    const int64_t ih = oh * g->stride_h - g->pad_top + i * g->dilation_h, iw = ow * g->stride_w - g->pad_left + j * g->dilation_w;
    return ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w ? -1 : (c * g->in_h + ih) * g->in_w + iw;
}

/* The column matrix, and the fold of a column matrix onto an input holding values (-0.0 among
 * them): bitwise what the loops below give, element by element, each fold summing its taps in the
 * order (i, j) (the AVX-512 stride-1 paths: rows moved 16 at a time, an input row's taps summed in
 * registers). */
static int check_unfold(void *arg) {
    const unfold_case *t = arg;
    cnn_conv_geometry g = {.channels = t->channels, .in_h = t->in_h, .in_w = t->in_w, .kernel_h = t->kh, .kernel_w = t->kw,
                           .stride_h = t->sh, .stride_w = t->sw, .dilation_h = t->dh, .dilation_w = t->dw,
                           .pad_top = t->pads[0], .pad_left = t->pads[1]};
    g.out_h = (t->in_h + t->pads[0] + t->pads[2] - t->dh * (t->kh - 1) - 1) / t->sh + 1;
    g.out_w = (t->in_w + t->pads[1] + t->pads[3] - t->dw * (t->kw - 1) - 1) / t->sw + 1;
    const int64_t taps = t->kh * t->kw, rows = t->channels * taps, cols = g.out_h * g.out_w, in = t->channels * t->in_h * t->in_w;
    float *x = malloc((size_t)in * sizeof(float)), *col = malloc((size_t)(rows * cols) * sizeof(float));
    float *fold = malloc((size_t)in * sizeof(float)), *want = malloc((size_t)in * sizeof(float));
    CHECK(x && col && fold && want, "out of memory");
    for (int64_t e = 0; e < in; e++) x[e] = value((uint64_t)e, 11), fold[e] = want[e] = e % 7 == 0 ? -0.0f : value((uint64_t)e, 12);
    cnn_im2col(&g, x, col);
    for (int64_t c = 0; c < t->channels; c++)
        for (int64_t tap = 0; tap < taps; tap++)
            for (int64_t p = 0; p < cols; p++) {
                const int64_t at = unfold_at(&g, c, tap / t->kw, tap % t->kw, p / g.out_w, p % g.out_w), r = c * taps + tap;
                const float v = at < 0 ? 0.0f : x[at];
                CHECK(memcmp(&col[r * cols + p], &v, sizeof v) == 0, "im2col row %lld window %lld: %g, want %g", (long long)r, (long long)p,
                      col[r * cols + p], v);
            }
    for (int64_t e = 0; e < rows * cols; e++) col[e] = e % 5 == 0 ? -0.0f : value((uint64_t)e, 13);
    cnn_col2im_add(&g, col, fold);
    for (int64_t c = 0; c < t->channels; c++)
        for (int64_t tap = 0; tap < taps; tap++)
            for (int64_t p = 0; p < cols; p++) {
                const int64_t at = unfold_at(&g, c, tap / t->kw, tap % t->kw, p / g.out_w, p % g.out_w);
                if (at >= 0) want[at] += col[(c * taps + tap) * cols + p];
            }
    for (int64_t e = 0; e < in; e++)
        CHECK(memcmp(&fold[e], &want[e], sizeof *fold) == 0, "col2im element %lld: %g, want %g", (long long)e, fold[e], want[e]);
    free(x), free(col), free(fold), free(want);
    return 0;
}

int main(void) {
    static const unfold_case ucases[] = {
        {20, 12, 12, 5, 5, 1, 1, 1, 1, {0, 0, 0, 0}}, /* LeNet-5's conv2: rows of 8 windows */
        {1, 28, 28, 5, 5, 1, 1, 1, 1, {0, 0, 0, 0}},  {3, 7, 9, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}},  {4, 9, 9, 3, 3, 1, 1, 2, 2, {2, 2, 2, 2}},
        {2, 3, 3, 2, 2, 1, 1, 1, 1, {2, 2, 2, 2}},    {3, 11, 9, 3, 3, 2, 2, 1, 1, {1, 1, 1, 1}}, {5, 20, 37, 3, 2, 1, 1, 2, 3, {1, 2, 0, 1}},
        {2, 17, 40, 1, 7, 1, 1, 1, 1, {0, 3, 0, 3}},  {3, 6, 35, 7, 1, 1, 1, 1, 1, {3, 0, 3, 0}}, {2, 8, 10, 3, 3, 3, 2, 1, 1, {0, 1, 2, 0}},
    };
    for (size_t i = 0; i < sizeof ucases / sizeof *ucases; i++) {
        char name[200];
        const unfold_case *t = &ucases[i];
        snprintf(name, sizeof name, "im2col, col2im: C%lld %lldx%lld kernel %lldx%lld stride %lld,%lld dilation %lld,%lld pads %lld,%lld,%lld,%lld bitwise as plain loops",
                 (long long)t->channels, (long long)t->in_h, (long long)t->in_w, (long long)t->kh, (long long)t->kw, (long long)t->sh, (long long)t->sw,
                 (long long)t->dh, (long long)t->dw, (long long)t->pads[0], (long long)t->pads[1], (long long)t->pads[2], (long long)t->pads[3]);
        harness_case(name, check_unfold, (void *)t);
    }
    setenv("CNN_WINOGRAD", "all", 1); /* every case below through it, whatever its size */
    if (!cnn_gemm_fast()) {
        printf("skip our packed GEMM: this CPU has no AVX-512F (or CNN_GEMM=blas); OpenBLAS computes every product\n");
        return harness_finish();
    }
    static const gemm_case cases[] = {
        {8, 32, 16, false, false, false, false, false},  {13, 45, 7, false, false, false, false, false}, {1, 1, 1, false, false, false, false, false},
        {7, 31, 1, true, false, false, false, false},    {64, 196, 480, true, true, true, false, false}, {20, 33, 300, false, true, false, false, false},
        {3, 100, 50, true, false, true, false, false},   {130, 67, 9, false, true, true, false, false},  {9, 512, 64, true, true, false, false, false},
        {21, 70, 40, false, false, false, true, false}, {16, 35, 33, true, false, false, false, false},
        {11, 64, 17, true, false, false, true, false},   {64, 288, 196, true, false, false, false, false},
        /* edge panels of 1 and 12 columns (tile widths 8 and 16): 289 = 9 x 32 + 1, 300 = 9 x 32 + 12 */
        {16, 289, 40, false, true, true, false, false},  {24, 300, 70, true, false, false, true, false},
        /* edge panels of 18, 24 and 20 columns (width 24: 16 columns by 512-bit multiply-adds, 8 by 256-bit
         * ones), row panels of 4 or fewer rows (the first 4 rows only): LeNet-5's conv2 Winograd products */
        {20, 50, 20, false, false, false, false, false}, {20, 56, 168, false, false, false, true, false},
        {13, 20, 50, true, false, false, false, false},  {64, 88, 36, true, true, true, false, false},
        {4, 20, 9, false, true, false, true, false},
        /* B given transposed: weight gradients dy * col^T */
        {32, 96, 1024, true, false, false, false, true}, {50, 500, 64, true, false, false, false, true},
        {7, 45, 19, false, false, false, false, true},  {80, 720, 225, true, false, false, false, true}, {1, 1, 1, false, false, false, false, true},
        {32, 289, 64, false, false, false, false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[160];
        const gemm_case *t = &cases[i];
        snprintf(name, sizeof name, "packed GEMM %lldx%lldx%lld%s%s%s%s%s vs double, 1 and 2 threads the same bits", (long long)t->m,
                 (long long)t->n, (long long)t->k, t->trans_a ? " A^T" : "", t->trans_b ? " B^T" : "", t->accumulate ? " +C" : "",
                 t->epilogue ? (t->accumulate ? " scale/shift" : " bias scale/shift") : "", t->relu ? " relu" : "");
        harness_case(name, check_gemm, (void *)t);
    }
    static const wino_case wcases[] = {
        {1, 16, 16, 8, 8, {1, 1, 1, 1}, false, false, false, 0, 0, 0, 0},  {1, 19, 33, 13, 11, {1, 1, 1, 1}, true, false, true, 0, 0, 0, 0},
        {3, 32, 20, 7, 7, {1, 1, 1, 1}, true, true, false, 0, 0, 0, 0},    {2, 17, 48, 10, 9, {0, 0, 0, 0}, false, true, true, 0, 0, 0, 0},
        {1, 24, 16, 9, 14, {2, 0, 1, 2}, true, false, false, 0, 0, 0, 0},  {5, 16, 17, 6, 5, {0, 2, 2, 0}, true, true, false, 0, 0, 0, 0},
        {1, 64, 64, 40, 36, {1, 1, 1, 1}, true, true, true, 0, 0, 0, 0},   {9, 20, 36, 12, 12, {1, 1, 1, 1}, false, false, false, 0, 0, 0, 0},
        {2, 3, 5, 5, 6, {1, 1, 1, 1}, true, true, true, 0, 0, 0, 0},       {1, 1, 1, 3, 3, {0, 0, 0, 0}, true, false, false, 0, 0, 0, 0},
        /* first layers: windows straight into the GEMM's panels, rows moved 16 at a time at strides 1 and 2 */
        {1, 3, 64, 75, 69, {3, 3, 3, 3}, false, true, false, 7, 2, 0, 0}, {2, 3, 20, 45, 70, {1, 2, 0, 1}, true, false, false, 6, 1, 0, 0},
        {1, 1, 8, 50, 49, {1, 1, 1, 1}, true, false, false, 3, 3, 0, 0},  {3, 4, 33, 40, 41, {2, 2, 2, 2}, true, true, false, 5, 2, 0, 0},
        /* one block shared by the threads, output channels split at half a panel (conv_channel_share): googlenet's 14x14 at batch 1,
         * 7 panels of 32 (thread 1 from channel 48, inside a panel); 40 channels (channels 16-31, then a panel of 8) */
        {1, 32, 112, 14, 14, {1, 1, 1, 1}, true, true, false, 0, 0, 0, 0}, {1, 17, 40, 10, 12, {1, 1, 1, 1}, false, false, true, 0, 0, 0, 0},
        /* U of 4 MB or more: super-blocks of the batch's tiles (64: the second case runs three) */
        {3, 176, 176, 9, 9, {1, 1, 1, 1}, true, false, false, 0, 0, 0, 0}, {15, 176, 180, 12, 11, {1, 1, 0, 2}, true, true, false, 0, 0, 0, 0},
        /* column matrices of 2 MB or more: straight into the panels too (6x6: 5x5 at stride 1 is F(2x2, 5x5)'s) */
        {1, 32, 24, 48, 48, {2, 2, 2, 2}, true, true, false, 6, 1, 0, 0}, {1, 40, 16, 99, 99, {1, 1, 1, 1}, false, true, false, 3, 2, 0, 0},
        /* 5x5 by F(2x2, 5x5): inception_v3's 35x35 (48 -> 64), odd sizes after a kernel change, small planes (several samples a
         * block), a U of 4 MB or more (super-blocks), a 1x1 output */
        {1, 48, 64, 35, 35, {2, 2, 2, 2}, false, true, false, 5, 1, 0, 0}, {2, 19, 33, 13, 11, {2, 2, 2, 2}, true, false, true, 5, 1, 0, 0},
        {3, 16, 17, 6, 5, {0, 1, 2, 0}, true, true, false, 5, 1, 0, 0},   {2, 176, 176, 9, 9, {2, 2, 2, 2}, true, false, false, 5, 1, 0, 0},
        {1, 5, 3, 5, 5, {0, 0, 0, 0}, true, false, false, 5, 1, 0, 0},
        /* 1x7 and 7x1 by F(3, 7) (conv_winograd1d.c): inception_v3's 17x17 (4 blocks of 26 tiles at most, 2 panels of output channels), odd
         * output widths and heights (a tile's second output past the plane), batches, a residual-free epilogue */
        {1, 64, 48, 17, 17, {0, 0, 3, 3}, true, true, false, 0, 0, 1, 7}, {2, 48, 64, 17, 17, {3, 3, 0, 0}, true, false, false, 0, 0, 7, 1},
        {1, 16, 16, 9, 13, {0, 0, 2, 4}, false, false, true, 0, 0, 1, 7}, {3, 19, 33, 10, 6, {1, 2, 0, 0}, true, true, false, 0, 0, 7, 1},
        {2, 3, 5, 4, 7, {0, 0, 0, 0}, true, false, false, 0, 0, 1, 7},  {1, 5, 3, 7, 3, {0, 0, 1, 1}, false, false, false, 0, 0, 7, 1},
        {1, 20, 36, 40, 35, {0, 0, 3, 3}, true, true, false, 0, 0, 1, 7},
        /* 1x3 and 3x1 by F(4, 3): inception_v3's 8x8 (one block, shared by the threads), widths and heights not a multiple of 4 */
        {1, 64, 48, 8, 8, {0, 0, 1, 1}, true, true, false, 0, 0, 1, 3},   {1, 48, 64, 8, 8, {1, 1, 0, 0}, true, false, false, 0, 0, 3, 1},
        {2, 17, 40, 11, 10, {0, 0, 2, 0}, false, false, true, 0, 0, 1, 3}, {3, 16, 17, 9, 7, {2, 1, 0, 0}, true, true, false, 0, 0, 3, 1},
        {1, 3, 5, 5, 3, {0, 0, 0, 0}, true, false, false, 0, 0, 1, 3},    {1, 24, 80, 30, 21, {1, 1, 0, 0}, true, true, false, 0, 0, 3, 1},
        /* ... and output channels split at half a panel (48: thread 1 from channel 16) */
        {1, 40, 48, 8, 8, {0, 0, 1, 1}, true, true, false, 0, 0, 1, 3},
    };
    for (size_t i = 0; i < sizeof wcases / sizeof *wcases; i++) {
        char name[200];
        const wino_case *t = &wcases[i];
        snprintf(name, sizeof name, "conv2d %dx%d/%d %s N%lld C%lld K%lld %lldx%lld pads %d,%d,%d,%d%s%s%s vs double, 1 and 2 threads the same bits",
                 case_kh(t), case_kw(t), case_stride(t), t->kernel == 5 && case_stride(t) == 1 ? "F(2x2,5x5)" : t->kernel ? "panels" : t->kh == 7 || t->kw == 7 ? "F(3,7)" : t->kh ? "F(4,3)" : "Winograd", (long long)t->batch, (long long)t->c, (long long)t->k, (long long)t->h, (long long)t->w, t->pads[0], t->pads[1], t->pads[2],
                 t->pads[3], t->bias ? " bias" : "", t->bn_relu ? " bn relu" : "", t->refresh ? " after a kernel change" : "");
        harness_case(name, check_winograd, (void *)t);
    }
    harness_case("kernel stamps: any changed float, negated or swapped pairs change them", stamp_sees_changes, NULL);
    harness_case("eval max pool 3x3/1 pad 1, planes up to 32 wide: bitwise as the scalar order, NaNs and -inf", maxpool3x3s1_matches, NULL);
    harness_case("eval max pool 3x3/2, floor and ceil mode: bitwise as the scalar order, NaNs and -inf", maxpool3x3s2_matches, NULL);
    harness_case("training max pool 3x3/2: values and argmax as PyTorch's row-major loop, NaNs and -inf", maxpool3x3s2_argmax_matches, NULL);
    static const int stamp_kernels[3][2] = {{3, 3}, {5, 5}, {1, 7}};
    for (int i = 0; i < 3; i++) {
        char name[120];
        snprintf(name, sizeof name, "eval Winograd %dx%d: a kept plan follows kernel changes, bitwise as a new plan", stamp_kernels[i][0],
                 stamp_kernels[i][1]);
        harness_case(name, plans_follow_kernel_changes, (void *)stamp_kernels[i]);
        snprintf(name, sizeof name, "eval Winograd %dx%d: a frozen plan keeps its first kernels, a new one sees the change", stamp_kernels[i][0],
                 stamp_kernels[i][1]);
        harness_case(name, frozen_plans_keep_kernels, (void *)stamp_kernels[i]);
    }
    static const wino_train_case tcases[] = { /* Winograd from 16 input channels (conv_winograd_train.c); one: direct */
        {4, 16, 16, 8, 8, {1, 1, 1, 1}, true, 3},    {3, 19, 33, 13, 11, {1, 1, 1, 1}, true, 3}, {9, 17, 48, 10, 9, {0, 0, 0, 0}, false, 3},
        {2, 24, 16, 9, 14, {2, 0, 1, 2}, true, 3},   {5, 16, 17, 6, 5, {0, 2, 2, 0}, true, 3},   {3, 16, 96, 28, 28, {1, 1, 1, 1}, true, 3},
        {12, 33, 40, 7, 7, {1, 1, 1, 1}, false, 3},  {2, 70, 36, 15, 15, {1, 1, 1, 1}, true, 3}, {8, 16, 3, 5, 6, {2, 2, 2, 2}, true, 3},
        {1, 130, 5, 3, 3, {0, 0, 0, 0}, true, 3},     {9, 16, 16, 50, 50, {1, 1, 1, 1}, false, 3}, /* blocks of 512 tiles: flushed inside a sample */
        /* 5x5 by F(2x2, 5x5): LeNet-5's conv2, "same" pads, asymmetric ones, odd outputs, planes of several blocks, 40 input channels */
        {8, 20, 50, 12, 12, {0, 0, 0, 0}, true, 5}, {3, 16, 32, 9, 11, {2, 2, 2, 2}, true, 5}, {5, 17, 33, 10, 7, {1, 3, 4, 0}, false, 5},
        {2, 24, 16, 13, 9, {0, 1, 2, 2}, true, 5},  {2, 16, 20, 30, 30, {2, 2, 2, 2}, true, 5}, {9, 40, 17, 8, 8, {0, 0, 0, 0}, true, 5},
        /* one input plane, no input gradient: computed directly (conv_direct.c): LeNet-5's conv1 (two passes of 10 channels), 3x3
         * "same", 7x7 with uneven pads (taps a pass at a time; 9 channels: one pass of 10, partial), rows of 40 (three vectors, the
         * last part empty) and 33 output channels (passes of 8 and 1) */
        {4, 1, 20, 28, 28, {0, 0, 0, 0}, true, 5}, {3, 1, 16, 9, 11, {1, 1, 1, 1}, true, 3}, {2, 1, 9, 13, 10, {3, 2, 1, 3}, false, 7},
        {5, 1, 33, 6, 40, {2, 2, 2, 2}, true, 5},  {3, 1, 13, 10, 12, {1, 1, 1, 1}, false, 3}, /* weight gradients by groups of 5 (5x5) or 8 (3x3) channels, the last one partial */
    };
    harness_case("conv2d 5x5/1 training (direct, no dx): an infinity in the last input column reaches only the last kernel column's dW",
                 direct_dw_ignores_past_the_row, NULL);
    for (size_t i = 0; i < sizeof tcases / sizeof *tcases; i++) {
        char name[200];
        const wino_train_case *t = &tcases[i];
        char path[40];
        snprintf(path, sizeof path, t->c == 1 ? "direct, no dx" : "F(2x2,%dx%d)", t->r, t->r);
        snprintf(name, sizeof name, "conv2d %dx%d/1 training (%s) N%lld C%lld K%lld %lldx%lld pads %d,%d,%d,%d%s: y,%s dW, db vs double, 1 and 2 threads the same bits",
                 t->r, t->r, path, (long long)t->batch, (long long)t->c, (long long)t->k, (long long)t->h, (long long)t->w, t->pads[0], t->pads[1], t->pads[2],
                 t->pads[3], t->bias ? " bias" : "", t->c == 1 ? "" : " dx,");
        harness_case(name, check_winograd_train, (void *)t);
    }
    return harness_finish();
}
