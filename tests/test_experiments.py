"""lrcourse.experiments: sweeps defined once, run resumably, stored with provenance, loaded or computed."""
import json
import math

import pytest
import torch

from lrcourse import experiments as ex
from lrcourse import load_fashion_mnist
from lrcourse.config import FULL, QUICK
from lrcourse.experiments import (FIELDS, RESULTS_DIR, STRATEGIES, SWEEPS, Sweep, load_or_run, load_sweep,
                                  run_one, run_sweep)


def small(**kw):
    """An MLP sweep on 256 training images: two strategies, two rates, two seeds, one epoch."""
    args = dict(name="small", title="t", net="mlp", strategies=(("constant", (0.1, 0.4)), ("cosine", (0.2,))),
                seeds=(0, 1), num_epochs=1, valid=100, limit=256)
    args.update(kw)
    return Sweep(**args)


# ---------------------------------------------------------------- definitions

def test_every_strategy_gives_fit_arguments_for_any_length():
    for name, strategy in STRATEGIES.items():
        for T, n in ((10, 196), (2, 8), (1, 3)):
            kwargs = strategy.make(0.2, T, n)
            assert set(kwargs) <= {"lr", "scheduler", "interval", "optimizer"}, name
            assert strategy.formula
            # a strategy that builds its own optimizer names it in the sweep's definition
            assert ("optimizer" in kwargs) == (strategy.optimizer != "SGD"), name


def test_a_strategy_builds_the_optimizer_its_definition_names():
    net = torch.nn.Linear(2, 2)
    for name, kind, momentum in (("momentum + cosine", torch.optim.SGD, 0.9), ("Adam + cosine", torch.optim.Adam, None)):
        opt = STRATEGIES[name].make(0.01, 10, 5)["optimizer"](net.parameters())
        assert type(opt) is kind and opt.param_groups[0]["lr"] == 0.01
        assert momentum is None or opt.param_groups[0]["momentum"] == momentum
    entry = SWEEPS["momentum"].definition()["strategies"]
    assert entry["Adam + cosine"]["optimizer"] == "Adam" and "optimizer" not in entry["one-cycle, momentum cycled"]
    # OneCycleLR's default cycles the momentum of plain SGD: 0.95 at the start, 0.85 at the peak
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = STRATEGIES["one-cycle, momentum cycled"].make(0.1, 2, 10)["scheduler"](opt)
    assert opt.param_groups[0]["momentum"] == 0.95
    for _ in range(5):  # the peak of 20 steps: step round(0.3 · 20) - 1 = 5
        opt.step()
        sched.step()
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.85) and opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_sized_keeps_the_grids_and_shrinks_the_rest():
    full = SWEEPS["schedules"]
    quick = full.sized(QUICK)
    assert quick.grids == full.grids and quick.seeds == full.seeds[:QUICK.num_seeds]
    assert (quick.num_epochs, quick.limit, quick.valid) == (QUICK.num_epochs, QUICK.limit, QUICK.valid)
    assert full.sized(ex.profile()) is full or ex.profile().name == "quick"
    assert quick.definition() != full.definition()


def test_the_book_sweeps_follow_the_protocol():
    for sweep in SWEEPS.values():
        assert len(sweep.seeds) >= 5 and sweep.valid == 10000 and sweep.limit is None
        if not sweep.sharpness:  # a sweep that compares strategies tunes each on a grid; chapter 12's measure
            assert all(len(grid) >= 4 for grid in sweep.grids.values())


def test_a_full_batch_sweep_is_gradient_descent_on_its_subset_and_shrinks_in_quick_mode():
    full = SWEEPS["edge_of_stability"]
    quick = full.sized(QUICK)
    assert (quick.num_epochs, quick.batch_size, quick.sharpness, quick.sharpness_every) == (40, 256, 256, 5)
    d = full.definition()
    assert d["task"]["steps"] == 2000 and "first 2048 training images" in d["task"]["subset"]
    assert "every" not in d["sharpness"] and "steps 0, 50, 100" in d["sharpness"]
    sweep = Sweep(name="gd", title="t", net="mlp", task="full_batch", strategies=(("gradient descent", (0.05,)),),
                  seeds=(0,), num_epochs=6, batch_size=64, sharpness=64, sharpness_every=4, valid=100, limit=128)
    loaders = load_fashion_mnist(64, valid=100, limit=128, device="cpu")
    record = run_one(sweep, "gradient descent", 0.05, 0, loaders)
    assert set(record) - ex.CURVES == set(FIELDS) and len(record["loss"]) == 7
    assert [s for s, _ in record["sharpness"]] == [0, 4, 6]
    from lrcourse.sharpness import gradient_descent  # the same run by hand: the subset is the first 64 images
    X, y = loaders[0].X[:64], loaders[0].y[:64]
    by_hand = gradient_descent(ex.NETS["mlp"](seed=0), X, y, lr=0.05, num_steps=6, every=4)
    assert by_hand["loss"] == record["loss"] and by_hand["sharpness"] == record["sharpness"]


def test_a_sweep_with_sharpness_records_it_from_step_0():
    sweep = small(strategies=(("constant", (0.1,)),), seeds=(0,), sharpness=32)
    loaders = load_fashion_mnist(256, valid=100, limit=256, device="cpu")
    record = run_one(sweep, "constant", 0.1, 0, loaders)
    assert [s for s, _ in record["sharpness"]] == ex.sharpness_steps(1) == [0, 1]
    assert all(v > 0 for _, v in record["sharpness"])
    plain = run_one(small(strategies=(("constant", (0.1,)),), seeds=(0,)), "constant", 0.1, 0, loaders)
    assert {k: plain[k] for k in FIELDS if k != "seconds"} == {k: record[k] for k in FIELDS if k != "seconds"}
    assert ex.sharpness_steps(20) == [0, 1, 2, 3, 4, 6, 8, 11, 16, 20]


