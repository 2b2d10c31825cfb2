/* onnx_fold.c — ONNX's integer tensor operators (Shape arithmetic: Slice, Concat, Reshape, Transpose,
 * Gather, Unsqueeze, Squeeze, ConstantOfShape, Add, Sub, Mul, Div, Neg) on small folded tensors,
 * carrying each element's dependence on the batch size along. */
#include "onnx_fold.h"

#include "../core/internal.h"

#include <string.h>

int fold_set_shape(fold_tensor *t, int rank, const int64_t *dims) {
    if (rank < 0 || rank > FOLD_MAX_RANK) return cnn_fail("a folded value of rank %d (at most %d)", rank, FOLD_MAX_RANK);
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0) return cnn_fail("a folded value with dimension %d of %lld", d, (long long)dims[d]);
        numel = cnn_mul_i64(numel, dims[d]);
        if (numel < 0 || numel > FOLD_MAX_NUMEL) return cnn_fail("a folded value of more than %d elements", FOLD_MAX_NUMEL);
    }
    t->rank = rank;
    if (rank) memmove(t->dims, dims, (size_t)rank * sizeof *dims);
    t->numel = numel;
    memset(t->taint, FOLD_CLEAN, (size_t)numel);
    return 0;
}

void fold_taint_all(fold_tensor *t) { memset(t->taint, FOLD_DERIVED, (size_t)t->numel); }

bool fold_any_taint(const fold_tensor *t) {
    for (int64_t i = 0; i < t->numel; i++)
        if (t->taint[i]) return true;
    return false;
}

/* Row-major strides of t's dims. */
static void strides_of(const fold_tensor *t, int64_t *stride) {
    int64_t s = 1;
    for (int d = t->rank; d-- > 0;) stride[d] = s, s *= t->dims[d];
}

/* The multi-index of flat element i of t. */
static void unravel(const fold_tensor *t, int64_t i, int64_t *idx) {
    for (int d = t->rank; d-- > 0;) {
        idx[d] = t->dims[d] ? i % t->dims[d] : 0;
        i = t->dims[d] ? i / t->dims[d] : 0;
    }
}

static int normalize_axis(int64_t *axis, int rank, const char *what) {
    if (*axis < -rank || *axis >= rank) return cnn_fail("%s %lld is outside [%d, %d]", what, (long long)*axis, -rank, rank - 1);
    if (*axis < 0) *axis += rank;
    return 0;
}

/* ---- element-wise ---- */

int fold_binary(fold_binary_op op, const fold_tensor *a, const fold_tensor *b, fold_tensor *out) {
    const int rank = a->rank > b->rank ? a->rank : b->rank;
    int64_t dims[FOLD_MAX_RANK], da[FOLD_MAX_RANK], db[FOLD_MAX_RANK];
    for (int d = 0; d < rank; d++) { /* NumPy broadcasting, shapes right-aligned */
        const int ia = d - (rank - a->rank), ib = d - (rank - b->rank);
        da[d] = ia >= 0 ? a->dims[ia] : 1;
        db[d] = ib >= 0 ? b->dims[ib] : 1;
        if (da[d] != db[d] && da[d] != 1 && db[d] != 1)
            return cnn_fail("operands of dims %lld and %lld at axis %d do not broadcast", (long long)da[d], (long long)db[d], d);
        dims[d] = da[d] == 1 ? db[d] : da[d];
    }
    fold_tensor shape_a = {.rank = rank}, shape_b = {.rank = rank};
    memcpy(shape_a.dims, da, sizeof da);
    memcpy(shape_b.dims, db, sizeof db);
    int64_t sa[FOLD_MAX_RANK], sb[FOLD_MAX_RANK], idx[FOLD_MAX_RANK];
    strides_of(&shape_a, sa);
    strides_of(&shape_b, sb);
    if (fold_set_shape(out, rank, dims)) return -1;
    for (int64_t i = 0; i < out->numel; i++) {
        unravel(out, i, idx);
        int64_t ia = 0, ib = 0, r = 0;
        for (int d = 0; d < rank; d++) ia += (da[d] == 1 ? 0 : idx[d]) * sa[d], ib += (db[d] == 1 ? 0 : idx[d]) * sb[d];
        const int64_t x = a->v[ia], y = b->v[ib];
        bool overflow = false;
        switch (op) {
        case FOLD_ADD: overflow = __builtin_add_overflow(x, y, &r); break;
        case FOLD_SUB: overflow = __builtin_sub_overflow(x, y, &r); break;
        case FOLD_MUL: overflow = __builtin_mul_overflow(x, y, &r); break;
        case FOLD_DIV:
            if (y == 0) return cnn_fail("integer division by zero");
            overflow = x == INT64_MIN && y == -1;
            r = overflow ? 0 : x / y; /* truncated, as ONNX Runtime's integer Div */
            break;
        }
        if (overflow) return cnn_fail("integer overflow in %lld and %lld", (long long)x, (long long)y);
        out->v[i] = r;
        out->taint[i] = a->taint[ia] || b->taint[ib] ? FOLD_DERIVED : FOLD_CLEAN;
    }
    return 0;
}

