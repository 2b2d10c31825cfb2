/* npy.c — reading and atomically writing NumPy .npy arrays (format 1.0, 2.0, 3.0). */
#include "../core/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NPY_BYTES ((size_t)64 << 30)

static const struct {
    const char *descr;
    cnn_dtype dtype;
    size_t size;
} npy_types[] = {
    {"<f4", CNN_F32, 4}, {"<f8", CNN_F64, 8}, {"<i8", CNN_I64, 8}, {"<i4", CNN_I32, 4},
    {"|u1", CNN_U8, 1},  {"<u1", CNN_U8, 1},  {"|i1", CNN_I8, 1},  {"|b1", CNN_BOOL, 1},
};

void cnn_array_free(cnn_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Finds 'key': in a Python dict literal and returns the text after the colon, spaces skipped. */
static const char *dict_value(const char *header, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(header, quoted);
    if (!p) return NULL;
    p += strlen(quoted);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static int parse_header(const char *path, const char *h, cnn_array *a, size_t *esize) {
    const char *d = dict_value(h, "descr"), *f = dict_value(h, "fortran_order"), *s = dict_value(h, "shape");
    if (!d || !f || !s || *d != '\'' || *s != '(') return cnn_fail("%s: bad .npy header (needs descr, fortran_order, shape)", path);
    *esize = 0;
    for (size_t i = 0; i < sizeof npy_types / sizeof *npy_types; i++) {
        size_t len = strlen(npy_types[i].descr);
        if (strncmp(d + 1, npy_types[i].descr, len) == 0 && d[1 + len] == '\'') {
            a->dtype = npy_types[i].dtype;
            *esize = npy_types[i].size;
        }
    }
    if (!*esize) {
        const char *end = strchr(d + 1, '\'');
        return cnn_fail("%s: unsupported dtype %.*s (want little-endian float32, float64, int64, int32 or uint8)", path,
                        end ? (int)(end - d - 1) : 8, d + 1);
    }
    if (strncmp(f, "False", 5) != 0) return cnn_fail("%s: Fortran-ordered arrays are not supported (save in C order)", path);
    const char *p = s + 1;
    a->rank = 0;
    a->numel = 1;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) return cnn_fail("%s: bad shape in .npy header", path);
        if (a->rank == 8) return cnn_fail("%s: more than 8 dimensions", path);
        char *end;
        long long v = strtoll(p, &end, 10);
        if (v < 0 || end == p) return cnn_fail("%s: bad shape in .npy header", path);
        a->shape[a->rank++] = v;
        a->numel = cnn_mul_i64(a->numel, v);
        if (a->numel < 0) return cnn_fail("%s: shape overflows", path);
        p = end;
    }
    return 0;
}

int cnn_npy_read(const char *path, cnn_array *out) {
    memset(out, 0, sizeof *out);
    unsigned char *file;
    size_t size;
    if (cnn_read_file(path, MAX_NPY_BYTES, &file, &size)) return -1;
    int rc = -1;
    if (size < 10 || memcmp(file, "\x93NUMPY", 6) != 0) {
        cnn_fail("%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen, start;
    if (file[6] == 1) {
        hlen = (size_t)file[8] | (size_t)file[9] << 8;
        start = 10;
    } else if (file[6] == 2 || file[6] == 3) {
        if (size < 12) {
            cnn_fail("%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)file[8] | (size_t)file[9] << 8 | (size_t)file[10] << 16 | (size_t)file[11] << 24;
        start = 12;
    } else {
        cnn_fail("%s: unsupported .npy version %d.%d", path, file[6], file[7]);
        goto done;
    }
    if (hlen > size - start) {
        cnn_fail("%s: truncated .npy header", path);
        goto done;
    }
    char *header = malloc(hlen + 1);
    if (!header) {
        cnn_fail("%s: out of memory", path);
        goto done;
    }
    memcpy(header, file + start, hlen);
    header[hlen] = 0;
    size_t esize = 0;
    int bad = parse_header(path, header, out, &esize);
    free(header);
    if (bad) goto done;
    size_t data_off = start + hlen;
    int64_t bytes = cnn_mul_i64(out->numel, (int64_t)esize);
    if (bytes < 0 || (uint64_t)bytes != size - data_off) {
        cnn_fail("%s: %zu data bytes where shape and dtype need %lld (truncated or corrupt file)", path, size - data_off,
                 (long long)bytes);
        goto done;
    }
    out->data = malloc(bytes ? (size_t)bytes : 1);
    if (!out->data) {
        cnn_fail("%s: out of memory (%lld bytes)", path, (long long)bytes);
        goto done;
    }
    memcpy(out->data, file + data_off, (size_t)bytes);
    rc = 0;
done:
    free(file);
    if (rc) cnn_array_free(out);
    return rc;
}

float *cnn_array_to_f32(const cnn_array *a) {
    float *out = cnn_calloc((size_t)(a->numel ? a->numel : 1), sizeof(float), "array");
    if (!out) return NULL;
    cnn_st_tensor t = {.name = "array", .dtype = a->dtype, .rank = 0, .numel = a->numel, .data = a->data};
    if (cnn_st_tensor_to_f32(&t, out, a->numel)) {
        free(out);
        return NULL;
    }
    return out;
}

static int npy_write(const char *path, const char *descr, size_t esize, int rank, const int64_t *shape, const void *data) {
    char header[256];
    int used = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        used += snprintf(header + used, sizeof header - (size_t)used, "%lld,%s", (long long)shape[i], i + 1 < rank ? " " : "");
        numel = cnn_mul_i64(numel, shape[i]);
    }
    used += snprintf(header + used, sizeof header - (size_t)used, "), }");
    if (numel < 0 || used >= (int)sizeof header - 64) return cnn_fail("%s: bad array shape", path);
    /* Pad with spaces so that magic + length + header + newline is a multiple of 64. */
    int total = 10 + used + 1;
    int pad = (64 - total % 64) % 64;
    memset(header + used, ' ', (size_t)pad);
    used += pad;
    header[used++] = '\n';
    cnn_atomic_file a;
    if (cnn_atomic_begin(&a, path)) return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(used & 0xff), (unsigned char)(used >> 8)};
    fwrite(pre, 1, 10, a.f);
    fwrite(header, 1, (size_t)used, a.f);
    if (numel) fwrite(data, esize, (size_t)numel, a.f);
    return cnn_atomic_commit(&a);
}

int cnn_npy_write_f32(const char *path, int rank, const int64_t *shape, const float *data) {
    return npy_write(path, "<f4", 4, rank, shape, data);
}

int cnn_npy_write_i64(const char *path, int rank, const int64_t *shape, const int64_t *data) {
    return npy_write(path, "<i8", 8, rank, shape, data);
}
