/* onnx.c — ONNX import: a ModelProto (parsed by the protobuf-c code generated at build time from
 * Debian's onnx.proto) becomes an ordinary cnn graph. Nodes are mapped in file order onto the
 * builder calls, which infer and check the shapes; initializers become the layers' parameters;
 * integer shape arithmetic is folded into constants (onnx_fold.c).
 * Every count, size and attribute taken from the file is checked before use. */
#include "../core/internal.h"
#include "onnx_fold.h"

#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONNX_MAX_FILE ((size_t)2147483647) /* protobuf's own 2 GiB limit */
#define ONNX_MAX_DIM 65536                 /* kernel sizes, strides, pads, dilations */

/* A value computed by constant folding: an int64 tensor (t views dims and v) and what each element
 * depends on (FOLD_CLEAN, FOLD_BATCH, FOLD_DERIVED). */
typedef struct folded_value {
    Onnx__TensorProto t;
    int64_t dims[FOLD_MAX_RANK];
    unsigned char *taint;
    int64_t v[]; /* t.n_int64_data values, then their taints */
} folded_value;

#define FOLD_MAX_TOTAL ((int64_t)1 << 20) /* elements over all folded values of one file */

/* A named value of the ONNX graph: a cnn node (a graph input or a layer's output) or an initializer. */
typedef struct onnx_value {
    const char *name;
    cnn_node *node;
    const Onnx__TensorProto *init;
    bool fixed; /* a Constant node's value: a buffer, not a trainable parameter, when it becomes a layer */
    const folded_value *fold; /* init is this folded value's tensor */
} onnx_value;

/* A tensor made for a Constant's value_float(s) / value_int(s): the struct and its dims are ours,
 * the numbers stay in the attribute. */
typedef struct owned_tensor {
    Onnx__TensorProto t;
    int64_t dims[1];
} owned_tensor;

typedef struct onnx_ctx {
    const char *path;
    cnn_graph *g;
    int64_t opset;
    onnx_value *vals;
    size_t n_vals, cap_vals;
    void **owned; /* owned_tensor and folded_value blocks */
    size_t n_owned;
    int64_t folded_total; /* elements folded so far */
    int64_t batch; /* the first graph input's fixed batch size, -2 when symbolic */
    /* Unbatched (cnn_graph_set_unbatched): every ONNX value is one sample of a cnn value whose batch
     * is 1, so ONNX dim d is cnn dim d + lead (lead 1); batched, ONNX dim 0 is the batch (lead 0). */
    bool unbatched;
    int lead;
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

static int add_value_ex(onnx_ctx *c, const char *name, cnn_node *node, const Onnx__TensorProto *init, bool fixed,
                        const folded_value *fold) {
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
    c->vals[c->n_vals++] = (onnx_value){.name = name, .node = node, .init = init, .fixed = fixed, .fold = fold};
    return 0;
}

static int add_value(onnx_ctx *c, const char *name, cnn_node *node, const Onnx__TensorProto *init) {
    return add_value_ex(c, name, node, init, false, NULL);
}

/* A zeroed block freed with the context; NULL with a message. */
static void *own(onnx_ctx *c, size_t size, const char *what) {
    void **list = realloc(c->owned, (c->n_owned + 1) * sizeof *list);
    if (!list) return cnn_fail_null("out of memory for %s", what);
    c->owned = list;
    void *p = cnn_calloc(1, size, what);
    if (p) c->owned[c->n_owned++] = p;
    return p;
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

/* Elements the tensor's data fields hold, -1 for a data type without a known size. */
static int64_t init_data_count(const Onnx__TensorProto *t) {
    static const struct { Onnx__TensorProto__DataType type; size_t size; } sizes[] = {
        {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4},   {ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 8},
        {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 2}, {ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, 2},
        {ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 8},   {ONNX__TENSOR_PROTO__DATA_TYPE__UINT64, 8},
        {ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 4},   {ONNX__TENSOR_PROTO__DATA_TYPE__UINT32, 4},
        {ONNX__TENSOR_PROTO__DATA_TYPE__INT16, 2},   {ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, 2},
        {ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1},    {ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1},
        {ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1},
    };
    size_t size = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (t->has_data_type && t->data_type == (int32_t)sizes[i].type) size = sizes[i].size;
    if (!size) return -1;
    if (t->has_raw_data && t->raw_data.len > 0) return t->raw_data.len % size ? -1 : (int64_t)(t->raw_data.len / size);
    return (int64_t)(t->n_float_data + t->n_double_data + t->n_int64_data + t->n_uint64_data + t->n_int32_data);
}

/* Element count of an initializer, checking every dimension and that the file holds its data (so a
 * tiny file cannot make a layer allocate gigabytes for a shape it claims); -1 with a message. */
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
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) || t->n_external_data)
        return node_fail(c, "initializer '%s' keeps its data in an external file, which is not supported", clean(t->name, buf, sizeof buf));
    const int64_t held = init_data_count(t);
    if (held != numel)
        return node_fail(c, "initializer '%s' has data for %lld elements but its shape needs %lld", clean(t->name, buf, sizeof buf),
                         (long long)held, (long long)numel);
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
    if (a->n_ints != n) return node_fail(c, "attribute '%s' has %zu values; %zu expected", name, a->n_ints, n);
    for (size_t i = 0; i < n; i++) {
        if (a->ints[i] < lo || a->ints[i] > hi)
            return node_fail(c, "attribute %s[%zu]=%lld is outside [%lld, %lld]", name, i, (long long)a->ints[i], (long long)lo, (long long)hi);
        out[i] = (int)a->ints[i];
    }
    *given = true;
    return 0;
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

/* ---- constants ---- */

/* Copies an integer initializer (int64 or int32) of at most `max` elements into out. */
static int init_ints(const onnx_ctx *c, const Onnx__TensorProto *t, const char *what, int64_t *out, size_t max, size_t *count) {
    char buf[128];
    const char *name = clean(t->name, buf, sizeof buf);
    int64_t numel = init_numel(c, t);
    if (numel < 0) return -1;
    if ((uint64_t)numel > max) return node_fail(c, "the %s '%s' has %lld values; at most %zu expected", what, name, (long long)numel, max);
    const int type = t->has_data_type ? (int)t->data_type : 0;
    const bool is64 = type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if (!is64 && type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
        return node_fail(c, "the %s '%s' has data type %d; int64 or int32 expected", what, name, type);
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) || t->n_external_data || t->segment)
        return node_fail(c, "the %s '%s' keeps its data outside the tensor, which is not supported", what, name);
    const size_t width = is64 ? 8 : 4;
    if (t->has_raw_data && t->raw_data.len > 0) {
        if (t->raw_data.len != (size_t)numel * width)
            return node_fail(c, "the %s '%s' holds %zu bytes, %lld expected", what, name, t->raw_data.len, (long long)numel * (long long)width);
        for (int64_t i = 0; i < numel; i++) {
            int64_t v64;
            int32_t v32;
            if (is64) memcpy(&v64, t->raw_data.data + i * 8, 8);
            else memcpy(&v32, t->raw_data.data + i * 4, 4), v64 = v32;
            out[i] = v64;
        }
    } else {
        size_t have = is64 ? t->n_int64_data : t->n_int32_data;
        if (have != (size_t)numel) return node_fail(c, "the %s '%s' holds %zu values, %lld expected", what, name, have, (long long)numel);
        for (int64_t i = 0; i < numel; i++) out[i] = is64 ? t->int64_data[i] : t->int32_data[i];
    }
    *count = (size_t)numel;
    return 0;
}

/* Input i as a constant (an initializer, a Constant's value or a folded value); NULL with a message
 * when it is computed or depends on the batch size. With batch_first, element 0 may be exactly the
 * batch size (*batch_first says whether it is). `what` names its role in messages. */
static const Onnx__TensorProto *input_const_ex(const onnx_ctx *c, size_t i, const char *what, bool *batch_first) {
    const onnx_value *v = has_input(c->node, i) ? find_value(c, c->node->input[i]) : NULL;
    char buf[128];
    if (v && v->node && !v->init)
        return node_fail(c, "the %s '%s' is computed by the graph; only a constant (an initializer or a Constant) is supported", what,
                         clean(c->node->input[i], buf, sizeof buf)), NULL;
    if (batch_first) *batch_first = false;
    for (int64_t k = 0; v && v->fold && k < (int64_t)v->fold->t.n_int64_data; k++) {
        if (!v->fold->taint[k]) continue;
        if (k == 0 && batch_first && v->fold->taint[0] == FOLD_BATCH) {
            *batch_first = true;
            continue;
        }
        return node_fail(c, "%s '%s': element %lld depends on the batch size (it is computed from dim 0 of a Shape); only what "
                         "the other dims determine can be folded into a constant", what, clean(c->node->input[i], buf, sizeof buf),
                         (long long)k), NULL;
    }
    return input_init(c, i, what);
}

static const Onnx__TensorProto *input_const(const onnx_ctx *c, size_t i, const char *what) { return input_const_ex(c, i, what, NULL); }

/* The rank an operand has as a layer: a computed value's, or a constant's own (at least 1). */
static int operand_rank(const onnx_ctx *c, size_t i) {
    const onnx_value *v = has_input(c->node, i) ? find_value(c, c->node->input[i]) : NULL;
    if (!v) return 0;
    if (v->node) return cnn_node_rank(v->node);
    if (c->unbatched) return (int)v->init->n_dims + 1;
    return v->init->n_dims > 1 ? (int)v->init->n_dims : 1;
}

/* Input i as a layer of the given rank: a computed value as it is, a constant as a constant layer
 * (its shape right-aligned to `rank` with 1s in front, ONNX's broadcasting; its first dim then
 * stands for the batch and must be 1). Initializers become trainable parameters, Constant values
 * buffers. NULL with a message. */
static cnn_node *constant_layer(const onnx_ctx *c, const onnx_value *v, int rank);

static cnn_node *operand(const onnx_ctx *c, size_t i, int rank) {
    const Onnx__NodeProto *n = c->node;
    char buf[128];
    if (!has_input(n, i)) return node_fail(c, "input %zu is missing", i), NULL;
    const onnx_value *v = find_value(c, n->input[i]);
    if (!v) return node_fail(c, "input '%s' is not produced by any earlier node or graph input", clean(n->input[i], buf, sizeof buf)), NULL;
    if (v->node) return v->node;
    return constant_layer(c, v, rank);
}

