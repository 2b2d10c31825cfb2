/* conv_common.h — what the 2-D and 3-D convolutions (conv.c, conv3d.c) share: the per-sample GEMMs over groups, the
 * fused epilogue, the scratch layout and the deterministic weight-gradient reduction. */
#ifndef CNN_CONV_COMMON_H
#define CNN_CONV_COMMON_H

#include "ops.h"
#include "lane_sums.h"
#include "../kernels/gemm.h"
#include "../kernels/winograd.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- parameters ---- */

/* The weight (rank dims: OC, C/groups, kernel...) and the bias (OC, when bias) of the node n just
 * added, with PyTorch's default: kaiming_uniform(a=sqrt(5)) on the weight and the bias both come to
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C/groups * kernel elements. On failure the node is
 * taken back out of g and NULL returned. */
static inline cnn_node *conv_add_params(cnn_graph *g, cnn_node *n, int rank, const int64_t *weight_shape, bool bias) {
    double fan_in = 1.0;
    for (int d = 1; d < rank; d++) fan_in *= (double)weight_shape[d];
    const float bound = (float)(1.0 / sqrt(fan_in));
    if (cnn_node_add_param(n, "weight", rank, weight_shape, true, CNN_INIT_UNIFORM, bound) ||
        (bias && cnn_node_add_param(n, "bias", 1, weight_shape, true, CNN_INIT_UNIFORM, bound))) {
        cnn_graph_drop_last_node(g);
        return NULL;
    }
    return n;
}

/* ---- one convolution as GEMMs ---- */

/* A convolution seen the same way for any number of spatial dims: per sample and group g,
 * y_g (OC/G, cols) = W_g (OC/G, rows) * col_g (rows, cols) with rows = C/G * taps and cols the
 * output positions. The op supplies its unfold (im2col, vol2col: one group's input block to col_g)
 * and fold_add (col2im, col2vol: its adjoint, added into the block), both given geo. Each op builds
 * this view in the function that calls the helpers below, so after inlining the calls through it
 * are direct calls. */
typedef struct conv_gemm {
    int64_t out_channels, groups, oc_per_group;
    int64_t channels;   /* C/G: input channels of one group */
    int64_t taps;       /* kernel elements: KH*KW, or KD*KH*KW */
    int64_t in_plane;   /* input positions of one channel: H*W, or D*H*W */
    int64_t rows, cols; /* channels * taps, output positions */
    int64_t in_group;   /* channels * in_plane: elements of one group's input block */
    bool direct;        /* the column matrix is the input block itself (1x1 kernel, stride 1, no padding) */
    bool bias;
    const void *geo;
    void (*unfold)(const void *geo, const float *x, float *col);
    void (*fold_add)(const void *geo, const float *col, float *x);
    /* When not NULL (conv2d, stride 1): the input gradient as a convolution of dy with the kernel
     * flipped and its in/out channels swapped, per group (C/G, OC/G*taps); flipped_geo is that
     * convolution's geometry for unfold. */
    const float *flipped;
    const void *flipped_geo;
    /* Backward with our GEMM (cnn_gemm_fast): where its panels start in each thread's scratch,
     * past every column matrix the backward unfolds (set by the op's backward). */
    int64_t panels_at;
    /* The chunks' partial weight gradients (conv_backward_batch) held transposed, per group (rows,
     * OC/G): dW_g^T += col_g dy_g^T, A the column matrix read in place and dy_g packed transposed,
     * instead of packing the column matrix transposed (set where OC/G < rows: less to pack). */
    bool dw_transposed;
} conv_gemm;

/* y_o (cols) = bias[o] for every output channel o: the GEMMs then add onto it (beta 1). */
static inline void conv_bias_fill(float *y, const float *bias, int64_t out_channels, int64_t cols) {
    for (int64_t o = 0; o < out_channels; o++)
        for (int64_t i = 0; i < cols; i++) y[o * cols + i] = bias[o];
}

/* Sample b of the residual folded into the epilogue (epi_residual: laid out as the output, (OC,
 * cols) per sample), or NULL. */
static inline const float *conv_residual(const cnn_op_ctx *c, int64_t b) {
    return c->epi_residual ? c->epi_residual->data + b * c->epi_residual->stride[0] : NULL;
}

/* A folded batch norm, residual (r, may be NULL) and ReLU (eval plans) on one sample's output y
 * (OC, cols), while it is still in cache: the same operations as those layers would do, so the
 * same bits. */
