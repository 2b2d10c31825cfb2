/* norm.c — batch normalisation (batch statistics in train mode, running statistics in eval) and local response normalisation. */
#include "ops.h"
#include "attrs.h"
#include "lane_sums.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- batch normalisation ---- */

/* Parameters in creation order, named as in PyTorch's state_dict. */
enum { BN_WEIGHT, BN_BIAS, BN_RUNNING_MEAN, BN_RUNNING_VAR };

/* A sample seen as (C, P): dim 1 holds the channels and P is the product of the dims after it,
 * (N,C,D,H,W) giving P = D*H*W, (N,C,H,W) P = H*W, (N,C,L) P = L and (N,F) F features of P = 1. */
static void batchnorm_layout(const cnn_shape *s, int64_t *channels, int64_t *plane) {
    *channels = s->dims[1];
    *plane = 1;
    for (int d = 2; d < s->rank; d++) *plane *= s->dims[d];
}

static int batchnorm_shape(cnn_node *n) {
    const batchnorm_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    if (in->rank < 2 || in->rank > 5)
        return cnn_fail("batchnorm '%s': input '%s' has shape %s; expected (N,F), (N,C,L), (N,C,H,W) or (N,C,D,H,W)",
                        n->name, n->inputs[0]->name, cnn_shape_str(in, buf, sizeof buf));
    if (!(a->eps > 0.0f) || isinf(a->eps))
        return cnn_fail("batchnorm '%s': eps must be positive and finite (got %g)", n->name, (double)a->eps);
    if (!(a->momentum >= 0.0f && a->momentum <= 1.0f))
        return cnn_fail("batchnorm '%s': momentum must be in [0, 1] (got %g)", n->name, (double)a->momentum);
    n->shape = *in;
    return 0;
}

/* Train mode keeps each channel's batch mean and inverse standard deviation for the backward. */
static size_t batchnorm_state_bytes(const cnn_node *n, int64_t batch, bool training) {
    (void)batch;
    return training ? 2 * (size_t)n->shape.dims[1] * sizeof(double) : 0;
}

/* y = x * scale + shift over one run of n values (a channel of a sample), then the folded ReLU
 * when relu. CNN_CLONES on this and dx_run, elementwise loops; the sums (stat_sums, grad_sums)
 * spell their lanes out (lane_sums.h) so that every clone adds in the same order. */
CNN_CLONES static void apply_run(const float *restrict xp, float *restrict yp, int64_t n, float scale, float shift, bool relu) {
    if (relu) { /* a following ReLU folded in (training plans: CNN_CAP_TRAIN_RELU) */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = xp[i] * scale + shift;
            yp[i] = v <= 0.0f ? 0.0f : v; /* as relu_fwd: NaN stays */
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yp[i] = xp[i] * scale + shift;
    }
}

/* Training passes share channels out to threads in contiguous runs, and each thread walks its run
 * BN_BLOCK channels at a time with the samples outer: per sample the block's planes are one stretch
 * of memory that the prefetchers follow, where a channel at a time over the samples jumps every
 * plane (144 bytes for a 6x6 plane: the loads waited on memory). Each channel's sums keep their
 * order (the samples in turn): the same bits for any thread count. */
#define BN_BLOCK 16

/* This thread's run of channels [*k0, *k1) of channels, inside a parallel region. */
static void channel_run(int64_t channels, int64_t *k0, int64_t *k1) {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    *k0 = channels * t / nt, *k1 = channels * (t + 1) / nt;
}

/* The gradient at the batch norm's output from the folded ReLU's: what the ReLU's backward adds into
 * a zeroed buffer (0 + (z > 0 ? g : 0)), z the ReLU's output. */
static inline float relu_grad(float z, float g) {
    /* the select as a bit mask: vectorizes inside grad_sums' lane loop where a ?: did not */
    uint32_t bits;
    memcpy(&bits, &g, sizeof bits);
    bits &= -(uint32_t)(z > 0.0f);
    float kept;
    memcpy(&kept, &bits, sizeof kept);
    return kept + 0.0f;
}

