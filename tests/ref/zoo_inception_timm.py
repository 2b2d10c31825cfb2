"""zoo_inception_timm.py — gen_zoo.py cases for inception_v4 and inception_resnet_v2, timm's models (needs the venv of tools/setup-venv)."""
import timm
import torch

from gen_zoo import ZooCase


def timm_model(name):
    def make():
        model = timm.create_model(name, pretrained=False)
        # With PyTorch's default conv init each ConvNormAct shrinks the signal about 2.5x, so after
        # Inception-v4's ~40 of them the logits no longer depend on the input (1e-7 of their size):
        # a wrong stem would pass. He-normal weights keep the signal alive to the classifier.
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        return model
    return make


# drop_rate only acts in train mode: the eval-mode logits are those of any timm build.
# 3x301x311: odd, unequal sides that go through every floor-mode stride-2 stage (down to 8x8).
CASES = [
    ZooCase("inception_v4", "inception_v4", timm_model("inception_v4"), [(3, 299, 299), (3, 301, 311)], batch=1,
            heavy=True),
    ZooCase("inception_resnet_v2", "inception_resnet_v2", timm_model("inception_resnet_v2"),
            [(3, 299, 299), (3, 301, 311)], batch=1, heavy=True),
]
