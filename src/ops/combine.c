/* combine.c — ops that join or reshape tensors: concatenation along channels, addition, scaling, zero padding. */
#include "ops.h"
#include "attrs.h"

#include <string.h>

/* Element-wise loops run in pieces of PIECE elements, on the calling thread below PARALLEL_MIN
 * elements in all; every element is computed on its own, so any split gives the same bits. */
#define PIECE 8192
#define PARALLEL_MIN 32768

/* dst[0, len) += src[0, len); gradients of different nodes never overlap. */
static void add_into(float *restrict dst, const float *restrict src, int64_t len) {
#pragma omp simd
    for (int64_t i = 0; i < len; i++) dst[i] += src[i];
}

/* ---- concat along dim 1 ---- */

static int concat_shape(cnn_node *n) {
    const cnn_shape *first = &n->inputs[0]->shape;
    char a[96], b[96];
    n->shape = *first;
    n->shape.dims[0] = 0;
    int64_t channels = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const cnn_shape *s = &n->inputs[i]->shape;
        if (s->rank != first->rank)
            return cnn_fail("concat '%s': input %d '%s' has shape %s but input 0 '%s' has %s; ranks differ", n->name, i,
                            n->inputs[i]->name, cnn_shape_str(s, a, sizeof a), n->inputs[0]->name,
                            cnn_shape_str(first, b, sizeof b));
        for (int d = 2; d < s->rank; d++)
            if (s->dims[d] != first->dims[d])
                return cnn_fail("concat '%s': input %d '%s' has shape %s but input 0 '%s' has %s; all dims but dim 1 must match",
                                n->name, i, n->inputs[i]->name, cnn_shape_str(s, a, sizeof a), n->inputs[0]->name,
                                cnn_shape_str(first, b, sizeof b));
        channels = cnn_add_i64(channels, s->dims[1]);
        if (channels < 0) return cnn_fail("concat '%s': too many channels", n->name);
    }
    n->shape.dims[1] = channels;
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("concat '%s': output too large", n->name);
    return 0;
}

/* The plan placed x in y's channels from `offset` on (zero-copy concatenation): nothing to move. */
static bool is_slice(const cnn_tensor *x, const cnn_tensor *y, int64_t offset) {
    return x->data == y->data + offset && x->stride[0] == y->stride[0];
}

/* y (N, sum C_i, H, W): input i fills channels [off_i, off_i + C_i) of each sample, a contiguous block. */
static int concat_forward(const cnn_op_ctx *c) {
    const cnn_tensor *y = c->out;
    int64_t n = y->shape[0], offset = 0;
    for (int i = 0; i < c->n_inputs; i++) {
        const cnn_tensor *x = c->in[i];
        int64_t block = cnn_shape_sample_numel(&c->node->inputs[i]->shape); /* C_i*H*W */
        if (!is_slice(x, y, offset)) {
#pragma omp parallel for schedule(static)
            for (int64_t s = 0; s < n; s++)
                memcpy(y->data + s * y->stride[0] + offset, x->data + s * x->stride[0], (size_t)block * sizeof(float));
        }
        offset += block;
    }
    return 0;
}

/* dx_i (N, C_i, H, W) += dy[:, off_i : off_i + C_i] */
static int concat_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    int64_t n = dy->shape[0], offset = 0;
    for (int i = 0; i < c->n_inputs; i++) {
        cnn_tensor *dx = c->din[i];
        int64_t block = cnn_shape_sample_numel(&c->node->inputs[i]->shape);
        if (dx && !is_slice(dx, dy, offset)) {
            int64_t pieces = (block + PIECE - 1) / PIECE; /* of each sample's block */
#pragma omp parallel for collapse(2) schedule(static) if (n * block >= PARALLEL_MIN)
            for (int64_t s = 0; s < n; s++)
                for (int64_t k = 0; k < pieces; k++) {
                    int64_t at = k * PIECE, len = block - at < PIECE ? block - at : PIECE;
                    add_into(dx->data + s * dx->stride[0] + at, dy->data + s * dy->stride[0] + offset + at, len);
                }
        }
        offset += block;
    }
    return 0;
}

static const cnn_op concat_op = {
    .name = "concat", .shape = concat_shape, .forward = concat_forward, .backward = concat_backward, .caps = CNN_CAP_CHANNEL_CONCAT};

cnn_node *cnn_concat(cnn_graph *g, int n, cnn_node *const *xs, const char *name) {
    if (n < 1 || !xs)
        return cnn_fail_null("concat%s%s%s: needs at least one input (got %d)", name ? " '" : "", name ? name : "", name ? "'" : "",
                             xs ? n : 0);
    return cnn_graph_add_node(g, &concat_op, name, n, xs, NULL, 0);
}

/* ---- add ---- */

static bool same_shape(const cnn_shape *a, const cnn_shape *b) {
    if (a->rank != b->rank) return false;
    for (int d = 1; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return true;
}

static int add_shape(cnn_node *n) {
    const cnn_shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape;
    char sa[96], sb[96];
    if (!same_shape(a, b))
        return cnn_fail("add '%s': inputs '%s' %s and '%s' %s have different shapes", n->name, n->inputs[0]->name,
                        cnn_shape_str(a, sa, sizeof sa), n->inputs[1]->name, cnn_shape_str(b, sb, sizeof sb));
    n->shape = *a;
    return 0;
}

/* y (N, S) = a + b */
static int add_forward(const cnn_op_ctx *c) {
    const cnn_tensor *a = c->in[0], *b = c->in[1], *y = c->out;
    int64_t n = y->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < s; i++) y->data[k * y->stride[0] + i] = a->data[k * a->stride[0] + i] + b->data[k * b->stride[0] + i];
    return 0;
}

