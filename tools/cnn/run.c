/* run.c — `cnn run MODEL --weights W --input X.npy --output Y.npy`: eval-mode logits of the main head;
 * `cnn run model.onnx --input X.npy --output Y.npy`: an ONNX model's output, its weights its initializers. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RUN_CHUNK 16 /* samples per forward: bounds activation memory for large inputs */

/* --trace: per layer, over every sample run. */
typedef struct layer_stats {
    double min, max, sum;
    int64_t count, non_finite;
} layer_stats;

static void trace_add(const cnn_graph *g, const cnn_plan *plan, layer_stats *stats) {
    for (int64_t i = 0; i < cnn_graph_node_count(g); i++) {
        const cnn_tensor *v = cnn_plan_value(plan, cnn_graph_node(g, i));
        if (!v) continue;
        layer_stats *s = &stats[i];
        for (int64_t j = 0; j < cnn_tensor_numel(v); j++) {
            float f = v->data[j];
            if (!isfinite(f)) {
                s->non_finite++;
                continue;
            }
            if (s->count == 0 || f < s->min) s->min = f;
            if (s->count == 0 || f > s->max) s->max = f;
            s->sum += f;
            s->count++;
        }
    }
}

static void trace_print(const cnn_graph *g, const layer_stats *stats) {
    printf("%-48s %-20s %13s %13s %13s %10s\n", "layer (op)", "shape", "min", "max", "mean", "NaN/Inf");
    for (int64_t i = 0; i < cnn_graph_node_count(g); i++) {
        const cnn_node *x = cnn_graph_node(g, i);
        const layer_stats *s = &stats[i];
        if (s->count == 0 && s->non_finite == 0) continue; /* not in the eval plan */
        char label[256], shape[64];
        int64_t d[CNN_MAX_RANK];
        cnn_node_shape(x, d);
        int used = snprintf(shape, sizeof shape, "(N");
        for (int k = 1; k < cnn_node_rank(x) && used < (int)sizeof shape; k++)
            used += snprintf(shape + used, sizeof shape - (size_t)used, ",%lld", (long long)d[k]);
        if (used < (int)sizeof shape) snprintf(shape + used, sizeof shape - (size_t)used, ")");
        snprintf(label, sizeof label, "%s (%s)", cnn_node_name(x), cnn_node_op(x));
        printf("%-48s %-20s %13.6g %13.6g %13.6g %10lld\n", label, shape, s->min, s->max,
               s->count ? s->sum / (double)s->count : NAN, (long long)s->non_finite);
    }
}

/* Forward of n samples from x (N,C,H,W) into y (N,classes) through plans of at most RUN_CHUNK;
 * with stats (one per graph node), the per-layer statistics of --trace. */
static int forward_all(cnn_graph *g, const float *x, int64_t n, int64_t sample, float *y, int64_t classes, layer_stats *stats) {
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
        if (stats) trace_add(g, plan, stats);
        at += b;
    }
    cnn_plan_free(plan);
    return 0;
}

