/* folder.c — image-folder datasets: one sub-folder of PNG/JPEG files per class (sorted names), split into train/ and test/ (or val/) when present. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct name_list {
    char **items;
    int64_t count, cap;
} name_list;

static void name_list_free(name_list *l) {
    for (int64_t i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int name_list_add(name_list *l, const char *a, const char *b) {
    if (l->count == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        char **items = realloc(l->items, (size_t)cap * sizeof(char *));
        if (!items) return cnn_fail("out of memory listing a folder");
        l->items = items;
        l->cap = cap;
    }
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = malloc(la + lb + 2);
    if (!s) return cnn_fail("out of memory listing a folder");
    memcpy(s, a, la);
    if (b) {
        s[la] = '/';
        memcpy(s + la + 1, b, lb + 1);
    } else {
        s[la] = 0;
    }
    l->items[l->count++] = s;
    return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

/* Sorted entries of dir (hidden ones left out): sub-folders (want_dirs) or image files. */
static int list_dir(const char *dir, bool want_dirs, name_list *out) {
    DIR *h = opendir(dir);
    if (!h) return cnn_fail("%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(h)) != NULL) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            rc = cnn_fail("out of memory listing %s", dir);
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        bool keep = stat(path, &st) == 0 && (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && is_image_name(e->d_name));
        free(path);
        if (keep) rc = name_list_add(out, e->d_name, NULL);
    }
    closedir(h);
    if (out->count) qsort(out->items, (size_t)out->count, sizeof(char *), compare_names);
    return rc;
}

static int64_t find_class(const name_list *classes, const char *name) {
    for (int64_t k = 0; k < classes->count; k++)
        if (strcmp(classes->items[k], name) == 0) return k;
    return -1;
}

int cnn_folder_open(cnn_dataset *d, const char *dir, cnn_split split, int64_t height, int64_t width) {
    if (!is_dir(dir)) return cnn_fail("%s: not a folder", dir);
    /* Classes come from the training folder, so both splits number them alike. */
    size_t len = strlen(dir) + 8;
    char *train = malloc(len), *test = malloc(len);
    name_list classes = {0}, split_classes = {0}, files = {0}, names = {0};
    int64_t *labels = NULL;
    int rc = -1;
    if (!train || !test) {
        cnn_fail("out of memory");
        goto done;
    }
    snprintf(train, len, "%s/train", dir);
    snprintf(test, len, "%s/test", dir);
    if (!is_dir(test)) snprintf(test, len, "%s/val", dir);
    bool has_train = is_dir(train), has_test = is_dir(test);
    if (has_train != has_test) {
        cnn_fail("%s: has %s but no %s", dir, has_train ? "train/" : "test/ or val/", has_train ? "test/ or val/" : "train/");
        goto done;
    }
    const char *class_root = has_train ? train : dir;
    const char *split_root = !has_train ? dir : split == CNN_SPLIT_TRAIN ? train : test;
    if (list_dir(class_root, true, &classes)) goto done;
    if (classes.count == 0) {
        cnn_fail("%s: no class sub-folders", class_root);
        goto done;
    }
    if (list_dir(split_root, true, &split_classes)) goto done;
    int64_t cap = 0;
    for (int64_t s = 0; s < split_classes.count; s++) {
        int64_t k = find_class(&classes, split_classes.items[s]);
        if (k < 0) {
            cnn_fail("%s/%s: not a class of %s", split_root, split_classes.items[s], class_root);
            goto done;
        }
        size_t plen = strlen(split_root) + strlen(split_classes.items[s]) + 2;
        char *class_dir = malloc(plen);
        if (!class_dir) {
            cnn_fail("out of memory");
            goto done;
        }
        snprintf(class_dir, plen, "%s/%s", split_root, split_classes.items[s]);
        int64_t before = files.count;
        names.count = 0;
        int bad = list_dir(class_dir, false, &names);
        for (int64_t i = 0; !bad && i < names.count; i++) bad = name_list_add(&files, class_dir, names.items[i]);
        for (int64_t i = 0; i < names.count; i++) free(names.items[i]);
        names.count = 0;
        free(class_dir);
        if (bad) goto done;
        if (files.count > cap) {
            int64_t new_cap = files.cap;
            int64_t *grown = realloc(labels, (size_t)new_cap * sizeof(int64_t));
            if (!grown) {
                cnn_fail("out of memory");
                goto done;
            }
            labels = grown;
            cap = new_cap;
        }
        for (int64_t i = before; i < files.count; i++) labels[i] = k;
    }
    if (files.count == 0) {
        cnn_fail("%s: no PNG or JPEG images in its class sub-folders", split_root);
        goto done;
    }
    d->n = files.count;
    d->channels = 3;
    d->height = height;
    d->width = width;
    d->classes = classes.count;
    d->files = files.items;
    d->labels = labels;
    files.items = NULL;
    files.count = 0;
    labels = NULL;
    rc = cnn_dataset_set_class_names(d, (const char *const *)classes.items);
done:
    name_list_free(&classes);
    name_list_free(&split_classes);
    name_list_free(&files);
    name_list_free(&names);
    free(labels);
    free(train);
    free(test);
    return rc;
}
