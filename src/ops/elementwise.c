/* elementwise.c — a + b and a * b with NumPy broadcasting over the per-sample dims, and batched matrix products. */
#include "ops.h"
#include "attrs.h"

#include <string.h>

/* ---- broadcasting add / mul ---- */

/* Element strides of an operand of dims d read at output dims o: 0 along a broadcast dim. */
static void broadcast_strides(const int64_t d[CNN_SAMPLE_DIMS], const int64_t o[CNN_SAMPLE_DIMS], int64_t st[CNN_SAMPLE_DIMS]) {
    int64_t step = 1;
    for (int k = CNN_SAMPLE_DIMS - 1; k >= 0; k--) {
        st[k] = d[k] == o[k] ? step : 0;
        step *= d[k];
    }
}

static int binary_shape(cnn_node *n) {
    const binary_attrs *a = n->attrs;
    const cnn_shape *x = &n->inputs[0]->shape, *y = &n->inputs[1]->shape;
    const char *op = a->kind == BINARY_MUL ? "mul" : "add";
    char sa[96], sb[96];
    bool ok = x->rank == y->rank;
    n->shape = *x;
    for (int d = 1; ok && d < x->rank; d++) {
        ok = x->dims[d] == y->dims[d] || x->dims[d] == 1 || y->dims[d] == 1;
        n->shape.dims[d] = x->dims[d] == 1 ? y->dims[d] : x->dims[d];
    }
    if (!ok)
        return cnn_fail("%s '%s': inputs '%s' %s and '%s' %s do not broadcast (ranks must be equal and each dim equal or 1)", op,
                        n->name, n->inputs[0]->name, cnn_shape_str(x, sa, sizeof sa), n->inputs[1]->name,
                        cnn_shape_str(y, sb, sizeof sb));
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("%s '%s': output too large", op, n->name);
    return 0;
}

/* The layout of a broadcast: output dims o, each operand's strides, the rows (all but the last dim) per sample. */
typedef struct broadcast_layout {
    int64_t o[CNN_SAMPLE_DIMS], sa[CNN_SAMPLE_DIMS], sb[CNN_SAMPLE_DIMS], rows;
} broadcast_layout;

static broadcast_layout broadcast_layout_of(const cnn_node *n, int a, int b) {
    broadcast_layout l;
    int64_t da[CNN_SAMPLE_DIMS], db[CNN_SAMPLE_DIMS];
    cnn_sample_dims(&n->inputs[a]->shape, da);
    cnn_sample_dims(&n->inputs[b]->shape, db);
    cnn_sample_dims(&n->shape, l.o);
    broadcast_strides(da, l.o, l.sa);
    broadcast_strides(db, l.o, l.sb);
    l.rows = 1;
    for (int k = 0; k < CNN_SAMPLE_DIMS - 1; k++) l.rows *= l.o[k];
    return l;
}

/* Offsets of output row r (all dims but the last) in the two operands. */
static void broadcast_row(const broadcast_layout *l, int64_t r, int64_t *oa, int64_t *ob) {
    *oa = *ob = 0;
    for (int k = CNN_SAMPLE_DIMS - 2; k >= 0; k--) {
        int64_t i = r % l->o[k];
        r /= l->o[k];
        *oa += i * l->sa[k], *ob += i * l->sb[k];
    }
}