int fold_neg(const fold_tensor *a, fold_tensor *out) {
    if (fold_set_shape(out, a->rank, a->dims)) return -1;
    for (int64_t i = 0; i < a->numel; i++) {
        if (a->v[i] == INT64_MIN) return cnn_fail("integer overflow negating %lld", (long long)a->v[i]);
        out->v[i] = -a->v[i];
        out->taint[i] = a->taint[i] ? FOLD_DERIVED : FOLD_CLEAN;
    }
    return 0;
}

/* ---- moving elements ---- */

/* out[i] = x[offset of out's index i], for a selection of x given per out dim by start + k * step. */
static void gather_strided(const fold_tensor *x, const int64_t *start, const int64_t *step, fold_tensor *out) {
    int64_t sx[FOLD_MAX_RANK], idx[FOLD_MAX_RANK];
    strides_of(x, sx);
    for (int64_t i = 0; i < out->numel; i++) {
        unravel(out, i, idx);
        int64_t at = 0;
        for (int d = 0; d < x->rank; d++) at += (start[d] + idx[d] * step[d]) * sx[d];
        out->v[i] = x->v[at];
        out->taint[i] = x->taint[at];
    }
}

static bool is_vector(const fold_tensor *t) { return t->rank == 1; }

int fold_slice(const fold_tensor *x, const fold_tensor *starts, const fold_tensor *ends, const fold_tensor *axes,
               const fold_tensor *steps, fold_tensor *out) {
    if (!is_vector(starts) || !is_vector(ends) || starts->numel != ends->numel || (axes && (!is_vector(axes) || axes->numel != starts->numel)) ||
        (steps && (!is_vector(steps) || steps->numel != starts->numel)))
        return cnn_fail("starts, ends, axes and steps must be vectors of one length");
    if (x->rank < 1) return cnn_fail("slicing a scalar");
    int64_t start[FOLD_MAX_RANK] = {0}, step[FOLD_MAX_RANK], dims[FOLD_MAX_RANK];
    bool seen[FOLD_MAX_RANK] = {false};
    for (int d = 0; d < x->rank; d++) step[d] = 1, dims[d] = x->dims[d];
    for (int64_t k = 0; k < starts->numel; k++) {
        int64_t axis = axes ? axes->v[k] : k, st = starts->v[k], en = ends->v[k], s = steps ? steps->v[k] : 1;
        if (normalize_axis(&axis, x->rank, "axis")) return -1;
        if (seen[axis]) return cnn_fail("axis %lld is sliced twice", (long long)axis);
        seen[axis] = true;
        if (s == 0 || s == INT64_MIN) return cnn_fail("step %lld", (long long)s);
        const int64_t n = x->dims[axis];
        if (st < 0) st = st < -n ? -1 : st + n; /* below -n: clamped just below */
        if (en < 0) en = en < -n ? -1 : en + n;
        int64_t count;
        if (s > 0) {
            st = st < 0 ? 0 : st > n ? n : st;
            en = en < 0 ? 0 : en > n ? n : en;
            count = en > st ? (en - st - 1) / s + 1 : 0; /* en - st <= n: no overflow for any step */
        } else {
            st = st < 0 ? 0 : st > n - 1 ? n - 1 : st;
            en = en < -1 ? -1 : en > n - 1 ? n - 1 : en;
            count = st > en ? (st - en - 1) / -s + 1 : 0;
        }
        start[axis] = st, step[axis] = s, dims[axis] = count;
    }
    if (fold_set_shape(out, x->rank, dims)) return -1;
    gather_strided(x, start, step, out);
    if (fold_any_taint(starts) || fold_any_taint(ends) || (axes && fold_any_taint(axes)) || (steps && fold_any_taint(steps)))
        fold_taint_all(out);
    return 0;
}

