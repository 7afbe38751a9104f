"""Every client acknowledged, as a team runs Followup: `followup run` as a subprocess against a
real Dovecot and SMTP sink, killed and restarted from outside.

- mail between `mailbox add` and the first `followup run` is new mail, not history;
- a one-shot `followup sync` before `followup run` loses no acknowledgement;
- SIGKILL after storing and threading, before planning: the restart plans and sends;
- 60 new clients within a minute: 60 acknowledgements, each once, throttled, never paused;
- a naive auto-responder and a bounce: the loop rules pause those addresses by name, and
  everyone else is still answered.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ImapUser, reap
from tests.servers import Dovecot, SmtpSink, free_port
from tests.test_cli_mailbox import FOLLOWUP, add, run
from tests.test_sync import mail


class Service:
    """`followup run` in a subprocess, its log in a file; health read over HTTP."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[str] | None = None

    def start(self, poll: int = 3600, **extra_env: str) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [FOLLOWUP, "run", "--health-port", "0", "--poll", str(poll)],
                env={**self.env, **extra_env},
                stderr=out,
                stdout=subprocess.DEVNULL,
                text=True,
            )
        self.offset = self.log.stat().st_size if self.log.exists() else 0

    def health_url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text()[self.offset :] if self.log.exists() else ""
            found = re.findall(r'"url": "(http://[^"]+/health)"', text)
            if found:
                return str(found[-1])
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            time.sleep(0.05)
        raise AssertionError(f"no health endpoint logged:\n{self.tail()}")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.health_url(), timeout=5) as response:
            return dict(json.load(response))

    def wait_caught_up(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health["mailboxes"] and all(m["caught_up"] for m in health["mailboxes"]):
                return health
            time.sleep(0.1)
        raise AssertionError(f"the watcher never caught up:\n{self.tail()}")

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=20) == 0, self.tail()

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else "(no log)"

    def reap(self) -> None:
        if self.proc is not None:
            reap(self.proc)


@dataclass
class Desk:
    """A connected support mailbox on a private Dovecot and SMTP sink, and its service."""

    env: dict[str, str]
    user: ImapUser
    dovecot: Dovecot
    sink: SmtpSink
    service: Service

    def append(self, raw: bytes) -> None:
        self.dovecot.append(self.user.name, "INBOX", raw)

    def connect(self) -> None:
        add_support(self.env, self.user, self.sink)


@pytest.fixture
def desk(
    cli_env: dict[str, str],
    tmp_path: Path,
    imap_user: ImapUser,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
) -> Iterator[Desk]:
    svc = Service(cli_env, tmp_path / "service.log")
    yield Desk(cli_env, imap_user, dovecot, smtp_sink, svc)
    svc.reap()


def add_support(env: dict[str, str], imap_user: ImapUser, sink: SmtpSink) -> None:
    added = add(env, imap_user.url, "--smtp", f"smtp://{sink.host}:{sink.port}", "--grace", "0s")
    assert added.returncode == 0, added.stderr


def acks(sink: SmtpSink) -> Counter[str]:
    """Acknowledgements received, by the client message they answer."""
    return Counter(
        str(m.message["In-Reply-To"]).strip("<>")
        for m in sink.messages
        if m.message["X-Followup-Action"] == "acknowledge"
    )


