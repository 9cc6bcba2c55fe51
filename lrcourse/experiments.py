"""Named sweeps: defined once, run resumably, stored with provenance, loaded by the chapters.

A *sweep* trains every strategy at every peak rate of its grid on every
seed, from the same initial weights ``net(seed)`` and the same batch order
for all of them (the seeds are paired). Its definition (:class:`Sweep`:
strategies with their formulas and grids, seeds, epochs, data split) lives
here, once. One run gives one record::

    strategy, seed, lr (the peak), valid_acc, test_acc, train_loss, dead, seconds

``valid_acc`` and ``test_acc`` are the accuracies after the last epoch;
``dead`` says the run learned nothing (:func:`is_dead`). Decisions (which
peak is best) are taken on ``valid_acc``; ``test_acc`` is only reported.

Computing (``python -m lrcourse.experiments run NAME``, or ``make results``
for all) appends each finished run to ``NAME.runs.jsonl`` beside the result,
so an interrupted sweep goes on where it stopped; when every run is there it
writes ``NAME.json``: the records, the definition and the provenance
(command, package hash, torch version, device, threads, date, seconds).
``--shard i/k`` runs every k-th run only, so k processes share a sweep.

A chapter calls :func:`load_or_run`: it loads the stored file when its
definition equals the sweep's (for the profile in force: the quick profile
shrinks the data, the epochs and the seeds), and otherwise computes the sweep
into the user cache, resumably. ``LRCOURSE_RERUN=1`` forces the computation.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

from . import finetune
from .checks import check_choice, check_int, check_rate, check_seed
from .config import QUICK, Profile, cpu, is_headless, is_rerun, machine, profile
from .models import lenet, mlp
from .plotting import plural
from .schedules import (WSD, Constant, Cosine, CosineRestarts, Factor, LinearDecay, MultiFactor, Schedule, SquareRoot,
                        Warmup)

__all__ = ["BATCH_SIZES", "WARMUP_BATCH_SIZES", "BATCH_OPTIMIZERS", "batch_strategy", "batch_grid", "LARGE_BATCH",
           "LARGE_BATCH_WARMUP", "curve_steps",
           "Strategy", "Sweep", "SweepResult", "STRATEGIES", "SCHEDULES", "FINETUNE_WAYS", "TASKS", "SWEEPS", "NETS", "FIELDS", "CURVES", "DEAD_ACC", "RESULTS_DIR",
           "FULL_BATCH", "sharpness_steps", "step_rates", "EOS_RATES", "SHARPNESS_BATCHES", "SHARPNESS_SGD_RATES",
           "SHARPNESS_ITERS", "SHARPNESS_TOL",
           "ANYTIME", "ANYTIME_BUDGETS", "ANYTIME_COOLDOWNS", "ANYTIME_PLANNED", "ANYTIME_RATES",
           "ANYTIME_FREE_RATES", "anytime_schedules", "anytime_runs", "LONG_RUN_SCHEDULES",
           "is_dead", "extends", "run_one", "to_record", "run_sweep", "load_sweep", "join", "load_or_run", "cache_path", "package_hash", "main"]

FORMAT = "lrcourse-sweep-1"
FIELDS = ("strategy", "seed", "lr", "valid_acc", "test_acc", "train_loss", "dead", "seconds")
# What a run may record beyond FIELDS, by its sweep's definition: "curve" (validation accuracy at
# curve_steps), "sharpness" ([[step, λ_max], ...]), "loss" (a full-batch run's loss before every step),
# "budgets" (an anytime run's schedules at each budget: see anytime_runs).
CURVES = frozenset({"curve", "sharpness", "loss", "budgets"})
DEAD_ACC = 0.15  # ten classes: chance is 0.1; a run that ends at or below this on validation learned nothing
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PACKAGE_DIR = Path(__file__).resolve().parent
NETS = {"lenet": lenet, "mlp": mlp}


# ---------------------------------------------------------------- strategies

@dataclass(frozen=True)
class Strategy:
    """A way to use a peak rate ``lr``: its formula (stored with every sweep) and the ``fit`` arguments.

    ``make(lr, num_epochs, steps_per_epoch)`` returns the keyword arguments of
    :func:`~lrcourse.training.fit` (the rate, the scheduler, the interval).
    ``t`` counts epochs in the formulas unless they say steps; ``T`` is the
    number of epochs, ``N`` the steps of the whole run.
    """

    formula: str
    make: object
    optimizer: str = "SGD"  # what make's ``optimizer`` builds, when it builds one; plain SGD otherwise
    batch_size: int | None = None  # the strategy's own batch size (the sweep's when None)


def _one_cycle(lr, num_epochs, steps_per_epoch, cycle_momentum=False):
    steps = num_epochs * steps_per_epoch
    return dict(lr=lr, interval="step", scheduler=lambda opt: OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                                         cycle_momentum=cycle_momentum))


def _warmup_cosine(lr, num_epochs, steps_per_epoch):
    steps = num_epochs * steps_per_epoch
    return dict(scheduler=Cosine(lr, lr / 10, max_update=steps, warmup_steps=round(0.3 * steps),
                                 warmup_begin_lr=lr / 10), interval="step")


def _momentum_constant(lr, num_epochs, steps_per_epoch):
    return dict(optimizer=lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9), scheduler=Constant(lr))


def _momentum_cosine(lr, num_epochs, steps_per_epoch):
    return dict(optimizer=lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9),
                scheduler=Cosine(lr, lr / 10, max_update=num_epochs))


def _adam_cosine(lr, num_epochs, steps_per_epoch):
    return dict(optimizer=lambda params: torch.optim.Adam(params, lr=lr),
                scheduler=Cosine(lr, lr / 10, max_update=num_epochs))


def _linear_to_zero(lr, num_epochs, steps_per_epoch):
    return dict(scheduler=LinearDecay(lr, num_epochs * steps_per_epoch), interval="step")


def _wsd(lr, num_epochs, steps_per_epoch):
    steps = num_epochs * steps_per_epoch
    return dict(scheduler=WSD(lr, steps, warmup_steps=0, decay_steps=max(1, round(0.2 * steps)), decay="1-sqrt"),
                interval="step")


def _cosine_restarts(lr, num_epochs, steps_per_epoch):
    steps = num_epochs * steps_per_epoch
    return dict(scheduler=CosineRestarts(lr, T_0=max(1, steps // 7), T_mult=2, final_lr=lr / 10), interval="step")


def _schedule_free(lr, num_epochs, steps_per_epoch):
    from schedulefree import SGDScheduleFree

    return dict(optimizer=lambda params: SGDScheduleFree(params, lr=lr, momentum=0.9, warmup_steps=0),
                scheduler=Constant(lr))


def _plateau(lr, num_epochs, steps_per_epoch):
    return dict(lr=lr, scheduler=lambda opt: ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1,
                                                               min_lr=lr / 100))


# name -> Strategy. The shapes of chapters 3 (constant to cosine), 4 (warmup), 6 (plateau) and
# 7 (one-cycle), each a function of its peak rate lr, so a sweep can tune the peak.
STRATEGIES = {
    "constant": Strategy("lr", lambda lr, T, n: dict(scheduler=Constant(lr))),
    "square root": Strategy("lr·(t+1)^-1/2", lambda lr, T, n: dict(scheduler=SquareRoot(lr))),
    "factor": Strategy("max(lr/100, lr·0.8^t)", lambda lr, T, n: dict(scheduler=Factor(lr, 0.8, lr / 100))),
    "multi-factor": Strategy("lr·0.5^(milestones <= t), milestones round(0.3T), round(0.8T)",
                             lambda lr, T, n: dict(scheduler=MultiFactor(
                                 lr, sorted({max(1, round(0.3 * T)), max(2, round(0.8 * T))}), 0.5))),
    "cosine": Strategy("lr/10 + (lr - lr/10)·(1 + cos(πt/T))/2",
                       lambda lr, T, n: dict(scheduler=Cosine(lr, lr / 10, max_update=T))),
    "warmup + cosine": Strategy("per step: linear from lr/10 to lr over 0.3N steps, then cosine to lr/10 at N",
                                _warmup_cosine),
    "plateau": Strategy("lr, halved after 2 epochs without a lower validation loss (patience 1), "
                        "at least lr/100", _plateau),
    "one-cycle": Strategy("per step: OneCycleLR(max_lr=lr, total_steps=N), momentum not cycled", _one_cycle),
    # Chapters 7 and 8: momentum and Adam, each at peaks of its own scale.
    "one-cycle, momentum cycled": Strategy(
        "per step: OneCycleLR(max_lr=lr, total_steps=N) with its default momentum, 0.95 to 0.85 and back",
        lambda lr, T, n: _one_cycle(lr, T, n, cycle_momentum=True)),
    "momentum, constant": Strategy("momentum 0.9; lr", _momentum_constant, optimizer="SGD(momentum=0.9)"),
    "momentum + cosine": Strategy("momentum 0.9; lr/10 + (lr - lr/10)·(1 + cos(πt/T))/2", _momentum_cosine,
                                  optimizer="SGD(momentum=0.9)"),
    "Adam + cosine": Strategy("Adam (betas 0.9, 0.999); lr/10 + (lr - lr/10)·(1 + cos(πt/T))/2", _adam_cosine,
                              optimizer="Adam"),
    # Chapter 10, from chapter 13: the schedules of long runs on chapter 10's task.
    "linear to 0": Strategy("per step: lr·(1 - t/N), 0 at N (Bergsma et al. 2025)", _linear_to_zero),
    "WSD": Strategy("per step: lr, then over the last round(0.2N) steps down to 0 as 1 - sqrt(progress) "
                    "(Hägele et al. 2024)", _wsd),
    "cosine restarts": Strategy("per step: CosineRestarts(lr, T_0=N//7, T_mult=2, final_lr=lr/10): cosines "
                                "to lr/10 over N/7, 2N/7 and 4N/7 steps, each restarting at lr", _cosine_restarts),
    "schedule-free": Strategy("SGDScheduleFree(lr, momentum=0.9, warmup_steps=0), lr constant; evaluated at "
                              "the average x (Defazio et al. 2024)", _schedule_free,
                              optimizer="SGDScheduleFree(momentum=0.9)"),
}
LONG_RUN_SCHEDULES = ("linear to 0", "WSD", "cosine restarts")  # plain SGD, on chapter 10's GRID
# Chapter 11: each optimizer at a constant rate, at every batch size; "momentum + warmup" adds Goyal et
# al.'s gradual warmup: per step, linear from lr·256/B (the rate the linear rule gives batch 256) to lr
# over the first epoch, then lr.
BATCH_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
WARMUP_BATCH_SIZES = (1024, 4096)
BATCH_OPTIMIZERS = {
    "SGD": ("SGD", lambda lr: (lambda params: torch.optim.SGD(params, lr=lr))),
    "momentum": ("SGD(momentum=0.9)", lambda lr: (lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9))),
    "Adam": ("Adam", lambda lr: (lambda params: torch.optim.Adam(params, lr=lr))),
}


def batch_strategy(optimizer: str, batch_size: int, warmup: int = 0) -> str:
    """The name of chapter 11's strategy: ``'SGD, B=32'``, ``'momentum + warmup, B=4096'`` (a warmup of
    one epoch), ``'SGD + 2-epoch warmup, B=2048'``. ``warmup``: its epochs (True is 1, False 0)."""
    check_choice("optimizer", optimizer, tuple(BATCH_OPTIMIZERS))
    check_int("batch_size", batch_size, minimum=1)
    epochs = _warmup_epochs(warmup)
    text = "" if epochs == 0 else " + warmup" if epochs == 1 else f" + {epochs}-epoch warmup"
    return f"{optimizer}{text}, B={batch_size}"


def _warmup_epochs(warmup) -> int:
    return int(warmup) if isinstance(warmup, bool) else check_int("warmup", warmup, minimum=0)


def _batch_make(optimizer: str, batch_size: int, warmup: int):
    build = BATCH_OPTIMIZERS[optimizer][1]

    def make(lr, num_epochs, steps_per_epoch):
        own = {} if optimizer == "SGD" else dict(optimizer=build(lr))  # fit's default is plain SGD
        if not warmup:
            return own | dict(scheduler=Constant(lr))
        return own | dict(interval="step", scheduler=Warmup(Constant(lr), warmup * steps_per_epoch,
                                                             begin_lr=lr * 256 / batch_size))
    return make


def _add_batch_strategy(optimizer: str, batch_size: int, warmup: int = 0) -> None:
    built = BATCH_OPTIMIZERS[optimizer][0]
    over = "the first epoch" if warmup == 1 else f"the first {warmup} epochs"
    formula = f"{optimizer} at batch {batch_size}; " + (
        "lr" if not warmup else f"per step: linear from lr·256/{batch_size} to lr over {over}, then lr")
    STRATEGIES[batch_strategy(optimizer, batch_size, warmup)] = Strategy(
        formula, _batch_make(optimizer, batch_size, warmup), optimizer=built, batch_size=batch_size)


for _opt in BATCH_OPTIMIZERS:
    for _b in BATCH_SIZES:
        _add_batch_strategy(_opt, _b)
for _b in WARMUP_BATCH_SIZES:
    _add_batch_strategy("momentum", _b, 1)
# Chapter 11's LeNet at batch 2048, plain SGD, with and without a warmup of two epochs (50 steps)
LARGE_BATCH, LARGE_BATCH_WARMUP = 2048, 2
_add_batch_strategy("SGD", LARGE_BATCH, LARGE_BATCH_WARMUP)


SHARPNESS_ITERS, SHARPNESS_TOL = 20, 1e-3  # the Lanczos budget of every stored sharpness


def sharpness_steps(total: int) -> list[int]:
    """Where a chapter 12 run measures its sharpness: step 0 (before training), steps ``√2^j`` (rounded,
    1, 2, 3, 4, 6, 8, 11, ...) and ``total``; dense early, where runs die, 2 points per doubling."""
    return [0] + curve_steps(total, first=1)


def curve_steps(total: int, first: int = 8) -> list[int]:
    """Where a chapter 11 run measures its validation accuracy: steps ``first·√2^j`` (rounded) up to
    ``total``, and ``total`` itself; 2 points per doubling of the steps."""
    check_int("total", total, minimum=1)
    check_int("first", first, minimum=1)
    steps, j = set(), 0
    while round(first * 2 ** (j / 2)) <= total:
        steps.add(round(first * 2 ** (j / 2)))
        j += 1
    return sorted(steps | {total})


def batch_grid(optimizer: str, batch_size: int) -> tuple:
    """Chapter 11's rate grid for ``optimizer`` at ``batch_size``: six rates a factor 2 apart (a span
    of 32), doubled for every fourfold batch over 32 (the square-root rule's pace, so the linear
    rule's optimum stays inside too)."""
    check_choice("optimizer", optimizer, tuple(BATCH_OPTIMIZERS))
    check_int("batch_size", batch_size, minimum=1)
    base = {"SGD": 0.025, "momentum": 0.0025, "Adam": 0.000125}[optimizer]
    shift = 2 ** int(math.log(batch_size / 32, 4) + 1e-9)
    return tuple(base * shift * 2 ** k for k in range(6))


# The ways of chapter 8's fine-tuning task, the strategies of a sweep of task "finetune": way -> formula.
FINETUNE_WAYS = finetune.FORMULAS
# Chapter 12's full-batch task: gradient descent on a fixed subset, every epoch one step (strategy -> formula).
FULL_BATCH = {"gradient descent": "w <- w - lr·∇L(w), L the mean cross-entropy over the whole subset: "
                                  "one step per epoch"}
# Chapter 13's anytime task: one (family, lr, seed) run trains every schedule of the family at every budget
# of ANYTIME_BUDGETS (epochs), sharing one constant-rate trunk (family -> formula).
ANYTIME_BUDGETS = (10, 20, 40)
ANYTIME_COOLDOWNS = (("linear", 0.1), ("linear", 0.2), ("1-sqrt", 0.2))  # (WSD decay, fraction of the budget)
ANYTIME_MOMENTUM = 0.9
ANYTIME_PLANNED = {
    "cosine to 10%": "per step: Cosine(lr, lr/10, max_update=N), N the budget's steps",
    "linear to 0": "per step: LinearDecay(lr, max_update=N), 0 at step N",
}
ANYTIME = {
    "momentum SGD": "SGD(momentum=0.9), per step: a constant trunk at lr for max(budgets) epochs, checkpointed; "
                    "for budget T and cooldown (shape, f), branched from the trunk after T(1 - f) epochs: "
                    "WSD(lr, max_update=N, warmup_steps=0, decay_steps=f·N, decay=shape) to 0; and for each "
                    "budget a run planned for it from step 0 (cosine to 10%, linear to 0)",
    "schedule-free SGD": "SGDScheduleFree(lr, momentum=0.9, warmup_steps=0), one run of max(budgets) epochs, "
                         "evaluated at the average x after each budget",
}
TASKS = ("classify", "finetune", "full_batch", "anytime")  # + chapter 13's branched budgets
SCHEDULES = ("constant", "square root", "factor", "multi-factor", "cosine", "warmup + cosine", "plateau",
             "one-cycle")  # the shapes of chapters 3-7, all plain SGD


# ---------------------------------------------------------------- sweeps

@dataclass(frozen=True)
class Sweep:
    """One stored experiment: ``strategies`` (name -> grid of peak rates) × ``seeds``.

    Every run trains ``NETS[net](seed)`` with SGD (or the strategy's optimizer) at batch
    ``batch_size`` for ``num_epochs`` on ``load_fashion_mnist(batch_size,
    valid=valid, limit=limit)``. :meth:`sized` shrinks it for a profile;
    :meth:`definition` is what a stored file must match.
    """

    name: str
    title: str
    net: str
    strategies: tuple  # ((strategy name, (lr, lr, ...)), ...)
    seeds: tuple
    num_epochs: int
    batch_size: int = 256
    valid: int = 10000
    limit: int | None = None
    channels_last: bool = True
    task: str = "classify"
    curve: bool = False  # each run also records its validation accuracy at curve_steps (field "curve")
    sharpness: int = 0  # > 0: each run records the sharpness on the first so many training images
    sharpness_every: int | None = None  # at steps 0, k, 2k, ... (None: at 0 and sharpness_steps(total))

    def __post_init__(self):
        check_choice("net", self.net, tuple(NETS))
        check_choice("task", self.task, TASKS)
        if self.task == "finetune" and self.net != "lenet":
            raise ValueError(f"sweep {self.name!r}: the finetune task trains net 'lenet', got {self.net!r}")
        check_int("sharpness", self.sharpness, minimum=0)
        check_int("sharpness_every", self.sharpness_every, minimum=1, allow_none=True)
        if self.task == "full_batch" and self.sharpness > self.batch_size:
            raise ValueError(f"sweep {self.name!r}: a full-batch run measures the sharpness on its own subset "
                             f"of batch_size={self.batch_size} images, so sharpness must be at most that, "
                             f"got {self.sharpness}")
        if not self.strategies:
            raise ValueError(f"sweep {self.name!r}: strategies must name at least one strategy")
        for name, grid in self.strategies:
            check_choice("strategy", name, tuple({"classify": STRATEGIES, "finetune": FINETUNE_WAYS,
                                                  "full_batch": FULL_BATCH, "anytime": ANYTIME}[self.task]))
            if len(grid) < 1:
                raise ValueError(f"sweep {self.name!r}: the grid of {name!r} is empty")
            for lr in grid:
                check_rate("lr", lr, positive=True)
        for seed in self.seeds:
            check_seed(seed)
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ValueError(f"sweep {self.name!r}: seeds must be distinct and at least one, got {self.seeds}")
        check_int("num_epochs", self.num_epochs, minimum=1)
        if self.task == "anytime" and self.num_epochs != max(ANYTIME_BUDGETS):
            raise ValueError(f"sweep {self.name!r}: an anytime sweep trains for its largest budget, "
                             f"num_epochs={max(ANYTIME_BUDGETS)}, got {self.num_epochs}")

    @property
    def grids(self) -> dict:
        return {name: tuple(grid) for name, grid in self.strategies}

    def runs(self) -> list[tuple[str, float, int]]:
        """Every run as ``(strategy, lr, seed)``, seed by seed, so a partial sweep has whole seeds first."""
        return [(name, float(lr), seed) for seed in self.seeds for name, grid in self.strategies for lr in grid]

    def sized(self, p: Profile) -> "Sweep":
        """The sweep for profile ``p``: the full one as defined, or, under the quick profile, its
        data, epochs and seeds shrunk to ``p``'s (the grids stay: the same code runs)."""
        if p.name == "full":
            return self
        quick = dict(seeds=tuple(self.seeds[:p.num_seeds]), num_epochs=p.num_epochs, valid=p.valid, limit=p.limit,
                     sharpness=min(self.sharpness, 256))
        if self.task == "anytime":  # the budgets are the experiment: the same epochs of far fewer steps
            quick["num_epochs"] = self.num_epochs
        if self.task == "full_batch":  # steps, not epochs: a fiftieth of them, on 256 images
            every = self.sharpness_every and max(1, self.sharpness_every // 10)
            quick |= dict(num_epochs=max(p.num_epochs, self.num_epochs // 50), batch_size=min(self.batch_size, 256),
                          sharpness_every=every)
        return dataclasses.replace(self, **quick)

    def definition(self) -> dict:
        """Plain data that fixes what the sweep computes (a stored file must hold exactly this)."""
        out = dict(name=self.name, net=self.net, optimizer="SGD", batch_size=self.batch_size,
                   num_epochs=self.num_epochs, valid=self.valid, limit=self.limit, seeds=list(self.seeds),
                   channels_last=self.channels_last,
                   strategies={name: _strategy_definition(name, grid, self.task) for name, grid in self.strategies})
        if self.curve:
            out["curve"] = "valid_acc at curve_steps(total steps), 2 per doubling from step 8"
        if self.sharpness:
            when = (f"steps 0, {self.sharpness_every}, {2 * self.sharpness_every}, ... and the last"
                    if self.sharpness_every else "step 0 and sharpness_steps(total steps)")
            out["sharpness"] = (f"sharpness(net, cross-entropy, first {self.sharpness} training images, iters="
                                f"{SHARPNESS_ITERS}, tol={SHARPNESS_TOL}) at {when}")
        if self.task == "full_batch":
            out["task"] = dict(name="full_batch", subset=f"the first {self.batch_size} training images",
                               steps=self.num_epochs, loss="before every step and after the last (field loss)")
        if self.task == "anytime":
            out["task"] = dict(name="anytime", budgets=list(ANYTIME_BUDGETS),
                               cooldowns=[list(c) for c in ANYTIME_COOLDOWNS], planned=dict(ANYTIME_PLANNED),
                               evaluation="valid_acc after every epoch; test_acc at each budget's end")
        if self.task == "finetune":  # the task's own constants (a classify definition holds none)
            out["task"] = dict(name="finetune", old_classes=list(finetune.OLD_CLASSES),
                               new_classes=list(finetune.NEW_CLASSES), per_class=finetune.PER_CLASS,
                               pretrain_lr=finetune.PRETRAIN_LR, pretrain_epochs=self.num_epochs,
                               finetune_epochs=3 * self.num_epochs, dead_acc=finetune.DEAD_ACC,
                               feature_factors={w: f for w, f in finetune.WAYS.items()})
        return out


def _strategy_definition(name: str, grid, task: str = "classify") -> dict:
    """A strategy's entry in a definition; ``optimizer`` only where it is not the sweep's plain SGD."""
    if task != "classify":
        return dict(formula={"finetune": FINETUNE_WAYS, "full_batch": FULL_BATCH, "anytime": ANYTIME}[task][name],
                    grid=[float(lr) for lr in grid])
    strategy = STRATEGIES[name]
    entry = dict(formula=strategy.formula, grid=[float(lr) for lr in grid])
    entry |= dict(optimizer=strategy.optimizer) if strategy.optimizer != "SGD" else {}
    return entry | (dict(batch_size=strategy.batch_size) if strategy.batch_size is not None else {})


GRID = (0.1, 0.2, 0.4, 0.8)
EOS_RATES = (0.01, 0.02, 0.04, 0.08)  # chapter 12's full-batch rates: 2/lr from 200 down to 25
SHARPNESS_BATCHES, SHARPNESS_SGD_RATES = (64, 256, 1024), (0.02, 0.05, 0.1, 0.2)
ANYTIME_RATES, ANYTIME_FREE_RATES = (0.01, 0.02, 0.04, 0.08, 0.16), (0.1, 0.2, 0.4, 0.8, 1.6)

SWEEPS = {
    "schedules": Sweep(
        name="schedules", title="every schedule of chapters 3-7 at its own tuned peak (chapter 10)",
        net="lenet", strategies=tuple((name, GRID) for name in SCHEDULES), seeds=(0, 1, 2, 3, 4),
        num_epochs=10),
    # The protocol of "schedules" (same net, data, epochs and seeds, so its runs pair with these):
    # each optimizer on a grid of its own scale, momentum's ten times below plain SGD's.
    "momentum": Sweep(
        name="momentum", title="momentum and Adam at their own tuned peaks (chapters 7 and 8)", net="lenet",
        strategies=(("one-cycle, momentum cycled", (0.05, 0.1, 0.2, 0.4)),
                    ("momentum + cosine", (0.01, 0.02, 0.04, 0.08, 0.16)),
                    ("Adam + cosine", (0.001, 0.003, 0.01, 0.03))),
        seeds=(0, 1, 2, 3, 4), num_epochs=10),
    # The constant rate of "schedules" below its grid, down to where fastai's valley rule lands
    # (chapter 7 checks the range test's rules against the joined grid 0.00625 to 0.8).
    "low_rates": Sweep(
        name="low_rates", title="the constant rate below the schedules grid (chapter 7)", net="lenet",
        strategies=(("constant", (0.00625, 0.0125, 0.025, 0.05)),), seeds=(0, 1, 2, 3, 4), num_epochs=10),
    # Chapter 2: momentum 0.9 at a constant rate, on the joined plain-SGD grid divided by ten (the
    # same effective step lr/(1 - 0.9) as each plain rate), plus 0.025, the same lr as a plain rate.
    "heavy_ball": Sweep(
        name="heavy_ball", title="momentum 0.9 against plain SGD at a constant rate (chapter 2)", net="lenet",
        strategies=(("momentum, constant", (0.0025, 0.005, 0.01, 0.02, 0.025, 0.04, 0.08)),),
        seeds=(0, 1, 2, 3, 4), num_epochs=10),
    # Chapter 8: LeNet pretrained on classes 5-9, fine-tuned on 200 images per class of classes 0-4.
    "finetune": Sweep(
        name="finetune", title="four ways to fine-tune a pretrained LeNet on 1 000 images (chapter 8)",
        net="lenet", task="finetune", strategies=tuple((way, (0.01, 0.03, 0.1, 0.3, 1.0)) for way in FINETUNE_WAYS),
        seeds=(0, 1, 2, 3, 4), num_epochs=10),
    # Chapter 11: the MLP at every batch size of BATCH_SIZES, each optimizer at a constant rate on
    # batch_grid, five epochs; momentum + warmup at two large batches on the same grids.
    "batch_size": Sweep(
        name="batch_size", title="the best constant rate against the batch size, SGD, momentum and Adam "
        "(chapter 11)", net="mlp", curve=True,
        strategies=tuple((batch_strategy(o, b), batch_grid(o, b)) for o in BATCH_OPTIMIZERS for b in BATCH_SIZES)
        + tuple((batch_strategy("momentum", b, True), batch_grid("momentum", b)) for b in WARMUP_BATCH_SIZES),
        seeds=(0, 1, 2, 3, 4), num_epochs=5),
    # Chapter 11: Goyal et al.'s recipe on chapter 4's LeNet: the protocol of "schedules" (ten epochs,
    # five seeds; its constant rate's peak at batch 256 is 0.2) at batch 2048, where the linear rule
    # asks for 1.6, with and without a warmup from the batch-256 rate over the first two epochs.
    "large_batch": Sweep(
        name="large_batch", title="LeNet at batch 2048 with and without warmup (chapter 11)", net="lenet",
        strategies=tuple((batch_strategy("SGD", LARGE_BATCH, w), (0.2, 0.4, 0.8, 1.6))
                         for w in (0, LARGE_BATCH_WARMUP)),
        seeds=(0, 1, 2, 3, 4), num_epochs=10),
    # Chapter 12: full-batch gradient descent on the MLP (Cohen et al. 2021's setting), the sharpness on
    # the subset itself every 50 steps; one step per "epoch".
    "edge_of_stability": Sweep(
        name="edge_of_stability", title="full-batch gradient descent on 2048 images: the sharpness against "
        "2/lr (chapter 12)", net="mlp", task="full_batch", strategies=(("gradient descent", EOS_RATES),),
        seeds=(0, 1, 2, 3, 4), num_epochs=2000, batch_size=2048, sharpness=2048, sharpness_every=50),
    # Chapter 12: plain SGD on the MLP at three batch sizes, the sharpness on 2048 fixed training images.
    "sharpness_sgd": Sweep(
        name="sharpness_sgd", title="the sharpness under SGD at batch 64, 256 and 1024 (chapter 12)", net="mlp",
        strategies=tuple((batch_strategy("SGD", b), SHARPNESS_SGD_RATES) for b in SHARPNESS_BATCHES),
        seeds=(0, 1, 2, 3, 4), num_epochs=5, sharpness=2048),
    # Chapter 12: chapter 10's LeNet protocol (its dying peak 0.8 and a living 0.4), the sharpness on
    # 512 fixed training images, dense in the first steps.
    "sharpness_lenet": Sweep(
        name="sharpness_lenet", title="LeNet's sharpness in runs that die and runs that live (chapter 12)",
        net="lenet", strategies=(("constant", (0.4, 0.8)), ("cosine", (0.8,)), ("warmup + cosine", (0.8,))),
        seeds=(0, 1, 2, 3, 4), num_epochs=10, sharpness=512),
    # Chapter 10, with chapter 13's schedules: the protocol of "schedules" (its runs pair with these), plain
    # SGD on its grid; schedule-free SGD on a grid of its own scale (alive to 1.6, dead at 3.2 in a probe).
    "long_run_schedules": Sweep(
        name="long_run_schedules", title="linear decay to zero, WSD, cosine with restarts and schedule-free SGD "
        "on chapter 10's task (chapter 10)", net="lenet",
        strategies=tuple((name, GRID) for name in LONG_RUN_SCHEDULES)
        + (("schedule-free", (0.2, 0.4, 0.8, 1.6, 3.2)),),
        seeds=(0, 1, 2, 3, 4), num_epochs=10),
    # Chapter 13: the MLP with momentum SGD, one constant trunk of 40 epochs serving the budgets 10, 20
    # and 40 through branched cooldowns, against cosine and linear decay planned for each budget, and
    # schedule-free SGD (its rate scale about ten times momentum SGD's: its z-step has no 1/(1 - β)).
    "anytime": Sweep(
        name="anytime", title="one constant run, many budgets: branched cooldowns against planned schedules and "
        "schedule-free SGD (chapter 13)", net="mlp", task="anytime",
        strategies=(("momentum SGD", ANYTIME_RATES), ("schedule-free SGD", ANYTIME_FREE_RATES)),
        seeds=(0, 1, 2, 3, 4), num_epochs=max(ANYTIME_BUDGETS)),
}


# ---------------------------------------------------------------- one run

def is_dead(record: dict, dead_acc: float = DEAD_ACC) -> bool:
    """A run that learned nothing: final validation accuracy <= ``dead_acc`` (or not a number).

    A LeNet whose ReLU units died keeps a finite loss of about ln 10 and
    predicts one class (accuracy 0.1 on ten classes); a diverged run has a
    NaN loss. ``dead_acc`` defaults to :data:`DEAD_ACC`, chance plus 0.05 for
    ten classes; a task of K classes wants 1/K + 0.05.
    """
    if not isinstance(record, dict) or "valid_acc" not in record:
        raise ValueError(f"record must be a dict holding 'valid_acc' (a sweep's run), got {record!r}")
    check_rate("dead_acc", dead_acc)
    return not record["valid_acc"] > dead_acc


def _check_sweep(sweep) -> None:
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (one of experiments.SWEEPS), got {type(sweep).__name__}")


_PRETRAINED: dict = {}  # the last pretrained net of a finetune sweep (its runs go seed by seed)


def _pretrained(sweep: Sweep, seed: int, loaders, data) -> "torch.nn.Module":
    """The seed's pretrained net for ``sweep`` on these very loaders, pretrained once and kept."""
    key = (seed, json.dumps(sweep.definition(), sort_keys=True))
    if _PRETRAINED.get("key") != key or _PRETRAINED.get("loader") is not loaders[0]:  # held: no id reuse
        net = finetune.pretrain(seed, data, sweep.num_epochs, channels_last=sweep.channels_last)[0]
        _PRETRAINED.clear()
        _PRETRAINED.update(key=key, loader=loaders[0], net=net)
    return _PRETRAINED["net"]


def _run_finetune(sweep: Sweep, way: str, lr: float, seed: int, loaders) -> dict:
    from .metrics import evaluate_accuracy

    check_choice("strategy", way, tuple(FINETUNE_WAYS))
    data = finetune.task_data(*loaders)
    pretrained = None if way == "from scratch" else _pretrained(sweep, seed, loaders, data)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h, net = finetune.finetune(way, lr, seed, pretrained, data, sweep.num_epochs,
                                   channels_last=sweep.channels_last)
    record = to_record(way, lr, seed, h, seconds=time.perf_counter() - start, dead_acc=finetune.DEAD_ACC)
    record["test_acc"] = float("nan") if h.diverged else evaluate_accuracy(net, data.test)
    return record


def run_one(sweep: Sweep, strategy: str, lr: float, seed: int, loaders) -> dict:
    """Train run ``(strategy, lr, seed)`` of ``sweep`` on ``loaders = (train_iter, valid_iter, test_iter)``.

    For a sweep of task ``'finetune'`` (:mod:`lrcourse.finetune`) the run
    fine-tunes the seed's pretrained net (pretrained once per seed, and not
    counted in ``seconds``) and reads the test set once, at its end.
    """
    from .training import fit  # training imports plotting: loaded only to compute

    _check_sweep(sweep)
    if sweep.task == "finetune":
        return _run_finetune(sweep, strategy, lr, seed, loaders)
    if sweep.task == "full_batch":
        return _run_full_batch(sweep, strategy, lr, seed, loaders)
    if sweep.task == "anytime":
        return _run_anytime(sweep, strategy, lr, seed, loaders)
    check_choice("strategy", strategy, tuple(STRATEGIES))
    from .data import TensorLoader
    from .metrics import evaluate_accuracy

    train_iter, valid_iter, test_iter = loaders
    batch_size = STRATEGIES[strategy].batch_size
    if batch_size is not None and batch_size != train_iter.batch_size:  # the same examples, rebatched
        train_iter = TensorLoader(train_iter.X, train_iter.y, batch_size, shuffle=True, seed=train_iter.seed)
    kwargs = STRATEGIES[strategy].make(lr, sweep.num_epochs, len(train_iter))
    total = sweep.num_epochs * len(train_iter)
    track = {}
    if sweep.curve:
        track["valid_acc"] = (curve_steps(total), lambda net: evaluate_accuracy(net, valid_iter))
    net = NETS[sweep.net](seed=seed)
    start = time.perf_counter()
    if sweep.sharpness:
        from .sharpness import sharpness, sharpness_tracker

        X, y = train_iter.X[:sweep.sharpness], train_iter.y[:sweep.sharpness]
        steps = _sharpness_at(sweep, total)
        track["sharpness"] = sharpness_tracker(X, y, steps[1:], iters=SHARPNESS_ITERS, tol=SHARPNESS_TOL)
        first = [[0, sharpness(net.to(X.device), None, X, y, iters=SHARPNESS_ITERS, tol=SHARPNESS_TOL)]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a diverged run is recorded as dead
        h = fit(net, train_iter, test_iter, valid_iter=valid_iter,
                num_epochs=sweep.num_epochs, seed=seed, animate=False, progress=False,
                channels_last=sweep.channels_last, track=track or None, **kwargs)
    record = to_record(strategy, lr, seed, h, seconds=time.perf_counter() - start)
    if sweep.curve:
        record["curve"] = h.tracked.get("valid_acc", [])
    if sweep.sharpness:
        record["sharpness"] = first + h.tracked.get("sharpness", [])
    return record


def step_rates(strategy: str, lr: float, num_epochs: int, steps_per_epoch: int) -> list[float]:
    """The rate every optimizer step of a run of ``strategy`` at peak ``lr`` uses, from its pure schedule.

    For strategies whose scheduler is one of :mod:`lrcourse.schedules`'
    reference schedules (per epoch or per step); ``ValueError`` for those
    built on a PyTorch scheduler (plateau, one-cycle), whose rate depends on
    more than the step.
    """
    check_choice("strategy", strategy, tuple(STRATEGIES))
    check_rate("lr", lr, positive=True)
    check_int("num_epochs", num_epochs, minimum=1)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    kwargs = STRATEGIES[strategy].make(lr, num_epochs, steps_per_epoch)
    schedule = kwargs.get("scheduler")
    if not isinstance(schedule, Schedule):
        raise ValueError(f"strategy {strategy!r} has no reference schedule to read its rates from")
    per_step = kwargs.get("interval") == "step"
    return [float(schedule(k if per_step else k // steps_per_epoch)) for k in range(num_epochs * steps_per_epoch)]


def _sharpness_at(sweep: Sweep, total: int) -> list[int]:
    every = sweep.sharpness_every
    return sorted(set(range(0, total, every)) | {total}) if every else sharpness_steps(total)


def _run_full_batch(sweep: Sweep, strategy: str, lr: float, seed: int, loaders) -> dict:
    """Chapter 12's run: gradient descent on the first ``batch_size`` training images, ``num_epochs`` steps."""
    from .metrics import evaluate_accuracy
    from .sharpness import gradient_descent

    check_choice("strategy", strategy, tuple(FULL_BATCH))
    train_iter, valid_iter, test_iter = loaders
    X, y = train_iter.X[:sweep.batch_size], train_iter.y[:sweep.batch_size]
    net = NETS[sweep.net](seed=seed).to(X.device)
    start = time.perf_counter()
    every = sweep.sharpness_every or sweep.num_epochs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = gradient_descent(net, X, y, lr=lr, num_steps=sweep.num_epochs, every=every,
                               iters=SHARPNESS_ITERS, tol=SHARPNESS_TOL)
    seconds = time.perf_counter() - start
    diverged = len(run["loss"]) < sweep.num_epochs + 1
    nan = float("nan")
    record = dict(strategy=strategy, seed=seed, lr=float(lr),
                  valid_acc=nan if diverged else evaluate_accuracy(net, valid_iter),
                  test_acc=nan if diverged else evaluate_accuracy(net, test_iter),
                  train_loss=run["loss"][-1] if not diverged else nan, seconds=seconds)
    record["dead"] = is_dead(record)
    return {k: record[k] for k in FIELDS} | dict(loss=run["loss"], sharpness=run["sharpness"])


def anytime_schedules(family: str, lr: float, budget: int, steps_per_epoch: int) -> dict:
    """The schedules of ``family`` at ``budget`` epochs: name -> ``(schedule t -> lr per step, branch epoch)``.

    ``branch epoch`` is the trunk's epoch a cooldown branches from (None:
    trained from step 0). ``"constant"`` is the trunk itself, read at the
    budget; schedule-free SGD has the one entry ``"schedule-free"``.
    """
    from .schedules import WSD, LinearDecay

    check_choice("family", family, tuple(ANYTIME))
    check_rate("lr", lr, positive=True)
    check_int("budget", budget, minimum=1)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if family == "schedule-free SGD":
        return {"schedule-free": (Constant(lr), None)}
    N = budget * steps_per_epoch
    out = {"constant": (Constant(lr), None)}
    for decay, f in ANYTIME_COOLDOWNS:
        epochs = round(f * budget)
        if abs(epochs - f * budget) > 1e-9:
            raise ValueError(f"a cooldown of {f:.0%} of {budget} epochs is not a whole number of epochs")
        out[f"WSD {decay} {f:.0%}"] = (WSD(lr, N, warmup_steps=0, decay_steps=epochs * steps_per_epoch,
                                           decay=decay), budget - epochs)
    out["cosine to 10%"] = (Cosine(lr, lr / 10, max_update=N), None)
    out["linear to 0"] = (LinearDecay(lr, N), None)
    return out


def _run_anytime(sweep: Sweep, family: str, lr: float, seed: int, loaders) -> dict:
    """Chapter 13's run: every schedule of ``family`` at every budget, the cooldowns branched from one trunk."""
    import tempfile

    from .metrics import evaluate_accuracy
    from .training import fit

    check_choice("strategy", family, tuple(ANYTIME))
    train_iter, valid_iter, test_iter = loaders
    n = len(train_iter)

    def optimizer(params):
        if family == "schedule-free SGD":
            from schedulefree import SGDScheduleFree
            return SGDScheduleFree(params, lr=lr, momentum=ANYTIME_MOMENTUM, warmup_steps=0)
        return torch.optim.SGD(params, lr=lr, momentum=ANYTIME_MOMENTUM)

    def train(schedule, num_epochs, test_at, **kw):
        """One fit; the test accuracy only at the steps of ``test_at`` (a budget's end)."""
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a diverged run is recorded as dead
            h = fit(NETS[sweep.net](seed=seed), train_iter, None, valid_iter=valid_iter, num_epochs=num_epochs,
                    optimizer=optimizer, scheduler=schedule, interval="step", seed=seed, animate=False,
                    progress=False, channels_last=sweep.channels_last,
                    track={"test_acc": ([T * n for T in test_at], lambda net: evaluate_accuracy(net, test_iter))},
                    **kw)
        return h, time.perf_counter() - t0

    def sub(name, T, h, seconds):
        """The record of schedule ``name`` at budget ``T`` from a History that reached epoch T (else dead)."""
        nan = float("nan")
        reached = h is not None and h.num_epochs >= T and not (h.diverged and h.diverged[0] < T)
        tests = dict(h.tracked.get("test_acc", [])) if h is not None else {}
        record = dict(schedule=name, budget=T, valid_acc=h.valid_acc[T - 1] if reached else nan,
                      test_acc=tests.get(T * n, nan) if reached else nan,
                      train_loss=h.train_loss[T - 1] if reached else nan, seconds=seconds,
                      valid_curve=list(h.valid_acc[:T]) if h is not None else [])
        record["dead"] = is_dead(record)
        return record

    T_max = sweep.num_epochs
    budgets = [T for T in ANYTIME_BUDGETS if T <= T_max]
    start = time.perf_counter()
    subs = []
    with tempfile.TemporaryDirectory(prefix="lrcourse-anytime-") as folder:
        trunk_path = Path(folder) / "trunk-{epoch}.pt"
        trunk, seconds = train(Constant(lr), T_max, budgets,
                               checkpoint=trunk_path if family == "momentum SGD" else None)
        trunk_name = "schedule-free" if family == "schedule-free SGD" else "constant"
        subs += [sub(trunk_name, T, trunk, seconds * T / T_max) for T in budgets]
        for T in budgets:
            for name, (schedule, at) in anytime_schedules(family, lr, T, n).items():
                if name in ("constant", "schedule-free"):
                    continue
                if at is None:
                    h, seconds = train(schedule, T, [T])
                else:
                    branch = Path(str(trunk_path).replace("{epoch}", str(at)))
                    h, seconds = train(schedule, T, [T], branch=branch) if branch.is_file() else (None, 0.0)
                subs.append(sub(name, T, h, seconds))
    main = next(s for s in subs if s["schedule"] == trunk_name and s["budget"] == T_max)
    record = dict(strategy=family, seed=seed, lr=float(lr), valid_acc=main["valid_acc"],
                  test_acc=main["test_acc"], train_loss=main["train_loss"], dead=main["dead"],
                  seconds=time.perf_counter() - start)
    return {k: record[k] for k in FIELDS} | dict(budgets=subs)


def anytime_runs(runs) -> list[dict]:
    """An anytime sweep's runs as one record per (schedule and budget, lr, seed): what compare judges.

    Each record's ``strategy`` is ``"<schedule>, <T> epochs"`` (e.g.
    ``"WSD 1-sqrt 20%, 20 epochs"``), with its own ``valid_acc``, ``test_acc``,
    ``train_loss``, ``dead`` and ``seconds`` (a branch's own, the trunk's
    epochs not counted), plus ``schedule``, ``budget`` and ``valid_curve``.
    """
    out = []
    for record in runs:
        if not isinstance(record, dict) or "budgets" not in record:
            raise ValueError(f"runs must be an anytime sweep's records (each with 'budgets'), got {record!r}")
        for s in record["budgets"]:
            out.append(dict(strategy=f"{s['schedule']}, {s['budget']} epochs", seed=record["seed"],
                            lr=record["lr"], **{k: s[k] for k in ("valid_acc", "test_acc", "train_loss", "dead",
                                                                  "seconds", "schedule", "budget", "valid_curve")}))
    return out


def to_record(strategy: str, lr: float, seed: int, history, seconds: float = float("nan"),
              dead_acc: float = DEAD_ACC) -> dict:
    """One run's record (:data:`FIELDS`) from its :class:`~lrcourse.training.History`.

    The accuracies and loss after the last epoch (NaN for a run that
    diverged), ``dead`` from :func:`is_dead` with ``dead_acc``. Chapters that train their own
    runs turn them into records this way, so :mod:`lrcourse.compare` judges
    them exactly as it judges a stored sweep's.
    """
    from .training import History

    if not isinstance(history, History):
        raise TypeError(f"history must be a History (what fit returns), got {type(history).__name__}")
    if not isinstance(strategy, str):
        raise TypeError(f"strategy must be a str (the run's name), got {type(strategy).__name__}")
    check_rate("lr", lr, positive=True)
    check_seed(seed)
    h, nan = history, float("nan")
    if not h.valid_acc and not h.diverged:
        raise ValueError("history has no validation accuracy: train with fit(..., valid_iter=...)")
    record = dict(strategy=strategy, seed=seed, lr=float(lr),
                  valid_acc=h.valid_acc[-1] if h.valid_acc and not h.diverged else nan,
                  test_acc=h.test_acc[-1] if h.test_acc and not h.diverged else nan,
                  train_loss=h.train_loss[-1] if h.train_loss and not h.diverged else nan,
                  seconds=float(seconds))
    record["dead"] = is_dead(record, dead_acc)
    return {k: record[k] for k in FIELDS}


# ---------------------------------------------------------------- files

def package_hash() -> str:
    """SHA-256 of the package's source files (``lrcourse/*.py``, in name order): which code ran."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _environment() -> dict:
    return dict(torch=torch.__version__, device=machine(), cpu=cpu(), threads=torch.get_num_threads())


def _key(record: dict) -> tuple:
    return (record["strategy"], float(record["lr"]), int(record["seed"]))


def extends(new: dict, old: dict) -> bool:
    """True when definitions ``new`` and ``old`` differ only in which runs they hold (their seeds,
    rates or strategies), everything else equal: a run both hold is the same computation."""
    for name, d in (("new", new), ("old", old)):
        if not isinstance(d, dict) or not isinstance(d.get("strategies"), dict):
            raise TypeError(f"{name} must be a sweep's definition (Sweep.definition()), got {d!r}")
    rest = lambda d: {k: v for k, v in d.items() if k not in ("strategies", "seeds")}  # noqa: E731
    return rest(new) == rest(old) and all(new["strategies"][name]["formula"] == s["formula"]
                                          for name, s in old["strategies"].items() if name in new["strategies"])


def _read_log(log: Path, sweep: "Sweep") -> tuple[dict | None, list[dict]]:
    """The header and the records of a sweep's run log.

    A log of a definition that ``sweep``'s :func:`extends` is carried over (its runs
    that ``sweep`` still holds are kept, with their provenance); a log of
    any other definition is set aside (renamed ``.stale-DATE``), never mixed in.
    """
    if not log.is_file():
        return None, []
    parsed = []
    for line in log.read_text().splitlines():
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash while writing: that run is computed again
            continue
    header, records = (parsed[0], parsed[1:]) if parsed else (None, [])
    records = [r for r in records if isinstance(r, dict) and set(r) - CURVES == set(FIELDS)]
    definition = sweep.definition()
    if isinstance(header, dict) and header.get("definition") == definition:
        return header, records
    if isinstance(header, dict) and isinstance(header.get("definition"), dict) \
            and extends(definition, header["definition"]):
        wanted = set(sweep.runs())
        header = dict(header, definition=definition)
        records = [r for r in records if _key(r) in wanted]
        _write_log(log, header, records)
        print(f"{log.name}: the sweep's seeds, rates or strategies changed; kept the {len(records)} runs "
              "it still holds")
        return header, records
    stale = log.with_name(log.name + f".stale-{time.strftime('%Y%m%d-%H%M%S')}")
    log.rename(stale)
    print(f"{log.name} was written for another definition of the sweep: moved to {stale.name}")
    return None, []


def _write_log(log: Path, header: dict, records: list) -> None:
    """Replace the run log by ``header`` and ``records``, one JSON line each (atomically)."""
    tmp = log.with_name(log.name + f".tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in [header] + records))
    os.replace(tmp, log)


def _seed_log(log: Path, path: Path) -> None:
    """Start a run log from a finished file, so that :func:`run_sweep` can extend it."""
    try:
        data = json.loads(path.read_text())
        header = dict(format=FORMAT, definition=data["definition"], provenance=data["provenance"])
        runs = data["runs"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return
    _write_log(log, header, runs)


def _append(log: Path, obj: dict) -> None:
    with open(log, "a+") as f:  # one short line per write, O_APPEND: shards may share the log
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(f.tell() - 1)
            cut = f.read(1) != "\n"  # a line a crash cut short: start a new one
        else:
            cut = False
        f.write(("\n" if cut else "") + json.dumps(obj, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _write_result(path: Path, sweep: Sweep, header: dict, records: list[dict]) -> dict:
    order = {run: i for i, run in enumerate(sweep.runs())}
    records = sorted({_key(r): r for r in records}.values(), key=lambda r: order[_key(r)])
    data = dict(format=FORMAT, definition=sweep.definition(),
                provenance=dict(header["provenance"], finished=time.strftime("%Y-%m-%d %H:%M"),
                                run_seconds=round(sum(r["seconds"] for r in records), 1)),
                runs=records)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return data


def run_sweep(sweep: Sweep, path, *, shard: tuple[int, int] = (0, 1), threads: int | None = None,
              progress: bool = True, command: str | None = None) -> dict | None:
    """Compute ``sweep`` into ``path`` (``NAME.json``), resumably; returns the stored data once complete.

    Finished runs are appended to ``path``'s run log (``NAME.runs.jsonl``) as
    they end; a later call skips them. A sweep whose seeds, rates or
    strategies changed (:func:`extends`) keeps the runs it still holds and
    computes only the new ones. ``shard=(i, k)`` runs only the runs
    whose index is ``i`` modulo ``k``. ``progress``: a bar with the ETA
    (never under ``LRCOURSE_HEADLESS``). ``threads``: torch's CPU threads
    (default: as set; a resumed log keeps the threads it was started with,
    since the thread count changes the arithmetic's order and so the
    results). Returns None while other shards' runs are missing.
    """
    from tqdm.auto import tqdm

    from .data import load_fashion_mnist

    _check_sweep(sweep)
    path = Path(path)
    i, k = shard
    if not (isinstance(i, int) and isinstance(k, int) and 0 <= i < k):
        raise ValueError(f"shard must be (i, k) with 0 <= i < k, got {shard!r}")
    check_int("threads", threads, minimum=1, allow_none=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.with_name(path.stem + ".runs.jsonl")
    definition = sweep.definition()
    if not log.is_file() and path.is_file():
        try:
            return dataclasses.asdict(load_sweep(path, sweep)) | {"format": FORMAT}  # nothing to do
        except ValueError:  # a finished sweep whose runs may have changed: go on from those it holds
            _seed_log(log, path)
    header, records = _read_log(log, sweep)
    if header is None:
        if threads is not None:
            torch.set_num_threads(threads)
        header = dict(format=FORMAT, definition=definition,
                      provenance=dict(command=command or f"python -m lrcourse.experiments run {sweep.name}",
                                      package_sha256=package_hash(), started=time.strftime("%Y-%m-%d %H:%M"),
                                      **_environment()))
        _append(log, header)
    else:
        torch.set_num_threads(header["provenance"]["threads"])
    done = {_key(r) for r in records}
    todo = [run for j, run in enumerate(sweep.runs()) if j % k == i and run not in done]
    if todo:
        loaders = load_fashion_mnist(sweep.batch_size, valid=sweep.valid, limit=sweep.limit)
        bar = tqdm(todo, desc=f"{sweep.name} {i + 1}/{k}" if k > 1 else sweep.name, unit="run",
                   disable=not progress or is_headless())  # a book build shows no live widget
        for strategy, lr, seed in bar:
            bar.set_postfix_str(f"{strategy} {lr:g} seed {seed}", refresh=False)
            _append(log, run_one(sweep, strategy, lr, seed, loaders))
        bar.close()
    _, records = _read_log(log, sweep)
    if {_key(r) for r in records} >= set(sweep.runs()):
        data = _write_result(path, sweep, header, records)
        log.unlink(missing_ok=True)
        return data
    try:  # a complete file of this definition written by another shard
        return dataclasses.asdict(load_sweep(path, sweep)) | {"format": FORMAT} if path.is_file() else None
    except ValueError:
        return None


# ---------------------------------------------------------------- loading

@dataclass
class SweepResult:
    """A stored sweep: its records (one dict per run, :data:`FIELDS`), definition, provenance and file."""

    runs: list
    definition: dict
    provenance: dict
    path: Path

    def describe(self) -> str:
        p = self.provenance
        return (f"{len(self.runs)} runs of sweep {self.definition['name']!r} ({self.path.name}, computed "
                f"{p.get('finished', '?')} with {p.get('threads', '?')} thread(s) on {p.get('device', '?')})")


def load_sweep(path, sweep: Sweep | None = None) -> SweepResult:
    """Read a stored sweep; with ``sweep``, ``ValueError`` unless it was computed for that definition."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not an lrcourse sweep file (not JSON: {err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), list):
        raise ValueError(f"{path} is not an lrcourse sweep file (format {FORMAT!r} with a list of runs)")
    for j, record in enumerate(data["runs"]):
        if set(record) - CURVES != set(FIELDS):  # and the curves its definition asks for
            raise ValueError(f"{path}: run {j} must hold exactly the fields {list(FIELDS)} (and the curves "
                             f"{sorted(CURVES)} its sweep records), got {sorted(record)}")
    if sweep is not None:
        _check_sweep(sweep)
        want = sweep.definition()
        if data["definition"] != want:
            differ = sorted(k for k in set(want) | set(data["definition"]) if want.get(k) != data["definition"].get(k))
            raise ValueError(f"{path} was computed for another definition of sweep {sweep.name!r} "
                             f"(they differ in {', '.join(differ)})")
        if {_key(r) for r in data["runs"]} != set(sweep.runs()):
            raise ValueError(f"{path} does not hold exactly the runs of sweep {sweep.name!r}")
    return SweepResult(data["runs"], data["definition"], data["provenance"], path)


def join(*results: SweepResult) -> list[dict]:
    """The runs of several stored sweeps as one list, for paired comparisons across them.

    Runs pair only when they share the protocol: the same net, data split,
    batch size, epochs and seeds (so the same initial weights and batch order).
    A strategy may appear in several sweeps (its grid extended by another),
    with the same formula and no run twice. ``ValueError`` when the
    definitions differ in anything but their name and strategies, when one
    strategy name has two formulas, or when two sweeps hold the same run.
    """
    if not results or not all(isinstance(r, SweepResult) for r in results):
        raise TypeError(f"results must be one or more SweepResult (from load_or_run), got {results!r}")
    protocol = lambda d: {k: v for k, v in d.items() if k not in ("name", "strategies")}  # noqa: E731
    first, formulas, keys = results[0].definition, {}, set()
    for result in results:
        d = result.definition
        if protocol(d) != protocol(first):
            differ = sorted(k for k in set(protocol(d)) | set(protocol(first)) if d.get(k) != first.get(k))
            raise ValueError(f"sweeps {first['name']!r} and {d['name']!r} do not pair: they differ in "
                             f"{', '.join(differ)}")
        for name, strategy in d["strategies"].items():
            what = {k: v for k, v in strategy.items() if k != "grid"}  # its formula (and optimizer)
            if formulas.setdefault(name, what) != what:
                raise ValueError(f"strategy {name!r} has another formula in sweep {d['name']!r}")
        mine = {_key(r) for r in result.runs}
        if keys & mine:
            raise ValueError(f"run {sorted(keys & mine)[0]} is in two of the sweeps")
        keys |= mine
    return [run for result in results for run in result.runs]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lrcourse" / "results"


def cache_path(sweep: Sweep) -> Path:
    """Where :func:`load_or_run` computes a sweep that no stored file matches (the user cache)."""
    _check_sweep(sweep)
    tag = hashlib.sha256(json.dumps(sweep.definition(), sort_keys=True).encode()).hexdigest()[:10]
    return _cache_dir() / f"{sweep.name}-{tag}.json"


def load_or_run(name: str, *, rerun: bool | None = None, progress: bool = True) -> SweepResult:
    """Sweep ``name`` for the profile in force: loaded when a stored file matches it, else computed.

    Looks for ``lrcourse/results/NAME.json``, then for the user cache's copy
    of the same definition; computes into the cache (resumably) when neither
    matches or when ``rerun`` (default: ``LRCOURSE_RERUN=1``) asks for it.
    Prints one line saying which.
    """
    check_choice("name", name, tuple(SWEEPS))
    sweep = SWEEPS[name].sized(profile())
    rerun = is_rerun() if rerun is None else rerun
    cached = cache_path(sweep)
    reason = "LRCOURSE_RERUN asks for it" if rerun else "no stored file matches its definition"
    if not rerun:
        for path in (RESULTS_DIR / f"{name}.json", cached):
            if path.is_file():
                try:
                    result = load_sweep(path, sweep)
                except ValueError as err:
                    reason = str(err)
                    continue
                print("loaded", result.describe())
                return result
    else:
        cached.unlink(missing_ok=True)
        cached.with_name(cached.stem + ".runs.jsonl").unlink(missing_ok=True)
    runs = len(sweep.runs())
    print(f"computing sweep {name!r} ({reason}): {plural(runs, 'run')} of {plural(sweep.num_epochs, 'epoch')} "
          f"into {cached}")
    run_sweep(sweep, cached, progress=progress and runs > 1)
    return load_sweep(cached, sweep)


# ---------------------------------------------------------------- command line

def main(argv=None) -> int:
    """``python -m lrcourse.experiments list | check | run NAME [--shard i/k] [--threads n] [--quick]``."""
    parser = argparse.ArgumentParser(prog="python -m lrcourse.experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the sweeps, their size and whether a stored file matches")
    run = sub.add_parser("run", help="compute a sweep into lrcourse/results/NAME.json (resumable)")
    run.add_argument("name", choices=sorted(SWEEPS) + ["all"])
    run.add_argument("--shard", default="0/1", help="i/k: run every k-th run, starting at i (default 0/1)")
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    run.add_argument("--quick", action="store_true", help="the quick profile's size, into the user cache")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, sweep in SWEEPS.items():
            path = RESULTS_DIR / f"{name}.json"
            try:
                state = load_sweep(path, sweep).describe() if path.is_file() else "not computed"
            except ValueError as err:
                state = f"stale: {err}"
            print(f"{name:<12} {len(sweep.runs()):>4} runs × {plural(sweep.num_epochs, 'epoch')}  {state}")
        return 0
    try:
        i, k = (int(x) for x in args.shard.split("/"))
    except ValueError:
        parser.error(f"--shard must be i/k, e.g. 0/2, got {args.shard!r}")
    names = sorted(SWEEPS) if args.name == "all" else [args.name]
    command = "python -m lrcourse.experiments " + shlex.join(sys.argv[1:] if argv is None else argv)
    for name in names:
        sweep = SWEEPS[name].sized(QUICK) if args.quick else SWEEPS[name]
        path = cache_path(sweep) if args.quick else RESULTS_DIR / f"{name}.json"
        start = time.perf_counter()
        data = run_sweep(sweep, path, shard=(i, k), threads=args.threads, command=command)
        took = time.perf_counter() - start
        state = f"complete: {path}" if data else "this shard is done; other shards' runs are missing"
        print(f"{name}: {took / 60:.1f} min in this call; {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
