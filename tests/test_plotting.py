"""The live Animator, in and out of a (fake) Jupyter kernel, and the run plots."""
import types
import weakref

import IPython.display
import matplotlib.colors as mcolors
import pytest

import lrcourse.plotting as plotting
from lrcourse.plotting import Animator, PNGFigure, plot_histories

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def fresh_module_state(monkeypatch):
    monkeypatch.setattr(plotting, "_hooked", False)
    monkeypatch.setattr(plotting, "_pending", weakref.WeakSet())
    monkeypatch.delenv("LRCOURSE_HEADLESS", raising=False)


@pytest.fixture
def no_kernel(monkeypatch):
    monkeypatch.setattr(plotting, "_kernel_shell", lambda: None)


def line_data(ax):
    return [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()]


# ------------------------------------------------------------- outside a kernel


def test_add_scalars_and_lists(no_kernel):
    anim = Animator(legend=["a", "b", "c"])
    anim.add(1, [10, 20, 30])
    anim.add(2, [11, None, 31])      # None skips that line
    anim.add([3, None, 3.5], [12, 22, 32])
    assert anim.X == [[1.0, 2.0, 3.0], [1.0], [1.0, 2.0, 3.5]]
    assert anim.Y == [[10.0, 11.0, 12.0], [20.0], [30.0, 31.0, 32.0]]
    assert anim.num_draws == 0 and anim.axes[0].get_lines() == []  # nothing drawn


def test_add_one_scalar_makes_one_line(no_kernel):
    anim = Animator()
    for x in range(3):
        anim.add(x, x * x)
    assert anim.X == [[0.0, 1.0, 2.0]] and anim.Y == [[0.0, 1.0, 4.0]]


def test_x_and_y_lengths_must_match(no_kernel):
    anim = Animator()
    with pytest.raises(ValueError, match=r"x and y must have the same length, got 2 and 3"):
        anim.add([1, 2], [1, 2, 3])
    assert anim.X is None


def test_number_of_lines_is_fixed_by_the_first_add(no_kernel):
    anim = Animator()
    anim.add(1, [1, 2])
    with pytest.raises(ValueError, match=r"y must have one value per line \(2\), got 3"):
        anim.add(2, [1, 2, 3])
    with pytest.raises(ValueError, match=r"y must have one value per line \(2\), got 1"):
        anim.add(2, 5)
    assert anim.X == [[1.0], [1.0]]


@pytest.mark.parametrize("max_fps", [0, -1, 0.0, float("nan")])
def test_bad_max_fps(max_fps):
    with pytest.raises(ValueError, match=r"max_fps must be > 0, got "):
        Animator(max_fps=max_fps)


def test_redraw_draws_one_line_per_series(no_kernel):
    anim = Animator(xlabel="epoch", ylabel="value", legend=["train loss", "train acc", "test acc"],
                    xlim=[1, 10], ylim=(0.01, 10), yscale="log")
    for epoch in range(1, 4):
        anim.add(epoch, [1.0 / epoch, 0.5 * epoch, None if epoch == 2 else 0.25 * epoch])
    anim.redraw()
    ax = anim.axes[0]
    assert line_data(ax) == [([1.0, 2.0, 3.0], [1.0, 0.5, 1.0 / 3]),
                             ([1.0, 2.0, 3.0], [0.5, 1.0, 1.5]),
                             ([1.0, 3.0], [0.25, 0.75])]
    lines = ax.get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-."]
    assert mcolors.to_rgba(lines[1].get_color()) == mcolors.to_rgba("m")
    assert mcolors.to_rgba(lines[2].get_color()) == mcolors.to_rgba("g")
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "value"
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "log"
    assert tuple(ax.get_xlim()) == (1, 10) and tuple(ax.get_ylim()) == pytest.approx((0.01, 10))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "train acc", "test acc"]
    # redrawing again replaces the lines instead of piling them up
    anim.redraw()
    assert len(ax.get_lines()) == 3


