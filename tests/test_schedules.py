"""The reference schedules: PyTorch's rates value by value, purity, bad input, ScheduleLR, plots.

Tolerances. The reference schedules use closed forms; PyTorch's ``StepLR``,
``MultiStepLR``, ``ExponentialLR``, ``LinearLR`` and ``CosineAnnealingLR``
update the rate recursively (``lr *= ...`` at every step), so they drift by
about one rounding per step: after at most 400 steps that is ~400 ulp, a
relative error of ~5e-14. ``CosineAnnealingLR``'s ratio form is the worst:
measured over 300 random runs, the error stayed below 5e-14 of
``base_lr - eta_min``, but relative to the rate itself it reached 1.2e-12 as
the rate approaches ``eta_min = 0`` (tiny numbers, same absolute error). So
every comparison with PyTorch uses ``rel=1e-9`` (1000x margin) and an
absolute floor of ``1e-12 * base_lr`` for rates that decay to (almost) 0,
including ``ExponentialLR`` running into the subnormal range.
``OneCycleLR`` is a closed form too; there ``rel=1e-12`` (np.cos vs math.cos).
"""
import io
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.patches import StepPatch
from torch import nn
from torch.optim.lr_scheduler import (CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR,
                                      LambdaLR, LinearLR, MultiStepLR, OneCycleLR, PolynomialLR, SequentialLR,
                                      StepLR)

import tiny
from lrcourse import plot_schedules
from lrcourse.plotting import PNGFigure
from lrcourse.schedules import (WSD, Constant, Cosine, CosineRestarts, Cyclic, Exponential, Factor,
                                InverseSquareRoot, LinearDecay, MultiFactor, OneCycle, Polynomial, Schedule,
                                ScheduleLR, SquareRoot, Step, Warmup, check_t, lr_values)

REL = 1e-9  # see the module docstring
TORCH = settings(max_examples=60, deadline=None)   # each example runs 200-400 PyTorch steps
PURE = settings(max_examples=100, deadline=None)   # NumPy only: cheap
SCHEDULELR = settings(max_examples=40, deadline=None)  # the adapter: any schedule, fewer examples

base_lrs = st.floats(min_value=1e-4, max_value=10.0)
decays = st.one_of(st.just(1.0), st.floats(min_value=0.01, max_value=1.0))
fractions = st.floats(min_value=0.0, max_value=1.0)
num_updates = st.integers(min_value=200, max_value=400)


def torch_rates(make_scheduler, num_updates, base_lr):
    """PyTorch's rates for updates 0..num_updates-1 (see tiny.py), as an array."""
    return np.array(tiny.torch_rates(make_scheduler, num_updates, base_lr))


def assert_close(ours, theirs, base_lr, rel=REL):
    np.testing.assert_allclose(ours, theirs, rtol=rel, atol=1e-12 * base_lr)


# ------------------------------------------------------------ the same rates as PyTorch


@TORCH
@given(base_lr=base_lrs, step_size=st.integers(1, 60), gamma=decays, n=num_updates)
def test_step_matches_steplr(base_lr, step_size, gamma, n):
    ours = Step(base_lr, step_size, gamma).values(range(n))
    theirs = torch_rates(lambda opt: StepLR(opt, step_size=step_size, gamma=gamma), n, base_lr)
    assert_close(ours, theirs, base_lr)


@TORCH
@given(base_lr=base_lrs, factor=decays, n=num_updates,
       milestones=st.lists(st.integers(0, 400), min_size=1, max_size=12, unique=True).map(sorted))
def test_multifactor_matches_multisteplr(base_lr, milestones, factor, n):
    ours = MultiFactor(base_lr, milestones, factor).values(range(n))
    theirs = torch_rates(lambda opt: MultiStepLR(opt, milestones=milestones, gamma=factor), n, base_lr)
    assert_close(ours, theirs, base_lr)


@TORCH
@given(base_lr=base_lrs, gamma=decays, n=num_updates)
def test_exponential_matches_exponentiallr(base_lr, gamma, n):
    ours = Exponential(base_lr, gamma).values(range(n))
    theirs = torch_rates(lambda opt: ExponentialLR(opt, gamma=gamma), n, base_lr)
    assert_close(ours, theirs, base_lr)


@TORCH
@given(base_lr=base_lrs, frac=st.floats(0.0, 0.9), max_update=st.integers(1, 300))
def test_cosine_matches_cosineannealinglr_then_stays_at_final_lr(base_lr, frac, max_update):
    final_lr = base_lr * frac
    schedule = Cosine(base_lr, final_lr, max_update)
    n = max_update + 50
    theirs = torch_rates(lambda opt: CosineAnnealingLR(opt, T_max=max_update, eta_min=final_lr),
                         n, base_lr)
    assert_close(schedule.values(range(max_update + 1)), theirs[:max_update + 1], base_lr)
    # after max_update the reference holds final_lr; PyTorch's cosine comes back up
    assert np.all(schedule.values(range(max_update, n)) == final_lr)
    assert theirs[max_update + 1] > final_lr and theirs[-1] > final_lr


@TORCH
@given(base_lr=base_lrs, final_frac=fractions, begin_frac=st.floats(1e-3, 1.0),
       max_update=st.integers(2, 300), data=st.data())
def test_cosine_with_warmup_matches_linearlr_then_cosineannealinglr(base_lr, final_frac, begin_frac,
                                                                   max_update, data):
    warmup = data.draw(st.integers(1, max_update - 1), label="warmup_steps")
    final_lr, begin_lr = base_lr * final_frac, base_lr * begin_frac
    ours = Cosine(base_lr, final_lr, max_update, warmup_steps=warmup,
                  warmup_begin_lr=begin_lr).values(range(max_update + 1))

    def make(opt):
        return SequentialLR(opt, [LinearLR(opt, start_factor=begin_lr / base_lr, total_iters=warmup),
                                  CosineAnnealingLR(opt, T_max=max_update - warmup, eta_min=final_lr)],
                            milestones=[warmup])

    assert_close(ours, torch_rates(make, max_update + 1, base_lr), base_lr)


@TORCH
@given(base_lr=base_lrs, final_frac=fractions, max_update=st.integers(2, 300), data=st.data())
def test_cosine_warmup_from_zero(base_lr, final_frac, max_update, data):
    """LinearLR cannot start at 0, so the warmup is checked against its formula.

    The cosine after it does not depend on where the warmup began: it equals
    PyTorch's with any start factor.
    """
    warmup = data.draw(st.integers(1, max_update - 1), label="warmup_steps")
    final_lr = base_lr * final_frac
    schedule = Cosine(base_lr, final_lr, max_update, warmup_steps=warmup)
    ours = schedule.values(range(max_update + 1))
    assert ours[0] == 0.0
    np.testing.assert_allclose(ours[:warmup], base_lr * np.arange(warmup) / warmup, rtol=1e-15)
    assert ours[warmup] == pytest.approx(base_lr, rel=1e-15)  # final + (base - final): an ulp off at most

    def make(opt):
        return SequentialLR(opt, [LinearLR(opt, start_factor=0.5, total_iters=warmup),
                                  CosineAnnealingLR(opt, T_max=max_update - warmup, eta_min=final_lr)],
                            milestones=[warmup])

    theirs = torch_rates(make, max_update + 1, base_lr)
    assert_close(ours[warmup:], theirs[warmup:], base_lr)


