"""The sync engine against a real Dovecot, storing into SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from imapclient.exceptions import IMAPClientError

from assistant.clock import SystemClock
from assistant.core.evaluate import MailboxPolicy
from assistant.mail.fetchparse import Fetched
from assistant.mail.imap import ConnectError, ImapSession
from assistant.mail.urls import parse_url
from assistant.runtime import Runtime
from assistant.service import evaluate, ingest, pipeline, prepare
from assistant.service.mailboxes import add_mailbox
from assistant.service.pipeline import evaluate_changes, sync_and_evaluate
from assistant.settings import FollowupConfig
from assistant.store.db import store
from assistant.store.models import Folder, Mailbox, StoredMessage, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox, test_policy
from tests.servers import Cyrus, Dovecot

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

#: The sync stamps its cursors with this (real time: Dovecot files mail at real time).
CLOCK = SystemClock()


def mail(
    mid: str,
    sender: str,
    subject: str,
    *,
    to: str = "support@example.com",
    parents: tuple[str, ...] = (),
    minute: int = 0,
    extra: str = "",
) -> bytes:
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: Mon, 16 Nov 2026 09:{minute:02d}:00 +0000",
        f"Message-ID: <{mid}>",
    ]
    if parents:
        lines.append("References: " + " ".join(f"<{p}>" for p in parents))
        lines.append(f"In-Reply-To: <{parents[-1]}>")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\nHello.\r\n").encode()


def answer(mid: str, subject: str, parents: tuple[str, ...], minute: int) -> bytes:
    """The team's reply (Alice, from Sent) to Anna's ``subject``."""
    return mail(
        mid, "alice@example.com", f"Re: {subject}", to="anna@c.test", parents=parents, minute=minute
    )


@dataclass
class Env:
    mailbox: Mailbox
    policy: MailboxPolicy
    dovecot: Dovecot | Cyrus  # the server under test (the matrix's second is Cyrus)
    user: ImapUser
    #: "kept": sync as a watcher does, over one kept-selected connection per folder.
    mode: str = "fresh"
    sessions: dict[str, ImapSession] = field(default_factory=dict)

    def append(
        self, folder: str, raw: bytes, flags: tuple[str, ...] = (), when: datetime | None = None
    ) -> int | None:
        """APPEND with INTERNALDATE = ``when``, else the Date header (as if delivered then)."""
        date = email.message_from_bytes(raw).get("Date")
        try:
            when = when or (parsedate_to_datetime(date) if date else None)
        except (TypeError, ValueError):
            when = None
        return self.dovecot.append(self.user.name, folder, raw, flags=flags, msg_time=when)

    async def sync(self) -> ingest.SyncReport:
        mailbox = await Mailbox.get(id=self.mailbox.id)
        if self.mode == "fresh":
            return await sync_and_evaluate(mailbox, self.policy, clock=CLOCK)
        url = parse_url(self.user.url, "imap")
        if not self.sessions:
            self.sessions[""] = ImapSession(url)
        folders = await ingest.open_folders(next(iter(self.sessions.values())), mailbox)
        for folder in folders:
            if folder.name not in self.sessions:
                self.sessions[folder.name] = ImapSession(url)
        report = await ingest.sync_folders(
            self.sessions, mailbox, folders, self.policy, clock=CLOCK
        )
        return await evaluate_changes(mailbox, report, self.policy, CLOCK.now())  # as a watcher

    def expunge(self, folder: str, uid: int | None) -> None:
        """Delete and expunge one message from another connection (as a mail client does)."""
        assert uid is not None
        client = self.dovecot.client(self.user.name)
        try:
            client.select_folder(folder)
            client.delete_messages([uid])
            client.expunge()
        finally:
            client.logout()

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()  # never raises: drops a dead socket

    async def states(self) -> dict[str, str]:
        return {t.thread_id: t.state for t in await ThreadRecord.filter(mailbox=self.mailbox)}


@pytest.fixture
def sync_mode() -> str:
    """How ``Env.sync`` syncs; tests parametrize it to also run as a watcher does."""
    return "fresh"


@pytest.fixture
def server_kind() -> str:
    """Which IMAP server ``env`` syncs from; the matrix's tests parametrize it."""
    return "dovecot"


