/* train.c — `cnn train MODEL --data SPEC [options]`: the training loop, progress, logs, checkpoints and resume. */
#include "cli.h"
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct train_opts {
    cli_model model;
    const char *data, *val, *optimizer, *schedule, *augment, *dropout, *init, *out, *checkpoint, *resume, *log, *plot;
    long long epochs, steps, batch, seed, checkpoint_every, threads, accum;
    double lr, momentum, weight_decay, label_smoothing, aux_weight;
    int nesterov, no_shuffle, check_numerics;
} train_opts;

/* Everything one run holds; freed by train_free. */
typedef struct trainer {
    train_opts o;
    const char *model_name;
    cnn_dataset *data, *val;
    cnn_graph *g;
    cnn_optimizer *opt;
    cnn_loader *loader;
    cnn_plan *plan, *short_plan;     /* full batches, and the short last batch of an epoch */
    int64_t *labels;
    cnn_schedule schedule;
    int64_t batches_per_epoch, total_steps, total_epochs;
    int64_t step, micro, epoch;      /* optimizer updates, batches seen, 0-based epoch */
    int64_t epoch_batches, epoch_seen, epoch_correct;
    double epoch_loss, epoch_seconds, epoch_wait;
    history hist;
    char *checkpoint_path;
    const char *last_checkpoint;
    bool tty;
} trainer;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *instruction_set(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "AVX-512";
    if (__builtin_cpu_supports("avx2")) return "AVX2";
    return "SSE2";
}

static void train_free(trainer *t) {
    cnn_plan_free(t->plan);
    cnn_plan_free(t->short_plan);
    cnn_loader_free(t->loader);
    cnn_optimizer_free(t->opt);
    cnn_graph_free(t->g);
    cnn_dataset_free(t->data);
    cnn_dataset_free(t->val);
    free(t->labels);
    free(t->checkpoint_path);
    history_free(&t->hist);
}

/* --augment none|flip|crop:PAD|flip,crop:PAD */
/* The learning rate of the coming update. step:EPOCHS:GAMMA changes once per epoch like PyTorch's
 * StepLR; poly and cosine decay smoothly over the whole run, step by step (T_max = the run's
 * optimizer steps), which is what a PyTorch loop stepping its scheduler per iteration does. */
static float current_lr(const trainer *t) {
    if (t->schedule.kind == 2 || t->schedule.kind == 3)
        return cnn_schedule_lr(&t->schedule, (float)t->o.lr, t->step, t->total_steps);
    return cnn_schedule_lr(&t->schedule, (float)t->o.lr, t->epoch, t->total_epochs);
}

static int parse_augment(const char *text, bool *flip, int *crop_pad) {
    *flip = false;
    *crop_pad = 0;
    if (strcmp(text, "none") == 0) return 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        int pad;
        char tail;
        if (strcmp(part, "flip") == 0) *flip = true;
        else if (sscanf(part, "crop:%d%c", &pad, &tail) == 1 && pad > 0 && pad < 1000) *crop_pad = pad;
        else return -1;
    }
    return 0;
}

static int validate(const train_opts *o) {
    if (!o->data) return cli_fail("train", "needs --data SPEC (e.g. fashion-mnist)");
    if (o->batch < 1) return cli_fail("train", "--batch must be at least 1 (got %lld)", o->batch);
    if (o->epochs < 0 || o->steps < 0) return cli_fail("train", "--epochs and --steps must be positive");
    if (o->epochs && o->steps) return cli_fail("train", "give --epochs or --steps, not both");
    if (o->accum < 1) return cli_fail("train", "--accum must be at least 1 (got %lld)", o->accum);
    if (!(o->lr >= 0)) return cli_fail("train", "--lr must be non-negative");
    if (!(o->label_smoothing >= 0 && o->label_smoothing < 1)) return cli_fail("train", "--label-smoothing must be in [0, 1)");
    if (!(o->aux_weight >= 0)) return cli_fail("train", "--aux-weight must be non-negative");
    if (o->checkpoint_every < 0) return cli_fail("train", "--checkpoint-every must be positive");
    if (o->threads < 0) return cli_fail("train", "--threads must be positive");
    if (strcmp(o->optimizer, "sgd") != 0 && strcmp(o->optimizer, "adam") != 0)
        return cli_fail("train", "--optimizer: unknown '%s' (sgd, adam)", o->optimizer);
    if (strcmp(o->dropout, "on") != 0 && strcmp(o->dropout, "off") != 0)
        return cli_fail("train", "--dropout: '%s' is not on or off", o->dropout);
    return 0;
}

