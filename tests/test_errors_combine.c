/* test_errors_combine.c — refusals of dense, flatten, concat, add, zero_pad and the cross-entropy loss, with
 * their messages; plus a few behaviours the PyTorch fixtures cannot reach (repeated inputs, strided logits). */
#include "cnn.h"
#include "harness.h"

#include <math.h>
#include <string.h>

static bool has(const char *needle) { return strstr(cnn_last_error(), needle) != NULL; }

static int concat_mismatched_hw(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *a = cnn_input(g, "a", 3, 8, 8), *b = cnn_input(g, "b", 5, 8, 7);
    cnn_node *xs[2] = {a, b};
    cnn_node *y = cnn_concat(g, 2, xs, "mixed");
    int64_t nodes = cnn_graph_node_count(g);
    cnn_graph_free(g);
    CHECK(!y, "concat of (3,8,8) and (5,8,7) was accepted");
    CHECK(has("mixed") && has("(N,3,8,8)") && has("(N,5,8,7)"), "message lacks the layer or shapes: %s", cnn_last_error());
    CHECK(nodes == 2, "a refused layer stayed in the graph (%lld nodes)", (long long)nodes);
    return 0;
}

static int concat_rank2_with_rank4(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *a = cnn_input(g, "a", 3, 4, 4), *b = cnn_flatten(g, cnn_input(g, "b", 2, 2, 2), "flat");
    cnn_node *xs[2] = {a, b};
    cnn_node *y = cnn_concat(g, 2, xs, "joined");
    cnn_graph_free(g);
    CHECK(!y, "concat of rank 4 and rank 2 was accepted");
    CHECK(has("joined") && has("(N,3,4,4)") && has("(N,8)"), "message: %s", cnn_last_error());
    return 0;
}

static int concat_no_inputs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *y = cnn_concat(g, 0, NULL, "empty");
    cnn_graph_free(g);
    CHECK(!y, "concat of no inputs was accepted");
    CHECK(has("empty") && has("at least one"), "message: %s", cnn_last_error());
    return 0;
}

static int add_different_shapes(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *a = cnn_input(g, "a", 3, 4, 4), *b = cnn_input(g, "b", 3, 4, 5);
    cnn_node *y = cnn_add(g, a, b, "residual");
    cnn_graph_free(g);
    CHECK(!y, "add of (3,4,4) and (3,4,5) was accepted");
    CHECK(has("residual") && has("(N,3,4,4)") && has("(N,3,4,5)"), "message: %s", cnn_last_error());
    return 0;
}

static int dense_rank4(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *y = cnn_dense(g, cnn_input(g, "x", 16, 7, 7), "fc", 10, true);
    int64_t params = cnn_param_count(g);
    cnn_graph_free(g);
    CHECK(!y, "dense on (16,7,7) was accepted");
    CHECK(has("fc") && has("(N,16,7,7)") && has("flatten"), "message: %s", cnn_last_error());
    CHECK(params == 0, "a refused dense left %lld parameters", (long long)params);
    return 0;
}

static int dense_nonpositive_features(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *y = cnn_dense(g, cnn_flatten(g, cnn_input(g, "x", 4, 1, 1), NULL), "fc", 0, true);
    cnn_graph_free(g);
    CHECK(!y, "dense with 0 outputs was accepted");
    CHECK(has("fc") && has("out_features"), "message: %s", cnn_last_error());
    return 0;
}

