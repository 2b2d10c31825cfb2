/* evaluate.c — the evaluation loop shared by `cnn eval` and `cnn train --val`: loss, top-1, top-5, confusion. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_eval_free(cli_eval *r) {
    free(r->confusion);
    memset(r, 0, sizeof *r);
}

/* Rank of the label's logit among the K logits of one sample (0 = the highest; ties count for it). */
static int64_t label_rank(const float *logits, int64_t k, int64_t label) {
    int64_t rank = 0;
    for (int64_t j = 0; j < k; j++)
        if (logits[j] > logits[label]) rank++;
    return rank;
}

int cli_evaluate(cnn_graph *g, const cnn_dataset *d, int64_t batch, cli_eval *r) {
    memset(r, 0, sizeof *r);
    int64_t in[CNN_MAX_RANK], out[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_input(g, 0), in);
    cnn_node_shape(cnn_graph_output(g, 0), out);
    int64_t k = out[1];
    cnn_loader_options lo = {.batch = batch, .channels = in[1], .height = in[2], .width = in[3], .normalize = true};
    cnn_loader *loader = cnn_loader_create(d, &lo);
    int64_t *labels = calloc((size_t)batch, sizeof *labels);
    r->classes = k;
    r->confusion = calloc((size_t)(k * k), sizeof *r->confusion);
    cnn_plan *plan = NULL;
    int64_t planned = 0;
    double loss_sum = 0;
    int rc = -1;
    if (!loader || !labels || !r->confusion) goto done;
    for (;;) {
        if (!plan) {
            plan = cnn_plan_create(g, batch, CNN_PLAN_FROZEN); /* the weights stay as they are during the pass */
            if (!plan) goto done;
            planned = batch;
        }
        int64_t count;
        int got = cnn_loader_next(loader, cnn_plan_input(plan, 0)->data, labels, &count, NULL);
        if (got < 0) goto done;
        if (got == 1) break;
        if (count != planned) { /* the short last batch: its own plan, inputs copied over */
            cnn_plan *small = cnn_plan_create(g, count, CNN_PLAN_FROZEN);
            if (!small) goto done;
            memcpy(cnn_plan_input(small, 0)->data, cnn_plan_input(plan, 0)->data,
                   (size_t)cnn_tensor_numel(cnn_plan_input(small, 0)) * sizeof(float));
            cnn_plan_free(plan);
            plan = small;
            planned = count;
        }
        for (int64_t i = 0; i < count; i++)
            if (labels[i] < 0 || labels[i] >= k) {
                cnn_set_error("label %lld of sample %lld is outside the model's %lld classes", (long long)labels[i],
                         (long long)(r->n + i), (long long)k);
                goto done;
            }
        float loss;
        const cnn_tensor *y;
        if (cnn_plan_forward(plan) || !(y = cnn_plan_output(plan, 0)) ||
            cnn_softmax_cross_entropy(y, labels, 0.0f, &loss, NULL, 1.0f))
            goto done;
        loss_sum += (double)loss * (double)count;
        for (int64_t i = 0; i < count; i++) {
            const float *row = y->data + i * y->stride[0];
            int64_t rank = label_rank(row, k, labels[i]), best = 0;
            for (int64_t j = 1; j < k; j++)
                if (row[j] > row[best]) best = j;
            r->top1 += rank == 0;
            r->top5 += rank < 5;
            r->confusion[labels[i] * k + best]++;
        }
        r->n += count;
    }
    if (r->n == 0) {
        cnn_set_error("the dataset is empty");
        goto done;
    }
    r->loss = loss_sum / (double)r->n;
    rc = 0;
done:
    cnn_plan_free(plan);
    cnn_loader_free(loader);
    free(labels);
    if (rc) {
        free(r->confusion);
        r->confusion = NULL;
    }
    return rc;
}
