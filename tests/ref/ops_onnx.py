"""ops_onnx.py — reference cases for the ops ONNX import maps onto: clip, softmax over a run of dims,
global max pool, LRN with ONNX's window, reshape, constants, concatenation along any dim, padding
(constant / reflect / edge), broadcasting add and mul, batched matrix products, transposition; rank-5
cases for the ops that walk any rank."""
import torch
import torch.nn.functional as F
from torch import nn

from common import Case, Fn


def softmax_dims(first, last):
    """Softmax over the joint dims first..last (PyTorch: flatten them, softmax, unflatten)."""
    def fn(x):
        shape = x.shape
        y = x.flatten(first, last).softmax(first)
        return y.reshape(shape)
    return lambda: Fn(fn)


def lrn_window(size, before, alpha=1e-4, beta=0.75, k=1.0):
    """LRN whose window is [c - before, c + size - 1 - before] (ONNX: before = (size - 1) // 2)."""
    def fn(x):
        sq = F.pad(x.pow(2).unsqueeze(1), (0, 0, 0, 0, before, size - 1 - before))
        div = F.avg_pool3d(sq, (size, 1, 1), stride=1).squeeze(1)
        return x / (div * alpha + k).pow(beta)
    return lambda: Fn(fn)


def reshape(*dims):
    return lambda: Fn(lambda x: x.reshape(x.shape[0], *dims))


class MulConst(nn.Module):
    """x * value, value a parameter of the per-sample shape broadcast over the batch."""

    def __init__(self, shape):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return x * self.value


def pad(torch_pads, mode, value=0.0):
    if mode == "constant":
        return lambda: Fn(lambda x: F.pad(x, torch_pads, mode="constant", value=value))
    return lambda: Fn(lambda x: F.pad(x, torch_pads, mode=mode))


def pad_case(name, shape, mode, before, after, value=0.0):
    """before/after per dim (the batch's 0 first); torch's pad tuple lists the last dim first."""
    torch_pads = []
    for d in range(len(shape) - 1, 0, -1):
        torch_pads += [before[d], after[d]]
    if mode != "constant":  # torch pads only the last two (reflect/replicate 2-D) dims
        torch_pads = torch_pads[:4]
    cnn_mode = {"constant": 0, "reflect": 1, "replicate": 2}[mode]
    return Case(name, "pad", {"mode": cnn_mode, "before": before, "after": after, "value": value}, [shape],
                pad(tuple(torch_pads), mode, value))


