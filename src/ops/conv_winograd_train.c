/* conv_winograd_train.c — conv2d in training plans for 3x3 kernels, stride 1, by Winograd's
 * F(2x2, 3x3) (kernels/winograd.h): 2.25x fewer multiplications than the direct product in each of
 * the three passes, rounding like it (F(4x4, 3x3), the eval plans' choice, rounds ~10x worse, which
 * training magnifies past PyTorch's own rounding: conv_winograd.h). 5x5 kernels by F(2x2, 5x5):
 * 36 products per 2x2 output tile instead of 100, rounding to ~1e-6 of the terms' magnitudes
 * (test_kernels); its input gradient by the transposed algorithm (below).
 *
 * Forward: the kernels to U (16 packed C x K matrices; 36 for 5x5), then per sample a zero-padded
 * channels-last copy xp, and by blocks of output tiles (spanning samples on small planes: w2_stack)
 * V = B^T d B (16 or 36 matrices, tiles x C), the products M = V U and the output transform A^T M A
 * plus bias.
 * Input gradient (3x3): the same with dy as the input (padded by 2 - pad) and U' from the kernels
 * turned by 180 degrees with their channels swapped, added into dx.
 * Weight gradient: dU[xi] (C x K) = sum over the output tiles of V[xi]^T (A dy A^T)[xi], by blocks
 * of many tiles (from several samples on small planes), then dW = G^T dU G. The samples are cut
 * into DW_CHUNKS chunks (a split that depends on the batch alone), each summed in order into its
 * own dU and the chunks added in order (conv_common.h): with every sample's work done by one thread
 * in a fixed order, the same bits for any thread count.
 * F(2x2, 5x5)'s input gradient: per block of a sample's tiles, A dy A^T (made for the weight gradient
 * anyway) times U^T (the forward's transformed kernels, channels swapped) gives each tile's 36
 * products per input channel, and B (.) B^T of them is added into the tile's 6x6 window of a padded
 * channels-last copy of dx_b, which is added into dx_b at the end of the sample. */
#include "conv_winograd.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/gemm.h"
#include "../kernels/winograd.h"

#include <omp.h>
#include <string.h>

/* Below these channel counts the products are too thin for the transforms to pay. The input
 * channels' rule holds even for CNN_WINOGRAD=all: a network's first layer (1 or 3 planes of an
 * image, their mean large against their detail) loses too much of its weight gradient to
 * cancellation in the transformed domain (test_models' MiniGoogLeNet on 1x28x28 images: 1.3% of
 * conv1's largest gradient against PyTorch, where the direct product is within 2e-6). */
#define WINO2_MIN_IN 16
#define WINO2_MIN_OUT 16
/* Tiles per block of the forward and the input gradient, from one or several samples: V and M of a
 * block about WINO2_BLOCK_BYTES each, between WINO2_MIN_BLOCK and WINO2_MAX_BLOCK. */
#define WINO2_BLOCK_BYTES (96 * 1024)
#define WINO2_MIN_BLOCK 8
#define WINO2_MAX_BLOCK 64
/* The weight gradient's blocks: V and A dy A^T of up to this many bytes together (16 to 512 tiles,
 * from one or several samples), so that each of the 16 products dU[xi] += V[xi]^T (A dy A^T)[xi]
 * sums over many tiles per pass over dU. */
#define WINO2_DW_BLOCK_BYTES (2 * 1024 * 1024)
/* F(2x2, 5x5)'s: a quarter of that. Its blocks of 36 products, with the row-major copy for the input
 * gradient, had made LeNet-5's conv2 backward work on ~2.5 MB a thread, out of L2 between the other
 * layers of a step (cnn bench lenet5 --train --profile, conv2 backward, 10 alternating at 2 threads:
 * 2.01-2.41 -> 1.84-2.13 ms, 9 of 10 faster; 1 thread 5 of 6; 256 KB and 1 MB no better). 3x3
 * layers keep 2 MB (MiniGoogLeNet's step at 1 thread: 3 of 4 slower with 512 KB). */
