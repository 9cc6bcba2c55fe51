"""lrcourse.compare: the comparison over seeds, its data file and its statistics."""
import json
import math
import re
import statistics
from pathlib import Path

import pytest
import torch
from torch import nn

from lrcourse import TensorLoader

from lrcourse.compare import (DEAD_ACC, FIELDS, RESULTS, STRATEGIES, compare_to_best, is_dead, load_runs,
                              run_comparison, save_runs, summarize, summary_table)
from lrcourse.plotting import mean_std
from tiny import make_data, make_net


def record(strategy, seed, test_acc, diverged=False, seconds=1.0):
    return dict(strategy=strategy, seed=seed, train_loss=0.5, train_acc=0.8, test_acc=test_acc,
                best_test_acc=test_acc, seconds=seconds, diverged=diverged)


RECORDS = [record("a", 0, 0.90), record("a", 1, 0.92), record("a", 2, 0.91),
           record("b", 0, 0.80), record("b", 1, 0.84, diverged=True, seconds=3.0), record("b", 2, 0.82),
           record("c", 0, 0.905), record("c", 1, 0.915), record("c", 2, 0.895)]


def test_summarize_gives_mean_and_sample_std_per_strategy_in_order():
    s = summarize(RECORDS)
    assert list(s) == ["a", "b", "c"]
    assert s["a"]["n"] == 3 and s["a"]["values"] == [0.90, 0.92, 0.91]
    assert s["a"]["mean"] == pytest.approx(0.91)
    assert s["a"]["std"] == pytest.approx(statistics.stdev([0.90, 0.92, 0.91]))
    assert s["b"]["diverged"] == 1 and s["a"]["diverged"] == 0
    assert s["b"]["seconds"] == pytest.approx(5 / 3)
    assert summarize([record("x", 0, 0.5)])["x"]["std"] == 0.0


def test_compare_to_best_uses_twice_welchs_standard_error():
    s = summarize(RECORDS)
    c = compare_to_best(s)
    assert c["a"] == dict(gap=0.0, two_se=pytest.approx(2 * math.sqrt(2 * s["a"]["std"] ** 2 / 3)),
                          beyond_noise=False)
    two_se_b = 2 * math.sqrt(s["a"]["std"] ** 2 / 3 + s["b"]["std"] ** 2 / 3)
    assert c["b"]["gap"] == pytest.approx(0.09) and c["b"]["two_se"] == pytest.approx(two_se_b)
    assert c["b"]["beyond_noise"]                 # 0.09 against 2·se ≈ 0.026
    assert not c["c"]["beyond_noise"]             # 0.005 against 2·se ≈ 0.014


def test_a_single_run_is_never_beyond_the_noise():
    c = compare_to_best(summarize([record("a", 0, 0.9), record("b", 0, 0.1), record("b", 1, 0.2)]))
    assert c["b"]["gap"] == pytest.approx(0.75) and math.isnan(c["b"]["two_se"])
    assert not c["b"]["beyond_noise"]


def test_compare_to_best_lower_is_better():
    s = summarize(RECORDS, metric="train_loss")
    assert all(v["gap"] == 0 for v in compare_to_best(s, higher_is_better=False).values())
    c = compare_to_best(summarize(RECORDS), higher_is_better=False)
    assert c["b"]["gap"] == 0 and c["a"]["gap"] == pytest.approx(0.09)


def test_save_and_load_keep_every_record_and_say_what_produced_them(tmp_path):
    path = tmp_path / "sub" / "runs.json"
    save_runs(path, RECORDS, command="python x.py", num_epochs=10, note="test")
    data = load_runs(path)
    assert data["runs"] == RECORDS
    assert data["command"] == "python x.py" and data["num_epochs"] == 10 and data["note"] == "test"
    assert data["machine"] and len(data["date"]) == 10


@pytest.mark.parametrize("content, match", [
    ({"format": "other", "runs": []}, "is not an lrcourse comparison file"),
    ([1, 2], "is not an lrcourse comparison file"),
    ({"format": "lrcourse-comparison-1", "runs": [{"strategy": "a"}]}, r"run 0 must hold exactly the fields"),
])
def test_load_runs_rejects_other_files(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=match):
        load_runs(path)