def test_linearlr_cannot_start_at_zero():
    """Why the warmup from 0 is checked against the formula (PyTorch refuses start_factor=0)."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="greater than 0"):
        LinearLR(opt, start_factor=0.0, total_iters=5)


@PURE
@given(base_lr=base_lrs, final_frac=fractions, begin_frac=fractions, max_update=st.integers(2, 300),
       data=st.data())
def test_warmup_of_cosine_is_cosine_with_warmup(base_lr, final_frac, begin_frac, max_update, data):
    warmup = data.draw(st.integers(1, max_update - 1), label="warmup_steps")
    final_lr, begin_lr = base_lr * final_frac, base_lr * begin_frac
    wrapped = Warmup(Cosine(base_lr, final_lr, max_update - warmup), warmup, begin_lr=begin_lr)
    direct = Cosine(base_lr, final_lr, max_update, warmup_steps=warmup, warmup_begin_lr=begin_lr)
    ts = range(max_update + 50)
    # Warmup rises to inner(0) = final + (base - final) * 1, which can miss base_lr by an ulp
    np.testing.assert_allclose(wrapped.values(ts), direct.values(ts), rtol=1e-13, atol=0)
    assert wrapped(0) == begin_lr and wrapped(max_update + 7) == final_lr


@TORCH
@given(max_lr=base_lrs, total_steps=st.integers(2, 400), pct_start=st.floats(0.01, 0.99),
       div_factor=st.floats(1.0, 100.0), final_div_factor=st.floats(1.0, 1e5),
       anneal=st.sampled_from(["cos", "linear"]))
def test_onecycle_matches_onecyclelr(max_lr, total_steps, pct_start, div_factor, final_div_factor,
                                     anneal):
    assume(pct_start * total_steps > 1)
    schedule = OneCycle(max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal)
    theirs = torch_rates(lambda opt: OneCycleLR(
        opt, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, anneal_strategy=anneal,
        div_factor=div_factor, final_div_factor=final_div_factor), total_steps, max_lr)
    np.testing.assert_allclose(schedule.values(range(total_steps)), theirs, rtol=1e-12, atol=0)
    # the end: PyTorch raises after total_steps; the reference holds the last rate
    final = max_lr / div_factor / final_div_factor
    assert schedule(total_steps - 1) == pytest.approx(final, rel=1e-12)
    assert np.all(schedule.values(range(total_steps, total_steps + 50)) == schedule(total_steps))
    assert schedule(total_steps) == pytest.approx(final, rel=1e-12)


def test_onecycle_shape():
    s = OneCycle(1.0, 100, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
    assert s(0) == pytest.approx(0.1)
    assert s(24) == pytest.approx(1.0)  # the peak sits at pct_start * total_steps - 1
    assert s(99) == pytest.approx(1e-3) and s(1000) == pytest.approx(1e-3)
    rates = s.values(range(100))
    assert np.all(np.diff(rates[:25]) > 0) and np.all(np.diff(rates[24:]) < 0)
    lin = OneCycle(1.0, 101, pct_start=51 / 101, div_factor=10.0, anneal="linear")
    assert lin(25) == pytest.approx(0.1 + 0.9 * 25 / 50)


# ------------------------------------------------------------ schedules for long runs against PyTorch

@TORCH
@given(base_lr=base_lrs, final_frac=fractions, max_update=st.integers(1, 300))
def test_linear_decay_matches_linearlr(base_lr, final_frac, max_update):
    final_lr = base_lr * final_frac
    n = max_update + 30
    ours = LinearDecay(base_lr, max_update, final_lr).values(range(n))
    theirs = torch_rates(lambda opt: LinearLR(opt, start_factor=1.0, end_factor=final_frac, total_iters=max_update),
                         n, base_lr)
    assert_close(ours, theirs, base_lr)


@TORCH
@given(base_lr=base_lrs, max_update=st.integers(1, 300))
def test_linear_decay_to_zero_matches_polynomiallr_of_power_1(base_lr, max_update):
    n = max_update + 30
    theirs = torch_rates(lambda opt: PolynomialLR(opt, total_iters=max_update, power=1.0), n, base_lr)
    assert_close(LinearDecay(base_lr, max_update).values(range(n)), theirs, base_lr)


@TORCH
@given(base_lr=base_lrs, max_update=st.integers(1, 300), power=st.floats(0.1, 4.0))
def test_polynomial_matches_polynomiallr(base_lr, max_update, power):
    n = max_update + 30
    theirs = torch_rates(lambda opt: PolynomialLR(opt, total_iters=max_update, power=power), n, base_lr)
    assert_close(Polynomial(base_lr, max_update, power).values(range(n)), theirs, base_lr)


@TORCH
@given(base_lr=base_lrs, final_frac=fractions, T_0=st.integers(1, 60), T_mult=st.integers(1, 3), n=num_updates)
def test_cosine_restarts_matches_cosineannealingwarmrestarts(base_lr, final_frac, T_0, T_mult, n):
    """Stepped one update at a time (PyTorch's recursion) everywhere; given each epoch (its closed form)
    everywhere but at some cycle starts, where PyTorch's float logarithm rounds into the cycle before."""
    final_lr = base_lr * final_frac
    schedule = CosineRestarts(base_lr, T_0, T_mult, final_lr)

    def make(opt):
        return CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult, eta_min=final_lr)

    ours = schedule.values(range(n))
    assert_close(ours, torch_rates(make, n, base_lr), base_lr)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = make(opt)
    at = []
    for t in range(n):
        sched.step(t)  # the epoch given: PyTorch finds the cycle from T_0 and T_mult
        at.append(opt.param_groups[0]["lr"])
    wrong = {t for t in range(n) if not math.isclose(ours[t], at[t], rel_tol=REL, abs_tol=1e-12 * base_lr)}
    starts = {t for t in range(n) if schedule.cycle(np.array([t]))[0][0] == 0}
    assert wrong <= starts


def test_cosineannealingwarmrestarts_given_the_epoch_can_miss_a_restart():
    """PyTorch's closed form takes ``int(log(t / T_0 * (T_mult - 1) + 1, T_mult))``; at t = 121 with
    T_0 = 1, T_mult = 3 that is log_3(243) = 5 in exact arithmetic and 4.999... in floats, so the rate
    given the epoch is the end of cycle 4 (0) instead of the start of cycle 5 (the peak). Stepping one
    update at a time, and CosineRestarts, give the peak."""
    def rate(step_with_epoch):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=3)
        for t in range(1, 122):
            sched.step(t) if step_with_epoch else sched.step()
        return opt.param_groups[0]["lr"]

    assert CosineRestarts(1.0, 1, 3)(121) == 1.0 and rate(False) == 1.0
    assert rate(True) == 0.0


@TORCH
@given(max_lr=base_lrs, base_frac=fractions, up=st.integers(1, 60), down=st.none() | st.integers(1, 60),
       mode=st.sampled_from(Cyclic.MODES), gamma=st.floats(0.95, 1.0), n=num_updates)
def test_cyclic_matches_cycliclr(max_lr, base_frac, up, down, mode, gamma, n):
    base_lr = max_lr * base_frac
    ours = Cyclic(base_lr, max_lr, up, down, mode, gamma).values(range(n))
    theirs = torch_rates(lambda opt: CyclicLR(opt, base_lr=base_lr, max_lr=max_lr, step_size_up=up,
                                              step_size_down=down, mode=mode, gamma=gamma, cycle_momentum=False),
                         n, base_lr)
    assert_close(ours, theirs, max_lr)