static inline void conv_epilogue(const cnn_op_ctx *c, float *y, const float *r, int64_t out_channels, int64_t cols) {
    if (!c->epi_scale && !c->epi_relu && !r) return;
    for (int64_t o = 0; o < out_channels; o++) {
        float *yo = y + o * cols;
        if (c->epi_scale) {
            const float scale = c->epi_scale[o], shift = c->epi_shift[o];
#pragma omp simd
            for (int64_t i = 0; i < cols; i++) yo[i] = yo[i] * scale + shift;
        }
        if (r) {
            const float *ro = r + o * cols;
#pragma omp simd
            for (int64_t i = 0; i < cols; i++) yo[i] = yo[i] + ro[i];
        }
        if (c->epi_relu) {
#pragma omp simd
            for (int64_t i = 0; i < cols; i++) yo[i] = yo[i] <= 0.0f ? 0.0f : yo[i]; /* as relu_fwd: NaN stays */
        }
    }
}

/* Floats of scratch beyond the column matrices for our GEMM's packed panels, when it is used: the
 * largest B of the forward (rows x cols), and in training of dx (dy: OC/G x cols, or with the
 * flipped kernel unfolded dy: flipped_rows x plane) and dW (col^T: cols x rows). */
static inline int64_t conv_fast_scratch(int64_t rows, int64_t cols, int64_t ocg, bool training, int64_t flipped_rows, int64_t plane) {
    if (!cnn_gemm_fast()) return 0;
    int64_t most = cnn_sgemm_fast_scratch(rows, cols);
    if (training) { /* dW's B: col^T (cols x rows) */
        const int64_t more[3] = {cnn_sgemm_fast_scratch(ocg, cols), flipped_rows ? cnn_sgemm_fast_scratch(flipped_rows, plane) : 0,
                                 cnn_sgemm_fast_scratch(cols, rows)};
        for (int i = 0; i < 3; i++) most = more[i] > most ? more[i] : most;
    }
    return most;
}

/* y_b = conv(x_b) (+ bias) for one sample b, using col as scratch (the column matrix, then our
 * GEMM's panels when it is used: conv_fast_scratch), then the epilogue. */
static inline void conv_forward_sample(const cnn_op_ctx *c, const conv_gemm *m, int64_t b, float *col) {
    const cnn_tensor *x = c->in[0], *y = c->out;
    const float *weight = c->param[0], *bias = m->bias ? c->param[1] : NULL;
    const int64_t ocg = m->oc_per_group, rows = m->rows, cols = m->cols;
    const float *xb = x->data + b * x->stride[0]; /* (C, spatial) */
    float *yb = y->data + b * y->stride[0];       /* (OC, cols) */
    const float *rb = conv_residual(c, b);
    if (cnn_gemm_fast()) { /* the bias and the epilogue as the tiles are stored */
        float *panels = col + (m->direct ? 0 : rows * cols);
        for (int64_t g = 0; g < m->groups; g++) {
            const float *xg = xb + g * m->in_group; /* (C/G, spatial) */
            if (!m->direct) m->unfold(m->geo, xg, col);
            const cnn_gemm_epilogue e = {.bias = bias ? bias + g * ocg : NULL, .scale = c->epi_scale ? c->epi_scale + g * ocg : NULL,
                                         .shift = c->epi_scale ? c->epi_shift + g * ocg : NULL, .residual = rb ? rb + g * ocg * cols : NULL,
                                         .ldr = cols, .relu = c->epi_relu};
            cnn_sgemm_fast(false, ocg, cols, rows, weight + g * ocg * rows, rows, m->direct ? xg : col, cols, panels, yb + g * ocg * cols, cols,
                           false, &e);
        }
        return;
    }
    if (bias) conv_bias_fill(yb, bias, m->out_channels, cols);
    for (int64_t g = 0; g < m->groups; g++) {
        const float *xg = xb + g * m->in_group; /* (C/G, spatial) */
        if (!m->direct) m->unfold(m->geo, xg, col);
        cnn_sgemm(false, false, ocg, cols, rows, 1.0f, weight + g * ocg * rows, rows, m->direct ? xg : col, cols,
                  bias ? 1.0f : 0.0f, yb + g * ocg * cols, cols);
    }
    conv_epilogue(c, yb, rb, m->out_channels, cols);
}

