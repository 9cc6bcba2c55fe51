"""The classroom widgets: pure callbacks, and sliders driven headlessly."""
import math

import ipywidgets as w
import pytest

from lrcourse import Cosine, MultiFactor, SquareRoot
from lrcourse.plotting import PNGFigure
from lrcourse.widgets import SCHEDULE_KINDS, explore_schedule, make_schedule, schedule_explorer

PNG = b"\x89PNG"


@pytest.mark.parametrize("kind", list(SCHEDULE_KINDS))
def test_every_kind_builds_from_its_default_sliders(kind):
    schedule = make_schedule(kind)
    rates = [schedule(t) for t in range(20)]
    assert all(math.isfinite(r) and r >= 0 for r in rates)
    for p in SCHEDULE_KINDS[kind][1]:
        assert p.low <= p.value <= p.high, p


def test_make_schedule_uses_the_given_values():
    assert make_schedule("square root", lr=0.4) == SquareRoot(0.4)
    assert make_schedule("multi-factor", base_lr=0.5, milestone_1=3, milestone_2=8, factor=0.5) \
        == MultiFactor(0.5, [3, 8], 0.5)
    # integer sliders may report floats: whole numbers become ints
    assert make_schedule("cosine", max_update=12.0, warmup_steps=2.0) \
        == Cosine(0.2, 0.02, 12, warmup_steps=2, warmup_begin_lr=0.001)


@pytest.mark.parametrize("kind, params, match", [
    ("polynomial", {}, "kind must be one of"),
    ("cosine", {"T": 3}, r"unknown parameter\(s\) \['T'\]"),
    ("cosine", {"max_update": 5, "warmup_steps": 5}, "warmup_steps must be in"),
    ("multi-factor", {"milestone_1": 8, "milestone_2": 3}, "milestones must be strictly increasing"),
])
def test_make_schedule_errors(kind, params, match):
    with pytest.raises(ValueError, match=match):
        make_schedule(kind, **params)


def test_explore_schedule_gives_a_figure_and_the_sum_of_rates():
    fig, text = explore_schedule("constant", {"lr": 0.1}, 10)
    assert isinstance(fig, PNGFigure) and fig.to_png().startswith(PNG)
    assert text == "lr(0) = 0.1, lr(9) = 0.1, sum over 10 updates = 1 (constant 0.3: 3)"
    ax = fig.axes[0]
    assert ax.get_legend() is not None and len(ax.patches) == 2  # the schedule and the baseline


def test_explore_schedule_turns_bad_values_into_a_message():
    fig, text = explore_schedule("cosine", {"max_update": 4, "warmup_steps": 6}, 10)
    assert fig is None
    assert text.startswith("not a valid cosine schedule: warmup_steps must be in [0, max_update=4)")


def test_explorer_redraws_when_a_slider_moves():
    box = schedule_explorer(12)
    kind, sliders, text, image = box.children
    assert isinstance(kind, w.Dropdown) and kind.value == "cosine"
    assert [s.description for s in sliders.children] == [p.name for p in SCHEDULE_KINDS["cosine"][1]]
    assert bytes(image.value).startswith(PNG)
    assert all(not s.continuous_update for s in sliders.children)  # redraw on release only
    before = bytes(image.value)
    sliders.children[0].value = 0.5  # base_lr
    assert "lr(0) = 0.5" in text.value and bytes(image.value) != before


def test_explorer_shows_the_reason_for_an_impossible_combination():
    box = schedule_explorer(12)
    _, sliders, text, image = box.children
    by_name = {s.description: s for s in sliders.children}
    by_name["max_update"].value = 3
    shown = bytes(image.value)
    by_name["warmup_steps"].value = 5
    assert "warmup_steps must be in [0, max_update=3)" in text.value
    assert bytes(image.value) == shown  # the last valid curve stays
    by_name["warmup_steps"].value = 1
    assert text.value.startswith("<code>lr(0) = 0.001")


def test_explorer_rebuilds_the_sliders_for_another_kind():
    box = schedule_explorer(12)
    kind, sliders, text, _ = box.children
    kind.value = "multi-factor"
    assert [s.description for s in sliders.children] == ["base_lr", "milestone_1", "milestone_2", "factor"]
    assert isinstance(sliders.children[1], w.IntSlider)
    assert text.value.startswith("<code>lr(0) = 0.5")


