/* alexnet.c — AlexNet as torchvision has it ("alexnet"), the 2012 paper's with LRN ("alexnet_lrn"), and ZF-Net.
 *
 * "alexnet" is torchvision.models.alexnet, layer for layer and name for name (61,100,840 parameters
 * with 1000 classes): features.{0,3,6,8,10} are the convolutions (64 11x11/4 pad 2, 192 5x5 pad 2,
 * 384, 256, 256 3x3 pad 1), each followed by a ReLU, with 3x3/2 max-pools at features.{2,5,12};
 * then a 6x6 adaptive average pool, and classifier.{1,4,6} (4096, 4096, classes) with dropout 0.5
 * before the first two and a ReLU after them.
 *
 * "alexnet_lrn" is the 2012 network as seed 004 describes it: its Keras listing (one tower of
 * 96-256-384-384-256 filters, dense 4096-4096-classes, dropout 0.5 after the first two dense ReLUs)
 * with the local response normalisation its text and the paper put after the ReLUs of conv1 and
 * conv2, before their pools. Layers and parameter names (224x224 input):
 *   conv1 relu1   96 11x11, stride 4, pad 2                 [96,55,55]
 *   norm1         LRN: size 5, alpha 1e-4, beta 0.75, k 2
 *   pool1         3x3 max-pool, stride 2                    [96,27,27]
 *   conv2 relu2   256 5x5, pad 2 ("same")                   [256,27,27]
 *   norm2         LRN as norm1
 *   pool2         3x3 max-pool, stride 2                    [256,13,13]
 *   conv3 relu3   384 3x3, pad 1                            [384,13,13]
 *   conv4 relu4   384 3x3, pad 1                            [384,13,13]
 *   conv5 relu5   256 3x3, pad 1                            [256,13,13]
 *   pool5         3x3 max-pool, stride 2                    [256,6,6]
 *   flatten, fc6 relu6 drop6 (4096), fc7 relu7 drop7 (4096), fc8 (classes)
 * conv1..conv5 and fc6..fc8 each have .weight and .bias: 62,378,344 parameters with 1000 classes.
 * The seed pads 224x224 to 227x227 to get 55x55 from conv1; padding 2 on every side, as here and in
 * torchvision, is the same thing at 224 (the last row and column of padding are never reached).
 * The paper's LRN is b = a / (k + alpha * sum a^2)^beta with alpha 1e-4 on the plain sum; PyTorch's
 * nn.LocalResponseNorm (and cnn_lrn) divide alpha by the size, so the equivalent PyTorch layer is
 * nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2).
 * Where it departs from torchvision's alexnet: 96/256/384/384/256 filters instead of
 * 64/192/384/256/256, the two LRN layers, no adaptive average pool (fc6 takes what pool5 flattens
 * to, 9216 at 224x224), dropout after fc6 and fc7 rather than before them, and these names. Like the
 * seed it is one tower: the paper's two-GPU split (conv2, conv4, conv5 in two groups, 60,965,224
 * parameters) is not reproduced.
 *
 * "zfnet" is seed 004's Keras ZF_Net: AlexNet's stack with a 7x7 stride-2 unpadded conv1 and a
 * stride-2 conv2, no LRN. Layers and names (224x224 input):
 *   conv1 relu1   96 7x7, stride 2, no padding              [96,109,109]
 *   pool1         3x3 max-pool, stride 2                    [96,54,54]
 *   conv2 relu2   256 5x5, stride 2, Keras "same" padding   [256,27,27]  (1 before, 2 after at 54)
 *   pool2         3x3 max-pool, stride 2                    [256,13,13]
 *   conv3 relu3, conv4 relu4, conv5 relu5: 384, 384, 256 3x3, pad 1
 *   pool5         3x3 max-pool, stride 2                    [256,6,6]
 *   flatten, fc6 relu6 drop6 (4096), fc7 relu7 drop7 (4096), fc8 (classes)
 * 62,357,608 parameters with 1000 classes. The ZF paper also normalises after pool1 and pool2 and
 * pads conv1 (110x110); the seed's listing does neither, and neither does this. */
#include "zoo.h"

#include <stdio.h>
#include <string.h>

