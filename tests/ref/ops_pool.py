"""ops_pool.py — reference cases for maxpool2d, avgpool2d, global_avgpool and adaptive_avgpool.

Max-pool inputs are 'distinct' (values 0.05 apart), so no finite difference crosses a tie.
Modes PyTorch lacks are built from its primitives: TensorFlow "same" and asymmetric pads pad
explicitly (with -inf for max), and an average that counts only real cells divides the sum of
the zero-padded input by the pooled count of a zero-padded ones tensor.
"""
import torch
from torch import nn
import torch.nn.functional as F

from common import Case, Fn


def pool_attrs(kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=None, dilation=None):
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    sh, sw = stride if isinstance(stride, tuple) else (stride or kh, stride or kw)
    a = {"kernel_h": kh, "kernel_w": kw, "stride_h": sh, "stride_w": sw, "ceil_mode": ceil_mode}
    if isinstance(padding, tuple):  # (top, bottom, left, right)
        a.update(padding=0, pad_top=padding[0], pad_bottom=padding[1], pad_left=padding[2], pad_right=padding[3])
    else:
        a["padding"] = padding
    if count_include_pad is not None:
        a["count_include_pad"] = count_include_pad
    if dilation is not None:
        a["dilation_h"], a["dilation_w"] = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    return a


def same_pads(size, kernel, stride):
    """TensorFlow "same": (top, bottom, left, right), the extra one at the bottom / right."""
    pads = []
    for n, k, s in zip(size, kernel, stride):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def padded_max(pads, kernel, stride):
    """Max pool over an input padded with -inf by (top, bottom, left, right)."""
    t, b, l, r = pads
    return lambda: Fn(lambda x: F.max_pool2d(F.pad(x, (l, r, t, b), value=float("-inf")), kernel, stride))


def padded_avg(pads, kernel, stride, count_include_pad):
    """Average pool over a zero-padded input; without count_include_pad, divide by real cells."""
    t, b, l, r = pads

    def fn(x):
        total = F.avg_pool2d(F.pad(x, (l, r, t, b)), kernel, stride)
        if count_include_pad:
            return total
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
        return total / F.avg_pool2d(F.pad(ones, (l, r, t, b)), kernel, stride)

    return lambda: Fn(fn)


