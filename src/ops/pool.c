/* pool.c — max and average pooling (explicit / same / valid padding, ceil mode), global max pooling, global and adaptive
 * average pooling. */
#include "ops.h"
#include "attrs.h"
#include "pool_window.h"

#include "../kernels/gemm.h"
#include "../kernels/pool.h"

#include <math.h>
#include <omp.h>
#include <string.h>
#include <stdio.h>

/* PyTorch's adaptive bin i of `out` over `in`: [floor(i*in/out), ceil((i+1)*in/out)). */
static pool_span adaptive_span(int64_t i, int64_t out, int64_t in) {
    pool_span s = {i * in / out, ((i + 1) * in + out - 1) / out, 0};
    s.padded = s.hi - s.lo;
    return s;
}

/* ---- shapes ---- */

static int check_rank4(const cnn_node *n, const char *shape) {
    const cnn_shape *in = &n->inputs[0]->shape;
    if (in->rank != 4 || in->dims[1] < 1 || in->dims[2] < 1 || in->dims[3] < 1)
        return cnn_fail("%s '%s': expects a non-empty 4-D input (N,C,H,W), got %s", n->op->name, n->name, shape);
    return 0;
}

/* maxpool2d / avgpool2d: validates the parameters, resolves the pads and sets (N,C,OH,OW). */
static int window_pool_shape(cnn_node *n) {
    pool_attrs *a = n->attrs;
    const cnn_pool2d_params *p = &a->p;
    const cnn_shape *in = &n->inputs[0]->shape;
    const char *op = n->op->name;
    char s[96];
    cnn_shape_str(in, s, sizeof s);
    if (check_rank4(n, s)) return -1;
    pool_axes ax = {.n = 2, .in = {in->dims[2], in->dims[3]}, .kernel = {p->kernel_h, p->kernel_w},
                    .stride = {p->stride_h, p->stride_w}, .dilation = {p->dilation_h, p->dilation_w},
                    .max = a->kind == POOL_MAX, .ceil_mode = p->ceil_mode, .large_pads = p->large_pads};
    if (pool_check_window(n, &ax, s)) return -1;
    const int64_t h = in->dims[2], w = in->dims[3];
    const int explicit_pads[4] = {p->pad_top, p->pad_bottom, p->pad_left, p->pad_right};
    if (cnn_resolve_padding(p->padding, explicit_pads, h, w, p->kernel_h, p->kernel_w, p->stride_h, p->stride_w, a->pad)) {
        char why[256];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail("%s '%s': %s (input %s)", op, n->name, why, s);
    }
    /* "Same" pads always satisfy the limits (their total is at most kernel - 1). */
    const int *pad = a->pad;
    ax.pad_before[0] = pad[0], ax.pad_after[0] = pad[1], ax.pad_before[1] = pad[2], ax.pad_after[1] = pad[3];
    char pads[128];
    snprintf(pads, sizeof pads, "pads (top %d, bottom %d, left %d, right %d)", pad[0], pad[1], pad[2], pad[3]);
    int64_t out[3];
    if (pool_check_pads_and_size(n, &ax, pads, s, out)) return -1;
    /* Max pool keeps each argmax as an int32 offset within its (H,W) plane. */
    if (a->kind == POOL_MAX && cnn_mul_i64(h, w) > INT32_MAX)
        return cnn_fail("%s '%s': input plane %lldx%lld too large (input %s)", op, n->name, (long long)h, (long long)w, s);
    n->shape = (cnn_shape){.rank = 4, .dims = {0, in->dims[1], out[0], out[1]}};
    return 0;
}

static int adaptive_pool_shape(cnn_node *n) {
    pool_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char s[96];
    cnn_shape_str(in, s, sizeof s);
    if (check_rank4(n, s)) return -1;
    if (a->out_h < 1 || a->out_w < 1)
        return cnn_fail("%s '%s': output size %lldx%lld must be at least 1x1 (input %s)", n->op->name, n->name,
                        (long long)a->out_h, (long long)a->out_w, s);
    /* The bin bounds compute (i+1)*H + OH - 1. */
    if (cnn_add_i64(cnn_mul_i64(a->out_h, in->dims[2]), a->out_h) < 0 ||
        cnn_add_i64(cnn_mul_i64(a->out_w, in->dims[3]), a->out_w) < 0)
        return cnn_fail("%s '%s': output size %lldx%lld too large (input %s)", n->op->name, n->name, (long long)a->out_h,
                        (long long)a->out_w, s);
    n->shape = (cnn_shape){.rank = 4, .dims = {0, in->dims[1], a->out_h, a->out_w}};
    return 0;
}

/* ---- sizes ---- */

/* A count, not multiply-adds: each output reads its kernel-sized window once (max compares, or
 * adds), so outputs * kernel area per sample. */
static int64_t window_pool_macs(const cnn_node *n) {
    const pool_attrs *a = n->attrs;
    return cnn_mul_i64(cnn_shape_sample_numel(&n->shape), (int64_t)a->p.kernel_h * a->p.kernel_w);
}

/* The planner's time estimate (cnn_op.cost): a window's compare or add ~5 times a multiply-add of
 * a convolution (googlenet's 3x3 max pools at batch 1). */
static double window_pool_cost(const cnn_node *n, bool training) {
    (void)training;
    return 5.0 * (double)window_pool_macs(n);
}

/* Adaptive bins overlap or differ in size: the exact sum of bin areas times channels. */
static int64_t adaptive_pool_macs(const cnn_node *n) {
    const cnn_shape *in = &n->inputs[0]->shape, *out = &n->shape;
    int64_t rows = 0, cols = 0;
    for (int64_t i = 0; i < out->dims[2]; i++) rows += adaptive_span(i, out->dims[2], in->dims[2]).padded;
    for (int64_t j = 0; j < out->dims[3]; j++) cols += adaptive_span(j, out->dims[3], in->dims[3]).padded;
    return cnn_mul_i64(cnn_mul_i64(rows, cols), out->dims[1]);
}

/* ---- whole planes, separably ----
 * A window's maximum or sum is taken over its rows for every column (first pass), then over its
 * columns (second pass). The first pass of output row i goes to row i of v, whose rows lie
 * pitch = OW * stride_w apart: output e = i*OW + j of the plane then reads v[e*stride_w - pad_left
 * + t] (t < kernel_w), so the second pass is one loop over the whole plane; at stride 1 with
 * pitch W (a "same" pool), the first pass of the rows whose windows are inside the input is one
 * loop too. The narrow planes of the inception models (7 to 56 columns) so run their vector
 * loops over thousands of elements rather than row by row. The few output columns whose window
 * crosses a side of v's rows ("edges": the padding, or the columns past the pitch, kept apart in
 * t) are then redone from their window's real columns, one pass over all rows per column.
 * Dropping the padding changes no bit: max_nan(-inf, v) and max_nan(v, -inf) are v, and so are
 * 0.0 + s and s + 0.0 for a column sum s, which starts from 0.0 and so is never -0. Every output
 * thus gets the same operations in the same order as maxpool_plane_eval / avgpool_plane. */