def wait_acks(sink: SmtpSink, service: Service, expected: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not expected <= set(acks(sink)):
        time.sleep(0.2)
    missing = expected - set(acks(sink))
    assert not missing, f"never acknowledged: {sorted(missing)}\n{service.tail()}"


def outbox(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    """Read the service's SQLite store (the embedded default in its data directory)."""
    with sqlite3.connect(Path(env["FOLLOWUP_DATA_DIR"]) / "followup.sqlite3") as db:
        return list(db.execute(query))


def stored_ids(env: dict[str, str]) -> set[str]:
    return {str(row[0]) for row in outbox(env, "SELECT message_id FROM message")}


def test_mail_between_add_and_first_run_is_new_not_history(desk: Desk) -> None:
    desk.append(mail("old@c.test", "olga@c.test", "From last year"))
    desk.connect()
    # Written after the mailbox was connected, before anything ever synced it.
    desk.append(mail("gap@c.test", "gina@c.test", "Are you there?"))
    desk.service.start()
    wait_acks(desk.sink, desk.service, {"gap@c.test"}, timeout=30)
    data = Path(desk.env["FOLLOWUP_DATA_DIR"])
    stores = sorted(data.glob("followup.sqlite3*"))
    assert len(stores) >= 2  # the database and its WAL, while the service runs
    # The store holds credentials and mail headers: its owner's alone.
    assert {oct(p.stat().st_mode & 0o777) for p in stores} == {oct(0o600)}
    assert data.stat().st_mode & 0o077 == 0
    desk.service.stop()
    assert acks(desk.sink) == Counter({"gap@c.test": 1})  # history stays unanswered


def test_a_one_shot_sync_before_run_loses_no_acknowledgement(desk: Desk) -> None:
    desk.append(mail("old@c.test", "olga@c.test", "From last year"))
    desk.connect()
    clients = {f"s{i}@c.test" for i in range(3)}
    for i, mid in enumerate(sorted(clients)):
        desk.append(mail(mid, f"c{i}@c.test", f"Question {i}"))
    synced = run(desk.env, "sync", "support")
    assert synced.returncode == 0, synced.stderr
    assert stored_ids(desk.env) >= clients  # the one-shot sync stored them
    desk.service.start()
    wait_acks(desk.sink, desk.service, clients, timeout=30)
    desk.service.stop()
    assert acks(desk.sink) == Counter(dict.fromkeys(clients, 1))


def test_killed_after_storing_before_planning_the_restart_acknowledges(desk: Desk) -> None:
    desk.connect()
    desk.append(mail("k1@c.test", "kim@c.test", "Broken invoice"))
    desk.service.start(FOLLOWUP_CRASH_AT="before_plan")
    assert desk.service.wait_exit() == -signal.SIGKILL, desk.service.tail()
    # Stored and threaded, then killed before planning: no outbox row, the mark is left.
    assert "k1@c.test" in stored_ids(desk.env)
    assert outbox(desk.env, "SELECT count(*) FROM outbox") == [(0,)]
    marked = "SELECT unplanned FROM thread WHERE thread_id='k1@c.test'"
    assert outbox(desk.env, marked) == [(1,)]
    desk.service.start()
    wait_acks(desk.sink, desk.service, {"k1@c.test"}, timeout=30)
    desk.service.stop()
    assert acks(desk.sink) == Counter({"k1@c.test": 1})


def test_sixty_new_clients_in_a_minute_are_all_answered_without_a_pause(desk: Desk) -> None:
    desk.connect()
    desk.service.start()
    desk.service.wait_caught_up()
    clients = {f"b{i}@burst.test" for i in range(60)}
    with desk.dovecot.client(desk.user.name) as imap:
        for i, mid in enumerate(sorted(clients)):
            imap.append("INBOX", mail(mid, f"client{i}@burst{i % 7}.test", f"Order {i} late"))
    # The default throttle (30 a minute) spreads them over two minutes; nobody must act.
    wait_acks(desk.sink, desk.service, clients, timeout=180)
    health = desk.service.health()
    desk.service.stop()
    assert acks(desk.sink) == Counter(dict.fromkeys(clients, 1))
    assert health["mailboxes"][0]["paused"] is False
    assert outbox(desk.env, "SELECT count(*) FROM outbox WHERE status='sent'") == [(60,)]


def robot_answer(ack: Any, n: int) -> bytes:
    """What a naive auto-responder (no RFC 3834 headers) writes back to an acknowledgement."""
    mid = str(ack.message["Message-ID"]).strip("<>")
    return mail(
        f"robot{n}@r.test",
        "rita@r.test",
        f"Re: {ack.message['Subject']}",
        parents=(mid,),
    )


def bounce_of(recipient: str) -> bytes:
    """An Exim-style bounce: no Message-ID of ours in its headers, X-Failed-Recipients."""
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.gone.test>\r\n"
        "To: support@example.com\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\n"
        "Message-ID: <bounce1@mx.gone.test>\r\n"
        f"X-Failed-Recipients: {recipient}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Date: Mon, 16 Nov 2026 09:00:00 +0000\r\n\r\n"
        f"This message was created automatically by mail delivery software.\r\n  {recipient}\r\n"
    ).encode()


def test_an_auto_responder_and_a_bounce_pause_only_their_addresses(desk: Desk) -> None:
    desk.connect()
    desk.service.start()
    desk.service.wait_caught_up()
    desk.append(mail("r0@r.test", "rita@r.test", "Hello"))
    desk.append(mail("g0@gone.test", "ghost@gone.test", "Hi"))
    wait_acks(desk.sink, desk.service, {"r0@r.test", "g0@gone.test"}, timeout=30)
    by_to = {m.rcpt_tos[0]: m for m in desk.sink.messages}
    # The robot answers our acknowledgement at once; the ghost's server bounces it.
    desk.append(robot_answer(by_to["rita@r.test"], 1))
    desk.append(bounce_of("ghost@gone.test"))
    expected = [
        ("ghost@gone.test", "loop-own-mail-returned"),
        ("rita@r.test", "loop-instant-reply"),
    ]
    query = "SELECT address, rule FROM sender_pause ORDER BY address"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and outbox(desk.env, query) != expected:
        time.sleep(0.3)
    assert outbox(desk.env, query) == expected, desk.service.tail()
    listed = run(desk.env, "mailbox", "list").stdout
    assert "loop-instant-reply" in listed and "loop-own-mail-returned" in listed, listed
    # The robot writes a new conversation, and so does a real client: only the client hears.
    desk.append(mail("r2@r.test", "rita@r.test", "New ticket"))
    desk.append(mail("h1@c.test", "hana@c.test", "Real question"))
    wait_acks(desk.sink, desk.service, {"h1@c.test"}, timeout=30)
    health = desk.service.health()
    desk.service.stop()
    assert health["mailboxes"][0]["paused"] is False  # the mailbox itself goes on
    assert "r2@r.test" not in acks(desk.sink)
    # ... and it was the loop rule that said no, not the per-sender window behind it.
    assert outbox(
        desk.env,
        "SELECT status, skip_rule FROM outbox WHERE reply_to_message_id='r2@r.test'"
        " AND kind='acknowledge'",
    ) == [("skipped", "loop-instant-reply")]
    assert acks(desk.sink) == Counter({"r0@r.test": 1, "g0@gone.test": 1, "h1@c.test": 1})


def test_a_failing_mailbox_is_shown_failing_and_logged_once_per_change(desk: Desk) -> None:
    port = free_port()  # nothing listens there: every connection fails
    added = add(desk.env, f"imap://u:p@127.0.0.1:{port}", "--no-check", name="dead")
    assert added.returncode == 0, added.stderr
    desk.connect()  # a working mailbox beside it
    desk.service.start()
    deadline = time.monotonic() + 30
    health: dict[str, dict[str, Any]] = {}
    while health.get("dead", {}).get("reconnects", 0) < 3:  # it retried, quietly
        assert time.monotonic() < deadline, desk.service.tail()
        time.sleep(0.3)
        health = {m["name"]: m for m in desk.service.health()["mailboxes"]}
    listed = run(desk.env, "mailbox", "list").stdout
    # The working one recovers from a dropped connection: said once each way.
    desk.dovecot.kill_connections(desk.user.name)
    while '"message": "mailbox working again"' not in desk.service.tail():
        assert time.monotonic() < deadline + 30, desk.service.tail()
        time.sleep(0.2)
    desk.service.stop()
    log = desk.service.log.read_text()
    assert log.count('"message": "mailbox failing", "mailbox": "dead"') == 1, log[-3000:]
    assert health["dead"]["ok"] is False and health["support"]["ok"] is True
    assert "FAILING" in listed and "since" in listed, listed
    assert outbox(desk.env, "SELECT failing_since FROM mailbox WHERE name='support'") == [(None,)]