/* Eval: y = x * scale + shift with scale = weight / sqrt(running_var + eps) and shift = bias -
 * running_mean * scale, both from double. */
static void eval_affine(const batchnorm_attrs *a, float weight, float bias, float mean, float var, float *scale, float *shift) {
    double s = weight / sqrt((double)var + a->eps);
    *scale = (float)s;
    *shift = (float)(bias - mean * s);
}

void cnn_batchnorm_eval_affine(const cnn_node *bn, float *scale, float *shift) {
    int64_t channels, plane;
    batchnorm_layout(&bn->shape, &channels, &plane);
    const float *weight = cnn_node_param_data(bn, BN_WEIGHT), *bias = cnn_node_param_data(bn, BN_BIAS);
    const float *mean = cnn_node_param_data(bn, BN_RUNNING_MEAN), *var = cnn_node_param_data(bn, BN_RUNNING_VAR);
    for (int64_t k = 0; k < channels; k++) eval_affine(bn->attrs, weight[k], bias[k], mean[k], var[k], &scale[k], &shift[k]);
}

/* Lane sums (lane_sums.h) over x[0..n) continued: s1 += d, s2 += d * d with d = x - shift. */
CNN_CLONES static void stat_sums(const float *restrict x, int64_t n, double shift, double *restrict s1, double *restrict s2) {
    double a[LANE_SUMS], q[LANE_SUMS];
    for (int l = 0; l < LANE_SUMS; l++) a[l] = s1[l], q[l] = s2[l];
    int64_t i = 0;
    for (; i + LANE_SUMS <= n; i += LANE_SUMS)
        for (int l = 0; l < LANE_SUMS; l++) {
            const double d = (double)x[i + l] - shift;
            a[l] += d;
            q[l] += d * d;
        }
    for (; i < n; i++) {
        const double d = (double)x[i] - shift;
        a[i % LANE_SUMS] += d;
        q[i % LANE_SUMS] += d * d;
    }
    for (int l = 0; l < LANE_SUMS; l++) s1[l] = a[l], s2[l] = q[l];
}

/* Lane sums over g[0..n) continued: s1 += g, s2 += g * (x - mu); with z (the folded ReLU's output)
 * not NULL, g first becomes the batch norm's own gradient in place (relu_grad). */
CNN_CLONES static void grad_sums(const float *restrict x, const float *restrict z, float *restrict g, int64_t n, double mu,
                                 double *restrict s1, double *restrict s2) {
    double a[LANE_SUMS], q[LANE_SUMS];
    for (int l = 0; l < LANE_SUMS; l++) a[l] = s1[l], q[l] = s2[l];
    int64_t i = 0;
    if (z) {
        for (; i + LANE_SUMS <= n; i += LANE_SUMS)
            for (int l = 0; l < LANE_SUMS; l++) {
                const float gv = relu_grad(z[i + l], g[i + l]);
                g[i + l] = gv;
                a[l] += gv;
                q[l] += gv * ((double)x[i + l] - mu);
            }
        for (; i < n; i++) g[i] = relu_grad(z[i], g[i]);
        i = n - n % LANE_SUMS;
    }
    for (; i + LANE_SUMS <= n; i += LANE_SUMS)
        for (int l = 0; l < LANE_SUMS; l++) {
            a[l] += g[i + l];
            q[l] += g[i + l] * ((double)x[i + l] - mu);
        }
    for (; i < n; i++) {
        a[i % LANE_SUMS] += g[i];
        q[i % LANE_SUMS] += g[i] * ((double)x[i] - mu);
    }
    for (int l = 0; l < LANE_SUMS; l++) s1[l] = a[l], s2[l] = q[l];
}

