#!/usr/bin/env bash
# Make Debian's chromium available for the browser test (tests/test_browser.py drives
# /usr/bin/chromium with Playwright; Playwright's own browser download is not used).
# As root on Debian: install the chromium package.
# Otherwise: say so; the browser test then skips, naming the missing binary.
set -euo pipefail
chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "$chromium not found: installing Debian's chromium for the browser test" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "$chromium not found: the browser test (tests/test_browser.py) will be skipped." >&2
  echo "Run 'sudo apt-get install chromium' to include it." >&2
fi
