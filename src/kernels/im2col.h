/* im2col.h — unfolding convolution windows into a column matrix (im2col, vol2col) and folding it back (col2im, col2vol). */
#ifndef CNN_IM2COL_H
#define CNN_IM2COL_H

#include <stdint.h>

/* The geometry of one convolution over a block of `channels` input planes. Bottom and right
 * padding are implied by out_h and out_w: window (oh, ow) tap (kh, kw) reads input row
 * oh*stride_h - pad_top + kh*dilation_h and column ow*stride_w - pad_left + kw*dilation_w, and
 * positions outside the input read zero. */
typedef struct cnn_conv_geometry {
    int64_t channels, in_h, in_w;
    int64_t out_h, out_w;
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t dilation_h, dilation_w;
    int64_t pad_top, pad_left;
} cnn_conv_geometry;

/* x is (channels, in_h, in_w), contiguous; col is (channels*kernel_h*kernel_w, out_h*out_w) with
 * row (c, kh, kw) holding that tap of every window. Every element of col is written. */
void cnn_im2col(const cnn_conv_geometry *geo, const float *x, float *col);

/* Columns [first, first + count) of cnn_im2col's matrix, written straight into our GEMM's panel
 * layout (gemm.h: panels of GEMM_NR columns, each rows x GEMM_NR row-major, zeros past count):
 * the same values as cnn_im2col followed by cnn_gemm_pack_b, without the column matrix. Columns
 * past one sample's (out_h * out_w) are the next samples' side by side, sample s's input at
 * x + s * x_stride. */
void cnn_im2col_panels(const cnn_conv_geometry *geo, const float *x, int64_t x_stride, int64_t first, int64_t count, float *bp);

/* AVX-512 versions for stride 1 (unfold_avx512.c, called only when cnn_gemm_avx512_available).
 * The rows of one tap of cnn_im2col, 16 floats at a time with masks: for rows k in [0, rows) and
 * windows q in [0, out_w), dst[k * out_w + q] = q in [lo, hi) ? src[k * src_pitch + q] : 0; src is
 * not read outside [lo, hi). */
void cnn_gather_rows_s1(float *dst, int64_t out_w, const float *src, int64_t src_pitch, int64_t rows, int64_t lo, int64_t hi);

/* cnn_col2im_add of one channel for stride 1 (both axes): x (in_h, in_w) += the fold of col (the
 * channel's kernel_h * kernel_w rows of out_h * out_w), each input row 16 elements at a time in
 * registers, summing its taps in the order (i, j) as the scalar loops do: the same bits. */
void cnn_col2im_s1_channel(const cnn_conv_geometry *geo, const float *col, float *x);

/* The adjoint of cnn_im2col: x += fold(col). Each input element sums its taps in a fixed order,
 * so the result does not depend on the thread count. */
void cnn_col2im_add(const cnn_conv_geometry *geo, const float *col, float *x);

/* The same for a 3-D convolution over `channels` input volumes; dims in order D, H, W. Window
 * (od, oh, ow) tap (kd, kh, kw) reads input position o*stride - pad + k*dilation along each dim,
 * zero outside the input; the trailing pads are implied by out[]. */
typedef struct cnn_conv3d_geometry {
    int64_t channels;
    int64_t in[3], out[3];
    int64_t kernel[3], stride[3], dilation[3], pad[3];
} cnn_conv3d_geometry;

/* x is (channels, in_d, in_h, in_w), contiguous; col is (channels*KD*KH*KW, OD*OH*OW) with row
 * (c, kd, kh, kw) holding that tap of every window. Every element of col is written. */
void cnn_vol2col(const cnn_conv3d_geometry *geo, const float *x, float *col);

/* The adjoint of cnn_vol2col: x += fold(col), each input element summing its taps in a fixed
 * order, so the result does not depend on the thread count. */
void cnn_col2vol_add(const cnn_conv3d_geometry *geo, const float *col, float *x);

#endif /* CNN_IM2COL_H */
