"""Figures: the live training plot and the plots that compare runs.

Every figure here is a stand-alone matplotlib ``Figure`` (not one pyplot
tracks), rendered to PNG with an opaque white background so it stays
readable in a dark theme. Returned figures show themselves as PNG when they
are a cell's last value; pyplot's inline backend never shows them twice.
"""
from __future__ import annotations

import contextlib
import contextvars
import io
import math
import numbers
import statistics
import time
import weakref

from matplotlib.figure import Figure

from .config import is_headless
from .config import kernel_shell as _kernel_shell  # one name, so that tests can stand in for the kernel

__all__ = ["Animator", "frames_into", "plural", "PNGFigure", "QuadraticPlot", "Table", "momentum_animation",
           "plot_sharpness", "StabilityPlot", "stability_animation", "stability_caption",
           "plot_best_rates", "plot_noise_scale", "plot_steps_to_target", "plot_differences", "plot_histories",
           "plot_quadratic_runs", "plot_rate_curves", "plot_schedules", "results_table", "show_images"]

DPI = 100
HISTORY_METRICS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "lr",
                   "epoch_time")  # per-epoch lists


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``plural(1, "epoch") == "1 epoch"``, else "n epochs"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _check_dict(name: str, value, what: str, one: str | None = None) -> None:
    """``value`` must be a non-empty dict ``{label: what}``."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict {{label: {what}}}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must hold at least one {one or what}")


def _check_count(name: str, value, minimum: int) -> int:
    from .checks import check_int  # imported when used, as torch is: plotting stays light

    return check_int(name, value, minimum=minimum)


class PNGFigure(Figure):
    """A matplotlib figure that IPython displays as a PNG image."""

    def to_png(self, tight: bool = True) -> bytes:
        """The figure as PNG bytes, cropped to its content (``tight``, which renders it twice) or not."""
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=DPI, facecolor="white", bbox_inches="tight" if tight else None)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()


def set_axes(ax, xlabel, ylabel, xlim, ylim, xscale, yscale, legend) -> None:
    """Label, limit and scale one matplotlib axes (d2l's ``set_axes``)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    if legend:
        ax.legend(legend)
    ax.grid(True, alpha=0.3)


# Animators with data not yet drawn; drawn after the cell that fed them ends.
_pending: "weakref.WeakSet[Animator]" = weakref.WeakSet()
_hooked = False


def _flush_pending(*_args) -> None:
    for animator in list(_pending):
        animator.flush()


def _hook_post_execute(shell) -> None:
    global _hooked
    if not _hooked:
        shell.events.register("post_execute", _flush_pending)
        _hooked = True


_frames_target = contextvars.ContextVar("frames_target", default=None)


@contextlib.contextmanager
def frames_into(image):
    """Inside this block, a new :class:`Animator` draws its frames into ``image``.

    ``image`` is an ``ipywidgets.Image`` (anything with a ``value`` that takes
    PNG bytes): each frame replaces its value, which every front end redraws.
    Use it where a display handle cannot reach the screen: output that a
    button's callback writes into an ``ipywidgets.Output`` is shown, but
    updates to a display in it are dropped by the ipywidgets 8 front ends
    (JupyterLab, Notebook 7), so a live plot there would stay empty.
    """
    if not hasattr(image, "value"):
        raise TypeError(f"image must be an ipywidgets.Image (with a value for PNG bytes), "
                        f"got {type(image).__name__}")
    token = _frames_target.set(image)
    try:
        yield image
    finally:
        _frames_target.reset(token)


class Animator:
    """Plot data as it arrives, in one figure updated in place (d2l's ``Animator``).

    ``add(x, y)`` appends a point to each line: ``y`` is a number or a list
    with one entry per line (``None`` skips that line), ``x`` a number shared
    by all lines or a list. Lines are drawn on the first axes, like d2l.

    In a Jupyter kernel the figure is shown once and then updated through a
    display handle, at most ``max_fps`` times per second and never so often
    that drawing takes more than ``max_share`` of the time (a frame costs
    about 30 ms on a CPU core: with the default 2 %, one frame every 1.5 s);
    whatever the last ``add`` brought is drawn when the cell finishes (or on
    :meth:`flush`).
    With ``LRCOURSE_HEADLESS=1`` (book builds, nbval) it draws only then, so
    the page holds exactly one final figure. Outside a kernel nothing is
    shown; the figure is ``self.fig``. Made inside :func:`frames_into`, it
    draws into that image widget instead of a display.
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), *, max_fps: float = 2.0,
                 max_share: float = 0.02):
        if isinstance(max_fps, bool) or not isinstance(max_fps, numbers.Real) or not max_fps > 0:
            raise ValueError(f"max_fps must be > 0, got {max_fps!r}")
        if isinstance(max_share, bool) or not isinstance(max_share, numbers.Real) or not 0 < max_share <= 1:
            raise ValueError(f"max_share must be in (0, 1], got {max_share!r}")
        self.fig = PNGFigure(figsize=figsize)
        self.axes = list(self.fig.subplots(nrows, ncols, squeeze=False).ravel())
        self._config = (xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.fmts = fmts
        self.X, self.Y = None, None
        self.max_fps = float(max_fps)
        self.max_share = float(max_share)
        self.draw_seconds = 0.0  # what the last frame cost
        self.num_draws = 0
        self._handle = None
        self._target = _frames_target.get()
        self._lines = None
        self._laid_out = False
        self._last_draw = float("-inf")
        self._dirty = False

    def config_axes(self) -> None:
        set_axes(self.axes[0], *self._config)

    def add(self, x, y) -> None:
        if not hasattr(y, "__len__") or getattr(y, "ndim", 1) == 0:
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__") or getattr(x, "ndim", 1) == 0:
            x = [x] * n
        if len(x) != n:
            raise ValueError(f"x and y must have the same length, got {len(x)} and {n}")
        if self.X is None:
            self.X = [[] for _ in range(n)]
            self.Y = [[] for _ in range(n)]
        if n != len(self.Y):
            raise ValueError(f"y must have one value per line ({len(self.Y)}), got {n}")
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        self._dirty = True
        shell = _kernel_shell()
        if shell is None and self._target is None:
            return
        if shell is not None:
            _pending.add(self)
            _hook_post_execute(shell)
        wait = max(1.0 / self.max_fps, self.draw_seconds / self.max_share)
        if not is_headless() and time.monotonic() - self._last_draw >= wait:
            self.draw(final=False)

    def redraw(self) -> None:
        """Put the data into the figure's lines (no display).

        The lines, labels and legend are made once; later frames only move
        the lines' data and rescale, which is cheaper than drawing anew.
        """
        ax = self.axes[0]
        if self._lines is None or len(self._lines) != len(self.X or []):
            ax.cla()
            self._lines = [ax.plot(x, y, fmt)[0]
                           for x, y, fmt in zip(self.X or [], self.Y or [], self.fmts * len(self.X or [1]))]
            self.config_axes()
            return
        for line, x, y in zip(self._lines, self.X, self.Y):
            line.set_data(x, y)
        ax.relim()
        ax.autoscale_view()

    def draw(self, final: bool = True) -> None:
        """Redraw now and show the result in the notebook (in place after the first time).

        Frames during training (``final=False``) keep the layout of the first
        one and skip the cropping, which halves their cost; so does the last
        frame of a figure already on screen. A figure shown only once (a book
        build, a short run) is cropped like every other figure of the book.
        """
        start = time.monotonic()
        self.redraw()
        self._dirty = False
        self.num_draws += 1
        if self._target is not None or _kernel_shell() is not None:
            from IPython.display import Image, display

            if not final and not self._laid_out:
                self.fig.tight_layout()
                self._laid_out = True
            png = self.fig.to_png(tight=final and not self._laid_out)
            if self._target is not None:
                self._target.value = png
            elif self._handle is None:
                self._handle = display(Image(data=png, format="png"), display_id=True)
            else:
                self._handle.update(Image(data=png, format="png"))
        self._last_draw = time.monotonic()
        self.draw_seconds = self._last_draw - start

    def flush(self) -> None:
        """Draw whatever arrived since the last draw."""
        _pending.discard(self)
        if self._dirty:
            self.draw()


def plot_schedules(schedules: dict, num_updates: int, *, xlabel="epoch", yscale="linear",
                   figsize=(4.5, 2.8), title=None, ax=None) -> PNGFigure | None:
    """The rate of each schedule over updates ``0 .. num_updates - 1``: ``{label: schedule}`` → figure.

    Drawn as steps: update ``t``'s rate holds from ``x = t`` to ``t + 1``
    (the whole of epoch ``t`` when the schedule counts epochs). Schedules are
    evaluated with :func:`~lrcourse.schedules.lr_values`, so drawing one
    never changes it. Given ``ax``, draws there and returns None.
    """
    from .schedules import lr_values

    _check_dict("schedules", schedules, "schedule")
    num_updates = _check_count("num_updates", num_updates, 1)
    fig = None
    if ax is None:
        fig = PNGFigure(figsize=figsize, layout="constrained")
        ax = fig.subplots()
    ts = list(range(num_updates))
    for label, schedule in schedules.items():
        lrs = lr_values(schedule, ts)
        ax.stairs(lrs, range(num_updates + 1), label=str(label), baseline=None, linewidth=1.8)
    set_axes(ax, xlabel, "learning rate", (0, num_updates), None, "linear", yscale, None)
    if len(schedules) > 1:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def _rate_steps(history):
    """``(rates, edges)`` for ``stairs``: each optimizer step's rate over its span of the epoch axis.

    Step ``k`` spans ``[k, k + 1] / steps_per_epoch`` (from ``History.step_lr``);
    without per-step rates, epoch ``e``'s rate spans ``[e, e + 1]``.
    """
    import numpy as np

    per = getattr(history, "steps_per_epoch", 0)
    step_lr = getattr(history, "step_lr", None)
    if per and step_lr:
        return np.asarray(step_lr), np.arange(len(step_lr) + 1) / per
    return np.asarray(history.lr), np.arange(len(history.lr) + 1)


def plot_histories(histories: dict, metrics=("train_loss", "train_acc", "test_acc"), *,
                   xlabel="epoch", figsize=None, title=None, mark_lr_changes=False) -> PNGFigure:
    """One panel per metric, one line per run: ``{label: History}`` → figure.

    One legend for all panels sits below them (up to three runs per row).

    Metrics are per-epoch lists of a ``History``; epoch numbers start at 1
    (the value after that many epochs), so epoch ``e`` spans ``x`` in
    ``[e - 1, e]``. The ``'lr'`` panel draws the rate of every optimizer
    step (``History.step_lr``) as a staircase, so a change within an epoch
    shows where it happened. ``mark_lr_changes=True`` draws a dotted vertical line, in
    the run's colour, wherever the rate changed (see
    :meth:`~lrcourse.training.History.lr_changes`): a reduction that fired
    at optimizer step ``k`` sits at ``x = k / steps per epoch``.
    """
    _check_dict("histories", histories, "History", "run")
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in HISTORY_METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics must name one or more of {list(HISTORY_METRICS)}, "
                         f"got {unknown or metrics!r}")
    ncols = min(len(histories), 3 if len(metrics) > 1 else 1)
    legend_rows = math.ceil(len(histories) / ncols)
    figsize = figsize or (3.2 * len(metrics), 2.6 + 0.22 * legend_rows)
    fig = PNGFigure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    labels = {"train_loss": "train loss", "train_acc": "train accuracy",
              "valid_acc": "validation accuracy", "valid_loss": "validation loss",
              "test_acc": "test accuracy", "test_loss": "test loss", "lr": "learning rate"}
    # the rate panel spans epochs from 0 (epoch e's rate holds over [e - 1, e]): the panels beside it
    # share its axis, so the same x is the same moment of training in every panel
    xlim = (0, max(len(h.lr) for h in histories.values()) or 1) if "lr" in metrics else None
    for ax, metric in zip(axes, metrics):
        for i, (label, history) in enumerate(histories.items()):
            color = f"C{i % 10}"
            if metric == "lr":
                ax.stairs(*_rate_steps(history), baseline=None, color=color, linewidth=1.5, label=str(label))
            else:
                values = getattr(history, metric)
                ax.plot(range(1, len(values) + 1), values, color=color, label=str(label))
            if mark_lr_changes:
                for x in history.lr_changes():
                    ax.axvline(x, color=color, linestyle=":", linewidth=1.2)
        set_axes(ax, xlabel, labels.get(metric, metric), xlim, None, "linear",
                 "log" if metric == "lr" else "linear", None)
    # one legend for all panels, below them: long run names never cover a curve
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=ncols,
               fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _quadratic_axes(ax_path, ax_loss, lambdas, x0, num_steps, loss_floor) -> None:
    """Contours of ``f(x) = ½ Σ λ_i x_i²`` around the start ``x0``, and an empty log-scale loss axes."""
    import numpy as np

    f0 = 0.5 * float((lambdas * x0 ** 2).sum())
    box = 1.25 * np.abs(x0)
    g1, g2 = np.meshgrid(np.linspace(-box[0], box[0], 120), np.linspace(-box[1], box[1], 120))
    f = 0.5 * (lambdas[0] * g1 ** 2 + lambdas[1] * g2 ** 2)
    ax_path.contour(g1, g2, f, levels=f0 * np.geomspace(1e-3, 1.5, 9), colors="0.75", linewidths=0.8)
    ax_path.plot(0, 0, "k+", markersize=8)
    ax_path.set(xlim=(-box[0], box[0]), ylim=(-box[1], box[1]),
                xlabel=r"$x_1$ (small curvature $\lambda_1$)", ylabel=r"$x_2$ (large curvature $\lambda_2$)")
    ax_loss.set(yscale="log", xlim=(0, num_steps), ylim=(f0 * loss_floor, f0 * 1e3), xlabel="step $k$",
                ylabel="loss")
    ax_loss.grid(alpha=0.3)


def _loss_curves(run, f0: float):
    """``(k, f(x_k), f0·ρ^(2k))`` of a quadratic run, clipped to what a log axis can draw.

    Values below the axis floor (``f0 · QuadraticPlot.LOSS_FLOOR / 10``) and
    overflows (a diverging run) are clipped so lines leave the axes cleanly.
    """
    import numpy as np

    low = f0 * QuadraticPlot.LOSS_FLOOR / 10
    k = np.arange(len(run.loss))
    with np.errstate(all="ignore"):
        theory = f0 * float(run.rate) ** (2.0 * k)
    return k, np.clip(run.loss, low, 1e300), np.clip(theory, low, 1e300)


def plot_quadratic_runs(runs: dict, lambdas, *, figsize=(8, 3), title=None) -> PNGFigure:
    """Several runs of :func:`~lrcourse.momentum.run_quadratic` (same start) on one figure.

    ``{label: run}`` → the paths on the contours of ``f`` (left) and the
    losses on a log scale (right), each with its theoretical slope
    ``f(x_0)·ρ^(2k)`` dotted in the same colour.
    """
    import numpy as np

    _check_dict("runs", runs, "QuadraticRun", "run")
    first = next(iter(runs.values()))
    lambdas, x0 = np.asarray(lambdas, dtype=float), first.path[0]
    if lambdas.shape != (2,) or first.path.ndim != 2:
        raise ValueError(f"runs and lambdas must be 2-D: runs of one setting each (path of shape (k, 2)) "
                         f"and 2 eigenvalues, got a path of shape {first.path.shape} and lambdas "
                         f"{lambdas.tolist()}")
    num_steps = first.path.shape[0] - 1
    fig = PNGFigure(figsize=figsize, layout="constrained")
    ax_path, ax_loss = fig.subplots(1, 2, width_ratios=(1.25, 1))
    _quadratic_axes(ax_path, ax_loss, lambdas, x0, num_steps, QuadraticPlot.LOSS_FLOOR)
    for i, (label, run) in enumerate(runs.items()):
        color = f"C{i}"
        k, loss, theory = _loss_curves(run, first.loss[0])
        ax_path.plot(run.path[:, 0], run.path[:, 1], ".-", color=color, markersize=2, linewidth=0.8)
        ax_loss.plot(k, loss, color=color, label=f"{label}: ρ = {float(run.rate):.3f}")
        ax_loss.plot(k, theory, ":", color=color)
    fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center", fontsize="small",
               ncols=min(len(runs), 3), frameon=False)
    if title:
        fig.suptitle(title)
    return fig


class QuadraticPlot:
    """The playground's figure: the path on the contours of ``f`` and the loss on a log scale.

    ``QuadraticPlot(lambdas, x0, num_steps)`` draws the contours once; each
    :meth:`update` only moves the lines, and :meth:`to_png` repaints just
    those over a saved background (Agg blitting), which is what lets a slider
    redraw while it moves. ``f(x) = ½ Σ λ_i x_i²`` in 2-D; the dashed line is
    the theoretical loss ``f(x_0)·ρ^(2k)`` for the rate ρ.
    """

    LOSS_FLOOR = 1e-12  # the bottom of the loss axis, relative to f(x0)

    def __init__(self, lambdas, x0, num_steps: int, *, figsize=(8, 3), dpi: int = DPI):
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.lambdas, self.x0 = np.asarray(lambdas, dtype=float), np.asarray(x0, dtype=float)
        if self.lambdas.shape != (2,) or self.x0.shape != (2,):
            raise ValueError(f"the playground is 2-D: lambdas and x0 must hold 2 numbers each, "
                             f"got {lambdas!r} and {x0!r}")
        self.num_steps = _check_count("num_steps", num_steps, 1)
        self.f0 = 0.5 * float((self.lambdas * self.x0 ** 2).sum())
        self.fig = PNGFigure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        self.ax_path, self.ax_loss = self.fig.subplots(1, 2, width_ratios=(1.25, 1))
        _quadratic_axes(self.ax_path, self.ax_loss, self.lambdas, self.x0, num_steps, self.LOSS_FLOOR)
        self.path_line, = self.ax_path.plot([], [], ".-", color="C0", markersize=2.5, linewidth=0.9)
        self.loss_line, = self.ax_loss.plot([], [], color="C0", label=r"$f(x_k)$")
        self.theory_line, = self.ax_loss.plot([], [], "--", color="C1", label=r"$f(x_0)\,\rho^{2k}$")
        self.ax_loss.legend(fontsize="small", loc="lower left")
        self.title = self.fig.suptitle("")
        self._background = None

    @property
    def artists(self):
        """What :meth:`update` changes: the path, the two loss lines and the title."""
        return self.path_line, self.loss_line, self.theory_line, self.title

    def update(self, run, title: str = "") -> None:
        """Show ``run`` (a :class:`~lrcourse.momentum.QuadraticRun` for one α, β)."""
        k, loss, theory = _loss_curves(run, self.f0)
        self.path_line.set_data(run.path[:, 0], run.path[:, 1])
        self.loss_line.set_data(k, loss)
        self.theory_line.set_data(k, theory)
        self.title.set_text(title)

    def to_png(self) -> bytes:
        """The figure as PNG, repainting only :attr:`artists` over the saved background."""
        import numpy as np
        from PIL import Image

        canvas = self.fig.canvas
        if self._background is None:
            text = self.title.get_text()
            self.title.set_text("Mg")      # a title-sized placeholder: the layout leaves room for it
            canvas.draw()
            self.fig.set_layout_engine("none")   # freeze that layout
            self.title.set_text(text)
            for artist in self.artists:
                artist.set_visible(False)
            canvas.draw()                   # everything that never moves
            self._background = canvas.copy_from_bbox(self.fig.bbox)
            for artist in self.artists:
                artist.set_visible(True)
        canvas.restore_region(self._background)
        for artist in self.artists:
            self.fig.draw_artist(artist)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()


def momentum_animation(lambdas, x0, num_steps: int, alpha: float, betas, *, nesterov: bool = False,
                       figsize=(8, 3), dpi: int = 72):
    """A scrubbable animation (HTML with its own frame slider) sweeping β at a fixed α.

    One frame per value in ``betas``; each shows :func:`~lrcourse.momentum.run_quadratic`
    on a :class:`QuadraticPlot`. Returns an ``IPython.display.HTML`` that
    needs no kernel: it plays in the rendered book. Frames are PNGs at
    ``dpi``, so the page grows by roughly 20-40 kB per frame.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    from .momentum import run_quadratic

    betas = list(betas)
    if not betas:
        raise ValueError("betas must hold at least one momentum (one frame each), got none")
    runs = [run_quadratic(alpha, beta, lambdas, x0, num_steps, nesterov=nesterov) for beta in betas]
    plot = QuadraticPlot(lambdas, x0, num_steps, figsize=figsize, dpi=dpi)

    def frame(i):
        plot.update(runs[i], f"α = {alpha:.3g}, β = {betas[i]:.2f}: rate ρ = {float(runs[i].rate):.3f}")
        return plot.artists

    anim = FuncAnimation(plot.fig, frame, frames=len(runs), interval=400, blit=False)
    return HTML(_without_icon_font(anim.to_jshtml(default_mode="once")))


