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

#endif /* CNN_KERNELS_POOL_H */
