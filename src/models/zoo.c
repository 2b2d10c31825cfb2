/* zoo.c — the registry of zoo models: name, builder and default options. */
#include "zoo.h"

#include <stdio.h>
#include <string.h>

typedef struct zoo_entry {
    const char *name;
    cnn_model_builder build;
    int64_t classes, channels, height, width;
    bool has_aux;
} zoo_entry;

static const zoo_entry zoo[] = {
    {"minigooglenet", cnn_build_minigooglenet, 10, 3, 32, 32, false},
};

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
    cnn_graph *g = cnn_graph_create();
    if (!g) return NULL;
    if (e->build(g, &o)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cnn_last_error());
        cnn_graph_free(g);
        return cnn_fail_null("%s: %s", name, msg);
    }
    return g;
}