typedef struct plane_geom {
    int64_t pitch;   /* OW * stride_w */
    int64_t cols;    /* input columns some window reads: a row's first pass may run past the pitch */
    int64_t tail;    /* cols - pitch when positive: the columns t keeps per row */
    int64_t jl, jr;  /* outputs [jl, jr) of a row read only columns [0, min(W, pitch)) of its row of v */
    int64_t il, ir;  /* output rows [il, ir) have every kernel row inside the input */
    bool flat_rows;  /* stride_h 1 and pitch W: the first pass of rows [il, ir) in one loop */
} plane_geom;

#define PLANE_MAX ((int64_t)1 << 22) /* elements of v, beyond which the row-by-row paths run */

/* The passes go inline into each CNN_CLONES version of the plane functions (a pass left out of
 * line would be compiled for the baseline only). */
#define PLANE_PASS static inline __attribute__((always_inline)) void

/* Whether a plane of this pool takes the whole-plane path (dilation 1, an inner output column). */
static bool plane_geom_of(const pool_attrs *a, int64_t h, int64_t w, int64_t oh, int64_t ow, plane_geom *g) {
    const cnn_pool2d_params *p = &a->p;
    if (a->kind == POOL_ADAPTIVE_AVG || p->dilation_h != 1 || p->dilation_w != 1) return false;
    const int64_t sh = p->stride_h, sw = p->stride_w, kh = p->kernel_h, kw = p->kernel_w, pt = a->pad[0], pl = a->pad[2];
    const int64_t len = (ow - 1) * sw + kw;
    g->pitch = ow * sw;
    g->cols = w < len - pl ? w : len - pl;
    g->tail = g->cols > g->pitch ? g->cols - g->pitch : 0;
    const int64_t inside = w < g->pitch ? w : g->pitch, last = inside - kw + pl, bottom = h - kh + pt;
    g->jl = (pl + sw - 1) / sw;
    g->jr = last < 0 ? 0 : last / sw + 1 < ow ? last / sw + 1 : ow;
    g->il = (pt + sh - 1) / sh < oh ? (pt + sh - 1) / sh : oh;
    g->ir = bottom < 0 ? g->il : bottom / sh + 1 < oh ? bottom / sh + 1 : oh;
    if (g->ir < g->il) g->ir = g->il;
    g->flat_rows = sh == 1 && g->pitch == w;
    return g->jl < g->jr && cnn_mul_i64(oh, g->pitch) >= 0 && cnn_mul_i64(oh, g->pitch) <= PLANE_MAX;
}

/* The edge outputs of a row: [0, jl), then [jr, OW). */
static inline int64_t edge_first(const plane_geom *g) { return g->jl > 0 ? 0 : g->jr; }
static inline int64_t edge_next(const plane_geom *g, int64_t j) { return j + 1 == g->jl ? g->jr : j + 1; }

/* One thread's scratch, in elements of `elem` bytes (float or double): kernel_w before v (the
 * second pass reads from -pad_left), v (OH rows of pitch), cols + kernel_w after it (the last
 * row's first pass runs past the pitch, the second pass past the plane), t (OH rows of tail),
 * and an edge column (OH elements); then OH floats for the average pool's row divisors. */
static int64_t plane_elems(const pool_attrs *a, const plane_geom *g, int64_t oh) {
    return a->p.kernel_w + oh * g->pitch + g->cols + a->p.kernel_w + oh * g->tail + oh;
}
static size_t plane_bytes(const pool_attrs *a, const plane_geom *g, int64_t oh, size_t elem) {
    return ((size_t)plane_elems(a, g, oh) * elem + (size_t)oh * sizeof(float) + 63) / 64 * 64;
}

/* v[e] = the maximum of x[e + t*w] over t < k, in order (max_nan), for e < n. */
PLANE_PASS max_rows(float *restrict v, const float *restrict x, int64_t w, int64_t k, int64_t n) {
    if (k == 3) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) v[e] = max_nan(max_nan(x[e], x[e + w]), x[e + 2 * w]);
        return;
    }
    if (k == 2) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) v[e] = max_nan(x[e], x[e + w]);
        return;
    }
    memcpy(v, x, (size_t)n * sizeof(float));
    for (int64_t t = 1; t < k; t++) {
        const float *xt = x + t * w;
#pragma omp simd
        for (int64_t e = 0; e < n; e++) v[e] = max_nan(v[e], xt[e]);
    }
}

/* y[e] = the maximum of v[e*s + t] over t < k, in order, for e < n. */
PLANE_PASS max_cols(float *restrict y, const float *restrict v, int64_t s, int64_t k, int64_t n) {
    if (s == 1 && k == 3) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = max_nan(max_nan(v[e], v[e + 1]), v[e + 2]);
    } else if (s == 2 && k == 3) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = max_nan(max_nan(v[2 * e], v[2 * e + 1]), v[2 * e + 2]);
    } else if (s == 2 && k == 2) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = max_nan(v[2 * e], v[2 * e + 1]);
    } else {
        for (int64_t e = 0; e < n; e++) y[e] = v[e * s];
        for (int64_t t = 1; t < k; t++) {
            const float *vt = v + t;
#pragma omp simd
            for (int64_t e = 0; e < n; e++) y[e] = max_nan(y[e], vt[e * s]);
        }
    }
}

/* Column q of every row of v (or of t past the pitch): its first element and the rows' distance. */
#define PLANE_COLUMN(v, t, g, q, at, step)                                          \
    do {                                                                            \
        at = (q) < (g)->pitch ? (v) + (q) : (t) + (q) - (g)->pitch;                 \
        step = (q) < (g)->pitch ? (g)->pitch : (g)->tail;                           \
    } while (0)

