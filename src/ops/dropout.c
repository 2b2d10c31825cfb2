/* dropout.c — inverted dropout whose mask is a hash of the node's per-step seed and the element's index. */
#include "ops.h"

#include <math.h>
#include <string.h>

typedef struct dropout_attrs {
    float p;
} dropout_attrs;

static int dropout_shape(cnn_node *n) {
    const dropout_attrs *a = n->attrs;
    if (!(a->p >= 0.0f && a->p <= 1.0f))
        return cnn_fail("dropout '%s': p must be in [0, 1] (got %g)", n->name, (double)a->p);
    n->shape = n->inputs[0]->shape;
    return 0;
}

/* Element `index` of the batch (sample-major, ignoring strides) is dropped when its hash falls below
 * p * 2^64: a function of the seed and the index only, so forward and backward agree and every thread
 * count draws the same mask. Exact for 0 < p < 1: p has 24 significant bits, so p * 2^64 is an integer. */
static uint64_t dropout_threshold(float p) { return (uint64_t)((double)p * 18446744073709551616.0); }

static bool dropout_keep(uint64_t seed, uint64_t index, uint64_t threshold) {
    return cnn_hash64(seed ^ cnn_hash64(index)) >= threshold;
}

/* What a call does: pass x through (eval, p == 0, or dropout switched off), zero it (p == 1), or mask it. */
typedef enum dropout_mode { DROPOUT_IDENTITY, DROPOUT_ZERO, DROPOUT_MASK } dropout_mode;

static dropout_mode dropout_mode_of(const cnn_op_ctx *c) {
    const dropout_attrs *a = c->attrs;
    if (!c->dropout || a->p == 0.0f) return DROPOUT_IDENTITY;
    return a->p >= 1.0f ? DROPOUT_ZERO : DROPOUT_MASK;
}

/* y = x * mask / (1 - p) (PyTorch multiplies by a noise tensor holding 0 or 1/(1-p): the same float products). */
static int dropout_forward(const cnn_op_ctx *c) {
    const dropout_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
    dropout_mode mode = dropout_mode_of(c);
    uint64_t threshold = mode == DROPOUT_MASK ? dropout_threshold(a->p) : 0;
    float scale = mode == DROPOUT_MASK ? 1.0f / (1.0f - a->p) : 1.0f;
    if (mode != DROPOUT_MASK) {
        for (int64_t b = 0; b < n; b++) { /* x, y (N, S) */
            float *yp = y->data + b * y->stride[0];
            if (mode == DROPOUT_IDENTITY) memcpy(yp, x->data + b * x->stride[0], (size_t)s * sizeof(float));
            else memset(yp, 0, (size_t)s * sizeof(float));
        }
        return 0;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < s; i++) { /* x, y (N, S) */
            float v = x->data[b * x->stride[0] + i];
            y->data[b * y->stride[0] + i] = dropout_keep(c->seed, (uint64_t)(b * s + i), threshold) ? v * scale : 0.0f;
        }
    return 0;
}

/* dx += dy * mask / (1 - p), the mask regenerated from the same seed as the forward's. */
static int dropout_backward(const cnn_op_ctx *c) {
    const dropout_attrs *a = c->attrs;
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = dy->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
    dropout_mode mode = dropout_mode_of(c);
    if (mode == DROPOUT_ZERO) return 0;
    uint64_t threshold = mode == DROPOUT_MASK ? dropout_threshold(a->p) : 0;
    float scale = mode == DROPOUT_MASK ? 1.0f / (1.0f - a->p) : 1.0f;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < s; i++) { /* dy, dx (N, S) */
            float g = dy->data[b * dy->stride[0] + i];
            if (mode == DROPOUT_IDENTITY) dx->data[b * dx->stride[0] + i] += g;
            else if (dropout_keep(c->seed, (uint64_t)(b * s + i), threshold)) dx->data[b * dx->stride[0] + i] += g * scale;
        }
    return 0;
}

static const cnn_op dropout_op = {
    .name = "dropout", .shape = dropout_shape, .forward = dropout_forward, .backward = dropout_backward};

cnn_node *cnn_dropout(cnn_graph *g, cnn_node *x, const char *name, float p) {
    dropout_attrs a = {p};
    return cnn_graph_add_node(g, &dropout_op, name, 1, &x, &a, sizeof a);
}
