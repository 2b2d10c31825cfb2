/* conv3d.c — 3-D convolution (any kernel, stride, dilation, asymmetric padding, groups, bias) as vol2col + GEMM. */
#include "ops.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/im2col.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>

/* The column matrix of a sample is the sample itself when every window is one input element at
 * its own position: a 1x1x1 kernel, stride 1 and no padding (dilation then moves nothing). */
static bool columns_are_input(const conv3d_attrs *a) {
    for (int d = 0; d < 3; d++)
        if (a->kernel[d] != 1 || a->stride[d] != 1 || a->pad_before[d] != 0 || a->pad_after[d] != 0) return false;
    return true;
}

/* The geometry of one group: its C/groups input channels against the node's output size. */
static cnn_conv3d_geometry group_geometry(const cnn_node *n) {
    const conv3d_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    cnn_conv3d_geometry geo = {.channels = in->dims[1] / a->groups};
    for (int d = 0; d < 3; d++) {
        geo.in[d] = in->dims[2 + d];
        geo.out[d] = n->shape.dims[2 + d];
        geo.kernel[d] = a->kernel[d];
        geo.stride[d] = a->stride[d];
        geo.dilation[d] = a->dilation[d];
        geo.pad[d] = a->pad_before[d];
    }
    return geo;
}

/* Rows of one group's column matrix: C/groups * KD * KH * KW; -1 on overflow. */
static int64_t column_rows(const cnn_conv3d_geometry *geo) {
    return cnn_mul_i64(cnn_mul_i64(cnn_mul_i64(geo->channels, geo->kernel[0]), geo->kernel[1]), geo->kernel[2]);
}

/* Elements of one group's column matrix: rows x (OD * OH * OW); -1 on overflow. */
static int64_t column_elements(const cnn_conv3d_geometry *geo) {
    return cnn_mul_i64(column_rows(geo), cnn_mul_i64(cnn_mul_i64(geo->out[0], geo->out[1]), geo->out[2]));
}

static int conv3d_shape(cnn_node *n) {
    conv3d_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char ins[128];
    cnn_shape_str(in, ins, sizeof ins);
    const int *k = a->kernel, *s = a->stride, *dl = a->dilation, *pb = a->pad_before, *pa = a->pad_after;
    if (in->rank != 5) return cnn_fail("conv3d '%s': input must be (N,C,D,H,W), got %s", n->name, ins);
    if (a->out_channels < 1)
        return cnn_fail("conv3d '%s': out_channels %lld must be positive (input %s)", n->name, (long long)a->out_channels, ins);
    if (k[0] < 1 || k[1] < 1 || k[2] < 1)
        return cnn_fail("conv3d '%s': kernel %dx%dx%d must be at least 1x1x1 (input %s)", n->name, k[0], k[1], k[2], ins);
    if (s[0] < 1 || s[1] < 1 || s[2] < 1)
        return cnn_fail("conv3d '%s': stride %dx%dx%d must be at least 1 (input %s)", n->name, s[0], s[1], s[2], ins);
    if (dl[0] < 1 || dl[1] < 1 || dl[2] < 1)
        return cnn_fail("conv3d '%s': dilation %dx%dx%d must be at least 1 (input %s)", n->name, dl[0], dl[1], dl[2], ins);
    if (a->groups < 1)
        return cnn_fail("conv3d '%s': groups %lld must be at least 1 (input %s)", n->name, (long long)a->groups, ins);
    for (int d = 0; d < 3; d++)
        if (pb[d] < 0 || pa[d] < 0)
            return cnn_fail("conv3d '%s': negative padding (pads before %d,%d,%d after %d,%d,%d; input %s)", n->name, pb[0],
                            pb[1], pb[2], pa[0], pa[1], pa[2], ins);
    const int64_t channels = in->dims[1];
    if (channels % a->groups != 0)
        return cnn_fail("conv3d '%s': in_channels %lld not divisible by groups %lld (input %s)", n->name, (long long)channels,
                        (long long)a->groups, ins);
    if (a->out_channels % a->groups != 0)
        return cnn_fail("conv3d '%s': out_channels %lld not divisible by groups %lld (input %s)", n->name,
                        (long long)a->out_channels, (long long)a->groups, ins);

    /* Per dim: the extent of the dilated kernel against the padded input. */
    int64_t span[3], padded[3], out[3];
    bool fits = true, dilated = false;
    for (int d = 0; d < 3; d++) {
        span[d] = (int64_t)dl[d] * (k[d] - 1) + 1;
        padded[d] = in->dims[2 + d] + pb[d] + pa[d];
        fits = fits && span[d] <= padded[d];
        dilated = dilated || dl[d] != 1;
    }
    if (!fits) {
        char kernel[128];
        if (!dilated)
            snprintf(kernel, sizeof kernel, "kernel %dx%dx%d", k[0], k[1], k[2]);
        else
            snprintf(kernel, sizeof kernel, "kernel %dx%dx%d dilated to %lldx%lldx%lld", k[0], k[1], k[2], (long long)span[0],
                     (long long)span[1], (long long)span[2]);
        return cnn_fail("conv3d '%s': %s larger than padded input %lldx%lldx%lld (input %s, pads before %d,%d,%d after "
                        "%d,%d,%d)",
                        n->name, kernel, (long long)padded[0], (long long)padded[1], (long long)padded[2], ins, pb[0], pb[1],
                        pb[2], pa[0], pa[1], pa[2]);
    }
    for (int d = 0; d < 3; d++) out[d] = (padded[d] - span[d]) / s[d] + 1; /* >= 1: the span fits */

    n->shape = (cnn_shape){.rank = 5, .dims = {0, a->out_channels, out[0], out[1], out[2]}};
    /* Every GEMM dimension and leading dimension is one of C/groups*KD*KH*KW, OC/groups and
     * OD*OH*OW (or D*H*W, equal to it on the direct path), and BLAS takes them as int. */
    const cnn_conv3d_geometry geo = group_geometry(n);
    const int64_t rows = column_rows(&geo), cols = cnn_mul_i64(cnn_mul_i64(out[0], out[1]), out[2]);
    const int64_t in_volume = cnn_mul_i64(cnn_mul_i64(in->dims[2], in->dims[3]), in->dims[4]);
    if (cnn_shape_sample_numel(&n->shape) < 0 || column_elements(&geo) < 0 || rows < 0 || rows > INT_MAX || cols < 0 ||
        cols > INT_MAX || in_volume < 0 || in_volume > INT_MAX || a->out_channels / a->groups > INT_MAX)
        return cnn_fail("conv3d '%s': too large (input %s, output %lldx%lldx%lld, kernel %dx%dx%d)", n->name, ins,
                        (long long)out[0], (long long)out[1], (long long)out[2], k[0], k[1], k[2]);
    return 0;
}

