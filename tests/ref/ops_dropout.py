"""ops_dropout.py — reference cases for dropout: eval mode and p = 0 / p = 1 match PyTorch exactly;
train mode with 0 < p < 1 draws a different mask than PyTorch, so only its gradients are checked."""
from torch import nn

from common import Case


def dropout_case(name, shape, p, train, compare=True):
    return Case(name, "dropout", {"p": p}, [shape], lambda: nn.Dropout(p), train=train, compare=compare)


CASES = [
    dropout_case("dropout_eval_4d", (2, 3, 4, 5), 0.5, train=False),
    dropout_case("dropout_eval_2d", (4, 9), 0.3, train=False),
    dropout_case("dropout_train_p0", (2, 3, 4, 5), 0.0, train=True),
    dropout_case("dropout_train_p1", (2, 3, 4, 5), 1.0, train=True),
    dropout_case("dropout_train_p0.5", (2, 3, 4, 5), 0.5, train=True, compare=False),
    dropout_case("dropout_train_p0.2_2d", (5, 12), 0.2, train=True, compare=False),
]
