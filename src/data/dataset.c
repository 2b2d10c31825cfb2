/* dataset.c — opening a dataset from its SPEC ("kind:arguments"), the accessors every kind shares, and sample reads. */
#include "data.h"

#include <stdlib.h>
#include <string.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define KINDS "fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, npy:X.npy,Y.npy"

static char *copy_string(const char *s) {
    size_t len = strlen(s);
    char *c = cnn_calloc(len + 1, 1, "string");
    if (c) memcpy(c, s, len);
    return c;
}

int cnn_dataset_set_class_names(cnn_dataset *d, const char *const *names) {
    d->class_names = cnn_calloc((size_t)d->classes, sizeof(char *), "class names");
    if (!d->class_names) return -1;
    for (int64_t k = 0; k < d->classes; k++) {
        char number[32];
        snprintf(number, sizeof number, "%lld", (long long)k);
        d->class_names[k] = copy_string(names ? names[k] : number);
        if (!d->class_names[k]) return -1;
    }
    return 0;
}

void cnn_dataset_free(cnn_dataset *d) {
    if (!d) return;
    if (d->class_names)
        for (int64_t k = 0; k < d->classes; k++) free(d->class_names[k]);
    if (d->files)
        for (int64_t i = 0; i < d->n; i++) free(d->files[i]);
    free(d->class_names);
    free(d->files);
    free(d->pixels);
    free(d->values);
    free(d->labels);
    free(d->spec);
    free(d);
}

static void set_normalization(cnn_dataset *d, const float mean[3], const float std[3]) {
    memcpy(d->mean, mean, sizeof d->mean);
    memcpy(d->std, std, sizeof d->std);
}

/* The spec's kind: the text before the first ':' (all of it when there is none). */
static bool kind_is(const char *spec, const char *kind, const char **arg) {
    size_t len = strlen(kind);
    if (strncmp(spec, kind, len) != 0 || (spec[len] != 0 && spec[len] != ':')) return false;
    *arg = spec[len] == ':' ? spec + len + 1 : NULL;
    return true;
}

static int need_arg(const char *spec, const char *arg, const char *kind, const char *what) {
    if (arg && *arg) return 0;
    return cnn_fail("dataset '%s': %s needs %s (%s:%s)", spec, kind, what, kind, what);
}

