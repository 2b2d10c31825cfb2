/* graph.c — the graph under construction: nodes, name scopes, parameters and outputs. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 512

cnn_graph *cnn_graph_create(void) { return cnn_calloc(1, sizeof(cnn_graph), "graph"); }

static void node_free(cnn_node *n) {
    if (!n) return;
    free(n->name);
    free(n->attrs);
    free(n->inputs);
    free(n);
}

void cnn_graph_free(cnn_graph *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_nodes; i++) node_free(g->nodes[i]);
    for (int64_t i = 0; i < g->n_params; i++) free(g->params[i].name);
    for (int i = 0; i < g->n_scopes; i++) free(g->scopes[i]);
    for (int i = 0; i < g->n_optional; i++) free(g->optional_prefixes[i]);
    free(g->optional_prefixes);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->output_flags);
    free(g->params);
    free(g->param_data);
    free(g->grad_data);
    free(g->buffer_data);
    free(g->scopes);
    free(g);
}

/* ---- scopes ---- */

int cnn_scope_push(cnn_graph *g, const char *fmt, ...) {
    if (!g) return cnn_fail("cnn_scope_push: graph is NULL");
    char buf[NAME_MAX_LEN];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (len <= 0 || len >= (int)sizeof buf) return cnn_fail("cnn_scope_push: scope name empty or too long");
    if (g->n_scopes == g->cap_scopes) {
        int cap = g->cap_scopes ? 2 * g->cap_scopes : 8;
        char **s = realloc(g->scopes, (size_t)cap * sizeof *s);
        if (!s) return cnn_fail("out of memory: scopes");
        g->scopes = s;
        g->cap_scopes = cap;
    }
    g->scopes[g->n_scopes] = strdup(buf);
    if (!g->scopes[g->n_scopes]) return cnn_fail("out of memory: scope name");
    g->n_scopes++;
    return 0;
}

void cnn_scope_pop(cnn_graph *g) {
    if (g && g->n_scopes > 0) free(g->scopes[--g->n_scopes]);
}

/* "<scope1>.<scope2>.<leaf>" */
static char *scoped_name(const cnn_graph *g, const char *leaf) {
    char buf[NAME_MAX_LEN];
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < g->n_scopes; i++) {
        int len = snprintf(buf + used, sizeof buf - used, "%s.", g->scopes[i]);
        if (len < 0 || (size_t)len >= sizeof buf - used) return cnn_fail_null("layer name too long in scope %s", g->scopes[i]);
        used += (size_t)len;
    }
    int len = snprintf(buf + used, sizeof buf - used, "%s", leaf);
    if (len < 0 || (size_t)len >= sizeof buf - used) return cnn_fail_null("layer name too long: %s", leaf);
    char *s = strdup(buf);
    if (!s) return cnn_fail_null("out of memory: layer name");
    return s;
}

/* ---- nodes ---- */

/* "3x0x4": the per-sample dims of s. */
static const char *sample_dims_str(const cnn_shape *s, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int d = 1; d < s->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d > 1 ? "x" : "", (long long)s->dims[d]);
    return buf;
}

/* An empty value (a dim of 0) in or out of n, unless n's op passes them in an unbatched graph: -1. */
static int refuse_empty(const cnn_graph *g, const cnn_node *n) {
    char buf[96];
    if (g->unbatched && (n->op->caps & CNN_CAP_EMPTY)) return 0;
    for (int i = 0; i < n->n_inputs; i++)
        if (cnn_shape_sample_numel(&n->inputs[i]->shape) == 0)
            return cnn_fail("%s '%s': input '%s' is empty (shape %s)", n->op->name, n->name, n->inputs[i]->name,
                            sample_dims_str(&n->inputs[i]->shape, buf, sizeof buf));
    if (cnn_shape_sample_numel(&n->shape) == 0)
        return cnn_fail("%s '%s': shape %s must be positive", n->op->name, n->name, sample_dims_str(&n->shape, buf, sizeof buf));
    return 0;
}

