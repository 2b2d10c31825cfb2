/* bench.c — `cnn bench MODEL [--batch B] [--threads T] [--train] [--json]`: median time per batch after warm-up. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One timed unit: a forward pass, or forward + loss + backward + SGD update. */
static int step(cnn_plan *p, cnn_graph *g, cnn_optimizer *opt, const int64_t *labels, bool train) {
    if (cnn_plan_forward(p)) return -1;
    if (!train) return 0;
    for (int i = 0; i < cnn_plan_output_count(p); i++) {
        float loss;
        if (cnn_softmax_cross_entropy(cnn_plan_output(p, i), labels, 0.0f, &loss, cnn_plan_output_grad(p, i), i ? 0.3f : 1.0f))
            return -1;
    }
    if (cnn_plan_backward(p) || cnn_optimizer_step(opt, 0.01f)) return -1;
    cnn_graph_zero_grad(g);
    return 0;
}

/* --profile: each node's share of the timed steps (top 25) and the totals per op kind, on stderr. */
static void print_profile(const cnn_plan *p, const cnn_graph *g, int steps) {
    int64_t n = cnn_graph_node_count(g);
    double *total = calloc((size_t)n, sizeof *total), all = 0;
    int64_t *order = calloc((size_t)n, sizeof *order);
    if (!total || !order) goto done;
    for (int64_t i = 0; i < n; i++) {
        double f = 0, b = 0;
        cnn_plan_node_seconds(p, i, &f, &b);
        total[i] = f + b;
        all += f + b;
        order[i] = i;
    }
    for (int64_t i = 1; i < n; i++) /* insertion sort by time, largest first */
        for (int64_t j = i; j > 0 && total[order[j]] > total[order[j - 1]]; j--) {
            int64_t t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    fprintf(stderr, "%-44s %-14s %10s %10s %7s %9s\n", "node", "op", "fwd ms", "bwd ms", "share", "GFLOP/s");
    for (int64_t k = 0; k < n && k < 25; k++) {
        int64_t i = order[k];
        double f = 0, b = 0;
        cnn_plan_node_seconds(p, i, &f, &b);
        const cnn_node *x = cnn_graph_node(g, i);
        double flops = 2.0 * (double)cnn_node_macs(x) * (double)cnn_plan_batch(p) * (b > 0 ? 3.0 : 1.0) * steps;
        fprintf(stderr, "%-44.44s %-14.14s %10.3f %10.3f %6.1f%% %9.1f\n", cnn_node_name(x), cnn_node_op(x), 1e3 * f / steps,
                1e3 * b / steps, 100.0 * total[i] / all, total[i] > 0 ? flops / total[i] / 1e9 : 0.0);
    }
    fprintf(stderr, "per op kind:\n");
    for (int64_t i = 0; i < n; i++) { /* the first node of each kind sums its kind */
        const char *op = cnn_node_op(cnn_graph_node(g, i));
        bool first = true;
        for (int64_t j = 0; j < i && first; j++) first = strcmp(op, cnn_node_op(cnn_graph_node(g, j))) != 0;
        if (!first) continue;
        double sum = 0;
        for (int64_t j = i; j < n; j++)
            if (strcmp(op, cnn_node_op(cnn_graph_node(g, j))) == 0) sum += total[j];
        if (sum > 0) fprintf(stderr, "  %-14s %10.3f ms %6.1f%%\n", op, 1e3 * sum / steps, 100.0 * sum / all);
    }
done:
    free(total);
    free(order);
}

int cmd_bench(int argc, char **argv) {
    cli_model m = {0};
    long long batch = 1, threads = 0, runs = 0;
    int train = 0, json = 0, profile = 0;
    double seconds = 3.0;
    cli_option opts[] = {
        {"--batch", CLI_INT, &batch, "batch size (default 1)"},
        {"--threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"--train", CLI_FLAG, &train, "time forward + backward + SGD update instead of forward"},
        {"--profile", CLI_FLAG, &profile, "print each layer's time (top 25) and the time per op kind on stderr"},
        {"--json", CLI_FLAG, &json, "print one JSON object {ms, images_per_s, gflops, peak_rss_mb}"},
        {"--runs", CLI_INT, &runs, "timed runs (default: as many as fit in --seconds, at least 5)"},
        {"--seconds", CLI_FLOAT, &seconds, "time budget for the timed runs (default 3)"},
        CLI_MODEL_OPTIONS(m),
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("bench", "usage: cnn bench MODEL [--batch B] [--threads T] [--train] [--json]", argc, argv, opts, pos, 1,
                              &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("bench", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    if (batch < 1) return cli_fail("bench", "--batch must be at least 1 (got %lld)", batch), 2;
    if (threads < 0 || runs < 0 || !(seconds > 0)) return cli_fail("bench", "--threads, --runs and --seconds must be positive"), 2;
    cnn_set_threads((int)threads);
    /* Training builds the auxiliary heads like `cnn train`; inference leaves them out. */
    cnn_graph *g = cli_build_model(train ? "train" : "bench", pos[0], &m, 0, 0, 0);
    if (!g) return 1;
    cnn_optimizer *opt = NULL;
    cnn_plan *p = NULL;
    int64_t *labels = calloc((size_t)batch, sizeof *labels);
    double *times = NULL;
    int status = 1;
    cnn_optimizer_options oo = {.kind = CNN_OPT_SGD, .momentum = 0.9f};
    if (!labels || cnn_graph_init_params(g, 0) || (train && !(opt = cnn_optimizer_create(g, &oo))) ||
        !(p = cnn_plan_create(g, batch, train ? CNN_PLAN_TRAIN : CNN_PLAN_FROZEN))) {
        cli_fail_lib("bench");
        goto done;
    }
    cnn_tensor *x = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(x); i++) x->data[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    int64_t macs = 0;
    for (int64_t i = 0; i < cnn_graph_node_count(g); i++)
        if (cnn_plan_computes(p, cnn_graph_node(g, i))) macs += cnn_node_macs(cnn_graph_node(g, i));
    for (int w = 0; w < 2; w++)
        if (step(p, g, opt, labels, train)) {
            cli_fail_lib("bench");
            goto done;
        }
    int cap = runs ? (int)runs : 10000, n = 0;
    times = calloc((size_t)cap, sizeof *times);
    if (!times) goto done;
    if (profile && cnn_plan_set_profiling(p, true)) {
        cli_fail_lib("bench");
        goto done;
    }
    double start = now();
    while (n < cap && (runs ? n < runs : (n < 5 || now() - start < seconds))) {
        double t0 = now();
        if (step(p, g, opt, labels, train)) {
            cli_fail_lib("bench");
            goto done;
        }
        times[n++] = now() - t0;
    }
    if (profile) print_profile(p, g, n);
    qsort(times, (size_t)n, sizeof *times, compare_doubles);
    double ms = 1000.0 * (n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]));
    /* 2 FLOPs per multiply-add; training counted as 3 passes (forward, input and weight gradients). */
    double gflops = 2.0 * (double)macs * (double)batch * (train ? 3.0 : 1.0) / (ms * 1e6);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    double ips = (double)batch * 1000.0 / ms;
    if (json)
        printf("{\"ms\": %.4f, \"images_per_s\": %.3f, \"gflops\": %.3f, \"peak_rss_mb\": %.1f}\n", ms, ips, gflops, rss_mb);
    else
        printf("%s %s, batch %lld, %d threads: %.3f ms per batch (median of %d), %.1f images/s, %.1f GFLOP/s, peak RSS %.1f MB\n",
               pos[0], train ? "training step" : "inference", batch, cnn_get_threads(), ms, n, ips, gflops, rss_mb);
    status = 0;
done:
    free(times);
    free(labels);
    cnn_plan_free(p);
    cnn_optimizer_free(opt);
    cnn_graph_free(g);
    return status;
}
