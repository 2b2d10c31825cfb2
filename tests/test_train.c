/* test_train.c — SGD, Adam and the learning-rate schedules against PyTorch, state save/restore, refusals.
 * Usage: test_train REF_DIR (fixtures from tests/ref/gen_train.py in REF_DIR/train). */
#include "cnn.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char ref_dir[512] = "build/ref";

static bool has(const char *needle) { return strstr(cnn_last_error(), needle) != NULL; }

/* The network of gen_train.py: (N,250) -> fc1 (80) -> fc2 (37) -> fc3 (5). */
static cnn_graph *small_net(void) {
    cnn_graph *g = cnn_graph_create();
    cnn_node *x = cnn_flatten(g, cnn_input(g, "x", 250, 1, 1), "flat");
    x = cnn_dense(g, x, "fc1", 80, true);
    x = cnn_dense(g, x, "fc2", 37, true);
    x = cnn_dense(g, x, "fc3", 5, true);
    if (!x || cnn_graph_add_output(g, x, 0)) {
        cnn_graph_free(g);
        return NULL;
    }
    return g;
}

/* Distance in units in the last place between two floats (0: the same bits). */
static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia, ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return oa > ob ? oa - ob : ob - oa;
}

static int64_t max_ulps(const float *a, const float *b, int64_t n, int64_t *where) {
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t d = ulps(a[i], b[i]);
        if (d > worst) {
            worst = d;
            if (where) *where = i;
        }
    }
    return worst;
}

/* Copies fixture tensor "<prefix><param name>" into dst (the parameter's numel floats). */
static int load_tensor(const cnn_safetensors *f, const char *prefix, const char *param, float *dst, int64_t numel) {
    char key[256];
    cnn_st_tensor t;
    snprintf(key, sizeof key, "%s%s", prefix, param);
    if (cnn_safetensors_find(f, key, &t)) return -1;
    return cnn_st_tensor_to_f32(&t, dst, numel);
}

static const char *meta(const cnn_safetensors *f, const char *key) {
    const char *v = cnn_safetensors_metadata(f, key);
    return v ? v : "";
}

/* ---- optimizers against PyTorch ---- */

typedef struct replay_case {
    const char *name;
    int threads;
    bool adam_zero_defaults; /* leave beta1, beta2, eps 0: PyTorch's defaults must follow */
} replay_case;

/* Loads "<prefix><param>" for every parameter into the flat buffer laid out like the parameters. */
static int load_flat(const cnn_safetensors *f, cnn_graph *g, const char *prefix, float *flat) {
    float *params = cnn_graph_params(g, NULL);
    for (int64_t i = 0; i < cnn_param_count(g); i++) {
        cnn_param p;
        cnn_param_get(g, i, &p);
        if (load_tensor(f, prefix, p.name, flat + (p.data - params), p.numel)) return -1;
    }
    return 0;
}

/* Replays one fixture: PyTorch's initial parameters, its gradient and rate for each step; after
 * every step all parameters, and at the end every state buffer, must have PyTorch's bits. */