@pytest.fixture
async def env(
    store_url: str,
    secret_key: str,
    sync_mode: str,
    server_kind: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Env]:
    user: ImapUser = request.getfixturevalue(
        "imap_user" if server_kind == "dovecot" else "cyrus_user"
    )
    server = request.getfixturevalue(server_kind)
    async with store(store_url):
        mailbox = await add_test_mailbox(user.url, connected_at=T0)
        env = Env(mailbox, test_policy(mailbox), server, user, sync_mode)
        try:
            yield env
        finally:
            env.close()


both_modes = pytest.mark.parametrize("sync_mode", ["fresh", "kept"])
#: The test runs against Dovecot and against Cyrus.
both_servers = pytest.mark.parametrize("server_kind", ["dovecot", "cyrus"])


def by_folder(report: ingest.SyncReport) -> dict[str, ingest.FolderReport]:
    return {f.role: f for f in report.folders}


@both_servers
async def test_first_sync_stores_headers_and_thread_states(env: Env) -> None:
    env.append("INBOX", mail("q1@c.test", "Anna <anna@c.test>", "Wrong VAT on invoice"))
    env.append(
        "Sent",
        mail(
            "r1@example.com",
            "Alice <alice@example.com>",
            "Re: Wrong VAT on invoice",
            to="anna@c.test",
            parents=("q1@c.test",),
            minute=5,
        ),
    )
    env.append("INBOX", mail("q2@d.test", "Dev <dev@d.test>", "Export fails", minute=7))
    env.append(
        "INBOX",
        mail(
            "b1@mx.test", "MAILER-DAEMON@mx.test", "Undelivered Mail Returned to Sender", minute=8
        ),
    )
    report = await env.sync()
    folders = by_folder(report)
    assert folders["inbox"].new == 3 and folders["sent"].new == 1
    assert {f.role for f in report.folders} >= {"inbox", "sent", "archive"}
    assert await StoredMessage.filter(mailbox=env.mailbox).count() == 4
    assert await env.states() == {
        "q1@c.test": "awaiting_client",
        "q2@d.test": "awaiting_team",
        "b1@mx.test": "ignored",
    }
    bounce = await StoredMessage.get(message_id="b1@mx.test")
    assert bounce.machine_rule == "mailer-daemon"
    record = await ThreadRecord.get(thread_id="q2@d.test")
    assert record.waiting_since == datetime(2026, 11, 16, 9, 7, tzinfo=UTC)
    assert record.client == "dev@d.test"


@both_servers
@both_modes
async def test_unchanged_mailbox_does_nothing_and_new_mail_is_incremental(env: Env) -> None:
    env.append("INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT on invoice"))
    await env.sync()
    again = await env.sync()
    assert all(f.reason == "unchanged" and f.new == 0 for f in again.folders)
    assert again.threads_changed == 0
    env.append(
        "Sent",
        answer("r1@example.com", "Wrong VAT on invoice", ("q1@c.test",), minute=3),
    )
    report = await env.sync()
    assert by_folder(report)["sent"].new == 1 and by_folder(report)["inbox"].new == 0
    assert await env.states() == {"q1@c.test": "awaiting_client"}
    assert await StoredMessage.filter(mailbox=env.mailbox).count() == 2


@both_servers
@both_modes
async def test_flag_changes_arrive_through_condstore(env: Env) -> None:
    uid = env.append("INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT on invoice"))
    await env.sync()
    client = env.dovecot.client(env.user.name)
    try:
        client.select_folder("INBOX")
        client.add_flags([uid], [b"\\Answered"])
    finally:
        client.logout()
    report = await env.sync()
    assert by_folder(report)["inbox"].flags == 1
    row = await StoredMessage.get(message_id="q1@c.test")
    assert "\\Answered" in row.flags


