/* test_errors_norm.c — batchnorm and lrn refusals (bad sizes, eps, momentum, one value per channel in train
 * mode) with their messages, and bitwise-identical results for 1 and 2 threads. */
#include "cnn.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The call failed (returned NULL), the message holds `want`, and the graph kept its node count. */
static int refused(const char *what, const cnn_node *got, const char *want, const cnn_graph *g, int64_t nodes) {
    CHECK(!got, "%s: accepted", what);
    CHECK(strstr(cnn_last_error(), want), "%s: message '%s' lacks '%s'", what, cnn_last_error(), want);
    CHECK(cnn_graph_node_count(g) == nodes, "%s: the graph has %lld nodes, expected %lld", what,
          (long long)cnn_graph_node_count(g), (long long)nodes);
    return 0;
}

static int test_lrn_size(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 4, 3, 3);
    int rc = refused("lrn size 0", cnn_lrn(g, x, "norm", 0, 1e-4f, 0.75f, 1.0f), "lrn 'norm': size must be at least 1 (got 0)", g, 1) ||
                     refused("lrn size -3", cnn_lrn(g, x, "norm", -3, 1e-4f, 0.75f, 1.0f), "size must be at least 1", g, 1)
                 ? -1
                 : 0;
    if (rc == 0 && !cnn_lrn(g, x, "norm", 1, 1e-4f, 0.75f, 1.0f)) {
        harness_message(__FILE__, __LINE__, "lrn size 1 refused: %s", cnn_last_error());
        rc = -1;
    }
    cnn_graph_free(g);
    return rc;
}

/* LRN works across channels of (N,C,H,W); a flat (N,F) input is refused. */
static int test_lrn_rank(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_flatten(g, cnn_input(g, "x", 4, 3, 3), "flat");
    int rc = x ? refused("lrn on (N,F)", cnn_lrn(g, x, "norm", 5, 1e-4f, 0.75f, 1.0f), "expected (N,C,H,W)", g, 2) : -1;
    if (!x) harness_message(__FILE__, __LINE__, "flatten: %s", cnn_last_error());
    cnn_graph_free(g);
    return rc;
}

/* Batch norm takes ranks 2 to 5 (channels in dim 1); a rank-1 input has no channels and is refused. */
static int test_batchnorm_rank(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    const int64_t d1[1] = {0}, d3[3] = {0, 3, 7}, d5[5] = {0, 3, 2, 4, 5};
    cnn_node *x1 = cnn_input_nd(g, "x1", 1, d1), *x3 = cnn_input_nd(g, "x3", 3, d3), *x5 = cnn_input_nd(g, "x5", 5, d5);
    int rc = x1 && x3 && x5 ? refused("batchnorm on (N)", cnn_batchnorm(g, x1, "bn", 1e-5f, 0.1f),
                                      "batchnorm 'bn': input 'x1' has shape (N); expected (N,F), (N,C,L), (N,C,H,W) or (N,C,D,H,W)",
                                      g, 3)
                            : -1;
    cnn_node *b3 = rc == 0 ? cnn_batchnorm(g, x3, "bn3", 1e-5f, 0.1f) : NULL;
    cnn_node *b5 = b3 ? cnn_batchnorm(g, x5, "bn5", 1e-5f, 0.1f) : NULL;
    cnn_param prm;
    if (rc == 0 && (!b3 || !b5 || cnn_param_find(g, "bn5.running_var", &prm) || prm.numel != 3 || cnn_node_rank(b5) != 5)) {
        harness_message(__FILE__, __LINE__, "(N,C,L) or (N,C,D,H,W) refused or wrong: %s", cnn_last_error());
        rc = -1;
    }
    cnn_graph_free(g);
    return rc;
}

