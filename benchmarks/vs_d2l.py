"""Seconds per epoch of lrcourse's ``fit`` against d2l's ``train_ch6``, run in interleaved pairs.

Usage: make bench   (or: .venv/bin/python benchmarks/vs_d2l.py [--pairs N] [--nets lenet mlp])

One epoch is one call with ``num_epochs=1``: building the live plot, every
training step on Fashion-MNIST (60 000 images, batch 256, SGD) and the
evaluation on the 10 000 test images, on the same device and the same network
(d2l re-initialises its weights, as its chapters do). The calls alternate, d2l
then lrcourse (its default loop, which stores LeNet's weights
``channels_last``, then with ``channels_last=False``), so that a machine that
slows down or speeds up during the run touches both sides alike; each round
gives one ratio per loop. Each call starts after a garbage collection and a 2
s rest, so that none pays for the exit of the one before (d2l's loader starts
4 worker processes per pass). The first round warms the caches and is not
counted.

d2l (``pip install --no-deps d2l==1.0.3`` plus pandas, scipy, requests,
matplotlib-inline; ``make bench`` installs them from
``requirements/bench.txt``) reads Fashion-MNIST through torchvision from
``../data``: the script gives it a copy of the offline files in a temporary
folder and runs it from there. It is imported here only; never from
``lrcourse`` or the chapters. Figures only: nothing here is asserted.
"""
import argparse
import contextlib
import gc
import gzip
import io
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from figures import spread  # benchmarks/figures.py, beside this script
from lrcourse import fit, lenet, load_fashion_mnist, mlp
from lrcourse.config import machine, try_gpu
from lrcourse.data import FILES, find_offline

NETS = {"lenet": lenet, "mlp": mlp}
PAUSE = 2.0  # seconds of rest before each timed call


def d2l_data_root(tmp: Path) -> Path:
    """``tmp/data/FashionMNIST/raw`` holding the four files uncompressed; returns ``tmp/work``."""
    found = find_offline()
    if found is None:
        raise SystemExit("Fashion-MNIST not found offline: run `make data` first")
    raw = tmp / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in found.values():
        name = path.name.removesuffix(".gz")
        with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as src, \
                open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    (tmp / "work").mkdir()
    return tmp / "work"


def main() -> None:
    # d2l asks for 4 loader workers on any machine and warns about its own plot: not our figures
    warnings.filterwarnings("ignore", category=UserWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="counted pairs per net (default 5)")
    parser.add_argument("--nets", nargs="+", choices=sorted(NETS), default=["lenet", "mlp"])
    args = parser.parse_args()
    try:
        import d2l.torch as d2l
    except ImportError:
        raise SystemExit("d2l is not installed: `make bench` installs requirements/bench.txt") from None

    device = try_gpu()
    train_iter, test_iter = load_fashion_mnist(256, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        here = os.getcwd()
        os.chdir(d2l_data_root(Path(tmp)))
        try:
            d2l_train, d2l_test = d2l.load_data_fashion_mnist(256)
        finally:
            os.chdir(here)
        assert len(d2l_train.dataset) == FILES["train"][2] and len(d2l_test.dataset) == FILES["test"][2]

        def run_d2l(make, seed):
            with contextlib.redirect_stdout(io.StringIO()):
                start = time.perf_counter()
                d2l.train_ch6(make(seed=seed), d2l_train, d2l_test, 1, 0.1, device)
                return time.perf_counter() - start

        def run_lrcourse(make, seed, channels_last=True):
            with contextlib.redirect_stderr(io.StringIO()):  # the progress bar, drawn as text here
                start = time.perf_counter()
                fit(make(seed=seed), train_iter, test_iter, num_epochs=1, lr=0.1, seed=seed,
                    device=device, channels_last=channels_last)
                return time.perf_counter() - start

        sides = {"d2l train_ch6": run_d2l, "lrcourse fit": run_lrcourse,
                 "lrcourse fit, channels_last=False": lambda make, seed: run_lrcourse(make, seed, False)}
        print(f"# one epoch (train + test), d2l 1.0.3 train_ch6 vs lrcourse fit, {time.strftime('%Y-%m-%d')}, "
              f"{machine()}")
        print(f"# batch 256, SGD, Fashion-MNIST 60000/10000, {args.pairs} interleaved rounds after one "
              "warm-up round; seconds: median [min-max]; ratio = d2l / lrcourse, per round")
        print(f"{'net':<6} {'loop':<34} {'s/epoch':>20} {'ratio to d2l':>22}")
        for name in args.nets:
            make = NETS[name]
            times = {side: [] for side in sides}
            for round_ in range(args.pairs + 1):
                for side, run in sides.items():
                    gc.collect()
                    time.sleep(PAUSE)  # let the last call's loader workers exit before the clock starts
                    seconds = run(make, round_)
                    if round_:
                        times[side].append(seconds)
            base = times["d2l train_ch6"]
            for side, values in times.items():
                ratios = [b / v for b, v in zip(base, values)]
                ratio = "" if side.startswith("d2l") else spread(ratios, "x")
                print(f"{name:<6} {side:<34} {spread(values):>20} {ratio:>22}", flush=True)


if __name__ == "__main__":
    main()
