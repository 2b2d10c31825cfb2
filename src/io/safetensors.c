/* safetensors.c — reading, validating and atomically writing .safetensors files; graph weights. */
#include "../core/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_BYTES (100u << 20)
#define MAX_FILE_BYTES ((size_t)64 << 30)

struct cnn_safetensors {
    char *path;
    unsigned char *file;     /* the whole file */
    size_t file_size;
    const unsigned char *data; /* start of the byte buffer */
    size_t data_size;
    int n;
    cnn_st_tensor *tensors;
    char **names;
    int n_meta;
    char **meta_keys, **meta_values;
};

static const struct {
    const char *name;
    cnn_dtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", CNN_F32, 4}, {"F64", CNN_F64, 8}, {"F16", CNN_F16, 2}, {"BF16", CNN_BF16, 2}, {"I64", CNN_I64, 8},
    {"I32", CNN_I32, 4}, {"I16", CNN_I16, 2}, {"I8", CNN_I8, 1},   {"U8", CNN_U8, 1},     {"BOOL", CNN_BOOL, 1},
};

static size_t dtype_size(cnn_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == d) return dtypes[i].size;
    return 0;
}

static const char *dtype_name(cnn_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == d) return dtypes[i].name;
    return "?";
}

void cnn_safetensors_free(cnn_safetensors *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->names[i]);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->file);
    free(f->path);
    free(f);
}

/* A JSON number that is a whole value in [0, limit]. */
static int json_index(const cJSON *v, double limit, int64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= limit) || d != floor(d)) return -1;
    *out = (int64_t)d;
    return 0;
}

static int parse_tensor(cnn_safetensors *f, const cJSON *item, int index) {
    const char *path = f->path, *name = item->string;
    cnn_st_tensor *t = &f->tensors[index];
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return cnn_fail("%s: tensor '%s': header entry needs dtype, shape and data_offsets", path, name);
    size_t esize = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, dt->valuestring) == 0) {
            t->dtype = dtypes[i].dtype;
            esize = dtypes[i].size;
        }
    if (!esize) return cnn_fail("%s: tensor '%s': unsupported dtype %s", path, name, dt->valuestring);
    int rank = cJSON_GetArraySize(shape);
    if (rank > 8) return cnn_fail("%s: tensor '%s': rank %d is more than 8", path, name, rank);
    t->rank = rank;
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        int64_t d;
        if (json_index(cJSON_GetArrayItem(shape, i), 9.0e15, &d))
            return cnn_fail("%s: tensor '%s': bad shape", path, name);
        t->shape[i] = d;
        numel = cnn_mul_i64(numel, d);
        if (numel < 0) return cnn_fail("%s: tensor '%s': shape overflows", path, name);
    }
    t->numel = numel;
    int64_t begin, end;
    if (json_index(cJSON_GetArrayItem(offs, 0), 9.0e15, &begin) || json_index(cJSON_GetArrayItem(offs, 1), 9.0e15, &end) ||
        end < begin)
        return cnn_fail("%s: tensor '%s': bad data_offsets", path, name);
    if ((uint64_t)end > f->data_size)
        return cnn_fail("%s: tensor '%s': data_offsets [%lld,%lld] beyond the %zu data bytes (truncated file?)", path, name,
                        (long long)begin, (long long)end, f->data_size);
    int64_t want = cnn_mul_i64(numel, (int64_t)esize);
    if (want != end - begin)
        return cnn_fail("%s: tensor '%s': %lld bytes for %lld elements of %s", path, name, (long long)(end - begin),
                        (long long)numel, dt->valuestring);
    f->names[index] = strdup(name);
    if (!f->names[index]) return cnn_fail("%s: out of memory", path);
    t->name = f->names[index];
    t->data = f->data + begin;
    t->nbytes = (size_t)(end - begin);
    return 0;
}

static int parse_metadata(cnn_safetensors *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) return cnn_fail("%s: __metadata__ must be an object of strings", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = cnn_calloc((size_t)n, sizeof(char *), "metadata");
    f->meta_values = cnn_calloc((size_t)n, sizeof(char *), "metadata");
    if (!f->meta_keys || !f->meta_values) return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, meta) {
        if (!cJSON_IsString(it)) return cnn_fail("%s: __metadata__ value of '%s' is not a string", f->path, it->string);
        f->meta_keys[f->n_meta] = strdup(it->string);
        f->meta_values[f->n_meta] = strdup(it->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1]) return cnn_fail("%s: out of memory", f->path);
    }
    return 0;
}