int fold_concat(int n, const fold_tensor *const *xs, int64_t axis, fold_tensor *out) {
    if (n < 1) return cnn_fail("no inputs");
    const int rank = xs[0]->rank;
    if (rank < 1) return cnn_fail("concatenating scalars");
    if (normalize_axis(&axis, rank, "axis")) return -1;
    int64_t dims[FOLD_MAX_RANK];
    memcpy(dims, xs[0]->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < n; i++) {
        if (xs[i]->rank != rank) return cnn_fail("inputs of ranks %d and %d", rank, xs[i]->rank);
        for (int d = 0; d < rank; d++)
            if (d != axis && xs[i]->dims[d] != xs[0]->dims[d])
                return cnn_fail("input %d has %lld in dim %d, input 0 %lld", i, (long long)xs[i]->dims[d], d, (long long)xs[0]->dims[d]);
        dims[axis] += xs[i]->dims[axis];
        if (dims[axis] > FOLD_MAX_NUMEL) return cnn_fail("a folded value of more than %d elements", FOLD_MAX_NUMEL);
    }
    if (fold_set_shape(out, rank, dims)) return -1;
    int64_t idx[FOLD_MAX_RANK];
    for (int64_t i = 0; i < out->numel; i++) {
        unravel(out, i, idx);
        int k = 0;
        while (idx[axis] >= xs[k]->dims[axis]) idx[axis] -= xs[k++]->dims[axis];
        int64_t sx[FOLD_MAX_RANK], at = 0;
        strides_of(xs[k], sx);
        for (int d = 0; d < rank; d++) at += idx[d] * sx[d];
        out->v[i] = xs[k]->v[at];
        out->taint[i] = xs[k]->taint[at];
    }
    return 0;
}

/* The same elements in another shape (Reshape, Unsqueeze, Squeeze); dims may be out's own. */
static int relabel(const fold_tensor *x, int rank, const int64_t *dims, fold_tensor *out) {
    int64_t numel = 1, copy[FOLD_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0) return cnn_fail("dimension %d of %lld", d, (long long)dims[d]);
        numel = cnn_mul_i64(numel, dims[d]);
    }
    if (numel != x->numel) return cnn_fail("%lld elements cannot take a shape of %lld", (long long)x->numel, (long long)numel);
    memcpy(copy, dims, (size_t)rank * sizeof *dims);
    if (out != x) {
        memcpy(out->v, x->v, (size_t)x->numel * sizeof *x->v);
        memcpy(out->taint, x->taint, (size_t)x->numel);
    }
    out->rank = rank;
    memcpy(out->dims, copy, (size_t)rank * sizeof *copy);
    out->numel = numel;
    return 0;
}

int fold_reshape(const fold_tensor *x, const fold_tensor *shape, bool allowzero, fold_tensor *out) {
    if (!is_vector(shape) || shape->numel > FOLD_MAX_RANK) return cnn_fail("the shape must be a vector of at most %d values", FOLD_MAX_RANK);
    int64_t dims[FOLD_MAX_RANK], known = 1;
    int infer = -1;
    for (int d = 0; d < shape->numel; d++) {
        dims[d] = shape->v[d];
        if (dims[d] == 0 && !allowzero) {
            if (d >= x->rank) return cnn_fail("shape[%d] is 0 but the input has no dim %d", d, d);
            dims[d] = x->dims[d];
        }
        if (dims[d] == -1) {
            if (infer >= 0) return cnn_fail("the shape has more than one -1");
            infer = d;
            continue;
        }
        if (dims[d] < 0) return cnn_fail("shape[%d] is %lld", d, (long long)dims[d]);
        known = cnn_mul_i64(known, dims[d]);
        if (known < 0) return cnn_fail("the shape is too large");
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known) return cnn_fail("%lld elements do not fill the shape", (long long)x->numel);
        dims[infer] = x->numel / known;
    }
    if (relabel(x, (int)shape->numel, dims, out)) return -1;
    if (fold_any_taint(shape)) fold_taint_all(out);
    return 0;
}

int fold_transpose(const fold_tensor *x, const int64_t *perm, int n_perm, fold_tensor *out) {
    int64_t p[FOLD_MAX_RANK], dims[FOLD_MAX_RANK], sx[FOLD_MAX_RANK], idx[FOLD_MAX_RANK];
    bool seen[FOLD_MAX_RANK] = {false};
    if (perm && n_perm != x->rank) return cnn_fail("perm has %d values for a rank-%d input", n_perm, x->rank);
    for (int d = 0; d < x->rank; d++) {
        p[d] = perm ? perm[d] : x->rank - 1 - d;
        if (p[d] < 0 || p[d] >= x->rank || seen[p[d]]) return cnn_fail("perm is not a permutation of 0..%d", x->rank - 1);
        seen[p[d]] = true;
        dims[d] = x->dims[p[d]];
    }
    if (fold_set_shape(out, x->rank, dims)) return -1;
    strides_of(x, sx);
    for (int64_t i = 0; i < out->numel; i++) {
        unravel(out, i, idx);
        int64_t at = 0;
        for (int d = 0; d < x->rank; d++) at += idx[d] * sx[p[d]];
        out->v[i] = x->v[at];
        out->taint[i] = x->taint[at];
    }
    return 0;
}

