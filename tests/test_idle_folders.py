"""The scale-out watchers' asyncio IDLE on folders named in any language (modified UTF-7),
against both servers of the matrix."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest

from assistant.mail.idle import watch_folder
from assistant.mail.urls import parse_url
from tests.conftest import ImapUser
from tests.servers import Cyrus, Dovecot
from tests.test_sync import mail

FOLDER = "Éléments envoyés"


@pytest.mark.parametrize("server_kind", ["dovecot", "cyrus"])
async def test_idle_on_a_folder_with_a_non_ascii_name(
    server_kind: str, request: pytest.FixtureRequest
) -> None:
    user: ImapUser = request.getfixturevalue(
        "imap_user" if server_kind == "dovecot" else "cyrus_user"
    )
    server: Dovecot | Cyrus = request.getfixturevalue(server_kind)
    server.create_folder(user.name, FOLDER)
    ready, changed = asyncio.Event(), asyncio.Event()

    async def on_change() -> None:
        changed.set()

    task = asyncio.create_task(
        watch_folder(parse_url(user.url, "imap"), FOLDER, on_change, ready.set)
    )
    try:
        await asyncio.wait_for(ready.wait(), 15)  # SELECT of the encoded name worked
        await asyncio.to_thread(
            server.append, user.name, FOLDER, mail("s1@example.com", "alice@example.com", "Re: x")
        )
        await asyncio.wait_for(changed.wait(), 15)  # and IDLE reported the new message
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # its connection is closed before it ends


async def test_idle_over_starttls_checks_the_certificate(
    imap_user: ImapUser, dovecot: Dovecot
) -> None:
    """The asyncio watcher upgrades an ``imap+starttls`` connection before logging in (no
    more polling for such mailboxes), and refuses a server it cannot verify."""
    base = f"imap+starttls://{imap_user.name}:{imap_user.password}@localhost:{dovecot.port}"
    ready, changed = asyncio.Event(), asyncio.Event()

    async def on_change() -> None:
        changed.set()

    url = parse_url(f"{base}?cafile={dovecot.cafile}", "imap")
    task = asyncio.create_task(watch_folder(url, "INBOX", on_change, ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 15)
        await asyncio.to_thread(
            dovecot.append, imap_user.name, "INBOX", mail("t1@c.test", "anna@c.test", "STARTTLS")
        )
        await asyncio.wait_for(changed.wait(), 15)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    untrusted = parse_url(base, "imap")  # the system's CAs do not know the test certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.wait_for(watch_folder(untrusted, "INBOX", on_change), 15)