/* An eval max pool's plane, dilation 1 (plane_geom_of); buf: plane_bytes(.., sizeof(float)). */
CNN_CLONES static void maxpool_plane_flat(const pool_attrs *a, const plane_geom *g, const float *xp, float *yp, int64_t h,
                                          int64_t w, int64_t oh, int64_t ow, void *scratch) {
    float *buf = scratch;
    const cnn_pool2d_params *p = &a->p;
    const int64_t sw = p->stride_w, kh = p->kernel_h, kw = p->kernel_w, pt = a->pad[0], pl = a->pad[2];
    float *v = buf + kw, *t = v + oh * g->pitch + g->cols + kw;
    if (g->flat_rows && g->il < g->ir) max_rows(v + g->il * w, xp + (g->il - pt) * w, w, kh, (g->ir - g->il) * w);
    for (int64_t i = 0; i < oh; i++) {
        if (g->flat_rows && i == g->il) i = g->ir;
        if (i == oh) break;
        float *vr = v + i * g->pitch;
        const pool_span rs = dilated_span(i, p->kernel_h, p->stride_h, 1, a->pad[0], h);
        max_rows(vr, xp + rs.lo * w, w, rs.hi - rs.lo, g->cols);
        for (int64_t q = 0; q < g->tail; q++) t[i * g->tail + q] = vr[g->pitch + q];
        for (int64_t q = g->cols; q < g->pitch; q++) vr[q] = -INFINITY;
    }
    for (int64_t q = 0; q < kw; q++) v[q - kw] = v[oh * g->pitch + q] = -INFINITY;
    max_cols(yp, v - pl, sw, kw, oh * ow);
    for (int64_t j = edge_first(g); j < ow; j = edge_next(g, j)) {
        const pool_span cs = dilated_span(j, p->kernel_w, p->stride_w, 1, a->pad[2], w);
        const float *at;
        int64_t step;
        PLANE_COLUMN(v, t, g, cs.lo, at, step);
        for (int64_t i = 0; i < oh; i++) yp[i * ow + j] = at[i * step];
        for (int64_t q = cs.lo + 1; q < cs.hi; q++) {
            PLANE_COLUMN(v, t, g, q, at, step);
            for (int64_t i = 0; i < oh; i++) yp[i * ow + j] = max_nan(yp[i * ow + j], at[i * step]);
        }
    }
}

/* v[e] = 0.0 + x[e] + x[e + w] + ... (k rows, in order, in double), for e < n. */
PLANE_PASS sum_rows(double *restrict v, const float *restrict x, int64_t w, int64_t k, int64_t n) {
    if (k == 3) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) v[e] = 0.0 + x[e] + x[e + w] + x[e + 2 * w];
        return;
    }
#pragma omp simd
    for (int64_t e = 0; e < n; e++) v[e] = 0.0 + x[e];
    for (int64_t t = 1; t < k; t++) {
        const float *xt = x + t * w;
#pragma omp simd
        for (int64_t e = 0; e < n; e++) v[e] += xt[e];
    }
}

/* y[e] = (float)(v[e*s] + ... + v[e*s + k-1]) / count, for e < n. */
PLANE_PASS avg_cols(float *restrict y, const double *restrict v, int64_t s, int64_t k, int64_t n, float count) {
    if (s == 1 && k == 3) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = (float)(v[e] + v[e + 1] + v[e + 2]) / count;
    } else if (s == 2 && k == 3) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = (float)(v[2 * e] + v[2 * e + 1] + v[2 * e + 2]) / count;
    } else {
        for (int64_t e = 0; e < n; e++) {
            double sum = v[e * s];
            for (int64_t t = 1; t < k; t++) sum += v[e * s + t];
            y[e] = (float)sum / count;
        }
    }
}

/* A windowed average pool's plane (plane_geom_of); buf: plane_bytes(.., sizeof(double)). Rows
 * [il, ir) divide inner windows by kernel_h * kernel_w, the others by their own row count. */
CNN_CLONES static void avgpool_plane_flat(const pool_attrs *a, const plane_geom *g, const float *xp, float *yp, int64_t h,
                                          int64_t w, int64_t oh, int64_t ow, void *scratch) {
    double *buf = scratch;
    const cnn_pool2d_params *p = &a->p;
    const int64_t sw = p->stride_w, kh = p->kernel_h, kw = p->kernel_w, pt = a->pad[0], pl = a->pad[2];
    double *v = buf + kw, *t = v + oh * g->pitch + g->cols + kw, *sums = t + oh * g->tail;
    float *rows = (float *)(sums + oh); /* each row's divisor factor */
    if (g->flat_rows && g->il < g->ir) sum_rows(v + g->il * w, xp + (g->il - pt) * w, w, kh, (g->ir - g->il) * w);
    for (int64_t i = 0; i < oh; i++) {
        const pool_span rs = window_span(i, p->kernel_h, p->stride_h, a->pad[0], a->pad[1], h);
        rows[i] = (float)(a->include_pad ? rs.padded : rs.hi - rs.lo);
        const bool inner = i >= g->il && i < g->ir;
        if (g->flat_rows && inner) continue;
        double *vr = v + i * g->pitch;
        sum_rows(vr, xp + rs.lo * w, w, rs.hi - rs.lo, g->cols);
        for (int64_t q = 0; q < g->tail; q++) t[i * g->tail + q] = vr[g->pitch + q];
        for (int64_t q = g->cols; q < g->pitch; q++) vr[q] = 0.0;
        if (!inner) avg_cols(yp + i * ow + g->jl, vr + g->jl * sw - pl, sw, kw, g->jr - g->jl, rows[i] * (float)kw);
    }
    for (int64_t q = 0; q < kw; q++) v[q - kw] = v[oh * g->pitch + q] = 0.0;
    if (g->il < g->ir)
        avg_cols(yp + g->il * ow, v + g->il * g->pitch - pl, sw, kw, (g->ir - g->il) * ow, (float)kh * (float)kw);
    for (int64_t j = edge_first(g); j < ow; j = edge_next(g, j)) {
        const pool_span cs = window_span(j, p->kernel_w, p->stride_w, a->pad[2], a->pad[3], w);
        const float cf = (float)(a->include_pad ? cs.padded : cs.hi - cs.lo);
        const double *at;
        int64_t step;
        PLANE_COLUMN(v, t, g, cs.lo, at, step);
        for (int64_t i = 0; i < oh; i++) sums[i] = at[i * step];
        for (int64_t q = cs.lo + 1; q < cs.hi; q++) {
            PLANE_COLUMN(v, t, g, q, at, step);
            for (int64_t i = 0; i < oh; i++) sums[i] += at[i * step];
        }
        for (int64_t i = 0; i < oh; i++) {
            const float count = rows[i] * cf;
            yp[i * ow + j] = (float)sums[i] / (count > 0.0f ? count : 1.0f);
        }
    }
}

/* The epilogue the planner gives an average pool that a 1x1 convolution was moved before
 * (CNN_CAP_PLANE_LINEAR): y = y * epi_scale[k] + epi_shift[k] (each when given), then ReLU (NaN
 * kept, as gemm.h's), over channel k's plane of n outputs. Max pools are never given one. */
