/* shape.c — ops that move elements without arithmetic: reshape, constants, concatenation along any dim, padding
 * (constant, reflect, edge), transposition. Per-sample shapes of rank r are walked as four dims (D1..D4), 1s in front. */
#include "ops.h"
#include "attrs.h"

#include <stdio.h>
#include <string.h>

/* "2x3x4" of dims[1..rank-1] for messages. */
static const char *dims_str(int rank, const int64_t *dims, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int d = 1; d < rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d > 1 ? "x" : "", (long long)dims[d]);
    return buf;
}

/* dst[0, len) += src[0, len) */
static void add_into(float *restrict dst, const float *restrict src, int64_t len) {
#pragma omp simd
    for (int64_t i = 0; i < len; i++) dst[i] += src[i];
}

/* Sets n's shape to (N, dims[1..rank-1]); -1 with a message naming the op on a bad shape. */
static int set_shape(cnn_node *n, int rank, const int64_t *dims) {
    char buf[96];
    if (rank < 1 || rank > CNN_MAX_RANK) return cnn_fail("%s '%s': rank %d is not supported (1 to %d)", n->op->name, n->name, rank, CNN_MAX_RANK);
    n->shape.rank = rank;
    n->shape.dims[0] = 0;
    for (int d = 1; d < rank; d++)
        if ((n->shape.dims[d] = dims[d]) < 0) /* 0: an empty value, refused where the op or graph cannot take it */
            return cnn_fail("%s '%s': shape %s must be positive", n->op->name, n->name, dims_str(rank, dims, buf, sizeof buf));
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("%s '%s': shape too large", n->op->name, n->name);
    return 0;
}

/* ---- reshape ---- */

static int reshape_shape(cnn_node *n) {
    const reshape_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char sa[96], sb[96];
    if (set_shape(n, a->rank, a->dims)) return -1;
    if (cnn_shape_sample_numel(&n->shape) != cnn_shape_sample_numel(in))
        return cnn_fail("reshape '%s': input '%s' %s has %lld elements per sample but shape (N,%s) has %lld", n->name,
                        n->inputs[0]->name, cnn_shape_str(in, sa, sizeof sa), (long long)cnn_shape_sample_numel(in),
                        dims_str(a->rank, a->dims, sb, sizeof sb), (long long)cnn_shape_sample_numel(&n->shape));
    return 0;
}

/* y (N, S) = x (N, S): the samples keep their elements in order. */
static int reshape_forward(const cnn_op_ctx *c) {
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = y->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for schedule(static) if (n * s >= 32768)
    for (int64_t k = 0; k < n; k++) memcpy(y->data + k * y->stride[0], x->data + k * x->stride[0], (size_t)s * sizeof(float));
    return 0;
}

static int reshape_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = dy->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
#pragma omp parallel for schedule(static) if (n * s >= 32768)
    for (int64_t k = 0; k < n; k++) add_into(dx->data + k * dx->stride[0], dy->data + k * dy->stride[0], s);
    return 0;
}

static const cnn_op reshape_op = {.name = "reshape", .shape = reshape_shape, .forward = reshape_forward, .backward = reshape_backward, .caps = CNN_CAP_EMPTY};

cnn_node *cnn_reshape(cnn_graph *g, cnn_node *x, const char *name, int rank, const int64_t *dims) {
    reshape_attrs a = {.rank = rank};
    if (!dims) return x ? cnn_fail_null("reshape '%s': dims are NULL", name ? name : "?") : NULL;
    for (int d = 1; d < rank && d < CNN_MAX_RANK; d++) a.dims[d] = dims[d];
    return cnn_graph_add_node(g, &reshape_op, name, 1, &x, &a, sizeof a);
}

/* ---- constant ---- */

static int constant_shape(cnn_node *n) {
    const constant_attrs *a = n->attrs;
    return set_shape(n, a->rank, a->dims);
}

/* y[k] = value for every sample k */
static int constant_forward(const cnn_op_ctx *c) {
    const cnn_tensor *y = c->out;
    int64_t n = y->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
    for (int64_t k = 0; k < n; k++) memcpy(y->data + k * y->stride[0], c->param[0], (size_t)s * sizeof(float));
    return 0;
}

