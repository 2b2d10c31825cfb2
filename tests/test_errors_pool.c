/* test_errors_pool.c — pooling (2-D and 3-D) refusals and their messages, max-pool tie and eval paths, and thread-count
 * determinism. */
#include "cnn.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- refusals: each builder call returns NULL, leaves the graph as it was, and says why ---- */

typedef enum builder { MAX_EX, AVG_EX, MAX_SHORT, GLOBAL, ADAPTIVE, FLAT_MAX, FLAT_GLOBAL } builder;

typedef struct refusal {
    const char *label;
    builder kind;
    cnn_pool2d_params p;     /* MAX_EX / AVG_EX */
    int kernel, stride, pad; /* MAX_SHORT */
    int64_t out_h, out_w;    /* ADAPTIVE */
    const char *expect[3];   /* substrings of the message */
} refusal;

/* The pool `got` built on g (which held `nodes` nodes before) was refused: NULL, the graph as it
 * was, a one-line message naming 'bad_pool' with every expected part. Frees g. */
static int refused_in(cnn_graph *g, const cnn_node *got, int64_t nodes, const char *const expect[3]) {
    const char *msg = cnn_last_error();
    int64_t after = cnn_graph_node_count(g);
    cnn_graph_free(g);
    CHECK(!got, "the layer was accepted");
    CHECK(after == nodes, "the graph grew from %lld to %lld nodes", (long long)nodes, (long long)after);
    CHECK(strstr(msg, "'bad_pool'"), "message does not name the layer: %s", msg);
    CHECK(!strchr(msg, '\n'), "message is not one line: %s", msg);
    for (int i = 0; i < 3 && expect[i]; i++) CHECK(strstr(msg, expect[i]), "message lacks \"%s\": %s", expect[i], msg);
    return 0;
}

static int check_refusal(void *arg) {
    const refusal *r = arg;
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "graph: %s", cnn_last_error());
    cnn_node *x = cnn_input(g, "x", 3, 8, 8), *flat = cnn_flatten(g, x, "flat");
    int64_t nodes = cnn_graph_node_count(g);
    cnn_clear_error();
    cnn_node *got = NULL;
    switch (r->kind) {
    case MAX_EX: got = cnn_maxpool2d_ex(g, x, "bad_pool", &r->p); break;
    case AVG_EX: got = cnn_avgpool2d_ex(g, x, "bad_pool", &r->p); break;
    case MAX_SHORT: got = cnn_maxpool2d(g, x, "bad_pool", r->kernel, r->stride, r->pad, false); break;
    case GLOBAL: got = cnn_global_avgpool(g, x, "bad_pool"); break;
    case ADAPTIVE: got = cnn_adaptive_avgpool(g, x, "bad_pool", r->out_h, r->out_w); break;
    case FLAT_MAX: got = flat ? cnn_maxpool2d(g, flat, "bad_pool", 2, 2, 0, false) : NULL; break;
    case FLAT_GLOBAL: got = flat ? cnn_global_avgpool(g, flat, "bad_pool") : NULL; break;
    }
    return refused_in(g, got, nodes, r->expect);
}