/* Cross-entropy of every output (main, then auxiliary heads weighted by --aux-weight), seeding the
 * output gradients scaled by 1/accum; returns the total loss. */
static int losses(trainer *t, cnn_plan *p, int64_t count, double *total, int64_t *correct) {
    *total = 0;
    for (int i = 0; i < cnn_plan_output_count(p); i++) {
        float loss, weight = i == 0 ? 1.0f : (float)t->o.aux_weight;
        if (cnn_softmax_cross_entropy(cnn_plan_output(p, i), t->labels, (float)t->o.label_smoothing, &loss,
                                      cnn_plan_output_grad(p, i), weight / (float)t->o.accum))
            return -1;
        *total += weight * loss;
    }
    const cnn_tensor *y = cnn_plan_output(p, 0);
    *correct = 0;
    for (int64_t i = 0; i < count; i++) {
        const float *row = y->data + i * y->stride[0];
        int64_t best = 0;
        for (int64_t j = 1; j < y->shape[1]; j++)
            if (row[j] > row[best]) best = j;
        *correct += best == t->labels[i];
    }
    return 0;
}

/* --check-numerics: the first layer whose output (forward) or gradient (backward) is not finite. */
static int check_numerics(const trainer *t, cnn_plan *p, bool grads) {
    int64_t n = cnn_graph_node_count(t->g);
    for (int64_t k = 0; k < n; k++) {
        int64_t i = grads ? n - 1 - k : k;
        cnn_node *x = cnn_graph_node(t->g, i);
        const cnn_tensor *v = grads ? cnn_plan_grad(p, x) : cnn_plan_value(p, x);
        if (!v || !v->data) continue;
        int64_t m = cnn_tensor_numel(v) / v->shape[0], bad = 0; /* per sample: samples sit stride[0] apart */
        for (int64_t b = 0; b < v->shape[0]; b++)
            for (int64_t j = 0; j < m; j++) bad += !isfinite(v->data[b * v->stride[0] + j]);
        if (bad && strcmp(cnn_node_op(x), "input") == 0)
            return cnn_set_error("step %lld: the input batch holds %lld non-finite values (check the data)", (long long)t->step + 1,
                                 (long long)bad);
        if (bad)
            return cnn_set_error("step %lld: layer '%s' (%s) produced %lld non-finite values in its %s", (long long)t->step + 1,
                            cnn_node_name(x), cnn_node_op(x), (long long)bad, grads ? "gradient" : "output");
    }
    return 0;
}

static int save_checkpoint(trainer *t) {
    int64_t epoch, batch_index;
    cnn_loader_position(t->loader, &epoch, &batch_index);
    char v[12][64];
    char *csv = history_to_csv(&t->hist);
    if (!csv) return cnn_set_error("checkpoint: out of memory");
    const char *keys[] = {"cnn.model", "cnn.step", "cnn.micro", "cnn.epoch", "cnn.batch_index", "cnn.seed", "cnn.batch",
                          "cnn.accum", "cnn.optimizer", "cnn.optimizer_steps", "cnn.epoch_seen", "cnn.epoch_correct",
                          "cnn.epoch_loss", "cnn.epoch_batches", "cnn.history"};
    snprintf(v[0], 64, "%lld", (long long)t->step);
    snprintf(v[1], 64, "%lld", (long long)t->micro);
    snprintf(v[2], 64, "%lld", (long long)epoch);
    snprintf(v[3], 64, "%lld", (long long)batch_index);
    snprintf(v[4], 64, "%lld", t->o.seed);
    snprintf(v[5], 64, "%lld", t->o.batch);
    snprintf(v[6], 64, "%lld", t->o.accum);
    snprintf(v[7], 64, "%lld", (long long)cnn_optimizer_steps(t->opt));
    snprintf(v[8], 64, "%lld", (long long)t->epoch_seen);
    snprintf(v[9], 64, "%lld", (long long)t->epoch_correct);
    snprintf(v[10], 64, "%.17g", t->epoch_loss);
    snprintf(v[11], 64, "%lld", (long long)t->epoch_batches);
    const char *values[] = {t->model_name, v[0], v[1], v[2], v[3], v[4], v[5], v[6], t->o.optimizer, v[7], v[8], v[9],
                            v[10], v[11], csv};
    int rc = cnn_checkpoint_save(t->checkpoint_path, t->g, t->opt, 15, keys, values);
    free(csv);
    if (rc == 0) t->last_checkpoint = t->checkpoint_path;
    return rc;
}

