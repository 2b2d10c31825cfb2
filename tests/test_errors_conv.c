/* test_errors_conv.c — conv2d and conv3d refusals and their messages, graphs left unchanged by a refused layer,
 * builder defaults, bitwise-equal results for 1 and 2 threads, and conv3d's eval fusion. */
#include "cnn.h"
#include "harness.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool has(const char *needle) { return strstr(cnn_last_error(), needle) != NULL; }

/* ---- refusals: each builds (in scope "b1") a good conv, then the bad one named "conv" ---- */

typedef struct refusal {
    const char *label;
    int64_t c, h, w;      /* the input, per sample */
    bool flatten;         /* feed the conv a flattened (N, C*H*W) node */
    cnn_conv2d_params p;
    const char *expect;   /* must occur in the message */
} refusal;

static const refusal refusals[] = {
    {"kernel larger than the padded input", 3, 3, 3, false,
     {.out_channels = 4, .kernel_h = 7, .kernel_w = 7, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1},
     "conv2d 'b1.conv': kernel 7x7 larger than padded input 5x5 (input (N,3,3,3), pads 1,1,1,1)"},
    {"kernel wider than the input (valid)", 3, 8, 4, false,
     {.out_channels = 4, .kernel_h = 1, .kernel_w = 7, .padding = CNN_PAD_VALID},
     "conv2d 'b1.conv': kernel 1x7 larger than padded input 8x4 (input (N,3,8,4), pads 0,0,0,0)"},
    {"kernel taller than the asymmetrically padded input", 2, 4, 9, false,
     {.out_channels = 2, .kernel_h = 7, .kernel_w = 3, .pad_top = 0, .pad_bottom = 2, .pad_left = 1, .pad_right = 0},
     "kernel 7x3 larger than padded input 6x10 (input (N,2,4,9), pads 0,2,1,0)"},
    {"dilated kernel larger than the input", 3, 5, 5, false,
     {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .dilation_h = 3, .dilation_w = 3},
     "conv2d 'b1.conv': kernel 3x3 dilated to 7x7 larger than padded input 5x5 (input (N,3,5,5)"},
    {"rank-2 input", 3, 2, 2, true, {.out_channels = 4, .kernel_h = 1, .kernel_w = 1},
     "conv2d 'b1.conv': input must be (N,C,H,W), got (N,12)"},
    {"in_channels not divisible by groups", 3, 6, 6, false, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .groups = 2},
     "conv2d 'b1.conv': in_channels 3 not divisible by groups 2 (input (N,3,6,6))"},
    {"out_channels not divisible by groups", 4, 6, 6, false, {.out_channels = 3, .kernel_h = 3, .kernel_w = 3, .groups = 2},
     "conv2d 'b1.conv': out_channels 3 not divisible by groups 2 (input (N,4,6,6))"},
    {"negative groups", 4, 6, 6, false, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .groups = -2},
     "conv2d 'b1.conv': groups -2 must be at least 1"},
    {"zero kernel height", 3, 6, 6, false, {.out_channels = 4, .kernel_h = 0, .kernel_w = 3},
     "conv2d 'b1.conv': kernel 0x3 must be at least 1x1"},
    {"negative stride", 3, 6, 6, false, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .stride_h = -1},
     "conv2d 'b1.conv': stride -1x1 must be at least 1"},
    {"negative dilation", 3, 6, 6, false, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .dilation_w = -2},
     "conv2d 'b1.conv': dilation 1x-2 must be at least 1"},
    {"zero out_channels", 3, 6, 6, false, {.out_channels = 0, .kernel_h = 3, .kernel_w = 3},
     "conv2d 'b1.conv': out_channels 0 must be positive"},
    {"negative explicit pad", 3, 6, 6, false, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_left = -1},
     "conv2d 'b1.conv': negative padding -1 (input (N,3,6,6))"},
    {"unknown padding mode", 3, 6, 6, false, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .padding = -7},
     "conv2d 'b1.conv': unknown padding mode -7"},
    /* The column matrix would have 2^20*64*64 rows: more than BLAS takes. */
    {"column matrix too large", 1 << 20, 64, 64, false, {.out_channels = 4, .kernel_h = 64, .kernel_w = 64},
     "conv2d 'b1.conv': too large"},
    /* Passes the shape checks; its weight, (2^31-1)^2 floats, cannot be held, so adding the
     * parameter fails and the builder must take its node back out. */
    {"weight too large to allocate", INT_MAX, 1, 1, false, {.out_channels = INT_MAX, .kernel_h = 1, .kernel_w = 1},
     "out of memory"},
};
/* An empty output is not listed: out = (padded - span) / stride + 1 >= 1 exactly when the span
 * fits the padded input, so the "larger than padded input" refusal is the empty-output refusal. */

