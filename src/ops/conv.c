/* conv.c — 2-D convolution (any kernel, stride, dilation, asymmetric padding, groups, bias) as im2col + GEMM. */
#include "ops.h"
#include "attrs.h"
#include "conv_common.h"
#include "conv_direct.h"
#include "conv_winograd.h"

#include "../kernels/gemm.h"
#include "../kernels/im2col.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>

/* The column matrix of a sample equals the sample itself exactly when every window is one input
 * pixel at its own position: a 1x1 kernel (dilation then moves nothing), stride 1 and no padding.
 * A strided 1x1 convolution (ResNet / Inception downsampling) must go through im2col. */
static bool columns_are_input(const conv_attrs *a) {
    return a->kernel_h == 1 && a->kernel_w == 1 && a->stride_h == 1 && a->stride_w == 1 && a->pads[0] == 0 &&
           a->pads[1] == 0 && a->pads[2] == 0 && a->pads[3] == 0;
}

/* The geometry of one group: its C/groups input channels against the node's output size. */
static cnn_conv_geometry group_geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    cnn_conv_geometry geo = {
        .channels = in->dims[1] / a->groups, .in_h = in->dims[2], .in_w = in->dims[3],
        .out_h = n->shape.dims[2], .out_w = n->shape.dims[3],
        .kernel_h = a->kernel_h, .kernel_w = a->kernel_w,
        .stride_h = a->stride_h, .stride_w = a->stride_w,
        .dilation_h = a->dilation_h, .dilation_w = a->dilation_w,
        .pad_top = a->pads[0], .pad_left = a->pads[2],
    };
    return geo;
}

/* The input gradient of a stride-1 convolution is itself a convolution: of dy with the kernel
 * flipped and its in/out channels swapped, padded by dilation*(K-1) - pad. On large planes,
 * unfolding dy (OC/G*KH*KW rows) and one product with K = OC/G*KH*KW beats the product with
 * K = OC/G followed by folding a C/G*KH*KW-row column matrix back (col2im): measured on
 * MiniGoogLeNet's 3x3 layers (cnn bench --profile, 1 thread), 5-9% less backward time at 28x28,
 * 0-15% more at 13x13 and 6x6. The geometry of that convolution for one group: */
#define DX_AS_CONV_MIN_PLANE 576
static bool dx_as_conv(const conv_attrs *a, const cnn_node *n) {
    return !columns_are_input(a) && a->stride_h == 1 && a->stride_w == 1 &&
           n->inputs[0]->shape.dims[2] * n->inputs[0]->shape.dims[3] >= DX_AS_CONV_MIN_PLANE;
}

static cnn_conv_geometry dx_geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    cnn_conv_geometry geo = group_geometry(n), t = geo;
    t.channels = a->out_channels / a->groups;
    t.in_h = geo.out_h, t.in_w = geo.out_w, t.out_h = geo.in_h, t.out_w = geo.in_w;
    t.pad_top = geo.dilation_h * (geo.kernel_h - 1) - geo.pad_top;
    t.pad_left = geo.dilation_w * (geo.kernel_w - 1) - geo.pad_left;
    return t;
}

/* Elements of one group's column matrix: (C/groups * KH * KW) x (OH * OW); -1 on overflow. */
static int64_t column_elements(const cnn_conv_geometry *geo) {
    int64_t rows = cnn_mul_i64(cnn_mul_i64(geo->channels, geo->kernel_h), geo->kernel_w);
    return cnn_mul_i64(rows, cnn_mul_i64(geo->out_h, geo->out_w));
}