CASES = [
    # ---- max pool ----
    Case("maxpool_2x2_s2", "maxpool2d", pool_attrs(2, 2), [(2, 3, 6, 8)], lambda: nn.MaxPool2d(2, 2), dist="distinct"),
    Case("maxpool_3x3_s2_ceil_112", "maxpool2d", pool_attrs(3, 2, ceil_mode=True), [(1, 1, 112, 112)],
         lambda: nn.MaxPool2d(3, 2, ceil_mode=True), dist="distinct"),
    Case("maxpool_3x3_s2_ceil_13x11", "maxpool2d", pool_attrs(3, 2, ceil_mode=True), [(2, 3, 13, 11)],
         lambda: nn.MaxPool2d(3, 2, ceil_mode=True), dist="distinct"),
    Case("maxpool_3x3_s2_ceil_14x10", "maxpool2d", pool_attrs(3, 2, ceil_mode=True), [(2, 2, 14, 10)],
         lambda: nn.MaxPool2d(3, 2, ceil_mode=True), dist="distinct"),
    # 5 + 2*1: ceil gives 4 windows, the last would start in the bottom pad: PyTorch drops it.
    Case("maxpool_2x2_s2_pad1_ceil_drop", "maxpool2d", pool_attrs(2, 2, padding=1, ceil_mode=True), [(2, 2, 5, 7)],
         lambda: nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), dist="distinct"),
    Case("maxpool_3x3_s1_pad1", "maxpool2d", pool_attrs(3, 1, padding=1), [(2, 4, 7, 7)],
         lambda: nn.MaxPool2d(3, 1, padding=1), dist="distinct"),
    Case("maxpool_3x3_s2_valid", "maxpool2d", pool_attrs(3, 2, padding="valid"), [(2, 3, 15, 15)],
         lambda: nn.MaxPool2d(3, 2), dist="distinct"),
    Case("maxpool_3x2_s2x3", "maxpool2d", pool_attrs((3, 2), (2, 3)), [(2, 2, 9, 11)],
         lambda: nn.MaxPool2d((3, 2), (2, 3)), dist="distinct"),
    Case("maxpool_3x3_s2_pad_asym", "maxpool2d", pool_attrs(3, 2, padding=(1, 0, 0, 1)), [(2, 2, 8, 9)],
         padded_max((1, 0, 0, 1), 3, 2), dist="distinct"),
    # Dilated windows (ONNX's MaxPool dilations): pads, ceil mode, a dilation wider than the stride.
    Case("maxpool_3x3_s2_pad1_dil2", "maxpool2d", pool_attrs(3, 2, padding=1, dilation=2), [(2, 3, 11, 12)],
         lambda: nn.MaxPool2d(3, 2, padding=1, dilation=2), dist="distinct"),
    Case("maxpool_2x3_s1x2_dil3x2_ceil", "maxpool2d", pool_attrs((2, 3), (1, 2), padding=1, ceil_mode=True, dilation=(3, 2)),
         [(2, 2, 8, 10)], lambda: nn.MaxPool2d((2, 3), (1, 2), padding=1, dilation=(3, 2), ceil_mode=True), dist="distinct"),
    Case("maxpool_3x3_s2_same", "maxpool2d", pool_attrs(3, 2, padding="same"), [(2, 3, 8, 7)],
         padded_max(same_pads((8, 7), (3, 3), (2, 2)), 3, 2), dist="distinct"),
    Case("maxpool_2x2_s2_same_odd", "maxpool2d", pool_attrs(2, 2, padding="same"), [(1, 2, 7, 5)],
         padded_max(same_pads((7, 5), (2, 2), (2, 2)), 2, 2), dist="distinct"),
    # ---- average pool ----
    Case("avgpool_2x2", "avgpool2d", pool_attrs(2), [(2, 3, 6, 8)], lambda: nn.AvgPool2d(2)),
    Case("avgpool_3x3_s1_pad1_incl", "avgpool2d", pool_attrs(3, 1, padding=1, count_include_pad=True), [(2, 3, 6, 5)],
         lambda: nn.AvgPool2d(3, 1, padding=1, count_include_pad=True)),
    Case("avgpool_3x3_s1_pad1_excl", "avgpool2d", pool_attrs(3, 1, padding=1, count_include_pad=False), [(2, 3, 6, 5)],
         lambda: nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)),
    # The last column window starts at 7 of 8 and is clipped to the padded extent 9: divisor 3x2.
    Case("avgpool_3x3_s2_pad1_ceil_incl", "avgpool2d", pool_attrs(3, 2, padding=1, ceil_mode=True, count_include_pad=True),
         [(2, 3, 6, 8)], lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=True)),
    Case("avgpool_3x3_s2_pad1_ceil_excl", "avgpool2d", pool_attrs(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
         [(2, 3, 6, 8)], lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)),
    Case("avgpool_2x2_s2_pad1_ceil_drop_incl", "avgpool2d",
         pool_attrs(2, 2, padding=1, ceil_mode=True, count_include_pad=True), [(2, 2, 5, 6)],
         lambda: nn.AvgPool2d(2, 2, padding=1, ceil_mode=True, count_include_pad=True)),
    Case("avgpool_2x2_s2_pad1_ceil_drop_excl", "avgpool2d",
         pool_attrs(2, 2, padding=1, ceil_mode=True, count_include_pad=False), [(2, 2, 5, 6)],
         lambda: nn.AvgPool2d(2, 2, padding=1, ceil_mode=True, count_include_pad=False)),
    Case("avgpool_5x5_s3_aux", "avgpool2d", pool_attrs(5, 3), [(2, 4, 14, 14)], lambda: nn.AvgPool2d(5, 3)),
    Case("avgpool_7x7_final", "avgpool2d", pool_attrs(7), [(2, 5, 7, 7)], lambda: nn.AvgPool2d(7)),
    Case("avgpool_3x3_s2_same", "avgpool2d", pool_attrs(3, 2, padding="same"), [(2, 3, 8, 7)],
         padded_avg(same_pads((8, 7), (3, 3), (2, 2)), 3, 2, count_include_pad=False)),
    Case("avgpool_3x3_s1_same", "avgpool2d", pool_attrs(3, 1, padding="same"), [(1, 2, 5, 6)],
         padded_avg(same_pads((5, 6), (3, 3), (1, 1)), 3, 1, count_include_pad=False)),
    Case("avgpool_3x3_s2_pad_asym_incl", "avgpool2d", pool_attrs(3, 2, padding=(0, 1, 1, 0), count_include_pad=True),
         [(2, 2, 8, 9)], padded_avg((0, 1, 1, 0), 3, 2, count_include_pad=True)),
    Case("avgpool_3x3_s2_pad_asym_excl", "avgpool2d", pool_attrs(3, 2, padding=(0, 1, 1, 0), count_include_pad=False),
         [(2, 2, 8, 9)], padded_avg((0, 1, 1, 0), 3, 2, count_include_pad=False)),
    # ---- global and adaptive average pool ----
    Case("global_avgpool_7x3", "global_avgpool", {}, [(2, 5, 7, 3)], lambda: nn.AdaptiveAvgPool2d(1)),
    Case("global_avgpool_1x1", "global_avgpool", {}, [(3, 4, 1, 1)], lambda: nn.AdaptiveAvgPool2d(1)),
    Case("adaptive_avgpool_1x1", "adaptive_avgpool", {"out_h": 1, "out_w": 1}, [(2, 3, 5, 6)],
         lambda: nn.AdaptiveAvgPool2d((1, 1))),
    Case("adaptive_avgpool_9x10_to_7x7", "adaptive_avgpool", {"out_h": 7, "out_w": 7}, [(2, 3, 9, 10)],
         lambda: nn.AdaptiveAvgPool2d((7, 7))),
    Case("adaptive_avgpool_14x13_to_4x3", "adaptive_avgpool", {"out_h": 4, "out_w": 3}, [(2, 2, 14, 13)],
         lambda: nn.AdaptiveAvgPool2d((4, 3))),
    Case("adaptive_avgpool_6x5_to_3x8", "adaptive_avgpool", {"out_h": 3, "out_w": 8}, [(2, 3, 6, 5)],
         lambda: nn.AdaptiveAvgPool2d((3, 8))),
    # Ceil mode lets the kernel overhang the (padded) input: PyTorch gives 1x1 from 2x2 with 3x3/2.
    Case("maxpool_ceil_kernel_over_input", "maxpool2d", {"kernel_h": 3, "kernel_w": 3, "stride_h": 2, "stride_w": 2,
                                                        "ceil_mode": True}, [(2, 3, 2, 2)],
         lambda: nn.MaxPool2d(3, 2, ceil_mode=True), dist="distinct"),
    Case("avgpool_ceil_kernel_over_input", "avgpool2d", {"kernel_h": 3, "kernel_w": 3, "stride_h": 2, "stride_w": 2,
                                                        "ceil_mode": True}, [(2, 3, 2, 3)],
         lambda: nn.AvgPool2d(3, 2, ceil_mode=True)),
]