# matplotlib's player draws its buttons with Font Awesome 4 icons from a CDN; these characters need no font
_PLAYER_ICONS = {"fa-minus": "−", "fa-fast-backward": "|◀◀", "fa-step-backward": "|◀",
                 "fa-play fa-flip-horizontal": "◀", "fa-pause": "❚❚", "fa-play": "▶",
                 "fa-step-forward": "▶|", "fa-fast-forward": "▶▶|", "fa-plus": "+"}


def _without_icon_font(html: str) -> str:
    """matplotlib's animation HTML with no stylesheet from a CDN: the buttons' icons become characters."""
    import re

    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    for icon, text in _PLAYER_ICONS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', text)
    return html


def show_images(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.4) -> PNGFigure:
    """A grid of gray images (d2l's ``show_images``): ``imgs`` is ``(n, H, W)`` or ``(n, 1, H, W)``."""
    import numpy as np

    num_rows, num_cols = _check_count("num_rows", num_rows, 1), _check_count("num_cols", num_cols, 1)
    imgs = np.asarray(imgs.detach().cpu() if hasattr(imgs, "detach") else imgs)
    if imgs.ndim not in (3, 4) or (imgs.ndim == 4 and imgs.shape[1] != 1):
        raise ValueError(f"imgs must have shape (n, H, W) or (n, 1, H, W), got {imgs.shape}")
    fig = PNGFigure(figsize=(num_cols * scale, num_rows * scale * 1.15), layout="constrained")
    axes = fig.subplots(num_rows, num_cols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(imgs):
            img = imgs[i]
            ax.imshow(img[0] if img.ndim == 3 else img, cmap="gray_r")
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize="small")
    return fig


