"""Seconds each chapter takes to run top to bottom, in quick mode (what CI runs) or in full.

Usage: make bench   (or: .venv/bin/python benchmarks/notebook_suite.py [--full] [chapters/NN_*.ipynb ...])

Each chapter runs in a fresh kernel with ``LRCOURSE_HEADLESS=1`` (and
``LRCOURSE_QUICK=1`` unless ``--full``), as ``make test`` and ``make book``
run them; kernel start-up is included, nothing is written back. A second
table gives the full-mode times the last ``make book`` recorded in its
execution cache (``_build/.jupyter_cache``), when there is one: a full run
of every chapter takes over an hour on two CPU cores, too long for ``make
bench``. Figures only: nothing here is asserted.
"""
import argparse
import os
import subprocess
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from lrcourse.config import machine

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"


def run(path: Path, quick: bool) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ["LRCOURSE_HEADLESS"] = "1"
    if quick:
        os.environ["LRCOURSE_QUICK"] = "1"
    else:
        os.environ.pop("LRCOURSE_QUICK", None)
    start = time.perf_counter()
    NotebookClient(nb, timeout=3600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def recorded_full_times() -> dict[str, float]:
    """Chapter -> seconds of its latest full execution in the book's cache (empty without a cache)."""
    if not CACHE.is_dir():
        return {}
    from jupyter_cache import get_cache

    times = {}
    for record in sorted(get_cache(str(CACHE)).list_cache_records(), key=lambda r: r.created):
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:
            times[Path(record.uri).name] = (seconds, record.created)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full experiments (over an hour on a CPU)")
    parser.add_argument("chapters", nargs="*", type=Path)
    args = parser.parse_args()
    chapters = args.chapters or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    mode = "full" if args.full else "quick"
    print(f"# notebook suite, {mode} mode, {time.strftime('%Y-%m-%d')}, {machine()}")
    total = 0.0
    for path in chapters:
        seconds = run(path, quick=not args.full)
        total += seconds
        print(f"{path.name:<32} {seconds:>8.1f} s", flush=True)
    print(f"{'all ' + str(len(chapters)) + ' chapters':<32} {total:>8.1f} s  ({total / 60:.1f} min)")
    recorded = recorded_full_times()
    if recorded and not args.full:
        print("\n# full mode, as recorded by the last `make book` in _build/.jupyter_cache")
        for name, (seconds, created) in sorted(recorded.items()):
            print(f"{name:<32} {seconds:>8.1f} s  (run {created:%Y-%m-%d %H:%M})")
        full = sum(s for s, _ in recorded.values())
        print(f"{'all ' + str(len(recorded)) + ' chapters':<32} {full:>8.1f} s  ({full / 60:.1f} min)")


if __name__ == "__main__":
    main()
