/* conv3d.c — 3-D convolution (any kernel, stride, dilation, asymmetric padding, groups, bias) as vol2col + GEMM. */
#include "ops.h"
#include "attrs.h"

#include "../kernels/im2col.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

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

/* Scratch layout, as conv.c's: one group's column matrix per thread (threads = OpenMP's count when
 * the plan is made; fewer run if fewer are set later), then, in training with a batch of at least
 * DW_CHUNKED_MIN_BATCH, DW_CHUNKS partial weight gradients. Samples are shared out to threads; each
 * chunk of samples (a split that depends on the batch alone) sums its samples in order into its own
 * partial, and the partials are added in chunk order: the same bits for any thread count. */
#define DW_CHUNKS 8
#define DW_CHUNKED_MIN_BATCH 4 /* smaller batches: one sum over samples, parallel inside the GEMMs */

typedef struct conv3d_work {
    float *cols;     /* [threads][col_elements] */
    float *partials; /* [DW_CHUNKS][OC * rows] */
    int threads;
} conv3d_work;

static int64_t col_scratch(const cnn_node *n) {
    const cnn_conv3d_geometry geo = group_geometry(n);
    return columns_are_input(n->attrs) ? 0 : column_elements(&geo);
}

static int64_t dw_elements(const cnn_node *n) {
    const conv3d_attrs *a = n->attrs;
    const cnn_conv3d_geometry geo = group_geometry(n);
    return cnn_mul_i64(a->out_channels, column_rows(&geo));
}

static int plan_threads(void) { return omp_get_max_threads() < 1 ? 1 : omp_get_max_threads(); }

static size_t conv3d_work_bytes(const cnn_node *n, int64_t batch, bool training) {
    int64_t total = cnn_mul_i64(col_scratch(n), plan_threads());
    if (training && batch >= DW_CHUNKED_MIN_BATCH) total = cnn_add_i64(total, cnn_mul_i64(dw_elements(n), DW_CHUNKS));
    if (total < 0 || (uint64_t)total > SIZE_MAX / sizeof(float) - 16) return SIZE_MAX;
    return (size_t)total * sizeof(float) + 64;
}

static conv3d_work work_layout(const cnn_op_ctx *c) {
    const int64_t col = col_scratch(c->node);
    int threads = plan_threads(), planned = (int)(c->work_threads > 0 ? c->work_threads : 1);
    if (threads > planned) threads = planned;
    conv3d_work w = {.cols = c->work, .partials = (float *)c->work + col * planned, .threads = threads};
    return w;
}

/* y_b = conv(x_b) for one sample b, using col as scratch. */
static void forward_sample(const cnn_op_ctx *c, int64_t b, float *col) {
    const conv3d_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    const float *weight = c->param[0], *bias = a->bias ? c->param[1] : NULL;
    const cnn_conv3d_geometry geo = group_geometry(c->node);
    const bool direct = columns_are_input(a);
    const int64_t groups = a->groups, oc_per_group = a->out_channels / groups;
    const int64_t rows = column_rows(&geo), cols = geo.out[0] * geo.out[1] * geo.out[2];
    const int64_t in_group = geo.channels * geo.in[0] * geo.in[1] * geo.in[2]; /* one group's input block */
    const float *xb = x->data + b * x->stride[0];                              /* (C, D, H, W) */
    float *yb = y->data + b * y->stride[0];                                    /* (OC, OD*OH*OW) */
    if (bias)
        for (int64_t o = 0; o < a->out_channels; o++)
            for (int64_t i = 0; i < cols; i++) yb[o * cols + i] = bias[o];
    for (int64_t g = 0; g < groups; g++) {
        const float *xg = xb + g * in_group; /* (C/G, D, H, W) */
        if (!direct) cnn_vol2col(&geo, xg, col);
        cnn_sgemm(false, false, oc_per_group, cols, rows, 1.0f, weight + g * oc_per_group * rows, rows, direct ? xg : col, cols,
                  bias ? 1.0f : 0.0f, yb + g * oc_per_group * cols, cols);
    }
    /* A folded batch norm and ReLU (eval plans, as conv2d's), while the sample's output is still in
     * cache: the same operations as those layers would do, so the same bits. */
    if (c->epi_scale || c->epi_relu)
        for (int64_t o = 0; o < a->out_channels; o++) {
            float *yo = yb + o * cols;
            if (c->epi_scale) {
                const float scale = c->epi_scale[o], shift = c->epi_shift[o];
#pragma omp simd
                for (int64_t i = 0; i < cols; i++) yo[i] = yo[i] * scale + shift;
            }
            if (c->epi_relu) {
#pragma omp simd
                for (int64_t i = 0; i < cols; i++) yo[i] = yo[i] <= 0.0f ? 0.0f : yo[i]; /* as relu_fwd: NaN stays */
            }
        }
}