CNN_CLONES static void plane_epilogue(const cnn_op_ctx *c, int64_t k, float *y, int64_t n) {
    if (c->epi_scale) {
        const float s = c->epi_scale[k];
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = y[e] * s;
    }
    if (c->epi_shift) {
        const float t = c->epi_shift[k];
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = y[e] + t;
    }
    if (c->epi_relu) {
#pragma omp simd
        for (int64_t e = 0; e < n; e++) y[e] = y[e] <= 0.0f ? 0.0f : y[e];
    }
}

static bool has_epilogue(const cnn_op_ctx *c) { return c->epi_scale || c->epi_shift || c->epi_relu; }

/* Every (N,C) plane of x through plane(), each thread with its own `bytes` of c->work (threads =
 * OpenMP's count when the plan sized it, at most), g passed through (NULL for planes that need no
 * geometry: the vector 3x3 max pools). */
typedef void pool_plane_fn(const pool_attrs *a, const plane_geom *g, const float *xp, float *yp, int64_t h, int64_t w, int64_t oh,
                           int64_t ow, void *scratch);

static void pool_planes(const cnn_op_ctx *c, const plane_geom *g, size_t bytes, pool_plane_fn *plane) {
    const cnn_tensor *x = c->in[0], *y = c->out;
    const int64_t n = x->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3], oh = y->shape[2], ow = y->shape[3];
    int threads = omp_get_max_threads(), planned = c->work_threads > 0 ? c->work_threads : 1;
    if (threads > planned) threads = planned;
#pragma omp parallel num_threads(threads)
    {
        void *buf = (char *)c->work + (size_t)omp_get_thread_num() * bytes;
#pragma omp for collapse(2) schedule(static)
        for (int64_t b = 0; b < n; b++)
            for (int64_t k = 0; k < ch; k++) {
                float *yp = y->data + b * y->stride[0] + k * oh * ow;
                plane(c->attrs, g, x->data + b * x->stride[0] + k * h * w, yp, h, w, oh, ow, buf);
                if (has_epilogue(c)) plane_epilogue(c, k, yp, oh * ow);
            }
    }
}

/* ---- max pool ---- */

/* Eval mode needs no argmax, and a window's maximum is separable: for each output row, the
 * maximum over the window's rows for every column (a vector loop), then over the window's
 * columns. cm holds the columns at their padded positions, -infinity outside the input. */
#define MAXPOOL_ROW_MAX 4096
CNN_CLONES static void maxpool_plane_eval(const pool_attrs *a, const float *xp, float *yp, int64_t h, int64_t w, int64_t oh, int64_t ow,
                               float *cm) {
    const cnn_pool2d_params *p = &a->p;
    const int64_t sw = p->stride_w, kw = p->kernel_w, dw = p->dilation_w, dh = p->dilation_h, pl = a->pad[2];
    const int64_t len = (ow - 1) * sw + dilated_extent(p->kernel_w, p->dilation_w), cols = w < len - pl ? w : len - pl;
    for (int64_t q = 0; q < len; q++) cm[q] = -INFINITY;
    float *row = cm + pl;
    for (int64_t i = 0; i < oh; i++) {
        pool_span rs = dilated_span(i, p->kernel_h, p->stride_h, p->dilation_h, a->pad[0], h);
        if (rs.lo >= rs.hi) {
            for (int64_t q = 0; q < cols; q++) row[q] = -INFINITY;
        } else {
            memcpy(row, xp + rs.lo * w, (size_t)cols * sizeof(float));
            for (int64_t r = rs.lo + dh; r < rs.hi; r += dh) {
                const float *xr = xp + r * w;
#pragma omp simd
                for (int64_t q = 0; q < cols; q++) row[q] = max_nan(row[q], xr[q]);
            }
        }
        float *yr = yp + i * ow;
        for (int64_t j = 0; j < ow; j++) yr[j] = cm[j * sw];
        for (int64_t t = 1; t < kw; t++) {
            const float *ct = cm + t * dw;
            if (sw == 1) {
#pragma omp simd
                for (int64_t j = 0; j < ow; j++) yr[j] = max_nan(yr[j], ct[j]);
            } else {
#pragma omp simd
                for (int64_t j = 0; j < ow; j++) yr[j] = max_nan(yr[j], ct[j * sw]);
            }
        }
    }
}

/* The running pick (*best at flat index *at) against the next column's (x at f): as the row-major
 * loop below would end up, a NaN with the larger index, else the larger value or, equal, the
 * smaller index. */
static inline __attribute__((always_inline)) void pick_column(float *best, int32_t *at, float x, int32_t f) {
    const bool nan_x = x != x, nan_best = *best != *best;
    const bool take = nan_x ? !nan_best || f > *at : !nan_best && (x > *best || (x == *best && f < *at));
    *best = take ? x : *best, *at = take ? f : *at;
}

/* Training's max pool over windows all inside the plane (no padding before, dilation 1, 2 or 3
 * wide: MiniGoogLeNet's 3x3/2 downsampling, LeNet's and VGG's 2x2/2), separably on vectors of columns and outputs: first each
 * output row's window rows (v, vr: per column the value and flat index the row-major loop below
 * would keep within that column), then along the row (pick_column). The result is the element the
 * row-major loop picks: with no NaN in the window, the first maximum (the smallest flat index
 * holding it: each column offers its own smallest, and a tie goes to the smaller index); otherwise
 * its last NaN (the largest flat index holding one). v and vr hold (ow - 1) * sw + kw elements. */
CNN_CLONES static void maxpool_plane_argmax_sep(const float *restrict xp, float *restrict yp, int32_t *restrict ap, int64_t w, int64_t oh,
                                                int64_t ow, int kh, int kw, int sh, int sw, float *restrict v, int32_t *restrict vr) {
    const int64_t cols = (ow - 1) * sw + kw;
    for (int64_t i = 0; i < oh; i++) {
        const int64_t r0 = i * sh;
        const float *x0 = xp + r0 * w;
#pragma omp simd simdlen(8)
        for (int64_t q = 0; q < cols; q++) v[q] = x0[q], vr[q] = (int32_t)(r0 * w + q);
        for (int t = 1; t < kh; t++) {
            const float *xt = x0 + t * w;
            const int32_t row = (int32_t)((r0 + t) * w);
#pragma omp simd simdlen(8)
            for (int64_t q = 0; q < cols; q++) {
                const float x = xt[q];
                const bool take = x > v[q] || x != x; /* x != x: NaN */
                v[q] = take ? x : v[q], vr[q] = take ? row + (int32_t)q : vr[q];
            }
        }
        float *yr = yp + i * ow;
        int32_t *ar = ap + i * ow;
        if (kw == 3) {
#pragma omp simd simdlen(8)
            for (int64_t j = 0; j < ow; j++) {
                float best = v[j * sw];
                int32_t at = vr[j * sw];
                pick_column(&best, &at, v[j * sw + 1], vr[j * sw + 1]);
                pick_column(&best, &at, v[j * sw + 2], vr[j * sw + 2]);
                yr[j] = best, ar[j] = at;
            }
        } else {
#pragma omp simd simdlen(8)
            for (int64_t j = 0; j < ow; j++) {
                float best = v[j * sw];
                int32_t at = vr[j * sw];
                pick_column(&best, &at, v[j * sw + 1], vr[j * sw + 1]);
                yr[j] = best, ar[j] = at;
            }
        }
    }
}

