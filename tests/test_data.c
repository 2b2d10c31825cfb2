/* test_data.c — datasets (Fashion-MNIST, IDX, CIFAR, npy, image folders), their refusals, and the loader: shuffling,
 * augmentation, seek, channel repeat, prefetch errors. Usage: test_data REF_DIR (fixtures in REF_DIR/data, written by
 * tests/ref/gen_data.py, which also computes the expected values with numpy, PIL and torch). */
#include "cnn.h"
#include "harness.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char data_dir[1024] = "build/ref/data";
static cJSON *ref;

static const char *path_of(const char *fmt, const char *name) {
    static char buf[4][2048];
    static int which;
    which = (which + 1) % 4;
    char spec[1024];
    snprintf(spec, sizeof spec, fmt, name ? name : "");
    snprintf(buf[which], sizeof buf[which], "%s/%s", data_dir, spec);
    return buf[which];
}

/* "kind:<data_dir>/rest" */
static const char *spec_of(const char *kind, const char *rest) {
    static char buf[4][2048];
    static int which;
    which = (which + 1) % 4;
    snprintf(buf[which], sizeof buf[which], "%s:%s/%s", kind, data_dir, rest);
    return buf[which];
}

static bool has(const char *needle) { return strstr(cnn_last_error(), needle) != NULL; }

