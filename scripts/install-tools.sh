#!/usr/bin/env bash
# Install the Debian tools the tests run for real, when they are missing: chromium (the
# dashboard's browser tests) and a Chinese font for it (fonts-wqy-zenhei: without one the
# zh-CN pages are drawn as empty boxes, in the screenshots too), systemd's systemd-analyze
# (ptm startup's unit and ptm export systemd are checked by systemd itself), docker-compose
# (ptm export compose is checked by Compose's own loader, `docker-compose config`, which needs
# no Docker daemon) and nodejs (a PM2 ecosystem.config.js is evaluated by node, and the tests
# of PM2 files start a Node server). Idempotent: installs nothing that is already there.
# Never downloads a binary of its own: only Debian's packages, with apt.
set -euo pipefail

# a command, or the path of a file the package installs
declare -A NEEDED=([/usr/bin/chromium]=chromium [/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc]=fonts-wqy-zenhei
    [systemd-analyze]=systemd [docker-compose]=docker-compose [node]=nodejs)
missing=()
for tool in "${!NEEDED[@]}"; do
    if command -v "$tool" >/dev/null 2>&1 || [ -f "$tool" ]; then
        echo "$tool: already installed"
    else
        missing+=("${NEEDED[$tool]}")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-tools.sh: need root or sudo to apt-get install ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "installed: ${missing[*]}"