class Table:
    """A small results table that shows as HTML in a notebook and as text elsewhere."""

    def __init__(self, header: list[str], rows: list[list[str]], caption: str | None = None):
        self.header, self.rows, self.caption = list(header), [list(r) for r in rows], caption

    def _repr_html_(self) -> str:
        from html import escape
        pad = 'style="padding: 0.2em 0.45em; text-align: right"'
        head = "".join(f"<th {pad}>{escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td {pad}>{escape(c)}</td>" for c in row) + "</tr>"
                       for row in self.rows)
        cap = f"<caption>{escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table style="border-collapse: collapse">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def __str__(self) -> str:
        cols = [self.header] + self.rows
        widths = [max(len(r[i]) for r in cols) for i in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cols]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(([self.caption] if self.caption else []) + lines)

    __repr__ = __str__


def mean_std(values) -> str:
    """``'0.884 ± 0.002'``: mean and sample standard deviation, 3 decimals, never broken across lines."""
    values = list(values)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f}\u00a0±\u00a0{statistics.stdev(values):.3f}"  # no line break


def plot_rate_curves(curves: dict, peaks: dict | None = None, *, ncols: int = 4, ylabel="validation accuracy",
                     xlabel="peak learning rate", title=None, figsize=None) -> PNGFigure:
    """One panel per strategy: accuracy against the peak rate (log axis), mean ± 95 % interval.

    ``curves``: :func:`lrcourse.compare.rate_curves`; each point is the mean
    of the living seeds with its t interval as a band, each seed a faint
    dot. A rate where seeds died is marked with a red cross at the bottom and
    "k/n" (dead runs are counted, never averaged in). ``peaks``
    (:func:`lrcourse.compare.best_peaks`): the chosen peak is circled. The
    panels share both axes, so the heights and widths of the good regions
    compare at a glance. ``xlabel`` names what the points' ``lr`` holds (a
    chapter may put another scale there, such as momentum's effective step).
    """
    _check_dict("curves", curves, "list of rate points", "strategy")
    ncols = min(_check_count("ncols", ncols, 1), len(curves))
    nrows = math.ceil(len(curves) / ncols)
    fig = PNGFigure(figsize=figsize or (2.3 * ncols + 0.6, 2.1 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    living = [v for points in curves.values() for p in points for v in p["values"]]
    bottom = min(living) if living else 0.0
    top = max(living) if living else 1.0
    floor = bottom - 0.08 * (top - bottom or 0.1)
    for ax, (name, points) in zip(axes, curves.items()):
        lrs = [p["lr"] for p in points]
        means = [p["mean"] for p in points]
        ax.fill_between(lrs, [p["low"] for p in points], [p["high"] for p in points], color="C0", alpha=0.25,
                        linewidth=0)
        ax.plot(lrs, means, "-o", color="C0", markersize=3.5)
        for p in points:
            ax.plot([p["lr"]] * len(p["values"]), p["values"], ".", color="C0", alpha=0.35, markersize=3)
            if p["dead"]:
                ax.plot([p["lr"]], [floor], "x", color="C3", markersize=7, mew=2)
                ax.annotate(f"{p['dead']}/{p['n']}", (p["lr"], floor), textcoords="offset points",
                            xytext=(0, 5), ha="center", fontsize="x-small", color="C3")
        if peaks and name in peaks and not math.isnan(peaks[name]["lr"]):
            ax.plot([peaks[name]["lr"]], [peaks[name]["mean"]], "o", mfc="none", mec="black", markersize=9)
        ax.set_xscale("log")
        ax.set_title(name, fontsize="medium")
        ax.grid(alpha=0.3)
    # the panels share one x axis; rates that differ only by rounding (0.025 and 10 × 0.0025) share a tick
    ticks = sorted({float(f"{p['lr']:.10g}") for points in curves.values() for p in points})
    for ax in axes[:len(curves)]:
        ax.set_xticks(ticks, [f"{lr:g}" for lr in ticks], fontsize="small", rotation=45 if len(ticks) > 6 else 0)
        ax.minorticks_off()
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    for ax in axes[(nrows - 1) * ncols:]:
        ax.set_xlabel(xlabel)
    for ax in axes[::ncols]:
        ax.set_ylabel(ylabel)
    axes[0].set_ylim(floor - 0.04 * (top - bottom or 0.1), top + 0.05 * (top - bottom or 0.1))
    how = "mean of the living seeds ± 95 % interval; ×: seeds that died; circle: the chosen peak"
    fig.suptitle(f"{title}\n{how}" if title else how, fontsize="medium" if title else "small")
    return fig


def plot_differences(result: dict, *, xlabel="test accuracy − reference", title=None, figsize=None) -> PNGFigure:
    """One row per strategy: its paired difference to the reference with the 95 % interval.

    ``result``: :func:`lrcourse.compare.compare_at_peaks`. The dot is the
    mean of the seeds' differences, the bar its 95 % interval; the dashed
    line is no difference; red marks a verdict of 'worse' (after Holm). Rows without a paired difference (the reference, too few
    living pairs) say so in their label.
    """
    _check_dict("result", result, "comparison of a strategy", "strategy")
    names = list(result)
    fig = PNGFigure(figsize=figsize or (7, 0.42 * len(names) + 1.3), layout="constrained")
    ax = fig.subplots()
    labels = []
    for row, name in enumerate(names):
        e, y = result[name], len(names) - 1 - row
        dead = f", {e['dead']} of {e['n']} dead" if e["dead"] else ""
        labels.append(f"{name} ({e['lr']:g}{dead})" + (": reference" if e["verdict"] == "reference" else ""))
        d = e["diff"]
        if d is None:
            continue
        color = "C3" if e["verdict"] == "worse" else "C2" if e["verdict"] == "better" else "C0"
        ax.errorbar([d["mean"]], [y], xerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]], fmt="o",
                    color=color, capsize=4, markersize=5)
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(names)), labels[::-1])
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    m = max((e["comparisons"] for e in result.values()), default=0)
    how = f"paired over the seeds where both lived; 95 % t intervals; red: worse after Holm over {m} comparisons"
    fig.suptitle(f"{title}\n{how}" if title else how, fontsize="medium" if title else "small")
    return fig