def test_step_rates_are_the_rates_fit_applies():
    from lrcourse import fit
    from lrcourse.models import mlp

    train_iter, valid_iter, _ = load_fashion_mnist(64, valid=100, limit=256, device="cpu")
    for strategy in ("constant", "cosine", "warmup + cosine"):
        h = fit(mlp(seed=0), train_iter, None, valid_iter=valid_iter, num_epochs=3, seed=0, animate=False,
                progress=False, **STRATEGIES[strategy].make(0.1, 3, len(train_iter)))
        assert ex.step_rates(strategy, 0.1, 3, len(train_iter)) == pytest.approx(h.step_lr, rel=1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(net="resnet"), r"^net must be one of \('lenet', 'mlp'\), got 'resnet'$"),
    (dict(strategies=()), r"^sweep 'small': strategies must name at least one strategy$"),
    (dict(strategies=(("linear", (0.1,)),)), r"^strategy must be one of \("),
    (dict(strategies=(("constant", ()),)), r"^sweep 'small': the grid of 'constant' is empty$"),
    (dict(strategies=(("constant", (0.0,)),)), r"^lr must be a finite number > 0, got 0.0$"),
    (dict(seeds=(0, 0)), r"^sweep 'small': seeds must be distinct and at least one, got \(0, 0\)$"),
    (dict(num_epochs=0), r"^num_epochs must be an int >= 1, got 0$"),
])
def test_bad_sweeps(kw, match):
    with pytest.raises(ValueError, match=match):
        small(**kw)


# ---------------------------------------------------------------- computing

def test_a_sweep_in_two_shards_equals_one_run_and_resumes(tmp_path, monkeypatch):
    sweep = small()
    whole = run_sweep(sweep, tmp_path / "whole.json", progress=False)
    assert [(r["strategy"], r["lr"], r["seed"]) for r in whole["runs"]] == sweep.runs()
    assert all(set(r) == set(FIELDS) for r in whole["runs"])
    prov = whole["provenance"]
    assert prov["package_sha256"] == ex.package_hash() and prov["torch"] == torch.__version__
    assert prov["threads"] >= 1 and prov["command"] and prov["device"]
    # the runs' seconds, summed (to 0.1 s: a sweep this small may take under 0.05 s)
    assert all(r["seconds"] > 0 for r in whole["runs"])
    assert prov["run_seconds"] == round(sum(r["seconds"] for r in whole["runs"]), 1)
    assert whole["definition"] == sweep.definition() and not (tmp_path / "whole.runs.jsonl").exists()

    path = tmp_path / "small.json"
    assert run_sweep(sweep, path, shard=(0, 2), progress=False) is None  # the other shard's runs missing
    log = [json.loads(line) for line in (tmp_path / "small.runs.jsonl").read_text().splitlines()]
    assert len(log) == 1 + 3  # the header and every other run

    calls = []
    real = ex.run_one
    monkeypatch.setattr(ex, "run_one", lambda *a: calls.append(a[1:4]) or real(*a))
    data = run_sweep(sweep, path, shard=(1, 2), progress=False)
    assert calls == [run for i, run in enumerate(sweep.runs()) if i % 2 == 1]  # nothing ran twice
    strip = lambda runs: [{k: v for k, v in r.items() if k != "seconds"} for r in runs]  # noqa: E731
    assert strip(data["runs"]) == strip(whole["runs"])  # seeded: the same numbers, bit for bit


def test_an_interrupted_sweep_goes_on_where_it_stopped(tmp_path, monkeypatch):
    sweep, path = small(), tmp_path / "small.json"
    real, calls = ex.run_one, []

    def stop_at_third(*a):
        calls.append(a[1:4])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(ex, "run_one", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, path, progress=False)
    monkeypatch.setattr(ex, "run_one", lambda *a: calls.append(a[1:4]) or real(*a))
    data = run_sweep(sweep, path, progress=False)
    assert calls[3:] == sweep.runs()[2:] and len(data["runs"]) == len(sweep.runs())


def test_a_log_of_another_definition_is_set_aside_not_mixed_in(tmp_path, capsys):
    path = tmp_path / "small.json"
    run_sweep(small(num_epochs=2), path, shard=(0, 2), progress=False)  # a half-done log of 2 epochs
    data = run_sweep(small(), path, progress=False)
    assert len(data["runs"]) == len(small().runs())
    assert "was written for another definition of the sweep: moved to small.runs.jsonl.stale-" in \
        capsys.readouterr().out
    assert len(list(tmp_path.glob("small.runs.jsonl.stale-*"))) == 1


def test_a_grown_sweep_keeps_its_runs_and_computes_only_the_new_ones(tmp_path, monkeypatch):
    path = tmp_path / "small.json"
    first = run_sweep(small(), path, progress=False)
    grown = small(strategies=(("constant", (0.1, 0.4, 0.8)), ("cosine", (0.2,))), seeds=(0, 1, 2))
    assert ex.extends(grown.definition(), small().definition())
    assert not ex.extends(small(num_epochs=2).definition(), small().definition())
    real, calls = ex.run_one, []
    monkeypatch.setattr(ex, "run_one", lambda *a: calls.append(a[1:4]) or real(*a))
    data = run_sweep(grown, path, progress=False)
    old = {(r["strategy"], r["lr"], r["seed"]) for r in first["runs"]}
    assert sorted(calls) == sorted(set(grown.runs()) - old) and len(data["runs"]) == len(grown.runs())
    assert [r for r in data["runs"] if (r["strategy"], r["lr"], r["seed"]) in old] == first["runs"]
    calls.clear()
    assert run_sweep(grown, path, progress=False)["runs"] == data["runs"] and calls == []  # nothing to do


def test_a_line_cut_by_a_crash_loses_only_that_run(tmp_path):
    sweep, path = small(), tmp_path / "small.json"
    run_sweep(sweep, path, shard=(0, 2), progress=False)
    log = tmp_path / "small.runs.jsonl"
    log.write_text(log.read_text() + '{"strategy": "cos')  # a write cut short
    assert len(run_sweep(sweep, path, progress=False)["runs"]) == len(sweep.runs())


def test_a_dead_run_is_recorded_with_nan_where_it_diverged():
    sweep = small(strategies=(("constant", (1e6,)),), num_epochs=3)
    loaders = load_fashion_mnist(256, valid=100, limit=256)
    record = run_one(sweep, "constant", 1e6, 0, loaders)
    assert record["dead"] and math.isnan(record["valid_acc"]) and math.isnan(record["train_loss"])


# ---------------------------------------------------------------- loading

