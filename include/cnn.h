/* cnn.h — the public API of libcnn: tensors, the graph builder, the executor, parameters and losses. */
#ifndef CNN_H
#define CNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------------
 * Errors and threads.
 * Every function that can fail returns 0 / a pointer on success and -1 / NULL on failure, and
 * records a one-line message that cnn_last_error() returns. The library never exits or aborts.
 * ---------------------------------------------------------------------------------------------- */
const char *cnn_last_error(void);
void cnn_clear_error(void);
/* Records a message as the last error and returns -1 (for code built on the library). */
int cnn_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Threads used by the kernels (OpenMP and OpenBLAS). n <= 0 means "all cores". */
void cnn_set_threads(int n);
int cnn_get_threads(void);

/* ------------------------------------------------------------------------------------------------
 * Tensors: float32, row-major NCHW. A tensor may view a slice of a larger buffer (a channel slice
 * of a concatenation), so code walks it through `stride` (in elements), never assuming
 * stride[0] == C*H*W. Within one sample (dims 1..rank-1) data is contiguous.
 * ---------------------------------------------------------------------------------------------- */
#define CNN_MAX_RANK 5

typedef enum cnn_device { CNN_DEVICE_CPU = 0, CNN_DEVICE_CUDA = 1 } cnn_device;

typedef struct cnn_tensor {
    float *data;
    int rank;                        /* 2: (N,F); 4: (N,C,H,W); 5: (N,C,D,H,W) */
    int64_t shape[CNN_MAX_RANK];     /* unused trailing dims are 1 */
    int64_t stride[CNN_MAX_RANK];
    cnn_device device;
} cnn_tensor;

/* Number of elements (product of shape[0..rank-1]); -1 on overflow. */
int64_t cnn_tensor_numel(const cnn_tensor *t);

/* ------------------------------------------------------------------------------------------------
 * Graph builder, shaped like the Keras functional API: each call takes the graph and its input
 * node(s) and returns the new node. A call whose input is NULL returns NULL and keeps the first
 * error, so a model can be built with a single check at the end. Shapes are checked as the graph
 * is built: a bad layer is refused with a message naming it and the shapes involved.
 *
 * Node shapes exclude the batch: a node built from cnn_input(g, "x", 3, 224, 224) has shape
 * (N,3,224,224) where N is chosen when a plan is made.
 *
 * `name` is the layer's name inside the current scope (NULL: an automatic name such as
 * "conv2d_3"). Parameters are called "<scopes>.<name>.<param>" like PyTorch's state_dict keys.
 * ---------------------------------------------------------------------------------------------- */
typedef struct cnn_graph cnn_graph;
typedef struct cnn_node cnn_node;
typedef struct cnn_safetensors cnn_safetensors;

cnn_graph *cnn_graph_create(void);
void cnn_graph_free(cnn_graph *g);

/* Scopes: cnn_scope_push(g, "inception3a"); ... cnn_scope_pop(g). printf-style. */
int cnn_scope_push(cnn_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cnn_scope_pop(cnn_graph *g);

/* A graph input of per-sample shape (C,H,W). Inputs are numbered in creation order. */
cnn_node *cnn_input(cnn_graph *g, const char *name, int64_t channels, int64_t height, int64_t width);
/* A graph input of any rank 1..5 (the batch included): per-sample dims dims[1..rank-1]; dims[0]
 * is ignored. cnn_input is rank 4. */
cnn_node *cnn_input_nd(cnn_graph *g, const char *name, int rank, const int64_t *dims);

/* Padding: a non-negative number pads every side by that much; or one of these. */
#define CNN_PAD_SAME  (-1) /* TensorFlow/Keras "same": output = ceil(input / stride), extra on bottom/right */
#define CNN_PAD_VALID (-2) /* no padding */

typedef struct cnn_conv2d_params {
    int64_t out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;         /* 0 means 1 */
    int dilation_h, dilation_w;     /* 0 means 1 */
    int64_t groups;                 /* 0 means 1 */
    int padding;                    /* >= 0: explicit pads below are used; CNN_PAD_SAME / CNN_PAD_VALID */
    int pad_top, pad_bottom, pad_left, pad_right;
    bool bias;
} cnn_conv2d_params;

/* 2-D convolution; weight (OC, C/groups, KH, KW), bias (OC). pad: >= 0 pads all sides. */
cnn_node *cnn_conv2d(cnn_graph *g, cnn_node *x, const char *name, int64_t out_channels,
                     int kernel_h, int kernel_w, int stride, int pad, bool bias);
cnn_node *cnn_conv2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_conv2d_params *p);