static int replay_steps(const replay_case *c, const cnn_safetensors *f, cnn_graph *g, float *want) {
    bool adam = strcmp(meta(f, "optimizer"), "adam") == 0;
    cnn_optimizer_options o = {.kind = adam ? CNN_OPT_ADAM : CNN_OPT_SGD,
                               .weight_decay = strtof(meta(f, "weight_decay"), NULL)};
    if (adam && !c->adam_zero_defaults) {
        o.beta1 = strtof(meta(f, "beta1"), NULL);
        o.beta2 = strtof(meta(f, "beta2"), NULL);
        o.eps = strtof(meta(f, "eps"), NULL);
    } else if (!adam) {
        o.momentum = strtof(meta(f, "momentum"), NULL);
        o.nesterov = strcmp(meta(f, "nesterov"), "1") == 0;
    }
    int steps = atoi(meta(f, "steps"));
    char lrs[256];
    snprintf(lrs, sizeof lrs, "%s", meta(f, "lrs"));
    CHECK(steps >= 1, "%s: no steps in the fixture", c->name);
    int64_t count;
    float *params = cnn_graph_params(g, &count);
    cnn_optimizer *opt = cnn_optimizer_create(g, &o);
    CHECK(opt, "%s: %s", c->name, cnn_last_error());
    float *grads = cnn_graph_grads(g, NULL);
    int rc = -1;
    char *lr_text = strtok(lrs, ",");
    if (load_flat(f, g, "init.", params)) goto library_error;
    for (int k = 1; k <= steps; k++, lr_text = strtok(NULL, ",")) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "grad.%d.", k);
        if (load_flat(f, g, prefix, grads)) goto library_error;
        snprintf(prefix, sizeof prefix, "after.%d.", k);
        if (load_flat(f, g, prefix, want)) goto library_error;
        if (!lr_text) {
            harness_message(__FILE__, __LINE__, "%s: fewer rates than steps", c->name);
            goto out;
        }
        if (cnn_optimizer_step(opt, strtof(lr_text, NULL))) goto library_error;
        int64_t where = 0, worst = max_ulps(params, want, count, &where);
        if (worst != 0) {
            harness_message(__FILE__, __LINE__, "%s step %d (lr %s): %lld ulps from PyTorch at value %lld (%.9g vs %.9g)",
                            c->name, k, lr_text, (long long)worst, (long long)where, params[where], want[where]);
            goto out;
        }
    }
    int want_states = adam ? 2 : o.momentum != 0 ? 1 : 0;
    if (cnn_optimizer_state_count(opt) != want_states || cnn_optimizer_steps(opt) != steps) {
        harness_message(__FILE__, __LINE__, "%s: %d states after %lld steps", c->name, cnn_optimizer_state_count(opt),
                        (long long)cnn_optimizer_steps(opt));
        goto out;
    }
    /* The optimizer's buffers hold what PyTorch's state holds, laid out like the parameters. */
    for (int s = 0; s < want_states; s++) {
        const char *name;
        int64_t n;
        float *state = cnn_optimizer_state(opt, s, &name, &n);
        char prefix[64];
        if (!state || n != count) {
            harness_message(__FILE__, __LINE__, "%s: state %d has %lld values, want %lld", c->name, s, (long long)n,
                            (long long)count);
            goto out;
        }
        snprintf(prefix, sizeof prefix, "state.%s.", name);
        if (load_flat(f, g, prefix, want)) goto library_error;
        int64_t where = 0, worst = max_ulps(state, want, count, &where);
        if (worst != 0) {
            harness_message(__FILE__, __LINE__, "%s: %s is %lld ulps from PyTorch's at %lld", c->name, name,
                            (long long)worst, (long long)where);
            goto out;
        }
    }
    rc = 0;
    goto out;
library_error:
    harness_message(__FILE__, __LINE__, "%s: %s", c->name, cnn_last_error());
out:
    cnn_optimizer_free(opt);
    return rc;
}

static int replay(void *arg) {
    const replay_case *c = arg;
    char path[1024];
    snprintf(path, sizeof path, "%s/train/%s.safetensors", ref_dir, c->name);
    cnn_safetensors *f = cnn_safetensors_read(path);
    CHECK(f, "%s", cnn_last_error());
    cnn_graph *g = small_net();
    int64_t count = 0;
    if (g) cnn_graph_params(g, &count);
    float *want = malloc((size_t)(count ? count : 1) * sizeof(float));
    int threads_before = cnn_get_threads(), rc = -1;
    cnn_set_threads(c->threads);
    if (g && want) rc = replay_steps(c, f, g, want);
    else harness_message(__FILE__, __LINE__, "set-up failed: %s", cnn_last_error());
    cnn_set_threads(threads_before);
    free(want);
    cnn_graph_free(g);
    cnn_safetensors_free(f);
    return rc;
}

/* ---- checkpoints: state out, a new optimizer, state in, go on ---- */