/* Parses f->file (f->file_size bytes, owned by f) into f; frees f on failure. path names it in messages. */
static cnn_safetensors *parse_file(cnn_safetensors *f) {
    const char *path = f->path;
    cJSON *root = NULL;
    if (f->file_size < 8) {
        cnn_fail("%s: not a safetensors file (%zu bytes, too short for the header length)", path, f->file_size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->file[i];
    if (hlen > MAX_HEADER_BYTES || hlen > f->file_size - 8) {
        cnn_fail("%s: not a safetensors file (header length %llu does not fit the %zu-byte file)", path,
                 (unsigned long long)hlen, f->file_size);
        goto fail;
    }
    if (hlen < 2 || f->file[8] != '{') {
        cnn_fail("%s: not a safetensors file (the header is not a JSON object)", path);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)f->file + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cnn_fail("%s: not a safetensors file (bad JSON header)", path);
        goto fail;
    }
    f->data = f->file + 8 + hlen;
    f->data_size = f->file_size - 8 - (size_t)hlen;
    int n = cJSON_GetArraySize(root);
    f->tensors = cnn_calloc((size_t)n, sizeof *f->tensors, "safetensors");
    f->names = cnn_calloc((size_t)n, sizeof *f->names, "safetensors");
    if (!f->tensors || !f->names) goto fail;
    const cJSON *item;
    bool have_meta = false;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (have_meta) { /* the header is a JSON object: a key twice is a malformed file */
                cnn_fail("%s: __metadata__ given twice in the header", path);
                goto fail;
            }
            have_meta = true;
            if (parse_metadata(f, item)) goto fail;
            continue;
        }
        for (int64_t i = 0; i < f->n; i++)
            if (strcmp(f->names[i], item->string) == 0) {
                cnn_fail("%s: tensor '%s' given twice in the header", path, item->string);
                goto fail;
            }
        if (parse_tensor(f, item, f->n)) goto fail;
        f->n++;
    }
    cJSON_Delete(root);
    return f;
fail:
    cJSON_Delete(root);
    cnn_safetensors_free(f);
    return NULL;
}

cnn_safetensors *cnn_safetensors_read(const char *path) {
    cnn_safetensors *f = cnn_calloc(1, sizeof *f, "safetensors");
    if (!f) return NULL;
    f->path = strdup(path);
    if (!f->path || cnn_read_file(path, MAX_FILE_BYTES, &f->file, &f->file_size)) {
        if (!f->path) cnn_fail("%s: out of memory", path);
        cnn_safetensors_free(f);
        return NULL;
    }
    return parse_file(f);
}

cnn_safetensors *cnn_safetensors_read_memory(const void *data, size_t size, const char *name) {
    if (!name) name = "safetensors data";
    if (!data && size) return cnn_fail_null("%s: data is NULL", name);
    cnn_safetensors *f = cnn_calloc(1, sizeof *f, "safetensors");
    if (!f) return NULL;
    f->path = strdup(name);
    f->file = malloc(size ? size : 1);
    if (!f->path || !f->file) {
        cnn_fail("%s: out of memory for %zu bytes", name, size);
        cnn_safetensors_free(f);
        return NULL;
    }
    if (size) memcpy(f->file, data, size);
    f->file_size = size;
    return parse_file(f);
}

int cnn_safetensors_count(const cnn_safetensors *f) { return f ? f->n : 0; }

int cnn_safetensors_get(const cnn_safetensors *f, int i, cnn_st_tensor *out) {
    if (!f || i < 0 || i >= f->n) return cnn_fail("safetensors: tensor index %d out of range", i);
    *out = f->tensors[i];
    return 0;
}

int cnn_safetensors_find(const cnn_safetensors *f, const char *name, cnn_st_tensor *out) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) {
            *out = f->tensors[i];
            return 0;
        }
    return cnn_fail("%s: no tensor named '%s'", f->path, name);
}

