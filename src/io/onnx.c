/* onnx.c — ONNX import: a ModelProto (parsed by the protobuf-c code generated at build time from
 * Debian's onnx.proto) becomes an ordinary cnn graph. Nodes are mapped in file order onto the
 * builder calls, which infer and check the shapes; initializers become the layers' parameters.
 * Every count, size and attribute taken from the file is checked before use. */
#include "../core/internal.h"

#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONNX_MAX_FILE ((size_t)2147483647) /* protobuf's own 2 GiB limit */
#define ONNX_MAX_DIM 65536                 /* kernel sizes, strides, pads, dilations */

/* A named value of the ONNX graph: a cnn node (a graph input or a layer's output) or an initializer. */
typedef struct onnx_value {
    const char *name;
    cnn_node *node;
    const Onnx__TensorProto *init;
} onnx_value;

typedef struct onnx_ctx {
    const char *path;
    cnn_graph *g;
    int64_t opset;
    onnx_value *vals;
    size_t n_vals, cap_vals;
    const Onnx__NodeProto *node; /* the node being mapped, for messages */
} onnx_ctx;

/* Names from the file go into one-line messages: control characters become '?', long ones are cut. */
static const char *clean(const char *s, char *buf, size_t size) {
    size_t i = 0;
    if (!s) s = "";
    for (; s[i] && i + 1 < size; i++) buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = 0;
    if (s[i] && size > 4) memcpy(buf + size - 4, "...", 4);
    return buf;
}

static const char *node_label(const Onnx__NodeProto *n) {
    if (n->name && n->name[0]) return n->name;
    if (n->n_output > 0 && n->output[0] && n->output[0][0]) return n->output[0];
    return "?";
}

/* "<path>: node 'NAME' (OpType): <message>" */
static int node_fail(const onnx_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int node_fail(const onnx_ctx *c, const char *fmt, ...) {
    char msg[512], name[128], op[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnn_fail("%s: node '%s' (%s): %s", c->path, clean(node_label(c->node), name, sizeof name),
                    clean(c->node->op_type, op, sizeof op), msg);
}

/* A builder refused the layer: its message, prefixed with the file and node. */
static int node_fail_lib(const onnx_ctx *c) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cnn_last_error());
    return node_fail(c, "%s", msg);
}

/* ---- values ---- */

static onnx_value *find_value(const onnx_ctx *c, const char *name) {
    for (size_t i = c->n_vals; i-- > 0;)
        if (strcmp(c->vals[i].name, name) == 0) return &c->vals[i];
    return NULL;
}

static int add_value(onnx_ctx *c, const char *name, cnn_node *node, const Onnx__TensorProto *init) {
    if (!name || !name[0]) return 0; /* an optional output left unnamed */
    if (find_value(c, name)) {
        char buf[128];
        return cnn_fail("%s: value '%s' is defined twice", c->path, clean(name, buf, sizeof buf));
    }
    if (c->n_vals == c->cap_vals) {
        size_t cap = c->cap_vals ? 2 * c->cap_vals : 64;
        onnx_value *v = realloc(c->vals, cap * sizeof *v);
        if (!v) return cnn_fail("%s: out of memory for the value table", c->path);
        c->vals = v;
        c->cap_vals = cap;
    }
    c->vals[c->n_vals++] = (onnx_value){.name = name, .node = node, .init = init};
    return 0;
}

/* Input i of the current node as a layer output; NULL with a message otherwise. */
static cnn_node *input_node(const onnx_ctx *c, size_t i) {
    const Onnx__NodeProto *n = c->node;
    char buf[128];
    if (i >= n->n_input || !n->input[i] || !n->input[i][0]) return node_fail(c, "input %zu is missing", i), NULL;
    const onnx_value *v = find_value(c, n->input[i]);
    if (!v) return node_fail(c, "input '%s' is not produced by any earlier node or graph input", clean(n->input[i], buf, sizeof buf)), NULL;
    if (!v->node) return node_fail(c, "input '%s' is a constant; only computed values are supported there", clean(n->input[i], buf, sizeof buf)), NULL;
    return v->node;
}

/* Is input i present (a non-empty name)? */
static bool has_input(const Onnx__NodeProto *n, size_t i) { return i < n->n_input && n->input[i] && n->input[i][0]; }