/* The layer try_layer(g, x, params) named "conv", on a graph already holding an accepted layer: it
 * must be refused with `expect` in the message and leave the graph as it was, its name free again
 * (a parameter-free layer: nothing large to allocate). Frees g. */
typedef cnn_node *try_fn(cnn_graph *g, cnn_node *x, const void *params);

static int refused_cleanly(cnn_graph *g, cnn_node *x, try_fn *try_layer, const void *params, const char *expect) {
    int64_t nodes = cnn_graph_node_count(g), count = cnn_param_count(g), numel;
    cnn_graph_params(g, &numel);
    cnn_clear_error();
    cnn_node *y = try_layer(g, x, params);
    int64_t nodes_after = cnn_graph_node_count(g), count_after = cnn_param_count(g), numel_after;
    cnn_graph_params(g, &numel_after);
    cnn_node *again = cnn_relu(g, x, "conv");
    cnn_graph_free(g);
    CHECK(!y, "accepted");
    CHECK(has(expect), "message \"%s\" lacks \"%s\"", cnn_last_error(), expect);
    CHECK(nodes_after == nodes && count_after == count && numel_after == numel,
          "the graph changed: %lld -> %lld nodes, %lld -> %lld parameters, %lld -> %lld values", (long long)nodes,
          (long long)nodes_after, (long long)count, (long long)count_after, (long long)numel, (long long)numel_after);
    CHECK(again, "the name of the refused layer stayed taken: %s", cnn_last_error());
    return 0;
}

static cnn_node *try_conv2d(cnn_graph *g, cnn_node *x, const void *p) { return cnn_conv2d_ex(g, x, "conv", p); }
static cnn_node *try_conv3d(cnn_graph *g, cnn_node *x, const void *p) { return cnn_conv3d_ex(g, x, "conv", p); }

static int refuse(void *arg) {
    const refusal *r = arg;
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "graph: %s", cnn_last_error());
    cnn_scope_push(g, "b1");
    cnn_node *x = cnn_input(g, "x", r->c, r->h, r->w);
    if (x && r->flatten) x = cnn_flatten(g, x, "flat");
    /* A layer that is accepted, so the counts below start from a graph with parameters. */
    cnn_node *good = x && !r->flatten && r->c < 1024 ? cnn_conv2d(g, x, "good", 2, 1, 1, 1, 0, true) : x;
    if (!good) {
        harness_message(__FILE__, __LINE__, "setup failed: %s", cnn_last_error());
        cnn_graph_free(g);
        return -1;
    }
    return refused_cleanly(g, x, try_conv2d, &r->p, r->expect);
}

static int null_arguments(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 8, 8);
    cnn_node *bad = cnn_conv2d(g, x, "first", 4, 0, 3, 1, 0, true);
    char first[512];
    snprintf(first, sizeof first, "%s", cnn_last_error());
    cnn_node *chained = cnn_conv2d(g, bad, "second", 4, 3, 3, 1, 1, true);
    bool kept = strcmp(first, cnn_last_error()) == 0;
    cnn_node *no_params = cnn_conv2d_ex(g, x, "third", NULL);
    int64_t nodes = cnn_graph_node_count(g);
    cnn_graph_free(g);
    CHECK(!bad && strstr(first, "first"), "the bad kernel: %s", first);
    CHECK(!chained && kept, "a NULL input replaced the first error with: %s", cnn_last_error());
    CHECK(!no_params && has("third") && has("NULL"), "NULL parameters: %s", cnn_last_error());
    CHECK(nodes == 1, "%lld nodes after refusals", (long long)nodes);
    return 0;
}

/* ---- what the builders make ---- */