def test_load_or_run_loads_a_matching_file_computes_otherwise_and_reruns_on_request(tmp_path, monkeypatch,
                                                                                       capsys):
    sweep = small()
    monkeypatch.setitem(SWEEPS, "small", sweep)
    monkeypatch.setattr(ex, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ex, "profile", lambda: FULL)
    first = load_or_run("small", progress=False)
    assert "computing sweep 'small' (no stored file matches its definition)" in capsys.readouterr().out
    assert first.path == ex.cache_path(sweep) and len(first.runs) == len(sweep.runs())

    (tmp_path / "results").mkdir()
    stored = tmp_path / "results" / "small.json"
    stored.write_text(first.path.read_text())
    monkeypatch.setattr(ex, "run_sweep", lambda *a, **k: pytest.fail("a matching file must be loaded"))
    assert load_or_run("small").path == stored and "loaded 6 runs of sweep 'small'" in capsys.readouterr().out

    monkeypatch.undo()
    monkeypatch.setitem(SWEEPS, "small", sweep)
    monkeypatch.setattr(ex, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ex, "profile", lambda: FULL)
    monkeypatch.setenv("LRCOURSE_RERUN", "1")
    again = load_or_run("small", progress=False)
    assert "(LRCOURSE_RERUN asks for it)" in capsys.readouterr().out and again.path == ex.cache_path(sweep)


@pytest.mark.parametrize("content, match", [
    ("not json", r"is not an lrcourse sweep file \(not JSON"),
    ('{"format": "other", "runs": []}', r"is not an lrcourse sweep file \(format 'lrcourse-sweep-1'"),
    ('{"format": "lrcourse-sweep-1", "runs": [{"strategy": "a"}]}', r"run 0 must hold exactly the fields"),
])
def test_load_sweep_rejects_other_files(tmp_path, content, match):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_sweep(path)


def test_load_sweep_names_what_differs_from_the_definition(tmp_path):
    path = tmp_path / "small.json"
    run_sweep(small(), path, progress=False)
    with pytest.raises(ValueError, match=r"was computed for another definition of sweep 'small' "
                                         r"\(they differ in num_epochs, seeds\)$"):
        load_sweep(path, small(num_epochs=2, seeds=(0, 1, 2)))
    data = json.loads(path.read_text())
    data["runs"] = data["runs"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"does not hold exactly the runs of sweep 'small'$"):
        load_sweep(path, small())


def test_command_line_lists_the_sweeps(capsys):
    assert ex.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SWEEPS)


# ---------------------------------------------------------------- the stored sweeps of the book

def stored():
    """(sweep, its records) for every stored sweep: the finished file, else the run log so far."""
    out = []
    for name, sweep in SWEEPS.items():
        path, log = RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{name}.runs.jsonl"
        if path.is_file():
            result = load_sweep(path, sweep)  # raises for a stale file
            out.append((sweep, result.runs, result.provenance))
        elif log.is_file():
            lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            header = lines[0]
            assert header["definition"] == sweep.definition(), f"{log.name} is stale"
            out.append((sweep, [r for r in lines[1:] if set(r) - ex.CURVES == set(FIELDS)], header["provenance"]))
    return out


def test_every_stored_file_is_a_sweep_of_its_definition():
    known = {f"{name}.json" for name in SWEEPS} | {f"{name}.runs.jsonl" for name in SWEEPS}
    assert {p.name for p in RESULTS_DIR.iterdir() if p.is_file()} <= known, "a stored file of no sweep"
    for sweep, runs, provenance in stored():
        keys = [(r["strategy"], r["lr"], r["seed"]) for r in runs]
        assert len(set(keys)) == len(keys) and set(keys) <= set(sweep.runs())
        assert provenance["command"].startswith("python -m lrcourse.experiments run")
        assert all(0 <= r["test_acc"] <= 1 or math.isnan(r["test_acc"]) for r in runs)


def test_one_stored_run_recomputed_reproduces_its_numbers_on_the_cpu():
    """Bit for bit where the sweep was stored on a CPU of this kind (its provenance names it); on another
    kind of CPU, whose kernels round differently, the same run must end within a point of the stored one."""
    from lrcourse.config import cpu

    found = [(sweep, runs, prov) for sweep, runs, prov in stored() if runs]
    if not found:
        pytest.skip("no stored run yet")
    if torch.cuda.is_available() or any("cuda" in prov["device"] for _, _, prov in found):
        pytest.skip("stored on or recomputed with a GPU: the CPU's numbers differ")
    # on a CPU of the kind that stored a sweep: its cheapest living run, bit for bit; else the first stored
    # sweep's first run (LeNet, ten epochs: a run far from chaos, where kernels that round otherwise stay
    # within a point; a short large-batch run of the MLP moved by 0.07 from AVX-512 to AVX2)
    same_cpu = [(sweep, r, prov) for sweep, runs, prov in found if prov.get("cpu") == cpu()
                for r in runs if not r["dead"]]
    sweep, record, provenance = min(same_cpu, key=lambda f: f[1]["seconds"]) if same_cpu else \
        (found[0][0], found[0][1][0], found[0][2])
    threads = torch.get_num_threads()
    torch.set_num_threads(provenance["threads"])  # the thread count changes the order of the sums
    try:
        loaders = load_fashion_mnist(sweep.batch_size, valid=sweep.valid, limit=sweep.limit, device="cpu")
        again = run_one(sweep, record["strategy"], record["lr"], record["seed"], loaders)
    finally:
        torch.set_num_threads(threads)
    if same_cpu:
        for key in ("valid_acc", "test_acc", "train_loss", "dead"):
            assert again[key] == record[key], (key, again[key], record[key])
    else:
        assert again["dead"] == record["dead"]
        for key in ("valid_acc", "test_acc"):
            assert abs(again[key] - record[key]) < 0.01, (key, again[key], record[key], provenance.get("cpu"))


# ---------------------------------------------------------------- chapter 10 quotes the stored sweep

CHAPTERS = RESULTS_DIR.parents[1] / "chapters"


