"""gen_onnx.py OUTDIR — ONNX files exported by torch.onnx.export (opset 13, eval mode) and PyTorch's
outputs on them, for `cnn run MODEL.onnx` (tests/test_cli.sh):

  small.onnx      Conv (dilated, grouped), BatchNormalization (2-D and 1-D, left unfused), Relu,
                  MaxPool and AveragePool (ceil mode, pads, count_include_pad off), Concat, Add,
                  Flatten, Gemm, Dropout
  googlenet.onnx  torchvision's googlenet (no auxiliary heads) at 3x64x64
  unsupported.onnx  a model with a Sin node (an operator the importer refuses)
  resnet50.onnx   torchvision's resnet50 at 3x64x64
  ops.onnx        (opset 10) Pad (reflect, edge), Clip (ReLU6), Mul by a constant, GlobalMaxPool,
                  Reshape, MatMul by a constant, Concat on axis 2, Softmax on the last axis
  two.onnx        two inputs and two outputs (Mul, Add, Concat, Clip): two.A.npy, two.B.npy ->
                  two.Y.npy, two.Z.npy
  lrn_even.onnx   LRN of size 4 (ONNX's window, 1 channel before and 2 after), made with onnx.helper;
                  its output from a NumPy transcription of ONNX's definition
  reshape_dynamic.onnx, pad_wrap.onnx, bad_broadcast.onnx  nodes the importer refuses (onnx.helper)
  pad13.onnx      (opset 13) F.pad in its three modes (the pads computed by a Shape / ConstantOfShape /
                  Concat / Reshape / Slice / Transpose / Cast subgraph the importer folds), a dilated
                  MaxPool, x.view(x.size(0), ...) (Shape / Gather / Unsqueeze / Concat), Conv1d,
                  BatchNorm1d and MaxPool1d on (N, C, L)
  pad_batch.onnx  (opset 13) a pad computed from the batch size, which the importer refuses
  whole.onnx      static shapes (2 x 3 x 4) and ops across dim 0: Concat on axis 0, a Reshape that
                  changes dim 0, Gemm, Softmax over dim 0 (imported unbatched: whole tensors)
  fold_ops.onnx   (onnx.helper) Pad's pads from Shape / Slice (negative step) / Div / Sub / Neg /
                  Gather / Unsqueeze / Transpose / Squeeze / Concat; its output from np.pad

NAME.X.npy is the input and NAME.Y.npy PyTorch's output. The exports need only torch (its own
serializer writes the protobuf); the hand-made files use Debian's python3-onnx.
"""
import os
import sys

import numpy as np
import torch
import torchvision
from torch import nn

torch.set_num_threads(1)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3)  # after a pool: the exporter cannot fold it into a conv
        self.a = nn.Conv2d(8, 8, 1)
        self.b = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2, bias=False)
        self.c = nn.Conv2d(16, 16, (1, 3), stride=1, padding=(0, 1))
        self.pool2 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.fc1 = nn.Linear(16 * 6 * 6, 32)
        self.bn2 = nn.BatchNorm1d(32)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.pool1(self.conv1(x))))
        x = torch.cat([torch.relu(self.a(x)), self.b(x)], 1)
        x = torch.relu(self.c(x) + x)
        x = torch.flatten(self.pool2(x), 1)
        return self.fc2(self.drop(torch.relu(self.bn2(self.fc1(x)))))


class Activations(nn.Module):
    """Sigmoid, Tanh and LeakyRelu between convolutions."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 6, 3, padding=1)
        self.c = nn.Conv2d(6, 4, 1)

    def forward(self, x):
        x = torch.sigmoid(self.a(x))
        x = nn.functional.leaky_relu(self.b(x), 0.2)
        return torch.flatten(torch.tanh(self.c(x)), 1)


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.flatten(torch.sin(self.conv(x)), 1)


class Ops(nn.Module):
    """The tensor ops ONNX import maps onto cnn's shape and element-wise layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale = nn.Parameter(torch.randn(1, 4, 1, 1))
        self.proj = nn.Parameter(torch.randn(9, 5))

    def forward(self, x):                                            # N x 3 x 8 x 8
        x = nn.functional.pad(x, (1, 1, 2, 2), mode="reflect")      # N x 3 x 12 x 10
        x = torch.clamp(self.conv(x), 0.0, 6.0) * self.scale        # N x 4 x 10 x 8
        x = nn.functional.pad(x, (1, 0, 0, 2), mode="replicate")    # N x 4 x 12 x 9
        g = nn.functional.adaptive_max_pool2d(x, 1)                 # N x 4 x 1 x 1
        r = x.reshape(-1, 48, 9)                                    # N x 48 x 9
        m = torch.softmax(torch.matmul(r, self.proj), dim=2)        # N x 48 x 5
        c = torch.cat([m, m * 2], 2)                                # N x 48 x 10
        return torch.cat([torch.flatten(c, 1), torch.flatten(g, 1)], 1)


