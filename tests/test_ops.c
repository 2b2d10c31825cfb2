/* test_ops.c — every op against PyTorch fixtures (tests/ref/ops_*.py), plus a finite-difference
 * gradient check of each. Usage: test_ops FIXTURE_DIR [CASE_SUBSTRING] */
#include "cnn.h"
#include "harness.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    char path[1024];
    char name[256];
    cnn_safetensors *file;
    const char *op;
    cJSON *attrs;
    bool train, fd, compare;
    double tol, fd_eps;
} fixture;

/* ---- reading fixtures ---- */

static double jnum(const cJSON *attrs, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1 : 0;
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* An integer list attribute (at most CNN_MAX_RANK values) into out; returns its length. */
static int jints(const cJSON *attrs, const char *key, int64_t out[CNN_MAX_RANK]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) if (n < CNN_MAX_RANK && cJSON_IsNumber(e)) out[n++] = (int64_t)e->valuedouble;
    return n;
}

/* A list of three integers (D, H, W) into out, each missing one `fallback`. */
static void jint3(const cJSON *attrs, const char *key, int out[3], int fallback) {
    int64_t v[CNN_MAX_RANK];
    int n = jints(attrs, key, v);
    for (int d = 0; d < 3; d++) out[d] = d < n ? (int)v[d] : fallback;
}

/* "same" / "valid" / a number */
static int jpadding(const cJSON *attrs) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, "padding");
    if (cJSON_IsString(v)) return strcmp(v->valuestring, "same") == 0 ? CNN_PAD_SAME : CNN_PAD_VALID;
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* A fixture tensor as a malloc'd float array. */
static float *fixture_floats(const fixture *fx, const char *name, cnn_st_tensor *info) {
    cnn_st_tensor t;
    if (cnn_safetensors_find(fx->file, name, &t)) return NULL;
    float *out = malloc((size_t)(t.numel ? t.numel : 1) * sizeof(float));
    if (out && cnn_st_tensor_to_f32(&t, out, t.numel)) {
        free(out);
        return NULL;
    }
    if (info) *info = t;
    return out;
}

static bool fixture_has(const fixture *fx, const char *name) {
    cnn_st_tensor t;
    bool ok = cnn_safetensors_find(fx->file, name, &t) == 0;
    cnn_clear_error();
    return ok;
}

static int fixture_inputs(const fixture *fx) {
    int n = 0;
    char name[16];
    for (;; n++) {
        snprintf(name, sizeof name, "x%d", n);
        if (!fixture_has(fx, name)) return n;
    }
}

/* ---- building the one-op graph ---- */