static int shapes_params_macs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_scope_push(g, "stem");
    cnn_node *x = cnn_input(g, "x", 6, 7, 9);
    cnn_node *same2 = cnn_conv2d(g, x, "same2", 8, 3, 3, 2, CNN_PAD_SAME, true);     /* (8,4,5) */
    cnn_node *valid = cnn_conv2d(g, x, "valid", 8, 3, 3, 1, CNN_PAD_VALID, false);  /* (8,5,7) */
    cnn_node *pad1 = cnn_conv2d(g, x, "pad1", 5, 3, 3, 1, 1, true);                 /* (5,7,9) */
    cnn_node *stride0 = cnn_conv2d(g, x, "stride0", 5, 1, 1, 0, 0, true);           /* stride 0 means 1 */
    cnn_conv2d_params gp = {.out_channels = 4, .kernel_h = 2, .kernel_w = 4, .groups = 2, .padding = CNN_PAD_SAME};
    cnn_node *grouped = cnn_conv2d_ex(g, x, "grouped", &gp);                         /* (4,7,9), weight (4,3,2,4) */
    cnn_conv2d_params dp = {.out_channels = 6, .kernel_h = 3, .kernel_w = 3, .groups = 0, .dilation_h = 2, .padding = 0,
                            .pad_top = 2, .pad_bottom = 2};
    cnn_node *dilated = cnn_conv2d_ex(g, x, "dilated", &dp);                         /* (6,7,7), groups 0 means 1 */
    int64_t d[6][CNN_MAX_RANK];
    cnn_node *nodes[6] = {same2, valid, pad1, stride0, grouped, dilated};
    for (int i = 0; i < 6; i++) {
        if (!nodes[i]) {
            harness_message(__FILE__, __LINE__, "layer %d refused: %s", i, cnn_last_error());
            cnn_graph_free(g);
            return -1;
        }
        cnn_node_shape(nodes[i], d[i]);
    }
    static const int64_t want[6][3] = {{8, 4, 5}, {8, 5, 7}, {5, 7, 9}, {5, 7, 9}, {4, 7, 9}, {6, 7, 7}};
    int bad_shape = -1;
    for (int i = 0; i < 6; i++)
        if (d[i][1] != want[i][0] || d[i][2] != want[i][1] || d[i][3] != want[i][2]) bad_shape = i;
    int64_t macs_same2 = cnn_node_macs(same2), macs_grouped = cnn_node_macs(grouped);
    int64_t count_same2 = cnn_node_param_count(same2), count_valid = cnn_node_param_count(valid);
    cnn_param w, b;
    int found = cnn_param_find(g, "stem.grouped.weight", &w) || cnn_param_find(g, "stem.same2.bias", &b);
    bool valid_has_bias = cnn_param_find(g, "stem.valid.bias", &b) == 0;
    /* PyTorch's default bound 1/sqrt(C/groups*KH*KW) = 1/sqrt(24) for the grouped weight. */
    double bound = 1.0 / sqrt(24.0), largest = 0;
    for (int64_t i = 0; found == 0 && i < w.numel; i++) largest = fmax(largest, fabs(w.data[i]));
    const char *op = cnn_node_op(grouped);
    cnn_graph_free(g);
    CHECK(bad_shape < 0, "layer %d has shape (%lld,%lld,%lld)", bad_shape, (long long)d[bad_shape][1], (long long)d[bad_shape][2],
          (long long)d[bad_shape][3]);
    CHECK(macs_same2 == 8 * 4 * 5 * 6 * 9, "same2 MACs %lld", (long long)macs_same2);
    CHECK(macs_grouped == 4 * 7 * 9 * 3 * 8, "grouped MACs %lld", (long long)macs_grouped);
    CHECK(count_same2 == 8 * 6 * 9 + 8 && count_valid == 8 * 6 * 9, "parameter counts %lld, %lld", (long long)count_same2,
          (long long)count_valid);
    CHECK(found == 0, "parameter names: %s", cnn_last_error());
    CHECK(!valid_has_bias, "a conv built without bias has one");
    CHECK(w.rank == 4 && w.shape[0] == 4 && w.shape[1] == 3 && w.shape[2] == 2 && w.shape[3] == 4, "grouped weight shape");
    CHECK(largest <= bound * (1 + 1e-6) && largest > bound / 2, "weights span %.4g, PyTorch's bound is %.4g", largest, bound);
    CHECK(strcmp(op, "conv2d") == 0, "op name %s", op);
    return 0;
}

/* ---- the same run with 1 and 2 threads ---- */

typedef struct run_result {
    float *y, *dx, *grads;
    int64_t ny, ndx, ngrads;
} run_result;

static float pseudo_random(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*state >> 40) / (double)(1ull << 24) - 0.5);
}

/* One training step of graph g (freed here) at `batch`: pseudo-random input and output gradient (0
 * for any other output), forward and backward; copies out the output, the input gradient and every
 * parameter gradient. */
static int train_step_capture(cnn_graph *g, int64_t batch, run_result *r) {
    cnn_plan *p = cnn_plan_create(g, batch, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD);
    if (!p) goto fail;
    uint64_t state = 12345;
    cnn_tensor *in = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(in); i++) in->data[i] = pseudo_random(&state);
    cnn_graph_zero_grad(g);
    if (cnn_plan_forward(p)) goto fail_plan;
    cnn_tensor *dy = cnn_plan_output_grad(p, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(dy); i++) dy->data[i] = pseudo_random(&state);
    for (int o = 1; o < cnn_graph_output_count(g); o++) {
        cnn_tensor *d = cnn_plan_output_grad(p, o);
        memset(d->data, 0, (size_t)cnn_tensor_numel(d) * sizeof(float));
    }
    if (cnn_plan_backward(p)) goto fail_plan;
    const cnn_tensor *y = cnn_plan_output(p, 0), *dx = cnn_plan_input_grad(p, 0);
    float *grads = cnn_graph_grads(g, &r->ngrads);
    r->ny = cnn_tensor_numel(y);
    r->ndx = cnn_tensor_numel(dx);
    r->y = malloc((size_t)r->ny * sizeof(float));
    r->dx = malloc((size_t)r->ndx * sizeof(float));
    r->grads = malloc((size_t)r->ngrads * sizeof(float));
    if (r->y && r->dx && r->grads) {
        memcpy(r->y, y->data, (size_t)r->ny * sizeof(float));
        memcpy(r->dx, dx->data, (size_t)r->ndx * sizeof(float));
        memcpy(r->grads, grads, (size_t)r->ngrads * sizeof(float));
    }
    cnn_plan_free(p);
    cnn_graph_free(g);
    return r->y && r->dx && r->grads ? 0 : -1;
