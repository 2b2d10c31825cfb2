/* inception_resnet.c — Inception-ResNet-v2 (seed 002; Szegedy et al. 2016) as timm's inception_resnet_v2.
 *
 * Layer for layer timm 1.0.31's InceptionResnetV2 (timm/models/inception_resnet_v2.py, Cadene's
 * port of the TF-slim network), so its state_dict loads as it is. Every conv_block is timm's
 * ConvNormAct: a bias-free convolution with explicit padding (0 unless given), BatchNorm (eps
 * 0.001) and ReLU.
 *   conv2d_1a, conv2d_2a, conv2d_2b   stem 3x3/2 32, 3x3 32, 3x3 pad 1 64
 *   maxpool_3a, conv2d_3b, conv2d_4a  3x3/2 max-pool, 1x1 80, 3x3 192
 *   maxpool_5a, mixed_5b              3x3/2 max-pool; Inception-A-like block to 320 channels (35x35)
 *   repeat.0..9                       Block35 (Inception-ResNet-A), residual scale 0.17
 *   mixed_6a                          reduction to 17x17, 1088 channels
 *   repeat_1.0..19                    Block17 (Inception-ResNet-B), residual scale 0.10
 *   mixed_7a                          reduction to 8x8, 2080 channels
 *   repeat_2.0..8                     Block8 (Inception-ResNet-C), residual scale 0.20
 *   block8                            a last Block8 with scale 1.0 and no ReLU after the sum
 *   conv2d_7b                         1x1 conv_block to 1536 channels
 *   global_pool, head_drop, classif   global average pool, dropout 0.2, classifier
 * A residual block is relu(x + scale * conv2d(cat(branches))), where conv2d is a plain 1x1
 * convolution with bias and no BatchNorm. mixed_5b's pool branch is a 3x3/1 pad 1 average pool
 * that does not count the padding (count_include_pad=False); max-pools are 3x3/2, floor mode.
 * Names are timm 1.0.31's state_dict keys: conv2d_1a.conv.weight, mixed_5b.branch3.1.bn.running_mean,
 * repeat.0.branch2.2.conv.weight, repeat_1.19.conv2d.bias, block8.conv2d.weight, classif.weight, ...
 * (timm 1.0's ConvNormAct keeps the names conv and bn; the act sits inside bn without parameters).
 * Dropout: timm's default drop_rate is 0; the paper and TF-slim keep 0.8, as
 * timm.create_model("inception_resnet_v2", drop_rate=0.2) does. Eval mode is the same.
 * With 1000 classes: 55,843,464 trainable parameters, 55,904,008 with the BatchNorm running
 * statistics, as timm counts them. Any input from 75x75 up survives every stride-2 stage. */
#include "zoo.h"

#include <stdio.h>

/* ConvNormAct(in, out, kernel_size=(kh,kw), stride, padding=(ph,pw)): scope `name` of conv + bn (+ act). */
static cnn_node *conv_block(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels, int kernel_h, int kernel_w,
                            int stride, int pad_h, int pad_w) {
    return cnn_zoo_conv_bn_relu(g, x, name, out_channels, kernel_h, kernel_w, stride, pad_h, pad_w, 0.001f, "act");
}

/* nn.MaxPool2d(3, stride=2) */
static cnn_node *max_pool_3x3_s2(cnn_graph *g, cnn_node *x, const char *name) {
    return cnn_maxpool2d(g, x, name, 3, 2, 0, false);
}

/* out * scale + x, then the block's ReLU unless it is the last Block8: the residual tail of every block. */
static cnn_node *residual(cnn_graph *g, cnn_node *x, cnn_node *out, float scale, bool relu, const char *relu_name) {
    out = cnn_scale(g, out, "scale", scale);
    out = cnn_add(g, out, x, "add");
    return relu ? cnn_relu(g, out, relu_name) : out;
}

