/* conv_winograd.c — conv2d's forward for 3x3 kernels, stride 1, by Winograd's F(4x4, 3x3): 4x
 * fewer multiplications per output than the direct product (36 per 4x4 tile and channel pair
 * instead of 144) at the price of the transforms (kernels/winograd.h); and for 5x5 kernels by
 * F(2x2, 5x5) through the same steps with tiles 2 apart (36 per 2x2 tile instead of 100:
 * inception_v3's 5x5 layers at 35x35, 2.09 -> 0.96 ms each at 1 thread, 1.24 -> 0.63 ms at 2).
 *
 * Per call: (1) the kernels to U (36 packed C x K matrices, kept in the plan's state and made again
 * only where the kernels changed) and every sample to a zero-padded channels-last copy xp, shared
 * out to the threads; (2) the output tiles, in blocks of WINO_BLOCK tiles of one sample (of several
 * whole samples for planes of at most WINO_BLOCK / 2 tiles): the block's inputs to V (36 matrices,
 * tiles x C), the 36 products M[xi] = V[xi] U[xi], and M back to 4x4 output tiles with bias and
 * epilogue. Blocks go to threads whole when there are enough of them, otherwise the threads share
 * each block's input tiles and then its output channels. Every output is computed by the same
 * operations whichever thread computes it, in whichever block: the same bits for any thread count
 * and any batch that runs this path (a small plane alone may not: WINO_MIN_TILES). */
#include "conv_winograd.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/gemm.h"
#include "../kernels/winograd.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define WINO_BLOCK 16 /* output tiles per block: the rows of its 36 products */
/* Below these channel counts the products are too thin for the transforms to pay; below this many
 * output tiles per call U (four times the kernel's size, read once per block) is read for too little
 * work. Measured with U kept in the plan (cnn bench --profile, 1 thread): googlenet's 14x14 layers at
 * batch 1 (16 tiles) 2x faster than the direct product, resnet50's 512-channel 7x7 layers at batch 8
 * (32 tiles) 1.6x. A 7x7 or 8x8 plane at batch 1 (4 tiles) reads each element of U for 4 tiles only:
 * alone, with U in cache, 10% faster than the direct product, but in a whole network U comes from
 * memory (googlenet's 7x7 layers' U is 18 MB, inception_v3's 8x8 ones' 50 MB) and the network's
 * footprint outgrows the last-level cache. On an Intel Xeon host (2 cores, 2 MB L2 each; reads past
 * ~64 MB at 15 GB/s a core) googlenet's inception5b 3x3 took 1.58 ms by Winograd, 0.68 by the direct
 * product; from 8 tiles: googlenet b1 25.4 -> 24.6 ms at 1 thread, 15.2 -> 14.1 at 2; inception_v3
 * 86.1 -> 82.5 and 49.6 -> 45.7 (cnn bench, alternating processes). */
#define WINO_MIN_IN 16
#define WINO_MIN_OUT 16
#define WINO_MIN_TILES 8
/* Kernels whose U is this large (resnet50's 256- and 512-channel layers: 9.4 and 38 MB) are not read
 * once per block of 16 tiles but once per super-block of up to WINO_SUPER tiles of the batch, in three
 * phases: every tile's input transform, the 36 products (the threads taking whole ones, each reading
 * its U[xi] once), every tile's output transform. */
#define WINO_U_LARGE_FLOATS (1 << 20) /* 4 MB (Zen 4, 1 MB of L2) */
/* From a 2 MB L2 on, U from half of it (1 MB on the Intel host: googlenet's conv3 and 28x28 3x3
 * layers and resnet50's 128-channel ones re-read U of 1.8-3.5 MB for each block of 16 tiles from
 * beyond L2): googlenet b1 22.75 -> 22.16 ms at 1 thread, 12.75 -> 12.65 at 2; inception_v3 40.58 ->
 * 39.99 at 2; resnet50 b8 217.7 -> 213.8 at 2 (alternating processes). */
static int64_t u_large_floats(void) {
    const int64_t l2 = cnn_l2_bytes();
    return l2 >= 2 * 1024 * 1024 ? l2 / 2 / (int64_t)sizeof(float) : WINO_U_LARGE_FLOATS;
}
#define WINO_SUPER 64