fail_plan:
    cnn_plan_free(p);
fail:
    cnn_graph_free(g);
    return -1;
}

/* Two convs (a 3x3 through im2col and a 1x1 on the direct path) and a strided grouped one, batch 3,
 * or (small) convs on 13x13 and 6x6 planes at batch 24, whose backward takes samples side by side
 * (conv.c, backward_group_max); one forward and one backward; copies out the output, the input
 * gradient and all parameter gradients. */
static int run_with_threads(int threads, bool small, run_result *r) {
    cnn_set_threads(threads);
    cnn_graph *g = cnn_graph_create();
    cnn_node *c;
    if (small) {
        cnn_node *x = cnn_input(g, "x", 6, 13, 13);
        cnn_node *a = cnn_conv2d(g, x, "a", 8, 1, 1, 1, 0, true);
        cnn_node *b = cnn_conv2d(g, a, "b", 12, 3, 3, 2, 0, true);
        c = cnn_conv2d(g, b, "c", 10, 1, 1, 1, 0, false);
    } else {
        cnn_node *x = cnn_input(g, "x", 16, 20, 20);
        cnn_node *a = cnn_conv2d(g, x, "a", 32, 3, 3, 1, 1, true);
        cnn_node *b = cnn_conv2d(g, a, "b", 32, 1, 1, 1, 0, true);
        cnn_conv2d_params cp = {.out_channels = 16, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .groups = 4,
                                .padding = CNN_PAD_SAME, .bias = true};
        c = cnn_conv2d_ex(g, b, "c", &cp);
    }
    if (!c || cnn_graph_add_output(g, c, 0) || cnn_graph_init_params(g, 7)) {
        cnn_graph_free(g);
        return -1;
    }
    return train_step_capture(g, small ? 24 : 3, r);
}

static int same_bits_for_1_and_2_threads(void *arg) {
    const bool small = arg != NULL;
    run_result one = {0}, two = {0};
    int rc1 = run_with_threads(1, small, &one);
    char why[512];
    snprintf(why, sizeof why, "%s", cnn_last_error());
    int rc2 = rc1 ? -1 : run_with_threads(2, small, &two);
    int result = -1;
    if (rc1 || rc2) {
        harness_message(__FILE__, __LINE__, "run failed: %s", rc1 ? why : cnn_last_error());
    } else if (memcmp(one.y, two.y, (size_t)one.ny * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "outputs differ between 1 and 2 threads");
    } else if (memcmp(one.dx, two.dx, (size_t)one.ndx * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "input gradients differ between 1 and 2 threads");
    } else if (one.ngrads != two.ngrads || memcmp(one.grads, two.grads, (size_t)one.ngrads * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "parameter gradients differ between 1 and 2 threads");
    } else {
        result = 0;
    }
    free(one.y), free(one.dx), free(one.grads), free(two.y), free(two.dx), free(two.grads);
    cnn_set_threads(0);
    return result;
}

/* Eval at batch 1, where the threads share each convolution: a 3x3 over 40x40 by Winograd (each
 * thread a run of blocks), a 3x3/2, a 1x7 and a 7x1 with padding and fewer than 16 input channels
 * (not by F(3, 7): 1 thread im2col; 2 threads each filling its own panels straight from the input).
 * The output, computed with 1 and with 2 threads. */
