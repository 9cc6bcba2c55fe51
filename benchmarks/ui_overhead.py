"""What the live plot and the progress bar cost, measured where they draw: in a Jupyter kernel.

Usage: make bench   (or: .venv/bin/python benchmarks/ui_overhead.py [--rounds N] [--epochs E])

Outside a kernel the Animator draws nothing and tqdm writes text, so timing
``fit`` in a script would hide the cost. This script starts a real IPython
kernel (the one of this interpreter, not headless), and runs ``fit`` there
with ``animate=True, progress=True`` (what a learner sees: PNG frames of
the Animator, a tqdm widget), with one of them, and with both off, in turn;
the whole call is timed, figure creation and the final frame included. The
extra seconds are reported as a share of the plain run of the same round.
"""
import argparse
import json
import os
import statistics
import time

from jupyter_client.manager import start_new_kernel

from lrcourse.config import machine

CODE = """
import json, time
from lrcourse import fit, lenet, mlp, load_fashion_mnist
train_iter, test_iter = load_fashion_mnist(256)
def timed(make, seed, plot, bar):
    start = time.perf_counter()
    fit(make(seed=seed), train_iter, test_iter, num_epochs={epochs}, lr=0.1, seed=seed,
        animate=plot, progress=bar)
    return time.perf_counter() - start
"""

VARIANTS = {"plain": (False, False), "plot": (True, False), "bar": (False, True), "plot + bar": (True, True)}
ROUND = "print(json.dumps([timed({net}, {seed}, *v) for v in {variants}]))"


def run(kc, code: str) -> str:
    """Execute ``code`` in the kernel; return what it printed (its displays are dropped)."""
    text = []

    def hook(msg):
        kind = msg["header"]["msg_type"]
        if kind == "stream" and msg["content"]["name"] == "stdout":
            text.append(msg["content"]["text"])
        elif kind == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=600)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"kernel error: {reply['content'].get('evalue')}")
    return "".join(text)


def spread(values, unit: str = "", fmt: str = ".2f") -> str:
    return f"{statistics.median(values):{fmt}}{unit} [{min(values):{fmt}}-{max(values):{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds per net (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit call (default 3)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("LRCOURSE_HEADLESS", "LRCOURSE_QUICK")}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        run(kc, CODE.format(epochs=args.epochs))
        print(f"# live plot + progress bar in a Jupyter kernel, {time.strftime('%Y-%m-%d')}, {machine()}")
        print(f"# fit, {args.epochs} epochs per call, full Fashion-MNIST, batch 256; {args.rounds} rounds "
              "(on, off) after one warm-up round; median [min-max]")
        print(f"{'net':<6} {'ui':<11} {'s/epoch':>20} {'overhead':>22}")
        for net in ("lenet", "mlp"):
            times = {name: [] for name in VARIANTS}
            for seed in range(args.rounds + 1):
                out = run(kc, ROUND.format(net=net, seed=seed, variants=list(VARIANTS.values())))
                if seed:
                    for name, seconds in zip(VARIANTS, json.loads(out)):
                        times[name].append(seconds / args.epochs)
            for name, values in times.items():
                share = [100 * (a - b) / b for a, b in zip(values, times["plain"])]
                print(f"{net:<6} {name:<11} {spread(values):>20} "
                      f"{'' if name == 'plain' else spread(share, ' %', '.1f'):>22}", flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
