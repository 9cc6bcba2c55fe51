"""The two networks the book trains on Fashion-MNIST.

Both take images of shape ``(B, 1, 28, 28)`` and return ``(B, 10)`` logits.
Weights of every convolution and linear layer are Xavier-uniform, biases
zero (as in d2l's training chapters), so results compare with theirs.
Pass ``seed`` to get the same initial weights every time without touching
the global random state.
"""
from __future__ import annotations

import torch
from torch import nn

from .checks import check_seed

__all__ = ["lenet", "mlp", "init_xavier"]


def init_xavier(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for ``Linear`` and ``Conv2d`` layers (others: untouched).

    Meant for ``net.apply(init_xavier)``; raises ``TypeError`` for anything
    that is not a module.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _build(make_layers, seed: int | None) -> nn.Sequential:
    check_seed(seed, allow_none=True)
    if seed is None:  # draw from the global generator, like any nn.Module
        net = nn.Sequential(*make_layers())
        net.apply(init_xavier)
        return net
    with torch.random.fork_rng(devices=[]):  # leaves the global generator as it was
        torch.manual_seed(seed)
        net = nn.Sequential(*make_layers())
        net.apply(init_xavier)
    return net


def lenet(seed: int | None = None) -> nn.Sequential:
    """LeNet-5 with ReLU and max-pooling: 61 706 parameters.

    conv 5x5 (6, padding 2) → max-pool 2 → ReLU → conv 5x5 (16) → max-pool 2
    → ReLU → 400 → 120 → 84 → 10, ReLU between the linear layers.

    The ReLU comes after the pooling: ``max`` and ``ReLU`` commute
    (``relu(max(a, b)) == max(relu(a), relu(b))``), so this is exactly the
    usual conv → ReLU → pool, with the same gradients bit for bit
    (``tests/test_models.py``), but the ReLU and its backward pass touch a
    quarter of the values: an epoch on two CPU cores is 5 to 15 % shorter
    (``benchmarks/epoch_profile.py``).
    """
    return _build(lambda: [
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.MaxPool2d(kernel_size=2, stride=2), nn.ReLU(),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.MaxPool2d(kernel_size=2, stride=2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    ], seed)


def mlp(seed: int | None = None) -> nn.Sequential:
    """The 784-300-100-10 multilayer perceptron with ReLU: 266 610 parameters."""
    return _build(lambda: [
        nn.Flatten(),
        nn.Linear(784, 300), nn.ReLU(),
        nn.Linear(300, 100), nn.ReLU(),
        nn.Linear(100, 10),
    ], seed)
