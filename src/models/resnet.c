/* resnet.c — torchvision's ResNet-18/34 (BasicBlock) and ResNet-50/101/152 (Bottleneck, stride on the 3x3: v1.5).
 *
 * Module for module as torchvision.models.resnet, so the parameter names are its state_dict keys:
 *   conv1.weight, bn1.*                                  the 7x7/2 stem, then a 3x3/2 max-pool
 *   layer{1..4}.{i}.conv{1,2[,3]}.weight, .bn{1,2[,3]}.* the blocks (BatchNorm eps 1e-5, momentum 0.1)
 *   layer{1..4}.0.downsample.{0,1}.*                     the projection shortcut: 1x1/s conv (no bias) + BN
 *   fc.{weight,bias}                                     after a 1x1 adaptive average pool
 * resnet50 with 1000 classes has 25,557,032 trainable parameters (torchvision's count). */
#include "zoo.h"

#include <string.h>

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct resnet_config {
    const char *name;
    bool bottleneck;
    int blocks[4];
} resnet_config;

static const resnet_config configs[] = {
    {"resnet18", false, {2, 2, 2, 2}},  {"resnet34", false, {3, 4, 6, 3}},   {"resnet50", true, {3, 4, 6, 3}},
    {"resnet101", true, {3, 4, 23, 3}}, {"resnet152", true, {3, 8, 36, 3}},
};

/* conv (no bias, padding k/2 as torchvision's conv3x3 / conv1x1) followed by its BatchNorm */
static cnn_node *conv_bn(cnn_graph *g, cnn_node *x, const char *conv_name, const char *bn_name, int64_t out_channels,
                         int kernel, int stride) {
    x = cnn_conv2d(g, x, conv_name, out_channels, kernel, kernel, stride, kernel / 2, false);
    return cnn_batchnorm(g, x, bn_name, BN_EPS, BN_MOMENTUM);
}

/* torchvision's downsample: nn.Sequential(conv1x1(inplanes, planes * expansion, stride), BatchNorm2d) */
static cnn_node *downsample(cnn_graph *g, cnn_node *x, int64_t out_channels, int stride) {
    cnn_scope_push(g, "downsample");
    x = conv_bn(g, x, "0", "1", out_channels, 1, stride);
    cnn_scope_pop(g);
    return x;
}

/* BasicBlock (expansion 1): conv3x3/s-bn-relu-conv3x3-bn, + identity, relu */
static cnn_node *basic_block(cnn_graph *g, cnn_node *x, int64_t in_channels, int64_t planes, int stride) {
    cnn_node *identity = x;
    cnn_node *out = conv_bn(g, x, "conv1", "bn1", planes, 3, stride);
    out = cnn_relu(g, out, "relu1");
    out = conv_bn(g, out, "conv2", "bn2", planes, 3, 1);
    if (stride != 1 || in_channels != planes) identity = downsample(g, x, planes, stride);
    out = cnn_add(g, out, identity, "add");
    return cnn_relu(g, out, "relu");
}

/* Bottleneck (expansion 4): conv1x1-bn-relu-conv3x3/s-bn-relu-conv1x1-bn, + identity, relu */
static cnn_node *bottleneck(cnn_graph *g, cnn_node *x, int64_t in_channels, int64_t planes, int stride) {
    cnn_node *identity = x;
    cnn_node *out = conv_bn(g, x, "conv1", "bn1", planes, 1, 1);
    out = cnn_relu(g, out, "relu1");
    out = conv_bn(g, out, "conv2", "bn2", planes, 3, stride);
    out = cnn_relu(g, out, "relu2");
    out = conv_bn(g, out, "conv3", "bn3", planes * 4, 1, 1);
    if (stride != 1 || in_channels != planes * 4) identity = downsample(g, x, planes * 4, stride);
    out = cnn_add(g, out, identity, "add");
    return cnn_relu(g, out, "relu");
}

/* torchvision's _make_layer: the first block takes the stride (and the shortcut projection). */
static cnn_node *make_layer(cnn_graph *g, cnn_node *x, const resnet_config *cfg, int index, int64_t *in_channels,
                            int64_t planes, int stride) {
    cnn_scope_push(g, "layer%d", index);
    for (int i = 0; i < cfg->blocks[index - 1]; i++) {
        cnn_scope_push(g, "%d", i);
        int s = i == 0 ? stride : 1;
        x = cfg->bottleneck ? bottleneck(g, x, *in_channels, planes, s) : basic_block(g, x, *in_channels, planes, s);
        cnn_scope_pop(g);
        *in_channels = cfg->bottleneck ? planes * 4 : planes;
    }
    cnn_scope_pop(g);
    return x;
}

int cnn_build_resnet(cnn_graph *g, const cnn_model_options *o, const char *name) {
    const resnet_config *cfg = NULL;
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        if (strcmp(configs[i].name, name) == 0) cfg = &configs[i];
    if (!cfg) return cnn_fail("%s: not a ResNet depth (resnet18, 34, 50, 101, 152)", name);

    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = cnn_conv2d(g, x, "conv1", 64, 7, 7, 2, 3, false);
    x = cnn_batchnorm(g, x, "bn1", BN_EPS, BN_MOMENTUM);
    x = cnn_relu(g, x, "relu");
    x = cnn_maxpool2d(g, x, "maxpool", 3, 2, 1, false);

    int64_t in_channels = 64;
    x = make_layer(g, x, cfg, 1, &in_channels, 64, 1);
    x = make_layer(g, x, cfg, 2, &in_channels, 128, 2);
    x = make_layer(g, x, cfg, 3, &in_channels, 256, 2);
    x = make_layer(g, x, cfg, 4, &in_channels, 512, 2);

    x = cnn_adaptive_avgpool(g, x, "avgpool", 1, 1);
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "fc", o->classes, true);
    return cnn_graph_add_output(g, x, 0);
}
