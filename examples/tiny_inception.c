/* tiny_inception.c — the README's example: build a small Inception-style network, run it, train one step. */
#include <cnn.h>
#include <stdio.h>

static cnn_node *conv_bn_relu(cnn_graph *g, cnn_node *x, const char *name, int64_t k, int size) {
    cnn_scope_push(g, "%s", name);
    x = cnn_relu(g, cnn_batchnorm(g, cnn_conv2d(g, x, "conv", k, size, size, 1, CNN_PAD_SAME, false), "bn", 1e-3f, 0.1f), "relu");
    cnn_scope_pop(g);
    return x;
}

int main(void) {
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = conv_bn_relu(g, cnn_input(g, "image", 1, 28, 28), "stem", 16, 3);
    cnn_node *branches[2] = {conv_bn_relu(g, x, "branch1x1", 8, 1), conv_bn_relu(g, x, "branch3x3", 8, 3)};
    x = cnn_global_avgpool(g, cnn_concat(g, 2, branches, "mixed"), "pool");
    x = cnn_dense(g, cnn_flatten(g, x, "flatten"), "fc", 10, true);
    if (cnn_graph_add_output(g, x, 0) != 0) return fprintf(stderr, "%s\n", cnn_last_error()), 1;

    cnn_plan *plan = cnn_plan_create(g, 4, CNN_PLAN_TRAIN);          /* batch 4, train mode */
    cnn_tensor *in = cnn_plan_input(plan, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(in); i++) in->data[i] = (float)(i % 7) / 7.0f;
    int64_t labels[4] = {3, 1, 4, 1};
    float loss;
    cnn_plan_forward(plan);
    cnn_softmax_cross_entropy(cnn_plan_output(plan, 0), labels, 0.1f, &loss, cnn_plan_output_grad(plan, 0), 1.0f);
    cnn_plan_backward(plan);                                           /* gradients in cnn_graph_grads(g) */
    printf("loss %.4f, stem.conv.weight is %s\n", loss, cnn_param_find(g, "stem.conv.weight", &(cnn_param){0}) ? "missing" : "there");
    cnn_plan_free(plan);
    cnn_graph_free(g);
    return 0;
}
