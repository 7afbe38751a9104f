"""Watching a real Dovecot: IDLE push, the polling fallback, reconnects, clean stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from assistant.clock import SystemClock
from assistant.runners.watch import MailboxWatcher
from assistant.service import pipeline
from assistant.store.db import store
from assistant.store.models import Mailbox, StoredMessage, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox, test_policy
from tests.servers import Dovecot
from tests.test_sync import T0, mail


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> bool:
    """Poll ``check`` until true; the timeout only bounds a failing test, it asserts nothing."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
async def mailbox(
    tmp_path_factory: pytest.TempPathFactory, imap_user: ImapUser, secret_key: str
) -> AsyncIterator[Mailbox]:
    url = f"sqlite://{tmp_path_factory.mktemp('db') / 'f.sqlite3'}"
    async with store(url):
        yield await add_test_mailbox(imap_user.url, connected_at=T0)


async def thread_exists(thread_id: str) -> bool:
    return await ThreadRecord.exists(thread_id=thread_id)


async def test_idle_pushes_new_mail_long_before_any_poll(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: ImapUser
) -> None:
    watcher = MailboxWatcher(mailbox, test_policy(mailbox), poll_interval=3600, clock=SystemClock())
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.waiting.wait(), 15)
        assert watcher.stats.checks == 1
        dovecot.append(imap_user.name, "INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT"))
        assert await eventually(lambda: thread_exists("q1@c.test"))
        assert watcher.stats.idle_wakeups >= 1  # woken by IDLE: the poll is an hour away
        dovecot.append(
            imap_user.name,
            "Sent",
            mail(
                "r1@example.com",
                "alice@example.com",
                "Re: Wrong VAT",
                to="anna@c.test",
                parents=("q1@c.test",),
                minute=4,
            ),
        )

        async def answered() -> bool:
            record = await ThreadRecord.get_or_none(thread_id="q1@c.test")
            return record is not None and record.state == "awaiting_client"

        assert await eventually(answered)  # IDLE on Sent too
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)


async def test_polling_fallback_without_idle(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: ImapUser
) -> None:
    watcher = MailboxWatcher(
        mailbox, test_policy(mailbox), poll_interval=0.2, use_idle=False, clock=SystemClock()
    )
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.waiting.wait(), 15)
        dovecot.append(imap_user.name, "INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT"))
        assert await eventually(lambda: thread_exists("q1@c.test"))
        assert watcher.stats.idle_wakeups == 0
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)


async def test_killed_connections_reconnect_and_lose_nothing(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: ImapUser
) -> None:
    watcher = MailboxWatcher(mailbox, test_policy(mailbox), poll_interval=1.0, clock=SystemClock())
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.waiting.wait(), 15)
        await asyncio.to_thread(dovecot.kill_connections, imap_user.name)
        dovecot.append(imap_user.name, "INBOX", mail("q2@c.test", "bo@c.test", "Export fails"))
        assert await eventually(lambda: thread_exists("q2@c.test"), timeout=30)
        assert watcher.stats.reconnects >= 1 and watcher.stats.last_error
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)


async def test_mail_stored_but_not_threaded_before_a_failure_is_threaded_after_it(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check stores new mail, then threading fails (a database error): the folder's
    cursor has moved, so nothing looks new any more; the watcher restarts and its first check
    threads the stored rows."""
    real = pipeline.reevaluate
    failures = 0

    async def fails_once(*args: Any, **kwargs: Any) -> list[str]:
        nonlocal failures
        if failures == 0 and await StoredMessage.filter(message_id="q9@c.test").exists():
            failures += 1
            raise RuntimeError("database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "reevaluate", fails_once)
    watcher = MailboxWatcher(mailbox, test_policy(mailbox), poll_interval=3600, clock=SystemClock())
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.waiting.wait(), 15)
        dovecot.append(imap_user.name, "INBOX", mail("q9@c.test", "ida@c.test", "Login broken"))
        assert await eventually(lambda: thread_exists("q9@c.test"), timeout=30)
        assert failures == 1 and watcher.stats.reconnects >= 1
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)
