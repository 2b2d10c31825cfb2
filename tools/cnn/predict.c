/* predict.c — `cnn predict MODEL --weights W [--labels FILE] IMAGE...`: top-5 classes with probabilities per image. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 100000

/* Class names: --labels FILE (one per line), else the names the weights were trained with. */
static char **load_labels(const char *path, const char *from_weights, int64_t classes) {
    char **names = calloc((size_t)classes, sizeof *names);
    if (!names) return NULL;
    char *text = NULL;
    if (path) {
        FILE *f = fopen(path, "r");
        if (!f) {
            free(names);
            cnn_set_error("%s: cannot open the labels file", path);
            return NULL;
        }
        size_t cap = 0, len = 0;
        char buf[4096];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
            if (len + got + 1 > cap) {
                cap = 2 * (len + got + 1);
                char *t = realloc(text, cap);
                if (!t) break;
                text = t;
            }
            memcpy(text + len, buf, got);
            len += got;
        }
        fclose(f);
        if (!text) text = strdup("");
        else text[len] = 0;
    } else if (from_weights) {
        text = strdup(from_weights);
    }
    int64_t k = 0;
    for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line && k < classes;
         line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[l - 1] = 0;
        names[k++] = strdup(line);
    }
    free(text);
    if (path && k < classes) {
        for (int64_t i = 0; i < k; i++) free(names[i]);
        free(names);
        cnn_set_error("%s: %lld labels for a model of %lld classes", path, (long long)k, (long long)classes);
        return NULL;
    }
    for (; k < classes; k++) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)k);
        names[k] = strdup(num);
    }
    return names;
}

/* "a,b,c" -> three floats */
static void parse_triple(const char *text, float v[3], float fallback) {
    v[0] = v[1] = v[2] = fallback;
    if (text) sscanf(text, "%f,%f,%f", &v[0], &v[1], &v[2]);
}

int cmd_predict(int argc, char **argv) {
    cli_model m = {0};
    const char *weights = NULL, *labels_path = NULL;
    long long threads = 0;
    cli_option opts[] = {
        {"--weights", CLI_STRING, &weights, "weights (.safetensors)"},
        {"--labels", CLI_STRING, &labels_path, "class names, one per line (default: the ones saved by cnn train)"},
        {"--threads", CLI_INT, &threads, "threads (default: all cores)"},
        CLI_MODEL_OPTIONS(m),
        {NULL, 0, NULL, NULL},
    };
    const char *pos[257];
    int n_pos, rc = cli_parse("predict", "usage: cnn predict MODEL --weights W [--labels FILE] IMAGE...", argc, argv, opts, pos,
                              257, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos < 2) return cli_fail("predict", "needs a MODEL and at least one IMAGE"), 2;
    if (!weights) return cli_fail("predict", "needs --weights"), 2;
    cnn_set_threads((int)threads);
    cnn_safetensors *wf = cnn_safetensors_read(weights);
    if (!wf) return cli_fail_lib("predict");
    /* What cnn train recorded: input size, normalisation, channels of the data, class names. */
    const char *input = cnn_safetensors_metadata(wf, "cnn.input"), *classes_meta = cnn_safetensors_metadata(wf, "cnn.classes");
    cli_model mm = m;
    if (!mm.input && input) mm.input = input;
    if (!mm.classes && classes_meta) mm.classes = atoll(classes_meta);
    float mean[3], std[3];
    parse_triple(cnn_safetensors_metadata(wf, "cnn.normalize_mean"), mean, 0.0f);
    parse_triple(cnn_safetensors_metadata(wf, "cnn.normalize_std"), std, 1.0f);
    const char *dc = cnn_safetensors_metadata(wf, "cnn.data_channels");
    int64_t data_channels = dc ? atoll(dc) : 0;
    cnn_graph *g = cli_build_model("predict", pos[0], &mm, 0, 0, 0);
    char **names = NULL;
    float *x = NULL;
    cnn_plan *plan = NULL;
    int status = 1;
    int64_t k = 0;
    if (!g) goto done;
    int64_t in[CNN_MAX_RANK], out[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_input(g, 0), in);
    cnn_node_shape(cnn_graph_output(g, 0), out);
    k = out[1];
    if (data_channels != 1 && data_channels != 3) data_channels = in[1] == 1 ? 1 : 3;
    if (cnn_graph_load_weights(g, weights) || !(names = load_labels(labels_path, cnn_safetensors_metadata(wf, "cnn.class_names"), k)) ||
        !(plan = cnn_plan_create(g, 1, CNN_PLAN_FROZEN))) {
        cli_fail_lib("predict");
        goto done;
    }
    int64_t plane = in[2] * in[3];
    x = calloc((size_t)(data_channels * plane), sizeof *x);
    if (!x) goto done;
    for (int i = 1; i < n_pos; i++) {
        if (cnn_image_read(pos[i], data_channels, in[2], in[3], x)) {
            cli_fail_lib("predict");
            goto done;
        }
        float *dst = cnn_plan_input(plan, 0)->data;
        for (int64_t c = 0; c < in[1]; c++) { /* grey data repeated to the network's channels */
            int64_t src = data_channels == 1 ? 0 : c;
            for (int64_t j = 0; j < plane; j++) dst[c * plane + j] = (x[src * plane + j] - mean[c % 3]) / std[c % 3];
        }
        if (cnn_plan_forward(plan)) {
            cli_fail_lib("predict");
            goto done;
        }
        const float *y = cnn_plan_output(plan, 0)->data;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < k; j++) mx = fmax(mx, y[j]);
        for (int64_t j = 0; j < k; j++) sum += exp((double)y[j] - mx);
        printf("%s\n", pos[i]);
        int64_t top[5];
        for (int r = 0; r < 5 && r < k; r++) {
            int64_t best = -1;
            for (int64_t j = 0; j < k; j++) {
                bool taken = false;
                for (int q = 0; q < r; q++) taken |= top[q] == j;
                if (!taken && (best < 0 || y[j] > y[best])) best = j;
            }
            top[r] = best;
            printf("  %d. %-24s %6.2f%%\n", r + 1, names[best], 100.0 * exp((double)y[best] - mx) / sum);
        }
    }
    status = 0;
done:
    if (names)
        for (int64_t j = 0; j < k; j++) free(names[j]);
    free(names);
    free(x);
    cnn_plan_free(plan);
    cnn_graph_free(g);
    cnn_safetensors_free(wf);
    return status;
}
