/* direct.h — convolutions over one input plane (a network's first layer on grayscale images:
 * LeNet-5's conv1, MiniGoogLeNet on 1x28x28) computed directly, 16 output positions to a vector
 * (direct_avx512.c, built with -mavx512f -mfma and called only where cnn_gemm_avx512_available).
 * With one input channel the column matrix of im2col is as large as the work done on it, and the
 * GEMM's sums are only kh * kw long: here each input row is read from L1 by the taps that use it,
 * and the sums run in registers. Stride 1, dilation 1; padding by a zero-padded copy of the plane. */
#ifndef CNN_KERNELS_DIRECT_H
#define CNN_KERNELS_DIRECT_H

#include <stdint.h>

/* Output channels per pass of the forward: 8 or 10, whichever pads K less (LeNet-5's 20: two
 * passes of 10 instead of 8 + 8 + 4, a fifth of the multiply-adds on zero weights). */
static inline int cnn_direct_block(int64_t k) {
    const int64_t pad8 = (8 - k % 8) % 8, pad10 = (10 - k % 10) % 10;
    return pad10 < pad8 ? 10 : 8;
}

/* The forward's kernel table: table[t * kp + o] = w[o][t] for the taps t < taps of the kernels w
 * (K, taps), o < kp = K rounded up to kb (cnn_direct_block), zeros past K. */
void cnn_direct_table(const float *w, int64_t k, int taps, int kb, float *table);

/* Output channels [k_first, k_first + k_count) (k_first a multiple of kb, k_count <= kb) of y (planes
 * of oh x ow, channel o at y + o * oh * ow) = the convolution of the padded plane xp (rows of pw
 * floats, output (oy, ox)'s window at xp[oy][ox]) with the kernels of table (cnn_direct_table, kp
 * floats per tap) + bias[o] (bias may be NULL). Each output sums its taps in the order (i, j), then
 * adds the bias. */
void cnn_direct_forward(const float *xp, int64_t pw, const float *table, int64_t kp, int kb, const float *bias, int64_t k_first,
                        int64_t k_count, int kh, int kw, float *y, int64_t oh, int64_t ow);

/* dw[o][t] += sum over the samples b < batch and outputs (oy, ox) of dy_b[o][oy][ox] * xp_b[oy + i][ox
 * + j] (t = i * kw + j) for the output channels o in [k_first, k_first + k_count): xp_b at xps + b *
 * xp_stride (rows of pw floats), dy_b's plane o at dy + b * dy_stride + o * oh * ow, dw (K, kh * kw).
 * Each weight's sum runs in 16 lanes over the samples and vectors of 16 output positions (5x5 and
 * 3x3 kernels: consecutive positions, a vector spanning two rows where a row is 16 or wider; others:
 * a row's) in order, the lanes added at the end in a fixed order. */
void cnn_direct_weight_grad(const float *xps, int64_t xp_stride, int64_t pw, const float *dy, int64_t dy_stride, int64_t batch, int64_t k_first,
                            int64_t k_count, int kh, int kw, int64_t oh, int64_t ow, float *dw);

#endif /* CNN_KERNELS_DIRECT_H */
