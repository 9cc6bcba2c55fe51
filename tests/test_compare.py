"""lrcourse.compare: t intervals, paired differences, Holm, tuned peaks and verdicts, against scipy."""
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lrcourse.compare import (best_peaks, compare_at_peaks, death_rate, good_region, holm, paired_difference,
                              rate_curves, seeds_needed, t_interval, verdict_table)
from lrcourse import compare
from lrcourse.plotting import PNGFigure, plot_differences, plot_rate_curves

accuracies = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def run(strategy, lr, seed, valid_acc, test_acc=None, dead=None):
    test_acc = valid_acc if test_acc is None else test_acc
    return dict(strategy=strategy, seed=seed, lr=lr, valid_acc=valid_acc, test_acc=test_acc, train_loss=0.3,
                dead=valid_acc <= 0.15 if dead is None else dead, seconds=1.0)


def sweep_runs(offsets: dict, lrs=(0.1, 0.2, 0.4), seeds=range(5), dead=()):
    """Strategy s at rate lr, seed k: 0.80 + offsets[s][lr] + 0.003 k (the same seed effect for all)."""
    out = []
    for name, by_lr in offsets.items():
        for lr in lrs:
            for k in seeds:
                acc = 0.1 if (name, lr, k) in dead else 0.80 + by_lr[lr] + 0.003 * k
                out.append(run(name, lr, k, acc, acc - 0.01))
    return out


# ---------------------------------------------------------------- the statistics against scipy

@settings(max_examples=60, deadline=None)
@given(st.lists(accuracies, min_size=2, max_size=12), st.sampled_from([0.9, 0.95, 0.99]))
def test_t_interval_equals_scipys(values, confidence):
    mean, low, high = t_interval(values, confidence)
    assert mean == pytest.approx(np.mean(values), abs=1e-12)
    if statistics.stdev(values) > 1e-12:
        lo, hi = stats.t.interval(confidence, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert (low, high) == pytest.approx((lo, hi), rel=1e-9, abs=1e-12)


def test_t_interval_with_five_seeds_uses_t_not_two():
    values = [0.88, 0.89, 0.87, 0.90, 0.86]
    mean, low, high = t_interval(values)
    assert (high - low) / 2 == pytest.approx(2.776445 * statistics.stdev(values) / math.sqrt(5), rel=1e-6)
    assert t_interval([0.5]) [0] == 0.5 and math.isnan(t_interval([0.5])[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(accuracies, accuracies), min_size=2, max_size=10))
def test_paired_difference_equals_scipys_paired_t_test(pairs):
    a = {s: x for s, (x, _) in enumerate(pairs)}
    b = {s: y for s, (_, y) in enumerate(pairs)}
    d = paired_difference(a, b)
    diffs = [x - y for x, y in pairs]
    assert d["n"] == len(pairs) and d["mean"] == pytest.approx(np.mean(diffs), abs=1e-12)
    if statistics.stdev(diffs) > 1e-9:
        assert d["p"] == pytest.approx(stats.ttest_rel([x for x, _ in pairs], [y for _, y in pairs]).pvalue,
                                       rel=1e-6, abs=1e-12)
        lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=np.mean(diffs), scale=stats.sem(diffs))
        assert (d["low"], d["high"]) == pytest.approx((lo, hi), rel=1e-9, abs=1e-12)


def test_pairing_removes_the_seed_effect_that_an_unpaired_comparison_cannot():
    # b is a shifted by 0.004 on every seed, but the seeds spread by 0.02: only pairing sees it
    a = {s: 0.85 + 0.01 * s for s in range(5)}
    b = {s: v - 0.004 + (0.0005 if s % 2 else -0.0005) for s, v in a.items()}
    d = paired_difference(a, b)
    assert d["low"] > 0 and d["p"] < 0.001
    assert stats.ttest_ind(list(a.values()), list(b.values())).pvalue > 0.5  # unpaired: lost in the spread


