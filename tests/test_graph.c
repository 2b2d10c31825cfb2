/* test_graph.c — the core: builder, scopes, parameters, plans, gradient summation, safetensors I/O,
 * weight loading and their refusals. Usage: test_graph [TMP_DIR] */
#include "cnn.h"
#include "harness.h"
#include "../src/core/internal.h" /* cnn_plan_section_count */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[512] = "/tmp";

static const char *tmp_path(const char *name) {
    static char buf[2][1024];
    static int which;
    which ^= 1;
    snprintf(buf[which], sizeof buf[which], "%s/%s", tmp_dir, name);
    return buf[which];
}

static bool has(const char *needle) { return strstr(cnn_last_error(), needle) != NULL; }

/* ---- builder ---- */

static int scoped_parameter_names(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_flatten(g, cnn_input(g, "x", 4, 1, 1), "flat");
    cnn_scope_push(g, "inception3a");
    cnn_scope_push(g, "branch%d", 2);
    cnn_scope_push(g, "1");
    x = cnn_dense(g, x, "fc", 3, true);
    cnn_scope_pop(g);
    cnn_scope_pop(g);
    cnn_scope_pop(g);
    CHECK(x, "%s", cnn_last_error());
    cnn_param p;
    CHECK(cnn_param_find(g, "inception3a.branch2.1.fc.weight", &p) == 0, "%s", cnn_last_error());
    CHECK(p.rank == 2 && p.shape[0] == 3 && p.shape[1] == 4 && p.trainable, "weight shape");
    CHECK(cnn_param_find(g, "inception3a.branch2.1.fc.bias", &p) == 0, "%s", cnn_last_error());
    CHECK(strcmp(cnn_node_name(x), "inception3a.branch2.1.fc") == 0, "node name %s", cnn_node_name(x));
    CHECK(cnn_param_find(g, "fc.weight", &p) != 0 && has("no parameter named 'fc.weight'"), "%s", cnn_last_error());
    cnn_graph_free(g);
    return 0;
}

static int duplicate_layer_name_refused(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 2, 3, 3);
    CHECK(cnn_relu(g, x, "act"), "%s", cnn_last_error());
    int64_t nodes = cnn_graph_node_count(g);
    CHECK(!cnn_relu(g, x, "act"), "duplicate accepted");
    CHECK(has("relu 'act': a layer of that name already exists"), "%s", cnn_last_error());
    CHECK(cnn_graph_node_count(g) == nodes, "failed call changed the graph");
    cnn_graph_free(g);
    return 0;
}

static int null_input_keeps_first_error(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 0, 3, 3);
    CHECK(!x && has("input 'x': shape 0x3x3 must be positive"), "%s", cnn_last_error());
    char first[512];
    snprintf(first, sizeof first, "%s", cnn_last_error());
    x = cnn_sigmoid(g, cnn_relu(g, x, "a"), "b");
    CHECK(!x && strcmp(first, cnn_last_error()) == 0, "error replaced: %s", cnn_last_error());
    CHECK(cnn_graph_add_output(g, x, 0) != 0, "NULL output accepted");
    cnn_graph_free(g);
    return 0;
}

static int oversized_input_refused(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    CHECK(!cnn_input(g, "x", INT64_MAX / 2, 4, 4), "overflowing input accepted");
    CHECK(has("input 'x'"), "%s", cnn_last_error());
    cnn_graph_free(g);
    return 0;
}

static int init_is_seeded_and_pytorch_bounded(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_dense(g, cnn_flatten(g, cnn_input(g, "x", 100, 1, 1), "f"), "fc", 50, true);
    CHECK(x, "%s", cnn_last_error());
    cnn_param w;
    cnn_param_find(g, "fc.weight", &w);
    float bound = 1.0f / sqrtf(100.0f), lo = 1, hi = -1;
    cnn_graph_init_params(g, 7);
    float *first = malloc((size_t)w.numel * sizeof(float));
    memcpy(first, w.data, (size_t)w.numel * sizeof(float));
    for (int64_t i = 0; i < w.numel; i++) {
        lo = fminf(lo, w.data[i]);
        hi = fmaxf(hi, w.data[i]);
    }
    cnn_graph_init_params(g, 7);
    int same = memcmp(first, w.data, (size_t)w.numel * sizeof(float)) == 0;
    cnn_graph_init_params(g, 8);
    int differs = memcmp(first, w.data, (size_t)w.numel * sizeof(float)) != 0;
    free(first);
    cnn_graph_free(g);
    CHECK(same && differs, "seeding: same %d differs %d", same, differs);
    CHECK(lo >= -bound && hi <= bound && lo < -0.9f * bound && hi > 0.9f * bound, "range [%g,%g] vs bound %g", lo, hi, bound);
    return 0;
}

/* ---- plans ---- */

static int plan_refusals(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_relu(g, cnn_input(g, "x", 2, 3, 3), "r");
    CHECK(!cnn_plan_create(g, 2, 0) && has("no output"), "%s", cnn_last_error());
    cnn_graph_add_output(g, x, 0);
    CHECK(!cnn_plan_create(g, 0, 0) && has("batch size must be positive"), "%s", cnn_last_error());
    CHECK(!cnn_plan_create(g, 2, CNN_PLAN_INPUT_GRAD) && has("training plan"), "%s", cnn_last_error());
    cnn_plan *p = cnn_plan_create(g, 2, 0);
    CHECK(p, "%s", cnn_last_error());
    CHECK(cnn_plan_backward(p) != 0 && has("training plan"), "%s", cnn_last_error());
    CHECK(!cnn_plan_output(p, 1) && has("no output 1"), "%s", cnn_last_error());
    cnn_relu(g, x, "later");
    CHECK(cnn_plan_forward(p) != 0 && has("graph changed"), "%s", cnn_last_error());
    cnn_plan_free(p);
    cnn_graph_free(g);
    return 0;
}

static int eval_plan_drops_train_only_outputs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 2, 3, 3);
    cnn_node *main_head = cnn_relu(g, x, "main");
    cnn_node *aux = cnn_tanh(g, cnn_sigmoid(g, x, "aux_a"), "aux_b");
    cnn_graph_add_output(g, main_head, 0);
    cnn_graph_add_output(g, aux, CNN_OUTPUT_TRAIN_ONLY);
    cnn_plan *eval = cnn_plan_create(g, 1, 0), *train = cnn_plan_create(g, 1, CNN_PLAN_TRAIN);
    CHECK(eval && train, "%s", cnn_last_error());
    CHECK(cnn_plan_output_count(eval) == 1 && cnn_plan_output_count(train) == 2, "output counts %d %d",
          cnn_plan_output_count(eval), cnn_plan_output_count(train));
    CHECK(cnn_plan_value(eval, aux) == NULL && cnn_plan_value(train, aux) != NULL, "aux branch planned in eval");
    CHECK(cnn_plan_memory(eval) < cnn_plan_memory(train), "eval plan not smaller");
    cnn_plan_free(eval);
    cnn_plan_free(train);
    cnn_graph_free(g);
    return 0;
}

/* x -> a = relu(x), b = sigmoid(x), t = tanh(x) -> c = concat(a, b, t), with t also an output:
 * a and b are computed in place inside c (value and gradient), t keeps its own buffer; the
 * concat's value and the input gradient are what separate buffers would give. */