static int dense_params_and_macs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_scope_push(g, "head");
    cnn_node *y = cnn_dense(g, cnn_flatten(g, cnn_input(g, "x", 4, 3, 3), NULL), "fc", 10, true);
    cnn_scope_pop(g);
    cnn_param w, b;
    int rc = y ? cnn_param_find(g, "head.fc.weight", &w) | cnn_param_find(g, "head.fc.bias", &b) : -1;
    int64_t macs = cnn_node_macs(y), dims[CNN_MAX_RANK];
    cnn_node_shape(y, dims);
    bool bounded = true;
    for (int64_t i = 0; rc == 0 && i < w.numel; i++) bounded &= fabsf(w.data[i]) <= 1.0f / 6.0f;
    for (int64_t i = 0; rc == 0 && i < b.numel; i++) bounded &= fabsf(b.data[i]) <= 1.0f / 6.0f;
    cnn_graph_free(g);
    CHECK(rc == 0, "dense parameters not found: %s", cnn_last_error());
    CHECK(w.rank == 2 && w.shape[0] == 10 && w.shape[1] == 36 && b.rank == 1 && b.shape[0] == 10, "parameter shapes");
    CHECK(bounded, "initial values outside U(-1/sqrt(F), 1/sqrt(F))");
    CHECK(macs == 360, "macs %lld, expected 360", (long long)macs);
    CHECK(dims[1] == 10, "output has %lld features", (long long)dims[1]);
    return 0;
}

static int zero_pad_negative(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *y = cnn_zero_pad(g, cnn_input(g, "x", 3, 4, 4), "pad", 1, 1, -1, 0);
    cnn_graph_free(g);
    CHECK(!y, "negative zero padding was accepted");
    CHECK(has("pad") && has("negative"), "message: %s", cnn_last_error());
    return 0;
}

static int zero_pad_rank2(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *y = cnn_zero_pad(g, cnn_flatten(g, cnn_input(g, "x", 3, 4, 4), NULL), "pad", 1, 1, 1, 1);
    cnn_graph_free(g);
    CHECK(!y, "zero padding of a rank-2 node was accepted");
    CHECK(has("pad") && has("(N,48)"), "message: %s", cnn_last_error());
    return 0;
}

/* A failed call's NULL flows through later builders, which return NULL and keep the first message. */
static int null_input_keeps_first_error(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 4, 4);
    cnn_node *bad = cnn_zero_pad(g, x, "first_failure", -2, 0, 0, 0);
    char first[1024];
    snprintf(first, sizeof first, "%s", cnn_last_error());
    cnn_node *xs[2] = {x, bad};
    cnn_node *r[7] = {
        cnn_concat(g, 2, xs, "c"), cnn_add(g, x, bad, "a"), cnn_add(g, bad, x, "a2"), cnn_scale(g, bad, "s", 0.5f),
        cnn_zero_pad(g, bad, "z", 1, 1, 1, 1), cnn_flatten(g, bad, "f"), cnn_dense(g, bad, "d", 3, true),
    };
    bool all_null = true;
    for (int i = 0; i < 7; i++) all_null &= r[i] == NULL;
    int64_t nodes = cnn_graph_node_count(g), params = cnn_param_count(g);
    cnn_graph_free(g);
    CHECK(!bad && strstr(first, "first_failure"), "the first failure: %s", first);
    CHECK(all_null, "a builder given a NULL input returned a node");
    CHECK(strcmp(cnn_last_error(), first) == 0, "the first message was replaced: %s", cnn_last_error());
    CHECK(nodes == 1 && params == 0, "the graph grew: %lld nodes, %lld parameters", (long long)nodes, (long long)params);
    return 0;
}

static int cross_entropy_label_out_of_range(void *arg) {
    (void)arg;
    float z[3 * 4] = {0};
    int64_t labels[3] = {0, 3, 4};
    cnn_tensor logits = {.data = z, .rank = 2, .shape = {3, 4, 1, 1}, .stride = {4, 1, 1, 1}};
    float loss = 0;
    CHECK(cnn_softmax_cross_entropy(&logits, labels, 0.0f, &loss, NULL, 1.0f) == -1, "label 4 of K=4 was accepted");
    CHECK(has("sample 2") && has("label 4"), "message: %s", cnn_last_error());
    labels[2] = -1;
    CHECK(cnn_softmax_cross_entropy(&logits, labels, 0.0f, &loss, NULL, 1.0f) == -1, "label -1 was accepted");
    CHECK(has("sample 2") && has("label -1"), "message: %s", cnn_last_error());
    return 0;
}