static long long meta_int(cnn_safetensors *f, const char *key, int *bad) {
    const char *v = cnn_safetensors_metadata(f, key);
    if (!v) {
        *bad = 1;
        return 0;
    }
    return atoll(v);
}

static int resume(trainer *t) {
    cnn_safetensors *f = cnn_checkpoint_load(t->o.resume, t->g, t->opt);
    if (!f) return -1;
    int bad = 0;
    long long seed = meta_int(f, "cnn.seed", &bad), batch = meta_int(f, "cnn.batch", &bad), accum = meta_int(f, "cnn.accum", &bad);
    const char *opt = cnn_safetensors_metadata(f, "cnn.optimizer"), *csv = cnn_safetensors_metadata(f, "cnn.history");
    t->step = meta_int(f, "cnn.step", &bad);
    t->micro = meta_int(f, "cnn.micro", &bad);
    int64_t epoch = meta_int(f, "cnn.epoch", &bad), batch_index = meta_int(f, "cnn.batch_index", &bad);
    int64_t opt_steps = meta_int(f, "cnn.optimizer_steps", &bad);
    t->epoch_seen = meta_int(f, "cnn.epoch_seen", &bad);
    t->epoch_correct = meta_int(f, "cnn.epoch_correct", &bad);
    t->epoch_batches = meta_int(f, "cnn.epoch_batches", &bad);
    const char *el = cnn_safetensors_metadata(f, "cnn.epoch_loss");
    t->epoch_loss = el ? atof(el) : 0;
    int rc = -1;
    if (bad || !opt || !csv) cnn_set_error("%s: checkpoint metadata incomplete", t->o.resume);
    else if (seed != t->o.seed || batch != t->o.batch || accum != t->o.accum || strcmp(opt, t->o.optimizer) != 0)
        cnn_set_error("%s: written with --seed %lld --batch %lld --accum %lld --optimizer %s; resume with the same options",
                 t->o.resume, seed, batch, accum, opt);
    else if (history_from_csv(&t->hist, csv))
        cnn_set_error("%s: bad training history in the checkpoint", t->o.resume);
    else if (cnn_loader_seek(t->loader, epoch, batch_index) == 0) {
        cnn_optimizer_set_steps(t->opt, opt_steps);
        t->epoch = epoch;
        rc = 0;
    }
    cnn_safetensors_free(f);
    return rc;
}

static void progress(trainer *t, double images_per_s, bool final) {
    double loss = t->epoch_batches ? t->epoch_loss / (double)t->epoch_batches : 0;
    double acc = t->epoch_seen ? 100.0 * (double)t->epoch_correct / (double)t->epoch_seen : 0;
    int64_t done = t->epoch_batches, total = t->batches_per_epoch;
    double wait = t->epoch_seconds > 0 ? 100.0 * t->epoch_wait / t->epoch_seconds : 0;
    double eta = images_per_s > 0 ? (double)((total - done) * t->o.batch) / images_per_s : 0;
    if (t->tty) {
        int width = 24, filled = total ? (int)(width * done / total) : width;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        bar[width] = 0;
        printf("\repoch %lld/%lld [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s data %.0f%% ETA %d:%02d ",
               (long long)t->epoch + 1, (long long)t->total_epochs, bar, (long long)done, (long long)total, loss, acc,
               images_per_s, wait, (int)eta / 60, (int)eta % 60);
        if (final) printf("\n");
    } else {
        printf("epoch %lld/%lld step %lld/%lld loss %.4f acc %.2f%% %.0f img/s data-wait %.0f%%\n", (long long)t->epoch + 1,
               (long long)t->total_epochs, (long long)done, (long long)total, loss, acc, images_per_s, wait);
    }
    fflush(stdout);
}

