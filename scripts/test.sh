#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine (Python 3.11+), then run the
# linters, the type checker and the whole test suite. Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Servers the tests start themselves, privately, on loopback: Dovecot (IMAP), Redis,
# PostgreSQL; openssl makes their certificates, runuser (util-linux) starts PostgreSQL as root;
# Debian's Chromium is the browser the web page's tests drive (Playwright, no downloads).
followup_setup test dovecot-imapd redis-server postgresql openssl util-linux chromium
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check assistant workers tests bench
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"
