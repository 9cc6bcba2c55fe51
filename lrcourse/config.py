"""One place for experiment sizes, seeding and the choice of device.

Chapters never test ``if quick:`` themselves; they ask :func:`profile` for
the sizes of their experiments::

    cfg = lrcourse.config.profile()
    train_iter, test_iter = load_fashion_mnist(cfg.batch_size, limit=cfg.limit)
    fit(net, train_iter, test_iter, num_epochs=cfg.num_epochs, lr=0.3)

Environment variables read here (at call time, so tests can change them):

``LRCOURSE_QUICK=1``
    Shrink every experiment to a few thousand examples and two epochs, so the
    whole notebook suite runs in minutes on two CPU cores.
``LRCOURSE_HEADLESS=1``
    Nobody watches the output (a book build, nbval): the live plot draws once
    at the end and progress bars print one final line instead of a widget.
"""
from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Profile", "profile", "is_quick", "is_headless", "check_seed", "check_int", "check_device", "check_flag",
           "check_loss", "check_batches", "seed_everything", "try_gpu", "machine"]


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def is_quick() -> bool:
    """True when ``LRCOURSE_QUICK`` asks for the small experiments."""
    return _flag("LRCOURSE_QUICK")


def is_headless() -> bool:
    """True when ``LRCOURSE_HEADLESS`` says no person watches the output."""
    return _flag("LRCOURSE_HEADLESS")


def check_int(name: str, value, *, minimum: int, allow_none: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int >= ``minimum`` (or None if allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class Profile:
    """Sizes of an experiment.

    ``limit`` caps the number of examples taken from each split (``None``:
    all 60 000 training and 10 000 test images); ``num_seeds`` is how many
    seeds a chapter repeats a comparison over. Sizes must be ints >= 1
    (``ValueError`` otherwise).
    """

    name: str
    batch_size: int
    num_epochs: int
    limit: int | None
    num_seeds: int

    def __post_init__(self):
        for name in ("batch_size", "num_epochs", "limit", "num_seeds"):
            check_int(name, getattr(self, name), minimum=1, allow_none=name == "limit")


FULL = Profile(name="full", batch_size=256, num_epochs=10, limit=None, num_seeds=3)
QUICK = Profile(name="quick", batch_size=256, num_epochs=2, limit=2048, num_seeds=2)


def profile() -> Profile:
    """The profile in force: :data:`QUICK` under ``LRCOURSE_QUICK=1``, else :data:`FULL`."""
    return QUICK if is_quick() else FULL


MAX_SEED = 2**63 - 1


def check_seed(seed, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``seed`` is an int in [0, 2**63 - 1] (or None if allowed)."""
    if seed is None and allow_none:
        return
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        allowed = "an int in [0, 2**63 - 1]" + (" or None" if allow_none else "")
        raise ValueError(f"seed must be {allowed}, got {seed!r}")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_device(device) -> torch.device | None:
    """``device`` as a ``torch.device`` (None stays None: the caller chooses).

    Raises ``ValueError`` for a name torch does not know (``'gpu'``) and for a
    CUDA device this machine does not have, before any tensor moves.
    """
    if device is None:
        return None
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be a torch.device or a name such as 'cpu', 'cuda' or 'cuda:0' "
                         f"(None: choose automatically), got {device!r}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ValueError(f"device {str(device)!r} is not on this machine ({count} CUDA device(s)); "
                             f"leave device=None to choose automatically")
    return device


def check_flag(name: str, value) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_loss(loss) -> None:
    """Raise ``TypeError`` unless ``loss`` is None (the default) or callable as ``loss(y_hat, y)``."""
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a function (y_hat, y) -> mean loss, got {type(loss).__name__} {loss!r}")


def check_batches(name: str, batches) -> None:
    """``TypeError`` unless ``batches`` can be iterated; ``ValueError`` when it has a len() of 0."""
    if not hasattr(batches, "__iter__"):
        raise TypeError(f"{name} must be an iterable of (X, y) batches, got {type(batches).__name__}")
    if hasattr(batches, "__len__") and len(batches) == 0:
        raise ValueError(f"{name} holds no batches")


def try_gpu(i: int = 0) -> torch.device:
    """The i-th CUDA GPU if there is one, else Apple's MPS if present, else the CPU."""
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
        raise ValueError(f"i must be an int >= 0 (a GPU's index), got {i!r}")
    if torch.cuda.is_available() and i < torch.cuda.device_count():
        return torch.device(f"cuda:{i}")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def machine() -> str:
    """One line naming where figures were measured: host, device, cores, torch threads and version."""
    device = try_gpu()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return (f"{platform.node()} | {device} ({name}) | {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads | torch {torch.__version__}")
