/* activation.c — element-wise activations (ReLU, leaky ReLU, sigmoid, tanh) and softmax over dim 1. */
#include "ops.h"

#include <math.h>

typedef enum act_kind { ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH } act_kind;

typedef struct act_attrs {
    act_kind kind;
    float slope; /* leaky ReLU */
} act_attrs;

static int act_shape(cnn_node *n) {
    n->shape = n->inputs[0]->shape;
    return 0;
}

/* y = f(x) over each sample's contiguous block; x, y are (N, S) with sample strides. */
static int act_forward(const cnn_op_ctx *c) {
    const act_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < s; i++) {
            float v = x->data[b * x->stride[0] + i], r;
            switch (a->kind) {
            case ACT_RELU: r = v <= 0.0f ? 0.0f : v; break; /* NaN stays NaN, as in PyTorch */
            case ACT_LEAKY_RELU: r = v > 0.0f ? v : v * a->slope; break;
            case ACT_SIGMOID: r = 1.0f / (1.0f + expf(-v)); break;
            default: r = tanhf(v); break;
            }
            y->data[b * y->stride[0] + i] = r;
        }
    return 0;
}

/* dx += f'(x) * dy, with f' written through the output y where that is exact. */
static int act_backward(const cnn_op_ctx *c) {
    const act_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out, *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < s; i++) {
            float v = x->data[b * x->stride[0] + i], out = y->data[b * y->stride[0] + i];
            float g = dy->data[b * dy->stride[0] + i], d;
            switch (a->kind) {
            case ACT_RELU: d = v > 0.0f ? g : 0.0f; break;
            case ACT_LEAKY_RELU: d = v > 0.0f ? g : g * a->slope; break;
            case ACT_SIGMOID: d = g * out * (1.0f - out); break;
            default: d = g * (1.0f - out * out); break;
            }
            dx->data[b * dx->stride[0] + i] += d;
        }
    return 0;
}

static const cnn_op relu_op = {.name = "relu", .shape = act_shape, .forward = act_forward, .backward = act_backward};
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

/* ---- softmax over dim 1: x viewed as (N, C, S) with S = H*W ---- */

static int softmax_forward(const cnn_op_ctx *c) {
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], ch = x->shape[1], s = cnn_shape_sample_numel(&c->node->shape) / ch;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < s; j++) {
            const float *xp = x->data + b * x->stride[0] + j;
            float *yp = y->data + b * y->stride[0] + j;
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
    int64_t n = y->shape[0], ch = y->shape[1], s = cnn_shape_sample_numel(&c->node->shape) / ch;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < s; j++) {
            const float *yp = y->data + b * y->stride[0] + j, *gp = dy->data + b * dy->stride[0] + j;
            float *dp = dx->data + b * dx->stride[0] + j;
            double dot = 0.0;
            for (int64_t k = 0; k < ch; k++) dot += (double)gp[k * s] * yp[k * s];
            for (int64_t k = 0; k < ch; k++) dp[k * s] += yp[k * s] * (gp[k * s] - (float)dot);
        }
    return 0;
}

static const cnn_op softmax_op = {.name = "softmax", .shape = act_shape, .forward = softmax_forward, .backward = softmax_backward};

cnn_node *cnn_softmax(cnn_graph *g, cnn_node *x, const char *name) {
    return cnn_graph_add_node(g, &softmax_op, name, 1, &x, NULL, 0);
}