def test_save_runs_rejects_incomplete_records(tmp_path):
    bad = dict(RECORDS[0])
    del bad["seconds"]
    with pytest.raises(ValueError, match=r"records\[1\] must hold exactly the fields"):
        save_runs(tmp_path / "x.json", [RECORDS[0], bad], command="c", num_epochs=1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="metric must be one of"):
        summarize(RECORDS, metric="seed")
    with pytest.raises(ValueError, match="summary must hold at least one strategy"):
        compare_to_best({})
    train_iter, test_iter = make_data()
    with pytest.raises(ValueError, match="strategies must name at least one strategy"):
        run_comparison({}, [0], train_iter, test_iter, num_epochs=1)
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        run_comparison(STRATEGIES, [], train_iter, test_iter, num_epochs=1)
    with pytest.raises(ValueError, match="seed must be an int"):
        run_comparison(STRATEGIES, [-1], train_iter, test_iter, num_epochs=1)
    with pytest.raises(TypeError, match=r"strategies\['x'\] must be a function"):
        run_comparison({"x": 0.3}, [0], train_iter, test_iter, num_epochs=1)


def test_run_comparison_trains_each_strategy_on_each_seed_from_the_same_weights():
    train_iter, test_iter = make_data()
    strategies = {"constant": lambda seed, n, it: dict(lr=0.5),
                  "step": lambda seed, n, it: dict(lr=0.5, interval="step",
                                                   scheduler=lambda t: 0.5 / (1 + t))}
    done = []
    records = run_comparison(strategies, [0, 1], train_iter, test_iter, num_epochs=2, net_fn=make_net,
                             progress=done.append)
    assert done == records
    assert [(r["strategy"], r["seed"]) for r in records] == [("constant", 0), ("constant", 1),
                                                             ("step", 0), ("step", 1)]
    assert all(set(r) == set(FIELDS) and not r["diverged"] and r["seconds"] > 0 for r in records)
    # the same seed and strategy again: the same numbers (seeded weights and batches)
    again = run_comparison({"constant": strategies["constant"]}, [1], train_iter, test_iter, num_epochs=2,
                           net_fn=make_net)
    assert {k: v for k, v in again[0].items() if k != "seconds"} == \
        {k: v for k, v in records[1].items() if k != "seconds"}


def test_a_diverged_run_is_recorded_not_dropped():
    train_iter, test_iter = make_data()
    # the squared-logit term grows geometrically at this rate until it overflows (as in test_training)
    loss = lambda y_hat, y: nn.functional.cross_entropy(y_hat, y) + (y_hat ** 2).mean()  # noqa: E731
    records = run_comparison({"huge": lambda seed, n, it: dict(lr=1e3, loss=loss)}, [0], train_iter,
                             test_iter, num_epochs=50, net_fn=make_net)
    assert records[0]["diverged"] and records[0]["seconds"] > 0


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_chapter_strategy_gives_fit_arguments(name):
    gen = torch.Generator().manual_seed(0)
    images = TensorLoader(torch.rand(64, 1, 28, 28, generator=gen), torch.randint(0, 10, (64,), generator=gen),
                          16, shuffle=True)
    kwargs = STRATEGIES[name](0, 10, images)
    assert set(kwargs) <= {"lr", "scheduler", "interval", "monitor"}
    assert "lr" in kwargs or "scheduler" in kwargs


def test_a_run_at_chance_is_dead_even_with_a_finite_loss():
    assert not is_dead(record("a", 0, 0.86))
    assert is_dead(record("a", 0, 0.10))            # ReLU units died: ln 10 loss, one class predicted
    assert is_dead(record("a", 0, DEAD_ACC))
    assert is_dead(record("a", 0, 0.5, diverged=True))
    assert is_dead(record("a", 0, float("nan")))
    s = summarize(RECORDS + [record("d", 0, 0.1), record("d", 1, 0.88)])
    assert s["d"]["alive"] == [False, True] and s["d"]["dead"] == 1 and s["d"]["mean"] == pytest.approx(0.49)


