"""zoo_resnet.py — torchvision's ResNets against the zoo's resnet18 ... resnet152 (gen_zoo.py CASES).

randomize() gives every BatchNorm running statistics unrelated to the activations it sees, so in
eval mode nothing renormalises the residual stream: with torchvision's own initialisation each
block adds to it and resnet152's logits reach 1e11. The last convolution of every residual
branch (conv2 of a BasicBlock, conv3 of a Bottleneck) is therefore scaled by 0.3, which keeps
the logits of every depth within 1..40 while each branch still moves its block's output by a
third. These are just the weights the fixture holds; the network is torchvision's.
"""
import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

from gen_zoo import ZooCase

BRANCH_SCALE = 0.3


def tamed(constructor):
    def make():
        model = constructor()
        with torch.no_grad():
            for block in model.modules():
                if isinstance(block, BasicBlock):
                    block.conv2.weight.mul_(BRANCH_SCALE)
                elif isinstance(block, Bottleneck):
                    block.conv3.weight.mul_(BRANCH_SCALE)
        return model
    return make


CASES = [
    ZooCase("resnet18", "resnet18", tamed(torchvision.models.resnet18), [(3, 224, 224), (3, 230, 210)]),
    ZooCase("resnet34", "resnet34", tamed(torchvision.models.resnet34), [(3, 224, 224), (3, 230, 210)]),
    ZooCase("resnet50", "resnet50", tamed(torchvision.models.resnet50), [(3, 224, 224), (3, 230, 210)]),
    # The deep ones at a small odd size (97x83 -> 49x42 -> 25x21 -> 13x11 -> 7x6 -> 4x3), batch 1:
    # their weights (180 and 240 MB) cost more than the arithmetic.
    ZooCase("resnet101", "resnet101", tamed(torchvision.models.resnet101), [(3, 97, 83)], batch=1, heavy=True),
    ZooCase("resnet152", "resnet152", tamed(torchvision.models.resnet152), [(3, 97, 83)], batch=1, heavy=True),
]