def test_train_button_trains_with_the_chosen_schedule(capsys):
    import torch
    from torch import nn

    from lrcourse import TensorLoader

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=gen)
    y = (X[:, 0] > 0).long()
    train_iter, test_iter = TensorLoader(X, y, 16, shuffle=True, seed=0), TensorLoader(X, y, 16)
    box = schedule_explorer(3, train_iter=train_iter, test_iter=test_iter,
                            net_fn=lambda: nn.Linear(4, 2))
    *_, button, plot, out = box.children
    assert button.description == "train 3 epochs"
    assert isinstance(plot, w.Image) and plot.layout.display == "none" and not plot.value
    button.click()
    text = "".join(o.get("text", "") for o in out.outputs) + capsys.readouterr().out
    assert "test acc" in text
    # the live plot is drawn into the Image widget, which every front end redraws
    assert bytes(plot.value).startswith(PNG) and plot.layout.display is None
    *_, button, _, _ = schedule_explorer(1, train_iter=train_iter, test_iter=test_iter).children
    assert button.description == "train 1 epoch"


def test_train_button_hides_the_plot_for_a_schedule_it_rejects(capsys):
    import torch

    from lrcourse import TensorLoader

    X, y = torch.zeros(8, 4), torch.zeros(8, dtype=torch.long)
    box = schedule_explorer(3, train_iter=TensorLoader(X, y, 4), test_iter=TensorLoader(X, y, 4))
    box.children[0].value = "multi-factor"
    sliders = box.children[1].children
    sliders[1].value, sliders[2].value = 8, 3   # milestones out of order
    *_, button, plot, out = box.children
    button.click()
    text = "".join(o.get("text", "") for o in out.outputs) + capsys.readouterr().out
    assert "not a valid schedule: milestones must be strictly increasing" in text
    assert plot.layout.display == "none"


# ---------------------------------------------------------------- the momentum playground

def test_explore_momentum_compares_the_rate_with_the_best_ones():
    from lrcourse.widgets import explore_momentum

    run, text = explore_momentum(1.0, 0.0, 100)
    assert run.path.shape == (201, 2) and float(run.rate) == pytest.approx(0.99)
    assert text == ("heavy ball, κ = 100: rate ρ = 0.9900, loss ×10⁻⁶ after ≈ 688 steps. "
                    "Best plain GD: ρ = 0.9802; best momentum: ρ = 0.8182")
    _, text = explore_momentum(1.0, 0.0, 10, grid=([0.5, 1.0, 1.5], [0.0, 0.3]))
    assert text.endswith("Best plain GD: ρ = 0.8182 (sliders: 0.8500); "
                         "best momentum: ρ = 0.5195 (sliders: 0.7500)")
    _, text = explore_momentum(2.5, 0.0, 100)
    assert "rate ρ = 1.5000, diverges (ρ ≥ 1)" in text
    _, text = explore_momentum(1.0, 0.5, 1, nesterov=True)
    assert text.startswith("Nesterov, κ = 1: rate ρ = 0.0000, converges in a few steps")
    with pytest.raises(ValueError, match=r"kappa must be a finite number >= 1"):
        explore_momentum(1.0, 0.5, 0.5)


def test_playground_redraws_as_the_sliders_move():
    from lrcourse.widgets import momentum_playground

    box = momentum_playground(num_steps=50)
    alpha, beta, kappa = box.sliders["alpha"], box.sliders["beta"], box.sliders["kappa"]
    assert alpha.continuous_update and beta.continuous_update and not kappa.continuous_update
    first = bytes(box.image.value)
    assert first.startswith(PNG) and "rate ρ = 0.9800" in box.text.value  # α = 1, β = 0, κ = 50
    beta.value = 0.5
    assert bytes(box.image.value) != first and "rate ρ = 0.9" in box.text.value
    beta_png = bytes(box.image.value)
    kappa.value = 10                           # new contours
    assert "κ = 10:" in box.text.value and bytes(box.image.value) != beta_png
    box.buttons["nesterov"].value = True
    assert box.text.value.startswith("<code>Nesterov")


