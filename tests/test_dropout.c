/* test_dropout.c — train-mode dropout masks: rate, scaling, determinism per seed and step, thread independence,
 * the backward's agreement with the forward's mask, the edge rates p = 0 and p = 1, and refused rates. */
#include "cnn.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Input (C,H,W) -> dropout(p): the graph output. */
typedef struct net {
    cnn_graph *g;
    cnn_plan *p;
    int64_t numel;
} net;

#define C 16
#define H 64
#define W 64
#define BATCH 4

static void net_free(net *n) {
    cnn_plan_free(n->p);
    cnn_graph_free(n->g);
}

/* Inputs never zero, so a zero output marks a dropped element. */
static float input_value(int64_t i) { return (float)((i % 13) - 6.5) * 0.37f + 0.01f * (float)(i % 7); }

static int net_make(net *n, float p, int64_t batch, unsigned flags) {
    memset(n, 0, sizeof *n);
    n->g = cnn_graph_create();
    cnn_node *x = cnn_input(n->g, "x", C, H, W);
    cnn_node *y = cnn_dropout(n->g, x, "drop", p);
    CHECK(y && cnn_graph_add_output(n->g, y, 0) == 0, "building: %s", cnn_last_error());
    n->p = cnn_plan_create(n->g, batch, flags);
    CHECK(n->p, "plan: %s", cnn_last_error());
    cnn_tensor *in = cnn_plan_input(n->p, 0);
    n->numel = batch * C * H * W;
    for (int64_t i = 0; i < n->numel; i++) in->data[i] = input_value(i);
    return 0;
}

#define TRAIN (CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD)

static int forward(net *n, uint64_t seed, uint64_t step) {
    cnn_plan_set_seed(n->p, seed, step);
    CHECK(cnn_plan_forward(n->p) == 0, "forward: %s", cnn_last_error());
    return 0;
}

static const float *output(const net *n) { return cnn_plan_output(n->p, 0)->data; }

/* The fraction of zeros is within 5 standard errors of p, and every kept value is exactly x * (1/(1-p)). */
static int check_rate(float p) {
    net n;
    int rc = -1;
    if (net_make(&n, p, BATCH, TRAIN) || forward(&n, 42, 0)) goto done;
    const float *x = cnn_plan_input(n.p, 0)->data, *y = output(&n);
    float scale = 1.0f / (1.0f - p);
    int64_t zeros = 0;
    for (int64_t i = 0; i < n.numel; i++) {
        if (y[i] == 0.0f) {
            zeros++;
        } else if (y[i] != x[i] * scale) {
            harness_message(__FILE__, __LINE__, "p=%g: element %lld is %.9g, not x/(1-p) = %.9g", (double)p,
                            (long long)i, (double)y[i], (double)(x[i] * scale));
            goto done;
        }
    }
    double frac = (double)zeros / (double)n.numel, se = sqrt((double)p * (1 - p) / (double)n.numel);
    if (fabs(frac - p) > 5 * se) {
        harness_message(__FILE__, __LINE__, "p=%g: dropped fraction %.5f, more than 5 standard errors (%.5f) away",
                        (double)p, frac, se);
        goto done;
    }
    rc = 0;
done:
    net_free(&n);
    return rc;
}

static int test_rate(void *arg) {
    (void)arg;
    const float rates[] = {0.5f, 0.1f, 0.3f, 0.9f};
    for (size_t i = 0; i < sizeof rates / sizeof *rates; i++)
        if (check_rate(rates[i])) return -1;
    return 0;
}

/* Two independent masks at p = 0.5 disagree on about half of the elements. */
static int check_independent(const float *first, const net *n, const char *what) {
    int64_t differ = 0;
    for (int64_t i = 0; i < n->numel; i++) differ += (first[i] == 0.0f) != (output(n)[i] == 0.0f);
    double frac = (double)differ / (double)n->numel;
    CHECK(fabs(frac - 0.5) < 0.01, "%s: masks disagree on %.4f of the elements, expected about 0.5", what, frac);
    return 0;
}