def test_cycliclr_cycles_momentum_even_on_plain_sgd_and_refuses_an_optimizer_without_it():
    """Why Cyclic says it gives the rate only: by default PyTorch's scheduler also moves the momentum,
    between 0.9 and 0.8, and SGD always has a momentum entry, so plain SGD (momentum 0) gets momentum."""
    params = [nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        CyclicLR(torch.optim.Adagrad(params, lr=0.1), base_lr=0.01, max_lr=0.1)
    opt = torch.optim.SGD(params, lr=0.1)  # momentum=0: plain SGD
    sched = CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4)
    momenta = []
    for _ in range(8):
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert max(momenta) == pytest.approx(0.9) and min(momenta) == pytest.approx(0.8)  # max_momentum, base_momentum


def transformers_wsd(step, *, num_warmup_steps, num_stable_steps, num_decay_steps, decay_type, min_lr_ratio):
    """The multiplier of ``transformers.get_wsd_schedule`` (transformers 4.47+, optimization.py), written from
    its documented formula: a linear warmup from ``min_lr_ratio``, 1, then the decay to ``min_lr_ratio``."""
    if step < num_warmup_steps:
        return min_lr_ratio + (1.0 - min_lr_ratio) * step / max(1, num_warmup_steps)
    if step < num_warmup_steps + num_stable_steps:
        return 1.0
    if step < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = (step - num_warmup_steps - num_stable_steps) / max(1, num_decay_steps)
        factor = {"linear": 1.0 - progress, "cosine": 0.5 * (1.0 + math.cos(math.pi * progress)),
                  "1-sqrt": 1.0 - math.sqrt(progress)}[decay_type]
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


@PURE
@given(peak_lr=base_lrs, ratio=fractions, max_update=st.integers(2, 400), decay=st.sampled_from(WSD.DECAYS),
       data=st.data())
def test_wsd_matches_transformers_get_wsd_schedule(peak_lr, ratio, max_update, decay, data):
    w = data.draw(st.integers(0, max_update - 1), label="warmup_steps")
    d = data.draw(st.integers(1, max_update - w), label="decay_steps")
    ours = WSD(peak_lr, max_update, w, d, decay, final_lr=peak_lr * ratio, warmup_begin_lr=peak_lr * ratio)
    theirs = [peak_lr * transformers_wsd(t, num_warmup_steps=w, num_stable_steps=max_update - w - d,
                                         num_decay_steps=d, decay_type=decay, min_lr_ratio=ratio)
              for t in range(max_update + 20)]
    np.testing.assert_allclose(ours.values(range(max_update + 20)), theirs, rtol=1e-12, atol=1e-15 * peak_lr)


@PURE
@given(peak_lr=base_lrs, warmup=st.integers(1, 200), n=num_updates)
def test_inverse_square_root_is_noam_and_transformers_inverse_sqrt(peak_lr, warmup, n):
    d_model = (peak_lr ** -2) / warmup  # so that (d_model * warmup) ** -0.5 = peak_lr
    ours = InverseSquareRoot(peak_lr, warmup).values(range(n))
    noam = [0.0] + [d_model ** -0.5 * min(t ** -0.5, t * warmup ** -1.5) for t in range(1, n)]
    hf = [peak_lr * (t / warmup if t < warmup else 1.0 / math.sqrt(t / warmup)) for t in range(n)]
    np.testing.assert_allclose(ours, noam, rtol=1e-12)
    np.testing.assert_allclose(ours, hf, rtol=1e-12)


@pytest.mark.parametrize("schedule, start, end, at", [
    (LinearDecay(0.8, 10), 0.8, 0.0, 10),
    (LinearDecay(0.8, 10, 0.08), 0.8, 0.08, 10),
    (Polynomial(0.8, 10, 2.0), 0.8, 0.0, 10),
    (WSD(0.8, 10, 2, 3, "linear", 0.08, 0.02), 0.02, 0.08, 10),
    (WSD(0.8, 10, 0, 10, "cosine"), 0.8, 0.0, 10),
    (WSD(0.8, 10, 2, 3, "1-sqrt"), 0.0, 0.0, 10),
    (InverseSquareRoot(0.8, 4), 0.0, 0.4, 16),
], ids=lambda v: repr(v) if isinstance(v, Schedule) else None)
def test_the_start_and_the_end_at_the_stated_update(schedule, start, end, at):
    """No off-by-one: the start at t = 0, the end exactly at the stated update, and held (or the formula) after."""
    assert schedule(0) == pytest.approx(start, abs=1e-15)
    assert schedule(at) == pytest.approx(end, abs=1e-15)
    assert schedule(at - 1) != pytest.approx(end, abs=1e-15)  # not reached an update early


def test_wsd_phases_and_the_cooldown_shapes():
    """The peak from the end of the warmup to the start of the cooldown; the three shapes halfway down."""
    for decay, half in (("linear", 0.5), ("cosine", 0.5), ("1-sqrt", 1 - 0.5 ** 0.5)):
        s = WSD(1.0, 100, 10, 20, decay, final_lr=0.0)
        assert s(9) < 1.0 and s.values(range(10, 81)).tolist() == [1.0] * 71 and s(81) < 1.0
        assert s(90) == pytest.approx(half, rel=1e-12) and s(100) == 0.0 and s(10 ** 6) == 0.0


def test_cosine_restarts_jumps_back_at_each_cycle_start():
    s = CosineRestarts(1.0, 3, 2, 0.1)  # cycles of 3, 6, 12, 24 updates start at 0, 3, 9, 21
    assert [t for t in range(1, 60) if s(t) == 1.0] == [3, 9, 21, 45]
    assert s(20) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 11 / 12)) / 2, rel=1e-14)
    into, length = s.cycle(np.array([0, 2, 3, 8, 9, 20, 21]))
    assert into.tolist() == [0, 2, 0, 5, 0, 11, 0] and length.tolist() == [3, 3, 6, 6, 12, 12, 24]


def test_cyclic_triangles():
    s = Cyclic(0.1, 1.0, 4, 2, "triangular2")  # up 4, down 2: a period of 6, each cycle half as high
    assert s.values([0, 4, 6, 10, 12]).round(12).tolist() == [0.1, 1.0, 0.1, 0.55, 0.1]
    assert Cyclic(0.1, 1.0, 4).values(range(9)).round(12).tolist() == [0.1, 0.325, 0.55, 0.775, 1.0, 0.775,
                                                                       0.55, 0.325, 0.1]


@PURE
@given(base_lr=base_lrs, factor=decays, stop_frac=fractions, n=num_updates)
def test_factor_formula(base_lr, factor, stop_frac, n):
    stop = base_lr * stop_frac
    ours = Factor(base_lr, factor, stop_factor_lr=stop).values(range(n))
    formula = [max(stop, base_lr * factor ** t) for t in range(n)]
    np.testing.assert_allclose(ours, formula, rtol=1e-13, atol=0)
    assert np.all(ours >= stop)


@TORCH
@given(base_lr=base_lrs, factor=decays, stop_frac=fractions, n=num_updates)
def test_factor_matches_lambdalr(base_lr, factor, stop_frac, n):
    stop = base_lr * stop_frac
    ours = Factor(base_lr, factor, stop_factor_lr=stop).values(range(n))
    theirs = torch_rates(lambda opt: LambdaLR(opt, lambda t: max(stop / base_lr, factor ** t)),
                         n, base_lr)
    assert_close(ours, theirs, base_lr)