/* torchvision.models.AlexNet: features, avgpool, classifier. */
static int torchvision_alexnet(cnn_graph *g, const cnn_model_options *o) {
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    cnn_scope_push(g, "features");
    x = cnn_conv2d(g, x, "0", 64, 11, 11, 4, 2, true);
    x = cnn_relu(g, x, "1");
    x = cnn_maxpool2d(g, x, "2", 3, 2, 0, false);
    x = cnn_conv2d(g, x, "3", 192, 5, 5, 1, 2, true);
    x = cnn_relu(g, x, "4");
    x = cnn_maxpool2d(g, x, "5", 3, 2, 0, false);
    x = cnn_conv2d(g, x, "6", 384, 3, 3, 1, 1, true);
    x = cnn_relu(g, x, "7");
    x = cnn_conv2d(g, x, "8", 256, 3, 3, 1, 1, true);
    x = cnn_relu(g, x, "9");
    x = cnn_conv2d(g, x, "10", 256, 3, 3, 1, 1, true);
    x = cnn_relu(g, x, "11");
    x = cnn_maxpool2d(g, x, "12", 3, 2, 0, false);
    cnn_scope_pop(g);
    x = cnn_adaptive_avgpool(g, x, "avgpool", 6, 6);
    x = cnn_flatten(g, x, "flatten");
    cnn_scope_push(g, "classifier");
    x = cnn_dropout(g, x, "0", 0.5f);
    x = cnn_dense(g, x, "1", 4096, true);
    x = cnn_relu(g, x, "2");
    x = cnn_dropout(g, x, "3", 0.5f);
    x = cnn_dense(g, x, "4", 4096, true);
    x = cnn_relu(g, x, "5");
    x = cnn_dense(g, x, "6", o->classes, true);
    cnn_scope_pop(g);
    return cnn_graph_add_output(g, x, 0);
}

/* Keras's Conv2D(filters, (k,k), strides, padding, activation='relu') as conv<index> and relu<index>. */
static cnn_node *conv_relu(cnn_graph *g, cnn_node *x, int index, int64_t filters, int kernel, int stride, int padding) {
    char conv[16], relu[16];
    snprintf(conv, sizeof conv, "conv%d", index);
    snprintf(relu, sizeof relu, "relu%d", index);
    cnn_conv2d_params p = {.out_channels = filters, .kernel_h = kernel, .kernel_w = kernel, .stride_h = stride,
                           .stride_w = stride, .padding = padding, .bias = true};
    if (padding >= 0) p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = padding;
    x = cnn_conv2d_ex(g, x, conv, &p);
    return cnn_relu(g, x, relu);
}

/* The paper's LRN (k 2, n 5, alpha 1e-4 on the plain sum, beta 0.75) in PyTorch's terms. */
static cnn_node *paper_lrn(cnn_graph *g, cnn_node *x, const char *name) {
    const int size = 5;
    return cnn_lrn(g, x, name, size, 1e-4f * size, 0.75f, 2.0f);
}

/* Flatten, Dense(4096, relu), Dropout(0.5), Dense(4096, relu), Dropout(0.5), Dense(classes). */
static int dense_head(cnn_graph *g, cnn_node *x, int64_t classes) {
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "fc6", 4096, true);
    x = cnn_relu(g, x, "relu6");
    x = cnn_dropout(g, x, "drop6", 0.5f);
    x = cnn_dense(g, x, "fc7", 4096, true);
    x = cnn_relu(g, x, "relu7");
    x = cnn_dropout(g, x, "drop7", 0.5f);
    x = cnn_dense(g, x, "fc8", classes, true);
    return cnn_graph_add_output(g, x, 0);
}

static int paper_alexnet(cnn_graph *g, const cnn_model_options *o) {
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = conv_relu(g, x, 1, 96, 11, 4, 2);
    x = paper_lrn(g, x, "norm1");
    x = cnn_maxpool2d(g, x, "pool1", 3, 2, 0, false);
    x = conv_relu(g, x, 2, 256, 5, 1, 2);
    x = paper_lrn(g, x, "norm2");
    x = cnn_maxpool2d(g, x, "pool2", 3, 2, 0, false);
    x = conv_relu(g, x, 3, 384, 3, 1, 1);
    x = conv_relu(g, x, 4, 384, 3, 1, 1);
    x = conv_relu(g, x, 5, 256, 3, 1, 1);
    x = cnn_maxpool2d(g, x, "pool5", 3, 2, 0, false);
    return dense_head(g, x, o->classes);
}

int cnn_build_alexnet(cnn_graph *g, const cnn_model_options *o, const char *name) {
    return strcmp(name, "alexnet_lrn") == 0 ? paper_alexnet(g, o) : torchvision_alexnet(g, o);
}

int cnn_build_zfnet(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = conv_relu(g, x, 1, 96, 7, 2, CNN_PAD_VALID);
    x = cnn_maxpool2d(g, x, "pool1", 3, 2, 0, false);
    x = conv_relu(g, x, 2, 256, 5, 2, CNN_PAD_SAME);
    x = cnn_maxpool2d(g, x, "pool2", 3, 2, 0, false);
    x = conv_relu(g, x, 3, 384, 3, 1, 1);
    x = conv_relu(g, x, 4, 384, 3, 1, 1);
    x = conv_relu(g, x, 5, 256, 3, 1, 1);
    x = cnn_maxpool2d(g, x, "pool5", 3, 2, 0, false);
    return dense_head(g, x, o->classes);
}
