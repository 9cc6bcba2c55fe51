"""The one home of argument checks: every module validates its arguments through these.

Each check raises before any state changes, with a message that names the
argument, what was given and what is allowed, e.g.
``ValueError: batch_size must be an int >= 1, got 0``. Numbers from NumPy
(``np.int64``, ``np.float32``) count as numbers; ``True`` and ``False`` do not.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["MAX_SEED", "is_number", "check_rate", "check_decay", "check_int", "check_seed", "check_device",
           "check_flag", "check_loss", "check_batches", "check_choice", "check_path"]

MAX_SEED = 2**63 - 1


def is_number(value) -> bool:
    """A real number that is not a bool (``True`` is no learning rate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_rate(name: str, value, *, positive: bool = False) -> float:
    """A learning rate: a finite number >= 0 (> 0 if ``positive``), returned as a float."""
    if not is_number(value) or not math.isfinite(value) or value < 0 or (positive and value == 0):
        allowed = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return float(value)


def check_decay(name: str, value) -> float:
    """A multiplicative decay: a number in (0, 1], returned as a float."""
    if not is_number(value) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1] (a decay), got {value!r}")
    return float(value)


def check_int(name: str, value, *, minimum: int, allow_none: bool = False) -> int | None:
    """An int >= ``minimum`` (or None if allowed), returned as a Python int."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_seed(seed, *, allow_none: bool = False, name: str = "seed") -> int | None:
    """A seed: an int in [0, 2**63 - 1] (or None if allowed), returned as a Python int."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) \
            or not 0 <= seed <= MAX_SEED:
        allowed = "an int in [0, 2**63 - 1]" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}, got {seed!r}")
    return int(seed)


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


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (listed in the message)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_path(name: str, path) -> Path:
    """``path`` as a ``Path``; ``TypeError`` naming ``name`` unless it is a str or os.PathLike."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
    return Path(path)