static cnn_node *build_op(cnn_graph *g, const fixture *fx, int n, cnn_node **xs) {
    const char *op = fx->op;
    const cJSON *a = fx->attrs;
    const char *name = "layer";
    if (strcmp(op, "conv2d") == 0) {
        cnn_conv2d_params p = {
            .out_channels = (int64_t)jnum(a, "out_channels", 1),
            .kernel_h = (int)jnum(a, "kernel_h", 1), .kernel_w = (int)jnum(a, "kernel_w", 1),
            .stride_h = (int)jnum(a, "stride_h", 1), .stride_w = (int)jnum(a, "stride_w", 1),
            .dilation_h = (int)jnum(a, "dilation_h", 1), .dilation_w = (int)jnum(a, "dilation_w", 1),
            .groups = (int64_t)jnum(a, "groups", 1), .padding = jpadding(a),
            .pad_top = (int)jnum(a, "pad_top", jnum(a, "padding", 0)), .pad_bottom = (int)jnum(a, "pad_bottom", jnum(a, "padding", 0)),
            .pad_left = (int)jnum(a, "pad_left", jnum(a, "padding", 0)), .pad_right = (int)jnum(a, "pad_right", jnum(a, "padding", 0)),
            .bias = jnum(a, "bias", 1) != 0,
        };
        return cnn_conv2d_ex(g, xs[0], name, &p);
    }
    if (strcmp(op, "maxpool2d") == 0 || strcmp(op, "avgpool2d") == 0) {
        cnn_pool2d_params p = {
            .kernel_h = (int)jnum(a, "kernel_h", 1), .kernel_w = (int)jnum(a, "kernel_w", 1),
            .stride_h = (int)jnum(a, "stride_h", 0), .stride_w = (int)jnum(a, "stride_w", 0), .padding = jpadding(a),
            .pad_top = (int)jnum(a, "pad_top", jnum(a, "padding", 0)), .pad_bottom = (int)jnum(a, "pad_bottom", jnum(a, "padding", 0)),
            .pad_left = (int)jnum(a, "pad_left", jnum(a, "padding", 0)), .pad_right = (int)jnum(a, "pad_right", jnum(a, "padding", 0)),
            .ceil_mode = jnum(a, "ceil_mode", 0) != 0, .count_include_pad = jnum(a, "count_include_pad", 1) != 0,
            .dilation_h = (int)jnum(a, "dilation_h", 1), .dilation_w = (int)jnum(a, "dilation_w", 1),
        };
        return op[0] == 'm' ? cnn_maxpool2d_ex(g, xs[0], name, &p) : cnn_avgpool2d_ex(g, xs[0], name, &p);
    }
    if (strcmp(op, "conv3d") == 0) {
        cnn_conv3d_params p = {.out_channels = (int64_t)jnum(a, "out_channels", 1), .groups = (int64_t)jnum(a, "groups", 1),
                               .bias = jnum(a, "bias", 1) != 0};
        jint3(a, "kernel", p.kernel, 1), jint3(a, "stride", p.stride, 1), jint3(a, "dilation", p.dilation, 1);
        jint3(a, "pad_before", p.pad_before, 0), jint3(a, "pad_after", p.pad_after, 0);
        return cnn_conv3d_ex(g, xs[0], name, &p);
    }
    if (strcmp(op, "maxpool3d") == 0 || strcmp(op, "avgpool3d") == 0) {
        cnn_pool3d_params p = {.ceil_mode = jnum(a, "ceil_mode", 0) != 0, .count_include_pad = jnum(a, "count_include_pad", 1) != 0,
                               .large_pads = jnum(a, "large_pads", 0) != 0};
        jint3(a, "kernel", p.kernel, 1), jint3(a, "stride", p.stride, 0), jint3(a, "dilation", p.dilation, 1);
        jint3(a, "pad_before", p.pad_before, 0), jint3(a, "pad_after", p.pad_after, 0);
        return op[0] == 'm' ? cnn_maxpool3d_ex(g, xs[0], name, &p) : cnn_avgpool3d_ex(g, xs[0], name, &p);
    }
    if (strcmp(op, "batchnorm") == 0)
        return cnn_batchnorm(g, xs[0], name, (float)jnum(a, "eps", 1e-5), (float)jnum(a, "momentum", 0.1));
    if (strcmp(op, "relu") == 0) return cnn_relu(g, xs[0], name);
    if (strcmp(op, "leaky_relu") == 0) return cnn_leaky_relu(g, xs[0], name, (float)jnum(a, "negative_slope", 0.01));
    if (strcmp(op, "sigmoid") == 0) return cnn_sigmoid(g, xs[0], name);
    if (strcmp(op, "tanh") == 0) return cnn_tanh(g, xs[0], name);
    if (strcmp(op, "softmax") == 0) return cnn_softmax(g, xs[0], name);
    if (strcmp(op, "global_avgpool") == 0) return cnn_global_avgpool(g, xs[0], name);
    if (strcmp(op, "adaptive_avgpool") == 0)
        return cnn_adaptive_avgpool(g, xs[0], name, (int64_t)jnum(a, "out_h", 1), (int64_t)jnum(a, "out_w", 1));
    if (strcmp(op, "lrn") == 0)
        return cnn_lrn(g, xs[0], name, (int)jnum(a, "size", 5), (float)jnum(a, "alpha", 1e-4), (float)jnum(a, "beta", 0.75),
                       (float)jnum(a, "k", 1.0));
    if (strcmp(op, "dropout") == 0) return cnn_dropout(g, xs[0], name, (float)jnum(a, "p", 0.5));
    if (strcmp(op, "dense") == 0) return cnn_dense(g, xs[0], name, (int64_t)jnum(a, "out_features", 1), jnum(a, "bias", 1) != 0);
    if (strcmp(op, "flatten") == 0) return cnn_flatten(g, xs[0], name);
    if (strcmp(op, "concat") == 0) return cnn_concat(g, n, xs, name);
    if (strcmp(op, "add") == 0) return cnn_add(g, xs[0], xs[1], name);
    if (strcmp(op, "scale") == 0) return cnn_scale(g, xs[0], name, (float)jnum(a, "factor", 1.0));
    if (strcmp(op, "zero_pad") == 0)
        return cnn_zero_pad(g, xs[0], name, (int)jnum(a, "top", 0), (int)jnum(a, "bottom", 0), (int)jnum(a, "left", 0),
                            (int)jnum(a, "right", 0));
    if (strcmp(op, "clip") == 0) return cnn_clip(g, xs[0], name, (float)jnum(a, "min", 0), (float)jnum(a, "max", 0));
    if (strcmp(op, "softmax_dims") == 0) return cnn_softmax_dims(g, xs[0], name, (int)jnum(a, "first", 1), (int)jnum(a, "last", 1));
    if (strcmp(op, "global_maxpool") == 0) return cnn_global_maxpool(g, xs[0], name);
    if (strcmp(op, "lrn_window") == 0)
        return cnn_lrn_window(g, xs[0], name, (int)jnum(a, "size", 5), (int)jnum(a, "before", 2), (float)jnum(a, "alpha", 1e-4),
                              (float)jnum(a, "beta", 0.75), (float)jnum(a, "k", 1.0));
    int64_t dims[CNN_MAX_RANK] = {0}, after[CNN_MAX_RANK] = {0};
    int rank = jints(a, "dims", dims);
    if (strcmp(op, "reshape") == 0) return cnn_reshape(g, xs[0], name, rank, dims);
    if (strcmp(op, "mul_const") == 0) return cnn_mul(g, xs[0], cnn_constant(g, name, rank, dims, true), "mul");
    if (strcmp(op, "concat_axis") == 0) return cnn_concat_axis(g, n, xs, (int)jnum(a, "axis", 1), name);
    if (strcmp(op, "pad") == 0) {
        jints(a, "before", dims);
        jints(a, "after", after);
        return cnn_pad(g, xs[0], name, (cnn_pad_mode)jnum(a, "mode", 0), dims, after, (float)jnum(a, "value", 0));
    }
    if (strcmp(op, "add_broadcast") == 0) return cnn_add_broadcast(g, xs[0], xs[1], name);
    if (strcmp(op, "mul") == 0) return cnn_mul(g, xs[0], xs[1], name);
    if (strcmp(op, "matmul") == 0) return cnn_matmul(g, xs[0], xs[1], name);
    if (strcmp(op, "transpose") == 0) {
        int perm[CNN_MAX_RANK];
        int count = jints(a, "perm", dims);
        for (int d = 0; d < count; d++) perm[d] = (int)dims[d];
        return cnn_transpose(g, xs[0], name, count, perm);
    }
    fprintf(stderr, "test_ops: fixture op '%s' unknown to build_op\n", op);
    return NULL;
}

