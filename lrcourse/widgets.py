"""Classroom widgets: sliders wired to the pure functions of the package.

Only layout and wiring live here. What a widget shows comes from functions a
test can call without any front end:

* :func:`make_schedule` builds a reference schedule from a kind and its
  parameters (the sliders' values);
* :func:`explore_schedule` turns them into a figure and a line of text, or
  into the error message when the combination makes no sense (a warmup longer
  than the schedule, say): a slider never ends in a traceback;
* :func:`explore_momentum` does the same for the momentum playground, and
  :func:`explore_range_test` for a range test's curve read with another
  smoothing and another rule, and :func:`explore_stability` for the stability
  explorer's rate.

Redrawing a figure takes tens of milliseconds, so sliders update when
released (``continuous_update=False``); training only runs on a button.
Only standard ipywidgets are used, so the widgets work in Jupyter and Colab.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import check_int
from .lr_finder import DEFAULT_RULE, RULES, LRRangeResult
from .plotting import PNGFigure, frames_into, plot_schedules, plural
from .schedules import (Constant, Cosine, Exponential, Factor, MultiFactor, OneCycle, SquareRoot,
                        Step, lr_values)

__all__ = ["SCHEDULE_KINDS", "Param", "make_schedule", "explore_schedule", "schedule_explorer",
           "PLAYGROUND_X0", "ALPHA_SLIDER", "BETA_SLIDER", "KAPPAS", "slider_grid", "best_on_grid",
           "explore_momentum", "momentum_playground", "explore_range_test",
           "range_test_explorer", "STABILITY_SLIDER", "explore_stability", "stability_explorer"]


@dataclass(frozen=True)
class Param:
    """A slider: its range, step and start value; ``log`` for a rate that spans decades."""

    name: str
    low: float
    high: float
    value: float
    step: float = 0.01
    integer: bool = False
    log: bool = False


def _rate(name, value, low=1e-3, high=1.0):
    return Param(name, low, high, value, log=True)


# kind -> (constructor, its sliders). The defaults are chapter 3's values for 10 epochs.
SCHEDULE_KINDS = {
    "constant": (Constant, (_rate("lr", 0.3),)),
    "square root": (SquareRoot, (_rate("lr", 0.1),)),
    "factor": (Factor, (_rate("base_lr", 0.6), Param("factor", 0.5, 1.0, 0.8),
                        _rate("stop_factor_lr", 0.01, 1e-4, 0.1))),
    "multi-factor": (None, (_rate("base_lr", 0.5), Param("milestone_1", 0, 30, 3, 1, True),
                            Param("milestone_2", 0, 30, 8, 1, True), Param("factor", 0.1, 1.0, 0.5))),
    "step": (Step, (_rate("base_lr", 0.5), Param("step_size", 1, 10, 3, 1, True),
                    Param("gamma", 0.1, 1.0, 0.5))),
    "exponential": (Exponential, (_rate("base_lr", 0.5), Param("gamma", 0.5, 1.0, 0.8))),
    "cosine": (Cosine, (_rate("base_lr", 0.2), _rate("final_lr", 0.02, 1e-4, 1.0),
                        Param("max_update", 1, 30, 10, 1, True),
                        Param("warmup_steps", 0, 10, 0, 1, True),
                        _rate("warmup_begin_lr", 0.001, 1e-4, 1.0))),
    "one-cycle": (OneCycle, (_rate("max_lr", 0.5), Param("total_steps", 2, 30, 10, 1, True),
                             Param("pct_start", 0.05, 0.95, 0.3),
                             Param("div_factor", 1, 100, 25, log=True),
                             Param("final_div_factor", 1, 1e4, 1e4, log=True))),
}


def make_schedule(kind: str, **params):
    """The reference schedule of ``kind`` (a key of :data:`SCHEDULE_KINDS`) with these parameters.

    Integer sliders give floats in some front ends; whole numbers are turned
    into ints here. ``multi-factor`` takes ``milestone_1`` and
    ``milestone_2`` instead of a list. Raises ``ValueError`` for an unknown
    kind, an unknown parameter or values the schedule rejects.
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"kind must be one of {list(SCHEDULE_KINDS)}, got {kind!r}")
    make, sliders = SCHEDULE_KINDS[kind]
    known = {p.name: p for p in sliders}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {kind!r}; it takes {list(known)}")
    values = {p.name: p.value for p in sliders}
    values.update(params)
    for name, value in values.items():
        if known[name].integer and isinstance(value, float) and value.is_integer():
            values[name] = int(value)
    if kind == "multi-factor":
        return MultiFactor(values["base_lr"], [values["milestone_1"], values["milestone_2"]],
                           values["factor"])
    return make(**values)


