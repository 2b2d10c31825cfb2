"""ops_conv3d.py — reference cases for conv3d, maxpool3d and avgpool3d: strides, asymmetric pads, dilation, groups,
bias, ceil mode, count_include_pad.

Dims are (D, H, W). Asymmetric pads (before, after per dim) are built from PyTorch's primitives: F.pad with zeros
before a convolution, with -inf before a max pool, and for an average that counts only real cells the sum of the
zero-padded input divided by the pooled count of a zero-padded ones tensor. Max-pool inputs are 'distinct'.
"""
import torch
from torch import nn
import torch.nn.functional as F

from common import Case, Fn


def torch_pads(before, after):
    """(before, after) per (D, H, W) as F.pad wants them: the last dim first."""
    return (before[2], after[2], before[1], after[1], before[0], after[0])


def triple(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


class PaddedConv3d(nn.Module):
    """A convolution after explicit zero padding, for pads nn.Conv3d cannot express; parameters named as nn.Conv3d's."""

    def __init__(self, cin, cout, kernel, stride, dilation, groups, bias, before, after):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, *kernel))
        self.bias = nn.Parameter(torch.empty(cout)) if bias else None
        self.stride, self.dilation, self.groups, self.pads = stride, dilation, groups, torch_pads(before, after)

    def forward(self, x):
        return F.conv3d(F.pad(x, self.pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def conv3d_case(name, shape, out_channels, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True, after=None):
    """padding: symmetric pads (nn.Conv3d); with `after`, padding is the pads before and `after` those after."""
    kernel, stride, dilation, before = triple(kernel), triple(stride), triple(dilation), triple(padding)
    after = triple(after) if after is not None else before
    attrs = {"out_channels": out_channels, "kernel": kernel, "stride": stride, "dilation": dilation, "groups": groups,
             "pad_before": before, "pad_after": after, "bias": bias}
    cin = shape[1]
    if before == after:
        module = lambda: nn.Conv3d(cin, out_channels, kernel, stride, before, dilation, groups, bias)
    else:
        module = lambda: PaddedConv3d(cin, out_channels, kernel, stride, dilation, groups, bias, before, after)
    return Case(name, "conv3d", attrs, [shape], module)


def pool_attrs(kernel, stride=None, before=0, after=None, ceil_mode=False, count_include_pad=True, dilation=1,
               large_pads=False):
    kernel = triple(kernel)
    before = triple(before)
    after = triple(after) if after is not None else before
    return {"kernel": kernel, "stride": triple(stride) if stride else kernel, "pad_before": before, "pad_after": after,
            "ceil_mode": ceil_mode, "count_include_pad": count_include_pad, "dilation": triple(dilation),
            "large_pads": large_pads}


def maxpool_case(name, shape, kernel, stride=None, padding=0, ceil_mode=False, dilation=1, train=True, dist="distinct",
                 fd=True):
    attrs = pool_attrs(kernel, stride, padding, ceil_mode=ceil_mode, dilation=dilation)
    return Case(name, "maxpool3d", attrs, [shape],
                lambda: nn.MaxPool3d(kernel, stride, padding, dilation, ceil_mode=ceil_mode), train=train, dist=dist,
                fd=fd and train)


def padded_maxpool_case(name, shape, kernel, stride, before, after, large_pads=False):
    """Asymmetric (or ONNX-sized) pads: pad with -inf, then pool without padding."""
    attrs = pool_attrs(kernel, stride, before, after, large_pads=large_pads)
    pads = torch_pads(triple(before), triple(after))
    return Case(name, "maxpool3d", attrs, [shape],
                lambda: Fn(lambda x: F.max_pool3d(F.pad(x, pads, value=float("-inf")), kernel, stride)), dist="distinct")


def avgpool_case(name, shape, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    attrs = pool_attrs(kernel, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    return Case(name, "avgpool3d", attrs, [shape],
                lambda: nn.AvgPool3d(kernel, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad))


def padded_avgpool_case(name, shape, kernel, stride, before, after, count_include_pad, large_pads=False):
    """Asymmetric pads: the zero-padded sum, divided by the window's size or by its count of real cells."""
    attrs = pool_attrs(kernel, stride, before, after, count_include_pad=count_include_pad, large_pads=large_pads)
    pads = torch_pads(triple(before), triple(after))

    def fn(x):
        total = F.avg_pool3d(F.pad(x, pads), kernel, stride)
        if count_include_pad:
            return total
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
        return total / F.avg_pool3d(F.pad(ones, pads), kernel, stride)

    return Case(name, "avgpool3d", attrs, [shape], lambda: Fn(fn))


CASES = [
    # ---- conv3d ----
    conv3d_case("conv3d_3x3x3_pad1", (2, 3, 4, 5, 5), 4, 3, padding=1),
    conv3d_case("conv3d_1x1x1", (2, 4, 3, 3, 4), 5, 1),  # the direct path: the columns are the input
    conv3d_case("conv3d_1x1x1_stride2", (2, 3, 5, 4, 5), 2, 1, stride=2),
    conv3d_case("conv3d_stride_2x1x2", (2, 2, 5, 6, 7), 3, (3, 2, 3), stride=(2, 1, 2)),
    conv3d_case("conv3d_pad_0_1_2", (1, 2, 3, 5, 6), 3, (1, 3, 5), padding=(0, 1, 2)),
    conv3d_case("conv3d_asym_pads", (2, 2, 4, 5, 5), 3, (2, 3, 3), padding=(0, 1, 2), after=(1, 0, 1)),
    conv3d_case("conv3d_asym_pads_stride2", (1, 3, 5, 6, 5), 2, 3, stride=(2, 2, 1), padding=(1, 0, 2), after=(0, 2, 1)),
    conv3d_case("conv3d_dilation", (1, 2, 6, 6, 7), 3, 3, padding=(2, 1, 2), dilation=(2, 1, 2)),
    conv3d_case("conv3d_dilation_stride", (2, 2, 7, 6, 6), 2, (2, 3, 2), stride=2, padding=1, dilation=(3, 2, 1)),
    conv3d_case("conv3d_groups2", (2, 4, 3, 4, 4), 6, (1, 3, 3), padding=(0, 1, 1), groups=2),
    conv3d_case("conv3d_depthwise", (2, 3, 4, 4, 3), 3, 3, padding=1, groups=3),
    conv3d_case("conv3d_nobias", (2, 3, 3, 4, 5), 4, (3, 1, 3), padding=(1, 0, 1), bias=False),
    conv3d_case("conv3d_pad_exceeds_half", (1, 2, 2, 3, 3), 2, 2, padding=2),
    # Batches of 4 and more take the sample-parallel path with chunked weight gradients.
    conv3d_case("conv3d_batch5", (5, 2, 3, 4, 4), 3, 3, padding=1),
    conv3d_case("conv3d_batch9_groups2_nobias", (9, 4, 2, 3, 3), 4, (2, 2, 2), padding=(1, 0, 1), groups=2, bias=False),
    conv3d_case("conv3d_batch4_1x1x1", (4, 3, 2, 3, 4), 2, 1),
    # ---- maxpool3d ----
    maxpool_case("maxpool3d_2x2x2", (2, 3, 4, 6, 6), 2),
    maxpool_case("maxpool3d_3_s2_pad1", (2, 2, 5, 7, 6), 3, 2, padding=1),
    maxpool_case("maxpool3d_3_s2_ceil", (2, 2, 5, 7, 6), 3, 2, ceil_mode=True),
    # 5 + 2*1 with kernel 2 stride 2 in ceil mode: the last window would start in the trailing pad: dropped.
    maxpool_case("maxpool3d_2_s2_pad1_ceil_drop", (1, 2, 5, 4, 7), 2, 2, padding=1, ceil_mode=True),
    maxpool_case("maxpool3d_k2x3x1_s1x2x1", (2, 2, 4, 7, 3), (2, 3, 1), (1, 2, 1)),
    maxpool_case("maxpool3d_dilation", (2, 2, 6, 7, 5), (2, 3, 2), (1, 2, 1), padding=1, dilation=(2, 2, 1)),
    maxpool_case("maxpool3d_dilation_ceil", (1, 2, 7, 6, 8), 2, (2, 1, 2), padding=1, dilation=(3, 2, 2), ceil_mode=True),
    maxpool_case("maxpool3d_ceil_kernel_over_input", (2, 2, 2, 2, 3), 3, 2, ceil_mode=True),
    padded_maxpool_case("maxpool3d_asym_pads", (2, 2, 5, 6, 5), 3, 2, before=(1, 0, 1), after=(0, 1, 1)),
    # ONNX allows pads up to kernel - 1 (large_pads): every window still holds an input element.
    padded_maxpool_case("maxpool3d_large_pads", (1, 2, 4, 5, 4), 3, 2, before=(2, 0, 1), after=(0, 2, 2), large_pads=True),
    # ---- avgpool3d ----
    avgpool_case("avgpool3d_2x2x2", (2, 3, 4, 6, 6), 2),
    avgpool_case("avgpool3d_3_s1_pad1_incl", (2, 2, 4, 5, 4), 3, 1, padding=1, count_include_pad=True),
    avgpool_case("avgpool3d_3_s1_pad1_excl", (2, 2, 4, 5, 4), 3, 1, padding=1, count_include_pad=False),
    avgpool_case("avgpool3d_3_s2_pad1_ceil_incl", (2, 2, 6, 5, 8), 3, 2, padding=1, ceil_mode=True, count_include_pad=True),
    avgpool_case("avgpool3d_3_s2_pad1_ceil_excl", (2, 2, 6, 5, 8), 3, 2, padding=1, ceil_mode=True, count_include_pad=False),
    avgpool_case("avgpool3d_2_s2_pad1_ceil_drop_incl", (1, 2, 5, 4, 6), 2, 2, padding=1, ceil_mode=True),
    avgpool_case("avgpool3d_k3x2x2_s2x1x2_pad1x0x1", (2, 2, 7, 4, 5), (3, 2, 2), (2, 1, 2), padding=(1, 0, 1)),
    padded_avgpool_case("avgpool3d_asym_pads_incl", (2, 2, 5, 6, 5), 3, 2, (1, 0, 1), (0, 1, 1), count_include_pad=True),
    padded_avgpool_case("avgpool3d_asym_pads_excl", (2, 2, 5, 6, 5), 3, 2, (1, 0, 1), (0, 1, 1), count_include_pad=False),
    padded_avgpool_case("avgpool3d_large_pads_excl", (1, 2, 4, 5, 4), 3, 2, (2, 0, 1), (0, 2, 2), count_include_pad=False,
                        large_pads=True),
]

# Max pool in eval mode (no argmax kept), forward only; NaN propagation in both modes.
CASES += [Case(c.name + "_eval", c.op, c.attrs, c.inputs, c.module, train=False, dist=c.dist, fd=False)
          for c in list(CASES) if c.op == "maxpool3d"]
CASES += [maxpool_case("maxpool3d_3_s2_ceil_nan" + suffix, (2, 2, 5, 6, 7), 3, 2, ceil_mode=True, train=train, dist="nan",
                      fd=False)
          for suffix, train in (("", True), ("_eval", False))]
