/* cifar.c — CIFAR-10 and CIFAR-100 binary batches (label byte(s) then 3x32x32 pixels per record) and their class names. */
#include "data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_MAX_FILE ((size_t)1 << 31)

typedef struct cifar_layout {
    const char *name;             /* "CIFAR-10" */
    const char *subdir;           /* where the official archive unpacks */
    const char *train[5], *test;  /* file names */
    int label_bytes;              /* the label used is the last one: CIFAR-100's fine label */
    const char *names_file;
} cifar_layout;

static const cifar_layout cifar10 = {"CIFAR-10", "cifar-10-batches-bin",
                                     {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                                      "data_batch_5.bin"},
                                     "test_batch.bin", 1, "batches.meta.txt"};
static const cifar_layout cifar100 = {"CIFAR-100", "cifar-100-binary", {"train.bin"}, "test.bin", 2,
                                      "fine_label_names.txt"};

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Class names, one a line (blank lines skipped), exactly `classes` of them. */
static int read_class_names(cnn_dataset *d, const char *path) {
    unsigned char *text;
    size_t size;
    if (cnn_read_file(path, 1 << 20, &text, &size)) return -1;
    char **names = cnn_calloc((size_t)d->classes, sizeof(char *), "class names");
    int rc = -1;
    if (!names) goto done;
    int64_t count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && text[i] != '\n') continue;
        size_t a = start, b = i;
        start = i + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
        if (a == b) continue;
        if (count < d->classes) {
            names[count] = cnn_calloc(b - a + 1, 1, "class name");
            if (!names[count]) goto done;
            memcpy(names[count], text + a, b - a);
        }
        count++;
    }
    if (count != d->classes) {
        cnn_fail("%s: %lld class names, want %lld", path, (long long)count, (long long)d->classes);
        goto done;
    }
    rc = cnn_dataset_set_class_names(d, (const char *const *)names);
done:
    if (names)
        for (int64_t k = 0; k < d->classes; k++) free(names[k]);
    free(names);
    free(text);
    return rc;
}

int cnn_cifar_open(cnn_dataset *d, const char *dir, int64_t classes, cnn_split split) {
    const cifar_layout *layout = classes == 10 ? &cifar10 : &cifar100;
    const int64_t record = layout->label_bytes + CIFAR_PIXELS;
    const char *files[5];
    int n_files = 0;
    if (split == CNN_SPLIT_TEST) {
        files[n_files++] = layout->test;
    } else {
        for (int i = 0; i < 5 && layout->train[i]; i++) files[n_files++] = layout->train[i];
    }
    /* The files sit in DIR or in the folder the official archive unpacks to inside it. */
    char base[4096], path[4352];
    snprintf(base, sizeof base, "%s", dir);
    snprintf(path, sizeof path, "%s/%s", base, files[0]);
    if (!is_file(path)) {
        snprintf(base, sizeof base, "%s/%s", dir, layout->subdir);
        snprintf(path, sizeof path, "%s/%s", base, files[0]);
        if (!is_file(path)) return cnn_fail("%s: no %s file %s (nor in %s/)", dir, layout->name, files[0], layout->subdir);
    }
    /* Sizes first, so the pixels are one allocation. */
    int64_t records[5], total = 0;
    for (int f = 0; f < n_files; f++) {
        snprintf(path, sizeof path, "%s/%s", base, files[f]);
        struct stat st;
        if (stat(path, &st) != 0) return cnn_fail("%s: cannot open: %s", path, strerror(errno));
        if (st.st_size <= 0 || st.st_size % record != 0)
            return cnn_fail("%s: %lld bytes is not a whole number of %lld-byte %s records (truncated file?)", path,
                            (long long)st.st_size, (long long)record, layout->name);
        records[f] = st.st_size / record;
        total += records[f];
    }
    d->n = total;
    d->channels = 3;
    d->height = d->width = CIFAR_SIDE;
    d->classes = classes;
    d->pixels = cnn_calloc((size_t)total, CIFAR_PIXELS, "CIFAR pixels");
    d->labels = cnn_calloc((size_t)total, sizeof(int64_t), "CIFAR labels");
    if (!d->pixels || !d->labels) return -1;
    int64_t at = 0;
    for (int f = 0; f < n_files; f++) {
        snprintf(path, sizeof path, "%s/%s", base, files[f]);
        unsigned char *data;
        size_t size;
        if (cnn_read_file(path, CIFAR_MAX_FILE, &data, &size)) return -1;
        if ((int64_t)size != records[f] * record) {
            free(data);
            return cnn_fail("%s: file changed while being read", path);
        }
        for (int64_t r = 0; r < records[f]; r++, at++) {
            const unsigned char *rec = data + r * record;
            int coarse = rec[0], label = rec[layout->label_bytes - 1];
            if (layout->label_bytes == 2 && coarse >= 20) {
                free(data);
                return cnn_fail("%s: coarse label %d of record %lld is outside the 20 superclasses", path, coarse,
                                (long long)r);
            }
            if (label >= classes) {
                free(data);
                return cnn_fail("%s: label %d of record %lld is outside the %lld classes", path, label, (long long)r,
                                (long long)classes);
            }
            d->labels[at] = label;
            memcpy(d->pixels + at * CIFAR_PIXELS, rec + layout->label_bytes, CIFAR_PIXELS);
        }
        free(data);
    }
    snprintf(path, sizeof path, "%s/%s", base, layout->names_file);
    return is_file(path) ? read_class_names(d, path) : cnn_dataset_set_class_names(d, NULL);
}
