"""``fit``: the one training loop every chapter uses, and the ``History`` it returns.

What the loop promises:

* The rate for epoch ``e`` (or step ``k``) is in the optimizer *before* that
  epoch (step) trains. ``History.lr[e]`` is the rate of epoch ``e``'s first
  step and ``History.step_lr`` the rate every optimizer step used, read from
  ``optimizer.param_groups[0]["lr"]`` just before ``optimizer.step()``.
* A scheduler can only drive the optimizer that trains: a scheduler bound to
  another optimizer is refused; pass a factory ``lambda opt: StepLR(opt, 3)``
  and ``fit`` builds it on its own optimizer.
* Losses and accuracies are summed on the device and read back a few times
  per epoch for the live plot, never every step.

Kinds of ``scheduler``, and when each is applied (``interval='epoch'`` counts
epochs, ``'step'`` counts optimizer steps, both from 0):

============================  ==============================================
a schedule ``t -> lr``        group 0's rate is set to ``schedule(t)`` before
                              update ``t`` (other groups keep their ratio to
                              group 0). Any callable that maps 0 to a number.
``LRScheduler``               ``scheduler.step()`` after every epoch / step.
``ReduceLROnPlateau``         ``scheduler.step(metric)`` after every epoch
                              with ``monitor`` (default: the validation loss
                              in mode 'min', accuracy in 'max'; needs
                              ``valid_iter``); per step with the batch's
                              training loss. A test metric must be named and
                              warns: it spends the test set on a decision.
factory ``optimizer -> s``    called once with fit's optimizer; then as above.
============================  ==============================================

Schedule-free optimizers (the ``schedulefree`` package: ``SGDScheduleFree``,
``AdamWScheduleFree``, ...) keep two points: ``y``, where gradients are taken,
and ``x``, the average of the iterates, which is the model to evaluate and
keep. Their ``optimizer.train()`` puts ``y`` into the net's parameters and
``optimizer.eval()`` puts ``x``. ``fit`` calls them (for any optimizer that
has both methods): ``train()`` before every epoch's first step, ``eval()``
before every evaluation, ``track`` measurement and checkpoint, and when it
returns, so the net ``fit`` hands back holds ``x``. Their BatchNorm
statistics would need recomputing at ``x``: the book's nets have no
BatchNorm, and ``fit`` warns for a net that has.
"""
from __future__ import annotations

import io
import math
import numbers
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from . import distributed
from .checkpoint import load_checkpoint, read_history, save_checkpoint
from .checks import (check_batches, check_choice, check_device, check_flag, check_int, check_loss, check_path,
                     check_rate, check_seed)
from .config import is_headless, kernel_shell, seed_everything, try_gpu
from .metrics import Accumulator, evaluate, evaluate_sums, num_correct
from .plotting import Animator, plural

__all__ = ["History", "fit", "TrainingInterrupted", "last_history"]

INTERVALS = ("epoch", "step")
MONITORS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc")
POINTS_PER_EPOCH = 5  # host read-backs per epoch for the live plot


