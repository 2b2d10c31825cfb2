/* conv_winograd.h — conv2d by Winograd's minimal filtering (kernels/winograd.h) for 3x3 kernels with
 * stride 1, dilation 1 and one group, where our packed GEMM runs: the forward of eval plans by
 * F(4x4, 3x3) (conv_winograd.c; 5x5 kernels there too, by F(2x2, 5x5)), the forward and backward of
 * training plans by F(2x2, 3x3) and F(2x2, 5x5) (conv_winograd_train.c). */
#ifndef CNN_CONV_WINOGRAD_H
#define CNN_CONV_WINOGRAD_H

#include "ops.h"

/* CNN_WINOGRAD, read once: 0 never (also when the CPU lacks our GEMM), 1 by the size rules, 2 for
 * every kernel shape that fits ("all": tests). */
int conv_winograd_mode(void);

/* The kernel shape Winograd takes: side x side, stride 1, dilation 1, one group; and CNN_WINOGRAD is not "0". */
bool conv_winograd_shape(const cnn_node *n, int side);

/* The node's forward at this batch goes through conv_winograd_forward: an eval plan (not training),
 * the kernel shape fits (or is 5x5 with stride 1, dilation 1 and one group: F(2x2, 5x5), which
 * rounds to ~0.7e-6 of the terms' magnitudes in test_kernels), the CPU has the GEMM, the channels and output tiles are enough for it to
 * pay (or CNN_WINOGRAD is "all"), and CNN_WINOGRAD is not "0". Training plans do not use F(4x4,
 * 3x3): it rounds to ~3e-6 of the sum of the terms' magnitudes (the direct product to below 1e-6),
 * and batch statistics, max-pool choices and gradients magnify that past PyTorch's own sensitivity
 * (test_models' MiniGoogLeNet training parity: 3e-3 of the largest gradient where the direct
 * product gives 7e-6). */
bool conv_winograd_fits(const cnn_node *n, int64_t batch, bool training);

/* Bytes of scratch conv_winograd_forward needs for a batch, and of state it keeps between calls
 * (zeroed by the plan); SIZE_MAX on overflow. */
size_t conv_winograd_bytes(const cnn_node *n, int64_t batch);
size_t conv_winograd_state_bytes(const cnn_node *n);

/* y = conv(x) (+ bias), then the epilogue (cnn_op_ctx's epi_*), for the whole batch. */
int conv_winograd_forward(const cnn_op_ctx *c);

/* Thread tid of nt's share of the batch x's padded channels-last copies (cnn_winograd_pad_row; sample
 * b's xp_h rows of xp_w positions at xps + b * xp_h * xp_w * C), for the eval paths: a contiguous run
 * of the rows, as the blocks of tiles are dealt out afterwards (they were dealt out in turn), so that a
 * thread's blocks read the rows it padded and write output rows near each other, which the next
 * layer's threads, splitting the plane the same way, mostly read back from their own core's cache
 * (see conv.c's unfold_into_panels). inception_v3 b1 at 2 threads, when the host's two cores sit
 * apart: 63.5 -> 61.0 ms; otherwise unchanged (51.3 ms). */
void conv_winograd_pad_batch(const cnn_tensor *x, int64_t pad_top, int64_t pad_left, float *xps, int64_t xp_h, int64_t xp_w, int tid, int nt);

/* ---- eval plans, 1x7 / 7x1 and 1x3 / 3x1 kernels: F(3, 7) and F(4, 3) along the kernel's axis
 * (conv_winograd1d.c) ---- */

/* The node's forward goes through conv_winograd1d_forward: an eval plan, a 1x7, 7x1, 1x3 or 3x1
 * kernel with stride 1, dilation 1 and one group, the CPU has the GEMM, at least 16 input and output
 * channels and 32 output tiles in the batch (or CNN_WINOGRAD is "all"), and CNN_WINOGRAD is not "0". It rounds to ~3e-6 (F(3, 7))
 * and ~0.5e-6 (F(4, 3)) of the terms' magnitudes (test_kernels). */
bool conv_winograd1d_fits(const cnn_node *n, int64_t batch, bool training);

/* Bytes of scratch for a batch, and of state kept between calls (zeroed by the plan); SIZE_MAX on
 * overflow. */
size_t conv_winograd1d_bytes(const cnn_node *n, int64_t batch);
size_t conv_winograd1d_state_bytes(const cnn_node *n);

/* y = conv(x) (+ bias), then the epilogue, for the whole batch. */
int conv_winograd1d_forward(const cnn_op_ctx *c);

/* ---- training plans: F(2x2, 3x3) and F(2x2, 5x5) (conv_winograd_train.c) ---- */

/* The node's forward and backward in a training plan go through conv_winograd2_*: training, a 3x3
 * kernel shape (conv_winograd_shape) with top and left pads of at most 2 or a 5x5 one with pads of
 * at most 4, at least 16 input channels (also for CNN_WINOGRAD "all": conv_winograd_train.c) and,
 * unless CNN_WINOGRAD is "all", at least 16 output channels. */
bool conv_winograd2_fits(const cnn_node *n, int64_t batch, bool training);

/* Bytes of scratch for the forward and the backward at this batch; SIZE_MAX on overflow. */
size_t conv_winograd2_bytes(const cnn_node *n, int64_t batch);

/* y = conv(x) (+ bias) for the whole batch. */
int conv_winograd2_forward(const cnn_op_ctx *c);

/* db, dW and dx (each when asked for) added to, for the whole batch; the same bits for any thread
 * count. */
int conv_winograd2_backward(const cnn_op_ctx *c);

#endif /* CNN_CONV_WINOGRAD_H */
