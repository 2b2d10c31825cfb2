/* image.c — PNG (libpng) and JPEG (libjpeg-turbo) decoding to RGB bytes, and the antialiased bilinear resize + centre crop to (3,H,W) floats. */
#include "data.h"

#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#define IMAGE_MAX_FILE ((size_t)1 << 30)
#define IMAGE_MAX_SIDE 65536
#define IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* What a decoder leaves behind: the pixels (freed by the caller, also after a failure) and the
 * library's message. It lives in the caller's frame so that nothing the setjmp frame changes is
 * lost to a longjmp. */
typedef struct decoded {
    unsigned char *rgb;     /* (h, w, 3) */
    unsigned char **rows;   /* PNG row pointers */
    int64_t height, width;
    char message[JMSG_LENGTH_MAX + 64];
} decoded;

static int check_size(decoded *out, int64_t height, int64_t width) {
    if (height <= 0 || width <= 0 || height > IMAGE_MAX_SIDE || width > IMAGE_MAX_SIDE || height * width > IMAGE_MAX_PIXELS) {
        snprintf(out->message, sizeof out->message, "image size %lldx%lld out of range", (long long)width, (long long)height);
        return -1;
    }
    out->height = height;
    out->width = width;
    out->rgb = malloc((size_t)(height * width * 3));
    if (!out->rgb) {
        snprintf(out->message, sizeof out->message, "out of memory for %lldx%lld pixels", (long long)width, (long long)height);
        return -1;
    }
    return 0;
}

/* ---- PNG ---- */

typedef struct png_source {
    const unsigned char *data;
    size_t size, pos;
    decoded *out;
} png_source;

static void png_read_memory(png_structp png, png_bytep dst, size_t n) {
    png_source *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) png_error(png, "unexpected end of file");
    memcpy(dst, src->data + src->pos, n);
    src->pos += n;
}

static void png_on_error(png_structp png, png_const_charp message) {
    png_source *src = png_get_error_ptr(png);
    snprintf(src->out->message, sizeof src->out->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static int decode_png(png_source *src) {
    decoded *out = src->out;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        snprintf(out->message, sizeof out->message, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, src, png_read_memory);
    png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
    png_read_info(png, info);
    /* Everything to 8-bit RGB: palettes and low bit depths expanded, 16 bits scaled, alpha (and
     * tRNS transparency) dropped, grey repeated — what PIL's convert("RGB") gives. */
    png_set_expand(png);
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (check_size(out, height, width)) png_longjmp(png, 1);
    if (png_get_rowbytes(png, info) != (size_t)width * 3 || png_get_channels(png, info) != 3) {
        snprintf(out->message, sizeof out->message, "unexpected PNG pixel layout after conversion to RGB");
        png_longjmp(png, 1);
    }
    out->rows = malloc((size_t)height * sizeof *out->rows);
    if (!out->rows) {
        snprintf(out->message, sizeof out->message, "out of memory");
        png_longjmp(png, 1);
    }
    for (int64_t y = 0; y < height; y++) out->rows[y] = out->rgb + y * width * 3;
    png_read_image(png, out->rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

/* ---- JPEG ---- */

typedef struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    decoded *out;
} jpeg_failure;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    snprintf(f->out->message, sizeof f->out->message, "%s", text);
    longjmp(f->jump, 1);
}

/* Warnings are ignored (real photos carry harmless ones), except a file that ends early: libjpeg
 * would fill the rest with grey, a silently wrong image. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static int decode_jpeg(const unsigned char *data, size_t size, decoded *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    cinfo.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_on_error;
    failure.manager.emit_message = jpeg_on_message;
    failure.manager.output_message = jpeg_silent;
    failure.out = out;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB; /* greyscale and YCbCr convert; CMYK is refused by libjpeg */
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3) {
        snprintf(out->message, sizeof out->message, "JPEG with %d output components", cinfo.output_components);
        longjmp(failure.jump, 1);
    }
    if (check_size(out, cinfo.output_height, cinfo.output_width)) longjmp(failure.jump, 1);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->rgb + (size_t)cinfo.output_scanline * (size_t)out->width * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int cnn_image_decode(const char *path, unsigned char **rgb, int64_t *height, int64_t *width) {
    *rgb = NULL;
    unsigned char *data;
    size_t size;
    if (cnn_read_file(path, IMAGE_MAX_FILE, &data, &size)) return -1;
    decoded out = {0};
    int rc;
    if (size >= 8 && png_sig_cmp(data, 0, 8) == 0) {
        png_source src = {data, size, 0, &out};
        rc = decode_png(&src);
    } else if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        rc = decode_jpeg(data, size, &out);
    } else {
        snprintf(out.message, sizeof out.message, "not a PNG or JPEG file");
        rc = -1;
    }
    free(data);
    free(out.rows);
    if (rc) {
        free(out.rgb);
        return cnn_fail("%s: cannot decode image: %s", path, out.message[0] ? out.message : "unknown error");
    }
    *rgb = out.rgb;
    *height = out.height;
    *width = out.width;
    return 0;
}

/* ---- resizing ---- */

/* Taps of a 1-D resize from in_size to out_size, for the outputs first .. first+count-1: the
 * triangle (bilinear) filter widened by the scale when shrinking, so that every input pixel
 * contributes (PIL's and torch's antialias=True bilinear). first[i] is the first input index,
 * taps[i] how many, weights[i*max_taps + j] their normalised weights. */