/* da += dy, db += dy (the same tensor twice when both inputs are one node: it gets 2 dy) */
static int add_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    int64_t n = dy->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
    for (int j = 0; j < 2; j++) {
        cnn_tensor *dx = c->din[j];
        if (!dx) continue;
        int64_t pieces = (s + PIECE - 1) / PIECE; /* of each sample */
#pragma omp parallel for collapse(2) schedule(static) if (n * s >= PARALLEL_MIN)
        for (int64_t k = 0; k < n; k++)
            for (int64_t p = 0; p < pieces; p++) {
                int64_t at = p * PIECE, len = s - at < PIECE ? s - at : PIECE;
                add_into(dx->data + k * dx->stride[0] + at, dy->data + k * dy->stride[0] + at, len);
            }
    }
    return 0;
}

static const cnn_op add_op = {.name = "add", .shape = add_shape, .forward = add_forward, .backward = add_backward, .caps = CNN_CAP_ADD};

cnn_node *cnn_add(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name) {
    cnn_node *xs[2] = {a, b};
    return cnn_graph_add_node(g, &add_op, name, 2, xs, NULL, 0);
}

/* ---- scale ---- */

static int scale_shape(cnn_node *n) {
    n->shape = n->inputs[0]->shape;
    return 0;
}

/* y (N, S) = x * factor */
static int scale_forward(const cnn_op_ctx *c) {
    const scale_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = y->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < s; i++) y->data[k * y->stride[0] + i] = x->data[k * x->stride[0] + i] * a->factor;
    return 0;
}

/* dx += dy * factor */
static int scale_backward(const cnn_op_ctx *c) {
    const scale_attrs *a = c->attrs;
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = dy->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < s; i++) dx->data[k * dx->stride[0] + i] += dy->data[k * dy->stride[0] + i] * a->factor;
    return 0;
}

static const cnn_op scale_op = {.name = "scale", .shape = scale_shape, .forward = scale_forward, .backward = scale_backward};

cnn_node *cnn_scale(cnn_graph *g, cnn_node *x, const char *name, float factor) {
    scale_attrs a = {factor};
    return cnn_graph_add_node(g, &scale_op, name, 1, &x, &a, sizeof a);
}

/* ---- zero padding of H and W ---- */

static int zero_pad_shape(cnn_node *n) {
    const zero_pad_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    if (in->rank != 4)
        return cnn_fail("zero_pad '%s': input '%s' has shape %s; zero padding needs (N,C,H,W)", n->name, n->inputs[0]->name,
                        cnn_shape_str(in, buf, sizeof buf));
    if (a->top < 0 || a->bottom < 0 || a->left < 0 || a->right < 0)
        return cnn_fail("zero_pad '%s': negative padding (top %d, bottom %d, left %d, right %d)", n->name, a->top, a->bottom,
                        a->left, a->right);
    n->shape = *in;
    n->shape.dims[2] = cnn_add_i64(in->dims[2], (int64_t)a->top + a->bottom);
    n->shape.dims[3] = cnn_add_i64(in->dims[3], (int64_t)a->left + a->right);
    if (n->shape.dims[2] < 0 || n->shape.dims[3] < 0 || cnn_shape_sample_numel(&n->shape) < 0)
        return cnn_fail("zero_pad '%s': output too large", n->name);
    return 0;
}

/* y (N, C, H+top+bottom, W+left+right): zero border, x copied row by row inside it. */
static int zero_pad_forward(const cnn_op_ctx *c) {
    const zero_pad_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = y->shape[2], ow = y->shape[3];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t s = 0; s < n; s++)
        for (int64_t k = 0; k < ch; k++) {
            const float *xp = x->data + s * x->stride[0] + k * h * w;   /* (H, W) */
            float *yp = y->data + s * y->stride[0] + k * oh * ow;       /* (OH, OW) */
            memset(yp, 0, (size_t)(a->top * ow) * sizeof(float));
            for (int64_t i = 0; i < h; i++) {
                float *row = yp + (i + a->top) * ow;
                memset(row, 0, (size_t)a->left * sizeof(float));
                memcpy(row + a->left, xp + i * w, (size_t)w * sizeof(float));
                memset(row + a->left + w, 0, (size_t)a->right * sizeof(float));
            }
            memset(yp + (a->top + h) * ow, 0, (size_t)(a->bottom * ow) * sizeof(float));
        }
    return 0;
}

/* dx (N, C, H, W) += the interior of dy */
static int zero_pad_backward(const cnn_op_ctx *c) {
    const zero_pad_attrs *a = c->attrs;
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = dx->shape[0], ch = dx->shape[1], h = dx->shape[2], w = dx->shape[3];
    int64_t oh = dy->shape[2], ow = dy->shape[3];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t s = 0; s < n; s++)
        for (int64_t k = 0; k < ch; k++) {
            float *dxp = dx->data + s * dx->stride[0] + k * h * w;
            const float *dyp = dy->data + s * dy->stride[0] + k * oh * ow + a->top * ow + a->left;
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) dxp[i * w + j] += dyp[i * ow + j];
        }
    return 0;
}

static const cnn_op zero_pad_op = {
    .name = "zero_pad", .shape = zero_pad_shape, .forward = zero_pad_forward, .backward = zero_pad_backward};

cnn_node *cnn_zero_pad(cnn_graph *g, cnn_node *x, const char *name, int top, int bottom, int left, int right) {
    zero_pad_attrs a = {top, bottom, left, right};
    return cnn_graph_add_node(g, &zero_pad_op, name, 1, &x, &a, sizeof a);
}