/* A constant value as a constant layer of the given rank (see operand); c->node names it in messages. */
static cnn_node *constant_layer(const onnx_ctx *c, const onnx_value *v, int rank) {
    char buf[128];
    const Onnx__TensorProto *t = v->init;
    const char *name = clean(t->name ? t->name : v->name, buf, sizeof buf);
    int64_t numel = init_numel(c, t);
    if (numel < 0) return NULL;
    if (numel == 0) return node_fail(c, "the constant '%s' is empty", name), NULL;
    if ((int)t->n_dims > rank - c->lead)
        return node_fail(c, "the constant '%s' has rank %zu, above the rank %d of the other inputs", name, t->n_dims, rank - c->lead), NULL;
    int64_t dims[CNN_MAX_RANK];
    for (int d = 0; d < CNN_MAX_RANK; d++) dims[d] = 1;
    for (size_t d = 0; d < t->n_dims; d++) dims[(size_t)rank - t->n_dims + d] = t->dims[d];
    if (dims[0] != 1)
        return node_fail(c, "the constant '%s' has %lld in the batch dim (dim 0 of rank %d); a constant must broadcast over the batch", name,
                         (long long)dims[0], rank), NULL;
    const char *layer = v->name && strlen(v->name) <= 200 ? v->name : NULL;
    for (int64_t k = 0; layer && k < cnn_graph_node_count(c->g); k++)
        if (strcmp(cnn_node_name(cnn_graph_node(c->g, k)), layer) == 0) layer = NULL;
    cnn_node *x = cnn_constant(c->g, layer, rank, dims, !v->fixed);
    if (!x) return node_fail_lib(c), NULL;
    if (init_floats(c, t, cnn_node_param_data(x, 0), numel)) return NULL;
    return x;
}

/* ONNX's auto_pad SAME_UPPER / SAME_LOWER as explicit pads [top, left, bottom, right] for an input
 * of h x w: output ceil(in / stride), the odd pad at the end (UPPER) or the start (LOWER). */
static void same_pads(int lower, int64_t h, int64_t w, const int kernel[2], const int strides[2], const int dil[2], int pads[4]) {
    const int64_t in[2] = {h, w};
    for (int d = 0; d < 2; d++) {
        int64_t out = (in[d] + strides[d] - 1) / strides[d];
        int64_t total = (out - 1) * strides[d] + (int64_t)(kernel[d] - 1) * dil[d] + 1 - in[d];
        if (total < 0) total = 0;
        int64_t small = total / 2, big = total - small;
        pads[d] = (int)(lower ? big : small);
        pads[d + 2] = (int)(lower ? small : big);
    }
}

/* A STRING attribute into buf (cleaned, cut to size); def when absent. */
static int attr_string(const onnx_ctx *c, const char *name, const char *def, char *buf, size_t size) {
    const Onnx__AttributeProto *a = attr(c->node, name);
    snprintf(buf, size, "%s", def);
    if (!a) return 0;
    if (!a->has_s || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING))
        return node_fail(c, "attribute '%s' must be a string", name);
    snprintf(buf, size, "%.*s", a->s.len < size ? (int)a->s.len : (int)size - 1, (const char *)a->s.data);
    if (strlen(buf) != a->s.len && a->s.len < size) return node_fail(c, "attribute '%s' holds a NUL byte", name);
    clean(buf, buf, size);
    return 0;
}

enum { AUTO_PAD_NOTSET, AUTO_PAD_VALID, AUTO_PAD_SAME_UPPER, AUTO_PAD_SAME_LOWER };

/* auto_pad: NOTSET (explicit pads), VALID, SAME_UPPER, SAME_LOWER */
static int attr_auto_pad(const onnx_ctx *c, int *mode) {
    char s[32];
    *mode = AUTO_PAD_NOTSET;
    if (attr_string(c, "auto_pad", "NOTSET", s, sizeof s)) return -1;
    if (strcmp(s, "NOTSET") == 0) return 0;
    if (strcmp(s, "VALID") == 0) return *mode = AUTO_PAD_VALID, 0;
    if (strcmp(s, "SAME_UPPER") == 0) return *mode = AUTO_PAD_SAME_UPPER, 0;
    if (strcmp(s, "SAME_LOWER") == 0) return *mode = AUTO_PAD_SAME_LOWER, 0;
    return node_fail(c, "auto_pad '%s' is not supported (NOTSET, VALID, SAME_UPPER or SAME_LOWER)", s);
}

/* Explicit pads [top, left, bottom, right] from auto_pad for a 4-D input x; VALID is all zero. */
static int resolve_auto_pad(const onnx_ctx *c, int mode, const cnn_node *x, const int kernel[2], const int strides[2], const int dil[2],
                            bool has_pads, int pads[4]) {
    if (mode == AUTO_PAD_NOTSET) return 0;
    if (has_pads) return node_fail(c, "both pads and auto_pad are given");
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(x, d);
    if (cnn_node_rank(x) != 4) return node_fail(c, "the input has rank %d; only 2-D (rank 4) inputs are supported", cnn_node_rank(x));
    if (mode == AUTO_PAD_VALID) pads[0] = pads[1] = pads[2] = pads[3] = 0;
    else same_pads(mode == AUTO_PAD_SAME_LOWER, d[2], d[3], kernel, strides, dil, pads);
    return 0;
}

/* ---- 1-D as 2-D ---- */

/* Layers over (N, C, ...) need ONNX's dim 0 as the batch: -1 with a message in an unbatched graph. */
static int needs_batch(const onnx_ctx *c) {
    if (!c->unbatched) return 0;
    return node_fail(c, "needs dim 0 as the batch, but the model mixes dim 0 with the others (a Flatten or Concat over it, ...) and "
                        "is read as whole tensors");
}

/* The spatial dims of a Conv / pool input: 2 for (N,C,H,W), 1 for (N,C,L) (run as (N,C,1,L)); 0
 * with a message otherwise. */
static int spatial_dims(const onnx_ctx *c, const cnn_node *x) {
    const int rank = cnn_node_rank(x);
    if (needs_batch(c)) return 0;
    if (rank != 3 && rank != 4)
        return node_fail(c, "the input has rank %d; only 1-D, 2-D and (Conv, MaxPool, AveragePool) 3-D inputs (rank 3, 4, 5) are supported", rank), 0;
    return rank - 2;
}

/* A window attribute (kernel_shape, strides, dilations: one value per spatial dim; pads: two) as
 * its 2-D form: a 1-D value v is (fill, v) and 1-D pads [b, e] are [0, b, 0, e]. */
static int attr_window_ints(const onnx_ctx *c, const char *name, int spatial, int64_t lo, int64_t hi, int fill, int *out, bool *given) {
    const bool pads = strcmp(name, "pads") == 0;
    const size_t n = (size_t)spatial * (pads ? 2 : 1);
    int v[4];
    if (attr_ints(c, name, n, lo, hi, v, given)) return -1;
    if (!*given) return 0;
    if (spatial == 2) memcpy(out, v, n * sizeof *v);
    else if (pads) out[0] = 0, out[1] = v[0], out[2] = 0, out[3] = v[1];
    else out[0] = fill, out[1] = v[0];
    return 0;
}