@both_servers
@both_modes
async def test_expunge_removes_the_record_and_reopens_the_thread(env: Env) -> None:
    env.append("INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT on invoice"))
    uid = env.append(
        "Sent",
        answer("r1@example.com", "Wrong VAT on invoice", ("q1@c.test",), minute=3),
    )
    await env.sync()
    assert await env.states() == {"q1@c.test": "awaiting_client"}
    env.expunge("Sent", uid)
    report = await env.sync()
    assert by_folder(report)["sent"].expunged == 1
    assert not await StoredMessage.filter(message_id="r1@example.com").exists()
    assert await env.states() == {"q1@c.test": "awaiting_team"}


@both_modes
async def test_uidvalidity_change_resyncs_without_duplicates(env: Env) -> None:
    for i in range(3):
        env.append("INBOX", mail(f"q{i}@c.test", "anna@c.test", f"Topic number {i}", minute=i))
    await env.sync()
    env.dovecot.reset_uidvalidity(env.user.name, "INBOX")
    try:
        report = await env.sync()
    except (IMAPClientError, OSError):
        # Dovecot drops a connection that has the folder selected; a watcher reconnects.
        assert env.mode == "kept"
        env.close()
        env.sessions.clear()
        report = await env.sync()
    inbox = by_folder(report)["inbox"]
    assert inbox.reset and inbox.new == 3
    assert await StoredMessage.filter(mailbox=env.mailbox).count() == 3
    assert len(await env.states()) == 3