cnn_node *cnn_graph_add_node(cnn_graph *g, const cnn_op *op, const char *name, int n_inputs,
                             cnn_node *const *inputs, const void *attrs, size_t attrs_size) {
    if (!g) return cnn_fail_null("%s: graph is NULL", op->name);
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) return NULL; /* an earlier call failed: keep its message */
        if (inputs[i]->graph != g)
            return cnn_fail_null("%s '%s': input %d belongs to another graph", op->name, name ? name : "?", i);
    }
    char autoname[64];
    if (!name || !name[0]) {
        snprintf(autoname, sizeof autoname, "%s_%lld", op->name, (long long)g->auto_name_counter++);
        name = autoname;
    }
    cnn_node *n = cnn_calloc(1, sizeof *n, "layer");
    if (!n) return NULL;
    n->name = scoped_name(g, name);
    n->op = op;
    n->graph = g;
    n->input_index = -1;
    n->n_inputs = n_inputs;
    n->param_first = g->n_params;
    n->id = g->n_nodes;
    if (!n->name) goto fail;
    for (int64_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, n->name) == 0) {
            cnn_fail("%s '%s': a layer of that name already exists", op->name, n->name);
            goto fail;
        }
    if (n_inputs > 0) {
        n->inputs = cnn_calloc((size_t)n_inputs, sizeof *n->inputs, "layer inputs");
        if (!n->inputs) goto fail;
        memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof *inputs);
    }
    if (attrs_size) {
        n->attrs = cnn_calloc(1, attrs_size, "layer attributes");
        if (!n->attrs) goto fail;
        memcpy(n->attrs, attrs, attrs_size);
    }
    if (op->shape(n) != 0 || refuse_empty(g, n)) goto fail;
    if (g->n_nodes == g->cap_nodes) {
        int64_t cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        cnn_node **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            cnn_fail("out of memory: layers");
            goto fail;
        }
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    g->nodes[g->n_nodes++] = n;
    return n;
fail:
    node_free(n);
    return NULL;
}

void cnn_graph_drop_last_node(cnn_graph *g) {
    if (!g || g->n_nodes == 0) return;
    cnn_node *n = g->nodes[--g->n_nodes];
    while (g->n_params > n->param_first) {
        cnn_param_entry *e = &g->params[--g->n_params];
        if (e->trainable) g->param_numel -= e->numel;
        else g->buffer_numel -= e->numel;
        free(e->name);
    }
    if (n->input_index >= 0) g->n_inputs--;
    node_free(n);
}

/* ---- parameters ---- */

static int grow_floats(float **data, int64_t *cap, int64_t need, const char *what) {
    if (need <= *cap) return 0;
    int64_t cap2 = *cap ? *cap : 1024;
    while (cap2 < need) {
        if (cap2 > INT64_MAX / 2) return cnn_fail("out of memory: %s", what);
        cap2 *= 2;
    }
    if ((uint64_t)cap2 > SIZE_MAX / sizeof(float)) return cnn_fail("out of memory: %s", what);
    float *p = realloc(*data, (size_t)cap2 * sizeof(float));
    if (!p) return cnn_fail("out of memory: %lld floats for %s", (long long)cap2, what);
    *data = p;
    *cap = cap2;
    return 0;
}

static float *param_ptr(const cnn_graph *g, const cnn_param_entry *e) {
    return (e->trainable ? g->param_data : g->buffer_data) + e->offset;
}

static void param_init(const cnn_graph *g, int64_t index, uint64_t seed) {
    const cnn_param_entry *e = &g->params[index];
    float *d = param_ptr(g, e);
    cnn_rng r;
    cnn_rng_seed(&r, cnn_hash64(seed) ^ cnn_hash64((uint64_t)index + 0x51ed270b7f3e1ull));
    for (int64_t i = 0; i < e->numel; i++) {
        switch (e->init) {
        case CNN_INIT_ZEROS: d[i] = 0.0f; break;
        case CNN_INIT_ONES: d[i] = 1.0f; break;
        case CNN_INIT_UNIFORM: d[i] = (2.0f * cnn_rng_uniform(&r) - 1.0f) * e->init_arg; break;
        case CNN_INIT_NORMAL: d[i] = cnn_rng_normal(&r) * e->init_arg; break;
        }
    }
}

