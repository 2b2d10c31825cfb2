/* loader.c — batches from a dataset: seeded per-epoch shuffling, channel repeat, crop/flip augmentation, normalisation, and a prefetch thread. */
#include "data.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Tags that keep the random streams of shuffling and augmentation apart. */
#define SHUFFLE_TAG 0x53485546464c4531ull
#define AUGMENT_TAG 0x4155474d454e5431ull

/* The one batch the worker prepares ahead. The worker writes it only while `full` is false;
 * the caller reads it only while `full` is true. */
typedef struct batch_slot {
    float *x;                  /* (batch, C, H, W) */
    int64_t *labels;           /* (batch) */
    int64_t count;
    int status;                /* 0 a batch, 1 end of epoch, -1 an error (message below) */
    int64_t epoch, batch_index;
    char error[1024];
} batch_slot;

struct cnn_loader {
    const cnn_dataset *d;
    cnn_loader_options o;
    int64_t n, batches;                   /* samples and batches per epoch */
    int64_t in_c, in_h, in_w, in_numel;   /* a dataset sample */
    int64_t out_c, out_h, out_w, out_numel; /* a network input */
    float *mean, *std;                    /* [out_c] */

    /* The worker's own. */
    int64_t *order;                       /* (n): the permutation of order_epoch */
    int64_t order_epoch;
    float *sample;                        /* (in_c, in_h, in_w) */

    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    batch_slot slot;
    bool full, quit;
    int64_t fill_epoch, fill_batch;       /* what the worker prepares next */
    uint64_t generation;                  /* bumped by a seek: work begun before it is dropped */

    /* The caller's: where its next batch comes from. */
    int64_t epoch, batch_index;
    pthread_t thread;
    bool thread_started;
};

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A permutation of 0..n-1 that depends only on (seed, epoch): Fisher-Yates from the identity. */
static void shuffle_order(cnn_loader *l, int64_t epoch) {
    for (int64_t i = 0; i < l->n; i++) l->order[i] = i;
    if (l->o.shuffle) {
        cnn_rng r;
        cnn_rng_seed(&r, cnn_hash64(cnn_hash64(l->o.seed ^ SHUFFLE_TAG) + (uint64_t)epoch));
        for (int64_t i = l->n - 1; i > 0; i--) {
            int64_t j = (int64_t)(cnn_rng_next(&r) % (uint64_t)(i + 1));
            int64_t t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    l->order_epoch = epoch;
}

/* The random draws of one sample in one epoch, a pure function of (seed, epoch, index). */
static uint64_t augment_key(const cnn_loader *l, int64_t epoch, int64_t index, uint64_t which) {
    return cnn_hash64(cnn_hash64(cnn_hash64(cnn_hash64(l->o.seed ^ AUGMENT_TAG) + (uint64_t)epoch) + (uint64_t)index) + which);
}

/* sample (in_c,in_h,in_w) -> out (out_c,out_h,out_w): the window at (oy,ox) of the image
 * zero-padded by crop_pad (random with crop_pad > 0, else centred), mirrored when flipped, grey
 * repeated over the channels, then (x - mean) / std — torchvision's RandomCrop(padding),
 * RandomHorizontalFlip, ToTensor, Normalize in that order. */
static void transform_sample(const cnn_loader *l, const float *sample, float *out, int64_t epoch, int64_t index) {
    int64_t pad = l->o.crop_pad;
    int64_t range_y = l->in_h + 2 * pad - l->out_h, range_x = l->in_w + 2 * pad - l->out_w;
    int64_t oy, ox;
    if (pad > 0) {
        oy = (int64_t)(augment_key(l, epoch, index, 1) % (uint64_t)(range_y + 1));
        ox = (int64_t)(augment_key(l, epoch, index, 2) % (uint64_t)(range_x + 1));
    } else {
        oy = cnn_centre_offset(l->in_h, l->out_h);
        ox = cnn_centre_offset(l->in_w, l->out_w);
    }
    bool flip = l->o.flip && (augment_key(l, epoch, index, 3) & 1);
    for (int64_t c = 0; c < l->out_c; c++) {
        const float *src = sample + (l->in_c == 1 ? 0 : c) * l->in_h * l->in_w;
        float mean = l->mean[c], std = l->std[c];
        for (int64_t y = 0; y < l->out_h; y++) {
            float *dst = out + (c * l->out_h + y) * l->out_w;
            int64_t sy = y + oy - pad;
            bool row_inside = sy >= 0 && sy < l->in_h;
            for (int64_t x = 0; x < l->out_w; x++) {
                int64_t sx = (flip ? l->out_w - 1 - x : x) + ox - pad;
                float v = row_inside && sx >= 0 && sx < l->in_w ? src[sy * l->in_w + sx] : 0.0f;
                dst[x] = l->o.normalize ? (v - mean) / std : v;
            }
        }
    }
}

/* Fills the slot with batch `b` of `epoch` (b == batches: the end-of-epoch marker). Runs on the
 * worker thread without the lock. */
static void prepare_batch(cnn_loader *l, int64_t epoch, int64_t b) {
    batch_slot *s = &l->slot;
    s->epoch = epoch;
    s->batch_index = b;
    s->count = 0;
    s->status = 1;
    if (b >= l->batches) return;
    if (l->order_epoch != epoch) shuffle_order(l, epoch);
    int64_t first = b * l->o.batch;
    int64_t count = l->n - first < l->o.batch ? l->n - first : l->o.batch;
    for (int64_t j = 0; j < count; j++) {
        int64_t index = l->order[first + j];
        if (cnn_dataset_get(l->d, index, l->sample, &s->labels[j])) {
            snprintf(s->error, sizeof s->error, "%s", cnn_last_error());
            s->status = -1;
            return;
        }
        transform_sample(l, l->sample, s->x + j * l->out_numel, epoch, index);
    }
    s->count = count;
    s->status = 0;
}

static void advance(const cnn_loader *l, int64_t *epoch, int64_t *b) {
    if (*b >= l->batches) {
        (*epoch)++;
        *b = 0;
    } else {
        (*b)++;
    }
}

static void *worker_main(void *arg) {
    cnn_loader *l = arg;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->quit && l->full) pthread_cond_wait(&l->changed, &l->lock);
        if (l->quit) break;
        int64_t epoch = l->fill_epoch, b = l->fill_batch;
        uint64_t generation = l->generation;
        pthread_mutex_unlock(&l->lock);
        prepare_batch(l, epoch, b);
        pthread_mutex_lock(&l->lock);
        if (generation != l->generation) continue; /* a seek came meanwhile: prepare its batch instead */
        l->full = true;
        if (l->slot.status != -1) advance(l, &l->fill_epoch, &l->fill_batch);
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

void cnn_loader_free(cnn_loader *l) {
    if (!l) return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->lock);
        l->quit = true;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->changed);
        pthread_mutex_destroy(&l->lock);
    }
    free(l->mean);
    free(l->std);
    free(l->order);
    free(l->sample);
    free(l->slot.x);
    free(l->slot.labels);
    free(l);
}