@PURE
@given(lr=base_lrs, n=num_updates)
def test_square_root_formula(lr, n):
    ours = SquareRoot(lr).values(range(n))
    np.testing.assert_allclose(ours, [lr / math.sqrt(t + 1) for t in range(n)], rtol=1e-14, atol=0)
    assert ours[0] == lr and ours[3] == lr / 2


@pytest.mark.parametrize("lr", [0, 0.0, 0.3, 7])
def test_constant(lr):
    s = Constant(lr)
    assert s(0) == s(10 ** 6) == lr and type(s(5)) is float
    assert np.array_equal(s.values(range(300)), np.full(300, float(lr)))


def test_defaults():
    assert Step(1.0, 2) == Step(1.0, 2, gamma=0.1)
    assert Factor(1.0, 0.5)(100) == 0.5 ** 100  # no floor by default
    assert Cosine(1.0, 0.0, 10) == Cosine(1.0, 0.0, 10, warmup_steps=0, warmup_begin_lr=0.0)
    assert OneCycle(1.0, 10) == OneCycle(1.0, 10, 0.3, 25.0, 1e4, "cos")
    assert Warmup(Constant(1.0), 4)(0) == 0.0


# ------------------------------------------------------------ pure functions of t


KINDS = ("Constant", "SquareRoot", "Factor", "MultiFactor", "Step", "Exponential", "Cosine",
         "Warmup", "OneCycle", "LinearDecay", "Polynomial", "CosineRestarts", "Cyclic", "WSD",
         "InverseSquareRoot")


@st.composite
def schedules(draw, kinds=KINDS):
    """Any reference schedule (of the given kinds) with random valid parameters."""
    kind = draw(st.sampled_from(kinds))
    lr = draw(base_lrs)
    if kind == "Constant":
        return Constant(lr)
    if kind == "SquareRoot":
        return SquareRoot(lr)
    if kind == "Factor":
        return Factor(lr, draw(decays), lr * draw(fractions))
    if kind == "MultiFactor":
        ms = draw(st.lists(st.integers(0, 300), min_size=1, max_size=8, unique=True))
        return MultiFactor(lr, sorted(ms), draw(decays))
    if kind == "Step":
        return Step(lr, draw(st.integers(1, 50)), draw(decays))
    if kind == "Exponential":
        return Exponential(lr, draw(decays))
    T = draw(st.integers(2, 300))
    if kind == "LinearDecay":
        return LinearDecay(lr, T, lr * draw(fractions))
    if kind == "Polynomial":
        return Polynomial(lr, T, draw(st.floats(0.1, 4.0)))
    if kind == "CosineRestarts":
        return CosineRestarts(lr, draw(st.integers(1, 50)), draw(st.integers(1, 3)), lr * draw(fractions))
    if kind == "Cyclic":
        return Cyclic(lr * draw(fractions), lr, draw(st.integers(1, 50)), draw(st.none() | st.integers(1, 50)),
                      draw(st.sampled_from(Cyclic.MODES)), draw(decays))
    if kind == "WSD":
        w = draw(st.integers(0, T - 1))
        return WSD(lr, T, w, draw(st.integers(1, T - w)), draw(st.sampled_from(WSD.DECAYS)), lr * draw(fractions),
                   lr * draw(fractions))
    if kind == "InverseSquareRoot":
        return InverseSquareRoot(lr, draw(st.integers(1, 100)))
    if kind == "Cosine":
        w = draw(st.integers(0, T - 1))
        return Cosine(lr, lr * draw(fractions), T, w, lr * draw(fractions))
    if kind == "Warmup":
        return Warmup(Cosine(lr, lr * draw(fractions), T), draw(st.integers(1, 50)),
                      lr * draw(fractions))
    pct = draw(st.floats(0.01, 0.99))
    assume(pct * T > 1)
    return OneCycle(lr, T, pct, draw(st.floats(1, 100)), draw(st.floats(1, 1e5)),
                    draw(st.sampled_from(["cos", "linear"])))


ts_lists = st.lists(st.integers(0, 500), max_size=60)


@PURE
@given(schedule=schedules(), ts=ts_lists, data=st.data())
def test_same_t_same_value_whatever_came_before(schedule, ts, data):
    twin = eval(repr(schedule))  # an equal schedule, never used before
    expected = {t: twin(t) for t in set(ts) | {0, 1, 499}}
    before = repr(schedule)
    for _ in range(3):
        for t in data.draw(st.permutations(ts), label="order"):
            assert schedule(t) == expected[t]
        schedule.values(data.draw(ts_lists, label="other ts"))  # values() between calls
        assert schedule(499) == expected[499] and schedule(0) == expected[0]
    assert repr(schedule) == before and schedule == twin  # nothing was stored


@PURE
@given(schedule=schedules(), ts=ts_lists)
def test_values_equals_calls(schedule, ts):
    """Bit for bit, also for the schedules built on ``**`` (NumPy's SIMD power on arrays)."""
    values = schedule.values(ts)
    assert values.dtype == np.float64 and values.shape == (len(ts),)
    expected = [schedule(t) for t in ts]
    assert np.array_equal(values, expected)
    assert np.array_equal(schedule.values(np.array(ts, dtype=np.int32)), values)
    assert np.array_equal(schedule.values(iter(ts)), values)
    assert np.array_equal(lr_values(schedule, ts), values)
    assert all(type(schedule(t)) is float for t in ts[:5])


DECAY_GRID = np.linspace(0.01, 0.99, 200).tolist()


@pytest.mark.parametrize("make", [
    lambda g: SquareRoot(g), lambda g: Exponential(1.0, g), lambda g: Step(0.3, 1, g),
    lambda g: Factor(0.3, g, 1e-12), lambda g: MultiFactor(0.3, range(1, 60, 2), g),
], ids=["SquareRoot", "Exponential", "Step", "Factor", "MultiFactor"])
def test_power_schedules_values_equal_calls_bit_for_bit(make):
    ts = range(60)
    mismatches = [(g, t) for g in DECAY_GRID for s in [make(g)]
                  for t, v in zip(ts, s.values(ts)) if v != s(t)]
    assert mismatches == []


def test_values_of_an_empty_sequence():
    for ts in ([], (), range(0), np.array([], dtype=np.int64)):
        out = Cosine(1.0, 0.0, 10).values(ts)
        assert out.shape == (0,) and out.dtype == np.float64


def test_values_returns_a_fresh_writable_array():
    s = Constant(0.5)
    a = s.values(range(4))
    a[0] = 99.0
    assert s(0) == 0.5 and s.values(range(4))[0] == 0.5


def test_numpy_ints_are_update_counts():
    s = Exponential(1.0, 0.5)
    assert s(np.int64(3)) == s(np.uint8(3)) == s(3) == 0.125
    assert check_t(np.int32(4)) == 4 and type(check_t(np.int32(4))) is int


def test_lr_values_of_a_plain_function():
    calls = []

    def f(t):
        calls.append(t)
        return 0.1 / (t + 1)

    out = lr_values(f, range(5))
    assert np.array_equal(out, [0.1 / (t + 1) for t in range(5)]) and out.dtype == np.float64
    assert calls == [0, 1, 2, 3, 4] and all(type(t) is int for t in calls)
    assert np.array_equal(lr_values(lambda t: 2 * t, np.array([3, 1], dtype=np.int16)), [6.0, 2.0])
    assert lr_values(lambda t: 1.0, []).shape == (0,)