static int conv_shape(cnn_node *n) {
    conv_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char ins[128];
    cnn_shape_str(in, ins, sizeof ins);
    if (in->rank != 4) return cnn_fail("conv2d '%s': input must be (N,C,H,W), got %s", n->name, ins);
    if (a->out_channels < 1)
        return cnn_fail("conv2d '%s': out_channels %lld must be positive (input %s)", n->name, (long long)a->out_channels, ins);
    if (a->kernel_h < 1 || a->kernel_w < 1)
        return cnn_fail("conv2d '%s': kernel %dx%d must be at least 1x1 (input %s)", n->name, a->kernel_h, a->kernel_w, ins);
    if (a->stride_h < 1 || a->stride_w < 1)
        return cnn_fail("conv2d '%s': stride %dx%d must be at least 1 (input %s)", n->name, a->stride_h, a->stride_w, ins);
    if (a->dilation_h < 1 || a->dilation_w < 1)
        return cnn_fail("conv2d '%s': dilation %dx%d must be at least 1 (input %s)", n->name, a->dilation_h, a->dilation_w, ins);
    if (a->groups < 1)
        return cnn_fail("conv2d '%s': groups %lld must be at least 1 (input %s)", n->name, (long long)a->groups, ins);
    const int64_t channels = in->dims[1], in_h = in->dims[2], in_w = in->dims[3];
    if (channels % a->groups != 0)
        return cnn_fail("conv2d '%s': in_channels %lld not divisible by groups %lld (input %s)", n->name, (long long)channels,
                        (long long)a->groups, ins);
    if (a->out_channels % a->groups != 0)
        return cnn_fail("conv2d '%s': out_channels %lld not divisible by groups %lld (input %s)", n->name,
                        (long long)a->out_channels, (long long)a->groups, ins);

    /* The extent of the dilated kernel. */
    const int64_t span_h = (int64_t)a->dilation_h * (a->kernel_h - 1) + 1;
    const int64_t span_w = (int64_t)a->dilation_w * (a->kernel_w - 1) + 1;
    if (cnn_resolve_padding(a->padding, a->pads_given, in_h, in_w, span_h, span_w, a->stride_h, a->stride_w, a->pads)) {
        char why[512];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail("conv2d '%s': %s (input %s)", n->name, why, ins);
    }
    const int64_t padded_h = in_h + a->pads[0] + a->pads[1], padded_w = in_w + a->pads[2] + a->pads[3];
    if (span_h > padded_h || span_w > padded_w) {
        char kernel[96];
        if (a->dilation_h == 1 && a->dilation_w == 1)
            snprintf(kernel, sizeof kernel, "kernel %dx%d", a->kernel_h, a->kernel_w);
        else
            snprintf(kernel, sizeof kernel, "kernel %dx%d dilated to %lldx%lld", a->kernel_h, a->kernel_w, (long long)span_h,
                     (long long)span_w);
        return cnn_fail("conv2d '%s': %s larger than padded input %lldx%lld (input %s, pads %d,%d,%d,%d)", n->name, kernel,
                        (long long)padded_h, (long long)padded_w, ins, a->pads[0], a->pads[1], a->pads[2], a->pads[3]);
    }
    const int64_t out_h = (padded_h - span_h) / a->stride_h + 1, out_w = (padded_w - span_w) / a->stride_w + 1;
    if (out_h < 1 || out_w < 1) /* implied by the check above; kept so the loops can rely on it */
        return cnn_fail("conv2d '%s': output size %lldx%lld is empty (input %s, pads %d,%d,%d,%d)", n->name, (long long)out_h,
                        (long long)out_w, ins, a->pads[0], a->pads[1], a->pads[2], a->pads[3]);

    n->shape.rank = 4;
    n->shape.dims[0] = 0;
    n->shape.dims[1] = a->out_channels;
    n->shape.dims[2] = out_h;
    n->shape.dims[3] = out_w;
    /* Every GEMM dimension and leading dimension is one of C/groups*KH*KW, OC/groups and OH*OW
     * (or H*W, equal to OH*OW on the direct path), and BLAS takes them as int. */
    cnn_conv_geometry geo = group_geometry(n);
    const int64_t rows = cnn_mul_i64(cnn_mul_i64(geo.channels, a->kernel_h), a->kernel_w);
    const int64_t cols = cnn_mul_i64(out_h, out_w), in_plane = cnn_mul_i64(in_h, in_w);
    if (cnn_shape_sample_numel(&n->shape) < 0 || column_elements(&geo) < 0 || rows > INT_MAX || cols < 0 || cols > INT_MAX ||
        in_plane < 0 || in_plane > INT_MAX || a->out_channels / a->groups > INT_MAX)
        return cnn_fail("conv2d '%s': too large (input %s, output %lldx%lld, kernel %dx%d)", n->name, ins, (long long)out_h,
                        (long long)out_w, a->kernel_h, a->kernel_w);
    return 0;
}

/* One thread's column scratch: the unfolded input, or in training the larger of it and unfolded dy. */
static int64_t col_base(const cnn_node *n, bool training) {
    cnn_conv_geometry geo = group_geometry(n);
    int64_t col = columns_are_input(n->attrs) ? 0 : column_elements(&geo);
    if (training && dx_as_conv(n->attrs, n)) {
        cnn_conv_geometry t = dx_geometry(n);
        int64_t tcol = column_elements(&t);
        if (tcol < 0 || col < 0) return -1;
        if (tcol > col) col = tcol;
    }
    return col;
}