/* dvalue += sum over the samples of dy, in sample order */
static int constant_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    if (!c->dparam[0]) return 0;
    int64_t n = dy->shape[0], s = cnn_shape_sample_numel(&c->node->shape);
    for (int64_t k = 0; k < n; k++) add_into(c->dparam[0], dy->data + k * dy->stride[0], s);
    return 0;
}

static const cnn_op constant_op = {.name = "constant", .shape = constant_shape, .forward = constant_forward, .backward = constant_backward};

cnn_node *cnn_constant(cnn_graph *g, const char *name, int rank, const int64_t *dims, bool trainable) {
    if (!g) return cnn_fail_null("constant: graph is NULL");
    if (!dims) return cnn_fail_null("constant '%s': dims are NULL", name ? name : "?");
    constant_attrs a = {.rank = rank};
    for (int d = 1; d < rank && d < CNN_MAX_RANK; d++) a.dims[d] = dims[d];
    cnn_node *n = cnn_graph_add_node(g, &constant_op, name, 0, NULL, &a, sizeof a);
    if (!n) return NULL;
    /* The value's shape is the per-sample shape; a rank-1 node (one number per sample) holds one. */
    int64_t shape[CNN_MAX_RANK] = {1};
    int prank = rank > 1 ? rank - 1 : 1;
    for (int d = 1; d < rank; d++) shape[d - 1] = dims[d];
    if (cnn_node_add_param(n, "value", prank, shape, trainable, CNN_INIT_ZEROS, 0.0f)) {
        cnn_graph_drop_last_node(g);
        return NULL;
    }
    return n;
}

/* ---- concatenation along dim `axis` >= 1 ---- */

static int concat_axis_shape(cnn_node *n) {
    const concat_axis_attrs *a = n->attrs;
    const cnn_shape *first = &n->inputs[0]->shape;
    char sa[96], sb[96];
    if (a->axis < 1 || a->axis >= first->rank)
        return cnn_fail("concat '%s': axis %d is outside 1..%d of input 0 '%s' %s", n->name, a->axis, first->rank - 1,
                        n->inputs[0]->name, cnn_shape_str(first, sa, sizeof sa));
    n->shape = *first;
    n->shape.dims[0] = 0;
    int64_t total = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const cnn_shape *s = &n->inputs[i]->shape;
        bool same = s->rank == first->rank;
        for (int d = 1; same && d < s->rank; d++) same = d == a->axis || s->dims[d] == first->dims[d];
        if (!same)
            return cnn_fail("concat '%s': input %d '%s' has shape %s but input 0 '%s' has %s; all dims but dim %d must match", n->name,
                            i, n->inputs[i]->name, cnn_shape_str(s, sa, sizeof sa), n->inputs[0]->name,
                            cnn_shape_str(first, sb, sizeof sb), a->axis);
        if ((total = cnn_add_i64(total, s->dims[a->axis])) < 0) return cnn_fail("concat '%s': output too large", n->name);
    }
    n->shape.dims[a->axis] = total;
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("concat '%s': output too large", n->name);
    return 0;
}

/* Per sample, `outer` = prod dims[1..axis) runs; input i fills block_i = dims_i[axis] * inner of each run. */
static void concat_axis_layout(const cnn_node *n, int64_t *outer, int64_t *inner) {
    const concat_axis_attrs *a = n->attrs;
    *outer = *inner = 1;
    for (int d = 1; d < a->axis; d++) *outer *= n->shape.dims[d];
    for (int d = a->axis + 1; d < n->shape.rank; d++) *inner *= n->shape.dims[d];
}