#define WINO5_DW_BLOCK_BYTES (512 * 1024)

typedef struct w2_geo {
    int r, a, xi;                 /* kernel side (3 or 5), input tile side r + 1, elements per tile */
    int64_t c, k, h, w, out_h, out_w, pad_top, pad_left;
    int64_t tiles_w, tiles;       /* the output's 2x2 tiles: per row, per sample */
    int64_t dx_tiles_w;           /* the input gradient's per row */
    int64_t xp_h, xp_w;           /* the padded input: rows, positions per row */
    int64_t dp_h, dp_w;           /* the padded output gradient, dy's (0, 0) at dp[off_h][off_w] */
    int64_t off_h, off_w;         /* 3x3: 2 - pad_top, 2 - pad_left, the input gradient's pads; 5x5: 0 */
    int64_t kp, cp, wide;         /* K and C rounded up to GEMM_NR; the larger of C and kp */
    int64_t block;                /* tiles per block of the forward and the input gradient */
    int64_t dw_block;             /* tiles per block of the weight gradient (across a chunk's samples) */
} w2_geo;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static w2_geo geometry(const cnn_node *n) {
    const conv_attrs *a = n->attrs;
    w2_geo g = {
        .r = a->kernel_h, .a = a->kernel_h + 1, .xi = (a->kernel_h + 1) * (a->kernel_h + 1),
        .c = n->inputs[0]->shape.dims[1], .k = a->out_channels,
        .h = n->inputs[0]->shape.dims[2], .w = n->inputs[0]->shape.dims[3],
        .out_h = n->shape.dims[2], .out_w = n->shape.dims[3],
        .pad_top = a->pads[0], .pad_left = a->pads[2],
    };
    const int64_t tiles_h = (g.out_h + 1) / 2, dx_tiles_h = (g.h + 1) / 2;
    g.tiles_w = (g.out_w + 1) / 2, g.tiles = tiles_h * g.tiles_w;
    g.xp_h = 2 * tiles_h + g.r - 1, g.xp_w = 2 * g.tiles_w + g.r - 1;
    if (g.r == 3) {
        g.dx_tiles_w = (g.w + 1) / 2;
        g.off_h = 2 - g.pad_top, g.off_w = 2 - g.pad_left;
        /* dp holds the dx convolution's windows and every output tile of dy */
        g.dp_h = max64(2 * dx_tiles_h + 2, g.off_h + 2 * tiles_h), g.dp_w = max64(2 * g.dx_tiles_w + 2, g.off_w + 2 * g.tiles_w);
    } else { /* dp holds every output tile of dy; the input gradient goes into a copy laid out as xp */
        g.dp_h = 2 * tiles_h, g.dp_w = 2 * g.tiles_w;
    }
    g.kp = cnn_gemm_round_nr(g.k), g.cp = cnn_gemm_round_nr(g.c), g.wide = max64(g.c, g.kp);
    g.block = WINO2_BLOCK_BYTES / (WINO2_XI * (int64_t)sizeof(float) * max64(g.wide, 1)) / GEMM_MR * GEMM_MR;
    g.block = g.block < WINO2_MIN_BLOCK ? WINO2_MIN_BLOCK : g.block > WINO2_MAX_BLOCK ? WINO2_MAX_BLOCK : g.block;
    /* 5x5: 32 tiles (the rule above, sized for 16 products a tile, gives LeNet-5's conv2 16 tiles: 36
     * products of 16 x 50 x 20 a block). bench/conv_layer 20 50 12 64 5 1 0, 2 threads: forward
     * 0.98-1.03 -> 0.87-0.92 ms, backward 1.94-1.98 -> 1.78-1.93 ms with 64 tiles (32: no gain
     * there); within a LeNet-5 step (cnn bench --profile, 10 alternating at 2 threads) 32 tiles
     * beat 64: forward faster in 9, the step in 7 (median 4.50 -> 4.42 ms): half the scratch. */
    if (g.r == 5) g.block = 32;
    g.dw_block = (g.r == 5 ? WINO5_DW_BLOCK_BYTES : WINO2_DW_BLOCK_BYTES) / (g.xi * (int64_t)sizeof(float) * (g.c + g.kp)) / GEMM_MR * GEMM_MR;
    g.dw_block = g.dw_block < 16 ? 16 : g.dw_block > 512 ? 512 : g.dw_block;
    return g;
}