def test_paired_difference_uses_the_common_seeds_only():
    d = paired_difference({0: 0.9, 1: 0.8, 2: 0.7, 7: 0.0}, {0: 0.8, 1: 0.7, 2: 0.65, 9: 1.0})
    assert d["seeds"] == [0, 1, 2] and d["mean"] == pytest.approx((0.1 + 0.1 + 0.05) / 3)
    assert paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})["p"] == 1.0  # no difference at all
    assert paired_difference({0: 1.5, 1: 2.5}, {0: 1.0, 1: 2.0})["p"] == 0.0  # the same difference twice


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 of m = 3: 0.03, 0.06, max(0.06, 0.04) = 0.06
    assert holm({"a": 0.04, "b": 0.01, "c": 0.03}) == pytest.approx({"a": 0.06, "b": 0.03, "c": 0.06})
    assert holm({"a": 0.6, "b": 0.5}) == {"a": 1.0, "b": 1.0} and holm({}) == {}


def test_death_rate_counts():
    assert death_rate([run("a", 0.1, s, 0.1 if s < 2 else 0.8) for s in range(5)]) == "2 of 5"


# ---------------------------------------------------------------- curves, peaks, verdicts

OFFSETS = {"good": {0.1: 0.02, 0.2: 0.06, 0.4: 0.055},
           "worse": {0.1: 0.01, 0.2: 0.04, 0.4: 0.045},   # best at 0.4, the grid's edge
           "same": {0.1: 0.0, 0.2: 0.06, 0.4: 0.0}}


def test_rate_curves_count_the_dead_apart_from_the_mean():
    runs = sweep_runs(OFFSETS, dead={("good", 0.4, 0), ("good", 0.4, 3)})
    point = rate_curves(runs)["good"][2]
    assert point["lr"] == 0.4 and point["n"] == 5 and point["dead"] == 2 and len(point["values"]) == 3
    assert point["mean"] == pytest.approx(0.855 + 0.003 * (1 + 2 + 4) / 3)
    assert [p["lr"] for p in rate_curves(runs)["same"]] == [0.1, 0.2, 0.4]


def test_best_peaks_avoid_rates_that_lost_a_seed_and_flag_the_edge():
    runs = sweep_runs(OFFSETS, dead={("good", 0.2, 4)})  # good's highest mean is at 0.2, which lost a seed
    peaks = best_peaks(runs)
    assert peaks["good"]["lr"] == 0.4 and peaks["good"]["dead"] == 0 and peaks["good"]["at_edge"]
    assert peaks["worse"]["lr"] == 0.4 and peaks["worse"]["at_edge"]
    assert peaks["same"]["lr"] == 0.2 and not peaks["same"]["at_edge"]
    every = {(n, lr, k) for n in ["same"] for lr in (0.1, 0.2, 0.4) for k in range(5) if lr != 0.2 or k == 0}
    assert best_peaks(sweep_runs(OFFSETS, dead=every))["same"]["lr"] == 0.2  # fewest deaths


def test_compare_at_peaks_gives_paired_verdicts_with_holm():
    result = compare_at_peaks(sweep_runs(OFFSETS))
    assert [e["verdict"] for e in result.values()] == ["reference", "worse", "within the noise"]
    assert all(e["reference"] == "good" and e["comparisons"] == 2 for e in result.values())
    worse = result["worse"]
    assert worse["diff"]["mean"] == pytest.approx(-0.015) and worse["diff"]["high"] < 0
    assert worse["p_holm"] >= worse["p"] and result["good"]["diff"] is None
    assert result["same"]["diff"]["mean"] == pytest.approx(0.0, abs=1e-12)


def test_compare_at_peaks_against_a_reference_named_in_advance():
    result = compare_at_peaks(sweep_runs(OFFSETS), reference="worse")
    assert all(e["reference"] == "worse" and e["comparisons"] == 2 for e in result.values())
    assert result["worse"]["verdict"] == "reference" and result["worse"]["diff"] is None
    assert result["good"]["diff"]["mean"] == pytest.approx(0.015) and result["good"]["verdict"] == "better"
    with pytest.raises(ValueError, match=r"^reference must be one of the strategies \['good', 'same', 'worse'\], "
                                         r"got 'best'$"):
        compare_at_peaks(sweep_runs(OFFSETS), reference="best")


def test_compare_at_peaks_pairs_only_seeds_where_both_lived():
    runs = sweep_runs(OFFSETS, dead={("worse", 0.4, s) for s in range(4)})
    result = compare_at_peaks(runs, peaks={"good": 0.2, "worse": 0.4, "same": 0.2})
    assert result["worse"]["verdict"] == "no living pair" and result["worse"]["dead"] == 4
    with pytest.raises(ValueError, match=r"^peaks\['good'\] = 0.3 is not a rate the runs hold"):
        compare_at_peaks(runs, peaks={"good": 0.3})