def test_warmup_of_a_plain_function():
    s = Warmup(lambda t: 0.1 / (t + 1), 4, begin_lr=0.02)
    expected = [0.02, 0.04, 0.06, 0.08, 0.1, 0.05, 0.1 / 3]
    assert np.allclose(s.values(range(7)), expected, rtol=1e-15)
    assert np.array_equal(s.values([6, 0, 6, 4]), [s(6), s(0), s(6), s(4)])
    assert s(5) == 0.05


def test_repr_and_equality():
    s = Cosine(0.1, 0.0, 10, warmup_steps=2)
    assert repr(s) == ("Cosine(base_lr=0.1, final_lr=0.0, max_update=10, warmup_steps=2, "
                       "warmup_begin_lr=0.0)")
    assert repr(MultiFactor(1, np.array([1, 5]), 0.5)) == \
        "MultiFactor(base_lr=1.0, milestones=(1, 5), factor=0.5)"
    assert repr(Warmup(Constant(0.5), 3)) == \
        "Warmup(schedule=Constant(lr=0.5), warmup_steps=3, begin_lr=0.0)"
    assert s == Cosine(0.1, 0, 10, 2) and s != Cosine(0.1, 0.0, 10, warmup_steps=3)
    assert MultiFactor(1.0, [1, 5], 0.5) == MultiFactor(1.0, (1, 5), 0.5)
    assert Constant(0.1) != SquareRoot(0.1)  # same fields, other formula
    assert Constant(0.1) != 0.1 and Constant(0.1) != "Constant(lr=0.1)"
    assert Warmup(Constant(0.5), 3) == Warmup(Constant(0.5), 3)
    assert Warmup(Constant(0.5), 3) != Warmup(Constant(0.4), 3)
    with pytest.raises(TypeError):  # compared by value, so unhashable
        hash(Constant(0.1))


@PURE
@given(schedule=schedules())
def test_repr_round_trips(schedule):
    again = eval(repr(schedule))
    assert again == schedule and type(again) is type(schedule)


# ------------------------------------------------------------ bad arguments

BAD_RATES = [-0.1, -1, math.nan, math.inf, -math.inf, True, "0.1", None]
RATE_ARGS = [  # (constructor, valid arguments, the rate argument)
    (Constant, {}, "lr"),
    (SquareRoot, {}, "lr"),
    (Factor, dict(factor=0.5), "base_lr"),
    (Factor, dict(base_lr=1.0, factor=0.5), "stop_factor_lr"),
    (MultiFactor, dict(milestones=[2], factor=0.5), "base_lr"),
    (Step, dict(step_size=2), "base_lr"),
    (Exponential, dict(gamma=0.5), "base_lr"),
    (Cosine, dict(final_lr=0.0, max_update=10), "base_lr"),
    (Cosine, dict(base_lr=1.0, max_update=10), "final_lr"),
    (Cosine, dict(base_lr=1.0, final_lr=0.0, max_update=10, warmup_steps=2), "warmup_begin_lr"),
    (Warmup, dict(schedule=Constant(1.0), warmup_steps=2), "begin_lr"),
    (OneCycle, dict(total_steps=10), "max_lr"),
    (LinearDecay, dict(max_update=10), "base_lr"),
    (LinearDecay, dict(base_lr=1.0, max_update=10), "final_lr"),
    (Polynomial, dict(max_update=10), "base_lr"),
    (CosineRestarts, dict(T_0=10), "base_lr"),
    (CosineRestarts, dict(base_lr=1.0, T_0=10), "final_lr"),
    (Cyclic, dict(max_lr=1.0), "base_lr"),
    (Cyclic, dict(base_lr=0.0), "max_lr"),
    (WSD, dict(max_update=10, warmup_steps=2, decay_steps=2), "peak_lr"),
    (WSD, dict(peak_lr=1.0, max_update=10, warmup_steps=2, decay_steps=2), "final_lr"),
    (WSD, dict(peak_lr=1.0, max_update=10, warmup_steps=2, decay_steps=2), "warmup_begin_lr"),
    (InverseSquareRoot, dict(warmup_steps=10), "peak_lr"),
]
DECAY_ARGS = [(Factor, dict(base_lr=1.0), "factor"),
              (MultiFactor, dict(base_lr=1.0, milestones=[2]), "factor"),
              (Step, dict(base_lr=1.0, step_size=2), "gamma"),
              (Exponential, dict(base_lr=1.0), "gamma"),
              (Cyclic, dict(base_lr=0.1, max_lr=1.0, mode="exp_range"), "gamma")]
BAD_DECAYS = [0, 0.0, -0.5, 1.0000001, 1.5, 2, math.nan, math.inf, True, "0.5", None]


def _rate_cases():
    for make, kwargs, name in RATE_ARGS:
        for value in BAD_RATES:
            yield pytest.param(make, {**kwargs, name: value}, rf"^{name} must be a finite number >= 0",
                               id=f"{make.__name__}-{name}={value!r}")
    for make, kwargs, name in DECAY_ARGS:
        for value in BAD_DECAYS:
            yield pytest.param(make, {**kwargs, name: value}, rf"^{name} must be a number in \(0, 1\]",
                               id=f"{make.__name__}-{name}={value!r}")


def call(schedule):
    """``schedule(t)`` as a constructor-like function of keyword arguments."""
    return lambda **kw: schedule(**kw)


def values(schedule):
    return lambda **kw: schedule.values(**kw)


T_MSG = r"^t \(the update count\) must be an int (>= 0|in \[0, )"
TS_MSG = r"^ts must be a 1-D sequence of ints (>= 0|in \[0, )"
MILESTONES_MSG = r"^milestones must be a non-empty sequence of ints >= 0"
INCREASING_MSG = r"^milestones must be strictly increasing"
NOT_A_SCHEDULE_MSG = r"^schedule must be a schedule t -> lr"
COSINE = dict(base_lr=1.0, final_lr=0.0, max_update=10)
ONECYCLE = dict(max_lr=1.0, total_steps=10)


def multifactor(milestones):
    return MultiFactor, dict(base_lr=1.0, milestones=milestones, factor=0.5)