/* A deterministic gradient for step k, different for every value and step. */
static void fill_grads(cnn_graph *g, int k) {
    int64_t n;
    float *grad = cnn_graph_grads(g, &n);
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)k * 0xD1B54A32D192ED03ull;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        grad[i] = ((float)(h >> 40) / (float)(1 << 24) - 0.5f) * (float)k;
    }
}

static cnn_graph *seeded_net(void) {
    cnn_graph *g = small_net();
    if (g) cnn_graph_init_params(g, 11);
    return g;
}

static int run_steps(cnn_graph *g, cnn_optimizer *opt, int first, int last) {
    for (int k = first; k <= last; k++) {
        fill_grads(g, k);
        if (cnn_optimizer_step(opt, 0.01f / (float)k)) return -1;
    }
    return 0;
}

static int resume_is_bitwise(void *arg) {
    const cnn_optimizer_options *o = arg;
    enum { TOTAL = 6, SPLIT = 2 };
    cnn_graph *whole = seeded_net(), *part = seeded_net(), *resumed = seeded_net();
    CHECK(whole && part && resumed, "%s", cnn_last_error());
    cnn_optimizer *a = cnn_optimizer_create(whole, o), *b = cnn_optimizer_create(part, o);
    CHECK(a && b, "%s", cnn_last_error());
    CHECK(run_steps(whole, a, 1, TOTAL) == 0 && run_steps(part, b, 1, SPLIT) == 0, "%s", cnn_last_error());

    /* What a checkpoint keeps: parameters, every state buffer and the step count. */
    int64_t n;
    float *pb = cnn_graph_params(part, &n), *pr = cnn_graph_params(resumed, NULL);
    memcpy(pr, pb, (size_t)n * sizeof(float));
    cnn_optimizer *r = cnn_optimizer_create(resumed, o);
    CHECK(r && cnn_optimizer_state_count(r) == cnn_optimizer_state_count(b), "%s", cnn_last_error());
    for (int s = 0; s < cnn_optimizer_state_count(b); s++) {
        const char *nb, *nr;
        int64_t cb, cr;
        float *sb = cnn_optimizer_state(b, s, &nb, &cb), *sr = cnn_optimizer_state(r, s, &nr, &cr);
        CHECK(sb && sr && cb == n && cr == n && strcmp(nb, nr) == 0, "state %d", s);
        memcpy(sr, sb, (size_t)n * sizeof(float));
    }
    CHECK(cnn_optimizer_steps(b) == SPLIT, "steps %lld", (long long)cnn_optimizer_steps(b));
    cnn_optimizer_set_steps(r, cnn_optimizer_steps(b));
    cnn_optimizer_free(b);
    cnn_graph_free(part);
    CHECK(run_steps(resumed, r, SPLIT + 1, TOTAL) == 0, "%s", cnn_last_error());

    float *pw = cnn_graph_params(whole, NULL);
    CHECK(memcmp(pw, pr, (size_t)n * sizeof(float)) == 0, "resumed parameters differ (%lld ulps)",
          (long long)max_ulps(pw, pr, n, NULL));
    for (int s = 0; s < cnn_optimizer_state_count(a); s++) {
        float *sa = cnn_optimizer_state(a, s, NULL, NULL), *sr = cnn_optimizer_state(r, s, NULL, NULL);
        CHECK(memcmp(sa, sr, (size_t)n * sizeof(float)) == 0, "resumed state %d differs", s);
    }
    CHECK(cnn_optimizer_steps(r) == TOTAL, "steps %lld", (long long)cnn_optimizer_steps(r));

    /* The step count matters where the rule uses it: without it the run goes elsewhere. */
    bool uses_steps = o->kind == CNN_OPT_ADAM || o->momentum != 0;
    if (uses_steps) {
        /* The same parameters and buffers as at the split, but the step count left at 0. */
        cnn_graph *again = seeded_net(), *forgot = seeded_net();
        cnn_optimizer *ag = cnn_optimizer_create(again, o), *fo = cnn_optimizer_create(forgot, o);
        CHECK(ag && fo && run_steps(again, ag, 1, SPLIT) == 0, "%s", cnn_last_error());
        memcpy(cnn_graph_params(forgot, NULL), cnn_graph_params(again, NULL), (size_t)n * sizeof(float));
        for (int s = 0; s < cnn_optimizer_state_count(ag); s++)
            memcpy(cnn_optimizer_state(fo, s, NULL, NULL), cnn_optimizer_state(ag, s, NULL, NULL), (size_t)n * sizeof(float));
        CHECK(run_steps(forgot, fo, SPLIT + 1, TOTAL) == 0, "%s", cnn_last_error());
        bool differs = memcmp(cnn_graph_params(forgot, NULL), pw, (size_t)n * sizeof(float)) != 0;
        cnn_optimizer_free(fo);
        cnn_optimizer_free(ag);
        cnn_graph_free(forgot);
        cnn_graph_free(again);
        CHECK(differs, "restoring without the step count gave the same result");
    }
    cnn_optimizer_free(a);
    cnn_optimizer_free(r);
    cnn_graph_free(whole);
    cnn_graph_free(resumed);
    return 0;
}