def test_summary_table_gives_every_strategy_its_gap_and_its_living_runs():
    recs = RECORDS + [record("d", 0, 0.1), record("d", 1, 0.88)]
    table = summary_table(recs, caption="cap")
    assert table.header == ["strategy", "runs", "dead", "test acc", "test acc, living", "gap to best", "2·se",
                            "s/run"]
    rows = {r[0]: r for r in table.rows}
    assert list(rows) == ["a", "b", "c", "d"] and table.caption == "cap"
    assert rows["a"][5:7] == ["best", ""] and rows["a"][3] == "0.910\u00a0±\u00a00.010"
    s = summarize(recs)
    two_se_b = 2 * math.sqrt(s["a"]["std"] ** 2 / 3 + s["b"]["std"] ** 2 / 3)
    assert rows["b"][5] == "-0.090 *" and rows["b"][6] == f"{two_se_b:.3f}"
    assert not rows["c"][5].endswith("*")
    assert rows["d"][2] == "1" and rows["d"][4] == "0.880"     # one living run: its value alone
    assert rows["b"][7] == "2"                                  # (1 + 3 + 1) / 3 s


def test_plot_comparison_draws_the_living_runs_and_counts_the_dead():
    from lrcourse import plot_comparison
    from lrcourse.plotting import PNGFigure

    s = summarize(RECORDS + [record("d", 0, 0.1), record("d", 1, 0.1)])
    fig = plot_comparison(s, title="t")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["d (2 of 2 dead)", "c", "b (1 of 3 dead)", "a"]   # first strategy on top
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sorted(x for line in dots for x in line.get_xdata()) == \
        sorted(r["test_acc"] for r in RECORDS if not r["diverged"])
    low, high = ax.get_xlim()
    assert low < 0.80 and high > 0.92 and low > 0.1            # the dead runs do not stretch the axis
    assert isinstance(fig, PNGFigure) and fig.to_png().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="summary must hold at least one strategy"):
        plot_comparison({})


# ---------------------------------------------------------------- the stored comparison and chapter 10

CHAPTER_10 = Path(__file__).resolve().parents[1] / "chapters" / "10_which_schedule.ipynb"


def test_the_stored_comparison_covers_every_strategy_on_at_least_five_seeds():
    data = load_runs(RESULTS)
    seeds = sorted({r["seed"] for r in data["runs"]})
    assert len(seeds) >= 5 and seeds == list(range(len(seeds)))
    assert [(r["strategy"], r["seed"]) for r in data["runs"]] == \
        [(name, seed) for name in STRATEGIES for seed in seeds]
    assert data["num_epochs"] == 10 and data["note"].startswith("60000 training and 10000 test")
    assert data["command"].startswith("python benchmarks/compare_schedules.py") and data["machine"]
    assert all(0 <= r["test_acc"] <= 1 and r["seconds"] > 0 for r in data["runs"])


def test_chapter_10_quotes_only_numbers_of_the_stored_comparison():
    runs = load_runs(RESULTS)["runs"]
    allowed = set()
    for metric in ("test_acc", "train_loss", "best_test_acc", "seconds"):
        for s in summarize(runs, metric).values():
            living = [v for v, alive in zip(s["values"], s["alive"]) if alive]
            allowed.add(mean_std(s["values"]))
            if len(living) > 1:
                allowed.add(mean_std(living))
    prose = "\n".join("".join(c["source"]) for c in json.loads(CHAPTER_10.read_text())["cells"]
                      if c["cell_type"] == "markdown")
    quoted = re.findall(r"\d+\.\d{3} ± \d+\.\d{3}", prose)
    assert quoted, "chapter 10's prose quotes no mean ± std"
    assert set(quoted) <= {a.replace("\u00a0", " ") for a in allowed}, \
        f"not in the stored comparison: {sorted(set(quoted) - {a.replace(chr(160), ' ') for a in allowed})}"
