/* conv_winograd1d.c — conv2d's forward in eval plans for 1x7, 7x1, 1x3 and 3x1 kernels (stride 1,
 * dilation 1, one group: the factorised convolutions of inception_v3, Inception-v4 and
 * Inception-ResNet) by Winograd's minimal filtering along the kernel's axis (kernels/winograd.h):
 * F(3, 7), 9 products per 3 outputs and channel pair instead of 21 (F(2, 7) before it: 8 per 2;
 * inception_v3 b1 1 thread 79.1 -> 77.5 ms, 2 threads ~0.5 ms faster), and F(4, 3), 6 per 4 instead
 * of 12.
 *
 * Per call: the kernels to U (a packed C x K matrices, kept in the plan's state and made again only
 * where the kernels changed) and every sample to a zero-padded channels-last copy xp, shared out to
 * the threads in contiguous runs of rows; then blocks of at most WINO1D_BLOCK7 / WINO1D_BLOCK tiles of one sample (of
 * equal size, set by the plane alone): the block's inputs to V, the products M[xi] = V[xi] U[xi], M
 * back to outputs with bias and epilogue. With two blocks or more per thread each thread takes a
 * contiguous run of them; otherwise (inception_v3's 8x8 planes: one block) the threads share each
 * block, its tiles' input transforms and then its output channels. Every output is computed by the
 * same operations whichever thread computes it, in whichever block: the same bits for any thread
 * count and any batch that runs this path (an 8x8 plane alone does not: WINO1D_MIN_TILES). */
#include "conv_winograd.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/gemm.h"
#include "../kernels/winograd.h"

#include <omp.h>

#define WINO1D_BLOCK 48        /* tiles per block at most: the rows of its products (F(4, 3)) */
/* F(3, 7)'s: 32 tiles, 96 outputs (as F(2, 7)'s 48 were: faster than 24 or 80). inception_v3's 17x17
 * planes then make 4 blocks of 26 tiles (102 tiles), enough for 2 threads to take whole ones; with
 * 48, 3 blocks shared by the threads: 2 threads 41.8 -> 42.7 ms, and 57 ms when the cores sit apart. */
#define WINO1D_BLOCK7 32
#define WINO1D_MIN_CHANNELS 16 /* in and out, below which the transforms do not pay (unless CNN_WINOGRAD=all) */
/* Output tiles per call below which U (twice the kernels' size for F(4, 3)) is read for too little
 * work (unless CNN_WINOGRAD=all): inception_v3's 8x8 planes at batch 1 (16 tiles; their eight 1x3 and
 * 3x1 384 -> 384 layers' U 28 MB, read from memory in a whole network) take 0.85-0.92 ms each by
 * Winograd, 0.46-0.49 by the direct product, on an Intel Xeon host; inception_v3 b1 82.0 -> 80.1 ms
 * at 1 thread, 43.9 -> 41.8 at 2 (cnn bench, alternating processes). 17x17 planes have 102. */
#define WINO1D_MIN_TILES 32

typedef struct w1_geo {
    cnn_wino1d_layout l;
    int64_t pad_top, pad_left, xp_h, xp_w;        /* the input's pads, its padded copy's rows and positions per row */
    int64_t tiles, blocks, block;                 /* tiles per sample, blocks per sample, tiles per block */
} w1_geo;

static w1_geo geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    w1_geo g = {.pad_top = a->pads[0], .pad_left = a->pads[2]};
    cnn_wino1d_layout *l = &g.l;
    l->vertical = a->kernel_w == 1;
    l->taps = l->vertical ? a->kernel_h : a->kernel_w;
    l->m = l->taps == 7 ? 3 : 4, l->a = l->m + l->taps - 1;
    l->c = in->dims[1], l->k = a->out_channels, l->out_h = n->shape.dims[2], l->out_w = n->shape.dims[3];
    if (l->vertical) { /* a tile per column and m output rows */
        const int64_t rows = (l->out_h + l->m - 1) / l->m;
        g.xp_h = rows * l->m + l->taps - 1, g.xp_w = l->out_w;
        l->per_row = l->out_w, l->row_pitch = l->m * g.xp_w, l->tile_pitch = 1, l->step = g.xp_w;
        g.tiles = rows * l->out_w;
    } else { /* a tile per m output positions along each row */
        const int64_t per = (l->out_w + l->m - 1) / l->m;
        g.xp_h = l->out_h, g.xp_w = per * l->m + l->taps - 1;
        l->per_row = per, l->row_pitch = g.xp_w, l->tile_pitch = l->m, l->step = 1;
        g.tiles = l->out_h * per;
    }
    const int64_t most = l->m == 3 ? WINO1D_BLOCK7 : WINO1D_BLOCK;
    g.blocks = (g.tiles + most - 1) / most;
    g.block = (g.tiles + g.blocks - 1) / g.blocks;
    return g;
}