def test_good_region_spans_the_rates_near_the_best():
    region = good_region(sweep_runs(OFFSETS), tolerance=0.01)
    assert region["good"]["rates"] == [0.2, 0.4] and region["good"]["width"] == 2
    assert region["same"]["rates"] == [0.2] and region["same"]["width"] == 1
    assert good_region(sweep_runs(OFFSETS), tolerance=0.05)["good"]["rates"] == [0.1, 0.2, 0.4]


def test_seeds_needed_is_the_first_n_whose_interval_excludes_zero():
    diff = dict(mean=0.004, sd=0.006)
    n = seeds_needed(diff)
    half = lambda k: stats.t.ppf(0.975, k - 1) * 0.006 / math.sqrt(k)  # noqa: E731
    assert half(n) < 0.004 <= half(n - 1)


def test_verdict_table_and_figures():
    runs = sweep_runs(OFFSETS, dead={("good", 0.1, 2)})
    table = verdict_table(runs, caption="c")
    assert [row[0] for row in table.rows] == list(OFFSETS) and table.rows[0][7] == "reference"
    assert table.rows[1][1] == "0.4 (edge)" and "worse" in str(table) and "<table" in table._repr_html_()
    fig = plot_rate_curves(rate_curves(runs), best_peaks(runs), title="t", xlabel="effective step")
    xlabels = {ax.get_xlabel() for ax in fig.axes if ax.get_visible()} - {""}
    assert xlabels == {"effective step"}
    assert isinstance(fig, PNGFigure) and fig.to_png().startswith(b"\x89PNG")
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == list(OFFSETS)
    crosses = [line for line in fig.axes[0].lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_xdata()[0] == 0.1  # good lost a seed at 0.1
    fig = plot_differences(compare_at_peaks(runs))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[-1] == "good (0.2): reference" and fig.to_png().startswith(b"\x89PNG")


@pytest.mark.parametrize("call, match", [
    (lambda: t_interval([]), r"^values must hold at least one number, got none$"),
    (lambda: t_interval([1.0, 2.0], 1.5), r"^confidence must be a number in \(0, 1\), got 1.5$"),
    (lambda: paired_difference({0: 1.0}, {0: 2.0}), r"^a and b must share at least two seeds"),
    (lambda: holm({"a": 1.5}), r"^p_values\['a'\] must be a number in \[0, 1\], got 1.5$"),
    (lambda: rate_curves([]), r"^runs must hold at least one run, got none$"),
    (lambda: rate_curves([{"strategy": "a"}]), r"^runs\[0\] must be a sweep's run"),
    (lambda: rate_curves(sweep_runs(OFFSETS), metric="best"), r"^metric must be one of valid_acc"),
    (lambda: good_region(sweep_runs(OFFSETS), tolerance=-1), r"^tolerance must be a number >= 0"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_paired_difference_wants_dicts():
    with pytest.raises(TypeError, match=r"^a must be a dict \{seed: value\}, got list$"):
        paired_difference([0.1, 0.2], {0: 0.1, 1: 0.2})


def test_paired_by_rate_pairs_the_living_seeds_at_each_common_rate():
    def rec(strategy, lr, seed, acc, dead=False):
        return dict(strategy=strategy, lr=lr, seed=seed, valid_acc=acc, test_acc=acc, dead=dead)
    runs = [rec("a", 0.1, s, 0.8 + 0.01 * s) for s in range(3)] + [rec("b", 0.1, s, 0.7 + 0.01 * s) for s in range(3)]
    runs += [rec("a", 0.2, 0, 0.1, True), rec("a", 0.2, 1, 0.8), rec("b", 0.2, 0, 0.8), rec("b", 0.2, 1, 0.8)]
    runs += [rec("a", 0.4, 0, 0.8)]  # a rate b never ran
    first, second = compare.paired_by_rate(runs, "a", "b")
    assert first["lr"] == 0.1 and first["dead_a"] == first["dead_b"] == 0 and first["n"] == 3
    assert first["diff"]["mean"] == pytest.approx(0.1) and first["diff"]["n"] == 3
    assert second == dict(lr=0.2, dead_a=1, dead_b=0, n=2, diff=None)  # one living pair: no interval