typedef struct cnn_conv3d_params {
    int64_t out_channels;
    int kernel[3];                  /* D, H, W */
    int stride[3];                  /* 0 means 1 */
    int dilation[3];                /* 0 means 1 */
    int64_t groups;                 /* 0 means 1 */
    int pad_before[3], pad_after[3]; /* zero padding: front, top, left / back, bottom, right */
    bool bias;
} cnn_conv3d_params;

/* 3-D convolution of (N,C,D,H,W) (PyTorch's Conv3d); weight (OC, C/groups, KD, KH, KW), bias (OC). */
cnn_node *cnn_conv3d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_conv3d_params *p);

/* Batch normalisation over channels of (N,C,H,W), (N,C,D,H,W) or (N,C,L), or features of (N,F).
 * Parameters weight, bias; buffers running_mean, running_var. PyTorch semantics: train mode
 * normalises with the biased batch variance and updates running stats with `momentum` (0.1 in
 * PyTorch) using the unbiased variance; eval mode uses the running stats. */
cnn_node *cnn_batchnorm(cnn_graph *g, cnn_node *x, const char *name, float eps, float momentum);

/* Element-wise activations. softmax is over dim 1. */
cnn_node *cnn_relu(cnn_graph *g, cnn_node *x, const char *name);
cnn_node *cnn_leaky_relu(cnn_graph *g, cnn_node *x, const char *name, float negative_slope);
cnn_node *cnn_sigmoid(cnn_graph *g, cnn_node *x, const char *name);
cnn_node *cnn_tanh(cnn_graph *g, cnn_node *x, const char *name);
cnn_node *cnn_softmax(cnn_graph *g, cnn_node *x, const char *name);

typedef struct cnn_pool2d_params {
    int kernel_h, kernel_w;
    int stride_h, stride_w;         /* 0 means the kernel size (PyTorch's default) */
    int padding;                    /* >= 0: explicit pads below; CNN_PAD_SAME / CNN_PAD_VALID */
    int pad_top, pad_bottom, pad_left, pad_right;
    bool ceil_mode;                 /* PyTorch: the last window must start inside input or left pad */
    bool count_include_pad;         /* average pool only; PyTorch's default is true */
    bool large_pads;                /* pads up to kernel - 1 (ONNX) rather than PyTorch's kernel / 2 */
    int dilation_h, dilation_w;     /* max pool only; 0 means 1 */
} cnn_pool2d_params;

cnn_node *cnn_maxpool2d(cnn_graph *g, cnn_node *x, const char *name, int kernel, int stride, int pad,
                        bool ceil_mode);
cnn_node *cnn_maxpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p);
cnn_node *cnn_avgpool2d(cnn_graph *g, cnn_node *x, const char *name, int kernel, int stride, int pad,
                        bool ceil_mode, bool count_include_pad);
cnn_node *cnn_avgpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p);
/* Max / average pooling of (N,C,D,H,W) (PyTorch's MaxPool3d / AvgPool3d) by the rules of the 2-D
 * pools along each axis: ceil mode, count_include_pad, pad limits, asymmetric pads. Dims D,H,W. */
typedef struct cnn_pool3d_params {
    int kernel[3];
    int stride[3];                  /* 0: the kernel size */
    int pad_before[3], pad_after[3];
    bool ceil_mode;
    bool count_include_pad;         /* average pool only */
    bool large_pads;                /* pads up to kernel - 1 (ONNX) rather than PyTorch's kernel / 2 */
    int dilation[3];                /* max pool only; 0 means 1 */
} cnn_pool3d_params;

cnn_node *cnn_maxpool3d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool3d_params *p);
cnn_node *cnn_avgpool3d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool3d_params *p);
/* (N,C,H,W) -> (N,C,1,1) */
cnn_node *cnn_global_avgpool(cnn_graph *g, cnn_node *x, const char *name);
/* PyTorch AdaptiveAvgPool2d: bin i spans [floor(i*H/OH), ceil((i+1)*H/OH)). */
cnn_node *cnn_adaptive_avgpool(cnn_graph *g, cnn_node *x, const char *name, int64_t out_h, int64_t out_w);

/* PyTorch LocalResponseNorm: b_c = a_c / (k + alpha/size * sum_{window} a^2)^beta, window of
 * `size` channels centred on c (size/2 before, (size-1)/2 after), zero outside. */
cnn_node *cnn_lrn(cnn_graph *g, cnn_node *x, const char *name, int size, float alpha, float beta, float k);

