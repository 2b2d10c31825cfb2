/* summary.c — `cnn summary MODEL`: one row per layer (name, op, output shape, parameters, MACs), then totals. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* 1234567 -> "1,234,567" */
static const char *grouped(long long v, char *buf, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v), out = 0;
    if (v < 0 && (size_t)out + 1 < size) buf[out++] = '-';
    for (int i = 0; i < n && (size_t)out + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = 0;
    return buf;
}

/* "(N,C,H,W)"; an unbatched graph's values without the batch: "(6,8)". */
static const char *shape_text(const cnn_node *x, bool unbatched, char *buf, size_t size) {
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(x, d);
    int used = snprintf(buf, size, "(%s", unbatched ? "" : "N");
    for (int i = 1; i < cnn_node_rank(x) && used < (int)size; i++)
        used += snprintf(buf + used, size - (size_t)used, "%s%lld", unbatched && i == 1 ? "" : ",", (long long)d[i]);
    if (used < (int)size) snprintf(buf + used, size - (size_t)used, ")");
    return buf;
}

/* Marks the layers the eval-mode outputs need; the others (auxiliary heads) are train-only. */
static bool *eval_layers(const cnn_graph *g) {
    int64_t n = cnn_graph_node_count(g);
    bool *used = calloc((size_t)(n ? n : 1), sizeof *used);
    if (!used) return NULL;
    for (int i = 0; i < cnn_graph_output_count(g); i++)
        if (!cnn_graph_output_train_only(g, i)) {
            cnn_node *o = cnn_graph_output(g, i);
            for (int64_t j = 0; j < n; j++)
                if (cnn_graph_node(g, j) == o) used[j] = true;
        }
    for (int64_t j = n - 1; j >= 0; j--) {
        if (!used[j]) continue;
        cnn_node *x = cnn_graph_node(g, j);
        for (int k = 0; k < cnn_node_input_count(x); k++)
            for (int64_t i = j - 1; i >= 0; i--)
                if (cnn_graph_node(g, i) == cnn_node_input(x, k)) used[i] = true;
    }
    return used;
}

int cmd_summary(int argc, char **argv) {
    cli_model m = {0};
    cli_option opts[] = {CLI_MODEL_OPTIONS(m), {NULL, 0, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse("summary", "usage: cnn summary MODEL [model options]", argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("summary", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    cnn_graph *g = cli_build_model("summary", pos[0], &m, 0, 0, 0);
    if (!g) return 1;
    bool *eval = eval_layers(g);
    if (!eval) {
        cnn_graph_free(g);
        return cli_fail("summary", "out of memory");
    }
    const bool whole = cnn_graph_unbatched(g);
    if (cnn_graph_input_count(g) > 0) {
        int64_t dims[CNN_MAX_RANK];
        const cnn_node *in = cnn_graph_input(g, 0);
        cnn_node_shape(in, dims);
        printf("Model: %s (input ", pos[0]);
        for (int d = 1; d < cnn_node_rank(in); d++) printf("%s%lld", d > 1 ? "x" : "", (long long)dims[d]);
        printf("%s)\n", whole ? ", whole tensors: batch 1" : "");
    } else {
        printf("Model: %s (no input)\n", pos[0]);
    }
    const char *rule = "----------------------------------------------------------------------------------------------------------";
    printf("%s\n%-52s %-20s %13s %17s\n%s\n", rule, "Layer (op)", "Output shape", "Params", "MACs", rule);
    long long total = 0, trainable = 0, macs = 0, train_only_params = 0;
    bool any_train_only = false;
    for (int64_t i = 0; i < cnn_graph_node_count(g); i++) {
        cnn_node *x = cnn_graph_node(g, i);
        char label[256], shape[64], params[32], mac[32];
        snprintf(label, sizeof label, "%s (%s)%s", cnn_node_name(x), cnn_node_op(x), eval[i] ? "" : " *");
        long long p = cnn_node_param_count(x), a = cnn_node_macs(x);
        printf("%-52s %-20s %13s %17s\n", label, shape_text(x, whole, shape, sizeof shape), grouped(p, params, sizeof params),
               grouped(a, mac, sizeof mac));
        if (eval[i]) macs += a;
        else {
            any_train_only = true;
            train_only_params += p;
        }
    }
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        total += p.numel;
        if (p.trainable) trainable += p.numel;
    }
    cnn_plan *plan = cnn_plan_create(g, 1, 0);
    char b1[32], b2[32], b3[32], b4[32];
    printf("%s\n", rule);
    printf("Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n", grouped(total, b1, sizeof b1),
           grouped(trainable, b2, sizeof b2), grouped(total - trainable, b3, sizeof b3));
    if (any_train_only)
        printf("  of which in train-only layers (*, auxiliary heads): %s\n", grouped(train_only_params, b4, sizeof b4));
    printf("Multiply-adds (batch 1, eval): %s (%.2f G)\n", grouped(macs, b1, sizeof b1), (double)macs / 1e9);
    if (plan) printf("Activation memory (batch 1, eval): %.1f MB\n", (double)cnn_plan_memory(plan) / (1024.0 * 1024.0));
    cnn_plan_free(plan);
    free(eval);
    cnn_graph_free(g);
    return 0;
}