async def test_connection_killed_mid_sync_resumes_without_loss_or_duplicates(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = 30
    for i in range(total):
        env.append(
            "INBOX", mail(f"q{i}@c.test", f"c{i}@c.test", f"Question {i} about order", minute=i)
        )
    monkeypatch.setattr(ingest, "STORE_BATCH", 3)
    calls = 0

    def kill_after_first_batch(folder: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            env.dovecot.kill_connections(env.user.name)

    mailbox = await Mailbox.get(id=env.mailbox.id)
    with pytest.raises((IMAPClientError, OSError)):
        await sync_and_evaluate(mailbox, env.policy, progress=kill_after_first_batch, clock=CLOCK)
    stored = await StoredMessage.filter(mailbox=env.mailbox).count()
    # Whole batches were committed with their cursor (the next few may have been fetched
    # already while the first was stored), never the whole folder.
    assert stored % 3 == 0 and 3 <= stored <= 3 * (1 + ingest.AHEAD + 1) < total
    inbox = await Folder.get(mailbox=env.mailbox, role="inbox")
    assert inbox.last_uid == stored
    # The stored rows were never threaded (the sync stopped first): the next sync does it.
    assert await StoredMessage.filter(mailbox=env.mailbox, thread_id=None).count() == stored
    report = await env.sync()
    assert by_folder(report)["inbox"].new == total - stored
    assert await StoredMessage.filter(mailbox=env.mailbox).count() == total
    assert await StoredMessage.filter(mailbox=env.mailbox, thread_id=None).count() == 0
    assert len(await env.states()) == total


@both_servers
async def test_malformed_huge_8bit_and_non_ascii_folders(env: Env) -> None:
    env.dovecot.create_folder(env.user.name, "Éléments envoyés")
    env.append("INBOX", b"Subject: no from, no id, no date\r\n\r\nbody\r\n")
    env.append(
        "INBOX",
        "From: Zoë <zoe@c.test>\r\nSubject: Grüße aus Köln\r\n"
        "Message-ID: <z@c.test>\r\nDate: garbage\r\n\r\nHallo\r\n".encode(),
        when=T0,
    )
    huge = mail("h@c.test", "big@c.test", "Big attachment", minute=9) + b"A" * (8 << 20)
    env.append("INBOX", huge)
    env.append(
        "Éléments envoyés",
        mail(
            "fr@example.com",
            "alice@example.com",
            "Re: Grüße aus Köln",
            to="zoe@c.test",
            parents=("z@c.test",),
            minute=30,
        ),
    )
    report = await env.sync()
    roles = {f.name: f.role for f in report.folders}
    # The server marks its own Sent (SPECIAL-USE): a folder merely named like one is not a
    # second Sent (a localized Sent is found where none is marked: tests/test_cyrus.py).
    assert roles["Sent"] == "sent" and "Éléments envoyés" not in roles
    zoe = await StoredMessage.get(message_id="z@c.test")
    assert zoe.subject == "Grüße aus Köln" and zoe.sender_name == "Zoë"
    assert zoe.date_source == "internaldate" and zoe.date == T0
    states = await env.states()
    assert states["z@c.test"] == "awaiting_team" and states["h@c.test"] == "awaiting_team"
    assert sum(1 for t in states if t.startswith("synthetic.")) == 1


@pytest.mark.parametrize("scheme", ["imaps", "imap+starttls"])
async def test_sync_over_tls_verifies_the_certificate(
    tmp_path_factory: pytest.TempPathFactory,
    imap_user: ImapUser,
    dovecot: Dovecot,
    secret_key: str,
    scheme: str,
) -> None:
    port = imap_user.tls_port if scheme == "imaps" else imap_user.port
    base = f"{scheme}://{imap_user.name}:{imap_user.password}@localhost:{port}"
    dovecot.append(imap_user.name, "INBOX", mail("t1@c.test", "anna@c.test", "Over TLS"))
    async with store(f"sqlite://{tmp_path_factory.mktemp('db') / 'f.sqlite3'}"):
        trusted = await add_mailbox(
            "tls",
            "support@example.com",
            f"{base}?cafile={dovecot.cafile}",
            None,
            ["@example.com"],
            None,
            120,
            T0,
            None,
        )
        policy = Runtime("", dovecot.maildir(imap_user.name), FollowupConfig()).policy(trusted)
        report = await sync_and_evaluate(trusted, policy, clock=CLOCK)
        assert by_folder(report)["inbox"].new == 1
        untrusted = await add_mailbox(
            "tls2", "support@example.com", base, None, ["@example.com"], None, 120, T0, None
        )
        with pytest.raises(ConnectError) as failure:
            await sync_and_evaluate(untrusted, policy, clock=CLOCK)
        assert failure.value.kind == "tls"


@both_servers
async def test_since_limits_history_by_arrival_time(env: Env) -> None:
    env.append(
        "INBOX",
        mail("old@c.test", "anna@c.test", "Old question"),
        when=datetime(2025, 1, 1, tzinfo=UTC),
    )
    env.append("INBOX", mail("new@c.test", "anna@c.test", "New question"))
    mailbox = await Mailbox.get(id=env.mailbox.id)
    await sync_and_evaluate(
        mailbox, env.policy, since=datetime(2026, 8, 1, tzinfo=UTC), clock=CLOCK
    )
    assert set(await env.states()) == {"new@c.test"}


@pytest.mark.parametrize("path", ["incremental", "full-grouped", "full-whole"])
async def test_full_pass_rethreading_agrees_with_the_incremental_one(
    env: Env, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The same mail threaded by each path gives the same snapshot (checked against one literal
    for all three), and a spy proves which path ran."""
    full = path != "incremental"
    monkeypatch.setattr(evaluate, "FULL_PASS", 0 if full else 1_000_000)
    monkeypatch.setattr(evaluate, "GROUP", 1 if path == "full-grouped" else 10_000)
    groups_read = 0
    real_link_groups = evaluate.link_groups

    async def spy(mailbox: Mailbox) -> list[list[int]]:
        nonlocal groups_read
        groups_read += 1
        return await real_link_groups(mailbox)

    monkeypatch.setattr(evaluate, "link_groups", spy)
    await test_first_sync_stores_headers_and_thread_states(env)
    env.append(
        "INBOX",
        mail(
            "q3@c.test",
            "anna@c.test",
            "Re: Wrong VAT on invoice",
            parents=("q1@c.test", "r1@example.com"),
            minute=30,
        ),
    )
    await env.sync()
    assert (groups_read > 0) == full
    rows = await StoredMessage.filter(mailbox=env.mailbox).values_list("message_id", "thread_id")
    assert dict(rows) == {
        "q1@c.test": "q1@c.test",
        "r1@example.com": "q1@c.test",
        "q3@c.test": "q1@c.test",
        "q2@d.test": "q2@d.test",
        "b1@mx.test": "b1@mx.test",
    }
    records = await ThreadRecord.filter(mailbox=env.mailbox).values_list(
        "thread_id", "state", "waiting_since", "client"
    )
    assert sorted(records) == [
        ("b1@mx.test", "ignored", None, None),
        ("q1@c.test", "awaiting_team", datetime(2026, 11, 16, 9, 30, tzinfo=UTC), "anna@c.test"),
        ("q2@d.test", "awaiting_team", datetime(2026, 11, 16, 9, 7, tzinfo=UTC), "dev@d.test"),
    ]


@both_servers
async def test_a_thread_split_by_an_expunge_keeps_its_record_in_a_grouped_full_pass(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x <- y <- z with z naming only y: expunging y splits the thread in two groups. The
    group holding z no longer uses thread x, but x's own group still does: x's record (its
    history) must survive, and z gets a thread of its own under its missing parent y."""
    monkeypatch.setattr(evaluate, "FULL_PASS", 0)
    monkeypatch.setattr(evaluate, "GROUP", 1)
    env.append("INBOX", mail("x@c.test", "anna@c.test", "Parcel 55 lost"))
    reply = answer("y@example.com", "Parcel 55 lost", ("x@c.test",), minute=5)
    uid = env.append("Sent", reply)
    env.append(
        "INBOX",
        mail("z@c.test", "anna@c.test", "Tracking number?", parents=("y@example.com",), minute=9),
    )
    await env.sync()
    assert await env.states() == {"x@c.test": "awaiting_team"}
    record = await ThreadRecord.get(mailbox=env.mailbox, thread_id="x@c.test")
    env.expunge("Sent", uid)
    await env.sync()
    assert await env.states() == {"x@c.test": "awaiting_team", "y@example.com": "awaiting_team"}
    assert (await ThreadRecord.get(mailbox=env.mailbox, thread_id="x@c.test")).id == record.id


async def test_a_grouped_full_pass_inherits_from_records_as_they_were_before_it(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thread t (a missing root) holds x and the team's answer y (which names only x). x is
    expunged and a new client message z names t, in one sync: y's group runs first, stops
    using t and no row carries t any more, so its record goes; z's group then recreates t.
    What t knew (an explicit assignment) must survive, as in one pass over everything."""
    monkeypatch.setattr(evaluate, "FULL_PASS", 0)
    monkeypatch.setattr(evaluate, "GROUP", 1)
    uid = env.append(
        "INBOX", mail("x@c.test", "anna@c.test", "Parcel 12 lost", parents=("t@c.test",))
    )
    env.append(
        "Sent",
        answer("y@example.com", "Parcel 12 lost", ("x@c.test",), minute=5),
    )
    await env.sync()
    assert await env.states() == {"t@c.test": "awaiting_client"}
    await ThreadRecord.filter(thread_id="t@c.test").update(assigned_to="bob@example.com")
    env.expunge("INBOX", uid)
    env.append(
        "INBOX",
        mail("z@c.test", "anna@c.test", "Tracking number?", parents=("t@c.test",), minute=9),
    )
    await env.sync()
    assert await env.states() == {"t@c.test": "awaiting_team", "x@c.test": "awaiting_client"}
    record = await ThreadRecord.get(mailbox=env.mailbox, thread_id="t@c.test")
    assert record.assigned_to == "bob@example.com" and record.owner == "bob@example.com"


@both_servers
async def test_archiving_the_conversation_stops_the_wait_until_the_client_writes_again(
    env: Env,
) -> None:
    uid = env.append("INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT on invoice"))
    await env.sync()
    assert await env.states() == {"q1@c.test": "awaiting_team"}
    client = env.dovecot.client(env.user.name)
    try:
        client.select_folder("INBOX")
        client.move([uid], "Archive")  # the team files it without answering
    finally:
        client.logout()
    await env.sync()
    record = await ThreadRecord.get(thread_id="q1@c.test")
    assert (record.state, record.reason) == ("handled", "archived")
    env.append(
        "INBOX",
        mail(
            "q2@c.test", "anna@c.test", "Re: Wrong VAT on invoice", parents=("q1@c.test",), minute=9
        ),
    )
    await env.sync()
    assert await env.states() == {"q1@c.test": "awaiting_team"}


@pytest.mark.parametrize("sync_mode", ["fresh", "kept"])
async def test_rows_stored_but_never_threaded_are_threaded_by_the_next_sync(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync that stops between storing and threading (a crash) loses no client: the next
    one-shot sync, or a watcher's first check, threads what is stored though nothing moved."""
    env.append("INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT on invoice"))

    async def crash(*args: object) -> list[ThreadRecord]:
        raise RuntimeError("killed before threading")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(pipeline, "reevaluate", crash)
        await env.sync()
    assert await StoredMessage.filter(mailbox=env.mailbox, thread_id=None).count() == 1
    assert await env.states() == {}
    mailbox = await Mailbox.get(id=env.mailbox.id)
    if env.mode == "fresh":
        report = await sync_and_evaluate(mailbox, env.policy, clock=CLOCK)
    else:  # a watcher's first check after (re)starting: its sessions are new
        env.close()
        env.sessions.clear()
        await env.sync()  # a kept session's later check, nothing moved: not its business
        assert await env.states() == {}
        folders = await ingest.open_folders(next(iter(env.sessions.values())), mailbox)
        report = await ingest.sync_folders(
            env.sessions, mailbox, folders, env.policy, recover=True, clock=CLOCK
        )
        report = await evaluate_changes(mailbox, report, env.policy, CLOCK.now())
    assert report.new == 0 and report.threads_changed == 1
    assert await env.states() == {"q1@c.test": "awaiting_team"}
    assert await StoredMessage.filter(mailbox=env.mailbox, thread_id=None).count() == 0


async def test_a_first_sync_parsed_in_worker_processes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The large-fetch path: header blocks parsed in a worker process store the same
    records and thread states as the inline path (the first-sync test, pooled)."""
    used: list[prepare.Preparer] = []

    class Ready(prepare.Preparer):
        def __init__(self, workers: int | None = None) -> None:
            super().__init__(workers=1)  # one parse process (FOLLOWUP_SYNC_WORKERS=1)

        def start(self) -> None:
            super().start()
            assert self._ready is not None
            self._ready.result(timeout=60)  # no inline batches while the worker boots
            used.append(self)

    monkeypatch.setattr(prepare, "POOL_MIN", 1)
    monkeypatch.setattr(ingest, "Preparer", Ready)
    monkeypatch.setattr(ingest, "STORE_BATCH", 2)
    await test_first_sync_stores_headers_and_thread_states(env)
    assert used and used[0].pooled_batches == 3 and used[0].inline_batches == 0
    assert not used[0].running  # stopped with the sync


async def test_a_cancelled_sync_never_has_two_fetches_on_one_session(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled mid-way (a job timeout, Ctrl-C) or failing, the pipelined fetch never runs
    two FETCHes on one connection, and none still runs once the sync has returned."""
    for i in range(12):
        env.append("INBOX", mail(f"c{i}@c.test", f"c{i}@c.test", f"Order {i} late", minute=i))
    monkeypatch.setattr(ingest, "STORE_BATCH", 2)
    running, most = 0, 0
    guard = threading.Lock()
    real = ingest._fetch_list

    def slow_fetch(session: ImapSession, uids: list[int]) -> list[Fetched]:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)  # a slow server: the window in which a second FETCH could start
            return real(session, uids)
        finally:
            with guard:
                running -= 1

    monkeypatch.setattr(ingest, "_fetch_list", slow_fetch)
    stored = asyncio.Event()
    mailbox = await Mailbox.get(id=env.mailbox.id)
    sync = asyncio.ensure_future(
        sync_and_evaluate(mailbox, env.policy, progress=lambda *_: stored.set(), clock=CLOCK)
    )
    await asyncio.wait_for(stored.wait(), 30)
    await asyncio.sleep(0.06)  # the next batches are being fetched
    sync.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sync
    assert running == 0 and most == 1
    kept = await StoredMessage.filter(mailbox=env.mailbox).count()
    assert 2 <= kept < 12 and kept % 2 == 0
    report = await env.sync()  # resumes after the last committed batch
    assert by_folder(report)["inbox"].new == 12 - kept and most == 1
    assert await StoredMessage.filter(mailbox=env.mailbox).count() == 12