def snap(slider, value):
    """What the ipywidgets 8 front ends do to a value set from Python: round it to the slider's step
    (of the exponent, for a log slider) and send the rounded value back to the kernel."""
    if isinstance(slider, w.FloatLogSlider):
        exponent = slider.min + round((math.log10(value) - slider.min) / slider.step) * slider.step
        return slider.base ** exponent
    return slider.min + round((value - slider.min) / slider.step) * slider.step


@pytest.mark.parametrize("kappa", [10, 50, 1000])
@pytest.mark.parametrize("button", ["best", "best_gd"])
def test_playground_buttons_land_where_the_text_promises_after_the_front_end_snaps(button, kappa):
    """The buttons' values are slider positions: snapping them changes nothing, and the rate they reach
    is the one the text gives for the sliders, within 0.003 of the exact optimum (the issue's bug: the
    exact optimum, snapped, gave ρ = 0.5500 at κ = 10 and diverged at κ = 1000)."""
    import re

    from lrcourse import convergence_rate, optimal_gd, optimal_momentum, quadratic_eigenvalues
    from lrcourse.widgets import momentum_playground

    box = momentum_playground(num_steps=20)
    alpha, beta, kappa_slider = box.sliders["alpha"], box.sliders["beta"], box.sliders["kappa"]
    kappa_slider.value = kappa
    box.buttons["nesterov"].value = True       # the buttons set the heavy ball, whose optimum they know
    box.buttons[button].click()
    assert not box.buttons["nesterov"].value
    a, b = alpha.value, beta.value
    assert snap(alpha, a) == pytest.approx(a, rel=1e-12) and snap(beta, b) == pytest.approx(b, abs=1e-12)
    alpha.value, beta.value = snap(alpha, a), snap(beta, b)       # the front end sends them back
    lambdas = quadratic_eigenvalues(kappa)
    exact = optimal_momentum(lambdas)[2] if button == "best" else optimal_gd(lambdas)[1]
    shown = float(re.search(r"rate ρ = ([\d.]+)", box.text.value).group(1))
    promised = re.findall(r"\(sliders: ([\d.]+)\)", box.text.value)[0 if button == "best_gd" else 1]
    assert shown == float(promised)
    assert shown == pytest.approx(float(convergence_rate(alpha.value, beta.value, lambdas)), abs=5e-5)
    assert exact <= shown + 5e-5 and shown - exact <= 0.003


def test_slider_grid_is_what_the_sliders_hold():
    from lrcourse.widgets import ALPHA_SLIDER, BETA_SLIDER, momentum_playground, slider_grid

    box = momentum_playground(num_steps=5)
    alphas, betas = slider_grid(**ALPHA_SLIDER, log=True), slider_grid(**BETA_SLIDER)
    alpha, beta = box.sliders["alpha"], box.sliders["beta"]
    assert alphas[0] == pytest.approx(10 ** alpha.min) and alphas[-1] == pytest.approx(10 ** alpha.max)
    assert betas[0] == beta.min and betas[-1] == pytest.approx(beta.max) and len(betas) == 496
    assert all(snap(alpha, a) == pytest.approx(a, rel=1e-12) for a in alphas[::97])
    assert list(slider_grid(0, 1, 0.25)) == [0, 0.25, 0.5, 0.75, 1]
    assert list(slider_grid(0, 2, 1, log=True)) == [1, 10, 100]
    with pytest.raises(ValueError, match=r"min must be < max \(both finite\), got min=1, max=1"):
        slider_grid(1, 1, 0.1)
    with pytest.raises(ValueError, match=r"step must be > 0, got 0"):
        slider_grid(0, 1, 0)


def test_best_on_grid_rejects_empty_grids():
    from lrcourse.widgets import best_on_grid

    with pytest.raises(ValueError, match=r"alphas and betas must be non-empty 1-d sequences"):
        best_on_grid([0.1, 1.0], [], [0.0])


