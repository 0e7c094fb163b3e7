#!/usr/bin/env bash
# Runs every test of burnrate: formatting, lints, unit tests, and the
# end-to-end test that drives the built binary with the real Python
# anthropic and openai SDKs. Installs the Python packages it needs into a
# virtualenv under target/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test"
cargo test --locked

echo "== end-to-end test with the real Python SDKs"
cargo build --locked
python="$(scripts/python-env.sh | tail -n 1)"
BURNRATE_BIN="$PWD/target/debug/burnrate" "$python" -m pytest tests/e2e -v