static int eval_batch1_with_threads(int threads, float **y, int64_t *ny) {
    cnn_set_threads(threads);
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 16, 40, 40);
    cnn_node *w = cnn_conv2d(g, x, "w", 32, 3, 3, 1, 1, true);
    cnn_node *s = cnn_conv2d(g, w, "s", 12, 3, 3, 2, 0, true);
    const cnn_conv2d_params row = {.out_channels = 10, .kernel_h = 1, .kernel_w = 7, .padding = 0, .pad_left = 3, .pad_right = 3, .bias = true};
    const cnn_conv2d_params col = {.out_channels = 18, .kernel_h = 7, .kernel_w = 1, .padding = 0, .pad_top = 3, .pad_bottom = 3, .bias = false};
    cnn_node *a = cnn_conv2d_ex(g, s, "a", &row);
    cnn_node *b = cnn_conv2d_ex(g, a, "b", &col);
    cnn_plan *p = NULL;
    int rc = -1;
    if (!b || cnn_graph_add_output(g, b, 0) || cnn_graph_init_params(g, 11) || !(p = cnn_plan_create(g, 1, 0))) goto done;
    uint64_t state = 99;
    cnn_tensor *in = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(in); i++) in->data[i] = pseudo_random(&state);
    if (cnn_plan_forward(p)) goto done;
    const cnn_tensor *out = cnn_plan_output(p, 0);
    *ny = cnn_tensor_numel(out);
    if (!(*y = malloc((size_t)*ny * sizeof(float)))) goto done;
    memcpy(*y, out->data, (size_t)*ny * sizeof(float));
    rc = 0;
done:
    cnn_plan_free(p);
    cnn_graph_free(g);
    return rc;
}

static int eval_batch1_same_bits(void *arg) {
    (void)arg;
    float *one = NULL, *two = NULL;
    int64_t n1 = 0, n2 = 0;
    int rc = eval_batch1_with_threads(1, &one, &n1);
    if (!rc) rc = eval_batch1_with_threads(2, &two, &n2);
    cnn_set_threads(0);
    int result = -1;
    if (rc)
        harness_message(__FILE__, __LINE__, "run failed: %s", cnn_last_error());
    else if (n1 != n2 || memcmp(one, two, (size_t)n1 * sizeof(float)) != 0)
        harness_message(__FILE__, __LINE__, "batch 1 eval outputs differ between 1 and 2 threads");
    else
        result = 0;
    free(one), free(two);
    return result;
}

/* ---- conv3d ---- */

typedef struct refusal3d {
    const char *label;
    int64_t c, d, h, w;    /* the input, per sample */
    bool four_d;          /* feed it an (N,C,H,W) node instead */
    cnn_conv3d_params p;
    const char *expect;   /* must occur in the message */
} refusal3d;

#define C3(oc, k, ...) {.out_channels = oc, .kernel = {k, k, k}, __VA_ARGS__}
static const refusal3d refusals3d[] = {
    {"rank-4 input", 3, 1, 6, 6, true, C3(4, 1), "conv3d 'b1.conv': input must be (N,C,D,H,W), got (N,3,6,6)"},
    {"kernel larger than the padded input", 3, 2, 5, 5, false, C3(4, 3, .pad_before = {0, 1, 1}, .pad_after = {0, 1, 1}),
     "conv3d 'b1.conv': kernel 3x3x3 larger than padded input 2x7x7 (input (N,3,2,5,5), pads before 0,1,1 after 0,1,1)"},
    {"kernel wider than the asymmetrically padded input", 2, 4, 4, 4, false,
     {.out_channels = 2, .kernel = {1, 3, 7}, .pad_before = {0, 0, 1}, .pad_after = {0, 1, 1}},
     "kernel 1x3x7 larger than padded input 4x5x6 (input (N,2,4,4,4), pads before 0,0,1 after 0,1,1)"},
    {"dilated kernel larger than the input", 3, 5, 9, 9, false, C3(4, 3, .dilation = {3, 1, 1}),
     "conv3d 'b1.conv': kernel 3x3x3 dilated to 7x3x3 larger than padded input 5x9x9"},
    {"in_channels not divisible by groups", 3, 4, 4, 4, false, C3(4, 3, .groups = 2),
     "conv3d 'b1.conv': in_channels 3 not divisible by groups 2 (input (N,3,4,4,4))"},
    {"out_channels not divisible by groups", 4, 4, 4, 4, false, C3(3, 1, .groups = 2),
     "conv3d 'b1.conv': out_channels 3 not divisible by groups 2 (input (N,4,4,4,4))"},
    {"negative groups", 4, 4, 4, 4, false, C3(4, 1, .groups = -2), "conv3d 'b1.conv': groups -2 must be at least 1"},
    {"zero kernel depth", 3, 4, 4, 4, false, {.out_channels = 4, .kernel = {0, 3, 3}},
     "conv3d 'b1.conv': kernel 0x3x3 must be at least 1x1x1"},
    {"negative stride", 3, 4, 4, 4, false, C3(4, 1, .stride = {1, -1, 1}), "conv3d 'b1.conv': stride 1x-1x1 must be at least 1"},
    {"negative dilation", 3, 4, 4, 4, false, C3(4, 3, .dilation = {1, 1, -2}), "conv3d 'b1.conv': dilation 1x1x-2 must be at least 1"},
    {"zero out_channels", 3, 4, 4, 4, false, C3(0, 1), "conv3d 'b1.conv': out_channels 0 must be positive"},
    {"negative pad", 3, 4, 4, 4, false, C3(4, 3, .pad_after = {0, -1, 0}),
     "conv3d 'b1.conv': negative padding (pads before 0,0,0 after 0,-1,0; input (N,3,4,4,4))"},
    /* The column matrix would have 2^20 * 4096 rows: more than BLAS takes. */
    {"column matrix too large", 1 << 20, 1, 64, 64, false, {.out_channels = 4, .kernel = {1, 64, 64}},
     "conv3d 'b1.conv': too large"},
    /* Passes the shape checks; the weight cannot be held, so the builder takes its node back out. */
    {"weight too large to allocate", INT_MAX, 1, 1, 1, false, C3(INT_MAX, 1), "out of memory"},
};