/* One thread's column scratch: the unfolded input. */
static int64_t col_scratch(const cnn_node *n) {
    const cnn_conv3d_geometry geo = group_geometry(n);
    const int64_t col = columns_are_input(n->attrs) ? 0 : column_elements(&geo);
    const conv3d_attrs *a = n->attrs;
    const int64_t cols = n->shape.dims[2] * n->shape.dims[3] * n->shape.dims[4];
    return col < 0 ? -1 : cnn_add_i64(col, conv_fast_scratch(column_rows(&geo), cols, a->out_channels / a->groups, true, 0, 0));
}

static int64_t dw_elements(const cnn_node *n) {
    const conv3d_attrs *a = n->attrs;
    const cnn_conv3d_geometry geo = group_geometry(n);
    return cnn_mul_i64(a->out_channels, column_rows(&geo));
}

/* conv_common.h's layout, with nothing of the op's own. */
static size_t conv3d_work_bytes(const cnn_node *n, int64_t batch, bool training) {
    return conv_work_bytes(col_scratch(n), dw_elements(n), 0, batch, training);
}

/* cnn_vol2col and cnn_col2vol_add behind conv_gemm's pointers: called directly once the shared helpers are inlined. */
static void unfold(const void *geo, const float *x, float *col) { cnn_vol2col(geo, x, col); }
static void fold_add(const void *geo, const float *col, float *x) { cnn_col2vol_add(geo, col, x); }

/* The GEMM view of the node (conv_common.h) over its group geometry geo. */
static conv_gemm gemm_view(const cnn_node *n, const cnn_conv3d_geometry *geo) {
    const conv3d_attrs *a = n->attrs;
    const int64_t taps = geo->kernel[0] * geo->kernel[1] * geo->kernel[2], in_plane = geo->in[0] * geo->in[1] * geo->in[2];
    const conv_gemm m = {
        .out_channels = a->out_channels, .groups = a->groups, .oc_per_group = a->out_channels / a->groups,
        .channels = geo->channels, .taps = taps, .in_plane = in_plane,
        .rows = column_rows(geo), .cols = geo->out[0] * geo->out[1] * geo->out[2], .in_group = geo->channels * in_plane,
        .direct = columns_are_input(a), .bias = a->bias,
        .geo = geo, .unfold = unfold, .fold_add = fold_add,
    };
    return m;
}