/* y (N, outer, sum_i A_i, inner) from x_i (N, outer, A_i, inner); backward the reverse, adding. */
static void concat_axis_walk(const cnn_op_ctx *c, bool backward) {
    const concat_axis_attrs *a = c->attrs;
    const cnn_tensor *y = backward ? c->dout : c->out;
    int64_t n = y->shape[0], outer, inner, row = c->node->shape.dims[a->axis], offset = 0;
    concat_axis_layout(c->node, &outer, &inner);
    row *= inner;
    for (int i = 0; i < c->n_inputs; i++) {
        const cnn_tensor *x = backward ? c->din[i] : c->in[i];
        int64_t block = c->node->inputs[i]->shape.dims[a->axis] * inner;
        if (x) {
#pragma omp parallel for collapse(2) schedule(static) if (n * outer * block >= 32768)
            for (int64_t s = 0; s < n; s++)
                for (int64_t o = 0; o < outer; o++) {
                    float *yp = y->data + s * y->stride[0] + o * row + offset, *xp = x->data + s * x->stride[0] + o * block;
                    if (backward)
                        add_into(xp, yp, block);
                    else
                        memcpy(yp, xp, (size_t)block * sizeof(float));
                }
        }
        offset += block;
    }
}

static int concat_axis_forward(const cnn_op_ctx *c) {
    concat_axis_walk(c, false);
    return 0;
}

static int concat_axis_backward(const cnn_op_ctx *c) {
    concat_axis_walk(c, true);
    return 0;
}

static const cnn_op concat_axis_op = {
    .name = "concat_axis", .shape = concat_axis_shape, .forward = concat_axis_forward, .backward = concat_axis_backward, .caps = CNN_CAP_EMPTY};

cnn_node *cnn_concat_axis(cnn_graph *g, int n, cnn_node *const *xs, int axis, const char *name) {
    if (axis == 1) return cnn_concat(g, n, xs, name); /* the channel concatenation the planner knows */
    if (n < 1 || !xs) return cnn_fail_null("concat '%s': needs at least one input (got %d)", name ? name : "?", xs ? n : 0);
    concat_axis_attrs a = {axis};
    return cnn_graph_add_node(g, &concat_axis_op, name, n, xs, &a, sizeof a);
}

/* ---- padding ---- */

static int pad_shape(cnn_node *n) {
    const pad_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    cnn_shape_str(in, buf, sizeof buf);
    if (a->mode != CNN_PADMODE_CONSTANT && a->mode != CNN_PADMODE_REFLECT && a->mode != CNN_PADMODE_EDGE)
        return cnn_fail("pad '%s': unknown mode %d", n->name, (int)a->mode);
    if (a->before[0] || a->after[0]) return cnn_fail("pad '%s': the batch dim cannot be padded (input %s)", n->name, buf);
    n->shape = *in;
    for (int d = 1; d < CNN_MAX_RANK; d++) {
        if (a->before[d] < 0 || a->after[d] < 0 || (d >= in->rank && (a->before[d] || a->after[d])))
            return cnn_fail("pad '%s': pads %lld,%lld of dim %d are negative or outside input %s", n->name, (long long)a->before[d],
                            (long long)a->after[d], d, buf);
        if (d >= in->rank) continue;
        if (a->mode == CNN_PADMODE_REFLECT && (a->before[d] >= in->dims[d] || a->after[d] >= in->dims[d]))
            return cnn_fail("pad '%s': reflect pads %lld,%lld of dim %d must be smaller than its size %lld (input %s)", n->name,
                            (long long)a->before[d], (long long)a->after[d], d, (long long)in->dims[d], buf);
        n->shape.dims[d] = cnn_add_i64(in->dims[d], cnn_add_i64(a->before[d], a->after[d]));
        if (n->shape.dims[d] < 0) return cnn_fail("pad '%s': output too large", n->name);
    }
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("pad '%s': output too large", n->name);
    return 0;
}

/* The input index that output index i of a dim of size `size` reads, or -1 for the constant. */
static int64_t pad_source(cnn_pad_mode mode, int64_t i, int64_t before, int64_t size) {
    int64_t j = i - before;
    if (j >= 0 && j < size) return j;
    if (mode == CNN_PADMODE_CONSTANT) return -1;
    if (mode == CNN_PADMODE_EDGE) return j < 0 ? 0 : size - 1;
    return j < 0 ? -j : 2 * (size - 1) - j; /* reflect: pads < size keep this inside */
}