#define K3(...) {.kernel_h = 3, .kernel_w = 3, __VA_ARGS__}
static const refusal refusals[] = {
    {"maxpool: rank-2 input", FLAT_MAX, .expect = {"maxpool2d", "4-D", "(N,192)"}},
    {"global_avgpool: rank-2 input", FLAT_GLOBAL, .expect = {"global_avgpool", "4-D", "(N,192)"}},
    {"maxpool: kernel 0", MAX_EX, {.kernel_h = 0, .kernel_w = 3}, .expect = {"kernel 0x3", "(N,3,8,8)"}},
    {"avgpool: kernel -1", AVG_EX, {.kernel_h = 2, .kernel_w = -1}, .expect = {"avgpool2d", "kernel 2x-1", "(N,3,8,8)"}},
    {"maxpool: stride -1", MAX_EX, K3(.stride_h = 1, .stride_w = -1), .expect = {"stride 1x-1", "(N,3,8,8)"}},
    {"maxpool short: kernel 0", MAX_SHORT, .kernel = 0, .stride = 1, .expect = {"kernel 0x0"}},
    {"maxpool short: stride -2", MAX_SHORT, .kernel = 2, .stride = -2, .expect = {"stride -2x-2"}},
    {"maxpool: pad 2 with kernel 3", MAX_EX, K3(.pad_top = 2, .pad_bottom = 2, .pad_left = 2, .pad_right = 2),
     .expect = {"pad should be at most half of kernel size", "kernel 3x3", "(N,3,8,8)"}},
    {"maxpool short: pad 2 with kernel 3", MAX_SHORT, .kernel = 3, .stride = 1, .pad = 2,
     .expect = {"pad should be at most half of kernel size"}},
    {"avgpool: right pad 2 with kernel width 3", AVG_EX, K3(.pad_right = 2),
     .expect = {"avgpool2d", "pad should be at most half of kernel size", "right 2"}},
    {"avgpool: bottom pad 1 with kernel height 1", AVG_EX, {.kernel_h = 1, .kernel_w = 3, .pad_bottom = 1},
     .expect = {"pad should be at most half of kernel size"}},
    {"maxpool: negative pad", MAX_EX, K3(.pad_left = -1), .expect = {"maxpool2d", "negative padding", "(N,3,8,8)"}},
    {"maxpool: unknown padding mode", MAX_EX, K3(.padding = -7), .expect = {"unknown padding mode", "(N,3,8,8)"}},
    {"maxpool: kernel larger than the input", MAX_EX, {.kernel_h = 9, .kernel_w = 2},
     .expect = {"larger than the padded input 8x8", "reach zero", "(N,3,8,8)"}},
    {"avgpool: kernel larger than the padded input", AVG_EX,
     {.kernel_h = 2, .kernel_w = 11, .pad_left = 1, .pad_right = 1},
     .expect = {"kernel 2x11 larger than the padded input 8x10", "reach zero"}},
    {"maxpool: dilation -1", MAX_EX, K3(.dilation_h = -1, .dilation_w = 1), .expect = {"maxpool2d", "dilation -1x1", "(N,3,8,8)"}},
    {"avgpool: dilation 2", AVG_EX, K3(.dilation_h = 2, .dilation_w = 2), .expect = {"avgpool2d", "dilation 2x2", "max pooling only"}},
    {"maxpool: dilated kernel larger than the input", MAX_EX, K3(.dilation_h = 4, .dilation_w = 1),
     .expect = {"kernel 3x3 (dilated) larger than the padded input 8x8", "reach zero"}},
    {"maxpool short: kernel 9 valid", MAX_SHORT, .kernel = 9, .stride = 1, .pad = CNN_PAD_VALID, .expect = {"reach zero"}},
    {"adaptive: output 0x3", ADAPTIVE, .out_h = 0, .out_w = 3, .expect = {"adaptive_avgpool", "0x3", "(N,3,8,8)"}},
    {"adaptive: output 2x-1", ADAPTIVE, .out_h = 2, .out_w = -1, .expect = {"at least 1x1"}},
    {"adaptive: output too large", ADAPTIVE, .out_h = INT64_MAX / 4, .out_w = 1, .expect = {"too large"}},
};

/* 3-D pools: refusals on an (N,3,4,8,8) input (or the (N,3,8,8) one, `four_d`). */
typedef struct refusal3d {
    const char *label;
    bool max, four_d;
    cnn_pool3d_params p;
    const char *expect[3];
} refusal3d;