def results_table(runs: dict, *, label: str = "run", caption: str | None = None) -> Table:
    """Mean ± sample standard deviation over seeds: ``{label: [History, ...]}`` → :class:`Table`.

    Columns: number of runs, final train loss, final train, validation
    (when the runs had a validation split) and test accuracy, best test
    accuracy over the epochs (a number to read, never to choose by), seconds
    per epoch. A run that
    diverged counts with the values of its last finished epoch (or NaN).
    """
    _check_dict("runs", runs, "History or list of Histories", "entry")
    nan = float("nan")

    def last(h, metric):
        values = getattr(h, metric)
        return values[-1] if values else nan

    rows = []
    groups = [h if isinstance(h, (list, tuple)) else [h] for h in runs.values()]
    valid = any(h.valid_acc for histories in groups for h in histories)
    for name, histories in zip(runs, groups):
        if not histories:
            raise ValueError(f"runs[{name!r}] holds no History")
        rows.append([
            str(name), str(len(histories)),
            mean_std(last(h, "train_loss") for h in histories),
            mean_std(last(h, "train_acc") for h in histories),
            *([mean_std(last(h, "valid_acc") for h in histories)] if valid else []),
            mean_std(last(h, "test_acc") for h in histories),
            mean_std(max(h.test_acc, default=nan) for h in histories),
            f"{sum(sum(h.epoch_time) for h in histories) / max(1, sum(h.num_epochs for h in histories)):.1f}",
        ])
    header = [label, "runs", "train loss", "train acc", *(["valid acc"] if valid else []), "test acc",
              "best test acc", "s/epoch"]
    return Table(header, rows, caption)