/* Inverted dropout: train mode zeroes each element with probability p and scales the rest by
 * 1/(1-p); eval mode is the identity. The mask is a function of the plan's seed, step and node. */
cnn_node *cnn_dropout(cnn_graph *g, cnn_node *x, const char *name, float p);

/* Fully connected: (N,F) -> (N,out). weight (out, F), bias (out). Input must be flat. */
cnn_node *cnn_dense(cnn_graph *g, cnn_node *x, const char *name, int64_t out_features, bool bias);
/* (N,C,H,W) -> (N,C*H*W) */
cnn_node *cnn_flatten(cnn_graph *g, cnn_node *x, const char *name);
/* Concatenation along dim 1 (channels); other dims must match. */
cnn_node *cnn_concat(cnn_graph *g, int n, cnn_node *const *xs, const char *name);
/* a + b, same shapes. */
cnn_node *cnn_add(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name);
/* x * factor (Inception-ResNet's residual scaling). */
cnn_node *cnn_scale(cnn_graph *g, cnn_node *x, const char *name, float factor);
/* Zero padding of the spatial dims (Keras ZeroPadding2D). */
cnn_node *cnn_zero_pad(cnn_graph *g, cnn_node *x, const char *name, int top, int bottom, int left, int right);

/* Tensor-shaped ops (ONNX import needs them; any rank 1..5 unless said otherwise). */
/* min(max(x, min), max); the gradient passes where min <= x <= max (PyTorch's clamp). */
cnn_node *cnn_clip(cnn_graph *g, cnn_node *x, const char *name, float min, float max);
/* Softmax over the joint dims first..last (1 <= first <= last < rank); cnn_softmax is (1, 1). */
cnn_node *cnn_softmax_dims(cnn_graph *g, cnn_node *x, const char *name, int first, int last);
/* (N,C,H,W) -> (N,C,1,1): the largest value of each plane. */
cnn_node *cnn_global_maxpool(cnn_graph *g, cnn_node *x, const char *name);
/* LRN whose window holds `before` channels before c and size-1-before after it (cnn_lrn: size/2
 * before, as PyTorch; ONNX: (size-1)/2, which differs for an even size). */
cnn_node *cnn_lrn_window(cnn_graph *g, cnn_node *x, const char *name, int size, int before, float alpha, float beta,
                         float k);
/* The same elements in another per-sample shape dims[1..rank-1] (dims[0] ignored). */
cnn_node *cnn_reshape(cnn_graph *g, cnn_node *x, const char *name, int rank, const int64_t *dims);
/* A value with no input: the parameter "<name>.value" of per-sample shape dims[1..rank-1], the same
 * for every sample. Trainable: its gradient is the sum over the batch; otherwise a buffer. */
cnn_node *cnn_constant(cnn_graph *g, const char *name, int rank, const int64_t *dims, bool trainable);
/* Concatenation along dim `axis` (1 .. rank-1); all other dims must match. */
cnn_node *cnn_concat_axis(cnn_graph *g, int n, cnn_node *const *xs, int axis, const char *name);
/* a + b and a * b with NumPy broadcasting: equal ranks, each per-sample dim equal or 1 in one. */
cnn_node *cnn_add_broadcast(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name);
cnn_node *cnn_mul(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name);
/* Padding of dims 1..rank-1 by before[d] / after[d] (before[0], after[0] must be 0): a constant
 * value, the reflection without repeating the edge (pads < dim), or the edge value repeated. */
typedef enum cnn_pad_mode { CNN_PADMODE_CONSTANT = 0, CNN_PADMODE_REFLECT, CNN_PADMODE_EDGE } cnn_pad_mode;
cnn_node *cnn_pad(cnn_graph *g, cnn_node *x, const char *name, cnn_pad_mode mode, const int64_t before[CNN_MAX_RANK],
                  const int64_t after[CNN_MAX_RANK], float value);
/* Permutes the per-sample dims: output dim d is input dim perm[d] (perm has `rank` entries, the
 * input's rank; perm[0] must be 0, the batch). PyTorch's x.permute(perm). */
cnn_node *cnn_transpose(cnn_graph *g, cnn_node *x, const char *name, int rank, const int *perm);
/* Matrix products over the last two dims: a (N,...,M,K) b (N,...,K,P) -> (N,...,M,P), ranks 3 or 4;
 * the dims between must be equal, or all 1 in one of them (broadcast). */
cnn_node *cnn_matmul(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name);

/* Outputs, in order (main head first). A train-only output (an auxiliary classifier) and the
 * nodes only it needs are left out of eval-mode plans. */
