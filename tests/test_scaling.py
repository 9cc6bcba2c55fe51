"""The noise scale against per-example gradients taken one by one; the fits of steps to a target."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lrcourse.scaling import critical_batch, noise_scale, steps_to_target


def small_problem(n=24, seed=0):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    return net, torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def by_hand(net, X, y):
    grads = []
    for i in range(len(X)):
        net.zero_grad()
        nn.functional.cross_entropy(net(X[i:i + 1]), y[i:i + 1]).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]).double())
    G = torch.stack(grads)
    n, mean = len(X), G.mean(0)
    trace = float(((G - mean) ** 2).sum() / (n - 1))
    return trace, float(mean.pow(2).sum()) - trace / n


@pytest.mark.parametrize("chunk", [1, 5, 256])
def test_noise_scale_equals_per_example_gradients_one_by_one(chunk):
    net, X, y = small_problem()
    got = noise_scale(net, X, y, chunk=chunk)
    trace, grad_sq = by_hand(net, X, y)
    assert got.trace == pytest.approx(trace, rel=1e-5)
    assert got.grad_sq == pytest.approx(grad_sq, rel=1e-5)
    assert got.b_simple == pytest.approx(trace / grad_sq, rel=1e-5) and got.n == 24


def test_noise_scale_leaves_the_net_as_it_found_it():
    net, X, y = small_problem()
    net.eval()
    nn.functional.cross_entropy(net(X), y).backward()
    before = [(p.detach().clone(), p.grad.clone()) for p in net.parameters()]
    noise_scale(net, X, y)
    assert not net.training
    assert all(torch.equal(p, w) and torch.equal(p.grad, g) for p, (w, g) in zip(net.parameters(), before))


def test_the_unbiased_signal_can_be_swamped():
    """Two examples pulling opposite ways: |mean|² below tr(Σ)/n, so no finite noise scale."""
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    X, y = torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [1.0]])
    got = noise_scale(net, X, y, loss=nn.MSELoss())
    assert got.grad_sq <= 0 and got.b_simple == math.inf


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.integers(1, 10_000), min_size=2, max_size=12, unique=True),
       values=st.lists(st.floats(0, 1), min_size=12, max_size=12), target=st.floats(0, 1))
def test_steps_to_target_is_the_first_crossing(steps, values, target):
    steps = sorted(steps)
    curve = [[s, v] for s, v in zip(steps, values)]
    got = steps_to_target(curve, target)
    first = next((i for i, (_, v) in enumerate(curve) if v >= target), None)
    if first is None:
        assert got == math.inf
    else:
        low = curve[first - 1][0] if first else curve[0][0]
        assert low <= got <= curve[first][0]
        if first == 0:
            assert got == curve[0][0]


def test_steps_to_target_interpolates_between_the_points():
    assert steps_to_target([[10, 0.5], [20, 0.7], [40, 0.9]], 0.8) == pytest.approx(30)
    assert steps_to_target([[10, 0.5], [20, 0.7]], 0.7) == 20


@settings(max_examples=60, deadline=None)
@given(s_min=st.floats(1, 1e4), b_crit=st.floats(1, 1e4))
def test_critical_batch_recovers_the_model_it_was_made_from(s_min, b_crit):
    B = np.array([32, 64, 128, 256, 512, 1024, 2048, 4096])
    fit = critical_batch(B, s_min * (1 + b_crit / B))
    assert fit.s_min == pytest.approx(s_min, rel=1e-6)
    assert fit.b_crit == pytest.approx(b_crit, rel=1e-6)
    assert fit.steps(B) == pytest.approx(s_min * (1 + b_crit / B), rel=1e-6)


def test_critical_batch_leaves_out_what_never_reached_the_target():
    B = [32, 64, 128, 256]
    fit = critical_batch(B, [100 * (1 + 64 / b) for b in B[:3]] + [math.inf])
    assert fit.b_crit == pytest.approx(64)


@pytest.mark.parametrize("call, error, message", [
    (lambda: noise_scale("mlp", torch.zeros(2, 6), torch.zeros(2)), TypeError,
     r"^net must be a torch.nn.Module, got str$"),
    (lambda: noise_scale(small_problem()[0], torch.zeros(1, 6), torch.zeros(1)), ValueError,
     r"^X and y must hold the same number of examples, at least 2, got shapes \(1, 6\) and \(1,\)$"),
    (lambda: noise_scale(nn.Flatten(), torch.zeros(2, 6), torch.zeros(2)), ValueError,
     r"^net has no parameters with requires_grad$"),
    (lambda: steps_to_target([], 0.8), ValueError, r"^curve holds no points$"),
    (lambda: steps_to_target([[2, 0.1], [2, 0.2]], 0.8), ValueError, r"^curve's steps must increase$"),
    (lambda: steps_to_target([[1, 0.1]], "high"), ValueError, r"^target must be a number, got 'high'$"),
    (lambda: critical_batch([32, 64], [10, 5]), ValueError,
     r"^critical_batch needs at least 3 batch sizes that reached the target, got 2$"),
    (lambda: critical_batch([32, 64, 128], [10, 20, 40]), ValueError,
     r"^the fit S = S_min \+ E_min/B gives S_min = "),
    (lambda: critical_batch([32, 64, 128], [10, 20]), ValueError,
     r"^batch_sizes and steps must be two sequences of one length"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