/* Same (seed, step): the same mask; the next step, or another seed: a different one. */
static int test_seed_and_step(void *arg) {
    (void)arg;
    net n;
    int rc = -1;
    float *first = NULL;
    if (net_make(&n, 0.5f, BATCH, TRAIN) || forward(&n, 7, 3)) goto done;
    first = malloc((size_t)n.numel * sizeof(float));
    memcpy(first, output(&n), (size_t)n.numel * sizeof(float));
    if (forward(&n, 7, 3)) goto done;
    if (memcmp(first, output(&n), (size_t)n.numel * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "the same seed and step gave a different mask");
        goto done;
    }
    /* The forward just run advanced the step to 4: another forward draws step 4's mask. */
    if (cnn_plan_forward(n.p) || check_independent(first, &n, "the next step")) goto done;
    if (forward(&n, 8, 3) || check_independent(first, &n, "another seed")) goto done;
    rc = 0;
done:
    free(first);
    net_free(&n);
    return rc;
}

/* Forward and backward with one thread and with two give the same bits. */
static int run_threads(int threads, float *y, float *dx, int64_t numel) {
    net n;
    int rc = -1;
    cnn_set_threads(threads);
    if (net_make(&n, 0.4f, BATCH, TRAIN) || forward(&n, 99, 5)) goto done;
    memcpy(y, output(&n), (size_t)numel * sizeof(float));
    cnn_tensor *dy = cnn_plan_output_grad(n.p, 0);
    for (int64_t i = 0; i < numel; i++) dy->data[i] = input_value(i * 31 + 5);
    if (cnn_plan_backward(n.p)) {
        harness_message(__FILE__, __LINE__, "backward: %s", cnn_last_error());
        goto done;
    }
    memcpy(dx, cnn_plan_input_grad(n.p, 0)->data, (size_t)numel * sizeof(float));
    rc = 0;
done:
    net_free(&n);
    return rc;
}

static int test_threads(void *arg) {
    (void)arg;
    int64_t numel = (int64_t)BATCH * C * H * W;
    float *y1 = malloc((size_t)numel * sizeof(float)), *y2 = malloc((size_t)numel * sizeof(float));
    float *d1 = malloc((size_t)numel * sizeof(float)), *d2 = malloc((size_t)numel * sizeof(float));
    int saved = cnn_get_threads();
    int rc = run_threads(1, y1, d1, numel) || run_threads(2, y2, d2, numel) ? -1 : 0;
    cnn_set_threads(saved);
    if (rc == 0 && memcmp(y1, y2, (size_t)numel * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "forward differs between 1 and 2 threads");
        rc = -1;
    }
    if (rc == 0 && memcmp(d1, d2, (size_t)numel * sizeof(float)) != 0) {
        harness_message(__FILE__, __LINE__, "backward differs between 1 and 2 threads");
        rc = -1;
    }
    free(y1), free(y2), free(d1), free(d2);
    return rc;
}

/* Eval plans, and train plans made with CNN_PLAN_NO_DROPOUT, pass the input through unchanged. */
static int test_identity(void *arg) {
    (void)arg;
    const unsigned flags[] = {0, CNN_PLAN_TRAIN | CNN_PLAN_NO_DROPOUT};
    for (int k = 0; k < 2; k++) {
        net n;
        int rc = net_make(&n, 0.5f, 2, flags[k]) || forward(&n, 3, 0) ? -1 : 0;
        if (rc == 0 && memcmp(output(&n), cnn_plan_input(n.p, 0)->data, (size_t)n.numel * sizeof(float)) != 0) {
            harness_message(__FILE__, __LINE__, "%s: output is not the input", k == 0 ? "eval" : "no-dropout");
            rc = -1;
        }
        net_free(&n);
        if (rc) return -1;
    }
    return 0;
}