@dataclass
class History:
    """What happened in a run, one entry per finished epoch.

    ``train_loss`` and ``train_acc`` average over the epoch's batches as the
    weights changed; ``valid_loss`` and ``valid_acc`` (empty without a
    validation loader) and ``test_loss`` and ``test_acc`` are measured after
    the epoch. ``lr[e]`` is group 0's rate during epoch ``e``'s first step;
    ``step_lr`` holds group 0's rate for every optimizer step, in order;
    ``epoch_time`` the seconds of each epoch, evaluation included.
    ``diverged`` is ``(epoch, step)`` where the training loss was first seen
    non-finite (the run stopped there), else ``None``; ``interrupted`` is
    ``(epoch, step)`` where a ``KeyboardInterrupt`` stopped the run (the
    unfinished epoch is not recorded), else ``None``. ``steps_per_epoch``:
    the optimizer steps of a full epoch (the loader's batches).
    ``tracked``: what ``fit(track=...)`` measured during training, name ->
    ``[[step, value], ...]`` with ``step`` the optimizer steps done.
    ``branched``: ``(epoch, step)`` where a run started with
    ``fit(branch=...)`` left its trunk (the epochs before came from the
    checkpoint), else ``None``.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    valid_loss: list = field(default_factory=list)
    valid_acc: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    step_lr: list = field(default_factory=list)
    diverged: tuple | None = None
    steps_per_epoch: int = 0
    interrupted: tuple | None = None
    tracked: dict = field(default_factory=dict)
    branched: tuple | None = None

    @property
    def num_epochs(self) -> int:
        return len(self.train_loss)

    def lr_changes(self) -> list[float]:
        """Where group 0's rate changed, in epochs: ``k / steps_per_epoch`` for step ``k``.

        Step ``k`` is the first step that used the new rate, so a per-epoch
        change before epoch ``e`` shows as ``e`` (the boundary between the
        plotted points ``e`` and ``e + 1``).
        """
        per = self.steps_per_epoch or 1
        return [k / per for k in range(1, len(self.step_lr)) if self.step_lr[k] != self.step_lr[k - 1]]

    def to_dict(self) -> dict:
        """Plain lists and numbers (what a checkpoint stores)."""
        return {name: (list(value) if isinstance(value, (list, tuple)) else
                       {k: [list(p) for p in v] for k, v in value.items()} if isinstance(value, dict) else value)
                for name, value in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        """The inverse of :meth:`to_dict`."""
        fields = dict(data)
        for name in ("diverged", "interrupted", "branched"):
            if fields.get(name) is not None:
                fields[name] = tuple(fields[name])
        return cls(**fields)

    def summary(self) -> str:
        """One line: final loss and accuracies, and the time per epoch."""
        if not self.num_epochs:
            return "no finished epoch" + (f"; diverged at {self.diverged}" if self.diverged else "")
        per_epoch = sum(self.epoch_time) / self.num_epochs
        valid = f"valid acc {self.valid_acc[-1]:.3f}, " if self.valid_acc else ""
        test = f"test acc {self.test_acc[-1]:.3f}, " if self.test_acc else ""
        text = (f"loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}, {valid}{test}"
                f"{per_epoch:.1f} s/epoch")
        text += f"; diverged at (epoch, step) {self.diverged}" if self.diverged else ""
        return text + (f"; interrupted at (epoch, step) {self.interrupted}" if self.interrupted else "")

    def __repr__(self) -> str:
        return f"History({plural(self.num_epochs, 'epoch')}: {self.summary()})"


# ---------------------------------------------------------------- arguments

def _is_schedule(scheduler) -> bool:
    """A plain callable is a schedule when it maps t = 0 to a number (schedules are pure)."""
    if isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)) or not callable(scheduler):
        return False
    try:
        value = scheduler(0)
    except (TypeError, AttributeError, ValueError):  # a factory given an int, not an optimizer
        return False
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def has_modes(optimizer) -> bool:
    """Whether ``optimizer`` has ``train()`` and ``eval()`` (schedule-free optimizers), which ``fit`` calls."""
    return callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _check_modes(net: nn.Module, optimizer: Optimizer) -> None:
    """A schedule-free optimizer's own warmup is refused; BatchNorm under one warns."""
    if not has_modes(optimizer):
        return
    for i, group in enumerate(optimizer.param_groups):
        warmup = group.get("warmup_steps", 0)
        if warmup:
            raise ValueError(f"the optimizer's group {i} has warmup_steps={warmup!r}: it warms the rate inside "
                             "step(), where fit cannot see it, so History.step_lr would not be the rate applied. "
                             "Give warmup_steps=0 and a warmup schedule to fit instead, e.g. "
                             "scheduler=Warmup(Constant(lr), warmup_steps), interval='step'")
    norms = [type(m).__name__ for m in net.modules() if isinstance(m, BATCH_NORMS)]
    if norms:
        warnings.warn(f"net has {norms[0]} layers and {type(optimizer).__name__} evaluates at the averaged "
                      "weights x, while the running statistics were gathered at the training point y: "
                      "recompute them at x before trusting the evaluation (a few training batches through "
                      "the net in train mode, under torch.no_grad(), with the optimizer in eval mode)",
                      UserWarning, stacklevel=4)


def _make_optimizer(net: nn.Module, lr, optimizer, schedule) -> Optimizer:
    if lr is not None:
        check_rate("lr", lr)
    if optimizer is None:
        if lr is None:
            if schedule is None:
                raise ValueError("give lr (a number) or optimizer; got neither")
            lr = float(schedule(0))
        return torch.optim.SGD(net.parameters(), lr=lr)
    if lr is not None:
        raise ValueError("give either lr or optimizer, not both: the optimizer has its own rate")
    return resolve_optimizer(net, optimizer)


def resolve_optimizer(net: nn.Module, optimizer) -> Optimizer:
    """``optimizer`` itself, or ``optimizer(net.parameters())`` for a factory; it must train ``net``.

    Raises ``TypeError`` for anything else and ``ValueError`` when the
    optimizer holds parameters that are not ``net``'s.
    """
    if not isinstance(optimizer, Optimizer):
        if not callable(optimizer):
            raise TypeError("optimizer must be a torch.optim.Optimizer or a factory params -> optimizer, "
                            f"got {type(optimizer).__name__}")
        optimizer = optimizer(net.parameters())
        if not isinstance(optimizer, Optimizer):
            raise TypeError("the optimizer factory must return a torch.optim.Optimizer, "
                            f"got {type(optimizer).__name__}")
    own = {id(p) for p in net.parameters()}
    if any(id(p) not in own for g in optimizer.param_groups for p in g["params"]):
        raise ValueError("optimizer holds parameters that are not net's: build it from net.parameters()")
    return optimizer


def _check_track(track) -> dict:
    """``track`` as ``{name: (int >= 1 or frozenset of step counts, fn)}``; ``{}`` for None."""
    if track is None:
        return {}
    if not isinstance(track, dict):
        raise TypeError("track must be a dict {name: (when, fn)}, e.g. {'valid_acc': (50, lambda net: "
                        f"evaluate_accuracy(net, valid_iter))}}, got {type(track).__name__}")
    checked = {}
    for name, entry in track.items():
        if not isinstance(name, str):
            raise TypeError(f"track's names must be str, got {name!r}")
        if not (isinstance(entry, tuple) and len(entry) == 2 and callable(entry[1])):
            raise TypeError(f"track[{name!r}] must be a pair (when, fn) with fn(net) -> number, got {entry!r}")
        when, fn = entry
        if isinstance(when, numbers.Integral) and not isinstance(when, bool):
            check_int(f"track[{name!r}]'s when", int(when), minimum=1)
            when = int(when)
        else:
            try:
                steps = list(when)
            except TypeError:
                raise TypeError(f"track[{name!r}]'s when must be an int (every so many steps) or a collection "
                                f"of step counts, got {when!r}") from None
            for k in steps:
                check_int(f"track[{name!r}]'s steps", k, minimum=1)
            when = frozenset(int(k) for k in steps)
        checked[name] = (when, fn)
    return checked


