#!/usr/bin/env bash
# The course on a bare GPU machine, in under 10 minutes: the device, the test suite (the tests marked
# `device` on the GPU, the bit-exact ones on the CPU), every chapter in quick mode (nbval; the chapters
# name no device, so they train on the GPU), and the GPU figures of `make bench`.
#
# The machine needs Python with torch, torchvision, numpy, scipy, matplotlib, pytest, hypothesis, tqdm
# and yaml; it reaches no registry. What it lacks comes from folders made here beforehand by
# scripts/gpu_wheels.sh: WHEELS (default .whl) and DATA (Fashion-MNIST, default .data).
# Usage: scripts/gpu_check.sh [WHEELS] [DATA]      (output: one log, also under $OUT when that is set)
set -uo pipefail
cd "$(dirname "$0")/.."
wheels="${1:-.whl}"; data="${2:-.data}"
python="${PYTHON:-python3}"
log="${OUT:-/tmp}/gpu_check.log"
exec > >(tee "$log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH="/tmp/lrcourse-site:$PWD" LRCOURSE_DATA="$PWD/$data"
status=0
step() { echo; echo "== $1 ($(date -u +%T))"; }
run() { local start=$SECONDS; "$@"; local rc=$?; echo "-- exit $rc after $((SECONDS - start)) s"; [ $rc = 0 ] || status=1; }

step "install the wheels of $wheels"
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/lrcourse-site "$wheels"/*.whl || exit 1
step "the device"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
"$python" - <<'PY'
import torch, torchvision, lrcourse
from lrcourse.config import machine, try_gpu
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), torchvision {torchvision.__version__}")
print("lrcourse trains on", try_gpu(), "-", machine())
PY
workers=$(( $(nproc) > 8 ? 8 : $(nproc) ))
# pytest-xdist where the machine has it; one notebook stays on one worker (its cells share a kernel)
xdist=$("$python" -c 'import xdist' 2>/dev/null && echo "-n $workers --dist loadfile" || echo "")
step "the tests ($xdist)"
run "$python" -m pytest -q -p no:cacheprovider $xdist -m "not browser and not frontend" tests
step "the chapters in quick mode, on the GPU"
LRCOURSE_QUICK=1 LRCOURSE_HEADLESS=1 run "$python" -m pytest -q -p no:cacheprovider $xdist chapters \
  --nbval-lax --nbval-current-env
step "the GPU figures of make bench"
run "$python" benchmarks/epoch_profile.py --epochs 3
echo; echo "gpu_check: $([ $status = 0 ] && echo passed || echo FAILED) in $SECONDS s"
exit $status