/* The ONNX path: one float input N x C x H x W of the model's C, H, W, one output. */
static int run_onnx(const char *model, const cnn_array *xa, const char *input, const char *output, bool trace) {
    cnn_graph *g = cnn_onnx_load(model);
    if (!g) return cli_fail_lib("run");
    int status = 1;
    float *y = NULL;
    if (cnn_graph_input_count(g) != 1 || cnn_graph_output_count(g) != 1) {
        cli_fail("run", "%s: the model has %d inputs and %d outputs; only models with one of each are supported", model,
                 cnn_graph_input_count(g), cnn_graph_output_count(g));
        goto done;
    }
    int64_t want[CNN_MAX_RANK], out_dims[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_input(g, 0), want);
    if (xa->shape[1] != want[1] || xa->shape[2] != want[2] || xa->shape[3] != want[3]) {
        cli_fail("run", "%s: input is N x %lld x %lld x %lld but %s takes N x %lld x %lld x %lld", input, (long long)xa->shape[1],
                 (long long)xa->shape[2], (long long)xa->shape[3], model, (long long)want[1], (long long)want[2], (long long)want[3]);
        goto done;
    }
    const cnn_node *out = cnn_graph_output(g, 0);
    const int rank = cnn_node_rank(out);
    cnn_node_shape(out, out_dims);
    int64_t per_sample = 1;
    for (int d = 1; d < rank; d++) per_sample *= out_dims[d];
    const int64_t n = xa->shape[0];
    y = calloc((size_t)(n > 0 ? n * per_sample : 1), sizeof *y);
    if (!y) {
        cli_fail("run", "out of memory for %lld outputs", (long long)(n * per_sample));
        goto done;
    }
    layer_stats *stats = trace ? calloc((size_t)cnn_graph_node_count(g), sizeof *stats) : NULL;
    if (n > 0 && forward_all(g, xa->data, n, want[1] * want[2] * want[3], y, per_sample, stats)) {
        free(stats);
        cli_fail_lib("run");
        goto done;
    }
    if (stats) trace_print(g, stats);
    free(stats);
    out_dims[0] = n;
    if (cnn_npy_write_f32(output, rank, out_dims, y)) {
        cli_fail_lib("run");
        goto done;
    }
    status = 0;
done:
    free(y);
    cnn_graph_free(g);
    return status;
}

int cmd_run(int argc, char **argv) {
    cli_model m = {0};
    const char *weights = NULL, *input = NULL, *output = NULL;
    long long threads = 0;
    int trace = 0;
    cli_list inputs = {0}, outputs = {0};
    cli_option opts[] = {
        {"--weights", CLI_STRING, &weights, "weights (.safetensors, PyTorch state_dict names; not for .onnx)"},
        {"--input", CLI_STRINGS, &inputs, "input X.npy: float32 N x C x H x W"},
        {"--output", CLI_STRINGS, &outputs, "output Y.npy: float32 N x classes logits (.onnx: the model's output)"},
        {"--threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"--trace", CLI_FLAG, &trace, "print every layer's output shape, min, max, mean and NaN/Inf count"},
        {"--classes", CLI_INT, &m.classes, "number of classes (default: the model's)"},
        {"--variant", CLI_STRING, &m.variant, "model variant (googlenet: paper)"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("run",
                              "usage: cnn run MODEL --weights W.safetensors --input X.npy --output Y.npy [--threads T] [--trace]\n"
                              "       cnn run MODEL.onnx --input X.npy --output Y.npy [--threads T] [--trace]",
                              argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("run", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    if (inputs.count > 1 || outputs.count > 1)
        return cli_fail("run", "only one --input and one --output are supported so far (got %d and %d)", inputs.count, outputs.count), 2;
    input = inputs.count ? inputs.items[0] : NULL;
    output = outputs.count ? outputs.items[0] : NULL;
    const bool onnx = cli_is_onnx(pos[0]);
    if (onnx && (weights || m.classes || m.variant))
        return cli_fail("run", "%s: --weights, --classes and --variant do not apply to an ONNX model (its weights are in the file)", pos[0]), 2;
    if (onnx && (!input || !output)) return cli_fail("run", "needs --input and --output"), 2;
    if (!onnx && (!weights || !input || !output)) return cli_fail("run", "needs --weights, --input and --output"), 2;
    if (threads < 0) return cli_fail("run", "--threads must be positive"), 2;
    cnn_set_threads((int)threads);

    cnn_array xa;
    if (cnn_npy_read(input, &xa)) return cli_fail_lib("run");
    if (xa.rank != 4 || xa.dtype != CNN_F32) {
        cnn_array_free(&xa);
        return cli_fail("run", "%s: input must be a float32 array N x C x H x W (got rank %d)", input, xa.rank);
    }
    if (onnx) {
        rc = run_onnx(pos[0], &xa, input, output, trace);
        cnn_array_free(&xa);
        return rc;
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
    layer_stats *stats = trace ? calloc((size_t)cnn_graph_node_count(g), sizeof *stats) : NULL;
    if (n > 0 && forward_all(g, xa.data, n, c * h * w, y, classes, stats)) {
        free(stats);
        cli_fail_lib("run");
        goto done;
    }
    if (stats) trace_print(g, stats);
    free(stats);
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