# ---------------------------------------------------------------- drivers

class _Driver:
    """How a kind of scheduler is applied; the base class applies nothing."""

    def __init__(self, interval: str):
        self.interval = interval

    def start_epoch(self, epoch: int) -> None: ...
    def start_step(self, step: int) -> None: ...
    def end_step(self, loss: torch.Tensor) -> None: ...
    def end_epoch(self, metrics: dict) -> None: ...


class _ScheduleDriver(_Driver):
    """A pure schedule: write ``schedule(t)`` into the groups before update t."""

    def __init__(self, schedule, optimizer: Optimizer, interval: str):
        super().__init__(interval)
        self.schedule, self.optimizer = schedule, optimizer
        groups = optimizer.param_groups
        base = groups[0]["lr"]
        if len(groups) > 1 and not base > 0:
            raise ValueError("with several parameter groups, group 0's initial lr must be > 0 "
                             f"(the others keep their ratio to it), got {base!r}")
        self.ratios = [1.0] + [g["lr"] / base for g in groups[1:]]

    def _apply(self, t: int) -> None:
        lr = self.schedule(t)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"scheduler({t}) must return a finite number >= 0, got {lr!r}")
        # optimizer.load_state_dict (resume) replaces the group dicts: look them up each time
        for group, ratio in zip(self.optimizer.param_groups, self.ratios):
            group["lr"] = float(lr) * ratio

    def start_epoch(self, epoch):
        if self.interval == "epoch":
            self._apply(epoch)

    def start_step(self, step):
        if self.interval == "step":
            self._apply(step)


class _TorchDriver(_Driver):
    """A built-in scheduler: its constructor set the rate of update 0; step after each update."""

    def __init__(self, scheduler: LRScheduler, interval: str):
        super().__init__(interval)
        self.scheduler = scheduler

    def end_step(self, loss):
        if self.interval == "step":
            self.scheduler.step()

    def end_epoch(self, metrics):
        if self.interval == "epoch":
            self.scheduler.step()


class _PlateauDriver(_Driver):
    """``ReduceLROnPlateau``, fed the metric it monitors (a decision: on validation, not on test)."""

    def __init__(self, scheduler: ReduceLROnPlateau, interval: str, monitor, has_valid: bool):
        super().__init__(interval)
        if interval == "step":
            if monitor not in (None, "train_loss"):
                raise ValueError("per step, ReduceLROnPlateau can only monitor the batch's "
                                 f"'train_loss', got monitor={monitor!r}")
            if scheduler.mode != "min":
                raise ValueError("per step, ReduceLROnPlateau monitors the training loss and needs "
                                 f"mode='min', got mode={scheduler.mode!r}")
        elif monitor is None:
            if not has_valid:
                raise ValueError("ReduceLROnPlateau needs a metric to decide on: pass valid_iter (a "
                                 "validation split, e.g. load_fashion_mnist(256, valid=10000); it then "
                                 "monitors the validation loss) or name monitor, one of " + str(MONITORS))
            monitor = "valid_loss" if scheduler.mode == "min" else "valid_acc"
        else:
            check_choice("monitor", monitor, MONITORS)
            if monitor.startswith("valid") and not has_valid:
                raise ValueError(f"monitor={monitor!r} needs valid_iter, got valid_iter=None")
            if monitor.startswith("test"):
                warnings.warn(f"monitor={monitor!r}: ReduceLROnPlateau decides when to cut the rate on "
                              "the test set, so the test accuracy of this run is no longer an unbiased "
                              "estimate; monitor a validation split instead (valid_iter, "
                              "monitor='valid_loss')", UserWarning, stacklevel=5)
        self.scheduler, self.monitor = scheduler, monitor

    def end_step(self, loss):
        if self.interval == "step":
            self.scheduler.step(float(loss.detach()))  # one host sync per step: inherent to this mode

    def end_epoch(self, metrics):
        if self.interval == "epoch":
            self.scheduler.step(metrics[self.monitor])


def _make_driver(scheduler, optimizer: Optimizer, interval: str, monitor, schedule,
                 has_valid: bool) -> _Driver:
    if scheduler is None or schedule is not None:
        driver = _Driver(interval) if scheduler is None else \
            _ScheduleDriver(schedule, optimizer, interval)
    else:
        built = scheduler
        if not isinstance(built, (LRScheduler, ReduceLROnPlateau)):
            if not callable(built):
                raise TypeError("scheduler must be None, a schedule t -> lr, a torch LRScheduler, a "
                                "ReduceLROnPlateau or a factory optimizer -> scheduler; "
                                f"got {type(scheduler).__name__} {scheduler!r}")
            built = scheduler(optimizer)
            if not isinstance(built, (LRScheduler, ReduceLROnPlateau)):
                raise TypeError("scheduler is neither a schedule (scheduler(0) is no number) nor a "
                                "factory (scheduler(optimizer) returned "
                                f"{type(built).__name__}, not an LRScheduler)")
        if built.optimizer is not optimizer:
            raise ValueError("scheduler is bound to a different optimizer than the one fit trains "
                             "with, so its rates would never reach training. Pass a factory "
                             "instead, e.g. scheduler=lambda opt: StepLR(opt, step_size=3)")
        if isinstance(built, ReduceLROnPlateau):
            return _PlateauDriver(built, interval, monitor, has_valid)
        driver = _TorchDriver(built, interval)
    if monitor is not None:
        raise ValueError("monitor is only used with a ReduceLROnPlateau scheduler")
    return driver


