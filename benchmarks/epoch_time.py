"""Seconds per epoch of ``lrcourse.fit`` (training + test evaluation), printed as a table.

Usage: make bench   (or: .venv/bin/python benchmarks/epoch_time.py [--epochs N])

Each configuration trains for N epochs (default 4) on the full Fashion-MNIST;
the first epoch is reported apart (warm-up: allocator, kernels), the median
and spread are over the others. Figures only: nothing here is asserted.
"""
import argparse
import statistics
import time

from lrcourse import fit, lenet, load_fashion_mnist, mlp
from lrcourse.config import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    train_iter, test_iter = load_fashion_mnist(256)
    print(f"# epoch time, {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"{'net':<6} {'live plot + bar':<16} {'first (s)':>9} {'median (s)':>10} {'min':>6} {'max':>6}")
    for name, make in (("lenet", lenet), ("mlp", mlp)):
        for ui in (False, True):
            h = fit(make(seed=0), train_iter, test_iter, num_epochs=args.epochs, lr=0.1, seed=0,
                    animate=ui, progress=ui)
            rest = h.epoch_time[1:] or h.epoch_time
            print(f"{name:<6} {'on' if ui else 'off':<16} {h.epoch_time[0]:>9.2f} "
                  f"{statistics.median(rest):>10.2f} {min(rest):>6.2f} {max(rest):>6.2f}", flush=True)


if __name__ == "__main__":
    main()
