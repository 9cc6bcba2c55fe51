"""LeNet and the MLP: shapes, sizes, seeded Xavier initialisation."""
import math

import pytest
import torch
from torch import nn

from lrcourse.models import init_xavier, lenet, mlp

BUILDERS = {"lenet": lenet, "mlp": mlp}


def num_params(net):
    return sum(p.numel() for p in net.parameters())


def same_weights(a, b):
    pa, pb = list(a.parameters()), list(b.parameters())
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb))


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("batch", [1, 5])
def test_output_shape(name, batch):
    net = BUILDERS[name](seed=0)
    out = net(torch.rand(batch, 1, 28, 28))
    assert out.shape == (batch, 10)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name, expected", [("lenet", 61706), ("mlp", 266610)])
def test_parameter_counts(name, expected):
    assert num_params(BUILDERS[name](seed=0)) == expected


@pytest.mark.parametrize("name", BUILDERS)
def test_seed_gives_identical_weights(name):
    build = BUILDERS[name]
    assert same_weights(build(seed=3), build(seed=3))
    assert not same_weights(build(seed=3), build(seed=4))


@pytest.mark.parametrize("name", BUILDERS)
def test_seed_leaves_the_global_generator_alone(name):
    torch.manual_seed(99)
    before = torch.get_rng_state()
    BUILDERS[name](seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    expected_next = torch.rand(4)
    torch.manual_seed(99)
    assert torch.equal(torch.rand(4), expected_next)


@pytest.mark.parametrize("name", BUILDERS)
def test_seed_none_draws_from_the_global_generator(name):
    build = BUILDERS[name]
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = build()
    assert not torch.equal(torch.get_rng_state(), before)  # the global generator moved
    b = build()
    assert not same_weights(a, b)
    torch.manual_seed(0)
    assert same_weights(build(), a)
    assert same_weights(build(seed=None), b)


@pytest.mark.parametrize("name", BUILDERS)
def test_xavier_init(name):
    net = BUILDERS[name](seed=1)
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) == (5 if name == "lenet" else 3)
    for layer in layers:
        assert torch.count_nonzero(layer.bias) == 0
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))
        w = layer.weight.detach()
        assert float(w.abs().max()) <= bound
        # uniform on [-bound, bound]: the largest weights come near the bound
        assert float(w.abs().max()) > 0.9 * bound
        assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.25)


def test_init_xavier_ignores_other_modules_and_missing_bias():
    relu = nn.ReLU()
    init_xavier(relu)  # nothing to do, no error
    layer = nn.Linear(20, 30, bias=False)
    torch.nn.init.constant_(layer.weight, 5.0)
    init_xavier(layer)
    assert float(layer.weight.detach().abs().max()) <= math.sqrt(6 / 50)
    assert layer.bias is None


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seeds_rejected(name, seed):
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*63 - 1\] or None, got "):
        BUILDERS[name](seed=seed)


def conv_relu_pool(seed):
    """LeNet in its textbook order, conv → ReLU → pool, with lenet's initial weights."""
    net = lenet(seed=seed)
    layers = list(net)
    layers[1], layers[2], layers[4], layers[5] = layers[2], layers[1], layers[5], layers[4]
    return nn.Sequential(*layers)


def test_relu_after_pooling_trains_bit_for_bit_like_the_textbook_order():
    textbook, ours = conv_relu_pool(0), lenet(seed=0)
    assert [type(m).__name__ for m in textbook][:6] == ["Conv2d", "ReLU", "MaxPool2d"] * 2
    gen = torch.Generator().manual_seed(0)
    opts = [torch.optim.SGD(n.parameters(), lr=0.5, momentum=0.9) for n in (textbook, ours)]
    for _ in range(5):  # a large rate: many units go negative, ties and zeros are exercised
        X, y = torch.randn(64, 1, 28, 28, generator=gen), torch.randint(0, 10, (64,), generator=gen)
        X[:8] = 0  # all-zero images: every pooling window ties
        for net, opt in zip((textbook, ours), opts):
            opt.zero_grad()
            out = net(X)
            nn.functional.cross_entropy(out, y).backward()
            opt.step()
            net.last_out = out
        assert torch.equal(textbook.last_out, ours.last_out)
        for a, b in zip(textbook.parameters(), ours.parameters()):
            assert torch.equal(a, b)
