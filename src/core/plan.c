/* plan.c — the executor: one plan per (graph, batch, mode) holding every buffer; forward and backward. */
#include "internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct node_run {
    bool active;                 /* computed by this plan */
    bool needs_grad;             /* its gradient is wanted (train mode) */
    bool is_output;              /* a plan output: its gradient is the caller's seed, never zeroed */
    bool grad_zeroed;            /* backward: its gradient was zeroed (or stored whole) in this pass */
    int64_t concat_id;           /* >= 0: value and gradient are a slice of this concat's (zero-copy) */
    int64_t concat_offset;       /* where the slice starts within each sample of the concat */
    int64_t fused_by;            /* >= 0: this batch norm / add / ReLU is computed by that conv (eval fusion),
                                    or this ReLU by that batch norm (training fusion) */
    int64_t fuse_bn, fuse_add, fuse_relu; /* a conv (a batch norm in training: fuse_relu only): the layers folded into it,
                                             -1 if none */
    int64_t residual;            /* a conv with fuse_add: the add's other input (computed before the conv) */
    int64_t pre_pool;            /* a pointwise conv: the plane-linear layer before it that runs after it instead
                                    (plan_pointwise_first); that layer's fused_by is the conv; -1 if none */
    float *epi;                  /* a conv with a folded batch norm: scale[C], shift[C] */
    bool hidden;                 /* fused away: its own value is never materialised */
    bool reused;                 /* eval: its buffer is shared with layers that run later */
    size_t pool_offset;          /* eval: where its value sits in the activation pool */
    int64_t section_end;         /* > 0: nodes [this one, section_end) are a branch section (plan_sections) */
    int section_threads;         /* on a section's first node: the threads that run it */
    int branch_thread;           /* a node in a section: the thread that runs it */
    bool in_section;             /* a node in a section: its scratch comes from that thread's area */
    cnn_tensor value, grad;      /* grad.data NULL when not needed */
    const cnn_tensor **in;       /* [n_inputs] */
    cnn_tensor **din;            /* [n_inputs] */
    float **param, **dparam;     /* [n_params] */
    void *state;
} node_run;

struct cnn_plan {
    cnn_graph *g;
    int64_t n_nodes;             /* the graph's node count when planned: a changed graph is refused */
    int64_t batch;
    unsigned flags;
    node_run *runs;
    int n_outputs;
    int *output_nodes;           /* graph output index -> node id, for outputs in this plan */
    char *arena;
    size_t arena_bytes;
    void *work;
    size_t work_bytes;
    size_t work_stride;          /* the scratch areas of a branch section's threads after the first, after the plan's */
    void **pointer_block;        /* all per-node pointer arrays in one allocation */
    uint64_t seed, step;
    int threads;                 /* OpenMP's count when planned: ops size per-thread scratch by it */
    double *seconds;             /* profiling: [n_nodes][2] forward, backward wall seconds; NULL when off */
};

#define ALIGN 64

static size_t align_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static bool training(const cnn_plan *p) { return p->flags & CNN_PLAN_TRAIN; }

/* Bytes for `count` floats, or SIZE_MAX on overflow. */
static size_t float_bytes(int64_t count) {
    if (count < 0 || (uint64_t)count > (SIZE_MAX - ALIGN) / sizeof(float)) return SIZE_MAX;
    return align_up((size_t)count * sizeof(float));
}

static int add_bytes(size_t *total, size_t more, const char *what) {
    if (more == SIZE_MAX || *total > SIZE_MAX - more) return cnn_fail("plan: %s too large", what);
    *total += more;
    return 0;
}

void cnn_plan_free(cnn_plan *p) {
    if (!p) return;
    free(p->runs);
    free(p->output_nodes);
    free(p->arena);
    free(p->pointer_block);
    free(p->seconds);
    free(p);
}

int cnn_plan_set_profiling(cnn_plan *p, bool on) {
    free(p->seconds);
    p->seconds = NULL;
    if (on && !(p->seconds = cnn_calloc((size_t)p->n_nodes * 2, sizeof(double), "plan profile"))) return -1;
    return 0;
}

int cnn_plan_node_seconds(const cnn_plan *p, int64_t i, double *forward_s, double *backward_s) {
    if (!p->seconds) return cnn_fail("plan: profiling is off (cnn_plan_set_profiling)");
    if (i < 0 || i >= p->n_nodes) return cnn_fail("plan: node index %lld out of range", (long long)i);
    *forward_s = p->seconds[2 * i];
    *backward_s = p->seconds[2 * i + 1];
    return 0;
}

/* Zero-copy concatenation: a node whose one consumer is a channel concat (and which is no plan
 * input or output) computes straight into its slice of the concat's buffer, and its gradient is
 * the same slice of the concat's gradient; the concat then copies nothing for it. Ops take
 * tensors whose samples sit stride[0] apart, so the producer needs nothing special. */
static void plan_concat_slices(cnn_plan *p, const int64_t *uses) {
    cnn_graph *g = p->g;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        cnn_node *c = g->nodes[i];
        if (!p->runs[i].active || !(c->op->caps & CNN_CAP_CHANNEL_CONCAT)) continue;
        int64_t offset = 0;
        for (int k = 0; k < c->n_inputs; k++) {
            cnn_node *x = c->inputs[k];
            node_run *r = &p->runs[x->id];
            if (uses[x->id] == 1 && x->input_index < 0 && !r->is_output && r->needs_grad == p->runs[i].needs_grad) {
                r->concat_id = (int64_t)i;
                r->concat_offset = offset;
            }
            offset += cnn_shape_sample_numel(&x->shape);
        }
    }
}

/* What the planner may do with node n: its op's caps and those its attributes give (cnn_op.node_caps). */
static bool has_cap(const cnn_node *n, unsigned cap) {
    return ((n->op->caps | (n->op->node_caps ? n->op->node_caps(n) : 0u)) & cap) != 0;
}

/* The layer a fusion starting at conv may take after its layer t: t's one consumer, when t is the
 * conv itself (already checked) or neither a plan output nor used twice; -1 otherwise. */
