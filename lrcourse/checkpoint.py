"""Checkpoints of a training run: everything ``fit`` needs to go on as if never stopped.

A checkpoint is one file written by ``torch.save`` after every finished
epoch (to a temporary name, then renamed: a crash while writing leaves the
previous checkpoint whole). It holds plain data only, so it loads with
``torch.load(..., weights_only=True)``, which runs no code from the file:

============  ===============================================================
``net``       the class name and ``state_dict()`` of the network
``optimizer`` ``optimizer.state_dict()`` (rates, momentum buffers, ...)
``scheduler`` the built-in scheduler's ``state_dict()``, or None
``rng``       the states of Python's, NumPy's and torch's generators (CUDA
              too) at the end of the epoch
``loader``    a TensorLoader's ``seed`` and ``epoch`` counter (its shuffling
              is a function of the two), or None for another loader
``history``   the :class:`~lrcourse.training.History` so far, as a dict
``step``      optimizer steps taken so far
``world_size`` the number of data-parallel processes that trained it (1
              for one process; absent in older files, read as 1)
============  ===============================================================

:func:`load_checkpoint` checks the whole file against the run before
touching anything: a checkpoint of another network, of another kind of
scheduler or a damaged file raises :class:`CheckpointError` and leaves the
network, the optimizer and the scheduler as they were.
"""
from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch

from .checks import check_path

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_history", "FORMAT"]

FORMAT = "lrcourse-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot resume this run: damaged, or made by another run."""


def _rng_state() -> dict:
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(rng: dict) -> None:
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _loader_state(loader) -> dict | None:
    if hasattr(loader, "seed") and hasattr(loader, "epoch"):
        return {"seed": int(loader.seed), "epoch": int(loader.epoch)}
    return None


def save_checkpoint(path, *, net, optimizer, scheduler, history, step: int, loader, world_size: int = 1) -> None:
    """Write the state after a finished epoch to ``path`` (atomically: temporary file, then rename).

    ``world_size``: the processes training data-parallel (rank 0 writes for all)."""
    path = check_path("checkpoint", path)
    state = {
        "format": FORMAT,
        "net": {"class": type(net).__name__, "state": net.state_dict()},
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else
        {"class": type(scheduler).__name__, "state": scheduler.state_dict()},
        "rng": _rng_state(),
        "loader": _loader_state(loader),
        "history": history.to_dict(),
        "step": int(step),
        "world_size": int(world_size),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _read(path: Path, name: str = "resume") -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint (damaged or not written by fit): "
                              f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an lrcourse checkpoint (format {FORMAT!r} expected)")
    missing = {"net", "optimizer", "scheduler", "rng", "loader", "history", "step"} - set(state)
    if missing:
        raise CheckpointError(f"{path} is incomplete: it lacks {sorted(missing)}")
    return state


def read_history(path, name: str = "branch") -> tuple[dict, int]:
    """``(history, step)`` of the checkpoint at ``path``, touching nothing: what a branch starts from.

    Raises ``FileNotFoundError`` or :class:`CheckpointError` as loading would.
    """
    state = _read(check_path(name, path), name)
    return state["history"], int(state["step"])


def _check_net(path: Path, saved: dict, net) -> None:
    if saved["class"] != type(net).__name__:
        raise CheckpointError(f"{path} holds a {saved['class']}, not this {type(net).__name__}")
    own = net.state_dict()
    theirs = saved["state"]
    if set(own) != set(theirs):
        extra, lacking = sorted(set(theirs) - set(own)), sorted(set(own) - set(theirs))
        raise CheckpointError(f"{path} was saved from another network: keys only in the checkpoint "
                              f"{extra[:4]}, only in net {lacking[:4]}")
    for key, tensor in own.items():
        if tuple(theirs[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{path} was saved from another network: {key} has shape "
                                  f"{tuple(theirs[key].shape)} there, {tuple(tensor.shape)} in net")


def _check_optimizer(path: Path, saved: dict, optimizer) -> None:
    sizes = [len(g["params"]) for g in saved["param_groups"]]
    own = [len(g["params"]) for g in optimizer.param_groups]
    if sizes != own:
        raise CheckpointError(f"{path} holds an optimizer with parameter groups of sizes {sizes}, "
                              f"this run's has {own}")


def load_checkpoint(path, *, net, optimizer, scheduler, loader, world_size: int = 1, with_scheduler: bool = True,
                    name: str = "resume") -> dict:
    """Restore ``net``, ``optimizer``, ``scheduler``, the generators and the loader's order from ``path``.

    ``loader`` is the run's training loader: it must have as many batches
    per epoch as the run that wrote the checkpoint, and ``world_size`` must
    be its number of data-parallel processes (each rank held its piece of
    every batch: another count would train on other batches).
    ``with_scheduler=False`` (a branch, which brings its own schedule)
    neither checks nor restores the saved scheduler. ``name``: the argument
    the path came from, for the messages.

    Returns ``{"history": dict, "step": int}``. Everything is checked first;
    on :class:`CheckpointError` nothing has changed.
    """
    path = check_path(name, path)
    state = _read(path, name)
    saved_world = int(state.get("world_size", 1))
    if saved_world != world_size:
        raise CheckpointError(f"{path} was written by a run of {saved_world} data-parallel process"
                              f"{'es' if saved_world > 1 else ''}; this run has {world_size}: resume it with "
                              + (f"torchrun --nproc_per_node={saved_world}" if saved_world > 1 else
                                 "one process, without torchrun") + " and the same global batch")
    _check_net(path, state["net"], net)
    _check_optimizer(path, state["optimizer"], optimizer)
    saved_kind = None if state["scheduler"] is None else state["scheduler"]["class"]
    own_kind = None if scheduler is None else type(scheduler).__name__
    if with_scheduler and saved_kind != own_kind:
        raise CheckpointError(f"{path} was saved with scheduler {saved_kind}, this run has {own_kind}")
    if state["loader"] is not None and _loader_state(loader) is None:
        raise CheckpointError(f"{path} holds a TensorLoader's seed and epoch, but train_iter "
                              f"({type(loader).__name__}) has none to restore")
    per_epoch = state["history"].get("steps_per_epoch")
    if per_epoch != len(loader):
        raise CheckpointError(f"{path} comes from a run of {per_epoch} batches per epoch, "
                              f"train_iter has {len(loader)}")
    # everything matches: load (the optimizer first, as it can still refuse, e.g. a bad state)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: the optimizer state does not fit this optimizer: {err}") from err
    with torch.no_grad():
        for key, tensor in net.state_dict().items():
            tensor.copy_(state["net"]["state"][key])
    if with_scheduler and scheduler is not None:
        scheduler.load_state_dict(state["scheduler"]["state"])
    _set_rng_state(state["rng"])
    if state["loader"] is not None:
        loader.seed, loader.epoch = state["loader"]["seed"], state["loader"]["epoch"]
    return {"history": state["history"], "step": int(state["step"])}
