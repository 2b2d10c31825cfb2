/* checkpoint.c — training checkpoints: weights, optimizer state and metadata in one safetensors file. */
#include "../core/internal.h"

#include <stdlib.h>
#include <string.h>

#define OPT_PREFIX "optimizer."

int cnn_checkpoint_save(const char *path, const cnn_graph *g, cnn_optimizer *opt, int n_meta, const char *const *keys,
                        const char *const *values) {
    int n_state = opt ? cnn_optimizer_state_count(opt) : 0;
    int64_t n = g->n_params + n_state;
    cnn_st_write *t = cnn_calloc((size_t)(n ? n : 1), sizeof *t, "checkpoint");
    char **names = cnn_calloc((size_t)(n_state ? n_state : 1), sizeof *names, "checkpoint");
    int rc = -1;
    if (!t || !names) goto done;
    for (int64_t i = 0; i < g->n_params; i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        t[i] = (cnn_st_write){.name = p.name, .dtype = CNN_F32, .rank = p.rank, .data = p.data};
        for (int d = 0; d < p.rank; d++) t[i].shape[d] = p.shape[d];
    }
    for (int i = 0; i < n_state; i++) {
        const char *name;
        int64_t count;
        float *data = cnn_optimizer_state(opt, i, &name, &count);
        size_t len = strlen(OPT_PREFIX) + strlen(name) + 1;
        names[i] = malloc(len);
        if (!names[i] || !data) {
            cnn_fail("%s: out of memory", path);
            goto done;
        }
        snprintf(names[i], len, "%s%s", OPT_PREFIX, name);
        t[g->n_params + i] = (cnn_st_write){.name = names[i], .dtype = CNN_F32, .rank = 1, .shape = {count}, .data = data};
    }
    /* Every checkpoint says what it is, so that loading can refuse plain weight files. */
    const char **k2 = cnn_calloc((size_t)n_meta + 1, sizeof *k2, "checkpoint"), **v2 = cnn_calloc((size_t)n_meta + 1, sizeof *v2, "checkpoint");
    if (k2 && v2) {
        k2[0] = "cnn.checkpoint", v2[0] = "1";
        for (int i = 0; i < n_meta; i++) k2[i + 1] = keys[i], v2[i + 1] = values[i];
        rc = cnn_safetensors_write(path, (int)n, t, n_meta + 1, k2, v2);
    }
    free(k2);
    free(v2);
done:
    for (int i = 0; names && i < n_state; i++) free(names[i]);
    free(names);
    free(t);
    return rc;
}

cnn_safetensors *cnn_checkpoint_load(const char *path, cnn_graph *g, cnn_optimizer *opt) {
    cnn_safetensors *f = cnn_safetensors_read(path);
    if (!f) return NULL;
    if (!cnn_safetensors_metadata(f, "cnn.checkpoint")) {
        cnn_safetensors_free(f);
        return cnn_fail_null("%s: not a cnn training checkpoint (no cnn.checkpoint metadata)", path);
    }
    /* Check everything, then copy: a bad file leaves the graph and optimizer as they were. */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < g->n_params; i++) {
            cnn_param p;
            cnn_st_tensor t;
            cnn_param_get(g, i, &p);
            if (cnn_safetensors_find(f, p.name, &t)) goto fail;
            if (t.dtype != CNN_F32 || t.numel != p.numel) {
                cnn_fail("%s: tensor '%s' has %lld elements of another type or size than the model's %lld", path, p.name,
                         (long long)t.numel, (long long)p.numel);
                goto fail;
            }
            if (pass == 1) memcpy(p.data, t.data, (size_t)p.numel * sizeof(float));
        }
        for (int i = 0; opt && i < cnn_optimizer_state_count(opt); i++) {
            const char *name;
            int64_t count;
            float *data = cnn_optimizer_state(opt, i, &name, &count);
            char key[256];
            cnn_st_tensor t;
            snprintf(key, sizeof key, "%s%s", OPT_PREFIX, name);
            if (cnn_safetensors_find(f, key, &t)) {
                cnn_fail("%s: no optimizer state '%s' (was the checkpoint written with another --optimizer?)", path, key);
                goto fail;
            }
            if (t.dtype != CNN_F32 || t.numel != count) {
                cnn_fail("%s: optimizer state '%s' has the wrong size", path, key);
                goto fail;
            }
            if (pass == 1) memcpy(data, t.data, (size_t)count * sizeof(float));
        }
    }
    return f;
fail:
    cnn_safetensors_free(f);
    return NULL;
}
