"""Chapter 8's fine-tuning task: pretrain LeNet on five classes, then fine-tune it on the five others.

*Pretraining*: Fashion-MNIST's classes 5 to 9 (sandal, shirt, sneaker, bag,
ankle boot), every training image of them outside the validation split,
LeNet with a 5-way output layer, plain SGD at a constant rate of
:data:`PRETRAIN_LR` for ``num_epochs`` epochs.

*Fine-tuning*: classes 0 to 4 (t-shirt, trouser, pullover, dress, coat), only
:data:`PER_CLASS` training images per class; rates are chosen on
:data:`PER_CLASS` images per class of the validation split, and the test
set (every test image of the five classes) is read once, after the last
epoch. The output layer is replaced by a fresh one drawn from its own seed,
so every fine-tuning run of a seed starts from the same pretrained body and
the same new head. The ways (:data:`WAYS`) differ only in the rate each
parameter group gets:

* ``shared``: rate ``lr`` for every layer;
* ``discriminative``: ``lr`` for the classifier, ``lr/10`` for the features;
* ``frozen features``: ``lr`` for the classifier, 0 for the features;
* ``from scratch``: a freshly initialized 5-way LeNet at rate ``lr``.

The features are LeNet's first seven modules (both convolutions, up to the
flattening), the classifier its three linear layers. A fine-tuning run is
``3 * num_epochs`` passes over the small training set, with plain SGD at a
constant rate. A run that ends at or below :data:`DEAD_ACC` validation
accuracy (chance is 0.2 on five classes) counts as dead.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_choice, check_int, check_rate, check_seed
from .models import init_xavier, lenet

__all__ = ["OLD_CLASSES", "NEW_CLASSES", "PER_CLASS", "PRETRAIN_LR", "DEAD_ACC", "WAYS", "FORMULAS", "FineTuneData",
           "task_data", "new_head", "five_way", "pretrain", "start_of_finetuning", "feature_groups", "finetune"]

OLD_CLASSES = (5, 6, 7, 8, 9)
NEW_CLASSES = (0, 1, 2, 3, 4)
PER_CLASS = 200
PRETRAIN_LR = 0.1  # safely below the cliff of chapter 7: a net that dies in pretraining teaches nothing
DEAD_ACC = 0.25  # five classes: chance is 0.2
# way -> the features' rate as a fraction of the classifier's (None: no pretraining at all)
WAYS = {"shared": 1.0, "discriminative": 0.1, "frozen features": 0.0, "from scratch": None}
# way -> what it does, in words (a finetune sweep's definition stores it as the strategy's formula)
FORMULAS = {
    "shared": "fine-tune the pretrained body and a new head, every layer at lr",
    "discriminative": "fine-tune, the classifier at lr, the features at lr/10",
    "frozen features": "fine-tune, the classifier at lr, the features frozen",
    "from scratch": "a freshly initialized 5-way LeNet at lr",
}
FEATURES = 7  # LeNet's modules up to the flattening


@dataclass(frozen=True)
class FineTuneData:
    """The five loaders of the task: pretraining (train, test) and fine-tuning (train, valid, test)."""

    pre_train: object
    pre_test: object
    train: object
    valid: object
    test: object


def task_data(train_iter, valid_iter, test_iter, per_class: int = PER_CLASS) -> FineTuneData:
    """The task's loaders from ``load_fashion_mnist(..., valid=N)``'s three (labels renumbered 0-4)."""
    from .data import select_classes

    check_int("per_class", per_class, minimum=1)
    return FineTuneData(pre_train=select_classes(train_iter, OLD_CLASSES),
                        pre_test=select_classes(test_iter, OLD_CLASSES),
                        train=select_classes(train_iter, NEW_CLASSES, per_class=per_class),
                        valid=select_classes(valid_iter, NEW_CLASSES, per_class=per_class),
                        test=select_classes(test_iter, NEW_CLASSES))


def new_head(net: nn.Sequential, seed: int) -> nn.Sequential:
    """``net`` with its output layer replaced, in place, by a fresh 5-way one drawn from ``seed``
    (LeNet's own Xavier initialization; the global random generator is left alone)."""
    check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(net[-1].in_features, len(NEW_CLASSES))
        init_xavier(head)
    net[-1] = head.to(next(net.parameters()).device)
    return net


def five_way(seed: int) -> nn.Sequential:
    """``lenet(seed)`` with a 5-way output layer (drawn from the same seed)."""
    return new_head(lenet(seed=seed), seed)


def _check_data(data) -> None:
    if not isinstance(data, FineTuneData):
        raise TypeError(f"data must be the task's FineTuneData (from task_data), got {type(data).__name__}")


def pretrain(seed: int, data: FineTuneData, num_epochs: int, *, channels_last: bool = True):
    """``(net, history)``: ``five_way(seed)`` trained on the old classes at :data:`PRETRAIN_LR`."""
    from .training import fit

    _check_data(data)
    check_int("num_epochs", num_epochs, minimum=1)
    net = five_way(seed)
    history = fit(net, data.pre_train, data.pre_test, num_epochs=num_epochs, lr=PRETRAIN_LR, seed=seed,
                  animate=False, progress=False, channels_last=channels_last)
    return net, history


def start_of_finetuning(pretrained: nn.Sequential, seed: int) -> nn.Sequential:
    """A copy of the pretrained body with a new head (seed ``1000 + seed``): the same for every run of
    a seed; ``pretrained`` itself is left unchanged."""
    if not isinstance(pretrained, nn.Sequential):
        raise TypeError(f"pretrained must be a LeNet (nn.Sequential), got {type(pretrained).__name__}")
    check_seed(seed)
    return new_head(copy.deepcopy(pretrained), 1000 + seed)


def feature_groups(net: nn.Sequential, lr: float, feature_factor: float) -> list[dict]:
    """Two parameter groups: the features at ``lr * feature_factor``, the classifier at ``lr``."""
    lr = check_rate("lr", lr, positive=True)
    feature_factor = check_rate("feature_factor", feature_factor)
    return [{"params": net[:FEATURES].parameters(), "lr": lr * feature_factor},
            {"params": net[FEATURES:].parameters(), "lr": lr}]


def finetune(way: str, lr: float, seed: int, pretrained: nn.Sequential | None, data: FineTuneData,
             num_epochs: int, *, channels_last: bool = True):
    """One fine-tuning run: ``(history, net)`` after ``3 * num_epochs`` epochs on ``data.train``.

    ``way`` is one of :data:`WAYS`; ``pretrained`` is the seed's pretrained
    net (unused, and may be None, for ``'from scratch'``). The run watches
    ``data.valid`` after every epoch and never reads the test set: evaluate
    ``net`` on ``data.test`` once, afterwards.
    """
    from .training import fit

    check_choice("way", way, tuple(WAYS))
    _check_data(data)
    lr = check_rate("lr", lr, positive=True)
    check_seed(seed)
    check_int("num_epochs", num_epochs, minimum=1)
    factor = WAYS[way]
    if factor is None:
        net = five_way(seed)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    else:
        if not isinstance(pretrained, nn.Module):
            raise TypeError(f"pretrained must be the seed's pretrained net for way {way!r}, "
                            f"got {type(pretrained).__name__}")
        net = start_of_finetuning(pretrained, seed)
        optimizer = torch.optim.SGD(feature_groups(net, lr, factor), lr=lr)
    history = fit(net, data.train, None, valid_iter=data.valid, num_epochs=3 * num_epochs, optimizer=optimizer,
                  seed=seed, animate=False, progress=False, channels_last=channels_last)
    return history, net
