"""How far a larger batch helps: the gradient noise scale and the critical batch size.

McCandlish, Kaplan, Amodei et al. (2018), "An empirical model of large-batch
training". With ``G`` the full-data gradient and ``Σ`` the covariance of the
per-example gradients, a batch of ``B`` examples estimates ``G`` with noise
``tr(Σ)/B``. The *simple noise scale*

    B_simple = tr(Σ) / |G|²

is the batch at which that noise equals the signal: below it, doubling the
batch nearly halves the steps a run needs (perfect scaling); above it, the
gain fades. Measured on training runs, the steps ``S`` and examples
``E = B·S`` to reach a target trade off as

    S = S_min · (1 + B_crit / B),    i.e.   S = S_min + E_min / B,

with ``B_crit = E_min / S_min`` the *critical batch size*, which
``B_simple`` predicts (to within a small factor, they report).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .checks import check_int, check_loss, is_number

__all__ = ["NoiseScale", "noise_scale", "steps_to_target", "steps_at_best_rate", "CriticalBatch", "critical_batch"]


@dataclass(frozen=True)
class NoiseScale:
    """``b_simple = trace / grad_sq``: ``trace`` = tr(Σ), ``grad_sq`` = |G|² (both unbiased), over ``n`` examples."""

    b_simple: float
    trace: float
    grad_sq: float
    n: int


def noise_scale(net: nn.Module, X: torch.Tensor, y: torch.Tensor, *, loss=None, chunk: int = 256) -> NoiseScale:
    """The simple noise scale of ``net``'s loss on the examples ``(X, y)``, from per-example gradients.

    Per-example gradients ``g_i`` come from ``torch.func`` (``vmap`` of
    ``grad``), ``chunk`` examples at a time, never all held at once; only
    their sum and the sum of their squared norms are kept. With ``n``
    examples and ``ḡ`` their mean:

        tr(Σ) = (Σ_i |g_i|² − n |ḡ|²) / (n − 1),    |G|² = |ḡ|² − tr(Σ)/n,

    both unbiased (``|ḡ|²`` alone overstates ``|G|²`` by ``tr(Σ)/n``).
    ``loss`` (default cross-entropy) must average over its batch. The net's
    weights, gradients and mode are left as they were. ``b_simple`` is
    ``inf`` when the estimate of ``|G|²`` is not positive (noise swamps the
    mean gradient: use more examples). Cost: a forward and backward pass per
    example plus the per-example gradients' memory, ``chunk`` × the
    parameters (256 × 266 610 floats, 270 MB, for the MLP); on two CPU
    cores 2.3 s per 1024 examples of the MLP (``benchmarks/noise_scale.py``,
    2026-12-02, the cores shared with a book build; about 1.4 s on idle ones).
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.dim() == 0 or X.shape[0] != y.shape[0] or X.shape[0] < 2:
        raise ValueError("X and y must hold the same number of examples, at least 2, got shapes "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    check_loss(loss)
    check_int("chunk", chunk, minimum=1)
    loss = loss if loss is not None else nn.CrossEntropyLoss()
    params = {k: p.detach() for k, p in net.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("net has no parameters with requires_grad")
    buffers = {k: b.detach() for k, b in net.named_buffers()}

    def one_loss(p, x, t):
        return loss(functional_call(net, (p, buffers), (x.unsqueeze(0),)), t.unsqueeze(0))

    per_example = vmap(grad(one_loss), in_dims=(None, 0, 0))
    was_training = net.training
    net.eval()  # the same function for every example (no dropout draws); the book's nets have no BatchNorm
    total = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in params.items()}
    squares, n = 0.0, X.shape[0]
    try:
        for start in range(0, n, chunk):
            g = per_example(params, X[start:start + chunk], y[start:start + chunk])
            norms = sum(v.flatten(1).pow(2).sum(1) for v in g.values())  # |g_i|², in float32
            squares += float(norms.double().sum())
            for k, v in g.items():
                total[k] += v.sum(0).double()
    finally:
        net.train(was_training)
    mean_sq = sum(float(t.pow(2).sum()) for t in total.values()) / n ** 2
    trace = (squares - n * mean_sq) / (n - 1)
    grad_sq = mean_sq - trace / n
    return NoiseScale(trace / grad_sq if grad_sq > 0 else math.inf, trace, grad_sq, n)


def steps_to_target(curve, target: float) -> float:
    """The optimizer steps a run took to first reach ``target`` (an accuracy), ``inf`` if it never did.

    ``curve``: ``[[step, accuracy], ...]`` with increasing steps (what
    ``fit(track=...)`` records). Between the last point below the target and
    the first at or above it, the step is interpolated linearly in the
    accuracy (on the first point itself: that point's step).
    """
    if not is_number(target):
        raise ValueError(f"target must be a number, got {target!r}")
    try:
        points = [(float(s), float(a)) for s, a in curve]
    except (TypeError, ValueError):
        raise ValueError(f"curve must be pairs [step, value], got {curve!r}"[:200]) from None
    if not points:
        raise ValueError("curve holds no points")
    if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
        raise ValueError("curve's steps must increase")
    previous = None
    for step, acc in points:
        if acc >= target:
            if previous is None or previous[1] == acc:
                return step
            (s0, a0) = previous
            return s0 + (step - s0) * (target - a0) / (acc - a0)
        previous = (step, acc) if math.isfinite(acc) else None
    return math.inf


@dataclass(frozen=True)
class CriticalBatch:
    """The fit ``S = s_min + e_min / B``: ``b_crit = e_min / s_min`` (examples), ``s_min`` (steps)."""

    s_min: float
    e_min: float
    b_crit: float

    def steps(self, batch_size) -> np.ndarray:
        """The fitted steps at ``batch_size`` (a number or an array)."""
        return self.s_min + self.e_min / np.asarray(batch_size, dtype=float)


def critical_batch(batch_sizes, steps) -> CriticalBatch:
    """Fit McCandlish et al.'s ``S = S_min + E_min / B`` to measured steps-to-target ``steps`` at ``batch_sizes``.

    A least-squares fit in ``1/B``, weighted by ``1/S²`` so every batch
    size counts by its relative error (the small batches' thousands of
    steps would otherwise decide it alone). Needs at least 3 finite points;
    raises ``ValueError`` when the fit gives no positive ``S_min`` and
    ``E_min`` (no trade-off of that shape in the data).
    """
    B, S = np.asarray(batch_sizes, dtype=float), np.asarray(steps, dtype=float)
    if B.shape != S.shape or B.ndim != 1:
        raise ValueError(f"batch_sizes and steps must be two sequences of one length, got shapes {B.shape} "
                         f"and {S.shape}")
    if (B <= 0).any() or (S <= 0).any():
        raise ValueError("batch_sizes and steps must be > 0")
    keep = np.isfinite(S)
    if keep.sum() < 3:
        raise ValueError(f"critical_batch needs at least 3 batch sizes that reached the target, got {int(keep.sum())}")
    B, S = B[keep], S[keep]
    A = np.stack([np.ones_like(B), 1 / B], axis=1) / S[:, None]
    (s_min, e_min), *_ = np.linalg.lstsq(A, np.ones_like(S), rcond=None)
    if not (s_min > 0 and e_min > 0):
        raise ValueError(f"the fit S = S_min + E_min/B gives S_min = {s_min:.3g}, E_min = {e_min:.3g}: no "
                         "trade-off of that shape in these steps")
    return CriticalBatch(float(s_min), float(e_min), float(e_min / s_min))


def steps_at_best_rate(runs, target: float) -> dict:
    """``{strategy: dict(lr, steps, per_seed)}``: each strategy's fewest steps to ``target``, over its rates.

    ``runs``: a sweep's records with a validation ``curve`` (chapter 11's
    ``batch_size`` sweep). For each rate, the median over the seeds of
    :func:`steps_to_target` (a seed that never reached it counts as
    ``inf``, so a rate needs more than half its seeds to get there); the
    rate with the smallest median wins, as McCandlish et al. tune the rate
    per batch size. ``steps`` is ``inf`` when no rate got there.
    """
    import statistics

    by_rate = {}
    for r in runs:
        if "curve" not in r:
            raise ValueError(f"runs must hold validation curves (a sweep with curve=True), got a record "
                             f"of {sorted(r)}")
        by_rate.setdefault(r["strategy"], {}).setdefault(r["lr"], []).append(steps_to_target(r["curve"], target))
    out = {}
    for name, rates in by_rate.items():
        lr, per_seed = min(rates.items(), key=lambda item: (statistics.median(item[1]), item[0]))
        out[name] = dict(lr=lr, steps=statistics.median(per_seed), per_seed=per_seed)
    return out
