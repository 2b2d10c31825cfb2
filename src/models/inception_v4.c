/* inception_v4.c — Inception-v4 (seed 002; Szegedy et al. 2016) as timm's inception_v4.
 *
 * Layer for layer timm 1.0.31's InceptionV4 (timm/models/inception_v4.py, itself Cadene's port of
 * the TF-slim network), so its state_dict loads as it is. Every conv_block is timm's ConvNormAct:
 * a bias-free convolution with explicit padding (0 unless given), BatchNorm (eps 0.001) and ReLU.
 *   features.0..2     stem convolutions 3x3/2 32, 3x3 32, 3x3 pad 1 64
 *   features.3        Mixed3a: 3x3/2 max-pool beside a 3x3/2 conv (96)
 *   features.4        Mixed4a: 1x1 + 3x3 beside 1x1 + 1x7 + 7x1 + 3x3
 *   features.5        Mixed5a: 3x3/2 conv (192) beside a 3x3/2 max-pool
 *   features.6..9     InceptionA x4 (35x35, 384 channels)
 *   features.10       ReductionA (the seed's k, l, m, n = 192, 224, 256, 384), to 17x17
 *   features.11..17   InceptionB x7 (17x17, 1024 channels)
 *   features.18       ReductionB, to 8x8
 *   features.19..21   InceptionC x3 (8x8, 1536 channels)
 *   global_pool, head_drop, last_linear   global average pool, dropout 0.2, classifier
 * The pool branches are 3x3/1 pad 1 average pools that do not count the padding
 * (count_include_pad=False); max-pools are 3x3/2 without padding, floor mode.
 * Names are timm 1.0.31's state_dict keys: features.0.conv.weight, features.0.bn.running_var,
 * features.6.branch1.1.conv.weight, features.19.branch2_3a.bn.bias, last_linear.weight, ... (timm
 * 1.0's ConvNormAct keeps the names conv and bn of the older BasicConv2d; the act sits inside bn and
 * has no parameters). Dropout: timm's default drop_rate is 0; the seed and the paper drop 0.2
 * (keep 0.8), as timm.create_model("inception_v4", drop_rate=0.2) does. Eval mode is the same.
 * With 1000 classes: 42,679,816 trainable parameters, 42,742,984 with the BatchNorm running
 * statistics, as timm counts them. Any input from 75x75 up survives every stride-2 stage. */
#include "zoo.h"

/* ConvNormAct(in, out, kernel_size=(kh,kw), stride, padding=(ph,pw)): scope `name` of conv + bn (+ act). */
static cnn_node *conv_block(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels, int kernel_h, int kernel_w,
                            int stride, int pad_h, int pad_w) {
    return cnn_zoo_conv_bn_relu(g, x, name, out_channels, kernel_h, kernel_w, stride, pad_h, pad_w, 0.001f, "act");
}

/* nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False) */
static cnn_node *avg_pool_3x3(cnn_graph *g, cnn_node *x, const char *name) {
    return cnn_avgpool2d(g, x, name, 3, 1, 1, false, false);
}

/* nn.MaxPool2d(3, stride=2) */
static cnn_node *max_pool_3x3_s2(cnn_graph *g, cnn_node *x, const char *name) {
    return cnn_maxpool2d(g, x, name, 3, 2, 0, false);
}