static int check_refusal3d(void *arg) {
    const refusal3d *r = arg;
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "graph: %s", cnn_last_error());
    const int64_t dims[5] = {0, 3, 4, 8, 8};
    cnn_node *x = r->four_d ? cnn_input(g, "x", 3, 8, 8) : cnn_input_nd(g, "x", 5, dims);
    int64_t nodes = cnn_graph_node_count(g);
    cnn_clear_error();
    cnn_node *got = r->max ? cnn_maxpool3d_ex(g, x, "bad_pool", &r->p) : cnn_avgpool3d_ex(g, x, "bad_pool", &r->p);
    return refused_in(g, got, nodes, r->expect);
}

#define K333(...) {.kernel = {3, 3, 3}, __VA_ARGS__}
static const refusal3d refusals3d[] = {
    {"maxpool3d: rank-4 input", true, true, K333(), {"maxpool3d", "5-D input (N,C,D,H,W)", "(N,3,8,8)"}},
    {"avgpool3d: rank-4 input", false, true, K333(), {"avgpool3d", "5-D", "(N,3,8,8)"}},
    {"maxpool3d: kernel 0", true, false, {.kernel = {3, 0, 3}}, {"kernel 3x0x3 must be at least 1x1x1", "(N,3,4,8,8)"}},
    {"avgpool3d: stride -1", false, false, K333(.stride = {1, 1, -1}), {"avgpool3d", "stride 1x1x-1"}},
    {"maxpool3d: dilation -1", true, false, K333(.dilation = {-1, 1, 1}), {"dilation -1x1x1"}},
    {"avgpool3d: dilation 2", false, false, K333(.dilation = {1, 2, 1}), {"dilation 1x2x1", "max pooling only"}},
    {"maxpool3d: negative pad", true, false, K333(.pad_after = {0, -1, 0}), {"negative padding", "after 0,-1,0"}},
    {"maxpool3d: pad 2 with kernel 3", true, false, K333(.pad_before = {0, 2, 0}),
     {"pad should be at most half of kernel size", "before 0,2,0 after 0,0,0", "kernel 3x3x3"}},
    {"avgpool3d: pad 1 with kernel depth 1", false, false, {.kernel = {1, 3, 3}, .pad_after = {1, 0, 0}},
     {"pad should be at most half of kernel size"}},
    {"maxpool3d: large pads, pad 3 with kernel 3", true, false, K333(.pad_before = {3, 0, 0}, .large_pads = true),
     {"pad should be at most one less than the kernel size"}},
    {"maxpool3d: kernel deeper than the input", true, false, {.kernel = {5, 1, 1}},
     {"kernel 5x1x1 larger than the padded input 4x8x8", "reach zero", "(N,3,4,8,8)"}},
    {"avgpool3d: kernel larger than the padded input", false, false,
     {.kernel = {2, 2, 11}, .pad_before = {0, 0, 1}, .pad_after = {0, 0, 1}},
     {"kernel 2x2x11 larger than the padded input 4x8x10", "reach zero"}},
    {"maxpool3d: dilated kernel larger than the input", true, false, K333(.dilation = {2, 1, 1}),
     {"kernel 3x3x3 (dilated) larger than the padded input 4x8x8"}},
};

