#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine (Python 3.11+), then run the
# linters, the type checker and the whole test suite. Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# System packages the tests start themselves (none yet beyond Python's venv support).
followup_setup test
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check assistant workers tests bench
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"
