/* test_models.c — whole networks against PyTorch: eval-mode logits, and where the fixture has them
 * train-mode logits, loss, every parameter gradient and the running statistics; parameter counts.
 * Usage: test_models REF_DIR [NAME_SUBSTRING]: reads REF_DIR/{models,zoo}/CASE.data.safetensors
 * (tests/ref/gen_models.py, gen_zoo.py), each naming its weights file in its metadata. */
#include "cnn.h"
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct model_case {
    char dir[1024], name[256];
} model_case;

static bool asan_build(void) {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return false;
#endif
}

static float *floats(cnn_safetensors *f, const char *name, int64_t *count) {
    cnn_st_tensor t;
    if (cnn_safetensors_find(f, name, &t)) return NULL;
    float *out = malloc((size_t)(t.numel ? t.numel : 1) * sizeof(float));
    if (out && cnn_st_tensor_to_f32(&t, out, t.numel)) {
        free(out);
        return NULL;
    }
    if (count) *count = t.numel;
    return out;
}

/* |got - ref| <= tol * max|ref| + atol, over the whole tensor */
static int compare(const char *what, const float *got, const float *ref, int64_t n, double tol, double atol) {
    double max_ref, err = harness_max_abs_diff(got, ref, n, &max_ref);
    CHECK(err <= tol * max_ref + atol, "%s differs from PyTorch: max abs error %.3g, max |ref| %.3g", what, err, max_ref);
    return 0;
}

/* The case's data file: CASE.data.safetensors (input, references, metadata). */
static cnn_safetensors *open_case(const model_case *mc) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.data.safetensors", mc->dir, mc->name);
    return cnn_safetensors_read(path);
}