/* The pads of n's dims as four dims in the layout of cnn_sample_dims. */
static void pads4(const cnn_node *n, int64_t before[CNN_SAMPLE_DIMS]) {
    const pad_attrs *a = n->attrs;
    int rank = n->inputs[0]->shape.rank;
    for (int k = 0; k < CNN_SAMPLE_DIMS; k++) before[k] = 0;
    for (int k = 1; k < rank; k++) before[CNN_SAMPLE_DIMS - rank + k] = a->before[k];
}

/* y (N, O1..O4) from x (N, D1..D4); with `backward`, dx[source] += dy over the same map. A
 * reflect/edge source may be read by several outputs, so backward walks each sample (or, when D1 is
 * not padded, each (sample, D1) slice) on one thread in a fixed order. */
static void pad_walk(const cnn_op_ctx *c, bool backward) {
    const pad_attrs *a = c->attrs;
    const cnn_tensor *x = backward ? c->din[0] : c->in[0], *y = backward ? c->dout : c->out;
    int64_t d[CNN_SAMPLE_DIMS], o[CNN_SAMPLE_DIMS], before[CNN_SAMPLE_DIMS];
    cnn_sample_dims(&c->node->inputs[0]->shape, d);
    cnn_sample_dims(&c->node->shape, o);
    pads4(c->node, before);
    int64_t n = y->shape[0];
    bool slices = o[0] == d[0]; /* D1 not padded: (sample, i1) slices are independent */
    int64_t outer = slices ? o[0] : 1;
#pragma omp parallel for collapse(2) schedule(static) if (n * o[0] * o[1] * o[2] * o[3] >= 32768)
    for (int64_t s = 0; s < n; s++)
        for (int64_t q = 0; q < outer; q++) {
            int64_t i1_lo = slices ? q : 0, i1_hi = slices ? q + 1 : o[0];
            for (int64_t i1 = i1_lo; i1 < i1_hi; i1++)
                for (int64_t i2 = 0; i2 < o[1]; i2++)
                    for (int64_t i3 = 0; i3 < o[2]; i3++) {
                        int64_t j1 = pad_source(a->mode, i1, before[0], d[0]), j2 = pad_source(a->mode, i2, before[1], d[1]);
                        int64_t j3 = pad_source(a->mode, i3, before[2], d[2]);
                        float *yp = y->data + s * y->stride[0] + ((i1 * o[1] + i2) * o[2] + i3) * o[3];
                        float *xp = j1 < 0 || j2 < 0 || j3 < 0 ? NULL : x->data + s * x->stride[0] + ((j1 * d[1] + j2) * d[2] + j3) * d[3];
                        for (int64_t i4 = 0; i4 < o[3]; i4++) {
                            int64_t j4 = xp ? pad_source(a->mode, i4, before[3], d[3]) : -1;
                            if (backward) {
                                if (j4 >= 0) xp[j4] += yp[i4];
                            } else {
                                yp[i4] = j4 >= 0 ? xp[j4] : a->value;
                            }
                        }
                    }
        }
}

static int pad_forward(const cnn_op_ctx *c) {
    pad_walk(c, false);
    return 0;
}

static int pad_backward(const cnn_op_ctx *c) {
    if (c->din[0]) pad_walk(c, true);
    return 0;
}

static const cnn_op pad_op = {.name = "pad", .shape = pad_shape, .forward = pad_forward, .backward = pad_backward};

cnn_node *cnn_pad(cnn_graph *g, cnn_node *x, const char *name, cnn_pad_mode mode, const int64_t before[CNN_MAX_RANK],
                  const int64_t after[CNN_MAX_RANK], float value) {
    if (!before || !after) return x ? cnn_fail_null("pad '%s': pads are NULL", name ? name : "?") : NULL;
    pad_attrs a = {.mode = mode, .value = value};
    memcpy(a.before, before, sizeof a.before);
    memcpy(a.after, after, sizeof a.after);
    return cnn_graph_add_node(g, &pad_op, name, 1, &x, &a, sizeof a);
}

