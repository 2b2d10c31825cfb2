/* pending_models.c — TEMPORARY weak placeholders for zoo builders being written; removed when all exist. */
#include "zoo.h"

#define PENDING_MODEL(fn) \
    __attribute__((weak)) int fn(cnn_graph *g, const cnn_model_options *o, const char *name) { \
        (void)g; (void)o; return cnn_fail("%s: not implemented yet", name); }
PENDING_MODEL(cnn_build_lenet5)
PENDING_MODEL(cnn_build_alexnet)
PENDING_MODEL(cnn_build_zfnet)
PENDING_MODEL(cnn_build_vgg)
PENDING_MODEL(cnn_build_googlenet)
PENDING_MODEL(cnn_build_inception_v3)
PENDING_MODEL(cnn_build_inception_v4)
PENDING_MODEL(cnn_build_inception_resnet_v2)
PENDING_MODEL(cnn_build_resnet)
PENDING_MODEL(cnn_build_densenet)