typedef struct resize_axis {
    int64_t *first, *taps;
    float *weights;
    int64_t max_taps;
} resize_axis;

static void resize_axis_free(resize_axis *a) {
    free(a->first);
    free(a->taps);
    free(a->weights);
}

static int resize_axis_make(resize_axis *a, int64_t in_size, int64_t out_size, int64_t first_out, int64_t count) {
    double scale = (double)in_size / (double)out_size;
    double support = scale >= 1.0 ? scale : 1.0;
    double inv_scale = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->max_taps = (int64_t)ceil(support) * 2 + 1;
    a->first = malloc((size_t)count * sizeof(int64_t));
    a->taps = malloc((size_t)count * sizeof(int64_t));
    a->weights = calloc((size_t)(count * a->max_taps), sizeof(float));
    if (!a->first || !a->taps || !a->weights) return -1;
    for (int64_t i = 0; i < count; i++) {
        double center = scale * ((double)(i + first_out) + 0.5);
        int64_t lo = (int64_t)(center - support + 0.5);
        int64_t hi = (int64_t)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        if (hi - lo > a->max_taps) hi = lo + a->max_taps;
        int64_t n = hi - lo;
        double total = 0;
        for (int64_t j = 0; j < n; j++) {
            double t = fabs(((double)(j + lo) - center + 0.5) * inv_scale);
            total += t < 1.0 ? 1.0 - t : 0.0;
        }
        for (int64_t j = 0; j < n; j++) {
            double t = fabs(((double)(j + lo) - center + 0.5) * inv_scale);
            a->weights[i * a->max_taps + j] = total > 0 ? (float)((t < 1.0 ? 1.0 - t : 0.0) / total) : 0.0f;
        }
        a->first[i] = lo;
        a->taps[i] = n;
    }
    return 0;
}

/* torchvision's CenterCrop offset: int(round((size - crop) / 2)), Python rounding half to even. */
int64_t cnn_centre_offset(int64_t size, int64_t crop) {
    int64_t d = size - crop, k = d / 2;
    return d % 2 == 0 ? k : (k % 2 == 0 ? k : k + 1);
}

/* rgb (h,w,3) bytes -> out (3,oh,ow) in [0,1]: scaled to cover oh x ow (the limiting side
 * matching exactly, the other as torchvision's Resize computes it) and centre-cropped. */
static int resize_crop(const char *path, const unsigned char *rgb, int64_t h, int64_t w, int64_t oh, int64_t ow, float *out) {
    int64_t rh, rw;
    if (oh * w >= ow * h) { /* height limits */
        rh = oh;
        rw = oh * w / h;
        if (rw < ow) rw = ow;
    } else {
        rw = ow;
        rh = ow * h / w;
        if (rh < oh) rh = oh;
    }
    int64_t top = cnn_centre_offset(rh, oh), left = cnn_centre_offset(rw, ow);
    resize_axis ax = {0}, ay = {0};
    float *rows = malloc((size_t)(h * ow * 3) * sizeof(float)); /* (h, ow, 3) after the horizontal pass */
    int rc = -1;
    if (!rows || resize_axis_make(&ax, w, rw, left, ow) || resize_axis_make(&ay, h, rh, top, oh)) {
        cnn_fail("%s: out of memory resizing a %lldx%lld image", path, (long long)w, (long long)h);
        goto done;
    }
    for (int64_t y = 0; y < h; y++) {
        const unsigned char *src = rgb + y * w * 3;
        for (int64_t x = 0; x < ow; x++) {
            const float *wt = ax.weights + x * ax.max_taps;
            const unsigned char *s = src + ax.first[x] * 3;
            float r = 0, g = 0, b = 0;
            for (int64_t j = 0; j < ax.taps[x]; j++) {
                r += wt[j] * (float)s[3 * j];
                g += wt[j] * (float)s[3 * j + 1];
                b += wt[j] * (float)s[3 * j + 2];
            }
            float *d = rows + (y * ow + x) * 3;
            d[0] = r;
            d[1] = g;
            d[2] = b;
        }
    }
    int64_t plane = oh * ow;
    for (int64_t y = 0; y < oh; y++) {
        const float *wt = ay.weights + y * ay.max_taps;
        for (int64_t x = 0; x < ow; x++) {
            float acc[3] = {0, 0, 0};
            for (int64_t j = 0; j < ay.taps[y]; j++) {
                const float *s = rows + ((ay.first[y] + j) * ow + x) * 3;
                for (int c = 0; c < 3; c++) acc[c] += wt[j] * s[c];
            }
            for (int c = 0; c < 3; c++) {
                float v = acc[c] / 255.0f;
                out[c * plane + y * ow + x] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
            }
        }
    }
    rc = 0;
done:
    free(rows);
    resize_axis_free(&ax);
    resize_axis_free(&ay);
    return rc;
}

int cnn_image_load(const char *path, int64_t height, int64_t width, float *out) {
    unsigned char *rgb;
    int64_t h, w;
    if (cnn_image_decode(path, &rgb, &h, &w)) return -1;
    int rc;
    if (h == height && w == width) { /* no resampling: exact values */
        int64_t plane = h * w;
        for (int64_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) out[c * plane + i] = (float)rgb[i * 3 + c] / 255.0f;
        rc = 0;
    } else {
        rc = resize_crop(path, rgb, h, w, height, width, out);
    }
    free(rgb);
    return rc;
}