/* Builds inputs (a rank-2 fixture input becomes (F,1,1) + flatten), the op, and loads parameters. */
static cnn_graph *build_graph(const fixture *fx, cnn_node **layer_out) {
    cnn_graph *g = cnn_graph_create();
    int n = fixture_inputs(fx);
    cnn_node *xs[64];
    if (!g || n < 1 || n > 64) return NULL;
    for (int i = 0; i < n; i++) {
        char name[16];
        cnn_st_tensor t;
        snprintf(name, sizeof name, "x%d", i);
        cnn_safetensors_find(fx->file, name, &t);
        if (t.rank == 4) {
            xs[i] = cnn_input(g, name, t.shape[1], t.shape[2], t.shape[3]);
        } else if (t.rank != 2) {
            xs[i] = cnn_input_nd(g, name, t.rank, t.shape);
        } else {
            char flat[32];
            snprintf(flat, sizeof flat, "flat%d", i);
            xs[i] = cnn_flatten(g, cnn_input(g, name, t.shape[1], 1, 1), flat);
        }
    }
    cnn_node *layer = build_op(g, fx, n, xs);
    if (!layer || cnn_graph_add_output(g, layer, 0)) {
        cnn_graph_free(g);
        return NULL;
    }
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        const char *suffix = strncmp(p.name, "layer.", 6) == 0 ? p.name + 6 : p.name;
        cnn_st_tensor t;
        if (cnn_safetensors_find(fx->file, suffix, &t) || cnn_st_tensor_to_f32(&t, p.data, p.numel)) {
            cnn_graph_free(g);
            return NULL;
        }
    }
    *layer_out = layer;
    return g;
}

