"""Chapter 13's anytime task (issue 20): one constant trunk, cooldowns branched from its checkpoints.

A branched cooldown must be exactly the run a WSD schedule gives from step
0 (the branch only saves the trunk's epochs), the budgets' records must be
read at the right epochs, and schedule-free SGD is evaluated at its average.
"""
import math

import pytest
import torch

from lrcourse import WSD, Cosine, LinearDecay, fit, load_fashion_mnist, mlp
from lrcourse import experiments as ex
from lrcourse.config import QUICK
from lrcourse.experiments import (ANYTIME, ANYTIME_BUDGETS, ANYTIME_COOLDOWNS, FIELDS, SWEEPS, Sweep,
                                  anytime_runs, anytime_schedules, run_one)


def tiny(**kw):
    """The anytime sweep on 512 training images (two steps per epoch), one rate per family, one seed."""
    args = dict(name="tiny", title="t", net="mlp", task="anytime", seeds=(3,), num_epochs=max(ANYTIME_BUDGETS),
                strategies=(("momentum SGD", (0.05,)), ("schedule-free SGD", (0.5,))), valid=200, limit=512,
                batch_size=256)
    return Sweep(**(args | kw))


@pytest.fixture(scope="module")
def loaders():
    return load_fashion_mnist(256, valid=200, limit=512, device="cpu")


@pytest.fixture(scope="module")
def momentum_run(loaders):
    return run_one(tiny(), "momentum SGD", 0.05, 3, loaders)


def test_the_schedules_of_a_budget():
    got = anytime_schedules("momentum SGD", 0.1, 20, 5)
    assert list(got) == ["constant", "WSD linear 10%", "WSD linear 20%", "WSD 1-sqrt 20%", "cosine to 10%",
                         "linear to 0"]
    assert [got[name][1] for name in got] == [None, 18, 16, 16, None, None]
    wsd, at = got["WSD 1-sqrt 20%"]
    N = 100
    assert all(wsd(t) == 0.1 for t in range(at * 5)) and wsd(at * 5) == 0.1 and wsd(N) == 0.0
    assert 0 < wsd(N - 1) < wsd(at * 5 + 1) < 0.1
    assert got["cosine to 10%"][0](N) == pytest.approx(0.01) and got["linear to 0"][0](N) == 0.0
    assert list(anytime_schedules("schedule-free SGD", 0.5, 10, 5)) == ["schedule-free"]


def test_the_sweep_is_defined_for_every_budget_and_keeps_its_budgets_when_quick():
    sweep = SWEEPS["anytime"]
    assert sweep.definition()["task"]["budgets"] == [10, 20, 40]
    quick = sweep.sized(QUICK)
    assert quick.num_epochs == 40 and quick.limit == QUICK.limit and len(quick.seeds) == QUICK.num_seeds
    for family in ANYTIME:
        assert family in sweep.grids and len(sweep.grids[family]) >= 4


def test_an_anytime_run_records_every_schedule_at_every_budget(momentum_run):
    r = momentum_run
    assert set(r) == set(FIELDS) | {"budgets"} and r["strategy"] == "momentum SGD"
    flat = anytime_runs([r])
    names = {(s["schedule"], s["budget"]) for s in flat}
    assert len(flat) == len(names) == len(ANYTIME_BUDGETS) * (3 + len(ANYTIME_COOLDOWNS))
    for s in flat:
        assert s["strategy"] == f"{s['schedule']}, {s['budget']} epochs" and len(s["valid_curve"]) == s["budget"]
        assert s["valid_acc"] == s["valid_curve"][-1] and 0 <= s["test_acc"] <= 1 and not s["dead"]
    constant = {s["budget"]: s for s in flat if s["schedule"] == "constant"}
    # the constant rate at a budget is the trunk read at that epoch; the run's own fields are the last budget's
    assert constant[10]["valid_curve"] == constant[40]["valid_curve"][:10]
    assert (r["valid_acc"], r["test_acc"]) == (constant[40]["valid_acc"], constant[40]["test_acc"])
    # a cooldown shares the trunk's epochs before its branch, then departs from it
    wsd = next(s for s in flat if (s["schedule"], s["budget"]) == ("WSD linear 20%", 20))
    assert wsd["valid_curve"][:16] == constant[40]["valid_curve"][:16]
    assert wsd["valid_curve"][16:] != constant[40]["valid_curve"][16:20]


def test_a_branched_cooldown_is_the_wsd_run_from_scratch(momentum_run, loaders):
    train_iter, valid_iter, test_iter = loaders
    wsd = next(s for s in anytime_runs([momentum_run]) if (s["schedule"], s["budget"]) == ("WSD 1-sqrt 20%", 10))
    n = len(train_iter)
    h = fit(mlp(seed=3), train_iter, None, valid_iter=valid_iter, num_epochs=10, seed=3, interval="step",
            optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9), animate=False,
            progress=False, scheduler=WSD(0.05, 10 * n, warmup_steps=0, decay_steps=2 * n, decay="1-sqrt"))
    assert h.valid_acc == wsd["valid_curve"]


def test_planned_runs_follow_their_formulas(momentum_run, loaders):
    train_iter, valid_iter, _ = loaders
    n = len(train_iter)
    flat = {s["strategy"]: s for s in anytime_runs([momentum_run])}
    for name, schedule in (("cosine to 10%", Cosine(0.05, 0.005, max_update=10 * n)),
                           ("linear to 0", LinearDecay(0.05, 10 * n))):
        h = fit(mlp(seed=3), train_iter, None, valid_iter=valid_iter, num_epochs=10, seed=3, interval="step",
                optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9), animate=False,
                progress=False, scheduler=schedule)
        assert h.valid_acc == flat[f"{name}, 10 epochs"]["valid_curve"], name


def test_schedule_free_is_read_at_each_budget(loaders):
    r = run_one(tiny(), "schedule-free SGD", 0.5, 3, loaders)
    flat = anytime_runs([r])
    assert [(s["schedule"], s["budget"]) for s in flat] == [("schedule-free", T) for T in ANYTIME_BUDGETS]
    assert flat[0]["valid_curve"] == flat[-1]["valid_curve"][:10]
    assert r["valid_acc"] == flat[-1]["valid_acc"] and not math.isnan(r["test_acc"])


def test_bad_anytime_arguments():
    with pytest.raises(ValueError, match=r"^family must be one of \('momentum SGD', 'schedule-free SGD'\), "
                                         r"got 'Adam'$"):
        anytime_schedules("Adam", 0.1, 10, 5)
    with pytest.raises(ValueError, match=r"^budget must be an int >= 1, got 0$"):
        anytime_schedules("momentum SGD", 0.1, 0, 5)
    with pytest.raises(ValueError, match=r"^a cooldown of 10% of 15 epochs is not a whole number of epochs$"):
        anytime_schedules("momentum SGD", 0.1, 15, 5)
    with pytest.raises(ValueError, match=r"^runs must be an anytime sweep's records \(each with 'budgets'\)"):
        anytime_runs([{"strategy": "constant"}])
    with pytest.raises(ValueError, match=r"^sweep 'tiny': an anytime sweep trains for its largest budget, "
                                         r"num_epochs=40, got 10$"):
        tiny(num_epochs=10)
    with pytest.raises(ValueError, match=r"^strategy must be one of \('momentum SGD', 'schedule-free SGD'\)"):
        tiny(strategies=(("constant", (0.1,)),))