static int concat_inputs_are_slices(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 2, 2, 3);
    cnn_node *a = cnn_relu(g, x, "a"), *b = cnn_sigmoid(g, x, "b"), *t = cnn_tanh(g, x, "t");
    cnn_node *parts[3] = {a, b, t};
    cnn_node *c = cnn_concat(g, 3, parts, "c");
    cnn_graph_add_output(g, c, 0);
    cnn_graph_add_output(g, t, 0);
    cnn_plan *p = cnn_plan_create(g, 2, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD);
    CHECK(p, "%s", cnn_last_error());
    const cnn_tensor *va = cnn_plan_value(p, a), *vb = cnn_plan_value(p, b), *vt = cnn_plan_value(p, t), *vc = cnn_plan_value(p, c);
    CHECK(va->data == vc->data && vb->data == vc->data + 12 && va->stride[0] == 36 && vb->stride[0] == 36,
          "a and b are not slices of the concat");
    CHECK(vt->data != vc->data + 24 && vt->stride[0] == 12, "an output was made a slice");
    CHECK(cnn_plan_grad(p, a)->data == cnn_plan_grad(p, c)->data, "a's gradient is not the concat's");
    cnn_tensor *in = cnn_plan_input(p, 0);
    for (int i = 0; i < 24; i++) in->data[i] = (float)(i % 7) * 0.5f - 1.5f;
    CHECK(cnn_plan_forward(p) == 0, "%s", cnn_last_error());
    cnn_tensor *gc = cnn_plan_output_grad(p, 0), *gt = cnn_plan_output_grad(p, 1);
    for (int i = 0; i < 72; i++) gc->data[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 24; i++) gt->data[i] = 0.25f;
    CHECK(cnn_plan_backward(p) == 0, "%s", cnn_last_error());
    const cnn_tensor *dx = cnn_plan_input_grad(p, 0);
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 12; j++) {
            float v = in->data[s * 12 + j], sg = 1.0f / (1.0f + expf(-v)), th = tanhf(v);
            float ya = vc->data[s * 36 + j], yb = vc->data[s * 36 + 12 + j], yt = vc->data[s * 36 + 24 + j];
            CHECK(ya == (v > 0 ? v : 0.0f) && fabsf(yb - sg) < 1e-6f && fabsf(yt - th) < 1e-6f, "concat value at %d,%d", s, j);
            float want = (v > 0 ? gc->data[s * 36 + j] : 0.0f) + sg * (1 - sg) * gc->data[s * 36 + 12 + j] +
                         (1 - th * th) * (gc->data[s * 36 + 24 + j] + 0.25f);
            CHECK(fabsf(dx->data[s * 12 + j] - want) < 1e-5f, "dx at %d,%d: %g, want %g", s, j, dx->data[s * 12 + j], want);
        }
    cnn_plan_free(p);
    cnn_graph_free(g);
    return 0;
}

/* Batch norms' running statistics away from their defaults 0 and 1 (the fusion tests). */
static void stats_off_defaults(cnn_graph *g) {
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param prm;
        cnn_param_get(g, i, &prm);
        for (int64_t j = 0; !prm.trainable && j < prm.numel; j++) prm.data[j] = 0.3f + 0.1f * (float)(j % 4);
    }
}

/* A plan's input: values in [-1, 1], the same for any plan of the same shape. */
static cnn_tensor *fill_input(cnn_plan *p) {
    cnn_tensor *in = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(in); i++) in->data[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    return in;
}

/* The same input into two plans of one graph. */
static void fill_inputs(cnn_plan *a, cnn_plan *b) {
    fill_input(a);
    fill_input(b);
}

/* conv -> batchnorm -> relu and conv(bias) -> relu run as one convolution in eval plans: the same
 * bits as the layers one by one (CNN_PLAN_UNFUSED), the folded layers' values hidden; a conv that
 * is an output itself, or whose batch norm feeds two layers, is not folded past that point. */
static int eval_fusion_matches_unfused(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 6, 5);
    cnn_node *c1 = cnn_conv2d(g, x, "c1", 4, 3, 3, 1, 1, false), *b1 = cnn_batchnorm(g, c1, "b1", 1e-3f, 0.1f);
    cnn_node *r1 = cnn_relu(g, b1, "r1");
    cnn_node *c2 = cnn_conv2d(g, r1, "c2", 5, 1, 1, 1, 0, true), *r2 = cnn_relu(g, c2, "r2");
    cnn_node *c3 = cnn_conv2d(g, r2, "c3", 3, 3, 3, 2, 1, false), *b3 = cnn_batchnorm(g, c3, "b3", 1e-5f, 0.1f);
    cnn_node *r3 = cnn_relu(g, b3, "r3"), *t3 = cnn_tanh(g, b3, "t3"); /* b3 feeds two: only c3 -> b3 folds */
    cnn_graph_add_output(g, r3, 0);
    cnn_graph_add_output(g, t3, 0);
    CHECK(cnn_graph_init_params(g, 7) == 0, "%s", cnn_last_error());
    stats_off_defaults(g);
    cnn_plan *fused = cnn_plan_create(g, 2, 0), *plain = cnn_plan_create(g, 2, CNN_PLAN_UNFUSED);
    CHECK(fused && plain, "%s", cnn_last_error());
    fill_inputs(fused, plain);
    /* twice: the second forward reads the same input (inputs keep their buffers) */
    CHECK(cnn_plan_forward(fused) == 0 && cnn_plan_forward(fused) == 0 && cnn_plan_forward(plain) == 0, "%s", cnn_last_error());
    for (int o = 0; o < 2; o++) {
        const cnn_tensor *a = cnn_plan_output(fused, o), *b = cnn_plan_output(plain, o);
        CHECK(memcmp(a->data, b->data, (size_t)cnn_tensor_numel(a) * sizeof(float)) == 0, "output %d differs from unfused", o);
    }
    CHECK(!cnn_plan_value(fused, c1) && !cnn_plan_value(fused, b1) && !cnn_plan_value(fused, c2) && !cnn_plan_value(fused, c3),
          "fused or reused layers' values visible");
    CHECK(cnn_plan_computes(fused, c1) && cnn_plan_computes(fused, b3) && cnn_plan_value(fused, r3) && cnn_plan_value(fused, x),
          "outputs and inputs not kept");
    CHECK(cnn_plan_value(plain, c1) && cnn_plan_value(plain, b1) && cnn_plan_value(plain, c2), "unfused plan hides values");
    CHECK(cnn_plan_memory(fused) < cnn_plan_memory(plain), "fused plan not smaller");
    cnn_plan_free(fused);
    cnn_plan_free(plain);
    cnn_graph_free(g);
    return 0;
}

/* inception's branch_pool, an average pool (3x3, stride 1, "same") into a 1x1 conv: pool-first
 * (a) or conv-first (b) with the same parameters. Graph b takes the layers the eval plan of graph a
 * should swap in the order it runs them: p1 -> c1 (-> batch norm -> ReLU) and p2 (pads not
 * counted) -> c2 (no epilogue); p3 -> c3 (bias), p4 -> c4 (more channels out than in) and p5 ->
 * c5 (stride 2: a smaller plane) stay as they are. */
