#!/bin/sh
# Run every benchmark with their defaults, from anywhere; generated data goes to a temp dir.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
"$python" bench/core.py
echo
"$python" bench/replay.py
echo; "$python" bench/sync.py
echo; "$python" bench/ack.py
echo; "$python" bench/ladder.py
echo; "$python" bench/scale.py
