"""ops_activation.py — reference cases for relu, leaky_relu, sigmoid, tanh and softmax."""
import torch
from torch import nn

from common import Case, Fn

CASES = [
    Case("relu_4d", "relu", {}, [(2, 3, 5, 4)], lambda: nn.ReLU(), dist="away"),
    Case("relu_2d", "relu", {}, [(3, 17)], lambda: nn.ReLU(), dist="away"),
    Case("leaky_relu", "leaky_relu", {"negative_slope": 0.2}, [(2, 3, 4, 5)], lambda: nn.LeakyReLU(0.2), dist="away"),
    Case("leaky_relu_2d", "leaky_relu", {"negative_slope": 0.01}, [(4, 9)], lambda: nn.LeakyReLU(0.01), dist="away"),
    Case("sigmoid", "sigmoid", {}, [(2, 3, 5, 4)], lambda: nn.Sigmoid()),
    Case("sigmoid_2d", "sigmoid", {}, [(3, 11)], lambda: nn.Sigmoid()),
    Case("tanh", "tanh", {}, [(2, 3, 5, 4)], lambda: nn.Tanh()),
    Case("tanh_2d", "tanh", {}, [(5, 7)], lambda: nn.Tanh()),
    Case("softmax_2d", "softmax", {}, [(4, 10)], lambda: nn.Softmax(dim=1)),
    Case("softmax_4d", "softmax", {}, [(2, 5, 3, 4)], lambda: nn.Softmax(dim=1)),
]