def test_kappa_slider_holds_round_values():
    from lrcourse.widgets import KAPPAS, momentum_playground

    kappa = momentum_playground(num_steps=5).sliders["kappa"]
    assert isinstance(kappa, w.SelectionSlider) and kappa.value == 50
    assert [label for label, _ in kappa.options] == [f"{k:g}" for k in KAPPAS]  # "1000", not "1.00e+3"


def test_quadratic_plot_repaints_only_what_moves():
    import numpy as np

    from lrcourse import run_quadratic
    from lrcourse.plotting import QuadraticPlot

    plot = QuadraticPlot([0.1, 1.0], (-1.0, 0.8), 30)
    plot.update(run_quadratic(1.0, 0.0, [0.1, 1.0], (-1.0, 0.8), 30), "one")
    one = plot.to_png()
    plot.update(run_quadratic(1.0, 0.6, [0.1, 1.0], (-1.0, 0.8), 30), "two")
    two = plot.to_png()
    plot.update(run_quadratic(1.0, 0.0, [0.1, 1.0], (-1.0, 0.8), 30), "one")
    assert one.startswith(PNG) and one != two and plot.to_png() == one  # no trace of "two" is left
    x, y = plot.path_line.get_data()
    assert len(x) == 31 and np.isclose(x[0], -1.0)
    with pytest.raises(ValueError, match=r"the playground is 2-D: lambdas and x0 must hold 2 numbers"):
        QuadraticPlot([0.1, 0.5, 1.0], (1, 1, 1), 10)


def test_momentum_animation_is_html_with_one_frame_per_beta():
    from lrcourse import momentum_animation

    html = momentum_animation([0.1, 1.0], (-1.0, 0.8), 20, 1.0, [0.0, 0.5, 0.9]).data
    assert html.count("data:image/png;base64") == 3 and "<script" in html
    # no stylesheet from a CDN: the player's buttons show characters, not Font Awesome icons
    assert "font-awesome" not in html and 'class="fa ' not in html and "http" not in html.split("<img")[0]
    assert "▶" in html and "❚❚" in html


# ---------------------------------------------------------------- the range test explorer

@pytest.fixture(scope="module")
def range_result():
    """A made-up range test at smooth 0.95: a plateau, a drop around lr 1e-2, noise, then a blow-up."""
    import numpy as np

    from lrcourse import LRRangeResult, smooth_losses
    from lrcourse.lr_finder import suggest

    log_lr = np.linspace(-5, 1, 80)
    raw = 1.4 - 0.9 * np.tanh((log_lr + 2) / 0.5) + np.random.default_rng(1).normal(0, 0.12, log_lr.size)
    raw[-6:] += np.geomspace(0.5, 8, 6)
    lrs, losses = list(10 ** log_lr), smooth_losses(raw, 0.95)
    return LRRangeResult(lrs=lrs, losses=losses, raw_losses=list(raw), stopped_early=True,
                         diverged_at=lrs[-1], suggestions=suggest(lrs, losses, diverged_at=lrs[-1]),
                         num_iter=100, smooth=0.95)


def test_explore_range_test_gives_the_figure_and_the_rule_at_both_smoothings(range_result):
    from lrcourse.widgets import explore_range_test

    fig, text = explore_range_test(range_result, 0.5, "minimum/10")
    assert isinstance(fig, PNGFigure) and fig.to_png().startswith(PNG)
    rate = range_result.with_smoothing(0.5).suggestions["minimum/10"]
    own = range_result.suggestions["minimum/10"]
    assert text == f"minimum/10 at smooth = 0.5: lr = {rate:.2g}; at the test's smooth = 0.95: lr = {own:.2g}"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"minimum/10 (chosen): {rate:.2g}" in labels  # the text writes the rate as the legend does
    assert fig.axes[0].get_title() == "smooth = 0.5"