# ---------------------------------------------------------------- progress

class _Progress:
    """A tqdm bar; headless it stays silent and prints its final line on close."""

    def __init__(self, total: int, enabled: bool, initial: int = 0):
        self.headless = is_headless()
        self.bar = None
        if not enabled:
            return
        if self.headless:
            from tqdm.std import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="step", file=io.StringIO(), ascii=False)
        else:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="step")

    def update_to(self, n: int, desc: str | None = None) -> None:
        """Move the bar to ``n`` steps done."""
        if self.bar is not None:
            self.update(n - self.bar.n, desc)

    def update(self, n: int, desc: str | None = None, **postfix) -> None:
        if self.bar is not None:
            if desc:
                self.bar.set_description(desc, refresh=False)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            if self.headless:
                _final_line(self.bar)
            self.bar.close()


# The runs of the cell now executing (headless): their final lines are shown as one.
_cell_runs = {"cell": None, "runs": 0, "steps": 0, "total": 0, "elapsed": 0.0, "handle": None}


def _final_line(bar) -> None:
    """Show a headless bar's final line; in a kernel, one line per cell however many runs it trains.

    The first run of a cell displays its line; each later run of the same cell
    replaces it with the sum ("3 runs: 100%| … | 7050/7050 [01:30, 78 step/s]"),
    so a book page shows one line of progress per cell.
    """
    from IPython.display import display

    shell = kernel_shell()
    if shell is None:
        print(bar)
        return
    runs = _cell_runs
    if runs["cell"] != shell.execution_count:
        runs.update(cell=shell.execution_count, runs=0, steps=0, total=0, elapsed=0.0, handle=None)
    runs["runs"] += 1
    runs["steps"] += bar.n - bar.initial
    runs["total"] += bar.total - bar.initial
    runs["elapsed"] += bar.format_dict["elapsed"]
    line = str(bar) if runs["runs"] == 1 else bar.format_meter(
        runs["steps"], runs["total"], runs["elapsed"], prefix=f"{runs['runs']} runs", unit="step")
    if runs["handle"] is None:
        runs["handle"] = display({"text/plain": line}, raw=True, display_id=True)
    else:
        runs["handle"].update({"text/plain": line}, raw=True)


# ---------------------------------------------------------------- interrupts

class TrainingInterrupted(KeyboardInterrupt):
    """``fit`` was stopped (the notebook's stop button, Ctrl-C); ``history`` holds the finished epochs."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


_last = {"history": None}


def last_history() -> History | None:
    """The History of the latest ``fit`` call, finished or not (after a stop: the finished epochs)."""
    return _last["history"]


class _HoldInterrupt:
    """Hold a SIGINT until the current optimizer step is complete, so the weights are never half-updated.

    Only the main thread can install a handler; elsewhere an interrupt
    arrives as usual, and a process that ignores SIGINT goes on ignoring it.
    A second interrupt while one is held stops at once.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def __enter__(self):
        self.requested, self.installed = False, False
        if self.enabled and threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a process that ignores it
            try:
                self.previous = signal.signal(signal.SIGINT, self._handler)
                self.installed = True
            except (ValueError, OSError):
                pass
        return self

    def check(self) -> None:
        """Raise the held ``KeyboardInterrupt`` now, at a step boundary."""
        if self.requested:
            raise KeyboardInterrupt

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.installed:  # None: the handler before was set outside Python; Python's default then
            signal.signal(signal.SIGINT, self.previous if self.previous is not None else
                          signal.default_int_handler)
        return False


# ---------------------------------------------------------------- the loop