/* Copies fixture inputs x0.. into the plan's inputs. */
static int set_inputs(const fixture *fx, cnn_plan *p, int n) {
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        float *x = fixture_floats(fx, name, NULL);
        if (!x) return -1;
        cnn_tensor *t = cnn_plan_input(p, i);
        memcpy(t->data, x, (size_t)cnn_tensor_numel(t) * sizeof(float));
        free(x);
    }
    return 0;
}

/* Our tensor against the fixture tensor `name`: same shape first, then values. */
static int compare_tensor(const fixture *fx, const char *name, const cnn_tensor *got, double tol);

static int compare(const char *what, const float *got, const float *ref, long long n, double tol) {
    double max_ref, err = harness_max_abs_diff(got, ref, n, &max_ref);
    double limit = tol * (max_ref > 1 ? max_ref : 1);
    CHECK(err <= limit, "%s differs from PyTorch: max abs error %.3g > %.3g (max |ref| %.3g)", what, err, limit, max_ref);
    return 0;
}

static int compare_tensor(const fixture *fx, const char *name, const cnn_tensor *got, double tol) {
    cnn_st_tensor info;
    float *ref = fixture_floats(fx, name, &info);
    CHECK(ref, "fixture lacks %s", name);
    bool same = info.rank == got->rank;
    for (int d = 0; same && d < got->rank; d++) same = info.shape[d] == got->shape[d];
    if (!same) {
        free(ref);
        CHECK(0, "%s: shape (%lld,%lld,%lld,%lld) rank %d, PyTorch's rank %d (%lld,%lld,...)", name, (long long)got->shape[0],
              (long long)got->shape[1], (long long)got->shape[2], (long long)got->shape[3], got->rank, info.rank,
              (long long)info.shape[0], (long long)(info.rank > 1 ? info.shape[1] : 1));
    }
    int bad = compare(name, got->data, ref, cnn_tensor_numel(got), tol);
    free(ref);
    return bad;
}

/* ---- the cross-entropy loss is not a graph op: its own path ---- */

