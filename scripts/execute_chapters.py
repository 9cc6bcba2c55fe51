"""Run the chapters that the book's execution cache lacks, one per CPU core, into that cache.

``jupyter-book build`` executes the chapters one after the other, each kernel with
torch's default of one thread per core. On two cores, two chapters at a time with
one thread each get through the book about 1.5 times faster: a small network like
LeNet keeps one core busy better than it spreads over two. ``make book`` calls
this script first; the build then finds every chapter in the cache
(``_build/.jupyter_cache``, the same cache and the same matching as myst-nb's
``execute_notebooks: cache``) and only renders.

    python scripts/execute_chapters.py [--serial]

Every kernel gets ``OMP_NUM_THREADS=1`` (torch reads it at import). A chapter that
fails is reported with its traceback and not cached; the build then runs it itself
and fails there, as it would have without this script.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.executors import load_executor

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
TIMEOUT = 3600  # as _config.yml's execute.timeout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serial", action="store_true",
                        help="one chapter at a time (default: one per core, jupyter-cache's process pool)")
    args = parser.parse_args(argv)
    workers = 1 if args.serial else os.cpu_count() or 1
    cache = get_cache(str(CACHE))
    for nb in sorted(ROOT.glob("chapters/*.ipynb")):
        cache.add_nb_to_project(str(nb))
    stale = cache.list_unexecuted()
    if not stale:
        print("every chapter is in the execution cache")
        return 0
    print(f"running {len(stale)} chapter(s), {workers} at a time, one torch thread each:",
          ", ".join(Path(r.uri).name for r in stale), flush=True)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by every kernel
    os.environ.setdefault("LRCOURSE_HEADLESS", "1")
    start = time.perf_counter()
    executor = load_executor("local-parallel" if workers > 1 else "local-serial", cache)
    result = executor.run_and_cache(filter_pks=[r.pk for r in stale], timeout=TIMEOUT, allow_errors=False)
    failed = result.errored + result.excepted
    print(f"{len(result.succeeded)} ran, {len(failed)} failed, in {time.perf_counter() - start:.0f} s")
    for uri in failed:
        print(f"failed: {uri} (the build runs it again and reports the error)", file=sys.stderr)
    return 0  # a failure is the build's to report, with the notebook's traceback


if __name__ == "__main__":
    sys.exit(main())