def fit(net: nn.Module, train_iter, test_iter, *, valid_iter=None, num_epochs: int, lr=None,
        optimizer=None, scheduler=None, interval: str = "epoch", loss=None, device=None,
        animate: bool = True, progress: bool = True, seed: int | None = None, monitor: str | None = None,
        channels_last: bool = True, checkpoint=None, resume=None, branch=None, track=None) -> History:
    """Train ``net`` for ``num_epochs`` on ``train_iter``, evaluating on ``valid_iter`` and ``test_iter`` after each.

    ``valid_iter``: a validation split (``load_fashion_mnist(..., valid=N)``),
    evaluated after every epoch into ``History.valid_loss`` / ``valid_acc``;
    the split every decision is taken on (the plateau monitor's default).
    ``test_iter`` may be None when ``valid_iter`` is given: a tuning run
    that never reads the test set (``History.test_*`` stay empty).

    ``optimizer``: an optimizer over ``net``'s parameters or a factory
    ``params -> optimizer``; default ``SGD(lr=lr)`` (with a schedule and no
    ``lr``, ``lr = schedule(0)``). ``scheduler``: see the module docstring.
    ``interval``: ``'epoch'`` or ``'step'``, what the scheduler counts.
    ``loss``: default cross-entropy (mean over the batch). ``device``: default
    the loader's device, else :func:`~lrcourse.config.try_gpu`. ``seed``:
    seeds Python, NumPy and torch and restarts the loader's shuffling from it
    (build the net with ``lenet(seed=...)`` for the same initial weights).
    ``monitor``: what ``ReduceLROnPlateau`` watches, one of ``MONITORS``
    (default ``'valid_loss'``; a test metric warns).
    ``channels_last`` (default True): store ``net``'s 4-d weights as N, H, W,
    C (it stays so after ``fit``; the batches need not change). LeNet trains
    1.2 to 1.3x faster so on a CPU (2.8 s against 3.4 s per epoch on two
    cores, ``benchmarks/vs_d2l.py``); the convolutions add in another order,
    so ``False`` gives weights that differ in the last bits. Nets without 4-d
    weights (the MLP) are unaffected.

    ``checkpoint``: a file path; after every finished epoch the whole state
    (net, optimizer, scheduler, random generators, loader, History) is
    written there (see :mod:`lrcourse.checkpoint`). ``resume``: a path to
    such a file, or ``True`` for ``checkpoint``'s path if that file exists;
    the run then goes on after the saved epoch, with the same arguments as
    the run that wrote it, and ends exactly as that run would have (on a CPU
    bit for bit, the History's ``epoch_time`` aside). ``num_epochs`` counts
    all epochs, the resumed ones included; ``seed`` is not needed (the
    checkpoint's generators and loader order replace it). A ``checkpoint``
    path holding ``{epoch}`` keeps one file per epoch (``"trunk-{epoch}.pt"``
    writes ``trunk-1.pt``, ``trunk-2.pt``, ...); ``resume=True`` then goes on
    from the latest.

    ``branch``: a checkpoint path to branch from: the run starts where that
    checkpoint's run stood (weights, optimizer state such as momentum,
    generators, loader order, History) and goes on with *this* call's
    ``scheduler``, which must be a schedule ``t -> lr`` (or None: the rate
    stays where the checkpoint left it), evaluated at the whole run's ``t``
    (epochs or steps counted from the trunk's start). So a cooldown branched
    from a constant-rate trunk at step ``s`` is ``WSD(peak, s + d, warmup,
    d)``, and the run ends exactly as one trained from scratch on that
    schedule would (on a CPU bit for bit). The file is only read;
    ``History.branched`` records where the branch began. Not with ``resume``.

    ``track``: what to measure during training, ``{name: (when, fn)}``.
    ``fn(net)`` returns a number; it is called after optimizer step ``k``
    (``k`` counting from 1) when ``when`` is an int and ``k % when == 0``, or
    when ``k`` is in ``when``, a collection of step counts. The values go to
    ``History.tracked[name]`` as ``[k, value]`` pairs. ``fn`` may use the net
    in any mode and with gradients; it must leave the weights as they were
    (``fit`` puts the net back in training mode and clears the gradients).
    Example: ``track={"valid_acc": (50, lambda net: evaluate_accuracy(net, valid_iter))}``.

    Data-parallel: when ``torch.distributed`` is initialized (a script
    started by ``torchrun``, see :mod:`lrcourse.distributed`), every rank
    calls ``fit`` with the same arguments. ``net`` is wrapped in
    ``DistributedDataParallel`` (unless it already is) after a check that
    its weights are equal on every rank; each rank trains on its piece of
    every global batch of a TensorLoader (whose ``batch_size`` is the global
    batch and must split evenly over the ranks), or on what a DataLoader
    with a ``DistributedSampler`` gives it. Metrics are summed over the
    ranks, so the History is the same on all (``epoch_time``: the slowest
    rank's); rank 0 alone draws, prints and writes the checkpoint, which
    resumes under the same number of processes only. ``device`` must be
    given unless the loader has one (each rank's own, e.g. ``cuda:LOCAL_RANK``).
    An argument that fails its check on one rank fails on all.

    The notebook's stop button (a ``KeyboardInterrupt``) is held until the
    current optimizer step is complete; ``fit`` then raises
    :class:`TrainingInterrupted`, whose ``history`` (also
    :func:`last_history`) holds the finished epochs, which the live plot
    shows. A non-finite training loss stops the run with a warning and sets
    ``History.diverged``; the History so far is returned.
    """
    try:
        run = _Run(net, train_iter, valid_iter, test_iter, num_epochs=num_epochs, lr=lr, optimizer=optimizer,
                   scheduler=scheduler, interval=interval, loss=loss, device=device, animate=animate,
                   progress=progress, seed=seed, monitor=monitor, channels_last=channels_last,
                   checkpoint=checkpoint, resume=resume, branch=branch, track=track)
    except Exception as err:
        distributed.agree(err)  # every rank raises, none waits in a collective
        raise
    distributed.agree(None)
    if distributed.is_distributed():
        run.go_parallel()
    history, epoch = run.history, run.history.num_epochs
    if run.finished:  # a resumed run that had diverged or already trained num_epochs
        return history
    try:
        with _HoldInterrupt(enabled=run.world == 1) as held:  # ranks must stop at the same step
            for epoch in range(history.num_epochs, num_epochs):
                start = time.perf_counter()
                run.driver.start_epoch(epoch)
                train_loss, train_acc, lrs = train_epoch(run, epoch, held)
                if history.diverged:
                    break
                metrics = dict(train_loss=train_loss, train_acc=train_acc)
                run.eval_mode()  # a schedule-free optimizer's averaged weights: evaluated and saved
                for split, data_iter in (("valid", valid_iter), ("test", test_iter)):
                    if data_iter is not None:
                        metrics[f"{split}_loss"], metrics[f"{split}_acc"] = run.evaluate(data_iter)
                held.check()
                run.driver.end_epoch(metrics)
                run.end_epoch(metrics, lrs, time.perf_counter() - start)  # History, checkpoint, plot
    except KeyboardInterrupt:
        raise run.interrupted(epoch) from None
    except RuntimeError as err:
        raise run.explain(err)
    finally:
        run.close()
    return history