static cnn_graph *branch_pools(bool conv_first, int64_t width, cnn_node **pools) {
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 20, 9, width);
    const cnn_pool2d_params uncounted = {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_top = 1, .pad_bottom = 1,
                                         .pad_left = 1, .pad_right = 1};
    cnn_node *r1, *y2;
    if (conv_first) {
        cnn_node *c1 = cnn_conv2d(g, x, "c1", 6, 1, 1, 1, 0, false);
        r1 = cnn_relu(g, cnn_batchnorm(g, cnn_avgpool2d(g, c1, "p1", 3, 1, 1, false, true), "b1", 1e-3f, 0.1f), "r1");
        y2 = cnn_avgpool2d_ex(g, cnn_conv2d(g, x, "c2", 5, 1, 1, 1, 0, false), "p2", &uncounted);
    } else {
        pools[0] = cnn_avgpool2d(g, x, "p1", 3, 1, 1, false, true), pools[1] = cnn_avgpool2d_ex(g, x, "p2", &uncounted);
        r1 = cnn_relu(g, cnn_batchnorm(g, cnn_conv2d(g, pools[0], "c1", 6, 1, 1, 1, 0, false), "b1", 1e-3f, 0.1f), "r1");
        y2 = cnn_conv2d(g, pools[1], "c2", 5, 1, 1, 1, 0, false);
    }
    cnn_node *c3 = cnn_conv2d(g, cnn_avgpool2d(g, x, "p3", 3, 1, 1, false, true), "c3", 6, 1, 1, 1, 0, true);
    cnn_node *c4 = cnn_conv2d(g, cnn_avgpool2d(g, x, "p4", 3, 1, 1, false, true), "c4", 24, 1, 1, 1, 0, false);
    cnn_node *c5 = cnn_conv2d(g, cnn_avgpool2d(g, x, "p5", 3, 2, 1, false, true), "c5", 4, 1, 1, 1, 0, false);
    cnn_node *cat_in[4] = {r1, y2, c3, c4}, *cat = cnn_concat(g, 4, cat_in, "cat");
    if (!cat || !c5) {
        cnn_graph_free(g);
        return NULL;
    }
    cnn_graph_add_output(g, cat, 0);
    cnn_graph_add_output(g, c5, 0);
    return g;
}

/* Eval plans run a 1x1 conv (no bias, fewer channels out) before the "same" average pool that
 * feeds it (plan.c, plan_pointwise_first), the pool then applying the conv's folded batch norm and
 * ReLU: bitwise the layers in that order one by one (graph b unfused), at 1 and 2 threads and
 * batches 1 and 3; the layers it must not swap stay bitwise pool-first; the pool's value hidden.
 * Planes 9x11 and 9x2 (pool.c's whole-plane and row-by-row paths). */
static int pointwise_conv_runs_before_pool(void *arg) {
    const int64_t width = *(const int64_t *)arg;
    cnn_node *moved[2];
    cnn_graph *a = branch_pools(false, width, moved), *b = branch_pools(true, width, NULL);
    CHECK(a && b, "%s", cnn_last_error());
    CHECK(cnn_graph_init_params(a, 3) == 0, "%s", cnn_last_error());
    stats_off_defaults(a);
    cnn_param mean; /* means about the pooled values' (stats_off_defaults' would leave the ReLU little but zeros) */
    CHECK(cnn_param_find(a, "b1.running_mean", &mean) == 0, "%s", cnn_last_error());
    for (int64_t j = 0; j < mean.numel; j++) mean.data[j] = 0.02f * (float)(j % 3) - 0.02f;
    for (int64_t i = 0; i < cnn_param_count(a); i++) {
        cnn_param pa, pb;
        CHECK(cnn_param_get(a, i, &pa) == 0 && cnn_param_find(b, pa.name, &pb) == 0 && pa.numel == pb.numel, "parameter %lld",
              (long long)i);
        memcpy(pb.data, pa.data, (size_t)pa.numel * sizeof(float));
    }
    const int saved = cnn_get_threads();
    int rc = 0;
    for (int run = 0; run < 4 && rc == 0; run++) {
        const int threads = 1 + run % 2, batch = run < 2 ? 1 : 3;
        cnn_set_threads(threads);
        cnn_plan *fused = cnn_plan_create(a, batch, 0), *order = cnn_plan_create(b, batch, CNN_PLAN_UNFUSED);
        rc = fused && order && cnn_plan_forward(fused) == 0 ? 0 : -1;
        if (rc == 0) {
            fill_inputs(fused, order);
            rc = cnn_plan_forward(fused) || cnn_plan_forward(order) ? -1 : 0;
        }
        for (int o = 0; o < 2 && rc == 0; o++) {
            const cnn_tensor *y = cnn_plan_output(fused, o), *want = cnn_plan_output(order, o);
            if (memcmp(y->data, want->data, (size_t)cnn_tensor_numel(y) * sizeof(float)) != 0) {
                harness_message(__FILE__, __LINE__, "%d thread(s), batch %d: output %d differs from the layers in swapped order",
                                threads, batch, o);
                rc = -1;
            }
        }
        if (rc == 0 && (cnn_plan_value(fused, moved[0]) || cnn_plan_value(fused, moved[1]))) {
            harness_message(__FILE__, __LINE__, "a moved pool's value is visible");
            rc = -1;
        }
        if (rc && !fused) harness_message(__FILE__, __LINE__, "%s", cnn_last_error());
        cnn_plan_free(fused);
        cnn_plan_free(order);
    }
    cnn_set_threads(saved);
    cnn_graph_free(a);
    cnn_graph_free(b);
    return rc;
}

/* conv (kh x kw, "same" padding, no bias) -> batch norm -> ReLU. */
static cnn_node *conv_bn_relu(cnn_graph *g, cnn_node *x, const char *name, int64_t k, int kh, int kw) {
    char bn[64], relu[64];
    snprintf(bn, sizeof bn, "%s.bn", name);
    snprintf(relu, sizeof relu, "%s.relu", name);
    const cnn_conv2d_params p = {.out_channels = k, .kernel_h = kh, .kernel_w = kw, .stride_h = 1, .stride_w = 1,
                                 .pad_top = kh / 2, .pad_bottom = kh / 2, .pad_left = kw / 2, .pad_right = kw / 2};
    return cnn_relu(g, cnn_batchnorm(g, cnn_conv2d_ex(g, x, name, &p), bn, 1e-3f, 0.1f), relu);
}

/* Two inception modules at 14x14: a's branches 1x1, 1x1 -> 3x3, 1x1 -> 5x5 and an average pool
 * into a 1x1 (run conv-first); b's a 1x1, a 1x1 into a 1x3 and a 3x1 concatenated (a concat inside
 * a branch) and a max pool into a 1x1. */
static cnn_graph *two_modules(void) {
    cnn_graph *g = cnn_graph_create();
    cnn_node *m = conv_bn_relu(g, cnn_input(g, "x", 24, 14, 14), "stem", 32, 1, 1);
    cnn_node *a[4] = {conv_bn_relu(g, m, "a1", 32, 1, 1), conv_bn_relu(g, conv_bn_relu(g, m, "a2.0", 24, 1, 1), "a2.1", 32, 3, 3),
                      conv_bn_relu(g, conv_bn_relu(g, m, "a3.0", 16, 1, 1), "a3.1", 24, 5, 5),
                      conv_bn_relu(g, cnn_avgpool2d(g, m, "a4.pool", 3, 1, 1, false, true), "a4", 16, 1, 1)};
    cnn_node *ma = cnn_concat(g, 4, a, "a");
    cnn_node *b2 = conv_bn_relu(g, ma, "b2.0", 16, 1, 1);
    cnn_node *b2s[2] = {conv_bn_relu(g, b2, "b2.a", 16, 1, 3), conv_bn_relu(g, b2, "b2.b", 16, 3, 1)};
    cnn_node *b[3] = {conv_bn_relu(g, ma, "b1", 48, 1, 1), cnn_concat(g, 2, b2s, "b2"),
                      conv_bn_relu(g, cnn_maxpool2d(g, ma, "b3.pool", 3, 1, 1, false), "b3", 32, 1, 1)};
    cnn_node *mb = cnn_concat(g, 3, b, "b");
    if (!mb || cnn_graph_add_output(g, mb, 0) || cnn_graph_init_params(g, 5)) {
        cnn_graph_free(g);
        return NULL;
    }
    stats_off_defaults(g);
    return g;
}