def quotable(runs, definition, provenance) -> set:
    """Every number a chapter may print in its prose about ``runs``, as the analysis functions give it."""
    from scipy import stats

    from lrcourse import lr_values
    from lrcourse.compare import best_peaks, compare_at_peaks, good_region, rate_curves

    out = set()

    def add(x, *formats):
        for f in formats:
            out.add(format(x, f))
            out.add(format(abs(x), f))

    for metric in ("valid_acc", "test_acc", "train_loss", "seconds"):
        for points in rate_curves(runs, metric).values():
            for p in points:
                add(p["mean"], ".3f", ".2f", ".1f")
                if p["values"]:
                    add(min(p["values"]), ".3f", ".1f")
                    add(max(p["values"]), ".3f", ".1f")
                if not math.isnan(p["low"]):
                    add((p["high"] - p["low"]) / 2, ".3f")
    for metric in ("valid_acc", "test_acc"):
        for e in compare_at_peaks(runs, metric=metric).values():
            add(e["mean"], ".3f")
            if e["diff"]:
                for key in ("mean", "low", "high", "sd"):
                    add(e["diff"][key], ".3f", ".4f")
                add(e["p_holm"], ".3f", ".2f")
                add(e["p"], ".3f")
    for name, peak in best_peaks(runs).items():
        add(peak["lr"], "g")
        add(peak["mean"], ".3f")
        if name not in STRATEGIES:  # a fine-tuning way: a constant rate, no schedule
            continue
        make = STRATEGIES[name].make(peak["lr"], definition["num_epochs"], 1)
        if make.get("interval", "epoch") == "epoch" and make["scheduler"].__class__.__name__ != "function":
            add(lr_values(make["scheduler"], range(definition["num_epochs"])).sum(), ".2f")  # its budget
    for r in good_region(runs).values():
        for key in ("low", "high", "width"):
            add(r[key], "g")
        add(r["width"], ".3g")
    for r in runs:
        add(r["test_acc"], ".3f")
        add(r["valid_acc"], ".3f")
    for grid in (s["grid"] for s in definition["strategies"].values()):
        for lr in grid:
            add(lr, "g")
            add(lr / 10, "g")  # where the warmup and the cosine start and end
            add(lr / 25, "g")  # where one-cycle starts
    add(provenance["run_seconds"] / 3600, ".1f")  # hours of training
    n = len(definition["seeds"])
    for k in (n, 3):  # t quantiles the prose explains (five seeds, three seeds) and the normal one
        add(stats.t.ppf(0.975, k - 1), ".2f")
    add(stats.norm.ppf(0.975), ".2f")
    m = len({r["strategy"] for r in runs}) - 1
    add(1 - 0.95 ** m, ".2f")
    # the protocol's own constants: death threshold, good-region tolerance, confidence, quantile, decay
    out |= {"0.15", "0.01", "0.005", "0.02", "0.05", "0.95", "0.975", "0.8", "0.9", "0.5", "0.3"}
    return out


def prose_numbers(chapter: str, sections: tuple | None = None) -> list:
    """The decimal numbers of a chapter's prose (not its solutions, not its code), optionally only in the
    markdown cells from a heading in ``sections[0]`` up to the next heading named in ``sections[1]``."""
    import re

    cells = [("".join(c["source"])) for c in json.loads((CHAPTERS / chapter).read_text())["cells"]
             if c["cell_type"] == "markdown"]
    if sections:
        start = next(i for i, c in enumerate(cells) if sections[0] in c)
        end = next(i for i, c in enumerate(cells) if i > start and sections[1] in c)
        cells = cells[start:end]
    prose = "\n".join(c for c in cells if not c.startswith("<details>"))
    prose = re.sub(r"`[^`]*`", "", prose)  # code in backticks is not a quoted result
    # nor are formulas: their constants are settings (β = 0.9); measured results stay in the prose
    prose = re.sub(r"\$\$.+?\$\$|\$[^$\n]+\$", "", prose, flags=re.S)
    return re.findall(r"(?<![\w.])[−+-]?\d+\.\d+", prose)


def stored_result(name):
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"the {name} sweep is not stored yet")
    return load_sweep(path, SWEEPS[name])


def test_chapter_10_quotes_only_numbers_of_the_stored_sweep():
    result = stored_result("schedules")
    allowed = quotable(result.runs, result.definition, result.provenance)
    quoted = prose_numbers("10_which_schedule.ipynb")
    assert len(quoted) >= 10, "chapter 10's prose quotes hardly any result"
    stray = sorted({q for q in quoted if q.lstrip("−+-") not in allowed})
    assert not stray, f"numbers in chapter 10's prose that no analysis of the stored sweep gives: {stray}"


def test_chapter_3_quotes_only_numbers_of_its_five_schedules_in_the_sweep():
    result = stored_result("schedules")
    names = ("constant", "square root", "factor", "multi-factor", "cosine")
    runs = [r for r in result.runs if r["strategy"] in names]
    allowed = quotable(runs, result.definition, result.provenance)
    quoted = prose_numbers("03_schedules.ipynb", ("## Comparing schedules fairly", "## Watching a run"))
    assert len(quoted) >= 10, "chapter 3's comparison quotes hardly any result"
    stray = sorted({q for q in quoted if q.lstrip("−+-") not in allowed})
    assert not stray, f"numbers in chapter 3's comparison that no analysis of the stored sweep gives: {stray}"


def test_chapter_4_quotes_only_numbers_of_the_sweep_on_warmup():
    from scipy import stats

    from lrcourse.compare import holm, paired_difference

    result = stored_result("schedules")
    pair = ("cosine", "warmup + cosine")
    runs = [r for r in result.runs if r["strategy"] in pair]
    allowed = quotable(runs, result.definition, result.provenance)
    at = lambda name, lr: {r["seed"]: r for r in runs if r["strategy"] == name and r["lr"] == lr}  # noqa: E731
    n, diffs = len(result.definition["seeds"]), {}
    for lr in result.definition["strategies"]["cosine"]["grid"]:
        a, b = at("warmup + cosine", lr), at("cosine", lr)
        if not any(r["dead"] for r in [*a.values(), *b.values()]):
            diffs[lr] = paired_difference({s: r["test_acc"] for s, r in a.items()},
                                          {s: r["test_acc"] for s, r in b.items()})
        else:
            dead = [sum(r["dead"] for r in x.values()) for x in (b, a)]
            allowed.add(format(stats.fisher_exact([[dead[0], n - dead[0]], [dead[1], n - dead[1]]]).pvalue, ".2f"))
    for lr, p in holm({lr: d["p"] for lr, d in diffs.items()}).items():
        d = diffs[lr]
        allowed |= {format(abs(d[k]), ".3f") for k in ("mean", "low", "high", "p")} | {format(p, ".3f")}
    quoted = (prose_numbers("04_warmup.ipynb", ("## A peak rate that needs warmup", "## Watching it happen"))
              + prose_numbers("04_warmup.ipynb", ("## Warmup at the tuned peak", "## The inverse-square-root")))
    assert len(quoted) >= 10, "chapter 4's comparisons quote hardly any result"
    stray = sorted({q for q in quoted if q.lstrip("−+-") not in allowed})
    assert not stray, f"numbers in chapter 4's comparisons that no analysis of the stored sweep gives: {stray}"


def stray_numbers(chapter, sections, allowed):
    quoted = prose_numbers(chapter, sections)
    assert len(quoted) >= 10, f"{chapter} between {sections} quotes hardly any result"
    return sorted({q for q in quoted if q.lstrip("−+-") not in allowed})


