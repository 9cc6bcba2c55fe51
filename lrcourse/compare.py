"""Comparing strategies over seeds: the experiment of chapter 10, its data file and its statistics.

One *strategy* is a name and a function ``make(seed, num_epochs, train_iter)
-> fit keyword arguments`` (the rate, the scheduler, the interval...), so a
strategy may depend on the seed (one-cycle at that seed's range-test rate)
and on the length of the run.
:func:`run_comparison` trains every strategy on every seed from the same
initial weights ``net_fn(seed)`` and returns one flat record per run;
:func:`save_runs` / :func:`load_runs` keep the records with the command, the
machine and the date in a JSON file; :func:`summarize` gives the mean and the
sample standard deviation per strategy, and :func:`compare_to_best` says
which differences from the best strategy exceed the seed-to-seed spread:

    diff = mean_best - mean_other,  se = sqrt(std_best² / n_best + std_other² / n_other)
    beyond the noise  <=>  diff > 2 · se

(Welch's standard error: about a 95 % two-sided test for normal errors; with
five seeds it is a rough guide, not a proof, and the chapter says so.)
"""
from __future__ import annotations

import json
import math
import statistics
import time
import warnings
from pathlib import Path

from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

from .config import check_seed, machine
from .lr_finder import lr_range_test
from .models import lenet
from .plotting import Table, mean_std
from .schedules import Cosine, Factor, MultiFactor, SquareRoot, _check_count
from .training import fit

__all__ = ["STRATEGIES", "FIELDS", "RESULTS", "DEAD_ACC", "run_comparison", "save_runs", "load_runs",
           "is_dead", "summarize", "compare_to_best", "summary_table"]

DEAD_ACC = 0.15  # ten classes: chance is 0.1; a run that ends at or below this learned nothing
FIELDS = ("strategy", "seed", "train_loss", "train_acc", "test_acc", "best_test_acc", "seconds",
          "diverged")
FORMAT = "lrcourse-comparison-1"
# the comparison chapter 10 renders, written by benchmarks/compare_schedules.py
RESULTS = Path(__file__).resolve().parent / "results" / "schedules.json"


# ---------------------------------------------------------------- the strategies of chapters 3-7

def _fixed(**kwargs):
    return lambda seed, num_epochs, train_iter: dict(kwargs)


def _cosine(seed, num_epochs, train_iter):
    return dict(scheduler=Cosine(0.2, 0.02, max_update=num_epochs))


def _warmup_cosine(seed, num_epochs, train_iter):
    steps = num_epochs * len(train_iter)
    return dict(scheduler=Cosine(0.6, 0.06, max_update=steps, warmup_steps=round(0.3 * steps),
                                 warmup_begin_lr=0.06), interval="step")


def _plateau(seed, num_epochs, train_iter):
    return dict(lr=0.3, monitor="test_loss",
                scheduler=lambda opt: ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1,
                                                        min_lr=0.003))


def _one_cycle(seed, num_epochs, train_iter):
    # chapter 7's recipe on chapter 3's task: the range test runs on lenet(seed), the net trained
    if hasattr(train_iter, "reseed"):
        train_iter.reseed(seed)
    peak = lr_range_test(lenet(seed=seed), train_iter).suggestion or 0.3  # valley; none: chapter 1's
    steps = num_epochs * len(train_iter)
    return dict(lr=peak, interval="step",
                scheduler=lambda opt: OneCycleLR(opt, max_lr=peak, total_steps=steps,
                                                 cycle_momentum=False))


# name -> make(seed, num_epochs, train_iter) -> keyword arguments of fit.
# The values are those of the chapters: 3 (constant to cosine), 4 (warmup), 6 (plateau), 7 (one-cycle).
STRATEGIES = {
    "constant 0.3": _fixed(lr=0.3),
    "square root 0.1": _fixed(scheduler=SquareRoot(0.1)),
    "factor 0.6 × 0.8": _fixed(scheduler=Factor(0.6, 0.8, 0.01)),
    "multi-factor 0.5 {3, 8}": _fixed(scheduler=MultiFactor(0.5, [3, 8], 0.5)),
    "cosine 0.2 → 0.02": _cosine,
    "cosine 0.6, warmup 30 % per step": _warmup_cosine,
    "plateau 0.3, per epoch": _plateau,
    "one-cycle at the range-test rate": _one_cycle,
}