/* Eval plans at batch 1 with 2 threads run the modules' branches side by side (plan.c, branch
 * sections): the output bitwise the plan's at 1 thread and the layers' one by one, twice in a row,
 * and with profiling on (layers one at a time); batch 2 and 1 thread take no sections. */
static int branches_side_by_side(void *arg) {
    (void)arg;
    cnn_graph *g = two_modules();
    CHECK(g, "%s", cnn_last_error());
    const int saved = cnn_get_threads();
    cnn_set_threads(1);
    cnn_plan *one = cnn_plan_create(g, 1, 0), *plain = cnn_plan_create(g, 1, CNN_PLAN_UNFUSED);
    cnn_set_threads(2);
    cnn_plan *two = cnn_plan_create(g, 1, 0), *batch2 = cnn_plan_create(g, 2, 0);
    int rc = one && plain && two && batch2 ? 0 : -1;
    if (rc) harness_message(__FILE__, __LINE__, "%s", cnn_last_error());
    if (!rc && (cnn_plan_section_count(two) != 2 || cnn_plan_section_count(one) || cnn_plan_section_count(batch2))) {
        harness_message(__FILE__, __LINE__, "sections: %lld at 2 threads (want 2), %lld at 1, %lld at batch 2",
                        (long long)cnn_plan_section_count(two), (long long)cnn_plan_section_count(one),
                        (long long)cnn_plan_section_count(batch2));
        rc = -1;
    }
    const char *runs[3] = {"first forward", "second forward", "profiled forward"};
    for (int run = 0; run < 3 && !rc; run++) {
        fill_input(one), fill_input(plain), fill_input(two);
        if (run == 2 && cnn_plan_set_profiling(two, true)) rc = -1;
        if (rc || cnn_plan_forward(one) || cnn_plan_forward(plain) || cnn_plan_forward(two)) {
            harness_message(__FILE__, __LINE__, "%s", cnn_last_error());
            rc = -1;
            break;
        }
        const cnn_tensor *y1 = cnn_plan_output(one, 0), *yp = cnn_plan_output(plain, 0), *y2 = cnn_plan_output(two, 0);
        if (memcmp(y1->data, yp->data, (size_t)cnn_tensor_numel(y1) * sizeof(float)) ||
            memcmp(y1->data, y2->data, (size_t)cnn_tensor_numel(y1) * sizeof(float))) {
            harness_message(__FILE__, __LINE__, "%s: output differs between 1 thread, unfused and 2 threads", runs[run]);
            rc = -1;
        }
    }
    cnn_set_threads(saved);
    cnn_plan_free(one), cnn_plan_free(plain), cnn_plan_free(two), cnn_plan_free(batch2);
    cnn_graph_free(g);
    return rc;
}

/* Training plans fold a batch norm's one ReLU into it (forward, and its backward through the ReLU's
 * derivative): outputs, every parameter's gradient, the running statistics and the input gradient
 * bitwise as the layers one by one (CNN_PLAN_UNFUSED), branches into a concatenation included; a
 * batch norm feeding two layers is not folded; the folded batch norm's value and gradient hidden. */
static int train_fusion_matches_unfused(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 7, 6);
    cnn_node *b1 = cnn_batchnorm(g, cnn_conv2d(g, x, "c1", 4, 3, 3, 1, 1, true), "b1", 1e-3f, 0.1f), *r1 = cnn_relu(g, b1, "r1");
    cnn_node *b2 = cnn_batchnorm(g, cnn_conv2d(g, x, "c2", 3, 1, 1, 1, 0, false), "b2", 1e-5f, 0.2f), *r2 = cnn_relu(g, b2, "r2");
    cnn_node *cat_in[2] = {r1, r2}, *cat = cnn_concat(g, 2, cat_in, "cat");
    cnn_node *b3 = cnn_batchnorm(g, cnn_conv2d(g, cat, "c3", 5, 3, 3, 2, 1, false), "b3", 1e-5f, 0.1f);
    cnn_node *r3 = cnn_relu(g, b3, "r3"), *t3 = cnn_tanh(g, b3, "t3"); /* b3 feeds two: not folded */
    cnn_node *b4 = cnn_batchnorm(g, cnn_conv2d(g, r3, "c4", 2, 1, 1, 1, 0, true), "b4", 1e-5f, 0.1f), *r4 = cnn_relu(g, b4, "r4");
    cnn_graph_add_output(g, r4, 0);
    cnn_graph_add_output(g, t3, 0);
    CHECK(cat && cnn_graph_init_params(g, 5) == 0, "%s", cnn_last_error());
    cnn_plan *plan[2];
    float *got[2] = {NULL, NULL};
    int64_t total = 0;
    for (int k = 0; k < 2; k++) {
        stats_off_defaults(g);
        cnn_graph_zero_grad(g);
        plan[k] = cnn_plan_create(g, 3, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD | (k ? CNN_PLAN_UNFUSED : 0));
        CHECK(plan[k], "%s", cnn_last_error());
        fill_input(plan[k]);
        CHECK(cnn_plan_forward(plan[k]) == 0, "%s", cnn_last_error());
        for (int o = 0; o < 2; o++) {
            cnn_tensor *d = cnn_plan_output_grad(plan[k], o);
            for (int64_t i = 0; i < cnn_tensor_numel(d); i++) d->data[i] = (float)((i * 13 + o) % 7) / 3.0f - 1.0f;
        }
        CHECK(cnn_plan_backward(plan[k]) == 0, "%s", cnn_last_error());
        /* outputs, input gradient, then every parameter's data (running stats) and gradient */
        const cnn_tensor *parts[3] = {cnn_plan_output(plan[k], 0), cnn_plan_output(plan[k], 1), cnn_plan_input_grad(plan[k], 0)};
        total = 0;
        for (int q = 0; q < 3; q++) total += cnn_tensor_numel(parts[q]);
        for (int64_t i = 0; i < cnn_param_count(g); i++) {
            cnn_param prm;
            cnn_param_get(g, i, &prm);
            total += prm.numel * (prm.grad ? 2 : 1);
        }
        got[k] = malloc((size_t)total * sizeof(float));
        CHECK(got[k], "out of memory");
        int64_t at = 0;
        for (int q = 0; q < 3; q++) memcpy(got[k] + at, parts[q]->data, (size_t)cnn_tensor_numel(parts[q]) * sizeof(float)), at += cnn_tensor_numel(parts[q]);
        for (int64_t i = 0; i < cnn_param_count(g); i++) {
            cnn_param prm;
            cnn_param_get(g, i, &prm);
            memcpy(got[k] + at, prm.data, (size_t)prm.numel * sizeof(float)), at += prm.numel;
            if (prm.grad) memcpy(got[k] + at, prm.grad, (size_t)prm.numel * sizeof(float)), at += prm.numel;
        }
    }
    int rc = memcmp(got[0], got[1], (size_t)total * sizeof(float)) == 0 ? 0 : -1;
    if (rc) harness_message(__FILE__, __LINE__, "fused training step differs from unfused");
    if (!rc && (cnn_plan_value(plan[0], b1) || cnn_plan_grad(plan[0], b1) || cnn_plan_value(plan[0], b4) || !cnn_plan_value(plan[0], b3) ||
                !cnn_plan_grad(plan[0], b3) || !cnn_plan_value(plan[1], b1) || !cnn_plan_grad(plan[1], b1))) {
        harness_message(__FILE__, __LINE__, "folded batch norms' values or gradients visible, or others hidden");
        rc = -1;
    }
    if (!rc && cnn_plan_memory(plan[0]) >= cnn_plan_memory(plan[1])) {
        harness_message(__FILE__, __LINE__, "fused training plan not smaller");
        rc = -1;
    }
    for (int k = 0; k < 2; k++) cnn_plan_free(plan[k]), free(got[k]);
    cnn_graph_free(g);
    return rc;
}

