#!/usr/bin/env bash
# Create or update the virtualenv for the end-to-end tests at target/e2e-venv.
# Needs only python3 and pip. Without the venv module (Debian's python3 without
# python3-venv), it installs virtualenv into target/e2e-bootstrap and uses that.
# Reinstalls only when tests/e2e/requirements.txt changed since the last
# successful install. The last line of output is the venv's python path.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/target/e2e-venv"
bootstrap="$repo_root/target/e2e-bootstrap"
requirements="$repo_root/tests/e2e/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

create_venv() {
    echo "creating virtualenv $venv with $("$python" --version 2>&1)" >&2
    if "$python" -m venv "$venv" >&2; then
        return
    fi
    echo "the venv module failed; creating the virtualenv with the virtualenv package instead" >&2
    rm -rf "$venv"
    "$python" -m pip install --quiet --disable-pip-version-check --target "$bootstrap" virtualenv==21.15.14 >&2
    PYTHONPATH="$bootstrap" "$python" -m virtualenv --quiet "$venv" >&2
}

if [ ! -x "$venv/bin/python" ]; then
    create_venv
fi

wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    echo "installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$requirements" >&2
    echo "$wanted" > "$stamp"
fi

echo "$venv/bin/python"
