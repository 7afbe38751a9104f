#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine (Python 3.11+), then run the
# linters, the type checker and the whole test suite. Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Servers the tests start themselves, privately, on loopback: Dovecot (IMAP), Redis,
# PostgreSQL; openssl makes their certificates, runuser (util-linux) starts PostgreSQL as root;
# Debian's Chromium is the browser the web page's tests drive (Playwright, no downloads).
# faketime (libfaketime) runs the second pass with every clock a year ahead; dnsmasq-base is
# the DNS server of the connect-by-address tests.
followup_setup test dovecot-imapd redis-server postgresql openssl util-linux chromium faketime \
  libxapian30 libpcre3 libical3 libsasl2-modules libsasl2-modules-db dnsmasq-base podman runc mmdebstrap
export PATH="$PWD/.venv/bin:$PATH"
followup_unpack_cyrus  # the second IMAP server, unpacked privately (it conflicts with Dovecot)
echo "== ruff"; ruff check assistant workers tests bench
echo "== mypy"; mypy
echo "== pytest"; pytest --durations=15 "$@"
# A date bomb (a fixed date in a test, a wall-clock read beside a `now`) passes today and fails
# later: run the core and the date-driven end-to-end tests (acknowledgements, the ladder,
# digests, reply commands, `followup run`) again with every clock a year ahead.
# FAKE_UTIME: a time Dovecot sets on a Maildir file (an APPEND's INTERNALDATE) is moved back
# as it is written, since every file time it reads is moved ahead (the servers run under the
# same clock: tests/servers/dovecot.py passes the variables on to its children).
# libfaketime is preloaded directly, not through the faketime wrapper: the wrapper's shared
# semaphore is root's, and PostgreSQL (run as its own user) could not open it.
echo "== pytest, every clock a year ahead (libfaketime, +365d)"
faketime_lib=$(dpkg -L libfaketime | grep '/libfaketime\.so\.1$')
# libfaketime leaves a semaphore per process in /dev/shm, named by pid: a stale one of root's
# under a pid that an unprivileged server process gets later makes that process fail.
rm -f /dev/shm/faketime_shm_* /dev/shm/sem.faketime_sem_* 2>/dev/null || true
# Cyrus's master does not start under libfaketime: its variants run in the first pass only.
# The 60-client burst tests the throttle's minute, not the date: it runs in the first pass only.
LD_PRELOAD="$faketime_lib" FAKETIME="+365d" FAKE_UTIME=1 pytest -q -p no:cacheprovider \
  -k "not cyrus and not sixty_new_clients" --durations=5 \
  tests/core tests/test_acknowledge.py tests/test_every_client.py tests/test_digests.py \
  tests/test_ladder_week.py tests/test_commands.py tests/test_run.py
rm -f /dev/shm/faketime_shm_* /dev/shm/sem.faketime_sem_* 2>/dev/null || true
