/* conv_direct.h — conv2d over a single input plane computed directly (conv_direct.c, kernels/direct.h):
 * a network's first layer on grayscale images. */
#ifndef CNN_CONV_DIRECT_H
#define CNN_CONV_DIRECT_H

#include "ops.h"

/* One input channel, one group, stride 1, dilation 1, at most 7x7 taps, and our GEMM's CPU (AVX-512F). */
bool conv_direct_fits(const cnn_node *n);

/* Bytes of scratch for a batch (the kernel table, and the zero-padded planes when there is padding);
 * SIZE_MAX on overflow. */
size_t conv_direct_bytes(const cnn_node *n, int64_t batch);

/* y = conv(x) (+ bias), then the epilogue (cnn_op_ctx's epi_*), for the whole batch. */
int conv_direct_forward(const cnn_op_ctx *c);

/* db and dW added to (each when asked for) for the whole batch, without the input gradient: each
 * weight's sum made by one thread (output channels shared out), the same bits for any thread count. */
int conv_direct_backward(const cnn_op_ctx *c);

#endif /* CNN_CONV_DIRECT_H */
