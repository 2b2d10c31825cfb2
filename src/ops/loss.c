/* loss.c — softmax cross-entropy over logits (N,K), mean over the batch, with PyTorch's label smoothing. */
#include "ops.h"

#include <math.h>

/* Samples per block: the per-sample losses of a block are kept on the stack and summed in sample
 * order, so the loss has the same bits for any thread count. */
#define CE_BLOCK 256

/* Logits (N,K) as rank 2, or rank 4 with 1x1 spatial dims (N,K,1,1). */
static int logits_dims(const cnn_tensor *t, const char *what, int64_t *n, int64_t *k) {
    if (!t || !t->data) return cnn_fail("cross_entropy: %s is NULL", what);
    if (!(t->rank == 2 || (t->rank == 4 && t->shape[2] == 1 && t->shape[3] == 1)))
        return cnn_fail("cross_entropy: %s must be (N,K) (got rank %d, shape %lldx%lldx%lldx%lld)", what, t->rank,
                        (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3]);
    *n = t->shape[0];
    *k = t->shape[1];
    if (*n < 1 || *k < 1)
        return cnn_fail("cross_entropy: %s has %lld samples of %lld classes; both must be at least 1", what, (long long)*n,
                        (long long)*k);
    if (t->stride[0] < *k || (*k > 1 && t->stride[1] != 1))
        return cnn_fail("cross_entropy: %s has strides %lld,%lld; each sample's K logits must be contiguous", what,
                        (long long)t->stride[0], (long long)t->stride[1]);
    return 0;
}

/* One sample: z (K) -> its loss; g (K), if not NULL, = coef * dloss_i/dz with
 * loss_i = (1-eps) * (-log p_label) + eps * mean_k(-log p_k), log p_k = z_k - logsumexp(z). */
static double sample_loss(const float *z, int64_t k, int64_t label, double eps, float *g, double coef) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < k; j++) mx = fmax(mx, (double)z[j]);
    double sum = 0.0, zsum = 0.0;
    for (int64_t j = 0; j < k; j++) {
        sum += exp((double)z[j] - mx);
        zsum += z[j];
    }
    double lse = mx + log(sum);
    double loss = (1.0 - eps) * (lse - z[label]) + eps * (lse - zsum / (double)k);
    if (g) {
        /* dloss_i/dz_j = p_j - (1-eps) [j == label] - eps/K */
        for (int64_t j = 0; j < k; j++) {
            double d = exp((double)z[j] - lse) - eps / (double)k - (j == label ? 1.0 - eps : 0.0);
            g[j] = (float)(coef * d);
        }
    }
    return loss;
}

int cnn_softmax_cross_entropy(const cnn_tensor *logits, const int64_t *labels, float label_smoothing, float *loss,
                              cnn_tensor *dlogits, float scale) {
    int64_t n, k;
    if (logits_dims(logits, "logits", &n, &k)) return -1;
    if (!labels) return cnn_fail("cross_entropy: labels are NULL");
    if (!loss) return cnn_fail("cross_entropy: loss is NULL");
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return cnn_fail("cross_entropy: label_smoothing must be in [0,1] (got %g)", (double)label_smoothing);
    if (dlogits) {
        int64_t dn, dk;
        if (logits_dims(dlogits, "dlogits", &dn, &dk)) return -1;
        if (dn != n || dk != k)
            return cnn_fail("cross_entropy: dlogits is %lldx%lld but logits are %lldx%lld", (long long)dn, (long long)dk,
                            (long long)n, (long long)k);
    }
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return cnn_fail("cross_entropy: label %lld of sample %lld is outside [0,%lld)", (long long)labels[i], (long long)i,
                            (long long)k);

    double eps = label_smoothing, coef = (double)scale / (double)n, total = 0.0;
    for (int64_t first = 0; first < n; first += CE_BLOCK) {
        int64_t count = n - first < CE_BLOCK ? n - first : CE_BLOCK;
        double part[CE_BLOCK];
#pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < count; b++) {
            int64_t i = first + b;
            const float *z = logits->data + i * logits->stride[0];             /* (K) */
            float *g = dlogits ? dlogits->data + i * dlogits->stride[0] : NULL; /* (K) */
            part[b] = sample_loss(z, k, labels[i], eps, g, coef);
        }
        for (int64_t b = 0; b < count; b++) total += part[b];
    }
    *loss = (float)(total / (double)n);
    return 0;
}