typedef struct wino_geo {
    int r, m;                              /* kernel side 3 (F(4x4, 3x3)) or 5 (F(2x2, 5x5)); output tile side 4 or 2 */
    int64_t c, k, out_h, out_w, pad_top, pad_left;
    int64_t tiles_w, tiles, blocks, block; /* tiles per sample, blocks per sample, tiles per block */
    int64_t samples;                       /* samples per block: 1, or more when a sample has at most WINO_BLOCK / 2 tiles */
    int64_t xp_h, xp_w;                    /* the padded copy: rows, positions per row */
} wino_geo;

static wino_geo geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    wino_geo g = {
        .r = a->kernel_h, .m = a->kernel_h == 5 ? WINO5_M : WINO_M,
        .c = n->inputs[0]->shape.dims[1], .k = a->out_channels,
        .out_h = n->shape.dims[2], .out_w = n->shape.dims[3],
        .pad_top = a->pads[0], .pad_left = a->pads[2],
    };
    const int64_t tiles_h = (g.out_h + g.m - 1) / g.m;
    g.tiles_w = (g.out_w + g.m - 1) / g.m;
    g.tiles = tiles_h * g.tiles_w;
    g.blocks = (g.tiles + WINO_BLOCK - 1) / WINO_BLOCK;
    g.block = (g.tiles + g.blocks - 1) / g.blocks; /* blocks of equal size, at most WINO_BLOCK */
    /* Small planes (resnet50's 7x7: 4 tiles) put several samples' tiles into one block: the 36
     * products' rows are the block's tiles, and 4 would fill half of the GEMM's 8-row tiles. */
    g.samples = g.tiles <= WINO_BLOCK / 2 ? WINO_BLOCK / g.tiles : 1;
    if (g.samples > 1) g.block = g.samples * g.tiles;
    g.xp_h = tiles_h * g.m + g.r - 1, g.xp_w = g.tiles_w * g.m + g.r - 1;
    return g;
}

/* CNN_WINOGRAD: unset (or anything else) for the size rules below, "0" never, "all" for every
 * kernel shape that fits whatever the sizes (tests). 0: off, 1: by size, 2: all. */
int conv_winograd_mode(void) {
    static int on = -1; /* decided once; a race writes the same value */
    if (on < 0) {
        const char *env = getenv("CNN_WINOGRAD");
        on = !cnn_gemm_fast() || (env && strcmp(env, "0") == 0) ? 0 : env && strcmp(env, "all") == 0 ? 2 : 1;
    }
    return on;
}

/* A side x side kernel, stride 1, dilation 1, one group, and CNN_WINOGRAD not "0". */
static bool square_kernel(const cnn_node *n, int side) {
    const conv_attrs *a = n->attrs;
    return a->kernel_h == side && a->kernel_w == side && a->stride_h == 1 && a->stride_w == 1 && a->dilation_h == 1 && a->dilation_w == 1 &&
           a->groups == 1 && conv_winograd_mode() != 0;
}

bool conv_winograd_shape(const cnn_node *n, int side) { return square_kernel(n, side); }

bool conv_winograd_fits(const cnn_node *n, int64_t batch, bool training) {
    const conv_attrs *a = n->attrs;
    if (training || !(square_kernel(n, 3) || square_kernel(n, 5))) return false; /* training plans: conv_winograd_train.c */
    const wino_geo g = geometry(n);
    return conv_winograd_mode() == 2 || (n->inputs[0]->shape.dims[1] >= WINO_MIN_IN && a->out_channels >= WINO_MIN_OUT &&
                           cnn_mul_i64(g.tiles, batch) >= WINO_MIN_TILES);
}

/* State (kept by the plan between calls): the stamps of the kernels U was made from
 * (conv_kernels_changed), then U. */
static int64_t kernel_floats(const wino_geo *g) { return conv_stamp_floats(g->k); }
static int64_t u_floats(const wino_geo *g) { return cnn_winograd_weights_size(g->k, g->c); }
/* Scratch: the padded copies of the batch, then per thread one block's V and M. */
static int64_t xp_floats(const wino_geo *g) { return cnn_mul_i64(cnn_mul_i64(g->xp_h, g->xp_w), g->c); }
static int64_t block_floats(const wino_geo *g) { return cnn_mul_i64(WINO_XI * g->block, cnn_add_i64(g->c, g->k)); }

size_t conv_winograd_state_bytes(const cnn_node *n) {
    const wino_geo g = geometry(n);
    return conv_float_bytes(cnn_add_i64(kernel_floats(&g), u_floats(&g)));
}

