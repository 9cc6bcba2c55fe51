"""What the live plot and the progress bar cost, measured where they draw: in a Jupyter kernel.

Usage: make bench   (or: .venv/bin/python benchmarks/ui_overhead.py [--rounds N] [--epochs E])

Outside a kernel the Animator draws nothing and tqdm writes text, so timing
``fit`` in a script would hide the cost. This script starts a real IPython
kernel (the one of this interpreter, not headless) and runs ``fit`` there,
in turn with ``animate=True, progress=True`` (what a learner sees: PNG
frames of the Animator, a tqdm widget) and with both off.

Two measures of the cost, as a share of the epoch:

* **in UI code**: the seconds spent inside the Animator and the progress bar
  (creating them, every ``add``/``update``, every frame and the last one,
  sending them to the front end), timed around those calls in the run with
  both on. Precise, and blind to other processes.
* **wall difference**: the run with both on minus the plain run of the same
  round, divided by the plain run. Catches anything the first misses, but on
  a shared machine the noise between two runs can exceed the cost itself.

Figures only: nothing here is asserted.
"""
import argparse
import json
import os
import subprocess
import time

from jupyter_client.manager import start_new_kernel

from figures import spread  # benchmarks/figures.py, beside this script
from lrcourse.config import machine

CODE = """
import functools, json, time
from lrcourse import fit, lenet, mlp, load_fashion_mnist, plotting, training
train_iter, test_iter = load_fashion_mnist(256)
ui = {{"seconds": 0.0, "depth": 0}}

def timed_ui(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        ui["depth"] += 1
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            ui["depth"] -= 1
            if ui["depth"] == 0:
                ui["seconds"] += time.perf_counter() - start
    return wrapper

for cls, names in ((plotting.Animator, ("__init__", "add", "draw", "flush")),
                   (training._Progress, ("__init__", "update", "close"))):
    for name in names:
        setattr(cls, name, timed_ui(getattr(cls, name)))

def timed(make, seed, on):
    ui["seconds"] = 0.0
    start = time.perf_counter()
    fit(make(seed=seed), train_iter, test_iter, num_epochs={epochs}, lr=0.1, seed=seed,
        animate=on, progress=on)
    plotting._flush_pending()  # the last frame, which the kernel draws when the cell ends
    return time.perf_counter() - start, ui["seconds"]
"""

ROUND = "print(json.dumps([timed({net}, {seed}, True), timed({net}, {seed}, False)]))"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="counted rounds per net (default 4)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit call (default 3)")
    parser.add_argument("--nets", nargs="+", choices=["lenet", "mlp"], default=["lenet", "mlp"])
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("LRCOURSE_HEADLESS", "LRCOURSE_QUICK")}
    km, kc = start_new_kernel(kernel_name="python3", env=env, stderr=subprocess.DEVNULL)
    try:
        run(kc, CODE.format(epochs=args.epochs))
        print(f"# live plot + progress bar in a Jupyter kernel, {time.strftime('%Y-%m-%d')}, {machine()}")
        print(f"# fit, {args.epochs} epochs per call, full Fashion-MNIST, batch 256; {args.rounds} rounds "
              "(plot + bar on, then off) after one warm-up round; median [min-max]")
        print(f"{'net':<6} {'s/epoch, plain':>20} {'s/epoch, plot + bar':>20} {'in UI code':>20} "
              f"{'wall difference':>22}")
        for net in args.nets:
            plain, shown, in_ui = [], [], []
            for seed in range(args.rounds + 1):
                (t_on, ui_on), (t_off, _) = json.loads(run(kc, ROUND.format(net=net, seed=seed)))
                if seed:
                    shown.append(t_on / args.epochs)
                    plain.append(t_off / args.epochs)
                    in_ui.append(100 * ui_on / t_on)
            wall = [100 * (a - b) / b for a, b in zip(shown, plain)]
            print(f"{net:<6} {spread(plain):>20} {spread(shown):>20} {spread(in_ui, ' %', '.1f'):>20} "
                  f"{spread(wall, ' %', '.1f'):>22}", flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