def test_chapter_1_quotes_only_numbers_of_the_constant_rate_in_the_sweeps():
    schedules, low = stored_result("schedules"), stored_result("low_rates")
    constant = [r for r in ex.join(schedules, low) if r["strategy"] == "constant"]
    allowed = quotable(constant, low.definition, low.provenance) | {"0.03"}  # the live run's small rate
    stray = stray_numbers("01_training_loop.ipynb", ("## Over five seeds", "## Exercises"), allowed)
    assert not stray, f"numbers in chapter 1's rate curve that no analysis of the stored sweeps gives: {stray}"


def test_chapter_2_quotes_only_numbers_of_the_heavy_ball_and_plain_sweeps():
    from lrcourse.compare import holm, paired_difference

    heavy, schedules, low = stored_result("heavy_ball"), stored_result("schedules"), stored_result("low_rates")
    runs = [r for r in ex.join(heavy, schedules, low) if r["strategy"] in ("constant", "momentum, constant")]
    allowed = quotable(runs, heavy.definition, heavy.provenance) | {"0.02"}  # the live run's momentum rate
    at = lambda name, lr: {r["seed"]: r for r in runs if r["strategy"] == name and r["lr"] == lr}  # noqa: E731
    plain = {r["lr"] for r in runs if r["strategy"] == "constant"}
    for pairs in ({lr: lr for lr in heavy.definition["strategies"]["momentum, constant"]["grid"] if lr in plain},
                  {lr: round(lr / (1 - 0.9), 6) for lr in heavy.definition["strategies"]["momentum, constant"]["grid"]
                   if round(lr / (1 - 0.9), 6) in plain}):
        diffs = {}
        for lr, other in pairs.items():
            a, b = at("momentum, constant", lr), at("constant", other)
            if not any(r["dead"] for r in [*a.values(), *b.values()]):
                diffs[lr] = paired_difference({k: r["test_acc"] for k, r in a.items()},
                                              {k: r["test_acc"] for k, r in b.items()})
        for lr, p in holm({lr: d["p"] for lr, d in diffs.items()}).items():
            allowed |= {format(abs(diffs[lr][k]), ".3f") for k in ("mean", "low", "high")} | {format(p, ".3f")}
    stray = stray_numbers("02_momentum.ipynb", ("## Momentum on Fashion-MNIST", "## Exercises"), allowed)
    assert not stray, f"numbers in chapter 2's comparison that no analysis of the stored sweeps gives: {stray}"


def test_chapter_5_quotes_only_numbers_of_its_three_schedules_in_the_sweep():
    result = stored_result("schedules")
    runs = [r for r in result.runs if r["strategy"] in ("constant", "multi-factor", "one-cycle")]
    allowed = quotable(runs, result.definition, result.provenance) | {"0.6", "0.024"}  # the live one-cycle
    stray = stray_numbers("05_pytorch_schedulers.ipynb", ("## A small comparison", "## Summary"), allowed)
    assert not stray, f"numbers in chapter 5's comparison that no analysis of the stored sweep gives: {stray}"


def same_rate_differences(runs, a, b, places=".4f"):
    """Every number the paired differences ``a - b`` at each rate where no seed of either died give."""
    from lrcourse.compare import holm, paired_difference

    at = lambda name, lr: {r["seed"]: r for r in runs if r["strategy"] == name and r["lr"] == lr}  # noqa: E731
    diffs = {}
    for lr in sorted({r["lr"] for r in runs}):
        x, y = at(a, lr), at(b, lr)
        if x and y and not any(r["dead"] for r in [*x.values(), *y.values()]):
            diffs[lr] = paired_difference({s: r["test_acc"] for s, r in x.items()},
                                          {s: r["test_acc"] for s, r in y.items()})
    out = set()
    for lr, p in holm({lr: d["p"] for lr, d in diffs.items()}).items():
        d = diffs[lr]
        out |= {format(abs(v), f) for v in (d["mean"], d["low"], d["high"], (d["high"] - d["low"]) / 2)
                for f in (places, ".3f")}
        out |= {format(p, ".3f"), format(d["p"], ".3f")}
    return out, diffs


def test_chapter_6_quotes_only_numbers_of_the_plateau_rule_in_the_sweep():
    result = stored_result("schedules")
    runs = [r for r in result.runs if r["strategy"] in ("constant", "plateau")]
    allowed = quotable(runs, result.definition, result.provenance)
    allowed |= same_rate_differences(runs, "plateau", "constant")[0]
    stray = stray_numbers("06_plateau.ipynb", ("The rule fires late, if at all.", "### What if the rule"),
                          allowed)
    assert not stray, f"numbers in chapter 6's comparison that no analysis of the stored sweep gives: {stray}"


def test_chapter_9_quotes_only_numbers_of_the_paired_and_unpaired_intervals():
    import numpy as np
    from scipy import stats

    result = stored_result("schedules")
    allowed = set()
    for name in ("cosine", "multi-factor"):
        runs = [r for r in result.runs if r["strategy"] in (name, "constant")]
        more, diffs = same_rate_differences(runs, name, "constant")
        allowed |= more
        for lr, d in diffs.items():
            a = [r["test_acc"] for r in runs if r["strategy"] == name and r["lr"] == lr]
            b = [r["test_acc"] for r in runs if r["strategy"] == "constant" and r["lr"] == lr]
            welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
            allowed.add(format((welch.high - welch.low) / 2, ".4f"))
            allowed.add(format(np.corrcoef(a, b)[0, 1], ".2f"))
    allowed |= {format(stats.t.ppf(0.975, k), ".2f") for k in (2, 4)} | {format(stats.norm.ppf(0.975), ".2f")}
    allowed |= {"0.4", "0.95", "0.975", format(1 - 0.95 ** 7, ".2f")}
    stray = stray_numbers("09_pitfalls.ipynb", ("### Means of several seeds", "## Summary"), allowed)
    assert not stray, f"numbers in chapter 9's statistics that no analysis of the stored sweep gives: {stray}"


def test_chapter_7_quotes_only_numbers_of_the_sweeps_it_joins():
    schedules, low, momentum = stored_result("schedules"), stored_result("low_rates"), stored_result("momentum")
    constant = [r for r in ex.join(schedules, low) if r["strategy"] == "constant"]
    cycles = [r for r in ex.join(schedules, momentum)
              if r["strategy"] in ("constant", "one-cycle", "one-cycle, momentum cycled")]
    allowed = (quotable(constant, low.definition, low.provenance)
               | quotable(cycles, momentum.definition, momentum.provenance)
               | quotable(cycles, schedules.definition, schedules.provenance)
               | {"0.85", format(1 / (1 - 0.85), ".1f")})  # OneCycleLR's momentum at the peak, its factor
    stray = stray_numbers("07_lr_finder.ipynb", ("## Do the rules find a good rate?",
                                                 "## Smoothing and rule: explore"), allowed)
    assert not stray, f"numbers in chapter 7's comparisons that no analysis of the stored sweeps gives: {stray}"