/* Train: y = (x - mean_batch) / sqrt(var_batch + eps) * weight + bias with the biased variance, and
 * running = (1 - momentum) * running + momentum * stat with the unbiased one. Eval: the running stats.
 * Each channel is reduced in double by one thread in a fixed order: the same bits for any thread count. */
static int batchnorm_forward(const cnn_op_ctx *c) {
    const batchnorm_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    const float *weight = c->param[BN_WEIGHT], *bias = c->param[BN_BIAS];
    float *running_mean = c->param[BN_RUNNING_MEAN], *running_var = c->param[BN_RUNNING_VAR];
    int64_t n = x->shape[0], channels, plane;
    batchnorm_layout(&c->node->shape, &channels, &plane);
    if (!c->training) {
#pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < channels; k++) {
            float scale, shift;
            eval_affine(a, weight[k], bias[k], running_mean[k], running_var[k], &scale, &shift);
            for (int64_t b = 0; b < n; b++)
                apply_run(x->data + b * x->stride[0] + k * plane, y->data + b * y->stride[0] + k * plane, plane, scale, shift, false);
        }
        return 0;
    }
    int64_t count = n * plane; /* values per channel */
    if (count <= 1) {
        char buf[96];
        return cnn_fail("batchnorm '%s': Expected more than 1 value per channel when training, got input size %s "
                        "with N=%lld",
                        c->node->name, cnn_shape_str(&c->node->shape, buf, sizeof buf), (long long)n);
    }
    double *mean = c->state, *invstd = mean + channels; /* (C), (C) */
    double momentum = a->momentum;
#pragma omp parallel
    {
        int64_t k0, k1;
        channel_run(channels, &k0, &k1);
        for (int64_t kb = k0; kb < k1; kb += BN_BLOCK) {
            const int64_t nk = k1 - kb < BN_BLOCK ? k1 - kb : BN_BLOCK;
            /* One pass: sums of d = x - shift and d^2 in double, shifted by the channel's first
             * value so that sq - sum^2/count does not cancel (the spread of d is the spread of x),
             * in lanes (lane_sums.h) over the samples in order. */
            double shifts[BN_BLOCK], s1[BN_BLOCK][LANE_SUMS] = {{0}}, s2[BN_BLOCK][LANE_SUMS] = {{0}};
            float scales[BN_BLOCK], shifts_y[BN_BLOCK];
            for (int64_t j = 0; j < nk; j++) shifts[j] = x->data[(kb + j) * plane];
            for (int64_t b = 0; b < n; b++) { /* x (N, C, P) */
                const float *xb = x->data + b * x->stride[0] + kb * plane;
                for (int64_t j = 0; j < nk; j++) stat_sums(xb + j * plane, plane, shifts[j], s1[j], s2[j]);
            }
            for (int64_t j = 0; j < nk; j++) {
                const int64_t k = kb + j;
                double sum = lane_sums_total(s1[j]), sq = lane_sums_total(s2[j]);
                double mu = shifts[j] + sum / (double)count;
                sq -= sum * (sum / (double)count); /* sum of (x - mu)^2 */
                if (sq < 0.0) sq = 0.0;
                double is = 1.0 / sqrt(sq / (double)count + a->eps);
                mean[k] = mu;
                invstd[k] = is;
                running_mean[k] = (float)((1.0 - momentum) * running_mean[k] + momentum * mu);
                running_var[k] = (float)((1.0 - momentum) * running_var[k] + momentum * (sq / (double)(count - 1)));
                double scale = weight[k] * is;
                scales[j] = (float)scale, shifts_y[j] = (float)(bias[k] - mu * scale);
            }
            for (int64_t b = 0; b < n; b++) {
                const float *xb = x->data + b * x->stride[0] + kb * plane;
                float *yb = y->data + b * y->stride[0] + kb * plane;
                for (int64_t j = 0; j < nk; j++) apply_run(xb + j * plane, yb + j * plane, plane, scales[j], shifts_y[j], c->epi_relu);
            }
        }
    }
    return 0;
}

