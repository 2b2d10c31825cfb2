/* dense.c — the fully connected layer (N,F) -> (N,out) through GEMM, and flatten (N,C,H,W) -> (N,C*H*W). */
#include "ops.h"
#include "attrs.h"
#include "conv_common.h"

#include "../kernels/gemm.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- dense ---- */

static int dense_shape(cnn_node *n) {
    const dense_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    if (in->rank != 2)
        return cnn_fail("dense '%s': input '%s' has shape %s, not (N,F); flatten it first (cnn_flatten)", n->name,
                        n->inputs[0]->name, cnn_shape_str(in, buf, sizeof buf));
    if (a->out_features <= 0)
        return cnn_fail("dense '%s': out_features must be positive (got %lld)", n->name, (long long)a->out_features);
    if (cnn_mul_i64(a->out_features, in->dims[1]) < 0)
        return cnn_fail("dense '%s': weight of %lld x %lld elements is too large", n->name, (long long)a->out_features,
                        (long long)in->dims[1]);
    n->shape.rank = 2;
    n->shape.dims[0] = 0;
    n->shape.dims[1] = a->out_features;
    n->shape.dims[2] = n->shape.dims[3] = 1;
    return 0;
}

/* From DENSE_MIN_BATCH samples (where AVX-512 is), the forward runs transposed on our packed GEMM:
 * y^T (out x N) = W (out x F) x^T, W read in place and only x packed, the bias added as each row of
 * y^T is stored, then y^T transposed into place. LeNet-5's fc1 (800 -> 500, batch 64) at 2 threads:
 * OpenBLAS's x W^T (M = 64 samples) 0.45-0.56 ms, this 0.29-0.45. The backward stays on OpenBLAS
 * (dx^T = W^T dy^T and dW += dy^T x on our GEMM were slower there: 0.66-1.2 against 0.61-0.78 ms). */
#define DENSE_MIN_BATCH 16

static bool dense_ours(int64_t n) { return n >= DENSE_MIN_BATCH && cnn_gemm_avx512_available(); }

/* x^T packed, then y^T. */
static int64_t packed_floats(int64_t n, int64_t f) { return conv_align16(cnn_mul_i64(cnn_gemm_round_nr(n), f)); }

static size_t dense_work_bytes(const cnn_node *node, int64_t batch, bool training) {
    const dense_attrs *a = node->attrs;
    (void)training;
    if (!dense_ours(batch)) return 0;
    return conv_float_bytes(cnn_add_i64(packed_floats(batch, node->inputs[0]->shape.dims[1]), cnn_mul_i64(a->out_features, batch)));
}

/* y (N,out) = x (N,F) · W^T (F,out) + b (out) */
static int dense_forward(const cnn_op_ctx *c) {
    const dense_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    const float *w = c->param[0];
    int64_t n = x->shape[0], f = x->shape[1], out = a->out_features;
    if (dense_ours(n) && c->work) {
        float *xp = conv_aligned(c->work), *yt = xp + packed_floats(n, f);
        const cnn_gemm_epilogue e = {.bias = a->bias ? c->param[1] : NULL}; /* per row of y^T: the sum, then + b */
#pragma omp parallel
        {
            const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
            for (int64_t q = tid; q < (n + GEMM_NR - 1) / GEMM_NR; q += nt) cnn_gemm_pack_bt(f, n, x->data, x->stride[0], xp, q, 1);
#pragma omp barrier
            cnn_gemm_packed_avx512(false, out, n, f, w, f, xp, yt, n, false, &e, tid, nt);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int64_t s = 0; s < n; s++)
                for (int64_t o = 0; o < out; o++) y->data[s * y->stride[0] + o] = yt[o * n + s];
        }
        return 0;
    }
    cnn_sgemm(false, true, n, out, f, 1.0f, x->data, x->stride[0], w, f, 0.0f, y->data, y->stride[0]);
    if (a->bias) {
        const float *b = c->param[1];
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t s = 0; s < n; s++)       /* y (N,out) */
            for (int64_t o = 0; o < out; o++) y->data[s * y->stride[0] + o] += b[o];
    }
    return 0;
}