/* The end of an epoch: validation, the log and the plot. */
static int end_epoch(trainer *t, float lr) {
    epoch_record r = {.epoch = t->epoch + 1, .train_loss = t->epoch_batches ? t->epoch_loss / (double)t->epoch_batches : NAN,
                      .train_acc = t->epoch_seen ? (double)t->epoch_correct / (double)t->epoch_seen : NAN,
                      .val_loss = NAN, .val_acc = NAN, .lr = lr, .seconds = t->epoch_seconds};
    if (t->val) {
        cli_eval e;
        if (cli_evaluate(t->g, t->val, t->o.batch, &e)) return -1;
        r.val_loss = e.loss;
        r.val_acc = (double)e.top1 / (double)e.n;
        printf("epoch %lld: train loss %.4f acc %.2f%% | val loss %.4f acc %.2f%% | %.1f s\n", (long long)r.epoch, r.train_loss,
               100 * r.train_acc, r.val_loss, 100 * r.val_acc, r.seconds);
        cli_eval_free(&e);
    } else {
        printf("epoch %lld: train loss %.4f acc %.2f%% | %.1f s\n", (long long)r.epoch, r.train_loss, 100 * r.train_acc, r.seconds);
    }
    if (history_add(&t->hist, &r)) return cnn_set_error("out of memory");
    if (t->o.log && history_write_csv(&t->hist, t->o.log)) return cnn_set_error("%s: cannot write the log", t->o.log);
    if (t->o.plot && history_write_svg(&t->hist, t->o.plot, "training curves"))
        return cnn_set_error("%s: cannot write the plot", t->o.plot);
    t->epoch++;
    t->epoch_batches = t->epoch_seen = t->epoch_correct = 0;
    t->epoch_loss = t->epoch_seconds = t->epoch_wait = 0;
    return 0;
}

