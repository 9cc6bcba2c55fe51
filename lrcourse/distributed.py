"""Data-parallel training with ``torch.distributed``: what ``fit`` does when a process group is up.

``torchrun --nproc_per_node=K script.py`` starts K processes (ranks). Each
calls :func:`init` (``torch.distributed.init_process_group``), builds the
same net from the same seed and calls ``fit`` as a single process would.
``fit`` then

- wraps the net in ``DistributedDataParallel`` (DDP): after every backward
  pass DDP all-reduces the gradients, ``g = (g_0 + ... + g_{K-1}) / K``, so
  every rank takes the same step;
- gives rank ``r`` piece ``r`` of every global batch of a
  :class:`~lrcourse.data.TensorLoader` (:meth:`TensorLoader.shard`): all
  ranks draw the same permutation from the seed, so with a loss that
  averages over the batch, K ranks at batch ``B/K`` compute the mean
  gradient of the same ``B`` examples one process at batch ``B`` does, and
  end with the same weights (to float rounding: the sums are added in
  another order);
- all-reduces the sums behind every metric (:func:`reduce_floats`), so the
  History is the same on every rank;
- draws, prints and writes checkpoints on rank 0 only.

A check that fails on one rank fails on all (:func:`agree`): the others
raise too instead of waiting in the next collective. A rank that crashes
later is stopped by its launcher: ``torchrun`` ends the other ranks when one
fails, and :func:`launch` ends the whole process group on an error, a
timeout or an interrupt.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from .checks import check_int

__all__ = ["is_distributed", "rank", "world_size", "init", "agree", "reduce_floats", "check_same", "check_same_params",
           "wrap", "unwrap", "sampler_of", "check_divisible", "report", "launch", "LaunchError", "REPORT_ENV"]

REPORT_ENV = "LRCOURSE_REPORT"  # where report() writes rank 0's History (set by launch)


class LaunchError(RuntimeError):
    """A script started by :func:`launch` failed, timed out or reported no History."""


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialized in this process."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the group (0 without one)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes in the group (1 without one)."""
    return dist.get_world_size() if is_distributed() else 1


def init(backend: str | None = None) -> torch.device:
    """Join the group ``torchrun`` describes (its environment variables) and return this rank's device.

    ``backend`` defaults to ``'nccl'`` when there is a GPU for every local
    rank, else ``'gloo'`` (any CPU). Under ``'nccl'`` the device is
    ``cuda:LOCAL_RANK``; under ``'gloo'`` the CPU, with the cores shared
    out among the local ranks (``torch.set_num_threads``).
    """
    local_rank, local_size = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= local_size else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl', 'gloo' or None, got {backend!r}")
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_size))
        dist.init_process_group("gloo")
    return device


# ---------------------------------------------------------------- collectives fit uses

def _collective_device() -> torch.device:
    """Where the backend's tensors live: the current GPU for NCCL, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(error: BaseException | None) -> None:
    """Every rank calls this at the same point, with the exception its own checks raised or None.

    If any rank has one, every rank raises: that rank its own exception,
    the others a ``RuntimeError`` naming the failed rank and its message.
    Without a group it raises ``error`` when there is one.
    """
    if error is not None and not isinstance(error, BaseException):
        raise TypeError(f"error must be an exception or None, got {type(error).__name__} {error!r}")
    if not is_distributed():
        if error is not None:
            raise error
        return
    failed = torch.tensor([0 if error is None else 1], device=_collective_device())
    dist.all_reduce(failed, op=dist.ReduceOp.MAX)
    if not failed.item():
        return
    messages = [None] * world_size()
    dist.all_gather_object(messages, None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    first = next(r for r, m in enumerate(messages) if m is not None)
    raise RuntimeError(f"rank {first} of {world_size()} failed, so rank {rank()} stops too: {messages[first]}")


def reduce_floats(*values, op: str = "sum") -> list[float]:
    """Each value (numbers or 0-d tensors) reduced over all ranks, ``op`` ``'sum'`` or ``'max'``; one all-reduce.

    Without a group, the values themselves, as floats. Reduced in float64,
    so counts stay exact.
    """
    if op not in ("sum", "max"):
        raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
    flat = torch.stack([torch.as_tensor(v, dtype=torch.float64).detach().reshape(()).cpu() for v in values])
    if is_distributed():
        flat = flat.to(_collective_device())
        dist.all_reduce(flat, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return flat.cpu().tolist()


def check_same(name: str, value) -> None:
    """``ValueError`` on every rank unless ``value`` (plain data) is the same on all ranks."""
    if not is_distributed():
        return
    values = [None] * world_size()
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        raise ValueError(f"{name} must be the same on every rank, got {values} on ranks 0 to {len(values) - 1}")


def check_same_params(net: nn.Module) -> None:
    """``ValueError`` on every rank unless ``net``'s parameters and buffers are equal on all ranks.

    Compares each tensor's elementwise maximum and minimum over the ranks
    (two all-reduces of all the weights, once per run). DDP would otherwise
    copy rank 0's weights over the others' without a word, hiding a net
    built from another seed.
    """
    _check_module(net)
    tensors = [t.detach() for t in list(net.parameters()) + list(net.buffers()) if t.is_floating_point()]
    if not tensors or not is_distributed():
        return
    flat = torch.cat([t.reshape(-1).to(_collective_device(), torch.float64) for t in tensors])
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    differ = int((high != low).sum())
    if differ:
        raise ValueError(f"net's weights differ across the {world_size()} ranks ({differ} of {flat.numel()} "
                         "values): build it the same way on every rank, e.g. mlp(seed=0), before fit")


def _check_module(net) -> None:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")


def wrap(net: nn.Module, device: torch.device) -> DistributedDataParallel:
    """``net`` in ``DistributedDataParallel`` (``net`` itself when it already is)."""
    _check_module(net)
    if isinstance(net, DistributedDataParallel):
        return net
    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (``net`` itself otherwise): what checkpoints and evaluation use."""
    _check_module(net)
    return net.module if isinstance(net, DistributedDataParallel) else net