const char *cnn_safetensors_metadata(const cnn_safetensors *f, const char *key) {
    for (int i = 0; f && i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0) v = ldexpf((float)mant, -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = ldexpf((float)(mant | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

int cnn_st_tensor_to_f32(const cnn_st_tensor *t, float *out, int64_t count) {
    if (count != t->numel)
        return cnn_fail("tensor '%s': %lld elements where %lld are wanted", t->name, (long long)t->numel, (long long)count);
    const unsigned char *p = t->data;
    size_t es = dtype_size(t->dtype);
    for (int64_t i = 0; i < count; i++, p += es) {
        switch (t->dtype) {
        case CNN_F32: memcpy(&out[i], p, 4); break;
        case CNN_F64: { double d; memcpy(&d, p, 8); out[i] = (float)d; } break;
        case CNN_F16: { uint16_t h; memcpy(&h, p, 2); out[i] = half_to_float(h); } break;
        case CNN_BF16: { uint16_t h; memcpy(&h, p, 2); uint32_t u = (uint32_t)h << 16; memcpy(&out[i], &u, 4); } break;
        case CNN_I64: { int64_t v; memcpy(&v, p, 8); out[i] = (float)v; } break;
        case CNN_I32: { int32_t v; memcpy(&v, p, 4); out[i] = (float)v; } break;
        case CNN_I16: { int16_t v; memcpy(&v, p, 2); out[i] = (float)v; } break;
        case CNN_I8: out[i] = (float)(int8_t)*p; break;
        case CNN_U8: case CNN_BOOL: out[i] = (float)*p; break;
        }
    }
    return 0;
}

/* ---- writing ---- */

int cnn_safetensors_write(const char *path, int n, const cnn_st_write *tensors, int n_meta, const char *const *meta_keys,
                          const char *const *meta_values) {
    cJSON *root = cJSON_CreateObject();
    char *header = NULL;
    cnn_atomic_file a = {0};
    if (!root) goto oom;
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        if (!meta) goto oom;
        for (int i = 0; i < n_meta; i++)
            if (!cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i])) goto oom;
    }
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const cnn_st_write *t = &tensors[i];
        size_t es = dtype_size(t->dtype);
        int64_t numel = 1;
        for (int d = 0; d < t->rank; d++) numel = cnn_mul_i64(numel, t->shape[d]);
        int64_t bytes = cnn_mul_i64(numel, (int64_t)es);
        if (t->rank < 0 || t->rank > 8 || bytes < 0 || cnn_add_i64(offset, bytes) < 0) {
            cnn_fail("%s: tensor '%s': bad shape", path, t->name);
            goto fail;
        }
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        if (!e || !cJSON_AddStringToObject(e, "dtype", dtype_name(t->dtype))) goto oom;
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        if (!shape || !offs) goto oom;
        for (int d = 0; d < t->rank; d++)
            if (!cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]))) goto oom;
        if (!cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset)) ||
            !cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + bytes))))
            goto oom;
        offset += bytes;
    }
    header = cJSON_PrintUnformatted(root);
    if (!header) goto oom;
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    if (cnn_atomic_begin(&a, path)) goto fail;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, a.f);
    fwrite(header, 1, hlen, a.f);
    for (size_t i = hlen; i < padded; i++) fputc(' ', a.f);
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < tensors[i].rank; d++) numel *= tensors[i].shape[d];
        size_t bytes = (size_t)numel * dtype_size(tensors[i].dtype);
        if (bytes && fwrite(tensors[i].data, 1, bytes, a.f) != bytes) break;
    }
    cJSON_Delete(root);
    free(header);
    return cnn_atomic_commit(&a);
oom:
    cnn_fail("%s: out of memory building the header", path);
fail:
    cJSON_Delete(root);
    free(header);
    return -1;
}

/* ---- graph weights ---- */

/* Nodes needed by eval-mode outputs; parameters elsewhere (auxiliary heads) are optional. */
bool *cnn_graph_eval_nodes(const cnn_graph *g) {
    bool *used = cnn_calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *used, "weights");
    if (!used) return NULL;
    for (int i = 0; i < g->n_outputs; i++)
        if (!(g->output_flags[i] & CNN_OUTPUT_TRAIN_ONLY)) used[g->outputs[i]->id] = true;
    for (int64_t i = g->n_nodes - 1; i >= 0; i--)
        if (used[i])
            for (int k = 0; k < g->nodes[i]->n_inputs; k++) used[g->nodes[i]->inputs[k]->id] = true;
    if (g->n_outputs == 0)
        for (int64_t i = 0; i < g->n_nodes; i++) used[i] = true;
    return used;
}