static int setup(trainer *t, const char *model_name) {
    train_opts *o = &t->o;
    bool flip;
    int crop_pad;
    if (parse_augment(o->augment, &flip, &crop_pad))
        return cli_fail("train", "--augment: '%s' is not none, flip, crop:PAD or flip,crop:PAD", o->augment);
    if (cnn_schedule_parse(o->schedule, &t->schedule)) return cli_fail_lib("train");
    cnn_set_threads((int)o->threads);
    if (!(t->data = cli_open_data("train", o->data, CNN_SPLIT_TRAIN, model_name, &o->model))) return 1;
    if (o->val && !(t->val = cli_open_data("train", o->val, CNN_SPLIT_TEST, model_name, &o->model))) return 1;
    if (!(t->g = cli_build_for_data("train", model_name, &o->model, t->data))) return 1;
    if (o->init ? cnn_graph_load_weights(t->g, o->init) : cnn_graph_init_params(t->g, (uint64_t)o->seed)) return cli_fail_lib("train");
    cnn_optimizer_options oo = {.kind = strcmp(o->optimizer, "adam") == 0 ? CNN_OPT_ADAM : CNN_OPT_SGD,
                                .momentum = strcmp(o->optimizer, "sgd") == 0 ? (float)o->momentum : 0,
                                .nesterov = o->nesterov,
                                .weight_decay = (float)o->weight_decay};
    if (!(t->opt = cnn_optimizer_create(t->g, &oo))) return cli_fail_lib("train");
    int64_t in[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_input(t->g, 0), in);
    cnn_loader_options lo = {.batch = o->batch, .shuffle = !o->no_shuffle, .seed = (uint64_t)o->seed, .channels = in[1],
                             .height = in[2], .width = in[3], .normalize = true, .flip = flip, .crop_pad = crop_pad};
    if (!(t->loader = cnn_loader_create(t->data, &lo))) return cli_fail_lib("train");
    unsigned flags = CNN_PLAN_TRAIN | (strcmp(o->dropout, "off") == 0 ? CNN_PLAN_NO_DROPOUT : 0);
    if (!(t->plan = cnn_plan_create(t->g, o->batch, flags))) return cli_fail_lib("train");
    int64_t remainder = cnn_dataset_size(t->data) % o->batch;
    if (remainder && !(t->short_plan = cnn_plan_create(t->g, remainder, flags))) return cli_fail_lib("train");
    if (!(t->labels = calloc((size_t)o->batch, sizeof *t->labels))) return cli_fail("train", "out of memory");
    t->batches_per_epoch = cnn_loader_batches_per_epoch(t->loader);
    if (o->steps) {
        t->total_steps = o->steps;
        t->total_epochs = (o->steps * o->accum + t->batches_per_epoch - 1) / t->batches_per_epoch;
    } else {
        t->total_epochs = o->epochs ? o->epochs : 1;
        t->total_steps = t->total_epochs * t->batches_per_epoch / o->accum;
    }
    const char *ckpt = o->checkpoint ? o->checkpoint : o->out;
    if (o->checkpoint_every && !ckpt) return cli_fail("train", "--checkpoint-every needs --checkpoint FILE or --out FILE");
    if (ckpt) {
        size_t len = strlen(ckpt) + 8;
        t->checkpoint_path = malloc(len);
        if (!t->checkpoint_path) return cli_fail("train", "out of memory");
        snprintf(t->checkpoint_path, len, o->checkpoint ? "%s" : "%s.ckpt", ckpt);
    }
    if (o->resume && resume(t)) return cli_fail_lib("train");
    t->tty = isatty(fileno(stdout));
    return 0;
}

static void banner(const trainer *t, const char *model_name) {
    int64_t in[CNN_MAX_RANK], out[CNN_MAX_RANK], c, h, w, count;
    cnn_node_shape(cnn_graph_input(t->g, 0), in);
    cnn_node_shape(cnn_graph_output(t->g, 0), out);
    cnn_dataset_shape(t->data, &c, &h, &w);
    cnn_graph_params(t->g, &count);
    double mb = (double)(cnn_plan_memory(t->plan) + (t->short_plan ? cnn_plan_memory(t->short_plan) : 0)) / 1048576.0 +
                (double)count * 4.0 * (2 + cnn_optimizer_state_count(t->opt)) / 1048576.0;
    printf("training %s on %s: %lld images %lldx%lldx%lld, %lld classes; input %lldx%lldx%lld\n", model_name, t->o.data,
           (long long)cnn_dataset_size(t->data), (long long)c, (long long)h, (long long)w, (long long)out[1], (long long)in[1],
           (long long)in[2], (long long)in[3]);
    printf("%lld trainable parameters | %s | %d threads | about %.0f MB | %lld epochs, %lld steps of %lld (x%lld accum)\n",
           (long long)count, instruction_set(), cnn_get_threads(), mb, (long long)t->total_epochs, (long long)t->total_steps,
           t->o.batch, t->o.accum);
    if (t->o.resume) printf("resumed from %s at step %lld (epoch %lld)\n", t->o.resume, (long long)t->step, (long long)t->epoch + 1);
    fflush(stdout);
}