static int refuse3d(void *arg) {
    const refusal3d *r = arg;
    cnn_graph *g = cnn_graph_create();
    CHECK(g, "graph: %s", cnn_last_error());
    cnn_scope_push(g, "b1");
    const int64_t dims[5] = {0, r->c, r->d, r->h, r->w};
    cnn_node *x = r->four_d ? cnn_input(g, "x", r->c, r->h, r->w) : cnn_input_nd(g, "x", 5, dims);
    /* A layer that is accepted, so the counts below start from a graph with parameters. */
    cnn_conv3d_params good_p = C3(2, 1, .bias = true);
    cnn_node *good = x && !r->four_d && r->c < 1024 ? cnn_conv3d_ex(g, x, "good", &good_p) : x;
    if (!good) {
        harness_message(__FILE__, __LINE__, "setup failed: %s", cnn_last_error());
        cnn_graph_free(g);
        return -1;
    }
    return refused_cleanly(g, x, try_conv3d, &r->p, r->expect);
}

/* Shapes, parameter names and shapes, MACs, defaults (0 stride / dilation / groups), the init bound. */
static int conv3d_shapes_params_macs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_scope_push(g, "stem");
    const int64_t dims[5] = {0, 6, 5, 7, 9};
    cnn_node *x = cnn_input_nd(g, "x", 5, dims);
    cnn_conv3d_params pp = C3(8, 3, .stride = {1, 2, 2}, .pad_before = {1, 1, 1}, .pad_after = {1, 1, 1}, .bias = true);
    cnn_node *padded = cnn_conv3d_ex(g, x, "padded", &pp); /* (8,5,4,5) */
    cnn_conv3d_params gp = {.out_channels = 4, .kernel = {2, 1, 3}, .groups = 2, .dilation = {2, 0, 1}};
    cnn_node *grouped = cnn_conv3d_ex(g, x, "grouped", &gp); /* (4,3,7,7), weight (4,3,2,1,3), no bias */
    cnn_node *none = cnn_conv3d_ex(g, x, "none", NULL);
    char why[512];
    snprintf(why, sizeof why, "%s", cnn_last_error());
    int64_t dp[CNN_MAX_RANK] = {0}, dg[CNN_MAX_RANK] = {0};
    cnn_node_shape(padded, dp), cnn_node_shape(grouped, dg);
    const int64_t macs_padded = cnn_node_macs(padded), macs_grouped = cnn_node_macs(grouped);
    const int64_t count_padded = cnn_node_param_count(padded), count_grouped = cnn_node_param_count(grouped);
    cnn_param w, b;
    int found = cnn_param_find(g, "stem.grouped.weight", &w) || cnn_param_find(g, "stem.padded.bias", &b);
    bool grouped_has_bias = cnn_param_find(g, "stem.grouped.bias", &b) == 0;
    cnn_graph_init_params(g, 3);
    /* PyTorch's default bound 1/sqrt(C/groups*KD*KH*KW) = 1/sqrt(18) for the grouped weight. */
    double bound = 1.0 / sqrt(18.0), largest = 0;
    for (int64_t i = 0; found == 0 && i < w.numel; i++) largest = fmax(largest, fabs(w.data[i]));
    const char *op = padded ? cnn_node_op(padded) : "";
    const bool ranks = cnn_node_rank(padded) == 5 && cnn_node_rank(grouped) == 5;
    cnn_graph_free(g);
    CHECK(padded && grouped, "refused: %s", why);
    CHECK(!none && strstr(why, "'none'") && strstr(why, "NULL"), "NULL parameters: %s", why);
    CHECK(ranks && dp[1] == 8 && dp[2] == 5 && dp[3] == 4 && dp[4] == 5, "padded gives (%lld,%lld,%lld,%lld)", (long long)dp[1],
          (long long)dp[2], (long long)dp[3], (long long)dp[4]);
    CHECK(dg[1] == 4 && dg[2] == 3 && dg[3] == 7 && dg[4] == 7, "grouped gives (%lld,%lld,%lld,%lld)", (long long)dg[1],
          (long long)dg[2], (long long)dg[3], (long long)dg[4]);
    CHECK(macs_padded == 8 * 5 * 4 * 5 * (6 * 27), "padded MACs %lld", (long long)macs_padded);
    CHECK(macs_grouped == 4 * 3 * 7 * 7 * (3 * 6), "grouped MACs %lld", (long long)macs_grouped);
    CHECK(count_padded == 8 * 6 * 27 + 8 && count_grouped == 4 * 3 * 6, "parameter counts %lld, %lld", (long long)count_padded,
          (long long)count_grouped);
    CHECK(found == 0, "parameter names");
    CHECK(!grouped_has_bias, "a conv3d built without bias has one");
    CHECK(w.rank == 5 && w.shape[0] == 4 && w.shape[1] == 3 && w.shape[2] == 2 && w.shape[3] == 1 && w.shape[4] == 3,
          "grouped weight shape");
    CHECK(largest <= bound * (1 + 1e-6) && largest > bound / 2, "weights span %.4g, PyTorch's bound is %.4g", largest, bound);
    CHECK(strcmp(op, "conv3d") == 0, "op name %s", op);
    return 0;
}

