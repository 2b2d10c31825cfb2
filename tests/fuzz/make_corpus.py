"""make_corpus.py LIBCNN.so — writes the seed corpora of the fuzz targets (tests/fuzz/corpus_onnx/,
tests/fuzz/corpus_safetensors/): a few small valid files, each under 50 KB, that reach the readers'
paths. Run with Debian's python3 (torch). The files are committed; this script says how they were made.

ONNX seeds: tiny networks exported by torch.onnx.export (opset 13), and tiny networks built through
libcnn's C API (ctypes) and written by its exporter, cnn_onnx_save, which use every operator it
maps (LRN, Mul for scale, Pad, ...). Safetensors seeds: every dtype, metadata, scalars, empty
tensors, and a graph's weights written by libcnn.
"""
import ctypes
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


class Convs(nn.Module):
    """Conv (padded, strided, dilated, grouped), BatchNorm left unfused, pools in ceil mode, softmax."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                                  nn.BatchNorm2d(4, eps=1e-3), nn.ReLU())
        self.a = nn.Conv2d(4, 4, 1, stride=2)
        self.b = nn.Conv2d(4, 4, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
        self.pool2 = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([torch.relu(self.a(x)), self.b(x)], 1)
        x = self.pool2(x) + x
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.softmax(nn.functional.dropout(self.fc(x), 0.2, self.training), 1)


class Activations(nn.Module):
    """Sigmoid, Tanh, LeakyRelu, a Linear without bias (MatMul)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 2, 1)
        self.fc = nn.Linear(2 * 4 * 4, 3, bias=False)

    def forward(self, x):
        x = torch.sigmoid(self.a(x))
        x = torch.tanh(nn.functional.leaky_relu(self.b(x), 0.2))
        return self.fc(torch.flatten(x, 1))


class Shapes(nn.Module):
    """Reshape, Mul by a constant, Pad, Clip, global max pool, BatchNorm over features."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        x = nn.functional.pad(self.conv(x) * 0.5, (1, 0, 0, 1))
        y = torch.clamp(x, -1.0, 1.0).reshape(x.shape[0], -1)[:, :8]
        return torch.cat([self.bn(y), torch.amax(x, (2, 3))], 1)


def export_onnx(model, shape, path):
    # BatchNorm statistics away from 1/0: equal initializers would be exported as Identity nodes.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                for t in (m.weight, m.bias, m.running_mean, m.running_var):
                    t.copy_(torch.rand(t.shape) + 0.5)
    model.eval()
    torch.onnx.export(model, torch.randn(shape), path, opset_version=13, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})


DTYPES = {np.float32: "F32", np.float64: "F64", np.float16: "F16", np.int64: "I64", np.int32: "I32", np.int16: "I16",
          np.int8: "I8", np.uint8: "U8", np.bool_: "BOOL"}


def save_safetensors(path, tensors, metadata=None, extra=None):
    """The Hugging Face layout: u64 header length, JSON header, raw little-endian data. `extra`
    adds header entries by hand (a BF16 tensor, which NumPy lacks)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr).astype(np.dtype(arr.dtype).newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype.type], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    for name, (dtype, shape, data) in (extra or {}).items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def cnn_graphs(lib_path, onnx_dir, st_dir):
    """Two tiny graphs through the C API, saved by cnn_onnx_save (and the first's weights)."""
    lib = ctypes.CDLL(lib_path)
    P, S, I, F, L, B = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_float, ctypes.c_int64, ctypes.c_bool
    sig = {"cnn_graph_create": [], "cnn_input": [P, S, L, L, L], "cnn_conv2d": [P, P, S, L, I, I, I, I, B],
           "cnn_batchnorm": [P, P, S, F, F], "cnn_relu": [P, P, S], "cnn_sigmoid": [P, P, S], "cnn_tanh": [P, P, S],
           "cnn_softmax": [P, P, S], "cnn_leaky_relu": [P, P, S, F], "cnn_maxpool2d": [P, P, S, I, I, I, B],
           "cnn_avgpool2d": [P, P, S, I, I, I, B, B], "cnn_lrn": [P, P, S, I, F, F, F], "cnn_concat": [P, I, P, S],
           "cnn_scale": [P, P, S, F], "cnn_zero_pad": [P, P, S, I, I, I, I], "cnn_global_avgpool": [P, P, S],
           "cnn_adaptive_avgpool": [P, P, S, L, L], "cnn_flatten": [P, P, S], "cnn_dropout": [P, P, S, F],
           "cnn_dense": [P, P, S, L, B], "cnn_add": [P, P, P, S]}
    for name, args in sig.items():
        getattr(lib, name).argtypes, getattr(lib, name).restype = args, P
    lib.cnn_last_error.restype = S
    c = lambda name, *args: getattr(lib, name)(*[a.encode() if isinstance(a, str) else a for a in args])

    g = c("cnn_graph_create")
    x = c("cnn_input", g, "x", 3, 9, 9)
    x = c("cnn_relu", g, c("cnn_batchnorm", g, c("cnn_conv2d", g, x, "conv", 4, 3, 3, 1, 1, True), "bn", 1e-3, 0.1), "relu")
    x = c("cnn_lrn", g, c("cnn_maxpool2d", g, x, "pool", 3, 2, 1, True), "lrn", 3, 1e-4, 0.75, 2.0)
    branches = (P * 2)(c("cnn_conv2d", g, x, "a", 2, 1, 1, 1, 0, False), c("cnn_avgpool2d", g, x, "b", 3, 1, 1, False, True))
    x = c("cnn_scale", g, c("cnn_concat", g, 2, branches, "cat"), "scale", 0.5)
    x = c("cnn_leaky_relu", g, c("cnn_zero_pad", g, x, "pad", 1, 0, 0, 1), "leaky", 0.1)
    x = c("cnn_flatten", g, c("cnn_global_avgpool", g, x, "gap"), "flat")
    x = c("cnn_softmax", g, c("cnn_dense", g, c("cnn_dropout", g, x, "drop", 0.5), "fc", 5, True), "prob")
    g2 = c("cnn_graph_create")
    y = c("cnn_sigmoid", g2, c("cnn_conv2d", g2, c("cnn_input", g2, "x", 2, 6, 6), "conv", 3, 3, 3, 2, 1, True), "sig")
    y = c("cnn_add", g2, c("cnn_tanh", g2, c("cnn_adaptive_avgpool", g2, y, "pool", 1, 3), "tanh"), c("cnn_adaptive_avgpool", g2, y, "pool2", 1, 3), "add")
    y = c("cnn_dense", g2, c("cnn_flatten", g2, y, "flat"), "fc", 2, False)
    for graph, out, name in [(g, x, "cnn_tiny"), (g2, y, "cnn_small_ops")]:
        if not out or lib.cnn_graph_add_output(P(graph), P(out), 0) or lib.cnn_graph_init_params(P(graph), ctypes.c_uint64(1)) or \
                lib.cnn_onnx_save(P(graph), os.path.join(onnx_dir, name + ".onnx").encode()):
            sys.exit(f"{name}: {lib.cnn_last_error().decode()}")
    if lib.cnn_graph_save_weights(P(g), os.path.join(st_dir, "cnn_tiny.safetensors").encode()):
        sys.exit(lib.cnn_last_error().decode())