def explore_schedule(kind: str, params: dict, num_updates: int = 15, *,
                     baseline: float | None = 0.3) -> tuple[PNGFigure | None, str]:
    """What the explorer shows for these slider values: ``(figure, text)``.

    The figure draws the schedule over ``num_updates`` updates (and the
    constant ``baseline`` for comparison, unless None); the text gives the
    first and last rate and the sum of the rates (with SGD, the sum of step
    sizes: roughly how far the run can travel). For values the schedule
    rejects the figure is None and the text is the reason.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{slider name: value}}, got {type(params).__name__}")
    try:
        schedule = make_schedule(kind, **params)
    except ValueError as err:
        return None, f"not a valid {kind} schedule: {err}"
    curves = {kind: schedule}
    if baseline is not None:
        curves[f"constant {baseline:g}"] = Constant(baseline)
    fig = plot_schedules(curves, num_updates, xlabel="update t", figsize=(5.5, 2.8))
    lrs = lr_values(schedule, range(num_updates))
    text = (f"lr(0) = {lrs[0]:.4g}, lr({num_updates - 1}) = {lrs[-1]:.4g}, "
            f"sum over {num_updates} updates = {lrs.sum():.3g}")
    if baseline is not None:
        text += f" (constant {baseline:g}: {baseline * num_updates:.3g})"
    return fig, text


def _slider(p: Param):
    import ipywidgets as w

    common = dict(description=p.name, continuous_update=False, style={"description_width": "9em"},
                  layout=w.Layout(width="26em"))
    if p.integer:
        return w.IntSlider(value=int(p.value), min=int(p.low), max=int(p.high), step=1, **common)
    if p.log:
        return w.FloatLogSlider(value=p.value, base=10, min=math.log10(p.low), max=math.log10(p.high),
                                step=0.05, readout_format=".3g", **common)
    return w.FloatSlider(value=p.value, min=p.low, max=p.high, step=p.step, readout_format=".3g",
                         **common)


def _show(image, text, fig, message) -> None:
    """Put an explore function's ``(figure, message)`` on screen; no figure: the last one stays."""
    import html

    if fig is not None:
        image.value = fig.to_png()
    message = html.escape(message, quote=False)
    text.value = f"<code>{message}</code>" if fig is not None else f"<b>{message}</b>"


def schedule_explorer(num_updates: int = 15, *, train_iter=None, test_iter=None, num_epochs=None,
                      net_fn=None):
    """A widget: pick a schedule, move its sliders, see its curve.

    With ``train_iter`` and ``test_iter`` a button trains ``net_fn()``
    (default ``lrcourse.mlp(seed=0)``) for ``num_epochs`` (default
    ``num_updates``) epochs with the schedule counted per epoch, and shows
    the live plot and the final line. Returns the ``ipywidgets.VBox``; its
    ``.children`` hold the dropdown, the sliders, the text and the image.
    """
    import ipywidgets as w


    check_int("num_updates", num_updates, minimum=1)
    if num_epochs is not None:
        check_int("num_epochs", num_epochs, minimum=1)
    kind = w.Dropdown(options=list(SCHEDULE_KINDS), value="cosine", description="schedule")
    sliders_box = w.VBox()
    image = w.Image(format="png", layout=w.Layout(max_width="600px"))
    text = w.HTML()
    state = {"sliders": {}}

    def redraw(*_):
        params = {name: s.value for name, s in state["sliders"].items()}
        _show(image, text, *explore_schedule(kind.value, params, num_updates))

    def rebuild(*_):
        state["sliders"] = {p.name: _slider(p) for p in SCHEDULE_KINDS[kind.value][1]}
        for s in state["sliders"].values():
            s.observe(redraw, names="value")
        sliders_box.children = tuple(state["sliders"].values())
        redraw()

    kind.observe(rebuild, names="value")
    rebuild()
    children = [kind, sliders_box, text, image]
    if train_iter is not None and test_iter is not None:
        children += _train_button(kind, state, train_iter, test_iter, num_epochs or num_updates,
                                  net_fn)
    box = w.VBox(children)
    box.redraw = redraw  # for tests and for re-showing
    return box