static int64_t backward_group_max(const cnn_node *n);
static int64_t stacked_backward_floats(const cnn_node *n, int64_t group);

/* ... and after it our GEMM's panels (conv_fast_scratch), when it is used; in training at least
 * what the backward of backward_group_max samples at once needs. */
static int64_t col_scratch(const cnn_node *n, bool training) {
    const conv_attrs *a = n->attrs;
    const cnn_conv_geometry geo = group_geometry(n);
    const int64_t base = col_base(n, training), rows = geo.channels * geo.kernel_h * geo.kernel_w, cols = geo.out_h * geo.out_w;
    const bool flipped = training && dx_as_conv(a, n);
    const int64_t ocg = a->out_channels / a->groups;
    const int64_t flipped_rows = flipped ? ocg * geo.kernel_h * geo.kernel_w : 0;
    const int64_t per_sample =
        base < 0 ? -1 : cnn_add_i64(base, conv_fast_scratch(rows, cols, ocg, training, flipped_rows, geo.in_h * geo.in_w));
    const int64_t group = training ? backward_group_max(n) : 1;
    if (group == 1 || per_sample < 0) return per_sample;
    const int64_t stacked = stacked_backward_floats(n, group);
    return stacked < 0 ? -1 : stacked > per_sample ? stacked : per_sample;
}

static int64_t dw_elements(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    cnn_conv_geometry geo = group_geometry(n);
    return cnn_mul_i64(a->out_channels, cnn_mul_i64(cnn_mul_i64(geo.channels, geo.kernel_h), geo.kernel_w));
}

static bool stack_samples(const cnn_node *n, int64_t batch, bool training);
static int64_t stacked_block_floats(const cnn_node *n, int64_t batch);

/* conv_common.h's layout; in training with dx_as_conv, the flipped kernel (per group (C/G,
 * OC/G*KH*KW)) as the op's own part. stack_samples: one block of panels per thread. */
static size_t gemm_work_bytes(const cnn_node *n, int64_t batch, bool training) {
    if (conv_winograd_fits(n, batch, training)) return conv_winograd_bytes(n, batch);
    if (conv_winograd1d_fits(n, batch, training)) return conv_winograd1d_bytes(n, batch);
    if (conv_winograd2_fits(n, batch, training)) return conv_winograd2_bytes(n, batch);
    const size_t stacked = stack_samples(n, batch, training) ? conv_float_bytes(cnn_mul_i64(stacked_block_floats(n, batch), conv_plan_threads())) : 0;
    if (stacked && !training) return stacked;
    const int64_t flipped = training && dx_as_conv(n->attrs, n) ? dw_elements(n) : 0;
    const size_t per_sample = conv_work_bytes(col_scratch(n, training), dw_elements(n), flipped, batch, training);
    return stacked > per_sample ? stacked : per_sample; /* training: the forward stacked, the backward per sample */
}

/* conv_direct_fits: its own for an eval plan (the forward only); in training also the GEMM path's,
 * which the backward takes when the input gradient is asked for. */
static size_t conv_work_bytes_of(const cnn_node *n, int64_t batch, bool training) {
    if (!conv_direct_fits(n)) return gemm_work_bytes(n, batch, training);
    const size_t direct = conv_direct_bytes(n, batch), gemm = training ? gemm_work_bytes(n, batch, training) : 0;
    return direct > gemm ? direct : gemm;
}

/* Eval plans running conv_winograd_forward keep its transformed kernels. */
static size_t conv_state_bytes(const cnn_node *n, int64_t batch, bool training) {
    return conv_winograd_fits(n, batch, training) ? conv_winograd_state_bytes(n)
           : conv_winograd1d_fits(n, batch, training) ? conv_winograd1d_state_bytes(n)
                                                      : 0;
}

static conv_work work_layout(const cnn_op_ctx *c) {
    return conv_work_layout(c, col_scratch(c->node, c->training), dw_elements(c->node));
}

/* flipped[g][ci][o*KH*KW + t] = W[g*OC/G + o][ci][KH*KW-1-t]: the kernel of the dx convolution. */
static void flip_kernel(const cnn_op_ctx *c, float *flipped) {
    const conv_attrs *a = c->attrs;
    const cnn_conv_geometry geo = group_geometry(c->node);
    const int64_t taps = geo.kernel_h * geo.kernel_w, ocg = a->out_channels / a->groups, cg = geo.channels;
    const float *weight = c->param[0];
    for (int64_t g = 0; g < a->groups; g++)
        for (int64_t o = 0; o < ocg; o++)
            for (int64_t ci = 0; ci < cg; ci++) {
                const float *src = weight + ((g * ocg + o) * cg + ci) * taps;
                float *dst = flipped + (g * cg + ci) * ocg * taps + o * taps;
                for (int64_t t = 0; t < taps; t++) dst[t] = src[taps - 1 - t];
            }
}