bool conv_winograd2_fits(const cnn_node *n, int64_t batch, bool training) {
    const conv_attrs *a = n->attrs;
    (void)batch;
    if (!training || !((conv_winograd_shape(n, 3) && a->pads[0] <= 2 && a->pads[2] <= 2) ||
                       (conv_winograd_shape(n, 5) && a->pads[0] <= 4 && a->pads[2] <= 4)))
        return false;
    return n->inputs[0]->shape.dims[1] >= WINO2_MIN_IN && (conv_winograd_mode() == 2 || a->out_channels >= WINO2_MIN_OUT);
}

/* Scratch, each part 64-byte aligned: U (or U', U^T), DW_CHUNKS partial dU, then per thread xp, dp, V,
 * M, the packed A dy A^T of a block and for 5x5 kernels its row-major copy (a block of tiles) and
 * the padded input gradient. */
typedef struct w2_layout {
    int64_t u, du, xp, dp, v, m, vdw, dm, tr, dxp, thread; /* floats of each part; thread: one thread's parts together */
} w2_layout;

static w2_layout layout(const w2_geo *g) {
    w2_layout l;
    l.u = conv_align16(cnn_mul_i64(g->xi, max64(cnn_mul_i64(g->c, g->kp), cnn_mul_i64(g->k, g->cp))));
    l.du = conv_align16(cnn_mul_i64(g->xi, cnn_mul_i64(g->c, g->k)));
    l.xp = conv_align16(cnn_mul_i64(cnn_mul_i64(g->xp_h, g->xp_w), g->c));
    l.dp = conv_align16(cnn_mul_i64(cnn_mul_i64(g->dp_h, g->dp_w), g->k));
    l.v = conv_align16(g->xi * g->block * g->wide);
    l.m = l.v;
    l.vdw = conv_align16(cnn_mul_i64(g->xi * g->dw_block, g->c));
    l.dm = conv_align16(cnn_mul_i64(g->xi * g->dw_block, g->kp));
    l.tr = g->r == 5 ? conv_align16(cnn_mul_i64(g->xi * g->block, g->k)) : 0;
    l.dxp = g->r == 5 ? l.xp : 0;
    l.thread = cnn_add_i64(cnn_add_i64(cnn_add_i64(l.xp, l.dp), cnn_add_i64(l.v, l.m)), cnn_add_i64(l.vdw, l.dm));
    l.thread = cnn_add_i64(l.thread, cnn_add_i64(l.tr, l.dxp));
    return l;
}

size_t conv_winograd2_bytes(const cnn_node *n, int64_t batch) {
    (void)batch;
    const w2_geo g = geometry(n);
    const w2_layout l = layout(&g);
    return conv_float_bytes(cnn_add_i64(cnn_add_i64(l.u, cnn_mul_i64(l.du, DW_CHUNKS)), cnn_mul_i64(l.thread, conv_plan_threads())));
}

/* A thread's parts. */
typedef struct w2_scratch {
    float *xp, *dp, *v, *m, *vdw, *dm, *tr, *dxp;
} w2_scratch;

static w2_scratch thread_scratch(const w2_layout *l, float *work, int tid) {
    float *t = work + l->u + DW_CHUNKS * l->du + tid * l->thread;
    w2_scratch s = {.xp = t, .dp = t + l->xp};
    s.v = s.dp + l->dp, s.m = s.v + l->v, s.vdw = s.m + l->m, s.dm = s.vdw + l->vdw, s.tr = s.dm + l->dm, s.dxp = s.tr + l->tr;
    return s;
}

