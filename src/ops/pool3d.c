/* pool3d.c — 3-D max and average pooling over (D,H,W): asymmetric pads, ceil mode, count_include_pad, dilated max windows. */
#include "ops.h"
#include "attrs.h"
#include "pool_window.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shape ---- */

/* Validates the parameters with the 2-D pools' rules along each axis and sets (N,C,OD,OH,OW). */
static int pool3d_shape(cnn_node *n) {
    pool3d_attrs *a = n->attrs;
    const cnn_pool3d_params *p = &a->p;
    const cnn_shape *in = &n->inputs[0]->shape;
    const char *op = n->op->name;
    const int *k = p->kernel, *s = p->stride, *dl = p->dilation, *pb = p->pad_before, *pa = p->pad_after;
    char ins[128];
    cnn_shape_str(in, ins, sizeof ins);
    if (in->rank != 5 || in->dims[1] < 1 || in->dims[2] < 1 || in->dims[3] < 1 || in->dims[4] < 1)
        return cnn_fail("%s '%s': expects a non-empty 5-D input (N,C,D,H,W), got %s", op, n->name, ins);
    if (k[0] < 1 || k[1] < 1 || k[2] < 1)
        return cnn_fail("%s '%s': kernel %dx%dx%d must be at least 1x1x1 (input %s)", op, n->name, k[0], k[1], k[2], ins);
    if (s[0] < 1 || s[1] < 1 || s[2] < 1)
        return cnn_fail("%s '%s': stride %dx%dx%d must be at least 1x1x1 (input %s)", op, n->name, s[0], s[1], s[2], ins);
    if (dl[0] < 1 || dl[1] < 1 || dl[2] < 1)
        return cnn_fail("%s '%s': dilation %dx%dx%d must be at least 1x1x1 (input %s)", op, n->name, dl[0], dl[1], dl[2], ins);
    if (a->kind != POOL_MAX && (dl[0] != 1 || dl[1] != 1 || dl[2] != 1))
        return cnn_fail("%s '%s': dilation %dx%dx%d is supported by max pooling only (input %s)", op, n->name, dl[0], dl[1],
                        dl[2], ins);
    bool negative = false, too_large = false, empty = false, dilated = false;
    int64_t ext[3], padded[3], out[3];
    for (int d = 0; d < 3; d++) {
        /* PyTorch's limit is half the kernel; ONNX's pads (large_pads) may reach kernel - 1, so every
         * window still holds an input element. The limit is on the kernel itself, as PyTorch's. */
        const int max_pad = p->large_pads ? k[d] - 1 : k[d] / 2;
        negative = negative || pb[d] < 0 || pa[d] < 0;
        too_large = too_large || pb[d] > max_pad || pa[d] > max_pad;
        ext[d] = dilated_extent(k[d], dl[d]);
        padded[d] = in->dims[2 + d] + pb[d] + pa[d];
        empty = empty || ext[d] > padded[d];
        dilated = dilated || dl[d] != 1;
    }
    if (negative)
        return cnn_fail("%s '%s': negative padding (pads before %d,%d,%d after %d,%d,%d; input %s)", op, n->name, pb[0], pb[1],
                        pb[2], pa[0], pa[1], pa[2], ins);
    if (too_large)
        return cnn_fail("%s '%s': pad should be at most %s kernel size: pads before %d,%d,%d after %d,%d,%d with kernel "
                        "%dx%dx%d (input %s)",
                        op, n->name, p->large_pads ? "one less than the" : "half of", pb[0], pb[1], pb[2], pa[0], pa[1], pa[2], k[0],
                        k[1], k[2], ins);
    if (!p->ceil_mode && empty)
        return cnn_fail("%s '%s': kernel %dx%dx%d%s larger than the padded input %lldx%lldx%lld: the output size would reach "
                        "zero (input %s)",
                        op, n->name, k[0], k[1], k[2], dilated ? " (dilated)" : "", (long long)padded[0], (long long)padded[1],
                        (long long)padded[2], ins);
    for (int d = 0; d < 3; d++) out[d] = pool_out_size(in->dims[2 + d], ext[d], s[d], pb[d], pa[d], p->ceil_mode);
    if (out[0] < 1 || out[1] < 1 || out[2] < 1)
        return cnn_fail("%s '%s': output size %lldx%lldx%lld reaches zero (input %s, kernel %dx%dx%d, stride %dx%dx%d)", op,
                        n->name, (long long)out[0], (long long)out[1], (long long)out[2], ins, k[0], k[1], k[2], s[0], s[1],
                        s[2]);
    /* Max pool keeps each argmax as an int32 offset within its (D,H,W) volume. */
    const int64_t volume = cnn_mul_i64(cnn_mul_i64(in->dims[2], in->dims[3]), in->dims[4]);
    if (volume < 0 || (a->kind == POOL_MAX && volume > INT32_MAX))
        return cnn_fail("%s '%s': input volume too large (input %s)", op, n->name, ins);
    n->shape = (cnn_shape){.rank = 5, .dims = {0, in->dims[1], out[0], out[1], out[2]}};
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("%s '%s': output too large (input %s)", op, n->name, ins);
    return 0;
}

