/* optimizer.c — PyTorch's SGD and Adam as one element-wise loop over the graph's flat parameter, gradient and moment buffers. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The update rules below reproduce PyTorch 1.13's single-tensor SGD and Adam bit for bit, which
 * means every rounding happens where PyTorch's kernels round. PyTorch's AVX2 / AVX-512 kernels
 * fuse `a + alpha*b` (add with alpha) and `self + value*t1*t2` (addcmul) into one FMA; its
 * DEFAULT kernels (CPUs without FMA) do not. So we pick fused or plain arithmetic by the same CPU
 * test, and forbid the compiler from fusing anything by itself: every other product is rounded
 * before it is added, as in PyTorch's separate mul_ / add_ kernels. Unswitching the loops on their
 * invariant flags (weight decay, momentum, Nesterov, first step) lets -O2 vectorise SGD; Adam's
 * sqrtf stays scalar while errno is on. Vector and scalar IEEE operations give the same bits. */
#pragma GCC optimize("fp-contract=off", "unswitch-loops")

/* Elements per OpenMP work item: the update is element-wise, so any split gives the same bits. */
#define OPT_BLOCK 8192

struct cnn_optimizer {
    cnn_graph *graph;
    cnn_optimizer_kind kind;
    int64_t count;            /* trainable values when created; the buffers below have this length */
    float momentum, weight_decay, eps;
    bool nesterov;
    double beta1, beta2;      /* the decimals the float options stand for (train.h) */
    int n_states;
    float *state[2];          /* SGD: momentum_buffer (with momentum); Adam: exp_avg, exp_avg_sq */
    const char *state_name[2];
    int64_t steps;
    bool fused;               /* a + b*c with one rounding, like PyTorch's vectorised kernels here */
};

/* The scalars of one step, already rounded the way PyTorch rounds them. */
typedef struct update_args {
    float *param, *grad, *m, *v;
    float lr, weight_decay, momentum;
    bool nesterov, first;             /* SGD: the first step copies d into the momentum buffer */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float bias_correction2_sqrt, eps, neg_step_size;
} update_args;

static inline __attribute__((always_inline)) float mul_add(float a, float b, float c, bool fused) {
    return fused ? fmaf(a, b, c) : a * b + c;
}

/* torch.optim.SGD (dampening 0) on elements [begin, end):
 * d = g + wd*p; buf = d (first step) or momentum*buf + d; d = d + momentum*buf (Nesterov) or buf;
 * p -= lr*d. The scalars are copied to locals so the compiler sees them as loop-invariant (the
 * stores cannot change them) and can unswitch and vectorise the loop. */
static inline __attribute__((always_inline)) void sgd_range(const update_args *a, int64_t begin, int64_t end, bool fused) {
    float *restrict p = a->param, *restrict buf = a->m;
    const float *restrict g = a->grad;
    const float weight_decay = a->weight_decay, momentum = a->momentum, neg_lr = -a->lr;
    const bool decay = weight_decay != 0.0f, use_momentum = momentum != 0.0f, first = a->first, nesterov = a->nesterov;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
        float pi = p[i], d = g[i];
        d = decay ? mul_add(pi, weight_decay, d, fused) : d; /* d_p.add(param, alpha=wd) */
        if (use_momentum) {
            float b = first ? d : buf[i] * momentum + d;       /* buf.mul_(momentum).add_(d_p) */
            buf[i] = b;
            d = nesterov ? mul_add(b, momentum, d, fused) : b; /* d_p.add(buf, alpha=momentum) */
        }
        p[i] = mul_add(d, neg_lr, pi, fused);                /* param.add_(d_p, alpha=-lr) */
    }
}

/* torch.optim.Adam (amsgrad off) on elements [begin, end), in PyTorch's order of operations:
 * g += wd*p; m = m*b1 + (1-b1)*g; v = v*b2 + (1-b2)*g*g;
 * p += (-lr/bias_correction1) * m / (sqrt(v) / sqrt(bias_correction2) + eps). */