# ---------------------------------------------------------------- chapter 11: the batch size

def _log_panels(n: int, title, how: str, width: float = 3.0):
    fig = PNGFigure(figsize=(width * n + 0.4, 3.0), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False).ravel()
    fig.suptitle(f"{title}\n{how}" if title else how, fontsize="medium" if title else "small")
    return fig, axes


def _batch_axis(ax, batch_sizes) -> None:
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes], fontsize="x-small", rotation=45)
    ax.minorticks_off()
    ax.set_xlabel("batch size B")
    ax.grid(alpha=0.3)


def plot_best_rates(best: dict, ceilings: dict | None = None, *, title=None) -> PNGFigure:
    """One panel per optimizer: the best rate against the batch size on log-log axes.

    ``best``: ``{optimizer: {B: lr}}`` (chosen on validation). Drawn through
    the smallest batch ``B₀`` with rate ``η₀``: the linear rule
    ``η = η₀·B/B₀`` (dashed) and the square-root rule ``η = η₀·√(B/B₀)``
    (dotted). ``ceilings``: ``{optimizer: {B: the smallest grid rate that
    lost a seed}}``, drawn as red crosses: no rule can climb past them.
    """
    _check_dict("best", best, "dict {batch size: lr}", "optimizer")
    how = ("circles: the best rate on validation; dashed: η ∝ B; dotted: η ∝ √B, both through the smallest "
           "batch; ×: the smallest rate that lost a seed")
    fig, axes = _log_panels(len(best), title, how)
    for ax, (name, rates) in zip(axes, best.items()):
        B = sorted(rates)
        b0, lr0 = B[0], rates[B[0]]
        ax.plot(B, [rates[b] for b in B], "o-", color="C0", label="best rate")
        ax.plot(B, [lr0 * b / b0 for b in B], "--", color="C1", label="η ∝ B")
        ax.plot(B, [lr0 * math.sqrt(b / b0) for b in B], ":", color="C2", label="η ∝ √B")
        if ceilings and ceilings.get(name):
            lost = sorted(ceilings[name].items())
            ax.plot([b for b, _ in lost], [lr for _, lr in lost], "x", color="C3", markersize=7, mew=2,
                    label="lost a seed")
        _batch_axis(ax, B)
        ax.set_title(name, fontsize="medium")
        ax.set_ylabel("learning rate")
    axes[0].legend(fontsize="x-small")
    return fig


