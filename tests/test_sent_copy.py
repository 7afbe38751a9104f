"""Exactly one copy of each sent mail in Sent, whoever files it: real Dovecot, a real SMTP
server that files what it accepts in the user's Sent folder over IMAP (as Gmail, Microsoft
365, iCloud and Zoho do), both stores.

A provider is "recognised" here through the documented ``FOLLOWUP_SELF_FILING_SMTP_HOSTS``
(the loopback sink is no table entry), read as the entry points read it
(:meth:`Environment.read`); the table itself is tested in tests/core.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from imapclient import IMAPClient

from assistant.clock import FixedClock
from assistant.mail.imap import ImapSession
from assistant.mail.urls import parse_url
from assistant.runtime import Environment, Runtime
from assistant.service.deliver import DeliveryReport
from assistant.service.digest import send_digests
from assistant.service.people import add_person
from assistant.service.pipeline import deliver_mailbox, sync_and_plan
from assistant.settings import FollowupConfig
from assistant.store.db import store
from assistant.store.models import Folder, Mailbox, OutboxItem, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox
from tests.servers import Dovecot, free_port
from tests.test_sync import mail

ROOT = Path(__file__).resolve().parents[1]
Filing = Literal["now", "hold", "none"]


class FilingSink:
    """An aiosmtpd server that records what it accepts and files it in ``user``'s Sent over
    IMAP: before answering 250 (``now``), when the test says so (``hold``: a provider that
    files late), or never (``none``). ``rewrite`` gives the filed copy a Message-ID of the
    server's own, as Outlook.com does; X-Followup-Key stays."""

    host = "127.0.0.1"

    def __init__(self, user: ImapUser, filing: Filing = "now", rewrite: bool = False) -> None:
        self.user, self.filing, self.rewrite = user, filing, rewrite
        self.port = free_port()
        self.received: list[bytes] = []
        self.held: list[bytes] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=self.host, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = bytes(envelope.original_content or b"")
        with self._lock:
            self.received.append(data)
        if self.filing == "now":
            await asyncio.to_thread(self.file, data)
        elif self.filing == "hold":
            self.held.append(data)
        return "250 Message accepted for delivery"

    def file(self, data: bytes) -> None:
        """APPEND ``data`` to Sent, as the provider (with the user's own password)."""
        if self.rewrite:
            head, _, body = data.partition(b"\r\n\r\n")
            own = f"Message-ID: <{os.urandom(8).hex()}@rewritten.test>".encode()
            head = re.sub(rb"(?im)^Message-ID:[^\r\n]*(\r\n[ \t][^\r\n]*)*", own, head)
            data = head + b"\r\n\r\n" + body
        with IMAPClient(self.user.host, self.user.port, ssl=False, timeout=10) as imap:
            imap.login(self.user.name, self.user.password)
            imap.append("Sent", data, flags=[b"\\Seen"], msg_time=datetime.now(UTC))

    def file_held(self) -> None:
        """The provider files, late, what it held."""
        while self.held:
            self.file(self.held.pop(0))

    def __enter__(self) -> FilingSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclass
class Desk:
    """A support mailbox whose SMTP server is a :class:`FilingSink`."""

    url: str
    user: ImapUser
    dovecot: Dovecot
    sink: FilingSink
    mailbox: Mailbox
    config: FollowupConfig

    def runtime(self, now: datetime) -> Runtime:
        """The settings at ``now``, with the test process's environment (:func:`recognised`)
        read as an entry point reads it."""
        hosts = Environment.read().self_filing_hosts
        clock = FixedClock(now)
        return Runtime(self.url, Path("."), self.config, clock=clock, self_filing_hosts=hosts)

    async def cycle(self, now: datetime) -> DeliveryReport | None:
        """Sync, plan and deliver at ``now``, as `followup run` does."""
        mailbox = await Mailbox.get(id=self.mailbox.id)
        runtime = self.runtime(now)
        await sync_and_plan(runtime, mailbox, now)
        return await deliver_mailbox(runtime, mailbox, now)

    async def setting(self, sent_copy: str) -> None:
        await Mailbox.filter(id=self.mailbox.id).update(sent_copy=sent_copy)

    def client_mail(self, mid: str, sender: str = "anna@c.test") -> None:
        raw = mail(mid, sender, f"Question {mid}")
        self.dovecot.append(self.user.name, "INBOX", raw, msg_time=datetime.now(UTC))

    def copies(self, key: str) -> int:
        """Copies in Sent carrying ``key`` (any Message-ID)."""
        with self.dovecot.client(self.user.name) as imap:
            imap.select_folder("Sent", readonly=True)
            return len(imap.search(["HEADER", "X-Followup-Key", key]))