/* cnn_im2col and cnn_col2im_add behind conv_gemm's pointers: called directly once the shared helpers are inlined. */
static void unfold(const void *geo, const float *x, float *col) { cnn_im2col(geo, x, col); }
static void fold_add(const void *geo, const float *col, float *x) { cnn_col2im_add(geo, col, x); }

/* The GEMM view of the node (conv_common.h) over its group geometry geo. */
static conv_gemm gemm_view(const cnn_node *n, const cnn_conv_geometry *geo) {
    const conv_attrs *a = n->attrs;
    const conv_gemm m = {
        .out_channels = a->out_channels, .groups = a->groups, .oc_per_group = a->out_channels / a->groups,
        .channels = geo->channels, .taps = geo->kernel_h * geo->kernel_w, .in_plane = geo->in_h * geo->in_w,
        .rows = geo->channels * geo->kernel_h * geo->kernel_w, .cols = geo->out_h * geo->out_w,
        .in_group = geo->channels * geo->in_h * geo->in_w,
        .direct = columns_are_input(a), .bias = a->bias,
        .geo = geo, .unfold = unfold, .fold_add = fold_add,
    };
    return m;
}

/* With few input channels (a network's first layer: 1 or 3 planes, large and often strided) the
 * column matrix is as large as the product's work on it, and a column matrix of megabytes leaves
 * the cache before it is packed: there the windows go straight into our GEMM's panels
 * (cnn_im2col_panels), a block of columns at a time while it is in cache. The panels hold the same
 * values as im2col + packing and the GEMM sums in the same order: the same bits. (Measured with
 * cnn bench --profile at 1 thread: googlenet's conv1, 7x7/2 over 3 channels; inception_v3's 5x5
 * layers at 35x35, 5.9 MB of columns, 2.6 -> 2.2 ms; its 1x7 layers at 17x17, 1.5 MB, 5% slower.) */
/* When the threads share one sample (batch below the thread count: inference at batch 1), each
 * fills the panels of its own run of columns, as the product then uses them: im2col's rows split by
 * channel would leave half of every thread's panels to be read from the other core's cache, which
 * on this host costs the most when its cores sit apart (inception_v3 b1 at 2 threads 70.7 -> 63.5
 * ms there, 51.7 -> 52.0 ms when they do not; cnn bench, alternating processes). Each thread's
 * block of panels fits in its share of the column scratch: rows * block <= rows * cols rounded up
 * to whole panels, which the packed copy of B alone takes. */
/* A 1x1 stride-1 kernel's panels are packed from the input the same way, a block at a time, where
 * its plane is that large (resnet50's 256-channel 56x56 1x1 layers at batch 8: B of 3.2 MB a sample
 * packed whole and read back from memory; by blocks 9.6 -> 7.9 ms a layer, layer2.0.conv1 15.6 ->
 * 13.4, at 1 thread on the Intel host, cnn bench --profile). */
#define PANELS_MAX_CHANNELS 4
#define PANELS_MIN_COLUMN_FLOATS (512 * 1024) /* 2 MB */
#define PANEL_BLOCK_FLOATS 65536 /* a block's panels: 256 KB */
static bool unfold_into_panels(const cnn_node *n, bool shared) {
    const conv_attrs *a = n->attrs;
    const cnn_conv_geometry geo = group_geometry(n);
    return a->groups == 1 && cnn_gemm_fast() &&
           (column_elements(&geo) >= PANELS_MIN_COLUMN_FLOATS ||
            (!columns_are_input(a) && (shared || n->inputs[0]->shape.dims[1] <= PANELS_MAX_CHANNELS)));
}

/* Small planes at batch > 1 (the forward, also in training): the product runs over the samples' columns side by side,
 * by the same blocks of panels, instead of one product per sample whose last panel is part empty:
 * 14x14 = 196 columns fill 7 panels of 32 to 88%, 7x7 = 49 two to 77%, and 8 samples side by side
 * fill 49 and 13 panels to 100% and 94% (and A, the kernel, streams past fewer panels). Each
 * element is the same sum: the same bits. */