/* Residual blocks in eval plans: conv -> batch norm -> add(shortcut) -> ReLU runs as one
 * convolution when the shortcut is computed before the conv (block 1, and block 2's downsample
 * branch, whose partner comes first), not when it comes after (block 2's main branch), nor for an
 * add of one node to itself; conv -> add with no batch norm, the add a plan output, folds too.
 * Bitwise as the layers one by one, at a batch and size that take the Winograd and the GEMM paths. */
static int residual_fusion_matches_unfused(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 16, 19, 18); /* edge tiles of 3 and 2 */
    /* block 1: shortcut x (before the conv) */
    cnn_node *c1 = cnn_conv2d(g, x, "c1", 16, 3, 3, 1, 1, false), *b1 = cnn_batchnorm(g, c1, "b1", 1e-5f, 0.1f);
    cnn_node *a1 = cnn_add(g, b1, x, "a1"), *r1 = cnn_relu(g, a1, "r1");
    /* block 2: main branch first, downsample after it (its partner b2 comes before it) */
    cnn_node *c2 = cnn_conv2d(g, r1, "c2", 24, 1, 1, 1, 0, false), *b2 = cnn_batchnorm(g, c2, "b2", 1e-5f, 0.1f);
    cnn_node *d2 = cnn_conv2d(g, r1, "d2", 24, 1, 1, 1, 0, false), *e2 = cnn_batchnorm(g, d2, "e2", 1e-5f, 0.1f);
    cnn_node *a2 = cnn_add(g, b2, e2, "a2"), *r2 = cnn_relu(g, a2, "r2");
    /* conv(bias) -> add, the add an output; and an add of a node to itself */
    cnn_node *c3 = cnn_conv2d(g, r2, "c3", 24, 3, 3, 1, 1, true), *a3 = cnn_add(g, c3, r2, "a3");
    cnn_node *c4 = cnn_conv2d(g, r2, "c4", 8, 1, 1, 1, 0, false), *a4 = cnn_add(g, c4, c4, "a4");
    /* a 1x7 (F(3, 7): conv_winograd1d.c) -> add, the add an output */
    const cnn_conv2d_params row = {.out_channels = 24, .kernel_h = 1, .kernel_w = 7, .pad_left = 3, .pad_right = 3, .bias = true};
    cnn_node *c5 = cnn_conv2d_ex(g, r2, "c5", &row), *a5 = cnn_add(g, c5, r2, "a5");
    /* a 5x5 (F(2x2, 5x5): conv_winograd.c) -> add, the add an output */
    cnn_node *c6 = cnn_conv2d(g, r2, "c6", 24, 5, 5, 1, 2, true), *a6 = cnn_add(g, c6, r2, "a6");
    CHECK(a3 && a4 && a5 && a6, "%s", cnn_last_error());
    cnn_graph_add_output(g, a3, 0);
    cnn_graph_add_output(g, a4, 0);
    cnn_graph_add_output(g, a5, 0);
    cnn_graph_add_output(g, a6, 0);
    CHECK(cnn_graph_init_params(g, 11) == 0, "%s", cnn_last_error());
    stats_off_defaults(g);
    for (int batch = 1; batch <= 3; batch += 2) {
        cnn_plan *fused = cnn_plan_create(g, batch, 0), *plain = cnn_plan_create(g, batch, CNN_PLAN_UNFUSED);
        CHECK(fused && plain, "%s", cnn_last_error());
        fill_inputs(fused, plain);
        CHECK(cnn_plan_forward(fused) == 0 && cnn_plan_forward(fused) == 0 && cnn_plan_forward(plain) == 0, "%s", cnn_last_error());
        for (int o = 0; o < 4; o++) {
            const cnn_tensor *a = cnn_plan_output(fused, o), *b = cnn_plan_output(plain, o);
            CHECK(memcmp(a->data, b->data, (size_t)cnn_tensor_numel(a) * sizeof(float)) == 0, "batch %d: output %d differs from unfused",
                  batch, o);
        }
        /* folded: b1, a1 into c1; e2, a2, r2 into d2 (b2 kept: d2 reads it); c3 into a3; c5 into a5; c6 into a6 */
        CHECK(!cnn_plan_value(fused, b1) && !cnn_plan_value(fused, a1) && !cnn_plan_value(fused, e2) && !cnn_plan_value(fused, a2) &&
                  !cnn_plan_value(fused, c3) && !cnn_plan_value(fused, c5) && !cnn_plan_value(fused, c6),
              "batch %d: fused layers' values visible", batch);
        CHECK(cnn_plan_value(fused, a3) && cnn_plan_value(fused, a4), "batch %d: outputs not kept", batch);
        CHECK(cnn_plan_memory(fused) < cnn_plan_memory(plain), "fused plan not smaller");
        cnn_plan_free(fused);
        cnn_plan_free(plain);
    }
    cnn_graph_free(g);
    return 0;
}

/* Small planes at batch > 1 run each convolution as one product over the samples' columns side by
 * side (conv.c, stack_samples): 7x7 and 6x6 outputs (a tile across two samples), 1x1 at stride 1
 * and 2, 3x3 at stride 2 (blocks of panels across samples), bias, folded batch norm, a residual and
 * fewer than 8 output channels; and Winograd blocks hold several samples' tiles
 * (conv_winograd.c). Each sample of a batch of 7 is bitwise what it gives alone. */
static int stacked_samples_match_alone(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 40, 13, 13);
    cnn_node *c1 = cnn_conv2d(g, x, "c1", 20, 3, 3, 2, 1, true), *r1 = cnn_relu(g, cnn_batchnorm(g, c1, "b1", 1e-5f, 0.1f), "r1");
    cnn_node *d2 = cnn_batchnorm(g, cnn_conv2d(g, x, "d2", 36, 1, 1, 2, 0, false), "e2", 1e-5f, 0.1f); /* shortcut first */
    cnn_node *c2 = cnn_batchnorm(g, cnn_conv2d(g, r1, "c2", 36, 1, 1, 1, 0, false), "b2", 1e-5f, 0.1f);
    cnn_node *r2 = cnn_relu(g, cnn_add(g, c2, d2, "a2"), "r2");
    cnn_node *c3 = cnn_conv2d(g, r2, "c3", 3, 2, 2, 1, 0, true);   /* 6x6: 36 columns */
    cnn_node *c4 = cnn_conv2d(g, r2, "c4", 12, 3, 3, 1, 1, false); /* 7x7, 324 rows, too few channels for Winograd */
    /* Winograd with a residual: 4 tiles per sample, 4 samples per block (blocks of 4 and 3 samples) */
    cnn_node *c5 = cnn_batchnorm(g, cnn_conv2d(g, r2, "c5", 36, 3, 3, 1, 1, false), "b5", 1e-5f, 0.1f);
    cnn_node *r5 = cnn_relu(g, cnn_add(g, c5, r2, "a5"), "r5");
    CHECK(c3 && c4 && r5, "%s", cnn_last_error());
    cnn_graph_add_output(g, c3, 0);
    cnn_graph_add_output(g, c4, 0);
    cnn_graph_add_output(g, r5, 0);
    CHECK(cnn_graph_init_params(g, 5) == 0, "%s", cnn_last_error());
    stats_off_defaults(g);
    const int64_t batch = 7;
    /* A 7x7 plane alone (4 tiles) runs the direct product (conv_winograd.c, WINO_MIN_TILES): c5's
     * sample is compared with a batch of two copies of it (8 tiles, one block of both samples). */
    cnn_plan *all = cnn_plan_create(g, batch, 0), *one = cnn_plan_create(g, 1, 0), *two = cnn_plan_create(g, 2, 0);
    CHECK(all && one && two, "%s", cnn_last_error());
    const cnn_tensor *in = fill_input(all);
    CHECK(cnn_plan_forward(all) == 0, "%s", cnn_last_error());
    for (int64_t b = 0; b < batch; b++) {
        cnn_tensor *in1 = cnn_plan_input(one, 0), *in2 = cnn_plan_input(two, 0);
        memcpy(in1->data, in->data + b * in->stride[0], (size_t)in->stride[0] * sizeof(float));
        for (int64_t s = 0; s < 2; s++) memcpy(in2->data + s * in2->stride[0], in1->data, (size_t)in->stride[0] * sizeof(float));
        CHECK(cnn_plan_forward(one) == 0 && cnn_plan_forward(two) == 0, "%s", cnn_last_error());
        for (int o = 0; o < 4; o++) { /* o 3: output 2 against the second copy */
            const cnn_tensor *a = cnn_plan_output(all, o < 3 ? o : 2), *s = cnn_plan_output(o < 2 ? one : two, o < 3 ? o : 2);
            CHECK(memcmp(a->data + b * a->stride[0], s->data + (o == 3 ? s->stride[0] : 0), (size_t)s->stride[0] * sizeof(float)) == 0,
                  "sample %lld of output %d differs from the sample alone (output 2: in a batch of two copies)", (long long)b, o < 3 ? o : 2);
        }
    }
    cnn_plan_free(all);
    cnn_plan_free(one);
    cnn_plan_free(two);
    cnn_graph_free(g);
    return 0;
}