static int64_t fold_next(const cnn_plan *p, const int64_t *uses, const int64_t *consumer, int64_t conv, int64_t t) {
    return t == conv || (!p->runs[t].is_output && uses[t] == 1) ? consumer[t] : -1;
}

/* Eval-mode fusion: conv -> batch norm -> add -> ReLU, any of the three after the conv left out,
 * each layer the one consumer of the one before and none but the last a plan output, runs as the
 * convolution alone, which applies the batch norm's affine map, adds the add's other input (a
 * ResNet block's shortcut: it must be computed before the conv) and applies the ReLU to its output
 * (cnn_op_ctx's epilogue), writing straight into the last layer's buffer. Same operations, so the
 * same bits. The ops say what they can do (CNN_CAP_EPILOGUE, CNN_CAP_EPILOGUE_ADD, CNN_CAP_AFFINE,
 * CNN_CAP_ADD, CNN_CAP_RELU). */
static void plan_eval_fusion(cnn_plan *p, const int64_t *uses, const int64_t *consumer) {
    cnn_graph *g = p->g;
    if (training(p) || (p->flags & CNN_PLAN_UNFUSED)) return;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        if (!r->active || !has_cap(g->nodes[i], CNN_CAP_EPILOGUE) || r->is_output || uses[i] != 1) continue;
        int64_t tail = i, bn = -1, add = -1, residual = -1, relu = -1; /* tail: the chain's last layer so far */
        int64_t next = fold_next(p, uses, consumer, i, tail);
        if (next >= 0 && has_cap(g->nodes[next], CNN_CAP_AFFINE)) bn = tail = next, next = fold_next(p, uses, consumer, i, tail);
        if (next >= 0 && has_cap(g->nodes[i], CNN_CAP_EPILOGUE_ADD) && has_cap(g->nodes[next], CNN_CAP_ADD)) {
            const cnn_node *a = g->nodes[next];
            const int64_t other = a->inputs[0]->id == tail ? a->inputs[1]->id : a->inputs[0]->id;
            if (a->inputs[0]->id != a->inputs[1]->id && other < i)
                add = tail = next, residual = other, next = fold_next(p, uses, consumer, i, tail);
        }
        if (next >= 0 && has_cap(g->nodes[next], CNN_CAP_RELU)) relu = tail = next;
        if (tail == i) continue;
        r->fuse_bn = bn, r->fuse_add = add, r->fuse_relu = relu, r->residual = residual, r->hidden = true;
        if (bn >= 0) p->runs[bn].fused_by = i, p->runs[bn].hidden = bn != tail;
        if (add >= 0) p->runs[add].fused_by = i, p->runs[add].hidden = add != tail;
        if (relu >= 0) p->runs[relu].fused_by = i;
    }
}

/* Training fusion: a layer that can (CNN_CAP_TRAIN_RELU: batch norm) and whose one consumer is a
 * ReLU, neither a plan output, computes the ReLU too and writes the ReLU's buffer; its backward
 * takes the ReLU's output gradient through the ReLU's derivative. The layer's own value and output
 * gradient are not kept (one pass over the activations less each way); the same operations, so the
 * same bits. CNN_PLAN_UNFUSED keeps them apart. */
static void plan_train_fusion(cnn_plan *p, const int64_t *uses, const int64_t *consumer) {
    cnn_graph *g = p->g;
    if (!training(p) || (p->flags & CNN_PLAN_UNFUSED)) return;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        if (!r->active || !has_cap(g->nodes[i], CNN_CAP_TRAIN_RELU) || r->is_output || uses[i] != 1 || r->concat_id >= 0) continue;
        const int64_t next = consumer[i];
        if (!p->runs[next].active || !has_cap(g->nodes[next], CNN_CAP_RELU) || g->nodes[next]->n_inputs != 1) continue;
        r->fuse_relu = next, r->hidden = true;
        p->runs[next].fused_by = i;
    }
}

/* Eval: a plane-linear layer (CNN_CAP_PLANE_LINEAR: inception's 3x3 average pool, stride 1, "same"
 * padding) whose one consumer is a pointwise layer with fewer output channels than it has (a 1x1
 * convolution without bias: CNN_CAP_POINTWISE) swaps places with it. Both are linear, one across
 * planes and one across channels, so they commute: the conv maps the pool's input into the pool's
 * buffer (only as many channels as the conv's output: inception_v3's branch_pool 768 -> 192, 2048
 * -> 192), and the pool then averages those fewer planes into the conv's output and applies the
 * conv's epilogue (its folded batch norm and ReLU). The same sums in another order: not the same
 * bits as the layers in graph order (within a few units in the last place of the values' scale),
 * but the same for every thread count. A conv that folds a residual add is left alone. */
static void plan_pointwise_first(cnn_plan *p, const int64_t *uses, const int64_t *consumer) {
    cnn_graph *g = p->g;
    if (training(p) || (p->flags & CNN_PLAN_UNFUSED)) return;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        const cnn_node *pool = g->nodes[i];
        if (!r->active || r->is_output || uses[i] != 1 || r->fused_by >= 0 || r->concat_id >= 0 || pool->n_inputs != 1 ||
            pool->input_index >= 0 || !has_cap(pool, CNN_CAP_PLANE_LINEAR))
            continue;
        const int64_t j = consumer[i];
        node_run *cr = &p->runs[j];
        const cnn_node *conv = g->nodes[j];
        if (!cr->active || conv->n_inputs != 1 || !has_cap(conv, CNN_CAP_POINTWISE) || cr->fuse_add >= 0 ||
            conv->shape.dims[1] >= pool->shape.dims[1])
            continue;
        cr->pre_pool = i;
        r->fused_by = j;
    }
}

/* Zero-copy concatenation and eval fusion, from who uses whom. */
static void plan_sharing(cnn_plan *p) {
    cnn_graph *g = p->g;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        r->concat_id = r->fused_by = r->fuse_bn = r->fuse_add = r->fuse_relu = r->residual = r->pre_pool = -1;
    }
    int64_t *uses = calloc((size_t)g->n_nodes * 2, sizeof *uses);
    if (!uses) return; /* nothing shared: every node keeps its own buffer */
    int64_t *consumer = uses + g->n_nodes; /* the last one; the only one where uses is 1 */
    for (int64_t i = 0; i < g->n_nodes; i++)
        if (p->runs[i].active)
            for (int k = 0; k < g->nodes[i]->n_inputs; k++) {
                uses[g->nodes[i]->inputs[k]->id]++;
                consumer[g->nodes[i]->inputs[k]->id] = i;
            }
    plan_concat_slices(p, uses);
    plan_eval_fusion(p, uses, consumer);
    plan_pointwise_first(p, uses, consumer);
    plan_train_fusion(p, uses, consumer);
    free(uses);
}