static cnn_graph *build(const model_case *mc, cnn_safetensors *data, bool load) {
    const char *model = cnn_safetensors_metadata(data, "model"), *input = cnn_safetensors_metadata(data, "input");
    const char *classes = cnn_safetensors_metadata(data, "classes"), *weights = cnn_safetensors_metadata(data, "weights");
    const char *aux = cnn_safetensors_metadata(data, "aux"), *variant = cnn_safetensors_metadata(data, "variant");
    cnn_model_options o = {.aux = aux ? atoi(aux) : -1, .variant = variant && variant[0] ? variant : NULL};
    long long c, h, w;
    if (!model || !input || !classes || !weights || sscanf(input, "%lldx%lldx%lld", &c, &h, &w) != 3) {
        harness_message(__FILE__, __LINE__, "fixture metadata incomplete (model, input, classes, weights)");
        return NULL;
    }
    o.channels = c, o.height = h, o.width = w;
    o.classes = atoll(classes);
    cnn_graph *g = cnn_model_build(model, &o);
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", mc->dir, weights);
    if (g && load && cnn_graph_load_weights(g, path)) {
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

static int set_input(cnn_plan *p, const float *x) {
    cnn_tensor *t = cnn_plan_input(p, 0);
    memcpy(t->data, x, (size_t)cnn_tensor_numel(t) * sizeof(float));
    return 0;
}

static int run_eval(void *arg) {
    const model_case *mc = arg;
    cnn_safetensors *data = open_case(mc);
    CHECK(data, "%s", cnn_last_error());
    cnn_graph *g = build(mc, data, true);
    int64_t nx, ny;
    float *x = floats(data, "x", &nx), *y = floats(data, "eval_logits", &ny);
    cnn_plan *p = g && x && y ? cnn_plan_create(g, ny / (int64_t)atoll(cnn_safetensors_metadata(data, "classes")), 0) : NULL;
    int rc = -1;
    if (!p || set_input(p, x) || cnn_plan_forward(p))
        harness_message(__FILE__, __LINE__, "%s", cnn_last_error());
    else
        rc = compare("eval logits", cnn_plan_output(p, 0)->data, y, ny, 1e-4, 1e-5);
    cnn_plan_free(p);
    cnn_graph_free(g);
    free(x);
    free(y);
    cnn_safetensors_free(data);
    return rc;
}

static int run_train(void *arg) {
    const model_case *mc = arg;
    cnn_safetensors *data = open_case(mc);
    CHECK(data, "%s", cnn_last_error());
    cnn_graph *g = build(mc, data, true);
    int64_t nx, ny, nl;
    float *x = floats(data, "x", &nx), *y = floats(data, "train_logits", &ny), *lab = floats(data, "labels", &nl);
    float *loss_ref = floats(data, "loss", NULL);
    cnn_plan *p = g && x && y && lab && loss_ref ? cnn_plan_create(g, nl, CNN_PLAN_TRAIN | CNN_PLAN_NO_DROPOUT) : NULL;
    int64_t *labels = malloc((size_t)nl * sizeof *labels);
    int rc = -1;
    for (int64_t i = 0; i < nl && lab; i++) labels[i] = (int64_t)lab[i];
    float loss;
    if (!p || set_input(p, x) || cnn_plan_forward(p) ||
        cnn_softmax_cross_entropy(cnn_plan_output(p, 0), labels, 0.0f, &loss, cnn_plan_output_grad(p, 0), 1.0f) ||
        cnn_plan_backward(p)) {
        harness_message(__FILE__, __LINE__, "%s", cnn_last_error());
        goto done;
    }
    if (compare("train logits", cnn_plan_output(p, 0)->data, y, ny, 1e-4, 1e-5) || compare("loss", &loss, loss_ref, 1, 1e-5, 0))
        goto done;
    /* A gradient that is zero in exact arithmetic (a conv bias right before BatchNorm) is float
     * noise in both frameworks: the absolute tolerance is relative to the model's largest gradient. */
    double grad_scale = 0;
    /* The fixture's grad_tol: 3x PyTorch's own sensitivity to float-level weight perturbations
     * (tests/ref/gen_models.py), at least 2e-3. */
    const char *tol_text = cnn_safetensors_metadata(data, "grad_tol");
    const double grad_tol = tol_text ? atof(tol_text) : 0.0;
    if (!(grad_tol > 0)) {
        harness_message(__FILE__, __LINE__, "fixture lacks grad_tol");
        goto done;
    }
    for (int pass = 0; pass < 2; pass++)
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param prm;
        cnn_param_get(g, i, &prm);
        char name[600];
        snprintf(name, sizeof name, prm.trainable ? "grad.%s" : "after.%s", prm.name);
        float *ref = floats(data, name, NULL);
        if (!ref) {
            harness_message(__FILE__, __LINE__, "fixture lacks %s", name);
            goto done;
        }
        if (pass == 0) {
            for (int64_t j = 0; prm.trainable && j < prm.numel; j++) grad_scale = fmax(grad_scale, fabs(ref[j]));
            free(ref);
            continue;
        }
        int bad = prm.trainable ? compare(name, prm.grad, ref, prm.numel, grad_tol, 1e-5 * grad_scale)
                                : compare(name, prm.data, ref, prm.numel, 1e-4, 1e-6);
        free(ref);
        if (bad) goto done;
    }
    rc = 0;
done:
    cnn_plan_free(p);
    cnn_graph_free(g);
    free(x), free(y), free(lab), free(loss_ref), free(labels);
    cnn_safetensors_free(data);
    return rc;
}

/* The fixture's counts come from PyTorch: trainable = sum of parameters(), total adds buffers. */
static int param_count(void *arg) {
    const model_case *mc = arg;
    cnn_safetensors *data = open_case(mc);
    CHECK(data, "%s", cnn_last_error());
    const char *t_text = cnn_safetensors_metadata(data, "trainable_params");
    const char *a_text = cnn_safetensors_metadata(data, "total_params");
    long long want_trainable = t_text ? atoll(t_text) : -1, want_total = a_text ? atoll(a_text) : -1;
    cnn_graph *g = t_text && a_text ? build(mc, data, false) : NULL;
    cnn_safetensors_free(data);
    CHECK(g, "building: %s", cnn_last_error());
    long long total = 0, trainable = 0;
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        total += p.numel;
        if (p.trainable) trainable += p.numel;
    }
    cnn_graph_free(g);
    CHECK(trainable == want_trainable && total == want_total, "trainable %lld (PyTorch %lld), total %lld (PyTorch %lld)",
          trainable, want_trainable, total, want_total);
    return 0;
}

