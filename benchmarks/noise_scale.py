"""The cost of one gradient-noise-scale measurement (lrcourse.scaling.noise_scale) and of a DDP launch.

Usage: .venv/bin/python benchmarks/noise_scale.py   (part of make bench)

noise_scale: the MLP on n Fashion-MNIST training images, per-example gradients by torch.func in
chunks; the first call (which traces vmap) is dropped, the median [range] of 5 is shown.
launch: chapter 11's demo (python -m lrcourse.ddp_demo on 2 gloo ranks) as the notebook sees it,
start of torchrun to the History returned, once.
Figures only: nothing here is asserted.
"""
import time
from pathlib import Path
import tempfile

import torch

from figures import spread  # benchmarks/figures.py, beside this script
from lrcourse import load_fashion_mnist, mlp
from lrcourse.config import machine
from lrcourse.distributed import launch
from lrcourse.scaling import noise_scale


def main():
    print(machine())
    train_iter, _ = load_fashion_mnist(256, device="cpu")
    X, y = train_iter.X, train_iter.y
    net = mlp(seed=0)
    for n in (512, 1024, 2048):
        for chunk in (128, 256):
            noise_scale(net, X[:n], y[:n], chunk=chunk)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                noise_scale(net, X[:n], y[:n], chunk=chunk)
                times.append(time.perf_counter() - start)
            print(f"noise_scale, MLP, {n} examples, chunk {chunk}: {spread(times, ' s')}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        launch("lrcourse.ddp_demo", "--out", Path(tmp) / "w.pt", module=True, nproc_per_node=2, echo=False)
        print(f"launch of chapter 11's demo, 2 gloo ranks: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
