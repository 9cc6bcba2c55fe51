"""The learning-rate range test (Smith 2017; fastai's ``lr_find``; torch-lr-finder).

Train for up to ``num_iter`` mini-batches while the rate grows from
``start_lr`` to ``end_lr``, record each batch's training loss, and stop once
the loss explodes. The curve of loss against rate shows where training
starts to work (the loss falls) and where the rate is too large (it shoots
up); the rules below read a suggested rate off it. Afterwards the net and
the optimizer are exactly as before, so the same net can then be trained.

The rate of step ``i = 0 .. num_iter - 1`` (:func:`sweep_rates`)::

    'exp':     start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))
    'linear':  start_lr + (end_lr - start_lr) * i / (num_iter - 1)

The smoothed loss (:func:`smooth_losses`) is a bias-corrected exponential
moving average of the batch losses ``loss_i``::

    avg_i = smooth * avg_(i-1) + (1 - smooth) * loss_i,   avg_(-1) = 0
    smoothed_i = avg_i / (1 - smooth ** (i + 1))

The rules work on ``(lrs, smoothed losses)`` and are pure functions, so they
can be tried on any curve:

==================  ==========================================================
``'valley'``        halfway down the longest descent of the loss
                    (:func:`valley`); the default ``suggestion``
``'steepest'``      where the loss falls fastest per decade of rate
                    (:func:`steepest_slope`)
``'minimum/10'``    a tenth of the rate of the lowest loss (:func:`minimum_over_ten`)
``'divergence/2'``  half the rate at which the loss exploded (:func:`divergence_half`)
==================  ==========================================================

A note on smoothing: an average over the last ``~1 / (1 - smooth)`` steps
lags behind the rate. With the defaults (0.98 over 100 steps spanning 8
decades) the steepest point of a sharp drop moves about half a decade to the
right, and every rule reads the smoothed curve, so they all inherit it.
"""
from __future__ import annotations

import bisect
import copy
import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

from .checks import check_batches, check_device, check_int, check_loss, check_rate, is_number
from .config import try_gpu
from .plotting import PNGFigure, set_axes
from .training import resolve_optimizer

__all__ = ["LRRangeResult", "lr_range_test", "sweep_rates", "smooth_losses", "valley", "fastai_valley",
           "steepest_slope", "minimum_over_ten", "divergence_half", "suggest", "DEFAULT_RULE",
           "RULES", "MIN_ITER", "MODES"]

MODES = ("exp", "linear")
MIN_ITER = 10  # enough for every rule to decide on a curve that falls (steepest keeps >= 8 points)
DEFAULT_RULE = "valley"
RULES = ("valley", "steepest", "minimum/10", "divergence/2")  # the keys of suggest(), in order
VALLEY_MIN_POINTS = 3


# ---------------------------------------------------------------- argument checks

def _check_sweep(start_lr, end_lr, num_iter, mode) -> tuple[float, float, int, str]:
    start_lr = check_rate("start_lr", start_lr, positive=True)
    end_lr = check_rate("end_lr", end_lr, positive=True)
    if start_lr >= end_lr:
        raise ValueError(f"start_lr must be < end_lr (the test sweeps upwards), got start_lr={start_lr!r} "
                         f"and end_lr={end_lr!r}")
    num_iter = check_int("num_iter", num_iter, minimum=MIN_ITER)
    if mode not in MODES:
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")
    return start_lr, end_lr, num_iter, mode


def _check_smooth(smooth) -> float:
    if not is_number(smooth) or not 0 <= smooth < 1:
        raise ValueError(f"smooth must be a number in [0, 1) (the weight of the past), got {smooth!r}")
    return float(smooth)


def _check_diverge_th(diverge_th) -> float:
    if not is_number(diverge_th) or math.isnan(diverge_th) or diverge_th <= 1:
        raise ValueError(f"diverge_th must be a number > 1 (a multiple of the lowest loss; inf never "
                         f"stops), got {diverge_th!r}")
    return float(diverge_th)


