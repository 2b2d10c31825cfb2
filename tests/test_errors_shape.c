/* test_errors_shape.c — refusals of the ops ONNX import maps onto (reshape, constant, concat on any axis, pad,
 * broadcasting add/mul, matmul, clip, softmax over dims, global max pool, LRN windows, inputs of any rank), each
 * with a message naming the layer and the shapes; a refused layer leaves the graph as it was. */
#include "cnn.h"
#include "harness.h"

#include <math.h>
#include <string.h>

static bool has(const char *needle) { return strstr(cnn_last_error(), needle) != NULL; }

/* Builds inputs a (3,4,5) and b of per-sample shape `b_dims` (rank b_rank), runs `build`, and checks
 * it was refused with every needle in the message and nothing added to the graph. */
typedef cnn_node *(*build_fn)(cnn_graph *g, cnn_node *a, cnn_node *b);

static int refused(const char *what, build_fn build, int b_rank, const int64_t *b_dims, const char *const *needles) {
    cnn_graph *g = cnn_graph_create();
    const int64_t a_dims[4] = {0, 3, 4, 5};
    cnn_node *a = cnn_input_nd(g, "a", 4, a_dims), *b = cnn_input_nd(g, "b", b_rank, b_dims);
    CHECK(a && b, "%s: inputs: %s", what, cnn_last_error());
    int64_t before = cnn_graph_node_count(g);
    cnn_node *y = build(g, a, b);
    int64_t after = cnn_graph_node_count(g);
    cnn_graph_free(g);
    CHECK(!y, "%s was accepted", what);
    for (int i = 0; needles[i]; i++) CHECK(has(needles[i]), "%s: message lacks '%s': %s", what, needles[i], cnn_last_error());
    CHECK(after == before, "%s: a refused layer stayed in the graph", what);
    return 0;
}

static cnn_node *reshape_wrong_count(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    const int64_t dims[3] = {0, 7, 9};
    return cnn_reshape(g, a, "flat", 3, dims);
}
static cnn_node *concat_axis_mismatch(cnn_graph *g, cnn_node *a, cnn_node *b) {
    cnn_node *xs[2] = {a, b};
    return cnn_concat_axis(g, 2, xs, 2, "cat");
}
static cnn_node *concat_axis_out_of_range(cnn_graph *g, cnn_node *a, cnn_node *b) {
    cnn_node *xs[2] = {a, b};
    return cnn_concat_axis(g, 2, xs, 4, "cat");
}
static cnn_node *mul_no_broadcast(cnn_graph *g, cnn_node *a, cnn_node *b) { return cnn_mul(g, a, b, "gate"); }
static cnn_node *add_no_broadcast(cnn_graph *g, cnn_node *a, cnn_node *b) { return cnn_add_broadcast(g, a, b, "sum"); }
static cnn_node *matmul_bad(cnn_graph *g, cnn_node *a, cnn_node *b) { return cnn_matmul(g, a, b, "mm"); }
static cnn_node *transpose_batch(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    return cnn_transpose(g, a, "swap", 4, (const int[]){1, 0, 2, 3});
}
static cnn_node *transpose_repeated(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    return cnn_transpose(g, a, "swap", 4, (const int[]){0, 2, 2, 3});
}
static cnn_node *transpose_wrong_rank(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    return cnn_transpose(g, a, "swap", 3, (const int[]){0, 2, 1});
}
static cnn_node *pad_reflect_too_wide(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    const int64_t before[CNN_MAX_RANK] = {0, 0, 4, 0}, after[CNN_MAX_RANK] = {0};
    return cnn_pad(g, a, "mirror", CNN_PADMODE_REFLECT, before, after, 0.0f);
}
static cnn_node *pad_batch(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    const int64_t before[CNN_MAX_RANK] = {1, 0, 0, 0}, after[CNN_MAX_RANK] = {0};
    return cnn_pad(g, a, "grow", CNN_PADMODE_CONSTANT, before, after, 0.0f);
}
static cnn_node *pad_negative(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    const int64_t before[CNN_MAX_RANK] = {0, 0, -1, 0}, after[CNN_MAX_RANK] = {0};
    return cnn_pad(g, a, "crop", CNN_PADMODE_EDGE, before, after, 0.0f);
}
static cnn_node *clip_inverted(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    return cnn_clip(g, a, "clamp", 2.0f, 1.0f);
}
static cnn_node *softmax_batch_dim(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    return cnn_softmax_dims(g, a, "probs", 0, 1);
}
static cnn_node *global_maxpool_rank3(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)a;
    return cnn_global_maxpool(g, b, "gmp");
}
static cnn_node *lrn_window_outside(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)b;
    return cnn_lrn_window(g, a, "lrn", 4, 4, 1e-4f, 0.75f, 1.0f);
}
static cnn_node *constant_nonpositive(cnn_graph *g, cnn_node *a, cnn_node *b) {
    (void)a, (void)b;
    const int64_t dims[3] = {0, 3, 0};
    return cnn_constant(g, "table", 3, dims, true);
}