# Eval mode has its own max-pool path (separable, no argmax): every max-pool case again in eval
# mode (forward only), and NaN inputs in both modes.
CASES += [Case(c.name + "_eval", c.op, c.attrs, c.inputs, c.module, train=False, dist=c.dist, fd=False)
          for c in list(CASES) if c.op == "maxpool2d"]
# Training's pools with windows inside the plane run separably (pool.c, maxpool_plane_argmax_sep): NaN and ties
# through it (2x2/2 here, 3x3/2 below); padded windows take the general loop: ties and NaN through it too.
CASES += [Case("maxpool_2x2_s2_" + dist + suffix, "maxpool2d", pool_attrs(2, 2), [(2, 3, 8, 10)], lambda: nn.MaxPool2d(2, 2),
               train=train, dist=dist, fd=False)
          for dist in ("nan", "ties") for suffix, train in (("", True), ("_eval", False))]
CASES += [Case("maxpool_3x3_s2_ties", "maxpool2d", pool_attrs(3, 2), [(2, 2, 9, 11)], lambda: nn.MaxPool2d(3, 2), dist="ties",
               fd=False)]
CASES += [Case("maxpool_3x3_s2_pad1_ties", "maxpool2d", pool_attrs(3, 2, padding=1), [(2, 2, 9, 11)],
               lambda: nn.MaxPool2d(3, 2, padding=1), dist="ties", fd=False)]
# Training's pools with every window inside the plane (no padding, 2 or 3 wide) run separably
# (pool.c, maxpool_plane_argmax_sep): NaN and ties on planes wide enough for its vector loops.
CASES += [Case("maxpool_3x3_s2_%s_wide" % dist, "maxpool2d", pool_attrs(3, 2), [(2, 3, 31, 34)], lambda: nn.MaxPool2d(3, 2),
               dist=dist, fd=False) for dist in ("nan", "ties")]
# 2x2/2 (LeNet's, VGG's) runs 16 outputs to a vector where AVX-512 is there (kernels/pool_avx512.c):
# rows of 34 outputs (two whole vectors and a part), an odd width (its last column read by no window);
# with every 7th element NaN a width of 69 puts NaNs at (r, c) and (r + 1, c + 1) of many windows.
CASES += [Case("maxpool_2x2_s2_%s_wide" % dist, "maxpool2d", pool_attrs(2, 2), [(2, 3, 10, 69)], lambda: nn.MaxPool2d(2, 2),
               dist=dist, fd=False) for dist in ("nan", "ties", "distinct")]
# Planes of width 2 ow with ow 1, 2, 4 or 8 (LeNet-5's pool2: 8 x 8) take 16 / ow whole output rows to
# a vector there: groups, the rows left after them (13 x 8, 10 x 16, 20 x 4, 34 x 2), odd heights (the
# last row read by no window; the gradient stores zeros there).
CASES += [Case("maxpool_2x2_s2_%s_narrow_%dx%d" % (dist, h, w), "maxpool2d", pool_attrs(2, 2), [(2, 2, h, w)],
               lambda: nn.MaxPool2d(2, 2), dist=dist, fd=False)
          for h, w in ((8, 8), (13, 8), (10, 16), (20, 4), (34, 2)) for dist in ("nan", "ties", "distinct")]
CASES += [Case("maxpool_2x2_s1_ties_wide", "maxpool2d", pool_attrs(2, 1), [(2, 2, 9, 21)], lambda: nn.MaxPool2d(2, 1),
               dist="ties", fd=False)]
CASES += [Case("maxpool_3x3_s2_ceil_nan" + suffix, "maxpool2d", pool_attrs(3, 2, ceil_mode=True), [(2, 2, 9, 10)],
               lambda: nn.MaxPool2d(3, 2, ceil_mode=True), train=train, dist="nan", fd=False)
          for suffix, train in (("", True), ("_eval", False))]