def _check_curve(lrs, losses) -> tuple[np.ndarray, np.ndarray]:
    """``lrs`` strictly increasing, finite and > 0; ``losses`` finite; both 1-D, of one length."""
    try:
        x = np.asarray(lrs, dtype=np.float64)
        y = np.asarray(losses, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"lrs and losses must be 1-D sequences of numbers, got {lrs!r} and {losses!r}") \
            from None
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"lrs and losses must be 1-D and of one length, got shapes {x.shape} and {y.shape}")
    if x.size and (not np.all(np.isfinite(x)) or x.min() <= 0 or np.any(np.diff(x) <= 0)):
        raise ValueError(f"lrs must be finite, > 0 and strictly increasing, got {lrs!r}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"losses must be finite (the range test keeps no non-finite loss), got {losses!r}")
    return x, y


# ---------------------------------------------------------------- the sweep and the smoothing

def sweep_rates(start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> list[float]:
    """The rate of each step ``i = 0 .. num_iter - 1`` of a range test (formulas: module docstring).

    Step 0 uses ``start_lr`` and step ``num_iter - 1`` uses ``end_lr`` (up
    to rounding); ``'exp'`` spaces the rates evenly on a log scale, so every
    decade gets the same number of steps; ``'linear'`` spends almost all of
    them on the last decade.
    """
    start_lr, end_lr, num_iter, mode = _check_sweep(start_lr, end_lr, num_iter, mode)
    last = num_iter - 1
    if mode == "exp":
        return [start_lr * (end_lr / start_lr) ** (i / last) for i in range(num_iter)]
    return [start_lr + (end_lr - start_lr) * i / last for i in range(num_iter)]


def smooth_losses(raw_losses, smooth: float = 0.98) -> list[float]:
    """The bias-corrected exponential moving average of ``raw_losses`` (formula: module docstring).

    ``smooth = 0`` returns the losses unchanged; the bias correction makes
    the first values averages of the few losses seen so far instead of
    values pulled towards 0. ``raw_losses`` must be finite numbers (a range
    test keeps no non-finite loss): a NaN would turn every later value NaN.
    """
    smooth = _check_smooth(smooth)
    try:
        losses = [float(loss) for loss in raw_losses]
    except (TypeError, ValueError):
        raise ValueError(f"raw_losses must be a sequence of finite numbers, got {raw_losses!r}") from None
    bad = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
    if bad is not None:
        raise ValueError(f"raw_losses must be finite numbers (a range test keeps no non-finite loss), "
                         f"got {losses[bad]} at index {bad}")
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = smooth * avg + (1 - smooth) * loss
        out.append(avg / (1 - smooth ** (i + 1)))
    return out


def _diverged(smoothed: float, best: float, diverge_th: float) -> bool:
    """The stop rule: the smoothed loss is above ``diverge_th`` times its lowest value so far.

    Only a positive lowest value counts (a loss at or below 0 gives no scale).
    """
    return best > 0 and smoothed > diverge_th * best


# ---------------------------------------------------------------- suggestion rules

def _descent_lengths(y: np.ndarray) -> list[int]:
    """``length[i]``: the length of the longest strictly decreasing subsequence of ``y`` ending at ``i``."""
    tails, length = [], []
    for v in y:
        k = bisect.bisect_left(tails, -v)
        tails[k:k + 1] = [-v]
        length.append(k + 1)
    return length


def _longest_descent(y: np.ndarray) -> list[int]:
    """Indices of a longest strictly decreasing subsequence of ``y``; of those, one ending lowest.

    Patience sorting on ``-y`` (O(n log n)): ``length[i]`` is the length of
    the longest decreasing subsequence ending at ``i`` and ``parent[i]`` its
    previous point, so the chain can be read back from any end.
    """
    if not y.size:
        return []
    tails, tail_idx = [], []
    length, parent = [0] * y.size, [-1] * y.size
    for i in range(y.size):
        k = bisect.bisect_left(tails, -y[i])  # strictly increasing in -y: strictly decreasing in y
        length[i], parent[i] = k + 1, tail_idx[k - 1] if k else -1
        if k == len(tails):
            tails.append(-y[i])
            tail_idx.append(i)
        else:
            tails[k], tail_idx[k] = -y[i], i
    longest = max(length, default=0)
    ends = [i for i in range(y.size) if length[i] == longest]
    i, chain = min(ends, key=lambda j: (y[j], j)), []
    while i != -1:
        chain.append(i)
        i = parent[i]
    return chain[::-1]


def valley(lrs, losses, *, depth: float = 0.5) -> float | None:
    """The rate halfway (``depth``) down the longest descent of the loss, or None.

    1. The valley: a longest strictly decreasing subsequence of the losses
       (of those, the one that ends lowest). It starts at ``a``, on the
       plateau before training took off, and ends at ``b``, the bottom of
       the descent: normally the lowest loss, just before the rise.
    2. The level ``losses[a] - depth * (losses[a] - losses[b])``: with
       ``depth = 0.5`` halfway down in loss. Along the valley the loss falls
       monotonically, so it crosses that level exactly once; the rate there
       is interpolated in log10(lr) between the two valley points around
       the crossing.

    This is lrcourse's own variant of fastai's ``valley``, which picks its
    point by index along the valley instead (see below). For a descent
    symmetric in log lr (a tanh step) halfway down is exactly the steepest
    point, the rate the steepest rule is after (fastai's ``steep``,
    torch-lr-finder's suggestion); on a real, smoothed curve the descent is
    lopsided and the two differ. **Why it is robust:**
    the steepest point is a derivative, the difference of two neighbouring
    noisy losses, so on a noisy curve it jumps to wherever the noise made one
    step large, and it depends on how many points are skipped at the ends.
    The valley uses the whole descent: the level depends only on its top and
    its bottom, a noisy point cannot shorten the longest decreasing
    subsequence by more than itself (the subsequence skips it), one lucky
    early batch cannot pose as the bottom (it makes no long descent), and
    nothing has to be skipped at the ends. It is also indifferent to how
    long the flat start is (fastai's valley, which inspired it, takes a
    fixed fraction of the valley's *length* in points instead).
    ``depth`` in (0, 1): larger picks a larger rate, nearer the bottom.
    On chapter 7's LeNet tests it lands a median 9× above fastai's valley
    and at 0.29× the steepest point (:func:`fastai_valley`).

    None when the valley holds fewer than 3 points (the loss never fell for
    long).
    """
    x, y = _check_curve(lrs, losses)
    if not is_number(depth) or not 0 < depth < 1:
        raise ValueError(f"depth must be a number in (0, 1) (the fraction of the descent), got {depth!r}")
    chain = _longest_descent(y)
    if len(chain) < VALLEY_MIN_POINTS:
        return None
    top, bottom = y[chain[0]], y[chain[-1]]
    level = top - depth * (top - bottom)
    k = next(k for k in range(1, len(chain)) if y[chain[k]] <= level)
    p, q = chain[k - 1], chain[k]
    f = (y[p] - level) / (y[p] - y[q])
    return float(10 ** (np.log10(x[p]) + f * (np.log10(x[q]) - np.log10(x[p]))))


def fastai_valley(lrs, losses, *, skip_start: int | None = None, skip_end: int = 5) -> float | None:
    """fastai's ``valley`` rule (the default of its ``lr_find``), for comparison with :func:`valley`.

    On the curve without its first ``skip_start`` points (default 10 %) and
    its last ``skip_end`` (default 5), as fastai's ``lr_find`` reads it:
    ``L`` is the length of the longest strictly decreasing subsequence, ``e``
    the first point where such a subsequence ends, ``s = e - L``; the rule
    returns the rate of point ``s + int(L / 3) + int(L / 6)``, "the middle
    of the middle third" counted in *points*, wherever the loss is there.
    None when fewer than 3 points descend.

    Measured on chapter 7's ten LeNet tests (seeds 0-9, 100 steps, smooth
    0.98, CPU): :func:`valley` landed a median 9× above this rule (1.3× to
    35×) and at 0.29× the steepest point (0.22× to 0.57×); on the MLP 11×
    (5.4× to 21×) and 0.47×. The long flat start drifts slowly down, so the
    longest descent starts early and a point counted along it lands in the
    plateau, at rates where ten epochs of LeNet train slowly.
    """
    x, y = _check_curve(lrs, losses)
    skip_start, _ = _default_skips(y.size, skip_start, 0)
    skip_end = check_int("skip_end", skip_end, minimum=0)
    x, y = x[skip_start:y.size - skip_end], y[skip_start:y.size - skip_end]
    length = _descent_lengths(y)
    if max(length, default=0) < VALLEY_MIN_POINTS:
        return None
    end = length.index(max(length))
    start = end - length[end]
    return float(x[start + int(length[end] / 3) + int(length[end] / 6)])


def _default_skips(n: int, skip_start, skip_end) -> tuple[int, int]:
    skip_start = max(1, n // 10) if skip_start is None else check_int("skip_start", skip_start, minimum=0)
    skip_end = max(1, n // 20) if skip_end is None else check_int("skip_end", skip_end, minimum=0)
    return skip_start, skip_end


def steepest_slope(lrs, losses, *, skip_start: int | None = None, skip_end: int | None = None) \
        -> float | None:
    """The rate where the loss falls fastest against log10(lr), or None.

    The slope is ``np.gradient(losses, log10(lrs))`` (central differences,
    in loss per decade of rate), so a linear sweep, whose points crowd into
    the last decade, is read the same way as an exponential one. The first
    ``skip_start`` points (default 10 %, at least 1) and the last
    ``skip_end`` (default 5 %, at least 1) are dropped first: the start is
    flat noise and the end is the explosion. None when fewer than 2 points
    remain or the loss never falls (no slope below -1e-9 times the largest
    loss: rounding makes a flat curve's slopes tiny, not 0).
    """
    x, y = _check_curve(lrs, losses)
    skip_start, skip_end = _default_skips(y.size, skip_start, skip_end)
    x, y = x[skip_start:y.size - skip_end], y[skip_start:y.size - skip_end]
    if y.size < 2:
        return None
    slope = np.gradient(y, np.log10(x))
    i = int(np.argmin(slope))
    flat = 1e-9 * float(np.abs(y).max())  # rounding in np.gradient's uneven-spacing weights
    return float(x[i]) if slope[i] < -flat else None


def minimum_over_ten(lrs, losses, *, skip_start: int | None = None) -> float | None:
    """A tenth of the rate of the lowest loss (its first occurrence), or None.

    At the minimum the rate is already about to be too large; a tenth of it
    is a step back onto the descent. The first ``skip_start`` points
    (default 10 %, at least 1) are left out: the first smoothed losses are
    averages of a few batches, and one lucky batch would pose as the
    minimum. None when no point is left or the lowest one is the first left
    (the loss never fell: nothing to go on).
    """
    x, y = _check_curve(lrs, losses)
    skip_start, _ = _default_skips(y.size, skip_start, 0)
    x, y = x[skip_start:], y[skip_start:]
    if y.size == 0:
        return None
    i = int(np.argmin(y))
    return float(x[i] / 10) if i else None


def divergence_half(lrs, losses, *, diverged_at: float | None = None, diverge_th: float = 4.0) \
        -> float | None:
    """Half the rate at which the loss diverged, or None if it never did.

    ``diverged_at``: the rate at which the range test stopped (it knows, also
    when the loss turned non-finite and that point was not kept). Without
    it, the curve is scanned with the test's own stop rule: the first point
    whose loss exceeds ``diverge_th`` times the lowest loss before it.
    """
    x, y = _check_curve(lrs, losses)
    if diverged_at is not None:
        return check_rate("diverged_at", diverged_at, positive=True) / 2
    diverge_th = _check_diverge_th(diverge_th)
    best = math.inf
    for lr, loss in zip(x, y):
        best = min(best, float(loss))
        if _diverged(float(loss), best, diverge_th):
            return float(lr) / 2
    return None


def suggest(lrs, losses, *, diverged_at: float | None = None, diverge_th: float = 4.0) -> dict:
    """Every rule's rate on one curve: ``{rule name: rate or None}``, the default rule first."""
    rates = (valley(lrs, losses), steepest_slope(lrs, losses), minimum_over_ten(lrs, losses),
             divergence_half(lrs, losses, diverged_at=diverged_at, diverge_th=diverge_th))
    return dict(zip(RULES, rates))


# ---------------------------------------------------------------- the result

@dataclass(frozen=True)
class LRRangeResult:
    """What a range test recorded, one entry per kept step, and the rules' suggestions.

    ``lrs``: group 0's rate of each step; ``losses``: the smoothed losses;
    ``raw_losses``: each batch's loss (computed before that step's update).
    ``stopped_early``: fewer steps than ``num_iter`` ran (the loss diverged,
    or a one-shot loader ran dry). ``diverged_at``: the rate of the step at
    which the stop rule fired (also when it was the last step or a
    non-finite loss that was not kept), else None. ``suggestions``: ``{rule:
    rate or None}``; ``suggestion``: the default rule's (``'valley'``).
    ``smooth``: the smoothing of ``losses`` (in a test's own result, the
    one its stop rule used; :meth:`with_smoothing` gives another).
    """

    lrs: list
    losses: list
    raw_losses: list
    stopped_early: bool
    diverged_at: float | None
    suggestions: dict = field(default_factory=dict)
    num_iter: int = 0
    mode: str = "exp"
    smooth: float = 0.98

    @property
    def suggestion(self) -> float | None:
        return self.suggestions.get(DEFAULT_RULE)

    def __repr__(self) -> str:
        rules = ", ".join(f"{k} {'-' if v is None else format(v, '.3g')}"
                          for k, v in self.suggestions.items())
        span = f"{self.lrs[0]:.3g} to {self.lrs[-1]:.3g}" if self.lrs else "no rate"
        stop = f"; diverged at {self.diverged_at:.3g}" if self.diverged_at is not None else ""
        return f"LRRangeResult({len(self.lrs)} of {self.num_iter} steps, {span}{stop}; suggestions: {rules})"

    def with_smoothing(self, smooth: float) -> LRRangeResult:
        """The same test read with another smoothing: a new result; this one is unchanged.

        ``losses`` become ``smooth_losses(raw_losses, smooth)``, the
        bias-corrected moving average (module docstring)::

            avg_i = smooth * avg_(i-1) + (1 - smooth) * raw_loss_i,   avg_(-1) = 0
            losses_i = avg_i / (1 - smooth ** (i + 1))

        and ``suggestions`` are ``suggest`` on the new curve. The sweep itself
        is not re-run: ``lrs``, ``raw_losses``, ``stopped_early`` and
        ``diverged_at`` stay as the test recorded them. Where the test
        stopped was decided by the original smoothing, so a curve re-smoothed
        with a smaller ``smooth`` (less lag) ends where the original stopped,
        not where its own stop rule would have fired, and ``'divergence/2'``
        stays half of ``diverged_at`` (None when the test never diverged: the
        new curve is not scanned for a stop that did not happen). ``smooth``
        in [0, 1); 0 gives the raw losses.
        """
        smooth = _check_smooth(smooth)
        losses = smooth_losses(self.raw_losses, smooth)
        # diverge_th=inf: no scan of the new curve; divergence/2 comes from diverged_at alone
        suggestions = suggest(self.lrs, losses, diverged_at=self.diverged_at, diverge_th=math.inf)
        return replace(self, losses=losses, suggestions=suggestions, smooth=smooth)

    def plot(self, ax=None, *, skip_start: int = 0, skip_end: int = 0, figsize=(4.5, 2.8),
             title=None, highlight: str | None = None) -> PNGFigure | None:
        """Smoothed loss (and the raw loss, faint) against the rate on a log axis, one line per suggestion.

        ``skip_start`` / ``skip_end`` leave out points at the ends. The y
        range follows the smoothed curve's descent, from its lowest point to
        the highest before it plus half the drop (at least 5 %), so a loss
        that exploded leaves through the top instead of squashing the
        descent. Each rule with a rate gets a vertical line and a legend
        entry; the ``highlight`` rule's (one of :data:`RULES`, default
        ``'valley'``) is solid and labelled "(default)" when it is the
        default rule, else "(chosen)". Returns a
        :class:`~lrcourse.plotting.PNGFigure`; given ``ax``, draws there and
        returns None.
        """
        n = len(self.lrs)
        if highlight is None:
            highlight = DEFAULT_RULE
        elif highlight not in RULES:
            raise ValueError(f"highlight must be one of {list(RULES)} (a rule name), got {highlight!r}")
        skip_start = check_int("skip_start", skip_start, minimum=0)
        skip_end = check_int("skip_end", skip_end, minimum=0)
        if skip_start + skip_end >= n:
            raise ValueError(f"skip_start + skip_end must leave at least one of the {n} points, got "
                             f"skip_start={skip_start} and skip_end={skip_end}")
        fig = None
        if ax is None:
            fig = PNGFigure(figsize=figsize, layout="constrained")
            ax = fig.subplots()
        shown = slice(skip_start, n - skip_end)
        lrs, smoothed, raw = self.lrs[shown], self.losses[shown], self.raw_losses[shown]
        ax.plot(lrs, raw, color="C0", alpha=0.25, linewidth=0.8, label="loss (raw)")
        ax.plot(lrs, smoothed, color="C0", linewidth=1.8, label="loss (smoothed)")
        bottom = int(np.argmin(smoothed))
        low, plateau = smoothed[bottom], max(smoothed[:bottom + 1])
        high = plateau + max(0.5 * (plateau - low), 0.05 * abs(plateau)) or 0.05
        pad = 0.05 * (high - low)
        for k, (name, rate) in enumerate(self.suggestions.items()):
            if rate is None:
                continue
            chosen = name == highlight
            tag = (" (default)" if name == DEFAULT_RULE else " (chosen)") if chosen else ""
            ax.axvline(rate, color=f"C{k + 1}", linestyle="-" if chosen else "--",
                       linewidth=1.6 if chosen else 1.1, label=f"{name}{tag}: {rate:.2g}")
        set_axes(ax, "learning rate (log scale)", "training loss", None, (low - pad, high + pad),
                 "log", "linear", None)
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title)
        return fig


# ---------------------------------------------------------------- the test

def _make_optimizer(net: nn.Module, optimizer, start_lr: float) -> Optimizer:
    if optimizer is None:
        return torch.optim.SGD(net.parameters(), lr=start_lr)
    return resolve_optimizer(net, optimizer)


def _group_ratios(optimizer: Optimizer) -> list[float]:
    """Each group's initial rate over group 0's: the sweep scales every group (as ScheduleLR does)."""
    initial = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
    if len(initial) > 1 and not initial[0] > 0:
        raise ValueError("with several parameter groups, group 0's initial lr must be > 0 "
                         f"(the others keep their ratio to it), got {initial[0]!r}")
    return [1.0] + [float(r) / float(initial[0]) for r in initial[1:]]


def _cycle(loader):
    """The loader's batches, pass after pass; ends when a pass yields nothing."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            return


class _Snapshot:
    """Deep copies of what the test changes, put back by :meth:`restore`, bit for bit."""

    def __init__(self, net: nn.Module, optimizer: Optimizer | None):
        self.net, self.optimizer = net, optimizer
        self.net_state = copy.deepcopy(net.state_dict())
        self.modes = [(m, m.training) for m in net.modules()]
        self.grads = [(p, None if p.grad is None else p.grad.detach().clone()) for p in net.parameters()]
        self.opt_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None

    def restore(self) -> None:
        self.net.load_state_dict(self.net_state)
        for module, training in self.modes:
            module.training = training
        for p, grad in self.grads:
            p.grad = grad
        if self.optimizer is not None:
            self.optimizer.load_state_dict(self.opt_state)


def lr_range_test(net: nn.Module, train_iter, *, loss=None, optimizer=None, start_lr: float = 1e-7,
                  end_lr: float = 10.0, num_iter: int = 100, mode: str = "exp", smooth: float = 0.98,
                  diverge_th: float = 4.0, device=None) -> LRRangeResult:
    """Run the LR range test on ``net`` and return the curve with every rule's suggestion.

    Step ``i`` trains on one batch of ``train_iter`` with group 0's rate set
    to ``sweep_rates(start_lr, end_lr, num_iter, mode)[i]`` (every other
    group: that times its initial rate over group 0's) and records the
    batch's loss (before the update) and its smoothed value (formulas: module
    docstring). The loader is restarted as often as needed.

    Stops early when the smoothed loss exceeds ``diverge_th`` times its
    lowest value so far (that point is kept) or the loss is non-finite (that
    point is not kept). Afterwards ``net``'s parameters, buffers, gradients
    and train/eval modes and the optimizer's state and rates are exactly as
    before, also when the test stops early or raises. The test moves ``net``
    to ``device`` (as :func:`~lrcourse.training.fit` does) and leaves it there.

    ``loss``: default cross-entropy. ``optimizer``: None (plain SGD), an
    optimizer over ``net``'s parameters (restored afterwards) or a factory
    ``params -> optimizer``. ``smooth`` in [0, 1): the weight of the past in
    the moving average. ``diverge_th`` > 1 (``inf``: never stop on the
    level). ``num_iter`` >= 10 (100 or more reads better). ``device``: default
    the loader's device, else :func:`~lrcourse.config.try_gpu`. The loss
    should be >= 0 (the stop rule is a multiple of its minimum).
    """
    rates = sweep_rates(start_lr, end_lr, num_iter, mode)
    smooth = _check_smooth(smooth)
    diverge_th = _check_diverge_th(diverge_th)
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    check_loss(loss)
    check_batches("train_iter", train_iter)
    given = optimizer if isinstance(optimizer, Optimizer) else None
    if given is not None:
        resolve_optimizer(net, given)
    if device is None:
        device = getattr(train_iter, "device", None) or try_gpu()
    device = check_device(device)

    before = [p.device for p in net.parameters()]
    net.to(device)
    if given is not None and [p.device for p in net.parameters()] != before:
        given.load_state_dict(given.state_dict())  # its state follows the parameters to the device
    snapshot = _Snapshot(net, given)
    loss = loss if loss is not None else nn.CrossEntropyLoss()
    lrs, smoothed, raw = [], [], []
    diverged_at, avg, best = None, 0.0, math.inf
    try:
        optimizer = _make_optimizer(net, optimizer, rates[0])
        groups, ratios = optimizer.param_groups, _group_ratios(optimizer)
        batches = _cycle(train_iter)
        net.train()
        for i, lr in enumerate(rates):
            try:
                X, y = next(batches)
            except StopIteration:
                if i == 0:
                    raise ValueError("train_iter yielded no batches") from None
                warnings.warn(f"train_iter yielded nothing when restarted after {i} batches (a one-shot "
                              f"iterator?); the range test stopped there. Pass a loader that can be "
                              f"iterated again, or num_iter <= {i}", RuntimeWarning, stacklevel=2)
                break
            X, y = X.to(device), y.to(device)
            for group, ratio in zip(groups, ratios):
                group["lr"] = lr * ratio
            optimizer.zero_grad(set_to_none=True)
            l = loss(net(X), y)
            value = float(l.detach())  # one host sync per step: the stop rule needs every loss
            if not math.isfinite(value):
                if i == 0:
                    raise ValueError(f"the loss is non-finite ({value}) from the first batch, at "
                                     f"start_lr={rates[0]:.3g} before any update: check the net, the "
                                     f"data and the loss, or try a smaller start_lr")
                diverged_at = lr
                break
            l.backward()
            optimizer.step()
            avg = smooth * avg + (1 - smooth) * value  # the same operations as smooth_losses
            lrs.append(lr)
            raw.append(value)
            smoothed.append(avg / (1 - smooth ** (i + 1)))
            best = min(best, smoothed[-1])
            if _diverged(smoothed[-1], best, diverge_th):
                diverged_at = lr
                break
    finally:
        snapshot.restore()
    return LRRangeResult(lrs=lrs, losses=smoothed, raw_losses=raw, stopped_early=len(lrs) < num_iter,
                         diverged_at=diverged_at,
                         suggestions=suggest(lrs, smoothed, diverged_at=diverged_at, diverge_th=diverge_th),
                         num_iter=num_iter, mode=mode, smooth=smooth)
