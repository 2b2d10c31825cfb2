"""zoo_densenet.py — torchvision's DenseNets against the zoo's densenet121/169/201 (gen_zoo.py CASES)."""
import torchvision

from gen_zoo import ZooCase

CASES = [
    ZooCase("densenet121", "densenet121", torchvision.models.densenet121, [(3, 224, 224), (3, 230, 210)]),
    # The deeper ones at a small odd size (97x83 -> 49x42 -> 25x21 -> 12x10 -> 6x5 -> 3x2), batch 1.
    ZooCase("densenet169", "densenet169", torchvision.models.densenet169, [(3, 97, 83)], batch=1, heavy=True),
    ZooCase("densenet201", "densenet201", torchvision.models.densenet201, [(3, 97, 83)], batch=1, heavy=True),
]
