/* inception_v3.c — Inception-v3 ("Rethinking the Inception Architecture", seed 003) as torchvision's inception_v3.
 *
 * Layer for layer torchvision.models.inception_v3: BasicConv2d is a bias-free conv, BatchNorm (eps
 * 0.001) and ReLU; Mixed_5b..5d are InceptionA (35x35), Mixed_6a InceptionB (grid reduction to
 * 17x17), Mixed_6b..6e InceptionC (factorised 1x7 / 7x1), Mixed_7a InceptionD (reduction to 8x8),
 * Mixed_7b..7c InceptionE (1x3 / 3x1 split branches); the pool branches are 3x3/1 pad 1 average
 * pools counting the padding (PyTorch's default count_include_pad). AuxLogits after Mixed_6e is a
 * train-only output: avg-pool 5x5/3, conv0 1x1 128, conv1 5x5 768, global average pool, fc. The main
 * head is global average pool, dropout 0.5, fc. Names are torchvision's state_dict keys
 * (Conv2d_1a_3x3.conv.weight, Mixed_6b.branch7x7_2.bn.running_mean, AuxLogits.conv1.conv.weight,
 * fc.bias, ...). 1000 classes: 23,834,568 trainable parameters without AuxLogits, 27,161,264 with it.
 * transform_input is off, as torchvision builds inception_v3(weights=None); users of torchvision's
 * pretrained ImageNet weights (made with transform_input=True) feed input scaled to [-1,1]:
 * (p - 0.5) / 0.5 for raw [0,1] pixels, or x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5 for
 * ImageNet-normalised x (mean 0.485 0.456 0.406, std 0.229 0.224 0.225).
 * The auxiliary head needs a 5x5 (or larger) map at Mixed_6e (input about 299x299 or larger); with
 * smaller input turn it off. */
#include "zoo.h"

/* BasicConv2d(in, out, kernel_size=(kh,kw), stride, padding=(ph,pw)): scope `name` of conv + bn + relu. */
static cnn_node *basic_conv2d(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels, int kernel_h, int kernel_w,
                              int stride, int pad_h, int pad_w) {
    return cnn_zoo_conv_bn_relu(g, x, name, out_channels, kernel_h, kernel_w, stride, pad_h, pad_w, 0.001f, "relu");
}

/* F.avg_pool2d(x, kernel_size=3, stride=1, padding=1): the pool branch of InceptionA, C and E. */
static cnn_node *avg_pool_3x3(cnn_graph *g, cnn_node *x) {
    return cnn_avgpool2d(g, x, "avg_pool", 3, 1, 1, false, true);
}