/* ---- sizes ---- */

/* Train mode: one int32 argmax per output element, (N,C,OD,OH,OW) contiguous. */
static size_t maxpool3d_state_bytes(const cnn_node *n, int64_t batch, bool training) {
    if (!training) return 0;
    int64_t count = cnn_mul_i64(cnn_shape_sample_numel(&n->shape), batch);
    if (count < 0 || (uint64_t)count > SIZE_MAX / 2 / sizeof(int32_t)) return SIZE_MAX / 2;
    return (size_t)count * sizeof(int32_t);
}

/* A count, not multiply-adds: each output reads its kernel-sized window once. */
static int64_t pool3d_macs(const cnn_node *n) {
    const pool3d_attrs *a = n->attrs;
    return cnn_mul_i64(cnn_shape_sample_numel(&n->shape), (int64_t)a->p.kernel[0] * a->p.kernel[1] * a->p.kernel[2]);
}

/* The dims of one (N,C) volume of the input and of the output. */
typedef struct volume_dims {
    int64_t in[3], out[3];
} volume_dims;

static volume_dims volume_dims_of(const cnn_tensor *x, const cnn_tensor *y) {
    volume_dims v;
    for (int d = 0; d < 3; d++) v.in[d] = x->shape[2 + d], v.out[d] = y->shape[2 + d];
    return v;
}

/* ---- max pool ---- */

/* y = max over each (dilated) window of x, padding as -infinity; x is (N,C,D,H,W), y and argmax
 * (N,C,OD,OH,OW). PyTorch's tie rule: a later element replaces only if strictly greater (or NaN). A
 * window with no input element (a dilation wider than the input) gives -infinity and argmax -1. */
