#!/usr/bin/env bash
# Make Fashion-MNIST available offline when it is not found anywhere lrcourse looks.
# As root on Debian/Ubuntu: install the dataset-fashion-mnist package.
# Otherwise: say so and let torchvision download it at run time (needs internet).
set -euo pipefail
python="${1:-.venv/bin/python}"
if "$python" -c 'import sys; from lrcourse.data import find_offline; sys.exit(not find_offline())' 2>/dev/null
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