static int run_cross_entropy(const fixture *fx, bool gradcheck) {
    cnn_st_tensor info;
    float *x = fixture_floats(fx, "x0", &info), *labels_f = fixture_floats(fx, "labels", NULL);
    float *y = fixture_floats(fx, "y", NULL), *dy = fixture_floats(fx, "dy", NULL), *dx = fixture_floats(fx, "dx0", NULL);
    if (!(x && labels_f && y && dy && dx)) {
        harness_message(__FILE__, __LINE__, "fixture incomplete: %s", cnn_last_error());
        free(x), free(labels_f), free(y), free(dy), free(dx);
        return -1;
    }
    int64_t n = info.shape[0], k = info.shape[1];
    int64_t *labels = malloc((size_t)n * sizeof *labels);
    float *grad = malloc((size_t)(n * k) * sizeof *grad);
    for (int64_t i = 0; i < n; i++) labels[i] = (int64_t)labels_f[i];
    cnn_tensor logits = {.data = x, .rank = 2, .shape = {n, k, 1, 1}, .stride = {k, 1, 1, 1}};
    cnn_tensor dlogits = logits;
    dlogits.data = grad;
    float eps = (float)jnum(fx->attrs, "label_smoothing", 0), loss;
    int rc = cnn_softmax_cross_entropy(&logits, labels, eps, &loss, &dlogits, dy[0]);
    int result = -1;
    if (rc) {
        harness_message(__FILE__, __LINE__, "cnn_softmax_cross_entropy failed: %s", cnn_last_error());
    } else if (!gradcheck) {
        result = compare("loss", &loss, y, 1, fx->tol) || compare("dlogits", grad, dx, n * k, fx->tol) ? -1 : 0;
    } else {
        result = 0;
        for (int64_t i = 0; i < n * k && result == 0; i += (n * k) / 7 + 1) {
            float keep = x[i], lp, lm;
            x[i] = keep + (float)fx->fd_eps;
            cnn_softmax_cross_entropy(&logits, labels, eps, &lp, NULL, 1);
            x[i] = keep - (float)fx->fd_eps;
            cnn_softmax_cross_entropy(&logits, labels, eps, &lm, NULL, 1);
            x[i] = keep;
            double num = dy[0] * ((double)lp - lm) / (2 * fx->fd_eps);
            if (fabs(num - grad[i]) > 1e-2 * fmax(1.0, fabs(grad[i])) + 1e-3) {
                harness_message(__FILE__, __LINE__, "dlogits[%lld]: analytic %.6g, numeric %.6g", (long long)i, grad[i], num);
                result = -1;
            }
        }
    }
    free(x), free(labels_f), free(y), free(dy), free(dx), free(labels), free(grad);
    return result;
}

/* ---- parity with PyTorch ---- */

static int run_parity(void *arg) {
    const fixture *fx = arg;
    if (strcmp(fx->op, "cross_entropy") == 0) return run_cross_entropy(fx, false);
    cnn_node *layer;
    cnn_graph *g = build_graph(fx, &layer);
    CHECK(g, "building '%s': %s", fx->op, cnn_last_error());
    int n = fixture_inputs(fx), result = -1;
    cnn_st_tensor xinfo;
    cnn_safetensors_find(fx->file, "x0", &xinfo);
    cnn_plan *p = cnn_plan_create(g, xinfo.shape[0], fx->train ? CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD : 0);
    float *y = fixture_floats(fx, "y", NULL), *dy = fixture_floats(fx, "dy", NULL);
    if (!p || !y || !dy) {
        harness_message(__FILE__, __LINE__, "setup: %s", cnn_last_error());
        goto done;
    }
    cnn_plan_set_seed(p, 1, 0);
    if (set_inputs(fx, p, n) || cnn_plan_forward(p)) {
        harness_message(__FILE__, __LINE__, "forward: %s", cnn_last_error());
        goto done;
    }
    const cnn_tensor *out = cnn_plan_output(p, 0);
    if (compare_tensor(fx, "y", out, fx->tol)) goto done;
    cnn_st_tensor dy_info;
    cnn_safetensors_find(fx->file, "dy", &dy_info);
    if (dy_info.numel != cnn_tensor_numel(out)) {
        harness_message(__FILE__, __LINE__, "output has %lld elements, PyTorch's %lld", (long long)cnn_tensor_numel(out),
                        (long long)dy_info.numel);
        goto done;
    }
    if (fx->train) {
        cnn_tensor *dout = cnn_plan_output_grad(p, 0);
        memcpy(dout->data, dy, (size_t)cnn_tensor_numel(dout) * sizeof(float));
        if (cnn_plan_backward(p)) {
            harness_message(__FILE__, __LINE__, "backward: %s", cnn_last_error());
            goto done;
        }
        for (int i = 0; i < n; i++) {
            char name[16];
            snprintf(name, sizeof name, "dx%d", i);
            /* A rank-2 fixture input was built as (F,1,1) + flatten: compare as (N,F). */
            cnn_tensor got = *cnn_plan_input_grad(p, i);
            cnn_st_tensor xi;
            char xname[16];
            snprintf(xname, sizeof xname, "x%d", i);
            cnn_safetensors_find(fx->file, xname, &xi);
            if (xi.rank == 2) got.rank = 2;
            if (compare_tensor(fx, name, &got, fx->tol)) goto done;
        }
        for (int64_t i = 0; i < cnn_param_count(g); i++) {
            cnn_param prm;
            cnn_param_get(g, i, &prm);
            char name[300];
            const char *suffix = prm.name + 6;
            snprintf(name, sizeof name, prm.trainable ? "grad.%s" : "after.%s", suffix);
            cnn_st_tensor info;
            float *ref = fixture_floats(fx, name, &info);
            if (!ref || info.numel != prm.numel) {
                harness_message(__FILE__, __LINE__, "fixture lacks %s or its size differs", name);
                free(ref);
                goto done;
            }
            int bad = compare(name, prm.trainable ? prm.grad : prm.data, ref, prm.numel, fx->tol);
            free(ref);
            if (bad) goto done;
        }
    }
    result = 0;
done:
    free(y);
    free(dy);
    cnn_plan_free(p);
    cnn_graph_free(g);
    return result;
}

