#!/usr/bin/env bash
# Installs the Debian packages that the tests run against, when they are
# missing: prometheus for promtool, and Alertmanager
# (/usr/bin/prometheus-alertmanager). Needs root, as on CI.
set -euo pipefail

missing=()
command -v promtool > /dev/null || missing+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)

if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
