"""The cost of one sharpness measurement (lrcourse.sharpness.sharpness) and of one Hessian-vector product.

Usage: .venv/bin/python benchmarks/sharpness.py   (part of make bench)

The MLP and LeNet at initialization on n Fashion-MNIST training images: one Hessian-vector product
(a double backward pass), and one sharpness measurement with the stored sweeps' budget (Lanczos,
iters=20, tol=1e-3), with the products it took. The first call is dropped; the median [range] of 5 rounds
(3 for a measurement) is shown. Then the classroom widget's model, tiny_gd, for 500 steps.
Figures only: nothing here is asserted.
"""
import time

import torch

from figures import spread  # benchmarks/figures.py, beside this script
from lrcourse import lenet, load_fashion_mnist, mlp
from lrcourse.config import machine
from lrcourse.sharpness import hessian_eigenvalues, hvp, tiny_gd


def timed(fn, rounds=5):
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def main():
    print(machine())
    train_iter, _ = load_fashion_mnist(256, device="cpu")
    X, y = train_iter.X, train_iter.y
    for name, make, sizes in (("MLP", mlp, (512, 2048)), ("LeNet", lenet, (512, 2048))):
        net = make(seed=0)
        v = {k: torch.randn_like(p) for k, p in net.named_parameters()}
        for n in sizes:
            times, _ = timed(lambda: hvp(net, None, X[:n], y[:n], v))
            print(f"{name}, {n} images: one Hessian-vector product {spread(times, ' s')}")
            times, spectrum = timed(lambda: hessian_eigenvalues(net, None, X[:n], y[:n], iters=20, tol=1e-3), 3)
            print(f"{name}, {n} images: one sharpness measurement {spread(times, ' s')} "
                  f"({spectrum.iterations} products, λ_max = {spectrum.top:.2f})")
    times, _ = timed(lambda: tiny_gd(0.5, 500))
    print(f"tiny_gd, 500 steps (the stability explorer's redraw, before drawing): {spread(times, ' s')}")


if __name__ == "__main__":
    main()