#define CNN_OUTPUT_TRAIN_ONLY 1u
int cnn_graph_add_output(cnn_graph *g, cnn_node *x, unsigned flags);

/* An unbatched graph computes whole tensors: dim 0 of its values is a batch of exactly 1, and the
 * dims after it are the model's own (ONNX import makes one of a model whose dims are all fixed and
 * that mixes dim 0 with the others: a Flatten at axis 0, a Concat or Softmax along it, a Reshape
 * that changes it, Gemm with transA). Plans of it take batch 1, it may have no input, and the
 * command line reads and writes its tensors without that batch dim. */
void cnn_graph_set_unbatched(cnn_graph *g, bool unbatched);
bool cnn_graph_unbatched(const cnn_graph *g);

/* Introspection. */
int64_t cnn_graph_node_count(const cnn_graph *g);
cnn_node *cnn_graph_node(const cnn_graph *g, int64_t i);     /* topological order */
int cnn_graph_input_count(const cnn_graph *g);
cnn_node *cnn_graph_input(const cnn_graph *g, int i);
int cnn_graph_output_count(const cnn_graph *g);
cnn_node *cnn_graph_output(const cnn_graph *g, int i);
bool cnn_graph_output_train_only(const cnn_graph *g, int i);
const char *cnn_node_name(const cnn_node *x);                 /* full scoped name */
const char *cnn_node_op(const cnn_node *x);                   /* "conv2d", "batchnorm", ... */
int cnn_node_rank(const cnn_node *x);
/* Per-sample shape; dims[0] is the batch and reads 0 here. */
void cnn_node_shape(const cnn_node *x, int64_t dims[CNN_MAX_RANK]);
int cnn_node_input_count(const cnn_node *x);
cnn_node *cnn_node_input(const cnn_node *x, int i);
int64_t cnn_node_param_count(const cnn_node *x);              /* elements, trainable + buffers */
int64_t cnn_node_macs(const cnn_node *x);                     /* multiply-adds per sample */

/* ------------------------------------------------------------------------------------------------
 * Parameters: named tensors in build order. Trainable parameters live in one flat buffer and
 * their gradients in another of the same layout (allocated when training starts), so an
 * optimizer is one loop. Non-trainable buffers (running_mean, running_var) live apart.
 * ---------------------------------------------------------------------------------------------- */
typedef struct cnn_param {
    const char *name;         /* "inception3a.branch2.1.conv.weight" */
    int rank;
    int64_t shape[CNN_MAX_RANK];
    int64_t numel;
    float *data;
    float *grad;              /* NULL for buffers, or before gradients are allocated */
    bool trainable;
} cnn_param;

int64_t cnn_param_count(const cnn_graph *g);
int cnn_param_get(const cnn_graph *g, int64_t i, cnn_param *out);
/* Returns 0 and fills *out, or -1 with "no parameter named ..." */
int cnn_param_find(const cnn_graph *g, const char *name, cnn_param *out);
/* Flat views: all trainable values / gradients, in build order. */
float *cnn_graph_params(cnn_graph *g, int64_t *count);
float *cnn_graph_grads(cnn_graph *g, int64_t *count);         /* allocates on first call */
void cnn_graph_zero_grad(cnn_graph *g);
/* PyTorch's default initialisation (kaiming-uniform conv/linear weights, uniform biases,
 * BatchNorm weight 1 bias 0, running stats 0 and 1), drawn from `seed`. */
int cnn_graph_init_params(cnn_graph *g, uint64_t seed);

/* ------------------------------------------------------------------------------------------------
 * Executor: a plan is made once per (graph, batch size, mode). It allocates every activation,
 * gradient, per-layer state and scratch buffer up front; forward and backward allocate nothing.
 * ---------------------------------------------------------------------------------------------- */
typedef struct cnn_plan cnn_plan;

#define CNN_PLAN_TRAIN      1u  /* train mode: batch statistics, dropout, gradients, aux outputs */
#define CNN_PLAN_INPUT_GRAD 2u  /* also compute gradients with respect to the graph inputs */
#define CNN_PLAN_NO_DROPOUT 4u  /* train mode with dropout as the identity (deterministic training) */
#define CNN_PLAN_UNFUSED    8u  /* eval mode without folding batch norm / residual add / ReLU into the
                                   convolution before them or sharing buffers, train mode without
                                   folding a ReLU into the batch norm before it: every layer's value
                                   (and in training gradient) is kept (3x3 convolutions still run by
                                   Winograd: CNN_WINOGRAD=0) */
