#!/usr/bin/env bash
# Make Fashion-MNIST available offline when it is not found anywhere lrcourse looks.
# As root on Debian/Ubuntu: install the dataset-fashion-mnist package.
# Otherwise: say so and let torchvision download it at run time (needs internet).
set -euo pipefail
python="${1:-.venv/bin/python}"
if "$python" - <<'PY' 2>/dev/null
import sys
from lrcourse.data import _find_all, fashion_mnist_dirs
sys.exit(0 if any(d is not None and d.is_dir() and _find_all(d) for _, d in fashion_mnist_dirs()) else 1)
PY
then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Fashion-MNIST not found: installing Debian's dataset-fashion-mnist" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
else
  echo "Fashion-MNIST not found offline; torchvision will try to download it." >&2
  echo "Offline? Run 'sudo apt-get install dataset-fashion-mnist' or set LRCOURSE_DATA." >&2
fi