static cJSON *get(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

static double num(const cJSON *arr, int i) { return cJSON_GetArrayItem(arr, i)->valuedouble; }

static float *alloc_floats(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* ---- Fashion-MNIST: the real files ---- */

static int fashion_mnist_real(void *arg) {
    (void)arg;
    const cJSON *fashion = get(ref, "fashion");
    CHECK(fashion && !cJSON_IsNull(fashion), "Fashion-MNIST is not installed at %s (apt-get install dataset-fashion-mnist)",
          get(ref, "fashion_dir")->valuestring);
    const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    for (int split = 0; split < 2; split++) {
        const cJSON *r = get(fashion, split ? "test" : "train");
        /* The default directory for train, the explicit one for test. */
        char spec[1100];
        snprintf(spec, sizeof spec, split ? "fashion-mnist:%s" : "fashion-mnist", get(ref, "fashion_dir")->valuestring);
        cnn_dataset *d = cnn_dataset_open(spec, split ? CNN_SPLIT_TEST : CNN_SPLIT_TRAIN, 0, 0);
        CHECK(d, "%s", cnn_last_error());
        int64_t n = cnn_dataset_size(d), c, h, w;
        cnn_dataset_shape(d, &c, &h, &w);
        CHECK(n == (int64_t)get(r, "n")->valuedouble && n == (split ? 10000 : 60000), "size %lld", (long long)n);
        CHECK(c == 1 && h == 28 && w == 28, "shape %lldx%lldx%lld", (long long)c, (long long)h, (long long)w);
        CHECK(cnn_dataset_classes(d) == 10, "classes");
        for (int k = 0; k < 10; k++) CHECK(strcmp(cnn_dataset_class_name(d, k), names[k]) == 0, "class %d", k);
        CHECK(cnn_dataset_class_name(d, 10) == NULL, "class 10 has a name");
        float mean[3], std[3];
        cnn_dataset_normalization(d, mean, std);
        CHECK(mean[0] == 0.2860f && std[0] == 0.3530f && mean[2] == 0.2860f, "normalisation %g %g", mean[0], std[0]);
        /* Every pixel back to its byte: the total and an order-sensitive weighted sum, as in gen_data.py. */
        float x[784];
        int64_t label, histogram[10] = {0};
        long long total = 0, weighted = 0;
        const cJSON *first_labels = get(r, "first_labels");
        for (int64_t i = 0; i < n; i++) {
            CHECK(cnn_dataset_get(d, i, x, &label) == 0, "%s", cnn_last_error());
            long long sum = 0;
            for (int j = 0; j < 784; j++) sum += lrintf(x[j] * 255.0f);
            total += sum;
            weighted += sum * (i % 1000 + 1);
            histogram[label]++;
            if (i < 20) CHECK(label == (int64_t)num(first_labels, (int)i), "label %lld", (long long)i);
            if (i == 0 || i == n - 1) {
                const cJSON *img = get(r, i ? "last_image" : "first_image");
                for (int j = 0; j < 784; j++) CHECK(x[j] == (float)num(img, j) / 255.0f, "image %lld pixel %d", (long long)i, j);
            }
        }
        CHECK(total == (long long)get(r, "pixel_sum")->valuedouble, "pixel sum %lld", total);
        CHECK(weighted == (long long)get(r, "weighted_sum")->valuedouble, "weighted sum %lld", weighted);
        for (int k = 0; k < 10; k++) CHECK(histogram[k] == (int64_t)num(get(r, "histogram"), k), "histogram %d", k);
        cnn_dataset_free(d);
    }
    return 0;
}

/* A whole shuffled, augmented epoch of the real training set: every sample exactly once. */
static int fashion_mnist_loader_epoch(void *arg) {
    (void)arg;
    const cJSON *fashion = get(ref, "fashion");
    CHECK(fashion && !cJSON_IsNull(fashion), "Fashion-MNIST is not installed");
    cnn_dataset *d = cnn_dataset_open("fashion-mnist", CNN_SPLIT_TRAIN, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    cnn_loader_options o = {.batch = 256, .shuffle = true, .seed = 5, .normalize = true, .flip = true, .crop_pad = 2};
    cnn_loader *l = cnn_loader_create(d, &o);
    CHECK(l, "%s", cnn_last_error());
    CHECK(cnn_loader_batches_per_epoch(l) == 235, "batches %lld", (long long)cnn_loader_batches_per_epoch(l));
    float *x = alloc_floats(4096 * 784);
    int64_t labels[4096], count, histogram[10] = {0}, seen = 0;
    double waited = 0, wait;
    int rc;
    while ((rc = cnn_loader_next(l, x, labels, &count, &wait)) == 0) {
        for (int64_t j = 0; j < count; j++) histogram[labels[j]]++;
        seen += count;
        waited += wait;
        CHECK(wait >= 0 && isfinite(wait), "wait %g", wait);
    }
    cnn_loader_free(l);
    CHECK(rc == 1 && seen == 60000, "rc %d seen %lld", rc, (long long)seen);
    for (int k = 0; k < 10; k++) CHECK(histogram[k] == (int64_t)num(get(get(fashion, "train"), "histogram"), k), "class %d", k);
    /* A seek while the prefetch thread is busy with a large first batch: its work is dropped. */
    o.batch = 4096;
    float *y = alloc_floats(4096 * 784);
    int64_t more_labels[4096], count2;
    l = cnn_loader_create(d, &o);
    cnn_loader *m = cnn_loader_create(d, &o);
    CHECK(l && m, "%s", cnn_last_error());
    nanosleep(&(struct timespec){.tv_nsec = 3000000}, NULL); /* let m's thread start on batch (0,0) */
    CHECK(cnn_loader_seek(m, 2, 1) == 0, "%s", cnn_last_error());
    CHECK(cnn_loader_seek(l, 2, 0) == 0 && cnn_loader_next(l, x, labels, &count, NULL) == 0, "%s", cnn_last_error());
    CHECK(cnn_loader_next(l, x, labels, &count, NULL) == 0 && cnn_loader_next(m, y, more_labels, &count2, NULL) == 0, "%s",
          cnn_last_error());
    CHECK(count == 4096 && count2 == 4096 && memcmp(x, y, sizeof(float) * 4096 * 784) == 0, "seek during prefetch");
    cnn_loader_free(l);
    cnn_loader_free(m);
    free(x);
    free(y);
    cnn_dataset_free(d);
    return 0;
}

/* ---- small IDX, CIFAR, npy ---- */

static int check_pixels(cnn_dataset *d, const cJSON *pixels, const cJSON *labels, int64_t n, int64_t numel) {
    CHECK(cnn_dataset_size(d) == n, "size %lld, want %lld", (long long)cnn_dataset_size(d), (long long)n);
    float *x = alloc_floats(numel);
    for (int64_t i = 0; i < n; i++) {
        int64_t label;
        int ok = cnn_dataset_get(d, i, x, &label) == 0;
        int64_t want = (int64_t)num(labels, (int)i);
        int bad = -1;
        for (int64_t j = 0; ok && j < numel && pixels; j++)
            if (x[j] != (float)num(pixels, (int)(i * numel + j)) / 255.0f) bad = (int)j;
        if (!ok || label != want || bad >= 0) {
            free(x);
            CHECK(ok, "%s", cnn_last_error());
            CHECK(label == want, "sample %lld label %lld, want %lld", (long long)i, (long long)label, (long long)want);
            CHECK(0, "sample %lld element %d", (long long)i, bad);
        }
    }
    free(x);
    return 0;
}

static int idx_small(void *arg) {
    (void)arg;
    const cJSON *r = get(ref, "mnist");
    cnn_dataset *d = cnn_dataset_open(spec_of("mnist", "mnist"), CNN_SPLIT_TRAIN, 0, 0); /* plain files */
    CHECK(d, "%s", cnn_last_error());
    int64_t c, h, w;
    cnn_dataset_shape(d, &c, &h, &w);
    CHECK(c == 1 && h == 5 && w == 4, "shape %lldx%lldx%lld (rows 5, columns 4)", (long long)c, (long long)h, (long long)w);
    CHECK(strcmp(cnn_dataset_class_name(d, 7), "7") == 0, "digit names");
    float mean[3], std[3];
    cnn_dataset_normalization(d, mean, std);
    CHECK(mean[0] == 0.1307f && std[0] == 0.3081f, "MNIST normalisation");
    int rc = check_pixels(d, get(r, "train_pixels"), get(r, "train_labels"), 7, 20);
    cnn_dataset_free(d);
    if (rc) return rc;
    d = cnn_dataset_open(spec_of("mnist", "mnist"), CNN_SPLIT_TEST, 0, 0); /* gzip files */
    CHECK(d, "%s", cnn_last_error());
    rc = check_pixels(d, get(r, "test_pixels"), get(r, "test_labels"), 3, 20);
    cnn_dataset_free(d);
    return rc;
}

/* Opening `spec` fails with a message containing every one of the strings. */
static int refused(const char *spec, cnn_split split, const char *a, const char *b) {
    cnn_clear_error();
    cnn_dataset *d = cnn_dataset_open(spec, split, 0, 0);
    if (d) cnn_dataset_free(d);
    CHECK(!d, "%s accepted", spec);
    CHECK(has(a) && (!b || has(b)), "%s: message '%s' lacks '%s' / '%s'", spec, cnn_last_error(), a, b ? b : "");
    CHECK(!strchr(cnn_last_error(), '\n'), "multi-line message");
    return 0;
}

static int idx_refusals(void *arg) {
    (void)arg;
    const char *images = "%s/train-images-idx3-ubyte.gz", *labels = "%s/train-labels-idx1-ubyte.gz";
    if (refused(spec_of("mnist", "idx_magic"), CNN_SPLIT_TRAIN, path_of(images, "idx_magic"), "not an IDX image file (magic 0x00000801, want 0x00000803)")) return -1;
    if (refused(spec_of("mnist", "idx_truncated"), CNN_SPLIT_TRAIN, path_of(images, "idx_truncated"), "truncated IDX file (130 of 140 data bytes)")) return -1;
    if (refused(spec_of("mnist", "idx_truncated_gz"), CNN_SPLIT_TRAIN, path_of(images, "idx_truncated_gz"), "truncated")) return -1;
    if (refused(spec_of("mnist", "idx_label_magic"), CNN_SPLIT_TRAIN, path_of(labels, "idx_label_magic"), "not an IDX label file")) return -1;
    if (refused(spec_of("mnist", "idx_count"), CNN_SPLIT_TRAIN, path_of(labels, "idx_count"), "6 labels for the 7 images")) return -1;
    if (refused(spec_of("mnist", "idx_label"), CNN_SPLIT_TRAIN, path_of(labels, "idx_label"), "label 10 of sample 3 is outside the 10 classes")) return -1;
    if (refused(spec_of("mnist", "idx_label"), CNN_SPLIT_TEST, "no t10k-images-idx3-ubyte[.gz] file", NULL)) return -1;
    if (refused(spec_of("fashion-mnist", "nowhere"), CNN_SPLIT_TRAIN, "nowhere: no train-images", "dataset-fashion-mnist")) return -1;
    return 0;
}

static int cifar_small(void *arg) {
    (void)arg;
    const cJSON *r = get(ref, "cifar10");
    cnn_dataset *d = cnn_dataset_open(spec_of("cifar10", "cifar10"), CNN_SPLIT_TRAIN, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    int64_t c, h, w;
    cnn_dataset_shape(d, &c, &h, &w);
    CHECK(c == 3 && h == 32 && w == 32 && cnn_dataset_classes(d) == 10, "shape");
    for (int k = 0; k < 10; k++)
        CHECK(strcmp(cnn_dataset_class_name(d, k), cJSON_GetArrayItem(get(r, "names"), k)->valuestring) == 0, "name %d", k);
    float mean[3], std[3];
    cnn_dataset_normalization(d, mean, std);
    CHECK(mean[1] == 0.4822f && std[2] == 0.2616f, "CIFAR-10 normalisation");
    int rc = check_pixels(d, get(r, "train_pixels"), get(r, "train_labels"), 6, 3072);
    cnn_dataset_free(d);
    if (rc) return rc;
    d = cnn_dataset_open(spec_of("cifar10", "cifar10"), CNN_SPLIT_TEST, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    rc = check_pixels(d, get(r, "test_pixels"), get(r, "test_labels"), 3, 3072);
    cnn_dataset_free(d);
    if (rc) return rc;
    /* CIFAR-100 inside the archive's own folder; fine labels and names. */
    r = get(ref, "cifar100");
    d = cnn_dataset_open(spec_of("cifar100", "cifar100"), CNN_SPLIT_TRAIN, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    CHECK(cnn_dataset_classes(d) == 100 && strcmp(cnn_dataset_class_name(d, 42), "fine42") == 0, "CIFAR-100 names");
    rc = check_pixels(d, get(r, "train_pixels"), get(r, "train_labels"), 4, 3072);
    cnn_dataset_free(d);
    if (rc) return rc;
    d = cnn_dataset_open(spec_of("cifar100", "cifar100"), CNN_SPLIT_TEST, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    rc = check_pixels(d, NULL, get(r, "test_labels"), 2, 3072);
    cnn_dataset_free(d);
    return rc;
}

static int cifar_refusals(void *arg) {
    (void)arg;
    if (refused(spec_of("cifar10", "cifar_truncated"), CNN_SPLIT_TRAIN, path_of("%s/data_batch_3.bin", "cifar_truncated"),
                "3072 bytes is not a whole number of 3073-byte CIFAR-10 records")) return -1;
    if (refused(spec_of("cifar10", "cifar_label"), CNN_SPLIT_TEST, path_of("%s/test_batch.bin", "cifar_label"),
                "label 10 of record 1 is outside the 10 classes")) return -1;
    if (refused(spec_of("cifar100", "cifar100_label"), CNN_SPLIT_TEST, path_of("%s/test.bin", "cifar100_label"),
                "label 100 of record 0 is outside the 100 classes")) return -1;
    if (refused(spec_of("cifar10", "cifar_names"), CNN_SPLIT_TEST, path_of("%s/batches.meta.txt", "cifar_names"),
                "2 class names, want 10")) return -1;
    if (refused(spec_of("cifar10", "cifar_label"), CNN_SPLIT_TRAIN, "no CIFAR-10 file data_batch_1.bin", NULL)) return -1;
    if (refused(spec_of("cifar100", "cifar10"), CNN_SPLIT_TRAIN, "no CIFAR-100 file train.bin", NULL)) return -1;
    return 0;
}

static int npy_small(void *arg) {
    (void)arg;
    const cJSON *r = get(ref, "npy");
    char spec[4200];
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/x_f32.npy", NULL), path_of("npy/y_i64.npy", NULL));
    cnn_dataset *d = cnn_dataset_open(spec, CNN_SPLIT_TEST, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    int64_t c, h, w;
    cnn_dataset_shape(d, &c, &h, &w);
    CHECK(cnn_dataset_size(d) == 5 && c == 2 && h == 3 && w == 4, "shape");
    CHECK(cnn_dataset_classes(d) == 4 && strcmp(cnn_dataset_class_name(d, 3), "3") == 0, "classes = max label + 1");
    float x[24], mean[3], std[3];
    cnn_dataset_normalization(d, mean, std);
    CHECK(mean[0] == 0 && std[0] == 1, "npy normalisation");
    for (int i = 0; i < 5; i++) {
        int64_t label;
        CHECK(cnn_dataset_get(d, i, x, &label) == 0, "%s", cnn_last_error());
        CHECK(label == (int64_t)num(get(r, "y_i64"), i), "label %d", i);
        for (int j = 0; j < 24; j++) CHECK(x[j] == (float)num(get(r, "x_f32"), i * 24 + j), "sample %d element %d", i, j);
    }
    CHECK(cnn_dataset_get(d, 5, x, NULL) != 0 && has("sample 5 out of range"), "%s", cnn_last_error());
    cnn_dataset_free(d);
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/x_u8.npy", NULL), path_of("npy/y_i32.npy", NULL));
    d = cnn_dataset_open(spec, CNN_SPLIT_TRAIN, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    CHECK(cnn_dataset_classes(d) == 7, "uint8/int32 classes");
    int rc = check_pixels(d, get(r, "x_u8"), get(r, "y_i32"), 4, 9);
    cnn_dataset_free(d);
    return rc;
}

static int npy_refusals(void *arg) {
    (void)arg;
    char spec[4200];
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/x_f32.npy", NULL), path_of("npy/y_short.npy", NULL));
    if (refused(spec, CNN_SPLIT_TRAIN, "x_f32.npy has 5 samples but", "y_short.npy has 4 labels")) return -1;
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/x_f32.npy", NULL), path_of("npy/y_neg.npy", NULL));
    if (refused(spec, CNN_SPLIT_TRAIN, path_of("npy/y_neg.npy", NULL), "label -1 of sample 2 is negative")) return -1;
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/x_f32.npy", NULL), path_of("npy/y_float.npy", NULL));
    if (refused(spec, CNN_SPLIT_TRAIN, path_of("npy/y_float.npy", NULL), "int64 or int32")) return -1;
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/y_i64.npy", NULL), path_of("npy/y_i64.npy", NULL));
    if (refused(spec, CNN_SPLIT_TRAIN, path_of("npy/y_i64.npy", NULL), "(N,C,H,W)")) return -1;
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("npy/missing.npy", NULL), path_of("npy/y_i64.npy", NULL));
    if (refused(spec, CNN_SPLIT_TRAIN, path_of("npy/missing.npy", NULL), "cannot open")) return -1;
    if (refused("npy:only_one.npy", CNN_SPLIT_TRAIN, "want npy:X.npy,Y.npy", NULL)) return -1;
    return 0;
}

static int spec_refusals(void *arg) {
    (void)arg;
    if (refused("imagenet:/data", CNN_SPLIT_TRAIN, "unknown kind 'imagenet'", "fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, npy:X.npy,Y.npy")) return -1;
    if (refused("mnist", CNN_SPLIT_TRAIN, "mnist needs DIR", NULL)) return -1;
    if (refused("mnistx:/a", CNN_SPLIT_TRAIN, "unknown kind 'mnistx'", NULL)) return -1;
    if (refused("", CNN_SPLIT_TRAIN, "empty spec", NULL)) return -1;
    return 0;
}

/* ---- image folders ---- */

static int folder_split(const char *split_name, cnn_split split) {
    const cJSON *r = get(get(ref, "folder"), split_name);
    cnn_dataset *d = cnn_dataset_open(spec_of("folder", "folder"), split, 4, 5);
    CHECK(d, "%s", cnn_last_error());
    int n = cJSON_GetArraySize(r);
    CHECK(cnn_dataset_size(d) == n, "%s: %lld images, want %d", split_name, (long long)cnn_dataset_size(d), n);
    CHECK(cnn_dataset_classes(d) == 3 && strcmp(cnn_dataset_class_name(d, 0), "cat") == 0 &&
              strcmp(cnn_dataset_class_name(d, 2), "fish") == 0, "classes");
    int64_t c, h, w;
    cnn_dataset_shape(d, &c, &h, &w);
    CHECK(c == 3 && h == 4 && w == 5, "shape");
    float x[60];
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(r, i);
        int64_t label;
        CHECK(cnn_dataset_get(d, i, x, &label) == 0, "%s", cnn_last_error());
        const char *file = get(e, "file")->valuestring;
        CHECK(label == (int64_t)get(e, "label")->valuedouble, "%s: label %lld", file, (long long)label);
        double tolerance = cJSON_IsTrue(get(e, "exact")) ? 0 : 2.5 / 255; /* JPEG: PIL's libjpeg may differ */
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < 20; p++) {
                double want = num(get(e, "pixels"), p * 3 + ch) / 255.0;
                float got = x[ch * 20 + p];
                CHECK(fabs(got - want) <= tolerance + 1e-7, "%s: channel %d pixel %d: %g, want %g", file, ch, p, got, want);
            }
    }
    cnn_dataset_free(d);
    return 0;
}

static int folder_images(void *arg) {
    (void)arg;
    if (!cJSON_IsTrue(get(get(ref, "folder"), "jpeg"))) printf("note: no PIL when the fixtures were made, JPEG cases left out\n");
    if (folder_split("train", CNN_SPLIT_TRAIN)) return -1;
    return folder_split("test", CNN_SPLIT_TEST);
}

/* Bilinear with antialiasing + centre crop against torch / torchvision. */
static int folder_resize(void *arg) {
    (void)arg;
    const cJSON *cases = get(get(ref, "folder"), "resize");
    for (int i = 0; i < cJSON_GetArraySize(cases); i++) {
        const cJSON *cs = cJSON_GetArrayItem(cases, i);
        int64_t th = (int64_t)get(cs, "height")->valuedouble, tw = (int64_t)get(cs, "width")->valuedouble;
        cnn_dataset *d = cnn_dataset_open(spec_of("folder", "folder_resize"), CNN_SPLIT_TRAIN, th, tw);
        CHECK(d, "%s", cnn_last_error());
        float *x = alloc_floats(3 * th * tw);
        for (int k = 0; k < 2; k++) {
            int ok = cnn_dataset_get(d, k, x, NULL) == 0;
            const cJSON *want = cJSON_GetArrayItem(get(cs, "images"), k);
            double worst = 0;
            for (int64_t j = 0; ok && j < 3 * th * tw; j++) worst = fmax(worst, fabs(x[j] - num(want, (int)j)));
            if (!ok || worst > 2e-6) {
                free(x);
                cnn_dataset_free(d);
                CHECK(ok, "%s", cnn_last_error());
                CHECK(0, "image %d to %lldx%lld: max diff %g from torch", k, (long long)th, (long long)tw, worst);
            }
        }
        free(x);
        cnn_dataset_free(d);
    }
    return 0;
}

static int folder_refusals(void *arg) {
    (void)arg;
    cnn_dataset *d = cnn_dataset_open(spec_of("folder", "folder_bad"), CNN_SPLIT_TRAIN, 4, 5);
    CHECK(d, "%s", cnn_last_error()); /* images are decoded when read */
    float x[60];
    int64_t label;
    CHECK(cnn_dataset_get(d, 1, x, &label) == 0, "%s", cnn_last_error()); /* a/ok.png */
    struct { int64_t index; const char *file, *why; } bad[] = {
        {0, "folder_bad/a/broken.png", "cannot decode image"},
        {2, "folder_bad/b/short.png", "cannot decode image"},
        {3, "folder_bad/b/text.png", "not a PNG or JPEG file"},
        {4, "folder_bad/b/trunc.jpg", "Premature end of JPEG file"},
    };
    int n_bad = cJSON_IsTrue(get(get(ref, "folder"), "jpeg")) ? 4 : 3;
    CHECK(cnn_dataset_size(d) == n_bad + 1, "size %lld", (long long)cnn_dataset_size(d));
    for (int i = 0; i < n_bad; i++) {
        int rc = cnn_dataset_get(d, bad[i].index, x, &label);
        CHECK(rc != 0 && has(path_of("%s", bad[i].file)) && has(bad[i].why), "%s: rc %d, '%s'", bad[i].file, rc, cnn_last_error());
    }
    cnn_dataset_free(d);
    if (refused(spec_of("folder", "folder_notclass"), CNN_SPLIT_TEST, path_of("folder_notclass/test/c", NULL), "not a class of")) return -1;
    if (refused(spec_of("folder", "folder_notest"), CNN_SPLIT_TRAIN, "has train/ but no test/ or val/", NULL)) return -1;
    if (refused(spec_of("folder", "folder_noclass"), CNN_SPLIT_TRAIN, "no class sub-folders", NULL)) return -1;
    if (refused(spec_of("folder", "no_such_folder"), CNN_SPLIT_TRAIN, "no_such_folder: not a folder", NULL)) return -1;
    d = cnn_dataset_open(spec_of("folder", "folder_notclass"), CNN_SPLIT_TRAIN, 0, 0);
    CHECK(d, "%s", cnn_last_error());
    cnn_dataset_shape(d, NULL, &label, NULL);
    CHECK(label == 224, "default folder size %lld", (long long)label);
    cnn_dataset_free(d);
    return 0;
}

/* ---- the loader ---- */

static cnn_dataset *open_npy(const char *x, const char *y) {
    char spec[4200];
    char xp[2048];
    snprintf(xp, sizeof xp, "%s", path_of("npy/%s", x));
    snprintf(spec, sizeof spec, "npy:%s,%s", xp, path_of("npy/%s", y));
    return cnn_dataset_open(spec, CNN_SPLIT_TRAIN, 0, 0);
}

/* The sample index of each batch element in the x_index fixture (every element of sample i is i). */
static int batch_indices(const float *x, int64_t count, int64_t numel, int64_t *out) {
    for (int64_t j = 0; j < count; j++) {
        out[j] = (int64_t)x[j * numel];
        for (int64_t k = 1; k < numel; k++)
            if (x[j * numel + k] != x[j * numel]) return -1;
    }
    return 0;
}

/* Runs `epochs` epochs, writing the sample order (index per position) into order[epoch * n + i]. */
static int record_order(cnn_loader *l, int epochs, int64_t n, int64_t *order) {
    float x[4 * 30];
    int64_t labels[4], count, idx[4];
    for (int e = 0; e < epochs; e++) {
        int64_t at = 0;
        int rc;
        while ((rc = cnn_loader_next(l, x, labels, &count, NULL)) == 0) {
            CHECK(at + count <= n, "too many samples");
            CHECK(batch_indices(x, count, 30, idx) == 0, "sample mixed up");
            for (int64_t j = 0; j < count; j++) {
                CHECK(labels[j] == idx[j] % 3, "label %lld for sample %lld", (long long)labels[j], (long long)idx[j]);
                order[e * n + at++] = idx[j];
            }
        }
        CHECK(rc == 1 && at == n, "epoch %d: rc %d after %lld samples (%s)", e, rc, (long long)at, cnn_last_error());
    }
    return 0;
}

static bool is_permutation(const int64_t *order, int64_t n) {
    bool seen[64] = {false};
    for (int64_t i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]]) return false;
        seen[order[i]] = true;
    }
    return true;
}

static int loader_order(void *arg) {
    (void)arg;
    cnn_dataset *d = open_npy("x_index.npy", "y_index.npy");
    CHECK(d, "%s", cnn_last_error());
    const int64_t n = 23;
    int64_t a[3 * 23], b[3 * 23], c[3 * 23];
    /* In order: 0..22 in batches of 4, 4, ..., 3; then the end marker. */
    cnn_loader_options o = {.batch = 4};
    cnn_loader *l = cnn_loader_create(d, &o);
    CHECK(l && cnn_loader_batches_per_epoch(l) == 6, "%s", cnn_last_error());
    CHECK(record_order(l, 2, n, a) == 0, "in order");
    for (int64_t i = 0; i < 2 * n; i++) CHECK(a[i] == i % n, "position %lld holds %lld", (long long)i, (long long)a[i]);
    cnn_loader_free(l);
    /* Shuffled: a permutation per epoch, the same for the same seed, different across epochs and seeds. */
    o.shuffle = true;
    o.seed = 11;
    l = cnn_loader_create(d, &o);
    CHECK(l && record_order(l, 3, n, a) == 0, "shuffled");
    cnn_loader_free(l);
    l = cnn_loader_create(d, &o);
    CHECK(l && record_order(l, 3, n, b) == 0, "shuffled again");
    cnn_loader_free(l);
    o.seed = 12;
    l = cnn_loader_create(d, &o);
    CHECK(l && record_order(l, 1, n, c) == 0, "other seed");
    cnn_loader_free(l);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, different order");
    for (int e = 0; e < 3; e++) CHECK(is_permutation(a + e * n, n), "epoch %d is not a permutation", e);
    CHECK(memcmp(a, a + n, (size_t)n * sizeof(int64_t)) != 0 && memcmp(a + n, a + 2 * n, (size_t)n * sizeof(int64_t)) != 0,
          "same order in consecutive epochs");
    CHECK(memcmp(a, c, (size_t)n * sizeof(int64_t)) != 0, "seed ignored");
    int64_t identity = 0;
    for (int64_t i = 0; i < n; i++) identity += a[i] == i;
    CHECK(identity < n / 2, "barely shuffled: %lld fixed points", (long long)identity);
    /* drop_last: 5 full batches. */
    o.drop_last = true;
    l = cnn_loader_create(d, &o);
    CHECK(l && cnn_loader_batches_per_epoch(l) == 5, "drop_last batches");
    float x[4 * 30];
    int64_t labels[4], count;
    int batches = 0, rc;
    while ((rc = cnn_loader_next(l, x, labels, &count, NULL)) == 0) batches += count == 4;
    CHECK(rc == 1 && batches == 5, "drop_last: %d full batches, rc %d", batches, rc);
    cnn_loader_free(l);
    cnn_dataset_free(d);
    return 0;
}

/* Seek to a recorded position reproduces what followed it, also on a loader that is mid-epoch. */
static int loader_seek(void *arg) {
    (void)arg;
    cnn_dataset *d = open_npy("x_aug.npy", "y_aug.npy"); /* 7 samples (2,5,6), batches of 3: 3 per epoch */
    CHECK(d, "%s", cnn_last_error());
    cnn_loader_options o = {.batch = 3, .shuffle = true, .seed = 99, .flip = true, .crop_pad = 2};
    enum { STEPS = 13, NUMEL = 60 };
    float rec[STEPS][3 * NUMEL];
    int64_t rec_labels[STEPS][3], rec_count[STEPS], rec_epoch[STEPS], rec_batch[STEPS];
    int rec_rc[STEPS];
    cnn_loader *l = cnn_loader_create(d, &o);
    CHECK(l, "%s", cnn_last_error());
    int64_t e, b;
    cnn_loader_position(l, &e, &b);
    CHECK(e == 0 && b == 0, "start position %lld,%lld", (long long)e, (long long)b);
    for (int s = 0; s < STEPS; s++) {
        cnn_loader_position(l, &rec_epoch[s], &rec_batch[s]);
        rec_rc[s] = cnn_loader_next(l, rec[s], rec_labels[s], &rec_count[s], NULL);
        CHECK(rec_rc[s] >= 0, "%s", cnn_last_error());
    }
    /* 3 batches then the end marker: positions (0,0) (0,1) (0,2) (0,3) (1,0) ... */
    CHECK(rec_rc[3] == 1 && rec_rc[7] == 1 && rec_rc[4] == 0 && rec_count[2] == 1, "epoch layout");
    CHECK(rec_epoch[5] == 1 && rec_batch[5] == 1 && rec_epoch[3] == 0 && rec_batch[3] == 3, "positions");
    cnn_loader_free(l);
    int starts[] = {5, 3, 9, 0, 12};
    l = cnn_loader_create(d, &o);
    CHECK(l, "%s", cnn_last_error());
    float x[3 * NUMEL];
    int64_t labels[3], count;
    for (int k = 0; k < 5; k++) {
        int s0 = starts[k];
        if (k == 2) { /* consume a little first, so the seek lands on a loader with a prefetched batch */
            cnn_loader_next(l, x, labels, &count, NULL);
            cnn_loader_next(l, x, labels, &count, NULL);
        }
        CHECK(cnn_loader_seek(l, rec_epoch[s0], rec_batch[s0]) == 0, "%s", cnn_last_error());
        for (int s = s0; s < STEPS; s++) {
            int rc = cnn_loader_next(l, x, labels, &count, NULL);
            CHECK(rc == rec_rc[s], "from step %d: step %d rc %d, want %d", s0, s, rc, rec_rc[s]);
            if (rc == 0) {
                CHECK(count == rec_count[s] && memcmp(labels, rec_labels[s], (size_t)count * sizeof(int64_t)) == 0, "labels at step %d", s);
                CHECK(memcmp(x, rec[s], (size_t)(count * NUMEL) * sizeof(float)) == 0, "data at step %d after seek to step %d", s, s0);
            }
        }
    }
    CHECK(cnn_loader_seek(l, 0, 4) != 0 && has("cannot seek to epoch 0 batch 4 (3 batches per epoch)"), "%s", cnn_last_error());
    CHECK(cnn_loader_seek(l, -1, 0) != 0, "negative epoch accepted");
    cnn_loader_free(l);
    cnn_dataset_free(d);
    return 0;
}

/* Every augmented sample is a window of its zero-padded image, mirrored or not; draws depend on
 * (seed, epoch, sample index) only — not on the batch size — and change across epochs. */
static int find_window(const float *img, const float *out, int pad, int *oy, int *ox, int *flip) {
    const int C = 2, H = 5, W = 6;
    for (int f = 0; f < 2; f++)
        for (int y0 = 0; y0 <= 2 * pad; y0++)
            for (int x0 = 0; x0 <= 2 * pad; x0++) {
                bool same = true;
                for (int c = 0; c < C && same; c++)
                    for (int y = 0; y < H && same; y++)
                        for (int x = 0; x < W && same; x++) {
                            int sy = y + y0 - pad, sx = (f ? W - 1 - x : x) + x0 - pad;
                            float v = sy >= 0 && sy < H && sx >= 0 && sx < W ? img[(c * H + sy) * W + sx] : 0.0f;
                            same = out[(c * H + y) * W + x] == v;
                        }
                if (same) {
                    *oy = y0;
                    *ox = x0;
                    *flip = f;
                    return 0;
                }
            }
    return -1;
}

static int loader_augmentation(void *arg) {
    (void)arg;
    cnn_dataset *d = open_npy("x_aug.npy", "y_aug.npy");
    CHECK(d, "%s", cnn_last_error());
    const int n = 7, numel = 60, pad = 2, epochs = 6;
    float images[7][60];
    for (int i = 0; i < n; i++) CHECK(cnn_dataset_get(d, i, images[i], NULL) == 0, "%s", cnn_last_error());
    static float seen[2][6][7][60]; /* [run][epoch][sample] */
    int64_t batches[2] = {3, 5};
    int flips = 0, offsets[5] = {0}, changed = 0;
    for (int run = 0; run < 2; run++) {
        cnn_loader_options o = {.batch = batches[run], .shuffle = true, .seed = 3, .flip = true, .crop_pad = pad};
        cnn_loader *l = cnn_loader_create(d, &o);
        CHECK(l, "%s", cnn_last_error());
        float x[5 * 60];
        int64_t labels[5], count;
        for (int e = 0; e < epochs; e++) {
            int rc;
            while ((rc = cnn_loader_next(l, x, labels, &count, NULL)) == 0) {
                for (int64_t j = 0; j < count; j++) {
                    int which = -1, oy, ox, flip;
                    for (int i = 0; i < n && which < 0; i++)
                        if (find_window(images[i], x + j * numel, pad, &oy, &ox, &flip) == 0) which = i;
                    CHECK(which >= 0, "epoch %d: an output that is no crop/flip of any input", e);
                    CHECK(labels[j] == which % 2, "label");
                    memcpy(seen[run][e][which], x + j * numel, sizeof seen[run][e][which]);
                    if (run == 0) {
                        flips += flip;
                        offsets[oy]++;
                    }
                }
            }
            CHECK(rc == 1, "%s", cnn_last_error());
        }
        cnn_loader_free(l);
    }
    CHECK(memcmp(seen[0], seen[1], sizeof seen[0]) == 0, "augmentation depends on the batch size");
    for (int e = 1; e < epochs; e++)
        for (int i = 0; i < n; i++) changed += memcmp(seen[0][e][i], seen[0][e - 1][i], sizeof seen[0][e][i]) != 0;
    CHECK(flips > 8 && flips < 34, "%d flips in 42 draws", flips);
    for (int k = 0; k < 5; k++) CHECK(offsets[k] > 0, "crop offset %d never drawn", k);
    CHECK(changed > 20, "only %d of 35 samples changed between epochs", changed);
    cnn_dataset_free(d);
    return 0;
}

/* 1 -> 3 channels repeat, normalisation with the dataset's values, and a centre crop. */
static int loader_channels_and_normalization(void *arg) {
    (void)arg;
    cnn_dataset *d = cnn_dataset_open(spec_of("mnist", "mnist"), CNN_SPLIT_TRAIN, 0, 0); /* 1x5x4 */
    CHECK(d, "%s", cnn_last_error());
    cnn_loader_options o = {.batch = 2, .channels = 3, .normalize = true};
    cnn_loader *l = cnn_loader_create(d, &o);
    CHECK(l, "%s", cnn_last_error());
    float x[2 * 60], img[20];
    int64_t labels[2], count;
    CHECK(cnn_loader_next(l, x, labels, &count, NULL) == 0 && count == 2, "%s", cnn_last_error());
    for (int j = 0; j < 2; j++) {
        int64_t label;
        CHECK(cnn_dataset_get(d, j, img, &label) == 0 && labels[j] == label, "label");
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 20; p++)
                CHECK(x[j * 60 + c * 20 + p] == (img[p] - 0.1307f) / 0.3081f, "sample %d channel %d pixel %d", j, c, p);
    }
    cnn_loader_free(l);
    /* A smaller network input: the centre window (rows 1..3 of 5, columns 1..2 of 4). */
    cnn_loader_options small = {.batch = 1, .height = 3, .width = 2};
    l = cnn_loader_create(d, &small);
    CHECK(l, "%s", cnn_last_error());
    CHECK(cnn_loader_next(l, x, labels, &count, NULL) == 0, "%s", cnn_last_error());
    CHECK(cnn_dataset_get(d, 0, img, NULL) == 0, "get");
    for (int y = 0; y < 3; y++)
        for (int xx = 0; xx < 2; xx++) CHECK(x[y * 2 + xx] == img[(y + 1) * 4 + xx + 1], "centre crop at %d,%d", y, xx);
    cnn_loader_free(l);
    cnn_dataset_free(d);
    return 0;
}

static int loader_refusals(void *arg) {
    (void)arg;
    cnn_dataset *d = cnn_dataset_open(spec_of("cifar10", "cifar10"), CNN_SPLIT_TEST, 0, 0); /* 3 samples, 3x32x32 */
    CHECK(d, "%s", cnn_last_error());
    cnn_loader_options o = {.batch = 0};
    CHECK(!cnn_loader_create(d, &o) && has("batch size 0"), "%s", cnn_last_error());
    o.batch = 2;
    o.channels = 1;
    CHECK(!cnn_loader_create(d, &o) && has("takes 1-channel input (1x32x32)") && has("3-channel images (3x32x32)") && has("cifar10:"),
          "%s", cnn_last_error());
    o.channels = 3;
    o.height = o.width = 224;
    CHECK(!cnn_loader_create(d, &o) && has("input 3x224x224 is larger than the images") && has("(3x32x32)"), "%s", cnn_last_error());
    o.height = o.width = 36;
    o.crop_pad = 2;
    cnn_loader *l = cnn_loader_create(d, &o); /* 36 fits in 32 padded by 2 */
    CHECK(l, "%s", cnn_last_error());
    cnn_loader_free(l);
    o.height = o.width = 0;
    o.crop_pad = -1;
    CHECK(!cnn_loader_create(d, &o) && has("crop padding -1"), "%s", cnn_last_error());
    o.crop_pad = 0;
    o.batch = 4;
    o.drop_last = true;
    CHECK(!cnn_loader_create(d, &o) && has("fewer than one batch of 4"), "%s", cnn_last_error());
    o.drop_last = false;
    l = cnn_loader_create(d, &o);
    CHECK(l, "%s", cnn_last_error());
    CHECK(cnn_loader_next(l, NULL, NULL, NULL, NULL) != 0 && has("NULL"), "NULL buffers accepted");
    cnn_loader_free(l);
    cnn_dataset_free(d);
    return 0;
}

/* A decode failure on the prefetch thread reaches the caller, naming the file; the loader goes on. */
static int loader_error_from_worker(void *arg) {
    (void)arg;
    cnn_dataset *d = cnn_dataset_open(spec_of("folder", "folder_bad"), CNN_SPLIT_TRAIN, 4, 5);
    CHECK(d, "%s", cnn_last_error());
    cnn_loader_options o = {.batch = 1};
    cnn_loader *l = cnn_loader_create(d, &o);
    CHECK(l, "%s", cnn_last_error());
    float x[60];
    int64_t labels[1], count, e, b;
    double wait;
    cnn_clear_error();
    CHECK(cnn_loader_next(l, x, labels, &count, &wait) == -1, "broken image gave a batch");
    CHECK(has(path_of("folder_bad/a/broken.png", NULL)) && has("cannot decode image"), "%s", cnn_last_error());
    cnn_loader_position(l, &e, &b);
    CHECK(e == 0 && b == 0, "position moved past an error");
    CHECK(cnn_loader_next(l, x, labels, &count, &wait) == -1, "retry succeeded");
    CHECK(cnn_loader_seek(l, 0, 1) == 0 && cnn_loader_next(l, x, labels, &count, &wait) == 0 && count == 1, "%s", cnn_last_error());
    cnn_loader_free(l);
    cnn_dataset_free(d);
    return 0;
}

static int read_reference(const char *dir) {
    char path[1100];
    snprintf(path, sizeof path, "%s/data.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!text || got != (size_t)size) {
        free(text);
        return -1;
    }
    text[size] = 0;
    ref = cJSON_Parse(text);
    free(text);
    return ref ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc > 1) snprintf(data_dir, sizeof data_dir, "%s/data", argv[1]);
    if (read_reference(data_dir)) {
        printf("FAIL fixtures: cannot read %s/data.json (run tests/ref/gen_data.py %s)\n", data_dir, data_dir);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    harness_case("fashion-mnist: real files, sizes, labels, names, pixel checksums (numpy)", fashion_mnist_real, NULL);
    harness_case("fashion-mnist: a shuffled augmented epoch sees every sample once; seek while prefetching", fashion_mnist_loader_epoch, NULL);
    harness_case("idx: plain and gzip files, non-square images", idx_small, NULL);
    harness_case("idx: wrong magic, truncated, count mismatch, bad label refused", idx_refusals, NULL);
    harness_case("cifar: CIFAR-10 batches and names, CIFAR-100 fine labels", cifar_small, NULL);
    harness_case("cifar: truncated file, labels out of range, short names refused", cifar_refusals, NULL);
    harness_case("npy: float32/int64 and uint8/int32 datasets", npy_small, NULL);
    harness_case("npy: length mismatch, negative labels, wrong dtypes refused", npy_refusals, NULL);
    harness_case("spec: unknown kinds listed, missing DIR", spec_refusals, NULL);
    harness_case("folder: PNG (8/16/2-bit, grey, alpha, palette) and JPEG, splits, classes", folder_images, NULL);
    harness_case("folder: antialiased bilinear resize and centre crop match torch", folder_resize, NULL);
    harness_case("folder: undecodable images named, bad layouts refused", folder_refusals, NULL);
    harness_case("loader: order, seeded shuffling per epoch, drop_last", loader_order, NULL);
    harness_case("loader: seek reproduces the batches that followed", loader_seek, NULL);
    harness_case("loader: crop/flip augmentation exact, seeded per sample and epoch", loader_augmentation, NULL);
    harness_case("loader: 1->3 channel repeat, normalisation, centre crop", loader_channels_and_normalization, NULL);
    harness_case("loader: batch 0, channel and size mismatches refused", loader_refusals, NULL);
    harness_case("loader: errors on the prefetch thread reach the caller", loader_error_from_worker, NULL);
    cJSON_Delete(ref);
    return harness_finish();
}