static const char *shape_text(char *buf, size_t size, int64_t c, int64_t h, int64_t w) {
    snprintf(buf, size, "%lldx%lldx%lld", (long long)c, (long long)h, (long long)w);
    return buf;
}

cnn_loader *cnn_loader_create(const cnn_dataset *d, const cnn_loader_options *o) {
    if (!d || !o) return cnn_fail_null("loader: NULL dataset or options");
    if (o->batch <= 0) return cnn_fail_null("loader: batch size %lld (must be at least 1)", (long long)o->batch);
    if (o->crop_pad < 0 || o->crop_pad > 4096) return cnn_fail_null("loader: crop padding %d out of range", o->crop_pad);
    if (o->channels < 0 || o->height < 0 || o->width < 0) return cnn_fail_null("loader: negative input shape");
    int64_t in_c, in_h, in_w;
    cnn_dataset_shape(d, &in_c, &in_h, &in_w);
    int64_t out_c = o->channels ? o->channels : in_c, out_h = o->height ? o->height : in_h, out_w = o->width ? o->width : in_w;
    char net[64], data[64];
    shape_text(net, sizeof net, out_c, out_h, out_w);
    shape_text(data, sizeof data, in_c, in_h, in_w);
    if (out_c != in_c && !(in_c == 1 && out_c == 3))
        return cnn_fail_null("loader: the network takes %lld-channel input (%s) but dataset '%s' has %lld-channel images (%s)",
                             (long long)out_c, net, d->spec, (long long)in_c, data);
    if (out_h > in_h + 2 * (int64_t)o->crop_pad || out_w > in_w + 2 * (int64_t)o->crop_pad)
        return cnn_fail_null("loader: the network's input %s is larger than the images of dataset '%s' (%s%s)", net, d->spec,
                             data, o->crop_pad ? ", before padding" : "");
    int64_t n = cnn_dataset_size(d);
    if (o->drop_last && n < o->batch)
        return cnn_fail_null("loader: dataset '%s' has %lld samples, fewer than one batch of %lld (drop_last)", d->spec,
                             (long long)n, (long long)o->batch);
    int64_t out_numel = cnn_mul_i64(cnn_mul_i64(out_c, out_h), out_w);
    int64_t batch_numel = cnn_mul_i64(out_numel, o->batch);
    if (out_numel <= 0 || batch_numel < 0) return cnn_fail_null("loader: batch of %lld x %s is too large", (long long)o->batch, net);

    cnn_loader *l = cnn_calloc(1, sizeof *l, "loader");
    if (!l) return NULL;
    l->d = d;
    l->o = *o;
    l->n = n;
    l->batches = o->drop_last ? n / o->batch : (n + o->batch - 1) / o->batch;
    l->in_c = in_c;
    l->in_h = in_h;
    l->in_w = in_w;
    l->in_numel = in_c * in_h * in_w;
    l->out_c = out_c;
    l->out_h = out_h;
    l->out_w = out_w;
    l->out_numel = out_numel;
    l->order_epoch = -1;
    l->mean = cnn_calloc((size_t)out_c, sizeof(float), "loader");
    l->std = cnn_calloc((size_t)out_c, sizeof(float), "loader");
    l->order = cnn_calloc((size_t)n, sizeof(int64_t), "loader order");
    l->sample = cnn_calloc((size_t)l->in_numel, sizeof(float), "loader sample");
    l->slot.x = cnn_calloc((size_t)batch_numel, sizeof(float), "loader batch");
    l->slot.labels = cnn_calloc((size_t)o->batch, sizeof(int64_t), "loader labels");
    if (!l->mean || !l->std || !l->order || !l->sample || !l->slot.x || !l->slot.labels) {
        cnn_loader_free(l);
        return NULL;
    }
    float mean[3], std[3];
    cnn_dataset_normalization(d, mean, std);
    for (int64_t c = 0; c < out_c; c++) {
        l->mean[c] = mean[c < 3 ? c : 2];
        l->std[c] = std[c < 3 ? c : 2];
        if (o->normalize && !(l->std[c] > 0.0f)) {
            cnn_loader_free(l);
            return cnn_fail_null("loader: dataset '%s' has a non-positive standard deviation", d->spec);
        }
    }
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        cnn_loader_free(l);
        return cnn_fail_null("loader: cannot create a mutex");
    }
    if (pthread_cond_init(&l->changed, NULL) != 0) {
        pthread_mutex_destroy(&l->lock);
        cnn_loader_free(l);
        return cnn_fail_null("loader: cannot create a condition variable");
    }
    if (pthread_create(&l->thread, NULL, worker_main, l) != 0) {
        pthread_cond_destroy(&l->changed);
        pthread_mutex_destroy(&l->lock);
        cnn_loader_free(l);
        return cnn_fail_null("loader: cannot start the prefetch thread");
    }
    l->thread_started = true;
    return l;
}

