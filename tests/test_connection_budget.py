"""The connection budget of a watched mailbox, counted at the socket level on both servers of
the matrix: one sync connection for every folder, IDLE on INBOX that also watches Sent and
Archive by NOTIFY where the server offers it (Dovecot), IDLE on INBOX and Sent within the
budget where it does not (Cyrus), none when the budget leaves no room."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from assistant.clock import SystemClock
from assistant.core.backoff import Backoff, says_limit
from assistant.core.connections import plan_idle
from assistant.runners.watch import MailboxWatcher
from assistant.store.db import store
from assistant.store.models import Mailbox, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox, test_policy
from tests.servers import Cyrus, Dovecot
from tests.test_sync import T0, mail
from tests.test_watch import eventually


def open_connections(port: int) -> int:
    """This process's established TCP connections to ``port`` on 127.0.0.1."""
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


@pytest.fixture(params=["dovecot", "cyrus"])
async def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, secret_key: str
) -> AsyncIterator[tuple[Mailbox, ImapUser, Dovecot | Cyrus]]:
    kind = request.param
    user: ImapUser = request.getfixturevalue("imap_user" if kind == "dovecot" else "cyrus_user")
    server: Dovecot | Cyrus = request.getfixturevalue(kind)
    if kind == "cyrus":
        with contextlib.suppress(imaplib.IMAP4.error):  # the fixture may have made it
            server.create_folder(user.name, "Archive")
    url = f"sqlite://{tmp_path_factory.mktemp('db') / 'f.sqlite3'}"
    async with store(url):
        yield await add_test_mailbox(user.url, connected_at=T0), user, server


async def test_a_watched_mailbox_stays_within_its_budget(
    served: tuple[Mailbox, ImapUser, Dovecot | Cyrus],
) -> None:
    mailbox, user, server = served
    watcher = MailboxWatcher(
        mailbox, test_policy(mailbox), poll_interval=3600, clock=SystemClock(), budget=4
    )
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.waiting.wait(), 20)
        first = watcher._sessions[""]
        notify = "NOTIFY" in first.capabilities
        expected = 2 if notify else 3  # sync + IDLE(INBOX, NOTIFY) | sync + IDLE INBOX, Sent
        assert open_connections(user.port) == expected <= 4 - 1  # one left for delivery
        server.append(user.name, "INBOX", mail("b1@c.test", "anna@c.test", "Budget"))
        assert await eventually(lambda: ThreadRecord.exists(thread_id="b1@c.test"), 20)
        reply = mail(
            "b2@example.com",
            "alice@example.com",
            "Re: Budget",
            to="anna@c.test",
            parents=("b1@c.test",),
            minute=3,
        )
        server.append(user.name, "Sent", reply)

        async def answered() -> bool:
            row = await ThreadRecord.get_or_none(thread_id="b1@c.test")
            return row is not None and row.state == "awaiting_client"

        # By IDLE: NOTIFY on Dovecot, Sent's own IDLE on Cyrus (the poll is an hour away).
        assert await eventually(answered, 20)
        assert open_connections(user.port) == expected
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)
    assert open_connections(user.port) == 0


async def test_a_budget_without_room_for_idle_polls(
    tmp_path_factory: pytest.TempPathFactory, secret_key: str, imap_user: ImapUser
) -> None:
    url = f"sqlite://{tmp_path_factory.mktemp('db') / 'f.sqlite3'}"
    async with store(url):
        mailbox = await add_test_mailbox(imap_user.url, connected_at=T0)
        watcher = MailboxWatcher(
            mailbox, test_policy(mailbox), poll_interval=0.3, clock=SystemClock(), budget=2
        )
        task = asyncio.create_task(watcher.run())
        try:
            await asyncio.wait_for(watcher.waiting.wait(), 20)
            assert open_connections(imap_user.port) == 1
        finally:
            watcher.stop()
            await asyncio.wait_for(task, 10)


def test_the_plan_of_idle_connections() -> None:
    folders = ["INBOX", "Sent", "Archive"]
    notify = plan_idle(folders, 4, has_idle=True, has_notify=True)
    assert (notify.idle, notify.notify) == (("INBOX",), ("Sent", "Archive"))
    assert plan_idle(folders, 4, has_idle=True, has_notify=False).idle == ("INBOX", "Sent")
    assert plan_idle(folders, 6, has_idle=True, has_notify=False).idle == tuple(folders)
    assert plan_idle(folders, 2, has_idle=True, has_notify=True).idle == ()
    assert plan_idle(folders, 4, has_idle=False, has_notify=True).idle == ()


async def test_too_many_connections_backs_off_for_a_minute(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, secret_key: str
) -> None:
    """A server that says [LIMIT] (RFC 5530: too many connections of this user) is not asked
    again for at least a minute: every refused LOGIN counts against the limit too."""
    with Dovecot(tmp_path / "dovecot", max_userip_connections=2) as server:
        server.add_user("busy", "pw")
        held = [server.client("busy") for _ in range(2)]  # the team's own mail clients
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'f.sqlite3'}"
        try:
            async with store(url):
                mailbox = await add_test_mailbox(
                    f"imap://busy:pw@127.0.0.1:{server.port}", connected_at=T0
                )
                watcher = MailboxWatcher(
                    mailbox, test_policy(mailbox), poll_interval=0.2, clock=SystemClock()
                )
                task = asyncio.create_task(watcher.run())
                await asyncio.sleep(3)
                watcher.stop()
                await asyncio.wait_for(task, 10)
                assert watcher.stats.reconnects == 1  # one LOGIN refused, then it waits
                assert "[LIMIT]" in (watcher.stats.last_error or "")
                failing = await Mailbox.get(id=mailbox.id)
                assert "LIMIT" in (failing.failing_reason or "")
        finally:
            for client in held:
                client.logout()


def test_limit_answers_are_told_apart() -> None:
    assert says_limit("[LIMIT] Maximum number of connections from user+IP exceeded")
    assert says_limit("NO Too many simultaneous connections. (Failure)")  # Gmail's words
    assert not says_limit("NO [AUTHENTICATIONFAILED] Authentication failed.")
    backoff = Backoff()
    assert backoff.failed(0.0, 0.0, limited=True) >= 60.0
    assert backoff.failed(0.0, 0.0) < 60.0