static int all_refusals(void *arg) {
    (void)arg;
    const int64_t b345[4] = {0, 3, 4, 5}, b3[4] = {0, 3, 1, 2}, r3[3] = {0, 4, 6};
    return refused("reshape to another element count", reshape_wrong_count, 4, b345,
                   (const char *const[]){"reshape 'flat'", "(N,3,4,5)", "60 elements", "7x9", NULL}) ||
           refused("concat with a dim other than the axis differing", concat_axis_mismatch, 4, b3,
                   (const char *const[]){"concat 'cat'", "(N,3,1,2)", "all dims but dim 2", NULL}) ||
           refused("concat along a dim the inputs lack", concat_axis_out_of_range, 4, b345,
                   (const char *const[]){"concat 'cat'", "axis 4", NULL}) ||
           refused("mul of shapes that do not broadcast", mul_no_broadcast, 4, b3,
                   (const char *const[]){"mul 'gate'", "(N,3,4,5)", "(N,3,1,2)", "do not broadcast", NULL}) ||
           refused("add of different ranks", add_no_broadcast, 3, r3,
                   (const char *const[]){"add 'sum'", "(N,4,6)", "ranks must be equal", NULL}) ||
           refused("matmul of (4,5) by (1,2)", matmul_bad, 4, b3, (const char *const[]){"matmul 'mm'", "(N,3,1,2)", NULL}) ||
           refused("reflect pad as wide as the dim", pad_reflect_too_wide, 4, b345,
                   (const char *const[]){"pad 'mirror'", "smaller than its size 4", NULL}) ||
           refused("a transposition moving the batch", transpose_batch, 4, b345,
                   (const char *const[]){"transpose 'swap'", "batch", "(N,3,4,5)", NULL}) ||
           refused("a transposition naming a dim twice", transpose_repeated, 4, b345,
                   (const char *const[]){"transpose 'swap'", "permutation", NULL}) ||
           refused("a transposition of another rank", transpose_wrong_rank, 4, b345,
                   (const char *const[]){"transpose 'swap'", "rank 4", NULL}) ||
           refused("padding the batch", pad_batch, 4, b345, (const char *const[]){"pad 'grow'", "batch", NULL}) ||
           refused("a negative pad", pad_negative, 4, b345, (const char *const[]){"pad 'crop'", "negative", NULL}) ||
           refused("clip with min above max", clip_inverted, 4, b345, (const char *const[]){"clip 'clamp'", "above max", NULL}) ||
           refused("softmax over the batch", softmax_batch_dim, 4, b345, (const char *const[]){"softmax 'probs'", "dims 0..1", NULL}) ||
           refused("global max pool of a rank-3 value", global_maxpool_rank3, 3, r3,
                   (const char *const[]){"global_maxpool 'gmp'", "(N,4,6)", NULL}) ||
           refused("an LRN window starting outside itself", lrn_window_outside, 4, b345,
                   (const char *const[]){"lrn 'lrn'", "window of 4", NULL}) ||
           refused("a constant with a zero dim", constant_nonpositive, 4, b345,
                   (const char *const[]){"constant 'table'", "3x0", "positive", NULL});
}

static int input_nd_ranks(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    const int64_t dims[6] = {0, 2, 3, 4, 5, 6};
    cnn_node *r6 = cnn_input_nd(g, "six", 6, dims), *r0 = cnn_input_nd(g, "none", 0, dims);
    CHECK(!r6 && !r0 && has("rank 0 is not supported"), "rank 0 / 6 inputs: %s", cnn_last_error());
    cnn_node *r1 = cnn_input_nd(g, "scalars", 1, dims), *r3 = cnn_input_nd(g, "seq", 3, dims);
    cnn_node *r5 = cnn_input_nd(g, "volume", 5, dims);
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(r5, d);
    CHECK(r5 && cnn_node_rank(r5) == 5 && d[4] == 5, "rank 5 input: %s", cnn_last_error());
    cnn_node_shape(r3, d);
    CHECK(r1 && r3 && cnn_node_rank(r1) == 1 && cnn_node_rank(r3) == 3 && d[1] == 2 && d[2] == 3, "rank 1 / 3 inputs: %s",
          cnn_last_error());
    CHECK(cnn_graph_input_count(g) == 3, "%d inputs, 3 expected", cnn_graph_input_count(g));
    cnn_graph_free(g);
    return 0;
}