def _train_button(kind, state, train_iter, test_iter, num_epochs, net_fn):
    import ipywidgets as w

    from .models import mlp
    from .training import fit

    button = w.Button(description=f"train {plural(num_epochs, 'epoch')}", button_style="primary")
    # The live plot goes into an Image widget: the ipywidgets 8 front ends drop updates to a
    # display inside an Output widget, so fit's usual live plot would stay empty there.
    plot = w.Image(format="png", layout=w.Layout(max_width="500px", display="none"))
    out = w.Output()

    def train(_):
        params = {name: s.value for name, s in state["sliders"].items()}
        out.clear_output()
        with out:
            try:
                schedule = make_schedule(kind.value, **params)
            except ValueError as err:
                plot.layout.display = "none"
                print(f"not a valid schedule: {err}")
                return
            net = net_fn() if net_fn is not None else mlp(seed=0)
            plot.layout.display = None
            with frames_into(plot):
                history = fit(net, train_iter, test_iter, num_epochs=num_epochs, scheduler=schedule,
                              seed=0, progress=False)
            print(history.summary())

    button.on_click(train)
    return [button, plot, out]


# ---------------------------------------------------------------- chapter 2: the momentum playground

PLAYGROUND_X0 = (-1.0, 0.8)  # far along the flat direction, a little up the steep one
# The playground's sliders: α on a log scale (exponents of 10), β linear, κ from a list of round values.
# The steps are fine enough that the best point on the grid is within 0.003 of the best rate ρ.
ALPHA_SLIDER = dict(min=-2.0, max=0.6, step=0.002)
BETA_SLIDER = dict(min=0.0, max=0.99, step=0.002)
KAPPAS = (1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000)


def slider_grid(min: float, max: float, step: float, *, log: bool = False):
    """Every value a slider from ``min`` to ``max`` in steps of ``step`` can hold, ascending.

    The front ends snap a slider's value to ``min + k·step`` (k = 0, 1, …) and
    send the snapped value back to the kernel. With ``log=True`` the three
    numbers are exponents of 10, as ``FloatLogSlider`` takes them, and the
    values are ``10^(min + k·step)``.
    """
    import numpy as np

    if not (math.isfinite(min) and math.isfinite(max) and min < max):
        raise ValueError(f"min must be < max (both finite), got min={min!r}, max={max!r}")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be > 0, got {step!r}")
    values = min + step * np.arange(math.floor((max - min) / step + 1e-9) + 1)
    return 10.0 ** values if log else values


