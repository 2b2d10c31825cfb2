/* googlenet.c — GoogLeNet (Inception v1): torchvision's googlenet, and seed 001's BN-free original as variant "paper".
 *
 * Default: torchvision.models.googlenet, layer for layer. BasicConv2d is a bias-free conv, BatchNorm
 * (eps 0.001) and ReLU; the "5x5" branch (branch3) is a 3x3 conv as in torchvision (pytorch/vision#906);
 * every max-pool uses ceil mode and maxpool4 is 2x2/2; the auxiliary heads (aux1 after inception4a,
 * aux2 after inception4d) are adaptive-avg-pool 4x4, 1x1 conv 128, fc1 2048->1024, ReLU, dropout 0.7,
 * fc2; the main head is global average pool, dropout 0.2, fc. Names are torchvision's state_dict keys
 * (conv1.conv.weight, conv1.bn.running_var, inception3a.branch2.1.conv.weight, aux1.conv.conv.weight,
 * aux1.fc1.weight, fc.bias, ...). 1000 classes: 6,624,904 trainable parameters without the auxiliary
 * heads, 13,004,888 with them.
 * transform_input is off, as torchvision builds googlenet(weights=None). torchvision's pretrained
 * ImageNet weights come with transform_input=True, which maps ImageNet-normalised input back to the
 * [-1,1] scaling the ported TensorFlow weights expect: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5 with
 * mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). A user of those weights applies that
 * (equivalently: scales raw [0,1] pixels to [-1,1], (p - 0.5) / 0.5) before calling the network.
 *
 * Variant "paper" is seed 001's PyTorch code: BasicConv2d is a conv with bias and a ReLU (no
 * BatchNorm, no LRN in that code); branch3 is a real 5x5 conv (padding 2); the branch4 max-pool
 * is 3x3/1 pad 1 without ceil mode; maxpool4 is 3x3/2 ceil mode; InceptionAux is avg-pool 5x5/3,
 * 1x1 conv 128, flatten, dropout 0.5, fc1 2048->1024, ReLU, dropout 0.5, fc2 (so its map must be
 * 4x4: a 14x14 to 16x16 map at inception4a, which 224x224 input gives); the main head is global
 * average pool, dropout 0.4, fc. Parameter names, the seed's module names:
 *   conv1.conv.{weight,bias}  conv2.conv.*  conv3.conv.*                 the stem
 *   inception{3a,3b,4a..4e,5a,5b}.branch1.conv.*                         1x1 branch
 *   inception*.branch2.{0,1}.conv.*  inception*.branch3.{0,1}.conv.*     1x1 reduce, then 3x3 / 5x5
 *   inception*.branch4.1.conv.*                                          pool projection (branch4.0 is the pool)
 *   aux{1,2}.conv.conv.*  aux{1,2}.fc1.*  aux{1,2}.fc2.*                 auxiliary heads
 *   fc.{weight,bias}
 * 1000 classes: 6,998,552 parameters without the auxiliary heads, 13,378,280 with them.
 *
 * Outputs: the main logits, then (train-only) aux1 and aux2. That is the order torchvision's train-mode
 * googlenet returns them in (its forward swaps the pair, so GoogLeNetOutputs' field "aux_logits2" holds
 * aux1); seed 001 returns (x, aux2, aux1). Both heads weigh the same in the loss. */
#include "zoo.h"

#include <string.h>

/* BasicConv2d(in, out, kernel_size, stride, padding): scope `name` holding conv (+ bn) + relu. */
static cnn_node *basic_conv2d(cnn_graph *g, cnn_node *x, const char *name, bool paper, int64_t out_channels, int kernel,
                              int stride, int padding) {
    cnn_scope_push(g, "%s", name);
    x = cnn_conv2d(g, x, "conv", out_channels, kernel, kernel, stride, padding, paper);
    if (!paper) x = cnn_batchnorm(g, x, "bn", 0.001f, 0.1f);
    x = cnn_relu(g, x, "relu");
    cnn_scope_pop(g);
    return x;
}

/* Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj): four branches, concatenated. */
static cnn_node *inception(cnn_graph *g, cnn_node *x, const char *name, bool paper, int64_t ch1x1, int64_t ch3x3red,
                           int64_t ch3x3, int64_t ch5x5red, int64_t ch5x5, int64_t pool_proj) {
    cnn_scope_push(g, "%s", name);
    cnn_node *branches[4];
    branches[0] = basic_conv2d(g, x, "branch1", paper, ch1x1, 1, 1, 0);

    cnn_scope_push(g, "branch2");
    branches[1] = basic_conv2d(g, x, "0", paper, ch3x3red, 1, 1, 0);
    branches[1] = basic_conv2d(g, branches[1], "1", paper, ch3x3, 3, 1, 1);
    cnn_scope_pop(g);

    cnn_scope_push(g, "branch3");
    branches[2] = basic_conv2d(g, x, "0", paper, ch5x5red, 1, 1, 0);
    branches[2] = paper ? basic_conv2d(g, branches[2], "1", paper, ch5x5, 5, 1, 2)
                        : basic_conv2d(g, branches[2], "1", paper, ch5x5, 3, 1, 1); /* torchvision's known 3x3 */
    cnn_scope_pop(g);

    cnn_scope_push(g, "branch4");
    branches[3] = cnn_maxpool2d(g, x, "0", 3, 1, 1, !paper);
    branches[3] = basic_conv2d(g, branches[3], "1", paper, pool_proj, 1, 1, 0);
    cnn_scope_pop(g);

    x = cnn_concat(g, 4, branches, "concat");
    cnn_scope_pop(g);
    return x;
}