/* x (N,C,L) as (N,C,1,L) for a 2-D layer (x itself when 4-D); NULL with a message. */
static cnn_node *as_2d(const onnx_ctx *c, cnn_node *x) {
    if (cnn_node_rank(x) != 3) return x;
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(x, d);
    const int64_t dims[CNN_MAX_RANK] = {0, d[1], 1, d[2]};
    cnn_node *y = cnn_reshape(c->g, x, NULL, 4, dims);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* The 2-D layer's output y (N,C,1,L') back as (N,C,L') when the input was 1-D. */
static cnn_node *as_1d(const onnx_ctx *c, cnn_node *y, int spatial) {
    if (!y || spatial != 1) return y;
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(y, d);
    const int64_t dims[CNN_MAX_RANK] = {0, d[1], d[3]};
    cnn_node *z = cnn_reshape(c->g, y, NULL, 3, dims);
    if (!z) return node_fail_lib(c), NULL;
    return z;
}

/* ---- 3-D windows ---- */

/* The window of a 3-D Conv or pool over x (N,C,D,H,W), per D,H,W: kernel_shape (a Conv's must match
 * its weight's kernel wk), strides, dilations, and pads (ONNX: the three begins, then the three
 * ends) or auto_pad. */
typedef struct window3 {
    int kernel[3], stride[3], dil[3], before[3], after[3];
} window3;

static int window3_attrs(const onnx_ctx *c, const cnn_node *x, const int *wk, window3 *w) {
    int auto_pad, pads[6] = {0};
    bool has_kernel, has_strides, has_dil, has_pads;
    for (int d = 0; d < 3; d++) w->stride[d] = w->dil[d] = 1;
    if (attr_auto_pad(c, &auto_pad) || attr_ints(c, "kernel_shape", 3, 1, ONNX_MAX_DIM, w->kernel, &has_kernel) ||
        attr_ints(c, "strides", 3, 1, ONNX_MAX_DIM, w->stride, &has_strides) ||
        attr_ints(c, "dilations", 3, 1, ONNX_MAX_DIM, w->dil, &has_dil) || attr_ints(c, "pads", 6, 0, ONNX_MAX_DIM, pads, &has_pads))
        return -1;
    if (wk && has_kernel && (w->kernel[0] != wk[0] || w->kernel[1] != wk[1] || w->kernel[2] != wk[2]))
        return node_fail(c, "kernel_shape %dx%dx%d differs from the weight's %dx%dx%d", w->kernel[0], w->kernel[1], w->kernel[2], wk[0], wk[1], wk[2]);
    if (wk) memcpy(w->kernel, wk, sizeof w->kernel);
    else if (!has_kernel) return node_fail(c, "attribute 'kernel_shape' is required");
    if (auto_pad != AUTO_PAD_NOTSET && has_pads) return node_fail(c, "both pads and auto_pad are given");
    int64_t xd[CNN_MAX_RANK];
    cnn_node_shape(x, xd);
    for (int d = 0; d < 3; d++) {
        w->before[d] = pads[d], w->after[d] = pads[3 + d];
        if (auto_pad == AUTO_PAD_SAME_UPPER || auto_pad == AUTO_PAD_SAME_LOWER) { /* output ceil(in / stride) */
            const int64_t in = xd[2 + d], out = (in + w->stride[d] - 1) / w->stride[d];
            int64_t total = (out - 1) * w->stride[d] + (int64_t)(w->kernel[d] - 1) * w->dil[d] + 1 - in;
            if (total < 0) total = 0;
            if (total > ONNX_MAX_DIM) return node_fail(c, "auto_pad needs %lld pads", (long long)total);
            const int small = (int)(total / 2), big = (int)total - small;
            w->before[d] = auto_pad == AUTO_PAD_SAME_LOWER ? big : small;
            w->after[d] = auto_pad == AUTO_PAD_SAME_LOWER ? small : big;
        }
    }
    return 0;
}

/* Conv over (N,C,D,H,W) with a (OC, C/group, KD, KH, KW) weight. */
static cnn_node *map_conv3d(const onnx_ctx *c, cnn_node *x) {
    int64_t group;
    if (check_attrs(c, "auto_pad,dilations,group,kernel_shape,pads,strides") || attr_int(c, "group", 1, 1, INT32_MAX, &group) ||
        check_outputs(c, 1))
        return NULL;
    const Onnx__TensorProto *w = input_const(c, 1, "weight");
    if (!w) return NULL;
    if (w->n_dims != 5) return node_fail(c, "the weight has rank %zu; a 3-D convolution needs rank 5", w->n_dims), NULL;
    for (size_t d = 0; d < w->n_dims; d++)
        if (w->dims[d] < 1 || w->dims[d] > (d < 2 ? INT32_MAX : ONNX_MAX_DIM))
            return node_fail(c, "the weight has a bad dimension %zu (%lld)", d, (long long)w->dims[d]), NULL;
    const int wk[3] = {(int)w->dims[2], (int)w->dims[3], (int)w->dims[4]};
    window3 win;
    int64_t xd[CNN_MAX_RANK];
    cnn_node_shape(x, xd);
    if (window3_attrs(c, x, wk, &win) || init_numel(c, w) < 0) return NULL;
    if (w->dims[1] * group != xd[1])
        return node_fail(c, "the weight takes %lld x %lld input channels but the input has %lld channels", (long long)w->dims[1],
                         (long long)group, (long long)xd[1]), NULL;
    cnn_conv3d_params p = {.out_channels = w->dims[0], .groups = group, .bias = has_input(c->node, 2)};
    memcpy(p.kernel, win.kernel, sizeof p.kernel);
    memcpy(p.stride, win.stride, sizeof p.stride);
    memcpy(p.dilation, win.dil, sizeof p.dilation);
    memcpy(p.pad_before, win.before, sizeof p.pad_before);
    memcpy(p.pad_after, win.after, sizeof p.pad_after);
    const Onnx__TensorProto *b = p.bias ? input_const(c, 2, "bias") : NULL;
    if (p.bias && !b) return NULL;
    cnn_node *y = cnn_conv3d_ex(c->g, x, layer_name(c), &p);
    if (!y) return node_fail_lib(c), NULL;
    if (set_param(c, y, 0, w, false) || (b && set_param(c, y, 1, b, false))) return NULL;
    return y;
}

/* MaxPool / AveragePool over (N,C,D,H,W). */
static cnn_node *map_pool3d(const onnx_ctx *c, cnn_node *x, bool avg) {
    int64_t ceil_mode, include_pad = 0, storage_order = 0;
    window3 win;
    if (check_attrs(c, avg ? "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides"
                           : "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides") ||
        attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode) || (avg && attr_int(c, "count_include_pad", 0, 0, 1, &include_pad)) ||
        attr_int(c, "storage_order", 0, 0, 0, &storage_order) || check_outputs(c, 1) || window3_attrs(c, x, NULL, &win))
        return NULL;
    cnn_pool3d_params p = {.ceil_mode = ceil_mode != 0, .count_include_pad = include_pad != 0, .large_pads = true};
    memcpy(p.kernel, win.kernel, sizeof p.kernel);
    memcpy(p.stride, win.stride, sizeof p.stride); /* ONNX's default stride is 1, not the kernel */
    memcpy(p.dilation, win.dil, sizeof p.dilation);
    memcpy(p.pad_before, win.before, sizeof p.pad_before);
    memcpy(p.pad_after, win.after, sizeof p.pad_after);
    cnn_node *y = avg ? cnn_avgpool3d_ex(c->g, x, layer_name(c), &p) : cnn_maxpool3d_ex(c->g, x, layer_name(c), &p);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* ---- operators ---- */

/* Conv over (N,C,H,W), or (N,C,L) with a (OC, C/group, K) weight as a 1 x K convolution. */
static cnn_node *map_conv(const onnx_ctx *c) {
    int64_t group;
    int kernel[2], strides[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, auto_pad;
    bool has_kernel, has_strides, has_dil, has_pads;
    cnn_conv2d_params p = {0};
    cnn_node *x = input_node(c, 0);
    if (x && cnn_node_rank(x) == 5 && !needs_batch(c)) return map_conv3d(c, x);
    const int spatial = x ? spatial_dims(c, x) : 0;
    if (!spatial || check_attrs(c, "auto_pad,dilations,group,kernel_shape,pads,strides") || attr_auto_pad(c, &auto_pad) ||
        attr_int(c, "group", 1, 1, INT32_MAX, &group) ||
        attr_window_ints(c, "kernel_shape", spatial, 1, ONNX_MAX_DIM, 1, kernel, &has_kernel) ||
        attr_window_ints(c, "strides", spatial, 1, ONNX_MAX_DIM, 1, strides, &has_strides) ||
        attr_window_ints(c, "dilations", spatial, 1, ONNX_MAX_DIM, 1, dil, &has_dil) ||
        attr_window_ints(c, "pads", spatial, 0, ONNX_MAX_DIM, 0, pads, &has_pads) || check_outputs(c, 1))
        return NULL;
    const Onnx__TensorProto *w = input_const(c, 1, "weight");
    if (!w) return NULL;
    if (w->n_dims != (size_t)spatial + 2)
        return node_fail(c, "the weight has rank %zu; a %d-D convolution needs rank %d", w->n_dims, spatial, spatial + 2), NULL;
    for (size_t d = 0; d < w->n_dims; d++)
        if (w->dims[d] < 1 || w->dims[d] > (d < 2 ? INT32_MAX : ONNX_MAX_DIM))
            return node_fail(c, "the weight has a bad dimension %zu (%lld)", d, (long long)w->dims[d]), NULL;
    const int wk[2] = {spatial == 2 ? (int)w->dims[2] : 1, (int)w->dims[spatial + 1]}; /* 1-D: 1 x K */
    if (has_kernel && (kernel[0] != wk[0] || kernel[1] != wk[1]))
        return node_fail(c, "kernel_shape %dx%d differs from the weight's %dx%d", kernel[0], kernel[1], wk[0], wk[1]), NULL;
    int64_t xd[CNN_MAX_RANK];
    cnn_node_shape(x, xd);
    if (init_numel(c, w) < 0) return NULL;
    if (w->dims[1] * group != xd[1]) /* checked before the layer allocates its weight */
        return node_fail(c, "the weight takes %lld x %lld input channels but the input has %lld channels", (long long)w->dims[1],
                         (long long)group, (long long)xd[1]), NULL;
    if (!(x = as_2d(c, x))) return NULL;
    p.out_channels = w->dims[0];
    p.kernel_h = wk[0], p.kernel_w = wk[1];
    if (resolve_auto_pad(c, auto_pad, x, wk, strides, dil, has_pads, pads)) return NULL;
    p.stride_h = strides[0], p.stride_w = strides[1];
    p.dilation_h = dil[0], p.dilation_w = dil[1];
    p.groups = group;
    /* ONNX orders pads as [top, left, bottom, right]. */
    p.pad_top = pads[0], p.pad_left = pads[1], p.pad_bottom = pads[2], p.pad_right = pads[3];
    p.bias = has_input(c->node, 2);
    const Onnx__TensorProto *b = p.bias ? input_const(c, 2, "bias") : NULL;
    if (p.bias && !b) return NULL;
    cnn_node *y = cnn_conv2d_ex(c->g, x, layer_name(c), &p);
    if (!y) return node_fail_lib(c), NULL;
    /* A 1-D weight (OC, C/group, K) holds the 1 x K kernels in the same order. */
    if (set_param(c, y, 0, w, spatial == 1) || (b && set_param(c, y, 1, b, false))) return NULL;
    return as_1d(c, y, spatial);
}

static cnn_node *map_batchnorm(const onnx_ctx *c) {
    float eps, momentum;
    int64_t training, spatial;
    if (check_attrs(c, "epsilon,momentum,training_mode,spatial,is_test,consumed_inputs") || attr_float(c, "epsilon", 1e-5f, &eps) ||
        attr_float(c, "momentum", 0.9f, &momentum) || attr_int(c, "training_mode", 0, 0, 0, &training) ||
        attr_int(c, "spatial", 1, 1, 1, &spatial) || check_outputs(c, 1))
        return NULL;
    if (!(eps > 0.0f)) return node_fail(c, "epsilon must be positive"), NULL;
    if (needs_batch(c)) return NULL;
    cnn_node *x = input_node(c, 0);
    const Onnx__TensorProto *t[4] = {NULL};
    static const char *const what[4] = {"scale", "bias", "mean", "variance"};
    for (int i = 0; i < 4; i++)
        if (!x || !(t[i] = input_const(c, (size_t)i + 1, what[i]))) return NULL;
    /* (N,C,L) runs as (N,C,L,1) and back. */
    int64_t d[CNN_MAX_RANK];
    cnn_node_shape(x, d);
    for (int i = 0; i < 4; i++) { /* checked before the layer allocates its parameters */
        const int64_t numel = init_numel(c, t[i]);
        if (numel < 0) return NULL;
        if (cnn_node_rank(x) < 2 || numel != d[1])
            return node_fail(c, "the %s has %lld values but the input has %lld channels", what[i], (long long)numel,
                             (long long)(cnn_node_rank(x) < 2 ? 0 : d[1])), NULL;
    }
    const bool rank3 = cnn_node_rank(x) == 3;
    if (rank3) {
        d[3] = 1;
        if (!(x = cnn_reshape(c->g, x, NULL, 4, d))) return node_fail_lib(c), NULL;
    }
    /* ONNX's momentum weighs the old running value; PyTorch's (cnn's) weighs the new one. */
    cnn_node *y = cnn_batchnorm(c->g, x, layer_name(c), eps, 1.0f - momentum);
    if (!y) return node_fail_lib(c), NULL;
    for (int i = 0; i < 4; i++)
        if (set_param(c, y, i, t[i], false)) return NULL;
    if (rank3 && !(y = cnn_reshape(c->g, y, NULL, 3, d))) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_pool(const onnx_ctx *c, bool avg) {
    int kernel[2], strides[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    bool has_kernel, has_strides, has_dil, has_pads;
    int64_t ceil_mode, include_pad = 0, storage_order = 0;
    int auto_pad;
    cnn_pool2d_params p = {0};
    cnn_node *x = input_node(c, 0);
    if (x && cnn_node_rank(x) == 5 && !needs_batch(c)) return map_pool3d(c, x, avg);
    const int spatial = x ? spatial_dims(c, x) : 0;
    if (!spatial ||
        check_attrs(c, avg ? "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides"
                           : "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides") ||
        attr_auto_pad(c, &auto_pad) || attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode) ||
        (avg && attr_int(c, "count_include_pad", 0, 0, 1, &include_pad)) || attr_int(c, "storage_order", 0, 0, 0, &storage_order) ||
        attr_window_ints(c, "kernel_shape", spatial, 1, ONNX_MAX_DIM, 1, kernel, &has_kernel) ||
        attr_window_ints(c, "strides", spatial, 1, ONNX_MAX_DIM, 1, strides, &has_strides) ||
        attr_window_ints(c, "dilations", spatial, 1, ONNX_MAX_DIM, 1, dil, &has_dil) ||
        attr_window_ints(c, "pads", spatial, 0, ONNX_MAX_DIM, 0, pads, &has_pads) || check_outputs(c, 1))
        return NULL;
    if (!has_kernel) return node_fail(c, "attribute 'kernel_shape' is required"), NULL;
    if (!(x = as_2d(c, x)) || resolve_auto_pad(c, auto_pad, x, kernel, strides, dil, has_pads, pads)) return NULL;
    p.kernel_h = kernel[0], p.kernel_w = kernel[1];
    p.stride_h = strides[0], p.stride_w = strides[1]; /* ONNX's default stride is 1, not the kernel */
    p.pad_top = pads[0], p.pad_left = pads[1], p.pad_bottom = pads[2], p.pad_right = pads[3];
    p.dilation_h = dil[0], p.dilation_w = dil[1]; /* AveragePool has none before opset 19 */
    p.ceil_mode = ceil_mode != 0;
    p.count_include_pad = include_pad != 0;
    p.large_pads = true;
    cnn_node *y = avg ? cnn_avgpool2d_ex(c->g, x, layer_name(c), &p) : cnn_maxpool2d_ex(c->g, x, layer_name(c), &p);
    if (!y) return node_fail_lib(c), NULL;
    return as_1d(c, y, spatial);
}

/* A dense layer y = x W (+ bias) from a constant matrix w: (F, out), or (out, F) with trans_w; the
 * weight is scaled by alpha. The bias, if any, is set by the caller. */
static cnn_node *dense_from_matrix(const onnx_ctx *c, cnn_node *x, const Onnx__TensorProto *w, bool trans_w, float alpha, bool bias) {
    if (needs_batch(c)) return NULL;
    if (cnn_node_rank(x) != 2) return node_fail(c, "input A must be a matrix (N x F), not rank %d", cnn_node_rank(x)), NULL;
    if (w->n_dims != 2 || w->dims[0] < 1 || w->dims[1] < 1) return node_fail(c, "the weight (B) must be a non-empty matrix"), NULL;
    const int64_t out = trans_w ? w->dims[0] : w->dims[1], f = trans_w ? w->dims[1] : w->dims[0];
    int64_t xd[CNN_MAX_RANK];
    cnn_node_shape(x, xd);
    if (xd[1] != f)
        return node_fail(c, "the weight (B) is %lldx%lld but the input has %lld features", (long long)w->dims[0], (long long)w->dims[1],
                         (long long)xd[1]), NULL;
    if (init_numel(c, w) < 0) return NULL;
    cnn_node *y = cnn_dense(c->g, x, layer_name(c), out, bias);
    if (!y) return node_fail_lib(c), NULL;
    const cnn_param_entry *e = cnn_node_param_entry(y, 0);
    float *tmp = cnn_calloc((size_t)e->numel, sizeof *tmp, "a Gemm/MatMul weight");
    if (!tmp) return node_fail_lib(c), NULL;
    if (init_floats(c, w, tmp, e->numel)) {
        free(tmp);
        return NULL;
    }
    /* The dense weight is (out, F): B transposed, unless transB gave it so. */
    float *dst = cnn_node_param_data(y, 0);
    for (int64_t i = 0; i < f; i++)
        for (int64_t o = 0; o < out; o++) dst[o * f + i] = alpha * (trans_w ? tmp[o * f + i] : tmp[i * out + o]);
    free(tmp);
    return y;
}

/* Gemm in an unbatched graph: alpha * A' B' (+ beta * C) as a product of (1|M,K) and (1|K,N) values,
 * A and B transposed where asked; constant operands become constant layers, C broadcasts. */
static cnn_node *gemm_unbatched(const onnx_ctx *c, float alpha, float beta, bool trans_a, bool trans_b) {
    static const int swap[3] = {0, 2, 1};
    cnn_node *ab[2];
    for (int i = 0; i < 2; i++) {
        if (operand_rank(c, (size_t)i) != 3) return node_fail(c, "input %c must be a matrix", "AB"[i]), NULL;
        if (!(ab[i] = operand(c, (size_t)i, 3))) return NULL;
        if ((i ? trans_b : trans_a) && !(ab[i] = cnn_transpose(c->g, ab[i], NULL, 3, swap))) return node_fail_lib(c), NULL;
    }
    cnn_node *y = cnn_matmul(c->g, ab[0], ab[1], layer_name(c));
    if (!y) return node_fail_lib(c), NULL;
    if (alpha != 1.0f && !(y = cnn_scale(c->g, y, NULL, alpha))) return node_fail_lib(c), NULL;
    if (!has_input(c->node, 2)) return y;
    if (operand_rank(c, 2) > 3) return node_fail(c, "the bias (C) has rank %d; at most a matrix broadcasts", operand_rank(c, 2) - 1), NULL;
    cnn_node *z = operand(c, 2, 3);
    if (!z) return NULL;
    if (beta != 1.0f && !(z = cnn_scale(c->g, z, NULL, beta))) return node_fail_lib(c), NULL;
    if (!(y = cnn_add_broadcast(c->g, y, z, NULL))) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_gemm(const onnx_ctx *c) {
    float alpha, beta;
    int64_t trans_a, trans_b, legacy;
    if (check_attrs(c, "alpha,beta,transA,transB,broadcast") || attr_float(c, "alpha", 1.0f, &alpha) ||
        attr_float(c, "beta", 1.0f, &beta) || attr_int(c, "transA", 0, 0, 1, &trans_a) || attr_int(c, "transB", 0, 0, 1, &trans_b) ||
        attr_int(c, "broadcast", 0, 0, 1, &legacy) || check_outputs(c, 1))
        return NULL;
    if (c->unbatched) return gemm_unbatched(c, alpha, beta, trans_a != 0, trans_b != 0);
    if (trans_a) return node_fail(c, "transA=1 is not supported (A's rows are the batch, which transA would contract)"), NULL;
    cnn_node *x = input_node(c, 0);
    const Onnx__TensorProto *w = x ? input_const(c, 1, "weight (B)") : NULL;
    if (!w) return NULL;
    const bool bias = has_input(c->node, 2);
    const onnx_value *cv = bias ? find_value(c, c->node->input[2]) : NULL;
    if (cv && cv->node) { /* a computed C (N, out) or (N, 1): the product, then beta * C added with broadcasting */
        cnn_node *y = dense_from_matrix(c, x, w, trans_b != 0, alpha, false), *z = cv->node;
        if (y && cnn_node_rank(z) != 2)
            return node_fail(c, "the bias (C) is computed with rank %d; a matrix (N x out or N x 1) is needed", cnn_node_rank(z)), NULL;
        if (y && beta != 1.0f && !(z = cnn_scale(c->g, z, NULL, beta))) return node_fail_lib(c), NULL;
        if (y && !(y = cnn_add_broadcast(c->g, y, z, NULL))) return node_fail_lib(c), NULL;
        return y;
    }
    const Onnx__TensorProto *b = bias ? input_const(c, 2, "bias (C)") : NULL;
    if (bias && !b) return NULL;
    cnn_node *y = dense_from_matrix(c, x, w, trans_b != 0, alpha, bias);
    if (!y || !b) return y;
    /* C broadcasts to (N, out): one value, or out values along the last dim; not a per-sample matrix. */
    const cnn_param_entry *e = cnn_node_param_entry(y, 1);
    int64_t numel = init_numel(c, b);
    if (numel < 0) return NULL;
    bool per_row = b->n_dims == 2 && b->dims[0] != 1;
    if ((numel != 1 && numel != e->numel) || per_row || b->n_dims > 2)
        return node_fail(c, "the bias (C) with %lld values in %zu dims does not broadcast to (N, %lld) without a batch dim", (long long)numel,
                         b->n_dims, (long long)e->numel), NULL;
    float *dst = cnn_node_param_data(y, 1);
    if (init_floats(c, b, dst, numel)) return NULL;
    for (int64_t o = e->numel; o-- > 0;) dst[o] = beta * dst[numel == 1 ? 0 : o];
    return y;
}

/* MatMul: a computed A times a constant matrix B is a dense layer (rank 2) or a matmul against a
 * constant layer; two computed values are a batched matmul. */
static cnn_node *map_matmul(const onnx_ctx *c) {
    if (check_attrs(c, "") || check_outputs(c, 1)) return NULL;
    if (c->node->n_input != 2) return node_fail(c, "%zu inputs; 2 expected", c->node->n_input), NULL;
    cnn_node *a = input_node(c, 0);
    if (!a) return NULL;
    const onnx_value *v = has_input(c->node, 1) ? find_value(c, c->node->input[1]) : NULL;
    if (v && !v->node && v->init && v->init->n_dims == 2 && cnn_node_rank(a) == 2) return dense_from_matrix(c, a, v->init, false, 1.0f, false);
    cnn_node *b = operand(c, 1, cnn_node_rank(a));
    if (!b) return NULL;
    cnn_node *y = cnn_matmul(c->g, a, b, layer_name(c));
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Reshape in an unbatched graph: every dim of the target shape is the model's (0 copies the input's
 * dim unless allowzero, -1 is inferred), behind the batch of 1. */
static cnn_node *reshape_unbatched(const onnx_ctx *c, cnn_node *x, const int64_t *shape, size_t rank, bool allowzero) {
    int64_t in[CNN_MAX_RANK], dims[CNN_MAX_RANK] = {0}, numel = 1, known = 1;
    const int in_rank = cnn_node_rank(x) - 1;
    int infer = -1;
    cnn_node_shape(x, in);
    if (rank > CNN_MAX_RANK - 1) return node_fail(c, "a target shape of rank %zu is not supported (0 to %d)", rank, CNN_MAX_RANK - 1), NULL;
    for (int d = 0; d < in_rank; d++) numel *= in[d + 1];
    for (size_t d = 0; d < rank; d++) {
        int64_t v = shape[d];
        if (v == 0 && !allowzero) {
            if ((int)d >= in_rank) return node_fail(c, "shape[%zu] is 0 but the input has no dim %zu", d, d), NULL;
            v = in[d + 1];
        }
        if (v == -1) {
            if (infer >= 0) return node_fail(c, "the target shape has more than one -1"), NULL;
            infer = (int)d;
            continue;
        }
        if (v < 0 || (v == 0 && !allowzero)) return node_fail(c, "shape[%zu] is %lld; dims must be positive (0 and -1 aside)", d, (long long)v), NULL;
        if ((known = cnn_mul_i64(known, v)) < 0) return node_fail(c, "the target shape is too large"), NULL;
        dims[d + 1] = v;
    }
    if (infer >= 0) {
        if (known == 0 || numel % known) return node_fail(c, "%lld elements do not fill the target shape", (long long)numel), NULL;
        dims[infer + 1] = numel / known;
    } else if (known != numel) {
        return node_fail(c, "the target shape holds %lld elements but the input has %lld", (long long)known, (long long)numel), NULL;
    }
    cnn_node *y = cnn_reshape(c->g, x, layer_name(c), (int)rank + 1, dims);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Reshape to a constant shape: 0 copies the input's dim (unless allowzero), -1 is inferred. The
 * first dim is the batch: it must stay (0, -1 or the graph's fixed batch size). */
static cnn_node *map_reshape(const onnx_ctx *c) {
    int64_t allowzero;
    if (check_attrs(c, "allowzero") || attr_int(c, "allowzero", 0, 0, 1, &allowzero) || check_outputs(c, 1)) return NULL;
    cnn_node *x = input_node(c, 0);
    bool batch_first; /* shape[0] is the batch size itself (Shape's dim 0 of a value, moved unchanged) */
    const Onnx__TensorProto *t = x ? input_const_ex(c, 1, "shape", &batch_first) : NULL;
    int64_t shape[8], in[CNN_MAX_RANK], dims[CNN_MAX_RANK] = {0};
    size_t rank;
    if (!t || init_ints(c, t, "shape", shape, 8, &rank)) return NULL;
    if (c->unbatched) return reshape_unbatched(c, x, shape, rank, allowzero != 0);
    if (batch_first) shape[0] = 0;
    cnn_node_shape(x, in);
    const int in_rank = cnn_node_rank(x);
    if (rank < 1 || rank > CNN_MAX_RANK) return node_fail(c, "a target shape of rank %zu is not supported (1 to %d)", rank, CNN_MAX_RANK), NULL;
    if (!(shape[0] == 0 || shape[0] == -1 || shape[0] == c->batch))
        return node_fail(c, "the target shape starts with %lld; the batch dim must stay (0, -1%s)", (long long)shape[0],
                         c->batch > 0 ? " or the graph's batch size" : ""), NULL;
    int64_t known = 1, infer = -1, numel = 1;
    for (int d = 1; d < in_rank; d++) numel *= in[d];
    for (size_t d = 1; d < rank; d++) {
        if (shape[d] == 0 && !allowzero) {
            if ((int)d >= in_rank) return node_fail(c, "shape[%zu] is 0 but the input has no dim %zu", d, d), NULL;
            shape[d] = in[d];
        }
        if (shape[d] == -1) {
            if (infer >= 0) return node_fail(c, "the target shape has more than one -1"), NULL;
            infer = (int64_t)d;
            continue;
        }
        if (shape[d] < 1) return node_fail(c, "shape[%zu] is %lld; dims must be positive (0 and -1 aside)", d, (long long)shape[d]), NULL;
        known = cnn_mul_i64(known, shape[d]);
        if (known < 0) return node_fail(c, "the target shape is too large"), NULL;
        dims[d] = shape[d];
    }
    if (shape[0] == -1 && infer < 0 && known != numel)
        return node_fail(c, "the target shape would change the batch size (%lld elements per sample, %lld in the shape)", (long long)numel,
                         (long long)known), NULL;
    if (infer >= 0) {
        if (shape[0] == -1) return node_fail(c, "the target shape has more than one -1"), NULL;
        if (numel % known) return node_fail(c, "%lld elements per sample do not fill the target shape", (long long)numel), NULL;
        dims[infer] = numel / known;
    }
    cnn_node *y = cnn_reshape(c->g, x, layer_name(c), (int)rank, dims);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Concat: computed values and constants along any dim but the batch. */
static cnn_node *map_concat(const onnx_ctx *c) {
    int64_t axis;
    const Onnx__AttributeProto *a = attr(c->node, "axis");
    if (check_attrs(c, "axis") || check_outputs(c, 1)) return NULL;
    if (!a) return node_fail(c, "attribute 'axis' is required"), NULL;
    if (attr_int(c, "axis", 1, -CNN_MAX_RANK, CNN_MAX_RANK - 1, &axis)) return NULL;
    const size_t n = c->node->n_input;
    if (n < 1 || n > 4096) return node_fail(c, "%zu inputs", n), NULL;
    int rank = 0;
    for (size_t i = 0; i < n; i++)
        if (operand_rank(c, i) > rank) rank = operand_rank(c, i);
    if (axis < 0) axis += rank - c->lead;
    axis += c->lead;
    if (axis < 1 || axis >= rank) return node_fail(c, "concatenation along axis %lld of rank-%d inputs is not supported (not the batch)", (long long)axis, rank), NULL;
    cnn_node **xs = cnn_calloc(n, sizeof *xs, "concat inputs");
    if (!xs) return node_fail_lib(c), NULL;
    cnn_node *y = NULL;
    size_t i = 0;
    while (i < n && (xs[i] = operand(c, i, rank))) i++;
    if (i == n && !(y = cnn_concat_axis(c->g, (int)n, xs, (int)axis, layer_name(c)))) node_fail_lib(c);
    free(xs);
    return y;
}

/* Add, Mul and Sum: operands computed or constant, NumPy broadcasting; Add of equal shapes is the
 * plain add layer. Opset 6's legacy broadcast attributes are accepted where they mean the same. */
static cnn_node *map_elementwise(const onnx_ctx *c, bool mul, bool nary) {
    const Onnx__NodeProto *n = c->node;
    int64_t legacy, axis;
    if (check_attrs(c, nary ? "" : "broadcast,axis") || attr_int(c, "broadcast", 0, 0, 1, &legacy) ||
        attr_int(c, "axis", -1, -CNN_MAX_RANK, CNN_MAX_RANK - 1, &axis) || check_outputs(c, 1))
        return NULL;
    if (nary ? n->n_input < 1 || n->n_input > 4096 : n->n_input != 2) return node_fail(c, "%zu inputs", n->n_input), NULL;
    int rank = 0;
    for (size_t i = 0; i < n->n_input; i++)
        if (operand_rank(c, i) > rank) rank = operand_rank(c, i);
    if (attr(n, "axis") && operand_rank(c, 1) + axis != rank && axis != operand_rank(c, 0) - operand_rank(c, 1))
        return node_fail(c, "legacy broadcast along axis %lld is not supported", (long long)axis), NULL;
    cnn_node *y = operand(c, 0, rank);
    for (size_t i = 1; y && i < n->n_input; i++) {
        cnn_node *b = operand(c, i, rank);
        if (!b) return NULL;
        int64_t da[CNN_MAX_RANK], db[CNN_MAX_RANK];
        cnn_node_shape(y, da);
        cnn_node_shape(b, db);
        bool same = cnn_node_rank(y) == cnn_node_rank(b) && memcmp(da, db, sizeof da) == 0;
        const char *name = i + 1 == n->n_input ? layer_name(c) : NULL;
        y = mul ? cnn_mul(c->g, y, b, name) : same ? cnn_add(c->g, y, b, name) : cnn_add_broadcast(c->g, y, b, name);
        if (!y) return node_fail_lib(c), NULL;
    }
    return y;
}

/* A float scalar from input i (an initializer or Constant), or def when the input is absent. */
static int input_scalar(const onnx_ctx *c, size_t i, const char *what, float def, float *out) {
    *out = def;
    if (!has_input(c->node, i)) return 0;
    const Onnx__TensorProto *t = input_const(c, i, what);
    return !t || init_floats(c, t, out, 1) ? -1 : 0;
}

static cnn_node *map_clip(const onnx_ctx *c) {
    float lo, hi;
    if (check_attrs(c, c->opset < 11 ? "min,max" : "") || check_outputs(c, 1)) return NULL;
    if (c->opset < 11) { /* min and max are attributes before opset 11, inputs since */
        if (attr_float(c, "min", -INFINITY, &lo) || attr_float(c, "max", INFINITY, &hi)) return NULL;
    } else if (input_scalar(c, 1, "min", -INFINITY, &lo) || input_scalar(c, 2, "max", INFINITY, &hi)) {
        return NULL;
    }
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    if (!(lo <= hi)) return node_fail(c, "min %g is above max %g", lo, hi), NULL;
    cnn_node *y = cnn_clip(c->g, x, layer_name(c), lo, hi);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Pad: pads and the constant are attributes before opset 11, inputs since; modes constant,
 * reflect, edge; the batch dim is never padded. */
static cnn_node *map_pad(const onnx_ctx *c) {
    char mode[32];
    float value = 0.0f;
    int64_t pads[2 * CNN_MAX_RANK];
    size_t count = 0;
    if (check_attrs(c, c->opset < 11 ? "mode,pads,value" : "mode") || attr_string(c, "mode", "constant", mode, sizeof mode) ||
        check_outputs(c, 1))
        return NULL;
    cnn_pad_mode m = strcmp(mode, "constant") == 0 ? CNN_PADMODE_CONSTANT : strcmp(mode, "reflect") == 0 ? CNN_PADMODE_REFLECT
                     : strcmp(mode, "edge") == 0 ? CNN_PADMODE_EDGE : (cnn_pad_mode)-1;
    if ((int)m < 0) return node_fail(c, "mode '%s' is not supported (constant, reflect or edge)", mode), NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    const int rank = cnn_node_rank(x);
    if (c->opset < 11) {
        const Onnx__AttributeProto *a = attr(c->node, "pads");
        if (!a || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)) return node_fail(c, "attribute 'pads' (integers) is required"), NULL;
        if (a->n_ints > 2 * CNN_MAX_RANK) return node_fail(c, "attribute 'pads' has %zu values", a->n_ints), NULL;
        count = a->n_ints;
        if (count) memcpy(pads, a->ints, count * sizeof *pads);
        if (attr_float(c, "value", 0.0f, &value)) return NULL;
    } else {
        const Onnx__TensorProto *t = input_const(c, 1, "pads");
        if (!t || init_ints(c, t, "pads", pads, 2 * CNN_MAX_RANK, &count) || input_scalar(c, 2, "constant value", 0.0f, &value)) return NULL;
        if (has_input(c->node, 3)) return node_fail(c, "the axes input is not supported"), NULL;
    }
    const int onnx_rank = rank - c->lead;
    if (count != 2 * (size_t)onnx_rank) return node_fail(c, "%zu pads for a rank-%d input; %d expected", count, onnx_rank, 2 * onnx_rank), NULL;
    int64_t before[CNN_MAX_RANK] = {0}, after[CNN_MAX_RANK] = {0};
    for (int d = c->lead; d < rank; d++) {
        before[d] = pads[d - c->lead], after[d] = pads[onnx_rank + d - c->lead];
        if (before[d] < 0 || after[d] < 0 || before[d] > ONNX_MAX_DIM || after[d] > ONNX_MAX_DIM)
            return node_fail(c, "pads %lld,%lld of dim %d are not supported (0 to %d)", (long long)before[d], (long long)after[d], d, ONNX_MAX_DIM), NULL;
    }
    if (before[0] || after[0]) return node_fail(c, "padding the batch dim is not supported"), NULL;
    cnn_node *y = cnn_pad(c->g, x, layer_name(c), m, before, after, value);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

static cnn_node *map_dropout(const onnx_ctx *c) {
    float ratio;
    int64_t is_test;
    if (check_attrs(c, "ratio,is_test,seed,consumed_inputs") || attr_float(c, "ratio", 0.5f, &ratio) ||
        attr_int(c, "is_test", 0, 0, 1, &is_test) || check_outputs(c, 1))
        return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x || input_scalar(c, 1, "ratio", ratio, &ratio)) return NULL; /* opset 12+: the ratio is an input */
    if (has_input(c->node, 2)) {
        const Onnx__TensorProto *t = input_const(c, 2, "training_mode");
        int64_t mode = 1;
        size_t count = 0;
        if (!t) return NULL;
        if (t->has_data_type && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL && init_numel(c, t) == 1)
            mode = t->has_raw_data && t->raw_data.len == 1 ? t->raw_data.data[0] : t->n_int32_data == 1 ? t->int32_data[0] : 1;
        else if (init_ints(c, t, "training_mode", &mode, 1, &count))
            return NULL;
        /* Training mode with ratio 0 is the identity, as eval mode is; otherwise the plan's mode decides. */
        if (mode && ratio != 0.0f) return node_fail(c, "training_mode true is not supported (the plan's mode decides)"), NULL;
    }
    if (!(ratio >= 0.0f && ratio < 1.0f)) return node_fail(c, "ratio %g is outside [0, 1)", ratio), NULL;
    cnn_node *y = cnn_dropout(c->g, x, layer_name(c), ratio);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Softmax over `axis`; before opset 13 over the input flattened from `axis` on. */
static cnn_node *map_softmax(const onnx_ctx *c) {
    int64_t axis;
    if (check_attrs(c, "axis") || attr_int(c, "axis", c->opset >= 13 ? -1 : 1, -CNN_MAX_RANK, CNN_MAX_RANK - 1, &axis) ||
        check_outputs(c, 1))
        return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    const int rank = cnn_node_rank(x);
    if (axis < 0) axis += rank - c->lead;
    axis += c->lead;
    if (axis < 1 || axis >= rank) return node_fail(c, "a softmax over axis %lld of a rank-%d input is not supported (not the batch)", (long long)axis, rank), NULL;
    cnn_node *y = cnn_softmax_dims(c->g, x, layer_name(c), (int)axis, c->opset >= 13 ? (int)axis : rank - 1);
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
    if (needs_batch(c)) return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    /* ONNX's window: floor((size-1)/2) channels before c, ceil((size-1)/2) after. */
    cnn_node *y = cnn_lrn_window(c->g, x, layer_name(c), (int)size, (int)((size - 1) / 2), alpha, beta, bias);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Flatten to (N, rest): only axis 1 keeps the batch apart. */
static cnn_node *map_flatten(const onnx_ctx *c) {
    int64_t axis;
    if (check_attrs(c, "axis") || attr_int(c, "axis", 1, -CNN_MAX_RANK, CNN_MAX_RANK, &axis) || check_outputs(c, 1)) return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    const int rank = cnn_node_rank(x);
    int64_t d[CNN_MAX_RANK], merged = 1;
    cnn_node_shape(x, d);
    if (c->unbatched) { /* (1 | d1..dk, dk+1..) -> (1 | d1*..*dk, dk+1*..) */
        if (axis < 0) axis += rank - 1;
        if (axis < 0 || axis > rank - 1) return node_fail(c, "axis %lld is outside 0..%d", (long long)axis, rank - 1), NULL;
        int64_t dims[CNN_MAX_RANK] = {0, 1, 1};
        for (int k = 1; k < rank; k++) dims[k <= axis ? 1 : 2] *= d[k];
        cnn_node *y = cnn_reshape(c->g, x, layer_name(c), 3, dims);
        if (!y) return node_fail_lib(c), NULL;
        return y;
    }
    if (axis < 0) axis += rank;
    for (int k = 1; k < axis && k < rank; k++) merged *= d[k];
    if (axis < 1 || merged != 1)
        return node_fail(c, "flattening at axis %lld of a rank-%d input would mix samples; only axis 1 is supported", (long long)axis, rank), NULL;
    if (rank == 2) return x; /* already flat */
    int64_t dims[CNN_MAX_RANK] = {0, 1};
    for (int k = 1; k < rank; k++) dims[1] *= d[k];
    cnn_node *y = rank == 4 ? cnn_flatten(c->g, x, layer_name(c)) : cnn_reshape(c->g, x, layer_name(c), 2, dims);
    if (!y) return node_fail_lib(c), NULL;
    return y;
}

/* Activations and pools of one input and no parameters. */
static cnn_node *map_unary(const onnx_ctx *c, const char *op) {
    float alpha = 0.01f;
    const bool leaky = strcmp(op, "LeakyRelu") == 0;
    if (check_attrs(c, leaky ? "alpha" : strcmp(op, "Relu") == 0 || strcmp(op, "Sigmoid") == 0 || strcmp(op, "Tanh") == 0 ? "consumed_inputs" : "") ||
        (leaky && attr_float(c, "alpha", 0.01f, &alpha)) || check_outputs(c, 1))
        return NULL;
    cnn_node *x = input_node(c, 0);
    if (!x) return NULL;
    const bool global = strncmp(op, "Global", 6) == 0;
    const int spatial = global ? spatial_dims(c, x) : 0;
    if (global && (!spatial || !(x = as_2d(c, x)))) return NULL; /* (N,C,L) pools as (N,C,1,L) */
    const char *name = layer_name(c);
    cnn_node *y = strcmp(op, "Relu") == 0          ? cnn_relu(c->g, x, name)
                  : strcmp(op, "Sigmoid") == 0     ? cnn_sigmoid(c->g, x, name)
                  : strcmp(op, "Tanh") == 0        ? cnn_tanh(c->g, x, name)
                  : leaky                          ? cnn_leaky_relu(c->g, x, name, alpha)
                  : strcmp(op, "GlobalMaxPool") == 0 ? cnn_global_maxpool(c->g, x, name)
                                                   : cnn_global_avgpool(c->g, x, name);
    if (!y) return node_fail_lib(c), NULL;
    return as_1d(c, y, spatial);
}

/* ---- constant folding ---- */

/* Integer shape arithmetic (what torch.onnx.export writes for F.pad's pads, or x.view(x.size(0), -1))
 * is evaluated at import when its inputs are integer constants or the Shape of a value: every dim
 * of a value is fixed but the batch, so a result that depends on the batch size is marked and
 * refused where it is used (a Reshape may keep it as its first dim: the batch stays). */
static const char *const fold_only_ops[] = {"Shape", "ConstantOfShape", "Slice", "Transpose", "Cast", "Gather",
                                            "Unsqueeze", "Squeeze", "Sub", "Div", "Neg"};
static const char *const fold_layer_ops[] = {"Concat", "Reshape", "Add", "Mul"}; /* layers too, on computed values */

static bool in_list(const char *op, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(op, list[i]) == 0) return true;
    return false;
}

/* Input i as a folded tensor: 1 when it is a constant integer tensor (an int64 / int32 initializer
 * or Constant, or a folded value), 0 when it is not (computed, or not integer), -1 on error. */
static int fold_input(const onnx_ctx *c, size_t i, fold_tensor *out) {
    const onnx_value *v = find_value(c, c->node->input[i]);
    if (!v || v->node || !v->init) return 0;
    const Onnx__TensorProto *t = v->init;
    const int type = t->has_data_type ? (int)t->data_type : 0;
    if (type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32) return 0;
    char buf[128];
    if (t->n_dims > FOLD_MAX_RANK) return node_fail(c, "the integer constant '%s' has rank %zu", clean(c->node->input[i], buf, sizeof buf), t->n_dims);
    size_t count;
    if (init_numel(c, t) < 0) return -1;
    if (fold_set_shape(out, (int)t->n_dims, t->dims)) return node_fail_lib(c);
    if (init_ints(c, t, "input", out->v, FOLD_MAX_NUMEL, &count)) return -1;
    if (v->fold) memcpy(out->taint, v->fold->taint, count);
    return 1;
}

/* Shape (opset 15: start, end) of a computed value (dim 0 the batch: FOLD_BATCH) or a constant. */
static int fold_shape(const onnx_ctx *c, fold_tensor *out) {
    int64_t start, end, d[FOLD_MAX_RANK] = {0};
    if (check_attrs(c, "start,end") || attr_int(c, "start", 0, -INT64_MAX, INT64_MAX, &start) ||
        attr_int(c, "end", INT64_MAX, -INT64_MAX, INT64_MAX, &end) || check_outputs(c, 1)) /* clamped to [0, rank] below */
        return -1;
    const onnx_value *v = has_input(c->node, 0) ? find_value(c, c->node->input[0]) : NULL;
    if (!v) return input_node(c, 0) ? 0 : -1; /* its message */
    int rank = v->node ? cnn_node_rank(v->node) - c->lead : (int)v->init->n_dims;
    if (rank > FOLD_MAX_RANK) return node_fail(c, "the input has rank %d", rank);
    if (v->node && c->unbatched) { /* every dim the model's own */
        int64_t whole[CNN_MAX_RANK];
        cnn_node_shape(v->node, whole);
        memcpy(d, whole + 1, (size_t)rank * sizeof *d);
    } else if (v->node) {
        cnn_node_shape(v->node, d);
        d[0] = c->batch > 0 ? c->batch : 1; /* a stand-in, marked */
    } else if (rank > 0) { /* a scalar may come without a dims array */
        memcpy(d, v->init->dims, (size_t)rank * sizeof *d);
    }
    if (start < 0) start = start + rank < 0 ? 0 : start + rank;
    if (end < 0) end = end + rank < 0 ? 0 : end + rank;
    if (start > rank) start = rank;
    if (end > rank) end = rank;
    const int64_t len = end > start ? end - start : 0;
    if (fold_set_shape(out, 1, &len)) return node_fail_lib(c);
    for (int64_t k = 0; k < len; k++) out->v[k] = d[start + k];
    if (v->node && !c->unbatched && start == 0 && len > 0) out->taint[0] = FOLD_BATCH;
    return 0;
}

/* An INTS attribute of at most max values into out; *count -1 when absent. */
static int attr_int64s(const onnx_ctx *c, const char *name, int64_t *out, int max, int *count) {
    const Onnx__AttributeProto *a = attr(c->node, name);
    *count = -1;
    if (!a) return 0;
    if ((a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) || a->n_ints > (size_t)max)
        return node_fail(c, "attribute '%s' must be a list of at most %d integers", name, max);
    if (a->n_ints) memcpy(out, a->ints, a->n_ints * sizeof *out);
    *count = (int)a->n_ints;
    return 0;
}

/* The axes of Unsqueeze / Squeeze: an attribute before opset 13, input 1 since. */
static int fold_axes(const onnx_ctx *c, const fold_tensor *in, int64_t *axes, int *count) {
    if (c->opset < 13) return check_attrs(c, "axes") || attr_int64s(c, "axes", axes, FOLD_MAX_RANK, count);
    if (check_attrs(c, "")) return -1;
    *count = -1;
    if (!has_input(c->node, 1)) return 0;
    if (in[1].rank != 1 || in[1].numel > FOLD_MAX_RANK) return node_fail(c, "the axes must be a vector of at most %d values", FOLD_MAX_RANK);
    memcpy(axes, in[1].v, (size_t)in[1].numel * sizeof *axes);
    *count = (int)in[1].numel;
    return 0;
}

/* The node's result into out: 1 when folded, 0 when it is not foldable (an input is computed or
 * not integer: the node is then mapped as a layer, or refused), -1 on error. in has a slot per input. */
static int fold_compute(const onnx_ctx *c, const char *op, fold_tensor *in, fold_tensor *out) {
    const Onnx__NodeProto *n = c->node;
    if (strcmp(op, "Shape") == 0) return fold_shape(c, out) ? -1 : 1;
    for (size_t i = 0; i < n->n_input; i++) {
        int got = has_input(n, i) ? fold_input(c, i, &in[i]) : 1;
        if (got <= 0) return got;
    }
    if (check_outputs(c, 1)) return -1;
    const size_t n_in = n->n_input;
    int64_t v, axes[FOLD_MAX_RANK];
    int count, rc;
    static const char *const binary[] = {"Add", "Sub", "Mul", "Div"};
    for (int k = 0; k < 4; k++)
        if (strcmp(op, binary[k]) == 0) {
            if (check_attrs(c, "")) return -1;
            if (n_in != 2) return node_fail(c, "%zu inputs; 2 expected", n_in);
            return fold_binary((fold_binary_op)k, &in[0], &in[1], out) ? node_fail_lib(c) : 1;
        }
    if (n_in < 1 || !has_input(n, 0)) return node_fail(c, "input 0 is missing");
    if (strcmp(op, "Neg") == 0) {
        rc = check_attrs(c, "") ? -1 : fold_neg(&in[0], out);
    } else if (strcmp(op, "Cast") == 0) {
        if (check_attrs(c, "to") || attr_int(c, "to", 0, 0, 64, &v)) return -1;
        if (v != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && v != ONNX__TENSOR_PROTO__DATA_TYPE__INT32) return 0;
        for (int64_t k = 0; k < in[0].numel; k++)
            if (v == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 && (in[0].v[k] < INT32_MIN || in[0].v[k] > INT32_MAX))
                return node_fail(c, "%lld does not fit in int32", (long long)in[0].v[k]);
        *out = in[0]; /* int32 values are kept as int64 */
        rc = 0;
    } else if (strcmp(op, "ConstantOfShape") == 0) {
        const Onnx__AttributeProto *a = attr(n, "value");
        if (check_attrs(c, "value")) return -1;
        if (!a || !a->t) return 0; /* float 0 by default: not an integer value */
        const int type = a->t->has_data_type ? (int)a->t->data_type : 0;
        if (type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32) return 0;
        size_t got;
        if (init_ints(c, a->t, "value", &v, 1, &got)) return -1;
        if (got != 1) return node_fail(c, "the value must hold one element");
        rc = fold_constant_of_shape(&in[0], v, out);
    } else if (strcmp(op, "Slice") == 0) {
        if (c->opset < 10) {
            fold_tensor se[3];
            int nk[3];
            const char *names[3] = {"starts", "ends", "axes"};
            if (check_attrs(c, "starts,ends,axes")) return -1;
            for (int k = 0; k < 3; k++) {
                if (attr_int64s(c, names[k], se[k].v, FOLD_MAX_RANK, &nk[k])) return -1;
                const int64_t len = nk[k] < 0 ? 0 : nk[k];
                if (fold_set_shape(&se[k], 1, &len)) return node_fail_lib(c);
            }
            if (nk[0] < 0 || nk[1] < 0) return node_fail(c, "attributes 'starts' and 'ends' are required");
            rc = fold_slice(&in[0], &se[0], &se[1], nk[2] < 0 ? NULL : &se[2], NULL, out);
        } else {
            if (check_attrs(c, "")) return -1;
            if (n_in < 3 || n_in > 5) return node_fail(c, "%zu inputs; 3 to 5 expected", n_in);
            rc = fold_slice(&in[0], &in[1], &in[2], n_in > 3 && has_input(n, 3) ? &in[3] : NULL, n_in > 4 && has_input(n, 4) ? &in[4] : NULL, out);
        }
    } else if (strcmp(op, "Concat") == 0) {
        const fold_tensor *xs[16];
        if (check_attrs(c, "axis") || attr_int(c, "axis", 0, -FOLD_MAX_RANK, FOLD_MAX_RANK - 1, &v)) return -1;
        if (!attr(n, "axis")) return node_fail(c, "attribute 'axis' is required");
        for (size_t i = 0; i < n_in; i++) xs[i] = &in[i];
        rc = fold_concat((int)n_in, xs, v, out);
    } else if (strcmp(op, "Reshape") == 0) {
        if (check_attrs(c, "allowzero") || attr_int(c, "allowzero", 0, 0, 1, &v)) return -1;
        if (n_in != 2) return node_fail(c, "%zu inputs; 2 expected", n_in);
        rc = fold_reshape(&in[0], &in[1], v != 0, out);
    } else if (strcmp(op, "Transpose") == 0) {
        if (check_attrs(c, "perm") || attr_int64s(c, "perm", axes, FOLD_MAX_RANK, &count)) return -1;
        rc = fold_transpose(&in[0], count < 0 ? NULL : axes, count, out);
    } else if (strcmp(op, "Gather") == 0) {
        if (check_attrs(c, "axis") || attr_int(c, "axis", 0, -FOLD_MAX_RANK, FOLD_MAX_RANK - 1, &v)) return -1;
        if (n_in != 2) return node_fail(c, "%zu inputs; 2 expected", n_in);
        rc = fold_gather(&in[0], &in[1], v, out);
    } else { /* Unsqueeze, Squeeze */
        const bool squeeze = strcmp(op, "Squeeze") == 0;
        if (fold_axes(c, in, axes, &count)) return -1;
        if (!squeeze && count < 0) return node_fail(c, "the axes are required");
        rc = squeeze ? fold_squeeze(&in[0], axes, count, out) : fold_unsqueeze(&in[0], axes, count, out);
    }
    return rc ? node_fail_lib(c) : 1;
}

/* Keeps a folded result as the node's output value (an int64 constant). */
static int store_folded(onnx_ctx *c, const fold_tensor *f) {
    if (c->folded_total + f->numel > FOLD_MAX_TOTAL)
        return node_fail(c, "constant folding would hold more than %lld elements", (long long)FOLD_MAX_TOTAL);
    c->folded_total += f->numel;
    folded_value *o = own(c, sizeof *o + (size_t)f->numel * (sizeof(int64_t) + 1), "a folded value");
    if (!o) return node_fail_lib(c);
    onnx__tensor_proto__init(&o->t);
    o->t.name = c->node->output[0];
    o->t.has_data_type = true;
    o->t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    memcpy(o->dims, f->dims, (size_t)f->rank * sizeof *o->dims);
    o->t.dims = o->dims, o->t.n_dims = (size_t)f->rank;
    memcpy(o->v, f->v, (size_t)f->numel * sizeof *o->v);
    o->t.int64_data = o->v, o->t.n_int64_data = (size_t)f->numel;
    o->taint = (unsigned char *)(o->v + f->numel);
    memcpy(o->taint, f->taint, (size_t)f->numel);
    return add_value_ex(c, c->node->output[0], NULL, &o->t, true, o);
}

/* 1 when the node was folded into a constant, 0 when it is left to map_node, -1 on error. */
static int fold_node(onnx_ctx *c) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type ? n->op_type : "";
    const bool known = in_list(op, fold_only_ops, sizeof fold_only_ops / sizeof *fold_only_ops) ||
                       in_list(op, fold_layer_ops, sizeof fold_layer_ops / sizeof *fold_layer_ops);
    if (!known || (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) || n->n_input > 16) return 0;
    fold_tensor *t = cnn_calloc(n->n_input + 1, sizeof *t, "constant folding");
    if (!t) return node_fail_lib(c);
    int r = fold_compute(c, op, t, &t[n->n_input]);
    if (r == 1 && store_folded(c, &t[n->n_input])) r = -1;
    free(t);
    return r;
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
    if (strcmp(op, "MatMul") == 0) return map_matmul(c);
    if (strcmp(op, "Reshape") == 0) return map_reshape(c);
    if (strcmp(op, "Concat") == 0) return map_concat(c);
    if (strcmp(op, "Dropout") == 0) return map_dropout(c);
    if (strcmp(op, "Softmax") == 0) return map_softmax(c);
    if (strcmp(op, "LRN") == 0) return map_lrn(c);
    if (strcmp(op, "Flatten") == 0) return map_flatten(c);
    if (strcmp(op, "Clip") == 0) return map_clip(c);
    if (strcmp(op, "Pad") == 0) return map_pad(c);
    if (strcmp(op, "Add") == 0 || strcmp(op, "Mul") == 0 || strcmp(op, "Sum") == 0) return map_elementwise(c, op[0] == 'M', op[0] == 'S');
    static const char *const unary[] = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "GlobalAveragePool", "GlobalMaxPool"};
    for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
        if (strcmp(op, unary[i]) == 0) return map_unary(c, op);
    if (in_list(op, fold_only_ops, sizeof fold_only_ops / sizeof *fold_only_ops))
        return node_fail(c, "supported only on integer constants (initializers, Constants, the Shape of a value), which are "
                                "folded at import; here an input is computed or not an integer"), NULL;
    return node_fail(c, "unsupported operator"), NULL;
}

/* Constant and Identity name a value without computing one: a Constant's tensor, or Identity's
 * input (a computed value or a constant). 1 when the node was one of them, 0 if not, -1 on error. */
static int map_alias(onnx_ctx *c) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type ? n->op_type : "";
    if (strcmp(op, "Identity") == 0) {
        if (check_attrs(c, "") || check_outputs(c, 1)) return -1;
        const onnx_value *v = has_input(n, 0) ? find_value(c, n->input[0]) : NULL;
        if (!v) {
            input_node(c, 0); /* its message */
            return -1;
        }
        return add_value_ex(c, n->output[0], v->node, v->init, v->fixed, v->fold) ? -1 : 1;
    }
    if (strcmp(op, "Constant") != 0) return 0;
    if (check_outputs(c, 1)) return -1;
    if (n->n_attribute != 1) return node_fail(c, "%zu attributes; exactly one value attribute expected", n->n_attribute);
    const Onnx__AttributeProto *a = n->attribute[0];
    const char *name = a->name ? a->name : "";
    if (strcmp(name, "value") == 0 && a->t) return add_value_ex(c, n->output[0], NULL, a->t, true, NULL) ? -1 : 1;
    owned_tensor *o = own(c, sizeof *o, "a Constant's value");
    if (!o) return node_fail_lib(c);
    onnx__tensor_proto__init(&o->t);
    o->t.name = n->output[0];
    o->t.has_data_type = true;
    o->t.dims = o->dims;
    if (strcmp(name, "value_float") == 0 && a->has_f) {
        o->t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, o->t.float_data = &((Onnx__AttributeProto *)a)->f, o->t.n_float_data = 1;
    } else if (strcmp(name, "value_floats") == 0) {
        o->t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, o->t.float_data = a->floats, o->t.n_float_data = a->n_floats;
        o->t.n_dims = 1, o->dims[0] = (int64_t)a->n_floats;
    } else if (strcmp(name, "value_int") == 0 && a->has_i) {
        o->t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64, o->t.int64_data = &((Onnx__AttributeProto *)a)->i, o->t.n_int64_data = 1;
    } else if (strcmp(name, "value_ints") == 0) {
        o->t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64, o->t.int64_data = a->ints, o->t.n_int64_data = a->n_ints;
        o->t.n_dims = 1, o->dims[0] = (int64_t)a->n_ints;
    } else {
        char buf[64];
        return node_fail(c, "a Constant given by '%s' is not supported (value, value_float(s), value_int(s))", clean(name, buf, sizeof buf));
    }
    return add_value_ex(c, n->output[0], NULL, &o->t, true, NULL) ? -1 : 1;
}

/* A graph input of an unbatched graph: every dim fixed, all of them the model's, behind the batch of 1. */
static int add_input_unbatched(onnx_ctx *c, const Onnx__ValueInfoProto *v, const char *name, const Onnx__TensorShapeProto *shape) {
    if (!shape || shape->n_dim > CNN_MAX_RANK - 1)
        return cnn_fail("%s: graph input '%s' must have a known shape of rank 0 to %d", c->path, name, CNN_MAX_RANK - 1);
    int64_t d[CNN_MAX_RANK] = {0};
    for (size_t i = 0; i < shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[i];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dim->dim_value < 0 || dim->dim_value > INT32_MAX)
            return cnn_fail("%s: graph input '%s': dimension %zu must be a fixed size", c->path, name, i);
        d[i + 1] = dim->dim_value; /* 0: an empty tensor, which moves and element-wise ops pass */
    }
    cnn_node *x = cnn_input_nd(c->g, v->name, (int)shape->n_dim + 1, d);
    if (!x) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cnn_last_error());
        return cnn_fail("%s: graph input '%s': %s", c->path, name, msg);
    }
    return add_value(c, v->name, x, NULL);
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
    const size_t rank = tt->shape ? tt->shape->n_dim : 0;
    if (c->unbatched) return add_input_unbatched(c, v, name, tt->shape);
    if (rank < 1 || rank > CNN_MAX_RANK)
        return cnn_fail("%s: graph input '%s' must have a known shape of rank 1 to %d, the batch first (rank %zu)", c->path, name,
                        CNN_MAX_RANK, rank);
    int64_t d[CNN_MAX_RANK] = {0};
    for (size_t i = 1; i < rank; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dim->dim_value < 1 || dim->dim_value > INT32_MAX)
            return cnn_fail("%s: graph input '%s': dimension %zu must be a fixed positive size", c->path, name, i);
        d[i] = dim->dim_value;
    }
    const Onnx__TensorShapeProto__Dimension *batch = tt->shape->dim[0];
    if (cnn_graph_input_count(c->g) == 0)
        c->batch = batch->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && batch->dim_value > 0 ? batch->dim_value : -2;
    cnn_node *x = cnn_input_nd(c->g, v->name, (int)rank, d);
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
    /* Older opsets are read with their own attributes; what an operator's old form has that its
     * mapper does not know is refused by name (check_attrs). */
    if (c->opset < 1 || c->opset > 17)
        return cnn_fail_null("%s: ONNX opset %lld is not supported (1 to 17)", c->path, (long long)c->opset);
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
    if (cnn_graph_input_count(c->g) < 1 && !c->unbatched) return cnn_fail_null("%s: the graph has no inputs besides its initializers", c->path);

    for (size_t i = 0; i < gp->n_node; i++) {
        c->node = gp->node[i];
        int folded = fold_node(c);
        if (folded < 0) return NULL;
        if (folded) continue;
        int alias = map_alias(c);
        if (alias < 0) return NULL;
        if (alias) continue;
        cnn_node *y = map_node(c);
        if (!y) return NULL;
        if (add_value(c, c->node->output[0], y, NULL)) return NULL;
    }
    c->node = NULL;
    for (size_t i = 0; i < gp->n_output; i++) {
        char buf[128];
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        const onnx_value *v = find_value(c, name);
        cnn_node *y = v ? v->node : NULL;
        if (v && !y && c->unbatched) { /* a constant output (a Constant node's value): a constant layer */
            for (size_t k = 0; k < gp->n_node && !c->node; k++)
                if (gp->node[k]->n_output > 0 && gp->node[k]->output[0] && strcmp(gp->node[k]->output[0], name) == 0) c->node = gp->node[k];
            if (c->node && !(y = constant_layer(c, v, (int)v->init->n_dims + 1))) return NULL;
            c->node = NULL;
        }
        if (!y)
            return cnn_fail_null("%s: graph output '%s' is not computed by any node", c->path, clean(name, buf, sizeof buf));
        if (cnn_graph_add_output(c->g, y, 0)) {
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
    cnn_graph *g = cnn_onnx_load_memory(data, size, path);
    free(data);
    return g;
}

cnn_graph *cnn_onnx_load_memory(const void *data, size_t size, const char *path) {
    if (!path) path = "ONNX data";
    if (!data && size) return cnn_fail_null("%s: data is NULL", path);
    if (size > ONNX_MAX_FILE) return cnn_fail_null("%s: too large for an ONNX model (%zu bytes)", path, size);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m) return cnn_fail_null("%s: not an ONNX model (the protobuf does not parse: truncated or another kind of file)", path);
    /* Dim 0 is read as the batch; a model that mixes it with the other dims (and fixes them all) is
     * read again as whole tensors. When that fails too, the first reading's message stands. */
    char first[1024] = "";
    cnn_graph *g = NULL;
    for (int unbatched = 0; unbatched < 2 && !g; unbatched++) {
        onnx_ctx c = {.path = path, .g = cnn_graph_create(), .batch = -2, .unbatched = unbatched, .lead = unbatched};
        cnn_graph_set_unbatched(c.g, unbatched);
        if (!c.g)
            cnn_fail("%s: out of memory for the graph", path);
        else
            g = build(&c, m);
        if (!g) cnn_graph_free(c.g);
        free(c.vals);
        for (size_t i = 0; i < c.n_owned; i++) free(c.owned[i]);
        free(c.owned);
        if (!g && !unbatched) snprintf(first, sizeof first, "%s", cnn_last_error());
    }
    if (g) cnn_clear_error();
    else cnn_fail("%s", first);
    onnx__model_proto__free_unpacked(m, NULL);
    return g;
}