static const char *shape_text(int rank, const int64_t *shape, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cnn_graph_load_weights(cnn_graph *g, const char *path) {
    if (!g) return cnn_fail("load weights: graph is NULL");
    cnn_safetensors *f = cnn_safetensors_read(path);
    if (!f) return -1;
    bool *used = cnn_graph_eval_nodes(g);
    bool *matched = cnn_calloc((size_t)(f->n ? f->n : 1), sizeof *matched, "weights");
    int rc = -1;
    if (!used || !matched) goto done;
    /* Check everything first so that a bad file leaves the graph untouched. */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t ni = 0; ni < g->n_nodes; ni++) {
            const cnn_node *node = g->nodes[ni];
            for (int j = 0; j < node->n_params; j++) {
                const cnn_param_entry *e = cnn_node_param_entry(node, j);
                int idx = -1;
                for (int i = 0; i < f->n && idx < 0; i++)
                    if (strcmp(f->names[i], e->name) == 0) idx = i;
                if (idx < 0) {
                    if (!used[ni]) continue;
                    cnn_fail("%s: missing tensor '%s'", path, e->name);
                    goto done;
                }
                const cnn_st_tensor *t = &f->tensors[idx];
                matched[idx] = true;
                if (pass == 0) {
                    bool same = t->rank == e->rank;
                    for (int d = 0; same && d < e->rank; d++) same = t->shape[d] == e->shape[d];
                    if (!same) {
                        char a[128], b[128];
                        cnn_fail("%s: tensor '%s' has shape %s but the model expects %s", path, e->name,
                                 shape_text(t->rank, t->shape, a, sizeof a), shape_text(e->rank, e->shape, b, sizeof b));
                        goto done;
                    }
                    if (t->dtype != CNN_F32 && t->dtype != CNN_F64 && t->dtype != CNN_F16 && t->dtype != CNN_BF16) {
                        cnn_fail("%s: tensor '%s' has dtype %s; weights must be floating point", path, e->name,
                                 dtype_name(t->dtype));
                        goto done;
                    }
                } else {
                    float *dst = cnn_node_param_data(node, j);
                    if (cnn_st_tensor_to_f32(t, dst, e->numel)) goto done;
                }
            }
        }
        if (pass == 0)
            for (int i = 0; i < f->n; i++)
                if (!matched[i] && !ends_with(f->names[i], "num_batches_tracked")) {
                    /* An unknown tensor means the file is for another model: refuse rather than guess. */
                    bool optional_branch = false;
                    for (int64_t ni = 0; ni < g->n_nodes && !optional_branch; ni++)
                        if (!used[ni]) {
                            size_t len = strlen(g->nodes[ni]->name);
                            optional_branch = strncmp(f->names[i], g->nodes[ni]->name, len) == 0 && f->names[i][len] == '.';
                        }
                    for (int k = 0; k < g->n_optional && !optional_branch; k++)
                        optional_branch = strncmp(f->names[i], g->optional_prefixes[k], strlen(g->optional_prefixes[k])) == 0;
                    if (!optional_branch) {
                        cnn_fail("%s: unexpected tensor '%s' (not a parameter of this model)", path, f->names[i]);
                        goto done;
                    }
                }
    }
    rc = 0;
done:
    free(used);
    free(matched);
    cnn_safetensors_free(f);
    return rc;
}

int cnn_graph_save_weights(const cnn_graph *g, const char *path) { return cnn_graph_save_weights_meta(g, path, 0, NULL, NULL); }

int cnn_graph_save_weights_meta(const cnn_graph *g, const char *path, int n_meta, const char *const *keys,
                                const char *const *values) {
    if (!g) return cnn_fail("save weights: graph is NULL");
    cnn_st_write *t = cnn_calloc((size_t)(g->n_params ? g->n_params : 1), sizeof *t, "weights");
    if (!t) return -1;
    for (int64_t i = 0; i < g->n_params; i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        t[i].name = p.name;
        t[i].dtype = CNN_F32;
        t[i].rank = p.rank;
        for (int d = 0; d < p.rank; d++) t[i].shape[d] = p.shape[d];
        t[i].data = p.data;
    }
    int rc = cnn_safetensors_write(path, (int)g->n_params, t, n_meta, keys, values);
    free(t);
    return rc;
}