/* U (dx false: the forward's) or for the input gradient U' (3x3: the kernels turned) or U^T (5x5) by
 * panels of GEMM_NR columns shared out to the threads (thread tid of nt, inside the parallel region);
 * U' and U^T by pieces of a panel's rows too (their C columns often one panel: LeNet-5's conv2). */
static void transform_kernels(const w2_geo *g, const float *weight, bool dx, float *u, int tid, int nt) {
    const int64_t rows = dx ? g->k : g->c, slices = g->r == 3 || dx ? nt : 1;
    for (int64_t q = tid; q < (dx ? g->cp : g->kp) / GEMM_NR * slices; q += nt) {
        const int64_t p = q / slices, i0 = rows * (q % slices) / slices, i1 = rows * (q % slices + 1) / slices;
        if (g->r == 3)
            cnn_winograd2_weights(g->k, g->c, weight, dx, u, p * GEMM_NR, GEMM_NR, i0, i1 - i0);
        else if (dx)
            cnn_winograd5_weights_t(g->k, g->c, weight, u, p * GEMM_NR, GEMM_NR, i0, i1 - i0);
        else
            cnn_winograd_weights(5, g->k, g->c, weight, u, p * GEMM_NR, GEMM_NR);
    }
}

/* A sample's c planes (h x w at x) into a channels-last copy xp of xp_h rows of xp_w positions, zero
 * padded (pad_top rows and pad_left positions before). Without padding (LeNet-5's conv2: x and dy)
 * the planes are transposed flat, 16 positions to a block across rows: 12 x 12 planes in 9 blocks
 * instead of 12 of 12 positions, 8 x 8 in 4 instead of 8 of 8. */
static bool unpadded(int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, int64_t xp_h, int64_t xp_w) {
    return pad_top == 0 && pad_left == 0 && xp_h == h && xp_w == w;
}

static void channels_last(const float *x, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, float *xp, int64_t xp_h,
                          int64_t xp_w) {
    if (unpadded(h, w, pad_top, pad_left, xp_h, xp_w)) {
        cnn_winograd_pad_row(x, c, 1, h * w, 0, 0, xp, h * w, 0);
        return;
    }
    for (int64_t r = 0; r < xp_h; r++) cnn_winograd_pad_row(x, c, h, w, pad_top, pad_left, xp, xp_w, r);
}

/* channels_last's adjoint: x (c planes of h x w) += the unpadded part of xp, flat where it can be. */
static void add_channels_last(const float *xp, int64_t c, int64_t h, int64_t w, int64_t pad_top, int64_t pad_left, int64_t xp_h, int64_t xp_w,
                              float *x) {
    if (unpadded(h, w, pad_top, pad_left, xp_h, xp_w)) {
        cnn_winograd_unpad_add_row(xp, h * w, c, 1, h * w, 0, 0, x, 0);
        return;
    }
    for (int64_t y = 0; y < h; y++) cnn_winograd_unpad_add_row(xp, xp_w, c, h, w, pad_top, pad_left, x, y);
}

/* Sample xb's zero-padded channels-last copy xp (the forward's input, and the weight gradient's). */
static void pad_input(const w2_geo *g, const float *xb, float *xp) { channels_last(xb, g->c, g->h, g->w, g->pad_top, g->pad_left, xp, g->xp_h, g->xp_w); }

/* A block of output tiles from one or more samples (small planes: 9 tiles of a 6x6 plane would
 * fill two row panels of GEMM_MR to 56%, and each block reads all of U): the 16 products run once
 * the block is full, then each sample's run of tiles (seg) gets its output transform. */
typedef struct w2_seg {
    float *out;            /* the sample's output planes */
    int64_t first, count;  /* its tiles */
    int64_t row;           /* where they start in the block */
} w2_seg;

