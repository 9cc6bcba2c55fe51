"""Milliseconds per redraw of chapter 2's momentum playground, printed as a table.

Usage: make bench   (or: .venv/bin/python benchmarks/playground_redraw.py [--repeats N])

Three parts of one slider move, each timed N times (default 50) over a sweep
of β: the maths alone (``run_quadratic``, 200 steps), the repaint of the
moving lines to PNG (``QuadraticPlot.update`` + ``to_png``), and the whole
widget callback (setting the β slider of ``momentum_playground``, which does
both and formats the text). A new κ redraws the contours: timed apart.
Figures only: nothing here is asserted.
"""
import argparse
import os
import platform
import statistics
import time

import numpy as np

from lrcourse import quadratic_eigenvalues, run_quadratic
from lrcourse.plotting import QuadraticPlot
from lrcourse.widgets import KAPPAS, PLAYGROUND_X0, momentum_playground


def timed(fn, values) -> list[float]:
    out = []
    for value in values:
        start = time.perf_counter()
        fn(value)
        out.append(1e3 * (time.perf_counter() - start))
    return out


def row(name: str, ms: list[float]) -> str:
    return (f"{name:<34} {statistics.median(ms):>8.2f} {np.percentile(ms, 90):>8.2f} {max(ms):>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    betas = np.linspace(0.0, 0.98, args.repeats)
    lambdas = quadratic_eigenvalues(50)
    print(f"# playground redraw, {time.strftime('%Y-%m-%d')}, {platform.node()} | "
          f"{platform.processor() or 'cpu'} | {os.cpu_count()} cores")
    print(f"{'part (200 steps, κ = 50)':<34} {'median':>8} {'p90':>8} {'max':>8}   (ms)")
    print(row("maths: run_quadratic", timed(lambda b: run_quadratic(1.0, b, lambdas, PLAYGROUND_X0, 200),
                                              betas)))
    plot = QuadraticPlot(lambdas, PLAYGROUND_X0, 200)
    first = timed(lambda b: (plot.update(run_quadratic(1.0, b, lambdas, PLAYGROUND_X0, 200)), plot.to_png()),
                  betas[:1])
    print(row("figure: first draw (contours)", first))
    print(row("figure: update + to_png (blit)",
              timed(lambda b: (plot.update(run_quadratic(1.0, b, lambdas, PLAYGROUND_X0, 200)),
                               plot.to_png()), betas)))
    box = momentum_playground()
    beta = box.sliders["beta"]
    print(row("widget: move the β slider", timed(lambda b: setattr(beta, "value", round(b, 2)), betas)))
    # κ takes the slider's round values only (lrcourse.widgets.KAPPAS), each a new set of contours
    kappas = [k for k in KAPPAS if k != 50][:max(3, args.repeats // 10)]
    print(row("widget: move the κ slider (contours)",
              timed(lambda k: setattr(box.sliders["kappa"], "value", float(k)), kappas)))


if __name__ == "__main__":
    main()
