"""gen_cli.py OUTDIR — PyTorch references for `cnn train` parity (tests/test_cli.sh).

Each case writes X.npy / Y.npy (the data), NAME.init.safetensors (the starting weights) and
NAME.after.safetensors (the weights after N steps of the same recipe in PyTorch: no shuffling, no
augmentation, dropout off, BatchNorm in train mode), and NAME.args (the `cnn train` options).
"""
import os
import sys

import numpy as np
import torch
import torchvision
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import save_safetensors  # noqa: E402

torch.set_num_threads(1)


def MiniNet():
    """MiniGoogLeNet as tests/ref/gen_models.py defines it (names of src/models/minigooglenet.c)."""
    from gen_models import MiniGoogLeNet
    return MiniGoogLeNet(3, 10)


def LeNet():
    """LeNet-5 as tests/ref/zoo_classic.py defines it (names of src/models/lenet.c), 1x28x28."""
    from zoo_classic import LeNet5
    return LeNet5((1, 28, 28), 10)


def seeded(seed, make, he=False):
    """A model from a fixed seed; he=True re-draws conv/linear weights He-normal, so that the signal
    (and the gradients) do not wash out in deep nets initialised with tiny weights (googlenet's
    std 0.01), which would leave Adam updating on float noise."""
    torch.manual_seed(seed)
    model = make()
    if he:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return model


def dropout_off(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()


def train(model, x, y, batch, steps, make_opt, smoothing, aux_weight, accum=1):
    """`steps` optimizer updates; with accum, each from `accum` batches of loss / accum."""
    opt = make_opt(model.parameters())
    model.train()
    dropout_off(model)
    ce = nn.CrossEntropyLoss(label_smoothing=smoothing)
    n = x.shape[0]
    for step in range(steps):
        opt.zero_grad()
        for micro in range(accum):
            i = ((step * accum + micro) * batch) % n
            xb, yb = x[i:i + batch], y[i:i + batch]
            outputs = model(xb)
            if isinstance(outputs, tuple):  # torchvision googlenet: (logits, aux2, aux1)
                loss = ce(outputs[0], yb) + aux_weight * sum(ce(o, yb) for o in outputs[1:])
            else:
                loss = ce(outputs, yb)
            (loss / accum).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run(out, name, make_model, x, y, batch, steps, make_opt, smoothing=0.0, aux_weight=0.3, args="", accum=1):
    """PyTorch's float32 run is the reference; the tolerance (NAME.tol, a fraction of the L2 norm of
    how far the weights moved) is a small multiple of how far the result moves when the starting
    weights are perturbed at the level of float rounding."""
    model = make_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(out, name + ".init.safetensors"), {k: v.numpy() for k, v in state.items()})
    np.save(os.path.join(out, name + ".X.npy"), x.numpy())
    np.save(os.path.join(out, name + ".Y.npy"), y.numpy())
    after = train(model, x, y, batch, steps, make_opt, smoothing, aux_weight, accum)
    # How well-conditioned is the case? Training can be chaotic (BatchNorm over few values, ReLU
    # and max-pool switching): start again from weights perturbed by 1e-7 relative, about float32
    # rounding, and see how far the result moves. A float64 run would not show it (same path).
    # The C side may be off from PyTorch by a small multiple of that.
    perturbed = make_model()
    gen = torch.Generator().manual_seed(11)
    perturbed.load_state_dict({k: v * (1 + 1e-7 * torch.randn(v.shape, generator=gen)) if v.dtype == torch.float32 else v
                               for k, v in state.items()})
    after_p = train(perturbed, x, y, batch, steps, make_opt, smoothing, aux_weight, accum)
    # One number over all parameters: the L2 norm of the difference over the L2 norm of the
    # movement. Per element it would measure noise: Adam turns a gradient element that is float
    # noise into a full-size step of either sign.
    diff2 = moved2 = 0.0
    for k, v in after.items():
        if v.dtype == torch.float32:
            diff2 += float((v.double() - after_p[k].double()).norm()) ** 2
            moved2 += float((v.double() - state[k].double()).norm()) ** 2
    worst = (diff2 / moved2) ** 0.5
    if worst > 1e-2:
        sys.exit(f"gen_cli: {name} is ill-conditioned: a 1e-7 perturbation moves the result by {worst:.2e} of the movement")
    save_safetensors(os.path.join(out, name + ".after.safetensors"), {k: v.numpy() for k, v in after.items()})
    with open(os.path.join(out, name + ".args"), "w") as f:
        f.write(f"--steps {steps} --batch {batch} --accum {accum} {args}\n")
    with open(os.path.join(out, name + ".tol"), "w") as f:
        f.write(f"{max(3 * worst, 1e-4):.3g}\n")
    print(f"gen_cli: {name}: a 1e-7 perturbation of the weights moves the result by {worst:.2e} of the movement")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    # resnet18: SGD with momentum and weight decay, 10 classes, 3x32x32.
    x = torch.randn(16, 3, 64, 64, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    run(out, "resnet18_sgd", lambda: seeded(1, lambda: torchvision.models.resnet18(num_classes=10)), x, y, batch=8, steps=3,
        make_opt=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=5e-4),
        args="--optimizer sgd --lr 0.01 --momentum 0.9 --weight-decay 5e-4")
    # googlenet: Adam, auxiliary heads (weight 0.3) and label smoothing, 10 classes, 3x64x64.
    x = torch.randn(8, 3, 96, 96, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    run(out, "googlenet_adam",
        lambda: seeded(2, lambda: torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=True), he=True), x, y,
        batch=4, steps=3,
        make_opt=lambda p: torch.optim.Adam(p, lr=1e-4), smoothing=0.1,
        args="--optimizer adam --lr 0.0001 --label-smoothing 0.1 --aux-weight 0.3")
    # Gradient accumulation: 2 updates, each from 2 batches of 2 (loss / 2 each), as PyTorch's loop.
    # lr 0.01: at 0.05 the case sat at the edge of chaos (sensitivity 1e-2 to 3e-2 depending on the machine).
    run(out, "minigooglenet_accum", lambda: seeded(3, lambda: MiniNet()), x[:, :, :32, :32].contiguous(), y, batch=2, steps=2,
        make_opt=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), accum=2,
        args="--optimizer sgd --lr 0.01 --momentum 0.9")
    # LeNet-5: SGD with momentum, batches of 32 (its conv2 trains by F(2x2, 5x5), conv1 directly,
    # fc1's forward on our GEMM from 16 samples: src/ops/conv_winograd_train.c, conv_direct.c, dense.c).
    x = torch.randn(128, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)
    run(out, "lenet5_sgd", lambda: seeded(4, LeNet), x, y, batch=32, steps=4,
        make_opt=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
        args="--optimizer sgd --lr 0.01 --momentum 0.9")
    print(f"gen_cli: 4 training references in {out}")


if __name__ == "__main__":
    main()
