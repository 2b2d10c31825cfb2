"""ops_loss.py — reference cases for softmax cross-entropy with label smoothing (not a graph op:
tests/test_ops.c runs these through run_cross_entropy)."""
import json

import numpy as np
import torch

from common import Case, save_safetensors


class CrossEntropyCase(Case):
    """Logits x0 (N,K) = randn * logit_scale, labels (N,) stored as float, y = the scalar loss of
    torch.nn.CrossEntropyLoss(label_smoothing=eps) (computed in float64), dy = a scalar upstream
    gradient (the C side passes it as `scale`), dx0 = dy * dloss/dlogits."""

    def __init__(self, name, n, k, eps, logit_scale=1.0, tol=1e-5, fd_eps=1e-2):
        super().__init__(name, "cross_entropy", {"label_smoothing": eps}, [(n, k)], None, tol=tol, fd_eps=fd_eps)
        self.n, self.k, self.eps, self.logit_scale = n, k, eps, logit_scale

    def generate(self, path, seed):
        gen = torch.Generator().manual_seed(seed)
        x = (torch.randn(self.n, self.k, generator=gen) * self.logit_scale).float()
        labels = torch.randint(0, self.k, (self.n,), generator=gen)
        dy = torch.randn((), generator=gen)
        x64 = x.double().requires_grad_(True)
        loss = torch.nn.CrossEntropyLoss(label_smoothing=self.eps)(x64, labels)
        loss.backward(dy.double())
        t = {"x0": x.numpy(), "labels": labels.numpy().astype(np.float32), "y": loss.detach().numpy(),
             "dy": dy.numpy(), "dx0": x64.grad.numpy()}
        meta = {"op": self.op, "attrs": json.dumps(self.attrs), "train": int(self.train),
                "fd": int(self.fd), "tol": self.tol, "fd_eps": self.fd_eps,
                "compare": int(self.compare)}
        save_safetensors(path, {k: np.asarray(v, dtype=np.float32) for k, v in t.items()}, meta)


CASES = [
    CrossEntropyCase("cross_entropy_plain", 7, 10, 0.0),
    CrossEntropyCase("cross_entropy_smooth01", 7, 10, 0.1),
    CrossEntropyCase("cross_entropy_smooth03", 7, 10, 0.3),
    CrossEntropyCase("cross_entropy_batch1", 1, 10, 0.1),
    CrossEntropyCase("cross_entropy_k1000", 7, 1000, 0.1),
    CrossEntropyCase("cross_entropy_k1000_batch1", 1, 1000, 0.0),
    CrossEntropyCase("cross_entropy_large_logits", 7, 10, 0.0, logit_scale=50.0),
    CrossEntropyCase("cross_entropy_large_logits_smooth", 7, 1000, 0.3, logit_scale=50.0),
    CrossEntropyCase("cross_entropy_k1", 3, 1, 0.1),
]