/* ---- finite differences: L = sum(y * dy); dL/dv numerically vs the analytic gradient ---- */

static double loss_of(cnn_plan *p, const float *dy) {
    cnn_plan_set_seed(p, 1, 0);
    if (cnn_plan_forward(p)) return NAN;
    const cnn_tensor *y = cnn_plan_output(p, 0);
    double l = 0;
    for (int64_t i = 0; i < cnn_tensor_numel(y); i++) l += (double)y->data[i] * dy[i];
    return l;
}

static int check_coordinates(const char *what, float *values, const float *analytic, int64_t count, cnn_plan *p,
                             const float *dy, double eps) {
    int64_t step = count / 12 + 1;
    for (int64_t i = (count * 7) % step; i < count; i += step) {
        float keep = values[i];
        values[i] = keep + (float)eps;
        double lp = loss_of(p, dy);
        values[i] = keep - (float)eps;
        double lm = loss_of(p, dy);
        values[i] = keep;
        double numeric = (lp - lm) / (2 * eps), a = analytic[i];
        CHECK(fabs(numeric - a) <= 2e-2 * fmax(1.0, fabs(a)) + 2e-3, "%s[%lld]: analytic %.6g, numeric %.6g", what,
              (long long)i, a, numeric);
    }
    return 0;
}

static int run_gradcheck(void *arg) {
    const fixture *fx = arg;
    if (strcmp(fx->op, "cross_entropy") == 0) return run_cross_entropy(fx, true);
    cnn_node *layer;
    cnn_graph *g = build_graph(fx, &layer);
    CHECK(g, "building '%s': %s", fx->op, cnn_last_error());
    int n = fixture_inputs(fx), result = -1;
    cnn_st_tensor xinfo;
    cnn_safetensors_find(fx->file, "x0", &xinfo);
    cnn_plan *p = cnn_plan_create(g, xinfo.shape[0], CNN_PLAN_TRAIN | CNN_PLAN_INPUT_GRAD);
    float *dy = fixture_floats(fx, "dy", NULL);
    float *grads = NULL;
    if (!p || !dy || set_inputs(fx, p, n)) {
        harness_message(__FILE__, __LINE__, "setup: %s", cnn_last_error());
        goto done;
    }
    cnn_st_tensor dy_info;
    cnn_safetensors_find(fx->file, "dy", &dy_info);
    if (dy_info.numel != cnn_tensor_numel(cnn_plan_output(p, 0))) {
        harness_message(__FILE__, __LINE__, "output size differs from PyTorch's");
        goto done;
    }
    cnn_graph_zero_grad(g);
    if (isnan(loss_of(p, dy))) goto done;
    cnn_tensor *dout = cnn_plan_output_grad(p, 0);
    memcpy(dout->data, dy, (size_t)cnn_tensor_numel(dout) * sizeof(float));
    if (cnn_plan_backward(p)) goto done;
    int64_t count;
    float *flat = cnn_graph_grads(g, &count);
    grads = malloc((size_t)(count ? count : 1) * sizeof(float));
    memcpy(grads, flat, (size_t)count * sizeof(float));
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        const cnn_tensor *dx = cnn_plan_input_grad(p, i);
        int64_t m = cnn_tensor_numel(dx);
        float *analytic = malloc((size_t)m * sizeof(float));
        memcpy(analytic, dx->data, (size_t)m * sizeof(float));
        int bad = check_coordinates(name, cnn_plan_input(p, i)->data, analytic, m, p, dy, fx->fd_eps);
        free(analytic);
        if (bad) goto done;
    }
    float *params = cnn_graph_params(g, NULL);
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param prm;
        cnn_param_get(g, i, &prm);
        if (!prm.trainable) continue;
        if (check_coordinates(prm.name, prm.data, grads + (prm.data - params), prm.numel, p, dy, fx->fd_eps)) goto done;
    }
    result = 0;