class Pad13(nn.Module):
    """What opset 13 exports compute in subgraphs: F.pad's pads, and view's sizes from x.size(0)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.conv1d = nn.Conv1d(4, 5, 3, padding=1)
        self.bn1d = nn.BatchNorm1d(5)
        self.pool1d = nn.MaxPool1d(3, 2, padding=1)

    def forward(self, x):                                              # N x 3 x 8 x 8
        x = nn.functional.pad(x, (1, 2, 0, 3), value=0.5)              # N x 3 x 11 x 11
        x = nn.functional.pad(self.conv(x), (2, 1, 1, 1), mode="reflect")  # N x 4 x 11 x 12
        x = nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")      # N x 4 x 13 x 14
        x = nn.functional.max_pool2d(x, 3, 1, padding=1, dilation=2)  # N x 4 x 11 x 12
        s = x.view(x.size(0), 4, -1)                                  # N x 4 x 132
        s = self.pool1d(torch.relu(self.bn1d(self.conv1d(s))))        # N x 5 x 66
        return s.view(s.size(0), -1)


class PadBatch(nn.Module):
    def forward(self, x):
        return nn.functional.pad(x, (0, x.size(0)))


class Whole(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):                   # 2 x 3 x 4
        z = torch.cat([x, 2 * x], 0)        # 4 x 3 x 4
        z = z.reshape(6, 8)
        return torch.softmax(self.fc(z), 0)  # 6 x 5, over dim 0


class Two(nn.Module):
    def forward(self, a, b):
        return a * b + a, torch.clamp(torch.cat([a, b], 1), -1.0, 1.0)


def onnx_lrn_even(x, size, alpha, beta, bias):
    """ONNX's LRN: square_sum over c' in [c - floor((size-1)/2), c + ceil((size-1)/2)]."""
    c = x.shape[1]
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.zeros_like(x, dtype=np.float64)
    for ch in range(c):
        sq[:, ch] = (x[:, max(0, ch - lo):min(c, ch + hi + 1)].astype(np.float64) ** 2).sum(1)
    return (x / (bias + alpha / size * sq) ** beta).astype(np.float32)


def hand_made(out, gen):
    """Small models made with onnx.helper: an even LRN with its reference, and three the importer refuses."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def save(name, nodes, inputs, outputs, inits=()):
        g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 7
        onnx.save(m, os.path.join(out, name + ".onnx"))

    def vi(name, *dims):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *dims])

    x = torch.randn(2, 6, 3, 4, generator=gen).numpy()
    save("lrn_even", [helper.make_node("LRN", ["x"], ["y"], name="lrn4", size=4, alpha=0.02, beta=0.75, bias=1.5)],
         [vi("x", 6, 3, 4)], [vi("y", 6, 3, 4)])
    np.save(os.path.join(out, "lrn_even.X.npy"), x)
    np.save(os.path.join(out, "lrn_even.Y.npy"), onnx_lrn_even(x, 4, 0.02, 0.75, 1.5))
    # (the shape is a computed value: typed float here, which the importer refuses before looking)
    save("reshape_dynamic", [helper.make_node("Relu", ["x"], ["s"], name="relu"),
                             helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape_by_value")],
         [vi("x", 6, 3, 4)], [vi("y", 72)])
    save("pad_wrap", [helper.make_node("Pad", ["x", "p"], ["y"], name="pad_wrap", mode="wrap")],
         [vi("x", 6, 3, 4)], [vi("y", 6, 5, 6)],
         [numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "p")])
    # Pad's pads by integer arithmetic on Shape(x) = [N, 6, 3, 4]: dims 3..1 reversed [4, 3, 6], halved
    # [2, 1, 3], h - (1 - h) = [3, 1, 5]; p[2], p[0] = [5, 3] as the leading pads of H and W.
    ints = {"st": [-1], "en": [0], "ax": [0], "sp": [-1], "two": [2], "one": 1, "gi": [2, 0], "ua": [0], "sa": [1],
            "z2": [0, 0], "z4": [0, 0, 0, 0]}
    save("fold_ops", [helper.make_node("Shape", ["x"], ["s"]),
                      helper.make_node("Slice", ["s", "st", "en", "ax", "sp"], ["r"]),
                      helper.make_node("Div", ["r", "two"], ["h"]),
                      helper.make_node("Sub", ["h", "one"], ["h1"]),
                      helper.make_node("Neg", ["h1"], ["nh"]),
                      helper.make_node("Sub", ["h", "nh"], ["p"]),
                      helper.make_node("Gather", ["p", "gi"], ["g"], axis=0),
                      helper.make_node("Unsqueeze", ["g", "ua"], ["gu"]),
                      helper.make_node("Transpose", ["gu"], ["gt"], perm=[1, 0]),
                      helper.make_node("Squeeze", ["gt", "sa"], ["gs"]),
                      helper.make_node("Concat", ["z2", "gs", "z4"], ["pads"], axis=0),
                      helper.make_node("Pad", ["x", "pads"], ["y"], name="pad_folded", mode="constant")],
         [vi("x", 6, 3, 4)], [vi("y", 6, 8, 7)], [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in ints.items()])
    np.save(os.path.join(out, "fold_ops.X.npy"), x)
    np.save(os.path.join(out, "fold_ops.Y.npy"), np.pad(x, ((0, 0), (0, 0), (5, 0), (3, 0))))
    save("bad_broadcast", [helper.make_node("Add", ["x", "z"], ["y"], name="add_mismatch")],
         [vi("x", 6, 3, 4), vi("z", 4, 1, 1)], [vi("y", 6, 3, 4)])