/* Input i of the current node as an initializer; NULL with a message otherwise. */
static const Onnx__TensorProto *input_init(const onnx_ctx *c, size_t i, const char *what) {
    const Onnx__NodeProto *n = c->node;
    char buf[128];
    if (!has_input(n, i)) return node_fail(c, "the %s (input %zu) is missing", what, i), NULL;
    const onnx_value *v = find_value(c, n->input[i]);
    if (!v) return node_fail(c, "the %s '%s' is not defined", what, clean(n->input[i], buf, sizeof buf)), NULL;
    if (!v->init) return node_fail(c, "the %s '%s' must be an initializer", what, clean(n->input[i], buf, sizeof buf)), NULL;
    return v->init;
}

/* Element count of an initializer, checking every dimension; -1 with a message. */
static int64_t init_numel(const onnx_ctx *c, const Onnx__TensorProto *t) {
    char buf[128];
    int64_t numel = 1;
    if (t->n_dims > 8) return node_fail(c, "initializer '%s' has rank %zu", clean(t->name, buf, sizeof buf), t->n_dims);
    for (size_t d = 0; d < t->n_dims; d++) {
        numel = cnn_mul_i64(numel, t->dims[d]);
        if (t->dims[d] < 0 || numel < 0)
            return node_fail(c, "initializer '%s' has a bad shape (dimension %zu is %lld)", clean(t->name, buf, sizeof buf), d,
                             (long long)t->dims[d]);
    }
    return numel;
}

/* Copies a float initializer of exactly `count` elements into dst. */
static int init_floats(const onnx_ctx *c, const Onnx__TensorProto *t, float *dst, int64_t count) {
    char buf[128];
    const char *name = clean(t->name, buf, sizeof buf);
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return node_fail(c, "initializer '%s' has data type %d; only float32 is supported", name, t->has_data_type ? (int)t->data_type : 0);
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) || t->n_external_data)
        return node_fail(c, "initializer '%s' keeps its data in an external file, which is not supported", name);
    if (t->segment) return node_fail(c, "initializer '%s' is segmented, which is not supported", name);
    int64_t numel = init_numel(c, t);
    if (numel < 0) return -1;
    if (numel != count) return node_fail(c, "initializer '%s' has %lld elements, %lld expected", name, (long long)numel, (long long)count);
    if (t->has_raw_data && t->raw_data.len > 0) {
        if (t->n_float_data) return node_fail(c, "initializer '%s' has both raw and float data", name);
        if (t->raw_data.len != (size_t)numel * sizeof(float))
            return node_fail(c, "initializer '%s' holds %zu bytes of data, %lld expected", name, t->raw_data.len,
                             (long long)numel * (long long)sizeof(float));
        /* ONNX stores raw data little-endian, the byte order of the machines we build for. */
        if (numel) memcpy(dst, t->raw_data.data, (size_t)numel * sizeof(float));
        return 0;
    }
    if (t->n_float_data != (size_t)numel)
        return node_fail(c, "initializer '%s' holds %zu values, %lld expected", name, t->n_float_data, (long long)numel);
    if (numel) memcpy(dst, t->float_data, (size_t)numel * sizeof(float));
    return 0;
}

/* Copies initializer t into parameter j of layer x, whose shape must equal t's (or, with
 * any_shape, only its element count: a (1,F) bias for an (F) one). */
static int set_param(const onnx_ctx *c, const cnn_node *x, int j, const Onnx__TensorProto *t, bool any_shape) {
    const cnn_param_entry *e = cnn_node_param_entry(x, j);
    char buf[128];
    if (!e) return node_fail(c, "internal: layer has no parameter %d", j);
    int64_t numel = init_numel(c, t);
    if (numel < 0) return -1;
    bool same = numel == e->numel && (any_shape || (size_t)e->rank == t->n_dims);
    for (int d = 0; same && !any_shape && d < e->rank; d++) same = e->shape[d] == t->dims[d];
    if (!same) {
        char want[96] = "", got[96] = "";
        size_t used = 0;
        for (int d = 0; d < e->rank && used < sizeof want; d++)
            used += (size_t)snprintf(want + used, sizeof want - used, "%s%lld", d ? "x" : "", (long long)e->shape[d]);
        used = 0;
        for (size_t d = 0; d < t->n_dims && d < 8 && used < sizeof got; d++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", d ? "x" : "", (long long)t->dims[d]);
        return node_fail(c, "initializer '%s' has shape %s but the layer's %s needs %s", clean(t->name, buf, sizeof buf),
                         t->n_dims ? got : "()", strrchr(e->name, '.') ? strrchr(e->name, '.') + 1 : e->name, want);
    }
    return init_floats(c, t, cnn_node_param_data(x, j), numel);
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0) return n->attribute[i];
    return NULL;
}

