/* internal.h — the structures behind cnn.h shared by the core, the ops and the kernels. */
#ifndef CNN_INTERNAL_H
#define CNN_INTERNAL_H

#include "cnn.h"

#include <stdarg.h>

/* ---- errors (error.c) ---- */
/* Record a message and return -1 / NULL, so failures read `return cnn_fail("...")`. */
int cnn_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *cnn_fail_null(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Checked allocation: zeroed; records "out of memory (N bytes for WHAT)" on failure. */
void *cnn_calloc(size_t count, size_t size, const char *what);
/* a*b and a+b on sizes, returning -1 on overflow or negative operands. */
int64_t cnn_mul_i64(int64_t a, int64_t b);
int64_t cnn_add_i64(int64_t a, int64_t b);

/* ---- shapes ---- */
typedef struct cnn_shape {
    int rank;
    int64_t dims[CNN_MAX_RANK]; /* dims[0] is the batch: 0 while building */
} cnn_shape;

/* Elements per sample (dims 1..rank-1), -1 on overflow. */
int64_t cnn_shape_sample_numel(const cnn_shape *s);
/* "(N,3,224,224)" into buf. */
const char *cnn_shape_str(const cnn_shape *s, char *buf, size_t size);
/* A contiguous tensor of the given shape and batch over data. */
cnn_tensor cnn_tensor_make(float *data, const cnn_shape *s, int64_t batch);

/* ---- ops ---- */
/* One call of an op at run time. Inputs and outputs are (N, ...) with contiguous samples that
 * sit stride[0] elements apart. */
typedef struct cnn_op_ctx {
    const cnn_node *node;
    const void *attrs;
    int n_inputs;
    const cnn_tensor *const *in;   /* [n_inputs] */
    const cnn_tensor *out;
    cnn_tensor *const *din;        /* backward: [n_inputs], an entry is NULL when not needed */
    const cnn_tensor *dout;        /* backward */
    float *const *param;           /* the node's parameters in creation order (incl. buffers) */
    float *const *dparam;          /* backward: their gradients; NULL entries for buffers */
    void *state;                   /* per-node bytes kept from forward to backward */
    unsigned din_store;            /* backward, ops with CNN_CAP_GRAD_STORE: bit k set when din[k] holds no gradient yet
                                      (not even zeroed; any other consumers add into it later): the op stores every
                                      element of it instead of adding */
    void *work;                    /* scratch, valid during this call only */
    int work_threads;              /* OpenMP's thread count when the plan sized the scratch */
    bool training;
    bool dropout;                  /* train mode with dropout on (off: CNN_PLAN_NO_DROPOUT) */
    bool frozen;                   /* eval plan whose parameters do not change (CNN_PLAN_FROZEN) */
    /* Eval-mode fusion (plan.c; only ops that support it are given these): after computing its
     * output, the op applies y = y * epi_scale[c] + epi_shift[c] per channel c (when not NULL),
     * then ReLU (when epi_relu): a following batch norm and ReLU folded into it. */
    const float *epi_scale, *epi_shift;
    bool epi_relu;
    /* Also folded (ops with CNN_CAP_EPILOGUE_ADD): a following residual addition, y += epi_residual
     * (a value of the output's shape) after the affine map and before the ReLU; NULL when none. */
    const cnn_tensor *epi_residual;
    uint64_t seed;                 /* per node and step: for dropout masks */
} cnn_op_ctx;

/* The table of one op kind. Backward ADDS into din[i] and dparam[j] (gradients are summed where
 * a node feeds several others, and parameter gradients accumulate across calls like PyTorch). */
typedef struct cnn_op {
    const char *name;
    /* Computes node->shape from the inputs and attrs; refuses bad shapes with a message. */
    int (*shape)(cnn_node *node);
    size_t (*state_bytes)(const cnn_node *node, int64_t batch, bool training);  /* may be NULL */
    size_t (*work_bytes)(const cnn_node *node, int64_t batch, bool training);   /* may be NULL */
    int (*forward)(const cnn_op_ctx *c);
    int (*backward)(const cnn_op_ctx *c);  /* NULL: the op has no gradient (graph inputs) */
    int64_t (*macs)(const cnn_node *node); /* per sample; may be NULL (0) */
    /* The planner's estimate of the node's time per sample, in multiply-adds of a plain product (plan.c's
     * branch sections balance the threads by it); may be NULL: its macs, or its outputs when none. */
    double (*cost)(const cnn_node *node, bool training);
    unsigned caps;                         /* CNN_CAP_*: what the graph and the planner may do with it */
    unsigned (*node_caps)(const cnn_node *node); /* may be NULL: CNN_CAP_* that hold for this node's attributes only */
} cnn_op;

/* An op's capabilities: the planner and the graph ask for these, never for op names, so the ops of
 * a second device declare the same. */
enum {
    CNN_CAP_EPILOGUE = 1u << 0,       /* applies cnn_op_ctx's epi_scale/epi_shift/epi_relu to its output, per dim-1 channel */
    CNN_CAP_AFFINE = 1u << 1,         /* eval mode is y = x * scale[c] + shift[c] (cnn_batchnorm_eval_affine): foldable */
    CNN_CAP_RELU = 1u << 2,           /* y = max(x, 0), NaN kept: an epilogue's epi_relu computes the same */
    CNN_CAP_CHANNEL_CONCAT = 1u << 3, /* y stacks its inputs along dim 1: they may write into its slices */
    CNN_CAP_EMPTY = 1u << 4,          /* passes empty values (a dim of 0), in unbatched graphs; others refuse them */
    CNN_CAP_EPILOGUE_ADD = 1u << 5,   /* its epilogue also adds cnn_op_ctx's epi_residual */
    CNN_CAP_ADD = 1u << 6,            /* y = in[0] + in[1], both of y's shape: an epilogue's epi_residual computes the same */
    CNN_CAP_TRAIN_RELU = 1u << 7,     /* in training, with epi_relu: applies a following ReLU to its output, and its backward
                                         takes that ReLU's output gradient (dout) through the ReLU's derivative (read
                                         through its own output, as the ReLU's backward does) */
    CNN_CAP_GRAD_STORE = 1u << 10,    /* its backward honours cnn_op_ctx.din_store */
    /* Per node (cnn_op.node_caps): */
    CNN_CAP_POINTWISE = 1u << 8,      /* y[:, i, j] = W x[:, i, j] at every position: linear across channels alone, no
                                         bias (a 1x1 convolution, stride 1, no padding, one group) */
    CNN_CAP_PLANE_LINEAR = 1u << 9,   /* eval: y[k] = L(x[k]) for each channel plane k, one linear map L for all planes that
                                         keeps the plane's size (an average pool, stride 1, "same" padding), and the op
                                         applies cnn_op_ctx's epilogue (epi_scale/epi_shift/epi_relu) to its output: a
                                         pointwise layer after it may run before it instead (plan.c) */
};

/* Eval-mode batch norm as y = x * scale[c] + shift[c], exactly as its eval forward computes it
 * (norm.c): for folding it into the op before it (plan.c). */
void cnn_batchnorm_eval_affine(const cnn_node *bn, float *scale, float *shift);

/* The branch sections an eval plan runs side by side (plan.c, plan_sections): their count (tests). */
int64_t cnn_plan_section_count(const cnn_plan *p);

/* Hot loops of our own (pools, im2col, epilogues, element-wise passes) are compiled three times and
 * the CPU picks one at load: baseline x86-64, AVX2 and AVX-512. The default build stays portable,
 * and -ffp-contract=off (Makefile) keeps the arithmetic of every version the same (no multiply-add
 * fused where the source has two operations), so results do not depend on the CPU. GCC only (the
 * clang fuzzing build takes the baseline). Not for functions holding an OpenMP region: the region's
 * body is outlined and would not be cloned; mark the function the region calls. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(CNN_NO_CLONES)
#define CNN_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define CNN_CLONES
#endif

/* ---- graph ---- */
typedef enum cnn_init_kind {
    CNN_INIT_ZEROS = 0,
    CNN_INIT_ONES,
    CNN_INIT_UNIFORM, /* U(-a, a) */
    CNN_INIT_NORMAL,  /* N(0, a^2) */
} cnn_init_kind;

typedef struct cnn_param_entry {
    char *name;
    int rank;
    int64_t shape[CNN_MAX_RANK];
    int64_t numel;
    bool trainable;
    int64_t offset;          /* into graph->param_data (trainable) or graph->buffer_data */
    cnn_init_kind init;
    float init_arg;
} cnn_param_entry;

struct cnn_node {
    int64_t id;              /* index in graph->nodes: topological order */
    char *name;
    const cnn_op *op;
    void *attrs;             /* op-specific, owned */
    int n_inputs;
    cnn_node **inputs;
    cnn_shape shape;
    int64_t param_first;     /* index of the first parameter in graph->params */
    int n_params;
    int input_index;         /* for graph inputs: position among them; else -1 */
    cnn_graph *graph;
};

struct cnn_graph {
    cnn_node **nodes;
    int64_t n_nodes, cap_nodes;
    cnn_node **inputs;
    int n_inputs;
    cnn_node **outputs;
    unsigned *output_flags;
    int n_outputs;
    cnn_param_entry *params;
    int64_t n_params, cap_params;
    float *param_data;       /* trainable values, flat */
    int64_t param_numel, param_cap;
    float *grad_data;        /* same layout; NULL until training */
    float *buffer_data;      /* non-trainable state, flat */
    int64_t buffer_numel, buffer_cap;
    char **scopes;
    int n_scopes, cap_scopes;
    char **optional_prefixes;    /* weight-file tensors under these are accepted and ignored */
    int n_optional;
    int64_t auto_name_counter;
    bool unbatched;              /* values are whole tensors: plans take batch 1 (cnn_graph_set_unbatched) */
};

/* Adds a node: copies attrs (attrs_size bytes), resolves its name in the current scope, checks
 * that no input is NULL (returning NULL silently: the first error stands), and runs op->shape.
 * On failure the node is discarded and NULL returned. */
cnn_node *cnn_graph_add_node(cnn_graph *g, const cnn_op *op, const char *name, int n_inputs,
                             cnn_node *const *inputs, const void *attrs, size_t attrs_size);
/* Adds a parameter "<node name>.<suffix>" to the node just added. Returns 0 or -1. */
int cnn_node_add_param(cnn_node *node, const char *suffix, int rank, const int64_t *shape,
                       bool trainable, cnn_init_kind init, float init_arg);
/* Removes the node just added (and its parameters): a builder calls it when adding a
 * parameter fails, so a failed call leaves the graph as it was. */
void cnn_graph_drop_last_node(cnn_graph *g);
/* Declares that weight files may hold tensors "<prefix>..." this graph does not have (the
 * auxiliary heads of a model built without them): loading skips them. */
int cnn_graph_optional_prefix(cnn_graph *g, const char *prefix);
/* Which nodes the eval-mode outputs need (all nodes when there are no outputs), one flag per node
 * in topological order; the caller frees it. NULL when out of memory. */
bool *cnn_graph_eval_nodes(const cnn_graph *g);
/* Data of parameter j of a node (0-based). */
float *cnn_node_param_data(const cnn_node *node, int j);
const cnn_param_entry *cnn_node_param_entry(const cnn_node *node, int j);

/* Padding resolution shared by convolution and pooling: fills pads_out[4] = top,bottom,left,right
 * from a padding mode (the caller computes the output size); returns -1 with a message (which
 * does not name the layer: callers prefix it) on a negative pad or an unknown mode. */
int cnn_resolve_padding(int padding, const int explicit_pads[4], int64_t in_h, int64_t in_w,
                        int64_t eff_kh, int64_t eff_kw, int stride_h, int stride_w, int pads_out[4]);

/* ---- random numbers (rng.c): splitmix64-seeded xoshiro256**; counter-based hash for masks ---- */
typedef struct cnn_rng { uint64_t s[4]; } cnn_rng;
void cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_next(cnn_rng *r);
float cnn_rng_uniform(cnn_rng *r);            /* [0,1) */
float cnn_rng_normal(cnn_rng *r);
uint64_t cnn_hash64(uint64_t x);              /* splitmix64 finaliser */

/* ---- kernels (src/kernels) ---- */
/* C = alpha * op(A) * op(B) + beta * C, row-major, through cblas_sgemm. */
void cnn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Our own GEMM (src/kernels/gemm.h) where the CPU has AVX-512F and CNN_GEMM is not "blas" in the
 * environment (read once): the convolutions' forward uses it, OpenBLAS (cnn_sgemm) otherwise. */
bool cnn_gemm_fast(void);
/* n floats at d set to zero (tensor.c); large buffers by all threads (outside parallel regions). */
void cnn_zero_floats(float *d, int64_t n);

/* Floats of scratch cnn_sgemm_fast needs for B (k x n): its packed panels and room to align them. */
int64_t cnn_sgemm_fast_scratch(int64_t k, int64_t n);
/* C (m x n, ldc) = op(A) (m x k) * B (k x n) (+ C when accumulate), row-major as cnn_sgemm's
 * (trans_a: A stored k x m), then the epilogue e (may be NULL; src/kernels/gemm.h: bias, batch-norm
 * scale and shift, residual, ReLU per row r and column j) as tiles are stored (e's sample_cols 0).
 * Threads share it out as cnn_sgemm does (one when already in a parallel region); every element is one sum over k in order, so the same bits for any thread
 * count. scratch: cnn_sgemm_fast_scratch(k, n) floats. Only when cnn_gemm_fast(). */
struct cnn_gemm_epilogue;
void cnn_sgemm_fast(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *scratch,
                    float *c, int64_t ldc, bool accumulate, const struct cnn_gemm_epilogue *e);
/* C (m x n, ldc) = A (m x k, lda) * B (+ C when accumulate) with B given as its transpose bt (n x k,
 * row-major, ldbt): a weight gradient dy * col^T with col read as it lies. As cnn_sgemm_fast
 * otherwise (no epilogue); scratch: cnn_sgemm_fast_scratch(k, n) floats. */
void cnn_sgemm_fast_bt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *bt, int64_t ldbt, float *scratch, float *c,
                       int64_t ldc, bool accumulate);


/* ---- atomic files (src/io/atomic.c): write to "<path>.tmp.<pid>", fsync, rename ---- */
#include <stdio.h>
typedef struct cnn_atomic_file {
    FILE *f;
    char *path, *tmp_path;
} cnn_atomic_file;
int cnn_atomic_begin(cnn_atomic_file *a, const char *path);
/* Checks every write, flushes, fsyncs and renames; on any failure removes the temporary file. */
int cnn_atomic_commit(cnn_atomic_file *a);
void cnn_atomic_abort(cnn_atomic_file *a);

/* Reads a whole file (at most max_bytes); errors name the path. */
int cnn_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *size);

#endif /* CNN_INTERNAL_H */