def randomize_bn(model, gen):
    """Running statistics and affine parameters away from their defaults, so they matter."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=gen))


def export(out, name, model, x, opset=13, dynamic=True):
    model.eval()
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, (x,), os.path.join(out, name + ".onnx"), opset_version=opset,
                      training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}} if dynamic else None)
    np.save(os.path.join(out, name + ".X.npy"), x.numpy())
    np.save(os.path.join(out, name + ".Y.npy"), y.numpy())
    print(f"gen_onnx: {name}.onnx, output {tuple(y.shape)}")


def export_two(out, gen):
    """Two inputs, two outputs."""
    a, b = torch.randn(3, 2, 4, 5, generator=gen), torch.randn(3, 2, 4, 5, generator=gen)
    m = Two().eval()
    y, z = m(a, b)
    torch.onnx.export(m, (a, b), os.path.join(out, "two.onnx"), opset_version=13, input_names=["a", "b"],
                      output_names=["y", "z"], dynamic_axes={k: {0: "N"} for k in "abyz"})
    for k, v in {"A": a, "B": b, "Y": y, "Z": z}.items():
        np.save(os.path.join(out, f"two.{k}.npy"), v.detach().numpy())
    print("gen_onnx: two.onnx, outputs", tuple(y.shape), tuple(z.shape))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(13)

    torch.manual_seed(1)
    small = Small()
    randomize_bn(small, gen)
    export(out, "small", small, torch.randn(3, 3, 20, 20, generator=gen))

    torch.manual_seed(2)
    net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    randomize_bn(net, gen)
    export(out, "googlenet", net, torch.randn(2, 3, 64, 64, generator=gen))

    torch.manual_seed(4)
    export(out, "activations", Activations(), torch.randn(2, 3, 9, 7, generator=gen))

    torch.manual_seed(3)
    export(out, "unsupported", Unsupported(), torch.randn(1, 3, 8, 8, generator=gen))

    torch.manual_seed(5)
    net = torchvision.models.resnet50(weights=None)
    randomize_bn(net, gen)
    export(out, "resnet50", net, torch.randn(2, 3, 64, 64, generator=gen))

    torch.manual_seed(6)
    # opset 10: Pad's pads and Clip's bounds as attributes (opset 13 exports of F.pad compute the
    # pads in a subgraph the importer folds: pad13.onnx)
    export(out, "ops", Ops(), torch.randn(2, 3, 8, 8, generator=gen), opset=10)
    export_two(out, gen)
    hand_made(out, gen)

    torch.manual_seed(7)
    pad13 = Pad13()
    randomize_bn(pad13, gen)
    export(out, "pad13", pad13, torch.randn(2, 3, 8, 8, generator=gen))
    export(out, "pad_batch", PadBatch(), torch.randn(2, 3, 4, 5, generator=gen))
    torch.manual_seed(8)
    export(out, "whole", Whole(), torch.randn(2, 3, 4, generator=gen), dynamic=False)


if __name__ == "__main__":
    main()
