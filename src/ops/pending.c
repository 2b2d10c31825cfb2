/* pending.c — TEMPORARY weak placeholders for ops being written; removed when all exist. */
#include "ops.h"

#define PENDING(name) cnn_fail_null("%s: not implemented yet", name)
__attribute__((weak)) cnn_node *cnn_conv2d(cnn_graph *g, cnn_node *x, const char *name, int64_t o, int kh, int kw, int s, int p, bool b) { (void)g; (void)x; (void)name; (void)o; (void)kh; (void)kw; (void)s; (void)p; (void)b; return PENDING("conv2d"); }
__attribute__((weak)) cnn_node *cnn_conv2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_conv2d_params *p) { (void)g; (void)x; (void)name; (void)p; return PENDING("conv2d"); }
__attribute__((weak)) cnn_node *cnn_batchnorm(cnn_graph *g, cnn_node *x, const char *name, float e, float m) { (void)g; (void)x; (void)name; (void)e; (void)m; return PENDING("batchnorm"); }
__attribute__((weak)) cnn_node *cnn_maxpool2d(cnn_graph *g, cnn_node *x, const char *name, int k, int s, int p, bool c) { (void)g; (void)x; (void)name; (void)k; (void)s; (void)p; (void)c; return PENDING("maxpool2d"); }
__attribute__((weak)) cnn_node *cnn_maxpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p) { (void)g; (void)x; (void)name; (void)p; return PENDING("maxpool2d"); }
__attribute__((weak)) cnn_node *cnn_avgpool2d(cnn_graph *g, cnn_node *x, const char *name, int k, int s, int p, bool c, bool i) { (void)g; (void)x; (void)name; (void)k; (void)s; (void)p; (void)c; (void)i; return PENDING("avgpool2d"); }
__attribute__((weak)) cnn_node *cnn_avgpool2d_ex(cnn_graph *g, cnn_node *x, const char *name, const cnn_pool2d_params *p) { (void)g; (void)x; (void)name; (void)p; return PENDING("avgpool2d"); }
__attribute__((weak)) cnn_node *cnn_global_avgpool(cnn_graph *g, cnn_node *x, const char *name) { (void)g; (void)x; (void)name; return PENDING("global_avgpool"); }
__attribute__((weak)) cnn_node *cnn_adaptive_avgpool(cnn_graph *g, cnn_node *x, const char *name, int64_t h, int64_t w) { (void)g; (void)x; (void)name; (void)h; (void)w; return PENDING("adaptive_avgpool"); }
__attribute__((weak)) cnn_node *cnn_lrn(cnn_graph *g, cnn_node *x, const char *name, int s, float a, float b, float k) { (void)g; (void)x; (void)name; (void)s; (void)a; (void)b; (void)k; return PENDING("lrn"); }
__attribute__((weak)) cnn_node *cnn_dropout(cnn_graph *g, cnn_node *x, const char *name, float p) { (void)g; (void)x; (void)name; (void)p; return PENDING("dropout"); }
__attribute__((weak)) cnn_node *cnn_dense(cnn_graph *g, cnn_node *x, const char *name, int64_t o, bool b) { (void)g; (void)x; (void)name; (void)o; (void)b; return PENDING("dense"); }
__attribute__((weak)) cnn_node *cnn_flatten(cnn_graph *g, cnn_node *x, const char *name) { (void)g; (void)x; (void)name; return PENDING("flatten"); }
__attribute__((weak)) cnn_node *cnn_concat(cnn_graph *g, int n, cnn_node *const *xs, const char *name) { (void)g; (void)n; (void)xs; (void)name; return PENDING("concat"); }
__attribute__((weak)) cnn_node *cnn_add(cnn_graph *g, cnn_node *a, cnn_node *b, const char *name) { (void)g; (void)a; (void)b; (void)name; return PENDING("add"); }
__attribute__((weak)) cnn_node *cnn_scale(cnn_graph *g, cnn_node *x, const char *name, float f) { (void)g; (void)x; (void)name; (void)f; return PENDING("scale"); }
__attribute__((weak)) cnn_node *cnn_zero_pad(cnn_graph *g, cnn_node *x, const char *name, int t, int b, int l, int r) { (void)g; (void)x; (void)name; (void)t; (void)b; (void)l; (void)r; return PENDING("zero_pad"); }
__attribute__((weak)) int cnn_softmax_cross_entropy(const cnn_tensor *l, const int64_t *y, float e, float *loss, cnn_tensor *d, float s) { (void)l; (void)y; (void)e; (void)loss; (void)d; (void)s; return cnn_fail("cross_entropy: not implemented yet"); }
