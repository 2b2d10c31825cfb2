/* run.c — `cnn run MODEL --weights W --input X.npy --output Y.npy`: eval-mode logits of the main head. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define RUN_CHUNK 16 /* samples per forward: bounds activation memory for large inputs */

/* Forward of n samples from x (N,C,H,W) into y (N,classes) through plans of at most RUN_CHUNK. */
static int forward_all(cnn_graph *g, const float *x, int64_t n, int64_t sample, float *y, int64_t classes) {
    cnn_plan *plan = NULL;
    int64_t planned = 0;
    for (int64_t at = 0; at < n;) {
        int64_t b = n - at < RUN_CHUNK ? n - at : RUN_CHUNK;
        if (b != planned) {
            cnn_plan_free(plan);
            plan = cnn_plan_create(g, b, 0);
            if (!plan) return -1;
            planned = b;
        }
        memcpy(cnn_plan_input(plan, 0)->data, x + at * sample, (size_t)(b * sample) * sizeof(float));
        if (cnn_plan_forward(plan)) {
            cnn_plan_free(plan);
            return -1;
        }
        memcpy(y + at * classes, cnn_plan_output(plan, 0)->data, (size_t)(b * classes) * sizeof(float));
        at += b;
    }
    cnn_plan_free(plan);
    return 0;
}

int cmd_run(int argc, char **argv) {
    cli_model m = {0};
    const char *weights = NULL, *input = NULL, *output = NULL;
    long long threads = 0;
    cli_option opts[] = {
        {"--weights", CLI_STRING, &weights, "weights (.safetensors, PyTorch state_dict names)"},
        {"--input", CLI_STRING, &input, "input X.npy: float32 N x C x H x W"},
        {"--output", CLI_STRING, &output, "output Y.npy: float32 N x classes logits"},
        {"--threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"--classes", CLI_INT, &m.classes, "number of classes (default: the model's)"},
        {"--variant", CLI_STRING, &m.variant, "model variant (googlenet: paper)"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("run", "usage: cnn run MODEL --weights W.safetensors --input X.npy --output Y.npy [--threads T]",
                              argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("run", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    if (!weights || !input || !output) return cli_fail("run", "needs --weights, --input and --output"), 2;
    if (threads < 0) return cli_fail("run", "--threads must be positive"), 2;
    cnn_set_threads((int)threads);

    cnn_array xa;
    if (cnn_npy_read(input, &xa)) return cli_fail_lib("run");
    if (xa.rank != 4 || xa.dtype != CNN_F32) {
        cnn_array_free(&xa);
        return cli_fail("run", "%s: input must be a float32 array N x C x H x W (got rank %d)", input, xa.rank);
    }
    int64_t n = xa.shape[0], c = xa.shape[1], h = xa.shape[2], w = xa.shape[3];
    /* Build at the default input first to learn the channel count the model takes. */
    cnn_graph *probe = cli_build_model("run", pos[0], &m, 0, 0, 0);
    if (!probe) {
        cnn_array_free(&xa);
        return 1;
    }
    int64_t want[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_input(probe, 0), want);
    cnn_graph_free(probe);
    if (c != want[1]) {
        cnn_array_free(&xa);
        return cli_fail("run", "%s: input has %lld channels but %s takes %lld", input, (long long)c, pos[0], (long long)want[1]);
    }
    cnn_graph *g = cli_build_model("run", pos[0], &m, c, h, w);
    if (!g) {
        cnn_array_free(&xa);
        return 1;
    }
    int status = 1;
    float *y = NULL;
    if (cnn_graph_load_weights(g, weights)) {
        cli_fail_lib("run");
        goto done;
    }
    int64_t out_dims[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_output(g, 0), out_dims);
    int64_t classes = out_dims[1];
    y = calloc((size_t)(n > 0 ? n * classes : 1), sizeof *y);
    if (!y) {
        cli_fail("run", "out of memory for %lld outputs", (long long)(n * classes));
        goto done;
    }
    if (n > 0 && forward_all(g, xa.data, n, c * h * w, y, classes)) {
        cli_fail_lib("run");
        goto done;
    }
    int64_t shape[2] = {n, classes};
    if (cnn_npy_write_f32(output, 2, shape, y)) {
        cli_fail_lib("run");
        goto done;
    }
    status = 0;
done:
    free(y);
    cnn_array_free(&xa);
    cnn_graph_free(g);
    return status;
}
