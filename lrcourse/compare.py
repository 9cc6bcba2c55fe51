"""Comparing strategies over seeds: tuned peaks, paired differences, intervals and verdicts.

The records are a sweep's runs (:mod:`lrcourse.experiments`): one dict per
``(strategy, lr, seed)`` with ``valid_acc``, ``test_acc``, ``dead``... Seed
``s`` means the same initial weights and batch order for every strategy,
so two strategies are compared seed by seed (paired), never as two
independent samples.

The protocol, one function a step:

1. :func:`rate_curves`: per strategy and peak rate, the mean validation
   accuracy of the living runs with its 95 % interval, and the dead runs
   counted apart ("k of n"), never folded into a mean.
2. :func:`best_peaks`: each strategy's peak, chosen on validation: the rate
   of the highest mean among the rates where no seed died (if every rate
   lost a seed: among those that lost the fewest). Flags a peak at the
   grid's edge.
3. :func:`compare_at_peaks`: every strategy at its peak against the
   reference (the best on validation): the paired difference in test
   accuracy over the seeds where both lived, ``d_s = a_s - b_s``, with

       mean d ± t_{0.975, n-1} · sd(d) / √n            (Student's t)

   and its two-sided p-value. With ``m`` strategies compared to the
   reference, the verdicts use Holm's step-down correction, so the chance
   of any false "different" stays at 5 % over all ``m``; ``m`` is reported.
4. :func:`good_region`: how wide the rates within ``tolerance`` of a
   strategy's best are (robustness to the rate is a result too).

:func:`t_interval` and :func:`paired_difference` are the statistics
underneath, checked against ``scipy.stats``.
"""
from __future__ import annotations

import math
import statistics

from scipy import stats

from .plotting import Table

__all__ = ["t_interval", "paired_difference", "paired_by_rate", "holm", "death_rate", "rate_curves", "best_peaks",
           "compare_at_peaks", "good_region", "verdict_table", "seeds_needed"]

CONFIDENCE = 0.95