static int maxpool3d_forward(const cnn_op_ctx *c) {
    const pool3d_attrs *a = c->attrs;
    const cnn_pool3d_params *p = &a->p;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int32_t *argmax = c->training ? c->state : NULL;
    const volume_dims v = volume_dims_of(x, y);
    const int64_t n = x->shape[0], ch = x->shape[1], hw = v.in[1] * v.in[2], in_volume = v.in[0] * hw;
    const int64_t out_volume = v.out[0] * v.out[1] * v.out[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            const float *xv = x->data + b * x->stride[0] + k * in_volume; /* (D,H,W) */
            float *yv = y->data + b * y->stride[0] + k * out_volume;      /* (OD,OH,OW) */
            int32_t *av = argmax ? argmax + (b * ch + k) * out_volume : NULL;
            int64_t at_out = 0;
            for (int64_t i = 0; i < v.out[0]; i++) {
                const pool_span ds = dilated_span(i, p->kernel[0], p->stride[0], p->dilation[0], p->pad_before[0], v.in[0]);
                for (int64_t j = 0; j < v.out[1]; j++) {
                    const pool_span rs = dilated_span(j, p->kernel[1], p->stride[1], p->dilation[1], p->pad_before[1], v.in[1]);
                    for (int64_t l = 0; l < v.out[2]; l++, at_out++) {
                        const pool_span cs =
                            dilated_span(l, p->kernel[2], p->stride[2], p->dilation[2], p->pad_before[2], v.in[2]);
                        float best = -INFINITY;
                        int64_t at = ds.lo < ds.hi && rs.lo < rs.hi && cs.lo < cs.hi ? ds.lo * hw + rs.lo * v.in[2] + cs.lo : -1;
                        for (int64_t z = ds.lo; z < ds.hi; z += p->dilation[0])
                            for (int64_t r = rs.lo; r < rs.hi; r += p->dilation[1])
                                for (int64_t q = cs.lo; q < cs.hi; q += p->dilation[2]) {
                                    const int64_t where = z * hw + r * v.in[2] + q;
                                    const float value = xv[where];
                                    if (value > best || isnan(value)) {
                                        best = value;
                                        at = where;
                                    }
                                }
                        yv[at_out] = best;
                        if (av) av[at_out] = (int32_t)at;
                    }
                }
            }
        }
    return 0;
}

/* dx[argmax] += dy; each (N,C) volume scatters only into itself, so volumes run in parallel. */
static int maxpool3d_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    if (!c->training) return cnn_fail("maxpool3d '%s': backward needs a training plan", c->node->name);
    const int32_t *argmax = c->state;
    const volume_dims v = volume_dims_of(dx, dy);
    const int64_t n = dx->shape[0], ch = dx->shape[1], in_volume = v.in[0] * v.in[1] * v.in[2];
    const int64_t out_volume = v.out[0] * v.out[1] * v.out[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            float *dxv = dx->data + b * dx->stride[0] + k * in_volume;        /* (D,H,W) */
            const float *dyv = dy->data + b * dy->stride[0] + k * out_volume; /* (OD,OH,OW) */
            const int32_t *av = argmax + (b * ch + k) * out_volume;
            for (int64_t i = 0; i < out_volume; i++)
                if (av[i] >= 0) dxv[av[i]] += dyv[i];
        }
    return 0;
}

/* ---- average pool ---- */

/* The windows of output (i, j, l) along D, H, W. */
static void avg_spans(const cnn_pool3d_params *p, const volume_dims *v, int64_t i, int64_t j, int64_t l, pool_span s[3]) {
    const int64_t at[3] = {i, j, l};
    for (int d = 0; d < 3; d++) s[d] = window_span(at[d], p->kernel[d], p->stride[d], p->pad_before[d], p->pad_after[d], v->in[d]);
}

/* The divisor of one window: every cell up to the padded extent, or only the real ones. */
static float window_divisor(const cnn_pool3d_params *p, const pool_span s[3]) {
    const int64_t count = p->count_include_pad ? s[0].padded * s[1].padded * s[2].padded
                                               : (s[0].hi - s[0].lo) * (s[1].hi - s[1].lo) * (s[2].hi - s[2].lo);
    return count > 0 ? (float)count : 1.0f;
}

