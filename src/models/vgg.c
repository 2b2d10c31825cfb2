/* vgg.c — torchvision's VGG-11/13/16/19 and their _bn variants, built from the config lists (seed 001).
 *
 * Same network and names as torchvision.models.vgg*: `features` is make_layers(cfg) — per number
 * in the list a 3x3 pad-1 convolution (bias on), with _bn a BatchNorm (eps 1e-5, momentum 0.1),
 * then a ReLU; per 'M' a 2x2 stride-2 max-pool — each layer taking the next index of the
 * nn.Sequential (features.0.weight, features.1.running_var, ...). Then a 7x7 adaptive average pool
 * (so any input that survives the five pools works) and `classifier`: 0 Linear 4096, 1 ReLU,
 * 2 Dropout 0.5, 3 Linear 4096, 4 ReLU, 5 Dropout 0.5, 6 Linear classes. vgg16: 138,357,544
 * parameters with 1000 classes. */
#include "zoo.h"

#include <stdio.h>
#include <string.h>

enum { M = -1, END = 0 }; /* 'M' of the config lists: a 2x2 max-pool; END closes a list */

typedef struct vgg_config {
    const char *name;
    int layers[24];
} vgg_config;

/* torchvision's cfgs "A", "B", "D", "E". */
static const vgg_config configs[] = {
    {"vgg11", {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M, END}},
    {"vgg13", {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M, END}},
    {"vgg16", {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M, END}},
    {"vgg19", {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M, END}},
};

/* The next index of an nn.Sequential, as a layer name. */
static const char *next_index(char name[16], int *index) {
    snprintf(name, 16, "%d", (*index)++);
    return name;
}

static cnn_node *make_layers(cnn_graph *g, cnn_node *x, const int *cfg, bool batch_norm) {
    char name[16];
    int index = 0;
    cnn_scope_push(g, "features");
    for (const int *v = cfg; *v != END; v++) {
        if (*v == M) {
            x = cnn_maxpool2d(g, x, next_index(name, &index), 2, 2, 0, false);
            continue;
        }
        x = cnn_conv2d(g, x, next_index(name, &index), *v, 3, 3, 1, 1, true);
        if (batch_norm) x = cnn_batchnorm(g, x, next_index(name, &index), 1e-5f, 0.1f);
        x = cnn_relu(g, x, next_index(name, &index));
    }
    cnn_scope_pop(g);
    return x;
}

int cnn_build_vgg(cnn_graph *g, const cnn_model_options *o, const char *name) {
    size_t base_len = strlen(name);
    bool batch_norm = base_len > 3 && strcmp(name + base_len - 3, "_bn") == 0;
    if (batch_norm) base_len -= 3;
    const vgg_config *cfg = NULL;
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        if (strlen(configs[i].name) == base_len && strncmp(configs[i].name, name, base_len) == 0) cfg = &configs[i];
    if (!cfg) return cnn_fail("no VGG configuration named '%s'", name);

    cnn_node *x = cnn_input(g, "input", o->channels, o->height, o->width);
    x = make_layers(g, x, cfg->layers, batch_norm);
    x = cnn_adaptive_avgpool(g, x, "avgpool", 7, 7);
    x = cnn_flatten(g, x, "flatten");
    cnn_scope_push(g, "classifier");
    x = cnn_dense(g, x, "0", 4096, true);
    x = cnn_relu(g, x, "1");
    x = cnn_dropout(g, x, "2", 0.5f);
    x = cnn_dense(g, x, "3", 4096, true);
    x = cnn_relu(g, x, "4");
    x = cnn_dropout(g, x, "5", 0.5f);
    x = cnn_dense(g, x, "6", o->classes, true);
    cnn_scope_pop(g);
    return cnn_graph_add_output(g, x, 0);
}