/* dx += coef * (dy - mean_dy - (x - mu) * proj) over one run of n values. */
CNN_CLONES static void dx_run(const float *restrict xp, const float *restrict gp, float *restrict dp, int64_t n, float coef, float mean_dy,
                              float proj, float muf) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dp[i] += coef * (gp[i] - mean_dy - (xp[i] - muf) * proj);
}

/* With xhat = (x - mean) * invstd over the m = N*P values of a channel:
 * dweight += sum dy*xhat;  dbias += sum dy;  dx += weight*invstd * (dy - sum(dy)/m - xhat * sum(dy*xhat)/m). */
static int batchnorm_backward(const cnn_op_ctx *c) {
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    const float *weight = c->param[BN_WEIGHT];
    float *dweight = c->dparam[BN_WEIGHT], *dbias = c->dparam[BN_BIAS];
    if (!c->training) return cnn_fail("batchnorm '%s': backward needs a training plan", c->node->name);
    int64_t n = x->shape[0], channels, plane;
    batchnorm_layout(&c->node->shape, &channels, &plane);
    double count = (double)(n * plane);
    const double *mean = c->state, *invstd = mean + channels;
#pragma omp parallel
    {
        int64_t k0, k1;
        channel_run(channels, &k0, &k1);
        for (int64_t kb = k0; kb < k1; kb += BN_BLOCK) {
            const int64_t nk = k1 - kb < BN_BLOCK ? k1 - kb : BN_BLOCK;
            double s1[BN_BLOCK][LANE_SUMS] = {{0}}, s2[BN_BLOCK][LANE_SUMS] = {{0}};
            for (int64_t b = 0; b < n; b++) { /* x, dy (N, C, P); the folded ReLU's gradient becomes ours in place (read once more below) */
                const int64_t at = kb * plane;
                const float *xb = x->data + b * x->stride[0] + at, *zb = c->epi_relu ? c->out->data + b * c->out->stride[0] + at : NULL;
                float *gb = dy->data + b * dy->stride[0] + at;
                for (int64_t j = 0; j < nk; j++)
                    grad_sums(xb + j * plane, zb ? zb + j * plane : NULL, gb + j * plane, plane, mean[kb + j], s1[j], s2[j]);
            }
            float coef[BN_BLOCK], mean_dy[BN_BLOCK], proj[BN_BLOCK], muf[BN_BLOCK];
            for (int64_t j = 0; j < nk; j++) {
                const int64_t k = kb + j;
                const double sum_dy = lane_sums_total(s1[j]), sum_dy_xmu = lane_sums_total(s2[j]);
                if (dweight) dweight[k] += (float)(sum_dy_xmu * invstd[k]);
                if (dbias) dbias[k] += (float)sum_dy;
                coef[j] = (float)(weight[k] * invstd[k]), mean_dy[j] = (float)(sum_dy / count);
                proj[j] = (float)(sum_dy_xmu * invstd[k] * invstd[k] / count), muf[j] = (float)mean[k];
            }
            if (!dx) continue;
            for (int64_t b = 0; b < n; b++) {
                const int64_t at = kb * plane;
                const float *xb = x->data + b * x->stride[0] + at, *gb = dy->data + b * dy->stride[0] + at;
                float *db = dx->data + b * dx->stride[0] + at;
                for (int64_t j = 0; j < nk; j++)
                    dx_run(xb + j * plane, gb + j * plane, db + j * plane, plane, coef[j], mean_dy[j], proj[j], muf[j]);
            }
        }
    }
    return 0;
}

/* Per sample: one multiply-add per element (and nothing once folded into a convolution). */
static int64_t batchnorm_macs(const cnn_node *n) { return cnn_shape_sample_numel(&n->shape); }

