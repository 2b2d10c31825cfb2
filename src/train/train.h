/* train.h — what the optimizers and schedules share inside src/train. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include "../core/internal.h"

/* A float option stands for the decimal a user typed (0.9f for "0.9"), and PyTorch computes its
 * scalars (1 - beta1, beta1^t, lr / bias_correction1, gamma^k * lr, ...) in double from that
 * decimal. The shortest decimal that rounds back to the same float recovers it. */
double cnn_typed_decimal(float f);

#endif /* CNN_TRAIN_H */