#define CNN_PLAN_FROZEN     16u /* eval mode for parameters that stay as they are for the plan's life
                                   (inference from loaded weights: cnn bench, predict, evaluate):
                                   the Winograd paths' transformed kernels are made at the first
                                   forward and used as they are, without checking each forward
                                   whether the kernels changed (otherwise every weight is read and
                                   hashed each forward: 7-9% of googlenet's time at batch 1 on an
                                   Intel Xeon host). After changing a parameter, make a new plan. */

cnn_plan *cnn_plan_create(cnn_graph *g, int64_t batch, unsigned flags);
void cnn_plan_free(cnn_plan *p);
int64_t cnn_plan_batch(const cnn_plan *p);
/* Write inputs here before cnn_plan_forward. */
cnn_tensor *cnn_plan_input(cnn_plan *p, int i);
const cnn_tensor *cnn_plan_output(const cnn_plan *p, int i);
int cnn_plan_output_count(const cnn_plan *p);
/* Set d(loss)/d(output i) here before cnn_plan_backward (zeroed by each forward). */
cnn_tensor *cnn_plan_output_grad(cnn_plan *p, int i);
const cnn_tensor *cnn_plan_input_grad(const cnn_plan *p, int i);
/* Whether the plan computes this node (in one way or another: its value may not be kept). */
bool cnn_plan_computes(const cnn_plan *p, const cnn_node *x);
/* The value a node computed in the last forward; NULL if the node is not in this plan, or if its
 * value is not kept: eval plans fold layers into the convolution before them and reuse the
 * buffers of layers whose values are no longer needed, training plans fold a batch norm's one ReLU
 * into it (CNN_PLAN_UNFUSED keeps every value). Plan outputs and graph inputs are always kept. Samples sit stride[0] elements apart: a node feeding
 * only a concatenation is a slice of its output. */
const cnn_tensor *cnn_plan_value(const cnn_plan *p, const cnn_node *x);
/* The gradient of a node's output from the last backward (NULL if none is kept for it: a batch
 * norm with its ReLU folded in; that ReLU's then holds the batch norm's output gradient after the
 * backward). */
const cnn_tensor *cnn_plan_grad(const cnn_plan *p, const cnn_node *x);
/* Seed of dropout masks; each forward in train mode advances the step. */
void cnn_plan_set_seed(cnn_plan *p, uint64_t seed, uint64_t step);
int cnn_plan_forward(cnn_plan *p);
/* Accumulates into the parameters' gradients (like PyTorch: zero them with cnn_graph_zero_grad). */
int cnn_plan_backward(cnn_plan *p);
/* Bytes held by activations, gradients, states and scratch. */
size_t cnn_plan_memory(const cnn_plan *p);
/* Profiling: while on, every forward and backward adds each node's wall time (zeroed when turned
 * on). cnn_plan_node_seconds reads node i's totals (graph order); -1 when profiling is off. */
int cnn_plan_set_profiling(cnn_plan *p, bool on);
int cnn_plan_node_seconds(const cnn_plan *p, int64_t i, double *forward_s, double *backward_s);

/* ------------------------------------------------------------------------------------------------
 * Loss: softmax cross-entropy, mean over the batch, with label smoothing exactly as
 * torch.nn.CrossEntropyLoss(label_smoothing=eps). logits (N,K); labels in [0,K).
 * Writes the loss to *loss and, if dlogits is not NULL, scale * d(loss)/d(logits) into it.
 * ---------------------------------------------------------------------------------------------- */
int cnn_softmax_cross_entropy(const cnn_tensor *logits, const int64_t *labels, float label_smoothing,
                              float *loss, cnn_tensor *dlogits, float scale);


/* ------------------------------------------------------------------------------------------------
 * Model zoo: builders of the classic networks, registered by name (INTERFACE.md lists them).
 * Zero / NULL fields take the model's defaults (classes 1000 or 10; input 3x224x224, 3x299x299,
 * 1x28x28 or 3x32x32). The auxiliary heads are train-only outputs, never part of eval results.
 * ---------------------------------------------------------------------------------------------- */
typedef struct cnn_model_options {
    int64_t classes;
    int64_t channels, height, width;
    int aux;                  /* -1 default (on where the model has them), 0 off, 1 on */
    const char *variant;      /* e.g. "paper" for googlenet; NULL: the default */
} cnn_model_options;

/* Builds a fresh graph with one input and the main output (then auxiliary ones). Errors name
 * the model, or list the zoo for an unknown name. */
