#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, every crate's unit and integration tests, including the interop
# tests against the real peer tools in ../shared/peers (installed here into .venv-peers when missing).
# Usage: scripts/test.sh        (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-peers/bin/python ] && [ -f ../shared/peers/requirements.lock.txt ]; then
    echo "== installing the Python peers into .venv-peers"
    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -q -r ../shared/peers/requirements.lock.txt
fi
if [ -x .venv-peers/bin/python ] && ! .venv-peers/bin/python -c 'import aiosmtpd' 2>/dev/null; then
    echo "== installing the test helpers (scripts/requirements-test.txt) into .venv-peers"
    .venv-peers/bin/pip install -q -r scripts/requirements-test.txt
fi
export VENV="$PWD/.venv-peers"

# The dashboard's browser test drives Debian's chromium through playwright-core (tests/browser).
if [ ! -d tests/browser/node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then
    echo "== npm ci (tests/browser)"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== tests"
cargo nextest run --workspace --cargo-profile ci --no-fail-fast
