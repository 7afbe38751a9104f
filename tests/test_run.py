"""`followup run` as one process: it acknowledges a client on its own and stops on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request

from tests.conftest import ImapUser, reap
from tests.servers import Dovecot, SmtpSink
from tests.test_cli_mailbox import FOLLOWUP, run
from tests.test_sync import mail


def test_run_acknowledges_serves_health_and_stops(
    cli_env: dict[str, str],
    imap_user: ImapUser,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
) -> None:
    added = run(
        cli_env,
        "mailbox",
        "add",
        "support",
        "--address",
        "support@example.com",
        "--imap",
        imap_user.url,
        "--smtp",
        f"smtp://{smtp_sink.host}:{smtp_sink.port}",
        "--team",
        "@example.com",
        "--grace",
        "0s",
    )
    assert added.returncode == 0, added.stderr
    proc = subprocess.Popen(
        [FOLLOWUP, "run", "--health-port", "0", "--poll", "3600"],
        env=cli_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        health_url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and health_url is None:
            found = re.search(r'"url": "(http://[^"]+/health)"', proc.stderr.readline())
            health_url = found.group(1) if found else None
        assert health_url, "no health endpoint logged"
        while time.monotonic() < deadline:  # wait until the watcher is connected
            with urllib.request.urlopen(health_url, timeout=5) as response:
                health = json.load(response)
            if health["mailboxes"] and health["mailboxes"][0]["caught_up"]:
                break
            time.sleep(0.1)
        assert health["status"] == "ok" and health["mailboxes"][0]["name"] == "support"
        assert "@" not in json.dumps(health)  # /health needs no login: it names no address
        assert health["mailboxes"][0]["ok"] is True and "last_error" not in health["mailboxes"][0]
        dovecot.append(imap_user.name, "INBOX", mail("r1@c.test", "anna@c.test", "Need help"))
        try:
            smtp_sink.wait_for(1, timeout=30)
        except AssertionError:
            proc.send_signal(signal.SIGTERM)
            _, log = proc.communicate(timeout=15)
            raise AssertionError(f"no acknowledgement; service log:\n{log[-4000:]}") from None
        (received,) = smtp_sink.messages
        assert received.message["In-Reply-To"] == "<r1@c.test>"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        reap(proc)