static int cross_entropy_bad_sizes(void *arg) {
    (void)arg;
    float z[4] = {0}, d[4];
    int64_t labels[1] = {0};
    float loss;
    cnn_tensor empty = {.data = z, .rank = 2, .shape = {0, 4, 1, 1}, .stride = {4, 1, 1, 1}};
    CHECK(cnn_softmax_cross_entropy(&empty, labels, 0.0f, &loss, NULL, 1.0f) == -1 && has("at least 1"),
          "N=0: %s", cnn_last_error());
    cnn_tensor none = {.data = z, .rank = 2, .shape = {1, 0, 1, 1}, .stride = {1, 1, 1, 1}};
    CHECK(cnn_softmax_cross_entropy(&none, labels, 0.0f, &loss, NULL, 1.0f) == -1 && has("at least 1"),
          "K=0: %s", cnn_last_error());
    cnn_tensor ok = {.data = z, .rank = 2, .shape = {1, 4, 1, 1}, .stride = {4, 1, 1, 1}};
    cnn_tensor wrong = {.data = d, .rank = 2, .shape = {2, 2, 1, 1}, .stride = {2, 1, 1, 1}};
    CHECK(cnn_softmax_cross_entropy(&ok, labels, 0.0f, &loss, &wrong, 1.0f) == -1 && has("dlogits"),
          "dlogits of another shape: %s", cnn_last_error());
    CHECK(cnn_softmax_cross_entropy(&ok, labels, 1.5f, &loss, NULL, 1.0f) == -1 && has("label_smoothing"),
          "label_smoothing 1.5: %s", cnn_last_error());
    CHECK(cnn_softmax_cross_entropy(&ok, labels, 0.0f, &loss, NULL, 1.0f) == 0 && fabsf(loss - logf(4.0f)) < 1e-6f,
          "uniform logits: loss %g, expected log 4", (double)loss);
    return 0;
}

/* Non-finite logits give a non-finite loss, never a crash. */
static int cross_entropy_non_finite(void *arg) {
    (void)arg;
    float z[2 * 3] = {1.0f, INFINITY, 0.0f, NAN, 1.0f, -INFINITY}, d[6];
    int64_t labels[2] = {0, 1};
    cnn_tensor logits = {.data = z, .rank = 2, .shape = {2, 3, 1, 1}, .stride = {3, 1, 1, 1}};
    cnn_tensor dlogits = logits;
    dlogits.data = d;
    float loss = 0;
    CHECK(cnn_softmax_cross_entropy(&logits, labels, 0.1f, &loss, &dlogits, 1.0f) == 0, "refused: %s", cnn_last_error());
    CHECK(!isfinite(loss), "loss %g from non-finite logits", (double)loss);
    return 0;
}

/* Logits whose samples sit further apart than K (a slice of a wider buffer) give the same loss and gradient. */
static int cross_entropy_strided(void *arg) {
    (void)arg;
    enum { N = 5, K = 7, S = 11 };
    float packed[N * K], wide[N * S], gp[N * K], gw[N * S];
    int64_t labels[N] = {0, 6, 3, 2, 6};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < S; j++) {
            float v = sinf((float)(i * 13 + j * 7)) * 3.0f;
            wide[i * S + j] = j < K ? v : 1e30f;
            gw[i * S + j] = 42.0f;
            if (j < K) packed[i * K + j] = v;
        }
    cnn_tensor tp = {.data = packed, .rank = 2, .shape = {N, K, 1, 1}, .stride = {K, 1, 1, 1}};
    cnn_tensor tw = {.data = wide, .rank = 2, .shape = {N, K, 1, 1}, .stride = {S, 1, 1, 1}};
    cnn_tensor dp = tp, dw = tw;
    dp.data = gp;
    dw.data = gw;
    float lp, lw;
    CHECK(cnn_softmax_cross_entropy(&tp, labels, 0.2f, &lp, &dp, 0.5f) == 0, "%s", cnn_last_error());
    CHECK(cnn_softmax_cross_entropy(&tw, labels, 0.2f, &lw, &dw, 0.5f) == 0, "%s", cnn_last_error());
    CHECK(lp == lw, "loss %g with strides, %g without", (double)lw, (double)lp);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < S; j++) {
            if (j < K) CHECK(gp[i * K + j] == gw[i * S + j], "dlogits[%d][%d] differs with strides", i, j);
            else CHECK(gw[i * S + j] == 42.0f, "the gap after sample %d was written", i);
        }
    return 0;
}

