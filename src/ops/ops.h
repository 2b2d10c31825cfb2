/* ops.h — what every op file includes: the internal structures and small shared helpers. */
#ifndef CNN_OPS_H
#define CNN_OPS_H

#include "../core/internal.h"

/* The per-sample dims of s as three (D1,D2,D3), 1s in front: rank 4 (C,H,W), rank 3 (1,A,B),
 * rank 2 (1,1,F), rank 1 (1,1,1). Ops of any rank walk samples through it. */
static inline void cnn_dims3(const cnn_shape *s, int64_t d[3]) {
    d[0] = d[1] = d[2] = 1;
    for (int k = 1; k < s->rank; k++) d[3 - s->rank + k] = s->dims[k];
}

#endif /* CNN_OPS_H */
