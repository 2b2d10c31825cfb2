/* im2col.h — unfolding convolution windows into a column matrix (im2col) and folding it back (col2im). */
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

/* The adjoint of cnn_im2col: x += fold(col). Each input element sums its taps in a fixed order,
 * so the result does not depend on the thread count. */
void cnn_col2im_add(const cnn_conv_geometry *geo, const float *col, float *x);

#endif /* CNN_IM2COL_H */
