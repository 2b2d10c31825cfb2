/* zoo.h — the model builders behind the registry in zoo.c. */
#ifndef CNN_ZOO_H
#define CNN_ZOO_H

#include "../core/internal.h"

/* A builder fills g (already created) from resolved options; returns 0 or -1. */
typedef int (*cnn_model_builder)(cnn_graph *g, const cnn_model_options *o);

int cnn_build_minigooglenet(cnn_graph *g, const cnn_model_options *o);

#endif
