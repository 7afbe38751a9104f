#!/usr/bin/env bash
# Shared setup for scripts/run.sh and scripts/test.sh: system packages (apt-get, only when run
# as root and something is missing), then a virtualenv in .venv with the project installed.
# Usage: source scripts/setup.sh; followup_setup [pip extra] [system package ...]
set -euo pipefail

followup_apt() {
  # Install the Debian packages given as arguments if any is missing.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing system packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "setup: apt-get install ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

followup_setup() {
  local extra="${1:-}"; shift || true
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: Followup needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
    return 1
  fi
  local pkgs=("$@")
  # Debian's python3 lacks venv/ensurepip until python3-venv is installed.
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    pkgs+=("python3-venv")
  fi
  if [ ${#pkgs[@]} -gt 0 ] && command -v dpkg-query >/dev/null; then
    followup_apt "${pkgs[@]}"
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  local target="."
  [ -n "$extra" ] && target=".[$extra]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
}

followup_unpack_cyrus() {
  # Cyrus IMAP for the tests' second server. Installed as a package it would remove
  # dovecot-imapd (both provide imap-server), so Debian's packages are downloaded and unpacked
  # into .cache/cyrus/root instead (the libraries it links are installed by followup_setup).
  local root=.cache/cyrus/root
  [ -x "$root/usr/lib/cyrus/bin/master" ] && return 0
  local debs
  debs=$(mktemp -d)
  chmod 755 "$debs"  # apt's download user writes there
  if ! (cd "$debs" && apt-get download -qq cyrus-imapd cyrus-common sasl2-bin >&2); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    (cd "$debs" && apt-get download -qq cyrus-imapd cyrus-common sasl2-bin >&2)
  fi
  mkdir -p "$root"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
  rm -rf "$debs"
}