/* y = conv(x, W) + b.  x (N,C,D,H,W), W (OC, C/G, KD, KH, KW), b (OC), y (N,OC,OD,OH,OW); per sample
 * and group g: y_g (OC/G, OD*OH*OW) = W_g (OC/G, C/G*KD*KH*KW) * col_g (C/G*KD*KH*KW, OD*OH*OW).
 * With enough samples each thread takes whole samples; otherwise the threads share each GEMM. */
static int conv3d_forward(const cnn_op_ctx *c) {
    const int64_t batch = c->in[0]->shape[0];
    const conv3d_work w = work_layout(c);
    const int64_t col = col_scratch(c->node);
    if (w.threads > 1 && batch >= w.threads) {
#pragma omp parallel for schedule(static) num_threads(w.threads)
        for (int64_t b = 0; b < batch; b++) forward_sample(c, b, w.cols + omp_get_thread_num() * col);
    } else {
        for (int64_t b = 0; b < batch; b++) forward_sample(c, b, w.cols);
    }
    return 0;
}

/* For one sample b: dW += dy_b * col_b^T (into dweight, a full (OC, rows) gradient, when not NULL)
 * and dx_b += col2vol(W^T * dy_b) (when dx is not NULL), using col as scratch. */
static void backward_sample(const cnn_op_ctx *c, int64_t b, float *col, float *dweight) {
    const conv3d_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const float *weight = c->param[0];
    const cnn_conv3d_geometry geo = group_geometry(c->node);
    const bool direct = columns_are_input(a);
    const int64_t groups = a->groups, oc_per_group = a->out_channels / groups;
    const int64_t rows = column_rows(&geo), cols = geo.out[0] * geo.out[1] * geo.out[2];
    const int64_t in_group = geo.channels * geo.in[0] * geo.in[1] * geo.in[2];
    const float *xb = x->data + b * x->stride[0];    /* (C, D, H, W) */
    const float *dyb = dy->data + b * dy->stride[0]; /* (OC, OD*OH*OW) */
    for (int64_t g = 0; g < groups; g++) {
        const float *xg = xb + g * in_group;                /* (C/G, D, H, W) */
        const float *dyg = dyb + g * oc_per_group * cols;   /* (OC/G, OD*OH*OW) */
        const float *wg = weight + g * oc_per_group * rows; /* (OC/G, C/G*KD*KH*KW) */
        if (dweight) {
            if (!direct) cnn_vol2col(&geo, xg, col);
            /* dW_g (OC/G, rows) += dy_g (OC/G, cols) * col_g^T (cols, rows) */
            cnn_sgemm(false, true, oc_per_group, rows, cols, 1.0f, dyg, cols, direct ? xg : col, cols, 1.0f,
                      dweight + g * oc_per_group * rows, rows);
        }
        if (dx) {
            float *dxg = dx->data + b * dx->stride[0] + g * in_group; /* (C/G, D, H, W) */
            if (direct) {
                /* dx_g (C/G, D*H*W) += W_g^T (C/G, OC/G) * dy_g (OC/G, D*H*W) */
                cnn_sgemm(true, false, rows, cols, oc_per_group, 1.0f, wg, rows, dyg, cols, 1.0f, dxg, cols);
            } else {
                /* dcol (rows, cols) = W_g^T (rows, OC/G) * dy_g (OC/G, cols), folded back into dx_g */
                cnn_sgemm(true, false, rows, cols, oc_per_group, 1.0f, wg, rows, dyg, cols, 0.0f, col, cols);
                cnn_col2vol_add(&geo, col, dxg);
            }
        }
    }
}