static const cnn_op batchnorm_op = {.name = "batchnorm",
                                    .caps = CNN_CAP_AFFINE | CNN_CAP_TRAIN_RELU,
                                    .shape = batchnorm_shape,
                                    .state_bytes = batchnorm_state_bytes,
                                    .forward = batchnorm_forward,
                                    .backward = batchnorm_backward,
                                    .macs = batchnorm_macs};

cnn_node *cnn_batchnorm(cnn_graph *g, cnn_node *x, const char *name, float eps, float momentum) {
    batchnorm_attrs a = {eps, momentum};
    cnn_node *n = cnn_graph_add_node(g, &batchnorm_op, name, 1, &x, &a, sizeof a);
    if (!n) return NULL;
    int64_t channels = n->shape.dims[1];
    if (cnn_node_add_param(n, "weight", 1, &channels, true, CNN_INIT_ONES, 0.0f) ||
        cnn_node_add_param(n, "bias", 1, &channels, true, CNN_INIT_ZEROS, 0.0f) ||
        cnn_node_add_param(n, "running_mean", 1, &channels, false, CNN_INIT_ZEROS, 0.0f) ||
        cnn_node_add_param(n, "running_var", 1, &channels, false, CNN_INIT_ONES, 0.0f)) {
        cnn_graph_drop_last_node(g);
        return NULL;
    }
    return n;
}

/* ---- local response normalisation ---- */

static int lrn_shape(cnn_node *n) {
    const lrn_attrs *a = n->attrs;
    const cnn_shape *in = &n->inputs[0]->shape;
    char buf[96];
    if (in->rank != 4)
        return cnn_fail("lrn '%s': input '%s' has shape %s; expected (N,C,H,W)", n->name, n->inputs[0]->name,
                        cnn_shape_str(in, buf, sizeof buf));
    if (a->size < 1) return cnn_fail("lrn '%s': size must be at least 1 (got %d)", n->name, a->size);
    if (a->before < 0 || a->before >= a->size)
        return cnn_fail("lrn '%s': %d channels before the centre do not fit a window of %d", n->name, a->before, a->size);
    n->shape = *in;
    return 0;
}

/* Bytes of one float per element of the batch, or SIZE_MAX on overflow. */
static size_t lrn_batch_bytes(const cnn_node *n, int64_t batch) {
    int64_t numel = cnn_mul_i64(cnn_mul_i64(cnn_shape_sample_numel(&n->shape), batch), (int64_t)sizeof(float));
    return numel < 0 ? SIZE_MAX : (size_t)numel;
}

/* Train mode keeps the denominator base d = k + alpha/size * sum a^2 of every element. */
static size_t lrn_state_bytes(const cnn_node *n, int64_t batch, bool training) {
    return training ? lrn_batch_bytes(n, batch) : 0;
}

/* The backward's per-element term dy * y / d. */
static size_t lrn_work_bytes(const cnn_node *n, int64_t batch, bool training) {
    return training ? lrn_batch_bytes(n, batch) : 0;
}

/* y_c = x_c / d_c^beta, d_c = k + alpha * mean of x_{c'}^2 over c' in [c - before, c + size-1-before] with zeros
 * outside [0, C) (PyTorch pads and average-pools with the padding counted, so the divisor is always size). */
static int lrn_forward(const cnn_op_ctx *c) {
    const lrn_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *y = c->out;
    int64_t n = x->shape[0], channels = x->shape[1], plane = x->shape[2] * x->shape[3];
    int64_t before = a->before, after = a->size - 1 - a->before;
    float *denom = c->training ? c->state : NULL; /* (N, C, P), contiguous */
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < channels; ch++) { /* x, y (N, C, P) */
            int64_t lo = ch - before < 0 ? 0 : ch - before, hi = ch + after >= channels ? channels - 1 : ch + after;
            const float *xs = x->data + b * x->stride[0];
            float *yp = y->data + b * y->stride[0] + ch * plane;
            float *dp = denom ? denom + (b * channels + ch) * plane : NULL;
            for (int64_t i = 0; i < plane; i++) {
                float sum = 0.0f;
                for (int64_t w = lo; w <= hi; w++) sum += xs[w * plane + i] * xs[w * plane + i];
                float d = sum / (float)a->size * a->alpha + a->k;
                yp[i] = xs[ch * plane + i] / powf(d, a->beta);
                if (dp) dp[i] = d;
            }
        }
    return 0;
}