int cnn_node_add_param(cnn_node *node, const char *suffix, int rank, const int64_t *shape, bool trainable,
                       cnn_init_kind init, float init_arg) {
    cnn_graph *g = node->graph;
    if (g->nodes[g->n_nodes - 1] != node) return cnn_fail("internal: parameter added to a node that is not the last");
    char buf[NAME_MAX_LEN];
    int len = snprintf(buf, sizeof buf, "%s.%s", node->name, suffix);
    if (len < 0 || (size_t)len >= sizeof buf) return cnn_fail("parameter name too long: %s.%s", node->name, suffix);
    for (int64_t i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, buf) == 0) return cnn_fail("%s: a parameter of that name already exists", buf);
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) numel = cnn_mul_i64(numel, shape[i]);
    if (numel <= 0 || rank < 1 || rank > CNN_MAX_RANK) return cnn_fail("%s: parameter size is zero, negative or too large", buf);
    if (g->n_params == g->cap_params) {
        int64_t cap = g->cap_params ? 2 * g->cap_params : 64;
        cnn_param_entry *p = realloc(g->params, (size_t)cap * sizeof *p);
        if (!p) return cnn_fail("out of memory: parameters");
        g->params = p;
        g->cap_params = cap;
    }
    int64_t *used = trainable ? &g->param_numel : &g->buffer_numel;
    int64_t need = cnn_add_i64(*used, numel);
    if (need < 0) return cnn_fail("%s: too many parameters", buf);
    if (trainable ? grow_floats(&g->param_data, &g->param_cap, need, "parameters")
                  : grow_floats(&g->buffer_data, &g->buffer_cap, need, "buffers"))
        return -1;
    if (trainable && g->grad_data) { /* gradients already exist: keep the layouts equal */
        free(g->grad_data);
        g->grad_data = NULL;
    }
    cnn_param_entry *e = &g->params[g->n_params];
    memset(e, 0, sizeof *e);
    e->name = strdup(buf);
    if (!e->name) return cnn_fail("out of memory: parameter name");
    e->rank = rank;
    for (int i = 0; i < CNN_MAX_RANK; i++) e->shape[i] = i < rank ? shape[i] : 1;
    e->numel = numel;
    e->trainable = trainable;
    e->offset = *used;
    e->init = init;
    e->init_arg = init_arg;
    *used = need;
    g->n_params++;
    node->n_params++;
    param_init(g, g->n_params - 1, 0);
    return 0;
}

float *cnn_node_param_data(const cnn_node *node, int j) {
    const cnn_graph *g = node->graph;
    return param_ptr(g, &g->params[node->param_first + j]);
}

const cnn_param_entry *cnn_node_param_entry(const cnn_node *node, int j) {
    return &node->graph->params[node->param_first + j];
}

int64_t cnn_param_count(const cnn_graph *g) { return g ? g->n_params : 0; }

int cnn_param_get(const cnn_graph *g, int64_t i, cnn_param *out) {
    if (!g || i < 0 || i >= g->n_params) return cnn_fail("parameter index %lld out of range", (long long)i);
    const cnn_param_entry *e = &g->params[i];
    out->name = e->name;
    out->rank = e->rank;
    memcpy(out->shape, e->shape, sizeof out->shape);
    out->numel = e->numel;
    out->data = param_ptr(g, e);
    out->grad = e->trainable && g->grad_data ? g->grad_data + e->offset : NULL;
    out->trainable = e->trainable;
    return 0;
}

int cnn_param_find(const cnn_graph *g, const char *name, cnn_param *out) {
    for (int64_t i = 0; g && i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) return cnn_param_get(g, i, out);
    return cnn_fail("no parameter named '%s'", name);
}

float *cnn_graph_params(cnn_graph *g, int64_t *count) {
    if (count) *count = g->param_numel;
    return g->param_data;
}