/* The last layer folded into a fused conv. */
static int64_t fusion_last(const node_run *conv) {
    return conv->fuse_relu >= 0 ? conv->fuse_relu : conv->fuse_add >= 0 ? conv->fuse_add : conv->fuse_bn;
}

/* The node whose buffer holds node i's value: itself, or the concat it is a slice of, or the last
 * layer of the fusion it was folded into (which may be a slice in turn). */
static int64_t buffer_owner(const cnn_plan *p, int64_t i) {
    for (;;) {
        const node_run *r = &p->runs[i];
        if (r->concat_id >= 0) {
            i = r->concat_id;
        } else if (r->hidden) {
            i = fusion_last(r->fused_by >= 0 ? &p->runs[r->fused_by] : r);
        } else {
            return i;
        }
    }
}

static bool runs_forward(const cnn_plan *p, int64_t i) {
    return p->runs[i].active && p->g->nodes[i]->input_index < 0 && p->runs[i].fused_by < 0;
}

/* Bytes of node i's value in the pool. */
static size_t value_bytes(const cnn_plan *p, int64_t i) {
    return float_bytes(cnn_shape_sample_numel(&p->g->nodes[i]->shape) * p->batch);
}

/* Whether the pool places the values of x and y on common bytes (x at offset at). */
static bool pool_overlap(const cnn_plan *p, int64_t x, size_t at, int64_t y) {
    size_t yo = p->runs[y].pool_offset;
    return at < yo + value_bytes(p, y) && yo < at + value_bytes(p, x);
}

/* Branch sections (eval plans at batch 1 with 2 threads or more): an inception module's branches
 * run side by side, each branch's layers on one thread, instead of one after the other with every
 * layer shared by the threads. At batch 1 a layer of a 14x14 or 7x7 module is too small to share
 * well (googlenet's 7x7 3x3 layer scaled 1.3x at 2 threads, its smallest 1x1 layers not at all),
 * and a thread that computes a whole branch reads back only what it wrote. Every layer computes the
 * same bits whichever threads run it, so the output is the same as the plan's at 1 thread.
 *
 * A section is the layers strictly between the last layer every input of a channel concat depends
 * on (the module's input) and the concat: those are the branches, split into the groups that share
 * no value inside the range (union-find over the layers' inputs, a fused residual and a moved pool
 * included). The groups go to the threads largest first, each to the least loaded (cost: the layer's
 * op's estimate, cnn_op.cost, or its multiply-adds), and the section is kept only when the most
 * loaded thread has at most SECTION_MAX_SHARE of the work at 2 threads (about 1.8x; googlenet's
 * 28x28 modules, one branch 63-69% of the work, stay shared layer by layer). Nested concats (an
 * inception_v3 branch ending in its own concat) are part of the outer section. */
#define SECTION_MAX_SHARE 0.56

