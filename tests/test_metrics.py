"""Accumulator, accuracy and evaluation."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from lrcourse.data import TensorLoader
from lrcourse.metrics import Accumulator, accuracy, evaluate, evaluate_accuracy, num_correct

# ------------------------------------------------------------------ Accumulator


def test_accumulator_sums_numbers():
    acc = Accumulator(3)
    acc.add(1, 2.5, 0)
    acc.add(3, 0.5, -1)
    assert len(acc) == 3
    assert [acc[0], acc[1], acc[2]] == [4.0, 3.0, -1.0]
    assert all(type(acc[i]) is float for i in range(3))


def test_accumulator_keeps_tensors_until_read():
    acc = Accumulator(2)
    w = torch.tensor(2.0, requires_grad=True)
    acc.add(w * 0.75, 1)
    acc.add(torch.tensor(3.0), torch.tensor(4))
    assert isinstance(acc.data[0], torch.Tensor) and isinstance(acc.data[1], torch.Tensor)
    assert not acc.data[0].requires_grad  # detached
    assert acc[0] == 4.5 and acc[1] == 5.0
    assert type(acc[0]) is float and type(acc[1]) is float


def test_accumulator_reset():
    acc = Accumulator(2)
    acc.add(torch.tensor(1.0), 2)
    acc.reset()
    assert len(acc) == 2 and acc[0] == 0.0 and acc[1] == 0.0
    acc.add(5, 6)
    assert (acc[0], acc[1]) == (5.0, 6.0)


@pytest.mark.parametrize("values", [(1,), (1, 2, 3), ()])
def test_accumulator_wrong_arity(values):
    acc = Accumulator(2)
    with pytest.raises(ValueError, match=rf"add expects 2 values, got {len(values)}"):
        acc.add(*values)
    assert (acc[0], acc[1]) == (0.0, 0.0)


@pytest.mark.parametrize("n", [0, -1, True, 1.5, "2"])
def test_accumulator_bad_n(n):
    with pytest.raises(ValueError, match=r"n must be an int >= 1, got "):
        Accumulator(n)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), max_size=40))
def test_accumulator_sums_like_python(pairs):
    acc = Accumulator(2)
    for a, b in pairs:
        acc.add(a, b)
    for i in range(2):
        expected = math.fsum(p[i] for p in pairs)
        assert acc[i] == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-100, max_value=100, allow_nan=False, width=32), max_size=30))
def test_accumulator_sums_tensors_like_python(values):
    acc = Accumulator(1)
    for v in values:
        acc.add(torch.tensor(v, dtype=torch.float64))
    assert acc[0] == pytest.approx(math.fsum(values), rel=1e-9, abs=1e-9)


# ------------------------------------------------------------- accuracy


def test_num_correct_on_logits():
    y_hat = torch.tensor([[0.1, 0.9, 0.0],    # 1
                          [2.0, 1.0, 0.0],    # 0
                          [0.0, 0.0, 5.0],    # 2
                          [0.3, 0.2, 0.1]])   # 0
    y = torch.tensor([1, 1, 2, 0])
    n = num_correct(y_hat, y)
    assert isinstance(n, torch.Tensor) and n.dim() == 0 and int(n) == 3
    assert accuracy(y_hat, y) == 3.0 and type(accuracy(y_hat, y)) is float


def test_num_correct_on_label_predictions():
    y = torch.tensor([0, 1, 2, 3, 4])
    assert int(num_correct(torch.tensor([0, 1, 0, 3, 0]), y)) == 3
    assert accuracy(torch.tensor([0.0, 1.0, 2.0, 0.0, 0.0]), y) == 3.0
    assert accuracy(y.clone(), y) == 5.0


def test_num_correct_on_probabilities():
    probs = torch.softmax(torch.tensor([[1.0, 3.0], [4.0, -1.0], [0.0, 1.0]]), dim=1)
    assert accuracy(probs, torch.tensor([1, 0, 0])) == 2.0


@pytest.mark.parametrize("y_hat, y", [
    (torch.zeros(4, 10), torch.zeros(3, dtype=torch.long)),
    (torch.zeros(4), torch.zeros(3, dtype=torch.long)),
    (torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)),
])
def test_num_correct_shape_mismatch(y_hat, y):
    with pytest.raises(ValueError, match=r"y_hat must have shape \(B, C\) or \(B,\) matching y"):
        num_correct(y_hat, y)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20).flatmap(lambda b: st.tuples(
    hnp.arrays(np.float32, (b, 4), elements=st.integers(-3, 3).map(float)),  # many ties
    hnp.arrays(np.int64, (b,), elements=st.integers(0, 3)))))
def test_num_correct_matches_numpy(case):
    logits, labels = case
    expected = int((logits.argmax(axis=1) == labels).sum())
    got = num_correct(torch.from_numpy(logits), torch.from_numpy(labels))
    assert int(got) == expected
    assert accuracy(torch.from_numpy(logits), torch.from_numpy(labels)) == float(expected)


# ------------------------------------------------------------- evaluate


@pytest.fixture
def setup():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(23, 4, generator=gen)
    y = torch.randint(0, 3, (23,), generator=gen)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        net = nn.Linear(4, 3)
    return net, X, y, TensorLoader(X, y, 5)  # batches of 5, the last one of 3


def test_evaluate_matches_a_hand_computation(setup):
    net, X, y, loader = setup
    with torch.no_grad():
        logits = net(X)
    expected_loss = float(nn.functional.cross_entropy(logits, y))
    expected_acc = int((logits.argmax(dim=1) == y).sum()) / 23
    loss, acc = evaluate(net, loader)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == expected_acc
    assert 0 < acc < 1  # neither trivial case
    assert evaluate_accuracy(net, loader) == expected_acc
    assert type(loss) is float and type(acc) is float


def test_evaluate_with_another_loss_and_device(setup):
    net, X, y, loader = setup
    mse = lambda y_hat, y: ((y_hat - nn.functional.one_hot(y, 3)) ** 2).mean()  # noqa: E731
    with torch.no_grad():
        expected = float(sum(mse(net(Xb), yb) * yb.shape[0] for Xb, yb in loader)) / 23
    loss, _ = evaluate(net, loader, loss=mse, device="cpu")
    assert loss == pytest.approx(expected, rel=1e-6)


def test_evaluate_accepts_any_iterable(setup):
    net, X, y, _ = setup
    batches = [(X[:10], y[:10]), (X[10:], y[10:])]
    with torch.no_grad():
        expected = float((net(X).argmax(1) == y).double().mean())
    assert evaluate_accuracy(net, iter(batches)) == pytest.approx(expected)


class ModeSpy(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.seen = []

    def forward(self, X):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.linear(X)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_runs_in_eval_mode_without_grad_and_restores_the_mode(setup, training):
    _, _, _, loader = setup
    net = ModeSpy()
    net.train(training)
    evaluate(net, loader)
    assert net.seen == [(False, False)] * 5
    assert net.training is training and net.linear.training is training
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_the_mode_after_an_error(setup, training):
    net = ModeSpy()
    net.train(training)

    def broken():
        yield torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)
        raise RuntimeError("loader broke")

    with pytest.raises(RuntimeError, match="loader broke"):
        evaluate(net, broken())
    assert net.training is training


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_empty_iterable(training):
    net = nn.Linear(4, 3)
    net.train(training)
    with pytest.raises(ValueError, match=r"data_iter yielded no batches"):
        evaluate(net, [])
    with pytest.raises(ValueError, match=r"data_iter yielded no batches"):
        evaluate_accuracy(net, iter(()))
    assert net.training is training


def test_evaluate_net_without_parameters():
    X = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([1, 0, 1])
    assert evaluate_accuracy(nn.Identity(), TensorLoader(X, y, 2)) == pytest.approx(2 / 3)