/* Mixed_5b: 192 -> 320 channels at 35x35. */
static cnn_node *mixed_5b(cnn_graph *g, cnn_node *x) {
    cnn_scope_push(g, "mixed_5b");
    cnn_node *x0 = conv_block(g, x, "branch0", 96, 1, 1, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 48, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 64, 5, 5, 1, 2, 2);

    cnn_node *x2 = conv_block(g, x, "branch2.0", 64, 1, 1, 1, 0, 0);
    x2 = conv_block(g, x2, "branch2.1", 96, 3, 3, 1, 1, 1);
    x2 = conv_block(g, x2, "branch2.2", 96, 3, 3, 1, 1, 1);

    cnn_node *x3 = cnn_avgpool2d(g, x, "branch3.0", 3, 1, 1, false, false);
    x3 = conv_block(g, x3, "branch3.1", 64, 1, 1, 1, 0, 0);

    cnn_node *outputs[4] = {x0, x1, x2, x3};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* Block35 (Inception-ResNet-A): 320 channels at 35x35. */
static cnn_node *block35(cnn_graph *g, cnn_node *x, int index, float scale) {
    cnn_scope_push(g, "repeat.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0", 32, 1, 1, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 32, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 32, 3, 3, 1, 1, 1);

    cnn_node *x2 = conv_block(g, x, "branch2.0", 32, 1, 1, 1, 0, 0);
    x2 = conv_block(g, x2, "branch2.1", 48, 3, 3, 1, 1, 1);
    x2 = conv_block(g, x2, "branch2.2", 64, 3, 3, 1, 1, 1);

    cnn_node *outputs[3] = {x0, x1, x2};
    cnn_node *out = cnn_concat(g, 3, outputs, "concat");
    out = cnn_conv2d(g, out, "conv2d", 320, 1, 1, 1, 0, true);
    x = residual(g, x, out, scale, true, "act");
    cnn_scope_pop(g);
    return x;
}

/* Mixed_6a: 320 -> 1088 channels, 35x35 -> 17x17. */
static cnn_node *mixed_6a(cnn_graph *g, cnn_node *x) {
    cnn_scope_push(g, "mixed_6a");
    cnn_node *x0 = conv_block(g, x, "branch0", 384, 3, 3, 2, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 256, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 256, 3, 3, 1, 1, 1);
    x1 = conv_block(g, x1, "branch1.2", 384, 3, 3, 2, 0, 0);

    cnn_node *x2 = max_pool_3x3_s2(g, x, "branch2");

    cnn_node *outputs[3] = {x0, x1, x2};
    x = cnn_concat(g, 3, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* Block17 (Inception-ResNet-B): 1088 channels at 17x17. */
static cnn_node *block17(cnn_graph *g, cnn_node *x, int index, float scale) {
    cnn_scope_push(g, "repeat_1.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0", 192, 1, 1, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 128, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 160, 1, 7, 1, 0, 3);
    x1 = conv_block(g, x1, "branch1.2", 192, 7, 1, 1, 3, 0);

    cnn_node *outputs[2] = {x0, x1};
    cnn_node *out = cnn_concat(g, 2, outputs, "concat");
    out = cnn_conv2d(g, out, "conv2d", 1088, 1, 1, 1, 0, true);
    x = residual(g, x, out, scale, true, "act");
    cnn_scope_pop(g);
    return x;
}

/* Mixed_7a: 1088 -> 2080 channels, 17x17 -> 8x8. */
static cnn_node *mixed_7a(cnn_graph *g, cnn_node *x) {
    cnn_scope_push(g, "mixed_7a");
    cnn_node *x0 = conv_block(g, x, "branch0.0", 256, 1, 1, 1, 0, 0);
    x0 = conv_block(g, x0, "branch0.1", 384, 3, 3, 2, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 256, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 288, 3, 3, 2, 0, 0);

    cnn_node *x2 = conv_block(g, x, "branch2.0", 256, 1, 1, 1, 0, 0);
    x2 = conv_block(g, x2, "branch2.1", 288, 3, 3, 1, 1, 1);
    x2 = conv_block(g, x2, "branch2.2", 320, 3, 3, 2, 0, 0);

    cnn_node *x3 = max_pool_3x3_s2(g, x, "branch3");

    cnn_node *outputs[4] = {x0, x1, x2, x3};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* Block8 (Inception-ResNet-C): 2080 channels at 8x8. The scope is "repeat_2.<i>" or "block8". */
static cnn_node *block8(cnn_graph *g, cnn_node *x, const char *scope, float scale, bool no_relu) {
    cnn_scope_push(g, "%s", scope);
    cnn_node *x0 = conv_block(g, x, "branch0", 192, 1, 1, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 192, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 224, 1, 3, 1, 0, 1);
    x1 = conv_block(g, x1, "branch1.2", 256, 3, 1, 1, 1, 0);

    cnn_node *outputs[2] = {x0, x1};
    cnn_node *out = cnn_concat(g, 2, outputs, "concat");
    out = cnn_conv2d(g, out, "conv2d", 2080, 1, 1, 1, 0, true);
    x = residual(g, x, out, scale, !no_relu, "relu");
    cnn_scope_pop(g);
    return x;
}

int cnn_build_inception_resnet_v2(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = conv_block(g, x, "conv2d_1a", 32, 3, 3, 2, 0, 0);
    x = conv_block(g, x, "conv2d_2a", 32, 3, 3, 1, 0, 0);
    x = conv_block(g, x, "conv2d_2b", 64, 3, 3, 1, 1, 1);
    x = max_pool_3x3_s2(g, x, "maxpool_3a");
    x = conv_block(g, x, "conv2d_3b", 80, 1, 1, 1, 0, 0);
    x = conv_block(g, x, "conv2d_4a", 192, 3, 3, 1, 0, 0);
    x = max_pool_3x3_s2(g, x, "maxpool_5a");
    x = mixed_5b(g, x);
    for (int i = 0; i < 10; i++) x = block35(g, x, i, 0.17f);
    x = mixed_6a(g, x);
    for (int i = 0; i < 20; i++) x = block17(g, x, i, 0.10f);
    x = mixed_7a(g, x);
    char scope[32];
    for (int i = 0; i < 9; i++) {
        snprintf(scope, sizeof scope, "repeat_2.%d", i);
        x = block8(g, x, scope, 0.20f, false);
    }
    x = block8(g, x, "block8", 1.0f, true);
    x = conv_block(g, x, "conv2d_7b", 1536, 1, 1, 1, 0, 0);

    x = cnn_global_avgpool(g, x, "global_pool");
    x = cnn_flatten(g, x, "global_pool.flatten");
    x = cnn_dropout(g, x, "head_drop", 0.2f);
    x = cnn_dense(g, x, "classif", o->classes, true);
    if (!x) return -1;
    return cnn_graph_add_output(g, x, 0);
}