static int64_t find_root(int64_t *parent, int64_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

static void join(int64_t *parent, int64_t a, int64_t b, int64_t lo, int64_t hi) {
    if (a < lo || a >= hi || b < lo || b >= hi) return;
    a = find_root(parent, a), b = find_root(parent, b);
    if (a != b) parent[a > b ? a : b] = a > b ? b : a;
}

/* The planner's estimate of node i's time at batch 1 (relative units). */
static double node_cost(const cnn_plan *p, int64_t i) {
    const cnn_node *n = p->g->nodes[i];
    if (n->op->cost) return n->op->cost(n, training(p));
    const int64_t macs = n->op->macs ? n->op->macs(n) : 0;
    return macs > 0 ? (double)macs : (double)cnn_shape_sample_numel(&n->shape);
}

/* The section of concat j, [*start, j): the layers after the last one all its inputs depend on. */
static bool section_range(const cnn_plan *p, int64_t j, uint32_t *mask, int64_t *start) {
    const cnn_graph *g = p->g;
    const cnn_node *c = g->nodes[j];
    if (c->n_inputs < 2 || c->n_inputs > 32) return false;
    memset(mask, 0, (size_t)(j + 1) * sizeof *mask);
    for (int k = 0; k < c->n_inputs; k++) mask[c->inputs[k]->id] |= 1u << k;
    for (int64_t i = j - 1; i >= 0; i--) /* ancestors, latest first: each passes its marks to its inputs */
        if (mask[i])
            for (int k = 0; k < g->nodes[i]->n_inputs; k++) mask[g->nodes[i]->inputs[k]->id] |= mask[i];
    const uint32_t all = c->n_inputs == 32 ? ~0u : (1u << c->n_inputs) - 1;
    for (int64_t i = j - 1; i >= 0; i--)
        if (mask[i] == all) {
            *start = i + 1;
            return *start < j;
        }
    return false;
}

static void plan_sections(cnn_plan *p) {
    cnn_graph *g = p->g;
    const int64_t n = g->n_nodes;
    const int threads = p->threads < 2 ? 0 : p->threads > 32 ? 32 : p->threads;
    if (training(p) || p->batch != 1 || threads < 2) return;
    int64_t *parent = malloc((size_t)n * 3 * sizeof(int64_t));
    uint32_t *mask = malloc((size_t)n * sizeof *mask);
    double *cost = malloc((size_t)n * sizeof *cost);
    if (!parent || !mask || !cost) goto done; /* no sections: every layer shared by the threads */
    int64_t *group = parent + n, *order = parent + 2 * n;
    /* The concats' ranges, last first: an inner concat's range lies inside its outer one's, taken
     * before it. Sections taken are disjoint and come in descending order, so a concat at or after
     * the start of the last one taken is inside it. (runs[] starts zeroed: no sections.) */
    int64_t taken = n;
    for (int64_t j = n - 1; j >= 0; j--) {
        int64_t a;
        if (j >= taken || !p->runs[j].active || !has_cap(g->nodes[j], CNN_CAP_CHANNEL_CONCAT) || !section_range(p, j, mask, &a)) continue;
        for (int64_t i = a; i < j; i++) parent[i] = i;
        for (int64_t i = a; i < j; i++) { /* graph inputs are written before the forward: no layer's */
            const node_run *r = &p->runs[i];
            if (!r->active || g->nodes[i]->input_index >= 0) continue;
            for (int k = 0; k < g->nodes[i]->n_inputs; k++)
                if (g->nodes[i]->inputs[k]->input_index < 0) join(parent, i, g->nodes[i]->inputs[k]->id, a, j);
            if (r->residual >= 0 && g->nodes[r->residual]->input_index < 0) join(parent, i, r->residual, a, j);
        }
        /* groups: their cost, largest first */
        int64_t groups = 0;
        for (int64_t i = a; i < j; i++) cost[i] = 0;
        for (int64_t i = a; i < j; i++) {
            if (!p->runs[i].active || g->nodes[i]->input_index >= 0) continue;
            const int64_t root = find_root(parent, i);
            if (root == i) order[groups++] = i;
            cost[root] += node_cost(p, i);
        }
        if (groups < 2) continue;
        for (int64_t x = 1; x < groups; x++)
            for (int64_t y = x; y > 0 && cost[order[y]] > cost[order[y - 1]]; y--) {
                const int64_t t = order[y];
                order[y] = order[y - 1], order[y - 1] = t;
            }
        const int nt = groups < threads ? (int)groups : threads;
        double load[32] = {0}, total = 0;
        for (int64_t x = 0; x < groups; x++) {
            int best = 0;
            for (int t = 1; t < nt; t++)
                if (load[t] < load[best]) best = t;
            load[best] += cost[order[x]], total += cost[order[x]];
            group[order[x]] = best;
        }
        double most = 0;
        for (int t = 0; t < nt; t++) most = load[t] > most ? load[t] : most;
        if (total <= 0 || most > SECTION_MAX_SHARE * 2.0 / nt * total) continue;
        p->runs[a].section_end = j, taken = a;
        p->runs[a].section_threads = nt;
        for (int64_t i = a; i < j; i++)
            if (p->runs[i].active && g->nodes[i]->input_index < 0)
                p->runs[i].branch_thread = (int)group[find_root(parent, i)], p->runs[i].in_section = true;
    }
done:
    free(parent);
    free(mask);
    free(cost);
}

/* Eval plans: activation buffers shared by lifetime. A buffer lives from the first layer that
 * writes it (graph inputs: before the forward) to the last layer that reads it (plan outputs: for
 * ever); buffers whose lives overlap never share bytes. Placed largest first, each at the lowest
 * offset free of the buffers already placed whose lives overlap its own. Sets pool_offset of every
 * buffer owner and returns the pool's size (SIZE_MAX: out of memory). */
static size_t plan_value_pool(cnn_plan *p) {
    cnn_graph *g = p->g;
    const int64_t n = g->n_nodes, forever = n;
    int64_t *first = malloc((size_t)n * 4 * sizeof(int64_t));
    if (!first) return SIZE_MAX;
    int64_t *last = first + n, *order = first + 2 * n, *placed = first + 3 * n;
    for (int64_t i = 0; i < n; i++) first[i] = forever, last[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        node_run *r = &p->runs[i];
        if (!r->active) continue;
        int64_t o = buffer_owner(p, i);
        /* Graph inputs are written before the forward and kept (a caller may run it again on them). */
        if (g->nodes[i]->input_index >= 0) first[o] = -1, last[o] = forever;
        if (r->is_output) last[o] = forever;
        if (!runs_forward(p, i)) continue;
        if (i < first[o]) first[o] = i;
        if (i > last[o]) last[o] = i;
        for (int k = 0; k < g->nodes[i]->n_inputs; k++) {
            int64_t src = buffer_owner(p, g->nodes[i]->inputs[k]->id);
            if (i > last[src]) last[src] = i;
        }
        if (r->residual >= 0) { /* a fused conv reads the residual add's other input */
            int64_t src = buffer_owner(p, r->residual);
            if (i > last[src]) last[src] = i;
        }
        if (r->pre_pool >= 0) { /* the conv reads its moved layer's input and writes that layer's buffer */
            int64_t mid = buffer_owner(p, r->pre_pool), src = buffer_owner(p, g->nodes[r->pre_pool]->inputs[0]->id);
            if (i < first[mid]) first[mid] = i;
            if (i > last[mid]) last[mid] = i;
            if (i > last[src]) last[src] = i;
        }
    }
    /* A branch section's layers run side by side (plan_sections): a buffer written or read by any of
     * them lives through the whole section. */
    for (int64_t a = 0; a < n; a++) {
        const int64_t end = p->runs[a].section_end;
        for (int64_t o = 0; end > 0 && o < n; o++)
            if (first[o] < end && last[o] >= a) {
                if (first[o] > a) first[o] = a;
                if (last[o] < end) last[o] = end;
            }
    }
    int64_t owners = 0;
    for (int64_t i = 0; i < n; i++)
        if (p->runs[i].active && buffer_owner(p, i) == i) order[owners++] = i;
    /* largest first (insertion sort: stable, so ties keep graph order) */
    for (int64_t a = 1; a < owners; a++)
        for (int64_t b = a; b > 0; b--) {
            int64_t x = order[b], y = order[b - 1];
            if (value_bytes(p, x) <= value_bytes(p, y)) break;
            order[b] = y, order[b - 1] = x;
        }
    size_t pool = 0;
    for (int64_t a = 0; a < owners; a++) {
        int64_t x = order[a];
        size_t at = 0;
        /* the lowest offset clear of every placed buffer alive at the same time: retry until stable */
        for (bool moved = true; moved;) {
            moved = false;
            for (int64_t b = 0; b < a; b++) {
                int64_t y = placed[b];
                if (last[y] < first[x] || last[x] < first[y] || !pool_overlap(p, x, at, y)) continue;
                at = p->runs[y].pool_offset + value_bytes(p, y);
                moved = true;
            }
        }
        p->runs[x].pool_offset = at;
        placed[a] = x;
        if (at + value_bytes(p, x) > pool) pool = at + value_bytes(p, x);
    }
    /* A value can be read back after the forward only if nothing later reuses its bytes. */
    for (int64_t a = 0; a < owners; a++) {
        int64_t x = placed[a];
        for (int64_t b = 0; b < owners && !p->runs[x].reused; b++) {
            int64_t y = placed[b];
            p->runs[x].reused = y != x && first[y] > last[x] && pool_overlap(p, x, p->runs[x].pool_offset, y);
        }
    }
    for (int64_t i = 0; i < n; i++)
        if (p->runs[i].active) p->runs[i].reused = p->runs[buffer_owner(p, i)].reused;
    free(first);
    return pool;
}

/* Marks the nodes that the plan's outputs depend on. */
static void mark_active(cnn_plan *p) {
    cnn_graph *g = p->g;
    for (int i = 0; i < g->n_outputs; i++)
        if (training(p) || !(g->output_flags[i] & CNN_OUTPUT_TRAIN_ONLY)) p->runs[g->outputs[i]->id].active = true;
    for (int64_t i = g->n_nodes - 1; i >= 0; i--) {
        if (!p->runs[i].active) continue;
        cnn_node *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) p->runs[n->inputs[k]->id].active = true;
    }
    /* Graph inputs always get a buffer so that callers can write them. */
    for (int i = 0; i < g->n_inputs; i++) p->runs[g->inputs[i]->id].active = true;
}