/* One batch: forward, losses, backward, and every --accum batches an optimizer update. */
static int train_batch(trainer *t, int64_t count, cnn_plan *p) {
    double loss;
    int64_t correct;
    cnn_plan_set_seed(p, (uint64_t)t->o.seed, (uint64_t)t->micro);
    if (cnn_plan_forward(p)) return -1;
    if (t->o.check_numerics && check_numerics(t, p, false)) return -1;
    if (losses(t, p, count, &loss, &correct)) return -1;
    if (!isfinite(loss))
        return cnn_set_error("step %lld: the loss is %s; stopping (last good checkpoint: %s; --check-numerics names the layer)",
                        (long long)t->step + 1, isnan(loss) ? "NaN" : "infinite",
                        t->last_checkpoint ? t->last_checkpoint : "none");
    if (cnn_plan_backward(p)) return -1;
    if (t->o.check_numerics && check_numerics(t, p, true)) return -1;
    t->micro++;
    t->epoch_loss += loss;
    t->epoch_batches++;
    t->epoch_seen += count;
    t->epoch_correct += correct;
    if (t->micro % t->o.accum == 0) {
        float lr = current_lr(t);
        if (cnn_optimizer_step(t->opt, lr)) return -1;
        cnn_graph_zero_grad(t->g);
        t->step++;
        if (t->o.checkpoint_every && t->step % t->o.checkpoint_every == 0 && save_checkpoint(t)) return -1;
    }
    return 0;
}

