/* idx.c — MNIST and Fashion-MNIST: IDX image and label files, gzip-compressed or plain, read through zlib. */
#include "data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */
#define IDX_MAX_BYTES ((int64_t)1 << 34)
#define IDX_CLASSES 10

static const char *const fashion_class_names[IDX_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

/* DIR/<split>-<what>-idx<N>-ubyte.gz, or the same without .gz, or torchvision's raw/ names. */
static int find_idx_file(const char *dir, const char *split, const char *what, int ndims, bool fashion, char *path,
                         size_t size) {
    static const char *const patterns[] = {"%s/%s-%s-idx%d-ubyte.gz", "%s/%s-%s-idx%d-ubyte", "%s/%s-%s.idx%d-ubyte",
                                           "%s/raw/%s-%s-idx%d-ubyte.gz", "%s/raw/%s-%s-idx%d-ubyte"};
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++) {
        snprintf(path, size, patterns[i], dir, split, what, ndims);
        if (access(path, F_OK) == 0) return 0;
    }
    return cnn_fail("%s: no %s-%s-idx%d-ubyte[.gz] file%s", dir, split, what, ndims,
                    fashion ? " (Debian's dataset-fashion-mnist package installs them)" : "");
}

static uint32_t big_endian_u32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads exactly `want` bytes; returns how many it got (fewer at the end of the data), -1 on a
 * decompression or read error. */
static int64_t gz_read_fully(gzFile f, unsigned char *buf, int64_t want) {
    int64_t got = 0;
    while (got < want) {
        int64_t chunk = want - got > (1 << 30) ? (1 << 30) : want - got;
        int n = gzread(f, buf + got, (unsigned)chunk);
        if (n < 0) return -1;
        if (n == 0) break;
        got += n;
    }
    return got;
}

static int gz_failure(gzFile f, const char *path, const char *what) {
    int errnum;
    const char *msg = gzerror(f, &errnum);
    if (errnum == Z_ERRNO) msg = strerror(errno);
    return cnn_fail("%s: %s (%s)", path, what, msg && *msg ? msg : "read error");
}

/* Reads an IDX file of unsigned bytes with `ndims` dimensions into dims[] and *data (the bytes
 * after the header, malloc'ed). Checks the magic, the dimensions and that the data is exactly as
 * long as they say. */
static int read_idx(const char *path, uint32_t magic, int ndims, int64_t *dims, unsigned char **data) {
    *data = NULL;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return cnn_fail("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    int rc = -1;
    unsigned char head[4 + 4 * 3];
    int64_t head_bytes = 4 + 4 * (int64_t)ndims;
    int64_t got = gz_read_fully(f, head, head_bytes);
    if (got < 0) {
        gz_failure(f, path, "cannot read the IDX header");
        goto done;
    }
    if (got >= 4 && big_endian_u32(head) != magic) {
        cnn_fail("%s: not an IDX %s file (magic 0x%08x, want 0x%08x)", path, ndims == 3 ? "image" : "label",
                 big_endian_u32(head), magic);
        goto done;
    }
    if (got < head_bytes) {
        cnn_fail("%s: truncated IDX file (%lld header bytes, want %lld)", path, (long long)got, (long long)head_bytes);
        goto done;
    }
    int64_t total = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = big_endian_u32(head + 4 + 4 * i);
        if (dims[i] <= 0 || (i > 0 && dims[i] > 65536)) {
            cnn_fail("%s: bad IDX dimension %d: %lld", path, i, (long long)dims[i]);
            goto done;
        }
        total = cnn_mul_i64(total, dims[i]);
    }
    if (total < 0 || total > IDX_MAX_BYTES) {
        cnn_fail("%s: IDX dimensions too large", path);
        goto done;
    }
    *data = malloc((size_t)total);
    if (!*data) {
        cnn_fail("%s: out of memory (%lld bytes)", path, (long long)total);
        goto done;
    }
    got = gz_read_fully(f, *data, total);
    if (got < 0) {
        gz_failure(f, path, "corrupt file");
        goto done;
    }
    if (got < total) {
        cnn_fail("%s: truncated IDX file (%lld of %lld data bytes)", path, (long long)got, (long long)total);
        goto done;
    }
    unsigned char extra;
    int more = gzread(f, &extra, 1);
    if (more < 0) {
        gz_failure(f, path, "corrupt file");
        goto done;
    }
    if (more > 0) {
        cnn_fail("%s: more bytes than the IDX dimensions say (corrupt file)", path);
        goto done;
    }
    rc = 0;
done:
    gzclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int cnn_idx_open(cnn_dataset *d, const char *dir, bool fashion, cnn_split split) {
    const char *prefix = split == CNN_SPLIT_TRAIN ? "train" : "t10k";
    char images_path[4096], labels_path[4096];
    if (find_idx_file(dir, prefix, "images", 3, fashion, images_path, sizeof images_path)) return -1;
    if (find_idx_file(dir, prefix, "labels", 1, fashion, labels_path, sizeof labels_path)) return -1;
    int64_t image_dims[3], label_dims[1];
    if (read_idx(images_path, IDX_IMAGES_MAGIC, 3, image_dims, &d->pixels)) return -1;
    unsigned char *labels;
    if (read_idx(labels_path, IDX_LABELS_MAGIC, 1, label_dims, &labels)) return -1;
    int rc = -1;
    if (label_dims[0] != image_dims[0]) {
        cnn_fail("%s: %lld labels for the %lld images of %s", labels_path, (long long)label_dims[0],
                 (long long)image_dims[0], images_path);
        goto done;
    }
    d->n = image_dims[0];
    d->channels = 1;
    d->height = image_dims[1];
    d->width = image_dims[2];
    d->classes = IDX_CLASSES;
    d->labels = cnn_calloc((size_t)d->n, sizeof(int64_t), "labels");
    if (!d->labels) goto done;
    for (int64_t i = 0; i < d->n; i++) {
        if (labels[i] >= IDX_CLASSES) {
            cnn_fail("%s: label %d of sample %lld is outside the %d classes", labels_path, labels[i], (long long)i,
                     IDX_CLASSES);
            goto done;
        }
        d->labels[i] = labels[i];
    }
    rc = cnn_dataset_set_class_names(d, fashion ? fashion_class_names : NULL);
done:
    free(labels);
    return rc;
}
