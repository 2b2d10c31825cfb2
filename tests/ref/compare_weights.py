"""compare_weights.py OURS.safetensors REF.safetensors INIT.safetensors TOL — exit 0 when our weights
after training are within TOL of PyTorch's: the L2 norm of the difference over all float tensors,
divided by the L2 norm of how far PyTorch moved them from INIT (see gen_cli.py for why L2)."""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import load_safetensors  # noqa: E402

ours, _ = load_safetensors(sys.argv[1])
ref, _ = load_safetensors(sys.argv[2])
init, _ = load_safetensors(sys.argv[3])
tol = float(sys.argv[4])
diff2 = moved2 = 0.0
for k, v in ref.items():
    if v.dtype != np.float32:
        continue
    if k not in ours or ours[k].shape != v.shape:
        sys.exit(f"compare_weights: {k} missing or misshapen in {sys.argv[1]}")
    diff2 += float(np.sum((ours[k].astype(np.float64) - v) ** 2))
    moved2 += float(np.sum((v.astype(np.float64) - init[k]) ** 2))
ratio = (diff2 / moved2) ** 0.5
print(f"difference / movement = {ratio:.3g} (tolerance {tol:.3g})")
sys.exit(0 if ratio <= tol else 1)
