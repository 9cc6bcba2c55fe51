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
``LRCOURSE_RERUN=1``
    Compute every stored sweep a chapter asks for again instead of loading it
    (:mod:`lrcourse.experiments`), e.g. in Colab on a GPU.
"""
from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_int, check_seed

__all__ = ["Profile", "profile", "is_quick", "is_headless", "is_rerun", "kernel_shell", "seed_everything", "try_gpu",
           "machine", "cpu"]


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def is_quick() -> bool:
    """True when ``LRCOURSE_QUICK`` asks for the small experiments."""
    return _flag("LRCOURSE_QUICK")


def is_headless() -> bool:
    """True when ``LRCOURSE_HEADLESS`` says no person watches the output."""
    return _flag("LRCOURSE_HEADLESS")


def kernel_shell():
    """The IPython shell when running in a Jupyter kernel (not a terminal), else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def is_rerun() -> bool:
    """True when ``LRCOURSE_RERUN`` asks to compute stored sweeps again instead of loading them."""
    return _flag("LRCOURSE_RERUN")


@dataclass(frozen=True)
class Profile:
    """Sizes of an experiment.

    ``limit`` caps the number of examples taken from the training and the
    test split (``None``: all of them); ``valid`` is the size of the
    validation split held out of the 60 000 training images (stratified, see
    :func:`~lrcourse.data.load_fashion_mnist`); ``num_seeds`` is how many
    seeds a comparison is repeated over (the stored sweeps use five). Sizes must be ints >= 1
    (``ValueError`` otherwise).
    """

    name: str
    batch_size: int
    num_epochs: int
    limit: int | None
    num_seeds: int
    valid: int = 10000

    def __post_init__(self):
        for name in ("batch_size", "num_epochs", "limit", "num_seeds", "valid"):
            check_int(name, getattr(self, name), minimum=1, allow_none=name == "limit")


FULL = Profile(name="full", batch_size=256, num_epochs=10, limit=None, num_seeds=5, valid=10000)
QUICK = Profile(name="quick", batch_size=256, num_epochs=2, limit=2048, num_seeds=2, valid=1000)


def profile() -> Profile:
    """The profile in force: :data:`QUICK` under ``LRCOURSE_QUICK=1``, else :data:`FULL`."""
    return QUICK if is_quick() else FULL


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def cpu() -> str:
    """The CPU and the instruction set torch's kernels use on it (``'... | AVX512'``).

    Two CPUs with different instruction sets (AVX2, AVX-512, AMX) run
    different kernels that round differently, so a CPU run repeats bit for
    bit only on a CPU of the same kind.
    """
    model = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} | {torch.backends.cpu.get_cpu_capability()}"


def machine() -> str:
    """One line naming where figures were measured: host, device, cores, torch threads and version."""
    device = try_gpu()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return (f"{platform.node()} | {device} ({name}) | {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads | torch {torch.__version__}")
