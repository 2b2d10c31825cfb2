/* onnx_fold.h — small integer tensors for constant folding in ONNX import (shape arithmetic such as
 * torch.onnx.export's pads for F.pad), each element tagged with whether it depends on the batch. */
#ifndef CNN_IO_ONNX_FOLD_H
#define CNN_IO_ONNX_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#define FOLD_MAX_RANK 8
#define FOLD_MAX_NUMEL 4096 /* shape arithmetic is small: a larger folded value is refused */

/* What an element's value depends on: nothing variable, exactly the batch size (Shape's dim 0
 * moved about unchanged), or something computed from the batch size. */
enum { FOLD_CLEAN = 0, FOLD_BATCH = 1, FOLD_DERIVED = 2 };

typedef struct fold_tensor {
    int rank;                       /* 0: a scalar */
    int64_t dims[FOLD_MAX_RANK];
    int64_t numel;
    int64_t v[FOLD_MAX_NUMEL];      /* row-major */
    unsigned char taint[FOLD_MAX_NUMEL];
} fold_tensor;

typedef enum fold_binary_op { FOLD_ADD, FOLD_SUB, FOLD_MUL, FOLD_DIV } fold_binary_op;

/* Each returns 0, or -1 with a one-line message (cnn_fail) saying what is wrong. */
int fold_set_shape(fold_tensor *t, int rank, const int64_t *dims);
/* Every element marked FOLD_DERIVED: the result's shape or selection came from a batch-dependent value. */
void fold_taint_all(fold_tensor *t);
bool fold_any_taint(const fold_tensor *t);
int fold_binary(fold_binary_op op, const fold_tensor *a, const fold_tensor *b, fold_tensor *out);
int fold_neg(const fold_tensor *a, fold_tensor *out);
/* ONNX Slice: starts/ends/axes/steps 1-D of equal length (axes NULL: 0..n-1; steps NULL: 1). */
int fold_slice(const fold_tensor *x, const fold_tensor *starts, const fold_tensor *ends, const fold_tensor *axes,
               const fold_tensor *steps, fold_tensor *out);
int fold_concat(int n, const fold_tensor *const *xs, int64_t axis, fold_tensor *out);
int fold_reshape(const fold_tensor *x, const fold_tensor *shape, bool allowzero, fold_tensor *out);
/* perm NULL: the dims reversed. */
int fold_transpose(const fold_tensor *x, const int64_t *perm, int n_perm, fold_tensor *out);
int fold_gather(const fold_tensor *x, const fold_tensor *indices, int64_t axis, fold_tensor *out);
int fold_unsqueeze(const fold_tensor *x, const int64_t *axes, int n_axes, fold_tensor *out);
/* n_axes < 0: every dim of size 1. */
int fold_squeeze(const fold_tensor *x, const int64_t *axes, int n_axes, fold_tensor *out);
int fold_constant_of_shape(const fold_tensor *shape, int64_t value, fold_tensor *out);

#endif /* CNN_IO_ONNX_FOLD_H */
