"""Run chapters in quick mode and keep only the outputs nbval checks.

Usage: .venv/bin/python scripts/refresh_checked_outputs.py chapters/01_training_loop.ipynb [...]

Cells marked ``# NBVAL_CHECK_OUTPUT`` keep the outputs of this run (they are
deterministic: shapes, counts, tables); every other cell is stored without
outputs and execution counts, as the repository wants its notebooks. nbval
takes a checked cell without an execution count for an unrun cell, so checked
cells keep theirs, renumbered 1, 2, 3, ...
"""
import os
import sys

import nbformat
from nbclient import NotebookClient

MARK = "NBVAL_CHECK_OUTPUT"


def refresh(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    os.environ.update(LRCOURSE_QUICK="1", LRCOURSE_HEADLESS="1")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(path) or "."}}).execute()
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if MARK in cell.source:
            count += 1
            cell.execution_count = count
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = count
        else:
            cell.outputs = []
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    print("refreshed", path)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        refresh(p)