/* Refuses attributes outside `known` (comma-separated), so nothing is silently ignored. */
static int check_attrs(const onnx_ctx *c, const char *known) {
    const Onnx__NodeProto *n = c->node;
    for (size_t i = 0; i < n->n_attribute; i++) {
        const char *name = n->attribute[i]->name ? n->attribute[i]->name : "";
        size_t len = strlen(name);
        bool ok = false;
        for (const char *k = known; *k && !ok;) {
            const char *end = strchr(k, ',');
            size_t kl = end ? (size_t)(end - k) : strlen(k);
            ok = kl == len && len > 0 && strncmp(k, name, len) == 0;
            k = end ? end + 1 : k + kl;
        }
        char buf[64];
        if (!ok) return node_fail(c, "attribute '%s' is not supported", clean(name, buf, sizeof buf));
    }
    return 0;
}

static int attr_int(const onnx_ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    const Onnx__AttributeProto *a = attr(c->node, name);
    *out = def;
    if (!a) return 0;
    if (!a->has_i || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
        return node_fail(c, "attribute '%s' must be an integer", name);
    if (a->i < lo || a->i > hi) return node_fail(c, "attribute %s=%lld is outside [%lld, %lld]", name, (long long)a->i, (long long)lo, (long long)hi);
    *out = a->i;
    return 0;
}

static int attr_float(const onnx_ctx *c, const char *name, float def, float *out) {
    const Onnx__AttributeProto *a = attr(c->node, name);
    *out = def;
    if (!a) return 0;
    if (!a->has_f || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT))
        return node_fail(c, "attribute '%s' must be a float", name);
    if (!isfinite(a->f)) return node_fail(c, "attribute '%s' is not finite", name);
    *out = a->f;
    return 0;
}

/* An INTS attribute of exactly n values in [lo, hi] (absent: *given = false, out untouched). */
static int attr_ints(const onnx_ctx *c, const char *name, size_t n, int64_t lo, int64_t hi, int *out, bool *given) {
    const Onnx__AttributeProto *a = attr(c->node, name);
    *given = false;
    if (!a) return 0;
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return node_fail(c, "attribute '%s' must be a list of integers", name);
    if (a->n_ints != n) return node_fail(c, "attribute '%s' has %zu values; %zu expected (2-D only)", name, a->n_ints, n);
    for (size_t i = 0; i < n; i++) {
        if (a->ints[i] < lo || a->ints[i] > hi)
            return node_fail(c, "attribute %s[%zu]=%lld is outside [%lld, %lld]", name, i, (long long)a->ints[i], (long long)lo, (long long)hi);
        out[i] = (int)a->ints[i];
    }
    *given = true;
    return 0;
}

/* auto_pad: NOTSET (explicit pads) -> 0, VALID, SAME_UPPER (cnn's "same") */
static int attr_auto_pad(const onnx_ctx *c, int *padding) {
    const Onnx__AttributeProto *a = attr(c->node, "auto_pad");
    *padding = 0;
    if (!a) return 0;
    if (!a->has_s) return node_fail(c, "attribute 'auto_pad' must be a string");
    const char *s = (const char *)a->s.data;
    size_t len = a->s.len;
    if (len == 6 && memcmp(s, "NOTSET", 6) == 0) return 0;
    if (len == 5 && memcmp(s, "VALID", 5) == 0) return *padding = CNN_PAD_VALID, 0;
    if (len == 10 && memcmp(s, "SAME_UPPER", 10) == 0) return *padding = CNN_PAD_SAME, 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", len < 24 ? (int)len : 24, s);
    return node_fail(c, "auto_pad '%s' is not supported (NOTSET, VALID or SAME_UPPER)", clean(buf, buf, sizeof buf));
}

/* Extra outputs (BatchNormalization's running statistics, MaxPool's indices, Dropout's mask) must
 * be absent or unnamed. */