def test_more_lines_than_formats(no_kernel):
    anim = Animator(fmts=("-", "--"))
    anim.add(0, [1, 2, 3, 4, 5])
    anim.redraw()
    assert len(anim.axes[0].get_lines()) == 5
    assert [line.get_linestyle() for line in anim.axes[0].get_lines()] == ["-", "--", "-", "--", "-"]


def test_redraw_before_any_data(no_kernel):
    anim = Animator(xlabel="x")
    anim.redraw()
    assert anim.axes[0].get_lines() == [] and anim.axes[0].get_xlabel() == "x"
    assert anim.axes[0].get_legend() is None


def test_flush_outside_a_kernel_draws_without_display(no_kernel, monkeypatch):
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    anim = Animator()
    anim.add(1, 2)
    assert len(plotting._pending) == 0  # nothing waits for a cell to end
    anim.flush()
    assert anim.num_draws == 1 and shown == []
    assert line_data(anim.axes[0]) == [([1.0], [2.0])]
    anim.flush()  # nothing new
    assert anim.num_draws == 1


def test_subplots():
    anim = Animator(nrows=2, ncols=3)
    assert len(anim.axes) == 6 and isinstance(anim.fig, PNGFigure)


def test_png_figure_repr_png():
    fig = PNGFigure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [1, 0])
    png = fig._repr_png_()
    assert isinstance(png, bytes) and png.startswith(PNG_SIGNATURE)
    assert png == fig.to_png()
    assert Animator().fig._repr_png_().startswith(PNG_SIGNATURE)


def test_kernel_shell_is_none_outside_jupyter():
    assert plotting._kernel_shell() is None


# ------------------------------------------------------------- in a fake kernel


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


class FakeKernel:
    """A shell with ``events.register``, IPython's ``display`` and a clock, all faked."""

    def __init__(self, monkeypatch):
        self.registered = []
        self.shell = types.SimpleNamespace(
            events=types.SimpleNamespace(register=lambda name, fn: self.registered.append((name, fn))))
        self.displays = []
        self.handles = []
        self.now = 1000.0
        monkeypatch.setattr(plotting, "_kernel_shell", lambda: self.shell)
        monkeypatch.setattr(IPython.display, "display", self.display)
        monkeypatch.setattr(plotting, "time", types.SimpleNamespace(monotonic=lambda: self.now))

    def display(self, obj, **kwargs):
        self.displays.append((obj, kwargs))
        handle = FakeHandle()
        self.handles.append(handle)
        return handle

    @property
    def updates(self):
        return [u for h in self.handles for u in h.updates]

    def end_cell(self):
        """What IPython does after a cell: call every post_execute callback."""
        for name, fn in self.registered:
            if name == "post_execute":
                fn()


@pytest.fixture
def kernel(monkeypatch):
    return FakeKernel(monkeypatch)


def is_png_image(obj):
    return isinstance(obj, IPython.display.Image) and obj.data.startswith(PNG_SIGNATURE)


def test_kernel_rate_limits_the_updates(kernel):
    anim = Animator(max_fps=2.0)
    for i in range(100):
        anim.add(i, [i, 2 * i])
        kernel.now += 0.001  # 100 adds within 0.1 s
    assert len(kernel.displays) == 1
    image, kwargs = kernel.displays[0]
    assert kwargs == {"display_id": True} and is_png_image(image)
    assert len(kernel.updates) <= 1
    assert anim in plotting._pending
    n_updates = len(kernel.updates)

    anim.flush()
    assert len(kernel.displays) == 1  # updated in place, never shown twice
    assert len(kernel.updates) == n_updates + 1 and is_png_image(kernel.updates[-1])
    assert line_data(anim.axes[0]) == [(list(map(float, range(100))), list(map(float, range(100)))),
                                       (list(map(float, range(100))), [2.0 * i for i in range(100)])]
    assert anim not in plotting._pending
    anim.flush()  # nothing new: no draw
    assert len(kernel.updates) == n_updates + 1