/* x -> r = relu(x) -> a = sigmoid(r), b = tanh(r): dx = relu'(x) (sig'(r) ga + tanh'(r) gb). */
static int gradients_sum_over_consumers(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 2, 2);
    cnn_node *r = cnn_relu(g, x, "r");
    cnn_graph_add_output(g, cnn_sigmoid(g, r, "a"), 0);
    cnn_graph_add_output(g, cnn_tanh(g, r, "b"), 0);
    cnn_plan *p = cnn_plan_create(g, 2, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD);
    CHECK(p, "%s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(p, 0);
    int64_t n = cnn_tensor_numel(in);
    for (int64_t i = 0; i < n; i++) in->data[i] = (float)((i * 37) % 11) / 5.0f - 1.0f + 0.05f;
    int rc = -1;
    for (int round = 0; round < 2; round++) { /* twice: gradients restart from zero each backward */
        if (cnn_plan_forward(p)) goto done;
        cnn_tensor *ga = cnn_plan_output_grad(p, 0), *gb = cnn_plan_output_grad(p, 1);
        for (int64_t i = 0; i < n; i++) {
            ga->data[i] = 0.5f + (float)i / 10;
            gb->data[i] = 1.0f - (float)i / 20;
        }
        if (cnn_plan_backward(p)) goto done;
        const cnn_tensor *dx = cnn_plan_input_grad(p, 0);
        for (int64_t i = 0; i < n; i++) {
            double v = in->data[i], rv = v > 0 ? v : 0, s = 1 / (1 + exp(-rv)), t = tanh(rv);
            double want = v > 0 ? s * (1 - s) * ga->data[i] + (1 - t * t) * gb->data[i] : 0;
            if (fabs(dx->data[i] - want) > 1e-6) {
                harness_message(__FILE__, __LINE__, "round %d dx[%lld] = %g, want %g", round, (long long)i, dx->data[i], want);
                goto done;
            }
        }
    }
    rc = 0;
done:
    cnn_plan_free(p);
    cnn_graph_free(g);
    return rc;
}

/* A max pool that is the first to write its input's gradient in the backward (its last consumer in
 * graph order) stores that gradient whole (the plan does not zero it first: din_store); a consumer
 * before it in graph order adds after it; one after it writes first, and the pool then adds. Two
 * backward passes each: the second must not see the first's values. 9x11 planes: rows and columns
 * no window reads (2x2 / 2: stored by the AVX-512 path; 3x3 / 2: overlapping windows, zeroed by the
 * pool and scattered). */
typedef struct pool_store_case {
    int kernel, stride;
    bool relu;   /* x -> relu -> pool: the stored gradient is an inner node's */
    int shared;  /* the pooled value also feeds a sigmoid output: 1 made before the pool, 2 after */
} pool_store_case;