def best_on_grid(lambdas, alphas, betas, *, nesterov: bool = False) -> tuple[float, float, float]:
    """The ``(α, β, ρ)`` with the smallest convergence rate ρ among the slider values ``alphas × betas``.

    This is where a "best" button must put the sliders: the exact optimum
    (:func:`~lrcourse.momentum.optimal_momentum`) is seldom a value a slider
    can hold, and the nearest one can be far worse (or diverge) because ρ
    rises steeply on one side of the optimum. Only the 41 × 41 grid points
    nearest the exact optimum are tried; ``betas == [0]`` searches plain
    gradient descent around :func:`~lrcourse.momentum.optimal_gd`'s rate.
    """
    import numpy as np

    from .momentum import convergence_rate, optimal_gd, optimal_momentum

    alphas, betas = np.asarray(alphas, dtype=float), np.asarray(betas, dtype=float)
    if alphas.ndim != 1 or betas.ndim != 1 or not alphas.size or not betas.size:
        raise ValueError("alphas and betas must be non-empty 1-d sequences of slider values")
    a, b = (optimal_gd(lambdas)[0], 0.0) if betas.max() == 0 else optimal_momentum(lambdas)[:2]

    def near(grid, value, reach=20):
        i = int(np.searchsorted(grid, value))
        return grid[max(i - reach, 0):i + reach + 1]

    A, B = np.meshgrid(near(alphas, a), near(betas, b))
    rates = convergence_rate(A.ravel(), B.ravel(), lambdas, nesterov=nesterov)
    i = int(np.argmin(rates))
    return float(A.ravel()[i]), float(B.ravel()[i]), float(rates[i])


def explore_momentum(alpha: float, beta: float, kappa: float, *, nesterov: bool = False,
                     num_steps: int = 200, x0=PLAYGROUND_X0, grid=None):
    """What the playground shows for these slider values: ``(run, text)``.

    ``run`` is :func:`~lrcourse.momentum.run_quadratic` on the quadratic with
    eigenvalues ``(1/κ, 1)``; ``text`` compares its rate ρ with the best
    rates of plain gradient descent and of momentum for this κ, and says how
    many steps shrink the loss a millionfold (``ρ^(2k) ≤ 10⁻⁶``). With
    ``grid=(alphas, betas)``, the sliders' values, it also gives the best
    rates those values reach (:func:`best_on_grid`): what the buttons set.
    Raises ``ValueError`` for α ≤ 0, β outside [0, 1) or κ < 1.
    """
    from .momentum import optimal_gd, optimal_momentum, quadratic_eigenvalues, run_quadratic

    lambdas = quadratic_eigenvalues(kappa)
    run = run_quadratic(alpha, beta, lambdas, x0, num_steps, nesterov=nesterov)
    rate = float(run.rate)
    _, gd_rate = optimal_gd(lambdas)
    _, _, best_rate = optimal_momentum(lambdas)
    if rate >= 1:
        verdict = "diverges (ρ ≥ 1)" if rate > 1 + 1e-12 else "never converges (ρ = 1)"
    elif rate == 0:
        verdict = "converges in a few steps (ρ = 0)"
    else:
        verdict = f"loss ×10⁻⁶ after ≈ {math.ceil(math.log(1e-6) / (2 * math.log(rate)))} steps"
    best_gd, best_momentum = f"ρ = {gd_rate:.4f}", f"ρ = {best_rate:.4f}"
    if grid is not None:
        alphas, betas = grid
        best_gd += f" (sliders: {best_on_grid(lambdas, alphas, [0.0])[2]:.4f})"
        best_momentum += f" (sliders: {best_on_grid(lambdas, alphas, betas)[2]:.4f})"
    text = (f"{'Nesterov' if nesterov else 'heavy ball'}, κ = {kappa:g}: rate ρ = {rate:.4f}, "
            f"{verdict}. Best plain GD: {best_gd}; best momentum: {best_momentum}")
    return run, text