/* y (N, O1..O4) = a op b, each read through its broadcast strides. */
static int binary_forward(const cnn_op_ctx *c) {
    const binary_attrs *at = c->attrs;
    const cnn_tensor *a = c->in[0], *b = c->in[1], *y = c->out;
    const broadcast_layout l = broadcast_layout_of(c->node, 0, 1);
    const int64_t w = l.o[CNN_SAMPLE_DIMS - 1], sa = l.sa[CNN_SAMPLE_DIMS - 1], sb = l.sb[CNN_SAMPLE_DIMS - 1];
    const bool mul = at->kind == BINARY_MUL;
    int64_t n = y->shape[0];
#pragma omp parallel for collapse(2) schedule(static) if (n * l.rows * w >= 32768)
    for (int64_t s = 0; s < n; s++)
        for (int64_t r = 0; r < l.rows; r++) {
            int64_t oa, ob;
            broadcast_row(&l, r, &oa, &ob);
            const float *ap = a->data + s * a->stride[0] + oa, *bp = b->data + s * b->stride[0] + ob;
            float *yp = y->data + s * y->stride[0] + r * w;
            for (int64_t i = 0; i < w; i++) yp[i] = mul ? ap[i * sa] * bp[i * sb] : ap[i * sa] + bp[i * sb];
        }
    return 0;
}

/* dx += dy (add) or dy * other (mul), summed over the dims x is broadcast along. Each sample's dx
 * is summed on one thread in output order, so the result does not depend on the thread count. */
static void binary_backward_one(const cnn_op_ctx *c, int which) {
    const binary_attrs *at = c->attrs;
    cnn_tensor *dx = c->din[which];
    const cnn_tensor *other = c->in[1 - which], *dy = c->dout;
    const broadcast_layout l = broadcast_layout_of(c->node, which, 1 - which);
    const int64_t w = l.o[CNN_SAMPLE_DIMS - 1], sx = l.sa[CNN_SAMPLE_DIMS - 1], so = l.sb[CNN_SAMPLE_DIMS - 1];
    const bool mul = at->kind == BINARY_MUL;
    int64_t n = dy->shape[0];
#pragma omp parallel for schedule(static) if (n * l.rows * w >= 32768)
    for (int64_t s = 0; s < n; s++)
        for (int64_t r = 0; r < l.rows; r++) {
            int64_t ox, oo;
            broadcast_row(&l, r, &ox, &oo);
            float *xp = dx->data + s * dx->stride[0] + ox;
            const float *op = other->data + s * other->stride[0] + oo;
            const float *gp = dy->data + s * dy->stride[0] + r * w;
            for (int64_t i = 0; i < w; i++) xp[i * sx] += mul ? gp[i] * op[i * so] : gp[i];
        }
}

static int binary_backward(const cnn_op_ctx *c) {
    for (int which = 0; which < 2; which++)
        if (c->din[which]) binary_backward_one(c, which);
    return 0;
}

static const cnn_op add_broadcast_op = {.name = "add_broadcast", .shape = binary_shape, .forward = binary_forward, .backward = binary_backward, .caps = CNN_CAP_EMPTY};
static const cnn_op mul_op = {.name = "mul", .shape = binary_shape, .forward = binary_forward, .backward = binary_backward, .caps = CNN_CAP_EMPTY};

cnn_node *cnn_add_broadcast(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name) {
    binary_attrs at = {BINARY_ADD};
    cnn_node *xs[2] = {a, b};
    return cnn_graph_add_node(g, &add_broadcast_op, name, 2, xs, &at, sizeof at);
}

cnn_node *cnn_mul(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name) {
    binary_attrs at = {BINARY_MUL};
    cnn_node *xs[2] = {a, b};
    return cnn_graph_add_node(g, &mul_op, name, 2, xs, &at, sizeof at);
}

/* ---- batched matrix product over the last two dims ---- */

/* a (N, L, M, K) b (N, L', K, P) with L' = L or 1 (or L = 1): the leading dim L is dim 1 of rank 4. */
static int matmul_shape(cnn_node *n) {
    const cnn_shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape;
    char sa[96], sb[96];
    bool ok = a->rank == b->rank && a->rank >= 3 && a->dims[a->rank - 1] == b->dims[b->rank - 2];
    if (ok && a->rank == 4) ok = a->dims[1] == b->dims[1] || a->dims[1] == 1 || b->dims[1] == 1;
    if (!ok)
        return cnn_fail("matmul '%s': inputs '%s' %s and '%s' %s do not multiply (ranks 3 or 4, equal; (...,M,K) times (...,K,P))",
                        n->name, n->inputs[0]->name, cnn_shape_str(a, sa, sizeof sa), n->inputs[1]->name,
                        cnn_shape_str(b, sb, sizeof sb));
    n->shape = *a;
    n->shape.dims[a->rank - 1] = b->dims[b->rank - 1];
    if (a->rank == 4 && a->dims[1] == 1) n->shape.dims[1] = b->dims[1];
    if (cnn_shape_sample_numel(&n->shape) < 0) return cnn_fail("matmul '%s': output too large", n->name);
    return 0;
}