/* ---- state accessors ---- */

static int state_accessors(void *arg) {
    (void)arg;
    cnn_graph *g = small_net();
    CHECK(g, "%s", cnn_last_error());
    int64_t n;
    cnn_graph_params(g, &n);
    CHECK(n == 250 * 80 + 80 + 80 * 37 + 37 + 37 * 5 + 5, "%lld trainable values", (long long)n);

    cnn_optimizer *plain = cnn_optimizer_create(g, &(cnn_optimizer_options){.kind = CNN_OPT_SGD});
    CHECK(plain && cnn_optimizer_state_count(plain) == 0 && cnn_optimizer_steps(plain) == 0, "%s", cnn_last_error());
    CHECK(!cnn_optimizer_state(plain, 0, NULL, NULL) && has("no state buffer 0"), "%s", cnn_last_error());
    cnn_optimizer_set_steps(plain, 41);
    CHECK(cnn_optimizer_steps(plain) == 41, "set_steps");
    cnn_optimizer_set_steps(plain, -3);
    CHECK(cnn_optimizer_steps(plain) == 0, "negative step count kept");
    cnn_optimizer_free(plain);

    cnn_optimizer *sgd = cnn_optimizer_create(g, &(cnn_optimizer_options){.kind = CNN_OPT_SGD, .momentum = 0.9f});
    const char *name = NULL;
    int64_t count = 0;
    CHECK(sgd && cnn_optimizer_state_count(sgd) == 1, "%s", cnn_last_error());
    CHECK(cnn_optimizer_state(sgd, 0, &name, &count) && strcmp(name, "momentum_buffer") == 0 && count == n, "sgd state");
    CHECK(!cnn_optimizer_state(sgd, 1, NULL, NULL) && !cnn_optimizer_state(sgd, -1, NULL, NULL), "out of range accepted");
    cnn_optimizer_free(sgd);

    cnn_optimizer *adam = cnn_optimizer_create(g, &(cnn_optimizer_options){.kind = CNN_OPT_ADAM});
    CHECK(adam && cnn_optimizer_state_count(adam) == 2, "%s", cnn_last_error());
    CHECK(cnn_optimizer_state(adam, 0, &name, &count) && strcmp(name, "exp_avg") == 0 && count == n, "adam state 0");
    float *sq = cnn_optimizer_state(adam, 1, &name, &count);
    CHECK(sq && strcmp(name, "exp_avg_sq") == 0 && count == n && sq[0] == 0 && sq[n - 1] == 0, "adam state 1");
    /* A step with zero gradients and zero moments leaves parameters as they were (0 / eps). */
    float before = cnn_graph_params(g, NULL)[7];
    CHECK(cnn_optimizer_step(adam, 0.1f) == 0 && cnn_graph_params(g, NULL)[7] == before && cnn_optimizer_steps(adam) == 1,
          "zero-gradient Adam step moved a parameter");
    cnn_optimizer_free(adam);
    cnn_optimizer_free(NULL);
    CHECK(cnn_optimizer_state_count(NULL) == 0 && cnn_optimizer_steps(NULL) == 0, "NULL optimizer");
    cnn_graph_free(g);
    return 0;
}