done:
    free(dy);
    free(grads);
    cnn_plan_free(p);
    cnn_graph_free(g);
    return result;
}

static int load_fixture(fixture *fx, const char *dir, const char *file) {
    snprintf(fx->path, sizeof fx->path, "%s/%s", dir, file);
    snprintf(fx->name, sizeof fx->name, "%.*s", (int)(strlen(file) - strlen(".safetensors")), file);
    fx->file = cnn_safetensors_read(fx->path);
    if (!fx->file) return -1;
    fx->op = cnn_safetensors_metadata(fx->file, "op");
    const char *attrs = cnn_safetensors_metadata(fx->file, "attrs");
    const char *train = cnn_safetensors_metadata(fx->file, "train"), *fd = cnn_safetensors_metadata(fx->file, "fd");
    const char *tol = cnn_safetensors_metadata(fx->file, "tol"), *eps = cnn_safetensors_metadata(fx->file, "fd_eps");
    const char *cmp = cnn_safetensors_metadata(fx->file, "compare");
    if (!fx->op || !attrs || !train || !fd || !tol || !eps) return -1;
    fx->attrs = cJSON_Parse(attrs);
    fx->train = strcmp(train, "1") == 0;
    fx->fd = strcmp(fd, "1") == 0;
    fx->compare = !cmp || strcmp(cmp, "1") == 0;
    fx->tol = atof(tol);
    fx->fd_eps = atof(eps);
    return fx->attrs ? 0 : -1;
}

static int fixture_unreadable(void *arg) {
    (void)arg;
    CHECK(0, "%s", cnn_last_error());
    return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_ops FIXTURE_DIR [CASE_SUBSTRING]\n");
        return 2;
    }
    cnn_set_threads(argc > 3 ? atoi(argv[3]) : 0);
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "test_ops: cannot open %s\n", argv[1]);
        return 2;
    }
    char *names[4096];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < 4096)
        if (strstr(e->d_name, ".safetensors") && (argc < 3 || strstr(e->d_name, argv[2]))) names[count++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, compare_names);
    for (int i = 0; i < count; i++) {
        fixture fx = {0};
        char label[300];
        if (load_fixture(&fx, argv[1], names[i])) {
            snprintf(label, sizeof label, "%s: reading the fixture", names[i]);
            harness_case(label, fixture_unreadable, NULL);
        } else {
            /* compare=0 (train-mode dropout): PyTorch's random mask differs from ours, so only the
             * finite differences and tests/test_dropout.c judge it. */
            snprintf(label, sizeof label, "%s: forward/backward vs PyTorch", fx.name);
            if (fx.compare) harness_case(label, run_parity, &fx);
            if (fx.train && fx.fd) {
                snprintf(label, sizeof label, "%s: finite-difference gradients", fx.name);
                harness_case(label, run_gradcheck, &fx);
            }
        }
        cJSON_Delete(fx.attrs);
        cnn_safetensors_free(fx.file);
        free(names[i]);
    }
    return harness_finish();
}
