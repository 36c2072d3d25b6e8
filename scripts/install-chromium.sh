#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/point_tron/test_browser.py).
# Idempotent: does nothing when /usr/bin/chromium already exists. Never downloads a
# browser build of its own (no `playwright install`): Playwright drives Debian's binary.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-chromium.sh: need root or sudo to run apt-get install chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends chromium
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
