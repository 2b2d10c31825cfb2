"""ops_dense.py — reference cases for dense (nn.Linear) and flatten."""
from torch import nn

from common import Case

CASES = [
    Case("dense_bias", "dense", {"out_features": 7, "bias": True}, [(5, 12)], lambda: nn.Linear(12, 7)),
    Case("dense_nobias", "dense", {"out_features": 7, "bias": False}, [(5, 12)], lambda: nn.Linear(12, 7, bias=False)),
    Case("dense_batch1", "dense", {"out_features": 4, "bias": True}, [(1, 9)], lambda: nn.Linear(9, 4)),
    Case("dense_batch1_nobias", "dense", {"out_features": 3, "bias": False}, [(1, 20)],
         lambda: nn.Linear(20, 3, bias=False)),
    Case("dense_wide", "dense", {"out_features": 33, "bias": True}, [(5, 70)], lambda: nn.Linear(70, 33)),
    Case("dense_to_one", "dense", {"out_features": 1, "bias": True}, [(5, 6)], lambda: nn.Linear(6, 1)),
    # 16 samples or more: the forward transposed on the packed GEMM (dense.c), edge panels of samples
    # (40 = 32 + 8, 17) and of outputs (33 = 4 x 8 + 1, 50 = 6 x 8 + 2)
    Case("dense_batch40", "dense", {"out_features": 33, "bias": True}, [(40, 70)], lambda: nn.Linear(70, 33)),
    Case("dense_batch17_nobias", "dense", {"out_features": 50, "bias": False}, [(17, 45)], lambda: nn.Linear(45, 50, bias=False)),
    Case("dense_batch64", "dense", {"out_features": 50, "bias": True}, [(64, 200)], lambda: nn.Linear(200, 50)),
    Case("flatten_4d", "flatten", {}, [(2, 3, 4, 5)], lambda: nn.Flatten()),
    Case("flatten_2d", "flatten", {}, [(3, 8)], lambda: nn.Flatten()),
]