int fold_gather(const fold_tensor *x, const fold_tensor *indices, int64_t axis, fold_tensor *out) {
    if (x->rank < 1) return cnn_fail("gathering from a scalar");
    if (normalize_axis(&axis, x->rank, "axis")) return -1;
    const int rank = x->rank - 1 + indices->rank;
    if (rank > FOLD_MAX_RANK) return cnn_fail("a result of rank %d", rank);
    int64_t dims[FOLD_MAX_RANK], sx[FOLD_MAX_RANK], idx[FOLD_MAX_RANK];
    int r = 0;
    for (int d = 0; d < axis; d++) dims[r++] = x->dims[d];
    for (int d = 0; d < indices->rank; d++) dims[r++] = indices->dims[d];
    for (int d = (int)axis + 1; d < x->rank; d++) dims[r++] = x->dims[d];
    const int64_t n = x->dims[axis];
    for (int64_t k = 0; k < indices->numel; k++)
        if (indices->v[k] < -n || indices->v[k] >= n) return cnn_fail("index %lld is outside [%lld, %lld]", (long long)indices->v[k], (long long)-n, (long long)n - 1);
    if (fold_set_shape(out, rank, dims)) return -1;
    strides_of(x, sx);
    for (int64_t i = 0; i < out->numel; i++) {
        unravel(out, i, idx);
        int64_t flat = 0; /* the index's position in `indices` */
        for (int d = 0; d < indices->rank; d++) flat = flat * indices->dims[d] + idx[axis + d];
        int64_t at = 0, k = indices->v[flat] < 0 ? indices->v[flat] + n : indices->v[flat];
        for (int d = 0; d < x->rank; d++)
            at += (d < axis ? idx[d] : d == axis ? k : idx[d - 1 + indices->rank]) * sx[d];
        out->v[i] = x->v[at];
        out->taint[i] = indices->taint[flat] ? FOLD_DERIVED : x->taint[at];
    }
    if (fold_any_taint(indices)) fold_taint_all(out);
    return 0;
}

int fold_unsqueeze(const fold_tensor *x, const int64_t *axes, int n_axes, fold_tensor *out) {
    const int rank = x->rank + n_axes;
    if (n_axes < 1 || rank > FOLD_MAX_RANK) return cnn_fail("%d axes for a rank-%d input", n_axes, x->rank);
    bool one[FOLD_MAX_RANK] = {false};
    for (int k = 0; k < n_axes; k++) {
        int64_t a = axes[k];
        if (normalize_axis(&a, rank, "axis")) return -1;
        if (one[a]) return cnn_fail("axis %lld is given twice", (long long)a);
        one[a] = true;
    }
    int64_t dims[FOLD_MAX_RANK];
    for (int d = 0, s = 0; d < rank; d++) dims[d] = one[d] ? 1 : x->dims[s++];
    return relabel(x, rank, dims, out);
}

int fold_squeeze(const fold_tensor *x, const int64_t *axes, int n_axes, fold_tensor *out) {
    bool drop[FOLD_MAX_RANK] = {false};
    for (int k = 0; k < n_axes; k++) {
        int64_t a = axes[k];
        if (normalize_axis(&a, x->rank, "axis")) return -1;
        if (x->dims[a] != 1) return cnn_fail("axis %lld has size %lld, not 1", (long long)a, (long long)x->dims[a]);
        drop[a] = true;
    }
    int64_t dims[FOLD_MAX_RANK];
    int rank = 0;
    for (int d = 0; d < x->rank; d++)
        if (!(n_axes < 0 ? x->dims[d] == 1 : drop[d])) dims[rank++] = x->dims[d];
    return relabel(x, rank, dims, out);
}

int fold_constant_of_shape(const fold_tensor *shape, int64_t value, fold_tensor *out) {
    if (!is_vector(shape) || shape->numel > FOLD_MAX_RANK) return cnn_fail("the shape must be a vector of at most %d values", FOLD_MAX_RANK);
    const bool tainted = fold_any_taint(shape);
    int64_t dims[FOLD_MAX_RANK];
    memcpy(dims, shape->v, (size_t)shape->numel * sizeof *dims);
    if (fold_set_shape(out, (int)shape->numel, dims)) return -1;
    for (int64_t i = 0; i < out->numel; i++) out->v[i] = value;
    if (tainted) fold_taint_all(out);
    return 0;
}