/* InceptionA(in_channels, pool_features): 35x35 block, output 224 + pool_features channels. */
static cnn_node *inception_a(cnn_graph *g, cnn_node *x, const char *name, int64_t pool_features) {
    cnn_scope_push(g, "%s", name);
    cnn_node *branch1x1 = basic_conv2d(g, x, "branch1x1", 64, 1, 1, 1, 0, 0);

    cnn_node *branch5x5 = basic_conv2d(g, x, "branch5x5_1", 48, 1, 1, 1, 0, 0);
    branch5x5 = basic_conv2d(g, branch5x5, "branch5x5_2", 64, 5, 5, 1, 2, 2);

    cnn_node *branch3x3dbl = basic_conv2d(g, x, "branch3x3dbl_1", 64, 1, 1, 1, 0, 0);
    branch3x3dbl = basic_conv2d(g, branch3x3dbl, "branch3x3dbl_2", 96, 3, 3, 1, 1, 1);
    branch3x3dbl = basic_conv2d(g, branch3x3dbl, "branch3x3dbl_3", 96, 3, 3, 1, 1, 1);

    cnn_node *branch_pool = avg_pool_3x3(g, x);
    branch_pool = basic_conv2d(g, branch_pool, "branch_pool", pool_features, 1, 1, 1, 0, 0);

    cnn_node *outputs[4] = {branch1x1, branch5x5, branch3x3dbl, branch_pool};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionB(in_channels): grid reduction 35x35 -> 17x17, output 480 + in_channels channels. */
static cnn_node *inception_b(cnn_graph *g, cnn_node *x, const char *name) {
    cnn_scope_push(g, "%s", name);
    cnn_node *branch3x3 = basic_conv2d(g, x, "branch3x3", 384, 3, 3, 2, 0, 0);

    cnn_node *branch3x3dbl = basic_conv2d(g, x, "branch3x3dbl_1", 64, 1, 1, 1, 0, 0);
    branch3x3dbl = basic_conv2d(g, branch3x3dbl, "branch3x3dbl_2", 96, 3, 3, 1, 1, 1);
    branch3x3dbl = basic_conv2d(g, branch3x3dbl, "branch3x3dbl_3", 96, 3, 3, 2, 0, 0);

    cnn_node *branch_pool = cnn_maxpool2d(g, x, "max_pool", 3, 2, 0, false);

    cnn_node *outputs[3] = {branch3x3, branch3x3dbl, branch_pool};
    x = cnn_concat(g, 3, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionC(in_channels, channels_7x7): 17x17 block with 7x7 convolutions factorised into 1x7 and 7x1. */
static cnn_node *inception_c(cnn_graph *g, cnn_node *x, const char *name, int64_t channels_7x7) {
    const int64_t c7 = channels_7x7;
    cnn_scope_push(g, "%s", name);
    cnn_node *branch1x1 = basic_conv2d(g, x, "branch1x1", 192, 1, 1, 1, 0, 0);

    cnn_node *branch7x7 = basic_conv2d(g, x, "branch7x7_1", c7, 1, 1, 1, 0, 0);
    branch7x7 = basic_conv2d(g, branch7x7, "branch7x7_2", c7, 1, 7, 1, 0, 3);
    branch7x7 = basic_conv2d(g, branch7x7, "branch7x7_3", 192, 7, 1, 1, 3, 0);

    cnn_node *branch7x7dbl = basic_conv2d(g, x, "branch7x7dbl_1", c7, 1, 1, 1, 0, 0);
    branch7x7dbl = basic_conv2d(g, branch7x7dbl, "branch7x7dbl_2", c7, 7, 1, 1, 3, 0);
    branch7x7dbl = basic_conv2d(g, branch7x7dbl, "branch7x7dbl_3", c7, 1, 7, 1, 0, 3);
    branch7x7dbl = basic_conv2d(g, branch7x7dbl, "branch7x7dbl_4", c7, 7, 1, 1, 3, 0);
    branch7x7dbl = basic_conv2d(g, branch7x7dbl, "branch7x7dbl_5", 192, 1, 7, 1, 0, 3);

    cnn_node *branch_pool = avg_pool_3x3(g, x);
    branch_pool = basic_conv2d(g, branch_pool, "branch_pool", 192, 1, 1, 1, 0, 0);

    cnn_node *outputs[4] = {branch1x1, branch7x7, branch7x7dbl, branch_pool};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionD(in_channels): grid reduction 17x17 -> 8x8, output 512 + in_channels channels. */
static cnn_node *inception_d(cnn_graph *g, cnn_node *x, const char *name) {
    cnn_scope_push(g, "%s", name);
    cnn_node *branch3x3 = basic_conv2d(g, x, "branch3x3_1", 192, 1, 1, 1, 0, 0);
    branch3x3 = basic_conv2d(g, branch3x3, "branch3x3_2", 320, 3, 3, 2, 0, 0);

    cnn_node *branch7x7x3 = basic_conv2d(g, x, "branch7x7x3_1", 192, 1, 1, 1, 0, 0);
    branch7x7x3 = basic_conv2d(g, branch7x7x3, "branch7x7x3_2", 192, 1, 7, 1, 0, 3);
    branch7x7x3 = basic_conv2d(g, branch7x7x3, "branch7x7x3_3", 192, 7, 1, 1, 3, 0);
    branch7x7x3 = basic_conv2d(g, branch7x7x3, "branch7x7x3_4", 192, 3, 3, 2, 0, 0);

    cnn_node *branch_pool = cnn_maxpool2d(g, x, "max_pool", 3, 2, 0, false);

    cnn_node *outputs[3] = {branch3x3, branch7x7x3, branch_pool};
    x = cnn_concat(g, 3, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionE(in_channels): 8x8 block whose 3x3 branches end in parallel 1x3 and 3x1 convs; 2048 channels. */
static cnn_node *inception_e(cnn_graph *g, cnn_node *x, const char *name) {
    cnn_scope_push(g, "%s", name);
    cnn_node *branch1x1 = basic_conv2d(g, x, "branch1x1", 320, 1, 1, 1, 0, 0);

    cnn_node *branch3x3 = basic_conv2d(g, x, "branch3x3_1", 384, 1, 1, 1, 0, 0);
    cnn_node *split3x3[2] = {basic_conv2d(g, branch3x3, "branch3x3_2a", 384, 1, 3, 1, 0, 1),
                             basic_conv2d(g, branch3x3, "branch3x3_2b", 384, 3, 1, 1, 1, 0)};
    branch3x3 = cnn_concat(g, 2, split3x3, "branch3x3_concat");

    cnn_node *branch3x3dbl = basic_conv2d(g, x, "branch3x3dbl_1", 448, 1, 1, 1, 0, 0);
    branch3x3dbl = basic_conv2d(g, branch3x3dbl, "branch3x3dbl_2", 384, 3, 3, 1, 1, 1);
    cnn_node *split3x3dbl[2] = {basic_conv2d(g, branch3x3dbl, "branch3x3dbl_3a", 384, 1, 3, 1, 0, 1),
                                basic_conv2d(g, branch3x3dbl, "branch3x3dbl_3b", 384, 3, 1, 1, 1, 0)};
    branch3x3dbl = cnn_concat(g, 2, split3x3dbl, "branch3x3dbl_concat");

    cnn_node *branch_pool = avg_pool_3x3(g, x);
    branch_pool = basic_conv2d(g, branch_pool, "branch_pool", 192, 1, 1, 1, 0, 0);

    cnn_node *outputs[4] = {branch1x1, branch3x3, branch3x3dbl, branch_pool};
    x = cnn_concat(g, 4, outputs, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionAux(in_channels, num_classes): the auxiliary classifier on the 17x17x768 map. */
static cnn_node *inception_aux(cnn_graph *g, cnn_node *x, const char *name, int64_t classes) {
    cnn_scope_push(g, "%s", name);
    int64_t dims[CNN_MAX_RANK] = {0};
    if (x) cnn_node_shape(x, dims);
    if (x && (dims[2] < 17 || dims[3] < 17)) {
        /* avg-pool 5x5/3 then a valid 5x5 conv: a smaller map is refused there with a vaguer message */
        cnn_fail("%s: the auxiliary classifier needs a map of at least 17x17 at Mixed_6e, got %lldx%lld; use an input "
                 "of at least 299x299 or turn the auxiliary head off",
                 name, (long long)dims[2], (long long)dims[3]);
        x = NULL;
    }
    x = cnn_avgpool2d(g, x, "avg_pool", 5, 3, 0, false, true);   /* N x 768 x 5 x 5 */
    x = basic_conv2d(g, x, "conv0", 128, 1, 1, 1, 0, 0);          /* N x 128 x 5 x 5 */
    x = basic_conv2d(g, x, "conv1", 768, 5, 5, 1, 0, 0);          /* N x 768 x 1 x 1 */
    x = cnn_adaptive_avgpool(g, x, "adaptive_avg_pool", 1, 1);
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "fc", classes, true);                    /* N x classes */
    cnn_scope_pop(g);
    return x;
}

int cnn_build_inception_v3(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    cnn_node *aux = NULL;
    /* Without the head, weight files that have it still load. */
    if (!o->aux && cnn_graph_optional_prefix(g, "AuxLogits.")) return -1;
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width); /* N x 3 x 299 x 299 */
    x = basic_conv2d(g, x, "Conv2d_1a_3x3", 32, 3, 3, 2, 0, 0);           /* N x 32 x 149 x 149 */
    x = basic_conv2d(g, x, "Conv2d_2a_3x3", 32, 3, 3, 1, 0, 0);           /* N x 32 x 147 x 147 */
    x = basic_conv2d(g, x, "Conv2d_2b_3x3", 64, 3, 3, 1, 1, 1);           /* N x 64 x 147 x 147 */
    x = cnn_maxpool2d(g, x, "maxpool1", 3, 2, 0, false);                   /* N x 64 x 73 x 73 */
    x = basic_conv2d(g, x, "Conv2d_3b_1x1", 80, 1, 1, 1, 0, 0);           /* N x 80 x 73 x 73 */
    x = basic_conv2d(g, x, "Conv2d_4a_3x3", 192, 3, 3, 1, 0, 0);          /* N x 192 x 71 x 71 */
    x = cnn_maxpool2d(g, x, "maxpool2", 3, 2, 0, false);                   /* N x 192 x 35 x 35 */
    x = inception_a(g, x, "Mixed_5b", 32);                                 /* N x 256 x 35 x 35 */
    x = inception_a(g, x, "Mixed_5c", 64);                                 /* N x 288 x 35 x 35 */
    x = inception_a(g, x, "Mixed_5d", 64);                                 /* N x 288 x 35 x 35 */
    x = inception_b(g, x, "Mixed_6a");                                     /* N x 768 x 17 x 17 */
    x = inception_c(g, x, "Mixed_6b", 128);
    x = inception_c(g, x, "Mixed_6c", 160);
    x = inception_c(g, x, "Mixed_6d", 160);
    x = inception_c(g, x, "Mixed_6e", 192);                                /* N x 768 x 17 x 17 */
    if (o->aux) aux = inception_aux(g, x, "AuxLogits", o->classes);
    x = inception_d(g, x, "Mixed_7a");                                     /* N x 1280 x 8 x 8 */
    x = inception_e(g, x, "Mixed_7b");                                     /* N x 2048 x 8 x 8 */
    x = inception_e(g, x, "Mixed_7c");                                     /* N x 2048 x 8 x 8 */
    x = cnn_adaptive_avgpool(g, x, "avgpool", 1, 1);                       /* N x 2048 x 1 x 1 */
    x = cnn_dropout(g, x, "dropout", 0.5f);
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "fc", o->classes, true);                           /* N x classes */

    if (cnn_graph_add_output(g, x, 0)) return -1;
    if (o->aux && cnn_graph_add_output(g, aux, CNN_OUTPUT_TRAIN_ONLY)) return -1;
    return 0;
}
