#!/usr/bin/env bash
# Prepare what scripts/gpu_check.sh needs on a bare GPU machine that reaches no package registry:
# the wheels of the test tools it lacks (for its Python, 3.12 by default) in .whl, and Fashion-MNIST
# in .data. Both folders are ignored by git; carry them along (about 48 MB together).
# Usage: scripts/gpu_wheels.sh [python version, default 3.12]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-3.12}"
rm -rf .whl && mkdir -p .whl .data
# The machine has torch, numpy, matplotlib, scipy, pytest, hypothesis, tqdm and yaml; these it lacks.
# Their own needs come along, at the versions of requirements/lock.txt.
python3 -m pip download -q --disable-pip-version-check --only-binary=:all: -d .whl \
  --python-version "$version" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 --platform any \
  -c requirements/lock.txt nbval ipykernel ipywidgets nbformat jupyter_client 2>&1 | grep -v "^WARNING: Location" || true
# what the machine holds already, or what would bring a second torch: drop it
rm -f .whl/torch-* .whl/numpy-* .whl/nvidia_* .whl/triton-* .whl/pytest-* .whl/pluggy-* .whl/packaging-* \
  .whl/iniconfig-* .whl/coverage-* .whl/attrs-* .whl/pygments-* .whl/psutil-* .whl/python_dateutil-* \
  .whl/typing_extensions-*
python="$(test -x .venv/bin/python && echo .venv/bin/python || echo python3)"
"$python" - <<'PY'
import shutil, sys
sys.path.insert(0, ".")
from lrcourse.data import find_offline
found = find_offline()
if not found:
    sys.exit("Fashion-MNIST not found here: run `make data` first")
for path in found.values():
    shutil.copy(path, ".data/")
PY
du -sh .whl .data