/* The first 64-byte boundary at or after p: where floats sized by conv_float_bytes start. */
static inline float *conv_aligned(void *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* Columns [n0, n1) of C = A Bp (m rows, k deep; Bp all of B's columns in cnn_gemm_pack_b's panels of
 * GEMM_NR, k rows each), n0 a multiple of 16: a split of the columns between threads at half a panel
 * (an odd number of panels no longer gives one thread a panel more: googlenet's 224-channel 3x3 layer
 * at batch 1, 7 panels, had split 3 + 4). A half panel is the panel's last 16 columns through the
 * kernel's 16-column width (its rows GEMM_NR floats apart); every element is the same multiply-adds
 * in the same order whichever way the columns are split. */
static inline void conv_gemm_columns(int64_t m, int64_t n0, int64_t n1, int64_t k, const float *a, int64_t lda, const float *bp, float *c,
                                     int64_t ldc) {
    if (n0 % GEMM_NR && n1 > n0) {
        const int64_t end = n0 - n0 % GEMM_NR + GEMM_NR < n1 ? n0 - n0 % GEMM_NR + GEMM_NR : n1;
        cnn_gemm_packed_avx512(false, m, end - n0, k, a, lda, bp + (n0 - n0 % GEMM_NR) * k + n0 % GEMM_NR, c + n0, ldc, false, NULL, 0, 1);
        n0 = end;
    }
    if (n1 > n0) cnn_gemm_packed_avx512(false, m, n1 - n0, k, a, lda, bp + n0 * k, c + n0, ldc, false, NULL, 0, 1);
}

/* This thread's share [*k0, *k1) of k output channels in steps of 16 (conv_gemm_columns' splits). */
static inline void conv_channel_share(int64_t k, int tid, int nt, int64_t *k0, int64_t *k1) {
    const int64_t halves = (k + 15) / 16, hi = halves * (tid + 1) / nt * 16;
    *k0 = halves * tid / nt * 16;
    *k1 = hi < k ? hi : k;
}

/* The eval Winograd paths keep their transformed kernels in the plan and must see every change of
 * the kernels: an optimizer's step, loaded weights, or a caller's own writes through the parameter
 * pointers cnn.h hands out. Per panel of GEMM_NR output channels they keep a stamp of the kernels
 * the transform was made from: a word marking it made, then the state of CNN_STAMP_LANES hash chains
 * over the kernels' bits (cnn_kernel_stamp, kernels/winograd.h), in which one changed float always
 * shows and several leave it equal only by a coincidence of about 2^-64. This replaced a copy of the
 * kernels compared with memcmp: the kernels read once instead of with their copy, and the copy's
 * memory gone (inception_v3 b1: peak RSS 275 -> 227 MB; 1 thread 80.3 -> 79.3 ms, 2 threads 43.1
 * -> 41.8 ms; cnn bench, alternating processes; without any check it ran 76.7 and 40.3 ms). */
#define CONV_STAMP_FLOATS 48 /* per panel: 1 + CNN_STAMP_LANES words in 192 bytes, a panel's stamp on lines of its own */

/* Floats of the stamps of k kernels. */
static inline int64_t conv_stamp_floats(int64_t k) { return (k + GEMM_NR - 1) / GEMM_NR * CONV_STAMP_FLOATS; }

/* Whether output channels [p * GEMM_NR, (p + 1) * GEMM_NR) of the k kernels (per floats each) differ
 * from those panel p's stamp (in stamps, conv_stamp_floats(k) floats that the plan's state starts
 * zeroed with) was made from, or it was never made; when so, the stamp is made from them. A frozen
 * plan's (CNN_PLAN_FROZEN) kernels count as unchanged once made, without reading them. */
static inline bool conv_kernels_changed(const float *weight, float *stamps, int64_t k, int64_t per, int64_t p, bool frozen) {
    const int64_t first = p * GEMM_NR * per, last = (p + 1) * GEMM_NR * per, end = k * per;
    uint64_t h[1 + CNN_STAMP_LANES], kept[1 + CNN_STAMP_LANES];
    float *stamp = stamps + p * CONV_STAMP_FLOATS;
    memcpy(kept, stamp, sizeof kept);
    if (frozen && kept[0] == 1) return false;
    h[0] = 1; /* made */
    cnn_kernel_stamp(weight + first, (last < end ? last : end) - first, h + 1);
    if (memcmp(kept, h, sizeof h) == 0) return false;
    memcpy(stamp, h, sizeof h);
    return true;
}

/* dW += dy_b * col_b^T for one sample b with our GEMM (into dweight: a full gradient, or a chunk's
 * partial held transposed when m->dw_transposed), col as the column matrix, B packed at panels. */
static inline void conv_dw_sample_fast(const cnn_op_ctx *c, const conv_gemm *m, int64_t b, float *col, float *panels, float *dweight) {
    const int64_t ocg = m->oc_per_group, rows = m->rows, cols = m->cols;
    const float *xb = c->in[0]->data + b * c->in[0]->stride[0], *dyb = c->dout->data + b * c->dout->stride[0];
    for (int64_t g = 0; g < m->groups; g++) {
        const float *xg = xb + g * m->in_group, *dyg = dyb + g * ocg * cols;
        if (!m->direct) m->unfold(m->geo, xg, col);
        if (m->dw_transposed) { /* dW_g^T (rows, OC/G) += col_g (rows, cols) * dy_g^T, dy_g packed transposed */
            float *bp = conv_aligned(panels);
            cnn_gemm_pack_bt(cols, ocg, dyg, cols, bp, 0, (ocg + GEMM_NR - 1) / GEMM_NR);
            cnn_gemm_packed_avx512(false, rows, ocg, cols, m->direct ? xg : col, cols, bp, dweight + g * rows * ocg, ocg, true, NULL, 0, 1);
        } else { /* dW_g (OC/G, rows) += dy_g (OC/G, cols) * col_g^T, col_g packed transposed */
            cnn_sgemm_fast_bt(ocg, rows, cols, dyg, cols, m->direct ? xg : col, cols, panels, dweight + g * ocg * rows, rows, true);
        }
    }
}

/* conv_backward_sample with our GEMM: the same products, B packed into panels at col + panels_at. */
static inline void conv_backward_sample_fast(const cnn_op_ctx *c, const conv_gemm *m, int64_t b, float *col, float *dweight) {
    cnn_tensor *dx = c->din[0];
    const float *weight = c->param[0];
    const int64_t ocg = m->oc_per_group, rows = m->rows, cols = m->cols;
    const float *dyb = c->dout->data + b * c->dout->stride[0];
    float *panels = col + m->panels_at;
    if (dweight) conv_dw_sample_fast(c, m, b, col, panels, dweight);
    for (int64_t g = 0; g < m->groups && dx; g++) {
        const float *dyg = dyb + g * ocg * cols, *wg = weight + g * ocg * rows;
        float *dxg = dx->data + b * dx->stride[0] + g * m->in_group; /* (C/G, spatial) */
        if (m->direct) { /* dx_g += W_g^T dy_g */
            cnn_sgemm_fast(true, rows, cols, ocg, wg, rows, dyg, cols, panels, dxg, cols, true, NULL);
        } else if (m->flipped) { /* dx_g += flipped_g * unfold(dy_g) */
            const int64_t trows = ocg * m->taps, plane = m->in_plane;
            m->unfold(m->flipped_geo, dyg, col);
            cnn_sgemm_fast(false, m->channels, plane, trows, m->flipped + g * m->channels * trows, trows, col, plane, panels, dxg, plane,
                           true, NULL);
        } else { /* dcol = W_g^T dy_g, folded back into dx_g */
            cnn_sgemm_fast(true, rows, cols, ocg, wg, rows, dyg, cols, panels, col, cols, false, NULL);
            m->fold_add(m->geo, col, dxg);
        }
    }
}

/* For one sample b: dW += dy_b * col_b^T (into dweight, a full (OC, rows) gradient, when not NULL)
 * and dx_b += fold(W^T * dy_b) or the flipped kernel times unfolded dy_b (when dx is not NULL),
 * using col as scratch. */
static inline void conv_backward_sample(const cnn_op_ctx *c, const conv_gemm *m, int64_t b, float *col, float *dweight) {
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const float *weight = c->param[0];
    const int64_t ocg = m->oc_per_group, rows = m->rows, cols = m->cols;
    const float *xb = x->data + b * x->stride[0];    /* (C, spatial) */
    const float *dyb = dy->data + b * dy->stride[0]; /* (OC, cols) */
    if (cnn_gemm_fast()) {
        conv_backward_sample_fast(c, m, b, col, dweight);
        return;
    }
    for (int64_t g = 0; g < m->groups; g++) {
        const float *xg = xb + g * m->in_group;  /* (C/G, spatial) */
        const float *dyg = dyb + g * ocg * cols; /* (OC/G, cols) */
        const float *wg = weight + g * ocg * rows; /* (OC/G, rows) */
        if (dweight) {
            if (!m->direct) m->unfold(m->geo, xg, col);
            /* dW_g (OC/G, rows) += dy_g (OC/G, cols) * col_g^T (cols, rows) */
            cnn_sgemm(false, true, ocg, rows, cols, 1.0f, dyg, cols, m->direct ? xg : col, cols, 1.0f, dweight + g * ocg * rows,
                      rows);
        }
        if (dx) {
            float *dxg = dx->data + b * dx->stride[0] + g * m->in_group; /* (C/G, spatial) */
            if (m->direct) {
                /* dx_g (C/G, in_plane) += W_g^T (C/G, OC/G) * dy_g (OC/G, in_plane) */
                cnn_sgemm(true, false, rows, cols, ocg, 1.0f, wg, rows, dyg, cols, 1.0f, dxg, cols);
            } else if (m->flipped) {
                /* dx_g (C/G, in_plane) += flipped_g (C/G, OC/G*taps) * unfold(dy_g) (OC/G*taps, in_plane) */
                const int64_t trows = ocg * m->taps, plane = m->in_plane;
                m->unfold(m->flipped_geo, dyg, col);
                cnn_sgemm(false, false, m->channels, plane, trows, 1.0f, m->flipped + g * m->channels * trows, trows, col, plane,
                          1.0f, dxg, plane);
            } else {
                /* dcol (rows, cols) = W_g^T (rows, OC/G) * dy_g (OC/G, cols), folded back into dx_g */
                cnn_sgemm(true, false, rows, cols, ocg, 1.0f, wg, rows, dyg, cols, 0.0f, col, cols);
                m->fold_add(m->geo, col, dxg);
            }
        }
    }
}

/* ---- scratch and the batch ---- */

/* Scratch layout: one group's column matrix per thread (threads = OpenMP's count when the plan is
 * made; fewer run if fewer are set later), then, in training with a batch of at least
 * DW_CHUNKED_MIN_BATCH, DW_CHUNKS partial weight gradients, then the op's own (conv2d: its
 * flipped kernel).
 *
 * Why chunks: samples are shared out to threads, and the weight gradient sums over samples. Each
 * chunk of samples (a split that depends on the batch alone) sums its own samples in order into
 * its own partial, and the partials are added in chunk order: the same bits for any thread count. */
#define DW_CHUNKS 8
#define DW_CHUNKED_MIN_BATCH 4 /* smaller batches: one sum over samples, parallel inside the GEMMs */

/* Chunk k's first sample (k = DW_CHUNKS: the batch). The threads take the chunks from both ends
 * (conv_chunk_take), so the chunks are large at the ends and small in the middle, where the threads
 * meet: 12, 10, 6, 4 | 4, 6, 10, 12 of 64 samples. */
static inline int64_t conv_chunk_first(int k, int64_t batch) {
    _Static_assert(DW_CHUNKS == 8, "conv_chunk_first's table has DW_CHUNKS + 1 entries");
    static const int64_t at[DW_CHUNKS + 1] = {0, 12, 22, 28, 32, 36, 42, 52, 64};
    return batch * at[k] / 64;
}

/* The chunks not taken yet: [front, back]. Shared by the threads of a parallel region. */
typedef struct conv_chunk_queue {
    int front, back;
} conv_chunk_queue;

static inline conv_chunk_queue conv_chunk_queue_all(void) { return (conv_chunk_queue){0, DW_CHUNKS - 1}; }

/* The next chunk for thread tid of nt, or -1 when none is left: the last thread takes them from the
 * back, the others from the front. With two threads each works on its half of the batch (the
 * samples the ops before and after it give that thread: static splits) until they meet, and
 * neither waits for more than the last small chunk of the other (the two cores of this host often
 * run at different speeds: equal halves left one waiting). */
static inline int conv_chunk_take(conv_chunk_queue *q, int tid, int nt) {
    int k;
#pragma omp critical(conv_chunk_take)
    {
        if (q->front > q->back)
            k = -1;
        else if (nt > 1 && tid == nt - 1)
            k = q->back--;
        else
            k = q->front++;
    }
    return k;
}

/* Element at of the DW_CHUNKS partial weight gradients (dw floats apart), added in chunk order. */
static inline float conv_chunk_sum(const float *partials, int64_t dw, int64_t at) {
    float sum = partials[at];
    for (int k = 1; k < DW_CHUNKS; k++) sum += partials[k * dw + at];
    return sum;
}

typedef struct conv_work {
    float *cols;     /* [threads][col_elements] */
    float *partials; /* [DW_CHUNKS][OC * rows] */
    float *extra;    /* the op's own */
    int threads;
} conv_work;

static inline int conv_plan_threads(void) { return omp_get_max_threads() < 1 ? 1 : omp_get_max_threads(); }

/* The threads of one call: OpenMP's count now, at most the plan's (the scratch has room for those). */
static inline int conv_call_threads(const cnn_op_ctx *c) {
    const int planned = c->work_threads > 0 ? c->work_threads : 1, threads = conv_plan_threads();
    return threads > planned ? planned : threads;
}

/* Bytes for total floats (a cnn_mul_i64 / cnn_add_i64 result: -1 on overflow) and 64 bytes to align
 * them; SIZE_MAX on overflow. */
static inline size_t conv_float_bytes(int64_t total) {
    return total < 0 || (uint64_t)total > SIZE_MAX / sizeof(float) - 16 ? SIZE_MAX : (size_t)total * sizeof(float) + 64;
}

/* A count of floats rounded up to 16 (64 bytes: parts of a scratch laid out one after another stay
 * aligned); -1 for -1 (an overflow carried on). */
static inline int64_t conv_align16(int64_t v) { return v < 0 ? -1 : cnn_add_i64(v, 15) / 16 * 16; }

/* Bytes of scratch for col elements per thread, partials of dw elements and extra elements more;
 * SIZE_MAX on overflow. */
static inline size_t conv_work_bytes(int64_t col, int64_t dw, int64_t extra, int64_t batch, bool training) {
    int64_t total = cnn_mul_i64(col, conv_plan_threads());
    if (training && batch >= DW_CHUNKED_MIN_BATCH) total = cnn_add_i64(total, cnn_mul_i64(dw, DW_CHUNKS));
    if (extra != 0) total = cnn_add_i64(total, extra);
    return conv_float_bytes(total);
}

/* The scratch of one call, laid out as conv_work_bytes sized it (col and dw as given to it). */
static inline conv_work conv_work_layout(const cnn_op_ctx *c, int64_t col, int64_t dw) {
    const int planned = (int)(c->work_threads > 0 ? c->work_threads : 1), threads = conv_call_threads(c);
    conv_work w = {.cols = c->work, .partials = (float *)c->work + col * planned, .threads = threads};
    const int64_t batch = c->in[0]->shape[0];
    w.extra = w.partials + (c->training && batch >= DW_CHUNKED_MIN_BATCH ? DW_CHUNKS * dw : 0);
    return w;
}

/* One sample's forward, and the backward of samples [b, b + count), as the op wraps
 * conv_forward_sample and conv_backward_sample (arg: its own, passed through). */
typedef void conv_forward_fn(const cnn_op_ctx *c, int64_t b, float *col);
typedef void conv_backward_fn(const cnn_op_ctx *c, int64_t b, int64_t count, float *col, float *dweight, const void *arg);

/* Samples are independent: with enough of them each thread takes whole samples (col elements of
 * scratch each); otherwise the samples run in turn and the threads share each GEMM. */
static inline void conv_forward_batch(const cnn_op_ctx *c, const conv_work *w, int64_t col, conv_forward_fn *sample) {
    const int64_t batch = c->in[0]->shape[0];
    if (w->threads > 1 && batch >= w->threads) {
#pragma omp parallel for schedule(static) num_threads(w->threads)
        for (int64_t b = 0; b < batch; b++) sample(c, b, w->cols + omp_get_thread_num() * col);
    } else {
        for (int64_t b = 0; b < batch; b++) sample(c, b, w->cols);
    }
}

/* Lane sums (lane_sums.h) over d[0..n) continued into s. */
CNN_CLONES static void conv_lane_sums(const float *restrict d, int64_t n, double *restrict s) {
    double a[LANE_SUMS];
    for (int l = 0; l < LANE_SUMS; l++) a[l] = s[l];
    int64_t i = 0;
    for (; i + LANE_SUMS <= n; i += LANE_SUMS)
        for (int l = 0; l < LANE_SUMS; l++) a[l] += d[i + l];
    for (; i < n; i++) a[i % LANE_SUMS] += d[i];
    for (int l = 0; l < LANE_SUMS; l++) s[l] = a[l];
}

/* db (dparam[1]) += the sum over N and the cols output positions of dy, per output channel: one
 * owner per sum, in a fixed order (lanes over the samples in turn). Each thread takes a contiguous
 * run of channels, 16 at a time with the samples outer: one stretch of dy per sample, where a
 * channel at a time over the samples jumps every plane. */
static inline void conv_bias_grad(const cnn_op_ctx *c, int64_t out_channels, int64_t cols) {
    const cnn_tensor *dy = c->dout;
    float *dbias = c->dparam[1];
    const int64_t batch = dy->shape[0];
    if (!dbias) return;
#pragma omp parallel if (batch * out_channels * cols >= 32768)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t k0 = out_channels * t / nt, k1 = out_channels * (t + 1) / nt;
        for (int64_t kb = k0; kb < k1; kb += 16) {
            const int64_t nk = k1 - kb < 16 ? k1 - kb : 16;
            double s[16][LANE_SUMS] = {{0}};
            for (int64_t b = 0; b < batch; b++) {
                const float *d = dy->data + b * dy->stride[0] + kb * cols; /* (nk, cols) */
                for (int64_t j = 0; j < nk; j++) conv_lane_sums(d + j * cols, cols, s[j]);
            }
            for (int64_t j = 0; j < nk; j++) dbias[kb + j] += (float)lane_sums_total(s[j]);
        }
    }
}