static void mark_needs_grad(cnn_plan *p) {
    cnn_graph *g = p->g;
    if (!training(p)) return;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        cnn_node *n = g->nodes[i];
        node_run *r = &p->runs[i];
        if (!r->active) continue;
        if (n->input_index >= 0) {
            r->needs_grad = p->flags & CNN_PLAN_INPUT_GRAD;
            continue;
        }
        for (int j = 0; j < n->n_params; j++)
            if (cnn_node_param_entry(n, j)->trainable) r->needs_grad = true;
        for (int k = 0; k < n->n_inputs; k++)
            if (p->runs[n->inputs[k]->id].needs_grad) r->needs_grad = true;
    }
    for (int i = 0; i < g->n_outputs; i++) p->runs[g->outputs[i]->id].needs_grad = true;
}

/* The arena: large ones 2 MB aligned and marked for transparent huge pages (where the kernel
 * gives them on request: /sys/kernel/mm/transparent_hugepage/enabled "madvise"): convolutions walk
 * rows a plane apart and GEMMs stream megabytes, too many 4 KB pages for the TLB. */
#define HUGE_PAGE ((size_t)2 << 20)
static char *plan_arena_alloc(size_t bytes) {
    if (bytes < HUGE_PAGE) return aligned_alloc(ALIGN, bytes ? bytes : ALIGN);
    const size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    char *a = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
    if (a) madvise(a, rounded, MADV_HUGEPAGE); /* a hint: without it, 4 KB pages */
#endif
    return a;
}