/* dx = dy * (1/(1-p)) where the forward kept the element, 0 where it dropped it; and gradients add up. */
static int test_backward(void *arg) {
    (void)arg;
    net n;
    int rc = -1;
    if (net_make(&n, 0.3f, 2, TRAIN) || forward(&n, 11, 2)) goto done;
    const float *y = output(&n);
    float scale = 1.0f / (1.0f - 0.3f);
    cnn_tensor *dy = cnn_plan_output_grad(n.p, 0);
    for (int64_t i = 0; i < n.numel; i++) dy->data[i] = input_value(i * 17 + 3);
    if (cnn_plan_backward(n.p)) goto done;
    const float *dx = cnn_plan_input_grad(n.p, 0)->data;
    for (int64_t i = 0; i < n.numel; i++) {
        float want = y[i] != 0.0f ? dy->data[i] * scale : 0.0f;
        if (dx[i] != want) {
            harness_message(__FILE__, __LINE__, "dx[%lld] = %.9g, expected %.9g (output %.9g)", (long long)i,
                            (double)dx[i], (double)want, (double)y[i]);
            goto done;
        }
    }
    rc = 0;
done:
    net_free(&n);
    return rc;
}

/* p = 0: the identity with gradient dy; p = 1: zeros with gradient 0. */
static int test_edge_rates(void *arg) {
    (void)arg;
    const float rates[] = {0.0f, 1.0f};
    for (int k = 0; k < 2; k++) {
        net n;
        int rc = -1;
        if (net_make(&n, rates[k], 2, TRAIN) || forward(&n, 5, 0)) goto next;
        const float *x = cnn_plan_input(n.p, 0)->data, *y = output(&n);
        cnn_tensor *dy = cnn_plan_output_grad(n.p, 0);
        for (int64_t i = 0; i < n.numel; i++) dy->data[i] = input_value(i + 1);
        if (cnn_plan_backward(n.p)) goto next;
        const float *dx = cnn_plan_input_grad(n.p, 0)->data;
        for (int64_t i = 0; i < n.numel; i++) {
            float want_y = k == 0 ? x[i] : 0.0f, want_dx = k == 0 ? dy->data[i] : 0.0f;
            if (y[i] != want_y || dx[i] != want_dx) {
                harness_message(__FILE__, __LINE__, "p=%g: element %lld: y %.9g dx %.9g, expected %.9g and %.9g",
                                (double)rates[k], (long long)i, (double)y[i], (double)dx[i], (double)want_y,
                                (double)want_dx);
                goto next;
            }
        }
        rc = 0;
    next:
        net_free(&n);
        if (rc) return -1;
    }
    return 0;
}

/* p outside [0, 1] (or NaN) is refused with a message naming the layer, and the graph is unchanged. */
static int test_bad_rate(void *arg) {
    (void)arg;
    const float bad[] = {-0.1f, 1.5f, NAN, INFINITY};
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_input(g, "x", 3, 4, 4);
    int rc = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad && rc == 0; i++) {
        cnn_clear_error();
        cnn_node *y = cnn_dropout(g, x, "drop", bad[i]);
        if (y || !strstr(cnn_last_error(), "dropout 'drop': p must be in [0, 1]") || cnn_graph_node_count(g) != 1) {
            harness_message(__FILE__, __LINE__, "p=%g: got %p, error '%s'", (double)bad[i], (void *)y, cnn_last_error());
            rc = -1;
        }
    }
    cnn_graph_free(g);
    return rc;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    harness_case("dropout: rate and scaling of kept values", test_rate, NULL);
    harness_case("dropout: same seed and step, same mask; next step or seed, another", test_seed_and_step, NULL);
    harness_case("dropout: bitwise identical with 1 and 2 threads", test_threads, NULL);
    harness_case("dropout: identity in eval mode and with CNN_PLAN_NO_DROPOUT", test_identity, NULL);
    harness_case("dropout: backward follows the forward's mask", test_backward, NULL);
    harness_case("dropout: p = 0 and p = 1", test_edge_rates, NULL);
    harness_case("dropout: bad p refused", test_bad_rate, NULL);
    return harness_finish();
}
