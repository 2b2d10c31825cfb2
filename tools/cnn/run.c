/* run.c — `cnn run MODEL --weights W --input X.npy --output Y.npy`: eval-mode logits of the main head;
 * `cnn run model.onnx --input X.npy --output Y.npy`: an ONNX model's output, its weights its initializers. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RUN_CHUNK 16  /* samples per forward: bounds activation memory for large inputs */
#define RUN_MAX_IO 64 /* inputs and outputs of an ONNX model (cli_list's size) */

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
        const int64_t per_sample = cnn_tensor_numel(v) / v->shape[0]; /* samples sit stride[0] apart */
        for (int64_t j = 0; j < cnn_tensor_numel(v); j++) {
            float f = v->data[j / per_sample * v->stride[0] + j % per_sample];
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

/* Forward of n samples through plans of at most RUN_CHUNK: input i from xs[i] (sample_in[i] floats a
 * sample), output o into ys[o] (sample_out[o] floats a sample); with stats (one per graph node),
 * the per-layer statistics of --trace. */
static int forward_all(cnn_graph *g, int n_in, const float *const *xs, const int64_t *sample_in, int n_out, float *const *ys,
                       const int64_t *sample_out, int64_t n, layer_stats *stats) {
    cnn_plan *plan = NULL;
    int64_t planned = 0;
    for (int64_t at = 0; at < n;) {
        int64_t b = n - at < RUN_CHUNK ? n - at : RUN_CHUNK;
        if (b != planned) {
            cnn_plan_free(plan);
            plan = cnn_plan_create(g, b, CNN_PLAN_FROZEN | (stats ? CNN_PLAN_UNFUSED : 0)); /* --trace shows every layer */
            if (!plan) return -1;
            planned = b;
        }
        for (int i = 0; i < n_in; i++)
            memcpy(cnn_plan_input(plan, i)->data, xs[i] + at * sample_in[i], (size_t)(b * sample_in[i]) * sizeof(float));
        if (cnn_plan_forward(plan)) {
            cnn_plan_free(plan);
            return -1;
        }
        for (int o = 0; o < n_out; o++)
            memcpy(ys[o] + at * sample_out[o], cnn_plan_output(plan, o)->data, (size_t)(b * sample_out[o]) * sizeof(float));
        if (stats) trace_add(g, plan, stats);
        at += b;
    }
    cnn_plan_free(plan);
    return 0;
}

/* "N x 3 x 20 x 20" for a node, or the array's own dims. */
static const char *dims_text(int rank, const int64_t *dims, bool batch_n, char *buf, size_t size) {
    if (rank < 1) return snprintf(buf, size, "a scalar"), buf;
    int used = snprintf(buf, size, batch_n ? "N" : "%lld", (long long)dims[0]);
    for (int d = 1; d < rank && used < (int)size; d++) used += snprintf(buf + used, size - (size_t)used, " x %lld", (long long)dims[d]);
    return buf;
}

/* Elements of one sample of a node's value. */
static int64_t per_sample(const cnn_node *x) {
    int64_t d[CNN_MAX_RANK], count = 1;
    cnn_node_shape(x, d);
    for (int k = 1; k < cnn_node_rank(x); k++) count *= d[k];
    return count;
}

/* The ONNX path: one --input per graph input (float32, the graph's rank and per-sample shape, one
 * batch size for all), one --output per graph output. An unbatched graph (a model that mixes dim 0
 * with the others) takes and gives whole tensors: the model's exact shapes, no batch dim added. */
static int run_onnx(const char *model, const cli_list *inputs, const cli_list *outputs, bool trace) {
    cnn_graph *g = cnn_onnx_load(model);
    if (!g) return cli_fail_lib("run");
    const int n_in = cnn_graph_input_count(g), n_out = cnn_graph_output_count(g);
    int status = 1, read = 0;
    cnn_array xa[RUN_MAX_IO];
    const float *xs[RUN_MAX_IO];
    float *ys[RUN_MAX_IO] = {NULL};
    int64_t sample_in[RUN_MAX_IO], sample_out[RUN_MAX_IO], n = -1;
    layer_stats *stats = NULL;
    const int whole = cnn_graph_unbatched(g) ? 1 : 0; /* the array's dim d is the node's dim d + whole */
    if (whole) n = 1;
    if (inputs->count != n_in || outputs->count != n_out) {
        cli_fail("run", "%s: the model has %d input%s and %d output%s but %d --input and %d --output were given", model, n_in,
                 n_in == 1 ? "" : "s", n_out, n_out == 1 ? "" : "s", inputs->count, outputs->count);
        goto done;
    }
    if (n_in > RUN_MAX_IO || n_out > RUN_MAX_IO) {
        cli_fail("run", "%s: more than %d inputs or outputs are not supported", model, RUN_MAX_IO);
        goto done;
    }
    for (; read < n_in; read++) {
        const char *path = inputs->items[read];
        if (cnn_npy_read(path, &xa[read])) {
            cli_fail_lib("run");
            goto done;
        }
        const cnn_node *x = cnn_graph_input(g, read);
        const int rank = cnn_node_rank(x);
        int64_t want[CNN_MAX_RANK];
        cnn_node_shape(x, want);
        bool ok = xa[read].dtype == CNN_F32 && xa[read].rank == rank - whole;
        for (int d = 1 - whole; ok && d < rank - whole; d++) ok = xa[read].shape[d] == want[d + whole];
        if (!ok) {
            char got[128], takes[128];
            cli_fail("run", "%s: input is %s %s but %s takes %s (float32) for input '%s'", path,
                     xa[read].dtype == CNN_F32 ? "float32" : "not float32", dims_text(xa[read].rank, xa[read].shape, false, got, sizeof got),
                     model, whole ? dims_text(rank - 1, want + 1, false, takes, sizeof takes) : dims_text(rank, want, true, takes, sizeof takes),
                     cnn_node_name(x));
            read++;
            goto done;
        }
        if (whole) {
            xs[read] = xa[read].data;
            sample_in[read] = per_sample(x);
            continue;
        }
        if (n >= 0 && xa[read].shape[0] != n) {
            cli_fail("run", "%s: %lld samples but the first input has %lld; every input needs the same batch", path,
                     (long long)xa[read].shape[0], (long long)n);
            read++;
            goto done;
        }
        n = xa[read].shape[0];
        xs[read] = xa[read].data;
        sample_in[read] = per_sample(x);
    }
    for (int o = 0; o < n_out; o++) {
        sample_out[o] = per_sample(cnn_graph_output(g, o));
        if (!(ys[o] = calloc((size_t)(n > 0 ? n * sample_out[o] : 1), sizeof(float)))) {
            cli_fail("run", "out of memory for %lld outputs", (long long)(n * sample_out[o]));
            goto done;
        }
    }
    stats = trace ? calloc((size_t)cnn_graph_node_count(g), sizeof *stats) : NULL;
    if (n > 0 && forward_all(g, n_in, xs, sample_in, n_out, ys, sample_out, n, stats)) {
        cli_fail_lib("run");
        goto done;
    }
    if (stats) trace_print(g, stats);
    for (int o = 0; o < n_out; o++) {
        int64_t d[CNN_MAX_RANK];
        cnn_node_shape(cnn_graph_output(g, o), d);
        d[0] = n;
        if (cnn_npy_write_f32(outputs->items[o], cnn_node_rank(cnn_graph_output(g, o)) - whole, d + whole, ys[o])) {
            cli_fail_lib("run");
            goto done;
        }
    }
    status = 0;
done:
    free(stats);
    for (int o = 0; o < n_out && o < RUN_MAX_IO; o++) free(ys[o]);
    for (int i = 0; i < read; i++) cnn_array_free(&xa[i]);
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
        {"--input", CLI_STRINGS, &inputs, "input X.npy: float32 N x C x H x W (.onnx: once per graph input, in order)"},
        {"--output", CLI_STRINGS, &outputs, "output Y.npy: float32 N x classes logits (.onnx: once per graph output, in order)"},
        {"--threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"--trace", CLI_FLAG, &trace, "print every layer's output shape, min, max, mean and NaN/Inf count"},
        {"--classes", CLI_INT, &m.classes, "number of classes (default: the model's)"},
        {"--variant", CLI_STRING, &m.variant, "model variant (googlenet: paper)"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("run",
                              "usage: cnn run MODEL --weights W.safetensors --input X.npy --output Y.npy [--threads T] [--trace]\n"
                              "       cnn run MODEL.onnx --input X.npy... --output Y.npy... [--threads T] [--trace]",
                              argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("run", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    const bool onnx = cli_is_onnx(pos[0]);
    if (!onnx && (inputs.count > 1 || outputs.count > 1))
        return cli_fail("run", "%s takes one --input and one --output (got %d and %d)", pos[0], inputs.count, outputs.count), 2;
    input = inputs.count ? inputs.items[0] : NULL;
    output = outputs.count ? outputs.items[0] : NULL;
    if (onnx && (weights || m.classes || m.variant))
        return cli_fail("run", "%s: --weights, --classes and --variant do not apply to an ONNX model (its weights are in the file)", pos[0]), 2;
    if (onnx && !output) return cli_fail("run", "needs --output (and an --input for each graph input)"), 2;
    if (threads < 0) return cli_fail("run", "--threads must be positive"), 2;
    if (onnx) {
        cnn_set_threads((int)threads);
        return run_onnx(pos[0], &inputs, &outputs, trace);
    }
    if (!onnx && (!weights || !input || !output)) return cli_fail("run", "needs --weights, --input and --output"), 2;
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
    layer_stats *stats = trace ? calloc((size_t)cnn_graph_node_count(g), sizeof *stats) : NULL;
    const float *xs[1] = {xa.data};
    float *ys[1] = {y};
    const int64_t sample_in = c * h * w;
    if (n > 0 && forward_all(g, 1, xs, &sample_in, 1, ys, &classes, n, stats)) {
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