/* db += sum over N, OD, OH, OW of dy;  dW_g += dy_g * col_g^T;  dx_g += col2vol(W_g^T * dy_g).
 * Every sum has one owner and a fixed order (see DW_CHUNKS): the same bits for any thread count. */
static int conv3d_backward(const cnn_op_ctx *c) {
    const conv3d_attrs *a = c->attrs;
    const cnn_tensor *dy = c->dout;
    float *dweight = c->dparam[0], *dbias = a->bias ? c->dparam[1] : NULL;
    const int64_t batch = dy->shape[0], cols = dy->shape[2] * dy->shape[3] * dy->shape[4];
    const int64_t col = col_scratch(c->node);
    const conv3d_work w = work_layout(c);

    if (dbias) {
#pragma omp parallel for schedule(static) if (batch * a->out_channels * cols >= 32768) /* one owner per sum */
        for (int64_t o = 0; o < a->out_channels; o++) {
            double sum = 0.0;
            for (int64_t b = 0; b < batch; b++) {
                const float *d = dy->data + b * dy->stride[0] + o * cols; /* (OD*OH*OW) */
                for (int64_t i = 0; i < cols; i++) sum += d[i];
            }
            dbias[o] += (float)sum;
        }
    }
    if (!dweight && !c->din[0]) return 0;
    if (!dweight || batch < DW_CHUNKED_MIN_BATCH) {
        if (!dweight && w.threads > 1 && batch >= w.threads) { /* input gradient only: samples are independent */
#pragma omp parallel for schedule(static) num_threads(w.threads)
            for (int64_t b = 0; b < batch; b++) backward_sample(c, b, w.cols + omp_get_thread_num() * col, NULL);
        } else {
            for (int64_t b = 0; b < batch; b++) backward_sample(c, b, w.cols, dweight);
        }
        return 0;
    }
    /* Chunk k holds samples [k*batch/DW_CHUNKS, (k+1)*batch/DW_CHUNKS), summed in order into partial k. */
    const int64_t dw = dw_elements(c->node);
#pragma omp parallel for schedule(dynamic) num_threads(w.threads)
    for (int k = 0; k < DW_CHUNKS; k++) {
        float *partial = w.partials + k * dw, *scratch = w.cols + omp_get_thread_num() * col;
        memset(partial, 0, (size_t)dw * sizeof(float));
        for (int64_t b = k * batch / DW_CHUNKS; b < (k + 1) * batch / DW_CHUNKS; b++) backward_sample(c, b, scratch, partial);
    }
#pragma omp parallel for schedule(static) num_threads(w.threads)
    for (int64_t i = 0; i < dw; i++) {
        float sum = w.partials[i];
        for (int k = 1; k < DW_CHUNKS; k++) sum += w.partials[k * dw + i];
        dweight[i] += sum;
    }
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
    /* PyTorch's default: kaiming_uniform(a=sqrt(5)) on the weight and the bias both come to
     * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C/groups * KD * KH * KW. */
    const float bound = (float)(1.0 / sqrt((double)in_per_group * na->kernel[0] * na->kernel[1] * na->kernel[2]));
    if (cnn_node_add_param(n, "weight", 5, weight_shape, true, CNN_INIT_UNIFORM, bound) ||
        (na->bias && cnn_node_add_param(n, "bias", 1, &na->out_channels, true, CNN_INIT_UNIFORM, bound))) {
        cnn_graph_drop_last_node(g);
        return NULL;
    }
    return n;
}