#define STACK_MAX_PLANE 1024
static bool stack_samples(const cnn_node *n, int64_t batch, bool training) {
    const conv_attrs *a = n->attrs;
    const int64_t cols = n->shape.dims[2] * n->shape.dims[3];
    return batch > 1 && a->groups == 1 && cols >= GEMM_NR && cols <= STACK_MAX_PLANE && cols % GEMM_NR != 0 &&
           !conv_winograd_fits(n, batch, training) && !conv_winograd2_fits(n, batch, training) && !conv_winograd1d_fits(n, batch, training) &&
           cnn_gemm_fast();
}

/* Columns of one block of panels for a product with rows rows over total columns: about
 * PANEL_BLOCK_FLOATS of panels, whole panels, at least one, at most what total needs. */
static int64_t panel_block(int64_t rows, int64_t total) {
    const int64_t whole = cnn_gemm_round_nr(total), block = PANEL_BLOCK_FLOATS / rows / GEMM_NR * GEMM_NR;
    return block < GEMM_NR ? GEMM_NR : block > whole ? whole : block;
}

/* One thread's scratch for stack_samples: one block of panels. */
static int64_t stacked_block_floats(const cnn_node *n, int64_t batch) {
    const cnn_conv_geometry geo = group_geometry(n);
    const int64_t rows = geo.channels * geo.kernel_h * geo.kernel_w;
    return cnn_mul_i64(rows, panel_block(rows, cnn_mul_i64(batch, geo.out_h * geo.out_w)));
}

/* Samples [b0, b0 + samples) by blocks of panels over their columns side by side (the panels filled
 * by cnn_im2col_panels, or for a 1x1 stride-1 kernel packed from the input); threads (when not
 * already in a parallel region) take whole blocks, thread t with its block at col + t * rows * block. */
static void forward_panels(const cnn_op_ctx *c, const cnn_conv_geometry *geo, int64_t b0, int64_t samples, float *col) {
    const conv_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    const int64_t rows = geo->channels * geo->kernel_h * geo->kernel_w, cols = geo->out_h * geo->out_w, total = cols * samples;
    const int64_t block = panel_block(rows, total), blocks = (total + block - 1) / block;
    const bool direct = columns_are_input(a);
    const float *xb = x->data + b0 * x->stride[0], *weight = c->param[0], *bias = a->bias ? c->param[1] : NULL;
    float *yb = y->data + b0 * y->stride[0];
    const float *rb = conv_residual(c, b0);
    cnn_gemm_epilogue e = {.bias = bias, .scale = c->epi_scale, .shift = c->epi_shift, .residual = rb, .ldr = cols, .relu = c->epi_relu};
    if (samples > 1)
        e.sample_cols = cols, e.sample_c = y->stride[0], e.sample_r = c->epi_residual ? c->epi_residual->stride[0] : 0;
    int threads = omp_in_parallel() ? 1 : conv_call_threads(c);
    if (threads > blocks) threads = (int)blocks;
    /* Each thread takes an equal run of the panels (9 blocks on 2 threads were 5 against 4), by
     * blocks of at most block columns: every output is the same sum whatever the split. */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads(), panels = (total + GEMM_NR - 1) / GEMM_NR;
        const int64_t end = panels * (t + 1) / nt * GEMM_NR < total ? panels * (t + 1) / nt * GEMM_NR : total;
        float *bp = col + t * rows * block;
        for (int64_t j0 = panels * t / nt * GEMM_NR; j0 < end; j0 += block) {
            const int64_t n = end - j0 < block ? end - j0 : block;
            if (direct)
                cnn_gemm_pack_b_samples(rows, cols, samples, xb, cols, x->stride[0], bp, j0 / GEMM_NR, (n + GEMM_NR - 1) / GEMM_NR);
            else
                cnn_im2col_panels(geo, xb, x->stride[0], j0, n, bp);
            cnn_gemm_epilogue eb = e;
            if (samples > 1)
                eb.col_first = j0;
            else
                eb.residual = rb ? rb + j0 : NULL;
            cnn_gemm_packed_avx512(false, a->out_channels, n, rows, weight, rows, bp, samples > 1 ? yb : yb + j0, cols, false, &eb, 0, 1);
        }
    }
}

/* y_b = conv(x_b) for one sample b, using col as scratch. */
static void forward_sample(const cnn_op_ctx *c, int64_t b, float *col) {
    const cnn_conv_geometry geo = group_geometry(c->node);
    if (unfold_into_panels(c->node, !omp_in_parallel() && conv_call_threads(c) > 1)) {
        forward_panels(c, &geo, b, 1, col);
        return;
    }
    const conv_gemm m = gemm_view(c->node, &geo);
    conv_forward_sample(c, &m, b, col);
}

