#!/usr/bin/env bash
# Set up Followup on a fresh Debian machine (Python 3.11+) and run it on its embedded default:
# one process, SQLite in ./data, health on http://127.0.0.1:8086/health. Add a mailbox from
# another terminal (see README); it is picked up within seconds. Extra arguments go to
# `followup run` (e.g. --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
followup_setup ""
export FOLLOWUP_DATA_DIR="${FOLLOWUP_DATA_DIR:-$PWD/data}"
mkdir -p -m 700 "$FOLLOWUP_DATA_DIR"  # the store holds credentials and mail headers
if [ -z "${FOLLOWUP_SECRET_KEY:-}" ] && [ -z "${FOLLOWUP_SECRET_KEY_FILE:-}" ]; then
  # Embedded default only: keep the credentials key beside the data, readable by you alone.
  key="$FOLLOWUP_DATA_DIR/secret.key"
  if [ ! -s "$key" ]; then
    (umask 077 && .venv/bin/followup secret-key > "$key")
    echo "run: created $key (back it up: stored credentials need it)" >&2
  fi
  export FOLLOWUP_SECRET_KEY_FILE="$key"
fi
exec .venv/bin/followup run "$@"
