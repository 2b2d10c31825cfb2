/* eval.c — `cnn eval MODEL --weights W --data SPEC [--json]`: loss, top-1, top-5 and the confusion matrix on the test split. */
#include "cli.h"

#include <string.h>

static void print_confusion(const cli_eval *r, const cnn_dataset *d) {
    int64_t k = r->classes;
    if (k > 20) {
        printf("(confusion matrix left out: %lld classes)\n", (long long)k);
        return;
    }
    printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int64_t j = 0; j < k; j++) printf(" %6lld", (long long)j);
    printf("\n");
    for (int64_t i = 0; i < k; i++) {
        const char *name = i < cnn_dataset_classes(d) ? cnn_dataset_class_name(d, i) : "?";
        printf("%2lld %-11.11s", (long long)i, name ? name : "");
        for (int64_t j = 0; j < k; j++) printf(" %6lld", (long long)r->confusion[i * k + j]);
        printf("\n");
    }
}

int cmd_eval(int argc, char **argv) {
    cli_model m = {0};
    const char *weights = NULL, *data = NULL;
    long long batch = 100, threads = 0;
    int json = 0;
    cli_option opts[] = {
        {"--weights", CLI_STRING, &weights, "weights (.safetensors)"},
        {"--data", CLI_STRING, &data, "dataset SPEC (its test split is evaluated)"},
        {"--batch", CLI_INT, &batch, "batch size (default 100)"},
        {"--threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"--json", CLI_FLAG, &json, "print one JSON object {n, loss, top1, top5}"},
        CLI_MODEL_OPTIONS(m),
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("eval", "usage: cnn eval MODEL --weights W --data SPEC [--json]", argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("eval", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    if (!weights || !data) return cli_fail("eval", "needs --weights and --data"), 2;
    if (batch < 1) return cli_fail("eval", "--batch must be at least 1 (got %lld)", batch), 2;
    if (threads < 0) return cli_fail("eval", "--threads must be positive"), 2;
    cnn_set_threads((int)threads);
    cnn_dataset *d = cli_open_data("eval", data, CNN_SPLIT_TEST, pos[0], &m);
    if (!d) return 1;
    cnn_graph *g = cli_build_for_data("eval", pos[0], &m, d);
    cli_eval r = {0};
    int status = 1;
    if (!g) goto done;
    if (cnn_graph_load_weights(g, weights) || cli_evaluate(g, d, batch, &r)) {
        cli_fail_lib("eval");
        goto done;
    }
    if (json) {
        printf("{\"n\": %lld, \"loss\": %.6f, \"top1\": %.6f, \"top5\": %.6f}\n", (long long)r.n, r.loss,
               (double)r.top1 / (double)r.n, (double)r.top5 / (double)r.n);
    } else {
        printf("%s on %s (test split): %lld images\nloss %.4f   top-1 %.2f%%   top-5 %.2f%%\n", pos[0], data, (long long)r.n,
               r.loss, 100.0 * (double)r.top1 / (double)r.n, 100.0 * (double)r.top5 / (double)r.n);
        print_confusion(&r, d);
    }
    status = 0;
done:
    cli_eval_free(&r);
    cnn_graph_free(g);
    cnn_dataset_free(d);
    return status;
}