def momentum_playground(*, num_steps: int = 200, x0=PLAYGROUND_X0):
    """A widget: sliders for α, β and κ, the path on the contours and the loss with its rate.

    α and β redraw while they move (each redraw repaints two lines, about
    10 ms); κ redraws the contours and updates when released. Buttons jump to
    the best heavy-ball setting and the best plain gradient descent for the
    current κ, among the values the sliders can hold (:func:`best_on_grid`).
    Returns the ``ipywidgets.VBox``; ``box.sliders`` maps ``alpha``,
    ``beta``, ``kappa`` to the sliders and ``box.image`` is the picture.
    """
    import ipywidgets as w

    from .momentum import quadratic_eigenvalues
    from .plotting import QuadraticPlot

    common = dict(style={"description_width": "3em"}, layout=w.Layout(width="30em"))
    alpha = w.FloatLogSlider(value=1.0, base=10, description="α", continuous_update=True,
                             readout_format=".4g", **ALPHA_SLIDER, **common)
    beta = w.FloatSlider(value=0.0, description="β", continuous_update=True, readout_format=".3f",
                         **BETA_SLIDER, **common)
    kappa = w.SelectionSlider(options=[(f"{k:g}", float(k)) for k in KAPPAS], value=50.0,
                              description="κ", continuous_update=False, **common)
    grid = (slider_grid(**ALPHA_SLIDER, log=True), slider_grid(**BETA_SLIDER))
    nesterov = w.Checkbox(value=False, description="Nesterov", layout=w.Layout(width="auto"))
    best = w.Button(description="best α, β (heavy ball)", layout=w.Layout(width="auto"))
    best_gd = w.Button(description="best α (plain GD)", layout=w.Layout(width="auto"))
    image = w.Image(format="png", layout=w.Layout(max_width="800px"))
    text = w.HTML()
    state = {"plot": None, "kappa": None, "hold": False}

    def redraw(*_):
        if state["hold"]:
            return
        if state["kappa"] != kappa.value:
            state["plot"] = QuadraticPlot(quadratic_eigenvalues(kappa.value), x0, num_steps)
            state["kappa"] = kappa.value
        run, message = explore_momentum(alpha.value, beta.value, kappa.value, nesterov=nesterov.value,
                                        num_steps=num_steps, x0=x0, grid=grid)
        state["plot"].update(run, f"α = {alpha.value:.4g}, β = {beta.value:.3f}, κ = {kappa.value:g}")
        image.value = state["plot"].to_png()
        text.value = f"<code>{message}</code>"

    def jump(gd: bool):
        lambdas = quadratic_eigenvalues(kappa.value)
        a, b, _ = best_on_grid(lambdas, grid[0], [0.0] if gd else grid[1])
        state["hold"] = True                 # one redraw for the three controls, not three
        try:
            alpha.value, beta.value, nesterov.value = a, b, False
        finally:
            state["hold"] = False
        redraw()

    for control in (alpha, beta, kappa, nesterov):
        control.observe(redraw, names="value")
    best.on_click(lambda _: jump(gd=False))
    best_gd.on_click(lambda _: jump(gd=True))
    redraw()
    box = w.VBox([alpha, beta, kappa, w.HBox([nesterov, best, best_gd]), text, image])
    box.sliders = dict(alpha=alpha, beta=beta, kappa=kappa)
    box.buttons = dict(best=best, best_gd=best_gd, nesterov=nesterov)
    box.image, box.text = image, text
    return box


# ---------------------------------------------------------------- chapter 7: the range test explorer

def _check_result(result) -> None:
    if not isinstance(result, LRRangeResult):
        raise TypeError(f"result must be an LRRangeResult (what lr_range_test returns), "
                        f"got {type(result).__name__}")


def _rule_rate(result: LRRangeResult, rule: str) -> str:
    """``'lr = 0.0031'`` (as the figure's legend writes it), or why the rule gives no rate."""
    rate = result.suggestions.get(rule)
    if rate is not None:
        return f"lr = {rate:.2g}"
    why = "the loss never diverged" if rule == "divergence/2" else "the loss never fell for long enough"
    return f"no rate ({why})"


def explore_range_test(result: LRRangeResult, smooth: float, rule: str) -> tuple[PNGFigure | None, str]:
    """What the range test explorer shows for these values: ``(figure, text)``.

    The figure is ``result.with_smoothing(smooth).plot(highlight=rule)``: the
    same recorded batch losses, smoothed with ``smooth``, with ``rule``'s
    line solid. The text gives ``rule``'s rate on that curve and, for
    comparison, on the curve at the test's own smoothing (``result.smooth``),
    or why the rule gives none. For ``smooth`` outside [0, 1) or a rule not in
    :data:`~lrcourse.lr_finder.RULES` the figure is None and the text is the
    reason.
    """
    _check_result(result)
    if rule not in RULES:
        return None, f"rule must be one of {list(RULES)}, got {rule!r}"
    try:
        shown = result.with_smoothing(smooth)
    except ValueError as err:
        return None, str(err)
    fig = shown.plot(highlight=rule, figsize=(5.5, 3.0), title=f"smooth = {shown.smooth:.3g}")
    text = (f"{rule} at smooth = {shown.smooth:.3g}: {_rule_rate(shown, rule)}; "
            f"at the test's smooth = {result.smooth:.3g}: {_rule_rate(result, rule)}")
    return fig, text


