"""Run the chapters that the book's execution cache lacks, one per CPU core, into that cache.

``jupyter-book build`` executes the chapters one after the other, each kernel with
torch's default of one thread per core. On two cores, two chapters at a time with
one thread each got through the book in 881 s against 1 028 s one after the other
(2026-12-02): each chapter runs 1.64 times slower on one thread, but two run at
once. ``make book`` calls
this script first; the build then finds every chapter in the cache
(``_build/.jupyter_cache``, the same cache and the same matching as myst-nb's
``execute_notebooks: cache``) and only renders.

    python scripts/execute_chapters.py

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
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    cache = get_cache(str(CACHE))
    for nb in sorted(ROOT.glob("chapters/*.ipynb")):
        cache.add_nb_to_project(str(nb))
    stale = cache.list_unexecuted()
    if not stale:
        print("every chapter is in the execution cache")
        return 0
    print(f"running {len(stale)} chapter(s), {os.cpu_count()} at a time (one per core), one torch thread each:",
          ", ".join(Path(r.uri).name for r in stale), flush=True)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by every kernel
    os.environ.setdefault("LRCOURSE_HEADLESS", "1")
    start = time.perf_counter()
    executor = load_executor("local-parallel", cache)  # a process pool of one worker per core
    result = executor.run_and_cache(filter_pks=[r.pk for r in stale], timeout=TIMEOUT, allow_errors=False)
    failed = result.errored + result.excepted
    print(f"{len(result.succeeded)} ran, {len(failed)} failed, in {time.perf_counter() - start:.0f} s")
    for uri in failed:
        print(f"failed: {uri} (the build runs it again and reports the error)", file=sys.stderr)
    return 0  # a failure is the build's to report, with the notebook's traceback


if __name__ == "__main__":
    sys.exit(main())