int64_t cnn_loader_batches_per_epoch(const cnn_loader *l) { return l ? l->batches : 0; }

int cnn_loader_next(cnn_loader *l, float *x, int64_t *labels, int64_t *count, double *wait_seconds) {
    if (wait_seconds) *wait_seconds = 0;
    if (!l || !x || !labels || !count) return cnn_fail("loader: NULL argument to cnn_loader_next");
    char error[sizeof l->slot.error];
    pthread_mutex_lock(&l->lock);
    double start = now_seconds();
    while (!l->full) pthread_cond_wait(&l->changed, &l->lock);
    if (wait_seconds) *wait_seconds = now_seconds() - start;
    batch_slot *s = &l->slot;
    int status = s->status;
    if (status == 0) {
        memcpy(x, s->x, (size_t)(s->count * l->out_numel) * sizeof(float));
        memcpy(labels, s->labels, (size_t)s->count * sizeof(int64_t));
        *count = s->count;
    } else {
        *count = 0;
    }
    if (status == -1) {
        memcpy(error, s->error, sizeof error);
    } else {
        l->epoch = s->epoch;
        l->batch_index = s->batch_index;
        advance(l, &l->epoch, &l->batch_index);
    }
    l->full = false;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    if (status == -1) return cnn_fail("%s", error);
    return status;
}

void cnn_loader_position(const cnn_loader *l, int64_t *epoch, int64_t *batch_index) {
    if (epoch) *epoch = l ? l->epoch : 0;
    if (batch_index) *batch_index = l ? l->batch_index : 0;
}

int cnn_loader_seek(cnn_loader *l, int64_t epoch, int64_t batch_index) {
    if (!l) return cnn_fail("loader: NULL");
    if (epoch < 0 || batch_index < 0 || batch_index > l->batches)
        return cnn_fail("loader: cannot seek to epoch %lld batch %lld (%lld batches per epoch)", (long long)epoch,
                        (long long)batch_index, (long long)l->batches);
    pthread_mutex_lock(&l->lock);
    l->generation++;
    l->fill_epoch = epoch;
    l->fill_batch = batch_index;
    l->full = false;
    l->epoch = epoch;
    l->batch_index = batch_index;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    return 0;
}