/* Mixed3a: 64 -> 160 channels, halves the map. */
static cnn_node *mixed_3a(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = max_pool_3x3_s2(g, x, "maxpool");
    cnn_node *x1 = conv_block(g, x, "conv", 96, 3, 3, 2, 0, 0);
    cnn_node *outputs[2] = {x0, x1};
    x = cnn_concat(g, 2, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* Mixed4a: 160 -> 192 channels, 3x3 valid convolutions shrink the map by 2. */
static cnn_node *mixed_4a(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0.0", 64, 1, 1, 1, 0, 0);
    x0 = conv_block(g, x0, "branch0.1", 96, 3, 3, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 64, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 64, 1, 7, 1, 0, 3);
    x1 = conv_block(g, x1, "branch1.2", 64, 7, 1, 1, 3, 0);
    x1 = conv_block(g, x1, "branch1.3", 96, 3, 3, 1, 0, 0);

    cnn_node *outputs[2] = {x0, x1};
    x = cnn_concat(g, 2, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* Mixed5a: 192 -> 384 channels, halves the map. */
static cnn_node *mixed_5a(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "conv", 192, 3, 3, 2, 0, 0);
    cnn_node *x1 = max_pool_3x3_s2(g, x, "maxpool");
    cnn_node *outputs[2] = {x0, x1};
    x = cnn_concat(g, 2, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionA: 384 -> 384 channels at 35x35. */
static cnn_node *inception_a(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0", 96, 1, 1, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 64, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 96, 3, 3, 1, 1, 1);

    cnn_node *x2 = conv_block(g, x, "branch2.0", 64, 1, 1, 1, 0, 0);
    x2 = conv_block(g, x2, "branch2.1", 96, 3, 3, 1, 1, 1);
    x2 = conv_block(g, x2, "branch2.2", 96, 3, 3, 1, 1, 1);

    cnn_node *x3 = avg_pool_3x3(g, x, "branch3.0");
    x3 = conv_block(g, x3, "branch3.1", 96, 1, 1, 1, 0, 0);

    cnn_node *outputs[4] = {x0, x1, x2, x3};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* ReductionA: 384 -> 1024 channels, 35x35 -> 17x17. */
static cnn_node *reduction_a(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0", 384, 3, 3, 2, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 192, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 224, 3, 3, 1, 1, 1);
    x1 = conv_block(g, x1, "branch1.2", 256, 3, 3, 2, 0, 0);

    cnn_node *x2 = max_pool_3x3_s2(g, x, "branch2");

    cnn_node *outputs[3] = {x0, x1, x2};
    x = cnn_concat(g, 3, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionB: 1024 -> 1024 channels at 17x17, 7x7 convolutions factorised into 1x7 and 7x1. */
static cnn_node *inception_b(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0", 384, 1, 1, 1, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 192, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 224, 1, 7, 1, 0, 3);
    x1 = conv_block(g, x1, "branch1.2", 256, 7, 1, 1, 3, 0);

    cnn_node *x2 = conv_block(g, x, "branch2.0", 192, 1, 1, 1, 0, 0);
    x2 = conv_block(g, x2, "branch2.1", 192, 7, 1, 1, 3, 0);
    x2 = conv_block(g, x2, "branch2.2", 224, 1, 7, 1, 0, 3);
    x2 = conv_block(g, x2, "branch2.3", 224, 7, 1, 1, 3, 0);
    x2 = conv_block(g, x2, "branch2.4", 256, 1, 7, 1, 0, 3);

    cnn_node *x3 = avg_pool_3x3(g, x, "branch3.0");
    x3 = conv_block(g, x3, "branch3.1", 128, 1, 1, 1, 0, 0);

    cnn_node *outputs[4] = {x0, x1, x2, x3};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* ReductionB: 1024 -> 1536 channels, 17x17 -> 8x8. */
static cnn_node *reduction_b(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0.0", 192, 1, 1, 1, 0, 0);
    x0 = conv_block(g, x0, "branch0.1", 192, 3, 3, 2, 0, 0);

    cnn_node *x1 = conv_block(g, x, "branch1.0", 256, 1, 1, 1, 0, 0);
    x1 = conv_block(g, x1, "branch1.1", 256, 1, 7, 1, 0, 3);
    x1 = conv_block(g, x1, "branch1.2", 320, 7, 1, 1, 3, 0);
    x1 = conv_block(g, x1, "branch1.3", 320, 3, 3, 2, 0, 0);

    cnn_node *x2 = max_pool_3x3_s2(g, x, "branch2");

    cnn_node *outputs[3] = {x0, x1, x2};
    x = cnn_concat(g, 3, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionC: 1536 -> 1536 channels at 8x8; branches 1 and 2 end in a 1x3 / 3x1 split. */
static cnn_node *inception_c(cnn_graph *g, cnn_node *x, int index) {
    cnn_scope_push(g, "features.%d", index);
    cnn_node *x0 = conv_block(g, x, "branch0", 256, 1, 1, 1, 0, 0);

    cnn_node *x1_0 = conv_block(g, x, "branch1_0", 384, 1, 1, 1, 0, 0);
    cnn_node *x1_1a = conv_block(g, x1_0, "branch1_1a", 256, 1, 3, 1, 0, 1);
    cnn_node *x1_1b = conv_block(g, x1_0, "branch1_1b", 256, 3, 1, 1, 1, 0);

    cnn_node *x2_0 = conv_block(g, x, "branch2_0", 384, 1, 1, 1, 0, 0);
    cnn_node *x2_1 = conv_block(g, x2_0, "branch2_1", 448, 3, 1, 1, 1, 0);
    cnn_node *x2_2 = conv_block(g, x2_1, "branch2_2", 512, 1, 3, 1, 0, 1);
    cnn_node *x2_3a = conv_block(g, x2_2, "branch2_3a", 256, 1, 3, 1, 0, 1);
    cnn_node *x2_3b = conv_block(g, x2_2, "branch2_3b", 256, 3, 1, 1, 1, 0);

    cnn_node *x3 = avg_pool_3x3(g, x, "branch3.0");
    x3 = conv_block(g, x3, "branch3.1", 256, 1, 1, 1, 0, 0);

    /* cat((x0, cat((x1_1a, x1_1b)), cat((x2_3a, x2_3b)), x3)) is this one concatenation */
    cnn_node *outputs[6] = {x0, x1_1a, x1_1b, x2_3a, x2_3b, x3};
    x = cnn_concat(g, 6, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

int cnn_build_inception_v4(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = conv_block(g, x, "features.0", 32, 3, 3, 2, 0, 0);
    x = conv_block(g, x, "features.1", 32, 3, 3, 1, 0, 0);
    x = conv_block(g, x, "features.2", 64, 3, 3, 1, 1, 1);
    x = mixed_3a(g, x, 3);
    x = mixed_4a(g, x, 4);
    x = mixed_5a(g, x, 5);
    int index = 6;
    for (int i = 0; i < 4; i++) x = inception_a(g, x, index++);
    x = reduction_a(g, x, index++);   /* Mixed6a */
    for (int i = 0; i < 7; i++) x = inception_b(g, x, index++);
    x = reduction_b(g, x, index++);   /* Mixed7a */
    for (int i = 0; i < 3; i++) x = inception_c(g, x, index++);

    x = cnn_global_avgpool(g, x, "global_pool");
    x = cnn_flatten(g, x, "global_pool.flatten");
    x = cnn_dropout(g, x, "head_drop", 0.2f);
    x = cnn_dense(g, x, "last_linear", o->classes, true);
    if (!x) return -1;
    return cnn_graph_add_output(g, x, 0);
}