def test_kernel_draws_again_after_the_frame_interval(kernel):
    anim = Animator(max_fps=2.0)
    anim.add(0, 1.0)
    assert len(kernel.displays) == 1 and anim.num_draws == 1
    kernel.now += 0.4
    anim.add(1, 2.0)
    assert anim.num_draws == 1
    kernel.now += 0.1  # 0.5 s since the last draw: 1 / max_fps
    anim.add(2, 3.0)
    assert anim.num_draws == 2 and len(kernel.updates) == 1
    assert line_data(anim.axes[0]) == [([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])]


def test_kernel_frames_keep_to_their_share_of_the_time(kernel):
    anim = Animator(max_fps=2.0, max_share=0.03)  # the default is 0.02
    original = anim.redraw

    def slow_redraw():  # a frame that costs 60 ms of the kernel's clock
        original()
        kernel.now += 0.06
    anim.redraw = slow_redraw
    anim.add(0, 1.0)
    assert anim.num_draws == 1 and anim.draw_seconds == pytest.approx(0.06)
    kernel.now += 1.9  # 1 / max_fps has passed, but 0.06 / 0.03 = 2 s has not
    anim.add(1, 2.0)
    assert anim.num_draws == 1
    kernel.now += 0.1
    anim.add(2, 3.0)
    assert anim.num_draws == 2


@pytest.mark.parametrize("max_share", [0, -0.1, 1.5, float("nan")])
def test_bad_max_share(max_share):
    with pytest.raises(ValueError, match=r"max_share must be in \(0, 1\], got "):
        Animator(max_share=max_share)


def test_post_execute_hook_registered_once_and_flushes(kernel):
    a, b = Animator(), Animator()
    for i in range(10):
        a.add(i, i)
        b.add(i, [i, -i])
    assert kernel.registered == [("post_execute", plotting._flush_pending)]
    assert set(plotting._pending) == {a, b}
    draws = a.num_draws, b.num_draws
    kernel.end_cell()
    assert (a.num_draws, b.num_draws) == (draws[0] + 1, draws[1] + 1)
    assert len(plotting._pending) == 0
    assert line_data(a.axes[0])[0][0][-1] == 9.0 and line_data(b.axes[0])[1][1][-1] == -9.0
    Animator().add(0, 0)
    assert len(kernel.registered) == 1


def test_headless_draws_only_at_the_end(kernel, monkeypatch):
    monkeypatch.setenv("LRCOURSE_HEADLESS", "1")
    anim = Animator()
    for i in range(100):
        anim.add(i, [i, i + 1])
        kernel.now += 1.0  # plenty of time between adds: still no draw
    assert kernel.displays == [] and anim.num_draws == 0
    kernel.end_cell()
    assert len(kernel.displays) == 1 and kernel.updates == []
    assert anim.num_draws == 1
    assert line_data(anim.axes[0])[1] == (list(map(float, range(100))), list(map(float, range(1, 101))))
    anim.flush()
    kernel.end_cell()
    assert len(kernel.displays) == 1 and kernel.updates == []


def test_headless_flush_shows_one_figure(kernel, monkeypatch):
    monkeypatch.setenv("LRCOURSE_HEADLESS", "1")
    anim = Animator()
    for i in range(5):
        anim.add(i, i)
    anim.flush()
    assert len(kernel.displays) == 1 and is_png_image(kernel.displays[0][0])
    assert line_data(anim.axes[0]) == [([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0])]


# ------------------------------------------------------------- plot_histories


def history(offset):
    return types.SimpleNamespace(train_loss=[1.0 + offset, 0.5 + offset, 0.25 + offset],
                                 train_acc=[0.5, 0.6 + offset, 0.7],
                                 test_acc=[0.4, 0.5, 0.6 + offset],
                                 lr=[0.1, 0.01, 0.001])