/* InceptionAux(in_channels, num_classes): a small classifier on an intermediate 14x14 map. */
static cnn_node *inception_aux(cnn_graph *g, cnn_node *x, const char *name, bool paper, int64_t classes) {
    cnn_scope_push(g, "%s", name);
    if (paper) {
        x = cnn_avgpool2d(g, x, "averagePool", 5, 3, 0, false, true);
        int64_t dims[CNN_MAX_RANK] = {0};
        if (x) cnn_node_shape(x, dims);
        if (x && (dims[2] != 4 || dims[3] != 4)) {
            cnn_fail("%s: the paper's auxiliary classifier needs a 4x4 map after its 5x5/3 average pool (fc1 takes "
                     "128*4*4 = 2048 features), got %lldx%lld; use 224x224 input or turn the auxiliary heads off",
                     cnn_node_name(x), (long long)dims[2], (long long)dims[3]);
            x = NULL;
        }
    } else {
        x = cnn_adaptive_avgpool(g, x, "pool", 4, 4);
    }
    x = basic_conv2d(g, x, "conv", paper, 128, 1, 1, 0);
    x = cnn_flatten(g, x, "flatten");
    if (paper) x = cnn_dropout(g, x, "dropout1", 0.5f);
    x = cnn_dense(g, x, "fc1", 1024, true);
    x = cnn_relu(g, x, "relu");
    x = cnn_dropout(g, x, paper ? "dropout2" : "dropout", paper ? 0.5f : 0.7f);
    x = cnn_dense(g, x, "fc2", classes, true);
    cnn_scope_pop(g);
    return x;
}

int cnn_build_googlenet(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    const bool paper = o->variant && strcmp(o->variant, "paper") == 0;
    cnn_node *aux1 = NULL, *aux2 = NULL;
    /* Without the heads, weight files that have them still load. */
    if (!o->aux && (cnn_graph_optional_prefix(g, "aux1.") || cnn_graph_optional_prefix(g, "aux2."))) return -1;

    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = basic_conv2d(g, x, "conv1", paper, 64, 7, 2, 3);          /* N x 64 x 112 x 112 */
    x = cnn_maxpool2d(g, x, "maxpool1", 3, 2, 0, true);            /* N x 64 x 56 x 56 */
    x = basic_conv2d(g, x, "conv2", paper, 64, 1, 1, 0);
    x = basic_conv2d(g, x, "conv3", paper, 192, 3, 1, 1);         /* N x 192 x 56 x 56 */
    x = cnn_maxpool2d(g, x, "maxpool2", 3, 2, 0, true);            /* N x 192 x 28 x 28 */

    x = inception(g, x, "inception3a", paper, 64, 96, 128, 16, 32, 32);     /* N x 256 x 28 x 28 */
    x = inception(g, x, "inception3b", paper, 128, 128, 192, 32, 96, 64);   /* N x 480 x 28 x 28 */
    x = cnn_maxpool2d(g, x, "maxpool3", 3, 2, 0, true);                     /* N x 480 x 14 x 14 */

    x = inception(g, x, "inception4a", paper, 192, 96, 208, 16, 48, 64);    /* N x 512 x 14 x 14 */
    if (o->aux) aux1 = inception_aux(g, x, "aux1", paper, o->classes);
    x = inception(g, x, "inception4b", paper, 160, 112, 224, 24, 64, 64);
    x = inception(g, x, "inception4c", paper, 128, 128, 256, 24, 64, 64);
    x = inception(g, x, "inception4d", paper, 112, 144, 288, 32, 64, 64);   /* N x 528 x 14 x 14 */
    if (o->aux) aux2 = inception_aux(g, x, "aux2", paper, o->classes);
    x = inception(g, x, "inception4e", paper, 256, 160, 320, 32, 128, 128); /* N x 832 x 14 x 14 */
    x = paper ? cnn_maxpool2d(g, x, "maxpool4", 3, 2, 0, true) : cnn_maxpool2d(g, x, "maxpool4", 2, 2, 0, true);

    x = inception(g, x, "inception5a", paper, 256, 160, 320, 32, 128, 128); /* N x 832 x 7 x 7 */
    x = inception(g, x, "inception5b", paper, 384, 192, 384, 48, 128, 128); /* N x 1024 x 7 x 7 */

    x = cnn_adaptive_avgpool(g, x, "avgpool", 1, 1);                         /* N x 1024 x 1 x 1 */
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dropout(g, x, "dropout", paper ? 0.4f : 0.2f);
    x = cnn_dense(g, x, "fc", o->classes, true);                            /* N x classes */

    if (cnn_graph_add_output(g, x, 0)) return -1;
    if (o->aux && (cnn_graph_add_output(g, aux1, CNN_OUTPUT_TRAIN_ONLY) || cnn_graph_add_output(g, aux2, CNN_OUTPUT_TRAIN_ONLY)))
        return -1;
    return 0;
}