static inline __attribute__((always_inline)) void adam_range(const update_args *a, int64_t begin, int64_t end, bool fused) {
    float *restrict p = a->param, *restrict m = a->m, *restrict v = a->v;
    const float *restrict g = a->grad;
    const float weight_decay = a->weight_decay, beta1 = a->beta1, one_minus_beta1 = a->one_minus_beta1;
    const float beta2 = a->beta2, one_minus_beta2 = a->one_minus_beta2, bias_correction2_sqrt = a->bias_correction2_sqrt;
    const float eps = a->eps, neg_step_size = a->neg_step_size;
    const bool decay = weight_decay != 0.0f;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
        float pi = p[i], gi = g[i];
        gi = decay ? mul_add(pi, weight_decay, gi, fused) : gi;          /* grad.add(param, alpha=wd) */
        float mi = mul_add(gi, one_minus_beta1, m[i] * beta1, fused);      /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        float vi = mul_add(one_minus_beta2 * gi, gi, v[i] * beta2, fused); /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
        float denom = sqrtf(vi) / bias_correction2_sqrt + eps;             /* (v.sqrt() / bc2_sqrt).add_(eps) */
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + (neg_step_size * mi) / denom;                          /* p.addcdiv_(m, denom, value=-step_size) */
    }
}

typedef void (*update_fn)(const update_args *a, int64_t begin, int64_t end);