CASES = [
    # clip: 'distinct' inputs are odd multiples of 0.025, never within 0.025 of the bounds
    Case("clip_4d", "clip", {"min": -0.5, "max": 0.7}, [(2, 3, 4, 5)], lambda: Fn(lambda x: x.clamp(-0.5, 0.7)),
         dist="distinct"),
    Case("clip_2d", "clip", {"min": 0.0, "max": 6.0}, [(3, 40)], lambda: Fn(lambda x: x.clamp(0.0, 6.0)), dist="distinct"),
    Case("softmax_dims_2_3", "softmax_dims", {"first": 2, "last": 3}, [(2, 3, 4, 5)], softmax_dims(2, 3)),
    Case("softmax_dims_1_3", "softmax_dims", {"first": 1, "last": 3}, [(2, 3, 2, 3)], softmax_dims(1, 3)),
    Case("softmax_dims_3", "softmax_dims", {"first": 3, "last": 3}, [(2, 3, 4, 5)], softmax_dims(3, 3)),
    Case("softmax_dims_rank3", "softmax_dims", {"first": 2, "last": 2}, [(2, 4, 5)], softmax_dims(2, 2)),
    Case("global_maxpool", "global_maxpool", {}, [(2, 3, 4, 5)], lambda: nn.AdaptiveMaxPool2d(1), dist="distinct"),
    Case("lrn_window_even_onnx", "lrn_window", {"size": 4, "before": 1, "alpha": 0.01, "beta": 0.75, "k": 1.5},
         [(2, 7, 3, 3)], lrn_window(4, 1, 0.01, 0.75, 1.5)),
    Case("lrn_window_even_torch", "lrn_window", {"size": 2, "before": 1, "alpha": 0.02, "beta": 0.5, "k": 1.0},
         [(2, 5, 2, 3)], lambda: nn.LocalResponseNorm(2, 0.02, 0.5, 1.0)),
    Case("reshape_4d_to_3d", "reshape", {"dims": [0, 12, 5]}, [(2, 3, 4, 5)], reshape(12, 5)),
    Case("reshape_4d_to_2d", "reshape", {"dims": [0, 60]}, [(2, 3, 4, 5)], reshape(60)),
    Case("reshape_3d_to_4d", "reshape", {"dims": [0, 2, 3, 4]}, [(3, 6, 4)], reshape(2, 3, 4)),
    Case("mul_const", "mul_const", {"dims": [0, 3, 1, 1]}, [(2, 3, 4, 5)], lambda: MulConst((3, 1, 1))),
    Case("mul_const_full", "mul_const", {"dims": [0, 4, 5]}, [(3, 4, 5)], lambda: MulConst((4, 5))),
    Case("concat_axis_2", "concat_axis", {"axis": 2}, [(2, 3, 4, 5), (2, 3, 2, 5)], lambda: Fn(lambda *xs: torch.cat(xs, 2))),
    Case("concat_axis_3", "concat_axis", {"axis": 3}, [(2, 3, 4, 1), (2, 3, 4, 5), (2, 3, 4, 2)],
         lambda: Fn(lambda *xs: torch.cat(xs, 3))),
    Case("concat_axis_rank3", "concat_axis", {"axis": 2}, [(2, 3, 4), (2, 3, 2)], lambda: Fn(lambda *xs: torch.cat(xs, 2))),
    pad_case("pad_constant", (2, 3, 4, 5), "constant", [0, 0, 1, 0], [0, 0, 2, 3], 0.5),
    pad_case("pad_constant_channels", (2, 3, 2, 2), "constant", [0, 2, 0, 1], [0, 1, 1, 0], -1.0),
    pad_case("pad_reflect", (2, 2, 5, 6), "reflect", [0, 0, 2, 3], [0, 0, 1, 2]),
    pad_case("pad_edge", (2, 2, 3, 4), "replicate", [0, 0, 2, 1], [0, 0, 3, 4]),
    Case("add_broadcast", "add_broadcast", {}, [(2, 3, 4, 5), (2, 1, 4, 1)], lambda: Fn(lambda a, b: a + b)),
    Case("add_broadcast_both", "add_broadcast", {}, [(2, 3, 1, 5), (2, 1, 4, 1)], lambda: Fn(lambda a, b: a + b)),
    Case("mul_same", "mul", {}, [(2, 3, 4, 5), (2, 3, 4, 5)], lambda: Fn(lambda a, b: a * b)),
    Case("mul_broadcast", "mul", {}, [(2, 3, 1, 5), (2, 1, 4, 1)], lambda: Fn(lambda a, b: a * b)),
    Case("mul_2d", "mul", {}, [(3, 7), (3, 1)], lambda: Fn(lambda a, b: a * b)),
    Case("matmul_3d", "matmul", {}, [(2, 3, 4), (2, 4, 5)], lambda: Fn(torch.matmul)),
    Case("matmul_4d", "matmul", {}, [(2, 3, 4, 5), (2, 3, 5, 2)], lambda: Fn(torch.matmul)),
    Case("matmul_4d_broadcast", "matmul", {}, [(2, 3, 4, 5), (2, 1, 5, 2)], lambda: Fn(torch.matmul)),
    Case("transpose_4d", "transpose", {"perm": [0, 3, 1, 2]}, [(2, 3, 4, 5)], lambda: Fn(lambda x: x.permute(0, 3, 1, 2))),
    Case("transpose_3d", "transpose", {"perm": [0, 2, 1]}, [(2, 3, 7)], lambda: Fn(lambda x: x.permute(0, 2, 1))),
    Case("transpose_5d", "transpose", {"perm": [0, 4, 2, 1, 3]}, [(2, 3, 2, 4, 5)],
         lambda: Fn(lambda x: x.permute(0, 4, 2, 1, 3))),
    # rank 5: four per-sample dims
    Case("add_broadcast_5d", "add_broadcast", {}, [(2, 3, 1, 4, 5), (2, 1, 2, 4, 1)], lambda: Fn(lambda a, b: a + b)),
    Case("mul_broadcast_5d", "mul", {}, [(2, 1, 2, 1, 5), (2, 3, 2, 4, 1)], lambda: Fn(lambda a, b: a * b)),
    Case("reshape_5d_to_3d", "reshape", {"dims": [0, 6, 20]}, [(2, 3, 2, 4, 5)], reshape(6, 20)),
    Case("reshape_3d_to_5d", "reshape", {"dims": [0, 2, 3, 2, 2]}, [(2, 6, 4)], reshape(2, 3, 2, 2)),
    Case("concat_axis_5d", "concat_axis", {"axis": 3}, [(2, 2, 3, 4, 2), (2, 2, 3, 1, 2)], lambda: Fn(lambda *xs: torch.cat(xs, 3))),
    Case("softmax_dims_5d", "softmax_dims", {"first": 2, "last": 3}, [(2, 3, 2, 3, 2)], softmax_dims(2, 3)),
    pad_case("pad_constant_5d", (2, 2, 3, 2, 3), "constant", [0, 1, 0, 2, 1], [0, 0, 2, 1, 1], 0.25),
    Case("clip_5d", "clip", {"min": -0.5, "max": 0.7}, [(2, 3, 2, 2, 3)], lambda: Fn(lambda x: x.clamp(-0.5, 0.7)),
         dist="distinct"),
]