def test_chapter_8_quotes_only_numbers_of_the_sweeps_it_joins():
    schedules, momentum = stored_result("schedules"), stored_result("momentum")
    runs = [r for r in ex.join(schedules, momentum)
            if r["strategy"] in ("cosine", "momentum + cosine", "Adam + cosine")]
    allowed = quotable(runs, momentum.definition, momentum.provenance) | quotable(
        runs, schedules.definition, schedules.provenance)
    stray = stray_numbers("08_parameter_groups.ipynb", ("Does Adam train LeNet better", "## Summary"), allowed)
    assert not stray, f"numbers in chapter 8's comparison that no analysis of the stored sweeps gives: {stray}"


def test_chapter_8_quotes_only_numbers_of_the_finetune_sweep():
    result = stored_result("finetune")
    allowed = quotable(result.runs, result.definition, result.provenance) | {"0.25", "0.2"}  # dead, chance
    stray = stray_numbers("08_parameter_groups.ipynb", ("Four ways to fine-tune", "## Schedules and adaptive"),
                          allowed)
    assert not stray, f"numbers in chapter 8's fine-tuning that no analysis of the stored sweep gives: {stray}"


def test_the_summaries_of_chapters_5_6_and_8_quote_only_numbers_of_their_sweeps():
    schedules, momentum = stored_result("schedules"), stored_result("momentum")
    finetune = stored_result("finetune")
    three = [r for r in schedules.runs if r["strategy"] in ("constant", "multi-factor", "one-cycle")]
    two = [r for r in schedules.runs if r["strategy"] in ("constant", "plateau")]
    optimizers = [r for r in ex.join(schedules, momentum)
                  if r["strategy"] in ("cosine", "momentum + cosine", "Adam + cosine")]
    allowed = {
        "05_pytorch_schedulers.ipynb": quotable(three, schedules.definition, schedules.provenance)
        | {"1.1628", "5.8"},  # the resume table's rate printed above, and its ratio to the peak 0.2
        "06_plateau.ipynb": quotable(two, schedules.definition, schedules.provenance)
        | same_rate_differences(two, "plateau", "constant")[0],
        "08_parameter_groups.ipynb": quotable(optimizers, momentum.definition, momentum.provenance)
        | quotable(finetune.runs, finetune.definition, finetune.provenance),
    }
    import re

    for chapter, ok in allowed.items():
        cells = ["".join(c["source"]) for c in json.loads((CHAPTERS / chapter).read_text())["cells"]
                 if c["cell_type"] == "markdown"]
        summary = next(c for c in cells if "## Summary" in c).split("## Summary", 1)[1].split("## Exercises")[0]
        quoted = re.findall(r"(?<![\w.])[−+-]?\d+\.\d+", re.sub(r"`[^`]*`", "", summary))
        assert quoted, f"the summary of {chapter} quotes no number"
        stray = sorted({q for q in quoted if q.lstrip("−+-") not in ok})
        assert not stray, f"numbers in the summary of {chapter} that no analysis of its sweeps gives: {stray}"


def test_join_pairs_only_sweeps_of_one_protocol(tmp_path):
    a = run_sweep(small(), tmp_path / "a.json", progress=False)
    other = small(name="other", strategies=(("factor", (0.2,)),))
    b = run_sweep(other, tmp_path / "b.json", progress=False)
    joined = ex.join(load_sweep(tmp_path / "a.json"), load_sweep(tmp_path / "b.json"))
    assert joined == a["runs"] + b["runs"]
    run_sweep(small(name="more", strategies=(("factor", (0.2,)),), seeds=(0, 1, 2)), tmp_path / "c.json",
              progress=False)
    with pytest.raises(ValueError, match=r"^sweeps 'small' and 'more' do not pair: they differ in seeds$"):
        ex.join(load_sweep(tmp_path / "a.json"), load_sweep(tmp_path / "c.json"))
    with pytest.raises(ValueError, match=r"^run \('constant', 0.1, 0\) is in two of the sweeps$"):
        ex.join(load_sweep(tmp_path / "a.json"), load_sweep(tmp_path / "a.json"))
    # a strategy's grid extended by another sweep joins; a strategy under another formula does not
    run_sweep(small(name="lower", strategies=(("constant", (0.05,)),)), tmp_path / "d.json", progress=False)
    extended = ex.join(load_sweep(tmp_path / "a.json"), load_sweep(tmp_path / "d.json"))
    assert sorted({r["lr"] for r in extended if r["strategy"] == "constant"}) == [0.05, 0.1, 0.4]
    d = load_sweep(tmp_path / "d.json")
    d.definition["strategies"]["constant"]["formula"] = "something else"
    with pytest.raises(ValueError, match=r"^strategy 'constant' has another formula in sweep 'lower'$"):
        ex.join(load_sweep(tmp_path / "a.json"), d)
    with pytest.raises(TypeError, match=r"^results must be one or more SweepResult"):
        ex.join(a)


def test_to_record_judges_a_chapter_run_as_a_sweep_run():
    from lrcourse.training import History

    h = History(train_loss=[1.0, 0.5], valid_acc=[0.7, 0.8], test_acc=[0.69, 0.79])
    assert ex.to_record("mine", 0.1, 3, h, seconds=2.0) == dict(
        strategy="mine", seed=3, lr=0.1, valid_acc=0.8, test_acc=0.79, train_loss=0.5, dead=False, seconds=2.0)
    dead = ex.to_record("mine", 0.1, 3, History(train_loss=[2.3], valid_acc=[0.1], test_acc=[0.1]))
    assert dead["dead"] and math.isnan(dead["seconds"])
    five_way = History(train_loss=[1.6], valid_acc=[0.21], test_acc=[0.2])  # chance on five classes is 0.2
    assert not ex.to_record("mine", 0.1, 3, five_way)["dead"]
    assert ex.to_record("mine", 0.1, 3, five_way, dead_acc=0.25)["dead"]


