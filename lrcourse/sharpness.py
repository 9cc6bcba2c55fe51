"""The sharpness of a loss: the largest eigenvalue of its Hessian, without ever forming the Hessian.

Chapter 2 showed that gradient descent on a quadratic with Hessian ``H`` is
stable only while ``lr · λ_max(H) < 2``. Near any point ``w`` a network's
loss is, to second order, a quadratic with ``H = ∇²L(w)``; its largest
eigenvalue ``λ_max`` is the *sharpness*, and ``2 / lr`` is the sharpness
beyond which a step of rate ``lr`` is unstable.

``H`` has as many rows as the net has parameters (266 610 for the MLP), far
too many to build, but a product ``H v`` costs about two backward passes
(:func:`hvp`, a double backward pass). Power iteration,
``v ← H v / |H v|``, finds the eigenvalue of largest *magnitude* from such
products; in a non-convex loss that can be a negative one. This module runs
the Lanczos iteration instead: the same products, but every vector kept and
orthogonalized, so that after ``m`` products the top eigenvalue of an
``m × m`` tridiagonal matrix ``T`` (a *Ritz value*) approximates the
*largest* eigenvalue of ``H``, and the next ones the next eigenvalues, both
faster than power iteration and never confused by a negative eigenvalue of
larger magnitude.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .checks import check_int, check_loss, check_seed, is_number

__all__ = ["Spectrum", "hvp", "hessian_eigenvalues", "sharpness", "sharpness_tracker", "gradient_descent",
           "TinyRun", "tiny_loss_grad_hessian", "tiny_gd", "edge_summary", "edge_crossing"]


def _check_data(X, y) -> None:
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.dim() == 0 or y.dim() == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must hold the same number of examples, got shapes {tuple(X.shape)} "
                         f"and {tuple(y.shape)}")
    if X.shape[0] == 0:
        raise ValueError("X and y hold no examples: the loss of an empty batch has no Hessian")


def _parameters(net) -> dict:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    params = {k: p.detach() for k, p in net.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("net has no parameters with requires_grad: the loss has no Hessian in them")
    return params


def _hvp_function(net, loss, X, y, chunk):
    """``v -> H v`` (dicts of tensors shaped like the parameters), H the Hessian of the mean loss on (X, y)."""
    params = _parameters(net)
    buffers = {k: b.detach() for k, b in net.named_buffers()}
    n = X.shape[0]
    pieces = [(X[i:i + chunk], y[i:i + chunk]) for i in range(0, n, chunk)]

    def product(v: dict) -> dict:
        out = {k: torch.zeros_like(p) for k, p in params.items()}
        for xb, yb in pieces:  # the mean over (X, y) as the size-weighted mean of the pieces' means
            with torch.enable_grad():
                leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}  # not the net's own
                value = loss(functional_call(net, (leaves, buffers), (xb,)), yb)
                g = torch.autograd.grad(value, list(leaves.values()), create_graph=True)
                gv = sum((gi * v[k]).sum() for gi, k in zip(g, leaves))  # d/dw (∇L · v) = H v
                hv = torch.autograd.grad(gv, list(leaves.values()), allow_unused=True)
            for k, t in zip(leaves, hv):
                if t is not None:  # None: the gradient does not depend on that parameter
                    out[k] += xb.shape[0] / n * t.detach()
        return out

    return params, product


def hvp(net: nn.Module, loss, X: torch.Tensor, y: torch.Tensor, v: dict, *, chunk: int | None = None) -> dict:
    """The Hessian-vector product ``H v`` of the mean ``loss(net(X), y)`` in ``net``'s trainable parameters.

    ``v`` and the result are dicts ``{parameter name: tensor}`` shaped like
    the parameters (``net.named_parameters()`` with ``requires_grad``).
    Double backward (Pearlmutter's trick): ``H v = ∇_w (∇_w L · v)``, the
    gradient of the gradient's dot product with ``v``, about the cost of two
    to four backward passes; ``chunk`` examples at a time (all at once by
    default). The weights enter as fresh leaves (``functional_call``).
    The net's weights, ``.grad`` and mode are untouched.
    """
    _check_data(X, y)
    check_loss(loss)
    chunk = check_int("chunk", chunk, minimum=1, allow_none=True) or X.shape[0]
    params, product = _hvp_function(net, loss or nn.CrossEntropyLoss(), X, y, chunk)
    if not isinstance(v, dict) or set(v) != set(params) or any(v[k].shape != p.shape for k, p in params.items()):
        raise ValueError("v must be a dict {name: tensor} shaped like net's trainable parameters: "
                         f"{ {k: tuple(p.shape) for k, p in params.items()} }"[:300])
    with _mode(net):
        return product(v)


class _mode:
    """Put ``net`` in eval mode (one function, no dropout draws) and give its mode back afterwards."""

    def __init__(self, net):
        self.net, self.was = net, net.training

    def __enter__(self):
        self.net.eval()

    def __exit__(self, *exc):
        self.net.train(self.was)


@dataclass(frozen=True)
class Spectrum:
    """The top of a Hessian's spectrum: ``values`` (largest first), the Lanczos ``iterations`` taken
    (one Hessian-vector product each), whether the ``k`` values ``converged`` to ``tol``, and the
    ``seconds`` it took."""

    values: tuple
    iterations: int
    converged: bool
    seconds: float

    @property
    def top(self) -> float:
        """The largest eigenvalue: the sharpness."""
        return self.values[0]


def hessian_eigenvalues(net: nn.Module, loss, X: torch.Tensor, y: torch.Tensor, *, k: int = 1, iters: int = 20,
                        tol: float = 1e-3, seed: int = 0, chunk: int | None = None) -> Spectrum:
    """The ``k`` largest eigenvalues of the Hessian of the mean ``loss(net(X), y)``, by Lanczos iteration.

    From a random unit vector ``q_1`` (drawn from ``seed``), each iteration
    takes one product ``H q_j`` and orthogonalizes it against every earlier
    ``q`` (full reorthogonalization, so no ghost copies of an eigenvalue):

        r = H q_j − α_j q_j − β_{j−1} q_{j−1},   α_j = q_jᵀ H q_j,   β_j = |r|,   q_{j+1} = r / β_j.

    The eigenvalues of the tridiagonal ``T_m`` (``α`` on the diagonal,
    ``β`` beside it) are the Ritz values; the largest ones approach the
    largest eigenvalues of ``H`` from below as ``m`` grows (Cauchy
    interlacing: they never overshoot). The iteration stops after ``iters``
    products, or earlier once each of the ``k`` largest Ritz values changed
    by less than ``tol`` (relative) in one iteration, or
    when ``β`` vanishes (the Krylov space holds an invariant subspace: the
    values are exact). ``loss`` (default cross-entropy) must average over its
    batch. The net's weights, gradients and mode are left exactly as they
    were; the Lanczos vectors are held in the parameters' dtype on their
    device, ``T`` in float64.

    Cost: ``iterations`` Hessian-vector products, each about two backward
    passes over ``X``, and ``iterations`` vectors of the parameters' size.
    """
    _check_data(X, y)
    check_loss(loss)
    check_int("k", k, minimum=1)
    check_int("iters", iters, minimum=1)
    if iters < k:
        raise ValueError(f"iters must be at least k to find k eigenvalues, got iters={iters} and k={k}")
    if not is_number(tol) or not tol > 0:
        raise ValueError(f"tol must be a positive number (a relative change), got {tol!r}")
    check_seed(seed)
    chunk = check_int("chunk", chunk, minimum=1, allow_none=True) or X.shape[0]
    params, product = _hvp_function(net, loss or nn.CrossEntropyLoss(), X, y, chunk)
    names = list(params)
    sizes = [params[k_].numel() for k_ in names]
    n = sum(sizes)
    if iters > n:
        iters = n  # a Krylov space of the Hessian has at most n dimensions
    first = next(iter(params.values()))
    flat = lambda d: torch.cat([d[k_].reshape(-1) for k_ in names])  # noqa: E731
    unflat = lambda v: {k_: t.view_as(params[k_]) for k_, t in zip(names, torch.split(v, sizes))}  # noqa: E731

    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same start vector on every device
    q = torch.randn(n, generator=gen, dtype=torch.float64).to(first.dtype).to(first.device)
    q = q / q.norm()
    Q, alphas, betas = [q], [], []
    previous, converged = None, False
    with _mode(net), torch.no_grad():
        for j in range(iters):
            w = flat(product(unflat(Q[j])))
            alpha = float(torch.dot(w, Q[j]))
            if not math.isfinite(alpha):  # weights or loss no longer finite (a diverged run): no spectrum
                return Spectrum((math.nan,) * k, j + 1, False, time.perf_counter() - start)
            alphas.append(alpha)
            basis = torch.stack(Q)
            for _ in range(2):  # orthogonalize twice ("twice is enough", Parlett)
                w = w - basis.T @ (basis @ w)
            ritz = _ritz(alphas, betas)
            top = ritz[::-1][:k]  # the k largest Ritz values, largest first
            beta = float(w.norm())
            scale = max(abs(a) for a in alphas) or 1.0
            if beta <= 1e-10 * scale:  # an invariant subspace: T's eigenvalues are H's
                converged = True
                break
            if previous is not None and len(top) == k == len(previous) and j + 1 >= k + 1 \
                    and np.all(np.abs(top - previous) <= tol * np.abs(top)):
                converged = True
                break
            previous = top
            betas.append(beta)
            Q.append(w / beta)
    values = tuple(float(v) for v in ritz[::-1][:k]) + (math.nan,) * (k - len(ritz))
    return Spectrum(values, len(alphas), converged, time.perf_counter() - start)


def _ritz(alphas, betas) -> np.ndarray:
    """The eigenvalues of the tridiagonal matrix with ``alphas`` on its diagonal and ``betas`` beside it."""
    m = len(alphas)
    T = np.diag(np.asarray(alphas, dtype=np.float64))
    if m > 1:
        off = np.asarray(betas[:m - 1], dtype=np.float64)
        T += np.diag(off, 1) + np.diag(off, -1)
    return np.linalg.eigvalsh(T)


def sharpness(net: nn.Module, loss, X: torch.Tensor, y: torch.Tensor, *, iters: int = 20, tol: float = 1e-3,
              seed: int = 0, chunk: int | None = None) -> float:
    """The sharpness ``λ_max``: the largest eigenvalue of the Hessian of the mean ``loss(net(X), y)``.

    :func:`hessian_eigenvalues` with ``k=1`` (its :class:`Spectrum` says how
    many iterations it took and whether it converged). ``(X, y)``: a batch,
    or a fixed subset of the training set given as tensors, on the net's
    device. Units: loss per squared unit of weight; gradient descent at rate
    ``lr`` is stable on the local quadratic while ``lr · λ_max < 2``.

    Cost (``benchmarks/sharpness.py``, two CPU cores, at initialization):
    up to ``iters`` Hessian-vector products on ``X``, 7 or 8 of them with
    the default ``tol``. The MLP on 2048 images takes 0.05 s per product and
    0.36 s per measurement; LeNet 0.65 s and 5.1 s on 2048 images, 0.24 s
    and 1.0 s on 512.
    """
    return hessian_eigenvalues(net, loss, X, y, k=1, iters=iters, tol=tol, seed=seed, chunk=chunk).top


def sharpness_tracker(X: torch.Tensor, y: torch.Tensor, when, *, loss=None, **options):
    """``(when, fn)`` for ``fit(track={"sharpness": sharpness_tracker(X, y, when)})``.

    ``fn(net)`` is :func:`sharpness` of ``net`` on ``(X, y)`` (``options``:
    ``iters``, ``tol``, ``seed``, ``chunk``); ``when``: every so many steps
    (an int) or the step counts to measure at (a collection), as ``fit``
    takes them. Each measurement costs what :func:`sharpness` says; fit's
    time per epoch counts it.
    """
    _check_data(X, y)
    check_loss(loss)
    unknown = set(options) - {"iters", "tol", "seed", "chunk"}
    if unknown:
        raise TypeError(f"sharpness_tracker got unexpected options {sorted(unknown)}: it takes iters, tol, "
                        "seed and chunk")
    return when, lambda net: sharpness(net, loss, X, y, **options)


def gradient_descent(net: nn.Module, X: torch.Tensor, y: torch.Tensor, *, lr: float, num_steps: int, every: int,
                     loss=None, iters: int = 20, tol: float = 1e-3) -> dict:
    """Full-batch gradient descent on ``(X, y)``, with the sharpness measured every ``every`` steps.

    Each step ``w ← w − lr ∇L(w)``, ``L`` the mean ``loss`` (default
    cross-entropy) over all of ``(X, y)``: no batches, no noise, the setting
    of Cohen et al. (2021). Returns ``{"loss": [L before step 0, 1, ...,
    num_steps − 1, and after the last], "accuracy": [the same for the
    training accuracy], "sharpness": [[step, λ_max], ...]}``, the sharpness
    at step 0, every ``every`` steps and after the last step (on ``(X, y)``
    itself, with ``iters`` and ``tol``). A loss that is no longer finite
    ends the run early (the lists stop there). Trains ``net`` in place.
    """
    _check_data(X, y)
    check_loss(loss)
    if not is_number(lr) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    check_int("num_steps", num_steps, minimum=1)
    check_int("every", every, minimum=1)
    loss = loss or nn.CrossEntropyLoss()
    _parameters(net)
    params = [p for p in net.parameters() if p.requires_grad]
    out = {"loss": [], "accuracy": [], "sharpness": []}
    net.train()
    for step in range(num_steps + 1):
        if step % every == 0 or step == num_steps:
            out["sharpness"].append([step, sharpness(net, loss, X, y, iters=iters, tol=tol)])
        logits = net(X)
        value = loss(logits, y)
        out["loss"].append(value.item())
        classes = logits.dim() == 2 and not y.is_floating_point()  # else a regression: no accuracy
        out["accuracy"].append(float((logits.argmax(1) == y).float().mean()) if classes else math.nan)
        if not math.isfinite(out["loss"][-1]) or step == num_steps:
            break
        grads = torch.autograd.grad(value, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return out


# ---------------------------------------------------------------- the classroom's tiny net

@dataclass(frozen=True)
class TinyRun:
    """A full-batch run of :func:`tiny_gd`: ``loss`` and ``sharpness`` before each step and after the last
    (up to where it ``diverged``: a loss past 1e6 or not finite)."""

    lr: float
    loss: tuple
    sharpness: tuple
    diverged: bool


def _tiny_problem(seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 2))
    y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1])  # a smooth target for a small tanh net
    W1 = rng.standard_normal((2, 16)) / math.sqrt(2)
    a = rng.standard_normal(16) / 4
    return X, y, np.concatenate([W1.reshape(-1), a])


def tiny_loss_grad_hessian(w: np.ndarray, X: np.ndarray, y: np.ndarray):
    """Loss, gradient and exact Hessian of the tiny net's ``L(w) = ½ mean_i (f(x_i) − y_i)²`` (closed form).

    ``f(x) = Σ_j a_j tanh(z_j)``, ``z = x W1``; ``w`` holds ``W1`` (2 × 16,
    row by row) then ``a`` (16). With ``t = tanh z``, ``s = 1 − t²`` and
    the residual ``r = f − y``, the Hessian is Gauss-Newton plus the
    residual term, ``H = (JᵀJ + Σ_i r_i ∇²f_i) / n``, where
    ``∂f/∂a_j = t_j``, ``∂f/∂W1_pj = a_j s_j x_p``,
    ``∂²f/∂W1_pj ∂W1_qj = −2 a_j t_j s_j x_p x_q`` and
    ``∂²f/∂W1_pj ∂a_j = s_j x_p`` (every other second derivative is 0).
    """
    n, d = X.shape
    h = w.shape[0] // (d + 1)
    if w.ndim != 1 or w.shape[0] != (d + 1) * h or h == 0:
        raise ValueError(f"w must hold (d + 1)·h weights for X of d = {d} features, got {w.shape[0]}")
    W1, a = w[:d * h].reshape(d, h), w[d * h:]
    T = np.tanh(X @ W1)
    S = 1 - T ** 2
    r = T @ a - y
    J = np.concatenate([(X[:, :, None] * (a * S)[:, None, :]).reshape(n, d * h), T], axis=1)
    H = J.T @ J / n
    same = np.einsum("i,ij,ip,iq->jpq", r, -2 * a * T * S, X, X) / n  # ∂²/∂W1_pj ∂W1_qj, unit by unit
    mixed = np.einsum("i,ij,ip->jp", r, S, X) / n  # ∂²/∂W1_pj ∂a_j
    for j in range(h):
        rows = np.arange(d) * h + j  # W1[:, j] in w
        H[np.ix_(rows, rows)] += same[j]
        H[rows, d * h + j] += mixed[j]
        H[d * h + j, rows] += mixed[j]
    return 0.5 * float(np.mean(r ** 2)), J.T @ r / n, H


def tiny_gd(lr: float, num_steps: int = 200, seed: int = 0) -> TinyRun:
    """Full-batch gradient descent on a tiny net, with its exact sharpness at every step: the widget's model.

    A 2-16-1 tanh network without biases (48 weights) fits ``sin(2 x₁) cos(x₂)``
    on 64 random points under the mean squared error ``½ mean (f(x) − y)²``,
    in float64 (:func:`tiny_loss_grad_hessian`, tested against
    ``torch.func.hessian``). Each step ``w ← w − lr ∇L``; the sharpness is
    the largest eigenvalue of the exact 48 × 48 Hessian. A pure function of
    its arguments (a few ms per hundred steps), so the widget and the tests
    call the same thing. A loss past 1e6 or not finite ends the run (the
    tuples stop there).
    """
    if not is_number(lr) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    check_int("num_steps", num_steps, minimum=1)
    check_seed(seed)
    X, y, w = _tiny_problem(seed)
    losses, sharp, diverged = [], [], False
    with np.errstate(all="ignore"):
        for step in range(num_steps + 1):
            value, g, H = tiny_loss_grad_hessian(w, X, y)
            if not math.isfinite(value) or value > 1e6:
                diverged = True
                break
            losses.append(value)
            sharp.append(float(np.linalg.eigvalsh(H)[-1]))
            w = w - lr * g
    return TinyRun(float(lr), tuple(losses), tuple(sharp), diverged)


# ---------------------------------------------------------------- reading stored runs (chapter 12)

def _check_curve(curve) -> list:
    try:
        points = [(int(s), float(v)) for s, v in curve]
    except (TypeError, ValueError):
        raise ValueError(f"curve must be pairs [step, λ_max], got {curve!r}"[:200]) from None
    if not points:
        raise ValueError("curve holds no points")
    return points


def edge_summary(records, *, after: int) -> list[dict]:
    """What full-batch runs (records with ``lr``, ``seed``, ``sharpness``, ``loss``) did, rate by rate.

    For each rate η, over its seeds: ``limit`` = 2/η; ``start``, the median
    sharpness at step 0; ``reached``, how many seeds' sharpness came within
    10 % of 2/η, and ``first``, the median step where they first did;
    ``plateau`` (with ``low`` and ``high``, the smallest and largest seed's),
    the mean sharpness over steps ≥ ``after``, and ``product`` = η ×
    ``plateau``; ``rises``, the fraction of steps from ``after`` on whose
    loss exceeded the step before's; ``loss_after`` and ``loss_end``, the
    mean loss at ``after`` and at the end.
    """
    import statistics

    check_int("after", after, minimum=0)
    rows = []
    for lr in sorted({float(r["lr"]) for r in records}):
        runs = [r for r in records if float(r["lr"]) == lr]
        plateaus, firsts, rises = [], [], []
        for r in runs:
            points = _check_curve(r["sharpness"])
            late = [v for s, v in points if s >= after]
            if not late or len(r["loss"]) <= after + 1:
                raise ValueError(f"after={after} is past the end of the run at lr {lr:g}, seed {r['seed']}")
            plateaus.append(statistics.fmean(late))
            first = next((s for s, v in points if v >= 0.9 * 2 / lr), None)
            if first is not None:
                firsts.append(first)
            loss = r["loss"][after:]
            rises.append(sum(b > a for a, b in zip(loss, loss[1:])) / (len(loss) - 1))
        plateau = statistics.fmean(plateaus)
        rows.append(dict(lr=lr, limit=2 / lr, n=len(runs), start=statistics.median(_check_curve(r["sharpness"])[0][1]
                                                                                   for r in runs),
                         reached=len(firsts), first=statistics.median(firsts) if firsts else None,
                         plateau=plateau, low=min(plateaus), high=max(plateaus), product=lr * plateau,
                         rises=statistics.fmean(rises),
                         loss_after=statistics.fmean(r["loss"][after] for r in runs),
                         loss_end=statistics.fmean(r["loss"][-1] for r in runs)))
    return rows


def edge_crossing(curve, rates, *, until: int | None = None) -> dict:
    """Where a run's ``η_k · λ_k`` stood against 2: ``curve`` its sharpness ``[[step, λ], ...]``,
    ``rates`` the rate of every step (``rates[k]`` for step k; the last one past the end).

    Returns ``start`` (η_0 · λ_0), ``peak`` (the largest ``η_k · λ_k`` at a
    measured step ≤ ``until``, all by default) and ``peak_step``, ``first``
    (the first measured step with ``η_k · λ_k > 2``, None if none) and
    ``end`` (the sharpness at the last measured step).
    """
    points = _check_curve(curve)
    if not isinstance(rates, (list, tuple)) or not rates:
        raise ValueError(f"rates must be a non-empty list, one rate per step, got {rates!r}"[:200])
    check_int("until", until, minimum=0, allow_none=True)
    product = [(s, rates[min(s, len(rates) - 1)] * v) for s, v in points]
    window = [(s, p) for s, p in product if until is None or s <= until]
    peak_step, peak = max(window, key=lambda sp: sp[1] if math.isfinite(sp[1]) else -math.inf)
    return dict(start=product[0][1], peak=peak, peak_step=peak_step,
                first=next((s for s, p in product if p > 2), None), end=points[-1][1])