def test_plot_histories_one_axes_per_metric_one_line_per_run():
    runs = {"lr=0.1": history(0.0), "lr=0.3": history(0.05)}
    fig = plot_histories(runs, title="two runs")
    assert isinstance(fig, PNGFigure)
    axes = fig.axes
    assert len(axes) == 3
    for ax, metric, label in zip(axes, ("train_loss", "train_acc", "test_acc"),
                                 ("train loss", "train accuracy", "test accuracy")):
        assert ax.get_ylabel() == label and ax.get_xlabel() == "epoch"
        assert line_data(ax) == [([1, 2, 3], getattr(runs[name], metric)) for name in runs]
    assert [ax.get_yscale() for ax in axes] == ["linear", "linear", "linear"]
    (legend,) = fig.legends                    # one legend for all panels, below them
    assert [t.get_text() for t in legend.get_texts()] == ["lr=0.1", "lr=0.3"]
    assert all(ax.get_legend() is None for ax in axes)
    assert fig._suptitle is not None and fig._suptitle.get_text() == "two runs"
    assert fig._repr_png_().startswith(PNG_SIGNATURE)


def test_plot_histories_single_metric_and_options():
    fig = plot_histories({0.1: history(0)}, metrics="lr", xlabel="round", figsize=(4, 3))
    (ax,) = fig.axes
    assert ax.get_ylabel() == "learning rate" and ax.get_xlabel() == "round"
    assert ax.get_yscale() == "log"
    (steps,) = ax.patches                      # epoch e's rate spans [e, e + 1]
    values, edges, _ = steps.get_data()
    assert values.tolist() == [0.1, 0.01, 0.001] and edges.tolist() == [0, 1, 2, 3]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0.1"]
    assert tuple(fig.get_size_inches()) == (4, 3)


def test_the_rate_panel_and_the_panels_beside_it_share_the_epoch_axis():
    fig = plot_histories({0.1: history(0), 0.2: history(1)}, metrics=("lr", "test_acc"))
    assert [ax.get_xlim() for ax in fig.axes] == [(0.0, 3.0), (0.0, 3.0)]
    (ax,) = plot_histories({0.1: history(0)}, metrics=("test_acc",)).axes
    assert ax.get_xlim()[0] > 0.5           # without a rate panel, the axis fits the points from epoch 1


def test_plot_histories_draws_every_step_rate_where_it_happened():
    from lrcourse import History

    h = History(steps_per_epoch=4)
    h.lr = [0.3, 0.3]
    h.step_lr = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.21, 0.21]   # a cut before step 6, inside epoch 1
    fig = plot_histories({"run": h}, metrics=("lr",), mark_lr_changes=True)
    (ax,) = fig.axes
    values, edges, _ = ax.patches[0].get_data()
    assert values.tolist() == h.step_lr and edges.tolist() == [k / 4 for k in range(9)]
    assert [line.get_xdata()[0] for line in ax.lines] == [1.5]   # the dotted mark, at the same place


def test_plot_histories_empty():
    with pytest.raises(ValueError, match=r"histories must hold at least one run"):
        plot_histories({})


def test_results_table_mean_and_std_over_seeds():
    from lrcourse import results_table
    from lrcourse.training import History

    def h(test_acc, seconds=2.0):
        return History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.8], test_acc=[0.7, test_acc],
                       epoch_time=[seconds, seconds])

    table = results_table({0.3: [h(0.8), h(0.9)], 0.03: h(0.6)}, label="lr", caption="cap")
    assert table.header == ["lr", "runs", "train loss", "train acc", "test acc", "best test acc",
                            "s/epoch"]
    assert table.rows[0] == ["0.3", "2", "0.500\u00a0±\u00a00.000", "0.800\u00a0±\u00a00.000", "0.850\u00a0±\u00a00.071",
                             "0.850\u00a0±\u00a00.071", "2.0"]
    assert table.rows[1][:5] == ["0.03", "1", "0.500", "0.800", "0.600"]
    assert table.rows[1][5] == "0.700"  # best epoch, not the last
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and "<caption>cap</caption>" in html and "0.850\u00a0±\u00a00.071" in html
    text = str(table).splitlines()
    assert text[0] == "cap" and text[1].startswith("lr") and set(text[2]) <= {"-", " "}


def test_results_table_rejects_empty_input():
    from lrcourse import results_table

    with pytest.raises(ValueError, match="runs must hold at least one entry"):
        results_table({})
    with pytest.raises(ValueError, match=r"runs\[0.3\] holds no History"):
        results_table({0.3: []})