bool conv_winograd1d_fits(const cnn_node *n, int64_t batch, bool training) {
    const conv_attrs *a = n->attrs;
    const int mode = conv_winograd_mode();
    const bool shape = (a->kernel_h == 1 && (a->kernel_w == 7 || a->kernel_w == 3)) || (a->kernel_w == 1 && (a->kernel_h == 7 || a->kernel_h == 3));
    return !training && mode != 0 && shape && a->stride_h == 1 && a->stride_w == 1 && a->dilation_h == 1 && a->dilation_w == 1 &&
           a->groups == 1 && (mode == 2 || (n->inputs[0]->shape.dims[1] >= WINO1D_MIN_CHANNELS && a->out_channels >= WINO1D_MIN_CHANNELS &&
                                            cnn_mul_i64(geometry(n).tiles, batch) >= WINO1D_MIN_TILES));
}

/* State: the stamps of the kernels U was made from (conv_kernels_changed), then U. */
static int64_t kernel_floats(const w1_geo *g) { return conv_stamp_floats(g->l.k); }
static int64_t xp_floats(const w1_geo *g) { return cnn_mul_i64(cnn_mul_i64(g->xp_h, g->xp_w), g->l.c); }
static int64_t block_floats(const w1_geo *g) { return cnn_mul_i64(g->l.a * g->block, cnn_add_i64(g->l.c, g->l.k)); }

size_t conv_winograd1d_state_bytes(const cnn_node *n) {
    const w1_geo g = geometry(n);
    return conv_float_bytes(cnn_add_i64(kernel_floats(&g), cnn_winograd1d_weights_size(&g.l)));
}

/* Scratch: the padded copies of the batch, then per thread one block's V and M. */
size_t conv_winograd1d_bytes(const cnn_node *n, int64_t batch) {
    const w1_geo g = geometry(n);
    return conv_float_bytes(cnn_add_i64(cnn_mul_i64(xp_floats(&g), batch), cnn_mul_i64(block_floats(&g), conv_plan_threads())));
}

/* U for output channels [p * GEMM_NR, (p + 1) * GEMM_NR), made again only when those kernels changed. */
static void update_panel(const w1_geo *g, const float *weight, float *stamps, float *u, int64_t p, bool frozen) {
    if (conv_kernels_changed(weight, stamps, g->l.k, g->l.c * g->l.taps, p, frozen)) cnn_winograd1d_weights(&g->l, weight, u, p * GEMM_NR, GEMM_NR);
}

int conv_winograd1d_forward(const cnn_op_ctx *c) {
    const w1_geo g = geometry(c->node);
    const cnn_tensor *x = c->in[0], *y = c->out;
    const conv_attrs *a = c->attrs;
    const float *weight = c->param[0], *bias = a->bias ? c->param[1] : NULL;
    const int64_t batch = x->shape[0], xp_size = xp_floats(&g), items = batch * g.blocks, k_panels = (g.l.k + GEMM_NR - 1) / GEMM_NR;
    const int64_t cc = g.l.c, kk = g.l.k, ld = g.block;
    const int threads = conv_call_threads(c);
    const bool whole = items >= 2 * (int64_t)threads; /* whole blocks to threads, or the threads share each */
    float *stamps = conv_aligned(c->state), *u = stamps + kernel_floats(&g);
    float *xps = conv_aligned(c->work), *blocks = xps + xp_size * batch;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int64_t p = tid; p < k_panels; p += nt) update_panel(&g, weight, stamps, u, p, c->frozen);
        /* contiguous runs of padded rows and of blocks per thread (conv_winograd_pad_batch) */
        conv_winograd_pad_batch(x, g.pad_top, g.pad_left, xps, g.xp_h, g.xp_w, tid, nt);
#pragma omp barrier
        float *v = blocks + (whole ? tid : 0) * block_floats(&g), *m = v + g.l.a * ld * cc;
        const int64_t end = whole ? items * (tid + 1) / nt : items;
        for (int64_t item = whole ? items * tid / nt : 0; item < end; item++) {
            const int64_t b = item / g.blocks, first = item % g.blocks * g.block;
            const int64_t count = g.tiles - first < g.block ? g.tiles - first : g.block;
            /* shared: this thread's tiles [t0, t1) of the block, then its output channels [k0, k1) (conv_channel_share) */
            const int64_t t0 = whole ? 0 : count * tid / nt, t1 = whole ? count : count * (tid + 1) / nt;
            int64_t k0 = 0, k1 = kk;
            if (!whole) conv_channel_share(kk, tid, nt, &k0, &k1);
            if (t1 > t0) cnn_winograd1d_input(&g.l, xps + b * xp_size, first + t0, t1 - t0, v + t0 * cc, ld);
            if (!whole) {
#pragma omp barrier
            }
            if (k1 > k0) {
                for (int xi = 0; xi < g.l.a; xi++)
                    conv_gemm_columns(count, k0, k1, cc, v + xi * ld * cc, cc, u + xi * k_panels * GEMM_NR * cc, m + xi * ld * kk, kk);
                const cnn_gemm_epilogue e = {.bias = bias, .scale = c->epi_scale, .shift = c->epi_shift, .residual = conv_residual(c, b),
                                             .relu = c->epi_relu};
                cnn_winograd1d_output(&g.l, m, ld, first, count, k0, k1 - k0, &e, y->data + b * y->stride[0]);
            }
            if (!whole) { /* V and M are the next block's */
#pragma omp barrier
            }
        }
    }
    return 0;
}