typedef void argmax_plane_fn(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap);

/* Training's 2x2 / stride-2 windows inside the plane (no padding before, no dilation) on an AVX-512
 * CPU: kernels/pool.h's forward and its gradient store. */
static bool maxpool2x2_vectors(const pool_attrs *a, int64_t h, int64_t w, int64_t oh, int64_t ow) {
    const cnn_pool2d_params *p = &a->p;
    return p->kernel_h == 2 && p->kernel_w == 2 && p->stride_h == 2 && p->stride_w == 2 && p->dilation_h == 1 && p->dilation_w == 1 &&
           a->pad[0] == 0 && a->pad[2] == 0 && 2 * oh <= h && 2 * ow <= w && cnn_gemm_avx512_available();
}

/* A 3x3 window, undilated, this stride both ways and this padding on every side, on an AVX-512 CPU:
 * the shapes kernels/pool.h's 3x3 max pools take. */
static bool window_3x3(const pool_attrs *a, int stride, int pad) {
    const cnn_pool2d_params *p = &a->p;
    return p->kernel_h == 3 && p->kernel_w == 3 && p->stride_h == stride && p->stride_w == stride && p->dilation_h == 1 &&
           p->dilation_w == 1 && a->pad[0] == pad && a->pad[1] == pad && a->pad[2] == pad && a->pad[3] == pad && cnn_gemm_avx512_available();
}

/* Eval's 3x3 / stride-1 max pool padded by 1 on every side, on planes at most 32 wide:
 * kernels/pool.h's (googlenet's branch pools: 0.10 -> ~0.02 ms each, cnn bench --profile at 1
 * thread). */
static bool maxpool3x3s1_vectors(const pool_attrs *a, int64_t h, int64_t w, int64_t oh, int64_t ow) {
    return window_3x3(a, 1, 1) && oh == h && ow == w && w <= 32;
}

static void maxpool3x3s1_plane(const pool_attrs *a, const plane_geom *g, const float *xp, float *yp, int64_t h, int64_t w, int64_t oh,
                               int64_t ow, void *scratch) {
    (void)a, (void)g, (void)oh, (void)ow, (void)scratch;
    cnn_maxpool3x3s1_plane(xp, h, w, yp);
}

/* And its 3x3 / stride-2 one without padding (floor or ceil mode: every window starts inside). */
static bool maxpool3x3s2_vectors(const pool_attrs *a, int64_t h, int64_t w, int64_t oh, int64_t ow) {
    return window_3x3(a, 2, 0) && 2 * (oh - 1) < h && 2 * (ow - 1) < w;
}

static void maxpool3x3s2_plane(const pool_attrs *a, const plane_geom *g, const float *xp, float *yp, int64_t h, int64_t w, int64_t oh,
                               int64_t ow, void *scratch) {
    (void)a, (void)g, (void)scratch;
    cnn_maxpool3x3s2_plane(xp, h, w, oh, ow, yp);
}

/* y = max over each (dilated) window of x, padding as -infinity; x is (N,C,H,W), y and argmax
 * (N,C,OH,OW). PyTorch's tie rule: a later element replaces only if strictly greater (or NaN). A
 * window with no input element (a dilation wider than the input) gives -infinity and argmax -1. */
