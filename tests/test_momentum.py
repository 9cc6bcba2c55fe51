"""Momentum from scratch against torch.optim.SGD, and the playground's maths against closed forms."""
import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lrcourse import (MomentumSGD, convergence_rate, fit, momentum_step, optimal_gd, optimal_momentum,
                      quadratic_eigenvalues, run_quadratic)
from tiny import make_data, make_net


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 10))


def train_steps(net, optimizer, num_steps, scheduler=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    loss = nn.CrossEntropyLoss()
    for _ in range(num_steps):
        X, y = torch.randn(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
        optimizer.zero_grad()
        loss(net(X), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return net


def assert_same_params(a, b, atol=0.0):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=atol, msg=lambda m: f"{name}: {m}")


# ---------------------------------------------------------------- MomentumSGD == torch.optim.SGD

@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_momentum_sgd_equals_torch_sgd(momentum, nesterov, weight_decay):
    if nesterov and momentum == 0:
        pytest.skip("Nesterov needs momentum > 0 (both refuse it)")
    ours, theirs = small_cnn(), small_cnn()
    kwargs = dict(lr=0.05, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    train_steps(ours, MomentumSGD(ours.parameters(), **kwargs), 60)
    train_steps(theirs, torch.optim.SGD(theirs.parameters(), **kwargs), 60)
    # the same operations in the same order: equal bit for bit
    assert_same_params(ours, theirs, atol=0.0)
    assert not torch.equal(next(ours.parameters()), next(small_cnn().parameters()))  # it trained


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_sgd_follows_a_scheduler_and_param_groups(nesterov):
    def groups(net):
        return [{"params": net[0].parameters(), "lr": 0.02},
                {"params": net[4].parameters(), "momentum": 0.5}]

    ours, theirs = small_cnn(), small_cnn()
    opt_o = MomentumSGD(groups(ours), lr=0.1, momentum=0.9, nesterov=nesterov)
    opt_t = torch.optim.SGD(groups(theirs), lr=0.1, momentum=0.9, nesterov=nesterov)
    train_steps(ours, opt_o, 40, torch.optim.lr_scheduler.StepLR(opt_o, 10, 0.5))
    train_steps(theirs, opt_t, 40, torch.optim.lr_scheduler.StepLR(opt_t, 10, 0.5))
    assert_same_params(ours, theirs, atol=0.0)
    assert [g["lr"] for g in opt_o.param_groups] == [g["lr"] for g in opt_t.param_groups] \
        == [0.02 / 16, 0.1 / 16]


def test_momentum_sgd_trains_in_fit_as_torch_sgd_does():
    train_iter, test_iter = make_data()
    runs = []
    for make in (lambda p: MomentumSGD(p, lr=0.1, momentum=0.9),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)):
        net = make_net()
        history = fit(net, train_iter, test_iter, num_epochs=5, optimizer=make, seed=0, animate=False,
                      progress=False)
        runs.append((net, history))
    assert_same_params(runs[0][0], runs[1][0], atol=1e-6)
    assert runs[0][1].train_loss == pytest.approx(runs[1][1].train_loss, abs=1e-6)


def test_state_dict_saves_the_velocities_and_resumes():
    straight, resumed = small_cnn(), small_cnn()
    opt = MomentumSGD(straight.parameters(), lr=0.05, momentum=0.9)
    train_steps(straight, opt, 30)

    opt_a = MomentumSGD(resumed.parameters(), lr=0.05, momentum=0.9)
    train_steps(resumed, opt_a, 15)
    state = copy.deepcopy(opt_a.state_dict())
    assert all("velocity" in s for s in state["state"].values())
    again = copy.deepcopy(resumed)
    opt_b = MomentumSGD(again.parameters(), lr=0.05, momentum=0.9)
    opt_b.load_state_dict(state)
    # the same batches 15..29 as the straight run: regenerate and skip the first 15
    gen = torch.Generator().manual_seed(0)
    loss = nn.CrossEntropyLoss()
    for step in range(30):
        X, y = torch.randn(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
        if step < 15:
            continue
        opt_b.zero_grad()
        loss(again(X), y).backward()
        opt_b.step()
    assert_same_params(again, straight, atol=0.0)


def test_momentum_step_on_plain_tensors_sums_a_geometric_series():
    # a constant gradient g: v_k = g (1 + β + ... + β^(k-1)) = g (1 - β^k) / (1 - β) → g / (1 - β)
    w = torch.zeros(3, requires_grad=True)
    v = torch.zeros(3)
    g = torch.tensor([1.0, -2.0, 0.5])
    beta, lr = 0.9, 0.1
    moved = torch.zeros(3)
    for k in range(1, 101):
        w.grad = g.clone()
        before = w.detach().clone()
        momentum_step([w], [v], lr, beta)
        moved = before - w.detach()
        torch.testing.assert_close(v, g * (1 - beta ** k) / (1 - beta), rtol=1e-5, atol=0)
    # after many steps each step is lr / (1 - β) times the gradient: the effective step
    torch.testing.assert_close(moved, lr / (1 - beta) * g, rtol=1e-4, atol=0)


def test_momentum_step_skips_parameters_without_a_gradient():
    w, idle = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    v, v_idle = torch.zeros(2), torch.zeros(2)
    w.grad = torch.ones(2)
    momentum_step([w, idle], [v, v_idle], 0.5, 0.9)
    assert w.tolist() == [0.5, 0.5] and idle.tolist() == [1.0, 1.0] and v_idle.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
    (dict(lr=-0.1), r"lr must be a finite number > 0, got -0.1"),
    (dict(lr=float("nan")), r"lr must be a finite number > 0, got nan"),
    (dict(lr=True), r"lr must be a finite number > 0, got True"),
    (dict(lr=0.1, momentum=1.0), r"momentum must be a number in \[0, 1\), got 1.0"),
    (dict(lr=0.1, momentum=-0.1), r"momentum must be a number in \[0, 1\), got -0.1"),
    (dict(lr=0.1, momentum="0.9"), r"momentum must be a number in \[0, 1\), got '0.9'"),
    (dict(lr=0.1, weight_decay=-1e-4), r"weight_decay must be a finite number >= 0, got -0.0001"),
    (dict(lr=0.1, nesterov=True), r"nesterov=True needs a momentum > 0, got momentum=0"),
])
def test_momentum_sgd_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MomentumSGD(small_cnn().parameters(), **kwargs)


# ---------------------------------------------------------------- the quadratic: closed forms

def test_run_quadratic_equals_momentum_sgd_on_a_torch_quadratic():
    lambdas, x0 = np.array([0.05, 1.0]), np.array([-1.0, 0.8])
    for nesterov in (False, True):
        run = run_quadratic(0.7, 0.8, lambdas, x0, 50, nesterov=nesterov)
        x = torch.tensor(x0, requires_grad=True)
        opt = MomentumSGD([x], lr=0.7, momentum=0.8, nesterov=nesterov)
        path = [x.detach().clone()]
        for _ in range(50):
            opt.zero_grad()
            (0.5 * (torch.tensor(lambdas) * x ** 2).sum()).backward()
            opt.step()
            path.append(x.detach().clone())
        np.testing.assert_allclose(run.path, torch.stack(path).numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(run.loss, 0.5 * (lambdas * run.path ** 2).sum(-1))


def test_run_quadratic_broadcasts_alpha_and_beta():
    lambdas, x0 = quadratic_eigenvalues(20), (-1.0, 0.8)
    alphas, betas = np.array([[0.3], [1.0], [1.9]]), np.array([0.0, 0.5, 0.9, 0.95])
    grid = run_quadratic(alphas, betas, lambdas, x0, 30)
    assert grid.path.shape == (3, 4, 31, 2) and grid.loss.shape == (3, 4, 31) and grid.rate.shape == (3, 4)
    for i, a in enumerate(alphas[:, 0]):
        for j, b in enumerate(betas):
            one = run_quadratic(a, b, lambdas, x0, 30)
            np.testing.assert_array_equal(grid.path[i, j], one.path)
            assert grid.rate[i, j] == float(one.rate)


@settings(max_examples=200, deadline=None)
@given(alpha=st.floats(1e-3, 5.0), beta=st.floats(0.0, 0.99), lam=st.floats(1e-3, 1.0),
       nesterov=st.booleans())
def test_convergence_rate_is_the_spectral_radius_of_the_iteration(alpha, beta, lam, nesterov):
    # the state (x, v) of one coordinate evolves by a 2x2 matrix; its largest |eigenvalue| is the rate
    if nesterov:
        M = np.array([[1 - alpha * lam * (1 + beta), -alpha * beta ** 2], [lam, beta]])
    else:
        M = np.array([[1 - alpha * lam, -alpha * beta], [lam, beta]])
    expected = np.abs(np.linalg.eigvals(M)).max()
    assert convergence_rate(alpha, beta, [lam], nesterov=nesterov) == pytest.approx(expected, rel=1e-6,
                                                                                    abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(alpha=st.floats(1e-3, 4.0), lam_min=st.floats(1e-3, 1.0))
def test_plain_gd_rate_is_the_largest_contraction(alpha, lam_min):
    lambdas = [lam_min, 1.0]
    assert convergence_rate(alpha, 0.0, lambdas) == pytest.approx(max(abs(1 - alpha * lam_min),
                                                                      abs(1 - alpha)), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(kappa=st.floats(1.0, 1e4), lam_max=st.floats(0.01, 100.0))
def test_optimal_gd_closed_form(kappa, lam_max):
    lambdas = quadratic_eigenvalues(kappa, lam_max)
    alpha, rate = optimal_gd(lambdas)
    assert alpha == pytest.approx(2 / (lam_max / kappa + lam_max))
    assert rate == pytest.approx((kappa - 1) / (kappa + 1), abs=1e-12)
    assert convergence_rate(alpha, 0.0, lambdas) == pytest.approx(rate, abs=1e-12)
    # no other step does better
    others = alpha * np.linspace(0.5, 1.5, 41)
    assert np.all(convergence_rate(others, 0.0, lambdas) >= rate - 1e-12)


@settings(max_examples=100, deadline=None)
@given(kappa=st.floats(1.0, 1e4), lam_max=st.floats(0.01, 100.0))
def test_optimal_momentum_closed_form(kappa, lam_max):
    lambdas = quadratic_eigenvalues(kappa, lam_max)
    alpha, beta, rate = optimal_momentum(lambdas)
    root = math.sqrt(kappa)
    assert rate == pytest.approx((root - 1) / (root + 1), abs=1e-12)
    assert beta == pytest.approx(rate ** 2, abs=1e-12)
    assert alpha == pytest.approx((2 / (math.sqrt(lam_max / kappa) + math.sqrt(lam_max))) ** 2)
    assert convergence_rate(alpha, beta, lambdas) == pytest.approx(rate, abs=1e-6)
    # at least as good as plain GD's best, and no nearby (α, β) does better
    assert rate <= optimal_gd(lambdas)[1] + 1e-12
    a = alpha * np.linspace(0.8, 1.2, 21)[:, None]
    b = np.clip(beta + np.linspace(-0.1, 0.1, 21), 0, 0.999)[None, :]
    assert np.all(convergence_rate(a, b, lambdas) >= rate - 1e-6)


@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (0.5, 0.3), (1.5, 0.0)])
def test_the_loss_decays_at_the_theoretical_rate(alpha, beta):
    # away from a double root, f(x_k) ~ C ρ^(2k): the ratio of the loss over the last 50 steps is ρ^100
    lambdas = quadratic_eigenvalues(10)
    run = run_quadratic(alpha, beta, lambdas, (-1.0, 0.8), 300)
    measured = (run.loss[300] / run.loss[250]) ** (1 / 100)
    assert measured == pytest.approx(float(run.rate), rel=1e-3)


def test_momentum_beats_the_best_plain_gd_on_an_ill_conditioned_quadratic():
    lambdas = quadratic_eigenvalues(100)
    gd = run_quadratic(optimal_gd(lambdas)[0], 0.0, lambdas, (-1.0, 0.8), 200)
    alpha, beta, _ = optimal_momentum(lambdas)
    heavy = run_quadratic(alpha, beta, lambdas, (-1.0, 0.8), 200)
    assert float(gd.rate) == pytest.approx(99 / 101) and float(heavy.rate) == pytest.approx(9 / 11)
    assert heavy.loss[-1] < 1e-20 < gd.loss[-1]


def test_a_diverging_run_overflows_without_warnings_or_errors():
    with np.errstate(all="raise"):
        run = run_quadratic(3.0, 0.0, [0.1, 1.0], (1.0, 1.0), 2000)
    assert float(run.rate) == pytest.approx(2.0) and not np.isfinite(run.loss[-1])


@pytest.mark.parametrize("call, match", [
    (lambda: run_quadratic(0.0, 0.5, [0.1, 1], (1, 1), 5), r"alpha must be a finite number > 0"),
    (lambda: run_quadratic(-1, 0.5, [0.1, 1], (1, 1), 5), r"alpha must be .*, got -1"),
    (lambda: run_quadratic([0.1, 0.0], 0.5, [0.1, 1], (1, 1), 5), r"alpha must be .*got \[0.1, 0.0\]"),
    (lambda: run_quadratic(0.1, 1.0, [0.1, 1], (1, 1), 5), r"beta must be a number in \[0, 1\).*got 1.0"),
    (lambda: run_quadratic(0.1, -0.2, [0.1, 1], (1, 1), 5), r"beta must be .*got -0.2"),
    (lambda: run_quadratic(0.1, float("nan"), [0.1, 1], (1, 1), 5), r"beta must be .*got nan"),
    (lambda: run_quadratic(0.1, True, [0.1, 1], (1, 1), 5), r"beta must be .*got True"),
    (lambda: run_quadratic(0.1, "a", [0.1, 1], (1, 1), 5), r"beta must be .*got 'a'"),
    (lambda: run_quadratic(0.1, 0.5, [0.0, 1], (1, 1), 5), r"lambdas must be a 1-D sequence of finite"),
    (lambda: run_quadratic(0.1, 0.5, [[0.1, 1]], (1, 1), 5), r"lambdas must be a 1-D"),
    (lambda: run_quadratic(0.1, 0.5, [0.1, 1], (1, 1, 1), 5), r"x0 must be 2 finite numbers"),
    (lambda: run_quadratic(0.1, 0.5, [0.1, 1], (1, 1), -1), r"num_steps must be an int >= 0, got -1"),
    (lambda: run_quadratic(0.1, 0.5, [0.1, 1], (1, 1), 2.0), r"num_steps must be an int >= 0, got 2.0"),
    (lambda: quadratic_eigenvalues(0.5), r"kappa must be a finite number >= 1 \(the condition number\), "
                                         r"got 0.5"),
    (lambda: quadratic_eigenvalues(float("inf")), r"kappa must be .*got inf"),
    (lambda: quadratic_eigenvalues(10, lambda_max=0), r"lambda_max must be a finite number > 0, got 0"),
    (lambda: convergence_rate(0.1, 0.99999 + 1e-5, [1.0]), r"beta must be a number in \[0, 1\)"),
    (lambda: optimal_gd([]), r"lambdas must be a 1-D sequence"),
    (lambda: optimal_momentum([1.0, -1.0]), r"lambdas must be a 1-D sequence of finite eigenvalues > 0"),
])
def test_playground_maths_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