cnn_plan *cnn_plan_create(cnn_graph *g, int64_t batch, unsigned flags) {
    if (!g) return cnn_fail_null("plan: graph is NULL");
    if (batch <= 0) return cnn_fail_null("plan: batch size must be positive (got %lld)", (long long)batch);
    if (g->unbatched && batch != 1)
        return cnn_fail_null("plan: the graph's values are whole tensors (an unbatched graph); its batch size is 1, not %lld", (long long)batch);
    if (g->n_inputs == 0 && !g->unbatched) return cnn_fail_null("plan: the graph has no input");
    if (g->n_outputs == 0) return cnn_fail_null("plan: the graph has no output (cnn_graph_add_output)");
    if ((flags & CNN_PLAN_INPUT_GRAD) && !(flags & CNN_PLAN_TRAIN))
        return cnn_fail_null("plan: input gradients need a training plan");
    if ((flags & CNN_PLAN_FROZEN) && (flags & CNN_PLAN_TRAIN))
        return cnn_fail_null("plan: CNN_PLAN_FROZEN is for eval plans (a training plan changes the parameters)");
    cnn_plan *p = cnn_calloc(1, sizeof *p, "plan");
    if (!p) return NULL;
    p->g = g;
    p->n_nodes = g->n_nodes;
    p->batch = batch;
    p->flags = flags;
    p->threads = omp_get_max_threads();
    p->runs = cnn_calloc((size_t)g->n_nodes, sizeof *p->runs, "plan");
    p->output_nodes = cnn_calloc((size_t)g->n_outputs, sizeof *p->output_nodes, "plan outputs");
    if (!p->runs || !p->output_nodes) goto fail;
    mark_active(p);
    mark_needs_grad(p);
    for (int i = 0; i < g->n_outputs; i++)
        if (training(p) || !(g->output_flags[i] & CNN_OUTPUT_TRAIN_ONLY)) p->output_nodes[p->n_outputs++] = (int)g->outputs[i]->id;
    for (int i = 0; i < p->n_outputs; i++) p->runs[p->output_nodes[i]].is_output = true;
    if (training(p) && !cnn_graph_grads(g, NULL)) goto fail;
    plan_sharing(p);
    plan_sections(p);

    /* Sizes: activations, gradients and states in one arena; pointer arrays in one block. Eval
     * plans share activation buffers by lifetime (a pool at the arena's start). */
    const bool pooled = !training(p) && !(flags & CNN_PLAN_UNFUSED);
    size_t arena = 0, pointers = 0, section_work = 0; /* the scratch of the layers in branch sections */
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        cnn_node *n = g->nodes[i];
        if (!r->active) continue;
        int64_t numel = cnn_mul_i64(cnn_shape_sample_numel(&n->shape), batch);
        if (numel < 0) {
            cnn_fail("plan: layer '%s' output too large at batch %lld", n->name, (long long)batch);
            goto fail;
        }
        const bool own = r->concat_id < 0 && !r->hidden; /* slices and fused-away layers have none */
        if (own && !pooled && add_bytes(&arena, float_bytes(numel), n->name)) goto fail;
        if (own && r->needs_grad && add_bytes(&arena, float_bytes(numel), n->name)) goto fail;
        if (r->fuse_bn >= 0 && add_bytes(&arena, float_bytes(2 * n->shape.dims[1]), n->name)) goto fail;
        if (n->op->state_bytes) {
            size_t st = n->op->state_bytes(n, batch, training(p));
            if (st > SIZE_MAX - ALIGN || add_bytes(&arena, align_up(st), n->name)) {
                cnn_fail("plan: layer '%s' state too large at batch %lld", n->name, (long long)batch);
                goto fail;
            }
        }
        if (n->op->work_bytes) {
            size_t w = n->op->work_bytes(n, batch, training(p));
            if (w == SIZE_MAX) {
                cnn_fail("plan: layer '%s' scratch too large at batch %lld", n->name, (long long)batch);
                goto fail;
            }
            if (w > p->work_bytes) p->work_bytes = w;
            if (r->in_section && w > section_work) section_work = w;
        }
        pointers += 2 * (size_t)n->n_inputs + 2 * (size_t)n->n_params;
    }
    size_t pool = pooled ? plan_value_pool(p) : 0;
    if (pool == SIZE_MAX) {
        cnn_fail("out of memory (planning activation buffers)");
        goto fail;
    }
    if (add_bytes(&arena, pool, "activations")) goto fail;
    size_t work_offset = arena;
    /* The plan's scratch, then one area per further thread of the widest branch section, each as
     * large as the largest scratch of a layer in a section (thread 0 takes the plan's) */
    int section_threads = 1;
    for (int64_t i = 0; i < g->n_nodes; i++)
        if (p->runs[i].section_threads > section_threads) section_threads = p->runs[i].section_threads;
    p->work_stride = align_up(section_work);
    if (add_bytes(&arena, align_up(p->work_bytes), "scratch") ||
        (section_threads > 1 && (p->work_stride > SIZE_MAX / (size_t)(section_threads - 1) ||
                                 add_bytes(&arena, p->work_stride * (size_t)(section_threads - 1), "scratch"))))
        goto fail;
    p->arena_bytes = arena;
    p->arena = plan_arena_alloc(arena);
    if (!p->arena) {
        cnn_fail("out of memory: plan needs %zu bytes at batch %lld", arena, (long long)batch);
        goto fail;
    }
    memset(p->arena, 0, arena);
    p->work = p->arena + work_offset;
    p->pointer_block = cnn_calloc(pointers ? pointers : 1, sizeof(void *), "plan");
    if (!p->pointer_block) goto fail;

    /* Carve the arena: the pool first, then everything else in node order. */
    size_t at = pool;
    void **ptr = p->pointer_block;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        cnn_node *n = g->nodes[i];
        if (!r->active) continue;
        int64_t numel = cnn_shape_sample_numel(&n->shape) * batch;
        if (r->fuse_bn >= 0) {
            r->epi = (float *)(p->arena + at);
            at += float_bytes(2 * n->shape.dims[1]);
        }
        if (r->concat_id < 0 && !r->hidden && pooled) { /* slices and fused layers are set below */
            r->value = cnn_tensor_make((float *)(p->arena + r->pool_offset), &n->shape, batch);
            r->grad = cnn_tensor_make(NULL, &n->shape, batch);
        } else if (r->concat_id < 0 && !r->hidden) {
            r->value = cnn_tensor_make((float *)(p->arena + at), &n->shape, batch);
            at += float_bytes(numel);
            r->grad = cnn_tensor_make(r->needs_grad ? (float *)(p->arena + at) : NULL, &n->shape, batch);
            if (r->needs_grad) at += float_bytes(numel);
        }
        if (n->op->state_bytes) {
            r->state = p->arena + at;
            at += align_up(n->op->state_bytes(n, batch, training(p)));
        }
        r->in = (const cnn_tensor **)ptr;
        ptr += n->n_inputs;
        r->din = (cnn_tensor **)ptr;
        ptr += n->n_inputs;
        r->param = (float **)ptr;
        ptr += n->n_params;
        r->dparam = (float **)ptr;
        ptr += n->n_params;
    }
    /* Concat slices, last first: a concat that is itself a slice of a later one is placed first. */
    for (int64_t i = g->n_nodes - 1; i >= 0; i--) {
        node_run *r = &p->runs[i];
        if (!r->active || r->concat_id < 0) continue;
        const node_run *c = &p->runs[r->concat_id];
        r->value = cnn_tensor_make(c->value.data + r->concat_offset, &g->nodes[i]->shape, batch);
        r->value.stride[0] = c->value.stride[0];
        r->grad = cnn_tensor_make(c->grad.data ? c->grad.data + r->concat_offset : NULL, &g->nodes[i]->shape, batch);
        r->grad.stride[0] = c->grad.stride[0];
    }
    /* A fused conv (and a batch norm or add before the last fused layer) writes into the last fused layer's buffer. */
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        if (!r->active || (r->fuse_bn < 0 && r->fuse_add < 0 && r->fuse_relu < 0)) continue;
        const node_run *last = &p->runs[fusion_last(r)];
        r->value = last->value;
        if (r->fuse_bn >= 0) p->runs[r->fuse_bn].value = last->value;
        if (r->fuse_add >= 0) p->runs[r->fuse_add].value = last->value;
    }
    for (int64_t i = 0; i < g->n_nodes; i++) {
        node_run *r = &p->runs[i];
        cnn_node *n = g->nodes[i];
        if (!r->active) continue;
        for (int k = 0; k < n->n_inputs; k++) {
            node_run *src = &p->runs[n->inputs[k]->id];
            r->in[k] = &src->value;
            r->din[k] = src->needs_grad ? &src->grad : NULL;
        }
        for (int j = 0; j < n->n_params; j++) {
            const cnn_param_entry *e = cnn_node_param_entry(n, j);
            r->param[j] = cnn_node_param_data(n, j);
            r->dparam[j] = training(p) && e->trainable ? g->grad_data + e->offset : NULL;
        }
    }
    return p;
fail:
    cnn_plan_free(p);
    return NULL;
}

int64_t cnn_plan_batch(const cnn_plan *p) { return p->batch; }