cnn_graph *cnn_model_build(const char *name, const cnn_model_options *opts);
/* NULL-terminated list of zoo names. */
const char *const *cnn_model_names(void);

/* ------------------------------------------------------------------------------------------------
 * Data (src/data). A dataset is a list of (image, label); a loader turns it into batches.
 * spec: "fashion-mnist[:DIR]" (gzip IDX; default DIR /usr/share/datasets/fashion-mnist),
 * "mnist:DIR", "cifar10:DIR", "cifar100:DIR" (binary batches), "folder:DIR" (one sub-folder of
 * PNG/JPEG images per class, class = sorted sub-folder names; DIR/train and DIR/test (or DIR/val)
 * are the splits when present, else the whole folder is both), "npy:X.npy,Y.npy" (both splits).
 * ---------------------------------------------------------------------------------------------- */
typedef struct cnn_dataset cnn_dataset;
typedef enum cnn_split { CNN_SPLIT_TRAIN = 0, CNN_SPLIT_TEST = 1 } cnn_split;

/* height/width: the size folder images are resized (shorter side) and centre-cropped to; 0 means
 * 224. Other datasets have a fixed size and ignore them. */
cnn_dataset *cnn_dataset_open(const char *spec, cnn_split split, int64_t height, int64_t width);
void cnn_dataset_free(cnn_dataset *d);
int64_t cnn_dataset_size(const cnn_dataset *d);
void cnn_dataset_shape(const cnn_dataset *d, int64_t *channels, int64_t *height, int64_t *width);
int64_t cnn_dataset_classes(const cnn_dataset *d);
const char *cnn_dataset_class_name(const cnn_dataset *d, int64_t k);
/* The dataset's usual per-channel normalisation (images scaled to [0,1] first): Fashion-MNIST
 * 0.2860/0.3530, CIFAR-10 (0.4914,0.4822,0.4465)/(0.2470,0.2435,0.2616), ...; npy 0/1. */
void cnn_dataset_normalization(const cnn_dataset *d, float mean[3], float std[3]);
/* Sample i as floats (images in [0,1], npy data as stored), shape (C,H,W), and its label.
 * Safe to call from several threads. */
int cnn_dataset_get(const cnn_dataset *d, int64_t i, float *x, int64_t *label);

typedef struct cnn_loader_options {
    int64_t batch;
    bool shuffle;                  /* a permutation per epoch, a function of (seed, epoch) */
    bool drop_last;                /* leave out the last short batch */
    uint64_t seed;
    int64_t channels, height, width; /* the network's input; 0: the dataset's. 1 -> 3 channels repeats */
    bool normalize;                /* (x - mean) / std per channel with the dataset's values */
    bool flip;                     /* random horizontal flip, p = 0.5 */
    int crop_pad;                  /* random crop of the input size from the image zero-padded by this */
} cnn_loader_options;

typedef struct cnn_loader cnn_loader;
/* The loader prepares the next batch on its own thread while the caller computes. Augmentation
 * draws from (seed, epoch, sample index), so a run resumed with cnn_loader_seek is exact. */
cnn_loader *cnn_loader_create(const cnn_dataset *d, const cnn_loader_options *o);
void cnn_loader_free(cnn_loader *l);
int64_t cnn_loader_batches_per_epoch(const cnn_loader *l);
/* Next batch: x (batch,C,H,W), labels; *count samples (short at the end without drop_last).
 * Returns 0 with a batch, 1 at the end of an epoch (the next call starts the next epoch), -1 on
 * error. *wait_seconds (may be NULL) is how long the call waited for data. */
int cnn_loader_next(cnn_loader *l, float *x, int64_t *labels, int64_t *count, double *wait_seconds);
/* Where the next batch comes from, for checkpoints; and going back there. */
void cnn_loader_position(const cnn_loader *l, int64_t *epoch, int64_t *batch_index);
int cnn_loader_seek(cnn_loader *l, int64_t epoch, int64_t batch_index);

/* ------------------------------------------------------------------------------------------------
 * Training (src/train): PyTorch's SGD (momentum, dampening 0, Nesterov, weight decay added to the
 * gradient) and Adam (bias-corrected, weight decay added to the gradient) over the graph's flat
 * parameter and gradient buffers; learning-rate schedules.
 * ---------------------------------------------------------------------------------------------- */
typedef enum cnn_optimizer_kind { CNN_OPT_SGD = 0, CNN_OPT_ADAM = 1 } cnn_optimizer_kind;

