#!/usr/bin/env bash
# Set up Followup on a fresh Debian machine (Python 3.11+) and run it on its embedded default.
# Until the watching service lands, this replays the bundled sample mailbox through the whole
# rules engine and prints what Followup would send now. Extra arguments go to `followup replay`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
followup_setup ""
exec .venv/bin/followup replay samples/support.mbox --config config/followup.example.toml "$@"