def prose_integers(chapter: str, sections: tuple) -> list:
    """The whole numbers of a chapter's prose between two headings (outside code and formulas)."""
    import re

    cells = ["".join(c["source"]) for c in json.loads((CHAPTERS / chapter).read_text())["cells"]
             if c["cell_type"] == "markdown"]
    start = next(i for i, c in enumerate(cells) if sections[0] in c)
    end = next(i for i, c in enumerate(cells) if i > start and sections[1] in c)
    prose = "\n".join(c for c in cells[start:end] if not c.startswith("<details>"))
    prose = re.sub(r"`[^`]*`|^#+ .*$", "", prose, flags=re.M)
    prose = re.sub(r"\$\$.+?\$\$|\$[^$\n]+\$", "", prose, flags=re.S)
    prose = re.sub(r"\(\w[^()]*\d{4}\)|\d{4}\)|et al\. \(?\d{4}", "", prose)  # citations' years
    return re.findall(r"(?<![\w.−+-])\d+(?![\w.]*\d)(?!\.\d)", prose)


def test_chapter_11_quotes_only_numbers_of_the_batch_size_sweep():
    from lrcourse.compare import paired_by_rate
    from lrcourse.scaling import critical_batch, steps_at_best_rate

    result = stored_result("batch_size")
    runs, definition = result.runs, result.definition
    allowed = quotable(runs, definition, result.provenance)
    whole = {str(b) for b in ex.BATCH_SIZES} | {str(k) for k in range(21)}
    for opt in ex.BATCH_OPTIMIZERS:
        mine = [r for r in runs if r["strategy"].startswith(opt + ", ")]
        for target in (0.75, 0.8, 0.82):
            fastest = steps_at_best_rate(mine, target)
            steps = [fastest[ex.batch_strategy(opt, b)]["steps"] for b in ex.BATCH_SIZES]
            whole |= {f"{s:.0f}" for s in steps if math.isfinite(s)}
            fit = critical_batch(ex.BATCH_SIZES, steps)
            whole |= {f"{fit.b_crit:.0f}", f"{round(fit.b_crit, -1):.0f}", f"{fit.s_min:.0f}"}
    large = stored_result("large_batch")
    allowed |= quotable(large.runs, large.definition, large.provenance)
    pairs = [(runs, ex.batch_strategy("momentum", b), ex.batch_strategy("momentum", b, True))
             for b in ex.WARMUP_BATCH_SIZES]
    pairs.append((large.runs, ex.batch_strategy("SGD", ex.LARGE_BATCH),
                  ex.batch_strategy("SGD", ex.LARGE_BATCH, ex.LARGE_BATCH_WARMUP)))
    for records, plain, warm in pairs:
        for row in paired_by_rate(records, warm, plain):
            if row["diff"]:
                for key in ("mean", "low", "high"):
                    d = row["diff"][key]
                    allowed |= {format(d, ".3f"), format(abs(d), ".3f"), format(abs(d), ".2f")}
    for b in ex.WARMUP_BATCH_SIZES + (ex.LARGE_BATCH,):
        steps_per_epoch = math.ceil(50_000 / b)
        whole |= {str(steps_per_epoch), str(steps_per_epoch * definition["num_epochs"]),
                  str(steps_per_epoch * ex.LARGE_BATCH_WARMUP)}
    # Goyal et al.'s setting (1.28 M images at 8192: 156 steps an epoch, 780 in five) and the schedule table's
    whole |= {str(1_281_167 // 8192), str(5 * (1_281_167 // 8192)), "8192", "784", "300", "100", "000"}
    whole |= {str(math.ceil(50_000 / b)) for b in (32, 128, 256, 1024)}
    allowed |= {"0.999", "0.64", "0.32", "0.01", "0.02", "0.16"}  # Adam's β₂; the grids' rates
    sections = [("## The sweep", "## The gradient noise scale"),
                ("## Do large batches need warmup?", "## Data-parallel"), ("## Summary", "## Exercises")]
    quoted = [q for s in sections for q in prose_numbers("11_batch_size.ipynb", s)]
    assert len(quoted) >= 20, "chapter 11's prose quotes hardly any result"
    stray = sorted({q for q in quoted if q.lstrip("−+-") not in allowed})
    assert not stray, f"decimal numbers in chapter 11's prose that no analysis of the stored sweep gives: {stray}"
    stray = sorted({q for s in sections for q in prose_integers("11_batch_size.ipynb", s) if q not in whole})
    assert not stray, f"whole numbers in chapter 11's prose that no analysis of the stored sweep gives: {stray}"


def test_chapter_12_quotes_only_numbers_of_its_sweeps():
    """Every decimal of chapter 12's prose, from the opening to the summary, is one the chapter's analyses of
    the three stored sweeps print (rounded as they print it), a rate of their grids, or a figure of the
    tiny net's runs and the MLP's spectrum at initialization that the chapter computes live."""
    import statistics

    from lrcourse.sharpness import edge_crossing, edge_summary, hessian_eigenvalues, tiny_gd

    allowed = {"0.01", "0.02", "0.04", "0.05", "0.08", "0.1", "0.2", "0.4", "0.8", "0.9"}  # the grids' rates
    allowed |= {format(x / 10, ".1f") for x in range(1, 13)}  # the explorer's rates
    fmt = lambda v, *specs: {format(v, s) for s in specs} if v is not None and math.isfinite(v) else set()  # noqa
    eos = stored_result("edge_of_stability")
    steps = eos.definition["task"]["steps"]
    for row in edge_summary(eos.runs, after=steps * 3 // 4):
        for key in ("start", "plateau", "low", "high", "loss_after", "loss_end"):
            allowed |= fmt(row[key], ".1f", ".2f", ".3f")
        allowed |= fmt(row["product"], ".2f", ".1f") | fmt(row["limit"], ".0f")
    for r in eos.runs:
        allowed |= fmt(r["valid_acc"], ".3f", ".2f")
    sgd = stored_result("sharpness_sgd")
    for name, strategy in sgd.definition["strategies"].items():
        for lr in strategy["grid"]:
            cross = [edge_crossing(r["sharpness"], [lr]) for r in sgd.runs if r["strategy"] == name and r["lr"] == lr]
            ends = sorted(c["end"] for c in cross)
            end = statistics.median(ends)
            allowed |= fmt(end, ".1f", ".0f") | fmt(ends[0], ".1f") | fmt(ends[-1], ".1f") | fmt(lr * end, ".2f", ".1f")
            allowed |= fmt(statistics.median(c["peak"] for c in cross), ".2f", ".1f")
    lenet = stored_result("sharpness_lenet")
    n = math.ceil(50_000 / 256)
    for r in lenet.runs:
        rates = ex.step_rates(r["strategy"], r["lr"], lenet.definition["num_epochs"], n)
        c = edge_crossing(r["sharpness"], rates, until=100)
        allowed |= fmt(r["sharpness"][0][1], ".2f", ".1f") | fmt(c["start"], ".2f", ".1f") | fmt(c["peak"], ".1f")
        for k, v in r["sharpness"]:  # the warmup table: the rate and the sharpness at the measured steps
            allowed |= fmt(v, ".3g") | fmt(rates[min(k, len(rates) - 1)], ".2f")
        allowed |= fmt(c["end"], ".3g", ".2f", ".1f") | fmt(r["valid_acc"], ".3f")
    for lr in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1):
        run = tiny_gd(lr, 500)
        tail = run.sharpness[len(run.sharpness) * 3 // 5:]
        allowed |= fmt(run.sharpness[0], ".2f") | fmt(run.sharpness[-1], ".2f") | fmt(2 / lr, ".2f", ".3g")
        if tail:
            allowed |= fmt(statistics.fmean(tail), ".2f") | fmt(lr * statistics.fmean(tail), ".2f")
    train_iter, _, _ = load_fashion_mnist(256, valid=10000, device="cpu")
    spectrum = hessian_eigenvalues(ex.NETS["mlp"](seed=0), None, train_iter.X[:2048], train_iter.y[:2048], k=3,
                                   iters=30)
    allowed |= {format(v, ".2f") for v in spectrum.values} | {format(v, ".1f") for v in spectrum.values}
    allowed |= {format(2 / spectrum.top, ".3f")}
    quoted = prose_numbers("12_stability.ipynb", ("# 12.", "## Exercises"))
    assert len(quoted) >= 20, "chapter 12's prose quotes hardly any result"
    stray = sorted({q for q in quoted if q.lstrip("−+-") not in allowed})
    assert not stray, f"decimal numbers in chapter 12's prose that no analysis of its sweeps gives: {stray}"


def test_chapter_12_solutions_are_what_running_them_gives():
    """The figures in chapter 12's solutions, computed as the solutions say: the MLP's spectrum on 512 and
    2048 images, the steps where the runs at η = 0.02 reach 90, and tiny_gd's mean η·λ at η = 0.5."""
    import statistics

    from lrcourse.sharpness import hessian_eigenvalues, tiny_gd

    cells = json.loads((CHAPTERS / "12_stability.ipynb").read_text())["cells"]
    solutions = next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith("<details>"))
    train_iter, _, _ = load_fashion_mnist(256, valid=10000, device="cpu")
    expected = []
    for n in (512, 2048):
        spectrum = hessian_eigenvalues(ex.NETS["mlp"](seed=0), None, train_iter.X[:n], train_iter.y[:n], k=3,
                                       iters=30)
        expected += [format(v, ".2f") for v in spectrum.values]
    eos = stored_result("edge_of_stability")
    runs = sorted((r for r in eos.runs if r["lr"] == 0.02), key=lambda r: r["seed"])
    expected += [str(next(s for s, v in r["sharpness"] if v >= 90)) for r in runs]
    run = tiny_gd(0.5, 1000)
    expected.append(format(0.5 * statistics.fmean(run.sharpness[600:]), ".3f"))
    missing = [x for x in expected if x not in solutions]
    assert not missing, f"chapter 12's solutions lack what running them gives: {missing}"


def test_chapter_13_quotes_only_numbers_of_the_anytime_sweep():
    """Every decimal of chapter 13's prose is one its analysis of the stored anytime sweep prints (each schedule
    at its tuned peak against the cosine planned for the budget, Holm over the budget's comparisons), a range
    of them, or a setting (the grids, momentum 0.9, the level 0.05); and the bounds it states hold."""
    from lrcourse.compare import best_peaks, compare_at_peaks, rate_curves

    result = stored_result("anytime")
    runs = ex.anytime_runs(result.runs)
    allowed = {format(lr, "g") for lr in ex.ANYTIME_RATES + ex.ANYTIME_FREE_RATES} | {"0.9", "0.05"}
    tables = {T: compare_at_peaks([r for r in runs if r["budget"] == T], reference=f"cosine to 10%, {T} epochs")
              for T in ex.ANYTIME_BUDGETS}
    diffs = {}
    for T, table in tables.items():
        for name, e in table.items():
            allowed |= {format(e["lr"], "g"), format(e["mean"], ".4f")}
            if e["diff"] is not None:
                diffs[name] = e["diff"]["mean"]
                allowed |= {format(e["diff"]["mean"], "+.4f"), format(abs(e["diff"]["mean"]), ".4f"),
                            format(e["p_holm"], ".3f")}
    by = lambda schedule: [d for n, d in diffs.items() if n.startswith(schedule + ",")]  # noqa: E731
    cooldowns = by("WSD linear 10%") + by("WSD linear 20%") + by("WSD 1-sqrt 20%")
    constant = [abs(d) for d in by("constant")]
    holm_linear = [tables[T][f"linear to 0, {T} epochs"]["p_holm"] for T in ex.ANYTIME_BUDGETS]
    allowed |= {format(min(cooldowns), ".4f"), format(max(cooldowns), ".4f"), format(min(constant), ".4f"),
                format(max(constant), ".4f"), format(min(holm_linear), ".3f"), format(max(holm_linear), ".3f")}
    # the stated bounds: cooldown shapes and lengths within 0.001 of each other at every budget
    for T, table in tables.items():
        acc = {name.split(",")[0]: e["mean"] for name, e in table.items()}
        assert abs(acc["WSD linear 10%"] - acc["WSD linear 20%"]) < 0.001
        assert abs(acc["WSD 1-sqrt 20%"] - acc["WSD linear 20%"]) < 0.001
    allowed.add("0.001")
    # and that the cooldowns' validation curves are flat between 0.04 and 0.08 (within 0.002)
    for points in (rate_curves(runs)[f"WSD 1-sqrt 20%, {T} epochs"] for T in ex.ANYTIME_BUDGETS):
        at = {p["lr"]: p["mean"] for p in points}
        assert abs(at[0.04] - at[0.08]) < 0.002
    assert all(not p["at_edge"] for p in best_peaks(runs).values())
    quoted = prose_numbers("13_long_runs.ipynb", ("# 13.", "## Summary"))
    assert len(quoted) >= 20, "chapter 13's prose quotes hardly any result"
    stray = sorted({q for q in quoted if q.lstrip("−+-") not in allowed and q not in allowed})
    assert not stray, f"decimal numbers in chapter 13's prose that no analysis of the anytime sweep gives: {stray}"