typedef struct w2_stack {
    int64_t n_in, n_out, out_h, out_w;
    const float *u, *bias;
    bool accumulate;
    int64_t filled, segs;
    w2_seg seg[WINO2_MAX_BLOCK + 1];
} w2_stack;

/* The block's products and output transforms. */
static void stack_flush(const w2_geo *g, const w2_scratch *s, w2_stack *st) {
    if (st->filled == 0) return;
    const int64_t n_out_p = cnn_gemm_round_nr(st->n_out), tiles_w = (st->out_w + 1) / 2;
    for (int xi = 0; xi < g->xi; xi++)
        cnn_gemm_packed_avx512(false, st->filled, st->n_out, st->n_in, s->v + xi * g->block * st->n_in, st->n_in,
                               st->u + xi * st->n_in * n_out_p, s->m + xi * g->block * st->n_out, st->n_out, false, NULL, 0, 1);
    const cnn_gemm_epilogue e = {.bias = st->bias};
    for (int64_t i = 0; i < st->segs; i++) {
        const w2_seg *q = &st->seg[i];
        if (g->r == 3)
            cnn_winograd2_output(s->m + q->row * st->n_out, g->block, st->n_out, tiles_w, q->first, q->count, st->bias, st->accumulate,
                                 q->out, st->out_h, st->out_w);
        else /* the forward only */
            cnn_winograd_output(WINO5_M, s->m + q->row * st->n_out, g->block, st->n_out, 0, st->n_out, tiles_w, q->first, q->count, &e, q->out,
                                st->out_h, st->out_w);
    }
    st->filled = st->segs = 0;
}

/* One sample into the block: out (n_out planes of out_h x out_w) = or += the convolution of the
 * padded copy in (n_in channels, rows of in_w positions) with the transformed kernels, its tiles
 * transformed into the block's rows (flushed when full). */
static void stack_sample(const w2_geo *g, const w2_scratch *s, w2_stack *st, const float *in, int64_t in_w, float *out) {
    const int64_t tiles_w = (st->out_w + 1) / 2, tiles = (st->out_h + 1) / 2 * tiles_w;
    for (int64_t first = 0; first < tiles;) {
        const int64_t count = tiles - first < g->block - st->filled ? tiles - first : g->block - st->filled;
        if (g->r == 3)
            cnn_winograd2_input(in, in_w, st->n_in, tiles_w, first, count, s->v + st->filled * st->n_in, g->block);
        else
            cnn_winograd_input(WINO5_M, in, in_w, st->n_in, tiles_w, first, count, s->v + st->filled * st->n_in, g->block);
        st->seg[st->segs++] = (w2_seg){.out = out, .first = first, .count = count, .row = st->filled};
        st->filled += count, first += count;
        if (st->filled == g->block) stack_flush(g, s, st);
    }
}

int conv_winograd2_forward(const cnn_op_ctx *c) {
    const w2_geo g = geometry(c->node);
    const w2_layout l = layout(&g);
    const cnn_tensor *x = c->in[0], *y = c->out;
    const conv_attrs *a = c->attrs;
    const float *weight = c->param[0], *bias = a->bias ? c->param[1] : NULL;
    const int64_t batch = x->shape[0];
    float *work = conv_aligned(c->work), *u = work;
#pragma omp parallel num_threads(conv_call_threads(c))
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        transform_kernels(&g, weight, false, u, tid, nt);
        const w2_scratch s = thread_scratch(&l, work, tid);
        w2_stack st = {.n_in = g.c, .n_out = g.k, .out_h = g.out_h, .out_w = g.out_w, .u = u, .bias = bias};
#pragma omp barrier
#pragma omp for schedule(static) nowait
        for (int64_t b = 0; b < batch; b++) {
            pad_input(&g, x->data + b * x->stride[0], s.xp);
            stack_sample(&g, &s, &st, s.xp, g.xp_w, y->data + b * y->stride[0]);
        }
        stack_flush(&g, &s, &st);
    }
    return 0;
}

