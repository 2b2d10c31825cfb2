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
    char ins[128];
    cnn_shape_str(in, ins, sizeof ins);
    if (in->rank != 5 || in->dims[1] < 1 || in->dims[2] < 1 || in->dims[3] < 1 || in->dims[4] < 1)
        return cnn_fail("%s '%s': expects a non-empty 5-D input (N,C,D,H,W), got %s", op, n->name, ins);
    pool_axes ax = {.n = 3, .max = a->kind == POOL_MAX, .ceil_mode = p->ceil_mode, .large_pads = p->large_pads};
    for (int d = 0; d < 3; d++) {
        ax.in[d] = in->dims[2 + d];
        ax.kernel[d] = p->kernel[d], ax.stride[d] = p->stride[d], ax.dilation[d] = p->dilation[d];
        ax.pad_before[d] = p->pad_before[d], ax.pad_after[d] = p->pad_after[d];
    }
    const int *pb = p->pad_before, *pa = p->pad_after;
    char pads[128];
    snprintf(pads, sizeof pads, "pads before %d,%d,%d after %d,%d,%d", pb[0], pb[1], pb[2], pa[0], pa[1], pa[2]);
    int64_t out[3];
    if (pool_check_window(n, &ax, ins) || pool_check_pads_and_size(n, &ax, pads, ins, out)) return -1;
    /* Max pool keeps each argmax as an int32 offset within its (D,H,W) volume. */
    const int64_t volume = cnn_mul_i64(cnn_mul_i64(in->dims[2], in->dims[3]), in->dims[4]);
    if (volume < 0 || (a->kind == POOL_MAX && volume > INT32_MAX))
        return cnn_fail("%s '%s': input volume too large (input %s)", op, n->name, ins);
    n->shape = (cnn_shape){.rank = 5, .dims = {0, in->dims[1], out[0], out[1], out[2]}};
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("%s '%s': output too large (input %s)", op, n->name, ins);
    return 0;
}

/* ---- sizes ---- */

/* A count, not multiply-adds: each output reads its kernel-sized window once. */
static int64_t pool3d_macs(const cnn_node *n) {
    const pool3d_attrs *a = n->attrs;
    return cnn_mul_i64(cnn_shape_sample_numel(&n->shape), (int64_t)a->p.kernel[0] * a->p.kernel[1] * a->p.kernel[2]);
}

/* The dims of one (N,C) volume of the input and of the output, and how many volumes there are. */
typedef struct volume_dims {
    int64_t batch, channels;
    int64_t in[3], out[3];
    int64_t in_volume, out_volume; /* D*H*W, OD*OH*OW */
} volume_dims;

static volume_dims volume_dims_of(const cnn_tensor *x, const cnn_tensor *y) {
    volume_dims v = {.batch = x->shape[0], .channels = x->shape[1]};
    for (int d = 0; d < 3; d++) v.in[d] = x->shape[2 + d], v.out[d] = y->shape[2 + d];
    v.in_volume = v.in[0] * v.in[1] * v.in[2];
    v.out_volume = v.out[0] * v.out[1] * v.out[2];
    return v;
}

/* Volume (b, k) of t, whose (N,C) volumes hold `volume` elements each. */
static float *volume_at(const cnn_tensor *t, int64_t b, int64_t k, int64_t volume) {
    return t->data + b * t->stride[0] + k * volume;
}

/* ---- max pool ---- */

