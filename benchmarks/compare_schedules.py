"""Chapter 10's data: every schedule of chapters 3-7 on the chapter-3 task, over seeds, to a JSON file.

Usage: .venv/bin/python benchmarks/compare_schedules.py [--seeds S] [--epochs N] [--limit L] [--out PATH]

Trains LeNet (SGD, batch 256, full Fashion-MNIST) for N epochs (default 10)
with each strategy of ``lrcourse.compare.STRATEGIES`` and seeds 0..S-1
(default 5), each seed from the same initial weights for every strategy,
and writes one record per run (final train loss, train and test accuracy,
best test accuracy, seconds, diverged) with the command, the machine and
the date to ``lrcourse/results/schedules.json``, which chapter 10 renders
(the file ships with the package, so the chapter finds it in Colab too).
8 strategies × 5 seeds × 10 epochs: 25 minutes on two CPU cores (2026-11-21).
Prints each run as it finishes and the summary at the end.
"""
import argparse
import shlex
import sys
import time
from pathlib import Path

from lrcourse import load_fashion_mnist
from lrcourse.compare import RESULTS as OUT
from lrcourse.compare import STRATEGIES, run_comparison, save_runs, summary_table
from lrcourse.config import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="examples per split (default: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    train_iter, test_iter = load_fashion_mnist(256, limit=args.limit)
    print(f"# schedules over seeds, {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"# LeNet, SGD, batch 256, {train_iter.num_examples} training examples, {args.epochs} epochs, "
          f"seeds 0-{args.seeds - 1}", flush=True)

    def show(r):
        print(f"{r['strategy']:<34} seed {r['seed']}  train loss {r['train_loss']:.3f}  "
              f"test acc {r['test_acc']:.4f}  {r['seconds']:.0f} s{'  DIVERGED' if r['diverged'] else ''}",
              flush=True)

    records = run_comparison(STRATEGIES, range(args.seeds), train_iter, test_iter, num_epochs=args.epochs,
                             progress=show)
    command = "python benchmarks/compare_schedules.py " + shlex.join(sys.argv[1:])
    save_runs(args.out, records, command=command.strip(), num_epochs=args.epochs,
              note=f"{train_iter.num_examples} training and {test_iter.num_examples} test examples")
    print()
    print(summary_table(records, caption="final test accuracy; * : below the best by more than twice "
                                         "the standard error (2·se)"))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