static int loop(trainer *t) {
    double last_print = now(), rate = 0;
    int64_t rate_images = 0;
    double rate_start = now();
    cnn_graph_zero_grad(t->g);
    while (t->step < t->total_steps && t->epoch < t->total_epochs) {
        double start = now(), wait;
        int64_t count;
        int got = cnn_loader_next(t->loader, cnn_plan_input(t->plan, 0)->data, t->labels, &count, &wait);
        if (got < 0) return -1;
        if (got == 1) {
            progress(t, rate, true);
            if (end_epoch(t, current_lr(t))) return -1;
            continue;
        }
        cnn_plan *p = t->plan;
        if (count != t->o.batch) { /* the last short batch of the epoch */
            p = t->short_plan;
            memcpy(cnn_plan_input(p, 0)->data, cnn_plan_input(t->plan, 0)->data,
                   (size_t)cnn_tensor_numel(cnn_plan_input(p, 0)) * sizeof(float));
        }
        if (train_batch(t, count, p)) return -1;
        double end = now();
        t->epoch_seconds += end - start;
        t->epoch_wait += wait;
        rate_images += count;
        if (end - rate_start > 0.5) {
            rate = (double)rate_images / (end - rate_start);
            rate_images = 0;
            rate_start = end;
        }
        if (t->tty ? end - last_print > 0.2 : end - last_print > 10.0) {
            progress(t, rate, false);
            last_print = end;
        }
    }
    if (t->epoch_batches) { /* a --steps run that stopped inside an epoch */
        progress(t, rate, true);
        if (end_epoch(t, current_lr(t))) return -1;
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    trainer t;
    memset(&t, 0, sizeof t);
    train_opts *o = &t.o;
    o->optimizer = "sgd", o->schedule = "constant", o->augment = "none", o->dropout = "on";
    o->batch = 64, o->accum = 1, o->lr = 0.01, o->momentum = 0.9, o->aux_weight = 0.3;
    cli_option opts[] = {
        {"--data", CLI_STRING, &o->data, "training data SPEC (fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, folder:DIR, npy:X,Y)"},
        {"--val", CLI_STRING, &o->val, "validation data SPEC (its test split), evaluated after every epoch"},
        {"--epochs", CLI_INT, &o->epochs, "epochs (default 1)"},
        {"--steps", CLI_INT, &o->steps, "optimizer steps instead of epochs"},
        {"--batch", CLI_INT, &o->batch, "batch size (default 64)"},
        {"--accum", CLI_INT, &o->accum, "accumulate gradients over N batches per step (default 1)"},
        {"--optimizer", CLI_STRING, &o->optimizer, "sgd or adam (default sgd)"},
        {"--lr", CLI_FLOAT, &o->lr, "learning rate (default 0.01)"},
        {"--momentum", CLI_FLOAT, &o->momentum, "SGD momentum (default 0.9)"},
        {"--nesterov", CLI_FLAG, &o->nesterov, "Nesterov momentum"},
        {"--weight-decay", CLI_FLOAT, &o->weight_decay, "L2 weight decay added to the gradient (default 0)"},
        {"--schedule", CLI_STRING, &o->schedule, "constant, step:EPOCHS:GAMMA (per epoch), poly:POWER or cosine (per step)"},
        {"--label-smoothing", CLI_FLOAT, &o->label_smoothing, "label smoothing epsilon (default 0)"},
        {"--aux-weight", CLI_FLOAT, &o->aux_weight, "weight of auxiliary classifier losses (default 0.3)"},
        {"--augment", CLI_STRING, &o->augment, "none, flip, crop:PAD or flip,crop:PAD (default none)"},
        {"--dropout", CLI_STRING, &o->dropout, "on or off (default on)"},
        {"--seed", CLI_INT, &o->seed, "seed of initialisation, shuffling, augmentation, dropout (default 0)"},
        {"--no-shuffle", CLI_FLAG, &o->no_shuffle, "keep the data in file order"},
        {"--init", CLI_STRING, &o->init, "start from these weights (.safetensors)"},
        {"--out", CLI_STRING, &o->out, "write the final weights here (atomically)"},
        {"--checkpoint-every", CLI_INT, &o->checkpoint_every, "write the training state every N steps"},
        {"--checkpoint", CLI_STRING, &o->checkpoint, "checkpoint file (default: the --out path + .ckpt)"},
        {"--resume", CLI_STRING, &o->resume, "continue from a checkpoint (same options as the first run)"},
        {"--log", CLI_STRING, &o->log, "per-epoch CSV log"},
        {"--plot", CLI_STRING, &o->plot, "SVG plot of the loss and accuracy curves"},
        {"--threads", CLI_INT, &o->threads, "threads (default: all cores)"},
        {"--check-numerics", CLI_FLAG, &o->check_numerics, "name the first layer that produces a NaN or Inf"},
        CLI_MODEL_OPTIONS(o->model),
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("train", "usage: cnn train MODEL --data SPEC [options]", argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("train", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    if (validate(o)) return 2;
    int status = 1;
    t.model_name = pos[0];
    if (setup(&t, pos[0]) == 0) {
        banner(&t, pos[0]);
        if (loop(&t)) {
            cli_fail_lib("train");
        } else if (o->out) {
            float mean[3], std[3];
            int64_t c, h, w;
            cnn_dataset_normalization(t.data, mean, std);
            cnn_dataset_shape(t.data, &c, &h, &w);
            char norm_mean[96], norm_std[96], channels[16], classes[4096], input[64], n_classes[32];
            int64_t in[CNN_MAX_RANK];
            cnn_node_shape(cnn_graph_input(t.g, 0), in);
            snprintf(input, sizeof input, "%lldx%lldx%lld", (long long)in[1], (long long)in[2], (long long)in[3]);
            snprintf(n_classes, sizeof n_classes, "%lld", (long long)cnn_dataset_classes(t.data));
            snprintf(norm_mean, sizeof norm_mean, "%g,%g,%g", mean[0], mean[1], mean[2]);
            snprintf(norm_std, sizeof norm_std, "%g,%g,%g", std[0], std[1], std[2]);
            snprintf(channels, sizeof channels, "%lld", (long long)c);
            size_t used = 0;
            classes[0] = 0;
            for (int64_t k = 0; k < cnn_dataset_classes(t.data) && used < sizeof classes - 64; k++)
                used += (size_t)snprintf(classes + used, sizeof classes - used, "%s%s", k ? "\n" : "", cnn_dataset_class_name(t.data, k));
            const char *keys[] = {"cnn.normalize_mean", "cnn.normalize_std", "cnn.data_channels", "cnn.class_names", "cnn.input",
                                  "cnn.classes", "cnn.model"};
            const char *values[] = {norm_mean, norm_std, channels, classes, input, n_classes, pos[0]};
            if (cnn_graph_save_weights_meta(t.g, o->out, 7, keys, values)) cli_fail_lib("train");
            else {
                printf("weights written to %s\n", o->out);
                status = 0;
            }
        } else {
            status = 0;
        }
    }
    train_free(&t);
    return status;
}
