/* activation.c — element-wise activations (ReLU, leaky ReLU, sigmoid, tanh, clip) and softmax over any run of dims. */
#include "ops.h"
#include "attrs.h"

#include <math.h>

static int act_shape(cnn_node *n) {
    n->shape = n->inputs[0]->shape;
    return 0;
}

/* Element-wise work is cut into blocks of this many elements, and below PARALLEL_MIN elements
 * in all it runs on the calling thread. Each element is computed on its own, so any split gives
 * the same bits. */
#define BLOCK 8192
#define PARALLEL_MIN 32768

/* One loop per kind over a contiguous run, with nothing in the loop that stops the compiler
 * from vectorising it (the arrays never overlap: every node has its own buffers). The loops
 * without a call (ReLU, leaky ReLU) have a version per vector width (CNN_CLONES). */
CNN_CLONES static void relu_fwd(const float *restrict x, float *restrict y, int64_t len, float slope) {
    (void)slope;
#pragma omp simd
    for (int64_t i = 0; i < len; i++) y[i] = x[i] <= 0.0f ? 0.0f : x[i]; /* NaN stays NaN, as in PyTorch */
}

CNN_CLONES static void leaky_relu_fwd(const float *restrict x, float *restrict y, int64_t len, float slope) {
#pragma omp simd
    for (int64_t i = 0; i < len; i++) {
        float v = x[i];
        y[i] = v * (v > 0.0f ? 1.0f : slope); /* v * 1 is v exactly; a select of constants vectorises */
    }
}