static int maxpool_forward(const cnn_op_ctx *c) {
    const pool_attrs *a = c->attrs;
    const cnn_pool2d_params *p = &a->p;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int32_t *argmax = c->training ? c->state : NULL;
    int64_t n = x->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = y->shape[2], ow = y->shape[3];
    plane_geom g;
    if (!argmax && maxpool3x3s1_vectors(a, h, w, oh, ow)) {
        pool_planes(c, NULL, 0, maxpool3x3s1_plane);
        return 0;
    }
    if (!argmax && maxpool3x3s2_vectors(a, h, w, oh, ow)) {
        pool_planes(c, NULL, 0, maxpool3x3s2_plane);
        return 0;
    }
    if (!argmax && plane_geom_of(a, h, w, oh, ow, &g)) {
        pool_planes(c, &g, plane_bytes(a, &g, oh, sizeof(float)), maxpool_plane_flat);
        return 0;
    }
    if (!argmax && (ow - 1) * p->stride_w + dilated_extent(p->kernel_w, p->dilation_w) <= MAXPOOL_ROW_MAX) {
#pragma omp parallel
        {
            float cm[MAXPOOL_ROW_MAX];
#pragma omp for collapse(2) schedule(static)
            for (int64_t b = 0; b < n; b++)
                for (int64_t k = 0; k < ch; k++)
                    maxpool_plane_eval(a, x->data + b * x->stride[0] + k * h * w, y->data + b * y->stride[0] + k * oh * ow, h, w,
                                       oh, ow, cm);
        }
        return 0;
    }
    if (argmax && (p->kernel_w == 2 || p->kernel_w == 3) && p->dilation_h == 1 && p->dilation_w == 1 && a->pad[0] == 0 &&
        a->pad[2] == 0 && (oh - 1) * p->stride_h + p->kernel_h <= h && (ow - 1) * p->stride_w + p->kernel_w <= w &&
        (ow - 1) * p->stride_w + p->kernel_w <= MAXPOOL_ROW_MAX) {
        /* LeNet's and VGG's 2x2 pools (pool1 of LeNet-5 at batch 64, 2 threads: 0.22 -> see
         * bench/RESULTS.md) and MiniGoogLeNet's 3x3/2 downsampling (forward 4.7 -> 1.7 ms at batch 64,
         * 2 threads): the same picks 16 outputs at a time (kernels/pool.h) */
        argmax_plane_fn *vectors = maxpool2x2_vectors(a, h, w, oh, ow) ? cnn_maxpool2x2_argmax
                                   : window_3x3(a, 2, 0) ? cnn_maxpool3x3s2_argmax
                                                          : NULL;
        if (vectors) {
#pragma omp parallel for collapse(2) schedule(static)
            for (int64_t b = 0; b < n; b++)
                for (int64_t k = 0; k < ch; k++)
                    vectors(x->data + b * x->stride[0] + k * h * w, w, oh, ow, y->data + b * y->stride[0] + k * oh * ow, argmax + (b * ch + k) * oh * ow);
            return 0;
        }
#pragma omp parallel
        {
            float v[MAXPOOL_ROW_MAX];
            int32_t vr[MAXPOOL_ROW_MAX];
#pragma omp for collapse(2) schedule(static)
            for (int64_t b = 0; b < n; b++)
                for (int64_t k = 0; k < ch; k++)
                    maxpool_plane_argmax_sep(x->data + b * x->stride[0] + k * h * w, y->data + b * y->stride[0] + k * oh * ow,
                                             argmax + (b * ch + k) * oh * ow, w, oh, ow, p->kernel_h, p->kernel_w, p->stride_h, p->stride_w,
                                             v, vr);
        }
        return 0;
    }
    /* The windows' spans, once for every plane (their divisions cost more than a small window). */
    pool_span *rows = c->work, *cols = rows + oh;
    for (int64_t i = 0; i < oh; i++) rows[i] = dilated_span(i, p->kernel_h, p->stride_h, p->dilation_h, a->pad[0], h);
    for (int64_t j = 0; j < ow; j++) cols[j] = dilated_span(j, p->kernel_w, p->stride_w, p->dilation_w, a->pad[2], w);
    /* Columns [jl, jh) have whole windows along the row: there the outputs of a row advance together
     * tap by tap (independent chains of selects, in vectors) instead of one window after another
     * (one chain, latency-bound); each output sees its window's elements in the same order. */
    int64_t jl = 0, jh = 0;
    for (int64_t j = 0; j < ow; j++) {
        const int64_t start = j * p->stride_w - a->pad[2];
        if (cols[j].lo == start && cols[j].hi == start + (int64_t)p->kernel_w * p->dilation_w) {
            if (jh == 0) jl = j;
            jh = j + 1;
        }
    }
    if (!argmax) jl = jh = 0;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            const float *xp = x->data + b * x->stride[0] + k * h * w;  /* (H,W) */
            float *yp = y->data + b * y->stride[0] + k * oh * ow;      /* (OH,OW) */
            int32_t *ap = argmax ? argmax + (b * ch + k) * oh * ow : NULL;
            for (int64_t i = 0; i < oh; i++) {
                const pool_span rs = rows[i];
                if (jh > jl) {
                    float *best = yp + i * ow + jl;
                    int32_t *at = ap + i * ow + jl;
                    const int64_t cnt = jh - jl, sw = p->stride_w;
                    for (int64_t jj = 0; jj < cnt; jj++) best[jj] = -INFINITY, at[jj] = rs.lo < rs.hi ? (int32_t)(rs.lo * w + cols[jl + jj].lo) : -1;
                    for (int64_t r = rs.lo; r < rs.hi; r += p->dilation_h)
                        for (int t = 0; t < p->kernel_w; t++) {
                            const int64_t first = r * w + cols[jl].lo + (int64_t)t * p->dilation_w; /* column jl's element */
                            const float *src = xp + first;
#pragma omp simd
                            for (int64_t jj = 0; jj < cnt; jj++) {
                                const float v = src[jj * sw];
                                const bool take = v > best[jj] || v != v; /* v != v: NaN */
                                best[jj] = take ? v : best[jj];
                                at[jj] = take ? (int32_t)(first + jj * sw) : at[jj];
                            }
                        }
                }
                for (int64_t j = 0; j < ow; j++) {
                    if (j == jl && jh > jl) j = jh;
                    if (j >= ow) break;
                    const pool_span cs = cols[j];
                    float best = -INFINITY;
                    int64_t at = rs.lo < rs.hi && cs.lo < cs.hi ? rs.lo * w + cs.lo : -1;
                    for (int64_t r = rs.lo; r < rs.hi; r += p->dilation_h)
                        for (int64_t q = cs.lo; q < cs.hi; q += p->dilation_w) { /* selects, not branches: random data mispredicts */
                            const float v = xp[r * w + q];
                            const bool take = v > best || isnan(v);
                            best = take ? v : best;
                            at = take ? r * w + q : at;
                        }
                    yp[i * ow + j] = best;
                    if (ap) ap[i * ow + j] = (int32_t)at;
                }
            }
        }
    return 0;
}

/* Eval mode: one whole-plane buffer per thread where plane_geom_of takes the pool; otherwise the
 * spans of the output rows and columns. */
static size_t maxpool_work_bytes(const cnn_node *n, int64_t batch, bool training) {
    (void)batch;
    const cnn_shape *in = &n->inputs[0]->shape;
    const size_t spans = (size_t)(n->shape.dims[2] + n->shape.dims[3]) * sizeof(pool_span);
    plane_geom g;
    if (training || !plane_geom_of(n->attrs, in->dims[2], in->dims[3], n->shape.dims[2], n->shape.dims[3], &g)) return spans;
    return plane_bytes(n->attrs, &g, n->shape.dims[2], sizeof(float)) * (size_t)(omp_get_max_threads() > 1 ? omp_get_max_threads() : 1);
}

/* dx[argmax] += dy; each (N,C) plane scatters only into itself, so planes run in parallel. When the
 * plan leaves dx to this op alone (din_store), each plane is zeroed here, in cache, just before its
 * scatter, or for 2x2 / stride-2 windows stored whole (cnn_maxpool2x2_grad_store: LeNet-5's pool1,
 * whose 2.9 MB input gradient the plan no longer zeroes first). */
static int maxpool_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    const pool_attrs *a = c->attrs;
    const int32_t *argmax = c->state;
    const int64_t n = dx->shape[0], ch = dx->shape[1], h = dx->shape[2], w = dx->shape[3], hw = h * w;
    const int64_t oh = dy->shape[2], ow = dy->shape[3], ohw = oh * ow;
    const bool store = c->din_store & 1u;
    const bool whole = store && maxpool2x2_vectors(a, h, w, oh, ow);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            float *dxp = dx->data + b * dx->stride[0] + k * hw;          /* (H,W) */
            const float *dyp = dy->data + b * dy->stride[0] + k * ohw;   /* (OH,OW) */
            const int32_t *ap = argmax + (b * ch + k) * ohw;
            if (whole) {
                cnn_maxpool2x2_grad_store(dyp, ap, h, w, oh, ow, dxp);
                continue;
            }
            if (store) memset(dxp, 0, (size_t)hw * sizeof(float));
            for (int64_t i = 0; i < ohw; i++)
                if (ap[i] >= 0) dxp[ap[i]] += dyp[i];
        }
    return 0;
}

/* ---- average pools ---- */

/* The divisor of one window: every cell up to the padded extent, or only the real ones. */
static float window_divisor(const pool_attrs *a, pool_span rs, pool_span cs) {
    int64_t count = a->include_pad ? rs.padded * cs.padded : (rs.hi - rs.lo) * (cs.hi - cs.lo);
    return count > 0 ? (float)count : 1.0f;
}

