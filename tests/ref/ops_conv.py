"""ops_conv.py — reference cases for conv2d: kernel shapes, strides, padding modes, dilation, groups, bias."""
import torch
import torch.nn.functional as F
from torch import nn

from common import Case


class PaddedConv(nn.Module):
    """A convolution after explicit zero padding (top, bottom, left, right), for the asymmetric
    pads that nn.Conv2d cannot express; its parameters are named like nn.Conv2d's."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, groups=1, bias=True, pads=(0, 0, 0, 0)):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, *kernel))
        self.bias = nn.Parameter(torch.empty(cout)) if bias else None
        self.stride, self.dilation, self.groups, self.pads = stride, dilation, groups, pads

    def forward(self, x):
        top, bottom, left, right = self.pads
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)


def same_pads(size, kernel, stride, dilation):
    """TensorFlow/Keras "same": output ceil(size / stride), the odd pixel of padding at the end."""
    pads = []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        out = (n + s - 1) // s
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def conv_case(name, shape, out_channels, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True):
    """A case run by nn.Conv2d with symmetric padding (ph, pw)."""
    attrs = {"out_channels": out_channels, "kernel_h": kernel[0], "kernel_w": kernel[1], "stride_h": stride[0],
             "stride_w": stride[1], "dilation_h": dilation[0], "dilation_w": dilation[1], "groups": groups,
             "padding": 0, "pad_top": padding[0], "pad_bottom": padding[0], "pad_left": padding[1],
             "pad_right": padding[1], "bias": bias}
    cin = shape[1]
    return Case(name, "conv2d", attrs, [shape],
                lambda: nn.Conv2d(cin, out_channels, kernel, stride, padding, dilation, groups, bias), dist="normal")


def padded_case(name, shape, out_channels, kernel, stride=(1, 1), mode=None, pads=(0, 0, 0, 0), dilation=(1, 1),
                groups=1, bias=True):
    """A case with mode "same" / "valid" (pads computed here, independently of the C code) or
    explicit asymmetric pads (top, bottom, left, right)."""
    attrs = {"out_channels": out_channels, "kernel_h": kernel[0], "kernel_w": kernel[1], "stride_h": stride[0],
             "stride_w": stride[1], "dilation_h": dilation[0], "dilation_w": dilation[1], "groups": groups,
             "bias": bias}
    if mode == "same":
        attrs["padding"] = "same"
        pads = same_pads(shape[2:], kernel, stride, dilation)
    elif mode == "valid":
        attrs["padding"] = "valid"
        pads = (0, 0, 0, 0)
    else:
        attrs.update({"padding": 0, "pad_top": pads[0], "pad_bottom": pads[1], "pad_left": pads[2],
                      "pad_right": pads[3]})
    cin = shape[1]
    return Case(name, "conv2d", attrs, [shape],
                lambda: PaddedConv(cin, out_channels, kernel, stride, dilation, groups, bias, pads), dist="normal")


CASES = [
    conv_case("conv_1x1", (2, 4, 5, 5), 6, (1, 1)),
    conv_case("conv_1x1_stride2", (2, 4, 7, 7), 5, (1, 1), stride=(2, 2)),
    conv_case("conv_1x1_pad1", (2, 3, 4, 5), 4, (1, 1), padding=(1, 1)),
    conv_case("conv_1x1_dilation2", (2, 3, 4, 5), 4, (1, 1), dilation=(2, 2)),
    conv_case("conv_1x1_groups2", (2, 4, 5, 3), 6, (1, 1), groups=2),
    conv_case("conv_3x3_pad1", (2, 3, 6, 6), 4, (3, 3), padding=(1, 1)),
    conv_case("conv_5x5_pad2", (2, 3, 7, 7), 4, (5, 5), padding=(2, 2)),
    conv_case("conv_7x7_stride2_pad3", (1, 3, 13, 13), 4, (7, 7), stride=(2, 2), padding=(3, 3)),
    conv_case("conv_11x11_stride4_pad2", (1, 3, 27, 27), 4, (11, 11), stride=(4, 4), padding=(2, 2)),
    conv_case("conv_1x7_pad0_3", (2, 4, 6, 9), 3, (1, 7), padding=(0, 3)),
    conv_case("conv_7x1_pad3_0", (2, 4, 9, 6), 3, (7, 1), padding=(3, 0)),
    conv_case("conv_1x3", (2, 3, 5, 6), 4, (1, 3)),
    conv_case("conv_3x1_stride2x1", (2, 3, 7, 5), 4, (3, 1), stride=(2, 1)),
    conv_case("conv_stride2_odd", (2, 3, 11, 9), 4, (3, 3), stride=(2, 2), padding=(1, 1)),
    conv_case("conv_stride3_gaps", (1, 2, 8, 8), 3, (2, 2), stride=(3, 3)),
    conv_case("conv_dilation2", (2, 3, 9, 9), 4, (3, 3), padding=(2, 2), dilation=(2, 2)),
    conv_case("conv_dilation2x3_stride2", (1, 3, 10, 11), 4, (3, 2), stride=(2, 2), padding=(1, 2), dilation=(2, 3)),
    conv_case("conv_groups2", (2, 4, 6, 6), 6, (3, 3), padding=(1, 1), groups=2),
    conv_case("conv_depthwise", (2, 4, 6, 6), 4, (3, 3), padding=(1, 1), groups=4),
    conv_case("conv_depthwise_x2_stride2", (2, 3, 7, 7), 6, (3, 3), stride=(2, 2), padding=(1, 1), groups=3),
    conv_case("conv_nobias", (2, 3, 6, 5), 4, (3, 3), padding=(1, 1), bias=False),
    conv_case("conv_pad_exceeds_half", (1, 2, 3, 3), 2, (2, 2), padding=(2, 2)),
    conv_case("conv_batch3", (3, 3, 5, 5), 2, (3, 3), padding=(1, 1)),
    padded_case("conv_same_stride1_k4", (2, 3, 7, 6), 4, (4, 4), mode="same"),
    padded_case("conv_same_stride2", (2, 3, 8, 10), 4, (3, 3), stride=(2, 2), mode="same"),
    padded_case("conv_same_stride2_dilation2", (1, 3, 8, 9), 4, (3, 3), stride=(2, 2), mode="same", dilation=(2, 2)),
    padded_case("conv_same_1x7", (2, 3, 5, 8), 4, (1, 7), mode="same"),
    padded_case("conv_valid_stride2", (2, 3, 7, 8), 4, (3, 3), stride=(2, 2), mode="valid"),
    padded_case("conv_asym_pads", (2, 3, 5, 6), 4, (3, 3), pads=(0, 2, 1, 3)),
    padded_case("conv_asym_pads_groups_nobias", (2, 4, 5, 5), 4, (2, 3), stride=(2, 1), pads=(1, 0, 0, 2), groups=2,
                bias=False),
    # Batches of 4 and more take the sample-parallel path with chunked weight gradients.
    conv_case("conv_batch5_3x3", (5, 3, 6, 7), 4, (3, 3), padding=(1, 1)),
    conv_case("conv_batch9_1x1_stride2", (9, 4, 5, 6), 3, (1, 1), stride=(2, 2)),
    conv_case("conv_batch4_1x1", (4, 6, 3, 5), 5, (1, 1)),
    conv_case("conv_batch11_groups2", (11, 4, 5, 5), 6, (3, 3), padding=(1, 1), groups=2),
    # Batches in chunks of several samples with small output planes (32 to 256 positions): the
    # backward takes samples side by side (conv.c, backward_group_max): dW over the group below 128
    # positions, dx stored to each sample from tiles that span two of them.
    conv_case("conv_stacked_1x1_6x6", (40, 5, 6, 6), 7, (1, 1)),
    conv_case("conv_stacked_3x3s2_13x13", (24, 3, 27, 27), 5, (3, 3), stride=(2, 2)),
    conv_case("conv_stacked_3x3_7x7_nobias", (12, 4, 7, 7), 6, (3, 3), padding=(1, 1), bias=False),
    padded_case("conv_stacked_1x1_pad1_5x7", (33, 3, 3, 5), 4, (1, 1), pads=(1, 1, 1, 1)),
    # Planes of 576+ pixels with stride 1: the input gradient as a convolution of dy with the
    # flipped kernel (conv.c, dx_as_conv), incl. dilation, groups, asymmetric and oversized pads.
    conv_case("conv_large_3x3_pad1", (2, 2, 24, 25), 3, (3, 3), padding=(1, 1)),
    conv_case("conv_large_batch5_3x3", (5, 2, 24, 24), 3, (3, 3), padding=(1, 1)),
    conv_case("conv_large_dilated_groups2", (2, 4, 25, 24), 4, (3, 3), padding=(2, 2), dilation=(2, 2), groups=2),
    conv_case("conv_large_pad_exceeds_half", (1, 2, 24, 24), 2, (2, 2), padding=(2, 2)),
    padded_case("conv_large_asym_pads", (1, 2, 24, 26), 3, (3, 2), pads=(0, 2, 1, 0)),
]