def run_comparison(strategies: dict, seeds, train_iter, test_iter, *, num_epochs: int, net_fn=lenet,
                   progress=None) -> list[dict]:
    """Train every strategy on every seed; one record (:data:`FIELDS`) per run, in run order.

    Run ``(strategy, seed)`` trains ``net_fn(seed)`` with ``fit(...,
    seed=seed, **make(seed, num_epochs, train_iter))``.
    ``seconds`` is the whole run (preparation such as a range test and
    evaluation included); a run whose loss
    turned non-finite is kept with its last finished epoch's values (NaN if
    none) and ``diverged`` true. ``progress``: called with each record as
    it is done (a script prints it).
    """
    if not strategies:
        raise ValueError("strategies must name at least one strategy, got none")
    _check_count("num_epochs", num_epochs, 1)  # before any strategy prepares (a range test)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got none")
    for seed in seeds:
        check_seed(seed)
    for name, make in strategies.items():
        if not callable(make):
            raise TypeError(f"strategies[{name!r}] must be a function (seed, num_epochs, train_iter) "
                            f"-> fit arguments, got {type(make).__name__}")
    records = []
    for name, make in strategies.items():
        for seed in seeds:
            start = time.perf_counter()  # a strategy's preparation (a range test) is part of its cost
            kwargs = make(seed, num_epochs, train_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a diverged run is recorded below
                h = fit(net_fn(seed), train_iter, test_iter, num_epochs=num_epochs, seed=seed,
                        animate=False, progress=False, **kwargs)
            nan = float("nan")
            record = dict(strategy=name, seed=seed,
                          train_loss=h.train_loss[-1] if h.train_loss else nan,
                          train_acc=h.train_acc[-1] if h.train_acc else nan,
                          test_acc=h.test_acc[-1] if h.test_acc else nan,
                          best_test_acc=max(h.test_acc, default=nan),
                          seconds=time.perf_counter() - start, diverged=h.diverged is not None)
            records.append(record)
            if progress is not None:
                progress(record)
    return records


# ---------------------------------------------------------------- the data file

def _check_records(records) -> None:
    for i, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != set(FIELDS):
            got = sorted(record) if isinstance(record, dict) else repr(record)
            raise ValueError(f"records[{i}] must hold exactly the fields {list(FIELDS)}, got {got}")


def save_runs(path, records: list[dict], *, command: str, num_epochs: int, note: str = "") -> None:
    """Write the records and what produced them (command, machine, date) to a JSON file."""
    _check_records(records)
    data = dict(format=FORMAT, command=command, machine=machine(), date=time.strftime("%Y-%m-%d"),
                num_epochs=num_epochs, note=note, runs=records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def load_runs(path) -> dict:
    """Read a file of :func:`save_runs`; checks its format and every record's fields."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not an lrcourse comparison file (not JSON: {err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), list):
        raise ValueError(f"{path} is not an lrcourse comparison file (format {FORMAT!r} with a list of runs)")
    for i, record in enumerate(data["runs"]):
        if set(record) != set(FIELDS):
            raise ValueError(f"{path}: run {i} must hold exactly the fields {list(FIELDS)}, "
                             f"got {sorted(record)}")
    return data


# ---------------------------------------------------------------- the statistics

def is_dead(record: dict) -> bool:
    """A run that learned nothing: its loss turned non-finite, or its final test accuracy <= DEAD_ACC.

    A LeNet whose ReLU units died (chapters 1, 3, 4) keeps a finite loss of
    about ln 10 and predicts one class: test accuracy 0.1, not NaN.
    """
    if not isinstance(record, dict) or not {"diverged", "test_acc"} <= set(record):
        raise ValueError(f"record must be a dict holding 'diverged' and 'test_acc' (a run of "
                         f"run_comparison), got {record!r}")
    return bool(record["diverged"]) or not record["test_acc"] > DEAD_ACC


def summarize(records: list[dict], metric: str = "test_acc") -> dict:
    """``{strategy: dict(n, mean, std, values, seeds, alive, dead, diverged, seconds)}``, in order.

    ``std`` is the sample standard deviation (0 for one run); ``seconds`` the
    mean seconds per run; ``alive[i]`` is False for a run that learned
    nothing (:func:`is_dead`), ``dead`` counts those and ``diverged`` the runs
    whose loss turned non-finite.
    Their values stay in the mean: a dead run is a result of its strategy too.
    """
    if metric not in FIELDS or metric in ("strategy", "seed", "diverged"):
        raise ValueError(f"metric must be one of train_loss, train_acc, test_acc, best_test_acc, "
                         f"seconds, got {metric!r}")
    _check_records(records)
    out = {}
    for record in records:
        entry = out.setdefault(record["strategy"], dict(values=[], seeds=[], alive=[], seconds=[], diverged=0))
        entry["values"].append(float(record[metric]))
        entry["alive"].append(not is_dead(record))
        entry["seeds"].append(record["seed"])
        entry["seconds"].append(float(record["seconds"]))
        entry["diverged"] += bool(record["diverged"])
    for entry in out.values():
        values = entry["values"]
        entry["n"] = len(values)
        entry["dead"] = entry["alive"].count(False)
        entry["mean"] = statistics.mean(values)
        entry["std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        entry["seconds"] = statistics.mean(entry["seconds"])
    return out


def compare_to_best(summary: dict, *, higher_is_better: bool = True) -> dict:
    """For each strategy: its gap to the best mean, twice the standard error, and whether gap > 2·se.

    Returns ``{strategy: dict(gap, two_se, beyond_noise)}``; the best
    strategy has gap 0 and ``beyond_noise`` False (formula: module docstring).
    Where the best or the other strategy has a single run there is no spread
    to judge by: ``two_se`` is NaN and ``beyond_noise`` False.
    """
    if not summary:
        raise ValueError("summary must hold at least one strategy")
    sign = 1 if higher_is_better else -1
    best = max(summary, key=lambda k: sign * summary[k]["mean"])
    b = summary[best]
    out = {}
    for name, s in summary.items():
        gap = sign * (b["mean"] - s["mean"])
        if min(b["n"], s["n"]) < 2:  # one run has no spread to compare with
            out[name] = dict(gap=gap, two_se=math.nan, beyond_noise=False)
            continue
        two_se = 2 * math.sqrt(b["std"] ** 2 / b["n"] + s["std"] ** 2 / s["n"])
        out[name] = dict(gap=gap, two_se=two_se, beyond_noise=name != best and gap > two_se)
    return out


def summary_table(records: list[dict], caption: str | None = None) -> Table:
    """Per strategy: runs, dead runs, final test accuracy (mean ± std over all runs, and over the
    living ones), the gap to the best strategy's mean with twice its standard error (``*``:
    beyond the noise), and the mean seconds per run."""
    if not records:
        raise ValueError("records must hold at least one run")
    acc = summarize(records, "test_acc")
    gaps = compare_to_best(acc)
    rows = []
    for name, s in acc.items():
        g = gaps[name]
        living = [v for v, alive in zip(s["values"], s["alive"]) if alive]
        gap = "best" if g["gap"] == 0 else f"{-g['gap']:+.3f}{' *' if g['beyond_noise'] else ''}"
        two_se = "" if g["gap"] == 0 or math.isnan(g["two_se"]) else f"{g['two_se']:.3f}"
        rows.append([name, str(s["n"]), str(s["dead"]), mean_std(s["values"]),
                     mean_std(living) if living else "-", gap, two_se, f"{s['seconds']:.0f}"])
    header = ["strategy", "runs", "dead", "test acc", "test acc, living", "gap to best", "2·se", "s/run"]
    return Table(header, rows, caption)
