"""The package on the default device: a CUDA GPU where there is one (``make test`` on a GPU machine).

The other tests train on the CPU (conftest.py's ``cpu_unless_marked``): they compare with PyTorch and
with hand-written loops bit for bit, which a GPU's non-deterministic kernels would not give. Here the
comparisons allow float32 rounding, and the rates must be equal exactly (they are computed on the host).
Without a GPU these tests are skipped, with the reason.
"""
import math

import pytest
import torch

from lrcourse import Cosine, TensorLoader, fit, lenet, lr_range_test, try_gpu

pytestmark = [pytest.mark.device,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def images(n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 28, 28, generator=gen)
    y = (X.mean(dim=(1, 2, 3)) > 0.5).long() + 2 * (X[:, :, :14].mean(dim=(1, 2, 3)) > 0.5).long()
    return X, y


def test_the_default_device_is_the_gpu():
    assert try_gpu().type == "cuda"


def run(device):
    X, y = images()
    train_iter = TensorLoader(X.to(device), y.to(device), 32, shuffle=True, seed=0)
    test_iter = TensorLoader(X.to(device), y.to(device), 64)
    return fit(lenet(seed=0), train_iter, test_iter, num_epochs=3, scheduler=Cosine(0.1, 0.001, 3),
               seed=0, animate=False, progress=False)


def test_fit_on_the_gpu_follows_the_cpu_run():
    gpu, cpu = run(try_gpu()), run(torch.device("cpu"))
    assert gpu.step_lr == cpu.step_lr          # the schedule is the same to the last bit
    assert all(math.isfinite(v) for v in gpu.train_loss)
    assert gpu.train_loss == pytest.approx(cpu.train_loss, rel=1e-3, abs=1e-4)
    assert gpu.test_acc == pytest.approx(cpu.test_acc, abs=2 / 256)  # a sample or two may flip


def test_fit_moves_a_cpu_loader_batch_to_the_gpu_and_leaves_the_net_there():
    X, y = images(64)
    net = lenet(seed=0)
    h = fit(net, TensorLoader(X, y, 32), TensorLoader(X, y, 32), num_epochs=1, lr=0.1, device="cuda",
            animate=False, progress=False)
    assert next(net.parameters()).device.type == "cuda" and h.num_epochs == 1


def test_range_test_runs_on_the_gpu_and_restores_the_net():
    X, y = images(512)
    net = lenet(seed=0).to(try_gpu())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = lr_range_test(net, TensorLoader(X.to(try_gpu()), y.to(try_gpu()), 32, shuffle=True, seed=0),
                           num_iter=40)
    assert len(result.lrs) >= 10
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
