"""ops_norm.py — reference cases for batchnorm (train and eval; ranks 2, 3, 4 and 5) and lrn."""
from torch import nn

from common import Case


def bn2d(c, eps=1e-5, momentum=0.1):
    return lambda: nn.BatchNorm2d(c, eps=eps, momentum=momentum)


def bn1d(f, eps=1e-5, momentum=0.1):
    return lambda: nn.BatchNorm1d(f, eps=eps, momentum=momentum)


def bn3d(c, eps=1e-5, momentum=0.1):
    return lambda: nn.BatchNorm3d(c, eps=eps, momentum=momentum)


def lrn(size, alpha=1e-4, beta=0.75, k=1.0):
    return ("lrn", {"size": size, "alpha": alpha, "beta": beta, "k": k},
            lambda: nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k))


def lrn_case(name, shape, size, alpha=1e-4, beta=0.75, k=1.0):
    op, attrs, module = lrn(size, alpha, beta, k)
    return Case(name, op, attrs, [shape], module)


BN = {"eps": 1e-5, "momentum": 0.1}

CASES = [
    # Train mode: batch statistics, running stats updated (after.running_*), gradients.
    Case("batchnorm_train_4d", "batchnorm", BN, [(4, 3, 5, 6)], bn2d(3)),
    Case("batchnorm_train_wide", "batchnorm", BN, [(2, 16, 4, 4)], bn2d(16)),
    Case("batchnorm_train_batch1", "batchnorm", BN, [(1, 4, 3, 5)], bn2d(4)),
    Case("batchnorm_train_tall", "batchnorm", BN, [(3, 2, 7, 2)], bn2d(2)),
    Case("batchnorm_train_2d", "batchnorm", BN, [(8, 10)], bn1d(10)),
    # Three values per feature: the batch variance can be small, and the central difference's truncation
    # error grows like (fd_eps / std)^2, so a smaller step (float32 noise stays far below the tolerance).
    Case("batchnorm_train_2d_batch3", "batchnorm", BN, [(3, 6)], bn1d(6), fd_eps=3e-3),
    # torchvision GoogLeNet / Inception-v3 use eps 1e-3.
    Case("batchnorm_train_eps1e-3", "batchnorm", {"eps": 1e-3, "momentum": 0.1}, [(3, 8, 5, 5)], bn2d(8, eps=1e-3)),
    # Keras's default momentum 0.99 is PyTorch's 0.01.
    Case("batchnorm_train_momentum0.01", "batchnorm", {"eps": 1e-3, "momentum": 0.01}, [(4, 3, 4, 7)],
         bn2d(3, eps=1e-3, momentum=0.01)),
    # (N,C,D,H,W) (BatchNorm3d) and (N,C,L) (BatchNorm1d over a sequence): statistics over N and every dim after C.
    Case("batchnorm_train_5d", "batchnorm", BN, [(3, 4, 2, 3, 4)], bn3d(4)),
    Case("batchnorm_train_5d_batch1", "batchnorm", {"eps": 1e-3, "momentum": 0.3}, [(1, 3, 3, 2, 2)],
         bn3d(3, eps=1e-3, momentum=0.3)),
    Case("batchnorm_train_3d", "batchnorm", BN, [(4, 3, 5)], bn1d(3)),
    Case("batchnorm_train_3d_len1", "batchnorm", BN, [(5, 2, 1)], bn1d(2), fd_eps=3e-3),
    # Eval mode: running statistics, forward only.
    Case("batchnorm_eval_5d", "batchnorm", BN, [(2, 3, 3, 4, 2)], bn3d(3), train=False),
    Case("batchnorm_eval_3d", "batchnorm", BN, [(3, 4, 6)], bn1d(4), train=False),
    Case("batchnorm_eval_4d", "batchnorm", BN, [(3, 4, 5, 6)], bn2d(4), train=False),
    Case("batchnorm_eval_2d", "batchnorm", BN, [(4, 7)], bn1d(7), train=False),
    Case("batchnorm_eval_one_value", "batchnorm", BN, [(1, 3, 1, 1)], bn2d(3), train=False),
    # LRN: AlexNet's settings, then other sizes (odd, even, larger than C) and coefficients.
    lrn_case("lrn_alexnet", (2, 8, 6, 6), 5, alpha=1e-4, beta=0.75, k=2.0),
    lrn_case("lrn_size3", (2, 6, 4, 5), 3),
    lrn_case("lrn_size4_even", (2, 7, 3, 4), 4, alpha=0.5, beta=0.75, k=1.0),
    lrn_case("lrn_size_gt_channels", (2, 3, 4, 3), 7, alpha=0.8, beta=0.6, k=1.5),
    lrn_case("lrn_strong", (3, 5, 2, 3), 5, alpha=2.0, beta=1.2, k=0.5),
    lrn_case("lrn_size1", (2, 4, 3, 3), 1, alpha=1.0, beta=0.5, k=1.0),
    lrn_case("lrn_batch4", (4, 10, 3, 2), 5, alpha=0.3, beta=0.75, k=2.0),
]