/* y = conv(x, W) + b.  x (N,C,H,W), W (OC, C/G, KH, KW), b (OC), y (N,OC,OH,OW); per sample and
 * group g: y_g (OC/G, OH*OW) = W_g (OC/G, C/G*KH*KW) * col_g (C/G*KH*KW, OH*OW). */
static int conv_forward(const cnn_op_ctx *c) {
    if (conv_direct_fits(c->node)) return conv_direct_forward(c);
    if (conv_winograd_fits(c->node, c->in[0]->shape[0], c->training)) return conv_winograd_forward(c);
    if (conv_winograd1d_fits(c->node, c->in[0]->shape[0], c->training)) return conv_winograd1d_forward(c);
    if (conv_winograd2_fits(c->node, c->in[0]->shape[0], c->training)) return conv_winograd2_forward(c);
    if (stack_samples(c->node, c->in[0]->shape[0], c->training)) {
        const cnn_conv_geometry geo = group_geometry(c->node);
        forward_panels(c, &geo, 0, c->in[0]->shape[0], c->work);
        return 0;
    }
    const conv_work w = work_layout(c);
    conv_forward_batch(c, &w, col_scratch(c->node, c->training), forward_sample);
    return 0;
}

static bool dw_transposed(const cnn_node *n, int64_t batch);

/* For one sample b: dW += dy_b * col_b^T and dx_b += col2im(W^T * dy_b) or, for stride 1, the
 * flipped kernel (when not NULL) times unfolded dy_b (conv_backward_sample). */
static void backward_sample(const cnn_op_ctx *c, int64_t b, float *col, float *dweight, const void *flipped) {
    const cnn_conv_geometry geo = group_geometry(c->node);
    cnn_conv_geometry t;
    conv_gemm m = gemm_view(c->node, &geo);
    m.panels_at = col_base(c->node, true);
    m.dw_transposed = dw_transposed(c->node, c->dout->shape[0]);
    if (flipped) {
        t = dx_geometry(c->node);
        m.flipped = flipped, m.flipped_geo = &t;
    }
    conv_backward_sample(c, &m, b, col, dweight);
}

/* Small planes in training (after stack_samples' forward): a product per sample has few columns
 * (dx: 6x6 = 36 fill two panels of 32 to 56%, 13x13 = 169 six to 88%) and a short sum (dW: k = 36
 * or 169 between loading and storing each tile of the gradient). The backward takes samples
 * group at a time within a chunk of conv_backward_batch, side by side: dW += [dy_b ...] [col_b
 * ...]^T, one sum over the group's columns in order (for planes below STACK_DW_MAX_PLANE), and
 * [dcol_b ...] = W^T [dy_b ...] stored to each sample (dx, or its column matrix then folded back).
 * About STACK_BWD_COLUMNS columns a group, at most STACK_BWD_GROUP samples; planes of at least
 * GEMM_NR columns (a stored tile spans at most two samples) and at most STACK_BWD_MAX_PLANE. */
#define STACK_BWD_COLUMNS 384
#define STACK_BWD_GROUP 8
#define STACK_BWD_MAX_PLANE 256
#define STACK_DW_MAX_PLANE 128 /* dW by groups below this many columns; per sample from it (13x13 was 7% slower by groups) */
static int64_t backward_group_max(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    const int64_t cols = n->shape.dims[2] * n->shape.dims[3];
    if (a->groups != 1 || cols < GEMM_NR || cols > STACK_BWD_MAX_PLANE || dx_as_conv(a, n) || conv_winograd2_fits(n, 0, true) ||
        !cnn_gemm_fast())
        return 1;
    const int64_t group = (STACK_BWD_COLUMNS + cols - 1) / cols;
    return group > STACK_BWD_GROUP ? STACK_BWD_GROUP : group;
}

/* Floats of one thread's scratch for group samples at once: their column matrices (not for a 1x1
 * stride-1 kernel), dy side by side (OC x group * cols) and the panels of either product. */
static int64_t stacked_backward_floats(const cnn_node *n, int64_t group) {
    const cnn_conv_geometry geo = group_geometry(n);
    const int64_t rows = geo.channels * geo.kernel_h * geo.kernel_w, cols = geo.out_h * geo.out_w, oc = n->shape.dims[1];
    const int64_t k = cnn_mul_i64(group, cols), dw_panels = cnn_gemm_packed_b_size(k, rows), dx_panels = cnn_gemm_packed_b_size(oc, k);
    const int64_t columns = columns_are_input(n->attrs) ? 0 : cnn_mul_i64(k, rows);
    return cnn_add_i64(cnn_add_i64(columns, cnn_mul_i64(oc, k)), cnn_add_i64(dw_panels > dx_panels ? dw_panels : dx_panels, 16));
}