def main():
    onnx_dir, st_dir = os.path.join(here, "corpus_onnx"), os.path.join(here, "corpus_safetensors")
    os.makedirs(onnx_dir, exist_ok=True)
    os.makedirs(st_dir, exist_ok=True)
    for name, model, shape in [("convs", Convs(), (1, 3, 9, 9)), ("activations", Activations(), (1, 2, 4, 4)),
                               ("shapes", Shapes(), (1, 1, 5, 5))]:
        export_onnx(model, shape, os.path.join(onnx_dir, f"torch_{name}.onnx"))
    cnn_graphs(sys.argv[1], onnx_dir, st_dir)

    r = np.random.RandomState(0)
    save_safetensors(os.path.join(st_dir, "weights.safetensors"),
                     {"conv.weight": r.randn(4, 3, 3, 3).astype(np.float32), "conv.bias": r.randn(4).astype(np.float32),
                      "bn.num_batches_tracked": np.array(3, dtype=np.int64)},
                     {"format": "pt", "classes": "a,b,c"})
    save_safetensors(os.path.join(st_dir, "dtypes.safetensors"),
                     {f"t_{DTYPES[t].lower()}": (r.randn(2, 3) * 10).astype(t) for t in DTYPES},
                     extra={"t_bf16": ("BF16", [3], np.array([0x3f80, 0xc000, 0x7fc0], dtype="<u2").tobytes())})
    save_safetensors(os.path.join(st_dir, "scalars_empty.safetensors"),
                     {"scalar": np.array(1.5, dtype=np.float32), "empty": np.zeros((0, 4), np.float32),
                      "rank8": np.ones((1, 2, 1, 1, 1, 1, 1, 2), np.float32)})
    for d in (onnx_dir, st_dir):
        for f in sorted(os.listdir(d)):
            size = os.path.getsize(os.path.join(d, f))
            assert size < 50000, f"{f}: {size} bytes"
            print(f"{d}/{f}: {size} bytes")


if __name__ == "__main__":
    main()