/* Keras's model.summary() for seed 000's MiniGoogLeNet: 1,656,250 total, 1,652,826 trainable. */
static int minigooglenet_param_count(void *arg) {
    (void)arg;
    cnn_graph *g = cnn_model_build("minigooglenet", NULL);
    CHECK(g, "%s", cnn_last_error());
    int64_t total = 0, trainable = 0;
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        total += p.numel;
        if (p.trainable) trainable += p.numel;
    }
    cnn_graph_free(g);
    CHECK(total == 1656250 && trainable == 1652826, "total %lld trainable %lld", (long long)total, (long long)trainable);
    return 0;
}

/* One train step (dropout on, seeded) of MiniGoogLeNet: logits and every gradient must be the
 * same bits with 1 and 2 threads. */
static int train_step(int threads, float **logits, float **grads, int64_t *n_logits, int64_t *n_grads) {
    cnn_set_threads(threads);
    cnn_graph *g = cnn_model_build("minigooglenet", NULL);
    CHECK(g && cnn_graph_init_params(g, 3) == 0, "%s", cnn_last_error());
    cnn_plan *p = cnn_plan_create(g, 3, CNN_PLAN_TRAIN);
    CHECK(p, "%s", cnn_last_error());
    cnn_tensor *x = cnn_plan_input(p, 0);
    for (int64_t i = 0; i < cnn_tensor_numel(x); i++) x->data[i] = (float)sin((double)i * 0.37);
    int64_t labels[3] = {1, 7, 3};
    float loss;
    cnn_plan_set_seed(p, 42, 0);
    cnn_graph_zero_grad(g);
    int rc = cnn_plan_forward(p) ||
             cnn_softmax_cross_entropy(cnn_plan_output(p, 0), labels, 0.1f, &loss, cnn_plan_output_grad(p, 0), 1.0f) ||
             cnn_plan_backward(p);
    if (!rc) {
        const cnn_tensor *y = cnn_plan_output(p, 0);
        *n_logits = cnn_tensor_numel(y);
        *logits = malloc((size_t)*n_logits * sizeof(float));
        memcpy(*logits, y->data, (size_t)*n_logits * sizeof(float));
        float *gr = cnn_graph_grads(g, n_grads);
        *grads = malloc((size_t)*n_grads * sizeof(float));
        memcpy(*grads, gr, (size_t)*n_grads * sizeof(float));
    }
    cnn_plan_free(p);
    cnn_graph_free(g);
    CHECK(!rc, "%s", cnn_last_error());
    return 0;
}

static int same_bits_any_thread_count(void *arg) {
    (void)arg;
    float *l1 = NULL, *g1 = NULL, *l2 = NULL, *g2 = NULL;
    int64_t nl1, ng1, nl2, ng2;
    int rc = train_step(1, &l1, &g1, &nl1, &ng1) || train_step(2, &l2, &g2, &nl2, &ng2);
    cnn_set_threads(0);
    int same = !rc && nl1 == nl2 && ng1 == ng2 && memcmp(l1, l2, (size_t)nl1 * sizeof(float)) == 0 &&
               memcmp(g1, g2, (size_t)ng1 * sizeof(float)) == 0;
    free(l1), free(g1), free(l2), free(g2);
    CHECK(!rc, "train step failed");
    CHECK(same, "logits or gradients differ between 1 and 2 threads");
    return 0;
}

/* Eval at batch 1 (arg: the model): the logits the same bits with 1 and 2 threads, the 2-thread
 * plan running the inception modules' branches side by side (plan.c's branch sections). */