def train_epoch(run: "_Run", epoch: int, held: "_HoldInterrupt") -> tuple[float, float, list]:
    """One pass over ``run.train_iter``: ``(train_loss, train_acc, the rate of every step)``.

    The loss and the correct predictions are summed on the device and read
    back only where the live plot takes a point (:data:`POINTS_PER_EPOCH`).
    A non-finite loss ends the pass and sets ``run.history.diverged``.
    """
    net, optimizer, driver, loss, device = run.net, run.optimizer, run.driver, run.loss, run.device
    group0 = optimizer.param_groups[0]
    net.train()
    run.train_mode()
    sums = Accumulator(3)  # loss * batch size, correct predictions, examples
    lrs, num_batches = [], len(run.train_iter)
    for i, (X, y) in enumerate(run.batches(epoch)):
        held.check()
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if run.step == 0:
            run.first_batch = (tuple(X.shape), tuple(y.shape))  # named if net cannot take them
        driver.start_step(run.step)
        optimizer.zero_grad(set_to_none=True)
        y_hat = net(X)
        l = loss(y_hat, y)
        l.backward()
        lrs.append(group0["lr"])  # the rate this step uses
        optimizer.step()
        driver.end_step(run.global_loss(l) if run.world > 1 else l)
        run.step += 1
        if run.track:
            run.measure()
        with torch.no_grad():
            sums.add(l.detach() * y.shape[0], num_correct(y_hat, y), y.shape[0])
        if (i + 1) % run.every == 0 or i + 1 == num_batches:
            total, correct, n = distributed.reduce_floats(*sums.data) if run.world > 1 else \
                (sums[0], sums[1], sums[2])  # host sync
            train_loss, train_acc = total / n, correct / n
            run.show_progress(epoch, i + 1, train_loss, train_acc)
            if not math.isfinite(train_loss):
                run.diverged(epoch, lrs)
                break
    return train_loss, train_acc, lrs


# ---------------------------------------------------------------- what fit sets up around the loop

