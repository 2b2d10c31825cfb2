/* lenet.c — LeNet-5 as seed 004 describes it: conv 20 5x5, pool, conv 50 5x5, pool, fc 500, ReLU, fc 10.
 *
 * The layers follow the seed's walk-through of the network (Caffe's LeNet), activations included:
 * the two convolutions have no activation, only fc1 is followed by a ReLU, and the logits of fc2 go
 * to the softmax in the loss. For 1x28x28 input:
 *   conv1   5x5 conv, 20 filters, stride 1, no padding      [20,24,24]
 *   pool1   2x2 max-pool, stride 2                          [20,12,12]
 *   conv2   5x5 conv, 50 filters, stride 1, no padding      [50,8,8]
 *   pool2   2x2 max-pool, stride 2                          [50,4,4]
 *   flatten                                                 [800]
 *   fc1     dense 500, then ReLU                            [500]
 *   fc2     dense `classes`                                 [10]
 * With 10 classes: 431,080 parameters, all trainable. The seed's Keras listing that follows the text
 * is a different network (32 and 64 filters, ReLU after each conv, dense 100); the text is the spec.
 * Parameter names (there is no torchvision twin), as a PyTorch module with these attribute names
 * would give them: conv1.{weight,bias}, conv2.{weight,bias}, fc1.{weight,bias}, fc2.{weight,bias}.
 * Other input sizes work while both pools still see at least 2x2; fc1 takes whatever pool2 flattens to. */
#include "zoo.h"

int cnn_build_lenet5(cnn_graph *g, const cnn_model_options *o, const char *name) {
    (void)name;
    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = cnn_conv2d(g, x, "conv1", 20, 5, 5, 1, 0, true);
    x = cnn_maxpool2d(g, x, "pool1", 2, 2, 0, false);
    x = cnn_conv2d(g, x, "conv2", 50, 5, 5, 1, 0, true);
    x = cnn_maxpool2d(g, x, "pool2", 2, 2, 0, false);
    x = cnn_flatten(g, x, "flatten");
    x = cnn_dense(g, x, "fc1", 500, true);
    x = cnn_relu(g, x, "relu1");
    x = cnn_dense(g, x, "fc2", o->classes, true);
    return cnn_graph_add_output(g, x, 0);
}