/* Window bounds of output (i, j) for a windowed or an adaptive average pool. */
static void avg_spans(const pool_attrs *a, int64_t i, int64_t j, int64_t h, int64_t w, int64_t oh, int64_t ow,
                      pool_span *rs, pool_span *cs) {
    if (a->kind == POOL_ADAPTIVE_AVG) {
        *rs = adaptive_span(i, oh, h);
        *cs = adaptive_span(j, ow, w);
    } else {
        *rs = window_span(i, a->p.kernel_h, a->p.stride_h, a->pad[0], a->pad[1], h);
        *cs = window_span(j, a->p.kernel_w, a->p.stride_w, a->pad[2], a->pad[3], w);
    }
}

/* A windowed average pool's plane, separably: per output row the sum over the window's rows of
 * every column (a vector loop), then over each window's columns (a vector loop per kernel column).
 * In double, as the direct sum: a window's few floats add exactly there (and the padding's zeros
 * change nothing), so the result is the direct sum's. Scratch: three buffers of AVGPOOL_ROW_MAX. */
#define AVGPOOL_ROW_MAX 2048
typedef struct avgpool_scratch {
    double rows[AVGPOOL_ROW_MAX]; /* column sums at padded positions, 0 in the padding */
    double sums[AVGPOOL_ROW_MAX]; /* one output row's window sums */
    float cols[AVGPOOL_ROW_MAX];  /* each output column's divisor factor */
} avgpool_scratch;

static int64_t avgpool_padded_width(const pool_attrs *a, int64_t ow) { return (ow - 1) * a->p.stride_w + a->p.kernel_w; }

CNN_CLONES static void avgpool_plane(const pool_attrs *a, const float *xp, float *yp, int64_t h, int64_t w, int64_t oh, int64_t ow,
                          avgpool_scratch *s) {
    const cnn_pool2d_params *p = &a->p;
    const int64_t sw = p->stride_w, kw = p->kernel_w, pl = a->pad[2], len = avgpool_padded_width(a, ow);
    const int64_t cols = w < len - pl ? w : len - pl; /* input columns some window reads */
    for (int64_t q = 0; q < len; q++) s->rows[q] = 0.0;
    for (int64_t j = 0; j < ow; j++) {
        const pool_span cs = window_span(j, p->kernel_w, p->stride_w, a->pad[2], a->pad[3], w);
        s->cols[j] = (float)(a->include_pad ? cs.padded : cs.hi - cs.lo);
    }
    double *row = s->rows + pl;
    for (int64_t i = 0; i < oh; i++) {
        const pool_span rs = window_span(i, p->kernel_h, p->stride_h, a->pad[0], a->pad[1], h);
        for (int64_t q = 0; q < cols; q++) row[q] = 0.0;
        for (int64_t r = rs.lo; r < rs.hi; r++) {
            const float *xr = xp + r * w;
#pragma omp simd
            for (int64_t q = 0; q < cols; q++) row[q] += xr[q];
        }
        for (int64_t j = 0; j < ow; j++) s->sums[j] = s->rows[j * sw];
        for (int64_t t = 1; t < kw; t++) {
            const double *ct = s->rows + t;
            if (sw == 1) {
#pragma omp simd
                for (int64_t j = 0; j < ow; j++) s->sums[j] += ct[j];
            } else {
                for (int64_t j = 0; j < ow; j++) s->sums[j] += ct[j * sw];
            }
        }
        const float rf = (float)(a->include_pad ? rs.padded : rs.hi - rs.lo);
        float *yr = yp + i * ow;
#pragma omp simd
        for (int64_t j = 0; j < ow; j++) {
            const float count = rf * s->cols[j];
            yr[j] = (float)s->sums[j] / (count > 0.0f ? count : 1.0f);
        }
    }
}

/* One avgpool_scratch, or whole-plane buffer, per thread (threads = OpenMP's count when the plan
 * sizes it). */
static size_t avgpool_work_bytes(const cnn_node *n, int64_t batch, bool training) {
    (void)batch, (void)training;
    const cnn_shape *in = &n->inputs[0]->shape;
    plane_geom g;
    size_t bytes = sizeof(avgpool_scratch);
    if (plane_geom_of(n->attrs, in->dims[2], in->dims[3], n->shape.dims[2], n->shape.dims[3], &g))
        bytes = plane_bytes(n->attrs, &g, n->shape.dims[2], sizeof(double));
    return bytes * (size_t)(omp_get_max_threads() > 1 ? omp_get_max_threads() : 1);
}

/* y = sum over each window of x / divisor; x is (N,C,H,W), y (N,C,OH,OW). */
static int avgpool_forward(const cnn_op_ctx *c) {
    const pool_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = y->shape[2], ow = y->shape[3];
    plane_geom g;
    if (plane_geom_of(a, h, w, oh, ow, &g)) {
        pool_planes(c, &g, plane_bytes(a, &g, oh, sizeof(double)), avgpool_plane_flat);
        return 0;
    }
    if (a->kind == POOL_AVG && avgpool_padded_width(a, ow) <= AVGPOOL_ROW_MAX && a->pad[2] + w <= AVGPOOL_ROW_MAX) {
        avgpool_scratch *scratch = c->work;
        int threads = omp_get_max_threads(), planned = c->work_threads > 0 ? c->work_threads : 1;
        if (threads > planned) threads = planned;
#pragma omp parallel num_threads(threads)
        {
            avgpool_scratch *s = scratch + omp_get_thread_num();
#pragma omp for collapse(2) schedule(static)
            for (int64_t b = 0; b < n; b++)
                for (int64_t k = 0; k < ch; k++) {
                    float *yp = y->data + b * y->stride[0] + k * oh * ow;
                    avgpool_plane(a, x->data + b * x->stride[0] + k * h * w, yp, h, w, oh, ow, s);
                    if (has_epilogue(c)) plane_epilogue(c, k, yp, oh * ow);
                }
        }
        return 0;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            const float *xp = x->data + b * x->stride[0] + k * h * w;  /* (H,W) */
            float *yp = y->data + b * y->stride[0] + k * oh * ow;      /* (OH,OW) */
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    pool_span rs, cs;
                    avg_spans(a, i, j, h, w, oh, ow, &rs, &cs);
                    double sum = 0.0;
                    for (int64_t r = rs.lo; r < rs.hi; r++)
                        for (int64_t q = cs.lo; q < cs.hi; q++) sum += xp[r * w + q];
                    yp[i * ow + j] = (float)sum / window_divisor(a, rs, cs);
                }
            if (has_epilogue(c)) plane_epilogue(c, k, yp, oh * ow);
        }
    return 0;
}

