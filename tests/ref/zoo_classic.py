"""zoo_classic.py — LeNet-5, AlexNet (torchvision's and the 2012 paper's with LRN), ZF-Net and VGG references.

lenet5, alexnet_lrn and zfnet have no torchvision twin: the modules below carry the names their
builders document (src/models/lenet.c, alexnet.c). alexnet and vgg* are torchvision's own.
The VGGs run at a small odd size (the 7x7 adaptive pool takes it) with batch 1: the weights
(0.5 GB each) dominate, not the arithmetic — about 8 s to write and 5 s to test per network on
2 cores. So the suite keeps vgg11, vgg16 (every plain-config path, the reference count 138,357,544),
vgg11_bn and vgg19_bn (BatchNorm, the deepest list); vgg13, vgg19, vgg13_bn and vgg16_bn differ
from them only in the numbers of their config lists. All eight matched PyTorch (counts and logits)
when this was written; CNN_ZOO_ALL_VGG=1 in the environment generates the other four as well.
"""
import os

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from gen_zoo import ZooCase


class LeNet5(nn.Module):
    """Seed 004's text: conv 20 5x5, pool, conv 50 5x5, pool, fc 500, ReLU, fc 10 (no conv activations)."""

    def __init__(self, in_shape=(1, 28, 28), classes=10):
        super().__init__()
        c, h, w = in_shape
        self.conv1 = nn.Conv2d(c, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        flat = 50 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2)
        self.fc1 = nn.Linear(flat, 500)
        self.fc2 = nn.Linear(500, classes)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def keras_same(x, kernel, stride):
    """Keras padding='same': output ceil(n / stride), the odd pixel of padding after."""
    pads = []
    for n in (x.shape[3], x.shape[2]):
        out = -(-n // stride)
        total = max((out - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class PlainStack(nn.Module):
    """AlexNet-shaped stack with conv1..conv5 and fc6..fc8 (seed 004's AlexNet with LRN, and ZF-Net)."""

    def __init__(self, in_shape, classes, zf):
        super().__init__()
        c, h, w = in_shape
        self.zf = zf
        if zf:
            self.conv1 = nn.Conv2d(c, 96, 7, stride=2)
            self.conv2 = nn.Conv2d(96, 256, 5, stride=2)  # Keras 'same' padding in forward
        else:
            self.conv1 = nn.Conv2d(c, 96, 11, stride=4, padding=2)
            self.conv2 = nn.Conv2d(96, 256, 5, padding=2)
            self.norm = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # the paper's alpha 1e-4 on the sum
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, c, h, w)).numel()
        self.fc6 = nn.Linear(flat, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, classes)
        self.drop = nn.Dropout(0.5)

    def features(self, x):
        if self.zf:
            x = F.max_pool2d(F.relu(self.conv1(x)), 3, 2)
            x = F.max_pool2d(F.relu(self.conv2(keras_same(x, 5, 2))), 3, 2)
        else:
            x = F.max_pool2d(self.norm(F.relu(self.conv1(x))), 3, 2)
            x = F.max_pool2d(self.norm(F.relu(self.conv2(x))), 3, 2)
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        return F.max_pool2d(F.relu(self.conv5(x)), 3, 2)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        x = self.drop(F.relu(self.fc6(x)))
        x = self.drop(F.relu(self.fc7(x)))
        return self.fc8(x)


def he_init(model, first_gain=1.0):
    """He-normal weights: PyTorch's default init shrinks AlexNet-sized logits to ~0.03, where the
    test's absolute floor would hide errors; these keep them O(10). first_gain scales conv1 so its
    activations (~8) make LRN's sum term matter: a wrong alpha then moves the logits by ~10%."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for m in layers:
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.1, 0.1)
        layers[0].weight.mul_(first_gain)
    return model


def vgg_case(name, size=(3, 67, 61)):
    return ZooCase(name, name, lambda: getattr(torchvision.models, name)(weights=None), [size], batch=1, heavy=True)


def alexnet():
    return he_init(torchvision.models.alexnet(weights=None))


def alexnet_lrn(size):
    return lambda: he_init(PlainStack(size, 1000, zf=False), first_gain=10.0)


def zfnet(size):
    return lambda: he_init(PlainStack(size, 1000, zf=True))


CASES = [
    ZooCase("lenet5", "lenet5", lambda: LeNet5((1, 28, 28)), [(1, 28, 28)], classes=10),
    ZooCase("lenet5_odd", "lenet5", lambda: LeNet5((1, 32, 30)), [(1, 32, 30)], classes=10),
    ZooCase("alexnet", "alexnet", alexnet, [(3, 224, 224), (3, 230, 210)]),
    ZooCase("alexnet_lrn", "alexnet_lrn", alexnet_lrn((3, 224, 224)), [(3, 224, 224)]),
    ZooCase("alexnet_lrn_odd", "alexnet_lrn", alexnet_lrn((3, 231, 201)), [(3, 231, 201)]),
    ZooCase("zfnet", "zfnet", zfnet((3, 224, 224)), [(3, 224, 224)]),
    ZooCase("zfnet_odd", "zfnet", zfnet((3, 231, 197)), [(3, 231, 197)]),
] + [vgg_case(name) for name in ("vgg11", "vgg16", "vgg11_bn", "vgg19_bn")]
if os.environ.get("CNN_ZOO_ALL_VGG") == "1":
    CASES += [vgg_case(name) for name in ("vgg13", "vgg19", "vgg13_bn", "vgg16_bn")]
