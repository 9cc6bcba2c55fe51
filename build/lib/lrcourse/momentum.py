"""Momentum from scratch, and the maths of the quadratic playground.

**The update.** PyTorch's SGD with momentum β (dampening 0) keeps a velocity
``v`` per parameter and, for the gradient ``g`` of the loss at ``w``::

    v ← β·v + g              (v starts at 0, so the first step is plain SGD)
    w ← w − α·v              heavy ball
    w ← w − α·(g + β·v)      Nesterov (the v just updated)

With weight decay ``λ_wd`` the gradient is ``g + λ_wd·w`` throughout. For a
constant gradient the velocity tends to ``g / (1 − β)``, so momentum β
multiplies the step by up to ``1 / (1 − β)``: the *effective step* is
``α / (1 − β)``. :func:`momentum_step` does one update on plain tensors;
:class:`MomentumSGD` is the same thing as a ``torch.optim.Optimizer``, so it
trains with :func:`~lrcourse.training.fit` and works with every scheduler.

**The playground.** A quadratic ``f(x) = ½ Σ λ_i x_i²`` with eigenvalues
``λ_1 ≤ ... ≤ λ_n`` (condition number ``κ = λ_n / λ_1``). Along each
eigenvector the method is a linear recurrence, ``(x_i, v_i) ← M_i (x_i, v_i)``;
the characteristic polynomial of ``M_i`` is ``z² − T_i z + D_i`` with

* heavy ball: ``T_i = 1 + β − αλ_i``, ``D_i = β``;
* Nesterov:   ``T_i = (1 + β)(1 − αλ_i)``, ``D_i = β(1 − αλ_i)``.

The *rate* is the largest ``|z|`` over all roots and all ``i`` (the spectral
radius): the distance to the minimum shrinks by about that factor per step,
and the loss by its square. Plain gradient descent (β = 0) has rate
``max_i |1 − αλ_i|``, at best ``(κ − 1)/(κ + 1)`` at ``α = 2/(λ_1 + λ_n)``.
The heavy ball at its best reaches ``(√κ − 1)/(√κ + 1)``, at
``α = (2/(√λ_1 + √λ_n))²`` and ``β = ((√κ − 1)/(√κ + 1))²`` (Polyak, 1964).
Every function here takes arrays for ``α`` and ``β`` and broadcasts them, so
a whole grid of settings is computed at once.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch.optim import Optimizer

from .checks import check_int, check_rate

__all__ = ["momentum_step", "MomentumSGD", "quadratic_eigenvalues", "QuadraticRun", "run_quadratic",
           "convergence_rate", "optimal_gd", "optimal_momentum"]


# ---------------------------------------------------------------- argument checks

def _check_number(name: str, value, low: float, high: float, *, low_open: bool, high_open: bool,
                  allowed: str) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _check_momentum(momentum) -> None:
    _check_number("momentum", momentum, 0, 1, low_open=False, high_open=True,
                  allowed="a number in [0, 1)")


def _as_array(name: str, value, low: float, high: float, *, low_open: bool, allowed: str) -> np.ndarray:
    """``value`` (a number or an array of them) as a float array, every entry checked."""
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    inside = (arr > low if low_open else arr >= low) & (arr < high)
    if arr.size == 0 or not np.all(np.isfinite(arr) & inside):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return arr


def _alpha(alpha) -> np.ndarray:
    return _as_array("alpha", alpha, 0, math.inf, low_open=True,
                     allowed="a finite number > 0 (or an array of them)")


def _beta(beta) -> np.ndarray:
    return _as_array("beta", beta, 0, 1, low_open=False, allowed="a number in [0, 1) (or an array of them)")


def _eigenvalues(lambdas) -> np.ndarray:
    try:
        lam = np.asarray(lambdas, dtype=float)
    except (TypeError, ValueError):
        lam = None
    if lam is None or lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam) & (lam > 0)):
        raise ValueError(f"lambdas must be a 1-D sequence of finite eigenvalues > 0, got {lambdas!r}")
    return lam


# ---------------------------------------------------------------- momentum SGD from scratch

@torch.no_grad()
def momentum_step(params, velocities, lr: float, momentum: float, *, nesterov: bool = False,
                  weight_decay: float = 0.0) -> None:
    """One step of SGD with momentum on plain tensors, in place.

    For each parameter ``w`` (with ``w.grad`` = g) and its velocity ``v``
    (a tensor of ``w``'s shape, zeros before the first step)::

        g ← g + weight_decay·w
        v ← momentum·v + g
        w ← w − lr·v                  (nesterov: w ← w − lr·(g + momentum·v))

    Parameters without a gradient are skipped (their velocity too), as
    PyTorch does. This is exactly ``torch.optim.SGD(lr, momentum,
    nesterov=nesterov, weight_decay=weight_decay)`` with dampening 0.
    Raises ``ValueError`` for a rate or weight decay that is negative or not
    finite, a momentum outside [0, 1), or fewer velocities than parameters.
    """
    check_rate("lr", lr)
    _check_momentum(momentum)
    check_rate("weight_decay", weight_decay)
    params, velocities = list(params), list(velocities)
    if len(params) != len(velocities):
        raise ValueError(f"params and velocities must pair up (one velocity per parameter), got "
                         f"{len(params)} params and {len(velocities)} velocities")
    for w, v in zip(params, velocities, strict=True):
        if w.grad is None:
            continue
        g = w.grad
        if weight_decay:
            g = g.add(w, alpha=weight_decay)
        v.mul_(momentum).add_(g)
        w.sub_(g.add(v, alpha=momentum) if nesterov else v, alpha=lr)


class MomentumSGD(Optimizer):
    """SGD with momentum written out by hand (:func:`momentum_step`), as an optimizer.

    ``MomentumSGD(net.parameters(), lr=0.03, momentum=0.9)`` trains exactly as
    ``torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9)``. ``lr`` is
    the step size α; ``momentum`` β in [0, 1); ``nesterov`` uses the
    look-ahead form; ``weight_decay`` adds ``weight_decay·w`` to each
    gradient. The velocities live in ``self.state[w]["velocity"]``. Because it
    is an ``Optimizer``, schedulers change its ``param_groups[i]["lr"]`` as
    they change SGD's, and ``state_dict`` saves the velocities.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, *, nesterov: bool = False,
                 weight_decay: float = 0.0):
        check_rate("lr", lr, positive=True)
        _check_momentum(momentum)
        check_rate("weight_decay", weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0, got momentum=0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=bool(nesterov),
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [w for w in group["params"] if w.grad is not None]
            for w in params:
                if "velocity" not in self.state[w]:
                    self.state[w]["velocity"] = torch.zeros_like(w)
            velocities = [self.state[w]["velocity"] for w in params]
            momentum_step(params, velocities, group["lr"], group["momentum"],
                          nesterov=group["nesterov"], weight_decay=group["weight_decay"])
        return loss


# ---------------------------------------------------------------- the quadratic playground

def quadratic_eigenvalues(kappa: float, lambda_max: float = 1.0) -> np.ndarray:
    """The eigenvalues ``(λ_max / κ, λ_max)`` of a 2-D quadratic with condition number κ ≥ 1.

    Fixing the largest eigenvalue keeps the stable range of α the same for
    every κ: plain gradient descent needs ``α < 2 / λ_max``.
    """
    _check_number("kappa", kappa, 1, math.inf, low_open=False, high_open=True,
                  allowed="a finite number >= 1 (the condition number)")
    check_rate("lambda_max", lambda_max, positive=True)
    return np.array([lambda_max / kappa, lambda_max])


@dataclass(frozen=True)
class QuadraticRun:
    """What :func:`run_quadratic` returns.

    ``path``: the iterates, shape ``(..., num_steps + 1, n)`` (``x_0`` first);
    ``loss``: ``f(x_k) = ½ Σ λ_i x_ik²``, shape ``(..., num_steps + 1)``;
    ``rate``: the theoretical rate of :func:`convergence_rate`, shape ``(...)``.
    The leading ``...`` is the broadcast shape of ``alpha`` and ``beta``.
    """

    path: np.ndarray
    loss: np.ndarray
    rate: np.ndarray


def run_quadratic(alpha, beta, lambdas, x0, num_steps: int, *, nesterov: bool = False) -> QuadraticRun:
    """Run heavy ball (or Nesterov) on ``f(x) = ½ Σ λ_i x_i²`` from ``x0`` for ``num_steps`` steps.

    The gradient is ``λ_i x_i``; the update is :func:`momentum_step`'s, with
    ``v`` starting at 0. ``alpha`` and ``beta`` may be arrays (broadcast
    together): one run per setting, all computed at once. A diverging run
    overflows to ``inf`` and then ``nan``; nothing is clipped.
    """
    a, b = np.broadcast_arrays(_alpha(alpha), _beta(beta))
    lam = _eigenvalues(lambdas)
    x0 = np.asarray(x0, dtype=float)
    if x0.shape != lam.shape or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be {lam.size} finite numbers (one per eigenvalue), got {x0!r}")
    check_int("num_steps", num_steps, minimum=0)
    a, b = a[..., None], b[..., None]                 # broadcast against the coordinates
    path = np.empty(a.shape[:-1] + (num_steps + 1, lam.size))
    x = np.broadcast_to(x0, path.shape[:-2] + (lam.size,)).copy()
    v = np.zeros_like(x)
    path[..., 0, :] = x
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for k in range(1, num_steps + 1):
            g = lam * x
            v = b * v + g
            x = x - a * (g + b * v if nesterov else v)
            path[..., k, :] = x
        loss = 0.5 * (lam * path ** 2).sum(axis=-1)
    return QuadraticRun(path=path, loss=loss,
                        rate=convergence_rate(alpha, beta, lam, nesterov=nesterov))


def convergence_rate(alpha, beta, lambdas, *, nesterov: bool = False) -> np.ndarray:
    """The asymptotic rate ρ (spectral radius) of heavy ball or Nesterov on the quadratic.

    ``ρ = max_i max |z|`` over the roots of ``z² − T_i z + D_i`` (see the
    module docstring). ρ < 1: the distance to the minimum shrinks like ρ^k
    and the loss like ρ^(2k); ρ ≥ 1: no convergence. With ``beta = 0`` this
    is ``max_i |1 − α λ_i|``. Broadcasts ``alpha`` and ``beta``.
    """
    a, b = np.broadcast_arrays(_alpha(alpha), _beta(beta))
    lam = _eigenvalues(lambdas)
    a, b = a[..., None], b[..., None]
    if nesterov:
        trace, det = (1 + b) * (1 - a * lam), b * (1 - a * lam)
    else:
        trace, det = 1 + b - a * lam, b + 0 * lam
    root = np.sqrt((trace ** 2 - 4 * det).astype(complex))
    radius = np.maximum(np.abs(trace + root), np.abs(trace - root)) / 2
    return radius.max(axis=-1)


def optimal_gd(lambdas) -> tuple[float, float]:
    """Plain gradient descent's best step and rate: ``(2/(λ_1 + λ_n), (κ − 1)/(κ + 1))``."""
    lam = _eigenvalues(lambdas)
    low, high = lam.min(), lam.max()
    kappa = high / low
    return 2 / (low + high), (kappa - 1) / (kappa + 1)


def optimal_momentum(lambdas) -> tuple[float, float, float]:
    """The heavy ball's best ``(α, β, rate)`` on the quadratic (Polyak).

    ``α = (2/(√λ_1 + √λ_n))²``, ``β = ((√κ − 1)/(√κ + 1))²``, rate ``√β =
    (√κ − 1)/(√κ + 1)``.
    """
    lam = _eigenvalues(lambdas)
    low, high = lam.min(), lam.max()
    root_kappa = math.sqrt(high / low)
    rate = (root_kappa - 1) / (root_kappa + 1)
    return (2 / (math.sqrt(low) + math.sqrt(high))) ** 2, rate ** 2, rate