typedef struct cnn_optimizer_options {
    cnn_optimizer_kind kind;
    float momentum;           /* SGD */
    bool nesterov;            /* SGD; needs momentum > 0 */
    float weight_decay;
    float beta1, beta2, eps;  /* Adam; 0 means PyTorch's defaults 0.9, 0.999, 1e-8 */
} cnn_optimizer_options;

typedef struct cnn_optimizer cnn_optimizer;
cnn_optimizer *cnn_optimizer_create(cnn_graph *g, const cnn_optimizer_options *o);
void cnn_optimizer_free(cnn_optimizer *opt);
/* One update of every trainable parameter from its gradient, with learning rate lr. */
int cnn_optimizer_step(cnn_optimizer *opt, float lr);
/* The optimizer's state as named flat buffers (momentum / exp_avg / exp_avg_sq, laid out like
 * the graph's parameters) and its step count, for checkpoints. */
int cnn_optimizer_state_count(const cnn_optimizer *opt);
float *cnn_optimizer_state(cnn_optimizer *opt, int i, const char **name, int64_t *count);
int64_t cnn_optimizer_steps(const cnn_optimizer *opt);
void cnn_optimizer_set_steps(cnn_optimizer *opt, int64_t steps);

/* "constant", "step:EPOCHS:GAMMA" (lr * gamma^floor(epoch/EPOCHS)), "poly:POWER"
 * (lr * (1 - epoch/total)^POWER), "cosine" (PyTorch's CosineAnnealingLR with T_max = total,
 * eta_min 0). Like PyTorch's schedulers stepped once per epoch: the rate of a whole epoch. */
typedef struct cnn_schedule {
    int kind;                 /* 0 constant, 1 step, 2 poly, 3 cosine */
    double step_epochs, gamma, power;
} cnn_schedule;
int cnn_schedule_parse(const char *text, cnn_schedule *out);
float cnn_schedule_lr(const cnn_schedule *s, float base_lr, int64_t epoch, int64_t total_epochs);

/* Training checkpoints: the weights (PyTorch names), the optimizer's state as
 * "optimizer.<state name>" and string metadata (step, epoch, data position, options), in one
 * safetensors file written atomically. opt may be NULL (weights only). */
int cnn_checkpoint_save(const char *path, const cnn_graph *g, cnn_optimizer *opt, int n_meta, const char *const *keys,
                        const char *const *values);
/* Restores weights and optimizer state (every one must be present, with the right size) and
 * returns the open file so that the caller can read its metadata; NULL with a message naming the
 * file and tensor on failure, leaving the graph untouched. */
cnn_safetensors *cnn_checkpoint_load(const char *path, cnn_graph *g, cnn_optimizer *opt);

/* ------------------------------------------------------------------------------------------------
 * Files. safetensors: 8-byte little-endian header length, JSON header, raw little-endian data.
 * ---------------------------------------------------------------------------------------------- */
typedef enum cnn_dtype { CNN_F32 = 0, CNN_F64, CNN_F16, CNN_BF16, CNN_I64, CNN_I32, CNN_I16, CNN_I8, CNN_U8, CNN_BOOL } cnn_dtype;

typedef struct cnn_st_tensor {
    const char *name;
    cnn_dtype dtype;
    int rank;                         /* up to 8 */
    int64_t shape[8];
    int64_t numel;
    const void *data;                 /* raw little-endian bytes, not necessarily aligned: memcpy */
    size_t nbytes;
} cnn_st_tensor;

typedef struct cnn_safetensors cnn_safetensors;

/* Reads and validates a whole file; errors name the file and what is wrong. */
cnn_safetensors *cnn_safetensors_read(const char *path);
/* The same from size bytes in memory (copied); `name` stands for the file in messages. */
cnn_safetensors *cnn_safetensors_read_memory(const void *data, size_t size, const char *name);
void cnn_safetensors_free(cnn_safetensors *f);
int cnn_safetensors_count(const cnn_safetensors *f);
int cnn_safetensors_get(const cnn_safetensors *f, int i, cnn_st_tensor *out);
/* 0 and *out, or -1 with "<path>: no tensor named '<name>'". */
int cnn_safetensors_find(const cnn_safetensors *f, const char *name, cnn_st_tensor *out);
/* The "__metadata__" string for key, or NULL. */
const char *cnn_safetensors_metadata(const cnn_safetensors *f, const char *key);
/* Copies a tensor into floats, converting F64/F16/BF16/integers; count must equal its numel. */
int cnn_st_tensor_to_f32(const cnn_st_tensor *t, float *out, int64_t count);

/* Writes size bytes to path atomically: a temporary file, fsync, rename; nothing is left behind on failure. */
int cnn_write_file_atomic(const char *path, const void *data, size_t size);

