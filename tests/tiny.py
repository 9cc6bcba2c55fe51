"""Shared by the tests of fit and the schedules: a tiny problem, and PyTorch's rates.

30 examples of 5 features in batches of 8: 4 optimizer steps per epoch, the
last batch short; a linear net.
"""
import torch
from torch import nn

from lrcourse import TensorLoader

BATCH, N = 8, 30


def make_data(seed=0, n=N):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=gen)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    return TensorLoader(X, y, BATCH, shuffle=True, seed=seed), TensorLoader(X, y, BATCH)


def make_net(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(5, 2)


def torch_rates(make_scheduler, num_updates, base_lr=0.5):
    """The rate PyTorch's scheduler prescribes for updates 0..num_updates-1.

    Read from ``param_groups[0]['lr']`` before each ``optimizer.step()`` /
    ``scheduler.step()`` pair, the way a training loop uses it.
    """
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(num_updates):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def hand_loop(rates_per_step, seed=0):
    """Plain SGD over the same batches with the given rate at each step: the weights fit must reach.

    Runs as many epochs as ``rates_per_step`` covers (4 steps per epoch).
    """
    train_iter, _ = make_data(seed)
    net = make_net(seed)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    loss = nn.CrossEntropyLoss()
    k = 0
    for _ in range(len(rates_per_step) // len(train_iter)):
        for X, y in train_iter:
            opt.param_groups[0]["lr"] = rates_per_step[k]
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
            k += 1
    return net
