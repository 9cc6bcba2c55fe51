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
``LinearDecay(lr, T, final_lr)``     ``LinearLR(1, final_lr / lr, T)``; ``PolynomialLR(T, 1)`` to 0
``Polynomial(lr, T, power)``         ``PolynomialLR(total_iters=T, power)``
``CosineRestarts(lr, T_0, T_mult)``  ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)``
``Cyclic(lr, max_lr, up, down)``     ``CyclicLR(lr, max_lr, up, down, mode, gamma)`` (the rate only)
``WSD(lr, T, warmup, decay)``        ``transformers.get_wsd_schedule`` (its closed form; not a dependency)
``InverseSquareRoot(lr, warmup)``    ``transformers.get_inverse_sqrt_schedule``; the Transformer's "Noam"
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

from .checks import check_choice, check_decay, check_int, check_rate, is_number

__all__ = ["Schedule", "Constant", "SquareRoot", "Factor", "MultiFactor", "Step", "Exponential",
           "Cosine", "Warmup", "OneCycle", "LinearDecay", "Polynomial", "CosineRestarts", "Cyclic", "WSD",
           "InverseSquareRoot", "ScheduleLR", "lr_values", "check_t"]


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


# ---------------------------------------------------------------- schedules for long runs

def _check_at_most(name: str, value: float, ceiling_name: str, ceiling: float, why: str = "") -> float:
    """``value`` (already a checked rate) must not exceed ``ceiling``, the rate named ``ceiling_name``."""
    if value > ceiling:
        raise ValueError(f"{name} must be in [0, {ceiling_name}={ceiling!r}]{why}, got {value!r}")
    return value


class LinearDecay(Schedule):
    """A straight line from ``base_lr`` at update 0 to ``final_lr`` at ``max_update``, then ``final_lr``::

        lr(t) = base_lr + (final_lr - base_lr) * min(t, max_update) / max_update

    With ``final_lr = 0`` it is the "decay to zero" of Bergsma et al. (2025).
    Equals ``LinearLR(start_factor=1, end_factor=final_lr / base_lr,
    total_iters=max_update)`` and, when ``final_lr = 0``, ``PolynomialLR(
    total_iters=max_update, power=1)``.
    """

    def __init__(self, base_lr: float, max_update: int, final_lr: float = 0.0):
        self.base_lr = check_rate("base_lr", base_lr)
        self.max_update = check_int("max_update", max_update, minimum=1)
        self.final_lr = _check_at_most("final_lr", check_rate("final_lr", final_lr), "base_lr", self.base_lr)

    def formula(self, t):
        return self.base_lr + (self.final_lr - self.base_lr) * (np.minimum(t, self.max_update) / self.max_update)


class Polynomial(Schedule):
    """``lr(t) = base_lr * (1 - min(t, max_update) / max_update) ** power``: 0 from ``max_update`` on.

    ``power = 1`` is :class:`LinearDecay` to zero; ``power = 2`` falls faster
    early, ``power = 0.5`` later. Equals ``PolynomialLR(total_iters=max_update,
    power=power)``.
    """

    def __init__(self, base_lr: float, max_update: int, power: float = 1.0):
        self.base_lr = check_rate("base_lr", base_lr)
        self.max_update = check_int("max_update", max_update, minimum=1)
        if not is_number(power) or not math.isfinite(power) or power <= 0:
            raise ValueError(f"power must be a finite number > 0, got {power!r}")
        self.power = float(power)

    def formula(self, t):
        return self.base_lr * (1.0 - np.minimum(t, self.max_update) / self.max_update) ** self.power


