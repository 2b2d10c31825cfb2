/* atomic.c — whole-file reads and all-or-nothing writes (temporary file, fsync, rename). */
#include "../core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cnn_atomic_begin(cnn_atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    size_t len = strlen(path) + 32;
    a->path = strdup(path);
    a->tmp_path = malloc(len);
    if (!a->path || !a->tmp_path) {
        cnn_atomic_abort(a);
        return cnn_fail("%s: out of memory", path);
    }
    snprintf(a->tmp_path, len, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp_path, "wb");
    if (!a->f) {
        int e = errno;
        cnn_atomic_abort(a);
        return cnn_fail("%s: cannot create: %s", path, strerror(e));
    }
    return 0;
}

void cnn_atomic_abort(cnn_atomic_file *a) {
    if (a->f) fclose(a->f);
    if (a->tmp_path) unlink(a->tmp_path);
    free(a->path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
}

int cnn_atomic_commit(cnn_atomic_file *a) {
    int failed = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
    int e = errno;
    if (fclose(a->f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    a->f = NULL;
    if (!failed && rename(a->tmp_path, a->path) != 0) {
        failed = 1;
        e = errno;
    }
    if (failed) {
        char *path = a->path;
        a->path = NULL;
        cnn_atomic_abort(a);
        cnn_fail("%s: write failed: %s", path, strerror(e));
        free(path);
        return -1;
    }
    free(a->path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
    return 0;
}

int cnn_write_file_atomic(const char *path, const void *data, size_t size) {
    cnn_atomic_file a;
    if (cnn_atomic_begin(&a, path)) return -1;
    if (size) fwrite(data, 1, size, a.f);
    return cnn_atomic_commit(&a);
}

int cnn_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cnn_fail("%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return cnn_fail("%s: file too large (%lld bytes)", path, (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return cnn_fail("%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return cnn_fail("%s: read error", path);
    }
    fclose(f);
    *data = buf;
    *size = n;
    return 0;
}