cnn_dataset *cnn_dataset_open(const char *spec, cnn_split split, int64_t height, int64_t width) {
    if (!spec || !*spec) return cnn_fail_null("dataset: empty spec (kinds: " KINDS ")");
    if (split != CNN_SPLIT_TRAIN && split != CNN_SPLIT_TEST) return cnn_fail_null("dataset '%s': unknown split %d", spec, (int)split);
    if (height < 0 || width < 0 || height > 65536 || width > 65536)
        return cnn_fail_null("dataset '%s': image size %lldx%lld out of range", spec, (long long)height, (long long)width);
    cnn_dataset *d = cnn_calloc(1, sizeof *d, "dataset");
    if (!d) return NULL;
    d->spec = copy_string(spec);
    if (!d->spec) {
        free(d);
        return NULL;
    }
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    static const float fashion_mean[3] = {0.2860f, 0.2860f, 0.2860f}, fashion_std[3] = {0.3530f, 0.3530f, 0.3530f};
    static const float mnist_mean[3] = {0.1307f, 0.1307f, 0.1307f}, mnist_std[3] = {0.3081f, 0.3081f, 0.3081f};
    static const float cifar10_mean[3] = {0.4914f, 0.4822f, 0.4465f}, cifar10_std[3] = {0.2470f, 0.2435f, 0.2616f};
    static const float cifar100_mean[3] = {0.5071f, 0.4865f, 0.4409f}, cifar100_std[3] = {0.2673f, 0.2564f, 0.2762f};
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    const char *arg;
    int rc;
    if (kind_is(spec, "fashion-mnist", &arg)) {
        set_normalization(d, fashion_mean, fashion_std);
        rc = cnn_idx_open(d, arg && *arg ? arg : FASHION_MNIST_DIR, true, split);
    } else if (kind_is(spec, "mnist", &arg)) {
        set_normalization(d, mnist_mean, mnist_std);
        rc = need_arg(spec, arg, "mnist", "DIR") ? -1 : cnn_idx_open(d, arg, false, split);
    } else if (kind_is(spec, "cifar10", &arg)) {
        set_normalization(d, cifar10_mean, cifar10_std);
        rc = need_arg(spec, arg, "cifar10", "DIR") ? -1 : cnn_cifar_open(d, arg, 10, split);
    } else if (kind_is(spec, "cifar100", &arg)) {
        set_normalization(d, cifar100_mean, cifar100_std);
        rc = need_arg(spec, arg, "cifar100", "DIR") ? -1 : cnn_cifar_open(d, arg, 100, split);
    } else if (kind_is(spec, "folder", &arg)) {
        set_normalization(d, imagenet_mean, imagenet_std);
        rc = need_arg(spec, arg, "folder", "DIR") ? -1
                                                  : cnn_folder_open(d, arg, split, height ? height : 224, width ? width : 224);
    } else if (kind_is(spec, "npy", &arg)) {
        set_normalization(d, zero, one);
        rc = need_arg(spec, arg, "npy", "X.npy,Y.npy") ? -1 : cnn_npy_dataset_open(d, arg);
    } else {
        const char *colon = strchr(spec, ':');
        int len = colon ? (int)(colon - spec) : (int)strlen(spec);
        rc = cnn_fail("dataset '%s': unknown kind '%.*s' (kinds: " KINDS ")", spec, len, spec);
    }
    if (rc == 0 && (d->n <= 0 || d->classes <= 0 || !d->class_names || !d->labels))
        rc = cnn_fail("dataset '%s': no samples", spec);
    if (rc) {
        cnn_dataset_free(d);
        return NULL;
    }
    return d;
}

int64_t cnn_dataset_size(const cnn_dataset *d) { return d ? d->n : 0; }

void cnn_dataset_shape(const cnn_dataset *d, int64_t *channels, int64_t *height, int64_t *width) {
    if (channels) *channels = d ? d->channels : 0;
    if (height) *height = d ? d->height : 0;
    if (width) *width = d ? d->width : 0;
}

int64_t cnn_dataset_classes(const cnn_dataset *d) { return d ? d->classes : 0; }

const char *cnn_dataset_class_name(const cnn_dataset *d, int64_t k) {
    if (!d || k < 0 || k >= d->classes) {
        cnn_fail("dataset: class %lld out of range", (long long)k);
        return NULL;
    }
    return d->class_names[k];
}

void cnn_dataset_normalization(const cnn_dataset *d, float mean[3], float std[3]) {
    for (int c = 0; c < 3; c++) {
        mean[c] = d ? d->mean[c] : 0.0f;
        std[c] = d ? d->std[c] : 1.0f;
    }
}

int cnn_dataset_get(const cnn_dataset *d, int64_t i, float *x, int64_t *label) {
    if (!d) return cnn_fail("dataset: NULL");
    if (i < 0 || i >= d->n)
        return cnn_fail("dataset '%s': sample %lld out of range (%lld samples)", d->spec, (long long)i, (long long)d->n);
    int64_t numel = d->channels * d->height * d->width; /* validated against overflow at open */
    if (x) {
        if (d->files) {
            if (cnn_image_load(d->files[i], d->height, d->width, x)) return -1;
        } else if (d->pixels) {
            const unsigned char *p = d->pixels + i * numel;
            /* Division, not a reciprocal multiply: bitwise what torchvision's ToTensor gives. */
            for (int64_t j = 0; j < numel; j++) x[j] = (float)p[j] / 255.0f;
        } else {
            memcpy(x, d->values + i * numel, (size_t)numel * sizeof(float));
        }
    }
    if (label) *label = d->labels[i];
    return 0;
}
