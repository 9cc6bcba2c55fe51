"""The sharpness against the exact Hessian: small nets, chapter 2's quadratic, negative curvature, the state kept."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from lrcourse import TensorLoader, fit
from lrcourse.momentum import quadratic_eigenvalues
from lrcourse.sharpness import (gradient_descent, hessian_eigenvalues, hvp, sharpness, sharpness_tracker, tiny_gd,
                                tiny_loss_grad_hessian)


def small_net(seed=0, hidden=5, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 4)).to(dtype)


def small_data(n=20, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=gen, dtype=dtype), torch.randint(0, 4, (n,), generator=gen)


def exact_hessian(net, loss, X, y):
    """The full Hessian from torch.autograd.functional.hessian, over the flattened parameters."""
    params = {k: p.detach() for k, p in net.named_parameters()}
    names, sizes = list(params), [p.numel() for p in params.values()]

    def f(flat):
        d = {k: t.view_as(params[k]) for k, t in zip(names, torch.split(flat, sizes))}
        return loss(functional_call(net, d, (X,)), y)

    return torch.autograd.functional.hessian(f, torch.cat([p.reshape(-1) for p in params.values()]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_top_eigenvalues_equal_the_exact_hessians(seed):
    net, (X, y) = small_net(seed), small_data(seed=seed)
    exact = torch.linalg.eigvalsh(exact_hessian(net, nn.functional.cross_entropy, X, y)).flip(0)
    got = hessian_eigenvalues(net, None, X, y, k=3, iters=60, tol=1e-12)
    assert got.converged and got.iterations <= 60
    np.testing.assert_allclose(got.values, exact[:3].numpy(), rtol=1e-4)
    assert sharpness(net, None, X, y, iters=60, tol=1e-12) == pytest.approx(float(exact[0]), rel=1e-4)


def test_float32_nets_to_1e_4_within_the_default_budget():
    net, (X, y) = small_net(3, hidden=8, dtype=torch.float32), small_data(40, seed=3, dtype=torch.float32)
    exact = float(torch.linalg.eigvalsh(exact_hessian(net.double(), nn.functional.cross_entropy, X.double(), y))[-1])
    net.float()
    assert sharpness(net, None, X, y, iters=60, tol=1e-7) == pytest.approx(exact, rel=1e-4)


def test_the_quadratic_of_chapter_2():
    """L(w) = ½ wᵀ diag(λ) w: the Hessian is diag(λ), its top eigenvalue known in closed form."""
    lams = quadratic_eigenvalues(10.0)  # chapter 2's ill-conditioned quadratic, condition number 10
    net = nn.Linear(len(lams), 1, bias=False).double()
    X = torch.diag(torch.tensor(np.sqrt(lams * len(lams)), dtype=torch.float64))  # mean of ½(x·w)² = ½ Σ λ w²
    y = torch.zeros(len(lams), 1, dtype=torch.float64)
    loss = lambda out, t: 0.5 * ((out - t) ** 2).sum() / len(t)  # noqa: E731
    spectrum = hessian_eigenvalues(net, loss, X, y, k=2, iters=2)
    assert spectrum.values == pytest.approx(sorted(lams, reverse=True), rel=1e-10)
    assert spectrum.converged  # two dimensions: the Krylov space is the whole space after two products


def test_the_largest_eigenvalue_not_the_largest_in_magnitude():
    """A saddle with eigenvalues 1 and −5: power iteration would find −5; the sharpness is 1."""
    net = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.3, -0.2]]))
    X = torch.eye(2, dtype=torch.float64)
    y = torch.zeros(2, 1, dtype=torch.float64)
    signs = torch.tensor([1.0, -5.0], dtype=torch.float64)

    def loss(out, t):  # mean over the 2 rows of ½ s_i (x_i·w)², so H = diag(1, −5)
        return (0.5 * signs * (out.squeeze(1) - t.squeeze(1)) ** 2).sum()

    got = hessian_eigenvalues(net, loss, X, y, k=2, iters=5)
    assert got.values == pytest.approx((1.0, -5.0), rel=1e-10)
    assert sharpness(net, loss, X, y) == pytest.approx(1.0, rel=1e-10)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8))
def test_ritz_values_never_overshoot(seed, iters):
    """Cauchy interlacing: after any number of products the estimate is at most the true λ_max."""
    net, (X, y) = small_net(seed % 7, hidden=4), small_data(12, seed=seed)
    exact = float(torch.linalg.eigvalsh(exact_hessian(net, nn.functional.cross_entropy, X, y))[-1])
    got = hessian_eigenvalues(net, None, X, y, iters=iters, tol=1e-12, seed=seed)
    assert got.top <= exact * (1 + 1e-9) and got.iterations <= iters


def test_hvp_equals_the_exact_hessian_times_v_in_chunks():
    net, (X, y) = small_net(), small_data(21)
    H = exact_hessian(net, nn.functional.cross_entropy, X, y)
    gen = torch.Generator().manual_seed(5)
    v = {k: torch.randn(p.shape, generator=gen, dtype=p.dtype) for k, p in net.named_parameters()}
    flat = torch.cat([t.reshape(-1) for t in v.values()])
    for chunk in (None, 4, 21):
        got = hvp(net, None, X, y, v, chunk=chunk)
        torch.testing.assert_close(torch.cat([t.reshape(-1) for t in got.values()]), H @ flat, rtol=1e-10, atol=1e-12)


def test_chunks_do_not_change_the_sharpness():
    net, (X, y) = small_net(), small_data(30)
    whole = sharpness(net, None, X, y, tol=1e-10, iters=40)
    assert sharpness(net, None, X, y, tol=1e-10, iters=40, chunk=7) == pytest.approx(whole, rel=1e-10)


def test_the_net_is_left_bit_for_bit_as_it_was():
    net, (X, y) = small_net(), small_data()
    net.train()
    nn.functional.cross_entropy(net(X), y).backward()
    before = [(p.detach().clone(), p.grad.clone()) for p in net.parameters()]
    hessian_eigenvalues(net, None, X, y, k=2)
    hvp(net, None, X, y, {k: torch.ones_like(p) for k, p in net.named_parameters()})
    assert net.training
    assert all(torch.equal(p, w) and torch.equal(p.grad, g) for p, (w, g) in zip(net.parameters(), before))
    net.eval()
    sharpness(net, None, X, y)
    assert not net.training


def test_frozen_parameters_are_outside_the_hessian():
    net, (X, y) = small_net(), small_data()
    net[0].weight.requires_grad_(False)
    params = {k: p.detach() for k, p in net.named_parameters() if p.requires_grad}
    names, sizes = list(params), [p.numel() for p in params.values()]

    def f(flat):
        d = {k: t.view_as(params[k]) for k, t in zip(names, torch.split(flat, sizes))}
        d["0.weight"] = net[0].weight.detach()
        return nn.functional.cross_entropy(functional_call(net, d, (X,)), y)

    H = torch.autograd.functional.hessian(f, torch.cat([p.reshape(-1) for p in params.values()]))
    assert sharpness(net, None, X, y, iters=60, tol=1e-12) == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]),
                                                                           rel=1e-6)


def test_the_same_seed_gives_the_same_estimate_and_the_spectrum_says_how_it_got_there():
    net, (X, y) = small_net(), small_data()
    a = hessian_eigenvalues(net, None, X, y, iters=3, tol=1e-12, seed=4)
    b = hessian_eigenvalues(net, None, X, y, iters=3, tol=1e-12, seed=4)
    assert a.values == b.values and a.iterations == 3 and not a.converged and a.seconds >= 0
    assert a.top == a.values[0]


def test_a_diverged_net_has_no_spectrum():
    net, (X, y) = small_net(), small_data()
    with torch.no_grad():
        net[0].weight.fill_(math.nan)
    got = hessian_eigenvalues(net, None, X, y, k=2)
    assert all(math.isnan(v) for v in got.values) and not got.converged


def test_the_tracker_records_the_sharpness_in_fit():
    torch.manual_seed(0)
    X = torch.randn(64, 5)
    y = (X[:, 0] > 0).long()
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    h = fit(net, TensorLoader(X, y, 16, shuffle=True, seed=0), TensorLoader(X, y, 64), num_epochs=2, lr=0.1, animate=False,
            progress=False, track={"sharpness": sharpness_tracker(X, y, {2, 5, 8}, iters=30, tol=1e-8)})
    assert [s for s, _ in h.tracked["sharpness"]] == [2, 5, 8]
    assert h.tracked["sharpness"][-1][1] == pytest.approx(sharpness(net, None, X, y, iters=30, tol=1e-8), rel=1e-6)


def test_gradient_descent_steps_and_measures():
    net, (X, y) = small_net(dtype=torch.float32), small_data(32, dtype=torch.float32)
    start = sharpness(net, None, X, y)
    copy = small_net(dtype=torch.float32)
    run = gradient_descent(net, X, y, lr=0.5, num_steps=7, every=3)
    assert len(run["loss"]) == len(run["accuracy"]) == 8
    assert [s for s, _ in run["sharpness"]] == [0, 3, 6, 7]
    assert run["sharpness"][0][1] == pytest.approx(start)
    opt = torch.optim.SGD(copy.parameters(), lr=0.5)  # the same steps as torch's SGD on the whole batch
    for _ in range(7):
        opt.zero_grad()
        nn.functional.cross_entropy(copy(X), y).backward()
        opt.step()
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(net.parameters(), copy.parameters()))
    assert run["loss"][-1] == pytest.approx(float(nn.functional.cross_entropy(net(X), y)), rel=1e-6)


def test_gradient_descent_stops_where_the_loss_is_no_longer_finite():
    torch.manual_seed(0)
    net, X = nn.Linear(3, 1), torch.randn(16, 3)
    run = gradient_descent(net, X, X[:, :1], lr=100.0, num_steps=50, every=100, loss=nn.MSELoss())
    assert len(run["loss"]) < 51 and not math.isfinite(run["loss"][-1])
    assert all(math.isnan(a) for a in run["accuracy"])  # a regression: no accuracy


def test_the_tiny_nets_hessian_is_exact():
    rng = np.random.default_rng(0)
    X, y, w = rng.standard_normal((10, 2)), rng.standard_normal(10), rng.standard_normal(48)
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def f(v):
        return 0.5 * ((torch.tanh(Xt @ v[:32].view(2, 16)) @ v[32:] - yt) ** 2).mean()

    value, g, H = tiny_loss_grad_hessian(w, X, y)
    wt = torch.tensor(w)
    assert value == pytest.approx(float(f(wt)), rel=1e-12)
    np.testing.assert_allclose(g, torch.func.grad(f)(wt).numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(H, torch.func.hessian(f)(wt).numpy(), rtol=1e-10, atol=1e-13)


def test_tiny_gd_is_pure_and_shows_the_edge_of_stability():
    assert tiny_gd(0.5, 300) == tiny_gd(0.5, 300)
    run = tiny_gd(0.5, 1000)  # 2/lr = 4: the sharpness climbs from 2.8 to the edge, then hovers at it
    assert run.sharpness[0] < 3 and len(run.loss) == len(run.sharpness) == 1001
    late = run.sharpness[600:]
    assert 3.8 < np.mean(late) < 4.2 and max(late) < 4.6
    slow = tiny_gd(0.2, 1000)  # 2/lr = 10: progressive sharpening, never near the edge
    assert all(b >= a - 1e-9 for a, b in zip(slow.sharpness[100::100], slow.sharpness[200::100]))
    assert slow.sharpness[-1] < 10
    blown = tiny_gd(1.5, 200)  # 2/lr below the starting sharpness: it blows up
    assert blown.diverged and len(blown.loss) < 201 and not run.diverged


@pytest.mark.parametrize("call, message", [
    (lambda X, y, net: sharpness(net, None, X[:0], y[:0]), "X and y hold no examples"),
    (lambda X, y, net: sharpness(net, None, X, y[:3]), "X and y must hold the same number of examples"),
    (lambda X, y, net: sharpness(net, None, X.numpy(), y), "X and y must be tensors"),
    (lambda X, y, net: sharpness(net, None, X, y, iters=0), "iters must be"),
    (lambda X, y, net: sharpness(net, None, X, y, tol=0), "tol must be a positive number"),
    (lambda X, y, net: sharpness(net, None, X, y, tol=math.nan), "tol must be a positive number"),
    (lambda X, y, net: sharpness(net, None, X, y, chunk=0), "chunk must be"),
    (lambda X, y, net: sharpness(net, None, X, y, seed=-1), "seed must be"),
    (lambda X, y, net: sharpness(net, "mse", X, y), "loss must be"),
    (lambda X, y, net: sharpness("net", None, X, y), "net must be a torch.nn.Module"),
    (lambda X, y, net: hessian_eigenvalues(net, None, X, y, k=0), "k must be"),
    (lambda X, y, net: hessian_eigenvalues(net, None, X, y, k=3, iters=2), "iters must be at least k"),
    (lambda X, y, net: hvp(net, None, X, y, {"0.weight": torch.zeros(1)}), "v must be a dict"),
    (lambda X, y, net: sharpness_tracker(X, y, 5, iter=3), "sharpness_tracker got unexpected options"),
    (lambda X, y, net: gradient_descent(net, X, y, lr=0, num_steps=1, every=1), "lr must be a positive number"),
    (lambda X, y, net: gradient_descent(net, X, y, lr=0.1, num_steps=0, every=1), "num_steps must be"),
    (lambda X, y, net: gradient_descent(net, X, y, lr=0.1, num_steps=1, every=0), "every must be"),
    (lambda X, y, net: tiny_gd(-1.0), "lr must be a positive number"),
    (lambda X, y, net: tiny_gd(0.1, num_steps=0), "num_steps must be"),
])
def test_bad_input_is_named(call, message):
    net, (X, y) = small_net(dtype=torch.float32), small_data(dtype=torch.float32)
    with pytest.raises((ValueError, TypeError), match=message):
        call(X, y, net)


def test_a_net_with_nothing_to_train_is_refused():
    net, (X, y) = small_net(), small_data()
    for p in net.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="net has no parameters with requires_grad"):
        sharpness(net, None, X, y)
