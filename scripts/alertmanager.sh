#!/usr/bin/env bash
# Install Debian's Alertmanager for the end-to-end alert tests, unless it is
# already installed. The binary is /usr/bin/prometheus-alertmanager. Needs
# apt-get and root, or sudo without a password.
set -euo pipefail

binary=/usr/bin/prometheus-alertmanager
if [ -x "$binary" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "cannot install prometheus-alertmanager: not root and no password-less sudo; install it, or the Alertmanager test is skipped" >&2
    exit 0
fi

echo "installing prometheus-alertmanager with apt-get" >&2
"${sudo[@]}" apt-get update >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends prometheus-alertmanager >&2