/* y = sum over each window of x / divisor; x is (N,C,D,H,W), y (N,C,OD,OH,OW). */
static int avgpool3d_forward(const cnn_op_ctx *c) {
    const cnn_pool3d_params *p = &((const pool3d_attrs *)c->attrs)->p;
    const cnn_tensor *x = c->in[0], *y = c->out;
    const volume_dims v = volume_dims_of(x, y);
    const int64_t n = x->shape[0], ch = x->shape[1], hw = v.in[1] * v.in[2], in_volume = v.in[0] * hw;
    const int64_t out_volume = v.out[0] * v.out[1] * v.out[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            const float *xv = x->data + b * x->stride[0] + k * in_volume; /* (D,H,W) */
            float *yv = y->data + b * y->stride[0] + k * out_volume;      /* (OD,OH,OW) */
            int64_t at_out = 0;
            for (int64_t i = 0; i < v.out[0]; i++)
                for (int64_t j = 0; j < v.out[1]; j++)
                    for (int64_t l = 0; l < v.out[2]; l++, at_out++) {
                        pool_span s[3];
                        avg_spans(p, &v, i, j, l, s);
                        double sum = 0.0;
                        for (int64_t z = s[0].lo; z < s[0].hi; z++)
                            for (int64_t r = s[1].lo; r < s[1].hi; r++)
                                for (int64_t q = s[2].lo; q < s[2].hi; q++) sum += xv[z * hw + r * v.in[2] + q];
                        yv[at_out] = (float)sum / window_divisor(p, s);
                    }
        }
    return 0;
}

/* dx += dy / divisor over each window; windows overlap only within a volume, walked in order. */
static int avgpool3d_backward(const cnn_op_ctx *c) {
    const cnn_pool3d_params *p = &((const pool3d_attrs *)c->attrs)->p;
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    const volume_dims v = volume_dims_of(dx, dy);
    const int64_t n = dx->shape[0], ch = dx->shape[1], hw = v.in[1] * v.in[2], in_volume = v.in[0] * hw;
    const int64_t out_volume = v.out[0] * v.out[1] * v.out[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            float *dxv = dx->data + b * dx->stride[0] + k * in_volume;        /* (D,H,W) */
            const float *dyv = dy->data + b * dy->stride[0] + k * out_volume; /* (OD,OH,OW) */
            int64_t at_out = 0;
            for (int64_t i = 0; i < v.out[0]; i++)
                for (int64_t j = 0; j < v.out[1]; j++)
                    for (int64_t l = 0; l < v.out[2]; l++, at_out++) {
                        pool_span s[3];
                        avg_spans(p, &v, i, j, l, s);
                        const float g = dyv[at_out] / window_divisor(p, s);
                        for (int64_t z = s[0].lo; z < s[0].hi; z++)
                            for (int64_t r = s[1].lo; r < s[1].hi; r++)
                                for (int64_t q = s[2].lo; q < s[2].hi; q++) dxv[z * hw + r * v.in[2] + q] += g;
                    }
        }
    return 0;
}

/* ---- tables and builders ---- */

static const cnn_op maxpool3d_op = {.name = "maxpool3d", .shape = pool3d_shape, .state_bytes = maxpool3d_state_bytes,
                                    .forward = maxpool3d_forward, .backward = maxpool3d_backward, .macs = pool3d_macs};
static const cnn_op avgpool3d_op = {.name = "avgpool3d", .shape = pool3d_shape, .forward = avgpool3d_forward,
                                    .backward = avgpool3d_backward, .macs = pool3d_macs};

static cnn_node *window_pool3d(cnn_graph *g, cnn_node *x, const char *name, const cnn_op *op, pool_kind kind,
                               const cnn_pool3d_params *p) {
    if (!p) return x ? cnn_fail_null("%s '%s': parameters are NULL", op->name, name ? name : "?") : NULL;
    pool3d_attrs a = {.kind = kind, .p = *p};
    for (int d = 0; d < 3; d++) {
        if (a.p.stride[d] == 0) a.p.stride[d] = a.p.kernel[d];
        if (a.p.dilation[d] == 0) a.p.dilation[d] = 1;
    }
    if (kind == POOL_MAX) a.p.count_include_pad = false;
    return cnn_graph_add_node(g, op, name, 1, &x, &a, sizeof a);
}

cnn_node *cnn_maxpool3d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool3d_params *p) {
    return window_pool3d(g, x, name, &maxpool3d_op, POOL_MAX, p);
}

cnn_node *cnn_avgpool3d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool3d_params *p) {
    return window_pool3d(g, x, name, &avgpool3d_op, POOL_AVG, p);
}
