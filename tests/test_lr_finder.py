"""lr_range_test: the sweep, the stop rules, exact restoration, the suggestion rules, errors, the plot."""
import copy
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lrcourse import (LRRangeResult, divergence_half, lr_range_test, minimum_over_ten, smooth_losses,
                      steepest_slope, sweep_rates, valley)
from lrcourse.lr_finder import DEFAULT_RULE, MIN_ITER, RULES, suggest
from lrcourse.plotting import PNGFigure
from tiny import make_data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def bn_net(seed=0):
    """A tiny net with a BatchNorm1d, so the state dict holds buffers as well as parameters."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def loader(shuffle=True):
    train_iter, test_iter = make_data()
    return train_iter if shuffle else test_iter


class SpyLoss:
    """Cross-entropy that records what the test did at each call; raises or returns ``value`` at ``at``."""

    def __init__(self, opt_box=None, *, at=None, value=None, error=None):
        self.opt_box, self.at, self.value, self.error = opt_box, at, value, error
        self.calls, self.rates, self.inputs = 0, [], []

    def __call__(self, y_hat, y):
        call, self.calls = self.calls, self.calls + 1
        if self.opt_box:
            self.rates.append([g["lr"] for g in self.opt_box[-1].param_groups])
        self.inputs.append(y_hat.shape[0])
        if call == self.at and self.error is not None:
            raise self.error
        loss = nn.functional.cross_entropy(y_hat, y)
        if call == self.at and self.value is not None:
            return loss * self.value
        return loss


def recording_factory(box, **kw):
    """An optimizer factory that keeps what it built in ``box`` (a list) so a test can look inside."""
    kw.setdefault("lr", 1.0)

    def make(params):
        box.append(torch.optim.SGD(params, **kw))
        return box[-1]

    return make


def stepped_optimizer(net, kind):
    """An optimizer over net that already took 3 steps (so it holds state), with grads left set."""
    if kind == "sgd-momentum":
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    else:  # two groups with their own rates
        opt = torch.optim.Adam([{"params": net[0].parameters(), "lr": 1e-3},
                                {"params": list(net[1].parameters()) + list(net[3].parameters()),
                                 "lr": 3e-3}])
    for X, y in list(loader(shuffle=False))[:3]:
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return opt


# ------------------------------------------------------------ exact restoration

def as_bytes(t):
    return t.dtype, tuple(t.shape), t.detach().cpu().numpy().tobytes()


def snapshot(net, opt=None):
    return {
        "state": {k: as_bytes(v) for k, v in net.state_dict().items()},
        "grads": [None if p.grad is None else as_bytes(p.grad) for p in net.parameters()],
        "modes": [m.training for m in net.modules()],
        "opt": None if opt is None else optimizer_bytes(opt),
    }


def optimizer_bytes(opt):
    sd = opt.state_dict()
    state = {i: {k: as_bytes(v) if torch.is_tensor(v) else v for k, v in s.items()}
             for i, s in sd["state"].items()}
    return state, copy.deepcopy(sd["param_groups"])


def assert_restored(net, opt, before):
    after = snapshot(net, opt)
    assert after["state"].keys() == before["state"].keys()
    for name in before["state"]:
        assert after["state"][name] == before["state"][name], name
    assert after["grads"] == before["grads"]
    assert after["modes"] == before["modes"]
    if opt is not None:
        state, groups = after["opt"]
        assert state == before["opt"][0]
        assert [g["lr"] for g in groups] == [g["lr"] for g in before["opt"][1]]
        assert groups == before["opt"][1]


SCENARIOS = {
    "normal": dict(end_lr=0.1, num_iter=20),
    "diverged": dict(end_lr=1e6, num_iter=100),
    "raised": dict(end_lr=1.0, num_iter=30),  # the loss raises at its 6th call
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("kind", ["sgd-momentum", "adam-two-groups", "factory", "default"])
def test_net_and_optimizer_are_restored_bit_for_bit(scenario, kind):
    net = bn_net()
    opt = stepped_optimizer(net, kind) if kind in ("sgd-momentum", "adam-two-groups") else None
    if kind == "factory":
        optimizer = lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)  # noqa: E731
    else:
        optimizer = opt
    net.eval()
    net[1].train()  # mixed modes must come back module by module
    before = snapshot(net, opt)
    kw = dict(SCENARIOS[scenario])
    if scenario == "raised":
        kw["loss"] = SpyLoss(at=5, error=RuntimeError("boom at call 5"))
        with pytest.raises(RuntimeError, match="boom at call 5"):
            lr_range_test(net, loader(), optimizer=optimizer, **kw)
        assert kw["loss"].calls == 6
    else:
        result = lr_range_test(net, loader(), optimizer=optimizer, **kw)
        assert result.stopped_early == (scenario == "diverged")
    assert_restored(net, opt, before)


def test_after_the_test_training_goes_on_exactly_as_without_it():
    net, twin = bn_net(), bn_net()
    opt, twin_opt = stepped_optimizer(net, "sgd-momentum"), stepped_optimizer(twin, "sgd-momentum")
    lr_range_test(net, loader(), optimizer=opt, end_lr=1e6)
    for model, o in ((net, opt), (twin, twin_opt)):
        for X, y in loader(shuffle=False):
            o.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            o.step()
    for a, b in zip(net.state_dict().values(), twin.state_dict().values()):
        assert as_bytes(a) == as_bytes(b)


@settings(max_examples=12, deadline=None)
@given(end_exp=st.floats(-2, 8), smooth=st.floats(0, 0.99), momentum=st.floats(0, 0.95),
       fail_at=st.one_of(st.none(), st.integers(0, 60)))
def test_restoration_holds_whatever_the_run(end_exp, smooth, momentum, fail_at):
    net = bn_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=momentum)
    for X, y in list(loader(shuffle=False))[:2]:
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    before = snapshot(net, opt)
    spy = SpyLoss(at=fail_at, error=RuntimeError("boom"))
    try:
        lr_range_test(net, loader(), optimizer=opt, loss=spy, start_lr=1e-4, end_lr=10.0 ** end_exp,
                      num_iter=60, smooth=smooth)
    except RuntimeError:
        pass
    assert_restored(net, opt, before)


# ------------------------------------------------------------ stopping

def test_divergence_stops_at_the_first_point_above_the_threshold():
    result = lr_range_test(bn_net(), loader(), start_lr=1e-4, end_lr=1e6, num_iter=100)
    assert result.stopped_early and len(result.lrs) < 100
    assert result.diverged_at == result.lrs[-1]
    assert all(math.isfinite(v) for v in result.losses + result.raw_losses)
    best = math.inf
    for i, loss in enumerate(result.losses):
        best = min(best, loss)
        assert (loss > 4.0 * best) == (i == len(result.losses) - 1)
    assert result.suggestions["divergence/2"] == result.diverged_at / 2
    # the pure rule, scanning the curve with the test's stop rule, finds the same point
    assert divergence_half(result.lrs, result.losses) == result.diverged_at / 2


def test_a_lower_threshold_stops_no_later():
    steps = [len(lr_range_test(bn_net(), loader(), start_lr=1e-4, end_lr=1e6, diverge_th=th).lrs)
             for th in (1.5, 4.0, 20.0)]
    assert steps == sorted(steps)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_and_is_not_kept(bad):
    box = []
    spy = SpyLoss(at=7, value=bad)
    result = lr_range_test(bn_net(), loader(), optimizer=recording_factory(box), loss=spy,
                           start_lr=1e-4, end_lr=1.0, num_iter=50)
    rates = sweep_rates(1e-4, 1.0, 50)
    assert spy.calls == 8
    assert len(result.lrs) == len(result.raw_losses) == len(result.losses) == 7
    assert result.stopped_early and result.diverged_at == rates[7]
    assert all(math.isfinite(v) for v in result.raw_losses)
    assert result.suggestions["divergence/2"] == rates[7] / 2


def test_infinite_threshold_runs_every_step():
    result = lr_range_test(bn_net(), loader(), start_lr=1e-4, end_lr=1.0, num_iter=40,
                           diverge_th=float("inf"))
    assert len(result.lrs) == 40 and not result.stopped_early and result.diverged_at is None


# ------------------------------------------------------------ the sweep

@pytest.mark.parametrize("mode", ["exp", "linear"])
def test_rates_follow_the_formula_and_reach_the_optimizer(mode):
    box = []
    spy = SpyLoss(box)
    start, end, n = 1e-3, 2.0, 30
    result = lr_range_test(bn_net(), loader(), optimizer=recording_factory(box), loss=spy, start_lr=start,
                           end_lr=end, num_iter=n, mode=mode, diverge_th=float("inf"))
    if mode == "exp":
        expected = [start * (end / start) ** (i / (n - 1)) for i in range(n)]
    else:
        expected = [start + (end - start) * i / (n - 1) for i in range(n)]
    assert result.lrs == expected == sweep_rates(start, end, n, mode)
    assert [r[0] for r in spy.rates] == result.lrs
    assert result.lrs[-1] == pytest.approx(end, rel=1e-12)
    assert result.mode == mode and result.num_iter == n


@settings(max_examples=60, deadline=None)
@given(start_exp=st.floats(-9, 0), decades=st.floats(0.01, 10), n=st.integers(MIN_ITER, 300),
       mode=st.sampled_from(["exp", "linear"]))
def test_sweep_rates_span_start_to_end(start_exp, decades, n, mode):
    start, end = 10.0 ** start_exp, 10.0 ** (start_exp + decades)
    if not start < end:
        return
    rates = np.array(sweep_rates(start, end, n, mode))
    assert rates.shape == (n,) and rates[0] == start
    assert rates[-1] == pytest.approx(end, rel=1e-9)
    if mode == "exp":  # evenly spaced on a log scale
        np.testing.assert_allclose(np.diff(np.log(rates)), np.log(end / start) / (n - 1), rtol=1e-6,
                                   atol=1e-12)
    else:
        np.testing.assert_allclose(np.diff(rates), (end - start) / (n - 1), rtol=1e-6, atol=1e-12 * end)


def test_every_group_keeps_its_ratio_to_group_0():
    net = bn_net()
    opt = torch.optim.SGD([{"params": net[0].parameters(), "lr": 0.1},
                           {"params": net[1].parameters(), "lr": 0.3},
                           {"params": net[3].parameters(), "lr": 0.05}], momentum=0.9)
    spy = SpyLoss([opt])
    result = lr_range_test(net, loader(), optimizer=opt, loss=spy, start_lr=1e-4, end_lr=1.0, num_iter=20,
                           diverge_th=float("inf"))
    assert [r[0] for r in spy.rates] == result.lrs
    for (g0, g1, g2), lr in zip(spy.rates, result.lrs):
        assert g0 == lr
        assert g1 == pytest.approx(3 * lr, rel=1e-12) and g2 == pytest.approx(0.5 * lr, rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.3, 0.05]


def test_a_short_loader_is_cycled():
    data = loader(shuffle=False)  # 4 batches: 8, 8, 8 and 6 examples
    spy = SpyLoss()
    result = lr_range_test(bn_net(), data, loss=spy, start_lr=1e-4, end_lr=0.1, num_iter=22,
                           diverge_th=float("inf"))
    assert len(result.lrs) == 22 and spy.calls == 22
    assert spy.inputs == [8, 8, 8, 6] * 5 + [8, 8]
    assert data.epoch == 6  # passes started


def test_a_list_of_batches_works_and_a_one_shot_iterator_warns():
    batches = list(loader(shuffle=False))
    result = lr_range_test(bn_net(), batches, start_lr=1e-4, end_lr=0.1, num_iter=12, device="cpu")
    assert len(result.lrs) == 12
    with pytest.warns(RuntimeWarning, match="yielded nothing when restarted after 4 batches"):
        result = lr_range_test(bn_net(), iter(batches), start_lr=1e-4, end_lr=0.1, num_iter=12,
                               device="cpu")
    assert len(result.lrs) == 4 and result.stopped_early and result.diverged_at is None


def test_smoothed_losses_are_the_bias_corrected_average_of_the_raw_ones():
    result = lr_range_test(bn_net(), loader(), start_lr=1e-4, end_lr=1e6, smooth=0.9)
    assert result.losses == smooth_losses(result.raw_losses, 0.9) and result.smooth == 0.9
    raw = [2.0, 1.0, 4.0]
    avg1, avg2, avg3 = 0.1 * 2.0, 0.9 * 0.2 + 0.1 * 1.0, 0.9 * (0.9 * 0.2 + 0.1) + 0.1 * 4.0
    assert smooth_losses(raw, 0.9) == pytest.approx([avg1 / 0.1, avg2 / (1 - 0.81), avg3 / (1 - 0.729)])
    assert smooth_losses(raw, 0.0) == raw
    assert smooth_losses([3.5] * 50, 0.98) == pytest.approx([3.5] * 50)


# ------------------------------------------------------------ suggestion rules on known curves

X0, WIDTH = -2.0, 0.4  # the tanh descent's centre (log10 lr) and width (decades)
LOG_LRS = np.linspace(-7, 1, 101)  # 0.08 decades apart
LRS = 10 ** LOG_LRS
TANH = 1.5 - np.tanh((LOG_LRS - X0) / WIDTH)  # from 2.5 down to 0.5, steepest at X0


def test_steepest_slope_finds_the_centre_of_a_clean_descent():
    assert abs(math.log10(steepest_slope(LRS, TANH)) - X0) <= 0.04 + 1e-9  # half a grid step


@pytest.mark.parametrize("depth", [0.1, 0.25, 0.5, 2 / 3, 0.9])
def test_valley_sits_at_its_depth_of_the_descent(depth):
    # top 2.5 and bottom 0.5: the level is crossed where tanh((x - X0) / w) = 2 depth - 1
    expected = X0 + WIDTH * math.atanh(2 * depth - 1)
    assert math.log10(valley(LRS, TANH, depth=depth)) == pytest.approx(expected, abs=0.01)


def test_default_valley_is_the_steepest_point_of_a_symmetric_descent():
    assert math.log10(valley(LRS, TANH)) == pytest.approx(X0, abs=1e-3)


def test_valley_is_robust_to_noise_where_the_steepest_point_is_not():
    valley_err, steepest_err = [], []
    for seed in range(20):
        noisy = TANH + np.random.default_rng(seed).normal(0, 0.15, TANH.size)
        valley_err.append(abs(math.log10(valley(LRS, noisy)) - X0))
        steepest_err.append(abs(math.log10(steepest_slope(LRS, noisy)) - X0))
    assert max(valley_err) < math.log10(1.5)  # always within a factor of 1.5
    assert sum(e > math.log10(2) for e in steepest_err) >= 3  # off by more than a factor 2 in some


def test_valley_ignores_the_rise_after_the_minimum_and_the_length_of_the_plateau():
    rise = np.where(LOG_LRS > 0, 0.5 + 3 * LOG_LRS, TANH)
    assert math.log10(valley(LRS, rise)) == pytest.approx(X0, abs=1e-3)
    longer = np.concatenate([np.full(200, TANH[0]) + np.linspace(1e-3, 0, 200), TANH])
    lrs = 10 ** np.linspace(-7 - 200 * 0.08, 1, longer.size)
    assert math.log10(valley(lrs, longer)) == pytest.approx(X0, abs=1e-3)


def test_valley_is_not_fooled_by_a_lucky_first_batch():
    lucky = TANH.copy()
    lucky[0] = 0.0  # lower than the whole curve, but no descent leads to it
    assert math.log10(valley(LRS, lucky)) == pytest.approx(X0, abs=1e-3)


def test_slopes_are_taken_against_log_lr():
    lrs = np.linspace(0.01, 10, 200)  # a linear sweep: the points crowd into the last decade
    losses = 1.5 - np.tanh((np.log10(lrs) - 0.5) / 0.6)  # steepest per decade at lr = 10**0.5
    per_index = lrs[np.argmin(np.gradient(losses))]
    assert steepest_slope(lrs, losses, skip_start=1, skip_end=1) == pytest.approx(10 ** 0.5, rel=0.02)
    assert per_index < 1.5  # the slope per point would pick a rate less than half as large


def test_skips_drop_the_ends_of_the_curve():
    losses = TANH.copy()
    losses[3] -= 5  # a cliff in the first 10 %: skipped by default
    assert abs(math.log10(steepest_slope(LRS, losses)) - X0) <= 0.04 + 1e-9
    # central differences put the cliff on the point before it
    assert steepest_slope(LRS, losses, skip_start=0) == pytest.approx(LRS[2])


def test_minimum_over_ten():
    losses = [3.0, 2.0, 1.0, 0.5, 0.5, 2.0]
    lrs = [1e-3, 1e-2, 1e-1, 1.0, 2.0, 3.0]
    assert minimum_over_ten(lrs, losses) == pytest.approx(0.1)  # the first of two equal minima
    assert minimum_over_ten(lrs, sorted(losses)) is None  # lowest at the start: the loss never fell
    lucky = [0.1, 3.0, 2.0, 1.0, 2.0, 3.0]  # one lucky first batch is skipped by default
    assert minimum_over_ten(lrs, lucky) == pytest.approx(0.1)
    assert minimum_over_ten(lrs, lucky, skip_start=0) is None


def test_divergence_half():
    lrs = [0.1, 0.2, 0.4, 0.8, 1.6]
    assert divergence_half(lrs, [1.0, 0.5, 1.9, 2.1, 9.0]) == pytest.approx(0.4)  # 2.1 > 4 * 0.5
    assert divergence_half(lrs, [1.0, 0.5, 1.9, 2.1, 9.0], diverge_th=20) is None
    assert divergence_half(lrs, [1.0, 0.9, 0.8, 0.7, 0.6]) is None
    assert divergence_half(lrs[:2], [1.0, 0.9], diverged_at=3.0) == 1.5


@pytest.mark.parametrize("losses", [[1.0] * 20, list(np.linspace(1, 2, 20)), [2.0, 1.0], []])
def test_rules_that_cannot_decide_return_none(losses):
    lrs = list(np.geomspace(1e-4, 1, len(losses)))
    assert valley(lrs, losses) is None
    assert steepest_slope(lrs, losses) is None
    assert minimum_over_ten(lrs, losses) is None
    assert set(suggest(lrs, losses)) == set(RULES)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=0, max_size=60))
def test_every_rule_stays_in_the_tested_range(losses):
    lrs = np.geomspace(1e-5, 1, len(losses)) if losses else np.array([])
    for rule, rate in suggest(lrs, losses).items():
        if rate is None:
            continue
        low, high = (lrs[0] / 10, lrs[-1] / 10) if rule == "minimum/10" else (lrs[0] / 2, lrs[-1])
        assert low * (1 - 1e-12) <= rate <= high * (1 + 1e-12), rule


# ------------------------------------------------------------ errors

@pytest.mark.parametrize("kw, match", [
    (dict(start_lr=1.0, end_lr=1.0), r"start_lr must be < end_lr .* got start_lr=1.0 and end_lr=1.0"),
    (dict(start_lr=0.5, end_lr=0.1), r"start_lr must be < end_lr"),
    (dict(start_lr=0.0), r"start_lr must be a finite number > 0, got 0.0"),
    (dict(start_lr=-1e-3), r"start_lr must be a finite number > 0"),
    (dict(start_lr=float("nan")), r"start_lr must be a finite number > 0, got nan"),
    (dict(start_lr=True), r"start_lr must be a finite number > 0, got True"),
    (dict(end_lr=float("inf")), r"end_lr must be a finite number > 0, got inf"),
    (dict(end_lr="10"), r"end_lr must be a finite number > 0, got '10'"),
    (dict(num_iter=MIN_ITER - 1), rf"num_iter must be an int >= {MIN_ITER}, got {MIN_ITER - 1}"),
    (dict(num_iter=100.0), r"num_iter must be an int >= 10, got 100.0"),
    (dict(mode="log"), r"mode must be 'exp' or 'linear', got 'log'"),
    (dict(smooth=1.0), r"smooth must be a number in \[0, 1\) .* got 1.0"),
    (dict(smooth=-0.1), r"smooth must be a number in \[0, 1\)"),
    (dict(diverge_th=1.0), r"diverge_th must be a number > 1 .* got 1.0"),
    (dict(diverge_th=float("nan")), r"diverge_th must be a number > 1"),
])
def test_bad_arguments(kw, match):
    net = bn_net()
    before = snapshot(net)
    with pytest.raises(ValueError, match=match):
        lr_range_test(net, loader(), **kw)
    assert_restored(net, None, before)


def test_an_empty_loader():
    with pytest.raises(ValueError, match="train_iter holds no batches"):
        lr_range_test(bn_net(), [], device="cpu")
    with pytest.raises(ValueError, match="train_iter yielded no batches"):
        lr_range_test(bn_net(), iter([]), device="cpu")


def test_an_optimizer_over_other_parameters():
    net, other = bn_net(), bn_net(1)
    before = snapshot(net)
    with pytest.raises(ValueError, match="optimizer holds parameters that are not net's"):
        lr_range_test(net, loader(), optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="optimizer holds parameters that are not net's"):
        lr_range_test(net, loader(), optimizer=lambda params: torch.optim.SGD(other.parameters(), lr=0.1))
    assert_restored(net, None, before)


def test_bad_optimizer_kinds_and_group_rates():
    net = bn_net()
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer or a factory"):
        lr_range_test(net, loader(), optimizer=0.1)
    with pytest.raises(TypeError, match="the optimizer factory must return a torch.optim.Optimizer"):
        lr_range_test(net, loader(), optimizer=lambda params: None)
    opt = torch.optim.SGD([{"params": net[0].parameters(), "lr": 0.0},
                           {"params": net[3].parameters(), "lr": 0.1}])
    with pytest.raises(ValueError, match="group 0's initial lr must be > 0 .* got 0.0"):
        lr_range_test(net, loader(), optimizer=opt)
    with pytest.raises(TypeError, match="net must be a torch.nn.Module"):
        lr_range_test(lambda X: X, loader())


def test_a_loss_non_finite_from_the_first_batch():
    net = bn_net()
    opt = stepped_optimizer(net, "sgd-momentum")
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match=r"non-finite \(nan\) from the first batch.*smaller start_lr"):
        lr_range_test(net, loader(), optimizer=opt, loss=SpyLoss(at=0, value=float("nan")))
    assert_restored(net, opt, before)


@pytest.mark.parametrize("call, match", [
    (lambda: valley([1, 2], [1.0]), r"lrs and losses must be 1-D and of one length"),
    (lambda: valley([1, 1, 2], [3.0, 2.0, 1.0]), r"lrs must be finite, > 0 and strictly increasing"),
    (lambda: steepest_slope([0, 1, 2], [3.0, 2.0, 1.0]), r"lrs must be finite, > 0"),
    (lambda: minimum_over_ten([1, 2, 3], [3.0, float("nan"), 1.0]), r"losses must be finite"),
    (lambda: valley([1, 2, 3], [3.0, 2.0, 1.0], depth=1.0), r"depth must be a number in \(0, 1\)"),
    (lambda: steepest_slope([1, 2, 3], [3.0, 2.0, 1.0], skip_start=-1), r"skip_start must be an int >= 0"),
    (lambda: divergence_half([1, 2], [3.0, 2.0], diverged_at=0.0),
     r"diverged_at must be a finite number > 0"),
    (lambda: divergence_half([1, 2], [3.0, 2.0], diverge_th=0.5), r"diverge_th must be a number > 1"),
    (lambda: smooth_losses([1.0], smooth=1.5), r"smooth must be a number in \[0, 1\)"),
    (lambda: sweep_rates(1e-3, 1.0, 5), r"num_iter must be an int >= 10"),
])
def test_bad_curves_and_rule_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------ result and plot

def diverged_result():
    return lr_range_test(bn_net(), loader(), start_lr=1e-4, end_lr=1e6)


def suggestion_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().split(" (")[0].split(":")[0] in RULES]


def test_result_suggestions_and_repr():
    result = diverged_result()
    assert isinstance(result, LRRangeResult)
    assert list(result.suggestions) == list(RULES) and DEFAULT_RULE == "valley"
    assert result.suggestion == result.suggestions["valley"]
    assert result.suggestions == suggest(result.lrs, result.losses, diverged_at=result.diverged_at)
    assert f"{len(result.lrs)} of 100 steps" in repr(result) and "diverged at" in repr(result)
    with pytest.raises(AttributeError):
        result.diverged_at = None  # frozen


def test_plot_draws_one_marker_per_suggestion():
    result = diverged_result()
    fig = result.plot()
    assert isinstance(fig, PNGFigure) and fig.to_png().startswith(PNG_SIGNATURE)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    present = [name for name, rate in result.suggestions.items() if rate is not None]
    lines = suggestion_lines(ax)
    assert len(lines) == len(present) >= 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("valley (default)") for label in labels) == (result.suggestion is not None)


def test_plot_skips_none_and_draws_on_given_axes():
    result = LRRangeResult(lrs=list(LRS), losses=list(TANH), raw_losses=list(TANH), stopped_early=False,
                           diverged_at=None, suggestions=suggest(LRS, TANH), num_iter=101)
    assert result.suggestions["divergence/2"] is None
    fig = PNGFigure()
    ax = fig.subplots()
    assert result.plot(ax=ax, skip_start=5, skip_end=5) is None
    assert len(suggestion_lines(ax)) == 3
    assert len(ax.get_lines()[0].get_xdata()) == 91
    with pytest.raises(ValueError, match="skip_start \\+ skip_end must leave at least one of the 101"):
        result.plot(skip_start=60, skip_end=41)


def test_rules_are_the_keys_of_suggest_in_order():
    assert RULES == ("valley", "steepest", "minimum/10", "divergence/2")
    assert tuple(suggest(LRS, TANH)) == RULES


def test_plot_highlights_the_chosen_rule():
    result = diverged_result()
    present = [name for name, rate in result.suggestions.items() if rate is not None]
    assert len(present) >= 3
    for highlight in [None] + present:
        ax = result.plot(highlight=highlight).axes[0]
        solid = [line for line in suggestion_lines(ax) if line.get_linestyle() == "-"]
        chosen = highlight or DEFAULT_RULE
        tag = "(default)" if chosen == DEFAULT_RULE else "(chosen)"
        assert [line.get_label() for line in solid] == [f"{chosen} {tag}: {result.suggestions[chosen]:.2g}"]
        assert all(line.get_linestyle() == "--" for line in suggestion_lines(ax) if line not in solid)
    with pytest.raises(ValueError, match=r"highlight must be one of \['valley', 'steepest', 'minimum/10', "
                                         r"'divergence/2'\] \(a rule name\), got 'lowest'"):
        result.plot(highlight="lowest")


# ------------------------------------------------------------ re-smoothing a recorded test

def noisy_tanh_result(smooth=0.9, spike=0.0):
    """A made-up test that ran to its end: the tanh descent, noise, the last 3 losses raised by ``spike``."""
    raw = TANH + np.random.default_rng(3).normal(0, 0.1, TANH.size)
    raw[-3:] += spike
    losses = smooth_losses(raw, smooth)
    return LRRangeResult(lrs=list(LRS), losses=losses, raw_losses=list(raw), stopped_early=False,
                         diverged_at=None, suggestions=suggest(LRS, losses), num_iter=LRS.size, smooth=smooth)


@pytest.mark.parametrize("smooth", [0.0, 0.5, 0.9, 0.995])
def test_with_smoothing_re_smooths_the_recorded_losses_and_re_suggests(smooth):
    result = diverged_result()
    before = copy.deepcopy(result)
    again = result.with_smoothing(smooth)
    assert again.losses == smooth_losses(result.raw_losses, smooth)  # value by value
    assert again.suggestions == suggest(result.lrs, again.losses, diverged_at=result.diverged_at)
    assert again.smooth == smooth and again.suggestions["divergence/2"] == result.diverged_at / 2
    assert (again.lrs, again.raw_losses, again.diverged_at, again.stopped_early, again.num_iter) == \
        (result.lrs, result.raw_losses, result.diverged_at, result.stopped_early, result.num_iter)
    assert result == before  # the original is unchanged
    assert result.with_smoothing(result.smooth) == result  # the test's own smoothing gives it back


def test_less_smoothing_moves_the_suggestions_and_zero_gives_the_raw_losses():
    result = noisy_tanh_result(0.9)
    raw = result.with_smoothing(0)
    assert raw.losses == result.raw_losses and raw.smooth == 0.0
    lighter = result.with_smoothing(0.5)
    assert lighter.suggestions == suggest(LRS, smooth_losses(result.raw_losses, 0.5), diverge_th=math.inf)
    # the heavier average lags behind the rate: its valley sits to the right of the lighter one's
    assert lighter.suggestion < result.suggestion


def test_with_smoothing_does_not_invent_a_divergence():
    result = noisy_tanh_result(0.98, spike=2.5)  # the average hides the spike: no stop
    assert result.suggestions["divergence/2"] is None
    raw = result.with_smoothing(0.0)
    assert divergence_half(raw.lrs, raw.losses) is not None  # a scan of the raw curve would find one
    assert raw.suggestions["divergence/2"] is None and raw.diverged_at is None
    assert len(raw.losses) == len(result.lrs)  # and the curve ends where the test did


@pytest.mark.parametrize("smooth", [1.0, -0.1, float("nan"), "0.9", True])
def test_with_smoothing_rejects_bad_smoothing(smooth):
    match = rf"smooth must be a number in \[0, 1\) .* got {re.escape(repr(smooth))}"
    with pytest.raises(ValueError, match=match):
        noisy_tanh_result().with_smoothing(smooth)


# ---------------------------------------------------------------- fastai's valley, for comparison

def fastai_valley_by_its_description(lrs, losses, num_it):
    """fastai's rule as its documentation and lr_find describe it, written the slow way (O(n^2)):
    drop the first num_it // 10 and the last 5 points, find the longest decreasing run's length
    at each point, take the first point where the longest one ends, go back its length and then
    forward a third plus a sixth of it."""
    lrs, losses = lrs[num_it // 10:len(lrs) - 5], losses[num_it // 10:len(losses) - 5]
    n = len(losses)
    lds = [1] * n
    for i in range(n):
        for j in range(i):
            if losses[i] < losses[j]:
                lds[i] = max(lds[i], lds[j] + 1)
    end = max(range(n), key=lambda i: (lds[i], -i))
    start = end - lds[end]
    return lrs[start + int(lds[end] / 3) + int(lds[end] / 6)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.5, 3.0, allow_nan=False), min_size=40, max_size=120))
def test_fastai_valley_equals_its_description(losses):
    from lrcourse.lr_finder import fastai_valley

    lrs = sweep_rates(1e-7, 10.0, len(losses))
    want = fastai_valley_by_its_description(lrs, losses, len(losses))
    got = fastai_valley(lrs, losses)
    assert got is None or got == want


def test_fastai_valley_on_a_hand_worked_curve():
    from lrcourse.lr_finder import fastai_valley

    lrs = [10.0 ** k for k in range(-6, 4)]          # 10 points
    losses = [2.3, 2.3, 2.2, 2.0, 1.5, 1.0, 0.9, 0.8, 3.0, 9.0]
    # no skips: the longest descent 2.3, 2.2, 2.0, 1.5, 1.0, 0.9, 0.8 has L = 7 and ends at point 7;
    # s = 7 - 7 = 0, so the point is 0 + int(7/3) + int(7/6) = 2 + 1 = 3
    assert fastai_valley(lrs, losses, skip_start=0, skip_end=0) == 1e-3
    assert valley(lrs, losses) > 1e-3  # halfway down in loss (1.55) lies later, between 1.5 and 1.0
    assert fastai_valley(lrs, [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0], skip_start=0, skip_end=0) is None
