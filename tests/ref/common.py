"""common.py — writes PyTorch reference fixtures as .safetensors files for the C tests.

A fixture holds the op's inputs (x0, x1, ...), its parameters under their PyTorch names, the
output y, an upstream gradient dy, and the gradients PyTorch computes: dx0, ..., grad.<param>.
For train-mode BatchNorm the buffers after the step are saved as after.<buffer>. The
__metadata__ says which op and attributes the C side must build (see tests/test_ops.c).
"""
import json
import struct

import numpy as np
import torch

DTYPES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("int32"): "I32"}


def save_safetensors(path, tensors, metadata=None):
    """The Hugging Face safetensors layout: u64 header length, JSON header, raw data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """The reverse of save_safetensors: {name: numpy array}, and the metadata."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    types = {v: k for k, v in DTYPES.items()}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype=types[e["dtype"]].newbyteorder("<")).reshape(e["shape"])
    return out, meta


class Fn(torch.nn.Module):
    """A parameter-free op as a module, so every case runs the same way."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def make_input(shape, dist, gen):
    """Inputs. 'distinct': values at least 0.05 apart (max-pool gradient checks never cross a tie);
    'away': |x| >= 0.1 (ReLU-like kinks are never crossed by the finite differences); 'nan': normal
    with every 7th element NaN; 'ties': five values only (max pooling's windows hold equal maxima:
    the first in row-major order wins, as in PyTorch)."""
    n = int(np.prod(shape))
    if dist == "distinct":
        vals = (torch.arange(n, dtype=torch.float32) - (n - 1) / 2.0) * 0.05
        return vals[torch.randperm(n, generator=gen)].reshape(shape)
    if dist == "ties":
        return torch.randint(-2, 3, shape, generator=gen).to(torch.float32) * 0.5
    x = torch.randn(shape, generator=gen)
    if dist == "away":
        x = torch.where(x >= 0, x + 0.1, x - 0.1)
    if dist == "positive":
        x = x.abs() + 0.1
    if dist == "nan":  # every 7th element NaN: NaN propagation (max pooling keeps it, as PyTorch)
        x.view(-1)[::7] = float("nan")
    return x


class Case:
    def __init__(self, name, op, attrs, inputs, module, train=True, dist="normal", fd=True,
                 tol=1e-4, fd_eps=1e-2, randomize_params=True, compare=True):
        # compare=False: the output is random in PyTorch too (train-mode dropout); only the
        # finite-difference check and the C-side tests judge it.
        self.name, self.op, self.attrs, self.inputs = name, op, attrs, inputs
        self.module, self.train, self.dist, self.fd = module, train, dist, fd
        self.tol, self.fd_eps, self.randomize_params = tol, fd_eps, randomize_params
        self.compare = compare

    def generate(self, path, seed):
        gen = torch.Generator().manual_seed(seed)
        m = self.module()
        with torch.no_grad():
            for name, p in m.named_parameters():
                if self.randomize_params:
                    p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if p.dim() > 1 else 1.0))
            for name, b in m.named_buffers():
                if name.endswith("running_var"):
                    b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
                elif name.endswith("running_mean"):
                    b.copy_(torch.randn(b.shape, generator=gen) * 0.5)
        before = {k: v.detach().clone() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
        m.train(self.train)
        xs = [make_input(s, self.dist, gen).requires_grad_(True) for s in self.inputs]
        y = m(*xs)
        dy = torch.randn(y.shape, generator=gen)
        y.backward(dy)
        t = {}
        for i, x in enumerate(xs):
            t[f"x{i}"] = x.detach().numpy()
            t[f"dx{i}"] = x.grad.numpy()
        for k, v in before.items():
            t[k] = v.numpy()
        for k, p in m.named_parameters():
            t[f"grad.{k}"] = p.grad.numpy()
        if self.train:
            for k, b in m.named_buffers():
                if not k.endswith("num_batches_tracked"):
                    t[f"after.{k}"] = b.detach().numpy()
        t["y"] = y.detach().numpy()
        t["dy"] = dy.numpy()
        meta = {"op": self.op, "attrs": json.dumps(self.attrs), "train": int(self.train),
                "fd": int(self.fd), "tol": self.tol, "fd_eps": self.fd_eps,
                "compare": int(self.compare)}
        save_safetensors(path, {k: np.asarray(v, dtype=np.float32) for k, v in t.items()}, meta)