static int test_batchnorm_attrs(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 4, 3, 3);
    int rc = refused("eps 0", cnn_batchnorm(g, x, "bn", 0.0f, 0.1f), "batchnorm 'bn': eps must be positive", g, 1) ||
                     refused("eps -1e-5", cnn_batchnorm(g, x, "bn", -1e-5f, 0.1f), "eps must be positive", g, 1) ||
                     refused("eps NaN", cnn_batchnorm(g, x, "bn", NAN, 0.1f), "eps must be positive", g, 1) ||
                     refused("momentum -0.1", cnn_batchnorm(g, x, "bn", 1e-5f, -0.1f), "momentum must be in [0, 1]", g, 1) ||
                     refused("momentum 1.5", cnn_batchnorm(g, x, "bn", 1e-5f, 1.5f), "momentum must be in [0, 1]", g, 1) ||
                     refused("momentum NaN", cnn_batchnorm(g, x, "bn", 1e-5f, NAN), "momentum must be in [0, 1]", g, 1)
                 ? -1
                 : 0;
    /* A refused call adds no parameters, and the same name is still free. */
    if (rc == 0 && cnn_param_count(g) != 0) {
        harness_message(__FILE__, __LINE__, "refused calls left %lld parameters", (long long)cnn_param_count(g));
        rc = -1;
    }
    cnn_node *ok = rc == 0 ? cnn_batchnorm(g, x, "bn", 1e-5f, 1.0f) : NULL;
    if (rc == 0 && (!ok || cnn_param_count(g) != 4)) {
        harness_message(__FILE__, __LINE__, "momentum 1 refused or wrong parameters: %s", cnn_last_error());
        rc = -1;
    }
    const char *names[] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
    for (int i = 0; i < 4 && rc == 0; i++) {
        cnn_param prm;
        if (cnn_param_find(g, names[i], &prm) || prm.numel != 4 || prm.trainable != (i < 2)) {
            harness_message(__FILE__, __LINE__, "parameter %s missing or wrong: %s", names[i], cnn_last_error());
            rc = -1;
        }
    }
    cnn_graph_free(g);
    return rc;
}

/* Input (C,H,W) -> batchnorm: the output. */
static cnn_graph *batchnorm_graph(int64_t c, int64_t h, int64_t w) {
    cnn_graph *g = cnn_graph_create();
    cnn_node *y = cnn_batchnorm(g, cnn_input(g, "x", c, h, w), "bn", 1e-5f, 0.1f);
    if (!y || cnn_graph_add_output(g, y, 0)) {
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

/* Train mode with one value per channel (N*H*W == 1) fails at run time with PyTorch's message; eval mode and
 * train mode with H*W > 1 at batch 1 run. */
static int test_batchnorm_one_value(void *arg) {
    (void)arg;
    cnn_graph *g = batchnorm_graph(3, 1, 1), *g2 = batchnorm_graph(3, 2, 1);
    cnn_plan *train = g ? cnn_plan_create(g, 1, CNN_PLAN_TRAIN) : NULL, *eval = g ? cnn_plan_create(g, 1, 0) : NULL;
    cnn_plan *train2 = g2 ? cnn_plan_create(g2, 1, CNN_PLAN_TRAIN) : NULL;
    cnn_plan *train_batch2 = g ? cnn_plan_create(g, 2, CNN_PLAN_TRAIN) : NULL;
    int rc = -1;
    if (!train || !eval || !train2 || !train_batch2) {
        harness_message(__FILE__, __LINE__, "setup: %s", cnn_last_error());
        goto done;
    }
    for (int i = 0; i < 3; i++) cnn_plan_input(train, 0)->data[i] = (float)i;
    if (cnn_plan_forward(train) == 0) {
        harness_message(__FILE__, __LINE__, "train mode with one value per channel ran");
        goto done;
    }
    if (!strstr(cnn_last_error(), "batchnorm 'bn': Expected more than 1 value per channel when training")) {
        harness_message(__FILE__, __LINE__, "message: '%s'", cnn_last_error());
        goto done;
    }
    cnn_param rm;
    cnn_param_find(g, "bn.running_mean", &rm);
    if (rm.data[0] != 0.0f || rm.data[1] != 0.0f || rm.data[2] != 0.0f) {
        harness_message(__FILE__, __LINE__, "the refused forward changed the running mean");
        goto done;
    }
    if (cnn_plan_forward(eval) || cnn_plan_forward(train2) || cnn_plan_forward(train_batch2)) {
        harness_message(__FILE__, __LINE__, "a valid forward failed: %s", cnn_last_error());
        goto done;
    }
    rc = 0;
done:
    cnn_plan_free(train), cnn_plan_free(eval), cnn_plan_free(train2), cnn_plan_free(train_batch2);
    cnn_graph_free(g), cnn_graph_free(g2);
    return rc;
}

/* ---- thread independence: x (6,5,7) -> batchnorm -> lrn, train mode, at 1 and 2 threads ---- */

typedef struct run_result {
    float *y, *dx, *grads, *running;
    int64_t ny, ngrads;
} run_result;

static float pseudo_random(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 4.0 - 1.7);
}

static int run_train_step(int threads, run_result *r) {
    cnn_set_threads(threads);
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 6, 5, 7);
    cnn_node *y = cnn_lrn(g, cnn_batchnorm(g, x, "bn", 1e-5f, 0.1f), "lrn", 5, 0.5f, 0.75f, 1.0f);
    cnn_plan *p = NULL;
    int rc = -1;
    if (!y || cnn_graph_add_output(g, y, 0) || !(p = cnn_plan_create(g, 8, CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD))) {
        harness_message(__FILE__, __LINE__, "setup: %s", cnn_last_error());
        goto done;
    }
    uint64_t s = 12345;
    float *params = cnn_graph_params(g, &r->ngrads);
    for (int64_t i = 0; i < r->ngrads; i++) params[i] = 1.0f + 0.3f * pseudo_random(&s);
    cnn_tensor *in = cnn_plan_input(p, 0);
    r->ny = cnn_tensor_numel(in);
    for (int64_t i = 0; i < r->ny; i++) in->data[i] = pseudo_random(&s) * (1.0f + (float)(i % 5));
    cnn_graph_zero_grad(g);
    if (cnn_plan_forward(p)) goto done;
    cnn_tensor *dy = cnn_plan_output_grad(p, 0);
    for (int64_t i = 0; i < r->ny; i++) dy->data[i] = pseudo_random(&s);
    if (cnn_plan_backward(p)) goto done;
    r->y = malloc((size_t)r->ny * sizeof(float));
    r->dx = malloc((size_t)r->ny * sizeof(float));
    r->grads = malloc((size_t)r->ngrads * sizeof(float));
    r->running = malloc(12 * sizeof(float));
    memcpy(r->y, cnn_plan_output(p, 0)->data, (size_t)r->ny * sizeof(float));
    memcpy(r->dx, cnn_plan_input_grad(p, 0)->data, (size_t)r->ny * sizeof(float));
    memcpy(r->grads, cnn_graph_grads(g, NULL), (size_t)r->ngrads * sizeof(float));
    cnn_param rm, rv;
    cnn_param_find(g, "bn.running_mean", &rm);
    cnn_param_find(g, "bn.running_var", &rv);
    memcpy(r->running, rm.data, 6 * sizeof(float));
    memcpy(r->running + 6, rv.data, 6 * sizeof(float));
    rc = 0;
done:
    if (rc) harness_message(__FILE__, __LINE__, "%d threads: %s", threads, cnn_last_error());
    cnn_plan_free(p);
    cnn_graph_free(g);
    return rc;
}

