/* onnx_export.c — ONNX export: the eval-mode part of a graph as an opset-13 ModelProto (the
 * protobuf-c structs generated from Debian's onnx.proto), streamed into a file written atomically.
 * Values are named after the layers and initializers after the parameters (PyTorch's names); the
 * batch is the symbolic dimension "N". */
#include "../core/internal.h"
#include "../ops/attrs.h"

#include "onnx.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT_OPSET 13
#define EXPORT_IR_VERSION 7           /* the IR version of opset 13 (ONNX 1.8) */
#define EXPORT_MAX_BYTES ((size_t)2147483647) /* protobuf's 2 GiB limit on a message */
#define NODE_MAX_ATTRS 8

/* Every proto struct, array and string of one export lives in these blocks, freed together. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
} arena_block;

typedef struct export_ctx {
    const cnn_graph *g;
    const char *path;
    arena_block *arena;
    void **nodes;                /* Onnx__NodeProto * */
    size_t n_nodes, cap_nodes;
    void **inits;                /* Onnx__TensorProto * */
    size_t n_inits, cap_inits;
    const char **value;          /* per graph node: the ONNX value that holds its output */
} export_ctx;

static void *arena_alloc(export_ctx *c, size_t size) {
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    arena_block *b = c->arena;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > ((size_t)64 << 10) ? size : (size_t)64 << 10;
        b = malloc(sizeof *b + cap);
        if (!b) return cnn_fail_null("%s: out of memory building the ONNX model", c->path);
        b->next = c->arena, b->used = 0, b->cap = cap;
        c->arena = b;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

static void arena_free(export_ctx *c) {
    while (c->arena) {
        arena_block *next = c->arena->next;
        free(c->arena);
        c->arena = next;
    }
}

static char *arena_printf(export_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(export_ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = len >= 0 ? arena_alloc(c, (size_t)len + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Appends p to a growing array of pointers. */
static int push(const export_ctx *c, void ***items, size_t *n, size_t *cap, void *p) {
    if (*n == *cap) {
        size_t grown = *cap ? 2 * *cap : 256;
        void **bigger = realloc(*items, grown * sizeof *bigger);
        if (!bigger) return cnn_fail("%s: out of memory building the ONNX model", c->path);
        *items = bigger, *cap = grown;
    }
    (*items)[(*n)++] = p;
    return 0;
}

/* "<path>: layer 'NAME' (op): <message>" */
static int layer_fail(const export_ctx *c, const cnn_node *x, const char *msg) {
    return cnn_fail("%s: layer '%s' (%s): %s", c->path, x->name, x->op->name, msg);
}

/* ---- initializers ---- */

static const char *add_init(export_ctx *c, const char *name, Onnx__TensorProto__DataType type, int rank,
                            const int64_t *dims, const void *data, size_t nbytes) {
    Onnx__TensorProto *t = arena_alloc(c, sizeof *t);
    int64_t *d = arena_alloc(c, (size_t)(rank ? rank : 1) * sizeof *d);
    if (!t || !d) return NULL;
    onnx__tensor_proto__init(t);
    if (rank) memcpy(d, dims, (size_t)rank * sizeof *d);
    t->n_dims = (size_t)rank, t->dims = d;
    t->has_data_type = 1, t->data_type = type;
    t->name = (char *)name;
    /* Raw data are little-endian, the byte order of the machines we build for; the weights are
     * referenced, not copied: the graph outlives the export. */
    t->has_raw_data = 1, t->raw_data.len = nbytes, t->raw_data.data = (uint8_t *)data;
    if (push(c, &c->inits, &c->n_inits, &c->cap_inits, t)) return NULL;
    return name;
}

/* A constant input of layer x made here ("<layer>.<suffix>"): the data are copied. */
static const char *const_init(export_ctx *c, const cnn_node *x, const char *suffix, Onnx__TensorProto__DataType type, int rank,
                              const int64_t *dims, const void *data, size_t nbytes) {
    const char *name = arena_printf(c, "%s.%s", x->name, suffix);
    void *copy = name ? arena_alloc(c, nbytes ? nbytes : 1) : NULL;
    if (!copy) return NULL;
    memcpy(copy, data, nbytes);
    return add_init(c, name, type, rank, dims, copy, nbytes);
}

static const char *float_init(export_ctx *c, const cnn_node *x, const char *suffix, float v) {
    return const_init(c, x, suffix, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v, sizeof v);
}

static const char *ints_init(export_ctx *c, const cnn_node *x, const char *suffix, int n, const int64_t *v) {
    const int64_t dims[1] = {n};
    return const_init(c, x, suffix, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims, v, (size_t)n * sizeof *v);
}

/* Parameter j of layer x as an initializer named like the parameter. */
static const char *param_init(export_ctx *c, const cnn_node *x, int j) {
    const cnn_param_entry *e = cnn_node_param_entry(x, j);
    return add_init(c, e->name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, e->rank, e->shape, cnn_node_param_data(x, j),
                    (size_t)e->numel * sizeof(float));
}

/* ---- nodes ---- */

/* A node of type op computing layer x's value from n inputs; attributes are added after. */
static Onnx__NodeProto *add_node(export_ctx *c, const cnn_node *x, const char *op, int n, const char *const *inputs) {
    Onnx__NodeProto *p = arena_alloc(c, sizeof *p);
    char **in = arena_alloc(c, (size_t)(n ? n : 1) * sizeof *in);
    char **out = arena_alloc(c, sizeof *out);
    Onnx__AttributeProto **attrs = arena_alloc(c, NODE_MAX_ATTRS * sizeof *attrs);
    if (!p || !in || !out || !attrs) return NULL;
    onnx__node_proto__init(p);
    for (int i = 0; i < n; i++) in[i] = (char *)inputs[i];
    out[0] = x->name;
    p->n_input = (size_t)n, p->input = in;
    p->n_output = 1, p->output = out;
    p->name = x->name;
    p->op_type = (char *)op;
    p->attribute = attrs;
    if (push(c, &c->nodes, &c->n_nodes, &c->cap_nodes, p)) return NULL;
    c->value[x->id] = x->name;
    return p;
}

/* The node's layer input i as an ONNX value name. */
static const char *in_value(const export_ctx *c, const cnn_node *x, int i) { return c->value[x->inputs[i]->id]; }

/* A node whose only input is the layer's first input. */
static Onnx__NodeProto *add_unary(export_ctx *c, const cnn_node *x, const char *op) {
    const char *in = in_value(c, x, 0);
    return add_node(c, x, op, 1, &in);
}

static Onnx__AttributeProto *new_attr(export_ctx *c, Onnx__NodeProto *p, const char *name,
                                      Onnx__AttributeProto__AttributeType type) {
    if (!p) return NULL;
    Onnx__AttributeProto *a = arena_alloc(c, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1, a->type = type;
    p->attribute[p->n_attribute++] = a;
    return a;
}

static int attr_int(export_ctx *c, Onnx__NodeProto *p, const char *name, int64_t v) {
    Onnx__AttributeProto *a = new_attr(c, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return -1;
    a->has_i = 1, a->i = v;
    return 0;
}

static int attr_float(export_ctx *c, Onnx__NodeProto *p, const char *name, float v) {
    Onnx__AttributeProto *a = new_attr(c, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return -1;
    a->has_f = 1, a->f = v;
    return 0;
}

static int attr_ints(export_ctx *c, Onnx__NodeProto *p, const char *name, int n, const int64_t *v) {
    Onnx__AttributeProto *a = new_attr(c, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = a ? arena_alloc(c, (size_t)n * sizeof *copy) : NULL;
    if (!copy) return -1;
    memcpy(copy, v, (size_t)n * sizeof *copy);
    a->n_ints = (size_t)n, a->ints = copy;
    return 0;
}

/* kernel_shape, strides and pads of a 2-D window; pads come as top, bottom, left, right (cnn's
 * order) and go out as ONNX's top, left, bottom, right. */
static int attr_window(export_ctx *c, Onnx__NodeProto *p, int kh, int kw, int sh, int sw, const int64_t pads[4]) {
    const int64_t kernel[2] = {kh, kw}, strides[2] = {sh, sw}, onnx_pads[4] = {pads[0], pads[2], pads[1], pads[3]};
    return attr_ints(c, p, "kernel_shape", 2, kernel) || attr_ints(c, p, "strides", 2, strides) ||
           attr_ints(c, p, "pads", 4, onnx_pads);
}

/* ---- layers ---- */

static int export_conv(export_ctx *c, const cnn_node *x) {
    const conv_attrs *a = x->attrs;
    const char *in[3] = {in_value(c, x, 0), param_init(c, x, 0), a->bias ? param_init(c, x, 1) : NULL};
    if (!in[1] || (a->bias && !in[2])) return -1;
    Onnx__NodeProto *p = add_node(c, x, "Conv", a->bias ? 3 : 2, in);
    const int64_t pads[4] = {a->pads[0], a->pads[1], a->pads[2], a->pads[3]}, dil[2] = {a->dilation_h, a->dilation_w};
    return attr_window(c, p, a->kernel_h, a->kernel_w, a->stride_h, a->stride_w, pads) || attr_ints(c, p, "dilations", 2, dil) ||
           attr_int(c, p, "group", a->groups);
}

static int export_batchnorm(export_ctx *c, const cnn_node *x) {
    const batchnorm_attrs *a = x->attrs;
    const char *in[5] = {in_value(c, x, 0)};
    for (int j = 0; j < 4; j++) /* weight, bias, running_mean, running_var: ONNX's scale, B, mean, var */
        if (!(in[j + 1] = param_init(c, x, j))) return -1;
    Onnx__NodeProto *p = add_node(c, x, "BatchNormalization", 5, in);
    /* ONNX's momentum weighs the old running value; PyTorch's (cnn's) weighs the new one. */
    return attr_float(c, p, "epsilon", a->eps) || attr_float(c, p, "momentum", 1.0f - a->momentum);
}

static int export_dense(export_ctx *c, const cnn_node *x) {
    const dense_attrs *a = x->attrs;
    const char *in[3] = {in_value(c, x, 0), param_init(c, x, 0), a->bias ? param_init(c, x, 1) : NULL};
    if (!in[1] || (a->bias && !in[2])) return -1;
    /* y = x W^T + b with W (out, F), as PyTorch's Linear exports. */
    return attr_int(c, add_node(c, x, "Gemm", a->bias ? 3 : 2, in), "transB", 1);
}

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Max / average pool. ONNX's ceil mode lacks PyTorch's rule that the last window starts inside
 * the input or the leading pad, so the attributes are chosen to give cnn's output size exactly:
 * floor mode when that gives it; else ONNX's ceil mode when that does; else (max pool, or an
 * average that leaves padding out of the divisor) floor mode with the trailing pads grown so the
 * last window fits, which changes nothing else. */
static int export_pool(export_ctx *c, const cnn_node *x) {
    const pool_attrs *a = x->attrs;
    const cnn_pool2d_params *q = &a->p;
    const int64_t in[2] = {x->inputs[0]->shape.dims[2], x->inputs[0]->shape.dims[3]};
    const int64_t out[2] = {x->shape.dims[2], x->shape.dims[3]};
    const int kernel[2] = {q->kernel_h, q->kernel_w}, stride[2] = {q->stride_h, q->stride_w};
    const int64_t dil[2] = {q->dilation_h, q->dilation_w};
    const int64_t extent[2] = {(kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1}; /* a dilated window's */
    int64_t pads[4] = {a->pad[0], a->pad[1], a->pad[2], a->pad[3]}, grown[4];
    memcpy(grown, pads, sizeof grown);
    bool floor_fits = true, ceil_fits = true;
    for (int d = 0; d < 2; d++) {
        const int64_t before = pads[2 * d], after = pads[2 * d + 1], span = in[d] + before + after - extent[d];
        floor_fits &= floor_div(span, stride[d]) + 1 == out[d];
        ceil_fits &= -floor_div(-span, stride[d]) + 1 == out[d];
        const int64_t need = (out[d] - 1) * stride[d] + extent[d] - in[d] - before; /* trailing pad of the last window */
        if (need > grown[2 * d + 1]) grown[2 * d + 1] = need;
    }
    bool ceil_mode = false;
    if (!floor_fits && ceil_fits) {
        ceil_mode = true;
    } else if (!floor_fits) {
        if (a->kind == POOL_AVG && a->include_pad)
            return layer_fail(c, x, "ceil mode with count_include_pad gives an output size ONNX's AveragePool cannot express");
        memcpy(pads, grown, sizeof pads);
    }
    const char *input = in_value(c, x, 0);
    Onnx__NodeProto *p = add_node(c, x, a->kind == POOL_MAX ? "MaxPool" : "AveragePool", 1, &input);
    if (attr_window(c, p, kernel[0], kernel[1], stride[0], stride[1], pads) || attr_int(c, p, "ceil_mode", ceil_mode) ||
        ((dil[0] > 1 || dil[1] > 1) && attr_ints(c, p, "dilations", 2, dil)))
        return -1;
    return a->kind == POOL_AVG ? attr_int(c, p, "count_include_pad", a->include_pad) : 0;
}

/* Adaptive average pooling: global when the output is 1x1, a plain average pool when the bins
 * are equal and do not overlap (the input a multiple of the output); ONNX has nothing else. */
static int export_adaptive_pool(export_ctx *c, const cnn_node *x) {
    const int64_t h = x->inputs[0]->shape.dims[2], w = x->inputs[0]->shape.dims[3];
    const int64_t oh = x->shape.dims[2], ow = x->shape.dims[3];
    if (oh == 1 && ow == 1) return add_unary(c, x, "GlobalAveragePool") ? 0 : -1;
    if (h % oh || w % ow) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "input %lldx%lld to output %lldx%lld has unequal bins, which ONNX cannot express (export at an input "
                 "size that makes them a multiple)", (long long)h, (long long)w, (long long)oh, (long long)ow);
        return layer_fail(c, x, msg);
    }
    const int64_t pads[4] = {0, 0, 0, 0};
    Onnx__NodeProto *p = add_unary(c, x, "AveragePool");
    return attr_window(c, p, (int)(h / oh), (int)(w / ow), (int)(h / oh), (int)(w / ow), pads);
}

static int export_lrn(export_ctx *c, const cnn_node *x) {
    const lrn_attrs *a = x->attrs;
    /* ONNX's window has (size-1)/2 channels before the centre; PyTorch's has size/2, the same for odd sizes. */
    if (a->before != (a->size - 1) / 2)
        return layer_fail(c, x, "ONNX's LRN window has (size-1)/2 channels before the centre; this one (an even size centred "
                                "as PyTorch does) has size/2");
    Onnx__NodeProto *p = add_unary(c, x, "LRN");
    return attr_int(c, p, "size", a->size) || attr_float(c, p, "alpha", a->alpha) || attr_float(c, p, "beta", a->beta) ||
           attr_float(c, p, "bias", a->k);
}

static int export_scale(export_ctx *c, const cnn_node *x) {
    const char *in[2] = {in_value(c, x, 0), float_init(c, x, "factor", ((const scale_attrs *)x->attrs)->factor)};
    return in[1] && add_node(c, x, "Mul", 2, in) ? 0 : -1;
}

/* Pad of the starts of every dim, then their ends (opset 13: the pads are an input). */
static Onnx__NodeProto *add_pad(export_ctx *c, const cnn_node *x, const int64_t *before, const int64_t *after, float value) {
    const int rank = x->shape.rank;
    int64_t pads[2 * CNN_MAX_RANK];
    for (int d = 0; d < rank; d++) pads[d] = before[d], pads[rank + d] = after[d];
    const int n = value != 0.0f ? 3 : 2; /* the constant value's default is 0 */
    const char *in[3] = {in_value(c, x, 0), ints_init(c, x, "pads", 2 * rank, pads), n == 3 ? float_init(c, x, "value", value) : NULL};
    return in[1] && in[n - 1] ? add_node(c, x, "Pad", n, in) : NULL;
}

static int export_zero_pad(export_ctx *c, const cnn_node *x) {
    const zero_pad_attrs *a = x->attrs;
    const int64_t before[4] = {0, 0, a->top, a->left}, after[4] = {0, 0, a->bottom, a->right};
    return add_pad(c, x, before, after, 0.0f) ? 0 : -1;
}

static int export_pad(export_ctx *c, const cnn_node *x) {
    const pad_attrs *a = x->attrs;
    static const char *const modes[] = {"constant", "reflect", "edge"}; /* cnn_pad_mode's order */
    Onnx__NodeProto *p = add_pad(c, x, a->before, a->after, a->mode == CNN_PADMODE_CONSTANT ? a->value : 0.0f);
    Onnx__AttributeProto *mode = new_attr(c, p, "mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!mode || (unsigned)a->mode >= sizeof modes / sizeof *modes) return mode ? layer_fail(c, x, "unknown padding mode") : -1;
    mode->has_s = 1, mode->s.len = strlen(modes[a->mode]), mode->s.data = (uint8_t *)modes[a->mode];
    return 0;
}

/* A constant layer (an imported graph's constant operand) is an initializer of its per-sample
 * value with a batch dim of 1, which ONNX broadcasts over N as cnn does; it makes no node. */
static int export_constant(export_ctx *c, const cnn_node *x) {
    const cnn_param_entry *e = cnn_node_param_entry(x, 0);
    int64_t dims[CNN_MAX_RANK] = {1};
    for (int d = 1; d < x->shape.rank; d++) dims[d] = x->shape.dims[d];
    const char *name = add_init(c, e->name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, x->shape.rank, dims, cnn_node_param_data(x, 0),
                                (size_t)e->numel * sizeof(float));
    c->value[x->id] = name;
    return name ? 0 : -1;
}

static int export_reshape(export_ctx *c, const cnn_node *x) {
    const reshape_attrs *a = x->attrs;
    int64_t shape[CNN_MAX_RANK] = {0}; /* 0: the batch, copied from the input */
    for (int d = 1; d < a->rank; d++) shape[d] = a->dims[d];
    const char *in[2] = {in_value(c, x, 0), ints_init(c, x, "shape", a->rank, shape)};
    return in[1] && add_node(c, x, "Reshape", 2, in) ? 0 : -1;
}

static int export_clip(export_ctx *c, const cnn_node *x) {
    const clip_attrs *a = x->attrs;
    const char *in[3] = {in_value(c, x, 0), float_init(c, x, "min", a->min), float_init(c, x, "max", a->max)};
    return in[1] && in[2] && add_node(c, x, "Clip", 3, in) ? 0 : -1;
}

/* Layers of two inputs that map one to one (NumPy broadcasting on both sides). */
static int export_binary(export_ctx *c, const cnn_node *x, const char *op) {
    const char *in[2] = {in_value(c, x, 0), in_value(c, x, 1)};
    return add_node(c, x, op, 2, in) ? 0 : -1;
}

static int export_concat(export_ctx *c, const cnn_node *x, int axis) {
    const char **in = arena_alloc(c, (size_t)x->n_inputs * sizeof *in);
    if (!in) return -1;
    for (int i = 0; i < x->n_inputs; i++) in[i] = in_value(c, x, i);
    return attr_int(c, add_node(c, x, "Concat", x->n_inputs, in), "axis", axis);
}

/* One layer as ONNX nodes; the layer's value is recorded in c->value. */
static int export_layer(export_ctx *c, const cnn_node *x) {
    const char *op = x->op->name;
    if (strcmp(op, "conv2d") == 0) return export_conv(c, x);
    if (strcmp(op, "batchnorm") == 0) return export_batchnorm(c, x);
    if (strcmp(op, "dense") == 0) return export_dense(c, x);
    if (strcmp(op, "maxpool2d") == 0 || strcmp(op, "avgpool2d") == 0) return export_pool(c, x);
    if (strcmp(op, "global_avgpool") == 0 || strcmp(op, "adaptive_avgpool") == 0) return export_adaptive_pool(c, x);
    if (strcmp(op, "lrn") == 0) return export_lrn(c, x);
    if (strcmp(op, "scale") == 0) return export_scale(c, x);
    if (strcmp(op, "zero_pad") == 0) return export_zero_pad(c, x);
    if (strcmp(op, "concat") == 0) return export_concat(c, x, 1);
    if (strcmp(op, "concat_axis") == 0) return export_concat(c, x, ((const concat_axis_attrs *)x->attrs)->axis);
    if (strcmp(op, "pad") == 0) return export_pad(c, x);
    if (strcmp(op, "constant") == 0) return export_constant(c, x);
    if (strcmp(op, "reshape") == 0) return export_reshape(c, x);
    if (strcmp(op, "clip") == 0) return export_clip(c, x);
    if (strcmp(op, "add_broadcast") == 0) return export_binary(c, x, "Add");
    if (strcmp(op, "mul") == 0) return export_binary(c, x, "Mul");
    if (strcmp(op, "matmul") == 0) return export_binary(c, x, "MatMul");
    if (strcmp(op, "dropout") == 0) { /* the identity in eval mode: no node */
        c->value[x->id] = in_value(c, x, 0);
        return 0;
    }
    if (strcmp(op, "add") == 0) return export_binary(c, x, "Add");
    if (strcmp(op, "softmax") == 0) {
        const softmax_attrs *a = x->attrs;
        if (a->first != a->last) return layer_fail(c, x, "a softmax over several dims at once has no opset-13 ONNX equivalent");
        return attr_int(c, add_unary(c, x, "Softmax"), "axis", a->first);
    }
    if (strcmp(op, "flatten") == 0) return attr_int(c, add_unary(c, x, "Flatten"), "axis", 1);
    if (strcmp(op, "leaky_relu") == 0) return attr_float(c, add_unary(c, x, "LeakyRelu"), "alpha", ((const act_attrs *)x->attrs)->slope);
    static const char *const plain[][2] = {{"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (strcmp(op, plain[i][0]) == 0) return add_unary(c, x, plain[i][1]) ? 0 : -1;
    return layer_fail(c, x, "this operator has no ONNX export");
}

/* ---- graph inputs and outputs ---- */

/* A float tensor value of the node's shape with the batch as the symbolic dimension "N". */
static Onnx__ValueInfoProto *value_info(export_ctx *c, const cnn_node *x, const char *name) {
    Onnx__ValueInfoProto *v = arena_alloc(c, sizeof *v);
    Onnx__TypeProto *t = arena_alloc(c, sizeof *t);
    Onnx__TypeProto__Tensor *tt = arena_alloc(c, sizeof *tt);
    Onnx__TensorShapeProto *s = arena_alloc(c, sizeof *s);
    Onnx__TensorShapeProto__Dimension **dims = arena_alloc(c, CNN_MAX_RANK * sizeof *dims);
    if (!v || !t || !tt || !s || !dims) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(s);
    for (int d = 0; d < x->shape.rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = arena_alloc(c, sizeof *dim);
        if (!dim) return NULL;
        onnx__tensor_shape_proto__dimension__init(dim);
        if (d == 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = "N";
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = x->shape.dims[d];
        }
        dims[d] = dim;
    }
    s->n_dim = (size_t)x->shape.rank, s->dim = dims;
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = s;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, t->tensor_type = tt;
    v->name = (char *)name, v->type = t;
    return v;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Layer values and initializers share ONNX's one namespace: refuse a file where two would meet
 * (a layer named like another layer's parameter). */
static int check_unique_names(const export_ctx *c, const Onnx__GraphProto *graph) {
    size_t n = graph->n_input + graph->n_node + graph->n_initializer, k = 0;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names) return cnn_fail("%s: out of memory building the ONNX model", c->path);
    for (size_t i = 0; i < graph->n_input; i++) names[k++] = graph->input[i]->name;
    for (size_t i = 0; i < graph->n_node; i++) names[k++] = graph->node[i]->output[0];
    for (size_t i = 0; i < graph->n_initializer; i++) names[k++] = graph->initializer[i]->name;
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            cnn_fail("%s: the name '%s' is both a layer and a parameter; ONNX needs distinct value names", c->path, names[i]);
            free(names);
            return -1;
        }
    free(names);
    return 0;
}

/* Streams the packed model into the file instead of building it in memory. */
typedef struct file_sink {
    ProtobufCBuffer base;
    FILE *f;
} file_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
    file_sink *s = (file_sink *)b;
    if (len) fwrite(data, 1, len, s->f); /* errors are caught by cnn_atomic_commit (ferror) */
}

static int write_model(export_ctx *c, Onnx__GraphProto *graph) {
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[1] = {&opset};
    opset.domain = "", opset.has_version = 1, opset.version = EXPORT_OPSET;
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = 1, m.ir_version = EXPORT_IR_VERSION;
    m.n_opset_import = 1, m.opset_import = opsets;
    m.producer_name = "cnn.c";
    m.graph = graph;
    size_t size = onnx__model_proto__get_packed_size(&m);
    if (size > EXPORT_MAX_BYTES)
        return cnn_fail("%s: the model needs %zu bytes, beyond the 2 GiB protobuf allows an ONNX file", c->path, size);
    cnn_atomic_file a;
    if (cnn_atomic_begin(&a, c->path)) return -1;
    file_sink sink = {.base = {.append = sink_append}, .f = a.f};
    onnx__model_proto__pack_to_buffer(&m, &sink.base);
    return cnn_atomic_commit(&a);
}

static int export_graph(export_ctx *c) {
    const cnn_graph *g = c->g;
    bool *used = cnn_graph_eval_nodes(g);
    c->value = cnn_calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *c->value, "ONNX value names");
    if (!used || !c->value) {
        free(used);
        return -1;
    }
    int rc = -1;
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "cnn";
    graph.input = arena_alloc(c, (size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof *graph.input);
    graph.output = arena_alloc(c, (size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof *graph.output);
    if (!graph.input || !graph.output) goto done;
    for (int i = 0; i < g->n_inputs; i++) {
        const cnn_node *x = g->inputs[i];
        c->value[x->id] = x->name;
        if (!(graph.input[graph.n_input++] = value_info(c, x, x->name))) goto done;
    }
    for (int64_t i = 0; i < g->n_nodes; i++) {
        const cnn_node *x = g->nodes[i];
        if (!used[i] || x->input_index >= 0) continue;
        if (export_layer(c, x)) goto done;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        const cnn_node *x = g->outputs[i];
        if (g->output_flags[i] & CNN_OUTPUT_TRAIN_ONLY) continue;
        /* An output whose layer made no node of its own (dropout) gets an Identity of its name. */
        if (strcmp(c->value[x->id], x->name) != 0) {
            const char *in = c->value[x->id];
            if (!add_node(c, x, "Identity", 1, &in)) goto done;
        }
        if (!(graph.output[graph.n_output++] = value_info(c, x, x->name))) goto done;
    }
    if (graph.n_output == 0) {
        cnn_fail("%s: the graph has no eval-mode outputs to export", c->path);
        goto done;
    }
    graph.node = arena_alloc(c, (c->n_nodes ? c->n_nodes : 1) * sizeof *graph.node);
    graph.initializer = arena_alloc(c, (c->n_inits ? c->n_inits : 1) * sizeof *graph.initializer);
    if (!graph.node || !graph.initializer) goto done;
    for (; graph.n_node < c->n_nodes; graph.n_node++) graph.node[graph.n_node] = c->nodes[graph.n_node];
    for (; graph.n_initializer < c->n_inits; graph.n_initializer++) graph.initializer[graph.n_initializer] = c->inits[graph.n_initializer];
    if (check_unique_names(c, &graph)) goto done;
    rc = write_model(c, &graph);
done:
    free(used);
    return rc;
}

int cnn_onnx_save(const cnn_graph *g, const char *path) {
    if (!g || !path) return cnn_fail("cnn_onnx_save: %s is NULL", g ? "path" : "graph");
    export_ctx c = {.g = g, .path = path};
    int rc = export_graph(&c);
    free(c.nodes);
    free(c.inits);
    free(c.value);
    arena_free(&c);
    return rc;
}
