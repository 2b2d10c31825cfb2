/* ops.h — what every op file includes: the internal structures and small shared helpers. */
#ifndef CNN_OPS_H
#define CNN_OPS_H

#include "../core/internal.h"

/* The per-sample dims of s as four (D1,D2,D3,D4), 1s in front: rank 5 (C,D,H,W), rank 4 (1,C,H,W),
 * rank 3 (1,1,A,B), rank 2 (1,1,1,F), rank 1 (1,1,1,1). Ops of any rank walk samples through it. */
#define CNN_SAMPLE_DIMS (CNN_MAX_RANK - 1)
static inline void cnn_sample_dims(const cnn_shape *s, int64_t d[CNN_SAMPLE_DIMS]) {
    for (int k = 0; k < CNN_SAMPLE_DIMS; k++) d[k] = 1;
    for (int k = 1; k < s->rank; k++) d[CNN_SAMPLE_DIMS - s->rank + k] = s->dims[k];
}

#endif /* CNN_OPS_H */