def plot_steps_to_target(steps: dict, fits: dict | None = None, *, title=None) -> PNGFigure:
    """One panel per optimizer (and target): the optimizer steps to reach a target against the batch size, log-log.

    ``steps``: ``{optimizer: {B: steps}}`` at each batch's best rate
    (:func:`lrcourse.scaling.steps_at_best_rate`); ``inf`` (never reached)
    is left out. Dotted: perfect scaling from the smallest batch, ``S ∝ 1/B``.
    ``fits``: ``{optimizer: CriticalBatch}``, drawn as the curve
    ``S_min + E_min/B`` with its ``B_crit`` as a vertical line.
    """
    _check_dict("steps", steps, "dict {batch size: steps}", "optimizer")
    fig, axes = _log_panels(len(steps), title, "steps to the target at each batch's best rate; dotted: perfect "
                            "scaling S ∝ 1/B; line: S = S_min + E_min/B")
    for ax, (name, per_batch) in zip(axes, steps.items()):
        B = sorted(per_batch)
        reached = [b for b in B if math.isfinite(per_batch[b])]
        ax.plot(reached, [per_batch[b] for b in reached], "o", color="C0", label="measured")
        ax.set_xscale("log", base=2)
        if reached:
            b0, s0 = reached[0], per_batch[reached[0]]
            ax.plot(B, [s0 * b0 / b for b in B], ":", color="C2", label="S ∝ 1/B")
        fit = (fits or {}).get(name)
        if not reached:
            ax.text(0.5, 0.5, "target not reached", transform=ax.transAxes, ha="center", fontsize="small")
            ax.set_yscale("linear")
        elif fit is not None:
            ax.plot(B, fit.steps(B), "-", color="C1", label="fit")
            ax.axvline(fit.b_crit, color="C1", linestyle="--", linewidth=1)
            ax.annotate(f"B_crit ≈ {fit.b_crit:.0f}", (fit.b_crit, ax.get_ylim()[1]), textcoords="offset points",
                        xytext=(3, -12), fontsize="x-small", color="C1")
        if reached:
            _batch_axis(ax, B)
        ax.set_title(name, fontsize="medium")
        ax.set_ylabel("steps to target")
    axes[0].legend(fontsize="x-small")
    return fig


