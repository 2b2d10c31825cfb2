/* attrs.h — the attribute structs of the op kinds, shared by their op files and the ONNX exporter. */
#ifndef CNN_OPS_ATTRS_H
#define CNN_OPS_ATTRS_H

#include "cnn.h"

/* activation.c */
typedef enum act_kind { ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH } act_kind;

typedef struct act_attrs {
    act_kind kind;
    float slope; /* leaky ReLU */
} act_attrs;

/* activation.c: clip; softmax over the joint dims first..last */
typedef struct clip_attrs {
    float min, max;
} clip_attrs;

typedef struct softmax_attrs {
    int first, last;
} softmax_attrs;

/* combine.c */
typedef struct scale_attrs {
    float factor;
} scale_attrs;

typedef struct zero_pad_attrs {
    int top, bottom, left, right;
} zero_pad_attrs;

/* conv.c */
typedef struct conv_attrs {
    int64_t out_channels, groups;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int dilation_h, dilation_w;
    int padding;        /* >= 0: explicit (pads_given); CNN_PAD_SAME; CNN_PAD_VALID */
    int pads_given[4];  /* top, bottom, left, right as the caller gave them */
    int pads[4];        /* resolved by conv_shape: top, bottom, left, right */
    bool bias;
} conv_attrs;

/* conv3d.c: dims in order D, H, W */
typedef struct conv3d_attrs {
    int64_t out_channels, groups;
    int kernel[3], stride[3], dilation[3];
    int pad_before[3], pad_after[3];
    bool bias;
} conv3d_attrs;

/* dense.c */
typedef struct dense_attrs {
    int64_t out_features;
    bool bias;
} dense_attrs;

/* norm.c */
typedef struct batchnorm_attrs {
    float eps, momentum;
} batchnorm_attrs;

typedef struct lrn_attrs {
    int size;
    float alpha, beta, k;
    int before;               /* channels of the window before c (PyTorch: size/2; ONNX: (size-1)/2) */
} lrn_attrs;

/* pool.c */
typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_ADAPTIVE_AVG } pool_kind;

typedef struct pool_attrs {
    pool_kind kind;
    cnn_pool2d_params p;      /* as given, with stride 0 replaced by the kernel size */
    int pad[4];               /* resolved by the shape function: top, bottom, left, right */
    bool include_pad;         /* average pool: count padded cells in the divisor ("same" never does) */
    int64_t out_h, out_w;     /* adaptive pool: the requested output size (global: 1x1) */
} pool_attrs;

/* pool3d.c: max (POOL_MAX) or average (POOL_AVG) pooling over D, H, W */
typedef struct pool3d_attrs {
    pool_kind kind;
    cnn_pool3d_params p;      /* as given, with stride 0 replaced by the kernel size, dilation 0 by 1 */
} pool3d_attrs;

/* shape.c: reshape, constant, concatenation along any dim, padding */
typedef struct reshape_attrs {
    int rank;
    int64_t dims[CNN_MAX_RANK]; /* dims[1..rank-1]; dims[0] unused */
} reshape_attrs;

typedef struct constant_attrs {
    int rank;
    int64_t dims[CNN_MAX_RANK]; /* the per-sample shape, dims[0] unused */
} constant_attrs;

typedef struct concat_axis_attrs {
    int axis;
} concat_axis_attrs;

typedef struct pad_attrs {
    cnn_pad_mode mode;
    int64_t before[CNN_MAX_RANK], after[CNN_MAX_RANK]; /* per dim; dim 0 (the batch) is 0 */
    float value;                                       /* CNN_PADMODE_CONSTANT */
} pad_attrs;

typedef struct transpose_attrs {
    int perm[CNN_MAX_RANK]; /* output dim d is input dim perm[d]; perm[0] is 0 (the batch) */
} transpose_attrs;

/* elementwise.c: a (op) b with NumPy broadcasting over the per-sample dims */
typedef enum binary_kind { BINARY_ADD, BINARY_MUL } binary_kind;

typedef struct binary_attrs {
    binary_kind kind;
} binary_attrs;

#endif /* CNN_OPS_ATTRS_H */
