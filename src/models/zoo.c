/* zoo.c — the registry of zoo models: name, builder and default options. */
#include "zoo.h"

#include <stdio.h>
#include <string.h>

typedef struct zoo_entry {
    const char *name;
    cnn_model_builder build;
    int64_t classes, channels, height, width;
    bool has_aux;
    const char *variants; /* space-separated, or NULL */
} zoo_entry;

static const zoo_entry zoo[] = {
    {"lenet5", cnn_build_lenet5, 10, 1, 28, 28, false, NULL},
    {"alexnet", cnn_build_alexnet, 1000, 3, 224, 224, false, NULL},
    {"alexnet_lrn", cnn_build_alexnet, 1000, 3, 224, 224, false, NULL},
    {"zfnet", cnn_build_zfnet, 1000, 3, 224, 224, false, NULL},
    {"vgg11", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg13", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg16", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg19", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg11_bn", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg13_bn", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg16_bn", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"vgg19_bn", cnn_build_vgg, 1000, 3, 224, 224, false, NULL},
    {"googlenet", cnn_build_googlenet, 1000, 3, 224, 224, true, "paper"},
    {"minigooglenet", cnn_build_minigooglenet, 10, 3, 32, 32, false, "narrow"},
    {"inception_v3", cnn_build_inception_v3, 1000, 3, 299, 299, true, NULL},
    {"inception_v4", cnn_build_inception_v4, 1000, 3, 299, 299, false, NULL},
    {"inception_resnet_v2", cnn_build_inception_resnet_v2, 1000, 3, 299, 299, false, NULL},
    {"resnet18", cnn_build_resnet, 1000, 3, 224, 224, false, NULL},
    {"resnet34", cnn_build_resnet, 1000, 3, 224, 224, false, NULL},
    {"resnet50", cnn_build_resnet, 1000, 3, 224, 224, false, NULL},
    {"resnet101", cnn_build_resnet, 1000, 3, 224, 224, false, NULL},
    {"resnet152", cnn_build_resnet, 1000, 3, 224, 224, false, NULL},
    {"densenet121", cnn_build_densenet, 1000, 3, 224, 224, false, NULL},
    {"densenet169", cnn_build_densenet, 1000, 3, 224, 224, false, NULL},
    {"densenet201", cnn_build_densenet, 1000, 3, 224, 224, false, NULL},
};

/* Is `variant` one of the space-separated words of `list`? */
static bool variant_listed(const char *list, const char *variant) {
    size_t n = strlen(variant);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, variant, n) == 0) return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

#define ZOO_SIZE (sizeof zoo / sizeof *zoo)

const char *const *cnn_model_names(void) {
    static const char *names[ZOO_SIZE + 1];
    for (size_t i = 0; i < ZOO_SIZE; i++) names[i] = zoo[i].name;
    names[ZOO_SIZE] = NULL;
    return names;
}

cnn_graph *cnn_model_build(const char *name, const cnn_model_options *opts) {
    const zoo_entry *e = NULL;
    for (size_t i = 0; i < ZOO_SIZE && name; i++)
        if (strcmp(zoo[i].name, name) == 0) e = &zoo[i];
    if (!e) {
        char list[1024];
        size_t used = 0;
        list[0] = 0;
        for (size_t i = 0; i < ZOO_SIZE && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? " " : "", zoo[i].name);
        return cnn_fail_null("unknown model '%s' (the zoo has: %s)", name ? name : "(null)", list);
    }
    cnn_model_options o = opts ? *opts : (cnn_model_options){.aux = -1};
    if (o.classes == 0) o.classes = e->classes;
    if (o.channels == 0) o.channels = e->channels;
    if (o.height == 0) o.height = e->height;
    if (o.width == 0) o.width = e->width;
    if (o.aux < 0) o.aux = e->has_aux;
    if (o.aux && !e->has_aux) return cnn_fail_null("%s: this model has no auxiliary classifiers", name);
    if (o.classes < 1) return cnn_fail_null("%s: --classes must be at least 1", name);
    if (o.channels < 1 || o.height < 1 || o.width < 1) return cnn_fail_null("%s: --input sizes must be positive", name);
    if (o.variant && !variant_listed(e->variants, o.variant))
        return cnn_fail_null("%s: unknown variant '%s' (%s%s)", name, o.variant, e->variants ? "known: " : "this model has none",
                             e->variants ? e->variants : "");
    cnn_graph *g = cnn_graph_create();
    if (!g) return NULL;
    if (e->build(g, &o, e->name)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cnn_last_error());
        cnn_graph_free(g);
        return cnn_fail_null("%s: %s", name, msg);
    }
    return g;
}

cnn_node *cnn_zoo_conv_bn_relu(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels, int kernel_h, int kernel_w,
                               int stride, int pad_h, int pad_w, float eps, const char *act) {
    cnn_scope_push(g, "%s", name);
    cnn_conv2d_params p = {.out_channels = out_channels, .kernel_h = kernel_h, .kernel_w = kernel_w, .stride_h = stride,
                           .stride_w = stride, .padding = 0, .pad_top = pad_h, .pad_bottom = pad_h, .pad_left = pad_w,
                           .pad_right = pad_w, .bias = false};
    x = cnn_conv2d_ex(g, x, "conv", &p);
    x = cnn_batchnorm(g, x, "bn", eps, 0.1f);
    x = cnn_relu(g, x, act);
    cnn_scope_pop(g);
    return x;
}