/* What the 3-D pools build: output shapes (ceil mode, large pads), op names, counts, NULL parameters. */
static int pool3d_shapes(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    const int64_t dims[5] = {0, 3, 5, 8, 7};
    cnn_node *x = cnn_input_nd(g, "x", 5, dims);
    cnn_pool3d_params ceil = K333(.stride = {2, 2, 2}, .ceil_mode = true);                /* 5,8,7 -> 2,4,3 */
    cnn_pool3d_params large = K333(.pad_before = {2, 2, 0}, .large_pads = true);         /* stride 0: 3 -> 2,3,2 */
    cnn_pool3d_params avg = {.kernel = {1, 2, 2}, .stride = {1, 2, 2}};                   /* 5,4,3 */
    cnn_node *m = cnn_maxpool3d_ex(g, x, "ceil", &ceil), *l = cnn_maxpool3d_ex(g, x, "large", &large);
    cnn_node *a = cnn_avgpool3d_ex(g, x, "avg", &avg);
    cnn_node *none = cnn_avgpool3d_ex(g, x, "none", NULL);
    char why[512];
    snprintf(why, sizeof why, "%s", cnn_last_error());
    int64_t dm[CNN_MAX_RANK] = {0}, dl[CNN_MAX_RANK] = {0}, da[CNN_MAX_RANK] = {0};
    cnn_node_shape(m, dm), cnn_node_shape(l, dl), cnn_node_shape(a, da);
    const bool names = m && a && strcmp(cnn_node_op(m), "maxpool3d") == 0 && strcmp(cnn_node_op(a), "avgpool3d") == 0;
    const int64_t macs_m = cnn_node_macs(m), macs_a = cnn_node_macs(a);
    const int rank_m = cnn_node_rank(m);
    cnn_graph_free(g);
    CHECK(m && l && a, "building: %s", why);
    CHECK(!none && strstr(why, "'none'") && strstr(why, "NULL"), "NULL parameters: %s", why);
    CHECK(rank_m == 5 && dm[1] == 3 && dm[2] == 2 && dm[3] == 4 && dm[4] == 3, "ceil pool gives %lldx%lldx%lld",
          (long long)dm[2], (long long)dm[3], (long long)dm[4]);
    CHECK(dl[2] == 2 && dl[3] == 3 && dl[4] == 2, "large-pad pool gives %lldx%lldx%lld", (long long)dl[2], (long long)dl[3],
          (long long)dl[4]);
    CHECK(da[2] == 5 && da[3] == 4 && da[4] == 3, "avg pool gives %lldx%lldx%lld", (long long)da[2], (long long)da[3],
          (long long)da[4]);
    CHECK(names, "op names");
    CHECK(macs_m == 3 * 2 * 4 * 3 * 27 && macs_a == 3 * 5 * 4 * 3 * 4, "macs %lld, %lld", (long long)macs_m, (long long)macs_a);
    return 0;
}

/* A NULL input returns NULL and keeps the first error. */
static int null_input_keeps_error(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 1, 4, 4);
    cnn_node *bad = cnn_maxpool2d(g, x, "first", 0, 1, 0, false);
    cnn_node *next = cnn_avgpool2d(g, bad, "second", 2, 2, 0, false, true);
    cnn_node *global = cnn_global_avgpool(g, next, "third");
    cnn_node *adaptive = cnn_adaptive_avgpool(g, global, "fourth", 1, 1);
    const char *msg = cnn_last_error();
    int ok = !bad && !next && !global && !adaptive && strstr(msg, "'first'") != NULL;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", msg);
    cnn_graph_free(g);
    CHECK(ok, "a NULL input should return NULL and keep the first error, got: %s", copy);
    return 0;
}

/* ---- running one pooling layer ---- */

typedef struct pool_case {
    const char *label;
    bool max;
    cnn_pool2d_params p;
    int64_t n, c, h, w;
    int64_t d;               /* > 0: a 3-D pool (p3) of (N,C,D,H,W) */
    cnn_pool3d_params p3;
} pool_case;

static cnn_node *build_pool(cnn_graph *g, const pool_case *pc) {
    if (pc->d > 0) {
        const int64_t dims[5] = {0, pc->c, pc->d, pc->h, pc->w};
        cnn_node *x = cnn_input_nd(g, "x", 5, dims);
        cnn_node *y = pc->max ? cnn_maxpool3d_ex(g, x, "pool", &pc->p3) : cnn_avgpool3d_ex(g, x, "pool", &pc->p3);
        return y && cnn_graph_add_output(g, y, 0) == 0 ? y : NULL;
    }
    cnn_node *x = cnn_input(g, "x", pc->c, pc->h, pc->w);
    cnn_node *y = pc->max ? cnn_maxpool2d_ex(g, x, "pool", &pc->p) : cnn_avgpool2d_ex(g, x, "pool", &pc->p);
    if (!y || cnn_graph_add_output(g, y, 0)) return NULL;
    return y;
}

