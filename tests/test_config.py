"""Profiles, flags, seeding and the device."""
import random

import numpy as np
import pytest
import torch

from lrcourse import config


@pytest.mark.parametrize("value, quick", [
    ("1", True), ("true", True), (" YES ", True),
    ("0", False), ("", False), ("false", False), ("off", False),
])
def test_profile_follows_lrcourse_quick(monkeypatch, value, quick):
    monkeypatch.setenv("LRCOURSE_QUICK", value)
    assert config.is_quick() is quick
    assert config.profile() is (config.QUICK if quick else config.FULL)
    assert config.profile().name == ("quick" if quick else "full")


def test_profile_is_full_when_unset(monkeypatch):
    monkeypatch.delenv("LRCOURSE_QUICK", raising=False)
    assert config.profile() is config.FULL


def test_profile_is_read_at_call_time(monkeypatch):
    monkeypatch.setenv("LRCOURSE_QUICK", "1")
    assert config.profile().name == "quick"
    monkeypatch.setenv("LRCOURSE_QUICK", "0")
    assert config.profile().name == "full"


def test_profile_sizes():
    assert config.FULL.limit is None and config.FULL.num_epochs == 10
    assert config.QUICK.limit == 2048 and config.QUICK.num_epochs == 2
    assert config.QUICK.batch_size == config.FULL.batch_size == 256
    with pytest.raises(AttributeError, match=r"cannot assign to field .limit."):
        config.FULL.limit = 5  # frozen


@pytest.mark.parametrize("value, headless", [
    ("1", True), ("true", True), ("0", False), ("", False), ("no", False),
])
def test_is_headless(monkeypatch, value, headless):
    monkeypatch.setenv("LRCOURSE_HEADLESS", value)
    assert config.is_headless() is headless


def test_is_headless_unset(monkeypatch):
    monkeypatch.delenv("LRCOURSE_HEADLESS", raising=False)
    assert config.is_headless() is False


def _draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()


def test_seed_everything_reproduces_all_three_generators():
    state = torch.get_rng_state()
    try:
        config.seed_everything(123)
        first = _draws()
        config.seed_everything(123)
        assert _draws() == first
        config.seed_everything(124)
        other = _draws()
        assert all(a != b for a, b in zip(other, first))
    finally:
        torch.set_rng_state(state)


def test_seed_everything_accepts_seeds_beyond_numpys_range():
    config.seed_everything(2**32 + 5)  # numpy gets seed % 2**32
    a = np.random.rand()
    config.seed_everything(5)
    assert np.random.rand() == a


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3", None])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*63 - 1\], got "):
        config.seed_everything(seed)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_try_gpu_falls_back_to_cpu():
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("Apple MPS is available here")
    assert config.try_gpu() == torch.device("cpu")
    assert config.try_gpu(3) == torch.device("cpu")
