"""Reference learning-rate schedules: pure functions of the update count.

A schedule is a callable ``lr = schedule(t)`` for the update count
``t = 0, 1, 2, ...`` (epochs or optimizer steps, whichever the caller
counts). It holds no state: the same ``t`` gives the same rate whatever was
called before, so plotting a schedule can never spoil the training that uses
it. The formulas are in each class's docstring; rates are in the optimizer's
units (the step size of SGD).

Where PyTorch has the same schedule, the class says which one and the tests
check them value by value:

===================================  =========================================
``Step(lr, step_size, gamma)``       ``StepLR(step_size, gamma)``
``MultiFactor(lr, milestones, f)``   ``MultiStepLR(milestones, gamma=f)``
``Exponential(lr, gamma)``           ``ExponentialLR(gamma)``
``Cosine(lr, final_lr, T)``          ``CosineAnnealingLR(T_max=T, eta_min=final_lr)``, t <= T
``OneCycle(max_lr, total_steps)``    ``OneCycleLR(max_lr, total_steps)`` (the rate only)
===================================  =========================================

:func:`lr_values` evaluates any schedule over many ``t`` at once (for plots);
:class:`ScheduleLR` turns any schedule into a ``torch.optim.lr_scheduler``
scheduler, so it plugs into any PyTorch loop.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .checks import check_decay, check_int, check_rate, is_number

__all__ = ["Schedule", "Constant", "SquareRoot", "Factor", "MultiFactor", "Step", "Exponential",
           "Cosine", "Warmup", "OneCycle", "ScheduleLR", "lr_values", "check_t"]


# ---------------------------------------------------------------- update counts

MAX_T = 2**62  # update counts are int64 inside the formulas


def check_t(t) -> int:
    """The update count must be an int in [0, 2**62] (not a float, not a bool)."""
    if isinstance(t, bool) or not isinstance(t, (numbers.Integral, np.integer)) or not 0 <= t <= MAX_T:
        raise ValueError(f"t (the update count) must be an int in [0, 2**62], got {t!r}")
    return int(t)


def _check_ts(ts) -> np.ndarray:
    try:
        ts = np.asarray(list(ts) if not hasattr(ts, "__array__") else ts)
    except TypeError:
        raise ValueError(f"ts must be a 1-D sequence of ints in [0, 2**62], got {ts!r}") from None
    if ts.ndim != 1 or (ts.size and (ts.dtype.kind not in "iu" or ts.min() < 0 or ts.max() > MAX_T)):
        raise ValueError(f"ts must be a 1-D sequence of ints in [0, 2**62], got {ts!r}")
    return ts.astype(np.int64)


# ---------------------------------------------------------------- the schedules

class Schedule:
    """Base class: ``schedule(t)`` checks ``t`` and evaluates :meth:`formula`.

    Subclasses write their formula once with NumPy operations, so it works
    on one ``t`` and on an array of them (:meth:`values`).
    """

    def formula(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, t) -> float:
        # Through a one-element array, so a call and values() take the same NumPy code
        # path and agree to the last bit.
        return float(self.formula(np.array([check_t(t)], dtype=np.int64))[0])

    def values(self, ts) -> np.ndarray:
        """The rates for every ``t`` in ``ts`` (a sequence of ints >= 0), as a float array."""
        ts = _check_ts(ts)
        return np.broadcast_to(np.asarray(self.formula(ts), dtype=np.float64), ts.shape).copy()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    __hash__ = None


class Constant(Schedule):
    """``lr(t) = lr``: the baseline."""

    def __init__(self, lr: float):
        self.lr = check_rate("lr", lr)

    def formula(self, t):
        return np.full(np.shape(t), self.lr)


class SquareRoot(Schedule):
    """``lr(t) = lr * (t + 1) ** -0.5``: fast decay early, ever slower later."""

    def __init__(self, lr: float):
        self.lr = check_rate("lr", lr)

    def formula(self, t):
        return self.lr * (t + 1.0) ** -0.5


class Factor(Schedule):
    """``lr(t) = max(stop_factor_lr, base_lr * factor ** t)``: geometric decay with a floor."""

    def __init__(self, base_lr: float, factor: float, stop_factor_lr: float = 0.0):
        self.base_lr = check_rate("base_lr", base_lr)
        self.factor = check_decay("factor", factor)
        self.stop_factor_lr = check_rate("stop_factor_lr", stop_factor_lr)
        if self.stop_factor_lr > self.base_lr:
            raise ValueError(f"stop_factor_lr must be in [0, base_lr={base_lr!r}] (a floor below "
                             f"the start), got {stop_factor_lr!r}")

    def formula(self, t):
        return np.maximum(self.stop_factor_lr, self.base_lr * self.factor ** t)


class MultiFactor(Schedule):
    """``lr(t) = base_lr * factor ** (number of milestones <= t)``.

    Equals ``MultiStepLR(milestones, gamma=factor)`` at epoch ``t``.
    """

    def __init__(self, base_lr: float, milestones, factor: float):
        self.base_lr = check_rate("base_lr", base_lr)
        try:
            ms = list(milestones)
        except TypeError:
            raise ValueError(f"milestones must be a sequence of ints >= 0, got {milestones!r}") from None
        if not ms or any(isinstance(m, bool) or not isinstance(m, (numbers.Integral, np.integer))
                         or m < 0 for m in ms):
            raise ValueError(f"milestones must be a non-empty sequence of ints >= 0, got {milestones!r}")
        if any(a >= b for a, b in zip(ms, ms[1:])):
            raise ValueError(f"milestones must be strictly increasing, got {milestones!r}")
        self.milestones = tuple(int(m) for m in ms)
        self.factor = check_decay("factor", factor)

    def formula(self, t):
        return self.base_lr * self.factor ** np.searchsorted(self.milestones, t, side="right")


class Step(Schedule):
    """``lr(t) = base_lr * gamma ** (t // step_size)``. Equals ``StepLR(step_size, gamma)``."""

    def __init__(self, base_lr: float, step_size: int, gamma: float = 0.1):
        self.base_lr = check_rate("base_lr", base_lr)
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.gamma = check_decay("gamma", gamma)

    def formula(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class Exponential(Schedule):
    """``lr(t) = base_lr * gamma ** t``. Equals ``ExponentialLR(gamma)``."""

    def __init__(self, base_lr: float, gamma: float):
        self.base_lr = check_rate("base_lr", base_lr)
        self.gamma = check_decay("gamma", gamma)

    def formula(self, t):
        return self.base_lr * self.gamma ** t


class Cosine(Schedule):
    """Half a cosine from ``base_lr`` down to ``final_lr`` at ``max_update``, optionally after a warmup.

    With ``w = warmup_steps``::

        t < w:                warmup_begin_lr + (base_lr - warmup_begin_lr) * t / w
        w <= t <= max_update: final_lr + (base_lr - final_lr)
                                         * (1 + cos(pi * (t - w) / (max_update - w))) / 2
        t > max_update:       final_lr

    With no warmup it equals ``CosineAnnealingLR(T_max=max_update,
    eta_min=final_lr)`` for ``t <= max_update``; after that PyTorch's rate
    rises again (a cosine has no end), this one stays at ``final_lr``.
    """

    def __init__(self, base_lr: float, final_lr: float, max_update: int, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0.0):
        self.base_lr = check_rate("base_lr", base_lr)
        self.final_lr = check_rate("final_lr", final_lr)
        if self.final_lr > self.base_lr:
            raise ValueError(f"final_lr must be in [0, base_lr={base_lr!r}], got {final_lr!r}")
        self.max_update = check_int("max_update", max_update, minimum=1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        if self.warmup_steps >= self.max_update:
            raise ValueError(f"warmup_steps must be in [0, max_update={max_update!r}), "
                             f"got {warmup_steps!r}")
        self.warmup_begin_lr = check_rate("warmup_begin_lr", warmup_begin_lr)
        if self.warmup_begin_lr > self.base_lr:
            raise ValueError(f"warmup_begin_lr must be in [0, base_lr={base_lr!r}], "
                             f"got {warmup_begin_lr!r}")

    def formula(self, t):
        w, T = self.warmup_steps, self.max_update
        warm = self.warmup_begin_lr + (self.base_lr - self.warmup_begin_lr) * t / max(w, 1)
        phase = np.minimum(t - w, T - w) / (T - w)  # held at 1 (final_lr) after max_update
        cosine = self.final_lr + (self.base_lr - self.final_lr) * (1 + np.cos(np.pi * phase)) / 2
        return np.where(t < w, warm, cosine)


class Warmup(Schedule):
    """A linear warmup of ``warmup_steps`` updates in front of any schedule, which then starts at 0::

        t < w:   begin_lr + (schedule(0) - begin_lr) * t / w
        t >= w:  schedule(t - w)

    So ``Warmup(Cosine(lr, final, T - w), w)`` equals ``Cosine(lr, final, T, warmup_steps=w)``,
    and it behaves like ``SequentialLR([LinearLR(...), scheduler], milestones=[w])``.
    """

    def __init__(self, schedule, warmup_steps: int, begin_lr: float = 0.0):
        if not callable(schedule):
            raise ValueError(f"schedule must be a schedule t -> lr, got {schedule!r}")
        target = schedule(0)
        if not is_number(target) or not math.isfinite(target) or target < 0:
            raise ValueError(f"schedule(0) must be a finite number >= 0, got {target!r}")
        self.schedule = schedule
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=1)
        self.begin_lr = check_rate("begin_lr", begin_lr)
        if self.begin_lr > target:
            raise ValueError(f"begin_lr must be in [0, schedule(0)={target!r}] (a warmup rises), "
                             f"got {begin_lr!r}")

    def formula(self, t):
        w, target = self.warmup_steps, float(self.schedule(0))
        warm = self.begin_lr + (target - self.begin_lr) * t / w
        after = lr_values(self.schedule, np.atleast_1d(np.maximum(t - w, 0)))
        return np.where(t < w, warm, after.reshape(np.shape(t)))


class OneCycle(Schedule):
    """The rate of one-cycle training (Smith & Topin): up from ``max_lr / div_factor``, then far down.

    With ``a = max_lr / div_factor``, ``b = a / final_div_factor``,
    ``p = pct_start * total_steps - 1`` (where the peak sits) and
    ``anneal(x, y, f)`` = ``y + (x - y) * (1 + cos(pi * f)) / 2`` ('cos') or
    ``x + (y - x) * f`` ('linear')::

        t <= p:  anneal(a, max_lr, t / p)
        t >  p:  anneal(max_lr, b, (t - p) / (total_steps - 1 - p)),  b after total_steps - 1

    Equals the rate of ``OneCycleLR(max_lr, total_steps, pct_start,
    anneal_strategy, div_factor=..., final_div_factor=...)`` for
    ``t < total_steps``. PyTorch's scheduler raises only when stepped to
    ``t > total_steps`` (the rate of ``t = total_steps`` it still gives
    continues the fall's formula past its end); this stays at ``b`` for every
    ``t >= total_steps - 1``.
    PyTorch's also cycles the momentum; a schedule only gives the rate.
    """

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, anneal: str = "cos"):
        self.max_lr = check_rate("max_lr", max_lr)
        self.total_steps = check_int("total_steps", total_steps, minimum=2)
        if not is_number(pct_start) or not 0 < pct_start < 1:
            raise ValueError(f"pct_start must be a number in (0, 1), got {pct_start!r}")
        if pct_start * total_steps <= 1:
            raise ValueError(f"pct_start * total_steps must be > 1 so the rise has at least one step, "
                             f"got pct_start={pct_start!r} with total_steps={total_steps!r}")
        self.pct_start = float(pct_start)
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not is_number(value) or not math.isfinite(value) or value < 1:
                raise ValueError(f"{name} must be a finite number >= 1, got {value!r}")
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        if anneal not in ("cos", "linear"):
            raise ValueError(f"anneal must be 'cos' or 'linear', got {anneal!r}")
        self.anneal = anneal

    def _anneal(self, start, end, f):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (np.cos(np.pi * f) + 1)
        return (end - start) * f + start

    def formula(self, t):
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        peak, last = self.pct_start * self.total_steps - 1, self.total_steps - 1
        rise = self._anneal(initial, self.max_lr, t / peak)
        fall = self._anneal(self.max_lr, final, (np.minimum(t, last) - peak) / (last - peak))
        return np.where(t <= peak, rise, fall)


# ---------------------------------------------------------------- many t at once

def lr_values(schedule, ts) -> np.ndarray:
    """``[schedule(t) for t in ts]`` as a float array; vectorised for :class:`Schedule`\\ s.

    Works for any schedule ``t -> lr``, also a plain function or lambda.
    """
    if isinstance(schedule, Schedule):
        return schedule.values(ts)
    if not callable(schedule):
        raise ValueError(f"schedule must be a schedule t -> lr, got {schedule!r}")
    return np.array([float(schedule(int(t))) for t in _check_ts(ts)], dtype=np.float64)


# ---------------------------------------------------------------- PyTorch adapter

class ScheduleLR(LRScheduler):
    """A PyTorch scheduler that follows a pure schedule: use it like any ``LRScheduler``.

    After ``t`` calls of ``step()``, group ``i``'s rate is
    ``schedule(t) * initial_lr_i / initial_lr_0``: group 0 follows the
    schedule exactly and every other group keeps its own initial rate's
    ratio to group 0 (the rule ``fit`` uses). The rate of update 0 is set when
    the scheduler is built, as with PyTorch's schedulers; call
    ``optimizer.step()`` then ``scheduler.step()``.

    ``state_dict()`` holds the counters only (not the schedule: code builds
    it), so it loads with ``torch.load(..., weights_only=True)``.
    """

    def __init__(self, optimizer: Optimizer, schedule, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if not callable(schedule):
            raise ValueError(f"schedule must be a schedule t -> lr, got {schedule!r}")
        self.schedule = schedule
        base = optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"])
        if len(optimizer.param_groups) > 1 and not base > 0:
            raise ValueError("with several parameter groups, group 0's initial lr must be > 0 "
                             f"(the others keep their ratio to it), got {base!r}")
        super().__init__(optimizer, last_epoch)

    def _ratios(self) -> list[float]:
        base = float(self.base_lrs[0])
        return [1.0] + [float(b) / base for b in self.base_lrs[1:]]

    def get_lr(self) -> list[float]:
        lr = self.schedule(self.last_epoch)
        if not is_number(lr) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"schedule({self.last_epoch}) must return a finite number >= 0, got {lr!r}")
        return [float(lr) * r for r in self._ratios()]

    _get_closed_form_lr = get_lr

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the counters and put the resumed update's rates back into the optimizer.

        PyTorch's own schedulers restore counters only; this one also writes
        the rates, so it resumes exactly whether it was built before or after
        ``optimizer.load_state_dict`` (built after, its constructor has set
        the rate of update 0). A tensor rate (``SGD(lr=torch.tensor(...))``)
        stays the same tensor, filled in place as PyTorch's schedulers do.
        """
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "schedule"})
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
