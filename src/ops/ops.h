/* ops.h — what every op file includes: the internal structures and small shared helpers. */
#ifndef CNN_OPS_H
#define CNN_OPS_H

#include "../core/internal.h"

#endif /* CNN_OPS_H */
