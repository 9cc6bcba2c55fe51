"""Does a range-test suggestion train as well as the best rate of a grid? Printed as a table.

Usage: .venv/bin/python benchmarks/lr_finder_rules.py [--net lenet|mlp] [--epochs N] [--seeds S] [--limit L]

For each seed s (default 3 seeds): ``lr_range_test`` on ``lenet(seed=s)``
(or ``mlp(seed=s)``) with its defaults (plain SGD, 1e-7 to 10 over 100
batches of 256), then the net from the same initial weights trained for N epochs (default 5) with plain SGD
at each rule's suggested rate and at each rate of a constant grid. Per rate
source: the rate (geometric mean over the seeds, and its range), the final
test accuracy mean ± std over the seeds, and its gap to the best grid rate's
mean. A run whose loss turned non-finite counts as diverged and stays out of
the mean; a rule that could not decide trains nothing for that seed.

Full Fashion-MNIST: 3 × (4 rules + 5 grid rates) × 5 epochs = 135 LeNet
epochs, a few minutes on a GPU. ``--limit L`` keeps the first L examples of
each split (a smoke run: ``--limit 1024 --epochs 1 --seeds 1``).
Figures only: nothing here is asserted.
"""
import argparse
import math
import statistics
import time
import warnings

from lrcourse import fit, lenet, load_fashion_mnist, lr_range_test, mlp
from lrcourse.config import machine

GRID = (0.03, 0.1, 0.3, 0.6, 1.0)
NETS = {"lenet": lenet, "mlp": mlp}


def rate_text(rates: list[float]) -> str:
    if not rates:
        return "-"
    geo = math.exp(statistics.mean(math.log(r) for r in rates))
    return f"{geo:.3g}" if len(rates) == 1 else f"{geo:.3g} [{min(rates):.3g}-{max(rates):.3g}]"


def acc_text(accs: list[float]) -> str:
    if not accs:
        return "-"
    if len(accs) == 1:
        return f"{accs[0]:.4f}"
    return f"{statistics.mean(accs):.4f} ± {statistics.stdev(accs):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=sorted(NETS), default="lenet")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="examples per split (default: all)")
    args = parser.parse_args()
    make_net = NETS[args.net]
    train_iter, test_iter = load_fashion_mnist(256, limit=args.limit)
    print(f"# lr finder rules vs a grid, {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"# {args.net}, SGD, batch 256, {train_iter.num_examples} training examples, {args.epochs} epochs, "
          f"{args.seeds} seeds")

    rates: dict[str, list] = {}  # rate source -> one rate (or None) per seed
    for seed in range(args.seeds):
        train_iter.reseed(seed)
        start = time.perf_counter()
        result = lr_range_test(make_net(seed=seed), train_iter)
        print(f"# seed {seed}: {result} ({time.perf_counter() - start:.1f} s)", flush=True)
        for rule, rate in result.suggestions.items():
            rates.setdefault(f"rule {rule}", []).append(rate)
    for rate in GRID:
        rates[f"grid {rate:g}"] = [rate] * args.seeds

    accs: dict[str, list[float]] = {}
    diverged: dict[str, int] = {}
    for source, per_seed in rates.items():
        accs[source], diverged[source] = [], 0
        for seed, rate in enumerate(per_seed):
            if rate is None:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a diverged run is counted below
                h = fit(make_net(seed=seed), train_iter, test_iter, num_epochs=args.epochs, lr=rate,
                        seed=seed, animate=False, progress=False)
            if h.diverged:
                diverged[source] += 1
            else:
                accs[source].append(h.test_acc[-1])

    grid_means = [statistics.mean(accs[f"grid {r:g}"]) for r in GRID if accs[f"grid {r:g}"]]
    best = max(grid_means) if grid_means else float("nan")
    print(f"{'rate source':<18} {'rate':<24} {'runs':>4} {'diverged':>8} {'test acc':>17} "
          f"{'gap to best grid':>16}")
    for source, per_seed in rates.items():
        ran = [r for r in per_seed if r is not None]
        gap = f"{statistics.mean(accs[source]) - best:+.4f}" if accs[source] else "-"
        print(f"{source:<18} {rate_text(ran):<24} {len(ran):>4} {diverged[source]:>8} "
              f"{acc_text(accs[source]):>17} {gap:>16}", flush=True)


if __name__ == "__main__":
    main()
