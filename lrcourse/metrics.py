"""Running sums and accuracy, with d2l's names and call signatures.

The difference from d2l: sums of tensors stay tensors on their device, so
adding a batch's loss does not wait for the GPU. The one host sync happens
when a value is read (``acc[0]``), which the training loop does a few times
per epoch, not every step.
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from .checks import check_device, check_loss

__all__ = ["Accumulator", "accuracy", "num_correct", "evaluate", "evaluate_sums", "evaluate_accuracy"]


class Accumulator:
    """Sums over ``n`` variables: ``add(a, b, ...)`` adds one value to each.

    Values may be numbers or tensors; tensors are detached and summed where
    they are, in their own dtype (integer counts stay exact). Reading
    ``acc[i]`` returns a Python float.
    """

    def __init__(self, n: int):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        self.data = [0] * n

    def add(self, *args) -> None:
        if len(args) != len(self.data):
            raise ValueError(f"add expects {len(self.data)} values, got {len(args)}")
        bad = [b for b in args if not isinstance(b, (torch.Tensor, numbers.Real))]
        if bad:
            raise TypeError(f"add's values must be numbers or tensors, got {bad[0]!r}")
        self.data = [a + (b.detach() if isinstance(b, torch.Tensor) else float(b))
                     for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return float(self.data[idx])

    def __len__(self) -> int:
        return len(self.data)


def num_correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The number of correct predictions as a 0-d tensor on ``y_hat``'s device.

    ``y_hat`` holds logits or probabilities ``(B, C)`` (the prediction is the
    arg-max) or predicted labels ``(B,)``; ``y`` holds the labels ``(B,)``.
    """
    if not isinstance(y_hat, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"y_hat and y must be tensors, got {type(y_hat).__name__} and {type(y).__name__}")
    pred = y_hat.argmax(dim=1) if y_hat.dim() > 1 and y_hat.shape[1] > 1 else y_hat
    if pred.shape != y.shape:
        raise ValueError(f"y_hat must have shape (B, C) or (B,) matching y {tuple(y.shape)}, "
                         f"got {tuple(y_hat.shape)}")
    return (pred.to(y.dtype) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The number of correct predictions, as a float (d2l's ``accuracy``)."""
    return float(num_correct(y_hat, y))


def _device_of(net: nn.Module) -> torch.device | None:
    for p in net.parameters():
        return p.device
    return None


def evaluate(net: nn.Module, data_iter, loss=None, device=None) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` over ``data_iter``: ``(loss, acc)``.

    ``loss`` defaults to cross-entropy and must average over the batch (the
    sum is weighted by batch size). Runs without gradients in eval mode and
    puts the net back in the mode it found it in. One host sync at the end.
    Raises ``TypeError`` for a ``net`` that is no module, a ``loss`` that
    cannot be called or a ``data_iter`` that cannot be iterated, and
    ``ValueError`` when ``data_iter`` yields no batch.
    """
    total_loss, total_correct, n = evaluate_sums(net, data_iter, loss, device)
    if n == 0:
        raise ValueError("data_iter yielded no batches")
    return float(total_loss) / n, float(total_correct) / n


def evaluate_sums(net: nn.Module, data_iter, loss=None, device=None) -> tuple:
    """The sums behind :func:`evaluate`: ``(Σ loss·batch size, correct predictions, examples)``.

    The first two are tensors on the device (no host sync), the count an
    int; ``(0, 0, 0)`` for an empty ``data_iter``. Data-parallel evaluation
    adds these over the ranks before dividing.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    check_loss(loss)
    try:
        batches = iter(data_iter)
    except TypeError:
        raise TypeError(f"data_iter must be an iterable of (X, y) batches, got {type(data_iter).__name__}") \
            from None
    loss = loss if loss is not None else nn.CrossEntropyLoss()
    device = check_device(device) if device is not None else _device_of(net)
    was_training = net.training
    net.eval()
    total_loss = total_correct = 0
    n = 0
    try:
        with torch.no_grad():
            for X, y in batches:
                if device is not None:
                    X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if y.shape[0] == 0:
                    continue
                y_hat = net(X)
                total_loss = total_loss + loss(y_hat, y).detach().float() * y.shape[0]
                total_correct = total_correct + num_correct(y_hat, y)
                n += y.shape[0]
    finally:
        net.train(was_training)
    return total_loss, total_correct, n


def evaluate_accuracy(net: nn.Module, data_iter, device=None) -> float:
    """The fraction of correct predictions of ``net`` over ``data_iter``.

    d2l's ``evaluate_accuracy`` / ``evaluate_accuracy_gpu``: works on any net
    (cross-entropy loss is computed on the side and dropped).
    """
    return evaluate(net, data_iter, device=device)[1]
