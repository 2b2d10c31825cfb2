/* norm.c — batch normalisation (batch statistics in train mode, running statistics in eval) and local response normalisation. */
#include "ops.h"
#include "attrs.h"

#include <math.h>
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

/* y = x * scale + shift over channel k of every sample; x, y are (N, C, P) with sample strides.
 * CNN_CLONES on this and batchnorm_dx, elementwise loops, but not on the channel sums: a vector
 * reduction's lanes are as many as the vector is wide, so a wider version would add in another
 * order. */
CNN_CLONES static void batchnorm_apply(const cnn_tensor *x, const cnn_tensor *y, int64_t k, int64_t plane, float scale,
                            float shift, bool relu) {
    for (int64_t b = 0; b < x->shape[0]; b++) {
        const float *restrict xp = x->data + b * x->stride[0] + k * plane;
        float *restrict yp = y->data + b * y->stride[0] + k * plane;
        if (relu) { /* a following ReLU folded in (training plans: CNN_CAP_TRAIN_RELU) */
#pragma omp simd
            for (int64_t i = 0; i < plane; i++) {
                const float v = xp[i] * scale + shift;
                yp[i] = v <= 0.0f ? 0.0f : v; /* as relu_fwd: NaN stays */
            }
        } else {
#pragma omp simd
            for (int64_t i = 0; i < plane; i++) yp[i] = xp[i] * scale + shift;
        }
    }
}

/* The gradient at the batch norm's output from the folded ReLU's: what the ReLU's backward adds into
 * a zeroed buffer (0 + (z > 0 ? g : 0)), z the ReLU's output. */
static inline float relu_grad(float z, float g) {
    /* the select as a bit mask: vectorizes inside the sums' simd reduction where a ?: did not */
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
            batchnorm_apply(x, y, k, plane, scale, shift, false);
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
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < channels; k++) {
        /* One pass: sums of d = x - shift and d^2 in double, shifted by the channel's first value
         * so that sq - sum^2/count does not cancel (the spread of d is the spread of x). Each
         * sample's run is one vector reduction, its lanes in a fixed order: the same for any
         * thread count. */
        const double shift = x->data[k * plane];
        double sum = 0.0, sq = 0.0;
        for (int64_t b = 0; b < n; b++) { /* x (N, C, P) */
            const float *xp = x->data + b * x->stride[0] + k * plane;
            double s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s1, s2)
            for (int64_t i = 0; i < plane; i++) {
                double d = (double)xp[i] - shift;
                s1 += d;
                s2 += d * d;
            }
            sum += s1;
            sq += s2;
        }
        double mu = shift + sum / (double)count;
        sq -= sum * (sum / (double)count); /* sum of (x - mu)^2 */
        if (sq < 0.0) sq = 0.0;
        double is = 1.0 / sqrt(sq / (double)count + a->eps);
        mean[k] = mu;
        invstd[k] = is;
        running_mean[k] = (float)((1.0 - momentum) * running_mean[k] + momentum * mu);
        running_var[k] = (float)((1.0 - momentum) * running_var[k] + momentum * (sq / (double)(count - 1)));
        double scale = weight[k] * is;
        batchnorm_apply(x, y, k, plane, (float)scale, (float)(bias[k] - mu * scale), c->epi_relu);
    }
    return 0;
}

/* dx += coef * (dy - mean_dy - (x - mu) * proj) over channel k of every sample. */
CNN_CLONES static void batchnorm_dx(const cnn_tensor *x, const cnn_tensor *dy, const cnn_tensor *dx, int64_t k, int64_t plane,
                                    float coef, float mean_dy, float proj, float muf) {
    for (int64_t b = 0; b < x->shape[0]; b++) {
        const float *restrict xp = x->data + b * x->stride[0] + k * plane;
        const float *restrict gp = dy->data + b * dy->stride[0] + k * plane;
        float *restrict dp = dx->data + b * dx->stride[0] + k * plane;
#pragma omp simd
        for (int64_t i = 0; i < plane; i++) dp[i] += coef * (gp[i] - mean_dy - (xp[i] - muf) * proj);
    }
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
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < channels; k++) {
        double sum_dy = 0.0, sum_dy_xmu = 0.0, mu = mean[k];
        for (int64_t b = 0; b < n; b++) { /* x, dy (N, C, P); one vector reduction per sample, fixed lanes */
            const float *xp = x->data + b * x->stride[0] + k * plane, *gp = dy->data + b * dy->stride[0] + k * plane;
            double s1 = 0.0, s2 = 0.0;
            if (c->epi_relu) { /* the folded ReLU's gradient becomes ours in place (read once more below) */
                const float *restrict zp = c->out->data + b * c->out->stride[0] + k * plane;
                float *restrict gw = dy->data + b * dy->stride[0] + k * plane;
#pragma omp simd reduction(+ : s1, s2)
                for (int64_t i = 0; i < plane; i++) {
                    const float z = zp[i], gv = gw[i], g = relu_grad(z, gv);
                    gw[i] = g;
                    s1 += g;
                    s2 += g * (xp[i] - mu);
                }
            } else {
#pragma omp simd reduction(+ : s1, s2)
                for (int64_t i = 0; i < plane; i++) {
                    s1 += gp[i];
                    s2 += gp[i] * (xp[i] - mu);
                }
            }
            sum_dy += s1;
            sum_dy_xmu += s2;
        }
        if (dweight) dweight[k] += (float)(sum_dy_xmu * invstd[k]);
        if (dbias) dbias[k] += (float)sum_dy;
        if (!dx) continue;
        float coef = (float)(weight[k] * invstd[k]), mean_dy = (float)(sum_dy / count);
        float proj = (float)(sum_dy_xmu * invstd[k] * invstd[k] / count), muf = (float)mu;
        batchnorm_dx(x, dy, dx, k, plane, coef, mean_dy, proj, muf);
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
