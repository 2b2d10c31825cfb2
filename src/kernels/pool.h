/* pool.h — pooling kernels built for AVX-512 (pool_avx512.c; called only where
 * cnn_gemm_avx512_available, ops/pool.c otherwise). */
#ifndef CNN_KERNELS_POOL_H
#define CNN_KERNELS_POOL_H

#include <stdint.h>

/* Training's 2x2 / stride-2 max pool of one plane xp (rows of w floats, every window inside it:
 * 2 oh rows and 2 ow columns read): yp (oh x ow) the maxima, ap the flat index in xp of each (the
 * element PyTorch's row-major loop keeps: with no NaN the first maximum, else the last NaN). */
void cnn_maxpool2x2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap);

/* The gradient of such a pool stored whole into the plane dx (h x w): 0 + dy[o] at output o's pick
 * ap[o] (a flat index inside its 2x2 window), 0 everywhere else (the other window cells, and rows
 * and columns past 2 oh and 2 ow): the bits of zeroing dx and adding each dy at its pick. */
/* Both run 16 outputs to a vector: along a row, or on planes of w = 2 ow with ow 1, 2, 4 or 8
 * (LeNet-5's pool2 on 8x8) 16 / ow whole output rows at a time. */
void cnn_maxpool2x2_grad_store(const float *dy, const int32_t *ap, int64_t h, int64_t w, int64_t oh, int64_t ow, float *dx);

/* An eval max pool's plane xp (h x w, w <= 32) with a 3x3 window, stride 1 and padding 1 on every
 * side (googlenet's branch pools on 28x28, 14x14 and 7x7 planes): yp (h x w), a row to one or two vectors, the
 * window's rows then its columns in ops/pool.c's order (max_nan), the padding -inf: the same bits as
 * maxpool_plane_flat, NaN included. Per 14x14 plane a few dozen instructions, where the general
 * path's passes and edge columns cost ~0.1 ms for 512 planes. */
void cnn_maxpool3x3s1_plane(const float *xp, int64_t h, int64_t w, float *yp);

/* An eval max pool's plane xp (h x w) with a 3x3 window, stride 2 and no padding, floor or ceil
 * mode (oh x ow outputs, each window's first row and column inside the plane; the rest of a window
 * past the plane counts as -inf): yp, 16 outputs of a row to a vector (the inputs' even, odd and next
 * even columns by permutes), in ops/pool.c's order: the same bits as maxpool_plane_flat, NaN
 * included (googlenet's maxpool1-4, inception_v3's and Inception-v4's stride-2 max pools). */
void cnn_maxpool3x3s2_plane(const float *xp, int64_t h, int64_t w, int64_t oh, int64_t ow, float *yp);

/* Training's 3x3 / stride-2 max pool of one plane xp (rows of w floats, every window inside it):
 * yp (oh x ow) the maxima, ap the flat index of each as cnn_maxpool2x2_argmax (the first maximum in
 * row-major order, or the last NaN), 16 outputs of a row to a vector (MiniGoogLeNet's downsampling). */
void cnn_maxpool3x3s2_argmax(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp, int32_t *ap);

#endif /* CNN_KERNELS_POOL_H */
