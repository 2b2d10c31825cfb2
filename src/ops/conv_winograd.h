/* conv_winograd.h — conv2d's forward by Winograd's F(4x4, 3x3) (kernels/winograd.h), for 3x3 kernels
 * with stride 1, dilation 1 and one group, where our packed GEMM runs (conv_winograd.c). */
#ifndef CNN_CONV_WINOGRAD_H
#define CNN_CONV_WINOGRAD_H

#include "ops.h"

/* The node's forward at this batch goes through conv_winograd_forward: an eval plan (not training),
 * the kernel shape fits, the CPU has the GEMM, the channels and output tiles are enough for it to
 * pay (or CNN_WINOGRAD is "all"), and CNN_WINOGRAD is not "0". Training keeps the direct product: F(4x4, 3x3) rounds to ~3e-6 of the sum of the terms'
 * magnitudes (the direct product to below 1e-6), and batch statistics and gradients magnify that
 * past PyTorch's own sensitivity (test_models' MiniGoogLeNet training parity). */
bool conv_winograd_fits(const cnn_node *n, int64_t batch, bool training);

/* Bytes of scratch conv_winograd_forward needs for a batch, and of state it keeps between calls
 * (zeroed by the plan); SIZE_MAX on overflow. */
size_t conv_winograd_bytes(const cnn_node *n, int64_t batch);
size_t conv_winograd_state_bytes(const cnn_node *n);

/* y = conv(x) (+ bias), then the epilogue (cnn_op_ctx's epi_*), for the whole batch. */
int conv_winograd_forward(const cnn_op_ctx *c);

#endif /* CNN_CONV_WINOGRAD_H */