class _Run:
    """Everything ``fit`` holds beside the loop: checked arguments, optimizer, driver, plot, bar, checkpoint.

    Every argument is checked before anything changes (the net moves, a
    generator is seeded or a checkpoint loads only once all are good).
    """

    def __init__(self, net, train_iter, valid_iter, test_iter, *, num_epochs, lr, optimizer, scheduler,
                 interval, loss, device, animate, progress, seed, monitor, channels_last, checkpoint,
                 resume, branch=None, track=None):
        check_int("num_epochs", num_epochs, minimum=1)
        if interval not in INTERVALS:
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
        try:
            num_batches = len(train_iter)
        except TypeError:
            raise TypeError("train_iter must have a len() (its batches per epoch), got "
                            f"{type(train_iter).__name__}") from None
        if num_batches == 0:
            raise ValueError("train_iter holds no batches")
        if test_iter is None and valid_iter is None:
            raise ValueError("fit needs test_iter or valid_iter to evaluate on, got None for both")
        if test_iter is not None:
            check_batches("test_iter", test_iter)
        elif isinstance(monitor, str) and monitor.startswith("test"):
            raise ValueError(f"monitor={monitor!r} needs test_iter, got test_iter=None")
        if valid_iter is not None:
            check_batches("valid_iter", valid_iter)
        check_loss(loss)
        self.track = _check_track(track)
        check_seed(seed, allow_none=True)
        for name, flag in (("animate", animate), ("progress", progress), ("channels_last", channels_last)):
            check_flag(name, flag)
        self.checkpoint = check_path("checkpoint", checkpoint) if checkpoint is not None else None
        resume = self._resume_path(resume, num_epochs)
        schedule = scheduler if _is_schedule(scheduler) else None
        branch = self._branch_path(branch, resume, scheduler, schedule, num_epochs)
        self.world, self.rank = distributed.world_size(), distributed.rank()
        if distributed.is_distributed():
            device = self._parallel_device(device, train_iter)
            self._check_parallel_loader(train_iter)
        if device is None:
            device = getattr(train_iter, "device", None) or try_gpu()
        self.device = check_device(device)
        net.to(self.device, memory_format=torch.channels_last) if channels_last else net.to(self.device)
        self.net, self.train_iter, self.num_epochs = net, train_iter, num_epochs
        self.optimizer = _make_optimizer(net, lr, optimizer, schedule)
        _check_modes(net, self.optimizer)
        self.modes = has_modes(self.optimizer)
        self.driver = _make_driver(scheduler, self.optimizer, interval, monitor, schedule,
                                   valid_iter is not None)
        self.loss = loss if loss is not None else nn.CrossEntropyLoss()
        self.scheduler = getattr(self.driver, "scheduler", None)  # a built-in one's state is checkpointed
        self.history, self.step = History(steps_per_epoch=num_batches), 0
        if resume is not None:  # the checkpoint's generators and loader order replace the seed's
            saved = load_checkpoint(resume, net=distributed.unwrap(net), optimizer=self.optimizer,
                                    scheduler=self.scheduler, loader=train_iter, world_size=self.world)
            self.history, self.step = History.from_dict(saved["history"]), saved["step"]
        elif branch is not None:
            saved = load_checkpoint(branch, net=distributed.unwrap(net), optimizer=self.optimizer,
                                    scheduler=None, loader=train_iter, world_size=self.world,
                                    with_scheduler=False, name="branch")
            self.history, self.step = History.from_dict(saved["history"]), saved["step"]
            self.history.branched = (self.history.num_epochs, self.step)
        elif seed is not None:
            seed_everything(seed)
            if hasattr(train_iter, "reseed"):
                train_iter.reseed(seed)
        _last["history"] = self.history
        self.every = max(1, num_batches // POINTS_PER_EPOCH) if animate else num_batches
        done = self.history.num_epochs
        self.finished = bool(self.history.diverged) or done >= num_epochs
        self.plotted = ["train_loss", "train_acc"] + (["valid_acc"] if valid_iter is not None else []) \
            + (["test_acc"] if test_iter is not None else [])
        self.animator = Animator(xlabel="epoch", xlim=[0, num_epochs], figsize=(4.5, 2.8),
                                 legend=[n.replace("_", " ") for n in self.plotted]) \
            if animate and not self.finished and self.rank == 0 else None
        if self.animator:  # a resumed run's finished epochs
            for e in range(done):
                self.animator.add(e + 1, tuple(getattr(self.history, n)[e] for n in self.plotted))
        self.bar = _Progress(num_epochs * num_batches, progress and not self.finished and self.rank == 0,
                             initial=done * num_batches)
        self.first_batch = None
        self.inner = distributed.unwrap(net)  # what is evaluated, measured and saved

    # -------------------------------------------------------- data-parallel
    def _parallel_device(self, device, train_iter):
        """Under torch.distributed: this rank's device, given or the loader's; never a guess."""
        where = f"under torch.distributed (rank {self.rank} of {self.world})"
        if device is None:
            device = getattr(train_iter, "device", None)
            if device is None:
                raise ValueError(f"{where} fit needs device=..., this rank's own (e.g. "
                                 "lrcourse.distributed.init() returns it: cuda:LOCAL_RANK or the CPU); "
                                 f"train_iter ({type(train_iter).__name__}) names none")
        device = check_device(device)
        backend = torch.distributed.get_backend()
        if backend == "nccl" and device.type != "cuda":
            raise ValueError(f"{where} with the 'nccl' backend fit trains on a GPU, got device {device}: "
                             "give device=cuda:LOCAL_RANK, or init the group with backend 'gloo' for the CPU")
        return device

    def _check_parallel_loader(self, train_iter):
        if hasattr(train_iter, "shard"):
            distributed.check_divisible("train_iter", train_iter, self.world)
        elif distributed.sampler_of(train_iter) is None:
            raise ValueError(f"under torch.distributed fit needs train_iter to be a TensorLoader (each rank "
                             f"takes its piece of every batch) or a DataLoader with a DistributedSampler; "
                             f"a {type(train_iter).__name__} without one would give every rank the same "
                             "examples")

    def go_parallel(self) -> None:
        """Check that the ranks start alike, then wrap the net in DDP (collectives: every rank calls it)."""
        loader = self.train_iter
        distributed.check_same("train_iter's (seed, epoch, batches)",
                               (getattr(loader, "seed", None), getattr(loader, "epoch", None), len(loader)))
        distributed.check_same("the run's finished epochs and steps", (self.history.num_epochs, self.step))
        distributed.check_same_params(self.inner)
        self.net = distributed.wrap(self.net, self.device)

    def batches(self, epoch: int):
        """This rank's batches of ``epoch``: its piece of each global batch, or the sampler's share."""
        loader = self.train_iter
        if not distributed.is_distributed():
            return loader
        sampler = distributed.sampler_of(loader)
        if sampler is not None:
            sampler.set_epoch(epoch)
            return loader
        return loader.shard(self.rank, self.world)

    def global_loss(self, l: torch.Tensor) -> torch.Tensor:
        """The global batch's mean loss (the ranks' pieces are equal: the mean of their means)."""
        if not isinstance(self.driver, _PlateauDriver):
            return l  # only a per-step plateau reads it
        return torch.tensor(distributed.reduce_floats(l)[0] / self.world)

    def evaluate(self, data_iter) -> tuple[float, float]:
        """Mean loss and accuracy on ``data_iter``; data-parallel, each rank a piece, summed over the ranks."""
        if not distributed.is_distributed():
            return evaluate(self.inner, data_iter, self.loss, self.device)
        if hasattr(data_iter, "shard"):
            batches = data_iter.shard(self.rank, self.world)
        elif distributed.sampler_of(data_iter) is not None:
            batches = data_iter
        else:  # every rank evaluates it whole: the same numbers
            return evaluate(self.inner, data_iter, self.loss, self.device)
        total, correct, n = distributed.reduce_floats(*evaluate_sums(self.inner, batches, self.loss, self.device))
        return total / n, correct / n

    def checkpoint_file(self, epoch: int):
        """Where the checkpoint after ``epoch`` finished epochs goes: ``checkpoint`` with ``{epoch}`` filled."""
        text = str(self.checkpoint)
        return Path(text.replace("{epoch}", str(epoch))) if "{epoch}" in text else self.checkpoint

    def _resume_path(self, resume, num_epochs: int):
        if resume is True:
            if self.checkpoint is None:
                raise ValueError("resume=True resumes from checkpoint's path: give checkpoint too")
            if "{epoch}" in str(self.checkpoint):  # the latest of the files kept per epoch
                found = [self.checkpoint_file(e) for e in range(num_epochs, 0, -1)]
                return next((f for f in found if f.is_file()), None)
            return self.checkpoint if self.checkpoint.is_file() else None
        if resume is None or resume is False:
            return None
        resume = check_path("resume", resume)
        if not resume.is_file():
            raise FileNotFoundError(f"resume: no checkpoint at {resume}")
        return resume

    def _branch_path(self, branch, resume, scheduler, schedule, num_epochs: int):
        if branch is None:
            return None
        branch = check_path("branch", branch)
        if resume is not None:
            raise ValueError("give resume or branch, not both: resume goes on with the same schedule, branch "
                             "with a new one")
        if scheduler is not None and schedule is None:
            raise ValueError("branch needs scheduler to be a schedule t -> lr (lrcourse.schedules) or None; a "
                             f"{type(scheduler).__name__} would start its own count afresh at the branch")
        saved = History.from_dict(read_history(branch)[0])
        if saved.diverged or saved.num_epochs >= num_epochs:
            why = f"diverged at {saved.diverged}" if saved.diverged else \
                f"holds {plural(saved.num_epochs, 'finished epoch')}"
            raise ValueError(f"branch: the checkpoint {branch} {why}, so num_epochs={num_epochs} leaves nothing "
                             "to train (num_epochs counts the trunk's epochs too)")
        if self.checkpoint is not None and "{epoch}" not in str(self.checkpoint) \
                and self.checkpoint.resolve() == branch.resolve():
            raise ValueError(f"checkpoint must not be branch ({branch}): the branch would overwrite its trunk")
        return branch

    def show_progress(self, epoch: int, done: int, train_loss: float, train_acc: float) -> None:
        """The bar, and a point of the live plot, ``done`` batches into ``epoch``."""
        num_batches = len(self.train_iter)
        self.bar.update_to(epoch * num_batches + done, desc=f"epoch {epoch + 1}/{self.num_epochs}")
        if self.animator and math.isfinite(train_loss):
            self.animator.add(epoch + done / num_batches,
                              (train_loss, train_acc) + (None,) * (len(self.plotted) - 2))

    def measure(self) -> None:
        """Call the ``track`` functions due after this step; record their values in the History."""
        step, net = self.step, self.inner
        for name, (when, fn) in self.track.items():
            if (step % when == 0) if isinstance(when, int) else step in when:
                self.eval_mode()
                value = fn(net)
                if isinstance(value, torch.Tensor) and value.numel() == 1:
                    value = value.item()
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise TypeError(f"track[{name!r}]'s function must return a number, got {value!r}")
                if self.world > 1:  # rank 0's value on every rank (the others add 0)
                    value = distributed.reduce_floats(value if self.rank == 0 else 0.0)[0]
                self.history.tracked.setdefault(name, []).append([step, float(value)])
                net.train()
                self.train_mode()
                self.optimizer.zero_grad(set_to_none=True)

    def diverged(self, epoch: int, lrs: list) -> None:
        self.history.diverged = (epoch, self.step - 1)
        self.history.step_lr.extend(float(v) for v in lrs)
        warnings.warn(f"the training loss became non-finite by epoch {epoch}, step {self.step - 1}; "
                      "the run stopped there", RuntimeWarning, stacklevel=4)

    def end_epoch(self, metrics: dict, lrs: list, seconds: float) -> None:
        """Record a finished epoch, write the checkpoint, plot the evaluation."""
        history = self.history
        history.step_lr.extend(float(v) for v in lrs)
        for name, value in metrics.items():
            getattr(history, name).append(value)
        history.lr.append(float(lrs[0]))
        if self.world > 1:
            seconds = distributed.reduce_floats(seconds, op="max")[0]  # the slowest rank's
        history.epoch_time.append(seconds)
        if self.checkpoint is not None:
            self.eval_mode()
            failed = None
            try:
                if self.rank == 0:
                    save_checkpoint(self.checkpoint_file(history.num_epochs), net=self.inner, optimizer=self.optimizer,
                                    scheduler=self.scheduler, history=history, step=self.step,
                                    loader=self.train_iter, world_size=self.world)
            except Exception as err:
                failed = err
            distributed.agree(failed)  # under DDP also a barrier: no rank reads the file before it is whole
        if self.animator:
            self.animator.add(history.num_epochs, (None, None) + tuple(metrics[n] for n in self.plotted[2:]))
        self.bar.update(0, loss=f"{metrics['train_loss']:.3f}", train_acc=f"{metrics['train_acc']:.3f}",
                        **{k: f"{v:.3f}" for k, v in metrics.items() if k in ("valid_acc", "test_acc")})

    def interrupted(self, epoch: int) -> "TrainingInterrupted":
        history = self.history
        history.interrupted = (epoch, self.step)
        saved = f"; the checkpoint {self.checkpoint_file(history.num_epochs)} holds them" \
            if self.checkpoint and history.num_epochs else ""
        return TrainingInterrupted(
            f"fit stopped at epoch {epoch}, step {self.step}: the History of the {history.num_epochs} "
            f"finished epochs is the exception's .history and lrcourse.last_history(){saved}", history)

    def explain(self, err: RuntimeError) -> Exception:
        """Only the first step's failure is about the batches' shapes: say so; others pass unchanged."""
        if self.step > 0 or self.first_batch is None:
            return err
        (X_shape, y_shape) = self.first_batch
        explained = ValueError(f"net could not train on train_iter's first batch (X of shape {X_shape}, "
                               f"y of shape {y_shape}): {type(err).__name__}: {err}. Check that net "
                               "takes such X and the loss such y")
        explained.__cause__ = err
        return explained

    def train_mode(self) -> None:
        """``optimizer.train()`` where it has one (schedule-free: the parameters become y)."""
        if self.modes:
            self.optimizer.train()

    def eval_mode(self) -> None:
        """``optimizer.eval()`` where it has one (schedule-free: the parameters become the average x)."""
        if self.modes:
            self.optimizer.eval()

    def close(self) -> None:
        self.eval_mode()  # the net fit returns holds a schedule-free optimizer's averaged weights
        self.bar.close()
        if self.animator:
            self.animator.flush()