int64_t cnn_plan_section_count(const cnn_plan *p) {
    int64_t count = 0;
    for (int64_t i = 0; i < p->n_nodes; i++) count += p->runs[i].section_end > 0;
    return count;
}
size_t cnn_plan_memory(const cnn_plan *p) { return p->arena_bytes; }
int cnn_plan_output_count(const cnn_plan *p) { return p->n_outputs; }

cnn_tensor *cnn_plan_input(cnn_plan *p, int i) {
    if (i < 0 || i >= p->g->n_inputs) return cnn_fail_null("plan: no input %d (the graph has %d)", i, p->g->n_inputs);
    return &p->runs[p->g->inputs[i]->id].value;
}

const cnn_tensor *cnn_plan_output(const cnn_plan *p, int i) {
    if (i < 0 || i >= p->n_outputs) return cnn_fail_null("plan: no output %d (the plan has %d)", i, p->n_outputs);
    return &p->runs[p->output_nodes[i]].value;
}

cnn_tensor *cnn_plan_output_grad(cnn_plan *p, int i) {
    if (!training(p)) return cnn_fail_null("plan: output gradients need a training plan");
    if (i < 0 || i >= p->n_outputs) return cnn_fail_null("plan: no output %d (the plan has %d)", i, p->n_outputs);
    return &p->runs[p->output_nodes[i]].grad;
}

const cnn_tensor *cnn_plan_input_grad(const cnn_plan *p, int i) {
    if (!(p->flags & CNN_PLAN_INPUT_GRAD)) return cnn_fail_null("plan: made without CNN_PLAN_INPUT_GRAD");
    if (i < 0 || i >= p->g->n_inputs) return cnn_fail_null("plan: no input %d", i);
    return &p->runs[p->g->inputs[i]->id].grad;
}

bool cnn_plan_computes(const cnn_plan *p, const cnn_node *x) {
    return x && x->graph == p->g && x->id < p->n_nodes && p->runs[x->id].active;
}

const cnn_tensor *cnn_plan_value(const cnn_plan *p, const cnn_node *x) {
    if (!cnn_plan_computes(p, x) || p->runs[x->id].hidden || p->runs[x->id].reused) return NULL;
    const int64_t by = p->runs[x->id].fused_by;
    if (by >= 0 && p->runs[by].pre_pool == x->id) return NULL; /* its buffer held the conv's output before the pool */
    return &p->runs[x->id].value;
}

const cnn_tensor *cnn_plan_grad(const cnn_plan *p, const cnn_node *x) {
    if (!x || x->graph != p->g || x->id >= p->n_nodes || !p->runs[x->id].active || !p->runs[x->id].needs_grad ||
        !p->runs[x->id].grad.data)
        return NULL;
    return &p->runs[x->id].grad;
}

void cnn_plan_set_seed(cnn_plan *p, uint64_t seed, uint64_t step) {
    p->seed = seed;
    p->step = step;
}

static int check_graph_unchanged(const cnn_plan *p) {
    if (p->g->n_nodes != p->n_nodes || (training(p) && !p->g->grad_data))
        return cnn_fail("plan: the graph changed after the plan was made; make a new plan");
    return 0;
}

static cnn_op_ctx make_ctx(cnn_plan *p, int64_t i) {
    node_run *r = &p->runs[i];
    cnn_node *n = p->g->nodes[i];
    cnn_op_ctx c = {
        .node = n,
        .attrs = n->attrs,
        .n_inputs = n->n_inputs,
        .in = r->in,
        .out = &r->value,
        .din = r->din,
        .dout = &r->grad,
        .param = r->param,
        .dparam = r->dparam,
        .state = r->state,
        .work = p->work,
        .work_threads = p->threads,
        .training = training(p),
        .dropout = training(p) && !(p->flags & CNN_PLAN_NO_DROPOUT),
        .frozen = p->flags & CNN_PLAN_FROZEN,
        .seed = cnn_hash64(p->seed ^ cnn_hash64(p->step * 0x100000001b3ull + (uint64_t)i)),
    };
    return c;
}

/* Conv i with its plane-linear layer moved after it (plan_pointwise_first): the conv, without its
 * epilogue, from the layer's input into the layer's buffer; the layer from there into the conv's
 * output, with the conv's epilogue (c: the conv's context). */
static int forward_pointwise_first(cnn_plan *p, int64_t i, const cnn_op_ctx *c) {
    cnn_graph *g = p->g;
    const int64_t q = p->runs[i].pre_pool;
    const cnn_tensor mid = cnn_tensor_make(p->runs[q].value.data, &g->nodes[i]->shape, p->batch);
    const cnn_tensor *mid_in[1] = {&mid};
    cnn_op_ctx conv = *c, pool = make_ctx(p, q);
    pool.work = c->work;
    conv.in = p->runs[q].in, conv.out = &mid;
    conv.epi_scale = conv.epi_shift = NULL, conv.epi_relu = false;
    pool.in = mid_in, pool.out = c->out;
    pool.epi_scale = c->epi_scale, pool.epi_shift = c->epi_shift, pool.epi_relu = c->epi_relu;
    double t0 = p->seconds ? omp_get_wtime() : 0;
    if (g->nodes[i]->op->forward(&conv)) return -1;
    double t1 = p->seconds ? omp_get_wtime() : 0;
    if (g->nodes[q]->op->forward(&pool)) return -1;
    if (p->seconds) p->seconds[2 * i] += t1 - t0, p->seconds[2 * q] += omp_get_wtime() - t1;
    return 0;
}

/* Node i's forward (one that runs: active, no graph input, not fused into another), scratch at work. */
static int forward_node(cnn_plan *p, int64_t i, void *work) {
    cnn_graph *g = p->g;
    const node_run *r = &p->runs[i];
    cnn_op_ctx c = make_ctx(p, i);
    c.work = work;
    if (r->fuse_bn >= 0) {
        cnn_batchnorm_eval_affine(g->nodes[r->fuse_bn], r->epi, r->epi + g->nodes[i]->shape.dims[1]);
        c.epi_scale = r->epi, c.epi_shift = r->epi + g->nodes[i]->shape.dims[1];
    }
    c.epi_relu = r->fuse_relu >= 0;
    c.epi_residual = r->residual >= 0 ? &p->runs[r->residual].value : NULL;
    if (r->pre_pool >= 0) return forward_pointwise_first(p, i, &c);
    double t0 = p->seconds ? omp_get_wtime() : 0;
    if (g->nodes[i]->op->forward(&c)) return -1;
    if (p->seconds) p->seconds[2 * i] += omp_get_wtime() - t0;
    return 0;
}

