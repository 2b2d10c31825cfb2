/* conv_direct.c — conv2d over a single input plane, stride 1, computed directly (kernels/direct.h)
 * instead of im2col + GEMM: with one input channel the column matrix (kh * kw rows) is as large as
 * the product's work on it and the GEMM's sums are kh * kw long. LeNet-5's conv1 (1 -> 20, 5x5 at
 * 28x28, batch 64), cnn bench --profile at 2 threads: forward 0.59 -> 0.38 ms, weight gradient 0.62 -> 0.50 ms.
 *
 * Forward: the kernels to a table (tap-major, output channels padded to a multiple of the block), each
 * sample read in place (no padding) or from a zero-padded copy; the threads share out (sample, block
 * of 8 or 10 output channels: cnn_direct_block) pairs, each output summing its taps in order.
 * Weight gradient (the backward when no input gradient is asked for: a first layer): the threads
 * share out the output channels, each weight's sum over the batch made in 16 lanes by its one
 * thread, groups of 5 (5x5) or 8 (3x3) channels sharing each kernel row's shifted input vectors
 * (LeNet-5's conv1, bench/conv_layer 1 20 28 64 5 1 0: dW 0.80 -> 0.55 ms at 1 thread, 0.40 ->
 * 0.28 at 2). */
#include "conv_direct.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/direct.h"
#include "../kernels/gemm.h"

#include <omp.h>
#include <string.h>

#define DIRECT_MAX_TAPS 49

bool conv_direct_fits(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    return a->groups == 1 && n->inputs[0]->shape.dims[1] == 1 && a->stride_h == 1 && a->stride_w == 1 && a->dilation_h == 1 &&
           a->dilation_w == 1 && a->kernel_h * a->kernel_w <= DIRECT_MAX_TAPS && cnn_gemm_fast();
}

typedef struct d_geo {
    int64_t h, w, oh, ow, ph, pw, pad_top, pad_left, k, kp;
    int kh, kw, kb; /* kb: output channels a pass of the forward (cnn_direct_block), kp: K rounded up to it */
    bool padded; /* the planes are read from zero-padded copies (ph x pw), not in place */
} d_geo;

static d_geo geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    d_geo g = {.h = n->inputs[0]->shape.dims[2], .w = n->inputs[0]->shape.dims[3], .oh = n->shape.dims[2], .ow = n->shape.dims[3],
               .pad_top = a->pads[0], .pad_left = a->pads[2], .k = a->out_channels, .kh = a->kernel_h, .kw = a->kernel_w};
    g.ph = g.oh + g.kh - 1, g.pw = g.ow + g.kw - 1;
    g.kb = cnn_direct_block(g.k), g.kp = (g.k + g.kb - 1) / g.kb * g.kb;
    g.padded = g.pad_top != 0 || g.pad_left != 0 || g.ph != g.h || g.pw != g.w;
    return g;
}

/* Floats of the table, then of the padded planes. */
static int64_t table_floats(const d_geo *g) { return cnn_mul_i64(g->kh * g->kw, g->kp); }
static int64_t planes_floats(const d_geo *g, int64_t batch) { return g->padded ? cnn_mul_i64(batch, cnn_mul_i64(g->ph, g->pw)) : 0; }

size_t conv_direct_bytes(const cnn_node *n, int64_t batch) {
    const d_geo g = geometry(n);
    return conv_float_bytes(cnn_add_i64(cnn_add_i64(table_floats(&g), 16), planes_floats(&g, batch)));
}

/* Sample b's plane zero-padded into xp (ph rows of pw). */
static void pad_plane(const d_geo *g, const float *x, float *xp) {
    for (int64_t r = 0; r < g->ph; r++) {
        float *row = xp + r * g->pw;
        const int64_t y = r - g->pad_top;
        memset(row, 0, (size_t)g->pw * sizeof(float));
        if (y < 0 || y >= g->h) continue;
        for (int64_t s = 0; s < g->pw; s++) {
            const int64_t xx = s - g->pad_left;
            if (xx >= 0 && xx < g->w) row[s] = x[y * g->w + xx];
        }
    }
}

/* The planes the kernels read: in place, or padded into planes (every sample, threads sharing them out). */
static const float *input_planes(const cnn_op_ctx *c, const d_geo *g, float *planes, int64_t *stride, int threads) {
    const cnn_tensor *x = c->in[0];
    const int64_t batch = x->shape[0];
    if (!g->padded) {
        *stride = x->stride[0];
        return x->data;
    }
    *stride = g->ph * g->pw;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < batch; b++) pad_plane(g, x->data + b * x->stride[0], planes + b * g->ph * g->pw);
    return planes;
}

int conv_direct_forward(const cnn_op_ctx *c) {
    const d_geo g = geometry(c->node);
    const conv_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    const int64_t batch = x->shape[0], blocks = g.kp / g.kb, plane = g.oh * g.ow;
    const int threads = conv_call_threads(c);
    float *table = conv_aligned(c->work), *planes = conv_aligned(table + table_floats(&g));
    cnn_direct_table(c->param[0], g.k, g.kh * g.kw, g.kb, table);
    int64_t stride;
    const float *xs = input_planes(c, &g, planes, &stride, threads), *bias = a->bias ? c->param[1] : NULL;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < batch * blocks; i++) {
        const int64_t b = i / blocks, k0 = i % blocks * g.kb;
        cnn_direct_forward(xs + b * stride, g.pw, table, g.kp, g.kb, bias, k0, g.k - k0 < g.kb ? g.k - k0 : g.kb, g.kh, g.kw,
                           y->data + b * y->stride[0], g.oh, g.ow);
    }
    if (c->epi_scale || c->epi_relu || c->epi_residual) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t b = 0; b < batch; b++) conv_epilogue(c, y->data + b * y->stride[0], conv_residual(c, b), g.k, plane);
    }
    return 0;
}

int conv_direct_backward(const cnn_op_ctx *c) {
    const d_geo g = geometry(c->node);
    const conv_attrs *a = c->attrs;
    if (a->bias) conv_bias_grad(c, g.k, g.oh * g.ow);
    float *dweight = c->dparam[0];
    if (!dweight) return 0;
    const cnn_tensor *dy = c->dout;
    const int threads = conv_call_threads(c);
    float *planes = conv_aligned(conv_aligned(c->work) + table_floats(&g));
    int64_t stride;
    const float *xs = input_planes(c, &g, planes, &stride, threads);
#pragma omp parallel num_threads(threads)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads(), o0 = g.k * t / nt, o1 = g.k * (t + 1) / nt;
        if (o1 > o0)
            cnn_direct_weight_grad(xs, stride, g.pw, dy->data, dy->stride[0], dy->shape[0], o0, o1 - o0, g.kh, g.kw, g.oh, g.ow, dweight);
    }
    return 0;
}