float *cnn_graph_grads(cnn_graph *g, int64_t *count) {
    if (count) *count = g->param_numel;
    if (!g->grad_data) g->grad_data = cnn_calloc((size_t)(g->param_numel ? g->param_numel : 1), sizeof(float), "gradients");
    return g->grad_data;
}

void cnn_graph_zero_grad(cnn_graph *g) {
    if (g && g->grad_data) cnn_zero_floats(g->grad_data, g->param_numel);
}

int cnn_graph_init_params(cnn_graph *g, uint64_t seed) {
    if (!g) return cnn_fail("cnn_graph_init_params: graph is NULL");
    for (int64_t i = 0; i < g->n_params; i++) param_init(g, i, seed);
    return 0;
}

int cnn_graph_optional_prefix(cnn_graph *g, const char *prefix) {
    char **p = realloc(g->optional_prefixes, (size_t)(g->n_optional + 1) * sizeof *p);
    if (!p) return cnn_fail("out of memory: optional prefixes");
    g->optional_prefixes = p;
    if (!(p[g->n_optional] = strdup(prefix))) return cnn_fail("out of memory: optional prefixes");
    g->n_optional++;
    return 0;
}

/* ---- inputs and outputs ---- */

static int input_forward(const cnn_op_ctx *c) {
    (void)c;
    return 0;
}

typedef struct input_attrs {
    int rank;
    int64_t dims[CNN_MAX_RANK]; /* dims[1..rank-1] */
} input_attrs;

static int input_shape(cnn_node *n) {
    const input_attrs *a = n->attrs;
    if (a->rank < 1 || a->rank > CNN_MAX_RANK)
        return cnn_fail("input '%s': rank %d is not supported (1 to %d, the batch included)", n->name, a->rank, CNN_MAX_RANK);
    bool positive = true;
    n->shape.rank = a->rank;
    n->shape.dims[0] = 0;
    for (int d = 1; d < a->rank; d++) positive = (n->shape.dims[d] = a->dims[d]) >= 0 && positive; /* 0: see refuse_empty */
    if (!positive || cnn_shape_sample_numel(&n->shape) < 0) {
        char buf[96] = "";
        size_t used = 0;
        for (int d = 1; d < a->rank && used < sizeof buf; d++)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%lld", d > 1 ? "x" : "", (long long)a->dims[d]);
        return cnn_fail("input '%s': shape %s must be positive", n->name, buf);
    }
    return 0;
}

static const cnn_op input_op = {.name = "input", .shape = input_shape, .forward = input_forward, .caps = CNN_CAP_EMPTY};

cnn_node *cnn_input_nd(cnn_graph *g, const char *name, int rank, const int64_t *dims) {
    input_attrs a = {.rank = rank};
    for (int d = 1; d < rank && d < CNN_MAX_RANK; d++) a.dims[d] = dims ? dims[d] : 0;
    cnn_node *n = cnn_graph_add_node(g, &input_op, name ? name : "input", 0, NULL, &a, sizeof a);
    if (!n) return NULL;
    cnn_node **inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *inputs);
    if (!inputs) {
        cnn_graph_drop_last_node(g);
        return cnn_fail_null("out of memory: inputs");
    }
    g->inputs = inputs;
    n->input_index = g->n_inputs;
    g->inputs[g->n_inputs++] = n;
    return n;
}

cnn_node *cnn_input(cnn_graph *g, const char *name, int64_t channels, int64_t height, int64_t width) {
    const int64_t dims[4] = {0, channels, height, width};
    return cnn_input_nd(g, name, 4, dims);
}

int cnn_graph_add_output(cnn_graph *g, cnn_node *x, unsigned flags) {
    if (!g) return cnn_fail("cnn_graph_add_output: graph is NULL");
    if (!x) return -1;
    if (x->graph != g) return cnn_fail("output '%s' belongs to another graph", x->name);
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == x) return cnn_fail("output '%s' added twice", x->name);
    cnn_node **outs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *outs);
    if (!outs) return cnn_fail("out of memory: outputs");
    g->outputs = outs;
    unsigned *flg = realloc(g->output_flags, (size_t)(g->n_outputs + 1) * sizeof *flg);
    if (!flg) return cnn_fail("out of memory: outputs");
    g->output_flags = flg;
    g->outputs[g->n_outputs] = x;
    g->output_flags[g->n_outputs] = flags;
    g->n_outputs++;
    return 0;
}