/* Forward with input x and backward with upstream dy; copies y and dx out (malloc'd). */
static int run_once(cnn_plan *p, const float *x, const float *dy, float **y, float **dx, int64_t *ny, int64_t *nx) {
    cnn_tensor *in = cnn_plan_input(p, 0);
    *nx = cnn_tensor_numel(in);
    memcpy(in->data, x, (size_t)*nx * sizeof(float));
    if (cnn_plan_forward(p)) return -1;
    const cnn_tensor *out = cnn_plan_output(p, 0);
    *ny = cnn_tensor_numel(out);
    *y = malloc((size_t)*ny * sizeof(float));
    memcpy(*y, out->data, (size_t)*ny * sizeof(float));
    *dx = NULL;
    if (!dy) return 0;
    cnn_tensor *dout = cnn_plan_output_grad(p, 0);
    memcpy(dout->data, dy, (size_t)*ny * sizeof(float));
    if (cnn_plan_backward(p)) return -1;
    *dx = malloc((size_t)*nx * sizeof(float));
    memcpy(*dx, cnn_plan_input_grad(p, 0)->data, (size_t)*nx * sizeof(float));
    return 0;
}

static float hash_float(uint64_t i) {
    uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Same forward and backward bits with 1 and 2 threads; eval mode gives the same output too. */
static int threads_identical(void *arg) {
    const pool_case *pc = arg;
    cnn_graph *g = cnn_graph_create();
    int result = -1;
    cnn_plan *train = NULL, *eval = NULL;
    float *x = NULL, *dy = NULL, *y1 = NULL, *dx1 = NULL, *y2 = NULL, *dx2 = NULL, *ye = NULL, *none = NULL;
    if (!build_pool(g, pc) || !(train = cnn_plan_create(g, pc->n, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD)) ||
        !(eval = cnn_plan_create(g, pc->n, 0))) {
        harness_message(__FILE__, __LINE__, "setup: %s", cnn_last_error());
        goto done;
    }
    int64_t nx = cnn_tensor_numel(cnn_plan_input(train, 0)), ny = cnn_tensor_numel(cnn_plan_output(train, 0)), mx, my;
    x = malloc((size_t)nx * sizeof(float));
    dy = malloc((size_t)ny * sizeof(float));
    for (int64_t i = 0; i < nx; i++) x[i] = hash_float((uint64_t)i);
    for (int64_t i = 0; i < ny; i++) dy[i] = hash_float((uint64_t)(i + nx));
    cnn_set_threads(1);
    if (run_once(train, x, dy, &y1, &dx1, &my, &mx)) goto fail_run;
    cnn_set_threads(2);
    if (run_once(train, x, dy, &y2, &dx2, &my, &mx)) goto fail_run;
    if (run_once(eval, x, NULL, &ye, &none, &my, &mx)) goto fail_run;
    if (memcmp(y1, y2, (size_t)ny * sizeof(float)) || memcmp(dx1, dx2, (size_t)nx * sizeof(float))) {
        harness_message(__FILE__, __LINE__, "1 and 2 threads differ");
        goto done;
    }
    if (memcmp(y1, ye, (size_t)ny * sizeof(float))) {
        harness_message(__FILE__, __LINE__, "eval output differs from train output");
        goto done;
    }
    result = 0;
    goto done;
fail_run:
    harness_message(__FILE__, __LINE__, "run: %s", cnn_last_error());
done:
    cnn_set_threads(0);
    free(x), free(dy), free(y1), free(dx1), free(y2), free(dx2), free(ye), free(none);
    cnn_plan_free(train);
    cnn_plan_free(eval);
    cnn_graph_free(g);
    return result;
}

static const pool_case determinism_cases[] = {
    {"maxpool 3x3 s2 pad 1 ceil", true, K3(.stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                                           .pad_right = 1, .ceil_mode = true), 5, 7, 17, 14, .d = 0},
    {"avgpool 3x3 s1 pad 1 exclude pad", false, K3(.stride_h = 1, .stride_w = 1, .pad_top = 1, .pad_bottom = 1,
                                                   .pad_left = 1, .pad_right = 1), 5, 7, 13, 12, .d = 0},
    {"avgpool 3x3 s2 same", false, K3(.stride_h = 2, .stride_w = 2, .padding = CNN_PAD_SAME), 3, 6, 16, 11, .d = 0},
    {"maxpool3d 3x3x3 s2 pad 1 ceil, dilation 1x2x1", true, .n = 5, .c = 4, .d = 7, .h = 9, .w = 8,
     .p3 = {.kernel = {3, 3, 3}, .stride = {2, 2, 2}, .pad_before = {1, 1, 1}, .pad_after = {1, 1, 1}, .ceil_mode = true,
            .dilation = {1, 2, 1}}},
    {"avgpool3d 3x2x3 s1x2x2 asymmetric pads, exclude pad", false, .n = 5, .c = 3, .d = 6, .h = 9, .w = 7,
     .p3 = {.kernel = {3, 2, 3}, .stride = {1, 2, 2}, .pad_before = {1, 0, 1}, .pad_after = {0, 1, 1}}},
};

/* Ties go to the first maximum in scan order (PyTorch): a constant input routes each window's
 * gradient to its top-left real cell. */
static int max_ties_first(void *arg) {
    (void)arg;
    pool_case pc = {"ties", true, K3(.stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                                      .pad_right = 1), 1, 1, 5, 5, .d = 0};
    cnn_graph *g = cnn_graph_create();
    cnn_plan *p = build_pool(g, &pc) ? cnn_plan_create(g, 1, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD) : NULL;
    float x[25], dy[9], *y = NULL, *dx = NULL;
    int64_t nx, ny;
    for (int i = 0; i < 25; i++) x[i] = 1.5f;
    for (int i = 0; i < 9; i++) dy[i] = (float)(i + 1);
    int rc = p ? run_once(p, x, dy, &y, &dx, &ny, &nx) : -1;
    char err[256];
    snprintf(err, sizeof err, "%s", cnn_last_error());
    cnn_plan_free(p);
    cnn_graph_free(g);
    int bad = rc || ny != 9;
    /* 5x5, k3 s2 pad 1: windows start at rows/cols -1, 1, 3 -> first real cells 0, 1, 3. */
    const int first[3] = {0, 1, 3};
    float want[25] = {0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) want[first[i] * 5 + first[j]] += dy[i * 3 + j];
    for (int i = 0; !bad && i < 9; i++) bad = y[i] != 1.5f;
    for (int i = 0; !bad && i < 25; i++) bad = dx[i] != want[i];
    free(y);
    free(dx);
    CHECK(!rc, "run: %s", err);
    CHECK(!bad, "ties did not route the gradient to the first maximum");
    return 0;
}

/* A NaN in a window wins, as in PyTorch. */
static int max_nan_propagates(void *arg) {
    (void)arg;
    pool_case pc = {"nan", true, {.kernel_h = 2, .kernel_w = 2}, 1, 1, 2, 4, .d = 0};
    cnn_graph *g = cnn_graph_create();
    cnn_plan *p = build_pool(g, &pc) ? cnn_plan_create(g, 1, 0) : NULL;
    float x[8] = {1, NAN, 3, 4, 5, 6, 7, 2}, *y = NULL, *none = NULL;
    int64_t nx, ny;
    int rc = p ? run_once(p, x, NULL, &y, &none, &ny, &nx) : -1;
    int ok = rc == 0 && ny == 2 && isnan(y[0]) && y[1] == 7.0f;
    free(y);
    cnn_plan_free(p);
    cnn_graph_free(g);
    CHECK(ok, "expected (NaN, 7)");
    return 0;
}

/* Output shapes and per-sample counts. */
static int shapes_and_macs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 112, 112);
    cnn_node *m = cnn_maxpool2d(g, x, "googlenet_pool", 3, 2, 0, true);            /* 112 -> 56 */
    cnn_node *s = cnn_maxpool2d(g, x, "same_pool", 3, 2, CNN_PAD_SAME, false);      /* 112 -> 56 */
    cnn_node *a = cnn_avgpool2d(g, cnn_input(g, "aux", 4, 14, 14), "aux_pool", 5, 3, 0, false, true); /* 14 -> 4 */
    cnn_node *gl = cnn_global_avgpool(g, a, "gap");
    cnn_node *ad = cnn_adaptive_avgpool(g, x, "adaptive", 7, 7);
    CHECK(m && s && a && gl && ad, "building: %s", cnn_last_error());
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(m, d);
    CHECK(d[1] == 3 && d[2] == 56 && d[3] == 56, "googlenet pool gives %lldx%lld", (long long)d[2], (long long)d[3]);
    cnn_node_shape(s, d);
    CHECK(d[2] == 56 && d[3] == 56, "same pool gives %lldx%lld", (long long)d[2], (long long)d[3]);
    cnn_node_shape(a, d);
    CHECK(d[1] == 4 && d[2] == 4 && d[3] == 4, "aux pool gives %lldx%lld", (long long)d[2], (long long)d[3]);
    cnn_node_shape(gl, d);
    CHECK(cnn_node_rank(gl) == 4 && d[1] == 4 && d[2] == 1 && d[3] == 1, "global pool gives %lldx%lld", (long long)d[2],
          (long long)d[3]);
    CHECK(strcmp(cnn_node_op(m), "maxpool2d") == 0 && strcmp(cnn_node_op(a), "avgpool2d") == 0 &&
              strcmp(cnn_node_op(gl), "global_avgpool") == 0 && strcmp(cnn_node_op(ad), "adaptive_avgpool") == 0,
          "op names");
    CHECK(cnn_node_macs(m) == 3 * 56 * 56 * 9, "maxpool macs %lld", (long long)cnn_node_macs(m));
    CHECK(cnn_node_macs(a) == 4 * 4 * 4 * 25, "avgpool macs %lld", (long long)cnn_node_macs(a));
    CHECK(cnn_node_macs(gl) == 4 * 4 * 4, "global macs %lld", (long long)cnn_node_macs(gl));
    /* 112 over 7 bins of 16: every input read once. */
    CHECK(cnn_node_macs(ad) == 3 * 112 * 112, "adaptive macs %lld", (long long)cnn_node_macs(ad));
    cnn_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    char label[200];
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        snprintf(label, sizeof label, "refuses %s", refusals[i].label);
        harness_case(label, check_refusal, (void *)&refusals[i]);
    }
    for (size_t i = 0; i < sizeof refusals3d / sizeof *refusals3d; i++) {
        snprintf(label, sizeof label, "refuses %s", refusals3d[i].label);
        harness_case(label, check_refusal3d, (void *)&refusals3d[i]);
    }
    harness_case("a NULL input keeps the first error", null_input_keeps_error, NULL);
    harness_case("3-D pools: shapes, op names, macs, NULL parameters", pool3d_shapes, NULL);
    for (size_t i = 0; i < sizeof determinism_cases / sizeof *determinism_cases; i++) {
        snprintf(label, sizeof label, "%s: 1 and 2 threads bitwise identical, eval = train", determinism_cases[i].label);
        harness_case(label, threads_identical, (void *)&determinism_cases[i]);
    }
    harness_case("max pool ties go to the first maximum", max_ties_first, NULL);
    harness_case("max pool propagates NaN", max_nan_propagates, NULL);
    harness_case("shapes and macs", shapes_and_macs, NULL);
    return harness_finish();
}