static int pool_gradient_stored(void *arg) {
    const pool_store_case *t = arg;
    const int64_t c = 3, h = 9, w = 11, batch = 2;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", c, h, w), *a = t->relu ? cnn_relu(g, x, "r") : x;
    cnn_node *sig = t->shared == 1 ? cnn_sigmoid(g, a, "s") : NULL; /* made before the pool */
    cnn_graph_add_output(g, cnn_maxpool2d(g, a, "p", t->kernel, t->stride, 0, false), 0);
    if (t->shared) cnn_graph_add_output(g, sig ? sig : cnn_sigmoid(g, a, "s"), 0);
    cnn_plan *p = cnn_plan_create(g, batch, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD);
    CHECK(p, "%s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(p, 0);
    const int64_t n = cnn_tensor_numel(in), oh = (h - t->kernel) / t->stride + 1, ow = (w - t->kernel) / t->stride + 1;
    for (int64_t i = 0; i < n; i++) in->data[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    double *want = calloc((size_t)n, sizeof *want);
    int rc = -1;
    if (!want) goto done;
    for (int round = 0; round < 2; round++) {
        if (cnn_plan_forward(p)) goto done;
        cnn_tensor *gp = cnn_plan_output_grad(p, 0), *gs = t->shared ? cnn_plan_output_grad(p, 1) : NULL;
        for (int64_t i = 0; i < cnn_tensor_numel(gp); i++) gp->data[i] = 0.5f + (float)((i + round) % 7) / 10.0f;
        for (int64_t i = 0; gs && i < n; i++) gs->data[i] = 1.0f - (float)((i + 2 * round) % 5) / 4.0f;
        if (cnn_plan_backward(p)) goto done;
        for (int64_t i = 0; i < n; i++) want[i] = 0.0;
        for (int64_t q = 0; q < batch * c; q++) /* each window's first maximum (row-major) gets its output's gradient */
            for (int64_t oi = 0; oi < oh; oi++)
                for (int64_t oj = 0; oj < ow; oj++) {
                    int64_t at = -1;
                    for (int di = 0; di < t->kernel; di++)
                        for (int dj = 0; dj < t->kernel; dj++) {
                            const int64_t e = q * h * w + (oi * t->stride + di) * w + oj * t->stride + dj;
                            const float v = t->relu && in->data[e] < 0 ? 0.0f : in->data[e];
                            if (at < 0 || v > (t->relu && in->data[at] < 0 ? 0.0f : in->data[at])) at = e;
                        }
                    want[at] += gp->data[(q * oh + oi) * ow + oj];
                }
        for (int64_t i = 0; i < n; i++) {
            const double v = t->relu && in->data[i] < 0 ? 0.0 : in->data[i], sg = 1 / (1 + exp(-v));
            if (gs) want[i] += sg * (1 - sg) * gs->data[i];
            if (t->relu && !(in->data[i] > 0)) want[i] = 0.0;
        }
        const cnn_tensor *dx = cnn_plan_input_grad(p, 0);
        for (int64_t i = 0; i < n; i++)
            if (fabs(dx->data[i] - want[i]) > 1e-6) {
                harness_message(__FILE__, __LINE__, "round %d dx[%lld] = %g, want %g", round, (long long)i, dx->data[i], want[i]);
                goto done;
            }
    }
    rc = 0;
done:
    free(want);
    cnn_plan_free(p);
    cnn_graph_free(g);
    return rc;
}

/* Parameter gradients add up over backward passes until zeroed, as PyTorch's .grad: a dense layer of
 * 40 samples (the batch from which dense.c's forward runs on our GEMM) run twice with the same dy
 * holds twice the sums. */
static int dense_gradients_accumulate(void *arg) {
    (void)arg;
    const int64_t batch = 40, f = 30, out = 20;
    cnn_graph *g = cnn_graph_create();
    cnn_node *d = cnn_dense(g, cnn_flatten(g, cnn_input(g, "x", f, 1, 1), "flat"), "fc", out, true);
    CHECK(d && cnn_graph_add_output(g, d, 0) == 0 && cnn_graph_init_params(g, 3) == 0, "%s", cnn_last_error());
    cnn_plan *p = cnn_plan_create(g, batch, CNN_PLAN_TRAIN);
    CHECK(p, "%s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < batch * f; i++) in->data[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    cnn_param w, b;
    int rc = -1;
    if (cnn_param_find(g, "fc.weight", &w) || cnn_param_find(g, "fc.bias", &b)) goto done;
    for (int round = 0; round < 2; round++) {
        if (cnn_plan_forward(p)) goto done;
        cnn_tensor *dy = cnn_plan_output_grad(p, 0);
        for (int64_t i = 0; i < batch * out; i++) dy->data[i] = (float)((i * 13) % 17) / 8.0f - 1.0f;
        if (cnn_plan_backward(p)) goto done;
    }
    for (int64_t o = 0; o < out; o++) {
        double db = 0.0;
        for (int64_t s = 0; s < batch; s++) db += 2.0 * ((double)((s * out + o) * 13 % 17) / 8.0 - 1.0);
        if (fabs(b.grad[o] - db) > 1e-5 * (1.0 + fabs(db))) {
            harness_message(__FILE__, __LINE__, "db[%lld] = %g, want %g", (long long)o, b.grad[o], db);
            goto done;
        }
        for (int64_t i = 0; i < f; i++) {
            double dw = 0.0;
            for (int64_t s = 0; s < batch; s++) dw += 2.0 * ((double)((s * out + o) * 13 % 17) / 8.0 - 1.0) * in->data[s * f + i];
            if (fabs(w.grad[o * f + i] - dw) > 1e-5 * (1.0 + fabs(dw))) {
                harness_message(__FILE__, __LINE__, "dW[%lld][%lld] = %g, want %g", (long long)o, (long long)i, w.grad[o * f + i], dw);
                goto done;
            }
        }
    }
    rc = 0;
done:
    cnn_plan_free(p);
    cnn_graph_free(g);
    return rc;
}

/* torch.relu(nan) is nan: a NaN must reach the loss, never vanish into a zero. */
static int nan_propagates(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 1, 2, 2);
    cnn_graph_add_output(g, cnn_maxpool2d(g, cnn_relu(g, x, "r"), "p", 2, 2, 0, false), 0);
    cnn_plan *p = cnn_plan_create(g, 1, 0);
    CHECK(p, "%s", cnn_last_error());
    float *in = cnn_plan_input(p, 0)->data;
    in[0] = -1.0f, in[1] = NAN, in[2] = 2.0f, in[3] = -3.0f;
    int rc = cnn_plan_forward(p);
    float y = cnn_plan_output(p, 0)->data[0];
    cnn_plan_free(p);
    cnn_graph_free(g);
    CHECK(rc == 0 && isnan(y), "relu + maxpool of a window with a NaN gave %g", y);
    return 0;
}

/* ---- safetensors ---- */

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(data, 1, n, f);
    return fclose(f);
}

static int safetensors_round_trip(void *arg) {
    (void)arg;
    float a[6] = {1, -2, 3.5f, 4, 5, 6e-8f};
    int64_t b[3] = {-1, 0, 1LL << 40};
    cnn_st_write t[2] = {{"a.weight", CNN_F32, 2, {2, 3}, a}, {"steps", CNN_I64, 1, {3}, b}};
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    const char *path = tmp_path("rt.safetensors");
    CHECK(cnn_safetensors_write(path, 2, t, 1, keys, vals) == 0, "%s", cnn_last_error());
    cnn_safetensors *f = cnn_safetensors_read(path);
    CHECK(f, "%s", cnn_last_error());
    cnn_st_tensor r;
    int ok = cnn_safetensors_count(f) == 2 && cnn_safetensors_find(f, "a.weight", &r) == 0 && r.dtype == CNN_F32 &&
             r.rank == 2 && r.shape[0] == 2 && r.shape[1] == 3 && memcmp(r.data, a, sizeof a) == 0 &&
             cnn_safetensors_find(f, "steps", &r) == 0 && r.dtype == CNN_I64 && memcmp(r.data, b, sizeof b) == 0 &&
             cnn_safetensors_metadata(f, "format") && strcmp(cnn_safetensors_metadata(f, "format"), "pt") == 0;
    cnn_safetensors_free(f);
    unlink(path);
    CHECK(ok, "round trip lost data");
    return 0;
}

static int safetensors_bad_files(void *arg) {
    (void)arg;
    const char *path = tmp_path("bad.safetensors");
    CHECK(!cnn_safetensors_read(tmp_path("does-not-exist.safetensors")) && has("cannot open"), "%s", cnn_last_error());
    write_bytes(path, "abc", 3);
    CHECK(!cnn_safetensors_read(path) && has("not a safetensors file") && has(path), "%s", cnn_last_error());
    unsigned char random_bytes[64];
    for (int i = 0; i < 64; i++) random_bytes[i] = (unsigned char)(i * 73 + 11);
    write_bytes(path, random_bytes, sizeof random_bytes);
    CHECK(!cnn_safetensors_read(path) && has("not a safetensors file"), "%s", cnn_last_error());
    const char json[] = "\x10\0\0\0\0\0\0\0{\"a\":[1,2,3]}   ";
    write_bytes(path, json, sizeof json - 1);
    CHECK(!cnn_safetensors_read(path) && has("tensor 'a'"), "%s", cnn_last_error());
    /* A key twice in the header (found by fuzz_safetensors: a second __metadata__ overran the first's
     * arrays). */
    const char meta2[] = "\x33\0\0\0\0\0\0\0{\"__metadata__\":{\"a\":\"1\"},\"__metadata__\":{\"b\":\"2\"}}";
    write_bytes(path, meta2, sizeof meta2 - 1);
    CHECK(!cnn_safetensors_read(path) && has("__metadata__ given twice") && has(path), "%s", cnn_last_error());
    const char twice[] = "\x6b\0\0\0\0\0\0\0{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\0\0\0\0";
    write_bytes(path, twice, sizeof twice - 1);
    CHECK(!cnn_safetensors_read(path) && has("tensor 'w' given twice"), "%s", cnn_last_error());
    /* A valid file cut short: the last tensor's data is missing. */
    float a[64] = {0};
    cnn_st_write t = {"w", CNN_F32, 1, {64}, a};
    CHECK(cnn_safetensors_write(path, 1, &t, 0, NULL, NULL) == 0, "%s", cnn_last_error());
    FILE *f = fopen(path, "rb");
    unsigned char buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(path, buf, n - 10);
    CHECK(!cnn_safetensors_read(path) && has("truncated") && has("'w'"), "%s", cnn_last_error());
    unlink(path);
    /* A write into a missing directory fails and leaves nothing behind. */
    CHECK(cnn_safetensors_write(tmp_path("no/such/dir/x.safetensors"), 1, &t, 0, NULL, NULL) != 0 && has("cannot create"),
          "%s", cnn_last_error());
    return 0;
}

/* ---- weights ---- */

static cnn_graph *small_model(void) {
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_flatten(g, cnn_input(g, "x", 4, 1, 1), "flat");
    x = cnn_dense(g, x, "fc1", 3, true);
    x = cnn_dense(g, x, "fc2", 2, false);
    cnn_graph_add_output(g, x, 0);
    return g;
}

static int weights_round_trip(void *arg) {
    (void)arg;
    cnn_graph *a = small_model(), *b = small_model();
    cnn_graph_init_params(a, 1);
    cnn_graph_init_params(b, 2);
    const char *path = tmp_path("w.safetensors");
    CHECK(cnn_graph_save_weights(a, path) == 0, "%s", cnn_last_error());
    CHECK(cnn_graph_load_weights(b, path) == 0, "%s", cnn_last_error());
    int64_t n;
    float *pa = cnn_graph_params(a, &n), *pb = cnn_graph_params(b, NULL);
    int same = memcmp(pa, pb, (size_t)n * sizeof(float)) == 0;
    cnn_graph_free(a);
    cnn_graph_free(b);
    unlink(path);
    CHECK(same, "weights differ after a round trip");
    return 0;
}

static int weights_refusals(void *arg) {
    (void)arg;
    cnn_graph *g = small_model();
    const char *path = tmp_path("w2.safetensors");
    float w1[12] = {0}, b1[3] = {0}, w2[6] = {0}, wrong[8] = {0};
    int64_t tracked = 5;
    /* missing fc2.weight */
    cnn_st_write missing[2] = {{"fc1.weight", CNN_F32, 2, {3, 4}, w1}, {"fc1.bias", CNN_F32, 1, {3}, b1}};
    cnn_safetensors_write(path, 2, missing, 0, NULL, NULL);
    CHECK(cnn_graph_load_weights(g, path) != 0 && has("missing tensor 'fc2.weight'"), "%s", cnn_last_error());
    /* wrong shape */
    cnn_st_write shaped[3] = {{"fc1.weight", CNN_F32, 2, {3, 4}, w1}, {"fc1.bias", CNN_F32, 1, {3}, b1},
                              {"fc2.weight", CNN_F32, 2, {2, 4}, wrong}};
    cnn_safetensors_write(path, 3, shaped, 0, NULL, NULL);
    CHECK(cnn_graph_load_weights(g, path) != 0 && has("'fc2.weight' has shape [2,4] but the model expects [2,3]"), "%s",
          cnn_last_error());
    /* an unknown tensor means another model; num_batches_tracked is ignored */
    cnn_st_write extra[4] = {{"fc1.weight", CNN_F32, 2, {3, 4}, w1}, {"fc1.bias", CNN_F32, 1, {3}, b1},
                             {"fc2.weight", CNN_F32, 2, {2, 3}, w2}, {"fc3.weight", CNN_F32, 1, {1}, b1}};
    cnn_safetensors_write(path, 4, extra, 0, NULL, NULL);
    CHECK(cnn_graph_load_weights(g, path) != 0 && has("unexpected tensor 'fc3.weight'"), "%s", cnn_last_error());
    extra[3] = (cnn_st_write){"bn.num_batches_tracked", CNN_I64, 0, {0}, &tracked};
    cnn_safetensors_write(path, 4, extra, 0, NULL, NULL);
    CHECK(cnn_graph_load_weights(g, path) == 0, "%s", cnn_last_error());
    /* an integer tensor as a weight */
    int64_t ints[6] = {0};
    shaped[2] = (cnn_st_write){"fc2.weight", CNN_I64, 2, {2, 3}, ints};
    cnn_safetensors_write(path, 3, shaped, 0, NULL, NULL);
    CHECK(cnn_graph_load_weights(g, path) != 0 && has("dtype I64"), "%s", cnn_last_error());
    unlink(path);
    cnn_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) snprintf(tmp_dir, sizeof tmp_dir, "%s", argv[1]);
    harness_case("builder: scoped PyTorch-style parameter names", scoped_parameter_names, NULL);
    harness_case("builder: duplicate layer name refused, graph unchanged", duplicate_layer_name_refused, NULL);
    harness_case("builder: NULL input keeps the first error", null_input_keeps_first_error, NULL);
    harness_case("builder: overflowing input shape refused", oversized_input_refused, NULL);
    harness_case("params: seeded init within PyTorch's bounds", init_is_seeded_and_pytorch_bounded, NULL);
    harness_case("plan: refusals (no output, batch 0, eval backward, changed graph)", plan_refusals, NULL);
    harness_case("plan: eval mode leaves out train-only outputs", eval_plan_drops_train_only_outputs, NULL);
    harness_case("plan: gradients summed over a node's consumers", gradients_sum_over_consumers, NULL);
    harness_case("plan: concat inputs computed in place (zero-copy), outputs excluded", concat_inputs_are_slices, NULL);
    harness_case("plan: eval fusion of conv + batch norm + ReLU, bitwise as unfused", eval_fusion_matches_unfused, NULL);
    static const int64_t pool_widths[2] = {11, 2};
    harness_case("plan: a 1x1 conv runs before the average pool feeding it, 9x11", pointwise_conv_runs_before_pool, (void *)&pool_widths[0]);
    harness_case("plan: a 1x1 conv runs before the average pool feeding it, 9x2", pointwise_conv_runs_before_pool, (void *)&pool_widths[1]);
    harness_case("plan: training fusion of batch norm + ReLU, bitwise as unfused", train_fusion_matches_unfused, NULL);
    harness_case("plan: eval fusion of residual adds into the conv before them, bitwise as unfused", residual_fusion_matches_unfused, NULL);
    harness_case("plan: small planes stacked over the batch, each sample bitwise as alone", stacked_samples_match_alone, NULL);
    static const pool_store_case pool_stores[] = {{2, 2, false, 0}, {3, 2, false, 0}, {2, 2, true, 0}, {3, 2, true, 0},
                                                  {2, 2, true, 1}, {3, 2, false, 1}, {2, 2, true, 2}, {3, 2, false, 2}};
    for (size_t i = 0; i < sizeof pool_stores / sizeof *pool_stores; i++) {
        static char names[8][160];
        const pool_store_case *t = &pool_stores[i];
        static const char *how[3] = {"stored whole", "stored whole, a sigmoid made before it adding after", "added after a sigmoid made after it"};
        snprintf(names[i], sizeof names[i], "plan: max pool %dx%d/%d%s: its input gradient %s, twice", t->kernel, t->kernel, t->stride,
                 t->relu ? " after a ReLU" : "", how[t->shared]);
        harness_case(names[i], pool_gradient_stored, (void *)t);
    }
    harness_case("plan: a dense layer's parameter gradients add up over two backward passes (40 samples)", dense_gradients_accumulate, NULL);
    harness_case("eval plans at batch 1 run inception branches side by side, bitwise as at 1 thread", branches_side_by_side, NULL);
    harness_case("ops: NaN propagates through ReLU and max-pool as in PyTorch", nan_propagates, NULL);
    harness_case("safetensors: round trip with metadata and I64", safetensors_round_trip, NULL);
    harness_case("safetensors: bad files refused with their path", safetensors_bad_files, NULL);
    harness_case("weights: save and load round trip", weights_round_trip, NULL);
    harness_case("weights: missing, misshapen, unexpected and integer tensors refused", weights_refusals, NULL);
    return harness_finish();
}
