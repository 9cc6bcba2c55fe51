"""Which cached chapters of the full book ran with a package other than the current one?

The book's execution cache (``_build/.jupyter_cache``, jupyter-cache) re-runs a chapter
only when the chapter's own code cells change. It does not see ``lrcourse/`` or the
pinned environment, so after a change there it would serve outputs that the current
code might not print. This script closes that gap by remembering, for each cache record
(one executed version of a chapter), the SHA-256 of every input it ran with:

    python scripts/book_inputs.py check    # before a build: name the stale chapters
    python scripts/book_inputs.py record   # after a build: remember the new records' inputs
    python scripts/book_inputs.py forget   # drop stale and unknown records, so they run again

``make book`` calls ``check`` and ``record``; ``make book-rerun`` calls ``forget`` first.
A record made before this script existed has no remembered inputs: it counts as unknown.
"""

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
RECORD = ROOT / "_build" / ".book-inputs.json"


def inputs():
    """{path relative to the checkout: SHA-256 hex} of what every chapter imports, loads or runs on."""
    files = sorted(ROOT.glob("lrcourse/**/*.py")) + sorted(ROOT.glob("lrcourse/results/*.json")) \
        + [ROOT / "requirements" / "lock.txt"]
    return {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def chapters():
    return sorted(ROOT.glob("chapters/*.ipynb"))


def load_record():
    return json.loads(RECORD.read_text()) if RECORD.exists() else {}


def changed(then, now):
    """Files added, removed or edited between two ``inputs()``, sorted."""
    return sorted(f for f in then.keys() | now.keys() if then.get(f) != now.get(f))


def status(cache, remembered, now):
    """[(chapter, cache record or None, None | 'unknown' | [changed files])] for every chapter."""
    rows = []
    for nb in chapters():
        try:
            rec = cache.match_cache_file(str(nb))
        except KeyError:  # not cached: the next build runs it anyway
            rows.append((nb, None, None))
            continue
        then = remembered.get(rec.hashkey)
        rows.append((nb, rec, "unknown" if then is None else changed(then, now) or None))
    return rows


def check(cache):
    now, stale = inputs(), 0
    for nb, rec, why in status(cache, load_record(), now):
        if why is None:
            continue
        stale += 1
        ran = rec.created.strftime("%Y-%m-%d %H:%M")
        what = ("with package files this script has no record of" if why == "unknown"
                else "before these changed: " + ", ".join(why))
        print(f"warning: cached {nb.name} ran {ran} {what}", file=sys.stderr)
    if stale:
        print(f"  The execution cache re-runs a chapter only when its own code changes, so these "
              f"{stale} may show stale outputs.\n  'make book-rerun' runs them again "
              f"(a full chapter takes 1 to 16 min on two CPU cores).", file=sys.stderr)


def record(cache, since):
    """Remember today's inputs for every record created at or after ``since``."""
    remembered, now = load_record(), inputs()
    records = cache.list_cache_records()
    for rec in records:
        if rec.created >= since and rec.hashkey not in remembered:
            remembered[rec.hashkey] = now
    live = {rec.hashkey for rec in records}  # forget what the cache itself dropped
    remembered = {key: files for key, files in remembered.items() if key in live}
    RECORD.write_text(json.dumps(remembered, indent=1, sort_keys=True) + "\n")


def forget(cache):
    for nb, rec, why in status(cache, load_record(), inputs()):
        if why is not None:
            cache.remove_cache(rec.pk)
            print(f"{nb.name}: cached outputs dropped, it runs again", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["check", "record", "forget"])
    parser.add_argument("--since", type=datetime.datetime.fromisoformat,
                        default=datetime.datetime.min,
                        help="record: only cache records created at or after this time (UTC)")
    args = parser.parse_args(argv)
    if not CACHE.exists():  # nothing cached: every chapter runs
        return
    cache = get_cache(str(CACHE))
    if args.action == "check":
        check(cache)
    elif args.action == "record":
        record(cache, args.since)
    else:
        forget(cache)


if __name__ == "__main__":
    main()