static void run_result_free(run_result *r) { free(r->y), free(r->dx), free(r->grads), free(r->running); }

static int test_threads(void *arg) {
    (void)arg;
    run_result one = {0}, two = {0};
    int saved = cnn_get_threads();
    int rc = run_train_step(1, &one) || run_train_step(2, &two) ? -1 : 0;
    cnn_set_threads(saved);
    if (rc == 0) {
        const char *bad = memcmp(one.y, two.y, (size_t)one.ny * sizeof(float))                 ? "output"
                          : memcmp(one.dx, two.dx, (size_t)one.ny * sizeof(float))             ? "input gradient"
                          : memcmp(one.grads, two.grads, (size_t)one.ngrads * sizeof(float))   ? "parameter gradients"
                          : memcmp(one.running, two.running, 12 * sizeof(float))               ? "running statistics"
                                                                                               : NULL;
        if (bad) {
            harness_message(__FILE__, __LINE__, "%s differ between 1 and 2 threads", bad);
            rc = -1;
        }
    }
    run_result_free(&one);
    run_result_free(&two);
    return rc;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    harness_case("lrn: size < 1 refused", test_lrn_size, NULL);
    harness_case("lrn: (N,F) input refused", test_lrn_rank, NULL);
    harness_case("batchnorm: ranks 2 to 5 accepted, rank 1 refused", test_batchnorm_rank, NULL);
    harness_case("batchnorm: bad eps and momentum refused", test_batchnorm_attrs, NULL);
    harness_case("batchnorm: one value per channel refused in train mode", test_batchnorm_one_value, NULL);
    harness_case("batchnorm + lrn: bitwise identical with 1 and 2 threads", test_threads, NULL);
    return harness_finish();
}
