/* image.c — the public image calls: read (decode, resize, crop; RGB or grey) and write PNG. */
#include "../data/data.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

int cnn_image_read(const char *path, int64_t channels, int64_t height, int64_t width, float *out) {
    if (channels != 1 && channels != 3) return cnn_fail("%s: images are read with 1 or 3 channels, not %lld", path, (long long)channels);
    if (height < 1 || width < 1) return cnn_fail("%s: bad image size %lldx%lld", path, (long long)height, (long long)width);
    if (channels == 3) return cnn_image_load(path, height, width, out);
    int64_t plane = height * width;
    float *rgb = cnn_calloc((size_t)(3 * plane), sizeof(float), "image");
    if (!rgb) return -1;
    int rc = cnn_image_load(path, height, width, rgb);
    for (int64_t i = 0; rc == 0 && i < plane; i++) /* PIL's convert("L") weights */
        out[i] = 0.299f * rgb[i] + 0.587f * rgb[plane + i] + 0.114f * rgb[2 * plane + i];
    free(rgb);
    return rc;
}

int cnn_image_write_png(const char *path, int64_t channels, int64_t height, int64_t width, const float *x) {
    if ((channels != 1 && channels != 3) || height < 1 || width < 1 || height > 65536 || width > 65536)
        return cnn_fail("%s: cannot write a %lldx%lldx%lld image as PNG", path, (long long)channels, (long long)height,
                        (long long)width);
    unsigned char *row = malloc((size_t)(width * channels));
    if (!row) return cnn_fail("%s: out of memory", path);
    cnn_atomic_file a;
    if (cnn_atomic_begin(&a, path)) {
        free(row);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        cnn_atomic_abort(&a);
        return cnn_fail("%s: PNG encoding failed", path);
    }
    png_init_io(png, a.f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    int64_t plane = height * width;
    for (int64_t y = 0; y < height; y++) {
        for (int64_t xx = 0; xx < width; xx++)
            for (int64_t c = 0; c < channels; c++) {
                float v = x[c * plane + y * width + xx] * 255.0f + 0.5f;
                row[xx * channels + c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return cnn_atomic_commit(&a);
}