/* dx += dy / divisor over each window; windows overlap only within a plane, walked in order. */
static int avgpool_backward(const cnn_op_ctx *c) {
    const pool_attrs *a = c->attrs;
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = dx->shape[0], ch = dx->shape[1], h = dx->shape[2], w = dx->shape[3];
    int64_t oh = dy->shape[2], ow = dy->shape[3];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            float *dxp = dx->data + b * dx->stride[0] + k * h * w;          /* (H,W) */
            const float *dyp = dy->data + b * dy->stride[0] + k * oh * ow;  /* (OH,OW) */
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    pool_span rs, cs;
                    avg_spans(a, i, j, h, w, oh, ow, &rs, &cs);
                    float g = dyp[i * ow + j] / window_divisor(a, rs, cs);
                    for (int64_t r = rs.lo; r < rs.hi; r++)
                        for (int64_t q = cs.lo; q < cs.hi; q++) dxp[r * w + q] += g;
                }
        }
    return 0;
}

/* ---- tables and builders ---- */

static const cnn_op maxpool_op = {.name = "maxpool2d", .shape = window_pool_shape, .state_bytes = pool_argmax_bytes,
                                  .work_bytes = maxpool_work_bytes, .caps = CNN_CAP_GRAD_STORE,
                                  .forward = maxpool_forward, .backward = maxpool_backward, .macs = window_pool_macs,
                                  .cost = window_pool_cost};
/* A window average keeping the plane's size (stride 1, "same" padding) is one linear map of each
 * plane, and avgpool_forward applies a planner's epilogue. */
static unsigned avgpool_node_caps(const cnn_node *n) {
    const cnn_shape *in = &n->inputs[0]->shape;
    return n->shape.dims[2] == in->dims[2] && n->shape.dims[3] == in->dims[3] ? CNN_CAP_PLANE_LINEAR : 0;
}

static const cnn_op avgpool_op = {.name = "avgpool2d", .shape = window_pool_shape, .work_bytes = avgpool_work_bytes, .forward = avgpool_forward,
                                  .backward = avgpool_backward, .macs = window_pool_macs, .cost = window_pool_cost,
                                  .node_caps = avgpool_node_caps};
static const cnn_op global_avgpool_op = {.name = "global_avgpool", .shape = adaptive_pool_shape, .forward = avgpool_forward,
                                         .backward = avgpool_backward, .macs = adaptive_pool_macs};
static const cnn_op adaptive_avgpool_op = {.name = "adaptive_avgpool", .shape = adaptive_pool_shape,
                                           .forward = avgpool_forward, .backward = avgpool_backward,
                                           .macs = adaptive_pool_macs};

static cnn_node *window_pool(cnn_graph *g, cnn_node *x, const char *name, const cnn_op *op, pool_kind kind,
                             const cnn_pool2d_params *p) {
    if (!p) return x ? cnn_fail_null("%s '%s': parameters are NULL", op->name, name ? name : "?") : NULL;
    pool_attrs a = {.kind = kind, .p = *p};
    if (a.p.stride_h == 0) a.p.stride_h = a.p.kernel_h;
    if (a.p.stride_w == 0) a.p.stride_w = a.p.kernel_w;
    if (a.p.dilation_h == 0) a.p.dilation_h = 1;
    if (a.p.dilation_w == 0) a.p.dilation_w = 1;
    a.include_pad = kind == POOL_AVG && p->count_include_pad && p->padding != CNN_PAD_SAME;
    return cnn_graph_add_node(g, op, name, 1, &x, &a, sizeof a);
}

/* The short forms: a square kernel and stride; pad >= 0 on all four sides, or a padding mode. */
static cnn_pool2d_params square_params(int kernel, int stride, int pad, bool ceil_mode, bool count_include_pad) {
    int side = pad >= 0 ? pad : 0;
    cnn_pool2d_params p = {.kernel_h = kernel, .kernel_w = kernel, .stride_h = stride, .stride_w = stride,
                           .padding = pad, .pad_top = side, .pad_bottom = side, .pad_left = side, .pad_right = side,
                           .ceil_mode = ceil_mode, .count_include_pad = count_include_pad};
    return p;
}

cnn_node *cnn_maxpool2d(cnn_graph *g, cnn_node *x, const char *name, int kernel, int stride, int pad, bool ceil_mode) {
    cnn_pool2d_params p = square_params(kernel, stride, pad, ceil_mode, false);
    return window_pool(g, x, name, &maxpool_op, POOL_MAX, &p);
}

cnn_node *cnn_maxpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p) {
    return window_pool(g, x, name, &maxpool_op, POOL_MAX, p);
}

cnn_node *cnn_avgpool2d(cnn_graph *g, cnn_node *x, const char *name, int kernel, int stride, int pad, bool ceil_mode,
                        bool count_include_pad) {
    cnn_pool2d_params p = square_params(kernel, stride, pad, ceil_mode, count_include_pad);
    return window_pool(g, x, name, &avgpool_op, POOL_AVG, &p);
}

cnn_node *cnn_avgpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p) {
    return window_pool(g, x, name, &avgpool_op, POOL_AVG, p);
}

cnn_node *cnn_global_avgpool(cnn_graph *g, cnn_node *x, const char *name) {
    pool_attrs a = {.kind = POOL_ADAPTIVE_AVG, .out_h = 1, .out_w = 1};
    return cnn_graph_add_node(g, &global_avgpool_op, name, 1, &x, &a, sizeof a);
}

/* A max pool whose one window is the whole plane. */
cnn_node *cnn_global_maxpool(cnn_graph *g, cnn_node *x, const char *name) {
    if (!x) return NULL;
    const cnn_shape *in = &x->shape;
    char buf[96];
    if (in->rank != 4 || in->dims[2] > INT32_MAX || in->dims[3] > INT32_MAX)
        return cnn_fail_null("global_maxpool '%s': expects a 4-D input (N,C,H,W), got '%s' %s", name ? name : "?", x->name,
                             cnn_shape_str(in, buf, sizeof buf));
    cnn_pool2d_params p = {.kernel_h = (int)in->dims[2], .kernel_w = (int)in->dims[3]};
    return window_pool(g, x, name, &maxpool_op, POOL_MAX, &p);
}

cnn_node *cnn_adaptive_avgpool(cnn_graph *g, cnn_node *x, const char *name, int64_t out_h, int64_t out_w) {
    pool_attrs a = {.kind = POOL_ADAPTIVE_AVG, .out_h = out_h, .out_w = out_w};
    return cnn_graph_add_node(g, &adaptive_avgpool_op, name, 1, &x, &a, sizeof a);
}
