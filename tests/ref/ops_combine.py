"""ops_combine.py — reference cases for concat, add, scale and zero_pad."""
import torch
from torch import nn

from common import Case, Fn


def cat():
    return Fn(lambda *xs: torch.cat(xs, dim=1))


CASES = [
    Case("concat_two", "concat", {}, [(2, 3, 4, 5), (2, 5, 4, 5)], cat),
    Case("concat_three", "concat", {}, [(3, 1, 3, 4), (3, 4, 3, 4), (3, 2, 3, 4)], cat),
    Case("concat_2d", "concat", {}, [(4, 6), (4, 3)], cat),
    Case("concat_one", "concat", {}, [(2, 3, 4, 4)], cat),
    Case("add_4d", "add", {}, [(2, 3, 4, 5), (2, 3, 4, 5)], lambda: Fn(lambda a, b: a + b)),
    Case("add_2d", "add", {}, [(5, 11), (5, 11)], lambda: Fn(lambda a, b: a + b)),
    Case("scale_017", "scale", {"factor": 0.17}, [(2, 3, 4, 5)], lambda: Fn(lambda x: x * 0.17)),
    Case("scale_minus2", "scale", {"factor": -2.0}, [(3, 10)], lambda: Fn(lambda x: x * -2.0)),
    Case("zero_pad_symmetric", "zero_pad", {"top": 2, "bottom": 2, "left": 2, "right": 2}, [(2, 3, 4, 5)],
         lambda: nn.ZeroPad2d(2)),
    # nn.ZeroPad2d takes (left, right, top, bottom)
    Case("zero_pad_asymmetric", "zero_pad", {"top": 0, "bottom": 1, "left": 3, "right": 0}, [(2, 2, 5, 3)],
         lambda: nn.ZeroPad2d((3, 0, 0, 1))),
]