/* add(x, x) and concat(x, x): one node used twice receives both gradients. */
static int repeated_inputs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 2, 1, 3);
    cnn_node *xs[2] = {x, x};
    cnn_node *s = cnn_add(g, x, x, "twice"), *c = cnn_concat(g, 2, xs, "pair");
    CHECK(s && c && cnn_graph_add_output(g, s, 0) == 0 && cnn_graph_add_output(g, c, 0) == 0, "%s", cnn_last_error());
    cnn_plan *p = cnn_plan_create(g, 2, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD);
    CHECK(p, "%s", cnn_last_error());
    float *in = cnn_plan_input(p, 0)->data;
    for (int i = 0; i < 12; i++) in[i] = (float)i;
    int rc = cnn_plan_forward(p);
    const float *ys = cnn_plan_output(p, 0)->data, *yc = cnn_plan_output(p, 1)->data;
    bool fwd_ok = rc == 0;
    for (int b = 0; b < 2 && fwd_ok; b++)
        for (int i = 0; i < 6; i++) fwd_ok &= ys[b * 6 + i] == 2.0f * (float)(b * 6 + i) && yc[b * 12 + i] == (float)(b * 6 + i) &&
                                              yc[b * 12 + 6 + i] == (float)(b * 6 + i);
    float *ds = cnn_plan_output_grad(p, 0)->data, *dc = cnn_plan_output_grad(p, 1)->data;
    for (int i = 0; i < 12; i++) ds[i] = 1.0f;
    for (int i = 0; i < 24; i++) dc[i] = (float)(i % 12 < 6 ? 10 : 100);
    rc |= cnn_plan_backward(p);
    const float *dx = cnn_plan_input_grad(p, 0)->data;
    bool bwd_ok = rc == 0;
    for (int i = 0; i < 12; i++) bwd_ok &= dx[i] == 112.0f;
    cnn_plan_free(p);
    cnn_graph_free(g);
    CHECK(fwd_ok, "forward of add(x,x) / concat(x,x) wrong");
    CHECK(bwd_ok, "input gradient %g, expected 2 + 10 + 100", (double)dx[0]);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    harness_case("concat with mismatched H/W names the layer and both shapes", concat_mismatched_hw, NULL);
    harness_case("concat of rank 2 with rank 4 is refused", concat_rank2_with_rank4, NULL);
    harness_case("concat of no inputs is refused", concat_no_inputs, NULL);
    harness_case("add of different shapes is refused", add_different_shapes, NULL);
    harness_case("dense on a rank-4 input asks for flatten", dense_rank4, NULL);
    harness_case("dense with out_features 0 is refused", dense_nonpositive_features, NULL);
    harness_case("dense parameters: names, shapes, default init, macs", dense_params_and_macs, NULL);
    harness_case("negative zero padding is refused", zero_pad_negative, NULL);
    harness_case("zero padding of a rank-2 node is refused", zero_pad_rank2, NULL);
    harness_case("a NULL input makes builders return NULL and keeps the first error", null_input_keeps_first_error, NULL);
    harness_case("cross-entropy label out of range names the sample and value", cross_entropy_label_out_of_range, NULL);
    harness_case("cross-entropy refuses empty sizes, mismatched dlogits, bad smoothing", cross_entropy_bad_sizes, NULL);
    harness_case("cross-entropy with non-finite logits returns a non-finite loss", cross_entropy_non_finite, NULL);
    harness_case("cross-entropy walks samples by stride[0]", cross_entropy_strided, NULL);
    harness_case("add(x,x) and concat(x,x) give x both gradients", repeated_inputs, NULL);
    return harness_finish();
}