def range_test_explorer(result: LRRangeResult):
    """A widget: move the smoothing and pick a rule, see the curve and the suggestion move.

    Nothing is trained: the slider re-smooths the batch losses ``result``
    recorded (:meth:`~lrcourse.lr_finder.LRRangeResult.with_smoothing`), so
    the curve still ends where the test stopped. The slider starts at the
    test's own smoothing and redraws when released. Returns the
    ``ipywidgets.VBox``; ``box.slider``, ``box.rule``, ``box.text`` and
    ``box.image`` are its parts, ``box.redraw()`` draws again.
    """
    import ipywidgets as w

    _check_result(result)
    slider = _slider(Param("smooth", 0.0, 0.99, result.smooth))
    rules = list(result.suggestions) or list(RULES)
    rule = w.Dropdown(options=rules, value=DEFAULT_RULE if DEFAULT_RULE in rules else rules[0],
                      description="rule", style={"description_width": "9em"})
    image = w.Image(format="png", layout=w.Layout(max_width="600px"))
    text = w.HTML()

    def redraw(*_):
        _show(image, text, *explore_range_test(result, slider.value, rule.value))

    slider.observe(redraw, names="value")
    rule.observe(redraw, names="value")
    redraw()
    box = w.VBox([slider, rule, text, image])
    box.slider, box.rule, box.text, box.image, box.redraw = slider, rule, text, image, redraw
    return box


# ---------------------------------------------------------------- chapter 12: the stability explorer

STABILITY_SLIDER = dict(min=0.05, max=1.2, step=0.01)  # the rates of the explorer's slider


def explore_stability(lr: float, num_steps: int = 500):
    """What the stability explorer shows for a rate: ``(run, text)``.

    ``run`` is :func:`~lrcourse.sharpness.tiny_gd` at ``lr`` (full-batch
    gradient descent on the tiny tanh net, its exact sharpness at every
    step); ``text`` is :func:`~lrcourse.plotting.stability_caption`: the
    rate, 2/η, and where the sharpness went. ``ValueError`` for a rate that
    is not positive.
    """
    from .plotting import stability_caption
    from .sharpness import tiny_gd

    run = tiny_gd(lr, num_steps)
    return run, stability_caption(run)


def stability_explorer(num_steps: int = 500):
    """A widget: a rate slider; full-batch steps on a tiny net, its loss and its sharpness against 2/η.

    Each move runs :func:`explore_stability` (about 0.2 s for 500 steps on a
    CPU) and redraws when the slider is released. Returns the
    ``ipywidgets.VBox``; ``box.slider``, ``box.text`` and ``box.image``
    are its parts.
    """
    import ipywidgets as w

    from .plotting import StabilityPlot

    check_int("num_steps", num_steps, minimum=1)
    slider = w.FloatSlider(value=0.5, description="η", continuous_update=False, readout_format=".2f",
                           style={"description_width": "3em"}, layout=w.Layout(width="30em"), **STABILITY_SLIDER)
    image = w.Image(format="png", layout=w.Layout(max_width="800px"))
    text = w.HTML()
    plot = StabilityPlot(num_steps)

    def redraw(*_):
        run, message = explore_stability(slider.value, num_steps)
        plot.update(run, f"full-batch gradient descent, η = {slider.value:.2f}")
        image.value = plot.to_png()
        text.value = f"<code>{message}</code>"

    slider.observe(redraw, names="value")
    redraw()
    box = w.VBox([slider, text, image])
    box.slider, box.text, box.image = slider, text, image
    return box