/* With t_c = dy_c * y_c / d_c:  dx_j += dy_j / d_j^beta - 2*alpha*beta/size * x_j * sum of t_c over the channels c
 * whose window holds j, i.e. c in [j - (size-1)/2, j + size/2]. */
static int lrn_backward(const cnn_op_ctx *c) {
    const lrn_attrs *a = c->attrs;
    const cnn_tensor *x = c->in[0], *dy = c->dout;
    cnn_tensor *dx = c->din[0];
    if (!dx) return 0;
    if (!c->training) return cnn_fail("lrn '%s': backward needs a training plan", c->node->name);
    int64_t n = x->shape[0], channels = x->shape[1], plane = x->shape[2] * x->shape[3];
    int64_t before = a->size - 1 - a->before, after = a->before; /* the windows holding channel j */
    const float *denom = c->state; /* (N, C, P), contiguous */
    float *t = c->work;             /* (N, C, P), contiguous */
    float coef = 2.0f * a->alpha * a->beta / (float)a->size;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < channels; ch++) {
            const float *xp = x->data + b * x->stride[0] + ch * plane, *gp = dy->data + b * dy->stride[0] + ch * plane;
            const float *dp = denom + (b * channels + ch) * plane;
            float *tp = t + (b * channels + ch) * plane;
            for (int64_t i = 0; i < plane; i++) tp[i] = gp[i] * (xp[i] / powf(dp[i], a->beta)) / dp[i];
        }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < channels; ch++) {
            int64_t lo = ch - before < 0 ? 0 : ch - before, hi = ch + after >= channels ? channels - 1 : ch + after;
            const float *xp = x->data + b * x->stride[0] + ch * plane, *gp = dy->data + b * dy->stride[0] + ch * plane;
            const float *dp = denom + (b * channels + ch) * plane, *ts = t + b * channels * plane;
            float *out = dx->data + b * dx->stride[0] + ch * plane;
            for (int64_t i = 0; i < plane; i++) {
                float sum = 0.0f;
                for (int64_t w = lo; w <= hi; w++) sum += ts[w * plane + i];
                out[i] += gp[i] / powf(dp[i], a->beta) - coef * xp[i] * sum;
            }
        }
    return 0;
}

/* Per sample: the window's size multiply-adds and one scaling per element. */
static int64_t lrn_macs(const cnn_node *n) {
    const lrn_attrs *a = n->attrs;
    return cnn_mul_i64(cnn_shape_sample_numel(&n->shape), (int64_t)a->size + 1);
}

static const cnn_op lrn_op = {.name = "lrn",
                              .shape = lrn_shape,
                              .state_bytes = lrn_state_bytes,
                              .work_bytes = lrn_work_bytes,
                              .forward = lrn_forward,
                              .backward = lrn_backward,
                              .macs = lrn_macs};

cnn_node *cnn_lrn(cnn_graph *g, cnn_node *x, const char *name, int size, float alpha, float beta, float k) {
    return cnn_lrn_window(g, x, name, size, size / 2, alpha, beta, k);
}

cnn_node *cnn_lrn_window(cnn_graph *g, cnn_node *x, const char *name, int size, int before, float alpha, float beta,
                         float k) {
    lrn_attrs a = {size, alpha, beta, k, before};
    return cnn_graph_add_node(g, &lrn_op, name, 1, &x, &a, sizeof a);
}