static int eval_same_bits_any_thread_count(void *arg) {
    const char *name = arg;
    cnn_graph *g = cnn_model_build(name, NULL);
    CHECK(g && cnn_graph_init_params(g, 5) == 0, "%s", cnn_last_error());
    float *y[2] = {NULL, NULL};
    int64_t ny = 0;
    int rc = 0;
    for (int t = 0; t < 2 && !rc; t++) {
        cnn_set_threads(t + 1);
        cnn_plan *p = cnn_plan_create(g, 1, 0);
        rc = p ? 0 : -1;
        if (!rc) {
            cnn_tensor *x = cnn_plan_input(p, 0);
            for (int64_t i = 0; i < cnn_tensor_numel(x); i++) x->data[i] = (float)sin((double)i * 0.011);
            rc = cnn_plan_forward(p);
        }
        if (!rc) {
            const cnn_tensor *out = cnn_plan_output(p, 0);
            ny = cnn_tensor_numel(out);
            y[t] = malloc((size_t)ny * sizeof(float));
            if (y[t]) memcpy(y[t], out->data, (size_t)ny * sizeof(float));
            rc = y[t] ? 0 : -1;
        }
        cnn_plan_free(p);
    }
    cnn_set_threads(0);
    const bool same = !rc && memcmp(y[0], y[1], (size_t)ny * sizeof(float)) == 0;
    free(y[0]), free(y[1]);
    cnn_graph_free(g);
    CHECK(!rc, "%s", cnn_last_error());
    CHECK(same, "%s: logits differ between 1 and 2 threads", name);
    return 0;
}

static int unknown_model(void *arg) {
    (void)arg;
    CHECK(!cnn_model_build("googlenet_v9", NULL), "unknown name accepted");
    CHECK(strstr(cnn_last_error(), "unknown model 'googlenet_v9'") && strstr(cnn_last_error(), "minigooglenet"),
          "message: %s", cnn_last_error());
    return 0;
}

/* Lists CASE names (without .data.safetensors) of dir into names; returns the count. */
static int list_cases(const char *dir, const char *filter, char (*names)[256], int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < max) {
        char *dot = strstr(e->d_name, ".data.safetensors");
        if (dot && (!filter || strstr(e->d_name, filter))) snprintf(names[n++], 256, "%.*s", (int)(dot - e->d_name), e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* sorted, so the output reads the same every run */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], 256), memcpy(names[j], names[j - 1], 256), memcpy(names[j - 1], t, 256);
        }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_models REF_DIR [NAME_SUBSTRING]\n");
        return 2;
    }
    const char *filter = argc > 2 ? argv[2] : NULL;
    harness_case("minigooglenet: parameter count equals Keras's summary", minigooglenet_param_count, NULL);
    harness_case("zoo: unknown model name lists the zoo", unknown_model, NULL);
    harness_case("minigooglenet: train step bitwise identical with 1 and 2 threads", same_bits_any_thread_count, NULL);
    harness_case("googlenet: eval at batch 1 bitwise identical with 1 and 2 threads", eval_same_bits_any_thread_count, "googlenet");
    harness_case("inception_v3: eval at batch 1 bitwise identical with 1 and 2 threads", eval_same_bits_any_thread_count, "inception_v3");
    static char names[256][256];
    const char *subdirs[] = {"models", "zoo"};
    for (int s = 0; s < 2; s++) {
        model_case mc;
        snprintf(mc.dir, sizeof mc.dir, "%s/%s", argv[1], subdirs[s]);
        int n = list_cases(mc.dir, filter, names, 256);
        for (int i = 0; i < n; i++) {
            char label[400];
            snprintf(mc.name, sizeof mc.name, "%.200s", names[i]);
            cnn_safetensors *data = open_case(&mc);
            const char *heavy_text = data ? cnn_safetensors_metadata(data, "heavy") : NULL;
            bool heavy = heavy_text && atoi(heavy_text);
            bool train = data && cnn_safetensors_metadata(data, "train") && atoi(cnn_safetensors_metadata(data, "train"));
            bool counts = data && cnn_safetensors_metadata(data, "trainable_params");
            cnn_safetensors_free(data);
            /* Under the sanitizers the big networks take minutes: their parity runs in the plain build. */
            if (heavy && asan_build()) continue;
            if (counts) {
                snprintf(label, sizeof label, "%s: parameter count equals PyTorch's", mc.name);
                harness_case(label, param_count, &mc);
            }
            snprintf(label, sizeof label, "%s: eval-mode logits vs PyTorch", mc.name);
            harness_case(label, run_eval, &mc);
            if (train) {
                snprintf(label, sizeof label, "%s: train-mode logits, loss, gradients, running stats vs PyTorch", mc.name);
                harness_case(label, run_train, &mc);
            }
        }
    }
    return harness_finish();
}