/* Tiles per super-block at this batch, 0 when blocks are used. */
static int64_t super_tiles(const wino_geo *g, int64_t batch) {
    const int64_t u = u_floats(g), total = cnn_mul_i64(batch, g->tiles);
    return u < u_large_floats() || total < 0 ? 0 : total < WINO_SUPER ? total : WINO_SUPER;
}

size_t conv_winograd_bytes(const cnn_node *n, int64_t batch) {
    const wino_geo g = geometry(n);
    const int64_t super = super_tiles(&g, batch);
    const int64_t blocks = super ? cnn_mul_i64(WINO_XI * super, cnn_add_i64(g.c, g.k)) : cnn_mul_i64(block_floats(&g), conv_plan_threads());
    return conv_float_bytes(cnn_add_i64(cnn_mul_i64(xp_floats(&g), batch), blocks));
}

/* The super-block path: rows [r0, r0 + rows) of the batch's tiles, V and M (36 x super rows each)
 * shared by the threads (inside the parallel region; thread tid of nt). */
static void super_block(const cnn_op_ctx *c, const wino_geo *g, const float *xps, const float *u, float *v, float *m, int64_t super,
                        int64_t r0, int64_t rows, int tid, int nt) {
    const float *bias = ((const conv_attrs *)c->attrs)->bias ? c->param[1] : NULL;
    const int64_t k_panels = (g->k + GEMM_NR - 1) / GEMM_NR, xp_size = xp_floats(g);
    /* this thread's rows [lo, hi) of the batch's tiles (row b * tiles + t: sample b's tile t), a run per sample */
    const int64_t lo = r0 + rows * tid / nt, hi = r0 + rows * (tid + 1) / nt;
    for (int64_t at = lo, count; at < hi; at += count) {
        const int64_t b = at / g->tiles, t0 = at % g->tiles;
        count = g->tiles - t0 < hi - at ? g->tiles - t0 : hi - at;
        cnn_winograd_input(g->m, xps + b * xp_size, g->xp_w, g->c, g->tiles_w, t0, count, v + (at - r0) * g->c, super);
    }
#pragma omp barrier
    for (int xi = tid; xi < WINO_XI; xi += nt)
        cnn_gemm_packed_avx512(false, rows, g->k, g->c, v + xi * super * g->c, g->c, u + xi * k_panels * GEMM_NR * g->c, m + xi * super * g->k,
                               g->k, false, NULL, 0, 1);
#pragma omp barrier
    for (int64_t at = lo, count; at < hi; at += count) {
        const int64_t b = at / g->tiles, t0 = at % g->tiles;
        count = g->tiles - t0 < hi - at ? g->tiles - t0 : hi - at;
        const cnn_gemm_epilogue e = {.bias = bias, .scale = c->epi_scale, .shift = c->epi_shift, .residual = conv_residual(c, b),
                                     .relu = c->epi_relu};
        cnn_winograd_output(g->m, m + (at - r0) * g->k, super, g->k, 0, g->k, g->tiles_w, t0, count, &e, c->out->data + b * c->out->stride[0],
                            g->out_h, g->out_w);
    }
#pragma omp barrier /* V and M are the next super-block's */
}

/* U for output channels [p * GEMM_NR, (p + 1) * GEMM_NR), made again only when those kernels changed. */
static void update_panel(const wino_geo *g, const float *weight, float *stamps, float *u, int64_t p, bool frozen) {
    if (conv_kernels_changed(weight, stamps, g->k, g->c * g->r * g->r, p, frozen)) cnn_winograd_weights(g->r, g->k, g->c, weight, u, p * GEMM_NR, GEMM_NR);
}

void conv_winograd_pad_batch(const cnn_tensor *x, int64_t pad_top, int64_t pad_left, float *xps, int64_t xp_h, int64_t xp_w, int tid, int nt) {
    const int64_t batch = x->shape[0], c = x->shape[1], xp_size = xp_h * xp_w * c;
    for (int64_t r = batch * xp_h * tid / nt; r < batch * xp_h * (tid + 1) / nt; r++)
        cnn_winograd_pad_row(x->data + r / xp_h * x->stride[0], c, x->shape[2], x->shape[3], pad_top, pad_left, xps + r / xp_h * xp_size, xp_w,
                             r % xp_h);
}