/* ---- introspection ---- */

int64_t cnn_graph_node_count(const cnn_graph *g) { return g ? g->n_nodes : 0; }
cnn_node *cnn_graph_node(const cnn_graph *g, int64_t i) { return g && i >= 0 && i < g->n_nodes ? g->nodes[i] : NULL; }
int cnn_graph_input_count(const cnn_graph *g) { return g ? g->n_inputs : 0; }
cnn_node *cnn_graph_input(const cnn_graph *g, int i) { return g && i >= 0 && i < g->n_inputs ? g->inputs[i] : NULL; }
int cnn_graph_output_count(const cnn_graph *g) { return g ? g->n_outputs : 0; }
cnn_node *cnn_graph_output(const cnn_graph *g, int i) { return g && i >= 0 && i < g->n_outputs ? g->outputs[i] : NULL; }
bool cnn_graph_output_train_only(const cnn_graph *g, int i) {
    return g && i >= 0 && i < g->n_outputs && (g->output_flags[i] & CNN_OUTPUT_TRAIN_ONLY);
}
const char *cnn_node_name(const cnn_node *x) { return x ? x->name : NULL; }
const char *cnn_node_op(const cnn_node *x) { return x ? x->op->name : NULL; }
int cnn_node_rank(const cnn_node *x) { return x ? x->shape.rank : 0; }
void cnn_node_shape(const cnn_node *x, int64_t dims[CNN_MAX_RANK]) {
    for (int i = 0; i < CNN_MAX_RANK; i++) dims[i] = x && i < x->shape.rank ? x->shape.dims[i] : 1;
    dims[0] = 0;
}
int cnn_node_input_count(const cnn_node *x) { return x ? x->n_inputs : 0; }
cnn_node *cnn_node_input(const cnn_node *x, int i) { return x && i >= 0 && i < x->n_inputs ? x->inputs[i] : NULL; }
int64_t cnn_node_param_count(const cnn_node *x) {
    int64_t n = 0;
    for (int j = 0; x && j < x->n_params; j++) n += cnn_node_param_entry(x, j)->numel;
    return n;
}
int64_t cnn_node_macs(const cnn_node *x) { return x && x->op->macs ? x->op->macs(x) : 0; }

/* ---- padding shared by convolution and pooling ---- */

int cnn_resolve_padding(int padding, const int explicit_pads[4], int64_t in_h, int64_t in_w, int64_t eff_kh,
                        int64_t eff_kw, int stride_h, int stride_w, int pads_out[4]) {
    if (padding == CNN_PAD_VALID) {
        pads_out[0] = pads_out[1] = pads_out[2] = pads_out[3] = 0;
    } else if (padding == CNN_PAD_SAME) {
        int64_t out_h = (in_h + stride_h - 1) / stride_h, out_w = (in_w + stride_w - 1) / stride_w;
        int64_t total_h = (out_h - 1) * stride_h + eff_kh - in_h, total_w = (out_w - 1) * stride_w + eff_kw - in_w;
        if (total_h < 0) total_h = 0;
        if (total_w < 0) total_w = 0;
        pads_out[0] = (int)(total_h / 2);
        pads_out[1] = (int)(total_h - total_h / 2);
        pads_out[2] = (int)(total_w / 2);
        pads_out[3] = (int)(total_w - total_w / 2);
    } else if (padding >= 0) {
        for (int i = 0; i < 4; i++) {
            if (explicit_pads[i] < 0) return cnn_fail("negative padding %d", explicit_pads[i]);
            pads_out[i] = explicit_pads[i];
        }
    } else {
        return cnn_fail("unknown padding mode %d", padding);
    }
    return 0;
}

void cnn_graph_set_unbatched(cnn_graph *g, bool unbatched) {
    if (g) g->unbatched = unbatched;
}

bool cnn_graph_unbatched(const cnn_graph *g) { return g && g->unbatched; }