@pytest.fixture
def recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback SMTP server counts as a provider that files its own copy."""
    monkeypatch.setenv("FOLLOWUP_SELF_FILING_SMTP_HOSTS", "127.0.0.1")


@pytest.fixture
def filing(request: pytest.FixtureRequest, imap_user: ImapUser) -> Iterator[FilingSink]:
    """The filing sink; ``@pytest.mark.parametrize("filing", [...], indirect=True)`` takes
    ``(filing, rewrite)``."""
    mode, rewrite = getattr(request, "param", ("now", False))
    with FilingSink(imap_user, mode, rewrite) as sink:
        yield sink


@pytest.fixture
async def desk(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, filing: FilingSink, secret_key: str
) -> AsyncIterator[Desk]:
    async with store(store_url):
        mailbox = await add_test_mailbox(
            imap_user.url,
            smtp_url=filing.url,
            grace_seconds=0,
            connected_at=datetime.now(UTC) - timedelta(seconds=5),
        )
        env = Desk(store_url, imap_user, dovecot, filing, mailbox, FollowupConfig())
        await env.cycle(datetime.now(UTC))  # the first sync: the folders, no history
        yield env


async def acknowledged(desk: Desk, now: datetime) -> OutboxItem:
    """A client writes; one pass at ``now`` acknowledges; the row as it is then."""
    desk.client_mail("q1@c.test")
    await desk.cycle(now)
    assert len(desk.sink.received) == 1
    return await OutboxItem.get(kind="acknowledge")


@pytest.mark.parametrize(
    "filing", [("now", False), ("now", True)], indirect=True, ids=["same-id", "rewritten-id"]
)
async def test_a_provider_that_files_itself_gets_no_second_copy(
    desk: Desk, recognised: None
) -> None:
    now = datetime.now(UTC)
    row = await acknowledged(desk, now)
    assert row.status == "sent"  # found at the first look: by Message-ID, or by its key
    assert desk.copies(row.key) == 1
    await desk.cycle(now + timedelta(minutes=3))
    assert desk.copies(row.key) == 1 and len(desk.sink.received) == 1


@pytest.mark.parametrize(
    "filing", [("hold", False), ("hold", True)], indirect=True, ids=["same-id", "rewritten-id"]
)
async def test_a_provider_that_files_late_still_leaves_one_copy(
    desk: Desk, recognised: None
) -> None:
    now = datetime.now(UTC)
    row = await acknowledged(desk, now)
    assert row.status == "accepted" and desk.copies(row.key) == 0  # its copy is awaited
    await desk.cycle(now + timedelta(minutes=1))  # within the grace: nothing of ours
    assert desk.copies(row.key) == 0
    desk.sink.file_held()
    await desk.cycle(now + timedelta(minutes=3))
    await row.refresh_from_db()
    assert row.status == "sent" and desk.copies(row.key) == 1
    assert len(desk.sink.received) == 1  # the copy was awaited, never sent again


@pytest.mark.parametrize("filing", [("none", False)], indirect=True)
async def test_a_recognised_provider_that_files_nothing_gets_ours_after_the_grace(
    desk: Desk, recognised: None
) -> None:
    now = datetime.now(UTC)
    row = await acknowledged(desk, now)
    assert row.status == "accepted"
    await desk.cycle(now + timedelta(minutes=3))
    await row.refresh_from_db()
    assert row.status == "sent" and desk.copies(row.key) == 1
    assert len(desk.sink.received) == 1


@pytest.mark.parametrize("filing", [("none", False)], indirect=True)
async def test_an_unknown_provider_that_files_nothing_gets_our_one_copy(desk: Desk) -> None:
    row = await acknowledged(desk, datetime.now(UTC))
    assert row.status == "sent" and desk.copies(row.key) == 1


@pytest.mark.parametrize("filing", [("none", False)], indirect=True)
async def test_never_files_no_copy_of_ours(desk: Desk) -> None:
    await desk.setting("never")
    now = datetime.now(UTC)
    row = await acknowledged(desk, now)
    assert row.status == "sent" and desk.copies(row.key) == 0
    await desk.cycle(now + timedelta(minutes=3))
    assert desk.copies(row.key) == 0


@pytest.mark.parametrize(
    "filing", [("none", False), ("now", True)], indirect=True, ids=["files-nothing", "files-itself"]
)
async def test_always_files_one_copy_and_never_a_second(desk: Desk, recognised: None) -> None:
    await desk.setting("always")  # even for a recognised provider: at once
    row = await acknowledged(desk, datetime.now(UTC))
    assert row.status == "sent" and desk.copies(row.key) == 1


@pytest.mark.parametrize("filing", [("now", True)], indirect=True)
async def test_a_crash_after_the_250_finds_the_copy_under_a_rewritten_message_id(
    desk: Desk, store_url: str
) -> None:
    desk.client_mail("q1@c.test")
    driver = [sys.executable, str(ROOT / "tests" / "ack_driver.py"), store_url, "support"]
    environ = {**os.environ, "FOLLOWUP_CRASH_AT": "before_accepted", "PYTHONPATH": str(ROOT)}
    crashed = await asyncio.to_thread(
        subprocess.run, driver, env=environ, capture_output=True, timeout=120
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    row = await OutboxItem.get(kind="acknowledge")
    assert row.status == "sending" and len(desk.sink.received) == 1
    environ.pop("FOLLOWUP_CRASH_AT")
    done = await asyncio.to_thread(  # after the crashed sender's lease
        subprocess.run, [*driver, "600"], env=environ, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    await row.refresh_from_db()
    assert row.status == "sent"
    assert len(desk.sink.received) == 1  # found by X-Followup-Key: not sent again
    assert desk.copies(row.key) == 1


@pytest.mark.parametrize("filing", [("none", False)], indirect=True)
async def test_imap_trouble_keeps_the_rows_accepted_and_a_later_pass_files_them(
    desk: Desk,
) -> None:
    desk.client_mail("q1@c.test", "anna@c.test")
    desk.client_mail("q2@d.test", "bert@d.test")
    now = datetime.now(UTC)
    mailbox = await Mailbox.get(id=desk.mailbox.id)
    runtime = desk.runtime(now)
    await sync_and_plan(runtime, mailbox, now)
    sent = await Folder.get(mailbox=mailbox, role="sent")
    await Folder.filter(id=sent.id).update(name="Gone")  # SELECT fails: a NO from the server
    report = await deliver_mailbox(runtime, mailbox, now)
    assert report is not None and report.sent == 0 and report.failed == 0
    rows = await OutboxItem.filter(kind="acknowledge").order_by("id")
    assert [r.status for r in rows] == ["accepted", "accepted"]  # the pass went on
    await Folder.filter(id=sent.id).update(name="Sent")
    await desk.cycle(now + timedelta(minutes=1))  # within the lease: left alone
    assert await OutboxItem.filter(status="accepted").count() == 2
    await desk.cycle(now + timedelta(minutes=6))
    rows = await OutboxItem.filter(kind="acknowledge").order_by("id")
    assert [r.status for r in rows] == ["sent", "sent"]
    assert [desk.copies(r.key) for r in rows] == [1, 1]
    assert len(desk.sink.received) == 2  # never sent again


DIGEST_DAY = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday, 09:00 in London


@pytest.mark.parametrize("filing", [("hold", True)], indirect=True)
async def test_a_digest_filed_late_by_the_provider_has_one_copy(
    desk: Desk, recognised: None
) -> None:
    await add_person("ann@example.com", at=DIGEST_DAY, timezone="Europe/London")
    await ThreadRecord.create(
        mailbox=desk.mailbox,
        thread_id="t0@c.test",
        subject="Question 0",
        state="awaiting_team",
        waiting_since=DIGEST_DAY - timedelta(days=1),
        client="c0@c.test",
        last_message_at=DIGEST_DAY - timedelta(days=1),
        owner="ann@example.com",
        owner_rule="mailbox-default",
        updated_at=DIGEST_DAY,
    )
    runtime = desk.runtime(DIGEST_DAY)
    await send_digests(runtime, DIGEST_DAY)
    row = await OutboxItem.get(kind="digest")
    assert row.status == "accepted" and len(desk.sink.received) == 1
    desk.sink.file_held()
    later = DIGEST_DAY + timedelta(minutes=3)
    await send_digests(desk.runtime(later), later)
    await row.refresh_from_db()
    assert row.status == "sent" and desk.copies(row.key) == 1
    assert len(desk.sink.received) == 1


def test_find_header_is_exact_and_reads_encoded_headers(
    imap_user: ImapUser, dovecot: Dovecot
) -> None:
    """SEARCH HEADER matches substrings; a long or non-ASCII key is an RFC 2047 encoded-word
    (compose folds it so): the exact, decoded value decides."""
    long_key = "support:command:" + "a" * 40 + "@mail.example.com"  # folded, encoded
    keys = ["support:acknowledge:k1", "support:acknowledge:k10", long_key, "digest:jürgen@x.test"]
    for n, key in enumerate(keys):
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["Message-ID"] = f"<m{n}@x.test>"
        msg["X-Followup-Key"] = key
        msg.set_content("x")
        dovecot.append(imap_user.name, "Sent", msg.as_bytes())
    with ImapSession(parse_url(imap_user.url, "imap")) as session:
        found = {key: session.find_header("Sent", "X-Followup-Key", key) for key in keys}
        assert [len(uids) for uids in found.values()] == [1, 1, 1, 1]  # each its own
        assert len({uids[0] for uids in found.values()}) == 4
        assert session.find_header("Sent", "X-Followup-Key", "support:acknowledge:k") == []
        assert session.find_header("Sent", "X-Followup-Key", "bad\r\nkey") == []
        assert session.selected is None  # left unselected, like find_message_id