/* db += sum over N and the output positions of dy;  dW and dx through run over the batch (col
 * elements of scratch per thread, dw elements of weight gradient), up to group samples a call (in
 * the chunks below; one otherwise). Every sum has one owner and a fixed order (see DW_CHUNKS), and
 * the products are cut into fixed tiles, so the result is the same for every thread count. */
static inline void conv_backward_batch(const cnn_op_ctx *c, const conv_gemm *m, const conv_work *w, int64_t col, int64_t dw,
                                       conv_backward_fn *run, const void *arg, int64_t group) {
    const cnn_tensor *dy = c->dout;
    float *dweight = c->dparam[0];
    const int64_t batch = dy->shape[0];
    if (m->bias) conv_bias_grad(c, m->out_channels, m->cols);
    if (!dweight && !c->din[0]) return;
    if (!dweight || batch < DW_CHUNKED_MIN_BATCH) {
        if (!dweight && w->threads > 1 && batch >= w->threads) { /* input gradient only: samples are independent */
#pragma omp parallel for schedule(static) num_threads(w->threads)
            for (int64_t b = 0; b < batch; b++) run(c, b, 1, w->cols + omp_get_thread_num() * col, NULL, arg);
        } else {
            for (int64_t b = 0; b < batch; b++) run(c, b, 1, w->cols, dweight, arg);
        }
        return;
    }
    /* Chunk k holds samples [conv_chunk_first(k), conv_chunk_first(k + 1)), summed in order into
     * partial k, group at a time from its first (a split that depends on the batch alone). */
    conv_chunk_queue queue = conv_chunk_queue_all();
#pragma omp parallel num_threads(w->threads)
    for (int k; (k = conv_chunk_take(&queue, omp_get_thread_num(), omp_get_num_threads())) >= 0;) {
        float *partial = w->partials + k * dw, *scratch = w->cols + omp_get_thread_num() * col;
        const int64_t end = conv_chunk_first(k + 1, batch);
        memset(partial, 0, (size_t)dw * sizeof(float));
        for (int64_t b = conv_chunk_first(k, batch); b < end; b += group) run(c, b, end - b < group ? end - b : group, scratch, partial, arg);
    }
    const int64_t ocg = m->oc_per_group, rows = m->rows;
#pragma omp parallel for schedule(static) num_threads(w->threads)
    for (int64_t i = 0; i < dw; i++) {
        /* transposed partials (G, rows, OC/G): element (o, r) of group g at (g * rows + r) * OC/G + o */
        const int64_t at = m->dw_transposed ? (i / (ocg * rows) * rows + i % rows) * ocg + i / rows % ocg : i;
        dweight[i] += conv_chunk_sum(w->partials, dw, at);
    }
}

#endif /* CNN_CONV_COMMON_H */