int conv_winograd_forward(const cnn_op_ctx *c) {
    const wino_geo g = geometry(c->node);
    const cnn_tensor *x = c->in[0], *y = c->out;
    const conv_attrs *a = c->attrs;
    const float *weight = c->param[0], *bias = a->bias ? c->param[1] : NULL;
    const int64_t batch = x->shape[0], xp_size = xp_floats(&g), per_thread = block_floats(&g);
    /* work items: blocks of tiles of one sample, or (g.samples > 1) of several whole samples */
    const int64_t items = g.samples > 1 ? (batch + g.samples - 1) / g.samples : batch * g.blocks;
    const int64_t k_panels = (g.k + GEMM_NR - 1) / GEMM_NR, ldv = g.block;
    const int threads = conv_call_threads(c);
    const int64_t super = super_tiles(&g, batch);
    float *stamps = conv_aligned(c->state), *u = stamps + kernel_floats(&g);
    float *xps = conv_aligned(c->work), *blocks = xps + xp_size * batch;
    /* Whole blocks to threads when each gets two or more; otherwise the threads share each block. */
    const bool whole = items >= 2 * (int64_t)threads;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int64_t p = tid; p < k_panels; p += nt) update_panel(&g, weight, stamps, u, p, c->frozen);
        /* contiguous runs of padded rows and of blocks per thread (conv_winograd_pad_batch) */
        conv_winograd_pad_batch(x, g.pad_top, g.pad_left, xps, g.xp_h, g.xp_w, tid, nt);
#pragma omp barrier
        if (super) {
            for (int64_t r0 = 0; r0 < batch * g.tiles; r0 += super)
                super_block(c, &g, xps, u, blocks, blocks + WINO_XI * super * g.c, super,
                            r0, batch * g.tiles - r0 < super ? batch * g.tiles - r0 : super, tid, nt);
        } else {
            float *v = blocks + (whole ? tid : 0) * per_thread, *m = v + WINO_XI * ldv * g.c;
            const int64_t item_end = whole ? items * (tid + 1) / nt : items;
            for (int64_t item = whole ? items * tid / nt : 0; item < item_end; item++) {
                /* samples [b0, b1), their tiles [first, first + count) each, the block's rows in turn */
                const int64_t b0 = g.samples > 1 ? item * g.samples : item / g.blocks;
                const int64_t b1 = g.samples > 1 ? (b0 + g.samples < batch ? b0 + g.samples : batch) : b0 + 1;
                const int64_t first = g.samples > 1 ? 0 : item % g.blocks * g.block;
                const int64_t count = g.samples > 1 ? g.tiles : g.tiles - first < g.block ? g.tiles - first : g.block;
                const int64_t rows = (b1 - b0) * count;
                /* In shared mode thread tid transforms rows [rows * tid / nt, rows * (tid + 1) / nt) of the
                 * block's input, then takes its output channels [k0, k1) (conv_channel_share) through the 36
                 * products and the output transform: each thread reads back only the columns of M it wrote. */
                const int64_t t0 = whole ? 0 : rows * tid / nt, t1 = whole ? rows : rows * (tid + 1) / nt;
                int64_t k0 = 0, k1 = g.k;
                if (!whole) conv_channel_share(g.k, tid, nt, &k0, &k1);
                for (int64_t b = b0; b < b1; b++) { /* rows [lo, hi) of [t0, t1) are sample b's */
                    const int64_t at = (b - b0) * count, lo = t0 > at ? t0 : at, hi = t1 < at + count ? t1 : at + count;
                    if (hi > lo) cnn_winograd_input(g.m, xps + b * xp_size, g.xp_w, g.c, g.tiles_w, first + lo - at, hi - lo, v + lo * g.c, ldv);
                }
                if (!whole) {
#pragma omp barrier
                }
                if (k1 > k0) {
                    for (int xi = 0; xi < WINO_XI; xi++)
                        conv_gemm_columns(rows, k0, k1, g.c, v + xi * ldv * g.c, g.c, u + xi * k_panels * GEMM_NR * g.c, m + xi * ldv * g.k, g.k);
                    for (int64_t b = b0; b < b1; b++) {
                        const cnn_gemm_epilogue e = {.bias = bias, .scale = c->epi_scale, .shift = c->epi_shift, .residual = conv_residual(c, b),
                                                     .relu = c->epi_relu};
                        cnn_winograd_output(g.m, m + (b - b0) * count * g.k, ldv, g.k, k0, k1 - k0, g.tiles_w, first, count, &e,
                                            y->data + b * y->stride[0], g.out_h, g.out_w);
                    }
                }
                if (!whole) { /* V is the next block's */
#pragma omp barrier
                }
            }
        }
    }
    return 0;
}