/* A chunk's partial dU (NULL: no weight gradient) and its block: filled rows so far; written once
 * the first block went in (that one stores instead of adding: no zeroing of the partial before). */
typedef struct dw_part {
    float *du;
    int64_t filled;
    bool written;
} dw_part;

/* The weight gradient's block of filled tiles: dU[xi] (C x K) (+)= V[xi]^T (rows x C, read
 * transposed) * (A dy A^T)[xi] (rows x K, packed), panel by panel of dm (dw_block rows apart). */
static void dw_flush(const w2_geo *g, const w2_scratch *s, dw_part *d) {
    for (int xi = 0; xi < g->xi; xi++)
        for (int64_t p = 0; p < g->kp / GEMM_NR; p++) {
            const int64_t n = g->k - p * GEMM_NR < GEMM_NR ? g->k - p * GEMM_NR : GEMM_NR;
            cnn_gemm_packed_avx512(true, g->c, n, d->filled, s->vdw + xi * g->dw_block * g->c, g->c,
                                   s->dm + (xi * g->kp + p * GEMM_NR) * g->dw_block, d->du + xi * g->c * g->k + p * GEMM_NR, g->k, d->written,
                                   NULL, 0, 1);
        }
    d->written = true, d->filled = 0;
}

/* Sample b: its tiles' V and A dy A^T appended to the weight gradient's block (d->filled rows of it,
 * flushed into d->du when full; when d->du is not NULL), dx_b += its input gradient through the block
 * dxs (when dx is not NULL). */
static void backward_sample(const cnn_op_ctx *c, const w2_geo *g, int64_t b, dw_part *d, w2_stack *dxs, const w2_scratch *s) {
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const float *dyb = dy->data + b * dy->stride[0];
    channels_last(dyb, g->k, g->out_h, g->out_w, g->off_h, g->off_w, s->dp, g->dp_h, g->dp_w);
    if (d->du) {
        const float *dy0 = s->dp + (g->off_h * g->dp_w + g->off_w) * g->k;
        pad_input(g, x->data + b * x->stride[0], s->xp);
        for (int64_t first = 0; first < g->tiles;) {
            const int64_t count = g->tiles - first < g->dw_block - d->filled ? g->tiles - first : g->dw_block - d->filled;
            cnn_winograd2_input(s->xp, g->xp_w, g->c, g->tiles_w, first, count, s->vdw + d->filled * g->c, g->dw_block);
            cnn_winograd2_output_grad(dy0, g->dp_w, g->k, g->tiles_w, first, count, s->dm, d->filled, g->dw_block);
            first += count, d->filled += count;
            if (d->filled == g->dw_block) dw_flush(g, s, d);
        }
    }
    if (dx) stack_sample(g, s, dxs, s->dp, g->dp_w, dx->data + b * dx->stride[0]);
}

/* F(2x2, 5x5)'s backward_sample: the weight gradient's blocks as above (when du is not NULL), and
 * the input gradient by the transposed algorithm (when dx is not NULL), a block of tiles at a time. */
