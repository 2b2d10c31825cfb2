/* data.h — the dataset structure shared by the readers in src/data (IDX, CIFAR, folders, npy) and the image decoder. */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include "../core/internal.h"

/* A dataset holds its samples in one of three ways:
 *   pixels  (n, C, H, W) bytes, scaled to [0,1] by get (IDX, CIFAR, uint8 npy);
 *   values  (n, C, H, W) floats, returned as stored (float npy);
 *   files   n image paths, decoded, resized and centre-cropped to (3, H, W) by get (folders).
 * labels (n) are always in [0, classes). */
struct cnn_dataset {
    char *spec;                  /* "fashion-mnist:/usr/share/...", for messages */
    int64_t n, channels, height, width, classes;
    char **class_names;          /* [classes], owned */
    float mean[3], std[3];
    unsigned char *pixels;
    float *values;
    char **files;
    int64_t *labels;
};

/* Each reader fills a zeroed dataset (spec already set) or returns -1 with a message naming the
 * file; dataset.c frees whatever was filled on failure. `arg` is the spec after "kind:". */
int cnn_idx_open(cnn_dataset *d, const char *dir, bool fashion, cnn_split split);
int cnn_cifar_open(cnn_dataset *d, const char *dir, int64_t classes, cnn_split split);
int cnn_folder_open(cnn_dataset *d, const char *dir, cnn_split split, int64_t height, int64_t width);
int cnn_npy_dataset_open(cnn_dataset *d, const char *arg);

/* Allocates class_names "0", "1", ... (or copies names[k] where names is not NULL). */
int cnn_dataset_set_class_names(cnn_dataset *d, const char *const *names);

/* Decodes a PNG or JPEG file (recognised by its first bytes), converts it to RGB (grey repeated,
 * alpha dropped, palette expanded), resizes it bilinearly (half-pixel centres, like
 * torch.nn.functional.interpolate(align_corners=False)) so that it covers height x width with its
 * aspect ratio kept, and centre-crops: out is (3, height, width) in [0,1]. Thread-safe. Errors
 * name the file. */
int cnn_image_load(const char *path, int64_t height, int64_t width, float *out);
/* The decoded image itself: *rgb (h, w, 3) bytes, malloc'ed, owned by the caller. */
int cnn_image_decode(const char *path, unsigned char **rgb, int64_t *height, int64_t *width);

/* torchvision's CenterCrop offset for cutting `crop` out of `size`: int(round((size - crop) / 2))
 * with Python's rounding (half to even). */
int64_t cnn_centre_offset(int64_t size, int64_t crop);

#endif /* CNN_DATA_H */
