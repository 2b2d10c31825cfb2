/* conv_winograd7.c — conv2d's forward in eval plans for 1x7 and 7x1 kernels (stride 1, dilation 1,
 * one group: inception_v3's, Inception-v4's and Inception-ResNet's factorised 7x7) by F(2, 7) along
 * the kernel's axis (kernels/winograd.h): 8 products per 2 outputs and channel pair instead of 14.
 *
 * Per call: the kernels to U (8 packed C x K matrices, kept in the plan's state and made again only
 * where the kernels changed) and every sample to a zero-padded channels-last copy xp, shared out to
 * the threads in contiguous runs of rows; then blocks of at most WINO7_BLOCK tiles of one sample (of
 * equal size, set by the plane alone), each thread a contiguous run of them: the block's inputs to V,
 * the 8 products M[xi] = V[xi] U[xi], M back to outputs with bias and epilogue. Every output is
 * computed by the same operations whichever thread computes it, in whichever block: the same bits
 * for any thread count and batch. */
#include "conv_winograd.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/gemm.h"
#include "../kernels/winograd.h"

#include <omp.h>
#include <string.h>

#define WINO7_BLOCK 48       /* tiles per block at most: the rows of its 8 products */
#define WINO7_MIN_CHANNELS 16 /* in and out, below which the transforms do not pay (unless CNN_WINOGRAD=all) */

typedef struct w7_geo {
    cnn_wino7_layout l;
    int64_t h, w, pad_top, pad_left, xp_h, xp_w; /* the input, its pads, and its padded copy's rows and positions per row */
    int64_t tiles, blocks, block;                 /* tiles per sample, blocks per sample, tiles per block */
} w7_geo;

static w7_geo geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    w7_geo g = {.h = in->dims[2], .w = in->dims[3], .pad_top = a->pads[0], .pad_left = a->pads[2]};
    cnn_wino7_layout *l = &g.l;
    l->c = in->dims[1], l->k = a->out_channels, l->out_h = n->shape.dims[2], l->out_w = n->shape.dims[3];
    l->vertical = a->kernel_h == 7;
    if (l->vertical) { /* a tile per column and pair of output rows */
        const int64_t rows = (l->out_h + 1) / 2;
        g.xp_h = 2 * rows + 6, g.xp_w = l->out_w;
        l->per_row = l->out_w, l->row_pitch = 2 * g.xp_w, l->tile_pitch = 1, l->step = g.xp_w;
        g.tiles = rows * l->out_w;
    } else { /* a tile per pair of output positions along each row */
        const int64_t per = (l->out_w + 1) / 2;
        g.xp_h = l->out_h, g.xp_w = 2 * per + 6;
        l->per_row = per, l->row_pitch = g.xp_w, l->tile_pitch = 2, l->step = 1;
        g.tiles = l->out_h * per;
    }
    g.blocks = (g.tiles + WINO7_BLOCK - 1) / WINO7_BLOCK;
    g.block = (g.tiles + g.blocks - 1) / g.blocks;
    return g;
}

bool conv_winograd7_fits(const cnn_node *n, int64_t batch, bool training) {
    (void)batch;
    const conv_attrs *a = n->attrs;
    const int mode = conv_winograd_mode();
    return !training && mode != 0 && ((a->kernel_h == 1 && a->kernel_w == 7) || (a->kernel_h == 7 && a->kernel_w == 1)) &&
           a->stride_h == 1 && a->stride_w == 1 && a->dilation_h == 1 && a->dilation_w == 1 && a->groups == 1 &&
           (mode == 2 || (n->inputs[0]->shape.dims[1] >= WINO7_MIN_CHANNELS && a->out_channels >= WINO7_MIN_CHANNELS));
}

/* State: a copy of the kernels U was made from, then U. */
static int64_t kernel_floats(const w7_geo *g) {
    const int64_t n = cnn_add_i64(cnn_mul_i64(cnn_mul_i64(g->l.k, g->l.c), 7), 15);
    return n < 0 ? -1 : n / 16 * 16;
}
static int64_t xp_floats(const w7_geo *g) { return cnn_mul_i64(cnn_mul_i64(g->xp_h, g->xp_w), g->l.c); }
static int64_t block_floats(const w7_geo *g) { return cnn_mul_i64(WINO7_A * g->block, cnn_add_i64(g->l.c, g->l.k)); }