static void sigmoid_fwd(const float *restrict x, float *restrict y, int64_t len, float slope) {
    (void)slope;
    for (int64_t i = 0; i < len; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void tanh_fwd(const float *restrict x, float *restrict y, int64_t len, float slope) {
    (void)slope;
    for (int64_t i = 0; i < len; i++) y[i] = tanhf(x[i]);
}

/* dx += f'(x) * dy over a contiguous run; ReLU's derivative is read through the output (y > 0
 * exactly where x > 0, NaN included), sigmoid's and tanh's are written through it. */
CNN_CLONES static void relu_bwd(const float *restrict x, const float *restrict y, const float *restrict g, float *restrict dx,
                     int64_t len, float slope) {
    (void)x;
    (void)slope;
#pragma omp simd
    for (int64_t i = 0; i < len; i++) {
        float d = g[i];
        dx[i] += y[i] > 0.0f ? d : 0.0f;
    }
}

CNN_CLONES static void leaky_relu_bwd(const float *restrict x, const float *restrict y, const float *restrict g,
                           float *restrict dx, int64_t len, float slope) {
    (void)y;
#pragma omp simd
    for (int64_t i = 0; i < len; i++) {
        dx[i] += g[i] * (x[i] > 0.0f ? 1.0f : slope);
    }
}

static void sigmoid_bwd(const float *restrict x, const float *restrict y, const float *restrict g,
                        float *restrict dx, int64_t len, float slope) {
    (void)x;
    (void)slope;
#pragma omp simd
    for (int64_t i = 0; i < len; i++) dx[i] += g[i] * y[i] * (1.0f - y[i]);
}

static void tanh_bwd(const float *restrict x, const float *restrict y, const float *restrict g, float *restrict dx,
                     int64_t len, float slope) {
    (void)x;
    (void)slope;
#pragma omp simd
    for (int64_t i = 0; i < len; i++) dx[i] += g[i] * (1.0f - y[i] * y[i]);
}

typedef void (*act_fwd_fn)(const float *restrict, float *restrict, int64_t, float);
typedef void (*act_bwd_fn)(const float *restrict, const float *restrict, const float *restrict, float *restrict,
                           int64_t, float);

static const act_fwd_fn act_fwd[] = {[ACT_RELU] = relu_fwd, [ACT_LEAKY_RELU] = leaky_relu_fwd,
                                     [ACT_SIGMOID] = sigmoid_fwd, [ACT_TANH] = tanh_fwd};
static const act_bwd_fn act_bwd[] = {[ACT_RELU] = relu_bwd, [ACT_LEAKY_RELU] = leaky_relu_bwd,
                                     [ACT_SIGMOID] = sigmoid_bwd, [ACT_TANH] = tanh_bwd};

/* True when the n samples of s elements of every tensor given lie back to back. */
static bool packed(int64_t s, const cnn_tensor *a, const cnn_tensor *b, const cnn_tensor *c, const cnn_tensor *d) {
    return a->stride[0] == s && b->stride[0] == s && (!c || c->stride[0] == s) && (!d || d->stride[0] == s);
}

/* y = f(x); x, y are (N, S) with sample strides. Packed tensors are one run cut into blocks. */
static int act_forward(const cnn_op_ctx *c) {
    const act_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape), total = n * s;
    act_fwd_fn f = act_fwd[a->kind];
    if (packed(s, x, y, NULL, NULL)) {
        int64_t blocks = (total + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
        for (int64_t k = 0; k < blocks; k++) {
            int64_t at = k * BLOCK, len = total - at < BLOCK ? total - at : BLOCK;
            f(x->data + at, y->data + at, len, a->slope);
        }
    } else {
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
        for (int64_t b = 0; b < n; b++) f(x->data + b * x->stride[0], y->data + b * y->stride[0], s, a->slope);
    }
    return 0;
}

/* dx += f'(x) * dy */
static int act_backward(const cnn_op_ctx *c) {
    const act_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out, *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape), total = n * s;
    act_bwd_fn f = act_bwd[a->kind];
    if (packed(s, x, y, dy, dx)) {
        int64_t blocks = (total + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
        for (int64_t k = 0; k < blocks; k++) {
            int64_t at = k * BLOCK, len = total - at < BLOCK ? total - at : BLOCK;
            f(x->data + at, y->data + at, dy->data + at, dx->data + at, len, a->slope);
        }
    } else {
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
        for (int64_t b = 0; b < n; b++)
            f(x->data + b * x->stride[0], y->data + b * y->stride[0], dy->data + b * dy->stride[0],
              dx->data + b * dx->stride[0], s, a->slope);
    }
    return 0;
}

static const cnn_op relu_op = {.name = "relu", .shape = act_shape, .forward = act_forward, .backward = act_backward, .caps = CNN_CAP_RELU};
static const cnn_op leaky_relu_op = {.name = "leaky_relu", .shape = act_shape, .forward = act_forward, .backward = act_backward};
static const cnn_op sigmoid_op = {.name = "sigmoid", .shape = act_shape, .forward = act_forward, .backward = act_backward};
static const cnn_op tanh_op = {.name = "tanh", .shape = act_shape, .forward = act_forward, .backward = act_backward};

cnn_node *cnn_relu(cnn_graph *g, cnn_node *x, const char *name) {
    act_attrs a = {ACT_RELU, 0.0f};
    return cnn_graph_add_node(g, &relu_op, name, 1, &x, &a, sizeof a);
}

cnn_node *cnn_leaky_relu(cnn_graph *g, cnn_node *x, const char *name, float negative_slope) {
    act_attrs a = {ACT_LEAKY_RELU, negative_slope};
    return cnn_graph_add_node(g, &leaky_relu_op, name, 1, &x, &a, sizeof a);
}

cnn_node *cnn_sigmoid(cnn_graph *g, cnn_node *x, const char *name) {
    act_attrs a = {ACT_SIGMOID, 0.0f};
    return cnn_graph_add_node(g, &sigmoid_op, name, 1, &x, &a, sizeof a);
}

cnn_node *cnn_tanh(cnn_graph *g, cnn_node *x, const char *name) {
    act_attrs a = {ACT_TANH, 0.0f};
    return cnn_graph_add_node(g, &tanh_op, name, 1, &x, &a, sizeof a);
}

/* ---- clip ---- */

static int clip_shape(cnn_node *n) {
    const clip_attrs *a = n->attrs;
    if (!(a->min <= a->max)) return cnn_fail("clip '%s': min %g is above max %g (or NaN)", n->name, a->min, a->max);
    n->shape = n->inputs[0]->shape;
    return 0;
}

/* y = min(max(x, lo), hi); NaN stays NaN like PyTorch's clamp. */
static void clip_fwd(const float *restrict x, float *restrict y, int64_t len, float lo, float hi) {
    for (int64_t i = 0; i < len; i++) y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

/* dx += dy where lo <= x <= hi */
static void clip_bwd(const float *restrict x, const float *restrict g, float *restrict dx, int64_t len, float lo, float hi) {
#pragma omp simd
    for (int64_t i = 0; i < len; i++) dx[i] += x[i] >= lo && x[i] <= hi ? g[i] : 0.0f;
}

static int clip_forward(const cnn_op_ctx *c) {
    const clip_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for schedule(static) if (n * s >= PARALLEL_MIN)
    for (int64_t b = 0; b < n; b++) clip_fwd(x->data + b * x->stride[0], y->data + b * y->stride[0], s, a->min, a->max);
    return 0;
}

static int clip_backward(const cnn_op_ctx *c) {
    const clip_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for schedule(static) if (n * s >= PARALLEL_MIN)
    for (int64_t b = 0; b < n; b++)
        clip_bwd(x->data + b * x->stride[0], dy->data + b * dy->stride[0], dx->data + b * dx->stride[0], s, a->min, a->max);
    return 0;
}

static const cnn_op clip_op = {.name = "clip", .shape = clip_shape, .forward = clip_forward, .backward = clip_backward};

cnn_node *cnn_clip(cnn_graph *g, cnn_node *x, const char *name, float min, float max) {
    clip_attrs a = {min, max};
    return cnn_graph_add_node(g, &clip_op, name, 1, &x, &a, sizeof a);
}

/* ---- softmax over the joint dims first..last: x viewed as (N, O, C, S), O the dims before, S after ---- */

static int softmax_shape(cnn_node *n) {
    const softmax_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    if (a->first < 1 || a->last < a->first || a->last >= in->rank)
        return cnn_fail("softmax '%s': dims %d..%d are outside 1..%d of input '%s' %s", n->name, a->first, a->last, in->rank - 1,
                        n->inputs[0]->name, cnn_shape_str(in, buf, sizeof buf));
    n->shape = *in;
    return 0;
}

static void softmax_layout(const cnn_node *n, int64_t *outer, int64_t *ch, int64_t *inner) {
    const softmax_attrs *a = n->attrs;
    *outer = *ch = *inner = 1;
    for (int d = 1; d < n->shape.rank; d++) *(d < a->first ? outer : d <= a->last ? ch : inner) *= n->shape.dims[d];
}

static int softmax_forward(const cnn_op_ctx *c) {
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], outer, ch, s;
    softmax_layout(c->node, &outer, &ch, &s);
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < s; j++) {
                const float *xp = x->data + b * x->stride[0] + o * ch * s + j;
                float *yp = y->data + b * y->stride[0] + o * ch * s + j;
                float mx = -INFINITY;
                for (int64_t k = 0; k < ch; k++) mx = fmaxf(mx, xp[k * s]);
                double sum = 0.0;
                for (int64_t k = 0; k < ch; k++) {
                    yp[k * s] = expf(xp[k * s] - mx);
                    sum += yp[k * s];
                }
                float inv = (float)(1.0 / sum);
                for (int64_t k = 0; k < ch; k++) yp[k * s] *= inv;
            }
    return 0;
}

/* dx_k += y_k * (dy_k - sum_j dy_j y_j) */
static int softmax_backward(const cnn_op_ctx *c) {
    const cnn_tensor *y = c->out, *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = y->shape[0], outer, ch, s;
    softmax_layout(c->node, &outer, &ch, &s);
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < s; j++) {
                int64_t at = o * ch * s + j;
                const float *yp = y->data + b * y->stride[0] + at, *gp = dy->data + b * dy->stride[0] + at;
                float *dp = dx->data + b * dx->stride[0] + at;
                double dot = 0.0;
                for (int64_t k = 0; k < ch; k++) dot += (double)gp[k * s] * yp[k * s];
                for (int64_t k = 0; k < ch; k++) dp[k * s] += yp[k * s] * (gp[k * s] - (float)dot);
            }
    return 0;
}

static const cnn_op softmax_op = {.name = "softmax", .shape = softmax_shape, .forward = softmax_forward, .backward = softmax_backward};

cnn_node *cnn_softmax(cnn_graph *g, cnn_node *x, const char *name) { return cnn_softmax_dims(g, x, name, 1, 1); }

cnn_node *cnn_softmax_dims(cnn_graph *g, cnn_node *x, const char *name, int first, int last) {
    softmax_attrs a = {first, last};
    return cnn_graph_add_node(g, &softmax_op, name, 1, &x, &a, sizeof a);
}