/* x (4,5,6,7) -> a = conv3d 3x3x3 pad 1 and b = 1x1x1 -> concat(a, b) -> c = strided grouped conv3d.
 * With `slices`, a and b compute into channel slices of the concat (and read their gradients from
 * slices of its gradient); without, a and b are plan outputs too (own buffers, zero gradients). One
 * forward and backward at `batch`; copies out c, the input gradient and all parameter gradients. */
static int run_conv3d(int threads, int64_t batch, bool slices, run_result *r) {
    cnn_set_threads(threads);
    cnn_graph *g = cnn_graph_create();
    const int64_t dims[5] = {0, 4, 5, 6, 7};
    cnn_node *x = cnn_input_nd(g, "x", 5, dims);
    cnn_conv3d_params ap = C3(6, 3, .pad_before = {1, 1, 1}, .pad_after = {1, 1, 1}, .bias = true);
    cnn_conv3d_params bp = C3(2, 1, .bias = true);
    cnn_conv3d_params cp = {.out_channels = 4, .kernel = {2, 3, 3}, .stride = {2, 2, 1}, .groups = 2,
                            .pad_before = {0, 1, 1}, .pad_after = {1, 0, 1}, .bias = true};
    cnn_node *a = cnn_conv3d_ex(g, x, "a", &ap), *b = cnn_conv3d_ex(g, x, "b", &bp);
    cnn_node *ab[2] = {a, b};
    cnn_node *c = cnn_conv3d_ex(g, cnn_concat(g, 2, ab, "cat"), "c", &cp);
    if (!c || cnn_graph_add_output(g, c, 0) || (!slices && (cnn_graph_add_output(g, a, 0) || cnn_graph_add_output(g, b, 0))) ||
        cnn_graph_init_params(g, 7))
        goto fail;
    return train_step_capture(g, batch, r);
fail:
    cnn_graph_free(g);
    return -1;
}

static const char *first_difference(const run_result *one, const run_result *two) {
    if (one->ny != two->ny || memcmp(one->y, two->y, (size_t)one->ny * sizeof(float)) != 0) return "outputs";
    if (one->ndx != two->ndx || memcmp(one->dx, two->dx, (size_t)one->ndx * sizeof(float)) != 0) return "input gradients";
    if (one->ngrads != two->ngrads || memcmp(one->grads, two->grads, (size_t)one->ngrads * sizeof(float)) != 0)
        return "parameter gradients";
    return NULL;
}

/* Batch 3 (one sum over samples, GEMMs shared by threads) and 5 (sample-parallel, chunked weight
 * gradients): 1 and 2 threads give the same bits, and so do channel-slice outputs and own buffers. */
static int conv3d_same_bits(void *arg) {
    (void)arg;
    const int64_t batches[2] = {3, 5};
    for (int i = 0; i < 2; i++) {
        run_result one = {0}, two = {0}, own = {0};
        int rc = run_conv3d(1, batches[i], true, &one) || run_conv3d(2, batches[i], true, &two) ||
                 run_conv3d(2, batches[i], false, &own);
        const char *threads = rc ? NULL : first_difference(&one, &two), *slices = rc ? NULL : first_difference(&two, &own);
        free(one.y), free(one.dx), free(one.grads), free(two.y), free(two.dx), free(two.grads);
        free(own.y), free(own.dx), free(own.grads);
        cnn_set_threads(0);
        CHECK(!rc, "batch %lld: run failed: %s", (long long)batches[i], cnn_last_error());
        CHECK(!threads, "batch %lld: %s differ between 1 and 2 threads", (long long)batches[i], threads);
        CHECK(!slices, "batch %lld: %s differ between slice and own-buffer outputs", (long long)batches[i], slices);
    }
    return 0;
}