typedef struct matmul_dims {
    int64_t l, m, k, p;           /* output (L, M, P) per sample */
    int64_t a_step, b_step;       /* elements between consecutive l in a and b: 0 when broadcast */
} matmul_dims;

static matmul_dims matmul_layout(const cnn_node *n) {
    const cnn_shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape;
    int r = a->rank;
    matmul_dims d = {.l = r == 4 ? n->shape.dims[1] : 1, .m = a->dims[r - 2], .k = a->dims[r - 1], .p = b->dims[r - 1]};
    d.a_step = r == 4 && a->dims[1] == 1 ? 0 : d.m * d.k;
    d.b_step = r == 4 && b->dims[1] == 1 ? 0 : d.k * d.p;
    return d;
}

static int matmul_forward(const cnn_op_ctx *c) {
    const cnn_tensor *a = c->in[0], *b = c->in[1], *y = c->out;
    matmul_dims d = matmul_layout(c->node);
    int64_t n = y->shape[0];
#pragma omp parallel for collapse(2) schedule(static) if (n * d.l > 1)
    for (int64_t s = 0; s < n; s++)
        for (int64_t l = 0; l < d.l; l++)
            cnn_sgemm(false, false, d.m, d.p, d.k, 1.0f, a->data + s * a->stride[0] + l * d.a_step, d.k,
                      b->data + s * b->stride[0] + l * d.b_step, d.p, 0.0f, y->data + s * y->stride[0] + l * d.m * d.p, d.p);
    return 0;
}

/* da += dy b^T, db += a^T dy; an operand broadcast over L sums its L products in order on one thread. */
static int matmul_backward(const cnn_op_ctx *c) {
    const cnn_tensor *a = c->in[0], *b = c->in[1], *dy = c->dout;
    cnn_tensor *da = c->din[0], *db = c->din[1];
    matmul_dims d = matmul_layout(c->node);
    int64_t n = dy->shape[0];
#pragma omp parallel for schedule(static) if (n > 1)
    for (int64_t s = 0; s < n; s++)
        for (int64_t l = 0; l < d.l; l++) {
            const float *ap = a->data + s * a->stride[0] + l * d.a_step, *bp = b->data + s * b->stride[0] + l * d.b_step;
            const float *gp = dy->data + s * dy->stride[0] + l * d.m * d.p;
            if (da) cnn_sgemm(false, true, d.m, d.k, d.p, 1.0f, gp, d.p, bp, d.p, 1.0f, da->data + s * da->stride[0] + l * d.a_step, d.k);
            if (db) cnn_sgemm(true, false, d.k, d.p, d.m, 1.0f, ap, d.k, gp, d.p, 1.0f, db->data + s * db->stride[0] + l * d.b_step, d.p);
        }
    return 0;
}

static int64_t matmul_macs(const cnn_node *n) {
    matmul_dims d = matmul_layout(n);
    return cnn_mul_i64(cnn_mul_i64(cnn_mul_i64(d.l, d.m), d.k), d.p);
}

static const cnn_op matmul_op = {
    .name = "matmul", .shape = matmul_shape, .forward = matmul_forward, .backward = matmul_backward, .macs = matmul_macs};

cnn_node *cnn_matmul(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name) {
    cnn_node *xs[2] = {a, b};
    return cnn_graph_add_node(g, &matmul_op, name, 2, xs, NULL, 0);
}
