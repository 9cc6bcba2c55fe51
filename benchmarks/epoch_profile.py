"""Where one epoch goes: data slicing, forward, backward, optimizer step and test evaluation.

Usage: make bench   (or: .venv/bin/python benchmarks/epoch_profile.py [--epochs N])

A plain loop, the same work as one epoch of ``fit`` (full Fashion-MNIST,
batch 256, SGD, then the 10 000 test images), with a clock read between the
parts. On a CPU every part runs synchronously, so the parts add up to the
epoch; on a GPU the clock would measure kernel launches, not kernels, so the
script synchronizes after each part there (which slows the epoch a little).
The configurations take turns, one epoch each, so that a machine that
drifts touches all alike; each one's first epoch warms up and is dropped,
the median (and range) of the others is shown. LeNet is timed as
``lenet()`` builds it (ReLU after pooling), in the textbook order (ReLU
before pooling: the same function, see ``lenet``'s docstring) and with
``channels_last`` weights.
Figures only: nothing here is asserted.
"""
import argparse
import statistics
import time

import torch
from torch import nn

from figures import spread  # benchmarks/figures.py, beside this script
from lrcourse import lenet, load_fashion_mnist, mlp
from lrcourse.config import machine, try_gpu
from lrcourse.metrics import evaluate

PARTS = ("data", "forward", "backward", "step", "evaluate")


def one_epoch(net, optimizer, loss, train_iter, test_iter, sync) -> dict:
    seconds = dict.fromkeys(PARTS, 0.0)
    batches = iter(train_iter)
    while True:
        t0 = time.perf_counter()
        try:
            X, y = next(batches)
        except StopIteration:
            break
        sync()
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        l = loss(net(X), y)
        sync()
        t2 = time.perf_counter()
        l.backward()
        sync()
        t3 = time.perf_counter()
        optimizer.step()
        sync()
        t4 = time.perf_counter()
        for part, a, b in zip(PARTS, (t0, t1, t2, t3), (t1, t2, t3, t4)):
            seconds[part] += b - a
    t0 = time.perf_counter()
    evaluate(net, test_iter, loss)
    seconds["evaluate"] = time.perf_counter() - t0
    return seconds


def textbook_lenet() -> nn.Sequential:
    """lenet(seed=0) in the usual order, ReLU before pooling: the same function, more work."""
    layers = list(lenet(seed=0))
    layers[1], layers[2], layers[4], layers[5] = layers[2], layers[1], layers[5], layers[4]
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per row, the first dropped (default 4)")
    args = parser.parse_args()
    device = try_gpu()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train_iter, test_iter = load_fashion_mnist(256, device=device)
    print(f"# one epoch, part by part, {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"# batch 256, SGD, 60000 training + 10000 test images; median [min-max] of {args.epochs - 1} "
          "epochs after one warm-up, in turns; seconds (share of the epoch)")
    configs = {  # name -> (net, memory layout)
        "lenet": (lenet(seed=0), None),
        "lenet, ReLU before pool": (textbook_lenet(), None),
        "lenet, channels_last": (lenet(seed=0), torch.channels_last),
        "mlp": (mlp(seed=0), None),
    }
    runs = {name: [] for name in configs}
    optimizers = {}
    for name, (net, layout) in configs.items():
        net.to(device) if layout is None else net.to(device, memory_format=layout)
        optimizers[name] = torch.optim.SGD(net.parameters(), lr=0.1)
    for round_ in range(args.epochs):  # one epoch of each in turn: drifts of the machine touch all
        for name, (net, _) in configs.items():
            seconds = one_epoch(net, optimizers[name], nn.CrossEntropyLoss(), train_iter, test_iter, sync)
            if round_:
                runs[name].append(seconds)
    print(f"{'net':<24} {'epoch':>16} " + " ".join(f"{p:>14}" for p in PARTS))
    for name, epochs in runs.items():
        totals = [sum(r.values()) for r in epochs]
        parts = {p: statistics.median(r[p] for r in epochs) for p in PARTS}
        total = statistics.median(totals)
        print(f"{name:<24} {spread(totals):>16} " +
              " ".join(f"{parts[p]:>6.2f} ({parts[p] / total:>4.0%})" for p in PARTS), flush=True)


if __name__ == "__main__":
    main()
