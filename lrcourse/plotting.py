"""Figures: the live training plot and the plots that compare runs.

Every figure here is a stand-alone matplotlib ``Figure`` (not one pyplot
tracks), rendered to PNG with an opaque white background so it stays
readable in a dark theme. Returned figures show themselves as PNG when they
are a cell's last value; pyplot's inline backend never shows them twice.
"""
from __future__ import annotations

import io
import statistics
import time
import weakref

from matplotlib.figure import Figure

from .config import is_headless

__all__ = ["Animator", "PNGFigure", "Table", "plot_histories", "plot_schedules", "results_table",
           "show_images"]

DPI = 100


class PNGFigure(Figure):
    """A matplotlib figure that IPython displays as a PNG image."""

    def to_png(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=DPI, facecolor="white", bbox_inches="tight")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()


def _kernel_shell():
    """The IPython shell when running in a Jupyter kernel (not a terminal), else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


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


class Animator:
    """Plot data as it arrives, in one figure updated in place (d2l's ``Animator``).

    ``add(x, y)`` appends a point to each line: ``y`` is a number or a list
    with one entry per line (``None`` skips that line), ``x`` a number shared
    by all lines or a list. Lines are drawn on the first axes, like d2l.

    In a Jupyter kernel the figure is shown once and then updated through a
    display handle, at most ``max_fps`` times per second; whatever the last
    ``add`` brought is drawn when the cell finishes (or on :meth:`flush`).
    With ``LRCOURSE_HEADLESS=1`` (book builds, nbval) it draws only then, so
    the page holds exactly one final figure. Outside a kernel nothing is
    shown; the figure is ``self.fig``.
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), *, max_fps: float = 2.0):
        if not max_fps > 0:
            raise ValueError(f"max_fps must be > 0, got {max_fps!r}")
        self.fig = PNGFigure(figsize=figsize)
        self.axes = list(self.fig.subplots(nrows, ncols, squeeze=False).ravel())
        self._config = (xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.fmts = fmts
        self.X, self.Y = None, None
        self.max_fps = float(max_fps)
        self.num_draws = 0
        self._handle = None
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
        if shell is None:
            return
        _pending.add(self)
        _hook_post_execute(shell)
        if not is_headless() and time.monotonic() - self._last_draw >= 1.0 / self.max_fps:
            self.draw()

    def redraw(self) -> None:
        """Redraw the lines into the figure (no display)."""
        ax = self.axes[0]
        ax.cla()
        for x, y, fmt in zip(self.X or [], self.Y or [], self.fmts * len(self.X or [1])):
            ax.plot(x, y, fmt)
        self.config_axes()

    def draw(self) -> None:
        """Redraw now and show the result in the notebook (in place after the first time)."""
        self.redraw()
        self._dirty = False
        self._last_draw = time.monotonic()
        self.num_draws += 1
        if _kernel_shell() is None:
            return
        from IPython.display import Image, display

        image = Image(data=self.fig.to_png(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

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
    from .schedules import _check_count, lr_values

    if not schedules:
        raise ValueError("schedules must hold at least one schedule")
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


def plot_histories(histories: dict, metrics=("train_loss", "train_acc", "test_acc"), *,
                   xlabel="epoch", figsize=None, title=None, mark_lr_changes=False) -> PNGFigure:
    """One panel per metric, one line per run: ``{label: History}`` → figure.

    Metrics are per-epoch lists of a ``History``; epoch numbers start at 1
    (the value after that many epochs), so epoch ``e`` spans ``x`` in
    ``[e - 1, e]``. ``mark_lr_changes=True`` draws a dotted vertical line, in
    the run's colour, wherever the rate changed (see
    :meth:`~lrcourse.training.History.lr_changes`): a reduction that fired
    at optimizer step ``k`` sits at ``x = k / steps per epoch``.
    """
    if not histories:
        raise ValueError("histories must hold at least one run")
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    figsize = figsize or (3.2 * len(metrics), 2.6)
    fig = PNGFigure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    labels = {"train_loss": "train loss", "train_acc": "train accuracy",
              "test_acc": "test accuracy", "test_loss": "test loss", "lr": "learning rate"}
    for ax, metric in zip(axes, metrics):
        for label, history in histories.items():
            values = getattr(history, metric)
            line, = ax.plot(range(1, len(values) + 1), values, label=str(label))
            if mark_lr_changes:
                for x in history.lr_changes():
                    ax.axvline(x, color=line.get_color(), linestyle=":", linewidth=1.2)
        set_axes(ax, xlabel, labels.get(metric, metric), None, None, "linear",
                 "log" if metric == "lr" else "linear", None)
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def show_images(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.4) -> PNGFigure:
    """A grid of gray images (d2l's ``show_images``): ``imgs`` is ``(n, H, W)`` or ``(n, 1, H, W)``."""
    import numpy as np

    imgs = np.asarray(imgs.detach().cpu() if hasattr(imgs, "detach") else imgs)
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


def _mean_std(values) -> str:
    values = list(values)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f}\u00a0±\u00a0{statistics.stdev(values):.3f}"  # no line break


def results_table(runs: dict, *, label: str = "run", caption: str | None = None) -> Table:
    """Mean ± sample standard deviation over seeds: ``{label: [History, ...]}`` → :class:`Table`.

    Columns: number of runs, final train loss, final train and test accuracy,
    best test accuracy over the epochs, seconds per epoch. A run that
    diverged counts with the values of its last finished epoch (or NaN).
    """
    if not runs:
        raise ValueError("runs must hold at least one entry")
    nan = float("nan")

    def last(h, metric):
        values = getattr(h, metric)
        return values[-1] if values else nan

    rows = []
    for name, histories in runs.items():
        histories = histories if isinstance(histories, (list, tuple)) else [histories]
        if not histories:
            raise ValueError(f"runs[{name!r}] holds no History")
        rows.append([
            str(name), str(len(histories)),
            _mean_std(last(h, "train_loss") for h in histories),
            _mean_std(last(h, "train_acc") for h in histories),
            _mean_std(last(h, "test_acc") for h in histories),
            _mean_std(max(h.test_acc, default=nan) for h in histories),
            f"{sum(sum(h.epoch_time) for h in histories) / max(1, sum(h.num_epochs for h in histories)):.1f}",
        ])
    header = [label, "runs", "train loss", "train acc", "test acc", "best test acc", "s/epoch"]
    return Table(header, rows, caption)