/* Writes tensors (and optional metadata pairs) atomically: a temporary file, fsync, rename. */
typedef struct cnn_st_write {
    const char *name;
    cnn_dtype dtype;                  /* CNN_F32, CNN_I64 or CNN_I32 */
    int rank;
    int64_t shape[8];
    const void *data;
} cnn_st_write;
int cnn_safetensors_write(const char *path, int n, const cnn_st_write *tensors, int n_meta,
                          const char *const *meta_keys, const char *const *meta_values);

/* .npy arrays (NumPy format 1.0/2.0/3.0, little-endian, C order). Data are read as stored:
 * dtype F32, F64, I64, I32, U8 (cnn_st_tensor's dtypes). */
typedef struct cnn_array {
    cnn_dtype dtype;
    int rank;                         /* up to 8 */
    int64_t shape[8];
    int64_t numel;
    void *data;                       /* owned; aligned for the dtype */
} cnn_array;

/* Reads and validates (magic, header, dtype, fortran_order False, exact data size). */
int cnn_npy_read(const char *path, cnn_array *out);
/* Converts to a new float array (F32 copied, F64/integers converted). */
float *cnn_array_to_f32(const cnn_array *a);
void cnn_array_free(cnn_array *a);
/* Writes float32 data atomically. */
int cnn_npy_write_f32(const char *path, int rank, const int64_t *shape, const float *data);
/* Writes int64 data atomically (labels). */
int cnn_npy_write_i64(const char *path, int rank, const int64_t *shape, const int64_t *data);

/* Images: PNG or JPEG decoded, resized (shorter side, bilinear) and centre-cropped to height x
 * width; out is (channels, height, width) in [0,1], channels 3 (RGB) or 1 (ITU-R 601 luma). */
int cnn_image_read(const char *path, int64_t channels, int64_t height, int64_t width, float *out);
/* Writes (channels 1 or 3, height, width) values in [0,1] as an 8-bit PNG, atomically. */
int cnn_image_write_png(const char *path, int64_t channels, int64_t height, int64_t width, const float *x);

/* Loads every parameter of the graph from a safetensors file by name. A missing tensor, a wrong
 * shape or a non-float dtype is an error naming it; `num_batches_tracked` entries are ignored, and
 * so may be the tensors of train-only branches (auxiliary heads), present or not. */
int cnn_graph_load_weights(cnn_graph *g, const char *path);
/* Saves every parameter and buffer as float32, atomically, with optional string metadata. */
int cnn_graph_save_weights(const cnn_graph *g, const char *path);
int cnn_graph_save_weights_meta(const cnn_graph *g, const char *path, int n_meta, const char *const *keys,
                                const char *const *values);

/* ------------------------------------------------------------------------------------------------
 * ONNX (src/io/onnx.c): a model file becomes an ordinary graph, its initializers the layers'
 * parameters (an initializer used as an operand becomes a trainable constant layer, a Constant's
 * value a fixed one). Graph inputs are float tensors of rank 1 to 5, the batch first and the other
 * dims fixed; the graph's outputs are the graph outputs, in order. Opsets 1 to 17. Operators: Conv,
 * BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, Clip, Softmax, LRN, MaxPool, AveragePool,
 * GlobalAveragePool, GlobalMaxPool (2-D, and 1-D as N x C x 1 x L), Gemm, MatMul, Flatten, Reshape,
 * Concat, Add, Mul, Sum, Pad, Dropout, Identity, Constant; integer shape arithmetic (Shape,
 * ConstantOfShape, Slice, Gather, Cast, ...) on constants is folded at import. NULL with a one-line
 * message naming the file (and the node and its operator, for a node that cannot be mapped) on failure.
 * ---------------------------------------------------------------------------------------------- */
cnn_graph *cnn_onnx_load(const char *path);
/* The same from size bytes in memory; `name` stands for the file in messages. */
cnn_graph *cnn_onnx_load_memory(const void *data, size_t size, const char *name);
/* Writes the eval-mode part of a graph (what its non-train-only outputs need) as an ONNX model,
 * opset 13, atomically: one Conv, BatchNormalization, Relu, ... node per layer (dropout is left
 * out), the parameters as float32 initializers under their own names, the batch as the symbolic
 * dimension "N". A layer ONNX cannot express (adaptive pooling with unequal bins, LRN centred as
 * PyTorch centres an even window, softmax over several dims) is refused with a message naming
 * it, and no file is written. */
int cnn_onnx_save(const cnn_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CNN_H */