CASES = [
    *_rate_cases(),
    # floors and ceilings relative to another argument
    (Factor, dict(base_lr=0.1, factor=0.5, stop_factor_lr=0.2),
     r"^stop_factor_lr must be in \[0, base_lr=0.1\]"),
    (Cosine, dict(base_lr=0.1, final_lr=0.2, max_update=10), r"^final_lr must be in \[0, base_lr=0.1\]"),
    (Cosine, dict(base_lr=0.1, final_lr=0.0, max_update=10, warmup_steps=2, warmup_begin_lr=0.2),
     r"^warmup_begin_lr must be in \[0, base_lr=0.1\]"),
    # milestones: unsorted, duplicate, negative, not ints, empty, not a sequence
    *[(*multifactor(ms), INCREASING_MSG) for ms in ([5, 2], [2, 2], [1, 3, 3], [0, 4, 1])],
    *[(*multifactor(ms), MILESTONES_MSG)
      for ms in ([-1, 2], [1.0, 2], [1, 2.5], [True], ["3"], [1, None], [], (), "12")],
    *[(*multifactor(ms), r"^milestones must be a sequence of ints >= 0") for ms in (5, None, 2.5)],
    # counts
    *[(Step, dict(base_lr=1.0, step_size=v), r"^step_size must be an int >= 1")
      for v in (0, -1, 2.0, 1.5, True, "2", None)],
    *[(Cosine, {**COSINE, "max_update": v}, r"^max_update must be an int >= 1")
      for v in (0, -5, 10.0, True, "10", None)],
    *[(Cosine, {**COSINE, "warmup_steps": v}, r"^warmup_steps must be an int >= 0")
      for v in (-1, 2.0, True, "2")],
    *[(Cosine, {**COSINE, "warmup_steps": v}, r"^warmup_steps must be in \[0, max_update=10\)")
      for v in (10, 11, 1000)],
    (Cosine, {**COSINE, "max_update": 1, "warmup_steps": 1}, r"^warmup_steps must be in \[0, max_update=1\)"),
    # Warmup
    *[(Warmup, dict(schedule=v, warmup_steps=2), NOT_A_SCHEDULE_MSG)
      for v in (0.1, None, "cosine", [0.1, 0.2])],
    *[(Warmup, dict(schedule=f, warmup_steps=2), r"^schedule\(0\) must be a finite number >= 0")
      for f in (lambda t: -0.1, lambda t: math.nan, lambda t: math.inf, lambda t: True,
                lambda t: "0.1", lambda t: None)],
    (Warmup, dict(schedule=Constant(0.1), warmup_steps=2, begin_lr=0.2),
     r"^begin_lr must be in \[0, schedule\(0\)=0.1\]"),
    (Warmup, dict(schedule=lambda t: 0.0, warmup_steps=2, begin_lr=1e-9),
     r"^begin_lr must be in \[0, schedule\(0\)=0.0\]"),
    *[(Warmup, dict(schedule=Constant(0.1), warmup_steps=v), r"^warmup_steps must be an int >= 1")
      for v in (0, -1, 2.0, True, None)],
    # OneCycle
    *[(OneCycle, {**ONECYCLE, "pct_start": v}, r"^pct_start must be a number in \(0, 1\)")
      for v in (0, 0.0, 1, 1.0, -0.1, 1.5, math.nan, True, "0.3", None)],
    *[(OneCycle, dict(max_lr=1.0, total_steps=n, pct_start=p), r"^pct_start \* total_steps must be > 1")
      for n, p in ((10, 0.1), (10, 0.05), (2, 0.3), (2, 0.5), (1000, 0.001))],
    *[(OneCycle, {**ONECYCLE, name: v}, rf"^{name} must be a finite number >= 1")
      for name in ("div_factor", "final_div_factor")
      for v in (0.5, 0, -2.0, math.nan, math.inf, True, "25", None)],
    *[(OneCycle, {**ONECYCLE, "anneal": v}, r"^anneal must be 'cos' or 'linear'")
      for v in ("cubic", "COS", "", None, 1)],
    *[(OneCycle, {**ONECYCLE, "total_steps": v}, r"^total_steps must be an int >= 2")
      for v in (1, 0, -3, 10.0, True, "10", None)],
    # the schedules for long runs
    (LinearDecay, dict(base_lr=0.1, max_update=10, final_lr=0.2), r"^final_lr must be in \[0, base_lr=0.1\], got 0.2$"),
    *[(make, {**kw, "max_update": v}, r"^max_update must be an int >= 1, got ")
      for make, kw in ((LinearDecay, dict(base_lr=1.0)), (Polynomial, dict(base_lr=1.0)),
                       (WSD, dict(peak_lr=1.0, warmup_steps=0, decay_steps=1)))
      for v in (0, -1, 10.0, True, "10", None)],
    *[(Polynomial, dict(base_lr=1.0, max_update=10, power=v), r"^power must be a finite number > 0, got ")
      for v in (0, 0.0, -1.0, math.nan, math.inf, True, "2", None)],
    *[(CosineRestarts, dict(base_lr=1.0, T_0=v), r"^T_0 must be an int >= 1, got ") for v in (0, -2, 10.0, True, None)],
    *[(CosineRestarts, dict(base_lr=1.0, T_0=10, T_mult=v), r"^T_mult must be an int >= 1, got ")
      for v in (0, -1, 1.5, 2.0, True, None)],
    (CosineRestarts, dict(base_lr=0.1, T_0=10, final_lr=0.5), r"^final_lr must be in \[0, base_lr=0.1\], got 0.5$"),
    (Cyclic, dict(base_lr=0.5, max_lr=0.1), r"^base_lr must be in \[0, max_lr=0.1\] \(the bottom of the cycle\), got 0.5$"),
    *[(Cyclic, dict(base_lr=0.1, max_lr=1.0, step_size_up=v), r"^step_size_up must be an int >= 1, got ")
      for v in (0, -1, 2.0, True, None)],
    *[(Cyclic, dict(base_lr=0.1, max_lr=1.0, step_size_down=v), r"^step_size_down must be an int >= 1 or None, got ")
      for v in (0, -1, 2.0, True)],
    *[(Cyclic, dict(base_lr=0.1, max_lr=1.0, mode=v),
       r"^mode must be one of \('triangular', 'triangular2', 'exp_range'\), got ") for v in ("exp", "", None, 1)],
    *[(WSD, dict(peak_lr=1.0, max_update=10, warmup_steps=v, decay_steps=2), r"^warmup_steps must be an int >= 0, got ")
      for v in (-1, 2.0, True, None)],
    *[(WSD, dict(peak_lr=1.0, max_update=10, warmup_steps=2, decay_steps=v), r"^decay_steps must be an int >= 1, got ")
      for v in (0, -1, 2.0, True, None)],
    *[(WSD, dict(peak_lr=1.0, max_update=10, warmup_steps=w, decay_steps=d),
       rf"^warmup_steps \+ decay_steps must be <= max_update=10, got {w} \+ {d}$") for w, d in ((9, 2), (0, 11), (5, 6))],
    *[(WSD, dict(peak_lr=1.0, max_update=10, warmup_steps=2, decay_steps=2, decay=v),
       r"^decay must be one of \('linear', 'cosine', '1-sqrt'\), got ") for v in ("sqrt", "Linear", None)],
    (WSD, dict(peak_lr=0.1, max_update=10, warmup_steps=2, decay_steps=2, final_lr=0.2),
     r"^final_lr must be in \[0, peak_lr=0.1\], got 0.2$"),
    (WSD, dict(peak_lr=0.1, max_update=10, warmup_steps=2, decay_steps=2, warmup_begin_lr=0.2),
     r"^warmup_begin_lr must be in \[0, peak_lr=0.1\], got 0.2$"),
    *[(InverseSquareRoot, dict(peak_lr=1.0, warmup_steps=v), r"^warmup_steps must be an int >= 1, got ")
      for v in (0, -1, 2.0, True, None)],
    # the update count
    *[pytest.param(call(s), dict(t=v), T_MSG, id=f"{type(s).__name__}(t={v!r})")
      for s in (Constant(0.1), Cosine(1.0, 0.0, 10), Warmup(lambda t: 0.1, 2))
      for v in (-1, -100, 1.0, 0.0, np.float64(2.0), True, False, "1", None, [1])],
    *[pytest.param(call(s), dict(t=v), T_MSG, id=f"{type(s).__name__}(t={v})")
      for s in (Constant(0.1), Exponential(1.0, 0.5)) for v in (2 ** 62 + 1, 2 ** 63, 10 ** 30)],
    *[pytest.param(values(Step(1.0, 1, 0.5)), dict(ts=v), TS_MSG, id=f"values(huge {i})")
      for i, v in enumerate(([0, 2 ** 62 + 1], [2 ** 63], np.array([2 ** 63], dtype=np.uint64),
                             [10 ** 30]))],
    *[pytest.param(values(s), dict(ts=v), TS_MSG, id=f"{type(s).__name__}.values({v!r})")
      for s in (Constant(0.1), Step(1.0, 2), Warmup(lambda t: 0.1, 2))
      for v in ([0, -1], [-5], [0, 1.5], [1.0], np.array([0.0, 1.0]), [True, False], ["a"],
                [[0, 1], [2, 3]], [0, None], "abc")],
    *[pytest.param(values(Step(1.0, 2)), dict(ts=v), TS_MSG, id=f"values({v!r})")
      for v in (5, None)],
    (lr_values, dict(schedule=lambda t: 0.1, ts=[0, -1]), TS_MSG),
    (lr_values, dict(schedule=lambda t: 0.1, ts=[0.5]), TS_MSG),
    (lr_values, dict(schedule=Constant(0.1), ts=[2.0]), TS_MSG),
    pytest.param(lr_values, dict(schedule=lambda t: 0.1, ts=3), TS_MSG,
                 id="lr_values(f, 3)"),
    *[(lr_values, dict(schedule=v, ts=[0]), NOT_A_SCHEDULE_MSG) for v in (0.1, None, "cosine")],
]