/* ---- refusals ---- */

static int optimizer_refusals(void *arg) {
    (void)arg;
    cnn_graph *g = small_net();
    CHECK(g, "%s", cnn_last_error());
    struct {
        cnn_optimizer_options o;
        const char *message;
    } bad[] = {
        {{.kind = CNN_OPT_SGD, .momentum = -0.9f}, "sgd: momentum must be a finite number >= 0, got -0.9"},
        {{.kind = CNN_OPT_SGD, .momentum = NAN}, "sgd: momentum must be a finite number >= 0, got nan"},
        {{.kind = CNN_OPT_SGD, .weight_decay = -1e-4f}, "sgd: weight decay must be a finite number >= 0, got -0.0001"},
        {{.kind = CNN_OPT_SGD, .nesterov = true}, "sgd: nesterov needs a momentum > 0"},
        {{.kind = CNN_OPT_ADAM, .beta1 = 1.0f}, "adam: beta1 must be in [0, 1), got 1"},
        {{.kind = CNN_OPT_ADAM, .beta2 = -0.5f}, "adam: beta2 must be in [0, 1), got -0.5"},
        {{.kind = CNN_OPT_ADAM, .beta2 = 1.5f}, "adam: beta2 must be in [0, 1), got 1.5"},
        {{.kind = CNN_OPT_ADAM, .eps = -1e-8f}, "adam: eps must be a finite number >= 0, got -1e-08"},
        {{.kind = CNN_OPT_ADAM, .weight_decay = INFINITY}, "adam: weight decay must be a finite number >= 0, got inf"},
        {{.kind = CNN_OPT_ADAM, .momentum = 0.9f}, "adam: momentum applies to SGD only"},
        {{.kind = CNN_OPT_ADAM, .nesterov = true}, "adam: nesterov applies to SGD only"},
        {{.kind = (cnn_optimizer_kind)7}, "optimizer: unknown kind 7"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_clear_error();
        cnn_optimizer *opt = cnn_optimizer_create(g, &bad[i].o);
        CHECK(!opt, "case %zu accepted", i);
        CHECK(has(bad[i].message) && !strchr(cnn_last_error(), '\n'), "case %zu: '%s', want '%s'", i, cnn_last_error(),
              bad[i].message);
    }
    CHECK(!cnn_optimizer_create(NULL, &bad[0].o) && has("graph is NULL"), "%s", cnn_last_error());
    CHECK(!cnn_optimizer_create(g, NULL) && has("options are NULL"), "%s", cnn_last_error());
    CHECK(cnn_optimizer_step(NULL, 0.1f) != 0, "NULL optimizer stepped");

    cnn_optimizer *opt = cnn_optimizer_create(g, &(cnn_optimizer_options){.kind = CNN_OPT_SGD, .momentum = 0.9f});
    CHECK(opt, "%s", cnn_last_error());
    float first = cnn_graph_params(g, NULL)[0];
    fill_grads(g, 1);
    CHECK(cnn_optimizer_step(opt, -0.1f) != 0 && has("sgd: learning rate must be a finite number >= 0, got -0.1"), "%s",
          cnn_last_error());
    CHECK(cnn_optimizer_step(opt, NAN) != 0 && has("learning rate"), "%s", cnn_last_error());
    CHECK(cnn_optimizer_steps(opt) == 0 && cnn_graph_params(g, NULL)[0] == first, "a refused step changed something");
    CHECK(cnn_optimizer_step(opt, 0.0f) == 0 && cnn_graph_params(g, NULL)[0] == first, "lr 0 moved a parameter");

    /* Layers added after the optimizer was made: its buffers no longer fit. */
    cnn_dense(g, cnn_graph_node(g, cnn_graph_node_count(g) - 1), "fc4", 3, true);
    CHECK(cnn_optimizer_step(opt, 0.1f) != 0 && has("the graph has 23285 trainable values but had 23267"), "%s",
          cnn_last_error());
    cnn_optimizer_free(opt);
    cnn_graph_free(g);
    return 0;
}

/* ---- schedules ---- */

static int schedules_match_pytorch(void *arg) {
    (void)arg;
    char path[1024];
    snprintf(path, sizeof path, "%s/train/schedules.safetensors", ref_dir);
    cnn_safetensors *f = cnn_safetensors_read(path);
    CHECK(f, "%s", cnn_last_error());
    int checked = 0;
    for (int i = 0; i < cnn_safetensors_count(f); i++) {
        cnn_st_tensor t;
        cnn_safetensors_get(f, i, &t);
        if (strncmp(t.name, "lr.", 3) != 0) continue;
        const char *id = t.name + 3;
        char key[128];
        snprintf(key, sizeof key, "spec.%s", id);
        const char *spec = meta(f, key);
        snprintf(key, sizeof key, "base.%s", id);
        float base = strtof(meta(f, key), NULL);
        snprintf(key, sizeof key, "total.%s", id);
        int64_t total = atoll(meta(f, key));
        cnn_schedule s;
        if (cnn_schedule_parse(spec, &s)) {
            harness_message(__FILE__, __LINE__, "%s: %s", id, cnn_last_error());
            cnn_safetensors_free(f);
            return -1;
        }
        float want[256];
        if (t.numel > 256 || cnn_st_tensor_to_f32(&t, want, t.numel)) {
            harness_message(__FILE__, __LINE__, "%s: bad fixture", id);
            cnn_safetensors_free(f);
            return -1;
        }
        for (int64_t e = 0; e < t.numel; e++) {
            float got = cnn_schedule_lr(&s, base, e, total);
            if (got != want[e]) {
                harness_message(__FILE__, __LINE__, "%s epoch %lld: %.9g, PyTorch %.9g (%lld ulps)", id, (long long)e,
                                got, want[e], (long long)ulps(got, want[e]));
                cnn_safetensors_free(f);
                return -1;
            }
        }
        checked++;
    }
    cnn_safetensors_free(f);
    CHECK(checked >= 10, "only %d schedules in the fixture", checked);
    return 0;
}

static int schedule_parsing(void *arg) {
    (void)arg;
    cnn_schedule s;
    CHECK(cnn_schedule_parse("step:30:0.2", &s) == 0 && s.kind == 1 && s.step_epochs == 30 && s.gamma == 0.2, "step");
    CHECK(cnn_schedule_parse("poly:1.5", &s) == 0 && s.kind == 2 && s.power == 1.5, "poly");
    CHECK(cnn_schedule_parse("cosine", &s) == 0 && s.kind == 3, "cosine");
    CHECK(cnn_schedule_parse("constant", &s) == 0 && s.kind == 0, "constant");
    CHECK(cnn_schedule_lr(&s, 0.25f, 99, 10) == 0.25f, "constant rate");
    /* poly reaches 0 at the end and stays there; cosine starts at the base rate. */
    cnn_schedule_parse("poly:2", &s);
    CHECK(cnn_schedule_lr(&s, 0.1f, 10, 10) == 0.0f && cnn_schedule_lr(&s, 0.1f, 12, 10) == 0.0f, "poly past the end");
    CHECK(cnn_schedule_lr(&s, 0.1f, 5, 10) == (float)(0.1 * 0.25), "poly midway");
    cnn_schedule_parse("cosine", &s);
    CHECK(cnn_schedule_lr(&s, 0.1f, 0, 10) == 0.1f && fabsf(cnn_schedule_lr(&s, 0.1f, 5, 10) - 0.05f) < 1e-8f, "cosine");
    CHECK(cnn_schedule_lr(&s, 0.1f, 10, 10) < 1e-9f, "cosine end");
    cnn_schedule_parse("step:2:0.5", &s);
    CHECK(cnn_schedule_lr(&s, 1.0f, 5, 10) == 0.25f && cnn_schedule_lr(&s, 1.0f, -1, 10) == 1.0f, "step");

    const char *unknown[] = {"foo", "", "step", "step:", "step:10", "step:10:", "step:x:0.1", "step:10:0.1x",
                             "step:10:0.1:3", "poly", "poly:", "poly:abc", "cosine:3", "constant:1", "Cosine",
                             "step: 10:0.1", "poly:inf", "step:10:nan"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "unknown schedule '%s' (constant, step:EPOCHS:GAMMA, poly:POWER, cosine)", unknown[i]);
        CHECK(cnn_schedule_parse(unknown[i], &s) != 0, "'%s' accepted", unknown[i]);
        CHECK(strcmp(cnn_last_error(), want) == 0, "'%s': %s", unknown[i], cnn_last_error());
    }
    CHECK(cnn_schedule_parse("step:0:0.1", &s) != 0 && has("schedule 'step:0:0.1': EPOCHS must be a whole number >= 1"),
          "%s", cnn_last_error());
    CHECK(cnn_schedule_parse("step:2.5:0.1", &s) != 0 && has("EPOCHS must be a whole number"), "%s", cnn_last_error());
    CHECK(cnn_schedule_parse("step:10:-0.1", &s) != 0 && has("schedule 'step:10:-0.1': GAMMA must be >= 0"), "%s",
          cnn_last_error());
    CHECK(cnn_schedule_parse("poly:-1", &s) != 0 && has("schedule 'poly:-1': POWER must be >= 0"), "%s", cnn_last_error());
    CHECK(cnn_schedule_parse(NULL, &s) != 0 && has("schedule"), "%s", cnn_last_error());
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) snprintf(ref_dir, sizeof ref_dir, "%s", argv[1]);
    static const replay_case cases[] = {
        {"sgd_plain", 1, false},    {"sgd_wd", 1, false},  {"sgd_momentum", 1, false}, {"sgd_nesterov", 1, false},
        {"adam", 1, false},         {"adam_wd", 1, false}, {"adam", 1, true},          {"sgd_nesterov", 4, false},
        {"adam_wd", 4, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char title[160];
        snprintf(title, sizeof title, "optimizer: %s, %d thread%s%s: every step bitwise equal to PyTorch", cases[i].name,
                 cases[i].threads, cases[i].threads > 1 ? "s" : "", cases[i].adam_zero_defaults ? ", default betas/eps" : "");
        harness_case(title, replay, (void *)&cases[i]);
    }
    static const cnn_optimizer_options resume_opts[] = {
        {.kind = CNN_OPT_SGD, .momentum = 0.9f, .nesterov = true, .weight_decay = 5e-4f},
        {.kind = CNN_OPT_SGD, .weight_decay = 1e-4f},
        {.kind = CNN_OPT_ADAM, .weight_decay = 1e-2f},
    };
    const char *resume_names[] = {"optimizer: SGD Nesterov state saved, restored into a new optimizer: bitwise resume",
                                  "optimizer: plain SGD resumed from parameters alone: bitwise",
                                  "optimizer: Adam state and step count restored: bitwise resume"};
    for (int i = 0; i < 3; i++) harness_case(resume_names[i], resume_is_bitwise, (void *)&resume_opts[i]);
    harness_case("optimizer: state buffers, names, sizes and step count", state_accessors, NULL);
    harness_case("optimizer: bad options, learning rates and a changed graph refused", optimizer_refusals, NULL);
    harness_case("schedule: StepLR, CosineAnnealingLR and poly decay bitwise equal to PyTorch / the recipe",
                 schedules_match_pytorch, NULL);
    harness_case("schedule: parsing, edge epochs and refusals", schedule_parsing, NULL);
    return harness_finish();
}
