/* densenet.c — torchvision's DenseNet-121/169/201: dense blocks of BN-ReLU-Conv1x1-BN-ReLU-Conv3x3, growth rate 32.
 *
 * Module for module as torchvision.models.densenet (growth_rate 32, bn_size 4, 64 initial features,
 * drop_rate 0, BatchNorm eps 1e-5), so the parameter names are its state_dict keys:
 *   features.conv0.weight, features.norm0.*                       the 7x7/2 stem, then a 3x3/2 max-pool
 *   features.denseblock{b}.denselayer{l}.{norm1,conv1,norm2,conv2}.*  each layer reads the concatenation
 *                                                                  of every earlier feature map of its block
 *   features.transition{b}.{norm,conv}.*                           BN-ReLU-1x1 conv halving the channels, 2x2/2 average pool
 *   features.norm5.*, classifier.{weight,bias}                     final BN, ReLU, 1x1 adaptive average pool, linear
 * densenet121 with 1000 classes has 7,978,856 trainable parameters (torchvision's count). */
#include "zoo.h"

#include <string.h>

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f
#define GROWTH_RATE 32
#define BN_SIZE 4
#define INIT_FEATURES 64
#define MAX_LAYERS 48 /* the longest block of the family (densenet201's third) */

typedef struct densenet_config {
    const char *name;
    int block_config[4];
} densenet_config;

static const densenet_config configs[] = {
    {"densenet121", {6, 12, 24, 16}},
    {"densenet169", {6, 12, 32, 32}},
    {"densenet201", {6, 12, 48, 32}},
};

/* _DenseLayer: cat(inputs) -> norm1-relu1-conv1 (1x1, bn_size*growth) -> norm2-relu2-conv2 (3x3, growth) */
static cnn_node *dense_layer(cnn_graph *g, int n_inputs, cnn_node *const *inputs, int index) {
    cnn_scope_push(g, "denselayer%d", index);
    /* torch.cat of a single tensor is a copy of it: the first layer reads the block input directly */
    cnn_node *x = n_inputs == 1 ? inputs[0] : cnn_concat(g, n_inputs, inputs, "concat");
    x = cnn_batchnorm(g, x, "norm1", BN_EPS, BN_MOMENTUM);
    x = cnn_relu(g, x, "relu1");
    x = cnn_conv2d(g, x, "conv1", BN_SIZE * GROWTH_RATE, 1, 1, 1, 0, false);
    x = cnn_batchnorm(g, x, "norm2", BN_EPS, BN_MOMENTUM);
    x = cnn_relu(g, x, "relu2");
    x = cnn_conv2d(g, x, "conv2", GROWTH_RATE, 3, 3, 1, 1, false);
    cnn_scope_pop(g);
    return x;
}

/* _DenseBlock: features = [x]; each layer appends its output; returns cat(features) */
static cnn_node *dense_block(cnn_graph *g, cnn_node *x, int index, int num_layers) {
    cnn_node *features[1 + MAX_LAYERS];
    if (num_layers > MAX_LAYERS) return cnn_fail_null("denseblock%d: %d layers (at most %d)", index, num_layers, MAX_LAYERS);
    cnn_scope_push(g, "denseblock%d", index);
    features[0] = x;
    for (int i = 0; i < num_layers; i++) features[i + 1] = dense_layer(g, i + 1, features, i + 1);
    x = cnn_concat(g, num_layers + 1, features, "concat");
    cnn_scope_pop(g);
    return x;
}

/* _Transition: norm-relu-conv (1x1, no bias) -> 2x2/2 average pool */
static cnn_node *transition(cnn_graph *g, cnn_node *x, int index, int64_t out_channels) {
    cnn_scope_push(g, "transition%d", index);
    x = cnn_batchnorm(g, x, "norm", BN_EPS, BN_MOMENTUM);
    x = cnn_relu(g, x, "relu");
    x = cnn_conv2d(g, x, "conv", out_channels, 1, 1, 1, 0, false);
    x = cnn_avgpool2d(g, x, "pool", 2, 2, 0, false, true);
    cnn_scope_pop(g);
    return x;
}

int cnn_build_densenet(cnn_graph *g, const cnn_model_options *o, const char *name) {
    const densenet_config *cfg = NULL;
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        if (strcmp(configs[i].name, name) == 0) cfg = &configs[i];
    if (!cfg) return cnn_fail("%s: not a DenseNet depth (densenet121, 169, 201)", name);

    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    cnn_scope_push(g, "features");
    x = cnn_conv2d(g, x, "conv0", INIT_FEATURES, 7, 7, 2, 3, false);
    x = cnn_batchnorm(g, x, "norm0", BN_EPS, BN_MOMENTUM);
    x = cnn_relu(g, x, "relu0");
    x = cnn_maxpool2d(g, x, "pool0", 3, 2, 1, false);

    int64_t num_features = INIT_FEATURES;
    for (int b = 0; b < 4; b++) {
        x = dense_block(g, x, b + 1, cfg->block_config[b]);
        num_features += (int64_t)cfg->block_config[b] * GROWTH_RATE;
        if (b != 3) {
            x = transition(g, x, b + 1, num_features / 2);
            num_features /= 2;
        }
    }
    x = cnn_batchnorm(g, x, "norm5", BN_EPS, BN_MOMENTUM);
    cnn_scope_pop(g);

    x = cnn_relu(g, x, "relu");
    x = cnn_adaptive_avgpool(g, x, "avgpool", 1, 1);
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "classifier", o->classes, true);
    return cnn_graph_add_output(g, x, 0);
}
