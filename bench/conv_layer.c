/* conv_layer.c — times one conv2d layer alone in a training plan: the forward, and the backward with
 * the input gradient (dx + dW + db) or without it (dW + db). Best of 8 steps each, ms and GFLOP/s
 * counted in direct multiply-adds (a Winograd layer does fewer). Built by `make build/bench/conv_layer`.
 *
 *   build/bench/conv_layer C K SIZE BATCH [KERNEL [STRIDE [PAD]]]
 *   build/bench/conv_layer 96 32 32 64            # MiniGoogLeNet's first 3x3 branch (Winograd in training)
 *   build/bench/conv_layer 80 80 32 64 3 2 0      # its first downsample convolution (3x3/2)
 *
 * Threads: OMP_NUM_THREADS. */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One plan (with or without the input gradient): the best forward and backward seconds of 8 steps. */
static int time_plan(cnn_graph *g, int64_t batch, bool input_grad, double *fwd, double *bwd) {
    cnn_plan *p = cnn_plan_create(g, batch, CNN_PLAN_TRAIN | (input_grad ? CNN_PLAN_INPUT_GRAD : 0));
    if (!p) return -1;
    cnn_tensor *in = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < in->shape[0] * in->stride[0]; i++) in->data[i] = (float)(i % 13) / 13.0f - 0.5f;
    *fwd = *bwd = 1e30;
    for (int step = 0; step < 8; step++) {
        const double t0 = now();
        if (cnn_plan_forward(p)) break;
        const double t1 = now();
        cnn_tensor *gy = cnn_plan_output_grad(p, 0);
        for (int64_t i = 0; i < gy->shape[0] * gy->stride[0]; i++) gy->data[i] = (float)(i % 7) / 7.0f - 0.5f;
        const double t2 = now();
        if (cnn_plan_backward(p)) break;
        const double t3 = now();
        if (t1 - t0 < *fwd) *fwd = t1 - t0;
        if (t3 - t2 < *bwd) *bwd = t3 - t2;
    }
    cnn_plan_free(p);
    return *bwd < 1e30 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 8) {
        fprintf(stderr, "usage: %s C K SIZE BATCH [KERNEL [STRIDE [PAD]]]\n", argv[0]);
        return 2;
    }
    long v[7] = {0, 0, 0, 0, 3, 1, -1};
    for (int i = 1; i < argc; i++) {
        char *end;
        v[i - 1] = strtol(argv[i], &end, 10);
        if (*end || v[i - 1] < (i == 7 ? 0 : 1)) {
            fprintf(stderr, "%s: argument %d '%s' is not a %s integer\n", argv[0], i, argv[i], i == 7 ? "non-negative" : "positive");
            return 2;
        }
    }
    const long c = v[0], k = v[1], size = v[2], batch = v[3], ks = v[4], stride = v[5], pad = v[6] >= 0 ? v[6] : ks / 2;
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = g ? cnn_input(g, "x", c, size, size) : NULL;
    cnn_node *y = cnn_conv2d(g, x, "conv", k, (int)ks, (int)ks, (int)stride, (int)pad, true);
    double fwd, bwd_all, fwd2, bwd_dw;
    if (!y || cnn_graph_add_output(g, y, 0) || cnn_graph_init_params(g, 1) || time_plan(g, batch, true, &fwd, &bwd_all) ||
        time_plan(g, batch, false, &fwd2, &bwd_dw)) {
        fprintf(stderr, "%s: %s\n", argv[0], cnn_last_error());
        cnn_graph_free(g);
        return 1;
    }
    const long out = (size + 2 * pad - ks) / stride + 1;
    const double gflop = 2.0 * (double)batch * (double)(out * out) * (double)k * (double)c * (double)(ks * ks) / 1e9;
    printf("conv %ldx%ld/%ld pad %ld, %ld -> %ld channels, %ldx%ld, batch %ld: forward %.2f ms (%.0f GFLOP/s), dW+db %.2f ms, "
           "dx %.2f ms, backward %.2f ms (%.0f GFLOP/s)\n",
           ks, ks, stride, pad, c, k, size, size, batch, fwd * 1e3, gflop / fwd, bwd_dw * 1e3, (bwd_all - bwd_dw) * 1e3, bwd_all * 1e3,
           2 * gflop / bwd_all);
    cnn_graph_free(g);
    return 0;
}
