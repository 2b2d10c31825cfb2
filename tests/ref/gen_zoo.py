"""gen_zoo.py OUTDIR [MODULE...] — PyTorch references for the zoo (tests/ref/zoo_*.py CASES).

For each case: CASE.weights.safetensors (the model's state_dict after randomize(), as
safetensors.torch.save_file would write it, num_batches_tracked included) and, per input size,
CASE.CxHxW.data.safetensors with the input x and the eval-mode logits, plus metadata naming the
zoo model, options, weights file and PyTorch's parameter counts. tests/test_models.c reads them.
"""
import glob
import importlib.util
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from common import save_safetensors  # noqa: E402

torch.set_num_threads(max(1, os.cpu_count() or 1))


class ZooCase:
    """name: fixture name; model: zoo name; make(): the PyTorch model; inputs: (C,H,W) sizes;
    options: aux (0/1) and variant as `cnn` takes them; heavy: skip under the sanitizers."""

    def __init__(self, name, model, make, inputs, batch=2, classes=1000, aux=-1, variant="", heavy=False):
        self.name, self.model, self.make, self.inputs = name, model, make, inputs
        self.batch, self.classes, self.aux, self.variant, self.heavy = batch, classes, aux, variant, heavy


def randomize(model, gen):
    """BatchNorm affine parameters and running statistics away from 1/0 so eval mode is really tested."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def generate(case, out, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = case.make()
    randomize(model, gen)
    model.eval()
    weights = case.name + ".weights.safetensors"
    save_safetensors(os.path.join(out, weights), {k: v.detach().numpy() for k, v in model.state_dict().items()})
    trainable = sum(p.numel() for p in model.parameters())
    total = trainable + sum(b.numel() for k, b in model.named_buffers() if not k.endswith("num_batches_tracked"))
    for shape in case.inputs:
        x = torch.randn((case.batch,) + tuple(shape), generator=gen)
        with torch.no_grad():
            y = model(x)
            # A fixture whose logits ignore the input checks nothing (weights that wash the signal
            # out): another input must move the logits by far more than the test's tolerance.
            y2 = model(torch.randn(x.shape, generator=gen))
        change = float((y - y2).abs().max() / y.abs().max().clamp_min(1e-30))
        if not change > 1e-3:
            sys.exit(f"gen_zoo: {case.name} at {shape}: logits barely depend on the input "
                     f"(relative change {change:.2e}); fix the fixture's weights")
        size = "x".join(str(s) for s in shape)
        meta = {"model": case.model, "input": size, "classes": case.classes, "aux": case.aux, "variant": case.variant,
                "weights": weights, "trainable_params": trainable, "total_params": total, "train": 0,
                "heavy": int(case.heavy)}
        save_safetensors(os.path.join(out, f"{case.name}.{size}.data.safetensors"),
                         {"x": x.numpy(), "eval_logits": y.detach().numpy()}, meta)


def main():
    out = sys.argv[1]
    only = set(sys.argv[2:])
    os.makedirs(out, exist_ok=True)
    count = 0
    for path in sorted(glob.glob(os.path.join(here, "zoo_*.py"))):
        modname = os.path.basename(path)[:-3]
        if only and modname not in only:
            continue
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for case in mod.CASES:
            count += 1
            generate(case, out, 2000 + count)
    print(f"gen_zoo: {count} models in {out}")


if __name__ == "__main__":
    main()