def test_explore_range_test_says_why_a_rule_has_no_rate():
    from lrcourse import LRRangeResult
    from lrcourse.widgets import explore_range_test

    rising = [1.0 + 0.03 * i for i in range(30)]  # never fell, and the test ran to its end
    result = LRRangeResult(lrs=[10.0 ** (i / 10 - 4) for i in range(30)], losses=rising, raw_losses=rising,
                           stopped_early=False, diverged_at=None, suggestions={}, num_iter=30, smooth=0.0)
    fig, text = explore_range_test(result, 0.6, "valley")
    assert fig is not None
    assert text.startswith("valley at smooth = 0.6: no rate (the loss never fell for long enough); at the ")
    _, text = explore_range_test(result, 0.6, "divergence/2")
    assert text.startswith("divergence/2 at smooth = 0.6: no rate (the loss never diverged)")


@pytest.mark.parametrize("smooth, rule, message", [
    (1.0, "valley", "smooth must be a number in [0, 1) (the weight of the past), got 1.0"),
    (-0.01, "steepest", "smooth must be a number in [0, 1) (the weight of the past), got -0.01"),
    (0.5, "lowest", "rule must be one of ['valley', 'steepest', 'minimum/10', 'divergence/2'], got 'lowest'"),
])
def test_explore_range_test_turns_bad_values_into_a_message(range_result, smooth, rule, message):
    from lrcourse.widgets import explore_range_test

    assert explore_range_test(range_result, smooth, rule) == (None, message)


def test_range_test_explorer_redraws_when_the_smoothing_or_the_rule_moves(range_result):
    from lrcourse.widgets import range_test_explorer

    box = range_test_explorer(range_result)
    assert list(box.children) == [box.slider, box.rule, box.text, box.image]
    slider, rule = box.slider, box.rule
    assert isinstance(slider, w.FloatSlider) and not slider.continuous_update  # redraw on release only
    assert (slider.min, slider.max, slider.step, slider.value) == (0.0, 0.99, 0.01, 0.95)
    assert list(rule.options) == list(range_result.suggestions) and rule.value == "valley"
    first = bytes(box.image.value)
    assert first.startswith(PNG) and box.text.value.startswith("<code>valley at smooth = 0.95: lr = ")
    slider.value = 0.3
    assert bytes(box.image.value) != first
    assert box.text.value.startswith("<code>valley at smooth = 0.3: lr = ")
    smoothed = bytes(box.image.value)
    rule.value = "steepest"
    assert bytes(box.image.value) != smoothed and box.text.value.startswith("<code>steepest at smooth = 0.3")
    assert "; at the test's smooth = 0.95: lr = " in box.text.value


def test_the_playground_benchmark_still_drives_the_playground():
    """benchmarks/playground_redraw.py sets the widget's sliders: a change of the sliders must not break it
    unseen (it once set κ to values the slider no longer holds). Three repeats; its figures are not read."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "playground_redraw.py"
    done = subprocess.run([sys.executable, str(script), "--repeats", "3"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "widget: move the κ slider (contours)" in done.stdout


# ---------------------------------------------------------------- chapter 12: the stability explorer

def test_explore_stability_says_where_the_sharpness_went():
    from lrcourse.sharpness import tiny_gd
    from lrcourse.widgets import explore_stability

    run, text = explore_stability(0.5, 300)
    assert run == tiny_gd(0.5, 300)
    assert text.startswith("η = 0.5, 2/η = 4: λ_max from 2.77 to ") and "last 40 %" in text
    _, text = explore_stability(1.2, 300)
    assert text.startswith("η = 1.2, 2/η = 1.67: λ_max = 2.77 at the start; diverged after ")


def test_stability_explorer_redraws_when_the_rate_moves():
    from lrcourse.widgets import STABILITY_SLIDER, stability_explorer

    box = stability_explorer(100)
    assert isinstance(box.slider, w.FloatSlider) and not box.slider.continuous_update
    assert (box.slider.min, box.slider.max) == (STABILITY_SLIDER["min"], STABILITY_SLIDER["max"])
    image, text = box.image.value, box.text.value
    assert bytes(image[:4]) == b"\x89PNG" and "η = 0.5" in text
    box.slider.value = 0.9
    assert box.image.value != image and "η = 0.9" in box.text.value


def test_stability_animation_is_html_with_one_frame_per_rate():
    from lrcourse.plotting import stability_animation

    html = stability_animation([0.3, 0.6, 1.2], 40).data
    assert html.count("data:image/png;base64") == 3 and "<script" in html and "font-awesome" not in html
