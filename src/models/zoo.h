/* zoo.h — the model builders behind the registry in zoo.c. */
#ifndef CNN_ZOO_H
#define CNN_ZOO_H

#include "../core/internal.h"

/* A builder fills g (already created) from resolved options (classes, input, aux 0/1, variant
 * NULL or one the registry lists for it); `name` is the zoo name, so that one builder can serve
 * a family (vgg11 ... vgg19_bn). Returns 0 or -1 with the error of the layer that failed. */
/* conv (no bias) + BatchNorm(eps, momentum 0.1) + ReLU in scope `name` as "<name>.conv",
 * "<name>.bn", "<name>.<act>": torchvision's BasicConv2d and timm's ConvNormAct. */
cnn_node *cnn_zoo_conv_bn_relu(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels, int kernel_h, int kernel_w,
                               int stride, int pad_h, int pad_w, float eps, const char *act);

typedef int (*cnn_model_builder)(cnn_graph *g, const cnn_model_options *o, const char *name);

int cnn_build_lenet5(cnn_graph *g, const cnn_model_options *o, const char *name);        /* lenet.c */
int cnn_build_alexnet(cnn_graph *g, const cnn_model_options *o, const char *name);       /* alexnet.c: alexnet, alexnet_lrn */
int cnn_build_zfnet(cnn_graph *g, const cnn_model_options *o, const char *name);         /* alexnet.c */
int cnn_build_vgg(cnn_graph *g, const cnn_model_options *o, const char *name);           /* vgg.c */
int cnn_build_googlenet(cnn_graph *g, const cnn_model_options *o, const char *name);     /* googlenet.c */
int cnn_build_minigooglenet(cnn_graph *g, const cnn_model_options *o, const char *name); /* minigooglenet.c */
int cnn_build_inception_v3(cnn_graph *g, const cnn_model_options *o, const char *name);  /* inception_v3.c */
int cnn_build_inception_v4(cnn_graph *g, const cnn_model_options *o, const char *name);  /* inception_v4.c */
int cnn_build_inception_resnet_v2(cnn_graph *g, const cnn_model_options *o, const char *name); /* inception_resnet.c */
int cnn_build_resnet(cnn_graph *g, const cnn_model_options *o, const char *name);        /* resnet.c */
int cnn_build_densenet(cnn_graph *g, const cnn_model_options *o, const char *name);      /* densenet.c */

#endif