class CosineRestarts(Schedule):
    """SGDR (Loshchilov & Hutter 2017): half a cosine from ``base_lr`` to ``final_lr``, again and again.

    Cycle ``i = 0, 1, ...`` lasts ``T_i = T_0 * T_mult ** i`` updates and starts
    at ``S_i = T_0 + T_0 T_mult + ... + T_0 T_mult ** (i - 1)``. For ``t`` in
    cycle ``i``::

        lr(t) = final_lr + (base_lr - final_lr) * (1 + cos(pi * (t - S_i) / T_i)) / 2

    so the rate jumps back to ``base_lr`` at every ``S_i``. Equals
    ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min=final_lr)`` at every
    integer ``t``, whether ``t`` counts epochs or steps.
    """

    def __init__(self, base_lr: float, T_0: int, T_mult: int = 1, final_lr: float = 0.0):
        self.base_lr = check_rate("base_lr", base_lr)
        self.T_0 = check_int("T_0", T_0, minimum=1)
        self.T_mult = check_int("T_mult", T_mult, minimum=1)
        self.final_lr = _check_at_most("final_lr", check_rate("final_lr", final_lr), "base_lr", self.base_lr)

    def cycle(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(t - S_i, T_i)`` for each update count: where in its cycle ``t`` is, and the cycle's length."""
        t = np.asarray(t, dtype=np.int64)
        if self.T_mult == 1:
            return t % self.T_0, np.full(t.shape, self.T_0, dtype=np.int64)
        start = np.zeros(t.shape, dtype=np.int64)
        length = np.full(t.shape, self.T_0, dtype=np.int64)
        cap = MAX_T + 1  # a cycle longer than any update count: nothing past it is ever asked
        later = t - start >= length
        while later.any():  # at most ~62 passes: the cycles grow geometrically
            start = np.where(later, start + length, start)
            grown = np.where(length > cap // self.T_mult, cap, length * np.where(later, self.T_mult, 1))
            length = np.where(later, grown, length)
            later = t - start >= length
        return t - start, length

    def formula(self, t):
        into, length = self.cycle(t)
        return self.final_lr + (self.base_lr - self.final_lr) * (1 + np.cos(np.pi * into / length)) / 2


class Cyclic(Schedule):
    """Cyclical rates (Smith 2017): up from ``base_lr`` to ``max_lr`` in ``step_size_up`` updates and
    back down in ``step_size_down`` (``step_size_up`` when None), over and over.

    With ``C = step_size_up + step_size_down``, ``p = t mod C`` and the
    triangle ``h = p / step_size_up`` while ``p <= step_size_up``, else
    ``(C - p) / step_size_down``::

        lr(t) = base_lr + (max_lr - base_lr) * h * scale

    ``scale`` = 1 (``'triangular'``), ``1 / 2 ** (t // C)`` (``'triangular2'``:
    each cycle half as high) or ``gamma ** t`` (``'exp_range'``). Equals the
    rate of ``CyclicLR(base_lr, max_lr, step_size_up, step_size_down, mode,
    gamma)``. PyTorch's also cycles the momentum by default
    (``cycle_momentum=True``: from 0.9 down to 0.8 as the rate rises), even
    on plain SGD, whose ``momentum=0`` it overwrites; it refuses only an
    optimizer with neither a momentum nor betas (Adagrad). A schedule only
    gives the rate.
    """

    MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, base_lr: float, max_lr: float, step_size_up: int = 2000, step_size_down: int | None = None,
                 mode: str = "triangular", gamma: float = 1.0):
        self.base_lr = check_rate("base_lr", base_lr)
        self.max_lr = check_rate("max_lr", max_lr)
        _check_at_most("base_lr", self.base_lr, "max_lr", self.max_lr, " (the bottom of the cycle)")
        self.step_size_up = check_int("step_size_up", step_size_up, minimum=1)
        self.step_size_down = check_int("step_size_down", step_size_down, minimum=1, allow_none=True)
        check_choice("mode", mode, self.MODES)
        self.mode = mode
        self.gamma = check_decay("gamma", gamma)

    def formula(self, t):
        up = self.step_size_up
        down = up if self.step_size_down is None else self.step_size_down
        period = up + down
        p = t % period
        height = np.where(p <= up, p / up, (period - p) / down)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 0.5 ** (t // period)
        else:
            scale = self.gamma ** t
        return self.base_lr + (self.max_lr - self.base_lr) * height * scale


class WSD(Schedule):
    """Warmup-stable-decay (MiniCPM 2024; Hägele et al. 2024): a warmup, a long constant rate, then a
    short cooldown that ends at ``final_lr`` at ``max_update``.

    With ``w = warmup_steps``, ``s = max_update - decay_steps`` (where the
    cooldown starts) and ``f = (t - s) / decay_steps``::

        t < w:                  warmup_begin_lr + (peak_lr - warmup_begin_lr) * t / w
        w <= t < s:             peak_lr
        s <= t <= max_update:   final_lr + (peak_lr - final_lr) * c(f)
        t > max_update:         final_lr

    with the cooldown's shape ``c(f) = 1 - f`` (``'linear'``), ``(1 + cos(pi f)) / 2``
    (``'cosine'``) or ``1 - sqrt(f)`` (``'1-sqrt'``, Hägele et al.'s best).
    The constant part does not depend on the budget, so one run at
    ``peak_lr`` can be branched into a cooldown at any of its checkpoints.
    Where they overlap (``warmup_begin_lr = final_lr = min_lr_ratio *
    peak_lr``, ``decay_steps = num_decay_steps``) it equals ``peak_lr`` times
    the multiplier of ``transformers.get_wsd_schedule``.
    """

    DECAYS = ("linear", "cosine", "1-sqrt")

    def __init__(self, peak_lr: float, max_update: int, warmup_steps: int, decay_steps: int,
                 decay: str = "linear", final_lr: float = 0.0, warmup_begin_lr: float = 0.0):
        self.peak_lr = check_rate("peak_lr", peak_lr)
        self.max_update = check_int("max_update", max_update, minimum=1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)
        if self.warmup_steps + self.decay_steps > self.max_update:
            raise ValueError(f"warmup_steps + decay_steps must be <= max_update={max_update!r}, "
                             f"got {warmup_steps!r} + {decay_steps!r}")
        check_choice("decay", decay, self.DECAYS)
        self.decay = decay
        self.final_lr = _check_at_most("final_lr", check_rate("final_lr", final_lr), "peak_lr", self.peak_lr)
        self.warmup_begin_lr = _check_at_most("warmup_begin_lr", check_rate("warmup_begin_lr", warmup_begin_lr),
                                              "peak_lr", self.peak_lr)

    def formula(self, t):
        w, s = self.warmup_steps, self.max_update - self.decay_steps
        warm = self.warmup_begin_lr + (self.peak_lr - self.warmup_begin_lr) * t / max(w, 1)
        f = np.clip((t - s) / self.decay_steps, 0.0, 1.0)
        if self.decay == "linear":
            c = 1.0 - f
        elif self.decay == "cosine":
            c = (1.0 + np.cos(np.pi * f)) / 2
        else:
            c = 1.0 - np.sqrt(f)
        return np.where(t < w, warm, np.where(t < s, self.peak_lr, self.final_lr + (self.peak_lr - self.final_lr) * c))


class InverseSquareRoot(Schedule):
    """A linear warmup to ``peak_lr`` at ``warmup_steps``, then ``1/sqrt(t)``::

        t < w:   peak_lr * t / w
        t >= w:  peak_lr * sqrt(w / t)

    The rate of the Transformer (Vaswani et al. 2017, "Noam"):
    ``d_model ** -0.5 * min(t ** -0.5, t * w ** -1.5)`` is this with
    ``peak_lr = (d_model * w) ** -0.5``. Equals ``peak_lr`` times the
    multiplier of ``transformers.get_inverse_sqrt_schedule(num_warmup_steps=w)``.
    """

    def __init__(self, peak_lr: float, warmup_steps: int):
        self.peak_lr = check_rate("peak_lr", peak_lr)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=1)

    def formula(self, t):
        w = self.warmup_steps
        return np.where(t < w, self.peak_lr * t / w, self.peak_lr * np.sqrt(w / np.maximum(t, w)))


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