/* y_b = conv(x_b) for one sample b, using col as scratch. */
static void forward_sample(const cnn_op_ctx *c, int64_t b, float *col) {
    const cnn_conv3d_geometry geo = group_geometry(c->node);
    const conv_gemm m = gemm_view(c->node, &geo);
    conv_forward_sample(c, &m, b, col);
}

/* y = conv(x, W) + b.  x (N,C,D,H,W), W (OC, C/G, KD, KH, KW), b (OC), y (N,OC,OD,OH,OW); per sample
 * and group g: y_g (OC/G, OD*OH*OW) = W_g (OC/G, C/G*KD*KH*KW) * col_g (C/G*KD*KH*KW, OD*OH*OW). */
static int conv3d_forward(const cnn_op_ctx *c) {
    const conv_work w = conv_work_layout(c, col_scratch(c->node), dw_elements(c->node));
    conv_forward_batch(c, &w, col_scratch(c->node), forward_sample);
    return 0;
}

/* For samples [b, b + count): dW += dy_b * col_b^T and dx_b += col2vol(W^T * dy_b) (conv_backward_sample). */
static void backward_sample(const cnn_op_ctx *c, int64_t b, int64_t count, float *col, float *dweight, const void *unused) {
    (void)unused;
    const cnn_conv3d_geometry geo = group_geometry(c->node);
    conv_gemm m = gemm_view(c->node, &geo);
    m.panels_at = columns_are_input(c->attrs) ? 0 : column_elements(&geo);
    for (int64_t i = 0; i < count; i++) conv_backward_sample(c, &m, b + i, col, dweight);
}

/* db += sum over N, OD, OH, OW of dy;  dW_g += dy_g * col_g^T;  dx_g += col2vol(W_g^T * dy_g). */
static int conv3d_backward(const cnn_op_ctx *c) {
    const cnn_conv3d_geometry geo = group_geometry(c->node);
    const conv_gemm m = gemm_view(c->node, &geo);
    const conv_work w = conv_work_layout(c, col_scratch(c->node), dw_elements(c->node));
    conv_backward_batch(c, &m, &w, col_scratch(c->node), dw_elements(c->node), backward_sample, NULL, 1);
    return 0;
}

/* OC * OD * OH * OW * (C/groups) * KD * KH * KW per sample; -1 on overflow. */
static int64_t conv3d_macs(const cnn_node *n) {
    const conv3d_attrs *a = n->attrs;
    const cnn_conv3d_geometry geo = group_geometry(n);
    return cnn_mul_i64(a->out_channels, column_elements(&geo));
}

static const cnn_op conv3d_op = {
    .name = "conv3d",
    .caps = CNN_CAP_EPILOGUE,
    .shape = conv3d_shape,
    .work_bytes = conv3d_work_bytes,
    .forward = conv3d_forward,
    .backward = conv3d_backward,
    .macs = conv3d_macs,
};

cnn_node *cnn_conv3d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_conv3d_params *p) {
    if (!p) return x ? cnn_fail_null("conv3d '%s': parameters are NULL", name ? name : "?") : NULL;
    conv3d_attrs a = {.out_channels = p->out_channels, .groups = p->groups ? p->groups : 1, .bias = p->bias};
    for (int d = 0; d < 3; d++) {
        a.kernel[d] = p->kernel[d];
        a.stride[d] = p->stride[d] ? p->stride[d] : 1;
        a.dilation[d] = p->dilation[d] ? p->dilation[d] : 1;
        a.pad_before[d] = p->pad_before[d];
        a.pad_after[d] = p->pad_after[d];
    }
    cnn_node *n = cnn_graph_add_node(g, &conv3d_op, name, 1, &x, &a, sizeof a);
    if (!n) return NULL;
    const conv3d_attrs *na = n->attrs;
    const int64_t in_per_group = n->inputs[0]->shape.dims[1] / na->groups;
    const int64_t weight_shape[5] = {na->out_channels, in_per_group, na->kernel[0], na->kernel[1], na->kernel[2]};
    return conv_add_params(g, n, 5, weight_shape, na->bias);
}