/* dx (N,F) += dy (N,out) · W (out,F);  dW (out,F) += dy^T (out,N) · x (N,F);  db (out) += sum_n dy */
static int dense_backward(const cnn_op_ctx *c) {
    const dense_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const float *w = c->param[0];
    int64_t n = x->shape[0], f = x->shape[1], out = a->out_features;
    float *dw = c->dparam[0];
    if (dx) cnn_sgemm(false, false, n, f, out, 1.0f, dy->data, dy->stride[0], w, f, 1.0f, dx->data, dx->stride[0]);
    if (dw) cnn_sgemm(true, false, out, f, n, 1.0f, dy->data, dy->stride[0], x->data, x->stride[0], 1.0f, dw, f);
    float *db = a->bias ? c->dparam[1] : NULL;
    if (db) {
        /* Each feature is summed over the batch by one thread in sample order: the same bits for any thread count. */
#pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < out; o++) {
            double sum = 0.0;
            for (int64_t s = 0; s < n; s++) sum += dy->data[s * dy->stride[0] + o]; /* dy (N,out) */
            db[o] += (float)sum;
        }
    }
    return 0;
}

static int64_t dense_macs(const cnn_node *n) {
    const dense_attrs *a = n->attrs;
    return cnn_mul_i64(a->out_features, n->inputs[0]->shape.dims[1]);
}

static const cnn_op dense_op = {.name = "dense",
                                .shape = dense_shape,
                                .work_bytes = dense_work_bytes,
                                .forward = dense_forward,
                                .backward = dense_backward,
                                .macs = dense_macs};

cnn_node *cnn_dense(cnn_graph *g, cnn_node *x, const char *name, int64_t out_features, bool bias) {
    dense_attrs a = {out_features, bias};
    cnn_node *n = cnn_graph_add_node(g, &dense_op, name, 1, &x, &a, sizeof a);
    if (!n) return NULL;
    int64_t f = x->shape.dims[1];
    float bound = (float)(1.0 / sqrt((double)f)); /* PyTorch's nn.Linear default for weight and bias */
    int64_t wshape[2] = {out_features, f}, bshape[1] = {out_features};
    if (cnn_node_add_param(n, "weight", 2, wshape, true, CNN_INIT_UNIFORM, bound) ||
        (bias && cnn_node_add_param(n, "bias", 1, bshape, true, CNN_INIT_UNIFORM, bound))) {
        cnn_graph_drop_last_node(g);
        return NULL;
    }
    return n;
}

/* ---- flatten ---- */

static int flatten_shape(cnn_node *n) {
    const cnn_shape *in = &n->inputs[0]->shape;
    int64_t f = cnn_shape_sample_numel(in);
    if (f < 0) return cnn_fail("flatten '%s': input too large", n->name);
    n->shape.rank = 2;
    n->shape.dims[0] = 0;
    n->shape.dims[1] = f;
    n->shape.dims[2] = n->shape.dims[3] = 1;
    return 0;
}

/* y (N, C*H*W) = x (N,C,H,W): samples are contiguous, so each is one copy. */
static int flatten_forward(const cnn_op_ctx *c) {
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], f = c->node->shape.dims[1];
#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < n; s++) memcpy(y->data + s * y->stride[0], x->data + s * x->stride[0], (size_t)f * sizeof(float));
    return 0;
}

static int flatten_backward(const cnn_op_ctx *c) {
    const cnn_tensor *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    int64_t n = dy->shape[0], f = c->node->shape.dims[1];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t s = 0; s < n; s++)       /* dx (N, F) */
        for (int64_t i = 0; i < f; i++) dx->data[s * dx->stride[0] + i] += dy->data[s * dy->stride[0] + i];
    return 0;
}

static const cnn_op flatten_op = {.name = "flatten", .shape = flatten_shape, .forward = flatten_forward, .backward = flatten_backward};

cnn_node *cnn_flatten(cnn_graph *g, cnn_node *x, const char *name) {
    return cnn_graph_add_node(g, &flatten_op, name, 1, &x, NULL, 0);
}