/* The chunks' partial weight gradients held transposed (conv_gemm.dw_transposed): with our GEMM,
 * in chunks (batch >= DW_CHUNKED_MIN_BATCH), fewer output channels per group than rows of the
 * column matrix (dy packed transposed is then the smaller), and not summed over samples side by
 * side (backward_samples below STACK_DW_MAX_PLANE). bench/conv_layer, 2 threads, dW: 1x1 96->32 at
 * 32x32 3.68 -> 2.43 ms, 3x3/2 80->80 from 32x32 11.8 -> 10.8 ms, 1x1 160->112 at 15x15 3.37 -> 3.06 ms. */
static bool dw_transposed(const cnn_node *n, int64_t batch) {
    const conv_attrs *a = n->attrs;
    const cnn_conv_geometry geo = group_geometry(n);
    const int64_t rows = geo.channels * geo.kernel_h * geo.kernel_w, cols = geo.out_h * geo.out_w;
    return cnn_gemm_fast() && batch >= DW_CHUNKED_MIN_BATCH && a->out_channels / a->groups < rows &&
           !(backward_group_max(n) > 1 && cols < STACK_DW_MAX_PLANE);
}

/* Samples [b0, b0 + count) of conv_backward_batch: one at a time, or side by side (backward_group_max). */
static void backward_samples(const cnn_op_ctx *c, int64_t b0, int64_t count, float *col, float *dweight, const void *flipped) {
    if (count == 1) {
        backward_sample(c, b0, col, dweight, flipped);
        return;
    }
    const cnn_conv_geometry geo = group_geometry(c->node);
    conv_gemm m = gemm_view(c->node, &geo);
    m.dw_transposed = dw_transposed(c->node, c->dout->shape[0]);
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const int64_t rows = m.rows, cols = m.cols, oc = m.out_channels, k = count * cols;
    float *dcol = col, *dys = dcol + (m.direct ? 0 : k * rows), *panels = conv_aligned(dys + oc * k);
    const float *dy0 = dy->data + b0 * dy->stride[0];
    if (dweight && m.dw_transposed) { /* sample by sample */
        for (int64_t s = 0; s < count; s++) conv_dw_sample_fast(c, &m, b0 + s, dcol, panels, dweight);
    } else if (dweight) { /* dW (OC x rows) += dys (OC x kw) * [col_b ...]^T, each col_b packed transposed into its rows of the panels */
        const int64_t per = cols < STACK_DW_MAX_PLANE ? count : 1, kw = per * cols;
        for (int64_t s0 = 0; s0 < count; s0 += per) {
            const float *a = dy0 + s0 * dy->stride[0];
            if (per > 1) {
                for (int64_t s = 0; s < per; s++)
                    for (int64_t o = 0; o < oc; o++)
                        memcpy(dys + o * kw + s * cols, a + s * dy->stride[0] + o * cols, (size_t)cols * sizeof(float));
                a = dys;
            }
            for (int64_t s = s0; s < s0 + per; s++) {
                const float *xs = x->data + (b0 + s) * x->stride[0];
                if (!m.direct) m.unfold(m.geo, xs, dcol);
                cnn_gemm_pack_bt_rows(cols, rows, m.direct ? xs : dcol, cols, panels + (s - s0) * cols * GEMM_NR, kw);
            }
            cnn_gemm_packed_avx512(false, oc, rows, kw, a, kw, panels, dweight, rows, true, NULL, 0, 1);
        }
    }
    if (!dx) return;
    /* [dcol_b ...] (rows x k) = W^T [dy_b ...]: stored per sample, into dx_b (added) or col_b */
    cnn_gemm_pack_b_samples(oc, cols, count, dy0, cols, dy->stride[0], panels, 0, (k + GEMM_NR - 1) / GEMM_NR);
    float *dx0 = dx->data + b0 * dx->stride[0];
    const cnn_gemm_epilogue e = {.sample_cols = cols, .sample_c = m.direct ? dx->stride[0] : rows * cols};
    cnn_gemm_packed_avx512(true, rows, k, oc, c->param[0], rows, panels, m.direct ? dx0 : dcol, cols, m.direct, &e, 0, 1);
    if (!m.direct)
        for (int64_t s = 0; s < count; s++) m.fold_add(m.geo, dcol + s * rows * cols, dx0 + s * dx->stride[0]);
}