/* Eval: conv3d -> batchnorm -> relu folded into the convolution gives the bits of the unfused
 * layers (and the plan does fold it: the batch norm's value is no separate buffer then). */
static int conv3d_eval_fusion(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    const int64_t dims[5] = {0, 3, 4, 5, 6};
    cnn_conv3d_params cp = C3(5, 3, .pad_before = {1, 1, 1}, .pad_after = {1, 1, 1}, .bias = true);
    cnn_node *conv = cnn_conv3d_ex(g, cnn_input_nd(g, "x", 5, dims), "conv", &cp);
    cnn_node *bn = cnn_batchnorm(g, conv, "bn", 1e-5f, 0.1f), *y = cnn_relu(g, bn, "relu");
    CHECK(y && cnn_graph_add_output(g, y, 0) == 0 && cnn_graph_init_params(g, 5) == 0, "build: %s", cnn_last_error());
    uint64_t state = 99;
    cnn_param prm;
    for (int64_t i = 0; i < cnn_param_count(g); i++) /* running stats away from 0 and 1 */
        if (cnn_param_get(g, i, &prm) == 0 && !prm.trainable)
            for (int64_t k = 0; k < prm.numel; k++)
                prm.data[k] = (strstr(prm.name, "running_var") ? 1.0f : 0.0f) + 0.2f * pseudo_random(&state);
    cnn_plan *fused = cnn_plan_create(g, 2, 0), *unfused = cnn_plan_create(g, 2, CNN_PLAN_UNFUSED);
    int result = -1;
    if (!fused || !unfused) {
        harness_message(__FILE__, __LINE__, "plans: %s", cnn_last_error());
        goto done;
    }
    cnn_tensor *a = cnn_plan_input(fused, 0), *b = cnn_plan_input(unfused, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(a); i++) a->data[i] = b->data[i] = pseudo_random(&state);
    if (cnn_plan_forward(fused) || cnn_plan_forward(unfused)) {
        harness_message(__FILE__, __LINE__, "forward: %s", cnn_last_error());
        goto done;
    }
    const cnn_tensor *ya = cnn_plan_output(fused, 0), *yb = cnn_plan_output(unfused, 0);
    int64_t positive = 0;
    for (int64_t i = 0; i < cnn_tensor_numel(ya); i++) positive += ya->data[i] > 0;
    if (memcmp(ya->data, yb->data, (size_t)cnn_tensor_numel(ya) * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "fused and unfused outputs differ");
    } else if (cnn_plan_value(fused, conv) || cnn_plan_value(fused, bn) || !cnn_plan_value(unfused, conv)) {
        harness_message(__FILE__, __LINE__, "the eval plan did not fold the batch norm and ReLU into the conv3d");
    } else if (positive == 0 || positive == cnn_tensor_numel(ya)) {
        harness_message(__FILE__, __LINE__, "degenerate test: %lld of %lld outputs positive", (long long)positive,
                        (long long)cnn_tensor_numel(ya));
    } else {
        result = 0;
    }
done:
    cnn_plan_free(fused);
    cnn_plan_free(unfused);
    cnn_graph_free(g);
    return result;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        char label[160];
        snprintf(label, sizeof label, "conv2d refuses: %s", refusals[i].label);
        harness_case(label, refuse, (void *)&refusals[i]);
    }
    harness_case("conv2d: NULL input keeps the first error; NULL parameters refused", null_arguments, NULL);
    harness_case("conv2d: shapes, parameter names and counts, MACs, PyTorch init bound", shapes_params_macs, NULL);
    harness_case("conv2d: bitwise identical forward and backward with 1 and 2 threads", same_bits_for_1_and_2_threads, NULL);
    harness_case("conv2d: small planes, samples side by side in the backward: bitwise identical with 1 and 2 threads",
                 same_bits_for_1_and_2_threads, "small");
    harness_case("conv2d: eval at batch 1 (threads share each product): bitwise identical with 1 and 2 threads", eval_batch1_same_bits, NULL);
    for (size_t i = 0; i < sizeof refusals3d / sizeof refusals3d[0]; i++) {
        char label[160];
        snprintf(label, sizeof label, "conv3d refuses: %s", refusals3d[i].label);
        harness_case(label, refuse3d, (void *)&refusals3d[i]);
    }
    harness_case("conv3d: shapes, parameter names and counts, MACs, defaults, PyTorch init bound", conv3d_shapes_params_macs,
                 NULL);
    harness_case("conv3d: bitwise identical with 1 and 2 threads, and with channel-slice outputs", conv3d_same_bits, NULL);
    harness_case("conv3d -> batchnorm -> relu: eval fusion gives the unfused bits", conv3d_eval_fusion, NULL);
    return harness_finish();
}