def plot_noise_scale(points: dict, critical: dict | None = None, *, title=None) -> PNGFigure:
    """The gradient noise scale against the validation accuracy where it was measured (log y).

    ``points``: ``{run: [(accuracy, b_simple), ...]}``, one line per run.
    ``critical``: ``{label: [(target accuracy, B_crit), ...]}``: the critical
    batch measured from the steps to each target, as large markers.
    """
    _check_dict("points", points, "list of (accuracy, b_simple)", "run")
    fig = PNGFigure(figsize=(5.6, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, (name, pairs) in enumerate(points.items()):
        finite = [(a, b) for a, b in pairs if math.isfinite(b) and b > 0]
        ax.plot([a for a, _ in finite], [b for _, b in finite], "o", color="C0", alpha=0.3 + 0.7 / (i + 1),
                markersize=3.5, label=name)
    for j, (label, marks) in enumerate((critical or {}).items()):
        ax.plot([t for t, _ in marks], [b for _, b in marks], "s", color=f"C{j + 1}", markersize=8,
                mec="black", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("validation accuracy")
    ax.set_ylabel("batch size (examples)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    how = "dots: B_simple = tr(Σ)/|G|² measured during training; squares: B_crit from the steps to a target"
    fig.suptitle(f"{title}\n{how}" if title else how, fontsize="medium" if title else "small")
    return fig


# ---------------------------------------------------------------- chapter 12: the sharpness against 2/lr

def _check_sharpness_run(label, run) -> None:
    if not isinstance(run, dict) or "sharpness" not in run or "lr" not in run:
        raise ValueError(f"runs[{label!r}] must be a dict with 'lr' (a rate, or one per step) and 'sharpness' "
                         f"([[step, λ_max], ...]), got {run!r}"[:300])


def _rate_at(lr, step: int) -> float:
    """A run's rate at ``step``: ``lr`` itself, or ``lr[step]`` for a rate per step (the last past its end)."""
    return float(lr) if not isinstance(lr, (list, tuple)) else float(lr[min(step, len(lr) - 1)])


def plot_sharpness(runs: dict, *, ratio: bool = False, log_steps: bool = False, title=None,
                   figsize=None) -> PNGFigure:
    """The sharpness against the optimizer step, with each run's stability limit.

    ``runs``: ``{label: {"lr": η (or one rate per step), "sharpness": [[step, λ_max], ...],
    "loss": [L_0, L_1, ...] (optional, one per step), "color": ..., "ls": ...}}``.
    The sharpness panel draws ``λ_max`` with ``2/η`` dashed in the run's colour
    (log y); with ``ratio``, ``η_k · λ_max`` against the one line 2, which also
    serves a rate that changes from step to step. When every run holds a
    ``loss``, a second panel on the left draws it (log y). ``log_steps``: a log
    step axis (step 0 drawn at step 1/2).
    """
    import numpy as np

    _check_dict("runs", runs, "run", "run")
    for label, run in runs.items():
        _check_sharpness_run(label, run)
    with_loss = all(run.get("loss") for run in runs.values())
    fig = PNGFigure(figsize=figsize or ((9, 3.4) if with_loss else (5.8, 3.4)), layout="constrained")
    axes = fig.subplots(1, 2 if with_loss else 1, squeeze=False)[0]
    ax = axes[-1]
    at = (lambda s: np.maximum(np.asarray(s, dtype=float), 0.5)) if log_steps else np.asarray  # noqa: E731
    for i, (label, run) in enumerate(runs.items()):
        style = dict(color=run.get("color", f"C{i % 10}"), ls=run.get("ls", "-"))
        steps = [int(s) for s, _ in run["sharpness"]]
        values = np.array([v for _, v in run["sharpness"]], dtype=float)
        if ratio:
            values = values * np.array([_rate_at(run["lr"], s) for s in steps])
        ax.plot(at(steps), values, marker="." if len(steps) < 40 else None, label=label, linewidth=1.2, **style)
        if not ratio:
            limit = [2 / _rate_at(run["lr"], s) for s in steps]
            ax.plot(at(steps), limit, color=style["color"], ls="--", linewidth=0.9, alpha=0.8)
        if with_loss:
            loss = np.asarray(run["loss"], dtype=float)
            axes[0].plot(at(np.arange(len(loss))), loss, linewidth=0.9, **style)
    if ratio:
        ax.axhline(2.0, color="black", ls="--", linewidth=1.0, label="η·λ = 2")
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, 50, 100 rather than 2×10¹
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    ax.set_ylabel("η · λ_max" if ratio else "sharpness λ_max (dashed: 2/η)")
    for a in axes:
        a.set_xlabel("step")
        a.grid(alpha=0.3)
        if log_steps:
            a.set_xscale("log")
    if with_loss:
        axes[0].set_yscale("log")
        axes[0].set_ylabel("training loss")
    if len(runs) > 6:  # many runs: the legend beside the axes, where it hides no curve
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


class StabilityPlot:
    """The stability explorer's figure: a run of :func:`~lrcourse.sharpness.tiny_gd`, the loss (left)
    and the sharpness with ``2/η`` (right). Built once; :meth:`update` moves the lines."""

    def __init__(self, num_steps: int, *, figsize=(8, 3), dpi: int = DPI, max_sharpness: float = 12.0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.num_steps = _check_count("num_steps", num_steps, 1)
        self.fig = PNGFigure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        self.ax_loss, self.ax_sharp = self.fig.subplots(1, 2)
        self.loss_line, = self.ax_loss.plot([], [], color="C0", linewidth=1.0)
        self.sharp_line, = self.ax_sharp.plot([], [], color="C0", linewidth=1.2, label="sharpness λ_max")
        self.limit_line, = self.ax_sharp.plot([], [], "--", color="C3", linewidth=1.2, label="2/η")
        self.ax_loss.set(yscale="log", ylim=(1e-4, 10), xlim=(0, num_steps), xlabel="step", ylabel="loss")
        self.ax_sharp.set(ylim=(0, max_sharpness), xlim=(0, num_steps), xlabel="step", ylabel="λ_max")
        for a in (self.ax_loss, self.ax_sharp):
            a.grid(alpha=0.3)
        self.ax_sharp.legend(fontsize="small", loc="lower right")
        self.title = self.fig.suptitle("")

    @property
    def artists(self):
        return self.loss_line, self.sharp_line, self.limit_line, self.title

    def update(self, run, title: str = "") -> None:
        """Show ``run`` (a :class:`~lrcourse.sharpness.TinyRun`)."""
        import numpy as np

        self.loss_line.set_data(np.arange(len(run.loss)), np.clip(run.loss, 1e-6, 1e6))
        self.sharp_line.set_data(np.arange(len(run.sharpness)), run.sharpness)
        self.limit_line.set_data([0, self.num_steps], [2 / run.lr] * 2)
        self.title.set_text(title)

    def to_png(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png")
        return buffer.getvalue()


def stability_animation(rates, num_steps: int = 500, *, figsize=(8, 3), dpi: int = 72):
    """The stability explorer for the book: a scrubbable animation, one frame per rate in ``rates``.

    Each frame is :func:`~lrcourse.sharpness.tiny_gd` at that rate on a
    :class:`StabilityPlot`; an ``IPython.display.HTML`` that plays with no kernel.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    from .sharpness import tiny_gd

    rates = list(rates)
    if not rates:
        raise ValueError("rates must hold at least one rate (one frame each), got none")
    runs = [tiny_gd(lr, num_steps) for lr in rates]
    plot = StabilityPlot(num_steps, figsize=figsize, dpi=dpi)

    def frame(i):
        plot.update(runs[i], stability_caption(runs[i]))
        return plot.artists

    anim = FuncAnimation(plot.fig, frame, frames=len(runs), interval=500, blit=False)
    return HTML(_without_icon_font(anim.to_jshtml(default_mode="once")))


def stability_caption(run) -> str:
    """One line on a :class:`~lrcourse.sharpness.TinyRun`: its rate, 2/η, and where its sharpness ended."""
    from .sharpness import TinyRun

    if not isinstance(run, TinyRun):
        raise TypeError(f"run must be a TinyRun (what tiny_gd returns), got {type(run).__name__}")
    if run.diverged:
        return (f"η = {run.lr:.3g}, 2/η = {2 / run.lr:.3g}: λ_max = {run.sharpness[0]:.2f} at the start; "
                f"diverged after {len(run.loss)} steps")
    tail = run.sharpness[len(run.sharpness) * 3 // 5:]
    return (f"η = {run.lr:.3g}, 2/η = {2 / run.lr:.3g}: λ_max from {run.sharpness[0]:.2f} to "
            f"{run.sharpness[-1]:.2f} (last 40 %: mean {sum(tail) / len(tail):.2f}), loss {run.loss[-1]:.2g}")
