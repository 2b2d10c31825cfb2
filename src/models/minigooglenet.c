/* minigooglenet.c — MiniGoogLeNet for 32x32 images (seed 000), module for module as its Keras code.
 *
 * Keras layers map to: Conv2D (bias on) + BatchNormalization (epsilon 1e-3, momentum 0.99, i.e.
 * PyTorch momentum 0.01) + ReLU. Parameter names (there is no torchvision twin):
 *   conv1.{conv,bn}.*                                   the stem conv_module (96 3x3)
 *   inception{1..8}.branch1x1.{conv,bn}.*               1x1 branch of each inception_module
 *   inception{1..8}.branch3x3.{conv,bn}.*               3x3 branch
 *   downsample{1,2}.branch3x3.{conv,bn}.*               3x3 stride-2 valid conv beside a 3x3/2 max-pool
 *   fc.{weight,bias}                                    the classifier (logits; softmax is in the loss)
 * With 3x32x32 input and 10 classes: 1,656,250 parameters, 1,652,826 of them trainable (the 3,424
 * others are BatchNorm running statistics), as Keras's model.summary() reports. The final 7x7
 * average pool becomes global when the map is smaller (1x28x28 input).
 * Variant "narrow": every filter count divided by 4 (24 stem filters ... 44+40 at the end), same
 * modules and names, BatchNorm momentum 0.1; 1/16 of the multiply-adds, for `make demo` on 2 cores. */
#include "zoo.h"

#include <string.h>

/* BatchNorm momentum (PyTorch's sense): Keras's 0.99 is 0.01 here; the narrow variant takes
 * PyTorch's default 0.1, so that its running statistics keep up within the one-epoch demo run. */
static cnn_node *conv_module(cnn_graph *g, cnn_node *x, const char *name, int64_t k, int kx, int ky, int stride,
                             int padding, float momentum) {
    cnn_scope_push(g, "%s", name);
    cnn_conv2d_params p = {.out_channels = k, .kernel_h = kx, .kernel_w = ky, .stride_h = stride, .stride_w = stride,
                           .padding = padding, .bias = true};
    x = cnn_conv2d_ex(g, x, "conv", &p);
    x = cnn_batchnorm(g, x, "bn", 1e-3f, momentum);
    x = cnn_relu(g, x, "relu");
    cnn_scope_pop(g);
    return x;
}

static cnn_node *inception_module(cnn_graph *g, cnn_node *x, int index, int64_t num_k1x1, int64_t num_k3x3, float momentum) {
    cnn_scope_push(g, "inception%d", index);
    cnn_node *branches[2];
    branches[0] = conv_module(g, x, "branch1x1", num_k1x1, 1, 1, 1, CNN_PAD_SAME, momentum);
    branches[1] = conv_module(g, x, "branch3x3", num_k3x3, 3, 3, 1, CNN_PAD_SAME, momentum);
    x = cnn_concat(g, 2, branches, "concat");
    cnn_scope_pop(g);
    return x;
}

static cnn_node *downsample_module(cnn_graph *g, cnn_node *x, int index, int64_t k, float momentum) {
    cnn_scope_push(g, "downsample%d", index);
    cnn_node *branches[2];
    branches[0] = conv_module(g, x, "branch3x3", k, 3, 3, 2, CNN_PAD_VALID, momentum);
    branches[1] = cnn_maxpool2d(g, x, "pool", 3, 2, 0, false);
    x = cnn_concat(g, 2, branches, "concat");
    cnn_scope_pop(g);
    return x;
}

int cnn_build_minigooglenet(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    const bool narrow = o->variant && strcmp(o->variant, "narrow") == 0;
    const int64_t d = narrow ? 4 : 1; /* filter count divisor */
    const float m = narrow ? 0.1f : 0.01f;
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = conv_module(g, x, "conv1", 96 / d, 3, 3, 1, CNN_PAD_SAME, m);
    x = inception_module(g, x, 1, 32 / d, 32 / d, m);
    x = inception_module(g, x, 2, 32 / d, 48 / d, m);
    x = downsample_module(g, x, 1, 80 / d, m);

    x = inception_module(g, x, 3, 112 / d, 48 / d, m);
    x = inception_module(g, x, 4, 96 / d, 64 / d, m);
    x = inception_module(g, x, 5, 80 / d, 80 / d, m);
    x = inception_module(g, x, 6, 48 / d, 96 / d, m);
    x = downsample_module(g, x, 2, 96 / d, m);

    x = inception_module(g, x, 7, 176 / d, 160 / d, m);
    x = inception_module(g, x, 8, 176 / d, 160 / d, m);
    if (!x) return -1;
    int64_t dims[CNN_MAX_RANK];
    cnn_node_shape(x, dims);
    x = dims[2] >= 7 && dims[3] >= 7 ? cnn_avgpool2d(g, x, "pool", 7, 7, 0, false, true) : cnn_global_avgpool(g, x, "pool");
    x = cnn_dropout(g, x, "dropout", 0.5f);

    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "fc", o->classes, true);
    return cnn_graph_add_output(g, x, 0);
}