static void backward_sample5(const cnn_op_ctx *c, const w2_geo *g, int64_t b, dw_part *d, const float *ut, const w2_scratch *s) {
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const float *dyb = dy->data + b * dy->stride[0];
    channels_last(dyb, g->k, g->out_h, g->out_w, 0, 0, s->dp, g->dp_h, g->dp_w);
    if (d->du) pad_input(g, x->data + b * x->stride[0], s->xp);
    if (dx) memset(s->dxp, 0, (size_t)(g->xp_h * g->xp_w * g->c) * sizeof(float));
    for (int64_t first = 0; first < g->tiles;) {
        int64_t count = g->tiles - first < g->block ? g->tiles - first : g->block;
        if (count > g->dw_block - d->filled) count = g->dw_block - d->filled;
        if (d->du) cnn_winograd_input(WINO5_M, s->xp, g->xp_w, g->c, g->tiles_w, first, count, s->vdw + d->filled * g->c, g->dw_block);
        cnn_winograd5_output_grad(s->dp, g->dp_w, g->k, g->tiles_w, first, count, s->dm, d->filled, g->dw_block, dx ? s->tr : NULL, g->block);
        if (dx) { /* per xi, the tiles' products (count x C) = (A dy A^T) (count x K) U^T (K x C), then B (.) B^T into dxp */
            for (int xi = 0; xi < g->xi; xi++)
                cnn_gemm_packed_avx512(false, count, g->c, g->k, s->tr + xi * g->block * g->k, g->k, ut + xi * g->k * g->cp,
                                       s->m + xi * g->block * g->c, g->c, false, NULL, 0, 1);
            cnn_winograd5_input_grad(s->m, g->block, g->c, g->tiles_w, first, count, s->dxp, g->xp_w);
        }
        first += count;
        if (d->du && (d->filled += count) == g->dw_block) dw_flush(g, s, d);
    }
    if (dx) add_channels_last(s->dxp, g->c, g->h, g->w, g->pad_top, g->pad_left, g->xp_h, g->xp_w, dx->data + b * dx->stride[0]);
}

int conv_winograd2_backward(const cnn_op_ctx *c) {
    const w2_geo g = geometry(c->node);
    const w2_layout l = layout(&g);
    const conv_attrs *a = c->attrs;
    if (a->bias) conv_bias_grad(c, g.k, g.out_h * g.out_w);
    float *dweight = c->dparam[0];
    const bool dx = c->din[0] != NULL;
    if (!dweight && !dx) return 0;
    const float *weight = c->param[0];
    const int64_t batch = c->dout->shape[0];
    float *work = conv_aligned(c->work), *u = work, *partials = work + l.u;
    conv_chunk_queue queue = conv_chunk_queue_all();
#pragma omp parallel num_threads(conv_call_threads(c))
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        if (dx) transform_kernels(&g, weight, true, u, tid, nt);
        const w2_scratch s = thread_scratch(&l, work, tid);
        /* the input gradient: the convolution of dy with U' (the kernels turned), added into dx */
        w2_stack dxs = {.n_in = g.k, .n_out = g.c, .out_h = g.h, .out_w = g.w, .u = u, .accumulate = true};
#pragma omp barrier
        /* chunk k: samples [conv_chunk_first(k), conv_chunk_first(k + 1)) in order into partial k */
        for (int k; (k = conv_chunk_take(&queue, tid, nt)) >= 0;) {
            dw_part d = {.du = dweight ? partials + k * l.du : NULL};
            for (int64_t b = conv_chunk_first(k, batch); b < conv_chunk_first(k + 1, batch); b++) {
                if (g.r == 3)
                    backward_sample(c, &g, b, &d, &dxs, &s);
                else
                    backward_sample5(c, &g, b, &d, u, &s);
            }
            if (d.du && d.filled > 0) dw_flush(&g, &s, &d);
            if (d.du && !d.written) memset(d.du, 0, (size_t)(g.xi * g.c * g.k) * sizeof(float)); /* a chunk without samples */
        }
        stack_flush(&g, &s, &dxs);
#pragma omp barrier
        if (dweight) {
            /* the chunks' partials added in chunk order into the first, then dW += G^T dU G */
#pragma omp for schedule(static)
            for (int64_t i = 0; i < g.xi * g.c * g.k; i++) partials[i] = conv_chunk_sum(partials, l.du, i);
#pragma omp for schedule(static)
            for (int64_t ko = 0; ko < g.k; ko++) {
                if (g.r == 3)
                    cnn_winograd2_weights_grad(g.k, g.c, partials, dweight, ko, 1);
                else
                    cnn_winograd5_weights_grad(g.k, g.c, partials, dweight, ko, 1);
            }
        }
    }
    return 0;
}