/* ---- transposition of the per-sample dims ---- */

static int transpose_shape(cnn_node *n) {
    const transpose_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    bool seen[CNN_MAX_RANK] = {false}, ok = a->perm[0] == 0;
    for (int d = 1; ok && d < in->rank; d++) {
        ok = a->perm[d] >= 1 && a->perm[d] < in->rank && !seen[a->perm[d]];
        if (ok) seen[a->perm[d]] = true;
    }
    if (!ok)
        return cnn_fail("transpose '%s': the permutation is not one of dims 1..%d with dim 0 (the batch) first (input %s)", n->name,
                        in->rank - 1, cnn_shape_str(in, buf, sizeof buf));
    n->shape = *in;
    for (int d = 1; d < in->rank; d++) n->shape.dims[d] = in->dims[a->perm[d]];
    return 0;
}

/* Output dims o and, per output dim, the input stride it walks: both as four dims, 1s (stride 0) in front. */
static void transpose_layout(const cnn_node *n, int64_t o[CNN_SAMPLE_DIMS], int64_t st[CNN_SAMPLE_DIMS]) {
    const transpose_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    int64_t in_stride[CNN_MAX_RANK], step = 1;
    for (int d = in->rank - 1; d >= 1; d--) in_stride[d] = step, step *= in->dims[d];
    cnn_sample_dims(&n->shape, o);
    for (int k = 0; k < CNN_SAMPLE_DIMS; k++) st[k] = 0;
    for (int d = 1; d < in->rank; d++) st[CNN_SAMPLE_DIMS - in->rank + d] = in_stride[a->perm[d]];
}

/* y[s][i1..i4] = x[s][the permuted index]; backward dx[same] += dy (a permutation: no two outputs
 * share a source, so rows may run on any thread). */
static void transpose_walk(const cnn_op_ctx *c, bool backward) {
    const cnn_tensor *x = backward ? c->din[0] : c->in[0], *y = backward ? c->dout : c->out;
    int64_t o[CNN_SAMPLE_DIMS], st[CNN_SAMPLE_DIMS], n = y->shape[0];
    transpose_layout(c->node, o, st);
    const int64_t rows = o[0] * o[1] * o[2], w = o[3];
#pragma omp parallel for collapse(2) schedule(static) if (n * rows * w >= 32768)
    for (int64_t s = 0; s < n; s++)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t i3 = r % o[2], i2 = r / o[2] % o[1], i1 = r / (o[1] * o[2]);
            float *xp = x->data + s * x->stride[0] + i1 * st[0] + i2 * st[1] + i3 * st[2];
            float *yp = y->data + s * y->stride[0] + r * w;
            for (int64_t i = 0; i < w; i++) {
                if (backward)
                    xp[i * st[3]] += yp[i];
                else
                    yp[i] = xp[i * st[3]];
            }
        }
}

static int transpose_forward(const cnn_op_ctx *c) {
    transpose_walk(c, false);
    return 0;
}

static int transpose_backward(const cnn_op_ctx *c) {
    if (c->din[0]) transpose_walk(c, true);
    return 0;
}

static const cnn_op transpose_op = {.name = "transpose", .shape = transpose_shape, .forward = transpose_forward, .backward = transpose_backward, .caps = CNN_CAP_EMPTY};

cnn_node *cnn_transpose(cnn_graph *g, cnn_node *x, const char *name, int rank, const int *perm) {
    if (!perm) return x ? cnn_fail_null("transpose '%s': the permutation is NULL", name ? name : "?") : NULL;
    if (x && rank != x->shape.rank)
        return cnn_fail_null("transpose '%s': a permutation of %d dims for an input of rank %d", name ? name : "?", rank, x->shape.rank);
    transpose_attrs a = {{0}};
    for (int d = 0; d < rank && d < CNN_MAX_RANK; d++) a.perm[d] = perm[d];
    return cnn_graph_add_node(g, &transpose_op, name, 1, &x, &a, sizeof a);
}
