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
/* Threads used by the kernels (OpenMP and OpenBLAS). n <= 0 means "all cores". */
void cnn_set_threads(int n);
int cnn_get_threads(void);

/* ------------------------------------------------------------------------------------------------
 * Tensors: float32, row-major NCHW. A tensor may view a slice of a larger buffer (a channel slice
 * of a concatenation), so code walks it through `stride` (in elements), never assuming
 * stride[0] == C*H*W. Within one sample (dims 1..rank-1) data is contiguous.
 * ---------------------------------------------------------------------------------------------- */
#define CNN_MAX_RANK 4

typedef enum cnn_device { CNN_DEVICE_CPU = 0, CNN_DEVICE_CUDA = 1 } cnn_device;

typedef struct cnn_tensor {
    float *data;
    int rank;                        /* 2: (N,F); 4: (N,C,H,W) */
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

cnn_graph *cnn_graph_create(void);
void cnn_graph_free(cnn_graph *g);

/* Scopes: cnn_scope_push(g, "inception3a"); ... cnn_scope_pop(g). printf-style. */
int cnn_scope_push(cnn_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cnn_scope_pop(cnn_graph *g);

/* A graph input of per-sample shape (C,H,W). Inputs are numbered in creation order. */
cnn_node *cnn_input(cnn_graph *g, const char *name, int64_t channels, int64_t height, int64_t width);

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

/* Batch normalisation over channels of (N,C,H,W) or features of (N,F).
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
} cnn_pool2d_params;

cnn_node *cnn_maxpool2d(cnn_graph *g, cnn_node *x, const char *name, int kernel, int stride, int pad,
                        bool ceil_mode);
cnn_node *cnn_maxpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p);
cnn_node *cnn_avgpool2d(cnn_graph *g, cnn_node *x, const char *name, int kernel, int stride, int pad,
                        bool ceil_mode, bool count_include_pad);
cnn_node *cnn_avgpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p);
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

/* Outputs, in order (main head first). A train-only output (an auxiliary classifier) and the
 * nodes only it needs are left out of eval-mode plans. */
#define CNN_OUTPUT_TRAIN_ONLY 1u
int cnn_graph_add_output(cnn_graph *g, cnn_node *x, unsigned flags);

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
/* The value a node computed in the last forward (NULL if the node is not in this plan). */
const cnn_tensor *cnn_plan_value(const cnn_plan *p, const cnn_node *x);
/* Seed of dropout masks; each forward in train mode advances the step. */
void cnn_plan_set_seed(cnn_plan *p, uint64_t seed, uint64_t step);
int cnn_plan_forward(cnn_plan *p);
/* Accumulates into the parameters' gradients (like PyTorch: zero them with cnn_graph_zero_grad). */
int cnn_plan_backward(cnn_plan *p);
/* Bytes held by activations, gradients, states and scratch. */
size_t cnn_plan_memory(const cnn_plan *p);

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
void cnn_safetensors_free(cnn_safetensors *f);
int cnn_safetensors_count(const cnn_safetensors *f);
int cnn_safetensors_get(const cnn_safetensors *f, int i, cnn_st_tensor *out);
/* 0 and *out, or -1 with "<path>: no tensor named '<name>'". */
int cnn_safetensors_find(const cnn_safetensors *f, const char *name, cnn_st_tensor *out);
/* The "__metadata__" string for key, or NULL. */
const char *cnn_safetensors_metadata(const cnn_safetensors *f, const char *key);
/* Copies a tensor into floats, converting F64/F16/BF16/integers; count must equal its numel. */
int cnn_st_tensor_to_f32(const cnn_st_tensor *t, float *out, int64_t count);

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

/* Loads every parameter of the graph from a safetensors file by name. A missing tensor, a wrong
 * shape or a non-float dtype is an error naming it; `num_batches_tracked` entries are ignored, and
 * so may be the tensors of train-only branches (auxiliary heads), present or not. */
int cnn_graph_load_weights(cnn_graph *g, const char *path);
/* Saves every parameter and buffer as float32, atomically. */
int cnn_graph_save_weights(const cnn_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CNN_H */