static void sgd_plain(const update_args *a, int64_t begin, int64_t end) { sgd_range(a, begin, end, false); }
static void adam_plain(const update_args *a, int64_t begin, int64_t end) { adam_range(a, begin, end, false); }
#if defined(__x86_64__) || defined(__i386__)
/* Compiled for FMA so that fmaf is one instruction; chosen only where the CPU has it. */
__attribute__((target("avx2,fma"))) static void sgd_fused(const update_args *a, int64_t begin, int64_t end) {
    sgd_range(a, begin, end, true);
}
__attribute__((target("avx2,fma"))) static void adam_fused(const update_args *a, int64_t begin, int64_t end) {
    adam_range(a, begin, end, true);
}
/* PyTorch runs its AVX2 (or AVX-512) kernels where the CPU has AVX2 and FMA, else DEFAULT ones. */
static bool cpu_fuses(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
/* Elsewhere (NEON) PyTorch's vectorised kernels fuse; fmaf is exact either way. */
static void sgd_fused(const update_args *a, int64_t begin, int64_t end) { sgd_range(a, begin, end, true); }
static void adam_fused(const update_args *a, int64_t begin, int64_t end) { adam_range(a, begin, end, true); }
static bool cpu_fuses(void) { return true; }
#endif

static bool finite_nonnegative(float x) { return isfinite(x) && x >= 0.0f; }

/* Checks the options and fills the optimizer's copy; PyTorch's defaults for zero Adam fields. */
static int check_options(cnn_optimizer *opt, const cnn_optimizer_options *o) {
    const char *what = o->kind == CNN_OPT_ADAM ? "adam" : "sgd";
    if (o->kind != CNN_OPT_SGD && o->kind != CNN_OPT_ADAM)
        return cnn_fail("optimizer: unknown kind %d (CNN_OPT_SGD or CNN_OPT_ADAM)", (int)o->kind);
    if (!finite_nonnegative(o->weight_decay))
        return cnn_fail("%s: weight decay must be a finite number >= 0, got %g", what, (double)o->weight_decay);
    opt->kind = o->kind;
    opt->weight_decay = o->weight_decay;
    if (o->kind == CNN_OPT_SGD) {
        if (!finite_nonnegative(o->momentum))
            return cnn_fail("sgd: momentum must be a finite number >= 0, got %g", (double)o->momentum);
        if (o->nesterov && o->momentum == 0.0f) return cnn_fail("sgd: nesterov needs a momentum > 0");
        opt->momentum = o->momentum;
        opt->nesterov = o->nesterov;
        return 0;
    }
    if (o->momentum != 0.0f) return cnn_fail("adam: momentum applies to SGD only (Adam has beta1 and beta2)");
    if (o->nesterov) return cnn_fail("adam: nesterov applies to SGD only");
    const char *names[2] = {"beta1", "beta2"};
    float betas[2] = {o->beta1 != 0.0f ? o->beta1 : 0.9f, o->beta2 != 0.0f ? o->beta2 : 0.999f};
    for (int i = 0; i < 2; i++)
        if (!(betas[i] >= 0.0f && betas[i] < 1.0f))
            return cnn_fail("adam: %s must be in [0, 1), got %g", names[i], (double)betas[i]);
    if (!finite_nonnegative(o->eps)) return cnn_fail("adam: eps must be a finite number >= 0, got %g", (double)o->eps);
    opt->beta1 = o->beta1 != 0.0f ? cnn_typed_decimal(o->beta1) : 0.9;
    opt->beta2 = o->beta2 != 0.0f ? cnn_typed_decimal(o->beta2) : 0.999;
    opt->eps = o->eps != 0.0f ? o->eps : 1e-8f;
    return 0;
}

cnn_optimizer *cnn_optimizer_create(cnn_graph *g, const cnn_optimizer_options *o) {
    if (!g) return cnn_fail_null("optimizer: graph is NULL");
    if (!o) return cnn_fail_null("optimizer: options are NULL");
    cnn_optimizer *opt = cnn_calloc(1, sizeof *opt, "optimizer");
    if (!opt) return NULL;
    if (check_options(opt, o)) goto fail;
    opt->graph = g;
    opt->fused = cpu_fuses();
    if (!cnn_graph_grads(g, &opt->count)) goto fail; /* gradients exist from here on */
    if (opt->kind == CNN_OPT_SGD && opt->momentum != 0.0f) {
        opt->n_states = 1;
        opt->state_name[0] = "momentum_buffer";
    } else if (opt->kind == CNN_OPT_ADAM) {
        opt->n_states = 2;
        opt->state_name[0] = "exp_avg";
        opt->state_name[1] = "exp_avg_sq";
    }
    for (int i = 0; i < opt->n_states; i++)
        if (!(opt->state[i] = cnn_calloc((size_t)(opt->count ? opt->count : 1), sizeof(float), opt->state_name[i]))) goto fail;
    return opt;
fail:
    cnn_optimizer_free(opt);
    return NULL;
}

void cnn_optimizer_free(cnn_optimizer *opt) {
    if (!opt) return;
    for (int i = 0; i < 2; i++) free(opt->state[i]);
    free(opt);
}

int cnn_optimizer_step(cnn_optimizer *opt, float lr) {
    if (!opt) return cnn_fail("optimizer: NULL optimizer");
    const char *what = opt->kind == CNN_OPT_ADAM ? "adam" : "sgd";
    if (!finite_nonnegative(lr)) return cnn_fail("%s: learning rate must be a finite number >= 0, got %g", what, (double)lr);
    int64_t count, grad_count;
    float *param = cnn_graph_params(opt->graph, &count);
    float *grad = cnn_graph_grads(opt->graph, &grad_count); /* fetched each step: adding layers moves them */
    if (!grad) return -1;
    if (count != opt->count)
        return cnn_fail("%s: the graph has %lld trainable values but had %lld when the optimizer was created", what,
                        (long long)count, (long long)opt->count);
    update_args a = {.param = param, .grad = grad, .m = opt->state[0], .v = opt->state[1], .lr = lr,
                     .weight_decay = opt->weight_decay, .momentum = opt->momentum, .nesterov = opt->nesterov,
                     .first = opt->steps == 0, .eps = opt->eps};
    update_fn fn;
    if (opt->kind == CNN_OPT_SGD) {
        fn = opt->fused ? sgd_fused : sgd_plain;
    } else {
        /* PyTorch: step_size = lr / (1 - beta1^t) and sqrt(1 - beta2^t) in double, then rounded to
         * float where they meet the tensors; likewise beta, 1 - beta. */
        double t = (double)(opt->steps + 1), lr_typed = cnn_typed_decimal(lr);
        double bias_correction1 = 1.0 - pow(opt->beta1, t), bias_correction2 = 1.0 - pow(opt->beta2, t);
        a.beta1 = (float)opt->beta1;
        a.beta2 = (float)opt->beta2;
        a.one_minus_beta1 = (float)(1.0 - opt->beta1);
        a.one_minus_beta2 = (float)(1.0 - opt->beta2);
        a.bias_correction2_sqrt = (float)sqrt(bias_correction2);
        a.neg_step_size = (float)(-(lr_typed / bias_correction1));
        fn = opt->fused ? adam_fused : adam_plain;
    }
    int64_t blocks = (count + OPT_BLOCK - 1) / OPT_BLOCK;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t begin = b * OPT_BLOCK, end = begin + OPT_BLOCK < count ? begin + OPT_BLOCK : count;
        fn(&a, begin, end);
    }
    opt->steps++;
    return 0;
}

int cnn_optimizer_state_count(const cnn_optimizer *opt) { return opt ? opt->n_states : 0; }

float *cnn_optimizer_state(cnn_optimizer *opt, int i, const char **name, int64_t *count) {
    if (!opt) return cnn_fail_null("optimizer: NULL optimizer");
    if (i < 0 || i >= opt->n_states)
        return cnn_fail_null("optimizer: no state buffer %d (this optimizer has %d)", i, opt->n_states);
    if (name) *name = opt->state_name[i];
    if (count) *count = opt->count;
    return opt->state[i];
}

int64_t cnn_optimizer_steps(const cnn_optimizer *opt) { return opt ? opt->steps : 0; }

void cnn_optimizer_set_steps(cnn_optimizer *opt, int64_t steps) {
    if (opt) opt->steps = steps > 0 ? steps : 0;
}