static int check_outputs(const onnx_ctx *c, size_t max_used) {
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || !n->output[0][0]) return node_fail(c, "the node has no output");
    for (size_t i = max_used; i < n->n_output; i++)
        if (n->output[i] && n->output[i][0]) {
            char buf[128];
            return node_fail(c, "output %zu ('%s') is not supported", i, clean(n->output[i], buf, sizeof buf));
        }
    return 0;
}

/* The layer name for a node: its ONNX name when set and unused, else an automatic one. */
static const char *layer_name(const onnx_ctx *c) {
    const char *name = c->node->name;
    if (!name || !name[0] || strlen(name) > 200) return NULL;
    for (int64_t i = 0; i < cnn_graph_node_count(c->g); i++)
        if (strcmp(cnn_node_name(cnn_graph_node(c->g, i)), name) == 0) return NULL;
    return name;
}

/* ---- operators ---- */

static cnn_node *map_conv(const onnx_ctx *c) {
    int64_t group;
    int kernel[2], strides[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    bool has_kernel, has_strides, has_dil, has_pads;
    cnn_conv2d_params p = {0};
    if (check_attrs(c, "auto_pad,dilations,group,kernel_shape,pads,strides") || attr_auto_pad(c, &p.padding) ||
        attr_int(c, "group", 1, 1, INT32_MAX, &group) || attr_ints(c, "kernel_shape", 2, 1, ONNX_MAX_DIM, kernel, &has_kernel) ||
        attr_ints(c, "strides", 2, 1, ONNX_MAX_DIM, strides, &has_strides) ||
        attr_ints(c, "dilations", 2, 1, ONNX_MAX_DIM, dil, &has_dil) || attr_ints(c, "pads", 4, 0, ONNX_MAX_DIM, pads, &has_pads) ||
        check_outputs(c, 1))
        return NULL;
    cnn_node *x = input_node(c, 0);
    const Onnx__TensorProto *w = x ? input_init(c, 1, "weight") : NULL;
    if (!w) return NULL;
    if (w->n_dims != 4) return node_fail(c, "the weight has rank %zu; only 2-D convolutions (rank 4) are supported", w->n_dims), NULL;
    for (int d = 0; d < 4; d++)
        if (w->dims[d] < 1 || w->dims[d] > (d < 2 ? INT32_MAX : ONNX_MAX_DIM))
            return node_fail(c, "the weight has a bad dimension %d (%lld)", d, (long long)w->dims[d]), NULL;
    if (has_kernel && (kernel[0] != w->dims[2] || kernel[1] != w->dims[3]))
        return node_fail(c, "kernel_shape %dx%d differs from the weight's %lldx%lld", kernel[0], kernel[1], (long long)w->dims[2],
                         (long long)w->dims[3]), NULL;
    if (has_pads && p.padding != 0) return node_fail(c, "both pads and auto_pad are given"), NULL;
    p.out_channels = w->dims[0];
    p.kernel_h = (int)w->dims[2], p.kernel_w = (int)w->dims[3];
    p.stride_h = strides[0], p.stride_w = strides[1];
    p.dilation_h = dil[0], p.dilation_w = dil[1];
    p.groups = group;
    /* ONNX orders pads as [top, left, bottom, right]. */
    p.pad_top = pads[0], p.pad_left = pads[1], p.pad_bottom = pads[2], p.pad_right = pads[3];
    p.bias = has_input(c->node, 2);
    const Onnx__TensorProto *b = p.bias ? input_init(c, 2, "bias") : NULL;
    if (p.bias && !b) return NULL;
    cnn_node *y = cnn_conv2d_ex(c->g, x, layer_name(c), &p);
    if (!y) return node_fail_lib(c), NULL;
    if (set_param(c, y, 0, w, false) || (b && set_param(c, y, 1, b, false))) return NULL;
    return y;
}

static cnn_node *map_batchnorm(const onnx_ctx *c) {
    float eps, momentum;
    int64_t training, spatial;
    if (check_attrs(c, "epsilon,momentum,training_mode,spatial,is_test,consumed_inputs") || attr_float(c, "epsilon", 1e-5f, &eps) ||
        attr_float(c, "momentum", 0.9f, &momentum) || attr_int(c, "training_mode", 0, 0, 0, &training) ||
        attr_int(c, "spatial", 1, 1, 1, &spatial) || check_outputs(c, 1))
        return NULL;
    if (!(eps > 0.0f)) return node_fail(c, "epsilon must be positive"), NULL;
    cnn_node *x = input_node(c, 0);
    const Onnx__TensorProto *t[4] = {NULL};
    static const char *const what[4] = {"scale", "bias", "mean", "variance"};
    for (int i = 0; i < 4; i++)
        if (!x || !(t[i] = input_init(c, (size_t)i + 1, what[i]))) return NULL;
    /* ONNX's momentum weighs the old running value; PyTorch's (cnn's) weighs the new one. */
    cnn_node *y = cnn_batchnorm(c->g, x, layer_name(c), eps, 1.0f - momentum);
    if (!y) return node_fail_lib(c), NULL;
    for (int i = 0; i < 4; i++)
        if (set_param(c, y, i, t[i], false)) return NULL;
    return y;
}

static cnn_node *map_pool(const onnx_ctx *c, bool avg) {
    int kernel[2], strides[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    bool has_kernel, has_strides, has_dil, has_pads;
    int64_t ceil_mode, include_pad = 0, storage_order = 0;
    cnn_pool2d_params p = {0};
    if (check_attrs(c, avg ? "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides"
                           : "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides") ||
        attr_auto_pad(c, &p.padding) || attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode) ||
        (avg && attr_int(c, "count_include_pad", 0, 0, 1, &include_pad)) || attr_int(c, "storage_order", 0, 0, 0, &storage_order) ||
        attr_ints(c, "kernel_shape", 2, 1, ONNX_MAX_DIM, kernel, &has_kernel) ||
        attr_ints(c, "strides", 2, 1, ONNX_MAX_DIM, strides, &has_strides) || attr_ints(c, "dilations", 2, 1, 1, dil, &has_dil) ||
        attr_ints(c, "pads", 4, 0, ONNX_MAX_DIM, pads, &has_pads) || check_outputs(c, 1))
        return NULL;
    if (!has_kernel) return node_fail(c, "attribute 'kernel_shape' is required"), NULL;
    if (has_pads && p.padding != 0) return node_fail(c, "both pads and auto_pad are given"), NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    p.kernel_h = kernel[0], p.kernel_w = kernel[1];
    p.stride_h = strides[0], p.stride_w = strides[1]; /* ONNX's default stride is 1, not the kernel */
    p.pad_top = pads[0], p.pad_left = pads[1], p.pad_bottom = pads[2], p.pad_right = pads[3];
    p.ceil_mode = ceil_mode != 0;
    p.count_include_pad = include_pad != 0;
    cnn_node *y = avg ? cnn_avgpool2d_ex(c->g, x, layer_name(c), &p) : cnn_maxpool2d_ex(c->g, x, layer_name(c), &p);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_gemm(const onnx_ctx *c) {
    float alpha, beta;
    int64_t trans_a, trans_b;
    if (check_attrs(c, "alpha,beta,transA,transB,broadcast") || attr_float(c, "alpha", 1.0f, &alpha) ||
        attr_float(c, "beta", 1.0f, &beta) || attr_int(c, "transA", 0, 0, 1, &trans_a) || attr_int(c, "transB", 0, 0, 1, &trans_b) ||
        check_outputs(c, 1))
        return NULL;
    if (alpha != 1.0f || (beta != 1.0f && has_input(c->node, 2)) || trans_a)
        return node_fail(c, "only alpha=1, beta=1, transA=0 is supported (got alpha=%g, beta=%g, transA=%lld)", alpha, beta,
                         (long long)trans_a), NULL;
    cnn_node *x = input_node(c, 0);
    const Onnx__TensorProto *w = x ? input_init(c, 1, "weight (B)") : NULL;
    if (!w) return NULL;
    if (cnn_node_rank(x) != 2) return node_fail(c, "input A must be a matrix (flatten it first)"), NULL;
    if (w->n_dims != 2 || w->dims[0] < 1 || w->dims[1] < 1) return node_fail(c, "the weight (B) must be a non-empty matrix"), NULL;
    const int64_t out = trans_b ? w->dims[0] : w->dims[1];
    const bool bias = has_input(c->node, 2);
    const Onnx__TensorProto *b = bias ? input_init(c, 2, "bias (C)") : NULL;
    if (bias && !b) return NULL;
    cnn_node *y = cnn_dense(c->g, x, layer_name(c), out, bias);
    if (!y) return node_fail_lib(c), NULL;
    if (trans_b) {
        if (set_param(c, y, 0, w, false)) return NULL;
    } else {
        /* B is (F, out): the dense weight is its transpose. */
        const cnn_param_entry *e = cnn_node_param_entry(y, 0);
        const int64_t f = w->dims[0];
        if (e->shape[1] != f)
            return node_fail(c, "the weight (B) is %lldx%lld but the input has %lld features", (long long)f, (long long)out,
                             (long long)e->shape[1]), NULL;
        float *tmp = cnn_calloc((size_t)e->numel, sizeof *tmp, "a transposed Gemm weight");
        if (!tmp) return node_fail_lib(c), NULL;
        if (init_floats(c, w, tmp, e->numel)) {
            free(tmp);
            return NULL;
        }
        float *dst = cnn_node_param_data(y, 0);
        for (int64_t i = 0; i < f; i++)
            for (int64_t o = 0; o < out; o++) dst[o * f + i] = tmp[i * out + o];
        free(tmp);
    }
    if (b && set_param(c, y, 1, b, true)) return NULL;
    return y;
}

static cnn_node *map_concat(const onnx_ctx *c) {
    int64_t axis;
    const Onnx__AttributeProto *a = attr(c->node, "axis");
    if (check_attrs(c, "axis") || check_outputs(c, 1)) return NULL;
    if (!a) return node_fail(c, "attribute 'axis' is required"), NULL;
    if (attr_int(c, "axis", 1, -4, 3, &axis)) return NULL;
    const size_t n = c->node->n_input;
    if (n < 1 || n > 4096) return node_fail(c, "%zu inputs", n), NULL;
    cnn_node **xs = cnn_calloc(n, sizeof *xs, "concat inputs");
    if (!xs) return node_fail_lib(c), NULL;
    for (size_t i = 0; i < n; i++)
        if (!(xs[i] = input_node(c, i))) {
            free(xs);
            return NULL;
        }
    const int rank = cnn_node_rank(xs[0]);
    if (axis < 0) axis += rank;
    if (axis != 1) {
        free(xs);
        return node_fail(c, "only concatenation along the channels (axis 1) is supported, not axis %lld", (long long)axis), NULL;
    }
    cnn_node *y = cnn_concat(c->g, (int)n, xs, layer_name(c));
    free(xs);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_dropout(const onnx_ctx *c) {
    float ratio;
    int64_t is_test;
    if (check_attrs(c, "ratio,is_test,seed,consumed_inputs") || attr_float(c, "ratio", 0.5f, &ratio) ||
        attr_int(c, "is_test", 0, 0, 1, &is_test) || check_outputs(c, 2))
        return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    if (has_input(c->node, 1)) { /* opset 12+: the ratio is an input */
        const Onnx__TensorProto *r = input_init(c, 1, "ratio");
        if (!r || init_floats(c, r, &ratio, 1)) return NULL;
    }
    if (has_input(c->node, 2)) return node_fail(c, "the training_mode input is not supported"), NULL;
    if (!(ratio >= 0.0f && ratio < 1.0f)) return node_fail(c, "ratio %g is outside [0, 1)", ratio), NULL;
    cnn_node *y = cnn_dropout(c->g, x, layer_name(c), ratio);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_softmax(const onnx_ctx *c) {
    int64_t axis;
    if (check_attrs(c, "axis") || attr_int(c, "axis", c->opset >= 13 ? -1 : 1, -4, 3, &axis) || check_outputs(c, 1)) return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    int64_t dims[CNN_MAX_RANK];
    cnn_node_shape(x, dims);
    const int rank = cnn_node_rank(x);
    if (axis < 0) axis += rank;
    /* Before opset 13, Softmax works on the input flattened from `axis` on. */
    bool ok = axis == 1 && (rank == 2 || c->opset >= 13 || dims[2] * dims[3] == 1);
    if (!ok) return node_fail(c, "only a softmax over dimension 1 is supported (axis %lld of a rank-%d input)", (long long)axis, rank), NULL;
    cnn_node *y = cnn_softmax(c->g, x, layer_name(c));
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_lrn(const onnx_ctx *c) {
    int64_t size;
    float alpha, beta, bias;
    if (check_attrs(c, "alpha,beta,bias,size") || attr_int(c, "size", 0, 1, 1023, &size) || attr_float(c, "alpha", 1e-4f, &alpha) ||
        attr_float(c, "beta", 0.75f, &beta) || attr_float(c, "bias", 1.0f, &bias) || check_outputs(c, 1))
        return NULL;
    if (!attr(c->node, "size")) return node_fail(c, "attribute 'size' is required"), NULL;
    /* ONNX and PyTorch centre an even window differently; odd windows agree. */
    if (size % 2 == 0) return node_fail(c, "an even size (%lld) is not supported", (long long)size), NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    cnn_node *y = cnn_lrn(c->g, x, layer_name(c), (int)size, alpha, beta, bias);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_flatten(const onnx_ctx *c) {
    int64_t axis;
    if (check_attrs(c, "axis") || attr_int(c, "axis", 1, -4, 4, &axis) || check_outputs(c, 1)) return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    const int rank = cnn_node_rank(x);
    if (axis < 0) axis += rank;
    if (axis != 1) return node_fail(c, "only axis 1 is supported (got %lld)", (long long)axis), NULL;
    if (rank == 2) return x; /* already flat */
    cnn_node *y = cnn_flatten(c->g, x, layer_name(c));
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* One node: the cnn node its (first) output names, NULL with a message. */
static cnn_node *map_node(onnx_ctx *c) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) {
        char buf[64];
        return node_fail(c, "operator domain '%s' is not supported", clean(n->domain, buf, sizeof buf)), NULL;
    }
    if (strcmp(op, "Conv") == 0) return map_conv(c);
    if (strcmp(op, "BatchNormalization") == 0) return map_batchnorm(c);
    if (strcmp(op, "MaxPool") == 0) return map_pool(c, false);
    if (strcmp(op, "AveragePool") == 0) return map_pool(c, true);
    if (strcmp(op, "Gemm") == 0) return map_gemm(c);
    if (strcmp(op, "Concat") == 0) return map_concat(c);
    if (strcmp(op, "Dropout") == 0) return map_dropout(c);
    if (strcmp(op, "Softmax") == 0) return map_softmax(c);
    if (strcmp(op, "LRN") == 0) return map_lrn(c);
    if (strcmp(op, "Flatten") == 0) return map_flatten(c);
    if (strcmp(op, "Relu") == 0 || strcmp(op, "GlobalAveragePool") == 0 || strcmp(op, "Identity") == 0) {
        if (check_attrs(c, "") || check_outputs(c, 1)) return NULL;
        cnn_node *x = input_node(c, 0);
        if (!x) return NULL;
        if (op[0] == 'I') return x;
        cnn_node *y = op[0] == 'R' ? cnn_relu(c->g, x, layer_name(c)) : cnn_global_avgpool(c->g, x, layer_name(c));
        if (!y) return node_fail_lib(c), NULL;
        return y;
    }
    if (strcmp(op, "Sigmoid") == 0 || strcmp(op, "Tanh") == 0 || strcmp(op, "LeakyRelu") == 0) {
        float alpha = 0.01f;
        if (check_attrs(c, op[0] == 'L' ? "alpha" : "") || (op[0] == 'L' && attr_float(c, "alpha", 0.01f, &alpha)) ||
            check_outputs(c, 1))
            return NULL;
        cnn_node *x = input_node(c, 0);
        if (!x) return NULL;
        cnn_node *y = op[0] == 'S' ? cnn_sigmoid(c->g, x, layer_name(c))
                      : op[0] == 'T' ? cnn_tanh(c->g, x, layer_name(c))
                                     : cnn_leaky_relu(c->g, x, layer_name(c), alpha);
        if (!y) return node_fail_lib(c), NULL;
        return y;
    }
    if (strcmp(op, "Add") == 0) {
        if (check_attrs(c, "") || check_outputs(c, 1)) return NULL;
        if (n->n_input != 2) return node_fail(c, "%zu inputs; 2 expected", n->n_input), NULL;
        cnn_node *a = input_node(c, 0), *b = a ? input_node(c, 1) : NULL;
        if (!b) return NULL;
        cnn_node *y = cnn_add(c->g, a, b, layer_name(c));
        if (!y) return node_fail_lib(c), NULL;
        return y;
    }
    return node_fail(c, "unsupported operator"), NULL;
}

/* Graph inputs that are not initializers become cnn inputs: float tensors (N, C, H, W). */
static int add_input(onnx_ctx *c, const Onnx__ValueInfoProto *v) {
    char buf[128];
    const char *name = clean(v->name, buf, sizeof buf);
    const Onnx__TypeProto *t = v->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type)
        return cnn_fail("%s: graph input '%s' is not a tensor", c->path, name);
    const Onnx__TypeProto__Tensor *tt = t->tensor_type;
    if (!tt->has_elem_type || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return cnn_fail("%s: graph input '%s' has element type %d; only float32 is supported", c->path, name,
                        tt->has_elem_type ? (int)tt->elem_type : 0);
    if (!tt->shape || tt->shape->n_dim != 4)
        return cnn_fail("%s: graph input '%s' must have a known shape N x C x H x W (rank %zu)", c->path, name,
                        tt->shape ? tt->shape->n_dim : (size_t)0);
    int64_t d[4] = {0};
    for (int i = 1; i < 4; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dim->dim_value < 1 || dim->dim_value > INT32_MAX)
            return cnn_fail("%s: graph input '%s': dimension %d must be a fixed positive size", c->path, name, i);
        d[i] = dim->dim_value;
    }
    cnn_node *x = cnn_input(c->g, v->name, d[1], d[2], d[3]);
    if (!x) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cnn_last_error());
        return cnn_fail("%s: graph input '%s': %s", c->path, name, msg);
    }
    return add_value(c, v->name, x, NULL);
}

static cnn_graph *build(onnx_ctx *c, const Onnx__ModelProto *m) {
    const Onnx__GraphProto *gp = m->graph;
    if (!gp) return cnn_fail_null("%s: not an ONNX model (it has no graph)", c->path);
    c->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if ((!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0) && o->has_version) c->opset = o->version;
    }
    if (m->n_opset_import == 0) c->opset = 1; /* IR version 1: no opset_import */
    if (c->opset < 7 || c->opset > 17)
        return cnn_fail_null("%s: ONNX opset %lld is not supported (7 to 17)", c->path, (long long)c->opset);
    if (gp->n_sparse_initializer) return cnn_fail_null("%s: sparse initializers are not supported", c->path);
    if (gp->n_output < 1) return cnn_fail_null("%s: the graph has no outputs", c->path);

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if (!t->name || !t->name[0]) return cnn_fail_null("%s: initializer %zu has no name", c->path, i);
        if (add_value(c, t->name, NULL, t)) return NULL;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *v = gp->input[i];
        if (!v->name || !v->name[0]) return cnn_fail_null("%s: graph input %zu has no name", c->path, i);
        const onnx_value *known = find_value(c, v->name);
        if (known && known->init) continue; /* an initializer listed as input (IR < 4): a weight */
        if (add_input(c, v)) return NULL;
    }
    if (cnn_graph_input_count(c->g) < 1) return cnn_fail_null("%s: the graph has no inputs besides its initializers", c->path);

    for (size_t i = 0; i < gp->n_node; i++) {
        c->node = gp->node[i];
        cnn_node *y = map_node(c);
        if (!y) return NULL;
        if (add_value(c, c->node->output[0], y, NULL)) return NULL;
    }
    c->node = NULL;
    for (size_t i = 0; i < gp->n_output; i++) {
        char buf[128];
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        const onnx_value *v = find_value(c, name);
        if (!v || !v->node)
            return cnn_fail_null("%s: graph output '%s' is not computed by any node", c->path, clean(name, buf, sizeof buf));
        if (cnn_graph_add_output(c->g, v->node, 0)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", cnn_last_error());
            return cnn_fail_null("%s: graph output '%s': %s", c->path, clean(name, buf, sizeof buf), msg);
        }
    }
    return c->g;
}

cnn_graph *cnn_onnx_load(const char *path) {
    if (!path) return cnn_fail_null("cnn_onnx_load: path is NULL");
    unsigned char *data;
    size_t size;
    if (cnn_read_file(path, ONNX_MAX_FILE, &data, &size)) return NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    free(data);
    if (!m) return cnn_fail_null("%s: not an ONNX model (the protobuf does not parse: truncated or another kind of file)", path);
    onnx_ctx c = {.path = path, .g = cnn_graph_create()};
    cnn_graph *g = NULL;
    if (!c.g)
        cnn_fail("%s: out of memory for the graph", path);
    else
        g = build(&c, m);
    if (!g) cnn_graph_free(c.g);
    free(c.vals);
    onnx__model_proto__free_unpacked(m, NULL);
    return g;
}