/* A trainable constant's gradient is the sum of its output gradient over the batch. */
static int constant_gradient_sums_batch(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    const int64_t dims[3] = {0, 2, 3};
    cnn_node *x = cnn_input_nd(g, "x", 3, dims), *k = cnn_constant(g, "k", 3, dims, true);
    cnn_node *y = cnn_mul(g, x, k, "y");
    CHECK(y && cnn_graph_add_output(g, y, 0) == 0, "%s", cnn_last_error());
    cnn_param p;
    CHECK(cnn_param_find(g, "k.value", &p) == 0 && p.numel == 6 && p.rank == 2, "parameter k.value: %s", cnn_last_error());
    for (int i = 0; i < 6; i++) p.data[i] = (float)i;
    cnn_plan *plan = cnn_plan_create(g, 3, CNN_PLAN_TRAIN);
    CHECK(plan, "%s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(plan, 0);
    for (int i = 0; i < 18; i++) in->data[i] = (float)(i / 6 + 1); /* sample s holds s + 1 */
    cnn_graph_zero_grad(g);
    int rc = cnn_plan_forward(plan);
    const float o7 = cnn_plan_output(plan, 0)->data[7], o17 = cnn_plan_output(plan, 0)->data[17];
    bool fwd = rc == 0 && o7 == 2.0f * 1.0f && o17 == 3.0f * 5.0f;
    cnn_tensor *dy = cnn_plan_output_grad(plan, 0);
    for (int i = 0; i < 18; i++) dy->data[i] = 1.0f;
    rc |= cnn_plan_backward(plan);
    cnn_param_find(g, "k.value", &p);
    bool bwd = rc == 0 && p.grad[0] == 6.0f && p.grad[5] == 6.0f; /* 1 + 2 + 3 */
    cnn_plan_free(plan);
    cnn_graph_free(g);
    CHECK(fwd, "forward of x * constant wrong (%g, %g)", (double)o7, (double)o17);
    CHECK(bwd, "constant gradient wrong, expected the batch sum 6");
    return 0;
}

/* An unbatched graph passes a (0,3,4) tensor through reshape, transpose and mul; relu, a batched
 * graph and a plan of batch 2 refuse it, naming the layer. */
static int empty_values(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    const int64_t in[4] = {0, 0, 3, 4}, to[4] = {0, 3, 4, 0};
    cnn_node *x = cnn_input_nd(g, "x", 4, in);
    CHECK(!x && has("input 'x': shape 0x3x4 must be positive"), "empty input of a batched graph: %s", cnn_last_error());
    cnn_graph_set_unbatched(g, true);
    x = cnn_input_nd(g, "x", 4, in);
    cnn_node *r = cnn_reshape(g, x, "r", 4, to);
    cnn_node *t = cnn_transpose(g, r, "t", 4, (const int[]){0, 3, 1, 2});
    cnn_node *y = cnn_mul(g, t, t, "sq");
    CHECK(y && cnn_graph_add_output(g, y, 0) == 0, "empty values in an unbatched graph: %s", cnn_last_error());
    int64_t before = cnn_graph_node_count(g);
    CHECK(!cnn_relu(g, y, "act") && has("relu 'act': input 'sq' is empty (shape 0x3x4)"), "relu of an empty value: %s",
          cnn_last_error());
    CHECK(cnn_graph_node_count(g) == before, "a refused layer stayed in the graph");
    CHECK(!cnn_plan_create(g, 2, 0) && has("batch size is 1, not 2"), "batch 2 of an unbatched graph: %s", cnn_last_error());
    cnn_plan *p = cnn_plan_create(g, 1, 0);
    CHECK(p && cnn_plan_forward(p) == 0, "plan of empty values: %s", cnn_last_error());
    const cnn_tensor *o = cnn_plan_output(p, 0);
    CHECK(cnn_tensor_numel(o) == 0 && o->rank == 4 && o->shape[1] == 0 && o->shape[2] == 3 && o->shape[3] == 4,
          "output of %lld elements, rank %d", (long long)cnn_tensor_numel(o), o->rank);
    cnn_plan_free(p);
    cnn_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    harness_case("bad shapes for reshape, concat, pad, mul/add broadcast, matmul, clip, softmax, pools, LRN, constants",
                 all_refusals, NULL);
    harness_case("inputs of rank 1 to 5; rank 0 and 6 refused", input_nd_ranks, NULL);
    harness_case("empty values: moved in an unbatched graph, refused elsewhere", empty_values, NULL);
    harness_case("a trainable constant's gradient sums the batch", constant_gradient_sums_batch, NULL);
    return harness_finish();
}
