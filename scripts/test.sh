#!/usr/bin/env bash
# Runs every test of burnrate: formatting, lints, unit and integration tests,
# the end-to-end tests that drive the built binary with the real Python
# anthropic and openai SDKs and a real rotel, and a short fuzzing run.
# Installs what it needs: Python packages into a virtualenv under target/,
# cargo-fuzz under target/fuzz-tools/, Helm and kubectl under
# target/helm-tools/, and Debian's prometheus (for promtool) and Alertmanager.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test"
cargo test --locked

echo "== short fuzzing run"
scripts/fuzz.sh

echo "== default alert rules with promtool and burnrate"
cargo build --locked
scripts/debian-tools.sh
promtool check rules rules/burnrate.yaml
promtool test rules rules/burnrate_test.yaml
target/debug/burnrate rules check rules/burnrate.yaml
target/debug/burnrate rules test rules/burnrate_test.yaml

echo "== Helm chart and deploy/ manifests"
scripts/helm.sh

# Last, so that pytest's summary closes the output.
echo "== end-to-end test with the real Python SDKs"
python="$(scripts/python-env.sh | tail -n 1)"
BURNRATE_BIN="$PWD/target/debug/burnrate" "$python" -m pytest tests/e2e -v