size_t conv_winograd7_state_bytes(const cnn_node *n) {
    const w7_geo g = geometry(n);
    return conv_float_bytes(cnn_add_i64(kernel_floats(&g), cnn_winograd7_weights_size(g.l.k, g.l.c)));
}

/* Scratch: the padded copies of the batch, then per thread one block's V and M. */
size_t conv_winograd7_bytes(const cnn_node *n, int64_t batch) {
    const w7_geo g = geometry(n);
    return conv_float_bytes(cnn_add_i64(cnn_mul_i64(xp_floats(&g), batch), cnn_mul_i64(block_floats(&g), conv_plan_threads())));
}

/* U for output channels [p * GEMM_NR, (p + 1) * GEMM_NR), made again only when those kernels differ
 * from the copy it was made from (the plan's state starts zeroed, and U of zero kernels is zero). */
static void update_panel(const w7_geo *g, const float *weight, float *copy, float *u, int64_t p) {
    const int64_t per = g->l.c * 7, first = p * GEMM_NR * per, last = (p + 1) * GEMM_NR * per, end = g->l.k * per;
    const size_t bytes = (size_t)((last < end ? last : end) - first) * sizeof(float);
    if (memcmp(copy + first, weight + first, bytes) == 0) return;
    memcpy(copy + first, weight + first, bytes);
    cnn_winograd7_weights(g->l.k, g->l.c, weight, u, p * GEMM_NR, GEMM_NR);
}

int conv_winograd7_forward(const cnn_op_ctx *c) {
    const w7_geo g = geometry(c->node);
    const cnn_tensor *x = c->in[0], *y = c->out;
    const conv_attrs *a = c->attrs;
    const float *weight = c->param[0], *bias = a->bias ? c->param[1] : NULL;
    const int64_t batch = x->shape[0], xp_size = xp_floats(&g), items = batch * g.blocks, k_panels = (g.l.k + GEMM_NR - 1) / GEMM_NR;
    float *copy = conv_aligned(c->state), *u = copy + kernel_floats(&g);
    float *xps = conv_aligned(c->work), *blocks = xps + xp_size * batch;
#pragma omp parallel num_threads(conv_call_threads(c)) if (conv_call_threads(c) > 1)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int64_t p = tid; p < k_panels; p += nt) update_panel(&g, weight, copy, u, p);
        /* contiguous runs of rows and of blocks per thread (conv_winograd.c's reason) */
        for (int64_t r = batch * g.xp_h * tid / nt; r < batch * g.xp_h * (tid + 1) / nt; r++)
            cnn_winograd_pad_row(x->data + r / g.xp_h * x->stride[0], g.l.c, g.h, g.w, g.pad_top, g.pad_left, xps + r / g.xp_h * xp_size, g.xp_w,
                                 r % g.xp_h);
#pragma omp barrier
        float *v = blocks + tid * block_floats(&g), *m = v + WINO7_A * g.block * g.l.c;
        for (int64_t item = items * tid / nt; item < items * (tid + 1) / nt; item++) {
            const int64_t b = item / g.blocks, first = item % g.blocks * g.block;
            const int64_t count = g.tiles - first < g.block ? g.tiles - first : g.block;
            cnn_winograd7_input(&g.l, xps + b * xp_size, first, count, v, g.block);
            for (int xi = 0; xi < WINO7_A; xi++)
                cnn_gemm_packed_avx512(false, count, g.l.k, g.l.c, v + xi * g.block * g.l.c, g.l.c, u + xi * k_panels * GEMM_NR * g.l.c,
                                       m + xi * g.block * g.l.k, g.l.k, false, NULL, 0, 1);
            const cnn_gemm_epilogue e = {.bias = bias, .scale = c->epi_scale, .shift = c->epi_shift, .residual = conv_residual(c, b),
                                         .relu = c->epi_relu};
            cnn_winograd7_output(&g.l, m, g.block, first, count, &e, y->data + b * y->stride[0]);
        }
    }
    return 0;
}