/* One (N,C) volume: xv (D,H,W) into yv and av (when not NULL) (OD,OH,OW). */
static void maxpool3d_volume(const cnn_pool3d_params *p, const volume_dims *v, const float *xv, float *yv, int32_t *av) {
    const int64_t hw = v->in[1] * v->in[2];
    int64_t at_out = 0;
    for (int64_t i = 0; i < v->out[0]; i++) {
        const pool_span ds = dilated_span(i, p->kernel[0], p->stride[0], p->dilation[0], p->pad_before[0], v->in[0]);
        for (int64_t j = 0; j < v->out[1]; j++) {
            const pool_span rs = dilated_span(j, p->kernel[1], p->stride[1], p->dilation[1], p->pad_before[1], v->in[1]);
            for (int64_t l = 0; l < v->out[2]; l++, at_out++) {
                const pool_span cs = dilated_span(l, p->kernel[2], p->stride[2], p->dilation[2], p->pad_before[2], v->in[2]);
                float best = -INFINITY;
                int64_t at = ds.lo < ds.hi && rs.lo < rs.hi && cs.lo < cs.hi ? ds.lo * hw + rs.lo * v->in[2] + cs.lo : -1;
                for (int64_t z = ds.lo; z < ds.hi; z += p->dilation[0])
                    for (int64_t r = rs.lo; r < rs.hi; r += p->dilation[1])
                        for (int64_t q = cs.lo; q < cs.hi; q += p->dilation[2]) {
                            const int64_t where = z * hw + r * v->in[2] + q;
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

/* y = max over each (dilated) window of x, padding as -infinity; x is (N,C,D,H,W), y and argmax
 * (N,C,OD,OH,OW). PyTorch's tie rule: a later element replaces only if strictly greater (or NaN). A
 * window with no input element (a dilation wider than the input) gives -infinity and argmax -1. */
static int maxpool3d_forward(const cnn_op_ctx *c) {
    const cnn_pool3d_params *p = &((const pool3d_attrs *)c->attrs)->p;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int32_t *argmax = c->training ? c->state : NULL;
    const volume_dims v = volume_dims_of(x, y);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < v.batch; b++)
        for (int64_t k = 0; k < v.channels; k++)
            maxpool3d_volume(p, &v, volume_at(x, b, k, v.in_volume), volume_at(y, b, k, v.out_volume),
                             argmax ? argmax + (b * v.channels + k) * v.out_volume : NULL);
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
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < v.batch; b++)
        for (int64_t k = 0; k < v.channels; k++) {
            float *dxv = volume_at(dx, b, k, v.in_volume);        /* (D,H,W) */
            const float *dyv = volume_at(dy, b, k, v.out_volume); /* (OD,OH,OW) */
            const int32_t *av = argmax + (b * v.channels + k) * v.out_volume;
            for (int64_t i = 0; i < v.out_volume; i++)
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

/* One (N,C) volume, xv (D,H,W) and yv (OD,OH,OW): forward, yv = the sum over each window of xv /
 * its divisor; backward, xv += yv / divisor over each window, walked in order (windows overlap). */
static void avgpool3d_volume(const cnn_pool3d_params *p, const volume_dims *v, float *xv, float *yv, bool backward) {
    const int64_t hw = v->in[1] * v->in[2];
    int64_t at_out = 0;
    for (int64_t i = 0; i < v->out[0]; i++)
        for (int64_t j = 0; j < v->out[1]; j++)
            for (int64_t l = 0; l < v->out[2]; l++, at_out++) {
                pool_span s[3];
                avg_spans(p, v, i, j, l, s);
                if (backward) {
                    const float g = yv[at_out] / window_divisor(p, s);
                    for (int64_t z = s[0].lo; z < s[0].hi; z++)
                        for (int64_t r = s[1].lo; r < s[1].hi; r++)
                            for (int64_t q = s[2].lo; q < s[2].hi; q++) xv[z * hw + r * v->in[2] + q] += g;
                } else {
                    double sum = 0.0;
                    for (int64_t z = s[0].lo; z < s[0].hi; z++)
                        for (int64_t r = s[1].lo; r < s[1].hi; r++)
                            for (int64_t q = s[2].lo; q < s[2].hi; q++) sum += xv[z * hw + r * v->in[2] + q];
                    yv[at_out] = (float)sum / window_divisor(p, s);
                }
            }
}

/* Forward (x, y) or backward (dx, dy) of every (N,C) volume; volumes are independent. */
static void avgpool3d_volumes(const cnn_op_ctx *c, const cnn_tensor *x, const cnn_tensor *y, bool backward) {
    const cnn_pool3d_params *p = &((const pool3d_attrs *)c->attrs)->p;
    const volume_dims v = volume_dims_of(x, y);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < v.batch; b++)
        for (int64_t k = 0; k < v.channels; k++)
            avgpool3d_volume(p, &v, volume_at(x, b, k, v.in_volume), volume_at(y, b, k, v.out_volume), backward);
}

/* y = sum over each window of x / divisor; x is (N,C,D,H,W), y (N,C,OD,OH,OW). */
static int avgpool3d_forward(const cnn_op_ctx *c) {
    avgpool3d_volumes(c, c->in[0], c->out, false);
    return 0;
}

/* dx += dy / divisor over each window. */
static int avgpool3d_backward(const cnn_op_ctx *c) {
    if (c->din[0]) avgpool3d_volumes(c, c->din[0], c->dout, true);
    return 0;
}

/* ---- tables and builders ---- */

static const cnn_op maxpool3d_op = {.name = "maxpool3d", .shape = pool3d_shape, .state_bytes = pool_argmax_bytes,
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
