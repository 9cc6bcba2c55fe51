"""Where one epoch goes: data slicing, forward, backward, optimizer step and test evaluation.

Usage: make bench   (or: .venv/bin/python benchmarks/epoch_profile.py [--epochs N])

A plain loop, the same work as one epoch of ``fit`` (full Fashion-MNIST,
batch 256, SGD, then the 10 000 test images), with a clock read between the
parts. On a CPU every part runs synchronously, so the parts add up to the
epoch; on a GPU the clock would measure kernel launches, not kernels, so the
script synchronizes after each part there (which slows the epoch a little).
The first epoch warms up and is dropped; the median of the others is shown.
Figures only: nothing here is asserted.
"""
import argparse
import statistics
import time

import torch
from torch import nn

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per row, the first dropped (default 3)")
    args = parser.parse_args()
    device = try_gpu()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train_iter, test_iter = load_fashion_mnist(256, device=device)
    print(f"# one epoch, part by part, {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"# batch 256, SGD, 60000 training + 10000 test images; median of {args.epochs - 1} epochs "
          "after one warm-up; seconds (share of the epoch)")
    print(f"{'net':<6} {'layout':<14} {'epoch':>7} " + " ".join(f"{p:>15}" for p in PARTS))
    for name, make in (("lenet", lenet), ("mlp", mlp)):
        for layout in ("default", "channels_last"):
            if name == "mlp" and layout == "channels_last":
                continue  # no 4-d weights: nothing changes
            net = make(seed=0).to(device)
            if layout == "channels_last":
                net = net.to(memory_format=torch.channels_last)
            optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
            runs = [one_epoch(net, optimizer, nn.CrossEntropyLoss(), train_iter, test_iter, sync)
                    for _ in range(args.epochs)][1:]
            parts = {p: statistics.median(r[p] for r in runs) for p in PARTS}
            total = sum(parts.values())
            print(f"{name:<6} {layout:<14} {total:>7.2f} " +
                  " ".join(f"{parts[p]:>6.2f} ({parts[p] / total:>4.0%})" for p in PARTS), flush=True)


if __name__ == "__main__":
    main()
