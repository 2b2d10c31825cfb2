"""gen_train.py — PyTorch reference runs of torch.optim.SGD / Adam and of the learning-rate schedulers.

Usage: gen_train.py OUTDIR. Writes OUTDIR/<case>.safetensors for each optimizer case and
OUTDIR/schedules.safetensors; tests/test_train.c replays them.

An optimizer case holds the parameters of a small dense network (the C test builds the same
layers, so the names and build order agree), a fixed gradient per step, and PyTorch's parameters
after every step:
  init.<param>, grad.<k>.<param>, after.<k>.<param> (k = 1..STEPS), state.<buffer>.<param>
and its hyper-parameters as metadata strings (the C side parses the same text).
The schedule file holds one float32 vector of per-epoch rates per setting, with metadata
spec.<id>, base.<id>, total.<id>.
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import save_safetensors  # noqa: E402

STEPS = 5
# The C test's graph: input 250 -> fc1 (80) -> fc2 (37) -> fc3 (5), all with bias. Sizes that are
# not multiples of PyTorch's vector width exercise its scalar tails; fc1.weight spans several of
# the C loop's OpenMP blocks.
PARAMS = [("fc1.weight", (80, 250)), ("fc1.bias", (80,)), ("fc2.weight", (37, 80)), ("fc2.bias", (37,)),
          ("fc3.weight", (5, 37)), ("fc3.bias", (5,))]

# name, optimizer, per-step learning rates (text), hyper-parameters (text, parsed by both sides).
CASES = [
    ("sgd_plain", "sgd", ["0.1"] * STEPS, {"momentum": "0", "nesterov": "0", "weight_decay": "0"}),
    ("sgd_wd", "sgd", ["0.05"] * STEPS, {"momentum": "0", "nesterov": "0", "weight_decay": "5e-4"}),
    ("sgd_momentum", "sgd", ["0.05", "0.05", "0.01", "0.01", "0.001"],
     {"momentum": "0.9", "nesterov": "0", "weight_decay": "5e-4"}),
    ("sgd_nesterov", "sgd", ["0.05"] * STEPS, {"momentum": "0.9", "nesterov": "1", "weight_decay": "5e-4"}),
    ("adam", "adam", ["0.001"] * STEPS, {"beta1": "0.9", "beta2": "0.999", "eps": "1e-8", "weight_decay": "0"}),
    ("adam_wd", "adam", ["0.002", "0.0015", "0.001", "0.0005", "0.00025"],
     {"beta1": "0.8", "beta2": "0.99", "eps": "1e-6", "weight_decay": "0.01"}),
]


def optimizer_case(outdir, index, name, kind, lrs, hp):
    gen = torch.Generator().manual_seed(1000 + index)
    params = [torch.nn.Parameter(torch.randn(shape, generator=gen) * 0.5) for _, shape in PARAMS]
    t = {f"init.{n}": p.detach().clone().numpy() for (n, _), p in zip(PARAMS, params)}
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=float(lrs[0]), momentum=float(hp["momentum"]),
                              nesterov=hp["nesterov"] == "1", weight_decay=float(hp["weight_decay"]))
    else:
        opt = torch.optim.Adam(params, lr=float(lrs[0]), betas=(float(hp["beta1"]), float(hp["beta2"])),
                               eps=float(hp["eps"]), weight_decay=float(hp["weight_decay"]))
    for k in range(1, STEPS + 1):
        for group in opt.param_groups:
            group["lr"] = float(lrs[k - 1])
        # Gradients of varying scale; a few exact zeros and a few large values.
        for (n, _), p in zip(PARAMS, params):
            g = torch.randn(p.shape, generator=gen) * (0.1 * k)
            g[torch.rand(p.shape, generator=gen) < 0.05] = 0.0
            g[torch.rand(p.shape, generator=gen) < 0.01] *= 100.0
            p.grad = g
            t[f"grad.{k}.{n}"] = g.clone().numpy()
        opt.step()
        for (n, _), p in zip(PARAMS, params):
            t[f"after.{k}.{n}"] = p.detach().clone().numpy()
    for (n, _), p in zip(PARAMS, params):
        for key, value in opt.state[p].items():
            if key != "step" and value is not None:
                t[f"state.{key}.{n}"] = value.clone().numpy()
    meta = dict(hp, optimizer=kind, lrs=",".join(lrs), steps=STEPS)
    save_safetensors(os.path.join(outdir, f"{name}.safetensors"),
                     {k: np.asarray(v, dtype=np.float32) for k, v in t.items()}, meta)


def scheduler_rates(make, base, epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def schedules(outdir):
    S = torch.optim.lr_scheduler
    # id, spec text, base lr text, total epochs, epochs listed, rates per epoch (doubles)
    settings = [
        ("constant", "constant", "0.01", 10, 10, lambda b, T, E: [b] * E),
        ("step_10_0.1", "step:10:0.1", "0.1", 35, 35,
         lambda b, T, E: scheduler_rates(lambda o: S.StepLR(o, step_size=10, gamma=0.1), b, E)),
        ("step_3_0.5", "step:3:0.5", "0.01", 20, 20,
         lambda b, T, E: scheduler_rates(lambda o: S.StepLR(o, step_size=3, gamma=0.5), b, E)),
        ("step_1_0.96", "step:1:0.96", "0.045", 100, 100,
         lambda b, T, E: scheduler_rates(lambda o: S.StepLR(o, step_size=1, gamma=0.96), b, E)),
        ("cosine_10", "cosine", "0.1", 10, 25,
         lambda b, T, E: scheduler_rates(lambda o: S.CosineAnnealingLR(o, T_max=T), b, E)),
        ("cosine_7", "cosine", "0.3", 7, 7,
         lambda b, T, E: scheduler_rates(lambda o: S.CosineAnnealingLR(o, T_max=T), b, E)),
        ("cosine_90", "cosine", "0.05", 90, 90,
         lambda b, T, E: scheduler_rates(lambda o: S.CosineAnnealingLR(o, T_max=T), b, E)),
        # The MiniGoogLeNet recipe's poly_decay (a Keras LearningRateScheduler callback).
        ("poly_1", "poly:1", "0.005", 70, 70, lambda b, T, E: [b * (1 - (e / float(T))) ** 1.0 for e in range(E)]),
        ("poly_2", "poly:2", "0.1", 40, 40, lambda b, T, E: [b * (1 - (e / float(T))) ** 2.0 for e in range(E)]),
        ("poly_0.5", "poly:0.5", "0.01", 33, 33, lambda b, T, E: [b * (1 - (e / float(T))) ** 0.5 for e in range(E)]),
    ]
    t, meta = {}, {}
    for ident, spec, base, total, epochs, rates in settings:
        t[f"lr.{ident}"] = np.asarray(rates(float(base), total, epochs), dtype=np.float32)
        meta[f"spec.{ident}"], meta[f"base.{ident}"], meta[f"total.{ident}"] = spec, base, total
    # The closed forms the header documents agree with these to float rounding.
    assert math.isclose(t["lr.cosine_7"][3], 0.3 * (1 + math.cos(math.pi * 3 / 7)) / 2, rel_tol=1e-6)
    save_safetensors(os.path.join(outdir, "schedules.safetensors"), t, meta)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, kind, lrs, hp) in enumerate(CASES):
        optimizer_case(outdir, i, name, kind, lrs, hp)
    schedules(outdir)


if __name__ == "__main__":
    main()