@pytest.mark.parametrize("make, kwargs, message", CASES)
def test_bad_argument(make, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        make(**kwargs)
    assert type(info.value) is ValueError  # not a subclass from deeper down


@pytest.mark.parametrize("schedule, limit", [
    (Constant(0.3), 0.3), (SquareRoot(1.0), 2.0 ** -31), (Factor(1.0, 0.5, 0.01), 0.01),
    (MultiFactor(1.0, [1, 10 ** 12], 0.5), 0.25), (Step(1.0, 1, 0.5), 0.0), (Exponential(1.0, 1.0), 1.0),
    (Cosine(0.5, 0.1, 10, 2), 0.1), (Warmup(Cosine(0.5, 0.1, 10), 3), 0.1),
    (OneCycle(1.0, 10, div_factor=10.0, final_div_factor=100.0), 1e-3), (LinearDecay(1.0, 10, 0.1), 0.1),
    (Polynomial(1.0, 10, 2.0), 0.0), (WSD(1.0, 10, 2, 3, final_lr=0.1), 0.1),
    (InverseSquareRoot(1.0, 4), 2.0 ** -30), (CosineRestarts(1.0, 1), 1.0),
    (CosineRestarts(1.0, 3, 2, 0.1), 0.1 + 0.9 * (1 + math.cos(math.pi * (2 ** 62 - 3 * (2 ** 60 - 1)) / (3 * 2 ** 60))) / 2),
    (Cyclic(0.1, 1.0, 2), 0.1)], ids=lambda v: type(v).__name__)
def test_the_largest_update_count(schedule, limit):
    """t up to 2**62 gives the schedule's limit (int64 inside); beyond that, a ValueError above."""
    assert schedule(2 ** 62) == pytest.approx(limit, rel=1e-12)
    assert schedule.values([0, 2 ** 62]).tolist() == [schedule(0), schedule(2 ** 62)]


# ------------------------------------------------------------ ScheduleLR


def schedule_lr_rates(schedule, n, group_lrs=(0.5,), momentum=0.0):
    """Every group's rate before each of n updates of an optimizer driven by ScheduleLR."""
    params = [nn.Parameter(torch.zeros(1)) for _ in group_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)],
                          lr=group_lrs[0], momentum=momentum)
    sched = ScheduleLR(opt, schedule)
    rates = []
    for _ in range(n):
        rates.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(rates), sched


@SCHEDULELR
@given(schedule=schedules(), n=st.integers(1, 250))
def test_schedulelr_follows_the_schedule(schedule, n):
    rates, sched = schedule_lr_rates(schedule, n)
    assert rates[:, 0].tolist() == [schedule(t) for t in range(n)]  # exactly
    assert sched.get_last_lr() == [schedule(n)] and sched.last_epoch == n


def test_schedulelr_with_a_plain_function():
    rates, _ = schedule_lr_rates(lambda t: 0.1 / (t + 1), 20)
    assert rates[:, 0].tolist() == [0.1 / (t + 1) for t in range(20)]


@SCHEDULELR
@given(schedule=schedules(), ratios=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=4))
def test_schedulelr_keeps_every_groups_ratio_to_group_0(schedule, ratios):
    n, lr0 = 100, 0.5
    rates, _ = schedule_lr_rates(schedule, n, group_lrs=(lr0, *[lr0 * r for r in ratios]))
    expected = np.array([schedule(t) for t in range(n)])
    assert np.array_equal(rates[:, 0], expected)
    for i, ratio in enumerate(ratios, start=1):  # ratio = (lr0 * r) / lr0: r to an ulp
        np.testing.assert_allclose(rates[:, i], expected * ratio, rtol=1e-14, atol=1e-300)


def test_schedulelr_groups_at_update_0():
    rates, _ = schedule_lr_rates(Constant(0.2), 2, group_lrs=(0.4, 0.1, 0.0))
    assert rates.tolist() == [[0.2, 0.05, 0.0]] * 2


def _train(opt, sched, params, steps):
    """A few SGD steps with fixed gradients; returns the rates used."""
    rates = []
    for k in steps:
        rates.append(opt.param_groups[0]["lr"])
        for i, p in enumerate(params):
            p.grad = torch.full_like(p, math.sin(k + i))
        opt.step()
        sched.step()
    return rates


def _setup():
    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(2))]
    opt = torch.optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.05}],
                          lr=0.2, momentum=0.9)
    return params, opt


@pytest.mark.parametrize("k", [1, 3, 7, 12])
def test_schedulelr_state_dict_round_trip_continues_exactly(k):
    """Save after k updates, restore into a fresh optimizer and ScheduleLR, finish: as if never stopped."""
    schedule = Cosine(0.2, 0.01, 15, warmup_steps=3, warmup_begin_lr=0.02)
    n = 20
    straight_params, opt = _setup()
    straight = _train(opt, ScheduleLR(opt, schedule), straight_params, range(n))
    assert straight == schedule.values(range(n)).tolist()

    params, opt = _setup()
    sched = ScheduleLR(opt, schedule)
    first = _train(opt, sched, params, range(k))
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    params2, opt2 = _setup()  # fresh objects, then the saved state
    sched2 = ScheduleLR(opt2, schedule)
    with torch.no_grad():
        for p, saved in zip(params2, state["params"]):
            p.copy_(saved)
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    rest = _train(opt2, sched2, params2, range(k, n))
    assert first + rest == straight
    assert all(torch.equal(a, b) for a, b in zip(params2, straight_params))  # momentum restored too
    assert [g["lr"] for g in opt2.param_groups] == pytest.approx([schedule(n), schedule(n) / 4],
                                                                  rel=1e-15)


def test_schedulelr_state_dict_holds_counters_only():
    _, opt = _setup()
    sched = ScheduleLR(opt, Step(0.2, 2, 0.5))
    opt.step()
    sched.step()
    state = sched.state_dict()
    assert "schedule" not in state and "optimizer" not in state
    assert state["last_epoch"] == 1 and state["base_lrs"] == [0.2, 0.05]
    other = ScheduleLR(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.2), Constant(0.3))
    other.load_state_dict({**state, "schedule": "ignored"})
    assert other.schedule == Constant(0.3) and other.last_epoch == 1