def _check_confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its Student-t interval, ``mean ± t·sd/√n``.

    ``t`` is the ``(1 + confidence) / 2`` quantile of the t distribution with
    ``n - 1`` degrees of freedom (2.78 for n = 5 at 95 %, not 2). One value
    gives ``(value, nan, nan)``: one run has no spread.
    """
    confidence = _check_confidence(confidence)
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one number, got none")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    t = float(stats.t.ppf((1 + confidence) / 2, len(values) - 1))
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def paired_difference(a: dict, b: dict, confidence: float = CONFIDENCE) -> dict:
    """``a - b`` seed by seed over the seeds both hold: ``dict(n, seeds, mean, sd, low, high, p)``.

    ``a`` and ``b`` map a seed to a value. ``low, high``: the t interval of
    the mean difference; ``p``: the two-sided p-value of the paired t-test
    (``scipy.stats.ttest_rel``) that the mean difference is 0. Needs at
    least two common seeds (``ValueError`` otherwise); where every
    difference is equal, ``sd`` is 0 and ``p`` is 0 unless they are all 0 (then 1).
    """
    confidence = _check_confidence(confidence)
    for name, values in (("a", a), ("b", b)):
        if not isinstance(values, dict):
            raise TypeError(f"{name} must be a dict {{seed: value}}, got {type(values).__name__}")
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        raise ValueError(f"a and b must share at least two seeds for a paired difference, got {seeds}")
    d = [float(a[s]) - float(b[s]) for s in seeds]
    mean, low, high = t_interval(d, confidence)
    sd = statistics.stdev(d)
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(stats.t.sf(abs(mean) / (sd / math.sqrt(len(d))), len(d) - 1) * 2)
    return dict(n=len(d), seeds=seeds, mean=mean, sd=sd, low=low, high=high, p=p)


def holm(p_values: dict) -> dict:
    """Holm's step-down adjusted p-values, ``{name: p_adjusted}``: reject where ``p_adjusted < alpha``.

    Sorted ascending, the ``i``-th of ``m`` p-values is multiplied by
    ``m - i`` (i from 0), kept monotone and capped at 1. It controls the
    chance of any false rejection among the ``m`` at ``alpha``.
    """
    if not isinstance(p_values, dict):
        raise TypeError(f"p_values must be a dict {{name: p}}, got {type(p_values).__name__}")
    for name, p in p_values.items():
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"p_values[{name!r}] must be a number in [0, 1], got {p!r}")
    m, out, running = len(p_values), {}, 0.0
    for i, (name, p) in enumerate(sorted(p_values.items(), key=lambda kv: kv[1])):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out


def death_rate(runs) -> str:
    """``'k of n'``: how many of the runs died (a record's ``dead``)."""
    runs = list(runs)
    return f"{sum(bool(r['dead']) for r in runs)} of {len(runs)}"


def _check_runs(runs) -> list:
    runs = list(runs)
    if not runs:
        raise ValueError("runs must hold at least one run, got none")
    need = {"strategy", "seed", "lr", "valid_acc", "test_acc", "dead"}
    for i, r in enumerate(runs):
        if not isinstance(r, dict) or not need <= set(r):
            raise ValueError(f"runs[{i}] must be a sweep's run, a dict holding {sorted(need)}, got {r!r}")
    return runs


def _by_strategy(runs) -> dict:
    out = {}
    for r in runs:
        out.setdefault(r["strategy"], {}).setdefault(float(r["lr"]), []).append(r)
    return out


def paired_by_rate(runs, a: str, b: str, metric: str = "test_acc", confidence: float = CONFIDENCE) -> list:
    """Strategy ``a`` against ``b`` at each rate both ran, seed by seed: one dict per rate.

    ``dict(lr, dead_a, dead_b, n, diff)``: the dead runs of each (out of
    ``n`` seeds) and ``diff``, the :func:`paired_difference` ``a - b`` of
    ``metric`` over the seeds where both lived (None where fewer than two
    did). Two variants of one recipe (with and without warmup) compared at
    the same rates, not each at its own peak.
    """
    by = _by_strategy(_check_runs(runs))
    for name in (a, b):
        if name not in by:
            raise ValueError(f"{name!r} is not a strategy of runs, which hold {sorted(by)}")
    out = []
    for lr in sorted(set(by[a]) & set(by[b])):
        ra, rb = ({r["seed"]: r for r in by[name][lr]} for name in (a, b))
        living = [s for s in ra if s in rb and not ra[s]["dead"] and not rb[s]["dead"]]
        diff = paired_difference({s: ra[s][metric] for s in living}, {s: rb[s][metric] for s in living},
                                 confidence) if len(living) >= 2 else None
        out.append(dict(lr=lr, dead_a=sum(bool(r["dead"]) for r in ra.values()),
                        dead_b=sum(bool(r["dead"]) for r in rb.values()), n=len(ra), diff=diff))
    return out


def rate_curves(runs, metric: str = "valid_acc", confidence: float = CONFIDENCE) -> dict:
    """``{strategy: [dict(lr, n, dead, mean, low, high, values), ...]}``, rates ascending.

    ``mean, low, high``: the mean of ``metric`` over the living runs at that
    rate and its t interval (NaN where fewer than two lived, all NaN where
    none did); ``dead``: how many of the ``n`` seeds died.
    """
    if metric not in ("valid_acc", "test_acc", "train_loss", "seconds"):
        raise ValueError(f"metric must be one of valid_acc, test_acc, train_loss, seconds, got {metric!r}")
    out = {}
    for name, by_lr in _by_strategy(_check_runs(runs)).items():
        points = []
        for lr in sorted(by_lr):
            living = [float(r[metric]) for r in by_lr[lr] if not r["dead"]]
            mean, low, high = t_interval(living, confidence) if living else (math.nan,) * 3
            points.append(dict(lr=lr, n=len(by_lr[lr]), dead=len(by_lr[lr]) - len(living), mean=mean,
                               low=low, high=high, values=living))
        out[name] = points
    return out


def best_peaks(runs) -> dict:
    """``{strategy: dict(lr, mean, dead, n, at_edge)}``: each strategy's peak, chosen on validation.

    Among the grid rates with the fewest dead seeds (none, where any rate
    lost none), the one whose living runs have the highest mean validation
    accuracy. ``at_edge``: the peak is the grid's smallest or largest rate,
    so a better one may lie outside the grid.
    """
    out = {}
    for name, points in rate_curves(runs, "valid_acc").items():
        candidates = [p for p in points if p["dead"] < p["n"]]
        if not candidates:
            out[name] = dict(lr=math.nan, mean=math.nan, dead=points[0]["n"], n=points[0]["n"], at_edge=False)
            continue
        fewest = min(p["dead"] for p in candidates)
        best = max((p for p in candidates if p["dead"] == fewest), key=lambda p: p["mean"])
        out[name] = dict(lr=best["lr"], mean=best["mean"], dead=best["dead"], n=best["n"],
                         at_edge=best["lr"] in (points[0]["lr"], points[-1]["lr"]))
    return out


def compare_at_peaks(runs, peaks: dict | None = None, metric: str = "test_acc",
                     confidence: float = CONFIDENCE, alpha: float = 0.05, reference: str | None = None) -> dict:
    """Every strategy at its peak against the reference, paired over the seeds where both lived.

    ``peaks``: ``{strategy: lr}`` (default: :func:`best_peaks`). The
    reference is the strategy whose peak has the highest mean validation
    accuracy, unless ``reference`` names one (a baseline fixed in advance,
    e.g. the schedule everyone uses). Returns ``{strategy: dict(lr, reference, dead, n, mean, low,
    high, diff, p, p_holm, verdict, comparisons)}`` in the runs' strategy
    order: ``mean, low, high`` of ``metric`` over the living runs; ``diff``
    the :func:`paired_difference` (strategy - reference) or None for the
    reference; ``verdict`` one of 'reference', 'worse', 'better', 'within
    the noise' (Holm-adjusted p against ``alpha`` over ``comparisons``
    strategies), 'no living pair' where fewer than two seeds lived in both.
    """
    runs = _check_runs(runs)
    if peaks is None:
        peaks = {name: p["lr"] for name, p in best_peaks(runs).items()}
    by = _by_strategy(runs)
    for name, lr in peaks.items():
        if name not in by or float(lr) not in by[name]:
            raise ValueError(f"peaks[{name!r}] = {lr!r} is not a rate the runs hold for that strategy")
    at = {name: {r["seed"]: r for r in by[name][float(lr)]} for name, lr in peaks.items()}
    valid_mean = {name: statistics.fmean([r["valid_acc"] for r in rs.values() if not r["dead"]] or [-1.0])
                  for name, rs in at.items()}
    if reference is None:
        reference = max(valid_mean, key=valid_mean.get)
    elif reference not in at:
        raise ValueError(f"reference must be one of the strategies {sorted(at)}, got {reference!r}")
    ref_living = {s: r[metric] for s, r in at[reference].items() if not r["dead"]}
    out, p_values = {}, {}
    for name, rs in at.items():
        living = {s: r[metric] for s, r in rs.items() if not r["dead"]}
        mean, low, high = t_interval(living.values(), confidence) if living else (math.nan,) * 3
        entry = dict(lr=float(peaks[name]), reference=reference, dead=sum(r["dead"] for r in rs.values()),
                     n=len(rs), mean=mean, low=low, high=high, diff=None, p=math.nan, p_holm=math.nan)
        if name == reference:
            entry["verdict"] = "reference"
        elif len(set(living) & set(ref_living)) < 2:
            entry["verdict"] = "no living pair"
        else:
            entry["diff"] = paired_difference(living, ref_living, confidence)
            p_values[name] = entry["p"] = entry["diff"]["p"]
        out[name] = entry
    for name, p in holm(p_values).items():
        entry = out[name]
        entry["p_holm"] = p
        entry["verdict"] = "within the noise" if p >= alpha else \
            ("worse" if entry["diff"]["mean"] < 0 else "better")
    for entry in out.values():
        entry["comparisons"] = len(p_values)
    return out


def good_region(runs, tolerance: float = 0.01) -> dict:
    """``{strategy: dict(low, high, width, rates)}``: the contiguous grid rates around the peak whose
    living mean validation accuracy is within ``tolerance`` of the peak's and where no seed died.

    ``width = high / low`` (1 for the peak alone): how far the rate can be off
    by a factor and still give nearly the best result.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number >= 0 (in accuracy), got {tolerance!r}")
    curves, peaks = rate_curves(runs, "valid_acc"), best_peaks(runs)
    out = {}
    for name, points in curves.items():
        lrs = [p["lr"] for p in points]
        if math.isnan(peaks[name]["lr"]):
            out[name] = dict(low=math.nan, high=math.nan, width=math.nan, rates=[])
            continue
        good = [p["dead"] == 0 and p["mean"] >= peaks[name]["mean"] - tolerance for p in points]
        i = j = lrs.index(peaks[name]["lr"])
        while i > 0 and good[i - 1]:
            i -= 1
        while j < len(points) - 1 and good[j + 1]:
            j += 1
        out[name] = dict(low=lrs[i], high=lrs[j], width=lrs[j] / lrs[i], rates=lrs[i:j + 1])
    return out


def seeds_needed(diff: dict, confidence: float = CONFIDENCE) -> int:
    """Seeds for the paired interval of a difference like ``diff`` to exclude 0, if mean and sd stay.

    The smallest ``n >= 2`` with ``t_{n-1} · sd / √n < |mean|``.
    """
    confidence = _check_confidence(confidence)
    mean, sd = abs(diff["mean"]), diff["sd"]
    if sd == 0:
        return 2
    if mean == 0:
        return math.inf
    n = 2
    while stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n) >= mean:
        n += 1
    return n


def _interval(mean, low, high) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}" if math.isnan(low) else f"{mean:.3f}\u00a0±\u00a0{(high - low) / 2:.3f}"


def verdict_table(runs, caption: str | None = None) -> Table:
    """The comparison at tuned peaks as a :class:`~lrcourse.plotting.Table`, one row per strategy.

    Columns: the peak (chosen on validation), dead seeds at it (k of n), the
    validation and test accuracy of the living runs (mean ± 95 % half-width),
    the paired test difference to the reference with its 95 % interval, the
    Holm-adjusted p-value, the verdict, and the good region's width.
    """
    runs = _check_runs(runs)
    result, peaks, region = compare_at_peaks(runs), best_peaks(runs), good_region(runs)
    valid = compare_at_peaks(runs, metric="valid_acc")
    rows = []
    for name, e in result.items():
        d = e["diff"]
        diff = "" if d is None else f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
        edge = " (edge)" if peaks[name]["at_edge"] else ""
        rows.append([name, f"{e['lr']:g}{edge}", f"{e['dead']} of {e['n']}",
                     _interval(valid[name]["mean"], valid[name]["low"], valid[name]["high"]),
                     _interval(e["mean"], e["low"], e["high"]), diff,
                     "" if math.isnan(e["p_holm"]) else f"{e['p_holm']:.3f}", e["verdict"],
                     f"×{region[name]['width']:.3g}"])
    header = ["strategy", "peak lr", "dead", "valid acc", "test acc", "test acc − reference [95 %]",
              "Holm p", "verdict", "good region"]
    return Table(header, rows, caption)