/* db += sum over N, OH, OW of dy;  dW_g += dy_g * col_g^T;  dx_g += col2im(W_g^T * dy_g), or the
 * flipped kernel's convolution of dy (dx_as_conv). */
static int conv_backward(const cnn_op_ctx *c) {
    if (conv_direct_fits(c->node) && !c->din[0]) return conv_direct_backward(c);
    if (conv_winograd2_fits(c->node, c->dout->shape[0], true)) return conv_winograd2_backward(c);
    const cnn_conv_geometry geo = group_geometry(c->node);
    conv_gemm m = gemm_view(c->node, &geo);
    m.dw_transposed = dw_transposed(c->node, c->dout->shape[0]);
    const conv_work w = work_layout(c);
    const float *flipped = NULL;
    if (c->din[0] && dx_as_conv(c->attrs, c->node)) {
        flip_kernel(c, w.extra);
        flipped = w.extra;
    }
    conv_backward_batch(c, &m, &w, col_scratch(c->node, true), dw_elements(c->node), backward_samples, flipped,
                        backward_group_max(c->node));
    return 0;
}

/* OC * OH * OW * (C/groups) * KH * KW per sample; -1 on overflow. */
static int64_t conv_macs(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    cnn_conv_geometry geo = group_geometry(n);
    return cnn_mul_i64(a->out_channels, column_elements(&geo));
}

/* The planner's time estimate at batch 1 (cnn_op.cost): the multiply-adds, halved where an eval
 * Winograd path computes the layer (googlenet at batch 1, 1 thread: its 1x1 layers ~50 multiply-adds
 * a ns, its Winograd 3x3 ones ~110 in direct multiply-adds). */
static double conv_cost(const cnn_node *n, bool training) {
    const double macs = (double)conv_macs(n);
    return !training && (conv_winograd_fits(n, 1, false) || conv_winograd1d_fits(n, 1, false)) ? 0.5 * macs : macs;
}

/* A 1x1 kernel at stride 1 without padding, one group and no bias: a linear map across channels at each position. */
static unsigned conv_node_caps(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    return columns_are_input(a) && a->groups == 1 && !a->bias ? CNN_CAP_POINTWISE : 0;
}

static const cnn_op conv2d_op = {
    .name = "conv2d",
    .caps = CNN_CAP_EPILOGUE | CNN_CAP_EPILOGUE_ADD,
    .node_caps = conv_node_caps,
    .shape = conv_shape,
    .state_bytes = conv_state_bytes,
    .work_bytes = conv_work_bytes_of,
    .forward = conv_forward,
    .backward = conv_backward,
    .macs = conv_macs,
    .cost = conv_cost,
};

cnn_node *cnn_conv2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_conv2d_params *p) {
    if (!p) return x ? cnn_fail_null("conv2d '%s': parameters are NULL", name ? name : "?") : NULL;
    conv_attrs a = {
        .out_channels = p->out_channels,
        .groups = p->groups ? p->groups : 1,
        .kernel_h = p->kernel_h, .kernel_w = p->kernel_w,
        .stride_h = p->stride_h ? p->stride_h : 1, .stride_w = p->stride_w ? p->stride_w : 1,
        .dilation_h = p->dilation_h ? p->dilation_h : 1, .dilation_w = p->dilation_w ? p->dilation_w : 1,
        .padding = p->padding,
        .pads_given = {p->pad_top, p->pad_bottom, p->pad_left, p->pad_right},
        .bias = p->bias,
    };
    cnn_node *n = cnn_graph_add_node(g, &conv2d_op, name, 1, &x, &a, sizeof a);
    if (!n) return NULL;
    const conv_attrs *na = n->attrs;
    const int64_t in_per_group = n->inputs[0]->shape.dims[1] / na->groups;
    const int64_t weight_shape[4] = {na->out_channels, in_per_group, na->kernel_h, na->kernel_w};
    return conv_add_params(g, n, 4, weight_shape, na->bias);
}

cnn_node *cnn_conv2d(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels, int kernel_h, int kernel_w, int stride,
                     int pad, bool bias) {
    cnn_conv2d_params p = {
        .out_channels = out_channels,
        .kernel_h = kernel_h, .kernel_w = kernel_w,
        .stride_h = stride, .stride_w = stride,
        .padding = pad,
        .bias = bias,
    };
    if (pad >= 0) p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
    return cnn_conv2d_ex(g, x, name, &p);
}