def sampler_of(loader) -> DistributedSampler | None:
    """The ``DistributedSampler`` of a ``DataLoader`` (None for anything else)."""
    sampler = getattr(loader, "sampler", None) if isinstance(loader, DataLoader) else None
    return sampler if isinstance(sampler, DistributedSampler) else None


def check_divisible(name: str, loader, world: int) -> None:
    """``ValueError`` unless every batch of ``loader`` (a TensorLoader) splits evenly over ``world`` ranks.

    Unequal pieces would weight the examples of the smaller piece more in
    DDP's average of the ranks' mean gradients.
    """
    check_int("world", world, minimum=1)
    if not hasattr(loader, "batch_sizes"):
        raise TypeError(f"{name} must be a TensorLoader, got {type(loader).__name__}")
    sizes = loader.batch_sizes()
    if loader.batch_size % world:
        raise ValueError(f"{name}'s batch_size {loader.batch_size} does not split over the {world} ranks: "
                         f"give a global batch divisible by {world}")
    if sizes[-1] % world:
        raise ValueError(f"{name}'s last batch holds {sizes[-1]} examples ({loader.num_examples} in all), "
                         f"which do not split over the {world} ranks: use drop_last=True or a number of "
                         f"examples divisible by {world}")


# ---------------------------------------------------------------- a notebook launches torchrun

def report(history) -> None:
    """In a script started by :func:`launch`: rank 0 writes ``history`` (a History) for the notebook.

    Does nothing on other ranks or outside :func:`launch` (no ``LRCOURSE_REPORT``).
    """
    from .training import History

    if not isinstance(history, History):
        raise TypeError(f"history must be a History (what fit returns), got {type(history).__name__}")
    path = os.environ.get(REPORT_ENV)
    if path and rank() == 0:
        Path(path).write_text(json.dumps(history.to_dict()))


def _stop(proc: subprocess.Popen) -> None:
    """End ``proc``'s whole session (torchrun and its ranks): SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _first_traceback(lines: list) -> str:
    """The first Python traceback in a run's output (torchrun prefixes a rank's lines with ``[rankN]:``)."""
    for i, line in enumerate(lines):
        found = re.match(r"(\[rank\d+\]:\s?)?Traceback", line)
        if found:
            prefix, end = found.group(1) or "", i + 1
            while end < len(lines) and lines[end].startswith(prefix) and lines[end][len(prefix):][:1] in (" ", "\t"):
                end += 1
            if end < len(lines) and lines[end].startswith(prefix):
                end += 1  # the exception's own line
            return "the first error:\n" + "".join(lines[i:end])
    return ""


def launch(script, *args, nproc_per_node: int = 2, module: bool = False, timeout: float = 600,
           echo: bool = True, env: dict | None = None):
    """Run ``torchrun --standalone --nproc_per_node=N script args...`` and return rank 0's History.

    ``script`` is a file path, or a module name when ``module=True``
    (``torchrun -m``); it must call :func:`report` with its History. The
    processes' output is printed as it comes (``echo``). ``timeout``: seconds
    before the run is stopped. The processes run in a session of their own,
    which is ended on a failure, a timeout or an interrupt (the notebook's
    stop button), so no rank is left behind.

    Raises :class:`LaunchError` with the output's last lines when the run
    fails, times out or reports nothing.
    """
    from .training import History

    check_int("nproc_per_node", nproc_per_node, minimum=1)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not module and not Path(script).is_file():
        raise FileNotFoundError(f"script: no file at {script}")
    with tempfile.TemporaryDirectory(prefix="lrcourse-launch-") as tmp:
        out = Path(tmp) / "history.json"
        run_env = dict(os.environ, **(env or {}), **{REPORT_ENV: str(out)})
        run_env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc_per_node)))
        if sys.platform.startswith("linux"):
            run_env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # one machine: the loopback interface
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={nproc_per_node}"] + (["-m"] if module else []) + [str(script)] \
            + [str(a) for a in args]
        lines = []
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=run_env, start_new_session=True)

        def read():
            for line in proc.stdout:
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            reader.join(5)
            raise LaunchError(f"{script} ran past timeout={timeout} s and was stopped; its last output:\n"
                              + "".join(lines[-20:])) from None
        except BaseException:  # KeyboardInterrupt: the stop button
            _stop(proc)
            raise
        reader.join(5)
        if code != 0:
            raise LaunchError(f"torchrun {script} failed with exit code {code}; {_first_traceback(lines)}"
                              "the output's last lines:\n" + "".join(lines[-12:]))
        if not out.is_file():
            raise LaunchError(f"{script} finished but reported no History: call "
                              "lrcourse.distributed.report(history) after fit")
        return History.from_dict(json.loads(out.read_text()))