def test_schedulelr_resumes_when_built_after_loading_the_optimizer():
    schedule, k, n = Cosine(0.2, 0.01, 15, warmup_steps=3, warmup_begin_lr=0.02), 7, 12
    params, opt = _setup()
    sched = ScheduleLR(opt, schedule)
    first = _train(opt, sched, params, range(k))
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    params2, opt2 = _setup()
    opt2.load_state_dict(opt_state)
    sched2 = ScheduleLR(opt2, schedule)
    sched2.load_state_dict(sched_state)
    rest = _train(opt2, sched2, params2, range(k, n))
    assert first + rest == schedule.values(range(n)).tolist()


def test_builtin_scheduler_resumes_when_built_after_loading_the_optimizer():
    """PyTorch's own schedulers resume in this order too."""
    k, n = 7, 12
    params, opt = _setup()
    sched = StepLR(opt, step_size=3, gamma=0.5)
    first = _train(opt, sched, params, range(k))
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    params2, opt2 = _setup()
    opt2.load_state_dict(opt_state)
    sched2 = StepLR(opt2, step_size=3, gamma=0.5)
    sched2.load_state_dict(sched_state)
    rest = _train(opt2, sched2, params2, range(k, n))
    assert first + rest == Step(0.2, 3, 0.5).values(range(n)).tolist()


def _opt(*lrs):
    return torch.optim.SGD([{"params": [nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs],
                           lr=0.1)


@pytest.mark.parametrize("make, message", [
    (lambda: ScheduleLR([nn.Parameter(torch.zeros(1))], Constant(0.1)),
     r"^optimizer must be a torch.optim.Optimizer"),
    (lambda: ScheduleLR(None, Constant(0.1)), r"^optimizer must be a torch.optim.Optimizer, got NoneType"),
    (lambda: ScheduleLR(0, Constant(0.1)), r"^optimizer must be a torch.optim.Optimizer, got int"),
    (lambda: ScheduleLR(_opt(0.1), 0.1), r"^schedule must be a schedule t -> lr"),
    (lambda: ScheduleLR(_opt(0.1), None), r"^schedule must be a schedule t -> lr"),
    (lambda: ScheduleLR(_opt(0.0, 0.1), Constant(0.1)), r"group 0's initial lr must be > 0"),
    (lambda: ScheduleLR(_opt(0.1), lambda t: -0.1), r"^schedule\(0\) must return a finite number >= 0"),
    (lambda: ScheduleLR(_opt(0.1), lambda t: math.nan), r"^schedule\(0\) must return a finite number >= 0"),
    (lambda: ScheduleLR(_opt(0.1), lambda t: True), r"^schedule\(0\) must return a finite number >= 0"),
    (lambda: ScheduleLR(_opt(0.1), lambda t: "0.1"), r"^schedule\(0\) must return a finite number >= 0"),
], ids=["params", "None", "int", "float-schedule", "None-schedule", "group0-zero", "negative", "nan",
        "bool", "str"])
def test_schedulelr_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_schedulelr_schedule_turning_negative_later():
    opt = _opt(0.1)
    sched = ScheduleLR(opt, lambda t: 0.1 - 0.04 * t)
    opt.step()
    sched.step()
    opt.step()
    sched.step()
    opt.step()
    with pytest.raises(ValueError, match=r"^schedule\(3\) must return a finite number >= 0, got -0\.0"):
        sched.step()


def test_schedulelr_one_group_at_zero_is_fine():
    opt = _opt(0.0)
    ScheduleLR(opt, Constant(0.3))
    assert opt.param_groups[0]["lr"] == 0.3


# ------------------------------------------------------------ plot_schedules


def stairs(ax):
    return [p for p in ax.patches if isinstance(p, StepPatch)]


def test_plot_schedules_one_stairs_per_schedule():
    table = {"cosine": Cosine(0.5, 0.01, 20, warmup_steps=3), "step": Step(0.5, 5, 0.5),
             "lambda": lambda t: 0.4 / (t + 1)}
    fig = plot_schedules(table, 25, title="three")
    assert isinstance(fig, PNGFigure)
    (ax,) = fig.axes
    artists = stairs(ax)
    assert len(artists) == 3
    for artist, (label, schedule) in zip(artists, table.items()):
        data = artist.get_data()
        assert np.array_equal(data.values, lr_values(schedule, range(25)))
        assert np.array_equal(data.edges, np.arange(26))
        assert artist.get_label() == label
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(table)
    assert tuple(ax.get_xlim()) == (0, 25) and ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "learning rate" and ax.get_title() == "three"
    assert fig.to_png().startswith(b"\x89PNG")


def test_plot_schedules_one_schedule_options_and_given_axes():
    s = Exponential(1.0, 0.9)
    fig = plot_schedules({0.9: s}, 10, xlabel="step", yscale="log")
    (ax,) = fig.axes
    assert ax.get_legend() is None and ax.get_yscale() == "log" and ax.get_xlabel() == "step"
    assert stairs(ax)[0].get_label() == "0.9"
    assert np.array_equal(stairs(ax)[0].get_data().values, s.values(range(10)))
    outer = PNGFigure()
    ax = outer.subplots()
    assert plot_schedules({"a": s, "b": Constant(0.5)}, 1, ax=ax) is None
    assert [a.get_data().values.tolist() for a in stairs(ax)] == [[1.0], [0.5]]
    assert s == Exponential(1.0, 0.9)  # drawing never changes a schedule


def test_plot_schedules_errors():
    with pytest.raises(ValueError, match=r"^schedules must hold at least one schedule"):
        plot_schedules({}, 10)
    for n in (0, -1, 2.5, True, "10", None):
        with pytest.raises(ValueError, match=r"^num_updates must be an int >= 1"):
            plot_schedules({"c": Constant(0.1)}, n)


def test_every_schedule_is_a_schedule():
    for s in (Constant(0.1), SquareRoot(0.1), Factor(0.1, 0.5), MultiFactor(0.1, [1], 0.5),
              Step(0.1, 1), Exponential(0.1, 0.5), Cosine(0.1, 0.0, 3), Warmup(Constant(0.1), 1),
              OneCycle(0.1, 10)):
        assert isinstance(s, Schedule) and callable(s)


def test_schedulelr_load_state_dict_fills_a_tensor_rate_in_place():
    """As PyTorch's schedulers update a tensor lr: the same tensor, the resumed update's value."""
    schedule = Step(0.2, 2, 0.5)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=torch.tensor(0.2))
    sched = ScheduleLR(opt, schedule)
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=torch.tensor(0.2))
    sched2 = ScheduleLR(opt2, schedule)
    tensor = opt2.param_groups[0]["lr"]
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] is tensor and isinstance(tensor, torch.Tensor)
    assert float(tensor) == pytest.approx(schedule(3)) and schedule(3) == 0.1  # a float32 tensor


def test_onecycle_equals_pytorch_up_to_its_last_step_and_pytorch_raises_only_past_total_steps():
    total = 10
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=total)
    rates = []
    for _ in range(total + 1):  # PyTorch gives a rate for t = total_steps too
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if len(rates) <= total:
            sched.step()
    with pytest.raises(ValueError):
        sched.step()  # t = total_steps + 1
    ours = OneCycle(1.0, total)
    assert ours.values(range(total)).tolist() == pytest.approx(rates[:total], rel=1e-12)
    assert rates[total] > rates[total - 1] and ours(total) == ours(total - 1)  # PyTorch's rate rises again