/* Branch section [a, end) (plan_sections): each thread runs its branches' layers in graph order, with
 * its own scratch, its layers on one thread each; the first error stops them all. */
static int forward_section(cnn_plan *p, int64_t a, int64_t end) {
    int failed = 0;
    char message[1024] = "";
#pragma omp parallel num_threads(p->runs[a].section_threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads(); /* fewer than asked: each takes more branches */
        omp_set_num_threads(1);                                         /* the layers' own parallel regions: this thread alone */
        void *work = t ? (char *)p->work + align_up(p->work_bytes) + (size_t)(t - 1) * p->work_stride : p->work;
        for (int64_t i = a; i < end; i++) {
            if (!runs_forward(p, i) || p->runs[i].branch_thread % nt != t) continue;
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop) break;
            if (forward_node(p, i, work)) {
#pragma omp critical(cnn_section_error)
                if (!failed) {
                    snprintf(message, sizeof message, "%s", cnn_last_error());
#pragma omp atomic write
                    failed = 1;
                }
                break;
            }
        }
    }
    return failed ? cnn_fail("%s", message) : 0;
}

int cnn_plan_forward(cnn_plan *p) {
    if (check_graph_unchanged(p)) return -1;
    cnn_graph *g = p->g;
    /* Branch sections side by side unless profiling (each layer timed alone) or fewer threads now. */
    const bool sections = !p->seconds && !omp_in_parallel() && omp_get_max_threads() >= 2;
    for (int64_t i = 0; i < g->n_nodes; i++) {
        if (sections && p->runs[i].section_end > 0) {
            if (forward_section(p, i, p->runs[i].section_end)) return -1;
            i = p->runs[i].section_end - 1;
            continue;
        }
        if (runs_forward(p, i) && forward_node(p, i, p->work)) return -1;
    }
    if (training(p)) {
        for (int i = 0; i < p->n_outputs; i++) {
            cnn_tensor *t = &p->runs[p->output_nodes[i]].grad;
            cnn_zero_floats(t->data, cnn_tensor_numel(t));
        }
        p->step++;
    }
    return 0;
}

/* Whether node i's backward may store its input k's gradient whole instead of adding into it zeroed
 * first: its op can, and it is the first to write that gradient in this pass (its last consumer in
 * graph order: the others add into it after), a plain value's (not an output's, a concat slice's or
 * a fused layer's) that is none of the node's other inputs. */
static bool grad_store(const cnn_plan *p, int64_t i, int k) {
    const cnn_node *n = p->g->nodes[i];
    const node_run *in = &p->runs[n->inputs[k]->id];
    if (!(n->op->caps & CNN_CAP_GRAD_STORE) || k >= 32 || p->runs[i].fuse_relu >= 0 || !in->active || !in->needs_grad || in->is_output ||
        in->grad_zeroed || in->concat_id >= 0 || in->fused_by >= 0 || in->hidden || !in->grad.data)
        return false;
    for (int j = 0; j < n->n_inputs; j++)
        if (j != k && n->inputs[j] == n->inputs[k]) return false;
    return true;
}

/* Zeroes an inner node's gradient once per backward pass. */
static void zero_grad(node_run *r) {
    /* A concat slice's gradient is the concat's, complete before anything reads it. */
    if (!r->active || !r->needs_grad || r->is_output || r->grad_zeroed || r->concat_id >= 0 || !r->grad.data) return;
    cnn_zero_floats(r->grad.data, cnn_tensor_numel(&r->grad));
    r->grad_zeroed = true;
}

int cnn_plan_backward(cnn_plan *p) {
    if (check_graph_unchanged(p)) return -1;
    if (!training(p)) return cnn_fail("plan: backward needs a training plan (CNN_PLAN_TRAIN)");
    cnn_graph *g = p->g;
    /* Gradients of inner nodes accumulate from their consumers and start at zero. Each is zeroed
     * just before the first op that adds into it (its last consumer in graph order), while it is
     * about to be used, rather than all of them up front. */
    for (int64_t i = 0; i < g->n_nodes; i++) p->runs[i].grad_zeroed = false;
    int rc = 0;
    for (int64_t i = g->n_nodes - 1; i >= 0; i--) {
        node_run *r = &p->runs[i];
        cnn_node *n = g->nodes[i];
        if (!r->active || !r->needs_grad || n->input_index >= 0) continue;
        if (!n->op->backward) {
            rc = cnn_fail("%s '%s': no gradient for this op", n->op->name, n->name);
            break;
        }
        zero_grad(r); /* no consumer added into it: it stays zero */
        if (r->fused_by >= 0) continue; /* a ReLU folded into the layer before it: done by that layer's backward */
        unsigned store = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            if (grad_store(p, i, k)) {
                store |= 1u << k;
                p->runs[n->inputs[k]->id].grad_zeroed = true;
            } else
                zero_grad(&p->runs[n->inputs[k]->id]);
        }
        cnn_op_ctx c = make_ctx(p, i);
        c.din_store = store;
        if (r->fuse_relu >= 0) c.dout = &p->runs[r->fuse_relu].grad, c.epi_relu = true; /* training fusion */
        c.seed = cnn_hash64(p->seed ^ cnn_hash64((p->step - 1) * 0x100000001b3ull + (uint64_t)i));
        double t0 = p->seconds ? omp_get_wtime() : 0;
        if (n->op->backward(&c)) {
            rc = -1;
            break;
        }
        if (p->seconds) p->seconds[2 * i + 1] += omp_get_wtime() - t0;
    }
    /* Gradients no op reached (graph inputs without consumers, or after an error) read zero. */
    for (int64_t i = 0; i < g->n_nodes; i++) zero_grad(&p->runs[i]);
    return rc;
}
