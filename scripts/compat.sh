#!/usr/bin/env bash
# make compat: the course in a Colab-like environment, the one learners meet.
# Colab ships ipywidgets 7.7.1 and its own torch; here the torch/torchvision pair on this machine's disk
# (2.14.1 / 0.29.1, not the lock's 2.15.0 / 0.29.2) stands in for it. Then, as the chapters' setup cell
# does, `pip install` of the package, which must replace none of them; then the widget tests and
# chapters 2, 3 and 7 (the widget chapters) in quick mode, run by nbval.
# The venv (.venv-compat) takes about 6.0 GB; it is kept for the next run (`rm -rf .venv-compat`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-compat
pip_flags="--disable-pip-version-check --no-cache-dir -q"
pin() { sed -n "s/^\($1==.*\)/\1/Ip" requirements/lock.txt; }  # a test tool at the lock's version
if [ ! -e $venv/.preinstalled ]; then
  rm -rf $venv && python3 -m venv $venv
  # what Colab has before the package: ipywidgets 7.7.1 with its classic-Notebook front end
  # (widgetsnbextension 3.6.1: 3.6.10 breaks Output widgets with ipywidgets 7.7.1), torch, and the kernel
  $venv/bin/pip install $pip_flags torch==2.14.1 torchvision==0.29.1 ipywidgets==7.7.1 \
    widgetsnbextension==3.6.1 "ipykernel<7" matplotlib scipy tqdm
  touch $venv/.preinstalled
fi
before=$($venv/bin/pip freeze --exclude-editable | sort)
$venv/bin/pip install $pip_flags .
rm -rf build  # setuptools' build folder from the install: a second copy of the package in the checkout
after=$($venv/bin/pip freeze --exclude-editable | grep -v '^lrcourse' | sort)
changed=$(comm -23 <(echo "$before") <(echo "$after"))
if [ -n "$changed" ]; then
  echo "compat: installing lrcourse replaced what Colab has:"; echo "$changed"; exit 1
fi
echo "compat: pip install of lrcourse replaced nothing; $(echo "$after" | grep -iE '^(torch|torchvision|ipywidgets|widgetsnbextension)==' | paste -sd' ')"
scripts/ensure_data.sh $venv/bin/python
$venv/bin/pip install $pip_flags "$(pin pytest)" "$(pin hypothesis)" "$(pin nbval)" "$(pin PyYAML)"
cd tests  # the installed package, not the checkout's lrcourse/
start=$SECONDS
LRCOURSE_QUICK=1 LRCOURSE_HEADLESS=1 ../$venv/bin/python -m pytest -q -p no:cacheprovider --rootdir=.. \
  -c ../pyproject.toml test_widgets.py ../chapters/02_momentum.ipynb ../chapters/03_schedules.ipynb \
  ../chapters/07_lr_finder.ipynb --nbval-lax --nbval-current-env
echo "compat: passed in $(( SECONDS - start )) s"