def test_show_images_grid_with_titles():
    from lrcourse import show_images

    import torch

    imgs = torch.rand(5, 1, 28, 28)
    fig = show_images(imgs, 2, 3, titles=["a", "b", "c", "d", "e"])
    assert len(fig.axes) == 6
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 5
    assert [ax.get_title() for ax in shown] == ["a", "b", "c", "d", "e"]
    assert shown[0].get_images()[0].get_array().shape == (28, 28)
    assert fig._repr_png_().startswith(PNG_SIGNATURE)


def test_an_animator_made_in_frames_into_draws_into_the_image():
    """Frames go to the image's value (an ipywidgets.Image in a button's callback), not to a display."""
    import ipywidgets as w

    from lrcourse.plotting import Animator, frames_into

    image = w.Image(format="png")
    with frames_into(image) as target:
        assert target is image
        animator = Animator(legend=["loss"])
    outside = Animator()
    for epoch in range(1, 4):
        animator.add(epoch, 1.0 / epoch)
        outside.add(epoch, 1.0)
    animator.flush()
    assert bytes(image.value).startswith(b"\x89PNG") and animator.num_draws >= 1
    assert outside.num_draws == 0  # outside a kernel and outside the block, nothing is drawn


def test_plural_says_1_epoch_and_2_epochs():
    from lrcourse import plural

    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]


def test_the_batch_size_plots_draw_their_rules_and_fits():
    import math

    from lrcourse.scaling import critical_batch

    B = [32, 64, 128, 256]
    fig = plotting.plot_best_rates({"SGD": dict(zip(B, [0.05, 0.1, 0.2, 0.2]))}, {"SGD": {b: 0.8 for b in B}})
    lines = fig.axes[0].get_lines()
    assert [list(l.get_ydata()) for l in lines[:3]] == [[0.05, 0.1, 0.2, 0.2], [0.05, 0.1, 0.2, 0.4],
                                                         pytest.approx([0.05 * math.sqrt(b / 32) for b in B])]
    steps = {b: 100 * (1 + 64 / b) for b in B}
    fig = plotting.plot_steps_to_target({"momentum": steps, "never": dict.fromkeys(B, math.inf)},
                                        {"momentum": critical_batch(B, list(steps.values()))})
    assert fig.axes[0].get_yscale() == "log" and "not reached" in fig.axes[1].texts[0].get_text()
    assert any("B_crit ≈ 64" in t.get_text() for t in fig.axes[0].texts)
    fig = plotting.plot_noise_scale({"seed 0": [(0.5, 30.0), (0.8, 200.0), (0.85, math.inf)]},
                                    {"B_crit": [(0.8, 160.0)]})
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [30.0, 200.0]  # the infinite estimate left out
    assert fig.to_png().startswith(b"\x89PNG")


def test_plot_sharpness_draws_each_run_with_its_limit_or_the_product():
    from lrcourse.plotting import PNGFigure, plot_sharpness

    runs = {"a": dict(lr=0.1, sharpness=[[0, 5.0], [10, 19.0]], loss=[2.0, 1.0, 0.5]),
            "b": dict(lr=0.05, sharpness=[[0, 5.0], [10, 39.0]], loss=[2.0, 1.5, 1.0])}
    fig = plot_sharpness(runs, title="t")
    assert isinstance(fig, PNGFigure) and len(fig.axes) == 2  # the losses on the left
    right = fig.axes[1]
    assert len(right.lines) == 4  # each run's sharpness and its dashed 2/η
    assert list(right.lines[1].get_ydata()) == [20.0, 20.0]
    warm = plot_sharpness({"w": dict(lr=[0.1, 0.2, 0.4], sharpness=[[0, 5.0], [1, 5.0], [7, 5.0]])},
                          ratio=True, log_steps=True)
    assert len(warm.axes) == 1
    line = warm.axes[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx([0.5, 1.0, 2.0])  # η_k·λ_k, the last rate past the end
    assert list(line.get_xdata()) == [0.5, 1, 7]  # step 0 at 1/2 on a log axis
