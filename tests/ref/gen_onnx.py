"""gen_onnx.py OUTDIR — ONNX files exported by torch.onnx.export (opset 13, eval mode) and PyTorch's
outputs on them, for `cnn run MODEL.onnx` (tests/test_cli.sh):

  small.onnx      Conv (dilated, grouped), BatchNormalization (2-D and 1-D, left unfused), Relu,
                  MaxPool and AveragePool (ceil mode, pads, count_include_pad off), Concat, Add,
                  Flatten, Gemm, Dropout
  googlenet.onnx  torchvision's googlenet (no auxiliary heads) at 3x64x64
  unsupported.onnx  a model with a Sin node (an operator the importer refuses)

NAME.X.npy is the input and NAME.Y.npy PyTorch's output. The export needs only torch (its own
serializer writes the protobuf), not the onnx Python package.
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


def randomize_bn(model, gen):
    """Running statistics and affine parameters away from their defaults, so they matter."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=gen))


def export(out, name, model, x):
    model.eval()
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, (x,), os.path.join(out, name + ".onnx"), opset_version=13,
                      training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    np.save(os.path.join(out, name + ".X.npy"), x.numpy())
    np.save(os.path.join(out, name + ".Y.npy"), y.numpy())
    print(f"gen_onnx: {name}.onnx, output {tuple(y.shape)}")


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


if __name__ == "__main__":
    main()
